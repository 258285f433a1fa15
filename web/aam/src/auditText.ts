/**
 * The audit feed in words: which user ids to look up, what each event did (its action code
 * as a translated phrase), what it was done to, and its details as "key: value" pairs.
 * Pure functions; the page renders what they return.
 */
import type { TFunction } from 'i18next';

/** The fields of a feed item these helpers read (the generated `FeedItem` has them). */
export interface AuditItem {
  source: string;
  action: string;
  actor_id?: string | null;
  actor_name?: string | null;
  resource_type: string;
  resource_id: string;
  details?: unknown;
  old_value?: unknown;
  new_value?: unknown;
}

/** Every action code this build has words for, in the order the action filter lists them. */
export const KNOWN_ACTIONS = [
  'login_succeeded',
  'login_failed',
  'login_refused',
  'login_password_ok_mfa_pending',
  'logout',
  'account_locked',
  'user_registered',
  'email_verified',
  'register_existing_email',
  'admin_bootstrapped',
  'user_created',
  'user_updated',
  'profile_updated',
  'user_deactivated',
  'user_deactivation_scheduled',
  'user_deactivation_skipped',
  'user_reactivated',
  'user_deleted',
  'password_changed',
  'password_change_failed',
  'password_reset_requested',
  'password_reset',
  'mfa_enabled',
  'mfa_disabled',
  'mfa_failed',
  'session_revoked',
  'sessions_revoked',
  'refresh_token_reused',
  'api_key_created',
  'api_key_revoked',
  'role_created',
  'role_updated',
  'role_deleted',
  'role_assigned',
  'role_unassigned',
  'token_policy_updated',
  'app.create',
  'app.update',
  'app.delete',
  'dependency.create',
  'dependency.delete',
  'setting.update',
  'setting.reset',
] as const;

export const RESOURCE_TYPES = ['user', 'app', 'dependency', 'setting'] as const;

const actionKey = (action: string) => action.replace(/[^a-z0-9_]/gi, '_');

/** The action in words, or null when this build does not know the code (show it as it is). */
export function actionText(t: TFunction, action: string): string | null {
  const s = t(`aam.audit.actions.${actionKey(action)}`, { defaultValue: '' });
  return s || null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (s: string) => UUID.test(s.trim());

/** The user ids a page of events names (actors, and users acted upon). */
export function userIdsOf(items: readonly AuditItem[]): string[] {
  const ids = new Set<string>();
  for (const e of items) {
    // AAM names its actor by username; the lookup gives the same name and e-mail ULM's events show.
    if (e.actor_id) ids.add(e.actor_id);
    if (e.resource_type === 'user' && isUuid(e.resource_id)) ids.add(e.resource_id);
  }
  return [...ids];
}

const obj = (v: unknown): Record<string, unknown> | null => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null);

/** What an event was done to, for the "Target" column. */
export type Target =
  | { kind: 'user'; id: string }
  | { kind: 'app'; id: string; name: string | null }
  | { kind: 'setting'; category: string; key: string }
  | { kind: 'other'; type: string; id: string }
  | null;

export function targetOf(e: AuditItem): Target {
  if (!e.resource_type && !e.resource_id) return null;
  if (e.resource_type === 'user') return { kind: 'user', id: e.resource_id };
  if (e.resource_type === 'app') {
    const v = obj(e.new_value) ?? obj(e.old_value);
    const name = v ? (v['display_name'] ?? v['name']) : null;
    return { kind: 'app', id: e.resource_id, name: typeof name === 'string' && name ? name : null };
  }
  if (e.resource_type === 'setting') {
    const [category = '', key = ''] = e.resource_id.split(/[/.]/, 2);
    return { kind: 'setting', category, key };
  }
  return { kind: 'other', type: e.resource_type, id: e.resource_id };
}

/** One value as text: strings as they are, lists joined, nested objects as `k: v` pairs. */
export function valueText(v: unknown): string {
  if (v === null || v === undefined || v === '') return '—';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return v.length ? v.map(valueText).join(', ') : '—';
  const o = obj(v);
  if (o) {
    const parts = Object.entries(o).map(([k, x]) => `${k}: ${valueText(x)}`);
    return parts.length ? parts.join('; ') : '—';
  }
  return String(v);
}

/** A detail row: a key (translated by the caller when known) and a value, or a change. */
export interface Detail {
  key: string;
  value: string;
  from?: string;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
// Bookkeeping fields of a stored record: they change with every edit and say nothing.
const NOISE = new Set(['id', 'created_at', 'updated_at', 'created_by', 'updated_by']);

/**
 * The event's details as rows: ULM's `details` object key by key; AAM's change as the
 * fields that differ (a whole record before and after) or the value before and after (a
 * setting). Nothing at all for an empty object.
 */
export function detailsOf(e: AuditItem): Detail[] {
  const out: Detail[] = [];
  const d = obj(e.details);
  if (d) {
    for (const [k, v] of Object.entries(d)) {
      if (v === null || v === undefined || v === '' || (Array.isArray(v) && v.length === 0)) continue;
      out.push({ key: k, value: valueText(v) });
    }
  } else if (e.details !== undefined && e.details !== null && !(typeof e.details === 'object')) {
    out.push({ key: 'details', value: valueText(e.details) });
  }
  const oldO = obj(e.old_value);
  const newO = obj(e.new_value);
  if (oldO && newO) {
    for (const k of new Set([...Object.keys(oldO), ...Object.keys(newO)])) {
      if (NOISE.has(k) || same(oldO[k], newO[k])) continue;
      out.push({ key: k, from: valueText(oldO[k]), value: valueText(newO[k]) });
    }
  } else if (e.resource_type === 'setting' && (e.old_value !== undefined || e.new_value !== undefined)) {
    if (!same(e.old_value, e.new_value)) out.push({ key: 'value', from: valueText(e.old_value), value: valueText(e.new_value) });
  }
  return out;
}

/** A detail's key in words when it is one ULM or AAM is known to write. */
export function detailKey(t: TFunction, key: string): string {
  return /^[a-z_]+$/.test(key) ? t(`aam.audit.keys.${key}`, { defaultValue: key }) : key;
}

// ---- the page's address ---------------------------------------------------------------

export const FIELDS = ['actor', 'action', 'resource', 'source', 'since', 'until'] as const;
export type Field = (typeof FIELDS)[number];
export type Draft = Record<Field, string>;

/** The filter form's values as the address holds them. */
export function draftFromParams(p: URLSearchParams): Draft {
  return Object.fromEntries(FIELDS.map((f) => [f, p.get(f) ?? ''])) as Draft;
}

/** The address for filters and a page: empty filters are left out; a new filter starts at the first page. */
export function paramsFor(d: Draft, cursor?: string | null): URLSearchParams {
  const p = new URLSearchParams();
  for (const f of FIELDS) if (d[f].trim()) p.set(f, d[f].trim());
  if (cursor) p.set('cursor', cursor);
  return p;
}

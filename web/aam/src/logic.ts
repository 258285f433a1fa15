/** Pure helpers of the admin panel, unit-tested apart from the components. */
import { ApiError, type AccessClaims } from '@ovu/shared';

/** Only people whose token carries `aam:access` may use the panel (AAM checks it too). */
export function hasPanelAccess(claims: AccessClaims | null): boolean {
  return claims?.permissions?.includes('aam:access') ?? false;
}

/**
 * The services answer `mfa_required` to an admin who has not enrolled in MFA while the policy
 * (`spec.security.adminMfa`) requires it: the panel then walks them through enrolment.
 */
export function mustEnrol(error: unknown): boolean {
  return error instanceof ApiError && error.status === 403 && error.code === 'mfa_required';
}

/** A `next` path to return to after sign-in: same-origin paths only. */
export function safeNext(next: string | null): string {
  return next && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/\\') ? next : '/';
}

/** Clicking a column: same column flips the direction, a new column sorts ascending. */
export function nextSort(current: string, column: string): string {
  if (current === column) return `-${column}`;
  if (current === `-${column}`) return column;
  return column;
}

export function sortState(current: string, column: string): 'ascending' | 'descending' | 'none' {
  if (current === column) return 'ascending';
  if (current === `-${column}`) return 'descending';
  return 'none';
}

/** "a, b ,, c" → ["a", "b", "c"]. */
export function parseList(s: string): string[] {
  return s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
}

/** A `datetime-local` value (the viewer's local time) as an ISO instant, or null when empty. */
export function localToIso(v: string): string | null {
  if (!v) return null;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** An ISO instant as a `datetime-local` value in the viewer's time zone. */
export function isoToLocal(iso: string | null | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** Status → badge class. */
export function healthClass(status: string): 'ok' | 'warn' | 'bad' {
  return status === 'healthy' || status === 'active' || status === 'Ready' ? 'ok' : status === 'unhealthy' || status === 'deactivated' ? 'bad' : 'warn';
}

// ---- settings ------------------------------------------------------------------------------

export type SettingKind = 'boolean' | 'integer' | 'enum' | 'text' | 'url' | 'email' | 'object';

/** Text shown in an input for a setting's JSON value. */
export function settingToInput(type: string, value: unknown): string {
  if (type === 'boolean') return value === true ? 'true' : 'false';
  if (type === 'object') return JSON.stringify(value, null, 2);
  if (value === null || value === undefined) return '';
  return String(value);
}

/**
 * Parses an input back into the JSON value the key's type expects; an error key (for
 * `validation.*`) when it cannot be one. Bounds are left to the server, which knows them.
 */
export function inputToSetting(type: string, input: string): { value: unknown } | { error: 'invalid' } {
  switch (type) {
    case 'boolean':
      return input === 'true' ? { value: true } : input === 'false' ? { value: false } : { error: 'invalid' };
    case 'integer': {
      const t = input.trim();
      return /^-?\d+$/.test(t) ? { value: Number(t) } : { error: 'invalid' };
    }
    case 'object':
      // Only an object (or array) is an object: `1` or `"x"` parse as JSON but are not one.
      try {
        const v = JSON.parse(input) as unknown;
        return typeof v === 'object' && v !== null ? { value: v } : { error: 'invalid' };
      } catch {
        return { error: 'invalid' };
      }
    default:
      return { value: input };
  }
}

/** `category.key`, the id of a setting in forms and drafts. */
export const settingId = (s: { category: string; key: string }): string => `${s.category}.${s.key}`;

interface FormSetting {
  category: string;
  key: string;
  type: string;
  value: unknown;
  sensitive: boolean;
  source: string;
}

/** What the input shows for the value in force: a sensitive value comes masked, so its box starts empty. */
export function savedInput(s: FormSetting): string {
  return s.sensitive ? '' : settingToInput(s.type, s.value);
}

/** Settings that live in ULM are shown here read-only. */
export const editable = (s: FormSetting): boolean => s.source === 'aam';

/**
 * The changes a group's form holds: `draft` has the inputs a person touched (by id). Only
 * inputs whose parsed value differs from the value in force count, so retyping the same
 * value, or `60 ` for `60`, sends nothing; an empty box of a sensitive key keeps the hidden
 * value. Inputs that do not parse as their type are listed in `invalid` and nothing is sent.
 */
export function groupChanges(items: readonly FormSetting[], draft: Readonly<Record<string, string>>): { changed: Record<string, unknown>; invalid: string[] } {
  const changed: Record<string, unknown> = {};
  const invalid: string[] = [];
  for (const s of items) {
    const id = settingId(s);
    const input = draft[id];
    if (!editable(s) || input === undefined || input === savedInput(s)) continue;
    if (s.sensitive && input === '') continue;
    const p = inputToSetting(s.type, input);
    if ('error' in p) invalid.push(id);
    else if (s.sensitive || JSON.stringify(p.value) !== JSON.stringify(s.value)) changed[id] = p.value;
  }
  return { changed, invalid };
}

/** The allowed values of an `enum` setting, read from its JSON Schema. */
export function enumValues(schema: unknown): string[] {
  const e = (schema as { enum?: unknown } | null)?.enum;
  return Array.isArray(e) ? e.filter((x): x is string => typeof x === 'string') : [];
}

export function schemaBounds(schema: unknown): { min?: number; max?: number; maxLength?: number } {
  const s = (schema ?? {}) as { minimum?: unknown; maximum?: unknown; maxLength?: unknown };
  const out: { min?: number; max?: number; maxLength?: number } = {};
  if (typeof s.minimum === 'number') out.min = s.minimum;
  if (typeof s.maximum === 'number') out.max = s.maximum;
  if (typeof s.maxLength === 'number') out.maxLength = s.maxLength;
  return out;
}

/** Settings grouped by category, categories and keys in a stable order. */
export function groupSettings<T extends { category: string; key: string }>(items: readonly T[]): [string, T[]][] {
  const m = new Map<string, T[]>();
  for (const s of [...items].sort((a, b) => a.category.localeCompare(b.category) || a.key.localeCompare(b.key))) {
    const l = m.get(s.category) ?? [];
    l.push(s);
    m.set(s.category, l);
  }
  return [...m.entries()];
}

/** Compact JSON for a value in tables (history, audit). */
export function shortJson(v: unknown, max = 80): string {
  if (v === null || v === undefined) return '—';
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

// ---- users ---------------------------------------------------------------------------------

/** ULM audit types that change a user's status, for the status history. */
const STATUS_EVENTS = /deactivat|reactivat|user_created|user_registered|locked|unlock|scheduled/;

export function isStatusEvent(action: string): boolean {
  return STATUS_EVENTS.test(action);
}

// ---- chart ---------------------------------------------------------------------------------

export interface Series {
  key: string;
  values: number[];
}

/** A "nice" upper bound for the y axis: 1, 2 or 5 × 10^n, at least `max`. */
export function niceMax(max: number): number {
  if (max <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

/** SVG polyline points for each series in a `width`×`height` plot area. */
export function chartPaths(series: readonly Series[], width: number, height: number): { key: string; points: string }[] {
  const n = Math.max(...series.map((s) => s.values.length), 0);
  const top = niceMax(Math.max(0, ...series.flatMap((s) => s.values)));
  const x = (i: number) => (n <= 1 ? width / 2 : (i * width) / (n - 1));
  const y = (v: number) => height - (v / top) * height;
  return series.map((s) => ({
    key: s.key,
    points: s.values.map((v, i) => `${round(x(i))},${round(y(v))}`).join(' '),
  }));
}

const round = (v: number) => Math.round(v * 10) / 10;

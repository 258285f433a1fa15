/** Pure helpers of the account app, kept out of components so they are unit-tested. */

// Shared with the admin panel's MFA enrolment.
export { groupSecret, recoveryCodesFile } from '@ovu/shared';

/** Expiry choices for a new API key, in days; 0 means it never expires. */
export const KEY_EXPIRY_DAYS = [30, 90, 365, 0] as const;

/** ISO timestamp `days` after `now`, or null for a key that never expires. */
export function expiryFromDays(days: number, now: number = Date.now()): string | null {
  return days > 0 ? new Date(now + days * 86_400_000).toISOString() : null;
}

/**
 * The scopes a key may be given: the permissions the person holds (ULM refuses any other),
 * sorted and grouped by resource for the checkbox list.
 */
export function scopeGroups(permissions: readonly string[]): [string, string[]][] {
  const groups = new Map<string, string[]>();
  for (const p of [...new Set(permissions)].sort()) {
    const resource = p.split(':')[0] ?? p;
    const list = groups.get(resource) ?? [];
    list.push(p);
    groups.set(resource, list);
  }
  return [...groups.entries()];
}

/** Where to go after signing in: only a path inside this app, never another site. */
export function safeNext(next: string | null): string {
  if (!next || !next.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return '/';
  return next;
}

/**
 * The token of an e-mailed link. Links carry it in the fragment (`#token=…`), which browsers
 * never send to a server, so it reaches no access log and no `Referer`; mail sent before that
 * change carries it in the query (`?token=…`), which still works.
 */
export function linkToken(hash: string, search: string): string | null {
  const fromHash = new URLSearchParams(hash.replace(/^#/, '')).get('token');
  return fromHash || new URLSearchParams(search).get('token') || null;
}

/** The address without the link's token (fragment dropped, `token` removed from the query). */
export function withoutLinkToken(pathname: string, search: string): string {
  const q = new URLSearchParams(search);
  q.delete('token');
  const rest = q.toString();
  return pathname + (rest ? `?${rest}` : '');
}

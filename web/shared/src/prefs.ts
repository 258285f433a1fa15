/**
 * The only place the apps use localStorage: the person's language and theme. Tokens are
 * never stored (see api/session.ts); lint forbids localStorage everywhere else.
 */
function store(): Storage | null {
  try {
    // eslint-disable-next-line no-restricted-properties -- the one sanctioned use
    return typeof window === 'undefined' ? null : window.localStorage;
  } catch {
    return null; // storage disabled: preferences simply do not persist
  }
}

export function readPref(key: 'lang' | 'theme'): string | null {
  return store()?.getItem(`ovu.${key}`) ?? null;
}

export function writePref(key: 'lang' | 'theme', value: string): void {
  store()?.setItem(`ovu.${key}`, value);
}

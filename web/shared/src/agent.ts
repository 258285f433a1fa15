/**
 * A short description of a browser's user agent ("Chrome · Linux"), shared by the account
 * app's own sessions and the admin panel's view of a person's sessions, so both say the same.
 */

const BROWSERS: [RegExp, string][] = [
  [/Edg(e|A|iOS)?\//, 'Edge'],
  [/OPR\//, 'Opera'],
  [/SamsungBrowser\//, 'Samsung Internet'],
  [/Firefox\/|FxiOS\//, 'Firefox'],
  [/Chrome\/|CriOS\/|Chromium\//, 'Chrome'],
  [/Safari\//, 'Safari'],
  [/curl\//, 'curl'],
];

const SYSTEMS: [RegExp, string][] = [
  [/Android/, 'Android'],
  [/iPhone|iPad|iPod/, 'iOS'],
  [/Windows/, 'Windows'],
  [/Mac OS X|Macintosh/, 'macOS'],
  [/CrOS/, 'ChromeOS'],
  [/Linux/, 'Linux'],
];

const first = (ua: string, table: [RegExp, string][]) => table.find(([re]) => re.test(ua))?.[1] ?? null;

/**
 * "Chrome · Linux", "curl", or for an agent it does not know the product's name (the first
 * token before its version, `python-requests/2.31` → `python-requests`), never a string cut
 * in the middle of a word.
 */
export function describeAgent(ua: string | null | undefined): string {
  const s = (ua ?? '').trim();
  if (!s) return '—';
  const browser = first(s, BROWSERS);
  const os = first(s, SYSTEMS);
  if (browser && os) return `${browser} · ${os}`;
  if (browser ?? os) return (browser ?? os) as string;
  const product = s.split(/[\s/;(]/, 1)[0] ?? '';
  if (product.length > 0 && product.length <= 40) return product;
  // One long unbroken word: shorten it at a character boundary and say so.
  return `${[...s].slice(0, 39).join('')}…`;
}

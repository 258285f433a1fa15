/** Numbers, dates and durations through `Intl`, in the UI language (never hand-formatted). */

const cache = new Map<string, Intl.DateTimeFormat | Intl.NumberFormat | Intl.RelativeTimeFormat>();

function memo<T extends Intl.DateTimeFormat | Intl.NumberFormat | Intl.RelativeTimeFormat>(key: string, make: () => T): T {
  let f = cache.get(key);
  if (!f) {
    f = make();
    cache.set(key, f);
  }
  return f as T;
}

/** Latin digits in every language: Arabic UIs in Israel and the Gulf commonly use them, and ids and codes stay readable. */
const locale = (lang: string) => `${lang}-u-nu-latn`;

export function formatNumber(lang: string, n: number): string {
  return memo(`n:${lang}`, () => new Intl.NumberFormat(locale(lang))).format(n);
}

export function formatPercent(lang: string, n: number): string {
  return memo(`p:${lang}`, () => new Intl.NumberFormat(locale(lang), { style: 'percent', maximumFractionDigits: 1 })).format(n);
}

function toDate(v: string | number | Date): Date | null {
  const d = v instanceof Date ? v : new Date(v);
  return Number.isNaN(d.getTime()) ? null : d;
}

export function formatDateTime(lang: string, v: string | number | Date | null | undefined): string {
  if (v === null || v === undefined) return '—';
  const d = toDate(v);
  if (!d) return '—';
  return memo(`dt:${lang}`, () => new Intl.DateTimeFormat(locale(lang), { dateStyle: 'medium', timeStyle: 'short' })).format(d);
}

export function formatDate(lang: string, v: string | number | Date | null | undefined): string {
  if (v === null || v === undefined) return '—';
  const d = toDate(v);
  if (!d) return '—';
  return memo(`d:${lang}`, () => new Intl.DateTimeFormat(locale(lang), { dateStyle: 'medium' })).format(d);
}

/** A `YYYY-MM-DD` UTC day as a short label (chart axes). */
export function formatDay(lang: string, ymd: string): string {
  const d = toDate(`${ymd}T00:00:00Z`);
  if (!d) return ymd;
  return memo(`day:${lang}`, () => new Intl.DateTimeFormat(locale(lang), { day: 'numeric', month: 'short', timeZone: 'UTC' })).format(d);
}

/** "in 3 days", "5 minutes ago": the largest unit that fits. */
export function formatRelative(lang: string, v: string | number | Date, now: number = Date.now()): string {
  const d = toDate(v);
  if (!d) return '—';
  const s = Math.round((d.getTime() - now) / 1000);
  const rtf = memo(`r:${lang}`, () => new Intl.RelativeTimeFormat(locale(lang), { numeric: 'auto' }));
  const units: [Intl.RelativeTimeFormatUnit, number][] = [
    ['day', 86400],
    ['hour', 3600],
    ['minute', 60],
  ];
  for (const [unit, size] of units) {
    if (Math.abs(s) >= size) return rtf.format(Math.round(s / size), unit);
  }
  return rtf.format(s, 'second');
}

/** Text of the recovery-codes file: a header line, then one code per line. */
export function recoveryCodesFile(header: string, codes: readonly string[]): string {
  return `${header}\n\n${codes.join('\n')}\n`;
}

/** The secret from an otpauth URI, grouped in fours for typing by hand. */
export function groupSecret(secret: string): string {
  return secret.replace(/\s+/g, '').replace(/(.{4})(?=.)/g, '$1 ');
}

/**
 * i18next for both apps: Hebrew, English and Arabic, shared strings merged with the app's
 * own. The chosen language sets `lang` and `dir` on `<html>` so the logical CSS properties
 * flip the layout, and is remembered between visits (the language, never a token).
 */
import i18next, { type i18n as I18n, type Resource } from 'i18next';
import { initReactI18next } from 'react-i18next';
import { readPref, writePref } from '../prefs';
import en from './en';
import he from './he';
import ar from './ar';

export const LANGS = ['he', 'en', 'ar'] as const;
export type Lang = (typeof LANGS)[number];

export function isLang(v: unknown): v is Lang {
  return typeof v === 'string' && (LANGS as readonly string[]).includes(v);
}

const RTL = new Set<string>(['he', 'ar']);
export function dirOf(lang: string): 'rtl' | 'ltr' {
  return RTL.has(lang) ? 'rtl' : 'ltr';
}

/** First supported language among the browser's, else Hebrew (the original's default). */
export function pickLanguage(stored: string | null, browser: readonly string[]): Lang {
  if (isLang(stored)) return stored;
  for (const b of browser) {
    const base = b.toLowerCase().split('-')[0];
    if (base === 'iw') return 'he';
    if (isLang(base)) return base;
  }
  return 'he';
}

type Tree = { [k: string]: string | Tree };

export function deepMerge(a: Tree, b: Tree): Tree {
  const out: Tree = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] = typeof v === 'object' && typeof cur === 'object' ? deepMerge(cur, v) : v;
  }
  return out;
}

export function applyDocumentLanguage(lang: string, root: HTMLElement = document.documentElement): void {
  root.lang = lang;
  root.dir = dirOf(lang);
}

/** Creates the app's i18next instance; `app` holds the app's own strings per language. */
export function createI18n(app: Record<Lang, Tree>, initial?: Lang): I18n {
  const shared: Record<Lang, Tree> = { en, he, ar };
  const resources: Resource = {};
  for (const l of LANGS) resources[l] = { translation: deepMerge(shared[l], app[l]) };
  const lng =
    initial ?? pickLanguage(readPref('lang'), typeof navigator === 'undefined' ? [] : navigator.languages ?? []);
  const inst = i18next.createInstance();
  void inst.use(initReactI18next).init({
    resources,
    lng,
    fallbackLng: 'en',
    supportedLngs: [...LANGS],
    interpolation: { escapeValue: false }, // React escapes
    returnNull: false,
    initAsync: false,
    showSupportNotice: false,
  });
  if (typeof document !== 'undefined') applyDocumentLanguage(lng);
  inst.on('languageChanged', (l) => {
    if (typeof document !== 'undefined') applyDocumentLanguage(l);
    writePref('lang', l);
  });
  return inst;
}

export { en as sharedEn, he as sharedHe, ar as sharedAr };

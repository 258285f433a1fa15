/**
 * i18next for both apps: Hebrew, English and Arabic, shared strings merged with the app's
 * own. The chosen language sets `lang` and `dir` on `<html>` so the logical CSS properties
 * flip the layout, and is remembered between visits (the language, never a token).
 *
 * A browser needs one language at a time, so only English travels in the entry chunk: it is
 * the fallback (`fallbackLng`) and the language a page falls back to when another cannot be
 * fetched, so a page always has something to render, English visitors fetch nothing more,
 * and a missing key never waits on a second request. Hebrew and Arabic (the shared strings
 * and the app's) are chunks of their own, fetched with `import()` before the first render
 * or before a switch takes effect; a failed fetch leaves the page in the language it had and
 * says so (`languageState`, shown by `LanguageLoadError`).
 */
import i18next, { type i18n as I18n, type Resource, type TFunction } from 'i18next';
import { initReactI18next } from 'react-i18next';
import { readPref, writePref } from '../prefs';
import en from './en';

export const LANGS = ['he', 'en', 'ar'] as const;
export type Lang = (typeof LANGS)[number];
/** The languages fetched on demand (English is in the entry chunk). */
export type LazyLang = Exclude<Lang, 'en'>;

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

/** What `import('./he')` resolves to. */
export type LocaleModule = { default: Tree };
export type LocaleLoader = () => Promise<LocaleModule>;

/**
 * An app's strings: English as a value (bundled), the others as loaders that must be written
 * as `() => import('./he')` in the app, so the bundler makes each a chunk of its own.
 */
export interface AppLocales {
  en: Tree;
  lazy: Record<LazyLang, LocaleLoader>;
}

// The shared strings of the other languages, fetched with the app's (each app's build puts
// both halves of a language in one chunk, see scripts/vite-common.ts).
const sharedLazy: Record<LazyLang, LocaleLoader> = {
  he: () => import('./he'),
  ar: () => import('./ar'),
};

/** A language being fetched, and the last one that could not be. */
export interface LanguageState {
  loading: Lang | null;
  failed: Lang | null;
}

class LanguageLoader {
  state: LanguageState = { loading: null, failed: null };
  private listeners = new Set<() => void>();
  private inflight = new Map<LazyLang, Promise<Tree>>();

  constructor(private readonly app: AppLocales) {}

  set(next: Partial<LanguageState>): void {
    this.state = { ...this.state, ...next };
    for (const l of this.listeners) l();
  }

  subscribe(cb: () => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  /** The merged strings of `lng`; one fetch at a time per language, retried after a failure. */
  fetch(lng: LazyLang): Promise<Tree> {
    let p = this.inflight.get(lng);
    if (!p) {
      p = Promise.all([sharedLazy[lng](), this.app.lazy[lng]()]).then(([s, a]) => deepMerge(s.default, a.default));
      this.inflight.set(lng, p);
      // Forget a failure so the next attempt fetches again (a dropped connection is not final).
      p.catch(() => this.inflight.delete(lng));
    }
    return p;
  }
}

const loaders = new WeakMap<I18n, LanguageLoader>();

function loaderOf(inst: I18n): LanguageLoader {
  const l = loaders.get(inst);
  if (!l) throw new Error('not an instance made by createI18n');
  return l;
}

/**
 * Makes `lng`'s strings available (fetching its chunk once); false when the fetch failed,
 * which is recorded in `languageState` (the reason goes to the console, for whoever debugs).
 */
export async function loadLanguage(inst: I18n, lng: Lang): Promise<boolean> {
  if (lng === 'en' || inst.hasResourceBundle(lng, 'translation')) return true;
  const loader = loaderOf(inst);
  loader.set({ loading: lng });
  try {
    const tree = await loader.fetch(lng);
    if (!inst.hasResourceBundle(lng, 'translation')) inst.addResourceBundle(lng, 'translation', tree, true, true);
    loader.set({ loading: null, failed: null });
    return true;
  } catch (e) {
    console.error(`could not load the language ${lng}`, e);
    loader.set({ loading: null, failed: lng });
    return false;
  }
}

export function languageState(inst: I18n): LanguageState {
  return loaderOf(inst).state;
}

export function subscribeLanguageState(inst: I18n, cb: () => void): () => void {
  return loaderOf(inst).subscribe(cb);
}

/**
 * Creates the app's i18next instance, resolved once the first language's strings are here
 * (render after it: no flash of keys). `initial` overrides the stored/browser choice.
 */
export async function createI18n(app: AppLocales, initial?: Lang): Promise<I18n> {
  const wanted =
    initial ?? pickLanguage(readPref('lang'), typeof navigator === 'undefined' ? [] : navigator.languages ?? []);
  const resources: Resource = { en: { translation: deepMerge(en, app.en) } };
  const inst = i18next.createInstance();
  loaders.set(inst, new LanguageLoader(app));
  await inst.use(initReactI18next).init({
    resources,
    lng: 'en',
    fallbackLng: 'en',
    supportedLngs: [...LANGS],
    interpolation: { escapeValue: false }, // React escapes
    returnNull: false,
    initAsync: false,
    showSupportNotice: false,
  });
  const change = inst.changeLanguage.bind(inst);
  // A switch waits for the language's chunk and happens only once it is here; without this,
  // i18next would switch at once and show English text in the new direction. Every caller
  // (the language menu, ULM's profile) goes through this. The last language asked for wins.
  let latest = 0;
  inst.changeLanguage = async (lng?: string, callback?: Parameters<I18n['changeLanguage']>[1]): Promise<TFunction> => {
    const ticket = ++latest;
    if (isLang(lng) && !(await loadLanguage(inst, lng))) return inst.t;
    if (ticket !== latest) return inst.t;
    // Another language now on screen makes an earlier failure moot.
    if (languageState(inst).failed) loaderOf(inst).set({ failed: null });
    return change(lng, callback);
  };
  // The stored choice stays as it was when its chunk failed: the next visit tries it again.
  if (wanted !== 'en') await inst.changeLanguage(wanted);
  if (typeof document !== 'undefined') applyDocumentLanguage(inst.language);
  inst.on('languageChanged', (l) => {
    if (typeof document !== 'undefined') applyDocumentLanguage(l);
    writePref('lang', l);
  });
  return inst;
}

/** Locale sets for tests of the shared parts (never imported by an app). */
import type { AppLocales, LocaleModule } from './index';

/** An app with no strings of its own; its other languages arrive at once. */
export const NO_APP_STRINGS: AppLocales = {
  en: {},
  lazy: { he: () => Promise.resolve({ default: {} }), ar: () => Promise.resolve({ default: {} }) },
};

export const TEST_APP = {
  en: { x: { hi: 'Hi', bye: 'Bye' } },
  he: { x: { hi: 'שלום', bye: 'להתראות' } },
  ar: { x: { hi: 'مرحبا', bye: 'وداعا' } },
};

/** TEST_APP with counted loaders; setting `fail.he` makes Hebrew's fetch fail, as offline. */
export function countedLocales() {
  const calls = { he: 0, ar: 0 };
  const fail = { he: false, ar: false };
  const loader = (l: 'he' | 'ar') => (): Promise<LocaleModule> => {
    calls[l] += 1;
    return fail[l] ? Promise.reject(new TypeError('Failed to fetch dynamically imported module')) : Promise.resolve({ default: TEST_APP[l] });
  };
  const locales: AppLocales = { en: TEST_APP.en, lazy: { he: loader('he'), ar: loader('ar') } };
  return { locales, calls, fail };
}

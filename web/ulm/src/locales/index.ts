/**
 * The ULM app's strings as the shared i18n loads them: English in the entry chunk (the
 * fallback), Hebrew and Arabic as chunks fetched when a person needs them. The literal
 * `import()` calls are what makes the bundler split them off; import ./he or ./ar
 * statically anywhere the app ships and they are back in every download.
 */
import type { AppLocales } from '@ovu/shared';
import en from './en';

export const locales: AppLocales = {
  en,
  lazy: {
    he: () => import('./he'),
    ar: () => import('./ar'),
  },
};

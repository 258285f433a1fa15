/** The language and theme switches every screen carries, and the note when a language could not be fetched. */
import { useState, useSyncExternalStore } from 'react';
import { useTranslation } from 'react-i18next';
import { LANGS, languageState, subscribeLanguageState, type LanguageState } from '../i18n';
import { setTheme, storedTheme, type ThemeChoice } from '../theme';

/** The language being fetched and the last that failed (see i18n/index.ts). */
export function useLanguageState(): LanguageState {
  const { i18n } = useTranslation();
  return useSyncExternalStore(
    (cb) => subscribeLanguageState(i18n, cb),
    () => languageState(i18n),
  );
}

export function LanguageSwitch() {
  const { t, i18n } = useTranslation();
  const { loading } = useLanguageState();
  return (
    <label className="inline-select">
      <span>{t('common.language')}</span>
      {/* Stays on the current language until the chosen one has arrived (aria-busy meanwhile). */}
      <select
        value={i18n.language}
        onChange={(e) => void i18n.changeLanguage(e.target.value)}
        aria-busy={loading ? true : undefined}
        data-testid="lang-switch"
      >
        {LANGS.map((l) => (
          <option key={l} value={l} lang={l}>
            {t(`common.languages.${l}`)}
          </option>
        ))}
      </select>
    </label>
  );
}

/**
 * A language whose chunk could not be fetched (offline, or a deploy replaced the files): the
 * page stays in the language it had and says so, with a second try.
 */
export function LanguageLoadError() {
  const { t, i18n } = useTranslation();
  const { failed, loading } = useLanguageState();
  if (!failed) return null;
  return (
    <div className="alert alert-error" role="alert" data-testid="lang-error">
      <span>{t('common.languageLoadFailed', { language: t(`common.languages.${failed}`) })}</span>
      <button type="button" className="button secondary" disabled={loading !== null} onClick={() => void i18n.changeLanguage(failed)}>
        {t('common.retry')}
      </button>
    </div>
  );
}

export function ThemeSwitch() {
  const { t } = useTranslation();
  const [theme, set] = useState<ThemeChoice>(storedTheme());
  return (
    <label className="inline-select">
      <span>{t('common.theme')}</span>
      <select
        value={theme}
        data-testid="theme-switch"
        onChange={(e) => {
          const v = e.target.value as ThemeChoice;
          set(v);
          setTheme(v);
        }}
      >
        <option value="system">{t('common.themeSystem')}</option>
        <option value="light">{t('common.themeLight')}</option>
        <option value="dark">{t('common.themeDark')}</option>
      </select>
    </label>
  );
}

export function PrefsBar() {
  return (
    <div className="prefs">
      <LanguageSwitch />
      <ThemeSwitch />
    </div>
  );
}

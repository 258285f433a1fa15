/** The language and theme switches every screen carries. */
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { LANGS } from '../i18n';
import { setTheme, storedTheme, type ThemeChoice } from '../theme';

export function LanguageSwitch() {
  const { t, i18n } = useTranslation();
  return (
    <label className="inline-select">
      <span>{t('common.language')}</span>
      <select value={i18n.language} onChange={(e) => void i18n.changeLanguage(e.target.value)} data-testid="lang-switch">
        {LANGS.map((l) => (
          <option key={l} value={l} lang={l}>
            {t(`common.languages.${l}`)}
          </option>
        ))}
      </select>
    </label>
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

/** Page chrome: skip link, header with the app name and switches, navigation, main. */
import type { ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { LanguageLoadError, PrefsBar } from './prefs';

export function Shell({ title, nav, actions, children }: { title: string; nav?: ReactNode; actions?: ReactNode; children: ReactNode }) {
  const { t } = useTranslation();
  return (
    <div className={`shell ${nav ? 'with-nav' : ''}`}>
      <a className="skip-link" href="#main">
        {t('common.skipToContent')}
      </a>
      <header className="topbar">
        <span className="brand">{title}</span>
        <div className="topbar-end">
          <PrefsBar />
          {actions}
        </div>
      </header>
      {nav ? (
        <nav className="sidenav" aria-label={t('common.mainNav')}>
          {nav}
        </nav>
      ) : null}
      <main id="main" tabIndex={-1}>
        <LanguageLoadError />
        {children}
      </main>
    </div>
  );
}

/** Paging for tables: previous/next and the position, in the UI language. */
export function Pager({ offset, limit, total, onChange }: { offset: number; limit: number; total: number; onChange: (offset: number) => void }) {
  const { t } = useTranslation();
  const pages = Math.max(1, Math.ceil(total / limit));
  const page = Math.floor(offset / limit) + 1;
  return (
    <nav className="pager" aria-label={t('common.pageOf', { page, pages })}>
      <button type="button" className="button secondary" disabled={page <= 1} onClick={() => onChange(Math.max(0, offset - limit))}>
        {t('common.previous')}
      </button>
      <span aria-live="polite">{t('common.pageOf', { page, pages })}</span>
      <button type="button" className="button secondary" disabled={page >= pages} onClick={() => onChange(offset + limit)}>
        {t('common.next')}
      </button>
    </nav>
  );
}

/**
 * A table's scroll container. Wide tables scroll sideways on small screens, and a scrolling
 * region must be reachable by keyboard (WCAG 2.1.1), so it is focusable and named.
 */
export function TableWrap({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="table-wrap" tabIndex={0} role="region" aria-label={label}>
      {children}
    </div>
  );
}

/** The application registry: list with search and filters, register a new one. */
import { useState, type FormEvent } from 'react';
import { Link, useNavigate } from 'react-router';
import { useQuery } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { Button, Dialog, Empty, ErrorNote, Loading, SelectField, TextField, useApis, TableWrap } from '@ovu/shared';
import { APP_STATUSES, APP_TYPES, aamApi } from '../api';
import { useTitle } from '../App';
import { AppForm } from './AppForm';
import { StatusBadge } from '../widgets';

export function AppsPage() {
  const { t } = useTranslation();
  useTitle(t('aam.apps.title'));
  const { app } = useApis();
  const navigate = useNavigate();
  const [filters, setFilters] = useState({ q: '', status: '', type: '' });
  const [draft, setDraft] = useState(filters.q);
  const [creating, setCreating] = useState(false);
  const list = useQuery({ queryKey: ['apps', filters], queryFn: () => aamApi(app).apps({ ...filters, limit: 500 }) });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setFilters({ ...filters, q: draft.trim() });
  };
  return (
    <>
      <h1>{t('aam.apps.title')}</h1>
      <div className="row">
        <form className="row" role="search" onSubmit={submit}>
          <TextField label={t('common.search')} name="q" type="search" value={draft} onChange={(e) => setDraft(e.target.value)} />
          <div className="field">
            <Button variant="secondary">{t('common.search')}</Button>
          </div>
        </form>
        <SelectField label={t('aam.apps.status')} value={filters.status} onChange={(e) => setFilters({ ...filters, status: e.target.value })}>
          <option value="">{t('aam.users.all')}</option>
          {APP_STATUSES.map((s) => (
            <option key={s} value={s}>
              {t(`aam.apps.statuses.${s}`)}
            </option>
          ))}
        </SelectField>
        <SelectField label={t('aam.apps.type')} value={filters.type} onChange={(e) => setFilters({ ...filters, type: e.target.value })}>
          <option value="">{t('aam.users.all')}</option>
          {APP_TYPES.map((s) => (
            <option key={s} value={s}>
              {t(`aam.apps.types.${s}`)}
            </option>
          ))}
        </SelectField>
        <div className="field">
          <button type="button" className="button primary" onClick={() => setCreating(true)}>
            {t('aam.apps.create')}
          </button>
        </div>
      </div>
      <ErrorNote error={list.error} onRetry={() => void list.refetch()} />
      {list.isPending ? <Loading /> : null}
      {list.data && list.data.items.length === 0 ? <Empty /> : null}
      {list.data && list.data.items.length > 0 ? (
        <TableWrap label={t('aam.apps.title')}>
          <table>
            <caption className="visually-hidden">{t('aam.apps.title')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('aam.apps.name')}</th>
                <th scope="col">{t('aam.apps.code')}</th>
                <th scope="col">{t('aam.apps.type')}</th>
                <th scope="col">{t('aam.apps.status')}</th>
                <th scope="col">{t('aam.apps.version')}</th>
                <th scope="col">{t('aam.apps.owner')}</th>
              </tr>
            </thead>
            <tbody>
              {list.data.items.map((a) => (
                <tr key={a.id}>
                  <td>
                    <Link to={`/apps/${a.id}`}>
                      <bdi>{a.display_name || a.name}</bdi>
                    </Link>
                  </td>
                  <td className="mono">{a.code}</td>
                  <td>{t(`aam.apps.types.${a.type}`)}</td>
                  <td>
                    <StatusBadge status={a.status} />
                  </td>
                  <td>
                    <bdi>{a.version || '—'}</bdi>
                  </td>
                  <td>
                    <bdi>{a.owner || '—'}</bdi>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      ) : null}
      <Dialog open={creating} title={t('aam.apps.create')} onClose={() => setCreating(false)}>
        <AppForm onSaved={(a) => void navigate(`/apps/${a.id}`)} />
      </Dialog>
    </>
  );
}

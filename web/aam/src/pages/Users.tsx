/** Users: search, filter by status, sort by column, page through; create a user. */
import { useState, type FormEvent } from 'react';
import { Link, useSearchParams } from 'react-router';
import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import {
  Button,
  CheckboxField,
  Dialog,
  Empty,
  ErrorNote,
  LANGS,
  Loading,
  Notice,
  Pager,
  PasswordField,
  SelectField,
  TextField,
  formatDateTime,
  useApis,
  useFieldErrors,
  TableWrap,
} from '@ovu/shared';
import { aamApi, type Role, type User } from '../api';
import { useTitle } from '../App';
import { nextSort, sortState } from '../logic';
import { StatusBadge } from '../widgets';

const LIMIT = 20;

export function UsersPage() {
  const { t, i18n } = useTranslation();
  useTitle(t('aam.users.title'));
  const { app } = useApis();
  const [params, setParams] = useSearchParams();
  const q = params.get('q') ?? '';
  const status = (params.get('status') ?? '') as '' | 'active' | 'deactivated';
  const sort = params.get('sort') ?? '-created_at';
  const offset = Number(params.get('offset') ?? 0) || 0;
  const [search, setSearch] = useState(q);
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<User | null>(null);
  const update = (patch: Record<string, string | number | null>) => {
    const next = new URLSearchParams(params);
    for (const [k, v] of Object.entries(patch)) {
      if (v === null || v === '' || v === 0) next.delete(k);
      else next.set(k, String(v));
    }
    setParams(next);
  };
  const list = useQuery({
    queryKey: ['users', q, status, sort, offset],
    queryFn: () => aamApi(app).users({ q, status, sort, limit: LIMIT, offset }),
    placeholderData: keepPreviousData,
  });
  const lng = i18n.language;
  const header = (column: string, label: string) => (
    <th scope="col" aria-sort={sortState(sort, column)}>
      <button type="button" onClick={() => update({ sort: nextSort(sort, column), offset: null })} aria-label={t('aam.users.sortBy', { column: label })}>
        {label} {sortState(sort, column) === 'ascending' ? '▲' : sortState(sort, column) === 'descending' ? '▼' : ''}
      </button>
    </th>
  );
  const submitSearch = (e: FormEvent) => {
    e.preventDefault();
    update({ q: search.trim(), offset: null });
  };
  return (
    <>
      <h1>{t('aam.users.title')}</h1>
      <div className="row">
        <form onSubmit={submitSearch} className="row" role="search">
          <TextField label={t('aam.users.search')} name="q" type="search" value={search} onChange={(e) => setSearch(e.target.value)} />
          <div className="field">
            <Button variant="secondary">{t('common.search')}</Button>
          </div>
        </form>
        <SelectField label={t('aam.users.status')} value={status} onChange={(e) => update({ status: e.target.value, offset: null })}>
          <option value="">{t('aam.users.all')}</option>
          <option value="active">{t('aam.status.active')}</option>
          <option value="deactivated">{t('aam.status.deactivated')}</option>
        </SelectField>
        <div className="field">
          <button type="button" className="button primary" onClick={() => setCreating(true)}>
            {t('aam.users.create')}
          </button>
        </div>
      </div>
      {created ? (
        <Notice kind="success">
          {t('aam.users.created_ok')} <Link to={`/users/${created.id}`}>{created.username}</Link>
        </Notice>
      ) : null}
      <ErrorNote error={list.error} onRetry={() => void list.refetch()} />
      {list.isPending ? <Loading /> : null}
      {list.data && list.data.items.length === 0 ? <Empty>{t('aam.users.none')}</Empty> : null}
      {list.data && list.data.items.length > 0 ? (
        <>
          <p className="hint" aria-live="polite">
            {t('common.totalItems', { count: list.data.total })}
          </p>
          <TableWrap label={t('aam.users.title')}>
            <table aria-busy={list.isFetching || undefined}>
              <caption className="visually-hidden">{t('aam.users.title')}</caption>
              <thead>
                <tr>
                  {header('username', t('aam.users.username'))}
                  {header('email', t('aam.users.email'))}
                  <th scope="col">{t('aam.users.roles')}</th>
                  <th scope="col">{t('aam.users.status')}</th>
                  {header('created_at', t('aam.users.created'))}
                  {header('last_login_at', t('aam.users.lastLogin'))}
                </tr>
              </thead>
              <tbody>
                {list.data.items.map((u) => (
                  <tr key={u.id}>
                    <td>
                      <Link to={`/users/${u.id}`}>
                        <bdi>{u.username}</bdi>
                      </Link>
                      {u.display_name ? <div className="hint">{u.display_name}</div> : null}
                    </td>
                    <td>
                      <bdi>{u.email}</bdi>
                    </td>
                    <td>{u.roles.join(', ')}</td>
                    <td>
                      <StatusBadge status={u.status} />
                      {u.scheduled_deactivation_at ? <div className="hint">{t('aam.status.scheduled')}</div> : null}
                    </td>
                    <td>{formatDateTime(lng, u.created_at)}</td>
                    <td>{formatDateTime(lng, u.last_login_at)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
          <Pager offset={offset} limit={LIMIT} total={list.data.total} onChange={(o) => update({ offset: o })} />
        </>
      ) : null}
      <Dialog open={creating} title={t('aam.users.create')} onClose={() => setCreating(false)}>
        <CreateUser
          onCreated={(u) => {
            setCreating(false);
            setCreated(u);
          }}
        />
      </Dialog>
    </>
  );
}

function CreateUser({ onCreated }: { onCreated: (u: User) => void }) {
  const { t, i18n } = useTranslation();
  const { app } = useApis();
  const qc = useQueryClient();
  const roles = useQuery({ queryKey: ['roles'], queryFn: () => aamApi(app).roles() });
  const [f, setF] = useState({ email: '', username: '', display_name: '', password: '', lang: i18n.language, verified: true });
  const [picked, setPicked] = useState<string[]>(['user']);
  const m = useMutation({
    mutationFn: () =>
      aamApi(app).createUser({
        email: f.email.trim(),
        username: f.username.trim(),
        password: f.password,
        display_name: f.display_name.trim() || null,
        preferred_language: f.lang,
        roles: picked,
        email_verified: f.verified,
      }),
    onSuccess: (u) => {
      void qc.invalidateQueries({ queryKey: ['users'] });
      onCreated(u);
    },
  });
  const err = useFieldErrors(m.error);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    m.mutate();
  };
  return (
    <form onSubmit={submit}>
      <ErrorNote error={m.error} />
      <TextField label={t('aam.users.email')} name="email" type="email" autoComplete="off" required ltr value={f.email} onChange={(e) => setF({ ...f, email: e.target.value })} error={err('email')} />
      <TextField label={t('aam.users.username')} name="username" autoComplete="off" required ltr value={f.username} onChange={(e) => setF({ ...f, username: e.target.value })} error={err('username')} />
      <TextField label={t('aam.users.displayName')} name="display_name" autoComplete="off" value={f.display_name} onChange={(e) => setF({ ...f, display_name: e.target.value })} error={err('display_name')} />
      <PasswordField label={t('aam.users.password')} name="password" autoComplete="new-password" required minLength={8} value={f.password} onChange={(e) => setF({ ...f, password: e.target.value })} error={err('password')} />
      <SelectField label={t('aam.users.language')} value={f.lang} onChange={(e) => setF({ ...f, lang: e.target.value })}>
        {LANGS.map((l) => (
          <option key={l} value={l} lang={l}>
            {t(`common.languages.${l}`)}
          </option>
        ))}
      </SelectField>
      <CheckboxField label={t('aam.users.verified')} checked={f.verified} onChange={(e) => setF({ ...f, verified: e.target.checked })} />
      <fieldset>
        <legend>{t('aam.users.roles')}</legend>
        {(roles.data ?? []).map((r: Role) => (
          <CheckboxField
            key={r.id}
            label={r.name}
            checked={picked.includes(r.name)}
            onChange={(e) => setPicked((p) => (e.target.checked ? [...p, r.name] : p.filter((x) => x !== r.name)))}
          />
        ))}
      </fieldset>
      <Button busy={m.isPending}>{t('common.create')}</Button>
    </form>
  );
}

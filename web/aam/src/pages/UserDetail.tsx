/** One user: details and edit, roles, sessions, status history, deactivate (now or later), reactivate, reset link. */
import { useState, type FormEvent } from 'react';
import { Link, useParams } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
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
  SelectField,
  TextField,
  describeAgent,
  formatDateTime,
  useApis,
  useFieldErrors,
  TableWrap,
} from '@ovu/shared';
import { aamApi, type User } from '../api';
import { useTitle } from '../App';
import { isStatusEvent, localToIso } from '../logic';
import { roleDescription } from '../operatorText';
import { actionText } from '../auditText';
import { StatusBadge } from '../widgets';

export function UserDetail() {
  const { id = '' } = useParams();
  const { t, i18n } = useTranslation();
  const { app } = useApis();
  const api = aamApi(app);
  const user = useQuery({ queryKey: ['user', id], queryFn: () => api.user(id) });
  useTitle(user.data?.username ?? t('aam.users.details'));
  const lng = i18n.language;
  const u = user.data;
  return (
    <>
      <p>
        <Link to="/users">{t('common.back')}</Link>
      </p>
      {user.isPending ? <Loading /> : null}
      <ErrorNote error={user.error} onRetry={() => void user.refetch()} />
      {u ? (
        <>
          <h1>
            <bdi>{u.display_name || u.username}</bdi> <StatusBadge status={u.status} />
          </h1>
          <dl className="props">
            <dt>{t('aam.users.email')}</dt>
            <dd>
              <bdi>{u.email}</bdi>
            </dd>
            <dt>{t('aam.users.phone')}</dt>
            <dd data-testid="user-phone">
              {/* A number reads left to right inside Hebrew and Arabic text too. */}
              {u.phone ? <bdi dir="ltr">{u.phone}</bdi> : '—'}
            </dd>
          </dl>
          {u.scheduled_deactivation_at ? (
            <div data-testid="scheduled-deactivation">
              <Notice kind="warning">
                {t('aam.users.scheduledFor', { time: formatDateTime(lng, u.scheduled_deactivation_at), reason: u.scheduled_deactivation_reason ?? '' })}
              </Notice>
            </div>
          ) : null}
          {u.status === 'deactivated' && u.deactivated_at ? (
            <Notice kind="warning">{t('aam.users.deactivatedOn', { time: formatDateTime(lng, u.deactivated_at), reason: u.deactivation_reason ?? '' })}</Notice>
          ) : null}
          <StatusActions user={u} />
          <EditUser user={u} />
          <UserRoles user={u} />
          <UserSessions userId={u.id} />
          <StatusHistory userId={u.id} />
        </>
      ) : null}
    </>
  );
}

function StatusActions({ user }: { user: User }) {
  const { t, i18n } = useTranslation();
  const { app } = useApis();
  const api = aamApi(app);
  const qc = useQueryClient();
  const [open, setOpen] = useState(false);
  const [reason, setReason] = useState('');
  const [at, setAt] = useState('');
  const [done, setDone] = useState<string | null>(null);
  const refresh = (u: User) => {
    qc.setQueryData(['user', user.id], u);
    void qc.invalidateQueries({ queryKey: ['users'] });
    void qc.invalidateQueries({ queryKey: ['user-sessions', user.id] });
    void qc.invalidateQueries({ queryKey: ['user-history', user.id] });
  };
  const deactivate = useMutation({
    mutationFn: () => api.deactivate(user.id, reason.trim(), localToIso(at)),
    onSuccess: (u) => {
      refresh(u);
      setOpen(false);
      setDone(
        u.status === 'deactivated' ? t('aam.users.deactivated_ok') : t('aam.users.scheduled_ok', { time: formatDateTime(i18n.language, u.scheduled_deactivation_at) }),
      );
    },
  });
  const reactivate = useMutation({
    mutationFn: () => api.reactivate(user.id),
    onSuccess: (u) => {
      refresh(u);
      setDone(t('aam.users.reactivated'));
    },
  });
  const reset = useMutation({ mutationFn: () => api.sendReset(user.id), onSuccess: () => setDone(t('aam.users.resetSent')) });
  const err = useFieldErrors(deactivate.error);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    deactivate.mutate();
  };
  return (
    <section className="card">
      {done ? <Notice kind="success">{done}</Notice> : null}
      <ErrorNote error={reactivate.error ?? reset.error} />
      <div className="actions">
        {user.status === 'active' ? (
          <button type="button" className="button danger" onClick={() => setOpen(true)} data-testid="deactivate">
            {t('aam.users.deactivate')}
          </button>
        ) : null}
        {user.status === 'deactivated' || user.scheduled_deactivation_at ? (
          <button type="button" className="button secondary" disabled={reactivate.isPending} onClick={() => reactivate.mutate()} data-testid="reactivate">
            {/* For an active account with a date set, the same call cancels the schedule. */}
            {user.status === 'deactivated' ? t('aam.users.reactivate') : t('aam.users.cancelScheduled')}
          </button>
        ) : null}
        <button type="button" className="button secondary" disabled={reset.isPending} onClick={() => reset.mutate()}>
          {t('aam.users.sendReset')}
        </button>
      </div>
      <Dialog open={open} title={t('aam.users.deactivate')} onClose={() => setOpen(false)}>
        <form onSubmit={submit}>
          <ErrorNote error={deactivate.error} />
          <TextField label={t('aam.users.reason')} name="reason" required maxLength={500} value={reason} onChange={(e) => setReason(e.target.value)} error={err('reason')} />
          <TextField
            label={t('aam.users.deactivateAt')}
            name="at"
            type="datetime-local"
            hint={t('aam.users.deactivateAtHint')}
            value={at}
            onChange={(e) => setAt(e.target.value)}
            error={err('at')}
          />
          <Button variant="danger" busy={deactivate.isPending}>
            {at ? t('aam.users.deactivate') : t('aam.users.deactivateNow')}
          </Button>
        </form>
      </Dialog>
    </section>
  );
}

function EditUser({ user }: { user: User }) {
  const { t } = useTranslation();
  const { app } = useApis();
  const qc = useQueryClient();
  const [f, setF] = useState({
    email: user.email,
    username: user.username,
    display_name: user.display_name,
    phone: user.phone ?? '',
    lang: user.preferred_language,
    verified: user.email_verified,
  });
  const m = useMutation({
    mutationFn: () =>
      aamApi(app).updateUser(user.id, {
        email: f.email.trim() !== user.email ? f.email.trim() : null,
        username: f.username.trim() !== user.username ? f.username.trim() : null,
        display_name: f.display_name.trim(),
        phone: f.phone.trim(),
        preferred_language: f.lang,
        email_verified: f.verified,
      }),
    onSuccess: (u) => {
      qc.setQueryData(['user', user.id], u);
      setF((x) => ({ ...x, phone: u.phone ?? '' }));
      void qc.invalidateQueries({ queryKey: ['users'] });
    },
  });
  const err = useFieldErrors(m.error);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    m.mutate();
  };
  return (
    <section className="card" aria-labelledby="edit-user">
      <h2 id="edit-user" style={{ marginBlockStart: 0 }}>
        {t('aam.users.edit')}
      </h2>
      <form onSubmit={submit}>
        <ErrorNote error={m.error} />
        {m.isSuccess ? <Notice kind="success">{t('common.saved')}</Notice> : null}
        <TextField label={t('aam.users.email')} name="email" type="email" autoComplete="off" required ltr value={f.email} onChange={(e) => setF({ ...f, email: e.target.value })} error={err('email')} />
        <TextField label={t('aam.users.username')} name="username" autoComplete="off" required ltr value={f.username} onChange={(e) => setF({ ...f, username: e.target.value })} error={err('username')} />
        <TextField label={t('aam.users.displayName')} name="display_name" autoComplete="off" value={f.display_name} onChange={(e) => setF({ ...f, display_name: e.target.value })} error={err('display_name')} />
        <TextField
          label={t('aam.users.phone')}
          name="phone"
          type="tel"
          autoComplete="off"
          inputMode="tel"
          ltr
          hint={t('aam.users.phoneHint')}
          value={f.phone}
          onChange={(e) => setF({ ...f, phone: e.target.value })}
          error={err('phone')}
        />
        <SelectField label={t('aam.users.language')} value={f.lang} onChange={(e) => setF({ ...f, lang: e.target.value })}>
          {LANGS.map((l) => (
            <option key={l} value={l} lang={l}>
              {t(`common.languages.${l}`)}
            </option>
          ))}
        </SelectField>
        <CheckboxField label={t('aam.users.verified')} checked={f.verified} onChange={(e) => setF({ ...f, verified: e.target.checked })} />
        <Button busy={m.isPending}>{t('common.save')}</Button>
      </form>
    </section>
  );
}

function UserRoles({ user }: { user: User }) {
  const { t } = useTranslation();
  const { app } = useApis();
  const api = aamApi(app);
  const qc = useQueryClient();
  const roles = useQuery({ queryKey: ['roles'], queryFn: () => api.roles() });
  const m = useMutation({
    mutationFn: ({ roleId, on }: { roleId: string; on: boolean }) => (on ? api.addRole(user.id, roleId) : api.removeRole(user.id, roleId)),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ['user', user.id] });
      void qc.invalidateQueries({ queryKey: ['users'] });
    },
  });
  return (
    <section className="card" aria-labelledby="user-roles">
      <h2 id="user-roles" style={{ marginBlockStart: 0 }}>
        {t('aam.users.roles')}
      </h2>
      <ErrorNote error={roles.error ?? m.error} />
      {m.isSuccess ? <Notice kind="success">{t('aam.users.rolesSaved')}</Notice> : null}
      {roles.isPending ? <Loading /> : null}
      <fieldset disabled={m.isPending}>
        <legend className="visually-hidden">{t('aam.users.roles')}</legend>
        {(roles.data ?? []).map((r) => (
          <CheckboxField
            key={r.id}
            label={r.description ? `${r.name} — ${roleDescription(t, r)}` : r.name}
            name="role"
            value={r.name}
            checked={user.roles.includes(r.name)}
            onChange={(e) => m.mutate({ roleId: r.id, on: e.target.checked })}
          />
        ))}
      </fieldset>
    </section>
  );
}

function UserSessions({ userId }: { userId: string }) {
  const { t, i18n } = useTranslation();
  const { app } = useApis();
  const api = aamApi(app);
  const qc = useQueryClient();
  const q = useQuery({ queryKey: ['user-sessions', userId], queryFn: () => api.userSessions(userId) });
  const end = useMutation({
    mutationFn: () => api.endUserSessions(userId),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ['user-sessions', userId] }),
  });
  const lng = i18n.language;
  return (
    <section className="card" aria-labelledby="user-sessions">
      <h2 id="user-sessions" style={{ marginBlockStart: 0 }}>
        {t('aam.users.sessions')}
      </h2>
      <ErrorNote error={q.error ?? end.error} />
      {end.isSuccess ? <Notice kind="success">{t('aam.users.sessionsEnded')}</Notice> : null}
      {q.isPending ? <Loading /> : null}
      {q.data && q.data.length === 0 ? <Empty /> : null}
      {q.data && q.data.length > 0 ? (
        <>
          <TableWrap label={t('aam.users.sessions')}>
            <table>
              <thead>
                <tr>
                  <th scope="col">{t('aam.users.device')}</th>
                  <th scope="col">{t('aam.users.ip')}</th>
                  <th scope="col">{t('aam.users.created')}</th>
                  <th scope="col">{t('aam.users.lastUsed')}</th>
                </tr>
              </thead>
              <tbody>
                {q.data.map((s) => (
                  <tr key={s.id}>
                    <td>
                      <bdi title={s.user_agent || undefined}>{describeAgent(s.user_agent)}</bdi>
                    </td>
                    <td>
                      <bdi className="mono">{s.ip}</bdi>
                    </td>
                    <td>{formatDateTime(lng, s.created_at)}</td>
                    <td>{formatDateTime(lng, s.last_used_at)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
          <p>
            <button type="button" className="button danger" disabled={end.isPending} onClick={() => end.mutate()}>
              {t('aam.users.endSessions')}
            </button>
          </p>
        </>
      ) : null}
    </section>
  );
}

function StatusHistory({ userId }: { userId: string }) {
  const { t, i18n } = useTranslation();
  const { app } = useApis();
  // The feed's `actor` filter keeps only what the user did; a status change is done *to*
  // them by an admin. AAM has no filter on the subject yet, so the newest ULM user events
  // are read and narrowed here (an older change can fall outside the page).
  const q = useQuery({
    queryKey: ['user-history', userId],
    queryFn: () => aamApi(app).audit({ resource: 'user', source: 'ulm' }, null, 500),
  });
  const items = (q.data?.items ?? []).filter((e) => e.resource_id === userId && isStatusEvent(e.action));
  return (
    <section className="card" aria-labelledby="user-history">
      <h2 id="user-history" style={{ marginBlockStart: 0 }}>
        {t('aam.users.history')}
      </h2>
      <ErrorNote error={q.error} />
      {q.isPending ? <Loading /> : null}
      {q.data && items.length === 0 ? <Empty>{t('aam.users.noHistory')}</Empty> : null}
      {items.length > 0 ? (
        <ol className="stack">
          {items.map((e) => (
            <li key={e.id} data-action={e.action}>
              {actionText(t, e.action) ?? <bdi className="mono">{e.action}</bdi>} · {formatDateTime(i18n.language, e.occurred_at)}
              {e.details && typeof (e.details as Record<string, unknown>)['reason'] === 'string' ? (
                <>
                  {' '}
                  · <bdi>{String((e.details as Record<string, unknown>)['reason'])}</bdi>
                </>
              ) : null}
            </li>
          ))}
        </ol>
      ) : null}
    </section>
  );
}

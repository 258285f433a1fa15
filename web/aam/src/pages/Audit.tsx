/**
 * One audit feed of ULM and AAM events in words: who (name and e-mail), did what (the action
 * as a phrase), to whom or what, and the details as "key: value". Filters and the page live
 * in the address (`?action=…&cursor=…`), so a reload, a shared link or Back shows the same
 * events. CSV export takes the same filters.
 */
import { useState, type FormEvent, type ReactNode } from 'react';
import { Link, useLocation, useNavigate, useSearchParams } from 'react-router';
import { useMutation, useQuery } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { ApiError, Button, Empty, ErrorNote, Loading, Notice, SelectField, TextField, formatDateTime, saveBlob, useApis, TableWrap } from '@ovu/shared';
import { aamApi, type AamApi, type AuditFilters, type FeedItem, type User } from '../api';
import { useTitle } from '../App';
import { localToIso } from '../logic';
import { KNOWN_ACTIONS, RESOURCE_TYPES, actionText, detailKey, detailsOf, draftFromParams, isUuid, paramsFor, targetOf, userIdsOf, type Draft, type Field } from '../auditText';

const PAGE = 50;

/**
 * The actor filter takes an id, an e-mail or a username; AAM filters by id, so the other two
 * are looked up first (exactly one user must match).
 */
async function actorId(api: AamApi, actor: string): Promise<string | undefined> {
  const a = actor.trim();
  if (!a) return undefined;
  if (isUuid(a)) return a;
  const { items } = await api.users({ q: a, limit: 20, offset: 0 });
  const hit = items.filter((u) => u.email.toLowerCase() === a.toLowerCase() || u.username.toLowerCase() === a.toLowerCase());
  if (hit.length !== 1) throw new ApiError({ status: 422, code: 'validation_failed', message: 'no such user', details: { field: 'actor', reason: 'unknown_user' } });
  return hit[0]!.id;
}

function toFilters(d: Draft, actor: string | undefined): AuditFilters {
  return {
    actor,
    action: d.action || undefined,
    resource: d.resource || undefined,
    source: (d.source === 'ulm' || d.source === 'aam' ? d.source : undefined) as AuditFilters['source'],
    since: localToIso(d.since) ?? undefined,
    until: localToIso(d.until) ?? undefined,
  };
}

export function AuditPage() {
  const { t, i18n } = useTranslation();
  useTitle(t('aam.audit.title'));
  const { app } = useApis();
  const api = aamApi(app);
  const [params, setParams] = useSearchParams();
  const navigate = useNavigate();
  const location = useLocation();
  const applied = draftFromParams(params);
  const cursor = params.get('cursor');
  const [draft, setDraft] = useState<Draft>(applied);
  // The form follows the address when it changes under it (Back, a link).
  const [seen, setSeen] = useState(params.toString());
  if (seen !== params.toString()) {
    setSeen(params.toString());
    setDraft(applied);
  }
  const actor = useQuery({ queryKey: ['audit-actor', applied.actor], queryFn: () => actorId(api, applied.actor).then((id) => id ?? null) });
  const filters = actor.data !== undefined ? toFilters(applied, actor.data ?? undefined) : null;
  const feed = useQuery({
    queryKey: ['audit', filters, cursor],
    queryFn: () => api.audit(filters ?? {}, cursor, PAGE),
    enabled: filters !== null,
    placeholderData: (prev) => prev,
  });
  const items = feed.data?.items ?? [];
  const people = usePeople(api, userIdsOf(items));
  const csv = useMutation({
    mutationFn: async () => {
      const { blob, filename } = await api.auditCsv(filters ?? {});
      saveBlob(blob, filename ?? 'ovu-audit.csv');
    },
  });
  const set = (k: Field) => (e: { target: { value: string } }) => setDraft({ ...draft, [k]: e.target.value });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setParams(paramsFor(draft));
  };
  const next = feed.data?.next_cursor;
  // Back to the newer page: the browser's history when this page was reached by "Older".
  const cameFromNewer = (location.state as { auditPage?: boolean } | null)?.auditPage === true;
  const sources = feed.data?.sources;
  const lng = i18n.language;
  const actorError = actor.error instanceof ApiError && actor.error.code === 'validation_failed' ? t('aam.audit.noSuchUser') : undefined;
  const knownAction = (KNOWN_ACTIONS as readonly string[]).includes(draft.action);
  return (
    <>
      <h1>{t('aam.audit.title')}</h1>
      <form onSubmit={submit} className="card" aria-label={t('aam.audit.filter')} data-testid="audit-filters">
        <div className="row">
          <TextField label={t('aam.audit.actor')} name="actor" ltr value={draft.actor} onChange={set('actor')} error={actorError} />
          <SelectField label={t('aam.audit.action')} name="action" value={draft.action} onChange={set('action')}>
            <option value="">{t('aam.audit.any')}</option>
            {KNOWN_ACTIONS.map((a) => (
              <option key={a} value={a}>
                {actionText(t, a)}
              </option>
            ))}
            {draft.action && !knownAction ? <option value={draft.action}>{draft.action}</option> : null}
          </SelectField>
          <SelectField label={t('aam.audit.resource')} name="resource" value={draft.resource} onChange={set('resource')}>
            <option value="">{t('aam.audit.any')}</option>
            {RESOURCE_TYPES.map((r) => (
              <option key={r} value={r}>
                {t(`aam.audit.resources.${r}`)}
              </option>
            ))}
          </SelectField>
          <SelectField label={t('aam.audit.source')} name="source" value={draft.source} onChange={set('source')}>
            <option value="">{t('aam.audit.any')}</option>
            <option value="ulm">ULM</option>
            <option value="aam">AAM</option>
          </SelectField>
          <TextField label={t('aam.audit.since')} name="since" type="datetime-local" value={draft.since} onChange={set('since')} />
          <TextField label={t('aam.audit.until')} name="until" type="datetime-local" value={draft.until} onChange={set('until')} />
        </div>
        <div className="actions">
          <Button>{t('aam.audit.filter')}</Button>
          <button type="button" className="button secondary" onClick={() => setParams(new URLSearchParams())}>
            {t('aam.audit.clear')}
          </button>
          <button type="button" className="button secondary" disabled={csv.isPending || filters === null} onClick={() => csv.mutate()} data-testid="export-csv">
            {t('aam.audit.export')}
          </button>
        </div>
        <ErrorNote error={csv.error} />
      </form>
      {sources
        ? (['ulm', 'aam'] as const)
            .filter((s) => sources[s] === 'unavailable' || sources[s] === 'forbidden')
            .map((s) => (
              <Notice key={s} kind="warning">
                {t('aam.audit.sourceUnavailable', { source: s.toUpperCase(), status: t(s === 'ulm' && sources[s] === 'forbidden' ? 'errors.forbidden' : 'errors.upstream_unavailable') })}
              </Notice>
            ))
        : null}
      <ErrorNote error={actorError ? null : (actor.error ?? feed.error)} onRetry={() => void feed.refetch()} />
      {feed.isPending && filters !== null ? <Loading /> : null}
      {feed.data && items.length === 0 ? <Empty /> : null}
      {items.length > 0 ? (
        <TableWrap label={t('aam.audit.title')}>
          <table aria-busy={feed.isFetching || undefined} data-testid="audit-table">
            <caption className="visually-hidden">{t('aam.audit.title')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('aam.audit.when')}</th>
                <th scope="col">{t('aam.audit.who')}</th>
                <th scope="col">{t('aam.audit.what')}</th>
                <th scope="col">{t('aam.audit.target')}</th>
                <th scope="col">{t('aam.audit.change')}</th>
                <th scope="col">{t('aam.audit.from')}</th>
              </tr>
            </thead>
            <tbody>
              {items.map((e) => (
                <tr key={e.id} data-action={e.action}>
                  <td>{formatDateTime(lng, e.occurred_at)}</td>
                  <td data-col="who">
                    {e.actor_id ? (
                      <Person id={e.actor_id} name={e.actor_name ?? undefined} user={people.get(e.actor_id)} />
                    ) : e.actor_name ? (
                      <Person id={null} name={e.actor_name} />
                    ) : (
                      <span className="hint">{t('aam.audit.noActor')}</span>
                    )}
                  </td>
                  <td data-col="what">
                    <Action action={e.action} />
                  </td>
                  <td data-col="target">
                    <TargetCell e={e} people={people} />
                  </td>
                  <td data-col="details">
                    <Details e={e} />
                  </td>
                  <td>
                    {e.source.toUpperCase()}
                    {e.ip ? (
                      <div className="hint">
                        <bdi className="mono">{e.ip}</bdi>
                      </div>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      ) : null}
      {cursor || next ? (
        <nav className="pager" aria-label={t('aam.audit.pages')}>
          <button
            type="button"
            className="button secondary"
            disabled={!cursor}
            data-testid="audit-newer"
            onClick={() => (cameFromNewer ? void navigate(-1) : setParams(paramsFor(applied)))}
          >
            {cameFromNewer ? t('aam.audit.newer') : t('aam.audit.newest')}
          </button>
          <button
            type="button"
            className="button secondary"
            disabled={!next || feed.isFetching}
            data-testid="audit-older"
            onClick={() => next && setParams(paramsFor(applied, next), { state: { auditPage: true } })}
          >
            {t('aam.audit.older')}
          </button>
        </nav>
      ) : null}
    </>
  );
}

/**
 * The people a page names, looked up together (one query: `useQueries` would cost the
 * bundle more than it saves); a person who cannot be found (deleted) is null.
 */
function usePeople(api: AamApi, ids: string[]): Map<string, User | null> {
  const q = useQuery({
    queryKey: ['audit-people', ids],
    queryFn: async () => new Map(await Promise.all(ids.map(async (id) => [id, await api.user(id).catch(() => null)] as const))),
    staleTime: 60_000,
    enabled: ids.length > 0,
    placeholderData: (prev) => prev,
  });
  return q.data ?? new Map();
}

/** A person: their name linked to their page, and their e-mail; a short id when unknown (deleted). */
function Person({ id, name, user }: { id: string | null; name?: string; user?: User | null | undefined }) {
  const label = user ? user.display_name || user.username : name;
  const text = label ? <bdi>{label}</bdi> : id ? <bdi className="mono" title={id}>{`${id.slice(0, 8)}…`}</bdi> : '—';
  return (
    <>
      {id && user !== null ? <Link to={`/users/${id}`}>{text}</Link> : text}
      {user?.email ? (
        <div className="hint">
          <bdi>{user.email}</bdi>
        </div>
      ) : null}
    </>
  );
}

function Action({ action }: { action: string }) {
  const { t } = useTranslation();
  const text = actionText(t, action);
  return text ? <span title={action}>{text}</span> : <bdi className="mono">{action}</bdi>;
}

function TargetCell({ e, people }: { e: FeedItem; people: Map<string, User | null> }) {
  const { t } = useTranslation();
  const target = targetOf(e);
  if (!target) return null;
  let body: ReactNode;
  switch (target.kind) {
    case 'user':
      // Something a person did to their own account names them once, under "Who".
      if (target.id === e.actor_id) return null;
      body = <Person id={target.id} user={people.get(target.id)} />;
      break;
    case 'app':
      body = (
        <>
          {t('aam.audit.resources.app')}:{' '}
          {e.action === 'app.delete' ? <bdi>{target.name ?? target.id}</bdi> : <Link to={`/apps/${target.id}`}><bdi>{target.name ?? target.id}</bdi></Link>}
        </>
      );
      break;
    case 'setting':
      body = (
        <>
          {t('aam.audit.resources.setting')}:{' '}
          <bdi>{t(`aam.settings.keys.${target.category}.${target.key}`, { defaultValue: `${target.category}.${target.key}` })}</bdi>
        </>
      );
      break;
    default:
      body = (
        <>
          {t(`aam.audit.resources.${target.type}`, { defaultValue: target.type })}
          {target.id ? (
            <>
              {' '}
              <bdi className="mono">{target.id}</bdi>
            </>
          ) : null}
        </>
      );
  }
  return <>{body}</>;
}

/** Details as "key: value" (a change as "key: old → new"); nothing when there are none. */
function Details({ e }: { e: FeedItem }) {
  const { t } = useTranslation();
  const rows = detailsOf(e);
  if (rows.length === 0) return null;
  return (
    <dl className="details">
      {rows.map((r) => (
        <div key={r.key}>
          <dt>{detailKey(t, r.key)}</dt>
          <dd>
            {r.from !== undefined ? (
              <>
                <bdi>{r.from}</bdi> <span aria-hidden="true">{t('aam.audit.arrow')}</span>
                <span className="visually-hidden">{` ${t('aam.audit.changedTo')}`}</span> <bdi>{r.value}</bdi>
              </>
            ) : isUuid(r.value) ? (
              // A session's or a key's id: its start tells two apart; the whole id is in the CSV.
              <bdi className="mono" title={r.value}>{`${r.value.slice(0, 8)}…`}</bdi>
            ) : (
              <bdi>{r.value}</bdi>
            )}
          </dd>
        </div>
      ))}
    </dl>
  );
}

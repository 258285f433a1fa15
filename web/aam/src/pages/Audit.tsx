/** One audit feed of ULM and AAM events: filters, cursor paging, CSV export of the same filters. */
import { useState, type FormEvent } from 'react';
import { useInfiniteQuery, useMutation } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { Button, Empty, ErrorNote, Loading, Notice, SelectField, TextField, formatDateTime, saveBlob, useApis, TableWrap } from '@ovu/shared';
import { aamApi, type AuditFilters } from '../api';
import { useTitle } from '../App';
import { localToIso, shortJson } from '../logic';

const EMPTY = { actor: '', action: '', resource: '', source: '' as '' | 'ulm' | 'aam', since: '', until: '' };

/** Form state → API filters (local times become instants). */
function toFilters(f: typeof EMPTY): AuditFilters {
  return {
    actor: f.actor.trim() || undefined,
    action: f.action.trim() || undefined,
    resource: f.resource.trim() || undefined,
    source: f.source || undefined,
    since: localToIso(f.since) ?? undefined,
    until: localToIso(f.until) ?? undefined,
  };
}

export function AuditPage() {
  const { t, i18n } = useTranslation();
  useTitle(t('aam.audit.title'));
  const { app } = useApis();
  const api = aamApi(app);
  const [draft, setDraft] = useState(EMPTY);
  const [filters, setFilters] = useState<AuditFilters>({});
  const feed = useInfiniteQuery({
    queryKey: ['audit', filters],
    queryFn: ({ pageParam }) => api.audit(filters, pageParam),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor ?? null,
  });
  const csv = useMutation({
    mutationFn: async () => {
      const { blob, filename } = await api.auditCsv(filters);
      saveBlob(blob, filename ?? 'ovu-audit.csv');
    },
  });
  const set = (k: keyof typeof EMPTY) => (e: { target: { value: string } }) => setDraft({ ...draft, [k]: e.target.value });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setFilters(toFilters(draft));
  };
  const items = feed.data?.pages.flatMap((p) => p.items) ?? [];
  const sources = feed.data?.pages[0]?.sources;
  const lng = i18n.language;
  return (
    <>
      <h1>{t('aam.audit.title')}</h1>
      <form onSubmit={submit} className="card" aria-label={t('aam.audit.filter')}>
        <div className="row">
          <TextField label={t('aam.audit.actor')} name="actor" ltr value={draft.actor} onChange={set('actor')} />
          <TextField label={t('aam.audit.action')} name="action" ltr value={draft.action} onChange={set('action')} />
          <TextField label={t('aam.audit.resource')} name="resource" ltr value={draft.resource} onChange={set('resource')} />
          <SelectField label={t('aam.audit.source')} value={draft.source} onChange={set('source')}>
            <option value="">{t('aam.audit.any')}</option>
            <option value="ulm">ULM</option>
            <option value="aam">AAM</option>
          </SelectField>
          <TextField label={t('aam.audit.since')} name="since" type="datetime-local" value={draft.since} onChange={set('since')} />
          <TextField label={t('aam.audit.until')} name="until" type="datetime-local" value={draft.until} onChange={set('until')} />
        </div>
        <div className="actions">
          <Button>{t('aam.audit.filter')}</Button>
          <button
            type="button"
            className="button secondary"
            onClick={() => {
              setDraft(EMPTY);
              setFilters({});
            }}
          >
            {t('aam.audit.clear')}
          </button>
          <button type="button" className="button secondary" disabled={csv.isPending} onClick={() => csv.mutate()} data-testid="export-csv">
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
      <ErrorNote error={feed.error} onRetry={() => void feed.refetch()} />
      {feed.isPending ? <Loading /> : null}
      {feed.data && items.length === 0 ? <Empty /> : null}
      {items.length > 0 ? (
        <TableWrap label={t('aam.audit.title')}>
          <table aria-busy={feed.isFetching || undefined}>
            <caption className="visually-hidden">{t('aam.audit.title')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('aam.audit.when')}</th>
                <th scope="col">{t('aam.audit.source')}</th>
                <th scope="col">{t('aam.audit.who')}</th>
                <th scope="col">{t('aam.audit.what')}</th>
                <th scope="col">{t('aam.audit.target')}</th>
                <th scope="col">{t('aam.audit.change')}</th>
                <th scope="col">{t('aam.audit.ip')}</th>
              </tr>
            </thead>
            <tbody>
              {items.map((e) => (
                <tr key={e.id}>
                  <td>{formatDateTime(lng, e.occurred_at)}</td>
                  <td>{e.source.toUpperCase()}</td>
                  <td>
                    <bdi className="mono">{e.actor_name || e.actor_id || '—'}</bdi>
                  </td>
                  <td className="mono">{e.action}</td>
                  <td>
                    <bdi className="mono">
                      {e.resource_type}
                      {e.resource_id ? `:${e.resource_id}` : ''}
                    </bdi>
                  </td>
                  <td className="mono" dir="ltr">
                    {e.old_value !== undefined && e.old_value !== null ? `${shortJson(e.old_value, 40)} → ` : ''}
                    {e.new_value !== undefined && e.new_value !== null ? shortJson(e.new_value, 40) : e.details ? shortJson(e.details, 60) : ''}
                  </td>
                  <td>
                    <bdi className="mono">{e.ip || '—'}</bdi>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      ) : null}
      {feed.hasNextPage ? (
        <p>
          <button type="button" className="button secondary" disabled={feed.isFetchingNextPage} onClick={() => void feed.fetchNextPage()}>
            {t('aam.audit.more')}
          </button>
        </p>
      ) : null}
    </>
  );
}

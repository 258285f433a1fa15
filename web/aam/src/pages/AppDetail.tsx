/** One application: its registry entry, what it depends on and what uses it. */
import { useState, type FormEvent } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { Button, Dialog, Empty, ErrorNote, Loading, SelectField, TextField, formatDateTime, useApis, TableWrap } from '@ovu/shared';
import { CRITICALITIES, DEP_TYPES, aamApi, type App, type Criticality, type Dependency, type DependencyType } from '../api';
import { useTitle } from '../App';
import { AppForm } from './AppForm';
import { StatusBadge } from '../widgets';

export function AppDetail() {
  const { id = '' } = useParams();
  const { t, i18n } = useTranslation();
  const { app } = useApis();
  const api = aamApi(app);
  const navigate = useNavigate();
  const qc = useQueryClient();
  const q = useQuery({ queryKey: ['app', id], queryFn: () => api.app(id) });
  const [editing, setEditing] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const del = useMutation({
    mutationFn: () => api.deleteApp(id),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: ['apps'] });
      void navigate('/apps');
    },
  });
  useTitle(q.data?.display_name ?? t('aam.apps.title'));
  const a = q.data;
  const lng = i18n.language;
  return (
    <>
      <p>
        <Link to="/apps">{t('common.back')}</Link>
      </p>
      {q.isPending ? <Loading /> : null}
      <ErrorNote error={q.error ?? del.error} onRetry={() => void q.refetch()} />
      {a ? (
        <>
          <h1>
            <bdi>{a.display_name || a.name}</bdi> <StatusBadge status={a.status} />
          </h1>
          <section className="card">
            <p>{a.description}</p>
            <dl className="props">
              <dt>{t('aam.apps.code')}</dt>
              <dd className="mono">{a.code}</dd>
              <dt>{t('aam.apps.type')}</dt>
              <dd>{t(`aam.apps.types.${a.type}`)}</dd>
              <dt>{t('aam.apps.status')}</dt>
              <dd>{t(`aam.apps.statuses.${a.status}`)}</dd>
              <dt>{t('aam.apps.category')}</dt>
              <dd>{a.category || '—'}</dd>
              <dt>{t('aam.apps.owner')}</dt>
              <dd>
                <bdi>{a.owner || '—'}</bdi>
              </dd>
              <dt>{t('aam.apps.version')}</dt>
              <dd>
                <bdi>{a.version || '—'}</bdi>
              </dd>
              {(
                [
                  ['frontendUrl', a.frontend_url],
                  ['backendUrl', a.backend_url],
                  ['docsUrl', a.docs_url],
                ] as const
              ).map(([k, v]) => (
                <div key={k} style={{ display: 'contents' }}>
                  <dt>{t(`aam.apps.${k}`)}</dt>
                  <dd>{v ? <a href={v} dir="ltr">{v}</a> : '—'}</dd>
                </div>
              ))}
              <dt>{t('aam.apps.techStack')}</dt>
              <dd>
                <bdi>{a.tech_stack.join(', ') || '—'}</bdi>
              </dd>
              <dt>{t('aam.apps.tags')}</dt>
              <dd>{a.tags.map((tag) => <span key={tag} className="badge">{tag}</span>)}</dd>
              <dt>{t('aam.settings.when')}</dt>
              <dd>{formatDateTime(lng, a.updated_at)}</dd>
            </dl>
            <div className="actions">
              <button type="button" className="button secondary" onClick={() => setEditing(true)}>
                {t('common.edit')}
              </button>
              <button type="button" className="button danger" onClick={() => setDeleting(true)}>
                {t('common.delete')}
              </button>
            </div>
          </section>
          <Dependencies app={a} />
          <Dialog open={editing} title={t('aam.apps.edit')} onClose={() => setEditing(false)}>
            <AppForm app={a} onSaved={() => setEditing(false)} />
          </Dialog>
          <Dialog open={deleting} title={t('common.delete')} onClose={() => setDeleting(false)}>
            <p>{t('aam.apps.deleteConfirm', { name: a.display_name })}</p>
            <div className="actions">
              <button type="button" className="button danger" disabled={del.isPending} onClick={() => del.mutate()}>
                {t('common.delete')}
              </button>
              <button type="button" className="button secondary" onClick={() => setDeleting(false)}>
                {t('common.cancel')}
              </button>
            </div>
          </Dialog>
        </>
      ) : null}
    </>
  );
}

function Dependencies({ app: a }: { app: App }) {
  const { t } = useTranslation();
  const { app } = useApis();
  const api = aamApi(app);
  const qc = useQueryClient();
  const deps = useQuery({ queryKey: ['deps', a.id], queryFn: () => api.dependencies(a.id) });
  const all = useQuery({ queryKey: ['apps', 'all'], queryFn: () => api.apps({ limit: 500 }) });
  const [provider, setProvider] = useState('');
  const [type, setType] = useState<DependencyType>('runtime');
  const [crit, setCrit] = useState<Criticality>('medium');
  const [description, setDescription] = useState('');
  const refresh = () => void qc.invalidateQueries({ queryKey: ['deps'] });
  const add = useMutation({
    mutationFn: () => api.addDependency(a.id, { provider_id: provider, dependency_type: type, criticality: crit, description }),
    onSuccess: () => {
      setProvider('');
      setDescription('');
      refresh();
    },
  });
  const remove = useMutation({ mutationFn: (id: string) => api.removeDependency(id), onSuccess: refresh });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (provider) add.mutate();
  };
  const table = (rows: Dependency[], other: (d: Dependency) => [string, string]) =>
    rows.length === 0 ? (
      <Empty>{t('aam.apps.noDeps')}</Empty>
    ) : (
      <TableWrap label={t('aam.apps.dependsOn')}>
        <table>
          <thead>
            <tr>
              <th scope="col">{t('aam.apps.provider')}</th>
              <th scope="col">{t('aam.apps.dependencyType')}</th>
              <th scope="col">{t('aam.apps.criticality')}</th>
              <th scope="col">{t('aam.apps.description')}</th>
              <th scope="col">{t('common.actions')}</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((d) => {
              const [oid, code] = other(d);
              return (
                <tr key={d.id}>
                  <td>
                    <Link to={`/apps/${oid}`} className="mono">
                      {code}
                    </Link>
                  </td>
                  <td>{t(`aam.apps.depTypes.${d.dependency_type}`)}</td>
                  <td>{t(`aam.apps.criticalities.${d.criticality}`)}</td>
                  <td>{d.description}</td>
                  <td>
                    <button type="button" className="button secondary" disabled={remove.isPending} onClick={() => remove.mutate(d.id)}>
                      {t('aam.apps.remove')}
                    </button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </TableWrap>
    );
  return (
    <section className="card" aria-labelledby="deps">
      <h2 id="deps" style={{ marginBlockStart: 0 }}>
        {t('aam.apps.dependsOn')}
      </h2>
      <ErrorNote error={deps.error ?? remove.error} />
      {deps.isPending ? <Loading /> : null}
      {deps.data ? table(deps.data.depends_on, (d) => [d.provider_id, d.provider_code]) : null}
      <h3>{t('aam.apps.addDependency')}</h3>
      <form onSubmit={submit} className="row">
        <SelectField label={t('aam.apps.provider')} required value={provider} onChange={(e) => setProvider(e.target.value)}>
          <option value="">—</option>
          {(all.data?.items ?? [])
            .filter((x) => x.id !== a.id)
            .map((x) => (
              <option key={x.id} value={x.id}>
                {x.code}
              </option>
            ))}
        </SelectField>
        <SelectField label={t('aam.apps.dependencyType')} value={type} onChange={(e) => setType(e.target.value as DependencyType)}>
          {DEP_TYPES.map((d) => (
            <option key={d} value={d}>
              {t(`aam.apps.depTypes.${d}`)}
            </option>
          ))}
        </SelectField>
        <SelectField label={t('aam.apps.criticality')} value={crit} onChange={(e) => setCrit(e.target.value as Criticality)}>
          {CRITICALITIES.map((c) => (
            <option key={c} value={c}>
              {t(`aam.apps.criticalities.${c}`)}
            </option>
          ))}
        </SelectField>
        <TextField label={t('aam.apps.description')} value={description} onChange={(e) => setDescription(e.target.value)} />
        <div className="field">
          <Button busy={add.isPending}>{t('aam.apps.addDependency')}</Button>
        </div>
      </form>
      <ErrorNote error={add.error} />
      <h2>{t('aam.apps.usedBy')}</h2>
      {deps.data ? table(deps.data.used_by, (d) => [d.consumer_id, d.consumer_code]) : null}
    </section>
  );
}

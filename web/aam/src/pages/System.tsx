/** System health: services, database and cache now and over 24 h; the OvuSystem's status in a cluster. */
import { useQuery } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { ErrorNote, Loading, Notice, formatDateTime, formatNumber, formatPercent, formatRelative, useApis, TableWrap } from '@ovu/shared';
import { aamApi, type ClusterStatus } from '../api';
import { useTitle } from '../App';
import { StatusBadge, componentName } from '../widgets';
import { conditionReason, conditionType, operatorMessage } from '../operatorText';

export function SystemPage() {
  const { t, i18n } = useTranslation();
  useTitle(t('aam.system.title'));
  const { app } = useApis();
  const q = useQuery({ queryKey: ['system'], queryFn: () => aamApi(app).systemHealth(), refetchInterval: 30_000 });
  const h = q.data;
  const lng = i18n.language;
  const ms = (v: number | null | undefined) => (v === null || v === undefined ? '—' : t('aam.system.ms', { value: formatNumber(lng, Math.round(v * 10) / 10) }));
  return (
    <>
      <h1>{t('aam.system.title')}</h1>
      {q.isPending ? <Loading /> : null}
      <ErrorNote error={q.error} onRetry={() => void q.refetch()} />
      {h ? (
        <>
          <p>
            {t('aam.system.overall')}: <StatusBadge status={h.status} /> <span className="hint">{formatDateTime(lng, h.checked_at)}</span>
          </p>
          <TableWrap label={t('aam.system.title')}>
            <table>
              <caption className="visually-hidden">{t('aam.system.title')}</caption>
              <thead>
                <tr>
                  <th scope="col">{t('aam.system.component')}</th>
                  <th scope="col">{t('aam.users.status')}</th>
                  <th scope="col">{t('aam.system.latency')}</th>
                  <th scope="col">{t('aam.system.checked')}</th>
                  <th scope="col">{t('aam.system.message')}</th>
                </tr>
              </thead>
              <tbody>
                {h.components.map((c) => (
                  <tr key={c.component} data-component={c.component}>
                    <th scope="row">{componentName(t, c.component)}</th>
                    <td>
                      <StatusBadge status={c.status} />
                    </td>
                    <td>{ms(c.latency_ms)}</td>
                    <td>{formatDateTime(lng, c.checked_at)}</td>
                    <td>
                      <bdi>{c.message || '—'}</bdi>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
          <h2>{t('aam.system.uptime')}</h2>
          <TableWrap label={t('aam.system.uptime')}>
            <table>
              <thead>
                <tr>
                  <th scope="col">{t('aam.system.component')}</th>
                  <th scope="col">{t('aam.system.healthyShare')}</th>
                  <th scope="col">{t('aam.system.samples')}</th>
                  <th scope="col">{t('aam.system.avgLatency')}</th>
                </tr>
              </thead>
              <tbody>
                {h.last_24h.map((u) => (
                  <tr key={u.component}>
                    <th scope="row">{componentName(t, u.component)}</th>
                    <td>{u.healthy_ratio === null || u.healthy_ratio === undefined ? '—' : formatPercent(lng, u.healthy_ratio)}</td>
                    <td>{formatNumber(lng, u.samples)}</td>
                    <td>{ms(u.avg_latency_ms)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
          <h2>{t('aam.system.cluster')}</h2>
          {h.cluster ? <Cluster c={h.cluster} /> : <Notice>{t('aam.system.noCluster')}</Notice>}
        </>
      ) : null}
    </>
  );
}

function field(o: unknown, k: string): string | undefined {
  const v = (o as Record<string, unknown> | null | undefined)?.[k];
  return typeof v === 'string' ? v : undefined;
}

function Cluster({ c }: { c: ClusterStatus }) {
  const { t, i18n } = useTranslation();
  const lng = i18n.language;
  if (c.error) return <Notice kind="warning">{t('aam.system.clusterError', { error: c.error })}</Notice>;
  const notAfter = field(c.certificate, 'notAfter');
  return (
    <section className="card" data-testid="cluster">
      <dl className="props">
        <dt>{t('aam.system.resource')}</dt>
        <dd>
          <bdi className="mono">
            {c.namespace}/{c.name}
          </bdi>
        </dd>
        <dt>{t('aam.system.phase')}</dt>
        <dd>
          {c.phase ? <StatusBadge status={c.phase} /> : '—'} {c.message ? <bdi>{operatorMessage(t, c.message)}</bdi> : null}
        </dd>
        <dt>{t('aam.system.lastBackup')}</dt>
        <dd>{formatDateTime(lng, field(c.backup, 'lastSuccessTime'))}</dd>
        <dt>{t('aam.system.lastVerified')}</dt>
        <dd>{formatDateTime(lng, field(c.backup, 'lastVerifiedTime'))}</dd>
        <dt>{t('aam.system.lastSchedule')}</dt>
        <dd>{formatDateTime(lng, field(c.backup, 'lastScheduleTime'))}</dd>
        <dt>{t('aam.system.certExpires')}</dt>
        <dd data-testid="cert-expires">{notAfter ? `${formatDateTime(lng, notAfter)} (${formatRelative(lng, notAfter)})` : '—'}</dd>
      </dl>
      <h3>{t('aam.system.conditions')}</h3>
      <ul className="conditions">
        {c.conditions.map((cond, i) => {
          const type = field(cond, 'type') ?? '';
          const status = field(cond, 'status') ?? '';
          const reason = field(cond, 'reason');
          const message = field(cond, 'message');
          return (
            // Each server-given part in its own isolate: an English reason or a name inside a
            // Hebrew sentence keeps its place.
            <li key={i} data-type={type}>
              <bdi className="cond-type">{conditionType(t, type)}</bdi>{' '}
              <span className={`badge ${status === 'True' ? 'ok' : status === 'False' ? 'bad' : 'warn'}`}>
                {t(`aam.operator.conditionStatus.${status === 'True' || status === 'False' ? status : 'Unknown'}`)}
              </span>
              {reason ? (
                <>
                  {' '}
                  <bdi className="cond-reason">{conditionReason(t, reason)}</bdi>
                </>
              ) : null}
              {message ? (
                <div className="hint">
                  <bdi className="cond-message">{operatorMessage(t, message)}</bdi>
                </div>
              ) : null}
            </li>
          );
        })}
      </ul>
    </section>
  );
}

/** Dashboard: user and sign-in figures, the 30-day series as a chart, and service health. */
import { useQuery } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { ErrorNote, Loading, Notice, formatDateTime, formatNumber, useApis } from '@ovu/shared';
import { aamApi } from '../api';
import { useTitle } from '../App';
import { LineChart } from '../chart';
import { Stat, StatusBadge, componentName } from '../widgets';

export function DashboardPage() {
  const { t, i18n } = useTranslation();
  useTitle(t('aam.dashboard.title'));
  const { app } = useApis();
  const q = useQuery({ queryKey: ['dashboard'], queryFn: () => aamApi(app).dashboard(), refetchInterval: 60_000 });
  const d = q.data;
  const lng = i18n.language;
  const capped = (v: number | null | undefined) =>
    d?.logins_capped && v !== null && v !== undefined ? t('aam.dashboard.atLeast', { value: formatNumber(lng, v) }) : undefined;
  return (
    <>
      <h1>{t('aam.dashboard.title')}</h1>
      {q.isPending ? <Loading /> : null}
      <ErrorNote error={q.error} onRetry={() => void q.refetch()} />
      {d ? (
        <div className="stack">
          {!d.ulm_available ? <Notice kind="warning">{t('aam.dashboard.ulmDown')}</Notice> : null}
          <section aria-labelledby="dash-figures">
            <h2 id="dash-figures" className="visually-hidden">
              {t('aam.dashboard.title')}
            </h2>
            <div className="grid-cards">
              <Stat label={t('aam.dashboard.users')} value={d.users?.total} />
              <Stat label={t('aam.dashboard.active')} value={d.users?.active} />
              <Stat label={t('aam.dashboard.deactivated')} value={d.users?.deactivated} />
              <Stat label={t('aam.dashboard.mfa')} value={d.users?.mfa_enabled} />
              <Stat label={t('aam.dashboard.logins24h')} value={d.logins_24h} note={capped(d.logins_24h)} />
              <Stat label={t('aam.dashboard.failed24h')} value={d.failed_logins_24h} note={capped(d.failed_logins_24h)} />
              <Stat label={t('aam.dashboard.sessions')} value={d.active_sessions} />
              <Stat label={t('aam.dashboard.apiKeys')} value={d.api_keys} />
              <Stat label={t('aam.dashboard.apps')} value={d.apps.total} />
            </div>
          </section>
          {d.daily.length > 0 ? (
            <LineChart
              title={t('aam.dashboard.series')}
              labels={d.daily.map((p) => p.date)}
              series={[
                { key: 'signups', values: d.daily.map((p) => p.signups) },
                { key: 'logins', values: d.daily.map((p) => p.logins) },
                { key: 'failures', values: d.daily.map((p) => p.failures) },
              ]}
              names={{ signups: t('aam.dashboard.signups'), logins: t('aam.dashboard.logins'), failures: t('aam.dashboard.failures') }}
            />
          ) : null}
          <section className="card" aria-labelledby="dash-services">
            <h2 id="dash-services" style={{ marginBlockStart: 0 }}>
              {t('aam.dashboard.services')}
            </h2>
            <ul className="legend">
              {d.services.map((s) => (
                // Each part isolated: a Latin name and a Latin latency beside a Hebrew badge
                // would otherwise join one left-to-right run and swap places in RTL.
                <li key={s.component} data-component={s.component}>
                  <bdi className="name">{componentName(t, s.component)}</bdi> <StatusBadge status={s.status} />{' '}
                  <bdi className="latency">{t('aam.system.ms', { value: formatNumber(lng, Math.round(s.latency_ms)) })}</bdi>
                </li>
              ))}
            </ul>
          </section>
          <p className="hint">{t('aam.dashboard.generated', { time: formatDateTime(lng, d.generated_at) })}</p>
        </div>
      ) : null}
    </>
  );
}

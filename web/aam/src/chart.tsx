/**
 * A small hand-drawn SVG line chart (no chart library: the bundle budget is 150 KB gzip).
 * Time runs left to right in every language, as it does on most RTL dashboards; the legend
 * and labels follow the page direction. A table of the same numbers is one click away.
 */
import { useTranslation } from 'react-i18next';
import { formatDay, formatNumber, TableWrap } from '@ovu/shared';
import { chartPaths, niceMax, type Series } from './logic';

const W = 640;
const H = 200;
const PAD = { top: 10, right: 12, bottom: 24, left: 40 };

export function LineChart({ labels, series, names, title }: { labels: string[]; series: Series[]; names: Record<string, string>; title: string }) {
  const { t, i18n } = useTranslation();
  const lng = i18n.language;
  const pw = W - PAD.left - PAD.right;
  const ph = H - PAD.top - PAD.bottom;
  const top = niceMax(Math.max(0, ...series.flatMap((s) => s.values)));
  const paths = chartPaths(series, pw, ph);
  const colour = (i: number) => `var(--chart-${(i % 3) + 1})`;
  const ticks = [0, top / 2, top];
  const step = Math.max(1, Math.ceil(labels.length / 6));
  return (
    <figure className="card">
      <figcaption>
        <h2 style={{ marginBlockStart: 0 }}>{title}</h2>
      </figcaption>
      <svg className="chart" viewBox={`0 0 ${W} ${H}`} role="img" aria-label={t('aam.dashboard.chartLabel')} direction="ltr">
        <g transform={`translate(${PAD.left},${PAD.top})`}>
          {ticks.map((v) => (
            <g key={v}>
              <line className="axis" x1={0} x2={pw} y1={ph - (v / top) * ph} y2={ph - (v / top) * ph} />
              <text x={-6} y={ph - (v / top) * ph + 4} textAnchor="end">
                {formatNumber(lng, v)}
              </text>
            </g>
          ))}
          {labels.map((l, i) =>
            i % step === 0 ? (
              <text key={l} x={labels.length <= 1 ? pw / 2 : (i * pw) / (labels.length - 1)} y={ph + 16} textAnchor="middle">
                {formatDay(lng, l)}
              </text>
            ) : null,
          )}
          {paths.map((p, i) => (
            <polyline key={p.key} points={p.points} fill="none" stroke={colour(i)} strokeWidth={2} strokeDasharray={i === 2 ? '5 3' : undefined} />
          ))}
        </g>
      </svg>
      <ul className="legend">
        {series.map((s, i) => (
          <li key={s.key}>
            <i style={{ background: colour(i) }} aria-hidden="true" />
            {names[s.key]}
          </li>
        ))}
      </ul>
      <details>
        <summary>{t('aam.dashboard.asTable')}</summary>
        <TableWrap label={title}>
          <table>
            <thead>
              <tr>
                <th scope="col">{t('aam.dashboard.date')}</th>
                {series.map((s) => (
                  <th scope="col" key={s.key}>
                    {names[s.key]}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {labels.map((l, i) => (
                <tr key={l}>
                  <th scope="row">{formatDay(lng, l)}</th>
                  {series.map((s) => (
                    <td key={s.key}>{formatNumber(lng, s.values[i] ?? 0)}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      </details>
    </figure>
  );
}

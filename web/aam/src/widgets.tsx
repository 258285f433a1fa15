/** Small pieces several admin pages share. */
import type { TFunction } from 'i18next';
import { useTranslation } from 'react-i18next';
import { formatNumber } from '@ovu/shared';
import { healthClass } from './logic';

export function Stat({ label, value, note }: { label: string; value: number | null | undefined; note?: string | undefined }) {
  const { i18n } = useTranslation();
  return (
    <div className="stat">
      <div className="value">{value === null || value === undefined ? '—' : formatNumber(i18n.language, value)}</div>
      <div className="label">{label}</div>
      {note ? <div className="hint">{note}</div> : null}
    </div>
  );
}

export function StatusBadge({ status }: { status: string }) {
  const { t } = useTranslation();
  return <span className={`badge ${healthClass(status)}`}>{t(`aam.status.${status}`, { defaultValue: status })}</span>;
}

export function componentName(t: TFunction, c: string): string {
  return t(`aam.system.components.${c}`, { defaultValue: c });
}

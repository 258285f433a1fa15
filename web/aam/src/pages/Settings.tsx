/** Settings grouped by category, each with an input of its type, its history and a reset. */
import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { Button, CheckboxField, Dialog, Empty, ErrorNote, Loading, Notice, SelectField, TextArea, TextField, formatDateTime, useApis, useFieldErrors, TableWrap } from '@ovu/shared';
import { aamApi, type Setting } from '../api';
import { useTitle } from '../App';
import { enumValues, groupSettings, inputToSetting, schemaBounds, settingToInput, shortJson } from '../logic';

export function SettingsPage() {
  const { t } = useTranslation();
  useTitle(t('aam.settings.title'));
  const { app } = useApis();
  const q = useQuery({ queryKey: ['settings'], queryFn: () => aamApi(app).settings() });
  return (
    <>
      <h1>{t('aam.settings.title')}</h1>
      {q.isPending ? <Loading /> : null}
      <ErrorNote error={q.error} onRetry={() => void q.refetch()} />
      {q.data && q.data.length === 0 ? <Empty /> : null}
      {groupSettings(q.data ?? []).map(([category, items]) => (
        <section key={category} className="card" aria-labelledby={`cat-${category}`}>
          <h2 id={`cat-${category}`} style={{ marginBlockStart: 0 }}>
            {t(`aam.settings.categories.${category}`, { defaultValue: category })}
          </h2>
          {items.map((s) => (
            <SettingRow key={`${s.category}.${s.key}`} setting={s} />
          ))}
        </section>
      ))}
    </>
  );
}

function SettingRow({ setting: s }: { setting: Setting }) {
  const { t, i18n } = useTranslation();
  const { app } = useApis();
  const api = aamApi(app);
  const qc = useQueryClient();
  // A sensitive value comes back masked: the box starts empty and a new value replaces it.
  const [input, setInput] = useState(s.sensitive ? '' : settingToInput(s.type, s.value));
  const [localErr, setLocalErr] = useState<string | undefined>();
  const [history, setHistory] = useState(false);
  const readOnly = s.source !== 'aam';
  const saved = (n: Setting) => {
    qc.setQueryData<Setting[]>(['settings'], (old) => old?.map((x) => (x.category === n.category && x.key === n.key ? n : x)));
    setInput(n.sensitive ? '' : settingToInput(n.type, n.value));
    void qc.invalidateQueries({ queryKey: ['history', s.category, s.key] });
  };
  const put = useMutation({ mutationFn: (value: unknown) => api.putSetting(s.category, s.key, value), onSuccess: saved });
  const reset = useMutation({ mutationFn: () => api.resetSetting(s.category, s.key), onSuccess: saved });
  const fe = useFieldErrors(put.error);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const parsed = inputToSetting(s.type, input);
    if ('error' in parsed) {
      setLocalErr(t('validation.invalid'));
      return;
    }
    setLocalErr(undefined);
    put.mutate(parsed.value);
  };
  const id = `${s.category}.${s.key}`;
  // Known keys have translated labels; a key this build does not know shows the server's description.
  const label = t(`aam.settings.keys.${s.category}.${s.key}`, { defaultValue: s.description || s.key });
  const error = localErr ?? fe('value') ?? (put.error ? ' ' : undefined);
  const b = schemaBounds(s.schema);
  let control;
  if (s.type === 'boolean') {
    control = <CheckboxField label={label} name={id} disabled={readOnly} checked={input === 'true'} onChange={(e) => setInput(e.target.checked ? 'true' : 'false')} />;
  } else if (s.type === 'enum') {
    control = (
      <SelectField label={label} name={id} disabled={readOnly} value={input} onChange={(e) => setInput(e.target.value)} error={error}>
        {enumValues(s.schema).map((v) => (
          <option key={v} value={v}>
            {v}
          </option>
        ))}
      </SelectField>
    );
  } else if (s.type === 'object' || (s.type === 'text' && (b.maxLength ?? 0) > 200)) {
    control = <TextArea label={label} name={id} readOnly={readOnly} rows={s.type === 'object' ? 5 : 3} value={input} maxLength={b.maxLength} onChange={(e) => setInput(e.target.value)} error={error} dir={s.type === 'object' ? 'ltr' : undefined} />;
  } else {
    const type = s.type === 'integer' ? 'number' : s.type === 'url' ? 'url' : s.type === 'email' ? 'email' : 'text';
    control = (
      <TextField
        label={label}
        name={id}
        type={type}
        readOnly={readOnly}
        placeholder={s.sensitive && !s.is_default ? '••••••' : undefined}
        hint={s.sensitive ? t('aam.settings.newSecret') : undefined}
        ltr={type !== 'text'}
        min={b.min}
        max={b.max}
        maxLength={b.maxLength}
        value={input}
        onChange={(e) => setInput(e.target.value)}
        error={error}
      />
    );
  }
  return (
    <form onSubmit={submit} className="setting" data-setting={id} style={{ borderBlockEnd: '1px solid var(--border)', paddingBlockEnd: '0.75rem', marginBlockEnd: '0.75rem' }}>
      {control}
      <p className="hint">
        <bdi className="mono">{id}</bdi> · {s.is_default ? t('aam.settings.isDefault') : t('aam.settings.default', { value: shortJson(s.default_value) })}
        {s.updated_at ? ` · ${t('aam.settings.lastChanged', { time: formatDateTime(i18n.language, s.updated_at) })}` : ''}
        {s.sensitive ? ` · ${t('aam.settings.sensitive')}` : ''}
        {readOnly ? ` · ${t('aam.settings.readOnly')}` : ''}
      </p>
      <ErrorNote error={put.error ?? reset.error} />
      {put.isSuccess || reset.isSuccess ? <Notice kind="success">{t('common.saved')}</Notice> : null}
      {readOnly ? null : (
        <div className="actions">
          <Button busy={put.isPending} disabled={s.sensitive && input === ''}>
            {t('common.save')}
          </Button>
          <button type="button" className="button secondary" disabled={s.is_default || reset.isPending} onClick={() => reset.mutate()}>
            {t('aam.settings.reset')}
          </button>
          <button type="button" className="button secondary" onClick={() => setHistory(true)}>
            {t('aam.settings.history')}
          </button>
        </div>
      )}
      <Dialog open={history} title={`${t('aam.settings.history')}: ${s.key}`} onClose={() => setHistory(false)}>
        {history ? <History category={s.category} k={s.key} /> : null}
      </Dialog>
    </form>
  );
}

function History({ category, k }: { category: string; k: string }) {
  const { t, i18n } = useTranslation();
  const { app } = useApis();
  const q = useQuery({ queryKey: ['history', category, k], queryFn: () => aamApi(app).settingHistory(category, k) });
  return (
    <>
      {q.isPending ? <Loading /> : null}
      <ErrorNote error={q.error} />
      {q.data && q.data.length === 0 ? <Empty /> : null}
      {q.data && q.data.length > 0 ? (
        <TableWrap label={t('aam.settings.history')}>
          <table>
            <thead>
              <tr>
                <th scope="col">{t('aam.settings.when')}</th>
                <th scope="col">{t('aam.settings.changedBy')}</th>
                <th scope="col">{t('aam.settings.from')}</th>
                <th scope="col">{t('aam.settings.to')}</th>
              </tr>
            </thead>
            <tbody>
              {q.data.map((h) => (
                <tr key={h.id}>
                  <td>{formatDateTime(i18n.language, h.changed_at)}</td>
                  <td>
                    <bdi>{h.changed_by_name || '—'}</bdi>
                  </td>
                  <td className="mono" dir="ltr">
                    {shortJson(h.old_value)}
                  </td>
                  <td className="mono" dir="ltr">
                    {shortJson(h.new_value)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      ) : null}
    </>
  );
}

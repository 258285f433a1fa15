/**
 * Settings: one form per category with an input of each key's type and one Save that sends
 * only what changed. A key the server refuses keeps its input and shows why (with the code)
 * beside it; the keys it accepted are saved. Reset and history are per key, history in a drawer.
 */
import { useId, useState, type FormEvent } from 'react';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import type { TFunction } from 'i18next';
import { ApiError, Button, CheckboxField, Dialog, Empty, ErrorNote, Loading, Notice, SelectField, TextArea, TextField, errorCode, errorText, fieldError, formatDateTime, formatNumber, useApis } from '@ovu/shared';
import { aamApi, type Setting } from '../api';
import { useTitle } from '../App';
import { editable, enumValues, groupChanges, groupSettings, savedInput, schemaBounds, settingId, shortJson } from '../logic';

export function SettingsPage() {
  const { t } = useTranslation();
  useTitle(t('aam.settings.title'));
  const { app } = useApis();
  const q = useQuery({ queryKey: ['settings'], queryFn: () => aamApi(app).settings() });
  const [history, setHistory] = useState<Setting | null>(null);
  return (
    <>
      <h1>{t('aam.settings.title')}</h1>
      {q.isPending ? <Loading /> : null}
      <ErrorNote error={q.error} onRetry={() => void q.refetch()} />
      {q.data && q.data.length === 0 ? <Empty /> : null}
      {groupSettings(q.data ?? []).map(([category, items]) => (
        <Group key={category} category={category} items={items} onHistory={setHistory} />
      ))}
      <Dialog open={history !== null} className="drawer" title={history ? t('aam.settings.historyOf', { name: label(t, history) }) : ''} onClose={() => setHistory(null)}>
        {history ? <History setting={history} /> : null}
      </Dialog>
    </>
  );
}

/** Known keys have translated labels; a key this build does not know shows the server's description. */
const label = (t: TFunction, s: Setting) => t(`aam.settings.keys.${s.category}.${s.key}`, { defaultValue: s.description || s.key });

/** A failure beside its field: the translated reason, the bounds when the type has them, and the server's code. */
function errorLine(t: TFunction, s: Setting, e: unknown): string {
  const b = schemaBounds(s.schema);
  const fe = fieldError(t, e);
  const msg = !fe
    ? errorText(t, e)
    : s.type === 'integer' && b.min !== undefined && b.max !== undefined
      ? t('aam.settings.range', { min: b.min, max: b.max })
      : s.type === 'email' || s.type === 'url'
        ? t(`aam.settings.expect.${s.type}`)
        : fe.message;
  return e instanceof ApiError ? `${msg} (${errorCode(e)})` : msg;
}

function Group({ category, items, onHistory }: { category: string; items: Setting[]; onHistory: (s: Setting) => void }) {
  const { t } = useTranslation();
  const { app } = useApis();
  const api = aamApi(app);
  const qc = useQueryClient();
  // Only the inputs a person touched; a key leaves the draft once the server has its value.
  const [draft, setDraft] = useState<Record<string, string>>({});
  const [errors, setErrors] = useState<Record<string, unknown>>({});
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState(false);
  const pending = groupChanges(items, draft);
  const dirty = Object.keys(pending.changed).length > 0 || pending.invalid.length > 0;
  const put = (n: Setting) => {
    qc.setQueryData<Setting[]>(['settings'], (old) => old?.map((x) => (settingId(x) === settingId(n) ? n : x)));
    void qc.invalidateQueries({ queryKey: ['history', settingId(n)] });
    setDraft((d) => {
      const { [settingId(n)]: _, ...rest } = d;
      return rest;
    });
  };
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const c = groupChanges(items, draft);
    setSaved(false);
    if (c.invalid.length) {
      setErrors(Object.fromEntries(c.invalid.map((id) => [id, 'invalid'])));
      return;
    }
    setBusy(true);
    const ids = Object.keys(c.changed);
    const results = await Promise.allSettled(
      ids.map((id) => {
        const s = items.find((x) => settingId(x) === id)!;
        return api.putSetting(s.category, s.key, c.changed[id]);
      }),
    );
    const errs: Record<string, unknown> = {};
    results.forEach((r, i) => (r.status === 'fulfilled' ? put(r.value) : (errs[ids[i]!] = r.reason)));
    setErrors(errs);
    setSaved(Object.keys(errs).length === 0);
    setBusy(false);
  };
  const reset = async (s: Setting) => {
    setSaved(false);
    try {
      put(await api.resetSetting(s.category, s.key));
      setErrors(({ [settingId(s)]: _, ...rest }) => rest);
    } catch (err) {
      setErrors((x) => ({ ...x, [settingId(s)]: err }));
    }
  };
  const anyEditable = items.some(editable);
  return (
    <form className="card settings-group" data-category={category} aria-labelledby={`cat-${category}`} onSubmit={(e) => void submit(e)} noValidate>
      <h2 id={`cat-${category}`}>{t(`aam.settings.categories.${category}`, { defaultValue: category })}</h2>
      {items.map((s) => {
        const id = settingId(s);
        const err = errors[id];
        return (
          <Field
            key={id}
            s={s}
            input={draft[id] ?? savedInput(s)}
            error={err === undefined ? undefined : err === 'invalid' ? t('validation.invalid') : errorLine(t, s, err)}
            onInput={(v) => {
              setDraft((d) => ({ ...d, [id]: v }));
              setSaved(false);
            }}
            onReset={() => void reset(s)}
            onHistory={() => onHistory(s)}
          />
        );
      })}
      {saved ? <Notice kind="success">{t('common.saved')}</Notice> : null}
      {anyEditable ? (
        <div className="actions">
          <Button busy={busy} disabled={!dirty}>
            {t('common.save')}
          </Button>
        </div>
      ) : null}
    </form>
  );
}

function Field({ s, input, error, onInput, onReset, onHistory }: { s: Setting; input: string; error: string | undefined; onInput: (v: string) => void; onReset: () => void; onHistory: () => void }) {
  const { t, i18n } = useTranslation();
  const errId = useId();
  const id = settingId(s);
  const name = label(t, s);
  const readOnly = !editable(s);
  const b = schemaBounds(s.schema);
  const change = (e: { target: { value: string } }) => onInput(e.target.value);
  let control;
  if (s.type === 'boolean') {
    control = (
      <>
        <CheckboxField label={name} name={id} role="switch" disabled={readOnly} checked={input === 'true'} onChange={(e) => onInput(String(e.target.checked))} aria-invalid={error ? true : undefined} aria-describedby={error ? errId : undefined} />
        {error ? <p id={errId} className="field-error">{error}</p> : null}
      </>
    );
  } else if (s.type === 'enum') {
    control = (
      <SelectField label={name} name={id} disabled={readOnly} value={input} onChange={change} error={error}>
        {enumValues(s.schema).map((v) => (
          <option key={v} value={v}>
            {t(`aam.settings.options.${v}`, { defaultValue: v })}
          </option>
        ))}
      </SelectField>
    );
  } else if (s.type === 'object' || (s.type === 'text' && (b.maxLength ?? 0) > 200)) {
    control = <TextArea label={name} name={id} readOnly={readOnly} rows={s.type === 'object' ? 5 : 3} value={input} maxLength={b.maxLength} onChange={change} error={error} dir={s.type === 'object' ? 'ltr' : undefined} />;
  } else {
    const type = s.type === 'integer' ? 'number' : s.type === 'url' || s.type === 'email' ? s.type : 'text';
    control = (
      <TextField
        label={name}
        name={id}
        type={type}
        readOnly={readOnly}
        placeholder={s.sensitive && !s.is_default ? '••••••' : undefined}
        hint={s.sensitive ? t('aam.settings.newSecret') : undefined}
        ltr={type !== 'text'}
        min={b.min}
        max={b.max}
        step={type === 'number' ? 1 : undefined}
        maxLength={b.maxLength}
        value={input}
        onChange={change}
        error={error}
      />
    );
  }
  return (
    <div className="setting" data-setting={id}>
      {control}
      <p className="hint">
        {readOnly ? t('aam.settings.readOnly') : s.is_default ? t('aam.settings.isDefault') : t('aam.settings.default', { value: shown(t, i18n.language, s.type, s.default_value) })}
        {s.updated_at ? ` · ${t('aam.settings.lastChanged', { time: formatDateTime(i18n.language, s.updated_at) })}` : ''}
        {readOnly ? null : (
          <>
            {' · '}
            <button type="button" className="link-button" data-testid="reset" disabled={s.is_default} onClick={onReset} aria-label={`${t('aam.settings.reset')}: ${name}`}>
              {t('aam.settings.reset')}
            </button>
            {' · '}
            <button type="button" className="link-button" data-testid="history" onClick={onHistory} aria-label={`${t('aam.settings.history')}: ${name}`}>
              {t('aam.settings.history')}
            </button>
          </>
        )}
      </p>
    </div>
  );
}

/** A value in words: on/off, "(empty)", a number in the reader's digits, a choice translated, text as it is. */
function shown(t: TFunction, lang: string, type: string, v: unknown): string {
  if (type === 'boolean') return v === true ? t('aam.settings.on') : t('aam.settings.off');
  if (v === '') return t('aam.settings.empty');
  if (typeof v === 'number') return formatNumber(lang, v);
  if (type === 'enum' && typeof v === 'string') return t(`aam.settings.options.${v}`, { defaultValue: v });
  return typeof v === 'string' ? v : shortJson(v);
}

function History({ setting: s }: { setting: Setting }) {
  const { t, i18n } = useTranslation();
  const { app } = useApis();
  const q = useQuery({ queryKey: ['history', settingId(s)], queryFn: () => aamApi(app).settingHistory(s.category, s.key) });
  return (
    <>
      {q.isPending ? <Loading /> : null}
      <ErrorNote error={q.error} />
      {q.data && q.data.length === 0 ? <Empty /> : null}
      <ol className="history">
        {q.data?.map((h) => (
          <li key={h.id}>
            <p className="hint">
              {formatDateTime(i18n.language, h.changed_at)} · <bdi>{h.changed_by_name || '—'}</bdi>
            </p>
            <p>
              <bdi className="old">{shown(t, i18n.language, s.type, h.old_value)}</bdi> {i18n.dir() === 'rtl' ? '←' : '→'} <bdi className="new">{shown(t, i18n.language, s.type, h.new_value)}</bdi>
            </p>
          </li>
        ))}
      </ol>
    </>
  );
}

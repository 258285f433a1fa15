/** API keys: create with scopes and expiry (the key is shown once), list, revoke. */
import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { Button, CheckboxField, Dialog, Empty, ErrorNote, Loading, Notice, SelectField, TextField, copyText, formatDateTime, useApis, useClaims, useFieldErrors, TableWrap } from '@ovu/shared';
import { ulmApi, type ApiKey, type CreatedApiKey } from '../api';
import { useTitle } from '../App';
import { KEY_EXPIRY_DAYS, expiryFromDays, scopeGroups } from '../logic';

export function ApiKeys() {
  const { t, i18n } = useTranslation();
  useTitle(t('ulm.apiKeys.title'));
  const { ulm } = useApis();
  const api = ulmApi(ulm);
  const qc = useQueryClient();
  const q = useQuery({ queryKey: ['api-keys'], queryFn: () => api.apiKeys() });
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<CreatedApiKey | null>(null);
  const [revoking, setRevoking] = useState<ApiKey | null>(null);
  const revoke = useMutation({
    mutationFn: (id: string) => api.revokeApiKey(id),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ['api-keys'] }),
    onSettled: () => setRevoking(null),
  });
  const lng = i18n.language;
  return (
    <>
      <h1>{t('ulm.apiKeys.title')}</h1>
      <p>{t('ulm.apiKeys.help')}</p>
      <p>
        <button type="button" className="button primary" onClick={() => setCreating(true)}>
          {t('ulm.apiKeys.create')}
        </button>
      </p>
      {created ? <NewKey k={created} onDone={() => setCreated(null)} /> : null}
      {revoke.isSuccess ? <Notice kind="success">{t('ulm.apiKeys.revoked')}</Notice> : null}
      <ErrorNote error={q.error ?? revoke.error} onRetry={() => void q.refetch()} />
      {q.isPending ? <Loading /> : null}
      {q.data && q.data.length === 0 ? <Empty /> : null}
      {q.data && q.data.length > 0 ? (
        <TableWrap label={t('ulm.apiKeys.title')}>
          <table>
            <caption className="visually-hidden">{t('ulm.apiKeys.title')}</caption>
            <thead>
              <tr>
                <th scope="col">{t('ulm.apiKeys.name')}</th>
                <th scope="col">{t('ulm.apiKeys.prefix')}</th>
                <th scope="col">{t('ulm.apiKeys.scopes')}</th>
                <th scope="col">{t('ulm.apiKeys.expires')}</th>
                <th scope="col">{t('ulm.apiKeys.lastUsed')}</th>
                <th scope="col">{t('common.actions')}</th>
              </tr>
            </thead>
            <tbody>
              {q.data.map((k) => (
                <tr key={k.id}>
                  <td>
                    <bdi>{k.name}</bdi>
                  </td>
                  <td>
                    <code className="mono" dir="ltr">
                      {k.prefix}…
                    </code>
                  </td>
                  <td>
                    <bdi className="mono">{k.scopes.join(', ')}</bdi>
                  </td>
                  <td>
                    {k.expires_at ? formatDateTime(lng, k.expires_at) : t('ulm.apiKeys.expiresNever')}
                    {k.expires_at && Date.parse(k.expires_at) < q.dataUpdatedAt ? <span className="badge bad">{t('ulm.apiKeys.expired')}</span> : null}
                  </td>
                  <td>{k.last_used_at ? formatDateTime(lng, k.last_used_at) : t('common.never')}</td>
                  <td>
                    <button type="button" className="button secondary" onClick={() => setRevoking(k)}>
                      {t('ulm.apiKeys.revoke')}
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      ) : null}
      <Dialog open={creating} title={t('ulm.apiKeys.create')} onClose={() => setCreating(false)}>
        <CreateKey
          onCreated={(k) => {
            setCreating(false);
            setCreated(k);
            void qc.invalidateQueries({ queryKey: ['api-keys'] });
          }}
        />
      </Dialog>
      <Dialog open={revoking !== null} title={t('ulm.apiKeys.revoke')} onClose={() => setRevoking(null)}>
        <p>{t('ulm.apiKeys.revokeConfirm', { name: revoking?.name ?? '' })}</p>
        <div className="actions">
          <button type="button" className="button danger" disabled={revoke.isPending} onClick={() => revoking && revoke.mutate(revoking.id)}>
            {t('ulm.apiKeys.revoke')}
          </button>
          <button type="button" className="button secondary" onClick={() => setRevoking(null)}>
            {t('common.cancel')}
          </button>
        </div>
      </Dialog>
    </>
  );
}

function CreateKey({ onCreated }: { onCreated: (k: CreatedApiKey) => void }) {
  const { t } = useTranslation();
  const { ulm } = useApis();
  const claims = useClaims();
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<string[]>([]);
  const [days, setDays] = useState<number>(90);
  const [noScope, setNoScope] = useState(false);
  const m = useMutation({
    mutationFn: () => ulmApi(ulm).createApiKey({ name: name.trim(), scopes, expires_at: expiryFromDays(days) }),
    onSuccess: onCreated,
  });
  const err = useFieldErrors(m.error, { scopes: noScope ? t('ulm.apiKeys.pickScope') : undefined });
  const groups = scopeGroups(claims?.permissions ?? []);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setNoScope(scopes.length === 0);
    if (scopes.length > 0) m.mutate();
  };
  const toggle = (p: string, on: boolean) => setScopes((s) => (on ? [...s, p] : s.filter((x) => x !== p)));
  return (
    <form onSubmit={submit}>
      <ErrorNote error={m.error} />
      <TextField label={t('ulm.apiKeys.name')} name="name" autoComplete="off" required maxLength={100} value={name} onChange={(e) => setName(e.target.value)} error={err('name')} />
      <fieldset aria-describedby={err('scopes') ? 'scopes-err' : undefined}>
        <legend>{t('ulm.apiKeys.scopes')}</legend>
        {groups.length === 0 ? <p>{t('ulm.apiKeys.noScopes')}</p> : null}
        {groups.map(([resource, perms]) => (
          <div key={resource}>
            {perms.map((p) => (
              <CheckboxField key={p} label={p} name="scopes" value={p} checked={scopes.includes(p)} onChange={(e) => toggle(p, e.target.checked)} />
            ))}
          </div>
        ))}
        {err('scopes') ? (
          <p id="scopes-err" className="field-error">
            {err('scopes')}
          </p>
        ) : null}
      </fieldset>
      <SelectField label={t('ulm.apiKeys.expires')} name="expires" value={days} onChange={(e) => setDays(Number(e.target.value))} error={err('expires_at')}>
        {KEY_EXPIRY_DAYS.map((d) => (
          <option key={d} value={d}>
            {d === 0 ? t('ulm.apiKeys.expiresNever') : t('ulm.apiKeys.expiresDays', { count: d })}
          </option>
        ))}
      </SelectField>
      <Button busy={m.isPending}>{t('common.create')}</Button>
    </form>
  );
}

function NewKey({ k, onDone }: { k: CreatedApiKey; onDone: () => void }) {
  const { t } = useTranslation();
  const [copied, setCopied] = useState(false);
  return (
    <div className="card" role="region" aria-label={t('ulm.apiKeys.yourKey')}>
      <h2>{t('ulm.apiKeys.yourKey')}</h2>
      <Notice kind="warning">{t('ulm.apiKeys.shownOnce')}</Notice>
      <p className="secret" dir="ltr" data-testid="new-api-key">
        {k.key}
      </p>
      <div className="actions">
        <button type="button" className="button secondary" onClick={() => void copyText(k.key).then(setCopied)}>
          {t('common.copy')}
        </button>
        <button type="button" className="button primary" onClick={onDone}>
          {t('ulm.apiKeys.done')}
        </button>
      </div>
      {copied ? <Notice>{t('common.copied')}</Notice> : null}
    </div>
  );
}

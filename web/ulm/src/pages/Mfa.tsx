/** TOTP setup (QR + key, verify, recovery codes shown once) and turning it off. */
import { useState, type FormEvent } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { Button, ErrorNote, Loading, Notice, PasswordField, TextField, copyText, saveBlob, useApis } from '@ovu/shared';
import { ulmApi } from '../api';
import { useTitle } from '../App';
import { QrCode } from '../qr';
import { groupSecret, recoveryCodesFile } from '../logic';
import { useMe } from './Profile';

export function Mfa() {
  const { t } = useTranslation();
  useTitle(t('ulm.mfa.title'));
  const me = useMe();
  const [codes, setCodes] = useState<string[] | null>(null);
  return (
    <>
      <h1>{t('ulm.mfa.title')}</h1>
      {me.isPending ? <Loading /> : null}
      <ErrorNote error={me.error} onRetry={() => void me.refetch()} />
      {codes ? (
        <RecoveryCodes codes={codes} user={me.data?.username ?? ''} onDone={() => setCodes(null)} />
      ) : me.data ? (
        me.data.mfa_enabled ? (
          <Disable />
        ) : (
          <Setup onEnabled={setCodes} />
        )
      ) : null}
    </>
  );
}

function Setup({ onEnabled }: { onEnabled: (codes: string[]) => void }) {
  const { t } = useTranslation();
  const { ulm } = useApis();
  const qc = useQueryClient();
  const api = ulmApi(ulm);
  const [code, setCode] = useState('');
  const setup = useMutation({ mutationFn: () => api.mfaSetup() });
  const enable = useMutation({
    mutationFn: () => api.mfaEnable(code.replace(/\s+/g, '')),
    onSuccess: (r) => {
      onEnabled(r.recovery_codes);
      void qc.invalidateQueries({ queryKey: ['me'] });
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    enable.mutate();
  };
  if (!setup.data) {
    return (
      <div className="card">
        <p data-testid="mfa-off">{t('ulm.mfa.off')}</p>
        <ErrorNote error={setup.error} />
        <Button type="button" busy={setup.isPending} onClick={() => setup.mutate()}>
          {t('ulm.mfa.start')}
        </Button>
      </div>
    );
  }
  return (
    <div className="card">
      <p>{t('ulm.mfa.scan')}</p>
      <QrCode text={setup.data.otpauth_uri} label={t('ulm.mfa.qrLabel')} />
      <p>
        {t('ulm.mfa.key')}:{' '}
        <code className="mono" dir="ltr" data-testid="mfa-secret" data-secret={setup.data.secret}>
          {groupSecret(setup.data.secret)}
        </code>
      </p>
      <ErrorNote error={enable.error} />
      <form onSubmit={submit}>
        <TextField label={t('ulm.mfa.code')} name="code" autoComplete="one-time-code" inputMode="numeric" required ltr value={code} onChange={(e) => setCode(e.target.value)} />
        <Button busy={enable.isPending}>{t('ulm.mfa.enable')}</Button>
      </form>
    </div>
  );
}

function RecoveryCodes({ codes, user, onDone }: { codes: string[]; user: string; onDone: () => void }) {
  const { t } = useTranslation();
  const [copied, setCopied] = useState(false);
  const text = recoveryCodesFile(t('ulm.mfa.codesFileHeader', { user }), codes);
  return (
    <div className="card">
      <Notice kind="success">{t('ulm.mfa.on')}</Notice>
      <h2>{t('ulm.mfa.codesTitle')}</h2>
      <p>{t('ulm.mfa.codesHelp')}</p>
      <ul className="codes mono" dir="ltr" data-testid="recovery-codes">
        {codes.map((c) => (
          <li key={c}>{c}</li>
        ))}
      </ul>
      <div className="actions">
        <button type="button" className="button secondary" onClick={() => void copyText(text).then(setCopied)}>
          {t('ulm.mfa.copyCodes')}
        </button>
        <button type="button" className="button secondary" onClick={() => saveBlob(new Blob([text], { type: 'text/plain' }), 'ovu-recovery-codes.txt')}>
          {t('ulm.mfa.downloadCodes')}
        </button>
        <button type="button" className="button primary" onClick={onDone}>
          {t('ulm.mfa.codesSaved')}
        </button>
      </div>
      {copied ? <Notice>{t('common.copied')}</Notice> : null}
    </div>
  );
}

function Disable() {
  const { t } = useTranslation();
  const { ulm } = useApis();
  const qc = useQueryClient();
  const [pw, setPw] = useState('');
  const [code, setCode] = useState('');
  const m = useMutation({
    mutationFn: () => ulmApi(ulm).mfaDisable(pw, code.replace(/\s+/g, '')),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ['me'] }),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    m.mutate();
  };
  return (
    <div className="card">
      <Notice kind="success">{t('ulm.mfa.on')}</Notice>
      <h2>{t('ulm.mfa.disable')}</h2>
      <p>{t('ulm.mfa.disableHelp')}</p>
      <ErrorNote error={m.error} />
      <form onSubmit={submit}>
        <PasswordField label={t('ulm.mfa.password')} name="password" autoComplete="current-password" required value={pw} onChange={(e) => setPw(e.target.value)} />
        <TextField label={t('ulm.mfa.code')} name="code" autoComplete="one-time-code" required ltr value={code} onChange={(e) => setCode(e.target.value)} />
        <Button variant="danger" busy={m.isPending}>
          {t('ulm.mfa.disable')}
        </Button>
      </form>
    </div>
  );
}

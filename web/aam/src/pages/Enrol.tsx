/**
 * First sign-in of an admin who must enrol in two-step verification (`spec.security.adminMfa:
 * Required`): ULM lets such a session do nothing but enrol, so the panel sets up TOTP at ULM,
 * confirms a first code, shows the recovery codes once, then refreshes the token (its `mfa`
 * claim is what AAM checks) and goes on to the page that was asked for.
 */
import { useState, type FormEvent } from 'react';
import { useNavigate, useSearchParams } from 'react-router';
import { useMutation } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { Button, ErrorNote, Notice, Shell, TextField, copyText, groupSecret, recoveryCodesFile, saveBlob, useApis, useClaims } from '@ovu/shared';
import { ulmAuth } from '../api';
import { safeNext } from '../logic';
import { useTitle } from '../App';

export function EnrolPage() {
  const { t } = useTranslation();
  useTitle(t('aam.enrol.title'));
  const { ulm, session } = useApis();
  const api = ulmAuth(ulm);
  const claims = useClaims();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const [code, setCode] = useState('');
  const [codes, setCodes] = useState<string[] | null>(null);
  const [copied, setCopied] = useState(false);
  const setup = useMutation({ mutationFn: () => api.mfaSetup() });
  const enable = useMutation({
    mutationFn: () => api.mfaEnable(code.replace(/\s+/g, '')),
    onSuccess: (r) => setCodes(r.recovery_codes),
  });
  const proceed = useMutation({
    mutationFn: async () => {
      // The enrolling session has proved the factor; a new token carries it.
      if (!(await ulm.refreshNow())) session.clear('expired');
      else void navigate(safeNext(params.get('next')), { replace: true });
    },
  });
  const signOut = async () => {
    await api.logout().catch(() => undefined);
    session.clear('signed-out');
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    enable.mutate();
  };
  const file = codes ? recoveryCodesFile(t('aam.enrol.codesFileHeader', { user: claims?.username ?? '' }), codes) : '';
  return (
    <Shell
      title={t('aam.title')}
      actions={
        <button type="button" className="button secondary" onClick={() => void signOut()} data-testid="sign-out">
          {t('common.signOut')}
        </button>
      }
    >
      <div className="card narrow" data-testid="enrol">
        <h1>{t('aam.enrol.title')}</h1>
        {codes ? (
          <>
            <Notice kind="success">{t('aam.enrol.on')}</Notice>
            <h2>{t('aam.enrol.codesTitle')}</h2>
            <p>{t('aam.enrol.codesHelp')}</p>
            <ul className="codes mono" dir="ltr" data-testid="recovery-codes">
              {codes.map((c) => (
                <li key={c}>{c}</li>
              ))}
            </ul>
            <ErrorNote error={proceed.error} />
            <div className="actions">
              <button type="button" className="button secondary" onClick={() => void copyText(file).then(setCopied)}>
                {t('aam.enrol.copyCodes')}
              </button>
              <button type="button" className="button secondary" onClick={() => saveBlob(new Blob([file], { type: 'text/plain' }), 'ovu-recovery-codes.txt')}>
                {t('aam.enrol.downloadCodes')}
              </button>
              <Button type="button" busy={proceed.isPending} onClick={() => proceed.mutate()}>
                {t('aam.enrol.continue')}
              </Button>
            </div>
            {copied ? <Notice>{t('common.copied')}</Notice> : null}
          </>
        ) : !setup.data ? (
          <>
            <p>{t('aam.enrol.help')}</p>
            <ErrorNote error={setup.error} />
            <Button type="button" busy={setup.isPending} onClick={() => setup.mutate()}>
              {t('aam.enrol.start')}
            </Button>
          </>
        ) : (
          <>
            <p>{t('aam.enrol.scan')}</p>
            <p>
              <a href={setup.data.otpauth_uri} data-testid="mfa-link">
                {t('aam.enrol.openApp')}
              </a>
            </p>
            <p>
              {t('aam.enrol.key')}:{' '}
              <code className="mono" dir="ltr" data-testid="mfa-secret" data-secret={setup.data.secret}>
                {groupSecret(setup.data.secret)}
              </code>
            </p>
            <ErrorNote error={enable.error} />
            <form onSubmit={submit}>
              <TextField label={t('aam.enrol.code')} name="code" autoComplete="one-time-code" inputMode="numeric" required ltr autoFocus value={code} onChange={(e) => setCode(e.target.value)} />
              <Button busy={enable.isPending}>{t('aam.enrol.enable')}</Button>
            </form>
          </>
        )}
      </div>
    </Shell>
  );
}

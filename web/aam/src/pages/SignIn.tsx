/** Admin sign-in through ULM (password, then TOTP or recovery code); refuses tokens without `aam:access`. */
import { useState, type FormEvent } from 'react';
import { useLocation, useNavigate, useSearchParams } from 'react-router';
import { useMutation } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { ApiError, Button, ErrorNote, Notice, PasswordField, Shell, TextField, decodeClaims, useApis } from '@ovu/shared';
import { aamApi, ulmAuth, type MfaChallenge, type TokenResponse } from '../api';
import { hasPanelAccess, mustEnrol, safeNext } from '../logic';
import { useTitle, type Notice as NoticeKey } from '../App';

const NOTICES: Record<NoticeKey, { kind: 'info' | 'warning'; key: string }> = {
  sessionExpired: { kind: 'warning', key: 'common.sessionExpired' },
  signedOut: { kind: 'info', key: 'common.signedOut' },
  noAccess: { kind: 'warning', key: 'errors.no_access' },
};

export function SignIn() {
  const { t } = useTranslation();
  useTitle(t('aam.signIn.title'));
  const { ulm, app, session } = useApis();
  const auth = ulmAuth(ulm);
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const notice = (useLocation().state as { notice?: NoticeKey } | null)?.notice;
  const [login, setLogin] = useState('');
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  const [mfaToken, setMfaToken] = useState<string | null>(null);

  const finish = async (tokens: TokenResponse) => {
    if (!hasPanelAccess(decodeClaims(tokens.access_token))) {
      // Signed in, but not an admin: end that session at ULM too.
      session.set(tokens);
      await auth.logout().catch(() => undefined);
      session.clear('signed-out');
      throw new ApiError({ status: 403, code: 'no_access', message: 'no aam:access' });
    }
    session.set(tokens);
    const next = safeNext(params.get('next'));
    if (decodeClaims(tokens.access_token)?.mfa !== true) {
      // A password-only session: where the policy requires MFA of admins, AAM answers
      // mfa_required and the admin enrols first (pages/Enrol.tsx).
      try {
        await aamApi(app).apps();
      } catch (e) {
        if (mustEnrol(e)) {
          void navigate(`/enrol?next=${encodeURIComponent(next)}`, { replace: true });
          return;
        }
      }
    }
    void navigate(next, { replace: true });
  };
  const first = useMutation({
    mutationFn: async () => {
      const r: TokenResponse | MfaChallenge = await auth.login(login.trim(), password);
      if ('mfa_required' in r && r.mfa_required) {
        setMfaToken(r.mfa_token);
        setPassword('');
        return;
      }
      await finish(r as TokenResponse);
    },
  });
  const second = useMutation({
    mutationFn: async () => finish(await auth.loginMfa(mfaToken ?? '', code.replace(/\s+/g, ''))),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (mfaToken) second.mutate();
    else first.mutate();
  };
  return (
    <Shell title={t('aam.title')}>
      <div className="card narrow">
        <h1>{mfaToken ? t('auth.mfaTitle') : t('aam.signIn.title')}</h1>
        {notice && NOTICES[notice] ? <Notice kind={NOTICES[notice].kind}>{t(NOTICES[notice].key)}</Notice> : null}
        <p>{mfaToken ? t('auth.mfaHelp') : t('aam.signIn.help')}</p>
        <ErrorNote error={mfaToken ? second.error : first.error} />
        <form onSubmit={submit}>
          {mfaToken ? (
            <TextField label={t('auth.code')} name="code" autoComplete="one-time-code" required ltr autoFocus value={code} onChange={(e) => setCode(e.target.value)} />
          ) : (
            <>
              <TextField label={t('auth.login')} name="login" autoComplete="username" required ltr value={login} onChange={(e) => setLogin(e.target.value)} />
              <PasswordField label={t('auth.password')} name="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
            </>
          )}
          <div className="actions">
            <Button busy={first.isPending || second.isPending}>{mfaToken ? t('auth.verify') : t('auth.submit')}</Button>
            {mfaToken ? (
              <button type="button" className="link-button" onClick={() => setMfaToken(null)}>
                {t('auth.startOver')}
              </button>
            ) : null}
          </div>
        </form>
      </div>
    </Shell>
  );
}

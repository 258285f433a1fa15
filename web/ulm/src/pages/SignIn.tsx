/** Sign in with username or e-mail and password, then a TOTP or recovery code when MFA is on. */
import { useState, type FormEvent } from 'react';
import { Link, useLocation, useNavigate, useSearchParams } from 'react-router';
import { useMutation } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { Button, ErrorNote, Notice, PasswordField, TextField, useApis } from '@ovu/shared';
import { isMfaChallenge, ulmApi, type TokenResponse } from '../api';
import { PublicPage, type Notice as NoticeKey } from '../App';
import { safeNext } from '../logic';

const NOTICES: Record<NoticeKey, { kind: 'info' | 'success' | 'warning'; key: string }> = {
  sessionExpired: { kind: 'warning', key: 'common.sessionExpired' },
  signedOut: { kind: 'info', key: 'common.signedOut' },
  verified: { kind: 'success', key: 'ulm.verify.done' },
  passwordReset: { kind: 'success', key: 'ulm.reset.done' },
};

export function SignIn() {
  const { t } = useTranslation();
  const { ulm, session } = useApis();
  const api = ulmApi(ulm);
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const loc = useLocation();
  const notice = (loc.state as { notice?: NoticeKey } | null)?.notice;
  const [login, setLogin] = useState('');
  const [password, setPassword] = useState('');
  const [mfaToken, setMfaToken] = useState<string | null>(null);
  const [code, setCode] = useState('');

  const done = (tokens: TokenResponse) => {
    session.set(tokens);
    void navigate(safeNext(params.get('next')), { replace: true });
  };
  const first = useMutation({
    mutationFn: () => api.login(login.trim(), password),
    onSuccess: (r) => {
      if (isMfaChallenge(r)) {
        setMfaToken(r.mfa_token);
        setPassword('');
      } else done(r);
    },
  });
  const second = useMutation({
    mutationFn: () => api.loginMfa(mfaToken ?? '', code.replace(/\s+/g, '')),
    onSuccess: done,
  });

  if (mfaToken) {
    const submit = (e: FormEvent) => {
      e.preventDefault();
      second.mutate();
    };
    return (
      <PublicPage title={t('auth.mfaTitle')}>
        <p>{t('auth.mfaHelp')}</p>
        <ErrorNote error={second.error} />
        <form onSubmit={submit} noValidate>
          <TextField
            label={t('auth.code')}
            name="code"
            value={code}
            onChange={(e) => setCode(e.target.value)}
            autoComplete="one-time-code"
            inputMode="text"
            required
            ltr
            autoFocus
          />
          <div className="actions">
            <Button busy={second.isPending}>{t('auth.verify')}</Button>
            <button
              type="button"
              className="link-button"
              onClick={() => {
                setMfaToken(null);
                setCode('');
                second.reset();
              }}
            >
              {t('auth.startOver')}
            </button>
          </div>
        </form>
      </PublicPage>
    );
  }

  const submit = (e: FormEvent) => {
    e.preventDefault();
    first.mutate();
  };
  return (
    <PublicPage title={t('ulm.signIn.title')}>
      {notice && NOTICES[notice] ? <Notice kind={NOTICES[notice].kind}>{t(NOTICES[notice].key)}</Notice> : null}
      <ErrorNote error={first.error} />
      <form onSubmit={submit}>
        <TextField
          label={t('auth.login')}
          name="login"
          value={login}
          onChange={(e) => setLogin(e.target.value)}
          autoComplete="username"
          required
          ltr
        />
        <PasswordField
          label={t('auth.password')}
          name="password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          autoComplete="current-password"
          required
        />
        <div className="actions">
          <Button busy={first.isPending}>{t('auth.submit')}</Button>
          <Link to="/forgot-password">{t('ulm.signIn.forgot')}</Link>
        </div>
      </form>
      <p>
        {t('ulm.signIn.noAccount')} <Link to="/register">{t('ulm.signIn.register')}</Link>
      </p>
    </PublicPage>
  );
}

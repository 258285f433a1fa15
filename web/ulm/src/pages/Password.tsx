/** Forgot password (always the same answer) and reset with the e-mailed token. */
import { useState, type FormEvent } from 'react';
import { Link, useNavigate } from 'react-router';
import { useMutation } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { Button, ErrorNote, Notice, PasswordField, TextField, useApis, useFieldErrors } from '@ovu/shared';
import { ulmApi } from '../api';
import { PublicPage, type Notice as NoticeKey } from '../App';
import { useLinkToken } from '../linkToken';

export function Forgot() {
  const { t } = useTranslation();
  const { ulm } = useApis();
  const [email, setEmail] = useState('');
  const m = useMutation({ mutationFn: () => ulmApi(ulm).forgot(email.trim()) });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    m.mutate();
  };
  return (
    <PublicPage title={t('ulm.forgot.title')}>
      {m.isSuccess ? (
        <Notice kind="success">{t('ulm.forgot.done')}</Notice>
      ) : (
        <>
          <p>{t('ulm.forgot.help')}</p>
          <ErrorNote error={m.error} />
          <form onSubmit={submit}>
            <TextField label={t('ulm.forgot.email')} name="email" type="email" autoComplete="email" required ltr value={email} onChange={(e) => setEmail(e.target.value)} />
            <Button busy={m.isPending}>{t('ulm.forgot.submit')}</Button>
          </form>
        </>
      )}
      <p>
        <Link to="/signin">{t('ulm.signIn.title')}</Link>
      </p>
    </PublicPage>
  );
}

export function Reset() {
  const { t } = useTranslation();
  const { ulm } = useApis();
  const navigate = useNavigate();
  const token = useLinkToken() ?? '';
  const [pw, setPw] = useState('');
  const [confirm, setConfirm] = useState('');
  const [mismatch, setMismatch] = useState(false);
  const m = useMutation({
    mutationFn: () => ulmApi(ulm).reset(token, pw),
    onSuccess: () => void navigate('/signin', { state: { notice: 'passwordReset' satisfies NoticeKey } }),
  });
  const err = useFieldErrors(m.error, { confirm: mismatch ? t('validation.mismatch') : undefined });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setMismatch(pw !== confirm);
    if (pw === confirm) m.mutate();
  };
  return (
    <PublicPage title={t('ulm.reset.title')}>
      {!token ? <Notice kind="warning">{t('ulm.verify.missing')}</Notice> : null}
      <ErrorNote error={m.error} />
      <form onSubmit={submit}>
        <PasswordField label={t('ulm.reset.password')} name="new_password" autoComplete="new-password" required minLength={8} maxLength={128} value={pw} onChange={(e) => setPw(e.target.value)} error={err('new_password')} />
        <PasswordField label={t('ulm.reset.confirm')} name="confirm" autoComplete="new-password" required value={confirm} onChange={(e) => setConfirm(e.target.value)} error={err('confirm')} />
        <Button busy={m.isPending} disabled={!token}>
          {t('ulm.reset.submit')}
        </Button>
      </form>
    </PublicPage>
  );
}

/** Registration: the answer is the same for new and existing addresses (no enumeration). */
import { useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import { useMutation } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { Button, ErrorNote, Notice, PasswordField, TextField, isLang, useApis, useFieldErrors } from '@ovu/shared';
import { ulmApi } from '../api';
import { PublicPage } from '../App';

export function Register() {
  const { t, i18n } = useTranslation();
  const { ulm } = useApis();
  const [f, setF] = useState({ email: '', username: '', display_name: '', password: '', confirm: '' });
  const [mismatch, setMismatch] = useState(false);
  const m = useMutation({
    mutationFn: () =>
      ulmApi(ulm).register({
        email: f.email.trim(),
        username: f.username.trim(),
        password: f.password,
        display_name: f.display_name.trim() || null,
        preferred_language: isLang(i18n.language) ? i18n.language : 'en',
      }),
  });
  const err = useFieldErrors(m.error, { confirm: mismatch ? t('validation.mismatch') : undefined });
  const set = (k: keyof typeof f) => (e: { target: { value: string } }) => setF({ ...f, [k]: e.target.value });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const bad = f.password !== f.confirm;
    setMismatch(bad);
    if (!bad) m.mutate();
  };
  if (m.isSuccess) {
    return (
      <PublicPage title={t('ulm.register.title')}>
        <Notice kind="success">{t('ulm.register.done')}</Notice>
        <Link to="/signin">{t('ulm.signIn.title')}</Link>
      </PublicPage>
    );
  }
  return (
    <PublicPage title={t('ulm.register.title')}>
      <ErrorNote error={m.error} />
      <form onSubmit={submit}>
        <TextField label={t('ulm.register.email')} name="email" type="email" autoComplete="email" required ltr value={f.email} onChange={set('email')} error={err('email')} />
        <TextField
          label={t('ulm.register.username')}
          name="username"
          autoComplete="username"
          required
          ltr
          hint={t('ulm.register.usernameHint')}
          value={f.username}
          onChange={set('username')}
          error={err('username')}
        />
        <TextField label={t('ulm.register.displayName')} name="display_name" autoComplete="name" value={f.display_name} onChange={set('display_name')} error={err('display_name')} />
        <PasswordField
          label={t('ulm.register.password')}
          name="password"
          autoComplete="new-password"
          required
          minLength={8}
          maxLength={128}
          hint={t('ulm.register.passwordHint')}
          value={f.password}
          onChange={set('password')}
          error={err('password')}
        />
        <PasswordField label={t('ulm.register.confirm')} name="confirm" autoComplete="new-password" required value={f.confirm} onChange={set('confirm')} error={err('confirm')} />
        <Button busy={m.isPending}>{t('ulm.register.submit')}</Button>
      </form>
      <p>
        {t('ulm.register.haveAccount')} <Link to="/signin">{t('ulm.signIn.title')}</Link>
      </p>
    </PublicPage>
  );
}

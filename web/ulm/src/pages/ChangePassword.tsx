/** Change password: ULM ends the other sessions and refuses reused or common passwords. */
import { useState, type FormEvent } from 'react';
import { useMutation } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { Button, ErrorNote, Notice, PasswordField, useApis, useClaims, useFieldErrors } from '@ovu/shared';
import { ulmApi } from '../api';
import { useTitle } from '../App';

export function ChangePassword() {
  const { t } = useTranslation();
  useTitle(t('ulm.password.title'));
  const { ulm } = useApis();
  const claims = useClaims();
  const [f, setF] = useState({ current: '', next: '', confirm: '' });
  const [mismatch, setMismatch] = useState(false);
  const m = useMutation({
    mutationFn: () => ulmApi(ulm).changePassword(f.current, f.next),
    onSuccess: () => setF({ current: '', next: '', confirm: '' }),
  });
  const err = useFieldErrors(m.error, { confirm: mismatch ? t('validation.mismatch') : undefined });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setMismatch(f.next !== f.confirm);
    if (f.next === f.confirm) m.mutate();
  };
  return (
    <>
      <h1>{t('ulm.password.title')}</h1>
      <div className="card">
        <ErrorNote error={m.error} />
        {m.isSuccess ? <Notice kind="success">{t('ulm.password.done')}</Notice> : null}
        <form onSubmit={submit}>
          {/* Lets password managers attach the new password to the right account. Hidden, so
              it has no label: a labelled field with a hidden input showed a stray "Username". */}
          <input type="text" name="username" autoComplete="username" value={claims?.username ?? ''} readOnly hidden />
          <PasswordField label={t('ulm.password.current')} name="current_password" autoComplete="current-password" required value={f.current} onChange={(e) => setF({ ...f, current: e.target.value })} error={err('current_password')} />
          <PasswordField label={t('ulm.password.new')} name="new_password" autoComplete="new-password" required minLength={8} maxLength={128} hint={t('ulm.register.passwordHint')} value={f.next} onChange={(e) => setF({ ...f, next: e.target.value })} error={err('new_password')} />
          <PasswordField label={t('ulm.password.confirm')} name="confirm" autoComplete="new-password" required value={f.confirm} onChange={(e) => setF({ ...f, confirm: e.target.value })} error={err('confirm')} />
          <Button busy={m.isPending}>{t('ulm.password.submit')}</Button>
        </form>
      </div>
    </>
  );
}

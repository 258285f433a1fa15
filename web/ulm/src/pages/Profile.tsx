/** The person's profile: name, phone and preferred language editable; the rest shown. */
import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { Button, ErrorNote, LANGS, Loading, Notice, SelectField, TextField, formatDateTime, useApis, useFieldErrors } from '@ovu/shared';
import { ulmApi, type User } from '../api';
import { useTitle } from '../App';

export function useMe() {
  const { ulm } = useApis();
  return useQuery({ queryKey: ['me'], queryFn: () => ulmApi(ulm).me() });
}

export function Profile() {
  const { t } = useTranslation();
  useTitle(t('ulm.profile.title'));
  const me = useMe();
  return (
    <>
      <h1>{t('ulm.profile.title')}</h1>
      {me.isPending ? <Loading /> : null}
      <ErrorNote error={me.error} onRetry={() => void me.refetch()} />
      {me.data ? <ProfileForm user={me.data} /> : null}
    </>
  );
}

function ProfileForm({ user }: { user: User }) {
  const { t, i18n } = useTranslation();
  const { ulm } = useApis();
  const qc = useQueryClient();
  const [name, setName] = useState(user.display_name);
  const [lang, setLang] = useState(user.preferred_language);
  const [phone, setPhone] = useState(user.phone);
  const m = useMutation({
    // ULM normalises the number (drops spaces and dashes); empty removes it.
    mutationFn: () => ulmApi(ulm).updateMe({ display_name: name.trim(), preferred_language: lang, phone: phone.trim() }),
    onSuccess: (u) => {
      qc.setQueryData(['me'], u);
      setPhone(u.phone);
      if (u.preferred_language !== i18n.language) void i18n.changeLanguage(u.preferred_language);
    },
  });
  const err = useFieldErrors(m.error);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    m.mutate();
  };
  const lng = i18n.language;
  return (
    <div className="card">
      <dl className="props">
        <dt>{t('ulm.profile.email')}</dt>
        <dd>
          <bdi data-testid="profile-email">{user.email}</bdi>{' '}
          <span className={`badge ${user.email_verified ? 'ok' : 'warn'}`}>
            {user.email_verified ? t('ulm.profile.verified') : t('ulm.profile.notVerified')}
          </span>
        </dd>
        <dt>{t('ulm.profile.username')}</dt>
        <dd>
          <bdi>{user.username}</bdi>
        </dd>
        <dt>{t('ulm.profile.roles')}</dt>
        <dd>{user.roles.join(', ') || '—'}</dd>
        <dt>{t('ulm.profile.memberSince')}</dt>
        <dd>{formatDateTime(lng, user.created_at)}</dd>
        <dt>{t('ulm.profile.lastLogin')}</dt>
        <dd>{formatDateTime(lng, user.last_login_at)}</dd>
      </dl>
      <form onSubmit={submit}>
        <TextField label={t('ulm.profile.displayName')} name="display_name" autoComplete="name" value={name} onChange={(e) => setName(e.target.value)} error={err('display_name')} />
        <TextField
          label={t('ulm.profile.phone')}
          name="phone"
          type="tel"
          autoComplete="tel"
          inputMode="tel"
          ltr
          placeholder="+972 50 123 4567"
          hint={t('ulm.profile.phoneHint')}
          value={phone}
          onChange={(e) => setPhone(e.target.value)}
          error={err('phone')}
        />
        <SelectField label={t('ulm.profile.language')} name="preferred_language" value={lang} onChange={(e) => setLang(e.target.value)} error={err('preferred_language')}>
          {LANGS.map((l) => (
            <option key={l} value={l} lang={l}>
              {t(`common.languages.${l}`)}
            </option>
          ))}
        </SelectField>
        <ErrorNote error={m.error} />
        {m.isSuccess ? <Notice kind="success">{t('common.saved')}</Notice> : null}
        <Button busy={m.isPending}>{t('common.save')}</Button>
      </form>
    </div>
  );
}

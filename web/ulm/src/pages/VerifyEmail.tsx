/** The e-mailed confirmation link: posts the token once and reports the result. */
import { useEffect, useRef } from 'react';
import { Link } from 'react-router';
import { useMutation } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { ErrorNote, Loading, Notice, useApis } from '@ovu/shared';
import { ulmApi } from '../api';
import { PublicPage } from '../App';
import { useLinkToken } from '../linkToken';

export function VerifyEmail() {
  const { t } = useTranslation();
  const { ulm } = useApis();
  const token = useLinkToken();
  const m = useMutation({ mutationFn: (tok: string) => ulmApi(ulm).verifyEmail(tok) });
  const sent = useRef(false);
  useEffect(() => {
    // Once only: StrictMode runs effects twice, and a token is single-use.
    if (token && !sent.current) {
      sent.current = true;
      m.mutate(token);
    }
  }, [token, m]);
  return (
    <PublicPage title={t('ulm.verify.title')}>
      {!token ? <Notice kind="warning">{t('ulm.verify.missing')}</Notice> : null}
      {m.isPending ? <Loading label={t('ulm.verify.working')} /> : null}
      <ErrorNote error={m.error} />
      {m.isSuccess ? (
        <>
          <Notice kind="success">{t('ulm.verify.done')}</Notice>
          <Link to="/signin" data-testid="to-signin">
            {t('ulm.signIn.title')}
          </Link>
        </>
      ) : null}
    </PublicPage>
  );
}

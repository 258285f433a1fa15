/** The person's live sessions: end one, or every one but this. */
import { useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { Dialog, Empty, describeAgent, ErrorNote, Loading, Notice, formatDateTime, useApis, TableWrap } from '@ovu/shared';
import { ulmApi } from '../api';
import { useTitle } from '../App';

export function Sessions() {
  const { t, i18n } = useTranslation();
  useTitle(t('ulm.sessions.title'));
  const { ulm } = useApis();
  const api = ulmApi(ulm);
  const qc = useQueryClient();
  const q = useQuery({ queryKey: ['sessions'], queryFn: () => api.sessions() });
  const [confirm, setConfirm] = useState(false);
  const [done, setDone] = useState<string | null>(null);
  const end = useMutation({
    mutationFn: (id: string) => api.endSession(id),
    onSuccess: () => {
      setDone(t('ulm.sessions.ended'));
      void qc.invalidateQueries({ queryKey: ['sessions'] });
    },
  });
  const endOthers = useMutation({
    mutationFn: async () => {
      for (const s of q.data ?? []) if (!s.current) await api.endSession(s.id);
    },
    onSettled: () => {
      setConfirm(false);
      void qc.invalidateQueries({ queryKey: ['sessions'] });
    },
    onSuccess: () => setDone(t('ulm.sessions.othersEnded')),
  });
  const lng = i18n.language;
  const others = (q.data ?? []).filter((s) => !s.current).length;
  return (
    <>
      <h1>{t('ulm.sessions.title')}</h1>
      <p>{t('ulm.sessions.help')}</p>
      {q.isPending ? <Loading /> : null}
      <ErrorNote error={q.error ?? end.error ?? endOthers.error} onRetry={() => void q.refetch()} />
      {done ? <Notice kind="success">{done}</Notice> : null}
      {q.data && q.data.length === 0 ? <Empty /> : null}
      {q.data && q.data.length > 0 ? (
        <>
          <TableWrap label={t('ulm.sessions.title')}>
            <table>
              <caption className="visually-hidden">{t('ulm.sessions.title')}</caption>
              <thead>
                <tr>
                  <th scope="col">{t('ulm.sessions.device')}</th>
                  <th scope="col">{t('ulm.sessions.ip')}</th>
                  <th scope="col">{t('ulm.sessions.started')}</th>
                  <th scope="col">{t('ulm.sessions.lastUsed')}</th>
                  <th scope="col">{t('common.actions')}</th>
                </tr>
              </thead>
              <tbody>
                {q.data.map((s) => (
                  <tr key={s.id} data-current={s.current || undefined}>
                    <td>
                      {describeAgent(s.user_agent)} {s.current ? <span className="badge ok">{t('ulm.sessions.current')}</span> : null}
                      {s.mfa ? <div className="hint">{t('ulm.sessions.mfaYes')}</div> : null}
                    </td>
                    <td>
                      <bdi className="mono">{s.ip || '—'}</bdi>
                    </td>
                    <td>{formatDateTime(lng, s.created_at)}</td>
                    <td>{formatDateTime(lng, s.last_used_at)}</td>
                    <td>
                      {s.current ? null : (
                        <button type="button" className="button secondary" disabled={end.isPending} onClick={() => end.mutate(s.id)}>
                          {t('ulm.sessions.end')}
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
          <p>
            <button type="button" className="button danger" disabled={others === 0} onClick={() => setConfirm(true)}>
              {t('ulm.sessions.endOthers')}
            </button>
          </p>
        </>
      ) : null}
      <Dialog open={confirm} title={t('ulm.sessions.endOthers')} onClose={() => setConfirm(false)}>
        <p>{t('ulm.sessions.confirmOthers')}</p>
        <div className="actions">
          <button type="button" className="button danger" disabled={endOthers.isPending} onClick={() => endOthers.mutate()}>
            {t('common.confirm')}
          </button>
          <button type="button" className="button secondary" onClick={() => setConfirm(false)}>
            {t('common.cancel')}
          </button>
        </div>
      </Dialog>
    </>
  );
}

/** Routes of the ULM app; account pages need a session, and an ended session returns to sign-in. */
import { useEffect, type ReactNode } from 'react';
import { BrowserRouter, Navigate, NavLink, Outlet, Route, Routes, useLocation } from 'react-router';
import { useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { Shell, useApis, useClaims } from '@ovu/shared';
import { ulmApi } from './api';
import { SignIn } from './pages/SignIn';
import { Register } from './pages/Register';
import { VerifyEmail } from './pages/VerifyEmail';
import { Forgot, Reset } from './pages/Password';
import { Profile } from './pages/Profile';
import { ChangePassword } from './pages/ChangePassword';
import { Mfa } from './pages/Mfa';
import { Sessions } from './pages/Sessions';
import { ApiKeys } from './pages/ApiKeys';

export type Notice = 'sessionExpired' | 'signedOut' | 'verified' | 'passwordReset';

/**
 * Drops cached data of an ended session. The redirect to sign-in (with the reason) is made by
 * the route guard, which re-renders when the session changes.
 */
function SessionWatcher() {
  const { session } = useApis();
  const qc = useQueryClient();
  useEffect(
    () =>
      session.subscribe((e) => {
        if (e.type === 'expired' || e.type === 'signed-out') qc.clear();
      }),
    [session, qc],
  );
  return null;
}

function RequireSession({ children }: { children: ReactNode }) {
  const claims = useClaims();
  const { session } = useApis();
  const loc = useLocation();
  if (!claims) {
    const ended = session.lastEnd;
    // After an explicit sign-out there is nothing to come back to.
    const next = ended === 'signed-out' ? '' : `?next=${encodeURIComponent(loc.pathname)}`;
    const notice: Notice | undefined = ended === 'expired' ? 'sessionExpired' : ended === 'signed-out' ? 'signedOut' : undefined;
    return <Navigate to={`/signin${next}`} replace state={notice ? { notice } : null} />;
  }
  return <>{children}</>;
}

export function PublicPage({ title, children }: { title: string; children: ReactNode }) {
  const { t } = useTranslation();
  useTitle(title);
  return (
    <Shell title={t('ulm.title')}>
      <div className="card narrow">
        <h1>{title}</h1>
        {children}
      </div>
    </Shell>
  );
}

export function useTitle(title: string) {
  const { t } = useTranslation();
  useEffect(() => {
    document.title = `${title} · ${t('ulm.title')}`;
  }, [title, t]);
}

function AccountLayout() {
  const { t } = useTranslation();
  const { ulm, session } = useApis();
  const signOut = async () => {
    try {
      await ulmApi(ulm).logout();
    } catch {
      // Signing out locally still happens; the session then expires on its own at ULM.
    }
    session.clear('signed-out');
  };
  const links: [string, string][] = [
    ['/account', t('ulm.nav.profile')],
    ['/account/password', t('ulm.nav.password')],
    ['/account/mfa', t('ulm.nav.security')],
    ['/account/sessions', t('ulm.nav.sessions')],
    ['/account/api-keys', t('ulm.nav.apiKeys')],
  ];
  return (
    <Shell
      title={t('ulm.title')}
      nav={
        <ul>
          {links.map(([to, label]) => (
            <li key={to}>
              <NavLink to={to} end>
                {label}
              </NavLink>
            </li>
          ))}
        </ul>
      }
      actions={
        <button type="button" className="button secondary" onClick={() => void signOut()} data-testid="sign-out">
          {t('common.signOut')}
        </button>
      }
    >
      <Outlet />
    </Shell>
  );
}

function NotFound() {
  const { t } = useTranslation();
  return (
    <PublicPage title={t('common.notFound')}>
      <NavLink to="/">{t('common.goHome')}</NavLink>
    </PublicPage>
  );
}

export function App() {
  return (
    <BrowserRouter>
      <SessionWatcher />
      <Routes>
        <Route path="/" element={<Navigate to="/account" replace />} />
        <Route path="/signin" element={<SignIn />} />
        <Route path="/register" element={<Register />} />
        <Route path="/verify-email" element={<VerifyEmail />} />
        <Route path="/forgot-password" element={<Forgot />} />
        <Route path="/reset-password" element={<Reset />} />
        <Route
          path="/account"
          element={
            <RequireSession>
              <AccountLayout />
            </RequireSession>
          }
        >
          <Route index element={<Profile />} />
          <Route path="password" element={<ChangePassword />} />
          <Route path="mfa" element={<Mfa />} />
          <Route path="sessions" element={<Sessions />} />
          <Route path="api-keys" element={<ApiKeys />} />
        </Route>
        <Route path="*" element={<NotFound />} />
      </Routes>
    </BrowserRouter>
  );
}

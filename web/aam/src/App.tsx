/** Routes of the admin panel; every page needs a session whose token carries `aam:access`. */
import { useEffect, type ReactNode } from 'react';
import { BrowserRouter, Navigate, NavLink, Outlet, Route, Routes, useLocation, useNavigate } from 'react-router';
import { useQueryClient } from '@tanstack/react-query';
import { useTranslation } from 'react-i18next';
import { Shell, useApis, useClaims } from '@ovu/shared';
import { ulmAuth } from './api';
import { hasPanelAccess, mustEnrol } from './logic';
import { SignIn } from './pages/SignIn';
import { EnrolPage } from './pages/Enrol';
import { DashboardPage } from './pages/Dashboard';
import { UsersPage } from './pages/Users';
import { UserDetail } from './pages/UserDetail';
import { RolesPage } from './pages/Roles';
import { AppsPage } from './pages/Apps';
import { AppDetail } from './pages/AppDetail';
import { SettingsPage } from './pages/Settings';
import { AuditPage } from './pages/Audit';
import { SystemPage } from './pages/System';

export type Notice = 'sessionExpired' | 'signedOut' | 'noAccess';

/**
 * Drops cached data of an ended session. The redirect to sign-in (with the reason) is made by
 * the route guard, which re-renders when the session changes. A page whose data comes back
 * `mfa_required` (the policy was switched on, or a reload of a password-only session) sends
 * the admin to enrolment.
 */
function SessionWatcher() {
  const { session } = useApis();
  const qc = useQueryClient();
  const navigate = useNavigate();
  useEffect(
    () =>
      session.subscribe((e) => {
        if (e.type === 'expired' || e.type === 'signed-out') qc.clear();
      }),
    [session, qc],
  );
  useEffect(
    () =>
      qc.getQueryCache().subscribe((e) => {
        if (e.type === 'updated' && e.action.type === 'error' && mustEnrol(e.action.error)) {
          const here = window.location.pathname + window.location.search;
          if (!here.startsWith('/enrol')) void navigate(`/enrol?next=${encodeURIComponent(here)}`, { replace: true });
        }
      }),
    [qc, navigate],
  );
  return null;
}

function RequireAdmin({ children }: { children: ReactNode }) {
  const claims = useClaims();
  const { session } = useApis();
  const loc = useLocation();
  if (!claims) {
    const ended = session.lastEnd;
    // After an explicit sign-out there is nothing to come back to.
    const next = ended === 'signed-out' ? '' : `?next=${encodeURIComponent(loc.pathname + loc.search)}`;
    const notice: Notice | undefined = ended === 'expired' ? 'sessionExpired' : ended === 'signed-out' ? 'signedOut' : undefined;
    return <Navigate to={`/signin${next}`} replace state={notice ? { notice } : null} />;
  }
  if (!hasPanelAccess(claims)) return <Navigate to="/signin" replace state={{ notice: 'noAccess' satisfies Notice }} />;
  return <>{children}</>;
}

export function useTitle(title: string) {
  const { t } = useTranslation();
  useEffect(() => {
    document.title = `${title} · ${t('aam.title')}`;
  }, [title, t]);
}

function Layout() {
  const { t } = useTranslation();
  const { ulm, session } = useApis();
  const claims = useClaims();
  const signOut = async () => {
    try {
      await ulmAuth(ulm).logout();
    } catch {
      // The local session ends regardless; ULM's copy expires on its own.
    }
    session.clear('signed-out');
  };
  const links: [string, string][] = [
    ['/', t('aam.nav.dashboard')],
    ['/users', t('aam.nav.users')],
    ['/roles', t('aam.nav.roles')],
    ['/apps', t('aam.nav.apps')],
    ['/settings', t('aam.nav.settings')],
    ['/audit', t('aam.nav.audit')],
    ['/system', t('aam.nav.system')],
  ];
  return (
    <Shell
      title={t('aam.title')}
      nav={
        <ul>
          {links.map(([to, label]) => (
            <li key={to}>
              <NavLink to={to} end={to === '/'}>
                {label}
              </NavLink>
            </li>
          ))}
        </ul>
      }
      actions={
        <>
          {claims?.username ? <bdi className="hint">{claims.username}</bdi> : null}
          <button type="button" className="button secondary" onClick={() => void signOut()} data-testid="sign-out">
            {t('common.signOut')}
          </button>
        </>
      }
    >
      <Outlet />
    </Shell>
  );
}

function NotFound() {
  const { t } = useTranslation();
  return (
    <>
      <h1>{t('common.notFound')}</h1>
      <NavLink to="/">{t('common.goHome')}</NavLink>
    </>
  );
}

export function App() {
  return (
    <BrowserRouter>
      <SessionWatcher />
      <Routes>
        <Route path="/signin" element={<SignIn />} />
        <Route
          path="/enrol"
          element={
            <RequireAdmin>
              <EnrolPage />
            </RequireAdmin>
          }
        />
        <Route
          element={
            <RequireAdmin>
              <Layout />
            </RequireAdmin>
          }
        >
          <Route index element={<DashboardPage />} />
          <Route path="users" element={<UsersPage />} />
          <Route path="users/:id" element={<UserDetail />} />
          <Route path="roles" element={<RolesPage />} />
          <Route path="apps" element={<AppsPage />} />
          <Route path="apps/:id" element={<AppDetail />} />
          <Route path="settings" element={<SettingsPage />} />
          <Route path="audit" element={<AuditPage />} />
          <Route path="system" element={<SystemPage />} />
          <Route path="*" element={<NotFound />} />
        </Route>
      </Routes>
    </BrowserRouter>
  );
}

/** The admin panel wired to a scripted ULM and AAM: only tokens with `aam:access` get in. */
import { describe, expect, it } from 'vitest';
import { render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { I18nextProvider } from 'react-i18next';
import { ApiClient, ApiContext, Session, createI18n } from '@ovu/shared';
import { App } from './App';
import en from './locales/en';
import he from './locales/he';
import ar from './locales/ar';

function jwt(claims: object): string {
  const b = (o: object) => btoa(JSON.stringify(o)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
  return `${b({ alg: 'EdDSA' })}.${b(claims)}.sig`;
}
const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });

const mfaRequired = () => json(403, { error: { code: 'mfa_required', message: 'multi-factor authentication is required for this action', details: {} } });

/** `enrol`: the policy requires MFA of admins and this one has none yet (AAM and ULM say `mfa_required`). */
function mount(permissions: string[], opts: { enrol?: boolean } = {}) {
  const seen: string[] = [];
  let enrolled = false;
  const fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    seen.push(`${init?.method ?? 'GET'} ${url}`);
    if (opts.enrol) {
      const bearer = new Headers(init?.headers).get('Authorization') ?? '';
      const mfaToken = bearer.endsWith(jwt({ sub: 'u1', username: 'sam', permissions, mfa: true }));
      if (url.endsWith('/api/v1/auth/mfa/setup')) return json(200, { secret: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP', otpauth_uri: 'otpauth://totp/OVU:sam?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP' });
      if (url.endsWith('/api/v1/auth/mfa/enable')) {
        if (JSON.parse(String(init?.body)).code !== '123456')
          return json(422, { error: { code: 'validation_failed', message: 'the code is wrong or expired', details: { fields: { code: 'the code is wrong or expired' } } } });
        enrolled = true;
        return json(200, { recovery_codes: ['aaaa-bbbb-cccc-dddd-eeee-ffff', 'gggg-hhhh-iiii-jjjj-kkkk-llll'] });
      }
      if (url.endsWith('/api/v1/auth/refresh'))
        return json(200, { access_token: jwt({ sub: 'u1', username: 'sam', permissions, mfa: enrolled }), refresh_token: 'r2', token_type: 'Bearer', expires_in: 900, user: {} });
      // AAM checks the token's own mfa claim, whatever ULM's session says.
      if (url.includes('/api/v1/apps') || url.endsWith('/api/v1/dashboard')) {
        if (!mfaToken) return mfaRequired();
      }
    }
    if (url.endsWith('/api/v1/auth/login'))
      return json(200, { access_token: jwt({ sub: 'u1', username: 'sam', permissions }), refresh_token: 'r1', token_type: 'Bearer', expires_in: 900, user: {} });
    if (url.endsWith('/api/v1/auth/logout')) return new Response(null, { status: 204 });
    if (url.endsWith('/api/v1/dashboard'))
      return json(200, {
        ulm_available: false,
        users: null,
        logins_capped: false,
        daily: [],
        services: [{ component: 'redis', status: 'healthy', latency_ms: 1, checked_at: '2026-01-01T00:00:00Z', message: '' }],
        apps: { total: 2, by_status: [] },
        generated_at: '2026-01-01T00:00:00Z',
      });
    if (url.endsWith('/api/v1/system/health'))
      return json(200, {
        status: 'healthy',
        components: [],
        last_24h: [],
        checked_at: '2026-01-01T00:00:00Z',
        cluster: {
          name: 'ovu',
          namespace: 'ovu',
          phase: 'Ready',
          conditions: [{ type: 'BackupHealthy', status: 'True', reason: 'LastBackupSucceeded', message: 'backup ovu-backup-1 succeeded and a test restore of it held every table' }],
          backup: { lastSuccessTime: '2026-01-02T03:00:00Z', lastVerifiedTime: '2026-01-02T03:00:00Z', lastBackup: 'ovu-backup-1' },
        },
      });
    return json(404, { error: { code: 'not_found', message: 'not found', details: {} } });
  }) as typeof globalThis.fetch;
  const session = new Session();
  const i18n = createI18n({ en, he, ar }, 'en');
  const c = (baseUrl: string) => new ApiClient({ baseUrl, session, refreshUrl: 'http://ulm.test/api/v1/auth/refresh', fetch });
  window.history.replaceState(null, '', '/');
  render(
    <I18nextProvider i18n={i18n}>
      <ApiContext.Provider value={{ session, ulm: c('http://ulm.test'), app: c('') }}>
        <QueryClientProvider client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}>
          <App />
        </QueryClientProvider>
      </ApiContext.Provider>
    </I18nextProvider>,
  );
  return { seen, session };
}

async function signIn() {
  await waitFor(() => expect(window.location.pathname).toBe('/signin'));
  await userEvent.type(screen.getByLabelText(/Username or e-mail/), 'sam');
  await userEvent.type(screen.getByLabelText(/^Password/), 'pw-long-enough');
  await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
}

describe('AAM app', () => {
  it('refuses a token without aam:access and ends that session at ULM', async () => {
    const { seen, session } = mount(['api_keys:read']);
    await signIn();
    expect(await screen.findByText('Your account cannot use the admin panel.')).toBeTruthy();
    expect(session.signedIn).toBe(false);
    expect(seen).toContain('POST http://ulm.test/api/v1/auth/logout');
    expect(window.location.pathname).toBe('/signin');
  });

  it('lets an admin in; ULM being down shows as a notice, not a failure', async () => {
    const { seen } = mount(['aam:access', 'audit:read']);
    await signIn();
    expect(await screen.findByText('ULM cannot be reached: user figures are not available.')).toBeTruthy();
    expect(seen).toContain('POST http://ulm.test/api/v1/auth/login');
    expect(seen).toContain('GET /api/v1/dashboard');
    expect(screen.getByRole('heading', { level: 1 }).textContent).toBe('Dashboard');
  });

  it("shows the OvuSystem's backups: the last success, the last one a test restore proved, and what is missing", async () => {
    mount(['aam:access']);
    await signIn();
    await userEvent.click(await screen.findByRole('link', { name: 'System health' }));
    const value = async (label: string) => (await screen.findByText(label)).nextElementSibling?.textContent;
    const verified = await value('Last backup proved by a test restore');
    expect(verified).toBeTruthy();
    expect(verified).not.toBe('—');
    expect(verified).toBe(await value('Last successful backup'));
    // No scheduled run yet: said as a dash, not an invented time.
    expect(await value('Last scheduled run')).toBe('—');
  });

  it('walks an admin who must enrol through MFA setup, shows the recovery codes once, then the dashboard', async () => {
    const { seen, session } = mount(['aam:access', 'audit:read'], { enrol: true });
    await signIn();
    await userEvent.click(await screen.findByRole('button', { name: 'Set up two-step verification' }));
    expect(window.location.pathname).toBe('/enrol');
    expect((await screen.findByTestId('mfa-secret')).textContent).toBe('JBSW Y3DP EHPK 3PXP JBSW Y3DP EHPK 3PXP');
    expect(screen.getByTestId('mfa-link').getAttribute('href')).toMatch(/^otpauth:\/\/totp\//);
    // A wrong code is explained and can be retried.
    await userEvent.type(screen.getByLabelText(/Code from the app/), '000000');
    await userEvent.click(screen.getByRole('button', { name: 'Verify and turn on' }));
    expect((await screen.findByRole('alert')).textContent).toBe('Some of the information is not valid.');
    await userEvent.clear(screen.getByLabelText(/Code from the app/));
    await userEvent.type(screen.getByLabelText(/Code from the app/), '123 456');
    await userEvent.click(screen.getByRole('button', { name: 'Verify and turn on' }));
    const codes = await screen.findByTestId('recovery-codes');
    expect(codes.textContent).toContain('aaaa-bbbb-cccc-dddd-eeee-ffff');
    await userEvent.click(screen.getByRole('button', { name: 'I have saved my codes, continue' }));
    expect(await screen.findByText('ULM cannot be reached: user figures are not available.')).toBeTruthy();
    expect(window.location.pathname).toBe('/');
    // The new token carries the second factor AAM asks for.
    expect(seen).toContain('POST http://ulm.test/api/v1/auth/refresh');
    expect(session.claims?.mfa).toBe(true);
    expect(screen.queryByTestId('recovery-codes')).toBeNull();
  });

  it('sends a password-only session whose pages answer mfa_required to enrolment', async () => {
    mount(['aam:access', 'audit:read'], { enrol: true });
    await signIn();
    expect(await screen.findByRole('heading', { level: 1, name: 'Turn on two-step verification' })).toBeTruthy();
    expect(window.location.search).toBe('?next=%2F');
  });
});

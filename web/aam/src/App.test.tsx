/** The admin panel wired to a scripted ULM and AAM: only tokens with `aam:access` get in. */
import { describe, expect, it } from 'vitest';
import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { I18nextProvider } from 'react-i18next';
import { ApiClient, ApiContext, Session, createI18n } from '@ovu/shared';
import { App } from './App';
import { locales } from './locales';

function jwt(claims: object): string {
  const b = (o: object) => btoa(JSON.stringify(o)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
  return `${b({ alg: 'EdDSA' })}.${b(claims)}.sig`;
}
const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });

const mfaRequired = () => json(403, { error: { code: 'mfa_required', message: 'multi-factor authentication is required for this action', details: {} } });

/** `enrol`: the policy requires MFA of admins and this one has none yet (AAM and ULM say `mfa_required`). */
async function mount(permissions: string[], opts: { enrol?: boolean; lang?: 'en' | 'he' | 'ar'; path?: string; extra?: (url: string, init?: RequestInit) => Response | undefined } = {}) {
  const seen: string[] = [];
  let enrolled = false;
  const fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    seen.push(`${init?.method ?? 'GET'} ${url}`);
    const answer = opts.extra?.(url, init);
    if (answer) return answer;
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
          message: 'all tiers are serving',
          certificate: { notAfter: '2027-01-02T03:00:00Z' },
          conditions: [
            { type: 'BackupHealthy', status: 'True', reason: 'LastBackupSucceeded', message: 'backup ovu-backup-1 succeeded and a test restore of it held every table' },
            { type: 'DatabaseReady', status: 'False', reason: 'SomethingNew', message: 'postgres 0/1: a message this build does not know' },
          ],
          backup: { lastSuccessTime: '2026-01-02T03:00:00Z', lastVerifiedTime: '2026-01-02T03:00:00Z', lastBackup: 'ovu-backup-1' },
        },
      });
    return json(404, { error: { code: 'not_found', message: 'not found', details: {} } });
  }) as typeof globalThis.fetch;
  const session = new Session();
  const i18n = await createI18n(locales, opts.lang ?? 'en');
  const c = (baseUrl: string) => new ApiClient({ baseUrl, session, refreshUrl: 'http://ulm.test/api/v1/auth/refresh', fetch });
  window.history.replaceState(null, '', opts.path ?? '/');
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
  const form = document.querySelector('main form') as HTMLFormElement;
  await userEvent.type(form.querySelector('input[name=login]') as HTMLInputElement, 'sam');
  await userEvent.type(form.querySelector('input[name=password]') as HTMLInputElement, 'pw-long-enough');
  await userEvent.click(form.querySelector('button[type=submit]') as HTMLButtonElement);
}

describe('AAM app', () => {
  it('refuses a token without aam:access and ends that session at ULM', async () => {
    const { seen, session } = await mount(['api_keys:read']);
    await signIn();
    expect(await screen.findByText('Your account cannot use the admin panel.')).toBeTruthy();
    expect(session.signedIn).toBe(false);
    expect(seen).toContain('POST http://ulm.test/api/v1/auth/logout');
    expect(window.location.pathname).toBe('/signin');
  });

  it('lets an admin in; ULM being down shows as a notice, not a failure', async () => {
    const { seen } = await mount(['aam:access', 'audit:read']);
    await signIn();
    expect(await screen.findByText('ULM cannot be reached: user figures are not available.')).toBeTruthy();
    expect(seen).toContain('POST http://ulm.test/api/v1/auth/login');
    expect(seen).toContain('GET /api/v1/dashboard');
    expect(screen.getByRole('heading', { level: 1 }).textContent).toBe('Dashboard');
  });

  it("shows the OvuSystem's backups: the last success, the last one a test restore proved, and what is missing", async () => {
    await mount(['aam:access']);
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
    const { seen, session } = await mount(['aam:access', 'audit:read'], { enrol: true });
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
    await mount(['aam:access', 'audit:read'], { enrol: true });
    await signIn();
    expect(await screen.findByRole('heading', { level: 1, name: 'Turn on two-step verification' })).toBeTruthy();
    expect(window.location.search).toBe('?next=%2F');
  });
});

const U1 = '11111111-1111-4111-8111-111111111111';
const U2 = '22222222-2222-4222-8222-222222222222';
const person = (id: string, display_name: string, email: string) => ({
  id,
  email,
  username: email.split('@')[0],
  display_name,
  phone: '',
  preferred_language: 'en',
  status: 'active',
  email_verified: true,
  mfa_enabled: false,
  roles: ['user'],
  created_at: '2026-01-01T00:00:00Z',
  updated_at: '2026-01-01T00:00:00Z',
  last_login_at: null,
  deactivated_at: null,
  deactivation_reason: null,
  scheduled_deactivation_at: null,
  scheduled_deactivation_reason: null,
});
const ev = (o: object) => ({ ip: '198.18.0.1', user_agent: 'curl/8', request_id: 'r', occurred_at: '2026-01-02T03:04:05Z', resource_type: '', resource_id: '', ...o });

describe('AAM pages in words', () => {
  it('audit: who did what to whom in words, details as key: value, filters and the page in the address', async () => {
    const feedUrls: string[] = [];
    const { seen } = await mount(['aam:access', 'audit:read'], {
      path: '/audit?source=ulm',
      extra: (url) => {
        if (url.includes(`/api/v1/users/${U1}`)) return json(200, person(U1, 'Admin Person', 'admin@example.com'));
        if (url.includes(`/api/v1/users/${U2}`)) return json(200, person(U2, 'Dana', 'dana@example.com'));
        if (url.startsWith('/api/v1/users?')) return json(200, []);
        if (url.startsWith('/api/v1/audit?') || url === '/api/v1/audit') {
          feedUrls.push(url);
          return json(200, {
            sources: { ulm: 'ok', aam: 'ok' },
            next_cursor: url.includes('cursor=') ? null : 'c2',
            items: [
              ev({ id: 'ulm-3', source: 'ulm', action: 'user_deactivated', actor_id: U1, actor_name: null, resource_type: 'user', resource_id: U2, details: { reason: 'left the company' } }),
              ev({ id: 'ulm-2', source: 'ulm', action: 'login_succeeded', actor_id: U2, actor_name: null, resource_type: 'user', resource_id: U2, details: {} }),
              ev({ id: 'ulm-4', source: 'ulm', action: 'logout', actor_id: U2, actor_name: null, resource_type: 'user', resource_id: U2, details: { session_id: '40b7ce01-5e64-4a83-93da-e8bb9defaee7' } }),
              ev({ id: 'aam-1', source: 'aam', action: 'setting.update', actor_id: U1, actor_name: 'sam', resource_type: 'setting', resource_id: 'general/site_name', old_value: 'OVU', new_value: 'OVU Two' }),
              ev({ id: 'ulm-1', source: 'ulm', action: 'brand_new_event', actor_id: null, actor_name: null, details: {} }),
            ],
          });
        }
        return undefined;
      },
    });
    await signIn();
    const table = await screen.findByTestId('audit-table');
    await waitFor(() => expect(table.textContent).toContain('admin@example.com'));
    const row = (action: string) => table.querySelector(`tr[data-action="${action}"]`) as HTMLElement;
    const cell = (action: string, col: string) => row(action).querySelector(`[data-col=${col}]`)?.textContent;
    expect(cell('user_deactivated', 'who')).toBe('Admin Personadmin@example.com');
    expect(cell('user_deactivated', 'what')).toBe('Deactivated an account');
    expect(cell('user_deactivated', 'target')).toBe('Danadana@example.com');
    expect(cell('user_deactivated', 'details')).toBe('Reasonleft the company');
    expect(cell('login_succeeded', 'what')).toBe('Signed in');
    expect(cell('login_succeeded', 'details')).toBe('');
    expect(cell('logout', 'details')).toBe('Session40b7ce01…');
    expect(cell('setting.update', 'who')).toBe('Admin Personadmin@example.com');
    expect(cell('login_succeeded', 'target')).toBe('');
    expect(cell('setting.update', 'target')).toBe('Setting: Product name in page titles and e-mails');
    expect(cell('setting.update', 'details')).toBe('ValueOVU → changed to OVU Two');
    // An action this build does not know is shown as it is; nobody signed in is said in words.
    expect(cell('brand_new_event', 'what')).toBe('brand_new_event');
    expect(cell('brand_new_event', 'who')).toBe('System or not signed in');
    expect(table.textContent).not.toContain('{}');
    expect(table.textContent).not.toContain(U1);
    expect(table.textContent).not.toMatch(/user_deactivated|login_succeeded|setting\.update/);

    // The address's filters reached the form and the request.
    expect((screen.getByLabelText('Service') as HTMLSelectElement).value).toBe('ulm');
    expect(feedUrls[0]).toContain('source=ulm');
    // The next page is in the address too.
    await userEvent.click(screen.getByTestId('audit-older'));
    await waitFor(() => expect(window.location.search).toBe('?source=ulm&cursor=c2'));
    await waitFor(() => expect(feedUrls.at(-1)).toContain('cursor=c2'));
    // A new filter starts at the first page; the action is picked by its words.
    await userEvent.selectOptions(screen.getByLabelText('Action'), 'Deactivated an account');
    await userEvent.click(screen.getByRole('button', { name: 'Apply filters' }));
    await waitFor(() => expect(window.location.search).toBe('?action=user_deactivated&source=ulm'));
    await waitFor(() => expect(feedUrls.at(-1)).toMatch(/action=user_deactivated/));
    expect(feedUrls.at(-1)).not.toContain('cursor');
    // An e-mail in the "User" filter is looked up and sent as the id.
    await userEvent.type(screen.getByLabelText(/^User/), 'nobody@example.com');
    await userEvent.click(screen.getByRole('button', { name: 'Apply filters' }));
    expect(await screen.findByText('No user has this e-mail, username or id.')).toBeTruthy();
    expect(window.location.search).toContain('actor=nobody%40example.com');
    expect(seen.some((u) => u.startsWith('GET /api/v1/users?') && u.includes('q=nobody%40example.com'))).toBe(true);
  }, 20_000);

  it('system health in Hebrew: labelled certificate expiry, translated conditions and status, unknown text as it is', async () => {
    await mount(['aam:access'], { lang: 'he', path: '/system' });
    await signIn();
    const cluster = await screen.findByTestId('cluster');
    const dt = [...cluster.querySelectorAll('dt')].find((d) => d.textContent === 'תוקף התעודה עד');
    expect(dt).toBeTruthy();
    expect(dt?.nextElementSibling?.getAttribute('data-testid')).toBe('cert-expires');
    expect(dt?.nextElementSibling?.textContent).toMatch(/2027/);
    expect(cluster.textContent).toContain('כל השכבות פועלות');
    expect(cluster.textContent).toContain('מוכן');
    const backup = cluster.querySelector('li[data-type=BackupHealthy]')?.textContent ?? '';
    expect(backup).toContain('גיבויים');
    expect(backup).toContain('הגיבוי האחרון הצליח');
    expect(backup).toContain('הגיבוי ovu-backup-1 הצליח');
    expect(backup).not.toMatch(/succeeded|LastBackupSucceeded/);
    const db = cluster.querySelector('li[data-type=DatabaseReady]')?.textContent ?? '';
    expect(db).toContain('SomethingNew');
    expect(db).toContain('postgres 0/1: a message this build does not know');
  });

  it('roles in Hebrew: seeded descriptions translated, an admin\'s own words as they are', async () => {
    const role = (name: string, description: string) => ({ id: `r-${name}`, name, description, is_system: name !== 'auditors', permissions: [], created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z' });
    await mount(['aam:access', 'roles:read'], {
      lang: 'he',
      path: '/roles',
      extra: (url) => (url === '/api/v1/roles' ? json(200, [role('admin', 'user and role administration'), role('auditors', 'read the audit log')]) : url === '/api/v1/permissions' ? json(200, []) : undefined),
    });
    await signIn();
    expect(await screen.findByText('ניהול משתמשים ותפקידים')).toBeTruthy();
    expect(screen.getByText('read the audit log')).toBeTruthy();
    expect(screen.queryByText('user and role administration')).toBeNull();
  });

  it("a user's sessions name the browser and system, like the account app", async () => {
    await mount(['aam:access', 'users:read'], {
      path: `/users/${U2}`,
      extra: (url) => {
        if (url === `/api/v1/users/${U2}/sessions`)
          return json(200, [
            { id: 's1', created_at: '2026-01-01T00:00:00Z', last_used_at: '2026-01-01T00:00:00Z', expires_at: '2026-02-01T00:00:00Z', ip: '198.18.0.1', mfa: false, current: false, user_agent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36' },
          ]);
        if (url === `/api/v1/users/${U2}`) return json(200, person(U2, 'Dana', 'dana@example.com'));
        return undefined;
      },
    });
    await signIn();
    expect(await screen.findByText('Chrome · Linux')).toBeTruthy();
    expect(screen.queryByText(/Mozilla\/5\.0/)).toBeNull();
  });

  it('dashboard: each service name and latency sits in its own isolate (bidi)', async () => {
    await mount(['aam:access', 'audit:read'], { lang: 'he' });
    await signIn();
    const li = (await screen.findByText('Redis')).closest('li') as HTMLElement;
    expect(li.querySelector('bdi.name')?.textContent).toBe('Redis');
    expect(li.querySelector('bdi.latency')?.textContent).toBe('1 מ״ש');
  });

  it('settings: a typed form per group, one Save sends only the changed keys, a refusal stays beside its field with its code', async () => {
    const setting = (category: string, key: string, type: string, value: unknown, schema: object, extra: object = {}) => ({
      category, key, type, value, schema, description: key, default_value: value, is_default: true, sensitive: false, source: 'aam', updated_at: null, updated_by: null, ...extra,
    });
    let list = [
      setting('general', 'site_name', 'text', 'OVU', { type: 'string', maxLength: 100 }),
      setting('general', 'default_language', 'enum', 'en', { type: 'string', enum: ['en', 'he', 'ar'] }),
      setting('general', 'support_email', 'email', '', { type: 'string', format: 'email', maxLength: 254 }),
      setting('maintenance', 'banner_enabled', 'boolean', false, { type: 'boolean' }),
      setting('notifications', 'alert_webhook_url', 'url', '', { type: 'string', format: 'uri', maxLength: 2000 }, { sensitive: true }),
      setting('audit', 'retention_days', 'integer', 365, { type: 'integer', minimum: 30, maximum: 3650 }),
      setting('security', 'session_policy', 'object', { access_ttl_secs: 900 }, { type: 'object', readOnly: true }, { source: 'ulm' }),
    ];
    const puts: [string, unknown][] = [];
    await mount(['aam:access', 'settings:read', 'settings:write'], {
      path: '/settings',
      extra: (url, init) => {
        if (url === '/api/v1/settings') return json(200, list);
        const m = /^\/api\/v1\/settings\/(\w+)\/(\w+)$/.exec(url);
        if (m && init?.method === 'PUT') {
          const value = (JSON.parse(String(init.body)) as { value: unknown }).value;
          puts.push([`${m[1]}.${m[2]}`, value]);
          if ((m[2] === 'retention_days' && (value as number) < 30) || (m[2] === 'support_email' && value === 'nope'))
            return json(422, { error: { code: 'validation_failed', message: 'expected an integer from 30 to 3650', details: { field: 'value' } } });
          list = list.map((s) => (s.key === m[2] ? { ...s, value, is_default: false } : s));
          return json(200, list.find((s) => s.key === m[2]));
        }
        return undefined;
      },
    });
    await signIn();
    const general = (await screen.findByRole('form', { name: 'General' }, { timeout: 5000 })) as HTMLFormElement;
    const save = (f: HTMLElement) => f.querySelector('button[type=submit]') as HTMLButtonElement;
    // Typed inputs: a select with translated choices, a number with the schema's bounds, a
    // switch, and the read-only object as JSON with no Save in its group.
    expect(within(general).getByRole('option', { name: 'עברית' })).toBeTruthy();
    const days = screen.getByLabelText('Days to keep audit events') as HTMLInputElement;
    expect([days.type, days.min, days.max]).toEqual(['number', '30', '3650']);
    expect((screen.getByRole('switch') as HTMLInputElement).checked).toBe(false);
    expect((screen.getByLabelText('Webhook called when a service turns unhealthy') as HTMLInputElement).type).toBe('url');
    expect(save(screen.getByRole('form', { name: 'Security' }))).toBeNull();
    expect(save(general).disabled).toBe(true);

    const name = screen.getByLabelText('Product name in page titles and e-mails');
    await userEvent.clear(name);
    await userEvent.type(name, 'Acme');
    await userEvent.click(save(general));
    await waitFor(() => expect(general.querySelector('.alert-success')).toBeTruthy());
    // Only the key that changed went out, as a string; the language was not touched.
    expect(puts).toEqual([['general.site_name', 'Acme']]);
    expect(save(general).disabled).toBe(true);

    const audit = screen.getByRole('form', { name: 'Audit' });
    await userEvent.clear(days);
    await userEvent.type(days, '5');
    await userEvent.click(save(audit));
    // The server's refusal beside the field, with its code; the typed value is kept.
    await waitFor(() => expect(days.getAttribute('aria-invalid')).toBe('true'));
    expect(document.getElementById(days.getAttribute('aria-describedby')!)?.textContent).toBe('Enter a whole number from 30 to 3650. (validation_failed)');
    expect(days.value).toBe('5');
    expect(puts.at(-1)).toEqual(['audit.retention_days', 5]);

    // One Save, two keys: the accepted one is saved, the refused one keeps its text and says why.
    const mail = screen.getByLabelText('Support e-mail address') as HTMLInputElement;
    expect(mail.type).toBe('email');
    await userEvent.type(mail, 'nope');
    await userEvent.clear(name);
    await userEvent.type(name, 'Acme 2');
    await userEvent.click(save(general));
    await waitFor(() => expect(mail.getAttribute('aria-invalid')).toBe('true'));
    expect(document.getElementById(mail.getAttribute('aria-describedby')!)?.textContent).toBe('Enter an e-mail address, or leave it empty. (validation_failed)');
    expect(puts.slice(-2).sort()).toEqual([['general.site_name', 'Acme 2'], ['general.support_email', 'nope']]);
    expect([mail.value, (name as HTMLInputElement).value]).toEqual(['nope', 'Acme 2']);
    expect(list.find((s) => s.key === 'site_name')?.value).toBe('Acme 2');

    await userEvent.click(screen.getByRole('switch'));
    await userEvent.click(save(screen.getByRole('form', { name: 'Maintenance' })));
    await waitFor(() => expect(puts.at(-1)).toEqual(['maintenance.banner_enabled', true]));
    expect(days.value).toBe('5');
  });
});

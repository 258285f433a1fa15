/**
 * The account app wired to a scripted ULM: sign-in lands on the profile; when ULM ends the
 * session, the next request sends the person back to sign-in with a message; the tokens are
 * never written to storage.
 */
import { describe, expect, it } from 'vitest';
import { render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { I18nextProvider } from 'react-i18next';
import { ApiClient, ApiContext, Session, createI18n } from '@ovu/shared';
import { App } from './App';
import { locales } from './locales';
import type { User } from './api';

function jwt(claims: object): string {
  const b = (o: object) => btoa(JSON.stringify(o)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
  return `${b({ alg: 'EdDSA' })}.${b(claims)}.sig`;
}

const user: User = {
  id: '00000000-0000-0000-0000-000000000001',
  email: 'dana@example.com',
  username: 'dana',
  display_name: 'Dana',
  preferred_language: 'en',
  phone: '',
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
};

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
const ended = () => json(401, { error: { code: 'invalid_token', message: 'token is invalid', details: { reason: 'session_ended' } } });

describe('ULM app', () => {
  it('signs in, and returns to sign-in with a message when ULM ends the session', async () => {
    let sessionAlive = true;
    const seen: string[] = [];
    const fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
      const url = String(input);
      seen.push(`${init?.method ?? 'GET'} ${url}`);
      if (url.endsWith('/api/v1/auth/login')) {
        expect(JSON.parse(String(init?.body))).toEqual({ login: 'dana', password: 'pw-long-enough' });
        return json(200, { access_token: jwt({ sub: user.id, username: 'dana', permissions: [] }), refresh_token: 'r1', token_type: 'Bearer', expires_in: 900, user });
      }
      if (url.endsWith('/api/v1/auth/refresh')) return ended();
      if (!sessionAlive) return ended();
      if (url.endsWith('/api/v1/users/me')) return json(200, user);
      return json(200, []);
    }) as typeof globalThis.fetch;

    const session = new Session();
    const i18n = await createI18n(locales, 'en');
    const ulm = new ApiClient({ baseUrl: '', session, refreshUrl: '/api/v1/auth/refresh', fetch });
    window.history.replaceState(null, '', '/account');
    render(
      <I18nextProvider i18n={i18n}>
        <ApiContext.Provider value={{ session, ulm, app: ulm }}>
          <QueryClientProvider client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}>
            <App />
          </QueryClientProvider>
        </ApiContext.Provider>
      </I18nextProvider>,
    );

    // No session: the account page sends the person to sign-in, remembering where they were.
    await waitFor(() => expect(window.location.pathname).toBe('/signin'));
    expect(window.location.search).toBe('?next=%2Faccount');
    await userEvent.type(screen.getByLabelText(/Username or e-mail/), 'dana');
    await userEvent.type(screen.getByLabelText(/^Password/), 'pw-long-enough');
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    await waitFor(() => expect(screen.getByText('dana@example.com')).toBeTruthy());
    expect(window.location.pathname).toBe('/account');
    expect(session.refreshToken).toBe('r1');
    // eslint-disable-next-line no-restricted-properties -- the test checks storage stays free of tokens
    expect(JSON.stringify({ ...window.localStorage })).not.toContain('r1');
    // eslint-disable-next-line no-restricted-properties -- as above
    expect(JSON.stringify({ ...window.sessionStorage })).not.toContain('r1');

    // ULM ends the session (deactivation): the next request fails, the refresh is refused.
    sessionAlive = false;
    await userEvent.click(screen.getByRole('link', { name: 'Sessions' }));
    await waitFor(() => expect(window.location.pathname).toBe('/signin'));
    expect(await screen.findByText('Your session has ended. Please sign in again.')).toBeTruthy();
    expect(session.signedIn).toBe(false);
    expect(seen).toContain('POST /api/v1/auth/refresh');
  });

  it('edits the phone: sends it, shows ULM\'s normalised form, and ties a refusal to the field', async () => {
    const patches: unknown[] = [];
    let current: User = { ...user };
    const fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
      const url = String(input);
      if (url.endsWith('/api/v1/users/me') && init?.method === 'PATCH') {
        const body = JSON.parse(String(init.body)) as { phone: string };
        patches.push(body);
        if (!body.phone.startsWith('+')) {
          return json(422, { error: { code: 'validation_failed', message: 'phone must be an international number', details: { field: 'phone', reason: 'invalid_phone' } } });
        }
        current = { ...current, phone: body.phone.replace(/[^+0-9]/g, '') };
        return json(200, current);
      }
      if (url.endsWith('/api/v1/users/me')) return json(200, current);
      return json(200, []);
    }) as typeof globalThis.fetch;
    const session = new Session();
    session.set({ access_token: jwt({ sub: user.id, username: 'dana', permissions: [] }), refresh_token: 'r1', expires_in: 900 });
    const i18n = await createI18n(locales, 'en');
    const ulm = new ApiClient({ baseUrl: '', session, refreshUrl: '/api/v1/auth/refresh', fetch });
    window.history.replaceState(null, '', '/account');
    render(
      <I18nextProvider i18n={i18n}>
        <ApiContext.Provider value={{ session, ulm, app: ulm }}>
          <QueryClientProvider client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}>
            <App />
          </QueryClientProvider>
        </ApiContext.Provider>
      </I18nextProvider>,
    );
    const input = await screen.findByLabelText('Phone');
    expect(input.getAttribute('type')).toBe('tel');
    expect(input.getAttribute('autocomplete')).toBe('tel');
    expect(input.getAttribute('dir')).toBe('ltr');

    await userEvent.type(input, '050 123 4567');
    await userEvent.click(screen.getByRole('button', { name: 'Save' }));
    const msg = await screen.findByText(/Enter an international number/);
    expect(input.getAttribute('aria-invalid')).toBe('true');
    expect(input.getAttribute('aria-describedby')).toContain(msg.id);

    await userEvent.clear(input);
    await userEvent.type(input, ' +972 50-123-4567 ');
    await userEvent.click(screen.getByRole('button', { name: 'Save' }));
    await waitFor(() => expect((input as HTMLInputElement).value).toBe('+972501234567'));
    expect(patches.at(-1)).toMatchObject({ phone: '+972 50-123-4567' });
    expect(input.getAttribute('aria-invalid')).toBeNull();
  });
  const renderApp = async (fetch: typeof globalThis.fetch) => {
    const session = new Session();
    const i18n = await createI18n(locales, 'en');
    const ulm = new ApiClient({ baseUrl: '', session, refreshUrl: '/api/v1/auth/refresh', fetch });
    render(
      <I18nextProvider i18n={i18n}>
        <ApiContext.Provider value={{ session, ulm, app: ulm }}>
          <QueryClientProvider client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}>
            <App />
          </QueryClientProvider>
        </ApiContext.Provider>
      </I18nextProvider>,
    );
  };

  it('verifies with the token from the link\'s fragment, and takes it out of the address bar', async () => {
    const posted: unknown[] = [];
    const fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
      if (String(input).endsWith('/api/v1/auth/verify-email')) {
        posted.push(JSON.parse(String(init?.body)));
        return json(200, { status: 'verified' });
      }
      return json(200, []);
    }) as typeof globalThis.fetch;
    window.history.replaceState(null, '', '/verify-email#token=frag-123');
    await renderApp(fetch);
    expect(await screen.findByText(/address is confirmed/)).toBeTruthy();
    expect(posted).toEqual([{ token: 'frag-123' }]);
    expect(window.location.pathname).toBe('/verify-email');
    expect(window.location.hash).toBe('');
    expect(window.location.href).not.toContain('frag-123');
  });

  it('still accepts ?token= from older mail on the reset page, and strips it', async () => {
    const posted: unknown[] = [];
    const fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
      if (String(input).endsWith('/api/v1/auth/reset-password')) {
        posted.push(JSON.parse(String(init?.body)));
        return json(200, { status: 'password_changed' });
      }
      return json(200, []);
    }) as typeof globalThis.fetch;
    window.history.replaceState(null, '', '/reset-password?token=old-456');
    await renderApp(fetch);
    await waitFor(() => expect(window.location.search).toBe(''));
    expect(window.location.href).not.toContain('old-456');
    await userEvent.type(screen.getByLabelText(/^New password/), 'a brand new secret');
    await userEvent.type(screen.getByLabelText(/^Repeat the new password/), 'a brand new secret');
    await userEvent.click(screen.getByRole('button', { name: 'Save the new password' }));
    await waitFor(() => expect(posted).toEqual([{ token: 'old-456', new_password: 'a brand new secret' }]));
  });
  it('change password: no stray label; the hidden username for password managers has none', async () => {
    const fetch = (async (input: RequestInfo | URL) => (String(input).endsWith('/api/v1/users/me') ? json(200, user) : json(200, []))) as typeof globalThis.fetch;
    const session = new Session();
    session.set({ access_token: jwt({ sub: user.id, username: 'dana', permissions: [] }), refresh_token: 'r1', expires_in: 900 });
    const i18n = await createI18n(locales, 'en');
    const ulm = new ApiClient({ baseUrl: '', session, refreshUrl: '/api/v1/auth/refresh', fetch });
    window.history.replaceState(null, '', '/account/password');
    render(
      <I18nextProvider i18n={i18n}>
        <ApiContext.Provider value={{ session, ulm, app: ulm }}>
          <QueryClientProvider client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}>
            <App />
          </QueryClientProvider>
        </ApiContext.Provider>
      </I18nextProvider>,
    );
    await screen.findByLabelText(/^Current password/);
    const form = document.querySelector('main form') as HTMLFormElement;
    // Every label in the form names a visible field.
    const labels = [...form.querySelectorAll('label')];
    expect(labels.map((l) => l.textContent)).not.toContainEqual(expect.stringMatching(/Username/));
    for (const l of labels) {
      const field = document.getElementById(l.htmlFor) as HTMLInputElement | null;
      expect(field, l.textContent ?? '').toBeTruthy();
      expect(field?.hidden, l.textContent ?? '').toBe(false);
    }
    const hiddenUser = form.querySelector('input[name=username]') as HTMLInputElement;
    expect(hiddenUser.hidden).toBe(true);
    expect(hiddenUser.value).toBe('dana');
    expect(hiddenUser.getAttribute('autocomplete')).toBe('username');
  });
});

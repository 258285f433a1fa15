import { describe, expect, it } from 'vitest';
import { ApiClient, buildUrl, ulmBaseFor } from './client';
import { ApiError } from './errors';
import { Session, decodeClaims } from './session';

function jwt(claims: object): string {
  const b = (o: object) => btoa(JSON.stringify(o)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
  return `${b({ alg: 'EdDSA', typ: 'at+jwt' })}.${b(claims)}.sig`;
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json', ...headers },
  });
}

/** A scripted server: each call is recorded and answered by `handler`. */
function server(handler: (url: string, init: RequestInit, n: number) => Response | Promise<Response>) {
  const calls: { url: string; init: RequestInit }[] = [];
  const f = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    calls.push({ url, init: init ?? {} });
    return handler(url, init ?? {}, calls.length);
  }) as typeof fetch;
  return { f, calls };
}

const tokens = (n: number, expiresIn = 900) => ({
  access_token: jwt({ sub: 'u1', permissions: ['aam:access'], n }),
  refresh_token: `r${n}`,
  expires_in: expiresIn,
});

describe('ApiClient', () => {
  it('sends the bearer token and language, and parses JSON', async () => {
    const session = new Session();
    session.set(tokens(1));
    const { f, calls } = server(() => json(200, { ok: true }));
    const c = new ApiClient({ baseUrl: 'http://x', session, refreshUrl: 'http://x/r', fetch: f, language: () => 'he' });
    expect(await c.get('/api/v1/users/me')).toEqual({ ok: true });
    const h = calls[0]!.init.headers as Record<string, string>;
    expect(h['Authorization']).toBe(`Bearer ${session.accessToken}`);
    expect(h['Accept-Language']).toBe('he');
  });

  it('turns the error shape into an ApiError with code, details and Retry-After', async () => {
    const session = new Session();
    const { f } = server(() =>
      json(429, { error: { code: 'account_locked', message: 'm', details: { x: 1 } } }, { 'Retry-After': '42' }),
    );
    const c = new ApiClient({ baseUrl: '', session, refreshUrl: '/r', fetch: f });
    const err = await c.post('/api/v1/auth/login', { login: 'a', password: 'b' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 429, code: 'account_locked', retryAfter: 42, details: { x: 1 } });
  });

  it('maps a proxy error page without our shape to a stable code', async () => {
    const { f } = server(() => new Response('<html>bad gateway</html>', { status: 502 }));
    const c = new ApiClient({ baseUrl: '', session: new Session(), refreshUrl: '/r', fetch: f });
    await expect(c.get('/x')).rejects.toMatchObject({ code: 'upstream_unavailable', status: 502 });
  });

  it('maps a failed connection to network_error', async () => {
    const f = (async () => {
      throw new TypeError('Failed to fetch');
    }) as typeof fetch;
    const c = new ApiClient({ baseUrl: '', session: new Session(), refreshUrl: '/r', fetch: f });
    await expect(c.get('/x')).rejects.toMatchObject({ code: 'network_error', status: 0 });
  });

  it('refreshes once on token_expired and retries with the new token', async () => {
    const session = new Session();
    session.set(tokens(1));
    const { f, calls } = server((url, init) => {
      if (url.endsWith('/refresh')) {
        expect(JSON.parse(String(init.body))).toEqual({ refresh_token: 'r1' });
        return json(200, tokens(2));
      }
      const auth = (init.headers as Record<string, string>)['Authorization'];
      return auth === `Bearer ${tokens(2).access_token}`
        ? json(200, { me: 1 })
        : json(401, { error: { code: 'token_expired', message: 'expired', details: {} } });
    });
    const c = new ApiClient({ baseUrl: '', session, refreshUrl: '/api/v1/auth/refresh', fetch: f });
    expect(await c.get('/me')).toEqual({ me: 1 });
    expect(calls.map((x) => x.url)).toEqual(['/me', '/api/v1/auth/refresh', '/me']);
    expect(session.refreshToken).toBe('r2');
  });

  it('shares one refresh between concurrent requests (rotation must not be replayed)', async () => {
    let now = 0;
    const session = new Session(() => now);
    session.set(tokens(1, 60));
    now = 59_000; // inside the refresh margin
    let refreshes = 0;
    const { f } = server(async (url) => {
      if (url.endsWith('/refresh')) {
        refreshes++;
        await new Promise((r) => setTimeout(r, 5));
        return json(200, tokens(2));
      }
      return json(200, {});
    });
    const c = new ApiClient({ baseUrl: '', session, refreshUrl: '/refresh', fetch: f });
    await Promise.all([c.get('/a'), c.get('/b'), c.get('/c')]);
    expect(refreshes).toBe(1);
  });

  it('ends the session as expired when ULM refuses the refresh token', async () => {
    const session = new Session();
    session.set(tokens(1));
    const events: string[] = [];
    session.subscribe((e) => events.push(e.type));
    const { f } = server((url) =>
      url.endsWith('/refresh')
        ? json(401, { error: { code: 'invalid_token', message: 'x', details: {} } })
        : json(401, { error: { code: 'invalid_token', message: 'x', details: { reason: 'session_ended' } } }),
    );
    const c = new ApiClient({ baseUrl: '', session, refreshUrl: '/refresh', fetch: f });
    await expect(c.get('/me')).rejects.toMatchObject({ code: 'session_expired' });
    expect(session.signedIn).toBe(false);
    expect(events).toEqual(['expired']);
  });

  it('does not retry a 401 on an unauthenticated call (wrong password is not a stale token)', async () => {
    const { f, calls } = server(() => json(401, { error: { code: 'invalid_credentials', message: 'x', details: {} } }));
    const c = new ApiClient({ baseUrl: '', session: new Session(), refreshUrl: '/refresh', fetch: f });
    await expect(c.post('/login', {}, { auth: false })).rejects.toMatchObject({ code: 'invalid_credentials' });
    expect(calls).toHaveLength(1);
  });

  it('reads X-Total-Count for pages and 204 as undefined', async () => {
    const { f } = server((url) =>
      url.startsWith('/list') ? json(200, [1, 2], { 'X-Total-Count': '57' }) : new Response(null, { status: 204 }),
    );
    const c = new ApiClient({ baseUrl: '', session: new Session(), refreshUrl: '/r', fetch: f });
    expect(await c.page('/list', { limit: 2 })).toEqual({ items: [1, 2], total: 57 });
    expect(await c.delete('/x')).toBeUndefined();
  });
});

describe('helpers', () => {
  it('builds URLs skipping empty query values', () => {
    expect(buildUrl('http://a/', '/p', { q: 'x y', s: '', n: 0, u: undefined })).toBe('http://a/p?q=x+y&n=0');
  });

  it('finds ULM from the AAM host, or uses the same origin', () => {
    expect(ulmBaseFor({ protocol: 'https:', host: 'aam.ovu.co.il' })).toBe('https://ulm.ovu.co.il');
    expect(ulmBaseFor({ protocol: 'http:', host: 'aam.ovu.localhost:8080' })).toBe('http://ulm.ovu.localhost:8080');
    expect(ulmBaseFor({ protocol: 'https:', host: 'ulm.ovu.co.il' })).toBe('');
    expect(ulmBaseFor({ protocol: 'http:', host: 'localhost:5173' })).toBe('');
    expect(ulmBaseFor({ protocol: 'http:', host: 'aam.x' }, 'https://id.example/')).toBe('https://id.example');
  });

  it('decodes claims (including UTF-8 names) and rejects non-JWTs', () => {
    expect(decodeClaims(jwt({ sub: 's', username: 'x' }))?.username).toBe('x');
    const utf8 = btoa(String.fromCharCode(...new TextEncoder().encode(JSON.stringify({ sub: 's', username: 'דנה' }))));
    expect(decodeClaims(`h.${utf8}.s`)?.username).toBe('דנה');
    expect(decodeClaims('nope')).toBeNull();
    expect(decodeClaims('a.!!!.c')).toBeNull();
    expect(decodeClaims(jwt({ nosub: 1 }))).toBeNull();
  });

  it('knows when the access token is due for refresh and what it permits', () => {
    let now = 1_000;
    const s = new Session(() => now);
    expect(s.needsRefresh()).toBe(true);
    s.set(tokens(1, 120));
    expect(s.needsRefresh()).toBe(false);
    expect(s.hasPermission('aam:access')).toBe(true);
    expect(s.hasPermission('users:write')).toBe(false);
    now += 95_000;
    expect(s.needsRefresh()).toBe(true);
    // A 20 s token: refreshed in its last quarter (5 s), not before every request.
    s.set(tokens(2, 20));
    now += 14_000;
    expect(s.needsRefresh()).toBe(false);
    now += 1_000;
    expect(s.needsRefresh()).toBe(true);
    s.clear();
    expect(s.accessToken).toBeNull();
  });
});

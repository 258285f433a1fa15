/**
 * The one HTTP client of both apps: JSON in and out, the access token from the in-memory
 * [`Session`], a refresh through ULM when the token is stale or a request comes back 401,
 * and every failure turned into an [`ApiError`] with a stable code.
 */
import { ApiError, errorFromResponse, networkError, CLIENT_CODES } from './errors';
import type { Session, TokenSet } from './session';

export type Query = Record<string, string | number | boolean | null | undefined>;

export interface RequestOptions {
  body?: unknown;
  query?: Query;
  /** Send the access token (default true). */
  auth?: boolean;
  signal?: AbortSignal;
}

export interface ClientOptions {
  /** Origin (or '' for same origin) the paths are relative to. */
  baseUrl: string;
  session: Session;
  /** Full URL of ULM's `POST /api/v1/auth/refresh`. */
  refreshUrl: string;
  /** Current UI language, sent so messages and mail come in it. */
  language?: () => string;
  fetch?: typeof fetch;
}

export interface Page<T> {
  items: T;
  total: number;
}

export function buildUrl(base: string, path: string, query?: Query): string {
  let url = base.replace(/\/$/, '') + path;
  if (query) {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (v !== undefined && v !== null && v !== '') qs.set(k, String(v));
    }
    const s = qs.toString();
    if (s) url += (url.includes('?') ? '&' : '?') + s;
  }
  return url;
}

/** Codes after which a fresh access token may succeed. */
const RETRYABLE_AUTH = new Set(['token_expired', 'invalid_token', 'unauthorized']);

export class ApiClient {
  readonly session: Session;
  private readonly o: ClientOptions;
  private readonly f: typeof fetch;

  constructor(o: ClientOptions) {
    this.o = o;
    this.session = o.session;
    // Bound so that `this` inside fetch is the window, as browsers require.
    this.f = o.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** Exchanges the refresh token; null when ULM refuses it (expired, revoked, reused). */
  private exchange = async (refreshToken: string): Promise<TokenSet | null> => {
    let res: Response;
    try {
      res = await this.f(this.o.refreshUrl, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify({ refresh_token: refreshToken }),
      });
    } catch (e) {
      throw networkError(e);
    }
    if (res.ok) return (await res.json()) as TokenSet;
    if (res.status === 400 || res.status === 401 || res.status === 403) return null;
    throw await errorFromResponse(res);
  };

  /**
   * Exchanges the refresh token now, for a token with fresh claims (`mfa` after enrolling in
   * MFA); false when ULM refused it.
   */
  refreshNow(): Promise<boolean> {
    return this.session.refreshOnce(this.exchange);
  }

  private async send(method: string, path: string, opts: RequestOptions, retried: boolean): Promise<Response> {
    const auth = opts.auth ?? true;
    if (auth && this.session.signedIn && this.session.needsRefresh()) {
      await this.session.refreshOnce(this.exchange);
    }
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
    const lang = this.o.language?.();
    if (lang) headers['Accept-Language'] = lang;
    const token = auth ? this.session.accessToken : null;
    if (token) headers['Authorization'] = `Bearer ${token}`;
    let res: Response;
    try {
      res = await this.f(buildUrl(this.o.baseUrl, path, opts.query), {
        method,
        headers,
        body: opts.body === undefined ? null : JSON.stringify(opts.body),
        signal: opts.signal ?? null,
      });
    } catch (e) {
      if (e instanceof DOMException && e.name === 'AbortError') throw e;
      throw networkError(e);
    }
    if (res.status === 401 && token && !retried) {
      const err = await errorFromResponse(res.clone());
      if (RETRYABLE_AUTH.has(err.code)) {
        const ok = await this.session.refreshOnce(this.exchange);
        if (ok) return this.send(method, path, opts, true);
        throw new ApiError({ status: 401, code: CLIENT_CODES.sessionExpired, message: 'session expired' });
      }
    }
    if (!res.ok) throw await errorFromResponse(res);
    return res;
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.send(method, path, opts, false);
    if (res.status === 204 || res.headers.get('Content-Length') === '0') return undefined as T;
    try {
      return (await res.json()) as T;
    } catch {
      throw new ApiError({ status: res.status, code: CLIENT_CODES.badResponse, message: 'response is not JSON' });
    }
  }

  /** A list endpoint that reports its total in `X-Total-Count`. */
  async page<T>(path: string, query?: Query): Promise<Page<T>> {
    const res = await this.send('GET', path, query ? { query } : {}, false);
    const items = (await res.json()) as T;
    const total = Number(res.headers.get('X-Total-Count') ?? NaN);
    return { items, total: Number.isFinite(total) ? total : Array.isArray(items) ? items.length : 0 };
  }

  /** A file download (CSV export): the body as a Blob plus the server's file name. */
  async download(path: string, query?: Query): Promise<{ blob: Blob; filename: string | null }> {
    const res = await this.send('GET', path, query ? { query } : {}, false);
    const cd = res.headers.get('Content-Disposition') ?? '';
    const m = /filename="?([^";]+)"?/.exec(cd);
    return { blob: await res.blob(), filename: m?.[1] ?? null };
  }

  get<T>(path: string, query?: Query): Promise<T> {
    return this.request<T>('GET', path, query ? { query } : {});
  }
  post<T>(path: string, body?: unknown, opts: Omit<RequestOptions, 'body'> = {}): Promise<T> {
    return this.request<T>('POST', path, { ...opts, body: body ?? {} });
  }
  patch<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PATCH', path, { body });
  }
  put<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('PUT', path, body === undefined ? {} : { body });
  }
  delete<T = void>(path: string, body?: unknown): Promise<T> {
    return this.request<T>('DELETE', path, body === undefined ? {} : { body });
  }
}

/**
 * Where ULM's API lives, seen from an app at `loc`. The ULM app and local development use
 * their own origin; the AAM panel at `aam.<domain>` signs in through `ulm.<domain>` (allowed
 * by the rendered CSP and CORS). A `<meta name="ovu-ulm-url">` overrides both.
 */
export function ulmBaseFor(loc: { protocol: string; host: string }, override?: string | null): string {
  if (override) return override.replace(/\/$/, '');
  const [first, ...rest] = loc.host.split('.');
  if (first === 'aam' && rest.length > 0) return `${loc.protocol}//ulm.${rest.join('.')}`;
  return '';
}

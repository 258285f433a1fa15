/**
 * The signed-in session, kept in memory only: tokens never touch localStorage or cookies,
 * so a script injected into another tab or a stolen disk cannot replay them. A reload asks
 * the person to sign in again; that is the price, and it is the rule.
 */

export interface TokenSet {
  access_token: string;
  refresh_token: string;
  /** Access-token lifetime in seconds. */
  expires_in: number;
}

/** The claims ULM puts in an access token (see docs/contracts.md). */
export interface AccessClaims {
  sub: string;
  sid?: string;
  username?: string;
  email?: string;
  roles?: string[];
  permissions?: string[];
  mfa?: boolean;
  exp?: number;
}

function base64UrlDecode(s: string): string {
  const b64 = s.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(s.length / 4) * 4, '=');
  const bin = atob(b64);
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/**
 * Reads a JWT's payload without verifying it: the services verify; the app only needs the
 * claims to decide what to show. Returns null for anything that is not a JWT.
 */
export function decodeClaims(token: string): AccessClaims | null {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[1]) return null;
  try {
    const v: unknown = JSON.parse(base64UrlDecode(parts[1]));
    if (typeof v !== 'object' || v === null || typeof (v as { sub?: unknown }).sub !== 'string') return null;
    return v as AccessClaims;
  } catch {
    return null;
  }
}

export type SessionEvent = { type: 'signed-in' } | { type: 'refreshed' } | { type: 'signed-out' } | { type: 'expired' };

export class Session {
  private access: string | null = null;
  private refresh: string | null = null;
  /** Epoch milliseconds after which the access token must not be used. */
  private expiresAt = 0;
  /** The current access token's whole lifetime in milliseconds. */
  private lifetimeMs = 0;
  private listeners = new Set<(e: SessionEvent) => void>();
  private inflight: Promise<boolean> | null = null;
  private ended: 'signed-out' | 'expired' | null = null;
  private readonly now: () => number;

  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  get accessToken(): string | null {
    return this.access;
  }

  get refreshToken(): string | null {
    return this.refresh;
  }

  /** Why the last session ended, so the sign-in page can say so; null before any. */
  get lastEnd(): 'signed-out' | 'expired' | null {
    return this.ended;
  }

  get signedIn(): boolean {
    return this.refresh !== null;
  }

  get claims(): AccessClaims | null {
    return this.access ? decodeClaims(this.access) : null;
  }

  hasPermission(p: string): boolean {
    return this.claims?.permissions?.includes(p) ?? false;
  }

  /**
   * True when the access token is gone or expires within `marginMs`: by default 30 s, or a
   * quarter of the token's lifetime when that is shorter, so a short-lived token (a test
   * stack's, or a strict policy's) is still used for most of its life instead of being
   * refreshed before every request.
   */
  needsRefresh(marginMs = Math.min(30_000, this.lifetimeMs / 4)): boolean {
    return this.access === null || this.now() + marginMs >= this.expiresAt;
  }

  set(t: TokenSet): void {
    const first = this.refresh === null;
    this.ended = null;
    this.access = t.access_token;
    this.refresh = t.refresh_token;
    this.lifetimeMs = t.expires_in * 1000;
    this.expiresAt = this.now() + this.lifetimeMs;
    this.emit({ type: first ? 'signed-in' : 'refreshed' });
  }

  /** Forget the tokens; `expired` tells the app to explain why it shows the sign-in page. */
  clear(reason: 'signed-out' | 'expired' = 'signed-out'): void {
    const had = this.refresh !== null;
    if (had) this.ended = reason;
    this.access = null;
    this.refresh = null;
    this.expiresAt = 0;
    this.lifetimeMs = 0;
    if (had) this.emit({ type: reason });
  }

  /**
   * Runs one refresh at a time: every request that finds the token stale waits for the same
   * exchange, because ULM rotates refresh tokens and treats a second use of the old one as
   * theft (it would end the whole session family).
   */
  refreshOnce(run: (refreshToken: string) => Promise<TokenSet | null>): Promise<boolean> {
    if (this.inflight) return this.inflight;
    const token = this.refresh;
    if (token === null) return Promise.resolve(false);
    this.inflight = run(token)
      .then((t) => {
        if (t === null) {
          this.clear('expired');
          return false;
        }
        this.set(t);
        return true;
      })
      .finally(() => {
        this.inflight = null;
      });
    return this.inflight;
  }

  subscribe(fn: (e: SessionEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(e: SessionEvent): void {
    for (const fn of this.listeners) fn(e);
  }
}

/**
 * Errors from OVU's APIs. Every 4xx/5xx of ULM and AAM carries
 * `{"error":{"code","message","details"}}` with a stable snake_case code; the apps show a
 * translated message for the code, never the server's English text.
 */

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, unknown>;
  /** Seconds from a `Retry-After` header (rate limits, lockouts). */
  readonly retryAfter: number | undefined;
  readonly requestId: string | undefined;

  constructor(init: {
    status: number;
    code: string;
    message: string;
    details?: Record<string, unknown>;
    retryAfter?: number | undefined;
    requestId?: string | undefined;
  }) {
    super(init.message);
    this.name = 'ApiError';
    this.status = init.status;
    this.code = init.code;
    this.details = init.details ?? {};
    this.retryAfter = init.retryAfter;
    this.requestId = init.requestId;
  }

  /** The field a validation error is about, when the server named one. */
  get field(): string | undefined {
    const f = this.details['field'];
    return typeof f === 'string' ? f : undefined;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Codes the client itself produces when there is no server answer to read. */
export const CLIENT_CODES = {
  network: 'network_error',
  badResponse: 'bad_response',
  sessionExpired: 'session_expired',
} as const;

/** Turns a failed response into an [`ApiError`], whatever the body holds. */
export async function errorFromResponse(res: Response): Promise<ApiError> {
  const retry = res.headers.get('Retry-After');
  const retryAfter = retry !== null && /^\d+$/.test(retry) ? Number(retry) : undefined;
  const requestId = res.headers.get('X-Request-ID') ?? undefined;
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    body = undefined;
  }
  if (isRecord(body) && isRecord(body['error']) && typeof body['error']['code'] === 'string') {
    const e = body['error'];
    return new ApiError({
      status: res.status,
      code: e['code'] as string,
      message: typeof e['message'] === 'string' ? e['message'] : String(e['code']),
      details: isRecord(e['details']) ? e['details'] : {},
      retryAfter,
      requestId,
    });
  }
  // A proxy answered (nginx 502/504, rate limit page) or the body is not ours.
  const code =
    res.status === 429 ? 'rate_limited' : res.status >= 500 ? 'upstream_unavailable' : CLIENT_CODES.badResponse;
  return new ApiError({ status: res.status, code, message: `HTTP ${res.status}`, retryAfter, requestId });
}

export function networkError(cause: unknown): ApiError {
  return new ApiError({
    status: 0,
    code: CLIENT_CODES.network,
    message: cause instanceof Error ? cause.message : 'network error',
  });
}

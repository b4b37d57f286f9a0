// The browser's client for the Terminus API, through the UI server's proxy (/api/terminus/…).
// Every call returns an Answer — never throws for an HTTP status — so pages can show what the
// API said: the status, the error envelope, and the headers that matter to a demo (was it
// replayed, the request and trace ids, how long to wait).

export const PROXY = '/api/terminus';

export interface ApiError {
  code: string;
  message: string;
  request_id: string;
  details: Record<string, unknown>;
}

export interface Answer<T> {
  status: number; // 0: no answer at all (network)
  ok: boolean;
  data: T | null; // the parsed body of a 2xx
  error: ApiError | null; // the error envelope of anything else
  raw: string; // the body as received, for byte-for-byte comparison of replays
  replayed: boolean; // Idempotent-Replayed: true
  requestId: string | null;
  traceId: string | null;
  retryAfterS: number | null;
}

interface HeaderSource {
  get(name: string): string | null;
}

/** Builds an Answer from a status, headers and body text (exported for tests). */
export function toAnswer<T>(status: number, headers: HeaderSource, raw: string): Answer<T> {
  let body: unknown = null;
  try {
    body = raw === '' ? null : JSON.parse(raw);
  } catch {
    body = null;
  }
  const ok = status >= 200 && status < 300;
  let error: ApiError | null = null;
  if (!ok) {
    const env = (body as { error?: ApiError } | null)?.error;
    error =
      env && typeof env.code === 'string'
        ? { ...env, details: env.details ?? {} }
        : {
            code: status === 0 ? 'no_answer' : 'unexpected_answer',
            message: status === 0 ? 'no answer from the UI server' : `HTTP ${status} without an error body`,
            request_id: '',
            details: {},
          };
  }
  const ra = headers.get('retry-after');
  const retryAfter = ra !== null && /^\d+$/.test(ra) ? Number(ra) : null;
  return {
    status,
    ok,
    data: ok ? (body as T) : null,
    error,
    raw,
    replayed: headers.get('idempotent-replayed') === 'true',
    requestId: headers.get('x-request-id'),
    traceId: headers.get('x-trace-id'),
    retryAfterS: retryAfter,
  };
}

export interface CallOptions {
  method?: 'GET' | 'POST' | 'PUT';
  body?: unknown;
  idempotencyKey?: string;
  fetcher?: typeof fetch;
}

/** The request exactly as it will be sent: a replay resends this object unchanged. */
export interface PreparedCall {
  method: 'GET' | 'POST' | 'PUT';
  path: string;
  body: string | undefined;
  idempotencyKey: string | undefined;
}

export function prepare(path: string, opts: CallOptions = {}): PreparedCall {
  return {
    method: opts.method ?? (opts.body === undefined ? 'GET' : 'POST'),
    path,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    idempotencyKey: opts.idempotencyKey,
  };
}

export async function send<T>(call: PreparedCall, fetcher: typeof fetch = fetch): Promise<Answer<T>> {
  const headers: Record<string, string> = {};
  if (call.body !== undefined) headers['content-type'] = 'application/json';
  if (call.idempotencyKey !== undefined) headers['idempotency-key'] = call.idempotencyKey;
  try {
    const res = await fetcher(PROXY + call.path, {
      method: call.method,
      headers,
      body: call.body,
      cache: 'no-store',
    });
    // The API's status (the proxy answers 200 for every answer the API gave, see lib/server/proxy.ts).
    const status = Number(res.headers.get('x-terminus-status') ?? res.status);
    return toAnswer<T>(status, res.headers, await res.text());
  } catch {
    return toAnswer<T>(0, new Headers(), '');
  }
}

export function api<T>(path: string, opts: CallOptions = {}): Promise<Answer<T>> {
  return send<T>(prepare(path, opts), opts.fetcher);
}

/** One sentence for a failed answer, naming what happened in the shop's terms. */
export function describe(a: Answer<unknown>): string {
  const e = a.error;
  if (a.ok || e === null) return `${a.status} OK`;
  const d = e.details;
  const wait = a.retryAfterS !== null ? ` Retry after ${a.retryAfterS} s.` : '';
  switch (e.code) {
    case 'payment_declined':
      return 'Payment declined by the provider: the order stays pending and no stock was taken.';
    case 'insufficient_inventory':
      return `Sold out: ${String(d.requested ?? '?')} requested, ${String(d.available ?? '?')} available. No stock was taken.`;
    case 'order_not_pending':
      return `The order is already ${String(d.status ?? 'past pending')}: it cannot be checked out again.`;
    case 'idempotency_key_in_use':
      return `A request with this key is still in flight.${wait}`;
    case 'idempotency_key_reused':
      return 'This key was already used for a different request: make a new key.';
    case 'rate_limited':
      return `Rate limited (429): too many requests.${wait}`;
    case 'overloaded':
    case 'database_unavailable':
      return `Service unavailable (503, ${e.code}): nothing was done.${wait}`;
    case 'api_unreachable':
      return `The Terminus API is not answering: ${e.message}`;
    case 'no_answer':
      return 'No answer from the UI server: is it running?';
    default:
      return `${a.status} ${e.code}: ${e.message}`;
  }
}

// The one way the browser reaches Terminus: /api/terminus/<API path> on the UI's own server,
// forwarded to the API as it came (method, query, body, Content-Type, Idempotency-Key,
// traceparent), answered with the API's body byte for byte and the headers the UI shows. Admin
// routes get the operator key here, on the server; the browser never sees it.
//
// The API's status travels in X-Terminus-Status, and the proxy's own status is 200 whenever the
// API answered at all: a declined payment or a sold-out item is an answer the demo expects and
// shows, not a failed page load (browsers log every 4xx/5xx load as a console error). The proxy's
// own refusals and an unreachable API keep real error statuses.
import 'server-only';
import { accessFor, requestAllowed } from '@/lib/policy';
import { allowedHosts, apiBaseUrl, operatorKey } from '@/lib/server/config';

const FORWARD_REQUEST = ['content-type', 'idempotency-key', 'traceparent', 'x-request-id'];
const FORWARD_RESPONSE = [
  'content-type',
  'idempotent-replayed',
  'retry-after',
  'x-request-id',
  'x-trace-id',
];
const API_TIMEOUT_MS = 15000;
const MAX_BODY_BYTES = 64 * 1024; // the API's own limit: anything larger it would refuse anyway

function refuse(status: number, code: string, message: string): Response {
  return Response.json(
    { error: { code, message, request_id: '', details: { source: 'ui-proxy' } } },
    { status, headers: { 'cache-control': 'no-store' } },
  );
}

export async function forward(req: Request, segments: string[]): Promise<Response> {
  const allowed = requestAllowed(req.headers, allowedHosts());
  if (!allowed.ok) return refuse(403, 'ui_proxy_forbidden', allowed.why);

  const apiPath = '/' + segments.map(encodeURIComponent).join('/');
  const access = accessFor(req.method, apiPath);
  if (access === null)
    return refuse(404, 'ui_proxy_not_forwarded', `the demo UI does not forward ${req.method} ${apiPath}`);

  const headers = new Headers();
  for (const name of FORWARD_REQUEST) {
    const v = req.headers.get(name);
    if (v !== null) headers.set(name, v);
  }
  if (access === 'admin') {
    const key = operatorKey();
    if (key === null)
      return refuse(
        503,
        'ui_no_operator_key',
        'the UI server has no operator key: set TERMINUS_OPERATOR_KEY or start it with make run',
      );
    headers.set('authorization', `Bearer ${key}`);
  }

  const search = new URL(req.url).search;
  if (Number(req.headers.get('content-length') ?? 0) > MAX_BODY_BYTES)
    return refuse(413, 'ui_proxy_body_too_large', `a request body is at most ${MAX_BODY_BYTES} bytes`);
  const body = req.method === 'GET' ? undefined : await req.arrayBuffer();
  if (body !== undefined && body.byteLength > MAX_BODY_BYTES)
    return refuse(413, 'ui_proxy_body_too_large', `a request body is at most ${MAX_BODY_BYTES} bytes`);
  let upstream: Response;
  try {
    upstream = await fetch(apiBaseUrl() + apiPath + search, {
      method: req.method,
      headers,
      body,
      cache: 'no-store',
      redirect: 'manual',
      signal: AbortSignal.timeout(API_TIMEOUT_MS),
    });
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    return refuse(502, 'api_unreachable', `the Terminus API at ${apiBaseUrl()} did not answer (${why})`);
  }
  const out = new Headers({
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'x-terminus-status': String(upstream.status),
  });
  for (const name of FORWARD_RESPONSE) {
    const v = upstream.headers.get(name);
    if (v !== null) out.set(name, v);
  }
  return new Response(await upstream.arrayBuffer(), { status: 200, headers: out });
}

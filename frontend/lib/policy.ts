// Which Terminus API calls the demo UI's proxy forwards, and which of them it signs with the
// operator key. Everything else is refused: the proxy is not an open door to the API, and the
// key is attached only where the API itself asks for a store admin or the operator.

export type Access = 'public' | 'admin';

interface Rule {
  method: 'GET' | 'POST' | 'PUT';
  pattern: RegExp;
  access: Access;
}

const SLUG = '[a-z0-9-]{3,40}';
const ID = '[0-9A-Za-z-]{1,64}';
const FLAG = '[a-z0-9._]{1,100}';

const route = (method: Rule['method'], path: string, access: Access): Rule => ({
  method,
  pattern: new RegExp(
    '^' +
      path
        .replaceAll('{store}', SLUG)
        .replaceAll('{id}', ID)
        .replaceAll('{key}', FLAG) +
      '$',
  ),
  access,
});

// The public routes a storefront needs, then the admin routes of the demo's back office.
export const RULES: readonly Rule[] = [
  route('GET', '/v1/stores', 'public'),
  route('GET', '/v1/stores/{store}/products', 'public'),
  route('GET', '/v1/stores/{store}/products/{id}', 'public'),
  route('POST', '/v1/stores/{store}/orders', 'public'),
  route('GET', '/v1/stores/{store}/orders/{id}', 'public'),
  route('POST', '/v1/stores/{store}/orders/{id}/checkout', 'public'),

  route('GET', '/v1/stores/{store}/orders', 'admin'),
  route('POST', '/v1/stores/{store}/orders/{id}/cancel', 'admin'),
  route('GET', '/v1/stores/{store}/flags', 'admin'),
  route('PUT', '/v1/stores/{store}/flags/{key}', 'admin'),
  route('GET', '/v1/stores/{store}/flags/{key}/history', 'admin'),
  route('GET', '/v1/stores/{store}/events', 'admin'),
  route('GET', '/v1/stores/{store}/faults', 'admin'),
  route('GET', '/v1/stores/{store}/analytics', 'admin'),
  route('GET', '/v1/ops/outbox', 'admin'),
  route('GET', '/v1/ops/faults', 'admin'),
  route('GET', '/v1/ops/workers', 'admin'),
  route('POST', '/v1/ops/dead-letters/{id}/retry', 'admin'),
];

/** The access a call needs, or null when the proxy does not forward it. */
export function accessFor(method: string, path: string): Access | null {
  // Nothing that a URL parser could rewrite on the way out: encoded characters, empty or
  // dot segments.
  if (path.includes('%') || path.split('/').slice(1).some((seg) => seg === '' || seg.startsWith('.')))
    return null;
  for (const r of RULES) if (r.method === method && r.pattern.test(path)) return r.access;
  return null;
}

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * Whether a request to the proxy may act: the UI's own pages only. The Host must be a name the UI
 * serves (loopback, or one listed in allowedHosts) so that a rebound DNS name cannot borrow the
 * operator key, and a browser's cross-site request is refused (Sec-Fetch-Site, Origin).
 */
export function requestAllowed(
  headers: { get(name: string): string | null },
  allowedHosts: readonly string[],
): { ok: true } | { ok: false; why: string } {
  const host = headers.get('host');
  if (host === null) return { ok: false, why: 'no Host header' };
  const hostname = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0]!;
  if (!LOCAL_HOSTS.has(hostname) && !allowedHosts.includes(hostname))
    return { ok: false, why: `host ${hostname} is not served (TERMINUS_UI_ALLOWED_HOSTS)` };
  const site = headers.get('sec-fetch-site');
  if (site !== null && site !== 'same-origin' && site !== 'none')
    return { ok: false, why: `cross-site request (${site})` };
  const origin = headers.get('origin');
  if (origin !== null) {
    let originHost: string;
    try {
      originHost = new URL(origin).host;
    } catch {
      return { ok: false, why: 'malformed Origin' };
    }
    if (originHost !== host) return { ok: false, why: `request from another origin (${origin})` };
  }
  return { ok: true };
}

/*
 * admission.c — which requests may join the queue at all: the per-client rate limits, decided
 * on MHD's thread before a request costs a handler thread or a database connection
 * (http_routes.admit).
 *
 * There is no cap per store: a flash sale is one store's many customers, each a client of its
 * own, and the store may take whatever the API can serve (under saturation the request server
 * shares its queue among stores round robin; server.c). What is limited is each client:
 *
 * - a request with a store key this process has verified (keycache.h) takes a token from that
 *   key's bucket (TERMINUS_KEY_RATE_LIMIT): a store's admins are held back only by their own
 *   traffic;
 * - every other request — anonymous, or with credentials nobody verified ("Bearer nope") —
 *   takes one from its client address's bucket (TERMINUS_CLIENT_RATE_LIMIT). One address
 *   flooding a store's catalog is limited to its own share, and its customers (other
 *   addresses) and admins (their keys) do not notice;
 * - the operator's key (checked here in constant time against the configuration) is never
 *   limited.
 *
 * A client over its rate gets 429 rate_limited with Retry-After (whole seconds, rounded up). The
 * routes' own parse of the request (api_match) happens here once and is reused by dispatch; the
 * addressed store's slug is noted for the server's fair queue and the access log.
 */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "auth.h"
#include "clock.h"
#include "keycache.h"
#include "ratelimit.h"
#include "banned.h"

bool api_admit(struct request *req)
{
	struct app *app = api_app(req);
	const char *slug, *authz, *token;
	char bucket[RATELIMIT_KEY_MAX], allow[64], key_id[AUTH_KEY_ID_LEN + 1];
	unsigned char hash[AUTH_HASH_LEN];
	struct ratelimit *limiter = app->client_limiter;
	long long now = clock_ms(), wait_ms;
	struct err e = ERR_INIT;
	bool by_key = false;

	if (api_match(req, allow) != NULL &&
	    (slug = router_param(&req->state->params, "store")) != NULL)
		snprintf(req->store_slug, sizeof(req->store_slug), "%.*s", STORE_SLUG_MAX, slug);
	authz = req_header(req, "Authorization");
	token = authz != NULL ? auth_bearer(authz) : NULL;
	if (token != NULL && auth_operator_matches(app->cfg.operator_key, token))
		return true;
	if (token != NULL && auth_key_parse(token, key_id, hash) &&
	    keycache_known(app->keys, key_id, hash, now)) {
		by_key = true;
		limiter = app->key_limiter;
		snprintf(bucket, sizeof(bucket), "key:%s", key_id);
	} else {
		char addr[HTTP_CLIENT_ADDRESS_MAX];

		if (limiter == NULL || !req_client_address(req, addr, sizeof(addr)))
			return true; /* no limit; or not a network client (a Unix socket) */
		snprintf(bucket, sizeof(bucket), "addr:%s", addr);
	}
	if (limiter == NULL)
		return true;
	wait_ms = ratelimit_take(limiter, bucket, strlen(bucket), now);
	if (wait_ms == 0)
		return true;
	err_set(&e, 429, "rate_limited",
	        "%s is over its request rate (%d per second); retry in %lld ms",
	        by_key ? "this key" : "this client address",
	        by_key ? app->cfg.key_rate_limit : app->cfg.client_rate_limit, wait_ms);
	e.retry_after = (int)((wait_ms + 999) / 1000);
	err_detail(&e, "retry_after_ms", json_integer(wait_ms));
	err_detail(&e, "limited", json_string(by_key ? "key" : "client_address"));
	reply_error(req, &e);
	err_release(&e);
	return false;
}

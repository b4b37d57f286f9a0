/*
 * admission.c — which requests may join the queue at all: the per-store rate limit, decided on
 * MHD's thread before a request costs a handler thread or a database connection
 * (http_routes.admit).
 *
 * A store over its rate gets 429 rate_limited with Retry-After (whole seconds, rounded up) and
 * costs the others nothing. A store has two buckets: one for requests without credentials (its
 * storefront) and one for requests that carry an Authorization header (its admins), so that an
 * anonymous flood of a store's public routes — which anyone can send — cannot lock its admins
 * out. The operator's key (checked here in constant time; store keys would need the database)
 * is never limited.
 */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "app.h"
#include "auth.h"
#include "clock.h"
#include "ratelimit.h"
#include "banned.h"

bool api_admit(struct request *req)
{
	struct app *app = api_app(req);
	const char *slug, *authz, *token;
	char key[RATELIMIT_KEY_MAX], allow[64];
	long long wait_ms;
	struct err e = ERR_INIT;

	/* Matched here once; the dispatcher reuses it. */
	if (api_match(req, allow) == NULL || app->limiter == NULL ||
	    (slug = router_param(&req->state->params, "store")) == NULL)
		return true;
	authz = req_header(req, "Authorization");
	token = authz != NULL ? auth_bearer(authz) : NULL;
	if (token != NULL && auth_operator_matches(app->cfg.operator_key, token))
		return true;
	snprintf(key, sizeof(key), "%s%s", authz != NULL ? "admin:" : "", slug);
	wait_ms = ratelimit_take(app->limiter, key, strlen(key), clock_ms());
	if (wait_ms == 0)
		return true;
	/* For the access log line; the handler would have set it from the store's row. */
	snprintf(req->store_slug, sizeof(req->store_slug), "%.*s", STORE_SLUG_MAX, slug);
	err_set(&e, 429, "rate_limited",
	        "store %s is over its request rate (%d per second); retry in %lld ms", slug,
	        app->cfg.store_rate_limit, wait_ms);
	e.retry_after = (int)((wait_ms + 999) / 1000);
	err_detail(&e, "retry_after_ms", json_integer(wait_ms));
	reply_error(req, &e);
	err_release(&e);
	return false;
}

/*
 * router.h — matching a request path against a route pattern such as
 * "/v1/stores/{store}/orders/{id}". Pure: no I/O, unit-tested. The route table itself lives in
 * api.c, one row per route (method, pattern, who may call it, handler).
 */
#ifndef TERMINUS_ROUTER_H
#define TERMINUS_ROUTER_H

#include <stdbool.h>

#define ROUTE_MAX_PARAMS 4
#define ROUTE_PARAM_MAX  128

struct route_params {
	int count;
	char names[ROUTE_MAX_PARAMS][32];
	char values[ROUTE_MAX_PARAMS][ROUTE_PARAM_MAX + 1];
};

/* True when path matches pattern segment by segment; {name} matches one non-empty segment of at
 * most ROUTE_PARAM_MAX bytes, which is captured in out (may be NULL). A trailing slash or an
 * empty segment never matches. Path must not contain the query string. */
bool router_match(const char *pattern, const char *path, struct route_params *out);
/* Borrowed value of a captured parameter, or NULL. */
const char *router_param(const struct route_params *p, const char *name);

#endif

/*
 * fuzz_router — routing a request path against every pattern shape of the route table ({store},
 * {id}, {key} parameters, literal segments, prefixes of each other), and reading the parameters
 * back. The path is untrusted; the input's first line may also be used as a pattern.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "router.h"

static const char *const patterns[] = {
        "/healthz",
        "/v1/stores",
        "/v1/stores/{store}/products",
        "/v1/stores/{store}/products/{id}",
        "/v1/stores/{store}/products/{id}/inventory",
        "/v1/stores/{store}/orders/{id}/checkout",
        "/v1/stores/{store}/flags/{key}/history",
        "/v1/ops/dead-letters/{id}/retry",
};

static void route(const char *pattern, const char *path)
{
	struct route_params p;

	if (router_match(pattern, path, &p)) {
		(void)router_param(&p, "store");
		(void)router_param(&p, "id");
		(void)router_param(&p, "key");
		(void)router_param(&p, "nope");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1);
	char *nl;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	for (size_t i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++)
		route(patterns[i], buf);
	nl = strchr(buf, '\n');
	if (nl != NULL) {
		*nl = '\0';
		route(buf, nl + 1);
	}
	free(buf);
	return 0;
}

/*
 * router.c — segment-by-segment path matching. Patterns are few and short, so a linear scan
 * over the route table with this matcher costs less than building a trie, and reads better.
 */
#include <string.h>

#include "router.h"
#include "banned.h"

bool router_match(const char *pattern, const char *path, struct route_params *out)
{
	struct route_params local;
	struct route_params *p = out != NULL ? out : &local;

	p->count = 0;
	if (*pattern != '/' || *path != '/')
		return false;
	while (*pattern != '\0' && *path != '\0') {
		const char *pseg, *sseg, *pend, *send;
		size_t plen, slen;

		if (*pattern != '/' || *path != '/')
			return false;
		pseg = pattern + 1;
		sseg = path + 1;
		pend = strchr(pseg, '/');
		send = strchr(sseg, '/');
		if (pend == NULL)
			pend = pseg + strlen(pseg);
		if (send == NULL)
			send = sseg + strlen(sseg);
		plen = (size_t)(pend - pseg);
		slen = (size_t)(send - sseg);
		if (slen == 0)
			return false; /* empty segment or trailing slash */
		if (plen >= 2 && pseg[0] == '{' && pseg[plen - 1] == '}') {
			size_t nlen = plen - 2;

			if (slen > ROUTE_PARAM_MAX || p->count >= ROUTE_MAX_PARAMS ||
			    nlen >= sizeof(p->names[0]))
				return false;
			memcpy(p->names[p->count], pseg + 1, nlen);
			p->names[p->count][nlen] = '\0';
			memcpy(p->values[p->count], sseg, slen);
			p->values[p->count][slen] = '\0';
			p->count++;
		} else if (plen != slen || memcmp(pseg, sseg, plen) != 0) {
			return false;
		}
		pattern = pend;
		path = send;
	}
	return *pattern == '\0' && *path == '\0';
}

const char *router_param(const struct route_params *p, const char *name)
{
	for (int i = 0; i < p->count; i++) {
		if (strcmp(p->names[i], name) == 0)
			return p->values[i];
	}
	return NULL;
}

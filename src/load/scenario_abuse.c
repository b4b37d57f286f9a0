/*
 * scenario_abuse.c — two scenarios that judge parties rather than requests:
 *
 *   abuse      store 0's customers (one source address each) and store 1's shop at --rate;
 *              store 0's admin works with its key at --rate; an anonymous flood of store 0's
 *              products comes from one address at --flood-rate, and so do requests to store 0's
 *              orders with "Authorization: Bearer nope" (a key the API cannot verify counts as
 *              none, against its address). The customers and the admin must be served, the two
 *              attackers limited.
 *   slowloris  --slow sockets that never finish a request (slow.c), half from one address and
 *              half from one address each, while probes (one address each) read the products
 *              at --rate. The probes must be served, every slow socket refused at once or closed
 *              by the server within its request timeout (+ 2 s).
 *
 * Every attempt of a party is counted in its group (there are no retries by default: a retry
 * would hide what the server answered). "Served" is an answer the business logic gave: any 2xx
 * or 4xx but 429 (402 declined and 409 sold out are answers); not served are no answer, 429 and
 * 5xx (503 overloaded among them).
 */
#include <stdio.h>
#include <string.h>

#include "scenario_internal.h"
#include "slow.h"
#include "banned.h"

#define SERVED_MIN  0.95 /* customers, admin, probes */
#define LIMITED_MIN 0.50 /* attackers: the share of their requests answered 429 */

static int add_group(struct run *R, const char *name)
{
	if (!R->groups)
		R->groups = xcalloc(MAX_GROUPS, sizeof(*R->groups));
	R->groups[R->ngroups].name = name;
	return R->ngroups++;
}

static void add_stream(struct run *R, enum flow_kind kind, double rate, int lo, int hi,
                       const char *group, const char *src)
{
	struct stream *s = &R->streams[R->nstreams++];

	*s = (struct stream){.rate = rate, .store_lo = lo, .store_hi = hi, .kind = kind};
	s->group = add_group(R, group);
	s->src = src;
}

/* With --client-addresses none every party comes from the same address, attackers included. */
static const char *attacker(const struct run *R, const char *addr)
{
	return R->client_count > 0 ? addr : NULL;
}

void plan_abuse(struct run *R)
{
	const struct load_opts *o = R->o;
	double flood = o->flood_rate > 0 ? o->flood_rate : 10 * o->rate;

	R->nstreams = 0;
	add_stream(R, FLOW_SHOPPER, o->rate, 0, 1, "customers-0", NULL);
	add_stream(R, FLOW_SHOPPER, o->rate, 1, R->nstores, "customers-1", NULL);
	add_stream(R, FLOW_ADMIN, o->rate, 0, 1, "admin-0", NULL);
	add_stream(R, FLOW_FLOOD, flood, 0, 1, "flood-0", attacker(R, ATTACK_ADDR_FLOOD));
	add_stream(R, FLOW_BAD_KEY, flood, 0, 1, "bad-key-0", attacker(R, ATTACK_ADDR_BAD_KEY));
	if (R->client_count == 0)
		fprintf(stderr, "terminus-load abuse: every party comes from one address "
		                "(--client-addresses none): the customers share the attackers' "
		                "limits\n");
}

/* Socket k's source address: the first half from one address, the rest one each. */
static void slow_src(void *arg, int k, char out[16])
{
	struct run *R = arg;

	out[0] = '\0';
	if (R->client_count == 0 || !R->api_loopback[0])
		return;
	if (k < R->o->slow / 2)
		snprintf(out, 16, "%s", ATTACK_ADDR_SLOW);
	else
		cidr_addr(R->client_first, R->client_count, R->client_next++, out);
}

void plan_slowloris(struct run *R)
{
	const struct load_opts *o = R->o;
	char path[160];

	R->nstreams = 0;
	add_stream(R, FLOW_PROBE, o->rate, 0, 1, "probes", NULL);
	snprintf(path, sizeof(path), "/v1/stores/%s/products", R->stores[0].slug);
	R->slow = xcalloc(1, sizeof(*R->slow));
	if (!slow_init(R->slow, o->slow, R->apis[0], path, o->slow_interval_s, o->request_timeout_s,
	               slow_src, R))
		R->slow->n = 0; /* printed; the criteria below fail with no socket judged */
}

/* ---- judging --------------------------------------------------------------------------------- */

static uint64_t count_range(const struct stats_cell *c, int lo, int hi)
{
	uint64_t n = 0;

	for (int st = lo; st <= hi && st < STATS_STATUS_MAX; st++)
		n += c->status[st];
	return n;
}

static uint64_t served(const struct stats_cell *c)
{
	return count_range(c, 200, 499) - c->status[429];
}

static double share(uint64_t part, uint64_t whole)
{
	return whole > 0 ? (double)part / (double)whole : 0;
}

static void criterion(struct run *R, const char *what, double value, double want, bool at_most)
{
	struct criterion *c = &R->crit[R->ncrit++];

	snprintf(c->what, sizeof(c->what), "%s", what);
	c->value = value;
	c->want = want;
	c->at_most = at_most;
	c->ok = at_most ? value <= want : value >= want;
}

bool judge_groups(struct run *R)
{
	bool ok = true;

	R->ncrit = 0;
	for (int g = 0; g < R->ngroups; g++) {
		const struct group *gr = &R->groups[g];
		const struct stats_cell *c = &gr->cell;
		char what[96];

		if (strncmp(gr->name, "flood", 5) == 0 || strncmp(gr->name, "bad-key", 7) == 0) {
			snprintf(what, sizeof(what), "%s: share of requests answered 429",
			         gr->name);
			criterion(R, what, share(c->status[429], c->hist.count), LIMITED_MIN,
			          false);
		} else {
			snprintf(what, sizeof(what), "%s: share of requests served", gr->name);
			criterion(R, what, share(served(c), c->hist.count), SERVED_MIN, false);
		}
	}
	if (R->slow)
		criterion(R,
		          "slow sockets neither refused at once nor closed within the request "
		          "timeout + 2 s",
		          R->slow->n > 0 ? (double)(R->slow->outlived + R->slow->closed_late +
		                                    R->slow->left)
		                         : 1,
		          0, true);
	for (int i = 0; i < R->ncrit; i++)
		ok = ok && R->crit[i].ok;
	return ok;
}

/* ---- the report ------------------------------------------------------------------------------ */

void groups_print(const struct run *R, FILE *out)
{
	fprintf(out, "  %-14s %7s %8s %6s %6s %6s %6s %6s %6s %9s %9s\n", "party", "sent",
	        "served%", "2xx", "4xx", "429", "503", "5xx", "no-ans", "p50 ms", "p99 ms");
	for (int g = 0; g < R->ngroups; g++) {
		const struct stats_cell *c = &R->groups[g].cell;

		fprintf(out,
		        "  %-14s %7llu %8.1f %6llu %6llu %6llu %6llu %6llu %6llu %9.2f %9.2f\n",
		        R->groups[g].name, (unsigned long long)c->hist.count,
		        100 * share(served(c), c->hist.count),
		        (unsigned long long)count_range(c, 200, 299),
		        (unsigned long long)(count_range(c, 400, 499) - c->status[429]),
		        (unsigned long long)c->status[429], (unsigned long long)c->status[503],
		        (unsigned long long)(count_range(c, 500, 599) - c->status[503]),
		        (unsigned long long)c->status[0],
		        (double)hist_percentile(&c->hist, 50) / 1000.0,
		        (double)hist_percentile(&c->hist, 99) / 1000.0);
	}
	if (R->slow)
		slow_print(R->slow, out);
	for (int i = 0; i < R->ncrit; i++) {
		const struct criterion *c = &R->crit[i];

		if (c->at_most)
			fprintf(out, "criterion   %s: %.0f, want at most %.0f: %s\n", c->what,
			        c->value, c->want, c->ok ? "met" : "NOT MET");
		else
			fprintf(out, "criterion   %s: %.1f %%, want at least %.0f %%: %s\n",
			        c->what, 100 * c->value, 100 * c->want, c->ok ? "met" : "NOT MET");
	}
}

void groups_json(const struct run *R, json_t *report)
{
	json_t *groups = json_array(), *items = json_array();
	bool ok = true;

	for (int g = 0; g < R->ngroups; g++) {
		const struct stats_cell *c = &R->groups[g].cell;

		json_array_append_new(
		        groups,
		        json_pack("{s:s,s:I,s:I,s:f,s:I,s:I,s:I,s:I,s:I,s:I,s:o}", "name",
		                  R->groups[g].name, "requests", (json_int_t)c->hist.count,
		                  "served", (json_int_t)served(c), "served_share",
		                  share(served(c), c->hist.count), "2xx",
		                  (json_int_t)count_range(c, 200, 299), "4xx",
		                  (json_int_t)(count_range(c, 400, 499) - c->status[429]), "429",
		                  (json_int_t)c->status[429], "503", (json_int_t)c->status[503],
		                  "5xx", (json_int_t)(count_range(c, 500, 599) - c->status[503]),
		                  "no_answer", (json_int_t)c->status[0], "latency_ms",
		                  hist_json(&c->hist)));
	}
	for (int i = 0; i < R->ncrit; i++) {
		const struct criterion *c = &R->crit[i];

		json_array_append_new(items,
		                      json_pack("{s:s,s:f,s:f,s:s,s:b}", "what", c->what, "value",
		                                c->value, "want", c->want, "test",
		                                c->at_most ? "at_most" : "at_least", "ok", c->ok));
		ok = ok && c->ok;
	}
	json_object_set_new(report, "groups", groups);
	json_object_set_new(report, "criteria", json_pack("{s:b,s:o}", "ok", ok, "items", items));
	if (R->slow)
		json_object_set_new(report, "slow", slow_json(R->slow));
}

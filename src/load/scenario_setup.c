/*
 * scenario_setup.c — everything before the load: the processes the run starts itself, the APIs
 * it loads, its own stores and their products (made through the API, as a shop would), and for
 * checkout the pending orders made up front in SQL and left for the workers to settle.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "http.h"
#include "scenario_internal.h"
#include "banned.h"

/* ---- stores and products, through the API ---------------------------------------------------- */

/* The API refused the store's "load_test" field: one that does not know it yet (a 4xx naming
 * it, 400 unknown_field today). */
static bool names_load_test(const struct http_answer *a)
{
	json_t *details = json_object_get(json_object_get(a->json, "error"), "details");
	const char *field = json_string_value(json_object_get(details, "field"));

	return a->status >= 400 && a->status < 500 && a->status != 429 &&
	       ((field && strcmp(field, "load_test") == 0) ||
	        (a->body && strstr(a->body, "load_test")));
}

/* POSTs/PUTs a JSON value (stolen) and expects `want`; false (printed) otherwise. */
static bool setup_call(const char *base, const char *method, const char *path, const char *auth,
                       json_t *body, long want, struct http_answer *a)
{
	char *text = xjson_dumps(xjson(body), JSON_COMPACT);

	json_decref(body);
	http_sync(base, method, path, auth, text, 10000, a);
	free(text);
	if (a->status == want)
		return true;
	if (names_load_test(a))
		return false; /* setup_store tries again without it, and says so */
	fprintf(stderr, "terminus-load: setup: %s %s%s: want %ld, got %ld %s\n", method, base, path,
	        want, a->status, a->status ? (a->body ? a->body : "") : a->error);
	return false;
}

/* The store's products (--products of them, --stock units each), in SKU order. */
static bool setup_products(struct run *R, const char *base, struct store *s)
{
	const struct load_opts *o = R->o;
	struct http_answer a;
	char path[160];
	const char *id;

	s->nproducts = o->products;
	s->products = xcalloc((size_t)o->products, sizeof(*s->products));
	snprintf(path, sizeof(path), "/v1/stores/%s/products", s->slug);
	for (int k = 0; k < o->products; k++) {
		char sku[32], pname[64];

		snprintf(sku, sizeof(sku), "LOAD-%d", k);
		snprintf(pname, sizeof(pname), "Load product %d", k);
		if (!setup_call(base, "POST", path, s->key,
		                json_pack("{s:s,s:s,s:s,s:I,s:I}", "sku", sku, "name", pname,
		                          "description", "made by terminus-load", "price_cents",
		                          (json_int_t)(100 + 50 * k), "inventory",
		                          (json_int_t)o->stock),
		                201, &a))
			goto release_answer;
		id = json_string_value(json_object_get(a.json, "id"));
		if (!id) {
			fprintf(stderr, "terminus-load: setup: product answer without id: %s\n",
			        a.body);
			goto release_answer;
		}
		snprintf(s->products[k], sizeof(s->products[k]), "%s", id);
		http_answer_release(&a);
	}
	return true;
release_answer:
	http_answer_release(&a);
	return false;
}

/* Store i of the run: its slug from the run's id, its checkout path (--path; both: every other
 * store synchronous), its admin key, then its products. */
static bool setup_store(struct run *R, const char *base, int i)
{
	const struct load_opts *o = R->o;
	struct store *s = &R->stores[i];
	struct http_answer a;
	char path[160], name[96];
	const char *id, *key;
	json_t *body;

	snprintf(s->slug, sizeof(s->slug), "ld-%s-%d", R->run_id, i);
	snprintf(name, sizeof(name), "terminus-load %s %s", o->name, s->slug);
	s->sync = strcmp(o->path, "sync") == 0 || (strcmp(o->path, "both") == 0 && i % 2 == 1);
	/* A load-test store: hidden from the public store list. An API that does not know the
	 * field yet names it in a 400; the store is then made without it, once said. */
	body = json_pack("{s:s,s:s,s:s}", "slug", s->slug, "name", name, "currency", "USD");
	if (!R->no_load_test_field)
		json_object_set_new(body, "load_test", json_true());
	if (!setup_call(base, "POST", "/v1/stores", o->operator_key, body, 201, &a)) {
		if (!R->no_load_test_field && names_load_test(&a)) {
			fprintf(stderr, "terminus-load: this API does not know \"load_test\": the "
			                "run's stores are ordinary stores, listed publicly\n");
			R->no_load_test_field = true;
			http_answer_release(&a);
			return setup_store(R, base, i);
		}
		goto release_answer;
	}
	id = json_string_value(json_object_get(json_object_get(a.json, "store"), "id"));
	key = json_string_value(json_object_get(a.json, "admin_key"));
	if (!id || !key) {
		fprintf(stderr, "terminus-load: setup: store answer without id or key: %s\n",
		        a.body);
		goto release_answer;
	}
	snprintf(s->id, sizeof(s->id), "%s", id);
	snprintf(s->key, sizeof(s->key), "%s", key);
	http_answer_release(&a);
	if (s->sync) {
		snprintf(path, sizeof(path), "/v1/stores/%s/flags/checkout.async_enabled", s->slug);
		if (!setup_call(base, "PUT", path, s->key,
		                json_pack("{s:b,s:i}", "enabled", 0, "rollout_percent", 100), 200,
		                &a))
			goto release_answer;
		http_answer_release(&a);
	}
	return setup_products(R, base, s);
release_answer:
	http_answer_release(&a);
	return false;
}

/* ---- checkout: pending orders, in SQL -------------------------------------------------------- */

/* checkout: the pending orders, made in SQL as the owner role, as POST …/orders would make them
 * (the order, one line of one unit, its 'pending' timeline entry), so that the run measures the
 * checkout alone. Order g of a store buys product g mod P (products in SKU order), so
 * consecutive checkouts touch different inventory rows. Ids come back in that order. */
static struct db_stmt st_make_orders = DB_STMT(
        "load_make_orders",
        "WITH p AS (SELECT row_number() OVER (ORDER BY sku) - 1 AS k, id, sku, name, price_cents "
        "           FROM products WHERE store_id = $1::uuid), "
        "x AS (SELECT gen_random_uuid() AS id, g, p.id AS product_id, p.sku, p.name, "
        "             p.price_cents "
        "      FROM generate_series(0, $2::int - 1) g "
        "      JOIN p ON p.k = g % (SELECT count(*) FROM p)), "
        "o AS (INSERT INTO orders (id, store_id, customer_email, currency, total_cents) "
        "      SELECT x.id, $1::uuid, 'load@example.com', s.currency, x.price_cents "
        "      FROM x JOIN stores s ON s.id = $1::uuid ORDER BY x.g RETURNING id), "
        "i AS (INSERT INTO order_items (order_id, line_no, store_id, product_id, sku, name, "
        "                               quantity, unit_price_cents) "
        "      SELECT x.id, 1, $1::uuid, x.product_id, x.sku, x.name, 1, x.price_cents FROM x), "
        "t AS (INSERT INTO order_events (order_id, store_id, from_status, to_status, reason) "
        "      SELECT id, $1::uuid, NULL, 'pending', 'created' FROM o) "
        "SELECT x.id FROM x ORDER BY x.g");

/* The statements that make the orders, on c; false (e says why) when one failed. res[i] holds
 * store i's order ids. */
static bool insert_orders(struct run *R, struct db_conn *c, PGresult **res, struct err *e)
{
	const struct load_opts *o = R->o;
	PGresult *r;

	r = db_exec_sql(c, "SET statement_timeout = '600s'", e);
	if (!r)
		return false;
	PQclear(r);
	for (int i = 0; i < R->nstores; i++) {
		long long n = o->orders / R->nstores + (i < o->orders % R->nstores ? 1 : 0);
		char count[24];

		snprintf(count, sizeof(count), "%lld", n);
		res[i] = db_exec(c, &st_make_orders, DB_PARAMS(R->stores[i].id, count), e);
		if (!res[i])
			return false;
	}
	/* Bulk-loaded rows: planner statistics as autovacuum would refresh them over time. */
	r = db_exec_sql(c, "ANALYZE orders, order_items, order_events", e);
	if (!r)
		return false;
	PQclear(r);
	return true;
}

/* The orders of every store into R->orders (and the ledger), in checkout order: interleaved over
 * the stores, so `--path both` alternates sync and async checkouts. */
static void collect_orders(struct run *R, PGresult *const *res)
{
	size_t total = 0;
	int rows = 0;

	for (int i = 0; i < R->nstores; i++) {
		total += PQntuples(res[i]);
		if (PQntuples(res[i]) > rows)
			rows = PQntuples(res[i]);
	}
	R->orders = xcalloc(total > 0 ? total : 1, sizeof(*R->orders));
	for (int row = 0; row < rows; row++) {
		for (int i = 0; i < R->nstores; i++) {
			if (row >= PQntuples(res[i]))
				continue;
			R->orders[R->norders].store = i;
			snprintf(R->orders[R->norders].id, sizeof(R->orders[0].id), "%s",
			         db_get(res[i], row, 0));
			ledger_add(&R->ledger, LEDGER_CREATED, R->stores[i].id,
			           R->orders[R->norders].id);
			R->norders++;
		}
	}
}

/* checkout: the pending orders of every store (st_make_orders); how long it took goes into the
 * report, to tell the setup apart from the measurement. */
static bool make_orders(struct run *R)
{
	struct err e = ERR_INIT;
	PGresult **res = xcalloc((size_t)R->nstores, sizeof(*res));
	double t0 = mono_now();
	struct db_conn *c = db_conn_open(R->o->db, DB_ROLE_OWNER, &e);
	bool ok = false;

	if (!c) {
		fprintf(stderr, "terminus-load: cannot connect to the database: %s\n", e.message);
		goto release_results;
	}
	ok = insert_orders(R, c, res, &e);
	if (ok) {
		collect_orders(R, res);
		R->c.orders_created = R->norders;
		R->setup_s = mono_now() - t0;
	} else {
		fprintf(stderr, "terminus-load: making the pending orders: %s\n", e.message);
	}
	db_conn_free(c);
release_results:
	for (int i = 0; i < R->nstores; i++)
		PQclear(res[i]);
	free(res);
	err_release(&e);
	return ok;
}

static struct db_stmt st_pending = DB_STMT(
        "load_settle_pending",
        "SELECT count(*) FROM outbox_events WHERE store_id = ANY($1::uuid[]) AND status = 'pending'");

/* checkout: each 'pending' timeline entry made an OrderStatusChanged event (a trigger, as for
 * POST …/orders). Before the measurement the workers finish them, so that the checkouts do not
 * share the machine with a backlog of N creations no shop makes at once. Bounded by
 * --drain-timeout; what is left is reported. */
static void settle(struct run *R)
{
	const char **ids = xcalloc((size_t)R->nstores, sizeof(*ids));
	struct err e = ERR_INIT;
	struct db_conn *c = db_conn_open(R->o->db, DB_ROLE_OWNER, &e);
	double t0 = mono_now();
	char *scope;

	for (int i = 0; i < R->nstores; i++)
		ids[i] = R->stores[i].id;
	scope = db_array(R->nstores, ids);
	R->settle_left = -1;
	while (c && !stop_requested) {
		PGresult *r = db_exec(c, &st_pending, DB_PARAMS(scope), &e);

		if (!r)
			break;
		R->settle_left = db_get_ll(r, 0, 0);
		PQclear(r);
		if (R->settle_left == 0 || mono_now() - t0 >= R->o->drain_timeout_s)
			break;
		usleep(100 * 1000);
	}
	if (R->settle_left != 0)
		fprintf(stderr, "terminus-load: %s; measuring anyway\n",
		        R->settle_left < 0
		                ? "cannot count the pending events"
		                : "the creation events did not drain (is a worker running?)");
	R->settle_s = mono_now() - t0;
	if (c)
		db_conn_free(c);
	err_release(&e);
	free(scope);
	free(ids);
}

/* ---- the run's processes and targets --------------------------------------------------------- */

/* Starts them and waits until every API is ready. */
static bool start_fleet(struct run *R)
{
	const struct load_opts *o = R->o;
	struct fleet *fleet = &R->fleet;
	bool ok = true;

	for (int i = 0; i < o->spawn_apis; i++)
		ok = fleet_start(fleet, fleet_add(fleet, PROC_API)) && ok;
	for (int i = 0; i < o->spawn_workers; i++)
		ok = fleet_start(fleet, fleet_add(fleet, PROC_WORKER)) && ok;
	for (int i = 0; ok && i < fleet->n; i++) {
		struct proc *p = &fleet->p[i];

		if (p->kind != PROC_API)
			continue;
		if (!fleet_wait_ready(p, 30)) {
			fprintf(stderr, "terminus-load: %s never became ready; see %s\n", p->name,
			        p->log);
			ok = false;
		}
		R->apis[R->napis++] = p->base;
	}
	return ok;
}

/* --apis and --workers: a log directory and an operator key unless given (made up: the run's
 * own APIs are started with it), then the processes; the APIs become targets. */
static bool start_processes(struct run *R)
{
	struct load_opts *oo = &R->opts;

	if (!oo->log_dir) {
		snprintf(R->logdir_buf, sizeof(R->logdir_buf), "%s/terminus-load.XXXXXX",
		         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
		if (!mkdtemp(R->logdir_buf)) {
			fprintf(stderr, "terminus-load: mkdtemp: %s\n", strerror(errno));
			return false;
		}
		oo->log_dir = R->logdir_buf;
	}
	if (!oo->operator_key) {
		random_hex(R->opkey_buf, 40);
		oo->operator_key = R->opkey_buf;
	}
	R->fleet.bindir = oo->bindir;
	R->fleet.db = oo->db;
	R->fleet.operator_key = oo->operator_key;
	R->fleet.logdir = oo->log_dir;
	R->fleet.retry_base_ms = oo->retry_base_ms;
	fprintf(stderr, "terminus-load: starting %d API and %d worker processes (logs in %s)\n",
	        oo->spawn_apis, oo->spawn_workers, oo->log_dir);
	return start_fleet(R);
}

/* --client-addresses: the customers' source addresses, one per customer (a flow), so that the
 * API's limits per address see many customers, as they would be in a shop, and not one client.
 * They are used only towards APIs on loopback addresses, where every 127.x address is this
 * machine's without any setup (Linux); by default 127.1.0.0/16 when there is such an API. */
static bool client_addresses(struct run *R)
{
	const char *spec = R->o->client_addresses;
	bool any = false;

	for (int i = 0; i < R->napis; i++) {
		R->api_loopback[i] = url_is_loopback(R->apis[i]);
		any = any || R->api_loopback[i];
	}
	if (spec && strcmp(spec, "none") == 0)
		return true;
	if (!spec) {
		if (!any)
			return true;
		spec = "127.1.0.0/16";
	}
	if (!parse_cidr(spec, &R->client_first, &R->client_count)) {
		fprintf(stderr, "terminus-load: --client-addresses %s: want A.B.C.D/N or none\n",
		        spec);
		return false;
	}
	if (!any)
		fprintf(stderr,
		        "terminus-load: --client-addresses %s: no API on a loopback address "
		        "to use them with\n",
		        spec);
	return true;
}

bool setup_run(struct run *R)
{
	const struct load_opts *o = R->o;

	if ((o->spawn_apis > 0 || o->spawn_workers > 0) && !start_processes(R))
		return false;
	for (int i = 0; i < o->napis; i++)
		R->apis[R->napis++] = o->apis[i];
	if (R->napis == 0)
		R->apis[R->napis++] = "http://127.0.0.1:8080";
	if (!client_addresses(R))
		return false;
	if (!o->operator_key) {
		fprintf(stderr,
		        "terminus-load: the run creates its own stores: give --operator-key "
		        "or TERMINUS_OPERATOR_KEY\n");
		return false;
	}
	R->nstores = o->stores;
	R->stores = xcalloc((size_t)R->nstores, sizeof(*R->stores));
	for (int i = 0; i < R->nstores; i++) {
		if (!setup_store(R, R->apis[0], i))
			return false;
	}
	if (o->scenario == SC_CHECKOUT && !make_orders(R))
		return false;
	if (o->scenario == SC_CHECKOUT && !R->prepare_only && o->check)
		settle(R);
	return true;
}

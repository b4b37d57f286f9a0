/*
 * check.c — the outbox drain, the invariants and what the clients were told (see check.h).
 *
 * The invariants are the core's table (include/core/invariants.h): every one of them runs here,
 * in one REPEATABLE READ transaction. Only acknowledged_durable is this tool's own: it holds the
 * database to the load's ledger of answers, which only the load has. Its statement is written,
 * like the table's, as "the rows that break the rule", wrapped so that the first column counts
 * them all (count(*) OVER () is computed before LIMIT) and at most INVARIANT_SAMPLE_ROWS are
 * fetched. $1 is the scope of the other statements here: a uuid[] of stores, or NULL for every
 * store.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "db.h"
#include "invariants.h"
#include "util.h"
#include "xalloc.h"
#include "banned.h"

#define STR_(x)      #x
#define STR(x)       STR_(x)
#define CHECK_POLL_S 0.1

#define WRAP(inner)                                                                                \
	"SELECT count(*) OVER () AS violations, q.* FROM (" inner                                  \
	") q LIMIT " STR(INVARIANT_SAMPLE_ROWS)
#define SCOPE(a) "($1::uuid[] IS NULL OR " a ".store_id = ANY($1::uuid[]))"

struct ledger_check {
	const char *name; /* stable: tests and scripts match it */
	const char *rule; /* what must hold, and where the contract says so */
	struct db_stmt st;
};

/* clang-format off */
/* What the clients were told, against the database: $1 order ids, $2 kinds (ledger.h). */
static struct ledger_check acked = {
	"acknowledged_durable",
	"every acknowledged effect is in the database: a created order exists; a 202 checkout "
	"left the order past pending with a payment; a 200 checkout left it confirmed (or "
	"refunded later); a 200 cancel left it cancelled or refunded (guarantees §3, §6)",
	DB_STMT("load_inv_acked", WRAP(
	"SELECT l.kind AS acknowledged, l.order_id, o.status AS order_status, "
	"       (SELECT count(*) FROM payments p WHERE p.order_id = l.order_id) AS payments "
	"FROM unnest($1::uuid[], $2::text[]) AS l(order_id, kind) "
	"LEFT JOIN orders o ON o.id = l.order_id "
	"WHERE o.id IS NULL "
	"   OR (l.kind IN ('checkout_async', 'checkout_sync') AND (o.status = 'pending' "
	"       OR NOT EXISTS (SELECT 1 FROM payments p WHERE p.order_id = l.order_id))) "
	"   OR (l.kind = 'checkout_sync' AND o.status NOT IN ('confirmed', 'refunded')) "
	"   OR (l.kind = 'cancelled' AND o.status NOT IN ('cancelled', 'refunded'))"))};

static struct db_stmt st_pending = DB_STMT(
	"load_pending", "SELECT count(*) FROM outbox_events e WHERE e.status = 'pending' AND "
	SCOPE("e"));

static struct db_stmt st_counts = DB_STMT(
	"load_counts",
	"SELECT (SELECT count(*) FROM orders o WHERE " SCOPE("o") "), "
	"(SELECT count(*) FROM payments o WHERE " SCOPE("o") "), "
	"(SELECT count(*) FROM products o WHERE " SCOPE("o") "), "
	"(SELECT count(*) FROM outbox_events o WHERE " SCOPE("o") "), "
	"(SELECT count(*) FROM outbox_events o WHERE o.status = 'dead' AND " SCOPE("o") "), "
	"(SELECT count(*) FROM orders o WHERE o.status = 'confirmed' AND " SCOPE("o") ")");

static struct db_stmt st_resolve = DB_STMT(
	"load_resolve", "SELECT s.slug, s.id FROM unnest($1::text[]) AS w(slug) "
	"LEFT JOIN stores s ON s.slug = w.slug");

static struct db_stmt st_lag = DB_STMT(
	"load_confirm_lag",
	"SELECT s.slug, count(c.at), "
	"  coalesce(percentile_disc(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM c.at - a.at)), 0), "
	"  coalesce(percentile_disc(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM c.at - a.at)), 0), "
	"  coalesce(max(extract(epoch FROM c.at - a.at)), 0) "
	"FROM stores s "
	"LEFT JOIN orders o ON o.store_id = s.id AND o.checkout_path = 'async' "
	"LEFT JOIN order_events a ON a.order_id = o.id AND a.to_status = 'payment_authorized' "
	"LEFT JOIN order_events c ON c.order_id = o.id AND c.to_status = 'confirmed' "
	"WHERE ($1::uuid[] IS NULL OR s.id = ANY($1::uuid[])) GROUP BY s.slug, s.seq ORDER BY s.seq");
/* clang-format on */

/* ---- connection ---------------------------------------------------------------------------- */

/* Connects, retrying until wait_s has passed (a chaos run may have just restarted the
 * database); NULL (printed) when it never answered. */
static struct db_conn *connect_db(const char *url, double wait_s, FILE *out)
{
	double deadline = mono_now() + wait_s;
	struct err e = ERR_INIT;
	struct db_conn *c;
	PGresult *r;

	for (;;) {
		err_release(&e);
		c = db_conn_open(url, DB_ROLE_OWNER, &e);
		if (c || mono_now() >= deadline)
			break;
		usleep(200 * 1000); /* between two attempts, with a deadline */
	}
	if (!c) {
		fprintf(out, "check: cannot connect to the database: %s\n", e.message);
		err_release(&e);
		return NULL;
	}
	/* One snapshot for every statement; no 5 s statement limit for a large database. */
	r = db_exec_sql(
	        c,
	        "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL REPEATABLE READ; "
	        "SET statement_timeout = '300s'",
	        &e);
	if (!r) {
		fprintf(out, "check: session setup failed: %s\n", e.message);
		err_release(&e);
		db_conn_free(c);
		return NULL;
	}
	PQclear(r);
	return c;
}

/* The scope parameter: "{id,…}" of the named stores, or NULL for every store. False (printed)
 * when a store does not exist. */
static bool resolve_scope(struct db_conn *c, const struct check_opts *o, char **scope, FILE *out)
{
	struct err e = ERR_INIT;
	char *slugs;
	const char **ids;
	PGresult *r;
	bool ok = true;

	*scope = NULL;
	if (o->nstores == 0)
		return true;
	slugs = db_array((int)o->nstores, (const char *const *)o->store_slugs);
	r = db_exec_once(c, NULL, true, &st_resolve, DB_PARAMS(slugs), &e);
	free(slugs);
	if (!r) {
		fprintf(out, "check: cannot read the stores: %s\n", e.message);
		err_release(&e);
		return false;
	}
	ids = xcalloc((size_t)PQntuples(r) + 1, sizeof(*ids));
	for (int i = 0; i < PQntuples(r); i++) {
		if (!db_get(r, i, 1)) {
			fprintf(out, "check: no store %s\n", db_get(r, i, 0));
			ok = false;
		}
		ids[i] = db_get(r, i, 1);
	}
	if (ok)
		*scope = db_array(PQntuples(r), ids);
	free(ids);
	PQclear(r);
	return ok;
}

/* ---- drain --------------------------------------------------------------------------------- */

/* Polls until no event of the scope is pending or the deadline passes; reconnects when the
 * database went away (a chaos run may have just restarted it). */
static json_t *drain(struct db_conn **cp, const struct check_opts *o, const char *scope,
                     bool *drained, FILE *out)
{
	double t0 = mono_now(), deadline = t0 + o->drain_timeout_s, last_print = 0;
	long long pending = -1, first = -1;

	*drained = false;
	for (;;) {
		struct err e = ERR_INIT;
		PGresult *r = NULL;

		if (db_conn_ok(*cp) || db_conn_reset(*cp, &e))
			r = db_exec_once(*cp, NULL, true, &st_pending, DB_PARAMS(scope), &e);
		err_release(&e);
		if (r) {
			pending = db_get_ll(r, 0, 0);
			PQclear(r);
			if (first < 0)
				first = pending;
			if (pending == 0) {
				*drained = true;
				break;
			}
		}
		if (mono_now() >= deadline)
			break;
		if (o->live && mono_now() - last_print >= 1.0) {
			fprintf(stderr, "\rdraining: %lld events pending, %.0f s\033[K", pending,
			        mono_now() - t0);
			last_print = mono_now();
		}
		usleep((useconds_t)(CHECK_POLL_S * 1e6)); /* between two polls, with a deadline */
	}
	if (o->live && last_print > 0)
		fprintf(stderr, "\r\033[K");
	fprintf(out, "drain       %s in %.1f s (%lld events pending at the start, %lld now)\n",
	        *drained ? "done" : "NOT DONE", mono_now() - t0, first, pending);
	return json_pack("{s:b,s:f,s:I,s:I}", "drained", *drained, "seconds", mono_now() - t0,
	                 "pending_at_start", (json_int_t)first, "pending_left",
	                 (json_int_t)pending);
}

/* ---- invariants ---------------------------------------------------------------------------- */

/* Prints one violated invariant and its rows (objects of the statement's columns, printed in
 * its column order); returns its JSON, which takes the rows. */
static json_t *report_rows(const char *name, const char *rule, long long total, json_t *rows,
                           FILE *out)
{
	json_t *row, *v;
	const char *col;
	size_t i;

	fprintf(out, "VIOLATION %s: %lld %s \"%s\"\n", name, total,
	        total == 1 ? "row breaks" : "rows break", rule);
	json_array_foreach(rows, i, row)
	{
		fprintf(out, "   ");
		json_object_foreach(row, col, v)
		{
			fprintf(out, " %s=%s", col,
			        json_is_string(v) ? json_string_value(v) : "NULL");
		}
		fprintf(out, "\n");
	}
	if (total > (long long)json_array_size(rows))
		fprintf(out, "    … and %lld more\n", total - (long long)json_array_size(rows));
	return json_pack("{s:s,s:s,s:I,s:o}", "invariant", name, "rule", rule, "count",
	                 (json_int_t)total, "rows", rows);
}

/* Runs one invariant of the table; appends a violation to viol when rows break it. False when
 * its statement failed. */
static bool run_invariant(struct db_conn *c, const struct invariant *inv,
                          const struct invariant_scope *scope, json_t *viol, FILE *out)
{
	struct err e = ERR_INIT;
	struct invariant_result res;

	if (!invariants_run_one(c, inv, scope, &res, &e)) {
		fprintf(out, "check: %s could not be checked: %s (SQLSTATE %s)\n", inv->name,
		        e.message, e.sqlstate[0] ? e.sqlstate : "none");
		err_release(&e);
		return false;
	}
	if (res.violations > 0)
		json_array_append_new(viol, report_rows(inv->name, inv->holds, res.violations,
		                                        json_incref(res.rows), out));
	invariants_result_release(&res);
	return true;
}

/* The same for acknowledged_durable, whose statement is this file's. */
static bool run_acked(struct db_conn *c, int nparams, const char *const *params, json_t *viol,
                      FILE *out)
{
	struct err e = ERR_INIT;
	PGresult *r = db_exec(c, &acked.st, nparams, params, &e);
	json_t *rows;

	if (!r) {
		fprintf(out, "check: %s could not be checked: %s (SQLSTATE %s)\n", acked.name,
		        e.message, e.sqlstate[0] ? e.sqlstate : "none");
		err_release(&e);
		return false;
	}
	if (PQntuples(r) > 0) {
		rows = json_array();
		for (int i = 0; i < PQntuples(r); i++) {
			json_t *row = json_object();

			for (int k = 1; k < PQnfields(r); k++) {
				const char *v = db_get(r, i, k);

				json_object_set_new(row, PQfname(r, k),
				                    v ? json_string(v) : json_null());
			}
			json_array_append_new(rows, row);
		}
		json_array_append_new(
		        viol, report_rows(acked.name, acked.rule, db_get_ll(r, 0, 0), rows, out));
	}
	PQclear(r);
	return true;
}

static bool check_ledger(struct db_conn *c, const struct ledger *l, json_t *viol, FILE *out)
{
	const char **ids, **kinds;
	char *a, *b;
	bool ok;

	if (!l || l->n == 0)
		return true;
	ids = xcalloc(l->n, sizeof(*ids));
	kinds = xcalloc(l->n, sizeof(*kinds));
	for (size_t i = 0; i < l->n; i++) {
		ids[i] = l->e[i].order_id;
		kinds[i] = ledger_kind_name(l->e[i].kind);
	}
	a = db_array((int)l->n, ids);
	b = db_array((int)l->n, kinds);
	ok = run_acked(c, DB_PARAMS(a, b), viol, out);
	free(a);
	free(b);
	free(ids);
	free(kinds);
	return ok;
}

/* The clients' own findings (a replay that differed, a changed request not refused, …), one
 * violation per invariant name. */
static void client_violations(const struct ledger *l, json_t *viol, FILE *out)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nv; i++) {
		const char *name = l->v[i].invariant;
		json_t *rows;
		bool seen = false;

		for (size_t k = 0; k < i && !seen; k++)
			seen = strcmp(l->v[k].invariant, name) == 0;
		if (seen)
			continue;
		rows = json_array();
		for (size_t k = i; k < l->nv; k++) {
			if (strcmp(l->v[k].invariant, name) == 0)
				json_array_append_new(rows, json_string(l->v[k].detail));
		}
		fprintf(out, "VIOLATION %s: %zu time%s, seen by the clients\n", name,
		        json_array_size(rows), json_array_size(rows) == 1 ? "" : "s");
		for (size_t k = 0; k < json_array_size(rows) && k < 20; k++)
			fprintf(out, "    %s\n", json_string_value(json_array_get(rows, k)));
		json_array_append_new(viol,
		                      json_pack("{s:s,s:s,s:I,s:o}", "invariant", name, "rule",
		                                "what the clients were told is consistent", "count",
		                                (json_int_t)json_array_size(rows), "rows", rows));
	}
}

enum check_status check_run(const struct check_opts *o, FILE *out, json_t **json)
{
	struct db_conn *c = NULL;
	struct err e = ERR_INIT;
	enum check_status status = CHECK_ERROR;
	char *scope = NULL;
	json_t *viol = json_array(), *checked = json_array(), *drain_j = NULL, *counts = NULL;
	bool drained = false, ok = true;
	PGresult *r;

	if (json)
		*json = NULL;
	c = connect_db(o->db, 10, out);
	if (!c || !resolve_scope(c, o, &scope, out))
		goto out;
	drain_j = drain(&c, o, scope, &drained, out);
	if (!db_conn_ok(c)) {
		db_conn_free(c);
		c = connect_db(o->db, 10, out);
		if (!c)
			goto out;
	}

	if (!db_begin(c, NULL, true, &e)) {
		fprintf(out, "check: cannot begin: %s\n", e.message);
		goto out;
	}
	r = db_exec(c, &st_counts, DB_PARAMS(scope), &e);
	if (!r) {
		fprintf(out, "check: cannot count: %s\n", e.message);
		db_rollback(c);
		goto out;
	}
	counts = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "orders", (json_int_t)db_get_ll(r, 0, 0),
	                   "payments", (json_int_t)db_get_ll(r, 0, 1), "products",
	                   (json_int_t)db_get_ll(r, 0, 2), "events", (json_int_t)db_get_ll(r, 0, 3),
	                   "dead_events", (json_int_t)db_get_ll(r, 0, 4), "confirmed_orders",
	                   (json_int_t)db_get_ll(r, 0, 5));
	PQclear(r);
	for (size_t i = 0; i < invariants_count(); i++) {
		const struct invariant *inv = invariants_get(i);

		/* After the drain: any order still in payment_authorized is stuck (min_age_s 0). */
		ok = run_invariant(c, inv, &(struct invariant_scope){.stores = scope}, viol, out) &&
		     ok;
		json_array_append_new(checked, json_string(inv->name));
	}
	if (o->ledger && o->ledger->n > 0) {
		ok = check_ledger(c, o->ledger, viol, out) && ok;
		json_array_append_new(checked, json_string(acked.name));
	}
	db_rollback(c);
	client_violations(o->ledger, viol, out);
	if (!ok)
		goto out;
	status = json_array_size(viol) > 0 ? CHECK_VIOLATED : CHECK_OK;
	fprintf(out,
	        "invariants  %zu checked, %zu violated (orders %lld, confirmed %lld, payments %lld, "
	        "products %lld, events %lld of which dead %lld; %zu client acknowledgements)\n",
	        json_array_size(checked), json_array_size(viol),
	        (long long)json_integer_value(json_object_get(counts, "orders")),
	        (long long)json_integer_value(json_object_get(counts, "confirmed_orders")),
	        (long long)json_integer_value(json_object_get(counts, "payments")),
	        (long long)json_integer_value(json_object_get(counts, "products")),
	        (long long)json_integer_value(json_object_get(counts, "events")),
	        (long long)json_integer_value(json_object_get(counts, "dead_events")),
	        o->ledger ? o->ledger->n : 0);
out:
	if (json) {
		*json = json_pack("{s:b,s:s,s:o,s:o,s:o,s:o}", "ok", status == CHECK_OK, "status",
		                  status == CHECK_OK         ? "ok"
		                  : status == CHECK_VIOLATED ? "violated"
		                                             : "error",
		                  "drain", drain_j ? drain_j : json_null(), "counts",
		                  counts ? counts : json_null(), "checked", checked, "violations",
		                  viol);
	} else {
		json_decref(drain_j);
		json_decref(counts);
		json_decref(checked);
		json_decref(viol);
	}
	err_release(&e);
	free(scope);
	db_conn_free(c);
	return status;
}

json_t *check_confirm_lag(const struct check_opts *o, FILE *out)
{
	struct db_conn *c = connect_db(o->db, 10, out);
	struct err e = ERR_INIT;
	char *scope = NULL;
	json_t *arr = NULL;
	PGresult *r;

	if (!c)
		return NULL;
	if (!resolve_scope(c, o, &scope, out))
		goto out;
	r = db_exec_once(c, NULL, true, &st_lag, DB_PARAMS(scope), &e);
	if (!r) {
		fprintf(out, "check: cannot read the timelines: %s\n", e.message);
		goto out;
	}
	arr = json_array();
	fprintf(out, "  %-22s %8s %9s %9s %9s   (async checkout -> confirmed, from the timeline)\n",
	        "confirm lag (ms)", "count", "p50", "p99", "max");
	for (int i = 0; i < PQntuples(r); i++) {
		double p50 = strtod(db_get(r, i, 2), NULL) * 1000.0;
		double p99 = strtod(db_get(r, i, 3), NULL) * 1000.0;
		double max = strtod(db_get(r, i, 4), NULL) * 1000.0;

		fprintf(out, "  %-22s %8lld %9.1f %9.1f %9.1f\n", db_get(r, i, 0),
		        db_get_ll(r, i, 1), p50, p99, max);
		json_array_append_new(arr,
		                      json_pack("{s:s,s:I,s:f,s:f,s:f}", "store", db_get(r, i, 0),
		                                "count", (json_int_t)db_get_ll(r, i, 1), "p50_ms",
		                                p50, "p99_ms", p99, "max_ms", max));
	}
	PQclear(r);
out:
	err_release(&e);
	free(scope);
	db_conn_free(c);
	return arr;
}

/*
 * itest_invariants.c — the invariants module (include/core/invariants.h) against a real database:
 * a drained store made through the API breaks none of them; then, for every invariant of the
 * table, a row corrupted directly as the database owner is reported under that invariant's name
 * (with the row in its sample), and once the row is put back the store is clean again.
 *
 * It runs through p_invariants / p_invariants_violated, what p_assert_invariants (and with it
 * the worker suites' p_assert_all_confirmed) fails on, so this also shows that those assertions
 * fail when an invariant is broken. And the two things the fault detector's audit relies on: the
 * per-store summary (invariants_by_store: the store, the count, the row ids, the lines) and the
 * minimum age of no_order_stuck; and the scope: one store's violation is not another's.
 *
 * A plant may break more than its invariant (an order set to payment_authorized by hand also
 * holds no stock and has no timeline entry for it); the test asks only that the named one
 * reports it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "fixtures.h"
#include "db.h"
#include "invariants.h"
#include "procs.h"
#include "banned.h"

/* The world: store A with one product (10 in stock), two confirmed orders (2 and 1 units) and a
 * pending one; store B with a product of its own. Every event finished, no worker running. */
static struct h_store a, b;
static char product[H_ID_LEN], order1[H_ID_LEN], order2[H_ID_LEN], pending[H_ID_LEN];
static char product_b[H_ID_LEN];

static void checkout_sync(const char *order)
{
	struct resp r = {0};
	char key[80];

	h_unique_key(key, sizeof(key), "inv");
	h_checkout(&r, &a, order, key, "tok_ok");
	H_STATUS(&r, 200);
	H_JSTR(r.json, "status", "confirmed");
	resp_release(&r);
}

static int group_setup(void **state)
{
	struct p_worker w;
	long long left = -1;

	(void)state;
	h_must_create_store(&a, "inv");
	h_must_create_store(&b, "inv-other");
	h_must_set_flag(&a, "checkout.async_enabled", false);
	h_must_create_product(&a, 500, 10, product);
	h_must_create_product(&b, 700, 5, product_b);
	h_must_create_order(&a, product, 2, order1);
	h_must_create_order(&a, product, 1, order2);
	h_must_create_order(&a, product, 1, pending);
	checkout_sync(order1);
	checkout_sync(order2);
	/* The checkouts' events finished by a worker, which then stops: a planted pending event
	 * stays pending. */
	H_CHECK(p_worker_start(&w, "inv", NULL), "the worker did not start");
	H_CHECK(p_wait_db(30, &left, "==", 0,
	                  "SELECT count(*) FROM outbox_events WHERE status = 'pending'", NULL),
	        "%lld events still pending", left);
	H_CHECK(p_worker_term(&w, 10, NULL) == 0, "the worker did not stop on SIGTERM");
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	p_stop_all();
	h_db_close();
	return 0;
}

/* ---- helpers --------------------------------------------------------------------------------- */

/* How many rows break one invariant in a store (NULL: every store); what (may be NULL) gets the
 * line of the first of them, "" when none does. */
static long long violations(const char *store_id, const char *name, int min_age_s, char *what,
                            size_t len)
{
	size_t n;
	struct invariant_result *r = p_invariants(store_id, name, min_age_s, &n);
	long long v = r[0].violations;

	if (what != NULL)
		snprintf(what, len, "%s",
		         v > 0 ? json_string_value(json_array_get(r[0].what, 0)) : "");
	invariants_results_free(r, n);
	return v;
}

/* Every invariant holds in the store: the module's verdict, as p_assert_invariants reads it. */
static void expect_clean(const struct h_store *s)
{
	size_t n, violated;
	struct invariant_result *r = p_invariants(s->id, NULL, 0, &n);
	char why[1200];

	violated = p_invariants_violated(r, n, why, sizeof(why));
	invariants_results_free(r, n);
	H_CHECK(n == invariants_count(), "%zu of %zu invariants ran", n, invariants_count());
	H_CHECK(violated == 0, "store %s is not clean: %s", s->slug, why);
}

/* invariants_by_store for one invariant over the stores (uuid[] literal, NULL: all), on a
 * connection of its own as the owner. New reference. */
static json_t *by_store(const char *name, const char *stores, int min_age_s)
{
	struct err e = ERR_INIT;
	struct invariant_scope scope = {.stores = stores, .min_age_s = min_age_s};
	struct db_conn *c = db_conn_open(h_env.db, DB_ROLE_OWNER, &e);
	json_t *out = NULL;
	bool ok = c != NULL && invariants_by_store(c, invariants_find(name), &scope, &out, &e);
	char why[300];

	snprintf(why, sizeof(why), "%s", e.message);
	db_conn_free(c);
	err_release(&e);
	H_CHECK(ok, "invariants_by_store %s: %s", name, why);
	return out;
}

/* Runs each statement with the fixture's ids: a statement that names `fx` gets them as the
 * columns of fx (store, product, order1, order2, pending, other, other_product), so that every
 * parameter has a type whichever it uses; the others (DDL) run as they are. */
static void run_all(const char *const *sqls)
{
	static const char fx[] = "WITH fx AS (SELECT $1::uuid AS store, $2::uuid AS product, "
	                         "$3::uuid AS order1, $4::uuid AS order2, $5::uuid AS pending, "
	                         "$6::uuid AS other, $7::uuid AS other_product) ";

	for (const char *const *q = sqls; *q != NULL; q++) {
		char sql[2048];

		if (strstr(*q, "fx") == NULL) {
			h_db_exec(*q, NULL);
			continue;
		}
		snprintf(sql, sizeof(sql), "%s%s", fx, *q);
		h_db_exec(sql, a.id, product, order1, order2, pending, b.id, product_b, NULL);
	}
}

/* ---- the cases ------------------------------------------------------------------------------- */

struct plant {
	const char *invariant;
	const char *row;      /* what the row id in the sample contains: "order1", "product", … */
	const char *plant[5]; /* NULL-terminated */
	const char *undo[5];
};

/* clang-format off */
static const struct plant plants[] = {
	{"outbox_finished", NULL,
	 {"INSERT INTO outbox_events (id, store_id, type, aggregate_id, payload) "
	  "SELECT gen_random_uuid(), store, 'PlantedEvent', order1, '{}' FROM fx", NULL},
	 {"DELETE FROM outbox_events WHERE type = 'PlantedEvent'", NULL}},
	{"no_order_stuck", "pending",
	 {"UPDATE orders SET status = 'payment_authorized' WHERE id = (SELECT pending FROM fx)", NULL},
	 {"UPDATE orders SET status = 'pending' WHERE id = (SELECT pending FROM fx)", NULL}},
	/* The CHECK dropped, and a movement to match, so that the ledger still adds up. */
	{"stock_non_negative", "product",
	 {"ALTER TABLE inventory DROP CONSTRAINT inventory_available_check",
	  "INSERT INTO inventory_movements (store_id, product_id, delta, reason) "
	  "SELECT store, product, -10, 'itest-planted' FROM fx",
	  "UPDATE inventory SET available = available - 10 WHERE product_id = (SELECT product FROM fx)",
	  NULL},
	 {"UPDATE inventory SET available = available + 10 WHERE product_id = (SELECT product FROM fx)",
	  "DELETE FROM inventory_movements WHERE reason = 'itest-planted'",
	  "ALTER TABLE inventory ADD CONSTRAINT inventory_available_check CHECK (available >= 0)",
	  NULL}},
	{"stock_ledger", "product",
	 {"UPDATE inventory SET available = available + 1 WHERE product_id = (SELECT product FROM fx)",
	  NULL},
	 {"UPDATE inventory SET available = available - 1 WHERE product_id = (SELECT product FROM fx)",
	  NULL}},
	/* A confirmed line grown by one unit nobody took: sold no longer adds up. */
	{"stock_conservation", "product",
	 {"UPDATE order_items SET quantity = quantity + 1 WHERE order_id = (SELECT order1 FROM fx)",
	  NULL},
	 {"UPDATE order_items SET quantity = quantity - 1 WHERE order_id = (SELECT order1 FROM fx)",
	  NULL}},
	/* A second take for the same line, the stock and its ledger kept consistent. */
	{"order_stock", "order1",
	 {"INSERT INTO inventory_movements (store_id, product_id, delta, reason, order_id) "
	  "SELECT store, product, -2, 'itest-planted', order1 FROM fx",
	  "UPDATE inventory SET available = available - 2 WHERE product_id = (SELECT product FROM fx)",
	  NULL},
	 {"DELETE FROM inventory_movements WHERE reason = 'itest-planted'",
	  "UPDATE inventory SET available = available + 2 WHERE product_id = (SELECT product FROM fx)",
	  NULL}},
	/* The database forbids it (a unique partial index): that defence taken away to plant. */
	{"one_live_payment", "order1",
	 {"DROP INDEX payments_one_live",
	  "INSERT INTO payments (id, order_id, store_id, status, amount_cents, currency, token_hint) "
	  "SELECT gen_random_uuid(), order_id, store_id, 'captured', amount_cents, currency, "
	  "'itest-planted' FROM payments WHERE order_id = (SELECT order1 FROM fx)", NULL},
	 {"DELETE FROM payments WHERE token_hint = 'itest-planted'",
	  "CREATE UNIQUE INDEX payments_one_live ON payments (order_id) "
	  "WHERE status IN ('authorized', 'captured')", NULL}},
	{"confirmed_one_capture", "order1",
	 {"UPDATE payments SET status = 'voided' WHERE order_id = (SELECT order1 FROM fx)", NULL},
	 {"UPDATE payments SET status = 'captured' WHERE order_id = (SELECT order1 FROM fx)", NULL}},
	{"payment_matches_order", NULL,
	 {"UPDATE payments SET status = 'authorized' WHERE order_id = (SELECT order2 FROM fx)", NULL},
	 {"UPDATE payments SET status = 'captured' WHERE order_id = (SELECT order2 FROM fx)", NULL}},
	{"provider_capture_once", NULL,
	 {"INSERT INTO provider_operations (idempotency_key, operation, payment_id, store_id, "
	  "amount_cents) SELECT 'itest-planted-' || p.id, 'capture', p.id, p.store_id, "
	  "p.amount_cents FROM payments p WHERE p.order_id = (SELECT order1 FROM fx)", NULL},
	 {"DELETE FROM provider_operations WHERE idempotency_key LIKE 'itest-planted-%'", NULL}},
	/* A second PaymentAuthorized event for an order, finished as the first was. */
	{"one_effect_per_key", NULL,
	 {"INSERT INTO outbox_events (id, store_id, type, aggregate_id, payload, status, done_at) "
	  "SELECT gen_random_uuid(), store, 'PaymentAuthorized', order1, '{\"itest\":\"planted\"}', "
	  "'done', now() FROM fx", NULL},
	 {"DELETE FROM outbox_events WHERE payload->>'itest' = 'planted'", NULL}},
	{"timeline_once", "order1",
	 {"INSERT INTO order_events (order_id, store_id, from_status, to_status, reason) "
	  "SELECT order1, store, 'payment_authorized', 'confirmed', 'itest-planted' FROM fx", NULL},
	 {"DELETE FROM order_events WHERE reason = 'itest-planted'", NULL}},
	{"timeline_matches_status", "pending",
	 {"UPDATE orders SET status = 'cancelled' WHERE id = (SELECT pending FROM fx)", NULL},
	 {"UPDATE orders SET status = 'pending' WHERE id = (SELECT pending FROM fx)", NULL}},
	/* A payment moved to the other store: its order stays in this one. */
	{"tenancy_consistent", NULL,
	 {"UPDATE payments SET store_id = (SELECT other FROM fx) "
	  "WHERE order_id = (SELECT order2 FROM fx)", NULL},
	 {"UPDATE payments SET store_id = (SELECT store FROM fx) "
	  "WHERE order_id = (SELECT order2 FROM fx)", NULL}},
};
/* clang-format on */

#define NPLANTS (sizeof(plants) / sizeof(plants[0]))

/* Takes back the events a plant made the database write (the timeline's trigger turns a new
 * order_events row into an outbox event): store A had none pending before. */
static void unplant_events(void)
{
	h_db_exec("DELETE FROM outbox_events WHERE store_id = $1 AND status = 'pending'", a.id,
	          NULL);
}

/* The i-th string of the array x[key], "" when there is none (a failed check, not a crash). */
static const char *nth(const json_t *x, const char *key, size_t i)
{
	const char *v = json_string_value(json_array_get(json_object_get(x, key), i));

	return v != NULL ? v : "";
}

static const char *row_of(const char *which)
{
	if (which == NULL)
		return NULL;
	if (!strcmp(which, "order1"))
		return order1;
	if (!strcmp(which, "pending"))
		return pending;
	return product;
}

/* ---- tests ----------------------------------------------------------------------------------- */

static void test_clean_store_reports_nothing(void **state)
{
	json_t *s;

	(void)state;
	expect_clean(&a);
	expect_clean(&b);
	/* And the whole database: every store this suite's database has. */
	for (size_t i = 0; i < invariants_count(); i++) {
		const char *name = invariants_get(i)->name;

		H_CHECK(violations(NULL, name, 0, NULL, 0) == 0, "%s: violations in the database",
		        name);
		s = by_store(name, NULL, 0);
		H_CHECK(json_array_size(s) == 0, "%s: %zu stores in the audit's summary", name,
		        json_array_size(s));
		json_decref(s);
	}
}

/* The table covers one case of this suite each: a new invariant needs a plant here. */
static void test_every_invariant_has_a_plant(void **state)
{
	(void)state;
	H_CHECK(NPLANTS == invariants_count(), "%zu plants for %zu invariants", NPLANTS,
	        invariants_count());
	for (size_t i = 0; i < invariants_count(); i++) {
		bool found = false;

		for (size_t k = 0; k < NPLANTS && !found; k++)
			found = !strcmp(plants[k].invariant, invariants_get(i)->name);
		H_CHECK(found, "no plant for %s", invariants_get(i)->name);
	}
}

static void test_each_violation_is_named(void **state)
{
	(void)state;
	for (size_t i = 0; i < NPLANTS; i++) {
		const struct plant *p = &plants[i];
		const char *row = row_of(p->row);
		char what[600], shape[200] = "";
		size_t n, violated;
		struct invariant_result *r;
		long long v;

		print_message("[          ] %s\n", p->invariant);
		run_all(p->plant);
		v = violations(a.id, p->invariant, 0, what, sizeof(what));
		/* The verdict the worker suites' assertions go by, and the same count in it. */
		r = p_invariants(a.id, NULL, 0, &n);
		violated = p_invariants_violated(r, n, NULL, 0);
		for (size_t k = 0; k < n; k++) {
			size_t want =
			        (size_t)(v < INVARIANT_SAMPLE_ROWS ? v : INVARIANT_SAMPLE_ROWS);

			if (!strcmp(r[k].inv->name, p->invariant) &&
			    (r[k].violations != v || json_array_size(r[k].rows) != want ||
			     json_array_size(r[k].what) != want))
				snprintf(shape, sizeof(shape),
				         "%lld violations, %zu rows, %zu lines", r[k].violations,
				         json_array_size(r[k].rows), json_array_size(r[k].what));
		}
		invariants_results_free(r, n);
		/* Put back before judging, so that a failure leaves the next tests a clean store.
		 */
		run_all(p->undo);
		unplant_events();

		H_CHECK(v >= 1, "%s: planted, but it reports %lld violations", p->invariant, v);
		H_CHECK(what[0] != '\0', "%s: a violation without a line saying what",
		        p->invariant);
		H_CHECK(row == NULL || strstr(what, row) != NULL, "%s: '%s' does not name %s",
		        p->invariant, what, row);
		H_CHECK(violated >= 1, "%s: the store passes", p->invariant);
		H_CHECK(shape[0] == '\0', "%s: run with the others: %s (alone: %lld)", p->invariant,
		        shape, v);
		expect_clean(&a);
	}
	expect_clean(&b);
}

/* What the audit reads: per store, the count, the row ids and the lines; only the stores in
 * scope. */
static void test_by_store_and_scope(void **state)
{
	char scope_a[80], scope_b[80];
	json_t *s, *x;

	(void)state;
	snprintf(scope_a, sizeof(scope_a), "{%s}", a.id);
	snprintf(scope_b, sizeof(scope_b), "{%s}", b.id);
	h_db_exec("UPDATE inventory SET available = available + 1 WHERE product_id = $1", product,
	          NULL);
	h_db_exec("UPDATE inventory SET available = available + 3 WHERE product_id = $1", product_b,
	          NULL);

	s = by_store("stock_ledger", NULL, 0);
	H_CHECK(json_array_size(s) == 2, "%zu stores, want 2", json_array_size(s));
	for (size_t i = 0; i < 2; i++) {
		bool is_a;

		x = json_array_get(s, i);
		is_a = !strcmp(h_jstr(x, "store_id"), a.id);
		H_CHECK(is_a || !strcmp(h_jstr(x, "store_id"), b.id), "store %s",
		        h_jstr(x, "store_id"));
		H_CHECK(json_integer_value(json_object_get(x, "violations")) == 1, "violations");
		H_CHECK(!strcmp(nth(x, "sample", 0), is_a ? product : product_b),
		        "the sample does not name the product");
		H_CHECK(strstr(nth(x, "what", 0), is_a ? "stock 8, ledger 7" : "stock 8, ledger 5"),
		        "line: %s", nth(x, "what", 0));
	}
	json_decref(s);
	s = by_store("stock_ledger", scope_b, 0);
	H_CHECK(json_array_size(s) == 1 && !strcmp(h_jstr(json_array_get(s, 0), "store_id"), b.id),
	        "scoped to B, the summary is not B's alone");
	json_decref(s);
	H_CHECK(violations(a.id, "stock_ledger", 0, NULL, 0) == 1, "A: not 1");
	H_CHECK(violations(b.id, "stock_ledger", 0, NULL, 0) == 1, "B: not 1");
	H_CHECK(violations(NULL, "stock_ledger", 0, NULL, 0) == 2, "every store: not 2");
	h_db_exec("UPDATE inventory SET available = available - 3 WHERE product_id = $1", product_b,
	          NULL);
	H_CHECK(violations(b.id, "stock_ledger", 0, NULL, 0) == 0, "B is still broken");
	s = by_store("stock_ledger", scope_b, 0);
	H_CHECK(json_array_size(s) == 0, "B is in the summary");
	json_decref(s);
	h_db_exec("UPDATE inventory SET available = available - 1 WHERE product_id = $1", product,
	          NULL);

	/* tenancy_consistent: a row in one store whose parent is in another counts for the row's
	 * store, and is seen from either. */
	h_db_exec("UPDATE payments SET store_id = $1 WHERE order_id = $2", b.id, order2, NULL);
	H_CHECK(violations(a.id, "tenancy_consistent", 0, NULL, 0) == 1, "not seen from A");
	H_CHECK(violations(b.id, "tenancy_consistent", 0, NULL, 0) == 1, "not seen from B");
	s = by_store("tenancy_consistent", scope_a, 0);
	H_CHECK(json_array_size(s) == 1 && !strcmp(h_jstr(json_array_get(s, 0), "store_id"), b.id),
	        "the moved payment does not count for the store it is in");
	json_decref(s);
	h_db_exec("UPDATE payments SET store_id = $1 WHERE order_id = $2", a.id, order2, NULL);
	expect_clean(&a);
	expect_clean(&b);
}

/* no_order_stuck with a minimum age, as the audit runs it: an order that just arrived in
 * payment_authorized is on its way; one that has been there for longer is stuck. */
static void test_stuck_order_minimum_age(void **state)
{
	char what[600];
	json_t *s;

	(void)state;
	h_db_exec("UPDATE orders SET status = 'payment_authorized', updated_at = now() "
	          "WHERE id = $1",
	          pending, NULL);
	H_CHECK(violations(a.id, "no_order_stuck", 0, NULL, 0) == 1, "after a drain: not stuck");
	H_CHECK(violations(a.id, "no_order_stuck", 3600, NULL, 0) == 0, "stuck after 0 s of 3600");
	s = by_store("no_order_stuck", NULL, 3600);
	H_CHECK(json_array_size(s) == 0, "the audit would report a fresh order");
	json_decref(s);
	h_db_exec("UPDATE orders SET updated_at = now() - interval '2 hours' WHERE id = $1",
	          pending, NULL);
	H_CHECK(violations(a.id, "no_order_stuck", 3600, what, sizeof(what)) == 1,
	        "two hours in payment_authorized: not stuck");
	H_CHECK(strstr(what, pending) && strstr(what, "in payment_authorized since"), "line: %s",
	        what);
	s = by_store("no_order_stuck", NULL, 3600);
	H_CHECK(json_array_size(s) == 1 && !strcmp(nth(json_array_get(s, 0), "sample", 0), pending),
	        "the audit's summary does not name the order");
	json_decref(s);
	h_db_exec("UPDATE orders SET status = 'pending', updated_at = now() WHERE id = $1", pending,
	          NULL);
	expect_clean(&a);
}

/* The table itself: unique, stable-looking names; the audited set is the audit's five. */
static void test_table(void **state)
{
	static const char *const audited[] = {"no_order_stuck", "stock_non_negative",
	                                      "stock_ledger", "one_live_payment",
	                                      "confirmed_one_capture"};
	size_t naudited = 0;

	(void)state;
	for (size_t i = 0; i < invariants_count(); i++) {
		const struct invariant *inv = invariants_get(i);

		H_CHECK(invariants_find(inv->name) == inv, "%s is not unique", inv->name);
		H_CHECK(strspn(inv->name, "abcdefghijklmnopqrstuvwxyz_") == strlen(inv->name),
		        "%s is not snake_case", inv->name);
		H_CHECK(inv->holds != NULL && inv->holds[0] != '\0', "%s says nothing", inv->name);
		if (inv->flags & INVARIANT_AUDITED)
			naudited++;
	}
	H_CHECK(invariants_get(invariants_count()) == NULL, "past the end");
	H_CHECK(invariants_find("negative_stock") == NULL, "an old name is still there");
	H_CHECK(naudited == sizeof(audited) / sizeof(audited[0]), "%zu audited", naudited);
	for (size_t i = 0; i < naudited; i++)
		H_CHECK(invariants_find(audited[i]) &&
		                (invariants_find(audited[i])->flags & INVARIANT_AUDITED),
		        "%s is not audited", audited[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_table),
	        cmocka_unit_test(test_clean_store_reports_nothing),
	        cmocka_unit_test(test_every_invariant_has_a_plant),
	        cmocka_unit_test(test_each_violation_is_named),
	        cmocka_unit_test(test_by_store_and_scope),
	        cmocka_unit_test(test_stuck_order_minimum_age),
	        cmocka_unit_test(test_clean_store_reports_nothing),
	};
	int failed;

	h_init();
	failed =
	        cmocka_run_group_tests_name("itest_invariants", tests, group_setup, group_teardown);
	h_cleanup();
	return failed ? 1 : 0;
}

/*
 * invariants.c — the invariants table and the two ways of running it (see invariants.h).
 *
 * Each entry is written once, as "the rows that break the rule" (its own columns, $1 the scope
 * and, for an aged one, $2 the minimum age), plus three SQL expressions over those rows: the
 * store a row counts for, the row's id and a line saying what is wrong with it. Both statements
 * of an entry are built from that text at compile time:
 *   - list: count(*) OVER () (computed before LIMIT) first, so that one round trip gives the
 *     total and a sample of INVARIANT_SAMPLE_ROWS rows;
 *   - by store: the rows grouped by store in the database, only a few ids and lines each, so
 *     that the periodic audit fetches a summary however many rows break the rule.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "invariants.h"
#include "xalloc.h"
#include "banned.h"

#define STR_(x) #x
#define STR(x)  STR_(x)

/* clang-format off */
#define LIST(what, inner)                                                                          \
	"SELECT count(*) OVER () AS violations, " what " AS violation, q.* FROM (" inner ") q "    \
	"LIMIT " STR(INVARIANT_SAMPLE_ROWS)
#define BY_STORE(store, key, what, inner)                                                          \
	"SELECT coalesce(jsonb_agg(s ORDER BY s.store_id), '[]')::text FROM ("                     \
	"SELECT " store " AS store_id, count(*) AS violations, "                                   \
	"  to_jsonb((array_agg(" key " ORDER BY " key "))[1:" STR(INVARIANT_STORE_IDS) "]) "       \
	"    AS sample, "                                                                          \
	"  to_jsonb((array_agg(" what " ORDER BY " key "))[1:" STR(INVARIANT_STORE_WHAT) "]) "     \
	"    AS what "                                                                             \
	"FROM (" inner ") q GROUP BY 1) s"
/* clang-format on */

/* name, holds, flags, aged, store, key, what, inner: see the file comment. */
#define INVARIANT(name, holds, flags, aged, store, key, what, inner)                               \
	{                                                                                          \
		{name, holds, flags}, aged, DB_STMT("inv_list_" name, LIST(what, inner)),          \
		        DB_STMT("inv_store_" name, BY_STORE(store, key, what, inner))              \
	}

#define SCOPE(a) "($1::uuid[] IS NULL OR " a ".store_id = ANY($1::uuid[]))"
#define SCOPE2(a, b)                                                                               \
	"($1::uuid[] IS NULL OR " a ".store_id = ANY($1::uuid[]) OR " b                            \
	".store_id = ANY($1::uuid[]))"
#define HELD "('payment_authorized', 'confirmed')"

/* Whether the statements take $2, the minimum age (PostgreSQL refuses a parameter a statement
 * never uses: it cannot tell its type). */
#define AGED     true
#define NOT_AGED false

struct entry {
	struct invariant pub;
	bool aged;
	struct db_stmt list;
	struct db_stmt by_store;
};

/* clang-format off */
static struct entry table[] = {
	INVARIANT("outbox_finished", "every outbox event ends done or dead (guarantees §6.4)",
	 INVARIANT_DRAINED, NOT_AGED, "q.store_id", "q.event_id::text",
	 "format('%s event %s is %s after %s attempts', q.type, q.event_id, q.status, q.attempts)",
	"SELECT e.id AS event_id, e.store_id, e.type, e.status, e.attempts, e.available_at, "
	"       e.claimed_by, e.last_error FROM outbox_events e "
	"WHERE e.status NOT IN ('done', 'dead') AND " SCOPE("e") " ORDER BY e.seq"),

	/* After a drain (min_age_s 0) any order still there is stuck; on a live system every async
	 * checkout passes through, so the audit only counts the ones that stayed. */
	INVARIANT("no_order_stuck", "after the drain no order is stuck in payment_authorized "
	 "(guarantees §6.5)",
	 INVARIANT_DRAINED | INVARIANT_AUDITED, AGED, "q.store_id", "q.order_id::text",
	 "format('order %s in payment_authorized since %s', q.order_id, terminus_ts(q.updated_at))",
	"SELECT o.id AS order_id, o.store_id, o.status, o.checkout_path, o.updated_at FROM orders o "
	"WHERE o.status = 'payment_authorized' AND " SCOPE("o") " "
	"  AND ($2::int <= 0 OR o.updated_at < now() - make_interval(secs => $2::int)) "
	"ORDER BY o.seq"),

	INVARIANT("stock_non_negative", "stock never goes below zero (guarantees §6.1)",
	 INVARIANT_AUDITED, NOT_AGED, "q.store_id", "q.product_id::text",
	 "format('product %s has %s', q.product_id, q.available)",
	"SELECT i.product_id, i.store_id, i.available FROM inventory i "
	"WHERE i.available < 0 AND " SCOPE("i")),

	INVARIANT("stock_ledger", "a product's stock equals the sum of its inventory movements "
	 "(guarantees §6.1)",
	 INVARIANT_AUDITED, NOT_AGED, "q.store_id", "q.product_id::text",
	 "format('product %s: stock %s, ledger %s', q.product_id, q.available, q.movements_sum)",
	"SELECT i.product_id, i.store_id, i.available, coalesce(m.total, 0) AS movements_sum "
	"FROM inventory i LEFT JOIN (SELECT product_id, sum(delta) AS total "
	"  FROM inventory_movements x WHERE " SCOPE("x") " GROUP BY product_id) m "
	"  ON m.product_id = i.product_id "
	"WHERE " SCOPE("i") " AND i.available <> coalesce(m.total, 0)"),

	INVARIANT("stock_conservation",
	 "initial + restocks = available + sold, sold being the units of orders that hold stock "
	 "(payment_authorized, confirmed) (guarantees §6.1)",
	 0, NOT_AGED, "q.store_id", "q.product_id::text",
	 "format('product %s: initial + restocks %s, available %s + sold %s', q.product_id, "
	 "       q.initial_plus_restocks, q.available, q.sold)",
	"WITH added AS (SELECT product_id, sum(delta) AS n FROM inventory_movements x "
	"               WHERE x.order_id IS NULL AND " SCOPE("x") " GROUP BY product_id), "
	"sold AS (SELECT oi.product_id, sum(oi.quantity) AS n FROM order_items oi "
	"         JOIN orders o ON o.id = oi.order_id "
	"         WHERE o.status IN " HELD " AND " SCOPE("o") " GROUP BY oi.product_id) "
	"SELECT i.product_id, i.store_id, coalesce(added.n, 0) AS initial_plus_restocks, "
	"       i.available, coalesce(sold.n, 0) AS sold "
	"FROM inventory i LEFT JOIN added ON added.product_id = i.product_id "
	"LEFT JOIN sold ON sold.product_id = i.product_id "
	"WHERE " SCOPE("i") " AND coalesce(added.n, 0) <> i.available + coalesce(sold.n, 0)"),

	INVARIANT("order_stock",
	 "each order line took its stock at most once and holds exactly its quantity while the "
	 "order is payment_authorized or confirmed, nothing otherwise: cancelled and failed orders "
	 "gave theirs back (guarantees §6.1, §6.3)",
	 0, NOT_AGED, "q.store_id", "q.order_id || ' ' || q.product_id",
	 "format('order %s (%s), product %s: quantity %s, holds %s, taken %s times', q.order_id, "
	 "       q.status, q.product_id, q.quantity, q.held, q.takes)",
	"SELECT o.id AS order_id, o.store_id, o.status, oi.product_id, oi.quantity, "
	"       coalesce(-m.net, 0) AS held, coalesce(m.takes, 0) AS takes "
	"FROM orders o JOIN order_items oi ON oi.order_id = o.id "
	"LEFT JOIN (SELECT order_id, product_id, sum(delta) AS net, "
	"                  count(*) FILTER (WHERE delta < 0) AS takes "
	"           FROM inventory_movements x WHERE x.order_id IS NOT NULL AND " SCOPE("x")
	"           GROUP BY order_id, product_id) m "
	"  ON m.order_id = o.id AND m.product_id = oi.product_id "
	"WHERE " SCOPE("o") " AND (coalesce(m.takes, 0) > 1 OR coalesce(-m.net, 0) <> "
	"  CASE WHEN o.status IN " HELD " THEN oi.quantity ELSE 0 END) ORDER BY o.seq"),

	INVARIANT("one_live_payment", "no order has more than one live (authorized or captured) "
	 "payment (guarantees §6.2)",
	 INVARIANT_AUDITED, NOT_AGED, "q.store_id", "q.order_id::text",
	 "format('order %s has %s live payments', q.order_id, q.live_payments)",
	"SELECT p.order_id, p.store_id, count(*) AS live_payments, "
	"       string_agg(p.id::text || ':' || p.status, ' ') AS payments FROM payments p "
	"WHERE p.status IN ('authorized', 'captured') AND " SCOPE("p")
	" GROUP BY p.order_id, p.store_id HAVING count(*) > 1"),

	INVARIANT("confirmed_one_capture", "every confirmed order has exactly one captured payment "
	 "(guarantees §6.2)",
	 INVARIANT_AUDITED, NOT_AGED, "q.store_id", "q.order_id::text",
	 "CASE WHEN q.captured_payments = 0 "
	 "     THEN format('order %s is confirmed without a captured payment', q.order_id) "
	 "     ELSE format('order %s is confirmed with %s captured payments', q.order_id, "
	 "                 q.captured_payments) END",
	"SELECT o.id AS order_id, o.store_id, "
	"       count(p.id) FILTER (WHERE p.status = 'captured') AS captured_payments, "
	"       count(p.id) AS payments FROM orders o LEFT JOIN payments p ON p.order_id = o.id "
	"WHERE o.status = 'confirmed' AND " SCOPE("o") " GROUP BY o.id, o.store_id "
	"HAVING count(p.id) FILTER (WHERE p.status = 'captured') <> 1"),

	INVARIANT("payment_matches_order",
	 "a captured payment belongs to a confirmed order, an authorized one to a "
	 "payment_authorized order (guarantees §3 statuses, §6.2)",
	 0, NOT_AGED, "q.store_id", "q.payment_id::text",
	 "format('payment %s is %s, its order %s is %s', q.payment_id, q.payment_status, "
	 "       q.order_id, q.order_status)",
	"SELECT p.id AS payment_id, p.order_id, p.store_id, p.status AS payment_status, "
	"       o.status AS order_status FROM payments p JOIN orders o ON o.id = p.order_id "
	"WHERE " SCOPE("p") " AND ((p.status = 'captured' AND o.status <> 'confirmed') "
	"   OR (p.status = 'authorized' AND o.status <> 'payment_authorized'))"),

	INVARIANT("provider_capture_once",
	 "the provider captured each payment at most once, and a captured payment exactly once "
	 "(guarantees §4, §6.4)",
	 0, NOT_AGED, "q.store_id", "q.payment_id::text",
	 "format('payment %s (%s) was captured %s times at the provider', q.payment_id, q.status, "
	 "       q.provider_captures)",
	"SELECT p.id AS payment_id, p.order_id, p.store_id, p.status, count(po.payment_id) AS "
	"       provider_captures FROM payments p LEFT JOIN provider_operations po "
	"  ON po.payment_id = p.id AND po.operation = 'capture' "
	"WHERE " SCOPE("p") " GROUP BY p.id, p.order_id, p.store_id, p.status "
	"HAVING count(po.payment_id) > 1 "
	"    OR (p.status = 'captured' AND count(po.payment_id) <> 1)"),

	INVARIANT("one_effect_per_key",
	 "an idempotency key has at most one effect: one order per checkout key, one payment and "
	 "one PaymentAuthorized event per order (guarantees §6.3)",
	 0, NOT_AGED, "q.store_id", "q.ids", "format('%s %s: %s (%s)', q.n, q.what, q.key, q.ids)",
	"SELECT 'orders sharing a checkout key' AS what, o.store_id, o.checkout_key AS key, "
	"       count(*) AS n, string_agg(o.id::text, ' ') AS ids FROM orders o "
	"WHERE o.checkout_key IS NOT NULL AND " SCOPE("o")
	" GROUP BY o.store_id, o.checkout_key HAVING count(*) > 1 "
	"UNION ALL "
	"SELECT 'payments of one order', p.store_id, o.checkout_key, count(*), "
	"       string_agg(p.id::text, ' ') FROM payments p JOIN orders o ON o.id = p.order_id "
	"WHERE " SCOPE("p") " GROUP BY p.store_id, p.order_id, o.checkout_key HAVING count(*) > 1 "
	"UNION ALL "
	"SELECT 'PaymentAuthorized events of one order', e.store_id, e.aggregate_id::text, "
	"       count(*), string_agg(e.id::text, ' ') FROM outbox_events e "
	"WHERE e.type = 'PaymentAuthorized' AND " SCOPE("e")
	" GROUP BY e.store_id, e.aggregate_id HAVING count(*) > 1"),

	INVARIANT("timeline_once", "an order enters each status at most once (guarantees §3, §6.3)",
	 0, NOT_AGED, "q.store_id", "q.order_id || ' ' || q.to_status",
	 "format('order %s entered %s %s times', q.order_id, q.to_status, q.times)",
	"SELECT t.order_id, t.store_id, t.to_status, count(*) AS times FROM order_events t "
	"WHERE " SCOPE("t") " GROUP BY t.order_id, t.store_id, t.to_status HAVING count(*) > 1"),

	INVARIANT("timeline_matches_status", "an order's status is the last status of its timeline "
	 "(guarantees §3)",
	 0, NOT_AGED, "q.store_id", "q.order_id::text",
	 "format('order %s is %s, its timeline ends at %s', q.order_id, q.status, "
	 "       coalesce(q.timeline_last, 'nothing'))",
	"SELECT o.id AS order_id, o.store_id, o.status, t.to_status AS timeline_last FROM orders o "
	"LEFT JOIN LATERAL (SELECT to_status FROM order_events t WHERE t.order_id = o.id "
	"                   ORDER BY t.id DESC LIMIT 1) t ON true "
	"WHERE " SCOPE("o") " AND t.to_status IS DISTINCT FROM o.status ORDER BY o.seq"),

	/* A row counts for its own store: the one its tenant would see it in. */
	INVARIANT("tenancy_consistent", "a row belongs to the store of the row it hangs from "
	 "(guarantees §6.6)",
	 0, NOT_AGED, "q.row_store", "q.rows_of || ' ' || q.row_id",
	 "format('%s %s is in store %s, what it hangs from in %s', q.rows_of, q.row_id, "
	 "       q.row_store, q.parent_store)",
	"SELECT 'order_items' AS rows_of, x.order_id::text AS row_id, x.store_id AS row_store, "
	"       o.store_id AS parent_store FROM order_items x JOIN orders o ON o.id = x.order_id "
	"WHERE x.store_id <> o.store_id AND " SCOPE2("x", "o") " "
	"UNION ALL SELECT 'order_items (product)', x.order_id::text, x.store_id, o.store_id "
	"FROM order_items x JOIN products o ON o.id = x.product_id "
	"WHERE x.store_id <> o.store_id AND " SCOPE2("x", "o") " "
	"UNION ALL SELECT 'payments', x.id::text, x.store_id, o.store_id "
	"FROM payments x JOIN orders o ON o.id = x.order_id "
	"WHERE x.store_id <> o.store_id AND " SCOPE2("x", "o") " "
	"UNION ALL SELECT 'order_events', x.id::text, x.store_id, o.store_id "
	"FROM order_events x JOIN orders o ON o.id = x.order_id "
	"WHERE x.store_id <> o.store_id AND " SCOPE2("x", "o") " "
	"UNION ALL SELECT 'inventory', x.product_id::text, x.store_id, o.store_id "
	"FROM inventory x JOIN products o ON o.id = x.product_id "
	"WHERE x.store_id <> o.store_id AND " SCOPE2("x", "o") " "
	"UNION ALL SELECT 'inventory_movements', x.id::text, x.store_id, o.store_id "
	"FROM inventory_movements x JOIN products o ON o.id = x.product_id "
	"WHERE x.store_id <> o.store_id AND " SCOPE2("x", "o")),
};
/* clang-format on */

#define NENTRIES (sizeof(table) / sizeof(table[0]))

size_t invariants_count(void)
{
	return NENTRIES;
}

const struct invariant *invariants_get(size_t i)
{
	return i < NENTRIES ? &table[i].pub : NULL;
}

const struct invariant *invariants_find(const char *name)
{
	for (size_t i = 0; i < NENTRIES; i++) {
		if (strcmp(table[i].pub.name, name) == 0)
			return &table[i].pub;
	}
	return NULL;
}

/* The entry behind a public pointer (the table is small; no cast away from const). */
static struct entry *entry_of(const struct invariant *inv)
{
	for (size_t i = 0; i < NENTRIES; i++) {
		if (&table[i].pub == inv)
			return &table[i];
	}
	abort(); /* not one of the table's: a caller's bug */
}

static PGresult *exec_entry(struct db_conn *c, struct entry *en, struct db_stmt *st,
                            const struct invariant_scope *s, struct err *e)
{
	char age[16];
	const char *params[2];

	snprintf(age, sizeof(age), "%d", s != NULL ? s->min_age_s : 0);
	params[0] = s != NULL ? s->stores : NULL;
	params[1] = age;
	return db_exec(c, st, en->aged ? 2 : 1, params, e);
}

bool invariants_run_one(struct db_conn *c, const struct invariant *inv,
                        const struct invariant_scope *s, struct invariant_result *out,
                        struct err *e)
{
	struct entry *en = entry_of(inv);
	PGresult *r = exec_entry(c, en, &en->list, s, e);

	*out = (struct invariant_result){.inv = inv};
	if (r == NULL)
		return false;
	out->violations = PQntuples(r) > 0 ? db_get_ll(r, 0, 0) : 0;
	out->rows = json_array();
	out->what = json_array();
	for (int i = 0; i < PQntuples(r); i++) {
		json_t *row = json_object();

		/* Column 0 is the count, 1 the line; the invariant's own columns follow. */
		for (int k = 2; k < PQnfields(r); k++) {
			const char *v = db_get(r, i, k);

			json_object_set_new(row, PQfname(r, k), v ? json_string(v) : json_null());
		}
		json_array_append_new(out->rows, row);
		json_array_append_new(out->what,
		                      json_string(db_get(r, i, 1) ? db_get(r, i, 1) : ""));
	}
	PQclear(r);
	return true;
}

void invariants_result_release(struct invariant_result *r)
{
	json_decref(r->rows);
	json_decref(r->what);
	*r = (struct invariant_result){.inv = r->inv};
}

void invariants_results_free(struct invariant_result *r, size_t n)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		invariants_result_release(&r[i]);
	free(r);
}

bool invariants_run(struct db_conn *c, unsigned flags, const struct invariant_scope *s,
                    struct invariant_result **out, size_t *n, struct err *e)
{
	struct invariant_result *res = xcalloc(NENTRIES, sizeof(*res));
	size_t k = 0;

	for (size_t i = 0; i < NENTRIES; i++) {
		if ((table[i].pub.flags & flags) != flags)
			continue;
		if (!invariants_run_one(c, &table[i].pub, s, &res[k], e)) {
			invariants_results_free(res, k);
			*out = NULL;
			*n = 0;
			return false;
		}
		k++;
	}
	*out = res;
	*n = k;
	return true;
}

bool invariants_by_store(struct db_conn *c, const struct invariant *inv,
                         const struct invariant_scope *s, json_t **out, struct err *e)
{
	struct entry *en = entry_of(inv);
	PGresult *r = exec_entry(c, en, &en->by_store, s, e);

	*out = NULL;
	if (r == NULL)
		return false;
	*out = json_loads(db_get(r, 0, 0), 0, NULL);
	PQclear(r);
	if (!json_is_array(*out)) {
		/* jsonb_agg's own text: only a bug here or in PostgreSQL gets this far */
		json_decref(*out);
		*out = NULL;
		err_internal(e, "invariant %s: unreadable summary", inv->name);
		return false;
	}
	return true;
}

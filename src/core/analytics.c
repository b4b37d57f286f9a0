/*
 * analytics.c — per-store sales analytics from OrderStatusChanged events (see analytics.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analytics.h"
#include "db.h"
#include "banned.h"

/*
 * Per batch: complete the events our lease still holds (d, which also casts each payload's
 * order id: a join on a cast (uuid_in is not leakproof) cannot use the orders index under
 * row-level security, and scanned all the store's orders per batch); claim each in processed_events
 * (g: an event someone already counted yields no row and counts nothing); read each counted
 * change's hour, target status and order (c); add the batch's sums to the hourly row (h) and,
 * for confirmations (+) and refunds (−), to the product rows (p). Rows are upserted in
 * (hour, product) order, so two batches of one store lock them in the same order and cannot
 * deadlock.
 */
static struct db_stmt st_fold = DB_STMT(
        "analytics_fold",
        "WITH x AS (SELECT unnest($1::uuid[]) AS event_id), "
        "d AS (UPDATE outbox_events e SET status = 'done', done_at = now(), "
        "      attempts = e.attempts + 1, claimed_until = NULL, last_error = NULL "
        "      FROM x WHERE e.id = x.event_id AND e.store_id = $2 AND e.status = 'pending' "
        "        AND e.claimed_by = $3 "
        "      RETURNING e.id, e.payload, (e.payload->>'order_id')::uuid AS order_id), "
        "g AS (INSERT INTO processed_events (consumer, event_id, store_id) "
        "      SELECT 'analytics', id, $2 FROM d ON CONFLICT DO NOTHING RETURNING event_id), "
        "c AS (SELECT date_trunc('hour', (d.payload->>'at')::timestamptz, 'UTC') AS hour, "
        "             d.payload->>'to' AS status, o.id AS order_id, o.total_cents "
        "      FROM d JOIN g ON g.event_id = d.id "
        "      JOIN orders o ON o.id = d.order_id AND o.store_id = $2), "
        "h AS (INSERT INTO analytics_hourly AS a (store_id, hour, orders_created, "
        "             orders_checked_out, orders_confirmed, orders_failed, orders_cancelled, "
        "             orders_refunded, revenue_cents) "
        "      SELECT $2, hour, count(*) FILTER (WHERE status = 'pending'), "
        "             count(*) FILTER (WHERE status = 'payment_authorized'), "
        "             count(*) FILTER (WHERE status = 'confirmed'), "
        "             count(*) FILTER (WHERE status = 'payment_failed'), "
        "             count(*) FILTER (WHERE status = 'cancelled'), "
        "             count(*) FILTER (WHERE status = 'refunded'), "
        "             coalesce(sum(total_cents) FILTER (WHERE status = 'confirmed'), 0) "
        "             - coalesce(sum(total_cents) FILTER (WHERE status = 'refunded'), 0) "
        "      FROM c GROUP BY hour ORDER BY hour "
        "      ON CONFLICT (store_id, hour) DO UPDATE SET "
        "        orders_created = a.orders_created + EXCLUDED.orders_created, "
        "        orders_checked_out = a.orders_checked_out + EXCLUDED.orders_checked_out, "
        "        orders_confirmed = a.orders_confirmed + EXCLUDED.orders_confirmed, "
        "        orders_failed = a.orders_failed + EXCLUDED.orders_failed, "
        "        orders_cancelled = a.orders_cancelled + EXCLUDED.orders_cancelled, "
        "        orders_refunded = a.orders_refunded + EXCLUDED.orders_refunded, "
        "        revenue_cents = a.revenue_cents + EXCLUDED.revenue_cents), "
        "p AS (INSERT INTO analytics_products AS a (store_id, hour, product_id, units, "
        "                                            revenue_cents) "
        "      SELECT $2, c.hour, i.product_id, "
        "             sum(CASE WHEN c.status = 'confirmed' THEN i.quantity ELSE -i.quantity END), "
        "             sum(CASE WHEN c.status = 'confirmed' THEN 1 ELSE -1 END "
        "                 * i.quantity * i.unit_price_cents) "
        "      FROM c JOIN order_items i ON i.order_id = c.order_id "
        "      WHERE c.status IN ('confirmed', 'refunded') "
        "      GROUP BY c.hour, i.product_id ORDER BY c.hour, i.product_id "
        "      ON CONFLICT (store_id, hour, product_id) DO UPDATE SET "
        "        units = a.units + EXCLUDED.units, "
        "        revenue_cents = a.revenue_cents + EXCLUDED.revenue_cents) "
        "SELECT x.event_id, d.id IS NOT NULL FROM x LEFT JOIN d ON d.id = x.event_id");

struct db_stmt *analytics_fold_stmt(void)
{
	return &st_fold;
}

/*
 * The whole report as one document, in one round trip. Hours are dense (every hour of the
 * range, zeros included) so a chart needs no gap filling; the range is checked here too, after
 * rounding, and reported back in range_ok / range_days.
 */
static struct db_stmt st_report = DB_STMT(
        "analytics_report",
        "WITH b0 AS (SELECT coalesce(nullif($3, '')::timestamptz, now()) AS t0, "
        "                   nullif($2, '')::timestamptz AS f0), "
        "b AS (SELECT date_trunc('hour', coalesce(nullif($2, '')::timestamptz, "
        "                                         t0 - interval '24 hours'), 'UTC') AS f, "
        "             date_trunc('hour', t0 + interval '1 hour' - interval '1 microsecond', "
        "                        'UTC') AS t "
        "      FROM b0), "
        "h AS (SELECT g.hour, coalesce(a.orders_created, 0) AS created, "
        "             coalesce(a.orders_checked_out, 0) AS checked_out, "
        "             coalesce(a.orders_confirmed, 0) AS confirmed, "
        "             coalesce(a.orders_failed, 0) AS failed, "
        "             coalesce(a.orders_cancelled, 0) AS cancelled, "
        "             coalesce(a.orders_refunded, 0) AS refunded, "
        "             coalesce(a.revenue_cents, 0) AS revenue "
        "      FROM b, generate_series(b.f, b.t - interval '1 hour', interval '1 hour') "
        "           AS g(hour) "
        "      LEFT JOIN analytics_hourly a ON a.store_id = $1 AND a.hour = g.hour "
        "      WHERE b.t > b.f AND b.t - b.f <= make_interval(days => $4::int)), "
        "tot AS (SELECT coalesce(sum(created), 0) AS created, "
        "               coalesce(sum(checked_out), 0) AS checked_out, "
        "               coalesce(sum(confirmed), 0) AS confirmed, "
        "               coalesce(sum(failed), 0) AS failed, "
        "               coalesce(sum(cancelled), 0) AS cancelled, "
        "               coalesce(sum(refunded), 0) AS refunded, "
        "               coalesce(sum(revenue), 0) AS revenue FROM h), "
        "top AS (SELECT p.id, p.sku, p.name, sum(a.units) AS units, "
        "               sum(a.revenue_cents) AS revenue "
        "        FROM b, analytics_products a JOIN products p ON p.id = a.product_id "
        "        WHERE a.store_id = $1 AND a.hour >= b.f AND a.hour < b.t "
        "        GROUP BY p.id, p.sku, p.name HAVING sum(a.units) > 0 "
        "        ORDER BY units DESC, revenue DESC, p.sku LIMIT $5) "
        "SELECT json_build_object("
        "  'from', terminus_ts(b.f), 'to', terminus_ts(b.t), "
        "  'range_ok', b.t > b.f AND b.t - b.f <= make_interval(days => $4::int) "
        "              AND (SELECT f0 IS NULL OR t0 > f0 FROM b0), "
        "  'currency', (SELECT currency FROM stores WHERE id = $1), "
        "  'totals', json_build_object("
        "     'orders_created', tot.created, 'orders_checked_out', tot.checked_out, "
        "     'orders_confirmed', tot.confirmed, 'orders_failed', tot.failed, "
        "     'orders_cancelled', tot.cancelled, 'orders_refunded', tot.refunded, "
        "     'revenue_cents', tot.revenue, "
        "     'average_order_value_cents', CASE WHEN tot.confirmed > tot.refunded "
        "        THEN round(tot.revenue::numeric / (tot.confirmed - tot.refunded)) END, "
        "     'conversion_rate', CASE WHEN tot.created > 0 "
        "        THEN round(tot.confirmed::numeric / tot.created, 4) END), "
        "  'top_products', coalesce((SELECT json_agg(json_build_object("
        "        'product_id', id, 'sku', sku, 'name', name, 'units', units, "
        "        'revenue_cents', revenue) ORDER BY units DESC, revenue DESC, sku) FROM top), "
        "        '[]'::json), "
        "  'hourly', coalesce((SELECT json_agg(json_build_object("
        "        'hour', terminus_ts(hour), 'orders_created', created, "
        "        'orders_checked_out', checked_out, 'orders_confirmed', confirmed, "
        "        'orders_failed', failed, 'orders_cancelled', cancelled, "
        "        'orders_refunded', refunded, 'revenue_cents', revenue) ORDER BY hour) FROM h), "
        "        '[]'::json))::text "
        "FROM b, tot");

bool analytics_report(struct db_conn *c, const char *store_id, const char *from, const char *to,
                      json_t **out, struct err *e)
{
	char days[16], top[16];
	json_t *doc;
	PGresult *r;

	*out = NULL;
	snprintf(days, sizeof(days), "%d", ANALYTICS_MAX_RANGE_DAYS);
	snprintf(top, sizeof(top), "%d", ANALYTICS_TOP_PRODUCTS);
	r = db_exec(c, &st_report, DB_PARAMS(store_id, from, to, days, top), e);
	if (r == NULL)
		return false;
	doc = json_loads(db_get(r, 0, 0), 0, NULL);
	PQclear(r);
	if (doc == NULL) {
		err_internal(e, "analytics report is not JSON");
		return false;
	}
	if (!json_is_true(json_object_get(doc, "range_ok"))) {
		json_decref(doc);
		/* Name the parameter the caller sent: with only from given, to is implicit. */
		err_field(e, "invalid_query", to[0] != '\0' || from[0] == '\0' ? "to" : "from",
		          "to must be after from, at most %d days later (after rounding to hours)",
		          ANALYTICS_MAX_RANGE_DAYS);
		return false;
	}
	json_object_del(doc, "range_ok");
	*out = doc;
	return true;
}

static int digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* The shape is checked here, the instant itself by PostgreSQL (analytics_report casts it). */
bool analytics_instant_valid(const char *s)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int year, month, day;
	size_t n = strlen(s), i = 19;

	if (n < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
	    s[13] != ':' || s[16] != ':')
		return false;
	year = digits(s, 4);
	month = digits(s + 5, 2);
	day = digits(s + 8, 2);
	if (year < 1900 || year > 9998 || month < 1 || month > 12 || day < 1 ||
	    day > mdays[month - 1] || digits(s + 11, 2) < 0 || digits(s + 11, 2) > 23 ||
	    digits(s + 14, 2) < 0 || digits(s + 14, 2) > 59 || digits(s + 17, 2) < 0 ||
	    digits(s + 17, 2) > 60)
		return false;
	if (month == 2 && day == 29 && !(year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)))
		return false;
	if (s[i] == '.') {
		size_t start = ++i;

		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == start || i - start > 9)
			return false;
	}
	if (i + 1 == n && (s[i] == 'Z' || s[i] == 'z'))
		return true;
	return i + 6 == n && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':' &&
	       digits(s + i + 1, 2) >= 0 && digits(s + i + 1, 2) <= 15 &&
	       digits(s + i + 4, 2) >= 0 && digits(s + i + 4, 2) <= 59;
}

/*
 * payments.c — payment status changes as compare-and-set (see payments.h).
 */
#include <stdio.h>

#include "db.h"
#include "payments.h"
#include "banned.h"

static struct db_stmt st_transition =
        DB_STMT("payments_transition",
                "UPDATE payments SET status = $4, updated_at = now() "
                "WHERE order_id = $1 AND store_id = $2 AND status = $3 RETURNING id, amount_cents");

bool payments_transition(struct db_conn *c, const char *store_id, const char *order_id,
                         const char *from, const char *to, char *payment_id, long long *amount,
                         bool *changed, struct err *e)
{
	PGresult *r = db_exec(c, &st_transition, DB_PARAMS(order_id, store_id, from, to), e);

	if (r == NULL)
		return false;
	*changed = PQntuples(r) == 1;
	if (payment_id != NULL)
		snprintf(payment_id, 37, "%s", *changed ? db_get(r, 0, 0) : "");
	if (amount != NULL)
		*amount = *changed ? db_get_ll(r, 0, 1) : 0;
	PQclear(r);
	return true;
}

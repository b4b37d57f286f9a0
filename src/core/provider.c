/*
 * provider.c — the simulated payment provider (see provider.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "provider.h"
#include "banned.h"

bool provider_token_valid(const char *token)
{
	size_t n;

	if (strncmp(token, "tok_", 4) != 0)
		return false;
	n = strlen(token);
	if (n < 5 || n > 255)
		return false;
	for (size_t i = 4; i < n; i++) {
		char ch = token[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_'))
			return false;
	}
	return true;
}

bool provider_authorize(const char *token, long long amount_cents)
{
	(void)amount_cents;
	return strcmp(token, "tok_decline") != 0;
}

static const char *const op_names[] = {
        [PROVIDER_CAPTURE] = "capture", [PROVIDER_VOID] = "void", [PROVIDER_REFUND] = "refund"};

static struct db_stmt st_record = DB_STMT(
        "provider_record",
        "INSERT INTO provider_operations (idempotency_key, operation, payment_id, store_id, "
        "                                 amount_cents) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (idempotency_key, operation) DO NOTHING");

static struct db_stmt st_record_batch = DB_STMT(
        "provider_record_batch",
        "INSERT INTO provider_operations (idempotency_key, operation, payment_id, store_id, "
        "                                 amount_cents) "
        "SELECT k, $2, p, $3, a FROM unnest($1::text[], $4::uuid[], $5::bigint[]) AS x(k, p, a) "
        "ON CONFLICT (idempotency_key, operation) DO NOTHING");

bool provider_call_batch(struct db_conn *c, enum provider_op op, const char *store_id, int n,
                         const char *const *payment_ids, const long long *amounts,
                         const char *const *idempotency_keys, struct err *e)
{
	char *keys = db_array(n, idempotency_keys);
	char *payments = db_array(n, payment_ids);
	char *sums = db_array_ll(n, amounts);
	PGresult *r = db_exec_once(c, store_id, false, &st_record_batch,
	                           DB_PARAMS(keys, op_names[op], store_id, payments, sums), e);

	free(keys);
	free(payments);
	free(sums);
	if (r == NULL)
		return false;
	PQclear(r);
	return true;
}

bool provider_call(struct db_conn *c, enum provider_op op, const char *store_id,
                   const char *payment_id, long long amount_cents, const char *idempotency_key,
                   bool inject_failure, struct err *e)
{
	char amount[24];
	PGresult *r;

	if (inject_failure) {
		err_set(e, 503, "provider_unavailable",
		        "payment provider failed transiently (chaos.payment_capture_fail)");
		return false;
	}
	snprintf(amount, sizeof(amount), "%lld", amount_cents);
	if (!db_begin(c, store_id, false, e))
		return false;
	r = db_exec(c, &st_record,
	            DB_PARAMS(idempotency_key, op_names[op], payment_id, store_id, amount), e);
	if (r == NULL) {
		db_rollback(c);
		return false;
	}
	PQclear(r);
	return db_commit(c, e);
}

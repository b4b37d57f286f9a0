/*
 * idem.c — idempotency keys (see idem.h for the protocol and why it is decided in the database).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "constants.h"
#include "db.h"
#include "idem.h"
#include "metrics.h"
#include "xalloc.h"
#include "banned.h"

bool idem_key_valid(const char *key)
{
	size_t n = 0;

	if (key == NULL)
		return false;
	for (; key[n] != '\0'; n++) {
		if ((unsigned char)key[n] < 0x21 || (unsigned char)key[n] > 0x7e)
			return false;
	}
	return n >= 1 && n <= IDEMPOTENCY_KEY_MAX;
}

void idem_fingerprint(const char *method, const char *path, const json_t *body,
                      char out[IDEM_FINGERPRINT_HEX + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char *canonical = NULL;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (ctx == NULL)
		abort(); /* OpenSSL could not allocate: out of memory is not recovered from */
	if (body != NULL)
		canonical = xjson_dumps(body, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
	/* NUL separators: no (method, path, body) triple can collide with another by shifting
	 * bytes from one part to the next. */
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	EVP_DigestUpdate(ctx, method, strlen(method) + 1);
	EVP_DigestUpdate(ctx, path, strlen(path) + 1);
	if (canonical != NULL)
		EVP_DigestUpdate(ctx, canonical, strlen(canonical));
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	free(canonical);
	for (unsigned int i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[IDEM_FINGERPRINT_HEX] = '\0';
}

/*
 * Take the key if it is free, expired, or in flight past its lease with the same fingerprint.
 * A concurrent INSERT of the same key waits on the unique index until this one commits, so
 * exactly one request owns a key at a time; the rest read the row below.
 */
static struct db_stmt st_claim = DB_STMT(
        "idem_claim",
        "INSERT INTO idempotency_keys AS k (store_id, key, fingerprint, status, locked_until) "
        "VALUES ($1, $2, $3, 'in_flight', now() + make_interval(secs => $4::int)) "
        "ON CONFLICT (store_id, key) DO UPDATE "
        "SET fingerprint = EXCLUDED.fingerprint, status = 'in_flight', "
        "    locked_until = EXCLUDED.locked_until, created_at = now(), "
        "    response_status = NULL, response_body = NULL "
        "WHERE k.created_at < now() - make_interval(hours => $5::int) "
        "   OR (k.status = 'in_flight' AND k.locked_until < now() "
        "       AND k.fingerprint = EXCLUDED.fingerprint) "
        "RETURNING (xmax <> 0) AS taken_over");

static struct db_stmt st_read =
        DB_STMT("idem_read", "SELECT fingerprint, status, response_status, response_body "
                             "FROM idempotency_keys WHERE store_id = $1 AND key = $2");

static struct db_stmt st_complete = DB_STMT(
        "idem_complete", "UPDATE idempotency_keys SET status = 'completed', response_status = $3, "
                         "response_body = $4, locked_until = NULL "
                         "WHERE store_id = $1 AND key = $2 AND status = 'in_flight'");

const struct db_stmt *idem_claim_stmt(void)
{
	return &st_claim;
}

const struct db_stmt *idem_complete_stmt(void)
{
	return &st_complete;
}

static struct db_stmt st_release = DB_STMT(
        "idem_release",
        "DELETE FROM idempotency_keys WHERE store_id = $1 AND key = $2 AND status = 'in_flight'");

bool idem_begin(struct db_conn *c, const char *store_id, const char *key, const char *fingerprint,
                struct idem_result *out, struct err *e)
{
	char lease[16], ttl[16];

	memset(out, 0, sizeof(*out));
	snprintf(lease, sizeof(lease), "%d", IDEMPOTENCY_LEASE_S);
	snprintf(ttl, sizeof(ttl), "%d", IDEMPOTENCY_TTL_HOURS);
	/* Each statement is its own transaction (one round trip each): the claim commits at once,
	 * so a concurrent duplicate sees the key in flight. Two rounds at most: the row we
	 * conflicted with may vanish (released) before we read it. */
	for (int round = 0; round < 2; round++) {
		PGresult *r = db_exec_once(c, store_id, false, &st_claim,
		                           DB_PARAMS(store_id, key, fingerprint, lease, ttl), e);

		if (r == NULL)
			return false;
		if (PQntuples(r) == 1) {
			out->state = IDEM_OWNED;
			out->taken_over = db_get_bool(r, 0, 0);
			PQclear(r);
			return true;
		}
		PQclear(r);
		r = db_exec_once(c, store_id, false, &st_read, DB_PARAMS(store_id, key), e);
		if (r == NULL)
			return false;
		if (PQntuples(r) == 0) {
			PQclear(r);
			continue;
		}
		if (strcmp(db_get(r, 0, 0), fingerprint) != 0) {
			out->state = IDEM_MISMATCH;
		} else if (strcmp(db_get(r, 0, 1), "completed") == 0) {
			out->state = IDEM_REPLAY;
			out->status = (int)db_get_ll(r, 0, 2);
			out->body = xstrdup(db_get(r, 0, 3));
		} else {
			out->state = IDEM_IN_FLIGHT;
		}
		PQclear(r);
		return true;
	}
	err_set(e, 503, "database_unavailable", "idempotency key is changing; retry");
	e->retry_after = IDEMPOTENCY_RETRY_AFTER_S;
	return false;
}

bool idem_start(struct db_conn *c, const char *store_id, const char *key, const char *fingerprint,
                bool *owned, struct idem_answer *answer, struct err *e)
{
	struct idem_result ir;

	*owned = false;
	memset(answer, 0, sizeof(*answer));
	if (!idem_begin(c, store_id, key, fingerprint, &ir, e))
		return false;
	switch (ir.state) {
	case IDEM_OWNED:
		*owned = true;
		return true;
	case IDEM_REPLAY:
		metrics_inc(M_IDEMPOTENCY, "replayed", NULL);
		answer->status = ir.status;
		answer->body = ir.body;
		answer->replayed = true;
		return true;
	case IDEM_MISMATCH:
		metrics_inc(M_IDEMPOTENCY, "reused", NULL);
		err_set(e, 422, "idempotency_key_reused",
		        "this idempotency key was used for a different request");
		return false;
	case IDEM_IN_FLIGHT:
		metrics_inc(M_IDEMPOTENCY, "in_flight", NULL);
		err_set(e, 409, "idempotency_key_in_use",
		        "a request with this idempotency key is still in progress");
		e->retry_after = IDEMPOTENCY_RETRY_AFTER_S;
		return false;
	}
	return false;
}

bool idem_complete(struct db_conn *c, const char *store_id, const char *key, int status,
                   const char *body, struct err *e)
{
	char st[16];
	PGresult *r;
	bool ok;

	snprintf(st, sizeof(st), "%d", status);
	r = db_exec(c, &st_complete, DB_PARAMS(store_id, key, st, body), e);
	if (r == NULL)
		return false;
	/* 0 rows: our lease lapsed and another request took the key. Its own transaction decides
	 * the outcome; ours must not commit a second one. */
	ok = strcmp(PQcmdTuples(r), "1") == 0;
	PQclear(r);
	if (!ok) {
		err_set(e, 409, "idempotency_key_in_use",
		        "the idempotency key was taken over by another request");
		e->retry_after = IDEMPOTENCY_RETRY_AFTER_S;
	}
	return ok;
}

void idem_release(struct db_conn *c, const char *store_id, const char *key)
{
	struct err e = ERR_INIT;
	PGresult *r = db_exec_once(c, store_id, false, &st_release, DB_PARAMS(store_id, key), &e);

	/* On failure the lease lapses on its own; a retry after IDEMPOTENCY_LEASE_S takes it. */
	PQclear(r);
	err_release(&e);
}

static struct db_stmt st_sweep =
        DB_STMT("idem_sweep", "DELETE FROM idempotency_keys WHERE (store_id, key) IN ("
                              "  SELECT store_id, key FROM idempotency_keys "
                              "  WHERE created_at < now() - make_interval(hours => $1::int) "
                              "  LIMIT $2 FOR UPDATE SKIP LOCKED)");

bool idem_sweep(struct db_conn *c, int limit, int *deleted, struct err *e)
{
	char ttl[16], lim[16];
	PGresult *r;

	snprintf(ttl, sizeof(ttl), "%d", IDEMPOTENCY_TTL_HOURS);
	snprintf(lim, sizeof(lim), "%d", limit);
	r = db_exec_once(c, NULL, true, &st_sweep, DB_PARAMS(ttl, lim), e);
	if (r == NULL)
		return false;
	*deleted = (int)strtol(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	return true;
}

/*
 * idem.h — idempotency keys (guarantees §3).
 *
 * The database decides, not timing: (store_id, key) is a primary key. idem_begin() inserts the
 * key as in_flight in its own short transaction, so a concurrent duplicate sees it at once and
 * gets 409 idempotency_key_in_use; the request's effects and the key's completion (status and
 * exact body) then commit together in one transaction, so a key is either free, in flight, or
 * completed with exactly the effects it describes. A key whose owner died (in flight past its
 * lease) may be taken over by a retry with the same fingerprint; a key older than 24 h is free.
 * Outcomes that are not stored (our 5xx) release the key.
 *
 * The fingerprint is SHA-256 over method, path and the canonical JSON of the body (keys sorted,
 * compact), so whitespace and key order do not make a retry "different".
 */
#ifndef TERMINUS_IDEM_H
#define TERMINUS_IDEM_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include "err.h"

#define IDEM_FINGERPRINT_HEX 64

struct db_conn;

/* True for 1..255 visible ASCII characters (0x21..0x7e). */
bool idem_key_valid(const char *key);
/* Hex SHA-256 of method, path and canonical body (body may be NULL). */
void idem_fingerprint(const char *method, const char *path, const json_t *body,
                      char out[IDEM_FINGERPRINT_HEX + 1]);

enum idem_state {
	IDEM_OWNED,    /* we hold the key: go ahead */
	IDEM_REPLAY,   /* completed: replay status and body */
	IDEM_MISMATCH, /* same key, different request: 422 */
	IDEM_IN_FLIGHT /* another request holds it: 409 with Retry-After */
};

struct idem_result {
	enum idem_state state;
	bool taken_over; /* IDEM_OWNED after the previous owner's lease lapsed */
	int status;      /* IDEM_REPLAY */
	char *body;      /* IDEM_REPLAY, owned: free() */
};

/* What an idempotent endpoint answers: decided now, or replayed from the key. */
struct idem_answer {
	int status;
	char *body; /* owned: free() */
	bool replayed;
};

/* idem_begin and the answers every idempotent endpoint gives the same way: true with *owned
 * set when the request may proceed; true with !*owned and a replay in *answer; false with e
 * for a mismatch (422), a key in flight (409 + Retry-After) or a database failure. */
bool idem_start(struct db_conn *c, const char *store_id, const char *key, const char *fingerprint,
                bool *owned, struct idem_answer *answer, struct err *e) MUST_CHECK;

/* Autocommit on c (no transaction open). */
bool idem_begin(struct db_conn *c, const char *store_id, const char *key, const char *fingerprint,
                struct idem_result *out, struct err *e) MUST_CHECK;
/* Inside the transaction that carries the request's effects (or alone, autocommit). */
/* The statements of idem_start()'s claim and of idem_complete(), for tools that replay a
 * checkout's SQL (terminus-api pgbench-script). */
struct db_stmt;
const struct db_stmt *idem_claim_stmt(void);
const struct db_stmt *idem_complete_stmt(void);
bool idem_complete(struct db_conn *c, const char *store_id, const char *key, int status,
                   const char *body, struct err *e) MUST_CHECK;
/* Frees the key after a failure that is not stored; best effort (a lapsed lease frees it too). */
void idem_release(struct db_conn *c, const char *store_id, const char *key);

/* Deletes up to limit keys older than IDEMPOTENCY_TTL_HOURS (any store); *deleted how many. */
bool idem_sweep(struct db_conn *c, int limit, int *deleted, struct err *e) MUST_CHECK;

#endif

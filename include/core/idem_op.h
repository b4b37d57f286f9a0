/*
 * idem_op.h — one idempotent operation, run once: claim → transaction → stored answer → release.
 *
 * Checkout and cancel (and any later endpoint that takes an Idempotency-Key) are the same
 * skeleton around different business logic, so the skeleton lives here once and the endpoint
 * supplies only the logic, as callbacks:
 *
 *   1. Claim the key (idem_start: its own short transaction, committed at once, so a concurrent
 *      duplicate sees it; decision 0012). A replay, a mismatch (422) or a key in flight (409)
 *      answers without running anything.
 *   2. prepare (optional): work that needs the key held but no transaction open (checkout
 *      chooses its path there). Failing releases the key.
 *   3. The transaction: the runner BEGINs it — with op->first in the same round trip, when the
 *      op has a first statement (db_begin_exec) — and calls tx, which does the work and returns
 *      a decision. tx never rolls back or commits: the runner does, by the decision. A failure
 *      with SQLSTATE 40001/40P01 reruns the whole transaction, up to DB_TX_RETRIES times.
 *   4. By the decision, the answer is stored under the key (idem_complete) in the transaction
 *      that carries the effects, or in one of its own, or the key is released.
 *
 * It is a module of its own rather than part of idem.c because idem.c is the key's table (its
 * SQL and states), while this is the transaction discipline every caller of that table must
 * follow; idem.c knows nothing of transactions it does not open.
 */
#ifndef TERMINUS_IDEM_OP_H
#define TERMINUS_IDEM_OP_H

#include <stdbool.h>
#include <libpq-fe.h>
#include "err.h"
#include "idem.h"

struct db_conn;
struct db_stmt;

/* What tx decided; the runner acts on it. */
enum idem_decision {
	/* Done: the runner stores *answer under the key in this transaction, then commits, so
	 * the effects and the answer that describes them commit together (or neither does). */
	IDEM_DECIDED,
	/* A refusal (402, 409 …) or any other answer whose transaction must not commit: the
	 * runner rolls the transaction back, then stores *answer under the key in a short
	 * transaction of its own. Replays answer it byte for byte. */
	IDEM_REFUSED,
	/* An answer that is not stored (404): e says it. The runner rolls back and releases the
	 * key, so a corrected retry with the same key runs as a first request. */
	IDEM_NOT_STORED,
	/* A failure, e says it. The runner rolls back and reruns the transaction if e is a
	 * serialization failure or deadlock and the connection lives; otherwise it releases the
	 * key and fails with e. */
	IDEM_ERROR,
	/* The effects commit now, without an answer: the runner commits, and from then on never
	 * releases the key (a retry would repeat the effects). op->finish then decides the answer
	 * and stores it itself, in the transaction that carries its own effects (the sync
	 * checkout's handler). If finish fails the key stays in flight until its lease lapses;
	 * the retry that takes it over finds the effects and answers from them. */
	IDEM_DEFERRED,
};

struct idem_op {
	const char *name; /* for the log: "checkout" */
	const char *store_id;
	const char *key;
	const char *fingerprint;
	/* The transaction's first statement (e.g. the row lock), pipelined with BEGIN and the
	 * store scope, or NULL for a plain BEGIN. Its result is tx's first (borrowed; NULL without
	 * one). */
	struct db_stmt *first;
	int nfirst;
	const char *const *first_params;
	/* Optional; after the claim, no transaction open. False with e: the key is released. */
	bool (*prepare)(struct db_conn *c, void *arg, struct err *e);
	/* Inside the transaction the runner opened; once per attempt, so it resets its own
	 * per-attempt state. *answer starts zeroed; tx fills it for IDEM_DECIDED and IDEM_REFUSED
	 * (body allocated). Once tx returns, the runner owns whatever body *answer holds, so an
	 * error path in tx frees nothing of it. */
	enum idem_decision (*tx)(struct db_conn *c, const PGresult *first, void *arg,
	                         struct idem_answer *answer, struct err *e);
	/* Optional; once the effects committed (IDEM_DECIDED, IDEM_DEFERRED), e.g. to wake the
	 * workers for an event the transaction queued (decision 0005: never inside it). */
	void (*after_commit)(void *arg);
	/* Required when tx can return IDEM_DEFERRED: see there. */
	bool (*finish)(struct db_conn *c, void *arg, struct idem_answer *out, struct err *e);
};

/* Runs op with arg passed to its callbacks. True with *out to send: decided now (and stored)
 * or replayed (out->replayed). False with e for answers that are not stored: 404 and the like
 * from tx, 409 idempotency_key_in_use, 422 idempotency_key_reused, 5xx. */
bool idem_run(struct db_conn *c, const struct idem_op *op, void *arg, struct idem_answer *out,
              struct err *e) MUST_CHECK;

#endif

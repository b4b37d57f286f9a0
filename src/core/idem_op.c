/*
 * idem_op.c — the idempotent-operation runner (see idem_op.h for the steps and the decisions).
 */
#include <stdlib.h>
#include <string.h>

#include "constants.h"
#include "db.h"
#include "idem.h"
#include "idem_op.h"
#include "log.h"
#include "banned.h"

/*
 * One attempt: BEGIN (with the op's first statement), tx, and what its decision asks of this
 * transaction — storing the answer and committing, committing alone, or rolling back. Returns
 * the decision, or IDEM_ERROR when storing or committing failed; the transaction is over
 * either way, and on IDEM_ERROR *answer is empty again.
 */
static enum idem_decision attempt(struct db_conn *c, const struct idem_op *op, void *arg,
                                  struct idem_answer *answer, struct err *e)
{
	PGresult *first = NULL;
	enum idem_decision d;

	memset(answer, 0, sizeof(*answer));
	if (op->first != NULL) {
		/* BEGIN, the scope and the first statement: one round trip (decision 0008). */
		first = db_begin_exec(c, op->store_id, false, op->first, op->nfirst,
		                      op->first_params, e);
		if (first == NULL)
			goto rollback;
	} else if (!db_begin(c, op->store_id, false, e)) {
		goto rollback;
	}
	d = op->tx(c, first, arg, answer, e);
	PQclear(first);
	switch (d) {
	case IDEM_DECIDED:
		/* 0 rows completed means another holder took the key over: its transaction
		 * decides, ours must not commit a second outcome (idem_complete says 409). */
		if (idem_complete(c, op->store_id, op->key, answer->status, answer->body, e) &&
		    db_commit(c, e))
			return IDEM_DECIDED;
		break;
	case IDEM_DEFERRED:
		if (db_commit(c, e))
			return IDEM_DEFERRED;
		break;
	case IDEM_REFUSED:
	case IDEM_NOT_STORED:
		db_rollback(c);
		return d;
	case IDEM_ERROR:
		break;
	}
	free(answer->body);
	answer->body = NULL;
rollback:
	if (e->status == 0)
		err_internal(e, "%s transaction failed without saying why", op->name);
	db_rollback(c);
	return IDEM_ERROR;
}

/* A refusal is a decided outcome too: stored with the key, in a transaction of its own because
 * the one that decided it was rolled back. */
static bool store_alone(struct db_conn *c, const struct idem_op *op,
                        const struct idem_answer *answer, struct err *e)
{
	if (!db_begin(c, op->store_id, false, e))
		return false;
	if (!idem_complete(c, op->store_id, op->key, answer->status, answer->body, e) ||
	    !db_commit(c, e)) {
		db_rollback(c);
		return false;
	}
	return true;
}

bool idem_run(struct db_conn *c, const struct idem_op *op, void *arg, struct idem_answer *out,
              struct err *e)
{
	struct idem_answer answer = {0, NULL, false};
	enum idem_decision d = IDEM_ERROR;
	bool owned = false;

	if (!idem_start(c, op->store_id, op->key, op->fingerprint, &owned, out, e))
		return false;
	if (!owned)
		return true; /* a replay */
	if (op->prepare != NULL && !op->prepare(c, arg, e))
		goto release_key;
	for (int attempt_no = 0;; attempt_no++) {
		d = attempt(c, op, arg, &answer, e);
		/* After the last rerun its failure stays in e: the answer is 503 with Retry-After,
		 * not an error record released for a rerun that never comes. */
		if (d != IDEM_ERROR || !db_is_retryable(e) || !db_conn_ok(c) ||
		    attempt_no == DB_TX_RETRIES)
			break;
		log_info("%s transaction retried after %s", op->name, e->sqlstate);
		err_release(e);
	}

	switch (d) {
	case IDEM_DECIDED:
		if (op->after_commit != NULL)
			op->after_commit(arg);
		*out = answer;
		return true;
	case IDEM_REFUSED:
		if (!store_alone(c, op, &answer, e))
			goto free_answer;
		*out = answer;
		return true;
	case IDEM_DEFERRED:
		/* Effects are committed: from here the key must not be released, or a retry
		 * would repeat them. */
		if (op->after_commit != NULL)
			op->after_commit(arg);
		return op->finish(c, arg, out, e);
	case IDEM_NOT_STORED:
	case IDEM_ERROR:
		goto free_answer;
	}
free_answer:
	free(answer.body);
release_key:
	if (db_conn_ok(c))
		idem_release(c, op->store_id, op->key);
	return false;
}

/*
 * provider.h — the simulated payment provider: an outside party.
 *
 * Authorization is decided from the token alone (tok_decline declines, any other tok_… token
 * authorizes). Capture, void and refund are "calls to the provider": they carry an idempotency
 * key (the event id), run outside our transactions, and are recorded in provider_operations as
 * the provider's own ledger, so a repeated call is a no-op there as it would be at a real
 * provider. The chaos flag chaos.payment_capture_fail makes captures fail transiently.
 */
#ifndef TERMINUS_PROVIDER_H
#define TERMINUS_PROVIDER_H

#include <stdbool.h>
#include "err.h"

struct db_conn;

/* tok_ followed by 1..251 of [A-Za-z0-9_]. */
bool provider_token_valid(const char *token);
/* False when the provider declines the token. */
bool provider_authorize(const char *token, long long amount_cents);

enum provider_op { PROVIDER_CAPTURE, PROVIDER_VOID, PROVIDER_REFUND };

/* Performs op once per idempotency key; c must be idle (no transaction open). On a transient
 * failure (injected, or the database) returns false with e set (503 provider_unavailable). */
bool provider_call(struct db_conn *c, enum provider_op op, const char *store_id,
                   const char *payment_id, long long amount_cents, const char *idempotency_key,
                   bool inject_failure, struct err *e) MUST_CHECK;

/* provider_call for n payments at once (one statement, one commit); no failure injection. */
bool provider_call_batch(struct db_conn *c, enum provider_op op, const char *store_id, int n,
                         const char *const *payment_ids, const long long *amounts,
                         const char *const *idempotency_keys, struct err *e) MUST_CHECK;

#endif

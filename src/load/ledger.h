/*
 * ledger.h — what the clients were told, kept so the checker can hold the database to it.
 *
 * Every acknowledgement that promises a durable effect is written down: an order created (201),
 * a checkout accepted (202) or finished (200), a cancel done (200). After the run the checker
 * looks each one up: an acknowledged effect that the database does not show is a lost write.
 * Answers the clients can judge on their own (a replay that differs from the first answer, a
 * changed request under a used key that was not refused) become violations at once.
 *
 * The ledger can be written to a file and read back (`terminus-load check --ledger FILE`): one
 * entry per line, "kind<TAB>store_id<TAB>order_id".
 */
#ifndef TERMINUS_LOAD_LEDGER_H
#define TERMINUS_LOAD_LEDGER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum ledger_kind {
	LEDGER_CREATED,        /* POST orders answered 201 */
	LEDGER_CHECKOUT_ASYNC, /* checkout answered 202 */
	LEDGER_CHECKOUT_SYNC,  /* checkout answered 200 (the order was confirmed) */
	LEDGER_CANCELLED,      /* cancel answered 200 */
	LEDGER_KINDS
};

struct ledger_entry {
	enum ledger_kind kind;
	char store_id[37];
	char order_id[37];
};

/* A violation the clients saw with their own eyes (name: a stable invariant name). */
struct client_violation {
	char invariant[40];
	char detail[320];
};

struct ledger {
	struct ledger_entry *e;
	size_t n, cap;
	struct client_violation *v;
	size_t nv, capv;
	size_t nv_total; /* violations seen (only the first LEDGER_MAX_VIOLATIONS are kept) */
};

#define LEDGER_MAX_VIOLATIONS 200

const char *ledger_kind_name(enum ledger_kind k);

void ledger_init(struct ledger *l);
void ledger_release(struct ledger *l);
void ledger_add(struct ledger *l, enum ledger_kind kind, const char *store_id,
                const char *order_id);
void ledger_violation(struct ledger *l, const char *invariant, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Writes / reads the entries (not the violations). False with a message on stderr. */
bool ledger_write(const struct ledger *l, const char *path);
bool ledger_read(struct ledger *l, const char *path);

#endif

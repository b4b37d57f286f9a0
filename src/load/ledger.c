/*
 * ledger.c — the clients' record (see ledger.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "jsonv.h"
#include "ledger.h"
#include "util.h"
#include "xalloc.h"
#include "banned.h"

static const char *const kind_names[LEDGER_KINDS] = {
        "created",
        "checkout_async",
        "checkout_sync",
        "cancelled",
};

const char *ledger_kind_name(enum ledger_kind k)
{
	return kind_names[k];
}

void ledger_init(struct ledger *l)
{
	memset(l, 0, sizeof(*l));
}

void ledger_release(struct ledger *l)
{
	free(l->e);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

void ledger_add(struct ledger *l, enum ledger_kind kind, const char *store_id, const char *order_id)
{
	struct ledger_entry *x;

	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 1024;
		l->e = xrealloc(l->e, l->cap * sizeof(*l->e));
	}
	x = &l->e[l->n++];
	x->kind = kind;
	snprintf(x->store_id, sizeof(x->store_id), "%s", store_id);
	snprintf(x->order_id, sizeof(x->order_id), "%s", order_id);
}

void ledger_violation(struct ledger *l, const char *invariant, const char *fmt, ...)
{
	struct client_violation *v;
	va_list ap;

	l->nv_total++;
	if (l->nv >= LEDGER_MAX_VIOLATIONS)
		return;
	if (l->nv == l->capv) {
		l->capv = l->capv ? l->capv * 2 : 16;
		l->v = xrealloc(l->v, l->capv * sizeof(*l->v));
	}
	v = &l->v[l->nv++];
	snprintf(v->invariant, sizeof(v->invariant), "%s", invariant);
	va_start(ap, fmt);
	vsnprintf(v->detail, sizeof(v->detail), fmt, ap);
	va_end(ap);
}

bool ledger_write(const struct ledger *l, const char *path)
{
	FILE *f = fopen(path, "w");
	bool ok;

	if (!f) {
		fprintf(stderr, "terminus-load: cannot write %s: %s\n", path, strerror(errno));
		return false;
	}
	for (size_t i = 0; i < l->n; i++)
		fprintf(f, "%s\t%s\t%s\n", kind_names[l->e[i].kind], l->e[i].store_id,
		        l->e[i].order_id);
	ok = fflush(f) == 0;
	ok = fclose(f) == 0 && ok;
	if (!ok)
		fprintf(stderr, "terminus-load: cannot write %s: %s\n", path, strerror(errno));
	return ok;
}

bool ledger_read(struct ledger *l, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[256];
	int lineno = 0;

	if (!f) {
		fprintf(stderr, "terminus-load: cannot read %s: %s\n", path, strerror(errno));
		return false;
	}
	while (fgets(line, sizeof(line), f)) {
		char kind[32], store[64], order[64];
		int k;

		lineno++;
		if (line[0] == '\n' || line[0] == '#')
			continue;
		if (sscanf(line, "%31[^\t]\t%63[^\t]\t%63s", kind, store, order) != 3 ||
		    !jsonv_is_uuid(store) || !jsonv_is_uuid(order)) {
			fprintf(stderr,
			        "terminus-load: %s:%d: want kind<TAB>store_id<TAB>order_id\n", path,
			        lineno);
			fclose(f);
			return false;
		}
		for (k = 0; k < LEDGER_KINDS && strcmp(kind, kind_names[k]) != 0; k++)
			;
		if (k == LEDGER_KINDS) {
			fprintf(stderr, "terminus-load: %s:%d: unknown kind %s\n", path, lineno,
			        kind);
			fclose(f);
			return false;
		}
		ledger_add(l, (enum ledger_kind)k, store, order);
	}
	fclose(f);
	return true;
}

/*
 * fuzz_headers — the request headers and query values the API parses itself: traceparent,
 * Idempotency-Key, ?limit= / ?cursor= (the opaque cursor's decoder, and that what it accepts
 * encodes back to the same text), and the analytics' ?from= / ?to= instants. The input is split
 * at NUL bytes into those fields, in that order.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "analytics.h"
#include "err.h"
#include "idem.h"
#include "page.h"
#include "trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1);
	const char *field[5] = {NULL, NULL, NULL, NULL, NULL};
	size_t n = 0, start = 0;
	struct trace t;
	char id[TRACE_ID_LEN + 1];
	struct err e = ERR_INIT;
	struct page p;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	for (size_t i = 0; i <= size && n < 5; i++) {
		if (buf[i] == '\0') {
			field[n++] = buf + start;
			start = i + 1;
		}
	}
	if (field[0] != NULL) {
		(void)trace_valid(field[0]);
		trace_start(field[0], &t);
		trace_id_of(field[0], id);
		trace_id_of(t.traceparent, id);
	}
	if (field[1] != NULL)
		(void)idem_key_valid(field[1]);
	/* A missing limit or cursor is NULL, as when the query has none. */
	if (!page_params(field[2], field[3], PAGE_ORDERS, "scope", &p, &e)) {
		err_release(&e);
	} else if (p.after) {
		char again[PAGE_CURSOR_LEN + 1];

		/* One text per key: a cursor that decodes must be the one the API would make. */
		if (!page_cursor_encode(p.list, p.scope, p.at_us, p.id, again) ||
		    strcmp(again, field[3]) != 0)
			abort();
	}
	if (field[4] != NULL)
		(void)analytics_instant_valid(field[4]);
	free(buf);
	return 0;
}

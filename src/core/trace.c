/*
 * trace.c — W3C traceparent parsing and generation (see trace.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "trace.h"
#include "banned.h"

static bool hex_run(const char *s, size_t n, bool *all_zero)
{
	*all_zero = true;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
			return false; /* the spec wants lowercase */
		if (ch != '0')
			*all_zero = false;
	}
	return true;
}

/* W3C Trace Context: version 00 is exactly 55 characters; a later version (not ff) is read by
 * its version-00 prefix and may go on after a '-' at position 55. */
bool trace_valid(const char *tp)
{
	size_t n = tp != NULL ? strlen(tp) : 0;
	bool zero;

	if (n < TRACEPARENT_LEN || tp[2] != '-' || tp[35] != '-' || tp[52] != '-')
		return false;
	if (!hex_run(tp, 2, &zero) || strncmp(tp, "ff", 2) == 0)
		return false;
	if (strncmp(tp, "00", 2) == 0 ? n != TRACEPARENT_LEN
	                              : n > TRACEPARENT_LEN && tp[TRACEPARENT_LEN] != '-')
		return false;
	if (!hex_run(tp + 3, 32, &zero) || zero)
		return false;
	if (!hex_run(tp + 36, 16, &zero) || zero)
		return false;
	return hex_run(tp + 53, 2, &zero);
}

static void random_hex(char *out, size_t bytes)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char buf[16];
	bool zero = true;

	while (zero) {
		if (RAND_bytes(buf, (int)bytes) != 1)
			abort(); /* no randomness: nothing sensible to fall back on */
		for (size_t i = 0; i < bytes; i++) {
			if (buf[i] != 0)
				zero = false;
			out[2 * i] = digits[buf[i] >> 4];
			out[2 * i + 1] = digits[buf[i] & 15];
		}
	}
	out[2 * bytes] = '\0';
}

void trace_start(const char *incoming, struct trace *out)
{
	char span[17];

	random_hex(span, 8);
	out->continued = trace_valid(incoming);
	if (out->continued) {
		memcpy(out->trace_id, incoming + 3, TRACE_ID_LEN);
		out->trace_id[TRACE_ID_LEN] = '\0';
		snprintf(out->traceparent, sizeof(out->traceparent), "00-%s-%s-%.2s", out->trace_id,
		         span, incoming + 53);
	} else {
		random_hex(out->trace_id, 16);
		snprintf(out->traceparent, sizeof(out->traceparent), "00-%s-%s-01", out->trace_id,
		         span);
	}
}

void trace_id_of(const char *traceparent, char out[TRACE_ID_LEN + 1])
{
	out[0] = '\0';
	if (trace_valid(traceparent)) {
		memcpy(out, traceparent + 3, TRACE_ID_LEN);
		out[TRACE_ID_LEN] = '\0';
	}
}

/*
 * xalloc.h — allocation that cannot fail, for the whole tree (service, terminus-load, tests,
 * fuzzers).
 *
 * Policy: running out of memory is not an error path this program recovers from. There is no
 * sensible answer to give when a few bytes cannot be had, and a half-built request or event
 * would only fail later somewhere less obvious. So every helper here either returns what was
 * asked for or writes a one-line message to stderr and calls abort() at once. Callers never
 * check the result, and every error path that remains in the code (struct err, a 4xx/503, a
 * retry) is about a real failure: bad input, a lost database, a timeout.
 *
 * Size 0 is asked of the allocator as 1 byte, so a zero-length request never reads as failure.
 * xjson wraps jansson's constructors (json_pack, json_object, json_array, json_string, …), whose
 * only failures are out of memory and arguments they refuse (json_pack with a NULL "s" or
 * invalid UTF-8), which is a programmer error: both abort.
 */
#ifndef TERMINUS_XALLOC_H
#define TERMINUS_XALLOC_H

#include <stddef.h>
#include <jansson.h>

#include "err.h"

#define XALLOC_RESULT __attribute__((returns_nonnull, warn_unused_result))

void *xmalloc(size_t size) XALLOC_RESULT __attribute__((malloc));
void *xcalloc(size_t n, size_t size) XALLOC_RESULT __attribute__((malloc));
void *xrealloc(void *p, size_t size) XALLOC_RESULT;
char *xstrdup(const char *s) XALLOC_RESULT __attribute__((malloc));
/* printf into a new string (caller frees). */
char *xasprintf(const char *fmt, ...) XALLOC_RESULT __attribute__((malloc)) PRINTF_LIKE(1, 2);
/* v itself, or abort when the jansson constructor that made it returned NULL. */
json_t *xjson(json_t *v) XALLOC_RESULT;
/* json_dumps(v, flags) (caller frees), or abort: for a value we built, it fails only when out of
 * memory. */
char *xjson_dumps(const json_t *v, size_t flags) XALLOC_RESULT __attribute__((malloc));

#endif

/*
 * xalloc.c — allocation that aborts when memory runs out (see xalloc.h for the policy).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"
#include "banned.h"

/* No formatting, no allocation: only what still works when memory is gone. */
__attribute__((noreturn)) static void out_of_memory(const char *what)
{
	fputs(what, stderr);
	fputs(": out of memory\n", stderr);
	abort();
}

void *xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (p == NULL)
		out_of_memory("xmalloc");
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		out_of_memory("xcalloc");
	return p;
}

void *xrealloc(void *p, size_t size)
{
	void *q = realloc(p, size ? size : 1);

	if (q == NULL)
		out_of_memory("xrealloc");
	return q;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		out_of_memory("xstrdup");
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p = NULL;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (n < 0)
		out_of_memory("xasprintf");
	return p;
}

json_t *xjson(json_t *v)
{
	if (v == NULL) {
		fputs("xjson: a jansson constructor returned NULL (out of memory, or arguments it "
		      "refuses)\n",
		      stderr);
		abort();
	}
	return v;
}

char *xjson_dumps(const json_t *v, size_t flags)
{
	char *text = json_dumps(v, flags);

	if (text == NULL)
		out_of_memory("json_dumps");
	return text;
}

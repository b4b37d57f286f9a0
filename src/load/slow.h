/*
 * slow.h — slowloris: slow client sockets, on plain non-blocking sockets and poll(), not libcurl
 * (which would send a request at once, whole).
 *
 * Each socket connects (from its own source address, or all from one), then drips: a header
 * socket sends one byte of an endless request head ("GET … HTTP/1.1", "Host:", then an
 * "X-Slow:" header that never ends) every interval; a body socket (every third) sends at once a
 * complete head announcing a large body (Content-Length 60000: under the API's 64 KiB, which it
 * would refuse with a 413 at once), then one body byte every interval. None ever completes its
 * request. What the server does with each is recorded:
 *
 *   refused    the connection failed, or the server closed it within `refuse_s` of its
 *              opening (closed on accept: the per-address or the global connection cap);
 *   closed     the server closed it later (EOF or reset, after any answer it sent, such as a
 *              408): its lifetime is from the connect call to the close;
 *   outlived   still open `timeout_s + 2` seconds after it was opened: the server let a client
 *              hold a connection without ever sending a request. We close it then.
 *
 * A socket is never reopened: the run is bounded by the sockets it opens.
 */
#ifndef TERMINUS_LOAD_SLOW_H
#define TERMINUS_LOAD_SLOW_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

#include "hist.h"

struct slow_sock;

struct slow {
	struct slow_sock *s;
	int n;
	char host[16]; /* the API's IPv4 address */
	int port;
	char path[160];    /* what the requests name */
	double interval_s; /* between two drips */
	double timeout_s;  /* the server's request timeout, as the run expects it */
	double refuse_s;   /* closed sooner than this: refused at once */
	int opened, refused, closed, outlived, closed_late, left;
	struct hist life; /* lifetimes of the sockets the server closed (not refused) */
	double max_life_s;
};

/* n sockets to base ("http://A.B.C.D:port"); src(k, buf) gives socket k's source address (""
 * for the kernel's). False (printed) when base is not an IPv4 URL. */
bool slow_init(struct slow *sl, int n, const char *base, const char *path, double interval_s,
               double timeout_s, void (*src)(void *arg, int k, char out[16]), void *arg);
/* Opens every socket (non-blocking connects), at now. */
void slow_open_all(struct slow *sl, double now);
/* Sends what is due, notices what the server closed, closes what outlived its deadline. Never
 * blocks. */
void slow_tick(struct slow *sl, double now);
/* True when every socket is refused, closed or outlived. */
bool slow_settled(const struct slow *sl);
/* Closes what is still open (counted as outlived when past its deadline, else as left). */
void slow_finish(struct slow *sl, double now);
void slow_print(const struct slow *sl, FILE *out);
/* {"sockets","opened","refused_at_once","accepted","closed_by_server","closed_late",
 *  "outlived","left","lifetime_ms":{…},"max_lifetime_s","deadline_s","refuse_s"} (new
 *  reference). */
json_t *slow_json(const struct slow *sl);
void slow_release(struct slow *sl);

#endif

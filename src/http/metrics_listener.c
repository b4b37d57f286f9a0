/*
 * http_metrics.c — a small separate listener that answers GET /metrics (the worker's metrics
 * endpoint), and libmicrohttpd's log callback that both listeners share. It knows nothing of the
 * API: the worker links it without the request server.
 */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "constants.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "xalloc.h"
#include "banned.h"

/* libmicrohttpd's own messages: its format strings, which no attribute can describe. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
void http_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_warn("libmicrohttpd: %s", msg);
}
#pragma GCC diagnostic pop

struct http_metrics {
	struct MHD_Daemon *daemon;
	void (*extra)(struct metrics_text *t, void *arg);
	void *arg;
};

static enum MHD_Result on_metrics(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
	struct http_metrics *m = cls;
	struct MHD_Response *r;
	enum MHD_Result ret;
	bool found = strcmp(url, "/metrics") == 0 && strcmp(method, "GET") == 0;
	char *body;

	(void)version;
	(void)upload_data;
	if (*con_cls == NULL) {
		*con_cls = m; /* answer on the second call: keep-alive (see on_request) */
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		/* A body (nobody should send one): drop it; answer on the last call, when MHD
		 * allows queuing again. */
		*upload_data_size = 0;
		return MHD_YES;
	}
	body = found ? metrics_render(METRICS_PUBLIC, m->extra, m->arg) : xstrdup("not found\n");
	r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (r == NULL)
		abort(); /* MHD could not allocate the response: out of memory */
	MHD_add_response_header(r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	ret = MHD_queue_response(conn, found ? 200 : 404, r);
	MHD_destroy_response(r);
	return ret;
}

struct http_metrics *http_metrics_start(const char *host, int port,
                                        void (*extra)(struct metrics_text *t, void *arg), void *arg,
                                        struct err *e)
{
	struct http_metrics *m = xcalloc(1, sizeof(*m));
	struct addrinfo hints = {0}, *ai = NULL;
	char portstr[8];
	int rc;

	m->extra = extra;
	m->arg = arg;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%d", port);
	rc = getaddrinfo(host, portstr, &hints, &ai);
	if (rc != 0) {
		err_set(e, 0, "config", "TERMINUS_METRICS_LISTEN: cannot resolve %s: %s", host,
		        gai_strerror(rc));
		free(m);
		return NULL;
	}
	m->daemon = MHD_start_daemon(
	        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
	                (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0),
	        (uint16_t)port, NULL, NULL, on_metrics, m, MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log,
	        NULL, MHD_OPTION_SOCK_ADDR, ai->ai_addr, MHD_OPTION_CONNECTION_TIMEOUT,
	        (unsigned int)HTTP_CONNECTION_TIMEOUT_S, MHD_OPTION_CONNECTION_LIMIT,
	        (unsigned int)64, MHD_OPTION_END);
	freeaddrinfo(ai);
	if (m->daemon == NULL) {
		err_set(e, 0, "listen", "cannot listen on %s:%d for metrics", host, port);
		free(m);
		return NULL;
	}
	return m;
}

void http_metrics_stop(struct http_metrics *m)
{
	if (m == NULL)
		return;
	MHD_stop_daemon(m->daemon);
	free(m);
}

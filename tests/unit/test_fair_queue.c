/*
 * test_fair_queue.c — the request server's queue shares itself among stores (server.c).
 *
 * A real server on loopback with one handler thread whose dispatch takes 10 ms, so the queue
 * fills; routes of its own, so no database: the store is the path's first segment. Store "a"
 * floods, store "b" sends a few requests afterwards:
 *
 * - round robin: b's requests are served within a round of the lanes, long before a's backlog
 *   is worked off (a FIFO queue would serve them last);
 * - when the queue is full, the flooding store's requests are the ones answered 503, and b's are
 *   all served (a FIFO queue would refuse b's, the newest).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "constants.h"
#include "http.h"
#include "log.h"

#define WORK_MS 10

static atomic_int admitted, served;
static int port;

static bool admit_by_path(struct request *req)
{
	const char *slash = strchr(req->path + 1, '/');
	size_t n = slash != NULL ? (size_t)(slash - req->path - 1) : strlen(req->path + 1);

	snprintf(req->store_slug, sizeof(req->store_slug), "%.*s", (int)n, req->path + 1);
	atomic_fetch_add(&admitted, 1);
	return true;
}

static void work(struct request *req)
{
	struct timespec t = {0, WORK_MS * 1000000L};
	char body[32];
	int order = atomic_fetch_add(&served, 1);

	nanosleep(&t, NULL);
	snprintf(body, sizeof(body), "%d", order);
	reply_content(req, 200, body, strlen(body), "text/plain");
}

struct client {
	char path[32];
	int status;
	int order; /* the how-manyth request the handler ran; -1 if not run */
	pthread_t thread;
};

static void *send_one(void *arg)
{
	struct client *c = arg;
	struct sockaddr_in sa = {0};
	char req[128], buf[1024];
	size_t got = 0;
	ssize_t n;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	const char *body;

	c->status = 0;
	c->order = -1;
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		goto out;
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
	         c->path);
	if (send(fd, req, strlen(req), MSG_NOSIGNAL) < 0)
		goto out;
	while (got < sizeof(buf) - 1 && (n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	sscanf(buf, "HTTP/1.1 %d", &c->status);
	body = strstr(buf, "\r\n\r\n");
	if (c->status == 200 && body != NULL)
		c->order = atoi(body + 4);
out:
	if (fd >= 0)
		close(fd);
	return NULL;
}

static struct http_server *start(void)
{
	struct sockaddr_in sa = {0};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct http_listen listen = {"127.0.0.1", 0, 1, 60000, 1024, 60000};
	struct http_routes routes = {NULL, 0, admit_by_path, work};
	struct err e = ERR_INIT;
	struct http_server *s;

	/* A free port: bound by the kernel, released, taken by the server. */
	sa.sin_family = AF_INET;
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	listen.port = port;
	s = http_server_start(&listen, &routes, &e);
	assert_non_null(s);
	atomic_store(&admitted, 0);
	atomic_store(&served, 0);
	return s;
}

/* Starts n clients of path prefix p and waits until the server has admitted all of them. */
static void flood(struct client *c, int n, const char *store)
{
	int before = atomic_load(&admitted);
	long long deadline = clock_ms() + 10000;

	for (int i = 0; i < n; i++) {
		snprintf(c[i].path, sizeof(c[i].path), "/%s/%d", store, i);
		assert_int_equal(pthread_create(&c[i].thread, NULL, send_one, &c[i]), 0);
	}
	while (atomic_load(&admitted) < before + n && clock_ms() < deadline) {
		struct timespec t = {0, 1000000L};

		nanosleep(&t, NULL);
	}
	assert_int_equal(atomic_load(&admitted), before + n);
}

static void join(struct client *c, int n)
{
	for (int i = 0; i < n; i++)
		pthread_join(c[i].thread, NULL);
}

static void test_round_robin_across_stores(void **state)
{
	enum { A = 50, B = 3 };
	static struct client a[A], b[B];
	struct http_server *s = start();
	int a_after_b = 0, last_b = 0;

	(void)state;
	flood(a, A, "a");
	flood(b, B, "b");
	join(a, A);
	join(b, B);
	http_server_stop(s);
	for (int i = 0; i < B; i++) {
		assert_int_equal(b[i].status, 200);
		if (b[i].order > last_b)
			last_b = b[i].order;
	}
	for (int i = 0; i < A; i++) {
		assert_int_equal(a[i].status, 200);
		if (a[i].order > last_b)
			a_after_b++;
	}
	print_message("[          ] store b's last request ran %dth; %d of a's ran after it\n",
	              last_b + 1, a_after_b);
	/* Round robin: b's three run within the first rounds, with most of a's still waiting. */
	assert_true(a_after_b >= A - 2 * B - 4);
}

static void test_full_queue_sheds_the_flooding_store(void **state)
{
	enum { CAP = HTTP_QUEUE_MAX_PER_THREAD, A = CAP + 20, B = 5 };
	static struct client a[A], b[B];
	struct http_server *s = start();
	int a_shed = 0;

	(void)state;
	flood(a, A, "a");
	flood(b, B, "b");
	join(a, A);
	join(b, B);
	http_server_stop(s);
	for (int i = 0; i < B; i++)
		assert_int_equal(b[i].status, 200);
	for (int i = 0; i < A; i++) {
		assert_true(a[i].status == 200 || a[i].status == 503);
		a_shed += a[i].status == 503;
	}
	print_message("[          ] queue of %d: %d of a's %d shed, all %d of b's served\n", CAP,
	              a_shed, A, B);
	assert_true(a_shed >= A - CAP);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_round_robin_across_stores),
	        cmocka_unit_test(test_full_queue_sheds_the_flooding_store),
	};

	log_init("test_fair_queue", LOG_LEVEL_WARN); /* no access log line per request */
	return cmocka_run_group_tests(tests, NULL, NULL);
}

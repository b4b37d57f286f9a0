/*
 * slow.c — slowloris sockets (see slow.h).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "slow.h"
#include "util.h"
#include "banned.h"

enum slow_state { SL_CONNECTING, SL_OPEN, SL_DONE };
enum slow_outcome { SO_NONE, SO_REFUSED, SO_CLOSED, SO_OUTLIVED, SO_LEFT };

struct slow_sock {
	int fd;
	enum slow_state st;
	enum slow_outcome outcome;
	bool body; /* a complete head, then the body byte by byte */
	double t_open, t_next;
	char head[512]; /* what it sends, byte by byte (header sockets: then 'a' for ever) */
	size_t head_len, sent;
	char src[16];
};

bool slow_init(struct slow *sl, int n, const char *base, const char *path, double interval_s,
               double timeout_s, void (*src)(void *arg, int k, char out[16]), void *arg)
{
	const char *h = strstr(base, "://");
	size_t len, m;
	char num[8];
	struct in_addr a;
	long long port;

	memset(sl, 0, sizeof(*sl));
	h = h ? h + 3 : base;
	len = strcspn(h, ":/");
	if (len >= sizeof(sl->host) || h[len] != ':') {
		fprintf(stderr, "terminus-load slowloris: %s is not http://A.B.C.D:PORT\n", base);
		return false;
	}
	memcpy(sl->host, h, len);
	sl->host[len] = '\0';
	m = strcspn(h + len + 1, "/");
	if (m == 0 || m >= sizeof(num)) {
		fprintf(stderr, "terminus-load slowloris: no port in %s\n", base);
		return false;
	}
	memcpy(num, h + len + 1, m);
	num[m] = '\0';
	if (!parse_int(num, 1, 65535, &port) || inet_pton(AF_INET, sl->host, &a) != 1) {
		fprintf(stderr, "terminus-load slowloris: %s is not http://A.B.C.D:PORT\n", base);
		return false;
	}
	sl->port = (int)port;
	snprintf(sl->path, sizeof(sl->path), "%s", path);
	sl->interval_s = interval_s;
	sl->timeout_s = timeout_s;
	sl->refuse_s = timeout_s / 2 < 1.0 ? timeout_s / 2 : 1.0;
	sl->n = n;
	sl->s = xcalloc((size_t)(n > 0 ? n : 1), sizeof(*sl->s));
	for (int k = 0; k < n; k++) {
		struct slow_sock *s = &sl->s[k];
		int w;

		s->fd = -1;
		s->body = k % 3 == 2;
		src(arg, k, s->src);
		if (s->body)
			w = snprintf(
			        s->head, sizeof(s->head),
			        "POST %s HTTP/1.1\r\nHost: %s:%d\r\n"
			        "Content-Type: application/json\r\nContent-Length: 60000\r\n\r\n",
			        sl->path, sl->host, sl->port);
		else
			w = snprintf(s->head, sizeof(s->head),
			             "GET %s HTTP/1.1\r\nHost: %s:%d\r\nX-Slow: ", sl->path,
			             sl->host, sl->port);
		s->head_len = w > 0 && (size_t)w < sizeof(s->head) ? (size_t)w : 0;
	}
	return true;
}

static void sock_end(struct slow *sl, struct slow_sock *s, enum slow_outcome o, double now)
{
	double life = now - s->t_open;

	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->st = SL_DONE;
	if (o == SO_CLOSED && life < sl->refuse_s)
		o = SO_REFUSED;
	s->outcome = o;
	switch (o) {
	case SO_REFUSED:
		sl->refused++;
		break;
	case SO_CLOSED:
		sl->closed++;
		hist_record(&sl->life, (uint64_t)(life * 1e6));
		if (life > sl->max_life_s)
			sl->max_life_s = life;
		if (life > sl->timeout_s + 2)
			sl->closed_late++;
		break;
	case SO_OUTLIVED:
		sl->outlived++;
		break;
	case SO_LEFT:
		sl->left++;
		break;
	case SO_NONE:
		break;
	}
}

static void sock_open(struct slow *sl, struct slow_sock *s, double now)
{
	struct sockaddr_in to = {0}, from = {0};

	s->t_open = now;
	s->t_next = now;
	sl->opened++;
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		fprintf(stderr, "terminus-load slowloris: socket: %s\n", strerror(errno));
		sock_end(sl, s, SO_LEFT, now);
		return;
	}
	if (s->src[0]) {
		from.sin_family = AF_INET;
		inet_pton(AF_INET, s->src, &from.sin_addr);
		if (bind(s->fd, (struct sockaddr *)&from, sizeof(from)) != 0) {
			fprintf(stderr, "terminus-load slowloris: bind %s: %s\n", s->src,
			        strerror(errno));
			sock_end(sl, s, SO_LEFT, now);
			return;
		}
	}
	to.sin_family = AF_INET;
	to.sin_port = htons((uint16_t)sl->port);
	inet_pton(AF_INET, sl->host, &to.sin_addr);
	if (connect(s->fd, (struct sockaddr *)&to, sizeof(to)) == 0)
		s->st = SL_OPEN;
	else if (errno == EINPROGRESS)
		s->st = SL_CONNECTING;
	else
		sock_end(sl, s, SO_REFUSED, now);
}

void slow_open_all(struct slow *sl, double now)
{
	for (int k = 0; k < sl->n; k++)
		sock_open(sl, &sl->s[k], now);
}

/* One byte, if one is due; false when the server is gone (reset, broken pipe). */
static bool drip(struct slow *sl, struct slow_sock *s, double now)
{
	char c;
	ssize_t w;

	if (now < s->t_next)
		return true;
	if (s->body && s->sent == 0) {
		w = send(s->fd, s->head, s->head_len, MSG_NOSIGNAL);
		if (w < 0 && errno != EAGAIN)
			return false;
		if (w > 0)
			s->sent = (size_t)w == s->head_len ? s->head_len : 0;
		if (s->sent == 0 && w > 0)
			return false; /* a short write of a few hundred bytes: give up on it */
		s->t_next = now + sl->interval_s;
		return true;
	}
	c = s->sent < s->head_len && !s->body ? s->head[s->sent] : s->body ? '1' : 'a';
	w = send(s->fd, &c, 1, MSG_NOSIGNAL);
	if (w < 0 && errno != EAGAIN)
		return false;
	if (w == 1)
		s->sent++;
	s->t_next = now + sl->interval_s;
	return true;
}

/* What the server sent: an answer (read and dropped), the end (false), or nothing yet. */
static bool still_open(struct slow_sock *s)
{
	char buf[512];

	for (;;) {
		ssize_t r = recv(s->fd, buf, sizeof(buf), 0);

		if (r > 0)
			continue;
		if (r == 0)
			return false;
		return errno == EAGAIN || errno == EINTR;
	}
}

void slow_tick(struct slow *sl, double now)
{
	for (int k = 0; k < sl->n; k++) {
		struct slow_sock *s = &sl->s[k];
		struct pollfd p;

		if (s->st == SL_DONE)
			continue;
		p = (struct pollfd){.fd = s->fd, .events = POLLIN | POLLRDHUP};
		if (s->st == SL_CONNECTING)
			p.events = POLLOUT;
		if (poll(&p, 1, 0) < 0)
			continue;
		if (s->st == SL_CONNECTING) {
			int err = 0;
			socklen_t len = sizeof(err);

			if (p.revents == 0) {
				if (now - s->t_open > sl->timeout_s + 2)
					sock_end(sl, s, SO_OUTLIVED, now);
				continue;
			}
			getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len);
			if (err != 0) {
				sock_end(sl, s, SO_REFUSED, now);
				continue;
			}
			s->st = SL_OPEN;
		} else if (p.revents != 0 && !still_open(s)) {
			sock_end(sl, s, SO_CLOSED, now);
			continue;
		}
		if (now - s->t_open > sl->timeout_s + 2) {
			sock_end(sl, s, SO_OUTLIVED, now);
			continue;
		}
		if (!drip(sl, s, now))
			sock_end(sl, s, SO_CLOSED, now);
	}
}

bool slow_settled(const struct slow *sl)
{
	for (int k = 0; k < sl->n; k++) {
		if (sl->s[k].st != SL_DONE)
			return false;
	}
	return true;
}

void slow_finish(struct slow *sl, double now)
{
	slow_tick(sl, now);
	for (int k = 0; k < sl->n; k++) {
		struct slow_sock *s = &sl->s[k];

		if (s->st != SL_DONE)
			sock_end(sl, s, now - s->t_open > sl->timeout_s + 2 ? SO_OUTLIVED : SO_LEFT,
			         now);
	}
}

void slow_print(const struct slow *sl, FILE *out)
{
	fprintf(out,
	        "slowloris   %d slow sockets (one byte every %.1f s; every third a body after a "
	        "whole head): %d refused at once (< %.1f s), %d accepted: %d closed by the server, "
	        "%d of them "
	        "later than %.0f s, %d outlived %.0f s, %d left; lifetime of the closed p50 %.2f s, "
	        "max %.2f s\n",
	        sl->n, sl->interval_s, sl->refused, sl->refuse_s, sl->opened - sl->refused,
	        sl->closed, sl->closed_late, sl->timeout_s + 2, sl->outlived, sl->timeout_s + 2,
	        sl->left, (double)hist_percentile(&sl->life, 50) / 1e6, sl->max_life_s);
}

json_t *slow_json(const struct slow *sl)
{
	return json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:o,s:f,s:f,s:f}", "sockets", sl->n,
	                 "opened", sl->opened, "refused_at_once", sl->refused, "accepted",
	                 sl->opened - sl->refused, "closed_by_server", sl->closed, "closed_late",
	                 sl->closed_late, "outlived", sl->outlived, "left", sl->left, "lifetime_ms",
	                 hist_json(&sl->life), "max_lifetime_s", sl->max_life_s, "deadline_s",
	                 sl->timeout_s + 2, "refuse_s", sl->refuse_s);
}

void slow_release(struct slow *sl)
{
	for (int k = 0; sl->s && k < sl->n; k++) {
		if (sl->s[k].fd >= 0)
			close(sl->s[k].fd);
	}
	free(sl->s);
	sl->s = NULL;
}

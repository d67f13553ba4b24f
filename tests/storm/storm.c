// SPDX-License-Identifier: Apache-2.0
/* Load for the bounded-memory tests: a storm of short HTTP/1.1 connections,
 * or many keep-alive connections held open and idle.
 *
 *   storm short ADDR PORT COUNT CONCURRENCY
 *       COUNT connections, CONCURRENCY at a time, each one request with
 *       "Connection: close" read to the end; prints "ok=N failed=M".
 *   storm hold ADDR PORT COUNT
 *       COUNT connections, each one keep-alive request whose response is
 *       read whole; prints "held=N failed=M", then keeps every connection
 *       open and idle until standard input closes.
 *
 * Non-blocking sockets on one epoll; the open-file limit is raised to the
 * hard limit first. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF 1024

enum { C_CONNECTING, C_READING, C_DONE };

struct conn {
	int fd;
	int state;
	size_t len;
	char buf[BUF];
};

static struct sockaddr_in dst;
static int ep;
static bool keep;	/* hold mode */
static const char *req_close = "GET /storm HTTP/1.1\r\nHost: storm\r\nConnection: close\r\n\r\n";
static const char *req_keep = "GET /hold HTTP/1.1\r\nHost: storm\r\n\r\n";

static int start(struct conn *c)
{
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	c->len = 0;
	c->state = C_CONNECTING;
	if (connect(c->fd, (struct sockaddr *)&dst, sizeof(dst)) && errno != EINPROGRESS) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	struct epoll_event e = { .events = EPOLLOUT | EPOLLIN, .data.ptr = c };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &e)) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	return 0;
}

/* A whole response: a 200 head, and with keep-alive its Content-Length body. */
static bool response_done(struct conn *c, bool eof, bool *ok)
{
	char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);

	*ok = c->len >= 12 && memcmp(c->buf, "HTTP/1.1 200", 12) == 0;
	if (!keep || !end)
		return eof;
	for (char *p = c->buf; p < end; p++) {
		if (*p == '\n' && strncasecmp(p + 1, "content-length:", 15) == 0) {
			size_t head = end + 4 - c->buf, body = strtoul(p + 16, NULL, 10);

			return head + body <= c->len || eof;
		}
	}
	return true;
}

/* Drive one connection on an event; returns true when it is finished, with
 * *ok telling whether it got its response. */
static bool step(struct conn *c, uint32_t ev, bool *ok)
{
	const char *req = keep ? req_keep : req_close;

	*ok = false;
	if (c->state == C_CONNECTING) {
		int err = 0;
		socklen_t l = sizeof(err);

		if (ev & (EPOLLERR | EPOLLHUP) && !(ev & EPOLLIN))
			return true;
		if (!(ev & EPOLLOUT))
			return false;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err || write(c->fd, req, strlen(req)) != (ssize_t)strlen(req))
			return true;
		struct epoll_event e = { .events = EPOLLIN, .data.ptr = c };
		epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
		c->state = C_READING;
		return false;
	}
	for (;;) {
		char tmp[BUF];
		ssize_t n = read(c->fd, tmp, sizeof(tmp));

		if (n < 0 && errno == EAGAIN)
			return response_done(c, false, ok);
		if (n <= 0) {
			response_done(c, true, ok);
			return true;
		}
		if (c->len < BUF) {
			size_t k = (size_t)n < BUF - c->len ? (size_t)n : BUF - c->len;

			memcpy(c->buf + c->len, tmp, k);
			c->len += k;
		}
		if (keep && response_done(c, false, ok))
			return true;
	}
}

int main(int argc, char **argv)
{
	unsigned long count, conc, started = 0, finished = 0, ok = 0, failed = 0;
	struct epoll_event evs[256];
	struct rlimit rl;
	struct conn *conns;

	if (argc < 5 || (strcmp(argv[1], "short") && strcmp(argv[1], "hold")) ||
	    (!strcmp(argv[1], "short") && argc < 6)) {
		fprintf(stderr, "usage: storm short ADDR PORT COUNT CONCURRENCY | "
			"storm hold ADDR PORT COUNT\n");
		return 2;
	}
	keep = !strcmp(argv[1], "hold");
	dst.sin_family = AF_INET;
	dst.sin_port = htons(atoi(argv[3]));
	if (inet_pton(AF_INET, argv[2], &dst.sin_addr) != 1) {
		fprintf(stderr, "storm: bad address %s\n", argv[2]);
		return 2;
	}
	count = strtoul(argv[4], NULL, 10);
	conc = keep ? 512 : strtoul(argv[5], NULL, 10);
	if (!count || !conc)
		return 2;
	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (keep && count + 16 > rl.rlim_cur) {
		fprintf(stderr, "storm: %lu connections need more than the open-file limit %lu\n",
			count, (unsigned long)rl.rlim_cur);
		return 2;
	}
	conns = calloc(keep ? count : conc, sizeof(*conns));
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (!conns || ep < 0)
		return 1;
	/* Hold mode keeps each connection in its own slot; short mode reuses
	 * a slot as soon as its connection is over. */
	for (unsigned long i = 0; i < conc && started < count; i++) {
		struct conn *c = &conns[keep ? started : i];

		started++;
		if (start(c)) {
			failed++;
			finished++;
		}
	}
	while (finished < count) {
		int n = epoll_wait(ep, evs, 256, 10000);

		if (n == 0)
			break;		/* nothing moves for 10 s: give up */
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			bool good;

			if (!step(c, evs[i].events, &good))
				continue;
			finished++;
			good ? ok++ : failed++;
			if (keep && good) {
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				c->state = C_DONE;
			} else {
				close(c->fd);
				c->fd = -1;
			}
			while (started < count) {
				struct conn *nc = keep ? &conns[started] : c;

				started++;
				if (!start(nc))
					break;
				failed++;
				finished++;
			}
		}
	}
	failed += count - finished;
	printf("%s=%lu failed=%lu\n", keep ? "held" : "ok", ok, failed);
	fflush(stdout);
	if (keep) {
		char b[64];

		while (read(0, b, sizeof(b)) > 0)
			;
	}
	return 0;
}

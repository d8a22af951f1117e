/*
 * scrape-load.c - a steady, cheap Prometheus scraper for scripts/bench-scrape:
 * GET a path at a fixed rate and count the replies that are 200 and complete.
 *
 *   scrape-load HOST PORT RATE SECONDS [PATH]
 *
 * Requests are paced by clock_nanosleep on absolute CLOCK_MONOTONIC times: a
 * slow reply delays the next requests, which then make up at most
 * SCRAPE_CATCH_UP periods, so a stall never turns into a long burst. The
 * achieved rate is reported as measured. One HTTP/1.1 connection is kept
 * while the server's replies allow it (no "Connection: close"); otherwise
 * each request connects anew. Runs for SECONDS or until SIGTERM/SIGINT, then
 * prints one line of key=value figures and exits 1 if any scrape failed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SCRAPE_REPLY_MAX    (16u * 1024u * 1024u) /* a reply, headers and body, at most */
#define SCRAPE_LAT_MAX      100000                /* latencies kept for the percentiles */
#define SCRAPE_IO_TIMEOUT_S 5                     /* each send or receive, at most */
#define SCRAPE_CATCH_UP     10 /* periods a late schedule makes up; beyond, it starts afresh */

struct scrape_target {
	struct sockaddr_in addr;
	char request[512];
	size_t request_len;
	int fd; /* the kept connection, or -1 */
};

struct scrape_totals {
	long sent, ok, failed, reconnects;
	size_t body_bytes; /* of the last good reply */
	double lat_ms[SCRAPE_LAT_MAX];
	long lat_n;
};

static char scrape_reply[SCRAPE_REPLY_MAX + 1];
static volatile sig_atomic_t scrape_stop;

static void scrape_on_signal(int sig)
{
	scrape_stop = 1;
}

static double scrape_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A new blocking connection with send/receive timeouts; -1 on failure. */
static int scrape_connect(const struct scrape_target *t)
{
	struct timeval tv = {.tv_sec = SCRAPE_IO_TIMEOUT_S};
	int on = 1;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	if (connect(fd, (const struct sockaddr *)&t->addr, sizeof(t->addr)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool scrape_send_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/*
 * Read one reply into scrape_reply: headers, then Content-Length bytes of
 * body. Returns the body's length, or -1 when the reply is not 200 or not
 * complete. *keep says whether the server lets the connection be reused.
 */
static long scrape_read_reply(int fd, bool *keep)
{
	size_t len = 0, head = 0, body = 0;
	bool have_head = false;

	*keep = false;
	for (;;) {
		ssize_t n;

		if (have_head && len >= head + body)
			break;
		if (len == SCRAPE_REPLY_MAX)
			return -1;
		n = recv(fd, scrape_reply + len, SCRAPE_REPLY_MAX - len, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		len += (size_t)n;
		scrape_reply[len] = 0;
		if (!have_head) {
			const char *end = strstr(scrape_reply, "\r\n\r\n");
			const char *cl = strcasestr(scrape_reply, "\r\nContent-Length:");

			if (end == NULL)
				continue;
			if (cl == NULL || cl > end)
				return -1;
			head = (size_t)(end - scrape_reply) + 4;
			body = strtoul(cl + 17, NULL, 10);
			have_head = true;
		}
	}
	if (strncmp(scrape_reply, "HTTP/1.1 200 ", 13) != 0 || len != head + body)
		return -1;
	*keep = strcasestr(scrape_reply, "\r\nConnection: close\r\n") == NULL;
	return (long)body;
}

/* One request and its reply, on the kept connection or a new one. */
static void scrape_once(struct scrape_target *t, struct scrape_totals *tot)
{
	double t0 = scrape_now();
	bool keep = false;
	long body = -1;

	tot->sent++;
	if (t->fd == -1) {
		t->fd = scrape_connect(t);
		tot->reconnects++;
	}
	if (t->fd != -1 && scrape_send_all(t->fd, t->request, t->request_len))
		body = scrape_read_reply(t->fd, &keep);
	if (t->fd != -1 && (body < 0 || !keep)) {
		close(t->fd);
		t->fd = -1;
	}
	if (body < 0) {
		tot->failed++;
		return;
	}
	tot->ok++;
	tot->body_bytes = (size_t)body;
	if (tot->lat_n < SCRAPE_LAT_MAX)
		tot->lat_ms[tot->lat_n++] = (scrape_now() - t0) * 1e3;
}

static int scrape_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double scrape_percentile(double *v, long n, double p)
{
	if (n == 0)
		return 0;
	qsort(v, (size_t)n, sizeof(*v), scrape_cmp_double);
	return v[(long)(p * (double)(n - 1) + 0.5)];
}

static void scrape_report(struct scrape_totals *tot, double seconds)
{
	struct rusage ru;
	double cpu_ms;
	double med = scrape_percentile(tot->lat_ms, tot->lat_n, 0.5);
	double p99 = scrape_percentile(tot->lat_ms, tot->lat_n, 0.99);

	getrusage(RUSAGE_SELF, &ru);
	cpu_ms = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
	         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
	printf("sent=%ld ok=%ld failed=%ld connects=%ld seconds=%.3f rate=%.2f body_bytes=%zu "
	       "latency_med_ms=%.3f latency_p99_ms=%.3f cpu_ms=%.1f\n",
	       tot->sent, tot->ok, tot->failed, tot->reconnects, seconds,
	       seconds > 0 ? (double)tot->ok / seconds : 0.0, tot->body_bytes, med, p99, cpu_ms);
}

static void scrape_sleep_until(double when)
{
	struct timespec ts = {.tv_sec = (time_t)when};

	ts.tv_nsec = (long)((when - (double)ts.tv_sec) * 1e9);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !scrape_stop)
		;
}

int main(int argc, char **argv)
{
	static struct scrape_totals tot;
	struct scrape_target t = {.fd = -1};
	struct sigaction sa = {.sa_handler = scrape_on_signal};
	double rate, seconds, start, next, period;

	if (argc < 5 || argc > 6) {
		fprintf(stderr, "usage: scrape-load HOST PORT RATE SECONDS [PATH]\n");
		return 2;
	}
	t.addr.sin_family = AF_INET;
	t.addr.sin_port = htons((uint16_t)atoi(argv[2]));
	rate = atof(argv[3]);
	seconds = atof(argv[4]);
	if (inet_pton(AF_INET, argv[1], &t.addr.sin_addr) != 1 || rate <= 0 || seconds <= 0) {
		fprintf(stderr, "scrape-load: bad HOST, RATE or SECONDS\n");
		return 2;
	}
	t.request_len = (size_t)snprintf(t.request, sizeof(t.request),
	                                 "GET %.300s HTTP/1.1\r\nHost: %s:%s\r\n\r\n",
	                                 argc == 6 ? argv[5] : "/metrics", argv[1], argv[2]);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	period = 1.0 / rate;
	start = next = scrape_now();
	while (!scrape_stop && next < start + seconds) {
		scrape_once(&t, &tot);
		next += period;
		if (next < scrape_now() - SCRAPE_CATCH_UP * period)
			next = scrape_now(); /* far behind: go on from now, no burst */
		scrape_sleep_until(next);
	}
	scrape_report(&tot, scrape_now() - start);
	if (t.fd != -1)
		close(t.fd);
	return tot.failed == 0 && tot.ok > 0 ? 0 : 1;
}

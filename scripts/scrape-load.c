/*
 * scrape-load.c - a steady, cheap Prometheus scraper for scripts/bench-scrape:
 * GET a path at a fixed rate and count the replies that are 200 and complete.
 *
 *   scrape-load [-w WINDOW -p PID] HOST PORT RATE SECONDS [PATH]
 *
 * Requests are paced by clock_nanosleep on absolute times: a slow reply
 * delays the next requests, which then make up at most SCRAPE_CATCH_UP
 * periods, so a stall never turns into a long burst. The achieved rate is
 * reported as measured. SCRAPE_WORKERS threads share the rate, each at
 * RATE/SCRAPE_WORKERS with its schedule offset, so that replies slower than
 * 1/RATE (a loaded server) do not lower the rate. Each worker keeps its
 * HTTP/1.1 connection while the server's replies allow it (no "Connection:
 * close"); otherwise each request connects anew.
 *
 * With -w, time is cut into windows of WINDOW seconds since the epoch, and
 * only the middle two of every four are scraped (off, on, on, off: an ABBA
 * order, so that a drift in the machine's load cancels between them). With
 * -p, the CPU time of process PID (all its threads, nanoseconds from
 * /proc/PID/task/N/schedstat), the replies counted so far and the machine's
 * context switches (/proc/stat ctxt) are printed at each window's start, as
 * "window K CPU_NS OK CTXT". Clocks are CLOCK_REALTIME so
 * that windows line up with the epoch times pgbench logs.
 *
 * Runs for SECONDS or until SIGTERM/SIGINT, then prints one line of
 * key=value figures and exits 1 if any scrape failed.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define SCRAPE_REPLY_MAX    (16u * 1024u * 1024u) /* a reply, headers and body, at most */
#define SCRAPE_LAT_MAX      100000                /* latencies kept per worker */
#define SCRAPE_WORKERS      4                     /* threads sharing the rate */
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
	double lat_ms[SCRAPE_LAT_MAX * SCRAPE_WORKERS];
	long lat_n;
};

/* One thread's share of the requests. */
struct scrape_worker {
	struct scrape_target t;
	struct scrape_totals *tot;  /* its own, merged by main when it is done */
	char *reply;                /* SCRAPE_REPLY_MAX + 1 bytes */
	double offset, end, period; /* its schedule: first request at start + offset */
	pthread_t thread;
};

static volatile sig_atomic_t scrape_stop;
static double scrape_window; /* seconds; 0: scrape all the time */
static long scrape_ok_total; /* replies counted by all workers (atomic) */

static void scrape_on_signal(int sig)
{
	scrape_stop = 1;
}

static double scrape_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
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

/* Send the request, small enough for one send on a blocking socket. */
static bool scrape_send_request(const struct scrape_target *t)
{
	ssize_t n;

	do
		n = send(t->fd, t->request, t->request_len, MSG_NOSIGNAL);
	while (n == -1 && errno == EINTR);
	return n == (ssize_t)t->request_len;
}

/*
 * Read one reply into REPLY: headers, then Content-Length bytes of
 * body. Returns the body's length, or -1 when the reply is not 200 or not
 * complete. *keep says whether the server lets the connection be reused.
 */
static long scrape_read_reply(int fd, char *reply, bool *keep)
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
		n = recv(fd, reply + len, SCRAPE_REPLY_MAX - len, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		len += (size_t)n;
		reply[len] = 0;
		if (!have_head) {
			const char *end = strstr(reply, "\r\n\r\n");
			const char *cl = strcasestr(reply, "\r\nContent-Length:");

			if (end == NULL)
				continue;
			if (cl == NULL || cl > end)
				return -1;
			head = (size_t)(end - reply) + 4;
			body = strtoul(cl + 17, NULL, 10);
			have_head = true;
		}
	}
	if (strncmp(reply, "HTTP/1.1 200 ", 13) != 0 || len != head + body)
		return -1;
	*keep = strcasestr(reply, "\r\nConnection: close\r\n") == NULL;
	return (long)body;
}

/* One request and its reply, on the kept connection or a new one. */
static void scrape_once(struct scrape_target *t, char *reply, struct scrape_totals *tot)
{
	double t0 = scrape_now();
	bool keep = false;
	long body = -1;

	tot->sent++;
	if (t->fd == -1) {
		t->fd = scrape_connect(t);
		tot->reconnects++;
	}
	if (t->fd != -1 && scrape_send_request(t))
		body = scrape_read_reply(t->fd, reply, &keep);
	if (t->fd != -1 && (body < 0 || !keep)) {
		close(t->fd);
		t->fd = -1;
	}
	if (body < 0) {
		tot->failed++;
		return;
	}
	tot->ok++;
	__atomic_add_fetch(&scrape_ok_total, 1, __ATOMIC_RELAXED);
	tot->body_bytes = (size_t)body;
	if (tot->lat_n < SCRAPE_LAT_MAX * SCRAPE_WORKERS)
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

/* The summary line; with windows, the rate is over the half of SECONDS scraped. */
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
	       seconds > 0 ? (double)tot->ok / (scrape_window > 0 ? seconds / 2 : seconds) : 0.0,
	       tot->body_bytes, med, p99, cpu_ms);
}

static void scrape_sleep_until(double when)
{
	struct timespec ts = {.tv_sec = (time_t)when};

	ts.tv_nsec = (long)((when - (double)ts.tv_sec) * 1e9);
	while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL) == EINTR && !scrape_stop)
		;
}

/* Whether the window holding time T is one to scrape in (always, without windows). */
static bool scrape_window_on(double t)
{
	long k;

	if (scrape_window <= 0)
		return true;
	k = (long)floor(t / scrape_window);
	return k % 4 == 1 || k % 4 == 2;
}

/* The start of the next window to scrape in, T being in one not to. */
static double scrape_next_on(double t)
{
	long k = (long)floor(t / scrape_window) + 1;

	while (k % 4 != 1)
		k++;
	return (double)k * scrape_window;
}

/* A worker's loop: a request at each point of its schedule, until the end or a signal. */
static void *scrape_worker_run(void *arg)
{
	struct scrape_worker *w = arg;
	double next = scrape_now() + w->offset;

	scrape_sleep_until(next);
	while (!scrape_stop && next < w->end) {
		if (!scrape_window_on(next)) {
			next = scrape_next_on(next) + w->offset;
			scrape_sleep_until(next);
			continue;
		}
		scrape_once(&w->t, w->reply, w->tot);
		next += w->period;
		if (next < scrape_now() - SCRAPE_CATCH_UP * w->period)
			next = scrape_now(); /* far behind: go on from now, no burst */
		scrape_sleep_until(next);
	}
	if (w->t.fd != -1)
		close(w->t.fd);
	return NULL;
}

/* Nanoseconds of CPU the threads of PID have run, -1 when it cannot be read. */
static long long scrape_cpu_ns(pid_t pid)
{
	char path[64];
	long long total = 0;
	struct dirent *e;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (dir == NULL)
		return -1;
	while ((e = readdir(dir)) != NULL) {
		char file[320];
		long long ns = 0;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(file, sizeof(file), "/proc/%d/task/%.200s/schedstat", (int)pid, e->d_name);
		f = fopen(file, "r");
		if (f == NULL)
			continue; /* the thread has just ended */
		if (fscanf(f, "%lld", &ns) == 1)
			total += ns;
		fclose(f);
	}
	closedir(dir);
	return total;
}

/* Context switches on the whole machine since boot, -1 when they cannot be read. */
static long long scrape_ctxt(void)
{
	char line[256];
	long long n = -1;
	FILE *f = fopen("/proc/stat", "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "ctxt %lld", &n) == 1)
			break;
	fclose(f);
	return n;
}

/* What the sampler thread watches: PID, at each window start until END. */
struct scrape_sampler {
	pid_t pid;
	double end;
	pthread_t thread;
};

static void *scrape_sampler_run(void *arg)
{
	const struct scrape_sampler *s = arg;
	long k = (long)floor(scrape_now() / scrape_window) + 1;

	while (!scrape_stop && (double)k * scrape_window <= s->end + scrape_window) {
		scrape_sleep_until((double)k * scrape_window);
		if (scrape_stop)
			break;
		printf("window %ld %lld %ld %lld\n", k, scrape_cpu_ns(s->pid),
		       __atomic_load_n(&scrape_ok_total, __ATOMIC_RELAXED), scrape_ctxt());
		fflush(stdout);
		k++;
	}
	return NULL;
}

/* Add a worker's counts to the whole run's. */
static void scrape_merge(struct scrape_totals *all, const struct scrape_totals *one)
{
	all->sent += one->sent;
	all->ok += one->ok;
	all->failed += one->failed;
	all->reconnects += one->reconnects;
	if (one->ok > 0)
		all->body_bytes = one->body_bytes;
	for (long i = 0; i < one->lat_n && all->lat_n < SCRAPE_LAT_MAX * SCRAPE_WORKERS; i++)
		all->lat_ms[all->lat_n++] = one->lat_ms[i];
}

/* Start the workers on staggered schedules, wait for them, merge their counts into ALL. */
static int scrape_run(const struct scrape_target *t, double rate, double seconds,
                      struct scrape_totals *all)
{
	static struct scrape_worker w[SCRAPE_WORKERS];
	double start = scrape_now();
	int started = 0;

	for (int i = 0; i < SCRAPE_WORKERS; i++) {
		w[i].t = *t;
		w[i].period = SCRAPE_WORKERS / rate;
		w[i].offset = i / rate;
		w[i].end = start + seconds;
		w[i].tot = calloc(1, sizeof(*w[i].tot));
		w[i].reply = malloc(SCRAPE_REPLY_MAX + 1);
		if (w[i].tot == NULL || w[i].reply == NULL ||
		    pthread_create(&w[i].thread, NULL, scrape_worker_run, &w[i]) != 0) {
			fprintf(stderr, "scrape-load: cannot start a worker\n");
			scrape_stop = 1;
			break;
		}
		started++;
	}
	for (int i = 0; i < started; i++) {
		pthread_join(w[i].thread, NULL);
		scrape_merge(all, w[i].tot);
	}
	for (int i = 0; i < SCRAPE_WORKERS; i++) {
		free(w[i].tot);
		free(w[i].reply);
	}
	return started == SCRAPE_WORKERS ? 0 : -1;
}

static int scrape_usage(void)
{
	fprintf(stderr, "usage: scrape-load [-w WINDOW -p PID] HOST PORT RATE SECONDS [PATH]\n");
	return 2;
}

int main(int argc, char **argv)
{
	static struct scrape_totals tot;
	struct scrape_target t = {.fd = -1};
	struct scrape_sampler sampler = {.pid = 0};
	struct sigaction sa = {.sa_handler = scrape_on_signal};
	double rate, seconds, start;
	int rc, opt;

	while ((opt = getopt(argc, argv, "w:p:")) != -1) {
		if (opt == 'w')
			scrape_window = atof(optarg);
		else if (opt == 'p')
			sampler.pid = (pid_t)atoi(optarg);
		else
			return scrape_usage();
	}
	argc -= optind - 1;
	argv += optind - 1;
	if (argc < 5 || argc > 6 || scrape_window < 0 || (sampler.pid > 0 && scrape_window <= 0))
		return scrape_usage();
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
	start = scrape_now();
	sampler.end = start + seconds;
	if (sampler.pid > 0 &&
	    pthread_create(&sampler.thread, NULL, scrape_sampler_run, &sampler) != 0) {
		fprintf(stderr, "scrape-load: cannot start the sampler\n");
		return 1;
	}
	rc = scrape_run(&t, rate, seconds, &tot);
	scrape_stop = 1;
	if (sampler.pid > 0)
		pthread_join(sampler.thread, NULL);
	scrape_report(&tot, scrape_now() - start);
	return rc == 0 && tot.failed == 0 && tot.ok > 0 ? 0 : 1;
}

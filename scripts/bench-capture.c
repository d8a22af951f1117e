/*
 * bench-capture.c - cost of capture_submit() on the forwarding thread at a paced
 * statement rate, with the background writer running.
 *
 *   bench-capture RATE DIR    (RATE statements per second, for two seconds)
 *
 * Built and run by scripts/bench-report.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pooler/capture.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: bench-capture RATE DIR\n");
		return 2;
	}
	int rate = atoi(argv[1]);
	if (rate <= 0 || capture_open(argv[2], 0, 0, false) != 0) {
		perror("bench-capture");
		return 1;
	}
	struct capture_record r;
	memset(&r, 0, sizeof(r));
	r.fingerprint = 0x348bee4e67e86ca6ull;
	snprintf(r.database, sizeof(r.database), "bench");
	snprintf(r.user, sizeof(r.user), "app");
	snprintf(r.tag, sizeof(r.tag), "SELECT");
	r.rows = 1;
	r.query = "SELECT abalance FROM pgbench_accounts WHERE aid = $1";
	int n = rate * 2, accepted = 0;
	double spent = 0, start = now();
	for (int i = 0; i < n; i++) {
		while (now() < start + (double)i / rate)
			;
		double a = now();
		r.time_us = 1795428000000000LL + i;
		r.duration_us = 50 + i % 500;
		accepted += capture_submit(&r);
		spent += now() - a;
	}
	capture_close();
	printf("capture_submit at %7d/s: %6.0f ns per record, %d of %d written\n", rate,
	       spent * 1e9 / n, accepted, n);
	return 0;
}

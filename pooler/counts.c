/* counts.c - traffic counters of a pool or an endpoint (see counts.h). */
#include "pooler/counts.h"

const double counts_wait_bounds[COUNTS_WAIT_BUCKETS - 1] = {COUNTS_WAIT_BOUNDS};

void counts_wait(struct traffic_counts *t, double seconds)
{
	int b = 0;

	if (seconds < 0)
		seconds = 0;
	while (b < COUNTS_WAIT_BUCKETS - 1 && seconds > counts_wait_bounds[b])
		b++;
	t->wait_buckets[b]++;
	t->waits++;
	t->wait_total += seconds;
	if (seconds > t->wait_max)
		t->wait_max = seconds;
}

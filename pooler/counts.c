/* counts.c - traffic counters of a pool or an endpoint (see counts.h). */
#include "pooler/counts.h"

void counts_wait(struct traffic_counts *t, double seconds)
{
	if (seconds < 0)
		seconds = 0;
	t->waits++;
	t->wait_total += seconds;
	if (seconds > t->wait_max)
		t->wait_max = seconds;
}

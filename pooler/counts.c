/* counts.c - traffic counters of a pool or an endpoint (see counts.h). */
#include "pooler/counts.h"

const double counts_wait_bounds[COUNTS_WAIT_BUCKETS - 1] = {COUNTS_WAIT_BOUNDS};
const double counts_stmt_bounds[COUNTS_STMT_BUCKETS - 1] = {COUNTS_STMT_BOUNDS};

int counts_bucket(const double *bounds, int n, double value)
{
	int b = 0;

	while (b < n - 1 && value > bounds[b])
		b++;
	return b;
}

void counts_wait(struct traffic_counts *t, double seconds)
{
	if (seconds < 0)
		seconds = 0;
	t->wait_buckets[counts_bucket(counts_wait_bounds, COUNTS_WAIT_BUCKETS, seconds)]++;
	t->waits++;
	t->wait_total += seconds;
	if (seconds > t->wait_max)
		t->wait_max = seconds;
}

void counts_statement(struct traffic_counts *t, int route, double seconds)
{
	if (seconds < 0)
		seconds = 0;
	t->stmt_buckets[route][counts_bucket(counts_stmt_bounds, COUNTS_STMT_BUCKETS, seconds)]++;
	t->stmt_time[route] += seconds;
}

void counts_add(struct traffic_counts *sum, const struct traffic_counts *t)
{
	sum->transactions += t->transactions;
	sum->queries += t->queries;
	sum->bytes_in += t->bytes_in;
	sum->bytes_out += t->bytes_out;
	sum->waits += t->waits;
	sum->wait_total += t->wait_total;
	sum->query_time += t->query_time;
	sum->xact_time += t->xact_time;
	for (int b = 0; b < COUNTS_WAIT_BUCKETS; b++)
		sum->wait_buckets[b] += t->wait_buckets[b];
	for (int r = 0; r < COUNTS_ROUTES; r++) {
		for (int b = 0; b < COUNTS_STMT_BUCKETS; b++)
			sum->stmt_buckets[r][b] += t->stmt_buckets[r][b];
		sum->stmt_time[r] += t->stmt_time[r];
	}
	if (t->wait_max > sum->wait_max)
		sum->wait_max = t->wait_max;
}

/* condwait.c - a condition wait bounded in milliseconds (see condwait.h). */
#include <time.h>

#include "pooler/condwait.h"

int condwait_ms(pthread_cond_t *cond, pthread_mutex_t *lock, int64_t ms)
{
	struct timespec ts;

	if (ms < 0)
		return pthread_cond_wait(cond, lock);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return pthread_cond_timedwait(cond, lock, &ts);
}

/*
 * condwait.h - a condition wait bounded in milliseconds, for the threads
 * beside the event loop (analysis, capture) that sleep until work is queued
 * or something falls due.
 */
#ifndef PGSCOPE_POOLER_CONDWAIT_H
#define PGSCOPE_POOLER_CONDWAIT_H

#include <pthread.h>
#include <stdint.h>

/*
 * Wait on COND (LOCK held) for a signal, up to MS milliseconds, or with no
 * limit when MS < 0. pthread_cond_timedwait()'s result: ETIMEDOUT when the
 * time ran out.
 */
int condwait_ms(pthread_cond_t *cond, pthread_mutex_t *lock, int64_t ms);

#endif

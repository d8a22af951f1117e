/* txn.c - the one owner of a client's transaction state (see txn.h). */
#include <string.h>

#include "pooler/txn.h"

void txn_init(struct txn *t)
{
	memset(t, 0, sizeof(*t));
	t->status = 'I';
}

bool txn_closes_segment(uint8_t type)
{
	return type == 'Q' || type == 'S' || type == 'F';
}

/* Extended-protocol messages the server answers only up to the client's Sync. */
static bool opens_batch(uint8_t type)
{
	switch (type) {
	case 'P':
	case 'B':
	case 'D':
	case 'E':
	case 'C':
	case 'H':
		return true;
	default:
		return false;
	}
}

/*
 * Whether TYPE starts a transaction. A Query does when nothing is due; an
 * Execute or FunctionCall when no statement is timed before it either (the
 * Parse and Bind before an Execute belong to its transaction). The ids are
 * the ones capture files and log readers number statements by.
 */
static bool starts_transaction(const struct txn *t, uint8_t type, int timed)
{
	if (t->status != 'I' || t->ready_due != 0)
		return false;
	if (type == 'Q')
		return true;
	return (type == 'E' || type == 'F') && timed == 0;
}

bool txn_request(struct txn *t, uint8_t type, double now, int timed)
{
	bool starts = starts_transaction(t, type, timed);

	if (starts) {
		t->id = ++t->count;
		t->wrote = false;
	}
	if (txn_settled(t) && (txn_closes_segment(type) || opens_batch(type)))
		t->oldest_start = now;
	if (txn_closes_segment(type)) {
		t->ready_due++;
		t->batch_open = false;
	} else if (opens_batch(type)) {
		t->batch_open = true;
	}
	return starts;
}

void txn_ready(struct txn *t, char status, double now)
{
	t->status = status;
	t->last_ready = now;
	if (t->ready_due > 0)
		t->ready_due--;
	/*
	 * The server works through requests in order: the next one owed began
	 * when this one was answered.
	 */
	t->oldest_start = txn_settled(t) ? 0 : now;
}

void txn_command_complete(struct txn *t, const char *tag)
{
	if (txn_tag_writes(tag))
		t->wrote = true;
}

bool txn_settled(const struct txn *t)
{
	return t->ready_due == 0 && !t->batch_open;
}

bool txn_in_block(const struct txn *t)
{
	return t->status == 'T' || t->status == 'E';
}

void txn_unlink(struct txn *t)
{
	t->ready_due = 0;
	t->batch_open = false;
	t->oldest_start = 0;
}

double txn_oldest_age(const struct txn *t, double now)
{
	return t->oldest_start > 0 ? now - t->oldest_start : 0;
}

bool txn_tag_writes(const char *tag)
{
	/*
	 * COPY is counted whatever its direction (the tag does not say), and
	 * so are DDL and privilege changes: a false "wrote" only costs a read
	 * its replica, a missed one would show a client stale data.
	 */
	static const char *const writes[] = {
	    "INSERT",  "UPDATE",   "DELETE", "MERGE",       "COPY",    "CREATE",  "ALTER",
	    "DROP",    "TRUNCATE", "GRANT",  "REVOKE",      "COMMENT", "REINDEX", "CLUSTER",
	    "REFRESH", "SECURITY", "IMPORT", "SELECT INTO", "CALL",    NULL,
	};

	for (int i = 0; writes[i] != NULL; i++) {
		size_t n = strlen(writes[i]);

		if (strncmp(tag, writes[i], n) == 0 && (tag[n] == ' ' || tag[n] == 0))
			return true;
	}
	return false;
}

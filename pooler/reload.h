/*
 * reload.h - SIGHUP: read the config file again and apply it without
 * dropping a client.
 *
 * A file that fails validation (config_load(), or an auth_file that cannot
 * be read) is rejected with one config.reload_failed event and the old
 * config stays in force. Otherwise it is applied: pool sizes, limits,
 * timeouts, log settings, auth_file, pool_mode for new clients, and
 * [databases] entries added, changed (servers made with the old entry are
 * closed instead of reused) or removed (their clients finish, new ones get
 * 3D000). Keys that only take effect at start (listen_addr, listen_port,
 * unix_socket_dir, unix_socket_mode, listen_backlog, pidfile,
 * max_packet_size, analysis, capture and [rules]) keep their running
 * values, and one config.reload_needs_restart event names each that changed.
 *
 * Ownership across a reload: the process's struct config (pooler.cfg) is
 * one object whose contents are replaced, so pointers to it stay valid;
 * nothing may keep a pointer into its contents (strings, [databases]
 * entries) across a return to the event loop, except:
 *   - each pool owns a copy of its [databases] entry (pool->db);
 *   - a client's c->db is its pool's copy after login; before login it is
 *     the config's entry or the loop's copy of "*" (loop->autodbs), and the
 *     reload repoints it by name (a client whose database was removed before
 *     it logged in gets 3D000).
 * So the old contents and the old "*" copies are freed as soon as the new
 * ones are in place.
 *
 * Everything here runs on the event-loop thread.
 */
#ifndef PGSCOPE_POOLER_RELOAD_H
#define PGSCOPE_POOLER_RELOAD_H

#include <stdbool.h>
#include <stddef.h>

#include "pooler/config.h"

struct loop_state;
struct userlist;

/* How a [databases] entry differs between two configs. */
enum reload_db_change {
	RELOAD_DB_SAME = 0,   /* nothing that matters */
	RELOAD_DB_SETTINGS,   /* pool sizes, limits or pool_mode: applied to the pool in place */
	RELOAD_DB_CONNECTION, /* how servers connect or are set up: servers replaced */
	RELOAD_DB_ADDED,      /* only in the new config */
	RELOAD_DB_REMOVED,    /* only in the old config */
};

/* What changed from OLD to NEW; either may be NULL (added or removed). Pure. */
enum reload_db_change reload_db_compare(const struct db_config *old, const struct db_config *new);

/* One [databases] entry that differs, by name (pointing into one of the configs). */
struct reload_db_diff {
	const char *name;
	enum reload_db_change change;
};

/*
 * The [databases] entries that differ from OLD to NEW, in the new file's
 * order then the removed ones: the first MAX go to OUT. Returns how many
 * differ (possibly more than MAX). Pure.
 */
size_t reload_diff_dbs(const struct config *old, const struct config *new,
                       struct reload_db_diff *out, size_t max);

/* Name of a change, for logs. */
const char *reload_db_change_name(enum reload_db_change change);

/*
 * Read CFG's auth_file into *OUT (NULL when it names none). false with a
 * message in ERR when it cannot be read, or when auth_type needs one and
 * none is set.
 */
bool reload_load_users(const struct config *cfg, struct userlist **out, char *err, size_t errlen);

/* A log level from the command line (-v/-q) that the file's does not override; -1: none. */
void reload_set_log_level(int level);

/*
 * Read pooler.cfg->path again and apply it to the process and loop LS (see
 * above). false when the file was rejected and the old config stays.
 */
bool reload_config(struct loop_state *ls);

/* Whether a reload applies a change of the [pgscope] key KEY (false: it needs a restart). */
bool reload_key_changeable(const char *key);

#endif

/*
 * userlist.h - the auth_file: user names and their passwords or hashes.
 *
 * The format is PgBouncer's userlist.txt: one user per line,
 *     "user" "password-or-hash"
 * each field in double quotes, a doubled quote ("") standing for one quote
 * inside a field; blank lines and lines whose first non-blank character is
 * ';' or '#' are ignored, as is anything after the second field. The password
 * field is plaintext, "md5<32 hex>" or "SCRAM-SHA-256$..." (see auth.h).
 *
 * A loaded list is immutable. Reloading builds a new list; the caller swaps it
 * in and frees the old one, so a failed reload leaves the running list intact.
 * Errors name the file and line but never contain a password.
 */
#ifndef PGSCOPE_POOLER_USERLIST_H
#define PGSCOPE_POOLER_USERLIST_H

#include <stddef.h>

#define USERLIST_MAX_LINE    4096 /* longest line accepted, newline excluded */
#define USERLIST_MAX_FIELD   1024 /* longest user name or password after unquoting */
#define USERLIST_MAX_ENTRIES 1000000

struct userlist; /* opaque */

/*
 * Read and parse the file at path. Returns a new list the caller frees with
 * userlist_free(), or NULL with a message ("FILE:LINE: ...") in err.
 */
struct userlist *userlist_load(const char *path, char *err, size_t errlen);

/*
 * Parse len bytes of text; name is used in error messages (e.g. the file
 * name). Same ownership and errors as userlist_load().
 */
struct userlist *userlist_parse(const char *text, size_t len, const char *name, char *err,
                                size_t errlen);

/*
 * The password or hash stored for user, or NULL if absent. The string belongs
 * to the list and lives until userlist_free(). A user listed twice: the last
 * line wins, as in PgBouncer.
 */
const char *userlist_lookup(const struct userlist *list, const char *user);

/* Number of distinct users in the list. */
size_t userlist_count(const struct userlist *list);

/* Wipe the stored secrets and free the list. NULL is allowed. */
void userlist_free(struct userlist *list);

#endif

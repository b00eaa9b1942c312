/* The control plane (wcache(7), THE CONTROL PLANE): a UNIX socket server
 * that any frontend embeds, and the protocol it speaks.
 *
 * Calling sequence (a frontend):
 *   c = wc_control_bind (path, &msg)    before any thread starts: creates
 *                                       the socket, mode 0600, so it exists
 *                                       before the frontend reports ready
 *   wc_control_start (c, engine)        starts serving (after a daemon's
 *                                       fork: the threads live in the child);
 *                                       engine may be NULL until the disk
 *                                       exists: commands then fail with EIO
 *   wc_control_set_engine (c, engine)   once, when the disk exists
 *   wc_control_free (c)                 stops every thread, waits for
 *                                       commands in progress, removes the
 *                                       socket; before freeing the engine
 *
 * Errors: -1/NULL with errno, and for bind a message for the user.
 *
 * A socket left behind by a server that died (nobody accepts on it) is
 * replaced at bind; a live one, or any other kind of file, is an error.
 */
#ifndef WC_CONTROL_H
#define WC_CONTROL_H

#include "wcache.h"

struct wc_control;

struct wc_control *wc_control_bind (const char *path, char **message);
int wc_control_start (struct wc_control *c, struct wc_engine *e);
void wc_control_set_engine (struct wc_control *c, struct wc_engine *e);
void wc_control_free (struct wc_control *c);

/* Runs one request line (no newline) against the engine and returns the
 * reply line (no newline), newly allocated.  Never fails: a bad request
 * gets an "error: ..." reply.  Thread-safe (the engine locks itself).
 * e may be NULL (no disk yet): every command but help fails with EIO. */
char *wc_control_exec (struct wc_engine *e, const char *line);
/* The same, also saying what the reply means as an errno: 0 for "ok",
 * EINVAL for a request that is wrong in itself (nothing changed), or the
 * error that stopped the disk doing it (EIO: the media failed or the
 * power is off).  *reply is newly allocated in every case. */
int wc_control_run (struct wc_engine *e, const char *line, char **reply);
/* Parses a request line without running it, with the parser that would
 * run it: EINVAL if it is wrong in itself (the reply says why, as running
 * it would), else 0 and "ok".  A request that passes may still fail when
 * run (the power is off; a torn unit larger than the block size, which
 * only the disk knows).  *reply is newly allocated in every case. */
int wc_control_check (const char *line, char **reply);

#endif /* WC_CONTROL_H */

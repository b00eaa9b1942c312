/* The file backing: a local image file as the engine's media, opened with
 * the host flags of the cache mode (wcache(7), CACHE MODES), and reopened
 * safely when a mode switch changes them (wcache(7), SAFE REOPEN).
 *
 * Calling sequence:
 *   b = wc_backing_open (path, mode, readonly, &msg)   once, before the
 *                                engine; fails if the image cannot be
 *                                opened with the mode's flags
 *   cfg.ops = &wc_backing_ops; cfg.opaque = b; cfg.size = wc_backing_size (b)
 *   ... the engine calls the ops from many threads, and ops->set_mode
 *       after every mode switch, which reopens the image (safe reopen) ...
 *   wc_backing_close (b)         after wc_engine_free
 *
 * Safe reopen: wc_backing_set_mode holds new I/O, waits for I/O in flight,
 * fdatasyncs the descriptor, opens /proc/self/fd/N with the new flags, and
 * only then swaps and closes the old one.  If any step fails, the old
 * descriptor stays, I/O goes on, and the reason is kept for status replies
 * (wc_backing_describe: host_flags, host_fd, host_error).  Correctness does
 * not depend on the flags: the engine asks for FUA where it needs
 * durability, and a FUA write on a descriptor without O_DSYNC is made
 * durable with RWF_DSYNC (or fdatasync).
 *
 * O_DIRECT: requests whose offset, length or buffer are not aligned to
 * WC_BACKING_ALIGN go through a second descriptor without O_DIRECT (same
 * file, same O_DSYNC); aligned requests with an unaligned buffer go
 * through an aligned bounce buffer.  Linux keeps the page cache coherent
 * between the two.
 *
 * Errors: -1 with errno, as for every media op (wcache.h).
 */
#ifndef WC_BACKING_H
#define WC_BACKING_H

#include <stdbool.h>
#include <stdint.h>

#include "wcache.h"

#define WC_BACKING_ALIGN 4096   /* O_DIRECT alignment we honour */

struct wc_backing;

/* Opens path read-write (read-only if readonly) with the host flags of
 * mode.  Returns NULL with errno and *message set (free it). */
struct wc_backing *wc_backing_open (const char *path, enum wc_mode mode,
                                    bool readonly, char **message);
void wc_backing_close (struct wc_backing *b);

/* Media ops for wc_config.ops; opaque is the struct wc_backing. */
extern const struct wc_media_ops wc_backing_ops;

uint64_t wc_backing_size (struct wc_backing *b);

/* Safe reopen with the host flags of mode (also ops->set_mode).  Returns
 * 0 when those flags are in force (at once if they already were), or -1
 * with errno when the old descriptor was kept; the message stays
 * available through wc_backing_describe until a later reopen succeeds.
 * If the fdatasync of the old descriptor failed (a host write-back error,
 * which Linux reports only once), the next flush, FUA write or FUA zero
 * that would succeed fails with that errno instead, once (S3). */
int wc_backing_set_mode (struct wc_backing *b, enum wc_mode mode);

/* The host flags in force (O_DSYNC, O_DIRECT) and their descriptor. */
int wc_backing_flags (struct wc_backing *b, int *fd);
/* "buffered", "O_DSYNC", "O_DIRECT" or "O_DIRECT|O_DSYNC". */
const char *wc_backing_flags_name (int flags);

/* Also ops->describe: host_flags, host_fd, host_error if the last reopen
 * failed. */
void wc_backing_describe (void *opaque, wc_describe_fn add, void *ctx);

#endif /* WC_BACKING_H */

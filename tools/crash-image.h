/* wcache-crash: disk images of crash states.
 *
 * Two ways to the same bytes:
 *   - crash_materialize builds one state from scratch: a copy of the base,
 *     then every write of the log that survives in that state, in log
 *     order.  Simple on purpose: it is what `materialize` does and what
 *     the tests compare the incremental image against.
 *   - a scratch image (struct crash_scratch) is a worker's private sparse
 *     copy of the base, made once, then moved from state to state by a
 *     walk (crash-walk.h): only the bytes that differ are written, from
 *     the log's data or from the pre-images it saved.  Never a full copy
 *     per state.
 *
 * Calling sequence (scratch)
 *   sc = crash_scratch_new (model, base, dir, &msg)
 *   crash_scratch_on_change (sc, fn, opaque)      optional: told of every
 *                                                 byte range rewritten
 *   crash_scratch_move (sc, s, &msg)              s ascending (same epoch:
 *                                                 any order); crash_scratch_path (sc) holds state s
 *   crash_scratch_reset (sc, &msg)                back to the base (after
 *                                                 a checker wrote to it)
 *   crash_scratch_free (sc)                       removes the file
 *
 * Errors: -1 (NULL) with errno and *message "PATH: what: reason".
 * Threads: a scratch image belongs to one thread.
 */
#ifndef WC_CRASH_IMAGE_H
#define WC_CRASH_IMAGE_H

#include <stdint.h>

#include "crash-id.h"
#include "crash-model.h"

/* Copies the file src to the open file dst_fd (truncated to src's size),
 * sharing blocks (FICLONE) where the filesystem can, else copying only
 * src's data extents (holes stay holes). */
int crash_image_copy (const char *src, int dst_fd, char **message);

/* The size of the image at path (a file or a block device). */
int crash_image_size (const char *path, uint64_t *size, char **message);

/* Checks that base holds every byte the log writes.  -1 with errno
 * ENOSPC and *message naming the entry that reaches furthest. */
int crash_check_base (const struct crash_log *log, const char *base,
                      char **message);

/* Builds the state named by id from log and base into out (created or
 * truncated).  -1 with errno EINVAL and *message if id names no state of
 * this log ("state ...: epoch 3, but 2 FLUSH entries precede p41"). */
int crash_materialize (const struct crash_log *log, const struct crash_id *id,
                       const char *base, const char *out, char **message);

struct crash_scratch;

typedef void (*crash_change_fn) (void *opaque, uint64_t off, uint64_t len);

struct crash_scratch *crash_scratch_new (const struct crash_model *m,
                                         const char *base, const char *dir,
                                         char **message);
void crash_scratch_free (struct crash_scratch *sc);
void crash_scratch_on_change (struct crash_scratch *sc, crash_change_fn fn,
                              void *opaque);
int crash_scratch_move (struct crash_scratch *sc, uint64_t s,
                        char **message);
int crash_scratch_reset (struct crash_scratch *sc, char **message);
const char *crash_scratch_path (const struct crash_scratch *sc);
int crash_scratch_fd (const struct crash_scratch *sc);

#endif /* WC_CRASH_IMAGE_H */

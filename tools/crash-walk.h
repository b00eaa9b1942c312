/* wcache-crash: moving a disk image from one crash state to the next.
 *
 * A walk holds one image (through a sink: bytes in a scratch file, or
 * content hashes in the plan) in some crash state, and moves it to any
 * later state by rewriting only the bytes whose surviving write changes.
 *
 * Calling sequence
 *   w = crash_walk_new (model, &ops, opaque)     the image is the base
 *   crash_walk_move (w, s, &msg)                 to state s, s increasing
 *   ...                                          (or any s of the same
 *                                                epoch, in any order)
 *   crash_walk_free (w)
 *
 * How.  Within an epoch, the image is the epoch's starting image (every
 * write before its first entry applied) plus the epoch's writes that are
 * in: FUA writes before the crash point and kept candidate pieces.  The
 * epoch's writes and pieces ("items") cut the disk into segments, maximal
 * ranges covered by the same items; a segment reads from its last item
 * that is in, or, if none is, from the epoch's starting image, which the
 * sink saved when the epoch began (the pre-image).  A move flips the items
 * whose state changed and rewrites each segment they cover whose winning
 * item changed.  Gray code order flips one piece per state.  Moving to a
 * later epoch puts every write of the current epoch in, applies the
 * epochs in between whole, and saves the new epoch's pre-images.  A walk
 * never moves back to an earlier epoch (its pre-images are gone).
 *
 * Threads: a walk belongs to one thread.
 */
#ifndef WC_CRASH_WALK_H
#define WC_CRASH_WALK_H

#include <stdint.h>

#include "crash-model.h"

#define CRASH_NO_SEGMENT UINT32_MAX

struct crash_walk_ops {
  /* A new epoch with nsegs segments of bytes in all: the sink makes room
   * for their pre-images. */
  int (*begin_epoch) (void *opaque, uint32_t nsegs, uint64_t bytes,
                      char **message);
  /* Save the bytes [off, off + len) of segment seg as they are now. */
  int (*save) (void *opaque, uint32_t seg, uint64_t off, uint64_t len,
               char **message);
  /* Bytes [off, off + len) now read as write w's bytes from pos (zeros
   * for a DISCARD), or, with w NULL, as segment seg's saved bytes.  seg is
   * CRASH_NO_SEGMENT for a write applied whole between epochs. */
  int (*put) (void *opaque, uint32_t seg, uint64_t off, uint64_t len,
              const struct crash_write *w, uint64_t pos, char **message);
};

struct crash_walk;

struct crash_walk *crash_walk_new (const struct crash_model *m,
                                   const struct crash_walk_ops *ops,
                                   void *opaque);
void crash_walk_free (struct crash_walk *w);

/* Moves the image to state s.  -1 with errno and *message: the sink
 * failed (the image is then in no known state: free the walk), or s lies
 * in an earlier epoch (EINVAL, nothing done). */
int crash_walk_move (struct crash_walk *w, uint64_t s, char **message);
/* The epoch the image is in, -1 for the base. */
int64_t crash_walk_epoch (const struct crash_walk *w);

#endif /* WC_CRASH_WALK_H */

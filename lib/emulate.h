/* Emulating what a layer below lacks: FUA by a flush after the write,
 * zeroes by writing zeros.  One copy for every frontend: the filter (its
 * plugin), the file backing (a filesystem without fallocate modes) and
 * wcache-fuse's NBD backing (a server without FUA or WRITE_ZEROES).
 *
 * Calling sequence: the caller describes its layer in a struct wc_emulate
 * (often on the stack, per request: opaque may carry a request's own
 * state, as an NBD generation) and calls the helpers with it.  The
 * callbacks are called from the caller's thread, with whatever locks it
 * holds; nothing here locks or keeps state.
 *
 * Errors: -1 with errno from the callback that failed; a flush is never
 * tried after a failed write.
 */
#ifndef WC_EMULATE_H
#define WC_EMULATE_H

#include <stdbool.h>
#include <stdint.h>

/* wc_emulate_zero writes from a static buffer of WC_ZERO_CHUNK bytes
 * aligned to WC_ZERO_ALIGN, so an O_DIRECT descriptor takes it as it is. */
#define WC_ZERO_CHUNK (64 * 1024)
#define WC_ZERO_ALIGN 4096

struct wc_emulate {
  void *opaque;                 /* passed to the callbacks */
  bool can_fua;                 /* write honours fua itself */
  /* Writes all of buf; fua is true only when can_fua is. */
  int (*write) (void *opaque, const void *buf, uint32_t count,
                uint64_t offset, bool fua);
  /* Makes every acknowledged write durable. */
  int (*flush) (void *opaque);
};

/* A write, durable before it returns if fua: FUA passed down when the
 * layer takes it, else the write without it and a flush. */
int wc_emulate_write (const struct wc_emulate *em, const void *buf,
                      uint32_t count, uint64_t offset, bool fua);

/* Zeroes [offset, offset + count) by writes of at most WC_ZERO_CHUNK
 * (without FUA), then a flush if fua. */
int wc_emulate_zero (const struct wc_emulate *em, uint32_t count,
                     uint64_t offset, bool fua);

/* The end of a request that could not carry FUA (rv: its result, 0 or
 * -1): a flush if fua and it succeeded.  Returns rv or the flush's. */
int wc_emulate_fua (const struct wc_emulate *em, int rv, bool fua);

#endif /* WC_EMULATE_H */

/* Checked ranges and the request splitter.
 *
 * Every request the engine serves is cut into per-block spans by one
 * iterator: a head span (the tail of a partial first block), whole blocks,
 * and a tail span (the head of a partial last block).  Reads, writes, zeroes
 * and trims all walk it, so alignment is handled in exactly one place.
 */
#ifndef WC_SPAN_H
#define WC_SPAN_H

#include <stdbool.h>
#include <stdint.h>

/* True if [offset, offset + count) lies inside a disk of size bytes, with
 * no overflow on the way. */
static inline bool
wc_range_ok (uint64_t size, uint64_t offset, uint64_t count)
{
  uint64_t end;

  if (__builtin_add_overflow (offset, count, &end))
    return false;
  return end <= size;
}

/* Bytes of [offset, offset + count) that lie inside a disk of size bytes:
 * the last cache block of a disk whose size is not a multiple of the block
 * size is partly past the end, and media I/O must stop at the end. */
static inline uint32_t
wc_clamp (uint64_t size, uint64_t offset, uint32_t count)
{
  if (offset >= size)
    return 0;
  return size - offset < count ? size - offset : count;
}

static inline bool
wc_is_power_of_2 (uint64_t x)
{
  return x != 0 && (x & (x - 1)) == 0;
}

/* One block's share of a request. */
struct wc_span {
  uint64_t blkno;               /* block number */
  uint32_t boff;                /* offset of the share inside the block */
  uint32_t len;                 /* bytes of the share */
  uint64_t pos;                 /* offset of the share inside the request */
};

struct wc_splitter {
  uint64_t offset, end;         /* request bytes not yet handed out */
  uint64_t pos;
  unsigned shift;               /* log2 (block size) */
};

/* The caller has checked the range with wc_range_ok. */
static inline void
wc_split_init (struct wc_splitter *it, unsigned shift,
               uint64_t offset, uint32_t count)
{
  it->offset = offset;
  it->end = offset + count;
  it->pos = 0;
  it->shift = shift;
}

/* Next span, or false when the request is used up. */
static inline bool
wc_split_next (struct wc_splitter *it, struct wc_span *s)
{
  uint64_t bs = UINT64_C (1) << it->shift;
  uint64_t blk_end, n;

  if (it->offset >= it->end)
    return false;
  s->blkno = it->offset >> it->shift;
  s->boff = it->offset & (bs - 1);
  blk_end = (s->blkno + 1) << it->shift;
  n = (it->end < blk_end ? it->end : blk_end) - it->offset;
  s->len = n;
  s->pos = it->pos;
  it->offset += n;
  it->pos += n;
  return true;
}

static inline bool
wc_span_whole (const struct wc_span *s, uint32_t bs)
{
  return s->boff == 0 && s->len == bs;
}

#endif /* WC_SPAN_H */

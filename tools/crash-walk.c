/* wcache-crash: the incremental walk between crash states (crash-walk.h).
 *
 * Owns a walk: the current epoch's items (its FUA writes whole, its
 * candidates as pieces, in log order), the segments they cut the disk
 * into, which items cover each segment (ascending, so the last one that
 * is in wins: later writes win), the winner of each segment, and which
 * items are in.
 *
 * Segments are built with a sweep over the items' boundaries: an item
 * covers a contiguous run of segments, so each item keeps [seg0, seg1)
 * and each segment a compact list of its items.  A move marks the
 * segments of every item that flipped (once each, with a generation
 * stamp) and rewrites those whose winner changed: the cost of a move is
 * the bytes that differ, plus a word-wise XOR of the survivor sets.
 *
 * Locking: none; a walk belongs to one thread.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <glib.h>

#include "crash-walk.h"

#define NONE UINT32_MAX

struct item {
  uint32_t write;               /* index into log->writes */
  uint32_t piece;               /* candidate piece, or NONE for FUA */
  uint64_t off, len;
  uint32_t seg0, seg1;          /* the segments it covers */
};

struct crash_walk {
  const struct crash_model *m;
  const struct crash_walk_ops *ops;
  void *opaque;
  int64_t epoch;                /* -1: the base image */

  /* The current epoch. */
  struct item *items;
  uint32_t nitems;
  uint32_t *piece_item;         /* piece -> item */
  uint32_t nsegs;
  uint64_t *seg_off, *seg_len;
  uint32_t *cover_start;        /* nsegs + 1: segment -> cover[] range */
  uint32_t *cover;              /* items covering each segment, ascending */
  uint32_t *winner;             /* item whose bytes a segment holds, or
                                 * NONE for the pre-image */
  uint64_t *in;                 /* items that are in */
  uint64_t *sel, *tsel;         /* current and target survivor sets */
  uint32_t q;                   /* items [0, q) lie before the crash point */
  uint32_t *stamp, gen;
  uint32_t *dirty;
};

struct crash_walk *
crash_walk_new (const struct crash_model *m, const struct crash_walk_ops *ops,
                void *opaque)
{
  struct crash_walk *w = g_new0 (struct crash_walk, 1);

  w->m = m;
  w->ops = ops;
  w->opaque = opaque;
  w->epoch = -1;
  return w;
}

static void
clear_epoch (struct crash_walk *w)
{
  g_free (w->items);
  g_free (w->piece_item);
  g_free (w->seg_off);
  g_free (w->seg_len);
  g_free (w->cover_start);
  g_free (w->cover);
  g_free (w->winner);
  g_free (w->in);
  g_free (w->sel);
  g_free (w->tsel);
  g_free (w->stamp);
  g_free (w->dirty);
  w->items = NULL;
  w->piece_item = NULL;
  w->seg_off = w->seg_len = NULL;
  w->cover_start = w->cover = w->winner = NULL;
  w->in = w->sel = w->tsel = NULL;
  w->stamp = w->dirty = NULL;
  w->nitems = w->nsegs = w->q = 0;
}

void
crash_walk_free (struct crash_walk *w)
{
  if (!w)
    return;
  clear_epoch (w);
  g_free (w);
}

int64_t
crash_walk_epoch (const struct crash_walk *w)
{
  return w->epoch;
}

static int
cmp_u64 (const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

  return x < y ? -1 : x > y;
}

/* First boundary >= x. */
static uint32_t
lower_bound (const uint64_t *b, uint32_t n, uint64_t x)
{
  uint32_t lo = 0, hi = n;

  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;

    if (b[mid] < x)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* Builds epoch k's items and segments and saves the pre-images. */
static int
enter_epoch (struct crash_walk *w, uint32_t k, char **message)
{
  const struct crash_log *log = w->m->log;
  const struct crash_epoch *ep = &w->m->epochs[k];
  uint32_t pi = 0, nb = 0, nint, *segid;
  uint64_t *bounds, bytes = 0;
  int32_t *delta;

  clear_epoch (w);
  w->epoch = k;
  w->items = g_new (struct item, ep->end_write - ep->first_write +
                    ep->nr_pieces);
  w->piece_item = g_new (uint32_t, ep->nr_pieces);
  for (uint32_t i = ep->first_write; i < ep->end_write; i++) {
    const struct crash_write *cw = &log->writes[i];

    if (cw->fua) {
      w->items[w->nitems++] = (struct item) { i, NONE, cw->offset,
                                              cw->length, 0, 0 };
      continue;
    }
    for (; pi < ep->nr_pieces && ep->pieces[pi].write == i; pi++) {
      w->piece_item[pi] = w->nitems;
      w->items[w->nitems++] = (struct item) { i, pi, ep->pieces[pi].offset,
                                              ep->pieces[pi].length, 0, 0 };
    }
  }
  g_assert (pi == ep->nr_pieces);

  /* Elementary intervals between sorted unique boundaries; those covered
   * by an item are the segments. */
  bounds = g_new (uint64_t, 2 * (size_t) w->nitems + 1);
  for (uint32_t i = 0; i < w->nitems; i++) {
    bounds[nb++] = w->items[i].off;
    bounds[nb++] = w->items[i].off + w->items[i].len;
  }
  qsort (bounds, nb, sizeof *bounds, cmp_u64);
  {
    uint32_t u = 0;

    for (uint32_t i = 0; i < nb; i++)
      if (u == 0 || bounds[i] != bounds[u - 1])
        bounds[u++] = bounds[i];
    nb = u;
  }
  nint = nb ? nb - 1 : 0;
  delta = g_new0 (int32_t, nint + 1);
  for (uint32_t i = 0; i < w->nitems; i++) {
    delta[lower_bound (bounds, nb, w->items[i].off)]++;
    delta[lower_bound (bounds, nb, w->items[i].off + w->items[i].len)]--;
  }
  segid = g_new (uint32_t, nint + 1);
  {
    int32_t depth = 0;

    for (uint32_t i = 0; i < nint; i++) {
      depth += delta[i];
      segid[i] = depth > 0 ? w->nsegs++ : NONE;
    }
  }
  w->seg_off = g_new (uint64_t, w->nsegs);
  w->seg_len = g_new (uint64_t, w->nsegs);
  for (uint32_t i = 0; i < nint; i++)
    if (segid[i] != NONE) {
      w->seg_off[segid[i]] = bounds[i];
      w->seg_len[segid[i]] = bounds[i + 1] - bounds[i];
      bytes += bounds[i + 1] - bounds[i];
    }
  /* An item covers intervals [i0, i1), all of them segments. */
  w->cover_start = g_new0 (uint32_t, w->nsegs + 1);
  for (uint32_t i = 0; i < w->nitems; i++) {
    struct item *it = &w->items[i];
    uint32_t i0 = lower_bound (bounds, nb, it->off);
    uint32_t i1 = lower_bound (bounds, nb, it->off + it->len);

    it->seg0 = segid[i0];
    it->seg1 = segid[i1 - 1] + 1;
    for (uint32_t s = it->seg0; s < it->seg1; s++)
      w->cover_start[s + 1]++;
  }
  for (uint32_t s = 0; s < w->nsegs; s++)
    w->cover_start[s + 1] += w->cover_start[s];
  w->cover = g_new (uint32_t, w->cover_start[w->nsegs]);
  {
    uint32_t *fill = g_memdup2 (w->cover_start,
                                w->nsegs * sizeof (uint32_t));

    for (uint32_t i = 0; i < w->nitems; i++)
      for (uint32_t s = w->items[i].seg0; s < w->items[i].seg1; s++)
        w->cover[fill[s]++] = i;
    g_free (fill);
  }
  g_free (segid);
  g_free (delta);
  g_free (bounds);

  w->winner = g_new (uint32_t, w->nsegs);
  memset (w->winner, 0xff, w->nsegs * sizeof *w->winner);
  w->in = g_new0 (uint64_t, crash_words (w->nitems));
  w->sel = g_new0 (uint64_t, crash_words (ep->nr_pieces));
  w->tsel = g_new0 (uint64_t, crash_words (ep->nr_pieces));
  w->stamp = g_new0 (uint32_t, w->nsegs);
  w->gen = 0;
  w->dirty = g_new (uint32_t, w->nsegs);

  if (w->ops->begin_epoch (w->opaque, w->nsegs, bytes, message) == -1)
    return -1;
  for (uint32_t s = 0; s < w->nsegs; s++)
    if (w->ops->save (w->opaque, s, w->seg_off[s], w->seg_len[s],
                      message) == -1)
      return -1;
  return 0;
}

/* Items [0, return) lie before crash point pos. */
static uint32_t
items_before (const struct crash_walk *w, uint64_t pos)
{
  const struct crash_write *writes = w->m->log->writes;
  uint32_t lo = 0, hi = w->nitems;

  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;

    if (writes[w->items[mid].write].index < pos)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static inline void
flip_if_changed (struct crash_walk *w, uint32_t i, uint32_t q,
                 uint32_t *nd)
{
  const struct item *it = &w->items[i];
  bool now = i < q && (it->piece == NONE || crash_bit (w->tsel, it->piece));

  if (now == crash_bit (w->in, i))
    return;
  w->in[i / 64] ^= UINT64_C (1) << (i % 64);
  for (uint32_t s = it->seg0; s < it->seg1; s++)
    if (w->stamp[s] != w->gen) {
      w->stamp[s] = w->gen;
      w->dirty[(*nd)++] = s;
    }
}

/* Moves to the crash point whose items before it are [0, q) and the
 * survivor set in w->tsel. */
static int
apply_target (struct crash_walk *w, uint32_t q, char **message)
{
  const struct crash_log *log = w->m->log;
  uint32_t words = crash_words (w->m->epochs[w->epoch].nr_pieces);
  uint32_t nd = 0;

  if (++w->gen == 0) {
    memset (w->stamp, 0, w->nsegs * sizeof *w->stamp);
    w->gen = 1;
  }
  for (uint32_t i = MIN (q, w->q); i < MAX (q, w->q); i++)
    flip_if_changed (w, i, q, &nd);
  for (uint32_t j = 0; j < words; j++) {
    uint64_t x = w->sel[j] ^ w->tsel[j];

    while (x) {
      uint32_t b = __builtin_ctzll (x);

      x &= x - 1;
      flip_if_changed (w, w->piece_item[j * 64 + b], q, &nd);
    }
  }
  for (uint32_t d = 0; d < nd; d++) {
    uint32_t s = w->dirty[d], win = NONE;

    for (uint32_t c = w->cover_start[s + 1]; c > w->cover_start[s]; c--)
      if (crash_bit (w->in, w->cover[c - 1])) {
        win = w->cover[c - 1];
        break;
      }
    if (win == w->winner[s])
      continue;
    if (win == NONE) {
      if (w->ops->put (w->opaque, s, w->seg_off[s], w->seg_len[s], NULL, 0,
                       message) == -1)
        return -1;
    } else {
      const struct crash_write *cw = &log->writes[w->items[win].write];

      if (w->ops->put (w->opaque, s, w->seg_off[s], w->seg_len[s], cw,
                       w->seg_off[s] - cw->offset, message) == -1)
        return -1;
    }
    w->winner[s] = win;
  }
  w->q = q;
  memcpy (w->sel, w->tsel, words * sizeof *w->sel);
  return 0;
}

int
crash_walk_move (struct crash_walk *w, uint64_t s, char **message)
{
  const struct crash_model *m = w->m;
  const struct crash_point *cp = &m->points[crash_model_point_of (m, s)];

  if ((int64_t) cp->epoch < w->epoch) {
    *message = g_strdup_printf ("walk: state %" PRIu64 " lies in epoch %"
                                PRIu32 ", before the image's epoch %" PRId64,
                                s, cp->epoch, w->epoch);
    errno = EINVAL;
    return -1;
  }
  if ((int64_t) cp->epoch > w->epoch) {
    if (w->epoch >= 0) {
      /* Everything of this epoch is in: the FLUSH made it durable. */
      uint32_t n = m->epochs[w->epoch].nr_pieces;

      memset (w->tsel, 0xff, crash_words (n) * sizeof *w->tsel);
      if (n % 64)
        w->tsel[n / 64] = (UINT64_C (1) << (n % 64)) - 1;
      if (apply_target (w, w->nitems, message) == -1)
        return -1;
    }
    for (uint32_t k = w->epoch + 1; k < cp->epoch; k++)
      for (uint32_t i = m->epochs[k].first_write;
           i < m->epochs[k].end_write; i++) {
        const struct crash_write *cw = &m->log->writes[i];

        if (w->ops->put (w->opaque, CRASH_NO_SEGMENT, cw->offset, cw->length,
                         cw, 0, message) == -1)
          return -1;
      }
    if (enter_epoch (w, cp->epoch, message) == -1)
      return -1;
  }
  crash_model_selection (m, s, w->tsel);
  return apply_target (w, items_before (w, cp->pos), message);
}

/* The reference model of the randomized engine check; see model.h.
 *
 * What the model keeps, per cache block:
 *   cands   the contents the media may hold, oldest first: cands[0] is what
 *           the media held when last looked at (after every step), then
 *           every whole-block content the block read as since.  S10 says
 *           the media holds its last durable content or one written since;
 *           a disk only moves forward through them, so when the media is
 *           seen holding cands[k], the older ones are dropped.  A content
 *           that is not there is a violation.
 *   dirty   for the ordered cut policy (S8: blocks survive in the order
 *           they were first dirtied since they were last clean): whether
 *           the block may be clean, may be dirty, and if dirty, the range
 *           of steps [lo, hi] in which its dirty period began.  The model
 *           cannot see the cache, only the media after each step, so it
 *           keeps every possibility the observations leave open.
 * and for the whole disk the acknowledged content (latest, S1), the same
 * when the step began (old), and the media when the step began.
 *
 * How the dirty state moves in one step (single-threaded, so a write-back
 * writes the block's newest content at that moment, and a block that was
 * written back successfully is clean until it is modified again).  Let mb
 * and ma be the media before and after the step, old and new the block's
 * content before and after.  Write-backs before the step's modification of
 * the block write old, after it new.
 *   - dirty at the end means no write-back followed the modification, so
 *     ma is mb (none at all) or old (one before it, which cleaned it: a new
 *     dirty period began in this step);
 *   - clean at the end means the last write-back wrote new: ma is new.
 * An unmodified block stays dirty only if nothing was written back (ma is
 * mb), and may be clean if it was, or a write-back wrote new.
 *
 * Locking: none; the model is used from one thread.
 */
#include <config.h>

#include <inttypes.h>
#include <string.h>

#include <glib.h>

#include "model.h"

struct blk {
  GPtrArray *cands;             /* of g_malloc'd contents, blen bytes */
  bool may_clean, may_dirty;
  uint64_t lo, hi;              /* if may_dirty */
  enum model_mod mod;           /* this step */
  bool cleaned;                 /* this step: model_clean */
  bool saved;                   /* this step: old holds the block */
};

struct model {
  uint64_t size;
  uint32_t bs;
  uint64_t nblocks;
  uint64_t step;                /* steps begun; a dirty period's number */
  uint8_t *latest, *media;
  uint8_t *old;                 /* blocks the step changed, as they were */
  struct blk *b;
};

static uint32_t
blen (const struct model *md, uint64_t blkno)
{
  uint64_t off = blkno * md->bs;

  return MIN ((uint64_t) md->bs, md->size - off);
}

static void
set_clean (struct model *md, uint64_t blkno, const uint8_t *content)
{
  struct blk *k = &md->b[blkno];

  g_ptr_array_set_size (k->cands, 0);
  g_ptr_array_add (k->cands, g_memdup2 (content, blen (md, blkno)));
  k->may_clean = true;
  k->may_dirty = false;
  k->lo = k->hi = 0;
}

struct model *
model_new (uint64_t size, uint32_t bs, const uint8_t *media)
{
  struct model *md = g_new0 (struct model, 1);

  md->size = size;
  md->bs = bs;
  md->nblocks = (size + bs - 1) / bs;
  md->latest = g_memdup2 (media, size);
  md->old = g_memdup2 (media, size);
  md->media = g_memdup2 (media, size);
  md->b = g_new0 (struct blk, md->nblocks);
  for (uint64_t i = 0; i < md->nblocks; i++) {
    md->b[i].cands = g_ptr_array_new_with_free_func (g_free);
    set_clean (md, i, media + i * bs);
  }
  return md;
}

void
model_free (struct model *md)
{
  if (!md)
    return;
  for (uint64_t i = 0; i < md->nblocks; i++)
    g_ptr_array_unref (md->b[i].cands);
  g_free (md->b);
  g_free (md->latest);
  g_free (md->old);
  g_free (md->media);
  g_free (md);
}

const uint8_t *
model_latest (const struct model *md)
{
  return md->latest;
}

const uint8_t *
model_media (const struct model *md)
{
  return md->media;
}

void
model_step_begin (struct model *md)
{
  md->step++;
  for (uint64_t i = 0; i < md->nblocks; i++) {
    md->b[i].mod = MODEL_MOD_NO;
    md->b[i].cleaned = false;
    md->b[i].saved = false;
  }
}

/* The block as it was when the step began. */
static const uint8_t *
old_block (const struct model *md, uint64_t blkno)
{
  const uint8_t *base = md->b[blkno].saved ? md->old : md->latest;

  return base + blkno * md->bs;
}

void
model_apply (struct model *md, uint64_t offset, uint32_t count,
             const uint8_t *data)
{
  g_assert (offset + count <= md->size);
  for (uint64_t b = offset / md->bs;
       count > 0 && b <= (offset + count - 1) / md->bs; b++) {
    if (!md->b[b].saved) {
      memcpy (md->old + b * md->bs, md->latest + b * md->bs, blen (md, b));
      md->b[b].saved = true;
    }
  }
  if (data)
    memcpy (md->latest + offset, data, count);
  else
    memset (md->latest + offset, 0, count);
}

void
model_touch (struct model *md, uint64_t blkno, enum model_mod mod)
{
  struct blk *k = &md->b[blkno];

  if (mod == MODEL_MOD_YES || k->mod == MODEL_MOD_NO)
    k->mod = mod;
}

void
model_clean (struct model *md, uint64_t first, uint64_t last)
{
  for (uint64_t i = first; i <= last && i < md->nblocks; i++)
    md->b[i].cleaned = true;
}

/* The dirty state after one step; see the comment at the top. */
static void
dirty_step (struct blk *k, uint64_t t, bool ma_mb, bool ma_old, bool ma_new)
{
  bool clean = false, dirty = false;
  uint64_t lo = UINT64_MAX, hi = 0;

  if (k->mod != MODEL_MOD_YES) {        /* not modified */
    if (k->may_dirty && ma_mb) {
      dirty = true;
      lo = k->lo;
      hi = k->hi;
    }
    clean = (k->may_clean && ma_mb) || (k->may_dirty && ma_new);
  }
  if (k->mod != MODEL_MOD_NO) {         /* modified */
    if (k->may_dirty && ma_mb) {        /* nothing written back */
      dirty = true;
      lo = MIN (lo, k->lo);
      hi = MAX (hi, k->hi);
    }
    if ((k->may_clean && ma_mb) || ma_old) {    /* clean, then modified */
      dirty = true;
      lo = MIN (lo, t);
      hi = MAX (hi, t);
    }
    clean = clean || ma_new;
  }
  if (!clean && !dirty) {
    /* The media moved where a clean block cannot go: the candidate check
     * reports it; the model knows nothing more here. */
    clean = dirty = true;
    lo = 0;
    hi = t;
  }
  k->may_clean = clean;
  k->may_dirty = dirty;
  k->lo = dirty ? lo : 0;
  k->hi = dirty ? hi : 0;
}

char *
model_step_end (struct model *md, const uint8_t *ma)
{
  char *err = NULL;

  for (uint64_t i = 0; i < md->nblocks; i++) {
    struct blk *k = &md->b[i];
    uint64_t off = i * md->bs;
    uint32_t n = blen (md, i);
    const uint8_t *mnew = ma + off, *nw = md->latest + off;
    bool ma_mb = memcmp (mnew, md->media + off, n) == 0;
    const uint8_t *last = k->cands->pdata[k->cands->len - 1];
    guint c = 0;

    /* Most blocks, most steps: clean, untouched, unchanged. */
    if (ma_mb && k->mod == MODEL_MOD_NO && !k->cleaned && !k->may_dirty)
      continue;
    if (k->cleaned) {
      g_assert (memcmp (mnew, nw, n) == 0);     /* the caller checked */
      set_clean (md, i, nw);
      memcpy (md->media + off, mnew, n);
      continue;
    }
    if (k->mod != MODEL_MOD_NO && memcmp (last, nw, n) != 0)
      g_ptr_array_add (k->cands, g_memdup2 (nw, n));
    if (!ma_mb) {
      for (c = 1; c < k->cands->len; c++)
        if (memcmp (k->cands->pdata[c], mnew, n) == 0)
          break;
      if (c == k->cands->len) {
        if (!err)
          err = g_strdup_printf ("S10: block %" PRIu64 " (offset %" PRIu64
                                 "): the media holds a content it never "
                                 "held and that was never written to it "
                                 "since", i, off);
        c = 0;
      }
      g_ptr_array_remove_range (k->cands, 0, c);
    }
    dirty_step (k, md->step, ma_mb, memcmp (mnew, old_block (md, i), n) == 0,
                memcmp (mnew, nw, n) == 0);
    if (!ma_mb)
      memcpy (md->media + off, mnew, n);
  }
  return err;
}

/* Whether [from, to) of block i holds what the cut allows: the media's
 * content before the cut or the acknowledged one.  *kept, *lost: which. */
static void
classify (const struct model *md, const uint8_t *ma, uint64_t from,
          uint64_t to, bool *is_before, bool *is_latest)
{
  *is_before = memcmp (ma + from, md->media + from, to - from) == 0;
  *is_latest = memcmp (ma + from, md->latest + from, to - from) == 0;
}

char *
model_cut (struct model *md, const struct wc_cut *cut,
           const struct wc_cut_report *rep, bool writes_failed,
           const uint8_t *ma)
{
  uint64_t ndiff = 0, nsurv = 0, nlost = 0;
  uint64_t s_lo = 0, l_hi = UINT64_MAX, s_blk = 0, l_blk = 0;
  bool have_s = false, have_l = false;
  bool p0 = (cut->policy == WC_CUT_RANDOM || cut->policy == WC_CUT_TORN) &&
    cut->p == 0.0;
  bool p1 = (cut->policy == WC_CUT_RANDOM || cut->policy == WC_CUT_TORN) &&
    cut->p == 1.0;
  const char *pol = wc_policy_name (cut->policy);
  char *err = NULL;

#define CUT_FAIL(...) \
  do { if (!err) err = g_strdup_printf (__VA_ARGS__); } while (0)

  for (uint64_t i = 0; i < md->nblocks; i++) {
    uint64_t off = i * md->bs;
    uint32_t n = blen (md, i);
    struct blk *k = &md->b[i];
    bool is_before, is_latest;
    bool differs = memcmp (md->media + off, md->latest + off, n) != 0;

    classify (md, ma, off, off + n, &is_before, &is_latest);
    ndiff += differs;
    nsurv += differs && is_latest;
    nlost += differs && is_before;

    switch (cut->policy) {
    case WC_CUT_LOSE:
      if (!is_before)
        CUT_FAIL ("S8: lose: block %" PRIu64 " (offset %" PRIu64 ") "
                  "changed at the cut", i, off);
      break;
    case WC_CUT_KEEP:
    case WC_CUT_RANDOM:
    case WC_CUT_ORDERED:
      if (!is_before && !is_latest)
        CUT_FAIL ("S8: %s: block %" PRIu64 " (offset %" PRIu64 ") holds "
                  "neither its content before the cut nor the acknowledged "
                  "one", pol, i, off);
      break;
    case WC_CUT_TORN:
      for (uint64_t u = 0; u < n; u += cut->unit) {
        uint64_t to = off + MIN ((uint64_t) n, u + cut->unit);
        bool b, l;

        classify (md, ma, off + u, to, &b, &l);
        if (!b && !l)
          CUT_FAIL ("S8: torn: unit at offset %" PRIu64 " (block %" PRIu64
                    ", unit %" PRIu32 ") holds neither its content before "
                    "the cut nor the acknowledged one", off + u, i,
                    cut->unit);
        if (p0 && !b)
          CUT_FAIL ("S8: torn p=0: unit at offset %" PRIu64 " changed",
                    off + u);
        if (p1 && !writes_failed && !l)
          CUT_FAIL ("S8: torn p=1: unit at offset %" PRIu64 " was lost",
                    off + u);
      }
      break;
    }
    if ((cut->policy == WC_CUT_KEEP || p1) && !writes_failed && !is_latest)
      CUT_FAIL ("S8: %s: block %" PRIu64 " (offset %" PRIu64 ") does not "
                "hold the acknowledged content", pol, i, off);
    if (p0 && !is_before)
      CUT_FAIL ("S8: %s p=0: block %" PRIu64 " (offset %" PRIu64 ") "
                "changed at the cut", pol, i, off);
    if (cut->policy == WC_CUT_ORDERED && differs) {
      if (!k->may_dirty)
        continue;               /* the model lost track (reported) */
      if (is_latest && (!have_s || k->lo > s_lo)) {
        have_s = true;
        s_lo = k->lo;
        s_blk = i;
      }
      if (is_before && (!have_l || k->hi < l_hi)) {
        have_l = true;
        l_hi = k->hi;
        l_blk = i;
      }
    }
  }

  /* S8 ordered: the survivors are the blocks first dirtied before some
   * point, the lost ones after it.  A refused survivor breaks the order
   * (it is lost), so this holds only when the media took every write. */
  if (have_s && have_l && s_lo > l_hi && !writes_failed)
    CUT_FAIL ("S8: ordered: block %" PRIu64 " survived, first dirtied in "
              "step %" PRIu64 " or later, but block %" PRIu64 " was lost, "
              "first dirtied in step %" PRIu64 " or earlier", s_blk, s_lo,
              l_blk, l_hi);

  /* The report (S8: the disk reports what it did and the seed). */
  if (rep->policy != cut->policy)
    CUT_FAIL ("S8: report: policy %s, cut with %s",
              wc_policy_name (rep->policy), pol);
  if (cut->seed_set && rep->seed != cut->seed)
    CUT_FAIL ("S8: report: seed %" PRIu64 ", cut with seed %" PRIu64,
              rep->seed, cut->seed);
  if (rep->kept + rep->lost + rep->torn != rep->dirty)
    CUT_FAIL ("S8: report: kept %" PRIu64 " + lost %" PRIu64 " + torn %"
              PRIu64 " != dirty %" PRIu64, rep->kept, rep->lost, rep->torn,
              rep->dirty);
  if (ndiff > rep->dirty)
    CUT_FAIL ("S8: report: %" PRIu64 " dirty blocks, but %" PRIu64 " blocks "
              "were not durable", rep->dirty, ndiff);
  if (nsurv > rep->kept + rep->torn || nlost > rep->lost + rep->torn)
    CUT_FAIL ("S8: report: kept %" PRIu64 " lost %" PRIu64 " torn %" PRIu64
              ", but %" PRIu64 " blocks survived and %" PRIu64 " were lost",
              rep->kept, rep->lost, rep->torn, nsurv, nlost);
  if (rep->unit != (cut->policy == WC_CUT_TORN ? cut->unit : md->bs))
    CUT_FAIL ("S8: report: unit %" PRIu32, rep->unit);
  switch (cut->policy) {
  case WC_CUT_LOSE:
    if (rep->kept || rep->torn)
      CUT_FAIL ("S8: report: lose kept %" PRIu64 " and tore %" PRIu64
                " blocks", rep->kept, rep->torn);
    break;
  case WC_CUT_KEEP:
    if (rep->torn || rep->lost > rep->errors)
      CUT_FAIL ("S8: report: keep lost %" PRIu64 " and tore %" PRIu64
                " blocks", rep->lost, rep->torn);
    break;
  case WC_CUT_RANDOM:
  case WC_CUT_ORDERED:
    if (rep->torn)
      CUT_FAIL ("S8: report: %s tore %" PRIu64 " blocks", pol, rep->torn);
    break;
  case WC_CUT_TORN:
    break;
  }
#undef CUT_FAIL

  for (uint64_t i = 0; i < md->nblocks; i++)
    set_clean (md, i, ma + i * md->bs);
  memcpy (md->media, ma, md->size);
  return err;
}

void
model_power_on (struct model *md)
{
  memcpy (md->latest, md->media, md->size);
}

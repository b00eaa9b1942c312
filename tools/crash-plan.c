/* wcache-crash: fingerprints, dedupe and shards (crash-plan.h).
 *
 * Owns the plan and, while it is built, a fingerprint sink for a walk:
 * the content hash of every granule the log touches (cur), the hashes of
 * each write's data per granule (read once from the log), the pre-image
 * hashes of the walk's current epoch, and the running sum (fp).  A
 * granule changing from hash a to hash b changes fp by mix(g, b) -
 * mix(g, a); mix makes each lane a strong function of the granule number
 * and the content, so equal sums mean equal images but for a 2^-128
 * chance.
 *
 * Seen states live in an open-addressing table keyed by (fp, marks).
 *
 * Locking: none; built by one thread, read-only after.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>
#include <xxhash.h>

#include "crash-plan.h"
#include "crash-walk.h"

struct h128 {
  uint64_t lo, hi;
};

/* The base's own data in a granule: never the hash of real data. */
static const struct h128 base_hash = {
  UINT64_C (0x5ca1ab1e0ddba11), UINT64_C (0xba5eba11facade)
};

/* A merged extent of granules the log touches, and its first slot. */
struct extent {
  uint64_t first, end;          /* granule numbers */
  uint64_t slot;
};

struct fpsink {
  const struct crash_model *m;
  uint64_t g;                   /* granule bytes */
  unsigned gshift;
  struct extent *ext;
  size_t next;
  struct h128 *cur;             /* per slot */
  struct h128 *data;            /* per write granule */
  uint64_t *data_start;         /* per write: its first granule in data */
  struct h128 zero;             /* a granule of zeros */
  struct h128 *pre;             /* the epoch's pre-images */
  uint64_t *pre_start;          /* per segment */
  uint64_t pre_used;
  struct h128 fp;
};

static inline uint64_t
fmix64 (uint64_t k)
{
  k ^= k >> 33;
  k *= UINT64_C (0xff51afd7ed558ccd);
  k ^= k >> 33;
  k *= UINT64_C (0xc4ceb9fe1a85ec53);
  k ^= k >> 33;
  return k;
}

static inline struct h128
mix (uint64_t g, struct h128 h)
{
  struct h128 r = {
    fmix64 (h.lo ^ (g * UINT64_C (0x9e3779b97f4a7c15))),
    fmix64 (h.hi + g * UINT64_C (0xc2b2ae3d27d4eb4f) +
            UINT64_C (0x165667b19e3779f9)),
  };

  return r;
}

static int
cmp_extent (const void *a, const void *b)
{
  const struct extent *x = a, *y = b;

  return x->first < y->first ? -1 : x->first > y->first;
}

/* The slot of granule gr (which the log touches). */
static uint64_t
slot_of (const struct fpsink *f, uint64_t gr)
{
  size_t lo = 0, hi = f->next;

  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;

    if (f->ext[mid].first <= gr)
      lo = mid;
    else
      hi = mid;
  }
  g_assert (gr >= f->ext[lo].first && gr < f->ext[lo].end);
  return f->ext[lo].slot + (gr - f->ext[lo].first);
}

static int
fpsink_init (struct fpsink *f, const struct crash_model *m, char **message)
{
  const struct crash_log *log = m->log;
  uint64_t g = log->sector_size, slots = 0, ndata = 0;
  g_autofree uint8_t *buf = NULL;
  g_autofree uint8_t *zeros = NULL;
  size_t n = 0;

  if (m->opts.torn && m->opts.torn < g)
    g = m->opts.torn;
  memset (f, 0, sizeof *f);
  f->m = m;
  f->g = g;
  f->gshift = __builtin_ctzll (g);

  /* The touched granules, as merged extents. */
  f->ext = g_new (struct extent, log->nr_writes + 1);
  for (size_t i = 0; i < log->nr_writes; i++) {
    f->ext[i].first = log->writes[i].offset >> f->gshift;
    f->ext[i].end = (log->writes[i].offset + log->writes[i].length) >>
      f->gshift;
  }
  qsort (f->ext, log->nr_writes, sizeof *f->ext, cmp_extent);
  for (size_t i = 0; i < log->nr_writes; i++) {
    if (n && f->ext[i].first <= f->ext[n - 1].end)
      f->ext[n - 1].end = MAX (f->ext[n - 1].end, f->ext[i].end);
    else
      f->ext[n++] = f->ext[i];
  }
  f->next = n;
  for (size_t i = 0; i < n; i++) {
    f->ext[i].slot = slots;
    slots += f->ext[i].end - f->ext[i].first;
  }
  f->cur = g_new (struct h128, slots);
  for (uint64_t i = 0; i < slots; i++)
    f->cur[i] = base_hash;

  /* Each write's data, hashed per granule. */
  f->data_start = g_new (uint64_t, log->nr_writes + 1);
  for (size_t i = 0; i < log->nr_writes; i++) {
    f->data_start[i] = ndata;
    if (!log->writes[i].discard)
      ndata += log->writes[i].length >> f->gshift;
  }
  f->data = g_new (struct h128, ndata);
  buf = g_malloc (1024 * 1024);
  for (size_t i = 0; i < log->nr_writes; i++) {
    const struct crash_write *w = &log->writes[i];
    struct h128 *out = &f->data[f->data_start[i]];

    if (w->discard)
      continue;
    for (uint64_t pos = 0; pos < w->length; ) {
      size_t chunk = MIN (w->length - pos, 1024 * 1024);

      if (crash_log_read (log, w, pos, buf, chunk, message) == -1)
        return -1;
      for (size_t o = 0; o < chunk; o += g) {
        XXH128_hash_t h = XXH3_128bits (buf + o, g);

        *out++ = (struct h128) { h.low64, h.high64 };
      }
      pos += chunk;
    }
  }
  zeros = g_malloc0 (g);
  {
    XXH128_hash_t h = XXH3_128bits (zeros, g);

    f->zero = (struct h128) { h.low64, h.high64 };
  }
  return 0;
}

static void
fpsink_clear (struct fpsink *f)
{
  g_free (f->ext);
  g_free (f->cur);
  g_free (f->data);
  g_free (f->data_start);
  g_free (f->pre);
  g_free (f->pre_start);
}

static int
fp_begin_epoch (void *opaque, uint32_t nsegs, uint64_t bytes, char **message)
{
  struct fpsink *f = opaque;

  g_free (f->pre);
  g_free (f->pre_start);
  f->pre = g_new (struct h128, bytes >> f->gshift);
  f->pre_start = g_new (uint64_t, nsegs);
  f->pre_used = 0;
  return 0;
}

static int
fp_save (void *opaque, uint32_t seg, uint64_t off, uint64_t len,
         char **message)
{
  struct fpsink *f = opaque;
  uint64_t slot = slot_of (f, off >> f->gshift), n = len >> f->gshift;

  f->pre_start[seg] = f->pre_used;
  memcpy (&f->pre[f->pre_used], &f->cur[slot], n * sizeof *f->pre);
  f->pre_used += n;
  return 0;
}

static int
fp_put (void *opaque, uint32_t seg, uint64_t off, uint64_t len,
        const struct crash_write *w, uint64_t pos, char **message)
{
  struct fpsink *f = opaque;
  uint64_t gr = off >> f->gshift, n = len >> f->gshift;
  uint64_t slot = slot_of (f, gr);
  const struct h128 *src = NULL;

  if (!w)
    src = &f->pre[f->pre_start[seg]];
  else if (!w->discard)
    src = &f->data[f->data_start[w - f->m->log->writes] +
                   (pos >> f->gshift)];
  for (uint64_t i = 0; i < n; i++) {
    struct h128 nh = src ? src[i] : f->zero;
    struct h128 a = mix (gr + i, f->cur[slot + i]), b = mix (gr + i, nh);

    f->fp.lo += b.lo - a.lo;
    f->fp.hi += b.hi - a.hi;
    f->cur[slot + i] = nh;
  }
  return 0;
}

static const struct crash_walk_ops fp_ops = {
  .begin_epoch = fp_begin_epoch,
  .save = fp_save,
  .put = fp_put,
};

/* ---- The seen set ------------------------------------------------------ */

struct seen_key {
  uint64_t lo, hi;
  uint32_t marks;
  uint32_t used;
};

struct seen {
  struct seen_key *t;
  uint64_t mask;
};

/* Inserts the key; true if it was there already. */
static bool
seen_insert (struct seen *s, struct h128 fp, uint32_t marks)
{
  uint64_t i = fmix64 (fp.lo ^ marks) & s->mask;

  for (;; i = (i + 1) & s->mask) {
    struct seen_key *k = &s->t[i];

    if (!k->used) {
      *k = (struct seen_key) { fp.lo, fp.hi, marks, 1 };
      return false;
    }
    if (k->lo == fp.lo && k->hi == fp.hi && k->marks == marks)
      return true;
  }
}

void
crash_shard_range (uint64_t count, uint32_t i, uint32_t n,
                   uint64_t *lo, uint64_t *hi)
{
  /* 128-bit products: count * i may not fit in 64 bits. */
  *lo = (unsigned __int128) count * (i - 1) / n;
  *hi = (unsigned __int128) count * i / n;
}

struct crash_plan *
crash_plan_new (const struct crash_model *m, uint32_t shard,
                uint32_t nshards, char **message)
{
  struct crash_plan *p;
  struct fpsink f;
  struct crash_walk *w;
  struct seen seen;
  uint64_t cap = 16;
  XXH3_state_t *ids;
  XXH128_hash_t idh;

  if (fpsink_init (&f, m, message) == -1) {
    int err = errno;

    fpsink_clear (&f);
    errno = err;
    return NULL;
  }
  while (cap < 2 * m->nr_states)
    cap *= 2;
  seen.t = g_new0 (struct seen_key, cap);
  seen.mask = cap - 1;

  p = g_new0 (struct crash_plan, 1);
  p->m = m;
  p->unique = g_new (uint64_t, m->nr_states);
  p->epoch_deduped = g_new0 (uint64_t, m->nr_epochs);
  p->shard = shard;
  p->nshards = nshards;

  ids = XXH3_createState ();
  XXH3_128bits_reset (ids);
  w = crash_walk_new (m, &fp_ops, &f);
  for (uint32_t c = 0; c < m->nr_points; c++) {
    const struct crash_point *cp = &m->points[c];

    for (uint64_t s = cp->first_state; s < cp->first_state + cp->nr_states;
         s++) {
      /* The fingerprint sink cannot fail. */
      if (crash_walk_move (w, s, message) == -1)
        g_assert_not_reached ();
      {
        uint64_t rec[3] = { f.fp.lo, f.fp.hi, cp->nr_marks };

        XXH3_128bits_update (ids, rec, sizeof rec);
      }
      if (seen_insert (&seen, f.fp, cp->nr_marks)) {
        p->nr_deduped++;
        p->epoch_deduped[cp->epoch]++;
      } else {
        p->unique[p->nr_unique++] = s;
      }
    }
  }
  crash_walk_free (w);
  fpsink_clear (&f);
  idh = XXH3_128bits_digest (ids);
  XXH3_freeState (ids);
  snprintf (p->id, sizeof p->id, "%016" PRIx64 "%016" PRIx64, idh.high64,
            idh.low64);
  g_free (seen.t);
  crash_shard_range (p->nr_unique, shard, nshards, &p->shard_lo,
                     &p->shard_hi);
  return p;
}

void
crash_plan_free (struct crash_plan *p)
{
  if (!p)
    return;
  g_free (p->unique);
  g_free (p->epoch_deduped);
  g_free (p);
}

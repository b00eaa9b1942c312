/* The multi-threaded engine check: writers, flushers, a mode switcher and
 * a power cutter on one engine with a small cache, so that write-backs,
 * destages, copies on write, switches and cuts race each other.
 *
 * Each writer owns a range of 512-byte sectors; the ranges are not aligned
 * to blocks, so neighbours share the blocks between them.  Every write
 * stamps each sector it covers with (sector, version), versions growing per
 * writer; zeroes and trims leave zeros.  Per sector the run publishes, as
 * atomics (writers store, checkers load):
 *   issued       the newest version issued, and zero_issued the newest
 *                zero or trim: the media may hold nothing newer;
 *   acked        the newest version acknowledged, with the power epoch it
 *                was acknowledged in (a cut makes it history);
 *   known        what the writer knows the sector reads as (its version,
 *                0 for zeros), with the epoch it learnt it in: its last
 *                acknowledged write, or what it read back after a request
 *                failed or a cut came;
 *   floor        a version known durable: the media never holds older.
 * The checks:
 *   S1  a writer reads back what it wrote last, sector by sector (nobody
 *       else writes its sectors), unless a cut came in between;
 *   S2  after a FUA or write-through request, the media holds exactly it
 *       durably (unless unsafe mode may have been in effect: unsafe_gen);
 *   S3  a flusher notes the versions acknowledged in this epoch, flushes,
 *       and then every sector of the media holds that version or a newer
 *       one durably (zeros only if a zero that new was issued);
 *   S5  the same after each switch from WCE on to off;
 *   S7  the cache never holds more than its bound;
 *   S8  after a cut, every sector holds at least its floor, the media does
 *       not change while the power is off, and after power-on a writer
 *       reads back exactly what the media holds (then it carries on from
 *       there); requests fail only with EIO, and only across a cut or
 *       when the media failed;
 *   S3  with media failures (a thread makes the next read, write or flush
 *       fail now and then): a request that failed left each of its
 *       sectors as it was or as written, and nothing else changed;
 *   S10 the oracle agrees with the media after each cut and at the end;
 * and at the end, after a last flush, the disk and the media hold exactly
 * what the writers know since the last cut, and at least the floor
 * elsewhere.
 *
 * unsafe_gen is odd from just before a switch to unsafe mode until a switch
 * away from it has returned: a check that saw it even and unchanged around
 * its request knows the request did not run in unsafe mode.  power_gen does
 * the same for the power (a request may fail with EIO only if it saw it odd
 * or changed), and the engine's epoch (wc_epoch) read around a request
 * tells whether a cut may have come in between.
 *
 * Durably: the media tells what a flush or FUA made durable from what was
 * only written to it (memmedia_track_durable), and the checks look there.
 *
 * Locking: the run's counters and published versions are atomics; the
 * first error is kept under err_lock; the power flag the cutter raises
 * after power-on is under power_lock, with power_cond.  The media's own
 * lock makes a direct read of it a consistent snapshot.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "memmedia.h"
#include "model-threads.h"
#include "wcache.h"

#define SECTOR 512
#define MAX_WRITERS 4
#define MAX_FLUSHERS 2
#define MAX_THREADS (MAX_WRITERS + MAX_FLUSHERS + 3)
#define OPS_PER_WRITER 400
#define VERSION_BITS 40         /* acked: epoch << VERSION_BITS | version */

struct mt {
  struct memmedia *m;
  struct wc_engine *e;
  uint32_t bs;
  uint64_t nsect;               /* sectors the writers own, from sector 0 */
  uint64_t region;              /* sectors per writer */
  unsigned writers;
  bool oracle;
  bool faults;                  /* media failures are injected */
  _Atomic uint64_t *issued;     /* per sector, see above */
  _Atomic uint64_t *zero_issued;
  _Atomic uint64_t *acked;
  _Atomic uint64_t *known;
  _Atomic uint64_t *floor;
  atomic_uint unsafe_gen;
  atomic_uint power_gen;        /* odd from just before a cut until after
                                 * the power-on that ends it */
  atomic_uint writers_left;
  atomic_bool stop;             /* an error: everyone stops */
  atomic_uint_fast64_t requests, flushes, switches, cuts;
  GMutex power_lock;
  GCond power_cond;
  bool powered;                 /* protected by power_lock */
  GMutex err_lock;
  char *err;                    /* the first violation; err_lock */
};

struct worker {
  struct mt *mt;
  unsigned id;
  uint64_t rng;
};

static uint64_t
rnd (uint64_t *s)
{
  uint64_t z = (*s += UINT64_C (0x9e3779b97f4a7c15));

  z = (z ^ (z >> 30)) * UINT64_C (0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C (0x94d049bb133111eb);
  return z ^ (z >> 31);
}

static uint64_t
below (uint64_t *s, uint64_t n)
{
  return rnd (s) % n;
}

static void G_GNUC_PRINTF (2, 3)
fail (struct mt *mt, const char *fmt, ...)
{
  va_list ap;
  char *msg;

  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_mutex_lock (&mt->err_lock);
  if (!mt->err)
    mt->err = msg;
  else
    g_free (msg);
  g_mutex_unlock (&mt->err_lock);
  atomic_store (&mt->stop, true);
  /* Writers waiting for power-on must see the stop. */
  g_mutex_lock (&mt->power_lock);
  g_cond_broadcast (&mt->power_cond);
  g_mutex_unlock (&mt->power_lock);
}

/* The content of sector s at version v (v > 0). */
static void
stamp (uint8_t *p, uint64_t s, uint64_t v)
{
  uint64_t r = s * UINT64_C (0x2545f4914f6cdd1d) ^ v;

  memcpy (p, &s, 8);
  memcpy (p + 8, &v, 8);
  for (unsigned i = 16; i < SECTOR; i += 8) {
    uint64_t x = rnd (&r);
    memcpy (p + i, &x, 8);
  }
}

static bool
all_zero (const uint8_t *p, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (p[i])
      return false;
  return true;
}

/* The version sector s holds in p: 0 for zeros, UINT64_MAX if it is not a
 * stamp of s. */
static uint64_t
version_of (const uint8_t *p, uint64_t s)
{
  uint8_t want[SECTOR];
  uint64_t got_s, v;

  if (all_zero (p, SECTOR))
    return 0;
  memcpy (&got_s, p, 8);
  memcpy (&v, p + 8, 8);
  if (got_s != s || v == 0)
    return UINT64_MAX;
  stamp (want, s, v);
  return memcmp (p, want, SECTOR) == 0 ? v : UINT64_MAX;
}

static uint64_t
ack_pack (uint64_t epoch, uint64_t v)
{
  return epoch << VERSION_BITS | v;
}

static uint64_t
ack_version (uint64_t a)
{
  return a & ((UINT64_C (1) << VERSION_BITS) - 1);
}

static uint64_t
ack_epoch (uint64_t a)
{
  return a >> VERSION_BITS;
}

/* Whether version v (as version_of) on sector s is at least need: a newer
 * stamp that was issued, or zeros from a zero at least that new. */
static bool
at_least (struct mt *mt, uint64_t s, uint64_t v, uint64_t need)
{
  if (v == UINT64_MAX)
    return false;
  if (v == 0)
    return need == 0 || atomic_load (&mt->zero_issued[s]) >= need;
  return v >= need && v <= atomic_load (&mt->issued[s]);
}

static void
raise_floor (struct mt *mt, uint64_t s, uint64_t v)
{
  uint64_t cur = atomic_load (&mt->floor[s]);

  while (cur < v && !atomic_compare_exchange_weak (&mt->floor[s], &cur, v))
    ;
}

static bool
unsafe_free (unsigned g1, unsigned g2)
{
  return g1 == g2 && (g1 & 1) == 0;
}

/* Every sector of the durable media holds at least need[s]. */
static void
check_media (struct mt *mt, const uint64_t *need, const char *rule,
             const char *what)
{
  g_autofree uint8_t *buf = g_malloc (mt->nsect * SECTOR);

  memmedia_read_durable (mt->m, buf, mt->nsect * SECTOR, 0);
  for (uint64_t s = 0; s < mt->nsect; s++) {
    uint64_t v = version_of (buf + s * SECTOR, s);

    if (!at_least (mt, s, v, need[s])) {
      if (v == UINT64_MAX)
        fail (mt, "%s: after %s, sector %" PRIu64 " holds garbage", rule,
              what, s);
      else
        fail (mt, "%s: after %s, sector %" PRIu64 " holds version %" PRIu64
              ", but version %" PRIu64 " should be durable", rule, what, s,
              v, need[s]);
      return;
    }
  }
}

/* The versions acknowledged in this epoch (others: 0, no requirement). */
static void
snapshot (struct mt *mt, uint64_t epoch, uint64_t *snap)
{
  for (uint64_t s = 0; s < mt->nsect; s++) {
    uint64_t a = atomic_load (&mt->acked[s]);

    snap[s] = ack_epoch (a) == epoch ? ack_version (a) : 0;
  }
}

static void
check_bound (struct mt *mt)
{
  struct wc_stats st;

  wc_get_stats (mt->e, &st);
  if (st.cached_blocks > st.cache_blocks_max)
    fail (mt, "S7: %" PRIu64 " blocks cached, bound %" PRIu64,
          st.cached_blocks, st.cache_blocks_max);
}

/* A request that began with power_gen at g failed: only with EIO, and
 * only with the power off or across a cut (S8), or if the media failed. */
static void
check_failure (struct mt *mt, const char *who, int err, unsigned g)
{
  if (err == EIO && mt->faults)
    return;
  if (err != EIO || ((g & 1) == 0 && atomic_load (&mt->power_gen) == g))
    fail (mt, "errors: %s failed (%s) with no cut to explain it", who,
          g_strerror (err));
}

static void
wait_power (struct mt *mt)
{
  g_mutex_lock (&mt->power_lock);
  while (!mt->powered && !atomic_load (&mt->stop))
    g_cond_wait (&mt->power_cond, &mt->power_lock);
  g_mutex_unlock (&mt->power_lock);
}

/* A request acknowledged with a cut around it: it may have run before the
 * cut (then its data met the cut) or wholly after the power-on. */
struct pending {
  uint64_t s0, n;               /* in the writer's range; n 0 if none */
  uint64_t version;             /* 0 for a zero or trim */
};

/* After a cut: read the writer's range back once the power is on.  The
 * disk reads exactly the media (S8), which holds at least the floor, but
 * for the pending request, which may have run after the power-on.
 * Returns the epoch it is in sync with, or UINT64_MAX to stop. */
static uint64_t
resync (struct worker *w, uint64_t *mine, uint8_t *back,
        const struct pending *p)
{
  struct mt *mt = w->mt;
  uint64_t base = w->id * mt->region, bytes = mt->region * SECTOR, e0;
  g_autofree uint8_t *media = g_malloc (bytes);

  for (;;) {
    unsigned g;
    int rv;

    wait_power (mt);
    if (atomic_load (&mt->stop))
      return UINT64_MAX;
    g = atomic_load (&mt->power_gen);
    e0 = wc_epoch (mt->e);
    rv = wc_read (mt->e, back, bytes, base * SECTOR);
    if (rv == 0) {
      /* Nobody else writes these sectors: the media holds them. */
      memmedia_read_direct (mt->m, media, bytes, base * SECTOR);
      if (wc_epoch (mt->e) == e0)
        break;
    }
    else
      check_failure (mt, "a read after power-on", errno, g);
  }
  for (uint64_t k = 0; k < mt->region; k++) {
    uint64_t s = base + k, v = version_of (back + k * SECTOR, s);

    bool in_p = k >= p->s0 && k < p->s0 + p->n;

    if (memcmp (back + k * SECTOR, media + k * SECTOR, SECTOR) != 0 &&
        !(in_p && v == p->version)) {
      fail (mt, "S8: after power-on, sector %" PRIu64 " reads version %"
            PRIu64 ", but the media holds version %" PRIu64 " (issued %"
            PRIu64 ", durable %" PRIu64 ")", s, v,
            version_of (media + k * SECTOR, s),
            atomic_load (&mt->issued[s]), atomic_load (&mt->floor[s]));
      return UINT64_MAX;
    }
    if (!at_least (mt, s, v, atomic_load (&mt->floor[s]))) {
      fail (mt, "S8: after a cut, sector %" PRIu64 " reads version %" PRIu64
            ", older than its durable version %" PRIu64, s, v,
            atomic_load (&mt->floor[s]));
      return UINT64_MAX;
    }
    mine[k] = v;
    atomic_store (&mt->acked[s], ack_pack (e0, v));
    atomic_store (&mt->known[s], ack_pack (e0, v));
  }
  return e0;
}

/* After a request failed (the media failed) with no cut: each sector holds
 * what it held or what the request wrote (v; 0 for zeros).  Reads them
 * back until a read succeeds; false if a cut came first. */
static bool
learn (struct worker *w, uint64_t s0, uint64_t n, uint64_t v,
       uint64_t synced, uint64_t *mine, uint8_t *back)
{
  struct mt *mt = w->mt;
  uint64_t base = w->id * mt->region;

  for (;;) {
    unsigned g = atomic_load (&mt->power_gen);
    int rv = wc_read (mt->e, back, n * SECTOR, (base + s0) * SECTOR);

    if (wc_epoch (mt->e) != synced || atomic_load (&mt->stop))
      return false;
    if (rv == 0)
      break;
    check_failure (mt, "a read after a failed write", errno, g);
  }
  for (uint64_t k = 0; k < n; k++) {
    uint64_t s = base + s0 + k, got = version_of (back + k * SECTOR, s);

    if (got != mine[s0 + k] && got != v) {
      fail (mt, "S3: writer %u: a failed request left sector %" PRIu64
            " at version %" PRIu64 ", neither %" PRIu64 " before it nor %"
            PRIu64 " written", w->id, s, got, mine[s0 + k], v);
      return false;
    }
    mine[s0 + k] = got;
    atomic_store (&mt->known[s], ack_pack (synced, got));
  }
  return true;
}

static gpointer
writer (gpointer arg)
{
  struct worker *w = arg;
  struct mt *mt = w->mt;
  uint64_t base = w->id * mt->region, version = 0, synced = 0;
  struct pending p = { 0 };
  g_autofree uint64_t *mine = g_new0 (uint64_t, mt->region);
  g_autofree uint8_t *buf = g_malloc (32 * SECTOR);
  g_autofree uint8_t *back = g_malloc (mt->region * SECTOR);

  for (unsigned i = 0; i < OPS_PER_WRITER && !atomic_load (&mt->stop); i++) {
    uint64_t s0 = below (&w->rng, mt->region);
    uint64_t n = 1 + below (&w->rng, MIN (mt->region - s0, 32));
    unsigned kind = below (&w->rng, 100);  /* < 70 write, < 85 zero, trim */
    unsigned flags = 0, g1, g2, pg;
    uint64_t off = (base + s0) * SECTOR;
    int rv, err;

    if (wc_epoch (mt->e) != synced) {
      if ((synced = resync (w, mine, back, &p)) == UINT64_MAX)
        break;
      p.n = 0;
    }
    if (below (&w->rng, 100) < 15)
      flags |= WC_FUA;
    if (below (&w->rng, 100) < 5)
      flags |= WC_WRITETHROUGH;
    version++;
    for (uint64_t k = 0; k < n; k++) {
      atomic_store (&mt->issued[base + s0 + k], version);
      if (kind >= 70)
        atomic_store (&mt->zero_issued[base + s0 + k], version);
      else
        stamp (buf + k * SECTOR, base + s0 + k, version);
    }
    g1 = atomic_load (&mt->unsafe_gen);
    pg = atomic_load (&mt->power_gen);
    rv = kind < 70 ? wc_write (mt->e, buf, n * SECTOR, off, flags)
      : kind < 85 ? wc_zero (mt->e, n * SECTOR, off, flags)
      : wc_trim (mt->e, n * SECTOR, off, flags);
    err = errno;
    g2 = atomic_load (&mt->unsafe_gen);
    if (rv == -1)
      check_failure (mt, "a write", err, pg);
    /* Acknowledged in the epoch it is synced with, or a cut came: then it
     * may have run after the power-on, wholly if it succeeded, in part if
     * the media failed it. */
    if (wc_epoch (mt->e) != synced) {
      if (rv == 0 || mt->faults) {
        p.s0 = s0;
        p.n = n;
        p.version = kind < 70 ? version : 0;
      }
      continue;
    }
    if (rv == -1) {
      learn (w, s0, n, kind < 70 ? version : 0, synced, mine, back);
      continue;
    }
    for (uint64_t k = 0; k < n; k++) {
      mine[s0 + k] = kind < 70 ? version : 0;
      atomic_store (&mt->acked[base + s0 + k], ack_pack (synced, version));
      atomic_store (&mt->known[base + s0 + k],
                    ack_pack (synced, mine[s0 + k]));
    }
    atomic_fetch_add (&mt->requests, 1);

    /* S2, S6: durable when acknowledged, exactly this version (a cut
     * since cannot take it away, nor anyone write a newer one). */
    if (flags && unsafe_free (g1, g2)) {
      memmedia_read_durable (mt->m, back, n * SECTOR, off);
      for (uint64_t k = 0; k < n; k++) {
        if (version_of (back + k * SECTOR, base + s0 + k) != mine[s0 + k]) {
          fail (mt, "%s: writer %u: sector %" PRIu64 " not durable when "
                "its request was acknowledged", flags & WC_FUA ? "S2" : "S6",
                w->id, base + s0 + k);
          break;
        }
        raise_floor (mt, base + s0 + k, version);
      }
    }

    /* S1: read back the request, or now and then the whole range. */
    if (i % 16 == 0) {
      s0 = 0;
      n = mt->region;
    }
    pg = atomic_load (&mt->power_gen);
    rv = wc_read (mt->e, back, n * SECTOR, (base + s0) * SECTOR);
    err = errno;
    if (rv == -1)
      check_failure (mt, "a read", err, pg);
    if (rv == -1 || wc_epoch (mt->e) != synced)
      continue;
    for (uint64_t k = 0; k < n; k++)
      if (version_of (back + k * SECTOR, base + s0 + k) != mine[s0 + k]) {
        fail (mt, "S1: writer %u: sector %" PRIu64 " reads other than "
              "its last acknowledged write", w->id, base + s0 + k);
        break;
      }
  }
  atomic_fetch_sub (&mt->writers_left, 1);
  return NULL;
}

static gpointer
flusher (gpointer arg)
{
  struct worker *w = arg;
  struct mt *mt = w->mt;
  g_autofree uint64_t *snap = g_new (uint64_t, mt->nsect);

  while (atomic_load (&mt->writers_left) > 0 && !atomic_load (&mt->stop)) {
    unsigned flags = below (&w->rng, 100) < 20 ? WC_FORCE : 0, g1, g2;
    unsigned pg = atomic_load (&mt->power_gen);
    uint64_t epoch = wc_epoch (mt->e);

    snapshot (mt, epoch, snap);
    g1 = atomic_load (&mt->unsafe_gen);
    if (wc_flush (mt->e, flags) == -1) {
      check_failure (mt, "a flush", errno, pg);
      continue;
    }
    g2 = atomic_load (&mt->unsafe_gen);
    if (wc_epoch (mt->e) != epoch)
      continue;                 /* a cut after the snapshot */
    if (flags || unsafe_free (g1, g2)) {
      check_media (mt, snap, "S3", "a flush");
      for (uint64_t s = 0; s < mt->nsect; s++)
        raise_floor (mt, s, snap[s]);
      atomic_fetch_add (&mt->flushes, 1);
    }
    check_bound (mt);
  }
  return NULL;
}

static gpointer
switcher (gpointer arg)
{
  struct worker *w = arg;
  struct mt *mt = w->mt;
  g_autofree uint64_t *snap = g_new (uint64_t, mt->nsect);
  enum wc_mode cur = wc_get_mode (mt->e);

  while (atomic_load (&mt->writers_left) > 0 && !atomic_load (&mt->stop)) {
    enum wc_mode to = below (&w->rng, WC_MODE_COUNT);
    bool off = wc_mode_wce (cur) && !wc_mode_wce (to);
    unsigned pg = atomic_load (&mt->power_gen);
    uint64_t epoch = wc_epoch (mt->e);

    if (to == WC_MODE_UNSAFE && cur != WC_MODE_UNSAFE)
      atomic_fetch_add (&mt->unsafe_gen, 1);    /* cannot fail: WCE on */
    if (off)
      snapshot (mt, epoch, snap);
    if (wc_set_mode (mt->e, to) == -1) {
      check_failure (mt, "a switch to WCE off", errno, pg);
      continue;                 /* the mode stays */
    }
    if (off && wc_epoch (mt->e) == epoch) {
      check_media (mt, snap, "S5", "a switch to WCE off");
      for (uint64_t s = 0; s < mt->nsect; s++)
        raise_floor (mt, s, snap[s]);
    }
    if (cur == WC_MODE_UNSAFE && to != WC_MODE_UNSAFE)
      atomic_fetch_add (&mt->unsafe_gen, 1);
    cur = to;
    atomic_fetch_add (&mt->switches, 1);
    /* Let the writers fill the cache again. */
    for (unsigned k = 0; k < 10; k++)
      g_thread_yield ();
  }
  return NULL;
}

static void
check_oracle (struct mt *mt, uint32_t unit, const char *when)
{
  struct wc_verify_report rep;

  if (!mt->oracle)
    return;
  if (wc_oracle_verify (mt->e, WC_VERIFY_EXACT, SECTOR, memmedia_read_direct,
                        mt->m, &rep) == -1 || rep.violations > 0 ||
      wc_oracle_verify (mt->e, WC_VERIFY_CONTRACT, unit,
                        memmedia_read_direct, mt->m, &rep) == -1 ||
      rep.violations > 0)
    fail (mt, "S10: %s, the oracle finds the media other than it believes "
          "or allows", when);
}

static gpointer
cutter (gpointer arg)
{
  struct worker *w = arg;
  struct mt *mt = w->mt;
  uint64_t bytes = mt->nsect * SECTOR;
  g_autofree uint64_t *need = g_new (uint64_t, mt->nsect);
  g_autofree uint8_t *before = g_malloc (bytes);
  g_autofree uint8_t *after = g_malloc (bytes);
  uint64_t next = 0;

  while (atomic_load (&mt->writers_left) > 0 && !atomic_load (&mt->stop)) {
    struct wc_cut cut;
    struct wc_cut_report rep;

    /* Pace: a cut every few hundred acknowledged requests. */
    next += 50 + below (&w->rng, 300);
    while (atomic_load (&mt->requests) < next &&
           atomic_load (&mt->writers_left) > 0 && !atomic_load (&mt->stop))
      g_thread_yield ();

    wc_cut_init (&cut);
    cut.policy = below (&w->rng, WC_POLICY_COUNT);
    cut.seed_set = true;
    cut.seed = rnd (&w->rng);
    cut.p = below (&w->rng, 5) / 4.0;
    cut.unit = SECTOR << below (&w->rng, __builtin_ctz (mt->bs) - 8);
    atomic_fetch_add (&mt->power_gen, 1);
    g_mutex_lock (&mt->power_lock);
    mt->powered = false;
    g_mutex_unlock (&mt->power_lock);
    if (wc_power_cut (mt->e, &cut, &rep) == -1) {
      fail (mt, "S8: cut failed: %s", g_strerror (errno));
      break;
    }
    atomic_fetch_add (&mt->cuts, 1);

    /* Durable data survives any cut; nothing lands while off. */
    for (uint64_t s = 0; s < mt->nsect; s++)
      need[s] = atomic_load (&mt->floor[s]);
    memmedia_read_direct (mt->m, before, bytes, 0);
    check_media (mt, need, "S8", "a cut");
    check_oracle (mt, cut.policy == WC_CUT_TORN ? cut.unit : mt->bs,
                  "after a cut");
    for (unsigned k = 0; k < 20; k++)
      g_thread_yield ();
    memmedia_read_direct (mt->m, after, bytes, 0);
    if (memcmp (before, after, bytes) != 0)
      fail (mt, "S8: the media changed while the power was off");
    if (wc_power_on (mt->e) == -1)
      fail (mt, "S8: power-on failed: %s", g_strerror (errno));
    atomic_fetch_add (&mt->power_gen, 1);
    g_mutex_lock (&mt->power_lock);
    mt->powered = true;
    g_cond_broadcast (&mt->power_cond);
    g_mutex_unlock (&mt->power_lock);
  }
  return NULL;
}

/* Makes the next media read, write or flush fail, now and then. */
static gpointer
chaos (gpointer arg)
{
  struct worker *w = arg;
  struct mt *mt = w->mt;

  while (atomic_load (&mt->writers_left) > 0 && !atomic_load (&mt->stop)) {
    unsigned k = below (&w->rng, 3);

    for (unsigned i = 0; i < 20 + below (&w->rng, 200); i++)
      g_thread_yield ();
    pthread_mutex_lock (&mt->m->lock);
    *(k == 0 ? &mt->m->fail_reads : k == 1 ? &mt->m->fail_writes
      : &mt->m->fail_flushes) = 1;
    pthread_mutex_unlock (&mt->m->lock);
  }
  return NULL;
}

/* The end: flushed, the disk and the media hold exactly what the writers
 * know since the last cut, and at least the floor elsewhere. */
static void
check_final (struct mt *mt, uint32_t cut_unit)
{
  uint64_t bytes = mt->nsect * SECTOR, epoch = wc_epoch (mt->e);
  g_autofree uint8_t *media = g_malloc (bytes);
  g_autofree uint8_t *disk = g_malloc (bytes);
  struct wc_stats st;

  pthread_mutex_lock (&mt->m->lock);
  mt->m->fail_reads = mt->m->fail_writes = mt->m->fail_flushes = 0;
  pthread_mutex_unlock (&mt->m->lock);
  if (wc_flush (mt->e, WC_FORCE) == -1) {
    fail (mt, "S3: the final flush failed: %s", g_strerror (errno));
    return;
  }
  memmedia_read_durable (mt->m, media, bytes, 0);
  if (wc_read (mt->e, disk, bytes, 0) == -1) {
    fail (mt, "S1: the final read failed: %s", g_strerror (errno));
    return;
  }
  for (uint64_t s = 0; s < mt->nsect; s++) {
    uint64_t a = atomic_load (&mt->known[s]), v = ack_version (a);
    uint64_t got = version_of (disk + s * SECTOR, s);

    if (memcmp (disk + s * SECTOR, media + s * SECTOR, SECTOR) != 0) {
      fail (mt, "S3: after the final flush, sector %" PRIu64 " reads other "
            "than the media holds", s);
      return;
    }
    if (ack_epoch (a) == epoch ? got != v
        : !at_least (mt, s, got, atomic_load (&mt->floor[s]))) {
      fail (mt, "S1: at the end, sector %" PRIu64 " holds version %" PRIu64
            ", expected %" PRIu64, s, got, v);
      return;
    }
  }
  wc_get_stats (mt->e, &st);
  if (st.cached_blocks != 0)
    fail (mt, "S3: %" PRIu64 " blocks still cached after the final flush",
          st.cached_blocks);
  check_oracle (mt, cut_unit, "at the end");
}

char *
mt_run (uint64_t seed, uint64_t index, struct mt_totals *totals)
{
  uint64_t rng = seed ^ (index * UINT64_C (0x9fb21c651e98df25)) ^ 0x7e;
  struct mt mt = { 0 };
  struct wc_config cfg;
  struct wc_stats st;
  struct worker workers[MAX_THREADS];
  GThread *threads[MAX_THREADS];
  unsigned nflushers, nthreads = 0;
  bool with_switcher, with_cutter;
  uint64_t size;
  char *err;

  rnd (&rng);
  mt.bs = 512u << below (&rng, 5);
  mt.writers = 2 + below (&rng, MAX_WRITERS - 1);
  /* Not a multiple of the block: neighbours share a block. */
  mt.region = 8 + below (&rng, 120);
  mt.nsect = mt.writers * mt.region;
  size = mt.nsect * SECTOR + below (&rng, SECTOR);
  nflushers = 1 + below (&rng, MAX_FLUSHERS);
  with_switcher = below (&rng, 100) < 60;
  with_cutter = below (&rng, 100) < 50;
  mt.faults = below (&rng, 100) < 40;
  mt.oracle = below (&rng, 2);

  mt.m = memmedia_new (size);
  memmedia_track_durable (mt.m);
  memmedia_config (mt.m, &cfg);
  if (below (&rng, 2))
    cfg.ops = &memmedia_writev_ops;
  cfg.block_size = mt.bs;
  cfg.cache_size = (1 + below (&rng, 8)) * mt.bs;
  cfg.mode = below (&rng, 3) ? WC_MODE_WRITEBACK : below (&rng, WC_MODE_COUNT);
  cfg.oracle = mt.oracle;
  mt.e = wc_engine_new (&cfg);
  g_assert_nonnull (mt.e);
  mt.issued = g_new0 (_Atomic uint64_t, mt.nsect);
  mt.zero_issued = g_new0 (_Atomic uint64_t, mt.nsect);
  mt.acked = g_new0 (_Atomic uint64_t, mt.nsect);
  mt.known = g_new0 (_Atomic uint64_t, mt.nsect);
  mt.floor = g_new0 (_Atomic uint64_t, mt.nsect);
  mt.unsafe_gen = cfg.mode == WC_MODE_UNSAFE ? 1 : 0;
  mt.writers_left = mt.writers;
  mt.powered = true;
  g_mutex_init (&mt.err_lock);
  g_mutex_init (&mt.power_lock);
  g_cond_init (&mt.power_cond);

  for (unsigned i = 0; i < MAX_THREADS; i++) {
    workers[i].mt = &mt;
    workers[i].id = i;
    workers[i].rng = rnd (&rng);
  }
  for (unsigned i = 0; i < mt.writers; i++, nthreads++)
    threads[nthreads] = g_thread_new ("writer", writer, &workers[nthreads]);
  for (unsigned i = 0; i < nflushers; i++, nthreads++)
    threads[nthreads] = g_thread_new ("flusher", flusher,
                                      &workers[nthreads]);
  if (with_switcher) {
    threads[nthreads] = g_thread_new ("switcher", switcher,
                                      &workers[nthreads]);
    nthreads++;
  }
  if (with_cutter) {
    threads[nthreads] = g_thread_new ("cutter", cutter, &workers[nthreads]);
    nthreads++;
  }
  if (mt.faults) {
    threads[nthreads] = g_thread_new ("chaos", chaos, &workers[nthreads]);
    nthreads++;
  }
  for (unsigned i = 0; i < nthreads; i++)
    g_thread_join (threads[i]);
  wc_get_stats (mt.e, &st);
  if (!mt.err && !st.powered && wc_power_on (mt.e) == -1)
    fail (&mt, "S8: power-on failed: %s", g_strerror (errno));
  if (!mt.err)
    check_final (&mt, st.have_last_cut && st.last_cut.policy == WC_CUT_TORN
                 ? st.last_cut.unit : mt.bs);

  totals->requests += atomic_load (&mt.requests);
  totals->flushes += atomic_load (&mt.flushes);
  totals->switches += atomic_load (&mt.switches);
  totals->cuts += atomic_load (&mt.cuts);
  err = mt.err;
  if (err) {
    char *msg = g_strdup_printf ("%s (block_size=%" PRIu32 " writers=%u "
                                 "sectors each=%" PRIu64 " flushers=%u "
                                 "switcher=%s cutter=%s faults=%s "
                                 "cache_size=%" PRIu64 " %s oracle=%s)",
                                 err, mt.bs, mt.writers, mt.region,
                                 nflushers, with_switcher ? "yes" : "no",
                                 with_cutter ? "yes" : "no",
                                 mt.faults ? "yes" : "no",
                                 cfg.cache_size, cfg.ops->writev
                                 ? "writev" : "no writev",
                                 mt.oracle ? "on" : "off");
    g_free (err);
    err = msg;
  }
  wc_engine_free (mt.e);
  memmedia_free (mt.m);
  g_free (mt.issued);
  g_free (mt.zero_issued);
  g_free (mt.acked);
  g_free (mt.known);
  g_free (mt.floor);
  g_mutex_clear (&mt.err_lock);
  g_mutex_clear (&mt.power_lock);
  g_cond_clear (&mt.power_cond);
  return err;
}

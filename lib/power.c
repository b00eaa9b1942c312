/* Power: cuts (S8), their policies, triggers (S9) and power-on.
 *
 * A cut, with the engine lock held throughout except while waiting:
 *   1. power off and bump the epoch: new requests fail with EIO, and so do
 *      requests in flight when they finish (engine.c,
 *      inflight_end_locked);
 *   2. wait for media I/O to drain: write-backs already sent to the media
 *      complete normally and count as durable, none starts after this;
 *   3. meet the dirty blocks with the policy: survivors are written to the
 *      media here, with the lock held (nothing else runs), the rest is
 *      dropped, and the oracle learns what the media now holds;
 *   4. empty the cache.
 * Every random choice comes from one GRand seeded with the 64-bit seed and
 * consumed in block-number order, so the same seed and the same request
 * sequence give the same image, byte for byte.
 *
 * Locking: the engine lock (engine.c).  wc_power_cut, wc_power_on and
 * wc_arm_cut take it; the _locked functions expect it held.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "log.h"
#include "oracle.h"
#include "span.h"

static int
cmp_dirty_seq (gconstpointer a, gconstpointer b)
{
  const struct wc_block *x = *(struct wc_block *const *) a;
  const struct wc_block *y = *(struct wc_block *const *) b;

  return x->dirty_seq < y->dirty_seq ? -1 : x->dirty_seq > y->dirty_seq;
}

static bool
cut_valid (const struct wc_engine *e, const struct wc_cut *cut)
{
  if (!wc_policy_name (cut->policy) || !(cut->p >= 0.0 && cut->p <= 1.0))
    return false;
  if (cut->policy == WC_CUT_TORN &&
      (!wc_is_power_of_2 (cut->unit) || cut->unit < WC_ORACLE_UNIT ||
       cut->unit > e->bs))
    return false;
  return true;
}

/* Writes [from, to) of a dirty block to the media during a cut. */
static int
write_part (struct wc_engine *e, const struct wc_block *b,
            uint32_t from, uint32_t to)
{
  uint64_t offset = (b->blkno << e->shift) + from;

  to = from + wc_clamp (e->size, offset, to - from);
  if (to == from)
    return 0;                   /* wholly past the end of the disk */
  if (b->zero)
    return e->ops->zero (e->opaque, to - from, offset, false);
  return e->ops->write (e->opaque, b->data + from, to - from, offset, false);
}

/* Meets one dirty block with the policy; survived[] is per cut unit. */
static void
meet_policy (struct wc_engine *e, const struct wc_cut *cut, GRand *rng,
             struct wc_block *b, bool keep_whole, struct wc_cut_report *rep)
{
  uint32_t units = cut->policy == WC_CUT_TORN ? e->bs / cut->unit : 1;
  uint32_t ulen = e->bs / units;
  uint32_t ounits = e->bs / WC_ORACLE_UNIT;
  g_autofree bool *survived = g_new0 (bool, units);
  g_autofree bool *osurvived = NULL;
  uint32_t n = 0;
  bool failed = false;

  for (uint32_t u = 0; u < units; u++) {
    survived[u] = cut->policy == WC_CUT_TORN
      ? g_rand_double (rng) < cut->p : keep_whole;
    n += survived[u];
  }
  /* Write each run of surviving units. */
  for (uint32_t u = 0; u < units; ) {
    uint32_t v = u;

    if (!survived[u]) {
      u++;
      continue;
    }
    while (v < units && survived[v])
      v++;
    if (write_part (e, b, u * ulen, v * ulen) == -1) {
      /* The media refused this run: count its units as lost (what the
       * media holds there is its guess, not ours); other runs stand. */
      failed = true;
      for (uint32_t w = u; w < v; w++)
        survived[w] = false;
      n -= v - u;
    }
    u = v;
  }

  if (failed) {
    rep->errors++;
    e->st.media_errors++;
  }
  WC_DEBUG (e, "cut blk=%" PRIu64 " %s: %" PRIu32 "/%" PRIu32
            " units reached the media%s", b->blkno, wc_bstate_name (b->state),
            n, units, failed ? " (media error)" : "");
  if (n == 0)
    rep->lost++;
  else if (n == units)
    rep->kept++;
  else
    rep->torn++;

  if (e->oracle) {
    osurvived = g_new (bool, ounits);
    for (uint32_t o = 0; o < ounits; o++)
      osurvived[o] = survived[o * WC_ORACLE_UNIT / ulen];
    wc_oracle_cut (e->oracle, b->blkno, osurvived);
  }
}

/* S10 after a cut: exactly what the cut wrote, and within the contract
 * per unit of the cut.  The media is drained and the power off. */
static void
verify_cut_locked (struct wc_engine *e, struct wc_cut_report *rep)
{
  struct wc_verify_report vr;

  WC_LOCK_HELD (e);
  if (wc_oracle_check (e->oracle, e->size, WC_VERIFY_EXACT, WC_ORACLE_UNIT,
                       e->ops->read, e->opaque, &vr) == -1) {
    rep->verify_errno = errno;
    return;
  }
  rep->exact_violations = vr.violations;
  rep->first_bad_offset = vr.first_bad_offset;
  if (wc_oracle_check (e->oracle, e->size, WC_VERIFY_CONTRACT, rep->unit,
                       e->ops->read, e->opaque, &vr) == -1) {
    rep->verify_errno = errno;
    return;
  }
  rep->contract_violations = vr.violations;
  if (rep->exact_violations == 0)
    rep->first_bad_offset = vr.first_bad_offset;
  rep->verified_blocks = vr.blocks;
  rep->verified = true;
  WC_DEBUG (e, "cut: oracle checked %" PRIu64 " blocks: %" PRIu64
            " units differ from what the cut wrote, %" PRIu64
            " break S10", vr.blocks, rep->exact_violations,
            rep->contract_violations);
}

void
wc_cut_locked (struct wc_engine *e, const struct wc_cut *cut,
               struct wc_cut_report *rep)
{
  g_autoptr (GPtrArray) dirty = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer value;
  guint32 seed32[2];
  uint64_t seed, threshold = 0;
  GRand *rng;

  WC_LOCK_HELD (e);
  g_assert (!e->cutting);
  /* 1. */
  e->cutting = true;
  e->powered = false;
  __atomic_add_fetch (&e->epoch, 1, __ATOMIC_RELEASE);   /* see wc_epoch */
  e->armed = WC_TRIGGER_NONE;
  e->armed_mark[0] = '\0';
  pthread_cond_broadcast (&e->cond);
  pthread_cond_broadcast (&e->timer_cond);
  /* 2. */
  while (e->media_inflight > 0)
    wc_wait (e, &e->cond);

  /* 3.  With the media drained, no block is LOADING (its reader removes it
   * when the read returns) or WRITEBACK (completed when the write returns). */
  seed = cut->seed_set ? cut->seed
    : ((uint64_t) g_random_int () << 32) | g_random_int ();
  seed32[0] = seed & 0xffffffff;
  seed32[1] = seed >> 32;
  rng = g_rand_new_with_seed_array (seed32, 2);

  memset (rep, 0, sizeof *rep);
  rep->policy = cut->policy;
  rep->seed = seed;
  rep->unit = cut->policy == WC_CUT_TORN ? cut->unit : e->bs;

  g_hash_table_iter_init (&iter, e->blocks);
  while (g_hash_table_iter_next (&iter, NULL, &value)) {
    struct wc_block *b = value;
    g_assert (b->state == WC_B_DIRTY);
    g_ptr_array_add (dirty, b);
  }
  rep->dirty = dirty->len;
  if (e->oracle)
    wc_oracle_begin_cut (e->oracle);
  WC_DEBUG (e, "cut: policy=%s seed=%" PRIu64 " dirty=%u",
            wc_policy_name (cut->policy), seed, dirty->len);

  if (cut->policy == WC_CUT_ORDERED && dirty->len > 0) {
    /* A FIFO destager got through the first k blocks it dirtied. */
    guint k;

    g_ptr_array_sort (dirty, cmp_dirty_seq);
    k = g_rand_int_range (rng, 0, dirty->len + 1);
    threshold = k == 0 ? 0 : ((struct wc_block *) dirty->pdata[k - 1])->dirty_seq;
  }
  g_ptr_array_sort (dirty, wc_block_cmp_blkno);

  for (guint i = 0; i < dirty->len; i++) {
    struct wc_block *b = dirty->pdata[i];
    bool keep = false;

    switch (cut->policy) {
    case WC_CUT_LOSE: keep = false; break;
    case WC_CUT_KEEP: keep = true; break;
    case WC_CUT_RANDOM: keep = g_rand_double (rng) < cut->p; break;
    case WC_CUT_ORDERED: keep = b->dirty_seq <= threshold; break;
    case WC_CUT_TORN: break;  /* decided per unit */
    }
    meet_policy (e, cut, rng, b, keep, rep);
  }
  g_rand_free (rng);
  /* Survivors are on the media; flush it, as a disk's last act with its
   * reserve power would, so the image outlives a host crash too. */
  if (rep->kept + rep->torn > 0 && e->ops->flush (e->opaque) == -1) {
    rep->errors++;
    e->st.media_errors++;
  }

  /* The oracle checks the media now, while nothing else can touch it: a
   * check after the lock is dropped could race a power-on and new writes
   * and report violations that are not the cut's. */
  if (e->oracle)
    verify_cut_locked (e, rep);

  /* 4. */
  for (guint i = 0; i < dirty->len; i++)
    wc_block_remove_locked (e, dirty->pdata[i]);
  g_assert (e->nr_blocks == 0 && g_queue_is_empty (&e->fifo));

  e->st.cuts++;
  e->st.have_last_cut = true;
  e->st.last_cut = *rep;
  /* The log's last entry names the cut; a new log starts after power-on. */
  wc_log_cut_locked (e, rep);
  e->cutting = false;
  pthread_cond_broadcast (&e->cond);
}

int
wc_power_cut (struct wc_engine *e, const struct wc_cut *cut,
              struct wc_cut_report *report)
{
  struct wc_cut_report rep;

  if (!cut_valid (e, cut)) {
    errno = EINVAL;
    return -1;
  }
  wc_lock (e);
  while (e->cutting)
    wc_wait (e, &e->cond);
  if (!e->powered) {
    wc_unlock (e);
    errno = EIO;
    return -1;
  }
  wc_cut_locked (e, cut, &rep);
  wc_unlock (e);
  if (e->on_cut)
    e->on_cut (e->opaque, &rep);
  if (report)
    *report = rep;
  return 0;
}

int
wc_power_on (struct wc_engine *e)
{
  wc_lock (e);
  /* A cut in progress finishes first: power-on must not let new writes in
   * before the cut has met the old dirty data. */
  while (e->cutting)
    wc_wait (e, &e->cond);
  e->powered = true;
  pthread_cond_broadcast (&e->cond);
  wc_unlock (e);
  if (e->on_power_on)
    e->on_power_on (e->opaque);
  return 0;
}

const char *
wc_trigger_name (enum wc_trigger trigger)
{
  switch (trigger) {
  case WC_TRIGGER_NONE: return "none";
  case WC_TRIGGER_WRITES: return "writes";
  case WC_TRIGGER_FLUSHES: return "flushes";
  case WC_TRIGGER_BYTES: return "bytes";
  case WC_TRIGGER_MS: return "ms";
  case WC_TRIGGER_MARK: return "mark";
  }
  return NULL;
}

static uint64_t
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The value the armed_at of a count trigger is compared with. */
static uint64_t
trigger_counter_locked (struct wc_engine *e, enum wc_trigger kind)
{
  WC_LOCK_HELD (e);
  switch (kind) {
  case WC_TRIGGER_NONE: return 0;
  case WC_TRIGGER_WRITES: return e->st.writes + e->st.zeroes + e->st.trims;
  case WC_TRIGGER_FLUSHES: return e->st.flushes;
  case WC_TRIGGER_BYTES: return e->st.bytes_written;
  case WC_TRIGGER_MS: return now_ns ();
  case WC_TRIGGER_MARK: return 0;
  }
  return 0;
}

bool
wc_trigger_due_locked (struct wc_engine *e, enum wc_trigger kind,
                       struct wc_cut *cut)
{
  WC_LOCK_HELD (e);
  if (e->armed == WC_TRIGGER_NONE || e->armed != kind ||
      trigger_counter_locked (e, kind) < e->armed_at)
    return false;
  *cut = e->armed_cut;
  e->armed = WC_TRIGGER_NONE;
  return true;
}

uint64_t
wc_trigger_remaining_locked (struct wc_engine *e)
{
  uint64_t now;

  WC_LOCK_HELD (e);
  switch (e->armed) {
  case WC_TRIGGER_NONE:
  case WC_TRIGGER_MARK:
    return 0;
  case WC_TRIGGER_WRITES:
  case WC_TRIGGER_FLUSHES:
  case WC_TRIGGER_BYTES:
  case WC_TRIGGER_MS:
    break;
  }
  now = trigger_counter_locked (e, e->armed);
  if (now >= e->armed_at)
    return 0;
  if (e->armed == WC_TRIGGER_MS)
    return (e->armed_at - now + 999999) / 1000000;
  return e->armed_at - now;
}

/* The timer thread: fires WC_TRIGGER_MS cuts.  It sleeps on timer_cond
 * (CLOCK_MONOTONIC) until the deadline or a re-arm, and runs the cut as any
 * other caller would, with on_cut after the lock is dropped. */
static void *
timer_main (void *arg)
{
  struct wc_engine *e = arg;

  wc_lock (e);
  while (!e->stopping) {
    struct wc_cut cut;
    struct wc_cut_report rep;

    if (e->armed != WC_TRIGGER_MS) {
      wc_wait (e, &e->timer_cond);
      continue;
    }
    if (!wc_trigger_due_locked (e, WC_TRIGGER_MS, &cut)) {
      struct timespec ts = {
        .tv_sec = e->armed_at / 1000000000,
        .tv_nsec = e->armed_at % 1000000000,
      };
      wc_timedwait (e, &e->timer_cond, &ts);
      continue;
    }
    if (!e->powered)
      continue;                 /* nothing to cut */
    wc_cut_locked (e, &cut, &rep);
    wc_unlock (e);
    if (e->on_cut)
      e->on_cut (e->opaque, &rep);
    wc_lock (e);
  }
  wc_unlock (e);
  return NULL;
}

void
wc_timer_stop (struct wc_engine *e)
{
  bool running;

  wc_lock (e);
  e->stopping = true;
  running = e->timer_running;
  pthread_cond_broadcast (&e->timer_cond);
  wc_unlock (e);
  if (running)
    pthread_join (e->timer, NULL);
}

int
wc_arm_cut (struct wc_engine *e, const struct wc_cut *cut,
            enum wc_trigger trigger, uint64_t n)
{
  uint64_t at;
  int err;

  if (trigger == WC_TRIGGER_NONE) {
    wc_lock (e);
    e->armed = WC_TRIGGER_NONE;
    e->armed_mark[0] = '\0';
    pthread_cond_broadcast (&e->timer_cond);
    wc_unlock (e);
    return 0;
  }
  if ((trigger != WC_TRIGGER_WRITES && trigger != WC_TRIGGER_FLUSHES &&
       trigger != WC_TRIGGER_BYTES && trigger != WC_TRIGGER_MS) ||
      n == 0 || !cut || !cut_valid (e, cut) ||
      (trigger == WC_TRIGGER_MS && n > UINT64_MAX / 2000000)) {
    errno = EINVAL;
    return -1;
  }
  wc_lock (e);
  if (trigger == WC_TRIGGER_MS && !e->timer_running) {
    err = pthread_create (&e->timer, NULL, timer_main, e);
    if (err) {
      wc_unlock (e);
      errno = err;
      return -1;
    }
    e->timer_running = true;
  }
  if (trigger == WC_TRIGGER_MS)
    at = now_ns () + n * 1000000;
  else if (__builtin_add_overflow (trigger_counter_locked (e, trigger), n,
                                   &at))
    at = UINT64_MAX;
  e->armed = trigger;
  e->armed_at = at;
  e->armed_cut = *cut;
  e->armed_mark[0] = '\0';
  pthread_cond_broadcast (&e->timer_cond);
  wc_unlock (e);
  return 0;
}

int
wc_arm_cut_at_mark (struct wc_engine *e, const struct wc_cut *cut,
                    const char *name)
{
  size_t len = name ? strlen (name) : 0;

  if (!cut || !cut_valid (e, cut) || len == 0 || len > WC_MARK_NAME_MAX) {
    errno = EINVAL;
    return -1;
  }
  wc_lock (e);
  e->armed = WC_TRIGGER_MARK;
  e->armed_cut = *cut;
  memcpy (e->armed_mark, name, len + 1);
  pthread_cond_broadcast (&e->timer_cond);
  wc_unlock (e);
  return 0;
}

int
wc_mark (struct wc_engine *e, const char *text)
{
  struct wc_cut cut;
  struct wc_cut_report rep;
  bool fire = false;

  wc_lock (e);
  if (!e->powered) {
    wc_unlock (e);
    errno = EIO;
    return -1;
  }
  if (e->log_on) {
    /* A mark is one log sector: a longer one is refused, not cut short. */
    if (strlen (text) > wc_wlog_mark_max (e->log)) {
      wc_unlock (e);
      errno = EINVAL;
      return -1;
    }
    wc_wlog_mark (e->log, text);
    wc_log_kick_locked (e, e->log);
  }
  e->st.marks++;
  WC_DEBUG (e, "mark %s", text);
  if (e->armed == WC_TRIGGER_MARK && strcmp (e->armed_mark, text) == 0) {
    cut = e->armed_cut;
    e->armed = WC_TRIGGER_NONE;
    wc_cut_locked (e, &cut, &rep);
    fire = true;
  }
  wc_unlock (e);
  if (fire && e->on_cut)
    e->on_cut (e->opaque, &rep);
  return 0;
}

/* Lock-free: frontends call it on every request. */
uint64_t
wc_epoch (struct wc_engine *e)
{
  return __atomic_load_n (&e->epoch, __ATOMIC_ACQUIRE);
}

/* Engine tests for S8 of wcache(7): power cuts, their policies and
 * seeds, requests in flight across a cut, and power-on. */
#include <config.h>

#include <errno.h>
#include <string.h>

#include "engine-tests.h"

static void
test_S8_lose (void)
{
  struct fx f;
  struct wc_cut cut = mkcut (WC_CUT_LOSE, 1);
  struct wc_cut_report rep;
  uint8_t buf[BS];

  fx_init (&f, WC_MODE_WRITEBACK, 1 << 20, true);
  put (f.e, 1, 0x11, 0);
  g_assert_cmpint (wc_flush (f.e, 0), ==, 0);
  put (f.e, 1, 0x12, 0);        /* an unflushed rewrite */
  put (f.e, 2, 0x22, 0);
  put (f.e, 3, 0x33, WC_FUA);
  g_assert_cmpint (wc_power_cut (f.e, &cut, &rep), ==, 0);
  g_assert_cmpuint (rep.dirty, ==, 2);
  g_assert_cmpuint (rep.lost, ==, 2);
  g_assert_cmpuint (rep.kept, ==, 0);
  g_assert_false (wc_powered (f.e));
  /* Every request fails while the power is off. */
  g_assert_cmpint (wc_read (f.e, buf, BS, 0), ==, -1);
  g_assert_cmpint (errno, ==, EIO);
  g_assert_cmpint (wc_write (f.e, buf, BS, 0, 0), ==, -1);
  g_assert_cmpint (errno, ==, EIO);
  g_assert_cmpint (wc_flush (f.e, 0), ==, -1);
  g_assert_cmpint (errno, ==, EIO);
  g_assert_cmpint (wc_power_cut (f.e, &cut, NULL), ==, -1);
  assert_oracle_clean (f.e, BS);
  g_assert_cmpint (wc_power_on (f.e), ==, 0);
  g_assert_true (reads_as (f.e, 1, 0x11));
  g_assert_true (reads_as (f.e, 2, 0));
  g_assert_true (reads_as (f.e, 3, 0x33));
  assert_oracle_clean (f.e, BS);        /* still checkable after power-on */
  /* The disk works again. */
  put (f.e, 2, 0x24, 0);
  g_assert_cmpint (wc_flush (f.e, 0), ==, 0);
  g_assert_true (media_is (f.m, 2, 0x24));
  assert_oracle_clean (f.e, BS);
  fx_fini (&f);
}

static void
test_S8_keep (void)
{
  struct fx f;
  struct wc_cut cut = mkcut (WC_CUT_KEEP, 1);
  struct wc_cut_report rep;

  fx_init (&f, WC_MODE_WRITEBACK, 1 << 20, true);
  put (f.e, 1, 0x11, 0);
  g_assert_cmpint (wc_zero (f.e, BS, 2 * BS, 0), ==, 0);
  memset (f.m->buf + 2 * BS, 0xee, BS);        /* so the zero shows */
  g_assert_cmpint (wc_power_cut (f.e, &cut, &rep), ==, 0);
  g_assert_cmpuint (rep.kept, ==, 2);
  g_assert_true (media_is (f.m, 1, 0x11));
  g_assert_true (media_is (f.m, 2, 0));
  fx_fini (&f);
}

/* Runs one fixed request sequence and a cut; returns the media image. */
static uint8_t *
seeded_run (struct wc_cut cut, struct wc_cut_report *rep, uint32_t unit)
{
  struct fx f;
  uint8_t *image;

  fx_init (&f, WC_MODE_WRITEBACK, 1 << 20, true);
  for (unsigned i = 0; i < 64; i++)
    put (f.e, (i * 37) % 64, 0x80 + i, 0);      /* old content */
  g_assert_cmpint (wc_flush (f.e, 0), ==, 0);
  for (unsigned i = 0; i < 64; i++)
    put (f.e, (i * 37) % 64, 0x10 + i, 0);      /* dirtied in this order */
  g_assert_cmpint (wc_power_cut (f.e, &cut, rep), ==, 0);
  assert_oracle_clean (f.e, unit);
  image = g_memdup2 (f.m->buf, DISK);
  fx_fini (&f);
  return image;
}

static void
test_S8_random_reproducible (void)
{
  struct wc_cut cut = mkcut (WC_CUT_RANDOM, 42);
  struct wc_cut_report r1, r2, r3;
  g_autofree uint8_t *a = seeded_run (cut, &r1, BS);
  g_autofree uint8_t *b = seeded_run (cut, &r2, BS);
  g_autofree uint8_t *c = NULL;

  g_assert_cmpmem (a, DISK, b, DISK);
  g_assert_cmpuint (r1.dirty, ==, 64);
  g_assert_cmpuint (r1.kept + r1.lost, ==, 64);
  g_assert_cmpuint (r1.kept, >, 0);
  g_assert_cmpuint (r1.lost, >, 0);
  g_assert_cmpuint (r1.seed, ==, 42);
  cut.seed = 43;
  c = seeded_run (cut, &r3, BS);
  g_assert_true (memcmp (a, c, DISK) != 0);
  /* p = 1 keeps all, p = 0 loses all. */
  cut.p = 1.0;
  g_free (seeded_run (cut, &r3, BS));
  g_assert_cmpuint (r3.kept, ==, 64);
  cut.p = 0.0;
  g_free (seeded_run (cut, &r3, BS));
  g_assert_cmpuint (r3.lost, ==, 64);
}

static void
test_S8_seed_reported (void)
{
  struct wc_cut cut;
  struct wc_cut_report r1, r2;
  g_autofree uint8_t *a = NULL, *b = NULL;

  wc_cut_init (&cut);
  cut.policy = WC_CUT_RANDOM;   /* no seed: the engine picks one */
  a = seeded_run (cut, &r1, BS);
  cut.seed = r1.seed;
  cut.seed_set = true;
  b = seeded_run (cut, &r2, BS);
  g_assert_cmpmem (a, DISK, b, DISK);
}

static void
test_S8_ordered_prefix (void)
{
  struct wc_cut cut = mkcut (WC_CUT_ORDERED, 7);
  struct wc_cut_report rep;
  g_autofree uint8_t *img = seeded_run (cut, &rep, BS);
  bool lost_seen = false;

  g_assert_cmpuint (rep.kept, >, 0);
  g_assert_cmpuint (rep.lost, >, 0);
  /* In dirtying order, survivors then losses, never a survivor after a
   * loss. */
  for (unsigned i = 0; i < 64; i++) {
    uint64_t blk = (i * 37) % 64;
    bool kept = all_bytes (img + blk * BS, BS, 0x10 + i);

    g_assert_true (kept || all_bytes (img + blk * BS, BS, 0x80 + i));
    if (!kept)
      lost_seen = true;
    else
      g_assert_false (lost_seen);
  }
}

/* S8 ordered: blocks survive in the order they were first dirtied, each
 * with its newest content: after A=1, B=2, A=3 the outcomes are nothing,
 * A=3 alone, or A=3 and B=2 -- a coalescing FIFO destager, so A=3 can
 * survive without B=2 (not a prefix of the writes), and B never survives
 * without A. */
static void
test_S8_ordered_coalesces_rewrites (void)
{
  unsigned outcomes[3] = { 0 };

  for (uint64_t seed = 0; seed < 64; seed++) {
    struct fx f;
    struct wc_cut cut = mkcut (WC_CUT_ORDERED, seed);

    fx_init (&f, WC_MODE_WRITEBACK, 1 << 20, true);
    put (f.e, 0, 0x01, 0);          /* A=1 */
    put (f.e, 5, 0x02, 0);          /* B=2 */
    put (f.e, 0, 0x03, 0);          /* A=3 */
    g_assert_cmpint (wc_power_cut (f.e, &cut, NULL), ==, 0);
    if (media_is (f.m, 0, 0) && media_is (f.m, 5, 0))
      outcomes[0]++;
    else if (media_is (f.m, 0, 0x03) && media_is (f.m, 5, 0))
      outcomes[1]++;
    else if (media_is (f.m, 0, 0x03) && media_is (f.m, 5, 0x02))
      outcomes[2]++;
    else
      g_assert_not_reached ();      /* A=1, or B without A */
    assert_oracle_clean (f.e, BS);
    fx_fini (&f);
  }
  g_assert_cmpuint (outcomes[0], >, 0);
  g_assert_cmpuint (outcomes[1], >, 0);     /* A=3 without B=2 */
  g_assert_cmpuint (outcomes[2], >, 0);
}

static void
torn_check (uint32_t unit)
{
  struct wc_cut cut = mkcut (WC_CUT_TORN, 9);
  struct wc_cut_report rep;
  g_autofree uint8_t *img = NULL;

  cut.unit = unit;
  img = seeded_run (cut, &rep, unit);
  g_assert_cmpuint (rep.torn, >, 0);
  g_assert_cmpuint (rep.kept + rep.lost + rep.torn, ==, 64);
  for (unsigned i = 0; i < 64; i++) {
    uint64_t blk = (i * 37) % 64;

    /* Each atomic unit is wholly old or wholly new. */
    for (uint32_t u = 0; u < BS; u += unit) {
      const uint8_t *p = img + blk * BS + u;
      g_assert_true (all_bytes (p, unit, 0x10 + i) ||
                     all_bytes (p, unit, 0x80 + i));
    }
  }
}

static void
test_S8_torn_units (void)
{
  torn_check (512);
  torn_check (2048);
}

static gpointer
reader (gpointer arg)
{
  struct wc_engine *e = arg;
  uint8_t buf[BS];
  int rv = wc_read (e, buf, BS, 50 * BS);

  return GINT_TO_POINTER (rv == -1 ? errno : 0);
}

static gpointer
cutter (gpointer arg)
{
  struct wc_engine *e = arg;
  struct wc_cut cut = mkcut (WC_CUT_LOSE, 1);

  return GINT_TO_POINTER (wc_power_cut (e, &cut, NULL));
}

/* A request in flight when the power is cut fails with EIO, and the cut
 * waits for its media I/O before meeting the dirty data. */
static void
test_S8_inflight_fails_eio (void)
{
  struct fx f;
  struct gate in;
  GThread *tr, *tc;

  fx_init (&f, WC_MODE_WRITEBACK, 1 << 20, false);
  gate_init (&in);
  f.m->hook = gate_read_hook;
  f.m->hook_arg = &in;
  tr = g_thread_new ("reader", reader, f.e);
  gate_wait_held (&in);
  tc = g_thread_new ("cutter", cutter, f.e);
  /* The power goes off at once; the cut then waits for the read. */
  while (wc_powered (f.e))
    g_thread_yield ();
  gate_release (&in);
  g_assert_cmpint (GPOINTER_TO_INT (g_thread_join (tr)), ==, EIO);
  g_assert_cmpint (GPOINTER_TO_INT (g_thread_join (tc)), ==, 0);
  f.m->hook = NULL;
  gate_clear (&in);
  fx_fini (&f);
}

static void
test_epoch (void)
{
  struct fx f;
  struct wc_cut cut = mkcut (WC_CUT_LOSE, 1);

  fx_init (&f, WC_MODE_WRITEBACK, 1 << 20, false);
  g_assert_cmpuint (wc_epoch (f.e), ==, 0);
  g_assert_cmpint (wc_power_cut (f.e, &cut, NULL), ==, 0);
  g_assert_cmpint (wc_power_on (f.e), ==, 0);
  g_assert_cmpuint (wc_epoch (f.e), ==, 1);
  g_assert_cmpstr (wc_trigger_name (WC_TRIGGER_MS), ==, "ms");
  fx_fini (&f);
}

static gpointer
flusher (gpointer arg)
{
  return GINT_TO_POINTER (wc_flush (arg, 0));
}

/* Returns the cuts completed when wc_power_on returned (1 + cuts). */
static gpointer
powerer (gpointer arg)
{
  g_assert_cmpint (wc_power_on (arg), ==, 0);
  return GINT_TO_POINTER (1 + (int) stats (arg).cuts);
}

/* S8: power-on while a cut waits for the media waits for the cut, so the
 * cut never meets (and drops) writes made after power-on. */
static void
test_S8_power_on_waits_for_cut (void)
{
  struct fx f;
  struct gate sm;
  GThread *tf, *tc, *tp;

  fx_init (&f, WC_MODE_WRITEBACK, 1 << 20, true);
  gate_init (&sm);
  put (f.e, 1, 0x11, 0);
  f.m->hook = gate_write_hook;  /* holds the first write-back */
  f.m->hook_arg = &sm;
  tf = g_thread_new ("flusher", flusher, f.e);  /* blocks in the media */
  gate_wait_held (&sm);
  tc = g_thread_new ("cutter", cutter, f.e);    /* waits for the media */
  while (wc_powered (f.e))
    g_thread_yield ();
  tp = g_thread_new ("power-on", powerer, f.e); /* must wait for the cut */
  gate_release (&sm);
  g_assert_cmpint (GPOINTER_TO_INT (g_thread_join (tc)), ==, 0);
  /* Power-on returned only once the cut had completed. */
  g_assert_cmpint (GPOINTER_TO_INT (g_thread_join (tp)), ==, 1 + 1);
  g_thread_join (tf);           /* EIO or 0: it raced the cut */
  f.m->hook = NULL;
  g_assert_true (wc_powered (f.e));
  put (f.e, 2, 0x22, 0);        /* after power-on: must stay cached */
  g_assert_true (reads_as (f.e, 2, 0x22));
  g_assert_cmpuint (stats (f.e).cached_blocks, ==, 1);
  gate_clear (&sm);
  fx_fini (&f);
}

void
engine_tests_S8 (void)
{
  g_test_add_func ("/engine/S8/lose", test_S8_lose);
  g_test_add_func ("/engine/S8/keep", test_S8_keep);
  g_test_add_func ("/engine/S8/random-reproducible",
                   test_S8_random_reproducible);
  g_test_add_func ("/engine/S8/seed-reported", test_S8_seed_reported);
  g_test_add_func ("/engine/S8/ordered-prefix", test_S8_ordered_prefix);
  g_test_add_func ("/engine/S8/ordered-coalesces-rewrites",
                   test_S8_ordered_coalesces_rewrites);
  g_test_add_func ("/engine/S8/torn-units", test_S8_torn_units);
  g_test_add_func ("/engine/S8/inflight-fails-eio",
                   test_S8_inflight_fails_eio);
  g_test_add_func ("/engine/S8/epoch", test_epoch);
  g_test_add_func ("/engine/S8/power-on-waits-for-cut",
                   test_S8_power_on_waits_for_cut);
}

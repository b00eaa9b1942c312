/* Engine tests for S9 of wcache(7): cuts armed to fire after writes,
 * flushes, bytes, milliseconds or at a mark. */
#include <config.h>

#include <errno.h>
#include <string.h>

#include "engine-tests.h"

static unsigned on_cut_calls;
static struct wc_cut_report on_cut_last;

static void
record_cut (void *opaque, const struct wc_cut_report *rep)
{
  on_cut_calls++;
  on_cut_last = *rep;
}

static struct wc_engine *
engine_recording (struct memmedia *m)
{
  struct wc_config cfg;

  memmedia_config (m, &cfg);
  cfg.on_cut = record_cut;
  on_cut_calls = 0;
  return wc_engine_new (&cfg);
}

static void
test_S9_after_writes (void)
{
  struct memmedia *m = memmedia_new (DISK);
  struct wc_engine *e = engine_recording (m);
  struct wc_cut cut = mkcut (WC_CUT_LOSE, 1);
  uint8_t buf[BS] = { 0 };

  g_assert_cmpint (wc_arm_cut (e, &cut, WC_TRIGGER_WRITES, 3), ==, 0);
  g_assert_cmpuint (stats (e).armed_remaining, ==, 3);
  put (e, 1, 0x11, 0);
  g_assert_cmpint (wc_flush (e, 0), ==, 0);
  g_assert_cmpint (wc_zero (e, BS, 2 * BS, 0), ==, 0);   /* zero counts */
  g_assert_cmpuint (stats (e).armed_remaining, ==, 1);
  put (e, 3, 0x33, 0);          /* the 3rd: acknowledged, then the cut */
  g_assert_cmpuint (on_cut_calls, ==, 1);
  g_assert_cmpuint (on_cut_last.dirty, ==, 2);
  g_assert_false (wc_powered (e));
  g_assert_cmpint (wc_write (e, buf, BS, 0, 0), ==, -1);
  g_assert_cmpint (errno, ==, EIO);
  g_assert_cmpint (wc_power_on (e), ==, 0);
  g_assert_true (reads_as (e, 1, 0x11));
  g_assert_true (reads_as (e, 3, 0));
  g_assert_cmpint (stats (e).armed, ==, WC_TRIGGER_NONE);
  wc_engine_free (e);
  memmedia_free (m);
}

static void
test_S9_after_flushes_and_bytes (void)
{
  struct memmedia *m = memmedia_new (DISK);
  struct wc_engine *e = engine_recording (m);
  struct wc_cut cut = mkcut (WC_CUT_LOSE, 1);

  g_assert_cmpint (wc_arm_cut (e, &cut, WC_TRIGGER_FLUSHES, 2), ==, 0);
  put (e, 1, 0x11, 0);
  g_assert_cmpint (wc_flush (e, 0), ==, 0);
  put (e, 2, 0x22, 0);
  g_assert_cmpint (wc_flush (e, 0), ==, 0);        /* acknowledged, then cut */
  g_assert_cmpuint (on_cut_calls, ==, 1);
  g_assert_true (media_is (m, 2, 0x22));
  g_assert_cmpint (wc_power_on (e), ==, 0);

  g_assert_cmpint (wc_arm_cut (e, &cut, WC_TRIGGER_BYTES, 2 * BS + 1), ==, 0);
  put (e, 5, 0x55, 0);
  put (e, 6, 0x66, 0);
  g_assert_true (wc_powered (e));
  put (e, 7, 0x77, 0);
  g_assert_false (wc_powered (e));
  g_assert_cmpuint (on_cut_calls, ==, 2);
  g_assert_cmpuint (on_cut_last.lost, ==, 3);
  /* Disarming works. */
  g_assert_cmpint (wc_power_on (e), ==, 0);
  g_assert_cmpint (wc_arm_cut (e, &cut, WC_TRIGGER_WRITES, 1), ==, 0);
  g_assert_cmpint (wc_arm_cut (e, NULL, WC_TRIGGER_NONE, 0), ==, 0);
  put (e, 5, 0x55, 0);
  g_assert_true (wc_powered (e));
  wc_engine_free (e);
  memmedia_free (m);
}

/* S9 at a mark: the cut happens inside wc_mark, only for the armed name. */
static void
test_S9_at_mark (void)
{
  struct memmedia *m = memmedia_new (DISK);
  struct wc_engine *e = engine_recording (m);
  struct wc_cut cut = mkcut (WC_CUT_KEEP, 1);
  struct wc_stats st;

  g_assert_cmpint (wc_arm_cut_at_mark (e, &cut, ""), ==, -1);
  g_assert_cmpint (wc_arm_cut_at_mark (e, &cut, "commit-2"), ==, 0);
  st = stats (e);
  g_assert_cmpint (st.armed, ==, WC_TRIGGER_MARK);
  g_assert_cmpstr (st.armed_mark, ==, "commit-2");
  put (e, 1, 0x11, 0);
  g_assert_cmpint (wc_mark (e, "commit-1"), ==, 0);
  g_assert_true (wc_powered (e));
  g_assert_cmpint (wc_mark (e, "commit-2"), ==, 0);
  g_assert_false (wc_powered (e));              /* before wc_mark returned */
  g_assert_cmpuint (on_cut_calls, ==, 1);
  g_assert_true (media_is (m, 1, 0x11));        /* policy keep */
  g_assert_cmpint (wc_mark (e, "commit-3"), ==, -1);
  g_assert_cmpint (errno, ==, EIO);
  g_assert_cmpuint (stats (e).marks, ==, 2);
  wc_engine_free (e);
  memmedia_free (m);
}

/* S9 after N ms: the timer thread cuts; on_cut tells the test. */
static GMutex timer_lock;
static GCond timer_cond;
static gint64 timer_fired_at;

static void
timer_cut (void *opaque, const struct wc_cut_report *rep)
{
  g_mutex_lock (&timer_lock);
  timer_fired_at = g_get_monotonic_time ();
  g_cond_signal (&timer_cond);
  g_mutex_unlock (&timer_lock);
}

static void
test_S9_after_ms (void)
{
  struct memmedia *m = memmedia_new (DISK);
  struct wc_config cfg;
  struct wc_engine *e;
  struct wc_cut cut = mkcut (WC_CUT_LOSE, 1);
  gint64 armed, deadline;

  memmedia_config (m, &cfg);
  cfg.on_cut = timer_cut;
  e = wc_engine_new (&cfg);
  put (e, 2, 0x22, 0);
  timer_fired_at = 0;
  /* A long timer, re-armed shorter: the second arm replaces the first. */
  g_assert_cmpint (wc_arm_cut (e, &cut, WC_TRIGGER_MS, 60000), ==, 0);
  g_assert_cmpuint (stats (e).armed_remaining, >, 59000);
  armed = g_get_monotonic_time ();
  g_assert_cmpint (wc_arm_cut (e, &cut, WC_TRIGGER_MS, 50), ==, 0);
  g_mutex_lock (&timer_lock);
  deadline = g_get_monotonic_time () + 10 * G_TIME_SPAN_SECOND;
  while (timer_fired_at == 0)
    g_assert_true (g_cond_wait_until (&timer_cond, &timer_lock, deadline));
  g_mutex_unlock (&timer_lock);
  g_assert_cmpint (timer_fired_at - armed, >=, 50 * 1000);
  g_assert_false (wc_powered (e));
  g_assert_true (media_is (m, 2, 0));
  /* Disarming a timer stops it; freeing the engine joins the thread. */
  g_assert_cmpint (wc_power_on (e), ==, 0);
  g_assert_cmpint (wc_arm_cut (e, &cut, WC_TRIGGER_MS, 30000), ==, 0);
  g_assert_cmpint (wc_arm_cut (e, NULL, WC_TRIGGER_NONE, 0), ==, 0);
  g_assert_cmpint (stats (e).armed, ==, WC_TRIGGER_NONE);
  wc_engine_free (e);
  memmedia_free (m);
}

void
engine_tests_S9 (void)
{
  g_test_add_func ("/engine/S9/after-writes", test_S9_after_writes);
  g_test_add_func ("/engine/S9/after-flushes-and-bytes",
                   test_S9_after_flushes_and_bytes);
  g_test_add_func ("/engine/S9/at-mark", test_S9_at_mark);
  g_test_add_func ("/engine/S9/after-ms", test_S9_after_ms);
}

/* Unit tests for the engine, one rule per test, named after the rules
 * S1..S10 of wcache(7).  The media is in memory (memmedia.c) so each test
 * can look at the durable state on both sides of every durability
 * boundary.  This file holds the tests of no one rule (names, bad input,
 * debug lines) and main, which registers the rest, file by file, in rule
 * order; the fixture is in engine-tests.c. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "engine-tests.h"

static void
test_mode_names (void)
{
  enum wc_mode m;
  enum wc_policy p;

  for (int i = 0; i < WC_MODE_COUNT; i++) {
    g_assert_cmpint (wc_mode_parse (wc_mode_name (i), &m), ==, 0);
    g_assert_cmpint (m, ==, i);
  }
  g_assert_cmpint (wc_mode_parse ("write-back", &m), ==, -1);
  g_assert_cmpint (errno, ==, EINVAL);
  g_assert_cmpstr (wc_mode_cache_type (WC_MODE_WRITEBACK), ==, "write back");
  g_assert_cmpstr (wc_mode_cache_type (WC_MODE_NONE), ==, "write back");
  g_assert_cmpstr (wc_mode_cache_type (WC_MODE_UNSAFE), ==, "write back");
  g_assert_cmpstr (wc_mode_cache_type (WC_MODE_WRITETHROUGH), ==,
                   "write through");
  g_assert_cmpstr (wc_mode_cache_type (WC_MODE_DIRECTSYNC), ==,
                   "write through");
  g_assert_cmpint (wc_mode_host_flags (WC_MODE_DIRECTSYNC), ==,
                   O_DIRECT | O_DSYNC);
  for (int i = 0; i < WC_POLICY_COUNT; i++) {
    g_assert_cmpint (wc_policy_parse (wc_policy_name (i), &p), ==, 0);
    g_assert_cmpint (p, ==, i);
  }
  g_assert_cmpint (wc_policy_parse ("drop", &p), ==, -1);
}

static void
test_bad_config (void)
{
  struct memmedia *m = memmedia_new (DISK);
  struct wc_config cfg;

  memmedia_config (m, &cfg);
  cfg.block_size = 1000;
  g_assert_null (wc_engine_new (&cfg));
  g_assert_cmpint (errno, ==, EINVAL);
  cfg.block_size = 256;
  g_assert_null (wc_engine_new (&cfg));
  cfg.block_size = 128 * 1024;
  g_assert_null (wc_engine_new (&cfg));
  cfg.block_size = 4096;
  cfg.cache_size = 2048;
  g_assert_null (wc_engine_new (&cfg));
  memmedia_free (m);
}

static void
test_bad_requests (void)
{
  struct fx f;
  uint8_t buf[16] = { 0 };
  struct wc_cut cut;

  fx_init (&f, WC_MODE_WRITEBACK, 1 << 20, false);
  g_assert_cmpint (wc_read (f.e, buf, 16, DISK - 8), ==, -1);
  g_assert_cmpint (errno, ==, EINVAL);
  g_assert_cmpint (wc_write (f.e, buf, 16, UINT64_MAX - 4, 0), ==, -1);
  g_assert_cmpint (errno, ==, EINVAL);
  g_assert_cmpint (wc_set_mode (f.e, 99), ==, -1);
  wc_cut_init (&cut);
  cut.p = 1.5;
  g_assert_cmpint (wc_power_cut (f.e, &cut, NULL), ==, -1);
  g_assert_cmpint (errno, ==, EINVAL);
  wc_cut_init (&cut);
  cut.policy = WC_CUT_TORN;
  cut.unit = 8192;              /* larger than a block */
  g_assert_cmpint (wc_power_cut (f.e, &cut, NULL), ==, -1);
  g_assert_true (wc_powered (f.e));
  wc_cut_init (&cut);
  g_assert_cmpint (wc_arm_cut (f.e, &cut, WC_TRIGGER_WRITES, 0), ==, -1);
  g_assert_cmpint (errno, ==, EINVAL);
  fx_fini (&f);
}

static void
test_readonly (void)
{
  struct memmedia *m = memmedia_new (DISK);
  struct wc_config cfg;
  struct wc_engine *e;
  uint8_t buf[512] = { 0 };

  memmedia_config (m, &cfg);
  cfg.readonly = true;
  e = wc_engine_new (&cfg);
  g_assert_cmpint (wc_write (e, buf, 512, 0, 0), ==, -1);
  g_assert_cmpint (errno, ==, EROFS);
  g_assert_cmpint (wc_read (e, buf, 512, 0), ==, 0);
  wc_engine_free (e);
  memmedia_free (m);
}

static void
collect_debug (void *opaque, const char *msg)
{
  g_string_append_printf (((struct memmedia *) opaque)->hook_arg, "%s\n", msg);
}

/* The debug hook names blocks, offsets and states. */
static void
test_debug_lines (void)
{
  struct memmedia *m = memmedia_new (DISK);
  g_autoptr (GString) log = g_string_new (NULL);
  struct wc_config cfg;
  struct wc_engine *e;
  struct wc_cut cut = mkcut (WC_CUT_LOSE, 5);

  memmedia_config (m, &cfg);
  m->hook_arg = log;            /* no hook: just a place for the log */
  cfg.debug = collect_debug;
  e = wc_engine_new (&cfg);
  put (e, 3, 0x33, 0);
  g_assert_cmpint (wc_flush (e, 0), ==, 0);
  put (e, 4, 0x44, 0);
  g_assert_cmpint (wc_power_cut (e, &cut, NULL), ==, 0);
  g_assert_nonnull (strstr (log->str, "writeback blk=3 offset=12288 data: clean"));
  g_assert_nonnull (strstr (log->str, "cut: policy=lose seed=5 dirty=1"));
  g_assert_nonnull (strstr (log->str, "cut blk=4 DIRTY: 0/1 units"));
  wc_engine_free (e);
  memmedia_free (m);
}

void
engine_tests_basics (void)
{
  g_test_add_func ("/engine/names", test_mode_names);
  g_test_add_func ("/engine/bad-config", test_bad_config);
  g_test_add_func ("/engine/bad-requests", test_bad_requests);
  g_test_add_func ("/engine/readonly", test_readonly);
  g_test_add_func ("/engine/debug-lines", test_debug_lines);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  engine_tests_basics ();
  engine_tests_locks ();
  engine_tests_S1 ();
  engine_tests_S2 ();
  engine_tests_S3 ();
  engine_tests_S4 ();
  engine_tests_S5 ();
  engine_tests_S6 ();
  engine_tests_S7 ();
  engine_tests_S8 ();
  engine_tests_S9 ();
  engine_tests_S10 ();
  return g_test_run ();
}

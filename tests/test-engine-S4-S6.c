/* Engine tests for S4 and S6 of wcache(7), the write-through modes and
 * clients, and for unsafe mode, which ignores FUA (S2) and flush (S3). */
#include <config.h>

#include <errno.h>
#include <string.h>

#include "engine-tests.h"

static void
test_S4_writethrough (void)
{
  struct fx f;

  fx_init (&f, WC_MODE_WRITETHROUGH, 1 << 20, true);
  put (f.e, 7, 0x77, 0);
  g_assert_true (media_is (f.m, 7, 0x77));
  g_assert_cmpuint (stats (f.e).cached_blocks, ==, 0);
  g_assert_cmpint (wc_zero (f.e, 512, 7 * BS, 0), ==, 0);
  g_assert_true (all_bytes (f.m->buf + 7 * BS, 512, 0));
  g_assert_true (all_bytes (f.m->buf + 7 * BS + 512, BS - 512, 0x77));
  assert_oracle_clean (f.e, BS);
  fx_fini (&f);
}

static void
test_S6_writethrough_client (void)
{
  struct fx f;

  fx_init (&f, WC_MODE_WRITEBACK, 1 << 20, false);
  put (f.e, 7, 0x77, WC_WRITETHROUGH);
  g_assert_true (media_is (f.m, 7, 0x77));
  put (f.e, 8, 0x88, 0);
  g_assert_true (media_is (f.m, 8, 0));
  fx_fini (&f);
}

static void
test_unsafe_ignores_flush_and_fua (void)
{
  struct fx f;
  struct wc_cut cut;

  fx_init (&f, WC_MODE_UNSAFE, 1 << 20, true);
  put (f.e, 1, 0x11, 0);
  put (f.e, 2, 0x22, WC_FUA);
  g_assert_cmpint (wc_flush (f.e, 0), ==, 0);
  g_assert_true (media_is (f.m, 1, 0));
  g_assert_true (media_is (f.m, 2, 0));
  g_assert_cmpuint (f.m->flushes, ==, 0);
  wc_cut_init (&cut);
  g_assert_cmpint (wc_power_cut (f.e, &cut, NULL), ==, 0);
  g_assert_true (media_is (f.m, 1, 0));         /* the negative control */
  assert_oracle_clean (f.e, BS);
  /* The disk's own write-back (flush-on-exit, the control plane's flush)
   * is not a client's flush: it works in unsafe mode. */
  g_assert_cmpint (wc_power_on (f.e), ==, 0);
  put (f.e, 1, 0x13, 0);
  g_assert_cmpint (wc_flush (f.e, WC_FORCE), ==, 0);
  g_assert_true (media_is (f.m, 1, 0x13));
  put (f.e, 1, 0x14, 0);
  g_assert_cmpint (wc_power_cut (f.e, &cut, NULL), ==, 0);
  g_assert_true (media_is (f.m, 1, 0x13));      /* 0x14 was lost */
  assert_oracle_clean (f.e, BS);
  fx_fini (&f);
}

void
engine_tests_S4 (void)
{
  g_test_add_func ("/engine/S4/writethrough", test_S4_writethrough);
  g_test_add_func ("/engine/unsafe/ignores-flush-and-fua",
                   test_unsafe_ignores_flush_and_fua);
}

void
engine_tests_S6 (void)
{
  g_test_add_func ("/engine/S6/writethrough-client",
                   test_S6_writethrough_client);
}

/* Engine tests for S7 of wcache(7): the cache stays within its size by
 * writing back the oldest dirty blocks, never by dropping them. */
#include <config.h>

#include <errno.h>
#include <string.h>

#include "engine-tests.h"

static void
test_S7_bounded_destages_oldest (void)
{
  struct fx f;
  struct wc_stats st;

  fx_init (&f, WC_MODE_WRITEBACK, 8 * BS, true);
  for (unsigned i = 0; i < 100; i++) {
    put (f.e, i, (uint8_t) (i + 1), 0);
    g_assert_cmpuint (stats (f.e).cached_blocks, <=, 8);
  }
  st = stats (f.e);
  g_assert_cmpuint (st.destaged_blocks, >=, 92);
  g_assert_true (media_is (f.m, 0, 1));         /* oldest went first */
  g_assert_true (media_is (f.m, 99, 0));        /* newest still cached */
  for (unsigned i = 0; i < 100; i++)
    g_assert_true (reads_as (f.e, i, (uint8_t) (i + 1)));
  g_assert_cmpint (wc_flush (f.e, 0), ==, 0);
  for (unsigned i = 0; i < 100; i++)
    g_assert_true (media_is (f.m, i, (uint8_t) (i + 1)));
  assert_oracle_clean (f.e, BS);
  fx_fini (&f);
}

static void
test_S7_full_and_failing_never_drops (void)
{
  struct fx f;
  uint8_t buf[BS];

  fx_init (&f, WC_MODE_WRITEBACK, 4 * BS, false);
  /* The media fails from the start: early destaging cannot make room, so
   * the cache fills up with the four blocks. */
  f.m->fail_writes = -1;
  for (unsigned i = 0; i < 4; i++)
    put (f.e, i, 0x10 + i, 0);
  g_assert_cmpuint (stats (f.e).cached_blocks, ==, 4);
  memset (buf, 0x55, BS);
  g_assert_cmpint (wc_write (f.e, buf, BS, 10 * BS, 0), ==, -1);
  g_assert_cmpint (errno, ==, EIO);
  for (unsigned i = 0; i < 4; i++) {
    g_assert_true (reads_as (f.e, i, 0x10 + i));
    g_assert_true (media_is (f.m, i, 0));
  }
  f.m->fail_writes = 0;
  put (f.e, 10, 0x55, 0);
  g_assert_cmpint (wc_flush (f.e, 0), ==, 0);
  for (unsigned i = 0; i < 4; i++)
    g_assert_true (media_is (f.m, i, 0x10 + i));
  g_assert_true (media_is (f.m, 10, 0x55));
  fx_fini (&f);
}

/* The first destage of a 128-block cache comes at the 113th block (16 short
 * of full): it writes back the oldest 8 blocks, and up to 64 while the FIFO
 * goes on in a run of adjacent blocks, as one media write. */
static void
test_S7_destage_batch (void)
{
  for (int sequential = 0; sequential <= 1; sequential++) {
    struct fx f;
    struct wc_stats st;
    unsigned n;

    fx_init (&f, WC_MODE_WRITEBACK, 128 * BS, false);
    for (n = 0; stats (f.e).destaged_blocks == 0; n++) {
      g_assert_cmpuint (n, <, NBLOCKS);
      /* 37 is prime to 256: no two blocks in a row are adjacent. */
      put (f.e, sequential ? n : n * 37 % NBLOCKS, 0x40, 0);
    }
    st = stats (f.e);
    g_assert_cmpuint (n, ==, 113);
    g_assert_cmpuint (st.destaged_blocks, ==, sequential ? 64 : 8);
    g_assert_cmpuint (st.writeback_ios, ==, sequential ? 1 : 8);
    g_assert_cmpuint (f.m->writes, ==, st.writeback_ios);
    fx_fini (&f);
  }
}

/* A request larger than the whole cache still succeeds, in pieces. */
static void
test_S7_request_larger_than_cache (void)
{
  struct fx f;
  g_autofree uint8_t *buf = g_malloc (64 * BS);

  fx_init (&f, WC_MODE_WRITEBACK, 4 * BS, false);
  memset (buf, 0x5a, 64 * BS);
  g_assert_cmpint (wc_write (f.e, buf, 64 * BS, 0, 0), ==, 0);
  g_assert_cmpuint (stats (f.e).cached_blocks, <=, 4);
  g_assert_cmpint (wc_flush (f.e, 0), ==, 0);
  for (unsigned i = 0; i < 64; i++)
    g_assert_true (media_is (f.m, i, 0x5a));
  fx_fini (&f);
}

void
engine_tests_S7 (void)
{
  g_test_add_func ("/engine/S7/bounded-destages-oldest",
                   test_S7_bounded_destages_oldest);
  g_test_add_func ("/engine/S7/full-and-failing-never-drops",
                   test_S7_full_and_failing_never_drops);
  g_test_add_func ("/engine/S7/destage-batch", test_S7_destage_batch);
  g_test_add_func ("/engine/S7/request-larger-than-cache",
                   test_S7_request_larger_than_cache);
}

/* Engine tests for S1 of wcache(7): read-your-writes, from the cache or
 * the media, on an odd-sized disk, and with a block still loading. */
#include <config.h>

#include <errno.h>
#include <string.h>

#include "engine-tests.h"

static void
test_S1_read_your_writes (void)
{
  struct fx f;
  uint8_t buf[3 * BS], want[3 * BS];

  fx_init (&f, WC_MODE_WRITEBACK, 1 << 20, true);
  memset (f.m->buf, 0xaa, DISK);        /* old media content */

  /* A partial write to an uncached block keeps the media's other bytes. */
  memset (buf, 0xbb, 100);
  g_assert_cmpint (wc_write (f.e, buf, 100, 5 * BS + 10, 0), ==, 0);
  g_assert_true (media_is (f.m, 5, 0xaa));      /* still only cached */
  g_assert_cmpint (wc_read (f.e, buf, BS, 5 * BS), ==, 0);
  memset (want, 0xaa, BS);
  memset (want + 10, 0xbb, 100);
  g_assert_cmpmem (buf, BS, want, BS);

  /* A read spanning uncached, cached and uncached blocks, unaligned. */
  put (f.e, 8, 0x11, 0);
  g_assert_cmpint (wc_read (f.e, buf, 3 * BS, 7 * BS + 1), ==, 0);
  memset (want, 0xaa, 3 * BS);
  memset (want + BS - 1, 0x11, BS);
  g_assert_cmpmem (buf, 3 * BS, want, 3 * BS);

  /* Zero and trim read back as zeros, whole and partial. */
  g_assert_cmpint (wc_zero (f.e, 2 * BS, 20 * BS, 0), ==, 0);
  g_assert_true (reads_as (f.e, 20, 0));
  g_assert_true (reads_as (f.e, 21, 0));
  g_assert_cmpint (wc_trim (f.e, 512, 30 * BS + 512, 0), ==, 0);
  g_assert_cmpint (wc_read (f.e, buf, BS, 30 * BS), ==, 0);
  memset (want, 0xaa, BS);
  memset (want + 512, 0, 512);
  g_assert_cmpmem (buf, BS, want, BS);
  /* Data over zeros, partially. */
  memset (buf, 0x33, 8);
  g_assert_cmpint (wc_write (f.e, buf, 8, 20 * BS + 4, 0), ==, 0);
  g_assert_cmpint (wc_read (f.e, buf, 16, 20 * BS), ==, 0);
  memset (want, 0, 16);
  memset (want + 4, 0x33, 8);
  g_assert_cmpmem (buf, 16, want, 16);

  g_assert_cmpint (wc_flush (f.e, 0), ==, 0);
  g_assert_cmpuint (stats (f.e).cached_blocks, ==, 0);
  g_assert_true (media_is (f.m, 8, 0x11));
  g_assert_true (media_is (f.m, 21, 0));
  assert_oracle_clean (f.e, BS);
  fx_fini (&f);
}

/* A disk whose size is not a multiple of the block size: media I/O of the
 * last block stops at the end of the disk (memmedia asserts on overruns). */
static void
test_S1_odd_size_disk (void)
{
  struct memmedia *m = memmedia_new (10000);
  struct wc_config cfg;
  struct wc_engine *e;
  struct wc_cut cut = mkcut (WC_CUT_KEEP, 1);
  uint8_t buf[1000];

  memmedia_config (m, &cfg);
  cfg.oracle = true;
  e = wc_engine_new (&cfg);
  memset (buf, 0x44, sizeof buf);
  g_assert_cmpint (wc_write (e, buf, 100, 9000, 0), ==, 0);
  g_assert_cmpint (wc_read (e, buf, 1000, 9000), ==, 0);
  g_assert_true (all_bytes (buf, 100, 0x44) && all_bytes (buf + 100, 900, 0));
  g_assert_cmpint (wc_write (e, buf, 100, 9900, WC_FUA), ==, 0);
  g_assert_cmpint (wc_flush (e, 0), ==, 0);
  g_assert_cmpint (wc_zero (e, 800, 9200, 0), ==, 0);
  g_assert_cmpint (wc_power_cut (e, &cut, NULL), ==, 0);
  g_assert_true (all_bytes (m->buf + 9000, 100, 0x44));
  g_assert_true (all_bytes (m->buf + 9200, 800, 0));
  assert_oracle_clean (e, 4096);
  wc_engine_free (e);
  memmedia_free (m);
}

/* Two partial writers of one uncached block: the second waits for the
 * first's read-modify-write and must be woken when it ends.  This guards
 * the path; it does not catch a missing wake-up by itself, since the load
 * ending also drains the media, which wakes every waiter.  (Review showed
 * the missing wake-up with another media op held in flight.) */
static gpointer
partial_writer (gpointer arg)
{
  uint8_t b = 0x77;

  return GINT_TO_POINTER (wc_write (arg, &b, 1, 20, 0));
}

static void
test_S1_loading_wakes_waiters (void)
{
  struct fx f;
  struct gate in;
  GThread *t;
  uint8_t b = 0x66, got[32];

  fx_init (&f, WC_MODE_WRITEBACK, 1 << 20, false);
  gate_init (&in);
  f.m->hook = gate_read_hook;   /* holds the first load in the media */
  f.m->hook_arg = &in;
  t = g_thread_new ("w1", partial_writer, f.e);
  gate_wait_held (&in);
  f.m->hook = NULL;
  gate_release (&in);
  /* This write finds the block LOADING or DIRTY; either way it returns. */
  g_assert_cmpint (wc_write (f.e, &b, 1, 10, 0), ==, 0);
  g_assert_cmpint (GPOINTER_TO_INT (g_thread_join (t)), ==, 0);
  g_assert_cmpint (wc_read (f.e, got, 32, 0), ==, 0);
  g_assert_cmpuint (got[10], ==, 0x66);
  g_assert_cmpuint (got[20], ==, 0x77);
  gate_clear (&in);
  fx_fini (&f);
}

void
engine_tests_S1 (void)
{
  g_test_add_func ("/engine/S1/read-your-writes", test_S1_read_your_writes);
  g_test_add_func ("/engine/S1/odd-size-disk", test_S1_odd_size_disk);
  g_test_add_func ("/engine/S1/loading-wakes-waiters",
                   test_S1_loading_wakes_waiters);
}

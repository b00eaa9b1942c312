/* Engine tests for S3 of wcache(7): a flush makes durable what was
 * acknowledged when it arrived, coalesces runs, keeps failed blocks dirty,
 * and holds up against writers racing it. */
#include <config.h>

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "engine-tests.h"

static void
test_S3_flush_makes_durable (void)
{
  struct fx f;

  fx_init (&f, WC_MODE_WRITEBACK, 1 << 20, false);
  put (f.e, 3, 0x33, 0);
  put (f.e, 9, 0x99, 0);
  g_assert_true (media_is (f.m, 3, 0));
  g_assert_true (media_is (f.m, 9, 0));
  g_assert_cmpint (wc_flush (f.e, 0), ==, 0);
  g_assert_true (media_is (f.m, 3, 0x33));
  g_assert_true (media_is (f.m, 9, 0x99));
  g_assert_cmpuint (f.m->flushes, ==, 1);       /* the media was flushed */
  g_assert_cmpuint (stats (f.e).cached_blocks, ==, 0);
  fx_fini (&f);
}

static void
test_S3_coalesces (void)
{
  struct fx f;
  struct wc_stats st;

  fx_init (&f, WC_MODE_WRITEBACK, 1 << 20, false);
  for (unsigned i = 0; i < 16; i++)
    put (f.e, 40 + (i * 7) % 16, 0x40 + i, 0);  /* out of order */
  g_assert_cmpint (wc_zero (f.e, 4 * BS, 60 * BS, 0), ==, 0);
  g_assert_cmpint (wc_flush (f.e, 0), ==, 0);
  st = stats (f.e);
  g_assert_cmpuint (f.m->writes, ==, 1);        /* 16 blocks, one write */
  g_assert_cmpuint (f.m->zeroes, ==, 1);        /* zeros need no buffer */
  g_assert_cmpuint (st.writeback_ios, ==, 2);
  g_assert_cmpuint (st.writeback_blocks, ==, 20);
  fx_fini (&f);
}

/* A write that lands while its block is being written back stays dirty
 * with the newer data; the write-back carries the older snapshot. */
struct rewrite {
  struct gate gate;             /* holds the write-back in the media */
  struct wc_engine *e;
  uint32_t len;                 /* bytes the rewrite writes at offset 0 */
};

static gpointer
rewriter (gpointer arg)
{
  struct rewrite *rw = arg;
  uint8_t buf[BS];

  gate_wait_held (&rw->gate);
  memset (buf, 0x77, BS);
  g_assert_cmpint (wc_write (rw->e, buf, rw->len, 0, 0), ==, 0);
  gate_release (&rw->gate);
  return NULL;
}

static void
rewrite_during_writeback (uint32_t len)
{
  struct fx f;
  struct rewrite rw = { .len = len };
  uint8_t buf[BS], want[BS];
  GThread *t;

  fx_init (&f, WC_MODE_WRITEBACK, 1 << 20, true);
  gate_init (&rw.gate);
  rw.e = f.e;
  put (f.e, 0, 0x66, 0);
  f.m->hook = gate_write_hook;
  f.m->hook_arg = &rw.gate;
  t = g_thread_new ("rewriter", rewriter, &rw);
  g_assert_cmpint (wc_flush (f.e, 0), ==, 0);
  g_thread_join (t);
  f.m->hook = NULL;

  memset (want, 0x66, BS);
  memset (want, 0x77, len);
  g_assert_true (media_is (f.m, 0, 0x66));      /* the snapshot */
  g_assert_cmpuint (stats (f.e).cached_blocks, ==, 1);  /* still dirty */
  g_assert_cmpint (wc_read (f.e, buf, BS, 0), ==, 0);
  g_assert_cmpmem (buf, BS, want, BS);
  g_assert_cmpint (wc_flush (f.e, 0), ==, 0);
  g_assert_cmpuint (stats (f.e).cached_blocks, ==, 0);
  g_assert_cmpmem (f.m->buf, BS, want, BS);
  assert_oracle_clean (f.e, BS);
  gate_clear (&rw.gate);
  fx_fini (&f);
}

static void
test_S3_rewrite_during_writeback (void)
{
  rewrite_during_writeback (BS);
}

static void
test_S3_partial_rewrite_during_writeback (void)
{
  rewrite_during_writeback (512);
}

static void
test_S3_failed_writeback_keeps_data (void)
{
  struct fx f;

  fx_init (&f, WC_MODE_WRITEBACK, 1 << 20, true);
  put (f.e, 4, 0x44, 0);
  put (f.e, 6, 0x46, 0);
  f.m->fail_writes = -1;
  g_assert_cmpint (wc_flush (f.e, 0), ==, -1);
  g_assert_cmpint (errno, ==, EIO);
  g_assert_cmpuint (f.m->flushes, ==, 0);       /* no media flush claimed */
  g_assert_cmpuint (stats (f.e).cached_blocks, ==, 2);
  g_assert_true (reads_as (f.e, 4, 0x44));
  g_assert_true (media_is (f.m, 4, 0));
  /* Only one run fails: the other is still written back. */
  f.m->fail_writes = 1;
  g_assert_cmpint (wc_flush (f.e, 0), ==, -1);
  g_assert_cmpuint (stats (f.e).cached_blocks, ==, 1);
  f.m->fail_writes = 0;
  g_assert_cmpint (wc_flush (f.e, 0), ==, 0);
  g_assert_true (media_is (f.m, 4, 0x44));
  g_assert_true (media_is (f.m, 6, 0x46));
  g_assert_cmpuint (stats (f.e).cached_blocks, ==, 0);
  assert_oracle_clean (f.e, BS);
  fx_fini (&f);
}

static void
test_S3_failed_media_flush (void)
{
  struct fx f;

  fx_init (&f, WC_MODE_WRITEBACK, 1 << 20, false);
  put (f.e, 4, 0x44, 0);
  f.m->fail_flushes = 1;
  g_assert_cmpint (wc_flush (f.e, 0), ==, -1);
  g_assert_cmpint (errno, ==, EIO);
  g_assert_cmpint (wc_flush (f.e, 0), ==, 0);
  g_assert_true (media_is (f.m, 4, 0x44));
  fx_fini (&f);
}

/* Writers keep writing versions while flushes run; after each flush, every
 * version acknowledged before it was called must be on the media. */
#define RACE_WRITERS 4
#define RACE_BLOCKS 64

struct race {
  struct wc_engine *e;
  atomic_bool stop;
  _Atomic uint64_t acked[RACE_BLOCKS];
  int id;
};

struct race_arg {
  struct race *r;
  int id;
};

static gpointer
race_writer (gpointer arg)
{
  struct race_arg *a = arg;
  struct race *r = a->r;
  uint8_t buf[BS];
  uint64_t v = 0;

  while (!atomic_load (&r->stop)) {
    for (int b = a->id; b < RACE_BLOCKS; b += RACE_WRITERS) {
      /* The version is in the first 8 bytes; odd versions rewrite the
       * whole block, even ones only its first sector (read-modify-write). */
      v++;
      memset (buf, (uint8_t) v, BS);
      memcpy (buf, &v, sizeof v);
      g_assert_cmpint (wc_write (r->e, buf, v & 1 ? BS : 512,
                                 (uint64_t) b * BS, 0), ==, 0);
      atomic_store (&r->acked[b], v);
    }
  }
  return NULL;
}

static void
flush_race (uint64_t cache_size)
{
  struct fx f;
  struct race r = { 0 };
  struct race_arg args[RACE_WRITERS];
  GThread *t[RACE_WRITERS];
  uint64_t snap[RACE_BLOCKS];

  fx_init (&f, WC_MODE_WRITEBACK, cache_size, false);
  r.e = f.e;
  for (int i = 0; i < RACE_WRITERS; i++) {
    args[i].r = &r;
    args[i].id = i;
    t[i] = g_thread_new ("writer", race_writer, &args[i]);
  }
  for (int iter = 0; iter < 300; iter++) {
    for (int b = 0; b < RACE_BLOCKS; b++)
      snap[b] = atomic_load (&r.acked[b]);
    g_assert_cmpint (wc_flush (f.e, 0), ==, 0);
    for (int b = 0; b < RACE_BLOCKS; b++) {
      uint64_t on_media;

      memmedia_read_direct (f.m, &on_media, sizeof on_media,
                            (uint64_t) b * BS);
      /* Versions only grow per block, so >= means "covered". */
      g_assert_cmpuint (on_media, >=, snap[b]);
    }
  }
  atomic_store (&r.stop, true);
  for (int i = 0; i < RACE_WRITERS; i++)
    g_thread_join (t[i]);
  g_assert_cmpint (wc_flush (f.e, 0), ==, 0);
  g_assert_cmpuint (stats (f.e).cached_blocks, ==, 0);
  fx_fini (&f);
}

static void
test_S3_flush_races_writers (void)
{
  flush_race (1 << 20);
}

static void
test_S3_flush_races_writers_and_destage (void)
{
  flush_race (16 * BS);         /* smaller than the working set */
}

/* S3: a run of blocks that ends in the partial last block of an odd-sized
 * disk is written back as one media write over a media without writev: the
 * copy into the run's buffer stops at the end of the disk (it once ran a
 * block past it: a heap overflow that valgrind and ASan report). */
static void
test_S3_run_ends_in_partial_block (void)
{
  const uint64_t size = 1000000;        /* 244 blocks and 576 bytes */
  const uint64_t off = 995328, len = size - off;
  struct memmedia *m = memmedia_new (size);
  struct wc_config cfg;
  struct wc_engine *e;
  g_autofree uint8_t *buf = g_malloc (len);
  g_autofree uint8_t *back = g_malloc (len);

  memmedia_config (m, &cfg);
  cfg.oracle = true;
  e = wc_engine_new (&cfg);
  memset (buf, 0x33, len);
  g_assert_cmpint (wc_write (e, buf, len, off, 0), ==, 0);
  g_assert_cmpuint (m->writes, ==, 0);
  g_assert_cmpint (wc_flush (e, 0), ==, 0);
  /* One coalesced write of both blocks, stopping at the end of the disk. */
  g_assert_cmpuint (m->writes, ==, 1);
  g_assert_true (all_bytes (m->buf + off, len, 0x33));
  g_assert_cmpint (wc_read (e, back, len, off), ==, 0);
  g_assert_cmpmem (back, len, buf, len);
  assert_oracle_clean (e, 4096);
  wc_engine_free (e);
  memmedia_free (m);
}

void
engine_tests_S3 (void)
{
  g_test_add_func ("/engine/S3/flush-makes-durable",
                   test_S3_flush_makes_durable);
  g_test_add_func ("/engine/S3/coalesces", test_S3_coalesces);
  g_test_add_func ("/engine/S3/rewrite-during-writeback",
                   test_S3_rewrite_during_writeback);
  g_test_add_func ("/engine/S3/partial-rewrite-during-writeback",
                   test_S3_partial_rewrite_during_writeback);
  g_test_add_func ("/engine/S3/failed-writeback-keeps-data",
                   test_S3_failed_writeback_keeps_data);
  g_test_add_func ("/engine/S3/failed-media-flush",
                   test_S3_failed_media_flush);
  g_test_add_func ("/engine/S3/flush-races-writers",
                   test_S3_flush_races_writers);
  g_test_add_func ("/engine/S3/flush-races-writers-and-destage",
                   test_S3_flush_races_writers_and_destage);
  g_test_add_func ("/engine/S3/run-ends-in-partial-block",
                   test_S3_run_ends_in_partial_block);
}

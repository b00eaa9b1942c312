/* Unit tests for the engine, one rule per test, named after the rules
 * S1..S10 of wcache(7).  The media is in memory (memmedia.c) so each test
 * can look at the durable state on both sides of every durability
 * boundary. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>

#include <glib.h>

#include "memmedia.h"
#include "wcache.h"

#define BS 4096u
#define NBLOCKS 256u
#define DISK ((uint64_t) NBLOCKS * BS)

struct fx {
  struct memmedia *m;
  struct wc_engine *e;
};

static struct wc_engine *
engine_new (struct memmedia *m, enum wc_mode mode, uint64_t cache_size,
            bool oracle)
{
  struct wc_config cfg;
  struct wc_engine *e;

  memmedia_config (m, &cfg);
  cfg.mode = mode;
  cfg.cache_size = cache_size;
  cfg.oracle = oracle;
  e = wc_engine_new (&cfg);
  g_assert_nonnull (e);
  return e;
}

static void
fx_init (struct fx *f, enum wc_mode mode, uint64_t cache_size, bool oracle)
{
  memset (f, 0, sizeof *f);
  f->m = memmedia_new (DISK);
  f->e = engine_new (f->m, mode, cache_size, oracle);
}

static void
fx_fini (struct fx *f)
{
  wc_engine_free (f->e);
  memmedia_free (f->m);
}

/* Writes block blkno filled with v. */
static void
put (struct wc_engine *e, uint64_t blkno, uint8_t v, unsigned flags)
{
  uint8_t buf[BS];

  memset (buf, v, BS);
  g_assert_cmpint (wc_write (e, buf, BS, blkno * BS, flags), ==, 0);
}

static bool
all_bytes (const uint8_t *p, size_t n, uint8_t v)
{
  for (size_t i = 0; i < n; i++)
    if (p[i] != v)
      return false;
  return true;
}

/* Whether the durable media holds v in all of block blkno. */
static bool
media_is (struct memmedia *m, uint64_t blkno, uint8_t v)
{
  bool r;

  pthread_mutex_lock (&m->lock);
  r = all_bytes (m->buf + blkno * BS, BS, v);
  pthread_mutex_unlock (&m->lock);
  return r;
}

static bool
reads_as (struct wc_engine *e, uint64_t blkno, uint8_t v)
{
  uint8_t buf[BS];

  g_assert_cmpint (wc_read (e, buf, BS, blkno * BS), ==, 0);
  return all_bytes (buf, BS, v);
}

static void
assert_oracle_clean (struct wc_engine *e, uint32_t unit)
{
  struct wc_verify_report r;

  g_assert_cmpint (wc_oracle_verify (e, WC_VERIFY_EXACT, 512, NULL, NULL,
                                     &r), ==, 0);
  g_assert_cmpuint (r.violations, ==, 0);
  g_assert_cmpint (wc_oracle_verify (e, WC_VERIFY_CONTRACT, unit, NULL, NULL,
                                     &r), ==, 0);
  g_assert_cmpuint (r.violations, ==, 0);
}

static struct wc_stats
stats (struct wc_engine *e)
{
  struct wc_stats st;

  wc_get_stats (e, &st);
  return st;
}

/* ---- names -------------------------------------------------------------- */

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

/* ---- S1 ----------------------------------------------------------------- */

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

/* ---- S2 ----------------------------------------------------------------- */

static void
test_S2_fua_durable_before_ack (void)
{
  struct fx f;

  fx_init (&f, WC_MODE_WRITEBACK, 1 << 20, false);
  put (f.e, 2, 0x22, 0);
  put (f.e, 1, 0x11, WC_FUA);
  g_assert_true (media_is (f.m, 1, 0x11));      /* durable at once */
  g_assert_cmpuint (f.m->fua_writes, ==, 1);
  g_assert_true (media_is (f.m, 2, 0));         /* S2 says nothing of others */
  g_assert_cmpuint (stats (f.e).fua_writes, ==, 1);
  /* FUA zero too. */
  g_assert_cmpint (wc_zero (f.e, BS, 1 * BS, WC_FUA), ==, 0);
  g_assert_true (media_is (f.m, 1, 0));
  fx_fini (&f);
}

/* ---- S3 ----------------------------------------------------------------- */

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
  GMutex lock;
  GCond cond;
  int stage;                    /* 1: in write-back; 2: rewrite done */
  struct wc_engine *e;
  uint32_t len;                 /* bytes the rewrite writes at offset 0 */
};

static void
rewrite_hook (struct memmedia *m, enum mm_op op, uint64_t offset,
              uint32_t count, void *arg)
{
  struct rewrite *rw = arg;

  if (op != MM_WRITE)
    return;
  g_mutex_lock (&rw->lock);
  if (rw->stage == 0) {
    rw->stage = 1;
    g_cond_broadcast (&rw->cond);
    while (rw->stage != 2)
      g_cond_wait (&rw->cond, &rw->lock);
  }
  g_mutex_unlock (&rw->lock);
}

static gpointer
rewriter (gpointer arg)
{
  struct rewrite *rw = arg;
  uint8_t buf[BS];

  g_mutex_lock (&rw->lock);
  while (rw->stage != 1)
    g_cond_wait (&rw->cond, &rw->lock);
  g_mutex_unlock (&rw->lock);
  memset (buf, 0x77, BS);
  g_assert_cmpint (wc_write (rw->e, buf, rw->len, 0, 0), ==, 0);
  g_mutex_lock (&rw->lock);
  rw->stage = 2;
  g_cond_broadcast (&rw->cond);
  g_mutex_unlock (&rw->lock);
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
  g_mutex_init (&rw.lock);
  g_cond_init (&rw.cond);
  rw.e = f.e;
  put (f.e, 0, 0x66, 0);
  f.m->hook = rewrite_hook;
  f.m->hook_arg = &rw;
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
  g_cond_clear (&rw.cond);
  g_mutex_clear (&rw.lock);
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

/* ---- S4, S6, unsafe ----------------------------------------------------- */

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

/* ---- S5 ----------------------------------------------------------------- */

static void
test_S5_switch_off_writes_back (void)
{
  struct fx f;

  fx_init (&f, WC_MODE_WRITEBACK, 1 << 20, false);
  put (f.e, 5, 0x55, 0);
  g_assert_true (media_is (f.m, 5, 0));
  g_assert_cmpint (wc_set_mode (f.e, WC_MODE_WRITETHROUGH), ==, 0);
  g_assert_cmpint (wc_get_mode (f.e), ==, WC_MODE_WRITETHROUGH);
  g_assert_true (media_is (f.m, 5, 0x55));
  g_assert_cmpuint (f.m->flushes, ==, 1);
  g_assert_cmpuint (stats (f.e).cached_blocks, ==, 0);
  /* Switching on is immediate; later writes are cached again. */
  g_assert_cmpint (wc_set_mode (f.e, WC_MODE_NONE), ==, 0);
  put (f.e, 6, 0x66, 0);
  g_assert_true (media_is (f.m, 6, 0));
  g_assert_cmpint (wc_set_mode (f.e, WC_MODE_DIRECTSYNC), ==, 0);
  g_assert_true (media_is (f.m, 6, 0x66));
  fx_fini (&f);
}

static void
test_S5_switch_failure_changes_nothing (void)
{
  struct fx f;

  fx_init (&f, WC_MODE_WRITEBACK, 1 << 20, false);
  put (f.e, 5, 0x55, 0);
  f.m->fail_writes = -1;
  g_assert_cmpint (wc_set_mode (f.e, WC_MODE_WRITETHROUGH), ==, -1);
  g_assert_cmpint (errno, ==, EIO);
  g_assert_cmpint (wc_get_mode (f.e), ==, WC_MODE_WRITEBACK);
  g_assert_true (reads_as (f.e, 5, 0x55));
  /* A failing media flush also keeps the mode. */
  f.m->fail_writes = 0;
  f.m->fail_flushes = 1;
  g_assert_cmpint (wc_set_mode (f.e, WC_MODE_WRITETHROUGH), ==, -1);
  g_assert_cmpint (wc_get_mode (f.e), ==, WC_MODE_WRITEBACK);
  /* Writes still work after the failed switch (none are held). */
  put (f.e, 9, 0x99, 0);
  g_assert_cmpint (wc_set_mode (f.e, WC_MODE_WRITETHROUGH), ==, 0);
  g_assert_true (media_is (f.m, 5, 0x55));
  g_assert_true (media_is (f.m, 9, 0x99));
  fx_fini (&f);
}

struct flipper {
  struct wc_engine *e;
  atomic_bool stop;
};

static gpointer
flip_modes (gpointer arg)
{
  struct flipper *fl = arg;
  int n = 0;

  while (!atomic_load (&fl->stop)) {
    g_assert_cmpint (wc_set_mode (fl->e, n++ & 1 ? WC_MODE_WRITEBACK
                                  : WC_MODE_WRITETHROUGH), ==, 0);
  }
  return NULL;
}

/* S5 under load: writes racing switches never fail, and every write
 * acknowledged while write-through was durable when acknowledged. */
static void
test_S5_switch_under_writes (void)
{
  struct fx f;
  struct flipper fl = { 0 };
  GThread *t;

  fx_init (&f, WC_MODE_WRITEBACK, 64 * BS, true);
  fl.e = f.e;
  t = g_thread_new ("flipper", flip_modes, &fl);
  for (int i = 0; i < 3000; i++)
    put (f.e, i % 200, (uint8_t) i, i % 5 == 0 ? WC_FUA : 0);
  atomic_store (&fl.stop, true);
  g_thread_join (t);
  g_assert_cmpint (wc_set_mode (f.e, WC_MODE_WRITETHROUGH), ==, 0);
  for (int b = 0; b < 200; b++) {
    int last = 2800 + b;        /* the last write to block b */
    g_assert_true (media_is (f.m, b, (uint8_t) last));
  }
  assert_oracle_clean (f.e, BS);
  fx_fini (&f);
}

/* S5 through cache_type: WCE alone switches, the host-flags half of the
 * mode stays, and switching WCE off writes back first. */
static void
test_S5_set_wce_keeps_host_half (void)
{
  static const struct {
    enum wc_mode from;
    bool wce;
    enum wc_mode to;
  } t[] = {
    { WC_MODE_WRITEBACK, false, WC_MODE_WRITETHROUGH },
    { WC_MODE_WRITEBACK, true, WC_MODE_WRITEBACK },
    { WC_MODE_WRITETHROUGH, true, WC_MODE_WRITEBACK },
    { WC_MODE_WRITETHROUGH, false, WC_MODE_WRITETHROUGH },
    { WC_MODE_NONE, false, WC_MODE_DIRECTSYNC },
    { WC_MODE_NONE, true, WC_MODE_NONE },
    { WC_MODE_DIRECTSYNC, true, WC_MODE_NONE },
    { WC_MODE_DIRECTSYNC, false, WC_MODE_DIRECTSYNC },
    { WC_MODE_UNSAFE, false, WC_MODE_WRITETHROUGH },
    { WC_MODE_UNSAFE, true, WC_MODE_UNSAFE },
  };

  for (size_t i = 0; i < G_N_ELEMENTS (t); i++) {
    struct fx f;
    enum wc_mode from, to;

    g_assert_cmpint (wc_mode_with_wce (t[i].from, t[i].wce), ==, t[i].to);
    fx_init (&f, t[i].from, 1 << 20, false);
    put (f.e, 3, 0x33, 0);
    g_assert_cmpint (wc_set_wce (f.e, t[i].wce, &from, &to), ==, 0);
    g_assert_cmpint (from, ==, t[i].from);
    g_assert_cmpint (to, ==, t[i].to);
    g_assert_cmpint (wc_get_mode (f.e), ==, t[i].to);
    if (!t[i].wce)
      g_assert_true (media_is (f.m, 3, 0x33));
    fx_fini (&f);
  }
}

/* A WCE switch whose write-back fails changes nothing (S5). */
static void
test_S5_set_wce_failure (void)
{
  struct fx f;
  enum wc_mode from, to;

  fx_init (&f, WC_MODE_NONE, 1 << 20, false);
  put (f.e, 5, 0x55, 0);
  f.m->fail_writes = -1;
  g_assert_cmpint (wc_set_wce (f.e, false, &from, &to), ==, -1);
  g_assert_cmpint (errno, ==, EIO);
  g_assert_cmpint (from, ==, WC_MODE_NONE);
  g_assert_cmpint (to, ==, WC_MODE_NONE);
  g_assert_true (reads_as (f.e, 5, 0x55));
  f.m->fail_writes = 0;
  g_assert_cmpint (wc_set_wce (f.e, false, NULL, NULL), ==, 0);
  g_assert_cmpint (wc_get_mode (f.e), ==, WC_MODE_DIRECTSYNC);
  g_assert_true (media_is (f.m, 5, 0x55));
  fx_fini (&f);
}

/* The modes the media was switched to, in order (set_mode runs under the
 * engine's switch lock, after each successful switch). */
static GMutex switches_lock;
static GArray *switches;                /* of enum wc_mode */

static void
record_set_mode (void *opaque, enum wc_mode mode)
{
  (void) opaque;
  g_mutex_lock (&switches_lock);
  g_array_append_val (switches, mode);
  g_mutex_unlock (&switches_lock);
}

static gpointer
flip_host_half (gpointer arg)
{
  struct flipper *fl = arg;
  int n = 0;

  while (!atomic_load (&fl->stop))
    g_assert_cmpint (wc_set_mode (fl->e, n++ & 1 ? WC_MODE_WRITEBACK
                                  : WC_MODE_NONE), ==, 0);
  return NULL;
}

/* S5: a WCE switch reads the mode and switches as one step.  One thread
 * flips the host-flags half (writeback <-> none) while another turns WCE
 * off: each WCE-off switch must land on the twin of the mode in force
 * just before it (writeback -> writethrough, none -> directsync), never
 * on the twin of a mode read before a concurrent switch (none ->
 * writethrough, the wrong pair). */
static void
test_S5_set_wce_atomic (void)
{
  static struct wc_media_ops ops;
  struct memmedia *m = memmedia_new (DISK);
  struct wc_config cfg;
  struct flipper fl = { 0 };
  enum wc_mode prev = WC_MODE_WRITEBACK;
  GThread *t;
  unsigned wce_off = 0;

  memmedia_config (m, &cfg);
  ops = *cfg.ops;
  ops.set_mode = record_set_mode;
  cfg.ops = &ops;
  switches = g_array_new (FALSE, FALSE, sizeof (enum wc_mode));
  fl.e = wc_engine_new (&cfg);
  g_assert_nonnull (fl.e);
  t = g_thread_new ("flipper", flip_host_half, &fl);
  for (int i = 0; i < 2000; i++) {
    enum wc_mode from, to;

    g_assert_cmpint (wc_set_wce (fl.e, false, &from, &to), ==, 0);
    g_assert_cmpint (to, ==, wc_mode_with_wce (from, false));
  }
  atomic_store (&fl.stop, true);
  g_thread_join (t);
  for (guint i = 0; i < switches->len; i++) {
    enum wc_mode mode = g_array_index (switches, enum wc_mode, i);

    if (!wc_mode_wce (mode)) {
      wce_off++;
      if (mode != wc_mode_with_wce (prev, false))
        g_error ("switch %u: %s after %s: the wrong pair", i,
                 wc_mode_name (mode), wc_mode_name (prev));
    }
    prev = mode;
  }
  g_assert_cmpuint (wce_off, ==, 2000);
  g_array_free (switches, TRUE);
  wc_engine_free (fl.e);
  memmedia_free (m);
}

/* ---- S7 ----------------------------------------------------------------- */

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

/* ---- S8 ----------------------------------------------------------------- */

static struct wc_cut
mkcut (enum wc_policy policy, uint64_t seed)
{
  struct wc_cut cut;

  wc_cut_init (&cut);
  cut.policy = policy;
  cut.seed = seed;
  cut.seed_set = true;
  return cut;
}

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

/* A whole-block check flags torn blocks: the verifier can fail. */
static void
test_S10_whole_block_check_sees_torn (void)
{
  struct fx f;
  struct wc_cut cut = mkcut (WC_CUT_TORN, 9);
  struct wc_cut_report rep;
  struct wc_verify_report vr;

  fx_init (&f, WC_MODE_WRITEBACK, 1 << 20, true);
  for (unsigned i = 0; i < 32; i++)
    put (f.e, i, 0x10 + i, 0);
  g_assert_cmpint (wc_power_cut (f.e, &cut, &rep), ==, 0);
  g_assert_cmpuint (rep.torn, >, 0);
  assert_oracle_clean (f.e, 512);
  g_assert_cmpint (wc_oracle_verify (f.e, WC_VERIFY_CONTRACT, BS, NULL, NULL,
                                     &vr), ==, 0);
  g_assert_cmpuint (vr.violations, >, 0);
  fx_fini (&f);
}

static void
test_S10_detects_corruption (void)
{
  struct fx f;
  struct wc_cut cut = mkcut (WC_CUT_LOSE, 1);
  struct wc_verify_report vr;

  fx_init (&f, WC_MODE_WRITEBACK, 1 << 20, true);
  put (f.e, 1, 0x11, 0);
  g_assert_cmpint (wc_flush (f.e, 0), ==, 0);
  put (f.e, 2, 0x21, 0);
  put (f.e, 2, 0x22, 0);
  g_assert_cmpint (wc_power_cut (f.e, &cut, NULL), ==, 0);
  assert_oracle_clean (f.e, BS);

  /* A content written before the cut passes the contract, not the exact
   * check (lose keeps nothing). */
  memset (f.m->buf + 2 * BS, 0x21, BS);
  g_assert_cmpint (wc_oracle_verify (f.e, WC_VERIFY_CONTRACT, BS, NULL, NULL,
                                     &vr), ==, 0);
  g_assert_cmpuint (vr.violations, ==, 0);
  g_assert_cmpint (wc_oracle_verify (f.e, WC_VERIFY_EXACT, 512, NULL, NULL,
                                     &vr), ==, 0);
  g_assert_cmpuint (vr.violations, ==, BS / 512);
  g_assert_cmpuint (vr.first_bad_offset, ==, 2 * BS);

  /* A content never written fails both. */
  f.m->buf[1 * BS + 100] ^= 1;
  g_assert_cmpint (wc_oracle_verify (f.e, WC_VERIFY_CONTRACT, BS, NULL, NULL,
                                     &vr), ==, 0);
  g_assert_cmpuint (vr.violations, ==, 1);
  g_assert_cmpuint (vr.first_bad_offset, ==, 1 * BS);
  fx_fini (&f);
}

static void
test_S10_needs_oracle (void)
{
  struct fx f;
  struct wc_verify_report vr;

  fx_init (&f, WC_MODE_WRITEBACK, 1 << 20, false);
  g_assert_cmpint (wc_oracle_verify (f.e, WC_VERIFY_EXACT, 512, NULL, NULL,
                                     &vr), ==, -1);
  g_assert_cmpint (errno, ==, ENOTSUP);
  fx_fini (&f);
}

/* A request in flight when the power is cut fails with EIO, and the cut
 * waits for its media I/O before meeting the dirty data. */
struct inflight {
  GMutex lock;
  GCond cond;
  int stage;                    /* 1: read blocked in media; 2: release */
};

static void
block_read_hook (struct memmedia *m, enum mm_op op, uint64_t offset,
                 uint32_t count, void *arg)
{
  struct inflight *in = arg;

  if (op != MM_READ)
    return;
  g_mutex_lock (&in->lock);
  in->stage = 1;
  g_cond_broadcast (&in->cond);
  while (in->stage != 2)
    g_cond_wait (&in->cond, &in->lock);
  g_mutex_unlock (&in->lock);
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

static void
test_S8_inflight_fails_eio (void)
{
  struct fx f;
  struct inflight in = { 0 };
  GThread *tr, *tc;

  fx_init (&f, WC_MODE_WRITEBACK, 1 << 20, false);
  g_mutex_init (&in.lock);
  g_cond_init (&in.cond);
  f.m->hook = block_read_hook;
  f.m->hook_arg = &in;
  tr = g_thread_new ("reader", reader, f.e);
  g_mutex_lock (&in.lock);
  while (in.stage != 1)
    g_cond_wait (&in.cond, &in.lock);
  g_mutex_unlock (&in.lock);
  tc = g_thread_new ("cutter", cutter, f.e);
  /* The power goes off at once; the cut then waits for the read. */
  while (wc_powered (f.e))
    g_thread_yield ();
  g_mutex_lock (&in.lock);
  in.stage = 2;
  g_cond_broadcast (&in.cond);
  g_mutex_unlock (&in.lock);
  g_assert_cmpint (GPOINTER_TO_INT (g_thread_join (tr)), ==, EIO);
  g_assert_cmpint (GPOINTER_TO_INT (g_thread_join (tc)), ==, 0);
  f.m->hook = NULL;
  g_cond_clear (&in.cond);
  g_mutex_clear (&in.lock);
  fx_fini (&f);
}

/* ---- S9 (start-up triggers) --------------------------------------------- */

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

/* ---- Regressions found by review ------------------------------------- */

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

/* S2/S4: blocks of a FUA write that a destage wrote back without FUA
 * during the same request are flushed before the request returns. */
static void
test_S2_fua_covers_destaged_blocks (void)
{
  struct fx f;
  g_autofree uint8_t *buf = g_malloc (8 * BS);

  fx_init (&f, WC_MODE_WRITEBACK, 4 * BS, false);
  memset (buf, 0x2f, 8 * BS);
  g_assert_cmpint (wc_write (f.e, buf, 8 * BS, 0, WC_FUA), ==, 0);
  /* Not every block went down with FUA, so a media flush must follow. */
  g_assert_cmpuint (f.m->writes, >, f.m->fua_writes);
  g_assert_cmpuint (f.m->flushes, >=, 1);
  fx_fini (&f);
}

/* S8: power-on while a cut waits for the media waits for the cut, so the
 * cut never meets (and drops) writes made after power-on. */
struct slow_media {
  GMutex lock;
  GCond cond;
  int stage;                    /* 1: write-back in media; 2: release */
};

static void
slow_write_hook (struct memmedia *m, enum mm_op op, uint64_t offset,
                 uint32_t count, void *arg)
{
  struct slow_media *sm = arg;

  if (op != MM_WRITE)
    return;
  g_mutex_lock (&sm->lock);
  if (sm->stage == 0) {
    sm->stage = 1;
    g_cond_broadcast (&sm->cond);
    while (sm->stage != 2)
      g_cond_wait (&sm->cond, &sm->lock);
  }
  g_mutex_unlock (&sm->lock);
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

static void
test_S8_power_on_waits_for_cut (void)
{
  struct fx f;
  struct slow_media sm = { 0 };
  GThread *tf, *tc, *tp;

  fx_init (&f, WC_MODE_WRITEBACK, 1 << 20, true);
  g_mutex_init (&sm.lock);
  g_cond_init (&sm.cond);
  put (f.e, 1, 0x11, 0);
  f.m->hook = slow_write_hook;
  f.m->hook_arg = &sm;
  tf = g_thread_new ("flusher", flusher, f.e);  /* blocks in the media */
  g_mutex_lock (&sm.lock);
  while (sm.stage != 1)
    g_cond_wait (&sm.cond, &sm.lock);
  g_mutex_unlock (&sm.lock);
  tc = g_thread_new ("cutter", cutter, f.e);    /* waits for the media */
  while (wc_powered (f.e))
    g_thread_yield ();
  tp = g_thread_new ("power-on", powerer, f.e); /* must wait for the cut */
  g_mutex_lock (&sm.lock);
  sm.stage = 2;
  g_cond_broadcast (&sm.cond);
  g_mutex_unlock (&sm.lock);
  g_assert_cmpint (GPOINTER_TO_INT (g_thread_join (tc)), ==, 0);
  /* Power-on returned only once the cut had completed. */
  g_assert_cmpint (GPOINTER_TO_INT (g_thread_join (tp)), ==, 1 + 1);
  g_thread_join (tf);           /* EIO or 0: it raced the cut */
  f.m->hook = NULL;
  g_assert_true (wc_powered (f.e));
  put (f.e, 2, 0x22, 0);        /* after power-on: must stay cached */
  g_assert_true (reads_as (f.e, 2, 0x22));
  g_assert_cmpuint (stats (f.e).cached_blocks, ==, 1);
  g_cond_clear (&sm.cond);
  g_mutex_clear (&sm.lock);
  fx_fini (&f);
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
  struct inflight in = { 0 };
  GThread *t;
  uint8_t b = 0x66, got[32];

  fx_init (&f, WC_MODE_WRITEBACK, 1 << 20, false);
  g_mutex_init (&in.lock);
  g_cond_init (&in.cond);
  f.m->hook = block_read_hook;  /* holds the first load in the media */
  f.m->hook_arg = &in;
  t = g_thread_new ("w1", partial_writer, f.e);
  g_mutex_lock (&in.lock);
  while (in.stage != 1)
    g_cond_wait (&in.cond, &in.lock);
  g_mutex_unlock (&in.lock);
  f.m->hook = NULL;
  g_mutex_lock (&in.lock);
  in.stage = 2;
  g_cond_broadcast (&in.cond);
  g_mutex_unlock (&in.lock);
  /* This write finds the block LOADING or DIRTY; either way it returns. */
  g_assert_cmpint (wc_write (f.e, &b, 1, 10, 0), ==, 0);
  g_assert_cmpint (GPOINTER_TO_INT (g_thread_join (t)), ==, 0);
  g_assert_cmpint (wc_read (f.e, got, 32, 0), ==, 0);
  g_assert_cmpuint (got[10], ==, 0x66);
  g_assert_cmpuint (got[20], ==, 0x77);
  g_cond_clear (&in.cond);
  g_mutex_clear (&in.lock);
  fx_fini (&f);
}

/* S10: blocks torn by an earlier cut and not written since are checked
 * against what that cut left, not against their pre-cut history. */
static void
test_S10_earlier_torn_cut (void)
{
  struct fx f;
  struct wc_cut torn = mkcut (WC_CUT_TORN, 9), lose = mkcut (WC_CUT_LOSE, 1);
  struct wc_cut_report rep;

  fx_init (&f, WC_MODE_WRITEBACK, 1 << 20, true);
  for (unsigned i = 0; i < 16; i++)
    put (f.e, i, 0x10 + i, 0);
  g_assert_cmpint (wc_power_cut (f.e, &torn, &rep), ==, 0);
  g_assert_cmpuint (rep.torn, >, 0);
  g_assert_cmpint (wc_power_on (f.e), ==, 0);
  put (f.e, 100, 0x55, 0);
  g_assert_cmpint (wc_power_cut (f.e, &lose, NULL), ==, 0);
  assert_oracle_clean (f.e, BS);        /* whole blocks: the torn ones too */
  fx_fini (&f);
}

/* S10: a survivor run the media refuses during a cut is lost; the runs of
 * the same block that reached the media stand, and the oracle says so. */
static int fail_countdown;

static void
fail_second_write_hook (struct memmedia *m, enum mm_op op, uint64_t offset,
                        uint32_t count, void *arg)
{
  if (op == MM_WRITE && --fail_countdown == 0) {
    pthread_mutex_lock (&m->lock);
    m->fail_writes = 1;
    pthread_mutex_unlock (&m->lock);
  }
}

static void
test_S10_cut_survivor_write_fails (void)
{
  struct fx f;
  struct wc_cut torn = mkcut (WC_CUT_TORN, 1);
  struct wc_cut_report rep;

  fx_init (&f, WC_MODE_WRITEBACK, 1 << 20, true);
  put (f.e, 0, 0x4e, 0);
  fail_countdown = 2;
  f.m->hook = fail_second_write_hook;
  g_assert_cmpint (wc_power_cut (f.e, &torn, &rep), ==, 0);
  f.m->hook = NULL;
  g_assert_cmpuint (rep.errors, ==, 1);
  assert_oracle_clean (f.e, 512);
  fx_fini (&f);
}

/* S10: with the oracle, a cut checks the media itself, before the power
 * can come back, and says what it found in its report.  A check made after
 * the cut returns could see a power-on and new writes instead (here: the
 * on_cut callback powers on and rewrites the damaged block). */
static bool lying;              /* lying_write damages what it stores */

static int
lying_write (void *opaque, const void *buf, uint32_t count, uint64_t offset,
             bool fua)
{
  struct memmedia *m = opaque;
  int rv = memmedia_ops.write (opaque, buf, count, offset, fua);

  if (rv == 0 && lying)
    m->buf[offset] ^= 0xff;
  return rv;
}

static void
power_on_and_rewrite (void *opaque, const struct wc_cut_report *rep)
{
  struct wc_engine *e = ((struct memmedia *) opaque)->hook_arg;

  lying = false;
  g_assert_cmpint (wc_power_on (e), ==, 0);
  put (e, 1, 0x77, WC_FUA);
}

static void
test_S10_cut_checks_before_power_on (void)
{
  struct memmedia *m = memmedia_new (DISK);
  struct wc_media_ops ops = memmedia_ops;
  struct wc_config cfg;
  struct wc_engine *e;
  struct wc_cut keep = mkcut (WC_CUT_KEEP, 1);
  struct wc_cut_report rep;
  struct wc_verify_report vr;

  ops.write = lying_write;
  memmedia_config (m, &cfg);
  cfg.ops = &ops;
  cfg.oracle = true;
  e = wc_engine_new (&cfg);
  m->hook_arg = e;

  /* An honest cut: every block written is checked, nothing is wrong. */
  put (e, 0, 0x11, 0);
  put (e, 1, 0x22, 0);
  g_assert_cmpint (wc_power_cut (e, &keep, &rep), ==, 0);
  g_assert_true (rep.verified);
  g_assert_cmpint (rep.verify_errno, ==, 0);
  g_assert_cmpuint (rep.verified_blocks, ==, 2);
  g_assert_cmpuint (rep.exact_violations, ==, 0);
  g_assert_cmpuint (rep.contract_violations, ==, 0);
  g_assert_cmpint (wc_power_on (e), ==, 0);

  /* The media damages the survivor: the report says so, although power
   * is back and the block rewritten by the time anyone reads it. */
  cfg.on_cut = power_on_and_rewrite;
  wc_engine_free (e);
  e = wc_engine_new (&cfg);
  m->hook_arg = e;
  put (e, 1, 0x33, 0);
  lying = true;
  g_assert_cmpint (wc_power_cut (e, &keep, &rep), ==, 0);
  g_assert_true (rep.verified);
  g_assert_cmpuint (rep.exact_violations, ==, 1);
  g_assert_cmpuint (rep.contract_violations, ==, 1);
  g_assert_cmpuint (rep.first_bad_offset, ==, 1 * BS);
  /* A check now sees the rewritten block: clean, the damage gone. */
  g_assert_true (wc_powered (e));
  g_assert_cmpint (wc_oracle_verify (e, WC_VERIFY_EXACT, 512, NULL, NULL,
                                     &vr), ==, 0);
  g_assert_cmpuint (vr.violations, ==, 0);
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

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/engine/names", test_mode_names);
  g_test_add_func ("/engine/bad-config", test_bad_config);
  g_test_add_func ("/engine/bad-requests", test_bad_requests);
  g_test_add_func ("/engine/readonly", test_readonly);
  g_test_add_func ("/engine/S1/read-your-writes", test_S1_read_your_writes);
  g_test_add_func ("/engine/S2/fua-durable-before-ack",
                   test_S2_fua_durable_before_ack);
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
  g_test_add_func ("/engine/S4/writethrough", test_S4_writethrough);
  g_test_add_func ("/engine/S6/writethrough-client",
                   test_S6_writethrough_client);
  g_test_add_func ("/engine/unsafe/ignores-flush-and-fua",
                   test_unsafe_ignores_flush_and_fua);
  g_test_add_func ("/engine/S5/switch-off-writes-back",
                   test_S5_switch_off_writes_back);
  g_test_add_func ("/engine/S5/switch-failure-changes-nothing",
                   test_S5_switch_failure_changes_nothing);
  g_test_add_func ("/engine/S5/set-wce/keeps-host-half",
                   test_S5_set_wce_keeps_host_half);
  g_test_add_func ("/engine/S5/set-wce/failure-changes-nothing",
                   test_S5_set_wce_failure);
  g_test_add_func ("/engine/S5/set-wce/atomic-with-mode-switches",
                   test_S5_set_wce_atomic);
  g_test_add_func ("/engine/S5/switch-under-writes",
                   test_S5_switch_under_writes);
  g_test_add_func ("/engine/S7/bounded-destages-oldest",
                   test_S7_bounded_destages_oldest);
  g_test_add_func ("/engine/S7/full-and-failing-never-drops",
                   test_S7_full_and_failing_never_drops);
  g_test_add_func ("/engine/S7/destage-batch", test_S7_destage_batch);
  g_test_add_func ("/engine/S7/request-larger-than-cache",
                   test_S7_request_larger_than_cache);
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
  g_test_add_func ("/engine/S9/after-writes", test_S9_after_writes);
  g_test_add_func ("/engine/S9/after-flushes-and-bytes",
                   test_S9_after_flushes_and_bytes);
  g_test_add_func ("/engine/S10/whole-block-check-sees-torn",
                   test_S10_whole_block_check_sees_torn);
  g_test_add_func ("/engine/S10/detects-corruption",
                   test_S10_detects_corruption);
  g_test_add_func ("/engine/S10/needs-oracle", test_S10_needs_oracle);
  g_test_add_func ("/engine/S10/cut-checks-before-power-on",
                   test_S10_cut_checks_before_power_on);
  g_test_add_func ("/engine/debug-lines", test_debug_lines);
  g_test_add_func ("/engine/S9/at-mark", test_S9_at_mark);
  g_test_add_func ("/engine/S9/after-ms", test_S9_after_ms);
  g_test_add_func ("/engine/S8/epoch", test_epoch);
  g_test_add_func ("/engine/S1/odd-size-disk", test_S1_odd_size_disk);
  g_test_add_func ("/engine/S3/run-ends-in-partial-block",
                   test_S3_run_ends_in_partial_block);
  g_test_add_func ("/engine/S2/fua-covers-destaged-blocks",
                   test_S2_fua_covers_destaged_blocks);
  g_test_add_func ("/engine/S8/power-on-waits-for-cut",
                   test_S8_power_on_waits_for_cut);
  g_test_add_func ("/engine/S1/loading-wakes-waiters",
                   test_S1_loading_wakes_waiters);
  g_test_add_func ("/engine/S10/earlier-torn-cut", test_S10_earlier_torn_cut);
  g_test_add_func ("/engine/S10/cut-survivor-write-fails",
                   test_S10_cut_survivor_write_fails);
  return g_test_run ();
}

/* Unit tests for the engine's write log (lib/log.c, lib/wlog-sink.c): what
 * each request puts in the log, in which order, with which flags, and how
 * the log starts, stops, ends at a cut and fails.  Every log is read back
 * with the tree's reader (lib/wlog.h), which checks every field, and
 * replayed onto a copy of the base to compare with the media.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "gate.h"
#include "memmedia.h"
#include "wcache.h"
#include "wlog.h"

#define BS 4096
#define DISK (64 * BS)

struct fx {
  struct memmedia *m;
  struct wc_engine *e;
  char *dir, *log;
};

static void
fx_init_bs (struct fx *f, enum wc_mode mode, uint32_t bs, uint32_t ss)
{
  struct wc_config cfg;
  g_autofree char *msg = NULL;

  memset (f, 0, sizeof *f);
  f->m = memmedia_new (DISK);
  memmedia_config (f->m, &cfg);
  cfg.mode = mode;
  cfg.block_size = bs;
  cfg.oracle = true;
  f->e = wc_engine_new (&cfg);
  f->dir = g_dir_make_tmp ("wcache-log-XXXXXX", NULL);
  f->log = g_build_filename (f->dir, "log", NULL);
  g_assert_cmpint (wc_log_start (f->e, f->log, ss, &msg), ==, 0);
}

static void
fx_init (struct fx *f, enum wc_mode mode)
{
  fx_init_bs (f, mode, BS, 512);
}

static void
fx_fini (struct fx *f)
{
  wc_engine_free (f->e);
  memmedia_free (f->m);
  g_unlink (f->log);
  g_rmdir (f->dir);
  g_free (f->log);
  g_free (f->dir);
}

/* The log as "KIND:FLAGS:SECTOR+N" words (marks as "MARK:text"), read
 * with the checking reader. */
static char *
dump (const char *path)
{
  g_autofree char *msg = NULL;
  struct wc_wlog *r = wc_wlog_open (path, &msg);
  GString *out = g_string_new (NULL);
  struct wc_wlog_entry en;
  int ret;

  g_assert_nonnull (r);
  while ((ret = wc_wlog_next (r, &en, &msg)) == 1) {
    char flags[64];

    if (out->len)
      g_string_append_c (out, ' ');
    if (en.kind == WC_WLOG_KIND_MARK)
      g_string_append_printf (out, "MARK:%s", en.mark);
    else if (en.kind == WC_WLOG_KIND_FLUSH)
      g_string_append (out, "FLUSH");
    else
      g_string_append_printf (out, "%s:%" G_GUINT64_FORMAT "+%"
                              G_GUINT64_FORMAT,
                              wc_wlog_flags_name (en.flags, flags,
                                                  sizeof flags),
                              en.sector, en.nr_sectors);
  }
  if (ret == -1)
    g_error ("%s: %s", path, msg);
  wc_wlog_close (r);
  return g_string_free (out, FALSE);
}

static void
put (struct wc_engine *e, uint64_t off, uint32_t len, uint8_t v,
     unsigned flags)
{
  g_autofree uint8_t *buf = g_malloc (len);

  memset (buf, v, len);
  g_assert_cmpint (wc_write (e, buf, len, off, flags), ==, 0);
}

/* Replays entries [0, n) of the log (all: n = -1) onto a copy of base. */
static uint8_t *
replay (const char *path, const uint8_t *base, int64_t n)
{
  g_autofree char *msg = NULL;
  struct wc_wlog *r = wc_wlog_open (path, &msg);
  struct memmedia *m = memmedia_new (DISK);
  uint8_t *img;

  g_assert_nonnull (r);
  memcpy (m->buf, base, DISK);
  if (wc_wlog_replay (r, n < 0 ? wc_wlog_nr_entries (r) : (uint64_t) n,
                      &memmedia_ops, m, DISK, &msg) == -1)
    g_error ("replay: %s", msg);
  wc_wlog_close (r);
  img = g_memdup2 (m->buf, DISK);
  memmedia_free (m);
  return img;
}

/* ---- What each request logs --------------------------------------------- */

/* Writes, zeroes and trims, whole and partial sectors; flags by mode. */
static void
test_entries_writeback (void)
{
  struct fx f;
  g_autofree char *d = NULL;

  fx_init (&f, WC_MODE_WRITEBACK);
  put (f.e, 0, BS, 0x11, 0);                    /* sectors 0-7 */
  put (f.e, 8 * 512 + 100, 50, 0x22, 0);        /* inside sector 8 */
  put (f.e, 16 * 512, 512, 0x33, WC_FUA);       /* FUA: durable */
  g_assert_cmpint (wc_zero (f.e, 2048, 20 * 512, 0), ==, 0);
  g_assert_cmpint (wc_trim (f.e, 1500, 30 * 512 + 12, 0), ==, 0);
  g_assert_cmpint (wc_flush (f.e, 0), ==, 0);
  g_assert_cmpint (wc_log_stop (f.e), ==, 0);
  d = dump (f.log);
  /* The trim covers 30+12 .. 32+488: partial 30, whole 31, partial 32. */
  g_assert_cmpstr (d, ==, "NONE:0+8 NONE:8+1 FUA:16+1 DISCARD:20+4 "
                   "NONE:30+1 DISCARD:31+1 NONE:32+1 FLUSH");
  fx_fini (&f);
}

/* With the cache off every write was durable when acknowledged: FUA. */
static void
test_entries_writethrough (void)
{
  for (enum wc_mode mode = 0; mode < WC_MODE_COUNT; mode++) {
    struct fx f;
    g_autofree char *d = NULL;
    const char *want;

    fx_init (&f, mode);
    put (f.e, 0, 512, 0x11, 0);
    put (f.e, 512, 512, 0x12, WC_FUA);
    put (f.e, 1024, 512, 0x13, WC_WRITETHROUGH);
    g_assert_cmpint (wc_flush (f.e, 0), ==, 0);
    g_assert_cmpint (wc_log_stop (f.e), ==, 0);
    d = dump (f.log);
    switch (mode) {
    case WC_MODE_WRITEBACK:
    case WC_MODE_NONE:
      want = "NONE:0+1 FUA:1+1 FUA:2+1 FLUSH";
      break;
    case WC_MODE_WRITETHROUGH:
    case WC_MODE_DIRECTSYNC:
      want = "FUA:0+1 FUA:1+1 FUA:2+1 FLUSH";
      break;
    case WC_MODE_UNSAFE:
      /* Promises nothing: no FUA, no FLUSH. */
      want = "NONE:0+1 NONE:1+1 NONE:2+1";
      break;
    }
    g_assert_cmpstr (d, ==, want);
    fx_fini (&f);
  }
}

/* The operator's flush (WC_FORCE) and a switch to WCE off are flushes that
 * really happen, in unsafe mode too. */
static void
test_forced_flush_and_switch (void)
{
  struct fx f;
  g_autofree char *d = NULL;

  fx_init (&f, WC_MODE_UNSAFE);
  put (f.e, 0, 512, 0x11, 0);
  g_assert_cmpint (wc_flush (f.e, 0), ==, 0);         /* ignored */
  g_assert_cmpint (wc_flush (f.e, WC_FORCE), ==, 0);  /* real */
  put (f.e, 512, 512, 0x12, 0);
  g_assert_cmpint (wc_set_mode (f.e, WC_MODE_WRITETHROUGH), ==, 0);
  put (f.e, 1024, 512, 0x13, 0);
  g_assert_cmpint (wc_log_stop (f.e), ==, 0);
  d = dump (f.log);
  g_assert_cmpstr (d, ==, "NONE:0+1 FLUSH NONE:1+1 FLUSH FUA:2+1");
  fx_fini (&f);
}

/* A failed flush leaves no FLUSH entry; the next one does. */
static void
test_failed_flush_no_entry (void)
{
  struct fx f;
  g_autofree char *d = NULL;

  fx_init (&f, WC_MODE_WRITEBACK);
  put (f.e, 0, BS, 0x11, 0);
  f.m->fail_flushes = 1;
  g_assert_cmpint (wc_flush (f.e, 0), ==, -1);
  g_assert_cmpint (wc_flush (f.e, 0), ==, 0);
  g_assert_cmpint (wc_log_stop (f.e), ==, 0);
  d = dump (f.log);
  g_assert_cmpstr (d, ==, "NONE:0+8 FLUSH");
  fx_fini (&f);
}

/* Partial sectors carry the disk's content around the request: replaying
 * the log onto the base gives the media, byte for byte. */
static void
test_replay_equals_media (void)
{
  struct fx f;
  g_autofree uint8_t *base = NULL, *img = NULL;
  GRand *rng = g_rand_new_with_seed (5);

  fx_init (&f, WC_MODE_WRITEBACK);
  for (unsigned i = 0; i < DISK; i++)
    f.m->buf[i] = i * 7;
  base = g_memdup2 (f.m->buf, DISK);
  /* The log started on a clean cache: the media is its base.  Random
   * requests, unaligned, with flushes between. */
  for (unsigned i = 0; i < 300; i++) {
    uint32_t len = g_rand_int_range (rng, 1, 3 * BS);
    uint64_t off = g_rand_int_range (rng, 0, DISK - len);

    switch (g_rand_int_range (rng, 0, 6)) {
    case 0: g_assert_cmpint (wc_zero (f.e, len, off, 0), ==, 0); break;
    case 1: g_assert_cmpint (wc_trim (f.e, len, off, 0), ==, 0); break;
    case 2: g_assert_cmpint (wc_flush (f.e, 0), ==, 0); break;
    default: put (f.e, off, len, i, g_rand_boolean (rng) ? WC_FUA : 0);
    }
  }
  g_assert_cmpint (wc_flush (f.e, 0), ==, 0);
  g_assert_cmpint (wc_log_stop (f.e), ==, 0);
  img = replay (f.log, base, -1);
  g_assert_true (memcmp (img, f.m->buf, DISK) == 0);
  g_rand_free (rng);
  fx_fini (&f);
}

/* A random single client in every mode, switching modes as it goes: the
 * log replayed up to its k-th FLUSH entry is exactly what the client had
 * acknowledged when the k-th flush that promised something returned (a
 * flush outside unsafe mode, a forced one, a switch to WCE off). */
static void
test_replay_at_every_flush (void)
{
  for (uint32_t seed = 1; seed <= 8; seed++) {
    struct fx f;
    GRand *rng = g_rand_new_with_seed (seed);
    g_autofree uint8_t *base = NULL, *model = g_malloc0 (DISK);
    g_autoptr (GPtrArray) snaps = g_ptr_array_new_with_free_func (g_free);
    g_autofree char *msg = NULL;
    struct wc_wlog *r;
    struct wc_wlog_entry en;
    unsigned k = 0;

    fx_init_bs (&f, WC_MODE_WRITEBACK, 512 << g_rand_int_range (rng, 0, 4),
                512);
    g_assert_cmpint (wc_set_mode (f.e, WC_MODE_WRITEBACK), ==, 0);
    for (unsigned i = 0; i < DISK; i++)
      f.m->buf[i] = i * 13 + seed;
    base = g_memdup2 (f.m->buf, DISK);
    memcpy (model, base, DISK);
    for (unsigned i = 0; i < 400; i++) {
      uint32_t len = g_rand_int_range (rng, 1, 2 * BS);
      uint64_t off = g_rand_int_range (rng, 0, DISK - len);
      enum wc_mode mode = wc_get_mode (f.e);
      bool promises = mode != WC_MODE_UNSAFE;
      int op = g_rand_int_range (rng, 0, 12);

      if (op == 0) {
        g_assert_cmpint (wc_zero (f.e, len, off, 0), ==, 0);
        memset (model + off, 0, len);
      }
      else if (op == 1) {
        g_assert_cmpint (wc_trim (f.e, len, off, 0), ==, 0);
        memset (model + off, 0, len);
      }
      else if (op == 2 || op == 3) {
        bool force = op == 3;
        g_assert_cmpint (wc_flush (f.e, force ? WC_FORCE : 0), ==, 0);
        if (promises || force)
          g_ptr_array_add (snaps, g_memdup2 (model, DISK));
      }
      else if (op == 4) {
        enum wc_mode to = g_rand_int_range (rng, 0, WC_MODE_COUNT);
        bool flushes = wc_mode_wce (mode) && !wc_mode_wce (to);
        g_assert_cmpint (wc_set_mode (f.e, to), ==, 0);
        if (flushes)
          g_ptr_array_add (snaps, g_memdup2 (model, DISK));
      }
      else {
        uint8_t v = g_rand_int_range (rng, 0, 256);
        put (f.e, off, len, v, g_rand_boolean (rng) ? WC_FUA : 0);
        memset (model + off, v, len);
      }
    }
    g_assert_cmpint (wc_log_stop (f.e), ==, 0);
    /* The k-th FLUSH entry against the k-th snapshot. */
    r = wc_wlog_open (f.log, &msg);
    g_assert_nonnull (r);
    while (wc_wlog_next (r, &en, &msg) == 1) {
      g_autofree uint8_t *img = NULL;

      if (en.kind != WC_WLOG_KIND_FLUSH)
        continue;
      g_assert_cmpuint (k, <, snaps->len);
      img = replay (f.log, base, en.index + 1);
      if (memcmp (img, snaps->pdata[k], DISK) != 0)
        g_error ("seed %u: FLUSH entry %u (log entry %" G_GUINT64_FORMAT
                 ") replays to something else than the client had", seed,
                 k, en.index);
      k++;
    }
    g_assert_cmpuint (k, ==, snaps->len);
    wc_wlog_close (r);
    g_rand_free (rng);
    fx_fini (&f);
  }
}

/* ---- Order --------------------------------------------------------------- */

static gpointer
flusher (gpointer e)
{
  return GINT_TO_POINTER (wc_flush (e, 0));
}

/* A flush's entry goes where it arrived: a write acknowledged while the
 * flush was writing back comes after the FLUSH, whatever the completion
 * order; a write acknowledged before it arrived comes before. */
static void
test_flush_placement (void)
{
  struct fx f;
  struct gate g;
  g_autofree char *d = NULL;
  GThread *t;

  gate_init (&g);
  fx_init (&f, WC_MODE_WRITEBACK);
  put (f.e, 0, 512, 0x11, 0);                   /* before: sector 0 */
  f.m->hook = gate_flush_hook;
  f.m->hook_arg = &g;
  t = g_thread_new ("flush", flusher, f.e);
  gate_wait_held (&g);
  /* The flush has arrived and waits in the media: these are acknowledged
   * after it arrived and before it completes. */
  put (f.e, 512, 512, 0x12, 0);
  put (f.e, 1024, 512, 0x13, WC_FUA);
  g_assert_cmpint (wc_mark (f.e, "during"), ==, 0);
  gate_release (&g);
  g_assert_cmpint (GPOINTER_TO_INT (g_thread_join (t)), ==, 0);
  f.m->hook = NULL;
  g_assert_cmpint (wc_log_stop (f.e), ==, 0);
  d = dump (f.log);
  g_assert_cmpstr (d, ==, "NONE:0+1 FLUSH NONE:1+1 FUA:2+1 MARK:during");
  gate_clear (&g);
  fx_fini (&f);
}

/* Many writers and flushers at once: the log reads back whole, holds one
 * entry per request, and replays to the media. */
struct mt {
  struct wc_engine *e;
  unsigned id;
};

static gpointer
mt_writer (gpointer p)
{
  struct mt *w = p;
  uint8_t buf[BS];

  for (unsigned i = 0; i < 200; i++) {
    memset (buf, w->id * 16 + (i & 15), sizeof buf);
    g_assert_cmpint (wc_write (w->e, buf, BS, (w->id * 8 + i % 8) * BS,
                               i % 5 == 0 ? WC_FUA : 0), ==, 0);
    if (i % 17 == 0)
      g_assert_cmpint (wc_flush (w->e, 0), ==, 0);
  }
  return NULL;
}

static void
test_concurrent_log_reads_back (void)
{
  struct fx f;
  struct mt w[4];
  GThread *t[4];
  g_autofree uint8_t *base = NULL, *img = NULL;
  struct wc_log_info li;

  fx_init (&f, WC_MODE_WRITEBACK);
  base = g_memdup2 (f.m->buf, DISK);
  for (unsigned i = 0; i < 4; i++) {
    w[i].e = f.e;
    w[i].id = i;
    t[i] = g_thread_new ("writer", mt_writer, &w[i]);
  }
  for (unsigned i = 0; i < 4; i++)
    g_thread_join (t[i]);
  g_assert_cmpint (wc_flush (f.e, 0), ==, 0);
  g_assert_cmpint (wc_log_stop (f.e), ==, 0);
  wc_log_get_info (f.e, &li);
  /* 800 writes, 48 flushes by the writers, the last one. */
  g_assert_cmpuint (li.entries, ==, 800 + 4 * 12 + 1);
  wc_log_info_clear (&li);
  img = replay (f.log, base, -1);
  g_assert_true (memcmp (img, f.m->buf, DISK) == 0);
  fx_fini (&f);
}

/* ---- Marks, cuts, start and stop ---------------------------------------- */

static void
test_marks_and_cut (void)
{
  struct fx f;
  struct wc_cut cut;
  g_autofree char *d = NULL;
  g_autofree char *msg = NULL;
  g_autofree char *longmark = g_strnfill (480, 'm');
  struct wc_log_info li;

  fx_init (&f, WC_MODE_WRITEBACK);
  g_assert_cmpuint (wc_log_mark_max (f.e), ==, 479);
  g_assert_cmpint (wc_mark (f.e, longmark), ==, -1);    /* 480 > 479 */
  g_assert_cmpint (errno, ==, EINVAL);
  g_assert_cmpint (wc_mark (f.e, "record 1"), ==, 0);
  put (f.e, 0, 512, 0x11, 0);
  wc_cut_init (&cut);
  cut.seed = 77;
  cut.seed_set = true;
  g_assert_cmpint (wc_power_cut (f.e, &cut, NULL), ==, 0);
  /* The log is closed: the cut's mark is its last entry. */
  wc_log_get_info (f.e, &li);
  g_assert_false (li.on);
  g_assert_null (li.failed);
  wc_log_info_clear (&li);
  d = dump (f.log);
  g_assert_cmpstr (d, ==, "MARK:record 1 NONE:0+1 "
                   "MARK:power-cut policy=lose seed=77");
  g_assert_cmpint (wc_log_stop (f.e), ==, -1);          /* not on */
  /* After power-on, logging resumes only with a new start. */
  g_assert_cmpint (wc_power_on (f.e), ==, 0);
  put (f.e, 0, 512, 0x22, 0);
  g_assert_cmpint (wc_mark (f.e, longmark), ==, 0);     /* no log: any */
  g_free (d);
  d = dump (f.log);
  g_assert_cmpstr (d, ==, "MARK:record 1 NONE:0+1 "
                   "MARK:power-cut policy=lose seed=77");
  g_assert_cmpint (wc_log_start (f.e, f.log, 512, &msg), ==, 0);
  put (f.e, 512, 512, 0x33, 0);
  g_assert_cmpint (wc_log_stop (f.e), ==, 0);
  g_free (d);
  d = dump (f.log);
  g_assert_cmpstr (d, ==, "NONE:1+1");
  fx_fini (&f);
}

/* Start writes back the cache first (the media is the base), refuses a
 * second start naming the current log, a file that is not a log, sector
 * sizes that do not fit, and the power being off. */
static void
test_start_rules (void)
{
  struct fx f;
  g_autofree char *msg = NULL;
  g_autofree char *other = NULL;
  g_autofree char *d = NULL;
  struct wc_stats st;
  struct wc_cut cut;

  fx_init (&f, WC_MODE_WRITEBACK);
  g_assert_cmpint (wc_log_stop (f.e), ==, 0);
  put (f.e, 0, BS, 0x44, 0);
  wc_get_stats (f.e, &st);
  g_assert_cmpuint (st.cached_blocks, ==, 1);
  g_assert_cmpint (wc_log_start (f.e, f.log, 512, &msg), ==, 0);
  wc_get_stats (f.e, &st);
  g_assert_cmpuint (st.cached_blocks, ==, 0);           /* written back */
  g_assert_cmpuint (f.m->buf[0], ==, 0x44);

  other = g_build_filename (f.dir, "other", NULL);
  g_clear_pointer (&msg, g_free);
  g_assert_cmpint (wc_log_start (f.e, other, 512, &msg), ==, -1);
  g_assert_cmpint (errno, ==, EBUSY);
  g_assert_nonnull (strstr (msg, f.log));
  g_assert_false (g_file_test (other, G_FILE_TEST_EXISTS));
  g_assert_cmpint (wc_log_stop (f.e), ==, 0);

  /* Not a log: left alone. */
  g_assert_true (g_file_set_contents (other, "precious", -1, NULL));
  g_clear_pointer (&msg, g_free);
  g_assert_cmpint (wc_log_start (f.e, other, 512, &msg), ==, -1);
  g_assert_nonnull (strstr (msg, "not a write log"));
  g_assert_true (g_file_get_contents (other, &d, NULL, NULL));
  g_assert_cmpstr (d, ==, "precious");
  g_unlink (other);

  /* Sector sizes: a power of two, at most the block size. */
  g_clear_pointer (&msg, g_free);
  g_assert_cmpint (wc_log_start (f.e, f.log, 8192, &msg), ==, -1);
  g_assert_cmpint (errno, ==, EINVAL);
  g_clear_pointer (&msg, g_free);
  g_assert_cmpint (wc_log_start (f.e, f.log, 1000, &msg), ==, -1);
  g_clear_pointer (&msg, g_free);
  g_assert_cmpint (wc_log_start (f.e, f.log, 4096, &msg), ==, 0);
  put (f.e, 4096 + 100, 10, 0x55, 0);
  g_assert_cmpint (wc_log_stop (f.e), ==, 0);
  g_free (d);
  d = dump (f.log);
  g_assert_cmpstr (d, ==, "NONE:1+1");          /* in 4096-byte sectors */

  /* The power off: no log. */
  wc_cut_init (&cut);
  g_assert_cmpint (wc_power_cut (f.e, &cut, NULL), ==, 0);
  g_clear_pointer (&msg, g_free);
  g_assert_cmpint (wc_log_start (f.e, f.log, 512, &msg), ==, -1);
  g_assert_cmpint (errno, ==, EIO);
  fx_fini (&f);
}

/* A disk whose size is not a whole number of log sectors cannot be
 * logged (the last entry would reach past it). */
static void
test_start_odd_disk (void)
{
  struct memmedia *m = memmedia_new (10000);
  struct wc_config cfg;
  struct wc_engine *e;
  g_autofree char *msg = NULL;
  g_autofree char *dir = g_dir_make_tmp ("wcache-log-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "log", NULL);

  memmedia_config (m, &cfg);
  e = wc_engine_new (&cfg);
  g_assert_cmpint (wc_log_start (e, path, 512, &msg), ==, -1);
  g_assert_nonnull (strstr (msg, "not a multiple of the log sector size"));
  wc_engine_free (e);
  memmedia_free (m);
  g_rmdir (dir);
}

/* ---- A log that fails ---------------------------------------------------- */

static char *failed_msg;

static void
on_log_failed (void *opaque, const char *msg)
{
  g_assert_null (failed_msg);
  failed_msg = g_strdup (msg);
}

/* The file cannot grow (RLIMIT_FSIZE, as a full disk): the log stops with
 * a reason, the disk goes on, and the log reads back to its last whole
 * entry. */
static void
test_log_fails_disk_goes_on (void)
{
  struct memmedia *m = memmedia_new (DISK);
  struct wc_config cfg;
  struct wc_engine *e;
  struct rlimit old, lim;
  g_autofree char *msg = NULL;
  g_autofree char *dir = g_dir_make_tmp ("wcache-log-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "log", NULL);
  g_autofree char *err = NULL;
  struct wc_log_info li;
  struct wc_wlog *r;
  uint8_t buf[BS];

  memmedia_config (m, &cfg);
  cfg.on_log_failed = on_log_failed;
  e = wc_engine_new (&cfg);
  g_assert_cmpint (wc_log_start (e, path, 512, &msg), ==, 0);
  signal (SIGXFSZ, SIG_IGN);
  getrlimit (RLIMIT_FSIZE, &old);
  lim = old;
  lim.rlim_cur = 16 * 1024;     /* 512 + 3 * (4608 + 512), and a bit */
  setrlimit (RLIMIT_FSIZE, &lim);
  for (unsigned i = 0; i < 10; i++) {
    memset (buf, i, sizeof buf);
    g_assert_cmpint (wc_write (e, buf, BS, i * BS, 0), ==, 0);
    g_assert_cmpint (wc_flush (e, 0), ==, 0);   /* the disk goes on */
  }
  setrlimit (RLIMIT_FSIZE, &old);
  g_assert_nonnull (failed_msg);
  g_assert_nonnull (strstr (failed_msg, path));
  wc_log_get_info (e, &li);
  g_assert_false (li.on);
  g_assert_nonnull (li.failed);
  g_assert_cmpuint (li.entries, ==, 6);         /* w, F three times */
  wc_log_info_clear (&li);
  /* The disk: every write durable on the media. */
  for (unsigned i = 0; i < 10; i++)
    g_assert_cmpuint (m->buf[i * BS], ==, i);
  /* The log: readable, its whole entries. */
  g_free (msg);
  msg = dump (path);
  g_assert_cmpstr (msg, ==, "NONE:0+8 FLUSH NONE:8+8 FLUSH NONE:16+8 FLUSH");
  /* A new log may start. */
  g_clear_pointer (&msg, g_free);
  g_assert_cmpint (wc_log_start (e, path, 512, &msg), ==, 0);
  wc_engine_free (e);
  memmedia_free (m);
  r = wc_wlog_open (path, &err);
  g_assert_nonnull (r);
  g_assert_cmpuint (wc_wlog_nr_entries (r), ==, 0);
  wc_wlog_close (r);
  g_unlink (path);
  g_rmdir (dir);
  g_clear_pointer (&failed_msg, g_free);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/log/entries/writeback", test_entries_writeback);
  g_test_add_func ("/log/entries/fua-by-mode", test_entries_writethrough);
  g_test_add_func ("/log/entries/forced-flush-and-switch",
                   test_forced_flush_and_switch);
  g_test_add_func ("/log/entries/failed-flush", test_failed_flush_no_entry);
  g_test_add_func ("/log/replay-equals-media", test_replay_equals_media);
  g_test_add_func ("/log/replay-at-every-flush", test_replay_at_every_flush);
  g_test_add_func ("/log/order/S3/flush-where-it-arrived",
                   test_flush_placement);
  g_test_add_func ("/log/order/concurrent", test_concurrent_log_reads_back);
  g_test_add_func ("/log/marks-and-cut", test_marks_and_cut);
  g_test_add_func ("/log/start/rules", test_start_rules);
  g_test_add_func ("/log/start/odd-disk", test_start_odd_disk);
  g_test_add_func ("/log/fails/disk-goes-on", test_log_fails_disk_goes_on);
  return g_test_run ();
}

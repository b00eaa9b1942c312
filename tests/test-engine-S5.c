/* Engine tests for S5 of wcache(7): mode switches, WCE off writing back
 * first, failures changing nothing, and switches under load. */
#include <config.h>

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "engine-tests.h"

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

void
engine_tests_S5 (void)
{
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
}

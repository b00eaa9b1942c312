/* The engine's lock-held check (engine.h, WC_LOCK_HELD), in the checked
 * build these tests link: a _locked function called by a thread that does
 * not hold e->lock aborts, whether the lock is free or another thread's.
 * The calls are made in a subprocess, which the abort ends. */
#include <config.h>

#include "engine-tests.h"
#include "engine.h"

#ifndef WC_CHECK_LOCKS
#error "these tests need the checked build's WC_LOCK_HELD (Makefile.am)"
#endif

static void
test_locks_held_passes (void)
{
  struct fx f;

  fx_init (&f, WC_MODE_WRITEBACK, 1 << 20, false);
  wc_lock (f.e);
  g_assert_cmpuint (wc_trigger_remaining_locked (f.e), ==, 0);
  wc_unlock (f.e);
  fx_fini (&f);
}

static void
test_locks_unlocked_aborts (void)
{
  struct fx f;

  if (g_test_subprocess ()) {
    fx_init (&f, WC_MODE_WRITEBACK, 1 << 20, false);
    wc_trigger_remaining_locked (f.e);
    return;                     /* not reached */
  }
  g_test_trap_subprocess (NULL, 0, 0);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*wc_trigger_remaining_locked*owner*");
}

/* Holds e->lock until the gate is released. */
struct holder {
  struct wc_engine *e;
  struct gate gate;
};

static gpointer
hold_lock (gpointer arg)
{
  struct holder *h = arg;

  wc_lock (h->e);
  gate_hold (&h->gate);
  wc_unlock (h->e);
  return NULL;
}

static void
test_locks_other_thread_aborts (void)
{
  struct fx f;
  struct holder h;

  if (g_test_subprocess ()) {
    fx_init (&f, WC_MODE_WRITEBACK, 1 << 20, false);
    h.e = f.e;
    gate_init (&h.gate);
    g_thread_unref (g_thread_new ("holder", hold_lock, &h));
    gate_wait_held (&h.gate);
    /* e->lock is held, but not by this thread. */
    wc_trigger_remaining_locked (f.e);
    return;                     /* not reached */
  }
  g_test_trap_subprocess (NULL, 0, 0);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*wc_trigger_remaining_locked*owner*");
}

void
engine_tests_locks (void)
{
  g_test_add_func ("/engine/locks/held-passes", test_locks_held_passes);
  g_test_add_func ("/engine/locks/unlocked-aborts",
                   test_locks_unlocked_aborts);
  g_test_add_func ("/engine/locks/other-thread-aborts",
                   test_locks_other_thread_aborts);
}

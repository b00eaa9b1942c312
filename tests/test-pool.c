/* Unit tests for the block buffer pool (lib/pool.c).  Leaks and overruns
 * are caught by make check-valgrind, which runs this binary too. */
#include <config.h>

#include <string.h>

#include <glib.h>

#include "pool.h"

#define SIZE 4096

static void
test_get_is_whole (void)
{
  struct wc_pool *pool = wc_pool_new (SIZE, 4);
  guint8 *p = wc_pool_get (pool);

  memset (p, 0xa5, SIZE);         /* every byte is the caller's */
  g_assert_cmpuint (wc_pool_spare (pool), ==, 0);
  wc_pool_put (pool, p);
  g_assert_cmpuint (wc_pool_spare (pool), ==, 1);
  wc_pool_free (pool);
}

static void
test_reuse (void)
{
  struct wc_pool *pool = wc_pool_new (SIZE, 4);
  void *a = wc_pool_get (pool), *b = wc_pool_get (pool);

  g_assert_true (a != b);
  g_assert_true (wc_pool_keep (pool, a));
  g_assert_true (wc_pool_keep (pool, b));
  /* Last in, first out: the warmest buffer goes out first. */
  g_assert_true (wc_pool_get (pool) == b);
  g_assert_true (wc_pool_get (pool) == a);
  g_assert_cmpuint (wc_pool_spare (pool), ==, 0);
  g_free (a);
  g_free (b);
  wc_pool_free (pool);
}

static void
test_cap (void)
{
  struct wc_pool *pool = wc_pool_new (SIZE, 3);
  void *extra;

  for (int i = 0; i < 3; i++)
    g_assert_true (wc_pool_keep (pool, g_malloc (SIZE)));
  extra = g_malloc (SIZE);
  g_assert_false (wc_pool_keep (pool, extra));  /* still ours */
  g_assert_cmpuint (wc_pool_spare (pool), ==, 3);
  g_free (extra);

  /* put frees what does not fit; NULL is nothing. */
  wc_pool_put (pool, g_malloc (SIZE));
  wc_pool_put (pool, NULL);
  g_assert_cmpuint (wc_pool_spare (pool), ==, 3);
  wc_pool_free (pool);            /* frees the 3 spares */
}

static void
test_cap_zero (void)
{
  struct wc_pool *pool = wc_pool_new (SIZE, 0);
  void *p = wc_pool_get (pool);

  g_assert_false (wc_pool_keep (pool, p));
  wc_pool_put (pool, p);          /* freed at once */
  g_assert_cmpuint (wc_pool_spare (pool), ==, 0);
  wc_pool_free (pool);
  wc_pool_free (NULL);
}

/* Threads take and give back buffers, each stamping a buffer with its own
 * byte while it holds it: a buffer handed to two threads at once shows up
 * as a stamp changed under its holder. */
#define THREADS 4
#define ROUNDS 20000

struct worker {
  struct wc_pool *pool;
  guint8 stamp;
  guint clobbered;
};

static gpointer
worker_main (gpointer data)
{
  struct worker *w = data;

  for (int i = 0; i < ROUNDS; i++) {
    guint8 *p = wc_pool_get (w->pool);

    memset (p, w->stamp, SIZE);
    g_thread_yield ();
    for (guint j = 0; j < SIZE; j += 512)
      if (p[j] != w->stamp)
        w->clobbered++;
    wc_pool_put (w->pool, p);
  }
  return NULL;
}

static void
test_threads (void)
{
  struct wc_pool *pool = wc_pool_new (SIZE, 2);
  struct worker w[THREADS];
  GThread *t[THREADS];

  for (int i = 0; i < THREADS; i++) {
    w[i] = (struct worker) { .pool = pool, .stamp = 0x10 + i };
    t[i] = g_thread_new ("pool", worker_main, &w[i]);
  }
  for (int i = 0; i < THREADS; i++) {
    g_thread_join (t[i]);
    g_assert_cmpuint (w[i].clobbered, ==, 0);
  }
  g_assert_cmpuint (wc_pool_spare (pool), <=, 2);
  wc_pool_free (pool);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/pool/get-is-whole", test_get_is_whole);
  g_test_add_func ("/pool/reuse-lifo", test_reuse);
  g_test_add_func ("/pool/cap", test_cap);
  g_test_add_func ("/pool/cap-zero", test_cap_zero);
  g_test_add_func ("/pool/threads-never-share", test_threads);
  return g_test_run ();
}

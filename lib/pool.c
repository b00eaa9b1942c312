/* Block buffers, recycled.
 *
 * Every cached write needs a block-sized buffer and every block that
 * becomes clean gives one back, usually on another thread.  Through malloc
 * that churn costs more than the cache itself: glibc's per-thread arenas
 * trim their heaps when a destaged batch is freed and fault the pages in
 * again on the next writes (bench/bench-fio.sh measured a quarter of the
 * filter's CPU time in sysmalloc, mprotect and page faults).  So the engine
 * keeps a stack of spare buffers instead.
 *
 * The stack is bounded (cap): it absorbs the churn of a destage batch or
 * of rewrites, while a flush that empties a large cache still returns the
 * memory beyond cap to malloc.  It only ever holds buffers that were in
 * use, so it never grows past the cache's own peak.
 *
 * Locking: pool->lock protects the stack.  It is a leaf: nothing else is
 * taken while it is held, and it may be taken with or without the engine
 * lock.  wc_pool_keep never frees, so the engine can give buffers back
 * under its lock and leave only the ones beyond cap for free(3) after it.
 */
#include <config.h>

#include <pthread.h>

#include <glib.h>

#include "pool.h"

struct wc_pool {
  size_t size;                  /* immutable */
  size_t cap;                   /* immutable */
  pthread_mutex_t lock;
  void **spare;                 /* cap slots; protected by lock */
  size_t n;                     /* spare buffers; protected by lock */
};

struct wc_pool *
wc_pool_new (size_t size, size_t cap)
{
  struct wc_pool *pool = g_new0 (struct wc_pool, 1);

  pool->size = size;
  pool->cap = cap;
  pool->spare = g_new (void *, MAX (cap, 1));
  pthread_mutex_init (&pool->lock, NULL);
  return pool;
}

void
wc_pool_free (struct wc_pool *pool)
{
  if (!pool)
    return;
  for (size_t i = 0; i < pool->n; i++)
    g_free (pool->spare[i]);
  pthread_mutex_destroy (&pool->lock);
  g_free (pool->spare);
  g_free (pool);
}

void *
wc_pool_get (struct wc_pool *pool)
{
  void *p = NULL;

  pthread_mutex_lock (&pool->lock);
  if (pool->n > 0)
    p = pool->spare[--pool->n];
  pthread_mutex_unlock (&pool->lock);
  return p ? p : g_malloc (pool->size);
}

bool
wc_pool_keep (struct wc_pool *pool, void *p)
{
  bool kept = false;

  pthread_mutex_lock (&pool->lock);
  if (pool->n < pool->cap) {
    pool->spare[pool->n++] = p;
    kept = true;
  }
  pthread_mutex_unlock (&pool->lock);
  return kept;
}

void
wc_pool_put (struct wc_pool *pool, void *p)
{
  if (p && !wc_pool_keep (pool, p))
    g_free (p);
}

size_t
wc_pool_spare (struct wc_pool *pool)
{
  size_t n;

  pthread_mutex_lock (&pool->lock);
  n = pool->n;
  pthread_mutex_unlock (&pool->lock);
  return n;
}

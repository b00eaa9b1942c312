/* A bounded free list of equal-sized buffers (lib/pool.c). */
#ifndef WC_POOL_H
#define WC_POOL_H

#include <stdbool.h>
#include <stddef.h>

struct wc_pool;

/* A pool of buffers of size bytes that keeps at most cap spare ones. */
struct wc_pool *wc_pool_new (size_t size, size_t cap);
/* Frees the pool and its spare buffers; buffers handed out stay the
 * caller's and are freed with g_free. */
void wc_pool_free (struct wc_pool *pool);
/* A buffer of the pool's size, uninitialised: a spare one or a new one. */
void *wc_pool_get (struct wc_pool *pool);
/* Takes back a buffer of the pool's size (from g_malloc or wc_pool_get) if
 * the pool has room: true if it did, false if p is still the caller's.
 * Never frees, so it may be called under any lock. */
bool wc_pool_keep (struct wc_pool *pool, void *p);
/* Takes back p (NULL is ignored), freeing it if the pool is full. */
void wc_pool_put (struct wc_pool *pool, void *p);
/* Spare buffers held now. */
size_t wc_pool_spare (struct wc_pool *pool);

#endif /* WC_POOL_H */

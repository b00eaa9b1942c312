/* The engine: the volatile cache, its lock, and the request paths.
 *
 * Design.  The cache holds only blocks that are not durable: a hash table
 * maps block numbers to struct wc_block (states and transitions are drawn
 * in engine.h).  A block leaves the cache when a write-back of its newest
 * content succeeds; reads of blocks not in the cache go to the media.  So
 * memory is bounded by dirty data (S7), and there is no clean-block cache
 * to keep coherent.
 *
 * Every write is applied to the cache first, block by block, through the
 * one request splitter (span.h).  A partial write to an uncached block reads
 * the block from the media first (LOADING), so a cached block always holds a
 * whole block of newest data; zeroes and trims are the same writes with no
 * buffer (block->zero).  A write that must be durable before its reply (FUA,
 * write-through mode, a client that cannot flush) then writes back exactly
 * the blocks it touched (writeback.c).  Flush writes back everything that was
 * dirty when it arrived, then flushes the media.
 *
 * Ordering.  e->seq numbers every block modification.  A block remembers the
 * seq of its oldest modification that is not durable (dirty_seq), so a flush
 * that took seq F on arrival needs exactly the blocks with dirty_seq <= F
 * (S3), and blocks dirtied later cannot keep it from finishing.
 *
 * Locking.  One mutex, e->lock, protects the whole cache state (struct
 * wc_engine fields below "lock", every struct wc_block, and the oracle).
 * It is never held across media I/O, with one exception: a power cut writes
 * its survivors with the lock held, when the power is already off and every
 * other request is failing anyway.  Threads that drop the lock for I/O
 * re-check what they rely on when they take it again: the request's power
 * epoch (wc_inflight_alive_locked) and the block's state.  One condition
 * variable, e->cond, is broadcast on every change a thread may wait for:
 * a block leaving LOADING or WRITEBACK, the media draining, a mode switch
 * ending, power on/off.  Functions ending in _locked expect the lock held,
 * and check it (WC_LOCK_HELD) in the unit tests' build.
 *
 * Nothing but the helpers in engine.h touches e->lock: wc_lock, wc_unlock
 * (which then frees the buffers queued under the lock and writes the logs
 * that got entries), wc_wait and wc_timedwait.  The drop around a media op
 * is wc_unlock_for_media, which leaves that work to the final wc_unlock: a
 * cut waiting for the media would wait for it too.
 *
 * Spare block buffers and headers live in two pools (pool.c) with their
 * own leaf locks.  A buffer given back there (wc_buf_drop_locked, or a
 * header in wc_block_remove_locked) can be handed to a writer on another
 * thread at once, even while e->lock is held: it must not be touched after
 * it is given back, and a write-back snapshot is given back only when its
 * media write has returned.
 *
 * Mode switches are serialised by e->switch_lock, taken before e->lock
 * and held across the media's set_mode op (a file backing's safe reopen,
 * which takes the backing's own lock inside; backing.c).  Lock order:
 * switch_lock, then lock; the backing's lock is only ever taken inside
 * media ops, which never run with e->lock held (except a cut's survivors).
 *
 * Power.  A cut (power.c) turns the power off, bumps e->epoch and waits for
 * media I/O to drain (e->media_inflight), so no media write lands after it.
 * Requests that began before it see the epoch change and fail with EIO (S8).
 */
#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "log.h"
#include "span.h"

void
wc_config_init (struct wc_config *cfg)
{
  memset (cfg, 0, sizeof *cfg);
  cfg->block_size = WC_DEFAULT_BLOCK_SIZE;
  cfg->cache_size = WC_DEFAULT_CACHE_SIZE;
  cfg->mode = WC_MODE_WRITEBACK;
}

/* Block numbers are hash keys as pointers (wc_blk_key): on a 32-bit host
 * that limits the disk to 2^32 blocks. */
static bool
blocks_fit_key (uint64_t size, uint32_t block_size)
{
#if UINTPTR_MAX < UINT64_MAX
  return size / block_size <= UINTPTR_MAX;
#else
  (void) size;
  (void) block_size;
  return true;
#endif
}

struct wc_engine *
wc_engine_new (const struct wc_config *cfg)
{
  struct wc_engine *e;

  if (!cfg->ops || !cfg->ops->read || !cfg->ops->write || !cfg->ops->zero ||
      !cfg->ops->flush || !wc_mode_name (cfg->mode) ||
      !wc_is_power_of_2 (cfg->block_size) ||
      cfg->block_size < WC_MIN_BLOCK_SIZE ||
      cfg->block_size > WC_MAX_BLOCK_SIZE ||
      cfg->cache_size < cfg->block_size ||
      !blocks_fit_key (cfg->size, cfg->block_size)) {
    errno = EINVAL;
    return NULL;
  }

  e = g_new0 (struct wc_engine, 1);
  e->size = cfg->size;
  e->bs = cfg->block_size;
  e->shift = __builtin_ctz (cfg->block_size);
  e->max_blocks = cfg->cache_size / cfg->block_size;
  e->soft_blocks = e->max_blocks -
    MAX (1, MIN (e->max_blocks / 8, 4 * WC_DESTAGE_MAX));
  e->readonly = cfg->readonly;
  e->ops = cfg->ops;
  e->opaque = cfg->opaque;
  e->on_cut = cfg->on_cut;
  e->on_power_on = cfg->on_power_on;
  e->debug = cfg->debug;
  e->on_log_failed = cfg->on_log_failed;
  pthread_mutex_init (&e->lock, NULL);
  pthread_mutex_init (&e->switch_lock, NULL);
  pthread_cond_init (&e->cond, NULL);
  {
    pthread_condattr_t attr;

    pthread_condattr_init (&attr);
    pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
    pthread_cond_init (&e->timer_cond, &attr);
    pthread_condattr_destroy (&attr);
  }
  e->blocks = g_hash_table_new (NULL, NULL);     /* wc_blk_key */
  {
    /* Spares for a few destage batches, and at least 4 MiB of buffers. */
    size_t spares = MAX (8 * WC_DESTAGE_MAX, (4u << 20) >> e->shift);

    e->bufs = wc_pool_new (e->bs, spares);
    e->structs = wc_pool_new (sizeof (struct wc_block), spares);
  }
  e->garbage = g_ptr_array_new_with_free_func (g_free);
  g_queue_init (&e->fifo);
  e->mode = cfg->mode;
  e->powered = true;
  e->armed = WC_TRIGGER_NONE;
  if (cfg->oracle)
    e->oracle = wc_oracle_new (cfg->block_size);
  return e;
}

static void
block_free (struct wc_block *b)
{
  if (b->wb_data != b->data)
    g_free (b->wb_data);
  g_free (b->data);
  g_free (b);
}

/* Frees are deferred to the next unlock, so the lock is not held across
 * free(3) of whole destaged batches. */
void
wc_garbage_locked (struct wc_engine *e, void *p)
{
  WC_LOCK_HELD (e);
  if (p)
    g_ptr_array_add (e->garbage, p);
}

uint8_t *
wc_buf_new (struct wc_engine *e)
{
  return wc_pool_get (e->bufs);
}

/* Gives p (may be NULL) back to pool, or to the garbage if it is full. */
static void
spare_locked (struct wc_engine *e, struct wc_pool *pool, void *p)
{
  WC_LOCK_HELD (e);
  if (p && !wc_pool_keep (pool, p))
    wc_garbage_locked (e, p);
}

void
wc_buf_drop_locked (struct wc_engine *e, void *p)
{
  WC_LOCK_HELD (e);
  spare_locked (e, e->bufs, p);
}

void
wc_log_kick_locked (struct wc_engine *e, struct wc_wlog_sink *s)
{
  WC_LOCK_HELD (e);
  for (unsigned i = 0; i < e->nkick; i++)
    if (e->kick[i] == s)
      return;
  /* Never more than two logs get entries under one hold of the lock (the
   * current one, and one a cut or stop just closed); a third would still
   * be drained by whoever waits for it. */
  if (e->nkick == WC_KICKS)
    return;
  wc_wlog_sink_ref (s);
  e->kick[e->nkick++] = s;
}

void
wc_unlock (struct wc_engine *e)
{
  struct wc_wlog_sink *kick[WC_KICKS];
  unsigned nkick = e->nkick;
  GPtrArray *g = NULL;
  int err = errno;              /* a drop-in for pthread_mutex_unlock */

  WC_LOCK_HELD (e);
  if (e->garbage->len > 0) {
    g = e->garbage;
    e->garbage = g_ptr_array_new_with_free_func (g_free);
  }
  memcpy (kick, e->kick, nkick * sizeof kick[0]);
  e->nkick = 0;
  wc_owner_set (e, false);
  pthread_mutex_unlock (&e->lock);
  if (g)
    g_ptr_array_unref (g);
  /* The log's file I/O, never under the lock. */
  for (unsigned i = 0; i < nkick; i++) {
    wc_wlog_drain (kick[i]);
    wc_wlog_sink_unref (kick[i]);
  }
  errno = err;
}

void
wc_engine_free (struct wc_engine *e)
{
  GHashTableIter iter;
  gpointer value;

  if (!e)
    return;
  wc_timer_stop (e);
  if (e->log) {
    wc_wlog_finish (e->log);
    wc_wlog_close_wait (e->log);
    wc_wlog_sink_unref (e->log);
  }
  g_hash_table_iter_init (&iter, e->blocks);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    block_free (value);
  g_hash_table_destroy (e->blocks);
  g_ptr_array_unref (e->garbage);
  wc_pool_free (e->bufs);
  wc_pool_free (e->structs);
  wc_oracle_free (e->oracle);
  pthread_cond_destroy (&e->cond);
  pthread_cond_destroy (&e->timer_cond);
  pthread_mutex_destroy (&e->lock);
  pthread_mutex_destroy (&e->switch_lock);
  g_free (e);
}

const char *
wc_bstate_name (enum wc_bstate state)
{
  switch (state) {
  case WC_B_LOADING: return "LOADING";
  case WC_B_DIRTY: return "DIRTY";
  case WC_B_WRITEBACK: return "WRITEBACK";
  }
  return "?";
}

void
wc_debugf (struct wc_engine *e, const char *fmt, ...)
{
  va_list ap;
  g_autofree char *msg = NULL;

  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  e->debug (e->opaque, msg);
}

uint64_t
wc_size (const struct wc_engine *e)
{
  return e->size;
}

uint32_t
wc_block_size (const struct wc_engine *e)
{
  return e->bs;
}

int
wc_block_cmp_blkno (gconstpointer a, gconstpointer b)
{
  const struct wc_block *x = *(struct wc_block *const *) a;
  const struct wc_block *y = *(struct wc_block *const *) b;

  return x->blkno < y->blkno ? -1 : x->blkno > y->blkno;
}

void
wc_block_remove_locked (struct wc_engine *e, struct wc_block *b)
{
  WC_LOCK_HELD (e);
  if (b->state == WC_B_DIRTY)
    g_queue_unlink (&e->fifo, &b->link);
  g_hash_table_remove (e->blocks, wc_blk_key (b->blkno));
  e->nr_blocks--;
  if (b->wb_data != b->data)
    wc_buf_drop_locked (e, b->wb_data);
  wc_buf_drop_locked (e, b->data);
  spare_locked (e, e->structs, b);
  pthread_cond_broadcast (&e->cond);
}

/* ---- Request and media gates ------------------------------------------- */

static int
inflight_begin_locked (struct wc_engine *e, struct wc_inflight *r,
                       bool writer, uint64_t expect)
{
  WC_LOCK_HELD (e);
  /* S5: a switch to WCE off holds new writes until it is done. */
  while (writer && e->switching && e->powered)
    wc_wait (e, &e->cond);
  if (!e->powered || (expect != WC_ANY_EPOCH && expect != e->epoch)) {
    errno = EIO;
    return -1;
  }
  r->epoch = e->epoch;
  r->mode = e->mode;
  r->writer = writer;
  if (writer)
    e->writes_inflight++;
  return 0;
}

/* Ends a request that began; rv is its result so far.  S8: a request that
 * was in flight across a power cut fails with EIO. */
static int
inflight_end_locked (struct wc_engine *e, struct wc_inflight *r, int rv)
{
  int err = errno;

  WC_LOCK_HELD (e);
  if (r->writer && --e->writes_inflight == 0)
    pthread_cond_broadcast (&e->cond);
  if (rv == 0 && r->epoch != e->epoch) {
    rv = -1;
    err = EIO;
  }
  errno = err;
  return rv;
}

bool
wc_inflight_alive_locked (struct wc_engine *e,
                          const struct wc_inflight *r)
{
  WC_LOCK_HELD (e);
  return e->powered && r->epoch == e->epoch;
}

/* Every media op outside a power cut is bracketed by these, so a cut can
 * wait for the media to drain. */
int
wc_media_begin_locked (struct wc_engine *e)
{
  WC_LOCK_HELD (e);
  if (!e->powered) {
    errno = EIO;
    return -1;
  }
  e->media_inflight++;
  return 0;
}

void
wc_media_end_locked (struct wc_engine *e)
{
  WC_LOCK_HELD (e);
  if (--e->media_inflight == 0)
    pthread_cond_broadcast (&e->cond);
}

static int
media_read_locked (struct wc_engine *e, struct wc_inflight *r,
                   void *buf, uint32_t count, uint64_t offset)
{
  int rv, err;

  WC_LOCK_HELD (e);
  if (!wc_inflight_alive_locked (e, r)) {
    errno = EIO;
    return -1;
  }
  if (wc_media_begin_locked (e) == -1)
    return -1;
  wc_unlock_for_media (e);
  rv = e->ops->read (e->opaque, buf, count, offset);
  err = errno;
  wc_lock (e);
  wc_media_end_locked (e);
  if (rv == -1)
    e->st.media_errors++;
  errno = err;
  return rv;
}

/* ---- Reads (S1) --------------------------------------------------------- */

static int
read_impl (struct wc_engine *e, void *buf, uint32_t count, uint64_t offset,
           uint64_t expect)
{
  struct wc_inflight r;
  struct wc_splitter it;
  struct wc_span s;
  uint8_t *out = buf;
  uint64_t run_off = 0, run_pos = 0;
  uint32_t run_len = 0;
  int rv = 0;

  if (!wc_range_ok (e->size, offset, count)) {
    errno = EINVAL;
    return -1;
  }
  /* Each block is looked up under the lock: if it is cached, the cache has
   * the newest data; if not, the media had the newest data at that moment
   * and never goes back to older data (one write-back per block at a time),
   * so runs of uncached blocks may be read after the lock is dropped. */
  wc_lock (e);
  if (inflight_begin_locked (e, &r, false, expect) == -1) {
    wc_unlock (e);
    return -1;
  }
  wc_split_init (&it, e->shift, offset, count);
  while (rv == 0 && wc_split_next (&it, &s)) {
    struct wc_block *b = wc_block_lookup_locked (e, s.blkno);

    if (!b || b->state == WC_B_LOADING) {
      if (run_len == 0) {
        run_off = (s.blkno << e->shift) + s.boff;
        run_pos = s.pos;
      }
      run_len += s.len;
      continue;
    }
    if (run_len > 0) {
      rv = media_read_locked (e, &r, out + run_pos, run_len, run_off);
      run_len = 0;
      /* The lock was dropped: look this block up again. */
      b = wc_block_lookup_locked (e, s.blkno);
      if (rv == -1)
        break;
      if (!b || b->state == WC_B_LOADING) {
        run_off = (s.blkno << e->shift) + s.boff;
        run_pos = s.pos;
        run_len = s.len;
        continue;
      }
    }
    if (b->zero)
      memset (out + s.pos, 0, s.len);
    else
      memcpy (out + s.pos, b->data + s.boff, s.len);
  }
  if (rv == 0 && run_len > 0)
    rv = media_read_locked (e, &r, out + run_pos, run_len, run_off);

  rv = inflight_end_locked (e, &r, rv);
  if (rv == 0) {
    e->st.reads++;
    e->st.bytes_read += count;
  }
  wc_unlock (e);
  return rv;
}

/* ---- Writes ------------------------------------------------------------- */

/* Reads b's media content for a read-modify-write.  On failure b is gone. */
static int
load_locked (struct wc_engine *e, struct wc_inflight *r,
             struct wc_block *b)
{
  uint64_t offset = b->blkno << e->shift;
  uint32_t n = wc_clamp (e->size, offset, e->bs);
  uint8_t *buf;
  int err;

  WC_LOCK_HELD (e);
  buf = wc_buf_new (e);
  /* Past the end of the disk the block reads as zeros, and stays so:
   * no request can write there. */
  memset (buf + n, 0, e->bs - n);
  if (media_read_locked (e, r, buf, n, offset) == -1) {
    err = errno;
    goto fail;
  }
  if (!wc_inflight_alive_locked (e, r)) {
    err = EIO;
    goto fail;
  }
  b->data = buf;
  b->zero = false;
  if (e->oracle)
    wc_oracle_base (e->oracle, b->blkno, buf);
  return 0;

 fail:
  wc_buf_drop_locked (e, buf);
  wc_block_remove_locked (e, b);
  errno = err;
  return -1;
}

/* Applies one span of a write (src) or zero (src NULL) to a cached block and
 * returns the modification's seq.  b is LOADING (new), DIRTY or WRITEBACK.
 * *prep, if set, is a copy of a whole-block src made without the lock: it
 * becomes the block's buffer (and *prep NULL). */
static uint64_t
apply_locked (struct wc_engine *e, struct wc_block *b,
              const struct wc_span *s, const uint8_t *src, uint8_t **prep)
{
  uint64_t seq;
  bool whole = wc_span_whole (s, e->bs);

  WC_LOCK_HELD (e);
  seq = ++e->seq;
  if (b->state == WC_B_WRITEBACK && b->redirty_seq == 0)
    b->redirty_seq = seq;

  if (*prep) {
    /* A whole new buffer: swap it in.  A snapshot being written back
     * stays with the write-back; any other old buffer is garbage. */
    if (b->data != b->wb_data)
      wc_buf_drop_locked (e, b->data);
    b->data = *prep;
    b->zero = false;
    *prep = NULL;
  }
  else {
    /* The snapshot being written back must not change: copy on write. */
    if (b->data && b->data == b->wb_data) {
      if (whole) {
        b->data = NULL;
        b->zero = true;
      }
      else {
        b->data = wc_buf_new (e);
        memcpy (b->data, b->wb_data, e->bs);
      }
    }
    if (!src) {
      if (whole || b->zero) {
        wc_buf_drop_locked (e, b->data);
        b->data = NULL;
        b->zero = true;
      }
      else
        memset (b->data + s->boff, 0, s->len);
    }
    else {
      if (b->zero) {
        b->data = wc_buf_new (e);
        if (!whole)
          memset (b->data, 0, e->bs);
        b->zero = false;
      }
      memcpy (b->data + s->boff, src, s->len);
    }
  }

  if (b->state == WC_B_LOADING) {
    b->state = WC_B_DIRTY;
    b->dirty_seq = seq;
    g_queue_push_tail_link (&e->fifo, &b->link);
    pthread_cond_broadcast (&e->cond);  /* writers wait on LOADING */
  }
  if (e->oracle)
    b->oracle_n = wc_oracle_written (e->oracle, b->blkno,
                                     b->zero ? NULL : b->data);
  return seq;
}

/* Applies one span to the cache, making room (S7) and loading the block's
 * base content as needed.  Returns the modification's seq, or 0 with errno.
 * May drop the lock. */
static uint64_t
modify_block_locked (struct wc_engine *e, struct wc_inflight *r,
                     const struct wc_span *s, const uint8_t *src,
                     uint8_t **prep)
{
  struct wc_block *b;
  bool ahead = false;           /* destaged ahead of need once already */

  WC_LOCK_HELD (e);
 again:
  if (!wc_inflight_alive_locked (e, r)) {
    errno = EIO;
    return 0;
  }
  b = wc_block_lookup_locked (e, s->blkno);
  if (b && b->state == WC_B_LOADING) {
    wc_wait (e, &e->cond);
    goto again;
  }
  if (!b) {
    if (e->nr_blocks >= e->max_blocks) {
      /* S7: full.  Write back the oldest dirty blocks, never drop them;
       * if all are being written back already, wait for one. */
      if (!g_queue_is_empty (&e->fifo)) {
        if (wc_destage_locked (e, r) == -1)
          return 0;
      }
      else
        wc_wait (e, &e->cond);
      goto again;
    }
    if (!ahead && e->nr_blocks >= e->soft_blocks && e->destaging == 0 &&
        !g_queue_is_empty (&e->fifo)) {
      /* Nearly full: one thread at a time writes back the oldest blocks
       * ahead of need, so the others rarely wait.  A failure here loses
       * nothing (the blocks stay dirty) and is not this write's: the hard
       * limit above reports it when there is no room left. */
      ahead = true;
      wc_destage_locked (e, r);
      goto again;
    }
    b = wc_pool_get (e->structs);
    memset (b, 0, sizeof *b);
    b->blkno = s->blkno;
    b->link.data = b;
    b->state = WC_B_LOADING;
    b->zero = true;             /* no buffer until written or loaded */
    g_hash_table_insert (e->blocks, wc_blk_key (b->blkno), b);
    e->nr_blocks++;
    /* A partial write needs the rest of the block; the oracle needs the
     * durable content of every block it has not seen. */
    if (!wc_span_whole (s, e->bs) ||
        (e->oracle && !wc_oracle_known (e->oracle, s->blkno))) {
      if (load_locked (e, r, b) == -1)
        return 0;
    }
  }
  return apply_locked (e, b, s, src, prep);
}

enum wc_wkind { WC_WRITE, WC_ZERO, WC_TRIM };

/* Spans whose buffers are prepared per lock acquisition (64 KiB of 4 KiB
 * blocks): bounds the memory a large request holds outside the cache. */
#define WC_PREP_SPANS 16

static int
write_common (struct wc_engine *e, const uint8_t *src, uint32_t count,
              uint64_t offset, unsigned flags, enum wc_wkind kind,
              uint64_t expect)
{
  struct wc_inflight r;
  struct wc_splitter it;
  struct wc_span spans[WC_PREP_SPANS];
  uint8_t *prep[WC_PREP_SPANS];
  struct wc_cut cut;
  struct wc_cut_report report;
  struct wc_logreq lr;
  uint64_t first = 0, last = 0, top = 0, nofua = 0;
  bool durable = false, fired = false, begun = false, more;
  int rv = 0, err;
  unsigned n, i;

  if (!wc_range_ok (e->size, offset, count)) {
    errno = EINVAL;
    return -1;
  }
  if (e->readonly) {
    errno = EROFS;
    return -1;
  }
  /* The write log's entries, with the request's own bytes, without the
   * lock (log.c). */
  wc_logreq_prepare (e, &lr, src, count, offset);

  /* Spans go in groups: whole-block data is copied into fresh buffers
   * without the lock, then the group is applied under it.  A one-block
   * request takes the lock once. */
  wc_split_init (&it, e->shift, offset, count);
  more = wc_split_next (&it, &spans[0]);
  for (;;) {
    for (n = 0; more && n < WC_PREP_SPANS; n++) {
      prep[n] = NULL;
      if (src && wc_span_whole (&spans[n], e->bs)) {
        prep[n] = wc_buf_new (e);
        memcpy (prep[n], src + spans[n].pos, e->bs);
      }
      more = n + 1 < WC_PREP_SPANS && wc_split_next (&it, &spans[n + 1]);
    }
    wc_lock (e);
    if (!begun) {
      if (inflight_begin_locked (e, &r, true, expect) == -1) {
        err = errno;
        wc_unlock (e);
        for (i = 0; i < n; i++)
          wc_pool_put (e->bufs, prep[i]);
        wc_logreq_drop (&lr);
        errno = err;
        return -1;
      }
      begun = true;
      wc_logreq_begin_locked (e, &lr, src, count, offset);
      /* S2, S4, S6; unsafe ignores FUA as it ignores FLUSH. */
      durable = r.mode != WC_MODE_UNSAFE &&
        ((flags & (WC_FUA | WC_WRITETHROUGH)) || !wc_mode_wce (r.mode));
      nofua = e->nofua_writebacks;
    }
    for (i = 0; i < n && rv == 0; i++) {
      uint64_t seq = modify_block_locked (e, &r, &spans[i],
                                          src ? src + spans[i].pos : NULL,
                                          &prep[i]);
      if (seq == 0) {
        rv = -1;
        break;
      }
      /* Partial log sectors lie in the first or the last block. */
      if (lr.nfill > 0 &&
          (spans[i].pos == 0 || spans[i].pos + spans[i].len == count))
        wc_logreq_capture_locked (e, &lr,
                                  wc_block_lookup_locked (e, spans[i].blkno));
      if (spans[i].pos == 0)
        first = spans[i].blkno;
      last = spans[i].blkno;
      top = seq;
    }
    for (i = 0; i < n; i++)
      wc_buf_drop_locked (e, prep[i]);  /* unused after a failure */
    /* The group filled up: the splitter holds the next span. */
    if (n == WC_PREP_SPANS && rv == 0)
      more = wc_split_next (&it, &spans[0]);
    if (!more || rv == -1)
      break;
    wc_unlock (e);
  }
  if (rv == 0 && durable && count > 0) {
    rv = wc_writeback_locked (e, &r, first, last, top, true);
    /* Some of this request's blocks may have left the cache meanwhile
     * through a destage or another thread's flush, written without FUA and
     * (for the flush) perhaps not yet flushed: flush the media so the whole
     * request is durable before its reply. */
    if (rv == 0 && e->nofua_writebacks != nofua)
      rv = wc_media_flush_locked (e);
  }

  rv = inflight_end_locked (e, &r, rv);
  if (rv == 0) {
    switch (kind) {
    case WC_WRITE: e->st.writes++; break;
    case WC_ZERO: e->st.zeroes++; break;
    case WC_TRIM: e->st.trims++; break;
    }
    if (flags & WC_FUA)
      e->st.fua_writes++;
    e->st.bytes_written += count;
    /* Acknowledged: into the log, in this order, before any cut this
     * request fires (whose mark must follow it). */
    wc_logreq_ack_locked (e, &lr, durable);
    /* S9: the cut fires inside the request that completes the count, after
     * it is acknowledged and before any later request is served. */
    if (wc_trigger_due_locked (e, WC_TRIGGER_WRITES, &cut) ||
        wc_trigger_due_locked (e, WC_TRIGGER_BYTES, &cut)) {
      wc_cut_locked (e, &cut, &report);
      fired = true;
    }
  }
  else
    wc_logreq_drop (&lr);
  err = errno;
  wc_unlock (e);
  if (fired && e->on_cut)
    e->on_cut (e->opaque, &report);
  errno = err;
  return rv;
}

/* A trimmed range reads back as zeros: the simplest content a disk may
 * return, and one the oracle can check. */

/* ---- Flush (S3) --------------------------------------------------------- */

static int
flush_impl (struct wc_engine *e, unsigned flags, uint64_t expect)
{
  struct wc_inflight r;
  struct wc_cut cut;
  struct wc_cut_report report;
  struct wc_wlog_sink *ls = NULL;
  struct wc_wlog_rec *lf = NULL;
  bool fired = false, real;
  int rv = 0, err;

  wc_lock (e);
  if (inflight_begin_locked (e, &r, false, expect) == -1) {
    wc_unlock (e);
    return -1;
  }
  real = r.mode != WC_MODE_UNSAFE || (flags & WC_FORCE);
  /* The FLUSH entry's place in the log is where the flush arrived: after
   * every request acknowledged before now, before any acknowledged later.
   * unsafe promises nothing and logs nothing. */
  if (real && e->log_on) {
    ls = e->log;
    wc_wlog_sink_ref (ls);
    lf = wc_wlog_flush_begin (ls);
  }
  if (real)
    rv = wc_flush_all_locked (e, &r);
  rv = inflight_end_locked (e, &r, rv);
  if (lf) {
    wc_wlog_flush_end (ls, lf, rv == 0);
    if (rv != 0)
      lf = NULL;                /* the log's to drop */
    wc_log_kick_locked (e, ls);
  }
  if (rv == 0) {
    e->st.flushes++;
    if (wc_trigger_due_locked (e, WC_TRIGGER_FLUSHES, &cut)) {
      wc_cut_locked (e, &cut, &report);
      fired = true;
    }
  }
  err = errno;
  wc_unlock (e);
  /* Acknowledged only once the log holds the flush, on stable storage. */
  if (lf)
    wc_wlog_sync (ls, lf);
  if (ls)
    wc_wlog_sink_unref (ls);
  if (fired && e->on_cut)
    e->on_cut (e->opaque, &report);
  errno = err;
  return rv;
}

int
wc_submit (struct wc_engine *e, const struct wc_request *req)
{
  switch (req->op) {
  case WC_OP_READ:
    return read_impl (e, req->buf, req->count, req->offset, req->epoch);
  case WC_OP_WRITE:
    return write_common (e, req->buf, req->count, req->offset, req->flags,
                         WC_WRITE, req->epoch);
  case WC_OP_ZERO:
    return write_common (e, NULL, req->count, req->offset, req->flags,
                         WC_ZERO, req->epoch);
  case WC_OP_TRIM:
    return write_common (e, NULL, req->count, req->offset, req->flags,
                         WC_TRIM, req->epoch);
  case WC_OP_FLUSH:
    return flush_impl (e, req->flags, req->epoch);
  }
  errno = EINVAL;
  return -1;
}

int
wc_read (struct wc_engine *e, void *buf, uint32_t count, uint64_t offset)
{
  return read_impl (e, buf, count, offset, WC_ANY_EPOCH);
}

int
wc_write (struct wc_engine *e, const void *buf, uint32_t count,
          uint64_t offset, unsigned flags)
{
  return write_common (e, buf, count, offset, flags, WC_WRITE, WC_ANY_EPOCH);
}

int
wc_zero (struct wc_engine *e, uint32_t count, uint64_t offset, unsigned flags)
{
  return write_common (e, NULL, count, offset, flags, WC_ZERO, WC_ANY_EPOCH);
}

int
wc_trim (struct wc_engine *e, uint32_t count, uint64_t offset, unsigned flags)
{
  return write_common (e, NULL, count, offset, flags, WC_TRIM, WC_ANY_EPOCH);
}

int
wc_flush (struct wc_engine *e, unsigned flags)
{
  return flush_impl (e, flags, WC_ANY_EPOCH);
}

/* ---- Mode (S5) ---------------------------------------------------------- */

enum wc_mode
wc_get_mode (struct wc_engine *e)
{
  enum wc_mode mode;

  wc_lock (e);
  mode = e->mode;
  wc_unlock (e);
  return mode;
}

/* wc_set_mode with e->switch_lock held (not e->lock). */
static int
set_mode_switch_locked (struct wc_engine *e, enum wc_mode mode)
{
  struct wc_wlog_sink *ls = NULL;
  struct wc_wlog_rec *lf = NULL;
  int rv = 0, err;

  WC_MUTEX_HELD (&e->switch_lock);
  wc_lock (e);
  while (e->switching)
    wc_wait (e, &e->cond);
  /* Turning WCE off writes back everything first, with new writes held and
   * those in flight drained, so no write is acknowledged as cached after the
   * switch; on failure the mode stays.  While the power is off there is
   * nothing to write back: the cache is empty, or a cut is about to meet
   * what is in it. */
  if (wc_mode_wce (e->mode) && !wc_mode_wce (mode) && e->powered) {
    rv = wc_flush_held_locked (e);
    if (rv == 0) {
      g_assert (e->nr_blocks == 0);     /* writes were held: all clean */
      /* Everything acknowledged is durable: a FLUSH in the log. */
      lf = wc_log_flushed_all_locked (e, &ls);
    }
    e->switching = false;
    WC_DEBUG (e, "mode %s -> %s: write-back %s", wc_mode_name (e->mode),
              wc_mode_name (mode), rv == 0 ? "done" : "failed, mode kept");
    pthread_cond_broadcast (&e->cond);
  }
  if (rv == 0)
    e->mode = mode;
  err = errno;
  wc_unlock (e);
  if (lf)
    wc_wlog_sync (ls, lf);
  if (ls)
    wc_wlog_sink_unref (ls);
  /* The host side follows (wcache(7), safe reopen); switch_lock keeps the
   * media's flags in the order of the switches. */
  if (rv == 0 && e->ops->set_mode)
    e->ops->set_mode (e->opaque, mode);
  errno = err;
  return rv;
}

int
wc_set_mode (struct wc_engine *e, enum wc_mode mode)
{
  int rv, err;

  if (!wc_mode_name (mode)) {
    errno = EINVAL;
    return -1;
  }
  pthread_mutex_lock (&e->switch_lock);
  rv = set_mode_switch_locked (e, mode);
  err = errno;
  pthread_mutex_unlock (&e->switch_lock);
  errno = err;
  return rv;
}

int
wc_set_wce (struct wc_engine *e, bool wce, enum wc_mode *from,
            enum wc_mode *to)
{
  enum wc_mode old;
  int rv, err;

  /* switch_lock, not just e->lock, around reading the mode: no other
   * switch can land between the read and ours. */
  pthread_mutex_lock (&e->switch_lock);
  old = wc_get_mode (e);
  rv = set_mode_switch_locked (e, wc_mode_with_wce (old, wce));
  err = errno;
  if (from)
    *from = old;
  if (to)
    *to = wc_get_mode (e);
  pthread_mutex_unlock (&e->switch_lock);
  errno = err;
  return rv;
}

void
wc_describe_media (struct wc_engine *e, wc_describe_fn add, void *ctx)
{
  if (e->ops->describe)
    e->ops->describe (e->opaque, add, ctx);
}

/* ---- State -------------------------------------------------------------- */

bool
wc_powered (struct wc_engine *e)
{
  bool on;

  wc_lock (e);
  on = e->powered;
  wc_unlock (e);
  return on;
}

void
wc_get_stats (struct wc_engine *e, struct wc_stats *st)
{
  wc_lock (e);
  *st = e->st;
  st->powered = e->powered;
  st->mode = e->mode;
  st->cached_blocks = e->nr_blocks;
  st->cache_blocks_max = e->max_blocks;
  st->armed = e->armed;
  st->armed_remaining = wc_trigger_remaining_locked (e);
  memcpy (st->armed_mark, e->armed_mark, sizeof st->armed_mark);
  st->armed_cut = e->armed_cut;
  wc_unlock (e);
}

int
wc_oracle_verify (struct wc_engine *e, enum wc_verify_mode mode,
                  uint32_t unit, wc_read_fn read_fn, void *opaque,
                  struct wc_verify_report *report)
{
  int rv;

  if (!e->oracle) {
    errno = ENOTSUP;
    return -1;
  }
  if (!read_fn) {
    read_fn = e->ops->read;
    opaque = e->opaque;
  }
  wc_lock (e);
  rv = wc_oracle_check (e->oracle, e->size, mode, unit, read_fn, opaque,
                        report);
  wc_unlock (e);
  return rv;
}

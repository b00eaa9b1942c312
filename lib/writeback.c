/* Write-back: moving dirty blocks to the media, for flush, FUA and destage.
 *
 * Everything goes through write_batch_locked(): it marks a batch of DIRTY
 * blocks WRITEBACK (their current buffers become immutable snapshots: writers
 * copy on write), drops the lock, writes the batch as runs of adjacent
 * blocks (one media write or zero per run, up to WC_RUN_MAX bytes), takes
 * the lock again and completes each block: clean blocks leave the cache,
 * blocks rewritten meanwhile stay DIRTY with their newer data, blocks whose
 * run failed go back to DIRTY at the head of the FIFO (nothing is dropped).
 *
 * Three callers choose the batch:
 *   wc_writeback_locked  durability (S2, S3, S4): every block in a range
 *                        whose dirty_seq <= target, waiting for blocks some
 *                        other thread is writing back, retrying each block
 *                        at most once, reporting the first error;
 *   wc_flush_all_locked  S3: the whole disk, target = seq on arrival, then
 *                        the media flush;
 *   wc_destage_locked    S7: the oldest dirty blocks, to make room.
 *
 * Locking: the engine lock (engine.c) is held on entry and exit of every
 * function here and dropped around media I/O only.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "span.h"

/* Largest media request a coalesced run may take. */
#define WC_RUN_MAX (4u * 1024 * 1024)

/* Writes blocks [i, j) of a sorted batch, adjacent and of one kind. */
static int
write_run (struct wc_engine *e, GPtrArray *batch, guint i, guint j, bool fua)
{
  const struct wc_block *first = batch->pdata[i];
  uint64_t offset = first->blkno << e->shift;
  uint32_t count = wc_clamp (e->size, offset, (j - i) << e->shift);
  g_autofree uint8_t *buf = NULL;

  if (first->wb_zero)
    return e->ops->zero (e->opaque, count, offset, fua);
  if (j - i == 1)
    return e->ops->write (e->opaque, first->wb_data, count, offset, fua);
  /* Snapshots are immutable while WRITEBACK, so no lock is needed here. */
  if (e->ops->writev) {
    g_autofree struct iovec *iov = g_new (struct iovec, j - i);
    uint32_t left = count;

    for (guint k = i; k < j; k++) {
      const struct wc_block *b = batch->pdata[k];
      iov[k - i].iov_base = b->wb_data;
      iov[k - i].iov_len = MIN (left, e->bs);   /* the clamped tail */
      left -= iov[k - i].iov_len;
    }
    return e->ops->writev (e->opaque, iov, j - i, count, offset, fua);
  }
  /* count is clamped to the end of the disk, and so is the copy: the last
   * block of an odd-sized disk is only partly on it. */
  buf = g_malloc (count);
  for (guint k = i; k < j; k++) {
    const struct wc_block *b = batch->pdata[k];
    size_t pos = (size_t) (k - i) << e->shift;

    memcpy (buf + pos, b->wb_data, MIN (e->bs, count - pos));
  }
  return e->ops->write (e->opaque, buf, count, offset, fua);
}

static void
complete_locked (struct wc_engine *e, struct wc_block *b, bool ok,
                 uint64_t ticket)
{
  WC_LOCK_HELD (e);
  /* If the block was rewritten, the snapshot is a copy nobody needs. */
  if (b->wb_data != b->data)
    wc_buf_drop_locked (e, b->wb_data);
  b->wb_data = NULL;

  if (ok) {
    e->st.writeback_blocks++;
    if (e->oracle) {
      /* The oracle dropped the contents up to the snapshot: renumber. */
      wc_oracle_durable (e->oracle, b->blkno, b->wb_snap);
      b->oracle_n -= b->wb_snap;
    }
    if (b->redirty_seq == 0) {
      wc_block_remove_locked (e, b);
      return;
    }
    b->dirty_seq = b->redirty_seq;
    b->redirty_seq = 0;
    b->state = WC_B_DIRTY;
    g_queue_push_tail_link (&e->fifo, &b->link);
  }
  else {
    /* S3: failed data stays dirty, as old as it was. */
    b->redirty_seq = 0;
    b->fail_ticket = ticket;
    b->state = WC_B_DIRTY;
    g_queue_push_head_link (&e->fifo, &b->link);
  }
}

/* Writes back a batch of DIRTY blocks.  Returns 0, or -1 with the errno of
 * the first failure; every block is tried.  Empties batch. */
static int
write_batch_locked (struct wc_engine *e, struct wc_inflight *r,
                    GPtrArray *batch, bool fua, uint64_t ticket)
{
  g_autofree bool *ok = g_new0 (bool, batch->len);
  uint64_t ios = 0, failed = 0;
  uint32_t run_blocks = WC_RUN_MAX >> e->shift;
  int err = 0;
  guint i, j;

  WC_LOCK_HELD (e);
  g_ptr_array_sort (batch, wc_block_cmp_blkno);
  for (i = 0; i < batch->len; i++) {
    struct wc_block *b = batch->pdata[i];

    g_assert (b->state == WC_B_DIRTY);
    g_queue_unlink (&e->fifo, &b->link);
    b->state = WC_B_WRITEBACK;
    b->wb_data = b->data;
    b->wb_zero = b->zero;
    b->wb_snap = b->oracle_n;
    b->redirty_seq = 0;
  }

  if (!wc_inflight_alive_locked (e, r)) {
    err = EIO;
  }
  else if (wc_media_begin_locked (e) == -1) {
    err = errno;
  }
  else {
    wc_unlock_for_media (e);
    for (i = 0; i < batch->len; i = j) {
      const struct wc_block *bi = batch->pdata[i];
      int rv;

      for (j = i + 1; j < batch->len && j - i < run_blocks; j++) {
        const struct wc_block *bj = batch->pdata[j];
        const struct wc_block *prev = batch->pdata[j - 1];

        if (bj->blkno != prev->blkno + 1 || bj->wb_zero != bi->wb_zero)
          break;
      }
      rv = write_run (e, batch, i, j, fua);
      ios++;
      if (rv == -1) {
        failed++;
        if (err == 0)
          err = errno;
      }
      for (guint k = i; k < j; k++)
        ok[k] = rv == 0;
    }
    wc_lock (e);
    wc_media_end_locked (e);
  }

  for (i = 0; i < batch->len; i++) {
    struct wc_block *b = batch->pdata[i];

    WC_DEBUG (e, "writeback blk=%" PRIu64 " offset=%" PRIu64 " %s%s: %s",
              b->blkno, b->blkno << e->shift, b->wb_zero ? "zero" : "data",
              fua ? " fua" : "", !ok[i] ? "failed, DIRTY"
              : b->redirty_seq ? "rewritten meanwhile, DIRTY" : "clean");
    complete_locked (e, b, ok[i], ticket);
  }
  g_ptr_array_set_size (batch, 0);
  e->st.writeback_ios += ios;
  e->st.media_errors += failed;
  if (!fua && failed < ios)
    e->nofua_writebacks++;
  pthread_cond_broadcast (&e->cond);
  if (err) {
    errno = err;
    return -1;
  }
  return 0;
}

static void
consider_locked (struct wc_engine *e, struct wc_block *b, uint64_t target,
                 uint64_t ticket, GPtrArray *batch, bool *busy)
{
  WC_LOCK_HELD (e);
  switch (b->state) {
  case WC_B_LOADING:
    break;                      /* nothing cached yet */
  case WC_B_DIRTY:
    if (b->dirty_seq <= target && b->fail_ticket != ticket)
      g_ptr_array_add (batch, b);
    break;
  case WC_B_WRITEBACK:
    if (b->dirty_seq <= target)
      *busy = true;             /* another thread's; wait for its outcome */
    break;
  }
}

int
wc_writeback_locked (struct wc_engine *e, struct wc_inflight *r,
                     uint64_t first, uint64_t last, uint64_t target,
                     bool fua)
{
  g_autoptr (GPtrArray) batch = g_ptr_array_new ();
  uint64_t ticket = ++e->tickets;
  int err = 0;

  WC_LOCK_HELD (e);
  for (;;) {
    bool busy = false;

    /* Few blocks in the range: look them up; else scan the cache. */
    if (last - first < e->nr_blocks) {
      for (uint64_t blkno = first; blkno <= last; blkno++) {
        struct wc_block *b = wc_block_lookup_locked (e, blkno);
        if (b)
          consider_locked (e, b, target, ticket, batch, &busy);
      }
    }
    else {
      GHashTableIter iter;
      gpointer value;

      g_hash_table_iter_init (&iter, e->blocks);
      while (g_hash_table_iter_next (&iter, NULL, &value)) {
        struct wc_block *b = value;
        if (b->blkno >= first && b->blkno <= last)
          consider_locked (e, b, target, ticket, batch, &busy);
      }
    }

    if (batch->len > 0) {
      if (write_batch_locked (e, r, batch, fua, ticket) == -1 && err == 0)
        err = errno;
    }
    else if (busy)
      wc_wait (e, &e->cond);
    else
      break;
    if (!wc_inflight_alive_locked (e, r)) {
      err = EIO;
      break;
    }
  }
  if (err) {
    errno = err;
    return -1;
  }
  return 0;
}

int
wc_flush_held_locked (struct wc_engine *e)
{
  struct wc_inflight r;
  int rv;

  WC_LOCK_HELD (e);
  e->switching = true;
  while (e->writes_inflight > 0 && e->powered)
    wc_wait (e, &e->cond);
  if (!e->powered) {
    errno = EIO;
    return -1;
  }
  r.epoch = e->epoch;
  r.mode = e->mode;
  r.writer = false;
  rv = wc_flush_all_locked (e, &r);
  if (rv == 0 && !wc_inflight_alive_locked (e, &r)) {
    rv = -1;
    errno = EIO;
  }
  return rv;
}

int
wc_flush_all_locked (struct wc_engine *e, struct wc_inflight *r)
{
  WC_LOCK_HELD (e);
  if (wc_writeback_locked (e, r, 0, UINT64_MAX, e->seq, false) == -1)
    return -1;
  return wc_media_flush_locked (e);
}

int
wc_media_flush_locked (struct wc_engine *e)
{
  int rv, err;

  WC_LOCK_HELD (e);
  if (wc_media_begin_locked (e) == -1)
    return -1;
  wc_unlock_for_media (e);
  rv = e->ops->flush (e->opaque);
  err = errno;
  wc_lock (e);
  wc_media_end_locked (e);
  if (rv == -1) {
    e->st.media_errors++;
    errno = err;
  }
  return rv;
}

int
wc_destage_locked (struct wc_engine *e, struct wc_inflight *r)
{
  g_autoptr (GPtrArray) batch = g_ptr_array_new ();
  GList *l;
  guint n;
  int rv;

  WC_LOCK_HELD (e);
  for (l = e->fifo.head; l && batch->len < WC_DESTAGE_MAX; l = l->next) {
    struct wc_block *b = l->data;

    if (batch->len >= WC_DESTAGE_BATCH) {
      const struct wc_block *prev = batch->pdata[batch->len - 1];
      if (b->blkno != prev->blkno + 1)
        break;
    }
    g_ptr_array_add (batch, b);
  }
  n = batch->len;
  WC_DEBUG (e, "destage: cache full (%" PRIu64 " blocks), writing back the "
            "oldest %u", e->nr_blocks, n);
  e->destaging++;
  rv = write_batch_locked (e, r, batch, false, 0);
  e->destaging--;
  if (rv == 0)
    e->st.destaged_blocks += n;
  return rv;
}

/* The engine's side of the write log (the rules are in wcache.h, "The
 * write log"): the entries each request makes, FLUSH entries, marks, the
 * cut's last entry, and starting and stopping the log.
 *
 * Entries of a request.  The log counts in its own sectors (at most a
 * block, and the disk is a whole number of them).  A write becomes one
 * data entry of the sectors it touches: its own bytes are copied without
 * the lock before it begins (wc_logreq_prepare), the rest of a partial
 * first or last sector comes from the cache right after the request
 * applied there (wc_logreq_capture_locked), so the entry holds the
 * sectors as that request left them.  A zero or trim becomes a DISCARD of
 * its whole sectors and a data entry for each partial sector (a DISCARD
 * of a partial sector would claim zeros that were never written).  The
 * entries go into the log when the request is acknowledged, under the
 * lock, so the log's order is the acknowledgement order.  Two requests in
 * flight at once that write different bytes of one sector each log the
 * sector as it was when they applied; replaying them keeps the one
 * acknowledged last.
 *
 * Locking: the engine lock (engine.c) protects e->log, e->log_on and the
 * kicks; e->log_ss is written under it and read without it (atomic).
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "log.h"
#include "span.h"

/* ---- A request's entries ------------------------------------------------ */

static void
add_fill (struct wc_logreq *lr, uint64_t offset, uint32_t len, uint8_t *dst)
{
  lr->fill[lr->nfill].offset = offset;
  lr->fill[lr->nfill].len = len;
  lr->fill[lr->nfill].dst = dst;
  lr->nfill++;
}

/* A data entry for the one sector at s, all of it from the cache. */
static void
add_sector_from_cache (struct wc_logreq *lr, uint64_t s)
{
  struct wc_wlog_rec *r = wc_wlog_rec_new (lr->ss, s, 1, WC_WLOG_REC_WRITE);

  lr->rec[lr->n++] = r;
  add_fill (lr, s * lr->ss, lr->ss, wc_wlog_rec_data (r));
}

static void
build (struct wc_logreq *lr, uint32_t ss, const uint8_t *src, uint32_t count,
       uint64_t offset)
{
  uint64_t end = offset + count;
  uint64_t s0 = offset / ss, s1 = (end + ss - 1) / ss;  /* [s0, s1) */
  uint64_t a0 = (offset + ss - 1) / ss, a1 = end / ss;  /* whole sectors */

  memset (lr, 0, sizeof *lr);
  if (count == 0)
    return;
  lr->ss = ss;
  if (src) {
    struct wc_wlog_rec *r = wc_wlog_rec_new (ss, s0, s1 - s0,
                                             WC_WLOG_REC_WRITE);
    uint8_t *data = wc_wlog_rec_data (r);
    uint32_t head = offset - s0 * ss;

    lr->rec[lr->n++] = r;
    memcpy (data + head, src, count);
    if (head > 0)
      add_fill (lr, s0 * ss, head, data);
    if (end % ss)
      add_fill (lr, end, s1 * ss - end, data + head + count);
    return;
  }
  /* Zero or trim. */
  if (a0 >= a1) {               /* no whole sector: partial ones only */
    for (uint64_t s = s0; s < s1; s++)
      add_sector_from_cache (lr, s);
    return;
  }
  if (offset % ss)
    add_sector_from_cache (lr, s0);
  lr->rec[lr->n++] = wc_wlog_rec_new (ss, a0, a1 - a0, WC_WLOG_REC_DISCARD);
  if (end % ss)
    add_sector_from_cache (lr, s1 - 1);
}

void
wc_logreq_prepare (struct wc_engine *e, struct wc_logreq *lr,
                   const uint8_t *src, uint32_t count, uint64_t offset)
{
  uint32_t ss = __atomic_load_n (&e->log_ss, __ATOMIC_ACQUIRE);

  if (ss)
    build (lr, ss, src, count, offset);
  else
    memset (lr, 0, sizeof *lr);
}

void
wc_logreq_drop (struct wc_logreq *lr)
{
  for (unsigned i = 0; i < lr->n; i++)
    wc_wlog_rec_free (lr->rec[i]);
  memset (lr, 0, sizeof *lr);
}

void
wc_logreq_begin_locked (struct wc_engine *e, struct wc_logreq *lr,
                        const uint8_t *src, uint32_t count, uint64_t offset)
{
  uint32_t ss = e->log_on ? wc_wlog_sink_sector_size (e->log) : 0;

  WC_LOCK_HELD (e);
  if (lr->ss == ss && (ss || lr->n == 0))
    return;
  /* The log started or stopped since prepare looked: redo it here. */
  wc_logreq_drop (lr);
  if (ss)
    build (lr, ss, src, count, offset);
}

void
wc_logreq_capture_locked (struct wc_engine *e, struct wc_logreq *lr,
                          const struct wc_block *b)
{
  uint64_t start = b->blkno << e->shift;

  WC_LOCK_HELD (e);
  for (unsigned i = 0; i < lr->nfill; i++) {
    uint64_t off = lr->fill[i].offset;

    /* A fill lies in one sector, so in one block. */
    if (off < start || off >= start + e->bs)
      continue;
    if (b->zero)
      memset (lr->fill[i].dst, 0, lr->fill[i].len);
    else
      memcpy (lr->fill[i].dst, b->data + (off - start), lr->fill[i].len);
  }
}

void
wc_logreq_ack_locked (struct wc_engine *e, struct wc_logreq *lr, bool fua)
{
  WC_LOCK_HELD (e);
  if (lr->n == 0)
    return;
  /* A log that stopped or was cut meanwhile takes nothing more. */
  if (!e->log_on || wc_wlog_sink_sector_size (e->log) != lr->ss) {
    wc_logreq_drop (lr);
    return;
  }
  for (unsigned i = 0; i < lr->n; i++)
    wc_wlog_append (e->log, lr->rec[i], fua);
  lr->n = 0;
  wc_log_kick_locked (e, e->log);
}

/* ---- FLUSH entries, the cut --------------------------------------------- */

struct wc_wlog_rec *
wc_log_flushed_all_locked (struct wc_engine *e, struct wc_wlog_sink **s)
{
  struct wc_wlog_rec *f;

  WC_LOCK_HELD (e);
  if (!e->log_on)
    return NULL;
  *s = e->log;
  wc_wlog_sink_ref (*s);
  f = wc_wlog_flush_begin (*s);
  wc_wlog_flush_end (*s, f, true);
  wc_log_kick_locked (e, *s);
  return f;
}

void
wc_log_cut_locked (struct wc_engine *e, const struct wc_cut_report *rep)
{
  g_autofree char *text = NULL;

  WC_LOCK_HELD (e);
  if (!e->log_on)
    return;
  text = g_strdup_printf ("power-cut policy=%s seed=%" PRIu64,
                          wc_policy_name (rep->policy), rep->seed);
  wc_wlog_mark (e->log, text);
  wc_wlog_finish (e->log);
  e->log_on = false;
  __atomic_store_n (&e->log_ss, 0, __ATOMIC_RELEASE);
  wc_log_kick_locked (e, e->log);
}

/* ---- Start, stop, status ------------------------------------------------ */

int
wc_log_start (struct wc_engine *e, const char *path, uint32_t sector_size,
              char **message)
{
  struct wc_wlog_sink *s, *old;
  int rv, err;

  if (!wc_is_power_of_2 (sector_size) || sector_size < 512 ||
      sector_size > e->bs) {
    *message = g_strdup_printf ("the log sector size %" PRIu32 " is not a "
                                "power of two from 512 to the block size "
                                "%" PRIu32, sector_size, e->bs);
    errno = EINVAL;
    return -1;
  }
  if (e->size % sector_size) {
    *message = g_strdup_printf ("the disk size %" PRIu64 " is not a "
                                "multiple of the log sector size %" PRIu32,
                                e->size, sector_size);
    errno = EINVAL;
    return -1;
  }

  /* switch_lock: starts, stops and mode switches one at a time, so no
   * other start can open (and truncate) the file of a log we check. */
  pthread_mutex_lock (&e->switch_lock);
  wc_lock (e);
  /* A log that failed is off, whatever log_on says. */
  err = e->log_on && wc_wlog_taking (e->log) ? EBUSY : !e->powered ? EIO : 0;
  if (err == EBUSY) {
    struct wc_wlog_info si;

    wc_wlog_sink_info (e->log, &si);    /* s->lock inside e->lock */
    *message = g_strdup_printf ("already logging to %s", si.path);
    g_free (si.path);
    g_free (si.failed);
  }
  else if (err == EIO)
    *message = g_strdup ("the power is off");
  wc_unlock (e);
  if (err) {
    pthread_mutex_unlock (&e->switch_lock);
    errno = err;
    return -1;
  }

  s = wc_wlog_sink_open (path, sector_size, e->on_log_failed, e->opaque,
                         message);
  if (!s) {
    err = errno;
    pthread_mutex_unlock (&e->switch_lock);
    errno = err;
    return -1;
  }

  /* The media becomes the log's base: write back everything acknowledged
   * so far, with new writes held and those in flight drained, as a switch
   * to WCE off does (S5), so every write is either in the base or in the
   * log. */
  wc_lock (e);
  rv = wc_flush_held_locked (e);
  if (rv == -1) {
    err = errno;
    *message = g_strdup_printf ("writing back the cache first: %s",
                                g_strerror (err));
    old = s;                    /* not started: closed below */
  }
  else {
    old = e->log;
    e->log = s;
    e->log_on = true;
    __atomic_store_n (&e->log_ss, sector_size, __ATOMIC_RELEASE);
  }
  e->switching = false;
  pthread_cond_broadcast (&e->cond);
  wc_unlock (e);
  pthread_mutex_unlock (&e->switch_lock);

  if (old) {
    wc_wlog_finish (old);
    wc_wlog_close_wait (old);
    wc_wlog_sink_unref (old);
  }
  if (rv == -1) {
    errno = err;
    return -1;
  }
  return 0;
}

int
wc_log_check_path (const char *path, char **message)
{
  return wc_wlog_check_path (path, message);
}

int
wc_log_stop (struct wc_engine *e)
{
  struct wc_wlog_sink *s = NULL;

  pthread_mutex_lock (&e->switch_lock);
  wc_lock (e);
  if (e->log_on) {
    s = e->log;
    wc_wlog_sink_ref (s);
    wc_wlog_finish (s);
    e->log_on = false;
    __atomic_store_n (&e->log_ss, 0, __ATOMIC_RELEASE);
  }
  wc_unlock (e);
  pthread_mutex_unlock (&e->switch_lock);
  if (!s) {
    errno = EINVAL;
    return -1;
  }
  /* Flushes in flight end first: their FLUSH entries belong to it. */
  wc_wlog_close_wait (s);
  wc_wlog_sink_unref (s);
  return 0;
}

void
wc_log_get_info (struct wc_engine *e, struct wc_log_info *info)
{
  struct wc_wlog_sink *s;
  struct wc_wlog_info si;

  memset (info, 0, sizeof *info);
  wc_lock (e);
  s = e->log;
  if (s)
    wc_wlog_sink_ref (s);
  info->on = e->log_on;
  wc_unlock (e);
  if (!s)
    return;
  wc_wlog_sink_info (s, &si);
  wc_wlog_sink_unref (s);
  info->path = si.path;
  info->failed = si.failed;
  info->on = info->on && !si.failed;
  info->sector_size = si.sector_size;
  info->entries = si.entries;
  info->bytes = si.bytes;
}

void
wc_log_info_clear (struct wc_log_info *info)
{
  g_free (info->path);
  g_free (info->failed);
  memset (info, 0, sizeof *info);
}

size_t
wc_log_mark_max (struct wc_engine *e)
{
  size_t max = 0;

  wc_lock (e);
  if (e->log_on)
    max = wc_wlog_mark_max (e->log);
  wc_unlock (e);
  return max;
}

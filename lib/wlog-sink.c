/* The write log's writer: queue entries in the engine's order, write them
 * without the engine's lock.  The calling sequence is in wlog-sink.h.
 *
 * Design.  s->queue holds the entries not yet in the file, in log order.
 * A flush that arrives puts a placeholder at the tail (wc_wlog_flush_begin)
 * and writes acknowledged later queue behind it; when the flush ends the
 * placeholder becomes a FLUSH entry or is dropped.  Draining writes the
 * queue's head up to the first placeholder still pending, in batches (one
 * pwritev each), and rewrites the superblock after a batch with a FLUSH or
 * a MARK -- with an fdatasync for a FLUSH, so a flush acknowledged to a
 * client is in the log on stable storage, as the media's data is.
 *
 * Who writes: any thread that appended something drains after dropping the
 * engine lock (wc_wlog_drain, which gives way if another thread is already
 * draining: that one loops until nothing is left, and a thread leaving
 * re-checks, so no entry is stranded); a flush waits for its own entry
 * (wc_wlog_sync); stop and the end of a cut close the file once the last
 * entry is written (wc_wlog_close_wait, or the drain that finds the queue
 * empty after wc_wlog_finish).
 *
 * Records and who frees them: an appended entry is the sink's and is freed
 * once written (or dropped).  A flush placeholder is shared with its
 * flusher: the sink frees it if the flush failed; if it succeeded the
 * flusher frees it in wc_wlog_sync once it is written or the log failed.
 *
 * Locking: see wlog-sink.h.  s->refs is atomic.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <glib.h>

#include "lockcheck.h"
#include "wlog-format.h"
#include "wlog-sink.h"

/* A batch: at most this many entries or bytes per pwritev. */
#define BATCH_ENTRIES 512               /* an iovec each, under IOV_MAX */
#define BATCH_BYTES (8u << 20)

enum rec_state {
  REC_ENTRY,                    /* a write, DISCARD or MARK: ready */
  REC_FLUSH_PENDING,            /* a flush's place: not ended yet */
  REC_FLUSH_DONE,               /* it succeeded: a FLUSH entry, ready */
  REC_FLUSH_FAILED,             /* it failed: no entry, dropped */
};

struct wc_wlog_rec {
  GList link;                   /* in s->queue while queued */
  enum rec_state state;
  bool queued;                  /* in s->queue */
  bool dropped;                 /* will never be written (a placeholder
                                 * the log finished or failed under) */
  bool barrier;                 /* FLUSH or MARK: rewrite the superblock */
  bool written;                 /* in the file (and synced if a FLUSH) */
  enum wc_wlog_rec_kind kind;
  uint32_t ss;
  struct wc_wlog_header h;
  uint8_t *buf;                 /* header sector, then any data */
  size_t len;
};

struct wc_wlog_sink {
  char *path;                   /* immutable */
  uint32_t ss;                  /* immutable */
  wc_wlog_failed_fn failed_fn;  /* immutable */
  void *opaque;
  gint refs;                    /* atomic */

  pthread_mutex_t io_lock;      /* protects fd, off */
  int fd;
  uint64_t off;                 /* where the next entry goes */

  pthread_mutex_t lock;         /* protects everything below */
  pthread_cond_t cond;          /* broadcast on progress and state changes */
  GQueue queue;                 /* entries not in the file, in log order */
  unsigned pending;             /* flushes begun and not ended */
  bool finishing;               /* wc_wlog_finish: no more entries */
  bool closed;                  /* the file is closed (after finishing or
                                 * failing) */
  char *failed;                 /* why the log failed, or NULL */
  uint64_t entries;             /* entries in the file */
  uint64_t bytes;               /* bytes of the file */
};

/* ---- Records ------------------------------------------------------------ */

static struct wc_wlog_rec *
rec_alloc (uint32_t ss, size_t data)
{
  struct wc_wlog_rec *r = g_new0 (struct wc_wlog_rec, 1);

  r->link.data = r;
  r->ss = ss;
  r->len = ss + data;
  r->buf = g_malloc (r->len);
  return r;
}

struct wc_wlog_rec *
wc_wlog_rec_new (uint32_t ss, uint64_t sector, uint64_t nr_sectors,
                 enum wc_wlog_rec_kind kind)
{
  struct wc_wlog_rec *r =
    rec_alloc (ss, kind == WC_WLOG_REC_WRITE ? nr_sectors * ss : 0);

  r->state = REC_ENTRY;
  r->kind = kind;
  r->h.sector = sector;
  r->h.nr_sectors = nr_sectors;
  return r;
}

uint8_t *
wc_wlog_rec_data (struct wc_wlog_rec *r)
{
  return r->kind == WC_WLOG_REC_WRITE ? r->buf + r->ss : NULL;
}

void
wc_wlog_rec_free (struct wc_wlog_rec *r)
{
  if (r) {
    g_free (r->buf);
    g_free (r);
  }
}

/* ---- The sink ----------------------------------------------------------- */

/* A file we may overwrite: empty, or already a log. */
static bool
is_log_or_empty (int fd, const struct stat *st)
{
  uint8_t buf[WC_WLOG_SUPER_BYTES];
  struct wc_wlog_super sb;

  if (S_ISBLK (st->st_mode) || st->st_size == 0)
    return true;
  if (pread (fd, buf, sizeof buf, 0) != (ssize_t) sizeof buf)
    return false;
  wc_wlog_super_get (buf, &sb);
  return sb.magic == WC_WLOG_MAGIC;
}

/* Opens path for a log: created if missing; a regular file that is empty
 * or a log, or a block device.  The fd, or -1 with errno and *message. */
static int
open_checked (const char *path, struct stat *st, char **message)
{
  int fd, err;

  fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd == -1) {
    err = errno;
    *message = g_strdup_printf ("%s: %s", path, g_strerror (err));
    errno = err;
    return -1;
  }
  if (fstat (fd, st) == -1) {
    err = errno;
    *message = g_strdup_printf ("%s: %s", path, g_strerror (err));
    goto fail;
  }
  if (!S_ISREG (st->st_mode) && !S_ISBLK (st->st_mode)) {
    err = EINVAL;
    *message = g_strdup_printf ("%s: not a regular file or a block device",
                                path);
    goto fail;
  }
  /* Never overwrite a file that holds something else. */
  if (!is_log_or_empty (fd, st)) {
    err = EEXIST;
    *message = g_strdup_printf ("%s: exists and is not a write log (not "
                                "overwritten)", path);
    goto fail;
  }
  return fd;

 fail:
  close (fd);
  errno = err;
  return -1;
}

int
wc_wlog_check_path (const char *path, char **message)
{
  struct stat st;
  int fd = open_checked (path, &st, message);

  if (fd == -1)
    return -1;
  close (fd);
  return 0;
}

struct wc_wlog_sink *
wc_wlog_sink_open (const char *path, uint32_t ss, wc_wlog_failed_fn failed,
                   void *opaque, char **message)
{
  struct wc_wlog_sink *s;
  g_autofree uint8_t *sb = NULL;
  struct stat st;
  int fd, err;

  if (!wc_wlog_sector_size_ok (ss)) {
    *message = g_strdup_printf ("%s: sector size %" PRIu32 " is not a "
                                "power of two from 512", path, ss);
    errno = EINVAL;
    return NULL;
  }
  fd = open_checked (path, &st, message);
  if (fd == -1)
    return NULL;
  errno = 0;
  sb = g_malloc (ss);
  wc_wlog_super_encode (sb, ss, 0);
  if ((S_ISREG (st.st_mode) && ftruncate (fd, 0) == -1) ||
      pwrite (fd, sb, ss, 0) != (ssize_t) ss) {
    err = errno ? errno : EIO;
    *message = g_strdup_printf ("%s: writing the superblock: %s", path,
                                g_strerror (err));
    goto fail;
  }

  s = g_new0 (struct wc_wlog_sink, 1);
  s->path = g_strdup (path);
  s->ss = ss;
  s->failed_fn = failed;
  s->opaque = opaque;
  s->refs = 1;
  pthread_mutex_init (&s->io_lock, NULL);
  s->fd = fd;
  s->off = ss;
  pthread_mutex_init (&s->lock, NULL);
  pthread_cond_init (&s->cond, NULL);
  g_queue_init (&s->queue);
  s->bytes = ss;
  return s;

 fail:
  close (fd);
  errno = err;
  return NULL;
}

void
wc_wlog_sink_ref (struct wc_wlog_sink *s)
{
  g_atomic_int_inc (&s->refs);
}

void
wc_wlog_sink_unref (struct wc_wlog_sink *s)
{
  GList *l;

  if (!s || !g_atomic_int_dec_and_test (&s->refs))
    return;
  /* The last reference: nobody appends, drains or waits any more. */
  while ((l = g_queue_pop_head_link (&s->queue)) != NULL)
    wc_wlog_rec_free (l->data);
  if (s->fd >= 0)
    close (s->fd);
  pthread_mutex_destroy (&s->io_lock);
  pthread_mutex_destroy (&s->lock);
  pthread_cond_destroy (&s->cond);
  g_free (s->failed);
  g_free (s->path);
  g_free (s);
}

uint32_t
wc_wlog_sink_sector_size (const struct wc_wlog_sink *s)
{
  return s->ss;
}

/* ---- Appending (engine lock held) --------------------------------------- */

static bool
taking_locked (struct wc_wlog_sink *s)
{
  WC_MUTEX_HELD (&s->lock);
  return !s->finishing && !s->failed;
}

bool
wc_wlog_taking (struct wc_wlog_sink *s)
{
  bool taking;

  pthread_mutex_lock (&s->lock);
  taking = taking_locked (s);
  pthread_mutex_unlock (&s->lock);
  return taking;
}

static void
queue_locked (struct wc_wlog_sink *s, struct wc_wlog_rec *r)
{
  WC_MUTEX_HELD (&s->lock);
  g_queue_push_tail_link (&s->queue, &r->link);
  r->queued = true;
}

void
wc_wlog_append (struct wc_wlog_sink *s, struct wc_wlog_rec *r, bool fua)
{
  r->h.flags = (r->kind == WC_WLOG_REC_DISCARD ? WC_WLOG_DISCARD : 0) |
    (fua ? WC_WLOG_FUA : 0);
  wc_wlog_header_encode (r->buf, s->ss, &r->h, NULL);
  pthread_mutex_lock (&s->lock);
  if (taking_locked (s)) {
    queue_locked (s, r);
    r = NULL;
  }
  pthread_mutex_unlock (&s->lock);
  wc_wlog_rec_free (r);
}

struct wc_wlog_rec *
wc_wlog_flush_begin (struct wc_wlog_sink *s)
{
  struct wc_wlog_rec *f = rec_alloc (s->ss, 0);

  f->state = REC_FLUSH_PENDING;
  f->barrier = true;
  f->h.flags = WC_WLOG_FLUSH;
  wc_wlog_header_encode (f->buf, s->ss, &f->h, NULL);
  pthread_mutex_lock (&s->lock);
  s->pending++;
  /* After finishing or failing it is never written: flush_end or sync
   * frees it. */
  if (taking_locked (s))
    queue_locked (s, f);
  else
    f->dropped = true;
  pthread_mutex_unlock (&s->lock);
  return f;
}

void
wc_wlog_flush_end (struct wc_wlog_sink *s, struct wc_wlog_rec *f, bool ok)
{
  bool free_now = false;

  pthread_mutex_lock (&s->lock);
  g_assert (f->state == REC_FLUSH_PENDING && s->pending > 0);
  s->pending--;
  f->state = ok ? REC_FLUSH_DONE : REC_FLUSH_FAILED;
  if (!ok && f->dropped)
    free_now = true;            /* nobody else has it */
  pthread_cond_broadcast (&s->cond);
  pthread_mutex_unlock (&s->lock);
  if (free_now)
    wc_wlog_rec_free (f);
}

size_t
wc_wlog_mark_max (const struct wc_wlog_sink *s)
{
  return WC_WLOG_MARK_MAX (s->ss);
}

void
wc_wlog_mark (struct wc_wlog_sink *s, const char *text)
{
  struct wc_wlog_rec *r = rec_alloc (s->ss, 0);

  r->state = REC_ENTRY;
  r->barrier = true;
  r->h.flags = WC_WLOG_MARK;
  r->h.data_len = MIN (strlen (text), wc_wlog_mark_max (s));
  wc_wlog_header_encode (r->buf, s->ss, &r->h, text);
  pthread_mutex_lock (&s->lock);
  if (taking_locked (s)) {
    queue_locked (s, r);
    r = NULL;
  }
  pthread_mutex_unlock (&s->lock);
  wc_wlog_rec_free (r);
}

void
wc_wlog_finish (struct wc_wlog_sink *s)
{
  pthread_mutex_lock (&s->lock);
  s->finishing = true;
  pthread_cond_broadcast (&s->cond);
  pthread_mutex_unlock (&s->lock);
}

/* ---- Writing (no engine lock) ------------------------------------------- */

/* Whether the head of the queue can be written, or the log closed. */
static bool
work_locked (struct wc_wlog_sink *s)
{
  const struct wc_wlog_rec *head;

  WC_MUTEX_HELD (&s->lock);
  if (s->closed)
    return false;
  head = g_queue_peek_head (&s->queue);
  if (head)
    return head->state != REC_FLUSH_PENDING;
  return s->finishing && s->pending == 0;
}

/* Drops the queue after a failure; placeholders go to their flushers. */
static void
drop_queue_locked (struct wc_wlog_sink *s)
{
  GList *l;

  WC_MUTEX_HELD (&s->lock);
  while ((l = g_queue_pop_head_link (&s->queue)) != NULL) {
    struct wc_wlog_rec *r = l->data;

    r->queued = false;
    if (r->state == REC_FLUSH_PENDING || r->state == REC_FLUSH_DONE) {
      r->dropped = true;        /* its flusher frees it */
      continue;
    }
    wc_wlog_rec_free (r);
  }
}

/* s->io_lock held.  Sets the superblock to the entries written whole. */
static int
write_super_io (struct wc_wlog_sink *s, uint64_t entries, bool sync)
{
  g_autofree uint8_t *sb = g_malloc (s->ss);

  wc_wlog_super_encode (sb, s->ss, entries);
  if (pwrite (s->fd, sb, s->ss, 0) != (ssize_t) s->ss) {
    if (errno == 0)
      errno = EIO;
    return -1;
  }
  return sync ? fdatasync (s->fd) : 0;
}

/* s->io_lock held.  The log failed: keep what is whole, close, report. */
static void
fail_io (struct wc_wlog_sink *s, const char *what, int err,
         uint64_t whole)
{
  g_autofree char *msg = NULL;

  (void) write_super_io (s, whole, true);
  close (s->fd);
  s->fd = -1;
  msg = g_strdup_printf ("%s: %s: %s", s->path, what, g_strerror (err));
  pthread_mutex_lock (&s->lock);
  s->failed = g_strdup_printf ("%s: %s", what, g_strerror (err));
  s->entries = whole;
  s->closed = true;
  drop_queue_locked (s);
  pthread_cond_broadcast (&s->cond);
  pthread_mutex_unlock (&s->lock);
  if (s->failed_fn)
    s->failed_fn (s->opaque, msg);
}

/* s->io_lock held: finishing, nothing left, nothing pending. */
static void
close_io (struct wc_wlog_sink *s, uint64_t entries)
{
  if (write_super_io (s, entries, true) == -1) {
    fail_io (s, "closing", errno, entries);
    return;
  }
  close (s->fd);
  s->fd = -1;
  pthread_mutex_lock (&s->lock);
  s->closed = true;
  pthread_cond_broadcast (&s->cond);
  pthread_mutex_unlock (&s->lock);
}

/* s->io_lock held.  Writes batches until the queue is empty or blocked. */
static void
drain_io (struct wc_wlog_sink *s)
{
  struct wc_wlog_rec *batch[BATCH_ENTRIES];
  struct iovec iov[BATCH_ENTRIES];

  for (;;) {
    unsigned n = 0, whole = 0;
    size_t bytes = 0;
    bool barrier = false, flush = false;
    uint64_t entries;
    ssize_t done;
    GList *l;

    pthread_mutex_lock (&s->lock);
    if (s->closed) {
      pthread_mutex_unlock (&s->lock);
      return;
    }
    while (n < BATCH_ENTRIES && bytes < BATCH_BYTES &&
           (l = g_queue_peek_head_link (&s->queue)) != NULL) {
      struct wc_wlog_rec *r = l->data;

      if (r->state == REC_FLUSH_PENDING)
        break;
      g_queue_unlink (&s->queue, l);
      r->queued = false;
      if (r->state == REC_FLUSH_FAILED) {
        wc_wlog_rec_free (r);
        continue;
      }
      batch[n] = r;
      iov[n].iov_base = r->buf;
      iov[n].iov_len = r->len;
      bytes += r->len;
      barrier |= r->barrier;
      flush |= r->state == REC_FLUSH_DONE;
      n++;
    }
    entries = s->entries;
    if (n == 0) {
      bool close_now = s->finishing && s->pending == 0;

      pthread_mutex_unlock (&s->lock);
      if (close_now)
        close_io (s, entries);
      return;
    }
    pthread_mutex_unlock (&s->lock);

    /* The batch, then (for a FLUSH or MARK) the superblock. */
    done = pwritev (s->fd, iov, n, s->off);
    if (done != (ssize_t) bytes) {
      int err = done == -1 ? errno : ENOSPC;     /* short: the disk is full */
      size_t left = done > 0 ? done : 0;

      while (whole < n && left >= batch[whole]->len)
        left -= batch[whole++]->len;
      for (unsigned i = 0; i < n; i++)
        if (batch[i]->state != REC_FLUSH_DONE)
          wc_wlog_rec_free (batch[i]);
      fail_io (s, "writing", err, entries + whole);
      return;
    }
    s->off += bytes;
    if (barrier && write_super_io (s, entries + n, flush) == -1) {
      for (unsigned i = 0; i < n; i++)
        if (batch[i]->state != REC_FLUSH_DONE)
          wc_wlog_rec_free (batch[i]);
      fail_io (s, "updating the superblock", errno, entries + n);
      return;
    }

    pthread_mutex_lock (&s->lock);
    s->entries += n;
    s->bytes = s->off;
    for (unsigned i = 0; i < n; i++) {
      if (batch[i]->state == REC_FLUSH_DONE)
        batch[i]->written = true;       /* its flusher frees it */
      else
        wc_wlog_rec_free (batch[i]);
    }
    pthread_cond_broadcast (&s->cond);
    pthread_mutex_unlock (&s->lock);
  }
}

void
wc_wlog_drain (struct wc_wlog_sink *s)
{
  bool more;

  do {
    /* Another thread drains: it loops until nothing is left, and when it
     * stops it checks again, below, for entries queued meanwhile. */
    if (pthread_mutex_trylock (&s->io_lock) != 0)
      return;
    drain_io (s);
    pthread_mutex_unlock (&s->io_lock);
    pthread_mutex_lock (&s->lock);
    more = work_locked (s);
    pthread_mutex_unlock (&s->lock);
  } while (more);
}

/* Waits until done () holds, draining whenever there is work. */
static void
wait_for (struct wc_wlog_sink *s, bool (*done) (struct wc_wlog_sink *s,
                                                 void *arg), void *arg)
{
  pthread_mutex_lock (&s->lock);
  while (!done (s, arg)) {
    if (work_locked (s)) {
      pthread_mutex_unlock (&s->lock);
      pthread_mutex_lock (&s->io_lock);
      drain_io (s);
      pthread_mutex_unlock (&s->io_lock);
      pthread_mutex_lock (&s->lock);
      continue;
    }
    /* Blocked behind a flush still running: it ends, and broadcasts. */
    pthread_cond_wait (&s->cond, &s->lock);
  }
  pthread_mutex_unlock (&s->lock);
  /* Entries queued while we held io_lock found it taken: take them. */
  wc_wlog_drain (s);
}

static bool
flush_written (struct wc_wlog_sink *s, void *arg)
{
  const struct wc_wlog_rec *f = arg;

  return f->written || f->dropped || s->closed;
}

void
wc_wlog_sync (struct wc_wlog_sink *s, struct wc_wlog_rec *f)
{
  g_assert (f->state == REC_FLUSH_DONE);
  wait_for (s, flush_written, f);
  wc_wlog_rec_free (f);
}

static bool
is_closed (struct wc_wlog_sink *s, void *arg)
{
  return s->closed;
}

void
wc_wlog_close_wait (struct wc_wlog_sink *s)
{
  wait_for (s, is_closed, NULL);
}

void
wc_wlog_sink_info (struct wc_wlog_sink *s, struct wc_wlog_info *info)
{
  pthread_mutex_lock (&s->lock);
  info->path = g_strdup (s->path);
  info->failed = g_strdup (s->failed);
  info->open = !s->closed;
  info->sector_size = s->ss;
  info->entries = s->entries;
  info->bytes = s->bytes;
  pthread_mutex_unlock (&s->lock);
}

/* wcache-crash: loading a write log (crash-log.h).
 *
 * Owns struct crash_log.  One pass of the tree's reader (lib/wlog.h) over
 * every entry: the reader checks each field and names the first bad entry,
 * so nothing here parses the format.  The data itself is not read now:
 * crash_log_read preads it later at the file offset the reader checked
 * (wc_wlog_entry.data_offset, inside the file), so workers can read data in
 * parallel without sharing the reader's cursor.
 *
 * Locking: none.  A loaded log is never changed, and pread(2) on one
 * descriptor from several threads is safe.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "crash-log.h"
#include "wlog.h"

struct crash_log *
crash_log_load (const char *path, char **message)
{
  g_autofree char *msg = NULL;
  struct wc_wlog *r;
  struct wc_wlog_entry e;
  struct crash_log *log;
  GArray *writes, *flushes, *marks;
  int ret, err;

  r = wc_wlog_open (path, &msg);
  if (!r) {
    err = errno;
    *message = g_strdup_printf ("%s: %s", path, msg);
    errno = err;
    return NULL;
  }
  log = g_new0 (struct crash_log, 1);
  log->path = g_strdup (path);
  log->fd = -1;
  log->sector_size = wc_wlog_sector_size (r);
  log->nr_entries = wc_wlog_nr_entries (r);
  writes = g_array_new (FALSE, FALSE, sizeof (struct crash_write));
  flushes = g_array_new (FALSE, FALSE, sizeof (uint64_t));
  marks = g_array_new (FALSE, FALSE, sizeof (struct crash_mark));

  while ((ret = wc_wlog_next (r, &e, &msg)) == 1) {
    switch (e.kind) {
    case WC_WLOG_KIND_WRITE:
    case WC_WLOG_KIND_DISCARD: {
      struct crash_write w = {
        .index = e.index,
        .offset = e.offset,
        .length = e.length,
        .data_offset = e.data_offset,
        .fua = (e.flags & WC_WLOG_FUA) != 0,
        .discard = e.kind == WC_WLOG_KIND_DISCARD,
      };

      g_array_append_val (writes, w);
      if (e.offset + e.length > log->disk_end) {
        log->disk_end = e.offset + e.length;
        log->disk_end_entry = e.index;
      }
      log->nr_fua += w.fua;
      log->nr_discards += w.discard;
      if (!w.discard)
        log->bytes_written += e.length;
      break;
    }
    case WC_WLOG_KIND_FLUSH:
      g_array_append_val (flushes, e.index);
      break;
    case WC_WLOG_KIND_MARK: {
      struct crash_mark m = { e.index, g_strdup (e.mark) };

      g_array_append_val (marks, m);
      break;
    }
    }
  }
  err = errno;
  wc_wlog_close (r);
  log->nr_writes = writes->len;
  log->writes = (struct crash_write *) g_array_free (writes, FALSE);
  log->nr_flushes = flushes->len;
  log->flushes = (uint64_t *) g_array_free (flushes, FALSE);
  log->nr_marks = marks->len;
  log->marks = (struct crash_mark *) g_array_free (marks, FALSE);
  if (ret == -1) {
    *message = g_strdup_printf ("%s: %s", path, msg);
    crash_log_free (log);
    errno = err;
    return NULL;
  }

  log->fd = open (path, O_RDONLY | O_CLOEXEC);
  if (log->fd == -1) {
    err = errno;
    *message = g_strdup_printf ("%s: %s", path, g_strerror (err));
    crash_log_free (log);
    errno = err;
    return NULL;
  }
  return log;
}

void
crash_log_free (struct crash_log *log)
{
  if (!log)
    return;
  if (log->fd >= 0)
    close (log->fd);
  for (size_t i = 0; i < log->nr_marks; i++)
    g_free (log->marks[i].text);
  g_free (log->marks);
  g_free (log->flushes);
  g_free (log->writes);
  g_free (log->path);
  g_free (log);
}

int
crash_log_read (const struct crash_log *log, const struct crash_write *w,
                uint64_t pos, void *buf, size_t count, char **message)
{
  uint8_t *p = buf;
  uint64_t off = w->data_offset + pos;

  g_assert (!w->discard && pos + count <= w->length);
  while (count > 0) {
    ssize_t n = pread (log->fd, p, count, off);

    if (n == -1 && errno == EINTR)
      continue;
    if (n <= 0) {
      int err = n == 0 ? EIO : errno;

      /* The reader saw this data inside the file: a shorter file now
       * means someone changed the log under us. */
      *message = g_strdup_printf ("%s: entry %" PRIu64 ": read: %s",
                                  log->path, w->index, g_strerror (err));
      errno = err;
      return -1;
    }
    p += n;
    off += n;
    count -= n;
  }
  return 0;
}

/* Entries of a sorted array of indexes below pos. */
static size_t
count_below (const void *base, size_t n, size_t stride, uint64_t pos)
{
  size_t lo = 0, hi = n;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    uint64_t idx = *(const uint64_t *) ((const char *) base + mid * stride);

    if (idx < pos)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

size_t
crash_log_marks_before (const struct crash_log *log, uint64_t pos)
{
  return count_below (log->marks, log->nr_marks, sizeof *log->marks, pos);
}

size_t
crash_log_flushes_before (const struct crash_log *log, uint64_t pos)
{
  return count_below (log->flushes, log->nr_flushes, sizeof *log->flushes,
                      pos);
}

int64_t
crash_log_find_mark (const struct crash_log *log, const char *text)
{
  for (size_t i = 0; i < log->nr_marks; i++)
    if (strcmp (log->marks[i].text, text) == 0)
      return i;
  return -1;
}

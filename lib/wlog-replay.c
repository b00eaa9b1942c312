/* Replaying a write log's first n entries onto an image.
 *
 * Owns the meaning of each entry kind for the image: a write puts its data
 * at its range, a DISCARD zeroes its range (wcache reads trimmed blocks as
 * zeros, so a replayed image must too; replay-log does the same on a file),
 * FLUSH and MARK change nothing.  FUA and METADATA do not change what is
 * written.  The crash explorer builds every state from this.
 *
 * Two passes over the entries: the first checks every entry in [0, n) and
 * its range against the image, the second writes.  A log that is malformed
 * or addresses past the end of the image is thus refused before the image
 * is touched; only a failing media op can leave an image half-replayed.
 * Data moves through one bounce buffer, as large as the largest write but
 * at most REPLAY_CHUNK bytes, so a large entry never needs its size in
 * memory.
 *
 * The fd flavour is the same replay through media ops over pwrite(2).
 *
 * Locking: none; the reader is used by one thread at a time (wlog.h).
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "span.h"
#include "wlog.h"

#define REPLAY_CHUNK (1024 * 1024)

static int
entry_error (char **message, int err, uint64_t index, const char *what)
{
  *message = g_strdup_printf ("entry %" PRIu64 ": %s: %s", index, what,
                              g_strerror (err));
  errno = err;
  return -1;
}

/* First pass: entries [0, n) are valid and inside the image. */
static int
check_all (struct wc_wlog *r, uint64_t n, uint64_t size, char **message)
{
  struct wc_wlog_entry e;

  wc_wlog_rewind (r);
  for (uint64_t i = 0; i < n; i++) {
    if (wc_wlog_next (r, &e, message) == -1)
      return -1;
    switch (e.kind) {
    case WC_WLOG_KIND_WRITE:
    case WC_WLOG_KIND_DISCARD:
      if (!wc_range_ok (size, e.offset, e.length)) {
        *message = g_strdup_printf ("entry %" PRIu64 ": range %" PRIu64
                                    "+%" PRIu64 " runs past the end of the"
                                    " image (%" PRIu64 " bytes)",
                                    e.index, e.offset, e.length, size);
        errno = ENOSPC;
        return -1;
      }
      break;
    case WC_WLOG_KIND_FLUSH:
    case WC_WLOG_KIND_MARK:
      break;
    }
  }
  return 0;
}

/* The bounce buffer: grown to the largest chunk needed so far. */
struct bounce {
  uint8_t *buf;
  size_t size;
};

static int
apply (struct wc_wlog *r, const struct wc_wlog_entry *e,
       const struct wc_media_ops *ops, void *opaque, struct bounce *b,
       char **message)
{
  uint64_t pos = 0;

  switch (e->kind) {
  case WC_WLOG_KIND_WRITE:
    if (b->size < MIN (e->length, REPLAY_CHUNK)) {
      b->size = MIN (e->length, REPLAY_CHUNK);
      g_free (b->buf);
      b->buf = g_malloc (b->size);
    }
    while (pos < e->length) {
      uint32_t n = MIN (e->length - pos, REPLAY_CHUNK);

      if (wc_wlog_read_data (r, e, pos, b->buf, n, message) == -1)
        return -1;
      if (ops->write (opaque, b->buf, n, e->offset + pos, false) == -1)
        return entry_error (message, errno, e->index, "write");
      pos += n;
    }
    return 0;
  case WC_WLOG_KIND_DISCARD:
    while (pos < e->length) {
      uint32_t n = MIN (e->length - pos, REPLAY_CHUNK);

      if (ops->zero (opaque, n, e->offset + pos, false) == -1)
        return entry_error (message, errno, e->index, "zero");
      pos += n;
    }
    return 0;
  case WC_WLOG_KIND_FLUSH:
  case WC_WLOG_KIND_MARK:
    return 0;
  }
  return 0;
}

int
wc_wlog_replay (struct wc_wlog *r, uint64_t n,
                const struct wc_media_ops *ops, void *opaque, uint64_t size,
                char **message)
{
  struct bounce b = { NULL, 0 };
  struct wc_wlog_entry e;
  int ret = 0;

  if (n > wc_wlog_nr_entries (r)) {
    *message = g_strdup_printf ("replay: %" PRIu64 " entries asked, the log"
                                " has %" PRIu64, n, wc_wlog_nr_entries (r));
    errno = EINVAL;
    return -1;
  }
  if (check_all (r, n, size, message) == -1) {
    int err = errno;

    wc_wlog_rewind (r);
    errno = err;
    return -1;
  }
  wc_wlog_rewind (r);
  /* The first pass read these n entries: only I/O can fail now. */
  for (uint64_t i = 0; i < n && ret == 0; i++)
    ret = wc_wlog_next (r, &e, message) == -1 ? -1
      : apply (r, &e, ops, opaque, &b, message);
  {
    int err = errno;

    g_free (b.buf);
    wc_wlog_rewind (r);
    errno = err;
  }
  return ret;
}

/* ---- Media ops over a file descriptor ------------------------------------ */

static int
fd_write (void *opaque, const void *buf, uint32_t count, uint64_t offset,
          bool fua)
{
  int fd = *(int *) opaque;
  const uint8_t *p = buf;

  while (count > 0) {
    ssize_t n = pwrite (fd, p, count, offset);

    if (n == -1 && errno == EINTR)
      continue;
    if (n == -1)
      return -1;
    p += n;
    offset += n;
    count -= n;
  }
  return 0;
}

static int
fd_zero (void *opaque, uint32_t count, uint64_t offset, bool fua)
{
  static const uint8_t zeros[64 * 1024];

  while (count > 0) {
    uint32_t n = MIN (count, sizeof zeros);

    if (fd_write (opaque, zeros, n, offset, false) == -1)
      return -1;
    offset += n;
    count -= n;
  }
  return 0;
}

static const struct wc_media_ops fd_ops = {
  .write = fd_write,
  .zero = fd_zero,
};

int
wc_wlog_replay_fd (struct wc_wlog *r, uint64_t n, int fd, char **message)
{
  struct stat st;
  off_t size;

  if (fstat (fd, &st) == -1)
    size = -1;
  else if (S_ISREG (st.st_mode))
    size = st.st_size;
  else
    size = lseek (fd, 0, SEEK_END);     /* a block device */
  if (size == -1) {
    int err = errno;

    *message = g_strdup_printf ("image: size: %s", g_strerror (err));
    errno = err;
    return -1;
  }
  return wc_wlog_replay (r, n, &fd_ops, &fd, size, message);
}

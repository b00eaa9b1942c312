/* The write log reader: one pass over a log's entries, checking each.
 *
 * Owns a reader (struct wc_wlog): where the log's bytes come from (a file
 * descriptor read with pread, or a caller's memory buffer, for tests and
 * the fuzzer), the superblock's facts, and an iteration cursor.
 *
 * Design.  Entries have no index in the file: entry i+1 starts after entry
 * i's header sector and data, so the reader walks from entry 0 and keeps
 * the file offset of the next header.  Each step reads one header sector,
 * checks it with wc_wlog_header_check (the rules live with the format, so
 * writer and reader share them), then checks that the header and the data
 * lie inside the file; data is read only on request (wc_wlog_read_data),
 * so walking a log costs one sector read per entry.  A failing step leaves
 * the cursor on its entry: the next step reads it again, so a caller can
 * never skip a bad entry and go on reading garbage as entries.  The
 * superblock's nr_entries bounds the walk; what lies after the last
 * counted entry is never read.
 *
 * The superblock is checked at open.  Its sector is zero after the fields,
 * except bytes 28..31: the kernel copies its unpacked 32-byte struct there,
 * whose 4 padding bytes are whatever its stack held.
 *
 * Locking: none.  A reader is used by one thread at a time (wlog.h).
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "wlog.h"

struct wc_wlog {
  int fd;                       /* -1 for a memory log */
  bool own_fd;
  const uint8_t *mem;           /* the memory log, or NULL */
  uint64_t size;                /* bytes in the file at open */
  uint32_t ss;                  /* sector size */
  uint64_t nr_entries;
  uint8_t *sector;              /* ss bytes: the header being read */
  char *mark;                   /* ss - 32 + 1 bytes: the MARK text */
  /* The cursor. */
  uint64_t next_index;
  uint64_t next_offset;         /* file offset of the next header */
};

/* Reads count bytes at off; the caller has checked off + count <= size.
 * A file shorter than at open gives EIO. */
static int
read_at (struct wc_wlog *r, void *buf, size_t count, uint64_t off)
{
  uint8_t *p = buf;

  if (r->mem) {
    memcpy (buf, r->mem + off, count);
    return 0;
  }
  while (count > 0) {
    ssize_t n = pread (r->fd, p, count, off);

    if (n == -1 && errno == EINTR)
      continue;
    if (n == -1)
      return -1;
    if (n == 0) {
      errno = EIO;
      return -1;
    }
    p += n;
    off += n;
    count -= n;
  }
  return 0;
}

/* Frees a reader that failed to open; returns NULL with errno = err. */
static struct wc_wlog *
fail_open (struct wc_wlog *r, int err, char **message, const char *fmt, ...)
  __attribute__ ((format (printf, 4, 5)));

static struct wc_wlog *
fail_open (struct wc_wlog *r, int err, char **message, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  *message = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  wc_wlog_close (r);
  errno = err;
  return NULL;
}

/* Checks the superblock and sets up the reader; frees it on failure. */
static struct wc_wlog *
setup (struct wc_wlog *r, char **message)
{
  uint8_t raw[WC_WLOG_SUPER_BYTES];
  struct wc_wlog_super s;
  char reason[128];
  const char *bad;
  int err;

  if (r->size < WC_WLOG_SUPER_BYTES)
    return fail_open (r, EINVAL, message,
                      "superblock: file too short (%" PRIu64 " bytes)",
                      r->size);
  if (read_at (r, raw, sizeof raw, 0) == -1)
    goto read_error;
  wc_wlog_super_get (raw, &s);
  bad = wc_wlog_super_check (&s, reason, sizeof reason);
  if (bad)
    return fail_open (r, EINVAL, message, "superblock: %s", bad);
  if (r->size < s.sectorsize)
    return fail_open (r, EINVAL, message,
                      "superblock: file shorter than one sector (%" PRIu64
                      " < %" PRIu32 " bytes)", r->size, s.sectorsize);
  r->ss = s.sectorsize;
  r->nr_entries = s.nr_entries;
  r->sector = g_malloc (r->ss);
  r->mark = g_malloc (r->ss - WC_WLOG_HEADER_BYTES + 1);
  if (read_at (r, r->sector, r->ss, 0) == -1)
    goto read_error;
  for (uint32_t i = WC_WLOG_HEADER_BYTES; i < r->ss; i++)
    if (r->sector[i])
      return fail_open (r, EINVAL, message,
                        "superblock: non-zero bytes after the superblock");
  wc_wlog_rewind (r);
  return r;

 read_error:
  err = errno;
  return fail_open (r, err, message, "superblock: read: %s",
                    g_strerror (err));
}

static struct wc_wlog *
reader_new (void)
{
  struct wc_wlog *r = g_new0 (struct wc_wlog, 1);

  r->fd = -1;
  return r;
}

struct wc_wlog *
wc_wlog_open_fd (int fd, char **message)
{
  struct wc_wlog *r = reader_new ();
  struct stat st;
  off_t end;

  r->fd = fd;
  if (fstat (fd, &st) == -1) {
    int err = errno;

    return fail_open (r, err, message, "fstat: %s", g_strerror (err));
  }
  if (S_ISREG (st.st_mode))
    r->size = st.st_size;
  else if ((end = lseek (fd, 0, SEEK_END)) != -1)
    r->size = end;              /* a block device */
  else {
    int err = errno;

    return fail_open (r, err, message, "size: %s", g_strerror (err));
  }
  return setup (r, message);
}

struct wc_wlog *
wc_wlog_open (const char *path, char **message)
{
  struct wc_wlog *r;
  int fd = open (path, O_RDONLY | O_CLOEXEC);

  if (fd == -1) {
    int err = errno;

    *message = g_strdup_printf ("open: %s", g_strerror (err));
    errno = err;
    return NULL;
  }
  r = wc_wlog_open_fd (fd, message);
  if (!r) {
    int err = errno;

    close (fd);
    errno = err;
    return NULL;
  }
  r->own_fd = true;
  return r;
}

struct wc_wlog *
wc_wlog_open_mem (const void *buf, size_t len, char **message)
{
  struct wc_wlog *r = reader_new ();

  r->mem = buf;
  r->size = len;
  return setup (r, message);
}

void
wc_wlog_close (struct wc_wlog *r)
{
  if (!r)
    return;
  if (r->own_fd)
    close (r->fd);
  g_free (r->sector);
  g_free (r->mark);
  g_free (r);
}

uint32_t
wc_wlog_sector_size (const struct wc_wlog *r)
{
  return r->ss;
}

uint64_t
wc_wlog_nr_entries (const struct wc_wlog *r)
{
  return r->nr_entries;
}

uint64_t
wc_wlog_file_size (const struct wc_wlog *r)
{
  return r->size;
}

const char *
wc_wlog_kind_name (enum wc_wlog_kind kind)
{
  switch (kind) {
  case WC_WLOG_KIND_WRITE: return "write";
  case WC_WLOG_KIND_DISCARD: return "discard";
  case WC_WLOG_KIND_FLUSH: return "flush";
  case WC_WLOG_KIND_MARK: return "mark";
  }
  return NULL;
}

void
wc_wlog_rewind (struct wc_wlog *r)
{
  r->next_index = 0;
  r->next_offset = r->ss;       /* entry 0 follows the superblock */
}

/* Reports a failure of entry r->next_index.  The cursor stays on it. */
static int
fail_entry (struct wc_wlog *r, int err, char **message, const char *reason)
{
  *message = g_strdup_printf ("entry %" PRIu64 ": %s", r->next_index,
                              reason);
  errno = err;
  return -1;
}

static enum wc_wlog_kind
kind_of (uint64_t flags)
{
  if (flags & WC_WLOG_MARK)
    return WC_WLOG_KIND_MARK;
  if (flags & WC_WLOG_FLUSH)
    return WC_WLOG_KIND_FLUSH;
  if (flags & WC_WLOG_DISCARD)
    return WC_WLOG_KIND_DISCARD;
  return WC_WLOG_KIND_WRITE;
}

int
wc_wlog_next (struct wc_wlog *r, struct wc_wlog_entry *e, char **message)
{
  struct wc_wlog_header h;
  const char *bad;
  uint64_t off = r->next_offset, data_size;

  if (r->next_index >= r->nr_entries)
    return 0;

  if (off > r->size || r->size - off < r->ss)
    return fail_entry (r, EINVAL, message,
                       "header runs past the end of the file");
  if (read_at (r, r->sector, r->ss, off) == -1) {
    int err = errno;
    g_autofree char *reason = g_strdup_printf ("read: %s", g_strerror (err));

    return fail_entry (r, err, message, reason);
  }
  wc_wlog_header_get (r->sector, &h);
  bad = wc_wlog_header_check (r->sector, r->ss, &h);
  if (bad)
    return fail_entry (r, EINVAL, message, bad);

  memset (e, 0, sizeof *e);
  e->index = r->next_index;
  e->kind = kind_of (h.flags);
  e->sector = h.sector;
  e->nr_sectors = h.nr_sectors;
  e->flags = h.flags;
  e->data_len = h.data_len;
  /* wc_wlog_header_check has bounded (sector + nr_sectors) * ss. */
  e->offset = h.sector * r->ss;
  e->length = h.nr_sectors * r->ss;
  e->header_offset = off;
  e->data_offset = off + r->ss;
  data_size = e->kind == WC_WLOG_KIND_WRITE ? e->length : 0;
  if (r->size - e->data_offset < data_size)
    return fail_entry (r, EINVAL, message,
                       "data runs past the end of the file");
  e->data_size = data_size;
  if (e->kind == WC_WLOG_KIND_MARK) {
    memcpy (r->mark, r->sector + WC_WLOG_HEADER_BYTES, h.data_len);
    r->mark[h.data_len] = '\0';
    e->mark = r->mark;
  }
  r->next_offset = e->data_offset + data_size;
  r->next_index++;
  return 1;
}

int
wc_wlog_read_data (struct wc_wlog *r, const struct wc_wlog_entry *e,
                   uint64_t pos, void *buf, size_t count, char **message)
{
  uint64_t end;

  if (e->kind != WC_WLOG_KIND_WRITE ||
      __builtin_add_overflow (pos, (uint64_t) count, &end) ||
      end > e->data_size ||
      e->data_offset > r->size || r->size - e->data_offset < e->data_size) {
    *message = g_strdup_printf ("entry %" PRIu64 ": data range %" PRIu64
                                "+%zu outside the entry", e->index, pos,
                                count);
    errno = EINVAL;
    return -1;
  }
  if (read_at (r, buf, count, e->data_offset + pos) == -1) {
    int err = errno;

    *message = g_strdup_printf ("entry %" PRIu64 ": read: %s", e->index,
                                g_strerror (err));
    errno = err;
    return -1;
  }
  return 0;
}

/* wcache-crash: copies of the base, scratch images and materialisation
 * (crash-image.h).
 *
 * Owns a worker's scratch image: its file, a walk over it and the walk's
 * file sink, which keeps the pre-images of the current epoch's segments
 * in one buffer (as many bytes as the epoch's writes touch) and reads the
 * log's data through a bounce buffer.
 *
 * A sparse copy matters: a 64 MiB base that mkfs barely touched copies in
 * a few milliseconds, and reflink (FICLONE) makes it free where the
 * scratch directory's filesystem shares blocks (btrfs, XFS).
 *
 * Locking: none; a scratch image belongs to one thread.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>

#include <glib.h>

#include "crash-image.h"
#include "crash-walk.h"

#define CHUNK (1024 * 1024)

static int
fail (char **message, int err, const char *path, const char *what)
{
  *message = g_strdup_printf ("%s: %s: %s", path, what, g_strerror (err));
  errno = err;
  return -1;
}

static int
pwrite_all (int fd, const void *buf, size_t count, uint64_t off)
{
  const uint8_t *p = buf;

  while (count > 0) {
    ssize_t n = pwrite (fd, p, count, off);

    if (n == -1 && errno == EINTR)
      continue;
    if (n == -1)
      return -1;
    p += n;
    off += n;
    count -= n;
  }
  return 0;
}

static int
pread_all (int fd, void *buf, size_t count, uint64_t off)
{
  uint8_t *p = buf;

  while (count > 0) {
    ssize_t n = pread (fd, p, count, off);

    if (n == -1 && errno == EINTR)
      continue;
    if (n == -1)
      return -1;
    if (n == 0) {
      memset (p, 0, count);     /* past the end of a file reads zeros */
      return 0;
    }
    p += n;
    off += n;
    count -= n;
  }
  return 0;
}

static bool
all_zero (const uint8_t *p, size_t n)
{
  return n == 0 || (p[0] == 0 && memcmp (p, p + 1, n - 1) == 0);
}

/* Copies [off, end) of sfd to dfd: copy_file_range, or read and write
 * (skipping zero chunks: the destination was truncated, so they are
 * holes already). */
static int
copy_range (int sfd, int dfd, uint64_t off, uint64_t end, uint8_t *buf)
{
  bool cfr = true;

  while (off < end) {
    size_t n = MIN (end - off, CHUNK);

    if (cfr) {
      loff_t in = off, out = off;
      ssize_t r = copy_file_range (sfd, &in, dfd, &out, n, 0);

      if (r > 0) {
        off += r;
        continue;
      }
      if (r == -1 && errno == EINTR)
        continue;
      if (r == 0 || errno == EXDEV || errno == ENOSYS || errno == EINVAL ||
          errno == EOPNOTSUPP) {
        cfr = false;
        continue;
      }
      return -1;
    }
    if (pread_all (sfd, buf, n, off) == -1)
      return -1;
    if (!all_zero (buf, n) && pwrite_all (dfd, buf, n, off) == -1)
      return -1;
    off += n;
  }
  return 0;
}

int
crash_image_size (const char *path, uint64_t *size, char **message)
{
  struct stat st;
  int fd;
  off_t end;

  if (stat (path, &st) == -1)
    return fail (message, errno, path, "stat");
  if (S_ISREG (st.st_mode)) {
    *size = st.st_size;
    return 0;
  }
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd == -1)
    return fail (message, errno, path, "open");
  end = lseek (fd, 0, SEEK_END);
  if (end == -1) {
    int err = errno;

    close (fd);
    return fail (message, err, path, "size");
  }
  close (fd);
  *size = end;
  return 0;
}

int
crash_image_copy (const char *src, int dfd, char **message)
{
  g_autofree uint8_t *buf = NULL;
  uint64_t size, off = 0;
  int sfd, err;

  if (crash_image_size (src, &size, message) == -1)
    return -1;
  sfd = open (src, O_RDONLY | O_CLOEXEC);
  if (sfd == -1)
    return fail (message, errno, src, "open");
  if (ftruncate (dfd, 0) == -1 || ftruncate (dfd, size) == -1) {
    err = errno;
    close (sfd);
    return fail (message, err, src, "copy: truncate the copy");
  }
  if (ioctl (dfd, FICLONE, sfd) == 0) {
    close (sfd);
    return 0;
  }
  buf = g_malloc (CHUNK);
  /* Only the data extents; a block device or a filesystem without
   * SEEK_DATA is copied whole (zero chunks skipped). */
  for (;;) {
    off_t data = lseek (sfd, off, SEEK_DATA), hole;

    if (data == -1 && errno == ENXIO)
      break;
    if (data == -1) {
      if (copy_range (sfd, dfd, off, size, buf) == -1)
        goto copy_failed;
      break;
    }
    hole = lseek (sfd, data, SEEK_HOLE);
    if (hole == -1)
      hole = size;
    if (copy_range (sfd, dfd, data, MIN ((uint64_t) hole, size), buf) == -1)
      goto copy_failed;
    off = hole;
    if (off >= size)
      break;
  }
  close (sfd);
  return 0;

 copy_failed:
  err = errno;
  close (sfd);
  return fail (message, err, src, "copy");
}

int
crash_check_base (const struct crash_log *log, const char *base,
                  char **message)
{
  uint64_t size;

  if (crash_image_size (base, &size, message) == -1)
    return -1;
  if (size < log->disk_end) {
    *message = g_strdup_printf ("base %s: %" PRIu64 " bytes, smaller than"
                                " the log's highest sector (entry %" PRIu64
                                " writes up to byte %" PRIu64 ")", base,
                                size, log->disk_end_entry, log->disk_end);
    errno = ENOSPC;
    return -1;
  }
  return 0;
}

/* Writes write w's bytes [pos, pos + len) to the image at off. */
static int
put_write (const struct crash_log *log, int fd, const char *path,
           const struct crash_write *w, uint64_t pos, uint64_t off,
           uint64_t len, uint8_t *buf, char **message)
{
  static const uint8_t zeros[64 * 1024];

  while (len > 0) {
    size_t n = MIN (len, w->discard ? sizeof zeros : CHUNK);

    if (w->discard) {
      if (pwrite_all (fd, zeros, n, off) == -1)
        return fail (message, errno, path, "write");
    } else {
      if (crash_log_read (log, w, pos, buf, n, message) == -1)
        return -1;
      if (pwrite_all (fd, buf, n, off) == -1)
        return fail (message, errno, path, "write");
    }
    pos += n;
    off += n;
    len -= n;
  }
  return 0;
}

int
crash_materialize (const struct crash_log *log, const struct crash_id *id,
                   const char *base, const char *out, char **message)
{
  g_autofree char *idtext = crash_id_format (id->epoch, id->pos, id->unit,
                                             id->kept, id->nbits);
  g_autofree uint8_t *buf = NULL;
  struct crash_opts o;
  struct crash_model *m;
  const struct crash_epoch *ep;
  uint64_t npieces = 0, epoch;
  uint32_t pi = 0;
  int fd, ret = -1;

  if (id->pos > log->nr_entries) {
    *message = g_strdup_printf ("state %s: crash point p%" PRIu64 " past the"
                                " log's %" PRIu64 " entries", idtext,
                                id->pos, log->nr_entries);
    errno = EINVAL;
    return -1;
  }
  epoch = crash_log_flushes_before (log, id->pos);
  if (epoch != id->epoch) {
    *message = g_strdup_printf ("state %s: epoch %" PRIu32 ", but %" PRIu64
                                " FLUSH entries precede p%" PRIu64, idtext,
                                id->epoch, epoch, id->pos);
    errno = EINVAL;
    return -1;
  }
  crash_opts_init (&o);
  o.torn = id->unit;
  m = crash_model_new (log, &o, message);
  if (!m)
    return -1;
  ep = &m->epochs[epoch];
  while (npieces < ep->nr_pieces &&
         log->writes[ep->pieces[npieces].write].index < id->pos)
    npieces++;
  if (id->nbits > npieces) {
    *message = g_strdup_printf ("state %s: piece %" PRIu64 " kept, but the"
                                " epoch has %" PRIu64 " candidate pieces"
                                " before p%" PRIu64, idtext, id->nbits - 1,
                                npieces, id->pos);
    crash_model_free (m);
    errno = EINVAL;
    return -1;
  }
  if (crash_check_base (log, base, message) == -1) {
    crash_model_free (m);
    return -1;
  }

  fd = open (out, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd == -1) {
    fail (message, errno, out, "open");
    crash_model_free (m);
    return -1;
  }
  if (crash_image_copy (base, fd, message) == -1)
    goto out;
  buf = g_malloc (CHUNK);
  /* Every write before p, in log order: whole if it is from an earlier
   * epoch or FUA, else only its kept pieces. */
  for (uint32_t i = 0; i < log->nr_writes && log->writes[i].index < id->pos;
       i++) {
    const struct crash_write *w = &log->writes[i];

    if (i < ep->first_write || w->fua) {
      if (put_write (log, fd, out, w, 0, w->offset, w->length, buf,
                     message) == -1)
        goto out;
      continue;
    }
    for (; pi < npieces && ep->pieces[pi].write == i; pi++) {
      const struct crash_piece *p = &ep->pieces[pi];

      if (pi < id->nbits && crash_bit (id->kept, pi) &&
          put_write (log, fd, out, w, p->offset - w->offset, p->offset,
                     p->length, buf, message) == -1)
        goto out;
    }
  }
  ret = 0;
 out:
  if (close (fd) == -1 && ret == 0)
    ret = fail (message, errno, out, "close");
  crash_model_free (m);
  return ret;
}

/* ---- Scratch images ---------------------------------------------------- */

struct crash_scratch {
  const struct crash_model *m;
  char *base;
  char *path;
  int fd;
  struct crash_walk *walk;
  uint8_t *pre;                 /* the epoch's pre-images */
  uint64_t *pre_start;          /* per segment */
  uint64_t pre_used;
  uint8_t *buf;                 /* bounce buffer */
  crash_change_fn on_change;
  void *change_opaque;
};

static int
sc_begin_epoch (void *opaque, uint32_t nsegs, uint64_t bytes, char **message)
{
  struct crash_scratch *sc = opaque;

  g_free (sc->pre);
  g_free (sc->pre_start);
  sc->pre = g_try_malloc (bytes ? bytes : 1);
  if (!sc->pre) {
    *message = g_strdup_printf ("%s: %" PRIu64 " bytes of pre-images: %s",
                                sc->path, bytes, g_strerror (ENOMEM));
    errno = ENOMEM;
    return -1;
  }
  sc->pre_start = g_new (uint64_t, nsegs);
  sc->pre_used = 0;
  return 0;
}

static int
sc_save (void *opaque, uint32_t seg, uint64_t off, uint64_t len,
         char **message)
{
  struct crash_scratch *sc = opaque;

  sc->pre_start[seg] = sc->pre_used;
  if (pread_all (sc->fd, sc->pre + sc->pre_used, len, off) == -1)
    return fail (message, errno, sc->path, "read");
  sc->pre_used += len;
  return 0;
}

static int
sc_put (void *opaque, uint32_t seg, uint64_t off, uint64_t len,
        const struct crash_write *w, uint64_t pos, char **message)
{
  struct crash_scratch *sc = opaque;

  if (w) {
    if (put_write (sc->m->log, sc->fd, sc->path, w, pos, off, len, sc->buf,
                   message) == -1)
      return -1;
  } else if (pwrite_all (sc->fd, sc->pre + sc->pre_start[seg], len,
                         off) == -1) {
    return fail (message, errno, sc->path, "write");
  }
  if (sc->on_change)
    sc->on_change (sc->change_opaque, off, len);
  return 0;
}

static const struct crash_walk_ops sc_ops = {
  .begin_epoch = sc_begin_epoch,
  .save = sc_save,
  .put = sc_put,
};

struct crash_scratch *
crash_scratch_new (const struct crash_model *m, const char *base,
                   const char *dir, char **message)
{
  struct crash_scratch *sc = g_new0 (struct crash_scratch, 1);

  sc->m = m;
  sc->base = g_strdup (base);
  sc->path = g_build_filename (dir, "wcache-crash-XXXXXX.img", NULL);
  sc->fd = g_mkstemp_full (sc->path, O_RDWR | O_CLOEXEC, 0600);
  if (sc->fd == -1) {
    fail (message, errno, sc->path, "create");
    g_free (sc->path);
    sc->path = NULL;
    crash_scratch_free (sc);
    return NULL;
  }
  sc->buf = g_malloc (CHUNK);
  if (crash_scratch_reset (sc, message) == -1) {
    crash_scratch_free (sc);
    return NULL;
  }
  return sc;
}

int
crash_scratch_reset (struct crash_scratch *sc, char **message)
{
  crash_walk_free (sc->walk);
  sc->walk = NULL;
  if (crash_image_copy (sc->base, sc->fd, message) == -1)
    return -1;
  sc->walk = crash_walk_new (sc->m, &sc_ops, sc);
  if (sc->on_change)
    sc->on_change (sc->change_opaque, 0, UINT64_MAX);
  return 0;
}

void
crash_scratch_free (struct crash_scratch *sc)
{
  if (!sc)
    return;
  crash_walk_free (sc->walk);
  if (sc->fd >= 0)
    close (sc->fd);
  if (sc->path)
    unlink (sc->path);
  g_free (sc->path);
  g_free (sc->base);
  g_free (sc->pre);
  g_free (sc->pre_start);
  g_free (sc->buf);
  g_free (sc);
}

void
crash_scratch_on_change (struct crash_scratch *sc, crash_change_fn fn,
                         void *opaque)
{
  sc->on_change = fn;
  sc->change_opaque = opaque;
}

int
crash_scratch_move (struct crash_scratch *sc, uint64_t s, char **message)
{
  const struct crash_point *cp = &sc->m->points[crash_model_point_of (sc->m,
                                                                      s)];

  /* An earlier epoch's pre-images are gone: start again from the base. */
  if ((int64_t) cp->epoch < crash_walk_epoch (sc->walk) &&
      crash_scratch_reset (sc, message) == -1)
    return -1;
  return crash_walk_move (sc->walk, s, message);
}

const char *
crash_scratch_path (const struct crash_scratch *sc)
{
  return sc->path;
}

int
crash_scratch_fd (const struct crash_scratch *sc)
{
  return sc->fd;
}

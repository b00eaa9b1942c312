/* The file backing: media ops over a local image file, and safe reopen
 * (wcache(7), SAFE REOPEN).  The calling sequence is in backing.h.
 *
 * Descriptors.  b->fd is the image opened with the mode's host flags.
 * When those include O_DIRECT, b->fd_any is a second descriptor of the
 * same file with the same O_DSYNC but no O_DIRECT, for requests O_DIRECT
 * would refuse (not aligned to WC_BACKING_ALIGN: the engine's torn-cut
 * units, a client's odd read, the tail of an odd-sized image); otherwise
 * fd_any is fd.  Both are reopened together.
 *
 * Durability.  Every write goes through writev_durable: a FUA write on a
 * descriptor without O_DSYNC uses pwritev2 (RWF_DSYNC), falling back to
 * fdatasync if the kernel or the filesystem refuses the flag.  Zeroes use
 * fallocate (ZERO_RANGE, then PUNCH_HOLE), falling back to writing zeros,
 * and fdatasync for FUA.
 * Flush is fdatasync, which covers the inode whichever descriptor wrote.
 *
 * Write-back errors (S3).  Linux reports a failed write-back of the host's
 * page cache once per open file description, to the first fdatasync (or
 * O_DSYNC/RWF_DSYNC write) after it, and then forgets it (errseq).  The
 * reopen's fdatasync of the old descriptor can be that first call: if it
 * fails, the data is lost on the host and no later fdatasync of that
 * descriptor will say so.  So its errno is kept in b->sync_err and the next
 * sync of ours (a flush, a FUA write or zero) fails with it, once, as the
 * kernel would have failed it; the reopen's message stays in host_error.
 *
 * Locking.  b->lock, a writer-preferring rwlock, protects fd, fd_any,
 * flags and error; sync_err is set under it held exclusive and taken
 * atomically under it held shared.  Every op holds it shared for the
 * whole I/O; a reopen holds it exclusive, which is the quiesce: it waits
 * for I/O in flight and holds new I/O until the swap is done (writer
 * preference keeps a stream of I/O from starving it).  The engine never calls ops with its own lock
 * held except for a cut's survivors, and a reopen never calls the engine,
 * so there is no cycle (lock order in engine.c).
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <glib.h>

#include "backing.h"
#include "emulate.h"
#include "lockcheck.h"

_Static_assert (WC_ZERO_ALIGN % WC_BACKING_ALIGN == 0,
                "emulated zeros go through O_DIRECT as they are");

struct wc_backing {
  char *path;                   /* for messages; immutable */
  uint64_t size;                /* immutable */
  bool readonly;                /* immutable */

  pthread_rwlock_t lock;        /* protects the fields below */
  int fd;                       /* the image, with flags */
  int fd_any;                   /* fd without O_DIRECT, or fd itself */
  int flags;                    /* host flags in force */
  char *error;                  /* why the last reopen kept the old
                                 * descriptor; NULL after a success */
  int sync_err;                 /* errno of a write-back error that the
                                 * reopen's fdatasync consumed and no sync
                                 * has reported yet; 0 if none (atomic) */
};

/* Host flags we manage; anything else in a mode's flags is a bug. */
#define HOST_FLAGS (O_DIRECT | O_DSYNC)

const char *
wc_backing_flags_name (int flags)
{
  switch (flags & HOST_FLAGS) {
  case 0: return "buffered";
  case O_DSYNC: return "O_DSYNC";
  case O_DIRECT: return "O_DIRECT";
  default: return "O_DIRECT|O_DSYNC";
  }
}

static int
open_flags (const struct wc_backing *b, int host)
{
  return (b->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | host;
}

/* Opens the pair of descriptors for host flags from path (the image, or
 * /proc/self/fd/N).  On failure closes what it opened, returns -1 with
 * errno and the message. */
static int
open_pair (const struct wc_backing *b, const char *path, int host,
           int *fd, int *fd_any, char **message)
{
  int err;

  *fd = open (path, open_flags (b, host));
  if (*fd == -1) {
    err = errno;
    *message = g_strdup_printf ("open %s with %s: %s", path,
                                wc_backing_flags_name (host),
                                g_strerror (err));
    errno = err;
    return -1;
  }
  *fd_any = *fd;
  if (host & O_DIRECT) {
    *fd_any = open (path, open_flags (b, host & ~O_DIRECT));
    if (*fd_any == -1) {
      err = errno;
      *message = g_strdup_printf ("open %s with %s: %s", path,
                                  wc_backing_flags_name (host & ~O_DIRECT),
                                  g_strerror (err));
      close (*fd);
      errno = err;
      return -1;
    }
  }
  return 0;
}

static void
close_pair (int fd, int fd_any)
{
  if (fd_any != fd)
    close (fd_any);
  close (fd);
}

struct wc_backing *
wc_backing_open (const char *path, enum wc_mode mode, bool readonly,
                 char **message)
{
  struct wc_backing *b;
  pthread_rwlockattr_t attr;
  struct stat st;
  int host = wc_mode_host_flags (mode), err;

  b = g_new0 (struct wc_backing, 1);
  b->path = g_strdup (path);
  b->readonly = readonly;
  if (open_pair (b, path, host, &b->fd, &b->fd_any, message) == -1) {
    err = errno;
    if (err == EINVAL && (host & O_DIRECT)) {
      g_autofree char *m = *message;
      *message = g_strdup_printf ("%s (the filesystem may not support "
                                  "O_DIRECT, as ramfs, and tmpfs before "
                                  "Linux 6.6, do not: start in writeback "
                                  "or writethrough)", m);
    }
    goto fail;
  }
  if (fstat (b->fd, &st) == -1) {
    err = errno;
    *message = g_strdup_printf ("stat %s: %s", path, g_strerror (err));
    close_pair (b->fd, b->fd_any);
    goto fail;
  }
  if (!S_ISREG (st.st_mode)) {
    err = EINVAL;
    *message = g_strdup_printf ("%s: not a regular file", path);
    close_pair (b->fd, b->fd_any);
    goto fail;
  }
  b->size = st.st_size;
  b->flags = host;
  pthread_rwlockattr_init (&attr);
  pthread_rwlockattr_setkind_np (&attr,
                                 PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  pthread_rwlock_init (&b->lock, &attr);
  pthread_rwlockattr_destroy (&attr);
  return b;

 fail:
  g_free (b->path);
  g_free (b);
  errno = err;
  return NULL;
}

void
wc_backing_close (struct wc_backing *b)
{
  if (!b)
    return;
  close_pair (b->fd, b->fd_any);
  pthread_rwlock_destroy (&b->lock);
  g_free (b->error);
  g_free (b->path);
  g_free (b);
}

uint64_t
wc_backing_size (struct wc_backing *b)
{
  return b->size;
}

/* ---- I/O (b->lock held shared) ------------------------------------------ */

/* The end of every sync of ours (rv: its result): a write-back error kept
 * by a reopen fails the first one that would succeed.  (One that fails
 * anyway leaves it for the next: a second report is harmless, none would
 * not be.) */
static int
sync_result (struct wc_backing *b, int rv)
{
  int kept;

  if (rv == -1 || __atomic_load_n (&b->sync_err, __ATOMIC_ACQUIRE) == 0)
    return rv;
  kept = __atomic_exchange_n (&b->sync_err, 0, __ATOMIC_ACQ_REL);
  if (kept == 0)
    return 0;                   /* another sync reported it meanwhile */
  errno = kept;
  return -1;
}

static bool
aligned (const struct wc_backing *b, const void *buf, uint32_t count,
         uint64_t offset)
{
  return (b->flags & O_DIRECT) == 0 ||
    (((uintptr_t) buf | count | offset) & (WC_BACKING_ALIGN - 1)) == 0;
}

/* For O_DIRECT: an aligned-memory copy when only the buffer is unaligned. */
static void *
bounce_new (uint32_t count)
{
  void *p;

  if (posix_memalign (&p, WC_BACKING_ALIGN, count) != 0) {
    errno = ENOMEM;
    return NULL;
  }
  return p;
}

static bool
range_aligned (uint32_t count, uint64_t offset)
{
  return ((count | offset) & (WC_BACKING_ALIGN - 1)) == 0;
}

/* Reads all of count, zero-filling past the end of the file (an image
 * shrunk behind our back reads as zeros, as a sparse hole would). */
static int
pread_full (int fd, char *buf, uint32_t count, uint64_t offset)
{
  while (count > 0) {
    ssize_t r = pread (fd, buf, count, offset);

    if (r == -1) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    if (r == 0) {
      memset (buf, 0, count);
      return 0;
    }
    buf += r;
    count -= r;
    offset += r;
  }
  return 0;
}

static int
backing_read (void *opaque, void *buf, uint32_t count, uint64_t offset)
{
  struct wc_backing *b = opaque;
  int rv, err;

  pthread_rwlock_rdlock (&b->lock);
  if (aligned (b, buf, count, offset))
    rv = pread_full (b->fd, buf, count, offset);
  else if (!range_aligned (count, offset))
    rv = pread_full (b->fd_any, buf, count, offset);
  else {
    void *bounce = bounce_new (count);

    rv = bounce ? pread_full (b->fd, bounce, count, offset) : -1;
    if (rv == 0)
      memcpy (buf, bounce, count);
    err = errno;
    free (bounce);
    errno = err;
  }
  err = errno;
  pthread_rwlock_unlock (&b->lock);
  errno = err;
  return rv;
}

/* Writes all of iov (at most IOV_MAX entries), moving past short writes.
 * dsync asks pwritev2 for RWF_DSYNC; returns -1 with EOPNOTSUPP if the
 * kernel or the filesystem refuses it.  Advances iov. */
static int
pwritev_full (int fd, struct iovec *iov, int iovcnt, uint64_t offset,
              bool dsync)
{
  while (iovcnt > 0) {
    ssize_t r = pwritev2 (fd, iov, iovcnt, offset, dsync ? RWF_DSYNC : 0);

    if (r == -1) {
      if (errno == EINTR)
        continue;
      if (errno == ENOTSUP)
        errno = EOPNOTSUPP;
      return -1;
    }
    offset += r;
    while (iovcnt > 0 && (size_t) r >= iov->iov_len) {
      r -= iov->iov_len;
      iov++;
      iovcnt--;
    }
    if (iovcnt > 0) {
      iov->iov_base = (char *) iov->iov_base + r;
      iov->iov_len -= r;
    }
  }
  return 0;
}

/* Writes iov on fd in slices of IOV_MAX entries, durable if fua: O_DSYNC
 * descriptors need nothing more; others ask for RWF_DSYNC, or write
 * plainly and fdatasync when that is refused.  A FUA write is a sync
 * (sync_result). */
static int
writev_durable (struct wc_backing *b, int fd, const struct iovec *iov,
                int iovcnt, uint64_t offset, bool fua)
{
  g_autofree struct iovec *v = g_memdup2 (iov, iovcnt * sizeof *iov);
  bool dsync = fua && (b->flags & O_DSYNC) == 0, sync_after = false;
  int rv = 0;

  for (int done = 0; done < iovcnt && rv == 0; ) {
    int n = MIN (iovcnt - done, IOV_MAX);
    uint64_t len = 0;

    for (int i = done; i < done + n; i++)
      len += iov[i].iov_len;
    rv = pwritev_full (fd, v + done, n, offset, dsync);
    if (rv == -1 && dsync && errno == EOPNOTSUPP) {
      /* RWF_DSYNC refused: this slice again plainly (the same bytes). */
      memcpy (v + done, iov + done, n * sizeof *iov);
      dsync = false;
      sync_after = true;
      rv = pwritev_full (fd, v + done, n, offset, false);
    }
    offset += len;
    done += n;
  }
  if (rv == 0 && sync_after)
    rv = fdatasync (fd);
  return fua ? sync_result (b, rv) : rv;
}

static bool
iov_aligned (const struct iovec *iov, int iovcnt)
{
  for (int i = 0; i < iovcnt; i++)
    if ((((uintptr_t) iov[i].iov_base | iov[i].iov_len) &
         (WC_BACKING_ALIGN - 1)) != 0)
      return false;
  return true;
}

/* Every write, a single buffer or a run of blocks.  Without O_DIRECT, or
 * aligned: pwritev from the caller's buffers, nothing copied.  O_DIRECT
 * and an unaligned range: fd_any, which takes any buffer.  O_DIRECT, an
 * aligned range but unaligned buffers: gathered into an aligned copy. */
static int
backing_writev (void *opaque, const struct iovec *iov, int iovcnt,
                uint32_t count, uint64_t offset, bool fua)
{
  struct wc_backing *b = opaque;
  int rv, err;

  pthread_rwlock_rdlock (&b->lock);
  if ((b->flags & O_DIRECT) == 0 ||
      (range_aligned (count, offset) && iov_aligned (iov, iovcnt)))
    rv = writev_durable (b, b->fd, iov, iovcnt, offset, fua);
  else if (!range_aligned (count, offset))
    rv = writev_durable (b, b->fd_any, iov, iovcnt, offset, fua);
  else {
    char *bounce = bounce_new (count);
    struct iovec one = { .iov_base = bounce, .iov_len = count };
    size_t pos = 0;

    rv = -1;
    if (bounce) {
      for (int i = 0; i < iovcnt; i++) {
        memcpy (bounce + pos, iov[i].iov_base, iov[i].iov_len);
        pos += iov[i].iov_len;
      }
      rv = writev_durable (b, b->fd, &one, 1, offset, fua);
    }
    err = errno;
    free (bounce);
    errno = err;
  }
  err = errno;
  pthread_rwlock_unlock (&b->lock);
  errno = err;
  return rv;
}

static int
backing_write (void *opaque, const void *buf, uint32_t count,
               uint64_t offset, bool fua)
{
  struct iovec one = { .iov_base = (void *) buf, .iov_len = count };

  return backing_writev (opaque, &one, 1, count, offset, fua);
}

/* The emulation's write: one chunk of zeros, on the descriptor that takes
 * its alignment (b->lock held shared). */
static int
write_plain_locked (void *opaque, const void *buf, uint32_t count,
                    uint64_t offset, bool fua)
{
  struct wc_backing *b = opaque;
  struct iovec one = { .iov_base = (void *) buf, .iov_len = count };
  int fd = aligned (b, buf, count, offset) ? b->fd : b->fd_any;

  return writev_durable (b, fd, &one, 1, offset, fua);
}

static int
flush_locked (void *opaque)
{
  struct wc_backing *b = opaque;

  return sync_result (b, fdatasync (b->fd));
}

/* Zeros by writing them for filesystems without fallocate modes; and
 * fallocate does not honour O_DSYNC, so FUA is a sync either way. */
static int
backing_zero (void *opaque, uint32_t count, uint64_t offset, bool fua)
{
  struct wc_backing *b = opaque;
  const struct wc_emulate em = {
    .opaque = b, .write = write_plain_locked, .flush = flush_locked,
  };
  int rv, err;

  pthread_rwlock_rdlock (&b->lock);
  rv = fallocate (b->fd_any, FALLOC_FL_ZERO_RANGE, offset, count);
  if (rv == -1 && (errno == EOPNOTSUPP || errno == ENOSYS))
    rv = fallocate (b->fd_any, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                    offset, count);
  if (rv == -1 && (errno == EOPNOTSUPP || errno == ENOSYS))
    rv = wc_emulate_zero (&em, count, offset, fua);
  else
    rv = wc_emulate_fua (&em, rv, fua);
  err = errno;
  pthread_rwlock_unlock (&b->lock);
  errno = err;
  return rv;
}

static int
backing_flush (void *opaque)
{
  struct wc_backing *b = opaque;
  int rv, err;

  pthread_rwlock_rdlock (&b->lock);
  rv = flush_locked (b);
  err = errno;
  pthread_rwlock_unlock (&b->lock);
  errno = err;
  return rv;
}

/* ---- Safe reopen (wcache(7), SAFE REOPEN) ------------------------------ */

static void
set_error_locked (struct wc_backing *b, char *message)
{
  WC_RWLOCK_WRITE_HELD (&b->lock);
  g_free (b->error);
  b->error = message;
}

int
wc_backing_set_mode (struct wc_backing *b, enum wc_mode mode)
{
  int want = wc_mode_host_flags (mode), fd, fd_any, err;
  char proc[64];
  char *message = NULL;

  /* Exclusive: waits for I/O in flight, holds new I/O (the quiesce). */
  pthread_rwlock_wrlock (&b->lock);
  if (want == b->flags) {
    set_error_locked (b, NULL);
    pthread_rwlock_unlock (&b->lock);
    return 0;
  }
  /* What the old descriptor wrote must not depend on the new one.  A
   * failure here may be the only report of a lost host write-back: the
   * next sync must fail with it (S3). */
  if (fdatasync (b->fd) == -1) {
    err = errno;
    b->sync_err = err;
    set_error_locked (b, g_strdup_printf ("reopen %s with %s: fdatasync: %s; "
                                          "keeping %s", b->path,
                                          wc_backing_flags_name (want),
                                          g_strerror (err),
                                          wc_backing_flags_name (b->flags)));
    goto fail;
  }
  /* Through /proc, not the path: it reaches the same inode even if the
   * image was renamed or deleted meanwhile. */
  snprintf (proc, sizeof proc, "/proc/self/fd/%d", b->fd);
  if (open_pair (b, proc, want, &fd, &fd_any, &message) == -1) {
    err = errno;
    set_error_locked (b, g_strdup_printf ("reopen %s: %s; keeping %s",
                                          b->path, message,
                                          wc_backing_flags_name (b->flags)));
    g_free (message);
    goto fail;
  }
  close_pair (b->fd, b->fd_any);
  b->fd = fd;
  b->fd_any = fd_any;
  b->flags = want;
  set_error_locked (b, NULL);
  pthread_rwlock_unlock (&b->lock);
  return 0;

 fail:
  pthread_rwlock_unlock (&b->lock);
  errno = err;
  return -1;
}

int
wc_backing_flags (struct wc_backing *b, int *fd)
{
  int flags;

  pthread_rwlock_rdlock (&b->lock);
  flags = b->flags;
  if (fd)
    *fd = b->fd;
  pthread_rwlock_unlock (&b->lock);
  return flags;
}

void
wc_backing_describe (void *opaque, wc_describe_fn add, void *ctx)
{
  struct wc_backing *b = opaque;
  char fd[16];

  pthread_rwlock_rdlock (&b->lock);
  snprintf (fd, sizeof fd, "%d", b->fd);
  add (ctx, "host_flags", wc_backing_flags_name (b->flags));
  add (ctx, "host_fd", fd);
  if (b->error)
    add (ctx, "host_error", b->error);
  pthread_rwlock_unlock (&b->lock);
}

static void
backing_set_mode (void *opaque, enum wc_mode mode)
{
  /* The failure is kept for describe; the switch itself stands. */
  (void) wc_backing_set_mode (opaque, mode);
}

const struct wc_media_ops wc_backing_ops = {
  .read = backing_read,
  .write = backing_write,
  .zero = backing_zero,
  .flush = backing_flush,
  .writev = backing_writev,
  .set_mode = backing_set_mode,
  .describe = wc_backing_describe,
};

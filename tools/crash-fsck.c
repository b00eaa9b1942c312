/* wcache-crash: the filesystem checkers (--check=fsck:ext4|xfs|btrfs),
 * and the recovered mount that records:FS reads its file through.
 *
 * Owns a worker's fsck state: a private copy of the state's image, a mount
 * point, the loop device while mounted, and the checker's output file.
 *
 * Per state: the scratch image is copied (reflink or a sparse copy: the
 * walk's image must stay exactly the state, and replaying a journal
 * writes), the copy is attached to a free loop device and mounted, so the
 * kernel replays the journal (ext4), the log (XFS) or the log tree (btrfs)
 * exactly as a reboot would, then unmounted; then the filesystem's own
 * read-only check must be clean:
 *     e2fsck -fn COPY | xfs_repair -n COPY | btrfs check --readonly COPY
 * A mount the filesystem refuses (EINVAL, EUCLEAN, EIO, ...) is an
 * inconsistent state: the machine would not come back.  A mount that
 * fails for want of resources (no loop device, ENOMEM, an unknown
 * filesystem type) is a checker error.
 *
 * Replay by the kernel rather than by e2fsck's own journal code: it is the
 * recovery that runs after a real crash (orphan processing included), and
 * the only one XFS and btrfs have.  It needs root and loop devices, which
 * crash_fsck_prepare checks before any state is explored.
 *
 * XFS refuses two mounted filesystems with one UUID: copies are mounted
 * with nouuid.  btrfs keys its devices by fsid and kernels before 6.7
 * cannot mount two copies of one filesystem at once: btrfs mounts are
 * serialised by btrfs_lock, across this process's workers.
 *
 * Locking: btrfs_lock (static) around a btrfs mount and unmount; nothing
 * else is shared.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/loop.h>

#include <glib.h>

#include "crash-check.h"
#include "crash-image.h"

static pthread_mutex_t btrfs_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *
fsck_name (enum crash_check_kind kind)
{
  switch (kind) {
  case CRASH_CHECK_FSCK_EXT4: return "e2fsck";
  case CRASH_CHECK_FSCK_XFS: return "xfs_repair";
  case CRASH_CHECK_FSCK_BTRFS: return "btrfs";
  case CRASH_CHECK_CMD:
  case CRASH_CHECK_RECORDS:
  case CRASH_CHECK_RECORDS_FS:
    break;
  }
  g_assert_not_reached ();
}

int
crash_fsck_prepare (struct crash_checker *c, char **message)
{
  const char *name;
  g_autofree char *path = NULL;

  if (geteuid () != 0) {
    *message = g_strdup_printf ("--check %s: needs root: the kernel replays"
                                " the %s journal through a loop mount",
                                c->spec, c->fs);
    errno = EPERM;
    return -1;
  }
  if (access ("/dev/loop-control", R_OK | W_OK) == -1) {
    int err = errno;

    *message = g_strdup_printf ("--check %s: /dev/loop-control: %s",
                                c->spec, g_strerror (err));
    errno = err;
    return -1;
  }
  if (c->kind == CRASH_CHECK_RECORDS_FS)
    return 0;                   /* mounts only: no fsck program */
  name = fsck_name (c->kind);
  path = g_find_program_in_path (name);
  for (const char *const *d = (const char *const[]) { "/usr/sbin", "/sbin",
                                                      NULL };
       !path && *d; d++) {
    g_autofree char *p = g_build_filename (*d, name, NULL);

    if (access (p, X_OK) == 0)
      path = g_steal_pointer (&p);
  }
  if (!path) {
    *message = g_strdup_printf ("--check %s: %s: not found (install %s)",
                                c->spec, name,
                                c->kind == CRASH_CHECK_FSCK_EXT4 ? "e2fsprogs"
                                : c->kind == CRASH_CHECK_FSCK_XFS ? "xfsprogs"
                                : "btrfs-progs");
    errno = ENOENT;
    return -1;
  }
  g_free (c->fsck_program);
  c->fsck_program = g_steal_pointer (&path);
  return 0;
}

struct fsck {
  const struct crash_checker *c;
  char *copy_path;
  int copy_fd;
  char *mnt;
  int loop_fd;                  /* while mounted */
  char *out_path;
  int out_fd;
};

void *
crash_fsck_new (const struct crash_checker *c, const char *dir,
                char **message)
{
  /* records:FS and fsck:FS may share a worker's directory. */
  const char *who = c->kind == CRASH_CHECK_RECORDS_FS ? "records" : "fsck";
  g_autofree char *copy = g_strconcat (who, "-copy.img", NULL);
  g_autofree char *mnt = g_strconcat (who, "-mnt", NULL);
  g_autofree char *out = g_strconcat (who, ".out", NULL);
  struct fsck *f = g_new0 (struct fsck, 1);

  f->c = c;
  f->loop_fd = -1;
  f->copy_path = g_build_filename (dir, copy, NULL);
  f->mnt = g_build_filename (dir, mnt, NULL);
  f->out_path = g_build_filename (dir, out, NULL);
  f->copy_fd = open (f->copy_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
                     0600);
  f->out_fd = open (f->out_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
                    0600);
  if (f->copy_fd == -1 || f->out_fd == -1 ||
      (mkdir (f->mnt, 0700) == -1 && errno != EEXIST)) {
    int err = errno;

    *message = g_strdup_printf ("--check %s: %s: %s", c->spec, dir,
                                g_strerror (err));
    crash_fsck_free (f);
    errno = err;
    return NULL;
  }
  return f;
}

void
crash_fsck_free (void *opaque)
{
  struct fsck *f = opaque;

  if (!f)
    return;
  if (f->loop_fd >= 0) {
    umount2 (f->mnt, MNT_DETACH);
    close (f->loop_fd);
  }
  if (f->copy_fd >= 0)
    close (f->copy_fd);
  if (f->out_fd >= 0)
    close (f->out_fd);
  unlink (f->copy_path);
  unlink (f->out_path);
  rmdir (f->mnt);
  g_free (f->copy_path);
  g_free (f->mnt);
  g_free (f->out_path);
  g_free (f);
}

/* Attaches fd to a free loop device that detaches itself on last close.
 * The open device, or -1 with errno. */
static int
loop_attach (int fd, char *dev, size_t devlen)
{
  int ctl = open ("/dev/loop-control", O_RDWR | O_CLOEXEC), err = 0;

  if (ctl == -1)
    return -1;
  /* Another worker (or process) may take the device we were offered. */
  for (int tries = 0; tries < 100; tries++) {
    struct loop_config cfg = {
      .fd = fd,
      .info = { .lo_flags = LO_FLAGS_AUTOCLEAR },
    };
    int n = ioctl (ctl, LOOP_CTL_GET_FREE), lfd;

    if (n < 0) {
      err = errno;
      break;
    }
    snprintf (dev, devlen, "/dev/loop%d", n);
    lfd = open (dev, O_RDWR | O_CLOEXEC);
    if (lfd == -1) {
      err = errno;
      if (err == ENOENT || err == ENXIO)
        continue;
      break;
    }
    if (ioctl (lfd, LOOP_CONFIGURE, &cfg) == 0) {
      close (ctl);
      return lfd;
    }
    err = errno;
    close (lfd);
    if (err != EBUSY)
      break;
  }
  close (ctl);
  errno = err ? err : EBUSY;
  return -1;
}

/* Whether a mount error means the filesystem refused itself. */
static bool
mount_refused (int err)
{
  switch (err) {
  case EINVAL:
  case EUCLEAN:
  case EIO:
  case EBADMSG:
  case ESTALE:
  case EROFS:
  case ENOSPC:
  case EFBIG:
  case EOVERFLOW:
  case ENOENT:
    return true;
  default:
    return false;
  }
}

const char *
crash_fsck_mountpoint (void *opaque)
{
  struct fsck *f = opaque;

  return f->mnt;
}

enum crash_verdict
crash_fsck_mount (void *opaque, const struct crash_state *st, char **detail)
{
  struct fsck *f = opaque;
  const char *type = f->c->fs;
  const char *opts = strcmp (type, "xfs") == 0 ? "nouuid" : NULL;
  g_autofree char *msg = NULL;
  char dev[64];
  int err;

  g_assert (f->loop_fd == -1);
  if (crash_image_copy (st->image, f->copy_fd, &msg) == -1) {
    *detail = g_strdup_printf ("%s: %s", f->c->spec, msg);
    return CRASH_CHECK_ERROR;
  }
  f->loop_fd = loop_attach (f->copy_fd, dev, sizeof dev);
  if (f->loop_fd == -1) {
    *detail = g_strdup_printf ("%s: loop device: %s", f->c->spec,
                               g_strerror (errno));
    return CRASH_CHECK_ERROR;
  }
  if (strcmp (type, "btrfs") == 0)
    pthread_mutex_lock (&btrfs_lock);
  if (mount (dev, f->mnt, type, 0, opts) == 0)
    return CRASH_CONSISTENT;
  err = errno;
  if (strcmp (type, "btrfs") == 0)
    pthread_mutex_unlock (&btrfs_lock);
  close (f->loop_fd);
  f->loop_fd = -1;
  *detail = g_strdup_printf ("%s: mount (journal replay): %s", f->c->spec,
                             g_strerror (err));
  return mount_refused (err) ? CRASH_INCONSISTENT : CRASH_CHECK_ERROR;
}

enum crash_verdict
crash_fsck_unmount (void *opaque, char **detail)
{
  struct fsck *f = opaque;
  const char *type = f->c->fs;
  enum crash_verdict v = CRASH_CONSISTENT;

  g_assert (f->loop_fd >= 0);
  /* EBUSY can be another worker's posix_spawn: its child holds a copy of
   * our descriptors, the records file's included, until it execs. */
  for (int tries = 0; umount2 (f->mnt, 0) == -1; tries++) {
    int err = errno;

    if (err == EBUSY && tries < 200) {
      g_usleep (5000);
      continue;
    }
    if (detail)
      *detail = g_strdup_printf ("%s: umount %s: %s", f->c->spec, f->mnt,
                                 g_strerror (err));
    umount2 (f->mnt, MNT_DETACH);
    v = CRASH_CHECK_ERROR;
    break;
  }
  if (strcmp (type, "btrfs") == 0)
    pthread_mutex_unlock (&btrfs_lock);
  close (f->loop_fd);
  f->loop_fd = -1;
  return v;
}

/* The read-only check's exit status, per program. */
static enum crash_verdict
fsck_verdict (enum crash_check_kind kind, int status)
{
  int code;

  if (!WIFEXITED (status))
    return CRASH_CHECK_ERROR;
  code = WEXITSTATUS (status);
  switch (kind) {
  case CRASH_CHECK_FSCK_EXT4:
    /* 0 clean; 4 errors left uncorrected (1 and 2 cannot happen with -n
     * but mean the same); 8 and up: e2fsck could not run. */
    return code == 0 ? CRASH_CONSISTENT
      : code < 8 ? CRASH_INCONSISTENT : CRASH_CHECK_ERROR;
  case CRASH_CHECK_FSCK_XFS:
    /* 0 clean, 1 corruption found, 2 a dirty log (the mount replayed it,
     * so it is damage too). */
    return code == 0 ? CRASH_CONSISTENT
      : code <= 2 ? CRASH_INCONSISTENT : CRASH_CHECK_ERROR;
  case CRASH_CHECK_FSCK_BTRFS:
    return code == 0 ? CRASH_CONSISTENT
      : code == 1 ? CRASH_INCONSISTENT : CRASH_CHECK_ERROR;
  case CRASH_CHECK_CMD:
  case CRASH_CHECK_RECORDS:
  case CRASH_CHECK_RECORDS_FS:
    break;
  }
  return CRASH_CHECK_ERROR;
}

enum crash_verdict
crash_fsck_run (void *opaque, const struct crash_state *st, char **detail)
{
  struct fsck *f = opaque;
  g_autofree char *tail = NULL;
  g_autofree char *status_text = NULL;
  g_autofree char *prog = g_path_get_basename (f->c->fsck_program);
  char *argv[5] = { f->c->fsck_program };
  enum crash_verdict v;
  int status;

  /* Mount and unmount: the kernel's recovery. */
  v = crash_fsck_mount (f, st, detail);
  if (v != CRASH_CONSISTENT)
    return v;
  v = crash_fsck_unmount (f, detail);
  if (v != CRASH_CONSISTENT)
    return v;

  switch (f->c->kind) {
  case CRASH_CHECK_FSCK_EXT4:
    argv[1] = (char *) "-fn";
    argv[2] = f->copy_path;
    break;
  case CRASH_CHECK_FSCK_XFS:
    argv[1] = (char *) "-n";
    argv[2] = f->copy_path;
    break;
  case CRASH_CHECK_FSCK_BTRFS:
    argv[1] = (char *) "check";
    argv[2] = (char *) "--readonly";
    argv[3] = f->copy_path;
    break;
  case CRASH_CHECK_CMD:
  case CRASH_CHECK_RECORDS:
  case CRASH_CHECK_RECORDS_FS:
    g_assert_not_reached ();
  }
  if (ftruncate (f->out_fd, 0) == -1 || lseek (f->out_fd, 0, SEEK_SET) == -1) {
    *detail = g_strdup_printf ("%s: %s", f->out_path, g_strerror (errno));
    return CRASH_CHECK_ERROR;
  }
  status = crash_spawn (argv, NULL, f->out_fd);
  if (status == -1) {
    *detail = g_strdup_printf ("%s: %s: %s", f->c->spec, argv[0],
                               g_strerror (errno));
    return CRASH_CHECK_ERROR;
  }
  v = fsck_verdict (f->c->kind, status);
  if (v == CRASH_CONSISTENT)
    return v;
  tail = crash_output_tail (f->out_fd);
  status_text = crash_status_text (status);
  *detail = g_strdup_printf ("%s: %s %s: %s%s%s", f->c->spec,
                             prog, argv[1],
                             status_text, tail ? ": " : "",
                             tail ? tail : "");
  return v;
}

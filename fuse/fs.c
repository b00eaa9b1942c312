/* The FUSE operations: a flat directory holding "disk" and the control
 * files (ctlfiles.c).
 *
 * disk.  Each open file gets a handle remembering its open flags and the
 * engine's power epoch at open.  Every request goes to the engine
 * (through wf.ops) with that epoch, so a file opened before a power cut
 * fails with EIO for ever, even after power-on, as an NBD connection
 * does: a loop device or a mounted filesystem that survived the cut
 * cannot write stale state onto the disk that came back; reopen it after
 * power-on.
 *   write        FUA if the write asked for O_SYNC or O_DSYNC, at
 *                open or per write (pwritev2 RWF_DSYNC, RWF_SYNC): durable
 *                before it returns
 *   fsync        engine flush (S3); fdatasync and fsync alike
 *   fallocate    PUNCH_HOLE -> trim, ZERO_RANGE -> zero, both cached
 *                writes; plain allocation succeeds and does nothing
 *   truncate     accepted and ignored, as a block device ignores O_TRUNC:
 *                a disk's size does not change
 *   close        nothing (FUSE's flush); a real disk is not told either
 * O_DIRECT opens (all opens with --direct-io) bypass the kernel's page
 * cache (direct_io).  Other opens use it, write-through (no
 * writeback_cache), so every write(2) reaches the engine before it
 * returns.  Linux follows a buffered O_DSYNC write with an fsync of its
 * own, so there the FUA write is followed by a full flush; O_DIRECT|O_DSYNC
 * writes are FUA alone.  Reads the page cache can serve never reach us, so
 * a file opened before a cut can still read pages cached after power-on
 * (the media's data); its writes and flushes fail.
 *
 * Page cache invalidation (S1, S8).  The kernel keeps pages of "disk"
 * that a direct write or a cut make stale, so we drop them ourselves:
 *   - after a direct write, before it returns: older kernels (Debian 12's
 *     6.1 among them) do not drop the pages a FUSE direct write replaced
 *     (a 2024 change made them), so a buffered reader could read the old
 *     data;
 *   - after a cut and at power-on, before the cut or power-on returns, so
 *     no reader sees data the cut took away.
 * The high-level libfuse API can only name the file, so the whole file's
 * pages are dropped (fuse_invalidate_path), which is cheap when none are
 * cached.  With --direct-io no open uses the page cache (only private
 * mappings do, which POSIX lets see old data), so direct writes drop
 * nothing there.
 * The kernel drops pages by locking each one and waiting for write-back,
 * so it waits for any request that holds a page of "disk" locked until we
 * reply: a buffered read (readahead, a page fault), a buffered write, the
 * write-back of a dirty mapped page (including the one dropping a dirty
 * page starts).  libfuse forbids invalidating "inside a related request"
 * for that reason, but only those requests hold pages: a direct read or
 * write, fsync and fallocate hold none (the kernel wrote back and waited
 * before sending them), so they can wait for an invalidation, provided
 * another FUSE thread serves the requests it waits for (hence no -s, and
 * at least 2 threads; main.c).  A buffered write cannot: a cut fired by
 * a trigger inside one hands the invalidation to a thread of its own and
 * returns, so for a few milliseconds after such a cut a buffered read may
 * still be served from the page cache.
 *
 * The disk's requests go through wf.ops, chosen at start-up: the engine
 * (local.c), or, with an NBD backing, the server through libnbd with no
 * cache of ours (nbd.c); the server fails connections that were open
 * across a cut, and nbd.c reconnects for files opened after one, so the
 * same rule holds.
 *
 * Control files are generated at a read at offset 0 and kept for the
 * reads that follow, as sysfs does.
 *
 * Locking: inval_lock protects the invalidation thread's state;
 * handles_lock the set of open handles; a control file's handle->lock its
 * content.  Nothing else here is shared
 * and mutable.  Neither is held while calling into the engine, except
 * that a control file's read runs its protocol command under its lock.
 */
#include <config.h>

#define FUSE_USE_VERSION 312

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <fuse.h>
#include <glib.h>

#include "wcache-fuse.h"

#define DISK "/disk"

enum kind { KIND_DISK, KIND_CTL };

struct handle {
  enum kind kind;
  int flags;                    /* open(2) flags */
  bool direct;                  /* disk: opened direct_io (no page cache) */
  uint64_t epoch;               /* disk: wf.ops->open_file's token */
  int ctl;                      /* control file index */
  GMutex lock;                  /* control file: protects content (reads
                                 * of one open file may run in parallel) */
  GString *content;             /* control file: what reads return */
};

static struct handle *
handle_of (struct fuse_file_info *fi)
{
  return (struct handle *) (uintptr_t) fi->fh;
}

/* Every open handle, so that those the kernel never released (a close
 * racing the unmount: RELEASE is asynchronous) are freed at exit. */
static GMutex handles_lock;
static GHashTable *handles;             /* protected by handles_lock */

static void
handle_free (void *p)
{
  struct handle *h = p;

  if (h->content)
    g_string_free (h->content, TRUE);
  g_mutex_clear (&h->lock);
  g_free (h);
}

static void
handle_track (struct handle *h)
{
  g_mutex_lock (&handles_lock);
  if (!handles)
    handles = g_hash_table_new_full (NULL, NULL, handle_free, NULL);
  g_hash_table_add (handles, h);
  g_mutex_unlock (&handles_lock);
}

void
wf_handles_free (void)
{
  g_mutex_lock (&handles_lock);
  g_clear_pointer (&handles, g_hash_table_destroy);
  g_mutex_unlock (&handles_lock);
}

/* ---- Paths -------------------------------------------------------------- */

/* PATH_ROOT, PATH_DISK, a control file index, or -ENOENT. */
#define PATH_ROOT (-1000)
#define PATH_DISK (-1001)

static int
lookup (const char *path)
{
  int i;

  if (strcmp (path, "/") == 0)
    return PATH_ROOT;
  if (strcmp (path, DISK) == 0)
    return PATH_DISK;
  if (path[0] != '/' || !wf_has_control_files ())
    return -ENOENT;
  i = wf_ctl_lookup (path + 1);
  return i >= 0 ? i : -ENOENT;
}

static int
wf_getattr (const char *path, struct stat *st, struct fuse_file_info *fi)
{
  int i = lookup (path);

  (void) fi;
  if (i == -ENOENT)
    return -ENOENT;
  memset (st, 0, sizeof *st);
  st->st_uid = getuid ();
  st->st_gid = getgid ();
  st->st_atime = st->st_mtime = st->st_ctime = wf.started;
  switch (i) {
  case PATH_ROOT:
    st->st_mode = S_IFDIR | 0755;
    st->st_nlink = 2;
    break;
  case PATH_DISK:
    st->st_mode = S_IFREG | (wf.readonly ? 0444 : 0644);
    st->st_nlink = 1;
    st->st_size = wf.size;
    st->st_blksize = 4096;
    st->st_blocks = (wf.size + 511) / 512;
    break;
  default:
    st->st_mode = S_IFREG | (wf_ctl_writable (i) ? 0644 : 0444);
    st->st_nlink = 1;
    st->st_size = 0;            /* generated on read, as in /proc */
    break;
  }
  return 0;
}

static int
wf_readdir (const char *path, void *buf, fuse_fill_dir_t filler, off_t off,
            struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
  (void) off;
  (void) fi;
  (void) flags;
  if (lookup (path) != PATH_ROOT)
    return -ENOTDIR;
  filler (buf, ".", NULL, 0, 0);
  filler (buf, "..", NULL, 0, 0);
  filler (buf, DISK + 1, NULL, 0, 0);
  if (wf_has_control_files ())
    for (int i = 0; wf_ctl_name (i); i++)
      filler (buf, wf_ctl_name (i), NULL, 0, 0);
  return 0;
}

/* ---- Open and close ----------------------------------------------------- */

static int
wf_open (const char *path, struct fuse_file_info *fi)
{
  int i = lookup (path);
  bool writing = (fi->flags & O_ACCMODE) != O_RDONLY;
  struct handle *h;

  if (i == -ENOENT)
    return -ENOENT;
  if (i == PATH_ROOT)
    return -EISDIR;
  h = g_new0 (struct handle, 1);
  g_mutex_init (&h->lock);
  h->flags = fi->flags;
  if (i == PATH_DISK) {
    if (writing && wf.readonly) {
      g_free (h);
      return -EROFS;
    }
    h->kind = KIND_DISK;
    h->epoch = wf.ops->open_file ();
    fi->direct_io = wf.direct_io || (fi->flags & O_DIRECT) != 0;
    h->direct = fi->direct_io;
    fi->keep_cache = wf.ops->keep_cache;
  }
  else {
    if (writing && !wf_ctl_writable (i)) {
      g_free (h);
      return -EACCES;
    }
    h->kind = KIND_CTL;
    h->ctl = i;
    fi->direct_io = 1;          /* sizes are 0: reads must reach us */
  }
  handle_track (h);
  fi->fh = (uintptr_t) h;
  return 0;
}

static int
wf_release (const char *path, struct fuse_file_info *fi)
{
  struct handle *h = handle_of (fi);

  (void) path;
  g_mutex_lock (&handles_lock);
  g_hash_table_remove (handles, h);
  g_mutex_unlock (&handles_lock);
  return 0;
}

/* ---- The disk ----------------------------------------------------------- */

/* Set while this thread serves a disk request whose pages the kernel
 * holds locked until we reply (a buffered write, the write-back of a
 * mapped page): a cut it fires (a trigger) must not wait for the page
 * cache invalidation, which would wait for those pages. */
static __thread bool pages_held;

/* A disk op's result for FUSE. */
static int
neg_errno (int rv)
{
  return rv == -1 ? -errno : rv;
}

/* Drops the page cache of "disk" from this thread, before it returns.
 * Only from a request that holds no page of "disk" (see the top). */
static void
invalidate_now_here (void)
{
  /* -ENOENT if the kernel holds no inode of "disk": nothing cached. */
  (void) fuse_invalidate_path (wf.fuse, DISK);
}

/* The part of [offset, offset + size) inside the disk: a read or write
 * at or past the end is short, as on a block device. */
static size_t
clamp (size_t size, off_t offset)
{
  if (offset < 0 || (uint64_t) offset >= wf.size)
    return 0;
  return MIN ((uint64_t) size, wf.size - offset);
}

static int
wf_read (const char *path, char *buf, size_t size, off_t offset,
         struct fuse_file_info *fi)
{
  struct handle *h = handle_of (fi);
  int rv;

  (void) path;
  if (h->kind == KIND_CTL) {
    g_autoptr (GMutexLocker) locker = g_mutex_locker_new (&h->lock);

    if (offset == 0 || !h->content) {
      if (!h->content)
        h->content = g_string_new (NULL);
      g_string_truncate (h->content, 0);
      rv = wf_ctl_show (h->ctl, h->content);
      if (rv < 0)
        return rv;
    }
    if (offset < 0 || (size_t) offset >= h->content->len)
      return 0;
    size = MIN (size, h->content->len - offset);
    memcpy (buf, h->content->str + offset, size);
    return size;
  }
  size = clamp (size, offset);
  if (size == 0)
    return 0;
  rv = neg_errno (wf.ops->read (h->epoch, buf, size, offset));
  return rv < 0 ? rv : (int) size;
}

static int
wf_write (const char *path, const char *buf, size_t size, off_t offset,
          struct fuse_file_info *fi)
{
  struct handle *h = handle_of (fi);
  bool fua, direct;
  int rv;

  (void) path;
  if (h->kind == KIND_CTL) {
    /* One write(2) is one command, whatever the offset (as in sysfs). */
    rv = wf_ctl_store (h->ctl, buf, size);
    return rv < 0 ? rv : (int) size;
  }
  if (size > 0 && clamp (size, offset) == 0)
    return -ENOSPC;
  size = clamp (size, offset);
  if (size == 0)
    return 0;
  /* S2: durable before the write returns if this write(2) asked for it.
   * The kernel sends each write's own flags (the file's, plus O_DSYNC for
   * RWF_DSYNC and O_SYNC for RWF_SYNC, which include O_DSYNC): QEMU asks
   * for FUA per write that way.  The open flags alone would miss those.
   * Writes of mmap'd pages (writepage) come without a writer's intent. */
  fua = ((fi->flags | h->flags) & O_DSYNC) && !fi->writepage;
  /* Direct: a direct_io handle, or O_DIRECT set later with fcntl (then
   * the kernel drops the pages itself, and so do we). */
  direct = (h->direct || (fi->flags & O_DIRECT)) && !fi->writepage;
  pages_held = !direct;
  rv = neg_errno (wf.ops->write (h->epoch, buf, size, offset, fua));
  pages_held = false;
  if (rv < 0)
    return rv;
  /* S1: no buffered reader may read what this write replaced. */
  if (direct && !wf.direct_io)
    invalidate_now_here ();
  return size;
}

static int
wf_fsync (const char *path, int datasync, struct fuse_file_info *fi)
{
  struct handle *h = handle_of (fi);

  (void) path;
  (void) datasync;
  if (h->kind == KIND_CTL)
    return 0;
  /* S3: everything acknowledged before this, through any file. */
  return neg_errno (wf.ops->flush (h->epoch));
}

static int
wf_fallocate (const char *path, int mode, off_t offset, off_t length,
              struct fuse_file_info *fi)
{
  struct handle *h = handle_of (fi);
  bool trim;
  uint64_t end;

  (void) path;
  if (h->kind == KIND_CTL)
    return -EOPNOTSUPP;
  if (offset < 0 || length <= 0)
    return -EINVAL;
  if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE))
    trim = (mode & FALLOC_FL_PUNCH_HOLE) != 0;
  else if ((mode & ~FALLOC_FL_KEEP_SIZE) == 0)
    return (uint64_t) offset + length <= wf.size ? 0 : -ENOSPC;
  else
    return -EOPNOTSUPP;
  if (mode & ~(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE |
               FALLOC_FL_KEEP_SIZE))
    return -EOPNOTSUPP;
  if ((uint64_t) offset >= wf.size)
    return 0;
  end = MIN ((uint64_t) offset + length, wf.size);
  /* In pieces the engine's 32-bit counts can hold. */
  while ((uint64_t) offset < end) {
    uint32_t n = MIN (end - offset, UINT32_C (1) << 30);
    int rv = neg_errno (wf.ops->zero (h->epoch, n, offset, trim, false));

    if (rv < 0)
      return rv;
    offset += n;
  }
  return 0;
}

static int
wf_truncate (const char *path, off_t size, struct fuse_file_info *fi)
{
  int i = lookup (path);

  (void) size;
  (void) fi;
  if (i == -ENOENT)
    return -ENOENT;
  if (i == PATH_ROOT)
    return -EISDIR;
  if (i == PATH_DISK && wf.readonly)
    return -EROFS;
  return 0;
}

static void *
wf_init (struct fuse_conn_info *conn, struct fuse_config *cfg)
{
  (void) conn;
  /* Inode numbers stable for the life of the mount: the page cache
   * invalidation finds "disk" by path. */
  cfg->use_ino = 0;
  cfg->nullpath_ok = 0;
  return NULL;
}

const struct fuse_operations wf_operations = {
  .init = wf_init,
  .getattr = wf_getattr,
  .readdir = wf_readdir,
  .open = wf_open,
  .release = wf_release,
  .read = wf_read,
  .write = wf_write,
  .fsync = wf_fsync,
  .fallocate = wf_fallocate,
  .truncate = wf_truncate,
};

/* ---- Page cache invalidation -------------------------------------------- */

static pthread_mutex_t inval_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t inval_cond = PTHREAD_COND_INITIALIZER;
static uint64_t inval_requested;        /* protected by inval_lock */
static uint64_t inval_done;             /* protected by inval_lock */
static bool inval_stop;                 /* protected by inval_lock */
static bool inval_running;              /* protected by inval_lock */
static pthread_t inval_thread;

static void *
inval_main (void *arg)
{
  (void) arg;
  pthread_mutex_lock (&inval_lock);
  while (!inval_stop) {
    uint64_t want = inval_requested;

    if (want == inval_done) {
      pthread_cond_wait (&inval_cond, &inval_lock);
      continue;
    }
    pthread_mutex_unlock (&inval_lock);
    /* -ENOENT if the kernel never looked "disk" up: nothing cached. */
    (void) fuse_invalidate_path (wf.fuse, DISK);
    pthread_mutex_lock (&inval_lock);
    inval_done = want;
    pthread_cond_broadcast (&inval_cond);
  }
  pthread_mutex_unlock (&inval_lock);
  return NULL;
}

void
wf_invalidate_start (void)
{
  pthread_mutex_lock (&inval_lock);
  inval_stop = false;
  inval_running = pthread_create (&inval_thread, NULL, inval_main, NULL) == 0;
  pthread_mutex_unlock (&inval_lock);
}

void
wf_invalidate_stop (void)
{
  bool running;

  pthread_mutex_lock (&inval_lock);
  running = inval_running;
  inval_stop = true;
  inval_running = false;
  pthread_cond_broadcast (&inval_cond);
  pthread_mutex_unlock (&inval_lock);
  if (running)
    pthread_join (inval_thread, NULL);
}

static uint64_t
inval_request_locked (void)
{
  inval_requested++;
  pthread_cond_broadcast (&inval_cond);
  return inval_requested;
}

void
wf_invalidate_after_cut (void)
{
  if (pages_held)
    wf_invalidate_async ();
  else
    wf_invalidate_now ();
}

void
wf_invalidate_async (void)
{
  pthread_mutex_lock (&inval_lock);
  if (inval_running)
    inval_request_locked ();
  pthread_mutex_unlock (&inval_lock);
}

void
wf_invalidate_now (void)
{
  pthread_mutex_lock (&inval_lock);
  if (inval_running) {
    uint64_t ticket = inval_request_locked ();

    while (inval_running && inval_done < ticket)
      pthread_cond_wait (&inval_cond, &inval_lock);
  }
  pthread_mutex_unlock (&inval_lock);
}

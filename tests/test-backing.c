/* Unit tests for the file backing (lib/backing.c): host flags per mode
 * (wcache(7), CACHE MODES) and safe reopen (wcache(7), SAFE REOPEN).  The
 * image is a file in $TMPDIR; flags are checked with fcntl (F_GETFL) on the
 * descriptor the backing reports, data with an independent descriptor of
 * the same file.
 *
 * Host write-back errors are injected: see fdatasync below. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "backing.h"
#include "wcache.h"

#define SIZE (1024 * 1024)

/* A host write-back error, injected.  When the host fails to write back
 * pages of the image, Linux reports it once per open file description, to
 * the first fdatasync after it, and 0 to every later one (errseq).  No
 * device here fails on demand (no device-mapper), so this program defines
 * fdatasync: the backing, linked into this program, calls this one, which
 * fails once with inject_errno when it is set (what that first fdatasync
 * sees) and otherwise makes the real system call (what the later ones
 * see).  The data is not really lost; what is tested is that the backing
 * does not lose the report. */
static int inject_errno;

int
fdatasync (int fd)
{
  int err = __atomic_exchange_n (&inject_errno, 0, __ATOMIC_SEQ_CST);

  if (err) {
    errno = err;
    return -1;
  }
  return syscall (SYS_fdatasync, fd);
}

struct fx {
  char *dir;
  char *path;
  struct wc_backing *b;
};

static bool
direct_supported (const char *dir)
{
  g_autofree char *p = g_build_filename (dir, "probe", NULL);
  int fd = open (p, O_RDWR | O_CREAT | O_DIRECT, 0600);

  if (fd == -1)
    return false;
  close (fd);
  g_unlink (p);
  return true;
}

static void
fx_setup (struct fx *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  int fd;

  (void) data;
  f->dir = g_dir_make_tmp ("wcache-backing-XXXXXX", &error);
  g_assert_no_error (error);
  f->path = g_build_filename (f->dir, "img", NULL);
  fd = open (f->path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (ftruncate (fd, SIZE), ==, 0);
  close (fd);
  f->b = NULL;
}

static void
fx_teardown (struct fx *f, gconstpointer data)
{
  (void) data;
  wc_backing_close (f->b);
  g_unlink (f->path);
  g_rmdir (f->dir);
  g_free (f->path);
  g_free (f->dir);
}

static void
open_backing (struct fx *f, enum wc_mode mode)
{
  g_autofree char *msg = NULL;

  f->b = wc_backing_open (f->path, mode, false, &msg);
  g_assert_null (msg);
  g_assert_nonnull (f->b);
}

/* O_DIRECT and O_DSYNC as the kernel has them on the backing's fd. */
static int
kernel_flags (struct wc_backing *b)
{
  int fd, fl;

  (void) wc_backing_flags (b, &fd);
  fl = fcntl (fd, F_GETFL);
  g_assert_cmpint (fl, !=, -1);
  return fl & (O_DIRECT | O_DSYNC);
}

/* The file's bytes through a descriptor of our own. */
static void
file_read (struct fx *f, void *buf, size_t n, off_t off)
{
  int fd = open (f->path, O_RDONLY);

  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (pread (fd, buf, n, off), ==, (ssize_t) n);
  close (fd);
}

static void
test_flags_per_mode (struct fx *f, gconstpointer data)
{
  (void) data;
  if (!direct_supported (f->dir)) {
    g_test_skip ("O_DIRECT unsupported in $TMPDIR");
    return;
  }
  for (int m = 0; m < WC_MODE_COUNT; m++) {
    open_backing (f, m);
    g_assert_cmpint (wc_backing_flags (f->b, NULL), ==,
                     wc_mode_host_flags (m));
    g_assert_cmpint (kernel_flags (f->b), ==, wc_mode_host_flags (m));
    wc_backing_close (f->b);
    f->b = NULL;
  }
}

static void
test_reopen_keeps_data (struct fx *f, gconstpointer data)
{
  static const enum wc_mode cycle[] = {
    WC_MODE_WRITETHROUGH, WC_MODE_DIRECTSYNC, WC_MODE_NONE,
    WC_MODE_UNSAFE, WC_MODE_WRITEBACK,
  };
  uint8_t buf[4096], back[4096];
  int fd0, fd1;

  (void) data;
  if (!direct_supported (f->dir)) {
    g_test_skip ("O_DIRECT unsupported in $TMPDIR");
    return;
  }
  open_backing (f, WC_MODE_WRITEBACK);
  for (size_t i = 0; i < G_N_ELEMENTS (cycle); i++) {
    memset (buf, 0x10 + i, sizeof buf);
    g_assert_cmpint (wc_backing_ops.write (f->b, buf, sizeof buf, i * 4096,
                                           false), ==, 0);
    (void) wc_backing_flags (f->b, &fd0);
    g_assert_cmpint (wc_backing_set_mode (f->b, cycle[i]), ==, 0);
    (void) wc_backing_flags (f->b, &fd1);
    g_assert_cmpint (kernel_flags (f->b), ==, wc_mode_host_flags (cycle[i]));
    /* A new descriptor only when the flags changed. */
    if (i > 0 && wc_mode_host_flags (cycle[i]) ==
        wc_mode_host_flags (cycle[i - 1]))
      g_assert_cmpint (fd0, ==, fd1);
    /* The reopen fdatasynced and kept everything written before it. */
    for (size_t j = 0; j <= i; j++) {
      memset (buf, 0x10 + j, sizeof buf);
      g_assert_cmpint (wc_backing_ops.read (f->b, back, sizeof back,
                                            j * 4096), ==, 0);
      g_assert_cmpmem (back, sizeof back, buf, sizeof buf);
      file_read (f, back, sizeof back, j * 4096);
      g_assert_cmpmem (back, sizeof back, buf, sizeof buf);
    }
  }
}

/* Under O_DIRECT, requests that are not aligned (offset, length or
 * memory) still work and land exactly where asked. */
static void
test_direct_unaligned (struct fx *f, gconstpointer data)
{
  g_autofree uint8_t *mem = g_malloc (3 * 4096 + 1);
  uint8_t *odd = mem + 1;                /* never 4 KiB aligned */
  uint8_t back[3 * 4096], want[3 * 4096];
  static const struct { uint32_t off, len; } cases[] = {
    { 512, 512 },               /* a torn-cut unit */
    { 4096, 8192 },             /* aligned range, unaligned memory */
    { 100, 5000 },              /* nothing aligned */
  };

  (void) data;
  if (!direct_supported (f->dir)) {
    g_test_skip ("O_DIRECT unsupported in $TMPDIR");
    return;
  }
  open_backing (f, WC_MODE_DIRECTSYNC);
  memset (want, 0, sizeof want);
  for (size_t i = 0; i < G_N_ELEMENTS (cases); i++) {
    memset (odd, 0xa0 + i, cases[i].len);
    memcpy (want + cases[i].off, odd, cases[i].len);
    g_assert_cmpint (wc_backing_ops.write (f->b, odd, cases[i].len,
                                           cases[i].off, true), ==, 0);
    g_assert_cmpint (wc_backing_ops.read (f->b, odd, cases[i].len,
                                          cases[i].off), ==, 0);
    g_assert_cmpmem (odd, cases[i].len, want + cases[i].off, cases[i].len);
  }
  file_read (f, back, sizeof back, 0);
  g_assert_cmpmem (back, sizeof back, want, sizeof want);
}

/* The tail of an odd-sized image under O_DIRECT: written in place, the
 * file does not grow. */
static void
test_direct_odd_tail (struct fx *f, gconstpointer data)
{
  uint8_t buf[904], back[904];
  struct stat st;

  (void) data;
  if (!direct_supported (f->dir)) {
    g_test_skip ("O_DIRECT unsupported in $TMPDIR");
    return;
  }
  g_assert_cmpint (truncate (f->path, 5000), ==, 0);
  open_backing (f, WC_MODE_NONE);
  g_assert_cmpuint (wc_backing_size (f->b), ==, 5000);
  memset (buf, 0x5a, sizeof buf);
  g_assert_cmpint (wc_backing_ops.write (f->b, buf, sizeof buf, 4096, true),
                   ==, 0);
  g_assert_cmpint (stat (f->path, &st), ==, 0);
  g_assert_cmpint (st.st_size, ==, 5000);
  file_read (f, back, sizeof back, 4096);
  g_assert_cmpmem (back, sizeof back, buf, sizeof buf);
}

static void
test_zero (struct fx *f, gconstpointer data)
{
  uint8_t buf[8192], back[8192], zero[8192] = { 0 };

  (void) data;
  open_backing (f, WC_MODE_WRITEBACK);
  memset (buf, 0xee, sizeof buf);
  g_assert_cmpint (wc_backing_ops.write (f->b, buf, sizeof buf, 8192, false),
                   ==, 0);
  g_assert_cmpint (wc_backing_ops.zero (f->b, 4096, 12288, true), ==, 0);
  file_read (f, back, sizeof back, 8192);
  g_assert_cmpmem (back, 4096, buf, 4096);
  g_assert_cmpmem (back + 4096, 4096, zero, 4096);
}

struct facts {
  char *flags, *fd, *error;
};

static void
collect (void *ctx, const char *key, const char *value)
{
  struct facts *x = ctx;

  if (strcmp (key, "host_flags") == 0)
    x->flags = g_strdup (value);
  else if (strcmp (key, "host_fd") == 0)
    x->fd = g_strdup (value);
  else if (strcmp (key, "host_error") == 0)
    x->error = g_strdup (value);
  else
    g_assert_not_reached ();
}

static void
facts_clear (struct facts *x)
{
  g_clear_pointer (&x->flags, g_free);
  g_clear_pointer (&x->fd, g_free);
  g_clear_pointer (&x->error, g_free);
}

/* Section 5: when the new open fails, the old descriptor stays, I/O goes
 * on, and the reason is reported until a reopen succeeds.  Running out
 * of descriptors (RLIMIT_NOFILE) makes the open fail for any user. */
static void
test_reopen_failure_keeps_old (struct fx *f, gconstpointer data)
{
  struct rlimit old, tight;
  struct facts x = { 0 };
  uint8_t buf[4096], back[4096];
  int fd0, fd1, highest = 0;
  g_autoptr (GArray) fillers = g_array_new (FALSE, FALSE, sizeof (int));

  (void) data;
  open_backing (f, WC_MODE_WRITEBACK);
  (void) wc_backing_flags (f->b, &fd0);
  memset (buf, 0x77, sizeof buf);
  g_assert_cmpint (wc_backing_ops.write (f->b, buf, sizeof buf, 0, false),
                   ==, 0);

  /* No descriptor free above what is open now. */
  for (int fd = 0; fd < 1024; fd++)
    if (fcntl (fd, F_GETFD) != -1)
      highest = fd;
  g_assert_cmpint (getrlimit (RLIMIT_NOFILE, &old), ==, 0);
  tight = old;
  tight.rlim_cur = highest + 1;
  g_assert_cmpint (setrlimit (RLIMIT_NOFILE, &tight), ==, 0);
  /* Fill the holes below it too. */
  for (int fd; (fd = dup (0)) != -1; )
    g_array_append_val (fillers, fd);
  g_assert_cmpint (wc_backing_set_mode (f->b, WC_MODE_WRITETHROUGH), ==, -1);
  g_assert_cmpint (errno, ==, EMFILE);
  for (guint i = 0; i < fillers->len; i++)
    close (g_array_index (fillers, int, i));
  g_assert_cmpint (setrlimit (RLIMIT_NOFILE, &old), ==, 0);

  (void) wc_backing_flags (f->b, &fd1);
  g_assert_cmpint (fd1, ==, fd0);
  g_assert_cmpint (kernel_flags (f->b), ==, 0);
  wc_backing_describe (f->b, collect, &x);
  g_assert_cmpstr (x.flags, ==, "buffered");
  g_assert_nonnull (x.error);
  g_assert_nonnull (strstr (x.error, "O_DSYNC"));
  g_assert_nonnull (strstr (x.error, "keeping buffered"));
  facts_clear (&x);

  /* I/O keeps working on the old descriptor. */
  g_assert_cmpint (wc_backing_ops.write (f->b, buf, sizeof buf, 4096, true),
                   ==, 0);
  g_assert_cmpint (wc_backing_ops.flush (f->b), ==, 0);
  file_read (f, back, sizeof back, 4096);
  g_assert_cmpmem (back, sizeof back, buf, sizeof buf);

  /* A retry succeeds and clears the report. */
  g_assert_cmpint (wc_backing_set_mode (f->b, WC_MODE_WRITETHROUGH), ==, 0);
  g_assert_cmpint (kernel_flags (f->b), ==, O_DSYNC);
  wc_backing_describe (f->b, collect, &x);
  g_assert_cmpstr (x.flags, ==, "O_DSYNC");
  g_assert_null (x.error);
  facts_clear (&x);
}

/* S3: a reopen whose fdatasync of the old descriptor fails consumed the
 * host's only report of a lost write-back.  The old descriptor stays
 * (wcache(7), SAFE REOPEN), host_error says why, and the next sync that
 * would succeed fails with that errno instead, once: a flush, a FUA write,
 * a FUA zero.
 * Plain writes and reads do not report it. */
static void
test_reopen_sync_error_kept (struct fx *f, gconstpointer data)
{
  enum { FLUSH, FUA_WRITE, FUA_ZERO } how = GPOINTER_TO_INT (data);
  struct facts x = { 0 };
  uint8_t buf[4096], back[4096];
  int fd0, fd1;

  open_backing (f, WC_MODE_WRITEBACK);
  (void) wc_backing_flags (f->b, &fd0);
  memset (buf, 0x31, sizeof buf);
  g_assert_cmpint (wc_backing_ops.write (f->b, buf, sizeof buf, 0, false),
                   ==, 0);
  inject_errno = EIO;
  g_assert_cmpint (wc_backing_set_mode (f->b, WC_MODE_WRITETHROUGH), ==, -1);
  g_assert_cmpint (errno, ==, EIO);
  g_assert_cmpint (inject_errno, ==, 0);        /* the reopen consumed it */
  (void) wc_backing_flags (f->b, &fd1);
  g_assert_cmpint (fd1, ==, fd0);
  g_assert_cmpint (kernel_flags (f->b), ==, 0);

  /* Plain I/O does not sync: nothing to report yet. */
  g_assert_cmpint (wc_backing_ops.write (f->b, buf, sizeof buf, 4096, false),
                   ==, 0);
  g_assert_cmpint (wc_backing_ops.read (f->b, back, sizeof back, 0), ==, 0);

  switch (how) {
  case FLUSH:
    g_assert_cmpint (wc_backing_ops.flush (f->b), ==, -1);
    break;
  case FUA_WRITE:
    g_assert_cmpint (wc_backing_ops.write (f->b, buf, sizeof buf, 8192,
                                           true), ==, -1);
    break;
  case FUA_ZERO:
    g_assert_cmpint (wc_backing_ops.zero (f->b, 4096, 8192, true), ==, -1);
    break;
  }
  g_assert_cmpint (errno, ==, EIO);
  /* Once, as the kernel would have reported it. */
  g_assert_cmpint (wc_backing_ops.flush (f->b), ==, 0);
  g_assert_cmpint (wc_backing_ops.write (f->b, buf, sizeof buf, 8192, true),
                   ==, 0);

  /* host_error still says why the old descriptor stays. */
  wc_backing_describe (f->b, collect, &x);
  g_assert_cmpstr (x.flags, ==, "buffered");
  g_assert_nonnull (x.error);
  g_assert_nonnull (strstr (x.error, "fdatasync"));
  g_assert_nonnull (strstr (x.error, "keeping buffered"));
  facts_clear (&x);
}

/* The same through the engine: a switch that keeps WCE on (writeback ->
 * none) flushes nothing, so the reopen's fdatasync is the first to see
 * the host's error; the client's next flush must fail with it (S3), not
 * succeed over lost data. */
static void
test_engine_flush_after_failed_reopen (struct fx *f, gconstpointer data)
{
  struct wc_config cfg;
  struct wc_engine *e;
  uint8_t buf[4096];

  (void) data;
  open_backing (f, WC_MODE_WRITEBACK);
  wc_config_init (&cfg);
  cfg.size = wc_backing_size (f->b);
  cfg.ops = &wc_backing_ops;
  cfg.opaque = f->b;
  e = wc_engine_new (&cfg);
  g_assert_nonnull (e);

  memset (buf, 0x5c, sizeof buf);
  g_assert_cmpint (wc_write (e, buf, sizeof buf, 0, 0), ==, 0);
  g_assert_cmpint (wc_flush (e, 0), ==, 0);
  inject_errno = EIO;
  /* WCE stays on: the switch succeeds, its reopen does not. */
  g_assert_cmpint (wc_set_mode (e, WC_MODE_NONE), ==, 0);
  g_assert_cmpint (wc_get_mode (e), ==, WC_MODE_NONE);
  g_assert_cmpint (inject_errno, ==, 0);
  g_assert_cmpint (kernel_flags (f->b), ==, 0);
  g_assert_cmpint (wc_flush (e, 0), ==, -1);
  g_assert_cmpint (errno, ==, EIO);
  g_assert_cmpint (wc_flush (e, 0), ==, 0);
  wc_engine_free (e);
}

/* The engine drives the reopen: wc_set_mode calls ops->set_mode, and
 * wc_describe_media shows the flags in force. */
static void
test_engine_switch_reopens (struct fx *f, gconstpointer data)
{
  struct wc_config cfg;
  struct wc_engine *e;
  struct facts x = { 0 };
  uint8_t buf[4096], back[4096];

  (void) data;
  open_backing (f, WC_MODE_WRITEBACK);
  wc_config_init (&cfg);
  cfg.size = wc_backing_size (f->b);
  cfg.ops = &wc_backing_ops;
  cfg.opaque = f->b;
  e = wc_engine_new (&cfg);
  g_assert_nonnull (e);

  memset (buf, 0x42, sizeof buf);
  g_assert_cmpint (wc_write (e, buf, sizeof buf, 0, 0), ==, 0);
  file_read (f, back, sizeof back, 0);
  g_assert_cmpint (back[0], ==, 0);           /* cached, not on the file */
  /* S5: WCE off writes back first; then the file is O_DSYNC. */
  g_assert_cmpint (wc_set_mode (e, WC_MODE_WRITETHROUGH), ==, 0);
  file_read (f, back, sizeof back, 0);
  g_assert_cmpmem (back, sizeof back, buf, sizeof buf);
  g_assert_cmpint (kernel_flags (f->b), ==, O_DSYNC);
  wc_describe_media (e, collect, &x);
  g_assert_cmpstr (x.flags, ==, "O_DSYNC");
  facts_clear (&x);
  g_assert_cmpint (wc_set_mode (e, WC_MODE_WRITEBACK), ==, 0);
  g_assert_cmpint (kernel_flags (f->b), ==, 0);
  wc_engine_free (e);
}

/* Write-back of a run of adjacent blocks goes through ops->writev: the
 * file gets every byte, with and without O_DIRECT (whose unaligned block
 * buffers are gathered into an aligned copy), up to an odd-sized end. */
static void
test_engine_run_writev (struct fx *f, gconstpointer data)
{
  static const enum wc_mode modes[] = { WC_MODE_WRITEBACK, WC_MODE_NONE };
  const uint64_t size = SIZE - 1000;    /* the last block is clamped */
  g_autofree uint8_t *want = g_malloc (size);
  g_autofree uint8_t *back = g_malloc (size);
  struct wc_config cfg;
  struct wc_engine *e;
  struct wc_stats st;

  (void) data;
  g_assert_cmpint (truncate (f->path, size), ==, 0);
  for (size_t m = 0; m < G_N_ELEMENTS (modes); m++) {
    if (wc_mode_host_flags (modes[m]) & O_DIRECT &&
        !direct_supported (f->dir))
      continue;
    open_backing (f, modes[m]);
    wc_config_init (&cfg);
    cfg.size = size;
    cfg.mode = modes[m];
    cfg.ops = &wc_backing_ops;
    cfg.opaque = f->b;
    e = wc_engine_new (&cfg);
    g_assert_nonnull (e);
    for (uint64_t i = 0; i < size; i++)
      want[i] = (i * 7 + m + (i >> 12)) & 0xff;
    g_assert_cmpint (wc_write (e, want, size, 0, 0), ==, 0);
    g_assert_cmpint (wc_flush (e, 0), ==, 0);
    wc_get_stats (e, &st);
    /* Coalesced: far fewer media writes than blocks. */
    g_assert_cmpuint (st.writeback_ios, <, st.writeback_blocks / 8);
    file_read (f, back, size, 0);
    g_assert_cmpmem (back, size, want, size);
    wc_engine_free (e);
    wc_backing_close (f->b);
    f->b = NULL;
  }
}

static void
test_open_errors (void)
{
  g_autofree char *msg = NULL;
  struct wc_backing *b;

  b = wc_backing_open ("/nonexistent/wcache-image", WC_MODE_WRITEBACK,
                       false, &msg);
  g_assert_null (b);
  g_assert_cmpint (errno, ==, ENOENT);
  g_assert_nonnull (strstr (msg, "/nonexistent/wcache-image"));
  g_clear_pointer (&msg, g_free);

  b = wc_backing_open ("/", WC_MODE_WRITEBACK, true, &msg);
  g_assert_null (b);
  g_assert_nonnull (msg);
}

#define ADD(path, fn) \
  g_test_add (path, struct fx, NULL, fx_setup, fn, fx_teardown)

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  ADD ("/backing/host-flags-per-mode", test_flags_per_mode);
  ADD ("/backing/reopen/keeps-data", test_reopen_keeps_data);
  ADD ("/backing/reopen/failure-keeps-old-descriptor",
       test_reopen_failure_keeps_old);
  ADD ("/backing/direct/unaligned", test_direct_unaligned);
  ADD ("/backing/direct/odd-tail", test_direct_odd_tail);
  ADD ("/backing/zero", test_zero);
  g_test_add ("/backing/S3/failed-reopen-sync/fails-next-flush", struct fx,
              GINT_TO_POINTER (0), fx_setup, test_reopen_sync_error_kept,
              fx_teardown);
  g_test_add ("/backing/S3/failed-reopen-sync/fails-next-fua-write",
              struct fx, GINT_TO_POINTER (1), fx_setup,
              test_reopen_sync_error_kept, fx_teardown);
  g_test_add ("/backing/S3/failed-reopen-sync/fails-next-fua-zero",
              struct fx, GINT_TO_POINTER (2), fx_setup,
              test_reopen_sync_error_kept, fx_teardown);
  ADD ("/backing/S3/failed-reopen-sync/engine-flush-fails",
       test_engine_flush_after_failed_reopen);
  ADD ("/backing/engine-switch-reopens", test_engine_switch_reopens);
  ADD ("/backing/engine-run-writev", test_engine_run_writev);
  g_test_add_func ("/backing/open-errors", test_open_errors);
  return g_test_run ();
}

/* wcache-fuse: start-up, options, daemon and shutdown.
 *
 * Order matters.  Everything that can fail is done before the fork of
 * fuse_daemonize, so that errors reach the user and the exit status:
 * options, the image or NBD connection, the engine, binding the control
 * socket, the mount.  Threads start only after the fork (the control
 * server's, the page cache invalidator; the engine starts its timer
 * thread lazily), then the pid file is written: once it exists the disk
 * serves requests.
 *
 * Shutdown (fusermount3 -u, SIGINT, SIGTERM, SIGHUP): the control server
 * stops first, so no command runs against a dying engine; then, only with
 * --flush-on-unmount, everything dirty is written back and flushed.
 * Without it the cache is discarded: an unmount is not a flush, and a
 * client that never flushed was promised nothing (a `lose` cut's result).
 *
 * Single-threaded until the FUSE loop starts; no locks here.
 */
#include <config.h>

#define FUSE_USE_VERSION 312

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <fuse.h>
#include <fuse_lowlevel.h>
#include <glib.h>

#include "backing.h"
#include "control.h"
#include "params.h"
#include "wcache-fuse.h"

struct wf wf;

/* The --control socket once bound, until the loop ends: every exit after
 * the bind removes it (die, and the shutdown at the end of main). */
static struct wc_control *control;

static struct options {
  char *mountpoint;             /* the first operand */
  char *target;                 /* the second: IMAGE or URI */
  char *mode;
  char *cache_size;
  char *block_size;
  char *control;
  char *control_of;
  char *log;
  char *log_sector_size;
  char *nbd_timeout;
  char *pidfile;
  int readonly;
  int direct_io;
  int flush_on_unmount;
  int help;
  int version;
  int operands;                 /* beyond two: an error */
} o;

#define OPT(t, f, v) { t, offsetof (struct options, f), v }
static const struct fuse_opt option_spec[] = {
  OPT ("--mode=%s", mode, 0),
  OPT ("--cache-size=%s", cache_size, 0),
  OPT ("--block-size=%s", block_size, 0),
  OPT ("--control=%s", control, 0),
  OPT ("--control-of=%s", control_of, 0),
  OPT ("--log=%s", log, 0),
  OPT ("--log-sector-size=%s", log_sector_size, 0),
  OPT ("--nbd-timeout=%s", nbd_timeout, 0),
  OPT ("--pidfile=%s", pidfile, 0),
  OPT ("-P %s", pidfile, 0),
  OPT ("-r", readonly, 1),
  OPT ("--readonly", readonly, 1),
  OPT ("--direct-io", direct_io, 1),
  OPT ("--flush-on-unmount", flush_on_unmount, 1),
  OPT ("-h", help, 1),
  OPT ("--help", help, 1),
  OPT ("-V", version, 1),
  OPT ("--version", version, 1),
  FUSE_OPT_END
};

/* Operands: MOUNTPOINT stays in args for fuse_parse_cmdline; IMAGE or URI
 * is ours. */
static int
option_proc (void *data, const char *arg, int key, struct fuse_args *args)
{
  (void) data;
  (void) args;
  if (key != FUSE_OPT_KEY_NONOPT)
    return 1;
  if (!o.mountpoint) {
    o.mountpoint = g_strdup (arg);
    return 1;
  }
  if (!o.target) {
    o.target = g_strdup (arg);
    return 0;
  }
  o.operands++;
  return 0;
}

static void
usage (FILE *fp)
{
  fprintf (fp,
"Usage: wcache-fuse [OPTIONS] MOUNTPOINT IMAGE\n"
"       wcache-fuse [OPTIONS] MOUNTPOINT NBD-URI\n"
"Show a disk with a volatile write cache as MOUNTPOINT/disk, with the\n"
"control files cache_type, mode, power and status beside it.\n"
"Unmount with: fusermount3 -u MOUNTPOINT\n"
"\n"
"wcache options (--opt=VALUE or --opt VALUE):\n"
"    --mode=MODE            writeback (default), writethrough, none,\n"
"                           directsync or unsafe\n"
"    --cache-size=SIZE      most dirty data held (default 256M)\n"
"    --block-size=SIZE      cache block, a power of two from 512 to 64K\n"
"                           (default 4K)\n"
"    --control=SOCKET       serve the control protocol on SOCKET\n"
"    --log=PATH             write every acknowledged request to a write\n"
"                           log at PATH (dm-log-writes format)\n"
"    --log-sector-size=N    the log's sector size, 512 (default) or 4096\n"
"    --control-of=SOCKET    NBD backing: forward the control files to\n"
"                           this control socket\n"
"    --nbd-timeout=SECONDS  NBD backing: how long a connect, or an open's\n"
"                           check of the connections, waits for the server\n"
"                           (default 30)\n"
"    --direct-io            no kernel page cache over the disk, as if every\n"
"                           open had O_DIRECT (no shared mmap then)\n"
"    --flush-on-unmount     write the cache back at unmount (by default\n"
"                           dirty data is discarded, as at a cut)\n"
"    -P, --pidfile=FILE     write the daemon's pid to FILE when ready\n"
"    -r, --readonly         a read-only disk\n"
"    -h, --help             this help\n"
"    -V, --version          print the version\n"
"\n");
#ifndef HAVE_LIBNBD
  fputs ("This wcache-fuse was built without libnbd: NBD-URI disks are not "
         "available.\n", fp);
#endif
}

static void __attribute__ ((noreturn, format (printf, 1, 2)))
die (const char *fmt, ...)
{
  va_list ap;

  /* A socket nobody serves must not stay behind (nor block a restart). */
  wc_control_free (control);
  fputs ("wcache-fuse: ", stderr);
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fputc ('\n', stderr);
  exit (EXIT_FAILURE);
}

/* After fuse_daemonize, stderr is /dev/null: messages go to syslog. */
static bool daemonized;

void
wf_report (const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  if (daemonized)
    vsyslog (LOG_WARNING, fmt, ap);
  else {
    fputs ("wcache-fuse: ", stderr);
    vfprintf (stderr, fmt, ap);
    fputc ('\n', stderr);
  }
  va_end (ap);
}

static void
log_handler (const char *domain, GLogLevelFlags level, const char *message,
             void *data)
{
  (void) domain;
  (void) level;
  (void) data;
  wf_report ("%s", message);
}

/* A size in the grammar of params.h, the same as the filter's keys and
 * the control protocol: digits, an optional suffix (K, M, G, T, ...). */
static uint64_t
parse_size (const char *opt, const char *s)
{
  uint64_t v;

  if (wc_parse_size (s, &v) == -1)
    die ("%s=%s: not %s", opt, s, wc_size_grammar);
  return v;
}

static void
absolute (char **path)
{
  char *abs = g_canonicalize_filename (*path, NULL);

  free (*path);
  *path = abs;
}

static bool
is_uri (const char *s)
{
  return strstr (s, "://") != NULL;
}

/* The NBD URI's socket= query parameter (nbd_connect_uri(3)), made
 * absolute when relative: libnbd reads it at every connect, and reconnects
 * (nbd.c) happen in the daemon, in "/".  The rest of the URI is kept byte
 * for byte.  (Its other file parameters, tls-certificates= and
 * tls-psk-file=, libnbd refuses unless told to allow local files.) */
static void
absolute_uri_socket (char **uri)
{
  static const char key[] = "socket=";
  const size_t klen = sizeof key - 1;
  const char *query = strchr (*uri, '?'), *end, *p;
  GString *out;

  if (!query)
    return;
  end = query + strcspn (query, "#");
  out = g_string_new_len (*uri, query + 1 - *uri);
  for (p = query + 1; p < end; ) {
    size_t len = MIN (strcspn (p, "&"), (size_t) (end - p));
    g_autofree char *raw = NULL;
    g_autofree char *path = NULL;

    if (len > klen && strncmp (p, key, klen) == 0) {
      raw = g_strndup (p + klen, len - klen);
      path = g_uri_unescape_string (raw, NULL);
    }
    if (path && path[0] != '/') {
      g_autofree char *abs = g_canonicalize_filename (path, NULL);
      g_autofree char *escaped = g_uri_escape_string (abs, "/", FALSE);

      g_string_append (out, key);
      g_string_append (out, escaped);
    }
    else
      g_string_append_len (out, p, len);
    p += len;
    if (p < end) {                      /* the '&' */
      g_string_append_c (out, *p);
      p++;
    }
  }
  g_string_append (out, end);
  g_free (*uri);
  *uri = g_string_free (out, FALSE);
}

static void
on_cut (void *opaque, const struct wc_cut_report *rep)
{
  (void) opaque;
  (void) rep;
  wf_invalidate_after_cut ();
}

static void
on_power_on (void *opaque)
{
  (void) opaque;
  wf_invalidate_now ();
}

static void
on_log_failed (void *opaque, const char *msg)
{
  (void) opaque;
  wf_report ("write log: %s; logging stopped, the disk goes on", msg);
}

static void
open_local (void)
{
  struct wc_config cfg;
  g_autofree char *message = NULL;

  uint64_t v, log_ss = 512;
  const char *problem;

  wc_config_init (&cfg);
  if (o.mode && wc_mode_parse (o.mode, &cfg.mode) == -1)
    die ("--mode=%s: not %s", o.mode, wc_mode_names);
  if (o.block_size) {
    v = parse_size ("--block-size", o.block_size);
    if ((problem = wc_block_size_problem (v)) != NULL)
      die ("--block-size=%s %s", o.block_size, problem);
    cfg.block_size = v;
  }
  if (o.cache_size)
    cfg.cache_size = parse_size ("--cache-size", o.cache_size);
  if ((problem = wc_cache_size_problem (cfg.cache_size,
                                        cfg.block_size)) != NULL)
    die ("--cache-size=%s %s (%" PRIu32 ")", o.cache_size, problem,
         cfg.block_size);
  if (o.log_sector_size) {
    log_ss = parse_size ("--log-sector-size", o.log_sector_size);
    if ((problem = wc_log_sector_size_problem (log_ss,
                                               cfg.block_size)) != NULL)
      die ("--log-sector-size=%s %s", o.log_sector_size, problem);
    if (!o.log)
      die ("--log-sector-size needs --log");
  }
  if (o.log && wc_log_check_path (o.log, &message) == -1)
    die ("--log: %s", message);
  if (o.control_of)
    die ("--control-of is for an NBD backing; with a local image use "
         "--control");
  if (o.nbd_timeout)
    die ("--nbd-timeout is for an NBD backing");

  wf.backing = wc_backing_open (o.target, cfg.mode, o.readonly, &message);
  if (!wf.backing)
    die ("%s", message);
  cfg.size = wc_backing_size (wf.backing);
  cfg.readonly = o.readonly;
  cfg.ops = &wc_backing_ops;
  cfg.opaque = wf.backing;
  cfg.on_cut = on_cut;
  cfg.on_power_on = on_power_on;
  cfg.on_log_failed = on_log_failed;
  wf.e = wc_engine_new (&cfg);
  if (!wf.e)
    die ("%s: creating the engine: %s", o.target, g_strerror (errno));
  if (o.log && wc_log_start (wf.e, o.log, log_ss, &message) == -1)
    die ("--log=%s: %s", o.log, message);
  wf.ops = &wf_local_ops;
  wf.size = cfg.size;
  wf.readonly = o.readonly;
}

#ifdef HAVE_LIBNBD
#define NBD_TIMEOUT_DEFAULT 30
#define NBD_TIMEOUT_MAX 3600

static void
open_nbd (void)
{
  g_autofree char *message = NULL;
  uint64_t timeout = NBD_TIMEOUT_DEFAULT;

  if (o.mode || o.cache_size || o.block_size || o.log || o.log_sector_size)
    die ("--mode, --cache-size, --block-size and --log set the engine of a "
         "local image; with an NBD backing the server's filter has the "
         "cache (its wcache-log key or log start have the log)");
  if (o.control)
    die ("--control needs a local image: with an NBD backing, use the "
         "server's control socket (--control-of=SOCKET shows it here)");
  if (o.nbd_timeout &&
      (wc_parse_u64 (o.nbd_timeout, &timeout) == -1 || timeout < 1 ||
       timeout > NBD_TIMEOUT_MAX))
    die ("--nbd-timeout=%s: not a whole number of seconds from 1 to %d",
         o.nbd_timeout, NBD_TIMEOUT_MAX);
  wf.nbd = wf_nbd_open (o.target, o.readonly, timeout, &message);
  if (!wf.nbd)
    die ("%s", message);
  wf.ops = &wf_nbd_ops;
  wf.control_of = o.control_of;
  wf.size = wf_nbd_size (wf.nbd);
  wf.readonly = wf_nbd_readonly (wf.nbd);
}
#else
static void
open_nbd (void)
{
  die ("%s: an NBD disk, but this wcache-fuse was built without libnbd "
       "(configure --without-libnbd, or libnbd-dev missing)", o.target);
}
#endif

static void
write_pidfile (void)
{
  g_autofree char *tmp = NULL;
  g_autofree char *pid = NULL;
  g_autoptr (GError) error = NULL;

  if (!o.pidfile)
    return;
  /* Whole or absent: a reader polling for it never sees it half written. */
  pid = g_strdup_printf ("%ld\n", (long) getpid ());
  if (!g_file_set_contents (o.pidfile, pid, -1, &error))
    g_warning ("%s", error->message);
}

/* "--control SOCKET" as "--control=SOCKET": fuse_opt would match a
 * "--control %s" template against "--control=SOCKET" as well (taking
 * "=SOCKET"), so only the "=" templates exist, and the spaced form is
 * joined here.  Returns a new argv (the strings are argv's or new). */
static char **
join_spaced_options (int *argc, char **argv, GPtrArray *owned)
{
  static const char *const spaced[] = {
    "--mode", "--cache-size", "--block-size", "--control", "--control-of",
    "--log", "--log-sector-size", "--nbd-timeout", "--pidfile",
  };
  char **out = g_new0 (char *, *argc + 1);
  int n = 0;

  for (int i = 0; i < *argc; i++) {
    bool join = false;

    for (size_t k = 0; k < G_N_ELEMENTS (spaced) && i > 0; k++) {
      if (strcmp (argv[i], spaced[k]) == 0) {
        if (i + 1 == *argc)
          die ("%s needs a value", argv[i]);
        join = true;
      }
    }
    if (join) {
      out[n] = g_strconcat (argv[i], "=", argv[i + 1], NULL);
      g_ptr_array_add (owned, out[n++]);
      i++;
    }
    else
      out[n++] = argv[i];
  }
  *argc = n;
  return out;
}

int
main (int argc, char *argv[])
{
  g_autoptr (GPtrArray) owned = g_ptr_array_new_with_free_func (g_free);
  g_autofree char **joined = join_spaced_options (&argc, argv, owned);
  struct fuse_args args = FUSE_ARGS_INIT (argc, joined);
  struct fuse_cmdline_opts fo;
  struct fuse_loop_config *loop;
  struct fuse_session *se;
  int rv;

  if (fuse_opt_parse (&args, &o, option_spec, option_proc) == -1)
    return EXIT_FAILURE;
  if (o.help) {
    usage (stdout);
    printf ("FUSE options:\n");
    fuse_cmdline_help ();
    fuse_lib_help (&args);
    return EXIT_SUCCESS;
  }
  if (o.version) {
    printf ("wcache-fuse %s\n", PACKAGE_VERSION);
    printf ("libfuse %s\n", fuse_pkgversion ());
    return EXIT_SUCCESS;
  }
  if (fuse_parse_cmdline (&args, &fo) == -1)
    return EXIT_FAILURE;
  if (!fo.mountpoint || !o.target || o.operands > 0) {
    usage (stderr);
    die ("expected two operands, MOUNTPOINT and IMAGE (or an NBD URI)");
  }
  /* A cut, a power-on and a direct write wait, inside their request, for
   * the kernel to drop pages of disk, which may first need another request
   * served (the write-back of a dirty mapped page, a read holding a page):
   * with one thread, that wait would never end (fs.c). */
  if (fo.singlethread)
    die ("-s: one thread cannot serve the disk: a cut or power-on (and a "
         "direct write) waits for the kernel to drop the disk's page cache, "
         "which may need another request served first; drop -s");
  if (fo.max_threads != UINT_MAX && fo.max_threads < 2)
    die ("-o max_threads=%u: at least 2 are needed: a cut or power-on (and "
         "a direct write) waits for the kernel to drop the disk's page "
         "cache, which may need another request served first",
         fo.max_threads);

  /* The mount's root is a directory (disk and the control files): Linux
   * would mount it on another kind of file all the same, unusable. */
  {
    struct stat st;

    if (stat (fo.mountpoint, &st) == -1)
      die ("MOUNTPOINT %s: %s", fo.mountpoint, g_strerror (errno));
    if (!S_ISDIR (st.st_mode))
      die ("MOUNTPOINT %s: not a directory (the mount is a directory "
           "holding disk and the control files)", fo.mountpoint);
  }

  /* The daemon runs in "/": paths it uses later must be absolute. */
  if (o.pidfile)
    absolute (&o.pidfile);
  if (o.control)
    absolute (&o.control);
  if (o.control_of)
    absolute (&o.control_of);   /* each control file access connects */
  if (o.log)
    absolute (&o.log);
  if (is_uri (o.target))
    absolute_uri_socket (&o.target);
  else
    absolute (&o.target);       /* for messages: the reopen uses the fd */
  if (is_uri (o.target))
    open_nbd ();
  else
    open_local ();
  wf.started = time (NULL);
  wf.direct_io = o.direct_io;

  if (o.control) {
    g_autofree char *message = NULL;

    control = wc_control_bind (o.control, &message);
    if (!control)
      die ("--control=%s: %s", o.control, message);
  }

  wf.fuse = fuse_new (&args, &wf_operations, sizeof wf_operations, NULL);
  if (!wf.fuse)
    die ("cannot set up FUSE (see the message above)");
  if (fuse_mount (wf.fuse, fo.mountpoint) == -1)
    die ("cannot mount on %s (see the message above)", fo.mountpoint);
  se = fuse_get_session (wf.fuse);
  if (fuse_set_signal_handlers (se) == -1)
    die ("cannot install signal handlers");
  if (fuse_daemonize (fo.foreground) == -1)
    die ("cannot become a daemon");
  if (!fo.foreground) {
    daemonized = true;
    openlog ("wcache-fuse", LOG_PID, LOG_DAEMON);
  }
  g_log_set_default_handler (log_handler, NULL);

  /* Threads from here on, in the daemon. */
  wf_invalidate_start ();
  if (control && wc_control_start (control, wf.e) == -1)
    g_warning ("--control=%s: starting the server: %s", o.control,
               g_strerror (errno));
  write_pidfile ();

  loop = fuse_loop_cfg_create ();
  fuse_loop_cfg_set_clone_fd (loop, fo.clone_fd);
  /* UINT_MAX: not given, keep libfuse's default. */
  if (fo.max_threads != UINT_MAX)
    fuse_loop_cfg_set_max_threads (loop, fo.max_threads);
  if (fo.max_idle_threads != UINT_MAX)
    fuse_loop_cfg_set_idle_threads (loop, fo.max_idle_threads);
  rv = fuse_loop_mt (wf.fuse, loop);
  fuse_loop_cfg_destroy (loop);

  wc_control_free (control);
  control = NULL;
  fuse_remove_signal_handlers (se);
  fuse_unmount (wf.fuse);
  wf_invalidate_stop ();
  /* The cache: written back with --flush-on-unmount, else discarded. */
  wf.ops->unmount (o.flush_on_unmount);
  fuse_destroy (wf.fuse);
  wf_handles_free ();
  wf.ops->close ();
  if (o.pidfile)
    unlink (o.pidfile);
  fuse_opt_free_args (&args);
  free (fo.mountpoint);
  return rv == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

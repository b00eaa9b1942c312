/* wcache-fuse: the FUSE frontend (wcache(7); SAFE REOPEN there).
 *
 * Files:
 *   main.c      options, start-up, daemon, shutdown
 *   fs.c        the FUSE operations: the mount's directory and "disk"
 *   ctlfiles.c  the control files (cache_type, mode, power, status)
 *   local.c     local image: the disk served by the engine
 *   nbd.c       NBD backing: the disk passed through to an NBD server
 *   remote.c    --control-of: control files forwarded to a control socket
 *
 * The frontend is glue: with a local image, every disk request goes to
 * the engine (lib/), whose media is the file backing (lib/backing.c); the
 * control files and the --control socket run the same protocol (server/).
 * With an NBD URI there is no engine here: the disk passes requests,
 * FUA and flushes through to the server, and the control files forward to
 * the server's control socket (--control-of).  main.c picks one of the
 * two disk ops tables at start-up; nothing else asks which it has.
 *
 * Errors: FUSE operations return -errno; disk ops -1 with errno.
 */
#ifndef WCACHE_FUSE_H
#define WCACHE_FUSE_H

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

#include "wcache.h"

struct wf_nbd;

/* What "disk" is backed by: the local engine (local.c) or an NBD server
 * (nbd.c).  A file of "disk" carries the token open_file returned (the
 * engine's power epoch, or the NBD connections' generation) and passes it
 * to every request, which fails with EIO once a cut came between.
 * Requests return 0 or -1 with errno. */
struct wf_disk_ops {
  uint64_t (*open_file) (void);
  /* Only this process changes the disk, and it drops the page cache
   * itself: opens may keep it.  (An NBD server may have other writers.) */
  bool keep_cache;
  int (*read) (uint64_t token, void *buf, uint32_t count, uint64_t offset);
  int (*write) (uint64_t token, const void *buf, uint32_t count,
                uint64_t offset, bool fua);
  /* trim: may punch a hole (reads as zeros either way). */
  int (*zero) (uint64_t token, uint32_t count, uint64_t offset, bool trim,
               bool fua);
  int (*flush) (uint64_t token);
  /* Whether the mount shows the control files. */
  bool (*has_control_files) (void);
  /* Runs one control request: 0 or an errno saying what the reply means
   * (as wc_control_run), with *reply newly allocated; or -errno when
   * there is no reply to parse (it has warned, or *reply says why). */
  int (*command) (const char *line, char **reply);
  /* At unmount, after the loop: write back first if flush. */
  void (*unmount) (bool flush);
  void (*close) (void);
};
extern const struct wf_disk_ops wf_local_ops;
extern const struct wf_disk_ops wf_nbd_ops;

/* The process's one disk.  Set up by main.c before the FUSE loop starts,
 * immutable while it runs (the engine and NBD handles lock themselves). */
struct wf {
  struct fuse *fuse;
  const struct wf_disk_ops *ops;    /* one of the two above */
  struct wc_engine *e;          /* local image, else NULL */
  struct wc_backing *backing;   /* local image, else NULL */
  struct wf_nbd *nbd;           /* NBD backing, else NULL */
  const char *control_of;       /* NBD backing: a control socket, or NULL */
  uint64_t size;
  bool readonly;
  bool direct_io;               /* --direct-io: no page cache on disk */
  time_t started;               /* timestamps of every file */
};
extern struct wf wf;

/* fs.c */
extern const struct fuse_operations wf_operations;
/* Frees the handles of files still open when the loop ended. */
void wf_handles_free (void);
/* Invalidate the kernel's page cache of "disk" (after a cut, and at
 * power-on), so no reader sees data the cut took away.  wf_invalidate_now
 * returns when it is done; wf_invalidate_async returns at once and may be
 * called from a FUSE request of the disk itself.  All are no-ops before
 * the loop starts. */
void wf_invalidate_start (void);
void wf_invalidate_stop (void);
void wf_invalidate_async (void);
void wf_invalidate_now (void);
/* After a cut: at once, unless the cut fired inside a disk request. */
void wf_invalidate_after_cut (void);

/* ctlfiles.c: the control files.  has_control_files says whether the mount
 * shows them (not for an NBD backing without --control-of). */
bool wf_has_control_files (void);
/* Index of a control file by name (without '/'), or -1. */
int wf_ctl_lookup (const char *name);
const char *wf_ctl_name (int i);
bool wf_ctl_writable (int i);
/* Content of control file i, newly allocated; -errno on failure. */
int wf_ctl_show (int i, GString *out);
/* One write(2) to control file i: the whole command.  0 or -errno. */
int wf_ctl_store (int i, const char *buf, size_t len);

/* nbd.c: the NBD backing behind wf_nbd_ops.  timeout_s bounds each
 * connect and each open's check of the connections. */
struct wf_nbd *wf_nbd_open (const char *uri, bool readonly,
                            unsigned timeout_s, char **message);
void wf_nbd_close (struct wf_nbd *n);
uint64_t wf_nbd_size (struct wf_nbd *n);
bool wf_nbd_readonly (struct wf_nbd *n);

/* remote.c: one request to a control socket.  Returns 0 and the reply
 * line (newly allocated), or -1 with errno and a message in *reply. */
int wf_remote_request (const char *socket, const char *line, char **reply);
/* A control file's request for wf.control_of, as wf_disk_ops.command:
 * checked here first, so a request wrong in itself is never sent. */
int wf_remote_command (const char *line, char **reply);

/* main.c: a message to stderr, or to syslog once the daemon runs. */
void wf_report (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

#endif /* WCACHE_FUSE_H */

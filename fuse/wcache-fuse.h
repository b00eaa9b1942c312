/* wcache-fuse: the FUSE frontend (wcache(7); SAFE REOPEN there).
 *
 * Files:
 *   main.c      options, start-up, daemon, shutdown
 *   fs.c        the FUSE operations: the mount's directory and "disk"
 *   ctlfiles.c  the control files (cache_type, mode, power, status)
 *   nbd.c       NBD backing: the disk passed through to an NBD server
 *   remote.c    --control-of: control files forwarded to a control socket
 *
 * The frontend is glue: with a local image, every disk request goes to
 * the engine (lib/), whose media is the file backing (lib/backing.c); the
 * control files and the --control socket run the same protocol (server/).
 * With an NBD URI there is no engine here: the disk passes requests,
 * FUA and flushes through to the server, and the control files forward to
 * the server's control socket (--control-of).
 *
 * Errors: FUSE operations return -errno.
 */
#ifndef WCACHE_FUSE_H
#define WCACHE_FUSE_H

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

#include "wcache.h"

struct wf_nbd;

/* The process's one disk.  Set up by main.c before the FUSE loop starts,
 * immutable while it runs (the engine and NBD handles lock themselves). */
struct wf {
  struct fuse *fuse;
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

/* nbd.c.  Requests carry the generation wf_nbd_open_file returned when
 * their file was opened; after a reconnect, older files get EIO.
 * timeout_s bounds each connect and each open's check of the
 * connections. */
struct wf_nbd *wf_nbd_open (const char *uri, bool readonly,
                            unsigned timeout_s, char **message);
void wf_nbd_close (struct wf_nbd *n);
uint64_t wf_nbd_size (struct wf_nbd *n);
bool wf_nbd_readonly (struct wf_nbd *n);
uint64_t wf_nbd_open_file (struct wf_nbd *n);
int wf_nbd_read (struct wf_nbd *n, uint64_t gen, void *buf, uint32_t count,
                 uint64_t offset);
int wf_nbd_write (struct wf_nbd *n, uint64_t gen, const void *buf,
                  uint32_t count, uint64_t offset, bool fua);
int wf_nbd_zero (struct wf_nbd *n, uint64_t gen, uint32_t count,
                 uint64_t offset, bool trim, bool fua);
int wf_nbd_flush (struct wf_nbd *n, uint64_t gen);

/* remote.c: one request to a control socket.  Returns 0 and the reply
 * line (newly allocated), or -1 with errno and a message in *reply. */
int wf_remote_request (const char *socket, const char *line, char **reply);

#endif /* WCACHE_FUSE_H */

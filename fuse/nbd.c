/* NBD backing: the disk passed through to an NBD server with libnbd, for
 * a disk whose cache lives elsewhere (nbdkit --filter=wcache).  Nothing is
 * cached here: reads, writes, FUA, zeroes, trims and flushes go straight
 * to the server, so the server's rules (S1-S10) are the disk's.
 *
 * Connections.  libnbd runs one synchronous command per handle at a time,
 * so when the server advertises multi-conn (a flush on one connection
 * covers writes acknowledged on all of them, as wcache's filter does) we
 * open WF_NBD_CONNECTIONS handles and spread requests over them;
 * otherwise one handle carries everything, flushes included, which keeps
 * S3 honest for servers without multi-conn.
 *
 * FUA.  A write that must be durable goes with NBD_CMD_FLAG_FUA when the
 * server offers it, else as write + flush.  A server that offers no flush
 * is write-through (its writes are durable when acknowledged), so flush
 * is a no-op then, as QEMU's client treats it.
 *
 * Locking: none of ours; libnbd locks each handle.  n->next is atomic.
 */
#include <config.h>

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include <glib.h>
#include <libnbd.h>

#include "wcache-fuse.h"

#define WF_NBD_CONNECTIONS 4

struct wf_nbd {
  struct nbd_handle *h[WF_NBD_CONNECTIONS];
  unsigned n;                   /* handles open */
  atomic_uint next;             /* round robin */
  uint64_t size;
  bool readonly, can_flush, can_fua, can_zero;
};

static int
nbd_errno (void)
{
  int err = nbd_get_errno ();

  return err ? err : EIO;
}

static struct nbd_handle *
connect_one (const char *uri, char **message)
{
  struct nbd_handle *h = nbd_create ();

  if (!h) {
    *message = g_strdup_printf ("nbd_create: %s", nbd_get_error ());
    return NULL;
  }
  if (nbd_connect_uri (h, uri) == -1) {
    int err = nbd_errno ();
    *message = g_strdup_printf ("%s: %s", uri, nbd_get_error ());
    nbd_close (h);
    errno = err;
    return NULL;
  }
  return h;
}

struct wf_nbd *
wf_nbd_open (const char *uri, bool readonly, char **message)
{
  struct wf_nbd *n = g_new0 (struct wf_nbd, 1);
  struct nbd_handle *h;
  int64_t size;
  int err;

  h = connect_one (uri, message);
  if (!h) {
    g_free (n);
    return NULL;
  }
  n->h[n->n++] = h;
  size = nbd_get_size (h);
  if (size == -1) {
    err = nbd_errno ();
    *message = g_strdup_printf ("%s: size: %s", uri, nbd_get_error ());
    goto fail;
  }
  n->size = size;
  n->readonly = readonly || nbd_is_read_only (h) == 1;
  n->can_flush = nbd_can_flush (h) == 1;
  n->can_fua = nbd_can_fua (h) == 1;
  n->can_zero = nbd_can_zero (h) == 1;
  if (nbd_can_multi_conn (h) == 1) {
    while (n->n < WF_NBD_CONNECTIONS) {
      h = connect_one (uri, message);
      if (!h) {
        err = errno;
        goto fail;
      }
      n->h[n->n++] = h;
    }
  }
  return n;

 fail:
  wf_nbd_close (n);
  errno = err;
  return NULL;
}

void
wf_nbd_close (struct wf_nbd *n)
{
  if (!n)
    return;
  for (unsigned i = 0; i < n->n; i++) {
    nbd_shutdown (n->h[i], 0);
    nbd_close (n->h[i]);
  }
  g_free (n);
}

uint64_t
wf_nbd_size (struct wf_nbd *n)
{
  return n->size;
}

bool
wf_nbd_readonly (struct wf_nbd *n)
{
  return n->readonly;
}

static struct nbd_handle *
pick (struct wf_nbd *n)
{
  return n->h[atomic_fetch_add (&n->next, 1) % n->n];
}

/* libnbd's -1 as -1 with errno. */
static int
result (int64_t rv)
{
  if (rv == -1) {
    errno = nbd_errno ();
    return -1;
  }
  return 0;
}

int
wf_nbd_read (struct wf_nbd *n, void *buf, uint32_t count, uint64_t offset)
{
  return result (nbd_pread (pick (n), buf, count, offset, 0));
}

int
wf_nbd_flush (struct wf_nbd *n)
{
  if (!n->can_flush)
    return 0;
  return result (nbd_flush (pick (n), 0));
}

int
wf_nbd_write (struct wf_nbd *n, const void *buf, uint32_t count,
              uint64_t offset, bool fua)
{
  uint32_t flags = fua && n->can_fua ? LIBNBD_CMD_FLAG_FUA : 0;

  if (result (nbd_pwrite (pick (n), buf, count, offset, flags)) == -1)
    return -1;
  if (fua && !n->can_fua)
    return wf_nbd_flush (n);
  return 0;
}

int
wf_nbd_zero (struct wf_nbd *n, uint32_t count, uint64_t offset, bool trim)
{
  static const char zeroes[64 * 1024];

  /* NBD_CMD_TRIM may leave anything behind, but a punched hole reads as
   * zeros; NBD_CMD_WRITE_ZEROES without NO_HOLE may punch and must zero. */
  if (n->can_zero)
    return result (nbd_zero (pick (n), count, offset,
                             trim ? 0 : LIBNBD_CMD_FLAG_NO_HOLE));
  while (count > 0) {
    uint32_t len = MIN (count, sizeof zeroes);

    if (wf_nbd_write (n, zeroes, len, offset, false) == -1)
      return -1;
    count -= len;
    offset += len;
  }
  return 0;
}

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
 * Power cuts.  wcache's filter fails a connection that was open across a
 * cut with EIO for ever, as a device reset would.  So the connections form
 * a generation: once a request has failed with EIO, the next open of the
 * disk connects a fresh set and bumps the generation, and every request
 * carries the generation its file was opened in; a file opened before the
 * new set fails with EIO, as a local disk's file opened before a cut does
 * (fs.c).  A fresh set made while the power is still off works after
 * power-on: it was not open across the cut.
 *
 * FUA.  A write that must be durable goes with NBD_CMD_FLAG_FUA when the
 * server offers it, else as write + flush.  A server that offers no flush
 * is write-through (its writes are durable when acknowledged), so flush
 * is a no-op then, as QEMU's client treats it.
 *
 * Locking: n->lock (rwlock) protects the set (h, nh, gen): requests hold
 * it shared while they use a handle, a reconnect holds it exclusive.
 * libnbd locks each handle itself.  n->failed and n->next are atomic.
 */
#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include <glib.h>
#include <libnbd.h>

#include "wcache-fuse.h"

#define WF_NBD_CONNECTIONS 4

struct wf_nbd {
  char *uri;                    /* immutable */
  uint64_t size;                /* immutable, from the first connection */
  bool readonly, can_flush, can_fua, can_zero;  /* immutable, likewise */

  pthread_rwlock_t lock;        /* protects h, nh, gen */
  struct nbd_handle *h[WF_NBD_CONNECTIONS];
  unsigned nh;                  /* handles open */
  uint64_t gen;                 /* connection sets made so far */
  atomic_bool failed;           /* a request failed with EIO */
  atomic_uint next;             /* round robin */
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

static void
close_set (struct nbd_handle **h, unsigned nh)
{
  for (unsigned i = 0; i < nh; i++) {
    nbd_shutdown (h[i], 0);
    nbd_close (h[i]);
  }
}

/* Connects a set: one handle, or WF_NBD_CONNECTIONS with multi-conn. */
static int
connect_set (const char *uri, struct nbd_handle **h, unsigned *nh,
             char **message)
{
  *nh = 0;
  h[(*nh)++] = connect_one (uri, message);
  if (!h[0])
    return -1;
  if (nbd_can_multi_conn (h[0]) == 1) {
    while (*nh < WF_NBD_CONNECTIONS) {
      h[*nh] = connect_one (uri, message);
      if (!h[*nh]) {
        int err = errno;
        close_set (h, *nh);
        errno = err;
        return -1;
      }
      (*nh)++;
    }
  }
  return 0;
}

struct wf_nbd *
wf_nbd_open (const char *uri, bool readonly, char **message)
{
  struct wf_nbd *n = g_new0 (struct wf_nbd, 1);
  struct nbd_handle *h;
  int64_t size;

  if (connect_set (uri, n->h, &n->nh, message) == -1) {
    g_free (n);
    return NULL;
  }
  h = n->h[0];
  size = nbd_get_size (h);
  if (size == -1) {
    int err = nbd_errno ();
    *message = g_strdup_printf ("%s: size: %s", uri, nbd_get_error ());
    close_set (n->h, n->nh);
    g_free (n);
    errno = err;
    return NULL;
  }
  n->uri = g_strdup (uri);
  n->size = size;
  n->readonly = readonly || nbd_is_read_only (h) == 1;
  n->can_flush = nbd_can_flush (h) == 1;
  n->can_fua = nbd_can_fua (h) == 1;
  n->can_zero = nbd_can_zero (h) == 1;
  pthread_rwlock_init (&n->lock, NULL);
  return n;
}

void
wf_nbd_close (struct wf_nbd *n)
{
  if (!n)
    return;
  close_set (n->h, n->nh);
  pthread_rwlock_destroy (&n->lock);
  g_free (n->uri);
  g_free (n);
}

uint64_t
wf_nbd_open_file (struct wf_nbd *n)
{
  struct nbd_handle *h[WF_NBD_CONNECTIONS];
  unsigned nh;
  g_autofree char *message = NULL;
  uint64_t gen;

  if (atomic_exchange (&n->failed, false)) {
    /* A cut may have made the set useless for ever: start a new one. */
    if (connect_set (n->uri, h, &nh, &message) == 0) {
      pthread_rwlock_wrlock (&n->lock);
      close_set (n->h, n->nh);
      memcpy (n->h, h, sizeof h);
      n->nh = nh;
      n->gen++;
      pthread_rwlock_unlock (&n->lock);
    }
    else {
      g_warning ("reconnecting: %s", message);
      atomic_store (&n->failed, true);
    }
  }
  pthread_rwlock_rdlock (&n->lock);
  gen = n->gen;
  pthread_rwlock_unlock (&n->lock);
  return gen;
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

/* Takes the set for one request of a file opened in generation gen:
 * NULL with EIO if the set has been replaced since. */
static struct nbd_handle *
begin (struct wf_nbd *n, uint64_t gen)
{
  pthread_rwlock_rdlock (&n->lock);
  if (gen != n->gen) {
    pthread_rwlock_unlock (&n->lock);
    errno = EIO;
    return NULL;
  }
  return n->h[atomic_fetch_add (&n->next, 1) % n->nh];
}

/* Releases the set; libnbd's -1 becomes -1 with errno. */
static int
end (struct wf_nbd *n, int64_t rv)
{
  int err = 0;

  if (rv == -1) {
    err = nbd_errno ();
    if (err == EIO)
      atomic_store (&n->failed, true);
  }
  pthread_rwlock_unlock (&n->lock);
  errno = err;
  return rv == -1 ? -1 : 0;
}

int
wf_nbd_read (struct wf_nbd *n, uint64_t gen, void *buf, uint32_t count,
             uint64_t offset)
{
  struct nbd_handle *h = begin (n, gen);

  return h ? end (n, nbd_pread (h, buf, count, offset, 0)) : -1;
}

int
wf_nbd_flush (struct wf_nbd *n, uint64_t gen)
{
  struct nbd_handle *h;

  if (!n->can_flush)
    return 0;
  h = begin (n, gen);
  return h ? end (n, nbd_flush (h, 0)) : -1;
}

int
wf_nbd_write (struct wf_nbd *n, uint64_t gen, const void *buf,
              uint32_t count, uint64_t offset, bool fua)
{
  uint32_t flags = fua && n->can_fua ? LIBNBD_CMD_FLAG_FUA : 0;
  struct nbd_handle *h = begin (n, gen);

  if (!h || end (n, nbd_pwrite (h, buf, count, offset, flags)) == -1)
    return -1;
  if (fua && !n->can_fua)
    return wf_nbd_flush (n, gen);
  return 0;
}

int
wf_nbd_zero (struct wf_nbd *n, uint64_t gen, uint32_t count,
             uint64_t offset, bool trim)
{
  static const char zeroes[64 * 1024];
  struct nbd_handle *h;

  /* NBD_CMD_TRIM may leave anything behind, but a punched hole reads as
   * zeros; NBD_CMD_WRITE_ZEROES without NO_HOLE may punch and must zero. */
  if (n->can_zero) {
    h = begin (n, gen);
    return h ? end (n, nbd_zero (h, count, offset,
                                 trim ? 0 : LIBNBD_CMD_FLAG_NO_HOLE)) : -1;
  }
  while (count > 0) {
    uint32_t len = MIN (count, sizeof zeroes);

    if (wf_nbd_write (n, gen, zeroes, len, offset, false) == -1)
      return -1;
    count -= len;
    offset += len;
  }
  return 0;
}

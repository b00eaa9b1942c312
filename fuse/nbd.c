/* NBD backing: the disk passed through to an NBD server with libnbd, for
 * a disk whose cache lives elsewhere (nbdkit --filter=wcache), as the
 * disk ops wf_nbd_ops (wcache-fuse.h; the other is local.c).  Nothing is
 * cached here: reads, writes, FUA, zeroes, trims and flushes go straight
 * to the server, so the server's rules (S1-S10) are the disk's.
 *
 * Connections.  libnbd runs one synchronous command per handle at a time,
 * so when the server advertises multi-conn (a flush on one connection
 * covers writes acknowledged on all of them, as wcache's filter does) a
 * set holds WF_NBD_CONNECTIONS handles and requests are spread over them;
 * otherwise one handle carries everything, flushes included, which keeps
 * S3 honest for servers without multi-conn.
 *
 * Power cuts.  wcache's filter fails a connection that was open across a
 * cut with EIO for ever, as a device reset would; one connected while the
 * power is off works once it is on.  So connection sets form generations:
 * every file of the disk carries the generation it was opened in, and its
 * requests fail with EIO once a newer set has replaced it, as a local
 * disk's file opened before a cut does (fs.c).  Whether the current set
 * is still good is decided at each open of the disk, and only there, one
 * open at a time (open_lock):
 *   - a probe (a read of the first sector) on the current set works: the
 *     set is good (and marked verified: it has worked since it was made);
 *   - it fails: a fresh connection is made and probed the same way.
 *     It works: the power is on and the set is dead; the fresh connection
 *     starts the next generation.  It fails too: the power is off (or the
 *     first sector cannot be read); a set that was verified is then dead
 *     (a cut came after it worked): the fresh connection starts the next
 *     generation, good once the power is back; an unverified set was
 *     itself made while the power was off, so it is kept (the files
 *     opened after the cut hold it).
 * So a reconnect happens at most once per generation, only an open
 * decides it, and a failure of an older generation's file never costs the
 * current set its files.  (One case it cannot see: a set made while the
 * power was off, never used after power-on, and then cut again, is kept
 * if the next open also comes while the power is off; that file fails
 * after power-on, and the open after it reconnects.)
 *
 * Timeouts.  libnbd 1.14 has no per-request timeout, so connects and
 * probes use the asynchronous API and poll with a deadline
 * (n->timeout_us): a server that accepts but never answers cannot hang an
 * open.  A probe that cannot even get its handle (a request stuck on it)
 * gives up at the same deadline.  On a timeout the open keeps the current
 * set; requests themselves wait as long as the server takes, as a disk's.
 *
 * FUA.  A write that must be durable goes with NBD_CMD_FLAG_FUA when the
 * server offers it, else as write + flush; a zero is always zero + flush
 * (lib/emulate.h, which also writes the zeros for a server without
 * WRITE_ZEROES).  A server that offers no flush
 * is write-through (its writes are durable when acknowledged), so flush
 * is a no-op then, as QEMU's client treats it.
 *
 * Locking.  open_lock serialises the open-time decision (probes and
 * reconnects).  n->lock protects n->cur (the pointer) and is held only to
 * read it and take a reference: a request holds a reference to its set
 * for its duration, never a lock, so a reconnect swaps sets at once and
 * the old one is closed when its last request ends.  Each connection's
 * c->lock is held for one libnbd call on it (requests, probes): the probe
 * waits for it with a deadline.  Lock order: open_lock, then c->lock, then
 * n->lock.  A set's refs and verified are atomic; everything else in a
 * set is immutable once it is current.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include <glib.h>
#include <libnbd.h>

#include "emulate.h"
#include "wcache-fuse.h"

#define WF_NBD_CONNECTIONS 4
#define PROBE_LEN 512           /* the first sector, or the whole disk */

struct conn {
  pthread_mutex_t lock;         /* held for each libnbd call on h */
  struct nbd_handle *h;
};

/* A generation: connections made together. */
struct set {
  atomic_uint refs;             /* n->cur's, and one per request on it */
  uint64_t gen;
  unsigned nh;
  struct conn c[WF_NBD_CONNECTIONS];
  atomic_bool verified;         /* a request on it has worked */
  char probe_buf[PROBE_LEN];    /* a timed-out probe may fill it later */
};

struct wf_nbd {
  char *uri;                    /* immutable */
  int64_t timeout_us;           /* immutable: connects and probes */
  uint64_t size;                /* immutable, from the first connection */
  bool readonly, can_flush, can_fua, can_zero, multi_conn; /* likewise */

  pthread_mutex_t open_lock;    /* serialises wf_nbd_open_file's rounds;
                                 * protects round_done */
  atomic_uint_fast64_t round_started; /* rounds begun (under open_lock) */
  uint64_t round_done;          /* the last round that ended */
  pthread_mutex_t lock;         /* with open_lock, protects cur: written
                                 * holding both, read holding either */
  struct set *cur;
  atomic_uint next;             /* round robin */
};

static int
nbd_errno (void)
{
  int err = nbd_get_errno ();

  return err ? err : EIO;
}

static int64_t
deadline_of (const struct wf_nbd *n)
{
  return g_get_monotonic_time () + n->timeout_us;
}

/* Polls h until done (h, arg) is true or the deadline passes: 0, or -1
 * with errno (ETIMEDOUT, or libnbd's). */
static int
poll_until (struct nbd_handle *h, int64_t deadline,
            int (*done) (struct nbd_handle *h, void *arg), void *arg)
{
  int r;

  while ((r = done (h, arg)) == 0) {
    int64_t left = deadline - g_get_monotonic_time ();

    if (left <= 0) {
      errno = ETIMEDOUT;
      return -1;
    }
    if (nbd_poll (h, (int) MIN ((left + 999) / 1000, INT32_MAX)) == -1) {
      errno = nbd_errno ();
      return -1;
    }
  }
  if (r == -1) {
    errno = nbd_errno ();
    return -1;
  }
  return 0;
}

static int
connected (struct nbd_handle *h, void *arg)
{
  (void) arg;
  if (nbd_aio_is_connecting (h) == 1)
    return 0;
  if (nbd_aio_is_ready (h) == 1)
    return 1;
  return -1;                    /* dead or closed: libnbd says why */
}

static int
closed (struct nbd_handle *h, void *arg)
{
  (void) arg;
  return nbd_aio_is_closed (h) == 1 || nbd_aio_is_dead (h) == 1;
}

static int
command_done (struct nbd_handle *h, void *arg)
{
  return nbd_aio_command_completed (h, *(int64_t *) arg);
}

/* One handshaken connection, within the deadline. */
static struct nbd_handle *
connect_one (const struct wf_nbd *n, const char *uri, int64_t deadline,
             char **message)
{
  struct nbd_handle *h = nbd_create ();
  int err;

  if (!h) {
    *message = g_strdup_printf ("nbd_create: %s", nbd_get_error ());
    errno = ENOMEM;
    return NULL;
  }
  if (nbd_aio_connect_uri (h, uri) == -1)
    errno = nbd_errno ();
  else if (poll_until (h, deadline, connected, NULL) == 0)
    return h;
  err = errno;
  if (err == ETIMEDOUT)
    *message = g_strdup_printf ("%s: no handshake within %" PRId64 " s",
                                uri, n->timeout_us / G_USEC_PER_SEC);
  else
    *message = g_strdup_printf ("%s: %s", uri, nbd_get_error ());
  nbd_close (h);
  errno = err;
  return NULL;
}

/* Tells the server we go (within a short deadline), then closes. */
static void
close_handle (struct nbd_handle *h)
{
  if (nbd_aio_is_ready (h) == 1 && nbd_aio_disconnect (h, 0) == 0)
    (void) poll_until (h, g_get_monotonic_time () + G_USEC_PER_SEC, closed,
                       NULL);
  nbd_close (h);
}

static struct set *
set_new (uint64_t gen)
{
  struct set *s = g_new0 (struct set, 1);

  atomic_init (&s->refs, 1);
  s->gen = gen;
  for (unsigned i = 0; i < WF_NBD_CONNECTIONS; i++)
    pthread_mutex_init (&s->c[i].lock, NULL);
  return s;
}

static void
set_unref (struct set *s)
{
  if (atomic_fetch_sub (&s->refs, 1) != 1)
    return;
  for (unsigned i = 0; i < s->nh; i++)
    close_handle (s->c[i].h);
  for (unsigned i = 0; i < WF_NBD_CONNECTIONS; i++)
    pthread_mutex_destroy (&s->c[i].lock);
  g_free (s);
}

/* Fills s: first (if not NULL) and the rest of a set, within the
 * deadline.  On failure closes what it made (first too). */
static int
set_connect (struct wf_nbd *n, struct set *s, struct nbd_handle *first,
             int64_t deadline, char **message)
{
  unsigned want = n->multi_conn ? WF_NBD_CONNECTIONS : 1;
  int err;

  s->nh = 0;
  if (first)
    s->c[s->nh++].h = first;
  while (s->nh < want) {
    struct nbd_handle *h = connect_one (n, n->uri, deadline, message);

    if (!h) {
      err = errno;
      for (unsigned i = 0; i < s->nh; i++)
        close_handle (s->c[i].h);
      s->nh = 0;
      errno = err;
      return -1;
    }
    s->c[s->nh++].h = h;
  }
  return 0;
}

struct wf_nbd *
wf_nbd_open (const char *uri, bool readonly, unsigned timeout_s,
             char **message)
{
  struct wf_nbd *n = g_new0 (struct wf_nbd, 1);
  struct nbd_handle *h;
  int64_t size;
  int err;

  n->uri = g_strdup (uri);
  n->timeout_us = (int64_t) timeout_s * G_USEC_PER_SEC;
  h = connect_one (n, uri, deadline_of (n), message);
  if (!h)
    goto fail;
  size = nbd_get_size (h);
  if (size == -1) {
    err = nbd_errno ();
    *message = g_strdup_printf ("%s: size: %s", uri, nbd_get_error ());
    close_handle (h);
    errno = err;
    goto fail;
  }
  n->size = size;
  n->readonly = readonly || nbd_is_read_only (h) == 1;
  n->can_flush = nbd_can_flush (h) == 1;
  n->can_fua = nbd_can_fua (h) == 1;
  n->can_zero = nbd_can_zero (h) == 1;
  n->multi_conn = nbd_can_multi_conn (h) == 1;
  n->cur = set_new (0);
  if (set_connect (n, n->cur, h, deadline_of (n), message) == -1) {
    err = errno;
    set_unref (n->cur);
    errno = err;
    goto fail;
  }
  pthread_mutex_init (&n->open_lock, NULL);
  pthread_mutex_init (&n->lock, NULL);
  return n;

 fail:
  err = errno;
  g_free (n->uri);
  g_free (n);
  errno = err;
  return NULL;
}

void
wf_nbd_close (struct wf_nbd *n)
{
  if (!n)
    return;
  set_unref (n->cur);
  pthread_mutex_destroy (&n->lock);
  pthread_mutex_destroy (&n->open_lock);
  g_free (n->uri);
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

/* ---- Open: is the current set still good? ------------------------------- */

/* Reads the first sector through h (c->lock held), within the deadline:
 * 0, or -1 with errno (ETIMEDOUT if the server did not answer). */
static int
probe_locked (struct wf_nbd *n, struct nbd_handle *h, char *buf,
              int64_t deadline)
{
  int64_t cookie = nbd_aio_pread (h, buf, MIN (n->size, PROBE_LEN), 0,
                                  NBD_NULL_COMPLETION, 0);

  if (cookie == -1) {
    errno = nbd_errno ();
    return -1;
  }
  return poll_until (h, deadline, command_done, &cookie);
}

/* Probes set s on a connection of its own (c->lock, waited for until the
 * deadline: a request stuck on every connection is a wedged server). */
static int
probe_set (struct wf_nbd *n, struct set *s, int64_t deadline)
{
  struct timespec ts;
  struct conn *c = NULL;
  int rv, err;

  for (unsigned i = 0; i < s->nh && !c; i++)
    if (pthread_mutex_trylock (&s->c[i].lock) == 0)
      c = &s->c[i];
  if (!c) {
    /* pthread's deadlines are CLOCK_REALTIME. */
    int64_t left = MAX (deadline - g_get_monotonic_time (), 0);

    clock_gettime (CLOCK_REALTIME, &ts);
    ts.tv_sec += left / G_USEC_PER_SEC;
    ts.tv_nsec += (left % G_USEC_PER_SEC) * 1000;
    if (ts.tv_nsec >= 1000000000) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000;
    }
    c = &s->c[0];
    err = pthread_mutex_timedlock (&c->lock, &ts);
    if (err) {
      errno = err;
      return -1;
    }
  }
  rv = probe_locked (n, c->h, s->probe_buf, deadline);
  err = errno;
  pthread_mutex_unlock (&c->lock);
  errno = err;
  return rv;
}

/* Makes a set the current one and drops the old (closed when its last
 * request ends). */
static void
replace_current (struct wf_nbd *n, struct set *s)
{
  struct set *old;

  pthread_mutex_lock (&n->lock);
  old = n->cur;
  n->cur = s;
  pthread_mutex_unlock (&n->lock);
  set_unref (old);
}

static uint64_t
wf_nbd_open_file (struct wf_nbd *n)
{
  g_autofree char *message = NULL;
  struct nbd_handle *fresh = NULL;
  struct set *cur, *s;
  uint64_t arrival = atomic_load (&n->round_started), round, gen;
  int64_t deadline;
  bool fresh_ok;

  pthread_mutex_lock (&n->open_lock);
  /* A round that began after this open arrived has decided for it too:
   * concurrent opens wait for one round, not one each. */
  if (n->round_done > arrival)
    goto out;
  round = atomic_fetch_add (&n->round_started, 1) + 1;
  deadline = deadline_of (n);
  cur = n->cur;
  if (n->size == 0 || probe_set (n, cur, deadline) == 0) {
    atomic_store (&cur->verified, true);
    goto done;
  }
  if (errno == ETIMEDOUT) {
    g_warning ("%s: no reply within %" PRId64 " s; keeping the connections",
               n->uri, n->timeout_us / G_USEC_PER_SEC);
    goto done;
  }
  /* The set failed: is the power off, or is the set dead? */
  fresh = connect_one (n, n->uri, deadline, &message);
  if (!fresh) {
    g_warning ("reconnecting: %s", message);
    goto done;
  }
  s = set_new (cur->gen + 1);
  /* Into the new set's buffer: if the probe times out, a late reply lands
   * there, and the set is freed only after its handles are closed. */
  if (probe_locked (n, fresh, s->probe_buf, deadline) == 0)
    fresh_ok = true;
  else if (errno != ETIMEDOUT)
    fresh_ok = false;
  else {
    g_warning ("%s: no reply within %" PRId64 " s; keeping the connections",
               n->uri, n->timeout_us / G_USEC_PER_SEC);
    close_handle (fresh);
    set_unref (s);
    goto done;
  }
  if (!fresh_ok && !atomic_load (&cur->verified)) {
    /* Both fail and the set never worked: it was made while the power
     * was off too, and works once it is on. */
    close_handle (fresh);
    set_unref (s);
    goto done;
  }
  /* A fresh connection works where the set fails, or the set worked
   * before and the power has gone since: the set is dead. */
  if (set_connect (n, s, fresh, deadline, &message) == -1) {
    g_warning ("reconnecting: %s", message);
    set_unref (s);
    goto done;
  }
  atomic_store (&s->verified, fresh_ok);
  replace_current (n, s);

 done:
  n->round_done = round;
 out:
  gen = n->cur->gen;
  pthread_mutex_unlock (&n->open_lock);
  return gen;
}

/* ---- Requests ------------------------------------------------------------ */

/* The set for one request of a file opened in generation gen, with a
 * reference, and a connection of it (locked): NULL with EIO if the set
 * has been replaced since. */
static struct set *
begin (struct wf_nbd *n, uint64_t gen, struct conn **c)
{
  struct set *s;

  pthread_mutex_lock (&n->lock);
  s = n->cur;
  if (s->gen != gen) {
    pthread_mutex_unlock (&n->lock);
    errno = EIO;
    return NULL;
  }
  atomic_fetch_add (&s->refs, 1);
  pthread_mutex_unlock (&n->lock);
  *c = &s->c[atomic_fetch_add (&n->next, 1) % s->nh];
  pthread_mutex_lock (&(*c)->lock);
  return s;
}

/* Ends it; libnbd's -1 becomes -1 with errno. */
static int
end (struct set *s, struct conn *c, int64_t rv)
{
  int err = rv == -1 ? nbd_errno () : 0;

  pthread_mutex_unlock (&c->lock);
  if (rv != -1 && !atomic_load (&s->verified))
    atomic_store (&s->verified, true);
  set_unref (s);
  errno = err;
  return rv == -1 ? -1 : 0;
}

static int
wf_nbd_read (struct wf_nbd *n, uint64_t gen, void *buf, uint32_t count,
             uint64_t offset)
{
  struct conn *c;
  struct set *s = begin (n, gen, &c);

  return s ? end (s, c, nbd_pread (c->h, buf, count, offset, 0)) : -1;
}

static int
wf_nbd_flush (struct wf_nbd *n, uint64_t gen)
{
  struct conn *c;
  struct set *s;

  if (!n->can_flush)
    return 0;
  s = begin (n, gen, &c);
  return s ? end (s, c, nbd_flush (c->h, 0)) : -1;
}

/* One request's connections, for the emulation of FUA and zeroes. */
struct request {
  struct wf_nbd *n;
  uint64_t gen;
};

static int
request_pwrite (void *opaque, const void *buf, uint32_t count,
                uint64_t offset, bool fua)
{
  struct request *r = opaque;
  struct conn *c;
  struct set *s = begin (r->n, r->gen, &c);

  return s ? end (s, c, nbd_pwrite (c->h, buf, count, offset,
                                    fua ? LIBNBD_CMD_FLAG_FUA : 0)) : -1;
}

static int
request_flush (void *opaque)
{
  struct request *r = opaque;

  return wf_nbd_flush (r->n, r->gen);
}

static struct wc_emulate
emulate_of (struct request *r)
{
  return (struct wc_emulate) {
    .opaque = r,
    .can_fua = r->n->can_fua,
    .write = request_pwrite,
    .flush = request_flush,
  };
}

static int
wf_nbd_write (struct wf_nbd *n, uint64_t gen, const void *buf,
              uint32_t count, uint64_t offset, bool fua)
{
  struct request r = { .n = n, .gen = gen };
  struct wc_emulate em = emulate_of (&r);

  return wc_emulate_write (&em, buf, count, offset, fua);
}

static int
wf_nbd_zero (struct wf_nbd *n, uint64_t gen, uint32_t count,
             uint64_t offset, bool trim, bool fua)
{
  struct request r = { .n = n, .gen = gen };
  struct wc_emulate em = emulate_of (&r);
  struct conn *c;
  struct set *s;
  int rv;

  if (!n->can_zero)
    return wc_emulate_zero (&em, count, offset, fua);
  /* NBD_CMD_TRIM may leave anything behind, but a punched hole reads as
   * zeros; NBD_CMD_WRITE_ZEROES without NO_HOLE may punch and must zero. */
  s = begin (n, gen, &c);
  rv = s ? end (s, c, nbd_zero (c->h, count, offset,
                                trim ? 0 : LIBNBD_CMD_FLAG_NO_HOLE)) : -1;
  return wc_emulate_fua (&em, rv, fua);
}

/* ---- The disk ops (wcache-fuse.h) ------------------------------------- */

static uint64_t
nbd_disk_open_file (void)
{
  return wf_nbd_open_file (wf.nbd);
}

static int
nbd_disk_read (uint64_t gen, void *buf, uint32_t count, uint64_t offset)
{
  return wf_nbd_read (wf.nbd, gen, buf, count, offset);
}

static int
nbd_disk_write (uint64_t gen, const void *buf, uint32_t count,
                uint64_t offset, bool fua)
{
  return wf_nbd_write (wf.nbd, gen, buf, count, offset, fua);
}

static int
nbd_disk_zero (uint64_t gen, uint32_t count, uint64_t offset, bool trim,
               bool fua)
{
  return wf_nbd_zero (wf.nbd, gen, count, offset, trim, fua);
}

static int
nbd_disk_flush (uint64_t gen)
{
  return wf_nbd_flush (wf.nbd, gen);
}

/* Control files only with --control-of: the cache is the server's. */
static bool
nbd_disk_has_control_files (void)
{
  return wf.control_of != NULL;
}

/* Nothing is cached here: unmounting only flushes, if asked, through a
 * connection of the current generation. */
static void
nbd_disk_unmount (bool flush)
{
  if (flush && wf_nbd_flush (wf.nbd, wf_nbd_open_file (wf.nbd)) == -1)
    wf_report ("flush at unmount: %s", g_strerror (errno));
}

static void
nbd_disk_close (void)
{
  wf_nbd_close (wf.nbd);
}

const struct wf_disk_ops wf_nbd_ops = {
  .open_file = nbd_disk_open_file,
  .keep_cache = false,
  .read = nbd_disk_read,
  .write = nbd_disk_write,
  .zero = nbd_disk_zero,
  .flush = nbd_disk_flush,
  .has_control_files = nbd_disk_has_control_files,
  .command = wf_remote_command,
  .unmount = nbd_disk_unmount,
  .close = nbd_disk_close,
};

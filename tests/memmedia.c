/* In-memory media for engine tests; see memmedia.h.
 * Locking: m->lock protects the buffer and counters; the hook runs unlocked. */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "memmedia.h"

static void
run_hook (struct memmedia *m, enum mm_op op, uint64_t offset, uint32_t count)
{
  if (m->hook)
    m->hook (m, op, offset, count, m->hook_arg);
}

static bool
take_failure (int *n)
{
  if (*n == 0)
    return false;
  if (*n > 0)
    (*n)--;
  return true;
}

static int
mm_read (void *opaque, void *buf, uint32_t count, uint64_t offset)
{
  struct memmedia *m = opaque;
  int rv = 0;

  run_hook (m, MM_READ, offset, count);
  pthread_mutex_lock (&m->lock);
  g_assert_cmpuint (offset + count, <=, m->size);
  if (take_failure (&m->fail_reads))
    rv = -1;
  else {
    memcpy (buf, m->buf + offset, count);
    m->reads++;
  }
  pthread_mutex_unlock (&m->lock);
  if (rv == -1)
    errno = EIO;
  return rv;
}

/* Stores count bytes at offset: from iov (iovcnt buffers, whose lengths
 * must add up to count), or zeros if iov is NULL.  A failure stores
 * nothing. */
static int
mm_store (struct memmedia *m, enum mm_op op, const struct iovec *iov,
          int iovcnt, uint32_t count, uint64_t offset, bool fua)
{
  int rv = 0;

  run_hook (m, op, offset, count);
  pthread_mutex_lock (&m->lock);
  g_assert_cmpuint (offset + count, <=, m->size);
  if (take_failure (&m->fail_writes)) {
    rv = -1;
  }
  else {
    if (iov) {
      uint64_t pos = offset;

      for (int i = 0; i < iovcnt; i++) {
        g_assert_cmpuint (pos + iov[i].iov_len, <=, offset + count);
        memcpy (m->buf + pos, iov[i].iov_base, iov[i].iov_len);
        pos += iov[i].iov_len;
      }
      g_assert_cmpuint (pos, ==, offset + count);
    }
    else
      memset (m->buf + offset, 0, count);
    if (fua && m->durable)
      memcpy (m->durable + offset, m->buf + offset, count);
    if (op == MM_WRITE)
      m->writes++;
    else
      m->zeroes++;
    if (fua)
      m->fua_writes++;
  }
  pthread_mutex_unlock (&m->lock);
  if (rv == -1)
    errno = EIO;
  return rv;
}

static int
mm_write (void *opaque, const void *buf, uint32_t count, uint64_t offset,
          bool fua)
{
  struct iovec iov = { .iov_base = (void *) buf, .iov_len = count };

  return mm_store (opaque, MM_WRITE, &iov, 1, count, offset, fua);
}

static int
mm_writev (void *opaque, const struct iovec *iov, int iovcnt, uint32_t count,
           uint64_t offset, bool fua)
{
  return mm_store (opaque, MM_WRITE, iov, iovcnt, count, offset, fua);
}

static int
mm_zero (void *opaque, uint32_t count, uint64_t offset, bool fua)
{
  return mm_store (opaque, MM_ZERO, NULL, 0, count, offset, fua);
}

static int
mm_flush (void *opaque)
{
  struct memmedia *m = opaque;
  int rv = 0;

  run_hook (m, MM_FLUSH, 0, 0);
  pthread_mutex_lock (&m->lock);
  if (take_failure (&m->fail_flushes))
    rv = -1;
  else {
    m->flushes++;
    if (m->durable)
      memcpy (m->durable, m->buf, m->size);
  }
  pthread_mutex_unlock (&m->lock);
  if (rv == -1)
    errno = EIO;
  return rv;
}

static void
mm_set_mode (void *opaque, enum wc_mode mode)
{
  struct memmedia *m = opaque;

  pthread_mutex_lock (&m->lock);
  m->set_modes++;
  m->mode = mode;
  pthread_mutex_unlock (&m->lock);
}

const struct wc_media_ops memmedia_ops = {
  .read = mm_read,
  .write = mm_write,
  .zero = mm_zero,
  .flush = mm_flush,
  .set_mode = mm_set_mode,
};

const struct wc_media_ops memmedia_writev_ops = {
  .read = mm_read,
  .write = mm_write,
  .zero = mm_zero,
  .flush = mm_flush,
  .writev = mm_writev,
  .set_mode = mm_set_mode,
};

struct memmedia *
memmedia_new (uint64_t size)
{
  struct memmedia *m = g_new0 (struct memmedia, 1);

  pthread_mutex_init (&m->lock, NULL);
  m->size = size;
  m->buf = g_malloc0 (size);
  return m;
}

void
memmedia_free (struct memmedia *m)
{
  pthread_mutex_destroy (&m->lock);
  g_free (m->durable);
  g_free (m->buf);
  g_free (m);
}

void
memmedia_config (struct memmedia *m, struct wc_config *cfg)
{
  wc_config_init (cfg);
  cfg->size = m->size;
  cfg->ops = &memmedia_ops;
  cfg->opaque = m;
}

int
memmedia_read_direct (void *opaque, void *buf, uint32_t count,
                      uint64_t offset)
{
  struct memmedia *m = opaque;

  pthread_mutex_lock (&m->lock);
  memcpy (buf, m->buf + offset, count);
  pthread_mutex_unlock (&m->lock);
  return 0;
}

void
memmedia_track_durable (struct memmedia *m)
{
  pthread_mutex_lock (&m->lock);
  g_free (m->durable);
  m->durable = g_memdup2 (m->buf, m->size);
  pthread_mutex_unlock (&m->lock);
}

int
memmedia_read_durable (void *opaque, void *buf, uint32_t count,
                       uint64_t offset)
{
  struct memmedia *m = opaque;

  pthread_mutex_lock (&m->lock);
  g_assert_nonnull (m->durable);
  memcpy (buf, m->durable + offset, count);
  pthread_mutex_unlock (&m->lock);
  return 0;
}

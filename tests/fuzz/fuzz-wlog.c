/* Fuzz target for the write log reader and replay (lib/wlog*.c).
 *
 * The input is a log file, read through wc_wlog_open_mem.  Besides
 * crashes and sanitizer reports, it checks:
 *   - a refused log or entry comes with errno and a message, and a bad
 *     entry's message names the entry that was next ("entry N: ...");
 *   - every accepted entry's header and data lie inside the input, and
 *     wc_wlog_read_data returns exactly the input's bytes there;
 *   - replaying the accepted entries onto a small image never writes
 *     outside it, and gives what a model (memcpy/memset over the input)
 *     gives; a replay refused for a bad entry or a range past the image
 *     writes nothing.
 * Built with libFuzzer (make fuzz-wlog) it explores; built without (make
 * check) fuzz-main.c replays the corpus as a regression test.
 */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "wlog.h"

#define IMAGE_SIZE (64 * 1024)

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define require(cond)                                                   \
  do {                                                                  \
    if (!(cond)) {                                                      \
      fprintf (stderr, "fuzz-wlog: %s:%d: %s\n", __FILE__, __LINE__,   \
               #cond);                                                  \
      abort ();                                                         \
    }                                                                   \
  } while (0)

struct image {
  uint8_t buf[IMAGE_SIZE];
  unsigned ops;
};

static int
img_write (void *opaque, const void *buf, uint32_t count, uint64_t offset,
           bool fua)
{
  struct image *im = opaque;

  require (offset <= IMAGE_SIZE && count <= IMAGE_SIZE - offset);
  require (!fua);
  memcpy (im->buf + offset, buf, count);
  im->ops++;
  return 0;
}

static int
img_zero (void *opaque, uint32_t count, uint64_t offset, bool fua)
{
  struct image *im = opaque;

  require (offset <= IMAGE_SIZE && count <= IMAGE_SIZE - offset);
  require (!fua);
  memset (im->buf + offset, 0, count);
  im->ops++;
  return 0;
}

static const struct wc_media_ops img_ops = {
  .write = img_write,
  .zero = img_zero,
};

static void
check_message (const char *message, int err)
{
  require (message != NULL && message[0] != '\0');
  require (err != 0);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *message = NULL;
  g_autofree uint8_t *buf = NULL;
  struct wc_wlog *r = wc_wlog_open_mem (data, size, &message);
  struct images { struct image replayed, model; } *im;
  struct wc_wlog_entry e;
  uint64_t n = 0, ss;
  bool fits = true;
  int ret;

  if (!r) {
    check_message (message, errno);
    return 0;
  }
  ss = wc_wlog_sector_size (r);
  require (wc_wlog_sector_size_ok (ss) && ss <= size);
  im = g_new0 (struct images, 1);
  memset (im->model.buf, 0xee, IMAGE_SIZE);

  while ((ret = wc_wlog_next (r, &e, &message)) == 1) {
    require (e.index == n);
    require (e.header_offset >= ss && e.header_offset <= size - ss);
    require (e.data_offset == e.header_offset + ss);
    require (e.data_offset <= size && e.data_size <= size - e.data_offset);
    require (e.offset == e.sector * ss && e.length == e.nr_sectors * ss);
    switch (e.kind) {
    case WC_WLOG_KIND_WRITE:
      require (e.data_size == e.length && e.length > 0);
      buf = g_realloc (buf, e.data_size);
      require (wc_wlog_read_data (r, &e, 0, buf, e.data_size, &message)
               == 0);
      require (memcmp (buf, data + e.data_offset, e.data_size) == 0);
      break;
    case WC_WLOG_KIND_DISCARD:
      require (e.data_size == 0 && e.length > 0);
      break;
    case WC_WLOG_KIND_FLUSH:
      require (e.flags == WC_WLOG_FLUSH && e.length == 0);
      break;
    case WC_WLOG_KIND_MARK:
      require (e.mark && strlen (e.mark) == e.data_len);
      require (memcmp (e.mark, data + e.header_offset + WC_WLOG_HEADER_BYTES,
                       e.data_len) == 0);
      break;
    }
    require (e.kind == WC_WLOG_KIND_MARK || e.mark == NULL);
    /* The model: the first entries that fit in the image. */
    if (fits && (e.kind == WC_WLOG_KIND_WRITE ||
                 e.kind == WC_WLOG_KIND_DISCARD))
      fits = e.offset <= IMAGE_SIZE && e.length <= IMAGE_SIZE - e.offset;
    if (fits && e.kind == WC_WLOG_KIND_WRITE)
      memcpy (im->model.buf + e.offset, data + e.data_offset, e.length);
    if (fits && e.kind == WC_WLOG_KIND_DISCARD)
      memset (im->model.buf + e.offset, 0, e.length);
    n++;
  }
  if (ret == -1) {
    g_autofree char *prefix = g_strdup_printf ("entry %" G_GUINT64_FORMAT
                                               ": ", n);

    check_message (message, errno);
    require (g_str_has_prefix (message, prefix));
    require (n < wc_wlog_nr_entries (r));
    /* The reader stays on the bad entry. */
    g_clear_pointer (&message, g_free);
    require (wc_wlog_next (r, &e, &message) == -1);
  }
  else
    require (n == wc_wlog_nr_entries (r));
  g_clear_pointer (&message, g_free);

  /* Replay what was accepted: the model's image, or nothing at all. */
  memset (im->replayed.buf, 0xee, IMAGE_SIZE);
  ret = wc_wlog_replay (r, n, &img_ops, &im->replayed, IMAGE_SIZE, &message);
  if (fits) {
    require (ret == 0);
    require (memcmp (im->replayed.buf, im->model.buf, IMAGE_SIZE) == 0);
  }
  else {
    require (ret == -1 && errno == ENOSPC);
    require (im->replayed.ops == 0);
  }
  g_clear_pointer (&message, g_free);

  /* One entry more, if the log has more: the bad one, refused whole. */
  if (n < wc_wlog_nr_entries (r)) {
    im->replayed.ops = 0;
    ret = wc_wlog_replay (r, n + 1, &img_ops, &im->replayed, IMAGE_SIZE,
                          &message);
    require (ret == -1);
    check_message (message, errno);
    require (im->replayed.ops == 0);
  }

  g_free (im);
  wc_wlog_close (r);
  return 0;
}

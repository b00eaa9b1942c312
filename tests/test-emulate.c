/* Unit tests for lib/emulate.c: FUA by a flush after the write, zeroes by
 * writes, checked against a fake layer that records every call. */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <glib.h>

#include "emulate.h"

/* The fake layer: a small disk and the calls it saw, as "w OFF+LEN[F]"
 * and "f". */
struct layer {
  char disk[3 * WC_ZERO_CHUNK];
  GString *calls;
  int fail_write_at;            /* 1-based call number, 0: never */
  bool fail_flush;
  int nwrites;
};

static int
layer_write (void *opaque, const void *buf, uint32_t count, uint64_t offset,
             bool fua)
{
  struct layer *l = opaque;

  g_string_append_printf (l->calls, "w %" G_GUINT64_FORMAT "+%u%s ",
                          offset, count, fua ? "F" : "");
  if (++l->nwrites == l->fail_write_at) {
    errno = ENOSPC;
    return -1;
  }
  g_assert_cmpuint (((uintptr_t) buf) % WC_ZERO_ALIGN, ==, 0);
  memcpy (l->disk + offset, buf, count);
  return 0;
}

static int
layer_flush (void *opaque)
{
  struct layer *l = opaque;

  g_string_append (l->calls, "f ");
  if (l->fail_flush) {
    errno = EIO;
    return -1;
  }
  return 0;
}

static struct layer *
layer_new (void)
{
  struct layer *l = g_new0 (struct layer, 1);

  memset (l->disk, 'x', sizeof l->disk);
  l->calls = g_string_new (NULL);
  return l;
}

static void
layer_free (struct layer *l)
{
  g_string_free (l->calls, TRUE);
  g_free (l);
}

static struct wc_emulate
emulate_of (struct layer *l, bool can_fua)
{
  return (struct wc_emulate) {
    .opaque = l, .can_fua = can_fua,
    .write = layer_write, .flush = layer_flush,
  };
}

static _Alignas (WC_ZERO_ALIGN) const char data[4096];

static void
test_write_fua (void)
{
  struct layer *l = layer_new ();
  struct wc_emulate native = emulate_of (l, true);
  struct wc_emulate emulated = emulate_of (l, false);

  g_assert_cmpint (wc_emulate_write (&native, data, 512, 0, false), ==, 0);
  g_assert_cmpint (wc_emulate_write (&native, data, 512, 0, true), ==, 0);
  g_assert_cmpint (wc_emulate_write (&emulated, data, 512, 0, false), ==, 0);
  g_assert_cmpint (wc_emulate_write (&emulated, data, 512, 0, true), ==, 0);
  g_assert_cmpstr (l->calls->str, ==, "w 0+512 w 0+512F w 0+512 w 0+512 f ");
  layer_free (l);
}

/* No flush after a failed write; a failed flush fails the write. */
/* No flush after a failed write; a failed flush fails the request; a
 * failed chunk ends the zeroing. */
static void
test_errors (void)
{
  struct layer *l = layer_new ();
  struct wc_emulate em = emulate_of (l, false);

  l->fail_write_at = 1;
  g_assert_cmpint (wc_emulate_write (&em, data, 512, 0, true), ==, -1);
  g_assert_cmpint (errno, ==, ENOSPC);
  l->fail_flush = true;
  g_assert_cmpint (wc_emulate_write (&em, data, 512, 0, true), ==, -1);
  g_assert_cmpint (errno, ==, EIO);
  l->fail_write_at = 4;
  g_assert_cmpint (wc_emulate_zero (&em, 2 * WC_ZERO_CHUNK, 0, true), ==, -1);
  g_assert_cmpint (errno, ==, ENOSPC);
  g_assert_cmpstr (l->calls->str, ==,
                   "w 0+512 w 0+512 f w 0+65536 w 65536+65536 ");
  g_assert_cmpint (wc_emulate_zero (&em, 0, 0, false), ==, 0);
  layer_free (l);
}

static void
test_zero_chunks (void)
{
  struct layer *l = layer_new ();
  struct wc_emulate em = emulate_of (l, true);
  uint32_t count = 2 * WC_ZERO_CHUNK + 100;

  g_assert_cmpint (wc_emulate_zero (&em, count, 50, true), ==, 0);
  /* Chunks never carry FUA, even when the layer takes it: one flush. */
  g_assert_cmpstr (l->calls->str, ==,
                   "w 50+65536 w 65586+65536 w 131122+100 f ");
  g_assert_cmpint (l->disk[49], ==, 'x');
  for (uint32_t i = 0; i < count; i++)
    g_assert_cmpint (l->disk[50 + i], ==, 0);
  g_assert_cmpint (l->disk[50 + count], ==, 'x');
  layer_free (l);
}

static void
test_fua_after (void)
{
  struct layer *l = layer_new ();
  struct wc_emulate em = emulate_of (l, false);

  errno = EPERM;
  g_assert_cmpint (wc_emulate_fua (&em, -1, true), ==, -1);
  g_assert_cmpint (errno, ==, EPERM);
  g_assert_cmpint (wc_emulate_fua (&em, 0, false), ==, 0);
  g_assert_cmpint (wc_emulate_fua (&em, 0, true), ==, 0);
  g_assert_cmpstr (l->calls->str, ==, "f ");
  layer_free (l);
}

/* GTest paths name the rule where there is one (S2: FUA). */
static const struct {
  const char *path;
  GTestFunc run;
} tests[] = {
  { "/emulate/S2/write-fua-by-flush", test_write_fua },
  { "/emulate/S2/fua-after", test_fua_after },
  { "/emulate/zero-chunks", test_zero_chunks },
  { "/emulate/errors", test_errors },
};

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  for (size_t i = 0; i < G_N_ELEMENTS (tests); i++)
    g_test_add_func (tests[i].path, tests[i].run);
  return g_test_run ();
}

/* Unit tests for the write log format, reader and replay (lib/wlog*.h).
 *
 * Logs are built by hand in memory with the format's encoders (the same
 * ones a writer uses), then damaged one rule at a time: each rule of the
 * reader has its own test, which asserts the index of the entry named and
 * the reason given.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "memmedia.h"
#include "wlog.h"

/* ---- Building logs ------------------------------------------------------- */

struct logbuf {
  GByteArray *b;
  uint32_t ss;
  uint64_t n;                   /* entries appended */
};

static struct logbuf *
lb_new (uint32_t ss)
{
  struct logbuf *lb = g_new0 (struct logbuf, 1);

  lb->b = g_byte_array_new ();
  lb->ss = ss;
  g_byte_array_set_size (lb->b, ss);
  wc_wlog_super_encode (lb->b->data, ss, 0);
  return lb;
}

static void
lb_free (struct logbuf *lb)
{
  g_byte_array_unref (lb->b);
  g_free (lb);
}
typedef struct logbuf logbuf;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (logbuf, lb_free)

/* Sets nr_entries in the superblock (the entries appended by default). */
static void
lb_set_nr (struct logbuf *lb, uint64_t nr)
{
  struct wc_wlog_super s = {
    WC_WLOG_MAGIC, WC_WLOG_VERSION, nr, lb->ss
  };

  wc_wlog_super_put (lb->b->data, &s);
}

/* Appends an entry header sector, and data_sectors sectors of fill after
 * it; returns the header's offset in the log. */
static size_t
lb_raw (struct logbuf *lb, uint64_t sector, uint64_t nr_sectors,
        uint64_t flags, uint64_t data_len, const char *mark,
        uint64_t data_sectors, uint8_t fill)
{
  const struct wc_wlog_header h = { sector, nr_sectors, flags, data_len };
  size_t at = lb->b->len;

  g_byte_array_set_size (lb->b, at + lb->ss + data_sectors * lb->ss);
  wc_wlog_header_encode (lb->b->data + at, lb->ss, &h, mark);
  memset (lb->b->data + at + lb->ss, fill, data_sectors * lb->ss);
  lb->n++;
  lb_set_nr (lb, lb->n);
  return at;
}

/* Rewrites the header fields of the entry at offset at (text untouched). */
static void
lb_patch (struct logbuf *lb, size_t at, uint64_t sector, uint64_t nr_sectors,
          uint64_t flags, uint64_t data_len)
{
  const struct wc_wlog_header h = { sector, nr_sectors, flags, data_len };

  wc_wlog_header_put (lb->b->data + at, &h);
}

static size_t
lb_write (struct logbuf *lb, uint64_t sector, uint64_t n, uint8_t fill,
          uint64_t flags)
{
  return lb_raw (lb, sector, n, flags, 0, NULL, n, fill);
}

static size_t
lb_discard (struct logbuf *lb, uint64_t sector, uint64_t n)
{
  return lb_raw (lb, sector, n, WC_WLOG_DISCARD, 0, NULL, 0, 0);
}

static size_t
lb_flush (struct logbuf *lb)
{
  return lb_raw (lb, 0, 0, WC_WLOG_FLUSH, 0, NULL, 0, 0);
}

static size_t
lb_mark (struct logbuf *lb, const char *text)
{
  return lb_raw (lb, 0, 0, WC_WLOG_MARK, strlen (text), text, 0, 0);
}

/* A typical log: write, write FUA, discard, flush, mark. */
static void
lb_typical (struct logbuf *lb)
{
  lb_write (lb, 0, 2, 0x11, 0);
  lb_write (lb, 8, 1, 0x22, WC_WLOG_FUA);
  lb_discard (lb, 2, 2);
  lb_flush (lb);
  lb_mark (lb, "after flush");
}

static struct wc_wlog *
open_ok (struct logbuf *lb)
{
  g_autofree char *msg = NULL;
  struct wc_wlog *r = wc_wlog_open_mem (lb->b->data, lb->b->len, &msg);

  g_assert_null (msg);
  g_assert_nonnull (r);
  return r;
}

/* Reads every entry; asserts there are n and they are valid. */
static void
expect_valid (struct logbuf *lb, uint64_t n)
{
  struct wc_wlog *r = open_ok (lb);
  g_autofree char *msg = NULL;
  struct wc_wlog_entry e;
  uint64_t i = 0;
  int ret;

  while ((ret = wc_wlog_next (r, &e, &msg)) == 1)
    g_assert_cmpuint (e.index, ==, i++);
  g_assert_null (msg);
  g_assert_cmpint (ret, ==, 0);
  g_assert_cmpuint (i, ==, n);
  wc_wlog_close (r);
}

/* Reads the entries before index, then expects entry index to fail with
 * EINVAL and "entry INDEX: reason". */
static void
expect_bad (struct logbuf *lb, uint64_t index, const char *reason)
{
  struct wc_wlog *r = open_ok (lb);
  g_autofree char *msg = NULL;
  g_autofree char *want = g_strdup_printf ("entry %" G_GUINT64_FORMAT ": %s",
                                           index, reason);
  struct wc_wlog_entry e;

  for (uint64_t i = 0; i < index; i++)
    g_assert_cmpint (wc_wlog_next (r, &e, &msg), ==, 1);
  errno = 0;
  g_assert_cmpint (wc_wlog_next (r, &e, &msg), ==, -1);
  g_assert_cmpint (errno, ==, EINVAL);
  g_assert_cmpstr (msg, ==, want);
  wc_wlog_close (r);
}

/* Expects open to fail with EINVAL and "superblock: reason". */
static void
expect_bad_super (const void *buf, size_t len, const char *reason)
{
  g_autofree char *msg = NULL;
  g_autofree char *want = g_strdup_printf ("superblock: %s", reason);

  errno = 0;
  g_assert_null (wc_wlog_open_mem (buf, len, &msg));
  g_assert_cmpint (errno, ==, EINVAL);
  g_assert_cmpstr (msg, ==, want);
}

/* ---- Encoders ------------------------------------------------------------ */

static void
test_super_bytes (void)
{
  uint8_t sector[512];
  static const uint8_t want[28] = {
    0x72, 0x68, 0x73, 0x77, 0x66, 0x73, 0x6a, 0,        /* "rhswfsj" */
    1, 0, 0, 0, 0, 0, 0, 0,
    0x04, 0x03, 0x02, 0x01, 0, 0, 0, 0,
    0x00, 0x02, 0, 0,
  };
  struct wc_wlog_super s;

  memset (sector, 0xff, sizeof sector);
  wc_wlog_super_encode (sector, 512, 0x01020304);
  g_assert_cmpmem (sector, 28, want, 28);
  for (int i = 28; i < 512; i++)
    g_assert_cmpuint (sector[i], ==, 0);
  wc_wlog_super_get (sector, &s);
  g_assert_cmpuint (s.magic, ==, WC_WLOG_MAGIC);
  g_assert_cmpuint (s.version, ==, 1);
  g_assert_cmpuint (s.nr_entries, ==, 0x01020304);
  g_assert_cmpuint (s.sectorsize, ==, 512);
}

static void
test_header_round_trip (void)
{
  GRand *rand = g_rand_new_with_seed (7);

  for (int i = 0; i < 1000; i++) {
    struct wc_wlog_header h, back;
    uint8_t buf[WC_WLOG_HEADER_BYTES];

    h.sector = (uint64_t) g_rand_int (rand) << 32 | g_rand_int (rand);
    h.nr_sectors = (uint64_t) g_rand_int (rand) << 32 | g_rand_int (rand);
    h.flags = (uint64_t) g_rand_int (rand) << 32 | g_rand_int (rand);
    h.data_len = (uint64_t) g_rand_int (rand) << 32 | g_rand_int (rand);
    wc_wlog_header_put (buf, &h);
    /* Little-endian: the low byte of each field comes first. */
    g_assert_cmpuint (buf[0], ==, h.sector & 0xff);
    g_assert_cmpuint (buf[15], ==, h.nr_sectors >> 56);
    g_assert_cmpuint (buf[16], ==, h.flags & 0xff);
    g_assert_cmpuint (buf[31], ==, h.data_len >> 56);
    wc_wlog_header_get (buf, &back);
    g_assert_cmpmem (&h, sizeof h, &back, sizeof back);
  }
  g_rand_free (rand);
}

static void
test_super_round_trip (void)
{
  const struct wc_wlog_super s = {
    0x0102030405060708, 0x1112131415161718, 0x2122232425262728, 0x31323334
  };
  struct wc_wlog_super back;
  uint8_t buf[WC_WLOG_SUPER_BYTES];

  wc_wlog_super_put (buf, &s);
  g_assert_cmpuint (buf[0], ==, 0x08);
  g_assert_cmpuint (buf[27], ==, 0x31);
  wc_wlog_super_get (buf, &back);
  g_assert_cmpuint (back.magic, ==, s.magic);
  g_assert_cmpuint (back.version, ==, s.version);
  g_assert_cmpuint (back.nr_entries, ==, s.nr_entries);
  g_assert_cmpuint (back.sectorsize, ==, s.sectorsize);
}

/* A MARK's text follows its header in the same sector, then zeros. */
static void
test_mark_encoding (void)
{
  const struct wc_wlog_header h = { 0, 0, WC_WLOG_MARK, 5, };
  uint8_t sector[512];

  memset (sector, 0xff, sizeof sector);
  wc_wlog_header_encode (sector, 512, &h, "hello world");
  g_assert_cmpmem (sector + 32, 5, "hello", 5);
  for (int i = 37; i < 512; i++)
    g_assert_cmpuint (sector[i], ==, 0);
}

static void
test_flags_name (void)
{
  char buf[64], small[8];

  g_assert_cmpstr (wc_wlog_flags_name (0, buf, sizeof buf), ==, "NONE");
  g_assert_cmpstr (wc_wlog_flags_name (WC_WLOG_FUA | WC_WLOG_METADATA, buf,
                                       sizeof buf), ==, "FUA|METADATA");
  g_assert_cmpstr (wc_wlog_flags_name (WC_WLOG_FLUSH, buf, sizeof buf), ==,
                   "FLUSH");
  g_assert_cmpstr (wc_wlog_flags_name (UINT64_MAX, buf, sizeof buf), ==,
                   "FLUSH|FUA|DISCARD|MARK|METADATA|0xffffffffffffffe0");
  g_assert_cmpstr (wc_wlog_flags_name (0x44, buf, sizeof buf), ==,
                   "DISCARD|0x40");
  /* Truncated, never overrun. */
  g_assert_cmpstr (wc_wlog_flags_name (3, small, sizeof small), ==,
                   "FLUSH|F");
}

static void
test_kind_name (void)
{
  g_assert_cmpstr (wc_wlog_kind_name (WC_WLOG_KIND_WRITE), ==, "write");
  g_assert_cmpstr (wc_wlog_kind_name (WC_WLOG_KIND_DISCARD), ==, "discard");
  g_assert_cmpstr (wc_wlog_kind_name (WC_WLOG_KIND_FLUSH), ==, "flush");
  g_assert_cmpstr (wc_wlog_kind_name (WC_WLOG_KIND_MARK), ==, "mark");
}

/* ---- Reading valid logs -------------------------------------------------- */

/* Every field of every entry, and the data, in a log of sector size ss. */
static void
check_typical (uint32_t ss)
{
  g_autoptr (logbuf) lb = lb_new (ss);
  struct wc_wlog *r;
  struct wc_wlog_entry e;
  g_autofree char *msg = NULL;
  g_autofree uint8_t *buf = g_malloc (2 * ss);

  lb_typical (lb);
  r = open_ok (lb);
  g_assert_cmpuint (wc_wlog_sector_size (r), ==, ss);
  g_assert_cmpuint (wc_wlog_nr_entries (r), ==, 5);
  g_assert_cmpuint (wc_wlog_file_size (r), ==, ss * 9);

  g_assert_cmpint (wc_wlog_next (r, &e, &msg), ==, 1);
  g_assert_cmpuint (e.index, ==, 0);
  g_assert_cmpint (e.kind, ==, WC_WLOG_KIND_WRITE);
  g_assert_cmpuint (e.sector, ==, 0);
  g_assert_cmpuint (e.nr_sectors, ==, 2);
  g_assert_cmpuint (e.flags, ==, 0);
  g_assert_cmpuint (e.offset, ==, 0);
  g_assert_cmpuint (e.length, ==, 2 * ss);
  g_assert_cmpuint (e.header_offset, ==, ss);
  g_assert_cmpuint (e.data_offset, ==, 2 * ss);
  g_assert_cmpuint (e.data_size, ==, 2 * ss);
  g_assert_null (e.mark);
  g_assert_cmpint (wc_wlog_read_data (r, &e, 0, buf, 2 * ss, &msg), ==, 0);
  for (uint32_t i = 0; i < 2 * ss; i++)
    g_assert_cmpuint (buf[i], ==, 0x11);

  g_assert_cmpint (wc_wlog_next (r, &e, &msg), ==, 1);
  g_assert_cmpint (e.kind, ==, WC_WLOG_KIND_WRITE);
  g_assert_cmpuint (e.flags, ==, WC_WLOG_FUA);
  g_assert_cmpuint (e.offset, ==, 8 * ss);
  g_assert_cmpuint (e.header_offset, ==, 4 * ss);
  g_assert_cmpuint (e.data_offset, ==, 5 * ss);
  g_assert_cmpint (wc_wlog_read_data (r, &e, ss - 1, buf, 1, &msg), ==, 0);
  g_assert_cmpuint (buf[0], ==, 0x22);

  g_assert_cmpint (wc_wlog_next (r, &e, &msg), ==, 1);
  g_assert_cmpint (e.kind, ==, WC_WLOG_KIND_DISCARD);
  g_assert_cmpuint (e.offset, ==, 2 * ss);
  g_assert_cmpuint (e.length, ==, 2 * ss);
  g_assert_cmpuint (e.header_offset, ==, 6 * ss);
  g_assert_cmpuint (e.data_size, ==, 0);       /* no data in the log */

  g_assert_cmpint (wc_wlog_next (r, &e, &msg), ==, 1);
  g_assert_cmpint (e.kind, ==, WC_WLOG_KIND_FLUSH);
  g_assert_cmpuint (e.header_offset, ==, 7 * ss);
  g_assert_cmpuint (e.length, ==, 0);

  g_assert_cmpint (wc_wlog_next (r, &e, &msg), ==, 1);
  g_assert_cmpint (e.kind, ==, WC_WLOG_KIND_MARK);
  g_assert_cmpuint (e.header_offset, ==, 8 * ss);
  g_assert_cmpstr (e.mark, ==, "after flush");
  g_assert_cmpuint (e.data_len, ==, 11);

  g_assert_cmpint (wc_wlog_next (r, &e, &msg), ==, 0);
  g_assert_cmpint (wc_wlog_next (r, &e, &msg), ==, 0);
  g_assert_null (msg);

  /* Rewind: the same first entry again. */
  wc_wlog_rewind (r);
  g_assert_cmpint (wc_wlog_next (r, &e, &msg), ==, 1);
  g_assert_cmpuint (e.header_offset, ==, ss);
  wc_wlog_close (r);
}

static void
test_sector_512 (void)
{
  check_typical (512);
}

static void
test_sector_4096 (void)
{
  check_typical (4096);
}

static void
test_empty_log (void)
{
  g_autoptr (logbuf) lb = lb_new (512);

  expect_valid (lb, 0);
}

/* What the kernel writes: FUA and METADATA writes, DAX inline data
 * (data_len = bytes written, the data in the sectors after the header), a
 * MARK of the longest text, an empty MARK, garbage in the superblock's
 * struct padding (bytes 28..31); and DISCARD|FUA, which we write for a
 * durable trim. */
static void
test_kernel_shapes (void)
{
  g_autoptr (logbuf) lb = lb_new (512);
  char longest[512 - 32 + 1];

  memset (longest, 'x', sizeof longest - 1);
  longest[sizeof longest - 1] = '\0';
  lb_write (lb, 0, 1, 1, WC_WLOG_FUA);
  lb_write (lb, 1, 1, 1, WC_WLOG_METADATA | WC_WLOG_FUA);
  lb_raw (lb, 4, 2, 0, 700, NULL, 2, 1);
  lb_mark (lb, longest);
  lb_mark (lb, "");
  lb_raw (lb, 8, 8, WC_WLOG_DISCARD | WC_WLOG_FUA, 0, NULL, 0, 0);
  memset (lb->b->data + 28, 0xa5, 4);
  expect_valid (lb, 6);
}

/* Entries past nr_entries are not part of the log, valid or not. */
static void
test_past_nr_entries (void)
{
  g_autoptr (logbuf) lb = lb_new (512);
  size_t at;

  lb_typical (lb);
  lb_write (lb, 0, 1, 0x33, 0);
  at = lb_raw (lb, 0, 0, 0, 0, NULL, 0, 0);     /* malformed */
  lb->b->data[at + 100] = 1;
  lb_set_nr (lb, 5);
  expect_valid (lb, 5);
}

/* A log whose writer stopped in the middle of an entry after its last
 * superblock update reads to nr_entries; through a file, as a crash would
 * leave it. */
static void
test_truncated_file (void)
{
  g_autoptr (logbuf) lb = lb_new (4096);
  g_autoptr (GError) err = NULL;
  g_autofree char *path = NULL;
  g_autofree char *msg = NULL;
  struct wc_wlog *r;
  struct wc_wlog_entry e;
  size_t cut;
  int fd, n = 0, ret;

  lb_typical (lb);
  lb_set_nr (lb, 4);            /* the superblock as of the flush */
  lb_write (lb, 16, 4, 0x44, 0);
  lb_set_nr (lb, 4);
  cut = lb->b->len - 4096 * 2;  /* two of the last write's sectors lost */
  fd = g_file_open_tmp ("test-wlog-XXXXXX", &path, &err);
  g_assert_no_error (err);
  g_assert_cmpint (write (fd, lb->b->data, cut), ==, cut);

  r = wc_wlog_open (path, &msg);
  g_assert_null (msg);
  g_assert_nonnull (r);
  g_assert_cmpuint (wc_wlog_file_size (r), ==, cut);
  while ((ret = wc_wlog_next (r, &e, &msg)) == 1)
    n++;
  g_assert_cmpint (ret, ==, 0);
  g_assert_cmpint (n, ==, 4);
  wc_wlog_close (r);

  /* The descriptor flavour reads the same and leaves fd open. */
  r = wc_wlog_open_fd (fd, &msg);
  g_assert_nonnull (r);
  g_assert_cmpuint (wc_wlog_nr_entries (r), ==, 4);
  wc_wlog_close (r);
  g_assert_cmpint (fcntl (fd, F_GETFD), !=, -1);
  close (fd);
  unlink (path);
}

/* ---- Superblock rules ---------------------------------------------------- */

static void
test_super_bad_magic (void)
{
  g_autoptr (logbuf) lb = lb_new (512);

  lb->b->data[0] ^= 1;
  expect_bad_super (lb->b->data, lb->b->len, "bad magic 0x6a736677736873");
}

/* A QEMU log never flushed has no superblock yet: all zeros. */
static void
test_super_zero (void)
{
  g_autofree uint8_t *zeros = g_malloc0 (4096);

  expect_bad_super (zeros, 4096, "bad magic 0x0");
}

static void
test_super_bad_version (void)
{
  g_autoptr (logbuf) lb = lb_new (512);

  lb->b->data[8] = 2;
  expect_bad_super (lb->b->data, lb->b->len, "unsupported version 2");
}

static void
check_bad_sector_size (uint32_t ss)
{
  uint8_t sector[4096] = { 0 };
  struct wc_wlog_super s = { WC_WLOG_MAGIC, WC_WLOG_VERSION, 0, ss };
  g_autofree char *reason =
    g_strdup_printf ("bad sector size %u (a power of two, 512 to 8388608)",
                     ss);

  wc_wlog_super_put (sector, &s);
  expect_bad_super (sector, sizeof sector, reason);
}

static void
test_super_sector_not_power_of_2 (void)
{
  check_bad_sector_size (1000);
  check_bad_sector_size (4097);
  check_bad_sector_size (0);
}

static void
test_super_sector_too_small (void)
{
  check_bad_sector_size (256);
  check_bad_sector_size (1);
}

static void
test_super_sector_absurd (void)
{
  check_bad_sector_size (16 * 1024 * 1024);
  check_bad_sector_size (UINT32_C (1) << 31);
  g_assert_true (wc_wlog_sector_size_ok (8 * 1024 * 1024));
}

static void
test_super_file_too_short (void)
{
  g_autoptr (logbuf) lb = lb_new (512);

  expect_bad_super (lb->b->data, 27, "file too short (27 bytes)");
  expect_bad_super (lb->b->data, 0, "file too short (0 bytes)");
}

static void
test_super_shorter_than_sector (void)
{
  g_autoptr (logbuf) lb = lb_new (4096);

  expect_bad_super (lb->b->data, 4095,
                    "file shorter than one sector (4095 < 4096 bytes)");
}

static void
test_super_padding (void)
{
  g_autoptr (logbuf) lb = lb_new (512);

  lb->b->data[511] = 1;
  expect_bad_super (lb->b->data, lb->b->len,
                    "non-zero bytes after the superblock");
}

/* ---- Entry rules: each test breaks one, at an index past valid ones ------ */

static void
test_entry_unknown_flags (void)
{
  g_autoptr (logbuf) lb = lb_new (512);

  lb_typical (lb);
  lb_write (lb, 0, 1, 0, 32);
  expect_bad (lb, 5, "unknown flags");
}

static void
test_entry_unknown_high_flags (void)
{
  g_autoptr (logbuf) lb = lb_new (512);

  lb_write (lb, 0, 1, 0, UINT64_C (1) << 63);
  expect_bad (lb, 0, "unknown flags");
}

static void
test_entry_mark_combined (void)
{
  g_autoptr (logbuf) lb = lb_new (512);

  lb_typical (lb);
  lb_raw (lb, 0, 0, WC_WLOG_MARK | WC_WLOG_FLUSH, 1, "m", 0, 0);
  expect_bad (lb, 5, "MARK combined with other flags");
}

static void
test_entry_mark_with_sectors (void)
{
  g_autoptr (logbuf) lb = lb_new (512);

  lb_typical (lb);
  lb_raw (lb, 0, 1, WC_WLOG_MARK, 1, "m", 1, 0);
  expect_bad (lb, 5, "MARK with sectors");
}

static void
test_entry_mark_too_long (void)
{
  g_autoptr (logbuf) lb = lb_new (512);

  lb_typical (lb);
  lb_patch (lb, lb_mark (lb, ""), 0, 0, WC_WLOG_MARK, 512 - 31);
  expect_bad (lb, 5, "mark text runs past its sector");
}

static void
test_entry_mark_huge_len (void)
{
  g_autoptr (logbuf) lb = lb_new (512);

  lb_patch (lb, lb_mark (lb, ""), 0, 0, WC_WLOG_MARK, UINT64_MAX);
  expect_bad (lb, 0, "mark text runs past its sector");
}

static void
test_entry_mark_nul (void)
{
  g_autoptr (logbuf) lb = lb_new (512);

  lb_typical (lb);
  lb_raw (lb, 0, 0, WC_WLOG_MARK, 3, "a\0b", 0, 0);
  expect_bad (lb, 5, "mark text holds a NUL byte");
}

static void
test_entry_mark_trailing (void)
{
  g_autoptr (logbuf) lb = lb_new (512);
  size_t at;

  lb_typical (lb);
  at = lb_mark (lb, "m");
  lb->b->data[at + 32 + 2] = 'x';
  expect_bad (lb, 5, "non-zero bytes after the mark text");
}

static void
test_entry_padding (void)
{
  g_autoptr (logbuf) lb = lb_new (4096);
  size_t at;

  lb_typical (lb);
  at = lb_write (lb, 0, 1, 0, 0);
  lb->b->data[at + 4095] = 1;
  expect_bad (lb, 5, "non-zero bytes after the entry header");
}

/* xfstests' replay-log checks byte 32 only; the rule is the whole sector. */
static void
test_entry_padding_first_byte (void)
{
  g_autoptr (logbuf) lb = lb_new (512);
  size_t at;

  lb_typical (lb);
  at = lb_flush (lb);
  lb->b->data[at + 32] = 1;
  expect_bad (lb, 5, "non-zero bytes after the entry header");
}

static void
test_entry_flush_combined (void)
{
  g_autoptr (logbuf) lb = lb_new (512);

  lb_typical (lb);
  lb_raw (lb, 0, 0, WC_WLOG_FLUSH | WC_WLOG_FUA, 0, NULL, 0, 0);
  expect_bad (lb, 5, "FLUSH combined with other flags");
}

static void
test_entry_flush_with_sectors (void)
{
  g_autoptr (logbuf) lb = lb_new (512);

  lb_typical (lb);
  lb_raw (lb, 0, 1, WC_WLOG_FLUSH, 0, NULL, 1, 0x55);
  expect_bad (lb, 5, "FLUSH with sectors");
}

static void
test_entry_flush_with_data (void)
{
  g_autoptr (logbuf) lb = lb_new (512);

  lb_typical (lb);
  lb_raw (lb, 0, 0, WC_WLOG_FLUSH, 1, NULL, 0, 0);
  expect_bad (lb, 5, "FLUSH with data");
}

static void
test_entry_discard_no_sectors (void)
{
  g_autoptr (logbuf) lb = lb_new (512);

  lb_typical (lb);
  lb_raw (lb, 8, 0, WC_WLOG_DISCARD, 0, NULL, 0, 0);
  expect_bad (lb, 5, "DISCARD with no sectors");
}

static void
test_entry_discard_with_data (void)
{
  g_autoptr (logbuf) lb = lb_new (512);

  lb_typical (lb);
  lb_raw (lb, 8, 1, WC_WLOG_DISCARD, 512, NULL, 0, 0);
  expect_bad (lb, 5, "DISCARD with data");
}

/* What a zeroed or torn log looks like. */
static void
test_entry_no_flags_no_sectors (void)
{
  g_autoptr (logbuf) lb = lb_new (512);

  lb_typical (lb);
  lb_raw (lb, 0, 0, 0, 0, NULL, 0, 0);
  expect_bad (lb, 5, "entry with no flags and no sectors");
}

static void
test_entry_write_no_sectors (void)
{
  g_autoptr (logbuf) lb = lb_new (512);

  lb_typical (lb);
  lb_raw (lb, 0, 0, WC_WLOG_FUA, 0, NULL, 0, 0);
  expect_bad (lb, 5, "write with no sectors");
}

static void
test_entry_range_overflow (void)
{
  g_autoptr (logbuf) lb = lb_new (512);

  lb_typical (lb);
  lb_raw (lb, UINT64_MAX, 2, WC_WLOG_DISCARD, 0, NULL, 0, 0);
  expect_bad (lb, 5, "sector range overflows");
}

/* sector + nr_sectors fits, but not in bytes, or not in an off_t. */
static void
test_entry_range_overflow_bytes (void)
{
  g_autoptr (logbuf) lb = lb_new (512);
  g_autoptr (logbuf) lb2 = lb_new (512);

  lb_raw (lb, UINT64_MAX / 512, 1, WC_WLOG_DISCARD, 0, NULL, 0, 0);
  expect_bad (lb, 0, "sector range overflows");
  lb_raw (lb2, INT64_MAX / 512, 1, WC_WLOG_DISCARD, 0, NULL, 0, 0);
  expect_bad (lb2, 0, "sector range overflows");
}

static void
test_entry_data_len_too_large (void)
{
  g_autoptr (logbuf) lb = lb_new (512);

  lb_typical (lb);
  lb_raw (lb, 0, 1, 0, 513, NULL, 1, 0);
  expect_bad (lb, 5, "data_len larger than the entry's sectors");
}

static void
test_entry_header_past_eof (void)
{
  g_autoptr (logbuf) lb = lb_new (512);

  lb_typical (lb);
  lb_set_nr (lb, 6);
  expect_bad (lb, 5, "header runs past the end of the file");
}

/* nr_entries as garbage: the walk stops at the end of the file. */
static void
test_entry_header_past_eof_huge_nr (void)
{
  g_autoptr (logbuf) lb = lb_new (512);

  lb_typical (lb);
  lb_set_nr (lb, UINT64_MAX);
  expect_bad (lb, 5, "header runs past the end of the file");
}

static void
test_entry_data_past_eof (void)
{
  g_autoptr (logbuf) lb = lb_new (512);

  lb_typical (lb);
  lb_write (lb, 0, 4, 0x66, 0);
  g_byte_array_set_size (lb->b, lb->b->len - 1);
  expect_bad (lb, 5, "data runs past the end of the file");
}

/* A write whose nr_sectors claims more than the file holds, far more. */
static void
test_entry_data_past_eof_huge (void)
{
  g_autoptr (logbuf) lb = lb_new (512);

  lb_raw (lb, 0, INT64_MAX / 512 - 1, 0, 0, NULL, 0, 0);
  expect_bad (lb, 0, "data runs past the end of the file");
}

/* ---- Reader behaviour ---------------------------------------------------- */

/* A failure leaves the reader on the bad entry: it is never skipped. */
static void
test_failure_not_skipped (void)
{
  g_autoptr (logbuf) lb = lb_new (512);
  struct wc_wlog *r;
  struct wc_wlog_entry e;

  lb_flush (lb);
  lb_raw (lb, 0, 0, 0, 0, NULL, 0, 0);
  lb_flush (lb);
  r = open_ok (lb);
  g_assert_cmpint (wc_wlog_next (r, &e, &(char *) { NULL }), ==, 1);
  for (int i = 0; i < 3; i++) {
    g_autofree char *msg = NULL;

    errno = 0;
    g_assert_cmpint (wc_wlog_next (r, &e, &msg), ==, -1);
    g_assert_cmpint (errno, ==, EINVAL);
    g_assert_cmpstr (msg, ==, "entry 1: entry with no flags and no sectors");
  }
  wc_wlog_rewind (r);
  g_assert_cmpint (wc_wlog_next (r, &e, &(char *) { NULL }), ==, 1);
  g_assert_cmpuint (e.index, ==, 0);
  wc_wlog_close (r);
}

static void
test_read_data_bounds (void)
{
  g_autoptr (logbuf) lb = lb_new (512);
  struct wc_wlog *r;
  struct wc_wlog_entry e;
  uint8_t buf[1024];

  lb_typical (lb);
  r = open_ok (lb);
  g_assert_cmpint (wc_wlog_next (r, &e, &(char *) { NULL }), ==, 1);
  {
    g_autofree char *msg = NULL;

    errno = 0;
    g_assert_cmpint (wc_wlog_read_data (r, &e, 1, buf, 1024, &msg), ==, -1);
    g_assert_cmpint (errno, ==, EINVAL);
    g_assert_cmpstr (msg, ==, "entry 0: data range 1+1024 outside the entry");
  }
  {
    g_autofree char *msg = NULL;

    g_assert_cmpint (wc_wlog_read_data (r, &e, UINT64_MAX, buf, 2, &msg),
                     ==, -1);
    g_assert_cmpint (errno, ==, EINVAL);
  }
  g_assert_cmpint (wc_wlog_next (r, &e, &(char *) { NULL }), ==, 1);
  g_assert_cmpint (wc_wlog_next (r, &e, &(char *) { NULL }), ==, 1);
  g_assert_cmpint (e.kind, ==, WC_WLOG_KIND_DISCARD);
  {
    g_autofree char *msg = NULL;

    g_assert_cmpint (wc_wlog_read_data (r, &e, 0, buf, 1, &msg), ==, -1);
    g_assert_cmpint (errno, ==, EINVAL);
  }
  wc_wlog_close (r);
}

/* A file that shrank after open: EIO, not a malformed log. */
static void
test_file_shrank (void)
{
  g_autoptr (logbuf) lb = lb_new (512);
  g_autoptr (GError) err = NULL;
  g_autofree char *path = NULL;
  g_autofree char *msg = NULL;
  struct wc_wlog *r;
  struct wc_wlog_entry e;
  int fd;

  lb_typical (lb);
  fd = g_file_open_tmp ("test-wlog-XXXXXX", &path, &err);
  g_assert_no_error (err);
  g_assert_cmpint (write (fd, lb->b->data, lb->b->len), ==, lb->b->len);
  r = wc_wlog_open (path, &msg);
  g_assert_nonnull (r);
  g_assert_cmpint (ftruncate (fd, 512 * 2), ==, 0);
  g_assert_cmpint (wc_wlog_next (r, &e, &msg), ==, 1);
  errno = 0;
  g_assert_cmpint (wc_wlog_read_data (r, &e, 0, (uint8_t[1024]) { 0 }, 1024,
                                      &msg), ==, -1);
  g_assert_cmpint (errno, ==, EIO);
  g_assert_cmpstr (msg, ==, "entry 0: read: Input/output error");
  wc_wlog_close (r);
  close (fd);
  unlink (path);
}

static void
test_open_missing (void)
{
  g_autofree char *msg = NULL;

  errno = 0;
  g_assert_null (wc_wlog_open ("/nonexistent/wlog", &msg));
  g_assert_cmpint (errno, ==, ENOENT);
  g_assert_cmpstr (msg, ==, "open: No such file or directory");
}

/* ---- Replay -------------------------------------------------------------- */

#define IMG (64 * 512)

static void
test_replay_all (void)
{
  g_autoptr (logbuf) lb = lb_new (512);
  struct memmedia *m = memmedia_new (IMG);
  g_autofree char *msg = NULL;
  struct wc_wlog *r;

  memset (m->buf, 0xee, IMG);
  lb_typical (lb);
  lb_write (lb, 3, 1, 0x33, 0);         /* over the discard's tail */
  r = open_ok (lb);
  g_assert_cmpint (wc_wlog_replay (r, 6, &memmedia_ops, m, IMG, &msg), ==, 0);
  g_assert_null (msg);
  for (int i = 0; i < IMG; i++) {
    int want = i < 1024 ? 0x11          /* entry 0 */
      : i < 1536 ? 0                    /* entry 2 discarded it */
      : i < 2048 ? 0x33                 /* discarded, then entry 5 */
      : i >= 8 * 512 && i < 9 * 512 ? 0x22      /* entry 1 */
      : 0xee;

    if (m->buf[i] != want)
      g_error ("byte %d: %#x, want %#x", i, m->buf[i], want);
  }
  g_assert_cmpuint (m->writes, ==, 3);
  g_assert_cmpuint (m->zeroes, ==, 1);
  g_assert_cmpuint (m->fua_writes, ==, 0);
  g_assert_cmpuint (m->flushes, ==, 0);
  /* The reader is back at entry 0. */
  {
    struct wc_wlog_entry e;

    g_assert_cmpint (wc_wlog_next (r, &e, &msg), ==, 1);
    g_assert_cmpuint (e.index, ==, 0);
  }
  wc_wlog_close (r);
  memmedia_free (m);
}

/* Entries [0, n) only: the crash explorer's prefixes. */
static void
test_replay_prefix (void)
{
  g_autoptr (logbuf) lb = lb_new (512);
  struct memmedia *m = memmedia_new (IMG);
  g_autofree char *msg = NULL;
  struct wc_wlog *r;

  memset (m->buf, 0xee, IMG);
  lb_typical (lb);
  lb_raw (lb, 0, 0, 0, 0, NULL, 0, 0);  /* malformed, but not replayed */
  r = open_ok (lb);
  g_assert_cmpint (wc_wlog_replay (r, 2, &memmedia_ops, m, IMG, &msg), ==, 0);
  g_assert_cmpuint (m->buf[0], ==, 0x11);
  g_assert_cmpuint (m->buf[2 * 512], ==, 0xee);        /* not discarded */
  g_assert_cmpuint (m->buf[8 * 512], ==, 0x22);
  g_assert_cmpint (wc_wlog_replay (r, 0, &memmedia_ops, m, IMG, &msg), ==, 0);
  errno = 0;
  g_assert_cmpint (wc_wlog_replay (r, 7, &memmedia_ops, m, IMG, &msg), ==,
                   -1);
  g_assert_cmpint (errno, ==, EINVAL);
  g_assert_cmpstr (msg, ==, "replay: 7 entries asked, the log has 6");
  wc_wlog_close (r);
  memmedia_free (m);
}

/* A malformed entry inside the prefix: nothing is written at all. */
static void
test_replay_malformed_untouched (void)
{
  g_autoptr (logbuf) lb = lb_new (512);
  struct memmedia *m = memmedia_new (IMG);
  g_autofree char *msg = NULL;
  struct wc_wlog *r;

  memset (m->buf, 0xee, IMG);
  lb_typical (lb);
  lb_raw (lb, 0, 0, 0, 0, NULL, 0, 0);
  r = open_ok (lb);
  errno = 0;
  g_assert_cmpint (wc_wlog_replay (r, 6, &memmedia_ops, m, IMG, &msg), ==,
                   -1);
  g_assert_cmpint (errno, ==, EINVAL);
  g_assert_cmpstr (msg, ==, "entry 5: entry with no flags and no sectors");
  g_assert_cmpuint (m->writes + m->zeroes, ==, 0);
  wc_wlog_close (r);
  memmedia_free (m);
}

/* An entry past the end of the image: ENOSPC, nothing written. */
static void
test_replay_past_image (void)
{
  g_autoptr (logbuf) lb = lb_new (512);
  struct memmedia *m = memmedia_new (IMG);
  g_autofree char *msg = NULL;
  struct wc_wlog *r;

  lb_typical (lb);
  lb_write (lb, 63, 2, 0x77, 0);        /* the last sector and one more */
  r = open_ok (lb);
  errno = 0;
  g_assert_cmpint (wc_wlog_replay (r, 6, &memmedia_ops, m, IMG, &msg), ==,
                   -1);
  g_assert_cmpint (errno, ==, ENOSPC);
  g_assert_cmpstr (msg, ==, "entry 5: range 32256+1024 runs past the end "
                   "of the image (32768 bytes)");
  g_assert_cmpuint (m->writes + m->zeroes, ==, 0);
  g_clear_pointer (&msg, g_free);
  /* A discard too. */
  wc_wlog_close (r);
  {
    g_autoptr (logbuf) lb2 = lb_new (512);

    lb_discard (lb2, 64, 1);
    r = open_ok (lb2);
    g_assert_cmpint (wc_wlog_replay (r, 1, &memmedia_ops, m, IMG, &msg), ==,
                     -1);
    g_assert_cmpint (errno, ==, ENOSPC);
    wc_wlog_close (r);
  }
  memmedia_free (m);
}

static void
test_replay_media_error (void)
{
  g_autoptr (logbuf) lb = lb_new (512);
  struct memmedia *m = memmedia_new (IMG);
  g_autofree char *msg = NULL;
  struct wc_wlog *r;

  lb_typical (lb);
  m->fail_writes = -1;
  r = open_ok (lb);
  errno = 0;
  g_assert_cmpint (wc_wlog_replay (r, 5, &memmedia_ops, m, IMG, &msg), ==,
                   -1);
  g_assert_cmpint (errno, ==, EIO);
  g_assert_cmpstr (msg, ==, "entry 0: write: Input/output error");
  wc_wlog_close (r);
  memmedia_free (m);
}

/* Onto a file, in 4096-byte sectors, with an entry larger than the
 * replay's bounce buffer. */
static void
test_replay_fd (void)
{
  g_autoptr (logbuf) lb = lb_new (4096);
  g_autoptr (GError) err = NULL;
  g_autofree char *path = NULL;
  g_autofree char *msg = NULL;
  g_autofree uint8_t *img = g_malloc (2 * 1024 * 1024);
  g_autofree uint8_t *want = g_malloc (2 * 1024 * 1024);
  const size_t size = 2 * 1024 * 1024;
  struct wc_wlog *r;
  int fd;

  memset (want, 0xee, size);
  lb_write (lb, 0, 300, 0x11, 0);             /* 1.17 MiB */
  memset (want, 0x11, 300 * 4096);
  lb_discard (lb, 10, 290);
  memset (want + 10 * 4096, 0, 290 * 4096);
  lb_write (lb, 511, 1, 0x22, WC_WLOG_FUA);   /* the last sector */
  memset (want + 511 * 4096, 0x22, 4096);
  lb_flush (lb);

  fd = g_file_open_tmp ("test-wlog-XXXXXX", &path, &err);
  g_assert_no_error (err);
  memset (img, 0xee, size);
  g_assert_cmpint (write (fd, img, size), ==, size);
  r = open_ok (lb);
  g_assert_cmpint (wc_wlog_replay_fd (r, 4, fd, &msg), ==, 0);
  g_assert_null (msg);
  g_assert_cmpint (pread (fd, img, size, 0), ==, size);
  g_assert_true (memcmp (img, want, size) == 0);
  /* The file was not extended. */
  g_assert_cmpint (lseek (fd, 0, SEEK_END), ==, size);
  wc_wlog_close (r);
  close (fd);
  unlink (path);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/wlog/format/super-bytes", test_super_bytes);
  g_test_add_func ("/wlog/format/super-round-trip", test_super_round_trip);
  g_test_add_func ("/wlog/format/header-round-trip", test_header_round_trip);
  g_test_add_func ("/wlog/format/mark-in-header-sector", test_mark_encoding);
  g_test_add_func ("/wlog/format/flags-name", test_flags_name);
  g_test_add_func ("/wlog/format/kind-name", test_kind_name);

  g_test_add_func ("/wlog/read/sector-512", test_sector_512);
  g_test_add_func ("/wlog/read/sector-4096", test_sector_4096);
  g_test_add_func ("/wlog/read/empty", test_empty_log);
  g_test_add_func ("/wlog/read/kernel-shapes", test_kernel_shapes);
  g_test_add_func ("/wlog/read/past-nr-entries-ignored", test_past_nr_entries);
  g_test_add_func ("/wlog/read/truncated-file", test_truncated_file);
  g_test_add_func ("/wlog/read/failure-not-skipped", test_failure_not_skipped);
  g_test_add_func ("/wlog/read/data-bounds", test_read_data_bounds);
  g_test_add_func ("/wlog/read/file-shrank", test_file_shrank);
  g_test_add_func ("/wlog/read/open-missing", test_open_missing);

  g_test_add_func ("/wlog/super/bad-magic", test_super_bad_magic);
  g_test_add_func ("/wlog/super/all-zero", test_super_zero);
  g_test_add_func ("/wlog/super/bad-version", test_super_bad_version);
  g_test_add_func ("/wlog/super/sector-size-not-power-of-2",
                   test_super_sector_not_power_of_2);
  g_test_add_func ("/wlog/super/sector-size-too-small",
                   test_super_sector_too_small);
  g_test_add_func ("/wlog/super/sector-size-absurd",
                   test_super_sector_absurd);
  g_test_add_func ("/wlog/super/file-too-short", test_super_file_too_short);
  g_test_add_func ("/wlog/super/shorter-than-a-sector",
                   test_super_shorter_than_sector);
  g_test_add_func ("/wlog/super/non-zero-padding", test_super_padding);

  g_test_add_func ("/wlog/entry/unknown-flags", test_entry_unknown_flags);
  g_test_add_func ("/wlog/entry/unknown-high-flags",
                   test_entry_unknown_high_flags);
  g_test_add_func ("/wlog/entry/mark-combined", test_entry_mark_combined);
  g_test_add_func ("/wlog/entry/mark-with-sectors",
                   test_entry_mark_with_sectors);
  g_test_add_func ("/wlog/entry/mark-too-long", test_entry_mark_too_long);
  g_test_add_func ("/wlog/entry/mark-huge-len", test_entry_mark_huge_len);
  g_test_add_func ("/wlog/entry/mark-nul", test_entry_mark_nul);
  g_test_add_func ("/wlog/entry/mark-trailing-bytes",
                   test_entry_mark_trailing);
  g_test_add_func ("/wlog/entry/non-zero-after-header", test_entry_padding);
  g_test_add_func ("/wlog/entry/non-zero-byte-32",
                   test_entry_padding_first_byte);
  g_test_add_func ("/wlog/entry/flush-combined", test_entry_flush_combined);
  g_test_add_func ("/wlog/entry/flush-with-sectors",
                   test_entry_flush_with_sectors);
  g_test_add_func ("/wlog/entry/flush-with-data", test_entry_flush_with_data);
  g_test_add_func ("/wlog/entry/discard-no-sectors",
                   test_entry_discard_no_sectors);
  g_test_add_func ("/wlog/entry/discard-with-data",
                   test_entry_discard_with_data);
  g_test_add_func ("/wlog/entry/no-flags-no-sectors",
                   test_entry_no_flags_no_sectors);
  g_test_add_func ("/wlog/entry/write-no-sectors",
                   test_entry_write_no_sectors);
  g_test_add_func ("/wlog/entry/range-overflow", test_entry_range_overflow);
  g_test_add_func ("/wlog/entry/range-overflow-bytes",
                   test_entry_range_overflow_bytes);
  g_test_add_func ("/wlog/entry/data-len-too-large",
                   test_entry_data_len_too_large);
  g_test_add_func ("/wlog/entry/header-past-eof", test_entry_header_past_eof);
  g_test_add_func ("/wlog/entry/header-past-eof-huge-nr",
                   test_entry_header_past_eof_huge_nr);
  g_test_add_func ("/wlog/entry/data-past-eof", test_entry_data_past_eof);
  g_test_add_func ("/wlog/entry/data-past-eof-huge",
                   test_entry_data_past_eof_huge);

  g_test_add_func ("/wlog/replay/all", test_replay_all);
  g_test_add_func ("/wlog/replay/prefix", test_replay_prefix);
  g_test_add_func ("/wlog/replay/malformed-leaves-image",
                   test_replay_malformed_untouched);
  g_test_add_func ("/wlog/replay/past-image", test_replay_past_image);
  g_test_add_func ("/wlog/replay/media-error", test_replay_media_error);
  g_test_add_func ("/wlog/replay/fd", test_replay_fd);

  return g_test_run ();
}

/* The write log format: byte codecs and the rules one header must obey.
 *
 * Owns the translation between the dm-log-writes v1 bytes and the structs
 * of wlog-format.h, for the reader (wlog-read.c) and the writer alike, and
 * the per-header validity rules, so that what a writer emits and what a
 * reader accepts are decided in one place.
 *
 * Integers are assembled byte by byte, so the code is the same on any host
 * byte order and any buffer alignment.  The header rules are the union of
 * what the three known writers produce (Linux dm-log-writes, QEMU
 * blklogwrites, ours): anything else is refused rather than guessed at,
 * because a crash explorer that misreads one entry explores the wrong
 * states.  One deliberate leniency: a DISCARD may carry FUA (a zero or trim
 * that was durable when acknowledged, S2), which the kernel never logs but
 * which is meaningful and which replay-log and QEMU read without trouble.
 *
 * No state, no locks: every function is pure.
 */
#include <config.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "span.h"
#include "wlog-format.h"

static void
put_le (uint8_t *p, uint64_t v, int bytes)
{
  for (int i = 0; i < bytes; i++)
    p[i] = v >> (8 * i);
}

static uint64_t
get_le (const uint8_t *p, int bytes)
{
  uint64_t v = 0;

  for (int i = 0; i < bytes; i++)
    v |= (uint64_t) p[i] << (8 * i);
  return v;
}

void
wc_wlog_super_put (uint8_t *buf, const struct wc_wlog_super *s)
{
  put_le (buf, s->magic, 8);
  put_le (buf + 8, s->version, 8);
  put_le (buf + 16, s->nr_entries, 8);
  put_le (buf + 24, s->sectorsize, 4);
}

void
wc_wlog_super_get (const uint8_t *buf, struct wc_wlog_super *s)
{
  s->magic = get_le (buf, 8);
  s->version = get_le (buf + 8, 8);
  s->nr_entries = get_le (buf + 16, 8);
  s->sectorsize = get_le (buf + 24, 4);
}

void
wc_wlog_header_put (uint8_t *buf, const struct wc_wlog_header *h)
{
  put_le (buf, h->sector, 8);
  put_le (buf + 8, h->nr_sectors, 8);
  put_le (buf + 16, h->flags, 8);
  put_le (buf + 24, h->data_len, 8);
}

void
wc_wlog_header_get (const uint8_t *buf, struct wc_wlog_header *h)
{
  h->sector = get_le (buf, 8);
  h->nr_sectors = get_le (buf + 8, 8);
  h->flags = get_le (buf + 16, 8);
  h->data_len = get_le (buf + 24, 8);
}

void
wc_wlog_super_encode (uint8_t *sector, uint32_t sectorsize,
                      uint64_t nr_entries)
{
  const struct wc_wlog_super s = {
    .magic = WC_WLOG_MAGIC,
    .version = WC_WLOG_VERSION,
    .nr_entries = nr_entries,
    .sectorsize = sectorsize,
  };

  memset (sector, 0, sectorsize);
  wc_wlog_super_put (sector, &s);
}

void
wc_wlog_header_encode (uint8_t *sector, uint32_t sectorsize,
                       const struct wc_wlog_header *h, const char *mark)
{
  memset (sector, 0, sectorsize);
  wc_wlog_header_put (sector, h);
  /* Never past the sector, whatever data_len says. */
  if ((h->flags & WC_WLOG_MARK) && h->data_len > 0)
    memcpy (sector + WC_WLOG_HEADER_BYTES, mark,
            MIN (h->data_len, sectorsize - WC_WLOG_HEADER_BYTES));
}

bool
wc_wlog_sector_size_ok (uint64_t ss)
{
  return wc_is_power_of_2 (ss) &&
    ss >= WC_WLOG_SECTOR_MIN && ss <= WC_WLOG_SECTOR_MAX;
}

const char *
wc_wlog_super_check (const struct wc_wlog_super *s, char *reason, size_t len)
{
  if (s->magic != WC_WLOG_MAGIC)
    snprintf (reason, len, "bad magic 0x%" PRIx64, s->magic);
  else if (s->version != WC_WLOG_VERSION)
    snprintf (reason, len, "unsupported version %" PRIu64, s->version);
  else if (!wc_wlog_sector_size_ok (s->sectorsize))
    snprintf (reason, len,
              "bad sector size %" PRIu32 " (a power of two, %d to %d)",
              s->sectorsize, WC_WLOG_SECTOR_MIN, WC_WLOG_SECTOR_MAX);
  else
    return NULL;
  return reason;
}

static bool
all_zero (const uint8_t *p, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (p[i])
      return false;
  return true;
}

const char *
wc_wlog_header_check (const uint8_t *sector, uint32_t ss,
                      const struct wc_wlog_header *h)
{
  const uint64_t f = h->flags;
  uint64_t end, bytes;

  if (f & ~WC_WLOG_FLAGS_KNOWN)
    return "unknown flags";

  if (f & WC_WLOG_MARK) {
    if (f != WC_WLOG_MARK)
      return "MARK combined with other flags";
    if (h->nr_sectors != 0)
      return "MARK with sectors";
    if (h->data_len > ss - WC_WLOG_HEADER_BYTES)
      return "mark text runs past its sector";
    if (memchr (sector + WC_WLOG_HEADER_BYTES, 0, h->data_len))
      return "mark text holds a NUL byte";
    if (!all_zero (sector + WC_WLOG_HEADER_BYTES + h->data_len,
                   ss - WC_WLOG_HEADER_BYTES - h->data_len))
      return "non-zero bytes after the mark text";
  }
  else if (!all_zero (sector + WC_WLOG_HEADER_BYTES,
                      ss - WC_WLOG_HEADER_BYTES))
    return "non-zero bytes after the entry header";

  if (f & WC_WLOG_FLUSH) {
    if (f != WC_WLOG_FLUSH)
      return "FLUSH combined with other flags";
    if (h->nr_sectors != 0)
      return "FLUSH with sectors";
    if (h->data_len != 0)
      return "FLUSH with data";
  }
  else if (f & WC_WLOG_DISCARD) {
    if (h->nr_sectors == 0)
      return "DISCARD with no sectors";
    if (h->data_len != 0)
      return "DISCARD with data";
  }
  else if (!(f & WC_WLOG_MARK)) {
    if (h->nr_sectors == 0)
      return f == 0 ? "entry with no flags and no sectors"
                    : "write with no sectors";
  }

  /* The disk range in bytes, and (for writes) the data, must fit an
   * off_t: the replay writes there and the reader seeks past the data. */
  if (__builtin_add_overflow (h->sector, h->nr_sectors, &end) ||
      __builtin_mul_overflow (end, (uint64_t) ss, &end) ||
      end > INT64_MAX)
    return "sector range overflows";
  bytes = h->nr_sectors * ss;   /* <= end: no overflow */
  if (!(f & (WC_WLOG_MARK | WC_WLOG_DISCARD | WC_WLOG_FLUSH)) &&
      h->data_len > bytes)
    return "data_len larger than the entry's sectors";
  return NULL;
}

const char *
wc_wlog_flags_name (uint64_t flags, char *buf, size_t len)
{
  static const struct { uint64_t bit; const char *name; } names[] = {
    { WC_WLOG_FLUSH, "FLUSH" },
    { WC_WLOG_FUA, "FUA" },
    { WC_WLOG_DISCARD, "DISCARD" },
    { WC_WLOG_MARK, "MARK" },
    { WC_WLOG_METADATA, "METADATA" },
  };
  char unknown[24];
  size_t n = 0;

  if (len == 0)
    return buf;
  buf[0] = '\0';
  for (size_t i = 0; i <= sizeof names / sizeof names[0]; i++) {
    const char *name;

    if (i < sizeof names / sizeof names[0]) {
      if (!(flags & names[i].bit))
        continue;
      name = names[i].name;
    }
    else {
      if (!(flags & ~WC_WLOG_FLAGS_KNOWN))
        continue;
      snprintf (unknown, sizeof unknown, "0x%" PRIx64,
                flags & ~WC_WLOG_FLAGS_KNOWN);
      name = unknown;
    }
    if (n > 0 && n + 1 < len)
      buf[n++] = '|';
    n += snprintf (buf + n, len - n, "%s", name);
    if (n >= len) {             /* truncated: stop at the terminator */
      n = len - 1;
      break;
    }
  }
  if (n == 0)
    snprintf (buf, len, "NONE");
  return buf;
}

/* The write log's on-disk format: Linux dm-log-writes v1, which QEMU's
 * blklogwrites driver and xfstests' replay-log also read and write.
 *
 * Layout (every integer little-endian; "sector" means the log's own
 * sector size, given in the superblock, never a fixed 512):
 *
 *   sector 0           superblock: magic u64, version u64, nr_entries u64,
 *                      sectorsize u32, then zeros to the end of the sector
 *   per entry, in order:
 *     one sector       header: sector u64, nr_sectors u64, flags u64,
 *                      data_len u64 (32 bytes), then zeros -- except a
 *                      MARK, whose text (data_len bytes, no NUL) follows
 *                      the header in the same sector, then zeros
 *     nr_sectors       the data written, unless the entry is a DISCARD
 *     sectors          (a DISCARD has no data in the log)
 *
 * An entry's sector and nr_sectors address the logged disk in sectors of
 * the log's sector size.  Only the first nr_entries entries are part of
 * the log: writers rewrite the superblock from time to time, so bytes
 * after the last counted entry are normal and ignored.  data_len is 0 for
 * writes (the kernel once stored DAX writes with data_len = the bytes
 * written, the data still in the nr_sectors sectors after the header).
 *
 * This file only converts between bytes and structs and checks one
 * header; wlog.h reads whole logs.  Nothing here allocates or prints.
 */
#ifndef WC_WLOG_FORMAT_H
#define WC_WLOG_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WC_WLOG_MAGIC UINT64_C (0x6a736677736872)
#define WC_WLOG_VERSION 1

/* Entry flags. */
#define WC_WLOG_FLUSH UINT64_C (1)      /* a cache flush completed here */
#define WC_WLOG_FUA UINT64_C (2)        /* the write was durable when done */
#define WC_WLOG_DISCARD UINT64_C (4)    /* the range reads as zeros; no data */
#define WC_WLOG_MARK UINT64_C (8)       /* a named point; text, no sectors */
#define WC_WLOG_METADATA UINT64_C (16)  /* a hint: the write was metadata */
#define WC_WLOG_FLAGS_KNOWN UINT64_C (31)

#define WC_WLOG_SUPER_BYTES 28          /* the superblock's fields */
#define WC_WLOG_HEADER_BYTES 32         /* an entry header's fields */

/* Sector sizes a log may have: a power of two in this range.  The kernel
 * uses the device's logical block size; QEMU refuses 16 MiB and more. */
#define WC_WLOG_SECTOR_MIN 512
#define WC_WLOG_SECTOR_MAX (8 * 1024 * 1024)

/* The longest MARK text a writer should put in a sector of ss bytes: the
 * kernel keeps room for a NUL after it.  Readers accept up to ss - 32. */
#define WC_WLOG_MARK_MAX(ss) ((ss) - WC_WLOG_HEADER_BYTES - 1)

struct wc_wlog_super {
  uint64_t magic;
  uint64_t version;
  uint64_t nr_entries;
  uint32_t sectorsize;
};

struct wc_wlog_header {
  uint64_t sector;              /* first sector written (log sectors) */
  uint64_t nr_sectors;          /* sectors written */
  uint64_t flags;               /* WC_WLOG_* */
  uint64_t data_len;            /* MARK: bytes of text; a write: 0, or
                                 * bytes of inline data; otherwise 0 */
};

/* Field codecs: buf holds WC_WLOG_SUPER_BYTES or WC_WLOG_HEADER_BYTES. */
void wc_wlog_super_put (uint8_t *buf, const struct wc_wlog_super *s);
void wc_wlog_super_get (const uint8_t *buf, struct wc_wlog_super *s);
void wc_wlog_header_put (uint8_t *buf, const struct wc_wlog_header *h);
void wc_wlog_header_get (const uint8_t *buf, struct wc_wlog_header *h);

/* Whole sectors, as a writer puts them in the file: the fields, then the
 * MARK text (h->data_len bytes of mark, never more than fit in the sector;
 * mark is ignored unless h->flags has WC_WLOG_MARK), then zeros up to
 * sectorsize bytes.  The caller has checked sectorsize, and that mark
 * holds data_len bytes. */
void wc_wlog_super_encode (uint8_t *sector, uint32_t sectorsize,
                           uint64_t nr_entries);
void wc_wlog_header_encode (uint8_t *sector, uint32_t sectorsize,
                            const struct wc_wlog_header *h,
                            const char *mark);

/* Whether ss is a sector size a log may have. */
bool wc_wlog_sector_size_ok (uint64_t ss);

/* Checks a superblock: NULL if it is valid, else the reason ("bad magic
 * 0x..."), written into reason (at least 64 bytes). */
const char *wc_wlog_super_check (const struct wc_wlog_super *s,
                                 char *reason, size_t len);

/* Checks one entry header against every rule that needs no other part of
 * the log: NULL if valid, else the reason.  sector is the header's whole
 * sector (sectorsize bytes, already checked with wc_wlog_sector_size_ok),
 * h its decoded fields.  The rules:
 *   - no flag bits beyond WC_WLOG_FLAGS_KNOWN;
 *   - a MARK is only a MARK: no other flag, no sectors, data_len at most
 *     sectorsize - 32, text without NUL bytes, zeros after the text;
 *   - any other entry has zeros after its 32-byte header;
 *   - a FLUSH has no other flag, no sectors and no data_len;
 *   - a DISCARD has sectors and no data_len;
 *   - a write (no FLUSH, DISCARD or MARK) has sectors (an entry with no
 *     flags and no sectors is what a zeroed or torn log looks like), and
 *     data_len at most its nr_sectors * sectorsize;
 *   - (sector + nr_sectors) * sectorsize fits in 63 bits (an off_t).
 * The reasons are constant strings, for messages "entry N: REASON". */
const char *wc_wlog_header_check (const uint8_t *sector, uint32_t sectorsize,
                                  const struct wc_wlog_header *h);

/* "FLUSH|FUA", "DISCARD", "NONE" (a plain write), with unknown bits as
 * "0x40".  Writes at most len bytes into buf (64 always suffice). */
const char *wc_wlog_flags_name (uint64_t flags, char *buf, size_t len);

#endif /* WC_WLOG_FORMAT_H */

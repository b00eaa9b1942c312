/* Reading and replaying a write log (dm-log-writes v1: ours, QEMU's
 * blklogwrites, the kernel's; the format is in wlog-format.h).
 *
 * Calling sequence
 *   r = wc_wlog_open (path, &msg)         or wc_wlog_open_fd (fd, &msg)
 *                                         or wc_wlog_open_mem (buf, len, &msg)
 *   wc_wlog_sector_size (r), wc_wlog_nr_entries (r)
 *   while ((ret = wc_wlog_next (r, &e, &msg)) == 1)
 *     ... e describes entry e.index; for a write,
 *         wc_wlog_read_data (r, &e, pos, buf, count, &msg) reads its data ...
 *   ret == 0: all nr_entries entries were read and valid;
 *   ret == -1: msg names the first bad entry ("entry 17: data runs past
 *              the end of the file"); the reader stays on that entry
 *   wc_wlog_rewind (r)                    to iterate again from entry 0
 *   wc_wlog_replay (r, n, ops, opaque, size, &msg)   or wc_wlog_replay_fd
 *   wc_wlog_close (r)
 *
 * What is checked: at open, the superblock (magic, version, sector size a
 * power of two from 512 to 8 MiB, a whole first sector in the file, zeros
 * from byte 32 on: the kernel leaves its struct padding, bytes 28..31,
 * unset); at each wc_wlog_next, every rule of
 * wc_wlog_header_check, then that the header and the entry's data lie
 * inside the file.  Only entries 0 .. nr_entries - 1 are read: bytes after
 * them (a writer's unfinished entries) are never looked at, so a log cut
 * short after its last superblock update reads fine to that point.  The
 * file's size is taken at open.
 *
 * Ownership: the reader owns what it opened by path; a descriptor given to
 * wc_wlog_open_fd stays the caller's and must stay open (and the file
 * unchanged) until wc_wlog_close; a buffer given to wc_wlog_open_mem is
 * not copied and must outlive the reader.  An entry's mark text belongs to
 * the reader and is valid until the next wc_wlog_next, wc_wlog_rewind or
 * wc_wlog_close.  Messages are the caller's (g_free).
 *
 * Errors: -1 (or NULL) with errno and *message set, the message reading
 * "object: reason" ("superblock: bad magic 0x0", "entry 3: FLUSH with
 * sectors", "entry 3: read: Input/output error"):
 *   EINVAL  the log is malformed, or a bad argument (a replay of more
 *           entries than the log has, a data range outside the entry)
 *   ENOSPC  replay: an entry's range lies past the end of the image
 *   EIO     the file is shorter than it was at open
 *   other   from open(2), pread(2), or the replay's media ops
 *
 * Threads: a reader has no locks; use it from one thread at a time.
 * Readers of the same file are independent.
 *
 * Misuse (undefined): an entry struct from another reader, or one changed
 * by the caller, passed to wc_wlog_read_data.
 */
#ifndef WC_WLOG_H
#define WC_WLOG_H

#include <stddef.h>
#include <stdint.h>

#include "wcache.h"
#include "wlog-format.h"

/* What an entry asks of the disk; derived from its flags after checks. */
enum wc_wlog_kind {
  WC_WLOG_KIND_WRITE,           /* data follows; FUA/METADATA may be set */
  WC_WLOG_KIND_DISCARD,         /* the range reads as zeros */
  WC_WLOG_KIND_FLUSH,           /* earlier entries are durable */
  WC_WLOG_KIND_MARK,            /* a named point */
};

/* "write", "discard", "flush", "mark". */
const char *wc_wlog_kind_name (enum wc_wlog_kind kind);

struct wc_wlog_entry {
  uint64_t index;               /* 0 .. nr_entries - 1 */
  enum wc_wlog_kind kind;
  uint64_t sector;              /* as in the log, in log sectors */
  uint64_t nr_sectors;
  uint64_t flags;               /* WC_WLOG_* */
  uint64_t data_len;            /* MARK: text bytes; write: 0 or inline */
  uint64_t offset;              /* on the disk: sector * sectorsize */
  uint64_t length;              /* on the disk: nr_sectors * sectorsize */
  uint64_t header_offset;       /* file offset of the entry's header */
  uint64_t data_offset;         /* file offset of its data (the sector
                                 * after the header) */
  uint64_t data_size;           /* bytes of data in the file: length for
                                 * a write, 0 otherwise */
  const char *mark;             /* MARK: the text, NUL-terminated; NULL
                                 * for other entries.  The reader's. */
};

struct wc_wlog;

/* Opens a log and checks its superblock.  NULL with errno and *message
 * on failure. */
struct wc_wlog *wc_wlog_open (const char *path, char **message);
struct wc_wlog *wc_wlog_open_fd (int fd, char **message);
struct wc_wlog *wc_wlog_open_mem (const void *buf, size_t len,
                                  char **message);
/* Closes what the reader opened; NULL is ignored. */
void wc_wlog_close (struct wc_wlog *r);

uint32_t wc_wlog_sector_size (const struct wc_wlog *r);
/* Entries in the log, from the superblock. */
uint64_t wc_wlog_nr_entries (const struct wc_wlog *r);
/* The file's size in bytes at open. */
uint64_t wc_wlog_file_size (const struct wc_wlog *r);

/* Reads and checks the next entry into *e.  Returns 1 for an entry, 0
 * after the last (nr_entries read), -1 with errno and *message for a bad
 * entry or a read error.  After -1 the reader stays on that entry: the
 * next call reads it again (a malformed entry fails again), so no caller
 * can step over it. */
int wc_wlog_next (struct wc_wlog *r, struct wc_wlog_entry *e,
                  char **message);
/* Back to entry 0. */
void wc_wlog_rewind (struct wc_wlog *r);

/* Reads bytes [pos, pos + count) of write entry e's data (pos + count <=
 * e->data_size).  0, or -1 with errno and *message. */
int wc_wlog_read_data (struct wc_wlog *r, const struct wc_wlog_entry *e,
                       uint64_t pos, void *buf, size_t count,
                       char **message);

/* Applies entries [0, n) of the log to an image of size bytes through
 * ops->write and ops->zero (neither with FUA; ops->read, flush and the
 * optional ops are not called): a write writes its data, a DISCARD zeroes
 * its range (wcache reads trimmed ranges as zeros), FLUSH and MARK do
 * nothing.  n <= nr_entries.  Every entry in [0, n) is checked, and its
 * range against size, before anything is written, so a malformed log or
 * one too large for the image leaves the image untouched; a failing op
 * leaves it partly replayed.  The reader is rewound before and after.
 * 0, or -1 with errno and *message ("entry 5: range 1048576+4096 runs
 * past the end of the image (1048576 bytes)"). */
int wc_wlog_replay (struct wc_wlog *r, uint64_t n,
                    const struct wc_media_ops *ops, void *opaque,
                    uint64_t size, char **message);
/* The same onto an open image file or block device (its size from
 * lseek), with pwrite; zeroes are written as zeros.  No sync: the caller
 * decides on fsync. */
int wc_wlog_replay_fd (struct wc_wlog *r, uint64_t n, int fd,
                       char **message);

#endif /* WC_WLOG_H */

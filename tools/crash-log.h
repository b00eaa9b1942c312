/* wcache-crash: a write log loaded for exploring (see crash-model.h for
 * what is done with it).
 *
 * Calling sequence
 *   log = crash_log_load (path, &msg)     reads and checks every entry
 *   log->writes[i], log->flushes[k], log->marks[j]
 *   crash_log_read (log, w, pos, buf, n, &msg)   a write's data
 *   crash_log_free (log)
 *
 * The log is read once, through the one reader (lib/wlog.h), which checks
 * every field; a malformed log fails here with the reader's message
 * ("entry 17: FLUSH with sectors").  What the explorer needs is kept in
 * compact arrays: writes and DISCARDs (with where their data lies in the
 * file), the FLUSH entries that cut the log into epochs, and the MARKs.
 *
 * Threads: a loaded log is read-only; crash_log_read may be called from
 * any number of threads at once (pread).
 */
#ifndef WC_CRASH_LOG_H
#define WC_CRASH_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A write or DISCARD entry: what may reach the media. */
struct crash_write {
  uint64_t index;               /* the entry's index in the log */
  uint64_t offset;              /* on the disk, bytes */
  uint64_t length;              /* bytes; a multiple of the sector size */
  uint64_t data_offset;         /* in the log file (a write's data) */
  bool fua;                     /* durable when acknowledged */
  bool discard;                 /* reads back as zeros; no data */
};

struct crash_mark {
  uint64_t index;               /* the entry's index in the log */
  char *text;
};

struct crash_log {
  char *path;
  int fd;                       /* for data reads */
  uint32_t sector_size;
  uint64_t nr_entries;
  struct crash_write *writes;   /* in log order */
  size_t nr_writes;
  uint64_t *flushes;            /* entry indexes of FLUSH entries */
  size_t nr_flushes;
  struct crash_mark *marks;     /* in log order */
  size_t nr_marks;
  uint64_t disk_end;            /* the highest byte any entry touches + 1 */
  uint64_t disk_end_entry;      /* an entry that reaches it */
  uint64_t nr_fua;
  uint64_t nr_discards;
  uint64_t bytes_written;
};

/* NULL with errno and *message ("LOG: entry 3: FLUSH with sectors"). */
struct crash_log *crash_log_load (const char *path, char **message);
void crash_log_free (struct crash_log *log);

/* Reads bytes [pos, pos + count) of write w's data (not a DISCARD).  0, or
 * -1 with errno and *message. */
int crash_log_read (const struct crash_log *log, const struct crash_write *w,
                    uint64_t pos, void *buf, size_t count, char **message);

/* Marks before entry position pos (entries [0, pos)). */
size_t crash_log_marks_before (const struct crash_log *log, uint64_t pos);
/* FLUSH entries before position pos: the epoch of a crash at pos. */
size_t crash_log_flushes_before (const struct crash_log *log, uint64_t pos);
/* The first MARK whose text is text, or -1. */
int64_t crash_log_find_mark (const struct crash_log *log, const char *text);

#endif /* WC_CRASH_LOG_H */

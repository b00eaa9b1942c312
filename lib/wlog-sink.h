/* The write log's writer: the engine's log sink (internal to lib/).
 *
 * The engine decides what goes into the log and in which order (engine.c:
 * acknowledgement order, a FLUSH entry where the flush arrived); the sink
 * keeps that order, writes the entries to the file in the dm-log-writes
 * format (wlog-format.h) without the engine's lock, and keeps the log
 * readable: the superblock's nr_entries is rewritten after every batch
 * that holds a FLUSH or a MARK, and when the log closes.
 *
 * Calling sequence
 *   s = wc_wlog_sink_open (path, ss, size, cb, opaque, &msg)  no lock held
 *   -- with the engine lock held, in the order the engine acknowledges --
 *   r = wc_wlog_rec_new (ss, sector, nr_sectors, kind)        any lock state
 *   wc_wlog_append (s, r, fua)               a write or DISCARD, r is s's
 *   f = wc_wlog_flush_begin (s)              a flush arrived: its place
 *   wc_wlog_flush_end (s, f, ok)             ... it ended
 *   wc_wlog_mark (s, text)                   a MARK entry
 *   wc_wlog_finish (s)                       no more entries (stop, cut)
 *   -- with no engine lock held --
 *   wc_wlog_drain (s)                        write what can be written
 *   wc_wlog_sync (s, f)                      after flush_end (f, true):
 *                                            wait until the FLUSH entry is
 *                                            in the file and synced
 *   wc_wlog_close_wait (s)                   after finish: wait until closed
 *   wc_wlog_sink_unref (s)
 *
 * Entries behind a flush that has not ended wait in memory: the FLUSH
 * entry goes where the flush arrived, and only once it succeeded (a flush
 * that fails leaves no entry).
 *
 * A failing log write (a full disk) fails the log, not the disk: the
 * sink stops taking entries, sets the superblock to the entries written
 * whole, closes the file and reports through cb; appends after that are
 * dropped.
 *
 * Locking: s->lock (a leaf, taken inside the engine lock by the appends)
 * protects the queue, the state and the counters, and is never held
 * across file I/O; s->io_lock serialises the file I/O (the descriptor and
 * the write offset).  Lock order: the engine lock, then s->lock; s->io_lock,
 * then s->lock; the engine lock is never taken while holding either.
 */
#ifndef WC_WLOG_SINK_H
#define WC_WLOG_SINK_H

#include <stdbool.h>
#include <stdint.h>

struct wc_wlog_sink;
struct wc_wlog_rec;

enum wc_wlog_rec_kind {
  WC_WLOG_REC_WRITE,            /* data entry: data follows the header */
  WC_WLOG_REC_DISCARD,          /* no data: the range reads as zeros */
};

/* Called (no lock held) once if the log fails, with "PATH: reason". */
typedef void (*wc_wlog_failed_fn) (void *opaque, const char *message);

/* Creates or truncates the log at path (a regular file that is empty or
 * already a log, or a block device) with sector size ss, for a disk of
 * disk_size bytes, and writes its superblock.  NULL with errno and
 * *message on failure. */
struct wc_wlog_sink *wc_wlog_sink_open (const char *path, uint32_t ss,
                                        wc_wlog_failed_fn failed,
                                        void *opaque, char **message);
/* The checks of wc_wlog_sink_open without writing anything (the file is
 * created if missing): for a frontend to refuse a bad path at start-up.
 * 0, or -1 with errno and *message. */
int wc_wlog_check_path (const char *path, char **message);
void wc_wlog_sink_ref (struct wc_wlog_sink *s);
void wc_wlog_sink_unref (struct wc_wlog_sink *s);
uint32_t wc_wlog_sink_sector_size (const struct wc_wlog_sink *s);

/* A write or DISCARD entry of nr_sectors sectors from sector, not yet in
 * any log; its data (WRITE: nr_sectors * ss bytes) is filled by the
 * caller through wc_wlog_rec_data before it is appended. */
struct wc_wlog_rec *wc_wlog_rec_new (uint32_t ss, uint64_t sector,
                                     uint64_t nr_sectors,
                                     enum wc_wlog_rec_kind kind);
uint8_t *wc_wlog_rec_data (struct wc_wlog_rec *r);
/* Frees a record that was never appended. */
void wc_wlog_rec_free (struct wc_wlog_rec *r);

/* Engine lock held.  The sink owns r from here (it frees it once
 * written, or at once if the log has finished or failed). */
void wc_wlog_append (struct wc_wlog_sink *s, struct wc_wlog_rec *r,
                     bool fua);
struct wc_wlog_rec *wc_wlog_flush_begin (struct wc_wlog_sink *s);
/* ok: the FLUSH entry stands, and the caller must call wc_wlog_sync (s, f)
 * (which frees f); !ok: no entry, and f is the sink's to free. */
void wc_wlog_flush_end (struct wc_wlog_sink *s, struct wc_wlog_rec *f,
                        bool ok);
/* Whether the sink still takes entries (not finished, not failed). */
bool wc_wlog_taking (struct wc_wlog_sink *s);
/* The longest MARK text the log takes. */
size_t wc_wlog_mark_max (const struct wc_wlog_sink *s);
void wc_wlog_mark (struct wc_wlog_sink *s, const char *text);
void wc_wlog_finish (struct wc_wlog_sink *s);

/* No engine lock held. */
void wc_wlog_drain (struct wc_wlog_sink *s);
void wc_wlog_sync (struct wc_wlog_sink *s, struct wc_wlog_rec *f);
void wc_wlog_close_wait (struct wc_wlog_sink *s);

/* For status replies (any lock state but s->lock). */
struct wc_wlog_info {
  char *path;                   /* newly allocated */
  char *failed;                 /* the reason, or NULL; newly allocated */
  bool open;                    /* still taking entries or writing them */
  uint32_t sector_size;
  uint64_t entries;             /* entries written to the file */
  uint64_t bytes;               /* bytes of the file, superblock included */
};
void wc_wlog_sink_info (struct wc_wlog_sink *s, struct wc_wlog_info *info);

#endif /* WC_WLOG_SINK_H */

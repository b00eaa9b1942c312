/* Engine internals shared by engine.c, writeback.c and power.c.
 * The lock and everything it protects are documented in engine.c. */
#ifndef WC_ENGINE_H
#define WC_ENGINE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

#include "wcache.h"
#include "lockcheck.h"
#include "oracle.h"
#include "pool.h"
#include "wlog-sink.h"

/* Block states.  A cached block is in e->blocks in exactly one state:
 *
 *   (absent) --write, partial or oracle--> LOADING --base read--> DIRTY
 *   (absent) --whole-block write-----------------------------> DIRTY
 *   DIRTY --write-back starts--> WRITEBACK --success, untouched--> (absent)
 *                                WRITEBACK --success, rewritten--> DIRTY
 *                                WRITEBACK --failure-----------> DIRTY
 *   DIRTY --power cut--> (absent)
 *
 * LOADING: a writer is reading the block's media content for a
 *   read-modify-write; nothing is cached yet, so readers go to the media and
 *   writers wait.
 * DIRTY: data (or zeros) not yet durable; on e->fifo, oldest first.
 * WRITEBACK: a snapshot (wb_data/wb_zero) is being written to the media.
 *   Writers may change the block meanwhile: they copy the data first if it
 *   is still the snapshot's buffer, and note redirty_seq.  Only one
 *   write-back of a block runs at a time.
 */
enum wc_bstate {
  WC_B_LOADING,
  WC_B_DIRTY,
  WC_B_WRITEBACK,
};

struct wc_block {
  uint64_t blkno;               /* hash key; immutable */
  enum wc_bstate state;
  bool zero;                    /* reads as zeros; data == NULL */
  uint8_t *data;                /* block_size bytes, or NULL if zero */
  uint64_t dirty_seq;           /* seq of the oldest modification that is
                                 * not durable */
  uint64_t redirty_seq;         /* WRITEBACK: seq of the first modification
                                 * after the snapshot; 0 if none */
  uint8_t *wb_data;             /* WRITEBACK: snapshot buffer (immutable) */
  bool wb_zero;                 /* WRITEBACK: snapshot is zeros */
  size_t wb_snap;               /* WRITEBACK: oracle content number */
  size_t oracle_n;              /* oracle content number of the newest data */
  uint64_t fail_ticket;         /* the flush whose write-back of this block
                                 * failed last: it does not retry it */
  GList link;                   /* in e->fifo while DIRTY */
};

struct wc_engine {
  /* Immutable after wc_engine_new. */
  uint64_t size;
  uint32_t bs;
  unsigned shift;
  uint64_t max_blocks;          /* S7: hard limit on cached blocks */
  uint64_t soft_blocks;         /* above this, one thread destages ahead */
  bool readonly;
  struct wc_pool *bufs;         /* spare block buffers (pool.c) */
  struct wc_pool *structs;      /* spare struct wc_block */
  const struct wc_media_ops *ops;
  void *opaque;
  void (*on_cut) (void *opaque, const struct wc_cut_report *);
  void (*on_power_on) (void *opaque);

  pthread_mutex_t switch_lock;  /* serialises wc_set_mode; before lock */
  void (*debug) (void *opaque, const char *msg);

  pthread_mutex_t lock;         /* protects everything below but owner;
                                 * wc_lock/wc_unlock, never pthread's own */
  gpointer owner;               /* atomic: the GThread holding lock, kept
                                 * in the checked build only */
  pthread_cond_t cond;          /* broadcast on any state change below */

  GHashTable *blocks;           /* wc_blk_key (blkno) -> struct wc_block,
                                 * all states */
  GQueue fifo;                  /* DIRTY blocks, oldest dirtying first */
  uint64_t nr_blocks;           /* entries in blocks, any state (S7) */
  uint64_t seq;                 /* modification counter; 0 means none */
  uint64_t tickets;             /* flush ids */
  unsigned destaging;           /* destage batches in flight */

  enum wc_mode mode;
  bool switching;               /* a WCE-off switch holds new writes */
  unsigned writes_inflight;     /* write requests between begin and end */

  bool powered;
  uint64_t epoch;               /* power cuts so far; written with the lock
                                 * held and atomically, read by wc_epoch
                                 * without it */
  unsigned media_inflight;      /* media ops running; a cut waits for 0 */
  bool cutting;                 /* a cut runs (it may be waiting for the
                                 * media): power-on and other cuts wait */
  uint64_t nofua_writebacks;    /* write-backs done without FUA: a durable
                                 * request whose blocks went down that way
                                 * meanwhile must flush the media */

  struct wc_cut armed_cut;      /* the armed trigger's cut */
  enum wc_trigger armed;
  uint64_t armed_at;            /* counter value that fires; for MS, the
                                 * CLOCK_MONOTONIC deadline in ns */
  char armed_mark[WC_MARK_NAME_MAX + 1];

  /* The timer thread (WC_TRIGGER_MS), started at the first timed arm. */
  pthread_cond_t timer_cond;    /* CLOCK_MONOTONIC; signalled on (dis)arm */
  pthread_t timer;
  bool timer_running;
  bool stopping;                /* wc_engine_free: the timer must exit */

  struct wc_stats st;           /* counters; powered/mode/cached filled on
                                 * read */
  struct wc_oracle *oracle;     /* NULL unless cfg.oracle */
  GPtrArray *garbage;           /* buffers to free at the next wc_unlock */

  /* The write log (wlog-sink.h).  log is the current or last one (for
   * status; the engine holds a reference); log_on says it takes entries.
   * log_ss mirrors log_on's sector size (0: off) atomically, so a writer
   * can prepare its entry before taking the lock.  kick[] are logs that
   * got entries under the lock (referenced): wc_unlock drains them after
   * dropping it.  Two are enough: the current log, and one a cut or a
   * stop just closed. */
  void (*on_log_failed) (void *opaque, const char *msg);
  struct wc_wlog_sink *log;
  bool log_on;
  uint32_t log_ss;              /* atomic */
#define WC_KICKS 2
  struct wc_wlog_sink *kick[WC_KICKS];
  unsigned nkick;
};

/* A destage writes back the oldest WC_DESTAGE_BATCH blocks, and more while
 * the FIFO goes on in a run of adjacent blocks, up to WC_DESTAGE_MAX.  The
 * batch is small so that its block headers and buffers stay in the CPU's
 * caches from selection to completion: with 64, scattered 4 KiB writes into
 * a full cache cost 10-15% more CPU each.  A sequential stream still reaches
 * the media in runs of 64 blocks. */
#define WC_DESTAGE_BATCH 8
#define WC_DESTAGE_MAX 64

/* The engine's record of one request while it runs, from
 * inflight_begin_locked to inflight_end_locked: what it saw on arrival.
 * Not the caller's description of the request (struct wc_request,
 * wcache.h). */
struct wc_inflight {
  uint64_t epoch;               /* e->epoch at begin */
  enum wc_mode mode;            /* e->mode at begin */
  bool writer;
};

/* The lock.  wc_lock takes it and wc_unlock (engine.c) drops it, then
 * frees the garbage and drains the logs queued under it; wc_wait and
 * wc_timedwait wait on one of its condition variables.  Only these touch
 * e->lock, so that the checked build (WC_CHECK_LOCKS: the unit tests')
 * knows the holder and WC_LOCK_HELD, at the top of every _locked
 * function, aborts unless it is the calling thread.  The filter's build
 * records and checks nothing: the trylock check this replaced already cost
 * the request path a few per cent. */
#ifdef WC_CHECK_LOCKS
#define WC_LOCK_HELD(e) \
  g_assert (g_atomic_pointer_get (&(e)->owner) == (gpointer) g_thread_self ())
#else
#define WC_LOCK_HELD(e) ((void) (e))
#endif

static inline void
wc_owner_set (struct wc_engine *e, bool held)
{
#ifdef WC_CHECK_LOCKS
  g_atomic_pointer_set (&e->owner, held ? (gpointer) g_thread_self () : NULL);
#else
  (void) e;
  (void) held;
#endif
}

static inline void
wc_lock (struct wc_engine *e)
{
  pthread_mutex_lock (&e->lock);
  wc_owner_set (e, true);
}

/* Drops the lock, then frees the garbage and drains the logs; keeps errno. */
void wc_unlock (struct wc_engine *e);

/* Drops the lock for one media op, between wc_media_begin_locked and
 * wc_media_end_locked; wc_lock takes it back.  Unlike wc_unlock it leaves
 * the garbage and the logs to the caller's final wc_unlock: a cut waits
 * for the media to drain (power.c, step 2), so free(3) of a batch or a
 * log's fdatasync here would hold up the cut too. */
static inline void
wc_unlock_for_media (struct wc_engine *e)
{
  WC_LOCK_HELD (e);
  wc_owner_set (e, false);
  pthread_mutex_unlock (&e->lock);
}

/* pthread_cond_wait on cond with the lock: the lock is another thread's
 * meanwhile, and so is the record of its holder. */
static inline void
wc_wait (struct wc_engine *e, pthread_cond_t *cond)
{
  WC_LOCK_HELD (e);
  wc_owner_set (e, false);
  pthread_cond_wait (cond, &e->lock);
  wc_owner_set (e, true);
}

static inline void
wc_timedwait (struct wc_engine *e, pthread_cond_t *cond,
              const struct timespec *deadline)
{
  WC_LOCK_HELD (e);
  wc_owner_set (e, false);
  pthread_cond_timedwait (cond, &e->lock, deadline);
  wc_owner_set (e, true);
}

/* e->blocks is keyed by the block number itself, so a probe compares
 * pointers instead of reading a cold key through one (wc_engine_new
 * refuses disks whose block numbers do not fit a pointer). */
static inline gpointer
wc_blk_key (uint64_t blkno)
{
  return (gpointer) (uintptr_t) blkno;
}

static inline struct wc_block *
wc_block_lookup_locked (struct wc_engine *e, uint64_t blkno)
{
  WC_LOCK_HELD (e);
  return g_hash_table_lookup (e->blocks, wc_blk_key (blkno));
}

/* power.c: stops the timer thread (wc_engine_free, lock not held). */
void wc_timer_stop (struct wc_engine *e);

/* engine.c */
const char *wc_bstate_name (enum wc_bstate state);
void wc_debugf (struct wc_engine *e, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));
#define WC_DEBUG(e, ...) \
  do { if ((e)->debug) wc_debugf ((e), __VA_ARGS__); } while (0)

bool wc_inflight_alive_locked (struct wc_engine *e,
                               const struct wc_inflight *r);
int wc_media_begin_locked (struct wc_engine *e);
void wc_media_end_locked (struct wc_engine *e);
void wc_block_remove_locked (struct wc_engine *e, struct wc_block *b);
/* GCompareFunc for g_ptr_array_sort of struct wc_block *: by block. */
int wc_block_cmp_blkno (gconstpointer a, gconstpointer b);
/* Queues p (may be NULL) for free(3) once the lock is dropped. */
void wc_garbage_locked (struct wc_engine *e, void *p);
/* A block buffer (e->bs bytes, uninitialised); any lock state. */
uint8_t *wc_buf_new (struct wc_engine *e);
/* Gives back a block buffer (may be NULL): to the spares, or to the
 * garbage if there are enough. */
void wc_buf_drop_locked (struct wc_engine *e, void *p);
/* Asks wc_unlock to drain s (it got entries). */
void wc_log_kick_locked (struct wc_engine *e, struct wc_wlog_sink *s);
/* log.c: a FLUSH entry for a flush that covered everything (a switch to
 * WCE off); returns the record to wc_wlog_sync after unlocking, or NULL. */
struct wc_wlog_rec *wc_log_flushed_all_locked (struct wc_engine *e,
                                               struct wc_wlog_sink **s);
/* log.c: the cut's MARK, then the log closes (a cut is running). */
void wc_log_cut_locked (struct wc_engine *e, const struct wc_cut_report *rep);

/* writeback.c */
int wc_writeback_locked (struct wc_engine *e, struct wc_inflight *r,
                         uint64_t first, uint64_t last, uint64_t target,
                         bool fua);
int wc_destage_locked (struct wc_engine *e, struct wc_inflight *r);
int wc_flush_all_locked (struct wc_engine *e, struct wc_inflight *r);
/* Every write acknowledged so far made durable, with new writes held
 * (e->switching: the caller clears it and broadcasts e->cond) and those
 * in flight drained first: a switch to WCE off (S5), a write log's base.
 * 0, or -1 with errno (EIO if the power went meanwhile). */
int wc_flush_held_locked (struct wc_engine *e);
int wc_media_flush_locked (struct wc_engine *e);

/* power.c */
void wc_cut_locked (struct wc_engine *e, const struct wc_cut *cut,
                    struct wc_cut_report *report);
/* After the counters were bumped for an acknowledged event of this kind:
 * true if the armed cut must fire now (it is then disarmed and copied to
 * *cut). */
bool wc_trigger_due_locked (struct wc_engine *e, enum wc_trigger kind,
                            struct wc_cut *cut);
uint64_t wc_trigger_remaining_locked (struct wc_engine *e);

#endif /* WC_ENGINE_H */

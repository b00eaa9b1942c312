/* wcache engine: a disk with a volatile write cache.
 *
 * This header is the engine's manual.  The engine knows nothing of nbdkit or
 * FUSE: a frontend creates one engine per emulated disk, hands it a media
 * ops table (the durable layer below), and forwards its clients' requests.
 * The rules cited as S1..S10 are those of wcache(7), THE RULES.
 *
 * Calling sequence
 *   wc_engine_new()            once; the engine owns nothing of the caller's
 *   wc_read/write/zero/trim/flush()   from any number of threads at once
 *   wc_set_mode(), wc_set_wce(), wc_power_cut(), wc_arm_cut(), wc_power_on(),
 *   wc_get_stats(), wc_oracle_verify()  from any thread, at any time
 *   wc_engine_free()           once, when no other call is running
 *
 * Errors: every int function returns 0 on success, or -1 with errno set:
 *   EIO     the media failed, or the power is off (S8), or a power cut
 *           happened while the request was in flight
 *   EINVAL  a bad argument (range past the end of the disk, bad mode ...)
 *   ENOMEM  out of memory
 *   EROFS   a write to a disk whose media cannot be written
 * The engine never prints.  Data that could not be written back stays
 * cached and dirty: the engine never drops acknowledged data except at a
 * power cut (S3, S5, S7).
 *
 * Misuse (undefined): calling anything after wc_engine_free(); media ops
 * that call back into the engine; a request whose buffer is shorter than its
 * count.
 */
#ifndef WCACHE_H
#define WCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* ---- Cache modes (wcache(7), CACHE MODES) ------------------------------ */

enum wc_mode {
  WC_MODE_WRITEBACK,            /* WCE on; flush writes back (the default) */
  WC_MODE_WRITETHROUGH,         /* WCE off; every write durable before ack */
  WC_MODE_NONE,                 /* as writeback; O_DIRECT on a host file */
  WC_MODE_DIRECTSYNC,           /* as writethrough; O_DIRECT|O_DSYNC */
  WC_MODE_UNSAFE,               /* WCE on; FLUSH and FUA acknowledged, ignored */
};
#define WC_MODE_COUNT 5

/* QEMU's name ("writeback", ...), or NULL for an out-of-range value. */
const char *wc_mode_name (enum wc_mode mode);
/* Parse a QEMU mode name.  Returns -1 with errno EINVAL if unknown. */
int wc_mode_parse (const char *s, enum wc_mode *mode);
/* Whether the volatile cache is enabled (virtio "writeback", SCSI WCE). */
bool wc_mode_wce (enum wc_mode mode);
/* The sysfs cache_type string: "write back" or "write through". */
const char *wc_mode_cache_type (enum wc_mode mode);
/* The mode with WCE set to wce and the host-flags half of mode kept:
 * writeback <-> writethrough, none <-> directsync; unsafe stays unsafe
 * with WCE on and becomes writethrough with WCE off. */
enum wc_mode wc_mode_with_wce (enum wc_mode mode, bool wce);
/* open(2) flags a host image file takes in this mode (O_DSYNC, O_DIRECT). */
int wc_mode_host_flags (enum wc_mode mode);

/* ---- Power cut policies (S8) -------------------------------------------- */

enum wc_policy {
  WC_CUT_LOSE,                  /* every dirty block is lost */
  WC_CUT_KEEP,                  /* every dirty block is written back */
  WC_CUT_RANDOM,                /* each dirty block survives with p */
  WC_CUT_ORDERED,               /* dirty blocks survive in the order they
                                 * were first dirtied since last clean, each
                                 * with its newest content, up to a random
                                 * point (a coalescing FIFO destager; not a
                                 * prefix of the writes) */
  WC_CUT_TORN,                  /* each atomic unit survives with p */
};
#define WC_POLICY_COUNT 5

const char *wc_policy_name (enum wc_policy policy);
int wc_policy_parse (const char *s, enum wc_policy *policy);

struct wc_cut {
  enum wc_policy policy;
  bool seed_set;                /* false: the engine picks and reports a seed */
  uint64_t seed;
  double p;                     /* survival probability, random and torn */
  uint32_t unit;                /* torn: atomic unit in bytes, a power of two
                                 * from 512 to the block size */
};
/* Defaults: lose, no seed, p = 0.5, unit = 512. */
void wc_cut_init (struct wc_cut *cut);

/* What a cut did; also kept as the engine's "last cut". */
struct wc_cut_report {
  enum wc_policy policy;
  uint64_t seed;                /* the seed used, given or picked */
  uint64_t dirty;               /* dirty blocks met by the cut */
  uint64_t kept;                /* of those, written back whole */
  uint64_t lost;                /* of those, lost whole */
  uint64_t torn;                /* of those, written back in part (torn) */
  uint64_t errors;              /* survivors the media refused (then lost) */
  uint32_t unit;                /* torn: the atomic unit used */
  /* With cfg.oracle, the cut checks the media before the power can come
   * back (S10): nothing else runs then, so the check sees exactly what
   * the cut left. */
  bool verified;                /* the check ran (oracle on, media read) */
  int verify_errno;             /* the media read failed: the check did
                                 * not run (0 otherwise) */
  uint64_t verified_blocks;     /* blocks checked */
  uint64_t exact_violations;    /* 512-byte units differing from what the
                                 * cut wrote (WC_VERIFY_EXACT) */
  uint64_t contract_violations; /* units of the cut's unit breaking S10
                                 * (WC_VERIFY_CONTRACT) */
  uint64_t first_bad_offset;    /* of the first violation, if any */
};

/* ---- Triggers (S9): the cut fires right after the N-th event ----------- */

enum wc_trigger {
  WC_TRIGGER_NONE,
  WC_TRIGGER_WRITES,            /* acknowledged writes, zeroes and trims */
  WC_TRIGGER_FLUSHES,           /* acknowledged flushes */
  WC_TRIGGER_BYTES,             /* bytes acknowledged by writes/zero/trim */
  WC_TRIGGER_MS,                /* milliseconds since arming (a timer) */
  WC_TRIGGER_MARK,              /* a mark with the armed name */
};

#define WC_MARK_NAME_MAX 255    /* bytes of a mark name a trigger waits for */

const char *wc_trigger_name (enum wc_trigger trigger);

/* ---- The media below ---------------------------------------------------- */

/* The durable layer.  Each op returns 0, or -1 with errno set.  Ops are
 * called from many threads at once, never with an engine lock held, except
 * that a power cut writes its survivors and (with the oracle) reads the
 * media back while every request is failing, and wc_oracle_verify reads
 * the media with requests held.
 * fua: the data must be durable when the call returns.  Trims reach the
 * media as zeroes (a trimmed block reads as zeros in the cache too). */
typedef void (*wc_describe_fn) (void *ctx, const char *key,
                                const char *value);

struct wc_media_ops {
  int (*read) (void *opaque, void *buf, uint32_t count, uint64_t offset);
  int (*write) (void *opaque, const void *buf, uint32_t count,
                uint64_t offset, bool fua);
  int (*zero) (void *opaque, uint32_t count, uint64_t offset, bool fua);
  int (*flush) (void *opaque);
  /* Optional (NULL): write count bytes gathered from iovcnt buffers (a run
   * of adjacent blocks).  Without it the engine copies a run into one
   * buffer for write. */
  int (*writev) (void *opaque, const struct iovec *iov, int iovcnt,
                 uint32_t count, uint64_t offset, bool fua);
  /* Optional (NULL): called by wc_set_mode after the switch took effect,
   * serialised with other switches, with no engine lock held and requests
   * still running, so a media with host-side state per mode (a file's open
   * flags, wcache(7) SAFE REOPEN) quiesces its own I/O.  Its failure does not
   * undo the switch; the media reports it through describe. */
  void (*set_mode) (void *opaque, enum wc_mode mode);
  /* Optional (NULL): calls add (ctx, key, value) for each fact about the
   * media that status and mode replies show (host_flags=...). */
  void (*describe) (void *opaque, wc_describe_fn add, void *ctx);
};

/* ---- The engine --------------------------------------------------------- */

struct wc_config {
  uint64_t size;                /* disk size in bytes */
  uint32_t block_size;          /* cache block: power of two, 512..65536 */
  uint64_t cache_size;          /* most dirty data held (S7), >= block_size */
  enum wc_mode mode;
  bool readonly;                /* writes fail with EROFS */
  bool oracle;                  /* record what is durable (S10); costs a
                                 * hash per write and a read per new block */
  const struct wc_media_ops *ops;
  void *opaque;                 /* passed to every op */
  /* Called after every power cut (requested or triggered), from the thread
   * that ran it, with no engine lock held.  May be NULL. */
  void (*on_cut) (void *opaque, const struct wc_cut_report *report);
  /* Called after every wc_power_on, the same way.  May be NULL. */
  void (*on_power_on) (void *opaque);
  /* If set, called with one line per cache event (write-backs with their
   * block numbers, destages, cut decisions, mode switches), possibly with
   * the engine lock held: it must not call into the engine.  May be NULL. */
  void (*debug) (void *opaque, const char *msg);
  /* Called once when the write log fails (its file could not be written:
   * a full disk), with "PATH: what: reason", from the thread that found it,
   * with no engine lock held.  The disk goes on; the log stops.  May be
   * NULL. */
  void (*on_log_failed) (void *opaque, const char *msg);
};

#define WC_DEFAULT_BLOCK_SIZE 4096
#define WC_DEFAULT_CACHE_SIZE (256 * 1024 * 1024)
#define WC_MIN_BLOCK_SIZE 512
#define WC_MAX_BLOCK_SIZE 65536

struct wc_engine;

/* Fills *cfg with the defaults (writeback, 4 KiB blocks, 256 MiB). */
void wc_config_init (struct wc_config *cfg);
/* Returns NULL with errno EINVAL (bad config) or ENOMEM. */
struct wc_engine *wc_engine_new (const struct wc_config *cfg);
/* Frees the engine.  Dirty data is discarded, as at a power cut: call
 * wc_flush() first to keep it. */
void wc_engine_free (struct wc_engine *e);

/* Request flags. */
#define WC_FUA          1u      /* durable before return (S2) */
#define WC_WRITETHROUGH 2u      /* the client was never offered FLUSH (S6):
                                 * every write durable before return */
#define WC_FORCE        4u      /* flush: write back even in unsafe mode (the
                                 * disk's own write-back, not a client's) */

/* Data requests (S1-S4).  Zero and trim are cached writes that need no
 * buffer; a trimmed range reads back as zeros.  A write, zero or trim that
 * returns 0 is acknowledged; flush returns 0 once every write acknowledged
 * before it was called is durable (S3), except in unsafe mode, where flush
 * and FUA do nothing. */
int wc_read (struct wc_engine *e, void *buf, uint32_t count, uint64_t offset);
int wc_write (struct wc_engine *e, const void *buf, uint32_t count,
              uint64_t offset, unsigned flags);
int wc_zero (struct wc_engine *e, uint32_t count, uint64_t offset,
             unsigned flags);
int wc_trim (struct wc_engine *e, uint32_t count, uint64_t offset,
             unsigned flags);
int wc_flush (struct wc_engine *e, unsigned flags);

/* The same requests as one call, for frontends that track connections:
 * the request fails with EIO unless the engine's epoch (wc_epoch) is still
 * req->epoch when it begins, so a connection opened before a power cut
 * cannot write after a later power-on.  WC_ANY_EPOCH skips the check. */
enum wc_op { WC_OP_READ, WC_OP_WRITE, WC_OP_ZERO, WC_OP_TRIM, WC_OP_FLUSH };
#define WC_ANY_EPOCH UINT64_MAX
struct wc_request {
  enum wc_op op;
  void *buf;                    /* READ: filled; WRITE: the data */
  uint32_t count;
  uint64_t offset;
  unsigned flags;               /* WC_FUA, WC_WRITETHROUGH; FLUSH: WC_FORCE */
  uint64_t epoch;
};
int wc_submit (struct wc_engine *e, const struct wc_request *req);

uint64_t wc_size (const struct wc_engine *e);
uint32_t wc_block_size (const struct wc_engine *e);

/* Mode switch (S5).  Turning WCE off writes back and flushes everything
 * first, with writes held; if that fails the mode is unchanged (-1, errno
 * from the media, or EIO if the power is cut meanwhile).  While the power
 * is off the cache is empty, so any switch succeeds at once.  After a
 * successful switch (also to the same mode) the media's set_mode op runs
 * before wc_set_mode returns: a file backing reopens with the new flags
 * then, or retries a reopen that failed before. */
enum wc_mode wc_get_mode (struct wc_engine *e);
int wc_set_mode (struct wc_engine *e, enum wc_mode mode);
/* WCE on or off, as a sysfs cache_type write: switches to
 * wc_mode_with_wce (current mode, wce), reading the current mode and
 * switching as one step, serialised with every other switch (a concurrent
 * wc_set_mode cannot make it pick the wrong pair).  Otherwise as
 * wc_set_mode; *from and *to (may be NULL) get the modes before and after
 * (after: the mode in force, also on failure). */
int wc_set_wce (struct wc_engine *e, bool wce, enum wc_mode *from,
                enum wc_mode *to);
/* The media's own facts (ops->describe), if it has any. */
void wc_describe_media (struct wc_engine *e, wc_describe_fn add, void *ctx);

/* Power (S8).  wc_power_cut() returns after the cut has fully happened:
 * requests in flight fail with EIO, the dirty data met the policy, and every
 * request fails with EIO until wc_power_on().  Cutting while off is EIO.
 * report may be NULL.  After power-on the disk reads exactly the media. */
int wc_power_cut (struct wc_engine *e, const struct wc_cut *cut,
                  struct wc_cut_report *report);
int wc_power_on (struct wc_engine *e);
bool wc_powered (struct wc_engine *e);

/* Arm a cut to fire right after the n-th event counted from now (n >= 1),
 * inside the request that completes it, before that request returns; for
 * WC_TRIGGER_MS, n milliseconds from now, from the engine's timer thread.
 * A second arm replaces the first; WC_TRIGGER_NONE disarms; any cut
 * disarms.  Use wc_arm_cut_at_mark for WC_TRIGGER_MARK. */
int wc_arm_cut (struct wc_engine *e, const struct wc_cut *cut,
                enum wc_trigger trigger, uint64_t n);
/* Arm a cut to fire inside wc_mark (name), before it returns.  name is
 * 1..WC_MARK_NAME_MAX bytes. */
int wc_arm_cut_at_mark (struct wc_engine *e, const struct wc_cut *cut,
                        const char *name);
/* A named point in the request stream (the write log's MARK): counts it,
 * logs it, and fires a cut armed for this name.  EIO while the power is
 * off; EINVAL if the log is on and text is longer than wc_log_mark_max. */
int wc_mark (struct wc_engine *e, const char *text);
/* Power cuts so far: a frontend compares it to tell a connection that a
 * cut happened since it opened. */
uint64_t wc_epoch (struct wc_engine *e);

struct wc_stats {
  bool powered;
  enum wc_mode mode;
  uint64_t cached_blocks;       /* dirty blocks, in write-back included */
  uint64_t cache_blocks_max;
  uint64_t reads, writes, fua_writes, zeroes, trims, flushes;
  uint64_t bytes_read, bytes_written;
  uint64_t writeback_blocks;    /* blocks written back to the media */
  uint64_t writeback_ios;       /* media writes/zeroes they took (coalesced) */
  uint64_t destaged_blocks;     /* of those, forced out by a full cache (S7) */
  uint64_t media_errors;
  uint64_t cuts;
  bool have_last_cut;
  struct wc_cut_report last_cut;
  uint64_t marks;
  enum wc_trigger armed;
  uint64_t armed_remaining;     /* events (ms for a timer) before the cut */
  char armed_mark[WC_MARK_NAME_MAX + 1];  /* WC_TRIGGER_MARK: the name */
  struct wc_cut armed_cut;      /* the cut the trigger will make */
};
void wc_get_stats (struct wc_engine *e, struct wc_stats *st);

/* ---- The write log ------------------------------------------------------- */

/* The log is the disk's promise, in the dm-log-writes v1 format (the Linux
 * target's, QEMU blklogwrites', xfstests replay-log's), one entry per
 * acknowledged request, in acknowledgement order:
 *   write                a data entry of the whole log sectors it touched,
 *                        with their content once it applied; flag FUA when
 *                        it was durable at its acknowledgement (FUA, the
 *                        cache off, WC_WRITETHROUGH; never in unsafe mode)
 *   zero, trim           DISCARD for the whole sectors they cover (FUA as
 *                        above), and data entries for partial sectors
 *   flush                a FLUSH entry after every request acknowledged
 *                        before the flush arrived and before every request
 *                        acknowledged after; none if it failed, none in
 *                        unsafe mode unless WC_FORCE; also for a switch to
 *                        WCE off (S5), which flushes everything
 *   wc_mark              a MARK entry
 *   power cut            a MARK "power-cut policy=P seed=N", then the log
 *                        closes: a new wc_log_start begins a new one
 * Log I/O never runs under the engine lock.  A flush returns once its FLUSH
 * entry is in the file and the file synced; the superblock's nr_entries is
 * rewritten after every FLUSH and MARK and at the end, so a log cut short
 * (the process killed) reads up to its last flush or mark.  If the log
 * cannot be written the disk goes on without it (cfg.on_log_failed). */

/* Starts logging to path (created; an existing file must be empty or a
 * log, and is overwritten) with log sectors of sector_size bytes: a power
 * of two from 512 to the block size that divides the disk size.  Writes
 * back and flushes the cache first, with writes held, so that the media
 * is the log's base: replaying the log onto a copy of the media taken now
 * gives the disk.  -1 with errno and *message: EBUSY (a log is on), EIO
 * (the power is off, or the flush failed: no log), EINVAL, or the file's
 * error. */
int wc_log_start (struct wc_engine *e, const char *path,
                  uint32_t sector_size, char **message);
/* Stops logging: waits for flushes in flight, writes what is queued,
 * the superblock, and closes the file.  -1 with errno EINVAL if no log is
 * on. */
int wc_log_stop (struct wc_engine *e);
/* What wc_log_start checks of path, without writing: for a frontend to
 * refuse a bad path before it starts.  0, or -1 with errno and *message. */
int wc_log_check_path (const char *path, char **message);

struct wc_log_info {
  bool on;                      /* taking entries */
  char *path;                   /* the current or last log; NULL if none
                                 * ever; newly allocated */
  char *failed;                 /* why it failed, or NULL; newly allocated */
  uint32_t sector_size;
  uint64_t entries;             /* entries in the file */
  uint64_t bytes;               /* bytes of the file */
};
void wc_log_get_info (struct wc_engine *e, struct wc_log_info *info);
void wc_log_info_clear (struct wc_log_info *info);
/* The longest text wc_mark takes while the log is on (marks go into one
 * log sector); 0 with no log. */
size_t wc_log_mark_max (struct wc_engine *e);

/* ---- The oracle (S10) --------------------------------------------------- */

/* With cfg.oracle, the engine records for every block ever written: its
 * last durable content, the contents written since, and after a cut what the
 * cut left on the media.  The verifier reads the media (or an image, through
 * read_fn) and checks every recorded block:
 *   WC_VERIFY_EXACT     every byte is what the engine believes the media
 *                       holds: after a cut, exactly what the policy kept
 *   WC_VERIFY_CONTRACT  S10: each unit (unit bytes) holds its last durable
 *                       content or one of the contents written to it since
 *                       the last durable point; unit = block size checks
 *                       whole blocks, smaller units allow torn blocks
 * The pre-cut history is kept until the next write to that block after
 * power-on, so a cut can be checked against the contract before or after
 * power-on.  Call it while no requests run.  Returns 0 and fills *report
 * (violations may be > 0), or -1 with errno (ENOTSUP without the oracle,
 * EINVAL for a bad unit, or the reader's errno). */
enum wc_verify_mode { WC_VERIFY_EXACT, WC_VERIFY_CONTRACT };

struct wc_verify_report {
  uint64_t blocks;              /* blocks checked */
  uint64_t violations;          /* units that broke the rule */
  uint64_t first_bad_offset;    /* byte offset of the first, if any */
};

typedef int (*wc_read_fn) (void *opaque, void *buf, uint32_t count,
                           uint64_t offset);
int wc_oracle_verify (struct wc_engine *e, enum wc_verify_mode mode,
                      uint32_t unit, wc_read_fn read_fn, void *opaque,
                      struct wc_verify_report *report);

#endif /* WCACHE_H */

/* nbdkit-wcache-filter: the wcache engine in front of any nbdkit plugin.
 *
 * Thin glue.  One engine per nbdkit process is the emulated disk; every
 * connection shares it, which is what makes multi-conn honest.  The engine
 * reaches the plugin through one shared plugin context opened in
 * .after_fork, so all media I/O, whichever connection caused it, goes
 * through the same context and every plugin sees a consistent disk.
 * Per-connection state is only S6: whether this client was offered FLUSH.
 *
 * Errors: engine calls return -1 with errno; this file turns that into
 * *err and an nbdkit_error message "op: what: reason".  Requests failing
 * because the power is off log at debug level only: they are the point.
 *
 * Locking: none here.  Configuration is written by .config and
 * .config_complete before any thread starts; engine and media are set in
 * .after_fork before the first connection and cleared in .cleanup after the
 * last; the engine locks itself.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <nbdkit-filter.h>

#include "control.h"
#include "wcache.h"

/* -D wcache.verbose=1: log every request with its flags. */
NBDKIT_DLL_PUBLIC int wcache_debug_verbose = 0;

enum advertise { ADVERTISE_AUTO, ADVERTISE_ALWAYS };
enum cut_action { CUT_ACTION_EIO, CUT_ACTION_EXIT };

/* Configuration (written only before threads start). */
static struct wc_config cfg = {
  .block_size = WC_DEFAULT_BLOCK_SIZE,
  .cache_size = WC_DEFAULT_CACHE_SIZE,
  .mode = WC_MODE_WRITEBACK,
};
static enum advertise advertise = ADVERTISE_AUTO;
static uint64_t cut_after_writes;       /* 0: no start-up trigger */
static struct wc_cut startup_cut = {
  .policy = WC_CUT_LOSE, .p = 0.5, .unit = 512,
};
static enum cut_action cut_action = CUT_ACTION_EIO;
static bool flush_on_exit;
static const char *control_path;        /* wcache-control=PATH */

/* The disk (set in .after_fork, cleared in .cleanup). */
static nbdkit_next *media;
static int media_can_flush;
static int media_can_fua;
static int media_can_zero;
static struct wc_engine *engine;
static struct wc_control *control;      /* bound in .get_ready */

/* ---- Media ops: the engine's view of the plugin ------------------------ */

static int
media_flush_now (void)
{
  int err = 0;

  if (!media_can_flush)
    return 0;                   /* the plugin has nothing to flush */
  if (media->flush (media, 0, &err) == -1) {
    errno = err;
    return -1;
  }
  return 0;
}

static int
media_read (void *opaque, void *buf, uint32_t count, uint64_t offset)
{
  int err = 0;

  if (media->pread (media, buf, count, offset, 0, &err) == -1) {
    errno = err;
    return -1;
  }
  return 0;
}

/* FUA goes down only if the plugin handles it (REFERENCE.md: nbdkit asserts
 * otherwise); else the data is made durable with a flush. */
static int
media_write (void *opaque, const void *buf, uint32_t count, uint64_t offset,
             bool fua)
{
  bool pass_fua = fua && media_can_fua > 0;
  int err = 0;

  if (media->pwrite (media, buf, count, offset,
                     pass_fua ? NBDKIT_FLAG_FUA : 0, &err) == -1) {
    errno = err;
    return -1;
  }
  return fua && !pass_fua ? media_flush_now () : 0;
}

static int
media_zero (void *opaque, uint32_t count, uint64_t offset, bool fua)
{
  static const uint8_t zeros[64 * 1024];
  bool pass_fua = fua && media_can_fua > 0;
  int err = 0;

  if (media_can_zero > NBDKIT_ZERO_NONE) {
    if (media->zero (media, count, offset,
                     pass_fua ? NBDKIT_FLAG_FUA : 0, &err) == -1) {
      errno = err;
      return -1;
    }
  }
  else {
    while (count > 0) {
      uint32_t n = count < sizeof zeros ? count : sizeof zeros;

      if (media->pwrite (media, zeros, n, offset, 0, &err) == -1) {
        errno = err;
        return -1;
      }
      count -= n;
      offset += n;
    }
    pass_fua = false;
  }
  return fua && !pass_fua ? media_flush_now () : 0;
}

static int
media_flush (void *opaque)
{
  return media_flush_now ();
}

static const struct wc_media_ops media_ops = {
  .read = media_read,
  .write = media_write,
  .zero = media_zero,
  .flush = media_flush,
};

/* ---- Configuration ------------------------------------------------------ */

/* nbdkit's own parsers print messages that do not name the key. */
static int64_t
parse_size (const char *key, const char *value)
{
  int64_t r = nbdkit_parse_size (value);

  if (r == -1)
    nbdkit_error ("%s: '%s' is not a size (such as 4096 or 4K)", key, value);
  return r;
}

static int
parse_bool (const char *key, const char *value)
{
  int r = nbdkit_parse_bool (value);

  if (r == -1)
    nbdkit_error ("%s: '%s' is not a boolean (true or false)", key, value);
  return r;
}

static int
parse_probability (const char *key, const char *value, double *p)
{
  char *end;

  errno = 0;
  *p = strtod (value, &end);
  if (errno || end == value || *end || !(*p >= 0.0 && *p <= 1.0)) {
    nbdkit_error ("%s: '%s' is not a probability from 0 to 1", key, value);
    return -1;
  }
  return 0;
}

static int
wcache_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
               const char *key, const char *value)
{
  int64_t size;
  int r;

  if (strcmp (key, "wcache-mode") == 0) {
    if (wc_mode_parse (value, &cfg.mode) == -1) {
      nbdkit_error ("wcache-mode: '%s' is not writeback, writethrough, "
                    "none, directsync or unsafe", value);
      return -1;
    }
    return 0;
  }
  if (strcmp (key, "wcache-size") == 0) {
    if ((size = parse_size (key, value)) == -1)
      return -1;
    if (size < WC_MIN_BLOCK_SIZE) {
      nbdkit_error ("wcache-size: %s is too small (at least one block)", value);
      return -1;
    }
    cfg.cache_size = size;
    return 0;
  }
  if (strcmp (key, "wcache-block-size") == 0) {
    if ((size = parse_size (key, value)) == -1)
      return -1;
    if (size < WC_MIN_BLOCK_SIZE || size > WC_MAX_BLOCK_SIZE ||
        (size & (size - 1)) != 0) {
      nbdkit_error ("wcache-block-size: %s is not a power of two "
                    "from 512 to 64K", value);
      return -1;
    }
    cfg.block_size = size;
    return 0;
  }
  if (strcmp (key, "wcache-advertise") == 0) {
    if (strcmp (value, "auto") == 0)
      advertise = ADVERTISE_AUTO;
    else if (strcmp (value, "always") == 0)
      advertise = ADVERTISE_ALWAYS;
    else {
      nbdkit_error ("wcache-advertise: '%s' is not auto or always", value);
      return -1;
    }
    return 0;
  }
  if (strcmp (key, "wcache-cut-after-writes") == 0) {
    if (nbdkit_parse_uint64_t ("wcache-cut-after-writes", value,
                               &cut_after_writes) == -1)
      return -1;
    if (cut_after_writes == 0) {
      nbdkit_error ("wcache-cut-after-writes: must be at least 1");
      return -1;
    }
    return 0;
  }
  if (strcmp (key, "wcache-cut-policy") == 0) {
    if (wc_policy_parse (value, &startup_cut.policy) == -1) {
      nbdkit_error ("wcache-cut-policy: '%s' is not lose, keep, random, "
                    "ordered or torn", value);
      return -1;
    }
    return 0;
  }
  if (strcmp (key, "wcache-seed") == 0) {
    if (nbdkit_parse_uint64_t ("wcache-seed", value, &startup_cut.seed) == -1)
      return -1;
    startup_cut.seed_set = true;
    return 0;
  }
  if (strcmp (key, "wcache-cut-p") == 0)
    return parse_probability (key, value, &startup_cut.p);
  if (strcmp (key, "wcache-cut-unit") == 0) {
    if ((size = parse_size (key, value)) == -1)
      return -1;
    if (size < 512 || size > WC_MAX_BLOCK_SIZE || (size & (size - 1)) != 0) {
      nbdkit_error ("wcache-cut-unit: %s is not a power of two from 512 "
                    "to the block size", value);
      return -1;
    }
    startup_cut.unit = size;
    return 0;
  }
  if (strcmp (key, "wcache-cut-action") == 0) {
    if (strcmp (value, "eio") == 0)
      cut_action = CUT_ACTION_EIO;
    else if (strcmp (value, "exit") == 0)
      cut_action = CUT_ACTION_EXIT;
    else {
      nbdkit_error ("wcache-cut-action: '%s' is not eio or exit", value);
      return -1;
    }
    return 0;
  }
  if (strcmp (key, "wcache-oracle") == 0) {
    if ((r = parse_bool (key, value)) == -1)
      return -1;
    cfg.oracle = r;
    return 0;
  }
  if (strcmp (key, "wcache-control") == 0) {
    if (*value == '\0') {
      nbdkit_error ("wcache-control: the socket path is empty");
      return -1;
    }
    control_path = value;
    return 0;
  }
  if (strcmp (key, "wcache-flush-on-exit") == 0) {
    if ((r = parse_bool (key, value)) == -1)
      return -1;
    flush_on_exit = r;
    return 0;
  }
  return next (nxdata, key, value);
}

static int
wcache_config_complete (nbdkit_next_config_complete *next,
                        nbdkit_backend *nxdata)
{
  if (cfg.cache_size < cfg.block_size) {
    nbdkit_error ("wcache-size: %" PRIu64 " is smaller than "
                  "wcache-block-size %" PRIu32,
                  cfg.cache_size, cfg.block_size);
    return -1;
  }
  if (startup_cut.unit > cfg.block_size) {
    nbdkit_error ("wcache-cut-unit: %" PRIu32 " is larger than "
                  "wcache-block-size %" PRIu32,
                  startup_cut.unit, cfg.block_size);
    return -1;
  }
  return next (nxdata);
}

#define wcache_config_help \
  "wcache-mode=MODE            writeback (default), writethrough, none,\n" \
  "                            directsync or unsafe.\n" \
  "wcache-size=SIZE            Most dirty data cached (default 256M).\n" \
  "wcache-block-size=SIZE      Cache block, 512..64K (default 4K).\n" \
  "wcache-advertise=auto|always  Offer FLUSH only while the cache is on at\n" \
  "                            the handshake (auto, default), or always.\n" \
  "wcache-cut-after-writes=N   Cut the power right after the N-th write.\n" \
  "wcache-cut-policy=POLICY    lose (default), keep, random, ordered, torn.\n" \
  "wcache-seed=N               Seed for random, ordered and torn cuts.\n" \
  "wcache-cut-p=P              Survival probability (default 0.5).\n" \
  "wcache-cut-unit=SIZE        Torn cuts: atomic unit (default 512).\n" \
  "wcache-cut-action=eio|exit  After a cut: fail requests (default) or exit.\n" \
  "wcache-oracle=BOOL          Record durability and check each cut.\n" \
  "wcache-control=PATH         Serve the control protocol on this UNIX\n" \
  "                            socket (mode 0600; see wcachectl(1)).\n" \
  "wcache-flush-on-exit=BOOL   Write back the cache when nbdkit exits\n" \
  "                            (default false: exit loses it, as a cut)."

/* ---- Lifecycle ---------------------------------------------------------- */

/* S10: the engine checked the media inside the cut (wcache-oracle=true),
 * before the power could come back; report what it found. */
static void
oracle_report (const struct wc_cut_report *rep)
{
  if (rep->verify_errno) {
    nbdkit_error ("wcache: oracle: reading the media after the cut: %s",
                  strerror (rep->verify_errno));
    return;
  }
  if (rep->exact_violations > 0)
    nbdkit_error ("wcache: oracle: %" PRIu64 " units differ from what the "
                  "cut left, first at offset %" PRIu64,
                  rep->exact_violations, rep->first_bad_offset);
  if (rep->contract_violations > 0)
    nbdkit_error ("wcache: oracle: S10 broken in %" PRIu64 " units, "
                  "first at offset %" PRIu64,
                  rep->contract_violations, rep->first_bad_offset);
  if (rep->exact_violations == 0 && rep->contract_violations == 0)
    nbdkit_debug ("wcache: oracle: %" PRIu64 " blocks verified",
                  rep->verified_blocks);
}

static void
on_cut (void *opaque, const struct wc_cut_report *rep)
{
  nbdkit_debug ("wcache: power cut: policy=%s seed=%" PRIu64
                " dirty=%" PRIu64 " kept=%" PRIu64 " lost=%" PRIu64
                " torn=%" PRIu64 " errors=%" PRIu64,
                wc_policy_name (rep->policy), rep->seed, rep->dirty,
                rep->kept, rep->lost, rep->torn, rep->errors);
  if (rep->verified || rep->verify_errno)
    oracle_report (rep);
  if (cut_action == CUT_ACTION_EXIT)
    nbdkit_shutdown ();
}

static void
engine_debug (void *opaque, const char *msg)
{
  nbdkit_debug ("wcache: %s", msg);
}

/* The control socket exists before nbdkit reports ready (and before it
 * forks into the background), so --run and -s users can rely on it. */
static int
wcache_get_ready (int thread_model)
{
  g_autofree char *msg = NULL;

  if (!control_path)
    return 0;
  control = wc_control_bind (control_path, &msg);
  if (!control) {
    nbdkit_error ("wcache-control: %s", msg);
    return -1;
  }
  return 0;
}

static int
wcache_after_fork (nbdkit_backend *backend)
{
  int64_t size;
  int can_write;

  media = nbdkit_next_context_open (backend, 0, "", 1);
  if (media == NULL) {
    nbdkit_error ("wcache: opening the plugin failed");
    return -1;
  }
  if (media->prepare (media) == -1 ||
      (size = media->get_size (media)) == -1 ||
      (can_write = media->can_write (media)) == -1 ||
      (media_can_flush = media->can_flush (media)) == -1 ||
      (media_can_fua = media->can_fua (media)) == -1 ||
      (media_can_zero = media->can_zero (media)) == -1)
    return -1;

  cfg.size = size;
  cfg.readonly = !can_write;
  cfg.ops = &media_ops;
  cfg.on_cut = on_cut;
  if (wcache_debug_verbose)
    cfg.debug = engine_debug;
  engine = wc_engine_new (&cfg);
  if (engine == NULL) {
    nbdkit_error ("wcache: creating the cache: %m");
    return -1;
  }
  if (cut_after_writes > 0 &&
      wc_arm_cut (engine, &startup_cut, WC_TRIGGER_WRITES,
                  cut_after_writes) == -1) {
    nbdkit_error ("wcache: arming the start-up cut: %m");
    return -1;
  }
  if (control && wc_control_start (control, engine) == -1) {
    nbdkit_error ("wcache-control: starting the server: %m");
    return -1;
  }
  nbdkit_debug ("wcache: size=%" PRIi64 " mode=%s block=%" PRIu32
                " cache=%" PRIu64 " plugin: flush=%d fua=%d zero=%d",
                size, wc_mode_name (cfg.mode), cfg.block_size,
                cfg.cache_size, media_can_flush, media_can_fua,
                media_can_zero);
  return 0;
}

static void
wcache_cleanup (nbdkit_backend *backend)
{
  struct wc_stats st;

  /* Commands in progress finish before the engine goes. */
  wc_control_free (control);
  control = NULL;
  if (engine) {
    if (flush_on_exit && wc_powered (engine) &&
        wc_flush (engine, WC_FORCE) == -1)
      nbdkit_error ("wcache: flush at exit: %m");
    wc_get_stats (engine, &st);
    if (st.cached_blocks > 0)
      nbdkit_debug ("wcache: exit discards %" PRIu64 " dirty blocks",
                    st.cached_blocks);
    wc_engine_free (engine);
    engine = NULL;
  }
  if (media) {
    media->finalize (media);
    nbdkit_next_context_close (media);
    media = NULL;
  }
}

/* ---- Connections -------------------------------------------------------- */

struct handle {
  bool writethrough;            /* S6: never offered FLUSH */
  uint64_t epoch;               /* power cuts before this connection */
};

static void *
wcache_open (nbdkit_next_open *next, nbdkit_context *nxdata,
             int readonly, const char *exportname, int is_tls)
{
  struct handle *h;

  if (next (nxdata, readonly, exportname) == -1)
    return NULL;
  h = calloc (1, sizeof *h);
  if (h == NULL) {
    nbdkit_error ("open: calloc: %m");
    return NULL;
  }
  h->epoch = wc_epoch (engine);
  return h;
}

static void
wcache_close (void *handle)
{
  free (handle);
}

static int64_t
wcache_get_size (nbdkit_next *next, void *handle)
{
  return wc_size (engine);
}

static int
wcache_can_write (nbdkit_next *next, void *handle)
{
  return cfg.readonly ? 0 : next->can_write (next);
}

/* S6: nbdkit asks once per connection, at the handshake. */
static int
wcache_can_flush (nbdkit_next *next, void *handle)
{
  struct handle *h = handle;
  bool offer = advertise == ADVERTISE_ALWAYS ||
    wc_mode_wce (wc_get_mode (engine));

  h->writethrough = !offer;
  return offer;
}

static int
wcache_can_fua (nbdkit_next *next, void *handle)
{
  return NBDKIT_FUA_NATIVE;     /* the engine makes FUA data durable */
}

static int
wcache_can_multi_conn (nbdkit_next *next, void *handle)
{
  return 1;                     /* one engine serves every connection */
}

static int
wcache_can_zero (nbdkit_next *next, void *handle)
{
  return NBDKIT_ZERO_NATIVE;    /* a cached write without a buffer */
}

static int
wcache_can_fast_zero (nbdkit_next *next, void *handle)
{
  return 0;
}

static int
wcache_can_trim (nbdkit_next *next, void *handle)
{
  return 1;
}

/* Block status would have to merge cached data; "all data" is safe. */
static int
wcache_can_extents (nbdkit_next *next, void *handle)
{
  return 0;
}

static int
wcache_can_cache (nbdkit_next *next, void *handle)
{
  return NBDKIT_CACHE_NONE;
}

static unsigned
req_flags (const struct handle *h, uint32_t flags)
{
  return ((flags & NBDKIT_FLAG_FUA) ? WC_FUA : 0) |
    (h->writethrough ? WC_WRITETHROUGH : 0);
}

/* A connection that was open across a power cut keeps failing with EIO,
 * even after power-on, as a device reset would: its client must reconnect.
 * (Connections made while the power is off work once it is back on.)  The
 * engine enforces it when each request begins (wc_submit's epoch); this
 * early check only gives the failure a clear debug message. */
static bool
cut_since_open (const struct handle *h, const char *op, int *err)
{
  if (wc_epoch (engine) == h->epoch)
    return false;
  nbdkit_debug ("%s: the power was cut since this connection opened", op);
  *err = EIO;
  return true;
}

static int
submit (const struct handle *h, enum wc_op op, void *buf, uint32_t count,
        uint64_t offset, unsigned flags)
{
  struct wc_request req = {
    .op = op, .buf = buf, .count = count, .offset = offset, .flags = flags,
    .epoch = h->epoch,
  };

  return wc_submit (engine, &req);
}

/* Reports a failed engine call; returns -1 for the caller to return. */
static int
failed (const char *op, int *err)
{
  *err = errno;
  if (!wc_powered (engine))
    nbdkit_debug ("%s: power is off: %s", op, strerror (*err));
  else
    nbdkit_error ("%s: %s", op, strerror (*err));
  return -1;
}

#define VERBOSE(op, count, offset, flags)                               \
  do {                                                                  \
    if (wcache_debug_verbose)                                           \
      nbdkit_debug ("wcache: %s count=%" PRIu32 " offset=%" PRIu64      \
                    " flags=%s%s", op, (uint32_t) (count),              \
                    (uint64_t) (offset),                                \
                    ((flags) & WC_FUA) ? "fua" : "-",                   \
                    ((flags) & WC_WRITETHROUGH) ? ",writethrough" : ""); \
  } while (0)

static int
wcache_pread (nbdkit_next *next, void *handle, void *buf, uint32_t count,
              uint64_t offset, uint32_t flags, int *err)
{
  VERBOSE ("pread", count, offset, 0);
  if (cut_since_open (handle, "pread", err))
    return -1;
  if (submit (handle, WC_OP_READ, buf, count, offset, 0) == -1)
    return failed ("pread", err);
  return 0;
}

static int
wcache_pwrite (nbdkit_next *next, void *handle, const void *buf,
               uint32_t count, uint64_t offset, uint32_t flags, int *err)
{
  unsigned f = req_flags (handle, flags);

  VERBOSE ("pwrite", count, offset, f);
  if (cut_since_open (handle, "pwrite", err))
    return -1;
  if (submit (handle, WC_OP_WRITE, (void *) buf, count, offset, f) == -1)
    return failed ("pwrite", err);
  return 0;
}

static int
wcache_zero (nbdkit_next *next, void *handle, uint32_t count,
             uint64_t offset, uint32_t flags, int *err)
{
  unsigned f = req_flags (handle, flags);

  VERBOSE ("zero", count, offset, f);
  if (cut_since_open (handle, "zero", err))
    return -1;
  if (submit (handle, WC_OP_ZERO, NULL, count, offset, f) == -1)
    return failed ("zero", err);
  return 0;
}

static int
wcache_trim (nbdkit_next *next, void *handle, uint32_t count,
             uint64_t offset, uint32_t flags, int *err)
{
  unsigned f = req_flags (handle, flags);

  VERBOSE ("trim", count, offset, f);
  if (cut_since_open (handle, "trim", err))
    return -1;
  if (submit (handle, WC_OP_TRIM, NULL, count, offset, f) == -1)
    return failed ("trim", err);
  return 0;
}

static int
wcache_flush (nbdkit_next *next, void *handle, uint32_t flags, int *err)
{
  VERBOSE ("flush", 0, 0, 0);
  if (cut_since_open (handle, "flush", err))
    return -1;
  if (submit (handle, WC_OP_FLUSH, NULL, 0, 0, 0) == -1)
    return failed ("flush", err);
  return 0;
}

static struct nbdkit_filter filter = {
  .name              = "wcache",
  .longname          = "nbdkit volatile write cache filter",
  .config            = wcache_config,
  .config_complete   = wcache_config_complete,
  .config_help       = wcache_config_help,
  .get_ready         = wcache_get_ready,
  .after_fork        = wcache_after_fork,
  .cleanup           = wcache_cleanup,
  .open              = wcache_open,
  .close             = wcache_close,
  .get_size          = wcache_get_size,
  .can_write         = wcache_can_write,
  .can_flush         = wcache_can_flush,
  .can_fua           = wcache_can_fua,
  .can_multi_conn    = wcache_can_multi_conn,
  .can_zero          = wcache_can_zero,
  .can_fast_zero     = wcache_can_fast_zero,
  .can_trim          = wcache_can_trim,
  .can_extents       = wcache_can_extents,
  .can_cache         = wcache_can_cache,
  .pread             = wcache_pread,
  .pwrite            = wcache_pwrite,
  .zero              = wcache_zero,
  .trim              = wcache_trim,
  .flush             = wcache_flush,
};

NBDKIT_REGISTER_FILTER (filter)

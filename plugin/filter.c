/* nbdkit-wcache-filter: the wcache engine in front of any nbdkit plugin.
 *
 * Thin glue.  One engine per nbdkit process is the emulated disk; every
 * connection shares it, which is what makes multi-conn honest.  The engine
 * reaches the plugin through ONE plugin context, opened with the disk (at
 * .after_fork, or at the first connection if the plugin failed then): no
 * connection opens a context of its own, so the plugin sees a single handle
 * whatever the number of clients, and all media I/O, from any connection,
 * the control socket or the timer, goes through it.  Per-connection state
 * is only S6 (whether this client was offered FLUSH), -r, and the power
 * epoch at connect.
 *
 * Thread model.  Media ops come from many threads at once, outside
 * nbdkit's own serialisation.  When the plugin (or a filter below) asks
 * for anything below PARALLEL, media_lock serialises every call into the
 * context, as nbdkit would for that one handle.
 *
 * Errors: engine calls return -1 with errno; this file turns that into
 * *err and an nbdkit_error message "op: what: reason".  Requests failing
 * because the power is off log at debug level only: they are the point.
 *
 * Locking.  Configuration is written by .config, .config_complete and
 * .get_ready before any thread starts.  disk_lock serialises opening the
 * disk (media, the media facts, engine); engine is published with release
 * order once it is whole and read with acquire order, and never changes
 * until .cleanup, after the last connection.  media_lock (only when
 * serialising) is held for each call into the plugin and is a leaf: the
 * engine may hold its own lock when taking it (a cut's survivors), never
 * the reverse.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <nbdkit-filter.h>

#include "control.h"
#include "emulate.h"
#include "params.h"
#include "wcache.h"

/* -D wcache.verbose=1: log every request with its flags. */
NBDKIT_DLL_PUBLIC int wcache_debug_verbose = 0;

enum advertise { ADVERTISE_AUTO, ADVERTISE_ALWAYS };
enum cut_action { CUT_ACTION_EIO, CUT_ACTION_EXIT, CUT_ACTION_HANG };

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
static char *control_path;              /* wcache-control=, absolute */
static char *log_path;                  /* wcache-log=, absolute */
static uint32_t log_sector_size = 512;  /* wcache-log-sector-size= */
static bool media_serialised;           /* the plugin is not PARALLEL */

static struct wc_control *control;      /* bound in .get_ready */
static nbdkit_backend *backend;         /* from .after_fork to .cleanup */

/* The disk.  Written under disk_lock while engine is NULL; read-only once
 * engine is published. */
static pthread_mutex_t disk_lock = PTHREAD_MUTEX_INITIALIZER;
static nbdkit_next *media;
static struct {
  int can_flush, can_fua, can_zero, is_rotational;
  uint32_t minimum, preferred, maximum;         /* block_size */
  char *description;                            /* or NULL */
} facts;
static struct wc_engine *engine;        /* atomic: disk () */

static struct wc_engine *
disk (void)
{
  return __atomic_load_n (&engine, __ATOMIC_ACQUIRE);
}

/* ---- Media ops: the engine's view of the plugin ------------------------ */

static pthread_mutex_t media_lock = PTHREAD_MUTEX_INITIALIZER;

/* A guard for one media op: serialises it if the plugin asks for that. */
static void
media_unlock (bool *held)
{
  if (*held)
    pthread_mutex_unlock (&media_lock);
}

static bool
media_lock_if_serialised (void)
{
  if (!media_serialised)
    return false;
  pthread_mutex_lock (&media_lock);
  return true;
}

#define MEDIA_GUARD \
  bool media_held __attribute__ ((cleanup (media_unlock))) = \
    media_lock_if_serialised ()

/* Returns 0, or -1 with errno from the plugin's err. */
static int
result (int rv, int err)
{
  if (rv == -1)
    errno = err ? err : EIO;
  return rv == -1 ? -1 : 0;
}

static int
media_flush_guarded (void *opaque)
{
  int err = 0;

  if (!facts.can_flush)
    return 0;                   /* the plugin has nothing to flush */
  return result (media->flush (media, 0, &err), err);
}

static int
media_read (void *opaque, void *buf, uint32_t count, uint64_t offset)
{
  MEDIA_GUARD;
  int err = 0;

  return result (media->pread (media, buf, count, offset, 0, &err), err);
}

static int
media_pwrite_guarded (void *opaque, const void *buf, uint32_t count,
                      uint64_t offset, bool fua)
{
  int err = 0;

  return result (media->pwrite (media, buf, count, offset,
                                fua ? NBDKIT_FLAG_FUA : 0, &err), err);
}

/* FUA goes down only if the plugin handles it (nbdkit asserts otherwise);
 * else the data is made durable with a flush (emulate.h). */
static struct wc_emulate
plugin_emulate (void)
{
  return (struct wc_emulate) {
    .can_fua = facts.can_fua > 0,
    .write = media_pwrite_guarded,
    .flush = media_flush_guarded,
  };
}

static int
media_write (void *opaque, const void *buf, uint32_t count, uint64_t offset,
             bool fua)
{
  MEDIA_GUARD;
  struct wc_emulate em = plugin_emulate ();

  return wc_emulate_write (&em, buf, count, offset, fua);
}

/* A plugin without zero support gets the zeros written. */
static int
media_zero (void *opaque, uint32_t count, uint64_t offset, bool fua)
{
  MEDIA_GUARD;
  struct wc_emulate em = plugin_emulate ();
  bool pass_fua = fua && em.can_fua;
  int rv, err = 0;

  if (facts.can_zero <= NBDKIT_ZERO_NONE)
    return wc_emulate_zero (&em, count, offset, fua);
  rv = result (media->zero (media, count, offset,
                            pass_fua ? NBDKIT_FLAG_FUA : 0, &err), err);
  return wc_emulate_fua (&em, rv, fua && !pass_fua);
}

static int
media_flush (void *opaque)
{
  MEDIA_GUARD;

  return media_flush_guarded (opaque);
}

static const struct wc_media_ops media_ops = {
  .read = media_read,
  .write = media_write,
  .zero = media_zero,
  .flush = media_flush,
};

/* ---- Configuration ------------------------------------------------------ */

/* One table of keys: each says how its value is read (the grammar and
 * the checks of params.h, the same as wcache-fuse's options and the
 * control protocol), where it goes, and what is checked against the block
 * size once every key is in.  Messages name the key and the legal values:
 * "KEY: 'VALUE' is not WHAT", or "KEY: VALUE PROBLEM" for a check. */

enum key_type {
  KEY_SIZE,                     /* a size, into a uint64_t */
  KEY_SIZE32,                   /* a size, into a uint32_t; larger values
                                 * saturate, for the check against the
                                 * block size to name */
  KEY_COUNT,                    /* a decimal number, into a uint64_t */
  KEY_BOOL,
  KEY_PROBABILITY,
  KEY_MODE,
  KEY_POLICY,
  KEY_ADVERTISE,                /* one of choices, its index */
  KEY_CUT_ACTION,               /* likewise */
  KEY_PATH,                     /* made absolute */
};

static const char *const advertise_names[] = {
  [ADVERTISE_AUTO] = "auto", [ADVERTISE_ALWAYS] = "always", NULL,
};
static const char *const cut_action_names[] = {
  [CUT_ACTION_EIO] = "eio", [CUT_ACTION_EXIT] = "exit",
  [CUT_ACTION_HANG] = "hang", NULL,
};

static const struct key {
  const char *name;
  enum key_type type;
  union {
    uint64_t *u64;
    uint32_t *u32;
    bool *flag;
    double *p;
    enum wc_mode *mode;
    enum wc_policy *policy;
    enum advertise *advertise;
    enum cut_action *cut_action;
    char **path;
  } to;
  const char *(*check) (uint64_t v);    /* sizes: the value alone */
  /* Checked in .config_complete, when the block size is known. */
  const char *(*check_block) (uint64_t v, uint32_t block_size);
  uint64_t min;                         /* counts */
  bool *given;                          /* set when the key is */
  const char *const *choices;           /* KEY_ADVERTISE, KEY_CUT_ACTION */
  const char *path_what;                /* KEY_PATH: for messages */
} keys[] = {
  { .name = "wcache-mode", .type = KEY_MODE,
    .to.mode = &cfg.mode },
  { .name = "wcache-size", .type = KEY_SIZE,
    .to.u64 = &cfg.cache_size, .check_block = wc_cache_size_problem },
  { .name = "wcache-block-size", .type = KEY_SIZE32,
    .to.u32 = &cfg.block_size, .check = wc_block_size_problem },
  { .name = "wcache-advertise", .type = KEY_ADVERTISE,
    .to.advertise = &advertise, .choices = advertise_names },
  { .name = "wcache-cut-after-writes", .type = KEY_COUNT,
    .to.u64 = &cut_after_writes, .min = 1 },
  { .name = "wcache-cut-policy", .type = KEY_POLICY,
    .to.policy = &startup_cut.policy },
  { .name = "wcache-seed", .type = KEY_COUNT,
    .to.u64 = &startup_cut.seed, .given = &startup_cut.seed_set },
  { .name = "wcache-cut-p", .type = KEY_PROBABILITY,
    .to.p = &startup_cut.p },
  { .name = "wcache-cut-unit", .type = KEY_SIZE32,
    .to.u32 = &startup_cut.unit, .check_block = wc_cut_unit_problem },
  { .name = "wcache-cut-action", .type = KEY_CUT_ACTION,
    .to.cut_action = &cut_action, .choices = cut_action_names },
  { .name = "wcache-oracle", .type = KEY_BOOL,
    .to.flag = &cfg.oracle },
  /* Paths are made absolute now: nbdkit changes to / when it forks into
   * the background, and the socket is removed by path at exit. */
  { .name = "wcache-control", .type = KEY_PATH,
    .to.path = &control_path, .path_what = "socket" },
  { .name = "wcache-log", .type = KEY_PATH,
    .to.path = &log_path, .path_what = "log" },
  { .name = "wcache-log-sector-size", .type = KEY_SIZE32,
    .to.u32 = &log_sector_size, .check_block = wc_log_sector_size_problem },
  { .name = "wcache-flush-on-exit", .type = KEY_BOOL,
    .to.flag = &flush_on_exit },
};

/* Returns -1 for the caller to return. */
static int
not_a (const struct key *k, const char *value, const char *what)
{
  nbdkit_error ("%s: '%s' is not %s", k->name, value, what);
  return -1;
}

/* The index of value in names, or -1 after the message ("a, b or c"). */
static int
choice (const struct key *k, const char *value, const char *const *names)
{
  g_autoptr (GString) what = g_string_new (NULL);
  size_t i;

  for (i = 0; names[i]; i++)
    if (strcmp (value, names[i]) == 0)
      return i;
  for (i = 0; names[i]; i++)
    g_string_append_printf (what, "%s%s", i == 0 ? "" :
                            names[i + 1] ? ", " : " or ", names[i]);
  return not_a (k, value, what->str);
}

static int
set_key (const struct key *k, const char *value)
{
  const char *problem;
  uint64_t v;
  int i;

  switch (k->type) {
  case KEY_SIZE:
  case KEY_SIZE32:
    if (wc_parse_size (value, &v) == -1)
      return not_a (k, value, wc_size_grammar);
    if (k->check && (problem = k->check (v)) != NULL) {
      nbdkit_error ("%s: %s %s", k->name, value, problem);
      return -1;
    }
    if (k->type == KEY_SIZE)
      *k->to.u64 = v;
    else
      *k->to.u32 = MIN (v, UINT32_MAX);
    break;
  case KEY_COUNT:
    if (wc_parse_u64 (value, &v) == -1)
      return not_a (k, value, wc_count_grammar);
    if (v < k->min) {
      nbdkit_error ("%s: must be at least %" PRIu64, k->name, k->min);
      return -1;
    }
    *k->to.u64 = v;
    break;
  case KEY_BOOL:
    if ((i = nbdkit_parse_bool (value)) == -1)
      return not_a (k, value, "a boolean (true or false)");
    *k->to.flag = i;
    break;
  case KEY_PROBABILITY:
    if (wc_parse_probability (value, k->to.p) == -1)
      return not_a (k, value, wc_probability_grammar);
    break;
  case KEY_MODE:
    if (wc_mode_parse (value, k->to.mode) == -1)
      return not_a (k, value, wc_mode_names);
    break;
  case KEY_POLICY:
    if (wc_policy_parse (value, k->to.policy) == -1)
      return not_a (k, value, wc_policy_names);
    break;
  case KEY_ADVERTISE:
  case KEY_CUT_ACTION:
    if ((i = choice (k, value, k->choices)) == -1)
      return -1;
    if (k->type == KEY_ADVERTISE)
      *k->to.advertise = i;
    else
      *k->to.cut_action = i;
    break;
  case KEY_PATH:
    if (*value == '\0') {
      nbdkit_error ("%s: the %s path is empty", k->name, k->path_what);
      return -1;
    }
    g_free (*k->to.path);
    *k->to.path = g_canonicalize_filename (value, NULL);
    break;
  }
  if (k->given)
    *k->given = true;
  return 0;
}

/* The value of a size key, for its check against the block size. */
static uint64_t
key_size (const struct key *k)
{
  return k->type == KEY_SIZE ? *k->to.u64 : *k->to.u32;
}

static int
wcache_config (nbdkit_next_config *next, nbdkit_backend *nxdata,
               const char *key, const char *value)
{
  for (size_t i = 0; i < G_N_ELEMENTS (keys); i++)
    if (strcmp (key, keys[i].name) == 0)
      return set_key (&keys[i], value);
  return next (nxdata, key, value);
}

static int
wcache_config_complete (nbdkit_next_config_complete *next,
                        nbdkit_backend *nxdata)
{
  for (size_t i = 0; i < G_N_ELEMENTS (keys); i++) {
    const struct key *k = &keys[i];
    const char *problem;

    if (k->check_block &&
        (problem = k->check_block (key_size (k), cfg.block_size)) != NULL) {
      nbdkit_error ("%s: %" PRIu64 " %s (wcache-block-size %" PRIu32 ")",
                    k->name, key_size (k), problem, cfg.block_size);
      return -1;
    }
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
  "wcache-cut-after-writes=N   Cut the power right after the N-th write\n" \
  "                            (N decimal: 010 is ten).\n" \
  "wcache-cut-policy=POLICY    lose (default), keep, random, ordered, torn\n" \
  "                            (ordered: blocks in first-dirtied order,\n" \
  "                            newest content; not a prefix of writes).\n" \
  "wcache-seed=N               Seed for random, ordered and torn cuts.\n" \
  "wcache-cut-p=P              Survival probability (default 0.5).\n" \
  "wcache-cut-unit=SIZE        Torn cuts: atomic unit (default 512).\n" \
  "wcache-cut-action=eio|exit|hang  After a cut: fail requests (default),\n" \
  "                             exit, or answer nothing until power-on.\n" \
  "wcache-oracle=BOOL          Record durability and check each cut.\n" \
  "wcache-log=PATH             Log every acknowledged request to PATH\n" \
  "                            (dm-log-writes format; see wcache(7)).\n" \
  "wcache-log-sector-size=N    The log's sector size (default 512).\n" \
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

static void
log_failed (void *opaque, const char *msg)
{
  nbdkit_error ("wcache: write log: %s; logging stopped, the disk goes on",
                msg);
}

/* The control socket is removed by wc_control_free in .cleanup.  nbdkit
 * can also exit without .cleanup after .get_ready bound it (the -U path
 * in use, a failing .after_fork): then the atexit handler removes it.
 * Until .after_fork, nbdkit's own forks (--run, going into the
 * background) leave the serving child owning the socket and the parent
 * exiting at once, so ownership follows the child; later forks are the
 * plugin's (scripts) and change nothing. */
static pid_t control_owner;             /* may remove it at exit; 0: no */
static bool after_fork_ran;

static void
control_atfork_parent (void)
{
  if (!after_fork_ran)
    control_owner = 0;
}

static void
control_atfork_child (void)
{
  if (!after_fork_ran)
    control_owner = getpid ();
}

static void
control_atexit (void)
{
  if (control && control_owner == getpid ())
    unlink (control_path);
}

/* Binding here, before nbdkit reports ready (and before it forks into the
 * background), means the socket exists for --run and -s users.  The
 * thread model is final here: anything below PARALLEL serialises the
 * media. */
static int
wcache_get_ready (int thread_model)
{
  g_autofree char *msg = NULL;

  media_serialised = thread_model < NBDKIT_THREAD_MODEL_PARALLEL;
  nbdkit_debug ("wcache: thread model %d: media calls %s", thread_model,
                media_serialised ? "serialised" : "parallel");
  /* A bad log path fails the start, not the first connection. */
  if (log_path && wc_log_check_path (log_path, &msg) == -1) {
    nbdkit_error ("wcache-log: %s", msg);
    return -1;
  }
  if (!control_path)
    return 0;
  control = wc_control_bind (control_path, &msg);
  if (!control) {
    nbdkit_error ("wcache-control: %s", msg);
    return -1;
  }
  control_owner = getpid ();
  pthread_atfork (NULL, control_atfork_parent, control_atfork_child);
  atexit (control_atexit);
  return 0;
}

/* Opens the disk: the plugin context, its facts, the engine.  Returns 0
 * once the disk exists (at once if it did), or -1 after nbdkit_error. */
static int
open_disk (void)
{
  struct wc_engine *e;
  int64_t size;
  int can_write;
  const char *desc;

  if (disk ())
    return 0;
  pthread_mutex_lock (&disk_lock);
  if (disk ()) {
    pthread_mutex_unlock (&disk_lock);
    return 0;
  }
  media = nbdkit_next_context_open (backend, 0, "", 1);
  if (media == NULL) {
    nbdkit_error ("wcache: opening the plugin failed");
    goto fail;
  }
  if (media->prepare (media) == -1 ||
      (size = media->get_size (media)) == -1 ||
      (can_write = media->can_write (media)) == -1 ||
      (facts.can_flush = media->can_flush (media)) == -1 ||
      (facts.can_fua = media->can_fua (media)) == -1 ||
      (facts.can_zero = media->can_zero (media)) == -1 ||
      (facts.is_rotational = media->is_rotational (media)) == -1 ||
      media->block_size (media, &facts.minimum, &facts.preferred,
                         &facts.maximum) == -1) {
    nbdkit_error ("wcache: the plugin failed to open (see above)");
    goto fail;
  }
  desc = media->export_description (media);
  facts.description = desc ? g_strdup (desc) : NULL;

  cfg.size = size;
  cfg.readonly = !can_write;
  cfg.ops = &media_ops;
  cfg.on_cut = on_cut;
  cfg.on_log_failed = log_failed;
  if (wcache_debug_verbose)
    cfg.debug = engine_debug;
  e = wc_engine_new (&cfg);
  if (e == NULL) {
    nbdkit_error ("wcache: creating the cache: %m");
    goto fail;
  }
  if (log_path) {
    g_autofree char *msg = NULL;

    if (wc_log_start (e, log_path, log_sector_size, &msg) == -1) {
      nbdkit_error ("wcache-log: %s", msg);
      wc_engine_free (e);
      goto fail;
    }
  }
  if (cut_after_writes > 0 &&
      wc_arm_cut (e, &startup_cut, WC_TRIGGER_WRITES,
                  cut_after_writes) == -1) {
    nbdkit_error ("wcache: arming the start-up cut: %m");
    wc_engine_free (e);
    goto fail;
  }
  __atomic_store_n (&engine, e, __ATOMIC_RELEASE);
  if (control)
    wc_control_set_engine (control, e);
  pthread_mutex_unlock (&disk_lock);
  nbdkit_debug ("wcache: size=%" PRIi64 " mode=%s block=%" PRIu32
                " cache=%" PRIu64 " plugin: flush=%d fua=%d zero=%d",
                size, wc_mode_name (cfg.mode), cfg.block_size,
                cfg.cache_size, facts.can_flush, facts.can_fua,
                facts.can_zero);
  return 0;

 fail:
  if (media) {
    nbdkit_next_context_close (media);
    media = NULL;
  }
  g_clear_pointer (&facts.description, g_free);
  pthread_mutex_unlock (&disk_lock);
  return -1;
}

/* The disk opens here if it can.  If the plugin fails to open, nbdkit
 * still starts: each connection retries and gets the error at once, as
 * without the filter (exiting here would leave a --run client waiting
 * on a socket nobody serves). */
static int
wcache_after_fork (nbdkit_backend *b)
{
  after_fork_ran = true;
  backend = b;
  if (open_disk () == -1)
    nbdkit_error ("wcache: no disk until the plugin opens: every "
                  "connection will try again");
  /* Commands wait in the socket's backlog until the disk is open (or its
   * opening failed: then they fail until a connection opens it). */
  if (control && wc_control_start (control, disk ()) == -1) {
    nbdkit_error ("wcache-control: starting the server: %m");
    return -1;
  }
  return 0;
}

static void
wcache_cleanup (nbdkit_backend *b)
{
  struct wc_engine *e = disk ();
  struct wc_stats st;

  /* Commands in progress finish before the engine goes. */
  wc_control_free (control);
  control = NULL;
  if (e) {
    if (flush_on_exit && wc_powered (e) && wc_flush (e, WC_FORCE) == -1)
      nbdkit_error ("wcache: flush at exit: %m");
    wc_get_stats (e, &st);
    if (st.cached_blocks > 0)
      nbdkit_debug ("wcache: exit discards %" PRIu64 " dirty blocks",
                    st.cached_blocks);
    wc_engine_free (e);
    engine = NULL;
  }
  if (media) {
    media->finalize (media);
    nbdkit_next_context_close (media);
    media = NULL;
  }
  g_clear_pointer (&facts.description, g_free);
  g_clear_pointer (&control_path, g_free);
  g_clear_pointer (&log_path, g_free);
}

/* ---- Connections -------------------------------------------------------- */

struct handle {
  struct wc_engine *e;          /* the disk */
  bool readonly;                /* nbdkit -r, or the plugin cannot write */
  bool writethrough;            /* S6: never offered FLUSH */
  uint64_t epoch;               /* power cuts before this connection */
};

/* No plugin context of the connection's own (next is never called): the
 * disk's one context serves everyone, and no callback of this filter
 * uses its next parameter. */
static void *
wcache_open (nbdkit_next_open *next, nbdkit_context *nxdata,
             int readonly, const char *exportname, int is_tls)
{
  struct handle *h;

  if (open_disk () == -1)
    return NULL;
  h = calloc (1, sizeof *h);
  if (h == NULL) {
    nbdkit_error ("open: calloc: %m");
    return NULL;
  }
  h->e = disk ();
  h->readonly = readonly || cfg.readonly;
  h->epoch = wc_epoch (h->e);
  return h;
}

static void
wcache_close (void *handle)
{
  free (handle);
}

/* nbdkit calls the plugin's preconnect for each new client, outside any
 * request lock of ours: serialise it with the media as the rest. */
static int
wcache_preconnect (nbdkit_next_preconnect *next, nbdkit_backend *nxdata,
                   int readonly)
{
  MEDIA_GUARD;

  return next (nxdata, readonly);
}

/* One disk, whatever export name a client asks for: the plugin's default
 * export, opened as "". */
static const char *
wcache_default_export (nbdkit_next_default_export *next,
                       nbdkit_backend *nxdata, int readonly, int is_tls)
{
  return "";
}

static int
wcache_list_exports (nbdkit_next_list_exports *next, nbdkit_backend *nxdata,
                     int readonly, int is_tls,
                     struct nbdkit_exports *exports)
{
  return nbdkit_use_default_export (exports);
}

static const char *
wcache_export_description (nbdkit_next *next, void *handle)
{
  return facts.description;
}

static int64_t
wcache_get_size (nbdkit_next *next, void *handle)
{
  return wc_size (((struct handle *) handle)->e);
}

/* The plugin's constraints stand: the engine serves any alignment, but a
 * client may rely on the plugin's preferred size for speed. */
static int
wcache_block_size (nbdkit_next *next, void *handle, uint32_t *minimum,
                   uint32_t *preferred, uint32_t *maximum)
{
  *minimum = facts.minimum;
  *preferred = facts.preferred;
  *maximum = facts.maximum;
  return 0;
}

static int
wcache_is_rotational (nbdkit_next *next, void *handle)
{
  return facts.is_rotational;
}

static int
wcache_can_write (nbdkit_next *next, void *handle)
{
  return !((struct handle *) handle)->readonly;
}

/* S6: nbdkit asks once per connection, at the handshake. */
static int
wcache_can_flush (nbdkit_next *next, void *handle)
{
  struct handle *h = handle;
  bool offer = advertise == ADVERTISE_ALWAYS ||
    wc_mode_wce (wc_get_mode (h->e));

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

/* wcache-cut-action=hang: a dead disk answers nothing, so a request the
 * cut failed gets no reply while the power is off.  A harness can then
 * stop its client at the instant of the cut, before the client sees an
 * error and acts on it.  The request fails with EIO at power-on, or when
 * nbdkit shuts down or the client goes away (nbdkit_nanosleep returns
 * early for those).  Polled: the engine has no power-on wait, and a few
 * milliseconds are nothing to a dead disk. */
static void
hang_while_off (const struct handle *h)
{
  if (cut_action != CUT_ACTION_HANG)
    return;
  while (!wc_powered (h->e))
    if (nbdkit_nanosleep (0, 10 * 1000 * 1000) == -1)
      break;
}

/* A connection that was open across a power cut keeps failing with EIO,
 * even after power-on, as a device reset would: its client must reconnect.
 * (Connections made while the power is off work once it is back on.)  The
 * engine enforces it when each request begins (wc_submit's epoch); this
 * early check only gives the failure a clear debug message. */
static bool
cut_since_open (const struct handle *h, const char *op, int *err)
{
  if (wc_epoch (h->e) == h->epoch)
    return false;
  nbdkit_debug ("%s: the power was cut since this connection opened", op);
  hang_while_off (h);
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

  return wc_submit (h->e, &req);
}

/* Reports a failed engine call; returns -1 for the caller to return. */
static int
failed (const struct handle *h, const char *op, int *err)
{
  *err = errno;
  if (!wc_powered (h->e)) {
    nbdkit_debug ("%s: power is off: %s", op, strerror (*err));
    hang_while_off (h);
  }
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
    return failed (handle, "pread", err);
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
    return failed (handle, "pwrite", err);
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
    return failed (handle, "zero", err);
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
    return failed (handle, "trim", err);
  return 0;
}

static int
wcache_flush (nbdkit_next *next, void *handle, uint32_t flags, int *err)
{
  VERBOSE ("flush", 0, 0, 0);
  if (cut_since_open (handle, "flush", err))
    return -1;
  if (submit (handle, WC_OP_FLUSH, NULL, 0, 0, 0) == -1)
    return failed (handle, "flush", err);
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
  .preconnect        = wcache_preconnect,
  .list_exports      = wcache_list_exports,
  .default_export    = wcache_default_export,
  .open              = wcache_open,
  .close             = wcache_close,
  .export_description = wcache_export_description,
  .get_size          = wcache_get_size,
  .block_size        = wcache_block_size,
  .is_rotational     = wcache_is_rotational,
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

/* The control protocol: one request line in, one reply line out.
 *
 * Every command is one row of the table at the end of this file: its name,
 * its argument synopsis, one line of help, and its handler.  Dispatch and
 * the "help" reply come from the table; tests/test-control-protocol.sh
 * checks that the man page documents every row.
 *
 * A handler gets the words after the command name and builds its reply:
 * "ok" and key=value pairs (kv.h), or "error: ..." with an errno that
 * frontends without a reply line (the FUSE control files) return.
 * It replies only after the action has fully happened: the engine's calls
 * return after a switch, a flush or a cut is complete.
 *
 * A handler parses all its words before it touches the engine, and asks
 * checking() first: wc_control_check runs the table with no engine, so
 * a request is checked by the very parser that would run it (the FUSE
 * control files check requests they forward to another process).
 *
 * Input is untrusted: the line is at most WC_LINE_MAX bytes (the socket
 * server cuts longer ones off), may hold any byte, and every number is
 * parsed whole and range-checked.  No state, no locks here.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <glib.h>

#include "commands.h"
#include "control.h"
#include "kv.h"
#include "params.h"

/* A reply being built: the line, and for wc_control_run the errno that
 * sums it up (0 for ok; EINVAL for a request that is wrong in itself and
 * changed nothing; another errno when the disk could not do it). */
struct reply {
  GString *s;
  int err;
  bool check_only;              /* wc_control_check: parse, run nothing */
};

static void
reply_fail (struct reply *r, int err, const char *fmt, ...)
  __attribute__ ((format (printf, 3, 4)));

static void
reply_fail (struct reply *r, int err, const char *fmt, ...)
{
  va_list ap;

  g_string_assign (r->s, "error: ");
  va_start (ap, fmt);
  g_string_append_vprintf (r->s, fmt, ap);
  va_end (ap);
  r->err = err;
}

#define reply_error(r, ...) reply_fail ((r), EINVAL, __VA_ARGS__)

/* True when only checking (no engine): the request is well formed, the
 * reply says "ok", and the handler must stop here. */
static bool
checking (struct wc_engine *e, struct reply *r)
{
  if (!r->check_only)
    return false;
  g_string_assign (r->s, "ok");
  r->err = 0;
  return true;
}

static void
reply_ok (struct reply *r, const char *text)
{
  g_string_assign (r->s, text);
  r->err = 0;
}

static void
add_media_fact (void *ctx, const char *key, const char *value)
{
  wc_kv_add (ctx, key, value);
}

/* Numbers follow params.h, as the filter's keys and wcache-fuse's
 * options do: decimal ("010" is ten). */
static bool
parse_u64 (const char *s, uint64_t *v)
{
  return wc_parse_u64 (s, v) == 0;
}

static void
add_mode (struct reply *r, enum wc_mode mode)
{
  wc_kv_add (r->s, "mode", wc_mode_name (mode));
  wc_kv_add_u64 (r->s, "wce", wc_mode_wce (mode));
  wc_kv_add (r->s, "cache_type", wc_mode_cache_type (mode));
}

/* The media's facts: a file backing's host flags in force and why a
 * reopen kept the old ones (wcache(7), SAFE REOPEN). */
static void
add_media (struct reply *r, struct wc_engine *e)
{
  wc_describe_media (e, add_media_fact, r->s);
}

static void
add_prefixed (struct reply *r, const char *prefix, const char *name,
              uint64_t v)
{
  g_autofree char *key = g_strconcat (prefix, name, NULL);

  wc_kv_add_u64 (r->s, key, v);
}

static void
add_cut_report (struct reply *r, const char *prefix,
                const struct wc_cut_report *rep)
{
  g_autofree char *key = g_strconcat (prefix, "policy", NULL);

  wc_kv_add (r->s, key, wc_policy_name (rep->policy));
  add_prefixed (r, prefix, "seed", rep->seed);
  add_prefixed (r, prefix, "dirty", rep->dirty);
  add_prefixed (r, prefix, "kept", rep->kept);
  add_prefixed (r, prefix, "lost", rep->lost);
  add_prefixed (r, prefix, "torn", rep->torn);
  add_prefixed (r, prefix, "errors", rep->errors);
}

/* ---- mode [NAME] -------------------------------------------------------- */

static void
cmd_mode (struct wc_engine *e, char **argv, int argc, struct reply *r)
{
  enum wc_mode mode, old;

  if (argc > 1) {
    reply_error (r, "mode: too many arguments (usage: mode [NAME])");
    return;
  }
  if (argc == 1) {
    if (wc_mode_parse (argv[0], &mode) == -1) {
      reply_error (r, "mode: '%s' is not %s", argv[0], wc_mode_names);
      return;
    }
    if (checking (e, r))
      return;
    old = wc_get_mode (e);
    if (wc_set_mode (e, mode) == -1) {
      /* S5: the mode did not change and nothing was lost. */
      int err = errno;
      reply_fail (r, err, "mode: switching %s -> %s: %s; the mode stays %s",
                  wc_mode_name (old), wc_mode_name (mode),
                  g_strerror (err), wc_mode_name (wc_get_mode (e)));
      return;
    }
  }
  if (checking (e, r))
    return;
  reply_ok (r, "ok");
  add_mode (r, wc_get_mode (e));
  add_media (r, e);
}

/* ---- cache-type [write back|write through] ------------------------------ */

/* sysfs's cache_type: switches WCE alone, keeping the host-flags half of
 * the mode, read and switched as one step (wc_set_wce). */
static void
cmd_cache_type (struct wc_engine *e, char **argv, int argc, struct reply *r)
{
  enum wc_mode from, to;
  bool wce = false;

  if (argc == 1) {
    if (strcmp (argv[0], "write back") == 0)
      wce = true;
    else if (strcmp (argv[0], "write through") != 0) {
      reply_error (r, "cache-type: '%s' is not 'write back' or 'write "
                   "through'", argv[0]);
      return;
    }
  }
  if (checking (e, r))
    return;
  if (argc == 1 && wc_set_wce (e, wce, &from, &to) == -1) {
    int err = errno;
    reply_fail (r, err, "cache-type: switching %s -> %s: %s; the mode stays "
                "%s", wc_mode_name (from),
                wc_mode_name (wc_mode_with_wce (from, wce)),
                g_strerror (err), wc_mode_name (to));
    return;
  }
  reply_ok (r, "ok");
  add_mode (r, wc_get_mode (e));
  add_media (r, e);
}

/* ---- flush -------------------------------------------------------------- */

static void
cmd_flush (struct wc_engine *e, char **argv, int argc, struct reply *r)
{
  if (argc > 0) {
    reply_error (r, "flush: takes no arguments");
    return;
  }
  if (checking (e, r))
    return;
  /* The operator's flush writes back even in unsafe mode. */
  if (wc_flush (e, WC_FORCE) == -1) {
    int err = errno;
    reply_fail (r, err, "flush: %s; failed data stays cached",
                g_strerror (err));
    return;
  }
  reply_ok (r, "ok");
}

/* ---- power-cut [key=value ...] | power-cut cancel ------------------------ */

struct cut_args {
  struct wc_cut cut;
  enum wc_trigger trigger;
  uint64_t n;
  const char *mark;
};

static bool
parse_after (const char *v, struct cut_args *a, struct reply *r)
{
  static const struct { const char *name; enum wc_trigger t; } kinds[] = {
    { "writes", WC_TRIGGER_WRITES },
    { "flushes", WC_TRIGGER_FLUSHES },
    { "bytes", WC_TRIGGER_BYTES },
    { "ms", WC_TRIGGER_MS },
  };
  const char *colon = strchr (v, ':');
  size_t klen = colon ? (size_t) (colon - v) : 0;

  if (!colon) {
    reply_error (r, "power-cut: after=%s: expected KIND:N or mark:NAME", v);
    return false;
  }
  if (klen == 4 && strncmp (v, "mark", 4) == 0) {
    size_t len = strlen (colon + 1);
    if (len == 0 || len > WC_MARK_NAME_MAX) {
      reply_error (r, "power-cut: after=mark:NAME: the name must be 1 to %d "
                   "bytes", WC_MARK_NAME_MAX);
      return false;
    }
    a->trigger = WC_TRIGGER_MARK;
    a->mark = colon + 1;
    return true;
  }
  for (size_t i = 0; i < G_N_ELEMENTS (kinds); i++) {
    if (strlen (kinds[i].name) == klen &&
        strncmp (v, kinds[i].name, klen) == 0) {
      if (!parse_u64 (colon + 1, &a->n) || a->n == 0 ||
          (kinds[i].t == WC_TRIGGER_MS && a->n > UINT32_MAX)) {
        reply_error (r, "power-cut: after=%s: N must be a whole number from 1"
                     "%s", v, kinds[i].t == WC_TRIGGER_MS
                     ? " to 4294967295 ms" : "");
        return false;
      }
      a->trigger = kinds[i].t;
      return true;
    }
  }
  reply_error (r, "power-cut: after=%s: KIND is writes, flushes, bytes, ms "
               "or mark", v);
  return false;
}

static bool
parse_cut_args (char **argv, int argc, uint32_t block_size,
                struct cut_args *a, struct reply *r)
{
  bool seen[5] = { false };
  static const char *const keys[] = { "policy", "seed", "p", "unit", "after" };

  wc_cut_init (&a->cut);
  a->trigger = WC_TRIGGER_NONE;
  for (int i = 0; i < argc; i++) {
    char *eq = strchr (argv[i], '=');
    const char *v;
    size_t k;

    if (!eq) {
      reply_error (r, "power-cut: '%s': expected KEY=VALUE (policy, seed, p, "
                   "unit, after) or 'cancel'", argv[i]);
      return false;
    }
    *eq = '\0';
    v = eq + 1;
    for (k = 0; k < G_N_ELEMENTS (keys) && strcmp (argv[i], keys[k]) != 0; k++)
      ;
    if (k == G_N_ELEMENTS (keys)) {
      reply_error (r, "power-cut: unknown key '%s' (policy, seed, p, unit, "
                   "after)", argv[i]);
      return false;
    }
    if (seen[k]) {
      reply_error (r, "power-cut: %s given twice", keys[k]);
      return false;
    }
    seen[k] = true;
    switch (k) {
    case 0:
      if (wc_policy_parse (v, &a->cut.policy) == -1) {
        reply_error (r, "power-cut: policy=%s: not %s", v, wc_policy_names);
        return false;
      }
      break;
    case 1:
      if (!parse_u64 (v, &a->cut.seed)) {
        reply_error (r, "power-cut: seed=%s: not a number from 0 to %" PRIu64,
                     v, UINT64_MAX);
        return false;
      }
      a->cut.seed_set = true;
      break;
    case 2:
      if (wc_parse_probability (v, &a->cut.p) == -1) {
        reply_error (r, "power-cut: p=%s: not %s", v,
                     wc_probability_grammar);
        return false;
      }
      break;
    case 3: {
      uint64_t u;
      const char *problem;
      if (wc_parse_size (v, &u) == -1) {
        reply_error (r, "power-cut: unit=%s: not a size (such as 512 or 4K)",
                     v);
        return false;
      }
      /* Whatever the policy, as the wcache-cut-unit key: a unit the disk
       * could never use is a mistake worth saying. */
      if ((problem = wc_cut_unit_problem (u, block_size)) != NULL) {
        reply_error (r, "power-cut: unit=%s %s; block size %" PRIu32, v,
                     problem, block_size);
        return false;
      }
      a->cut.unit = u;
      break;
    }
    case 4:
      if (!parse_after (v, a, r))
        return false;
      break;
    }
  }
  return true;
}

static void
cmd_power_cut (struct wc_engine *e, char **argv, int argc, struct reply *r)
{
  struct cut_args a;
  struct wc_cut_report rep;
  int rv;

  if (argc == 1 && strcmp (argv[0], "cancel") == 0) {
    if (checking (e, r))
      return;
    wc_arm_cut (e, NULL, WC_TRIGGER_NONE, 0);
    reply_ok (r, "ok armed=none");
    return;
  }
  if (!parse_cut_args (argv, argc, e ? wc_block_size (e) : WC_MAX_BLOCK_SIZE,
                       &a, r))
    return;
  /* The unit against the block size needs the disk: parse_cut_args
   * checked it against the largest block size only. */
  if (checking (e, r))
    return;

  if (a.trigger != WC_TRIGGER_NONE) {
    rv = a.trigger == WC_TRIGGER_MARK
      ? wc_arm_cut_at_mark (e, &a.cut, a.mark)
      : wc_arm_cut (e, &a.cut, a.trigger, a.n);
    if (rv == -1) {
      int err = errno;
      reply_fail (r, err, "power-cut: arming: %s", g_strerror (err));
      return;
    }
    reply_ok (r, "ok");
    if (a.trigger == WC_TRIGGER_MARK)
      wc_kv_add_printf (r->s, "armed", "mark:%s", a.mark);
    else
      wc_kv_add_printf (r->s, "armed", "%s:%" PRIu64,
                        wc_trigger_name (a.trigger), a.n);
    wc_kv_add (r->s, "policy", wc_policy_name (a.cut.policy));
    if (a.cut.seed_set)
      wc_kv_add_u64 (r->s, "seed", a.cut.seed);
    return;
  }

  if (wc_power_cut (e, &a.cut, &rep) == -1) {
    int err = errno;
    if (err == EIO)
      reply_fail (r, EIO, "power-cut: the power is already off");
    else
      reply_fail (r, err, "power-cut: %s", g_strerror (err));
    return;
  }
  reply_ok (r, "ok power=off");
  add_cut_report (r, "", &rep);
}

/* ---- power-on ----------------------------------------------------------- */

static void
cmd_power_on (struct wc_engine *e, char **argv, int argc, struct reply *r)
{
  if (argc > 0) {
    reply_error (r, "power-on: takes no arguments");
    return;
  }
  if (checking (e, r))
    return;
  wc_power_on (e);
  reply_ok (r, "ok power=on");
}

/* ---- status ------------------------------------------------------------- */

/* log=PATH while logging, log=off (with last_log=PATH once there was one),
 * or log="failed: REASON"; then the entries and bytes in the file. */
static void
add_log (struct reply *r, struct wc_engine *e)
{
  struct wc_log_info li;

  wc_log_get_info (e, &li);
  if (li.failed)
    wc_kv_add_printf (r->s, "log", "failed: %s", li.failed);
  else if (li.on)
    wc_kv_add (r->s, "log", li.path);
  else
    wc_kv_add (r->s, "log", "off");
  if (li.path) {
    if (!li.on || li.failed)
      wc_kv_add (r->s, "last_log", li.path);
    wc_kv_add_u64 (r->s, "log_entries", li.entries);
    wc_kv_add_u64 (r->s, "log_bytes", li.bytes);
    wc_kv_add_u64 (r->s, "log_sector_size", li.sector_size);
  }
  wc_log_info_clear (&li);
}

static void
cmd_status (struct wc_engine *e, char **argv, int argc, struct reply *r)
{
  struct wc_stats st;
  uint32_t bs;

  if (argc > 0) {
    reply_error (r, "status: takes no arguments");
    return;
  }
  if (checking (e, r))
    return;
  bs = wc_block_size (e);
  wc_get_stats (e, &st);
  reply_ok (r, "ok");
  wc_kv_add (r->s, "power", st.powered ? "on" : "off");
  add_mode (r, st.mode);
  wc_kv_add_u64 (r->s, "size", wc_size (e));
  wc_kv_add_u64 (r->s, "block_size", bs);
  add_media (r, e);
  wc_kv_add_u64 (r->s, "cache_bytes", st.cache_blocks_max * bs);
  wc_kv_add_u64 (r->s, "dirty_blocks", st.cached_blocks);
  wc_kv_add_u64 (r->s, "dirty_bytes", st.cached_blocks * bs);
  wc_kv_add_u64 (r->s, "reads", st.reads);
  wc_kv_add_u64 (r->s, "writes", st.writes);
  wc_kv_add_u64 (r->s, "fua_writes", st.fua_writes);
  wc_kv_add_u64 (r->s, "zeroes", st.zeroes);
  wc_kv_add_u64 (r->s, "trims", st.trims);
  wc_kv_add_u64 (r->s, "flushes", st.flushes);
  wc_kv_add_u64 (r->s, "bytes_read", st.bytes_read);
  wc_kv_add_u64 (r->s, "bytes_written", st.bytes_written);
  wc_kv_add_u64 (r->s, "writeback_blocks", st.writeback_blocks);
  wc_kv_add_u64 (r->s, "writeback_ios", st.writeback_ios);
  wc_kv_add_u64 (r->s, "destaged_blocks", st.destaged_blocks);
  wc_kv_add_u64 (r->s, "media_errors", st.media_errors);
  wc_kv_add_u64 (r->s, "marks", st.marks);
  wc_kv_add_u64 (r->s, "cuts", st.cuts);
  wc_kv_add (r->s, "armed", wc_trigger_name (st.armed));
  if (st.armed != WC_TRIGGER_NONE) {
    if (st.armed == WC_TRIGGER_MARK)
      wc_kv_add (r->s, "armed_mark", st.armed_mark);
    else
      wc_kv_add_u64 (r->s, "armed_remaining", st.armed_remaining);
    wc_kv_add (r->s, "armed_policy", wc_policy_name (st.armed_cut.policy));
  }
  if (st.have_last_cut)
    add_cut_report (r, "last_cut_", &st.last_cut);
  add_log (r, e);
}

/* ---- mark TEXT ---------------------------------------------------------- */

static void
cmd_mark (struct wc_engine *e, char **argv, int argc, struct reply *r)
{
  if (argc != 1) {
    reply_error (r, "mark: usage: mark TEXT");
    return;
  }
  if (checking (e, r))
    return;
  if (wc_mark (e, argv[0]) == -1) {
    int err = errno;
    if (err == EINVAL)
      reply_error (r, "mark: longer than the %zu bytes a mark takes in the "
                   "write log", wc_log_mark_max (e));
    else
      reply_fail (r, err, "mark: %s", err == EIO ? "the power is off"
                  : g_strerror (err));
    return;
  }
  reply_ok (r, "ok");
  wc_kv_add (r->s, "mark", argv[0]);
  wc_kv_add (r->s, "power", wc_powered (e) ? "on" : "off");
}

/* ---- log ---------------------------------------------------------------- */

static void
log_start (struct wc_engine *e, char **argv, int argc, struct reply *r)
{
  g_autofree char *message = NULL;
  uint64_t ss = 512;
  const char *problem;

  if (argc < 2 || argc > 3) {
    reply_error (r, "log: usage: log start PATH [sector-size=N] | log stop");
    return;
  }
  /* The server's working directory is not the client's (nbdkit in the
   * background runs in /). */
  if (argv[1][0] != '/') {
    reply_error (r, "log start: %s: the path must be absolute", argv[1]);
    return;
  }
  if (argc == 3) {
    if (!g_str_has_prefix (argv[2], "sector-size=") ||
        wc_parse_size (argv[2] + 12, &ss) == -1) {
      reply_error (r, "log start: '%s': expected sector-size=N (512 or "
                   "4096)", argv[2]);
      return;
    }
    /* Against the largest block size when only checking. */
    if ((problem = wc_log_sector_size_problem
         (ss, e ? wc_block_size (e) : WC_MAX_BLOCK_SIZE)) != NULL) {
      reply_error (r, "log start: sector-size=%s %s", argv[2] + 12, problem);
      return;
    }
  }
  if (checking (e, r))
    return;
  if (wc_log_start (e, argv[1], ss, &message) == -1) {
    int err = errno;
    reply_fail (r, err, "log start: %s", message);
    return;
  }
  reply_ok (r, "ok");
  wc_kv_add (r->s, "log", argv[1]);
  wc_kv_add_u64 (r->s, "log_sector_size", ss);
}

static void
cmd_log (struct wc_engine *e, char **argv, int argc, struct reply *r)
{
  struct wc_log_info li;

  if (argc >= 1 && strcmp (argv[0], "start") == 0) {
    log_start (e, argv, argc, r);
    return;
  }
  if (argc == 1 && strcmp (argv[0], "stop") == 0) {
    if (checking (e, r))
      return;
    if (wc_log_stop (e) == -1) {
      reply_error (r, "log stop: no log is on");
      return;
    }
    wc_log_get_info (e, &li);
    reply_ok (r, "ok log=off");
    wc_kv_add (r->s, "last_log", li.path);
    wc_kv_add_u64 (r->s, "log_entries", li.entries);
    wc_kv_add_u64 (r->s, "log_bytes", li.bytes);
    wc_log_info_clear (&li);
    return;
  }
  reply_error (r, "log: usage: log start PATH [sector-size=N] | log stop");
}

/* ---- the table ---------------------------------------------------------- */

static void cmd_help (struct wc_engine *e, char **argv, int argc,
                      struct reply *r);

enum wc_args { ARGS_WORDS, ARGS_REST };

/* Indexed by enum wc_command_id: names and help live in commands.c. */
static const struct command {
  enum wc_args args;            /* words, or the rest of the line as one */
  void (*run) (struct wc_engine *e, char **argv, int argc, struct reply *r);
} commands[WC_CMD_COUNT] = {
  [WC_CMD_MODE] = { ARGS_WORDS, cmd_mode },
  [WC_CMD_CACHE_TYPE] = { ARGS_REST, cmd_cache_type },
  [WC_CMD_FLUSH] = { ARGS_WORDS, cmd_flush },
  [WC_CMD_POWER_CUT] = { ARGS_WORDS, cmd_power_cut },
  [WC_CMD_POWER_ON] = { ARGS_WORDS, cmd_power_on },
  [WC_CMD_STATUS] = { ARGS_WORDS, cmd_status },
  [WC_CMD_MARK] = { ARGS_REST, cmd_mark },
  [WC_CMD_LOG] = { ARGS_WORDS, cmd_log },
  [WC_CMD_HELP] = { ARGS_WORDS, cmd_help },
};

static void
cmd_help (struct wc_engine *e, char **argv, int argc, struct reply *r)
{
  reply_ok (r, "ok");
  for (size_t i = 0; i < WC_CMD_COUNT; i++)
    wc_kv_add_printf (r->s, wc_command_docs[i].name, "%s: %s",
                      wc_command_docs[i].synopsis, wc_command_docs[i].help);
}

/* Parses and runs one request into r. */
static void
run (struct wc_engine *e, const char *line, struct reply *r)
{
  g_autofree char *copy = NULL;
  g_auto (GStrv) words = NULL;
  const char *rest;
  size_t len, n = 0;

  for (const unsigned char *p = (const unsigned char *) line; *p; p++) {
    if (*p < 0x20 || *p > 0x7e) {
      reply_error (r, "the request holds a byte that is not printable ASCII "
                   "(0x%02x)", *p);
      return;
    }
  }
  while (*line == ' ')
    line++;
  len = strcspn (line, " ");
  if (len == 0) {
    reply_error (r, "empty request; try 'help'");
    return;
  }
  rest = line + len;
  while (*rest == ' ')
    rest++;

  for (size_t i = 0; i < WC_CMD_COUNT; i++) {
    const struct command *c = &commands[i];
    const char *name = wc_command_docs[i].name;

    if (strlen (name) != len || strncmp (line, name, len) != 0)
      continue;
    switch (c->args) {
    case ARGS_WORDS:
      words = g_strsplit (rest, " ", -1);
      /* Drop empty words (runs of spaces). */
      n = 0;
      for (size_t j = 0; words[j]; j++) {
        if (*words[j])
          words[n++] = words[j];
        else
          g_free (words[j]);
      }
      words[n] = NULL;
      break;
    case ARGS_REST:
      copy = g_strdup (rest);
      g_strchomp (copy);
      words = g_new0 (char *, 2);
      n = 0;
      if (*copy)
        words[n++] = g_steal_pointer (&copy);
      break;
    }
    if (!e && !r->check_only && c->run != cmd_help) {
      reply_fail (r, EIO, "%s: no disk: the plugin below wcache failed to "
                  "open (see the server's log)", name);
      return;
    }
    c->run (e, words, n, r);
    return;
  }
  reply_error (r, "unknown command '%.*s'; try 'help'", (int) MIN (len, 64),
               line);
}

int
wc_control_check (const char *line, char **reply)
{
  struct reply r = { .s = g_string_new (NULL), .err = 0, .check_only = true };

  run (NULL, line, &r);
  *reply = g_string_free (r.s, FALSE);
  return r.err;
}

int
wc_control_run (struct wc_engine *e, const char *line, char **reply)
{
  struct reply r = { .s = g_string_new (NULL), .err = 0 };

  run (e, line, &r);
  *reply = g_string_free (r.s, FALSE);
  return r.err;
}

char *
wc_control_exec (struct wc_engine *e, const char *line)
{
  char *reply;

  (void) wc_control_run (e, line, &reply);
  return reply;
}

/* The guest harness's verdict: the one home of what wcache-guest decides.
 *
 * Owns three rules of wcache-guest(1).  First, the expected outcome of a
 * cell (gv_expected): an application's own promise comes first (what it
 * does not promise is lost with the guest's page cache whatever the disk
 * does); then wcache's mode (writethrough and directsync are always safe;
 * unsafe drops flushes, so only a `keep` cut is safe); then whether the
 * guest's promise reaches the disk as a flush or as a write-through
 * device (no flush from a sync-only workload on a raw disk, or with the
 * guest's write_cache_wt switch).  Where nothing makes the records
 * durable the cut policy decides: keep loses nothing, lose loses, the
 * others may.
 *
 * Second, what survived (gv_check_*): each record the guest announced on
 * its console is found or counted lost, with how (missing, torn, stale or
 * corrupt: the words of wcache-crash's records checker, whose classifier
 * this uses); records announced after the disk failed in an EIO window
 * are counted apart.  On the records workloads the whole record area is
 * scanned for foreign lines (S10: a block holds old or newly written data
 * only, so a line that no record wrote there is corruption under every
 * cut policy).  An application's records come from its own check run by
 * the harness; where the application is known to leave its newest record
 * unhardened (gv_app_known_rollback), that one rolling back is a finding
 * about the application, not a wrong verdict.
 *
 * Third, the verdict (gv_decide): the outcome, whether it is the expected
 * one, and whether it carries a finding; foreign data is never correct,
 * and an application's data may be corrupt only where its documentation
 * says so.
 *
 * No I/O, no locks: the command (wcache-guest-verdict.c) reads the files.
 */
#include <config.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "crash-check.h"
#include "guest-verdict.h"

/* ---- The cell -------------------------------------------------------------- */

/* Option values, in each enum's order. */
static const char *const workload_names[] = {
  "fsync", "direct", "rename", "sync", "sqlite", "git", "user", NULL,
};
static const char *const fs_names[] = { "raw", "ext4", "xfs", "btrfs", NULL };
static const char *const cache_names[] = {
  "writeback", "writethrough", "none", "directsync", "unsafe", NULL,
};
static const char *const switch_names[] = {
  "none", "cache_type_wt", "write_cache_wt", NULL,
};
static const char *const policy_names[] = {
  "lose", "keep", "random", "ordered", "torn", NULL,
};
static const char *const journal_names[] = { "wal", "delete", NULL };
static const char *const sync_names[] = { "full", "off", "normal", "extra", NULL };
static const char *const git_names[] = {
  "all", "committed", "default", "none", NULL,
};
static const char *const expect_names[] = { "safe", "loss", "any", NULL };

static int
name_index (const char *const *names, const char *s)
{
  for (int i = 0; names[i]; i++)
    if (strcmp (names[i], s) == 0)
      return i;
  return -1;
}

static bool
bad_value (const char *key, const char *value, const char *const *names,
           GError **error)
{
  g_autofree char *legal = g_strjoinv (", ", (char **) names);

  g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
               "--%s=%s: not one of %s", key, value, legal);
  return false;
}

void
gv_cell_init (struct gv_cell *c)
{
  memset (c, 0, sizeof *c);     /* every axis's first value */
}

bool
gv_cell_set (struct gv_cell *c, const char *key, const char *value,
             GError **error)
{
  static const struct {
    const char *key;
    const char *const *names;
    size_t field;
  } axes[] = {
    { "workload", workload_names, offsetof (struct gv_cell, workload) },
    { "fs", fs_names, offsetof (struct gv_cell, fs) },
    { "qemu-cache", cache_names, offsetof (struct gv_cell, qcache) },
    { "guest-switch", switch_names, offsetof (struct gv_cell, gswitch) },
    { "wcache-mode", cache_names, offsetof (struct gv_cell, wmode) },
    { "policy", policy_names, offsetof (struct gv_cell, policy) },
    { "git-fsync", git_names, offsetof (struct gv_cell, git) },
  };
  int i;

  if (strcmp (key, "sqlite") == 0) {
    g_auto (GStrv) js = g_strsplit (value, ":", 2);
    int j = name_index (journal_names, js[0]);
    int s = js[1] ? name_index (sync_names, js[1]) : -1;

    if (j < 0 || s < 0) {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   "--sqlite=%s: not JOURNAL:SYNC (JOURNAL delete or wal,"
                   " SYNC off, normal, full or extra)", value);
      return false;
    }
    c->journal = j;
    c->sync = s;
    return true;
  }
  for (size_t a = 0; a < G_N_ELEMENTS (axes); a++) {
    if (strcmp (key, axes[a].key) != 0)
      continue;
    i = name_index (axes[a].names, value);
    if (i < 0)
      return bad_value (key, value, axes[a].names, error);
    /* Every axis is an enum, stored as an int. */
    *(int *) ((char *) c + axes[a].field) = i;
    return true;
  }
  g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_UNKNOWN_OPTION,
               "--%s: not an axis of a cell", key);
  return false;
}

bool
gv_expect_parse (const char *s, enum gv_expect *e)
{
  int i = name_index (expect_names, s);

  if (i < 0)
    return false;
  *e = i;
  return true;
}

const char *
gv_expect_name (enum gv_expect e)
{
  return expect_names[e];
}

/* ---- What a cell must show ---------------------------------------------- */

enum gv_expect
gv_app_promise (const struct gv_cell *c)
{
  switch (c->workload) {
  case GV_WL_SQLITE:
    switch (c->sync) {
    case GV_SYNC_OFF:
      return GV_EXPECT_LOSS;            /* never syncs */
    case GV_SYNC_NORMAL:
      return GV_EXPECT_ANY;             /* WAL: may roll back; DELETE: fewer syncs */
    case GV_SYNC_FULL:
      /* DELETE: the journal's unlink is not synced. */
      return c->journal == GV_JOURNAL_DELETE ? GV_EXPECT_ANY : GV_EXPECT_SAFE;
    case GV_SYNC_EXTRA:
      return GV_EXPECT_SAFE;
    }
    break;
  case GV_WL_GIT:
    switch (c->git) {
    case GV_GIT_NONE:
      return GV_EXPECT_LOSS;
    case GV_GIT_DEFAULT:
    case GV_GIT_COMMITTED:
      return GV_EXPECT_ANY;             /* refs are not hardened */
    case GV_GIT_ALL:
      return GV_EXPECT_SAFE;            /* every component; but see gv_app_finding */
    }
    break;
  case GV_WL_FSYNC:
  case GV_WL_DIRECT:
  case GV_WL_RENAME:
  case GV_WL_SYNC:
  case GV_WL_USER:
    break;
  }
  return GV_EXPECT_SAFE;
}

bool
gv_app_may_corrupt (const struct gv_cell *c)
{
  if (c->workload == GV_WL_SQLITE)
    return c->sync == GV_SYNC_OFF;
  /* Where git's objects or refs are not all hardened, an empty loose
   * object or ref is what it risks. */
  if (c->workload == GV_WL_GIT)
    return c->git != GV_GIT_ALL;
  return false;
}

const char *
gv_app_finding (const struct gv_cell *c)
{
  if (c->workload != GV_WL_GIT)
    return NULL;
  switch (c->git) {
  case GV_GIT_ALL:
    return "git documents core.fsync=all as hardening every component,"
      " references included, but it renames the fsynced refs/heads/*.lock"
      " over the ref without an fsync of the directory: the newest commit"
      " can roll back";
  case GV_GIT_COMMITTED:
    return "git documents core.fsync=committed as hardening work committed"
      " with git commit, but it hardens the objects only: the ref naming the"
      " new commit is not fsynced";
  case GV_GIT_DEFAULT:
  case GV_GIT_NONE:
    break;
  }
  return NULL;
}

bool
gv_app_known_rollback (const struct gv_cell *c)
{
  return gv_app_finding (c) && gv_app_promise (c) == GV_EXPECT_SAFE;
}

/* Whether the guest's promise reaches the disk: as a flush, or as a write
 * to a device it believes write-through. */
static bool
promise_reaches_disk (const struct gv_cell *c)
{
  bool flushes = true, device_wt = false;

  if (c->fs == GV_FS_RAW && c->workload == GV_WL_SYNC)
    flushes = false;            /* sync(2) on a raw disk sends no flush */
  if (c->gswitch == GV_SWITCH_WRITE_CACHE_WT)
    flushes = false;
  if (c->qcache == GV_CACHE_WRITETHROUGH || c->qcache == GV_CACHE_DIRECTSYNC ||
      c->gswitch == GV_SWITCH_CACHE_TYPE_WT)
    device_wt = true;
  return flushes || device_wt;
}

/* Where nothing makes the records durable, the cut policy decides. */
static enum gv_expect
by_policy (const struct gv_cell *c)
{
  switch (c->policy) {
  case GV_POLICY_KEEP:
    return GV_EXPECT_SAFE;
  case GV_POLICY_LOSE:
    return GV_EXPECT_LOSS;
  case GV_POLICY_RANDOM:
  case GV_POLICY_ORDERED:
  case GV_POLICY_TORN:
    break;
  }
  return GV_EXPECT_ANY;
}

enum gv_expect
gv_expected (const struct gv_cell *c)
{
  switch (gv_app_promise (c)) {
  case GV_EXPECT_LOSS:
    return c->policy == GV_POLICY_KEEP ? GV_EXPECT_ANY : GV_EXPECT_LOSS;
  case GV_EXPECT_ANY:
    return GV_EXPECT_ANY;
  case GV_EXPECT_SAFE:
    break;
  }
  switch (c->wmode) {
  case GV_CACHE_WRITETHROUGH:
  case GV_CACHE_DIRECTSYNC:
    return GV_EXPECT_SAFE;
  case GV_CACHE_UNSAFE:
    return by_policy (c);       /* flushes are dropped */
  case GV_CACHE_WRITEBACK:
  case GV_CACHE_NONE:
    break;
  }
  if (promise_reaches_disk (c)) {
    /* QEMU 7.2's NBD client still forwards flushes with cache=unsafe,
     * but nothing promises it: allow either outcome. */
    if (c->qcache == GV_CACHE_UNSAFE && c->policy != GV_POLICY_KEEP)
      return GV_EXPECT_ANY;
    return GV_EXPECT_SAFE;
  }
  return by_policy (c);
}

/* ---- What the guest announced ------------------------------------------- */

/* Parses "WG record N durable" at line; N in *n. */
static bool
announcement (const char *line, const char *end, uint32_t *n)
{
  static const char head[] = "WG record ", tail[] = " durable";
  const char *p = line + strlen (head);
  uint64_t v = 0;

  if ((size_t) (end - line) < strlen (head) ||
      memcmp (line, head, strlen (head)) != 0)
    return false;
  if (p >= end || !g_ascii_isdigit (*p))
    return false;
  for (; p < end && g_ascii_isdigit (*p); p++) {
    v = v * 10 + (*p - '0');
    if (v > UINT32_MAX)
      return false;
  }
  if ((size_t) (end - p) < strlen (tail) || memcmp (p, tail, strlen (tail)) != 0)
    return false;
  *n = v;
  return true;
}

void
gv_announced_parse (struct gv_announced *a, const char *console, size_t len,
                    int64_t cutoff)
{
  const char *p = console, *end = console + len;

  memset (a, 0, sizeof *a);
  a->rec = g_array_new (false, false, sizeof (uint32_t));
  a->late = g_array_new (false, false, sizeof (gboolean));
  while (p < end) {
    const char *nl = memchr (p, '\n', end - p);
    const char *eol = nl ? nl : end;
    uint32_t n;

    if (announcement (p, eol, &n)) {
      gboolean late = cutoff >= 0 && p - console >= cutoff;

      g_array_append_val (a->rec, n);
      g_array_append_val (a->late, late);
      if (late)
        a->nlate++;
      else {
        a->nacked++;
        a->last = n;
      }
      a->last_all = n;
    }
    p = nl ? nl + 1 : end;
  }
}

void
gv_announced_clear (struct gv_announced *a)
{
  if (a->rec)
    g_array_free (a->rec, true);
  if (a->late)
    g_array_free (a->late, true);
  memset (a, 0, sizeof *a);
}

#define REC(a, i) g_array_index ((a)->rec, uint32_t, (i))
#define LATE(a, i) g_array_index ((a)->late, gboolean, (i))

/* ---- What survived ------------------------------------------------------- */

void
gv_check_init (struct gv_check *v, const struct gv_cell *c,
               const struct gv_announced *a, enum gv_expect expect,
               uint32_t seed, const char *fsck)
{
  memset (v, 0, sizeof *v);
  v->cell = c;
  v->ann = a;
  v->expect = expect;
  v->seed = seed;
  v->fsck = fsck;
  v->lost_list = g_string_new ("");
  v->late_list = g_string_new ("");
  v->foreign = -1;
}

void
gv_check_clear (struct gv_check *v)
{
  g_string_free (v->lost_list, true);
  g_string_free (v->late_list, true);
  g_free (v->foreign_at);
  g_free (v->app_corrupt);
  memset (v, 0, sizeof *v);
}

/* Counts announcement i lost, how; the first five of each kind listed. */
static void
lost_record (struct gv_check *v, guint i, const char *how)
{
  bool late = LATE (v->ann, i);
  uint64_t *count = late ? &v->lost_late : &v->lost;
  GString *list = late ? v->late_list : v->lost_list;

  if (++*count <= 5)
    g_string_append_printf (list, " record %" PRIu32 " %s;", REC (v->ann, i), how);
}

/* Block blk of area into out, zeros past len. */
static void
block_at (const uint8_t *area, size_t len, uint64_t blk, uint8_t *out)
{
  uint64_t off = blk * CRASH_RECORD_SIZE;
  size_t have = off < len ? MIN (len - off, (size_t) CRASH_RECORD_SIZE) : 0;

  if (have)
    memcpy (out, area + off, have);
  memset (out + have, 0, CRASH_RECORD_SIZE - have);
}

/* The foreign-line scan (S10): every 64-byte line from block 1, for 128
 * blocks past the last record announced (or to the end of the area),
 * must be zeros or its own record's line. */
static void
scan_foreign (struct gv_check *v, const uint8_t *area, size_t len)
{
  static const uint8_t zero_line[CRASH_RECORD_LINE];
  uint64_t end = ((uint64_t) v->ann->last_all + 129) * CRASH_RECORD_SIZE;
  uint8_t want[CRASH_RECORD_SIZE];
  uint32_t wanted = 0;

  end = MIN (end, len);
  if (end <= CRASH_RECORD_SIZE)
    return;                     /* nothing to scan: n/a */
  v->foreign = 0;
  for (uint64_t off = CRASH_RECORD_SIZE; off + CRASH_RECORD_LINE <= end;
       off += CRASH_RECORD_LINE) {
    uint32_t r = off / CRASH_RECORD_SIZE;

    if (memcmp (area + off, zero_line, CRASH_RECORD_LINE) == 0)
      continue;
    if (r != wanted) {
      crash_record_block (v->seed, r, want);
      wanted = r;
    }
    if (memcmp (area + off, want, CRASH_RECORD_LINE) == 0)
      continue;
    if (v->foreign++ == 0)
      v->foreign_at = g_strdup_printf ("record %" PRIu32 " byte %" PRIu64, r,
                                       off % CRASH_RECORD_SIZE);
  }
}

void
gv_check_records (struct gv_check *v, const uint8_t *area, size_t len)
{
  uint8_t got[CRASH_RECORD_SIZE], want[CRASH_RECORD_SIZE];

  for (guint i = 0; i < v->ann->rec->len; i++) {
    uint32_t n = REC (v->ann, i);

    block_at (area, len, n, got);
    crash_record_block (v->seed, n, want);
    if (memcmp (got, want, CRASH_RECORD_SIZE) != 0)
      lost_record (v, i, crash_record_classify (got, want));
  }
  scan_foreign (v, area, len);
}

/* The record block blk of area is, whole, a record of this run: its
 * number, or 0. */
static uint32_t
intact_record (const struct gv_check *v, const uint8_t *area, size_t len,
               uint64_t blk)
{
  uint8_t got[CRASH_RECORD_SIZE], want[CRASH_RECORD_SIZE];
  char digits[9];
  uint64_t n;

  block_at (area, len, blk, got);
  /* "WCREC seed=SSSSSSSSSS rec=NNNNNNNN " */
  if (memcmp (got, "WCREC seed=", 11) != 0 || memcmp (got + 21, " rec=", 5) != 0)
    return 0;
  memcpy (digits, got + 26, 8);
  digits[8] = '\0';
  if (!g_ascii_string_to_unsigned (digits, 10, 1, UINT32_MAX, &n, NULL))
    return 0;
  crash_record_block (v->seed, n, want);
  return memcmp (got, want, CRASH_RECORD_SIZE) == 0 ? n : 0;
}

void
gv_check_rename (struct gv_check *v, const uint8_t *area, size_t len)
{
  const struct gv_announced *a = v->ann;
  uint32_t cur = intact_record (v, area, len, 0);
  g_autofree char *state = NULL;

  /* Raw disk: the commit block counts only with its slot (wl-rename.sh
   * writes record i into slot i % 2 first). */
  if (cur && v->cell->fs == GV_FS_RAW &&
      intact_record (v, area, len, 2 + cur % 2) != cur)
    cur = 0;
  state = cur ? g_strdup_printf ("%" PRIu32, cur) : g_strdup ("none");
  if (a->nacked > 0 && cur < a->last) {
    v->lost = a->last - cur;    /* acknowledged commits rolled back */
    g_string_printf (v->lost_list, "committed state %s older than"
                     " acknowledged record %" PRIu32, state, a->last);
  }
  else if (a->nlate > 0 && cur < a->last_all) {
    v->lost_late = a->last_all - cur;
    g_string_printf (v->late_list, "committed state %s older than record"
                     " %" PRIu32 ", announced after the disk failed",
                     state, a->last_all);
  }
}

/* The lines of text, as a set. */
static GHashTable *
line_set (const char *text)
{
  GHashTable *set = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_auto (GStrv) lines = g_strsplit (text ? text : "", "\n", -1);

  for (char **l = lines; *l; l++)
    if (**l)
      g_hash_table_add (set, g_strdup (*l));
  return set;
}

static bool
has_record (GHashTable *set, uint32_t n)
{
  char s[16];

  snprintf (s, sizeof s, "%" PRIu32, n);
  return g_hash_table_contains (set, s);
}

void
gv_check_app (struct gv_check *v, const char *present, const char *corrupt)
{
  const struct gv_announced *a = v->ann;
  g_autoptr (GHashTable) set = line_set (present);

  if (corrupt && *corrupt)
    v->app_corrupt = g_strdup (corrupt);
  for (guint i = 0; i < a->rec->len; i++)
    if (!has_record (set, REC (a, i)))
      lost_record (v, i, "missing");
  /* The application's known rollback: its newest record, alone. */
  if (gv_app_known_rollback (v->cell) && v->lost == 1 &&
      !has_record (set, a->last)) {
    v->lost = 0;
    v->app_rolled = true;
    g_string_printf (v->lost_list, " record %" PRIu32 " rolled back:"
                     " the application's finding, below", a->last);
  }
}

void
gv_check_user (struct gv_check *v, bool mounted, int status, const char *out)
{
  g_auto (GStrv) lines = NULL;
  const char *said = "";
  int64_t lost = -1;

  if (!mounted) {
    v->lost = v->ann->nacked;
    g_string_assign (v->lost_list, "the filesystem could not be mounted");
    return;
  }
  if (status == 0)
    return;
  /* The last "lost N" line counts; the last other line says why. */
  lines = g_strsplit (out ? out : "", "\n", -1);
  for (char **l = lines; *l; l++) {
    uint64_t n;

    if (g_str_has_prefix (*l, "lost ") &&
        g_ascii_string_to_unsigned (*l + 5, 10, 0, INT64_MAX, &n, NULL))
      lost = n;
    else if (**l)
      said = *l;
  }
  v->lost = lost > 0 ? (uint64_t) lost : 1;
  g_string_printf (v->lost_list, "check script: %s", said);
}

/* ---- The verdict --------------------------------------------------------- */

int
gv_decide (const struct gv_check *v, struct gv_verdict *out)
{
  bool foreign = v->foreign > 0, corrupt = foreign || v->app_corrupt;
  const char *afind = gv_app_finding (v->cell);

  memset (out, 0, sizeof *out);
  out->outcome = corrupt ? "CORRUPTION DETECTED"
    : v->lost > 0 ? "LOSS DETECTED" : "no loss";
  switch (v->expect) {
  case GV_EXPECT_SAFE:
    out->correct = v->lost == 0 && strcmp (v->fsck, "errors") != 0 &&
      strcmp (v->fsck, "unmountable") != 0;
    break;
  case GV_EXPECT_LOSS:
    out->correct = v->lost > 0 || corrupt;
    break;
  case GV_EXPECT_ANY:
    out->correct = true;
    break;
  }
  /* Foreign data is never a correct outcome: no cut policy may produce
   * it.  An application's data may be corrupt only where its own
   * documentation says so. */
  if (foreign || (v->app_corrupt && !gv_app_may_corrupt (v->cell)))
    out->correct = false;
  if (afind && (v->lost > 0 || v->app_rolled)) {
    out->finding = true;
    out->app_finding = afind;
  }
  if (v->lost_late > 0)
    out->finding = true;        /* announced after the disk failed, lost */
  if (!out->correct)
    return 1;
  return out->finding ? 3 : 0;
}

bool
gv_explore_correct (enum gv_expect expect, uint64_t states,
                    uint64_t inconsistent)
{
  switch (expect) {
  case GV_EXPECT_SAFE:
    return inconsistent == 0 && states > 0;
  case GV_EXPECT_LOSS:
    return inconsistent > 0;
  case GV_EXPECT_ANY:
    break;
  }
  return true;
}

bool
gv_app_state (const struct gv_cell *c, const char *acked, const char *present,
              const char *corrupt, char **detail)
{
  g_autoptr (GHashTable) set = line_set (present);
  g_auto (GStrv) marks = g_strsplit (acked ? acked : "", "\n", -1);
  g_autoptr (GString) list = g_string_new ("");
  const char *last = NULL, *lost_one = NULL;
  guint lost = 0;

  *detail = NULL;
  if (corrupt && *corrupt && !gv_app_may_corrupt (c)) {
    *detail = g_strdup_printf ("%s: %s", workload_names[c->workload], corrupt);
    return false;
  }
  for (char **l = marks; *l; l++) {
    if (!**l)
      continue;
    last = *l;
    if (g_hash_table_contains (set, *l))
      continue;
    lost++;
    lost_one = *l;
    g_string_append_printf (list, " %s", *l);
  }
  if (gv_app_known_rollback (c) && lost == 1 && lost_one == last) {
    *detail = g_strdup_printf ("finding: record %s rolled back: %s", last,
                               gv_app_finding (c));
    return true;
  }
  if (lost == 0)
    return true;
  *detail = g_strdup_printf ("records lost:%s", list->str);
  return false;
}

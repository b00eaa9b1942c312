/* Unit tests for the guest harness's verdict (tools/guest-verdict.h):
 * each cell's expected outcome, the record classification, the
 * foreign-line scan (S10), the EIO window's late records, rename's
 * committed state, the applications' rules and the user's check script,
 * each on inputs crafted here: consoles, record areas, the lists an
 * application's check prints.
 */
#include <config.h>

#include <string.h>

#include <glib.h>

#include "crash-check.h"
#include "guest-verdict.h"

#define SEED 4242u
#define BLK CRASH_RECORD_SIZE

/* A cell from "key=value key=value ..." over the defaults. */
static struct gv_cell
cell_of (const char *spec)
{
  g_auto (GStrv) kv = g_strsplit (spec, " ", -1);
  struct gv_cell c;

  gv_cell_init (&c);
  for (char **p = kv; *p; p++) {
    g_auto (GStrv) one = g_strsplit (*p, "=", 2);
    g_autoptr (GError) error = NULL;

    if (!**p)
      continue;
    g_assert_true (gv_cell_set (&c, one[0], one[1], &error));
    g_assert_no_error (error);
  }
  return c;
}

/* cases: "WANT SPEC; WANT SPEC; ...", each cell SPEC (cell_of) must be
 * expected to show WANT (safe, loss or any). */
static void
expect_cases (const char *cases)
{
  g_auto (GStrv) each = g_strsplit (cases, ";", -1);

  for (char **e = each; *e; e++) {
    g_autofree char *one = g_strstrip (g_strdup (*e));
    const char *sp = strchr (one, ' ');
    g_autofree char *want = g_strndup (one, sp ? (size_t) (sp - one) : strlen (one));
    struct gv_cell c = cell_of (sp ? sp + 1 : "");

    if (g_strcmp0 (gv_expect_name (gv_expected (&c)), want) != 0)
      g_error ("expected %s for the cell \"%s\", got %s", want, sp ? sp + 1 : "",
               gv_expect_name (gv_expected (&c)));
  }
}

/* A console announcing records first..last durable (boot noise around). */
static char *
console_of (uint32_t first, uint32_t last)
{
  GString *s = g_string_new ("[    0.1] virtio_blk virtio0: [vda]\nWG start\n");

  for (uint32_t n = first; n <= last; n++)
    g_string_append_printf (s, "WG record %u durable\r\n", n);
  g_string_append (s, "WG done\n");
  return g_string_free (s, false);
}

/* A record area with records 1..n intact (nblocks blocks). */
static uint8_t *
area_of (uint32_t n, size_t nblocks)
{
  uint8_t *a = g_malloc0 (nblocks * BLK);

  for (uint32_t r = 1; r <= n; r++)
    crash_record_block (SEED, r, a + (size_t) r * BLK);
  return a;
}

/* One records check: the cell, the console (records 1..announced
 * durable), the record area (records 1..intact, 200 blocks). */
struct rec {
  struct gv_cell c;
  char *console;
  uint8_t *area;
  size_t len;
  struct gv_announced a;
  struct gv_check v;
  struct gv_verdict r;
};

/* A records test's cell and contents: its fixture's setup data. */
struct rec_data {
  const char *spec;
  uint32_t announced, intact;
};

static void
rec_setup (struct rec *t, gconstpointer data)
{
  const struct rec_data *d = data;

  memset (t, 0, sizeof *t);
  t->c = cell_of (d->spec);
  t->console = console_of (1, d->announced);
  t->area = area_of (d->intact, 200);
  t->len = 200 * BLK;
}

/* Starts a check (cutoff: -1 or where the disk failed); a second one
 * starts afresh. */
static void
rec_begin (struct rec *t, int64_t cutoff, const char *expect, const char *fsck)
{
  enum gv_expect e;

  if (t->a.rec) {
    gv_check_clear (&t->v);
    gv_announced_clear (&t->a);
  }
  g_assert_true (gv_expect_parse (expect, &e));
  gv_announced_parse (&t->a, t->console, strlen (t->console), cutoff);
  gv_check_init (&t->v, &t->c, &t->a, e, SEED, fsck);
}

/* Runs the records check; gv_decide's exit status. */
static int
rec_check (struct rec *t, int64_t cutoff, const char *expect, const char *fsck)
{
  rec_begin (t, cutoff, expect, fsck);
  gv_check_records (&t->v, t->len ? t->area : NULL, t->len);
  return gv_decide (&t->v, &t->r);
}

/* The check of the cell spec by its workload (t zeroed, or as the last
 * call left it): rename's of the blocks in
 * (len bytes), or an application's of the records present in (and
 * corrupt); gv_decide's exit status. */
static int
step_check (struct rec *t, const char *spec, const char *expect,
            const void *in, size_t len, const char *corrupt)
{
  static const struct rec_data four = { "", 4, 0 };

  if (!t->console)
    rec_setup (t, &four);       /* records 1..4 announced */
  t->c = cell_of (spec);
  rec_begin (t, -1, expect, "clean");
  if (t->c.workload == GV_WL_RENAME)
    gv_check_rename (&t->v, in, len);
  else
    gv_check_app (&t->v, in, corrupt);
  return gv_decide (&t->v, &t->r);
}

/* rec_check, whose exit status, outcome and list of lost records must be
 * these. */
static void
check_outcome (struct rec *t, const char *expect, int rc, const char *outcome,
               const char *lost_list)
{
  g_assert_cmpint (rec_check (t, -1, expect, "n/a"), ==, rc);
  g_assert_cmpstr (t->r.outcome, ==, outcome);
  g_assert_cmpstr (t->v.lost_list->str, ==, lost_list);
}

/* S10: foreign lines, the first at `at`, are corruption and never
 * correct. */
static void
assert_foreign (const struct rec *t, int64_t n, const char *at)
{
  g_assert_cmpint (t->v.foreign, ==, n);
  g_assert_cmpstr (t->v.foreign_at, ==, at);
  g_assert_cmpstr (t->r.outcome, ==, "CORRUPTION DETECTED");
  g_assert_false (t->r.correct);
}

static void
rec_teardown (struct rec *t, gconstpointer data)
{
  if (t->a.rec) {
    gv_check_clear (&t->v);
    gv_announced_clear (&t->a);
  }
  g_free (t->console);
  g_free (t->area);
}

/* ---- The cell and its expected outcome ------------------------------------- */

static void
test_cell_bad_values (void)
{
  struct gv_cell c;
  g_autoptr (GError) error = NULL;

  gv_cell_init (&c);
  g_assert_false (gv_cell_set (&c, "fs", "zfs", &error));
  g_assert_nonnull (strstr (error->message, "raw, ext4, xfs, btrfs"));
  g_clear_error (&error);
  g_assert_false (gv_cell_set (&c, "sqlite", "wal:bogus", &error));
  g_assert_nonnull (strstr (error->message, "JOURNAL:SYNC"));
  g_clear_error (&error);
  g_assert_false (gv_cell_set (&c, "colour", "red", &error));
  g_clear_error (&error);
  /* The defaults are the harness's: fsync, raw, writeback, lose. */
  g_assert_cmpint (c.workload, ==, GV_WL_FSYNC);
  g_assert_cmpint (c.policy, ==, GV_POLICY_LOSE);
  g_assert_cmpint (c.journal, ==, GV_JOURNAL_WAL);
  g_assert_cmpint (c.sync, ==, GV_SYNC_FULL);
}

/* A flush (fsync) reaches wcache: safe under every cut policy. */
static void
test_expect_fsync_is_safe (void)
{
  expect_cases ("safe; safe fs=ext4 policy=torn; "
                "safe workload=direct fs=btrfs policy=random; safe qemu-cache=none");
}

/* sync(2) on a raw disk sends no flush: the cut policy decides (on a
 * filesystem, sync(2) flushes). */
static void
test_expect_raw_sync_by_policy (void)
{
  expect_cases ("loss workload=sync policy=lose; safe workload=sync policy=keep; "
                "any workload=sync policy=random; any workload=sync policy=ordered; "
                "any workload=sync policy=torn; safe workload=sync fs=ext4");
}

/* A device the guest believes write-through needs no flush; with
 * write_cache_wt the guest stops flushing a write-back device. */
static void
test_expect_write_through_device (void)
{
  expect_cases ("safe workload=sync qemu-cache=writethrough; "
                "safe workload=sync qemu-cache=directsync; "
                "safe workload=sync guest-switch=cache_type_wt; "
                "loss guest-switch=write_cache_wt; "
                "safe guest-switch=write_cache_wt policy=keep");
}

/* wcache's own mode: writethrough and directsync are always safe; unsafe
 * drops flushes. */
static void
test_expect_wcache_modes (void)
{
  expect_cases ("safe workload=sync wcache-mode=writethrough; "
                "safe workload=sync wcache-mode=directsync; safe wcache-mode=none; "
                "loss workload=sync wcache-mode=none; loss wcache-mode=unsafe; "
                "safe wcache-mode=unsafe policy=keep; "
                "any wcache-mode=unsafe policy=random");
}

/* QEMU cache=unsafe: flushes are forwarded, but nothing promises it. */
static void
test_expect_qemu_unsafe (void)
{
  expect_cases ("any qemu-cache=unsafe; safe qemu-cache=unsafe policy=keep");
}

/* An application's promise comes first (and its safest setting on a disk
 * that drops flushes loses). */
static void
test_expect_applications (void)
{
  expect_cases ("safe workload=sqlite fs=ext4; "
                "safe workload=sqlite fs=ext4 sqlite=delete:extra; "
                "loss workload=sqlite fs=ext4 sqlite=wal:off; "
                "any workload=sqlite fs=ext4 sqlite=wal:off policy=keep; "
                "any workload=sqlite fs=ext4 sqlite=wal:normal; "
                "any workload=sqlite fs=ext4 sqlite=delete:full; "
                "loss workload=sqlite fs=xfs sqlite=wal:extra wcache-mode=unsafe; "
                "safe workload=git fs=ext4; "
                "any workload=git fs=ext4 git-fsync=committed; "
                "any workload=git fs=ext4 git-fsync=default; "
                "loss workload=git fs=ext4 git-fsync=none");
}

/* The application rules of the cell spec: whether its data may be
 * damaged, its finding (a part of the text, or NULL for none), whether
 * its newest record rolling back is that finding. */
static void
app_rules (const char *spec, bool may_corrupt, const char *finding,
           bool known_rollback)
{
  struct gv_cell c = cell_of (spec);

  g_assert_cmpint (gv_app_may_corrupt (&c), ==, may_corrupt);
  if (finding)
    g_assert_nonnull (strstr (gv_app_finding (&c), finding));
  else
    g_assert_null (gv_app_finding (&c));
  g_assert_cmpint (gv_app_known_rollback (&c), ==, known_rollback);
}

static void
test_app_rules (void)
{
  app_rules ("workload=sqlite sqlite=delete:off", true, NULL, false);
  app_rules ("workload=sqlite sqlite=wal:full", false, NULL, false);
  app_rules ("workload=git git-fsync=all", false, "core.fsync=all", true);
  /* committed promises no more than it does: no known rollback. */
  app_rules ("workload=git git-fsync=committed", true, "core.fsync=committed", false);
  app_rules ("workload=git git-fsync=none", true, NULL, false);
  app_rules ("workload=fsync", false, NULL, false);
}

/* ---- What the guest announced -------------------------------------------- */

/* The console's announcements with that cutoff: how many acknowledged and
 * late, the last of each. */
static void
assert_announced (const char *console, int64_t cutoff, guint nacked,
                  guint nlate, uint32_t last, uint32_t last_all)
{
  struct gv_announced a;

  gv_announced_parse (&a, console, strlen (console), cutoff);
  g_assert_cmpuint (a.rec->len, ==, nacked + nlate);
  g_assert_cmpuint (a.nacked, ==, nacked);
  g_assert_cmpuint (a.nlate, ==, nlate);
  g_assert_cmpuint (a.last, ==, last);
  g_assert_cmpuint (a.last_all, ==, last_all);
  gv_announced_clear (&a);
}

static void
test_announced_cutoff (void)
{
  const char *console =
    "WG start\n"
    "WG record 1 durable\n"
    "noise WG record 9 durable\n"       /* not at a line's start */
    "WG record 2 durable\n"
    "WG record x durable\n"
    "WG record 3 durable\n";

  assert_announced (console, -1, 3, 0, 3, 3);
  /* A line starting at the cutoff is late. */
  assert_announced (console, strstr (console, "WG record 3") - console, 2, 1, 2, 3);
}

/* ---- Records ------------------------------------------------------------- */

static void
test_records_all_survived (struct rec *t, gconstpointer data)
{
  g_assert_cmpint (rec_check (t, -1, "safe", "n/a"), ==, 0);
  g_assert_cmpuint (t->v.lost, ==, 0);
  g_assert_cmpint (t->v.foreign, ==, 0);
  g_assert_cmpstr (t->r.outcome, ==, "no loss");
  g_assert_true (t->r.correct);
  g_assert_false (t->r.finding);
}

/* An acknowledged record lost under writeback + lose: incorrect where the
 * cell must be safe, the finding of a cell that must lose. */
static void
test_records_acked_lost (struct rec *t, gconstpointer data)
{
  check_outcome (t, "safe", 1, "LOSS DETECTED",
                 " record 4 missing; record 5 missing; record 6 missing;");
  g_assert_cmpuint (t->v.lost, ==, 3);
  g_assert_cmpint (t->v.foreign, ==, 0);
  g_assert_false (t->r.correct);
  g_assert_cmpint (rec_check (t, -1, "loss", "n/a"), ==, 0);
  g_assert_true (t->r.correct);
  /* Every announced record gone (the raw sync-only control); the list
   * names the first five. */
  memset (t->area, 0, t->len);
  g_assert_cmpint (rec_check (t, -1, "loss", "n/a"), ==, 0);
  g_assert_cmpuint (t->v.lost, ==, 6);
  g_assert_null (strstr (t->v.lost_list->str, "record 6"));
}

/* A record written in part (a sector of it, zeros elsewhere) is torn, and
 * its own lines are not foreign. */
static void
test_records_torn (struct rec *t, gconstpointer data)
{
  memset (t->area + 2 * BLK + 512, 0, BLK - 512);
  check_outcome (t, "safe", 1, "LOSS DETECTED", " record 2 torn;");
  g_assert_cmpint (t->v.foreign, ==, 0);
}

/* Another run's data in a record's place is stale, and its lines are
 * foreign (S10): corruption, never correct, whatever the cell expects. */
static void
test_records_stale_is_corruption (struct rec *t, gconstpointer data)
{
  crash_record_block (SEED + 1, 2, t->area + 2 * BLK);
  check_outcome (t, "any", 1, "CORRUPTION DETECTED", " record 2 stale;");
  assert_foreign (t, 64, "record 2 byte 0");
}

/* A block that starts as a record but is damaged is stale; one that does
 * not start as a record at all is corrupt. */
static void
test_records_corrupt (struct rec *t, gconstpointer data)
{
  memset (t->area + 3 * BLK + 100, 0xff, 10);
  check_outcome (t, "loss", 1, "CORRUPTION DETECTED", " record 3 stale;");
  memset (t->area + 3 * BLK, 0xee, BLK);
  check_outcome (t, "loss", 1, "CORRUPTION DETECTED", " record 3 corrupt;");
}

/* Lines no record wrote, past the records announced, are foreign up to
 * 128 blocks past the last announced; records written but not yet
 * announced are not foreign. */
static void
test_records_foreign_lines (struct rec *t, gconstpointer data)
{
  memcpy (t->area + 7 * BLK + 128, "garbage", 7);
  memcpy (t->area + 132 * BLK, "far away", 8);   /* past the scan */
  check_outcome (t, "any", 1, "CORRUPTION DETECTED", "");
  assert_foreign (t, 1, "record 7 byte 128");
  g_assert_cmpuint (t->v.lost, ==, 0);
}

/* No record area at all (a filesystem's /records not there): every record
 * missing, and nothing to scan. */
static void
test_records_no_area (struct rec *t, gconstpointer data)
{
  t->len = 0;
  g_assert_cmpint (rec_check (t, -1, "loss", "n/a"), ==, 0);
  g_assert_cmpuint (t->v.lost, ==, 2);
  g_assert_cmpint (t->v.foreign, ==, -1);
}

/* A clean record area is not enough where the cell must be safe: the
 * filesystem checker must pass too. */
static void
test_records_fsck_errors (struct rec *t, gconstpointer data)
{
  g_assert_cmpint (rec_check (t, -1, "safe", "clean"), ==, 0);
  g_assert_cmpint (rec_check (t, -1, "safe", "errors"), ==, 1);
  g_assert_cmpstr (t->r.outcome, ==, "no loss");
  g_assert_cmpint (rec_check (t, -1, "safe", "unmountable"), ==, 1);
  g_assert_cmpint (rec_check (t, -1, "any", "unmountable"), ==, 0);
}

/* The EIO window: records announced after the disk failed and lost are an
 * error-handling finding (exit 3), apart from the power-loss verdict. */
static void
test_records_late_lost_is_finding (struct rec *t, gconstpointer data)
{
  g_assert_cmpint (rec_check (t, strstr (t->console, "WG record 4") - t->console,
                              "safe", "n/a"), ==, 3);
  g_assert_cmpuint (t->v.lost, ==, 0);
  g_assert_cmpuint (t->v.lost_late, ==, 2);
  g_assert_cmpstr (t->v.late_list->str, ==, " record 4 missing; record 5 missing;");
  g_assert_true (t->r.correct);
  g_assert_true (t->r.finding);
}

/* ---- rename ------------------------------------------------------------- */

static void
test_rename (void)
{
  uint8_t area[4 * BLK] = { 0 };
  struct rec fixture = { 0 }, *t = &fixture;

  /* A filesystem: /cur holds record 5, or 6 (newer is fine). */
  crash_record_block (SEED, 5, area);
  g_assert_cmpint (step_check (t, "workload=rename fs=ext4", "safe", area, BLK, NULL), ==, 0);
  crash_record_block (SEED, 6, area);
  g_assert_cmpint (step_check (t, "workload=rename fs=ext4", "safe", area, BLK, NULL), ==, 0);
  /* Rolled back to 3. */
  crash_record_block (SEED, 3, area);
  g_assert_cmpint (step_check (t, "workload=rename fs=ext4", "safe", area, BLK, NULL), ==, 1);
  g_assert_cmpuint (t->v.lost, ==, 1);
  g_assert_cmpstr (t->v.lost_list->str, ==, "committed state 3 older than acknowledged record 4");
  /* Raw: the commit block counts only with its slot (5 % 2 → block 3). */
  crash_record_block (SEED, 5, area);
  g_assert_cmpint (step_check (t, "workload=rename", "safe", area, sizeof area, NULL), ==, 1);
  g_assert_cmpstr (t->v.lost_list->str, ==, "committed state none older than acknowledged record 4");
  g_assert_cmpuint (t->v.lost, ==, 4);
  crash_record_block (SEED, 5, area + 3 * BLK);
  g_assert_cmpint (step_check (t, "workload=rename", "safe", area, sizeof area, NULL), ==, 0);
  /* Another run's commit is no commit. */
  crash_record_block (SEED + 1, 5, area);
  g_assert_cmpint (step_check (t, "workload=rename", "safe", area, sizeof area, NULL), ==, 1);
  rec_teardown (t, NULL);
}

/* ---- Applications ------------------------------------------------------- */

static void
test_app_sqlite (void)
{
  struct rec fixture = { 0 }, *t = &fixture;

  g_assert_cmpint (step_check (t, "workload=sqlite fs=ext4", "safe", "1\n2\n3\n4", 0, NULL), ==, 0);
  g_assert_cmpint (step_check (t, "workload=sqlite fs=ext4", "safe", "1\n2\n", 0, ""), ==, 1);
  g_assert_cmpuint (t->v.lost, ==, 2);
  g_assert_false (t->v.app_rolled);
  /* "12" is not record 1 or 2 (whole lines). */
  g_assert_cmpint (step_check (t, "workload=sqlite fs=ext4", "safe", "12\n3\n4\n", 0, ""), ==, 1);
  g_assert_cmpuint (t->v.lost, ==, 2);
  /* Damaged data where SQLite promises it is not: never correct. */
  g_assert_cmpint (step_check (t, "workload=sqlite fs=ext4", "any", "1\n2\n3\n4", 0, "PRAGMA integrity_check: bad"), ==, 1);
  g_assert_cmpstr (t->r.outcome, ==, "CORRUPTION DETECTED");
  /* synchronous=off allows it. */
  g_assert_cmpint (step_check (t, "workload=sqlite fs=ext4 sqlite=wal:off", "loss", "1", 0, "PRAGMA integrity_check: bad"), ==, 0);
  rec_teardown (t, NULL);
}

/* git core.fsync=all: its newest commit rolling back alone is the
 * application's finding (exit 3); more is a wrong verdict. */
static void
test_app_git_rollback (void)
{
  struct rec fixture = { 0 }, *t = &fixture;

  g_assert_cmpint (step_check (t, "workload=git fs=ext4", "safe", "1\n2\n3", 0, NULL), ==, 3);
  g_assert_cmpuint (t->v.lost, ==, 0);
  g_assert_true (t->v.app_rolled);
  g_assert_true (t->r.correct);
  g_assert_nonnull (strstr (t->r.app_finding, "core.fsync=all"));
  /* An older commit lost is no rollback. */
  g_assert_cmpint (step_check (t, "workload=git fs=ext4", "safe", "1\n2\n4", 0, NULL), ==, 1);
  g_assert_false (t->v.app_rolled);
  g_assert_cmpint (step_check (t, "workload=git fs=ext4", "safe", "1\n2", 0, NULL), ==, 1);
  g_assert_cmpuint (t->v.lost, ==, 2);
  /* committed: losses allowed (any), still reported as its finding. */
  g_assert_cmpint (step_check (t, "workload=git fs=ext4 git-fsync=committed", "any", "1\n2", 0, NULL), ==, 3);
  g_assert_nonnull (strstr (t->r.app_finding, "core.fsync=committed"));
  rec_teardown (t, NULL);
}

/* check-state's verdict in one crash state. */
static void
test_app_state (void)
{
  struct gv_cell git = cell_of ("workload=git fs=ext4");
  struct gv_cell sq = cell_of ("workload=sqlite fs=ext4");
  struct gv_cell off = cell_of ("workload=sqlite fs=ext4 sqlite=delete:off");
  g_autofree char *d = NULL;

  g_assert_true (gv_app_state (&sq, "1\n2\n", "1\n2\n3\n", "", &d));
  g_assert_null (d);
  g_assert_false (gv_app_state (&sq, "1\n2\n3", "2\n", "", &d));
  g_assert_cmpstr (d, ==, "records lost: 1 3");
  g_clear_pointer (&d, g_free);
  g_assert_false (gv_app_state (&sq, "1", "1", "PRAGMA integrity_check: x", &d));
  g_assert_cmpstr (d, ==, "sqlite: PRAGMA integrity_check: x");
  g_clear_pointer (&d, g_free);
  g_assert_true (gv_app_state (&off, "1", "1", "PRAGMA integrity_check: x", &d));
  g_clear_pointer (&d, g_free);
  g_assert_true (gv_app_state (&git, "1\n2\n3", "1\n2", "", &d));
  g_assert_true (g_str_has_prefix (d, "finding: record 3 rolled back: git documents"));
  g_clear_pointer (&d, g_free);
  g_assert_false (gv_app_state (&git, "1\n2\n3", "1\n3", "", &d));
  g_assert_cmpstr (d, ==, "records lost: 2");
}

/* ---- The user's check script, explore ----------------------------------- */

static void
test_user_check (void)
{
  struct gv_cell c = cell_of ("workload=user fs=ext4");
  g_autofree char *console = console_of (1, 4);
  struct gv_announced a;
  struct gv_check v;
  struct gv_verdict r;

  gv_announced_parse (&a, console, strlen (console), -1);
  gv_check_init (&v, &c, &a, GV_EXPECT_SAFE, SEED, "unmountable");
  gv_check_user (&v, false, 0, NULL);
  g_assert_cmpuint (v.lost, ==, 4);
  g_assert_cmpstr (v.lost_list->str, ==, "the filesystem could not be mounted");
  g_assert_cmpint (gv_decide (&v, &r), ==, 1);
  gv_check_clear (&v);

  gv_check_init (&v, &c, &a, GV_EXPECT_SAFE, SEED, "clean");
  gv_check_user (&v, true, 0, "lost 3\n");      /* status 0 wins */
  g_assert_cmpuint (v.lost, ==, 0);
  gv_check_clear (&v);

  gv_check_init (&v, &c, &a, GV_EXPECT_LOSS, SEED, "clean");
  gv_check_user (&v, true, 1, "lost 1\nentry 7 missing\nlost 3\n");
  g_assert_cmpuint (v.lost, ==, 3);
  g_assert_cmpstr (v.lost_list->str, ==, "check script: entry 7 missing");
  g_assert_cmpint (gv_decide (&v, &r), ==, 0);
  gv_check_clear (&v);

  gv_check_init (&v, &c, &a, GV_EXPECT_LOSS, SEED, "clean");
  gv_check_user (&v, true, 1, "bad\n");         /* no count: at least one */
  g_assert_cmpuint (v.lost, ==, 1);
  gv_check_clear (&v);
  gv_announced_clear (&a);
}

static void
test_explore (void)
{
  g_assert_true (gv_explore_correct (GV_EXPECT_SAFE, 40, 0));
  g_assert_false (gv_explore_correct (GV_EXPECT_SAFE, 40, 1));
  g_assert_false (gv_explore_correct (GV_EXPECT_SAFE, 0, 0));   /* vacuous */
  g_assert_true (gv_explore_correct (GV_EXPECT_LOSS, 40, 1));
  g_assert_false (gv_explore_correct (GV_EXPECT_LOSS, 40, 0));
  g_assert_true (gv_explore_correct (GV_EXPECT_ANY, 0, 0));
}

static const struct {
  const char *path;
  GTestFunc fn;
} tests[] = {
  { "rename", test_rename },
  { "app/sqlite", test_app_sqlite },
  { "app/git-rollback", test_app_git_rollback },
  { "cell/bad-values", test_cell_bad_values },
  { "expect/fsync-is-safe", test_expect_fsync_is_safe },
  { "expect/raw-sync-by-policy", test_expect_raw_sync_by_policy },
  { "expect/write-through-device", test_expect_write_through_device },
  { "expect/wcache-modes", test_expect_wcache_modes },
  { "expect/qemu-unsafe", test_expect_qemu_unsafe },
  { "expect/applications", test_expect_applications },
  { "app/rules", test_app_rules },
  { "announced/cutoff", test_announced_cutoff },
  { "app/state", test_app_state },
  { "user-check", test_user_check },
  { "explore", test_explore },
};

static const struct {
  const char *path;
  struct rec_data data;
  void (*fn) (struct rec *, gconstpointer);
} rec_tests[] = {
  { "records/all-survived", { "", 20, 20 }, test_records_all_survived },
  { "records/acked-lost", { "", 6, 3 }, test_records_acked_lost },
  { "records/torn", { "policy=torn", 3, 3 }, test_records_torn },
  { "records/S10-stale-is-corruption", { "workload=sync policy=random", 3, 3 }, test_records_stale_is_corruption },
  { "records/corrupt", { "", 3, 3 }, test_records_corrupt },
  { "records/S10-foreign-lines", { "", 3, 5 }, test_records_foreign_lines },
  { "records/no-area", { "fs=ext4", 2, 0 }, test_records_no_area },
  { "records/fsck-errors", { "fs=ext4", 2, 2 }, test_records_fsck_errors },
  { "records/late-lost-is-finding", { "workload=sync fs=ext4", 5, 3 }, test_records_late_lost_is_finding },
};

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  for (size_t i = 0; i < G_N_ELEMENTS (tests); i++) {
    g_autofree char *path = g_strconcat ("/guest-verdict/", tests[i].path, NULL);

    g_test_add_func (path, tests[i].fn);
  }
  for (size_t i = 0; i < G_N_ELEMENTS (rec_tests); i++) {
    g_autofree char *path = g_strconcat ("/guest-verdict/", rec_tests[i].path, NULL);

    g_test_add (path, struct rec, &rec_tests[i].data, rec_setup,
                rec_tests[i].fn, rec_teardown);
  }
  return g_test_run ();
}

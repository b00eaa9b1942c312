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

static const char *
expected (const char *spec)
{
  struct gv_cell c = cell_of (spec);

  return gv_expect_name (gv_expected (&c));
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

/* The check of a records workload: cell, console, area; the exit status
 * gv_decide gives, its verdict in *r, the check in *v (gv_check_clear it),
 * the announcements in *a (gv_announced_clear them). */
static int
check_records (const struct gv_cell *c, struct gv_announced *a,
               struct gv_check *v, struct gv_verdict *r, const char *console,
               int64_t cutoff, const char *expect, const uint8_t *area,
               size_t len)
{
  enum gv_expect e;

  g_assert_true (gv_expect_parse (expect, &e));
  gv_announced_parse (a, console, strlen (console), cutoff);
  gv_check_init (v, c, a, e, SEED, "n/a");
  gv_check_records (v, area, len);
  return gv_decide (v, r);
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
  g_assert_cmpstr (expected (""), ==, "safe");
  g_assert_cmpstr (expected ("fs=ext4 policy=torn"), ==, "safe");
  g_assert_cmpstr (expected ("workload=direct fs=btrfs policy=random"), ==, "safe");
  g_assert_cmpstr (expected ("qemu-cache=none"), ==, "safe");
}

/* sync(2) on a raw disk sends no flush: the cut policy decides. */
static void
test_expect_raw_sync_by_policy (void)
{
  g_assert_cmpstr (expected ("workload=sync policy=lose"), ==, "loss");
  g_assert_cmpstr (expected ("workload=sync policy=keep"), ==, "safe");
  g_assert_cmpstr (expected ("workload=sync policy=random"), ==, "any");
  g_assert_cmpstr (expected ("workload=sync policy=ordered"), ==, "any");
  g_assert_cmpstr (expected ("workload=sync policy=torn"), ==, "any");
  /* On a filesystem, sync(2) flushes. */
  g_assert_cmpstr (expected ("workload=sync fs=ext4"), ==, "safe");
}

/* A device the guest believes write-through needs no flush. */
static void
test_expect_write_through_device (void)
{
  g_assert_cmpstr (expected ("workload=sync qemu-cache=writethrough"), ==, "safe");
  g_assert_cmpstr (expected ("workload=sync qemu-cache=directsync"), ==, "safe");
  g_assert_cmpstr (expected ("workload=sync guest-switch=cache_type_wt"), ==, "safe");
  /* write_cache_wt: the guest stops flushing a write-back device. */
  g_assert_cmpstr (expected ("guest-switch=write_cache_wt"), ==, "loss");
  g_assert_cmpstr (expected ("guest-switch=write_cache_wt policy=keep"), ==, "safe");
}

/* wcache's own mode: writethrough and directsync are always safe; unsafe
 * drops flushes. */
static void
test_expect_wcache_modes (void)
{
  g_assert_cmpstr (expected ("workload=sync wcache-mode=writethrough"), ==, "safe");
  g_assert_cmpstr (expected ("workload=sync wcache-mode=directsync"), ==, "safe");
  g_assert_cmpstr (expected ("wcache-mode=none"), ==, "safe");
  g_assert_cmpstr (expected ("workload=sync wcache-mode=none"), ==, "loss");
  g_assert_cmpstr (expected ("wcache-mode=unsafe"), ==, "loss");
  g_assert_cmpstr (expected ("wcache-mode=unsafe policy=keep"), ==, "safe");
  g_assert_cmpstr (expected ("wcache-mode=unsafe policy=random"), ==, "any");
}

/* QEMU cache=unsafe: flushes are forwarded, but nothing promises it. */
static void
test_expect_qemu_unsafe (void)
{
  g_assert_cmpstr (expected ("qemu-cache=unsafe"), ==, "any");
  g_assert_cmpstr (expected ("qemu-cache=unsafe policy=keep"), ==, "safe");
}

/* An application's promise comes first. */
static void
test_expect_applications (void)
{
  g_assert_cmpstr (expected ("workload=sqlite fs=ext4"), ==, "safe");
  g_assert_cmpstr (expected ("workload=sqlite fs=ext4 sqlite=delete:extra"), ==, "safe");
  g_assert_cmpstr (expected ("workload=sqlite fs=ext4 sqlite=wal:off"), ==, "loss");
  g_assert_cmpstr (expected ("workload=sqlite fs=ext4 sqlite=wal:off policy=keep"), ==, "any");
  g_assert_cmpstr (expected ("workload=sqlite fs=ext4 sqlite=wal:normal"), ==, "any");
  g_assert_cmpstr (expected ("workload=sqlite fs=ext4 sqlite=delete:full"), ==, "any");
  /* The safest setting on a disk that drops flushes. */
  g_assert_cmpstr (expected ("workload=sqlite fs=xfs sqlite=wal:extra wcache-mode=unsafe"), ==, "loss");
  g_assert_cmpstr (expected ("workload=git fs=ext4"), ==, "safe");
  g_assert_cmpstr (expected ("workload=git fs=ext4 git-fsync=committed"), ==, "any");
  g_assert_cmpstr (expected ("workload=git fs=ext4 git-fsync=default"), ==, "any");
  g_assert_cmpstr (expected ("workload=git fs=ext4 git-fsync=none"), ==, "loss");
}

static void
test_app_rules (void)
{
  struct gv_cell c;

  c = cell_of ("workload=sqlite sqlite=delete:off");
  g_assert_true (gv_app_may_corrupt (&c));
  g_assert_null (gv_app_finding (&c));
  c = cell_of ("workload=sqlite sqlite=wal:full");
  g_assert_false (gv_app_may_corrupt (&c));
  g_assert_false (gv_app_known_rollback (&c));
  c = cell_of ("workload=git git-fsync=all");
  g_assert_false (gv_app_may_corrupt (&c));
  g_assert_nonnull (strstr (gv_app_finding (&c), "core.fsync=all"));
  g_assert_true (gv_app_known_rollback (&c));
  c = cell_of ("workload=git git-fsync=committed");
  g_assert_true (gv_app_may_corrupt (&c));
  g_assert_nonnull (strstr (gv_app_finding (&c), "core.fsync=committed"));
  g_assert_false (gv_app_known_rollback (&c));   /* it promises no more */
  c = cell_of ("workload=git git-fsync=none");
  g_assert_true (gv_app_may_corrupt (&c));
  g_assert_null (gv_app_finding (&c));
  c = cell_of ("workload=fsync");
  g_assert_false (gv_app_may_corrupt (&c));
  g_assert_null (gv_app_finding (&c));
}

/* ---- What the guest announced -------------------------------------------- */

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
  struct gv_announced a;
  const char *third = strstr (console, "WG record 3");

  gv_announced_parse (&a, console, strlen (console), -1);
  g_assert_cmpuint (a.rec->len, ==, 3);
  g_assert_cmpuint (a.nacked, ==, 3);
  g_assert_cmpuint (a.last, ==, 3);
  gv_announced_clear (&a);
  /* A line starting at the cutoff is late. */
  gv_announced_parse (&a, console, strlen (console), third - console);
  g_assert_cmpuint (a.nacked, ==, 2);
  g_assert_cmpuint (a.nlate, ==, 1);
  g_assert_cmpuint (a.last, ==, 2);
  g_assert_cmpuint (a.last_all, ==, 3);
  gv_announced_clear (&a);
}

/* ---- Records ------------------------------------------------------------- */

static void
test_records_all_survived (void)
{
  struct gv_cell c = cell_of ("");
  g_autofree char *console = console_of (1, 20);
  g_autofree uint8_t *area = area_of (20, 200);
  struct gv_announced a;
  struct gv_check v;
  struct gv_verdict r;

  g_assert_cmpint (check_records (&c, &a, &v, &r, console, -1, "safe", area,
                                  200 * BLK), ==, 0);
  g_assert_cmpuint (v.lost, ==, 0);
  g_assert_cmpint (v.foreign, ==, 0);
  g_assert_cmpstr (r.outcome, ==, "no loss");
  g_assert_true (r.correct);
  g_assert_false (r.finding);
  gv_check_clear (&v);
  gv_announced_clear (&a);
}

/* An acknowledged record lost under writeback + lose: incorrect where the
 * cell must be safe, the finding of a cell that must lose. */
static void
test_records_acked_lost (void)
{
  struct gv_cell c = cell_of ("");
  g_autofree char *console = console_of (1, 6);
  g_autofree uint8_t *area = area_of (3, 200);  /* 4..6 never written */
  struct gv_announced a;
  struct gv_check v;
  struct gv_verdict r;

  g_assert_cmpint (check_records (&c, &a, &v, &r, console, -1, "safe", area,
                                  200 * BLK), ==, 1);
  g_assert_cmpuint (v.lost, ==, 3);
  g_assert_cmpstr (v.lost_list->str, ==,
                   " record 4 missing; record 5 missing; record 6 missing;");
  g_assert_cmpint (v.foreign, ==, 0);
  g_assert_cmpstr (r.outcome, ==, "LOSS DETECTED");
  g_assert_false (r.correct);
  gv_check_clear (&v);
  gv_announced_clear (&a);

  g_assert_cmpint (check_records (&c, &a, &v, &r, console, -1, "loss", area,
                                  200 * BLK), ==, 0);
  g_assert_true (r.correct);
  gv_check_clear (&v);
  gv_announced_clear (&a);

  /* Every announced record gone: the raw sync-only control. */
  memset (area, 0, 200 * BLK);
  g_assert_cmpint (check_records (&c, &a, &v, &r, console, -1, "loss", area,
                                  200 * BLK), ==, 0);
  g_assert_cmpuint (v.lost, ==, 6);
  /* The list names the first five. */
  g_assert_null (strstr (v.lost_list->str, "record 6"));
  gv_check_clear (&v);
  gv_announced_clear (&a);
}

/* A record written in part (sectors of it, zeros elsewhere) is torn, and
 * its own lines are not foreign. */
static void
test_records_torn (void)
{
  struct gv_cell c = cell_of ("policy=torn");
  g_autofree char *console = console_of (1, 3);
  g_autofree uint8_t *area = area_of (3, 200);
  struct gv_announced a;
  struct gv_check v;
  struct gv_verdict r;

  memset (area + 2 * BLK + 512, 0, BLK - 512);
  g_assert_cmpint (check_records (&c, &a, &v, &r, console, -1, "safe", area,
                                  200 * BLK), ==, 1);
  g_assert_cmpstr (v.lost_list->str, ==, " record 2 torn;");
  g_assert_cmpint (v.foreign, ==, 0);
  g_assert_cmpstr (r.outcome, ==, "LOSS DETECTED");
  gv_check_clear (&v);
  gv_announced_clear (&a);
}

/* Another record's or run's data in a record's place is stale, and its
 * lines are foreign (S10): corruption, never correct, whatever the cell
 * expects. */
static void
test_records_stale_is_corruption (void)
{
  struct gv_cell c = cell_of ("workload=sync policy=random");
  g_autofree char *console = console_of (1, 3);
  g_autofree uint8_t *area = area_of (3, 200);
  struct gv_announced a;
  struct gv_check v;
  struct gv_verdict r;

  crash_record_block (SEED + 1, 2, area + 2 * BLK);     /* another run's */
  g_assert_cmpint (check_records (&c, &a, &v, &r, console, -1, "any", area,
                                  200 * BLK), ==, 1);
  g_assert_cmpstr (v.lost_list->str, ==, " record 2 stale;");
  g_assert_cmpint (v.foreign, ==, 64);
  g_assert_cmpstr (v.foreign_at, ==, "record 2 byte 0");
  g_assert_cmpstr (r.outcome, ==, "CORRUPTION DETECTED");
  g_assert_false (r.correct);
  gv_check_clear (&v);
  gv_announced_clear (&a);
}

static void
test_records_corrupt (void)
{
  struct gv_cell c = cell_of ("");
  g_autofree char *console = console_of (1, 3);
  g_autofree uint8_t *area = area_of (3, 200);
  struct gv_announced a;
  struct gv_check v;
  struct gv_verdict r;

  memset (area + 3 * BLK + 100, 0xff, 10);
  g_assert_cmpint (check_records (&c, &a, &v, &r, console, -1, "loss", area,
                                  200 * BLK), ==, 1);
  g_assert_cmpstr (v.lost_list->str, ==, " record 3 stale;");
  memset (area + 3 * BLK, 0xee, BLK);
  gv_check_clear (&v);
  gv_announced_clear (&a);
  check_records (&c, &a, &v, &r, console, -1, "loss", area, 200 * BLK);
  g_assert_cmpstr (v.lost_list->str, ==, " record 3 corrupt;");
  g_assert_cmpstr (r.outcome, ==, "CORRUPTION DETECTED");
  gv_check_clear (&v);
  gv_announced_clear (&a);
}

/* Lines no record wrote, past the records announced: foreign, up to 128
 * blocks past the last announced; records written but not yet announced
 * are not foreign. */
static void
test_records_foreign_lines (void)
{
  struct gv_cell c = cell_of ("");
  g_autofree char *console = console_of (1, 3);
  g_autofree uint8_t *area = area_of (5, 200);  /* 4, 5 unannounced */
  struct gv_announced a;
  struct gv_check v;
  struct gv_verdict r;

  memcpy (area + 7 * BLK + 128, "garbage", 7);
  memcpy (area + 132 * BLK, "far away", 8);     /* past the scan */
  g_assert_cmpint (check_records (&c, &a, &v, &r, console, -1, "any", area,
                                  200 * BLK), ==, 1);
  g_assert_cmpuint (v.lost, ==, 0);
  g_assert_cmpint (v.foreign, ==, 1);
  g_assert_cmpstr (v.foreign_at, ==, "record 7 byte 128");
  g_assert_cmpstr (r.outcome, ==, "CORRUPTION DETECTED");
  g_assert_false (r.correct);
  gv_check_clear (&v);
  gv_announced_clear (&a);
}

/* No record area at all (a filesystem's /records not there): every record
 * missing, and nothing to scan. */
static void
test_records_no_area (void)
{
  struct gv_cell c = cell_of ("fs=ext4");
  g_autofree char *console = console_of (1, 2);
  struct gv_announced a;
  struct gv_check v;
  struct gv_verdict r;

  g_assert_cmpint (check_records (&c, &a, &v, &r, console, -1, "loss", NULL,
                                  0), ==, 0);
  g_assert_cmpuint (v.lost, ==, 2);
  g_assert_cmpint (v.foreign, ==, -1);
  gv_check_clear (&v);
  gv_announced_clear (&a);
}

/* A clean record area is not enough where the cell must be safe: the
 * filesystem checker must pass too. */
static void
test_records_fsck_errors (void)
{
  struct gv_cell c = cell_of ("fs=ext4");
  g_autofree char *console = console_of (1, 2);
  g_autofree uint8_t *area = area_of (2, 200);
  struct gv_announced a;
  struct gv_check v;
  struct gv_verdict r;

  gv_announced_parse (&a, console, strlen (console), -1);
  gv_check_init (&v, &c, &a, GV_EXPECT_SAFE, SEED, "errors");
  gv_check_records (&v, area, 200 * BLK);
  g_assert_cmpint (gv_decide (&v, &r), ==, 1);
  g_assert_cmpstr (r.outcome, ==, "no loss");
  gv_check_clear (&v);
  gv_check_init (&v, &c, &a, GV_EXPECT_SAFE, SEED, "unmountable");
  gv_check_records (&v, area, 200 * BLK);
  g_assert_cmpint (gv_decide (&v, &r), ==, 1);
  gv_check_clear (&v);
  gv_announced_clear (&a);
}

/* The EIO window: records announced after the disk failed and lost are an
 * error-handling finding (exit 3), apart from the power-loss verdict. */
static void
test_records_late_lost_is_finding (void)
{
  struct gv_cell c = cell_of ("workload=sync fs=ext4");
  g_autofree char *console = console_of (1, 5);
  g_autofree uint8_t *area = area_of (3, 200);
  int64_t cutoff = strstr (console, "WG record 4") - console;
  struct gv_announced a;
  struct gv_check v;
  struct gv_verdict r;

  g_assert_cmpint (check_records (&c, &a, &v, &r, console, cutoff, "safe",
                                  area, 200 * BLK), ==, 3);
  g_assert_cmpuint (v.lost, ==, 0);
  g_assert_cmpuint (v.lost_late, ==, 2);
  g_assert_cmpstr (v.late_list->str, ==, " record 4 missing; record 5 missing;");
  g_assert_true (r.correct);
  g_assert_true (r.finding);
  gv_check_clear (&v);
  gv_announced_clear (&a);
}

/* ---- rename ------------------------------------------------------------- */

static int
check_rename (const char *spec, const uint8_t *area, size_t len,
              uint64_t *lost, char **list)
{
  struct gv_cell c = cell_of (spec);
  g_autofree char *console = console_of (1, 5);
  struct gv_announced a;
  struct gv_check v;
  struct gv_verdict r;
  int rc;

  gv_announced_parse (&a, console, strlen (console), -1);
  gv_check_init (&v, &c, &a, GV_EXPECT_SAFE, SEED, "clean");
  gv_check_rename (&v, area, len);
  rc = gv_decide (&v, &r);
  *lost = v.lost;
  *list = g_strdup (v.lost_list->str);
  gv_check_clear (&v);
  gv_announced_clear (&a);
  return rc;
}

static void
test_rename (void)
{
  uint8_t area[4 * BLK] = { 0 };
  g_autofree char *list = NULL;
  uint64_t lost;

  /* A filesystem: /cur holds record 5, or 6 (newer is fine). */
  crash_record_block (SEED, 5, area);
  g_assert_cmpint (check_rename ("workload=rename fs=ext4", area, BLK, &lost, &list), ==, 0);
  g_clear_pointer (&list, g_free);
  crash_record_block (SEED, 6, area);
  g_assert_cmpint (check_rename ("workload=rename fs=ext4", area, BLK, &lost, &list), ==, 0);
  g_clear_pointer (&list, g_free);
  /* Rolled back to 3. */
  crash_record_block (SEED, 3, area);
  g_assert_cmpint (check_rename ("workload=rename fs=ext4", area, BLK, &lost, &list), ==, 1);
  g_assert_cmpuint (lost, ==, 2);
  g_assert_cmpstr (list, ==, "committed state 3 older than acknowledged record 5");
  g_clear_pointer (&list, g_free);
  /* Raw: the commit block counts only with its slot (5 % 2 → block 3). */
  crash_record_block (SEED, 5, area);
  g_assert_cmpint (check_rename ("workload=rename", area, sizeof area, &lost, &list), ==, 1);
  g_assert_cmpstr (list, ==, "committed state none older than acknowledged record 5");
  g_assert_cmpuint (lost, ==, 5);
  g_clear_pointer (&list, g_free);
  crash_record_block (SEED, 5, area + 3 * BLK);
  g_assert_cmpint (check_rename ("workload=rename", area, sizeof area, &lost, &list), ==, 0);
  g_clear_pointer (&list, g_free);
  /* Another run's commit is no commit. */
  crash_record_block (SEED + 1, 5, area);
  g_assert_cmpint (check_rename ("workload=rename", area, sizeof area, &lost, &list), ==, 1);
}

/* ---- Applications ------------------------------------------------------- */

static int
check_app (const char *spec, enum gv_expect e, const char *present,
           const char *corrupt, struct gv_verdict *r, uint64_t *lost,
           bool *rolled)
{
  struct gv_cell c = cell_of (spec);
  g_autofree char *console = console_of (1, 4);
  struct gv_announced a;
  struct gv_check v;
  int rc;

  gv_announced_parse (&a, console, strlen (console), -1);
  gv_check_init (&v, &c, &a, e, SEED, "clean");
  gv_check_app (&v, present, corrupt);
  rc = gv_decide (&v, r);
  *lost = v.lost;
  *rolled = v.app_rolled;
  gv_check_clear (&v);
  gv_announced_clear (&a);
  return rc;
}

static void
test_app_sqlite (void)
{
  struct gv_verdict r;
  uint64_t lost;
  bool rolled;

  g_assert_cmpint (check_app ("workload=sqlite fs=ext4", GV_EXPECT_SAFE,
                              "1\n2\n3\n4", NULL, &r, &lost, &rolled), ==, 0);
  g_assert_cmpint (check_app ("workload=sqlite fs=ext4", GV_EXPECT_SAFE,
                              "1\n2\n", "", &r, &lost, &rolled), ==, 1);
  g_assert_cmpuint (lost, ==, 2);
  g_assert_false (rolled);
  /* "12" is not record 1 or 2 (whole lines). */
  g_assert_cmpint (check_app ("workload=sqlite fs=ext4", GV_EXPECT_SAFE,
                              "12\n3\n4\n", "", &r, &lost, &rolled), ==, 1);
  g_assert_cmpuint (lost, ==, 2);
  /* Damaged data where SQLite promises it is not: never correct. */
  g_assert_cmpint (check_app ("workload=sqlite fs=ext4", GV_EXPECT_ANY,
                              "1\n2\n3\n4", "PRAGMA integrity_check: bad",
                              &r, &lost, &rolled), ==, 1);
  g_assert_cmpstr (r.outcome, ==, "CORRUPTION DETECTED");
  /* synchronous=off allows it. */
  g_assert_cmpint (check_app ("workload=sqlite fs=ext4 sqlite=wal:off", GV_EXPECT_LOSS,
                              "1", "PRAGMA integrity_check: bad", &r, &lost,
                              &rolled), ==, 0);
}

/* git core.fsync=all: its newest commit rolling back alone is the
 * application's finding (exit 3); more is a wrong verdict. */
static void
test_app_git_rollback (void)
{
  struct gv_verdict r;
  uint64_t lost;
  bool rolled;

  g_assert_cmpint (check_app ("workload=git fs=ext4", GV_EXPECT_SAFE,
                              "1\n2\n3", NULL, &r, &lost, &rolled), ==, 3);
  g_assert_cmpuint (lost, ==, 0);
  g_assert_true (rolled);
  g_assert_true (r.correct);
  g_assert_nonnull (strstr (r.app_finding, "core.fsync=all"));
  /* An older commit lost is no rollback. */
  g_assert_cmpint (check_app ("workload=git fs=ext4", GV_EXPECT_SAFE,
                              "1\n2\n4", NULL, &r, &lost, &rolled), ==, 1);
  g_assert_false (rolled);
  g_assert_cmpint (check_app ("workload=git fs=ext4", GV_EXPECT_SAFE,
                              "1\n2", NULL, &r, &lost, &rolled), ==, 1);
  g_assert_cmpuint (lost, ==, 2);
  /* committed: losses allowed (any), still reported as its finding. */
  g_assert_cmpint (check_app ("workload=git fs=ext4 git-fsync=committed",
                              GV_EXPECT_ANY, "1\n2", NULL, &r, &lost, &rolled), ==, 3);
  g_assert_nonnull (strstr (r.app_finding, "core.fsync=committed"));
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

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/guest-verdict/cell/bad-values", test_cell_bad_values);
  g_test_add_func ("/guest-verdict/expect/fsync-is-safe", test_expect_fsync_is_safe);
  g_test_add_func ("/guest-verdict/expect/raw-sync-by-policy", test_expect_raw_sync_by_policy);
  g_test_add_func ("/guest-verdict/expect/write-through-device", test_expect_write_through_device);
  g_test_add_func ("/guest-verdict/expect/wcache-modes", test_expect_wcache_modes);
  g_test_add_func ("/guest-verdict/expect/qemu-unsafe", test_expect_qemu_unsafe);
  g_test_add_func ("/guest-verdict/expect/applications", test_expect_applications);
  g_test_add_func ("/guest-verdict/app/rules", test_app_rules);
  g_test_add_func ("/guest-verdict/announced/cutoff", test_announced_cutoff);
  g_test_add_func ("/guest-verdict/records/all-survived", test_records_all_survived);
  g_test_add_func ("/guest-verdict/records/acked-lost", test_records_acked_lost);
  g_test_add_func ("/guest-verdict/records/torn", test_records_torn);
  g_test_add_func ("/guest-verdict/records/S10-stale-is-corruption", test_records_stale_is_corruption);
  g_test_add_func ("/guest-verdict/records/corrupt", test_records_corrupt);
  g_test_add_func ("/guest-verdict/records/S10-foreign-lines", test_records_foreign_lines);
  g_test_add_func ("/guest-verdict/records/no-area", test_records_no_area);
  g_test_add_func ("/guest-verdict/records/fsck-errors", test_records_fsck_errors);
  g_test_add_func ("/guest-verdict/records/late-lost-is-finding", test_records_late_lost_is_finding);
  g_test_add_func ("/guest-verdict/rename", test_rename);
  g_test_add_func ("/guest-verdict/app/sqlite", test_app_sqlite);
  g_test_add_func ("/guest-verdict/app/git-rollback", test_app_git_rollback);
  g_test_add_func ("/guest-verdict/app/state", test_app_state);
  g_test_add_func ("/guest-verdict/user-check", test_user_check);
  g_test_add_func ("/guest-verdict/explore", test_explore);
  return g_test_run ();
}

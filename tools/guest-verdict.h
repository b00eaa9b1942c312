/* The guest harness's verdict (tools/wcache-guest, wcache-guest(1)): what
 * a cell must show, what survived a power cut, and whether that is the
 * right outcome.  The harness starts and stops QEMU and nbdkit and copies
 * files out of the recovered disk; these functions decide, and the
 * command wcache-guest-verdict (tools/wcache-guest-verdict.c) is their
 * interface to the shell.
 *
 * Calling sequence for one run's check:
 *   gv_cell_set ()  for each option of the cell (defaults: gv_cell_init);
 *   gv_announced_parse () on the guest's console log;
 *   gv_check_init (), then one of gv_check_records, gv_check_rename,
 *   gv_check_app, gv_check_user (by the workload: see gv_check_user);
 *   gv_decide (), whose result is the run's exit status;
 *   gv_check_clear (), gv_announced_clear ().
 * The caller owns every buffer it passes; the check owns its strings.
 */
#ifndef WCACHE_GUEST_VERDICT_H
#define WCACHE_GUEST_VERDICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <glib.h>

/* The cell's axes, each with the names of its option values
 * (gv_cell_set); the first value is the default. */
enum gv_workload {
  GV_WL_FSYNC, GV_WL_DIRECT, GV_WL_RENAME, GV_WL_SYNC, GV_WL_SQLITE,
  GV_WL_GIT, GV_WL_USER,
};
enum gv_fs { GV_FS_RAW, GV_FS_EXT4, GV_FS_XFS, GV_FS_BTRFS };
/* QEMU's cache= and wcache's wcache-mode= share their names. */
enum gv_cache {
  GV_CACHE_WRITEBACK, GV_CACHE_WRITETHROUGH, GV_CACHE_NONE,
  GV_CACHE_DIRECTSYNC, GV_CACHE_UNSAFE,
};
enum gv_switch { GV_SWITCH_NONE, GV_SWITCH_CACHE_TYPE_WT, GV_SWITCH_WRITE_CACHE_WT };
enum gv_policy {
  GV_POLICY_LOSE, GV_POLICY_KEEP, GV_POLICY_RANDOM, GV_POLICY_ORDERED,
  GV_POLICY_TORN,
};
/* --sqlite=JOURNAL:SYNC; the default is wal:full. */
enum gv_journal { GV_JOURNAL_WAL, GV_JOURNAL_DELETE };
enum gv_sync { GV_SYNC_FULL, GV_SYNC_OFF, GV_SYNC_NORMAL, GV_SYNC_EXTRA };
enum gv_git { GV_GIT_ALL, GV_GIT_COMMITTED, GV_GIT_DEFAULT, GV_GIT_NONE };

/* What a cell must show: no acknowledged record lost and a clean fsck
 * (safe), a loss detected (loss), or either (any). */
enum gv_expect { GV_EXPECT_SAFE, GV_EXPECT_LOSS, GV_EXPECT_ANY };

struct gv_cell {
  enum gv_workload workload;
  enum gv_fs fs;
  enum gv_cache qcache;
  enum gv_switch gswitch;
  enum gv_cache wmode;
  enum gv_policy policy;
  enum gv_journal journal;
  enum gv_sync sync;
  enum gv_git git;
};

void gv_cell_init (struct gv_cell *c);
/* Sets the axis named by key (workload fs qemu-cache guest-switch
 * wcache-mode policy sqlite git-fsync, the harness's option names) from
 * its value; false with *error naming the legal values otherwise. */
bool gv_cell_set (struct gv_cell *c, const char *key, const char *value,
                  GError **error);
bool gv_expect_parse (const char *s, enum gv_expect *e);
const char *gv_expect_name (enum gv_expect e);

/* The expected outcome of a cell (wcache(7)'s loss model, and the
 * application's own promise first). */
enum gv_expect gv_expected (const struct gv_cell *c);
/* What the application documents for its setting: safe, any (its newest
 * records may roll back) or loss (it makes nothing durable); safe for
 * the harness's own workloads. */
enum gv_expect gv_app_promise (const struct gv_cell *c);
/* Whether the application's documentation allows its data to be damaged,
 * not only rolled back, by a power loss. */
bool gv_app_may_corrupt (const struct gv_cell *c);
/* Where the application does less than its documentation promises, what
 * it does (a static string), else NULL. */
const char *gv_app_finding (const struct gv_cell *c);
/* Whether gv_app_finding applies to a setting documented as safe: its
 * newest record rolling back is then the finding, not a wrong verdict. */
bool gv_app_known_rollback (const struct gv_cell *c);

/* The records the guest announced durable ("WG record N durable" at the
 * start of a console line), in console order.  With a cutoff (a byte
 * offset of the console, the moment the disk failed in an EIO window;
 * -1 for none) a line starting at or past it is late: judged apart. */
struct gv_announced {
  GArray *rec;                  /* uint32_t, console order */
  GArray *late;                 /* gboolean, per rec */
  guint nacked, nlate;
  uint32_t last;                /* the last acknowledged (not late); 0: none */
  uint32_t last_all;            /* the last announced; 0: none */
};
void gv_announced_parse (struct gv_announced *a, const char *console,
                         size_t len, int64_t cutoff);
void gv_announced_clear (struct gv_announced *a);

/* One run's check: inputs, then what the gv_check_* step found. */
struct gv_check {
  const struct gv_cell *cell;
  const struct gv_announced *ann;
  enum gv_expect expect;
  uint32_t seed;
  const char *fsck;             /* clean, errors, unmountable or n/a */

  uint64_t lost;                /* acknowledged records lost */
  GString *lost_list;           /* the first five, " record N how;" each */
  uint64_t lost_late;           /* late records lost */
  GString *late_list;
  int64_t foreign;              /* foreign lines in the record area; -1: n/a */
  char *foreign_at;             /* the first: "record R byte B" */
  bool app_rolled;              /* the known rollback, not counted lost */
  char *app_corrupt;            /* what makes the application's data corrupt */
};
void gv_check_init (struct gv_check *v, const struct gv_cell *c,
                    const struct gv_announced *a, enum gv_expect expect,
                    uint32_t seed, const char *fsck);
void gv_check_clear (struct gv_check *v);

/* The records workloads (fsync, direct, sync): area holds len bytes of
 * the record file (a filesystem's /records) or of the raw disk from
 * 1 MiB, record N at N * 4096; bytes past len read as zeros.  Every
 * announced record must read back exactly (else missing, torn, stale or
 * corrupt: crash_record_classify), and every 64-byte line of the area
 * after block 0, up to 128 blocks past the last record announced, must
 * be zeros or its own record's line (S10). */
void gv_check_records (struct gv_check *v, const uint8_t *area, size_t len);
/* rename: area holds the committed block (a filesystem's /cur) or, on a
 * raw disk, the 4 blocks from 1 MiB (the commit block, then the two
 * slots from block 2).  The committed record must be the last
 * acknowledged one or newer. */
void gv_check_rename (struct gv_check *v, const uint8_t *area, size_t len);
/* sqlite, git: present lists the records the application's own check
 * found (one a line), corrupt what makes its data corrupt (NULL or ""
 * for nothing).  Every announced record must be present, but for the
 * known rollback (gv_app_known_rollback). */
void gv_check_app (struct gv_check *v, const char *present,
                   const char *corrupt);
/* --check-script (any workload): mounted false when the filesystem could
 * not be mounted (every acknowledged record counts lost); else the
 * script's status (0 or 1) and output ("lost N" lines count). */
void gv_check_user (struct gv_check *v, bool mounted, int status,
                    const char *out);

/* The verdict, from what the check found. */
struct gv_verdict {
  const char *outcome;          /* no loss, LOSS DETECTED, CORRUPTION DETECTED */
  bool correct;
  bool finding;                 /* an application or error-handling finding */
  const char *app_finding;      /* the application's, where it applies */
};
/* Returns the run's exit status: 0 correct, 1 incorrect, 3 correct with
 * a finding. */
int gv_decide (const struct gv_check *v, struct gv_verdict *out);

/* explore's verdict: states explored, of them inconsistent. */
bool gv_explore_correct (enum gv_expect expect, uint64_t states,
                         uint64_t inconsistent);

/* check-state's verdict for an application in one crash state: acked the
 * records marked before it (one a line), present and corrupt as for
 * gv_check_app.  True if consistent; *detail says why not, or names the
 * known rollback (g_free it). */
bool gv_app_state (const struct gv_cell *c, const char *acked,
                   const char *present, const char *corrupt, char **detail);

#endif

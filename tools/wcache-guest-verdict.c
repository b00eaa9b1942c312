/* wcache-guest-verdict: the guest harness's decisions, for its shell.
 *
 * tools/wcache-guest starts and stops QEMU and nbdkit and copies what
 * survived out of the recovered disk; this command decides (the rules
 * are guest-verdict.c's).  It is internal to wcache-guest, installed in
 * $(pkglibexecdir).  The interface:
 *
 *   expect CELL
 *       prints the cell's expected outcome: safe, loss or any.
 *   acked --console=FILE [--cutoff=BYTES]
 *       prints the records acknowledged (announced before the cutoff),
 *       one a line.
 *   block --seed=N --record=N
 *       writes record N's 4096 bytes, as the guest writes them.
 *   check CELL --seed=N --expect=E --console=FILE [--cutoff=BYTES]
 *         [--fsck=clean|errors|unmountable|n/a] WHAT
 *       run's check and verdict.  WHAT is, by the workload:
 *         --check-status=0|1|unmounted [--check-out=FILE]
 *                                           a --check-script (any workload);
 *         --present=FILE [--corrupt=FILE]   sqlite, git: the records the
 *                                           application's check found;
 *         --file=FILE [--offset=BYTES]      rename, and the records
 *                                           workloads: the record file or
 *                                           the raw disk (--offset=1048576);
 *                                           a missing FILE reads as zeros.
 *       Prints key=value lines: acked last late lost lost_list lost_late
 *       late_list foreign foreign_at app_rolled outcome correct finding
 *       app_finding.  Exit status as run's: 0 correct, 1 incorrect,
 *       3 correct with a finding.
 *   state CELL --acked=FILE --present=FILE [--corrupt=FILE]
 *       check-state's verdict for an application in one crash state:
 *       a line saying why it is not consistent (or naming the known
 *       rollback); exit 0 consistent, 1 not.
 *   explore --expect=E --states=N --inconsistent=N
 *       prints outcome= and correct=; exit 0 correct, 1 not.
 *
 * CELL is --workload --fs --qemu-cache --guest-switch --wcache-mode
 * --policy --sqlite --git-fsync, as wcache-guest(1)'s run options.
 * Exit status 2: bad usage or an unreadable input (a message on stderr).
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "crash-check.h"
#include "guest-verdict.h"

static struct gv_cell cell;
static char *opt_console, *opt_file, *opt_present, *opt_corrupt, *opt_acked;
static char *opt_check_out, *opt_check_status, *opt_expect, *opt_fsck;
static gint64 opt_cutoff = -1, opt_offset, opt_seed = -1, opt_record = -1;
static gint64 opt_states = -1, opt_inconsistent = -1;

static gboolean
cell_option (const char *name, const char *value, gpointer data,
             GError **error)
{
  return gv_cell_set (&cell, name + 2, value, error);
}

static const GOptionEntry entries[] = {
  { "workload", 0, 0, G_OPTION_ARG_CALLBACK, cell_option, "the cell", "W" },
  { "fs", 0, 0, G_OPTION_ARG_CALLBACK, cell_option, NULL, "FS" },
  { "qemu-cache", 0, 0, G_OPTION_ARG_CALLBACK, cell_option, NULL, "M" },
  { "guest-switch", 0, 0, G_OPTION_ARG_CALLBACK, cell_option, NULL, "S" },
  { "wcache-mode", 0, 0, G_OPTION_ARG_CALLBACK, cell_option, NULL, "M" },
  { "policy", 0, 0, G_OPTION_ARG_CALLBACK, cell_option, NULL, "P" },
  { "sqlite", 0, 0, G_OPTION_ARG_CALLBACK, cell_option, NULL, "J:S" },
  { "git-fsync", 0, 0, G_OPTION_ARG_CALLBACK, cell_option, NULL, "G" },
  { "seed", 0, 0, G_OPTION_ARG_INT64, &opt_seed, "the run's seed", "N" },
  { "record", 0, 0, G_OPTION_ARG_INT64, &opt_record, "block: the record", "N" },
  { "expect", 0, 0, G_OPTION_ARG_STRING, &opt_expect, "safe, loss or any", "E" },
  { "console", 0, 0, G_OPTION_ARG_FILENAME, &opt_console, "the console log", "FILE" },
  { "cutoff", 0, 0, G_OPTION_ARG_INT64, &opt_cutoff, "where the disk failed", "BYTES" },
  { "fsck", 0, 0, G_OPTION_ARG_STRING, &opt_fsck, "the checker's outcome", "F" },
  { "file", 0, 0, G_OPTION_ARG_FILENAME, &opt_file, "the records", "FILE" },
  { "offset", 0, 0, G_OPTION_ARG_INT64, &opt_offset, "record 0 in --file", "BYTES" },
  { "present", 0, 0, G_OPTION_ARG_FILENAME, &opt_present, "the application's records", "FILE" },
  { "corrupt", 0, 0, G_OPTION_ARG_FILENAME, &opt_corrupt, "why its data is corrupt", "FILE" },
  { "acked", 0, 0, G_OPTION_ARG_FILENAME, &opt_acked, "records marked", "FILE" },
  { "check-status", 0, 0, G_OPTION_ARG_STRING, &opt_check_status, "the check script's", "S" },
  { "check-out", 0, 0, G_OPTION_ARG_FILENAME, &opt_check_out, "its output", "FILE" },
  { "states", 0, 0, G_OPTION_ARG_INT64, &opt_states, "explore: states", "N" },
  { "inconsistent", 0, 0, G_OPTION_ARG_INT64, &opt_inconsistent, "of them inconsistent", "N" },
  { NULL },
};

static const char *prog = "wcache-guest-verdict";

static int
usage_error (const char *what)
{
  fprintf (stderr, "%s: %s\n", prog, what);
  return 2;
}

/* A file's text, its trailing newlines dropped; "" if optional and
 * absent. */
static char *
slurp (const char *path, bool optional, GError **error)
{
  char *s;

  if (!g_file_get_contents (path, &s, NULL, error)) {
    if (optional && g_error_matches (*error, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
      g_clear_error (error);
      return g_strdup ("");
    }
    return NULL;
  }
  return g_strchomp (s);
}

/* len bytes of path from off (fewer at its end; none if it is absent). */
static uint8_t *
read_area (const char *path, uint64_t off, size_t len, size_t *got,
           GError **error)
{
  g_autofree uint8_t *buf = g_malloc0 (len);
  int fd = open (path, O_RDONLY | O_CLOEXEC);

  *got = 0;
  if (fd == -1 && errno == ENOENT)
    return g_steal_pointer (&buf);
  if (fd == -1)
    goto fail;
  while (*got < len) {
    ssize_t r = pread (fd, buf + *got, len - *got, off + *got);

    if (r == -1 && errno == EINTR)
      continue;
    if (r == -1) {
      int e = errno;

      close (fd);
      errno = e;
      goto fail;
    }
    if (r == 0)
      break;
    *got += r;
  }
  close (fd);
  return g_steal_pointer (&buf);
fail:
  g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno),
               "read: %s: %s", path, g_strerror (errno));
  return NULL;
}

static bool
get_expect (enum gv_expect *e)
{
  return opt_expect && gv_expect_parse (opt_expect, e);
}

/* check: what survived, the verdict, as key=value lines. */
static int
cmd_check (GError **error)
{
  g_autofree char *console = NULL;
  size_t console_len;
  struct gv_announced a;
  struct gv_check v;
  struct gv_verdict r;
  enum gv_expect expect;
  int rc;

  if (opt_seed < 0 || opt_seed > UINT32_MAX || !get_expect (&expect) ||
      !opt_console)
    return usage_error ("check: needs --seed, --expect=safe|loss|any and --console");
  if (!g_file_get_contents (opt_console, &console, &console_len, error))
    return 2;
  gv_announced_parse (&a, console, console_len, opt_cutoff);
  gv_check_init (&v, &cell, &a, expect, opt_seed, opt_fsck ? opt_fsck : "n/a");

  if (opt_check_status) {
    g_autofree char *out = NULL;
    bool mounted = strcmp (opt_check_status, "unmounted") != 0;

    if (mounted && strcmp (opt_check_status, "0") != 0 &&
        strcmp (opt_check_status, "1") != 0)
      rc = usage_error ("check: --check-status=0|1|unmounted");
    else if (mounted && opt_check_out &&
             !(out = slurp (opt_check_out, false, error)))
      rc = 2;
    else {
      gv_check_user (&v, mounted, mounted ? atoi (opt_check_status) : 0, out);
      rc = 0;
    }
  }
  else if (cell.workload == GV_WL_SQLITE || cell.workload == GV_WL_GIT) {
    g_autofree char *present = NULL, *corrupt = NULL;

    if (!opt_present)
      rc = usage_error ("check: --workload=sqlite|git needs --present");
    else if (!(present = slurp (opt_present, false, error)) ||
             (opt_corrupt && !(corrupt = slurp (opt_corrupt, true, error))))
      rc = 2;
    else {
      gv_check_app (&v, present, corrupt);
      rc = 0;
    }
  }
  else if (!opt_file || opt_offset < 0)
    rc = usage_error ("check: needs --file (and --offset >= 0)");
  else {
    /* rename: the commit block and its two slots; records: to 128
     * blocks past the last announced (the foreign-line scan). */
    uint64_t blocks = cell.workload == GV_WL_RENAME ? 4 : a.last_all + 129;
    uint32_t max = 0;
    g_autofree uint8_t *area = NULL;
    size_t len;

    for (guint i = 0; i < a.rec->len; i++)
      max = MAX (max, g_array_index (a.rec, uint32_t, i));
    if (cell.workload != GV_WL_RENAME)
      blocks = MAX (blocks, (uint64_t) max + 1);
    area = read_area (opt_file, opt_offset, blocks * CRASH_RECORD_SIZE, &len,
                      error);
    if (!area)
      rc = 2;
    else {
      if (cell.workload == GV_WL_RENAME)
        gv_check_rename (&v, area, len);
      else
        gv_check_records (&v, area, len);
      rc = 0;
    }
  }
  if (rc == 0) {
    rc = gv_decide (&v, &r);
    printf ("acked=%u\nlast=%" PRIu32 "\nlate=%u\n", a.nacked, a.last, a.nlate);
    printf ("lost=%" PRIu64 "\nlost_list=%s\n", v.lost, v.lost_list->str);
    printf ("lost_late=%" PRIu64 "\nlate_list=%s\n", v.lost_late, v.late_list->str);
    if (v.foreign < 0)
      printf ("foreign=n/a\nforeign_at=\n");
    else
      printf ("foreign=%" PRId64 "\nforeign_at=%s\n", v.foreign,
              v.foreign_at ? v.foreign_at : "");
    printf ("app_rolled=%d\noutcome=%s\ncorrect=%s\nfinding=%s\napp_finding=%s\n",
            v.app_rolled, r.outcome, r.correct ? "yes" : "NO",
            r.finding ? "yes" : "no", r.app_finding ? r.app_finding : "");
  }
  gv_check_clear (&v);
  gv_announced_clear (&a);
  return rc;
}

static int
cmd_state (GError **error)
{
  g_autofree char *acked = NULL, *present = NULL, *corrupt = NULL;
  g_autofree char *detail = NULL;
  bool ok;

  if (!opt_acked || !opt_present)
    return usage_error ("state: needs --acked and --present");
  if (!(acked = slurp (opt_acked, false, error)) ||
      !(present = slurp (opt_present, false, error)) ||
      (opt_corrupt && !(corrupt = slurp (opt_corrupt, true, error))))
    return 2;
  ok = gv_app_state (&cell, acked, present, corrupt, &detail);
  if (detail)
    printf ("%s\n", detail);
  return ok ? 0 : 1;
}

static int
cmd_acked (GError **error)
{
  g_autofree char *console = NULL;
  size_t len;
  struct gv_announced a;

  if (!opt_console)
    return usage_error ("acked: needs --console");
  if (!g_file_get_contents (opt_console, &console, &len, error))
    return 2;
  gv_announced_parse (&a, console, len, opt_cutoff);
  for (guint i = 0; i < a.rec->len; i++)
    if (!g_array_index (a.late, gboolean, i))
      printf ("%" PRIu32 "\n", g_array_index (a.rec, uint32_t, i));
  gv_announced_clear (&a);
  return 0;
}

static int
cmd_block (void)
{
  uint8_t b[CRASH_RECORD_SIZE];

  if (opt_seed < 0 || opt_seed > UINT32_MAX || opt_record < 0 ||
      opt_record > UINT32_MAX)
    return usage_error ("block: needs --seed and --record (0 to 4294967295)");
  crash_record_block (opt_seed, opt_record, b);
  return fwrite (b, sizeof b, 1, stdout) == 1 ? 0 : 2;
}

static int
cmd_explore (void)
{
  enum gv_expect e;
  bool correct;

  if (!get_expect (&e) || opt_states < 0 || opt_inconsistent < 0)
    return usage_error ("explore: needs --expect=safe|loss|any, --states and --inconsistent");
  correct = gv_explore_correct (e, opt_states, opt_inconsistent);
  printf ("outcome=%s\ncorrect=%s\n",
          opt_inconsistent > 0 ? "LOSS DETECTED" : "no loss",
          correct ? "yes" : "NO");
  return correct ? 0 : 1;
}

int
main (int argc, char **argv)
{
  g_autoptr (GOptionContext) ctx =
    g_option_context_new ("expect|acked|block|check|state|explore - the guest harness's verdict");
  g_autoptr (GError) error = NULL;
  const char *cmd;
  int rc;

  gv_cell_init (&cell);
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    return usage_error (error->message);
  if (argc != 2)
    return usage_error ("one command: expect, acked, block, check, state or explore (--help)");
  cmd = argv[1];
  if (strcmp (cmd, "expect") == 0) {
    printf ("%s\n", gv_expect_name (gv_expected (&cell)));
    rc = 0;
  }
  else if (strcmp (cmd, "acked") == 0)
    rc = cmd_acked (&error);
  else if (strcmp (cmd, "block") == 0)
    rc = cmd_block ();
  else if (strcmp (cmd, "check") == 0)
    rc = cmd_check (&error);
  else if (strcmp (cmd, "state") == 0)
    rc = cmd_state (&error);
  else if (strcmp (cmd, "explore") == 0)
    rc = cmd_explore ();
  else
    rc = usage_error ("unknown command (expect, acked, block, check, state, explore)");
  if (error)
    fprintf (stderr, "%s: %s: %s\n", prog, cmd, error->message);
  if (fflush (stdout) != 0) {
    fprintf (stderr, "%s: stdout: %s\n", prog, g_strerror (errno));
    rc = 2;
  }
  return rc;
}

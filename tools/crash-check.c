/* wcache-crash: checkers: parsing --check, running a command checker, and
 * dispatching to the built-in ones (crash-check.h).
 *
 * Owns struct crash_checker (one per --check, shared read-only by the
 * workers) and struct crash_check (a worker's instance: for a command,
 * its environment and output file; for a built-in, the kind's state).
 *
 * Commands run through posix_spawn, not a shell: one vfork and exec per
 * state, which is most of the per-state cost of an external checker, and
 * no quoting surprises in image paths.  The program is resolved on PATH
 * and checked executable before any state is explored, so a typo fails
 * at once, not once per state.
 *
 * Locking: none.  A crash_check belongs to one worker thread.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>

#include "crash-check.h"

extern char **environ;

const char *
crash_verdict_name (enum crash_verdict v)
{
  switch (v) {
  case CRASH_CONSISTENT: return "consistent";
  case CRASH_INCONSISTENT: return "inconsistent";
  case CRASH_CHECK_ERROR: return "error";
  }
  return "?";
}

struct crash_checker *
crash_checker_parse (const char *spec, char **message)
{
  struct crash_checker *c = g_new0 (struct crash_checker, 1);
  g_autoptr (GError) error = NULL;

  c->spec = g_strdup (spec);
  if (strcmp (spec, "records") == 0)
    c->kind = CRASH_CHECK_RECORDS;
  else if (strcmp (spec, "records:ext4") == 0 ||
           strcmp (spec, "records:xfs") == 0 ||
           strcmp (spec, "records:btrfs") == 0) {
    c->kind = CRASH_CHECK_RECORDS_FS;
    c->fs = spec + strlen ("records:");
  }
  else if (g_str_has_prefix (spec, "records:")) {
    *message = g_strdup_printf ("--check %s: records on a raw disk"
                                " (records) or in a file of a filesystem"
                                " (records:ext4, records:xfs,"
                                " records:btrfs)", spec);
    crash_checker_free (c);
    errno = EINVAL;
    return NULL;
  }
  else if (strcmp (spec, "fsck:ext4") == 0) {
    c->kind = CRASH_CHECK_FSCK_EXT4;
    c->fs = "ext4";
  }
  else if (strcmp (spec, "fsck:xfs") == 0) {
    c->kind = CRASH_CHECK_FSCK_XFS;
    c->fs = "xfs";
  }
  else if (strcmp (spec, "fsck:btrfs") == 0) {
    c->kind = CRASH_CHECK_FSCK_BTRFS;
    c->fs = "btrfs";
  }
  else if (g_str_has_prefix (spec, "fsck:")) {
    *message = g_strdup_printf ("--check %s: unknown filesystem (fsck:ext4,"
                                " fsck:xfs or fsck:btrfs)", spec);
    crash_checker_free (c);
    errno = EINVAL;
    return NULL;
  } else {
    c->kind = CRASH_CHECK_CMD;
    if (!g_shell_parse_argv (spec, NULL, &c->argv, &error)) {
      *message = g_strdup_printf ("--check %s: %s", spec, error->message);
      crash_checker_free (c);
      errno = EINVAL;
      return NULL;
    }
  }
  return c;
}

/* argv[0] on PATH (or as a path), executable. */
static int
resolve_program (struct crash_checker *c, char **message)
{
  char *path;

  if (strchr (c->argv[0], '/'))
    path = g_strdup (c->argv[0]);
  else
    path = g_find_program_in_path (c->argv[0]);
  if (!path) {
    *message = g_strdup_printf ("--check %s: %s: not found on PATH",
                                c->spec, c->argv[0]);
    errno = ENOENT;
    return -1;
  }
  if (access (path, X_OK) == -1 || g_file_test (path, G_FILE_TEST_IS_DIR)) {
    int err = errno ? errno : EACCES;

    *message = g_strdup_printf ("--check %s: %s: not executable", c->spec,
                                path);
    g_free (path);
    errno = err;
    return -1;
  }
  g_free (c->argv[0]);
  c->argv[0] = path;
  return 0;
}

int
crash_checker_prepare (struct crash_checker *c, const struct crash_model *m,
                       const struct crash_records_opts *ro, char **message)
{
  switch (c->kind) {
  case CRASH_CHECK_CMD:
    return resolve_program (c, message);
  case CRASH_CHECK_RECORDS:
  case CRASH_CHECK_RECORDS_FS:
    c->records = *ro;
    return crash_records_prepare (c, m, message);
  case CRASH_CHECK_FSCK_EXT4:
  case CRASH_CHECK_FSCK_XFS:
  case CRASH_CHECK_FSCK_BTRFS:
    return crash_fsck_prepare (c, message);
  }
  return 0;
}

void
crash_checker_free (struct crash_checker *c)
{
  if (!c)
    return;
  g_free (c->spec);
  g_strfreev (c->argv);
  g_free (c->fsck_program);
  g_free (c);
}

/* ---- Running programs -------------------------------------------------- */

int
crash_spawn (char *const argv[], char *const envp[], int out_fd)
{
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  sigset_t none;
  pid_t pid;
  int err, status;

  posix_spawn_file_actions_init (&fa);
  posix_spawn_file_actions_addopen (&fa, 0, "/dev/null", O_RDONLY, 0);
  if (out_fd >= 0) {
    posix_spawn_file_actions_adddup2 (&fa, out_fd, 1);
    posix_spawn_file_actions_adddup2 (&fa, out_fd, 2);
  }
  /* The workers block no signals, but be explicit: the child starts with
   * an empty mask and default dispositions. */
  posix_spawnattr_init (&attr);
  sigemptyset (&none);
  posix_spawnattr_setsigmask (&attr, &none);
  posix_spawnattr_setflags (&attr, POSIX_SPAWN_SETSIGMASK);
  err = posix_spawn (&pid, argv[0], &fa, &attr, argv,
                     envp ? envp : environ);
  posix_spawn_file_actions_destroy (&fa);
  posix_spawnattr_destroy (&attr);
  if (err) {
    errno = err;
    return -1;
  }
  while (waitpid (pid, &status, 0) == -1)
    if (errno != EINTR)
      return -1;
  return status;
}

char *
crash_status_text (int status)
{
  if (WIFEXITED (status))
    return g_strdup_printf ("exit status %d", WEXITSTATUS (status));
  if (WIFSIGNALED (status))
    return g_strdup_printf ("killed by signal %d", WTERMSIG (status));
  return g_strdup_printf ("wait status 0x%x", status);
}

char *
crash_output_tail (int fd)
{
  char buf[401];
  off_t end = lseek (fd, 0, SEEK_END), start;
  ssize_t n;
  char *p;

  if (end <= 0)
    return NULL;
  start = end > 400 ? end - 400 : 0;
  n = pread (fd, buf, end - start, start);
  if (n <= 0)
    return NULL;
  buf[n] = '\0';
  g_strstrip (buf);
  /* Whole lines only, and on one line. */
  p = start > 0 && strchr (buf, '\n') ? strchr (buf, '\n') + 1 : buf;
  for (char *q = p; *q; q++)
    if (*q == '\n')
      *q = '|';
    else if ((unsigned char) *q < 0x20)
      *q = ' ';
  return *p ? g_strdup (p) : NULL;
}

/* ---- A worker's checker -------------------------------------------------- */

struct crash_check {
  const struct crash_checker *c;
  void *builtin;                /* records or fsck state */
  char *out_path;               /* CMD: the command's output */
  int out_fd;
  char **envp;                  /* CMD: environ + ours; the last three */
  size_t env_ours;              /*   entries, from this index, are ours */
};

struct crash_check *
crash_check_new (const struct crash_checker *c, const struct crash_model *m,
                 const char *dir, char **message)
{
  struct crash_check *k = g_new0 (struct crash_check, 1);

  k->c = c;
  k->out_fd = -1;
  switch (c->kind) {
  case CRASH_CHECK_CMD: {
    size_t n = 0;

    k->out_path = g_build_filename (dir, "checker.out", NULL);
    k->out_fd = open (k->out_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
                      0600);
    if (k->out_fd == -1) {
      int err = errno;

      *message = g_strdup_printf ("%s: %s", k->out_path, g_strerror (err));
      crash_check_free (k);
      errno = err;
      return NULL;
    }
    k->envp = g_new0 (char *, g_strv_length (environ) + 4);
    for (char **e = environ; *e; e++)
      if (!g_str_has_prefix (*e, "WCACHE_CRASH_IMAGE=") &&
          !g_str_has_prefix (*e, "WCACHE_CRASH_STATE=") &&
          !g_str_has_prefix (*e, "WCACHE_CRASH_MARKS="))
        k->envp[n++] = g_strdup (*e);
    k->env_ours = n;
    break;
  }
  case CRASH_CHECK_RECORDS:
  case CRASH_CHECK_RECORDS_FS:
    k->builtin = crash_records_new (c, m, dir, message);
    if (!k->builtin) {
      crash_check_free (k);
      return NULL;
    }
    break;
  case CRASH_CHECK_FSCK_EXT4:
  case CRASH_CHECK_FSCK_XFS:
  case CRASH_CHECK_FSCK_BTRFS:
    k->builtin = crash_fsck_new (c, dir, message);
    if (!k->builtin) {
      crash_check_free (k);
      return NULL;
    }
    break;
  }
  return k;
}

void
crash_check_free (struct crash_check *k)
{
  if (!k)
    return;
  switch (k->c->kind) {
  case CRASH_CHECK_CMD:
    break;
  case CRASH_CHECK_RECORDS:
  case CRASH_CHECK_RECORDS_FS:
    crash_records_free (k->builtin);
    break;
  case CRASH_CHECK_FSCK_EXT4:
  case CRASH_CHECK_FSCK_XFS:
  case CRASH_CHECK_FSCK_BTRFS:
    crash_fsck_free (k->builtin);
    break;
  }
  if (k->out_fd >= 0)
    close (k->out_fd);
  if (k->out_path)
    unlink (k->out_path);
  g_free (k->out_path);
  g_strfreev (k->envp);
  g_free (k);
}

void
crash_check_changed (struct crash_check *k, uint64_t off, uint64_t len)
{
  if (k->c->kind == CRASH_CHECK_RECORDS)
    crash_records_changed (k->builtin, off, len);
}

static enum crash_verdict
run_cmd (struct crash_check *k, const struct crash_state *st, char **detail)
{
  char **ours = &k->envp[k->env_ours];
  g_autofree char *status_text = NULL;
  g_autofree char *tail = NULL;
  int status;

  for (int i = 0; i < 3; i++)
    g_free (ours[i]);
  ours[0] = g_strconcat ("WCACHE_CRASH_IMAGE=", st->image, NULL);
  ours[1] = g_strconcat ("WCACHE_CRASH_STATE=", st->id, NULL);
  ours[2] = g_strconcat ("WCACHE_CRASH_MARKS=", st->marks_path, NULL);
  if (ftruncate (k->out_fd, 0) == -1 || lseek (k->out_fd, 0, SEEK_SET) == -1) {
    *detail = g_strdup_printf ("%s: %s", k->out_path, g_strerror (errno));
    return CRASH_CHECK_ERROR;
  }
  status = crash_spawn (k->c->argv, k->envp, k->out_fd);
  if (status == -1) {
    *detail = g_strdup_printf ("%s: %s", k->c->argv[0], g_strerror (errno));
    return CRASH_CHECK_ERROR;
  }
  if (WIFEXITED (status) && WEXITSTATUS (status) == 0)
    return CRASH_CONSISTENT;
  tail = crash_output_tail (k->out_fd);
  if (WIFEXITED (status) && WEXITSTATUS (status) == 1) {
    *detail = g_strdup_printf ("%s%s%s", k->c->spec, tail ? ": " : "",
                               tail ? tail : "");
    return CRASH_INCONSISTENT;
  }
  status_text = crash_status_text (status);
  *detail = g_strdup_printf ("%s: %s%s%s", k->c->spec, status_text,
                             tail ? ": " : "", tail ? tail : "");
  return CRASH_CHECK_ERROR;
}

enum crash_verdict
crash_check_run (struct crash_check *k, const struct crash_state *st,
                 char **detail)
{
  switch (k->c->kind) {
  case CRASH_CHECK_CMD:
    return run_cmd (k, st, detail);
  case CRASH_CHECK_RECORDS:
  case CRASH_CHECK_RECORDS_FS:
    return crash_records_run (k->builtin, st, detail);
  case CRASH_CHECK_FSCK_EXT4:
  case CRASH_CHECK_FSCK_XFS:
  case CRASH_CHECK_FSCK_BTRFS:
    return crash_fsck_run (k->builtin, st, detail);
  }
  return CRASH_CHECK_ERROR;
}

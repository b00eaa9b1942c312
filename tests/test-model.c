/* The randomized model check of the engine: random request sequences
 * against a reference model written from rules S1..S10 (model.c).
 *
 * A trial is a random disk (size, block size, cache size from one block
 * up, a media with or without writev, the oracle on or off, a start mode,
 * the media's first content) and a random sequence of operations: reads,
 * writes, zeroes and trims of any offset and length, FUA and write-through
 * flags, flushes, switches to any mode, power cuts with every policy,
 * power-on, cuts armed for a count of writes, flushes or bytes or for a
 * mark, and marks, any of them with a media read, write or flush failing
 * during it.  Each operation runs on two engines in lockstep, engine A and
 * engine B (the same disk on the other kind of media), and after each one:
 *   - both engines returned the same and their media are byte-identical
 *     (S8: the same requests and seed give the same image);
 *   - the operation's own rule held: a read returns the acknowledged data
 *     (S1), a durable write is on the media (S2, S4, S6), a flush leaves
 *     the whole media acknowledged (S3), a switch to WCE off too (S5), a cut
 *     leaves an image its policy allows (S8) and the oracle agrees (S10),
 *     requests fail with EIO while the power is off (S8), an armed cut
 *     fires inside the request the model counts it for, and does what the
 *     same cut made right after that request does on engine B (S9);
 *   - a request that failed took effect per block or not at all, and took
 *     nothing acknowledged with it;
 *   - every block of the media holds a content the model allows (S10);
 *   - the cache is within its bound (S7) and the disk reads exactly the
 *     acknowledged data (S1, which also finds anything dropped).
 * Durable means durable: the media tells what a flush or FUA made durable
 * from what was only written to it (memmedia_track_durable), and S2-S5 are
 * checked there.  The engine's on_cut callback is not used: every check
 * runs after the call that made the cut has returned.
 *
 * Two profiles of trials: mixed, and cached (a cache the size of the disk,
 * few flushes and switches), which leaves cuts many dirty blocks to choose
 * from, as the ordered policy's check needs.
 *
 * Everything derives from one seed: trial i from (seed, i), each write's
 * data from its own seed, so a trial replays exactly (the engine is
 * deterministic when driven from one thread; a cut seed the engine picked
 * is recorded and given back on replay).  A failing trial is shrunk by
 * dropping chunks of operations, then single ones, then their extras
 * (fault injection, flags), keeping each change that still fails the same
 * rule, and printed as a list of operations.
 *
 * Files: model.c is the reference model, model-gen.c the generator of
 * trials, model-run.c the runner and its checks, model-threads.c the
 * multi-threaded variant (writers, flushers, a mode switcher and a power
 * cutter on one engine); this file shrinks failures and holds the tests.
 *
 * Locking: none; everything here runs on one thread.
 *
 * Options (or environment):
 *   --seed=N     WCACHE_MODEL_SEED      the seed (default: random, printed)
 *   --trials=N   WCACHE_MODEL_TRIALS    sequences to run
 *   --threads=N  WCACHE_MODEL_THREADS   multi-threaded runs
 *   --trial=N                           run trial N alone, listing it
 *   --shrink-crash                      with --trial: shrink a crash
 *   --verbose                           list every trial's operations
 *
 * A crash (a sanitizer's report, an assertion in the engine) kills the
 * process, so it cannot be shrunk there: the process prints the trial it
 * was running, and --shrink-crash then shrinks it running each candidate
 * in a child process.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>

#if __has_include (<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

#if defined (__SANITIZE_ADDRESS__)
#define HAVE_ASAN 1
#elif defined (__has_feature)
#if __has_feature (address_sanitizer)
#define HAVE_ASAN 1
#endif
#endif
#ifdef HAVE_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

#include "model-seq.h"
#include "model-threads.h"
#include "wcache.h"

/* ---- Options and totals ------------------------------------------------- */

#define SLICE_TRIALS 2500       /* make check: a few seconds */
#define SLICE_THREADS 20
#define MAX_FAILURES 3          /* shrink and print this many, then stop */

static uint64_t opt_seed;
static uint64_t opt_trials = SLICE_TRIALS;
static uint64_t opt_threads = SLICE_THREADS;
static int64_t opt_trial = -1;
static bool opt_verbose;
static bool opt_shrink_crash;

static struct run_totals total;
static uint64_t total_trials, total_violations;

/* ---- Shrinking ---------------------------------------------------------- */

/* The rule a failure message names: "op N (...): S3: ..." -> "S3". */
static char *
failure_rule (const char *msg)
{
  const char *p = strstr (msg, "): ");

  p = p ? p + 3 : strstr (msg, ": ") ? strstr (msg, ": ") + 2 : msg;
  return g_strndup (p, strcspn (p, ":"));
}

/* --shrink-crash: runs ops in a child.  Returns NULL if it passed, a
 * "crash: ..." message if it died, or "model: ..." for a violation. */
static char *
run_in_child (const struct trial *t, GArray *ops)
{
  pid_t pid;
  int status;

  fflush (stdout);
  fflush (stderr);
  pid = fork ();
  g_assert (pid != -1);
  if (pid == 0) {
    int fd = open ("/dev/null", O_WRONLY);
    unsigned at;
    char *err;

    dup2 (fd, 1);
    dup2 (fd, 2);
    err = run_trial (t, (struct op *) ops->data, ops->len, false, NULL, &at,
                     NULL);
    _exit (err ? 3 : 0);
  }
  g_assert (waitpid (pid, &status, 0) == pid);
  if (WIFEXITED (status) && WEXITSTATUS (status) == 0)
    return NULL;
  if (WIFEXITED (status) && WEXITSTATUS (status) == 3)
    return g_strdup ("model: a violation, not a crash");
  if (WIFSIGNALED (status))
    return g_strdup_printf ("crash: killed by signal %d", WTERMSIG (status));
  return g_strdup_printf ("crash: exit status %d", WEXITSTATUS (status));
}

static bool
still_fails (const struct trial *t, GArray *ops, const char *rule,
             char **msg)
{
  unsigned at = ops->len;
  char *err = opt_shrink_crash ? run_in_child (t, ops)
    : run_trial (t, (struct op *) ops->data, ops->len, false, NULL, &at,
                 NULL);
  bool same = false;

  if (err) {
    g_autofree char *r = failure_rule (err);
    same = strcmp (r, rule) == 0;
  }
  if (same) {
    g_free (*msg);
    *msg = err;
    /* Operations after the failing one do not matter. */
    if (at < ops->len)
      g_array_set_size (ops, at + 1);
  }
  else
    g_free (err);
  return same;
}

/* Delta debugging: drop chunks of operations, halving the chunk, then
 * single operations until none can go, then each operation's extras. */
static GArray *
shrink (const struct trial *t, const struct op *ops, unsigned n,
        unsigned fail_at, char **msg)
{
  GArray *cur = g_array_new (FALSE, FALSE, sizeof (struct op));
  g_autofree char *rule = failure_rule (*msg);
  bool progress = true;

  g_array_append_vals (cur, ops, MIN (n, fail_at + 1));
  for (unsigned chunk = MAX (1, cur->len / 2); chunk >= 1; chunk /= 2) {
    for (unsigned i = 0; i < cur->len; ) {
      GArray *cand = g_array_new (FALSE, FALSE, sizeof (struct op));

      g_array_append_vals (cand, cur->data, i);
      if (i + chunk < cur->len)
        g_array_append_vals (cand, &g_array_index (cur, struct op,
                                                   i + chunk),
                             cur->len - i - chunk);
      if (cand->len < cur->len && still_fails (t, cand, rule, msg)) {
        g_array_unref (cur);
        cur = cand;
      }
      else {
        g_array_unref (cand);
        i += chunk;
      }
    }
    if (chunk == 1)
      break;
  }
  while (progress) {
    progress = false;
    for (unsigned i = 0; i < cur->len; i++) {
      struct op *op = &g_array_index (cur, struct op, i);
      struct op saved = *op;
      GArray *cand;

      if (op->inj == INJ_NONE && op->flags == 0 && op->data == DATA_ZEROS &&
          op->epoch == EPOCH_ANY)
        continue;
      cand = g_array_copy (cur);
      op = &g_array_index (cand, struct op, i);
      if (saved.inj != INJ_NONE)
        op->inj = INJ_NONE;
      else if (saved.epoch != EPOCH_ANY)
        op->epoch = EPOCH_ANY;
      else if (saved.flags)
        op->flags = 0;
      else if (saved.kind == OP_WRITE && saved.data != DATA_ZEROS)
        op->data = DATA_BYTE;
      else {
        g_array_unref (cand);
        continue;
      }
      if (memcmp (op, &saved, sizeof saved) != 0 &&
          still_fails (t, cand, rule, msg)) {
        g_array_unref (cur);
        cur = cand;
        progress = true;
      }
      else
        g_array_unref (cand);
    }
  }
  return cur;
}

/* ---- Tests -------------------------------------------------------------- */

static void
report_failure (const struct trial *t, struct op *ops, unsigned n,
                unsigned fail_at, char *msg)
{
  g_autoptr (GString) s = g_string_new (NULL);
  g_autoptr (GArray) small = NULL;

  total_violations++;
  printf ("# FAIL seed=%" PRIu64 " trial=%" PRIu64 ": %s\n", t->seed,
          t->index, msg);
  small = shrink (t, ops, n, fail_at, &msg);
  trial_format (s, t);
  printf ("#   %s\n", s->str);
  printf ("#   shrunk from %u to %u operations; it now fails with:\n"
          "#     %s\n", n, small->len, msg);
  for (unsigned i = 0; i < small->len; i++) {
    g_string_truncate (s, 0);
    op_format (s, &g_array_index (small, struct op, i));
    printf ("#   %3u. %s\n", i + 1, s->str);
  }
  if (g_str_has_prefix (msg, "after the last op"))
    printf ("#        (then, with the power on: flush force, and the media "
            "and the oracle are checked)\n");
  printf ("#   rerun: WCACHE_MODEL_SEED=%" PRIu64 " %s --trial=%" PRIu64
          "\n", t->seed, g_get_prgname (), t->index);
  fflush (stdout);
  g_free (msg);
}

/* The trial running, for the crash report. */
static const struct trial *cur_trial;
static unsigned cur_step;
static GArray *cur_ops;

static void
print_crashed_trial (void)
{
  g_autoptr (GString) s = g_string_new (NULL);

  if (!cur_trial)
    return;
  trial_format (s, cur_trial);
  printf ("# CRASH seed=%" PRIu64 " trial=%" PRIu64 " in operation %u: "
          "%s, operations:\n", cur_trial->seed, cur_trial->index,
          cur_step + 1, s->str);
  for (unsigned i = 0; i <= cur_step && i < cur_ops->len; i++) {
    g_string_truncate (s, 0);
    op_format (s, &g_array_index (cur_ops, struct op, i));
    printf ("#   %3u. %s\n", i + 1, s->str);
  }
  printf ("#   shrink it: WCACHE_MODEL_SEED=%" PRIu64 " %s --trial=%" PRIu64
          " --shrink-crash\n", cur_trial->seed, g_get_prgname (),
          cur_trial->index);
  fflush (stdout);
  cur_trial = NULL;
}

static void
on_fatal_signal (int sig)
{
  print_crashed_trial ();
  signal (sig, SIG_DFL);
  raise (sig);
}

static void
crash_report_init (void)
{
  signal (SIGABRT, on_fatal_signal);
  signal (SIGSEGV, on_fatal_signal);
  signal (SIGBUS, on_fatal_signal);
#ifdef HAVE_ASAN
  __sanitizer_set_death_callback (print_crashed_trial);
#endif
}

/* --shrink-crash: trial N crashes; shrink it in children. */
static void
shrink_crash (const struct trial *t, GArray *ops)
{
  g_autoptr (GString) s = g_string_new (NULL);
  g_autoptr (GArray) small = NULL;
  char *msg = run_in_child (t, ops);

  if (!msg || !g_str_has_prefix (msg, "crash")) {
    printf ("# trial %" PRIu64 " does not crash (%s)\n", t->index,
            msg ? msg : "it passes");
    g_free (msg);
    return;
  }
  small = shrink (t, (struct op *) ops->data, ops->len, ops->len, &msg);
  trial_format (s, t);
  printf ("# %s\n#   %s\n#   shrunk from %u to %u operations:\n", msg,
          s->str, ops->len, small->len);
  for (unsigned i = 0; i < small->len; i++) {
    g_string_truncate (s, 0);
    op_format (s, &g_array_index (small, struct op, i));
    printf ("#   %3u. %s\n", i + 1, s->str);
  }
  printf ("# the shrunk sequence, run here:\n");
  fflush (stdout);
  g_free (msg);
  cur_trial = NULL;
  run_trial (t, (struct op *) small->data, small->len, true, NULL,
             &(unsigned) { 0 }, NULL);
}

static void
test_sequences (void)
{
  uint64_t first = opt_trial >= 0 ? (uint64_t) opt_trial : 0;
  uint64_t last = opt_trial >= 0 ? first + 1 : opt_trials;
  uint64_t failures_before = total_violations;
  gint64 t0 = g_get_monotonic_time ();

  for (uint64_t i = first; i < last; i++) {
    struct trial t;
    g_autoptr (GArray) ops = NULL;
    unsigned at;
    char *err;

    gen_trial (&t, opt_seed, i);
    ops = gen_ops (&t);
    if (opt_shrink_crash) {
      shrink_crash (&t, ops);
      continue;
    }
    cur_trial = &t;
    cur_ops = ops;
    if (opt_verbose || opt_trial >= 0) {
      g_autoptr (GString) s = g_string_new (NULL);
      trial_format (s, &t);
      printf ("# trial %" PRIu64 ": %s, %u operations\n", i, s->str,
              ops->len);
      opt_verbose = true;
    }
    err = run_trial (&t, (struct op *) ops->data, ops->len, opt_verbose,
                     &cur_step, &at, &total);
    total_trials++;
    cur_trial = NULL;
    if (err)
      report_failure (&t, (struct op *) ops->data, ops->len, at, err);
    if (total_violations >= MAX_FAILURES)
      break;
    /* Long runs show progress every tenth. */
    if (last - first >= 20000 && (i + 1) % ((last - first) / 10) == 0) {
      printf ("# progress: %" PRIu64 " trials, %" PRIu64 " operations, %"
              PRIu64 " cuts, %" PRIu64 " violations, %.0f s\n",
              total_trials, total.ops, total.cuts, total_violations,
              (g_get_monotonic_time () - t0) / 1e6);
      fflush (stdout);
    }
  }
  printf ("# sequences: %" PRIu64 " trials, %" PRIu64 " operations, %"
          PRIu64 " cuts (%" PRIu64 " by a trigger), %" PRIu64 " violations, "
          "%.1f s\n", total_trials, total.ops, total.cuts, total.triggered,
          total_violations, (g_get_monotonic_time () - t0) / 1e6);
  g_assert_cmpuint (total_violations, ==, failures_before);
}

static void
test_threads (void)
{
  gint64 t0 = g_get_monotonic_time ();
  struct mt_totals mt = { 0 };
  uint64_t bad = 0;

  for (uint64_t i = 0; i < opt_threads; i++) {
    g_autofree char *err = mt_run (opt_seed, i, &mt);

    if (err) {
      printf ("# FAIL seed=%" PRIu64 " threads run %" PRIu64 ": %s\n",
              opt_seed, i, err);
      bad++;
    }
  }
  printf ("# threads: %" PRIu64 " runs, %" PRIu64 " requests, %" PRIu64
          " flushes checked, %" PRIu64 " switches, %" PRIu64 " cuts, %"
          PRIu64 " violations, %.1f s\n", opt_threads, mt.requests,
          mt.flushes, mt.switches, mt.cuts, bad,
          (g_get_monotonic_time () - t0) / 1e6);
  total_violations += bad;
  g_assert_cmpuint (bad, ==, 0);
}

/* ---- Options ------------------------------------------------------------ */

static bool
parse_u64 (const char *s, uint64_t *v)
{
  char *end;

  errno = 0;
  *v = g_ascii_strtoull (s, &end, 0);
  return errno == 0 && *s && !*end;
}

static void
usage_error (const char *what)
{
  fprintf (stderr, "test-model: %s\n", what);
  exit (2);
}

/* Takes our options out of argv, leaving GTest's. */
static void
parse_options (int *argc, char **argv)
{
  const char *env;
  bool seed_set = false;
  int out = 1;

  /* An empty variable is no setting (make check-stress passes one). */
  if ((env = g_getenv ("WCACHE_MODEL_SEED")) && *env) {
    if (!parse_u64 (env, &opt_seed))
      usage_error ("WCACHE_MODEL_SEED: not a number");
    seed_set = true;
  }
  if ((env = g_getenv ("WCACHE_MODEL_TRIALS")) && *env &&
      !parse_u64 (env, &opt_trials))
    usage_error ("WCACHE_MODEL_TRIALS: not a number");
  if ((env = g_getenv ("WCACHE_MODEL_THREADS")) && *env &&
      !parse_u64 (env, &opt_threads))
    usage_error ("WCACHE_MODEL_THREADS: not a number");
  if (RUNNING_ON_VALGRIND && !g_getenv ("WCACHE_MODEL_TRIALS")) {
    opt_trials /= 10;           /* valgrind is some 30 times slower */
    opt_threads = 3;
  }

  for (int i = 1; i < *argc; i++) {
    const char *a = argv[i];
    uint64_t v;

    if (g_str_has_prefix (a, "--seed=")) {
      if (!parse_u64 (a + 7, &opt_seed))
        usage_error ("--seed: not a number");
      seed_set = true;
    }
    else if (g_str_has_prefix (a, "--trials=")) {
      if (!parse_u64 (a + 9, &opt_trials))
        usage_error ("--trials: not a number");
    }
    else if (g_str_has_prefix (a, "--threads=")) {
      if (!parse_u64 (a + 10, &opt_threads))
        usage_error ("--threads: not a number");
    }
    else if (g_str_has_prefix (a, "--trial=")) {
      if (!parse_u64 (a + 8, &v) || v > INT64_MAX)
        usage_error ("--trial: not a number");
      opt_trial = v;
    }
    else if (strcmp (a, "--verbose") == 0)
      opt_verbose = true;
    else if (strcmp (a, "--shrink-crash") == 0)
      opt_shrink_crash = true;
    else
      argv[out++] = argv[i];
  }
  argv[out] = NULL;
  *argc = out;
  if (opt_shrink_crash && opt_trial < 0)
    usage_error ("--shrink-crash needs --trial");
  if (!seed_set)
    opt_seed = ((uint64_t) g_random_int () << 32) | g_random_int ();
}

int
main (int argc, char *argv[])
{
  int rv;

  /* Disks come and go thousands of times: keep their memory in the heap
   * rather than mapping and faulting it in afresh each time (a third of
   * the run in a VM). */
  mallopt (M_MMAP_THRESHOLD, 64 << 20);
  mallopt (M_TRIM_THRESHOLD, 256 << 20);
  parse_options (&argc, argv);
  g_test_init (&argc, &argv, NULL);
  crash_report_init ();
  printf ("# model: seed=%" PRIu64 " (WCACHE_MODEL_SEED=%" PRIu64 " to "
          "rerun), %" PRIu64 " trials, %" PRIu64 " threaded runs\n",
          opt_seed, opt_seed, opt_trials, opt_threads);
  g_test_add_func ("/model/S1-S10/sequences", test_sequences);
  if (opt_trial < 0)
    g_test_add_func ("/model/S1-S10/threads", test_threads);
  rv = g_test_run ();
  printf ("# total: %" PRIu64 " trials, %" PRIu64 " operations, %" PRIu64
          " cuts, %" PRIu64 " violations\n", total_trials, total.ops,
          total.cuts, total_violations);
  return rv;
}

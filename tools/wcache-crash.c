/* wcache-crash: enumerate, check and rebuild the crash states of a write
 * log (man/wcache-crash.pod).
 *
 *   wcache-crash info LOG [ENUMERATION OPTIONS]
 *   wcache-crash explore LOG --base IMAGE --check CHECK... [OPTIONS]
 *   wcache-crash materialize LOG --base IMAGE --state ID -o OUT
 *   wcache-crash merge [--json] RESULT.json...
 *
 * Owns the command line: options, messages and exit status (0 every state
 * explored consistent, 1 a state inconsistent, 2 a usage error, a bad log
 * or image, or a checker error; 130 interrupted with nothing found).  The
 * work lives in crash-*.c: the state model in crash-model.h.
 *
 * Locking: none here; the SIGINT handler only sets a flag.
 */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "crash-check.h"
#include "crash-explore.h"
#include "crash-id.h"
#include "crash-image.h"
#include "crash-log.h"
#include "crash-model.h"
#include "crash-plan.h"
#include "crash-report.h"
#include "params.h"

#define EXIT_USAGE 2

static const char *command = "";

static int G_GNUC_PRINTF (1, 2)
fail (const char *fmt, ...)
{
  va_list ap;

  fprintf (stderr, "wcache-crash: %s%s", command, *command ? ": " : "");
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fputc ('\n', stderr);
  return EXIT_USAGE;
}

static void
usage (FILE *fp)
{
  fprintf (fp,
"Usage:\n"
"  wcache-crash info LOG [ENUMERATION OPTIONS]\n"
"  wcache-crash explore LOG --base IMAGE --check CHECK [--check CHECK...]\n"
"               [-j N] [ENUMERATION OPTIONS] [--keep-going] [--json] [--list]\n"
"               [--workdir DIR] [--records-offset BYTES] [--records-seed N]\n"
"               [--records-file PATH]\n"
"  wcache-crash materialize LOG --base IMAGE --state ID -o OUT\n"
"  wcache-crash merge [--json] RESULT.json...\n"
"\n"
"Enumeration options:\n"
"  --exhaustive K     every subset of an epoch's candidates up to K (%d)\n"
"  --samples N        beyond K: prefixes, all-but-one and N random subsets (%d)\n"
"  --torn UNIT        tear candidate writes into UNIT-byte pieces\n"
"  --seed S           seed of the random subsets (0)\n"
"  --from-mark M      only crash points after the MARK M\n"
"  --to-mark M        only crash points up to just after the MARK M\n"
"  --shard I/N        the I-th of N shares of the states\n"
"\n"
"CHECK: a command (WCACHE_CRASH_IMAGE, WCACHE_CRASH_STATE, WCACHE_CRASH_MARKS\n"
"in its environment; exit 0 consistent, 1 inconsistent), records,\n"
"records:ext4, records:xfs, records:btrfs, fsck:ext4, fsck:xfs or\n"
"fsck:btrfs.\n"
"\n"
"Exit status: 0 every state explored is consistent, 1 a state is\n"
"inconsistent, 2 usage error, bad log or image, or a checker error,\n"
"130 interrupted.  See wcache-crash(1).\n",
           CRASH_DEFAULT_EXHAUSTIVE, CRASH_DEFAULT_SAMPLES);
}

enum {
  OPT_BASE = 256, OPT_CHECK, OPT_EXHAUSTIVE, OPT_SAMPLES, OPT_TORN, OPT_SEED,
  OPT_FROM_MARK, OPT_TO_MARK, OPT_SHARD, OPT_KEEP_GOING, OPT_JSON, OPT_LIST,
  OPT_WORKDIR, OPT_RECORDS_OFFSET, OPT_RECORDS_SEED, OPT_RECORDS_FILE,
  OPT_STATE,
  OPT_NO_PROGRESS,
};

static const struct option long_options[] = {
  { "base", required_argument, NULL, OPT_BASE },
  { "check", required_argument, NULL, OPT_CHECK },
  { "exhaustive", required_argument, NULL, OPT_EXHAUSTIVE },
  { "samples", required_argument, NULL, OPT_SAMPLES },
  { "torn", required_argument, NULL, OPT_TORN },
  { "seed", required_argument, NULL, OPT_SEED },
  { "from-mark", required_argument, NULL, OPT_FROM_MARK },
  { "to-mark", required_argument, NULL, OPT_TO_MARK },
  { "shard", required_argument, NULL, OPT_SHARD },
  { "keep-going", no_argument, NULL, OPT_KEEP_GOING },
  { "json", no_argument, NULL, OPT_JSON },
  { "list", no_argument, NULL, OPT_LIST },
  { "workdir", required_argument, NULL, OPT_WORKDIR },
  { "records-offset", required_argument, NULL, OPT_RECORDS_OFFSET },
  { "records-seed", required_argument, NULL, OPT_RECORDS_SEED },
  { "records-file", required_argument, NULL, OPT_RECORDS_FILE },
  { "state", required_argument, NULL, OPT_STATE },
  { "output", required_argument, NULL, 'o' },
  { "jobs", required_argument, NULL, 'j' },
  { "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
  { "help", no_argument, NULL, 'h' },
  { NULL, 0, NULL, 0 },
};

/* Everything any subcommand takes; each checks what applies to it. */
struct args {
  const char *log, *base, *state, *out, *workdir;
  GPtrArray *checks;            /* const char * */
  GPtrArray *files;             /* merge's inputs */
  struct crash_opts opts;
  const char *from_mark, *to_mark;
  uint32_t shard, nshards;
  uint32_t jobs;
  bool keep_going, json, list, no_progress;
  bool enumeration;             /* any enumeration option given */
  struct crash_records_opts records;
};

static int
parse_u32 (const char *opt, const char *s, uint32_t max, uint32_t *v)
{
  uint64_t x;

  if (wc_parse_u64 (s, &x) == -1 || x > max)
    return fail ("--%s %s: not a number from 0 to %" PRIu32, opt, s, max);
  *v = x;
  return 0;
}

static int
parse_args (int argc, char **argv, struct args *a)
{
  int c;
  uint64_t x;

  memset (a, 0, sizeof *a);
  a->checks = g_ptr_array_new ();
  a->files = g_ptr_array_new ();
  crash_opts_init (&a->opts);
  a->shard = a->nshards = 1;
  a->jobs = 1;
  a->workdir = g_get_tmp_dir ();
  a->records.offset = CRASH_RECORDS_OFFSET;

  optind = 1;
  while ((c = getopt_long (argc, argv, "hj:o:", long_options, NULL)) != -1) {
    switch (c) {
    case OPT_BASE: a->base = optarg; break;
    case OPT_CHECK: g_ptr_array_add (a->checks, optarg); break;
    case OPT_EXHAUSTIVE:
      if (parse_u32 ("exhaustive", optarg, CRASH_MAX_EXHAUSTIVE,
                     &a->opts.exhaustive))
        return EXIT_USAGE;
      a->enumeration = true;
      break;
    case OPT_SAMPLES:
      if (parse_u32 ("samples", optarg, 1000000, &a->opts.samples))
        return EXIT_USAGE;
      a->enumeration = true;
      break;
    case OPT_TORN:
      if (wc_parse_size (optarg, &a->opts.torn) == -1 ||
          a->opts.torn < 512 || (a->opts.torn & (a->opts.torn - 1)))
        return fail ("--torn %s: not a power of two of at least 512 bytes",
                     optarg);
      a->enumeration = true;
      break;
    case OPT_SEED:
      if (wc_parse_u64 (optarg, &a->opts.seed) == -1)
        return fail ("--seed %s: not a number", optarg);
      a->enumeration = true;
      break;
    case OPT_FROM_MARK: a->from_mark = optarg; a->enumeration = true; break;
    case OPT_TO_MARK: a->to_mark = optarg; a->enumeration = true; break;
    case OPT_SHARD: {
      unsigned i, n;
      char tail;

      if (sscanf (optarg, "%u/%u%c", &i, &n, &tail) != 2 || n < 1 ||
          i < 1 || i > n || n > 1000000)
        return fail ("--shard %s: not I/N with 1 <= I <= N", optarg);
      a->shard = i;
      a->nshards = n;
      break;
    }
    case OPT_KEEP_GOING: a->keep_going = true; break;
    case OPT_JSON: a->json = true; break;
    case OPT_LIST: a->list = true; break;
    case OPT_NO_PROGRESS: a->no_progress = true; break;
    case OPT_WORKDIR: a->workdir = optarg; break;
    case OPT_RECORDS_OFFSET:
      if (wc_parse_size (optarg, &a->records.offset) == -1)
        return fail ("--records-offset %s: not a size", optarg);
      break;
    case OPT_RECORDS_SEED:
      if (wc_parse_u64 (optarg, &x) == -1 || x > UINT32_MAX)
        return fail ("--records-seed %s: not a number", optarg);
      a->records.seed = x;
      a->records.have_seed = true;
      break;
    case OPT_RECORDS_FILE:
      if (!*optarg || strstr (optarg, ".."))
        return fail ("--records-file %s: a path inside the filesystem",
                     optarg);
      a->records.file = optarg;
      break;
    case OPT_STATE: a->state = optarg; break;
    case 'o': a->out = optarg; break;
    case 'j':
      if (parse_u32 ("jobs", optarg, 1024, &a->jobs) || a->jobs == 0)
        return a->jobs == 0 ? fail ("-j %s: at least 1", optarg)
          : EXIT_USAGE;
      break;
    case 'h':
      usage (stdout);
      exit (0);
    default:
      usage (stderr);
      return EXIT_USAGE;
    }
  }
  for (int i = optind; i < argc; i++)
    g_ptr_array_add (a->files, argv[i]);
  if (a->files->len)
    a->log = a->files->pdata[0];
  return 0;
}

static void
free_args (struct args *a)
{
  g_ptr_array_free (a->checks, TRUE);
  g_ptr_array_free (a->files, TRUE);
}

/* Loads the log and builds the model for the enumeration options. */
static int
load (struct args *a, struct crash_log **log, struct crash_model **m)
{
  g_autofree char *msg = NULL;

  if (a->files->len != 1)
    return fail ("one LOG expected (wcache-crash %s --help)", command);
  *log = crash_log_load (a->log, &msg);
  if (!*log)
    return fail ("%s", msg);
  for (int i = 0; i < 2; i++) {
    const char *name = i ? a->to_mark : a->from_mark;
    int64_t j;

    if (!name)
      continue;
    j = crash_log_find_mark (*log, name);
    if (j < 0)
      return fail ("--%s %s: no such MARK in %s", i ? "to-mark" : "from-mark",
                   name, a->log);
    if (i)
      a->opts.to_pos = (*log)->marks[j].index + 1;
    else
      a->opts.from_pos = (*log)->marks[j].index + 1;
  }
  *m = crash_model_new (*log, &a->opts, &msg);
  if (!*m)
    return fail ("%s", msg);
  return 0;
}

static double
now (void)
{
  return g_get_monotonic_time () / 1e6;
}

static int
cmd_info (struct args *a)
{
  g_autofree char *msg = NULL;
  struct crash_log *log = NULL;
  struct crash_model *m = NULL;
  struct crash_plan *p = NULL;
  int ret;

  if (a->base || a->checks->len || a->state || a->out)
    return fail ("takes only the enumeration options");
  ret = load (a, &log, &m);
  if (ret)
    goto out;
  p = crash_plan_new (m, a->shard, a->nshards, &msg);
  if (!p) {
    ret = fail ("%s", msg);
    goto out;
  }
  printf ("log: %s\n", log->path);
  printf ("sector_size: %" PRIu32 "\n", log->sector_size);
  printf ("entries: %" PRIu64 " (%zu writes, %" PRIu64 " FUA, %" PRIu64
          " discards, %zu flushes, %zu marks)\n", log->nr_entries,
          log->nr_writes - log->nr_discards, log->nr_fua, log->nr_discards,
          log->nr_flushes, log->nr_marks);
  printf ("bytes_written: %" PRIu64 "\n", log->bytes_written);
  printf ("disk_end: %" PRIu64 " (entry %" PRIu64 ")\n", log->disk_end,
          log->disk_end_entry);
  printf ("options: exhaustive %" PRIu32 ", samples %" PRIu32 ", seed %"
          PRIu64 ", torn %" PRIu64 "\n", m->opts.exhaustive, m->opts.samples,
          m->opts.seed, m->opts.torn);
  for (uint32_t k = 0; k < m->nr_epochs; k++) {
    const struct crash_epoch *ep = &m->epochs[k];

    if (ep->first_point == ep->end_point)
      continue;
    printf ("epoch %" PRIu32 ": entries %" PRIu64 "-%" PRIu64 ", %" PRIu32
            " candidates, %" PRIu32 " pieces, %" PRIu32 " FUA, %" PRIu32
            " marks, %" PRIu32 " crash points, %" PRIu64 " states, %" PRIu64
            " deduped\n", k, ep->first_entry, ep->end_entry, ep->nr_candidates,
            ep->nr_pieces, ep->end_write - ep->first_write - ep->nr_candidates,
            ep->nr_marks, ep->end_point - ep->first_point,
            ep->end_state - ep->first_state, p->epoch_deduped[k]);
  }
  printf ("epochs: %" PRIu32 "\n", m->nr_epochs);
  printf ("crash_points: %" PRIu32 "\n", m->nr_points);
  printf ("states: %" PRIu64 " enumerated, %" PRIu64 " deduped, %" PRIu64
          " unique\n", m->nr_states, p->nr_deduped, p->nr_unique);
  printf ("plan: %s\n", p->id);
  if (a->nshards > 1)
    printf ("shard: %" PRIu32 "/%" PRIu32 ", %" PRIu64 " states\n", a->shard,
            a->nshards, p->shard_hi - p->shard_lo);
 out:
  crash_plan_free (p);
  crash_model_free (m);
  crash_log_free (log);
  return ret;
}

static void
on_sigint (int sig)
{
  crash_explore_interrupt ();
}

/* Prints the results as text or JSON; returns the exit status they call
 * for. */
static int
print_results (struct crash_results *r, bool json)
{
  if (json) {
    g_autofree char *text = crash_results_json (r);

    printf ("%s\n", text);
  }
  else
    crash_results_print (stdout, r);
  return crash_results_status (r);
}

static int
cmd_explore (struct args *a)
{
  g_autofree char *msg = NULL;
  struct crash_log *log = NULL;
  struct crash_model *m = NULL;
  struct crash_plan *p = NULL;
  struct crash_results *r = NULL;
  g_autoptr (GPtrArray) checkers =
    g_ptr_array_new_with_free_func ((GDestroyNotify) crash_checker_free);
  struct crash_explore_opts eo = { 0 };
  struct sigaction sa = { .sa_handler = on_sigint,
                          .sa_flags = SA_RESETHAND | SA_RESTART };
  double t0 = now (), t1;
  int ret;

  if (!a->base)
    return fail ("--base IMAGE is required");
  if (a->checks->len == 0)
    return fail ("--check is required (a command, records, fsck:ext4,"
                 " fsck:xfs or fsck:btrfs)");
  if (a->state || a->out)
    return fail ("--state and -o belong to materialize");
  for (guint i = 0; i < a->checks->len; i++) {
    struct crash_checker *c = crash_checker_parse (a->checks->pdata[i], &msg);

    if (!c)
      return fail ("%s", msg);
    g_ptr_array_add (checkers, c);
  }
  ret = load (a, &log, &m);
  if (ret)
    goto out;
  if (crash_check_base (log, a->base, &msg) == -1) {
    ret = fail ("%s", msg);
    goto out;
  }
  /* Every checker can run before any state is explored. */
  for (guint i = 0; i < checkers->len; i++)
    if (crash_checker_prepare (checkers->pdata[i], m, &a->records,
                               &msg) == -1) {
      ret = fail ("%s", msg);
      goto out;
    }
  p = crash_plan_new (m, a->shard, a->nshards, &msg);
  if (!p) {
    ret = fail ("%s", msg);
    goto out;
  }
  t1 = now ();

  r = crash_results_new ();
  r->log = g_strdup (a->log);
  r->base = g_strdup (a->base);
  for (guint i = 0; i < a->checks->len; i++)
    g_ptr_array_add (r->checks, g_strdup (a->checks->pdata[i]));
  r->exhaustive = a->opts.exhaustive;
  r->samples = a->opts.samples;
  r->seed = a->opts.seed;
  r->torn = a->opts.torn;
  r->from_mark = g_strdup (a->from_mark);
  r->to_mark = g_strdup (a->to_mark);
  r->plan_id = g_strdup (p->id);
  r->shard = a->shard;
  r->shards = a->nshards;
  r->states = m->nr_states;
  r->deduped = p->nr_deduped;
  r->unique = p->nr_unique;
  r->shard_states = p->shard_hi - p->shard_lo;
  r->plan_seconds = t1 - t0;

  eo.base = a->base;
  eo.checkers = (struct crash_checker *const *) checkers->pdata;
  eo.nr_checkers = checkers->len;
  eo.jobs = a->jobs;
  eo.workdir = a->workdir;
  eo.keep_going = a->keep_going;
  eo.list = a->list;
  eo.progress = !a->no_progress && isatty (STDERR_FILENO);
  sigemptyset (&sa.sa_mask);
  sigaction (SIGINT, &sa, NULL);
  if (crash_explore (p, &eo, r, &msg) == -1) {
    ret = fail ("%s", msg);
    goto out;
  }
  ret = print_results (r, a->json);
 out:
  crash_results_free (r);
  crash_plan_free (p);
  crash_model_free (m);
  crash_log_free (log);
  return ret;
}

static int
cmd_materialize (struct args *a)
{
  g_autofree char *msg = NULL;
  struct crash_log *log;
  struct crash_id id;
  int ret = 0;

  if (!a->base || !a->state || !a->out)
    return fail ("--base IMAGE, --state ID and -o OUT are required");
  if (a->checks->len || a->enumeration)
    return fail ("the state ID says everything: no --check or enumeration"
                 " options");
  if (a->files->len != 1)
    return fail ("one LOG expected");
  if (crash_id_parse (a->state, &id, &msg) == -1)
    return fail ("%s", msg);
  log = crash_log_load (a->log, &msg);
  if (!log) {
    crash_id_clear (&id);
    return fail ("%s", msg);
  }
  if (crash_materialize (log, &id, a->base, a->out, &msg) == -1)
    ret = fail ("%s", msg);
  crash_id_clear (&id);
  crash_log_free (log);
  return ret;
}

static int
cmd_merge (struct args *a)
{
  g_autofree char *msg = NULL;
  g_autoptr (GPtrArray) in =
    g_ptr_array_new_with_free_func ((GDestroyNotify) crash_results_free);
  struct crash_results *r;
  int ret;

  if (a->files->len == 0)
    return fail ("RESULT.json files expected");
  for (guint i = 0; i < a->files->len; i++) {
    struct crash_results *s = crash_results_load (a->files->pdata[i], &msg);

    if (!s)
      return fail ("%s", msg);
    g_ptr_array_add (in, s);
  }
  r = crash_results_merge ((struct crash_results **) in->pdata, in->len,
                           &msg);
  if (!r)
    return fail ("%s", msg);
  ret = print_results (r, a->json);
  crash_results_free (r);
  return ret;
}

int
main (int argc, char **argv)
{
  struct args a;
  int ret;

  if (argc < 2) {
    usage (stderr);
    return EXIT_USAGE;
  }
  if (strcmp (argv[1], "-h") == 0 || strcmp (argv[1], "--help") == 0 ||
      strcmp (argv[1], "help") == 0) {
    usage (stdout);
    return 0;
  }
  command = argv[1];
  if (strcmp (command, "info") != 0 && strcmp (command, "explore") != 0 &&
      strcmp (command, "materialize") != 0 && strcmp (command, "merge") != 0) {
    fprintf (stderr, "wcache-crash: unknown command %s\n", command);
    usage (stderr);
    return EXIT_USAGE;
  }
  ret = parse_args (argc - 1, argv + 1, &a);
  if (ret == 0) {
    if (strcmp (command, "info") == 0)
      ret = cmd_info (&a);
    else if (strcmp (command, "explore") == 0)
      ret = cmd_explore (&a);
    else if (strcmp (command, "materialize") == 0)
      ret = cmd_materialize (&a);
    else
      ret = cmd_merge (&a);
  }
  free_args (&a);
  fflush (stdout);
  return ret;
}

/* wcache-crash: the worker pool that checks a plan's states
 * (crash-explore.h).
 *
 * Owns the exploration's shared state (struct shared) and the workers.
 * A worker loops: take the next run of states (an atomic counter over the
 * shard's states, in order), and per state move its scratch image there,
 * bring its marks file up to date, run the checkers, and store the
 * verdict in the state's slot.  Slots are per state, so workers never
 * write the same memory; the main thread reads them after joining.
 *
 * A command checker must not write the image (the walk would no longer
 * know what it holds): the image's mtime is set to a sentinel before the
 * command and checked after, since a write within the same clock tick as
 * ours would not show in a plain comparison.  A state whose checker wrote
 * is a checker error, and the worker rebuilds its scratch image.
 *
 * The marks file is rewritten incrementally: the escaped MARK lines are
 * one buffer with the offset of each line, and moving from m to m' marks
 * is one pwrite (of lines m..m') or one ftruncate.
 *
 * Locking: sh->lock protects sh->fatal and, with sh->cond, sh->finished
 * (the main thread waits on it, waking every 200 ms for the progress
 * line).  The counters are atomics.  interrupted is a sig_atomic_t set by
 * the signal handler.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "crash-explore.h"
#include "crash-image.h"

static volatile sig_atomic_t interrupted;

void
crash_explore_interrupt (void)
{
  interrupted = 1;
}

struct shared {
  const struct crash_plan *p;
  const struct crash_model *m;
  const struct crash_explore_opts *o;
  uint64_t n;                   /* this shard's states */
  uint64_t chunk;
  atomic_uint_fast64_t next;
  atomic_int stop;
  atomic_uint_fast64_t done, bad, errors;
  uint8_t *verdict;             /* per state: 0 not explored, else 1 + v */
  char **detail;                /* per state not consistent */
  char *marks;                  /* every MARK line, escaped */
  uint64_t *marks_at;           /* nr_marks + 1 offsets into marks */
  bool need_marks;              /* a command checker reads them */
  GMutex lock;
  GCond cond;
  uint32_t finished;            /* protected by lock */
  char *fatal;                  /* protected by lock */
};

struct worker {
  struct shared *sh;
  uint32_t no;
  char *dir;
  struct crash_scratch *sc;
  struct crash_check **checks;
  char *marks_path;
  int marks_fd;
  uint32_t marks_now;
  pthread_t tid;
};

static void
set_fatal (struct shared *sh, char *msg)
{
  g_mutex_lock (&sh->lock);
  if (!sh->fatal)
    sh->fatal = msg;
  else
    g_free (msg);
  g_mutex_unlock (&sh->lock);
  atomic_store (&sh->stop, 1);
}

static void
escape_into (GString *s, const char *text)
{
  for (const unsigned char *c = (const unsigned char *) text; *c; c++) {
    if (*c == '\\')
      g_string_append (s, "\\\\");
    else if (*c >= 0x20 && *c <= 0x7e)
      g_string_append_c (s, *c);
    else
      g_string_append_printf (s, "\\x%02x", *c);
  }
  g_string_append_c (s, '\n');
}

static int
marks_update (struct worker *w, uint32_t nm, char **message)
{
  const struct shared *sh = w->sh;
  uint64_t from = sh->marks_at[w->marks_now], to = sh->marks_at[nm];

  if (nm == w->marks_now)
    return 0;
  if ((nm > w->marks_now &&
       pwrite (w->marks_fd, sh->marks + from, to - from, from) !=
       (ssize_t) (to - from)) ||
      ftruncate (w->marks_fd, to) == -1) {
    *message = g_strdup_printf ("%s: write: %s", w->marks_path,
                                g_strerror (errno));
    return -1;
  }
  w->marks_now = nm;
  return 0;
}

static void
on_change (void *opaque, uint64_t off, uint64_t len)
{
  struct worker *w = opaque;

  for (size_t i = 0; i < w->sh->o->nr_checkers; i++)
    crash_check_changed (w->checks[i], off, len);
}

static void
worker_free (struct worker *w)
{
  crash_scratch_free (w->sc);
  if (w->checks)
    for (size_t i = 0; i < w->sh->o->nr_checkers; i++)
      crash_check_free (w->checks[i]);
  g_free (w->checks);
  if (w->marks_fd >= 0)
    close (w->marks_fd);
  if (w->marks_path)
    unlink (w->marks_path);
  g_free (w->marks_path);
  if (w->dir)
    g_rmdir (w->dir);
  g_free (w->dir);
}

static int
worker_init (struct worker *w, struct shared *sh, uint32_t no,
             const char *top, char **message)
{
  w->sh = sh;
  w->no = no;
  w->marks_fd = -1;
  w->dir = g_strdup_printf ("%s/w%" PRIu32, top, no);
  if (g_mkdir (w->dir, 0700) == -1) {
    *message = g_strdup_printf ("%s: %s", w->dir, g_strerror (errno));
    return -1;
  }
  w->marks_path = g_build_filename (w->dir, "marks", NULL);
  w->marks_fd = open (w->marks_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
                      0600);
  if (w->marks_fd == -1) {
    *message = g_strdup_printf ("%s: %s", w->marks_path, g_strerror (errno));
    return -1;
  }
  w->sc = crash_scratch_new (sh->m, sh->o->base, w->dir, message);
  if (!w->sc)
    return -1;
  w->checks = g_new0 (struct crash_check *, sh->o->nr_checkers);
  for (size_t i = 0; i < sh->o->nr_checkers; i++) {
    w->checks[i] = crash_check_new (sh->o->checkers[i], sh->m, w->dir,
                                    message);
    if (!w->checks[i])
      return -1;
  }
  crash_scratch_on_change (w->sc, on_change, w);
  return 0;
}

static const struct timespec sentinel_time[2] = {
  { 1000000000, 0 }, { 1000000000, 0 },
};

/* Runs the checkers on the scratch image, which holds state s. */
static enum crash_verdict
check_state (struct worker *w, uint64_t s, char **detail)
{
  const struct crash_model *m = w->sh->m;
  const struct crash_point *cp = &m->points[crash_model_point_of (m, s)];
  g_autofree char *id = crash_model_state_id (m, s);
  int fd = crash_scratch_fd (w->sc);
  struct crash_state st = {
    .index = s,
    .id = id,
    .image = crash_scratch_path (w->sc),
    .image_fd = fd,
    .marks_path = w->marks_path,
    .nr_marks = cp->nr_marks,
  };
  enum crash_verdict v = CRASH_CONSISTENT;

  if (w->sh->need_marks && marks_update (w, cp->nr_marks, detail) == -1)
    return CRASH_CHECK_ERROR;
  for (size_t i = 0; i < w->sh->o->nr_checkers && v == CRASH_CONSISTENT;
       i++) {
    bool cmd = w->sh->o->checkers[i]->kind == CRASH_CHECK_CMD;
    struct stat sb;

    if (cmd && futimens (fd, sentinel_time) == -1) {
      *detail = g_strdup_printf ("%s: %s", st.image, g_strerror (errno));
      return CRASH_CHECK_ERROR;
    }
    v = crash_check_run (w->checks[i], &st, detail);
    if (cmd && (fstat (fd, &sb) == -1 ||
                sb.st_mtim.tv_sec != sentinel_time[1].tv_sec ||
                sb.st_mtim.tv_nsec != 0)) {
      g_autofree char *msg = NULL;

      g_free (*detail);
      *detail = g_strdup_printf ("%s: the checker wrote to the image",
                                 w->sh->o->checkers[i]->spec);
      if (crash_scratch_reset (w->sc, &msg) == -1)
        set_fatal (w->sh, g_steal_pointer (&msg));
      return CRASH_CHECK_ERROR;
    }
  }
  return v;
}

static void *
worker_run (void *opaque)
{
  struct worker *w = opaque;
  struct shared *sh = w->sh;

  while (!atomic_load (&sh->stop) && !interrupted) {
    uint64_t lo = atomic_fetch_add (&sh->next, sh->chunk);

    if (lo >= sh->n)
      break;
    for (uint64_t i = lo; i < MIN (lo + sh->chunk, sh->n); i++) {
      uint64_t s = sh->p->unique[sh->p->shard_lo + i];
      char *msg = NULL;
      enum crash_verdict v;

      if (atomic_load (&sh->stop) || interrupted)
        break;
      if (crash_scratch_move (w->sc, s, &msg) == -1) {
        set_fatal (sh, msg);
        break;
      }
      v = check_state (w, s, &msg);
      /* Ctrl-C reached the checker too: what it said after is not a
       * verdict on the state. */
      if (interrupted && v != CRASH_CONSISTENT) {
        g_free (msg);
        break;
      }
      sh->verdict[i] = 1 + v;
      sh->detail[i] = msg;
      atomic_fetch_add (&sh->done, 1);
      switch (v) {
      case CRASH_CONSISTENT:
        break;
      case CRASH_INCONSISTENT:
        atomic_fetch_add (&sh->bad, 1);
        break;
      case CRASH_CHECK_ERROR:
        atomic_fetch_add (&sh->errors, 1);
        break;
      }
      if (v != CRASH_CONSISTENT && !sh->o->keep_going)
        atomic_store (&sh->stop, 1);
    }
  }
  g_mutex_lock (&sh->lock);
  sh->finished++;
  g_cond_signal (&sh->cond);
  g_mutex_unlock (&sh->lock);
  return NULL;
}

static void
progress (const struct shared *sh, double t0, bool last)
{
  double t = g_get_monotonic_time () / 1e6 - t0;
  uint64_t done = atomic_load (&sh->done);
  double r = t > 0 ? done / t : 0;

  if (last) {
    fprintf (stderr, "\r\033[K");
    return;
  }
  fprintf (stderr, "\r\033[Kwcache-crash: %" PRIu64 "/%" PRIu64
           " states, %.0f/s, %" PRIu64 " inconsistent, %" PRIu64
           " errors, ETA %.0f s", done, sh->n, r, atomic_load (&sh->bad),
           atomic_load (&sh->errors), r > 0 ? (sh->n - done) / r : 0);
}

int
crash_explore (const struct crash_plan *p, const struct crash_explore_opts *o,
               struct crash_results *r, char **message)
{
  const struct crash_model *m = p->m;
  struct shared sh = { .p = p, .m = m, .o = o };
  g_autofree char *top = NULL;
  struct worker *workers;
  uint32_t jobs = MAX (o->jobs, 1), started = 0;
  double t0 = g_get_monotonic_time () / 1e6;
  int ret = 0;

  sh.n = p->shard_hi - p->shard_lo;
  sh.chunk = CLAMP (sh.n / (jobs * 16), 1, 64);
  sh.verdict = g_new0 (uint8_t, sh.n);
  sh.detail = g_new0 (char *, sh.n);
  g_mutex_init (&sh.lock);
  g_cond_init (&sh.cond);
  for (size_t i = 0; i < o->nr_checkers; i++)
    sh.need_marks |= o->checkers[i]->kind == CRASH_CHECK_CMD;
  {
    GString *s = g_string_new (NULL);

    sh.marks_at = g_new (uint64_t, m->log->nr_marks + 1);
    for (size_t j = 0; j < m->log->nr_marks; j++) {
      sh.marks_at[j] = s->len;
      escape_into (s, m->log->marks[j].text);
    }
    sh.marks_at[m->log->nr_marks] = s->len;
    sh.marks = g_string_free (s, FALSE);
  }

  top = g_build_filename (o->workdir, "wcache-crash.XXXXXX", NULL);
  if (!g_mkdtemp_full (top, 0700)) {
    *message = g_strdup_printf ("%s: %s", top, g_strerror (errno));
    ret = -1;
    goto out;
  }
  workers = g_new0 (struct worker, jobs);
  for (uint32_t i = 0; i < jobs; i++) {
    if (worker_init (&workers[i], &sh, i, top, message) == -1) {
      ret = -1;
      break;
    }
  }
  for (uint32_t i = 0; ret == 0 && i < jobs; i++) {
    if (pthread_create (&workers[i].tid, NULL, worker_run, &workers[i])) {
      *message = g_strdup_printf ("pthread_create: %s", g_strerror (errno));
      atomic_store (&sh.stop, 1);
      ret = -1;
      break;
    }
    started++;
  }
  g_mutex_lock (&sh.lock);
  while (sh.finished < started) {
    g_cond_wait_until (&sh.cond, &sh.lock,
                       g_get_monotonic_time () + 200 * G_TIME_SPAN_MILLISECOND);
    if (o->progress && sh.finished < started)
      progress (&sh, t0, false);
  }
  g_mutex_unlock (&sh.lock);
  if (o->progress)
    progress (&sh, t0, true);
  for (uint32_t i = 0; i < started; i++)
    pthread_join (workers[i].tid, NULL);
  for (uint32_t i = 0; i < jobs; i++)
    if (workers[i].sh)
      worker_free (&workers[i]);
  g_free (workers);
  g_rmdir (top);
  if (ret == 0 && sh.fatal) {
    *message = g_steal_pointer (&sh.fatal);
    ret = -1;
  }

  /* The results, in state order. */
  r->seconds = g_get_monotonic_time () / 1e6 - t0;
  r->interrupted = interrupted;
  r->stopped = !o->keep_going && !interrupted &&
    (atomic_load (&sh.bad) || atomic_load (&sh.errors)) &&
    atomic_load (&sh.done) < sh.n;
  r->nr_epochs = m->nr_epochs;
  r->epochs = g_new0 (struct crash_epoch_stats, m->nr_epochs);
  for (uint32_t k = 0; k < m->nr_epochs; k++) {
    r->epochs[k].states = m->epochs[k].end_state - m->epochs[k].first_state;
    r->epochs[k].deduped = p->epoch_deduped[k];
  }
  if (o->list)
    r->list = g_ptr_array_new ();
  for (uint64_t i = 0; i < sh.n; i++) {
    uint64_t s = p->unique[p->shard_lo + i];
    uint32_t k;
    struct crash_epoch_stats *e;
    enum crash_verdict v;

    if (!sh.verdict[i])
      continue;
    v = sh.verdict[i] - 1;
    k = m->points[crash_model_point_of (m, s)].epoch;
    e = &r->epochs[k];
    e->explored++;
    r->explored++;
    switch (v) {
    case CRASH_CONSISTENT:
      e->consistent++;
      r->consistent++;
      break;
    case CRASH_INCONSISTENT:
      e->inconsistent++;
      r->inconsistent++;
      break;
    case CRASH_CHECK_ERROR:
      e->errors++;
      r->errors++;
      break;
    }
    if (v != CRASH_CONSISTENT || o->list) {
      g_autofree char *id = crash_model_state_id (m, s);

      if (v != CRASH_CONSISTENT)
        crash_results_add (r->findings, id, k, v, sh.detail[i]);
      if (o->list)
        crash_results_add (r->list, id, k, v, NULL);
    }
  }

 out:
  for (uint64_t i = 0; i < sh.n; i++)
    g_free (sh.detail[i]);
  g_free (sh.detail);
  g_free (sh.verdict);
  g_free (sh.marks);
  g_free (sh.marks_at);
  g_free (sh.fatal);
  g_mutex_clear (&sh.lock);
  g_cond_clear (&sh.cond);
  return ret;
}

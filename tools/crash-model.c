/* wcache-crash: epochs, crash points and the enumeration of states
 * (crash-model.h holds the state model; this file implements it).
 *
 * Design.  The model is built once from the loaded log: per epoch its
 * candidate pieces, then its crash points, each with its number of
 * states, so that a state index maps to (crash point, generator, argument)
 * by a binary search and nothing per state is stored.  Survivor sets are
 * bitmaps over the epoch's pieces, filled word by word, so a prefix or
 * all-but-one set of a write torn into 100,000 pieces costs 1,600 word
 * stores, not 100,000 bit operations.
 *
 * Random samples come from SplitMix64 seeded with (seed, p, sample), one
 * 64-bit draw per 64 pieces: the same options give the same states on
 * every machine, which sharding relies on.
 *
 * Locking: none; a model is read-only once built.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <glib.h>

#include "crash-id.h"
#include "crash-model.h"
#include "span.h"

void
crash_opts_init (struct crash_opts *o)
{
  memset (o, 0, sizeof *o);
  o->exhaustive = CRASH_DEFAULT_EXHAUSTIVE;
  o->samples = CRASH_DEFAULT_SAMPLES;
  o->from_pos = 0;
  o->to_pos = UINT64_MAX;
}

void
crash_split_write (const struct crash_log *log, uint32_t w, uint64_t unit,
                   GArray *pieces)
{
  const struct crash_write *cw = &log->writes[w];
  uint64_t off = cw->offset, end = cw->offset + cw->length;

  while (off < end) {
    uint64_t next = unit ? (off / unit + 1) * unit : end;
    struct crash_piece p = { w, off, MIN (next, end) - off };

    g_array_append_val (pieces, p);
    off += p.length;
  }
}

/* Candidate pieces before position pos (pieces are in log order). */
static uint32_t
pieces_before (const struct crash_log *log, const struct crash_epoch *ep,
               uint64_t pos)
{
  uint32_t lo = 0, hi = ep->nr_pieces;

  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;

    if (log->writes[ep->pieces[mid].write].index < pos)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static int
cmp_u64 (const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

  return x < y ? -1 : x > y;
}

static uint64_t
states_at (const struct crash_opts *o, uint32_t n, bool *exhaustive)
{
  *exhaustive = n <= o->exhaustive;
  if (*exhaustive)
    return UINT64_C (1) << n;
  /* n + 1 prefixes, n - 1 all-but-one sets, the samples. */
  return 2 * (uint64_t) n + o->samples;
}

struct crash_model *
crash_model_new (const struct crash_log *log, const struct crash_opts *opts,
                 char **message)
{
  struct crash_model *m;
  GArray *points = g_array_new (FALSE, FALSE, sizeof (struct crash_point));
  uint32_t w = 0, mk = 0;
  uint64_t state = 0;

  if (opts->torn && (opts->torn < 512 || !wc_is_power_of_2 (opts->torn))) {
    *message = g_strdup_printf ("torn unit %" PRIu64 ": not a power of two"
                                " of at least 512", opts->torn);
    g_array_free (points, TRUE);
    errno = EINVAL;
    return NULL;
  }
  if (opts->exhaustive > CRASH_MAX_EXHAUSTIVE) {
    *message = g_strdup_printf ("exhaustive %" PRIu32 ": at most %d",
                                opts->exhaustive, CRASH_MAX_EXHAUSTIVE);
    g_array_free (points, TRUE);
    errno = EINVAL;
    return NULL;
  }

  m = g_new0 (struct crash_model, 1);
  m->log = log;
  m->opts = *opts;
  m->nr_epochs = log->nr_flushes + 1;
  m->epochs = g_new0 (struct crash_epoch, m->nr_epochs);

  for (uint32_t k = 0; k < m->nr_epochs; k++) {
    struct crash_epoch *ep = &m->epochs[k];
    GArray *pieces = g_array_new (FALSE, FALSE, sizeof (struct crash_piece));
    GArray *pos = g_array_new (FALSE, FALSE, sizeof (uint64_t));
    uint64_t *p;

    ep->first_entry = k == 0 ? 0 : log->flushes[k - 1] + 1;
    ep->end_entry = k < log->nr_flushes ? log->flushes[k] : log->nr_entries;
    ep->first_write = w;
    /* The crash points: the epoch's end, before each FUA write, after
     * each MARK. */
    g_array_append_val (pos, ep->end_entry);
    for (; w < log->nr_writes && log->writes[w].index < ep->end_entry; w++) {
      if (log->writes[w].fua) {
        g_array_append_val (pos, log->writes[w].index);
      } else {
        ep->nr_candidates++;
        crash_split_write (log, w, opts->torn, pieces);
      }
    }
    ep->end_write = w;
    for (; mk < log->nr_marks && log->marks[mk].index < ep->end_entry; mk++) {
      uint64_t after = log->marks[mk].index + 1;

      g_array_append_val (pos, after);
      ep->nr_marks++;
    }
    ep->nr_pieces = pieces->len;
    ep->pieces = (struct crash_piece *) g_array_free (pieces, FALSE);

    g_array_sort (pos, cmp_u64);
    p = (uint64_t *) pos->data;
    ep->first_point = points->len;
    ep->first_state = state;
    for (guint i = 0; i < pos->len; i++) {
      struct crash_point cp = { .pos = p[i], .epoch = k };

      if ((i > 0 && p[i] == p[i - 1]) ||
          p[i] < opts->from_pos || p[i] > opts->to_pos)
        continue;
      cp.nr_marks = crash_log_marks_before (log, cp.pos);
      cp.nr_pieces = pieces_before (log, ep, cp.pos);
      cp.first_state = state;
      cp.nr_states = states_at (opts, cp.nr_pieces, &cp.exhaustive);
      state += cp.nr_states;
      g_array_append_val (points, cp);
    }
    ep->end_point = points->len;
    ep->end_state = state;
    g_array_free (pos, TRUE);
  }
  m->nr_points = points->len;
  m->points = (struct crash_point *) g_array_free (points, FALSE);
  m->nr_states = state;
  return m;
}

void
crash_model_free (struct crash_model *m)
{
  if (!m)
    return;
  for (uint32_t k = 0; k < m->nr_epochs; k++)
    g_free (m->epochs[k].pieces);
  g_free (m->epochs);
  g_free (m->points);
  g_free (m);
}

uint32_t
crash_model_point_of (const struct crash_model *m, uint64_t s)
{
  uint32_t lo = 0, hi = m->nr_points;

  g_assert (s < m->nr_states);
  /* The last point whose first state is <= s. */
  while (hi - lo > 1) {
    uint32_t mid = lo + (hi - lo) / 2;

    if (m->points[mid].first_state <= s)
      lo = mid;
    else
      hi = mid;
  }
  return lo;
}

void
crash_model_gen (const struct crash_model *m, uint64_t s,
                 enum crash_gen *gen, uint64_t *arg)
{
  const struct crash_point *cp = &m->points[crash_model_point_of (m, s)];
  uint64_t i = s - cp->first_state, n = cp->nr_pieces;

  if (cp->exhaustive) {
    *gen = CRASH_GEN_GRAY;
    *arg = i;
  } else if (i <= n) {
    *gen = CRASH_GEN_PREFIX;
    *arg = i;
  } else if (i < 2 * n) {
    *gen = CRASH_GEN_ALL_BUT;
    *arg = i - (n + 1);
  } else {
    *gen = CRASH_GEN_SAMPLE;
    *arg = i - 2 * n;
  }
}

static uint64_t
splitmix64 (uint64_t *x)
{
  uint64_t z = (*x += UINT64_C (0x9e3779b97f4a7c15));

  z = (z ^ (z >> 30)) * UINT64_C (0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C (0x94d049bb133111eb);
  return z ^ (z >> 31);
}

/* Bits [0, n) set, the rest of the epoch's words clear. */
static void
fill_prefix (uint64_t *sel, uint32_t words, uint64_t n)
{
  uint32_t full = n / 64;

  memset (sel, 0, words * sizeof *sel);
  memset (sel, 0xff, full * sizeof *sel);
  if (n % 64)
    sel[full] = (UINT64_C (1) << (n % 64)) - 1;
}

void
crash_model_selection (const struct crash_model *m, uint64_t s, uint64_t *sel)
{
  const struct crash_point *cp = &m->points[crash_model_point_of (m, s)];
  uint32_t words = crash_words (m->epochs[cp->epoch].nr_pieces);
  uint64_t n = cp->nr_pieces, arg, x;
  enum crash_gen gen;

  crash_model_gen (m, s, &gen, &arg);
  switch (gen) {
  case CRASH_GEN_GRAY:
    memset (sel, 0, words * sizeof *sel);
    if (words)
      sel[0] = arg ^ (arg >> 1);
    return;
  case CRASH_GEN_PREFIX:
    fill_prefix (sel, words, arg);
    return;
  case CRASH_GEN_ALL_BUT:
    fill_prefix (sel, words, n);
    sel[arg / 64] &= ~(UINT64_C (1) << (arg % 64));
    return;
  case CRASH_GEN_SAMPLE:
    x = m->opts.seed ^ (cp->pos * UINT64_C (0x9e3779b97f4a7c15));
    x = splitmix64 (&x) ^ arg;
    memset (sel, 0, words * sizeof *sel);
    for (uint64_t i = 0; i < crash_words (n); i++)
      sel[i] = splitmix64 (&x);
    if (n % 64)
      sel[n / 64] &= (UINT64_C (1) << (n % 64)) - 1;
    return;
  }
}

char *
crash_model_state_id (const struct crash_model *m, uint64_t s)
{
  const struct crash_point *cp = &m->points[crash_model_point_of (m, s)];
  g_autofree uint64_t *sel =
    g_new (uint64_t, crash_words (m->epochs[cp->epoch].nr_pieces) + 1);

  crash_model_selection (m, s, sel);
  return crash_id_format (cp->epoch, cp->pos, m->opts.torn, sel,
                          cp->nr_pieces);
}

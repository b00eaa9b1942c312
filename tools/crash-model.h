/* wcache-crash: the crash states of a write log (wcache(7), CRASH STATES).
 *
 * THE STATE MODEL
 *
 * The log's entries e[0..m) are what the disk acknowledged, in order.  A
 * FLUSH entry cuts the log into epochs: epoch k holds the entries after
 * the k-th FLUSH up to and including the next one (the last epoch ends
 * with the log).
 *
 * A crash point is a position p in 0..m: entries [0, p) were acknowledged
 * before the power went, entries [p, m) never happened.  Its epoch is the
 * number of FLUSH entries in [0, p).  What the media holds after a crash
 * at p:
 *   - every write and DISCARD before the last FLUSH before p (S3);
 *   - every write or DISCARD in [0, p) with the FUA flag (S2);
 *   - any subset of the other writes and DISCARDs of p's epoch before p:
 *     the candidates.  With a torn unit U, a candidate is cut at every
 *     multiple of U on the disk into pieces, and any subset of the pieces
 *     survives: a piece never spans two units, so a unit is never split;
 *   - where surviving writes overlap, the later one in the log wins.
 * Nothing in [p, m) reaches the media.  A DISCARD reads back as zeros.
 *
 * The crash points explored are
 *   - p just before each FLUSH (the end of an epoch: every candidate may
 *     or may not have made it), and p = m;
 *   - p just before each write or DISCARD with FUA (before it, it is not
 *     on the media; after it, it is);
 *   - p just after each MARK (the checker's inputs change there: a MARK
 *     such as "record 7" promises something from then on).
 * Any other crash point gives media images already given at the next
 * crash point with the same marks, so it adds nothing.
 *
 * A state is a crash point and a survivor set over its n candidate pieces
 * (in log order, then by disk offset).  Per crash point:
 *   - n <= K (--exhaustive): all 2^n subsets, in Gray code order, so
 *     neighbours differ by one piece;
 *   - n > K: the n + 1 prefixes (the first j pieces, j = 0..n), the n - 1
 *     "all but piece j" sets for j < n - 1 (all but the last one is a
 *     prefix), and N (--samples) random subsets, each piece kept with
 *     probability 1/2, drawn from the seed, p and the sample's number.
 * States are numbered in that order, crash point by crash point: the
 * state index.  An epoch of n independent candidates and no MARK or FUA
 * write thus has 2^n states (n <= K); the plan (crash-plan.h) then drops
 * states whose media image and marks equal an earlier state's.
 *
 * A state's ID (crash-id.h) names its epoch, p, the torn unit and the
 * kept pieces, so it can be rebuilt from the log and the base alone.
 *
 * Threads: a model is read-only after crash_model_new.
 */
#ifndef WC_CRASH_MODEL_H
#define WC_CRASH_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "crash-log.h"

#define CRASH_DEFAULT_EXHAUSTIVE 10
#define CRASH_MAX_EXHAUSTIVE 30
#define CRASH_DEFAULT_SAMPLES 100

/* What shapes the state space. */
struct crash_opts {
  uint32_t exhaustive;          /* K */
  uint32_t samples;             /* N */
  uint64_t seed;
  uint64_t torn;                /* the torn unit in bytes; 0: whole writes */
  uint64_t from_pos;            /* crash points p with from_pos <= p */
  uint64_t to_pos;              /*   and p <= to_pos */
};

void crash_opts_init (struct crash_opts *o);

/* A candidate piece: bytes [offset, offset + length) of write w. */
struct crash_piece {
  uint32_t write;               /* index into log->writes */
  uint64_t offset;
  uint64_t length;
};

struct crash_epoch {
  uint64_t first_entry;         /* entries [first_entry, end_entry) before */
  uint64_t end_entry;           /*   its FLUSH (end_entry: the FLUSH, or m) */
  uint32_t first_write;         /* log->writes [first_write, end_write) */
  uint32_t end_write;
  struct crash_piece *pieces;   /* its candidates' pieces, in order */
  uint32_t nr_pieces;
  uint32_t nr_candidates;       /* writes that are not FUA */
  uint32_t nr_marks;            /* MARKs in the epoch */
  uint32_t first_point;         /* its crash points in model->points */
  uint32_t end_point;
  uint64_t first_state;         /* its states: [first_state, end_state) */
  uint64_t end_state;
};

enum crash_gen {
  CRASH_GEN_GRAY,               /* arg: the Gray code index */
  CRASH_GEN_PREFIX,             /* arg: pieces kept, from the first */
  CRASH_GEN_ALL_BUT,            /* arg: the piece dropped */
  CRASH_GEN_SAMPLE,             /* arg: the sample's number */
};

struct crash_point {
  uint64_t pos;                 /* entries [0, pos) happened */
  uint32_t epoch;
  uint32_t nr_marks;            /* MARKs before pos */
  uint32_t nr_pieces;           /* candidate pieces before pos */
  bool exhaustive;
  uint64_t first_state;         /* its states' indexes */
  uint64_t nr_states;
};

struct crash_model {
  const struct crash_log *log;
  struct crash_opts opts;
  struct crash_epoch *epochs;
  uint32_t nr_epochs;
  struct crash_point *points;   /* sorted by pos */
  uint32_t nr_points;
  uint64_t nr_states;
};

/* NULL with errno EINVAL and *message for options the log cannot take
 * (a torn unit that is not a power of two of at least 512). */
struct crash_model *crash_model_new (const struct crash_log *log,
                                     const struct crash_opts *opts,
                                     char **message);
void crash_model_free (struct crash_model *m);

/* The crash point of state s (s < nr_states). */
uint32_t crash_model_point_of (const struct crash_model *m, uint64_t s);
/* How state s is generated: its crash point's generator and argument. */
void crash_model_gen (const struct crash_model *m, uint64_t s,
                      enum crash_gen *gen, uint64_t *arg);
/* Fills sel (words for the epoch's nr_pieces bits) with state s's
 * survivor set: bit i is candidate piece i of its epoch. */
void crash_model_selection (const struct crash_model *m, uint64_t s,
                            uint64_t *sel);

/* Words in a bitmap of n bits. */
static inline uint32_t
crash_words (uint64_t n)
{
  return (n + 63) / 64;
}

static inline bool
crash_bit (const uint64_t *b, uint64_t i)
{
  return (b[i / 64] >> (i % 64)) & 1;
}

static inline void
crash_set_bit (uint64_t *b, uint64_t i)
{
  b[i / 64] |= UINT64_C (1) << (i % 64);
}

/* Splits write w of the log into pieces at multiples of unit (0: one
 * piece), appending them to pieces (a GArray of struct crash_piece). */
struct _GArray;
void crash_split_write (const struct crash_log *log, uint32_t w,
                        uint64_t unit, struct _GArray *pieces);


/* The ID of state s (crash-id.h; g_free). */
char *crash_model_state_id (const struct crash_model *m, uint64_t s);

#endif /* WC_CRASH_MODEL_H */

/* Sequences for the randomized engine check (test-model.c, where the
 * design is told): operations, trials, their generator (model-gen.c) and
 * the runner that plays them on two engines against the reference model
 * (model-run.c). */
#ifndef WC_MODEL_SEQ_H
#define WC_MODEL_SEQ_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <glib.h>

#include "wcache.h"

/* Random numbers (splitmix64): every trial derives from (seed, index). */
struct rng {
  uint64_t s;
};

static inline uint64_t
rnd (struct rng *r)
{
  uint64_t z = (r->s += UINT64_C (0x9e3779b97f4a7c15));

  z = (z ^ (z >> 30)) * UINT64_C (0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C (0x94d049bb133111eb);
  return z ^ (z >> 31);
}

/* 0 .. n-1; n > 0. */
static inline uint64_t
below (struct rng *r, uint64_t n)
{
  return rnd (r) % n;
}

static inline bool
chance (struct rng *r, unsigned percent)
{
  return below (r, 100) < percent;
}

static inline void
fill_random (uint8_t *buf, size_t n, uint64_t seed)
{
  struct rng r = { seed };

  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = rnd (&r);
    memcpy (buf + i, &v, MIN (8, n - i));
  }
}

/* ---- Operations and trials ---------------------------------------------- */

enum op_kind {
  OP_READ, OP_WRITE, OP_ZERO, OP_TRIM, OP_FLUSH, OP_MODE, OP_CUT, OP_POWER_ON,
  OP_ARM,                       /* arm a cut on engine A only (S9) */
  OP_MARK,
};

/* Marks and the marks a cut can be armed for. */
#define MARK_NAMES 2

enum data_kind { DATA_RANDOM, DATA_ZEROS, DATA_BYTE };

/* A media failure during one operation: the skip-th matching media op of
 * the operation and the count - 1 after it fail (count -1: all after). */
enum inj_kind { INJ_NONE, INJ_READ, INJ_WRITE, INJ_FLUSH };

/* Requests go through wc_read ... wc_flush, or through wc_submit with the
 * engine's epoch, or with another epoch (a connection from before a cut:
 * it must fail with EIO, S8). */
enum epoch_kind { EPOCH_ANY, EPOCH_CURRENT, EPOCH_OTHER };

struct op {
  enum op_kind kind;
  uint64_t offset;
  uint32_t count;
  unsigned flags;               /* WC_FUA, WC_WRITETHROUGH; flush WC_FORCE */
  enum data_kind data;
  uint64_t data_seed;
  enum wc_mode mode;
  struct wc_cut cut;             /* cut; arm: the cut armed */
  enum wc_trigger trigger;      /* arm: NONE disarms */
  uint64_t n;                   /* arm: events (bytes) before the cut */
  unsigned mark;                /* arm (MARK), mark: the name's number */
  bool pick_seed;               /* the engine picks the cut's seed; */
  bool seed_known;              /* it did, and cut.seed is the one */
  enum inj_kind inj;
  unsigned inj_skip;
  int inj_count;
  enum epoch_kind epoch;
};

struct trial {
  uint64_t seed;                /* the run's */
  uint64_t index;
  uint64_t size;
  uint32_t bs;
  uint64_t cache_size;
  bool big;                     /* a disk of many MiB: fewer operations */
  bool cached;                  /* the profile that keeps many blocks dirty
                                 * (few flushes, a cache the size of the
                                 * disk), so cuts have much to choose from */
  bool writev;                  /* engine A's media has writev; B's not */
  bool oracle;
  enum wc_mode mode;
  bool init_random;             /* the media starts random, else zeros */
  uint64_t init_seed;
};

/* What trials add up to. */
struct run_totals {
  uint64_t ops;
  uint64_t cuts;
  uint64_t triggered;           /* of the cuts, fired by a trigger (S9) */
};

/* model-gen.c */
const char *mark_name (unsigned i);
void gen_trial (struct trial *t, uint64_t seed, uint64_t index);
GArray *gen_ops (const struct trial *t);        /* of struct op */
const char *op_name (enum op_kind k);
/* A write's data: op->count bytes. */
void op_data (const struct op *op, uint8_t *buf);
void op_format (GString *s, const struct op *op);
void trial_format (GString *s, const struct trial *t);

/* model-run.c: runs ops[0, n) on a fresh pair of engines and checks each
 * against the model.  Returns NULL, or the first violation as "op N
 * (what): rule: ..." (g_free it); *fail_at is the failing op's index (n:
 * after the last).  verbose lists each op as it runs; *running, if not
 * NULL, is the op running (for a crash report); *totals, if not NULL, is
 * added to.  An op whose cut seed the engine picked records it. */
char *run_trial (const struct trial *t, struct op *ops, unsigned n,
                 bool verbose, unsigned *running, unsigned *fail_at,
                 struct run_totals *totals);

#endif

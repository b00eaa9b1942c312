/* The multi-threaded part of the randomized engine check (test-model.c):
 * writers, flushers, a mode switcher and a power cutter on one engine; see
 * model-threads.c. */
#ifndef WC_MODEL_THREADS_H
#define WC_MODEL_THREADS_H

#include <stdint.h>

struct mt_totals {
  uint64_t requests;            /* writes, zeroes and trims acknowledged */
  uint64_t flushes;             /* flushes whose result was checked */
  uint64_t switches;            /* mode switches */
  uint64_t cuts;                /* power cuts */
};

/* Runs the index-th random configuration of the run seeded with seed.
 * Returns NULL, or the first violation, naming its rule (g_free it). */
char *mt_run (uint64_t seed, uint64_t index, struct mt_totals *totals);

#endif

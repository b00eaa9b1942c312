/* wcache-crash: which states an exploration checks.
 *
 * Calling sequence
 *   plan = crash_plan_new (model, shard, nshards, &msg)
 *   plan->unique[plan->shard_lo .. plan->shard_hi)   this shard's states,
 *                                                    ascending indexes
 *   crash_plan_free (plan)
 *
 * Dedupe.  Two states are the same when their media images are the same
 * byte for byte and the same MARKs precede their crash points (the
 * checker's inputs).  Only the first in state order is checked; the
 * others count as deduped.  Images are compared by a fingerprint: every
 * granule of the disk that any write touches (granule: the log sector, or
 * the torn unit if smaller) hashed with XXH3-128 from the data that
 * survives there, summed over the disk as 2 x 64-bit lanes, and kept up
 * to date by a walk (crash-walk.h) as states change, so a state costs the
 * granules that differ from the previous one.  A granule the log leaves
 * as the base had it counts as "the base's own data", whatever that is:
 * dedupe needs only the log, so every machine of a sharded exploration
 * computes the same plan without the base.
 *
 * Shards.  The unique states, in state order, are cut into nshards
 * contiguous runs of near-equal length; shard i (1-based) takes the i-th.
 * Contiguous runs keep neighbouring states together, so each machine's
 * incremental walk stays short.  Shards 1..n cover the unique states once.
 */
#ifndef WC_CRASH_PLAN_H
#define WC_CRASH_PLAN_H

#include <stdint.h>

#include "crash-model.h"

struct crash_plan {
  const struct crash_model *m;
  uint64_t *unique;             /* state indexes checked, ascending */
  uint64_t nr_unique;
  uint64_t nr_deduped;
  uint64_t *epoch_deduped;      /* per epoch */
  uint32_t shard, nshards;      /* 1-based */
  uint64_t shard_lo, shard_hi;  /* this shard: unique[shard_lo, shard_hi) */
  char id[33];                  /* XXH3-128 of every state's fingerprint
                                 * and marks, in order, in hex: equal for
                                 * one log and one state space */
};

/* NULL with errno and *message (reading the log's data failed). */
struct crash_plan *crash_plan_new (const struct crash_model *m,
                                   uint32_t shard, uint32_t nshards,
                                   char **message);
void crash_plan_free (struct crash_plan *p);

/* Shard i of n (1-based) of count items: [*lo, *hi). */
void crash_shard_range (uint64_t count, uint32_t i, uint32_t n,
                        uint64_t *lo, uint64_t *hi);

#endif /* WC_CRASH_PLAN_H */

/* wcache-crash: the results of an exploration, as text and JSON, and the
 * merge of sharded results.
 *
 * The JSON document (--json), one object:
 *   tool, version            "wcache-crash", the package version
 *   log, base, checks[]      as given
 *   options                  exhaustive, samples, seed, torn, from_mark,
 *                            to_mark
 *   plan_id                  a hash of the log and the options' state
 *                            space: shards of one exploration share it
 *   shard, shards            this shard, 1-based, of how many
 *   states                   states enumerated (all shards)
 *   deduped                  of those, the same as an earlier state
 *   unique                   states to check (all shards)
 *   shard_states             of those, this shard's
 *   explored, consistent, inconsistent, errors
 *   seconds, plan_seconds, states_per_second
 *   interrupted, stopped     Ctrl-C; stopped at the first bad state
 *   epochs[]                 per epoch: epoch, states, deduped, explored,
 *                            consistent, inconsistent, errors
 *   findings[]               per state not consistent, in state order:
 *                            id, epoch, verdict, detail
 *   list[]                   with --list: every state explored: id, verdict
 *   merged                   (merge only) the shards merged
 */
#ifndef WC_CRASH_REPORT_H
#define WC_CRASH_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <glib.h>

#include "crash-check.h"

struct crash_epoch_stats {
  uint64_t states, deduped;
  uint64_t explored, consistent, inconsistent, errors;
};

struct crash_finding {
  char *id;
  uint32_t epoch;
  enum crash_verdict verdict;
  char *detail;
};

struct crash_results {
  char *log, *base;
  GPtrArray *checks;            /* char * */
  uint32_t exhaustive, samples;
  uint64_t seed, torn;
  char *from_mark, *to_mark;    /* or NULL */
  char *plan_id;
  uint32_t shard, shards;
  uint64_t states, deduped, unique, shard_states;
  uint64_t explored, consistent, inconsistent, errors;
  double seconds, plan_seconds;
  bool interrupted, stopped;
  struct crash_epoch_stats *epochs;
  uint32_t nr_epochs;
  GPtrArray *findings;          /* struct crash_finding * */
  GPtrArray *list;              /* struct crash_finding * (no detail), or
                                 * NULL without --list */
  uint32_t merged;              /* 0, or shards merged */
};

struct crash_results *crash_results_new (void);
void crash_results_free (struct crash_results *r);
void crash_results_add (GPtrArray *a, const char *id, uint32_t epoch,
                        enum crash_verdict v, const char *detail);

/* 0 every state explored consistent, 1 any inconsistent, 2 a checker
 * error and nothing inconsistent, 130 interrupted with nothing found. */
int crash_results_status (const struct crash_results *r);

void crash_results_print (FILE *fp, const struct crash_results *r);
char *crash_results_json (const struct crash_results *r);
/* Reads one --json document.  NULL with *message. */
struct crash_results *crash_results_load (const char *path, char **message);
/* Merges shard results of one exploration (same plan_id and shard
 * count, each shard once).  NULL with *message; missing shards are an
 * error. */
struct crash_results *crash_results_merge (struct crash_results **in,
                                           size_t n, char **message);

#endif /* WC_CRASH_REPORT_H */

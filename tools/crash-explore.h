/* wcache-crash: exploring a plan's states with a pool of workers.
 *
 * Calling sequence
 *   crash_explore (plan, &opts, results, &msg)    fills results
 *   crash_explore_interrupt ()                    from a SIGINT handler:
 *                                                 workers finish the state
 *                                                 they are on, and the
 *                                                 results say so
 *
 * Each worker owns a directory under opts.workdir with its scratch image
 * (crash-image.h), its checkers' files and its marks file; they are
 * removed at the end.  States are handed out in order, in small runs, so
 * each worker's walk only moves forward.  Without keep_going the workers
 * stop handing out states once one is not consistent.
 *
 * Returns 0 (the results say what was found), or -1 with *message when
 * the exploration itself failed (no scratch space, a walk failed).
 */
#ifndef WC_CRASH_EXPLORE_H
#define WC_CRASH_EXPLORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crash-check.h"
#include "crash-plan.h"
#include "crash-report.h"

struct crash_explore_opts {
  const char *base;
  struct crash_checker *const *checkers;
  size_t nr_checkers;
  uint32_t jobs;
  const char *workdir;
  bool keep_going;
  bool list;                    /* results->list gets every state */
  bool progress;                /* a progress line on stderr */
};

int crash_explore (const struct crash_plan *plan,
                   const struct crash_explore_opts *o,
                   struct crash_results *r, char **message);
void crash_explore_interrupt (void);

#endif /* WC_CRASH_EXPLORE_H */

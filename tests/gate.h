/* A gate for tests that hold one thread up at a chosen point (a media op
 * through a memmedia hook, a held lock) while they do something else, and
 * then let it go: no sleeps, so "the thread is there" is a fact. */
#ifndef WC_TEST_GATE_H
#define WC_TEST_GATE_H

#include <glib.h>

#include "memmedia.h"

/* Holds up the first thread that reaches it (in a media op, or holding a
 * lock) until the test lets it go; later arrivals pass.  The held thread
 * calls gate_hold; the test waits for it with gate_wait_held and lets it
 * go with gate_release. */
struct gate {
  GMutex lock;
  GCond cond;
  int stage;                    /* 0: open; 1: a thread held; 2: released */
};
void gate_init (struct gate *g);
void gate_clear (struct gate *g);
void gate_hold (struct gate *g);
void gate_wait_held (struct gate *g);
void gate_release (struct gate *g);
/* memmedia hooks (hook_arg: a struct gate) that hold the first read, write
 * or flush in the media. */
void gate_read_hook (struct memmedia *m, enum mm_op op, uint64_t offset,
                     uint32_t count, void *arg);
void gate_write_hook (struct memmedia *m, enum mm_op op, uint64_t offset,
                      uint32_t count, void *arg);
void gate_flush_hook (struct memmedia *m, enum mm_op op, uint64_t offset,
                      uint32_t count, void *arg);

#endif /* WC_TEST_GATE_H */

/* The test gate (gate.h). */
#include <config.h>

#include <stdbool.h>
#include <string.h>

#include "gate.h"

void
gate_init (struct gate *g)
{
  memset (g, 0, sizeof *g);
  g_mutex_init (&g->lock);
  g_cond_init (&g->cond);
}

void
gate_clear (struct gate *g)
{
  g_cond_clear (&g->cond);
  g_mutex_clear (&g->lock);
}

/* Waits until the gate has reached stage. */
static void
wait_stage (struct gate *g, int stage)
{
  g_mutex_lock (&g->lock);
  while (g->stage < stage)
    g_cond_wait (&g->cond, &g->lock);
  g_mutex_unlock (&g->lock);
}

void
gate_hold (struct gate *g)
{
  bool first;

  g_mutex_lock (&g->lock);
  first = g->stage == 0;
  if (first) {
    g->stage = 1;
    g_cond_broadcast (&g->cond);
  }
  g_mutex_unlock (&g->lock);
  if (first)
    wait_stage (g, 2);
}

void
gate_wait_held (struct gate *g)
{
  wait_stage (g, 1);
}

void
gate_release (struct gate *g)
{
  g_mutex_lock (&g->lock);
  g->stage = 2;
  g_cond_broadcast (&g->cond);
  g_mutex_unlock (&g->lock);
}

void
gate_read_hook (struct memmedia *m, enum mm_op op, uint64_t offset,
                uint32_t count, void *arg)
{
  if (op == MM_READ)
    gate_hold (arg);
}

void
gate_write_hook (struct memmedia *m, enum mm_op op, uint64_t offset,
                 uint32_t count, void *arg)
{
  if (op == MM_WRITE)
    gate_hold (arg);
}

void
gate_flush_hook (struct memmedia *m, enum mm_op op, uint64_t offset,
                 uint32_t count, void *arg)
{
  if (op == MM_FLUSH)
    gate_hold (arg);
}

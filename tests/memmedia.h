/* An in-memory media for engine tests: the durable state the test inspects,
 * with counters, fault injection and a hook to race against write-backs.
 * Two ops tables: memmedia_ops has no writev (the engine copies a run into
 * one buffer), memmedia_writev_ops has one (the engine gathers). */
#ifndef WC_MEMMEDIA_H
#define WC_MEMMEDIA_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "wcache.h"

enum mm_op { MM_READ, MM_WRITE, MM_ZERO, MM_FLUSH };

struct memmedia {
  pthread_mutex_t lock;         /* protects everything below */
  uint8_t *buf;                 /* the durable content */
  /* NULL, or (memmedia_track_durable) what would survive a crash of the
   * media itself: buf as of the last successful flush, plus the FUA
   * writes since.  buf is then what the media shows. */
  uint8_t *durable;
  uint64_t size;
  unsigned reads, writes, fua_writes, zeroes, flushes;
  unsigned set_modes;           /* set_mode calls, the last with mode */
  enum wc_mode mode;
  int fail_reads;               /* reads to fail: -1 all, 0 none */
  int fail_writes;              /* writes/zeroes to fail: likewise */
  int fail_flushes;             /* likewise for flushes */
  /* Called before each op, without the lock; may block (a barrier).
   * A writev is an MM_WRITE. */
  void (*hook) (struct memmedia *m, enum mm_op op, uint64_t offset,
                uint32_t count, void *arg);
  void *hook_arg;
};

extern const struct wc_media_ops memmedia_ops;
extern const struct wc_media_ops memmedia_writev_ops;

struct memmedia *memmedia_new (uint64_t size);
void memmedia_free (struct memmedia *m);
/* Fills cfg for an engine over m (defaults otherwise). */
void memmedia_config (struct memmedia *m, struct wc_config *cfg);
/* Reads the durable content directly (a wc_read_fn). */
int memmedia_read_direct (void *m, void *buf, uint32_t count,
                          uint64_t offset);
/* From now on, tell what a flush or FUA made durable from what was only
 * written (m->durable).  Call it before any op. */
void memmedia_track_durable (struct memmedia *m);
/* Reads m->durable (a wc_read_fn). */
int memmedia_read_durable (void *m, void *buf, uint32_t count,
                           uint64_t offset);

#endif

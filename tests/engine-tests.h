/* Shared by the engine's unit tests (test-engine*.c, one file per rule of
 * wcache(7)): a fixture with an in-memory media (memmedia.c), helpers that
 * look at both sides of the durability boundary, and each file's
 * registration function, which test-engine.c's main calls in rule order. */
#ifndef WC_ENGINE_TESTS_H
#define WC_ENGINE_TESTS_H

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

#include "gate.h"
#include "memmedia.h"
#include "wcache.h"

#define BS 4096u
#define NBLOCKS 256u
#define DISK ((uint64_t) NBLOCKS * BS)

struct fx {
  struct memmedia *m;
  struct wc_engine *e;
};

/* A DISK-sized memmedia and an engine on it. */
void fx_init (struct fx *f, enum wc_mode mode, uint64_t cache_size,
              bool oracle);
void fx_fini (struct fx *f);
struct wc_engine *engine_new (struct memmedia *m, enum wc_mode mode,
                              uint64_t cache_size, bool oracle);

/* Writes block blkno filled with v. */
void put (struct wc_engine *e, uint64_t blkno, uint8_t v, unsigned flags);
bool all_bytes (const uint8_t *p, size_t n, uint8_t v);
/* Whether the durable media holds v in all of block blkno. */
bool media_is (struct memmedia *m, uint64_t blkno, uint8_t v);
/* Whether the engine reads v in all of block blkno. */
bool reads_as (struct wc_engine *e, uint64_t blkno, uint8_t v);
/* The oracle finds no violation, exact or within the contract per unit. */
void assert_oracle_clean (struct wc_engine *e, uint32_t unit);
struct wc_stats stats (struct wc_engine *e);
struct wc_cut mkcut (enum wc_policy policy, uint64_t seed);

/* One per file, in rule order (test-engine.c's main). */
void engine_tests_basics (void);
void engine_tests_locks (void);
void engine_tests_S1 (void);
void engine_tests_S2 (void);
void engine_tests_S3 (void);
void engine_tests_S4 (void);
void engine_tests_S5 (void);
void engine_tests_S6 (void);
void engine_tests_S7 (void);
void engine_tests_S8 (void);
void engine_tests_S9 (void);
void engine_tests_S10 (void);

#endif /* WC_ENGINE_TESTS_H */

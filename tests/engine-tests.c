/* The engine tests' fixture and helpers (engine-tests.h). */
#include <config.h>

#include <string.h>

#include "engine-tests.h"

struct wc_engine *
engine_new (struct memmedia *m, enum wc_mode mode, uint64_t cache_size,
            bool oracle)
{
  struct wc_config cfg;
  struct wc_engine *e;

  memmedia_config (m, &cfg);
  cfg.mode = mode;
  cfg.cache_size = cache_size;
  cfg.oracle = oracle;
  e = wc_engine_new (&cfg);
  g_assert_nonnull (e);
  return e;
}

void
fx_init (struct fx *f, enum wc_mode mode, uint64_t cache_size, bool oracle)
{
  memset (f, 0, sizeof *f);
  f->m = memmedia_new (DISK);
  f->e = engine_new (f->m, mode, cache_size, oracle);
}

void
fx_fini (struct fx *f)
{
  wc_engine_free (f->e);
  memmedia_free (f->m);
}

/* Writes block blkno filled with v. */
void
put (struct wc_engine *e, uint64_t blkno, uint8_t v, unsigned flags)
{
  uint8_t buf[BS];

  memset (buf, v, BS);
  g_assert_cmpint (wc_write (e, buf, BS, blkno * BS, flags), ==, 0);
}

bool
all_bytes (const uint8_t *p, size_t n, uint8_t v)
{
  for (size_t i = 0; i < n; i++)
    if (p[i] != v)
      return false;
  return true;
}

/* Whether the durable media holds v in all of block blkno. */
bool
media_is (struct memmedia *m, uint64_t blkno, uint8_t v)
{
  bool r;

  pthread_mutex_lock (&m->lock);
  r = all_bytes (m->buf + blkno * BS, BS, v);
  pthread_mutex_unlock (&m->lock);
  return r;
}

bool
reads_as (struct wc_engine *e, uint64_t blkno, uint8_t v)
{
  uint8_t buf[BS];

  g_assert_cmpint (wc_read (e, buf, BS, blkno * BS), ==, 0);
  return all_bytes (buf, BS, v);
}

void
assert_oracle_clean (struct wc_engine *e, uint32_t unit)
{
  struct wc_verify_report r;

  g_assert_cmpint (wc_oracle_verify (e, WC_VERIFY_EXACT, 512, NULL, NULL,
                                     &r), ==, 0);
  g_assert_cmpuint (r.violations, ==, 0);
  g_assert_cmpint (wc_oracle_verify (e, WC_VERIFY_CONTRACT, unit, NULL, NULL,
                                     &r), ==, 0);
  g_assert_cmpuint (r.violations, ==, 0);
}

struct wc_stats
stats (struct wc_engine *e)
{
  struct wc_stats st;

  wc_get_stats (e, &st);
  return st;
}

struct wc_cut
mkcut (enum wc_policy policy, uint64_t seed)
{
  struct wc_cut cut;

  wc_cut_init (&cut);
  cut.policy = policy;
  cut.seed = seed;
  cut.seed_set = true;
  return cut;
}

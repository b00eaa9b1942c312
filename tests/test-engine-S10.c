/* Engine tests for S10 of wcache(7): the oracle, and its check of the
 * media after a cut. */
#include <config.h>

#include <errno.h>
#include <string.h>

#include "engine-tests.h"

/* A whole-block check flags torn blocks: the verifier can fail. */
static void
test_S10_whole_block_check_sees_torn (void)
{
  struct fx f;
  struct wc_cut cut = mkcut (WC_CUT_TORN, 9);
  struct wc_cut_report rep;
  struct wc_verify_report vr;

  fx_init (&f, WC_MODE_WRITEBACK, 1 << 20, true);
  for (unsigned i = 0; i < 32; i++)
    put (f.e, i, 0x10 + i, 0);
  g_assert_cmpint (wc_power_cut (f.e, &cut, &rep), ==, 0);
  g_assert_cmpuint (rep.torn, >, 0);
  assert_oracle_clean (f.e, 512);
  g_assert_cmpint (wc_oracle_verify (f.e, WC_VERIFY_CONTRACT, BS, NULL, NULL,
                                     &vr), ==, 0);
  g_assert_cmpuint (vr.violations, >, 0);
  fx_fini (&f);
}

static void
test_S10_detects_corruption (void)
{
  struct fx f;
  struct wc_cut cut = mkcut (WC_CUT_LOSE, 1);
  struct wc_verify_report vr;

  fx_init (&f, WC_MODE_WRITEBACK, 1 << 20, true);
  put (f.e, 1, 0x11, 0);
  g_assert_cmpint (wc_flush (f.e, 0), ==, 0);
  put (f.e, 2, 0x21, 0);
  put (f.e, 2, 0x22, 0);
  g_assert_cmpint (wc_power_cut (f.e, &cut, NULL), ==, 0);
  assert_oracle_clean (f.e, BS);

  /* A content written before the cut passes the contract, not the exact
   * check (lose keeps nothing). */
  memset (f.m->buf + 2 * BS, 0x21, BS);
  g_assert_cmpint (wc_oracle_verify (f.e, WC_VERIFY_CONTRACT, BS, NULL, NULL,
                                     &vr), ==, 0);
  g_assert_cmpuint (vr.violations, ==, 0);
  g_assert_cmpint (wc_oracle_verify (f.e, WC_VERIFY_EXACT, 512, NULL, NULL,
                                     &vr), ==, 0);
  g_assert_cmpuint (vr.violations, ==, BS / 512);
  g_assert_cmpuint (vr.first_bad_offset, ==, 2 * BS);

  /* A content never written fails both. */
  f.m->buf[1 * BS + 100] ^= 1;
  g_assert_cmpint (wc_oracle_verify (f.e, WC_VERIFY_CONTRACT, BS, NULL, NULL,
                                     &vr), ==, 0);
  g_assert_cmpuint (vr.violations, ==, 1);
  g_assert_cmpuint (vr.first_bad_offset, ==, 1 * BS);
  fx_fini (&f);
}

static void
test_S10_needs_oracle (void)
{
  struct fx f;
  struct wc_verify_report vr;

  fx_init (&f, WC_MODE_WRITEBACK, 1 << 20, false);
  g_assert_cmpint (wc_oracle_verify (f.e, WC_VERIFY_EXACT, 512, NULL, NULL,
                                     &vr), ==, -1);
  g_assert_cmpint (errno, ==, ENOTSUP);
  fx_fini (&f);
}

/* S10: blocks torn by an earlier cut and not written since are checked
 * against what that cut left, not against their pre-cut history. */
static void
test_S10_earlier_torn_cut (void)
{
  struct fx f;
  struct wc_cut torn = mkcut (WC_CUT_TORN, 9), lose = mkcut (WC_CUT_LOSE, 1);
  struct wc_cut_report rep;

  fx_init (&f, WC_MODE_WRITEBACK, 1 << 20, true);
  for (unsigned i = 0; i < 16; i++)
    put (f.e, i, 0x10 + i, 0);
  g_assert_cmpint (wc_power_cut (f.e, &torn, &rep), ==, 0);
  g_assert_cmpuint (rep.torn, >, 0);
  g_assert_cmpint (wc_power_on (f.e), ==, 0);
  put (f.e, 100, 0x55, 0);
  g_assert_cmpint (wc_power_cut (f.e, &lose, NULL), ==, 0);
  assert_oracle_clean (f.e, BS);        /* whole blocks: the torn ones too */
  fx_fini (&f);
}

/* S10: a survivor run the media refuses during a cut is lost; the runs of
 * the same block that reached the media stand, and the oracle says so. */
static int fail_countdown;

static void
fail_second_write_hook (struct memmedia *m, enum mm_op op, uint64_t offset,
                        uint32_t count, void *arg)
{
  if (op == MM_WRITE && --fail_countdown == 0) {
    pthread_mutex_lock (&m->lock);
    m->fail_writes = 1;
    pthread_mutex_unlock (&m->lock);
  }
}

static void
test_S10_cut_survivor_write_fails (void)
{
  struct fx f;
  struct wc_cut torn = mkcut (WC_CUT_TORN, 1);
  struct wc_cut_report rep;

  fx_init (&f, WC_MODE_WRITEBACK, 1 << 20, true);
  put (f.e, 0, 0x4e, 0);
  fail_countdown = 2;
  f.m->hook = fail_second_write_hook;
  g_assert_cmpint (wc_power_cut (f.e, &torn, &rep), ==, 0);
  f.m->hook = NULL;
  g_assert_cmpuint (rep.errors, ==, 1);
  assert_oracle_clean (f.e, 512);
  fx_fini (&f);
}

/* S10: with the oracle, a cut checks the media itself, before the power
 * can come back, and says what it found in its report.  A check made after
 * the cut returns could see a power-on and new writes instead (here: the
 * on_cut callback powers on and rewrites the damaged block). */
static bool lying;              /* lying_write damages what it stores */

static int
lying_write (void *opaque, const void *buf, uint32_t count, uint64_t offset,
             bool fua)
{
  struct memmedia *m = opaque;
  int rv = memmedia_ops.write (opaque, buf, count, offset, fua);

  if (rv == 0 && lying)
    m->buf[offset] ^= 0xff;
  return rv;
}

static void
power_on_and_rewrite (void *opaque, const struct wc_cut_report *rep)
{
  struct wc_engine *e = ((struct memmedia *) opaque)->hook_arg;

  lying = false;
  g_assert_cmpint (wc_power_on (e), ==, 0);
  put (e, 1, 0x77, WC_FUA);
}

static void
test_S10_cut_checks_before_power_on (void)
{
  struct memmedia *m = memmedia_new (DISK);
  struct wc_media_ops ops = memmedia_ops;
  struct wc_config cfg;
  struct wc_engine *e;
  struct wc_cut keep = mkcut (WC_CUT_KEEP, 1);
  struct wc_cut_report rep;
  struct wc_verify_report vr;

  ops.write = lying_write;
  memmedia_config (m, &cfg);
  cfg.ops = &ops;
  cfg.oracle = true;
  e = wc_engine_new (&cfg);
  m->hook_arg = e;

  /* An honest cut: every block written is checked, nothing is wrong. */
  put (e, 0, 0x11, 0);
  put (e, 1, 0x22, 0);
  g_assert_cmpint (wc_power_cut (e, &keep, &rep), ==, 0);
  g_assert_true (rep.verified);
  g_assert_cmpint (rep.verify_errno, ==, 0);
  g_assert_cmpuint (rep.verified_blocks, ==, 2);
  g_assert_cmpuint (rep.exact_violations, ==, 0);
  g_assert_cmpuint (rep.contract_violations, ==, 0);
  g_assert_cmpint (wc_power_on (e), ==, 0);

  /* The media damages the survivor: the report says so, although power
   * is back and the block rewritten by the time anyone reads it. */
  cfg.on_cut = power_on_and_rewrite;
  wc_engine_free (e);
  e = wc_engine_new (&cfg);
  m->hook_arg = e;
  put (e, 1, 0x33, 0);
  lying = true;
  g_assert_cmpint (wc_power_cut (e, &keep, &rep), ==, 0);
  g_assert_true (rep.verified);
  g_assert_cmpuint (rep.exact_violations, ==, 1);
  g_assert_cmpuint (rep.contract_violations, ==, 1);
  g_assert_cmpuint (rep.first_bad_offset, ==, 1 * BS);
  /* A check now sees the rewritten block: clean, the damage gone. */
  g_assert_true (wc_powered (e));
  g_assert_cmpint (wc_oracle_verify (e, WC_VERIFY_EXACT, 512, NULL, NULL,
                                     &vr), ==, 0);
  g_assert_cmpuint (vr.violations, ==, 0);
  wc_engine_free (e);
  memmedia_free (m);
}

void
engine_tests_S10 (void)
{
  g_test_add_func ("/engine/S10/whole-block-check-sees-torn",
                   test_S10_whole_block_check_sees_torn);
  g_test_add_func ("/engine/S10/detects-corruption",
                   test_S10_detects_corruption);
  g_test_add_func ("/engine/S10/needs-oracle", test_S10_needs_oracle);
  g_test_add_func ("/engine/S10/cut-checks-before-power-on",
                   test_S10_cut_checks_before_power_on);
  g_test_add_func ("/engine/S10/earlier-torn-cut", test_S10_earlier_torn_cut);
  g_test_add_func ("/engine/S10/cut-survivor-write-fails",
                   test_S10_cut_survivor_write_fails);
}

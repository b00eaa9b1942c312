/* Engine tests for S2 of wcache(7): a FUA write is durable when it is
 * acknowledged, including blocks a destage wrote back meanwhile. */
#include <config.h>

#include <errno.h>
#include <string.h>

#include "engine-tests.h"

static void
test_S2_fua_durable_before_ack (void)
{
  struct fx f;

  fx_init (&f, WC_MODE_WRITEBACK, 1 << 20, false);
  put (f.e, 2, 0x22, 0);
  put (f.e, 1, 0x11, WC_FUA);
  g_assert_true (media_is (f.m, 1, 0x11));      /* durable at once */
  g_assert_cmpuint (f.m->fua_writes, ==, 1);
  g_assert_true (media_is (f.m, 2, 0));         /* S2 says nothing of others */
  g_assert_cmpuint (stats (f.e).fua_writes, ==, 1);
  /* FUA zero too. */
  g_assert_cmpint (wc_zero (f.e, BS, 1 * BS, WC_FUA), ==, 0);
  g_assert_true (media_is (f.m, 1, 0));
  fx_fini (&f);
}

/* S2/S4: blocks of a FUA write that a destage wrote back without FUA
 * during the same request are flushed before the request returns. */
static void
test_S2_fua_covers_destaged_blocks (void)
{
  struct fx f;
  g_autofree uint8_t *buf = g_malloc (8 * BS);

  fx_init (&f, WC_MODE_WRITEBACK, 4 * BS, false);
  memset (buf, 0x2f, 8 * BS);
  g_assert_cmpint (wc_write (f.e, buf, 8 * BS, 0, WC_FUA), ==, 0);
  /* Not every block went down with FUA, so a media flush must follow. */
  g_assert_cmpuint (f.m->writes, >, f.m->fua_writes);
  g_assert_cmpuint (f.m->flushes, >=, 1);
  fx_fini (&f);
}

void
engine_tests_S2 (void)
{
  g_test_add_func ("/engine/S2/fua-durable-before-ack",
                   test_S2_fua_durable_before_ack);
  g_test_add_func ("/engine/S2/fua-covers-destaged-blocks",
                   test_S2_fua_covers_destaged_blocks);
}

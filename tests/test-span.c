/* Unit tests for the request splitter and checked ranges (lib/span.h). */
#include <config.h>

#include <glib.h>

#include "span.h"

static void
test_range (void)
{
  g_assert_true (wc_range_ok (100, 0, 100));
  g_assert_true (wc_range_ok (100, 100, 0));
  g_assert_false (wc_range_ok (100, 1, 100));
  g_assert_false (wc_range_ok (100, 101, 0));
  g_assert_false (wc_range_ok (UINT64_MAX, UINT64_MAX - 1, 2)); /* overflow */
  g_assert_true (wc_range_ok (UINT64_MAX, UINT64_MAX - 1, 1));
}

static void
test_pow2 (void)
{
  g_assert_false (wc_is_power_of_2 (0));
  g_assert_true (wc_is_power_of_2 (1));
  g_assert_true (wc_is_power_of_2 (4096));
  g_assert_false (wc_is_power_of_2 (4097));
  g_assert_false (wc_is_power_of_2 (1000));
}

/* Splits [offset, offset+count) with 4 KiB blocks and checks each span. */
static void
check_split (uint64_t offset, uint32_t count, guint nspans,
             const struct wc_span *want)
{
  struct wc_splitter it;
  struct wc_span s;
  guint n = 0;
  uint64_t covered = 0;

  wc_split_init (&it, 12, offset, count);
  while (wc_split_next (&it, &s)) {
    g_assert_cmpuint (n, <, nspans);
    g_assert_cmpuint (s.blkno, ==, want[n].blkno);
    g_assert_cmpuint (s.boff, ==, want[n].boff);
    g_assert_cmpuint (s.len, ==, want[n].len);
    g_assert_cmpuint (s.pos, ==, covered);
    covered += s.len;
    n++;
  }
  g_assert_cmpuint (n, ==, nspans);
  g_assert_cmpuint (covered, ==, count);
}

static void
test_split_head_body_tail (void)
{
  const struct wc_span want[] = {
    { 0, 100, 3996, 0 },        /* head */
    { 1, 0, 4096, 0 },          /* body */
    { 2, 0, 4096, 0 },
    { 3, 0, 8, 0 },             /* tail */
  };
  check_split (100, 3996 + 8192 + 8, 4, want);
}

static void
test_split_inside_one_block (void)
{
  const struct wc_span want[] = { { 5, 7, 10, 0 } };
  check_split (5 * 4096 + 7, 10, 1, want);
}

static void
test_split_aligned (void)
{
  const struct wc_span want[] = { { 2, 0, 4096, 0 }, { 3, 0, 4096, 0 } };
  check_split (8192, 8192, 2, want);
  g_assert_true (wc_span_whole (&want[0], 4096));
}

static void
test_split_empty (void)
{
  check_split (4096, 0, 0, NULL);
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/span/range-ok", test_range);
  g_test_add_func ("/span/power-of-2", test_pow2);
  g_test_add_func ("/span/split/head-body-tail", test_split_head_body_tail);
  g_test_add_func ("/span/split/inside-one-block", test_split_inside_one_block);
  g_test_add_func ("/span/split/aligned", test_split_aligned);
  g_test_add_func ("/span/split/empty", test_split_empty);
  return g_test_run ();
}

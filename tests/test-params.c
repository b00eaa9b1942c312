/* Unit tests for lib/params.c: one grammar for numbers and sizes in every
 * frontend (decimal, nbdkit's suffixes), and the checks' phrases. */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <glib.h>

#include "params.h"
#include "wcache.h"

static void
test_u64 (void)
{
  uint64_t v;

  g_assert_cmpint (wc_parse_u64 ("0", &v), ==, 0);
  g_assert_cmpuint (v, ==, 0);
  /* Leading zeros are decimal, not octal. */
  g_assert_cmpint (wc_parse_u64 ("010", &v), ==, 0);
  g_assert_cmpuint (v, ==, 10);
  g_assert_cmpint (wc_parse_u64 ("18446744073709551615", &v), ==, 0);
  g_assert_cmpuint (v, ==, UINT64_MAX);
  g_assert_cmpint (wc_parse_u64 ("18446744073709551616", &v), ==, -1);
  g_assert_cmpint (errno, ==, ERANGE);
  for (const char *const *bad = (const char *const[]) {
         "", " 1", "1 ", "+1", "-1", "0x10", "1e3", "1K", "1.0", NULL };
       *bad; bad++) {
    g_assert_cmpint (wc_parse_u64 (*bad, &v), ==, -1);
    g_assert_cmpint (errno, ==, EINVAL);
  }
}

static void
test_size (void)
{
  static const struct { const char *s; uint64_t v; } good[] = {
    { "0", 0 }, { "4096", 4096 }, { "010", 10 }, { "7b", 7 }, { "2s", 1024 },
    { "4k", 4096 }, { "4K", 4096 }, { "1M", 1 << 20 },
    { "256m", 256 << 20 }, { "2G", UINT64_C (2) << 30 },
    { "1T", UINT64_C (1) << 40 }, { "1P", UINT64_C (1) << 50 },
    { "7E", UINT64_C (7) << 60 }, { "9223372036854775807", INT64_MAX },
  };
  uint64_t v;

  for (size_t i = 0; i < G_N_ELEMENTS (good); i++) {
    g_assert_cmpint (wc_parse_size (good[i].s, &v), ==, 0);
    g_assert_cmpuint (v, ==, good[i].v);
  }
  g_assert_cmpint (wc_parse_size ("8E", &v), ==, -1);
  g_assert_cmpint (errno, ==, ERANGE);
  g_assert_cmpint (wc_parse_size ("9223372036854775808", &v), ==, -1);
  g_assert_cmpint (errno, ==, ERANGE);
  for (const char *const *bad = (const char *const[]) {
         "", "K", "1KB", "1x", "-1", "+4", " 4", "0x1000", "1.5M", NULL };
       *bad; bad++) {
    g_assert_cmpint (wc_parse_size (*bad, &v), ==, -1);
    g_assert_cmpint (errno, ==, EINVAL);
  }
}

static void
test_probability (void)
{
  static const struct { const char *s; double p; } good[] = {
    { "0", 0 }, { "1", 1 }, { "0.5", 0.5 }, { ".25", 0.25 }, { "1.000", 1 },
    { "0.125", 0.125 },
  };
  double p;

  for (size_t i = 0; i < G_N_ELEMENTS (good); i++) {
    g_assert_cmpint (wc_parse_probability (good[i].s, &p), ==, 0);
    g_assert_cmpfloat (p, ==, good[i].p);
  }
  for (const char *const *bad = (const char *const[]) {
         "", ".", "1.5", "2", "-0.5", "0.5x", "1e-1", "nan", "inf", " 0.5",
         NULL };
       *bad; bad++)
    g_assert_cmpint (wc_parse_probability (*bad, &p), ==, -1);
}

/* The reasons name the real problem: 1M is too large, not "not a power of
 * two". */
static void
test_checks (void)
{
  g_assert_null (wc_block_size_problem (512));
  g_assert_null (wc_block_size_problem (65536));
  g_assert_nonnull (strstr (wc_block_size_problem (1 << 20), "larger than 64K"));
  g_assert_nonnull (strstr (wc_block_size_problem (256), "smaller than 512"));
  g_assert_nonnull (strstr (wc_block_size_problem (3000), "not a power of two"));

  g_assert_null (wc_cut_unit_problem (512, 4096));
  g_assert_null (wc_cut_unit_problem (4096, 4096));
  g_assert_nonnull (strstr (wc_cut_unit_problem (8192, 4096),
                            "larger than the block size"));
  g_assert_nonnull (strstr (wc_cut_unit_problem (1000, 4096),
                            "not a power of two"));
  g_assert_nonnull (strstr (wc_cut_unit_problem (256, 4096),
                            "smaller than 512"));

  g_assert_null (wc_cache_size_problem (4096, 4096));
  g_assert_nonnull (wc_cache_size_problem (4095, 4096));
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/params/u64-decimal", test_u64);
  g_test_add_func ("/params/size-suffixes", test_size);
  g_test_add_func ("/params/probability", test_probability);
  g_test_add_func ("/params/checks", test_checks);
  return g_test_run ();
}

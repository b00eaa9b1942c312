/* Parameters shared by every frontend: the grammar in params.h, in one
 * place.  No state, no locks.
 *
 * Why our own parsers: strtoull and nbdkit_parse_uint64_t read "010" as
 * eight and accept signs and leading spaces, while the control protocol
 * read the same text as ten; a count must mean one thing wherever it is
 * typed.
 */
#include <config.h>

#include <errno.h>
#include <string.h>

#include <glib.h>

#include "params.h"
#include "wcache.h"

const char wc_size_grammar[] = "a size (a decimal number of bytes with an "
  "optional suffix: 4096, 4K, 256M)";
const char wc_count_grammar[] = "a whole decimal number";
const char wc_probability_grammar[] = "a probability from 0 to 1";
const char wc_mode_names[] =
  "writeback, writethrough, none, directsync or unsafe";
const char wc_policy_names[] = "lose, keep, random, ordered or torn";

/* Digits [s, end) as a number; -1 with errno on overflow or no digits. */
static int
parse_digits (const char *s, const char *end, uint64_t *v)
{
  uint64_t n = 0;

  if (s == end) {
    errno = EINVAL;
    return -1;
  }
  for (; s < end; s++) {
    if (!g_ascii_isdigit (*s)) {
      errno = EINVAL;
      return -1;
    }
    if (__builtin_mul_overflow (n, 10, &n) ||
        __builtin_add_overflow (n, (uint64_t) (*s - '0'), &n)) {
      errno = ERANGE;
      return -1;
    }
  }
  *v = n;
  return 0;
}

int
wc_parse_u64 (const char *s, uint64_t *v)
{
  return parse_digits (s, s + strlen (s), v);
}

int
wc_parse_size (const char *s, uint64_t *v)
{
  size_t len = strlen (s);
  unsigned shift = 0;
  uint64_t n;

  if (len > 0 && !g_ascii_isdigit (s[len - 1])) {
    switch (g_ascii_tolower (s[len - 1])) {
    case 'b': shift = 0; break;
    case 's': shift = 9; break;
    case 'k': shift = 10; break;
    case 'm': shift = 20; break;
    case 'g': shift = 30; break;
    case 't': shift = 40; break;
    case 'p': shift = 50; break;
    case 'e': shift = 60; break;
    default:
      errno = EINVAL;
      return -1;
    }
    len--;
  }
  if (parse_digits (s, s + len, &n) == -1)
    return -1;
  if (n > (uint64_t) INT64_MAX >> shift) {
    errno = ERANGE;
    return -1;
  }
  *v = n << shift;
  return 0;
}

int
wc_parse_probability (const char *s, double *p)
{
  const char *dot = strchr (s, '.');
  uint64_t whole = 0, frac = 0, scale = 1;
  const char *f;

  /* Digits, optionally a dot and more digits; no exponent, no sign. */
  if (*s == '\0' || strcmp (s, ".") == 0)
    goto bad;
  if (dot != s && parse_digits (s, dot ? dot : s + strlen (s), &whole) == -1)
    goto bad;
  if (dot) {
    for (f = dot + 1; *f; f++) {
      if (!g_ascii_isdigit (*f))
        goto bad;
      if (scale < UINT64_C (1000000000000000000)) {
        frac = frac * 10 + (*f - '0');
        scale *= 10;
      }
    }
  }
  if (whole > 1 || (whole == 1 && frac != 0))
    goto bad;
  *p = whole + (double) frac / scale;
  return 0;

 bad:
  errno = EINVAL;
  return -1;
}

const char *
wc_block_size_problem (uint64_t bs)
{
  if (bs < WC_MIN_BLOCK_SIZE)
    return "is smaller than 512 (a power of two from 512 to 64K)";
  if (bs > WC_MAX_BLOCK_SIZE)
    return "is larger than 64K (a power of two from 512 to 64K)";
  if ((bs & (bs - 1)) != 0)
    return "is not a power of two (from 512 to 64K)";
  return NULL;
}

const char *
wc_cut_unit_problem (uint64_t unit, uint32_t block_size)
{
  if (unit < 512)
    return "is smaller than 512 (a power of two from 512 to the block size)";
  if ((unit & (unit - 1)) != 0)
    return "is not a power of two (from 512 to the block size)";
  if (unit > block_size)
    return "is larger than the block size";
  return NULL;
}

const char *
wc_log_sector_size_problem (uint64_t ss, uint32_t block_size)
{
  if (ss < 512 || (ss & (ss - 1)) != 0)
    return "is not a power of two from 512 to the block size";
  if (ss > block_size)
    return "is larger than the block size (a log sector is never split "
      "between cache blocks)";
  return NULL;
}

const char *
wc_cache_size_problem (uint64_t size, uint32_t block_size)
{
  if (size < block_size)
    return "is smaller than the block size (the cache holds at least "
      "one block)";
  return NULL;
}

/* Names of cache modes and cut policies, and what each mode means.
 *
 * The mode table of wcache(7), CACHE MODES, written as code: every property of
 * a mode is a switch over the enum with no default case, so adding a mode
 * fails to compile (-Wswitch) until each property is decided.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "wcache.h"

const char *
wc_mode_name (enum wc_mode mode)
{
  switch (mode) {
  case WC_MODE_WRITEBACK: return "writeback";
  case WC_MODE_WRITETHROUGH: return "writethrough";
  case WC_MODE_NONE: return "none";
  case WC_MODE_DIRECTSYNC: return "directsync";
  case WC_MODE_UNSAFE: return "unsafe";
  }
  return NULL;
}

int
wc_mode_parse (const char *s, enum wc_mode *mode)
{
  for (int m = 0; m < WC_MODE_COUNT; m++) {
    if (strcmp (s, wc_mode_name (m)) == 0) {
      *mode = m;
      return 0;
    }
  }
  errno = EINVAL;
  return -1;
}

bool
wc_mode_wce (enum wc_mode mode)
{
  switch (mode) {
  case WC_MODE_WRITEBACK:
  case WC_MODE_NONE:
  case WC_MODE_UNSAFE:
    return true;
  case WC_MODE_WRITETHROUGH:
  case WC_MODE_DIRECTSYNC:
    return false;
  }
  return false;
}

enum wc_mode
wc_mode_with_wce (enum wc_mode mode, bool wce)
{
  /* The host-flags half stays: buffered, O_DIRECT.  unsafe's "ignore
   * flushes" has no write-through twin: WCE off makes it writethrough. */
  switch (mode) {
  case WC_MODE_WRITEBACK:
  case WC_MODE_WRITETHROUGH:
    return wce ? WC_MODE_WRITEBACK : WC_MODE_WRITETHROUGH;
  case WC_MODE_NONE:
  case WC_MODE_DIRECTSYNC:
    return wce ? WC_MODE_NONE : WC_MODE_DIRECTSYNC;
  case WC_MODE_UNSAFE:
    return wce ? WC_MODE_UNSAFE : WC_MODE_WRITETHROUGH;
  }
  return mode;
}

const char *
wc_mode_cache_type (enum wc_mode mode)
{
  /* The strings Linux virtio_blk and sd show in cache_type. */
  return wc_mode_wce (mode) ? "write back" : "write through";
}

int
wc_mode_host_flags (enum wc_mode mode)
{
  switch (mode) {
  case WC_MODE_WRITEBACK:
  case WC_MODE_UNSAFE:
    return 0;
  case WC_MODE_WRITETHROUGH:
    return O_DSYNC;
  case WC_MODE_NONE:
    return O_DIRECT;
  case WC_MODE_DIRECTSYNC:
    return O_DIRECT | O_DSYNC;
  }
  return 0;
}

const char *
wc_policy_name (enum wc_policy policy)
{
  switch (policy) {
  case WC_CUT_LOSE: return "lose";
  case WC_CUT_KEEP: return "keep";
  case WC_CUT_RANDOM: return "random";
  case WC_CUT_ORDERED: return "ordered";
  case WC_CUT_TORN: return "torn";
  }
  return NULL;
}

int
wc_policy_parse (const char *s, enum wc_policy *policy)
{
  for (int p = 0; p < WC_POLICY_COUNT; p++) {
    if (strcmp (s, wc_policy_name (p)) == 0) {
      *policy = p;
      return 0;
    }
  }
  errno = EINVAL;
  return -1;
}

void
wc_cut_init (struct wc_cut *cut)
{
  memset (cut, 0, sizeof *cut);
  cut->policy = WC_CUT_LOSE;
  cut->p = 0.5;
  cut->unit = 512;
}

/* Emulating FUA and zeroes over a layer that lacks them (emulate.h).
 * No state, no locks: the one zero buffer is static and read-only.
 *
 * Why here: the filter, the file backing and wcache-fuse's NBD backing
 * each wrote these loops, and a fix to one (the O_DIRECT alignment of the
 * zeros) had to be found in all three.
 */
#include <config.h>

#include "emulate.h"

int
wc_emulate_fua (const struct wc_emulate *em, int rv, bool fua)
{
  if (rv == -1 || !fua)
    return rv;
  return em->flush (em->opaque);
}

int
wc_emulate_write (const struct wc_emulate *em, const void *buf,
                  uint32_t count, uint64_t offset, bool fua)
{
  bool pass_fua = fua && em->can_fua;
  int rv = em->write (em->opaque, buf, count, offset, pass_fua);

  return wc_emulate_fua (em, rv == -1 ? -1 : 0, fua && !pass_fua);
}

int
wc_emulate_zero (const struct wc_emulate *em, uint32_t count,
                 uint64_t offset, bool fua)
{
  static const char zeros[WC_ZERO_CHUNK]
    __attribute__ ((aligned (WC_ZERO_ALIGN)));

  while (count > 0) {
    uint32_t n = count < sizeof zeros ? count : sizeof zeros;

    if (em->write (em->opaque, zeros, n, offset, false) == -1)
      return -1;
    count -= n;
    offset += n;
  }
  return wc_emulate_fua (em, 0, fua);
}

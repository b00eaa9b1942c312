/* wcache-crash: formatting and parsing state IDs (crash-id.h).
 *
 * The formatter writes maximal runs, so one state has one spelling and IDs
 * compare as strings; the parser accepts any ascending, non-overlapping
 * ranges and nothing else (no signs, no spaces, no leading '+', numbers
 * that fit), so an ID mangled in a copy and paste is refused, not read as
 * another state.
 *
 * Locking: none.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <glib.h>

#include "crash-id.h"
#include "crash-model.h"

char *
crash_id_format (uint32_t epoch, uint64_t pos, uint64_t unit,
                 const uint64_t *kept, uint64_t nbits)
{
  GString *s = g_string_new (NULL);
  bool any = false;

  g_string_printf (s, "e%" PRIu32 ".p%" PRIu64, epoch, pos);
  if (unit)
    g_string_append_printf (s, ".u%" PRIu64, unit);
  g_string_append (s, ".k");
  for (uint64_t i = 0; i < nbits; ) {
    uint64_t j;

    /* Skip clear words quickly: survivor sets of big torn writes. */
    if (kept[i / 64] == 0 && i % 64 == 0) {
      i += 64;
      continue;
    }
    if (!crash_bit (kept, i)) {
      i++;
      continue;
    }
    for (j = i + 1; j < nbits && crash_bit (kept, j); j++)
      ;
    if (any)
      g_string_append_c (s, ',');
    if (j - i == 1)
      g_string_append_printf (s, "%" PRIu64, i);
    else
      g_string_append_printf (s, "%" PRIu64 "-%" PRIu64, i, j - 1);
    any = true;
    i = j;
  }
  if (!any)
    g_string_append (s, "none");
  return g_string_free (s, FALSE);
}

/* A decimal number without sign or leading zeros (but "0"); advances *p. */
static bool
parse_num (const char **p, uint64_t *out)
{
  const char *s = *p;
  uint64_t v = 0;

  if (!g_ascii_isdigit (*s) || (s[0] == '0' && g_ascii_isdigit (s[1])))
    return false;
  for (; g_ascii_isdigit (*s); s++) {
    if (__builtin_mul_overflow (v, 10, &v) ||
        __builtin_add_overflow (v, (uint64_t) (*s - '0'), &v))
      return false;
  }
  *p = s;
  *out = v;
  return true;
}

static int
bad (struct crash_id *id, char **message, const char *text, const char *why)
{
  crash_id_clear (id);
  *message = g_strdup_printf ("state %s: %s (IDs read e<EPOCH>.p<POS>"
                              "[.u<UNIT>].k<RANGES>|knone)", text, why);
  errno = EINVAL;
  return -1;
}

int
crash_id_parse (const char *text, struct crash_id *id, char **message)
{
  const char *p = text;
  uint64_t v, lo, hi;
  GArray *ranges;

  memset (id, 0, sizeof *id);
  if (*p++ != 'e' || !parse_num (&p, &v) || v > UINT32_MAX)
    return bad (id, message, text, "no epoch");
  id->epoch = v;
  if (*p++ != '.' || *p++ != 'p' || !parse_num (&p, &id->pos))
    return bad (id, message, text, "no crash point");
  if (*p++ != '.')
    return bad (id, message, text, "no kept pieces");
  if (*p == 'u') {
    p++;
    if (!parse_num (&p, &id->unit) || id->unit == 0 || *p++ != '.')
      return bad (id, message, text, "bad torn unit");
  }
  if (*p++ != 'k')
    return bad (id, message, text, "no kept pieces");
  if (strcmp (p, "none") == 0)
    return 0;

  ranges = g_array_new (FALSE, FALSE, sizeof (uint64_t));
  for (;;) {
    if (!parse_num (&p, &lo)) {
      g_array_free (ranges, TRUE);
      return bad (id, message, text, "bad piece number");
    }
    hi = lo;
    if (*p == '-') {
      p++;
      if (!parse_num (&p, &hi) || hi < lo) {
        g_array_free (ranges, TRUE);
        return bad (id, message, text, "bad piece range");
      }
    }
    if (ranges->len && lo <= g_array_index (ranges, uint64_t,
                                            ranges->len - 1)) {
      g_array_free (ranges, TRUE);
      return bad (id, message, text, "piece ranges not ascending");
    }
    if (hi >= (UINT64_C (1) << 40)) {
      g_array_free (ranges, TRUE);
      return bad (id, message, text, "piece number too large");
    }
    g_array_append_val (ranges, lo);
    g_array_append_val (ranges, hi);
    if (*p == '\0')
      break;
    if (*p++ != ',') {
      g_array_free (ranges, TRUE);
      return bad (id, message, text, "unexpected character");
    }
  }
  id->nbits = g_array_index (ranges, uint64_t, ranges->len - 1) + 1;
  id->kept = g_new0 (uint64_t, crash_words (id->nbits));
  for (guint i = 0; i < ranges->len; i += 2)
    for (uint64_t b = g_array_index (ranges, uint64_t, i);
         b <= g_array_index (ranges, uint64_t, i + 1); b++)
      crash_set_bit (id->kept, b);
  g_array_free (ranges, TRUE);
  return 0;
}

void
crash_id_clear (struct crash_id *id)
{
  g_free (id->kept);
  id->kept = NULL;
  id->nbits = 0;
}

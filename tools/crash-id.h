/* wcache-crash: state IDs.
 *
 * An ID names one crash state by what it is, never by how an exploration
 * found it, so `wcache-crash materialize` rebuilds it from the log and the
 * base alone, whatever --exhaustive, --samples or --seed produced it:
 *
 *   e<EPOCH>.p<POS>[.u<UNIT>].k<KEPT>
 *
 *   EPOCH  the crash point's epoch (FLUSH entries before POS): a check
 *   POS    the crash point: entries [0, POS) happened
 *   UNIT   the torn unit in bytes, if writes were torn
 *   KEPT   the surviving candidate pieces of the epoch before POS, as
 *          ascending ranges of piece numbers ("0-3,5,9-12"), or "none"
 *
 * e.g. "e2.p41.k0-2,4" or "e0.p9.u4096.knone".  Piece i is the i-th piece,
 * in log order then by disk offset, of the epoch's writes that are not FUA
 * (crash-model.h).  The text uses letters, digits, '.', ',' and '-' only:
 * safe in file names, shell words and JSON.
 */
#ifndef WC_CRASH_ID_H
#define WC_CRASH_ID_H

#include <stdint.h>

struct crash_id {
  uint32_t epoch;
  uint64_t pos;
  uint64_t unit;                /* 0: whole writes */
  uint64_t *kept;               /* bitmap of crash_words (nbits) words */
  uint64_t nbits;               /* 1 + the highest piece kept, or 0 */
};

/* The ID text (g_free).  kept holds nbits bits. */
char *crash_id_format (uint32_t epoch, uint64_t pos, uint64_t unit,
                       const uint64_t *kept, uint64_t nbits);
/* Parses text into *id (crash_id_clear frees it).  -1 with errno EINVAL
 * and *message naming what is wrong. */
int crash_id_parse (const char *text, struct crash_id *id, char **message);
void crash_id_clear (struct crash_id *id);

#endif /* WC_CRASH_ID_H */

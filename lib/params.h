/* Parameters every frontend takes: numbers, sizes, block sizes, cut units
 * and probabilities, parsed and checked once so that the filter's keys,
 * wcache-fuse's options and the control protocol accept exactly the same
 * values and say the same thing about a wrong one.
 *
 * Grammar (no sign, no spaces, no hex or octal: "010" is ten):
 *   number  = 1*DIGIT                                 decimal
 *   size    = number [suffix]
 *   suffix  = "b" (bytes) / "s" (512-byte sectors) / "k" / "m" / "g" /
 *             "t" / "p" / "e" (powers of 1024), either case
 * These are nbdkit's size suffixes, so a size means the same on the
 * nbdkit command line, to wcache-fuse and over the control socket.
 *
 * The parsers return 0, or -1 with errno EINVAL (not in the grammar) or
 * ERANGE (too large).  The checks return NULL for a good value, or a
 * static phrase for the frontend's message ("KEY: VALUE " + phrase).
 */
#ifndef WC_PARAMS_H
#define WC_PARAMS_H

#include <stdint.h>

int wc_parse_u64 (const char *s, uint64_t *v);
/* A size; at most INT64_MAX (a disk offset). */
int wc_parse_size (const char *s, uint64_t *v);
/* A probability: a decimal fraction from 0 to 1 ("0.25", "1", ".5"). */
int wc_parse_probability (const char *s, double *p);

/* What is wrong with a cache block size (WC_MIN_BLOCK_SIZE to
 * WC_MAX_BLOCK_SIZE, a power of two). */
const char *wc_block_size_problem (uint64_t bs);
/* What is wrong with a torn cut's atomic unit (512 to the block size, a
 * power of two). */
const char *wc_cut_unit_problem (uint64_t unit, uint32_t block_size);
/* What is wrong with a write log's sector size (a power of two from 512
 * to the block size). */
const char *wc_log_sector_size_problem (uint64_t ss, uint32_t block_size);
/* What is wrong with a cache size (at least one block). */
const char *wc_cache_size_problem (uint64_t size, uint32_t block_size);

/* What each grammar is, for messages ("'VALUE' is not " + these). */
extern const char wc_size_grammar[];    /* "a size (a decimal number of
                                         * bytes with an optional suffix:
                                         * 4096, 4K, 256M)" */
extern const char wc_count_grammar[];   /* "a whole decimal number" */
extern const char wc_probability_grammar[]; /* "a probability from 0 to 1" */

/* The names each enum takes, for messages: "writeback, writethrough,
 * none, directsync or unsafe" and "lose, keep, random, ordered or torn". */
extern const char wc_mode_names[];
extern const char wc_policy_names[];

#endif /* WC_PARAMS_H */

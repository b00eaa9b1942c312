/* The oracle (S10): per block, what is durable and what was written since.
 * Internal to lib/.  The engine calls every function with its lock held;
 * the oracle has no lock of its own. */
#ifndef WC_ORACLE_H
#define WC_ORACLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wcache.h"

/* Contents are fingerprinted per 512-byte unit, so both whole-block and
 * torn (per-unit) outcomes can be checked. */
#define WC_ORACLE_UNIT 512

struct wc_oracle;

struct wc_oracle *wc_oracle_new (uint32_t block_size);
void wc_oracle_free (struct wc_oracle *o);

/* Whether blkno has a record; a block without one must be read from the
 * media (wc_oracle_base) before its first write. */
bool wc_oracle_known (struct wc_oracle *o, uint64_t blkno);
/* data is the block's media content, read before its first write. */
void wc_oracle_base (struct wc_oracle *o, uint64_t blkno,
                     const uint8_t *data);
/* The cached content of blkno changed to data (NULL: zeros).  Returns the
 * number of contents recorded since the durable one; a write-back of the
 * content now cached passes it to wc_oracle_durable. */
size_t wc_oracle_written (struct wc_oracle *o, uint64_t blkno,
                          const uint8_t *data);
/* A write-back of the content numbered snap reached the media. */
void wc_oracle_durable (struct wc_oracle *o, uint64_t blkno, size_t snap);
/* A power cut begins: blocks a previous cut met and nobody wrote since
 * hold exactly what that cut left; make that their durable content. */
void wc_oracle_begin_cut (struct wc_oracle *o);
/* A power cut met blkno while dirty: survived[u] says whether unit u of the
 * newest content reached the media (NULL: none did). */
void wc_oracle_cut (struct wc_oracle *o, uint64_t blkno,
                    const bool *survived);

int wc_oracle_check (struct wc_oracle *o, uint64_t disk_size,
                     enum wc_verify_mode mode,
                     uint32_t unit, wc_read_fn read_fn, void *opaque,
                     struct wc_verify_report *report);

#endif /* WC_ORACLE_H */

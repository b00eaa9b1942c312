/* The engine's side of the write log: which entries a request makes, and
 * starting and stopping the log (log.c).  Internal to lib/; the rules are
 * in wcache.h ("The write log"), the writer in wlog-sink.h.
 *
 * A write, zero or trim request builds its entries in a struct wc_logreq:
 *   wc_logreq_prepare (e, &lr, src, count, offset)   no lock: allocates the
 *                                  entries and copies the request's own
 *                                  bytes, if a log was on when it looked
 *   wc_logreq_begin_locked (e, &lr, src, ...)   as the request begins: keeps
 *                                  or redoes that work for the log now on
 *   wc_logreq_capture_locked (e, &lr, b)   after each span applied to block
 *                                  b: the bytes of partial sectors around
 *                                  the request, from the cache
 *   wc_logreq_ack_locked (e, &lr, fua)    acknowledged: the entries go into
 *                                  the log, in acknowledgement order
 *   wc_logreq_drop (&lr)           any lock state: failed, or never logged
 * The sink stays alive while a write is in flight: the engine holds a
 * reference to e->log, and only wc_log_start replaces it, with writes held.
 */
#ifndef WC_LOG_H
#define WC_LOG_H

#include <stdint.h>

#include "engine.h"

struct wc_logreq {
  uint32_t ss;                  /* 0: nothing to log */
  struct wc_wlog_rec *rec[3];   /* in log order */
  unsigned n;
  struct {                      /* bytes the cache gives after apply */
    uint64_t offset;            /* on the disk */
    uint32_t len;
    uint8_t *dst;               /* in a record's data */
  } fill[2];
  unsigned nfill;
};

void wc_logreq_prepare (struct wc_engine *e, struct wc_logreq *lr,
                        const uint8_t *src, uint32_t count, uint64_t offset);
void wc_logreq_begin_locked (struct wc_engine *e, struct wc_logreq *lr,
                             const uint8_t *src, uint32_t count,
                             uint64_t offset);
void wc_logreq_capture_locked (struct wc_engine *e, struct wc_logreq *lr,
                               const struct wc_block *b);
void wc_logreq_ack_locked (struct wc_engine *e, struct wc_logreq *lr,
                           bool fua);
void wc_logreq_drop (struct wc_logreq *lr);

#endif /* WC_LOG_H */

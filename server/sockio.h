/* Socket I/O with a deadline, shared by the control server (control.c)
 * and wcachectl: one send loop for both ends of the protocol.
 *
 * Deadlines are CLOCK_MONOTONIC nanoseconds (wc_now_ns () + a delay), or:
 *   WC_NEVER     wait as long as it takes
 *   WC_NO_WAIT   never poll: for a blocking socket whose SO_SNDTIMEO is
 *                the limit, so its EAGAIN is the timeout
 *
 * Errors: -1 with errno (ETIMEDOUT when the deadline passed, else the
 * system call's).  SIGPIPE is never raised (MSG_NOSIGNAL): a peer that
 * left is EPIPE or ECONNRESET.  No state, no locks.
 */
#ifndef WC_SOCKIO_H
#define WC_SOCKIO_H

#include <stddef.h>
#include <stdint.h>

#define WC_NEVER INT64_MAX
#define WC_NO_WAIT INT64_MIN

/* CLOCK_MONOTONIC now, in nanoseconds. */
int64_t wc_now_ns (void);

/* Milliseconds from now until deadline for poll(): rounded up, 0 once it
 * has passed, -1 for WC_NEVER. */
int wc_poll_ms (int64_t deadline);

/* Waits until fd has one of events (or POLLHUP, POLLERR: the next call
 * on fd says what), restarting after signals.  Returns 1 when ready, 0
 * when the deadline passed, -1 with errno if poll failed. */
int wc_wait_fd (int fd, short events, int64_t deadline);

/* Sends all of buf, restarting after signals; on a full socket buffer
 * (EAGAIN) waits for room until deadline.  Returns 0 or -1 with errno. */
int wc_send_all (int fd, const void *buf, size_t len, int64_t deadline);

#endif /* WC_SOCKIO_H */

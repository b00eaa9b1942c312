/* Socket I/O with a deadline (sockio.h).  No state, no locks.
 *
 * Why shared: the server's replies and wcachectl's requests are the same
 * loop (short sends, EINTR, no SIGPIPE); only the wait on a full buffer
 * differs, and that is the deadline the caller passes.
 */
#include <config.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>

#include <glib.h>

#include "sockio.h"

int64_t
wc_now_ns (void)
{
  struct timespec ts;

  /* Cannot fail for CLOCK_MONOTONIC on Linux; a clock we cannot read
   * would make every deadline a lie. */
  if (clock_gettime (CLOCK_MONOTONIC, &ts) == -1)
    g_error ("clock_gettime: %s", g_strerror (errno));
  return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int
wc_poll_ms (int64_t deadline)
{
  int64_t left;

  if (deadline == WC_NEVER)
    return -1;
  left = deadline - wc_now_ns ();
  if (left <= 0)
    return 0;
  left = (left + 999999) / 1000000;
  return left > INT_MAX ? INT_MAX : (int) left;
}

int
wc_wait_fd (int fd, short events, int64_t deadline)
{
  struct pollfd pfd = { .fd = fd, .events = events };

  for (;;) {
    int r = poll (&pfd, 1, wc_poll_ms (deadline));

    if (r > 0)
      return 1;
    if (r == 0)
      return 0;
    if (errno != EINTR)
      return -1;
  }
}

int
wc_send_all (int fd, const void *buf, size_t len, int64_t deadline)
{
  const char *p = buf;

  while (len > 0) {
    ssize_t n = send (fd, p, len, MSG_NOSIGNAL);
    int ready;

    if (n >= 0) {
      p += n;
      len -= n;
      continue;
    }
    if (errno == EINTR)
      continue;
    if ((errno != EAGAIN && errno != EWOULDBLOCK) || deadline == WC_NO_WAIT)
      return -1;
    ready = wc_wait_fd (fd, POLLOUT, deadline);
    if (ready == -1)
      return -1;
    if (ready == 0) {
      errno = ETIMEDOUT;
      return -1;
    }
  }
  return 0;
}

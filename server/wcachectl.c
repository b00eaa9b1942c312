/* wcachectl: the command-line client of wcache's control protocol
 * (wcache(7), THE CONTROL PLANE; the line grammar is in kv.h).
 *
 * It owns one exchange: join the command words into one request line,
 * connect to the control socket, send the line, read one reply line, parse
 * it with wc_reply_parse() (kv.c; never by hand here) and print it raw,
 * as one value (-q/--get) or as JSON (--json).  The server validates
 * commands; this client only refuses what could not be one well-formed
 * request line: control characters (a newline would smuggle in a second
 * request), empty words, and lines over WC_LINE_MAX, all before
 * connecting.
 *
 * Exit status: 0 for "ok", 1 for "error: ..." (and for an ok reply
 * lacking the --get key), 2 for everything else -- usage, connection,
 * timeout, a malformed, truncated or over-long reply -- so that a script
 * can tell "the disk said no" from "I never got an answer".  The raw
 * error line goes to stdout like an ok line (scripts parse one stream);
 * our own messages go to stderr and start with "wcachectl: ".
 *
 * Time: every wait is bounded by a deadline on CLOCK_MONOTONIC.  With
 * --wait, connect() is retried every 50 ms while the socket is missing
 * (ENOENT) or nobody listens yet (ECONNREFUSED).  The socket is
 * non-blocking and every send/recv waits in poll() for what is left of
 * the --timeout deadline, so a wedged server cannot hang a harness; a full
 * listen backlog (EAGAIN from connect), and a server that already serves
 * as many control clients as it takes (its "error: busy: ..." reply), are
 * retried within that deadline too.  EINTR restarts whatever it interrupted, with the deadline
 * unchanged.  SIGPIPE is avoided with MSG_NOSIGNAL.
 *
 * The reply is read into one heap buffer of WC_REPLY_MAX bytes; reads
 * never ask for more than the room left, and a reply that fills it without
 * a newline is refused.  Bytes after the first newline are ignored (the
 * server sends exactly one line).
 *
 * Single-threaded, no locks.  Fatal errors exit at once: the process is
 * about to end, so nothing is freed on those paths.
 */
#include <config.h>

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "commands.h"
#include "kv.h"
#include "sockio.h"

#define WC_REPLY_MAX (64 * 1024)   /* reply bytes, newline included */
#define RETRY_NS (50 * 1000 * 1000) /* --wait and busy-server retry period */
#define SECONDS_MAX 1000000.0       /* for --wait and --timeout */
#define JSON_INT_MAX UINT64_C (9007199254740991) /* 2^53 - 1 (RFC 8259 §6) */

enum {
  EXIT_OK = 0,          /* "ok" reply */
  EXIT_REPLY_ERROR = 1, /* "error:" reply, or --get KEY absent */
  EXIT_FAIL = 2,        /* usage, connection, timeout, bad reply */
};

enum {
  OPT_JSON = 256,
  OPT_WAIT,
  OPT_TIMEOUT,
};

static const char *socket_path;  /* for messages */

static void die (const char *fmt, ...)
  __attribute__ ((format (printf, 1, 2), noreturn));

static void
die (const char *fmt, ...)
{
  va_list ap;

  fflush (stdout);
  fputs ("wcachectl: ", stderr);
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fputc ('\n', stderr);
  exit (EXIT_FAIL);
}

static void usage_error (const char *fmt, ...)
  __attribute__ ((format (printf, 1, 2), noreturn));

static void
usage_error (const char *fmt, ...)
{
  va_list ap;

  fputs ("wcachectl: ", stderr);
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fputs ("\nTry 'wcachectl --help' for more information.\n", stderr);
  exit (EXIT_FAIL);
}

/* Flushes stdout, failing if anything written to it was lost (a full
 * disk, a closed pipe); returns status. */
static int
flush_stdout (int status)
{
  if (fflush (stdout) == EOF || ferror (stdout))
    die ("stdout: %s", g_strerror (errno));
  return status;
}

static void
print_help (void)
{
  printf ("Usage: wcachectl [OPTION]... COMMAND [ARG]...\n"
          "Send one command to wcache's control socket and print the reply.\n"
          "\n"
          "  -s, --socket=PATH     the control socket (default: $WCACHE_CONTROL)\n"
          "  -q, --get=KEY         print only the value of KEY in the reply\n"
          "      --json            print the reply as a JSON object\n"
          "      --wait[=SECONDS]  wait for the server to appear (default 10)\n"
          "      --timeout=SECONDS wait for the reply, and for a busy server\n"
          "                        (default 60; 0: forever)\n"
          "  -h, --help            print this help and exit\n"
          "  -V, --version         print the version and exit\n"
          "\n"
          "Commands (checked by the server):\n");
  for (size_t i = 0; i < WC_CMD_COUNT; i++)
    printf ("  %s\n      %s\n", wc_command_docs[i].synopsis,
            wc_command_docs[i].help);
  printf ("\n"
          "Exit status: 0 on an \"ok\" reply, 1 on an \"error:\" reply or a\n"
          "missing --get key, 2 on usage, connection or protocol errors.\n"
          "See wcachectl(1).\n");
}

/* ---- Time ---------------------------------------------------------------- */

/* The deadline seconds from now; 0 seconds with forever_if_zero:
 * WC_NEVER. */
static int64_t
deadline_after (double seconds, bool forever_if_zero)
{
  if (seconds == 0 && forever_if_zero)
    return WC_NEVER;
  return wc_now_ns () + (int64_t) (seconds * 1e9);
}

/* Sleeps until t (CLOCK_MONOTONIC), restarting after signals. */
static void
sleep_until (int64_t t)
{
  struct timespec ts = {
    .tv_sec = t / 1000000000,
    .tv_nsec = t % 1000000000,
  };
  int r;

  while ((r = clock_nanosleep (CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL))
         == EINTR)
    ;
  if (r != 0)
    die ("clock_nanosleep: %s", g_strerror (r));
}

/* Parses SECONDS for option name: a decimal number in [0, SECONDS_MAX]. */
static double
parse_seconds (const char *name, const char *s)
{
  char *end;
  double v;

  if (!g_ascii_isdigit (s[0]) && s[0] != '.')
    usage_error ("%s: '%s' is not a number of seconds", name, s);
  errno = 0;
  v = g_ascii_strtod (s, &end);
  if (errno != 0 || *end != '\0' || !isfinite (v))
    usage_error ("%s: '%s' is not a number of seconds", name, s);
  if (v < 0 || v > SECONDS_MAX)
    usage_error ("%s: %s is out of range (0 to %.0f seconds)",
                 name, s, SECONDS_MAX);
  return v;
}

/* Waits until fd is ready for events or the deadline passes.  Returns
 * false on timeout. */
static bool
wait_fd (int fd, short events, int64_t deadline)
{
  int r = wc_wait_fd (fd, events, deadline);

  if (r == -1)
    die ("%s: poll: %s", socket_path, g_strerror (errno));
  return r == 1;
}

/* ---- The request ------------------------------------------------------- */

/* Joins the command words with single spaces, refusing what cannot be one
 * request line.  The server checks the words themselves. */
static char *
build_request (int argc, char **argv)
{
  GString *req = g_string_new (NULL);

  for (int i = 0; i < argc; i++) {
    const unsigned char *p = (const unsigned char *) argv[i];

    if (*p == '\0')
      usage_error ("argument %d of the command is empty", i + 1);
    for (; *p; p++)
      if (*p < 0x20 || *p == 0x7f)
        usage_error ("argument %d of the command holds the control "
                     "character 0x%02x (a request is one line)",
                     i + 1, *p);
    if (i > 0)
      g_string_append_c (req, ' ');
    g_string_append (req, argv[i]);
  }
  if (req->len > WC_LINE_MAX)
    usage_error ("request too long: %zu bytes (the limit is %d)",
                 req->len, WC_LINE_MAX);
  g_string_append_c (req, '\n');
  return g_string_free (req, FALSE);
}

/* ---- Connecting -------------------------------------------------------- */

/* One connect attempt.  Returns the fd, or -1 with errno set. */
static int
try_connect (const struct sockaddr_un *addr, int64_t deadline)
{
  int fd, err;
  socklen_t len = sizeof err;

  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd == -1)
    die ("socket: %s", g_strerror (errno));
  if (connect (fd, (const struct sockaddr *) addr, sizeof *addr) == 0)
    return fd;
  err = errno;
  /* Linux completes UNIX connects at once; elsewhere they may be
   * asynchronous, and an interrupted connect goes on in the background. */
  if (err == EINPROGRESS || err == EINTR) {
    if (!wait_fd (fd, POLLOUT, deadline))
      err = ETIMEDOUT;
    else if (getsockopt (fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
      err = errno;
    if (err == 0)
      return fd;
  }
  close (fd);
  errno = err;
  return -1;
}

/* Connects, retrying while no server is there (with --wait, until
 * wait_s has passed) or while its backlog is full (until timeout_s). */
static int
connect_server (const char *path, bool waiting, double wait_s,
                double timeout_s)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int64_t wait_deadline = deadline_after (waiting ? wait_s : 0, false);
  int64_t busy_deadline = deadline_after (timeout_s, true);
  int fd;

  if (strlen (path) >= sizeof addr.sun_path)
    die ("%s: socket path too long (at most %zu bytes)",
         path, sizeof addr.sun_path - 1);
  memcpy (addr.sun_path, path, strlen (path) + 1);

  for (;;) {
    int64_t now, deadline;
    int err;

    fd = try_connect (&addr, busy_deadline);
    if (fd >= 0)
      return fd;
    err = errno;
    now = wc_now_ns ();
    if (err == ENOENT || err == ECONNREFUSED)
      deadline = wait_deadline;
    else if (err == EAGAIN)
      deadline = busy_deadline;
    else
      die ("%s: connect: %s", path, g_strerror (err));

    if (now >= deadline) {
      if (err == EAGAIN)
        die ("%s: connect: server busy (backlog full) after %g s",
             path, timeout_s);
      if (waiting)
        die ("%s: no server after %g s", path, wait_s);
      die ("%s: connect: %s (is the server running? --wait waits for it)",
           path, g_strerror (err));
    }
    sleep_until (MIN (now + RETRY_NS, deadline));
  }
}

/* ---- The exchange ------------------------------------------------------ */

static void
send_request (int fd, const char *buf, size_t len, int64_t deadline,
              double timeout_s)
{
  if (wc_send_all (fd, buf, len, deadline) == 0)
    return;
  if (errno == ETIMEDOUT)
    die ("%s: send: server not reading after %g s", socket_path, timeout_s);
  if (errno == EPIPE || errno == ECONNRESET)
    die ("%s: server closed the connection before reading the request",
         socket_path);
  die ("%s: send: %s", socket_path, g_strerror (errno));
}

/* Reads the reply line.  Returns it NUL-terminated, without its newline,
 * in a new buffer. */
static char *
recv_line (int fd, int64_t deadline, double timeout_s)
{
  char *buf = g_malloc (WC_REPLY_MAX);
  size_t len = 0;
  char *nl = NULL;

  while (nl == NULL) {
    ssize_t r;

    if (len == WC_REPLY_MAX)
      die ("%s: reply longer than %d bytes", socket_path, WC_REPLY_MAX);
    r = recv (fd, buf + len, WC_REPLY_MAX - len, 0);
    if (r > 0) {
      nl = memchr (buf + len, '\n', r);
      len += r;
      continue;
    }
    if (r == 0 || errno == ECONNRESET) {
      if (len == 0)
        die ("%s: server closed the connection without a reply",
             socket_path);
      die ("%s: reply truncated: connection closed after %zu bytes "
           "without a newline", socket_path, len);
    }
    if (errno == EINTR)
      continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      die ("%s: recv: %s", socket_path, g_strerror (errno));
    if (!wait_fd (fd, POLLIN, deadline))
      die ("%s: no reply after %g s", socket_path, timeout_s);
  }
  /* A NUL would hide the rest of the line from the parser. */
  if (memchr (buf, '\0', nl - buf) != NULL)
    die ("%s: malformed reply: a NUL byte in the line", socket_path);
  *nl = '\0';
  return buf;
}

/* ---- Output ------------------------------------------------------------ */

static void
json_string (GString *out, const char *s)
{
  g_autofree char *valid = g_utf8_make_valid (s, -1);

  g_string_append_c (out, '"');
  for (const unsigned char *p = (const unsigned char *) valid; *p; p++) {
    if (*p == '"' || *p == '\\')
      g_string_append_printf (out, "\\%c", *p);
    else if (*p == '\n')
      g_string_append (out, "\\n");
    else if (*p == '\t')
      g_string_append (out, "\\t");
    else if (*p == '\r')
      g_string_append (out, "\\r");
    else if (*p < 0x20 || *p == 0x7f)
      g_string_append_printf (out, "\\u%04x", *p);
    else
      g_string_append_c (out, *p);
  }
  g_string_append_c (out, '"');
}

/* True if value should be a JSON number: decimal digits without a leading
 * zero, at most 2^53 - 1.  Larger integers (64-bit seeds) stay strings,
 * as JSON readers that use doubles (jq 1.6, JavaScript) would round them
 * (RFC 8259 §6). */
static bool
is_json_int (const char *value)
{
  size_t n = strlen (value);

  if (n == 0 || n > 16 || (value[0] == '0' && n > 1))
    return false;
  for (size_t i = 0; i < n; i++)
    if (!g_ascii_isdigit (value[i]))
      return false;
  return g_ascii_strtoull (value, NULL, 10) <= JSON_INT_MAX;
}

static char *
reply_json (bool ok, GPtrArray *pairs, const char *message)
{
  GString *out = g_string_new (ok ? "{\"ok\":true" : "{\"ok\":false");

  if (!ok) {
    g_string_append (out, ",\"error\":");
    json_string (out, message);
  }
  for (guint i = 0; ok && i < pairs->len; i++) {
    const struct wc_kv *kv = pairs->pdata[i];

    g_string_append_c (out, ',');
    json_string (out, kv->key);
    g_string_append_c (out, ':');
    if (is_json_int (kv->value))
      g_string_append (out, kv->value);
    else
      json_string (out, kv->value);
  }
  g_string_append (out, "}\n");
  return g_string_free (out, FALSE);
}

/* ---- main -------------------------------------------------------------- */

int
main (int argc, char *argv[])
{
  static const struct option long_options[] = {
    { "socket", required_argument, NULL, 's' },
    { "get", required_argument, NULL, 'q' },
    { "json", no_argument, NULL, OPT_JSON },
    { "wait", optional_argument, NULL, OPT_WAIT },
    { "timeout", required_argument, NULL, OPT_TIMEOUT },
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, 'V' },
    { NULL, 0, NULL, 0 },
  };
  const char *get_key = NULL;
  bool json = false, waiting = false;
  double wait_s = 10, timeout_s = 60;
  g_autofree char *request = NULL;
  g_autofree char *line = NULL;
  g_autofree char *message = NULL;
  g_autoptr (GPtrArray) pairs = NULL;
  int64_t deadline, retry;
  bool ok;
  int c, fd, status;

  socket_path = g_getenv ("WCACHE_CONTROL");
  if (socket_path != NULL && *socket_path == '\0')
    socket_path = NULL;

  /* '+': options end at the command, whose words may look like options. */
  opterr = 0;
  while ((c = getopt_long (argc, argv, "+:s:q:hV", long_options, NULL))
         != -1) {
    switch (c) {
    case 's':
      socket_path = optarg;
      break;
    case 'q':
      get_key = optarg;
      break;
    case OPT_JSON:
      json = true;
      break;
    case OPT_WAIT:
      waiting = true;
      if (optarg != NULL)
        wait_s = parse_seconds ("--wait", optarg);
      break;
    case OPT_TIMEOUT:
      timeout_s = parse_seconds ("--timeout", optarg);
      break;
    case 'h':
      print_help ();
      exit (flush_stdout (EXIT_OK));
    case 'V':
      printf ("wcachectl %s\n", PACKAGE_VERSION);
      exit (flush_stdout (EXIT_OK));
    case ':':
      usage_error ("option '%s' needs an argument", argv[optind - 1]);
    default:
      if (optopt > 0 && optopt < 256 && g_ascii_isprint (optopt)
          && strchr ("sqhV", optopt) == NULL)
        usage_error ("unknown option '-%c'", optopt);
      usage_error ("unknown option or unexpected argument: '%s'",
                   argv[optind - 1]);
    }
  }
  if (socket_path == NULL || *socket_path == '\0')
    usage_error ("no socket: use -s PATH or set WCACHE_CONTROL");
  if (optind >= argc)
    usage_error ("no command");
  if (json && get_key != NULL)
    usage_error ("--json and --get exclude each other");
  request = build_request (argc - optind, argv + optind);

  deadline = deadline_after (timeout_s, true);
  for (;;) {
    fd = connect_server (socket_path, waiting, wait_s, timeout_s);
    send_request (fd, request, strlen (request), deadline, timeout_s);
    line = recv_line (fd, deadline, timeout_s);
    close (fd);
    if (!g_str_has_prefix (line, "error: busy:"))
      break;
    /* The server ran nothing: it has no room for another client yet.
     * Try again while another try fits in the deadline. */
    retry = deadline == WC_NEVER ? wc_now_ns () + RETRY_NS
      : MIN (wc_now_ns () + RETRY_NS, deadline);
    if (retry >= deadline)
      die ("%s: server busy (%s) after %g s", socket_path, line + 13,
           timeout_s);
    g_clear_pointer (&line, g_free);
    sleep_until (retry);
  }

  if (wc_reply_parse (line, &ok, &pairs, &message) == -1) {
    g_autofree char *shown = g_strescape (line, NULL);

    if (strlen (shown) > 200)
      strcpy (shown + 195, "[...]");
    die ("%s: malformed reply: \"%s\"", socket_path, shown);
  }

  status = ok ? EXIT_OK : EXIT_REPLY_ERROR;
  if (json) {
    g_autofree char *out = reply_json (ok, pairs, message);
    fputs (out, stdout);
  }
  else if (get_key != NULL) {
    const char *value = ok ? wc_kv_get (pairs, get_key) : NULL;

    if (!ok)
      fprintf (stderr, "wcachectl: %s\n", line);
    else if (value == NULL) {
      fprintf (stderr, "wcachectl: %s: the reply has no key '%s'\n",
               argv[optind], get_key);
      status = EXIT_REPLY_ERROR;
    }
    else
      printf ("%s\n", value);
  }
  else
    printf ("%s\n", line);

  return flush_stdout (status);
}

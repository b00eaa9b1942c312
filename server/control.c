/* The control socket: accepts clients and runs their request lines.
 *
 * Design.  One accept thread polls the listening socket and a stop pipe.
 * Each client gets a thread of its own (at most WC_CONTROL_MAX_CLIENTS;
 * more are told so and closed), so a slow command (a mode switch writing
 * back a full cache, a cut) holds up only its own client, and no command
 * ever holds up data requests beyond what the engine itself does.  A client
 * thread reads bytes into a line buffer of at most WC_LINE_MAX bytes; a
 * longer line is discarded up to its newline and answered with an error.
 * Every request gets exactly one reply line.  A client that sends nothing
 * just holds its slot; clients that leave are joined by the accept thread.
 *
 * Security.  The socket is created with mode 0600 (umask around bind, then
 * chmod) and every peer's uid is checked with SO_PEERCRED: only the
 * server's effective uid may talk to it.
 *
 * Locking: c->lock protects the client list and count.  It is never held
 * while running a command or doing socket I/O.  Lock order: c->lock, then
 * nothing (the engine's lock is taken only by commands, without c->lock).
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib.h>

#include "control.h"
#include "kv.h"
#include "sockio.h"

#define WC_CONTROL_MAX_CLIENTS 64
/* A client that does not read its replies is dropped after this long,
 * so it cannot hold a thread (or nbdkit's exit) for ever. */
#define WC_CONTROL_SEND_TIMEOUT 5

struct client {
  struct wc_control *c;
  int fd;
  pthread_t thread;
  bool done;                    /* protected by c->lock */
};

struct wc_control {
  char *path;
  int listen_fd;
  int stop_pipe[2];             /* readable once the server must stop */
  struct wc_engine *e;          /* atomic: set once, possibly late */
  pthread_t accept_thread;
  bool started;

  pthread_mutex_t lock;         /* protects clients, nclients */
  GList *clients;               /* of struct client */
  unsigned nclients;
};

static int
send_line (int fd, const char *line)
{
  g_autofree char *msg = g_strconcat (line, "\n", NULL);

  /* The socket blocks; its SO_SNDTIMEO drops a client that never reads. */
  return wc_send_all (fd, msg, strlen (msg), WC_NO_WAIT);
}

/* Waits for fd to be readable; false if the server is stopping. */
static bool
wait_readable (struct wc_control *c, int fd)
{
  struct pollfd p[2] = {
    { .fd = fd, .events = POLLIN },
    { .fd = c->stop_pipe[0], .events = POLLIN },
  };

  for (;;) {
    if (poll (p, 2, -1) == -1) {
      if (errno == EINTR)
        continue;
      return false;
    }
    if (p[1].revents)
      return false;
    if (p[0].revents)
      return true;
  }
}

static void *
client_main (void *arg)
{
  struct client *cl = arg;
  struct wc_control *c = cl->c;
  char line[WC_LINE_MAX + 1];
  size_t len = 0;
  bool overlong = false;
  char buf[1024];

  while (wait_readable (c, cl->fd)) {
    ssize_t n = recv (cl->fd, buf, sizeof buf, 0);

    if (n == -1 && errno == EINTR)
      continue;
    if (n <= 0)
      break;                    /* gone, or mid-line: nothing to answer */
    for (ssize_t i = 0; i < n; i++) {
      g_autofree char *reply = NULL;

      if (buf[i] != '\n') {
        if (len < WC_LINE_MAX)
          line[len++] = buf[i];
        else
          overlong = true;
        continue;
      }
      if (overlong)
        reply = g_strdup_printf ("error: request longer than %d bytes",
                                 WC_LINE_MAX);
      else {
        if (len > 0 && line[len - 1] == '\r')
          len--;
        line[len] = '\0';
        /* A NUL byte would end the string early: refuse it. */
        if (memchr (line, '\0', len))
          reply = g_strdup ("error: the request holds a NUL byte");
        else
          reply = wc_control_exec (__atomic_load_n (&c->e,
                                                    __ATOMIC_ACQUIRE),
                                   line);
      }
      len = 0;
      overlong = false;
      if (send_line (cl->fd, reply) == -1)
        goto out;
    }
  }
 out:
  /* The client sees EOF now; the descriptor is closed when the thread is
   * joined, so its number is not reused while the list still holds it. */
  shutdown (cl->fd, SHUT_RDWR);
  pthread_mutex_lock (&c->lock);
  cl->done = true;
  pthread_mutex_unlock (&c->lock);
  return NULL;
}

/* Joins the threads of clients that left. */
static void
reap_clients (struct wc_control *c, bool all)
{
  GList *l, *next;

  pthread_mutex_lock (&c->lock);
  for (l = c->clients; l; l = next) {
    struct client *cl = l->data;

    next = l->next;
    if (!cl->done && !all)
      continue;
    c->clients = g_list_delete_link (c->clients, l);
    c->nclients--;
    pthread_mutex_unlock (&c->lock);
    pthread_join (cl->thread, NULL);
    close (cl->fd);
    g_free (cl);
    pthread_mutex_lock (&c->lock);
  }
  pthread_mutex_unlock (&c->lock);
}

static bool
peer_allowed (int fd)
{
  struct ucred cred;
  socklen_t len = sizeof cred;

  return getsockopt (fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
    cred.uid == geteuid ();
}

static void *
accept_main (void *arg)
{
  struct wc_control *c = arg;

  while (wait_readable (c, c->listen_fd)) {
    struct client *cl;
    int fd = accept4 (c->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    int err;

    reap_clients (c, false);
    if (fd == -1) {
      /* Out of descriptors: the listening socket stays readable, so wait
       * for a client to leave instead of spinning. */
      if (errno == EMFILE || errno == ENFILE) {
        struct pollfd p = { .fd = c->stop_pipe[0], .events = POLLIN };
        poll (&p, 1, 100);
      }
      continue;                 /* EINTR, ECONNABORTED ... */
    }
    {
      struct timeval tv = { .tv_sec = WC_CONTROL_SEND_TIMEOUT };
      setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    if (!peer_allowed (fd)) {
      send_line (fd, "error: permission denied: not the server's user");
      close (fd);
      continue;
    }
    pthread_mutex_lock (&c->lock);
    if (c->nclients >= WC_CONTROL_MAX_CLIENTS) {
      pthread_mutex_unlock (&c->lock);
      /* "busy:" tells wcachectl to try again until its --timeout. */
      send_line (fd, "error: busy: too many control clients");
      close (fd);
      continue;
    }
    cl = g_new0 (struct client, 1);
    cl->c = c;
    cl->fd = fd;
    err = pthread_create (&cl->thread, NULL, client_main, cl);
    if (err) {
      pthread_mutex_unlock (&c->lock);
      send_line (fd, "error: the server cannot start a thread");
      close (fd);
      g_free (cl);
      continue;
    }
    c->clients = g_list_prepend (c->clients, cl);
    c->nclients++;
    pthread_mutex_unlock (&c->lock);
  }
  return NULL;
}

/* Whether the socket at addr was left by a server that is gone: it is a
 * socket and nobody accepts on it.  Anything else is not ours to remove. */
static bool
stale (const struct sockaddr_un *addr)
{
  struct stat st;
  int fd, rv, err;

  if (lstat (addr->sun_path, &st) == -1 || !S_ISSOCK (st.st_mode))
    return false;
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd == -1)
    return false;
  rv = connect (fd, (const struct sockaddr *) addr, sizeof *addr);
  err = errno;
  close (fd);
  return rv == -1 && err == ECONNREFUSED;
}

/* Why an address in use cannot be taken over. */
static const char *
in_use (const struct sockaddr_un *addr)
{
  struct stat st;

  if (lstat (addr->sun_path, &st) == 0 && !S_ISSOCK (st.st_mode))
    return "exists and is not a socket (not removed)";
  return "in use by a running server";
}

struct wc_control *
wc_control_bind (const char *path, char **message)
{
  struct wc_control *c;
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  mode_t old_umask;
  int err;

  if (strlen (path) >= sizeof addr.sun_path) {
    *message = g_strdup_printf ("%s: path too long for a UNIX socket "
                                "(at most %zu bytes)", path,
                                sizeof addr.sun_path - 1);
    errno = ENAMETOOLONG;
    return NULL;
  }
  strcpy (addr.sun_path, path);

  c = g_new0 (struct wc_control, 1);
  c->path = g_strdup (path);
  c->stop_pipe[0] = c->stop_pipe[1] = -1;
  pthread_mutex_init (&c->lock, NULL);
  c->listen_fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c->listen_fd == -1)
    goto fail;
  /* Before any thread exists (the caller's contract), so umask is ours. */
  old_umask = umask (0177);
  err = bind (c->listen_fd, (struct sockaddr *) &addr, sizeof addr);
  if (err == -1 && errno == EADDRINUSE && stale (&addr)) {
    unlink (path);
    err = bind (c->listen_fd, (struct sockaddr *) &addr, sizeof addr);
  }
  umask (old_umask);
  if (err == -1) {
    if (errno == EADDRINUSE) {
      *message = g_strdup_printf ("%s: %s", path, in_use (&addr));
      errno = EADDRINUSE;
      goto fail_msg;
    }
    goto fail;
  }
  if (chmod (path, 0600) == -1 || listen (c->listen_fd, 16) == -1 ||
      pipe2 (c->stop_pipe, O_CLOEXEC) == -1) {
    err = errno;
    unlink (path);
    errno = err;
    goto fail;
  }
  return c;

 fail:
  *message = g_strdup_printf ("%s: %s", path, g_strerror (errno));
 fail_msg:
  err = errno;
  if (c->listen_fd >= 0)
    close (c->listen_fd);
  if (c->stop_pipe[0] >= 0)
    close (c->stop_pipe[0]);
  pthread_mutex_destroy (&c->lock);
  g_free (c->path);
  g_free (c);
  errno = err;
  return NULL;
}

void
wc_control_set_engine (struct wc_control *c, struct wc_engine *e)
{
  __atomic_store_n (&c->e, e, __ATOMIC_RELEASE);
}

int
wc_control_start (struct wc_control *c, struct wc_engine *e)
{
  int err;

  wc_control_set_engine (c, e);
  err = pthread_create (&c->accept_thread, NULL, accept_main, c);
  if (err) {
    errno = err;
    return -1;
  }
  c->started = true;
  return 0;
}

void
wc_control_free (struct wc_control *c)
{
  if (!c)
    return;
  /* Wake every thread; those running a command finish it first. */
  if (write (c->stop_pipe[1], "x", 1) == -1) {
    /* The pipe is ours and empty: this cannot fail. */
  }
  if (c->started)
    pthread_join (c->accept_thread, NULL);
  /* Threads finish what they are sending (a reply to the command that made
   * nbdkit exit, say); one stuck on a client that never reads gives up
   * after WC_CONTROL_SEND_TIMEOUT. */
  reap_clients (c, true);
  close (c->listen_fd);
  unlink (c->path);
  close (c->stop_pipe[0]);
  close (c->stop_pipe[1]);
  pthread_mutex_destroy (&c->lock);
  g_free (c->path);
  g_free (c);
}

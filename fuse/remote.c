/* --control-of: one request line to another process's control socket
 * (an nbdkit wcache filter's wcache-control=SOCKET), one reply line back.
 *
 * A connection per request, through GIO, with a timeout on every step so
 * that a wedged server cannot hang a reader of the control files.  The
 * reply is bounded: a line longer than REPLY_MAX is refused.  A request
 * wrong in itself is refused here, with the server's own parser, and
 * never sent.  No state, no locks: requests from several FUSE threads use
 * separate connections.
 */
#include <config.h>

#include <errno.h>
#include <string.h>

#include <gio/gio.h>

#include "control.h"
#include "wcache-fuse.h"

#define TIMEOUT_S 30            /* for a mode switch writing back a full
                                 * cache over a slow media */
#define REPLY_MAX (64 * 1024)

int
wf_remote_request (const char *socket, const char *line, char **reply)
{
  g_autoptr (GSocketClient) client = g_socket_client_new ();
  g_autoptr (GSocketAddress) addr = g_unix_socket_address_new (socket);
  g_autoptr (GSocketConnection) conn = NULL;
  g_autoptr (GDataInputStream) in = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *request = g_strconcat (line, "\n", NULL);
  char *answer;
  gsize len;

  g_socket_client_set_timeout (client, TIMEOUT_S);
  conn = g_socket_client_connect (client, G_SOCKET_CONNECTABLE (addr), NULL,
                                  &error);
  if (!conn)
    goto fail;
  if (!g_output_stream_write_all (g_io_stream_get_output_stream
                                  (G_IO_STREAM (conn)), request,
                                  strlen (request), NULL, NULL, &error))
    goto fail;
  in = g_data_input_stream_new (g_io_stream_get_input_stream
                                (G_IO_STREAM (conn)));
  g_buffered_input_stream_set_buffer_size (G_BUFFERED_INPUT_STREAM (in),
                                           4096);
  answer = g_data_input_stream_read_line (in, &len, NULL, &error);
  if (!answer) {
    if (!error)
      g_set_error (&error, G_IO_ERROR, G_IO_ERROR_CLOSED,
                   "the server closed the connection without a reply");
    goto fail;
  }
  if (len > REPLY_MAX) {
    g_free (answer);
    *reply = g_strdup ("control socket: the reply is too long");
    errno = EIO;
    return -1;
  }
  *reply = answer;
  return 0;

 fail:
  *reply = g_strdup_printf ("control socket %s: %s", socket, error->message);
  errno = EIO;
  return -1;
}

int
wf_remote_command (const char *line, char **reply)
{
  int err = wc_control_check (line, reply);

  if (err != 0)
    return -err;                /* wrong in itself: not worth sending */
  g_clear_pointer (reply, g_free);
  if (wf_remote_request (wf.control_of, line, reply) == -1) {
    err = errno;
    g_warning ("%s: %s", wf.control_of, *reply);
    return -err;
  }
  return 0;
}

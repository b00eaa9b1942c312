/* The control files: the control protocol's state as files in the mount
 * (wcache(7), THE CONTROL PLANE), the way /sys/block/DEV/queue and
 * cache_type show a disk's.
 *
 *   cache_type  "write back" / "write through"; writing one runs
 *               cache-type, which switches WCE (S5) and keeps the
 *               host-flags half of the mode as one engine step:
 *               writeback <-> writethrough, none <-> directsync, and
 *               unsafe -> writethrough
 *   mode        the QEMU mode name; writing one switches to it
 *   power       "on" / "off"; writing "cut [KEY=VALUE ...]" runs
 *               power-cut with those arguments, "on" runs power-on
 *   status      the status reply, one key=value per line (read-only)
 *
 * Every file is a view of one protocol command (server/protocol.c), run
 * against the local engine, or, with an NBD backing and --control-of,
 * sent to that server's control socket: there is one implementation of
 * every rule, and the files say exactly what the socket says.  A write is
 * one command; a trailing newline is ignored.  Errors: EINVAL for a write
 * that is not a valid value (nothing changes); the protocol's errno for
 * a command the disk could not carry out (EIO: the media failed, or the
 * power is off).  A remote server's error replies carry no errno, so they
 * read as EIO; so a request is first checked by the protocol's own
 * parser (wc_control_check, in remote.c), and one that is wrong in itself
 * fails with EINVAL without being sent.  Which of the two runs a command
 * is the disk ops' business (wf.ops->command).
 *
 * No state and no locks here.
 */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "kv.h"
#include "wcache-fuse.h"

bool
wf_has_control_files (void)
{
  return wf.ops->has_control_files ();
}

/* Runs one protocol request; on "ok" returns 0 and the parsed pairs. */
static int
request (const char *line, GPtrArray **pairs)
{
  g_autofree char *reply = NULL;
  g_autofree char *message = NULL;
  bool ok;
  int err;

  err = wf.ops->command (line, &reply);
  if (err < 0)
    return err;
  if (wc_reply_parse (reply, &ok, pairs, &message) == -1) {
    g_warning ("%s: a reply that is not in the grammar: %s", line, reply);
    return -EIO;
  }
  if (!ok) {
    /* Remote replies carry no errno: the disk could not do it. */
    if (err == 0)
      err = EIO;
    if (err != EINVAL)
      g_warning ("%s: %s", line, message);
    return -err;
  }
  return 0;
}

/* The value of key in the reply to line. */
static int
query (const char *line, const char *key, GString *out)
{
  g_autoptr (GPtrArray) pairs = NULL;
  const char *v;
  int rv = request (line, &pairs);

  if (rv < 0)
    return rv;
  v = wc_kv_get (pairs, key);
  if (!v)
    return -EIO;
  g_string_append_printf (out, "%s\n", v);
  return 0;
}

/* ---- The files ---------------------------------------------------------- */

static int
show_cache_type (GString *out)
{
  return query ("mode", "cache_type", out);
}

static int
show_mode (GString *out)
{
  return query ("mode", "mode", out);
}

static int
show_power (GString *out)
{
  return query ("status", "power", out);
}

static int
show_status (GString *out)
{
  g_autoptr (GPtrArray) pairs = NULL;
  int rv = request ("status", &pairs);

  if (rv < 0)
    return rv;
  for (guint i = 0; i < pairs->len; i++) {
    const struct wc_kv *kv = g_ptr_array_index (pairs, i);

    g_string_append_printf (out, "%s=%s\n", kv->key, kv->value);
  }
  return 0;
}

static int
run_mode (enum wc_mode mode)
{
  g_autofree char *line = g_strdup_printf ("mode %s", wc_mode_name (mode));
  g_autoptr (GPtrArray) pairs = NULL;

  return request (line, &pairs);
}

static int
store_cache_type (const char *v)
{
  g_autofree char *line = g_strconcat ("cache-type ", v, NULL);
  g_autoptr (GPtrArray) pairs = NULL;

  /* The value is checked by the protocol's parser (cache-type). */
  return request (line, &pairs);
}

static int
store_mode (const char *v)
{
  enum wc_mode mode;

  if (wc_mode_parse (v, &mode) == -1)
    return -EINVAL;
  return run_mode (mode);
}

static int
store_power (const char *v)
{
  g_autoptr (GPtrArray) pairs = NULL;
  g_autofree char *line = NULL;

  if (strcmp (v, "on") == 0)
    return request ("power-on", &pairs);
  if (strcmp (v, "cut") == 0 || strncmp (v, "cut ", 4) == 0) {
    line = g_strconcat ("power-cut", v + 3, NULL);
    return request (line, &pairs);
  }
  return -EINVAL;
}

static const struct ctlfile {
  const char *name;
  int (*show) (GString *out);
  int (*store) (const char *value);     /* NULL: read-only */
} files[] = {
  { "cache_type", show_cache_type, store_cache_type },
  { "mode", show_mode, store_mode },
  { "power", show_power, store_power },
  { "status", show_status, NULL },
};

int
wf_ctl_lookup (const char *name)
{
  for (size_t i = 0; i < G_N_ELEMENTS (files); i++)
    if (strcmp (files[i].name, name) == 0)
      return i;
  return -1;
}

const char *
wf_ctl_name (int i)
{
  return i >= 0 && (size_t) i < G_N_ELEMENTS (files) ? files[i].name : NULL;
}

bool
wf_ctl_writable (int i)
{
  return files[i].store != NULL;
}

int
wf_ctl_show (int i, GString *out)
{
  return files[i].show (out);
}

int
wf_ctl_store (int i, const char *buf, size_t len)
{
  g_autofree char *v = NULL;

  if (!files[i].store)
    return -EACCES;
  /* One line of printable ASCII, as a protocol request must be. */
  if (len > 0 && buf[len - 1] == '\n')
    len--;
  if (len == 0 || len > WC_LINE_MAX)
    return -EINVAL;
  for (size_t j = 0; j < len; j++)
    if (buf[j] < 0x20 || buf[j] > 0x7e)
      return -EINVAL;
  v = g_strndup (buf, len);
  return files[i].store (v);
}

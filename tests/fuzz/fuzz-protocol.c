/* Fuzz target for the control protocol (server/protocol.c, server/kv.c).
 *
 * The input is split into lines; each line runs against a fresh engine over
 * an in-memory media, as a control client's requests would.  Besides
 * crashes and sanitizer reports, it checks three properties:
 *   - every reply parses under the reply grammar of kv.h,
 *   - a reply is "ok ..." or "error: ..." and holds no newline, and
 *   - a line that wc_control_check finds wrong in itself (EINVAL) gets
 *     the same error reply, with EINVAL, when it runs.
 * Built with libFuzzer (make fuzz) it explores; built without (make check)
 * fuzz-main.c replays the corpus as a regression test.
 */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "control.h"
#include "kv.h"
#include "memmedia.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* "log start PATH" writes PATH: an input must not reach the real file
 * system.  Every absolute PATH becomes one file in a private directory
 * (removed at exit), so the command is still fully exercised. */
static char *sandbox;

static void
remove_sandbox (void)
{
  g_autofree char *log = g_build_filename (sandbox, "log", NULL);

  unlink (log);
  rmdir (sandbox);
}

static char *
confine (const char *line)
{
  g_auto (GStrv) words = g_strsplit (line, " ", -1);
  guint n = g_strv_length (words), w[3], k = 0;

  for (guint i = 0; i < n && k < 3; i++)
    if (*words[i])
      w[k++] = i;
  if (k < 3 || strcmp (words[w[0]], "log") != 0 ||
      strcmp (words[w[1]], "start") != 0 || words[w[2]][0] != '/')
    return g_strdup (line);
  if (!sandbox) {
    sandbox = g_dir_make_tmp ("wcache-fuzz-XXXXXX", NULL);
    g_assert (sandbox);
    atexit (remove_sandbox);
  }
  g_free (words[w[2]]);
  words[w[2]] = g_build_filename (sandbox, "log", NULL);
  return g_strjoinv (" ", words);
}

static void
check_reply (const char *reply)
{
  g_autoptr (GPtrArray) pairs = NULL;
  g_autofree char *message = NULL;
  bool ok;

  if (strchr (reply, '\n') ||
      wc_reply_parse (reply, &ok, &pairs, &message) == -1) {
    fprintf (stderr, "reply breaks the grammar: %s\n", reply);
    abort ();
  }
}

/* One media for every input, cleared each time: a fresh 256 KiB buffer
 * per input made the fuzzer spend most of its time in page faults. */
static struct memmedia *
fresh_media (void)
{
  static struct memmedia *m;

  if (!m)
    return m = memmedia_new (64 * 4096);
  memset (m->buf, 0, m->size);
  m->reads = m->writes = m->fua_writes = m->zeroes = m->flushes = 0;
  m->fail_reads = m->fail_writes = m->fail_flushes = 0;
  return m;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct memmedia *m = fresh_media ();
  struct wc_config cfg;
  struct wc_engine *e;
  size_t start = 0;

  memmedia_config (m, &cfg);
  cfg.cache_size = 8 * 4096;
  cfg.oracle = true;
  e = wc_engine_new (&cfg);
  /* Some dirty data so cuts and flushes have work to do. */
  {
    uint8_t buf[4096];
    memset (buf, 0x5a, sizeof buf);
    for (int i = 0; i < 4; i++)
      wc_write (e, buf, sizeof buf, i * 8192, 0);
  }
  /* Lines as the socket server passes them: at most WC_LINE_MAX bytes, no
   * newline, NUL-terminated (the server refuses NUL bytes itself). */
  while (start <= size) {
    const uint8_t *nl = memchr (data + start, '\n', size - start);
    size_t len = nl ? (size_t) (nl - (data + start)) : size - start;
    g_autofree char *line = NULL;
    g_autofree char *reply = NULL;
    g_autofree char *checked = NULL;

    if (len <= WC_LINE_MAX && !memchr (data + start, '\0', len)) {
      g_autofree char *raw = g_strndup ((const char *) data + start, len);
      int check_err, run_err;

      line = confine (raw);
      check_err = wc_control_check (line, &checked);
      check_reply (checked);
      run_err = wc_control_run (e, line, &reply);
      check_reply (reply);
      /* What the check refuses, the run refuses (the texts may differ
       * where the check, without a disk, measured against the largest
       * block size). */
      if (check_err == EINVAL && run_err != EINVAL) {
        fprintf (stderr, "check and run disagree on: %s\n  check: %s\n"
                 "  run (%d): %s\n", line, checked, run_err, reply);
        abort ();
      }
    }
    if (!nl)
      break;
    start += len + 1;
  }
  wc_engine_free (e);
  return 0;
}

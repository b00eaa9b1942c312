/* wlog-tool: the write log reader (lib/wlog.h) for shell tests.
 *
 *   wlog-tool dump LOG                     one line per entry
 *   wlog-tool info LOG                     the superblock and a summary
 *   wlog-tool replay LOG IMAGE [--to N]    apply entries [0, N) to IMAGE
 *
 * Output is stable; tests parse it.
 *
 * dump: one line per entry, fields separated by one space:
 *   INDEX FLAGS SECTOR NR_SECTORS DATA
 * FLAGS as wc_wlog_flags_name ("NONE" for a plain write, "FLUSH",
 * "DISCARD", "FUA|METADATA", ...); SECTOR and NR_SECTORS in log sectors;
 * DATA is "sha256:HEX" (the SHA-256 of a write's data in the log),
 * "mark:TEXT" (a MARK's text, with "\" written "\\" and bytes outside
 * 0x20..0x7e as "\xNN"), or "-".
 *
 * info: "key=value" lines: sector_size, nr_entries, file_size, then, after
 * reading every entry, writes, fua_writes, discards, flushes, marks and
 * bytes_written (the data bytes of all writes).
 *
 * replay: writes nothing on stdout.  N defaults to nr_entries; IMAGE
 * must exist and is not resized.
 *
 * Errors go to stderr as "wlog-tool: COMMAND: FILE: MESSAGE" with exit
 * status 1 (dump prints the entries before the bad one first); usage
 * errors exit with status 2.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "wlog.h"

static const char *command;

static int
usage (void)
{
  fprintf (stderr,
           "usage: wlog-tool dump LOG\n"
           "       wlog-tool info LOG\n"
           "       wlog-tool replay LOG IMAGE [--to N]\n");
  return 2;
}

static int
fail (const char *file, const char *message)
{
  fprintf (stderr, "wlog-tool: %s: %s: %s\n", command, file, message);
  return 1;
}

static void
print_escaped (const char *s)
{
  for (; *s; s++) {
    unsigned char c = *s;

    if (c == '\\')
      fputs ("\\\\", stdout);
    else if (c >= 0x20 && c <= 0x7e)
      putchar (c);
    else
      printf ("\\x%02x", c);
  }
}

/* The SHA-256 of e's data, in hex; NULL with *message on error. */
static char *
data_hash (struct wc_wlog *r, const struct wc_wlog_entry *e, char **message)
{
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  g_autofree uint8_t *buf = g_malloc (1024 * 1024);

  for (uint64_t pos = 0; pos < e->data_size; ) {
    size_t n = MIN (e->data_size - pos, 1024 * 1024);

    if (wc_wlog_read_data (r, e, pos, buf, n, message) == -1)
      return NULL;
    g_checksum_update (sum, buf, n);
    pos += n;
  }
  return g_strdup (g_checksum_get_string (sum));
}

static int
dump (const char *path)
{
  g_autofree char *message = NULL;
  struct wc_wlog *r = wc_wlog_open (path, &message);
  struct wc_wlog_entry e;
  char flags[64];
  int ret;

  if (!r)
    return fail (path, message);
  while ((ret = wc_wlog_next (r, &e, &message)) == 1) {
    g_autofree char *hash = NULL;

    /* The hash first: a line is printed whole or not at all. */
    if (e.kind == WC_WLOG_KIND_WRITE &&
        !(hash = data_hash (r, &e, &message))) {
      ret = -1;
      break;
    }
    printf ("%" PRIu64 " %s %" PRIu64 " %" PRIu64 " ", e.index,
            wc_wlog_flags_name (e.flags, flags, sizeof flags),
            e.sector, e.nr_sectors);
    switch (e.kind) {
    case WC_WLOG_KIND_WRITE:
      printf ("sha256:%s", hash);
      break;
    case WC_WLOG_KIND_MARK:
      fputs ("mark:", stdout);
      print_escaped (e.mark);
      break;
    case WC_WLOG_KIND_DISCARD:
    case WC_WLOG_KIND_FLUSH:
      putchar ('-');
      break;
    }
    putchar ('\n');
  }
  wc_wlog_close (r);
  fflush (stdout);
  return ret == -1 ? fail (path, message) : 0;
}

static int
info (const char *path)
{
  g_autofree char *message = NULL;
  struct wc_wlog *r = wc_wlog_open (path, &message);
  struct wc_wlog_entry e;
  uint64_t writes = 0, fua = 0, discards = 0, flushes = 0, marks = 0;
  uint64_t bytes = 0;
  int ret;

  if (!r)
    return fail (path, message);
  printf ("sector_size=%" PRIu32 "\n", wc_wlog_sector_size (r));
  printf ("nr_entries=%" PRIu64 "\n", wc_wlog_nr_entries (r));
  printf ("file_size=%" PRIu64 "\n", wc_wlog_file_size (r));
  while ((ret = wc_wlog_next (r, &e, &message)) == 1) {
    switch (e.kind) {
    case WC_WLOG_KIND_WRITE:
      writes++;
      fua += (e.flags & WC_WLOG_FUA) != 0;
      bytes += e.data_size;
      break;
    case WC_WLOG_KIND_DISCARD: discards++; break;
    case WC_WLOG_KIND_FLUSH: flushes++; break;
    case WC_WLOG_KIND_MARK: marks++; break;
    }
  }
  wc_wlog_close (r);
  if (ret == -1) {
    fflush (stdout);
    return fail (path, message);
  }
  printf ("writes=%" PRIu64 "\nfua_writes=%" PRIu64 "\ndiscards=%" PRIu64
          "\nflushes=%" PRIu64 "\nmarks=%" PRIu64 "\nbytes_written=%" PRIu64
          "\n", writes, fua, discards, flushes, marks, bytes);
  return 0;
}

static int
replay (const char *path, const char *image, const char *to)
{
  g_autofree char *message = NULL;
  struct wc_wlog *r;
  uint64_t n;
  int fd, ret;

  r = wc_wlog_open (path, &message);
  if (!r)
    return fail (path, message);
  n = wc_wlog_nr_entries (r);
  if (to) {
    char *end;

    errno = 0;
    n = strtoull (to, &end, 10);
    if (errno || end == to || *end || to[0] == '-') {
      wc_wlog_close (r);
      fprintf (stderr, "wlog-tool: replay: --to %s: not a number\n", to);
      return 2;
    }
  }
  fd = open (image, O_WRONLY | O_CLOEXEC);
  if (fd == -1) {
    wc_wlog_close (r);
    return fail (image, g_strerror (errno));
  }
  ret = wc_wlog_replay_fd (r, n, fd, &message);
  wc_wlog_close (r);
  if (close (fd) == -1 && ret == 0)
    return fail (image, g_strerror (errno));
  return ret == -1 ? fail (path, message) : 0;
}

int
main (int argc, char *argv[])
{
  if (argc < 3)
    return usage ();
  command = argv[1];
  if (strcmp (command, "dump") == 0 && argc == 3)
    return dump (argv[2]);
  if (strcmp (command, "info") == 0 && argc == 3)
    return info (argv[2]);
  if (strcmp (command, "replay") == 0 && argc == 4)
    return replay (argv[2], argv[3], NULL);
  if (strcmp (command, "replay") == 0 && argc == 6 &&
      strcmp (argv[4], "--to") == 0)
    return replay (argv[2], argv[3], argv[5]);
  return usage ();
}

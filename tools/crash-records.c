/* wcache-crash: the records checkers (--check=records, records:FS).
 *
 * Owns the check of the guest harness's self-identifying records
 * (tools/guest/lib.sh): record N is one 4096-byte block of 64 identical
 * 64-byte lines
 *     "WCREC seed=SSSSSSSSSS rec=NNNNNNNN " + 28 '.' + "\n"
 * written on the raw disk at offset + N * 4096 (offset: 1 MiB, the
 * guest's WG_RAW_BASE blocks), or with records:FS at N * 4096 in a file
 * of an ext4, XFS or btrfs filesystem (the guest's /records), read through a mount of
 * a copy of the state, after the kernel has replayed the journal as a
 * reboot would (crash-fsck.c).  The host puts a MARK "record N" into the
 * write log the moment the guest says record N is durable, so the rule is:
 * every record whose MARK precedes the crash point reads back exactly.
 * A record that does not is reported as the harness does: missing (all
 * zeros), torn (its own lines and zeros), stale (another record's or
 * run's data) or corrupt.
 *
 * The seed is the one in the log's own copy of the first marked record
 * (raw: the last write before its MARK that covers it; a filesystem: the last
 * write before it holding a line of that record, wherever the filesystem
 * put it), unless given.
 *
 * On a raw disk a worker remembers which records it has seen intact and
 * forgets a record when the scratch image changes under it
 * (crash_records_changed, called for every range the walk rewrites), so
 * a state costs the records whose blocks changed, not every marked
 * record: thousands of records stay cheap.  In a filesystem a record's
 * place is the filesystem's business: every marked record is read.
 *
 * Locking: none; an instance belongs to one worker.
 */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "crash-check.h"

int64_t
crash_record_of_mark (const char *text)
{
  const char *p;
  int64_t n = 0;

  if (!g_str_has_prefix (text, "record "))
    return -1;
  p = text + 7;
  if (!g_ascii_isdigit (*p))
    return -1;
  for (; g_ascii_isdigit (*p); p++) {
    n = n * 10 + (*p - '0');
    if (n > UINT32_MAX)
      return -1;
  }
  return *p ? -1 : n;
}

void
crash_record_block (uint32_t seed, uint32_t n, uint8_t *out)
{
  char line[CRASH_RECORD_LINE + 1];

  snprintf (line, sizeof line,
            "WCREC seed=%010" PRIu32 " rec=%08" PRIu32
            " ............................\n", seed, n);
  g_assert (strlen (line) == CRASH_RECORD_LINE);
  for (int i = 0; i < CRASH_RECORD_SIZE / CRASH_RECORD_LINE; i++)
    memcpy (out + i * CRASH_RECORD_LINE, line, CRASH_RECORD_LINE);
}

/* Whether line (64 bytes) is a line of record n; its seed in *seed. */
static bool
line_of_record (const char *line, uint32_t n, uint32_t *seed)
{
  char copy[CRASH_RECORD_LINE + 1];
  unsigned s, r;

  memcpy (copy, line, CRASH_RECORD_LINE);
  copy[CRASH_RECORD_LINE] = '\0';
  if (sscanf (copy, "WCREC seed=%10u rec=%8u ", &s, &r) != 2 || r != n)
    return false;
  *seed = s;
  return true;
}

/* records:FS: the seed in the newest write before entry `before` that
 * holds a line of record n, at any 64-byte boundary of the disk. */
static int
seed_from_log_anywhere (const struct crash_model *m, uint32_t n,
                        uint64_t before, uint32_t *seed, char **message)
{
  const struct crash_log *log = m->log;
  g_autofree char *buf = g_malloc (CRASH_RECORD_SIZE);

  for (size_t i = log->nr_writes; i > 0; i--) {
    const struct crash_write *w = &log->writes[i - 1];
    uint64_t first = (w->offset + CRASH_RECORD_LINE - 1) / CRASH_RECORD_LINE
                     * CRASH_RECORD_LINE;

    if (w->index >= before || w->discard)
      continue;
    for (uint64_t at = first; at + CRASH_RECORD_LINE <= w->offset + w->length;
         at += CRASH_RECORD_SIZE) {
      uint64_t len = MIN ((uint64_t) CRASH_RECORD_SIZE,
                          w->offset + w->length - at) / CRASH_RECORD_LINE
                     * CRASH_RECORD_LINE;

      if (crash_log_read (log, w, at - w->offset, buf, len, message) == -1)
        return -1;
      for (uint64_t k = 0; k < len; k += CRASH_RECORD_LINE)
        if (line_of_record (buf + k, n, seed))
          return 0;
    }
  }
  *message = g_strdup_printf ("--check records:FS: no line of record %"
                              PRIu32 " in the log's writes before its MARK"
                              " (give --records-seed)", n);
  errno = EINVAL;
  return -1;
}

/* The seed in the log's copy of record n, written before entry `before`. */
static int
seed_from_log (const struct crash_model *m, uint64_t offset, uint32_t n,
               uint64_t before, uint32_t *seed, char **message)
{
  const struct crash_log *log = m->log;
  uint64_t at = offset + (uint64_t) n * CRASH_RECORD_SIZE;
  char line[CRASH_RECORD_LINE] = "";

  for (size_t i = log->nr_writes; i > 0; i--) {
    const struct crash_write *w = &log->writes[i - 1];

    if (w->index >= before || w->discard || at < w->offset ||
        at + CRASH_RECORD_LINE > w->offset + w->length)
      continue;
    if (crash_log_read (log, w, at - w->offset, line, CRASH_RECORD_LINE,
                        message) == -1)
      return -1;
    if (line_of_record (line, n, seed))
      return 0;
    break;
  }
  *message = g_strdup_printf ("--check records: no copy of record %" PRIu32
                              " at byte %" PRIu64 " in the log before its"
                              " MARK (is --records-offset right? or give"
                              " --records-seed)", n, at);
  errno = EINVAL;
  return -1;
}

int
crash_records_prepare (struct crash_checker *c, const struct crash_model *m,
                       char **message)
{
  const struct crash_log *log = m->log;
  int64_t n = -1;
  size_t j;

  for (j = 0; j < log->nr_marks && n < 0; j++)
    n = crash_record_of_mark (log->marks[j].text);
  if (n < 0) {
    *message = g_strdup_printf ("--check %s: the log has no MARK"
                                " \"record N\": nothing to check", c->spec);
    errno = EINVAL;
    return -1;
  }
  if (!c->records.have_seed) {
    uint64_t before = log->marks[j - 1].index;

    if ((c->kind == CRASH_CHECK_RECORDS_FS
         ? seed_from_log_anywhere (m, n, before, &c->records.seed, message)
         : seed_from_log (m, c->records.offset, n, before, &c->records.seed,
                          message)) == -1)
      return -1;
    c->records.have_seed = true;
  }
  if (c->kind == CRASH_CHECK_RECORDS_FS) {
    if (!c->records.file)
      c->records.file = "records";
    while (*c->records.file == '/')
      c->records.file++;
    return crash_fsck_prepare (c, message);
  }
  return 0;
}

struct records {
  const struct crash_log *log;
  const struct crash_checker *c;
  void *mount;                  /* records:FS: the recovered mount */
  uint32_t seed;
  uint64_t offset;
  int64_t *rec_of_mark;         /* per MARK: its record, or -1 */
  uint64_t max_rec;
  uint64_t *intact;             /* records seen intact since last changed */
  uint8_t want[CRASH_RECORD_SIZE], got[CRASH_RECORD_SIZE];
};

void *
crash_records_new (const struct crash_checker *c, const struct crash_model *m,
                   const char *dir, char **message)
{
  struct records *r = g_new0 (struct records, 1);

  if (c->kind == CRASH_CHECK_RECORDS_FS) {
    r->mount = crash_fsck_new (c, dir, message);
    if (!r->mount) {
      g_free (r);
      return NULL;
    }
  }
  r->c = c;
  r->log = m->log;
  r->seed = c->records.seed;
  r->offset = c->records.offset;
  r->rec_of_mark = g_new (int64_t, m->log->nr_marks);
  for (size_t j = 0; j < m->log->nr_marks; j++) {
    r->rec_of_mark[j] = crash_record_of_mark (m->log->marks[j].text);
    if (r->rec_of_mark[j] > (int64_t) r->max_rec)
      r->max_rec = r->rec_of_mark[j];
  }
  r->intact = g_new0 (uint64_t, crash_words (r->max_rec + 1));
  return r;
}

void
crash_records_free (void *opaque)
{
  struct records *r = opaque;

  if (!r)
    return;
  crash_fsck_free (r->mount);
  g_free (r->rec_of_mark);
  g_free (r->intact);
  g_free (r);
}

void
crash_records_changed (void *opaque, uint64_t off, uint64_t len)
{
  struct records *r = opaque;
  uint64_t first, last, end;

  if (len == UINT64_MAX || __builtin_add_overflow (off, len, &end)) {
    memset (r->intact, 0, crash_words (r->max_rec + 1) * sizeof *r->intact);
    return;
  }
  if (len == 0 || end <= r->offset)
    return;
  first = off <= r->offset ? 0 : (off - r->offset) / CRASH_RECORD_SIZE;
  last = MIN ((end - 1 - r->offset) / CRASH_RECORD_SIZE, r->max_rec);
  for (uint64_t n = first; n <= last; n++)
    r->intact[n / 64] &= ~(UINT64_C (1) << (n % 64));
}

const char *
crash_record_classify (const uint8_t *got, const uint8_t *want)
{
  static const uint8_t zero_line[CRASH_RECORD_LINE];
  bool zeros = true, own = true;

  for (int i = 0; i < CRASH_RECORD_SIZE; i += CRASH_RECORD_LINE) {
    bool z = memcmp (got + i, zero_line, CRASH_RECORD_LINE) == 0;

    zeros &= z;
    own &= z || memcmp (got + i, want, CRASH_RECORD_LINE) == 0;
  }
  if (zeros)
    return "missing";
  if (own)
    return "torn";
  if (memcmp (got, "WCREC ", 6) == 0)
    return "stale";
  return "corrupt";
}

/* Checks every record marked before the state against fd, record n at
 * base + n * 4096; cache: skip records seen intact since they last
 * changed. */
static enum crash_verdict
check_marked (struct records *r, const struct crash_state *st, int fd,
              const char *name, uint64_t base, bool cache, char **detail)
{
  GString *why = NULL;
  uint64_t lost = 0, marked = 0;

  for (uint32_t j = 0; j < st->nr_marks; j++) {
    int64_t n = r->rec_of_mark[j];
    ssize_t got = 0;

    if (n < 0)
      continue;
    marked++;
    if (cache && crash_bit (r->intact, n))
      continue;
    if (fd >= 0) {
      got = pread (fd, r->got, CRASH_RECORD_SIZE,
                   base + (uint64_t) n * CRASH_RECORD_SIZE);
      /* A filesystem that checksums data (btrfs) refuses a block whose
       * write the state lost with EIO: that is the loss, reported by
       * the filesystem, not a failure of the check. */
      if (got == -1 && errno == EIO && r->mount) {
        if (lost++ < 3) {
          if (!why)
            why = g_string_new ("");
          g_string_append_printf (why, " record %" PRId64 " unreadable"
                                  " (EIO from the filesystem);", n);
        }
        continue;
      }
      if (got == -1) {
        *detail = g_strdup_printf ("%s: %s: read: %s", r->c->spec, name,
                                   g_strerror (errno));
        if (why)
          g_string_free (why, TRUE);
        return CRASH_CHECK_ERROR;
      }
    }
    /* Past the end (or no file at all) reads as nothing written. */
    memset (r->got + got, 0, CRASH_RECORD_SIZE - got);
    crash_record_block (r->seed, n, r->want);
    if (memcmp (r->got, r->want, CRASH_RECORD_SIZE) == 0) {
      if (cache)
        crash_set_bit (r->intact, n);
      continue;
    }
    if (lost++ < 3) {
      if (!why)
        why = g_string_new ("");
      g_string_append_printf (why, " record %" PRId64 " %s;", n,
                              crash_record_classify (r->got, r->want));
    }
  }
  if (lost == 0)
    return CRASH_CONSISTENT;
  *detail = g_strdup_printf ("%s:%s %" PRIu64 " of %" PRIu64 " records"
                             " marked durable lost%s", r->c->spec, why->str,
                             lost, marked,
                             fd < 0 ? " (no such file)" : "");
  g_string_free (why, TRUE);
  return CRASH_INCONSISTENT;
}

/* records:FS: through a recovered mount of a copy of the state. */
static enum crash_verdict
run_fs (struct records *r, const struct crash_state *st, char **detail)
{
  g_autofree char *path = NULL;
  enum crash_verdict v, u;
  int fd;
  char *udetail = NULL;

  v = crash_fsck_mount (r->mount, st, detail);
  if (v != CRASH_CONSISTENT)
    return v;
  path = g_build_filename (crash_fsck_mountpoint (r->mount), r->c->records.file,
                           NULL);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd == -1 && errno != ENOENT) {
    *detail = g_strdup_printf ("%s: /%s: %s", r->c->spec, r->c->records.file,
                               g_strerror (errno));
    v = CRASH_CHECK_ERROR;
  } else {
    v = check_marked (r, st, fd, r->c->records.file, 0, false, detail);
    if (fd >= 0)
      close (fd);
  }
  u = crash_fsck_unmount (r->mount, &udetail);
  if (u != CRASH_CONSISTENT && v != CRASH_CHECK_ERROR) {
    if (v != CRASH_CONSISTENT)
      g_free (*detail);
    *detail = udetail;
    return u;
  }
  g_free (udetail);
  return v;
}

enum crash_verdict
crash_records_run (void *opaque, const struct crash_state *st, char **detail)
{
  struct records *r = opaque;

  if (r->mount)
    return run_fs (r, st, detail);
  return check_marked (r, st, st->image_fd, st->image, r->offset, true,
                       detail);
}

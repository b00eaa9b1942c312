/* wcache-crash: the records checker (--check=records).
 *
 * Owns the check of the guest harness's self-identifying records
 * (tools/guest/lib.sh): record N is one 4096-byte block of 64 identical
 * 64-byte lines
 *     "WCREC seed=SSSSSSSSSS rec=NNNNNNNN " + 28 '.' + "\n"
 * written on the raw disk at offset + N * 4096 (offset: 1 MiB, the
 * guest's WG_RAW_BASE blocks).  The host puts a MARK "record N" into the
 * write log the moment the guest says record N is durable, so the rule is:
 * every record whose MARK precedes the crash point reads back exactly.
 * A record that does not is reported as the harness does: missing (all
 * zeros), torn (its own lines and zeros), stale (another record's or
 * run's data) or corrupt.
 *
 * The seed is the one in the log's own copy of the first marked record
 * (the last write before its MARK that covers it), unless given.
 *
 * A worker remembers which records it has seen intact and forgets a
 * record when the scratch image changes under it (crash_records_changed,
 * called for every range the walk rewrites), so a state costs the records
 * whose blocks changed, not every marked record: thousands of records
 * stay cheap.
 *
 * Locking: none; an instance belongs to one worker.
 */
#include <config.h>

#include <errno.h>
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

/* The seed in the log's copy of record n, written before entry `before`. */
static int
seed_from_log (const struct crash_model *m, uint64_t offset, uint32_t n,
               uint64_t before, uint32_t *seed, char **message)
{
  const struct crash_log *log = m->log;
  uint64_t at = offset + (uint64_t) n * CRASH_RECORD_SIZE;
  char line[CRASH_RECORD_LINE + 1] = "";
  unsigned s, r;

  for (size_t i = log->nr_writes; i > 0; i--) {
    const struct crash_write *w = &log->writes[i - 1];

    if (w->index >= before || w->discard || at < w->offset ||
        at + CRASH_RECORD_LINE > w->offset + w->length)
      continue;
    if (crash_log_read (log, w, at - w->offset, line, CRASH_RECORD_LINE,
                        message) == -1)
      return -1;
    if (sscanf (line, "WCREC seed=%10u rec=%8u ", &s, &r) == 2 && r == n) {
      *seed = s;
      return 0;
    }
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

  for (size_t j = 0; j < log->nr_marks; j++) {
    int64_t n = crash_record_of_mark (log->marks[j].text);

    if (n < 0)
      continue;
    if (c->records.have_seed)
      return 0;
    if (seed_from_log (m, c->records.offset, n, log->marks[j].index,
                       &c->records.seed, message) == -1)
      return -1;
    c->records.have_seed = true;
    return 0;
  }
  *message = g_strdup_printf ("--check records: the log has no MARK"
                              " \"record N\": nothing to check");
  errno = EINVAL;
  return -1;
}

struct records {
  const struct crash_log *log;
  uint32_t seed;
  uint64_t offset;
  int64_t *rec_of_mark;         /* per MARK: its record, or -1 */
  uint64_t max_rec;
  uint64_t *intact;             /* records seen intact since last changed */
  uint8_t want[CRASH_RECORD_SIZE], got[CRASH_RECORD_SIZE];
};

void *
crash_records_new (const struct crash_checker *c, const struct crash_model *m)
{
  struct records *r = g_new0 (struct records, 1);

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

static const char *
classify (const struct records *r)
{
  static const uint8_t zero_line[CRASH_RECORD_LINE];
  bool zeros = true, own = true;

  for (int i = 0; i < CRASH_RECORD_SIZE; i += CRASH_RECORD_LINE) {
    bool z = memcmp (r->got + i, zero_line, CRASH_RECORD_LINE) == 0;

    zeros &= z;
    own &= z || memcmp (r->got + i, r->want, CRASH_RECORD_LINE) == 0;
  }
  if (zeros)
    return "missing";
  if (own)
    return "torn";
  if (memcmp (r->got, "WCREC ", 6) == 0)
    return "stale";
  return "corrupt";
}

enum crash_verdict
crash_records_run (void *opaque, const struct crash_state *st, char **detail)
{
  struct records *r = opaque;
  GString *why = NULL;
  uint64_t lost = 0, marked = 0;

  for (uint32_t j = 0; j < st->nr_marks; j++) {
    int64_t n = r->rec_of_mark[j];
    uint64_t at;
    ssize_t got;

    if (n < 0)
      continue;
    marked++;
    if (crash_bit (r->intact, n))
      continue;
    at = r->offset + (uint64_t) n * CRASH_RECORD_SIZE;
    got = pread (st->image_fd, r->got, CRASH_RECORD_SIZE, at);
    if (got == -1) {
      *detail = g_strdup_printf ("records: %s: read: %s", st->image,
                                 g_strerror (errno));
      if (why)
        g_string_free (why, TRUE);
      return CRASH_CHECK_ERROR;
    }
    /* Past the end of the image reads as nothing written. */
    memset (r->got + got, 0, CRASH_RECORD_SIZE - got);
    crash_record_block (r->seed, n, r->want);
    if (memcmp (r->got, r->want, CRASH_RECORD_SIZE) == 0) {
      crash_set_bit (r->intact, n);
      continue;
    }
    if (lost++ < 3) {
      if (!why)
        why = g_string_new ("records:");
      g_string_append_printf (why, " record %" PRId64 " %s;", n,
                              classify (r));
    }
  }
  if (lost == 0)
    return CRASH_CONSISTENT;
  g_string_append_printf (why, " %" PRIu64 " of %" PRIu64 " records marked"
                          " durable lost", lost, marked);
  *detail = g_string_free (why, FALSE);
  return CRASH_INCONSISTENT;
}

/* wcache-crash: checkers, which judge a crash state.
 *
 * A checker says consistent (0), inconsistent (1) or that it could not
 * tell (anything else: a checker error, reported and never counted as
 * consistent).  Kinds (--check):
 *   CMD            a command, split like a shell word list (no shell), run
 *                  with WCACHE_CRASH_IMAGE (the image, which it must not
 *                  write), WCACHE_CRASH_STATE (the state's ID) and
 *                  WCACHE_CRASH_MARKS (a file: the MARKs before the crash
 *                  point, one a line, in order; "\" written "\\" and bytes
 *                  outside 0x20..0x7e as "\xNN") in its environment, its
 *                  standard input /dev/null, its output kept for the report
 *   records        the guest harness's self-identifying records on a raw
 *                  disk (crash-records.c)
 *   records:ext4|xfs|btrfs
 *                  the same records in a file of that filesystem, read
 *                  through a recovered mount of a copy (crash-records.c,
 *                  with crash-fsck.c's mount)
 *   fsck:ext4|xfs|btrfs
 *                  the kernel replays the filesystem's journal or log (a
 *                  loop mount of a copy, then umount), then the
 *                  filesystem's read-only check must be clean
 *                  (crash-fsck.c)
 *
 * Calling sequence
 *   c = crash_checker_parse (spec, &msg)          each --check
 *   crash_checker_prepare (c, model, &ro, &msg)   before any state: the
 *                                                 checker can run here
 *   k = crash_check_new (c, model, dir, &msg)     per worker, dir its own
 *   crash_check_changed (k, off, len)             the image changed there
 *   v = crash_check_run (k, &state, &detail)      per state
 *   crash_check_free (k); crash_checker_free (c)
 *
 * Threads: a checker is read-only once prepared; a check belongs to one
 * worker thread.
 */
#ifndef WC_CRASH_CHECK_H
#define WC_CRASH_CHECK_H

#include <stdbool.h>
#include <stdint.h>

#include "crash-model.h"

enum crash_verdict {
  CRASH_CONSISTENT,
  CRASH_INCONSISTENT,
  CRASH_CHECK_ERROR,
};

/* "consistent", "inconsistent", "error". */
const char *crash_verdict_name (enum crash_verdict v);

enum crash_check_kind {
  CRASH_CHECK_CMD,
  CRASH_CHECK_RECORDS,
  CRASH_CHECK_RECORDS_FS,
  CRASH_CHECK_FSCK_EXT4,
  CRASH_CHECK_FSCK_XFS,
  CRASH_CHECK_FSCK_BTRFS,
};

/* The records checker's layout (the guest harness's raw disk). */
#define CRASH_RECORD_SIZE 4096
#define CRASH_RECORD_LINE 64
#define CRASH_RECORDS_OFFSET (256 * 4096)

struct crash_records_opts {
  uint64_t offset;              /* raw: record N lies at offset + N * 4096 */
  const char *file;             /* records:FS: the file, from the root
                                 * (record N at N * 4096 in it) */
  bool have_seed;
  uint32_t seed;                /* else found in the log */
};

struct crash_checker {
  enum crash_check_kind kind;
  char *spec;                   /* as given */
  char **argv;                  /* CMD: the words; argv[0] resolved */
  struct crash_records_opts records;
  char *fsck_program;           /* fsck: the program, resolved */
  const char *fs;               /* records:FS and fsck:FS: ext4, xfs, btrfs */
};

/* What a checker is told about one state. */
struct crash_state {
  uint64_t index;
  const char *id;
  const char *image;            /* path */
  int image_fd;
  const char *marks_path;
  uint32_t nr_marks;            /* log->marks[0, nr_marks) precede it */
};

struct crash_checker *crash_checker_parse (const char *spec, char **message);
int crash_checker_prepare (struct crash_checker *c,
                           const struct crash_model *m,
                           const struct crash_records_opts *ro,
                           char **message);
void crash_checker_free (struct crash_checker *c);

struct crash_check;

struct crash_check *crash_check_new (const struct crash_checker *c,
                                     const struct crash_model *m,
                                     const char *dir, char **message);
void crash_check_free (struct crash_check *k);
void crash_check_changed (struct crash_check *k, uint64_t off, uint64_t len);
/* Judges the state; for a verdict other than consistent, *detail says why
 * (g_free).  CMD checkers report the command's last output lines. */
enum crash_verdict crash_check_run (struct crash_check *k,
                                    const struct crash_state *st,
                                    char **detail);

/* Runs argv with envp, standard input /dev/null, standard output and
 * error to out_fd (if >= 0); returns the wait status, or -1 with errno
 * (the program could not be started). */
int crash_spawn (char *const argv[], char *const envp[], int out_fd);
/* "exit status 3", "killed by signal 9". */
char *crash_status_text (int status);
/* The last lines of the open file fd (at most about 400 bytes), or NULL if
 * it is empty. */
char *crash_output_tail (int fd);

/* ---- Per kind (crash-records.c, crash-fsck.c) ---- */
int crash_records_prepare (struct crash_checker *c,
                           const struct crash_model *m, char **message);
void *crash_records_new (const struct crash_checker *c,
                         const struct crash_model *m, const char *dir,
                         char **message);
void crash_records_free (void *r);
void crash_records_changed (void *r, uint64_t off, uint64_t len);
enum crash_verdict crash_records_run (void *r, const struct crash_state *st,
                                      char **detail);
/* Parses "record N" (N decimal, nothing else): N, or -1. */
int64_t crash_record_of_mark (const char *text);
/* Record n's 4096 bytes, as the guest writes them. */
void crash_record_block (uint32_t seed, uint32_t n, uint8_t *out);
/* What a record block that is not the wanted one (want: crash_record_block's)
 * is: "missing" (all zeros), "torn" (its own lines and zeros), "stale"
 * (starts as some record does: another record's or run's) or "corrupt".
 * The guest harness's verdict uses the same words (wcache-guest-verdict). */
const char *crash_record_classify (const uint8_t *got, const uint8_t *want);

int crash_fsck_prepare (struct crash_checker *c, char **message);
void *crash_fsck_new (const struct crash_checker *c, const char *dir,
                      char **message);
void crash_fsck_free (void *f);
enum crash_verdict crash_fsck_run (void *f, const struct crash_state *st,
                                   char **detail);
/* Copies the state's image and mounts the copy (the kernel replays the
 * journal) at crash_fsck_mountpoint: consistent when mounted, inconsistent
 * when the filesystem refuses the mount, else a checker error.  Unmount
 * before the next mount; unmounting reports errors as checker errors. */
enum crash_verdict crash_fsck_mount (void *f, const struct crash_state *st,
                                     char **detail);
enum crash_verdict crash_fsck_unmount (void *f, char **detail);
const char *crash_fsck_mountpoint (void *f);

#endif /* WC_CRASH_CHECK_H */

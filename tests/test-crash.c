/* Unit tests for wcache-crash: the state model and its enumeration, state
 * IDs, sharding, the plan's dedupe, and the incremental scratch image
 * against a from-scratch materialisation (tools/crash-*.h).
 *
 * Logs are built in files with the format's own encoders (wlog-format.h),
 * the writer's code, then loaded through the one reader.
 */
#include <config.h>

#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "crash-id.h"
#include "crash-image.h"
#include "crash-log.h"
#include "crash-model.h"
#include "crash-plan.h"
#include "wlog-format.h"

/* ---- Building logs -------------------------------------------------------- */

struct lb {
  GByteArray *b;
  uint32_t ss;
  uint64_t n;
};

static struct lb *
lb_new (uint32_t ss)
{
  struct lb *lb = g_new0 (struct lb, 1);

  lb->b = g_byte_array_new ();
  lb->ss = ss;
  g_byte_array_set_size (lb->b, ss);
  return lb;
}

static void
lb_entry (struct lb *lb, uint64_t sector, uint64_t nr, uint64_t flags,
          const char *mark, const uint8_t *data)
{
  struct wc_wlog_header h = { sector, nr, flags, mark ? strlen (mark) : 0 };
  guint at = lb->b->len;

  g_byte_array_set_size (lb->b, at + lb->ss);
  wc_wlog_header_encode (lb->b->data + at, lb->ss, &h, mark);
  if (data && !(flags & (WC_WLOG_DISCARD | WC_WLOG_FLUSH | WC_WLOG_MARK)))
    g_byte_array_append (lb->b, data, nr * lb->ss);
  lb->n++;
}

/* A write of nr sectors at sector, every byte `fill`, or random bytes
 * from rng if fill < 0. */
static void
lb_write (struct lb *lb, uint64_t sector, uint64_t nr, uint64_t flags,
          int fill, GRand *rng)
{
  g_autofree uint8_t *d = g_malloc (nr * lb->ss);

  for (uint64_t i = 0; i < nr * lb->ss; i++)
    d[i] = fill >= 0 ? fill : g_rand_int_range (rng, 0, 256);
  lb_entry (lb, sector, nr, flags, NULL, d);
}

static void lb_flush (struct lb *lb) { lb_entry (lb, 0, 0, WC_WLOG_FLUSH, NULL, NULL); }
static void lb_mark (struct lb *lb, const char *t) { lb_entry (lb, 0, 0, WC_WLOG_MARK, t, NULL); }

/* Writes the log to a new file in dir; returns its path. */
static char *
lb_save (struct lb *lb, const char *dir)
{
  char *path = g_build_filename (dir, "log", NULL);

  wc_wlog_super_encode (lb->b->data, lb->ss, lb->n);
  g_assert_true (g_file_set_contents (path, (char *) lb->b->data, lb->b->len,
                                      NULL));
  g_byte_array_unref (lb->b);
  g_free (lb);
  return path;
}

static char *
tmpdir (void)
{
  return g_dir_make_tmp ("test-crash-XXXXXX", NULL);
}

static void
rmtree (const char *dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  const char *name;

  while ((name = g_dir_read_name (d))) {
    g_autofree char *p = g_build_filename (dir, name, NULL);

    g_unlink (p);
  }
  g_dir_close (d);
  g_rmdir (dir);
}

static struct crash_log *
load (const char *path)
{
  g_autofree char *msg = NULL;
  struct crash_log *log = crash_log_load (path, &msg);

  g_assert_null (msg);
  g_assert_nonnull (log);
  return log;
}

static struct crash_model *
model (const struct crash_log *log, uint32_t k, uint32_t samples,
       uint64_t torn)
{
  g_autofree char *msg = NULL;
  struct crash_opts o;
  struct crash_model *m;

  crash_opts_init (&o);
  o.exhaustive = k;
  o.samples = samples;
  o.torn = torn;
  m = crash_model_new (log, &o, &msg);
  g_assert_null (msg);
  g_assert_nonnull (m);
  return m;
}

/* ---- IDs -------------------------------------------------------------------- */

static void
test_id_round_trip (void)
{
  GRand *rng = g_rand_new_with_seed (1);

  for (int t = 0; t < 2000; t++) {
    uint64_t nbits = g_rand_int_range (rng, 0, 300);
    uint64_t kept[5] = { 0 }, last = 0;
    g_autofree char *text = NULL;
    g_autofree char *msg = NULL;
    struct crash_id id;

    for (uint64_t i = 0; i < nbits; i++)
      if (g_rand_int_range (rng, 0, 3) == 0) {
        crash_set_bit (kept, i);
        last = i + 1;
      }
    text = crash_id_format (7, 1234, t % 2 ? 4096 : 0, kept, nbits);
    g_assert_cmpint (crash_id_parse (text, &id, &msg), ==, 0);
    g_assert_cmpuint (id.epoch, ==, 7);
    g_assert_cmpuint (id.pos, ==, 1234);
    g_assert_cmpuint (id.unit, ==, t % 2 ? 4096 : 0);
    g_assert_cmpuint (id.nbits, ==, last);
    for (uint64_t i = 0; i < nbits; i++)
      g_assert_cmpint (i < id.nbits && crash_bit (id.kept, i), ==,
                       crash_bit (kept, i));
    crash_id_clear (&id);
  }
  g_rand_free (rng);
}

static void
test_id_text (void)
{
  uint64_t kept[1] = { 0x17 };    /* 0-2,4 */
  g_autofree char *a = crash_id_format (2, 41, 0, kept, 5);
  g_autofree char *b = crash_id_format (0, 9, 4096, kept, 0);

  g_assert_cmpstr (a, ==, "e2.p41.k0-2,4");
  g_assert_cmpstr (b, ==, "e0.p9.u4096.knone");
}

static void
test_id_bad (void)
{
  static const char *const bad[] = {
    "", "e", "e1", "e1.p", "e1.p2", "e1.p2.", "e1.p2.k", "e1.p2.k3-1",
    "e1.p2.k1,1", "e1.p2.k2,1", "e01.p2.knone", "e1.p2.k1,", "e1.p2.u0.knone",
    "e1.p2.k-1", "x1.p2.knone", "e1.p2.knone ", "e1.p2.k1 ", "e+1.p2.knone",
    "e1.p99999999999999999999999.knone", "e1.p2.kNONE", "e1.p2.u.knone",
    "e1.p2.k1-2-3", "e1.p2.k1099511627776",
  };

  for (size_t i = 0; i < G_N_ELEMENTS (bad); i++) {
    g_autofree char *msg = NULL;
    struct crash_id id;

    if (crash_id_parse (bad[i], &id, &msg) != -1)
      g_error ("accepted bad ID \"%s\"", bad[i]);
    g_assert_nonnull (msg);
  }
}

/* ---- The model -------------------------------------------------------------- */

/* An epoch of n independent writes (no FLUSH, no FUA, no MARK): 2^n
 * states, every subset exactly once, neighbours one piece apart. */
static void
test_model_2_to_the_n (void)
{
  for (uint32_t n = 0; n <= 8; n++) {
    g_autofree char *dir = tmpdir ();
    struct lb *lb = lb_new (512);
    g_autofree char *path = NULL;
    struct crash_log *log;
    struct crash_model *m;
    struct crash_plan *p;
    g_autofree char *msg = NULL;
    g_autoptr (GHashTable) seen = g_hash_table_new (g_direct_hash,
                                                    g_direct_equal);
    uint64_t prev = 0;

    for (uint32_t i = 0; i < n; i++)
      lb_write (lb, 8 * i, 8, 0, 'a' + i, NULL);
    path = lb_save (lb, dir);
    log = load (path);
    m = model (log, 10, 100, 0);
    g_assert_cmpuint (m->nr_states, ==, UINT64_C (1) << n);
    g_assert_cmpuint (m->nr_points, ==, 1);
    for (uint64_t s = 0; s < m->nr_states; s++) {
      uint64_t sel[1] = { 0 };

      crash_model_selection (m, s, sel);
      g_assert_false (g_hash_table_contains (seen, GSIZE_TO_POINTER (sel[0])));
      g_hash_table_add (seen, GSIZE_TO_POINTER (sel[0]));
      if (s > 0)
        g_assert_cmpint (__builtin_popcountll (sel[0] ^ prev), ==, 1);
      prev = sel[0];
    }
    p = crash_plan_new (m, 1, 1, &msg);
    g_assert_cmpuint (p->nr_unique, ==, UINT64_C (1) << n);
    g_assert_cmpuint (p->nr_deduped, ==, 0);
    crash_plan_free (p);
    crash_model_free (m);
    crash_log_free (log);
    rmtree (dir);
  }
}

/* J1..J3, FLUSH, C: 8 states in epoch 0, 2 in epoch 1, one of which
 * (C lost) is epoch 0's "every J kept" image: deduped. */
static void
test_model_flush_epochs (void)
{
  g_autofree char *dir = tmpdir ();
  struct lb *lb = lb_new (512);
  g_autofree char *path = NULL;
  g_autofree char *msg = NULL;
  struct crash_log *log;
  struct crash_model *m;
  struct crash_plan *p;

  for (int i = 1; i <= 3; i++)
    lb_write (lb, 8 * i, 8, 0, 'J', NULL);
  lb_flush (lb);
  lb_write (lb, 0, 8, 0, 'C', NULL);
  path = lb_save (lb, dir);
  log = load (path);
  m = model (log, 10, 100, 0);
  g_assert_cmpuint (m->nr_epochs, ==, 2);
  g_assert_cmpuint (m->epochs[0].end_state - m->epochs[0].first_state, ==, 8);
  g_assert_cmpuint (m->epochs[1].end_state - m->epochs[1].first_state, ==, 2);
  p = crash_plan_new (m, 1, 1, &msg);
  g_assert_cmpuint (p->nr_deduped, ==, 1);
  g_assert_cmpuint (p->epoch_deduped[1], ==, 1);
  g_assert_cmpuint (p->nr_unique, ==, 9);
  crash_plan_free (p);
  crash_model_free (m);
  crash_log_free (log);
  rmtree (dir);
}

/* Beyond --exhaustive: n + 1 prefixes, n - 1 all-but-one, N samples. */
static void
test_model_beyond_exhaustive (void)
{
  g_autofree char *dir = tmpdir ();
  struct lb *lb = lb_new (512);
  g_autofree char *path = NULL;
  struct crash_log *log;
  struct crash_model *m;
  const uint32_t n = 12;

  for (uint32_t i = 0; i < n; i++)
    lb_write (lb, 8 * i, 8, 0, 'a' + i, NULL);
  path = lb_save (lb, dir);
  log = load (path);
  m = model (log, 10, 5, 0);
  g_assert_cmpuint (m->nr_states, ==, 2 * n + 5);
  for (uint64_t s = 0; s < m->nr_states; s++) {
    uint64_t sel[1] = { 0 };
    enum crash_gen gen;
    uint64_t arg;

    crash_model_selection (m, s, sel);
    crash_model_gen (m, s, &gen, &arg);
    switch (gen) {
    case CRASH_GEN_PREFIX:
      g_assert_cmpuint (sel[0], ==, (UINT64_C (1) << arg) - 1);
      break;
    case CRASH_GEN_ALL_BUT:
      g_assert_cmpuint (arg, <, n - 1);
      g_assert_cmpuint (sel[0], ==, ((UINT64_C (1) << n) - 1) &
                        ~(UINT64_C (1) << arg));
      break;
    case CRASH_GEN_SAMPLE:
      g_assert_cmpuint (sel[0] >> n, ==, 0);
      break;
    case CRASH_GEN_GRAY:
      g_assert_not_reached ();
    }
  }
  crash_model_free (m);
  crash_log_free (log);
  rmtree (dir);
}

/* Crash points: the epoch's end, before a FUA write, after a MARK. */
static void
test_model_crash_points (void)
{
  g_autofree char *dir = tmpdir ();
  struct lb *lb = lb_new (512);
  g_autofree char *path = NULL;
  struct crash_log *log;
  struct crash_model *m;

  lb_write (lb, 0, 1, 0, 'a', NULL);               /* 0 */
  lb_mark (lb, "one");                             /* 1 */
  lb_write (lb, 8, 1, 0, 'b', NULL);               /* 2 */
  lb_write (lb, 16, 1, WC_WLOG_FUA, 'c', NULL);    /* 3 */
  lb_write (lb, 24, 1, 0, 'd', NULL);              /* 4 */
  lb_flush (lb);                                   /* 5 */
  path = lb_save (lb, dir);
  log = load (path);
  m = model (log, 10, 100, 0);
  /* Epoch 0: after the MARK (p2: a), before the FUA (p3: a, b), the end
   * (p5: a, b, d, with c).  Epoch 1: the end of the log (p6). */
  g_assert_cmpuint (m->nr_points, ==, 4);
  g_assert_cmpuint (m->points[0].pos, ==, 2);
  g_assert_cmpuint (m->points[0].nr_pieces, ==, 1);
  g_assert_cmpuint (m->points[0].nr_marks, ==, 1);
  g_assert_cmpuint (m->points[1].pos, ==, 3);
  g_assert_cmpuint (m->points[1].nr_pieces, ==, 2);
  g_assert_cmpuint (m->points[2].pos, ==, 5);
  g_assert_cmpuint (m->points[2].nr_pieces, ==, 3);
  g_assert_cmpuint (m->points[3].pos, ==, 6);
  g_assert_cmpuint (m->points[3].epoch, ==, 1);
  g_assert_cmpuint (m->nr_states, ==, 2 + 4 + 8 + 1);
  crash_model_free (m);
  crash_log_free (log);
  rmtree (dir);
}

/* Torn pieces lie inside one unit each and tile their write. */
static void
test_torn_pieces (void)
{
  g_autofree char *dir = tmpdir ();
  GRand *rng = g_rand_new_with_seed (2);
  struct lb *lb = lb_new (512);
  g_autofree char *path = NULL;
  struct crash_log *log;

  for (int i = 0; i < 200; i++)
    lb_write (lb, g_rand_int_range (rng, 0, 4000),
              g_rand_int_range (rng, 1, 40), 0, 'x', NULL);
  path = lb_save (lb, dir);
  log = load (path);
  for (uint64_t unit = 512; unit <= 65536; unit *= 2) {
    struct crash_model *m = model (log, 0, 0, unit);
    const struct crash_epoch *ep = &m->epochs[0];
    uint32_t w = 0;
    uint64_t at = log->writes[0].offset;

    for (uint32_t i = 0; i < ep->nr_pieces; i++) {
      const struct crash_piece *p = &ep->pieces[i];

      g_assert_cmpuint (p->offset / unit, ==, (p->offset + p->length - 1) /
                        unit);
      if (p->write != w) {
        g_assert_cmpuint (at, ==, log->writes[w].offset +
                          log->writes[w].length);
        w = p->write;
        at = log->writes[w].offset;
      }
      g_assert_cmpuint (p->offset, ==, at);
      at += p->length;
    }
    crash_model_free (m);
  }
  crash_log_free (log);
  g_rand_free (rng);
  rmtree (dir);
}

/* ---- Shards ----------------------------------------------------------------- */

static void
test_shard_partition (void)
{
  for (uint64_t count = 0; count < 200; count += 7)
    for (uint32_t n = 1; n <= 9; n++) {
      uint64_t expect = 0;

      for (uint32_t i = 1; i <= n; i++) {
        uint64_t lo, hi;

        crash_shard_range (count, i, n, &lo, &hi);
        g_assert_cmpuint (lo, ==, expect);
        g_assert_cmpuint (hi, >=, lo);
        g_assert_cmpuint (hi - lo, <=, count / n + 1);
        expect = hi;
      }
      g_assert_cmpuint (expect, ==, count);
    }
}

/* ---- Random logs ----------------------------------------------------------- */

static char *
random_log (GRand *rng, const char *dir, uint32_t ss, uint64_t disk)
{
  struct lb *lb = lb_new (ss);
  int n = g_rand_int_range (rng, 1, 40);
  uint64_t sectors = disk / ss;

  for (int i = 0; i < n; i++) {
    int what = g_rand_int_range (rng, 0, 20);
    uint64_t nr = g_rand_int_range (rng, 1, 16);
    uint64_t sector = g_rand_int_range (rng, 0, sectors - nr);
    char mark[32];

    if (what < 2) {
      lb_flush (lb);
    } else if (what < 4) {
      snprintf (mark, sizeof mark, "record %d", i);
      lb_mark (lb, mark);
    } else if (what < 5) {
      lb_entry (lb, sector, nr, WC_WLOG_DISCARD |
                (g_rand_boolean (rng) ? WC_WLOG_FUA : 0), NULL, NULL);
    } else {
      /* A few fills, so that some writes rewrite the same bytes. */
      lb_write (lb, sector, nr, what < 7 ? WC_WLOG_FUA : 0,
                what < 12 ? g_rand_int_range (rng, 0, 3) : -1, rng);
    }
  }
  return lb_save (lb, dir);
}

static GBytes *
read_file (const char *path)
{
  char *data;
  gsize len;

  g_assert_true (g_file_get_contents (path, &data, &len, NULL));
  return g_bytes_new_take (data, len);
}

/* The scratch image, walked through random increasing states (and back
 * and forth inside an epoch), always equals the state materialised from
 * scratch by its ID. */
static void
test_walk_matches_materialize (void)
{
  GRand *rng = g_rand_new_with_seed (3);

  for (int round = 0; round < 40; round++) {
    g_autofree char *dir = tmpdir ();
    uint32_t ss = g_rand_boolean (rng) ? 512 : 4096;
    uint64_t disk = 64 * ss;
    g_autofree char *path = random_log (rng, dir, ss, disk);
    g_autofree char *base = g_build_filename (dir, "base", NULL);
    g_autofree char *out = g_build_filename (dir, "out", NULL);
    g_autofree char *msg = NULL;
    struct crash_log *log = load (path);
    uint64_t torn = g_rand_boolean (rng) ? 0 : (g_rand_boolean (rng) ? 512
                                                : 2048);
    struct crash_model *m = model (log, g_rand_int_range (rng, 0, 6), 3,
                                   torn);
    struct crash_scratch *sc;
    g_autofree uint8_t *b = g_malloc (disk);

    for (uint64_t i = 0; i < disk; i++)
      b[i] = g_rand_int_range (rng, 0, 256);
    g_assert_true (g_file_set_contents (base, (char *) b, disk, NULL));
    sc = crash_scratch_new (m, base, dir, &msg);
    g_assert_nonnull (sc);
    for (uint64_t s = 0; s < m->nr_states;
         s += g_rand_int_range (rng, 1, 4)) {
      uint64_t t = s;
      g_autofree char *idtext = NULL;
      struct crash_id id;
      GBytes *want, *got;

      /* Sometimes an earlier state of the same epoch first. */
      if (g_rand_int_range (rng, 0, 4) == 0) {
        uint32_t k = m->points[crash_model_point_of (m, s)].epoch;
        uint64_t lo = m->epochs[k].first_state;

        t = lo + g_rand_int_range (rng, 0, s - lo + 1);
      }
      g_assert_cmpint (crash_scratch_move (sc, t, &msg), ==, 0);
      idtext = crash_model_state_id (m, t);
      g_assert_cmpint (crash_id_parse (idtext, &id, &msg), ==, 0);
      g_assert_cmpint (crash_materialize (log, &id, base, out, &msg), ==, 0);
      crash_id_clear (&id);
      want = read_file (out);
      got = read_file (crash_scratch_path (sc));
      if (!g_bytes_equal (want, got))
        g_error ("round %d: state %" PRIu64 " (%s): the scratch image"
                 " differs from the materialised one", round, t, idtext);
      g_bytes_unref (want);
      g_bytes_unref (got);
      s = MAX (s, t);
    }
    crash_scratch_free (sc);
    crash_model_free (m);
    crash_log_free (log);
    rmtree (dir);
  }
  g_rand_free (rng);
}

/* The plan checks exactly one state per distinct (image, marks), the
 * first in state order; a base of zeros too (dedupe does not read it). */
static void
test_plan_dedupe_is_image_equality (void)
{
  GRand *rng = g_rand_new_with_seed (4);

  for (int round = 0; round < 40; round++) {
    g_autofree char *dir = tmpdir ();
    uint64_t disk = 32 * 512;
    g_autofree char *path = random_log (rng, dir, 512, disk);
    g_autofree char *base = g_build_filename (dir, "base", NULL);
    g_autofree char *out = g_build_filename (dir, "out", NULL);
    g_autofree char *msg = NULL;
    struct crash_log *log = load (path);
    struct crash_model *m = model (log, 4, 2, round % 2 ? 0 : 512);
    struct crash_plan *p = crash_plan_new (m, 1, 1, &msg);
    g_autoptr (GHashTable) seen = g_hash_table_new_full (g_str_hash,
                                                         g_str_equal,
                                                         g_free, NULL);
    g_autofree uint8_t *b = g_malloc (disk);
    uint64_t u = 0;

    /* Random base bytes: an image equal by accident to the base's is
     * then impossible, which the fingerprints cannot see. */
    for (uint64_t i = 0; i < disk; i++)
      b[i] = g_rand_int_range (rng, 3, 256);
    g_assert_true (g_file_set_contents (base, (char *) b, disk, NULL));
    for (uint64_t s = 0; s < m->nr_states; s++) {
      g_autofree char *idtext = crash_model_state_id (m, s);
      const struct crash_point *cp = &m->points[crash_model_point_of (m, s)];
      struct crash_id id;
      GBytes *img;
      g_autofree char *sum = NULL;
      char *key;
      bool first;

      g_assert_cmpint (crash_id_parse (idtext, &id, &msg), ==, 0);
      g_assert_cmpint (crash_materialize (log, &id, base, out, &msg), ==, 0);
      crash_id_clear (&id);
      img = read_file (out);
      sum = g_compute_checksum_for_bytes (G_CHECKSUM_SHA256, img);
      key = g_strdup_printf ("%u:%s", cp->nr_marks, sum);
      first = g_hash_table_add (seen, key);
      g_bytes_unref (img);
      if (first) {
        g_assert_cmpuint (u, <, p->nr_unique);
        g_assert_cmpuint (p->unique[u], ==, s);
        u++;
      }
    }
    g_assert_cmpuint (u, ==, p->nr_unique);
    g_assert_cmpuint (p->nr_unique + p->nr_deduped, ==, m->nr_states);
    crash_plan_free (p);
    crash_model_free (m);
    crash_log_free (log);
    rmtree (dir);
  }
  g_rand_free (rng);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/crash/id/round-trip", test_id_round_trip);
  g_test_add_func ("/crash/id/text", test_id_text);
  g_test_add_func ("/crash/id/bad", test_id_bad);
  g_test_add_func ("/crash/model/2-to-the-n", test_model_2_to_the_n);
  g_test_add_func ("/crash/model/flush-epochs", test_model_flush_epochs);
  g_test_add_func ("/crash/model/beyond-exhaustive",
                   test_model_beyond_exhaustive);
  g_test_add_func ("/crash/model/crash-points", test_model_crash_points);
  g_test_add_func ("/crash/model/torn-pieces-never-span-a-unit",
                   test_torn_pieces);
  g_test_add_func ("/crash/shard/partition", test_shard_partition);
  g_test_add_func ("/crash/walk/matches-materialize",
                   test_walk_matches_materialize);
  g_test_add_func ("/crash/plan/dedupe-is-image-equality",
                   test_plan_dedupe_is_image_equality);
  return g_test_run ();
}

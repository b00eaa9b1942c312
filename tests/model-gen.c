/* The generator of the randomized engine check: random trials (a disk and
 * a sequence of operations), and how they print.  See test-model.c.
 *
 * A trial is a pure function of (seed, index): the disk from one stream,
 * the operations from another seeded by the disk's, each write's data from
 * its own seed, so any trial can be generated again alone.  The mix leans
 * on the rare and the edges: partial last blocks, disks smaller than a
 * sector, caches of one block, requests of zero bytes, of the whole disk,
 * ending at its end.
 *
 * Locking: none; pure functions.
 */
#include <config.h>

#include <inttypes.h>

#include "model-seq.h"

#define MAX_DISK (512 * 1024)
#define MAX_OPS 60

void
op_data (const struct op *op, uint8_t *buf)
{
  switch (op->data) {
  case DATA_RANDOM: fill_random (buf, op->count, op->data_seed); break;
  case DATA_ZEROS: memset (buf, 0, op->count); break;
  case DATA_BYTE: memset (buf, op->data_seed & 0xff, op->count); break;
  }
}

const char *
op_name (enum op_kind k)
{
  switch (k) {
  case OP_READ: return "read";
  case OP_WRITE: return "write";
  case OP_ZERO: return "zero";
  case OP_TRIM: return "trim";
  case OP_FLUSH: return "flush";
  case OP_MODE: return "mode";
  case OP_CUT: return "cut";
  case OP_POWER_ON: return "power-on";
  case OP_ARM: return "arm";
  case OP_MARK: return "mark";
  }
  return "?";
}

void
op_format (GString *s, const struct op *op)
{
  g_string_append (s, op_name (op->kind));
  switch (op->kind) {
  case OP_READ:
  case OP_WRITE:
  case OP_ZERO:
  case OP_TRIM:
    g_string_append_printf (s, " offset=%" PRIu64 " count=%" PRIu32,
                            op->offset, op->count);
    if (op->flags & WC_FUA)
      g_string_append (s, " fua");
    if (op->flags & WC_WRITETHROUGH)
      g_string_append (s, " writethrough");
    if (op->kind == OP_WRITE) {
      switch (op->data) {
      case DATA_RANDOM:
        g_string_append_printf (s, " data=random:%" PRIu64, op->data_seed);
        break;
      case DATA_ZEROS: g_string_append (s, " data=zeros"); break;
      case DATA_BYTE:
        g_string_append_printf (s, " data=0x%02x",
                                (unsigned) (op->data_seed & 0xff));
        break;
      }
    }
    break;
  case OP_FLUSH:
    if (op->flags & WC_FORCE)
      g_string_append (s, " force");
    break;
  case OP_MODE:
    g_string_append_printf (s, " %s", wc_mode_name (op->mode));
    break;
  case OP_CUT:
    g_string_append_printf (s, " %s", wc_policy_name (op->cut.policy));
    if (!op->pick_seed || op->seed_known)
      g_string_append_printf (s, " seed=%" PRIu64 "%s", op->cut.seed,
                              op->pick_seed ? " (picked by the engine)" : "");
    else
      g_string_append (s, " seed=(the engine picks)");
    if (op->cut.policy == WC_CUT_RANDOM || op->cut.policy == WC_CUT_TORN)
      g_string_append_printf (s, " p=%g", op->cut.p);
    if (op->cut.policy == WC_CUT_TORN)
      g_string_append_printf (s, " unit=%" PRIu32, op->cut.unit);
    break;
  case OP_POWER_ON:
    break;
  case OP_ARM:
    if (op->trigger == WC_TRIGGER_NONE) {
      g_string_append (s, " none (disarm)");
      break;
    }
    g_string_append_printf (s, " %s", wc_trigger_name (op->trigger));
    if (op->trigger == WC_TRIGGER_MARK)
      g_string_append_printf (s, " %s", mark_name (op->mark));
    else
      g_string_append_printf (s, " n=%" PRIu64, op->n);
    g_string_append_printf (s, ": cut %s seed=%" PRIu64,
                            wc_policy_name (op->cut.policy), op->cut.seed);
    if (op->cut.policy == WC_CUT_RANDOM || op->cut.policy == WC_CUT_TORN)
      g_string_append_printf (s, " p=%g", op->cut.p);
    if (op->cut.policy == WC_CUT_TORN)
      g_string_append_printf (s, " unit=%" PRIu32, op->cut.unit);
    break;
  case OP_MARK:
    g_string_append_printf (s, " %s", mark_name (op->mark));
    break;
  }
  if (op->epoch == EPOCH_CURRENT)
    g_string_append (s, " (submitted, epoch now)");
  else if (op->epoch == EPOCH_OTHER)
    g_string_append (s, " (submitted, another epoch)");
  if (op->inj != INJ_NONE) {
    const char *what = op->inj == INJ_READ ? "read"
      : op->inj == INJ_WRITE ? "write" : "flush";

    g_string_append_printf (s, " [media %s fails: skip %u, then ", what,
                            op->inj_skip);
    if (op->inj_count < 0)
      g_string_append (s, "all]");
    else
      g_string_append_printf (s, "%d]", op->inj_count);
  }
}

void
trial_format (GString *s, const struct trial *t)
{
  g_string_append_printf (s, "disk size=%" PRIu64 " block_size=%" PRIu32
                          " cache_size=%" PRIu64 " (%" PRIu64 " blocks) "
                          "media A %s writev, media B %s, oracle=%s, "
                          "mode=%s, media starts %s%s", t->size, t->bs,
                          t->cache_size, t->cache_size / t->bs,
                          t->writev ? "with" : "without",
                          t->writev ? "without" : "with",
                          t->oracle ? "on" : "off", wc_mode_name (t->mode),
                          t->init_random ? "random" : "zeroed",
                          t->cached ? " (profile: cached)" : "");
}

/* ---- Generator ---------------------------------------------------------- */

const char *
mark_name (unsigned i)
{
  static const char *names[MARK_NAMES] = { "m0", "m1" };

  return names[i % MARK_NAMES];
}

static enum wc_mode
gen_mode (struct rng *r)
{
  static const enum wc_mode pick[] = {
    WC_MODE_WRITEBACK, WC_MODE_WRITEBACK, WC_MODE_WRITEBACK,
    WC_MODE_NONE, WC_MODE_UNSAFE, WC_MODE_WRITETHROUGH, WC_MODE_DIRECTSYNC,
  };

  return pick[below (r, G_N_ELEMENTS (pick))];
}

void
gen_trial (struct trial *t, uint64_t seed, uint64_t index)
{
  struct rng r = { seed ^ (index * UINT64_C (0xd1b54a32d192ed03)) };
  unsigned shift = below (&r, 8);
  uint64_t nblocks, cache_blocks;

  rnd (&r);
  memset (t, 0, sizeof *t);
  t->seed = seed;
  t->index = index;
  t->bs = 512u << shift;
  nblocks = 1 + below (&r, chance (&r, 50) ? 24 : 160);
  nblocks = MIN (nblocks, MAX_DISK / t->bs);
  if (chance (&r, 1)) {
    /* Now and then a disk of more than WC_RUN_MAX (4 MiB) in big blocks,
     * so that write-back runs are split. */
    t->bs = 65536;
    nblocks = 65 + below (&r, 32);
    t->big = true;
  }
  t->size = nblocks * t->bs;
  if (chance (&r, 60))
    t->size -= below (&r, t->bs);       /* a partial last block */
  if (chance (&r, 5) && !t->big)
    t->size = 1 + below (&r, 700);      /* smaller than a sector or two */
  nblocks = (t->size + t->bs - 1) / t->bs;
  t->cached = chance (&r, 35);
  cache_blocks = t->cached ? nblocks + below (&r, 2)
    : chance (&r, 40) ? 1 + below (&r, 2) : 1 + below (&r, nblocks + 2);
  t->cache_size = cache_blocks * t->bs;
  if (chance (&r, 20))
    t->cache_size += below (&r, t->bs);
  t->writev = chance (&r, 50);
  t->oracle = chance (&r, 50);
  t->mode = gen_mode (&r);
  if (t->cached && !wc_mode_wce (t->mode))
    t->mode = WC_MODE_WRITEBACK;
  t->init_random = chance (&r, 50);
  t->init_seed = rnd (&r);
}

static void
gen_range (struct rng *r, const struct trial *t, struct op *op)
{
  uint64_t size = t->size, bs = t->bs;
  uint64_t nblocks = (size + bs - 1) / bs;
  uint64_t off = 0, len = 0;

  switch (t->cached && chance (r, 70) ? below (r, 2) : below (r, 8)) {
  case 0: {                     /* inside one block */
    uint64_t b = below (r, nblocks);
    uint64_t n = MIN (bs, size - b * bs);
    uint64_t bo = below (r, n);

    off = b * bs + bo;
    len = 1 + below (r, n - bo);
    break;
  }
  case 1:                       /* spanning a few blocks */
    off = below (r, size);
    len = 1 + below (r, MIN (size - off, 3 * bs));
    break;
  case 2: {                     /* whole blocks */
    uint64_t b = below (r, nblocks);
    uint64_t n = 1 + below (r, MIN (4, nblocks - b));

    off = b * bs;
    len = MIN (size, (b + n) * bs) - off;
    break;
  }
  case 3:                       /* ending at the end of the disk */
    len = 1 + below (r, MIN (size, 2 * bs));
    off = size - len;
    break;
  case 4:                       /* the whole disk */
    off = 0;
    len = size;
    break;
  case 5:                       /* nothing */
    off = below (r, size + 1);
    len = 0;
    break;
  case 6:                       /* sectors */
    if (size >= 512) {
      uint64_t sectors = size / 512;
      uint64_t s = below (r, sectors);

      off = s * 512;
      len = (1 + below (r, MIN (sectors - s, 2 * bs / 512))) * 512;
      break;
    }
    /* fall through */
  case 7:                       /* spanning many blocks */
    off = below (r, size);
    len = 1 + below (r, MIN (size - off, 8 * bs));
    break;
  }
  op->offset = off;
  op->count = len;
}

static void
gen_cut (struct rng *r, const struct trial *t, struct wc_cut *cut)
{
  static const double ps[] = { 0.0, 1.0, 0.5, 0.5, 0.25, 0.75 };

  wc_cut_init (cut);
  cut->policy = below (r, WC_POLICY_COUNT);
  cut->seed_set = true;
  cut->seed = rnd (r);
  cut->p = ps[below (r, G_N_ELEMENTS (ps))];
  cut->unit = 512u << below (r, __builtin_ctz (t->bs) - 8);
}

/* The generator follows the power roughly (a cut turns it off, power-on
 * on) so that sequences do not idle with the power off for long. */
static void
gen_op (struct rng *r, const struct trial *t, bool *on, struct op *op)
{
  /* Thresholds: write, read, zero, trim, flush, mode, cut, power-on, arm,
   * mark; the rest are writes. */
  static const unsigned mixed[] = { 30, 42, 50, 56, 70, 80, 88, 90, 94, 96 };
  static const unsigned cached[] = { 45, 53, 59, 63, 67, 70, 82, 84, 88, 90 };
  const unsigned *th = t->cached ? cached : mixed;
  unsigned w = below (r, 100);

  memset (op, 0, sizeof *op);
  if (!*on && chance (r, 60))
    op->kind = OP_POWER_ON;
  else if (w < th[0])
    op->kind = OP_WRITE;
  else if (w < th[1])
    op->kind = OP_READ;
  else if (w < th[2])
    op->kind = OP_ZERO;
  else if (w < th[3])
    op->kind = OP_TRIM;
  else if (w < th[4])
    op->kind = OP_FLUSH;
  else if (w < th[5])
    op->kind = OP_MODE;
  else if (w < th[6])
    op->kind = OP_CUT;
  else if (w < th[7])
    op->kind = OP_POWER_ON;
  else if (w < th[8])
    op->kind = OP_ARM;
  else if (w < th[9])
    op->kind = OP_MARK;
  else
    op->kind = OP_WRITE;

  switch (op->kind) {
  case OP_WRITE:
    op->data = chance (r, 85) ? DATA_RANDOM
      : chance (r, 50) ? DATA_ZEROS : DATA_BYTE;
    op->data_seed = rnd (r);
    /* fall through */
  case OP_ZERO:
  case OP_TRIM:
    if (chance (r, 20))
      op->flags |= WC_FUA;
    if (chance (r, 8))
      op->flags |= WC_WRITETHROUGH;
    /* fall through */
  case OP_READ:
    gen_range (r, t, op);
    break;
  case OP_FLUSH:
    if (chance (r, 15))
      op->flags |= WC_FORCE;
    break;
  case OP_MODE:
    op->mode = gen_mode (r);
    if (t->cached && chance (r, 80) && !wc_mode_wce (op->mode))
      op->mode = WC_MODE_NONE;
    break;
  case OP_CUT:
    gen_cut (r, t, &op->cut);
    op->pick_seed = chance (r, 10);
    *on = false;
    break;
  case OP_POWER_ON:
    *on = true;
    break;
  case OP_ARM:
    gen_cut (r, t, &op->cut);
    switch (below (r, 10)) {
    case 0: op->trigger = WC_TRIGGER_NONE; break;
    case 1: case 2: case 3:
      op->trigger = WC_TRIGGER_WRITES;
      op->n = 1 + below (r, 4);
      break;
    case 4: case 5:
      op->trigger = WC_TRIGGER_FLUSHES;
      op->n = 1 + below (r, 3);
      break;
    case 6: case 7:
      op->trigger = WC_TRIGGER_BYTES;
      op->n = 1 + below (r, 2 * t->size);
      break;
    default:
      op->trigger = WC_TRIGGER_MARK;
      op->mark = below (r, MARK_NAMES);
      break;
    }
    break;
  case OP_MARK:
    op->mark = below (r, MARK_NAMES);
    break;
  }
  if (op->kind <= OP_FLUSH && chance (r, 10))
    op->epoch = chance (r, 60) ? EPOCH_CURRENT : EPOCH_OTHER;
  if (chance (r, 12)) {
    op->inj = 1 + below (r, 3);
    op->inj_skip = below (r, 4);
    op->inj_count = chance (r, 30) ? -1 : 1 + (int) below (r, 2);
  }
}

GArray *
gen_ops (const struct trial *t)
{
  struct rng r = { t->init_seed ^ UINT64_C (0x5851f42d4c957f2d) };
  unsigned n = 1 + below (&r, t->big ? MAX_OPS / 4 : MAX_OPS);
  GArray *ops = g_array_sized_new (FALSE, TRUE, sizeof (struct op), n);
  bool on = true;

  for (unsigned i = 0; i < n; i++) {
    struct op op;

    gen_op (&r, t, &on, &op);
    g_array_append_val (ops, op);
  }
  return ops;
}

/* The runner of the randomized engine check: plays a trial's operations
 * on two engines in lockstep and checks each step against the reference
 * model (model.c) and the rules it cannot hold by itself.  See
 * test-model.c for the list of checks.
 *
 * Engine A and engine B serve the same disk over the two kinds of media
 * (with and without writev); each has its own memmedia, whose hook injects
 * the operation's media failure (inj_hook).  Only engine A is checked
 * against the model; engine B must agree with A in every result and every
 * byte of its media (S8).  Cuts are armed on engine A only: when one fires
 * inside a request, B makes the same cut right after the request, and the
 * two must again agree (S9); the request's own checks then look at B's
 * media from before that cut.
 *
 * Locking: none; one thread drives both engines, so they are
 * deterministic.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "memmedia.h"
#include "model-seq.h"
#include "model.h"

/* ---- Engines and fault injection ---------------------------------------- */

struct inj {
  enum inj_kind kind;
  unsigned skip;
  int count;
  unsigned seen;                /* matching media ops so far */
};

/* memmedia's hook: arms the failure counter before the skip-th match. */
static void
inj_hook (struct memmedia *m, enum mm_op mop, uint64_t offset,
          uint32_t count, void *arg)
{
  struct inj *in = arg;
  int *counter = NULL;

  switch (mop) {
  case MM_READ:
    if (in->kind == INJ_READ)
      counter = &m->fail_reads;
    break;
  case MM_WRITE:
  case MM_ZERO:
    if (in->kind == INJ_WRITE)
      counter = &m->fail_writes;
    break;
  case MM_FLUSH:
    if (in->kind == INJ_FLUSH)
      counter = &m->fail_flushes;
    break;
  }
  if (counter && in->seen++ == in->skip) {
    pthread_mutex_lock (&m->lock);
    *counter = in->count;
    pthread_mutex_unlock (&m->lock);
  }
}

struct side {
  struct memmedia *m;
  struct wc_engine *e;
  struct inj in;
};

static void
side_init (struct side *s, const struct trial *t, bool writev)
{
  struct wc_config cfg;

  memset (s, 0, sizeof *s);
  s->m = memmedia_new (t->size);
  if (t->init_random)
    fill_random (s->m->buf, t->size, t->init_seed);
  memmedia_track_durable (s->m);
  memmedia_config (s->m, &cfg);
  cfg.ops = writev ? &memmedia_writev_ops : &memmedia_ops;
  cfg.block_size = t->bs;
  cfg.cache_size = t->cache_size;
  cfg.mode = t->mode;
  cfg.oracle = t->oracle;
  s->e = wc_engine_new (&cfg);
  g_assert_nonnull (s->e);
  s->m->hook = inj_hook;
  s->m->hook_arg = &s->in;
}

static void
side_fini (struct side *s)
{
  wc_engine_free (s->e);
  memmedia_free (s->m);
}

static void
inj_arm (struct side *s, const struct op *op)
{
  s->in.kind = op->inj;
  s->in.skip = op->inj_skip;
  s->in.count = op->inj_count;
  s->in.seen = 0;
}

/* Ends the injection; returns whether a media op failed. */
static bool
inj_disarm (struct side *s)
{
  bool fired = s->in.kind != INJ_NONE && s->in.seen > s->in.skip;

  s->in.kind = INJ_NONE;
  s->m->fail_reads = s->m->fail_writes = s->m->fail_flushes = 0;
  return fired;
}

struct result {
  int rv;
  int err;
  struct wc_cut_report rep;
};

static struct result
exec_op (struct side *s, const struct op *op, const uint8_t *data,
         uint8_t *rbuf, const struct wc_cut *cut)
{
  struct result res = { 0 };

  errno = 0;
  if (op->epoch != EPOCH_ANY && op->kind <= OP_FLUSH) {
    struct wc_request req = {
      .buf = op->kind == OP_READ ? rbuf : (void *) data,
      .count = op->count,
      .offset = op->offset,
      .flags = op->flags,
      .epoch = wc_epoch (s->e) ^ (op->epoch == EPOCH_OTHER),
    };

    switch (op->kind) {
    case OP_READ: req.op = WC_OP_READ; break;
    case OP_WRITE: req.op = WC_OP_WRITE; break;
    case OP_ZERO: req.op = WC_OP_ZERO; break;
    case OP_TRIM: req.op = WC_OP_TRIM; break;
    case OP_FLUSH: req.op = WC_OP_FLUSH; break;
    case OP_MODE:
    case OP_CUT:
    case OP_POWER_ON:
    case OP_ARM:
    case OP_MARK:
      g_assert_not_reached ();
    }
    res.rv = wc_submit (s->e, &req);
    res.err = res.rv == -1 ? errno : 0;
    return res;
  }
  switch (op->kind) {
  case OP_READ:
    res.rv = wc_read (s->e, rbuf, op->count, op->offset);
    break;
  case OP_WRITE:
    res.rv = wc_write (s->e, data, op->count, op->offset, op->flags);
    break;
  case OP_ZERO:
    res.rv = wc_zero (s->e, op->count, op->offset, op->flags);
    break;
  case OP_TRIM:
    res.rv = wc_trim (s->e, op->count, op->offset, op->flags);
    break;
  case OP_FLUSH:
    res.rv = wc_flush (s->e, op->flags);
    break;
  case OP_MODE:
    res.rv = wc_set_mode (s->e, op->mode);
    break;
  case OP_CUT:
    res.rv = wc_power_cut (s->e, cut, &res.rep);
    break;
  case OP_POWER_ON:
    res.rv = wc_power_on (s->e);
    break;
  case OP_ARM:
    if (op->trigger == WC_TRIGGER_MARK)
      res.rv = wc_arm_cut_at_mark (s->e, &op->cut, mark_name (op->mark));
    else
      res.rv = wc_arm_cut (s->e, &op->cut, op->trigger, op->n);
    break;
  case OP_MARK:
    res.rv = wc_mark (s->e, mark_name (op->mark));
    break;
  }
  res.err = res.rv == -1 ? errno : 0;
  return res;
}

/* ---- The run ------------------------------------------------------------ */

struct run {
  const struct trial *t;
  struct side a, b;
  struct model *md;
  enum wc_mode mode;
  bool powered;
  uint32_t cut_unit;            /* the last cut's unit: the oracle keeps
                                 * what a torn cut left until the next cut,
                                 * so whole-block checks see torn blocks */
  uint64_t ops, cuts, triggered;
  uint8_t *disk;                /* a whole-disk read buffer */
  /* The cut armed on engine A (S9), and the events left as the model
   * counts them (bytes for WC_TRIGGER_BYTES). */
  enum wc_trigger armed;
  uint64_t arm_left;
  unsigned arm_mark;
  struct wc_cut arm_cut;
  /* What the step's checks read as the media and its durable part:
   * engine A's, or when A's armed cut fired inside the request, engine B's
   * from before it made the same cut right after the request. */
  const uint8_t *view, *view_durable;
  uint8_t *pre, *pre_durable;   /* B's, copied */
};

/* First differing byte of two buffers, or -1. */
static int64_t
first_diff (const uint8_t *a, const uint8_t *b, uint64_t n)
{
  if (memcmp (a, b, n) == 0)
    return -1;
  for (uint64_t i = 0; i < n; i++)
    if (a[i] != b[i])
      return i;
  return -1;
}

/* "offset X holds 0xAA, expected 0xBB" for the first difference, or NULL. */
static char *
describe_diff (const uint8_t *got, const uint8_t *want, uint64_t base,
               uint64_t n, uint32_t bs)
{
  int64_t i = first_diff (got, want, n);

  if (i < 0)
    return NULL;
  return g_strdup_printf ("offset %" PRIu64 " (block %" PRIu64 ") holds "
                          "0x%02x, expected 0x%02x", base + i,
                          (base + i) / bs, got[i], want[i]);
}

static char *
oracle_check (struct run *r, uint32_t unit, const char *when)
{
  static const enum wc_verify_mode modes[] = {
    WC_VERIFY_EXACT, WC_VERIFY_CONTRACT,
  };
  struct wc_verify_report rep;

  if (!r->t->oracle) {
    if (wc_oracle_verify (r->a.e, WC_VERIFY_EXACT, 512,
                          memmedia_read_direct, r->a.m, &rep) != -1 ||
        errno != ENOTSUP)
      return g_strdup ("S10: the oracle answered, but it is off");
    return NULL;
  }
  for (unsigned i = 0; i < G_N_ELEMENTS (modes); i++) {
    uint32_t u = modes[i] == WC_VERIFY_EXACT ? 512 : unit;

    if (wc_oracle_verify (r->a.e, modes[i], u, memmedia_read_direct, r->a.m,
                          &rep) == -1)
      return g_strdup_printf ("S10: oracle %s: %s", when, g_strerror (errno));
    if (rep.violations > 0)
      return g_strdup_printf ("S10: oracle (%s, unit %" PRIu32 ") %s: %"
                              PRIu64 " violations, the first at offset %"
                              PRIu64, i == 0 ? "exact" : "contract", u, when,
                              rep.violations, rep.first_bad_offset);
  }
  return NULL;
}

static bool
durable_write (enum wc_mode mode, unsigned flags)
{
  return mode != WC_MODE_UNSAFE &&
    ((flags & (WC_FUA | WC_WRITETHROUGH)) || !wc_mode_wce (mode));
}

/* The rule that makes a write durable before its reply. */
static const char *
durable_rule (unsigned flags)
{
  return flags & WC_FUA ? "S2" : flags & WC_WRITETHROUGH ? "S6" : "S4";
}

static void
touch_range (struct model *md, uint64_t offset, uint32_t count, uint32_t bs,
             enum model_mod mod)
{
  for (uint64_t b = offset / bs; count > 0 && b <= (offset + count - 1) / bs;
       b++)
    model_touch (md, b, mod);
}

/* A write, zero or trim; the power is on. */
static char *
check_write (struct run *r, const struct op *op, const uint8_t *data,
             const struct result *ra, bool fired)
{
  struct model *md = r->md;
  const uint8_t *media = r->view;
  uint32_t bs = r->t->bs;

  if (ra->rv == 0) {
    model_apply (md, op->offset, op->count, data);
    touch_range (md, op->offset, op->count, bs, MODEL_MOD_YES);
    if (durable_write (r->mode, op->flags) && op->count > 0) {
      g_autofree char *d = describe_diff (r->view_durable + op->offset,
                                          model_latest (md) + op->offset,
                                          op->offset, op->count, bs);
      if (d)
        return g_strdup_printf ("%s: %s acknowledged in %s mode before it "
                                "was durable: %s", durable_rule (op->flags),
                                op_name (op->kind), wc_mode_name (r->mode),
                                d);
      /* Blocks whose media is the acknowledged content are clean. */
      for (uint64_t b = op->offset / bs;
           b <= (op->offset + op->count - 1) / bs; b++) {
        uint64_t off = b * bs, n = MIN ((uint64_t) bs, r->t->size - off);

        if (memcmp (media + off, model_latest (md) + off, n) == 0)
          model_clean (md, b, b);
      }
    }
    return NULL;
  }

  if (!fired || ra->err != EIO)
    return g_strdup_printf ("errors: %s failed (%s) though the media did "
                            "not fail", op_name (op->kind),
                            g_strerror (ra->err));
  if (op->count == 0)
    return NULL;
  /* Not acknowledged: each block took the new content or kept the old. */
  {
    g_autofree uint8_t *got = g_malloc (op->count);
    /* Nothing of the request is applied yet: latest is the old data. */
    const uint8_t *old = model_latest (md) + op->offset;
    uint64_t pos = 0;

    if (wc_read (r->a.e, got, op->count, op->offset) == -1)
      return g_strdup_printf ("S1: read after a failed %s: %s",
                              op_name (op->kind), g_strerror (errno));
    while (pos < op->count) {
      uint64_t off = op->offset + pos;
      uint64_t n = MIN (op->count - pos, bs - off % bs);
      bool is_old = memcmp (got + pos, old + pos, n) == 0;
      bool is_new = true;

      for (uint64_t i = 0; i < n && is_new; i++)
        is_new = got[pos + i] == (data ? data[pos + i] : 0);
      if (!is_old && !is_new)
        return g_strdup_printf ("S1: a failed %s left block %" PRIu64
                                " neither as it was nor as written",
                                op_name (op->kind), off / bs);
      if (is_new && !is_old) {
        model_apply (md, off, n, got + pos);
        model_touch (md, off / bs, MODEL_MOD_YES);
      }
      else if (is_new)
        model_touch (md, off / bs, MODEL_MOD_MAYBE);
      pos += n;
    }
  }
  return NULL;
}

/* Requests fail with EIO while the power is off (S8). */
static char *
check_off_probes (struct run *r)
{
  struct wc_engine *e = r->a.e;
  uint8_t b = 0;
  struct wc_cut cut;

  wc_cut_init (&cut);
  if (wc_read (e, &b, 1, 0) != -1 || errno != EIO)
    return g_strdup ("S8: a read succeeded with the power off");
  if (wc_write (e, &b, 1, 0, 0) != -1 || errno != EIO)
    return g_strdup ("S8: a write succeeded with the power off");
  if (wc_zero (e, 1, 0, WC_FUA) != -1 || errno != EIO)
    return g_strdup ("S8: a zero succeeded with the power off");
  if (wc_flush (e, WC_FORCE) != -1 || errno != EIO)
    return g_strdup ("S8: a flush succeeded with the power off");
  if (wc_power_cut (e, &cut, NULL) != -1 || errno != EIO)
    return g_strdup ("S8: a cut succeeded with the power off");
  if (wc_powered (e))
    return g_strdup ("S8: the engine says the power is on after a cut");
  return NULL;
}

/* Checks after every step: S7, the mode, and S1 over the whole disk. */
static char *
check_state (struct run *r)
{
  struct wc_stats st;
  uint64_t size = r->t->size;
  uint8_t *buf = r->disk;

  wc_get_stats (r->a.e, &st);
  if (st.cache_blocks_max != r->t->cache_size / r->t->bs)
    return g_strdup_printf ("S7: cache bound %" PRIu64 " blocks, configured "
                            "%" PRIu64, st.cache_blocks_max,
                            r->t->cache_size / r->t->bs);
  if (st.cached_blocks > st.cache_blocks_max)
    return g_strdup_printf ("S7: %" PRIu64 " blocks cached, bound %" PRIu64,
                            st.cached_blocks, st.cache_blocks_max);
  if (st.powered != r->powered)
    return g_strdup_printf ("S8: the engine says the power is %s",
                            st.powered ? "on" : "off");
  if (!st.powered && st.cached_blocks > 0)
    return g_strdup_printf ("S8: %" PRIu64 " blocks cached with the power "
                            "off", st.cached_blocks);
  if (st.mode != r->mode || wc_get_mode (r->a.e) != r->mode)
    return g_strdup_printf ("S5: the mode is %s, expected %s",
                            wc_mode_name (st.mode), wc_mode_name (r->mode));
  if (st.armed != r->armed)
    return g_strdup_printf ("S9: armed for %s, expected %s",
                            wc_trigger_name (st.armed),
                            wc_trigger_name (r->armed));
  if ((r->armed == WC_TRIGGER_WRITES || r->armed == WC_TRIGGER_FLUSHES ||
       r->armed == WC_TRIGGER_BYTES) && st.armed_remaining != r->arm_left)
    return g_strdup_printf ("S9: %" PRIu64 " %s before the cut, expected %"
                            PRIu64, st.armed_remaining,
                            wc_trigger_name (r->armed), r->arm_left);
  if (!r->powered)
    return NULL;
  if (wc_read (r->a.e, buf, size, 0) == -1)
    return g_strdup_printf ("S1: reading the disk: %s", g_strerror (errno));
  {
    g_autofree char *d = describe_diff (buf, model_latest (r->md), 0, size,
                                        r->t->bs);
    if (d)
      return g_strdup_printf ("S1: the disk does not read as acknowledged: "
                              "%s", d);
  }
  return NULL;
}

/* S9: counts op (which returned 0 with the power on) against the armed
 * trigger; true if the armed cut must fire inside it. */
static bool
trigger_due (struct run *r, const struct op *op)
{
  bool writes = op->kind == OP_WRITE || op->kind == OP_ZERO ||
    op->kind == OP_TRIM;

  switch (r->armed) {
  case WC_TRIGGER_NONE:
  case WC_TRIGGER_MS:
    return false;
  case WC_TRIGGER_WRITES:
    return writes && --r->arm_left == 0;
  case WC_TRIGGER_FLUSHES:
    return op->kind == OP_FLUSH && --r->arm_left == 0;
  case WC_TRIGGER_BYTES:
    if (!writes)
      return false;
    r->arm_left -= MIN (r->arm_left, op->count);
    return r->arm_left == 0;
  case WC_TRIGGER_MARK:
    return op->kind == OP_MARK && op->mark == r->arm_mark;
  }
  return false;
}

/* The part of a cut's checks after the image: the oracle, requests while
 * off, the state. */
static char *
after_cut (struct run *r)
{
  char *err = oracle_check (r, r->cut_unit, "after the cut");

  if (!err)
    err = check_off_probes (r);
  if (!err && memcmp (r->a.m->buf, model_media (r->md), r->t->size) != 0)
    err = g_strdup ("S8: requests with the power off changed the media");
  if (!err)
    err = check_state (r);
  return err;
}

/* Runs one operation on both engines and checks it. */
static char *
step (struct run *r, struct op *op)
{
  struct model *md = r->md;
  uint64_t size = r->t->size;
  uint32_t bs = r->t->bs;
  g_autofree uint8_t *data = NULL;
  g_autofree uint8_t *rbuf_a = NULL, *rbuf_b = NULL;
  struct wc_cut cut_a = op->cut, cut_b;
  struct wc_cut_report rep_b;
  struct result ra, rb;
  bool fired_a, fired_b, was_on = r->powered, unchanged, trig, due;
  unsigned set_modes;
  const uint8_t *media;
  char *err = NULL;

  model_step_begin (md);
  /* One byte more: g_malloc (0) is NULL, which memcmp may not take. */
  if (op->kind == OP_WRITE) {
    data = g_malloc (op->count + 1);
    op_data (op, data);
  }
  if (op->kind == OP_READ) {
    rbuf_a = g_malloc (op->count + 1);
    rbuf_b = g_malloc (op->count + 1);
  }
  if (op->pick_seed)
    cut_a.seed_set = op->seed_known;

  set_modes = r->a.m->set_modes;
  inj_arm (&r->a, op);
  ra = exec_op (&r->a, op, data, rbuf_a, &cut_a);
  if (op->kind == OP_CUT && op->pick_seed && !op->seed_known && ra.rv == 0) {
    op->cut.seed = ra.rep.seed;
    op->seed_known = true;
  }
  /* S9: A's armed cut fired inside this request. */
  trig = was_on && op->kind != OP_CUT && ra.rv == 0 && !wc_powered (r->a.e);

  /* B replays A's cut with the seed A reported (S8); it is never armed,
   * and makes A's armed cut right after the request instead (S9). */
  cut_b = op->cut;
  cut_b.seed_set = !op->pick_seed || op->seed_known;
  inj_arm (&r->b, op);
  rb = op->kind == OP_ARM ? ra : exec_op (&r->b, op, data, rbuf_b, &cut_b);
  r->view = r->a.m->buf;
  r->view_durable = r->a.m->durable;
  if (trig) {
    memcpy (r->pre, r->b.m->buf, size);
    memcpy (r->pre_durable, r->b.m->durable, size);
    r->view = r->pre;
    r->view_durable = r->pre_durable;
    if (wc_power_cut (r->b.e, &r->arm_cut, &rep_b) == -1)
      return g_strdup_printf ("S8: cut failed: %s", g_strerror (errno));
  }
  fired_a = inj_disarm (&r->a);
  fired_b = inj_disarm (&r->b);
  r->ops++;

  if (ra.rv != rb.rv || ra.err != rb.err || fired_a != fired_b)
    return g_strdup_printf ("S8: two engines given the same requests "
                            "differ: A returned %d (%s), B %d (%s)",
                            ra.rv, g_strerror (ra.err), rb.rv,
                            g_strerror (rb.err));
  if (op->kind == OP_READ && ra.rv == 0 &&
      memcmp (rbuf_a, rbuf_b, op->count) != 0)
    return g_strdup ("S8: two engines given the same requests read "
                     "differently");
  {
    g_autofree char *d = describe_diff (r->a.m->buf, r->b.m->buf, 0, size,
                                        bs);
    if (d)
      return g_strdup_printf ("S%d: two engines given the same requests%s "
                              "left different media: %s", trig ? 9 : 8,
                              trig ? ", one with the cut armed, the other "
                              "cut right after,"
                              : op->kind == OP_CUT ? " and cut seed" : "", d);
  }

  /* S9: the model counts the trigger's events; the armed cut fires inside
   * the request that completes the count, after acknowledging it. */
  due = was_on && ra.rv == 0 && trigger_due (r, op);
  if (trig != due)
    return g_strdup_printf ("S9: the cut armed for %s %s",
                            wc_trigger_name (r->armed),
                            trig ? "fired early" : "did not fire");
  if (trig) {
    struct wc_stats st;

    wc_get_stats (r->a.e, &st);
    if (!st.have_last_cut || st.last_cut.seed != rep_b.seed ||
        st.last_cut.dirty != rep_b.dirty || st.last_cut.kept != rep_b.kept ||
        st.last_cut.lost != rep_b.lost || st.last_cut.torn != rep_b.torn)
      return g_strdup ("S9: the armed cut did other than the same cut made "
                       "right after the request");
  }

  media = r->view;
  unchanged = memcmp (media, model_media (md), size) == 0;

  if (!was_on && op->kind != OP_MODE && op->kind != OP_POWER_ON &&
      op->kind != OP_ARM) {
    if (ra.rv != -1 || ra.err != EIO)
      return g_strdup_printf ("S8: %s with the power off returned %d (%s)",
                              op_name (op->kind), ra.rv,
                              g_strerror (ra.err));
    if (!unchanged)
      return g_strdup_printf ("S8: %s with the power off changed the media",
                              op_name (op->kind));
    return model_step_end (md, media);
  }

  if (op->epoch == EPOCH_OTHER && op->kind <= OP_FLUSH) {
    if (ra.rv != -1 || ra.err != EIO)
      return g_strdup_printf ("S8: %s of another power epoch returned %d "
                              "(%s)", op_name (op->kind), ra.rv,
                              g_strerror (ra.err));
    if (!unchanged)
      return g_strdup_printf ("S8: %s of another power epoch changed the "
                              "media", op_name (op->kind));
    return model_step_end (md, media);
  }

  switch (op->kind) {
  case OP_READ:
    if (ra.rv == 0) {
      g_autofree char *d = describe_diff (rbuf_a,
                                          model_latest (md) + op->offset,
                                          op->offset, op->count, bs);
      if (d)
        return g_strdup_printf ("S1: the read returned other than the "
                                "acknowledged data: %s", d);
    }
    else if (!fired_a || ra.err != EIO)
      return g_strdup_printf ("errors: read failed (%s) though the media "
                              "did not fail", g_strerror (ra.err));
    if (!unchanged)
      return g_strdup ("S1: a read changed the media");
    break;

  case OP_WRITE:
  case OP_ZERO:
  case OP_TRIM:
    err = check_write (r, op, data, &ra, fired_a);
    break;

  case OP_FLUSH:
    if (ra.rv == -1) {
      if (!fired_a || ra.err != EIO)
        return g_strdup_printf ("errors: flush failed (%s) though the media "
                                "did not fail", g_strerror (ra.err));
    }
    else if (r->mode != WC_MODE_UNSAFE || (op->flags & WC_FORCE)) {
      g_autofree char *d = describe_diff (r->view_durable, model_latest (md),
                                          0, size, bs);
      if (d || memcmp (media, model_latest (md), size) != 0)
        return g_strdup_printf ("S3: flush acknowledged, but not everything "
                                "acknowledged before it is durable: %s",
                                d ? d : "the media shows other data");
      if (fired_a && op->inj != INJ_READ)
        return g_strdup ("S3: flush acknowledged though the media failed "
                         "during it");
      model_clean (md, 0, UINT64_MAX);
    }
    else if (!unchanged)
      return g_strdup ("unsafe: a flush in unsafe mode wrote to the media");
    break;

  case OP_MODE:
    /* The media's set_mode runs once after a switch that took effect
     * (also to the same mode, also with the power off), before it
     * returns; not after one that failed. */
    if (r->a.m->set_modes != set_modes + (ra.rv == 0) ||
        (ra.rv == 0 && r->a.m->mode != op->mode))
      return g_strdup_printf ("S5: the switch %s, but the media's set_mode "
                              "ran %u times%s", ra.rv == 0 ? "took effect"
                              : "failed", r->a.m->set_modes - set_modes,
                              ra.rv == 0 && r->a.m->mode != op->mode
                              ? " with another mode" : "");
    if (!was_on || !wc_mode_wce (r->mode) || wc_mode_wce (op->mode)) {
      if (ra.rv != 0)
        return g_strdup_printf ("S5: switch from %s to %s%s failed: %s",
                                wc_mode_name (r->mode),
                                wc_mode_name (op->mode),
                                was_on ? "" : " with the power off",
                                g_strerror (ra.err));
      if (!unchanged)
        return g_strdup_printf ("S5: switch from %s to %s wrote to the "
                                "media", wc_mode_name (r->mode),
                                wc_mode_name (op->mode));
      r->mode = op->mode;
    }
    else if (ra.rv == 0) {
      g_autofree char *d = describe_diff (r->view_durable, model_latest (md),
                                          0, size, bs);
      if (d || memcmp (media, model_latest (md), size) != 0)
        return g_strdup_printf ("S5: switch from %s to %s succeeded before "
                                "everything was durable: %s",
                                wc_mode_name (r->mode),
                                wc_mode_name (op->mode),
                                d ? d : "the media shows other data");
      if (fired_a && op->inj != INJ_READ)
        return g_strdup ("S5: switch succeeded though the media failed "
                         "during its write-back");
      model_clean (md, 0, UINT64_MAX);
      r->mode = op->mode;
    }
    else if (!fired_a || ra.err != EIO)
      return g_strdup_printf ("errors: switch failed (%s) though the media "
                              "did not fail", g_strerror (ra.err));
    break;

  case OP_CUT:
    if (ra.rv != 0)
      return g_strdup_printf ("S8: cut failed: %s", g_strerror (ra.err));
    r->cuts++;
    r->powered = false;
    r->armed = WC_TRIGGER_NONE;         /* any cut disarms */
    r->cut_unit = op->cut.policy == WC_CUT_TORN ? op->cut.unit : bs;
    err = model_cut (md, &cut_a, &ra.rep, fired_a && op->inj == INJ_WRITE,
                     media);
    return err ? err : after_cut (r);

  case OP_POWER_ON:
    if (ra.rv != 0)
      return g_strdup_printf ("S8: power-on failed: %s", g_strerror (ra.err));
    if (!unchanged)
      return g_strdup ("S8: power-on changed the media");
    if (!was_on) {
      model_power_on (md);
      r->powered = true;
    }
    break;

  case OP_ARM:
    if (ra.rv != 0)
      return g_strdup_printf ("S9: arming failed: %s", g_strerror (ra.err));
    r->armed = op->trigger;
    r->arm_left = op->n;
    r->arm_mark = op->mark;
    r->arm_cut = op->cut;
    if (!unchanged)
      return g_strdup ("S9: arming a cut wrote to the media");
    break;

  case OP_MARK:
    if (ra.rv != 0)
      return g_strdup_printf ("S9: a mark failed: %s", g_strerror (ra.err));
    if (!unchanged)
      return g_strdup ("S9: a mark wrote to the media");
    break;
  }
  if (err)
    return err;
  err = model_step_end (md, media);
  if (err || !trig)
    return err ? err : check_state (r);

  /* The armed cut, as if made right after the request. */
  r->cuts++;
  r->triggered++;
  r->powered = false;
  r->armed = WC_TRIGGER_NONE;
  r->cut_unit = r->arm_cut.policy == WC_CUT_TORN ? r->arm_cut.unit : bs;
  err = model_cut (md, &r->arm_cut, &rep_b, fired_a && op->inj == INJ_WRITE,
                   r->a.m->buf);
  return err ? err : after_cut (r);
}

char *
run_trial (const struct trial *t, struct op *ops, unsigned n, bool verbose,
           unsigned *running, unsigned *fail_at, struct run_totals *totals)
{
  struct run r = { .t = t, .mode = t->mode, .powered = true };
  char *err = NULL;
  unsigned i;

  side_init (&r.a, t, t->writev);
  side_init (&r.b, t, !t->writev);
  r.md = model_new (t->size, t->bs, r.a.m->buf);
  r.cut_unit = t->bs;
  r.disk = g_malloc (t->size);
  r.pre = g_malloc (t->size);
  r.pre_durable = g_malloc (t->size);

  for (i = 0; i < n && !err; i++) {
    if (verbose) {
      g_autoptr (GString) s = g_string_new (NULL);
      op_format (s, &ops[i]);
      printf ("#   %3u. %s\n", i + 1, s->str);
    }
    if (running)
      *running = i;
    err = step (&r, &ops[i]);
  }
  if (err)
    i--;
  /* The end: everything written back is durable and the oracle agrees. */
  if (!err && r.powered) {
    if (wc_flush (r.a.e, WC_FORCE) == -1 || wc_flush (r.b.e, WC_FORCE) == -1)
      err = g_strdup_printf ("S3: the final flush failed: %s",
                             g_strerror (errno));
    else if (memcmp (r.a.m->durable, model_latest (r.md), t->size) != 0) {
      g_autofree char *d = describe_diff (r.a.m->durable, model_latest (r.md),
                                          0, t->size, t->bs);
      err = g_strdup_printf ("S3: after the final flush the media is not "
                             "the acknowledged content: %s", d);
    }
    else if (memcmp (r.a.m->buf, r.b.m->buf, t->size) != 0)
      err = g_strdup ("S8: two engines given the same requests end with "
                      "different media");
    else
      err = oracle_check (&r, r.cut_unit, "at the end");
  }
  if (err) {
    char *msg;

    if (i < n) {
      g_autoptr (GString) s = g_string_new (NULL);
      op_format (s, &ops[i]);
      msg = g_strdup_printf ("op %u (%s): %s", i + 1, s->str, err);
    }
    else
      msg = g_strdup_printf ("after the last op: %s", err);
    g_free (err);
    err = msg;
  }
  *fail_at = i;
  if (totals) {
    totals->ops += r.ops;
    totals->cuts += r.cuts;
    totals->triggered += r.triggered;
  }
  model_free (r.md);
  g_free (r.disk);
  g_free (r.pre);
  g_free (r.pre_durable);
  side_fini (&r.a);
  side_fini (&r.b);
  return err;
}

/* The oracle (S10): what the media must hold, per block.
 *
 * For every block ever written through the engine the oracle keeps:
 *   durable   fingerprints of the content the media holds, as the engine
 *             believes: read from the media before the block's first
 *             write, then replaced at each successful write-back;
 *   cands     fingerprints of every content the block has held in the cache
 *             since that durable point, oldest first (the newest is what the
 *             cache holds now);
 *   post      after a power cut met the block while dirty: what the cut left
 *             on the media, unit by unit.
 * A write-back snapshots the newest content (its number, the length of
 * cands at snapshot time); on success the durable content becomes that one
 * and every older candidate is dropped: a disk can no longer return them.
 * After a cut, post is what the media holds; the pre-cut history stays so
 * the cut can still be checked against S10, until the block's next write,
 * which starts the new epoch from post.
 *
 * Fingerprints are per 512-byte unit, 64 bits of MD5: torn outcomes are
 * checked per unit, whole-block outcomes as runs of units.  A fingerprint
 * collision could hide a wrong unit with odds of 2^-64 per comparison.
 *
 * Locking: none here.  The engine holds its lock around every call.
 */
#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "oracle.h"
#include "span.h"

struct entry {
  uint64_t blkno;
  uint64_t *durable;            /* units_per_block fingerprints */
  uint64_t *post;               /* NULL unless a cut met the block dirty */
  GPtrArray *cands;             /* of uint64_t[units_per_block] */
};

struct wc_oracle {
  uint32_t block_size;
  uint32_t units;               /* units per block */
  GHashTable *entries;          /* blkno -> struct entry */
  GChecksum *md5;
  uint64_t zero_fp;             /* fingerprint of a unit of zeros */
};

static uint64_t
fingerprint (struct wc_oracle *o, const uint8_t *unit)
{
  guint8 digest[16];
  gsize len = sizeof digest;
  uint64_t fp;

  g_checksum_reset (o->md5);
  g_checksum_update (o->md5, unit, WC_ORACLE_UNIT);
  g_checksum_get_digest (o->md5, digest, &len);
  memcpy (&fp, digest, sizeof fp);
  return fp;
}

/* Fingerprints of a whole block; data NULL means zeros. */
static uint64_t *
fingerprints (struct wc_oracle *o, const uint8_t *data)
{
  uint64_t *fps = g_new (uint64_t, o->units);

  for (uint32_t u = 0; u < o->units; u++)
    fps[u] = data ? fingerprint (o, data + (size_t) u * WC_ORACLE_UNIT)
                  : o->zero_fp;
  return fps;
}

static void
entry_free (gpointer p)
{
  struct entry *en = p;

  g_free (en->durable);
  g_free (en->post);
  g_ptr_array_free (en->cands, TRUE);
  g_free (en);
}

struct wc_oracle *
wc_oracle_new (uint32_t block_size)
{
  struct wc_oracle *o = g_new0 (struct wc_oracle, 1);
  uint8_t zeros[WC_ORACLE_UNIT] = { 0 };

  o->block_size = block_size;
  o->units = block_size / WC_ORACLE_UNIT;
  o->entries = g_hash_table_new_full (g_int64_hash, g_int64_equal,
                                      NULL, entry_free);
  o->md5 = g_checksum_new (G_CHECKSUM_MD5);
  o->zero_fp = fingerprint (o, zeros);
  return o;
}

void
wc_oracle_free (struct wc_oracle *o)
{
  if (!o)
    return;
  g_hash_table_destroy (o->entries);
  g_checksum_free (o->md5);
  g_free (o);
}

static struct entry *
lookup (struct wc_oracle *o, uint64_t blkno)
{
  return g_hash_table_lookup (o->entries, &blkno);
}

bool
wc_oracle_known (struct wc_oracle *o, uint64_t blkno)
{
  return lookup (o, blkno) != NULL;
}

void
wc_oracle_base (struct wc_oracle *o, uint64_t blkno, const uint8_t *data)
{
  struct entry *en;

  if (lookup (o, blkno))
    return;
  en = g_new0 (struct entry, 1);
  en->blkno = blkno;
  en->durable = fingerprints (o, data);
  en->cands = g_ptr_array_new_with_free_func (g_free);
  g_hash_table_insert (o->entries, &en->blkno, en);
}

/* The media holds what the last cut left: start the new epoch from it. */
static void
rebase (struct entry *en)
{
  if (!en->post)
    return;
  g_free (en->durable);
  en->durable = en->post;
  en->post = NULL;
  g_ptr_array_set_size (en->cands, 0);
}

void
wc_oracle_begin_cut (struct wc_oracle *o)
{
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, o->entries);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    rebase (value);
}

size_t
wc_oracle_written (struct wc_oracle *o, uint64_t blkno, const uint8_t *data)
{
  struct entry *en = lookup (o, blkno);

  g_assert (en);                /* the engine reads the base first */
  rebase (en);                  /* first write since a cut met it */
  g_ptr_array_add (en->cands, fingerprints (o, data));
  return en->cands->len;
}

void
wc_oracle_durable (struct wc_oracle *o, uint64_t blkno, size_t snap)
{
  struct entry *en = lookup (o, blkno);

  g_assert (en && snap >= 1 && snap <= en->cands->len);
  memcpy (en->durable, en->cands->pdata[snap - 1],
          o->units * sizeof (uint64_t));
  g_ptr_array_remove_range (en->cands, 0, snap);
}

void
wc_oracle_cut (struct wc_oracle *o, uint64_t blkno, const bool *survived)
{
  struct entry *en = lookup (o, blkno);
  const uint64_t *newest;

  g_assert (en && en->cands->len > 0 && !en->post);
  newest = en->cands->pdata[en->cands->len - 1];
  en->post = g_memdup2 (en->durable, o->units * sizeof (uint64_t));
  for (uint32_t u = 0; survived && u < o->units; u++)
    if (survived[u])
      en->post[u] = newest[u];
}

static int
cmp_blkno (gconstpointer a, gconstpointer b)
{
  const struct entry *x = *(struct entry *const *) a;
  const struct entry *y = *(struct entry *const *) b;

  return x->blkno < y->blkno ? -1 : x->blkno > y->blkno;
}

static bool
group_equal (const uint64_t *a, const uint64_t *b, uint32_t first, uint32_t n)
{
  return memcmp (a + first, b + first, n * sizeof (uint64_t)) == 0;
}

int
wc_oracle_check (struct wc_oracle *o, uint64_t disk_size,
                 enum wc_verify_mode mode,
                 uint32_t unit, wc_read_fn read_fn, void *opaque,
                 struct wc_verify_report *report)
{
  g_autoptr (GPtrArray) all = g_ptr_array_new ();
  g_autofree uint8_t *buf = g_malloc (o->block_size);
  GHashTableIter iter;
  gpointer value;
  uint32_t group;

  if (unit < WC_ORACLE_UNIT || unit > o->block_size ||
      (unit & (unit - 1)) != 0) {
    errno = EINVAL;
    return -1;
  }
  group = unit / WC_ORACLE_UNIT;

  memset (report, 0, sizeof *report);
  g_hash_table_iter_init (&iter, o->entries);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    g_ptr_array_add (all, value);
  g_ptr_array_sort (all, cmp_blkno);

  for (guint i = 0; i < all->len; i++) {
    struct entry *en = all->pdata[i];
    uint64_t off = en->blkno * o->block_size;
    g_autofree uint64_t *got = NULL;

    uint32_t n = wc_clamp (disk_size, off, o->block_size);

    /* The cache keeps the part past the end of the disk as zeros. */
    memset (buf + n, 0, o->block_size - n);
    if (read_fn (opaque, buf, n, off) == -1)
      return -1;
    got = fingerprints (o, buf);
    report->blocks++;

    for (uint32_t u = 0; u < o->units; u += group) {
      bool ok;

      switch (mode) {
      case WC_VERIFY_EXACT:
        ok = group_equal (got, en->post ? en->post : en->durable, u, group);
        break;
      case WC_VERIFY_CONTRACT:
        ok = group_equal (got, en->durable, u, group);
        for (guint c = 0; !ok && c < en->cands->len; c++)
          ok = group_equal (got, en->cands->pdata[c], u, group);
        break;
      default:
        errno = EINVAL;
        return -1;
      }
      if (!ok) {
        if (report->violations++ == 0)
          report->first_bad_offset = off + (uint64_t) u * WC_ORACLE_UNIT;
      }
    }
  }
  return 0;
}

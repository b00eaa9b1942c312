/* The local disk: "disk" served by the engine (lib/) over the file
 * backing, as one implementation of the disk ops (wcache-fuse.h; the
 * other is nbd.c's pass-through).
 *
 * Every request goes through wc_submit with the power epoch its file was
 * opened in, so a file opened before a cut fails with EIO for ever (fs.c
 * says why).  The control files run the protocol against the engine
 * directly.
 *
 * No state of its own: wf.e and wf.backing are set by main.c before the
 * loop starts; the engine locks itself.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>

#include <glib.h>

#include "backing.h"
#include "control.h"
#include "wcache-fuse.h"

static uint64_t
local_open_file (void)
{
  return wc_epoch (wf.e);
}

static int
submit (uint64_t epoch, enum wc_op op, void *buf, uint32_t count,
        uint64_t offset, bool fua)
{
  struct wc_request req = {
    .op = op, .buf = buf, .count = count, .offset = offset,
    .flags = fua ? WC_FUA : 0, .epoch = epoch,
  };

  return wc_submit (wf.e, &req);
}

static int
local_read (uint64_t epoch, void *buf, uint32_t count, uint64_t offset)
{
  return submit (epoch, WC_OP_READ, buf, count, offset, false);
}

static int
local_write (uint64_t epoch, const void *buf, uint32_t count,
             uint64_t offset, bool fua)
{
  return submit (epoch, WC_OP_WRITE, (void *) buf, count, offset, fua);
}

static int
local_zero (uint64_t epoch, uint32_t count, uint64_t offset, bool trim,
            bool fua)
{
  return submit (epoch, trim ? WC_OP_TRIM : WC_OP_ZERO, NULL, count, offset,
                 fua);
}

static int
local_flush (uint64_t epoch)
{
  return submit (epoch, WC_OP_FLUSH, NULL, 0, 0, false);
}

static bool
local_has_control_files (void)
{
  return true;
}

static int
local_command (const char *line, char **reply)
{
  return wc_control_run (wf.e, line, reply);
}

/* Without flush the cache is discarded, as at a lose cut. */
static void
local_unmount (bool flush)
{
  struct wc_stats st;

  if (flush && wc_powered (wf.e) && wc_flush (wf.e, WC_FORCE) == -1)
    wf_report ("flush at unmount: %s; the dirty data is lost",
               g_strerror (errno));
  wc_get_stats (wf.e, &st);
  if (st.cached_blocks > 0)
    wf_report ("unmounted with %" PRIu64 " dirty blocks: discarded (use "
               "--flush-on-unmount to keep them)", st.cached_blocks);
}

static void
local_close (void)
{
  wc_engine_free (wf.e);
  wc_backing_close (wf.backing);
}

const struct wf_disk_ops wf_local_ops = {
  .open_file = local_open_file,
  .keep_cache = true,
  .read = local_read,
  .write = local_write,
  .zero = local_zero,
  .flush = local_flush,
  .has_control_files = local_has_control_files,
  .command = local_command,
  .unmount = local_unmount,
  .close = local_close,
};

/* The reference model of the randomized engine check (test-model.c): what
 * rules S1..S10 allow a disk with a volatile write cache to show, written
 * from the rules, not from the engine.  It knows no cache: only the
 * acknowledged content, what the media showed after each step, and what
 * may have happened in between.  Single-threaded; no locks. */
#ifndef WC_MODEL_H
#define WC_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "wcache.h"

struct model;

/* Whether a step changed a block's cached content: a failed request may
 * have applied its span to a block or not, and if the content is the same
 * either way the model cannot tell. */
enum model_mod { MODEL_MOD_NO, MODEL_MOD_YES, MODEL_MOD_MAYBE };

/* A disk of size bytes in blocks of bs, whose media holds media now. */
struct model *model_new (uint64_t size, uint32_t bs, const uint8_t *media);
void model_free (struct model *md);

/* The acknowledged content of the whole disk (S1). */
const uint8_t *model_latest (const struct model *md);
/* What the media held when the current step began. */
const uint8_t *model_media (const struct model *md);

/* A step is one request (or mode switch, cut, power-on).  Between begin
 * and end the caller records what the request did: */
void model_step_begin (struct model *md);
/* [offset, offset + count) now reads as data (NULL: zeros), for an
 * acknowledged request or the part of a failed one that took effect. */
void model_apply (struct model *md, uint64_t offset, uint32_t count,
                  const uint8_t *data);
void model_touch (struct model *md, uint64_t blkno, enum model_mod mod);
/* The media holds the acknowledged content of these blocks, and the rules
 * say that it is durable (S2-S5): they are clean.  The caller checked the
 * media first. */
void model_clean (struct model *md, uint64_t first, uint64_t last);
/* Ends the step with the media holding media: every block must hold one
 * of the contents it may hold (S10: its last durable content or one
 * written since), never going back to an older one.  Returns NULL, or a
 * message naming the rule (g_free it). */
char *model_step_end (struct model *md, const uint8_t *media);

/* A power cut (S8) that left media, instead of model_step_end: the image
 * must be one the policy allows given what the media held before and
 * what was acknowledged.  writes_failed: the media refused some of the
 * cut's writes (its survivors are then lost).  Returns NULL or a message.
 * Every block is clean afterwards, and the power off. */
char *model_cut (struct model *md, const struct wc_cut *cut,
                 const struct wc_cut_report *rep, bool writes_failed,
                 const uint8_t *media);
/* Power-on: the disk now reads as the media. */
void model_power_on (struct model *md);

#endif

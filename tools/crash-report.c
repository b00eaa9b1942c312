/* wcache-crash: results as text and JSON, and merging shards
 * (crash-report.h).
 *
 * Owns struct crash_results.  The text report is for people: a header,
 * one line per epoch that has states, the totals, then every state that
 * is not consistent with the command that rebuilds it.  JSON goes through
 * json-glib both ways, so what `merge` reads is exactly what `explore
 * --json` wrote.
 *
 * Locking: none.
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "crash-report.h"

struct crash_results *
crash_results_new (void)
{
  struct crash_results *r = g_new0 (struct crash_results, 1);

  r->checks = g_ptr_array_new_with_free_func (g_free);
  r->findings = g_ptr_array_new ();
  r->shard = r->shards = 1;
  return r;
}

static void
finding_free (struct crash_finding *f)
{
  g_free (f->id);
  g_free (f->detail);
  g_free (f);
}

static void
findings_free (GPtrArray *a)
{
  if (!a)
    return;
  for (guint i = 0; i < a->len; i++)
    finding_free (a->pdata[i]);
  g_ptr_array_free (a, TRUE);
}

void
crash_results_free (struct crash_results *r)
{
  if (!r)
    return;
  g_free (r->log);
  g_free (r->base);
  g_ptr_array_free (r->checks, TRUE);
  g_free (r->from_mark);
  g_free (r->to_mark);
  g_free (r->plan_id);
  g_free (r->epochs);
  findings_free (r->findings);
  findings_free (r->list);
  g_free (r);
}

void
crash_results_add (GPtrArray *a, const char *id, uint32_t epoch,
                   enum crash_verdict v, const char *detail)
{
  struct crash_finding *f = g_new0 (struct crash_finding, 1);

  f->id = g_strdup (id);
  f->epoch = epoch;
  f->verdict = v;
  f->detail = g_strdup (detail);
  g_ptr_array_add (a, f);
}

int
crash_results_status (const struct crash_results *r)
{
  if (r->inconsistent)
    return 1;
  if (r->errors)
    return 2;
  if (r->interrupted)
    return 130;
  return 0;
}

static double
rate (const struct crash_results *r)
{
  return r->seconds > 0 ? r->explored / r->seconds : 0;
}

void
crash_results_print (FILE *fp, const struct crash_results *r)
{
  g_autofree char *qlog = g_shell_quote (r->log ? r->log : "LOG");
  g_autofree char *qbase = g_shell_quote (r->base ? r->base : "BASE");

  fprintf (fp, "log: %s\n", r->log ? r->log : "");
  if (r->merged)
    fprintf (fp, "merged: %" PRIu32 " shards\n", r->merged);
  else if (r->shards > 1)
    fprintf (fp, "shard: %" PRIu32 "/%" PRIu32 " (%" PRIu64 " of %" PRIu64
             " unique states)\n", r->shard, r->shards, r->shard_states,
             r->unique);
  fprintf (fp, "checks:");
  for (guint i = 0; i < r->checks->len; i++)
    fprintf (fp, " %s", (char *) r->checks->pdata[i]);
  fprintf (fp, "\nstates: %" PRIu64 " enumerated, %" PRIu64 " deduped, %"
           PRIu64 " unique\n", r->states, r->deduped, r->unique);
  for (uint32_t k = 0; k < r->nr_epochs; k++) {
    const struct crash_epoch_stats *e = &r->epochs[k];

    if (!e->explored && !e->inconsistent && !e->errors)
      continue;
    fprintf (fp, "epoch %" PRIu32 ": %" PRIu64 " states, %" PRIu64
             " deduped, %" PRIu64 " explored: %" PRIu64 " consistent, %"
             PRIu64 " inconsistent, %" PRIu64 " errors\n", k, e->states,
             e->deduped, e->explored, e->consistent, e->inconsistent,
             e->errors);
  }
  fprintf (fp, "explored: %" PRIu64 " states: %" PRIu64 " consistent, %"
           PRIu64 " inconsistent, %" PRIu64 " checker errors\n",
           r->explored, r->consistent, r->inconsistent, r->errors);
  fprintf (fp, "time: %.2f s (plan %.2f s), %.0f states/s\n", r->seconds,
           r->plan_seconds, rate (r));
  if (r->interrupted)
    fprintf (fp, "INTERRUPTED: the summary so far\n");
  if (r->stopped)
    fprintf (fp, "stopped at the first state that is not consistent"
             " (--keep-going explores them all)\n");
  for (guint i = 0; i < r->findings->len; i++) {
    const struct crash_finding *f = r->findings->pdata[i];

    fprintf (fp, "%s %s: %s\n", f->verdict == CRASH_INCONSISTENT
             ? "INCONSISTENT" : "CHECKER ERROR", f->id,
             f->detail ? f->detail : "");
    fprintf (fp, "  rebuild: wcache-crash materialize %s --base %s --state"
             " %s -o %s.img\n", qlog, qbase, f->id, f->id);
  }
  if (r->list)
    for (guint i = 0; i < r->list->len; i++) {
      const struct crash_finding *f = r->list->pdata[i];

      fprintf (fp, "state %s %s\n", f->id, crash_verdict_name (f->verdict));
    }
}

/* ---- JSON ---------------------------------------------------------------- */

static void
add_findings (JsonBuilder *b, const char *name, GPtrArray *a, bool detail)
{
  json_builder_set_member_name (b, name);
  json_builder_begin_array (b);
  for (guint i = 0; i < a->len; i++) {
    const struct crash_finding *f = a->pdata[i];

    json_builder_begin_object (b);
    json_builder_set_member_name (b, "id");
    json_builder_add_string_value (b, f->id);
    json_builder_set_member_name (b, "epoch");
    json_builder_add_int_value (b, f->epoch);
    json_builder_set_member_name (b, "verdict");
    json_builder_add_string_value (b, crash_verdict_name (f->verdict));
    if (detail) {
      json_builder_set_member_name (b, "detail");
      json_builder_add_string_value (b, f->detail ? f->detail : "");
    }
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
}

#define MEMBER_INT(b, name, v) \
  (json_builder_set_member_name (b, name), \
   json_builder_add_int_value (b, (gint64) (v)))

char *
crash_results_json (const struct crash_results *r)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  g_autoptr (JsonGenerator) gen = json_generator_new ();
  g_autoptr (JsonNode) root = NULL;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "tool");
  json_builder_add_string_value (b, "wcache-crash");
  json_builder_set_member_name (b, "version");
  json_builder_add_string_value (b, PACKAGE_VERSION);
  json_builder_set_member_name (b, "log");
  json_builder_add_string_value (b, r->log ? r->log : "");
  json_builder_set_member_name (b, "base");
  json_builder_add_string_value (b, r->base ? r->base : "");
  json_builder_set_member_name (b, "checks");
  json_builder_begin_array (b);
  for (guint i = 0; i < r->checks->len; i++)
    json_builder_add_string_value (b, r->checks->pdata[i]);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "options");
  json_builder_begin_object (b);
  MEMBER_INT (b, "exhaustive", r->exhaustive);
  MEMBER_INT (b, "samples", r->samples);
  MEMBER_INT (b, "seed", r->seed);
  MEMBER_INT (b, "torn", r->torn);
  json_builder_set_member_name (b, "from_mark");
  if (r->from_mark)
    json_builder_add_string_value (b, r->from_mark);
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "to_mark");
  if (r->to_mark)
    json_builder_add_string_value (b, r->to_mark);
  else
    json_builder_add_null_value (b);
  json_builder_end_object (b);
  json_builder_set_member_name (b, "plan_id");
  json_builder_add_string_value (b, r->plan_id ? r->plan_id : "");
  MEMBER_INT (b, "shard", r->shard);
  MEMBER_INT (b, "shards", r->shards);
  MEMBER_INT (b, "states", r->states);
  MEMBER_INT (b, "deduped", r->deduped);
  MEMBER_INT (b, "unique", r->unique);
  MEMBER_INT (b, "shard_states", r->shard_states);
  MEMBER_INT (b, "explored", r->explored);
  MEMBER_INT (b, "consistent", r->consistent);
  MEMBER_INT (b, "inconsistent", r->inconsistent);
  MEMBER_INT (b, "errors", r->errors);
  json_builder_set_member_name (b, "seconds");
  json_builder_add_double_value (b, r->seconds);
  json_builder_set_member_name (b, "plan_seconds");
  json_builder_add_double_value (b, r->plan_seconds);
  json_builder_set_member_name (b, "states_per_second");
  json_builder_add_double_value (b, rate (r));
  json_builder_set_member_name (b, "interrupted");
  json_builder_add_boolean_value (b, r->interrupted);
  json_builder_set_member_name (b, "stopped");
  json_builder_add_boolean_value (b, r->stopped);
  if (r->merged)
    MEMBER_INT (b, "merged", r->merged);
  json_builder_set_member_name (b, "epochs");
  json_builder_begin_array (b);
  for (uint32_t k = 0; k < r->nr_epochs; k++) {
    const struct crash_epoch_stats *e = &r->epochs[k];

    json_builder_begin_object (b);
    MEMBER_INT (b, "epoch", k);
    MEMBER_INT (b, "states", e->states);
    MEMBER_INT (b, "deduped", e->deduped);
    MEMBER_INT (b, "explored", e->explored);
    MEMBER_INT (b, "consistent", e->consistent);
    MEMBER_INT (b, "inconsistent", e->inconsistent);
    MEMBER_INT (b, "errors", e->errors);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
  add_findings (b, "findings", r->findings, true);
  if (r->list)
    add_findings (b, "list", r->list, false);
  json_builder_end_object (b);

  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, TRUE);
  return json_generator_to_data (gen, NULL);
}

/* ---- Reading and merging --------------------------------------------------- */

static bool
get_int (JsonObject *o, const char *name, uint64_t *v)
{
  JsonNode *n = json_object_get_member (o, name);

  if (!n || json_node_get_value_type (n) != G_TYPE_INT64 ||
      json_node_get_int (n) < 0)
    return false;
  *v = json_node_get_int (n);
  return true;
}

static const char *
get_str (JsonObject *o, const char *name)
{
  JsonNode *n = json_object_get_member (o, name);

  if (!n || json_node_get_value_type (n) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (n);
}

static enum crash_verdict
verdict_of (const char *s)
{
  if (s && strcmp (s, "consistent") == 0)
    return CRASH_CONSISTENT;
  if (s && strcmp (s, "inconsistent") == 0)
    return CRASH_INCONSISTENT;
  return CRASH_CHECK_ERROR;
}

static bool
load_findings (JsonObject *o, const char *name, GPtrArray *out)
{
  JsonArray *a;

  if (!json_object_has_member (o, name))
    return false;
  a = json_object_get_array_member (o, name);
  if (!a)
    return false;
  for (guint i = 0; i < json_array_get_length (a); i++) {
    JsonObject *f = json_array_get_object_element (a, i);
    uint64_t epoch;

    if (!f || !get_str (f, "id") || !get_int (f, "epoch", &epoch))
      return false;
    crash_results_add (out, get_str (f, "id"), epoch,
                       verdict_of (get_str (f, "verdict")),
                       get_str (f, "detail"));
  }
  return true;
}

struct crash_results *
crash_results_load (const char *path, char **message)
{
  g_autoptr (JsonParser) p = json_parser_new ();
  g_autoptr (GError) error = NULL;
  struct crash_results *r;
  JsonObject *o, *opts;
  JsonArray *a;
  uint64_t v[12];
  static const char *const ints[] = {
    "shard", "shards", "states", "deduped", "unique", "shard_states",
    "explored", "consistent", "inconsistent", "errors",
  };

  if (!json_parser_load_from_file (p, path, &error)) {
    *message = g_strdup_printf ("%s: %s", path, error->message);
    errno = EINVAL;
    return NULL;
  }
  o = json_node_get_object (json_parser_get_root (p));
  if (!o || g_strcmp0 (get_str (o, "tool"), "wcache-crash") != 0) {
    *message = g_strdup_printf ("%s: not a wcache-crash --json result",
                                path);
    errno = EINVAL;
    return NULL;
  }
  r = crash_results_new ();
  for (size_t i = 0; i < G_N_ELEMENTS (ints); i++)
    if (!get_int (o, ints[i], &v[i]))
      goto bad;
  r->shard = v[0];
  r->shards = v[1];
  r->states = v[2];
  r->deduped = v[3];
  r->unique = v[4];
  r->shard_states = v[5];
  r->explored = v[6];
  r->consistent = v[7];
  r->inconsistent = v[8];
  r->errors = v[9];
  if (!get_str (o, "plan_id") || r->shard < 1 || r->shard > r->shards)
    goto bad;
  r->plan_id = g_strdup (get_str (o, "plan_id"));
  r->log = g_strdup (get_str (o, "log"));
  r->base = g_strdup (get_str (o, "base"));
  r->seconds = json_object_get_double_member_with_default (o, "seconds", 0);
  r->plan_seconds = json_object_get_double_member_with_default
    (o, "plan_seconds", 0);
  r->interrupted = json_object_get_boolean_member_with_default
    (o, "interrupted", FALSE);
  r->stopped = json_object_get_boolean_member_with_default (o, "stopped",
                                                            FALSE);
  if (json_object_has_member (o, "checks") &&
      (a = json_object_get_array_member (o, "checks")))
    for (guint i = 0; i < json_array_get_length (a); i++)
      g_ptr_array_add (r->checks,
                       g_strdup (json_array_get_string_element (a, i)));
  if (json_object_has_member (o, "options") &&
      (opts = json_object_get_object_member (o, "options"))) {
    uint64_t x;

    if (get_int (opts, "exhaustive", &x)) r->exhaustive = x;
    if (get_int (opts, "samples", &x)) r->samples = x;
    if (get_int (opts, "seed", &x)) r->seed = x;
    if (get_int (opts, "torn", &x)) r->torn = x;
    r->from_mark = g_strdup (get_str (opts, "from_mark"));
    r->to_mark = g_strdup (get_str (opts, "to_mark"));
  }
  if (!json_object_has_member (o, "epochs") ||
      !(a = json_object_get_array_member (o, "epochs")))
    goto bad;
  r->nr_epochs = json_array_get_length (a);
  r->epochs = g_new0 (struct crash_epoch_stats, r->nr_epochs);
  for (uint32_t k = 0; k < r->nr_epochs; k++) {
    JsonObject *e = json_array_get_object_element (a, k);
    struct crash_epoch_stats *s = &r->epochs[k];

    if (!e || !get_int (e, "states", &s->states) ||
        !get_int (e, "deduped", &s->deduped) ||
        !get_int (e, "explored", &s->explored) ||
        !get_int (e, "consistent", &s->consistent) ||
        !get_int (e, "inconsistent", &s->inconsistent) ||
        !get_int (e, "errors", &s->errors))
      goto bad;
  }
  if (!load_findings (o, "findings", r->findings))
    goto bad;
  if (json_object_has_member (o, "list")) {
    r->list = g_ptr_array_new ();
    if (!load_findings (o, "list", r->list))
      goto bad;
  }
  return r;

 bad:
  crash_results_free (r);
  *message = g_strdup_printf ("%s: malformed wcache-crash result", path);
  errno = EINVAL;
  return NULL;
}

static gint
cmp_shard (gconstpointer a, gconstpointer b)
{
  const struct crash_results *x = *(struct crash_results *const *) a;
  const struct crash_results *y = *(struct crash_results *const *) b;

  return (gint) x->shard - (gint) y->shard;
}

struct crash_results *
crash_results_merge (struct crash_results **in, size_t n, char **message)
{
  g_autoptr (GPtrArray) sorted = g_ptr_array_new ();
  struct crash_results *r, *first;
  uint64_t total = 0;

  if (n == 0) {
    *message = g_strdup ("no results");
    errno = EINVAL;
    return NULL;
  }
  for (size_t i = 0; i < n; i++)
    g_ptr_array_add (sorted, in[i]);
  g_ptr_array_sort (sorted, cmp_shard);
  first = sorted->pdata[0];
  for (size_t i = 0; i < n; i++) {
    struct crash_results *s = sorted->pdata[i];

    if (strcmp (s->plan_id, first->plan_id) != 0 ||
        s->shards != first->shards || s->nr_epochs != first->nr_epochs) {
      *message = g_strdup_printf ("shard %" PRIu32 "/%" PRIu32
                                  " is from another exploration (plan %s,"
                                  " not %s)", s->shard, s->shards,
                                  s->plan_id, first->plan_id);
      errno = EINVAL;
      return NULL;
    }
    if (s->shard != i + 1) {
      *message = g_strdup_printf ("shard %zu/%" PRIu32 " %s", i + 1,
                                  first->shards, s->shard == i
                                  ? "given twice" : "missing");
      errno = EINVAL;
      return NULL;
    }
    total += s->shard_states;
  }
  if (n != first->shards || total != first->unique) {
    *message = g_strdup_printf ("%zu of %" PRIu32 " shards, %" PRIu64
                                " of %" PRIu64 " unique states", n,
                                first->shards, total, first->unique);
    errno = EINVAL;
    return NULL;
  }

  r = crash_results_new ();
  r->log = g_strdup (first->log);
  r->base = g_strdup (first->base);
  for (guint i = 0; i < first->checks->len; i++)
    g_ptr_array_add (r->checks, g_strdup (first->checks->pdata[i]));
  r->exhaustive = first->exhaustive;
  r->samples = first->samples;
  r->seed = first->seed;
  r->torn = first->torn;
  r->from_mark = g_strdup (first->from_mark);
  r->to_mark = g_strdup (first->to_mark);
  r->plan_id = g_strdup (first->plan_id);
  r->shard = 1;
  r->shards = 1;
  r->merged = n;
  r->states = first->states;
  r->deduped = first->deduped;
  r->unique = r->shard_states = first->unique;
  r->nr_epochs = first->nr_epochs;
  r->epochs = g_new0 (struct crash_epoch_stats, r->nr_epochs);
  for (size_t i = 0; i < n; i++) {
    struct crash_results *s = sorted->pdata[i];

    r->explored += s->explored;
    r->consistent += s->consistent;
    r->inconsistent += s->inconsistent;
    r->errors += s->errors;
    /* Shards run side by side: the slowest one is the wall time. */
    r->seconds = MAX (r->seconds, s->seconds);
    r->plan_seconds = MAX (r->plan_seconds, s->plan_seconds);
    r->interrupted |= s->interrupted;
    r->stopped |= s->stopped;
    for (uint32_t k = 0; k < r->nr_epochs; k++) {
      r->epochs[k].states = s->epochs[k].states;
      r->epochs[k].deduped = s->epochs[k].deduped;
      r->epochs[k].explored += s->epochs[k].explored;
      r->epochs[k].consistent += s->epochs[k].consistent;
      r->epochs[k].inconsistent += s->epochs[k].inconsistent;
      r->epochs[k].errors += s->epochs[k].errors;
    }
    for (guint j = 0; j < s->findings->len; j++) {
      const struct crash_finding *f = s->findings->pdata[j];

      crash_results_add (r->findings, f->id, f->epoch, f->verdict,
                         f->detail);
    }
    if (s->list) {
      if (!r->list)
        r->list = g_ptr_array_new ();
      for (guint j = 0; j < s->list->len; j++) {
        const struct crash_finding *f = s->list->pdata[j];

        crash_results_add (r->list, f->id, f->epoch, f->verdict, NULL);
      }
    }
  }
  return r;
}

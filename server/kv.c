/* The control protocol's line grammar (see kv.h): quoting values in
 * replies and parsing replies back.  No state, no locks. */
#include <config.h>

#include <inttypes.h>
#include <stdarg.h>
#include <string.h>

#include "kv.h"

static bool
is_bare (unsigned char c)
{
  return c >= 0x21 && c <= 0x7e && c != '"' && c != '\\';
}

static bool
is_qchar (unsigned char c)
{
  return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\';
}

static bool
is_key_char (unsigned char c)
{
  return g_ascii_isalnum (c) || c == '_' || c == '-';
}

void
wc_kv_add (GString *reply, const char *key, const char *value)
{
  bool bare = *value != '\0';

  for (const char *p = value; *p && bare; p++)
    bare = is_bare (*p);
  g_string_append_printf (reply, " %s=", key);
  if (bare) {
    g_string_append (reply, value);
    return;
  }
  g_string_append_c (reply, '"');
  for (const unsigned char *p = (const unsigned char *) value; *p; p++) {
    if (*p == '"' || *p == '\\')
      g_string_append_c (reply, '\\');
    g_string_append_c (reply, *p >= 0x20 && *p <= 0x7e ? *p : '?');
  }
  g_string_append_c (reply, '"');
}

void
wc_kv_add_u64 (GString *reply, const char *key, uint64_t value)
{
  g_string_append_printf (reply, " %s=%" PRIu64, key, value);
}

void
wc_kv_add_printf (GString *reply, const char *key, const char *fmt, ...)
{
  va_list ap;
  g_autofree char *value = NULL;

  va_start (ap, fmt);
  value = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  wc_kv_add (reply, key, value);
}

static void
kv_free (gpointer p)
{
  struct wc_kv *kv = p;

  g_free (kv->key);
  g_free (kv->value);
  g_free (kv);
}

int
wc_reply_parse (const char *line, bool *ok, GPtrArray **pairs,
                char **message)
{
  g_autoptr (GPtrArray) out = NULL;
  const char *p;

  if (g_str_has_prefix (line, "error: ")) {
    *ok = false;
    *message = g_strdup (line + strlen ("error: "));
    return 0;
  }
  if (strncmp (line, "ok", 2) != 0 || (line[2] != '\0' && line[2] != ' '))
    return -1;

  out = g_ptr_array_new_with_free_func (kv_free);
  p = line + 2;
  while (*p == ' ') {
    const char *k = ++p;
    g_autoptr (GString) v = g_string_new (NULL);
    struct wc_kv *kv;

    while (is_key_char (*p))
      p++;
    if (p == k || *p != '=')
      return -1;
    kv = g_new0 (struct wc_kv, 1);
    kv->key = g_strndup (k, p - k);
    p++;
    if (*p == '"') {
      for (p++; *p != '"'; p++) {
        if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
          p++;
        else if (!is_qchar (*p)) {
          kv_free (kv);
          return -1;
        }
        g_string_append_c (v, *p);
      }
      p++;
    }
    else {
      while (is_bare (*p))
        g_string_append_c (v, *p++);
      if (v->len == 0) {
        kv_free (kv);
        return -1;
      }
    }
    kv->value = g_string_free (g_steal_pointer (&v), FALSE);
    g_ptr_array_add (out, kv);
  }
  if (*p != '\0')
    return -1;
  *ok = true;
  *pairs = g_steal_pointer (&out);
  return 0;
}

const char *
wc_kv_get (GPtrArray *pairs, const char *key)
{
  for (guint i = 0; i < pairs->len; i++) {
    const struct wc_kv *kv = pairs->pdata[i];
    if (strcmp (kv->key, key) == 0)
      return kv->value;
  }
  return NULL;
}

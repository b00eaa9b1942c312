/* The control protocol's line grammar, shared by the server and wcachectl.
 *
 *   request = word *(SP word) LF          at most WC_LINE_MAX bytes
 *   reply   = "ok" *(SP pair) LF  /  "error: " text LF
 *   pair    = key "=" value
 *   key     = 1*(ALPHA / DIGIT / "_" / "-")
 *   value   = 1*bare  /  DQUOTE *(qchar / "\" DQUOTE / "\\") DQUOTE
 *   bare    = any byte 0x21..0x7e except DQUOTE and "\"
 *   qchar   = any byte 0x20..0x7e except DQUOTE and "\"
 *
 * A value holding anything but bare bytes (a space, say) is quoted; the
 * server never sends control characters or bytes above 0x7e.
 */
#ifndef WC_KV_H
#define WC_KV_H

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

#define WC_LINE_MAX 4096        /* request bytes, newline excluded */

/* Appends " key=value" to a reply, quoting the value when needed; bytes
 * outside 0x20..0x7e in value are replaced by '?'. */
void wc_kv_add (GString *reply, const char *key, const char *value);
void wc_kv_add_u64 (GString *reply, const char *key, uint64_t value);
void wc_kv_add_printf (GString *reply, const char *key, const char *fmt, ...)
  __attribute__ ((format (printf, 3, 4)));

struct wc_kv {
  char *key;
  char *value;
};

/* Parses a reply line (without its newline).  On success returns 0 and
 * sets *ok, and either *pairs (a new array of struct wc_kv *, owned by the
 * caller: free with g_ptr_array_unref) or *message (the error text, owned
 * by the caller).  Returns -1 if the line does not follow the grammar. */
int wc_reply_parse (const char *line, bool *ok, GPtrArray **pairs,
                    char **message);

/* The value of key in pairs, or NULL. */
const char *wc_kv_get (GPtrArray *pairs, const char *key);

#endif

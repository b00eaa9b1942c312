/* Unit tests for the control protocol's line grammar (server/kv.h): values
 * quoted by wc_kv_add() come back unchanged through wc_reply_parse() (bytes
 * outside 0x20..0x7e as '?'), ok and error lines parse, every malformed
 * reply is refused without output or leaks, and wc_kv_get() finds keys. */
#include <config.h>

#include <stdint.h>
#include <string.h>

#include <glib.h>

#include "kv.h"

/* Parses line, which must be an ok reply, and returns its pairs. */
static GPtrArray *
parse_ok (const char *line)
{
  GPtrArray *pairs = NULL;
  char *message = NULL;
  bool ok = false;

  g_assert_cmpint (wc_reply_parse (line, &ok, &pairs, &message), ==, 0);
  g_assert_true (ok);
  g_assert_null (message);
  g_assert_nonnull (pairs);
  return pairs;
}

static void
check_pair (GPtrArray *pairs, guint i, const char *key, const char *value)
{
  const struct wc_kv *kv;

  g_assert_cmpuint (i, <, pairs->len);
  kv = pairs->pdata[i];
  g_assert_cmpstr (kv->key, ==, key);
  g_assert_cmpstr (kv->value, ==, value);
}

/* ---- Quoting ----------------------------------------------------------- */

static void
test_quote_bare (void)
{
  g_autoptr (GString) reply = g_string_new ("ok");

  wc_kv_add (reply, "mode", "writeback");
  wc_kv_add (reply, "after", "writes:3");
  wc_kv_add (reply, "expr", "a=b");
  g_assert_cmpstr (reply->str, ==,
                   "ok mode=writeback after=writes:3 expr=a=b");
}

static void
test_quote_quoted (void)
{
  g_autoptr (GString) reply = g_string_new ("ok");

  wc_kv_add (reply, "cache_type", "write back");
  wc_kv_add (reply, "q", "say \"hi\"");
  wc_kv_add (reply, "b", "a\\b");
  wc_kv_add (reply, "e", "");
  wc_kv_add (reply, "t", "tab\there");
  g_assert_cmpstr (reply->str, ==,
                   "ok cache_type=\"write back\" q=\"say \\\"hi\\\"\""
                   " b=\"a\\\\b\" e=\"\" t=\"tab?here\"");
}

/* Every value comes back as sent, except bytes outside 0x20..0x7e, which
 * come back as '?'. */
static void
test_quote_round_trip (void)
{
  static const struct {
    const char *sent, *got;
  } values[] = {
    { "writeback", "writeback" },
    { "write back", "write back" },
    { "  leading and trailing  ", "  leading and trailing  " },
    { "say \"hi\"", "say \"hi\"" },
    { "\"", "\"" },
    { "back\\slash", "back\\slash" },
    { "\\", "\\" },
    { "\\\"", "\\\"" },
    { "ends with \\", "ends with \\" },
    { "", "" },
    { " ", " " },
    { "k=v x=\"y\"", "k=v x=\"y\"" },
    { "~!#$%&'()*+,-./:;<>?@[]^_`{|}", "~!#$%&'()*+,-./:;<>?@[]^_`{|}" },
    { "line\nbreak", "line?break" },
    { "tab\tcr\r", "tab?cr?" },
    { "del\x7f", "del?" },
    { "caf\xc3\xa9", "caf??" },           /* UTF-8 é: two bytes */
    { "\xff\x80", "??" },                 /* not UTF-8 at all */
  };
  g_autoptr (GString) reply = g_string_new ("ok");
  g_autoptr (GPtrArray) pairs = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (values); i++) {
    g_autofree char *key = g_strdup_printf ("k%u", i);
    wc_kv_add (reply, key, values[i].sent);
  }
  /* What the server sends is printable ASCII only. */
  for (const char *p = reply->str; *p; p++)
    g_assert_true (*p >= 0x20 && *p <= 0x7e);

  pairs = parse_ok (reply->str);
  g_assert_cmpuint (pairs->len, ==, G_N_ELEMENTS (values));
  for (guint i = 0; i < G_N_ELEMENTS (values); i++) {
    g_autofree char *key = g_strdup_printf ("k%u", i);
    check_pair (pairs, i, key, values[i].got);
  }
}

static void
test_quote_u64_printf (void)
{
  g_autoptr (GString) reply = g_string_new ("ok");
  g_autoptr (GPtrArray) pairs = NULL;

  wc_kv_add_u64 (reply, "zero", 0);
  wc_kv_add_u64 (reply, "seed", UINT64_MAX);
  wc_kv_add_printf (reply, "p", "%.2f", 0.25);
  wc_kv_add_printf (reply, "msg", "%d dirty %s", 3, "blocks");
  g_assert_cmpstr (reply->str, ==,
                   "ok zero=0 seed=18446744073709551615 p=0.25"
                   " msg=\"3 dirty blocks\"");
  pairs = parse_ok (reply->str);
  check_pair (pairs, 1, "seed", "18446744073709551615");
  check_pair (pairs, 3, "msg", "3 dirty blocks");
}

/* ---- Parsing ----------------------------------------------------------- */

static void
test_parse_ok (void)
{
  g_autoptr (GPtrArray) empty = parse_ok ("ok");
  g_autoptr (GPtrArray) pairs =
    parse_ok ("ok mode=writeback wce=1 cache_type=\"write back\""
              " e=\"\" Key_9=x fua-writes=2");

  g_assert_cmpuint (empty->len, ==, 0);
  g_assert_cmpuint (pairs->len, ==, 6);
  check_pair (pairs, 0, "mode", "writeback");
  check_pair (pairs, 1, "wce", "1");
  check_pair (pairs, 2, "cache_type", "write back");
  check_pair (pairs, 3, "e", "");
  check_pair (pairs, 4, "Key_9", "x");
  check_pair (pairs, 5, "fua-writes", "2");
}

static void
test_parse_escapes (void)
{
  g_autoptr (GPtrArray) pairs =
    parse_ok ("ok a=\"\\\"\" b=\"\\\\\" c=\"x\\\\\\\"y\" d=\"=\"");

  check_pair (pairs, 0, "a", "\"");
  check_pair (pairs, 1, "b", "\\");
  check_pair (pairs, 2, "c", "x\\\"y");
  check_pair (pairs, 3, "d", "=");
}

static void
test_parse_error (void)
{
  static const struct {
    const char *line, *message;
  } lines[] = {
    { "error: unknown command 'frob'", "unknown command 'frob'" },
    { "error: ", "" },
    { "error: error: twice", "error: twice" },
    { "error: key=value \"not parsed\"", "key=value \"not parsed\"" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (lines); i++) {
    GPtrArray *pairs = NULL;
    g_autofree char *message = NULL;
    bool ok = true;

    g_assert_cmpint (wc_reply_parse (lines[i].line, &ok, &pairs, &message),
                     ==, 0);
    g_assert_false (ok);
    g_assert_null (pairs);
    g_assert_cmpstr (message, ==, lines[i].message);
  }
}

/* Each line breaks the grammar of kv.h in one way. */
static void
test_parse_malformed (void)
{
  static const char *const lines[] = {
    "",
    "okx",                      /* not the word "ok" */
    "ok_a=1",
    "OK",
    " ok",
    "ok ",                      /* a space with no pair */
    "ok  a=1",                  /* two spaces */
    "ok a=1 ",                  /* trailing space */
    "ok a=1\tb=2",              /* a tab is not a separator */
    "ok\ta=1",
    "ok a",                     /* missing '=' */
    "ok a b=1",
    "ok =1",                    /* empty key */
    "ok a.b=1",                 /* bad key characters */
    "ok a:b=1",
    "ok a\"b=1",
    "ok a=",                    /* empty bare value */
    "ok a= b=1",
    "ok a=\"x",                 /* unterminated quote */
    "ok a=\"",
    "ok a=\"x\\\"",             /* the closing quote is escaped */
    "ok a=\"x\\\\\\\"",
    "ok a=\"x\\n\"",            /* unknown escape */
    "ok a=\"x\\",               /* backslash at the end */
    "ok a=\"x\"y",              /* trailing garbage after a quote */
    "ok a=\"x\"\"y\"",
    "ok a=b\"c",                /* quote inside a bare value */
    "ok a=b\\c",                /* backslash inside a bare value */
    "ok a=1 junk",
    "ok a=1\r",                 /* CRLF */
    "ok a=caf\xc3\xa9",         /* bytes above 0x7e */
    "ok a=\"caf\xc3\xa9\"",
    "ok a=\"tab\there\"",       /* control characters, even quoted */
    "ok a=\"\x7f\"",
    "error",                    /* error without ": " */
    "error:",
    "error:x",
    "Error: x",
    "garbage",
  };

  for (guint i = 0; i < G_N_ELEMENTS (lines); i++) {
    GPtrArray *pairs = NULL;
    char *message = NULL;
    bool ok = false;

    if (wc_reply_parse (lines[i], &ok, &pairs, &message) != -1)
      g_error ("accepted a malformed reply: \"%s\"",
               g_strescape (lines[i], NULL));
    g_assert_null (pairs);
    g_assert_null (message);
  }
}

/* ---- wc_kv_get --------------------------------------------------------- */

static void
test_get (void)
{
  g_autoptr (GPtrArray) pairs =
    parse_ok ("ok mode=writeback empty=\"\" seed=7 seed=8");
  g_autoptr (GPtrArray) none = parse_ok ("ok");

  g_assert_cmpstr (wc_kv_get (pairs, "mode"), ==, "writeback");
  g_assert_cmpstr (wc_kv_get (pairs, "empty"), ==, "");  /* present */
  g_assert_cmpstr (wc_kv_get (pairs, "seed"), ==, "7");  /* the first */
  g_assert_null (wc_kv_get (pairs, "absent"));
  g_assert_null (wc_kv_get (pairs, "Mode"));             /* exact case */
  g_assert_null (wc_kv_get (pairs, "mod"));              /* no prefixes */
  g_assert_null (wc_kv_get (pairs, ""));
  g_assert_null (wc_kv_get (none, "mode"));
}

int
main (int argc, char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/kv/quote/bare", test_quote_bare);
  g_test_add_func ("/kv/quote/quoted", test_quote_quoted);
  g_test_add_func ("/kv/quote/round-trip", test_quote_round_trip);
  g_test_add_func ("/kv/quote/u64-printf", test_quote_u64_printf);
  g_test_add_func ("/kv/parse/ok", test_parse_ok);
  g_test_add_func ("/kv/parse/escapes", test_parse_escapes);
  g_test_add_func ("/kv/parse/error", test_parse_error);
  g_test_add_func ("/kv/parse/malformed", test_parse_malformed);
  g_test_add_func ("/kv/get", test_get);
  return g_test_run ();
}

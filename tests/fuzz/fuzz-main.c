/* Replays fuzz inputs without libFuzzer: each argument is a file or a
 * directory of files; prints TAP, one test per input. */
#include <config.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static int n;

static gint
by_name (gconstpointer a, gconstpointer b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

static void
replay (const char *path)
{
  g_autofree char *data = NULL;
  gsize len;
  g_autoptr (GError) err = NULL;

  if (!g_file_get_contents (path, &data, &len, &err)) {
    printf ("not ok %d - %s: %s\n", ++n, path, err->message);
    return;
  }
  LLVMFuzzerTestOneInput ((const uint8_t *) data, len);  /* aborts on bugs */
  printf ("ok %d - %s\n", ++n, path);
}

int
main (int argc, char *argv[])
{
  for (int i = 1; i < argc; i++) {
    if (g_file_test (argv[i], G_FILE_TEST_IS_DIR)) {
      g_autoptr (GDir) dir = g_dir_open (argv[i], 0, NULL);
      const char *name;
      g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);

      while (dir && (name = g_dir_read_name (dir)))
        g_ptr_array_add (names, g_build_filename (argv[i], name, NULL));
      g_ptr_array_sort (names, by_name);
      for (guint j = 0; j < names->len; j++)
        replay (names->pdata[j]);
    }
    else
      replay (argv[i]);
  }
  printf ("1..%d\n", n);
  return 0;
}

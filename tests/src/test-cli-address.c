/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <glib/gstdio.h>
#include <locale.h>
#include <string.h>

#include "llm-cli.h"
#include "llm-identity.h"
#include "llm-paths.h"

/* Runs `llm-node ARGS…` in this process. The option parser takes the
 * arguments it reads out of argv, so it gets a copy of the array and the
 * strings are freed from the original. */
static int
run_cli (const char *first,
         ...)
{
  g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func (g_free);
  g_autofree char **argv = NULL;
  va_list ap;

  va_start (ap, first);
  for (const char *arg = first; arg != NULL; arg = va_arg (ap, const char *))
    g_ptr_array_add (args, g_strdup (arg));
  va_end (ap);
  g_ptr_array_add (args, NULL);

  argv = g_memdup2 (args->pdata, args->len * sizeof (char *));
  return llm_cli_run (args->len - 1, argv);
}

/* A child process removes its own isolated directories when it ends, so
 * the data directories shared by parent and child live in a temporary
 * directory of the parent's, named to the child by an environment variable. */
static char *
dup_shared_dir (void)
{
  if (g_test_subprocess ())
    return g_strdup (g_getenv ("LLM_TEST_SHARED_DIR"));

  return g_dir_make_tmp ("llm-test-cli-address-XXXXXX", NULL);
}

static void
remove_shared_dir (const char *dir)
{
  g_autoptr(GDir) handle = g_dir_open (dir, 0, NULL);
  const char *name;

  while (handle != NULL && (name = g_dir_read_name (handle)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);

      if (g_file_test (path, G_FILE_TEST_IS_DIR))
        remove_shared_dir (path);
      else
        g_unlink (path);
    }
  g_rmdir (dir);
}

static void
trap_with_shared_dir (const char *dir)
{
  g_setenv ("LLM_TEST_SHARED_DIR", dir, TRUE);
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_unsetenv ("LLM_TEST_SHARED_DIR");
}

/* `llm-node address --data-dir DIR` prints the address of the key in DIR,
 * and a newline, nothing else; twice the same. */
static void
test_cli_address_data_dir (void)
{
  g_autofree char *shared = dup_shared_dir ();
  g_autofree char *data_dir = g_build_filename (shared, "node-a", NULL);

  if (g_test_subprocess ())
    {
      g_assert_cmpint (run_cli ("address", "--data-dir", data_dir, NULL), ==, 0);
      g_assert_cmpint (run_cli ("address", "--data-dir", data_dir, NULL), ==, 0);
      return;
    }

  trap_with_shared_dir (shared);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr ("");

  {
    g_autoptr(LlmIdentity) identity = NULL;
    g_autofree char *expected = NULL;

    /* The child made it: loading it here creates nothing. */
    g_assert_true (g_file_test (data_dir, G_FILE_TEST_IS_DIR));
    identity = llm_identity_load_or_create (data_dir, NULL);
    g_assert_nonnull (identity);
    expected = g_strdup_printf ("%s\n%s\n", llm_identity_get_address (identity),
                                llm_identity_get_address (identity));
    g_test_trap_assert_stdout (expected);
  }

  remove_shared_dir (shared);
}

/* Without --data-dir, the key lives in the user data dir. */
static void
test_cli_address_default (void)
{
  if (g_test_subprocess ())
    {
      g_autofree char *default_dir = llm_paths_dup_default_data_dir ();
      g_autoptr(LlmIdentity) identity = NULL;

      g_assert_cmpint (run_cli ("address", NULL), ==, 0);
      identity = llm_identity_load_or_create (default_dir, NULL);
      g_printerr ("%s\n", llm_identity_get_address (identity));
      return;
    }

  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stdout ("*.llm\n");
  g_test_trap_assert_stdout_unmatched ("*\n*\n*");
  g_test_trap_assert_stderr ("*.llm\n");
}

static void
test_cli_address_errors (void)
{
  g_autofree char *shared = dup_shared_dir ();
  g_autofree char *data_dir = g_build_filename (shared, "broken", NULL);
  g_autofree char *key = g_build_filename (data_dir, LLM_IDENTITY_FILE_NAME, NULL);
  g_autofree char *contents = NULL;

  if (g_test_subprocess ())
    {
      g_assert_cmpint (run_cli ("address", "--data-dir", data_dir, "extra", NULL), ==, 2);
      g_assert_cmpint (run_cli ("address", "--data-dir", data_dir, NULL), ==, 1);
      return;
    }

  g_assert_no_errno (g_mkdir_with_parents (data_dir, 0700));
  g_assert_true (g_file_set_contents (key, "not a key", -1, NULL));

  trap_with_shared_dir (shared);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stdout ("");
  g_test_trap_assert_stderr ("*unexpected argument “extra”*"
                             "llm-node address: The node identity “*identity.key” is not a "
                             "valid key*left as it is*");

  /* Left as it was. */
  g_assert_true (g_file_get_contents (key, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "not a key");

  remove_shared_dir (shared);
}

int
main (int   argc,
      char *argv[])
{
  setlocale (LC_ALL, "");
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/llm/cli/address/data-dir", test_cli_address_data_dir);
  g_test_add_func ("/llm/cli/address/default", test_cli_address_default);
  g_test_add_func ("/llm/cli/address/errors", test_cli_address_errors);

  return g_test_run ();
}

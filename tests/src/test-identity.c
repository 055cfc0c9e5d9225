/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "llm-identity.h"

#define KEY_FILE_SIZE 93

static char *
dup_data_dir (const char *name)
{
  return g_build_filename (g_get_user_data_dir (), name, "llm-node", NULL);
}

static void
assert_mode (const char *path,
             guint       mode)
{
  struct stat st;

  g_assert_no_errno (g_stat (path, &st));
  g_assert_cmpuint (st.st_mode & 07777, ==, mode);
}

static void
test_identity_create (void)
{
  g_autofree char *data_dir = dup_data_dir ("create");
  g_autofree char *path = g_build_filename (data_dir, LLM_IDENTITY_FILE_NAME, NULL);
  g_autoptr(LlmIdentity) identity = NULL;
  g_autoptr(LlmIdentity) again = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *address = NULL;
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  g_autoptr(GDir) dir = NULL;
  gsize before_size, after_size;
  struct stat st_before, st_after;

  g_assert_false (g_file_test (data_dir, G_FILE_TEST_EXISTS));

  identity = llm_identity_load_or_create (data_dir, &error);
  g_assert_no_error (error);
  g_assert_nonnull (identity);
  g_assert_true (llm_address_is_valid (llm_identity_get_address (identity)));
  g_assert_cmpstr (llm_identity_get_path (identity), ==, path);
  g_object_get (identity, "address", &address, NULL);
  g_assert_cmpstr (address, ==, llm_identity_get_address (identity));

  /* Private: the directory 0700, the key 0600, and nothing else left. */
  assert_mode (data_dir, 0700);
  assert_mode (path, 0600);
  dir = g_dir_open (data_dir, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (g_dir_read_name (dir), ==, LLM_IDENTITY_FILE_NAME);
  g_assert_null (g_dir_read_name (dir));

  g_assert_true (g_file_get_contents (path, &before, &before_size, NULL));
  g_assert_cmpuint (before_size, ==, KEY_FILE_SIZE);
  g_assert_true (g_str_has_prefix (before, "llm-node identity v1 ed25519\n"));
  g_assert_no_errno (g_stat (path, &st_before));

  /* The second run loads it and writes nothing. */
  g_usleep (10 * G_TIME_SPAN_MILLISECOND);
  again = llm_identity_load_or_create (data_dir, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (llm_identity_get_address (again), ==, llm_identity_get_address (identity));
  g_assert_cmpmem (llm_identity_get_public_key (again), 32,
                   llm_identity_get_public_key (identity), 32);

  g_assert_true (g_file_get_contents (path, &after, &after_size, NULL));
  g_assert_cmpmem (before, before_size, after, after_size);
  g_assert_no_errno (g_stat (path, &st_after));
  g_assert_cmpint (st_after.st_ino, ==, st_before.st_ino);
  g_assert_cmpint (st_after.st_mtim.tv_sec, ==, st_before.st_mtim.tv_sec);
  g_assert_cmpint (st_after.st_mtim.tv_nsec, ==, st_before.st_mtim.tv_nsec);

  g_assert_finalize_object (g_steal_pointer (&identity));
  g_assert_finalize_object (g_steal_pointer (&again));
}

/* Writes @contents as the key file, and checks that loading refuses it with
 * an error naming the file, and leaves it byte for byte as it was. */
static void
assert_invalid_key (const char *name,
                    const void *contents,
                    gsize       size,
                    const char *pattern)
{
  g_autofree char *data_dir = dup_data_dir (name);
  g_autofree char *path = g_build_filename (data_dir, LLM_IDENTITY_FILE_NAME, NULL);
  g_autoptr(LlmIdentity) identity = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *after = NULL;
  gsize after_size;

  g_assert_no_errno (g_mkdir_with_parents (data_dir, 0700));
  g_assert_true (g_file_set_contents_full (path, contents, size, G_FILE_SET_CONTENTS_NONE,
                                           0600, NULL));

  identity = llm_identity_load_or_create (data_dir, &error);
  g_assert_null (identity);
  g_assert_error (error, LLM_IDENTITY_ERROR, LLM_IDENTITY_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, path));
  g_assert_nonnull (strstr (error->message, "left as it is"));
  if (!g_pattern_match_simple (pattern, error->message))
    g_error ("“%s” does not match “%s”", error->message, pattern);

  g_assert_true (g_file_get_contents (path, &after, &after_size, NULL));
  g_assert_cmpmem (after, after_size, contents, size);

  /* Still refused the second time: nothing was “repaired”. */
  g_clear_error (&error);
  g_assert_null (llm_identity_load_or_create (data_dir, &error));
  g_assert_error (error, LLM_IDENTITY_ERROR, LLM_IDENTITY_ERROR_INVALID);
}

static void
test_identity_invalid (void)
{
  g_autofree char *data_dir = dup_data_dir ("valid");
  g_autofree char *path = g_build_filename (data_dir, LLM_IDENTITY_FILE_NAME, NULL);
  g_autoptr(LlmIdentity) identity = NULL;
  g_autofree char *valid = NULL;
  g_autofree char *changed = NULL;
  gsize size;

  identity = llm_identity_load_or_create (data_dir, NULL);
  g_assert_nonnull (identity);
  g_assert_true (g_file_get_contents (path, &valid, &size, NULL));
  g_assert_cmpuint (size, ==, KEY_FILE_SIZE);

  assert_invalid_key ("empty", "", 0, "*wrong size*93 bytes*");
  assert_invalid_key ("short", valid, size - 1, "*wrong size*");
  {
    g_autofree char *longer = g_strnfill (size + 3, 'x');

    memcpy (longer, valid, size);
    assert_invalid_key ("long", longer, size + 3, "*wrong size*");
  }

  changed = g_memdup2 (valid, size);
  changed[3] = 'X';
  assert_invalid_key ("header", changed, size, "*does not start with*");

  /* A bit flipped in the seed, then in the public half. */
  memcpy (changed, valid, size);
  changed[size - 40] ^= 0x10;
  assert_invalid_key ("seed", changed, size, "*corrupted*");
  memcpy (changed, valid, size);
  changed[size - 1] ^= 0x01;
  assert_invalid_key ("public", changed, size, "*corrupted*");

  /* Not a file at all. */
  {
    g_autofree char *dir_data_dir = dup_data_dir ("directory");
    g_autofree char *dir_path = g_build_filename (dir_data_dir, LLM_IDENTITY_FILE_NAME, NULL);
    g_autoptr(GError) error = NULL;

    g_assert_no_errno (g_mkdir_with_parents (dir_path, 0700));
    g_assert_null (llm_identity_load_or_create (dir_data_dir, &error));
    g_assert_error (error, LLM_IDENTITY_ERROR, LLM_IDENTITY_ERROR_INVALID);
    g_assert_nonnull (strstr (error->message, "not a regular file"));
    g_assert_true (g_file_test (dir_path, G_FILE_TEST_IS_DIR));
  }
}

static void
test_identity_unwritable (void)
{
  g_autofree char *parent = g_build_filename (g_get_user_data_dir (), "locked", NULL);
  g_autofree char *data_dir = g_build_filename (parent, "llm-node", NULL);
  g_autoptr(GError) error = NULL;

  if (geteuid () == 0)
    {
      g_test_skip ("root ignores file permissions");
      return;
    }

  g_assert_no_errno (g_mkdir_with_parents (parent, 0500));
  g_assert_no_errno (g_chmod (parent, 0500));
  g_assert_null (llm_identity_load_or_create (data_dir, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
  g_assert_nonnull (strstr (error->message, data_dir));
  g_chmod (parent, 0700);
}

static void
test_identity_loose_mode (void)
{
  g_autofree char *data_dir = dup_data_dir ("loose");
  g_autofree char *path = g_build_filename (data_dir, LLM_IDENTITY_FILE_NAME, NULL);
  g_autoptr(LlmIdentity) first = NULL;
  g_autoptr(LlmIdentity) second = NULL;

  first = llm_identity_load_or_create (data_dir, NULL);
  g_assert_nonnull (first);
  g_assert_no_errno (g_chmod (path, 0644));

  /* Loaded, with a warning that says what to do; the mode is the user's. */
  g_test_expect_message ("llm-identity", G_LOG_LEVEL_MESSAGE,
                         "*can be read by other users*chmod 600*");
  second = llm_identity_load_or_create (data_dir, NULL);
  g_test_assert_expected_messages ();
  g_assert_nonnull (second);
  g_assert_cmpstr (llm_identity_get_address (second), ==, llm_identity_get_address (first));
  assert_mode (path, 0644);
}

typedef struct
{
  const char *data_dir;
  char *address;
} RaceData;

static gpointer
race_thread (gpointer data)
{
  RaceData *race = data;
  g_autoptr(LlmIdentity) identity = NULL;
  g_autoptr(GError) error = NULL;

  identity = llm_identity_load_or_create (race->data_dir, &error);
  g_assert_no_error (error);
  race->address = g_strdup (llm_identity_get_address (identity));

  return NULL;
}

/* Processes started at once (an app and a `host`) end up with one
 * identity: the first to link its key wins, the others load it. */
static void
test_identity_race (void)
{
  g_autofree char *data_dir = dup_data_dir ("race");
  RaceData races[6];
  GThread *threads[G_N_ELEMENTS (races)];

  for (guint i = 0; i < G_N_ELEMENTS (races); i++)
    {
      races[i].data_dir = data_dir;
      races[i].address = NULL;
      threads[i] = g_thread_new ("race", race_thread, &races[i]);
    }

  for (guint i = 0; i < G_N_ELEMENTS (races); i++)
    g_thread_join (threads[i]);

  for (guint i = 0; i < G_N_ELEMENTS (races); i++)
    g_assert_cmpstr (races[i].address, ==, races[0].address);
  for (guint i = 0; i < G_N_ELEMENTS (races); i++)
    g_free (races[i].address);
}

static void
load_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  LlmIdentity **identity = user_data;
  g_autoptr(GError) error = NULL;

  *identity = llm_identity_load_or_create_finish (result, &error);
  g_assert_no_error (error);
}

static void
test_identity_async (void)
{
  g_autofree char *data_dir = dup_data_dir ("async");
  g_autoptr(LlmIdentity) identity = NULL;
  g_autoptr(LlmIdentity) sync = NULL;

  llm_identity_load_or_create_async (data_dir, NULL, load_cb, &identity);
  while (identity == NULL)
    g_main_context_iteration (NULL, TRUE);

  sync = llm_identity_load_or_create (data_dir, NULL);
  g_assert_cmpstr (llm_identity_get_address (identity), ==, llm_identity_get_address (sync));
}

static void
test_identity_sign (void)
{
  g_autoptr(LlmIdentity) identity = llm_identity_generate ();
  g_autoptr(GBytes) public_key = NULL;
  static const char data[] = "label: something to sign";
  guint8 signature[64], again[64];

  g_assert_null (llm_identity_get_path (identity));
  g_object_get (identity, "public-key", &public_key, NULL);
  g_assert_cmpmem (g_bytes_get_data (public_key, NULL), g_bytes_get_size (public_key),
                   llm_identity_get_public_key (identity), 32);

  /* Ed25519 is deterministic. */
  llm_identity_sign (identity, data, sizeof data, signature);
  llm_identity_sign (identity, data, sizeof data, again);
  g_assert_cmpmem (signature, 64, again, 64);
  g_assert_true (llm_address_verify (llm_identity_get_address (identity), data, sizeof data,
                                     signature, NULL));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/llm/identity/create", test_identity_create);
  g_test_add_func ("/llm/identity/invalid", test_identity_invalid);
  g_test_add_func ("/llm/identity/unwritable", test_identity_unwritable);
  g_test_add_func ("/llm/identity/loose-mode", test_identity_loose_mode);
  g_test_add_func ("/llm/identity/race", test_identity_race);
  g_test_add_func ("/llm/identity/async", test_identity_async);
  g_test_add_func ("/llm/identity/sign", test_identity_sign);

  return g_test_run ();
}

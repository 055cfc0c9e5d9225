/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "llm-conversation-store.h"

static GThread *main_thread;

/* Waiting for the asynchronous calls, on the main context. */

static void
result_cb (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  GAsyncResult **result_out = user_data;

  g_assert_true (g_thread_self () == main_thread);
  g_assert_null (*result_out);
  *result_out = g_object_ref (result);
}

static void
count_result_cb (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  guint *n_done = user_data;
  g_autoptr(GError) error = NULL;

  g_assert_true (g_thread_self () == main_thread);
  g_assert_true (llm_conversation_store_save_finish (LLM_CONVERSATION_STORE (object), result,
                                                     &error));
  g_assert_no_error (error);
  (*n_done)++;
}

static void
count_notify_cb (GObject    *object,
                 GParamSpec *pspec,
                 guint      *count)
{
  (*count)++;
}

static GAsyncResult *
await_result (GAsyncResult **result)
{
  while (*result == NULL)
    g_main_context_iteration (NULL, TRUE);

  return *result;
}

static gboolean
load_sync (LlmConversationStore  *store,
           GError               **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  llm_conversation_store_load_async (store, NULL, result_cb, &result);
  return llm_conversation_store_load_finish (store, await_result (&result), error);
}

static gboolean
save_sync (LlmConversationStore  *store,
           LlmConversation       *conversation,
           GError               **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  llm_conversation_store_save_async (store, conversation, NULL, result_cb, &result);
  return llm_conversation_store_save_finish (store, await_result (&result), error);
}

static gboolean
delete_sync (LlmConversationStore  *store,
             LlmConversation       *conversation,
             GError               **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  llm_conversation_store_delete_async (store, conversation, NULL, result_cb, &result);
  return llm_conversation_store_delete_finish (store, await_result (&result), error);
}

/* What ::file-damaged said. */

typedef struct
{
  GPtrArray *file_names;
  GPtrArray *kept_as;     /* with NULL for “left as it is” */
  GPtrArray *errors;
} DamagedLog;

static void
file_damaged_cb (LlmConversationStore *store,
                 const char           *file_name,
                 const char           *kept_as,
                 const GError         *error,
                 DamagedLog           *log)
{
  g_assert_true (g_thread_self () == main_thread);
  g_assert_nonnull (file_name);
  g_assert_nonnull (error);
  g_test_message ("file-damaged: %s → %s: %s", file_name, kept_as, error->message);

  g_ptr_array_add (log->file_names, g_strdup (file_name));
  g_ptr_array_add (log->kept_as, g_strdup (kept_as));
  g_ptr_array_add (log->errors, g_error_copy (error));
}

static void
damaged_log_init (DamagedLog           *log,
                  LlmConversationStore *store)
{
  log->file_names = g_ptr_array_new_with_free_func (g_free);
  log->kept_as = g_ptr_array_new_with_free_func (g_free);
  log->errors = g_ptr_array_new_with_free_func ((GDestroyNotify) g_error_free);
  g_signal_connect (store, "file-damaged", G_CALLBACK (file_damaged_cb), log);
}

static void
damaged_log_clear (DamagedLog           *log,
                   LlmConversationStore *store)
{
  g_signal_handlers_disconnect_by_data (store, log);
  g_clear_pointer (&log->file_names, g_ptr_array_unref);
  g_clear_pointer (&log->kept_as, g_ptr_array_unref);
  g_clear_pointer (&log->errors, g_ptr_array_unref);
}

static const GError *
damaged_error (DamagedLog *log,
               guint       index)
{
  g_assert_cmpuint (index, <, log->errors->len);

  return g_ptr_array_index (log->errors, index);
}

/* A mirror of the model kept only from ::items-changed. */

typedef struct
{
  GPtrArray *mirror;
  guint n_emissions;
} Watch;

static void
items_changed_cb (GListModel *model,
                  guint       position,
                  guint       removed,
                  guint       added,
                  Watch      *watch)
{
  g_assert_true (g_thread_self () == main_thread);
  g_assert_cmpuint (position + removed, <=, watch->mirror->len);
  g_ptr_array_remove_range (watch->mirror, position, removed);
  for (guint i = 0; i < added; i++)
    g_ptr_array_insert (watch->mirror, position + i, g_list_model_get_item (model, position + i));
  watch->n_emissions++;
}

static void
watch_init (Watch      *watch,
            GListModel *model)
{
  watch->mirror = g_ptr_array_new_with_free_func (g_object_unref);
  watch->n_emissions = 0;
  for (guint i = 0; i < g_list_model_get_n_items (model); i++)
    g_ptr_array_add (watch->mirror, g_list_model_get_item (model, i));
  g_signal_connect (model, "items-changed", G_CALLBACK (items_changed_cb), watch);
}

static void
watch_clear (Watch      *watch,
             GListModel *model)
{
  g_signal_handlers_disconnect_by_data (model, watch);
  g_clear_pointer (&watch->mirror, g_ptr_array_unref);
}

/* The model matches the mirror and lists @ids, in order. */
static void
assert_ids (LlmConversationStore *store,
            Watch                *watch,
            const char * const   *ids)
{
  GListModel *model = G_LIST_MODEL (store);
  guint n = g_list_model_get_n_items (model);
  guint n_items;

  g_object_get (store, "n-items", &n_items, NULL);
  g_assert_cmpuint (n_items, ==, n);
  g_assert_cmpuint (n, ==, g_strv_length ((char **) ids));
  if (watch != NULL)
    g_assert_cmpuint (watch->mirror->len, ==, n);

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(LlmConversation) conversation = g_list_model_get_item (model, i);

      g_assert_cmpstr (llm_conversation_get_id (conversation), ==, ids[i]);
      g_assert_true (llm_conversation_store_lookup (store, ids[i]) == conversation);
      if (watch != NULL)
        g_assert_true (g_ptr_array_index (watch->mirror, i) == conversation);
    }
  g_assert_null (g_list_model_get_item (model, n));
}

/* Files */

static char *
make_directory (const char *name)
{
  char *directory = g_build_filename (g_get_user_data_dir (), name, NULL);

  g_assert_cmpint (g_mkdir_with_parents (directory, 0700), ==, 0);

  return directory;
}

static void
write_file (const char *directory,
            const char *name,
            const char *contents)
{
  g_autofree char *path = g_build_filename (directory, name, NULL);
  g_autoptr(GError) error = NULL;

  g_file_set_contents (path, contents, -1, &error);
  g_assert_no_error (error);
}

static char *
read_file (const char *path)
{
  g_autoptr(GError) error = NULL;
  char *contents = NULL;

  g_file_get_contents (path, &contents, NULL, &error);
  g_assert_no_error (error);

  return contents;
}

static char *
conversation_json (const char *id,
                   gint64      created,
                   gint64      modified)
{
  return g_strdup_printf ("{\"version\": 1, \"id\": \"%s\", \"title\": \"About %s\","
                          " \"created\": %" G_GINT64_FORMAT ", \"modified\": %" G_GINT64_FORMAT ","
                          " \"messages\": [{\"role\": \"user\", \"content\": \"About %s\","
                          " \"state\": \"complete\", \"created\": %" G_GINT64_FORMAT "}]}",
                          id, id, created, modified, id, created);
}

static void
write_conversation (const char *directory,
                    const char *id,
                    gint64      created,
                    gint64      modified)
{
  g_autofree char *name = g_strconcat (id, ".json", NULL);
  g_autofree char *json = conversation_json (id, created, modified);

  write_file (directory, name, json);
}

static int
compare_names (gconstpointer a,
               gconstpointer b)
{
  return strcmp (*(const char * const *) a, *(const char * const *) b);
}

/* The names in @directory, sorted, joined by spaces. */
static char *
dup_sorted_listing (const char *directory)
{
  g_autoptr(GDir) dir = NULL;
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;
  const char *name;

  dir = g_dir_open (directory, 0, &error);
  g_assert_no_error (error);
  while ((name = g_dir_read_name (dir)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, compare_names);
  g_ptr_array_add (names, NULL);

  return g_strjoinv (" ", (char **) names->pdata);
}

static char *
conversation_to_string (LlmConversation *conversation)
{
  g_autoptr(JsonNode) node = json_node_new (JSON_NODE_OBJECT);

  json_node_take_object (node, llm_conversation_to_json (conversation));

  return json_to_string (node, FALSE);
}

/* Tests */

static void
test_store_load (void)
{
  g_autofree char *directory = make_directory ("conversations");
  g_autoptr(LlmConversationStore) store = llm_conversation_store_new (directory);
  g_autofree char *garbage_path = g_build_filename (directory, "garbage.json", NULL);
  g_autofree char *mismatch_path = g_build_filename (directory, "mismatch.json", NULL);
  g_autofree char *garbage_kept = g_strconcat (garbage_path, ".damaged.1", NULL);
  g_autofree char *garbage_older = g_strconcat (garbage_path, ".damaged", NULL);
  g_autofree char *mismatch_kept = g_strconcat (mismatch_path, ".damaged", NULL);
  g_autofree char *mismatch_json = conversation_json ("other-id", 10, 10);
  g_autofree char *notes_json = conversation_json ("notes", 10, 5000);
  g_autofree char *folder = g_build_filename (directory, "folder.json", NULL);
  g_autofree char *contents = NULL;
  g_autofree char *listing = NULL;
  g_autoptr(GError) error = NULL;
  const char *garbage = "{\"version\": 1, \"id\": \"garbage\", \"mess";
  const char * const expected[] = { "c3000", "c2000", "c1000", NULL };
  DamagedLog log;
  Watch watch;

  write_conversation (directory, "c1000", 100, 1000);
  write_conversation (directory, "c3000", 300, 3000);
  write_conversation (directory, "c2000", 200, 2000);
  write_file (directory, "garbage.json", garbage);
  write_file (directory, "garbage.json.damaged", "set aside before");
  write_file (directory, "mismatch.json", mismatch_json);
  write_file (directory, "notes.txt", notes_json);
  g_assert_cmpint (g_mkdir (folder, 0700), ==, 0);

  damaged_log_init (&log, store);
  watch_init (&watch, G_LIST_MODEL (store));
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (store)), ==, 0);
  g_assert_true (g_list_model_get_item_type (G_LIST_MODEL (store)) == LLM_TYPE_CONVERSATION);
  g_assert_cmpstr (llm_conversation_store_get_directory (store), ==, directory);

  g_assert_true (load_sync (store, &error));
  g_assert_no_error (error);

  /* Three conversations, newest first. */
  assert_ids (store, &watch, expected);
  g_assert_cmpstr (llm_conversation_get_title (llm_conversation_store_lookup (store, "c2000")),
                   ==, "About c2000");
  g_assert_null (llm_conversation_store_lookup (store, "notes"));
  g_assert_null (llm_conversation_store_lookup (store, "other-id"));

  /* Two damaged files, in name order, set aside whole, never over
   * another file. */
  g_assert_cmpuint (log.file_names->len, ==, 2);

  g_assert_cmpstr (g_ptr_array_index (log.file_names, 0), ==, garbage_path);
  g_assert_cmpstr (g_ptr_array_index (log.kept_as, 0), ==, garbage_kept);
  g_assert_true (damaged_error (&log, 0)->domain == JSON_PARSER_ERROR);
  g_assert_nonnull (strstr (damaged_error (&log, 0)->message,
                            garbage_path));

  g_assert_cmpstr (g_ptr_array_index (log.file_names, 1), ==, mismatch_path);
  g_assert_cmpstr (g_ptr_array_index (log.kept_as, 1), ==, mismatch_kept);
  g_assert_error (damaged_error (&log, 1),
                  LLM_CONVERSATION_ERROR, LLM_CONVERSATION_ERROR_INVALID);
  g_assert_nonnull (strstr (damaged_error (&log, 1)->message,
                            mismatch_path));
  g_assert_nonnull (strstr (damaged_error (&log, 1)->message, "“id”"));

  g_assert_false (g_file_test (garbage_path, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (mismatch_path, G_FILE_TEST_EXISTS));
  contents = read_file (garbage_kept);
  g_assert_cmpstr (contents, ==, garbage);
  g_clear_pointer (&contents, g_free);
  contents = read_file (garbage_older);
  g_assert_cmpstr (contents, ==, "set aside before");
  g_clear_pointer (&contents, g_free);
  contents = read_file (mismatch_kept);
  g_assert_cmpstr (contents, ==, mismatch_json);
  g_clear_pointer (&contents, g_free);

  listing = dup_sorted_listing (directory);
  g_assert_cmpstr (listing, ==,
                   "c1000.json c2000.json c3000.json folder.json garbage.json.damaged "
                   "garbage.json.damaged.1 mismatch.json.damaged notes.txt");
  contents = g_build_filename (directory, "notes.txt", NULL);
  g_assert_true (g_file_test (contents, G_FILE_TEST_IS_REGULAR));
  g_clear_pointer (&contents, g_free);

  /* Loading again lists nothing twice, and finds nothing more damaged. */
  g_assert_true (load_sync (store, &error));
  g_assert_no_error (error);
  assert_ids (store, &watch, expected);
  g_assert_cmpuint (log.file_names->len, ==, 2);

  watch_clear (&watch, G_LIST_MODEL (store));
  damaged_log_clear (&log, store);
}

static void
test_store_load_missing_directory (void)
{
  g_autofree char *directory = g_build_filename (g_get_user_data_dir (), "a", "b",
                                                 "conversations", NULL);
  g_autoptr(LlmConversationStore) store = llm_conversation_store_new (directory);
  g_autoptr(GError) error = NULL;
  GStatBuf st;

  g_assert_false (g_file_test (directory, G_FILE_TEST_EXISTS));
  g_assert_true (load_sync (store, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (store)), ==, 0);

  g_assert_cmpint (g_stat (directory, &st), ==, 0);
  g_assert_true (S_ISDIR (st.st_mode));
  g_assert_cmpint (st.st_mode & 0777, ==, 0700);
}

static void
test_store_load_not_a_directory (void)
{
  g_autofree char *parent = make_directory ("data");
  g_autofree char *directory = g_build_filename (parent, "conversations", NULL);
  g_autoptr(LlmConversationStore) store = llm_conversation_store_new (directory);
  g_autoptr(GError) error = NULL;

  write_file (parent, "conversations", "a file");
  g_assert_false (load_sync (store, &error));
  g_assert_nonnull (error);
  g_assert_true (error->domain == G_IO_ERROR || error->domain == G_FILE_ERROR);
  g_assert_nonnull (strstr (error->message, directory));
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (store)), ==, 0);
}

/* Over 64 MiB: set aside without being read (the file is sparse, so this
 * costs no disk). */
static void
test_store_load_too_large (void)
{
  g_autofree char *directory = make_directory ("conversations");
  g_autofree char *path = g_build_filename (directory, "big.json", NULL);
  g_autofree char *kept_as = g_strconcat (path, ".damaged", NULL);
  g_autoptr(LlmConversationStore) store = llm_conversation_store_new (directory);
  g_autoptr(GError) error = NULL;
  const goffset size = ((goffset) 64 << 20) + 1;
  GStatBuf st;
  DamagedLog log;
  int fd;

  write_conversation (directory, "small", 1, 1);
  fd = g_open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (ftruncate (fd, size), ==, 0);
  g_assert_cmpint (pwrite (fd, "{", 1, 0), ==, 1);
  close (fd);

  damaged_log_init (&log, store);
  g_assert_true (load_sync (store, &error));
  g_assert_no_error (error);

  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (store)), ==, 1);
  g_assert_cmpuint (log.file_names->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (log.file_names, 0), ==, path);
  g_assert_cmpstr (g_ptr_array_index (log.kept_as, 0), ==, kept_as);
  g_assert_error (damaged_error (&log, 0), G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE);
  g_assert_nonnull (strstr (damaged_error (&log, 0)->message, path));

  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
  g_assert_cmpint (g_stat (kept_as, &st), ==, 0);
  g_assert_cmpint (st.st_size, ==, size);

  damaged_log_clear (&log, store);
}

/* A later version's file is reported, not set aside: that version reads
 * it. */
static void
test_store_load_newer_version (void)
{
  g_autofree char *directory = make_directory ("conversations");
  g_autofree char *path = g_build_filename (directory, "future.json", NULL);
  g_autoptr(LlmConversationStore) store = llm_conversation_store_new (directory);
  g_autoptr(GError) error = NULL;
  g_autofree char *contents = NULL;
  g_autofree char *listing = NULL;
  const char *future = "{\"version\": 2, \"id\": \"future\", \"turns\": []}";
  DamagedLog log;

  write_file (directory, "future.json", future);
  write_conversation (directory, "present", 1, 1);

  damaged_log_init (&log, store);
  g_assert_true (load_sync (store, &error));
  g_assert_no_error (error);

  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (store)), ==, 1);
  g_assert_nonnull (llm_conversation_store_lookup (store, "present"));
  g_assert_cmpuint (log.file_names->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (log.file_names, 0), ==, path);
  g_assert_null (g_ptr_array_index (log.kept_as, 0));
  g_assert_error (damaged_error (&log, 0),
                  LLM_CONVERSATION_ERROR, LLM_CONVERSATION_ERROR_VERSION);

  contents = read_file (path);
  g_assert_cmpstr (contents, ==, future);
  listing = dup_sorted_listing (directory);
  g_assert_cmpstr (listing, ==, "future.json present.json");

  damaged_log_clear (&log, store);
}

/* A damaged file that cannot be renamed is reported, and stays. Only
 * without root, for whom permissions stop nothing. */
static void
test_store_load_cannot_rename (void)
{
  g_autofree char *directory = make_directory ("conversations");
  g_autofree char *path = g_build_filename (directory, "broken.json", NULL);
  g_autoptr(LlmConversationStore) store = llm_conversation_store_new (directory);
  g_autoptr(GError) error = NULL;
  g_autofree char *contents = NULL;
  g_autofree char *listing = NULL;
  DamagedLog log;

  if (geteuid () == 0)
    {
      g_test_skip ("Running as root: a read-only folder does not stop a rename");
      return;
    }

  write_file (directory, "broken.json", "[]");
  write_conversation (directory, "fine", 1, 1);
  g_assert_cmpint (g_chmod (directory, 0500), ==, 0);

  damaged_log_init (&log, store);
  g_assert_true (load_sync (store, &error));
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (directory, 0700), ==, 0);

  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (store)), ==, 1);
  g_assert_cmpuint (log.file_names->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (log.file_names, 0), ==, path);
  g_assert_null (g_ptr_array_index (log.kept_as, 0));
  g_assert_error (damaged_error (&log, 0), LLM_CONVERSATION_ERROR, LLM_CONVERSATION_ERROR_INVALID);
  g_assert_nonnull (strstr (damaged_error (&log, 0)->message, "stays as it is"));

  contents = read_file (path);
  g_assert_cmpstr (contents, ==, "[]");
  listing = dup_sorted_listing (directory);
  g_assert_cmpstr (listing, ==, "broken.json fine.json");

  damaged_log_clear (&log, store);
}

/* A conversation listed already is the one in use: loading its file does
 * not replace it. */
static void
test_store_load_keeps_listed (void)
{
  g_autofree char *directory = make_directory ("conversations");
  g_autoptr(LlmConversationStore) store = llm_conversation_store_new (directory);
  g_autoptr(LlmConversation) listed = NULL;
  g_autofree char *json = conversation_json ("same", 1, 1);
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  const char * const expected[] = { "other", "same", NULL };

  json_parser_load_from_data (parser, json, -1, &error);
  g_assert_no_error (error);
  listed = llm_conversation_new_from_json (json_node_get_object (json_parser_get_root (parser)),
                                           &error);
  g_assert_no_error (error);
  llm_conversation_set_title (listed, "Renamed in memory");
  llm_conversation_store_add (store, listed);
  llm_conversation_store_add (store, listed);

  write_conversation (directory, "same", 1, 1);
  write_conversation (directory, "other", 1, 5);
  g_assert_true (load_sync (store, &error));
  g_assert_no_error (error);

  assert_ids (store, NULL, expected);
  g_assert_true (llm_conversation_store_lookup (store, "same") == listed);
  g_assert_cmpstr (llm_conversation_get_title (listed), ==, "Renamed in memory");
}

static void
test_store_save (void)
{
  g_autofree char *directory = g_build_filename (g_get_user_data_dir (), "new", "conversations",
                                                 NULL);
  g_autoptr(LlmConversationStore) store = llm_conversation_store_new (directory);
  g_autoptr(LlmConversationStore) reloaded = NULL;
  g_autoptr(LlmConversationStore) reloaded_again = NULL;
  g_autoptr(LlmConversation) conversation = llm_conversation_new ();
  g_autoptr(LlmChatMessage) question = llm_chat_message_new (LLM_CHAT_ROLE_USER, "Why?");
  g_autoptr(LlmChatMessage) answer = llm_chat_message_new (LLM_CHAT_ROLE_ASSISTANT, "");
  g_autoptr(GError) error = NULL;
  g_autofree char *name = NULL;
  g_autofree char *path = NULL;
  g_autofree char *listing = NULL;
  g_autofree char *expected = NULL;
  g_autofree char *actual = NULL;
  LlmConversation *copy;
  GStatBuf st;
  Watch watch;

  watch_init (&watch, G_LIST_MODEL (store));
  llm_conversation_append (conversation, question);
  llm_conversation_append (conversation, answer);
  llm_chat_message_set_state (answer, LLM_CHAT_MESSAGE_STATE_STREAMING);
  llm_chat_message_append (answer, "Because.");
  llm_chat_message_set_state (answer, LLM_CHAT_MESSAGE_STATE_COMPLETE);
  llm_conversation_set_model (conversation, "/models/stories260K");

  /* Listed when added, saved when asked. */
  llm_conversation_store_add (store, conversation);
  g_assert_cmpuint (watch.n_emissions, ==, 1);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (store)), ==, 1);
  g_assert_false (g_file_test (directory, G_FILE_TEST_EXISTS));

  g_assert_true (save_sync (store, conversation, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (watch.n_emissions, ==, 1);

  name = g_strconcat (llm_conversation_get_id (conversation), ".json", NULL);
  path = g_build_filename (directory, name, NULL);
  g_assert_cmpint (g_stat (path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  g_assert_cmpint (g_stat (directory, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0700);

  /* Only the file: no temporary file left behind. */
  listing = dup_sorted_listing (directory);
  g_assert_cmpstr (listing, ==, name);

  /* It reloads equal. */
  reloaded = llm_conversation_store_new (directory);
  g_assert_true (load_sync (reloaded, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (reloaded)), ==, 1);
  copy = llm_conversation_store_lookup (reloaded, llm_conversation_get_id (conversation));
  g_assert_nonnull (copy);
  g_assert_true (copy != conversation);
  expected = conversation_to_string (conversation);
  actual = conversation_to_string (copy);
  g_assert_cmpstr (actual, ==, expected);
  g_assert_cmpstr (llm_conversation_get_title (copy), ==, "Why?");
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (copy)), ==, 2);

  /* Saved again, changed: the file follows. */
  llm_conversation_set_title (conversation, "A question");
  g_assert_true (save_sync (store, conversation, &error));
  g_assert_no_error (error);
  reloaded_again = llm_conversation_store_new (directory);
  g_assert_true (load_sync (reloaded_again, &error));
  g_assert_no_error (error);
  copy = llm_conversation_store_lookup (reloaded_again, llm_conversation_get_id (conversation));
  g_assert_nonnull (copy);
  g_assert_cmpstr (llm_conversation_get_title (copy), ==, "A question");

  /* Saving lists a conversation that was not. */
  {
    g_autoptr(LlmConversation) unlisted = llm_conversation_new ();

    g_assert_true (save_sync (store, unlisted, &error));
    g_assert_no_error (error);
    g_assert_true (llm_conversation_store_lookup (store, llm_conversation_get_id (unlisted)) ==
                   unlisted);
    g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (store)), ==, 2);
  }

  watch_clear (&watch, G_LIST_MODEL (store));
}

/* A save that cannot be done fails, and the previous file stays whole. */
static void
test_store_save_failure (void)
{
  g_autofree char *directory = make_directory ("conversations");
  g_autofree char *moved = g_build_filename (g_get_user_data_dir (), "moved", NULL);
  g_autoptr(LlmConversationStore) store = llm_conversation_store_new (directory);
  g_autoptr(LlmConversation) conversation = llm_conversation_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *name = NULL;
  g_autofree char *path = NULL;
  g_autofree char *moved_path = NULL;
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;

  {
    g_autoptr(LlmChatMessage) message = llm_chat_message_new (LLM_CHAT_ROLE_USER, "First");

    llm_conversation_append (conversation, message);
  }
  g_assert_true (save_sync (store, conversation, &error));
  g_assert_no_error (error);
  name = g_strconcat (llm_conversation_get_id (conversation), ".json", NULL);
  path = g_build_filename (directory, name, NULL);
  before = read_file (path);

  /* The directory replaced by a file (as root, permissions stop nothing). */
  g_assert_cmpint (g_rename (directory, moved), ==, 0);
  write_file (g_get_user_data_dir (), "conversations", "not a directory");
  {
    g_autoptr(LlmChatMessage) message = llm_chat_message_new (LLM_CHAT_ROLE_USER, "Second");

    llm_conversation_append (conversation, message);
  }
  g_assert_false (save_sync (store, conversation, &error));
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, llm_conversation_get_id (conversation)));
  g_clear_error (&error);

  moved_path = g_build_filename (moved, name, NULL);
  after = read_file (moved_path);
  g_assert_cmpstr (after, ==, before);
  g_clear_pointer (&after, g_free);

  /* The directory back, but a folder where the file would go: the rename
   * fails, the folder stays, and no temporary file is left. */
  g_assert_cmpint (g_unlink (directory), ==, 0);
  g_assert_cmpint (g_mkdir (directory, 0700), ==, 0);
  g_assert_cmpint (g_mkdir (path, 0700), ==, 0);
  write_file (path, "inside", "kept");
  g_assert_false (save_sync (store, conversation, &error));
  g_assert_nonnull (error);
  g_test_message ("%s", error->message);
  g_assert_nonnull (strstr (error->message, path));
  g_clear_error (&error);
  {
    g_autofree char *inside = g_build_filename (path, "inside", NULL);
    g_autofree char *listing = dup_sorted_listing (directory);

    after = read_file (inside);
    g_assert_cmpstr (after, ==, "kept");
    g_assert_cmpstr (listing, ==, name);
  }

  /* Without root, a folder that cannot be written. */
  if (geteuid () != 0)
    {
      g_autofree char *listing = NULL;

      g_clear_pointer (&after, g_free);
      g_assert_cmpint (g_chmod (moved, 0500), ==, 0);
      {
        g_autoptr(LlmConversationStore) read_only = llm_conversation_store_new (moved);

        g_assert_false (save_sync (read_only, conversation, &error));
        g_assert_nonnull (error);
        g_clear_error (&error);
      }
      g_assert_cmpint (g_chmod (moved, 0700), ==, 0);
      after = read_file (moved_path);
      g_assert_cmpstr (after, ==, before);
      listing = dup_sorted_listing (moved);
      g_assert_cmpstr (listing, ==, name);
    }
}

static void
test_store_delete (void)
{
  g_autofree char *directory = make_directory ("conversations");
  g_autoptr(LlmConversationStore) store = llm_conversation_store_new (directory);
  g_autoptr(LlmConversation) a = llm_conversation_new ();
  g_autoptr(LlmConversation) b = llm_conversation_new ();
  g_autoptr(LlmConversation) never_saved = llm_conversation_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *name_a = g_strconcat (llm_conversation_get_id (a), ".json", NULL);
  g_autofree char *name_b = g_strconcat (llm_conversation_get_id (b), ".json", NULL);
  g_autofree char *path_a = g_build_filename (directory, name_a, NULL);
  g_autofree char *path_b = g_build_filename (directory, name_b, NULL);
  g_autofree char *listing = NULL;
  const char *only_b[] = { llm_conversation_get_id (b), NULL };
  guint n_emissions;
  Watch watch;

  watch_init (&watch, G_LIST_MODEL (store));
  g_assert_true (save_sync (store, a, &error));
  g_assert_no_error (error);
  g_assert_true (save_sync (store, b, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_test (path_a, G_FILE_TEST_IS_REGULAR));
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (store)), ==, 2);

  n_emissions = watch.n_emissions;
  g_assert_true (delete_sync (store, a, &error));
  g_assert_no_error (error);
  g_assert_false (g_file_test (path_a, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (path_b, G_FILE_TEST_IS_REGULAR));
  g_assert_cmpuint (watch.n_emissions, ==, n_emissions + 1);
  assert_ids (store, &watch, only_b);
  g_assert_null (llm_conversation_store_lookup (store, llm_conversation_get_id (a)));

  /* Unlisted, it no longer moves in the list. */
  {
    g_autoptr(LlmChatMessage) message = llm_chat_message_new (LLM_CHAT_ROLE_USER, "Hi");

    llm_conversation_append (a, message);
    g_assert_cmpuint (watch.n_emissions, ==, n_emissions + 1);
  }

  /* A conversation never saved: nothing to delete, and it goes. */
  llm_conversation_store_add (store, never_saved);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (store)), ==, 2);
  g_assert_true (delete_sync (store, never_saved, &error));
  g_assert_no_error (error);
  assert_ids (store, &watch, only_b);

  /* A file that cannot be removed (a folder in its place): the error, and
   * the conversation stays. */
  g_assert_cmpint (g_unlink (path_b), ==, 0);
  g_assert_cmpint (g_mkdir (path_b, 0700), ==, 0);
  write_file (path_b, "inside", "kept");
  g_assert_false (delete_sync (store, b, &error));
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, path_b));
  assert_ids (store, &watch, only_b);
  listing = dup_sorted_listing (path_b);
  g_assert_cmpstr (listing, ==, "inside");

  watch_clear (&watch, G_LIST_MODEL (store));
}

/* A conversation that changes moves to its place: newest first. */
static void
test_store_resort (void)
{
  g_autofree char *directory = make_directory ("conversations");
  g_autoptr(LlmConversationStore) store = llm_conversation_store_new (directory);
  g_autoptr(LlmConversation) fresh = llm_conversation_new ();
  g_autoptr(GError) error = NULL;
  LlmConversation *oldest;
  const char * const loaded[] = { "c3000", "c2000", "c1000", NULL };
  const char * const moved[] = { "c1000", "c3000", "c2000", NULL };
  const char *with_fresh[] = { llm_conversation_get_id (fresh), "c1000", "c3000", "c2000", NULL };
  guint n_items_notifies = 0;
  Watch watch;

  write_conversation (directory, "c1000", 100, 1000);
  write_conversation (directory, "c2000", 200, 2000);
  write_conversation (directory, "c3000", 300, 3000);
  g_assert_true (load_sync (store, &error));
  g_assert_no_error (error);

  watch_init (&watch, G_LIST_MODEL (store));
  g_signal_connect (store, "notify::n-items", G_CALLBACK (count_notify_cb), &n_items_notifies);
  assert_ids (store, &watch, loaded);

  /* The oldest gets an answer: first, in one emission. */
  oldest = llm_conversation_store_lookup (store, "c1000");
  {
    g_autoptr(LlmChatMessage) message = llm_chat_message_new (LLM_CHAT_ROLE_ASSISTANT, "Yes");

    llm_conversation_append (oldest, message);
  }
  g_assert_cmpuint (watch.n_emissions, ==, 1);
  assert_ids (store, &watch, moved);

  /* Changes that do not move it emit nothing. */
  llm_conversation_truncate (oldest, 1);
  llm_conversation_set_title (llm_conversation_store_lookup (store, "c2000"), "Renamed");
  g_assert_cmpuint (watch.n_emissions, ==, 1);
  assert_ids (store, &watch, moved);

  /* The middle one changes: it moves up one. */
  {
    const char * const middle_first[] = { "c3000", "c1000", "c2000", NULL };
    g_autoptr(LlmChatMessage) message = llm_chat_message_new (LLM_CHAT_ROLE_USER, "More");

    llm_conversation_append (llm_conversation_store_lookup (store, "c3000"), message);
    g_assert_cmpuint (watch.n_emissions, ==, 2);
    assert_ids (store, &watch, middle_first);
    llm_conversation_truncate (oldest, 0);
    g_assert_cmpuint (watch.n_emissions, ==, 3);
    assert_ids (store, &watch, moved);
  }

  /* Moving is no change of the count. */
  g_assert_cmpuint (n_items_notifies, ==, 0);

  /* A new conversation: created after them all, it goes first. */
  llm_conversation_store_add (store, fresh);
  g_assert_cmpuint (n_items_notifies, ==, 1);
  g_assert_cmpuint (watch.n_emissions, ==, 4);
  assert_ids (store, &watch, with_fresh);

  watch_clear (&watch, G_LIST_MODEL (store));
}

/* Many saves of one conversation at once: the file holds the last. */
static void
test_store_save_order (void)
{
  g_autofree char *directory = make_directory ("conversations");
  g_autoptr(LlmConversationStore) store = llm_conversation_store_new (directory);
  g_autoptr(LlmConversationStore) reloaded = llm_conversation_store_new (directory);
  g_autoptr(LlmConversation) conversation = llm_conversation_new ();
  g_autoptr(GPtrArray) results = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GError) error = NULL;
  GAsyncResult *pending[32] = { NULL, };
  LlmConversation *copy;
  guint n_done = 0;

  for (guint i = 0; i < G_N_ELEMENTS (pending); i++)
    {
      g_autofree char *title = g_strdup_printf ("Version %u", i);
      g_autoptr(LlmChatMessage) message = llm_chat_message_new (LLM_CHAT_ROLE_USER, title);

      /* Larger each time, so that the writes take different times. */
      llm_conversation_append (conversation, message);
      llm_conversation_set_title (conversation, title);
      llm_conversation_store_save_async (store, conversation, NULL, result_cb, &pending[i]);
    }

  for (guint i = 0; i < G_N_ELEMENTS (pending); i++)
    {
      g_assert_true (llm_conversation_store_save_finish (store, await_result (&pending[i]),
                                                         &error));
      g_assert_no_error (error);
      g_ptr_array_add (results, pending[i]);
    }

  g_assert_true (load_sync (reloaded, &error));
  g_assert_no_error (error);
  copy = llm_conversation_store_lookup (reloaded, llm_conversation_get_id (conversation));
  g_assert_nonnull (copy);
  g_assert_cmpstr (llm_conversation_get_title (copy), ==, "Version 31");
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (copy)), ==, 32);

  /* A deletion asked for after saves wins over them, whichever thread
   * runs first. */
  for (guint i = 0; i < 8; i++)
    llm_conversation_store_save_async (store, conversation, NULL, count_result_cb, &n_done);
  {
    g_autoptr(GAsyncResult) result = NULL;
    g_autofree char *listing = NULL;

    llm_conversation_store_delete_async (store, conversation, NULL, result_cb, &result);
    g_assert_true (llm_conversation_store_delete_finish (store, await_result (&result), &error));
    g_assert_no_error (error);
    while (n_done < 8)
      g_main_context_iteration (NULL, TRUE);

    listing = dup_sorted_listing (directory);
    g_assert_cmpstr (listing, ==, "");
    g_assert_null (llm_conversation_store_lookup (store, llm_conversation_get_id (conversation)));
  }
}

static void
test_store_finalize (void)
{
  g_autofree char *directory = make_directory ("conversations");
  LlmConversationStore *store = llm_conversation_store_new (directory);
  g_autoptr(LlmConversation) conversation = llm_conversation_new ();
  g_autoptr(GError) error = NULL;

  g_assert_true (save_sync (store, conversation, &error));
  g_assert_no_error (error);
  g_assert_finalize_object (store);

  /* The conversation outlives the store, which no longer watches it. */
  {
    g_autoptr(LlmChatMessage) message = llm_chat_message_new (LLM_CHAT_ROLE_USER, "Hi");

    llm_conversation_append (conversation, message);
  }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  main_thread = g_thread_self ();

  g_test_add_func ("/llm/conversation-store/load", test_store_load);
  g_test_add_func ("/llm/conversation-store/load/missing-directory",
                   test_store_load_missing_directory);
  g_test_add_func ("/llm/conversation-store/load/not-a-directory",
                   test_store_load_not_a_directory);
  g_test_add_func ("/llm/conversation-store/load/too-large", test_store_load_too_large);
  g_test_add_func ("/llm/conversation-store/load/newer-version", test_store_load_newer_version);
  g_test_add_func ("/llm/conversation-store/load/keeps-listed", test_store_load_keeps_listed);
  g_test_add_func ("/llm/conversation-store/load/cannot-rename", test_store_load_cannot_rename);
  g_test_add_func ("/llm/conversation-store/save", test_store_save);
  g_test_add_func ("/llm/conversation-store/save/failure", test_store_save_failure);
  g_test_add_func ("/llm/conversation-store/save/order", test_store_save_order);
  g_test_add_func ("/llm/conversation-store/delete", test_store_delete);
  g_test_add_func ("/llm/conversation-store/resort", test_store_resort);
  g_test_add_func ("/llm/conversation-store/finalize", test_store_finalize);

  return g_test_run ();
}

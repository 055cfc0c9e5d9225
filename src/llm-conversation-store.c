/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-conversation-store"

#include "llm-conversation-store.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>

/**
 * LlmConversationStore:
 *
 * The saved conversations: a #GListModel of #LlmConversation, most
 * recently modified first, kept in order as conversations change
 * (#LlmConversation::changed): one that changes, or is added, goes first
 * among those of the same second; those loaded from files within one
 * second are the most recently created first, then by id, so that the
 * order never depends on the order of the files.
 *
 * Each conversation is a file `ID.json` in #LlmConversationStore:directory.
 * Files are read, written and removed on worker threads; the list changes
 * and the signals are emitted on the thread that called the `_async`
 * function (the main thread). Saves and deletions of one conversation
 * take effect in the order they were asked for, even though the threads
 * that do them may run in any order: one that finds a later one done
 * already does nothing.
 *
 * Loading is forgiving: a file that is not a conversation of this format
 * (not JSON, a member wrong, an id other than its name, larger than
 * 64 MiB) is renamed `ID.json.damaged` (or `ID.json.damaged.1`, …: never
 * over another file) and reported by #LlmConversationStore::file-damaged;
 * the other files load. A file of another format version, or one that
 * cannot be read, is reported the same way but left as it is: a newer
 * version of the app reads it, or it may be readable later.
 */
typedef struct _Io Io;

struct _LlmConversationStore
{
  GObject parent_instance;

  char *directory;
  GPtrArray *conversations;   /* of LlmConversation, newest first */
  Io *io;                     /* shared with the worker threads */

  guint next_sequence;        /* of the last save or deletion asked for */
};

static void llm_conversation_store_model_init (GListModelInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (LlmConversationStore, llm_conversation_store, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_LIST_MODEL,
                                                      llm_conversation_store_model_init))

enum {
  PROP_0,
  PROP_DIRECTORY,
  PROP_N_ITEMS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

enum {
  FILE_DAMAGED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

/* A conversation this large is a mistake (or not a conversation): it is
 * not read, only set aside. */
#define MAX_FILE_SIZE ((gsize) 64 << 20)

#define FILE_SUFFIX ".json"
#define DAMAGED_SUFFIX ".damaged"

/* What the worker threads share, under the mutex: for each conversation
 * id, the sequence number of the last save or deletion done. */
struct _Io
{
  GMutex mutex;
  GHashTable *done;       /* id → GUINT_TO_POINTER (sequence) */
};

static void
io_clear (gpointer data)
{
  Io *io = data;

  g_mutex_clear (&io->mutex);
  g_hash_table_unref (io->done);
}

static Io *
io_new (void)
{
  Io *io = g_atomic_rc_box_new0 (Io);

  g_mutex_init (&io->mutex);
  io->done = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  return io;
}

static void
io_unref (Io *io)
{
  g_atomic_rc_box_release_full (io, io_clear);
}

/* Whether a save or deletion later than @sequence is done already; with
 * io->mutex held. */
static gboolean
io_is_superseded (Io         *io,
                  const char *id,
                  guint       sequence)
{
  gpointer done;

  return g_hash_table_lookup_extended (io->done, id, NULL, &done) &&
         GPOINTER_TO_UINT (done) > sequence;
}

static void
io_set_done (Io         *io,
             const char *id,
             guint       sequence)
{
  g_hash_table_insert (io->done, g_strdup (id), GUINT_TO_POINTER (sequence));
}

/* Order */

/* Newest first: modified, then created, descending; then id. */
static int
conversation_compare (LlmConversation *a,
                      LlmConversation *b)
{
  gint64 modified_a = llm_conversation_get_modified (a);
  gint64 modified_b = llm_conversation_get_modified (b);
  gint64 created_a = llm_conversation_get_created (a);
  gint64 created_b = llm_conversation_get_created (b);

  if (modified_a != modified_b)
    return modified_a > modified_b ? -1 : 1;
  if (created_a != created_b)
    return created_a > created_b ? -1 : 1;

  return strcmp (llm_conversation_get_id (a), llm_conversation_get_id (b));
}

/* Where @conversation goes in the list (which does not hold it). The list
 * is sorted by modified time; within one second, conversations read from
 * files are in the order of conversation_compare(), so that it does not
 * depend on the order of the files, but one that is @touched (added or
 * changed now) goes first among them, as the person expects. */
static guint
find_insert_position (LlmConversationStore *self,
                      LlmConversation      *conversation,
                      gboolean              touched)
{
  gint64 modified = llm_conversation_get_modified (conversation);
  guint low = 0;
  guint high = self->conversations->len;

  while (low < high)
    {
      guint middle = low + (high - low) / 2;
      LlmConversation *other = g_ptr_array_index (self->conversations, middle);
      gboolean before;

      if (touched)
        before = modified >= llm_conversation_get_modified (other);
      else
        before = conversation_compare (conversation, other) < 0;

      if (before)
        high = middle;
      else
        low = middle + 1;
    }

  return low;
}

static void
conversation_changed_cb (LlmConversation      *conversation,
                         LlmConversationStore *self)
{
  guint old_position, new_position, first, n;

  if (!g_ptr_array_find (self->conversations, conversation, &old_position))
    return;

  /* Take it out (keeping the list's reference) and put it back in place. */
  g_ptr_array_steal_index (self->conversations, old_position);
  new_position = find_insert_position (self, conversation, TRUE);
  g_ptr_array_insert (self->conversations, new_position, conversation);

  if (new_position == old_position)
    return;

  /* One emission for the rows in between, which all moved by one: the
   * model never appears with a row missing. */
  first = MIN (old_position, new_position);
  n = MAX (old_position, new_position) - first + 1;
  g_list_model_items_changed (G_LIST_MODEL (self), first, n, n);
}

static void
insert_conversation (LlmConversationStore *self,
                     LlmConversation      *conversation,
                     gboolean              touched)
{
  guint position = find_insert_position (self, conversation, touched);

  g_ptr_array_insert (self->conversations, position, g_object_ref (conversation));
  g_signal_connect_object (conversation, "changed", G_CALLBACK (conversation_changed_cb), self, 0);
  g_list_model_items_changed (G_LIST_MODEL (self), position, 0, 1);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_ITEMS]);
}

static void
remove_conversation (LlmConversationStore *self,
                     LlmConversation      *conversation)
{
  g_autoptr(LlmConversation) removed = NULL;
  guint position;

  if (!g_ptr_array_find (self->conversations, conversation, &position))
    return;

  removed = g_ptr_array_steal_index (self->conversations, position);
  g_signal_handlers_disconnect_by_data (removed, self);
  g_list_model_items_changed (G_LIST_MODEL (self), position, 1, 0);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_ITEMS]);
}

static char *
dup_path (LlmConversationStore *self,
          const char           *id)
{
  g_autofree char *name = g_strconcat (id, FILE_SUFFIX, NULL);

  return g_build_filename (self->directory, name, NULL);
}

static void
set_error_from_errno (GError     **error,
                      int          saved_errno,
                      const char  *what,
                      const char  *path)
{
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
               "%s “%s”: %s", what, path, g_strerror (saved_errno));
}

static gboolean
ensure_directory (const char  *directory,
                  GError     **error)
{
  if (g_mkdir_with_parents (directory, 0700) != 0)
    {
      set_error_from_errno (error, errno, "Cannot create the folder of conversations", directory);
      return FALSE;
    }

  return TRUE;
}

/* Loading, on a worker thread */

typedef struct
{
  char *file_name;
  char *kept_as;        /* or NULL: left as it was */
  GError *error;
} Damaged;

static void
damaged_free (gpointer data)
{
  Damaged *damaged = data;

  g_free (damaged->file_name);
  g_free (damaged->kept_as);
  g_clear_error (&damaged->error);
  g_free (damaged);
}

typedef struct
{
  GPtrArray *conversations;   /* of LlmConversation, made on the worker thread */
  GPtrArray *damaged;         /* of Damaged, in file name order */
  gboolean cancelled;
} LoadResult;

static void
load_result_free (gpointer data)
{
  LoadResult *result = data;

  g_ptr_array_unref (result->conversations);
  g_ptr_array_unref (result->damaged);
  g_free (result);
}

/* Reads at most MAX_FILE_SIZE bytes of @path. Sets *damaged when the file
 * is there but too large; *not_a_file when it is not a regular file (a
 * folder named X.json, which is not ours). */
static GBytes *
read_bounded (const char  *path,
              gboolean    *damaged,
              gboolean    *not_a_file,
              GError     **error)
{
  g_autoptr(GByteArray) data = NULL;
  struct stat st;
  int fd;

  /* Not blocking: a FIFO named X.json must not hang the load. */
  fd = g_open (path, O_RDONLY | O_CLOEXEC | O_NONBLOCK, 0);
  if (fd < 0)
    {
      set_error_from_errno (error, errno, "Cannot open", path);
      return NULL;
    }

  if (fstat (fd, &st) != 0)
    {
      set_error_from_errno (error, errno, "Cannot read", path);
      close (fd);
      return NULL;
    }

  if (!S_ISREG (st.st_mode))
    {
      *not_a_file = TRUE;
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE, "“%s” is not a file", path);
      close (fd);
      return NULL;
    }

  data = g_byte_array_sized_new (MIN ((gsize) st.st_size, MAX_FILE_SIZE) + 1);
  while (st.st_size >= 0 && (gsize) st.st_size <= MAX_FILE_SIZE)
    {
      guint8 buffer[65536];
      gssize n = read (fd, buffer, sizeof buffer);

      if (n < 0 && errno == EINTR)
        continue;

      if (n < 0)
        {
          set_error_from_errno (error, errno, "Cannot read", path);
          close (fd);
          return NULL;
        }

      if (n == 0)
        break;

      g_byte_array_append (data, buffer, n);
      if (data->len > MAX_FILE_SIZE)
        break;
    }
  close (fd);

  if ((gsize) st.st_size > MAX_FILE_SIZE || data->len > MAX_FILE_SIZE)
    {
      g_autofree char *size = g_format_size_full (MAX ((guint64) st.st_size, data->len),
                                                  G_FORMAT_SIZE_IEC_UNITS);

      *damaged = TRUE;
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                   "“%s” is %s, more than the %u MiB a conversation may take",
                   path, size, (guint) (MAX_FILE_SIZE >> 20));
      return NULL;
    }

  return g_byte_array_free_to_bytes (g_steal_pointer (&data));
}

/* Reads one file. On failure, *damaged says whether the file is there but
 * not a conversation of this format, to be set aside. */
static LlmConversation *
read_conversation (const char  *path,
                   const char  *file_name,
                   gboolean    *damaged,
                   gboolean    *not_a_file,
                   GError     **error)
{
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  g_autoptr(LlmConversation) conversation = NULL;
  g_autofree char *expected_id = NULL;
  JsonNode *root;
  const char *data;
  gsize length;

  *damaged = FALSE;
  *not_a_file = FALSE;

  bytes = read_bounded (path, damaged, not_a_file, error);
  if (bytes == NULL)
    return NULL;

  *damaged = TRUE;
  data = g_bytes_get_data (bytes, &length);
  if (!json_parser_load_from_data (parser, data != NULL ? data : "", length, error))
    {
      g_prefix_error (error, "“%s” is not JSON: ", path);
      return NULL;
    }

  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, LLM_CONVERSATION_ERROR, LLM_CONVERSATION_ERROR_INVALID,
                   "“%s” is not a JSON object", path);
      return NULL;
    }

  conversation = llm_conversation_new_from_json (json_node_get_object (root), error);
  if (conversation == NULL)
    {
      /* A newer app's file is not damaged: leave it for that app. */
      if (g_error_matches (*error, LLM_CONVERSATION_ERROR, LLM_CONVERSATION_ERROR_VERSION))
        *damaged = FALSE;
      g_prefix_error (error, "“%s”: ", path);
      return NULL;
    }

  expected_id = g_strndup (file_name, strlen (file_name) - strlen (FILE_SUFFIX));
  if (!g_str_equal (expected_id, llm_conversation_get_id (conversation)))
    {
      g_set_error (error, LLM_CONVERSATION_ERROR, LLM_CONVERSATION_ERROR_INVALID,
                   "“%s”: “id” is “%s”, not the file’s name “%s”",
                   path, llm_conversation_get_id (conversation), expected_id);
      return NULL;
    }

  *damaged = FALSE;
  return g_steal_pointer (&conversation);
}

/* Renames @path to PATH.damaged, or PATH.damaged.N, never over an
 * existing file: link() fails rather than replace one. */
static char *
keep_damaged (const char  *path,
              GError     **error)
{
  for (guint i = 0; i < 1000; i++)
    {
      g_autofree char *kept_as = i == 0 ? g_strconcat (path, DAMAGED_SUFFIX, NULL)
                                        : g_strdup_printf ("%s" DAMAGED_SUFFIX ".%u", path, i);
      int saved_errno;

      if (link (path, kept_as) == 0)
        {
          if (g_unlink (path) == 0)
            return g_steal_pointer (&kept_as);

          /* Undo: the file stays under its own name only. */
          saved_errno = errno;
          g_unlink (kept_as);
          set_error_from_errno (error, saved_errno, "Cannot rename", path);
          return NULL;
        }

      saved_errno = errno;
      if (saved_errno == EEXIST)
        continue;

      /* A file system without hard links: rename(), having looked first. */
      if (saved_errno == EPERM || saved_errno == ENOTSUP || saved_errno == ENOSYS ||
          saved_errno == EMLINK)
        {
          GStatBuf st;

          if (g_lstat (kept_as, &st) == 0)
            continue;
          if (g_rename (path, kept_as) == 0)
            return g_steal_pointer (&kept_as);
          saved_errno = errno;
        }

      set_error_from_errno (error, saved_errno, "Cannot rename", path);
      return NULL;
    }

  g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS,
               "Cannot rename “%s”: too many damaged copies of it already", path);
  return NULL;
}

static int
compare_strings (gconstpointer a,
                 gconstpointer b)
{
  return strcmp (*(const char * const *) a, *(const char * const *) b);
}

static void
load_worker (GTask        *task,
             gpointer      source_object,
             gpointer      task_data,
             GCancellable *cancellable)
{
  const char *directory = task_data;
  g_autoptr(GDir) dir = NULL;
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  LoadResult *result;
  const char *name;
  GError *error = NULL;

  if (!ensure_directory (directory, &error) ||
      (dir = g_dir_open (directory, 0, &error)) == NULL)
    {
      g_task_return_error (task, error);
      return;
    }

  while ((name = g_dir_read_name (dir)) != NULL)
    if (g_str_has_suffix (name, FILE_SUFFIX) && strlen (name) > strlen (FILE_SUFFIX))
      g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, compare_strings);

  result = g_new0 (LoadResult, 1);
  result->conversations = g_ptr_array_new_with_free_func (g_object_unref);
  result->damaged = g_ptr_array_new_with_free_func (damaged_free);

  for (guint i = 0; i < names->len; i++)
    {
      const char *file_name = g_ptr_array_index (names, i);
      g_autofree char *path = g_build_filename (directory, file_name, NULL);
      LlmConversation *conversation;
      Damaged *damaged;
      gboolean is_damaged, not_a_file;

      if (g_cancellable_is_cancelled (cancellable))
        {
          result->cancelled = TRUE;
          break;
        }

      conversation = read_conversation (path, file_name, &is_damaged, &not_a_file, &error);
      if (conversation != NULL)
        {
          g_ptr_array_add (result->conversations, conversation);
          continue;
        }

      if (not_a_file)
        {
          g_debug ("%s", error->message);
          g_clear_error (&error);
          continue;
        }

      damaged = g_new0 (Damaged, 1);
      damaged->file_name = g_steal_pointer (&path);
      damaged->error = g_steal_pointer (&error);
      if (is_damaged)
        {
          g_autoptr(GError) rename_error = NULL;

          damaged->kept_as = keep_damaged (damaged->file_name, &rename_error);
          if (damaged->kept_as == NULL)
            {
              char *message = g_strdup_printf ("%s (it stays as it is: %s)",
                                               damaged->error->message, rename_error->message);

              g_free (damaged->error->message);
              damaged->error->message = message;
            }
        }
      g_ptr_array_add (result->damaged, damaged);
    }

  g_task_return_pointer (task, result, load_result_free);
}

static void
load_cb (GObject      *object,
         GAsyncResult *res,
         gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  LlmConversationStore *self = g_task_get_source_object (task);
  LoadResult *result;
  GError *error = NULL;

  result = g_task_propagate_pointer (G_TASK (res), &error);
  if (result == NULL)
    {
      g_task_return_error (task, error);
      return;
    }

  /* The damaged files are set aside already: say so, cancelled or not. */
  for (guint i = 0; i < result->damaged->len; i++)
    {
      Damaged *damaged = g_ptr_array_index (result->damaged, i);

      g_debug ("%s", damaged->error->message);
      g_signal_emit (self, signals[FILE_DAMAGED], 0,
                     damaged->file_name, damaged->kept_as, damaged->error);
    }

  if (result->cancelled || g_cancellable_is_cancelled (g_task_get_cancellable (task)))
    {
      load_result_free (result);
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                               "The loading of the conversations in “%s” was cancelled",
                               self->directory);
      return;
    }

  /* A conversation listed already (added, or loaded before) is the one in
   * use, maybe newer than its file: it stays. */
  for (guint i = 0; i < result->conversations->len; i++)
    {
      LlmConversation *conversation = g_ptr_array_index (result->conversations, i);

      if (llm_conversation_store_lookup (self, llm_conversation_get_id (conversation)) == NULL)
        insert_conversation (self, conversation, FALSE);
    }

  load_result_free (result);
  g_task_return_boolean (task, TRUE);
}

/* Saving and deleting, on a worker thread */

typedef struct
{
  Io *io;
  char *directory;
  char *id;
  char *path;
  GBytes *contents;     /* what to save, or NULL to delete */
  guint sequence;
} Write;

static void
write_free (gpointer data)
{
  Write *write = data;

  io_unref (write->io);
  g_free (write->directory);
  g_free (write->id);
  g_free (write->path);
  g_clear_pointer (&write->contents, g_bytes_unref);
  g_free (write);
}

static void
save_worker (GTask        *task,
             gpointer      source_object,
             gpointer      task_data,
             GCancellable *cancellable)
{
  Write *write = task_data;
  const char *data;
  gsize length;
  GError *error = NULL;

  if (g_task_return_error_if_cancelled (task))
    return;

  g_mutex_lock (&write->io->mutex);

  if (io_is_superseded (write->io, write->id, write->sequence))
    {
      g_mutex_unlock (&write->io->mutex);
      g_task_return_boolean (task, TRUE);
      return;
    }

  data = g_bytes_get_data (write->contents, &length);
  if (!ensure_directory (write->directory, &error) ||
      !g_file_set_contents_full (write->path, data, length,
                                 G_FILE_SET_CONTENTS_CONSISTENT, 0600, &error))
    {
      g_mutex_unlock (&write->io->mutex);
      g_prefix_error (&error, "Cannot save the conversation %s: ", write->id);
      g_task_return_error (task, error);
      return;
    }

  io_set_done (write->io, write->id, write->sequence);
  g_mutex_unlock (&write->io->mutex);
  g_task_return_boolean (task, TRUE);
}

static void
delete_worker (GTask        *task,
               gpointer      source_object,
               gpointer      task_data,
               GCancellable *cancellable)
{
  Write *write = task_data;

  if (g_task_return_error_if_cancelled (task))
    return;

  g_mutex_lock (&write->io->mutex);

  if (io_is_superseded (write->io, write->id, write->sequence))
    {
      g_mutex_unlock (&write->io->mutex);
      g_task_return_boolean (task, TRUE);
      return;
    }

  /* Never saved is deleted already. */
  if (g_unlink (write->path) != 0 && errno != ENOENT)
    {
      int saved_errno = errno;

      g_mutex_unlock (&write->io->mutex);
      g_task_return_new_error (task, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                               "Cannot delete the conversation “%s”: %s",
                               write->path, g_strerror (saved_errno));
      return;
    }

  io_set_done (write->io, write->id, write->sequence);
  g_mutex_unlock (&write->io->mutex);
  g_task_return_boolean (task, TRUE);
}

static Write *
write_new (LlmConversationStore *self,
           LlmConversation      *conversation,
           GBytes               *contents)
{
  Write *write = g_new0 (Write, 1);

  write->io = g_atomic_rc_box_acquire (self->io);
  write->directory = g_strdup (self->directory);
  write->id = g_strdup (llm_conversation_get_id (conversation));
  write->path = dup_path (self, write->id);
  write->contents = contents != NULL ? g_bytes_ref (contents) : NULL;
  write->sequence = ++self->next_sequence;

  return write;
}

static void
write_cb (GObject      *object,
          GAsyncResult *res,
          gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  GError *error = NULL;

  if (!g_task_propagate_boolean (G_TASK (res), &error))
    {
      g_task_return_error (task, error);
      return;
    }

  /* A deletion done: the conversation leaves the list. */
  if (g_task_get_source_tag (task) == llm_conversation_store_delete_async)
    remove_conversation (g_task_get_source_object (task), g_task_get_task_data (task));

  g_task_return_boolean (task, TRUE);
}

/* The worker's task has no source object: the thread pool drops its last
 * reference on the worker thread, and only the main thread may finalize
 * the store. Cancelling stops a write not begun; one done is reported
 * done, cancelled or not, so that the list matches the files. */
static void
run_write (LlmConversationStore *self,
           GTask                *task,
           Write                *write,
           GTaskThreadFunc       worker)
{
  g_autoptr(GTask) worker_task = NULL;

  g_task_set_check_cancellable (task, FALSE);
  worker_task = g_task_new (NULL, g_task_get_cancellable (task), write_cb, g_object_ref (task));
  g_task_set_source_tag (worker_task, worker);
  g_task_set_check_cancellable (worker_task, FALSE);
  g_task_set_task_data (worker_task, write, write_free);
  g_task_run_in_thread (worker_task, worker);
}

/* GListModel */

static GType
llm_conversation_store_get_item_type (GListModel *model)
{
  return LLM_TYPE_CONVERSATION;
}

static guint
llm_conversation_store_get_n_items (GListModel *model)
{
  return LLM_CONVERSATION_STORE (model)->conversations->len;
}

static gpointer
llm_conversation_store_get_item (GListModel *model,
                                 guint       position)
{
  LlmConversationStore *self = LLM_CONVERSATION_STORE (model);

  if (position >= self->conversations->len)
    return NULL;

  return g_object_ref (g_ptr_array_index (self->conversations, position));
}

static void
llm_conversation_store_model_init (GListModelInterface *iface)
{
  iface->get_item_type = llm_conversation_store_get_item_type;
  iface->get_n_items = llm_conversation_store_get_n_items;
  iface->get_item = llm_conversation_store_get_item;
}

/* GObject */

static void
unwatch_conversation (gpointer data,
                      gpointer user_data)
{
  g_signal_handlers_disconnect_by_data (data, user_data);
}

static void
llm_conversation_store_dispose (GObject *object)
{
  LlmConversationStore *self = LLM_CONVERSATION_STORE (object);

  /* The conversations may outlive the store (a chat view holds one). */
  g_ptr_array_foreach (self->conversations, unwatch_conversation, self);

  G_OBJECT_CLASS (llm_conversation_store_parent_class)->dispose (object);
}

static void
llm_conversation_store_finalize (GObject *object)
{
  LlmConversationStore *self = LLM_CONVERSATION_STORE (object);

  g_clear_pointer (&self->directory, g_free);
  g_clear_pointer (&self->conversations, g_ptr_array_unref);
  g_clear_pointer (&self->io, io_unref);

  G_OBJECT_CLASS (llm_conversation_store_parent_class)->finalize (object);
}

static void
llm_conversation_store_constructed (GObject *object)
{
  LlmConversationStore *self = LLM_CONVERSATION_STORE (object);

  G_OBJECT_CLASS (llm_conversation_store_parent_class)->constructed (object);

  if (self->directory == NULL || *self->directory == '\0')
    g_critical ("LlmConversationStore: a store needs a directory");
}

static void
llm_conversation_store_get_property (GObject    *object,
                                     guint       prop_id,
                                     GValue     *value,
                                     GParamSpec *pspec)
{
  LlmConversationStore *self = LLM_CONVERSATION_STORE (object);

  switch (prop_id)
    {
    case PROP_DIRECTORY:
      g_value_set_string (value, self->directory);
      break;

    case PROP_N_ITEMS:
      g_value_set_uint (value, self->conversations->len);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
llm_conversation_store_set_property (GObject      *object,
                                     guint         prop_id,
                                     const GValue *value,
                                     GParamSpec   *pspec)
{
  LlmConversationStore *self = LLM_CONVERSATION_STORE (object);

  switch (prop_id)
    {
    case PROP_DIRECTORY:
      self->directory = g_value_dup_string (value);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
llm_conversation_store_class_init (LlmConversationStoreClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = llm_conversation_store_constructed;
  object_class->dispose = llm_conversation_store_dispose;
  object_class->finalize = llm_conversation_store_finalize;
  object_class->get_property = llm_conversation_store_get_property;
  object_class->set_property = llm_conversation_store_set_property;

  /**
   * LlmConversationStore:directory:
   *
   * The folder of the files, made (mode 0700) when first loaded or saved.
   */
  properties[PROP_DIRECTORY] =
    g_param_spec_string ("directory", NULL, NULL,
                         NULL,
                         (G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
                          G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmConversationStore:n-items:
   *
   * How many conversations are listed.
   */
  properties[PROP_N_ITEMS] =
    g_param_spec_uint ("n-items", NULL, NULL,
                       0, G_MAXUINT, 0,
                       (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * LlmConversationStore::file-damaged:
   * @self: the store
   * @file_name: the path of a file that did not load
   * @kept_as: (nullable): the path it was renamed to, or %NULL if it was
   *   left as it is (another format version, a file that could not be
   *   read or renamed)
   * @error: why it did not load; the message names the file and, when it
   *   is one, the member at fault
   *
   * Emitted while loading, on the thread that called
   * llm_conversation_store_load_async(), for each `.json` file that is
   * not a conversation this version can read, so that the app may tell
   * the person (the file is kept: they may want it back).
   */
  signals[FILE_DAMAGED] =
    g_signal_new ("file-damaged",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0,
                  NULL, NULL,
                  NULL,
                  G_TYPE_NONE, 3,
                  G_TYPE_STRING | G_SIGNAL_TYPE_STATIC_SCOPE,
                  G_TYPE_STRING | G_SIGNAL_TYPE_STATIC_SCOPE,
                  G_TYPE_ERROR | G_SIGNAL_TYPE_STATIC_SCOPE);
}

static void
llm_conversation_store_init (LlmConversationStore *self)
{
  self->conversations = g_ptr_array_new_with_free_func (g_object_unref);
  self->io = io_new ();
}

/**
 * llm_conversation_store_new:
 * @directory: the folder of the conversation files (made if missing)
 *
 * Returns: (transfer full): a new store, empty until loaded
 */
LlmConversationStore *
llm_conversation_store_new (const char *directory)
{
  g_return_val_if_fail (directory != NULL && *directory != '\0', NULL);

  return g_object_new (LLM_TYPE_CONVERSATION_STORE, "directory", directory, NULL);
}

/**
 * llm_conversation_store_get_directory:
 * @self: a #LlmConversationStore
 *
 * Returns: (transfer none): the folder of the conversation files
 */
const char *
llm_conversation_store_get_directory (LlmConversationStore *self)
{
  g_return_val_if_fail (LLM_IS_CONVERSATION_STORE (self), NULL);

  return self->directory;
}

/**
 * llm_conversation_store_load_async:
 * @self: a #LlmConversationStore
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the files are read
 * @user_data: data for @callback
 *
 * Reads every `ID.json` file of the directory (making the directory,
 * mode 0700, if missing) on a worker thread, then lists the
 * conversations that are not listed already. Files whose names do not
 * end in `.json` are not read. Files that are not conversations are
 * set aside and reported by #LlmConversationStore::file-damaged, before
 * @callback; they do not fail the load.
 */
void
llm_conversation_store_load_async (LlmConversationStore *self,
                                   GCancellable         *cancellable,
                                   GAsyncReadyCallback   callback,
                                   gpointer              user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GTask) worker_task = NULL;

  g_return_if_fail (LLM_IS_CONVERSATION_STORE (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, llm_conversation_store_load_async);

  /* The result says which files were set aside even when cancelled. */
  worker_task = g_task_new (NULL, cancellable, load_cb, g_steal_pointer (&task));
  g_task_set_source_tag (worker_task, load_worker);
  g_task_set_check_cancellable (worker_task, FALSE);
  g_task_set_task_data (worker_task, g_strdup (self->directory), g_free);
  g_task_run_in_thread (worker_task, load_worker);
}

/**
 * llm_conversation_store_load_finish:
 * @self: a #LlmConversationStore
 * @result: the #GAsyncResult given to the callback
 * @error: return location for a #GError
 *
 * Returns: %TRUE if the directory was read (damaged files do not count
 *   as failures); %FALSE with @error set if it could not be made or read
 */
gboolean
llm_conversation_store_load_finish (LlmConversationStore  *self,
                                    GAsyncResult          *result,
                                    GError               **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        llm_conversation_store_load_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * llm_conversation_store_add:
 * @self: a #LlmConversationStore
 * @conversation: a conversation whose id is not listed
 *
 * Lists @conversation (a new one), in its place; it is not saved until
 * llm_conversation_store_save_async(). Adding a listed conversation again
 * does nothing.
 */
void
llm_conversation_store_add (LlmConversationStore *self,
                            LlmConversation      *conversation)
{
  LlmConversation *listed;

  g_return_if_fail (LLM_IS_CONVERSATION_STORE (self));
  g_return_if_fail (LLM_IS_CONVERSATION (conversation));

  listed = llm_conversation_store_lookup (self, llm_conversation_get_id (conversation));
  if (listed == conversation)
    return;

  g_return_if_fail (listed == NULL);

  insert_conversation (self, conversation, TRUE);
}

/**
 * llm_conversation_store_lookup:
 * @self: a #LlmConversationStore
 * @id: a conversation id
 *
 * Returns: (transfer none) (nullable): the listed conversation with @id
 */
LlmConversation *
llm_conversation_store_lookup (LlmConversationStore *self,
                               const char           *id)
{
  g_return_val_if_fail (LLM_IS_CONVERSATION_STORE (self), NULL);
  g_return_val_if_fail (id != NULL, NULL);

  for (guint i = 0; i < self->conversations->len; i++)
    {
      LlmConversation *conversation = g_ptr_array_index (self->conversations, i);

      if (g_str_equal (llm_conversation_get_id (conversation), id))
        return conversation;
    }

  return NULL;
}

/**
 * llm_conversation_store_save_async:
 * @self: a #LlmConversationStore
 * @conversation: a conversation (listed, or then listed)
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the file is written
 * @user_data: data for @callback
 *
 * Saves @conversation as it is now (it may change while the file is
 * written) to `ID.json`: a temporary file renamed over the old one, so
 * that a failure leaves the old file whole. Lists @conversation if it is
 * not.
 */
void
llm_conversation_store_save_async (LlmConversationStore *self,
                                   LlmConversation      *conversation,
                                   GCancellable         *cancellable,
                                   GAsyncReadyCallback   callback,
                                   gpointer              user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(JsonGenerator) generator = NULL;
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GBytes) contents = NULL;
  char *data;
  gsize length;

  g_return_if_fail (LLM_IS_CONVERSATION_STORE (self));
  g_return_if_fail (LLM_IS_CONVERSATION (conversation));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, llm_conversation_store_save_async);
  g_task_set_task_data (task, g_object_ref (conversation), g_object_unref);

  llm_conversation_store_add (self, conversation);

  /* Written here, on the thread that owns the conversation. */
  root = json_node_new (JSON_NODE_OBJECT);
  json_node_take_object (root, llm_conversation_to_json (conversation));
  generator = json_generator_new ();
  json_generator_set_pretty (generator, TRUE);
  json_generator_set_root (generator, root);
  data = json_generator_to_data (generator, &length);
  contents = g_bytes_new_take (data, length);

  run_write (self, task, write_new (self, conversation, contents), save_worker);
}

/**
 * llm_conversation_store_save_finish:
 * @self: a #LlmConversationStore
 * @result: the #GAsyncResult given to the callback
 * @error: return location for a #GError
 *
 * Returns: %TRUE if the file was written (or a later save of the same
 *   conversation was done first); %FALSE with @error set, the previous
 *   file untouched, if not
 */
gboolean
llm_conversation_store_save_finish (LlmConversationStore  *self,
                                    GAsyncResult          *result,
                                    GError               **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        llm_conversation_store_save_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * llm_conversation_store_delete_async:
 * @self: a #LlmConversationStore
 * @conversation: a conversation
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the file is gone
 * @user_data: data for @callback
 *
 * Removes the file of @conversation (if it was ever saved), then removes
 * @conversation from the list. If the file cannot be removed, the
 * conversation stays listed.
 */
void
llm_conversation_store_delete_async (LlmConversationStore *self,
                                     LlmConversation      *conversation,
                                     GCancellable         *cancellable,
                                     GAsyncReadyCallback   callback,
                                     gpointer              user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (LLM_IS_CONVERSATION_STORE (self));
  g_return_if_fail (LLM_IS_CONVERSATION (conversation));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, llm_conversation_store_delete_async);
  g_task_set_task_data (task, g_object_ref (conversation), g_object_unref);

  run_write (self, task, write_new (self, conversation, NULL), delete_worker);
}

/**
 * llm_conversation_store_delete_finish:
 * @self: a #LlmConversationStore
 * @result: the #GAsyncResult given to the callback
 * @error: return location for a #GError
 *
 * Returns: %TRUE if the file is gone and the conversation unlisted;
 *   %FALSE with @error set if not
 */
gboolean
llm_conversation_store_delete_finish (LlmConversationStore  *self,
                                      GAsyncResult          *result,
                                      GError               **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        llm_conversation_store_delete_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-chat-view"

#include "config.h"

#include "llm-chat-view.h"

#include <glib/gi18n.h>

#include "llm-message-row.h"
#include "llm-paths.h"

/* The chat: conversations in a sidebar, the current one as a list of
 * messages, a composer, and the model that answers on this computer.
 *
 * The view only observes and calls: LlmChatSession computes (on its own
 * threads) and streams into the conversation's last message, whose row
 * follows it; LlmConversationStore reads and writes the files. */
struct _LlmChatView
{
  AdwBin parent_instance;

  GSettings *settings;
  LlmChatSession *session;
  LlmConversationStore *store;
  LlmConversation *conversation;
  GtkNoSelection *messages_model;
  GtkSingleSelection *conversations_model;
  GCancellable *cancellable;
  GCancellable *load_cancellable;
  GCancellable *respond_cancellable;
  GHashTable *bound_rows;       /* LlmMessageRow set: the rows showing a message */
  char *loading_name;
  char *model_error;
  gboolean stick_to_bottom;
  gboolean focus_when_loaded;

  GtkListView *conversation_list;
  GtkLabel *model_label;
  GtkRevealer *damaged_revealer;
  GtkLabel *damaged_label;
  GtkStack *content_stack;
  AdwStatusPage *status_page;
  GtkButton *status_open_button;
  GtkScrolledWindow *message_scroller;
  GtkListView *message_list;
  GtkTextView *prompt_view;
  GtkStack *send_stack;
  GtkPopover *settings_popover;
  GtkSpinButton *temperature_spin;
  GtkSpinButton *top_p_spin;
  GtkSpinButton *max_tokens_spin;
  GtkTextView *system_prompt_view;
  GtkLabel *system_prompt_note;
};

G_DEFINE_FINAL_TYPE (LlmChatView, llm_chat_view, ADW_TYPE_BIN)

static void respond (LlmChatView *self);

/* What the person sees of the model and the conversation */

static char *
dup_params_label (guint64 n_params)
{
  /* As model names write it: 0.6B, 260K. */
  if (n_params >= 1000000000)
    return g_strdup_printf ("%.1fB", n_params / 1e9);
  if (n_params >= 1000000)
    return g_strdup_printf ("%.1fM", n_params / 1e6);
  return g_strdup_printf ("%.0fK", n_params / 1e3);
}

static LlmChatMessage *
last_message_of_role (LlmConversation *conversation,
                      LlmChatRole      role,
                      guint           *position)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (conversation));

  for (guint i = n; i > 0; i--)
    {
      g_autoptr(LlmChatMessage) message = g_list_model_get_item (G_LIST_MODEL (conversation), i - 1);

      if (llm_chat_message_get_role (message) == role)
        {
          if (position != NULL)
            *position = i - 1;
          return message;       /* the conversation holds it */
        }
    }
  return NULL;
}

static gboolean
is_busy (LlmChatView *self)
{
  return self->session != NULL && llm_chat_session_get_busy (self->session);
}

static void
update_row (LlmChatView   *self,
            LlmMessageRow *row)
{
  LlmChatMessage *message = llm_message_row_get_message (row);
  gboolean idle = !is_busy (self) && self->conversation != NULL;

  llm_message_row_set_model_name (row, self->session ? llm_chat_session_get_name (self->session)
                                                     : NULL);
  llm_message_row_set_can_regenerate (row, idle && self->session != NULL &&
                                      message == llm_conversation_get_last (self->conversation) &&
                                      llm_chat_message_get_role (message) == LLM_CHAT_ROLE_ASSISTANT);
  llm_message_row_set_can_edit (row, idle &&
                                message == last_message_of_role (self->conversation,
                                                                 LLM_CHAT_ROLE_USER, NULL));
}

static void
update_actions (LlmChatView *self)
{
  gboolean busy = is_busy (self);
  gboolean has_messages = self->conversation != NULL &&
                          g_list_model_get_n_items (G_LIST_MODEL (self->conversation)) > 0;
  LlmChatMessage *last = has_messages ? llm_conversation_get_last (self->conversation) : NULL;
  GHashTableIter iter;
  gpointer row;

  gtk_widget_action_set_enabled (GTK_WIDGET (self), "chat.send", self->session != NULL && !busy);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "chat.stop", busy);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "chat.delete-conversation",
                                 self->conversation != NULL && !busy);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "chat.regenerate",
                                 self->session != NULL && !busy && last != NULL &&
                                 llm_chat_message_get_role (last) == LLM_CHAT_ROLE_ASSISTANT);
  gtk_widget_action_set_enabled (GTK_WIDGET (self), "chat.edit-last-prompt",
                                 !busy && has_messages &&
                                 last_message_of_role (self->conversation, LLM_CHAT_ROLE_USER, NULL));
  gtk_stack_set_visible_child_name (self->send_stack, busy ? "stop" : "send");

  g_hash_table_iter_init (&iter, self->bound_rows);
  while (g_hash_table_iter_next (&iter, &row, NULL))
    update_row (self, row);
}

static void
update_content (LlmChatView *self)
{
  gboolean has_messages = self->conversation != NULL &&
                          g_list_model_get_n_items (G_LIST_MODEL (self->conversation)) > 0;
  g_autofree char *title = NULL;
  g_autofree char *model = NULL;
  const char *description = NULL;

  if (self->loading_name != NULL)
    {
      title = g_strdup_printf (_("Opening %s…"), self->loading_name);
      model = g_strdup (title);
    }
  else if (self->model_error != NULL)
    {
      title = g_strdup (_("Cannot Open This Model"));
      description = self->model_error;
      model = g_strdup (_("No model"));
    }
  else if (self->session != NULL)
    {
      g_autofree char *params = dup_params_label (llm_chat_session_get_n_params (self->session));

      title = g_strdup_printf (_("Chat with %s"), llm_chat_session_get_name (self->session));
      description = _("Answers are computed on this computer.");
      /* Translators: name · architecture · parameters · weights type · context */
      model = g_strdup_printf (_("%s · %s · %s parameters · %s · %u tokens of context"),
                               llm_chat_session_get_name (self->session),
                               llm_chat_session_get_architecture (self->session), params,
                               llm_chat_session_get_dtype (self->session),
                               llm_chat_session_get_context_length (self->session));
    }
  else
    {
      title = g_strdup (_("No Model Loaded"));
      description = _("Open a Hugging Face model folder to chat with it on this computer.");
      model = g_strdup (_("No model"));
    }

  adw_status_page_set_title (self->status_page, title);
  adw_status_page_set_description (self->status_page, description);
  gtk_widget_set_visible (GTK_WIDGET (self->status_open_button),
                          self->session == NULL && self->loading_name == NULL);
  gtk_label_set_label (self->model_label, model);
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->model_label), model);
  gtk_stack_set_visible_child_name (self->content_stack, has_messages ? "messages" : "status");
  gtk_widget_set_visible (GTK_WIDGET (self->system_prompt_note),
                          self->session != NULL &&
                          !llm_chat_session_get_has_chat_template (self->session));
}

static void
show_problem (LlmChatView *self,
              const char  *text)
{
  gtk_label_set_label (self->damaged_label, text);
  gtk_revealer_set_reveal_child (self->damaged_revealer, TRUE);
}

/* Saving */

static void
saved_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(LlmChatView) self = user_data;
  g_autoptr(GError) error = NULL;
  GApplication *application = g_application_get_default ();

  if (!llm_conversation_store_save_finish (LLM_CONVERSATION_STORE (source), result, &error) &&
      !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_autofree char *text = g_strdup_printf (_("The conversation could not be saved: %s"),
                                               error->message);

      g_message ("%s", text);
      show_problem (self, text);
    }
  if (application != NULL)
    g_application_release (application);
}

/* The application stays until every save is written, even when the last
 * window closes at once. */
static void
save (LlmChatView     *self,
      LlmConversation *conversation)
{
  GApplication *application = g_application_get_default ();

  if (application != NULL)
    g_application_hold (application);
  llm_conversation_store_save_async (self->store, conversation, NULL, saved_cb,
                                     g_object_ref (self));
}

/* The conversation shown */

static void
scroll_to_bottom (LlmChatView *self)
{
  GtkAdjustment *adjustment = gtk_scrolled_window_get_vadjustment (self->message_scroller);

  gtk_adjustment_set_value (adjustment, gtk_adjustment_get_upper (adjustment) -
                                        gtk_adjustment_get_page_size (adjustment));
}

static void
adjustment_changed_cb (LlmChatView   *self,
                       GtkAdjustment *adjustment)
{
  if (self->stick_to_bottom)
    scroll_to_bottom (self);
}

static void
adjustment_value_changed_cb (LlmChatView   *self,
                             GtkAdjustment *adjustment)
{
  /* Following the answer as it grows, unless the person scrolled up. */
  self->stick_to_bottom = gtk_adjustment_get_value (adjustment) +
                          gtk_adjustment_get_page_size (adjustment) >=
                          gtk_adjustment_get_upper (adjustment) - 24;
}

static void
conversation_items_changed_cb (LlmChatView *self)
{
  update_content (self);
  update_actions (self);
}

/* The sidebar shows which conversation is open. (GtkSingleSelection keeps
 * it selected when the store re-sorts.) */
static void
select_current_conversation (LlmChatView *self)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->store));

  for (guint i = 0; self->conversation != NULL && i < n; i++)
    {
      g_autoptr(LlmConversation) item = g_list_model_get_item (G_LIST_MODEL (self->store), i);

      if (item == self->conversation)
        {
          gtk_single_selection_set_selected (self->conversations_model, i);
          return;
        }
    }
}

/**
 * llm_chat_view_set_conversation:
 * @self: a #LlmChatView
 * @conversation: (nullable): the conversation to show
 */
void
llm_chat_view_set_conversation (LlmChatView     *self,
                                LlmConversation *conversation)
{
  g_return_if_fail (LLM_IS_CHAT_VIEW (self));

  if (self->conversation == conversation)
    return;

  if (self->conversation != NULL)
    g_signal_handlers_disconnect_by_data (self->conversation, self);
  g_set_object (&self->conversation, conversation);
  if (conversation != NULL)
    g_signal_connect_object (conversation, "items-changed",
                             G_CALLBACK (conversation_items_changed_cb), self, G_CONNECT_SWAPPED);

  gtk_no_selection_set_model (self->messages_model, G_LIST_MODEL (conversation));
  self->stick_to_bottom = TRUE;
  select_current_conversation (self);

  update_content (self);
  update_actions (self);
}

LlmConversation *
llm_chat_view_get_conversation (LlmChatView *self)
{
  g_return_val_if_fail (LLM_IS_CHAT_VIEW (self), NULL);
  return self->conversation;
}

LlmConversationStore *
llm_chat_view_get_store (LlmChatView *self)
{
  g_return_val_if_fail (LLM_IS_CHAT_VIEW (self), NULL);
  return self->store;
}

static LlmConversation *
ensure_conversation (LlmChatView *self)
{
  g_autoptr(LlmConversation) conversation = NULL;

  if (self->conversation != NULL)
    return self->conversation;

  conversation = llm_conversation_new ();
  llm_conversation_store_add (self->store, conversation);
  llm_chat_view_set_conversation (self, conversation);
  return self->conversation;
}

static void
conversation_selected_cb (LlmChatView        *self,
                          GParamSpec         *pspec,
                          GtkSingleSelection *selection)
{
  LlmConversation *conversation = gtk_single_selection_get_selected_item (selection);

  if (conversation != NULL)
    llm_chat_view_set_conversation (self, conversation);
}

static void
conversation_activated_cb (LlmChatView *self,
                           guint        position,
                           GtkListView *list)
{
  adw_leaflet_navigate (ADW_LEAFLET (adw_bin_get_child (ADW_BIN (self))), ADW_NAVIGATION_DIRECTION_FORWARD);
}

static void
store_loaded_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  LlmChatView *self = user_data;
  g_autoptr(GError) error = NULL;

  if (!llm_conversation_store_load_finish (LLM_CONVERSATION_STORE (source), result, &error))
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_autofree char *text = g_strdup_printf (_("Saved conversations could not be read: %s"),
                                                   error->message);

          show_problem (self, text);
        }
      return;
    }

  /* The most recent one, as it was left. */
  if (self->conversation == NULL && g_list_model_get_n_items (G_LIST_MODEL (self->store)) > 0)
    {
      g_autoptr(LlmConversation) latest = g_list_model_get_item (G_LIST_MODEL (self->store), 0);

      llm_chat_view_set_conversation (self, latest);
    }
}

static void
file_damaged_cb (LlmChatView  *self,
                 const char   *file_name,
                 const char   *kept_as,
                 const GError *error)
{
  g_autofree char *text = g_strdup_printf (_("A saved conversation could not be read (%s); "
                                             "it is kept as %s."), error->message, kept_as);

  show_problem (self, text);
}

/* The model */

static void
session_busy_cb (LlmChatView *self)
{
  update_actions (self);
}

static void
session_loaded_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(LlmChatView) self = user_data;
  g_autoptr(LlmChatSession) session = NULL;
  g_autoptr(GError) error = NULL;

  session = llm_chat_session_load_finish (result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;

  g_clear_pointer (&self->loading_name, g_free);
  g_clear_object (&self->load_cancellable);
  if (session == NULL)
    {
      g_free (self->model_error);
      self->model_error = g_strdup (error->message);
      g_message ("Cannot open the model: %s", error->message);
    }
  else
    {
      g_clear_pointer (&self->model_error, g_free);
      if (self->session != NULL)
        g_signal_handlers_disconnect_by_data (self->session, self);
      g_set_object (&self->session, session);
      g_signal_connect_object (session, "notify::busy", G_CALLBACK (session_busy_cb), self,
                               G_CONNECT_SWAPPED);
      g_settings_set_string (self->settings, "model-dir", llm_chat_session_get_model_dir (session));
    }

  update_content (self);
  update_actions (self);
  if (self->focus_when_loaded)
    llm_chat_view_focus_prompt (self);
  self->focus_when_loaded = FALSE;
}

/**
 * llm_chat_view_open_model:
 * @self: a #LlmChatView
 * @model_dir: a Hugging Face model folder
 *
 * Loads the model to chat with (on worker threads); the folder is
 * remembered once it loads, and a folder that is not a model says why.
 */
void
llm_chat_view_open_model (LlmChatView *self,
                          const char  *model_dir)
{
  g_return_if_fail (LLM_IS_CHAT_VIEW (self));
  g_return_if_fail (model_dir != NULL);

  if (self->load_cancellable != NULL)
    g_cancellable_cancel (self->load_cancellable);
  g_clear_object (&self->load_cancellable);
  self->load_cancellable = g_cancellable_new ();

  g_free (self->loading_name);
  self->loading_name = g_path_get_basename (model_dir);
  g_clear_pointer (&self->model_error, g_free);
  update_content (self);

  llm_chat_session_load_async (model_dir, self->load_cancellable, session_loaded_cb,
                               g_object_ref (self));
}

LlmChatSession *
llm_chat_view_get_session (LlmChatView *self)
{
  g_return_val_if_fail (LLM_IS_CHAT_VIEW (self), NULL);
  return self->session;
}

/**
 * llm_chat_view_get_model_error:
 * @self: a #LlmChatView
 *
 * Returns: (nullable): why the last model folder could not be opened
 */
const char *
llm_chat_view_get_model_error (LlmChatView *self)
{
  g_return_val_if_fail (LLM_IS_CHAT_VIEW (self), NULL);
  return self->model_error;
}

gboolean
llm_chat_view_get_loading (LlmChatView *self)
{
  g_return_val_if_fail (LLM_IS_CHAT_VIEW (self), FALSE);
  return self->loading_name != NULL;
}

/**
 * llm_chat_view_focus_prompt:
 * @self: a #LlmChatView
 *
 * Puts the keyboard in the message field, now, or once the model that is
 * loading has loaded.
 */
void
llm_chat_view_focus_prompt (LlmChatView *self)
{
  g_return_if_fail (LLM_IS_CHAT_VIEW (self));

  if (self->loading_name != NULL)
    self->focus_when_loaded = TRUE;
  adw_leaflet_navigate (ADW_LEAFLET (adw_bin_get_child (ADW_BIN (self))), ADW_NAVIGATION_DIRECTION_FORWARD);
  gtk_widget_grab_focus (GTK_WIDGET (self->prompt_view));
}

static void
model_chosen_cb (GtkNativeDialog *dialog,
                 int              response,
                 LlmChatView     *self)
{
  g_autoptr(GFile) folder = NULL;

  if (response == GTK_RESPONSE_ACCEPT)
    folder = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
  if (folder != NULL && g_file_peek_path (folder) != NULL)
    {
      self->focus_when_loaded = TRUE;
      llm_chat_view_open_model (self, g_file_peek_path (folder));
    }
  gtk_native_dialog_destroy (dialog);
  g_object_unref (dialog);
  g_object_unref (self);
}

static void
open_model_action (GtkWidget  *widget,
                   const char *action_name,
                   GVariant   *parameter)
{
  LlmChatView *self = LLM_CHAT_VIEW (widget);
  GtkFileChooserNative *dialog;
  g_autofree char *current = g_settings_get_string (self->settings, "model-dir");

  dialog = gtk_file_chooser_native_new (_("Open Model"),
                                        GTK_WINDOW (gtk_widget_get_root (widget)),
                                        GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER,
                                        _("_Open"), _("_Cancel"));
  gtk_native_dialog_set_modal (GTK_NATIVE_DIALOG (dialog), TRUE);
  if (*current != '\0')
    {
      g_autoptr(GFile) file = g_file_new_for_path (current);
      g_autoptr(GFile) parent = g_file_get_parent (file);

      if (parent != NULL)
        gtk_file_chooser_set_current_folder (GTK_FILE_CHOOSER (dialog), parent, NULL);
    }
  g_signal_connect (dialog, "response", G_CALLBACK (model_chosen_cb), g_object_ref (self));
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (dialog));
}

/* Answering */

typedef struct
{
  LlmChatView *view;
  LlmConversation *conversation;
} Responding;

static void
responded_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Responding *responding = user_data;
  LlmChatView *self = responding->view;
  g_autoptr(GError) error = NULL;

  /* The message says how it ended; the log says why it failed. */
  if (!llm_chat_session_respond_finish (LLM_CHAT_SESSION (source), result, &error) &&
      !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_message ("The answer failed: %s", error->message);

  save (self, responding->conversation);
  update_actions (self);

  g_object_unref (responding->conversation);
  g_object_unref (responding->view);
  g_free (responding);
}

static void
respond (LlmChatView *self)
{
  g_autofree char *system_prompt = g_settings_get_string (self->settings, "system-prompt");
  LlmChatSettings settings = {
    .temperature = g_settings_get_double (self->settings, "temperature"),
    .top_p = g_settings_get_double (self->settings, "top-p"),
    .max_tokens = g_settings_get_uint (self->settings, "max-new-tokens"),
    .system_prompt = system_prompt,
    .seed = ((guint64) g_random_int () << 32) | g_random_int (),
  };
  Responding *responding;

  g_return_if_fail (self->session != NULL && self->conversation != NULL);

  g_clear_object (&self->respond_cancellable);
  self->respond_cancellable = g_cancellable_new ();
  llm_conversation_set_model (self->conversation, llm_chat_session_get_model_dir (self->session));
  self->stick_to_bottom = TRUE;

  responding = g_new0 (Responding, 1);
  responding->view = g_object_ref (self);
  responding->conversation = g_object_ref (self->conversation);
  llm_chat_session_respond_async (self->session, self->conversation, &settings,
                                  self->respond_cancellable, responded_cb, responding);
}

static void
send_action (GtkWidget  *widget,
             const char *action_name,
             GVariant   *parameter)
{
  LlmChatView *self = LLM_CHAT_VIEW (widget);
  GtkTextBuffer *buffer = gtk_text_view_get_buffer (self->prompt_view);
  g_autoptr(LlmChatMessage) message = NULL;
  g_autofree char *text = NULL;
  g_autofree char *stripped = NULL;
  GtkTextIter start, end;

  if (self->session == NULL || is_busy (self))
    return;

  gtk_text_buffer_get_bounds (buffer, &start, &end);
  text = gtk_text_buffer_get_text (buffer, &start, &end, FALSE);
  stripped = g_strstrip (g_strdup (text));
  if (*stripped == '\0')
    return;

  message = llm_chat_message_new (LLM_CHAT_ROLE_USER, text);
  llm_conversation_append (ensure_conversation (self), message);
  gtk_text_buffer_set_text (buffer, "", 0);
  save (self, self->conversation);
  respond (self);
}

static void
stop_action (GtkWidget  *widget,
             const char *action_name,
             GVariant   *parameter)
{
  LlmChatView *self = LLM_CHAT_VIEW (widget);

  if (self->respond_cancellable != NULL)
    g_cancellable_cancel (self->respond_cancellable);
}

static void
regenerate_action (GtkWidget  *widget,
                   const char *action_name,
                   GVariant   *parameter)
{
  LlmChatView *self = LLM_CHAT_VIEW (widget);
  LlmChatMessage *last;
  guint n;

  if (self->session == NULL || self->conversation == NULL || is_busy (self))
    return;
  last = llm_conversation_get_last (self->conversation);
  if (last == NULL || llm_chat_message_get_role (last) != LLM_CHAT_ROLE_ASSISTANT)
    return;

  n = g_list_model_get_n_items (G_LIST_MODEL (self->conversation));
  llm_conversation_truncate (self->conversation, n - 1);
  respond (self);
}

static void
edit_last_prompt_action (GtkWidget  *widget,
                         const char *action_name,
                         GVariant   *parameter)
{
  LlmChatView *self = LLM_CHAT_VIEW (widget);
  LlmChatMessage *message;
  g_autofree char *text = NULL;
  guint position;

  if (self->conversation == NULL || is_busy (self))
    return;
  message = last_message_of_role (self->conversation, LLM_CHAT_ROLE_USER, &position);
  if (message == NULL)
    return;

  /* The prompt goes back into the composer, its answer away. */
  text = g_strdup (llm_chat_message_get_content (message));
  llm_conversation_truncate (self->conversation, position);
  gtk_text_buffer_set_text (gtk_text_view_get_buffer (self->prompt_view), text, -1);
  save (self, self->conversation);
  llm_chat_view_focus_prompt (self);
}

static void
deleted_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(LlmChatView) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!llm_conversation_store_delete_finish (LLM_CONVERSATION_STORE (source), result, &error))
    {
      g_autofree char *text = g_strdup_printf (_("The conversation could not be deleted: %s"),
                                               error->message);

      show_problem (self, text);
    }
}

static void
delete_response_cb (AdwMessageDialog *dialog,
                    const char       *response,
                    LlmChatView      *self)
{
  LlmConversation *conversation = g_object_get_data (G_OBJECT (dialog), "conversation");
  g_autoptr(LlmConversation) next = NULL;
  guint n;

  if (g_strcmp0 (response, "delete") != 0 || conversation != self->conversation)
    return;

  llm_conversation_store_delete_async (self->store, conversation, NULL, deleted_cb,
                                       g_object_ref (self));
  /* Open the most recent of the others, or none. */
  n = g_list_model_get_n_items (G_LIST_MODEL (self->store));
  for (guint i = 0; i < n && next == NULL; i++)
    {
      g_autoptr(LlmConversation) item = g_list_model_get_item (G_LIST_MODEL (self->store), i);

      if (item != conversation)
        next = g_steal_pointer (&item);
    }
  llm_chat_view_set_conversation (self, next);
}

static void
delete_conversation_action (GtkWidget  *widget,
                            const char *action_name,
                            GVariant   *parameter)
{
  LlmChatView *self = LLM_CHAT_VIEW (widget);
  GtkWidget *dialog;
  const char *title;

  if (self->conversation == NULL || is_busy (self))
    return;

  title = llm_conversation_get_title (self->conversation);
  dialog = adw_message_dialog_new (GTK_WINDOW (gtk_widget_get_root (widget)),
                                   _("Delete This Conversation?"), NULL);
  adw_message_dialog_format_body (ADW_MESSAGE_DIALOG (dialog),
                                  _("“%s” will be deleted from this computer."),
                                  title != NULL && *title != '\0' ? title : _("New Conversation"));
  adw_message_dialog_add_responses (ADW_MESSAGE_DIALOG (dialog),
                                    "cancel", _("_Cancel"),
                                    "delete", _("_Delete"),
                                    NULL);
  adw_message_dialog_set_response_appearance (ADW_MESSAGE_DIALOG (dialog), "delete",
                                              ADW_RESPONSE_DESTRUCTIVE);
  adw_message_dialog_set_default_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  adw_message_dialog_set_close_response (ADW_MESSAGE_DIALOG (dialog), "cancel");
  g_object_set_data_full (G_OBJECT (dialog), "conversation", g_object_ref (self->conversation),
                          g_object_unref);
  g_signal_connect_object (dialog, "response", G_CALLBACK (delete_response_cb), self, 0);
  gtk_window_present (GTK_WINDOW (dialog));
}

static void
new_conversation_action (GtkWidget  *widget,
                         const char *action_name,
                         GVariant   *parameter)
{
  LlmChatView *self = LLM_CHAT_VIEW (widget);
  g_autoptr(LlmConversation) conversation = NULL;

  /* An empty conversation is new enough. */
  if (self->conversation == NULL ||
      g_list_model_get_n_items (G_LIST_MODEL (self->conversation)) > 0)
    {
      conversation = llm_conversation_new ();
      llm_conversation_store_add (self->store, conversation);
      llm_chat_view_set_conversation (self, conversation);
    }
  llm_chat_view_focus_prompt (self);
}

static void
show_conversations_action (GtkWidget  *widget,
                           const char *action_name,
                           GVariant   *parameter)
{
  adw_leaflet_navigate (ADW_LEAFLET (adw_bin_get_child (ADW_BIN (widget))), ADW_NAVIGATION_DIRECTION_BACK);
}

static void
dismiss_damaged_action (GtkWidget  *widget,
                        const char *action_name,
                        GVariant   *parameter)
{
  gtk_revealer_set_reveal_child (LLM_CHAT_VIEW (widget)->damaged_revealer, FALSE);
}

/* Enter sends, Shift+Enter makes a new line, Escape stops an answer. */
static gboolean
prompt_key_pressed_cb (LlmChatView     *self,
                       guint            keyval,
                       guint            keycode,
                       GdkModifierType  state)
{
  if ((keyval == GDK_KEY_Return || keyval == GDK_KEY_KP_Enter || keyval == GDK_KEY_ISO_Enter) &&
      !(state & (GDK_SHIFT_MASK | GDK_CONTROL_MASK | GDK_ALT_MASK)))
    {
      gtk_widget_activate_action (GTK_WIDGET (self), "chat.send", NULL);
      return TRUE;
    }
  if (keyval == GDK_KEY_Escape && is_busy (self))
    {
      gtk_widget_activate_action (GTK_WIDGET (self), "chat.stop", NULL);
      return TRUE;
    }
  return FALSE;
}

/* List items */

static void
message_setup_cb (GtkSignalListItemFactory *factory,
                  GtkListItem              *item,
                  LlmChatView              *self)
{
  gtk_list_item_set_activatable (item, FALSE);
  gtk_list_item_set_child (item, GTK_WIDGET (llm_message_row_new ()));
}

static void
message_bind_cb (GtkSignalListItemFactory *factory,
                 GtkListItem              *item,
                 LlmChatView              *self)
{
  LlmMessageRow *row = LLM_MESSAGE_ROW (gtk_list_item_get_child (item));

  llm_message_row_set_message (row, gtk_list_item_get_item (item));
  g_hash_table_add (self->bound_rows, row);
  update_row (self, row);
}

static void
message_unbind_cb (GtkSignalListItemFactory *factory,
                   GtkListItem              *item,
                   LlmChatView              *self)
{
  LlmMessageRow *row = LLM_MESSAGE_ROW (gtk_list_item_get_child (item));

  g_hash_table_remove (self->bound_rows, row);
  llm_message_row_set_message (row, NULL);
}

static gboolean
title_or_placeholder (GBinding     *binding,
                      const GValue *from,
                      GValue       *to,
                      gpointer      user_data)
{
  const char *title = g_value_get_string (from);

  g_value_set_string (to, title != NULL && *title != '\0' ? title : _("New Conversation"));
  return TRUE;
}

static void
conversation_setup_cb (GtkSignalListItemFactory *factory,
                       GtkListItem              *item,
                       LlmChatView              *self)
{
  GtkWidget *label = gtk_label_new (NULL);

  gtk_label_set_xalign (GTK_LABEL (label), 0);
  gtk_label_set_ellipsize (GTK_LABEL (label), PANGO_ELLIPSIZE_END);
  gtk_list_item_set_child (item, label);
}

static void
conversation_bind_cb (GtkSignalListItemFactory *factory,
                      GtkListItem              *item,
                      LlmChatView              *self)
{
  GBinding *binding = g_object_bind_property_full (gtk_list_item_get_item (item), "title",
                                                   gtk_list_item_get_child (item), "label",
                                                   G_BINDING_SYNC_CREATE,
                                                   title_or_placeholder, NULL, NULL, NULL);

  g_object_set_data (G_OBJECT (item), "binding", binding);
}

static void
conversation_unbind_cb (GtkSignalListItemFactory *factory,
                        GtkListItem              *item,
                        LlmChatView              *self)
{
  g_binding_unbind (g_object_get_data (G_OBJECT (item), "binding"));
  g_object_set_data (G_OBJECT (item), "binding", NULL);
}

/* Life cycle */

static void
llm_chat_view_constructed (GObject *object)
{
  LlmChatView *self = LLM_CHAT_VIEW (object);
  g_autofree char *data_dir = llm_paths_dup_default_data_dir ();
  g_autofree char *directory = g_build_filename (data_dir, "conversations", NULL);
  g_autofree char *model_dir = NULL;

  G_OBJECT_CLASS (llm_chat_view_parent_class)->constructed (object);

  self->store = llm_conversation_store_new (directory);
  g_signal_connect_object (self->store, "file-damaged", G_CALLBACK (file_damaged_cb), self,
                           G_CONNECT_SWAPPED);
  self->conversations_model = gtk_single_selection_new (g_object_ref (G_LIST_MODEL (self->store)));
  gtk_single_selection_set_autoselect (self->conversations_model, FALSE);
  gtk_single_selection_set_can_unselect (self->conversations_model, TRUE);
  gtk_list_view_set_model (self->conversation_list, GTK_SELECTION_MODEL (self->conversations_model));
  g_signal_connect_object (self->conversations_model, "notify::selected-item",
                           G_CALLBACK (conversation_selected_cb), self, G_CONNECT_SWAPPED);
  llm_conversation_store_load_async (self->store, self->cancellable, store_loaded_cb, self);

  /* The model of last time, unless another is opened first. */
  model_dir = g_settings_get_string (self->settings, "model-dir");
  if (*model_dir != '\0' && self->session == NULL && self->loading_name == NULL)
    llm_chat_view_open_model (self, model_dir);

  update_content (self);
  update_actions (self);
}

static void
llm_chat_view_dispose (GObject *object)
{
  LlmChatView *self = LLM_CHAT_VIEW (object);

  g_cancellable_cancel (self->cancellable);
  if (self->load_cancellable != NULL)
    g_cancellable_cancel (self->load_cancellable);
  if (self->respond_cancellable != NULL)
    g_cancellable_cancel (self->respond_cancellable);

  if (self->conversation != NULL)
    g_signal_handlers_disconnect_by_data (self->conversation, self);
  if (self->session != NULL)
    g_signal_handlers_disconnect_by_data (self->session, self);
  gtk_widget_dispose_template (GTK_WIDGET (self), LLM_TYPE_CHAT_VIEW);

  g_clear_object (&self->conversations_model);
  g_clear_object (&self->messages_model);
  g_clear_object (&self->conversation);
  g_clear_object (&self->store);
  g_clear_object (&self->session);
  g_clear_object (&self->settings);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->load_cancellable);
  g_clear_object (&self->respond_cancellable);

  G_OBJECT_CLASS (llm_chat_view_parent_class)->dispose (object);
}

static void
llm_chat_view_finalize (GObject *object)
{
  LlmChatView *self = LLM_CHAT_VIEW (object);

  g_hash_table_unref (self->bound_rows);
  g_free (self->loading_name);
  g_free (self->model_error);

  G_OBJECT_CLASS (llm_chat_view_parent_class)->finalize (object);
}

static void
llm_chat_view_class_init (LlmChatViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->constructed = llm_chat_view_constructed;
  object_class->dispose = llm_chat_view_dispose;
  object_class->finalize = llm_chat_view_finalize;

  gtk_widget_class_set_template_from_resource (widget_class, RESOURCE_PATH "/llm-chat-view.ui");
  gtk_widget_class_bind_template_child (widget_class, LlmChatView, conversation_list);
  gtk_widget_class_bind_template_child (widget_class, LlmChatView, model_label);
  gtk_widget_class_bind_template_child (widget_class, LlmChatView, damaged_revealer);
  gtk_widget_class_bind_template_child (widget_class, LlmChatView, damaged_label);
  gtk_widget_class_bind_template_child (widget_class, LlmChatView, content_stack);
  gtk_widget_class_bind_template_child (widget_class, LlmChatView, status_page);
  gtk_widget_class_bind_template_child (widget_class, LlmChatView, status_open_button);
  gtk_widget_class_bind_template_child (widget_class, LlmChatView, message_scroller);
  gtk_widget_class_bind_template_child (widget_class, LlmChatView, message_list);
  gtk_widget_class_bind_template_child (widget_class, LlmChatView, prompt_view);
  gtk_widget_class_bind_template_child (widget_class, LlmChatView, send_stack);
  gtk_widget_class_bind_template_child (widget_class, LlmChatView, settings_popover);
  gtk_widget_class_bind_template_child (widget_class, LlmChatView, temperature_spin);
  gtk_widget_class_bind_template_child (widget_class, LlmChatView, top_p_spin);
  gtk_widget_class_bind_template_child (widget_class, LlmChatView, max_tokens_spin);
  gtk_widget_class_bind_template_child (widget_class, LlmChatView, system_prompt_view);
  gtk_widget_class_bind_template_child (widget_class, LlmChatView, system_prompt_note);

  gtk_widget_class_install_action (widget_class, "chat.send", NULL, send_action);
  gtk_widget_class_install_action (widget_class, "chat.stop", NULL, stop_action);
  gtk_widget_class_install_action (widget_class, "chat.regenerate", NULL, regenerate_action);
  gtk_widget_class_install_action (widget_class, "chat.edit-last-prompt", NULL,
                                   edit_last_prompt_action);
  gtk_widget_class_install_action (widget_class, "chat.new-conversation", NULL,
                                   new_conversation_action);
  gtk_widget_class_install_action (widget_class, "chat.open-model", NULL, open_model_action);
  gtk_widget_class_install_action (widget_class, "chat.delete-conversation", NULL,
                                   delete_conversation_action);
  gtk_widget_class_install_action (widget_class, "chat.show-conversations", NULL,
                                   show_conversations_action);
  gtk_widget_class_install_action (widget_class, "chat.dismiss-damaged", NULL,
                                   dismiss_damaged_action);

  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_n, GDK_CONTROL_MASK,
                                       "chat.new-conversation", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_o, GDK_CONTROL_MASK,
                                       "chat.open-model", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_r, GDK_CONTROL_MASK,
                                       "chat.regenerate", NULL);
}

static void
llm_chat_view_init (LlmChatView *self)
{
  GtkListItemFactory *factory;
  GtkEventController *keys;
  GtkAdjustment *adjustment;

  gtk_widget_init_template (GTK_WIDGET (self));

  self->settings = g_settings_new (APP_ID);
  self->cancellable = g_cancellable_new ();
  self->bound_rows = g_hash_table_new (NULL, NULL);
  self->stick_to_bottom = TRUE;

  g_settings_bind (self->settings, "temperature", self->temperature_spin, "value",
                   G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (self->settings, "top-p", self->top_p_spin, "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (self->settings, "max-new-tokens", self->max_tokens_spin, "value",
                   G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (self->settings, "system-prompt",
                   gtk_text_view_get_buffer (self->system_prompt_view), "text",
                   G_SETTINGS_BIND_DEFAULT);

  self->messages_model = gtk_no_selection_new (NULL);
  factory = gtk_signal_list_item_factory_new ();
  g_signal_connect (factory, "setup", G_CALLBACK (message_setup_cb), self);
  g_signal_connect (factory, "bind", G_CALLBACK (message_bind_cb), self);
  g_signal_connect (factory, "unbind", G_CALLBACK (message_unbind_cb), self);
  gtk_list_view_set_factory (self->message_list, factory);
  g_object_unref (factory);
  gtk_list_view_set_model (self->message_list, GTK_SELECTION_MODEL (self->messages_model));

  factory = gtk_signal_list_item_factory_new ();
  g_signal_connect (factory, "setup", G_CALLBACK (conversation_setup_cb), self);
  g_signal_connect (factory, "bind", G_CALLBACK (conversation_bind_cb), self);
  g_signal_connect (factory, "unbind", G_CALLBACK (conversation_unbind_cb), self);
  gtk_list_view_set_factory (self->conversation_list, factory);
  g_object_unref (factory);
  g_signal_connect_object (self->conversation_list, "activate",
                           G_CALLBACK (conversation_activated_cb), self, G_CONNECT_SWAPPED);

  keys = gtk_event_controller_key_new ();
  gtk_event_controller_set_propagation_phase (keys, GTK_PHASE_CAPTURE);
  g_signal_connect_object (keys, "key-pressed", G_CALLBACK (prompt_key_pressed_cb), self,
                           G_CONNECT_SWAPPED);
  gtk_widget_add_controller (GTK_WIDGET (self->prompt_view), keys);

  adjustment = gtk_scrolled_window_get_vadjustment (self->message_scroller);
  g_signal_connect_object (adjustment, "changed", G_CALLBACK (adjustment_changed_cb), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (adjustment, "value-changed", G_CALLBACK (adjustment_value_changed_cb),
                           self, G_CONNECT_SWAPPED);
}

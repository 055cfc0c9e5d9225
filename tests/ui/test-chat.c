/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "llm-application.h"
#include "llm-conversation-store.h"
#include "llm-paths.h"
#include "llm-test-shared.h"
#include "llm-test-ui.h"
#include "llm-window.h"

/* The chat in a real X server (Xvfb), driven through its widgets, with
 * stories260K: the answer streams, equals what `llm-node generate` prints,
 * stops when asked, and conversations come back at the next start. */

#define PROMPT "Once upon a time"

static char **system_data_dirs;
static LlmApplication *application;

/* A model big enough that an answer takes a while (random weights in
 * Qwen3-0.6B's layer shapes, six layers, stories260K's tokenizer). */
static char *slow_model_dir;

typedef struct
{
  GSettings *settings;
  char *model_dir;
} Fixture;


static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  user_data)
{
  g_autofree char *data_dirs = g_strjoinv (":", system_data_dirs);

  g_setenv ("XDG_DATA_DIRS", data_dirs, TRUE);
  fixture->model_dir = llm_test_dup_shared_path ("models", "stories260K", NULL);

  fixture->settings = g_settings_new (APP_ID);
  g_settings_set_boolean (fixture->settings, "onboarding-done", FALSE);
  g_settings_set_string (fixture->settings, "model-dir", "");
  g_settings_set_double (fixture->settings, "temperature", 0.0);
  g_settings_set_uint (fixture->settings, "max-new-tokens", 40);
  g_settings_set_string (fixture->settings, "system-prompt", "");

  if (!g_application_get_is_registered (G_APPLICATION (application)))
    {
      g_autoptr(GError) error = NULL;

      g_application_register (G_APPLICATION (application), NULL, &error);
      g_assert_no_error (error);
      for (guint i = 0; system_data_dirs[i] != NULL; i++)
        {
          g_autofree char *icons = g_build_filename (system_data_dirs[i], "icons", NULL);

          gtk_icon_theme_add_search_path (gtk_icon_theme_get_for_display (gdk_display_get_default ()),
                                          icons);
        }
    }
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  user_data)
{
  GList *windows;

  while ((windows = gtk_application_get_windows (GTK_APPLICATION (application))) != NULL)
    {
      GtkWindow *window = windows->data;
      LlmChatView *view = llm_window_get_chat_view (LLM_WINDOW (window));

      g_object_add_weak_pointer (G_OBJECT (window), (gpointer *) &window);
      g_object_add_weak_pointer (G_OBJECT (view), (gpointer *) &view);
      gtk_window_destroy (window);
      while (window != NULL && g_main_context_iteration (NULL, FALSE))
        ;
      g_assert_null (window);
      /* Its last saves hold the chat until they are written: they must
       * finish before the test's directories go. */
      LLM_TEST_UI_AWAIT_UNTIL (view == NULL, 10);
    }

  g_clear_object (&fixture->settings);
  g_free (fixture->model_dir);
}


static GtkWidget *
chat_child (LlmWindow  *window,
            const char *name)
{
  GtkWidget *view = GTK_WIDGET (llm_window_get_chat_view (window));
  GObject *child = gtk_widget_get_template_child (view, LLM_TYPE_CHAT_VIEW, name);

  g_assert_nonnull (child);
  return GTK_WIDGET (child);
}

/* Opens a window as `llm-node --model DIR` does, and waits for the model
 * and for the window to be drawn: a person types into a window they see. */
static LlmWindow *
open_with_model (const char *model_dir)
{
  LlmWindow *window = llm_window_new (application);
  LlmChatView *view = llm_window_get_chat_view (window);

  gtk_window_set_default_size (GTK_WINDOW (window), 980, 700);
  gtk_window_present (GTK_WINDOW (window));
  llm_window_open_model (window, model_dir);
  LLM_TEST_UI_AWAIT_UNTIL (!llm_chat_view_get_loading (view), 30);
  g_assert_null (llm_chat_view_get_model_error (view));
  g_assert_nonnull (llm_chat_view_get_session (view));
  llm_test_await_frames (GTK_WIDGET (window), 3);
  return window;
}

/* Types into the message field, key by key as an input method commits. */
static void
type_text (GtkTextView *view,
           const char  *text)
{
  GtkTextBuffer *buffer = gtk_text_view_get_buffer (view);

  for (const char *c = text; *c != '\0'; c = g_utf8_next_char (c))
    gtk_text_buffer_insert_at_cursor (buffer, c, g_utf8_next_char (c) - c);
}

/* Sends a message and waits for the whole answer. */
static void
ask (LlmWindow  *window,
     const char *text)
{
  LlmChatView *view = llm_window_get_chat_view (window);

  type_text (GTK_TEXT_VIEW (chat_child (window, "prompt_view")), text);
  gtk_widget_activate_action (GTK_WIDGET (view), "chat.send", NULL);
  LLM_TEST_UI_AWAIT_UNTIL (!llm_chat_session_get_busy (llm_chat_view_get_session (view)), 30);
}

/* Presses a key on the message field: through its key controller, as GTK
 * delivers a key event. */
static gboolean
press_key (GtkWidget       *widget,
           guint            keyval,
           GdkModifierType  state)
{
  g_autoptr(GListModel) controllers = gtk_widget_observe_controllers (widget);
  gboolean handled = FALSE;

  for (guint i = 0; i < g_list_model_get_n_items (controllers) && !handled; i++)
    {
      g_autoptr(GtkEventController) controller = g_list_model_get_item (controllers, i);

      if (GTK_IS_EVENT_CONTROLLER_KEY (controller) &&
          gtk_event_controller_get_propagation_phase (controller) == GTK_PHASE_CAPTURE)
        g_signal_emit_by_name (controller, "key-pressed", keyval, 0, state, &handled);
    }
  return handled;
}

static char *
run_generate (const char *model_dir,
              const char *prompt,
              const char *n_tokens)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *err = NULL;
  char *out = NULL;
  int status;

  g_spawn_sync (NULL, (char *[]) { (char *) g_getenv ("LLM_NODE_BIN"), "generate", "--model",
                                   (char *) model_dir, "--prompt", (char *) prompt,
                                   "--temperature", "0", "-n", (char *) n_tokens, NULL },
                NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status, &error);
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  return out;
}

/* The longest time the main loop went without running: a timer asks to
 * run every millisecond and notes how late it is. */
typedef struct
{
  gint64 last;
  gint64 longest;
} Stall;

static gboolean
stall_tick_cb (gpointer user_data)
{
  Stall *stall = user_data;
  gint64 now = g_get_monotonic_time ();

  if (stall->last != 0)
    stall->longest = MAX (stall->longest, now - stall->last);
  stall->last = now;
  return G_SOURCE_CONTINUE;
}

static void
save_screenshot (LlmWindow  *window,
                 const char *name)
{
  g_autoptr(GdkTexture) texture = NULL;
  g_autofree char *path = g_test_build_filename (G_TEST_BUILT, name, NULL);

  llm_test_await_frames (GTK_WIDGET (window), 3);
  texture = llm_test_render_widget (GTK_WIDGET (window));
  g_assert_true (gdk_texture_save_to_png (texture, path));
  g_test_message ("Screenshot: %s", path);
}

static gboolean
label_shows (GtkWidget  *widget,
             const char *pattern)
{
  if (GTK_IS_LABEL (widget) && gtk_widget_get_mapped (widget) &&
      g_pattern_match_simple (pattern, gtk_label_get_label (GTK_LABEL (widget))))
    return TRUE;
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    if (label_shows (child, pattern))
      return TRUE;
  return FALSE;
}

static GtkWidget *
find_widget_of_type (GtkWidget *widget,
                     GType      type)
{
  if (G_TYPE_CHECK_INSTANCE_TYPE (widget, type))
    return widget;
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkWidget *found = find_widget_of_type (child, type);

      if (found != NULL)
        return found;
    }
  return NULL;
}

static void
clipboard_read_cb (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  char **text = user_data;

  *text = gdk_clipboard_read_text_finish (GDK_CLIPBOARD (source), result, NULL);
  if (*text == NULL)
    *text = g_strdup ("");
}

/* Type, Enter, read: the answer is `llm-node generate`'s, streamed, and
 * the window stays responsive meanwhile. */
static void
test_chat_answer (Fixture       *fixture,
                  gconstpointer  user_data)
{
  LlmWindow *window;
  LlmChatView *view;
  LlmConversation *conversation;
  LlmChatMessage *answer;
  GtkTextView *prompt;
  GtkWidget *row;
  g_autofree char *expected = NULL;
  g_autofree char *remembered = NULL;
  g_autofree char *canonical = NULL;
  g_autofree char *copied = NULL;

  if (fixture->model_dir == NULL)
    return;

  window = open_with_model (fixture->model_dir);
  view = llm_window_get_chat_view (window);
  prompt = GTK_TEXT_VIEW (chat_child (window, "prompt_view"));

  /* Straight to the chat, the keyboard in the message field. */
  g_assert_cmpstr (llm_window_get_visible_place (window), ==, "chat");
  LLM_TEST_UI_AWAIT_UNTIL (gtk_widget_has_focus (GTK_WIDGET (prompt)), 5);
  g_assert_true (label_shows (GTK_WIDGET (view), "stories260K · LlamaForCausalLM · *"));

  /* Shift+Enter is a new line, which the text view makes itself. */
  type_text (prompt, PROMPT);
  g_assert_false (press_key (GTK_WIDGET (prompt), GDK_KEY_Return, GDK_SHIFT_MASK));
  g_assert_null (llm_chat_view_get_conversation (view));

  g_assert_true (press_key (GTK_WIDGET (prompt), GDK_KEY_Return, 0));

  conversation = llm_chat_view_get_conversation (view);
  g_assert_nonnull (conversation);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (conversation)), ==, 2);
  answer = llm_conversation_get_last (conversation);
  LLM_TEST_UI_AWAIT_UNTIL (llm_chat_message_get_state (answer) == LLM_CHAT_MESSAGE_STATE_COMPLETE, 30);

  expected = run_generate (fixture->model_dir, PROMPT, "40");
  g_assert_cmpstr (llm_chat_message_get_content (answer), ==, expected);
  g_assert_cmpint (gtk_text_buffer_get_char_count (gtk_text_view_get_buffer (prompt)), ==, 0);

  /* Its figures, under it. */
  LLM_TEST_UI_AWAIT_UNTIL (label_shows (GTK_WIDGET (view), "*tokens/s*first token after*"), 5);
  save_screenshot (window, "screenshot-chat-answer.png");

  /* The model is remembered for the next start. */
  remembered = g_settings_get_string (fixture->settings, "model-dir");
  canonical = g_canonicalize_filename (fixture->model_dir, NULL);
  g_assert_cmpstr (remembered, ==, canonical);

  /* Copy: the first message's row puts its text on the clipboard. */
  row = find_widget_of_type (GTK_WIDGET (view), g_type_from_name ("LlmMessageRow"));
  g_assert_nonnull (row);
  gtk_widget_activate_action (row, "message.copy", NULL);
  gdk_clipboard_read_text_async (gtk_widget_get_clipboard (row), NULL, clipboard_read_cb, &copied);
  LLM_TEST_UI_AWAIT_UNTIL (copied != NULL, 5);
  g_assert_cmpstr (copied, ==, PROMPT);
}

/* Stop: the answer ends within a token, marked stopped, and the window
 * stays responsive while a bigger model works. */
static void
test_chat_stop (Fixture       *fixture,
                gconstpointer  user_data)
{
  LlmWindow *window;
  LlmChatView *view;
  LlmChatMessage *answer;
  Stall stall = { 0 };
  gint64 stop_at, stopped_at;
  guint tick, n_before;

  if (fixture->model_dir == NULL)
    return;

  g_settings_set_uint (fixture->settings, "max-new-tokens", 400);
  window = open_with_model (slow_model_dir);
  view = llm_window_get_chat_view (window);

  type_text (GTK_TEXT_VIEW (chat_child (window, "prompt_view")), PROMPT);
  tick = g_timeout_add (1, stall_tick_cb, &stall);
  gtk_widget_activate_action (GTK_WIDGET (view), "chat.send", NULL);
  answer = llm_conversation_get_last (llm_chat_view_get_conversation (view));
  LLM_TEST_UI_AWAIT_UNTIL (llm_chat_message_get_state (answer) == LLM_CHAT_MESSAGE_STATE_STREAMING &&
               llm_chat_message_get_n_tokens (answer) == 0 &&
               strlen (llm_chat_message_get_content (answer)) > 80, 30);

  /* The Stop button shows while it answers. */
  g_assert_cmpstr (gtk_stack_get_visible_child_name (GTK_STACK (chat_child (window, "send_stack"))),
                   ==, "stop");
  n_before = strlen (llm_chat_message_get_content (answer));
  stop_at = g_get_monotonic_time ();
  gtk_widget_activate_action (GTK_WIDGET (view), "chat.stop", NULL);
  LLM_TEST_UI_AWAIT_UNTIL (llm_chat_message_get_state (answer) == LLM_CHAT_MESSAGE_STATE_STOPPED, 10);
  stopped_at = g_get_monotonic_time ();
  g_source_remove (tick);

  g_assert_cmpuint (llm_chat_message_get_n_tokens (answer), <, 400);
  g_assert_cmpuint (strlen (llm_chat_message_get_content (answer)), >=, n_before);
  g_test_message ("Stopped %.1f ms after Stop, at %.0f tokens/s (%.1f ms a token), after %u "
                  "tokens; longest main-loop stall from Send to stopped: %.1f ms",
                  (stopped_at - stop_at) / 1000.0, llm_chat_message_get_tokens_per_second (answer),
                  1000.0 / llm_chat_message_get_tokens_per_second (answer),
                  llm_chat_message_get_n_tokens (answer), stall.longest / 1000.0);
  LLM_TEST_UI_AWAIT_UNTIL (label_shows (GTK_WIDGET (view), "Stopped*"), 5);
  g_assert_cmpstr (gtk_stack_get_visible_child_name (GTK_STACK (chat_child (window, "send_stack"))),
                   ==, "send");

  /* Regenerate replaces the stopped answer. */
  gtk_widget_activate_action (GTK_WIDGET (view), "chat.regenerate", NULL);
  g_assert_true (llm_conversation_get_last (llm_chat_view_get_conversation (view)) != answer);
  gtk_widget_activate_action (GTK_WIDGET (view), "chat.stop", NULL);
  LLM_TEST_UI_AWAIT_UNTIL (!llm_chat_session_get_busy (llm_chat_view_get_session (view)), 10);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (llm_chat_view_get_conversation (view))),
                    ==, 2);
}

/* Edit the last prompt: it goes back to the composer, its answer away. */
static void
test_chat_edit (Fixture       *fixture,
                gconstpointer  user_data)
{
  LlmWindow *window;
  LlmChatView *view;
  LlmConversation *conversation;
  GtkTextBuffer *buffer;
  GtkSingleSelection *selection;
  GtkTextIter start, end;
  g_autofree char *text = NULL;

  if (fixture->model_dir == NULL)
    return;

  window = open_with_model (fixture->model_dir);
  view = llm_window_get_chat_view (window);
  buffer = gtk_text_view_get_buffer (GTK_TEXT_VIEW (chat_child (window, "prompt_view")));

  ask (window, "Lily");
  conversation = llm_chat_view_get_conversation (view);

  gtk_widget_activate_action (GTK_WIDGET (view), "chat.edit-last-prompt", NULL);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (conversation)), ==, 0);
  gtk_text_buffer_get_bounds (buffer, &start, &end);
  text = gtk_text_buffer_get_text (buffer, &start, &end, FALSE);
  g_assert_cmpstr (text, ==, "Lily");

  /* A new conversation starts empty; the old one stays listed. */
  ask (window, " and Ben");
  gtk_widget_activate_action (GTK_WIDGET (view), "chat.new-conversation", NULL);
  g_assert_true (llm_chat_view_get_conversation (view) != conversation);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (llm_chat_view_get_conversation (view))),
                    ==, 0);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (llm_chat_view_get_store (view))), ==, 2);

  /* The sidebar shows the open one, also once an answer moved it up. */
  selection = GTK_SINGLE_SELECTION (gtk_list_view_get_model (GTK_LIST_VIEW (chat_child (window, "conversation_list"))));
  g_assert_true (gtk_single_selection_get_selected_item (selection) == (gpointer) llm_chat_view_get_conversation (view));
  ask (window, "Tom");
  g_assert_true (gtk_single_selection_get_selected_item (selection) == (gpointer) llm_chat_view_get_conversation (view));

  /* Choosing the other one in the sidebar opens it; answering there moves
   * it to the top, and the selection follows. */
  gtk_single_selection_set_selected (selection, 1);
  g_assert_true (llm_chat_view_get_conversation (view) == conversation);
  ask (window, " and Sue");
  LLM_TEST_UI_AWAIT_UNTIL (gtk_single_selection_get_selected (selection) == 0, 5);
  g_assert_true (gtk_single_selection_get_selected_item (selection) == (gpointer) conversation);
}

static gboolean
file_contains (const char *path,
               const char *text)
{
  g_autofree char *contents = NULL;

  return g_file_get_contents (path, &contents, NULL, NULL) && strstr (contents, text) != NULL;
}

static AdwMessageDialog *
find_message_dialog (void)
{
  GListModel *toplevels = gtk_window_get_toplevels ();

  for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
    {
      g_autoptr(GObject) window = g_list_model_get_item (toplevels, i);

      if (ADW_IS_MESSAGE_DIALOG (window))
        return ADW_MESSAGE_DIALOG (window);
    }
  return NULL;
}

/* Delete asks first; Cancel keeps it, Delete removes it, its file too,
 * and opens the next one. */
static void
test_chat_delete (Fixture       *fixture,
                  gconstpointer  user_data)
{
  g_autofree char *data_dir = llm_paths_dup_default_data_dir ();
  g_autofree char *path = NULL;
  LlmWindow *window;
  LlmChatView *view;
  LlmConversation *first;
  LlmConversation *second;
  AdwMessageDialog *dialog;

  if (fixture->model_dir == NULL)
    return;

  window = open_with_model (fixture->model_dir);
  view = llm_window_get_chat_view (window);
  ask (window, "Lily");
  first = llm_chat_view_get_conversation (view);
  gtk_widget_activate_action (GTK_WIDGET (view), "chat.new-conversation", NULL);
  ask (window, "Ben");
  second = llm_chat_view_get_conversation (view);
  path = g_strdup_printf ("%s/conversations/%s.json", data_dir, llm_conversation_get_id (second));
  LLM_TEST_UI_AWAIT_UNTIL (file_contains (path, "\"assistant\""), 5);

  gtk_widget_activate_action (GTK_WIDGET (view), "chat.delete-conversation", NULL);
  LLM_TEST_UI_AWAIT_UNTIL ((dialog = find_message_dialog ()) != NULL, 5);
  adw_message_dialog_response (dialog, "cancel");
  gtk_window_destroy (GTK_WINDOW (dialog));
  g_assert_true (llm_chat_view_get_conversation (view) == second);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (llm_chat_view_get_store (view))), ==, 2);

  gtk_widget_activate_action (GTK_WIDGET (view), "chat.delete-conversation", NULL);
  LLM_TEST_UI_AWAIT_UNTIL ((dialog = find_message_dialog ()) != NULL, 5);
  adw_message_dialog_response (dialog, "delete");
  gtk_window_destroy (GTK_WINDOW (dialog));
  g_assert_true (llm_chat_view_get_conversation (view) == first);
  LLM_TEST_UI_AWAIT_UNTIL (g_list_model_get_n_items (G_LIST_MODEL (llm_chat_view_get_store (view))) == 1, 5);
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
}

/* What was said comes back in a new window (as at the next start), from
 * the files; a damaged file is reported and kept aside. */
static void
test_chat_restore (Fixture       *fixture,
                   gconstpointer  user_data)
{
  g_autofree char *data_dir = llm_paths_dup_default_data_dir ();
  g_autofree char *directory = g_build_filename (data_dir, "conversations", NULL);
  g_autofree char *damaged = g_build_filename (directory, "damaged.json", NULL);
  g_autofree char *kept = g_build_filename (directory, "damaged.json.damaged", NULL);
  g_autofree char *said = NULL;
  g_autofree char *answered = NULL;
  g_autofree char *saved = NULL;
  LlmWindow *window;
  LlmChatView *view;
  LlmConversation *restored;
  g_autoptr(LlmChatMessage) first = NULL;
  g_autoptr(LlmChatMessage) second = NULL;

  if (fixture->model_dir == NULL)
    return;

  /* One conversation, saved. */
  window = open_with_model (fixture->model_dir);
  view = llm_window_get_chat_view (window);
  ask (window, PROMPT);
  said = g_strdup (PROMPT);
  answered = g_strdup (llm_chat_message_get_content (llm_conversation_get_last (llm_chat_view_get_conversation (view))));
  /* The save runs on a worker: wait for the file to hold the answer. */
  saved = g_strdup_printf ("%s/%s.json", directory,
                           llm_conversation_get_id (llm_chat_view_get_conversation (view)));
  LLM_TEST_UI_AWAIT_UNTIL (file_contains (saved, "\"assistant\""), 5);
  gtk_window_destroy (GTK_WINDOW (window));
  while (g_main_context_iteration (NULL, FALSE))
    ;

  g_assert_true (g_file_set_contents (damaged, "{\"version\": 1, \"id\": ", -1, NULL));

  /* The next start: no model needed to read it. */
  window = llm_window_new (application);
  gtk_window_present (GTK_WINDOW (window));
  view = llm_window_get_chat_view (window);
  LLM_TEST_UI_AWAIT_UNTIL (llm_chat_view_get_conversation (view) != NULL, 10);
  restored = llm_chat_view_get_conversation (view);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (restored)), ==, 2);
  first = g_list_model_get_item (G_LIST_MODEL (restored), 0);
  second = g_list_model_get_item (G_LIST_MODEL (restored), 1);
  g_assert_cmpstr (llm_chat_message_get_content (first), ==, said);
  g_assert_cmpstr (llm_chat_message_get_content (second), ==, answered);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (llm_chat_view_get_store (view))), ==, 1);

  /* Reported, and kept with its bytes. */
  LLM_TEST_UI_AWAIT_UNTIL (gtk_revealer_get_reveal_child (GTK_REVEALER (chat_child (window, "damaged_revealer"))), 5);
  g_assert_false (g_file_test (damaged, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (kept, G_FILE_TEST_EXISTS));
  gtk_widget_activate_action (GTK_WIDGET (window), "win.show-chat", NULL);
  LLM_TEST_UI_AWAIT_UNTIL (label_shows (GTK_WIDGET (view), "*could not be read*"), 5);
}

/* Every control a person reaches has a name for screen readers: a
 * button its text or an accessible label (a GtkButton is always "labelled
 * by" its icon, which names nothing), a field or list an accessible label
 * or the label that points to it. GTK's own parts of a spin button or a
 * menu button are GTK's business. */
static guint
check_accessible_names (GtkWidget *widget)
{
  GtkAccessible *accessible = GTK_ACCESSIBLE (widget);
  gboolean has_label = gtk_test_accessible_has_property (accessible, GTK_ACCESSIBLE_PROPERTY_LABEL);
  guint n_checked = 0;

  if ((GTK_IS_BUTTON (widget) && gtk_button_get_label (GTK_BUTTON (widget)) == NULL) ||
      GTK_IS_MENU_BUTTON (widget))
    {
      if (!has_label)
        g_error ("A %s (%s) has no accessible label", G_OBJECT_TYPE_NAME (widget),
                 gtk_widget_get_tooltip_text (widget) ?: "no tooltip");
      n_checked++;
    }
  else if (GTK_IS_TEXT_VIEW (widget) || GTK_IS_LIST_VIEW (widget) || GTK_IS_SPIN_BUTTON (widget))
    {
      if (!has_label &&
          !gtk_test_accessible_has_relation (accessible, GTK_ACCESSIBLE_RELATION_LABELLED_BY))
        g_error ("A %s has no accessible name", G_OBJECT_TYPE_NAME (widget));
      n_checked++;
    }

  if (GTK_IS_SPIN_BUTTON (widget) || GTK_IS_MENU_BUTTON (widget))
    return n_checked;
  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    n_checked += check_accessible_names (child);
  return n_checked;
}

static void
test_chat_accessible (Fixture       *fixture,
                      gconstpointer  user_data)
{
  LlmWindow *window;
  LlmChatView *view;
  GtkWidget *popover;
  guint n_checked;

  if (fixture->model_dir == NULL)
    return;

  window = open_with_model (fixture->model_dir);
  view = llm_window_get_chat_view (window);
  ask (window, PROMPT);
  llm_test_await_frames (GTK_WIDGET (window), 2);

  popover = chat_child (window, "settings_popover");
  n_checked = check_accessible_names (GTK_WIDGET (view)) + check_accessible_names (popover);
  g_test_message ("%u controls have an accessible name", n_checked);
  g_assert_cmpuint (n_checked, >=, 15);
}

/* A folder that is not a model: said in the window, no crash. */
static void
test_chat_not_a_model (Fixture       *fixture,
                       gconstpointer  user_data)
{
  g_autofree char *dir = g_dir_make_tmp ("llm-not-a-model-XXXXXX", NULL);
  LlmWindow *window = llm_window_new (application);
  LlmChatView *view = llm_window_get_chat_view (window);
  g_autofree char *remembered = NULL;

  gtk_window_present (GTK_WINDOW (window));
  llm_window_open_model (window, dir);
  LLM_TEST_UI_AWAIT_UNTIL (!llm_chat_view_get_loading (view), 10);
  g_assert_null (llm_chat_view_get_session (view));
  g_assert_nonnull (llm_chat_view_get_model_error (view));
  LLM_TEST_UI_AWAIT_UNTIL (label_shows (GTK_WIDGET (view), "Cannot Open This Model"), 5);
  g_assert_false (gtk_widget_is_sensitive (gtk_stack_get_child_by_name (GTK_STACK (chat_child (window, "send_stack")),
                                                                       "send")));
  /* Not remembered: the next start does not try it again. */
  remembered = g_settings_get_string (fixture->settings, "model-dir");
  g_assert_cmpstr (remembered, ==, "");
  g_rmdir (dir);
}

static void
make_slow_model (void)
{
  g_autofree char *stories = llm_test_dup_shared_path ("models", "stories260K", NULL);

  if (stories == NULL)
    return;
  slow_model_dir = g_dir_make_tmp ("llm-chat-model-XXXXXX", NULL);
  llm_test_make_model (slow_model_dir, "--arch", "qwen3", "--dtype", "BF16", "--shape", "qwen3-0.6b",
                       "--layers", "6", "--vocab", "512", NULL);
  llm_test_copy_tokenizer (stories, slow_model_dir);
}

int
main (int    argc,
      char **argv)
{
  int status;

  system_data_dirs = g_strdupv ((char **) g_get_system_data_dirs ());
  /* The accessibility backend that tests can read (no bus needed). */
  g_setenv ("GTK_A11Y", "test", TRUE);
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  make_slow_model ();

  application = llm_application_new ();
  /* The test's private session bus may hold another instance. */
  g_application_set_flags (G_APPLICATION (application), G_APPLICATION_NON_UNIQUE);

  g_test_add ("/llm/ui/chat/answer", Fixture, NULL, fixture_set_up, test_chat_answer,
              fixture_tear_down);
  g_test_add ("/llm/ui/chat/stop", Fixture, NULL, fixture_set_up, test_chat_stop,
              fixture_tear_down);
  g_test_add ("/llm/ui/chat/edit", Fixture, NULL, fixture_set_up, test_chat_edit,
              fixture_tear_down);
  g_test_add ("/llm/ui/chat/delete", Fixture, NULL, fixture_set_up, test_chat_delete,
              fixture_tear_down);
  g_test_add ("/llm/ui/chat/restore", Fixture, NULL, fixture_set_up, test_chat_restore,
              fixture_tear_down);
  g_test_add ("/llm/ui/chat/not-a-model", Fixture, NULL, fixture_set_up, test_chat_not_a_model,
              fixture_tear_down);
  g_test_add ("/llm/ui/chat/accessible", Fixture, NULL, fixture_set_up, test_chat_accessible,
              fixture_tear_down);

  status = g_test_run ();

  g_clear_object (&application);
  if (slow_model_dir != NULL)
    llm_test_remove_tree (slow_model_dir);
  g_free (slow_model_dir);
  g_strfreev (system_data_dirs);
  return status;
}

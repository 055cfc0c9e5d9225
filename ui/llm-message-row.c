/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-message-row"

#include "config.h"

#include "llm-message-row.h"

#include <glib/gi18n.h>

#include "llm-markdown-view.h"

/* One message of the chat, as the list view shows it: who speaks, the
 * text (markdown, rendered as it streams), and under an answer its
 * figures and what can be done with it. (The root box is the AdwBin's
 * child, not a template field: AdwBin unparents its child itself.) */
struct _LlmMessageRow
{
  AdwBin parent_instance;

  LlmChatMessage *message;
  char *model_name;

  GtkLabel *role_label;
  GtkBox *bubble;
  LlmMarkdownView *content_view;
  GtkSpinner *spinner;
  GtkBox *footer;
  GtkLabel *figures_label;
  GtkButton *edit_button;
  GtkButton *regenerate_button;
};

G_DEFINE_FINAL_TYPE (LlmMessageRow, llm_message_row, ADW_TYPE_BIN)

static void
update_content (LlmMessageRow *self)
{
  llm_markdown_view_set_markdown (self->content_view, llm_chat_message_get_content (self->message));
}

static char *
dup_figures (LlmChatMessage *message)
{
  guint n_tokens = llm_chat_message_get_n_tokens (message);
  double first_ms = llm_chat_message_get_time_to_first_token (message) * 1000;
  g_autofree char *first = NULL;

  if (n_tokens == 0)
    return NULL;
  /* Translators: durations: milliseconds, then seconds. */
  first = first_ms < 10 ? g_strdup_printf (_("%.1f ms"), first_ms)
          : first_ms < 10000 ? g_strdup_printf (_("%.0f ms"), first_ms)
          : g_strdup_printf (_("%.1f s"), first_ms / 1000);
  /* Translators: under an answer: how fast it came. */
  return g_strdup_printf (_("%.1f tokens/s · first token after %s · %u tokens"),
                          llm_chat_message_get_tokens_per_second (message), first, n_tokens);
}

static void
update_state (LlmMessageRow *self)
{
  LlmChatMessageState state = llm_chat_message_get_state (self->message);
  gboolean answer = llm_chat_message_get_role (self->message) == LLM_CHAT_ROLE_ASSISTANT;
  g_autofree char *figures = answer ? dup_figures (self->message) : NULL;
  g_autofree char *text = NULL;

  gtk_widget_set_visible (GTK_WIDGET (self->spinner), state == LLM_CHAT_MESSAGE_STATE_PENDING);
  gtk_spinner_set_spinning (self->spinner, state == LLM_CHAT_MESSAGE_STATE_PENDING);

  switch (state)
    {
    case LLM_CHAT_MESSAGE_STATE_STOPPED:
      text = figures ? g_strdup_printf (_("Stopped · %s"), figures) : g_strdup (_("Stopped"));
      break;
    case LLM_CHAT_MESSAGE_STATE_FAILED:
      text = g_strdup_printf (_("Failed: %s"), llm_chat_message_get_error_message (self->message));
      break;
    case LLM_CHAT_MESSAGE_STATE_COMPLETE:
    case LLM_CHAT_MESSAGE_STATE_PENDING:
    case LLM_CHAT_MESSAGE_STATE_STREAMING:
    default:
      text = g_steal_pointer (&figures);
      break;
    }

  gtk_label_set_label (self->figures_label, text ? text : "");
  gtk_widget_set_visible (GTK_WIDGET (self->figures_label), text != NULL);
  if (state == LLM_CHAT_MESSAGE_STATE_FAILED)
    gtk_widget_add_css_class (adw_bin_get_child (ADW_BIN (self)), "failed");
  else
    gtk_widget_remove_css_class (adw_bin_get_child (ADW_BIN (self)), "failed");
}

static void
update_role (LlmMessageRow *self)
{
  LlmChatRole role = llm_chat_message_get_role (self->message);
  gboolean user = role == LLM_CHAT_ROLE_USER;

  gtk_label_set_label (self->role_label,
                       user ? _("You")
                       : role == LLM_CHAT_ROLE_SYSTEM ? _("System")
                       : self->model_name ? self->model_name : _("Model"));
  gtk_widget_set_halign (GTK_WIDGET (self->bubble), user ? GTK_ALIGN_END : GTK_ALIGN_FILL);
  gtk_widget_set_halign (GTK_WIDGET (self->footer), user ? GTK_ALIGN_END : GTK_ALIGN_FILL);
  gtk_label_set_xalign (self->role_label, user ? 1.0 : 0.0);
  gtk_widget_remove_css_class (adw_bin_get_child (ADW_BIN (self)), user ? "assistant" : "user");
  gtk_widget_add_css_class (adw_bin_get_child (ADW_BIN (self)), user ? "user" : "assistant");
}

/**
 * llm_message_row_set_message:
 * @self: a #LlmMessageRow
 * @message: (nullable): the message to show, followed as it changes
 */
void
llm_message_row_set_message (LlmMessageRow  *self,
                             LlmChatMessage *message)
{
  g_return_if_fail (LLM_IS_MESSAGE_ROW (self));

  if (self->message == message)
    return;

  if (self->message != NULL)
    g_signal_handlers_disconnect_by_data (self->message, self);
  g_set_object (&self->message, message);
  if (message == NULL)
    return;

  g_signal_connect_object (message, "notify::content", G_CALLBACK (update_content), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (message, "notify::state", G_CALLBACK (update_state), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (message, "notify::n-tokens", G_CALLBACK (update_state), self,
                           G_CONNECT_SWAPPED);
  update_role (self);
  update_content (self);
  update_state (self);
}

LlmChatMessage *
llm_message_row_get_message (LlmMessageRow *self)
{
  g_return_val_if_fail (LLM_IS_MESSAGE_ROW (self), NULL);
  return self->message;
}

void
llm_message_row_set_model_name (LlmMessageRow *self,
                                const char    *model_name)
{
  g_return_if_fail (LLM_IS_MESSAGE_ROW (self));

  g_free (self->model_name);
  self->model_name = g_strdup (model_name);
  if (self->message != NULL)
    update_role (self);
}

void
llm_message_row_set_can_regenerate (LlmMessageRow *self,
                                    gboolean       can_regenerate)
{
  g_return_if_fail (LLM_IS_MESSAGE_ROW (self));
  gtk_widget_set_visible (GTK_WIDGET (self->regenerate_button), can_regenerate);
}

void
llm_message_row_set_can_edit (LlmMessageRow *self,
                              gboolean       can_edit)
{
  g_return_if_fail (LLM_IS_MESSAGE_ROW (self));
  gtk_widget_set_visible (GTK_WIDGET (self->edit_button), can_edit);
}

static void
copy_action (GtkWidget  *widget,
             const char *action_name,
             GVariant   *parameter)
{
  LlmMessageRow *self = LLM_MESSAGE_ROW (widget);

  if (self->message != NULL)
    gdk_clipboard_set_text (gtk_widget_get_clipboard (widget),
                            llm_chat_message_get_content (self->message));
}

LlmMessageRow *
llm_message_row_new (void)
{
  return g_object_new (LLM_TYPE_MESSAGE_ROW, NULL);
}

static void
llm_message_row_dispose (GObject *object)
{
  LlmMessageRow *self = LLM_MESSAGE_ROW (object);

  llm_message_row_set_message (self, NULL);
  gtk_widget_dispose_template (GTK_WIDGET (self), LLM_TYPE_MESSAGE_ROW);

  G_OBJECT_CLASS (llm_message_row_parent_class)->dispose (object);
}

static void
llm_message_row_finalize (GObject *object)
{
  g_free (LLM_MESSAGE_ROW (object)->model_name);

  G_OBJECT_CLASS (llm_message_row_parent_class)->finalize (object);
}

static void
llm_message_row_class_init (LlmMessageRowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = llm_message_row_dispose;
  object_class->finalize = llm_message_row_finalize;

  g_type_ensure (LLM_TYPE_MARKDOWN_VIEW);

  gtk_widget_class_set_template_from_resource (widget_class, RESOURCE_PATH "/llm-message-row.ui");
  gtk_widget_class_bind_template_child (widget_class, LlmMessageRow, role_label);
  gtk_widget_class_bind_template_child (widget_class, LlmMessageRow, bubble);
  gtk_widget_class_bind_template_child (widget_class, LlmMessageRow, content_view);
  gtk_widget_class_bind_template_child (widget_class, LlmMessageRow, spinner);
  gtk_widget_class_bind_template_child (widget_class, LlmMessageRow, footer);
  gtk_widget_class_bind_template_child (widget_class, LlmMessageRow, figures_label);
  gtk_widget_class_bind_template_child (widget_class, LlmMessageRow, edit_button);
  gtk_widget_class_bind_template_child (widget_class, LlmMessageRow, regenerate_button);

  gtk_widget_class_install_action (widget_class, "message.copy", NULL, copy_action);
}

static void
llm_message_row_init (LlmMessageRow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

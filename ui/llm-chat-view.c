/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-chat-view"

#include "config.h"

#include "llm-chat-view.h"

/* A conversation with a model. Until a model can be loaded, the composer
 * stays insensitive and the page says why. */
struct _LlmChatView
{
  AdwBin parent_instance;
};

G_DEFINE_FINAL_TYPE (LlmChatView, llm_chat_view, ADW_TYPE_BIN)

static void
llm_chat_view_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), LLM_TYPE_CHAT_VIEW);

  G_OBJECT_CLASS (llm_chat_view_parent_class)->dispose (object);
}

static void
llm_chat_view_class_init (LlmChatViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = llm_chat_view_dispose;

  gtk_widget_class_set_template_from_resource (widget_class, RESOURCE_PATH "/llm-chat-view.ui");
}

static void
llm_chat_view_init (LlmChatView *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

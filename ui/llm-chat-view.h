/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "llm-chat-session.h"
#include "llm-conversation-store.h"

G_BEGIN_DECLS

#define LLM_TYPE_CHAT_VIEW (llm_chat_view_get_type ())

G_DECLARE_FINAL_TYPE (LlmChatView, llm_chat_view, LLM, CHAT_VIEW, AdwBin)

void                  llm_chat_view_open_model       (LlmChatView *self,
                                                      const char  *model_dir);
void                  llm_chat_view_focus_prompt     (LlmChatView *self);
LlmChatSession       *llm_chat_view_get_session      (LlmChatView *self);
const char           *llm_chat_view_get_model_error  (LlmChatView *self);
gboolean              llm_chat_view_get_loading      (LlmChatView *self);
LlmConversation      *llm_chat_view_get_conversation (LlmChatView *self);
void                  llm_chat_view_set_conversation (LlmChatView     *self,
                                                      LlmConversation *conversation);
LlmConversationStore *llm_chat_view_get_store        (LlmChatView *self);

G_END_DECLS

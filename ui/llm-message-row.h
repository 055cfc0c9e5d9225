/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "llm-chat-message.h"

G_BEGIN_DECLS

#define LLM_TYPE_MESSAGE_ROW (llm_message_row_get_type ())

G_DECLARE_FINAL_TYPE (LlmMessageRow, llm_message_row, LLM, MESSAGE_ROW, AdwBin)

LlmMessageRow  *llm_message_row_new                (void);
LlmChatMessage *llm_message_row_get_message        (LlmMessageRow  *self);
void            llm_message_row_set_message        (LlmMessageRow  *self,
                                                    LlmChatMessage *message);
void            llm_message_row_set_model_name     (LlmMessageRow  *self,
                                                    const char     *model_name);
void            llm_message_row_set_can_regenerate (LlmMessageRow  *self,
                                                    gboolean        can_regenerate);
void            llm_message_row_set_can_edit       (LlmMessageRow  *self,
                                                    gboolean        can_edit);

G_END_DECLS

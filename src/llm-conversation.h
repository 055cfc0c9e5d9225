/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "llm-chat-message.h"

G_BEGIN_DECLS

/*
 * LlmConversation: a GListModel of LlmChatMessage, in order.
 *
 *   conversation = llm_conversation_new ();          // a random id
 *   llm_conversation_append (conversation, message);
 *   llm_conversation_truncate (conversation, n);     // regenerate, edit
 *   messages = llm_conversation_dup_template_messages (conversation, system_prompt);
 *
 * JSON (one file per conversation, see LlmConversationStore):
 *   {"version": 1, "id": "…", "title": "…", "model": "/path/to/model",
 *    "created": 1764161234, "modified": 1764161290,   Unix seconds
 *    "messages": [ LlmChatMessage JSON … ]}
 *
 * "title" is the first user message's first line, cut at 60 characters,
 * unless set; "modified" moves whenever a message is added, removed or
 * finished (#LlmConversation::changed says so).
 */

#define LLM_CONVERSATION_TITLE_LENGTH 60

#define LLM_CONVERSATION_ERROR (llm_conversation_error_quark ())

/**
 * LlmConversationError:
 * @LLM_CONVERSATION_ERROR_INVALID: the JSON is not a conversation: a member
 *   missing or of the wrong type, an unknown role, an id that is not a
 *   file-safe name (the message names the member)
 * @LLM_CONVERSATION_ERROR_VERSION: a version this build does not read
 */
typedef enum
{
  LLM_CONVERSATION_ERROR_INVALID,
  LLM_CONVERSATION_ERROR_VERSION,
} LlmConversationError;

GQuark llm_conversation_error_quark (void);

#define LLM_TYPE_CONVERSATION (llm_conversation_get_type ())

G_DECLARE_FINAL_TYPE (LlmConversation, llm_conversation, LLM, CONVERSATION, GObject)

LlmConversation *llm_conversation_new              (void);
LlmConversation *llm_conversation_new_from_json    (JsonObject      *object,
                                                    GError         **error);
JsonObject      *llm_conversation_to_json          (LlmConversation *self);

const char      *llm_conversation_get_id           (LlmConversation *self);
const char      *llm_conversation_get_title        (LlmConversation *self);
void             llm_conversation_set_title        (LlmConversation *self,
                                                    const char      *title);
const char      *llm_conversation_get_model        (LlmConversation *self);
void             llm_conversation_set_model        (LlmConversation *self,
                                                    const char      *model);
gint64           llm_conversation_get_created      (LlmConversation *self);
gint64           llm_conversation_get_modified     (LlmConversation *self);

void             llm_conversation_append           (LlmConversation *self,
                                                    LlmChatMessage  *message);
void             llm_conversation_truncate         (LlmConversation *self,
                                                    guint            n_messages);
LlmChatMessage  *llm_conversation_get_last         (LlmConversation *self);
JsonArray       *llm_conversation_dup_template_messages (LlmConversation *self,
                                                         const char      *system_prompt);

G_END_DECLS

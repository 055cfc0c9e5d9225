/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/*
 * LlmChatMessage: one message of a conversation.
 *
 *   message = llm_chat_message_new (LLM_CHAT_ROLE_ASSISTANT, "");
 *   llm_chat_message_set_state (message, LLM_CHAT_MESSAGE_STATE_STREAMING);
 *   llm_chat_message_append (message, "Hel");          // notify::content
 *   llm_chat_message_append (message, "lo");
 *   llm_chat_message_set_state (message, LLM_CHAT_MESSAGE_STATE_COMPLETE);
 *
 * JSON (in a saved conversation):
 *   {"role": "assistant", "content": "Hello", "state": "complete",
 *    "created": 1764161234,                       Unix seconds
 *    "n_tokens": 12, "time_to_first_token": 0.051, "tokens_per_second": 81.2,
 *    "error": "…"}                                 only when failed
 * The figures are present only when known (assistant messages).
 */

/**
 * LlmChatRole:
 * @LLM_CHAT_ROLE_SYSTEM: instructions to the model
 * @LLM_CHAT_ROLE_USER: what the person wrote
 * @LLM_CHAT_ROLE_ASSISTANT: what the model answered
 *
 * Nicks (`system`, `user`, `assistant`) are the roles of chat templates.
 */
typedef enum
{
  LLM_CHAT_ROLE_SYSTEM,
  LLM_CHAT_ROLE_USER,
  LLM_CHAT_ROLE_ASSISTANT,
} LlmChatRole;

#define LLM_TYPE_CHAT_ROLE (llm_chat_role_get_type ())
GType llm_chat_role_get_type (void);

/**
 * LlmChatMessageState:
 * @LLM_CHAT_MESSAGE_STATE_COMPLETE: whole (every user message; an answer
 *   that ended)
 * @LLM_CHAT_MESSAGE_STATE_PENDING: an answer waiting for its first token
 * @LLM_CHAT_MESSAGE_STATE_STREAMING: an answer growing token by token
 * @LLM_CHAT_MESSAGE_STATE_STOPPED: an answer the person stopped
 * @LLM_CHAT_MESSAGE_STATE_FAILED: an answer the engine could not finish;
 *   see #LlmChatMessage:error-message
 *
 * Nicks: `complete`, `pending`, `streaming`, `stopped`, `failed`. A message
 * saved while pending or streaming is restored as stopped.
 */
typedef enum
{
  LLM_CHAT_MESSAGE_STATE_COMPLETE,
  LLM_CHAT_MESSAGE_STATE_PENDING,
  LLM_CHAT_MESSAGE_STATE_STREAMING,
  LLM_CHAT_MESSAGE_STATE_STOPPED,
  LLM_CHAT_MESSAGE_STATE_FAILED,
} LlmChatMessageState;

#define LLM_TYPE_CHAT_MESSAGE_STATE (llm_chat_message_state_get_type ())
GType llm_chat_message_state_get_type (void);

#define LLM_TYPE_CHAT_MESSAGE (llm_chat_message_get_type ())

G_DECLARE_FINAL_TYPE (LlmChatMessage, llm_chat_message, LLM, CHAT_MESSAGE, GObject)

LlmChatMessage      *llm_chat_message_new               (LlmChatRole          role,
                                                         const char          *content);
LlmChatMessage      *llm_chat_message_new_from_json     (JsonObject          *object,
                                                         GError             **error);
JsonObject          *llm_chat_message_to_json           (LlmChatMessage      *self);

LlmChatRole          llm_chat_message_get_role          (LlmChatMessage      *self);
const char          *llm_chat_message_get_content       (LlmChatMessage      *self);
void                 llm_chat_message_set_content       (LlmChatMessage      *self,
                                                         const char          *content);
void                 llm_chat_message_append            (LlmChatMessage      *self,
                                                         const char          *text);
LlmChatMessageState  llm_chat_message_get_state         (LlmChatMessage      *self);
void                 llm_chat_message_set_state         (LlmChatMessage      *self,
                                                         LlmChatMessageState  state);
gint64               llm_chat_message_get_created       (LlmChatMessage      *self);
guint                llm_chat_message_get_n_tokens      (LlmChatMessage      *self);
void                 llm_chat_message_set_n_tokens      (LlmChatMessage      *self,
                                                         guint                n_tokens);
double               llm_chat_message_get_time_to_first_token (LlmChatMessage *self);
void                 llm_chat_message_set_time_to_first_token (LlmChatMessage *self,
                                                               double          seconds);
double               llm_chat_message_get_tokens_per_second   (LlmChatMessage *self);
void                 llm_chat_message_set_tokens_per_second   (LlmChatMessage *self,
                                                               double          rate);
const char          *llm_chat_message_get_error_message (LlmChatMessage      *self);
void                 llm_chat_message_set_failed        (LlmChatMessage      *self,
                                                         const GError        *error);

G_END_DECLS

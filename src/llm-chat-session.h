/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "llm-conversation.h"

G_BEGIN_DECLS

/*
 * LlmChatSession: a model loaded on this machine, answering conversations
 * one at a time (the distributed pipeline will answer through the same
 * calls).
 *
 *   llm_chat_session_load_async (model_dir, cancellable, loaded_cb, data);
 *   session = llm_chat_session_load_finish (result, &error);
 *   label = llm_chat_session_get_name (session);             // and the others
 *
 *   llm_conversation_append (conversation, user_message);
 *   llm_chat_session_respond_async (session, conversation, &settings,
 *                                   cancellable, responded_cb, data);
 *
 * respond appends an assistant LlmChatMessage to the conversation at once
 * (state pending) and streams the answer into it, on the main context, as
 * the engine produces it on its threads; cancelling stops it within one
 * token (state stopped). Its figures (time to first token, tokens per
 * second) are set when it ends.
 *
 * The prompt is the conversation through the model's chat template, or —
 * for a model without one, a plain language model — the messages' text
 * run together, continued. The KV cache keeps the longest prefix shared
 * with the previous prompt: a follow-up question costs only its new tokens.
 */

/**
 * LlmChatSettings:
 * @temperature: sampling temperature; 0 is greedy
 * @top_p: nucleus sampling mass; 1 is off
 * @max_tokens: the most tokens of one answer
 * @system_prompt: (nullable): instructions, for models with a chat template
 * @seed: the sampler's seed
 */
typedef struct
{
  double temperature;
  double top_p;
  guint max_tokens;
  const char *system_prompt;
  guint64 seed;
} LlmChatSettings;

#define LLM_CHAT_SESSION_ERROR (llm_chat_session_error_quark ())

/**
 * LlmChatSessionError:
 * @LLM_CHAT_SESSION_ERROR_BUSY: an answer is already being generated
 * @LLM_CHAT_SESSION_ERROR_EMPTY: the conversation gives no prompt
 */
typedef enum
{
  LLM_CHAT_SESSION_ERROR_BUSY,
  LLM_CHAT_SESSION_ERROR_EMPTY,
} LlmChatSessionError;

GQuark llm_chat_session_error_quark (void);

#define LLM_TYPE_CHAT_SESSION (llm_chat_session_get_type ())

G_DECLARE_FINAL_TYPE (LlmChatSession, llm_chat_session, LLM, CHAT_SESSION, GObject)

void            llm_chat_session_load_async        (const char            *model_dir,
                                                    GCancellable          *cancellable,
                                                    GAsyncReadyCallback    callback,
                                                    gpointer               user_data);
LlmChatSession *llm_chat_session_load_finish       (GAsyncResult          *result,
                                                    GError               **error);
void            llm_chat_session_respond_async     (LlmChatSession        *self,
                                                    LlmConversation       *conversation,
                                                    const LlmChatSettings *settings,
                                                    GCancellable          *cancellable,
                                                    GAsyncReadyCallback    callback,
                                                    gpointer               user_data);
gboolean        llm_chat_session_respond_finish    (LlmChatSession        *self,
                                                    GAsyncResult          *result,
                                                    GError               **error);

const char     *llm_chat_session_get_model_dir     (LlmChatSession        *self);
const char     *llm_chat_session_get_name          (LlmChatSession        *self);
const char     *llm_chat_session_get_architecture  (LlmChatSession        *self);
guint64         llm_chat_session_get_n_params      (LlmChatSession        *self);
const char     *llm_chat_session_get_dtype         (LlmChatSession        *self);
guint           llm_chat_session_get_context_length (LlmChatSession       *self);
gboolean        llm_chat_session_get_has_chat_template (LlmChatSession    *self);
gboolean        llm_chat_session_get_busy          (LlmChatSession        *self);

G_END_DECLS

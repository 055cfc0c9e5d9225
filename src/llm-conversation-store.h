/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "llm-conversation.h"

G_BEGIN_DECLS

/*
 * LlmConversationStore: the saved conversations, a GListModel of
 * LlmConversation, most recently modified first. One JSON file per
 * conversation, `ID.json`, in a directory (the app uses
 * DATA_DIR/conversations).
 *
 *   store = llm_conversation_store_new (directory);
 *   g_signal_connect (store, "file-damaged", G_CALLBACK (report), window);
 *   llm_conversation_store_load_async (store, NULL, loaded_cb, data);
 *   llm_conversation_store_add (store, conversation);     // listed, not yet saved
 *   llm_conversation_store_save_async (store, conversation, NULL, saved_cb, data);
 *   llm_conversation_store_delete_async (store, conversation, NULL, deleted_cb, data);
 *
 * Files are read and written on worker threads. A save writes a temporary
 * file and renames it over the old one: a full disk fails the save (with
 * the error) and leaves the previous file whole. A file that cannot be read
 * as a conversation is renamed `ID.json.damaged` (never deleted: a person
 * may want it back) and reported by ::file-damaged; the others load.
 */

#define LLM_TYPE_CONVERSATION_STORE (llm_conversation_store_get_type ())

G_DECLARE_FINAL_TYPE (LlmConversationStore, llm_conversation_store, LLM, CONVERSATION_STORE, GObject)

LlmConversationStore *llm_conversation_store_new           (const char            *directory);
const char           *llm_conversation_store_get_directory (LlmConversationStore  *self);
void                  llm_conversation_store_load_async    (LlmConversationStore  *self,
                                                            GCancellable          *cancellable,
                                                            GAsyncReadyCallback    callback,
                                                            gpointer               user_data);
gboolean              llm_conversation_store_load_finish   (LlmConversationStore  *self,
                                                            GAsyncResult          *result,
                                                            GError               **error);
void                  llm_conversation_store_add           (LlmConversationStore  *self,
                                                            LlmConversation       *conversation);
LlmConversation      *llm_conversation_store_lookup        (LlmConversationStore  *self,
                                                            const char            *id);
void                  llm_conversation_store_save_async    (LlmConversationStore  *self,
                                                            LlmConversation       *conversation,
                                                            GCancellable          *cancellable,
                                                            GAsyncReadyCallback    callback,
                                                            gpointer               user_data);
gboolean              llm_conversation_store_save_finish   (LlmConversationStore  *self,
                                                            GAsyncResult          *result,
                                                            GError               **error);
void                  llm_conversation_store_delete_async  (LlmConversationStore  *self,
                                                            LlmConversation       *conversation,
                                                            GCancellable          *cancellable,
                                                            GAsyncReadyCallback    callback,
                                                            gpointer               user_data);
gboolean              llm_conversation_store_delete_finish (LlmConversationStore  *self,
                                                            GAsyncResult          *result,
                                                            GError               **error);

G_END_DECLS

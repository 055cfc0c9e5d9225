/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

/*
 * LlmShard: a slice of a model hosted by THIS node (a peer's slices are
 * LlmPeerShard ranges in LlmPeer). LlmNode holds its shards in a
 * GListModel; LlmCoverage counts the ready ones as replicas.
 *
 *   shard = llm_shard_new ("stories260K", "main", 0, 4);
 *   llm_shard_set_state (shard, LLM_SHARD_STATE_DOWNLOADING);
 *   llm_shard_set_progress (shard, 0.5);
 *   llm_shard_set_failed (shard, error);          // state FAILED + message
 */

/**
 * LlmShardState:
 * @LLM_SHARD_STATE_MISSING: the weights are not on this machine
 * @LLM_SHARD_STATE_DOWNLOADING: the weights are being fetched
 * @LLM_SHARD_STATE_LOADING: the engine is mapping and preparing them
 * @LLM_SHARD_STATE_READY: the layers can run: the shard serves
 * @LLM_SHARD_STATE_FAILED: downloading or loading failed; see
 *   #LlmShard:error-message
 */
typedef enum
{
  LLM_SHARD_STATE_MISSING,
  LLM_SHARD_STATE_DOWNLOADING,
  LLM_SHARD_STATE_LOADING,
  LLM_SHARD_STATE_READY,
  LLM_SHARD_STATE_FAILED,
} LlmShardState;

#define LLM_TYPE_SHARD_STATE (llm_shard_state_get_type ())
GType llm_shard_state_get_type (void);

#define LLM_TYPE_SHARD (llm_shard_get_type ())

G_DECLARE_FINAL_TYPE (LlmShard, llm_shard, LLM, SHARD, GObject)

LlmShard      *llm_shard_new               (const char    *model_id,
                                            const char    *revision,
                                            guint          first_layer,
                                            guint          last_layer);

const char    *llm_shard_get_model_id      (LlmShard      *self);
const char    *llm_shard_get_revision      (LlmShard      *self);
guint          llm_shard_get_first_layer   (LlmShard      *self);
guint          llm_shard_get_last_layer    (LlmShard      *self);
guint          llm_shard_get_n_layers      (LlmShard      *self);
gboolean       llm_shard_holds_layer       (LlmShard      *self,
                                            guint          layer);
const char    *llm_shard_get_dtype         (LlmShard      *self);
void           llm_shard_set_dtype         (LlmShard      *self,
                                            const char    *dtype);
LlmShardState  llm_shard_get_state         (LlmShard      *self);
void           llm_shard_set_state         (LlmShard      *self,
                                            LlmShardState  state);
double         llm_shard_get_progress      (LlmShard      *self);
void           llm_shard_set_progress      (LlmShard      *self,
                                            double         progress);
const char    *llm_shard_get_error_message (LlmShard      *self);
void           llm_shard_set_failed        (LlmShard      *self,
                                            const GError  *error);

G_END_DECLS

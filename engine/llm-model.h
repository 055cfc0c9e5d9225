/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "llm-config.h"
#include "llm-pool.h"
#include "llm-safetensors.h"

G_BEGIN_DECLS

#define LLM_MODEL_ERROR (llm_model_error_quark ())

typedef enum
{
  LLM_MODEL_ERROR_INVALID,      /* a tensor missing, or its shape disagreeing with config.json */
  LLM_MODEL_ERROR_UNSUPPORTED,  /* a dtype the engine does not compute with */
  LLM_MODEL_ERROR_CACHE_FULL,   /* the session's KV cache reached its byte budget */
  LLM_MODEL_ERROR_BAD_TOKEN,    /* a token id outside the vocabulary */
} LlmModelError;

/* A model folder, opened: its configuration and the headers of its weights.
 * Nothing is mapped until a head or a layer range needs it. */
typedef struct _LlmModel LlmModel;

/* The part of a model that stays with the client: token embeddings, and the
 * final norm and lm_head that turn hidden states into logits. */
typedef struct _LlmHead LlmHead;

/* Layers [begin, end) of a model: hidden states in, hidden states out. A
 * whole model is the head and the range [0, n_layers); a chain of ranges
 * computes the same as the whole. */
typedef struct _LlmLayers LlmLayers;

/* One session's keys and values for a layer range, so that each new token
 * attends to all before it without recomputing them. */
typedef struct _LlmKvCache LlmKvCache;

GQuark           llm_model_error_quark      (void);

LlmModel        *llm_model_open             (const char      *model_dir,
                                             GError         **error);
void             llm_model_free             (LlmModel        *model);
const LlmConfig *llm_model_get_config       (LlmModel        *model);
LlmWeights      *llm_model_get_weights      (LlmModel        *model);
const char      *llm_model_get_dir          (LlmModel        *model);
LlmDtype         llm_model_get_dtype        (LlmModel        *model);
guint64          llm_model_get_n_params     (LlmModel        *model);

LlmHead         *llm_head_new               (LlmModel        *model,
                                             GError         **error);
void             llm_head_free              (LlmHead         *head);
gboolean         llm_head_embed             (LlmHead         *head,
                                             const int       *tokens,
                                             int              n,
                                             float           *hidden,
                                             GError         **error);
void             llm_head_logits            (LlmHead         *head,
                                             LlmPool         *pool,
                                             const float     *hidden,
                                             int              n,
                                             float           *logits);
guint64          llm_head_get_bytes         (LlmHead         *head);

LlmLayers       *llm_layers_new             (LlmModel        *model,
                                             int              begin,
                                             int              end,
                                             GError         **error);
void             llm_layers_free            (LlmLayers       *layers);
int              llm_layers_get_begin       (LlmLayers       *layers);
int              llm_layers_get_end         (LlmLayers       *layers);
guint64          llm_layers_get_bytes       (LlmLayers       *layers);
gboolean         llm_layers_forward         (LlmLayers       *layers,
                                             LlmPool         *pool,
                                             LlmKvCache      *cache,
                                             float           *hidden,
                                             int              n,
                                             GCancellable    *cancellable,
                                             GError         **error);

LlmKvCache      *llm_kv_cache_new           (LlmLayers       *layers,
                                             guint64          budget_bytes);
void             llm_kv_cache_free          (LlmKvCache      *cache);
int              llm_kv_cache_get_length    (LlmKvCache      *cache);
int              llm_kv_cache_get_capacity  (LlmKvCache      *cache);
void             llm_kv_cache_truncate      (LlmKvCache      *cache,
                                             int              length);
guint64          llm_kv_cache_get_bytes_per_token (LlmKvCache *cache);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LlmModel, llm_model_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LlmHead, llm_head_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LlmLayers, llm_layers_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LlmKvCache, llm_kv_cache_free)

G_END_DECLS

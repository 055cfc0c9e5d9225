/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* How the next token is drawn from the logits, in the order transformers
 * applies its processors: repetition penalty, temperature, top-k, top-p,
 * min-p. A temperature of 0 is greedy. */
typedef struct
{
  float temperature;         /* 0: greedy */
  int top_k;                 /* 0: off */
  float top_p;               /* 1: off */
  float min_p;               /* 0: off */
  float repetition_penalty;  /* 1: off */
  guint64 seed;
} LlmSamplerParams;

#define LLM_SAMPLER_PARAMS_DEFAULT ((LlmSamplerParams) { 1.0f, 0, 1.0f, 0.0f, 1.0f, 0 })

typedef struct _LlmSampler LlmSampler;

LlmSampler *llm_sampler_new    (const LlmSamplerParams *params,
                                int                     vocab_size);
void        llm_sampler_free   (LlmSampler             *sampler);
/* Draws a token from logits (vocab_size; modified), given the tokens so far
 * (for the repetition penalty). */
int         llm_sampler_sample (LlmSampler             *sampler,
                                float                  *logits,
                                const int              *history,
                                int                     n_history);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LlmSampler, llm_sampler_free)

G_END_DECLS

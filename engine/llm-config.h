/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define LLM_CONFIG_ERROR (llm_config_error_quark ())

typedef enum
{
  LLM_CONFIG_ERROR_INVALID,      /* not JSON, or a key of the wrong type or value */
  LLM_CONFIG_ERROR_UNSUPPORTED,  /* an architecture or feature the engine lacks */
} LlmConfigError;

typedef enum
{
  LLM_ARCH_LLAMA,    /* LlamaForCausalLM: Llama 2, Llama 3 / 3.x */
  LLM_ARCH_MISTRAL,  /* MistralForCausalLM */
  LLM_ARCH_QWEN2,    /* Qwen2ForCausalLM: q, k and v biases */
  LLM_ARCH_QWEN3,    /* Qwen3ForCausalLM: per-head RMSNorm of q and k */
  LLM_ARCH_PHI3,     /* Phi3ForCausalLM: fused qkv_proj and gate_up_proj */
} LlmArch;

typedef enum
{
  LLM_ROPE_DEFAULT,
  LLM_ROPE_LLAMA3,    /* Llama 3.1+: low frequencies stretched by a factor */
  LLM_ROPE_LONGROPE,  /* Phi-3 128k: per-frequency factors, short and long */
} LlmRopeType;

/* The model's hyperparameters, from config.json (and the end-of-sequence
 * tokens from generation_config.json too). */
typedef struct
{
  LlmArch arch;
  char *architecture;       /* as config.json names it, e.g. "Qwen3ForCausalLM" */
  int dim;                  /* hidden_size */
  int hidden_dim;           /* intermediate_size, of the MLP */
  int n_layers;
  int n_heads;              /* query heads */
  int n_kv_heads;           /* key/value heads (grouped-query attention) */
  int head_dim;
  int vocab_size;
  int max_seq_len;          /* max_position_embeddings */
  int sliding_window;       /* 0: attention sees every earlier position */
  float norm_eps;
  gboolean tie_embeddings;  /* the head uses embed_tokens when lm_head is absent */
  gboolean qkv_bias;
  gboolean qk_norm;

  LlmRopeType rope_type;
  float rope_theta;
  float rope_factor;                 /* llama3, longrope */
  float rope_low_freq_factor;        /* llama3 */
  float rope_high_freq_factor;       /* llama3 */
  int rope_original_max_seq_len;     /* llama3, longrope */
  float *rope_short_factor;          /* longrope: (head_dim / 2) */
  float *rope_long_factor;           /* longrope: (head_dim / 2) */
  float rope_attention_factor;       /* longrope: scales cos and sin */

  int bos_token_id;                  /* -1 when none */
  int *eos_token_ids;
  int n_eos_token_ids;
} LlmConfig;

GQuark     llm_config_error_quark (void);
LlmConfig *llm_config_load        (const char  *model_dir,
                                   GError     **error);
LlmConfig *llm_config_parse       (const char  *json,
                                   gssize       length,
                                   const char  *name,
                                   GError     **error);
gboolean   llm_config_add_generation_config (LlmConfig   *config,
                                             const char  *json,
                                             gssize       length,
                                             const char  *name,
                                             GError     **error);
void       llm_config_free        (LlmConfig   *config);
gboolean   llm_config_is_eos      (const LlmConfig *config,
                                   int              token);
const char *llm_arch_to_string    (LlmArch      arch);

/* The rotary frequencies of one forward call whose last position is
 * max_position: (head_dim / 2) inverse frequencies, and the factor that
 * scales cos and sin (longrope's attention factor; 1 otherwise). */
void       llm_config_rope_frequencies (const LlmConfig *config,
                                        int              max_position,
                                        float           *inv_freq,
                                        float           *attention_factor);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LlmConfig, llm_config_free)

G_END_DECLS

/* SPDX-License-Identifier: GPL-3.0-or-later */
/* libFuzzer target: arbitrary bytes as a config.json, then as a
 * generation_config.json on top of a valid one. */

#include <stdint.h>

#include "llm-config.h"

static const char valid[] =
  "{\"architectures\": [\"Qwen3ForCausalLM\"], \"hidden_size\": 64, \"intermediate_size\": 128,"
  " \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 2,"
  " \"head_dim\": 16, \"vocab_size\": 100}";

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  LlmConfig *config;
  GError *error = NULL;

  config = llm_config_parse ((const char *) data, size, "config.json", &error);
  if (config != NULL)
    {
      float inv_freq[4096], factor;

      /* Whatever it parsed must be usable. */
      g_assert (config->head_dim >= 2 && config->head_dim / 2 <= 4096);
      llm_config_rope_frequencies (config, 0, inv_freq, &factor);
      llm_config_rope_frequencies (config, config->max_seq_len - 1, inv_freq, &factor);
      llm_config_free (config);
    }
  g_clear_error (&error);

  config = llm_config_parse (valid, -1, "config.json", NULL);
  g_assert (config != NULL);
  llm_config_add_generation_config (config, (const char *) data, size, "generation_config.json",
                                    &error);
  llm_config_free (config);
  g_clear_error (&error);

  return 0;
}

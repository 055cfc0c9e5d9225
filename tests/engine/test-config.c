/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <math.h>
#include <string.h>

#include <glib/gstdio.h>

#include "llm-config.h"

/* Qwen/Qwen3-0.6B's config.json, as published. */
static const char qwen3_config[] =
  "{\"architectures\": [\"Qwen3ForCausalLM\"], \"attention_bias\": false,"
  " \"attention_dropout\": 0.0, \"bos_token_id\": 151643, \"eos_token_id\": 151645,"
  " \"head_dim\": 128, \"hidden_act\": \"silu\", \"hidden_size\": 1024,"
  " \"initializer_range\": 0.02, \"intermediate_size\": 3072, \"max_position_embeddings\": 40960,"
  " \"max_window_layers\": 28, \"model_type\": \"qwen3\", \"num_attention_heads\": 16,"
  " \"num_hidden_layers\": 28, \"num_key_value_heads\": 8, \"rms_norm_eps\": 1e-06,"
  " \"rope_scaling\": null, \"rope_theta\": 1000000, \"sliding_window\": null,"
  " \"tie_word_embeddings\": true, \"torch_dtype\": \"bfloat16\", \"use_cache\": true,"
  " \"use_sliding_window\": false, \"vocab_size\": 151936}";

/* meta-llama/Llama-3.2-1B's config.json. */
static const char llama3_config[] =
  "{\"architectures\": [\"LlamaForCausalLM\"], \"attention_bias\": false, \"bos_token_id\": 128000,"
  " \"eos_token_id\": 128001, \"head_dim\": 64, \"hidden_act\": \"silu\", \"hidden_size\": 2048,"
  " \"intermediate_size\": 8192, \"max_position_embeddings\": 131072, \"mlp_bias\": false,"
  " \"model_type\": \"llama\", \"num_attention_heads\": 32, \"num_hidden_layers\": 16,"
  " \"num_key_value_heads\": 8, \"rms_norm_eps\": 1e-05, \"rope_scaling\": {\"factor\": 32.0,"
  " \"high_freq_factor\": 4.0, \"low_freq_factor\": 1.0, \"original_max_position_embeddings\": 8192,"
  " \"rope_type\": \"llama3\"}, \"rope_theta\": 500000.0, \"tie_word_embeddings\": true,"
  " \"torch_dtype\": \"bfloat16\", \"vocab_size\": 128256}";

static void
test_config_qwen3 (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(LlmConfig) config = llm_config_parse (qwen3_config, -1, "config.json", &error);

  g_assert_no_error (error);
  g_assert_cmpint (config->arch, ==, LLM_ARCH_QWEN3);
  g_assert_cmpint (config->dim, ==, 1024);
  g_assert_cmpint (config->hidden_dim, ==, 3072);
  g_assert_cmpint (config->n_layers, ==, 28);
  g_assert_cmpint (config->n_heads, ==, 16);
  g_assert_cmpint (config->n_kv_heads, ==, 8);
  /* An explicit head_dim, not hidden_size / heads (64). */
  g_assert_cmpint (config->head_dim, ==, 128);
  g_assert_cmpint (config->vocab_size, ==, 151936);
  g_assert_true (config->tie_embeddings);
  g_assert_true (config->qk_norm);
  g_assert_false (config->qkv_bias);
  g_assert_cmpint (config->sliding_window, ==, 0);
  g_assert_cmpfloat (config->rope_theta, ==, 1e6f);
  g_assert_cmpint (config->n_eos_token_ids, ==, 1);
  g_assert_true (llm_config_is_eos (config, 151645));

  /* Qwen3's generation_config.json lists two. */
  g_assert_true (llm_config_add_generation_config (config, "{\"eos_token_id\": [151645, 151643]}",
                                                   -1, "generation_config.json", &error));
  g_assert_cmpint (config->n_eos_token_ids, ==, 2);
  g_assert_true (llm_config_is_eos (config, 151643));
}

static void
test_config_llama3_rope (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(LlmConfig) config = llm_config_parse (llama3_config, -1, "config.json", &error);
  float inv_freq[32], plain[32], factor;

  g_assert_no_error (error);
  g_assert_cmpint (config->rope_type, ==, LLM_ROPE_LLAMA3);
  g_assert_cmpint (config->head_dim, ==, 64);
  llm_config_rope_frequencies (config, 10, inv_freq, &factor);
  g_assert_cmpfloat (factor, ==, 1);

  for (int i = 0; i < 32; i++)
    {
      double wavelength;

      plain[i] = (float) (1.0 / pow (500000.0, 2.0 * i / 64));
      wavelength = 2 * G_PI / plain[i];
      /* Short wavelengths (< 8192 / 4) kept, long ones (> 8192) divided by 32,
       * those between blended. */
      if (wavelength < 2048)
        g_assert_cmpfloat_with_epsilon (inv_freq[i], plain[i], plain[i] * 1e-6);
      else if (wavelength > 8192)
        g_assert_cmpfloat_with_epsilon (inv_freq[i], plain[i] / 32, plain[i] * 1e-6);
      else
        {
          g_assert_cmpfloat (inv_freq[i], <, plain[i]);
          g_assert_cmpfloat (inv_freq[i], >, plain[i] / 32);
        }
      if (i > 0)
        g_assert_cmpfloat (inv_freq[i], <, inv_freq[i - 1]);
    }
}

static void
test_config_longrope (void)
{
  g_autoptr(GString) json = g_string_new ("{\"architectures\": [\"Phi3ForCausalLM\"],"
                                          " \"hidden_size\": 64, \"intermediate_size\": 128,"
                                          " \"num_hidden_layers\": 2, \"num_attention_heads\": 4,"
                                          " \"vocab_size\": 100, \"max_position_embeddings\": 131072,"
                                          " \"original_max_position_embeddings\": 4096,"
                                          " \"rope_scaling\": {\"type\": \"longrope\", \"short_factor\": [");
  g_autoptr(LlmConfig) config = NULL;
  g_autoptr(GError) error = NULL;
  float short_freq[8], long_freq[8], factor;

  for (int i = 0; i < 8; i++)
    g_string_append_printf (json, "%s1.0", i ? ", " : "");
  g_string_append (json, "], \"long_factor\": [");
  for (int i = 0; i < 8; i++)
    g_string_append_printf (json, "%s%d.0", i ? ", " : "", i + 2);
  g_string_append (json, "]}}");

  config = llm_config_parse (json->str, -1, "config.json", &error);
  g_assert_no_error (error);
  g_assert_cmpint (config->rope_type, ==, LLM_ROPE_LONGROPE);
  g_assert_false (config->tie_embeddings);

  /* Up to position 4095 the short factors, from 4096 on the long ones. */
  llm_config_rope_frequencies (config, 4095, short_freq, &factor);
  llm_config_rope_frequencies (config, 4096, long_freq, &factor);
  for (int i = 0; i < 8; i++)
    g_assert_cmpfloat_with_epsilon (long_freq[i] * (i + 2), short_freq[i], short_freq[i] * 1e-6);
  /* sqrt (1 + ln (131072 / 4096) / ln 4096) */
  g_assert_cmpfloat_with_epsilon (factor, sqrt (1 + log (32.0) / log (4096.0)), 1e-6);
}

static void
check_rejected (const char *json,
                int         code,
                const char *words)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(LlmConfig) config = llm_config_parse (json, -1, "/models/x/config.json", &error);

  g_assert_null (config);
  g_assert_error (error, LLM_CONFIG_ERROR, code);
  g_assert_nonnull (strstr (error->message, "/models/x/config.json"));
  if (strstr (error->message, words) == NULL)
    g_error ("“%s” lacks “%s”", error->message, words);
}

#define LLAMA "\"architectures\": [\"LlamaForCausalLM\"], \"num_hidden_layers\": 2, "  \
              "\"vocab_size\": 10, \"intermediate_size\": 8, "

static void
test_config_rejects (void)
{
  check_rejected ("{\"hidden_size\": 4", LLM_CONFIG_ERROR_INVALID, "not valid JSON");
  check_rejected ("[1, 2]", LLM_CONFIG_ERROR_INVALID, "not a JSON object");
  check_rejected ("{\"architectures\": [\"GPT2LMHeadModel\"], \"model_type\": \"gpt2\"}",
                  LLM_CONFIG_ERROR_UNSUPPORTED, "GPT2LMHeadModel");
  check_rejected ("{" LLAMA "\"num_attention_heads\": 4}", LLM_CONFIG_ERROR_INVALID,
                  "“hidden_size” is missing");
  check_rejected ("{" LLAMA "\"hidden_size\": \"64\", \"num_attention_heads\": 4}",
                  LLM_CONFIG_ERROR_INVALID, "“hidden_size” must be an integer");
  check_rejected ("{" LLAMA "\"hidden_size\": -64, \"num_attention_heads\": 4}",
                  LLM_CONFIG_ERROR_INVALID, "out of range");
  check_rejected ("{" LLAMA "\"hidden_size\": 64, \"num_attention_heads\": 6, "
                  "\"num_key_value_heads\": 4}", LLM_CONFIG_ERROR_INVALID, "not a multiple");
  check_rejected ("{" LLAMA "\"hidden_size\": 64, \"num_attention_heads\": 4, "
                  "\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4}}",
                  LLM_CONFIG_ERROR_UNSUPPORTED, "yarn");
  check_rejected ("{" LLAMA "\"hidden_size\": 64, \"num_attention_heads\": 4, "
                  "\"hidden_act\": \"gelu\"}", LLM_CONFIG_ERROR_UNSUPPORTED, "gelu");
  check_rejected ("{" LLAMA "\"hidden_size\": 64, \"num_attention_heads\": 4, "
                  "\"eos_token_id\": [2, \"x\"]}", LLM_CONFIG_ERROR_INVALID, "eos_token_id");
}

static void
test_config_load_names_file (void)
{
  g_autofree char *dir = g_dir_make_tmp ("llm-config-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "config.json", NULL);
  g_autofree char *generation = g_build_filename (dir, "generation_config.json", NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(LlmConfig) config = NULL;

  config = llm_config_load (dir, &error);
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  g_assert_nonnull (strstr (error->message, path));
  g_clear_error (&error);

  g_assert_true (g_file_set_contents (path, qwen3_config, -1, NULL));
  g_assert_true (g_file_set_contents (generation, "{\"eos_token_id\": [151645, oops]}", -1, NULL));
  config = llm_config_load (dir, &error);
  g_assert_null (config);
  g_assert_error (error, LLM_CONFIG_ERROR, LLM_CONFIG_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, generation));
  g_clear_error (&error);

  g_assert_true (g_file_set_contents (generation, "{\"eos_token_id\": [151645, 151643]}", -1, NULL));
  config = llm_config_load (dir, &error);
  g_assert_no_error (error);
  g_assert_cmpint (config->n_eos_token_ids, ==, 2);

  g_unlink (generation);
  g_unlink (path);
  g_rmdir (dir);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/llm/config/qwen3", test_config_qwen3);
  g_test_add_func ("/llm/config/llama3-rope", test_config_llama3_rope);
  g_test_add_func ("/llm/config/longrope", test_config_longrope);
  g_test_add_func ("/llm/config/rejects", test_config_rejects);
  g_test_add_func ("/llm/config/load-names-file", test_config_load_names_file);

  return g_test_run ();
}

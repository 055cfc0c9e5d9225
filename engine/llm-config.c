/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-config"

#include "llm-config.h"

#include <json-glib/json-glib.h>
#include <math.h>

G_DEFINE_QUARK (llm-config-error-quark, llm_config_error)

static const struct {
  const char *architecture;
  const char *model_type;
  LlmArch arch;
} architectures[] = {
  { "LlamaForCausalLM", "llama", LLM_ARCH_LLAMA },
  { "MistralForCausalLM", "mistral", LLM_ARCH_MISTRAL },
  { "Qwen2ForCausalLM", "qwen2", LLM_ARCH_QWEN2 },
  { "Qwen3ForCausalLM", "qwen3", LLM_ARCH_QWEN3 },
  { "Phi3ForCausalLM", "phi3", LLM_ARCH_PHI3 },
};

const char *
llm_arch_to_string (LlmArch arch)
{
  for (guint i = 0; i < G_N_ELEMENTS (architectures); i++)
    if (architectures[i].arch == arch)
      return architectures[i].architecture;
  g_return_val_if_reached (NULL);
}

/* Reading keys: each helper checks the type and range, and names the key and
 * the file in its error. A missing optional key takes its default. */
typedef struct
{
  JsonObject *object;
  const char *name;
  GError **error;
} Reader;

static gboolean
reader_fail (Reader     *reader,
             const char *key,
             const char *problem)
{
  g_set_error (reader->error, LLM_CONFIG_ERROR, LLM_CONFIG_ERROR_INVALID,
               "%s: “%s” %s", reader->name, key, problem);
  return FALSE;
}

static gboolean
node_is_number (JsonNode *node)
{
  GType type = JSON_NODE_HOLDS_VALUE (node) ? json_node_get_value_type (node) : G_TYPE_INVALID;

  return type == G_TYPE_INT64 || type == G_TYPE_DOUBLE;
}

static gboolean
read_int (Reader     *reader,
          const char *key,
          gboolean    required,
          gint64      minimum,
          gint64      maximum,
          int        *value)
{
  JsonNode *node = json_object_get_member (reader->object, key);
  gint64 number;

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return required ? reader_fail (reader, key, "is missing") : TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_INT64)
    return reader_fail (reader, key, "must be an integer");

  number = json_node_get_int (node);
  if (number < minimum || number > maximum)
    {
      g_set_error (reader->error, LLM_CONFIG_ERROR, LLM_CONFIG_ERROR_INVALID,
                   "%s: “%s” is %" G_GINT64_FORMAT ", out of range [%" G_GINT64_FORMAT
                   ", %" G_GINT64_FORMAT "]", reader->name, key, number, minimum, maximum);
      return FALSE;
    }

  *value = (int) number;
  return TRUE;
}

static gboolean
read_float (Reader     *reader,
            const char *key,
            gboolean    required,
            double      minimum,
            double      maximum,
            float      *value)
{
  JsonNode *node = json_object_get_member (reader->object, key);
  double number;

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return required ? reader_fail (reader, key, "is missing") : TRUE;
  if (!node_is_number (node))
    return reader_fail (reader, key, "must be a number");

  number = json_node_get_double (node);
  if (!(number >= minimum && number <= maximum))
    return reader_fail (reader, key, "is out of range");

  *value = (float) number;
  return TRUE;
}

static gboolean
read_bool (Reader     *reader,
           const char *key,
           gboolean   *value)
{
  JsonNode *node = json_object_get_member (reader->object, key);

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_BOOLEAN)
    return reader_fail (reader, key, "must be true or false");

  *value = json_node_get_boolean (node);
  return TRUE;
}

static const char *
read_string (Reader     *reader,
             const char *key)
{
  JsonNode *node = json_object_get_member (reader->object, key);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

/* eos_token_id is an integer or a list of them. */
static gboolean
read_token_ids (Reader      *reader,
                const char  *key,
                GArray      *ids)
{
  JsonNode *node = json_object_get_member (reader->object, key);

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;

  if (JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *array = json_node_get_array (node);

      for (guint i = 0; i < json_array_get_length (array); i++)
        {
          JsonNode *element = json_array_get_element (array, i);
          gint64 id;

          if (!JSON_NODE_HOLDS_VALUE (element) || json_node_get_value_type (element) != G_TYPE_INT64)
            return reader_fail (reader, key, "must hold integers");
          id = json_node_get_int (element);
          if (id < 0 || id > G_MAXINT32)
            return reader_fail (reader, key, "holds a token id out of range");
          g_array_append_vals (ids, &(int) { (int) id }, 1);
        }
      return TRUE;
    }

  if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_INT64)
    {
      gint64 id = json_node_get_int (node);

      if (id < 0 || id > G_MAXINT32)
        return reader_fail (reader, key, "is a token id out of range");
      g_array_append_vals (ids, &(int) { (int) id }, 1);
      return TRUE;
    }

  return reader_fail (reader, key, "must be an integer or a list of integers");
}

static float *
read_float_list (Reader     *reader,
                 JsonObject *object,
                 const char *key,
                 guint       length)
{
  JsonNode *node = json_object_get_member (object, key);
  g_autofree float *values = NULL;
  JsonArray *array;

  if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node))
    {
      reader_fail (reader, key, "must be a list of numbers");
      return NULL;
    }

  array = json_node_get_array (node);
  if (json_array_get_length (array) != length)
    {
      g_set_error (reader->error, LLM_CONFIG_ERROR, LLM_CONFIG_ERROR_INVALID,
                   "%s: “%s” has %u numbers; head_dim / 2 = %u", reader->name, key,
                   json_array_get_length (array), length);
      return NULL;
    }

  values = g_new (float, length);
  for (guint i = 0; i < length; i++)
    {
      JsonNode *element = json_array_get_element (array, i);

      if (!node_is_number (element) || !(json_node_get_double (element) > 0))
        {
          reader_fail (reader, key, "must hold positive numbers");
          return NULL;
        }
      values[i] = (float) json_node_get_double (element);
    }

  return g_steal_pointer (&values);
}

static gboolean
read_rope_scaling (Reader    *reader,
                   LlmConfig *config)
{
  JsonNode *node = json_object_get_member (reader->object, "rope_scaling");
  Reader scaling;
  const char *type;

  if (node == NULL || JSON_NODE_HOLDS_NULL (node))
    return TRUE;
  if (!JSON_NODE_HOLDS_OBJECT (node))
    return reader_fail (reader, "rope_scaling", "must be an object or null");

  scaling = (Reader) { json_node_get_object (node), reader->name, reader->error };
  /* Older configs say "type", newer ones "rope_type". */
  type = read_string (&scaling, "rope_type");
  if (type == NULL)
    type = read_string (&scaling, "type");
  if (type == NULL)
    return reader_fail (reader, "rope_scaling", "has no “rope_type”");

  if (g_str_equal (type, "default"))
    return TRUE;

  if (g_str_equal (type, "llama3"))
    {
      config->rope_type = LLM_ROPE_LLAMA3;
      return read_float (&scaling, "factor", TRUE, 1, 1e6, &config->rope_factor) &&
             read_float (&scaling, "low_freq_factor", TRUE, 1e-6, 1e6, &config->rope_low_freq_factor) &&
             read_float (&scaling, "high_freq_factor", TRUE, 1e-6, 1e6, &config->rope_high_freq_factor) &&
             read_int (&scaling, "original_max_position_embeddings", TRUE, 1, G_MAXINT32,
                       &config->rope_original_max_seq_len) &&
             (config->rope_high_freq_factor > config->rope_low_freq_factor ||
              reader_fail (reader, "rope_scaling", "needs high_freq_factor > low_freq_factor"));
    }

  if (g_str_equal (type, "longrope") || g_str_equal (type, "su"))
    {
      guint half = config->head_dim / 2;

      config->rope_type = LLM_ROPE_LONGROPE;
      /* Phi-3 keeps original_max_position_embeddings at the top level. */
      if (!read_int (reader, "original_max_position_embeddings", FALSE, 1, G_MAXINT32,
                     &config->rope_original_max_seq_len) ||
          !read_int (&scaling, "original_max_position_embeddings", FALSE, 1, G_MAXINT32,
                     &config->rope_original_max_seq_len))
        return FALSE;
      if (config->rope_original_max_seq_len == 0)
        return reader_fail (reader, "original_max_position_embeddings",
                            "is needed by longrope scaling");
      config->rope_factor = (float) config->max_seq_len / config->rope_original_max_seq_len;
      if (!read_float (&scaling, "factor", FALSE, 1e-6, 1e6, &config->rope_factor))
        return FALSE;
      config->rope_short_factor = read_float_list (reader, scaling.object, "short_factor", half);
      if (config->rope_short_factor == NULL)
        return FALSE;
      config->rope_long_factor = read_float_list (reader, scaling.object, "long_factor", half);
      if (config->rope_long_factor == NULL)
        return FALSE;

      /* Given, or what transformers derives from the context extension. */
      config->rope_attention_factor = 1;
      if (config->rope_factor > 1)
        config->rope_attention_factor =
          sqrtf (1 + logf (config->rope_factor) / logf ((float) config->rope_original_max_seq_len));
      return read_float (&scaling, "attention_factor", FALSE, 1e-6, 1e6,
                         &config->rope_attention_factor);
    }

  g_set_error (reader->error, LLM_CONFIG_ERROR, LLM_CONFIG_ERROR_UNSUPPORTED,
               "%s: RoPE scaling “%s” is not supported (supported: llama3, longrope)",
               reader->name, type);
  return FALSE;
}

static gboolean
detect_arch (Reader    *reader,
             LlmConfig *config)
{
  JsonNode *node = json_object_get_member (reader->object, "architectures");
  const char *model_type = read_string (reader, "model_type");
  const char *architecture = NULL;

  if (node != NULL && JSON_NODE_HOLDS_ARRAY (node) &&
      json_array_get_length (json_node_get_array (node)) > 0)
    {
      JsonNode *first = json_array_get_element (json_node_get_array (node), 0);

      if (JSON_NODE_HOLDS_VALUE (first) && json_node_get_value_type (first) == G_TYPE_STRING)
        architecture = json_node_get_string (first);
    }

  for (guint i = 0; i < G_N_ELEMENTS (architectures); i++)
    if (g_strcmp0 (architecture, architectures[i].architecture) == 0 ||
        (architecture == NULL && g_strcmp0 (model_type, architectures[i].model_type) == 0))
      {
        config->arch = architectures[i].arch;
        config->architecture = g_strdup (architectures[i].architecture);
        return TRUE;
      }

  g_set_error (reader->error, LLM_CONFIG_ERROR, LLM_CONFIG_ERROR_UNSUPPORTED,
               "%s: architecture “%s” (model_type “%s”) is not supported; supported: "
               "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, "
               "Phi3ForCausalLM", reader->name, architecture ? architecture : "none",
               model_type ? model_type : "none");
  return FALSE;
}

static JsonObject *
parse_object (JsonParser  *parser,
              const char  *json,
              gssize       length,
              const char  *name,
              GError     **error)
{
  g_autoptr(GError) local_error = NULL;
  JsonNode *root;

  if (!json_parser_load_from_data (parser, json, length, &local_error))
    {
      g_set_error (error, LLM_CONFIG_ERROR, LLM_CONFIG_ERROR_INVALID,
                   "%s: not valid JSON: %s", name, local_error->message);
      return NULL;
    }

  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, LLM_CONFIG_ERROR, LLM_CONFIG_ERROR_INVALID,
                   "%s: not a JSON object", name);
      return NULL;
    }

  return json_node_get_object (root);
}

/**
 * llm_config_parse:
 * @json: the text of a config.json
 * @name: the file's name, for errors
 *
 * Returns: (transfer full): the configuration, or %NULL with @error set when
 *   the text is not JSON, a key is missing or out of range, or the
 *   architecture is not supported.
 */
LlmConfig *
llm_config_parse (const char  *json,
                  gssize       length,
                  const char  *name,
                  GError     **error)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  g_autoptr(LlmConfig) config = g_new0 (LlmConfig, 1);
  g_autoptr(GArray) eos = g_array_new (FALSE, FALSE, sizeof (int));
  JsonObject *object;
  Reader reader;

  object = parse_object (parser, json, length, name, error);
  if (object == NULL)
    return NULL;
  reader = (Reader) { object, name, error };

  config->bos_token_id = -1;
  config->norm_eps = 1e-6f;
  config->rope_theta = 10000;
  config->max_seq_len = 2048;

  if (!detect_arch (&reader, config) ||
      !read_int (&reader, "hidden_size", TRUE, 1, 1 << 20, &config->dim) ||
      !read_int (&reader, "intermediate_size", TRUE, 1, 1 << 22, &config->hidden_dim) ||
      !read_int (&reader, "num_hidden_layers", TRUE, 1, 4096, &config->n_layers) ||
      !read_int (&reader, "num_attention_heads", TRUE, 1, 4096, &config->n_heads) ||
      !read_int (&reader, "vocab_size", TRUE, 1, 1 << 24, &config->vocab_size) ||
      !read_int (&reader, "max_position_embeddings", FALSE, 1, G_MAXINT32, &config->max_seq_len) ||
      !read_float (&reader, "rms_norm_eps", FALSE, 0, 1, &config->norm_eps) ||
      !read_float (&reader, "rope_theta", FALSE, 1, 1e12, &config->rope_theta) ||
      !read_int (&reader, "bos_token_id", FALSE, 0, G_MAXINT32, &config->bos_token_id) ||
      !read_token_ids (&reader, "eos_token_id", eos))
    return NULL;

  config->n_kv_heads = config->n_heads;
  config->head_dim = config->dim / config->n_heads;
  if (!read_int (&reader, "num_key_value_heads", FALSE, 1, config->n_heads, &config->n_kv_heads) ||
      !read_int (&reader, "head_dim", FALSE, 2, 4096, &config->head_dim))
    return NULL;
  if (config->n_heads % config->n_kv_heads != 0)
    {
      g_set_error (error, LLM_CONFIG_ERROR, LLM_CONFIG_ERROR_INVALID,
                   "%s: num_attention_heads (%d) is not a multiple of num_key_value_heads (%d)",
                   name, config->n_heads, config->n_kv_heads);
      return NULL;
    }
  if (config->head_dim < 2 || config->head_dim % 2 != 0)
    return reader_fail (&reader, "head_dim", "must be even and at least 2 for rotary embeddings"),
           NULL;

  /* Phi-3 ties nothing; Qwen and small Llamas tie the head to the embeddings. */
  config->tie_embeddings = config->arch != LLM_ARCH_PHI3;
  if (!read_bool (&reader, "tie_word_embeddings", &config->tie_embeddings))
    return NULL;

  config->qkv_bias = config->arch == LLM_ARCH_QWEN2;
  config->qk_norm = config->arch == LLM_ARCH_QWEN3;
  if (config->arch == LLM_ARCH_LLAMA || config->arch == LLM_ARCH_MISTRAL)
    if (!read_bool (&reader, "attention_bias", &config->qkv_bias))
      return NULL;

  {
    /* Mistral and Phi-3 attend within sliding_window when it is set; Qwen
     * only when use_sliding_window says so. */
    gboolean use_sliding_window = config->arch == LLM_ARCH_MISTRAL || config->arch == LLM_ARCH_PHI3;

    if (!read_bool (&reader, "use_sliding_window", &use_sliding_window))
      return NULL;
    if (use_sliding_window &&
        !read_int (&reader, "sliding_window", FALSE, 1, G_MAXINT32, &config->sliding_window))
      return NULL;
  }

  {
    const char *activation = read_string (&reader, "hidden_act");

    if (activation != NULL && !g_str_equal (activation, "silu"))
      {
        g_set_error (error, LLM_CONFIG_ERROR, LLM_CONFIG_ERROR_UNSUPPORTED,
                     "%s: activation “%s” is not supported (only silu)", name, activation);
        return NULL;
      }
  }

  if (!read_rope_scaling (&reader, config))
    return NULL;

  config->n_eos_token_ids = eos->len;
  config->eos_token_ids = (int *) g_array_free (g_steal_pointer (&eos), FALSE);

  return g_steal_pointer (&config);
}

/**
 * llm_config_add_generation_config:
 *
 * Adds the end-of-sequence tokens of a generation_config.json, whose
 * eos_token_id may be a list, to those of config.json.
 */
gboolean
llm_config_add_generation_config (LlmConfig   *config,
                                  const char  *json,
                                  gssize       length,
                                  const char  *name,
                                  GError     **error)
{
  g_autoptr(JsonParser) parser = json_parser_new_immutable ();
  g_autoptr(GArray) eos = g_array_new (FALSE, FALSE, sizeof (int));
  JsonObject *object;
  Reader reader;

  object = parse_object (parser, json, length, name, error);
  if (object == NULL)
    return FALSE;
  reader = (Reader) { object, name, error };

  if (!read_token_ids (&reader, "eos_token_id", eos))
    return FALSE;

  for (guint i = 0; i < eos->len; i++)
    if (!llm_config_is_eos (config, g_array_index (eos, int, i)))
      {
        config->eos_token_ids = g_renew (int, config->eos_token_ids, config->n_eos_token_ids + 1);
        config->eos_token_ids[config->n_eos_token_ids++] = g_array_index (eos, int, i);
      }

  return TRUE;
}

static char *
read_file (const char  *model_dir,
           const char  *basename,
           gboolean     required,
           gsize       *length,
           GError     **error)
{
  g_autofree char *path = g_build_filename (model_dir, basename, NULL);
  g_autoptr(GError) local_error = NULL;
  char *contents = NULL;

  if (!g_file_get_contents (path, &contents, length, &local_error))
    {
      if (!required && g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        return NULL;
      g_propagate_prefixed_error (error, g_steal_pointer (&local_error), "%s: ", path);
    }

  return contents;
}

/**
 * llm_config_load:
 * @model_dir: a Hugging Face model folder
 *
 * Reads config.json, and generation_config.json when there is one.
 */
LlmConfig *
llm_config_load (const char  *model_dir,
                 GError     **error)
{
  g_autofree char *config_path = g_build_filename (model_dir, "config.json", NULL);
  g_autofree char *generation_path = g_build_filename (model_dir, "generation_config.json", NULL);
  g_autofree char *json = NULL;
  g_autofree char *generation_json = NULL;
  g_autoptr(LlmConfig) config = NULL;
  GError *local_error = NULL;
  gsize length;

  json = read_file (model_dir, "config.json", TRUE, &length, error);
  if (json == NULL)
    return NULL;
  config = llm_config_parse (json, length, config_path, error);
  if (config == NULL)
    return NULL;

  generation_json = read_file (model_dir, "generation_config.json", FALSE, &length, &local_error);
  if (local_error != NULL)
    {
      g_propagate_error (error, local_error);
      return NULL;
    }
  if (generation_json != NULL &&
      !llm_config_add_generation_config (config, generation_json, length, generation_path, error))
    return NULL;

  return g_steal_pointer (&config);
}

void
llm_config_free (LlmConfig *config)
{
  if (config == NULL)
    return;

  g_free (config->architecture);
  g_free (config->rope_short_factor);
  g_free (config->rope_long_factor);
  g_free (config->eos_token_ids);
  g_free (config);
}

gboolean
llm_config_is_eos (const LlmConfig *config,
                   int              token)
{
  for (int i = 0; i < config->n_eos_token_ids; i++)
    if (config->eos_token_ids[i] == token)
      return TRUE;
  return FALSE;
}

/* As transformers' modeling_rope_utils computes them. */
void
llm_config_rope_frequencies (const LlmConfig *config,
                             int              max_position,
                             float           *inv_freq,
                             float           *attention_factor)
{
  int half = config->head_dim / 2;

  *attention_factor = 1.0f;

  for (int i = 0; i < half; i++)
    {
      double frequency = 1.0 / pow (config->rope_theta, (2.0 * i) / config->head_dim);

      switch (config->rope_type)
        {
        case LLM_ROPE_DEFAULT:
          break;

        case LLM_ROPE_LLAMA3:
          {
            /* Wavelengths longer than the original context are stretched by
             * the factor, shorter ones kept, those between blended. */
            double original = config->rope_original_max_seq_len;
            double low_wavelength = original / config->rope_low_freq_factor;
            double high_wavelength = original / config->rope_high_freq_factor;
            double wavelength = 2 * G_PI / frequency;

            if (wavelength > low_wavelength)
              frequency /= config->rope_factor;
            else if (wavelength >= high_wavelength)
              {
                double smooth = (original / wavelength - config->rope_low_freq_factor) /
                                (config->rope_high_freq_factor - config->rope_low_freq_factor);
                frequency = (1 - smooth) * frequency / config->rope_factor + smooth * frequency;
              }
          }
          break;

        case LLM_ROPE_LONGROPE:
          {
            /* The long factors apply once the sequence outgrows the
             * original context. */
            const float *factors = max_position + 1 > config->rope_original_max_seq_len
                                     ? config->rope_long_factor
                                     : config->rope_short_factor;
            frequency /= factors[i];
          }
          break;

        default:
          g_assert_not_reached ();
        }

      inv_freq[i] = (float) frequency;
    }

  if (config->rope_type == LLM_ROPE_LONGROPE)
    *attention_factor = config->rope_attention_factor;
}

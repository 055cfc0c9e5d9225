/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-cli"

#include "config.h"

#include <fcntl.h>
#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "llm-cli-private.h"
#include "llm-kernels.h"
#include "llm-model.h"
#include "llm-pool.h"
#include "llm-sampler.h"
#include "llm-template.h"
#include "llm-tokenizer.h"

/* `llm-node generate` and `llm-node bench`: the whole model on this machine,
 * head and every layer, through the engine. */

/* The KV cache may take this much, at most, for one command-line session. */
#define KV_CACHE_BUDGET (G_GUINT64_CONSTANT (4) << 30)

/* Tokens decoded between two readings of the memory bandwidth. */
#define DECODE_SLICE 8

typedef struct
{
  LlmModel *model;
  LlmHead *head;
  LlmLayers *layers;
  LlmPool *pool;
} Engine;

static void
engine_clear (Engine *engine)
{
  g_clear_pointer (&engine->layers, llm_layers_free);
  g_clear_pointer (&engine->head, llm_head_free);
  g_clear_pointer (&engine->model, llm_model_free);
  g_clear_pointer (&engine->pool, llm_pool_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Engine, engine_clear)

static gboolean
engine_load (Engine      *engine,
             CliOptions  *options,
             GError     **error)
{
  if (options->model_dir == NULL)
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED, _("--model DIR is required"));
      return FALSE;
    }
  if (options->n_threads < 0)
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                           _("--threads must be 1 or more"));
      return FALSE;
    }

  engine->model = llm_model_open (options->model_dir, error);
  if (engine->model == NULL)
    return FALSE;
  engine->head = llm_head_new (engine->model, error);
  if (engine->head == NULL)
    return FALSE;
  engine->layers = llm_layers_new (engine->model, 0, llm_model_get_config (engine->model)->n_layers,
                                   error);
  if (engine->layers == NULL)
    return FALSE;
  engine->pool = llm_pool_new (options->n_threads);

  return TRUE;
}

/* Runs tokens through every layer and returns the logits of the last one. */
static gboolean
engine_step (Engine      *engine,
             LlmKvCache  *cache,
             const int   *tokens,
             int          n,
             float       *logits,
             GError     **error)
{
  const LlmConfig *config = llm_model_get_config (engine->model);
  g_autofree float *hidden = g_new (float, (gsize) n * config->dim);

  return llm_head_embed (engine->head, tokens, n, hidden, error) &&
         llm_layers_forward (engine->layers, engine->pool, cache, hidden, n, NULL, error) &&
         (llm_head_logits (engine->head, engine->pool, hidden + (gsize) (n - 1) * config->dim, 1,
                           logits), TRUE);
}

static GArray *
parse_token_ids (const char  *text,
                 GError     **error)
{
  g_autoptr(GArray) ids = g_array_new (FALSE, FALSE, sizeof (int));
  g_auto(GStrv) parts = g_strsplit (text, ",", -1);

  for (guint i = 0; parts[i] != NULL; i++)
    {
      guint64 id;

      if (!g_ascii_string_to_unsigned (g_strstrip (parts[i]), 10, 0, G_MAXINT32, &id, NULL))
        {
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                       _("--prompt-ids: “%s” is not a token id"), parts[i]);
          return NULL;
        }
      g_array_append_vals (ids, &(int) { (int) id }, 1);
    }

  return g_steal_pointer (&ids);
}

/* The prompt's token ids: given as ids, or the text encoded as Hugging Face
 * does — wrapped first as a user message in the model's chat template with
 * --chat (the template then carries the special tokens). */
static GArray *
prompt_tokens (CliOptions    *options,
               LlmTokenizer  *tokenizer,
               GError       **error)
{
  g_autoptr(GArray) ids = NULL;

  if (options->prompt_ids != NULL)
    {
      if (options->chat || options->prompt != NULL)
        {
          g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                               _("--prompt-ids goes without --prompt and --chat"));
          return NULL;
        }
      ids = parse_token_ids (options->prompt_ids, error);
    }
  else if (options->prompt == NULL)
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED,
                           _("--prompt TEXT or --prompt-ids IDS is required"));
      return NULL;
    }
  else if (options->chat)
    {
      g_autoptr(JsonBuilder) builder = json_builder_new ();
      g_autoptr(JsonNode) request = NULL;
      g_autofree char *text = NULL;

      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "messages");
      json_builder_begin_array (builder);
      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "role");
      json_builder_add_string_value (builder, "user");
      json_builder_set_member_name (builder, "content");
      json_builder_add_string_value (builder, options->prompt);
      json_builder_end_object (builder);
      json_builder_end_array (builder);
      json_builder_set_member_name (builder, "add_generation_prompt");
      json_builder_add_boolean_value (builder, TRUE);
      json_builder_end_object (builder);
      request = json_builder_get_root (builder);

      text = llm_chat_template_render_for_model (options->model_dir,
                                                 json_node_get_object (request), error);
      if (text == NULL)
        return NULL;
      ids = g_array_new (FALSE, FALSE, sizeof (int));
      if (!llm_tokenizer_encode (tokenizer, text, -1, FALSE, ids, error))
        return NULL;
    }
  else
    {
      ids = g_array_new (FALSE, FALSE, sizeof (int));
      if (!llm_tokenizer_encode (tokenizer, options->prompt, -1, TRUE, ids, error))
        return NULL;
    }

  if (ids != NULL && ids->len == 0)
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                           _("the prompt has no tokens"));
      return NULL;
    }

  return g_steal_pointer (&ids);
}

int
llm_cli_generate (CliOptions  *options,
                  int          argc,
                  char       **argv)
{
  g_auto(Engine) engine = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) tokens = NULL;
  g_autoptr(LlmTokenizer) tokenizer = NULL;
  g_autoptr(LlmTokenizerStream) stream = NULL;
  g_autoptr(LlmKvCache) cache = NULL;
  g_autoptr(LlmSampler) sampler = NULL;
  g_autofree float *logits = NULL;
  g_autofree char *rest = NULL;
  const LlmConfig *config;
  LlmSamplerParams params = LLM_SAMPLER_PARAMS_DEFAULT;

  if (options->model_dir == NULL)
    {
      g_printerr ("llm-node generate: %s\n", _("--model DIR is required"));
      return 2;
    }

  tokenizer = llm_tokenizer_load (options->model_dir, &error);
  if (tokenizer != NULL)
    tokens = prompt_tokens (options, tokenizer, &error);
  if (tokens == NULL)
    {
      g_printerr ("llm-node generate: %s\n", error->message);
      return error->domain == G_OPTION_ERROR ? 2 : 1;
    }

  if (!engine_load (&engine, options, &error))
    {
      g_printerr ("llm-node generate: %s\n", error->message);
      return g_error_matches (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED) ? 2 : 1;
    }

  config = llm_model_get_config (engine.model);
  params.temperature = options->temperature;
  params.top_p = options->top_p;
  params.seed = options->seed;
  sampler = llm_sampler_new (&params, config->vocab_size);
  cache = llm_kv_cache_new (engine.layers, KV_CACHE_BUDGET);
  logits = g_new (float, config->vocab_size);
  /* The prompt goes through the stream unprinted, so that the completion
   * decodes as the continuation of the prompt: a sentencepiece decoder
   * strips the leading space of the first token only. */
  stream = llm_tokenizer_stream_new (tokenizer, TRUE);
  for (guint i = 0; i < tokens->len; i++)
    g_free (llm_tokenizer_stream_push (stream, g_array_index (tokens, int, i)));

  /* Prefill the prompt in one batch, then one token at a time, printing
   * the text of each as soon as it is whole. */
  if (!engine_step (&engine, cache, (int *) tokens->data, tokens->len, logits, &error))
    {
      g_printerr ("llm-node generate: %s\n", error->message);
      return 1;
    }

  for (int i = 0; i < options->n_tokens; i++)
    {
      int token = llm_sampler_sample (sampler, logits, (int *) tokens->data, tokens->len);
      g_autofree char *text = NULL;

      if (llm_config_is_eos (config, token))
        break;
      g_array_append_val (tokens, token);
      text = llm_tokenizer_stream_push (stream, token);
      fputs (text, stdout);
      fflush (stdout);

      if (i + 1 == options->n_tokens)
        break;
      if (!engine_step (&engine, cache, &token, 1, logits, &error))
        {
          /* A full context ends the answer, as the end-of-sequence token would. */
          if (g_error_matches (error, LLM_MODEL_ERROR, LLM_MODEL_ERROR_CACHE_FULL))
            break;
          g_printerr ("\nllm-node generate: %s\n", error->message);
          return 1;
        }
    }

  rest = llm_tokenizer_stream_flush (stream);
  fputs (rest, stdout);
  /* Only the completion, byte for byte; a terminal gets a last newline. */
  if (isatty (STDOUT_FILENO))
    fputc ('\n', stdout);
  fflush (stdout);

  return 0;
}

/* Memory to measure bandwidth on, where the weights live: the page cache
 * holds a model file in large pages, and reads it twice as fast here as
 * 4 KiB pages of anonymous memory. The largest file of the model, whole; a
 * model too small to outgrow the caches gets 1 GiB of anonymous memory. */
typedef struct
{
  void *data;
  gsize size;
  gboolean mapped;
} BandwidthProbe;

static void
bandwidth_probe_init (BandwidthProbe *probe,
                      LlmWeights     *weights)
{
  const char *largest = NULL;
  gsize largest_size = 0;

  for (guint i = 0; i < llm_weights_get_n_tensors (weights); i++)
    {
      guint file = llm_weights_get_tensor (weights, i)->file_index;
      const char *path = llm_weights_get_file_path (weights, file);
      GStatBuf st;

      if (g_stat (path, &st) == 0 && (gsize) st.st_size > largest_size)
        {
          largest = path;
          largest_size = st.st_size;
        }
    }

  if (largest_size >= (gsize) 256 << 20)
    {
      int fd = open (largest, O_RDONLY);

      probe->data = fd >= 0 ? mmap (NULL, largest_size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
      if (fd >= 0)
        close (fd);
      if (probe->data != MAP_FAILED)
        {
          probe->size = largest_size;
          probe->mapped = TRUE;
          return;
        }
    }

  probe->size = (gsize) 1 << 30;
  probe->data = g_malloc (probe->size);
  probe->mapped = FALSE;
  memset (probe->data, 0x3f, probe->size);
}

static void
bandwidth_probe_clear (BandwidthProbe *probe)
{
  if (probe->mapped)
    munmap (probe->data, probe->size);
  else
    g_free (probe->data);
}

static int
compare_doubles (gconstpointer a,
                 gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return (x > y) - (x < y);
}

static double
median (double *values,
        int     n)
{
  qsort (values, n, sizeof (double), (GCompareFunc) compare_doubles);
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

static guint64
peak_rss_bytes (void)
{
  struct rusage usage;

  getrusage (RUSAGE_SELF, &usage);
  return (guint64) usage.ru_maxrss * 1024;
}

int
llm_cli_bench (CliOptions  *options,
               int          argc,
               char       **argv)
{
  g_auto(Engine) engine = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(LlmKvCache) cache = NULL;
  g_autofree int *prompt = NULL;
  g_autofree float *logits = NULL;
  const LlmConfig *config;
  g_autofree double *bandwidths = NULL;
  g_autofree double *fractions = NULL;
  BandwidthProbe probe;
  double bandwidth, fraction, prefill_seconds, decode_seconds, prefill_rate, decode_rate;
  guint64 bytes_per_token, peak_rss;
  int n_slices;
  gint64 start;
  GRand *rand;
  int token;

  if (options->prompt_tokens < 1 || options->gen_tokens < 1)
    {
      g_printerr (_("llm-node bench: --prompt-tokens and --gen-tokens must be 1 or more\n"));
      return 2;
    }
  if (!engine_load (&engine, options, &error))
    {
      g_printerr ("llm-node bench: %s\n", error->message);
      return g_error_matches (error, G_OPTION_ERROR, G_OPTION_ERROR_FAILED) ? 2 : 1;
    }

  config = llm_model_get_config (engine.model);
  cache = llm_kv_cache_new (engine.layers, KV_CACHE_BUDGET);
  logits = g_new (float, config->vocab_size);

  /* A prompt of random tokens: speed does not depend on which. */
  rand = g_rand_new_with_seed (1);
  prompt = g_new (int, options->prompt_tokens);
  for (int i = 0; i < options->prompt_tokens; i++)
    prompt[i] = g_rand_int_range (rand, 0, config->vocab_size);
  g_rand_free (rand);

  /* A warm-up token maps the weights in, so that page faults are not timed. */
  if (!engine_step (&engine, cache, prompt, 1, logits, &error))
    goto failed;
  llm_kv_cache_truncate (cache, 0);

  start = g_get_monotonic_time ();
  if (!engine_step (&engine, cache, prompt, options->prompt_tokens, logits, &error))
    goto failed;
  prefill_seconds = (g_get_monotonic_time () - start) * 1e-6;

  /* Decode in slices of a few tokens, each followed by one read of the
   * probe: the bandwidth this machine gives drifts from minute to minute,
   * so each slice is compared with the bandwidth of its own moment, and the
   * median of those fractions is reported. */
  /* The probe maps the model's file a second time: RSS is taken before. */
  peak_rss = peak_rss_bytes ();
  bandwidth_probe_init (&probe, llm_model_get_weights (engine.model));
  bytes_per_token = llm_layers_get_bytes (engine.layers) + llm_head_get_bytes (engine.head);
  n_slices = (options->gen_tokens + DECODE_SLICE - 1) / DECODE_SLICE;
  bandwidths = g_new (double, n_slices);
  fractions = g_new (double, n_slices);
  token = prompt[options->prompt_tokens - 1];
  decode_seconds = 0;

  for (int slice = 0, done = 0; slice < n_slices; slice++)
    {
      int n = MIN (DECODE_SLICE, options->gen_tokens - done);
      double seconds;

      start = g_get_monotonic_time ();
      for (int i = 0; i < n; i++)
        {
          token = (token * 7919 + 13) % config->vocab_size;
          if (!engine_step (&engine, cache, &token, 1, logits, &error))
            {
              bandwidth_probe_clear (&probe);
              goto failed;
            }
        }
      seconds = (g_get_monotonic_time () - start) * 1e-6;
      decode_seconds += seconds;
      done += n;

      bandwidths[slice] = llm_measure_read_bandwidth (engine.pool, probe.data, probe.size);
      fractions[slice] = n / seconds * bytes_per_token / bandwidths[slice];
    }
  bandwidth_probe_clear (&probe);

  /* What one decoded token reads: every layer's weights and the lm_head. */
  bandwidth = median (bandwidths, n_slices);
  fraction = median (fractions, n_slices);
  prefill_rate = options->prompt_tokens / prefill_seconds;
  decode_rate = options->gen_tokens / decode_seconds;

  if (options->json)
    {
      g_print ("{\"model\": \"%s\", \"architecture\": \"%s\", \"dtype\": \"%s\", "
               "\"threads\": %d, \"matmul_path\": \"%s\", "
               "\"prompt_tokens\": %d, \"gen_tokens\": %d, "
               "\"prefill_tokens_per_s\": %.2f, \"decode_tokens_per_s\": %.2f, "
               "\"peak_rss_bytes\": %" G_GUINT64_FORMAT ", "
               "\"memory_bandwidth_bytes_per_s\": %.0f, "
               "\"weight_bytes_per_token\": %" G_GUINT64_FORMAT ", "
               "\"decode_fraction_of_bandwidth_bound\": %.3f}\n",
               options->model_dir, config->architecture,
               llm_dtype_to_string (llm_model_get_dtype (engine.model)),
               llm_pool_get_n_threads (engine.pool), llm_matmul_get_path (),
               options->prompt_tokens, options->gen_tokens, prefill_rate, decode_rate,
               peak_rss, bandwidth, bytes_per_token, fraction);
    }
  else
    {
      g_autofree char *rss = g_format_size (peak_rss);
      g_autofree char *weights = g_format_size (bytes_per_token);

      g_print ("%s (%s, %s), %d threads, %s kernels\n", options->model_dir,
               config->architecture, llm_dtype_to_string (llm_model_get_dtype (engine.model)),
               llm_pool_get_n_threads (engine.pool), llm_matmul_get_path ());
      g_print ("prefill  %4d tokens  %8.2f tokens/s\n", options->prompt_tokens, prefill_rate);
      g_print ("decode   %4d tokens  %8.2f tokens/s\n", options->gen_tokens, decode_rate);
      g_print ("memory bandwidth     %8.2f GB/s (read, %d threads, median)\n", bandwidth / 1e9,
               llm_pool_get_n_threads (engine.pool));
      g_print ("weights per token    %s; bound %.2f tokens/s; decode at %.1f %% of it\n",
               weights, bandwidth / bytes_per_token, 100 * fraction);
      g_print ("peak RSS             %s\n", rss);
    }

  return 0;

failed:
  g_printerr ("llm-node bench: %s\n", error->message);
  return 1;
}

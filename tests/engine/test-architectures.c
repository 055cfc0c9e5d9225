/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

#include "llm-kernels.h"
#include "llm-model.h"
#include "llm-test-shared.h"

/* Random-weight models in the real layouts of each architecture, written by
 * tests/fixtures/make-model.py, against tests/fixtures/reference.py: a
 * forward pass in numpy (float64) written independently of the engine. */

typedef struct
{
  const char *arch;
  const char *dtype;
  int n_tokens;
  int n_shards;
} Case;

static const Case cases[] = {
  { "llama2", "F32", 20, 1 },
  { "llama2", "BF16", 20, 1 },
  { "llama3", "F32", 20, 1 },
  { "llama3", "BF16", 20, 1 },
  { "mistral", "F32", 20, 1 },
  { "mistral", "BF16", 20, 3 },
  { "qwen2", "F32", 20, 1 },
  { "qwen2", "BF16", 20, 1 },
  { "qwen3", "F32", 20, 1 },
  { "qwen3", "BF16", 20, 1 },
  { "qwen3", "F16", 20, 1 },
  { "phi3", "F32", 20, 1 },
  { "phi3", "BF16", 20, 1 },
  /* Up to the original context the short factors, past it the long ones. */
  { "phi3-longrope", "F32", 24, 1 },
  { "phi3-longrope", "F32", 40, 1 },
  { "phi3-longrope", "BF16", 40, 1 },
};

static const char *
python (void)
{
  const char *path = g_getenv ("LLM_NODE_PYTHON");
  return path ? path : "/usr/bin/python3";
}

static void
run_fixture (const char *script,
             ...)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr(GError) error = NULL;
  int status;
  va_list ap;

  g_ptr_array_add (argv, g_strdup (python ()));
  g_ptr_array_add (argv, g_test_build_filename (G_TEST_DIST, "fixtures", script, NULL));
  va_start (ap, script);
  for (const char *arg = va_arg (ap, const char *); arg != NULL; arg = va_arg (ap, const char *))
    g_ptr_array_add (argv, g_strdup (arg));
  va_end (ap);
  g_ptr_array_add (argv, NULL);

  g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err,
                &status, &error);
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, NULL))
    g_error ("%s failed:\n%s%s", script, out, err);
}

/* The engine's logits at every position, from one prefill through the given
 * chain of layer ranges. */
static float *
engine_logits (LlmModel  *model,
               LlmPool   *pool,
               const int *tokens,
               int        n,
               const int *ranges,
               int        n_ranges)
{
  const LlmConfig *config = llm_model_get_config (model);
  g_autoptr(LlmHead) head = NULL;
  g_autofree float *hidden = g_new (float, (gsize) n * config->dim);
  float *logits = g_new (float, (gsize) n * config->vocab_size);
  g_autoptr(GError) error = NULL;

  head = llm_head_new (model, &error);
  g_assert_no_error (error);
  g_assert_true (llm_head_embed (head, tokens, n, hidden, &error));

  for (int r = 0; r < n_ranges; r++)
    {
      g_autoptr(LlmLayers) layers = llm_layers_new (model, ranges[r], ranges[r + 1], &error);
      g_autoptr(LlmKvCache) cache = NULL;

      g_assert_no_error (error);
      cache = llm_kv_cache_new (layers, 16 << 20);
      g_assert_true (llm_layers_forward (layers, pool, cache, hidden, n, NULL, &error));
      g_assert_no_error (error);
    }

  llm_head_logits (head, pool, hidden, n, logits);
  return logits;
}

/* The largest difference, relative to the largest reference logit. */
static double
relative_error (const float *logits,
                const float *reference,
                gsize        count)
{
  double worst = 0, scale = 1e-6;

  for (gsize i = 0; i < count; i++)
    {
      g_assert_true (isfinite (logits[i]));
      worst = MAX (worst, fabs ((double) logits[i] - reference[i]));
      scale = MAX (scale, fabs ((double) reference[i]));
    }

  return worst / scale;
}

static void
test_architecture (gconstpointer data)
{
  const Case *test = data;
  g_autofree char *dir = g_dir_make_tmp ("llm-arch-XXXXXX", NULL);
  g_autofree char *reference_path = g_build_filename (dir, "reference.f32", NULL);
  g_autofree char *model_dir = g_build_filename (dir, "model", NULL);
  g_autofree char *shards = g_strdup_printf ("%d", test->n_shards);
  g_autofree float *reference = NULL;
  g_autofree float *logits = NULL;
  g_autofree float *chained = NULL;
  g_autofree float *fast = NULL;
  g_autoptr(GString) token_list = g_string_new (NULL);
  g_autoptr(LlmModel) model = NULL;
  g_autoptr(LlmPool) pool = llm_pool_new (2);
  g_autoptr(GError) error = NULL;
  g_autofree int *tokens = g_new (int, test->n_tokens);
  const LlmConfig *config;
  int whole[2], chain[3];
  gsize length, count;
  double exact_error, fast_error;

  for (int i = 0; i < test->n_tokens; i++)
    {
      tokens[i] = (i * 37 + 11) % 496;
      g_string_append_printf (token_list, "%s%d", i ? "," : "", tokens[i]);
    }

  run_fixture ("make-model.py", "--arch", test->arch, "--dtype", test->dtype, "--out", model_dir,
               "--seed", "7", "--shards", shards, NULL);
  run_fixture ("reference.py", "--model", model_dir, "--tokens", token_list->str,
               "--out", reference_path, NULL);

  model = llm_model_open (model_dir, &error);
  g_assert_no_error (error);
  config = llm_model_get_config (model);
  count = (gsize) test->n_tokens * config->vocab_size;
  g_assert_true (g_file_get_contents (reference_path, (char **) &reference, &length, NULL));
  g_assert_cmpuint (length, ==, count * sizeof (float));

  whole[0] = 0, whole[1] = config->n_layers;
  chain[0] = 0, chain[1] = 1, chain[2] = config->n_layers;

  /* Exact: f32 activations everywhere. */
  llm_matmul_set_bf16_activations (FALSE);
  logits = engine_logits (model, pool, tokens, test->n_tokens, whole, 1);
  exact_error = relative_error (logits, reference, count);
  g_assert_cmpfloat (exact_error, <, 1e-4);

  /* A chain of ranges computes exactly what the whole does. */
  chained = engine_logits (model, pool, tokens, test->n_tokens, chain, 2);
  g_assert_cmpmem (chained, count * sizeof (float), logits, count * sizeof (float));

  /* Fast: BF16 prefill products round the activations to bf16. */
  llm_matmul_set_bf16_activations (TRUE);
  fast = engine_logits (model, pool, tokens, test->n_tokens, whole, 1);
  fast_error = relative_error (fast, reference, count);
  g_assert_cmpfloat (fast_error, <, 2e-2);

  g_test_message ("%s %s, %d tokens: largest logit error %.2e relative (exact), %.2e (%s)",
                  test->arch, test->dtype, test->n_tokens, exact_error, fast_error,
                  llm_matmul_get_path ());

  g_clear_pointer (&model, llm_model_free);
  llm_test_remove_tree (model_dir);
  g_unlink (reference_path);
  g_rmdir (dir);
}

/* A prompt, then tokens one at a time: the KV cache path gives the logits
 * of the reference at each new position. */
static void
test_architecture_decode (gconstpointer data)
{
  const char *arch = data;
  g_autofree char *dir = g_dir_make_tmp ("llm-arch-XXXXXX", NULL);
  g_autofree char *reference_path = g_build_filename (dir, "reference.f32", NULL);
  g_autofree char *model_dir = g_build_filename (dir, "model", NULL);
  g_autoptr(LlmModel) model = NULL;
  g_autoptr(LlmHead) head = NULL;
  g_autoptr(LlmLayers) layers = NULL;
  g_autoptr(LlmKvCache) cache = NULL;
  g_autoptr(LlmPool) pool = llm_pool_new (2);
  g_autoptr(GError) error = NULL;
  g_autofree float *reference = NULL;
  g_autofree float *hidden = NULL;
  g_autofree float *logits = NULL;
  static const int tokens[] = { 5, 99, 23, 400, 7, 300, 12, 150, 42, 8, 77, 256 };
  const int n = G_N_ELEMENTS (tokens), prompt = 8;
  const LlmConfig *config;
  gsize length;

  run_fixture ("make-model.py", "--arch", arch, "--dtype", "F32", "--out", model_dir, "--seed", "3",
               NULL);
  run_fixture ("reference.py", "--model", model_dir,
               "--tokens", "5,99,23,400,7,300,12,150,42,8,77,256", "--out", reference_path, NULL);
  g_assert_true (g_file_get_contents (reference_path, (char **) &reference, &length, NULL));

  model = llm_model_open (model_dir, &error);
  g_assert_no_error (error);
  config = llm_model_get_config (model);
  head = llm_head_new (model, &error);
  layers = llm_layers_new (model, 0, config->n_layers, &error);
  g_assert_no_error (error);
  cache = llm_kv_cache_new (layers, 1 << 20);
  hidden = g_new (float, (gsize) prompt * config->dim);
  logits = g_new (float, config->vocab_size);

  g_assert_true (llm_head_embed (head, tokens, prompt, hidden, &error));
  g_assert_true (llm_layers_forward (layers, pool, cache, hidden, prompt, NULL, &error));
  for (int t = prompt; t < n; t++)
    {
      g_assert_true (llm_head_embed (head, &tokens[t], 1, hidden, &error));
      g_assert_true (llm_layers_forward (layers, pool, cache, hidden, 1, NULL, &error));
      llm_head_logits (head, pool, hidden, 1, logits);
      g_assert_cmpfloat (relative_error (logits, reference + (gsize) t * config->vocab_size,
                                         config->vocab_size), <, 1e-4);
    }

  g_clear_pointer (&cache, llm_kv_cache_free);
  g_clear_pointer (&layers, llm_layers_free);
  g_clear_pointer (&head, llm_head_free);
  g_clear_pointer (&model, llm_model_free);
  llm_test_remove_tree (model_dir);
  g_unlink (reference_path);
  g_rmdir (dir);
}

/* Bytes of the process's mappings of path that are resident in memory. */
static guint64
resident_bytes_of (const char *path)
{
  g_autofree char *smaps = NULL;
  g_auto(GStrv) lines = NULL;
  gboolean in_file = FALSE;
  guint64 total = 0;

  g_assert_true (g_file_get_contents ("/proc/self/smaps", &smaps, NULL, NULL));
  lines = g_strsplit (smaps, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      /* A mapping's header line: "start-end perms offset dev inode path". */
      if (g_ascii_isxdigit (lines[i][0]) && strchr (lines[i], '-') != NULL &&
          strchr (lines[i], ' ') > strchr (lines[i], '-'))
        in_file = g_str_has_suffix (lines[i], path);
      else if (in_file && g_str_has_prefix (lines[i], "Rss:"))
        total += g_ascii_strtoull (lines[i] + 4, NULL, 10) * 1024;
    }

  return total;
}

/* A node hosting layers 10–19 of 24 maps, reads and keeps resident only
 * those layers' bytes of the file. */
static void
test_architecture_shard_residency (void)
{
  g_autofree char *dir = g_dir_make_tmp ("llm-arch-XXXXXX", NULL);
  g_autofree char *model_dir = g_build_filename (dir, "model", NULL);
  g_autofree char *file = NULL;
  g_autoptr(LlmModel) model = NULL;
  g_autoptr(LlmLayers) layers = NULL;
  g_autoptr(LlmKvCache) cache = NULL;
  g_autoptr(LlmPool) pool = llm_pool_new (2);
  g_autoptr(GError) error = NULL;
  g_autofree float *hidden = NULL;
  guint64 file_bytes, layer_bytes, resident;
  GStatBuf st;

  run_fixture ("make-model.py", "--arch", "qwen3", "--dtype", "F32", "--out", model_dir,
               "--layers", "24", NULL);
  file = g_build_filename (model_dir, "model.safetensors", NULL);
  g_assert_cmpint (g_stat (file, &st), ==, 0);
  file_bytes = st.st_size;

  model = llm_model_open (model_dir, &error);
  g_assert_no_error (error);
  /* Opening reads headers only. */
  g_assert_cmpuint (resident_bytes_of (file), ==, 0);

  layers = llm_layers_new (model, 10, 20, &error);
  g_assert_no_error (error);
  layer_bytes = llm_layers_get_bytes (layers);
  cache = llm_kv_cache_new (layers, 1 << 20);
  hidden = g_new0 (float, 4 * llm_model_get_config (model)->dim);
  for (int i = 0; i < 4 * llm_model_get_config (model)->dim; i++)
    hidden[i] = sinf (i);
  g_assert_true (llm_layers_forward (layers, pool, cache, hidden, 4, NULL, &error));
  g_assert_no_error (error);

  resident = resident_bytes_of (file);
  g_test_message ("file %" G_GUINT64_FORMAT " bytes; layers 10–19 %" G_GUINT64_FORMAT
                  " bytes; resident %" G_GUINT64_FORMAT " bytes", file_bytes, layer_bytes, resident);
  /* Every byte of the layers was read, and nothing else beyond the pages at
   * the edges of each tensor. */
  g_assert_cmpuint (resident, >=, layer_bytes);
  g_assert_cmpuint (resident, <=, layer_bytes + 2 * 4096 * 14 * 10);
  g_assert_cmpuint (resident, <, file_bytes / 2);

  g_clear_pointer (&cache, llm_kv_cache_free);
  g_clear_pointer (&layers, llm_layers_free);
  g_clear_pointer (&model, llm_model_free);
  llm_test_remove_tree (model_dir);
  g_rmdir (dir);
}

int
main (int   argc,
      char *argv[])
{
  static const char *decode_archs[] = { "llama3", "mistral", "qwen2", "qwen3", "phi3" };

  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *path = g_strdup_printf ("/llm/architectures/%s/%s/%d-tokens%s",
                                               cases[i].arch, cases[i].dtype, cases[i].n_tokens,
                                               cases[i].n_shards > 1 ? "/sharded" : "");
      g_test_add_data_func (path, &cases[i], test_architecture);
    }
  for (guint i = 0; i < G_N_ELEMENTS (decode_archs); i++)
    {
      g_autofree char *path = g_strdup_printf ("/llm/architectures/%s/decode", decode_archs[i]);
      g_test_add_data_func (path, decode_archs[i], test_architecture_decode);
    }

  g_test_add_func ("/llm/architectures/shard-residency", test_architecture_shard_residency);

  return g_test_run ();
}

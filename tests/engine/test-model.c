/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#include "llm-kernels.h"
#include "llm-test-shared.h"
#include "llm-model.h"

/* The engine on a real trained model: Karpathy's TinyStories 260K, whose
 * reference.json holds the greedy outputs of llama2.c's run.c. */

typedef struct
{
  LlmModel *model;
  LlmHead *head;
  LlmPool *pool;
} Fixture;

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  user_data)
{
  g_autofree char *dir = llm_test_dup_shared_path ("models", "stories260K", NULL);
  g_autoptr(GError) error = NULL;

  if (dir == NULL)
    return;

  fixture->model = llm_model_open (dir, &error);
  g_assert_no_error (error);
  fixture->head = llm_head_new (fixture->model, &error);
  g_assert_no_error (error);
  fixture->pool = llm_pool_new (GPOINTER_TO_INT (user_data) ? GPOINTER_TO_INT (user_data) : 2);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  user_data)
{
  g_clear_pointer (&fixture->head, llm_head_free);
  g_clear_pointer (&fixture->model, llm_model_free);
  g_clear_pointer (&fixture->pool, llm_pool_free);
}

/* Greedy generation through a chain of layer ranges, each with its own
 * session: the chain [0, a) → [a, L) must act as the whole. */
static GArray *
generate_greedy (Fixture   *fixture,
                 const int *ranges,
                 int        n_ranges,
                 GArray    *prompt,
                 int        max_positions)
{
  const LlmConfig *config = llm_model_get_config (fixture->model);
  g_autoptr(GArray) generated = g_array_new (FALSE, FALSE, sizeof (int));
  g_autofree float *hidden = g_new (float, (gsize) prompt->len * config->dim);
  g_autofree float *logits = g_new (float, config->vocab_size);
  g_autoptr(GPtrArray) layers = g_ptr_array_new_with_free_func ((GDestroyNotify) llm_layers_free);
  g_autoptr(GPtrArray) caches = g_ptr_array_new_with_free_func ((GDestroyNotify) llm_kv_cache_free);
  g_autoptr(GError) error = NULL;
  const int *tokens = (const int *) prompt->data;
  int n = prompt->len;
  int length = 0;

  for (int r = 0; r < n_ranges; r++)
    {
      LlmLayers *range = llm_layers_new (fixture->model, ranges[r], ranges[r + 1], &error);

      g_assert_no_error (error);
      g_ptr_array_add (layers, range);
      g_ptr_array_add (caches, llm_kv_cache_new (range, 64 << 20));
    }

  for (;;)
    {
      int next = 0;

      g_assert_true (llm_head_embed (fixture->head, tokens, n, hidden, &error));
      for (int r = 0; r < n_ranges; r++)
        {
          g_assert_true (llm_layers_forward (layers->pdata[r], fixture->pool, caches->pdata[r],
                                             hidden, n, NULL, &error));
          g_assert_no_error (error);
        }
      length += n;
      llm_head_logits (fixture->head, fixture->pool, hidden + (gsize) (n - 1) * config->dim, 1,
                       logits);

      for (int i = 1; i < config->vocab_size; i++)
        if (logits[i] > logits[next])
          next = i;

      /* run.c stops at BOS or EOS, as generation_config.json lists them. */
      if (llm_config_is_eos (config, next))
        break;
      g_array_append_val (generated, next);
      if (length >= max_positions)
        break;

      tokens = &g_array_index (generated, int, generated->len - 1);
      n = 1;
    }

  return g_steal_pointer (&generated);
}

static void
check_reference (Fixture   *fixture,
                 const int *ranges,
                 int        n_ranges)
{
  g_autofree char *path = g_build_filename (llm_model_get_dir (fixture->model), "reference.json",
                                            NULL);
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  JsonArray *cases;

  json_parser_load_from_file (parser, path, &error);
  g_assert_no_error (error);
  cases = json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)),
                                        "cases");
  g_assert_cmpuint (json_array_get_length (cases), >, 0);

  for (guint i = 0; i < json_array_get_length (cases); i++)
    {
      JsonObject *reference = json_array_get_object_element (cases, i);
      JsonArray *prompt_ids = json_object_get_array_member (reference, "prompt_ids");
      JsonArray *expected = json_object_get_array_member (reference, "generated_ids");
      int steps = json_object_get_int_member (reference, "steps");
      g_autoptr(GArray) prompt = g_array_new (FALSE, FALSE, sizeof (int));
      g_autoptr(GArray) generated = NULL;

      for (guint j = 0; j < json_array_get_length (prompt_ids); j++)
        g_array_append_vals (prompt, &(int) { json_array_get_int_element (prompt_ids, j) }, 1);

      /* len(prompt) + len(generated) <= steps + 1: the last token generated
       * is the one sampled at position steps - 1. */
      generated = generate_greedy (fixture, ranges, n_ranges, prompt, steps);

      g_assert_cmpuint (generated->len, ==, json_array_get_length (expected));
      for (guint j = 0; j < generated->len; j++)
        if (g_array_index (generated, int, j) != json_array_get_int_element (expected, j))
          g_error ("case %u (“%s”): token %u is %d, llama2.c says %" G_GINT64_FORMAT, i,
                   json_object_get_string_member (reference, "prompt"), j,
                   g_array_index (generated, int, j), json_array_get_int_element (expected, j));
    }
}

/* Every code path this CPU has gives llama2.c's tokens. */
static void
test_stories_reference_paths (Fixture       *fixture,
                              gconstpointer  user_data)
{
  static const char *paths[] = { "generic", "avx2", "avx512" };
  int whole[] = { 0, 5 };

  if (fixture->model == NULL)
    return;

  for (guint i = 0; i < G_N_ELEMENTS (paths); i++)
    {
      if (!llm_matmul_set_path (paths[i]))
        {
          g_test_message ("this CPU has no %s path", paths[i]);
          continue;
        }
      check_reference (fixture, whole, 1);
      g_test_message ("%s kernels, %d threads: every reference case matches",
                      paths[i], llm_pool_get_n_threads (fixture->pool));
    }
  if (!llm_matmul_set_path ("avx512"))
    llm_matmul_set_path ("avx2");
}

/* The split of rows and heads between threads changes nothing. */
static void
test_stories_reference (Fixture       *fixture,
                        gconstpointer  user_data)
{
  int whole[] = { 0, 5 };

  if (fixture->model == NULL)
    return;

  check_reference (fixture, whole, 1);
}

static void
test_stories_chain (Fixture       *fixture,
                    gconstpointer  user_data)
{
  int two[] = { 0, 2, 5 };
  int five[] = { 0, 1, 2, 3, 4, 5 };

  if (fixture->model == NULL)
    return;

  check_reference (fixture, two, 2);
  check_reference (fixture, five, 5);
}

/* Prefill of the whole prompt at once and one token at a time leave the
 * same logits. */
static void
test_stories_prefill_matches_decode (Fixture       *fixture,
                                     gconstpointer  user_data)
{
  static const int tokens[] = { 1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421 };
  int n = G_N_ELEMENTS (tokens);
  const LlmConfig *config;
  g_autoptr(LlmLayers) layers = NULL;
  g_autoptr(LlmKvCache) batch = NULL;
  g_autoptr(LlmKvCache) single = NULL;
  g_autofree float *batch_hidden = NULL;
  g_autofree float *hidden = NULL;
  g_autoptr(GError) error = NULL;

  if (fixture->model == NULL)
    return;

  config = llm_model_get_config (fixture->model);
  layers = llm_layers_new (fixture->model, 0, config->n_layers, &error);
  g_assert_no_error (error);
  batch = llm_kv_cache_new (layers, 1 << 20);
  single = llm_kv_cache_new (layers, 1 << 20);
  batch_hidden = g_new (float, (gsize) n * config->dim);
  hidden = g_new (float, config->dim);

  g_assert_true (llm_head_embed (fixture->head, tokens, n, batch_hidden, &error));
  g_assert_true (llm_layers_forward (layers, fixture->pool, batch, batch_hidden, n, NULL, &error));

  for (int t = 0; t < n; t++)
    {
      g_assert_true (llm_head_embed (fixture->head, &tokens[t], 1, hidden, &error));
      g_assert_true (llm_layers_forward (layers, fixture->pool, single, hidden, 1, NULL, &error));
      for (int i = 0; i < config->dim; i++)
        g_assert_cmpfloat_with_epsilon (hidden[i], batch_hidden[(gsize) t * config->dim + i], 1e-4);
    }
  g_assert_cmpint (llm_kv_cache_get_length (batch), ==, n);
  g_assert_cmpint (llm_kv_cache_get_length (single), ==, n);
}

/* Regenerating: truncating a session and running the same tokens again
 * gives the same result. */
static void
test_stories_truncate (Fixture       *fixture,
                       gconstpointer  user_data)
{
  static const int prompt[] = { 1, 317, 269, 368, 302 };
  static const int other[] = { 261, 376, 298 };
  const LlmConfig *config;
  g_autoptr(LlmLayers) layers = NULL;
  g_autoptr(LlmKvCache) cache = NULL;
  g_autofree float *hidden = NULL;
  g_autofree float *first = NULL;
  g_autoptr(GError) error = NULL;

  if (fixture->model == NULL)
    return;

  config = llm_model_get_config (fixture->model);
  layers = llm_layers_new (fixture->model, 0, config->n_layers, &error);
  cache = llm_kv_cache_new (layers, 1 << 20);
  hidden = g_new (float, 5 * config->dim);
  first = g_new (float, config->dim);

  g_assert_true (llm_head_embed (fixture->head, prompt, 5, hidden, &error));
  g_assert_true (llm_layers_forward (layers, fixture->pool, cache, hidden, 5, NULL, &error));
  g_assert_true (llm_head_embed (fixture->head, other, 1, hidden, &error));
  g_assert_true (llm_layers_forward (layers, fixture->pool, cache, hidden, 1, NULL, &error));
  memcpy (first, hidden, sizeof (float) * config->dim);

  /* A different continuation, then back to position 5. */
  g_assert_true (llm_head_embed (fixture->head, other + 1, 2, hidden, &error));
  g_assert_true (llm_layers_forward (layers, fixture->pool, cache, hidden, 2, NULL, &error));
  g_assert_cmpint (llm_kv_cache_get_length (cache), ==, 8);
  llm_kv_cache_truncate (cache, 5);
  g_assert_true (llm_head_embed (fixture->head, other, 1, hidden, &error));
  g_assert_true (llm_layers_forward (layers, fixture->pool, cache, hidden, 1, NULL, &error));
  g_assert_no_error (error);

  for (int i = 0; i < config->dim; i++)
    g_assert_cmpfloat (hidden[i], ==, first[i]);
}

static void
test_stories_cache_budget (Fixture       *fixture,
                           gconstpointer  user_data)
{
  static const int tokens[] = { 1, 403, 407, 261, 378, 432 };
  const LlmConfig *config;
  g_autoptr(LlmLayers) layers = NULL;
  g_autoptr(LlmKvCache) cache = NULL;
  g_autofree float *hidden = NULL;
  g_autoptr(GError) error = NULL;
  guint64 per_token;

  if (fixture->model == NULL)
    return;

  config = llm_model_get_config (fixture->model);
  layers = llm_layers_new (fixture->model, 0, config->n_layers, &error);
  cache = llm_kv_cache_new (layers, 0);
  per_token = llm_kv_cache_get_bytes_per_token (cache);
  /* 5 layers × (K + V) × 4 KV heads × head_dim 8 × 4 bytes */
  g_assert_cmpuint (per_token, ==, 5 * 2 * 4 * 8 * 4);
  llm_kv_cache_free (g_steal_pointer (&cache));

  /* Room for four positions: the fifth is refused, and the cache is kept. */
  cache = llm_kv_cache_new (layers, 4 * per_token);
  hidden = g_new (float, G_N_ELEMENTS (tokens) * config->dim);
  g_assert_true (llm_head_embed (fixture->head, tokens, 4, hidden, &error));
  g_assert_true (llm_layers_forward (layers, fixture->pool, cache, hidden, 4, NULL, &error));
  g_assert_true (llm_head_embed (fixture->head, tokens + 4, 1, hidden, &error));
  g_assert_false (llm_layers_forward (layers, fixture->pool, cache, hidden, 1, NULL, &error));
  g_assert_error (error, LLM_MODEL_ERROR, LLM_MODEL_ERROR_CACHE_FULL);
  g_assert_nonnull (strstr (error->message, "KV cache is full"));
  g_assert_cmpint (llm_kv_cache_get_length (cache), ==, 4);
}

static void
test_stories_cancel (Fixture       *fixture,
                     gconstpointer  user_data)
{
  static const int tokens[] = { 1, 403, 407 };
  const LlmConfig *config;
  g_autoptr(LlmLayers) layers = NULL;
  g_autoptr(LlmKvCache) cache = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autofree float *hidden = NULL;
  g_autoptr(GError) error = NULL;

  if (fixture->model == NULL)
    return;

  config = llm_model_get_config (fixture->model);
  layers = llm_layers_new (fixture->model, 0, config->n_layers, &error);
  cache = llm_kv_cache_new (layers, 1 << 20);
  hidden = g_new (float, 3 * config->dim);
  g_assert_true (llm_head_embed (fixture->head, tokens, 3, hidden, &error));

  g_cancellable_cancel (cancellable);
  g_assert_false (llm_layers_forward (layers, fixture->pool, cache, hidden, 3, cancellable, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (llm_kv_cache_get_length (cache), ==, 0);
}

static void
test_stories_bad_token (Fixture       *fixture,
                        gconstpointer  user_data)
{
  static const int tokens[] = { 1, 512 };
  g_autofree float *hidden = NULL;
  g_autoptr(GError) error = NULL;

  if (fixture->model == NULL)
    return;

  hidden = g_new (float, 2 * 64);
  g_assert_false (llm_head_embed (fixture->head, tokens, 2, hidden, &error));
  g_assert_error (error, LLM_MODEL_ERROR, LLM_MODEL_ERROR_BAD_TOKEN);
}

static void
test_stories_bad_range (Fixture       *fixture,
                        gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;

  if (fixture->model == NULL)
    return;

  g_assert_null (llm_layers_new (fixture->model, 3, 6, &error));
  g_assert_error (error, LLM_MODEL_ERROR, LLM_MODEL_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "5 layers"));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

#define ADD(path, func, threads) \
  g_test_add (path, Fixture, GINT_TO_POINTER (threads), fixture_set_up, func, fixture_tear_down)
  ADD ("/llm/model/stories/reference/paths", test_stories_reference_paths, 2);
  ADD ("/llm/model/stories/reference/1-thread", test_stories_reference, 1);
  ADD ("/llm/model/stories/reference/2-threads", test_stories_reference, 2);
  ADD ("/llm/model/stories/reference/3-threads", test_stories_reference, 3);
  ADD ("/llm/model/stories/chain", test_stories_chain, 2);
  ADD ("/llm/model/stories/prefill-matches-decode", test_stories_prefill_matches_decode, 2);
  ADD ("/llm/model/stories/truncate", test_stories_truncate, 2);
  ADD ("/llm/model/stories/cache-budget", test_stories_cache_budget, 2);
  ADD ("/llm/model/stories/cancel", test_stories_cancel, 2);
  ADD ("/llm/model/stories/bad-token", test_stories_bad_token, 2);
  ADD ("/llm/model/stories/bad-range", test_stories_bad_range, 2);
#undef ADD

  return g_test_run ();
}

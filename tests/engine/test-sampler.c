/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <math.h>
#include <string.h>

#include "llm-sampler.h"

/* Logits of a small vocabulary with known probabilities at temperature 1:
 * softmax(log p) = p. */
static void
fill_logits (float       *logits,
             const float *probabilities,
             int          n)
{
  for (int i = 0; i < n; i++)
    logits[i] = probabilities[i] > 0 ? logf (probabilities[i]) : -INFINITY;
}

/* How often each token is drawn in many draws. */
static void
draw_frequencies (const LlmSamplerParams *params,
                  const float            *probabilities,
                  int                     n,
                  int                     n_draws,
                  double                 *frequencies)
{
  g_autoptr(LlmSampler) sampler = llm_sampler_new (params, n);
  g_autofree float *logits = g_new (float, n);

  memset (frequencies, 0, sizeof (double) * n);
  for (int i = 0; i < n_draws; i++)
    {
      fill_logits (logits, probabilities, n);
      frequencies[llm_sampler_sample (sampler, logits, NULL, 0)] += 1.0 / n_draws;
    }
}

static const float distribution[] = { 0.05f, 0.5f, 0.3f, 0.15f };

static void
test_sampler_greedy (void)
{
  LlmSamplerParams params = LLM_SAMPLER_PARAMS_DEFAULT;
  float logits[] = { 0.1f, 2.5f, -1.0f, 2.4f };

  params.temperature = 0;
  g_autoptr(LlmSampler) sampler = llm_sampler_new (&params, 4);
  g_assert_cmpint (llm_sampler_sample (sampler, logits, NULL, 0), ==, 1);
}

static void
test_sampler_temperature_one_follows_distribution (void)
{
  LlmSamplerParams params = LLM_SAMPLER_PARAMS_DEFAULT;
  double frequencies[4];

  params.seed = 7;
  draw_frequencies (&params, distribution, 4, 40000, frequencies);
  /* 40 000 draws: a standard error under 0.0025 for each frequency. */
  for (int i = 0; i < 4; i++)
    g_assert_cmpfloat_with_epsilon (frequencies[i], distribution[i], 0.012);
}

static void
test_sampler_low_temperature_sharpens (void)
{
  LlmSamplerParams params = LLM_SAMPLER_PARAMS_DEFAULT;
  double frequencies[4];

  params.temperature = 0.5f;
  params.seed = 3;
  draw_frequencies (&params, distribution, 4, 20000, frequencies);
  /* p^2 normalized: 0.5² / (0.05² + 0.5² + 0.3² + 0.15²) = 0.68 */
  g_assert_cmpfloat_with_epsilon (frequencies[1], 0.25 / 0.365, 0.02);
}

static void
test_sampler_top_k (void)
{
  LlmSamplerParams params = LLM_SAMPLER_PARAMS_DEFAULT;
  double frequencies[4];

  params.top_k = 2;
  params.seed = 11;
  draw_frequencies (&params, distribution, 4, 20000, frequencies);
  g_assert_cmpfloat (frequencies[0], ==, 0);
  g_assert_cmpfloat (frequencies[3], ==, 0);
  g_assert_cmpfloat_with_epsilon (frequencies[1], 0.5 / 0.8, 0.02);
}

static void
test_sampler_top_p (void)
{
  LlmSamplerParams params = LLM_SAMPLER_PARAMS_DEFAULT;
  double frequencies[4];

  /* 0.5 + 0.3 reach 0.7: the nucleus is tokens 1 and 2. */
  params.top_p = 0.7f;
  params.seed = 5;
  draw_frequencies (&params, distribution, 4, 20000, frequencies);
  g_assert_cmpfloat (frequencies[0], ==, 0);
  g_assert_cmpfloat (frequencies[3], ==, 0);
  g_assert_cmpfloat_with_epsilon (frequencies[2], 0.3 / 0.8, 0.02);

  /* A tiny p keeps the most likely token alone. */
  params.top_p = 0.01f;
  draw_frequencies (&params, distribution, 4, 1000, frequencies);
  g_assert_cmpfloat_with_epsilon (frequencies[1], 1, 1e-9);
}

static void
test_sampler_min_p (void)
{
  LlmSamplerParams params = LLM_SAMPLER_PARAMS_DEFAULT;
  double frequencies[4];

  /* Tokens under 0.4 × 0.5 = 0.2 go: only 1 (0.5) and 2 (0.3) stay. */
  params.min_p = 0.4f;
  params.seed = 9;
  draw_frequencies (&params, distribution, 4, 20000, frequencies);
  g_assert_cmpfloat (frequencies[0], ==, 0);
  g_assert_cmpfloat (frequencies[3], ==, 0);
  g_assert_cmpfloat_with_epsilon (frequencies[1], 0.5 / 0.8, 0.02);
}

static void
test_sampler_repetition_penalty (void)
{
  LlmSamplerParams params = LLM_SAMPLER_PARAMS_DEFAULT;
  float logits[] = { 1.0f, 3.0f, 2.0f, -1.0f };
  int history[] = { 1, 1, 3 };

  params.temperature = 0;
  params.repetition_penalty = 2.0f;
  g_autoptr(LlmSampler) sampler = llm_sampler_new (&params, 4);
  /* Token 1 falls from 3 to 1.5, under token 2's 2; token 3's negative
   * logit is multiplied; the penalty applies once however often a token came. */
  g_assert_cmpint (llm_sampler_sample (sampler, logits, history, 3), ==, 2);
  g_assert_cmpfloat (logits[1], ==, 1.5f);
  g_assert_cmpfloat (logits[3], ==, -2.0f);
}

static void
test_sampler_seed_reproducible (void)
{
  LlmSamplerParams params = LLM_SAMPLER_PARAMS_DEFAULT;
  int first[64], second[64], other[64];
  float logits[4];

  for (int run = 0; run < 3; run++)
    {
      params.seed = run == 2 ? 43 : 42;
      g_autoptr(LlmSampler) sampler = llm_sampler_new (&params, 4);
      int *out = run == 0 ? first : run == 1 ? second : other;

      for (int i = 0; i < 64; i++)
        {
          fill_logits (logits, distribution, 4);
          out[i] = llm_sampler_sample (sampler, logits, NULL, 0);
        }
    }

  g_assert_cmpmem (first, sizeof first, second, sizeof second);
  g_assert_true (memcmp (first, other, sizeof first) != 0);
}

static void
test_sampler_large_vocabulary (void)
{
  LlmSamplerParams params = LLM_SAMPLER_PARAMS_DEFAULT;
  int n = 151936;
  g_autofree float *logits = g_new (float, n);
  g_autoptr(LlmSampler) sampler = NULL;

  params.top_k = 40;
  params.top_p = 0.9f;
  params.seed = 1;
  sampler = llm_sampler_new (&params, n);
  for (int round = 0; round < 20; round++)
    {
      int token;

      for (int i = 0; i < n; i++)
        logits[i] = (float) ((i * 2654435761u) % 1000) / 100.0f;
      logits[1234] = 30;   /* overwhelmingly likely */
      token = llm_sampler_sample (sampler, logits, NULL, 0);
      g_assert_cmpint (token, ==, 1234);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/llm/sampler/greedy", test_sampler_greedy);
  g_test_add_func ("/llm/sampler/temperature-one", test_sampler_temperature_one_follows_distribution);
  g_test_add_func ("/llm/sampler/low-temperature", test_sampler_low_temperature_sharpens);
  g_test_add_func ("/llm/sampler/top-k", test_sampler_top_k);
  g_test_add_func ("/llm/sampler/top-p", test_sampler_top_p);
  g_test_add_func ("/llm/sampler/min-p", test_sampler_min_p);
  g_test_add_func ("/llm/sampler/repetition-penalty", test_sampler_repetition_penalty);
  g_test_add_func ("/llm/sampler/seed-reproducible", test_sampler_seed_reproducible);
  g_test_add_func ("/llm/sampler/large-vocabulary", test_sampler_large_vocabulary);

  return g_test_run ();
}

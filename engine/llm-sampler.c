/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-sampler"

#include "llm-sampler.h"

#include <math.h>
#include <stdlib.h>

typedef struct
{
  float logit;
  int token;
} Candidate;

struct _LlmSampler
{
  LlmSamplerParams params;
  int vocab_size;
  guint64 state;           /* xoshiro-style state, from the seed */
  Candidate *candidates;   /* (vocab_size) */
  guint8 *seen;            /* (vocab_size) */
};

/* SplitMix64: a small, well-mixed generator; the same seed gives the same
 * tokens on every machine. */
static guint64
next_random (LlmSampler *sampler)
{
  guint64 z = (sampler->state += 0x9e3779b97f4a7c15ull);

  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double
next_uniform (LlmSampler *sampler)
{
  return (next_random (sampler) >> 11) * (1.0 / 9007199254740992.0);
}

LlmSampler *
llm_sampler_new (const LlmSamplerParams *params,
                 int                     vocab_size)
{
  LlmSampler *sampler = g_new0 (LlmSampler, 1);

  sampler->params = *params;
  sampler->vocab_size = vocab_size;
  sampler->state = params->seed;
  sampler->candidates = g_new (Candidate, vocab_size);
  sampler->seen = g_new0 (guint8, vocab_size);

  return sampler;
}

void
llm_sampler_free (LlmSampler *sampler)
{
  if (sampler == NULL)
    return;

  g_free (sampler->candidates);
  g_free (sampler->seen);
  g_free (sampler);
}

static int
compare_candidates (const void *a,
                    const void *b)
{
  const Candidate *x = a, *y = b;

  if (x->logit != y->logit)
    return x->logit > y->logit ? -1 : 1;
  return x->token - y->token;
}

/* The k most likely tokens, in no order, through a min-heap of k. */
static int
select_top_k (Candidate   *heap,
              const float *probabilities,
              int          n,
              int          k)
{
  for (int i = 0; i < n; i++)
    {
      Candidate c = { probabilities[i], i };
      int at;

      if (i < k)
        {
          /* Sift up. */
          for (at = i; at > 0 && compare_candidates (&c, &heap[(at - 1) / 2]) > 0; at = (at - 1) / 2)
            heap[at] = heap[(at - 1) / 2];
          heap[at] = c;
          continue;
        }
      if (compare_candidates (&c, &heap[0]) >= 0)
        continue;

      /* Replace the least likely, sift down. */
      for (at = 0;;)
        {
          int child = 2 * at + 1;

          if (child >= k)
            break;
          if (child + 1 < k && compare_candidates (&heap[child + 1], &heap[child]) > 0)
            child++;
          if (compare_candidates (&heap[child], &c) <= 0)
            break;
          heap[at] = heap[child];
          at = child;
        }
      heap[at] = c;
    }

  return k;
}

static int
argmax (const float *logits,
        int          count)
{
  int best = 0;

  for (int i = 1; i < count; i++)
    if (logits[i] > logits[best])
      best = i;
  return best;
}

int
llm_sampler_sample (LlmSampler *sampler,
                    float      *logits,
                    const int  *history,
                    int         n_history)
{
  const LlmSamplerParams *p = &sampler->params;
  Candidate *candidates = sampler->candidates;
  int n = sampler->vocab_size;
  double total = 0, cumulative = 0, draw;

  /* Repetition penalty (CTRL): tokens already present lose likelihood. */
  if (p->repetition_penalty != 1.0f && n_history > 0)
    {
      for (int i = 0; i < n_history; i++)
        if (history[i] >= 0 && history[i] < n && !sampler->seen[history[i]])
          {
            float *logit = &logits[history[i]];

            sampler->seen[history[i]] = 1;
            *logit = *logit > 0 ? *logit / p->repetition_penalty : *logit * p->repetition_penalty;
          }
      for (int i = 0; i < n_history; i++)
        if (history[i] >= 0 && history[i] < n)
          sampler->seen[history[i]] = 0;
    }

  if (p->temperature <= 0)
    return argmax (logits, n);

  /* Unnormalized probabilities at the temperature. */
  {
    float max = logits[argmax (logits, n)];

    for (int i = 0; i < n; i++)
      {
        logits[i] = expf ((logits[i] - max) / p->temperature);
        total += logits[i];
      }
  }

  /* Candidates: the top k, or every token that can still be drawn. A token
   * with less than (1 - top_p) / (n - 1) of the mass is never inside the
   * nucleus, so top-p sorts a few candidates, not the whole vocabulary. */
  {
    int n_candidates = 0;

    if (p->top_k > 0 && p->top_k < n)
      {
        n_candidates = select_top_k (candidates, logits, n, p->top_k);
        total = 0;
        for (int i = 0; i < n_candidates; i++)
          total += candidates[i].logit;
      }
    else
      {
        double cutoff = p->top_p < 1.0f && n > 1 ? (1.0 - p->top_p) * total / (n - 1) : 0;

        for (int i = 0; i < n; i++)
          if (logits[i] >= cutoff)
            candidates[n_candidates++] = (Candidate) { logits[i], i };
      }
    n = n_candidates;
  }
  qsort (candidates, n, sizeof (Candidate), compare_candidates);

  /* Top-p: the smallest prefix whose mass reaches p (always one token). */
  if (p->top_p < 1.0f)
    {
      int keep = 0;

      for (double mass = 0; keep < n && (keep == 0 || mass < p->top_p * total); keep++)
        mass += candidates[keep].logit;
      n = keep;
      total = 0;
      for (int i = 0; i < n; i++)
        total += candidates[i].logit;
    }

  /* Min-p: drop tokens less likely than min_p times the most likely. */
  if (p->min_p > 0.0f)
    {
      float threshold = candidates[0].logit * p->min_p;
      int keep = 1;

      while (keep < n && candidates[keep].logit >= threshold)
        keep++;
      n = keep;
      total = 0;
      for (int i = 0; i < n; i++)
        total += candidates[i].logit;
    }

  draw = next_uniform (sampler) * total;
  for (int i = 0; i < n; i++)
    {
      cumulative += candidates[i].logit;
      if (draw < cumulative)
        return candidates[i].token;
    }
  return candidates[n - 1].token;
}

/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-kernels"

/* Where the x86 paths cannot be built, they fall back to plain C; the CPU
 * check never selects them anyway. */

#include "llm-kernels-private.h"

void
llm_matmul_rows_avx2 (const float *x, int n, const LlmMatrix *w, float *out,
                      int row_begin, int row_end)
{
  llm_matmul_rows_generic (x, n, w, out, row_begin, row_end);
}

void
llm_matmul_rows_avx512bf16 (const float *x, int n, const LlmMatrix *w, float *out,
                            int row_begin, int row_end)
{
  llm_matmul_rows_generic (x, n, w, out, row_begin, row_end);
}

void
llm_matmul_rows_avx512 (const float *x, int n, const LlmMatrix *w, float *out,
                        int row_begin, int row_end)
{
  llm_matmul_rows_generic (x, n, w, out, row_begin, row_end);
}



float
llm_dot_avx2 (const float *a, const float *b, int count)
{
  return llm_dot_generic (a, b, count);
}

float
llm_dot_avx512 (const float *a, const float *b, int count)
{
  return llm_dot_generic (a, b, count);
}

void
llm_axpy_avx2 (float *y, float a, const float *x, int count)
{
  llm_axpy_generic (y, a, x, count);
}

void
llm_axpy_avx512 (float *y, float a, const float *x, int count)
{
  llm_axpy_generic (y, a, x, count);
}

void
llm_silu_mul_avx512 (float *gate, const float *up, gsize count)
{
  llm_silu_mul_generic (gate, up, count);
}

void
llm_attention_scores_avx512 (float *scores, const float *q, const float *keys, gsize stride,
                             int n_keys, int head_dim, float scale)
{
  llm_attention_scores_generic (scores, q, keys, stride, n_keys, head_dim, scale);
}

void
llm_attention_values_avx512 (float *out, const float *weights, const float *values, gsize stride,
                             int n_values, int head_dim)
{
  llm_attention_values_generic (out, weights, values, stride, n_values, head_dim);
}

/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "llm-kernels.h"

G_BEGIN_DECLS

/* One code path of the products: out rows [row_begin, row_end) of
 * out (n, w->rows) = x (n, w->cols) · wᵀ. Each path lives in a file built for
 * its instruction set and is called only on CPUs that have it. */
typedef void (*LlmMatmulRowsFunc) (const float     *x,
                                   int              n,
                                   const LlmMatrix *w,
                                   float           *out,
                                   int              row_begin,
                                   int              row_end);

void llm_matmul_rows_generic (const float *x, int n, const LlmMatrix *w, float *out,
                              int row_begin, int row_end);
void llm_matmul_rows_avx2    (const float *x, int n, const LlmMatrix *w, float *out,
                              int row_begin, int row_end);
void llm_matmul_rows_avx512  (const float *x, int n, const LlmMatrix *w, float *out,
                              int row_begin, int row_end);
void llm_matmul_rows_avx512bf16 (const float *x, int n, const LlmMatrix *w, float *out,
                                 int row_begin, int row_end);

/* The vector kernels of attention, per path. */
typedef float (*LlmDotFunc)  (const float *a, const float *b, int count);
typedef void  (*LlmAxpyFunc) (float *y, float a, const float *x, int count);
typedef void  (*LlmSiluMulFunc) (float *gate, const float *up, gsize count);

float llm_dot_generic  (const float *a, const float *b, int count);
float llm_dot_avx2     (const float *a, const float *b, int count);
float llm_dot_avx512   (const float *a, const float *b, int count);
void  llm_axpy_generic (float *y, float a, const float *x, int count);
void  llm_axpy_avx2    (float *y, float a, const float *x, int count);
void  llm_axpy_avx512  (float *y, float a, const float *x, int count);

void  llm_silu_mul_generic (float *gate, const float *up, gsize count);
void  llm_silu_mul_avx512  (float *gate, const float *up, gsize count);

typedef void (*LlmAttentionScoresFunc) (float *scores, const float *q, const float *keys,
                                        gsize stride, int n_keys, int head_dim, float scale);
typedef void (*LlmAttentionValuesFunc) (float *out, const float *weights, const float *values,
                                        gsize stride, int n_values, int head_dim);

void llm_attention_scores_generic (float *scores, const float *q, const float *keys, gsize stride,
                                   int n_keys, int head_dim, float scale);
void llm_attention_scores_avx512  (float *scores, const float *q, const float *keys, gsize stride,
                                   int n_keys, int head_dim, float scale);
void llm_attention_values_generic (float *out, const float *weights, const float *values,
                                   gsize stride, int n_values, int head_dim);
void llm_attention_values_avx512  (float *out, const float *weights, const float *values,
                                   gsize stride, int n_values, int head_dim);

/* A per-thread buffer of at least size bytes, 64-byte aligned, kept for the
 * thread's life (weights converted to f32 for a block of rows). */
float *llm_kernels_scratch (gsize size);

G_END_DECLS

/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

#include "llm-pool.h"
#include "llm-safetensors.h"

G_BEGIN_DECLS

/* A weight matrix as the checkpoint stores it: (rows, cols), row-major, in
 * F32, F16 or BF16. Products are computed in f32 whatever the storage. */
typedef struct
{
  const void *data;
  LlmDtype dtype;
  int rows;
  int cols;
} LlmMatrix;

/* One product of a batched llm_matmul(): out (n, w.rows) = x (n, cols) · wᵀ. */
typedef struct
{
  LlmMatrix w;
  float *out;
} LlmMatmul;

/* Products of the same input with several matrices (q, k and v; gate and
 * up) in one parallel step. All matrices have x's number of columns. */
void  llm_matmul          (LlmPool         *pool,
                           const float     *x,
                           int              n,
                           const LlmMatmul *products,
                           int              n_products);

/* Which code path the products take on this CPU: "avx512bf16", "avx512",
 * "avx2" or "generic". */
const char *llm_matmul_get_path (void);
/* For tests: force a path; FALSE if the CPU lacks it. */
gboolean    llm_matmul_set_path (const char *path);

/* Whether products of many tokens with BF16 weights may round the
 * activations to bf16 (on CPUs with AVX512-BF16), as PyTorch computes a
 * bf16 model: twice the speed of prefill, for a relative error of about
 * 2⁻⁹ per product. Off, every product takes f32 activations. On by default;
 * the environment variable LLM_NODE_EXACT=1 turns it off. */
gboolean    llm_matmul_get_bf16_activations (void);
void        llm_matmul_set_bf16_activations (gboolean enabled);

/* Row-wise kernels, over n rows of dim elements. */
void  llm_rmsnorm         (float           *out,
                           const float     *x,
                           const float     *weight,
                           int              n,
                           int              dim,
                           float            eps);
void  llm_silu_mul        (float           *gate,
                           const float     *up,
                           gsize            count);
void  llm_add             (float           *x,
                           const float     *y,
                           gsize            count);
void  llm_softmax         (float           *x,
                           int              count);
/* Attention of one query head: scores (n_keys) = scale · q · keys[s], and
 * out (head_dim) = Σ weights[s] · values[s]; keys and values are rows
 * stride floats apart in a KV cache. */
void  llm_attention_scores (float           *scores,
                            const float     *q,
                            const float     *keys,
                            gsize            stride,
                            int              n_keys,
                            int              head_dim,
                            float            scale);
void  llm_attention_values (float           *out,
                            const float     *weights,
                            const float     *values,
                            gsize            stride,
                            int              n_values,
                            int              head_dim);
float llm_dot             (const float     *a,
                           const float     *b,
                           int              count);
void  llm_axpy            (float           *y,
                           float            a,
                           const float     *x,
                           int              count);

/* The memory read bandwidth of this machine with the pool's threads, in
 * bytes per second, reading data (far larger than the caches) the way the
 * decode kernels read weights. */
double llm_measure_read_bandwidth (LlmPool    *pool,
                                   const void *data,
                                   gsize       bytes);

/* Converts count elements of dtype to f32. */
void  llm_convert_to_f32  (float           *out,
                           const void      *in,
                           LlmDtype         dtype,
                           gsize            count);

static inline float
llm_bf16_to_f32 (guint16 bits)
{
  union { guint32 u; float f; } v = { .u = (guint32) bits << 16 };
  return v.f;
}

float llm_f16_to_f32 (guint16 bits);

G_END_DECLS

/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-kernels"

#include "llm-kernels-private.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "llm-cpu.h"

float
llm_f16_to_f32 (guint16 bits)
{
  guint32 sign = (guint32) (bits & 0x8000) << 16;
  guint32 exponent = (bits >> 10) & 0x1f;
  guint32 mantissa = bits & 0x3ff;
  union { guint32 u; float f; } v;

  if (exponent == 0x1f)                    /* infinity or NaN */
    v.u = sign | 0x7f800000 | (mantissa << 13);
  else if (exponent != 0)                  /* normal */
    v.u = sign | ((exponent + 112) << 23) | (mantissa << 13);
  else if (mantissa == 0)                  /* zero */
    v.u = sign;
  else                                     /* subnormal: a normal f32 */
    {
      float magnitude = mantissa * (1.0f / 16777216.0f);
      v.f = magnitude;
      v.u |= sign;
    }

  return v.f;
}

void
llm_convert_to_f32 (float      *out,
                    const void *in,
                    LlmDtype    dtype,
                    gsize       count)
{
  switch (dtype)
    {
    case LLM_DTYPE_F32:
      memcpy (out, in, count * sizeof (float));
      break;
    case LLM_DTYPE_BF16:
      for (gsize i = 0; i < count; i++)
        out[i] = llm_bf16_to_f32 (((const guint16 *) in)[i]);
      break;
    case LLM_DTYPE_F16:
      for (gsize i = 0; i < count; i++)
        out[i] = llm_f16_to_f32 (((const guint16 *) in)[i]);
      break;
    default:
      g_assert_not_reached ();
    }
}

static inline float
weight_at (const LlmMatrix *w,
           gsize            index)
{
  switch (w->dtype)
    {
    case LLM_DTYPE_F32:
      return ((const float *) w->data)[index];
    case LLM_DTYPE_BF16:
      return llm_bf16_to_f32 (((const guint16 *) w->data)[index]);
    case LLM_DTYPE_F16:
      return llm_f16_to_f32 (((const guint16 *) w->data)[index]);
    default:
      g_assert_not_reached ();
    }
}

/* The portable path: plain C for any CPU. */
void
llm_matmul_rows_generic (const float     *x,
                         int              n,
                         const LlmMatrix *w,
                         float           *out,
                         int              row_begin,
                         int              row_end)
{
  for (int r = row_begin; r < row_end; r++)
    for (int t = 0; t < n; t++)
      {
        const float *xt = x + (gsize) t * w->cols;
        gsize row = (gsize) r * w->cols;
        float sum = 0;

        for (int c = 0; c < w->cols; c++)
          sum += weight_at (w, row + c) * xt[c];
        out[(gsize) t * w->rows + r] = sum;
      }
}

static const struct {
  const char *name;
  LlmMatmulRowsFunc func;
  LlmDotFunc dot;
  LlmAxpyFunc axpy;
  LlmSiluMulFunc silu_mul;
  LlmAttentionScoresFunc attention_scores;
  LlmAttentionValuesFunc attention_values;
} paths[] = {
  { "generic", llm_matmul_rows_generic, llm_dot_generic, llm_axpy_generic,
    llm_silu_mul_generic, llm_attention_scores_generic, llm_attention_values_generic },
  { "avx2", llm_matmul_rows_avx2, llm_dot_avx2, llm_axpy_avx2,
    llm_silu_mul_generic, llm_attention_scores_generic, llm_attention_values_generic },
  { "avx512", llm_matmul_rows_avx512, llm_dot_avx512, llm_axpy_avx512,
    llm_silu_mul_avx512, llm_attention_scores_avx512, llm_attention_values_avx512 },
  { "avx512bf16", llm_matmul_rows_avx512bf16, llm_dot_avx512, llm_axpy_avx512,
    llm_silu_mul_avx512, llm_attention_scores_avx512, llm_attention_values_avx512 },
};

static int bf16_activations = -1;

gboolean
llm_matmul_get_bf16_activations (void)
{
  if (G_UNLIKELY (bf16_activations < 0))
    bf16_activations = g_strcmp0 (g_getenv ("LLM_NODE_EXACT"), "1") != 0;
  return bf16_activations;
}

void
llm_matmul_set_bf16_activations (gboolean enabled)
{
  bf16_activations = enabled;
}

static int matmul_path = -1;

static gboolean
cpu_has_path (int path)
{
  const LlmCpuFeatures *features = llm_cpu_get_features ();

  switch (path)
    {
    case 0:
      return TRUE;
    case 1:
      return features->avx2;
    case 2:
      return features->avx512f;
    case 3:
      return features->avx512_bf16;
    default:
      return FALSE;
    }
}

static int
get_path (void)
{
  if (G_UNLIKELY (matmul_path < 0))
    {
      int best = 0;

      for (int i = 0; i < (int) G_N_ELEMENTS (paths); i++)
        if (cpu_has_path (i))
          best = i;
      matmul_path = best;
    }

  return matmul_path;
}

const char *
llm_matmul_get_path (void)
{
  return paths[get_path ()].name;
}

gboolean
llm_matmul_set_path (const char *name)
{
  for (int i = 0; i < (int) G_N_ELEMENTS (paths); i++)
    if (g_str_equal (paths[i].name, name) && cpu_has_path (i))
      {
        matmul_path = i;
        return TRUE;
      }
  return FALSE;
}

static void
free_scratch (gpointer data)
{
  g_free (data);
}

static GPrivate scratch_key = G_PRIVATE_INIT (free_scratch);
static GPrivate scratch_size_key;

float *
llm_kernels_scratch (gsize size)
{
  gsize current = GPOINTER_TO_SIZE (g_private_get (&scratch_size_key));
  float *scratch = g_private_get (&scratch_key);

  if (current < size)
    {
      /* g_private_replace frees the old buffer. */
      scratch = g_aligned_alloc (1, size, 64);
      g_private_replace (&scratch_key, scratch);
      g_private_set (&scratch_size_key, GSIZE_TO_POINTER (size));
    }

  return scratch;
}

typedef struct
{
  const float *x;
  int n;
  const LlmMatmul *products;
  int n_products;
  int total_rows;
  int chunk;               /* rows a thread takes at a time */
  atomic_int next_chunk;
  LlmMatmulRowsFunc rows_func;
} MatmulJob;

/* The rows of all products together, so that q, k and v (or gate and up)
 * cost one parallel step, are dealt out in chunks to whichever thread is
 * free: threads do not read memory at the same speed, and waiting for the
 * slower one cost a tenth of decode time with even shares. */
static void
matmul_worker (void *data,
               int   thread_index,
               int   n_threads)
{
  MatmulJob *job = data;
  int chunk;

  while ((chunk = atomic_fetch_add_explicit (&job->next_chunk, 1, memory_order_relaxed)) *
         job->chunk < job->total_rows)
    {
      int begin = chunk * job->chunk;
      int end = MIN (begin + job->chunk, job->total_rows);
      int offset = 0;

      for (int p = 0; p < job->n_products && begin < end; p++)
        {
          const LlmMatmul *product = &job->products[p];
          int rows = product->w.rows;
          int local_begin = MAX (begin - offset, 0);
          int local_end = MIN (end - offset, rows);

          if (local_begin < local_end)
            job->rows_func (job->x, job->n, &product->w, product->out, local_begin, local_end);
          offset += rows;
        }
    }
}

void
llm_matmul (LlmPool         *pool,
            const float     *x,
            int              n,
            const LlmMatmul *products,
            int              n_products)
{
  MatmulJob job = { x, n, products, n_products, 0, 0, 0, paths[get_path ()].func };
  int n_threads = llm_pool_get_n_threads (pool);
  /* GEMM tiles are 3 or 4 rows: chunks are multiples of 12. */
  int granule = n > 1 ? 12 : 4;

  for (int p = 0; p < n_products; p++)
    {
      g_assert (products[p].w.cols == products[0].w.cols);
      job.total_rows += products[p].w.rows;
    }

  /* Eight chunks per thread balance the load; chunks of at least 64 rows
   * keep the far-apart streams of the decode kernels far apart. */
  job.chunk = MAX (job.total_rows / (8 * n_threads), n > 1 ? 12 : 64);
  job.chunk = (job.chunk + granule - 1) / granule * granule;

  llm_pool_run (pool, matmul_worker, &job);
}

void
llm_rmsnorm (float       *out,
             const float *x,
             const float *weight,
             int          n,
             int          dim,
             float        eps)
{
  for (int t = 0; t < n; t++)
    {
      const float *xt = x + (gsize) t * dim;
      float *ot = out + (gsize) t * dim;
      double sum = 0;
      float scale;

      for (int i = 0; i < dim; i++)
        sum += (double) xt[i] * xt[i];
      scale = (float) (1.0 / sqrt (sum / dim + eps));
      for (int i = 0; i < dim; i++)
        ot[i] = weight[i] * (xt[i] * scale);
    }
}

void
llm_silu_mul (float       *gate,
              const float *up,
              gsize        count)
{
  paths[get_path ()].silu_mul (gate, up, count);
}

void
llm_silu_mul_generic (float       *gate,
                      const float *up,
                      gsize        count)
{
  for (gsize i = 0; i < count; i++)
    gate[i] = gate[i] / (1.0f + expf (-gate[i])) * up[i];
}

void
llm_add (float       *x,
         const float *y,
         gsize        count)
{
  for (gsize i = 0; i < count; i++)
    x[i] += y[i];
}

void
llm_softmax (float *x,
             int    count)
{
  float max = -INFINITY;
  float sum = 0;

  for (int i = 0; i < count; i++)
    max = MAX (max, x[i]);
  for (int i = 0; i < count; i++)
    {
      x[i] = expf (x[i] - max);
      sum += x[i];
    }
  for (int i = 0; i < count; i++)
    x[i] /= sum;
}

float
llm_dot (const float *a,
         const float *b,
         int          count)
{
  return paths[get_path ()].dot (a, b, count);
}

void
llm_axpy (float       *y,
          float        a,
          const float *x,
          int          count)
{
  paths[get_path ()].axpy (y, a, x, count);
}

void
llm_attention_scores (float       *scores,
                      const float *q,
                      const float *keys,
                      gsize        stride,
                      int          n_keys,
                      int          head_dim,
                      float        scale)
{
  paths[get_path ()].attention_scores (scores, q, keys, stride, n_keys, head_dim, scale);
}

void
llm_attention_values (float       *out,
                      const float *weights,
                      const float *values,
                      gsize        stride,
                      int          n_values,
                      int          head_dim)
{
  paths[get_path ()].attention_values (out, weights, values, stride, n_values, head_dim);
}

void
llm_attention_scores_generic (float       *scores,
                              const float *q,
                              const float *keys,
                              gsize        stride,
                              int          n_keys,
                              int          head_dim,
                              float        scale)
{
  for (int s = 0; s < n_keys; s++)
    scores[s] = llm_dot (q, keys + s * stride, head_dim) * scale;
}

void
llm_attention_values_generic (float       *out,
                              const float *weights,
                              const float *values,
                              gsize        stride,
                              int          n_values,
                              int          head_dim)
{
  memset (out, 0, sizeof (float) * head_dim);
  for (int s = 0; s < n_values; s++)
    llm_axpy (out, weights[s], values + s * stride, head_dim);
}

float
llm_dot_generic (const float *a,
                 const float *b,
                 int          count)
{
  /* Four partial sums let the compiler vectorize without -ffast-math. */
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int i = 0;

  for (; i + 4 <= count; i += 4)
    {
      s0 += a[i] * b[i];
      s1 += a[i + 1] * b[i + 1];
      s2 += a[i + 2] * b[i + 2];
      s3 += a[i + 3] * b[i + 3];
    }
  for (; i < count; i++)
    s0 += a[i] * b[i];

  return (s0 + s1) + (s2 + s3);
}

void
llm_axpy_generic (float       *y,
                  float        a,
                  const float *x,
                  int          count)
{
  for (int i = 0; i < count; i++)
    y[i] += a * x[i];
}

/* Read bandwidth as the decode kernels reach it: the product of a token
 * with data seen as a BF16 matrix of 2048 columns. */
double
llm_measure_read_bandwidth (LlmPool    *pool,
                            const void *data,
                            gsize       bytes)
{
  const int cols = 2048;
  int rows = (int) MIN (bytes / (2 * cols), G_MAXINT);
  g_autofree float *x = g_new (float, cols);
  g_autofree float *out = g_new (float, rows);
  LlmMatmul product = { { data, LLM_DTYPE_BF16, rows, cols }, out };
  gint64 start;

  for (int i = 0; i < cols; i++)
    x[i] = 1.0f;

  start = g_get_monotonic_time ();
  llm_matmul (pool, x, 1, &product, 1);
  return (double) rows * cols * 2 / ((g_get_monotonic_time () - start) * 1e-6);
}

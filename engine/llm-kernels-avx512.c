/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-kernels"

/* Built with -mavx512f -mavx512bw -mavx512dq -mavx512vl -mfma -mf16c; called
 * only where llm_cpu_get_features() says avx512f. */

#include "llm-kernels-private.h"

#include <immintrin.h>
#include <string.h>

/* 16 elements of a row, as f32. */
static inline __m512
load_bf16 (const guint16 *p)
{
  __m256i bits = _mm256_loadu_si256 ((const __m256i *) p);
  return _mm512_castsi512_ps (_mm512_slli_epi32 (_mm512_cvtepu16_epi32 (bits), 16));
}

static inline __m512
load_bf16_masked (const guint16 *p,
                  __mmask16      mask)
{
  __m256i bits = _mm256_maskz_loadu_epi16 (mask, p);
  return _mm512_castsi512_ps (_mm512_slli_epi32 (_mm512_cvtepu16_epi32 (bits), 16));
}

static inline __m512
load_f16 (const guint16 *p)
{
  return _mm512_cvtph_ps (_mm256_loadu_si256 ((const __m256i *) p));
}

static inline __m512
load_f16_masked (const guint16 *p,
                 __mmask16      mask)
{
  return _mm512_cvtph_ps (_mm256_maskz_loadu_epi16 (mask, p));
}

static inline __m512
load_f32 (const float *p)
{
  return _mm512_loadu_ps (p);
}

static inline __m512
load_f32_masked (const float *p,
                 __mmask16    mask)
{
  return _mm512_maskz_loadu_ps (mask, p);
}

/* Decode: one token, so each weight is used once and memory bandwidth is the
 * limit. The access pattern decides the speed: rows read at once from far
 * apart parts of the thread's share (two parts; four for rows of 4096
 * columns and more, whose input vector no longer stays in L1) run at up to
 * twice the speed of adjacent rows, whose streams confuse the prefetcher. */
#define DEFINE_MATVEC(suffix, type)                                                    \
static inline float                                                                    \
dot_##suffix (const float *x,                                                          \
              const type  *w,                                                          \
              int          cols)                                                       \
{                                                                                      \
  __m512 a0 = _mm512_setzero_ps (), a1 = _mm512_setzero_ps ();                         \
  int c = 0;                                                                           \
                                                                                       \
  for (; c + 16 <= cols; c += 16)                                                      \
    a0 = _mm512_fmadd_ps (load_##suffix (w + c), _mm512_loadu_ps (x + c), a0);          \
  if (c < cols)                                                                        \
    {                                                                                  \
      __mmask16 mask = (__mmask16) ((1u << (cols - c)) - 1);                           \
      a1 = _mm512_fmadd_ps (load_##suffix##_masked (w + c, mask),                      \
                            _mm512_maskz_loadu_ps (mask, x + c), a1);                  \
    }                                                                                  \
  return _mm512_reduce_add_ps (_mm512_add_ps (a0, a1));                                \
}                                                                                      \
                                                                                       \
static inline void                                                                     \
matvec_parts_##suffix (const float *x,                                                 \
                       const type  *w,                                                 \
                       int          cols,                                              \
                       float       *out,                                               \
                       int          row_begin,                                         \
                       int          row_end,                                           \
                       const int    n_parts)                                           \
{                                                                                      \
  int part = (row_end - row_begin) / n_parts;                                          \
  int body = cols - cols % 32;                                                         \
                                                                                       \
  for (int r = row_begin; r < row_begin + part; r++)                                   \
    {                                                                                  \
      __m512 acc[2 * 4];                                                               \
      const type *rows[4];                                                             \
      int c = 0;                                                                       \
                                                                                       \
      for (int p = 0; p < n_parts; p++)                                                \
        {                                                                              \
          rows[p] = w + (gsize) (r + p * part) * cols;                                 \
          acc[2 * p] = acc[2 * p + 1] = _mm512_setzero_ps ();                          \
        }                                                                              \
      for (; c < body; c += 32)                                                        \
        {                                                                              \
          __m512 x0 = _mm512_loadu_ps (x + c);                                         \
          __m512 x1 = _mm512_loadu_ps (x + c + 16);                                    \
          for (int p = 0; p < n_parts; p++)                                            \
            {                                                                          \
              acc[2 * p] = _mm512_fmadd_ps (load_##suffix (rows[p] + c), x0, acc[2 * p]); \
              acc[2 * p + 1] = _mm512_fmadd_ps (load_##suffix (rows[p] + c + 16), x1,  \
                                                acc[2 * p + 1]);                       \
            }                                                                          \
        }                                                                              \
      for (int p = 0; p < n_parts; p++)                                                \
        out[r + p * part] = _mm512_reduce_add_ps (_mm512_add_ps (acc[2 * p], acc[2 * p + 1])) + \
                            dot_##suffix (x + c, rows[p] + c, cols - c);               \
    }                                                                                  \
                                                                                       \
  for (int r = row_begin + n_parts * part; r < row_end; r++)                           \
    out[r] = dot_##suffix (x, w + (gsize) r * cols, cols);                             \
}                                                                                      \
                                                                                       \
static void                                                                            \
matvec_##suffix (const float *x,                                                       \
                 const type  *w,                                                       \
                 int          cols,                                                    \
                 float       *out,                                                     \
                 int          row_begin,                                               \
                 int          row_end)                                                 \
{                                                                                      \
  if (cols >= 4096)                                                                    \
    matvec_parts_##suffix (x, w, cols, out, row_begin, row_end, 4);                    \
  else                                                                                 \
    matvec_parts_##suffix (x, w, cols, out, row_begin, row_end, 2);                    \
}

DEFINE_MATVEC (bf16, guint16)
DEFINE_MATVEC (f16, guint16)
DEFINE_MATVEC (f32, float)

#define GEMM_MR 6
#define GEMM_NR 4
#define GEMM_X_TYPE float
#define GEMM_W_TYPE float

static inline void
gemm_tile (const float *const *xr,
           const float *const *wr,
           int                  cols,
           float                sums[GEMM_MR][GEMM_NR])
{
  __m512 acc[GEMM_MR][GEMM_NR];
  int tail = cols % 16;
  __mmask16 mask = (__mmask16) ((1u << tail) - 1);
  int c = 0;

  for (int i = 0; i < GEMM_MR; i++)
    for (int j = 0; j < GEMM_NR; j++)
      acc[i][j] = _mm512_setzero_ps ();

  for (; c + 16 <= cols; c += 16)
    {
      __m512 wv[GEMM_NR];

      for (int j = 0; j < GEMM_NR; j++)
        wv[j] = _mm512_loadu_ps (wr[j] + c);
      for (int i = 0; i < GEMM_MR; i++)
        {
          __m512 xv = _mm512_loadu_ps (xr[i] + c);
          for (int j = 0; j < GEMM_NR; j++)
            acc[i][j] = _mm512_fmadd_ps (xv, wv[j], acc[i][j]);
        }
    }
  if (tail)
    {
      __m512 wv[GEMM_NR];

      for (int j = 0; j < GEMM_NR; j++)
        wv[j] = _mm512_maskz_loadu_ps (mask, wr[j] + c);
      for (int i = 0; i < GEMM_MR; i++)
        {
          __m512 xv = _mm512_maskz_loadu_ps (mask, xr[i] + c);
          for (int j = 0; j < GEMM_NR; j++)
            acc[i][j] = _mm512_fmadd_ps (xv, wv[j], acc[i][j]);
        }
    }

  for (int i = 0; i < GEMM_MR; i++)
    for (int j = 0; j < GEMM_NR; j++)
      sums[i][j] = _mm512_reduce_add_ps (acc[i][j]);
}

/* Prefill: rows converted to f32 NR at a time, reused by every tile. */
static inline void
gemm_weight_rows (const LlmMatrix  *w,
                  int               r,
                  int               nr,
                  float            *scratch,
                  const float     **wr)
{
  gsize count = (gsize) nr * w->cols;
  gsize i = 0;

  if (w->dtype == LLM_DTYPE_F32)
    {
      for (int j = 0; j < GEMM_NR; j++)
        wr[j] = (const float *) w->data + (gsize) (r + MIN (j, nr - 1)) * w->cols;
      return;
    }

  if (w->dtype == LLM_DTYPE_BF16)
    {
      const guint16 *src = (const guint16 *) w->data + (gsize) r * w->cols;
      for (; i + 16 <= count; i += 16)
        _mm512_store_ps (scratch + i, load_bf16 (src + i));
    }
  else
    {
      const guint16 *src = (const guint16 *) w->data + (gsize) r * w->cols;
      for (; i + 16 <= count; i += 16)
        _mm512_store_ps (scratch + i, load_f16 (src + i));
    }
  llm_convert_to_f32 (scratch + i, (const guint16 *) w->data + (gsize) r * w->cols + i, w->dtype,
                      count - i);

  for (int j = 0; j < GEMM_NR; j++)
    wr[j] = scratch + (gsize) MIN (j, nr - 1) * w->cols;
}

#include "llm-kernels-gemm.h"

void
llm_matmul_rows_avx512 (const float     *x,
                        int              n,
                        const LlmMatrix *w,
                        float           *out,
                        int              row_begin,
                        int              row_end)
{
  if (n > 1)
    {
      gemm (x, w->cols, n, w, out, row_begin, row_end,
            llm_kernels_scratch (sizeof (float) * GEMM_NR * w->cols));
      return;
    }

  switch (w->dtype)
    {
    case LLM_DTYPE_BF16:
      matvec_bf16 (x, w->data, w->cols, out, row_begin, row_end);
      break;
    case LLM_DTYPE_F16:
      matvec_f16 (x, w->data, w->cols, out, row_begin, row_end);
      break;
    case LLM_DTYPE_F32:
      matvec_f32 (x, w->data, w->cols, out, row_begin, row_end);
      break;
    default:
      g_assert_not_reached ();
    }
}


float
llm_dot_avx512 (const float *a,
                const float *b,
                int          count)
{
  __m512 s0 = _mm512_setzero_ps (), s1 = _mm512_setzero_ps ();
  int i = 0;

  for (; i + 32 <= count; i += 32)
    {
      s0 = _mm512_fmadd_ps (_mm512_loadu_ps (a + i), _mm512_loadu_ps (b + i), s0);
      s1 = _mm512_fmadd_ps (_mm512_loadu_ps (a + i + 16), _mm512_loadu_ps (b + i + 16), s1);
    }
  for (; i < count; i += 16)
    {
      __mmask16 mask = (__mmask16) ((1u << MIN (16, count - i)) - 1);
      s0 = _mm512_fmadd_ps (_mm512_maskz_loadu_ps (mask, a + i), _mm512_maskz_loadu_ps (mask, b + i), s0);
    }

  return _mm512_reduce_add_ps (_mm512_add_ps (s0, s1));
}

void
llm_axpy_avx512 (float       *y,
                 float        a,
                 const float *x,
                 int          count)
{
  __m512 av = _mm512_set1_ps (a);
  int i = 0;

  for (; i + 16 <= count; i += 16)
    _mm512_storeu_ps (y + i, _mm512_fmadd_ps (av, _mm512_loadu_ps (x + i), _mm512_loadu_ps (y + i)));
  if (i < count)
    {
      __mmask16 mask = (__mmask16) ((1u << (count - i)) - 1);
      _mm512_mask_storeu_ps (y + i, mask, _mm512_fmadd_ps (av, _mm512_maskz_loadu_ps (mask, x + i),
                                                           _mm512_maskz_loadu_ps (mask, y + i)));
    }
}

/* e^x for 16 lanes: x = k·ln 2 + r with |r| ≤ ln 2 / 2, e^r by its Taylor
 * polynomial to degree 7 (error under 1e-7 relative), 2^k in the exponent. */
static inline __m512
exp_ps (__m512 x)
{
  const __m512 log2e = _mm512_set1_ps (1.44269504088896341f);
  const __m512 ln2_hi = _mm512_set1_ps (0.693359375f);
  const __m512 ln2_lo = _mm512_set1_ps (-2.12194440e-4f);
  __m512 k, r, p;

  x = _mm512_max_ps (_mm512_min_ps (x, _mm512_set1_ps (88.0f)), _mm512_set1_ps (-88.0f));
  k = _mm512_roundscale_ps (_mm512_mul_ps (x, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  r = _mm512_fnmadd_ps (k, ln2_hi, x);
  r = _mm512_fnmadd_ps (k, ln2_lo, r);

  p = _mm512_set1_ps (1.0f / 5040);
  p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (1.0f / 720));
  p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (1.0f / 120));
  p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (1.0f / 24));
  p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (1.0f / 6));
  p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (0.5f));
  p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (1.0f));
  p = _mm512_fmadd_ps (p, r, _mm512_set1_ps (1.0f));

  return _mm512_scalef_ps (p, k);
}

void
llm_silu_mul_avx512 (float       *gate,
                     const float *up,
                     gsize        count)
{
  gsize i = 0;

  for (; i + 16 <= count; i += 16)
    {
      __m512 g = _mm512_loadu_ps (gate + i);
      __m512 sigmoid = _mm512_div_ps (_mm512_set1_ps (1.0f),
                                      _mm512_add_ps (_mm512_set1_ps (1.0f), exp_ps (_mm512_sub_ps (_mm512_setzero_ps (), g))));
      _mm512_storeu_ps (gate + i, _mm512_mul_ps (_mm512_mul_ps (g, sigmoid), _mm512_loadu_ps (up + i)));
    }
  llm_silu_mul_generic (gate + i, up + i, count - i);
}

/* scores[s] = scale · q · keys[s], keys strided. Four keys at once share
 * the loads of q and one transposing reduction. */
void
llm_attention_scores_avx512 (float       *scores,
                             const float *q,
                             const float *keys,
                             gsize        stride,
                             int          n_keys,
                             int          head_dim,
                             float        scale)
{
  int s = 0;

  if (head_dim % 16 != 0)
    {
      for (; s < n_keys; s++)
        scores[s] = llm_dot_avx512 (q, keys + s * stride, head_dim) * scale;
      return;
    }

  for (; s + 4 <= n_keys; s += 4)
    {
      const float *k0 = keys + s * stride, *k1 = k0 + stride, *k2 = k1 + stride, *k3 = k2 + stride;
      __m512 a0 = _mm512_setzero_ps (), a1 = _mm512_setzero_ps ();
      __m512 a2 = _mm512_setzero_ps (), a3 = _mm512_setzero_ps ();
      __m512 lo, hi, sum;
      __m256 half;
      __m128 quarter;

      for (int d = 0; d < head_dim; d += 16)
        {
          __m512 qv = _mm512_loadu_ps (q + d);
          a0 = _mm512_fmadd_ps (qv, _mm512_loadu_ps (k0 + d), a0);
          a1 = _mm512_fmadd_ps (qv, _mm512_loadu_ps (k1 + d), a1);
          a2 = _mm512_fmadd_ps (qv, _mm512_loadu_ps (k2 + d), a2);
          a3 = _mm512_fmadd_ps (qv, _mm512_loadu_ps (k3 + d), a3);
        }

      /* Pairwise sums of the four accumulators, down to one lane each. */
      lo = _mm512_add_ps (_mm512_unpacklo_ps (a0, a1), _mm512_unpackhi_ps (a0, a1));
      hi = _mm512_add_ps (_mm512_unpacklo_ps (a2, a3), _mm512_unpackhi_ps (a2, a3));
      sum = _mm512_add_ps (_mm512_castpd_ps (_mm512_unpacklo_pd (_mm512_castps_pd (lo), _mm512_castps_pd (hi))),
                           _mm512_castpd_ps (_mm512_unpackhi_pd (_mm512_castps_pd (lo), _mm512_castps_pd (hi))));
      /* Lanes now hold (k0, k1, k2, k3) sums of each 128-bit quarter. */
      half = _mm256_add_ps (_mm512_castps512_ps256 (sum), _mm512_extractf32x8_ps (sum, 1));
      quarter = _mm_add_ps (_mm256_castps256_ps128 (half), _mm256_extractf128_ps (half, 1));
      _mm_storeu_ps (scores + s, _mm_mul_ps (quarter, _mm_set1_ps (scale)));
    }

  for (; s < n_keys; s++)
    scores[s] = llm_dot_avx512 (q, keys + s * stride, head_dim) * scale;
}

/* out = Σ weights[s] · values[s], values strided, the sum kept in registers
 * for head_dim up to 256. */
void
llm_attention_values_avx512 (float       *out,
                             const float *weights,
                             const float *values,
                             gsize        stride,
                             int          n_values,
                             int          head_dim)
{
  __m512 acc[16];
  int n_vectors = head_dim / 16;

  if (head_dim % 16 != 0 || n_vectors > 16)
    {
      memset (out, 0, sizeof (float) * head_dim);
      for (int s = 0; s < n_values; s++)
        llm_axpy_avx512 (out, weights[s], values + s * stride, head_dim);
      return;
    }

  for (int v = 0; v < n_vectors; v++)
    acc[v] = _mm512_setzero_ps ();
  for (int s = 0; s < n_values; s++)
    {
      __m512 w = _mm512_set1_ps (weights[s]);
      const float *row = values + s * stride;

      for (int v = 0; v < n_vectors; v++)
        acc[v] = _mm512_fmadd_ps (w, _mm512_loadu_ps (row + 16 * v), acc[v]);
    }
  for (int v = 0; v < n_vectors; v++)
    _mm512_storeu_ps (out + 16 * v, acc[v]);
}

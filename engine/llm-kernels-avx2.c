/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-kernels"

/* Built with -mavx2 -mfma -mf16c; called only where llm_cpu_get_features()
 * says avx2. The same two kernels as the AVX-512 path, 8 lanes wide. */

#include "llm-kernels-private.h"

#include <immintrin.h>

static inline __m256
load_bf16 (const guint16 *p)
{
  __m128i bits = _mm_loadu_si128 ((const __m128i *) p);
  return _mm256_castsi256_ps (_mm256_slli_epi32 (_mm256_cvtepu16_epi32 (bits), 16));
}

static inline __m256
load_f16 (const guint16 *p)
{
  return _mm256_cvtph_ps (_mm_loadu_si128 ((const __m128i *) p));
}

static inline __m256
load_f32 (const float *p)
{
  return _mm256_loadu_ps (p);
}

static inline float
reduce_add (__m256 v)
{
  __m128 sum = _mm_add_ps (_mm256_castps256_ps128 (v), _mm256_extractf128_ps (v, 1));
  sum = _mm_add_ps (sum, _mm_movehl_ps (sum, sum));
  sum = _mm_add_ss (sum, _mm_movehdup_ps (sum));
  return _mm_cvtss_f32 (sum);
}

static inline float
scalar_bf16 (const guint16 *p) { return llm_bf16_to_f32 (*p); }
static inline float
scalar_f16 (const guint16 *p) { return llm_f16_to_f32 (*p); }
static inline float
scalar_f32 (const float *p) { return *p; }

/* Two rows at once from the two halves of the share, as on AVX-512. */
#define DEFINE_MATVEC(suffix, type)                                                    \
static inline float                                                                    \
dot_##suffix (const float *x,                                                          \
              const type  *w,                                                          \
              int          cols)                                                       \
{                                                                                      \
  __m256 a0 = _mm256_setzero_ps ();                                                    \
  float sum;                                                                           \
  int c = 0;                                                                           \
                                                                                       \
  for (; c + 8 <= cols; c += 8)                                                        \
    a0 = _mm256_fmadd_ps (load_##suffix (w + c), _mm256_loadu_ps (x + c), a0);          \
  sum = reduce_add (a0);                                                               \
  for (; c < cols; c++)                                                                \
    sum += scalar_##suffix (w + c) * x[c];                                             \
  return sum;                                                                          \
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
  int half = (row_end - row_begin) / 2;                                                \
  int body = cols - cols % 16;                                                         \
                                                                                       \
  for (int r = row_begin; r < row_begin + half; r++)                                   \
    {                                                                                  \
      const type *w0 = w + (gsize) r * cols;                                           \
      const type *w1 = w0 + (gsize) half * cols;                                       \
      __m256 a0 = _mm256_setzero_ps (), a1 = _mm256_setzero_ps ();                     \
      __m256 b0 = _mm256_setzero_ps (), b1 = _mm256_setzero_ps ();                     \
      int c = 0;                                                                       \
                                                                                       \
      for (; c < body; c += 16)                                                        \
        {                                                                              \
          __m256 x0 = _mm256_loadu_ps (x + c);                                         \
          __m256 x1 = _mm256_loadu_ps (x + c + 8);                                     \
          a0 = _mm256_fmadd_ps (load_##suffix (w0 + c), x0, a0);                       \
          a1 = _mm256_fmadd_ps (load_##suffix (w0 + c + 8), x1, a1);                   \
          b0 = _mm256_fmadd_ps (load_##suffix (w1 + c), x0, b0);                       \
          b1 = _mm256_fmadd_ps (load_##suffix (w1 + c + 8), x1, b1);                   \
        }                                                                              \
      out[r] = reduce_add (_mm256_add_ps (a0, a1)) + dot_##suffix (x + c, w0 + c, cols - c); \
      out[r + half] = reduce_add (_mm256_add_ps (b0, b1)) +                            \
                      dot_##suffix (x + c, w1 + c, cols - c);                          \
    }                                                                                  \
                                                                                       \
  if ((row_end - row_begin) % 2 != 0)                                                  \
    out[row_end - 1] = dot_##suffix (x, w + (gsize) (row_end - 1) * cols, cols);       \
}

DEFINE_MATVEC (bf16, guint16)
DEFINE_MATVEC (f16, guint16)
DEFINE_MATVEC (f32, float)

#define GEMM_MR 4
#define GEMM_NR 3
#define GEMM_X_TYPE float
#define GEMM_W_TYPE float

static inline void
gemm_tile (const float *const *xr,
           const float *const *wr,
           int                  cols,
           float                sums[GEMM_MR][GEMM_NR])
{
  __m256 acc[GEMM_MR][GEMM_NR];
  int c = 0;

  for (int i = 0; i < GEMM_MR; i++)
    for (int j = 0; j < GEMM_NR; j++)
      acc[i][j] = _mm256_setzero_ps ();

  for (; c + 8 <= cols; c += 8)
    {
      __m256 wv[GEMM_NR];

      for (int j = 0; j < GEMM_NR; j++)
        wv[j] = _mm256_loadu_ps (wr[j] + c);
      for (int i = 0; i < GEMM_MR; i++)
        {
          __m256 xv = _mm256_loadu_ps (xr[i] + c);
          for (int j = 0; j < GEMM_NR; j++)
            acc[i][j] = _mm256_fmadd_ps (xv, wv[j], acc[i][j]);
        }
    }

  for (int i = 0; i < GEMM_MR; i++)
    for (int j = 0; j < GEMM_NR; j++)
      {
        sums[i][j] = reduce_add (acc[i][j]);
        for (int k = c; k < cols; k++)
          sums[i][j] += xr[i][k] * wr[j][k];
      }
}

static inline void
gemm_weight_rows (const LlmMatrix  *w,
                  int               r,
                  int               nr,
                  float            *scratch,
                  const float     **wr)
{
  if (w->dtype == LLM_DTYPE_F32)
    {
      for (int j = 0; j < GEMM_NR; j++)
        wr[j] = (const float *) w->data + (gsize) (r + MIN (j, nr - 1)) * w->cols;
      return;
    }

  llm_convert_to_f32 (scratch, (const guint16 *) w->data + (gsize) r * w->cols, w->dtype,
                      (gsize) nr * w->cols);
  for (int j = 0; j < GEMM_NR; j++)
    wr[j] = scratch + (gsize) MIN (j, nr - 1) * w->cols;
}

#include "llm-kernels-gemm.h"

void
llm_matmul_rows_avx2 (const float     *x,
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
llm_dot_avx2 (const float *a,
              const float *b,
              int          count)
{
  __m256 s0 = _mm256_setzero_ps (), s1 = _mm256_setzero_ps ();
  float sum;
  int i = 0;

  for (; i + 16 <= count; i += 16)
    {
      s0 = _mm256_fmadd_ps (_mm256_loadu_ps (a + i), _mm256_loadu_ps (b + i), s0);
      s1 = _mm256_fmadd_ps (_mm256_loadu_ps (a + i + 8), _mm256_loadu_ps (b + i + 8), s1);
    }
  sum = reduce_add (_mm256_add_ps (s0, s1));
  for (; i < count; i++)
    sum += a[i] * b[i];
  return sum;
}

void
llm_axpy_avx2 (float       *y,
               float        a,
               const float *x,
               int          count)
{
  __m256 av = _mm256_set1_ps (a);
  int i = 0;

  for (; i + 8 <= count; i += 8)
    _mm256_storeu_ps (y + i, _mm256_fmadd_ps (av, _mm256_loadu_ps (x + i), _mm256_loadu_ps (y + i)));
  for (; i < count; i++)
    y[i] += a * x[i];
}

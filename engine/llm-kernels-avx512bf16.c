/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-kernels"

/* Built with -mavx512f -mavx512bw -mavx512vl -mavx512bf16; called only
 * where llm_cpu_get_features() says avx512_bf16. */

#include "llm-kernels-private.h"

#include <immintrin.h>

/* Prefill with BF16 weights: the activations are rounded to bf16 once, and
 * vdpbf16ps multiplies 32 pairs per instruction, accumulating in f32 —
 * twice the products of an f32 FMA. Weights are read as stored: pairs of
 * adjacent columns are what the instruction wants. */
#define GEMM_MR 6
#define GEMM_NR 4
#define GEMM_X_TYPE guint16
#define GEMM_W_TYPE guint16

/* Rounds (n, cols) f32 to bf16, nearest even, padding each row to a
 * multiple of 32 with zeros. */
static void
round_activations (guint16     *dest,
                   const float *x,
                   int          n,
                   int          cols,
                   int          padded)
{
  for (int t = 0; t < n; t++)
    {
      const float *row = x + (gsize) t * cols;
      guint16 *out = dest + (gsize) t * padded;
      int c = 0;

      for (; c + 32 <= cols; c += 32)
        {
          __m512bh pair = _mm512_cvtne2ps_pbh (_mm512_loadu_ps (row + c + 16),
                                               _mm512_loadu_ps (row + c));
          _mm512_storeu_si512 (out + c, (__m512i) pair);
        }
      for (; c < padded; c += 16)
        {
          __mmask16 mask = c < cols ? (__mmask16) ((1u << MIN (16, cols - c)) - 1) : 0;
          __m256bh half = _mm512_cvtneps_pbh (_mm512_maskz_loadu_ps (mask, row + c));
          _mm256_storeu_si256 ((__m256i *) (out + c), (__m256i) half);
        }
    }
}

static inline void
gemm_tile (const guint16 *const *xr,
           const guint16 *const *wr,
           int                    cols,
           float                  sums[GEMM_MR][GEMM_NR])
{
  __m512 acc[GEMM_MR][GEMM_NR];
  int c = 0;

  for (int i = 0; i < GEMM_MR; i++)
    for (int j = 0; j < GEMM_NR; j++)
      acc[i][j] = _mm512_setzero_ps ();

  for (; c + 32 <= cols; c += 32)
    {
      __m512bh wv[GEMM_NR];

      for (int j = 0; j < GEMM_NR; j++)
        wv[j] = (__m512bh) _mm512_loadu_si512 (wr[j] + c);
      for (int i = 0; i < GEMM_MR; i++)
        {
          __m512bh xv = (__m512bh) _mm512_loadu_si512 (xr[i] + c);
          for (int j = 0; j < GEMM_NR; j++)
            acc[i][j] = _mm512_dpbf16_ps (acc[i][j], xv, wv[j]);
        }
    }
  if (c < cols)
    {
      /* The activations are zero-padded: masking the weights is enough. */
      __mmask32 mask = (__mmask32) ((1ull << (cols - c)) - 1);
      __m512bh wv[GEMM_NR];

      for (int j = 0; j < GEMM_NR; j++)
        wv[j] = (__m512bh) _mm512_maskz_loadu_epi16 (mask, wr[j] + c);
      for (int i = 0; i < GEMM_MR; i++)
        {
          __m512bh xv = (__m512bh) _mm512_loadu_si512 (xr[i] + c);
          for (int j = 0; j < GEMM_NR; j++)
            acc[i][j] = _mm512_dpbf16_ps (acc[i][j], xv, wv[j]);
        }
    }

  for (int i = 0; i < GEMM_MR; i++)
    for (int j = 0; j < GEMM_NR; j++)
      sums[i][j] = _mm512_reduce_add_ps (acc[i][j]);
}

/* The weights as stored: bf16 pairs are what vdpbf16ps takes. */
static inline void
gemm_weight_rows (const LlmMatrix  *w,
                  int               r,
                  int               nr,
                  guint16          *scratch,
                  const guint16   **wr)
{
  for (int j = 0; j < GEMM_NR; j++)
    wr[j] = (const guint16 *) w->data + (gsize) (r + MIN (j, nr - 1)) * w->cols;
}

#include "llm-kernels-gemm.h"

void
llm_matmul_rows_avx512bf16 (const float     *x,
                            int              n,
                            const LlmMatrix *w,
                            float           *out,
                            int              row_begin,
                            int              row_end)
{
  int padded = (w->cols + 31) / 32 * 32;
  guint16 *activations;

  /* Decode reads each weight once: bandwidth, not products, is its limit,
   * and the f32 path keeps the activations exact. */
  if (n == 1 || w->dtype != LLM_DTYPE_BF16 || !llm_matmul_get_bf16_activations ())
    {
      llm_matmul_rows_avx512 (x, n, w, out, row_begin, row_end);
      return;
    }

  activations = (guint16 *) llm_kernels_scratch (sizeof (guint16) * (gsize) n * padded);
  round_activations (activations, x, n, w->cols, padded);

  gemm (activations, padded, n, w, out, row_begin, row_end, NULL);
}

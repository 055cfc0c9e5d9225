/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The prefill GEMM's loops, shared by the SIMD paths: each includes this
 * file, compiled for its instruction set, after defining
 *
 *   GEMM_MR, GEMM_NR         the tile: tokens × weight rows
 *   GEMM_X_TYPE, GEMM_W_TYPE the element types of activations and weights
 *   gemm_weight_rows ()      points wr[0..NR) at rows r..r+nr of w, as
 *                            GEMM_W_TYPE, converting into scratch if needed
 *   gemm_tile ()             sums[MR][NR] = the dot products of xr and wr
 *
 * A tile keeps MR·NR accumulators in registers across whole rows: each
 * weight loaded serves MR tokens, each activation loaded NR rows. */

static void
gemm (const GEMM_X_TYPE *x,
      gsize              x_stride,
      int                n,
      const LlmMatrix   *w,
      float             *out,
      int                row_begin,
      int                row_end,
      GEMM_W_TYPE       *scratch)
{
  for (int r = row_begin; r < row_end; r += GEMM_NR)
    {
      int nr = MIN (GEMM_NR, row_end - r);
      const GEMM_W_TYPE *wr[GEMM_NR];

      gemm_weight_rows (w, r, nr, scratch, wr);

      for (int t = 0; t < n; t += GEMM_MR)
        {
          int mr = MIN (GEMM_MR, n - t);
          const GEMM_X_TYPE *xr[GEMM_MR];
          float sums[GEMM_MR][GEMM_NR];

          /* A partial tile repeats its last row rather than branching in
           * the inner loop; the repeats are not stored. */
          for (int i = 0; i < GEMM_MR; i++)
            xr[i] = x + (gsize) (t + MIN (i, mr - 1)) * x_stride;

          gemm_tile (xr, wr, w->cols, sums);

          for (int i = 0; i < mr; i++)
            for (int j = 0; j < nr; j++)
              out[(gsize) (t + i) * w->rows + r + j] = sums[i][j];
        }
    }
}

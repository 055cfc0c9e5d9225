/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* What the processor can do, as the kernels must know it at run time: a
 * binary built for any x86-64 picks its fastest path on the machine it runs. */
typedef struct
{
  gboolean avx2;        /* with FMA and F16C */
  gboolean avx512f;     /* with BW, DQ and VL, and enabled by the OS */
  gboolean avx512_bf16;
  gboolean amx_bf16;    /* AMX-TILE and AMX-BF16, and enabled by the OS */
  gboolean aes_ni;
} LlmCpuFeatures;

const LlmCpuFeatures *llm_cpu_get_features (void);
char                 *llm_cpu_dup_feature_names (void);
char                 *llm_cpu_dup_model_name (void);

G_END_DECLS

/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-cpu"

#include "llm-cpu.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

/* XCR0 says which register states the OS saves on a context switch: a CPU
 * feature is usable only when the OS saves its registers too. */
static guint64
read_xcr0 (void)
{
  guint32 eax, edx;

  __asm__ volatile ("xgetbv" : "=a" (eax), "=d" (edx) : "c" (0));
  return ((guint64) edx << 32) | eax;
}

static void
detect (LlmCpuFeatures *features)
{
  unsigned int eax, ebx, ecx, edx;
  unsigned int ebx7 = 0, ecx7 = 0, edx7 = 0, eax7_1 = 0, unused;
  gboolean osxsave;
  guint64 xcr0 = 0;

  if (!__get_cpuid (1, &eax, &ebx, &ecx, &edx))
    return;

  features->aes_ni = (ecx & bit_AES) != 0;
  osxsave = (ecx & bit_OSXSAVE) != 0;
  if (osxsave)
    xcr0 = read_xcr0 ();

  if (__get_cpuid_max (0, NULL) >= 7)
    {
      __cpuid_count (7, 0, unused, ebx7, ecx7, edx7);
      __cpuid_count (7, 1, eax7_1, unused, unused, unused);
    }

  /* XMM and YMM state (bits 1, 2); opmask and ZMM state (bits 5–7);
   * AMX tile config and data (bits 17, 18). */
  gboolean os_avx = osxsave && (xcr0 & 0x6) == 0x6;
  gboolean os_avx512 = os_avx && (xcr0 & 0xe0) == 0xe0;
  gboolean os_amx = osxsave && (xcr0 & 0x60000) == 0x60000;

  features->avx2 = os_avx && (ebx7 & bit_AVX2) && (ecx & bit_FMA) && (ecx & bit_F16C);
  features->avx512f = os_avx512 && (ebx7 & bit_AVX512F) && (ebx7 & bit_AVX512BW) &&
                      (ebx7 & bit_AVX512DQ) && (ebx7 & bit_AVX512VL);
  features->avx512_bf16 = features->avx512f && (eax7_1 & (1u << 5));
  features->amx_bf16 = os_amx && (edx7 & (1u << 24)) && (edx7 & (1u << 22));
}
#else
static void
detect (LlmCpuFeatures *features)
{
}
#endif

const LlmCpuFeatures *
llm_cpu_get_features (void)
{
  static LlmCpuFeatures features;
  static gsize initialized;

  if (g_once_init_enter (&initialized))
    {
      detect (&features);
      g_once_init_leave (&initialized, 1);
    }

  return &features;
}

/* The features in the words /proc/cpuinfo uses, for logs and the UI. */
char *
llm_cpu_dup_feature_names (void)
{
  const LlmCpuFeatures *features = llm_cpu_get_features ();
  g_autoptr(GPtrArray) names = g_ptr_array_new ();

  if (features->avx2)
    g_ptr_array_add (names, (char *) "AVX2");
  if (features->avx512f)
    g_ptr_array_add (names, (char *) "AVX-512");
  if (features->avx512_bf16)
    g_ptr_array_add (names, (char *) "AVX512-BF16");
  if (features->amx_bf16)
    g_ptr_array_add (names, (char *) "AMX");
  if (features->aes_ni)
    g_ptr_array_add (names, (char *) "AES-NI");
  g_ptr_array_add (names, NULL);

  return g_strjoinv (", ", (char **) names->pdata);
}

/* The brand string, such as "AMD EPYC 9R14 96-Core Processor", or NULL. */
char *
llm_cpu_dup_model_name (void)
{
#if defined(__x86_64__) || defined(__i386__)
  unsigned int regs[12];

  if (__get_cpuid_max (0x80000000, NULL) < 0x80000004)
    return NULL;

  for (unsigned int i = 0; i < 3; i++)
    __get_cpuid (0x80000002 + i, &regs[4 * i], &regs[4 * i + 1], &regs[4 * i + 2],
                 &regs[4 * i + 3]);

  return g_strstrip (g_strndup ((const char *) regs, sizeof regs));
#else
  return NULL;
#endif
}

/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "llm-cpu.h"

#include <string.h>

/* The kernel's own view of the CPU: the "flags" line of /proc/cpuinfo. */
static char **
read_cpuinfo_flags (void)
{
  g_autofree char *cpuinfo = NULL;
  g_auto(GStrv) lines = NULL;

  if (!g_file_get_contents ("/proc/cpuinfo", &cpuinfo, NULL, NULL))
    return NULL;

  lines = g_strsplit (cpuinfo, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], "flags"))
      return g_strsplit (strchr (lines[i], ':') + 1, " ", -1);

  return NULL;
}

static gboolean
has_flag (char       **flags,
          const char  *flag)
{
  return g_strv_contains ((const char * const *) flags, flag);
}

static void
test_cpu_features_match_kernel (void)
{
  g_auto(GStrv) flags = read_cpuinfo_flags ();
  const LlmCpuFeatures *features = llm_cpu_get_features ();

  if (flags == NULL)
    {
      g_test_skip ("no /proc/cpuinfo flags on this system");
      return;
    }

  /* The kernel lists a feature only when it also saves its registers, the
   * same condition the engine checks through XCR0. */
  g_assert_cmpint (features->aes_ni, ==, has_flag (flags, "aes"));
  g_assert_cmpint (features->avx2, ==,
                   has_flag (flags, "avx2") && has_flag (flags, "fma") && has_flag (flags, "f16c"));
  g_assert_cmpint (features->avx512f, ==,
                   has_flag (flags, "avx512f") && has_flag (flags, "avx512bw") &&
                   has_flag (flags, "avx512dq") && has_flag (flags, "avx512vl"));
  g_assert_cmpint (features->avx512_bf16, ==, features->avx512f && has_flag (flags, "avx512_bf16"));
  g_assert_cmpint (features->amx_bf16, ==, has_flag (flags, "amx_tile") && has_flag (flags, "amx_bf16"));
}

static void
test_cpu_feature_names (void)
{
  const LlmCpuFeatures *features = llm_cpu_get_features ();
  g_autofree char *names = llm_cpu_dup_feature_names ();

  g_assert_nonnull (names);
  g_assert_cmpint (strstr (names, "AVX-512") != NULL, ==, features->avx512f);
  g_assert_cmpint (strstr (names, "AES-NI") != NULL, ==, features->aes_ni);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/llm/cpu/features-match-kernel", test_cpu_features_match_kernel);
  g_test_add_func ("/llm/cpu/feature-names", test_cpu_feature_names);

  return g_test_run ();
}

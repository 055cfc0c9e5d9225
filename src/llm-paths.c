/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-paths"

#include "llm-paths.h"

/* Identity, settings of the node and downloaded layers live here unless
 * `--data-dir` says otherwise. Inside Flatpak this is the app's own dir. */
char *
llm_paths_dup_default_data_dir (void)
{
  return g_build_filename (g_get_user_data_dir (), "llm-node", NULL);
}

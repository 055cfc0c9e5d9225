/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

char *llm_paths_dup_default_data_dir (void);

G_END_DECLS

/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

gboolean  llm_cli_is_command        (const char  *name);
char     *llm_cli_dup_commands_help (void);
int       llm_cli_run               (int          argc,
                                     char       **argv);

G_END_DECLS

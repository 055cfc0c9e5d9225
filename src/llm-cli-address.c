/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-cli"

#include "config.h"

#include <glib/gi18n.h>

#include "llm-cli-private.h"
#include "llm-identity.h"
#include "llm-paths.h"

/* `llm-node address`: this node's .llm address, made on first run. */

int
llm_cli_address (CliOptions  *options,
                 int          argc,
                 char       **argv)
{
  g_autoptr(LlmIdentity) identity = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *data_dir = NULL;

  /* argv[0] is the command's name. */
  if (argc > 1)
    {
      g_printerr (_("llm-node address: unexpected argument “%s”\n"), argv[1]);
      return 2;
    }

  data_dir = options->data_dir != NULL ? g_strdup (options->data_dir)
                                       : llm_paths_dup_default_data_dir ();

  identity = llm_identity_load_or_create (data_dir, &error);
  if (identity == NULL)
    {
      g_printerr (_("llm-node address: %s\n"), error->message);
      return 1;
    }

  g_print ("%s\n", llm_identity_get_address (identity));

  return 0;
}

/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-cli"

#include "config.h"

#include <glib/gi18n.h>

#include "llm-cli-private.h"
#include "llm-identity.h"

/* `llm-node address`: this node's .llm address, made on first run. */

int
llm_cli_address (CliOptions  *options,
                 int          argc,
                 char       **argv)
{
  g_autoptr(LlmIdentity) identity = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *data_dir = NULL;

  data_dir = llm_cli_dup_data_dir (options);

  identity = llm_identity_load_or_create (data_dir, &error);
  if (identity == NULL)
    {
      g_printerr (_("llm-node address: %s\n"), error->message);
      return 1;
    }

  g_print ("%s\n", llm_identity_get_address (identity));

  return 0;
}

/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-node"

#include "config.h"

#include <glib/gi18n.h>
#include <locale.h>

#include "llm-application.h"
#include "llm-cli.h"

int
main (int    argc,
      char **argv)
{
  g_autoptr(LlmApplication) application = NULL;

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  /* A first argument that is not an option is a subcommand: those run
   * headless and never initialise GTK. */
  if (argc > 1 && argv[1][0] != '-')
    return llm_cli_run (argc - 1, argv + 1);

  application = llm_application_new ();
  return g_application_run (G_APPLICATION (application), argc, argv);
}

/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "llm-cli.h"

#include <locale.h>
#include <string.h>

/* The commands of the command-line contract in DESIGN.md. */
static const char *contract_commands[] = {
  "generate", "tokenize", "render-chat", "bench", "host", "peers", "address",
};

static void
test_cli_commands (void)
{
  g_autofree char *help = llm_cli_dup_commands_help ();

  for (guint i = 0; i < G_N_ELEMENTS (contract_commands); i++)
    {
      g_autofree char *line = g_strdup_printf ("\n  %s ", contract_commands[i]);

      g_assert_true (llm_cli_is_command (contract_commands[i]));
      g_assert_nonnull (strstr (help, line));
    }

  g_assert_false (llm_cli_is_command ("frobnicate"));
  g_assert_false (llm_cli_is_command ("--help"));
}

static int
run_cli (const char *first,
         ...)
{
  g_autoptr(GPtrArray) args = g_ptr_array_new_with_free_func (g_free);
  va_list ap;

  va_start (ap, first);
  for (const char *arg = first; arg != NULL; arg = va_arg (ap, const char *))
    g_ptr_array_add (args, g_strdup (arg));
  va_end (ap);
  g_ptr_array_add (args, NULL);

  return llm_cli_run (args->len - 1, (char **) args->pdata);
}

static void
test_cli_usage_errors (void)
{
  if (g_test_subprocess ())
    {
      g_assert_cmpint (run_cli ("frobnicate", NULL), ==, 2);
      g_assert_cmpint (run_cli ("generate", "--no-such-option", NULL), ==, 2);
      g_assert_cmpint (run_cli ("generate", "-n", "many", NULL), ==, 2);
      g_assert_cmpint (run_cli ("bench", "--threads", NULL), ==, 2);
      return;
    }

  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr ("*unknown command “frobnicate”*Unknown option --no-such-option*"
                             "Cannot parse integer value “many” for -n*");
}

int
main (int   argc,
      char *argv[])
{
  setlocale (LC_ALL, "");
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/llm/cli/commands", test_cli_commands);
  g_test_add_func ("/llm/cli/usage-errors", test_cli_usage_errors);

  return g_test_run ();
}

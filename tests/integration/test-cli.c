/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <gio/gio.h>
#include <string.h>

/* Runs the installed-to-be `llm-node` program as a person would, without a
 * display: the headless half must never need one. */

typedef struct
{
  int status;
  char *out;
  char *err;
} Run;

static void
run_clear (Run *run)
{
  g_free (run->out);
  g_free (run->err);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Run, run_clear)

static void
run_llm_node (Run        *run,
              const char *first_arg,
              ...)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  const char *binary = g_getenv ("LLM_NODE_BIN");
  va_list ap;

  g_assert_nonnull (binary);
  g_ptr_array_add (argv, (char *) binary);
  va_start (ap, first_arg);
  for (const char *arg = first_arg; arg != NULL; arg = va_arg (ap, const char *))
    g_ptr_array_add (argv, (char *) arg);
  va_end (ap);
  g_ptr_array_add (argv, NULL);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_unsetenv (launcher, "DISPLAY");
  g_subprocess_launcher_unsetenv (launcher, "WAYLAND_DISPLAY");
  g_subprocess_launcher_setenv (launcher, "LC_ALL", "C.UTF-8", TRUE);
  g_subprocess_launcher_unsetenv (launcher, "LANGUAGE");

  process = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (process, NULL, NULL, &run->out, &run->err, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (process));
  run->status = g_subprocess_get_exit_status (process);
}

static void
test_cli_help (void)
{
  g_auto(Run) run = { 0 };

  run_llm_node (&run, "--help", NULL);
  g_assert_cmpint (run.status, ==, 0);
  g_assert_cmpstr (run.err, ==, "");
  for (const char *const *command = (const char *[]) { "generate", "tokenize", "render-chat",
                                                        "bench", "host", "peers", "address",
                                                        NULL };
       *command != NULL; command++)
    {
      g_autofree char *line = g_strdup_printf ("\n  %s ", *command);
      g_assert_nonnull (strstr (run.out, line));
    }
  g_assert_nonnull (strstr (run.out, "--version"));
}

static void
test_cli_version (void)
{
  g_auto(Run) run = { 0 };

  run_llm_node (&run, "--version", NULL);
  g_assert_cmpint (run.status, ==, 0);
  g_assert_cmpstr (run.out, ==, "llm-node " PACKAGE_VERSION "\n");
  g_assert_cmpstr (run.err, ==, "");
}

/* Each command, its help naming options of the contract, and what it says
 * when run. */
static const struct {
  const char *command;
  const char *options[4];
} commands[] = {
  { "generate", { "--model=DIR", "--prompt=TEXT", "--temperature=T", "--top-p=P" } },
  { "tokenize", { "--model=DIR", "--jsonl" } },
  { "render-chat", { "--model=DIR" } },
  { "bench", { "--threads=N", "--prompt-tokens=N", "--gen-tokens=N", "--json" } },
  { "host", { "--layers=A-B", "--listen=HOST:PORT", "--peer=HOST:PORT", "--no-dht" } },
  { "peers", { "--json", "--data-dir=DIR" } },
  { "address", { "--data-dir=DIR" } },
};

static void
test_cli_command_help (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    {
      g_auto(Run) run = { 0 };

      run_llm_node (&run, commands[i].command, "--help", NULL);
      g_assert_cmpint (run.status, ==, 0);
      for (guint j = 0; j < G_N_ELEMENTS (commands[i].options) && commands[i].options[j]; j++)
        if (strstr (run.out, commands[i].options[j]) == NULL)
          g_error ("“llm-node %s --help” lacks %s:\n%s", commands[i].command,
                   commands[i].options[j], run.out);
    }
}

static void
test_cli_unknown_command (void)
{
  g_auto(Run) run = { 0 };

  run_llm_node (&run, "frobnicate", NULL);
  g_assert_cmpint (run.status, ==, 2);
  g_assert_cmpstr (run.out, ==, "");
  g_assert_nonnull (strstr (run.err, "unknown command “frobnicate”"));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/llm/integration/cli/help", test_cli_help);
  g_test_add_func ("/llm/integration/cli/version", test_cli_version);
  g_test_add_func ("/llm/integration/cli/command-help", test_cli_command_help);
  g_test_add_func ("/llm/integration/cli/unknown-command", test_cli_unknown_command);

  return g_test_run ();
}

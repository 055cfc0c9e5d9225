/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-cli"

#include "config.h"

#include "llm-cli-private.h"
#include "llm-paths.h"

#include <glib/gi18n.h>

/* The headless half of `llm-node`: one entry per subcommand. Nothing here
 * touches GTK, so every command runs on a machine without a display. */

typedef struct
{
  const char *name;
  const char *parameters;
  const char *summary;
  int (*run) (CliOptions *options, int argc, char **argv);
  /* Refuse any argument besides the options (checked here, for all). */
  gboolean no_arguments;
} CliCommand;

static const CliCommand commands[] = {
  { "generate", N_("--model DIR --prompt TEXT"),
    N_("Continue a prompt with a model and print only the completion"),
    llm_cli_generate },
  { "tokenize", N_("--model DIR [--] TEXT"),
    N_("Print the token ids of a text as a JSON array"),
    llm_cli_tokenize },
  { "render-chat", N_("--model DIR"),
    N_("Render a JSON conversation read on standard input with the model’s chat template"),
    llm_cli_render_chat },
  { "bench", N_("--model DIR"),
    N_("Measure prefill and decode speed on this machine"),
    llm_cli_bench },
  { "host", N_("--model DIR --layers A-B"),
    N_("Host a range of a model’s layers for the swarm, without a window"),
    llm_cli_host, TRUE },
  { "peers", N_("--json"),
    N_("Print what the node running on the data directory knows of its peers"),
    llm_cli_peers, TRUE },
  { "address", "",
    N_("Print this node’s .llm address"),
    llm_cli_address, TRUE },
};

static const CliCommand *
find_command (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    if (g_strcmp0 (commands[i].name, name) == 0)
      return &commands[i];
  return NULL;
}

gboolean
llm_cli_is_command (const char *name)
{
  return find_command (name) != NULL;
}

/**
 * llm_cli_dup_commands_help:
 *
 * Returns: (transfer full): the list of subcommands, for `llm-node --help`.
 */
char *
llm_cli_dup_commands_help (void)
{
  g_autoptr(GString) help = g_string_new (_("Commands:"));

  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    g_string_append_printf (help, "\n  %-12s %s", commands[i].name, _(commands[i].summary));
  g_string_append_printf (help, "\n\n%s", _("Run “llm-node COMMAND --help” for a command’s options."));

  return g_string_free (g_steal_pointer (&help), FALSE);
}

/* The options of each command, with the spelling of the command-line contract
 * in DESIGN.md; the acceptance checks drive these. */
static GOptionEntry *
dup_entries (const CliCommand *command,
             CliOptions       *options)
{
  const GOptionEntry model = { "model", 0, 0, G_OPTION_ARG_FILENAME, &options->model_dir,
                               N_("Hugging Face model folder"), N_("DIR") };
  const GOptionEntry threads = { "threads", 0, 0, G_OPTION_ARG_INT, &options->n_threads,
                                 N_("Worker threads (default: all cores)"), N_("N") };
  const GOptionEntry data_dir = { "data-dir", 0, 0, G_OPTION_ARG_FILENAME, &options->data_dir,
                                  N_("Node data directory (default: the user data directory)"),
                                  N_("DIR") };
  g_autoptr(GArray) entries = g_array_new (TRUE, TRUE, sizeof (GOptionEntry));

#define ADD(...) G_STMT_START { GOptionEntry e_ = __VA_ARGS__; g_array_append_val (entries, e_); } G_STMT_END

  if (g_str_equal (command->name, "generate"))
    {
      g_array_append_val (entries, model);
      ADD (((GOptionEntry) { "prompt", 0, 0, G_OPTION_ARG_STRING, &options->prompt,
                             N_("Text to continue"), N_("TEXT") }));
      ADD (((GOptionEntry) { "prompt-ids", 0, 0, G_OPTION_ARG_STRING, &options->prompt_ids,
                             N_("Token ids to continue, comma-separated"), N_("IDS") }));
      ADD (((GOptionEntry) { "max-tokens", 'n', 0, G_OPTION_ARG_INT, &options->n_tokens,
                             N_("Most tokens to generate"), N_("N") }));
      ADD (((GOptionEntry) { "temperature", 0, 0, G_OPTION_ARG_DOUBLE, &options->temperature,
                             N_("Sampling temperature; 0 is greedy"), N_("T") }));
      ADD (((GOptionEntry) { "top-p", 0, 0, G_OPTION_ARG_DOUBLE, &options->top_p,
                             N_("Nucleus sampling mass"), N_("P") }));
      ADD (((GOptionEntry) { "seed", 0, 0, G_OPTION_ARG_INT64, &options->seed,
                             N_("Random seed"), N_("S") }));
      g_array_append_val (entries, threads);
      ADD (((GOptionEntry) { "chat", 0, 0, G_OPTION_ARG_NONE, &options->chat,
                             N_("Wrap the prompt as a user message in the chat template"), NULL }));
    }
  else if (g_str_equal (command->name, "tokenize"))
    {
      g_array_append_val (entries, model);
      ADD (((GOptionEntry) { "jsonl", 0, 0, G_OPTION_ARG_NONE, &options->jsonl,
                             N_("Read one JSON string per line, print one array per line"),
                             NULL }));
    }
  else if (g_str_equal (command->name, "render-chat"))
    {
      g_array_append_val (entries, model);
    }
  else if (g_str_equal (command->name, "bench"))
    {
      g_array_append_val (entries, model);
      g_array_append_val (entries, threads);
      ADD (((GOptionEntry) { "prompt-tokens", 0, 0, G_OPTION_ARG_INT, &options->prompt_tokens,
                             N_("Prompt length for prefill"), N_("N") }));
      ADD (((GOptionEntry) { "gen-tokens", 0, 0, G_OPTION_ARG_INT, &options->gen_tokens,
                             N_("Tokens to decode"), N_("N") }));
      ADD (((GOptionEntry) { "json", 0, 0, G_OPTION_ARG_NONE, &options->json,
                             N_("Print one JSON object"), NULL }));
    }
  else if (g_str_equal (command->name, "host"))
    {
      g_array_append_val (entries, model);
      ADD (((GOptionEntry) { "layers", 0, 0, G_OPTION_ARG_STRING, &options->layers,
                             N_("Layers to host, inclusive and 0-based"), N_("A-B") }));
      ADD (((GOptionEntry) { "listen", 0, 0, G_OPTION_ARG_STRING, &options->listen,
                             N_("Address to listen on"), N_("HOST:PORT") }));
      ADD (((GOptionEntry) { "peer", 0, 0, G_OPTION_ARG_STRING_ARRAY, &options->peers,
                             N_("A peer to connect to; repeatable"), N_("HOST:PORT") }));
      ADD (((GOptionEntry) { "bootstrap", 0, 0, G_OPTION_ARG_STRING, &options->bootstrap,
                             N_("DHT bootstrap node"), N_("HOST:PORT") }));
      ADD (((GOptionEntry) { "no-mdns", 0, 0, G_OPTION_ARG_NONE, &options->no_mdns,
                             N_("Do not publish or browse on the local network"), NULL }));
      ADD (((GOptionEntry) { "no-dht", 0, 0, G_OPTION_ARG_NONE, &options->no_dht,
                             N_("Do not join the DHT"), NULL }));
      g_array_append_val (entries, data_dir);
    }
  else if (g_str_equal (command->name, "peers"))
    {
      ADD (((GOptionEntry) { "json", 0, 0, G_OPTION_ARG_NONE, &options->json,
                             N_("Print JSON"), NULL }));
      g_array_append_val (entries, data_dir);
    }
  else if (g_str_equal (command->name, "address"))
    {
      g_array_append_val (entries, data_dir);
    }
  else
    g_assert_not_reached ();

#undef ADD

  return (GOptionEntry *) g_array_free (g_steal_pointer (&entries), FALSE);
}

static void
cli_options_clear (CliOptions *options)
{
  g_free (options->model_dir);
  g_free (options->prompt);
  g_free (options->prompt_ids);
  g_free (options->layers);
  g_free (options->listen);
  g_free (options->bootstrap);
  g_free (options->data_dir);
  g_strfreev (options->peers);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (CliOptions, cli_options_clear)

/**
 * llm_cli_dup_data_dir:
 * @options: the parsed options
 *
 * Returns: (transfer full): `--data-dir`, or the user data directory
 */
char *
llm_cli_dup_data_dir (CliOptions *options)
{
  return options->data_dir != NULL ? g_strdup (options->data_dir)
                                   : llm_paths_dup_default_data_dir ();
}

/**
 * llm_cli_run:
 * @argc: the number of arguments
 * @argv: the subcommand's name, then its arguments
 *
 * Runs one subcommand to its end, printing its output on stdout and its
 * errors on stderr.
 *
 * Returns: the process exit status: 0 on success, 1 on failure, 2 for a
 *   command line that cannot be understood.
 */
int
llm_cli_run (int    argc,
             char **argv)
{
  g_auto(CliOptions) options = {
    .temperature = 1.0, .top_p = 1.0, .n_tokens = 256, .prompt_tokens = 128, .gen_tokens = 64,
  };
  g_autoptr(GOptionContext) context = NULL;
  g_autofree GOptionEntry *entries = NULL;
  g_autofree char *prgname = NULL;
  g_autoptr(GError) error = NULL;
  const CliCommand *command;

  g_return_val_if_fail (argc >= 1, 2);

  command = find_command (argv[0]);
  if (command == NULL)
    {
      g_printerr (_("llm-node: unknown command “%s”. Run “llm-node --help” for the list.\n"),
                  argv[0]);
      return 2;
    }

  /* "Usage: llm-node generate [OPTION…] --model DIR --prompt TEXT" */
  prgname = g_strdup_printf ("llm-node %s", command->name);
  g_set_prgname (prgname);
  context = g_option_context_new (_(command->parameters));
  g_option_context_set_summary (context, _(command->summary));
  g_option_context_set_translation_domain (context, GETTEXT_PACKAGE);
  entries = dup_entries (command, &options);
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  g_option_context_set_strict_posix (context, FALSE);

  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("llm-node %s: %s\n", command->name, error->message);
      return 2;
    }

  /* argv[0] is the command's name. */
  if (command->no_arguments && argc > 1)
    {
      g_printerr (_("llm-node %s: unexpected argument “%s”\n"), command->name, argv[1]);
      return 2;
    }

  return command->run (&options, argc, argv);
}

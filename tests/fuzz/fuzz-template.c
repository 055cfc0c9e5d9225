/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-fuzz-template"

/* libFuzzer target for the chat template engine. The input is a template:
 * it is parsed, then rendered with a small fixed conversation under tight
 * limits, so that no input loops, recurses or grows for long. Besides the
 * sanitizers, it checks what the API promises: a rendering is valid UTF-8
 * within the length limit, and every error is in LLM_TEMPLATE_ERROR and names
 * its position in the template. */

#include "llm-template.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data,
                            size_t         size);

static const char context_json[] =
  "{\"messages\": ["
  "  {\"role\": \"system\", \"content\": \"Be brief.\"},"
  "  {\"role\": \"user\", \"content\": \"Hi 👋 <think>x</think>\\n\"},"
  "  {\"role\": \"assistant\", \"content\": \"<think>\\nhm\\n</think>\\n\\nHello\","
  "   \"tool_calls\": ["
  "    {\"id\": \"call12345\", \"type\": \"function\","
  "     \"function\": {\"name\": \"f\", \"arguments\": {\"x\": 1.5, \"10\": [true, null]}}}]},"
  "  {\"role\": \"tool\", \"content\": \"{\\\"ok\\\": 1}\"},"
  "  {\"role\": \"user\", \"content\": \"\"}],"
  " \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\": {}}}],"
  " \"add_generation_prompt\": true, \"enable_thinking\": false,"
  " \"bos_token\": \"<s>\", \"eos_token\": \"</s>\", \"n\": 3, \"f\": 0.25, \"nothing\": null}";

static JsonObject *
context (void)
{
  static JsonObject *object;

  if (object == NULL)
    {
      g_autoptr(JsonParser) parser = json_parser_new ();

      if (!json_parser_load_from_data (parser, context_json, -1, NULL))
        abort ();
      object = json_object_ref (json_node_get_object (json_parser_get_root (parser)));
    }
  return object;
}

static void
check_error (const GError *error)
{
  if (error == NULL || error->domain != LLM_TEMPLATE_ERROR || error->message[0] == '\0')
    abort ();
  if (error->code != LLM_TEMPLATE_ERROR_INVALID && !g_str_has_prefix (error->message, "fuzz:"))
    abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  const LlmTemplateLimits limits = {
    .max_steps = 20000,
    .max_length = 1 << 16,
    .max_depth = 100,
  };
  g_autofree char *source = g_strndup ((const char *) data, size);
  g_autoptr(LlmTemplate) template = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *output = NULL;

  template = llm_template_new (source, "fuzz", &error);
  if (template == NULL)
    {
      check_error (error);
      if (error->code != LLM_TEMPLATE_ERROR_SYNTAX)
        abort ();
      return 0;
    }

  llm_template_set_limits (template, &limits);
  output = llm_template_render (template, context (), &error);
  if (output == NULL)
    check_error (error);
  else if (error != NULL || strlen (output) > limits.max_length ||
           !g_utf8_validate (output, -1, NULL))
    abort ();
  return 0;
}

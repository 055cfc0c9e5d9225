/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* Chat templates: the Jinja subset that Hugging Face models ship in
 * tokenizer_config.json, rendered with the semantics of @huggingface/jinja
 * (the template engine of transformers.js), which the tests compare with byte
 * for byte. A template is parsed once and rendered many times; every value a
 * template sees is JSON. */

#define LLM_TEMPLATE_ERROR (llm_template_error_quark ())

typedef enum
{
  LLM_TEMPLATE_ERROR_SYNTAX,      /* the template cannot be parsed */
  LLM_TEMPLATE_ERROR_RENDER,      /* rendering failed: a type error, an unknown filter… */
  LLM_TEMPLATE_ERROR_RAISED,      /* the template called raise_exception() */
  LLM_TEMPLATE_ERROR_LIMIT,       /* a step, depth or size limit was reached */
  LLM_TEMPLATE_ERROR_NO_TEMPLATE, /* a model folder without a chat template */
  LLM_TEMPLATE_ERROR_INVALID,     /* a bad tokenizer_config.json or request */
} LlmTemplateError;

/* Bounds on one rendering, so that no template loops, recurses or grows
 * without end: each is an LLM_TEMPLATE_ERROR_LIMIT when reached. */
typedef struct
{
  guint64 max_steps;  /* expressions evaluated and loop iterations, in all */
  gsize max_length;   /* bytes of any one string, the output included */
  guint max_depth;    /* nesting of evaluation, macro calls included */
} LlmTemplateLimits;

typedef struct _LlmTemplate LlmTemplate;

GQuark       llm_template_error_quark          (void);

LlmTemplate *llm_template_new                  (const char               *source,
                                                const char               *name,
                                                GError                  **error);
void         llm_template_free                 (LlmTemplate              *self);
void         llm_template_get_limits           (LlmTemplate              *self,
                                                LlmTemplateLimits        *limits);
void         llm_template_set_limits           (LlmTemplate              *self,
                                                const LlmTemplateLimits  *limits);
char        *llm_template_render               (LlmTemplate              *self,
                                                JsonObject               *variables,
                                                GError                  **error);

char        *llm_chat_template_dup_source      (const char               *model_dir,
                                                JsonObject               *request,
                                                char                    **name,
                                                GError                  **error);
char        *llm_chat_template_render_for_model (const char              *model_dir,
                                                 JsonObject              *request,
                                                 GError                 **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LlmTemplate, llm_template_free)

G_END_DECLS

/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A JSON reader fast enough for an 11 MB tokenizer.json (json-glib takes
 * five times as long, and cuts strings at U+0000): RFC 8259 into a
 * read-only tree that lives in one arena. Strings are unescaped,
 * NUL-terminated and valid UTF-8 (lone surrogates are refused, as
 * serde_json does); objects keep their members in order, and a lookup finds
 * the last of duplicate keys, as JavaScript's JSON.parse() keeps it. */

#define LLM_JSON_ERROR (llm_json_error_quark ())

typedef enum
{
  LLM_JSON_ERROR_INVALID,   /* not JSON, with the line and column */
} LlmJsonError;

GQuark llm_json_error_quark (void);

typedef enum
{
  LLM_JSON_NULL,
  LLM_JSON_FALSE,
  LLM_JSON_TRUE,
  LLM_JSON_NUMBER,
  LLM_JSON_STRING,
  LLM_JSON_ARRAY,
  LLM_JSON_OBJECT,
} LlmJsonType;

typedef struct _LlmJson LlmJson;

struct _LlmJson
{
  LlmJsonType  type;
  guint32      length;      /* string: bytes; array, object: items */
  gsize        offset;      /* byte offset of the value in the text */
  const char  *key;         /* the member's name, inside an object */
  guint32      key_length;
  union
  {
    double          number;
    const char     *string;
    const LlmJson  *items;  /* (length) */
  };
};

typedef struct _LlmJsonDoc LlmJsonDoc;

/* name is the file's path, for messages: "NAME:LINE:COLUMN: problem"; NULL
 * for a text of one line, whose messages give the column (in bytes). */
LlmJsonDoc    *llm_json_parse        (const char     *text,
                                      gsize           length,
                                      const char     *name,
                                      GError        **error);
void           llm_json_doc_free     (LlmJsonDoc     *doc);
const LlmJson *llm_json_doc_get_root (LlmJsonDoc     *doc);
const char    *llm_json_doc_get_name (LlmJsonDoc     *doc);
/* "NAME:LINE:COLUMN" of a value. */
char          *llm_json_doc_dup_position (LlmJsonDoc    *doc,
                                          const LlmJson *value);
/* NULL when object is not an object or has no such member. */
const LlmJson *llm_json_get_member   (const LlmJson  *object,
                                      const char     *key);
const char    *llm_json_type_name    (LlmJsonType     type);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LlmJsonDoc, llm_json_doc_free)

G_END_DECLS

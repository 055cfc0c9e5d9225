/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-template-parse"

#include <string.h>

#include "llm-template-private.h"

/* From source text to syntax tree, as @huggingface/jinja does it: the same
 * preprocessing (trim_blocks and lstrip_blocks, as transformers renders, and
 * {% generation %} tags dropped), the same tokens and the same grammar, down to
 * its quirks, so that a template parses here exactly when it parses there.
 * Every token keeps its offset in the original source for messages. */

/* No syntax tree is deeper than this: it bounds every recursion over one. */
#define MAX_TREE_DEPTH 256

/* ---- preprocessing ----------------------------------------------------- */

typedef struct
{
  GString *text;
  GArray *origin;   /* gsize: the source offset of each byte, and one past the end */
} Mapped;

static void
mapped_init (Mapped *mapped)
{
  mapped->text = g_string_new (NULL);
  mapped->origin = g_array_new (FALSE, FALSE, sizeof (gsize));
}

static void
mapped_clear (Mapped *mapped)
{
  g_string_free (mapped->text, TRUE);
  g_array_unref (mapped->origin);
}

static void
mapped_copy (Mapped       *out,
             const Mapped *in,
             gsize         from,
             gsize         to)
{
  g_string_append_len (out->text, in->text->str + from, to - from);
  g_array_append_vals (out->origin, &g_array_index (in->origin, gsize, from), to - from);
}

static void
mapped_finish (Mapped       *out,
               const Mapped *in)
{
  gsize end = g_array_index (in->origin, gsize, in->text->len);

  g_array_append_val (out->origin, end);
}

static void
mapped_swap (Mapped *a,
             Mapped *b)
{
  Mapped tmp = *a;

  *a = *b;
  *b = tmp;
  g_string_truncate (b->text, 0);
  g_array_set_size (b->origin, 0);
}

/* `^` of a JavaScript regular expression with the m flag: the start, or after
 * a line terminator (\n, \r, U+2028, U+2029). */
static gboolean
is_line_start (const char *s,
               gsize       i)
{
  if (i == 0 || s[i - 1] == '\n' || s[i - 1] == '\r')
    return TRUE;
  return i >= 3 && (guchar) s[i - 3] == 0xe2 && (guchar) s[i - 2] == 0x80 &&
         ((guchar) s[i - 1] == 0xa8 || (guchar) s[i - 1] == 0xa9);
}

static gsize
skip_spaces (const char *s,
             gsize       len,
             gsize       i)
{
  gsize n;

  while (i < len && (n = js_space_length (s + i, len - i)) > 0)
    i += n;
  return i;
}

/* {%-? \s* (end)?generation \s* -?%} at i: its end, or 0. */
static gsize
match_generation_tag (const char *s,
                      gsize       len,
                      gsize       i,
                      gboolean   *lstrip,
                      gboolean   *rstrip)
{
  if (i + 1 >= len || s[i] != '{' || s[i + 1] != '%')
    return 0;
  i += 2;
  *lstrip = i < len && s[i] == '-';
  if (*lstrip)
    i++;
  i = skip_spaces (s, len, i);
  if (len - i >= 13 && memcmp (s + i, "endgeneration", 13) == 0)
    i += 3;
  if (len - i < 10 || memcmp (s + i, "generation", 10) != 0)
    return 0;
  i = skip_spaces (s, len, i + 10);
  *rstrip = i < len && s[i] == '-';
  if (*rstrip)
    i++;
  if (i + 1 >= len || s[i] != '%' || s[i + 1] != '}')
    return 0;
  return i + 2;
}

static void
preprocess (const char *source,
            gsize       length,
            Mapped     *result)
{
  Mapped in, out;
  const char *s;
  gsize n;

  mapped_init (&in);
  mapped_init (&out);
  g_string_append_len (in.text, source, length);
  for (gsize i = 0; i <= length; i++)
    g_array_append_val (in.origin, i);

  /* One trailing newline goes, as Jinja's keep_trailing_newline=False. */
  if (in.text->len > 0 && in.text->str[in.text->len - 1] == '\n')
    {
      g_string_truncate (in.text, in.text->len - 1);
      g_array_set_size (in.origin, in.text->len + 1);
    }

  /* lstrip_blocks: /^[ \t]*({[#%-])/gm → "$1" */
  s = in.text->str;
  n = in.text->len;
  for (gsize i = 0; i < n;)
    {
      if (is_line_start (s, i))
        {
          gsize j = i;

          while (j < n && (s[j] == ' ' || s[j] == '\t'))
            j++;
          if (j + 1 < n && s[j] == '{' && (s[j + 1] == '#' || s[j + 1] == '%' || s[j + 1] == '-'))
            {
              mapped_copy (&out, &in, j, j + 2);
              i = j + 2;
              continue;
            }
        }
      mapped_copy (&out, &in, i, i + 1);
      i++;
    }
  mapped_finish (&out, &in);
  mapped_swap (&in, &out);

  /* trim_blocks: /([#%-]})\n/g → "$1" */
  s = in.text->str;
  n = in.text->len;
  for (gsize i = 0; i < n;)
    {
      if (i + 2 < n && (s[i] == '#' || s[i] == '%' || s[i] == '-') && s[i + 1] == '}' &&
          s[i + 2] == '\n')
        {
          mapped_copy (&out, &in, i, i + 2);
          i += 3;
          continue;
        }
      mapped_copy (&out, &in, i, i + 1);
      i++;
    }
  mapped_finish (&out, &in);
  mapped_swap (&in, &out);

  /* /(\s*){%(-?)\s*(?:end)?generation\s*(-?)%}(\s*)/gs: the tags go, and the
   * white space around them where they say so. */
  s = in.text->str;
  n = in.text->len;
  for (gsize i = 0; i < n;)
    {
      gboolean lstrip = FALSE, rstrip = FALSE;
      gsize q = skip_spaces (s, n, i);
      gsize end = match_generation_tag (s, n, q, &lstrip, &rstrip);

      if (end > 0)
        {
          gsize r = skip_spaces (s, n, end);

          if (!lstrip)
            mapped_copy (&out, &in, i, q);
          if (!rstrip)
            mapped_copy (&out, &in, end, r);
          i = r;
        }
      else if (q > i)
        {
          mapped_copy (&out, &in, i, q);
          i = q;
        }
      else
        {
          gsize next = g_utf8_next_char (s + i) - s;

          mapped_copy (&out, &in, i, MIN (next, n));
          i = MIN (next, n);
        }
    }
  mapped_finish (&out, &in);

  mapped_clear (&in);
  *result = out;
}

/* ---- tokens ------------------------------------------------------------ */

typedef enum
{
  TOKEN_TEXT,
  TOKEN_NUMBER,
  TOKEN_STRING,
  TOKEN_IDENTIFIER,
  TOKEN_EQUALS,
  TOKEN_OPEN_PAREN,
  TOKEN_CLOSE_PAREN,
  TOKEN_OPEN_STATEMENT,
  TOKEN_CLOSE_STATEMENT,
  TOKEN_OPEN_EXPRESSION,
  TOKEN_CLOSE_EXPRESSION,
  TOKEN_OPEN_SQUARE,
  TOKEN_CLOSE_SQUARE,
  TOKEN_OPEN_CURLY,
  TOKEN_CLOSE_CURLY,
  TOKEN_COMMA,
  TOKEN_DOT,
  TOKEN_COLON,
  TOKEN_PIPE,
  TOKEN_ADDITIVE,
  TOKEN_MULTIPLICATIVE,
  TOKEN_EXPONENTIATION,
  TOKEN_COMPARISON,
  TOKEN_UNARY,
  TOKEN_COMMENT,
  TOKEN_NONE,
} TokenType;

static const char * const token_names[] = {
  "text", "number", "string", "name", "“=”", "“(”", "“)”", "“{%”", "“%}”", "“{{”", "“}}”",
  "“[”", "“]”", "“{”", "“}”", "“,”", "“.”", "“:”", "“|”", "operator", "operator", "“**”",
  "comparison", "operator", "comment", "end of template",
};

typedef struct
{
  TokenType type;
  GString *value;
  gsize offset;   /* in the original source */
} Token;

static void
token_clear (gpointer data)
{
  Token *token = data;

  g_string_free (token->value, TRUE);
}

static const struct
{
  const char *seq;
  TokenType type;
} ordered_mapping[] = {
  { "{%", TOKEN_OPEN_STATEMENT },
  { "%}", TOKEN_CLOSE_STATEMENT },
  { "{{", TOKEN_OPEN_EXPRESSION },
  { "}}", TOKEN_CLOSE_EXPRESSION },
  { "(", TOKEN_OPEN_PAREN },
  { ")", TOKEN_CLOSE_PAREN },
  { "{", TOKEN_OPEN_CURLY },
  { "}", TOKEN_CLOSE_CURLY },
  { "[", TOKEN_OPEN_SQUARE },
  { "]", TOKEN_CLOSE_SQUARE },
  { ",", TOKEN_COMMA },
  { ".", TOKEN_DOT },
  { ":", TOKEN_COLON },
  { "|", TOKEN_PIPE },
  { "<=", TOKEN_COMPARISON },
  { ">=", TOKEN_COMPARISON },
  { "==", TOKEN_COMPARISON },
  { "!=", TOKEN_COMPARISON },
  { "<", TOKEN_COMPARISON },
  { ">", TOKEN_COMPARISON },
  { "+", TOKEN_ADDITIVE },
  { "-", TOKEN_ADDITIVE },
  { "~", TOKEN_ADDITIVE },
  { "**", TOKEN_EXPONENTIATION },
  { "*", TOKEN_MULTIPLICATIVE },
  { "//", TOKEN_MULTIPLICATIVE },
  { "/", TOKEN_MULTIPLICATIVE },
  { "%", TOKEN_MULTIPLICATIVE },
  { "=", TOKEN_EQUALS },
};

typedef struct
{
  const TemplateTree *tree;
  const char *src;
  gsize n;
  const gsize *origin;
  gsize pos;
  GArray *tokens;   /* Token */
} Lexer;

static gboolean G_GNUC_PRINTF (4, 5)
set_error_at (GError             **error,
              const TemplateTree  *tree,
              gsize                offset,
              const char          *format,
              ...)
{
  g_autofree char *position = template_tree_dup_position (tree, offset);
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, LLM_TEMPLATE_ERROR, LLM_TEMPLATE_ERROR_SYNTAX, "%s: %s", position, message);
  return FALSE;
}

static gboolean G_GNUC_PRINTF (3, 4)
lexer_error (Lexer       *lexer,
             GError     **error,
             const char  *format,
             ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  return set_error_at (error, lexer->tree, lexer->origin[MIN (lexer->pos, lexer->n)], "%s",
                       message);
}

static TokenType
lexer_last_type (Lexer *lexer)
{
  if (lexer->tokens->len == 0)
    return TOKEN_NONE;
  return g_array_index (lexer->tokens, Token, lexer->tokens->len - 1).type;
}

static Token *
lexer_push (Lexer      *lexer,
            TokenType   type,
            const char *value,
            gsize       len,
            gsize       start)
{
  Token token = { type, g_string_new_len (value, len), lexer->origin[start] };

  g_array_append_val (lexer->tokens, token);
  return &g_array_index (lexer->tokens, Token, lexer->tokens->len - 1);
}

static void
lexer_strip_trailing_whitespace (Lexer *lexer)
{
  Token *last;

  if (lexer_last_type (lexer) != TOKEN_TEXT)
    return;
  last = &g_array_index (lexer->tokens, Token, lexer->tokens->len - 1);
  g_string_truncate (last->value, js_trim_end (last->value->str, last->value->len));
  if (last->value->len == 0)
    g_array_set_size (lexer->tokens, lexer->tokens->len - 1);
}

static gboolean
lexer_starts (Lexer      *lexer,
              const char *seq)
{
  gsize len = strlen (seq);

  return lexer->n - lexer->pos >= len && memcmp (lexer->src + lexer->pos, seq, len) == 0;
}

static gboolean
is_digit (char c)
{
  return c >= '0' && c <= '9';
}

static gboolean
is_word (char c)
{
  return g_ascii_isalnum (c) || c == '_';
}

static gboolean
is_hex_digits (const char *s,
               gsize       len)
{
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isxdigit (s[i]))
      return FALSE;
  return TRUE;
}

/* consumeWhile() of the reference for digits and words: running into the end
 * of the source is an error there, so it is here. */
static gboolean
lexer_consume_class (Lexer     *lexer,
                     gboolean (*predicate) (char),
                     GString   *out,
                     GError   **error)
{
  while (lexer->pos < lexer->n && predicate (lexer->src[lexer->pos]))
    {
      g_string_append_c (out, lexer->src[lexer->pos++]);
      if (lexer->pos >= lexer->n)
        return lexer_error (lexer, error, "unexpected end of template");
    }
  return TRUE;
}

/* A string literal's characters up to the closing quote, with its escapes.
 * \u escapes are UTF-16 code units: a pair of surrogates makes one
 * character, a lone surrogate becomes U+FFFD (JavaScript would keep it, and
 * print it as U+FFFD). */
static gboolean
lexer_consume_string (Lexer    *lexer,
                      char      quote,
                      GString  *out,
                      GError  **error)
{
  gunichar pending_high = 0;

  while (lexer->pos < lexer->n && lexer->src[lexer->pos] != quote)
    {
      if (lexer->src[lexer->pos] == '\\')
        {
          char escaped;

          lexer->pos++;
          if (lexer->pos >= lexer->n)
            return lexer_error (lexer, error, "unexpected end of template");
          escaped = lexer->src[lexer->pos++];
          if (escaped == 'x' || escaped == 'u')
            {
              gsize length = escaped == 'x' ? 2 : 4;
              char hex[5] = { 0 };
              gunichar unit;

              if (lexer->n - lexer->pos < length ||
                  !is_hex_digits (lexer->src + lexer->pos, length))
                return lexer_error (lexer, error, "invalid escape sequence “\\%c”", escaped);
              memcpy (hex, lexer->src + lexer->pos, length);
              unit = g_ascii_strtoull (hex, NULL, 16);
              lexer->pos += length;
              if (unit >= 0xdc00 && unit <= 0xdfff && pending_high != 0)
                {
                  js_append_char (out, 0x10000 + ((pending_high - 0xd800) << 10) + (unit - 0xdc00));
                  pending_high = 0;
                  continue;
                }
              if (pending_high != 0)
                js_append_char (out, 0xfffd);
              pending_high = 0;
              if (unit >= 0xd800 && unit <= 0xdbff)
                pending_high = unit;
              else if (unit >= 0xdc00 && unit <= 0xdfff)
                js_append_char (out, 0xfffd);
              else
                js_append_char (out, unit);
              continue;
            }
          if (pending_high != 0)
            js_append_char (out, 0xfffd);
          pending_high = 0;
          switch (escaped)
            {
            case 'n': g_string_append_c (out, '\n'); break;
            case 't': g_string_append_c (out, '\t'); break;
            case 'r': g_string_append_c (out, '\r'); break;
            case 'b': g_string_append_c (out, '\b'); break;
            case 'f': g_string_append_c (out, '\f'); break;
            case 'v': g_string_append_c (out, '\v'); break;
            case '\'': g_string_append_c (out, '\''); break;
            case '"': g_string_append_c (out, '"'); break;
            case '\\': g_string_append_c (out, '\\'); break;
            default:
              lexer->pos -= 2;
              return lexer_error (lexer, error, "unknown escape sequence “\\%c”", escaped);
            }
          continue;
        }
      if (pending_high != 0)
        js_append_char (out, 0xfffd);
      pending_high = 0;
      g_string_append_c (out, lexer->src[lexer->pos++]);
      if (lexer->pos >= lexer->n)
        return lexer_error (lexer, error, "unterminated string");
    }
  if (pending_high != 0)
    js_append_char (out, 0xfffd);
  if (lexer->pos >= lexer->n)
    return lexer_error (lexer, error, "unterminated string");
  return TRUE;
}

static gboolean
lexer_run (Lexer   *lexer,
           GError **error)
{
  int curly_depth = 0;

  while (lexer->pos < lexer->n)
    {
      TokenType last = lexer_last_type (lexer);
      gsize start = lexer->pos;
      gsize n;
      char c;
      gboolean matched = FALSE;

      if (last == TOKEN_NONE || last == TOKEN_CLOSE_STATEMENT || last == TOKEN_CLOSE_EXPRESSION ||
          last == TOKEN_COMMENT)
        {
          while (lexer->pos < lexer->n &&
                 !(lexer->src[lexer->pos] == '{' && lexer->pos + 1 < lexer->n &&
                   (lexer->src[lexer->pos + 1] == '%' || lexer->src[lexer->pos + 1] == '{' ||
                    lexer->src[lexer->pos + 1] == '#')))
            lexer->pos++;
          if (lexer->pos > start)
            {
              lexer_push (lexer, TOKEN_TEXT, lexer->src + start, lexer->pos - start, start);
              continue;
            }
        }

      if (lexer_starts (lexer, "{#"))
        {
          gboolean strip_before, strip_after;
          gsize comment_start, comment_end;

          lexer->pos += 2;
          strip_before = lexer->pos < lexer->n && lexer->src[lexer->pos] == '-';
          if (strip_before)
            lexer->pos++;
          comment_start = lexer->pos;
          while (!lexer_starts (lexer, "#}"))
            {
              if (lexer->pos + 2 >= lexer->n)
                return lexer_error (lexer, error, "missing end of comment tag “#}”");
              lexer->pos++;
            }
          comment_end = lexer->pos;
          strip_after = comment_end > comment_start && lexer->src[comment_end - 1] == '-';
          if (strip_after)
            comment_end--;
          if (strip_before)
            lexer_strip_trailing_whitespace (lexer);
          lexer_push (lexer, TOKEN_COMMENT, lexer->src + comment_start, comment_end - comment_start,
                      start);
          lexer->pos += 2;
          if (strip_after)
            lexer->pos = skip_spaces (lexer->src, lexer->n, lexer->pos);
          continue;
        }

      if (lexer_starts (lexer, "{%-"))
        {
          lexer_strip_trailing_whitespace (lexer);
          lexer_push (lexer, TOKEN_OPEN_STATEMENT, "{%", 2, start);
          lexer->pos += 3;
          continue;
        }
      if (lexer_starts (lexer, "{{-"))
        {
          lexer_strip_trailing_whitespace (lexer);
          lexer_push (lexer, TOKEN_OPEN_EXPRESSION, "{{", 2, start);
          curly_depth = 0;
          lexer->pos += 3;
          continue;
        }

      while (lexer->pos < lexer->n &&
             (n = js_space_length (lexer->src + lexer->pos, lexer->n - lexer->pos)) > 0)
        {
          lexer->pos += n;
          if (lexer->pos >= lexer->n)
            return lexer_error (lexer, error, "unexpected end of template");
        }
      start = lexer->pos;

      if (lexer_starts (lexer, "-%}"))
        {
          lexer_push (lexer, TOKEN_CLOSE_STATEMENT, "%}", 2, start);
          lexer->pos = skip_spaces (lexer->src, lexer->n, lexer->pos + 3);
          continue;
        }
      if (lexer_starts (lexer, "-}}"))
        {
          lexer_push (lexer, TOKEN_CLOSE_EXPRESSION, "}}", 2, start);
          lexer->pos = skip_spaces (lexer->src, lexer->n, lexer->pos + 3);
          continue;
        }

      c = lexer->src[lexer->pos];
      if (c == '-' || c == '+')
        {
          last = lexer_last_type (lexer);
          if (last == TOKEN_TEXT || last == TOKEN_NONE)
            return lexer_error (lexer, error, "unexpected character “%c”", c);
          if (last != TOKEN_IDENTIFIER && last != TOKEN_NUMBER && last != TOKEN_STRING &&
              last != TOKEN_CLOSE_PAREN && last != TOKEN_CLOSE_SQUARE)
            {
              g_autoptr(GString) num = g_string_new (NULL);

              lexer->pos++;
              if (!lexer_consume_class (lexer, is_digit, num, error))
                return FALSE;
              if (num->len > 0 && lexer->pos + 1 < lexer->n && lexer->src[lexer->pos] == '.' &&
                  is_digit (lexer->src[lexer->pos + 1]))
                {
                  lexer->pos++;
                  g_string_append_c (num, '.');
                  if (!lexer_consume_class (lexer, is_digit, num, error))
                    return FALSE;
                }
              g_string_prepend_c (num, c);
              lexer_push (lexer, num->len > 1 ? TOKEN_NUMBER : TOKEN_UNARY, num->str, num->len,
                          start);
              continue;
            }
        }

      for (guint i = 0; i < G_N_ELEMENTS (ordered_mapping); i++)
        {
          if (ordered_mapping[i].type == TOKEN_CLOSE_EXPRESSION && curly_depth > 0)
            continue;
          if (lexer_starts (lexer, ordered_mapping[i].seq))
            {
              TokenType type = ordered_mapping[i].type;

              lexer_push (lexer, type, ordered_mapping[i].seq, strlen (ordered_mapping[i].seq),
                          start);
              if (type == TOKEN_OPEN_EXPRESSION)
                curly_depth = 0;
              else if (type == TOKEN_OPEN_CURLY)
                curly_depth++;
              else if (type == TOKEN_CLOSE_CURLY)
                curly_depth--;
              lexer->pos += strlen (ordered_mapping[i].seq);
              matched = TRUE;
              break;
            }
        }
      if (matched)
        continue;

      if (c == '\'' || c == '"')
        {
          g_autoptr(GString) str = g_string_new (NULL);

          lexer->pos++;
          if (!lexer_consume_string (lexer, c, str, error))
            return FALSE;
          lexer_push (lexer, TOKEN_STRING, str->str, str->len, start);
          lexer->pos++;
          continue;
        }

      if (is_digit (c))
        {
          g_autoptr(GString) num = g_string_new (NULL);

          if (!lexer_consume_class (lexer, is_digit, num, error))
            return FALSE;
          if (lexer_last_type (lexer) != TOKEN_DOT && lexer->pos + 1 < lexer->n &&
              lexer->src[lexer->pos] == '.' && is_digit (lexer->src[lexer->pos + 1]))
            {
              lexer->pos++;
              g_string_append_c (num, '.');
              if (!lexer_consume_class (lexer, is_digit, num, error))
                return FALSE;
            }
          lexer_push (lexer, TOKEN_NUMBER, num->str, num->len, start);
          continue;
        }

      if (is_word (c))
        {
          g_autoptr(GString) word = g_string_new (NULL);

          if (!lexer_consume_class (lexer, is_word, word, error))
            return FALSE;
          lexer_push (lexer, TOKEN_IDENTIFIER, word->str, word->len, start);
          continue;
        }

      {
        gsize i = lexer->pos;
        gunichar u = js_next_char (lexer->src, lexer->n, &i);
        char utf8[8] = { 0 };

        g_unichar_to_utf8 (u, utf8);
        return lexer_error (lexer, error, "unexpected character “%s”", utf8);
      }
    }

  return TRUE;
}


/* ---- kwargs and varargs of macros -------------------------------------- */

typedef struct
{
  gboolean declared_kwargs, declared_varargs;
  gboolean accessed_kwargs, accessed_varargs;
} Specials;

static void
specials_declare_name (Specials   *specials,
                       const char *name)
{
  if (g_str_equal (name, "kwargs"))
    specials->declared_kwargs = TRUE;
  else if (g_str_equal (name, "varargs"))
    specials->declared_varargs = TRUE;
}

static void
specials_declare_target (Specials   *specials,
                         const Node *target)
{
  if (target->type == NODE_IDENTIFIER)
    specials_declare_name (specials, target->str);
  else if (target->type == NODE_TUPLE)
    for (guint i = 0; i < target->args->len; i++)
      specials_declare_target (specials, g_ptr_array_index (target->args, i));
}

static const char *
parameter_name (const Node *parameter)
{
  return parameter->type == NODE_IDENTIFIER ? parameter->str : parameter->a->str;
}

static void specials_visit (Specials *specials, const Node *node);

static void
specials_visit_list (Specials  *specials,
                     GPtrArray *list)
{
  for (guint i = 0; list != NULL && i < list->len; i++)
    specials_visit (specials, g_ptr_array_index (list, i));
}

static void
specials_declare_parameters (Specials  *specials,
                             GPtrArray *parameters)
{
  for (guint i = 0; parameters != NULL && i < parameters->len; i++)
    specials_declare_name (specials, parameter_name (g_ptr_array_index (parameters, i)));
  for (guint i = 0; parameters != NULL && i < parameters->len; i++)
    {
      const Node *parameter = g_ptr_array_index (parameters, i);

      if (parameter->type == NODE_KEYWORD_ARGUMENT)
        specials_visit (specials, parameter->b);
    }
}

static void
specials_visit_filter (Specials   *specials,
                       const Node *filter)
{
  if (filter->type == NODE_CALL)
    specials_visit_list (specials, filter->args);
}

static void
specials_visit (Specials   *specials,
                const Node *node)
{
  if (node == NULL)
    return;

  switch (node->type)
    {
    case NODE_FOR:
      specials_declare_target (specials, node->a);
      if (node->b->type == NODE_SELECT)
        {
          specials_visit (specials, node->b->a);
          specials_visit_list (specials, node->body);
          specials_visit_list (specials, node->alternate);
          specials_visit (specials, node->b->b);
          return;
        }
      specials_visit (specials, node->b);
      specials_visit_list (specials, node->body);
      specials_visit_list (specials, node->alternate);
      return;
    case NODE_SET:
      specials_declare_target (specials, node->a);
      specials_visit (specials, node->b);
      specials_visit_list (specials, node->body);
      return;
    case NODE_MACRO:
      specials_declare_parameters (specials, node->args);
      specials_visit_list (specials, node->body);
      return;
    case NODE_CALL_STATEMENT:
      specials_visit (specials, node->a);
      specials_declare_parameters (specials, node->args);
      specials_visit_list (specials, node->body);
      return;
    case NODE_FILTER_STATEMENT:
      specials_visit_list (specials, node->body);
      specials_visit_filter (specials, node->a);
      return;
    case NODE_IDENTIFIER:
      if (g_str_equal (node->str, "kwargs") && !specials->declared_kwargs)
        specials->accessed_kwargs = TRUE;
      else if (g_str_equal (node->str, "varargs") && !specials->declared_varargs)
        specials->accessed_varargs = TRUE;
      return;
    case NODE_MEMBER:
      specials_visit (specials, node->a);
      if (node->flag)
        specials_visit (specials, node->b);
      return;
    case NODE_FILTER:
      specials_visit (specials, node->a);
      specials_visit_filter (specials, node->b);
      return;
    case NODE_TEST:
      specials_visit (specials, node->a);
      return;
    case NODE_SELECT:
      specials_visit (specials, node->b);
      specials_visit (specials, node->a);
      return;
    case NODE_KEYWORD_ARGUMENT:
      specials_visit (specials, node->b);
      return;
    default:
      specials_visit (specials, node->a);
      specials_visit (specials, node->b);
      specials_visit (specials, node->c);
      specials_visit_list (specials, node->args);
      specials_visit_list (specials, node->body);
      specials_visit_list (specials, node->alternate);
      return;
    }
}

void
template_find_special_arguments (Node *node)
{
  Specials specials = { FALSE, };

  /* the parameters of a macro, the caller parameters of a call block */
  for (guint i = 0; node->args != NULL && i < node->args->len; i++)
    specials_declare_name (&specials, parameter_name (g_ptr_array_index (node->args, i)));
  specials_visit_list (&specials, node->body);
  node->uses_kwargs = specials.accessed_kwargs;
  node->uses_varargs = specials.accessed_varargs;
  node->specials_known = TRUE;
}

/* ---- syntax tree ------------------------------------------------------- */

typedef struct
{
  TemplateTree *tree;
  Token *tokens;
  guint n;
  guint current;
  guint depth;
  gsize end_offset;
  GError **error;
} Parser;

static void
node_free (gpointer data)
{
  Node *node = data;

  g_free (node->str);
  g_clear_pointer (&node->args, g_ptr_array_unref);
  g_clear_pointer (&node->body, g_ptr_array_unref);
  g_clear_pointer (&node->alternate, g_ptr_array_unref);
  g_free (node);
}

static Node *
node_new (Parser   *parser,
          NodeType  type,
          gsize     offset)
{
  Node *node = g_new0 (Node, 1);

  node->type = type;
  node->offset = offset;
  g_ptr_array_add (parser->tree->nodes, node);
  return node;
}

static guint
node_depth (const Node *node)
{
  return node != NULL ? node->depth : 0;
}

static guint
list_depth (GPtrArray *list)
{
  guint depth = 0;

  for (guint i = 0; list != NULL && i < list->len; i++)
    depth = MAX (depth, node_depth (g_ptr_array_index (list, i)));
  return depth;
}

/* Sets the node's depth from its children's; a tree too deep is an error. */
static Node *
node_finish (Parser *parser,
             Node   *node)
{
  guint depth = MAX (MAX (node_depth (node->a), node_depth (node->b)), node_depth (node->c));

  depth = MAX (depth, list_depth (node->args));
  depth = MAX (depth, list_depth (node->body));
  depth = MAX (depth, list_depth (node->alternate));
  node->depth = depth + 1;
  if (node->depth > MAX_TREE_DEPTH)
    {
      set_error_at (parser->error, parser->tree, node->offset,
                    "the template nests too deeply (more than %d levels)", MAX_TREE_DEPTH);
      return NULL;
    }
  if (node->type == NODE_MACRO || node->type == NODE_CALL_STATEMENT)
    template_find_special_arguments (node);
  return node;
}

static Token *
parser_peek (Parser *parser,
             guint   ahead)
{
  if (parser->current + ahead >= parser->n)
    return NULL;
  return &parser->tokens[parser->current + ahead];
}

static gsize
parser_offset (Parser *parser)
{
  Token *token = parser_peek (parser, 0);

  return token != NULL ? token->offset : parser->end_offset;
}

static gpointer G_GNUC_PRINTF (2, 3)
parser_error (Parser     *parser,
              const char *format,
              ...)
{
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  if (parser->error == NULL || *parser->error == NULL)
    set_error_at (parser->error, parser->tree, parser_offset (parser), "%s", message);
  return NULL;
}

static const char *
describe_token (Token *token)
{
  return token != NULL ? token_names[token->type] : token_names[TOKEN_NONE];
}

static gboolean
parser_is (Parser    *parser,
           TokenType  type)
{
  Token *token = parser_peek (parser, 0);

  return token != NULL && token->type == type;
}

static gboolean
parser_is_identifier (Parser     *parser,
                      guint       ahead,
                      const char *name)
{
  Token *token = parser_peek (parser, ahead);

  return token != NULL && token->type == TOKEN_IDENTIFIER && g_str_equal (token->value->str, name);
}

/* {% name … where name is one of the NULL-terminated names */
static gboolean
parser_is_statement (Parser *parser,
                     ...)
{
  Token *open = parser_peek (parser, 0);
  Token *name = parser_peek (parser, 1);
  gboolean found = FALSE;
  const char *candidate;
  va_list args;

  if (open == NULL || open->type != TOKEN_OPEN_STATEMENT || name == NULL ||
      name->type != TOKEN_IDENTIFIER)
    return FALSE;
  va_start (args, parser);
  while (!found && (candidate = va_arg (args, const char *)) != NULL)
    found = g_str_equal (name->value->str, candidate);
  va_end (args);
  return found;
}

static Token *
parser_expect (Parser     *parser,
               TokenType   type,
               const char *what)
{
  Token *token = parser_peek (parser, 0);

  if (token == NULL || token->type != type)
    {
      parser_error (parser, "expected %s, found %s", what, describe_token (token));
      return NULL;
    }
  parser->current++;
  return token;
}

static gboolean
parser_expect_identifier (Parser     *parser,
                          const char *name)
{
  if (!parser_is_identifier (parser, 0, name))
    {
      parser_error (parser, "expected “%s”, found %s", name,
                    describe_token (parser_peek (parser, 0)));
      return FALSE;
    }
  parser->current++;
  return TRUE;
}

/* The tag that closes a block: “{% endif %}”, “{% endfor %}”… */
static gboolean
parser_expect_end_tag (Parser     *parser,
                       const char *name)
{
  return parser_expect (parser, TOKEN_OPEN_STATEMENT, "“{%”") != NULL &&
         parser_expect_identifier (parser, name) &&
         parser_expect (parser, TOKEN_CLOSE_STATEMENT, "“%}”") != NULL;
}

static Node *parse_any (Parser *parser);
static Node *parse_expression (Parser *parser);
static Node *parse_primary_expression (Parser *parser);
static Node *parse_call_expression (Parser *parser,
                                    Node   *callee);
static GPtrArray *parse_args (Parser   *parser,
                              gboolean  parameters);

static gboolean
parser_is_statement_in (Parser             *parser,
                        const char * const *names)
{
  for (guint i = 0; names[i] != NULL; i++)
    if (parser_is_statement (parser, names[i], NULL))
      return TRUE;
  return FALSE;
}

/* Statements up to one of the closing statements `ends` (NULL-terminated,
 * the block's own end last), of the block `opener` that starts at offset. */
static gboolean
parse_body (Parser             *parser,
            GPtrArray          *body,
            gsize               offset,
            const char         *opener,
            const char * const *ends)
{
  while (!parser_is_statement_in (parser, ends))
    {
      Node *child;
      guint last = 0;

      if (parser_peek (parser, 0) == NULL)
        {
          g_autofree char *position = template_tree_dup_position (parser->tree, offset);

          while (ends[last + 1] != NULL)
            last++;
          parser_error (parser, "the “%s” block of %s is not closed: “{%% %s %%}” is missing",
                        opener, position, ends[last]);
          return FALSE;
        }
      if ((child = parse_any (parser)) == NULL)
        return FALSE;
      g_ptr_array_add (body, child);
    }
  return TRUE;
}

#define parse_body_until(parser, body, offset, opener, ...) \
  G_STMT_START { \
    static const char * const ends_[] = { __VA_ARGS__, NULL }; \
    if (!parse_body (parser, body, offset, opener, ends_)) \
      return NULL; \
  } G_STMT_END

static Node *
parse_text (Parser *parser)
{
  Token *token = parser_peek (parser, 0);
  Node *node = node_new (parser, NODE_TEXT, token->offset);

  node->str = g_memdup2 (token->value->str, token->value->len + 1);
  node->len = token->value->len;
  parser->current++;
  return node_finish (parser, node);
}

static Node *
parse_expression_sequence (Parser   *parser,
                           gboolean  primary)
{
  gsize offset = parser_offset (parser);
  Node *first = primary ? parse_primary_expression (parser) : parse_expression (parser);
  Node *tuple;

  if (first == NULL)
    return NULL;
  if (!parser_is (parser, TOKEN_COMMA))
    return first;
  tuple = node_new (parser, NODE_TUPLE, offset);
  tuple->args = g_ptr_array_new ();
  g_ptr_array_add (tuple->args, first);
  while (TRUE)
    {
      Node *next;

      parser->current++;
      next = primary ? parse_primary_expression (parser) : parse_expression (parser);
      if (next == NULL)
        return NULL;
      g_ptr_array_add (tuple->args, next);
      if (!parser_is (parser, TOKEN_COMMA))
        break;
    }
  return node_finish (parser, tuple);
}

static Node *
parse_set_statement (Parser *parser,
                     gsize   offset)
{
  Node *node = node_new (parser, NODE_SET, offset);

  node->body = g_ptr_array_new ();
  if ((node->a = parse_expression_sequence (parser, FALSE)) == NULL)
    return NULL;
  if (parser_is (parser, TOKEN_EQUALS))
    {
      parser->current++;
      if ((node->b = parse_expression_sequence (parser, FALSE)) == NULL)
        return NULL;
    }
  else
    {
      if (parser_expect (parser, TOKEN_CLOSE_STATEMENT, "“%}”") == NULL)
        return NULL;
      parse_body_until (parser, node->body, offset, "set", "endset");
      parser_expect (parser, TOKEN_OPEN_STATEMENT, "“{%”");
      if (!parser_expect_identifier (parser, "endset"))
        return NULL;
    }
  if (parser_expect (parser, TOKEN_CLOSE_STATEMENT, "“%}”") == NULL)
    return NULL;
  return node_finish (parser, node);
}

static Node *
parse_if_statement (Parser *parser,
                    gsize   offset)
{
  Node *node = node_new (parser, NODE_IF, offset);

  node->body = g_ptr_array_new ();
  node->alternate = g_ptr_array_new ();
  if ((node->a = parse_expression (parser)) == NULL)
    return NULL;
  if (parser_expect (parser, TOKEN_CLOSE_STATEMENT, "“%}”") == NULL)
    return NULL;
  parse_body_until (parser, node->body, offset, "if", "elif", "else", "endif");
  if (parser_is_statement (parser, "elif", NULL))
    {
      gsize elif_offset = parser_peek (parser, 1)->offset;
      Node *elif;

      parser->current += 2;
      if (++parser->depth > MAX_TREE_DEPTH)
        return parser_error (parser, "the template nests too deeply (more than %d levels)",
                             MAX_TREE_DEPTH);
      elif = parse_if_statement (parser, elif_offset);
      parser->depth--;
      if (elif == NULL)
        return NULL;
      g_ptr_array_add (node->alternate, elif);
    }
  else if (parser_is_statement (parser, "else", NULL))
    {
      parser->current += 2;
      if (parser_expect (parser, TOKEN_CLOSE_STATEMENT, "“%}”") == NULL)
        return NULL;
      parse_body_until (parser, node->alternate, offset, "if", "endif");
    }
  return node_finish (parser, node);
}

static Node *
parse_macro_statement (Parser *parser,
                       gsize   offset)
{
  Node *node = node_new (parser, NODE_MACRO, offset);

  node->body = g_ptr_array_new ();
  if ((node->a = parse_primary_expression (parser)) == NULL)
    return NULL;
  if (node->a->type != NODE_IDENTIFIER)
    return parser_error (parser, "expected a name after “macro”");
  if ((node->args = parse_args (parser, TRUE)) == NULL)
    return NULL;
  if (parser_expect (parser, TOKEN_CLOSE_STATEMENT, "“%}”") == NULL)
    return NULL;
  parse_body_until (parser, node->body, offset, "macro", "endmacro");
  return node_finish (parser, node);
}

static Node *
parse_for_statement (Parser *parser,
                     gsize   offset)
{
  Node *node = node_new (parser, NODE_FOR, offset);

  node->body = g_ptr_array_new ();
  node->alternate = g_ptr_array_new ();
  if ((node->a = parse_expression_sequence (parser, TRUE)) == NULL)
    return NULL;
  if (node->a->type != NODE_IDENTIFIER && node->a->type != NODE_TUPLE)
    return parser_error (parser, "expected a name or a tuple of names for the loop variable");
  if (!parser_is_identifier (parser, 0, "in"))
    return parser_error (parser, "expected “in” after the loop variable");
  parser->current++;
  if ((node->b = parse_expression (parser)) == NULL)
    return NULL;
  if (parser_expect (parser, TOKEN_CLOSE_STATEMENT, "“%}”") == NULL)
    return NULL;
  parse_body_until (parser, node->body, offset, "for", "else", "endfor");
  if (parser_is_statement (parser, "else", NULL))
    {
      parser->current += 2;
      if (parser_expect (parser, TOKEN_CLOSE_STATEMENT, "“%}”") == NULL)
        return NULL;
      parse_body_until (parser, node->alternate, offset, "for", "endfor");
    }
  return node_finish (parser, node);
}

static Node *
parse_jinja_statement (Parser *parser)
{
  Token *open = parser_expect (parser, TOKEN_OPEN_STATEMENT, "“{%”");
  Token *name_token;
  const char *name;
  Node *result = NULL;
  gsize offset;

  if (open == NULL)
    return NULL;
  name_token = parser_peek (parser, 0);
  if (name_token == NULL || name_token->type != TOKEN_IDENTIFIER)
    return parser_error (parser, "expected a statement name, found %s",
                         describe_token (name_token));
  name = name_token->value->str;
  offset = name_token->offset;

  if (g_str_equal (name, "set"))
    {
      parser->current++;
      result = parse_set_statement (parser, offset);
    }
  else if (g_str_equal (name, "if"))
    {
      parser->current++;
      if ((result = parse_if_statement (parser, offset)) == NULL)
        return NULL;
      if (!parser_expect_end_tag (parser, "endif"))
        return NULL;
    }
  else if (g_str_equal (name, "macro"))
    {
      parser->current++;
      if ((result = parse_macro_statement (parser, offset)) == NULL)
        return NULL;
      if (!parser_expect_end_tag (parser, "endmacro"))
        return NULL;
    }
  else if (g_str_equal (name, "for"))
    {
      parser->current++;
      if ((result = parse_for_statement (parser, offset)) == NULL)
        return NULL;
      if (!parser_expect_end_tag (parser, "endfor"))
        return NULL;
    }
  else if (g_str_equal (name, "call"))
    {
      Node *node = node_new (parser, NODE_CALL_STATEMENT, offset);
      Node *callee, *call;

      parser->current++;
      node->body = g_ptr_array_new ();
      if (parser_is (parser, TOKEN_OPEN_PAREN) && (node->args = parse_args (parser, TRUE)) == NULL)
        return NULL;
      if ((callee = parse_primary_expression (parser)) == NULL)
        return NULL;
      if (callee->type != NODE_IDENTIFIER)
        return parser_error (parser, "expected a macro name after “call”");
      call = node_new (parser, NODE_CALL, callee->offset);
      call->a = callee;
      if ((call->args = parse_args (parser, FALSE)) == NULL || node_finish (parser, call) == NULL)
        return NULL;
      node->a = call;
      if (parser_expect (parser, TOKEN_CLOSE_STATEMENT, "“%}”") == NULL)
        return NULL;
      parse_body_until (parser, node->body, offset, "call", "endcall");
      if (!parser_expect_end_tag (parser, "endcall"))
        return NULL;
      result = node_finish (parser, node);
    }
  else if (g_str_equal (name, "break") || g_str_equal (name, "continue"))
    {
      parser->current++;
      if (parser_expect (parser, TOKEN_CLOSE_STATEMENT, "“%}”") == NULL)
        return NULL;
      result = node_finish (parser, node_new (parser, g_str_equal (name, "break") ? NODE_BREAK
                                                                                  : NODE_CONTINUE,
                                              offset));
    }
  else if (g_str_equal (name, "filter"))
    {
      Node *node = node_new (parser, NODE_FILTER_STATEMENT, offset);
      Node *filter;

      parser->current++;
      node->body = g_ptr_array_new ();
      if ((filter = parse_primary_expression (parser)) == NULL)
        return NULL;
      if (filter->type == NODE_IDENTIFIER && parser_is (parser, TOKEN_OPEN_PAREN) &&
          (filter = parse_call_expression (parser, filter)) == NULL)
        return NULL;
      node->a = filter;
      if (parser_expect (parser, TOKEN_CLOSE_STATEMENT, "“%}”") == NULL)
        return NULL;
      parse_body_until (parser, node->body, offset, "filter", "endfilter");
      if (!parser_expect_end_tag (parser, "endfilter"))
        return NULL;
      result = node_finish (parser, node);
    }
  else
    return parser_error (parser, "unknown statement “%s”", name);

  return result;
}

static Node *
parse_jinja_expression (Parser *parser)
{
  Node *result;

  if (parser_expect (parser, TOKEN_OPEN_EXPRESSION, "“{{”") == NULL)
    return NULL;
  if ((result = parse_expression (parser)) == NULL)
    return NULL;
  if (parser_expect (parser, TOKEN_CLOSE_EXPRESSION, "“}}”") == NULL)
    return NULL;
  return result;
}

static Node *
parse_any (Parser *parser)
{
  Token *token = parser_peek (parser, 0);
  Node *result;

  if (token == NULL)
    return parser_error (parser, "unexpected end of template: a block is not closed");
  if (++parser->depth > MAX_TREE_DEPTH)
    return parser_error (parser, "the template nests too deeply (more than %d levels)",
                         MAX_TREE_DEPTH);

  switch (token->type)
    {
    case TOKEN_COMMENT:
      parser->current++;
      result = node_finish (parser, node_new (parser, NODE_COMMENT, token->offset));
      break;
    case TOKEN_TEXT:
      result = parse_text (parser);
      break;
    case TOKEN_OPEN_STATEMENT:
      result = parse_jinja_statement (parser);
      break;
    case TOKEN_OPEN_EXPRESSION:
      result = parse_jinja_expression (parser);
      break;
    default:
      result = parser_error (parser, "unexpected %s", describe_token (token));
      break;
    }

  parser->depth--;
  return result;
}

static Node *
binary_new (Parser   *parser,
            Operator  op,
            Node     *left,
            Node     *right,
            gsize     offset)
{
  Node *node = node_new (parser, NODE_BINARY, offset);

  node->op = op;
  node->a = left;
  node->b = right;
  return node_finish (parser, node);
}

static Node *parse_logical_or_expression (Parser *parser);

static Node *
parse_if_expression (Parser *parser)
{
  Node *a = parse_logical_or_expression (parser);

  if (a == NULL)
    return NULL;
  if (parser_is_identifier (parser, 0, "if"))
    {
      gsize offset = parser_offset (parser);
      Node *test;

      parser->current++;
      if ((test = parse_logical_or_expression (parser)) == NULL)
        return NULL;
      if (parser_is_identifier (parser, 0, "else"))
        {
          Node *node = node_new (parser, NODE_TERNARY, offset);

          parser->current++;
          node->a = test;
          node->b = a;
          if ((node->c = parse_if_expression (parser)) == NULL)
            return NULL;
          return node_finish (parser, node);
        }
      else
        {
          Node *node = node_new (parser, NODE_SELECT, offset);

          node->a = a;
          node->b = test;
          return node_finish (parser, node);
        }
    }
  return a;
}

static Node *
parse_expression (Parser *parser)
{
  Node *result;

  if (++parser->depth > MAX_TREE_DEPTH)
    return parser_error (parser, "the template nests too deeply (more than %d levels)",
                         MAX_TREE_DEPTH);
  result = parse_if_expression (parser);
  parser->depth--;
  return result;
}

static Node *parse_logical_and_expression (Parser *parser);
static Node *parse_logical_negation_expression (Parser *parser);
static Node *parse_comparison_expression (Parser *parser);
static Node *parse_additive_expression (Parser *parser);
static Node *parse_multiplicative_expression (Parser *parser);

static Node *
parse_logical_or_expression (Parser *parser)
{
  Node *left = parse_logical_and_expression (parser);

  while (left != NULL && parser_is_identifier (parser, 0, "or"))
    {
      gsize offset = parser_offset (parser);
      Node *right;

      parser->current++;
      if ((right = parse_logical_and_expression (parser)) == NULL)
        return NULL;
      left = binary_new (parser, OP_OR, left, right, offset);
    }
  return left;
}

static Node *
parse_logical_and_expression (Parser *parser)
{
  Node *left = parse_logical_negation_expression (parser);

  while (left != NULL && parser_is_identifier (parser, 0, "and"))
    {
      gsize offset = parser_offset (parser);
      Node *right;

      parser->current++;
      if ((right = parse_logical_negation_expression (parser)) == NULL)
        return NULL;
      left = binary_new (parser, OP_AND, left, right, offset);
    }
  return left;
}

/* As the reference: in `not a not b`, the second `not` replaces the first. */
static Node *
parse_logical_negation_expression (Parser *parser)
{
  Node *right = NULL;

  while (parser_is_identifier (parser, 0, "not"))
    {
      Node *node = node_new (parser, NODE_UNARY, parser_offset (parser));
      Node *argument;

      parser->current++;
      if (++parser->depth > MAX_TREE_DEPTH)
        return parser_error (parser, "the template nests too deeply (more than %d levels)",
                             MAX_TREE_DEPTH);
      argument = parse_logical_negation_expression (parser);
      parser->depth--;
      if (argument == NULL)
        return NULL;
      node->op = OP_NOT;
      node->a = argument;
      if ((right = node_finish (parser, node)) == NULL)
        return NULL;
    }
  return right != NULL ? right : parse_comparison_expression (parser);
}

static Node *
parse_comparison_expression (Parser *parser)
{
  Node *left = parse_additive_expression (parser);

  while (left != NULL)
    {
      gsize offset = parser_offset (parser);
      Operator op;
      Node *right;

      if (parser_is_identifier (parser, 0, "not") && parser_is_identifier (parser, 1, "in"))
        {
          op = OP_NOT_IN;
          parser->current += 2;
        }
      else if (parser_is_identifier (parser, 0, "in"))
        {
          op = OP_IN;
          parser->current++;
        }
      else if (parser_is (parser, TOKEN_COMPARISON))
        {
          const char *value = parser_peek (parser, 0)->value->str;

          op = g_str_equal (value, "==") ? OP_EQ : g_str_equal (value, "!=") ? OP_NE :
               g_str_equal (value, "<") ? OP_LT : g_str_equal (value, ">") ? OP_GT :
               g_str_equal (value, "<=") ? OP_LE : OP_GE;
          parser->current++;
        }
      else
        break;
      if ((right = parse_additive_expression (parser)) == NULL)
        return NULL;
      left = binary_new (parser, op, left, right, offset);
    }
  return left;
}

static Node *
parse_additive_expression (Parser *parser)
{
  Node *left = parse_multiplicative_expression (parser);

  while (left != NULL && parser_is (parser, TOKEN_ADDITIVE))
    {
      Token *token = parser_peek (parser, 0);
      Operator op = token->value->str[0] == '+' ? OP_ADD :
                    token->value->str[0] == '-' ? OP_SUB : OP_CONCAT;
      Node *right;

      parser->current++;
      if ((right = parse_multiplicative_expression (parser)) == NULL)
        return NULL;
      left = binary_new (parser, op, left, right, token->offset);
    }
  return left;
}

static GPtrArray *
parse_args (Parser   *parser,
            gboolean  parameters)
{
  g_autoptr(GPtrArray) args = g_ptr_array_new ();
  g_autoptr(GHashTable) names = g_hash_table_new (g_str_hash, g_str_equal);
  gboolean saw_keyword = FALSE, saw_spread = FALSE;

  if (parser_expect (parser, TOKEN_OPEN_PAREN, "“(”") == NULL)
    return NULL;

  while (!parser_is (parser, TOKEN_CLOSE_PAREN))
    {
      Token *token = parser_peek (parser, 0);
      gboolean keyword_spread = parser_is (parser, TOKEN_EXPONENTIATION);
      gboolean positional_spread = parser_is (parser, TOKEN_MULTIPLICATIVE) &&
                                   g_str_equal (token->value->str, "*");
      Node *argument;

      if (token == NULL)
        return parser_error (parser, "expected “)”, found %s", describe_token (token));
      if (parameters && (keyword_spread || positional_spread))
        return parser_error (parser, "argument unpacking is not allowed in parameters");
      if (keyword_spread)
        {
          Node *node = node_new (parser, NODE_KEYWORD_SPREAD, token->offset);

          parser->current++;
          if ((node->a = parse_expression (parser)) == NULL || node_finish (parser, node) == NULL)
            return NULL;
          g_ptr_array_add (args, node);
          if (parser_is (parser, TOKEN_COMMA))
            parser->current++;
          if (!parser_is (parser, TOKEN_CLOSE_PAREN))
            return parser_error (parser, "“**” must be applied to the last argument");
          break;
        }
      if (positional_spread)
        {
          if (saw_spread)
            return parser_error (parser, "only one “*” argument unpacking is allowed");
          saw_spread = TRUE;
          argument = node_new (parser, NODE_SPREAD, token->offset);
          parser->current++;
          if ((argument->a = parse_expression (parser)) == NULL ||
              node_finish (parser, argument) == NULL)
            return NULL;
        }
      else
        {
          if ((argument = parse_expression (parser)) == NULL)
            return NULL;
          if (parser_is (parser, TOKEN_EQUALS))
            {
              Node *keyword;

              parser->current++;
              if (argument->type != NODE_IDENTIFIER)
                return parser_error (parser, "%s", parameters
                                     ? "expected a name for the parameter"
                                     : "expected a name for the keyword argument");
              keyword = node_new (parser, NODE_KEYWORD_ARGUMENT, argument->offset);
              keyword->a = argument;
              if ((keyword->b = parse_expression (parser)) == NULL ||
                  node_finish (parser, keyword) == NULL)
                return NULL;
              argument = keyword;
            }
          if (parameters)
            {
              const char *parameter;

              if (argument->type != NODE_IDENTIFIER && argument->type != NODE_KEYWORD_ARGUMENT)
                return parser_error (parser, "expected a name for the parameter");
              parameter = argument->type == NODE_IDENTIFIER ? argument->str : argument->a->str;
              if (g_hash_table_contains (names, parameter))
                return parser_error (parser, "duplicate parameter “%s”", parameter);
              g_hash_table_add (names, (gpointer) parameter);
            }
          if (argument->type == NODE_KEYWORD_ARGUMENT)
            saw_keyword = TRUE;
          else if (saw_keyword)
            return parser_error (parser, "%s", parameters
                                 ? "a parameter without a default follows one with a default"
                                 : "positional arguments must come before keyword arguments");
          else if (saw_spread)
            return parser_error (parser, "positional arguments must not follow “*” unpacking");
        }
      g_ptr_array_add (args, argument);
      if (parser_is (parser, TOKEN_COMMA))
        parser->current++;
    }

  if (parser_expect (parser, TOKEN_CLOSE_PAREN, "“)”") == NULL)
    return NULL;
  return g_steal_pointer (&args);
}

static Node *
parse_member_arguments (Parser *parser)
{
  g_autoptr(GPtrArray) slices = g_ptr_array_new ();
  gboolean is_slice = FALSE;
  gsize offset = parser_offset (parser);
  Node *node;

  while (!parser_is (parser, TOKEN_CLOSE_SQUARE))
    {
      if (parser_peek (parser, 0) == NULL)
        return parser_error (parser, "expected “]”, found %s", describe_token (NULL));
      if (parser_is (parser, TOKEN_COLON))
        {
          g_ptr_array_add (slices, NULL);
          parser->current++;
          is_slice = TRUE;
        }
      else
        {
          Node *expression = parse_expression (parser);

          if (expression == NULL)
            return NULL;
          g_ptr_array_add (slices, expression);
          if (parser_is (parser, TOKEN_COLON))
            {
              parser->current++;
              is_slice = TRUE;
            }
        }
    }
  if (slices->len == 0)
    return parser_error (parser, "expected an index or a slice between “[” and “]”");
  if (!is_slice)
    return g_ptr_array_index (slices, 0);
  if (slices->len > 3)
    return parser_error (parser, "a slice has at most three parts");
  node = node_new (parser, NODE_SLICE, offset);
  node->a = slices->len > 0 ? g_ptr_array_index (slices, 0) : NULL;
  node->b = slices->len > 1 ? g_ptr_array_index (slices, 1) : NULL;
  node->c = slices->len > 2 ? g_ptr_array_index (slices, 2) : NULL;
  return node_finish (parser, node);
}

static Node *
parse_member_expression (Parser *parser,
                         Node   *object)
{
  while (object != NULL && (parser_is (parser, TOKEN_DOT) || parser_is (parser, TOKEN_OPEN_SQUARE)))
    {
      Token *token = parser_peek (parser, 0);
      Node *node = node_new (parser, NODE_MEMBER, token->offset);

      parser->current++;
      node->a = object;
      node->flag = token->type == TOKEN_OPEN_SQUARE;
      if (node->flag)
        {
          if ((node->b = parse_member_arguments (parser)) == NULL)
            return NULL;
          if (parser_expect (parser, TOKEN_CLOSE_SQUARE, "“]”") == NULL)
            return NULL;
        }
      else
        {
          if ((node->b = parse_primary_expression (parser)) == NULL)
            return NULL;
          if (node->b->type != NODE_IDENTIFIER && node->b->type != NODE_INTEGER)
            return parser_error (parser, "expected a name or an integer after “.”");
        }
      object = node_finish (parser, node);
    }
  return object;
}

static Node *
parse_call_expression (Parser *parser,
                       Node   *callee)
{
  Node *node = node_new (parser, NODE_CALL, callee->offset);
  Node *expression;

  node->a = callee;
  if ((node->args = parse_args (parser, FALSE)) == NULL || node_finish (parser, node) == NULL)
    return NULL;
  expression = parse_member_expression (parser, node);
  if (expression != NULL && parser_is (parser, TOKEN_OPEN_PAREN))
    {
      if (++parser->depth > MAX_TREE_DEPTH)
        return parser_error (parser, "the template nests too deeply (more than %d levels)",
                             MAX_TREE_DEPTH);
      expression = parse_call_expression (parser, expression);
      parser->depth--;
    }
  return expression;
}

static Node *
parse_call_member_expression (Parser *parser)
{
  Node *member = parse_member_expression (parser, parse_primary_expression (parser));

  if (member != NULL && parser_is (parser, TOKEN_OPEN_PAREN))
    return parse_call_expression (parser, member);
  return member;
}

static Node *
parse_unary_sign_expression (Parser *parser)
{
  Token *token = parser_peek (parser, 0);

  if (token != NULL && (token->type == TOKEN_UNARY || token->type == TOKEN_ADDITIVE) &&
      (g_str_equal (token->value->str, "-") || g_str_equal (token->value->str, "+")))
    {
      Node *node = node_new (parser, NODE_UNARY, token->offset);

      parser->current++;
      node->op = token->value->str[0] == '-' ? OP_SUB : OP_ADD;
      if (++parser->depth > MAX_TREE_DEPTH)
        return parser_error (parser, "the template nests too deeply (more than %d levels)",
                             MAX_TREE_DEPTH);
      node->a = parse_unary_sign_expression (parser);
      parser->depth--;
      if (node->a == NULL)
        return NULL;
      return node_finish (parser, node);
    }
  return parse_call_member_expression (parser);
}

static Node *
parse_filter_expression (Parser *parser)
{
  Node *operand = parse_unary_sign_expression (parser);

  while (operand != NULL && parser_is (parser, TOKEN_PIPE))
    {
      Node *node = node_new (parser, NODE_FILTER, parser_offset (parser));
      Node *filter;

      parser->current++;
      if ((filter = parse_primary_expression (parser)) == NULL)
        return NULL;
      if (filter->type != NODE_IDENTIFIER)
        return parser_error (parser, "expected a filter name after “|”");
      if (parser_is (parser, TOKEN_OPEN_PAREN) &&
          (filter = parse_call_expression (parser, filter)) == NULL)
        return NULL;
      node->a = operand;
      node->b = filter;
      operand = node_finish (parser, node);
    }
  return operand;
}

static Node *
parse_test_expression (Parser *parser)
{
  Node *operand = parse_filter_expression (parser);

  while (operand != NULL && parser_is_identifier (parser, 0, "is"))
    {
      Node *node = node_new (parser, NODE_TEST, parser_offset (parser));
      Node *test;

      parser->current++;
      node->flag = parser_is_identifier (parser, 0, "not");
      if (node->flag)
        parser->current++;
      if ((test = parse_primary_expression (parser)) == NULL)
        return NULL;
      if (test->type != NODE_IDENTIFIER)
        return parser_error (parser, "expected a test name after “is”");
      node->a = operand;
      node->b = test;
      operand = node_finish (parser, node);
    }
  return operand;
}

static Node *
parse_power_expression (Parser *parser)
{
  Node *left = parse_test_expression (parser);

  while (left != NULL && parser_is (parser, TOKEN_EXPONENTIATION))
    {
      gsize offset = parser_offset (parser);
      Node *right;

      parser->current++;
      if ((right = parse_test_expression (parser)) == NULL)
        return NULL;
      left = binary_new (parser, OP_POW, left, right, offset);
    }
  return left;
}

static Node *
parse_multiplicative_expression (Parser *parser)
{
  Node *left = parse_power_expression (parser);

  while (left != NULL && parser_is (parser, TOKEN_MULTIPLICATIVE))
    {
      Token *token = parser_peek (parser, 0);
      const char *value = token->value->str;
      Operator op = g_str_equal (value, "*") ? OP_MUL : g_str_equal (value, "/") ? OP_DIV :
                    g_str_equal (value, "//") ? OP_FLOOR_DIV : OP_MOD;
      Node *right;

      parser->current++;
      if ((right = parse_power_expression (parser)) == NULL)
        return NULL;
      left = binary_new (parser, op, left, right, token->offset);
    }
  return left;
}

static Node *
parse_primary_expression (Parser *parser)
{
  Token *token = parser_peek (parser, 0);
  Node *node;

  if (token == NULL)
    return parser_error (parser, "unexpected end of template in an expression");
  parser->current++;

  switch (token->type)
    {
    case TOKEN_NUMBER:
      node = node_new (parser, strchr (token->value->str, '.') != NULL ? NODE_FLOAT : NODE_INTEGER,
                       token->offset);
      node->number = g_ascii_strtod (token->value->str, NULL);
      return node_finish (parser, node);

    case TOKEN_STRING:
      {
        GString *value = g_string_new_len (token->value->str, token->value->len);

        while (parser_is (parser, TOKEN_STRING))
          {
            Token *next = parser_peek (parser, 0);

            g_string_append_len (value, next->value->str, next->value->len);
            parser->current++;
          }
        node = node_new (parser, NODE_STRING, token->offset);
        node->len = value->len;
        node->str = g_string_free (value, FALSE);
        return node_finish (parser, node);
      }

    case TOKEN_IDENTIFIER:
      node = node_new (parser, NODE_IDENTIFIER, token->offset);
      node->str = g_strdup (token->value->str);
      node->len = token->value->len;
      return node_finish (parser, node);

    case TOKEN_OPEN_PAREN:
      node = parse_expression_sequence (parser, FALSE);
      if (node == NULL || parser_expect (parser, TOKEN_CLOSE_PAREN, "“)”") == NULL)
        return NULL;
      return node;

    case TOKEN_OPEN_SQUARE:
      node = node_new (parser, NODE_ARRAY, token->offset);
      node->args = g_ptr_array_new ();
      while (!parser_is (parser, TOKEN_CLOSE_SQUARE))
        {
          Node *value;

          if (parser_peek (parser, 0) == NULL)
            return parser_error (parser, "expected “]”, found %s", describe_token (NULL));
          if ((value = parse_expression (parser)) == NULL)
            return NULL;
          g_ptr_array_add (node->args, value);
          if (parser_is (parser, TOKEN_COMMA))
            parser->current++;
        }
      parser->current++;
      return node_finish (parser, node);

    case TOKEN_OPEN_CURLY:
      node = node_new (parser, NODE_OBJECT, token->offset);
      node->args = g_ptr_array_new ();
      while (!parser_is (parser, TOKEN_CLOSE_CURLY))
        {
          Node *key, *value;

          if (parser_peek (parser, 0) == NULL)
            return parser_error (parser, "expected “}”, found %s", describe_token (NULL));
          if ((key = parse_expression (parser)) == NULL)
            return NULL;
          if (parser_expect (parser, TOKEN_COLON, "“:” between key and value") == NULL)
            return NULL;
          if ((value = parse_expression (parser)) == NULL)
            return NULL;
          g_ptr_array_add (node->args, key);
          g_ptr_array_add (node->args, value);
          if (parser_is (parser, TOKEN_COMMA))
            parser->current++;
        }
      parser->current++;
      return node_finish (parser, node);

    default:
      parser->current--;
      return parser_error (parser, "unexpected %s", describe_token (token));
    }
}

/* ---- the tree ---------------------------------------------------------- */

char *
template_tree_dup_position (const TemplateTree *tree,
                            gsize               offset)
{
  const char *s = tree->source;
  guint line = 1, column = 1;

  for (gsize i = 0; i < offset && s[i] != '\0';)
    {
      if (s[i] == '\n')
        {
          line++;
          column = 1;
          i++;
        }
      else
        {
          column++;
          i = g_utf8_next_char (s + i) - s;
        }
    }
  return g_strdup_printf ("%s:%u:%u", tree->name, line, column);
}

void
template_tree_free (TemplateTree *tree)
{
  if (tree == NULL)
    return;
  g_free (tree->name);
  g_free (tree->source);
  g_clear_pointer (&tree->body, g_ptr_array_unref);
  g_ptr_array_unref (tree->nodes);
  g_free (tree);
}

TemplateTree *
template_tree_parse (const char  *source,
                     gsize        length,
                     const char  *name,
                     GError     **error)
{
  TemplateTree *tree = g_new0 (TemplateTree, 1);
  g_autoptr(GArray) tokens = g_array_new (FALSE, FALSE, sizeof (Token));
  const char *invalid = NULL;
  Mapped mapped;
  Lexer lexer;
  Parser parser;

  tree->name = g_strdup (name != NULL ? name : "template");
  tree->source = g_strndup (source, length);
  tree->nodes = g_ptr_array_new_with_free_func (node_free);
  tree->body = g_ptr_array_new ();
  g_array_set_clear_func (tokens, token_clear);

  if (memchr (source, '\0', length) != NULL || !g_utf8_validate (source, length, &invalid))
    {
      gsize offset = invalid != NULL ? (gsize) (invalid - source) : strlen (source);

      set_error_at (error, tree, offset, "the template is not valid UTF-8 text");
      template_tree_free (tree);
      return NULL;
    }

  preprocess (source, length, &mapped);
  lexer = (Lexer) {
    .tree = tree,
    .src = mapped.text->str,
    .n = mapped.text->len,
    .origin = (const gsize *) mapped.origin->data,
    .tokens = tokens,
  };
  if (!lexer_run (&lexer, error))
    {
      mapped_clear (&mapped);
      template_tree_free (tree);
      return NULL;
    }

  parser = (Parser) {
    .tree = tree,
    .tokens = (Token *) tokens->data,
    .n = tokens->len,
    .end_offset = length,
    .error = error,
  };
  while (parser.current < parser.n)
    {
      Node *node = parse_any (&parser);

      if (node == NULL)
        {
          mapped_clear (&mapped);
          template_tree_free (tree);
          return NULL;
        }
      g_ptr_array_add (tree->body, node);
    }

  mapped_clear (&mapped);
  return tree;
}

/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-safetensors"

#include "llm-safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The reference reader's limit on the header length. */
#define MAX_HEADER_SIZE G_GUINT64_CONSTANT (100000000)
/* An index lists a few thousand tensors at most: a few hundred kilobytes. */
#define MAX_INDEX_SIZE  G_GUINT64_CONSTANT (100000000)
/* JSON integers must stay below 2^63, as the reference's usize does on the
 * platforms that matter and as every JSON reader in between does. */
#define MAX_INTEGER     G_GUINT64_CONSTANT (0x7fffffffffffffff)
/* Only the index's free-form "metadata" can nest; a header never nests
 * deeper than its schema (object → tensor → shape). */
#define MAX_JSON_DEPTH  64

#define SINGLE_FILE_NAME "model.safetensors"
#define INDEX_FILE_NAME  "model.safetensors.index.json"

G_DEFINE_QUARK (llm-safetensors-error-quark, llm_safetensors_error)

static const struct
{
  const char *name;
  gsize       size;
} dtypes[] = {
  [LLM_DTYPE_F32] = { "F32", 4 },
  [LLM_DTYPE_F16] = { "F16", 2 },
  [LLM_DTYPE_BF16] = { "BF16", 2 },
  [LLM_DTYPE_F64] = { "F64", 8 },
  [LLM_DTYPE_I64] = { "I64", 8 },
  [LLM_DTYPE_U64] = { "U64", 8 },
  [LLM_DTYPE_I32] = { "I32", 4 },
  [LLM_DTYPE_U32] = { "U32", 4 },
  [LLM_DTYPE_I16] = { "I16", 2 },
  [LLM_DTYPE_U16] = { "U16", 2 },
  [LLM_DTYPE_I8] = { "I8", 1 },
  [LLM_DTYPE_U8] = { "U8", 1 },
  [LLM_DTYPE_BOOL] = { "BOOL", 1 },
  [LLM_DTYPE_F8_E5M2] = { "F8_E5M2", 1 },
  [LLM_DTYPE_F8_E4M3] = { "F8_E4M3", 1 },
};

const char *
llm_dtype_to_string (LlmDtype dtype)
{
  g_return_val_if_fail ((guint) dtype < G_N_ELEMENTS (dtypes), NULL);

  return dtypes[dtype].name;
}

gsize
llm_dtype_size (LlmDtype dtype)
{
  g_return_val_if_fail ((guint) dtype < G_N_ELEMENTS (dtypes), 0);

  return dtypes[dtype].size;
}

static gboolean
dtype_from_string (const char *name,
                   LlmDtype   *dtype)
{
  for (guint i = 0; i < G_N_ELEMENTS (dtypes); i++)
    if (strcmp (name, dtypes[i].name) == 0)
      {
        *dtype = (LlmDtype) i;
        return TRUE;
      }

  return FALSE;
}

static void
tensor_info_free (gpointer data)
{
  LlmTensorInfo *info = data;

  g_free (info->name);
  g_free (info);
}

/* ------------------------------------------------------------------------ */
/* A strict JSON reader, for exactly what a header or an index holds.
 *
 * RFC 8259 and nothing more: no comments, no trailing commas, no hex, octal
 * or "+", no duplicate keys, valid UTF-8, and escapes with paired
 * surrogates. Positions in messages are byte offsets into the JSON text. */

typedef struct
{
  const char *text;
  gsize       length;
  gsize       pos;
  guint       depth;
  const char *where;   /* "header" or "index", for messages */
} JsonCursor;

G_GNUC_PRINTF (3, 4)
static gboolean
cursor_error (JsonCursor  *c,
              GError     **error,
              const char  *format,
              ...)
{
  g_autofree char *message = NULL;
  va_list args;

  /* Whatever was expected, a comment is the better thing to name. */
  if (c->pos + 1 < c->length && c->text[c->pos] == '/' &&
      (c->text[c->pos + 1] == '/' || c->text[c->pos + 1] == '*'))
    {
      message = g_strdup ("comments are not allowed in JSON");
    }
  else
    {
      va_start (args, format);
      message = g_strdup_vprintf (format, args);
      va_end (args);
    }

  g_set_error (error, LLM_SAFETENSORS_ERROR, LLM_SAFETENSORS_ERROR_INVALID,
               "%s, byte %" G_GSIZE_FORMAT ": %s", c->where, c->pos, message);
  return FALSE;
}

static int
cursor_peek (JsonCursor *c)
{
  return c->pos < c->length ? (guchar) c->text[c->pos] : -1;
}

static int
cursor_peek_at (JsonCursor *c,
                gsize       ahead)
{
  return c->pos + ahead < c->length ? (guchar) c->text[c->pos + ahead] : -1;
}

static void
cursor_skip_whitespace (JsonCursor *c)
{
  while (c->pos < c->length)
    {
      char ch = c->text[c->pos];

      if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r')
        break;
      c->pos++;
    }
}

/* Says what stands where something else was expected. */
static gboolean
cursor_unexpected (JsonCursor  *c,
                   const char  *expected,
                   GError     **error)
{
  int ch = cursor_peek (c);

  if (ch < 0)
    return cursor_error (c, error, "unexpected end of the JSON text, expected %s", expected);
  if (ch >= 0x20 && ch < 0x7f)
    return cursor_error (c, error, "unexpected “%c”, expected %s", ch, expected);
  return cursor_error (c, error, "unexpected byte 0x%02x, expected %s", (guint) ch, expected);
}

static gboolean
cursor_expect (JsonCursor  *c,
               char         ch,
               const char  *expected,
               GError     **error)
{
  cursor_skip_whitespace (c);
  if (cursor_peek (c) != (guchar) ch)
    return cursor_unexpected (c, expected, error);
  c->pos++;
  return TRUE;
}

/* After a member or an element: TRUE in *more for a comma, FALSE for the
 * closing bracket. */
static gboolean
cursor_next_member (JsonCursor  *c,
                    char         close,
                    gboolean    *more,
                    GError     **error)
{
  int ch;

  cursor_skip_whitespace (c);
  ch = cursor_peek (c);
  if (ch == (guchar) close)
    {
      c->pos++;
      *more = FALSE;
      return TRUE;
    }
  if (ch != ',')
    return cursor_unexpected (c, close == '}' ? "“,” or “}”" : "“,” or “]”", error);

  c->pos++;
  cursor_skip_whitespace (c);
  if (cursor_peek (c) == (guchar) close)
    return cursor_error (c, error, "trailing comma before “%c”", close);

  *more = TRUE;
  return TRUE;
}

/* Steps into the object or array the cursor stands on; TRUE in *empty when
 * it closes at once. */
static void
cursor_open (JsonCursor *c,
             char        open,
             gboolean   *empty)
{
  char close = open == '{' ? '}' : ']';

  cursor_skip_whitespace (c);
  g_assert (cursor_peek (c) == (guchar) open);
  c->pos++;
  cursor_skip_whitespace (c);
  *empty = cursor_peek (c) == (guchar) close;
  if (*empty)
    c->pos++;
}

/* Length of the UTF-8 sequence at p (Unicode's table 3-7 of well-formed
 * sequences: no overlong forms, no surrogates, nothing past U+10FFFF), or 0. */
static gsize
utf8_sequence_length (const guchar *p,
                      gsize         available)
{
  guchar lo = 0x80, hi = 0xbf;
  gsize length;

  if (p[0] < 0x80)
    return 1;
  else if (p[0] >= 0xc2 && p[0] <= 0xdf)
    length = 2;
  else if (p[0] >= 0xe0 && p[0] <= 0xef)
    {
      length = 3;
      if (p[0] == 0xe0)
        lo = 0xa0;
      else if (p[0] == 0xed)
        hi = 0x9f;
    }
  else if (p[0] >= 0xf0 && p[0] <= 0xf4)
    {
      length = 4;
      if (p[0] == 0xf0)
        lo = 0x90;
      else if (p[0] == 0xf4)
        hi = 0x8f;
    }
  else
    return 0;

  if (available < length || p[1] < lo || p[1] > hi)
    return 0;
  for (gsize i = 2; i < length; i++)
    if (p[i] < 0x80 || p[i] > 0xbf)
      return 0;

  return length;
}

static gboolean
cursor_read_hex4 (JsonCursor  *c,
                  gunichar    *value,
                  GError     **error)
{
  *value = 0;
  for (guint i = 0; i < 4; i++)
    {
      int digit = cursor_peek (c) < 0 ? -1 : g_ascii_xdigit_value ((char) cursor_peek (c));

      if (digit < 0)
        return cursor_error (c, error, "“\\u” must be followed by four hexadecimal digits");
      *value = *value * 16 + (gunichar) digit;
      c->pos++;
    }

  return TRUE;
}

/* Reads a string at the cursor (which stands on its opening quote) into a
 * new NUL-terminated UTF-8 string. */
static gboolean
cursor_read_string (JsonCursor  *c,
                    char       **out,
                    GError     **error)
{
  g_autoptr(GString) string = g_string_new (NULL);
  gsize start = c->pos;

  g_assert (cursor_peek (c) == '"');
  c->pos++;

  for (;;)
    {
      int ch = cursor_peek (c);

      if (ch < 0)
        {
          c->pos = start;
          return cursor_error (c, error, "unterminated string");
        }
      else if (ch == '"')
        {
          c->pos++;
          break;
        }
      else if (ch == '\\')
        {
          gunichar value;

          c->pos++;
          ch = cursor_peek (c);
          switch (ch)
            {
            case '"': case '\\': case '/':
              g_string_append_c (string, (char) ch);
              break;
            case 'b':
              g_string_append_c (string, '\b');
              break;
            case 'f':
              g_string_append_c (string, '\f');
              break;
            case 'n':
              g_string_append_c (string, '\n');
              break;
            case 'r':
              g_string_append_c (string, '\r');
              break;
            case 't':
              g_string_append_c (string, '\t');
              break;
            case 'u':
              c->pos++;
              if (!cursor_read_hex4 (c, &value, error))
                return FALSE;
              if (value >= 0xdc00 && value <= 0xdfff)
                {
                  c->pos -= 6;
                  return cursor_error (c, error,
                                       "bad escape: “\\u%04x” is a low surrogate without a "
                                       "high surrogate before it", value);
                }
              if (value >= 0xd800 && value <= 0xdbff)
                {
                  gunichar low;

                  if (cursor_peek (c) != '\\' || cursor_peek_at (c, 1) != 'u')
                    return cursor_error (c, error,
                                         "bad escape: high surrogate “\\u%04x” without a low "
                                         "surrogate after it", value);
                  c->pos += 2;
                  if (!cursor_read_hex4 (c, &low, error))
                    return FALSE;
                  if (low < 0xdc00 || low > 0xdfff)
                    {
                      c->pos -= 6;
                      return cursor_error (c, error,
                                           "bad escape: high surrogate “\\u%04x” followed by "
                                           "“\\u%04x”, which is not a low surrogate", value, low);
                    }
                  value = 0x10000 + ((value - 0xd800) << 10) + (low - 0xdc00);
                }
              if (value == 0)
                {
                  c->pos -= 6;
                  return cursor_error (c, error,
                                       "bad escape: “\\u0000” (a NUL character) is not allowed "
                                       "in names and values");
                }
              g_string_append_unichar (string, value);
              continue;  /* the cursor already stands after the escape */
            default:
              c->pos--;
              if (ch < 0)
                return cursor_error (c, error, "unterminated string");
              if (ch >= 0x20 && ch < 0x7f)
                return cursor_error (c, error, "bad escape “\\%c” in a string", ch);
              return cursor_error (c, error, "bad escape: “\\” followed by byte 0x%02x",
                                   (guint) ch);
            }
          c->pos++;
        }
      else if (ch < 0x20)
        {
          return cursor_error (c, error,
                               "control character 0x%02x in a string (it must be escaped)",
                               (guint) ch);
        }
      else if (ch < 0x80)
        {
          g_string_append_c (string, (char) ch);
          c->pos++;
        }
      else
        {
          gsize length = utf8_sequence_length ((const guchar *) c->text + c->pos,
                                               c->length - c->pos);

          if (length == 0)
            return cursor_error (c, error, "invalid UTF-8 in a string");
          g_string_append_len (string, c->text + c->pos, (gssize) length);
          c->pos += length;
        }
    }

  *out = g_string_free (g_steal_pointer (&string), FALSE);
  return TRUE;
}

/* Reads a non-negative integer below 2^63 in plain decimal. context names
 * what the number is, for messages. */
static gboolean
cursor_read_integer (JsonCursor  *c,
                     const char  *context,
                     const char  *name,
                     guint64     *out,
                     GError     **error)
{
  guint64 value = 0;
  int ch;

  cursor_skip_whitespace (c);
  ch = cursor_peek (c);
  if (ch == '-')
    return cursor_error (c, error, "%s of tensor “%s” must not be negative", context, name);
  if (ch == '+')
    return cursor_error (c, error, "%s of tensor “%s”: a “+” sign is not allowed in JSON",
                         context, name);
  if (ch < '0' || ch > '9')
    {
      g_autofree char *expected = g_strdup_printf ("an integer in %s of tensor “%s”",
                                                   context, name);
      return cursor_unexpected (c, expected, error);
    }
  if (ch == '0' && (cursor_peek_at (c, 1) == 'x' || cursor_peek_at (c, 1) == 'X'))
    return cursor_error (c, error,
                         "%s of tensor “%s”: hexadecimal numbers are not allowed in JSON",
                         context, name);
  if (ch == '0' && cursor_peek_at (c, 1) >= '0' && cursor_peek_at (c, 1) <= '9')
    return cursor_error (c, error,
                         "%s of tensor “%s”: leading zeros (octal numbers) are not allowed "
                         "in JSON", context, name);

  while ((ch = cursor_peek (c)) >= '0' && ch <= '9')
    {
      guint digit = (guint) (ch - '0');

      if (value > (MAX_INTEGER - digit) / 10)
        return cursor_error (c, error,
                             "%s of tensor “%s”: integer too large (2^63 or more)",
                             context, name);
      value = value * 10 + digit;
      c->pos++;
    }

  if (ch == '.' || ch == 'e' || ch == 'E')
    return cursor_error (c, error, "%s of tensor “%s” must be an integer, not a fraction "
                         "or an exponent", context, name);

  *out = value;
  return TRUE;
}

/* Reads an array of integers, at most max of them. */
static gboolean
cursor_read_integer_array (JsonCursor  *c,
                           const char  *context,
                           const char  *name,
                           guint64     *values,
                           guint        max,
                           guint       *n_values,
                           GError     **error)
{
  gboolean empty, more = TRUE;

  *n_values = 0;
  cursor_skip_whitespace (c);
  if (cursor_peek (c) != '[')
    return cursor_error (c, error, "%s of tensor “%s” must be a list of integers",
                         context, name);
  cursor_open (c, '[', &empty);

  while (!empty && more)
    {
      if (*n_values == max)
        return cursor_error (c, error, "%s of tensor “%s” holds more than %u numbers",
                             context, name, max);
      if (!cursor_read_integer (c, context, name, &values[*n_values], error))
        return FALSE;
      (*n_values)++;
      if (!cursor_next_member (c, ']', &more, error))
        return FALSE;
    }

  return TRUE;
}

static gboolean cursor_skip_value (JsonCursor  *c,
                                   GError     **error);

static gboolean
cursor_skip_number (JsonCursor  *c,
                    GError     **error)
{
  int ch = cursor_peek (c);

  if (ch == '-')
    {
      c->pos++;
      ch = cursor_peek (c);
    }
  if (ch < '0' || ch > '9')
    return cursor_unexpected (c, "a digit", error);
  if (ch == '0' && (cursor_peek_at (c, 1) == 'x' || cursor_peek_at (c, 1) == 'X'))
    return cursor_error (c, error, "hexadecimal numbers are not allowed in JSON");
  if (ch == '0' && cursor_peek_at (c, 1) >= '0' && cursor_peek_at (c, 1) <= '9')
    return cursor_error (c, error, "leading zeros (octal numbers) are not allowed in JSON");
  while ((ch = cursor_peek (c)) >= '0' && ch <= '9')
    c->pos++;

  if (ch == '.')
    {
      c->pos++;
      if ((ch = cursor_peek (c)) < '0' || ch > '9')
        return cursor_unexpected (c, "a digit after “.”", error);
      while ((ch = cursor_peek (c)) >= '0' && ch <= '9')
        c->pos++;
    }

  if (ch == 'e' || ch == 'E')
    {
      c->pos++;
      ch = cursor_peek (c);
      if (ch == '+' || ch == '-')
        {
          c->pos++;
          ch = cursor_peek (c);
        }
      if (ch < '0' || ch > '9')
        return cursor_unexpected (c, "a digit in the exponent", error);
      while ((ch = cursor_peek (c)) >= '0' && ch <= '9')
        c->pos++;
    }

  return TRUE;
}

static gboolean
cursor_skip_literal (JsonCursor  *c,
                     const char  *literal,
                     GError     **error)
{
  gsize length = strlen (literal);

  if (c->length - c->pos < length || memcmp (c->text + c->pos, literal, length) != 0)
    return cursor_unexpected (c, "a JSON value", error);
  c->pos += length;
  return TRUE;
}

static gboolean
cursor_skip_container (JsonCursor  *c,
                       char         open,
                       GError     **error)
{
  g_autoptr(GHashTable) keys = NULL;
  char close = open == '{' ? '}' : ']';
  gboolean empty, more = TRUE;

  if (c->depth >= MAX_JSON_DEPTH)
    return cursor_error (c, error, "JSON nested deeper than %u levels", MAX_JSON_DEPTH);
  c->depth++;

  if (open == '{')
    keys = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  cursor_open (c, open, &empty);
  while (!empty && more)
    {
      if (open == '{')
        {
          char *key = NULL;
          gsize key_pos;

          cursor_skip_whitespace (c);
          key_pos = c->pos;
          if (cursor_peek (c) != '"')
            return cursor_unexpected (c, "a string as the key", error);
          if (!cursor_read_string (c, &key, error))
            return FALSE;
          if (!g_hash_table_add (keys, key))
            {
              c->pos = key_pos;
              return cursor_error (c, error, "duplicate key “%s”", key);
            }
          if (!cursor_expect (c, ':', "“:”", error))
            return FALSE;
        }
      if (!cursor_skip_value (c, error))
        return FALSE;
      if (!cursor_next_member (c, close, &more, error))
        return FALSE;
    }

  c->depth--;
  return TRUE;
}

/* Checks the syntax of any JSON value and steps over it. */
static gboolean
cursor_skip_value (JsonCursor  *c,
                   GError     **error)
{
  g_autofree char *string = NULL;

  cursor_skip_whitespace (c);
  switch (cursor_peek (c))
    {
    case '{':
    case '[':
      return cursor_skip_container (c, (char) cursor_peek (c), error);
    case '"':
      return cursor_read_string (c, &string, error);
    case 't':
      return cursor_skip_literal (c, "true", error);
    case 'f':
      return cursor_skip_literal (c, "false", error);
    case 'n':
      return cursor_skip_literal (c, "null", error);
    case '+':
      return cursor_error (c, error, "a “+” sign is not allowed in JSON");
    case '-': case '0': case '1': case '2': case '3': case '4':
    case '5': case '6': case '7': case '8': case '9':
      return cursor_skip_number (c, error);
    default:
      return cursor_unexpected (c, "a JSON value", error);
    }
}

/* After the top-level object: whitespace only, which also covers the
 * spaces that writers pad the header with. */
static gboolean
cursor_expect_end (JsonCursor  *c,
                   GError     **error)
{
  cursor_skip_whitespace (c);
  if (c->pos < c->length)
    {
      return cursor_error (c, error, "trailing data after the JSON object (only whitespace may "
                           "follow it)");
    }

  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* The header */

static gboolean
parse_tensor_entry (JsonCursor     *c,
                    LlmTensorInfo  *info,
                    GError        **error)
{
  const char *name = info->name;
  gboolean has_dtype = FALSE, has_shape = FALSE, has_offsets = FALSE;
  guint64 offsets[2];
  gboolean empty, more = TRUE;

  cursor_skip_whitespace (c);
  if (cursor_peek (c) != '{')
    return cursor_error (c, error, "tensor “%s” must be an object with dtype, shape and "
                         "data_offsets", name);
  cursor_open (c, '{', &empty);

  while (!empty && more)
    {
      g_autofree char *field = NULL;
      gsize field_pos;

      cursor_skip_whitespace (c);
      field_pos = c->pos;
      if (cursor_peek (c) != '"')
        return cursor_unexpected (c, "a field name in quotes", error);
      if (!cursor_read_string (c, &field, error))
        return FALSE;
      if (!cursor_expect (c, ':', "“:”", error))
        return FALSE;

      if (strcmp (field, "dtype") == 0 && !has_dtype)
        {
          g_autofree char *dtype = NULL;
          gsize dtype_pos;

          has_dtype = TRUE;
          cursor_skip_whitespace (c);
          dtype_pos = c->pos;
          if (cursor_peek (c) != '"')
            return cursor_error (c, error, "dtype of tensor “%s” must be a string", name);
          if (!cursor_read_string (c, &dtype, error))
            return FALSE;
          if (!dtype_from_string (dtype, &info->dtype))
            {
              c->pos = dtype_pos;
              return cursor_error (c, error, "tensor “%s” has an unknown dtype “%s”",
                                   name, dtype);
            }
        }
      else if (strcmp (field, "shape") == 0 && !has_shape)
        {
          has_shape = TRUE;
          if (!cursor_read_integer_array (c, "the shape", name, info->shape,
                                          LLM_TENSOR_MAX_DIMS, &info->n_dims, error))
            return FALSE;
        }
      else if (strcmp (field, "data_offsets") == 0 && !has_offsets)
        {
          guint n_offsets;

          has_offsets = TRUE;
          if (!cursor_read_integer_array (c, "data_offsets", name, offsets,
                                          G_N_ELEMENTS (offsets), &n_offsets, error))
            return FALSE;
          if (n_offsets != 2)
            return cursor_error (c, error, "data_offsets of tensor “%s” must be two integers "
                                 "[begin, end]", name);
        }
      else
        {
          c->pos = field_pos;
          if (strcmp (field, "dtype") == 0 || strcmp (field, "shape") == 0 ||
              strcmp (field, "data_offsets") == 0)
            return cursor_error (c, error, "duplicate key “%s” in tensor “%s”", field, name);
          return cursor_error (c, error, "unknown field “%s” in tensor “%s”", field, name);
        }

      if (!cursor_next_member (c, '}', &more, error))
        return FALSE;
    }

  if (!has_dtype || !has_shape || !has_offsets)
    return cursor_error (c, error, "tensor “%s” has no %s", name,
                         !has_dtype ? "dtype" : !has_shape ? "shape" : "data_offsets");

  /* Until validated, offset holds the begin and size the end. */
  info->offset = offsets[0];
  info->size = offsets[1];
  return TRUE;
}

static gboolean
parse_metadata (JsonCursor  *c,
                GHashTable  *metadata,
                GError     **error)
{
  gboolean empty, more = TRUE;

  cursor_skip_whitespace (c);
  /* The reference reads an Option: null means no metadata. */
  if (cursor_peek (c) == 'n')
    return cursor_skip_literal (c, "null", error);
  if (cursor_peek (c) != '{')
    return cursor_error (c, error, "__metadata__ must be an object of strings");
  cursor_open (c, '{', &empty);

  while (!empty && more)
    {
      g_autofree char *key = NULL;
      g_autofree char *value = NULL;
      gsize key_pos;

      cursor_skip_whitespace (c);
      key_pos = c->pos;
      if (cursor_peek (c) != '"')
        return cursor_unexpected (c, "a key in quotes", error);
      if (!cursor_read_string (c, &key, error))
        return FALSE;
      if (g_hash_table_contains (metadata, key))
        {
          c->pos = key_pos;
          return cursor_error (c, error, "duplicate key “%s” in __metadata__", key);
        }
      if (!cursor_expect (c, ':', "“:”", error))
        return FALSE;
      cursor_skip_whitespace (c);
      if (cursor_peek (c) != '"')
        return cursor_error (c, error, "__metadata__ value of “%s” must be a string", key);
      if (!cursor_read_string (c, &value, error))
        return FALSE;
      g_hash_table_insert (metadata, g_steal_pointer (&key), g_steal_pointer (&value));

      if (!cursor_next_member (c, '}', &more, error))
        return FALSE;
    }

  return TRUE;
}

static char *
format_shape (const LlmTensorInfo *info)
{
  GString *string = g_string_new ("[");

  for (guint i = 0; i < info->n_dims; i++)
    g_string_append_printf (string, "%s%" G_GUINT64_FORMAT, i ? ", " : "", info->shape[i]);
  g_string_append_c (string, ']');
  return g_string_free (string, FALSE);
}

static gint
compare_by_offsets (gconstpointer a,
                    gconstpointer b)
{
  const LlmTensorInfo *left = *(const LlmTensorInfo * const *) a;
  const LlmTensorInfo *right = *(const LlmTensorInfo * const *) b;

  /* While validating, offset holds the begin and size the end. */
  if (left->offset != right->offset)
    return left->offset < right->offset ? -1 : 1;
  if (left->size != right->size)
    return left->size < right->size ? -1 : 1;
  return 0;
}

/* The reference's rules (safetensors' Metadata::validate): sizes match
 * shapes, and sorted by offsets the tensors tile [0, data_size) exactly. On
 * success, each tensor's offset and size are its begin and byte count. */
static gboolean
validate_tensors (GPtrArray  *tensors,
                  guint64     data_size,
                  GError    **error)
{
  guint64 expected = 0;

  for (guint i = 0; i < tensors->len; i++)
    {
      const LlmTensorInfo *info = g_ptr_array_index (tensors, i);
      guint64 begin = info->offset, end = info->size;
      guint64 n_bytes = dtypes[info->dtype].size;
      gboolean overflow = FALSE;

      for (guint d = 0; d < info->n_dims; d++)
        overflow |= !g_uint64_checked_mul (&n_bytes, n_bytes, info->shape[d]);
      if (overflow)
        {
          g_autofree char *shape = format_shape (info);

          g_set_error (error, LLM_SAFETENSORS_ERROR, LLM_SAFETENSORS_ERROR_INVALID,
                       "tensor “%s”: the size of %s %s overflows 64 bits",
                       info->name, dtypes[info->dtype].name, shape);
          return FALSE;
        }
      if (end < begin)
        {
          g_set_error (error, LLM_SAFETENSORS_ERROR, LLM_SAFETENSORS_ERROR_INVALID,
                       "tensor “%s” ends before it begins (data_offsets [%" G_GUINT64_FORMAT
                       ", %" G_GUINT64_FORMAT "])", info->name, begin, end);
          return FALSE;
        }
      if (end - begin != n_bytes)
        {
          g_autofree char *shape = format_shape (info);

          g_set_error (error, LLM_SAFETENSORS_ERROR, LLM_SAFETENSORS_ERROR_INVALID,
                       "tensor “%s” has %" G_GUINT64_FORMAT " bytes (data_offsets [%"
                       G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT "]) but its size as %s %s is %"
                       G_GUINT64_FORMAT " bytes", info->name, end - begin, begin, end,
                       dtypes[info->dtype].name, shape, n_bytes);
          return FALSE;
        }
      if (end > data_size)
        {
          g_set_error (error, LLM_SAFETENSORS_ERROR, LLM_SAFETENSORS_ERROR_INVALID,
                       "tensor “%s” ends at byte %" G_GUINT64_FORMAT " past the data (%"
                       G_GUINT64_FORMAT " bytes)", info->name, end, data_size);
          return FALSE;
        }
    }

  /* A stable sort, so that tensors of 0 bytes at the same offset keep the
   * header's order. */
  g_ptr_array_sort (tensors, compare_by_offsets);

  for (guint i = 0; i < tensors->len; i++)
    {
      LlmTensorInfo *info = g_ptr_array_index (tensors, i);
      guint64 begin = info->offset, end = info->size;

      if (begin > expected)
        {
          g_set_error (error, LLM_SAFETENSORS_ERROR, LLM_SAFETENSORS_ERROR_INVALID,
                       "gap in the data: bytes [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT
                       ") before tensor “%s” belong to no tensor", expected, begin, info->name);
          return FALSE;
        }
      if (begin < expected)
        {
          const LlmTensorInfo *previous = g_ptr_array_index (tensors, i - 1);

          g_set_error (error, LLM_SAFETENSORS_ERROR, LLM_SAFETENSORS_ERROR_INVALID,
                       "tensor “%s” (data_offsets [%" G_GUINT64_FORMAT ", %" G_GUINT64_FORMAT
                       "]) overlaps tensor “%s”, which ends at byte %" G_GUINT64_FORMAT,
                       info->name, begin, end, previous->name, expected);
          return FALSE;
        }
      expected = end;
    }

  if (expected != data_size)
    {
      g_set_error (error, LLM_SAFETENSORS_ERROR, LLM_SAFETENSORS_ERROR_INVALID,
                   "gap in the data: its last %" G_GUINT64_FORMAT " bytes (of %"
                   G_GUINT64_FORMAT ") belong to no tensor", data_size - expected, data_size);
      return FALSE;
    }

  for (guint i = 0; i < tensors->len; i++)
    {
      LlmTensorInfo *info = g_ptr_array_index (tensors, i);

      info->size -= info->offset;
    }

  return TRUE;
}

gboolean
llm_safetensors_parse_header (const char   *json,
                              gsize         json_len,
                              guint64       data_size,
                              GPtrArray   **tensors,
                              GHashTable  **metadata,
                              GError      **error)
{
  g_autoptr(GPtrArray) parsed = NULL;
  g_autoptr(GHashTable) names = NULL;
  g_autoptr(GHashTable) parsed_metadata = NULL;
  JsonCursor cursor = { json, json_len, 0, 0, "header" };
  JsonCursor *c = &cursor;
  gboolean has_metadata = FALSE;
  gboolean empty, more = TRUE;

  g_return_val_if_fail (json != NULL || json_len == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (json_len > MAX_HEADER_SIZE)
    {
      g_set_error (error, LLM_SAFETENSORS_ERROR, LLM_SAFETENSORS_ERROR_INVALID,
                   "header of %" G_GSIZE_FORMAT " bytes is too large (the limit is %"
                   G_GUINT64_FORMAT ")", json_len, MAX_HEADER_SIZE);
      return FALSE;
    }

  parsed = g_ptr_array_new_with_free_func (tensor_info_free);
  names = g_hash_table_new (g_str_hash, g_str_equal);
  parsed_metadata = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);

  cursor_skip_whitespace (c);
  if (cursor_peek (c) != '{')
    return cursor_error (c, error, "the header is not a JSON object");
  cursor_open (c, '{', &empty);

  while (!empty && more)
    {
      g_autofree char *key = NULL;
      gsize key_pos;

      cursor_skip_whitespace (c);
      key_pos = c->pos;
      if (cursor_peek (c) != '"')
        return cursor_unexpected (c, "a tensor name in quotes", error);
      if (!cursor_read_string (c, &key, error))
        return FALSE;
      if (!cursor_expect (c, ':', "“:”", error))
        return FALSE;

      if (strcmp (key, "__metadata__") == 0)
        {
          if (has_metadata)
            {
              c->pos = key_pos;
              return cursor_error (c, error, "duplicate key “__metadata__”");
            }
          has_metadata = TRUE;
          if (!parse_metadata (c, parsed_metadata, error))
            return FALSE;
        }
      else
        {
          LlmTensorInfo *info;

          if (g_hash_table_contains (names, key))
            {
              c->pos = key_pos;
              return cursor_error (c, error, "duplicate tensor name “%s”", key);
            }
          info = g_new0 (LlmTensorInfo, 1);
          info->name = g_steal_pointer (&key);
          g_ptr_array_add (parsed, info);
          g_hash_table_add (names, info->name);
          if (!parse_tensor_entry (c, info, error))
            return FALSE;
        }

      if (!cursor_next_member (c, '}', &more, error))
        return FALSE;
    }

  if (!cursor_expect_end (c, error))
    return FALSE;

  if (!validate_tensors (parsed, data_size, error))
    return FALSE;

  if (tensors != NULL)
    *tensors = g_steal_pointer (&parsed);
  if (metadata != NULL)
    *metadata = g_steal_pointer (&parsed_metadata);
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Files */

typedef struct
{
  char    *name;   /* in the model folder, for messages */
  char    *path;
  int      fd;
  guint64  size;   /* when opened */
} WeightsFile;

typedef struct
{
  gpointer      base;     /* page-aligned, NULL when nothing is mapped */
  gsize         length;
  const guint8 *data;     /* the tensor's first byte, NULL until mapped */
} TensorMapping;

struct _LlmWeights
{
  GPtrArray     *files;         /* WeightsFile*, by file_index */
  LlmTensorInfo *tensors;       /* (n_tensors), file by file in offset order */
  TensorMapping *mappings;      /* (n_tensors) */
  guint          n_tensors;
  GHashTable    *by_name;       /* borrowed name → LlmTensorInfo* */
  guint64        mapped_bytes;
};

/* Where tensors of 0 bytes point: somewhere valid that holds nothing. */
static const guint8 empty_tensor_data[1];

static void
weights_file_free (WeightsFile *file)
{
  if (file->fd >= 0)
    close (file->fd);
  g_free (file->name);
  g_free (file->path);
  g_free (file);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (WeightsFile, weights_file_free)

/* Opens name in dir. A file that does not exist is MISSING. */
static WeightsFile *
weights_file_open (const char  *dir,
                   const char  *name,
                   GError     **error)
{
  WeightsFile *file;
  struct stat st;
  int fd, saved_errno;
  g_autofree char *path = g_build_filename (dir, name, NULL);

  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    {
      saved_errno = errno;
      g_set_error (error, LLM_SAFETENSORS_ERROR,
                   saved_errno == ENOENT ? LLM_SAFETENSORS_ERROR_MISSING
                                         : LLM_SAFETENSORS_ERROR_IO,
                   "%s: %s", name, g_strerror (saved_errno));
      return NULL;
    }
  if (fstat (fd, &st) != 0)
    {
      saved_errno = errno;
      close (fd);
      g_set_error (error, LLM_SAFETENSORS_ERROR, LLM_SAFETENSORS_ERROR_IO,
                   "%s: %s", name, g_strerror (saved_errno));
      return NULL;
    }
  if (!S_ISREG (st.st_mode))
    {
      close (fd);
      g_set_error (error, LLM_SAFETENSORS_ERROR, LLM_SAFETENSORS_ERROR_INVALID,
                   "%s: not a regular file", name);
      return NULL;
    }

  file = g_new0 (WeightsFile, 1);
  file->name = g_strdup (name);
  file->path = g_steal_pointer (&path);
  file->fd = fd;
  file->size = (guint64) st.st_size;
  return file;
}

static gboolean
weights_file_read (WeightsFile  *file,
                   void         *buffer,
                   gsize         count,
                   guint64       offset,
                   GError      **error)
{
  guint8 *p = buffer;

  while (count > 0)
    {
      ssize_t n = pread (file->fd, p, MIN (count, (gsize) G_MAXSSIZE), (off_t) offset);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved_errno = errno;

          g_set_error (error, LLM_SAFETENSORS_ERROR, LLM_SAFETENSORS_ERROR_IO,
                       "%s: %s", file->name, g_strerror (saved_errno));
          return FALSE;
        }
      if (n == 0)
        {
          g_set_error (error, LLM_SAFETENSORS_ERROR, LLM_SAFETENSORS_ERROR_INVALID,
                       "%s: the file ends at byte %" G_GUINT64_FORMAT ", sooner than it did "
                       "when it was opened", file->name, offset);
          return FALSE;
        }
      p += n;
      count -= (gsize) n;
      offset += (guint64) n;
    }

  return TRUE;
}

/* Reads the header of a safetensors file: its tensors, with absolute offsets
 * and file_index set. */
static GPtrArray *
weights_file_read_header (WeightsFile  *file,
                          guint         file_index,
                          GError      **error)
{
  g_autoptr(GPtrArray) tensors = NULL;
  g_autofree char *header = NULL;
  guint8 length_bytes[8];
  guint64 length;

  if (file->size < 8)
    {
      g_set_error (error, LLM_SAFETENSORS_ERROR, LLM_SAFETENSORS_ERROR_INVALID,
                   "%s: file of %" G_GUINT64_FORMAT " bytes is too short for a safetensors "
                   "file (the header length alone takes 8)", file->name, file->size);
      return NULL;
    }
  if (!weights_file_read (file, length_bytes, sizeof length_bytes, 0, error))
    return NULL;

  length = 0;
  for (guint i = 0; i < 8; i++)
    length |= (guint64) length_bytes[i] << (8 * i);

  if (length > MAX_HEADER_SIZE)
    {
      g_set_error (error, LLM_SAFETENSORS_ERROR, LLM_SAFETENSORS_ERROR_INVALID,
                   "%s: header length %" G_GUINT64_FORMAT " is too large (the limit is %"
                   G_GUINT64_FORMAT ")", file->name, length, MAX_HEADER_SIZE);
      return NULL;
    }
  if (length > file->size - 8)
    {
      g_set_error (error, LLM_SAFETENSORS_ERROR, LLM_SAFETENSORS_ERROR_INVALID,
                   "%s: header length %" G_GUINT64_FORMAT " runs past the end of the file (%"
                   G_GUINT64_FORMAT " bytes)", file->name, length, file->size);
      return NULL;
    }

  header = g_malloc (length + 1);
  if (!weights_file_read (file, header, length, 8, error))
    return NULL;

  if (!llm_safetensors_parse_header (header, length, file->size - 8 - length,
                                     &tensors, NULL, error))
    {
      g_prefix_error (error, "%s: ", file->name);
      return NULL;
    }

  for (guint i = 0; i < tensors->len; i++)
    {
      LlmTensorInfo *info = g_ptr_array_index (tensors, i);

      info->offset += 8 + length;
      info->file_index = file_index;
    }

  return g_steal_pointer (&tensors);
}

/* ------------------------------------------------------------------------ */
/* The index of a sharded model */

/* A file name inside the model folder, not a path that leaves it. */
static gboolean
is_plain_file_name (const char *name)
{
  return name[0] != '\0' && strcmp (name, ".") != 0 && strcmp (name, "..") != 0 &&
         strchr (name, '/') == NULL && strchr (name, '\\') == NULL;
}

/* Fills weight_map (tensor name → file name) and names (the tensor names in
 * the index's order) from the index text. */
static gboolean
parse_index (const char  *text,
             gsize        length,
             GHashTable  *weight_map,
             GPtrArray   *names,
             GError     **error)
{
  g_autoptr(GHashTable) keys = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  JsonCursor cursor = { text, length, 0, 0, "index" };
  JsonCursor *c = &cursor;
  gboolean has_weight_map = FALSE;
  gboolean empty, more = TRUE;

  cursor_skip_whitespace (c);
  if (cursor_peek (c) != '{')
    return cursor_error (c, error, "the index is not a JSON object");
  cursor_open (c, '{', &empty);
  c->depth = 1;

  while (!empty && more)
    {
      g_autofree char *key = NULL;
      gsize key_pos;

      cursor_skip_whitespace (c);
      key_pos = c->pos;
      if (cursor_peek (c) != '"')
        return cursor_unexpected (c, "a key in quotes", error);
      if (!cursor_read_string (c, &key, error))
        return FALSE;
      if (g_hash_table_contains (keys, key))
        {
          c->pos = key_pos;
          return cursor_error (c, error, "duplicate key “%s”", key);
        }
      g_hash_table_add (keys, g_strdup (key));
      if (!cursor_expect (c, ':', "“:”", error))
        return FALSE;

      if (strcmp (key, "weight_map") == 0)
        {
          gboolean map_empty, map_more = TRUE;

          has_weight_map = TRUE;
          cursor_skip_whitespace (c);
          if (cursor_peek (c) != '{')
            return cursor_error (c, error, "weight_map must be an object of file names");
          cursor_open (c, '{', &map_empty);

          while (!map_empty && map_more)
            {
              g_autofree char *name = NULL;
              g_autofree char *file = NULL;
              gsize name_pos, file_pos;

              cursor_skip_whitespace (c);
              name_pos = c->pos;
              if (cursor_peek (c) != '"')
                return cursor_unexpected (c, "a tensor name in quotes", error);
              if (!cursor_read_string (c, &name, error))
                return FALSE;
              if (g_hash_table_contains (weight_map, name))
                {
                  c->pos = name_pos;
                  return cursor_error (c, error, "duplicate key “%s” in weight_map", name);
                }
              if (!cursor_expect (c, ':', "“:”", error))
                return FALSE;
              cursor_skip_whitespace (c);
              file_pos = c->pos;
              if (cursor_peek (c) != '"')
                return cursor_error (c, error, "weight_map value of “%s” must be a file name",
                                     name);
              if (!cursor_read_string (c, &file, error))
                return FALSE;
              if (!is_plain_file_name (file))
                {
                  c->pos = file_pos;
                  return cursor_error (c, error, "weight_map assigns “%s” to “%s”, which is "
                                       "not a file name in the model folder", name, file);
                }
              g_ptr_array_add (names, g_strdup (name));
              g_hash_table_insert (weight_map, g_steal_pointer (&name), g_steal_pointer (&file));

              if (!cursor_next_member (c, '}', &map_more, error))
                return FALSE;
            }
        }
      else
        {
          /* "metadata" ({"total_size": …}) and whatever else writers add:
           * checked as JSON, not used. */
          if (!cursor_skip_value (c, error))
            return FALSE;
        }

      if (!cursor_next_member (c, '}', &more, error))
        return FALSE;
    }

  if (!cursor_expect_end (c, error))
    return FALSE;

  if (!has_weight_map)
    {
      g_set_error (error, LLM_SAFETENSORS_ERROR, LLM_SAFETENSORS_ERROR_INVALID,
                   "the index has no weight_map");
      return FALSE;
    }
  if (names->len == 0)
    {
      g_set_error (error, LLM_SAFETENSORS_ERROR, LLM_SAFETENSORS_ERROR_INVALID,
                   "the weight_map of the index lists no tensor");
      return FALSE;
    }

  return TRUE;
}

static gboolean
read_index (WeightsFile  *file,
            GHashTable   *weight_map,
            GPtrArray    *names,
            GError      **error)
{
  g_autofree char *text = NULL;

  if (file->size > MAX_INDEX_SIZE)
    {
      g_set_error (error, LLM_SAFETENSORS_ERROR, LLM_SAFETENSORS_ERROR_INVALID,
                   "%s: file of %" G_GUINT64_FORMAT " bytes is too large for an index "
                   "(the limit is %" G_GUINT64_FORMAT ")", file->name, file->size,
                   MAX_INDEX_SIZE);
      return FALSE;
    }

  text = g_malloc (file->size + 1);
  if (!weights_file_read (file, text, file->size, 0, error))
    return FALSE;

  if (!parse_index (text, file->size, weight_map, names, error))
    {
      g_prefix_error (error, "%s: ", file->name);
      return FALSE;
    }

  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Weights */

void
llm_weights_free (LlmWeights *weights)
{
  if (weights == NULL)
    return;

  for (guint i = 0; i < weights->n_tensors; i++)
    {
      if (weights->mappings[i].base != NULL)
        munmap (weights->mappings[i].base, weights->mappings[i].length);
      g_free (weights->tensors[i].name);
    }
  g_free (weights->mappings);
  g_free (weights->tensors);
  g_clear_pointer (&weights->by_name, g_hash_table_unref);
  g_clear_pointer (&weights->files, g_ptr_array_unref);
  g_free (weights);
}

/* Moves the tensors of per_file (one GPtrArray of LlmTensorInfo* per file)
 * into weights, checking that no name is in two files. */
static gboolean
weights_take_tensors (LlmWeights  *weights,
                      GPtrArray   *per_file,
                      GError     **error)
{
  guint n = 0, k = 0;

  for (guint f = 0; f < per_file->len; f++)
    n += ((GPtrArray *) g_ptr_array_index (per_file, f))->len;

  weights->tensors = g_new0 (LlmTensorInfo, MAX (n, 1));
  weights->mappings = g_new0 (TensorMapping, MAX (n, 1));

  for (guint f = 0; f < per_file->len; f++)
    {
      GPtrArray *tensors = g_ptr_array_index (per_file, f);

      for (guint i = 0; i < tensors->len; i++)
        {
          LlmTensorInfo *info = g_ptr_array_index (tensors, i);
          const LlmTensorInfo *other = g_hash_table_lookup (weights->by_name, info->name);

          if (other != NULL)
            {
              const WeightsFile *a = g_ptr_array_index (weights->files, other->file_index);
              const WeightsFile *b = g_ptr_array_index (weights->files, info->file_index);

              g_set_error (error, LLM_SAFETENSORS_ERROR, LLM_SAFETENSORS_ERROR_INVALID,
                           "tensor “%s” is in two files, %s and %s", info->name, a->name,
                           b->name);
              return FALSE;
            }

          weights->tensors[k] = *info;
          info->name = NULL;   /* moved */
          g_hash_table_insert (weights->by_name, weights->tensors[k].name, &weights->tensors[k]);
          weights->n_tensors = ++k;
        }
    }

  return TRUE;
}

static gint
compare_strings (gconstpointer a,
                 gconstpointer b)
{
  return strcmp (*(const char * const *) a, *(const char * const *) b);
}

static gboolean
weights_open_shards (LlmWeights   *weights,
                     const char   *model_dir,
                     WeightsFile  *index_file,
                     GError      **error)
{
  g_autoptr(GHashTable) weight_map = g_hash_table_new_full (g_str_hash, g_str_equal,
                                                            g_free, g_free);
  g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GPtrArray) file_names = g_ptr_array_new ();
  g_autoptr(GHashTable) file_set = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GPtrArray) per_file = NULL;

  if (!read_index (index_file, weight_map, names, error))
    return FALSE;
  per_file = g_ptr_array_new_with_free_func ((GDestroyNotify) g_ptr_array_unref);

  /* Shards in the order of their names: model-00001-of-00003 first. */
  for (guint i = 0; i < names->len; i++)
    {
      const char *file_name = g_hash_table_lookup (weight_map, g_ptr_array_index (names, i));

      if (g_hash_table_add (file_set, (gpointer) file_name))
        g_ptr_array_add (file_names, (gpointer) file_name);
    }
  g_ptr_array_sort (file_names, compare_strings);

  for (guint f = 0; f < file_names->len; f++)
    {
      const char *file_name = g_ptr_array_index (file_names, f);
      g_autoptr(GError) local_error = NULL;
      WeightsFile *file;
      GPtrArray *tensors;

      file = weights_file_open (model_dir, file_name, &local_error);
      if (file == NULL)
        {
          if (g_error_matches (local_error, LLM_SAFETENSORS_ERROR,
                               LLM_SAFETENSORS_ERROR_MISSING))
            {
              g_set_error (error, LLM_SAFETENSORS_ERROR, LLM_SAFETENSORS_ERROR_MISSING,
                           "%s: the weight_map names %s, which does not exist",
                           index_file->name, file_name);
              return FALSE;
            }
          g_propagate_error (error, g_steal_pointer (&local_error));
          return FALSE;
        }
      g_ptr_array_add (weights->files, file);

      tensors = weights_file_read_header (file, f, error);
      if (tensors == NULL)
        return FALSE;
      g_ptr_array_add (per_file, tensors);
    }

  if (!weights_take_tensors (weights, per_file, error))
    return FALSE;

  /* The index and the files must agree on every tensor. */
  for (guint i = 0; i < names->len; i++)
    {
      const char *name = g_ptr_array_index (names, i);
      const char *file_name = g_hash_table_lookup (weight_map, name);
      const LlmTensorInfo *info = g_hash_table_lookup (weights->by_name, name);
      const WeightsFile *file;

      if (info == NULL)
        {
          g_set_error (error, LLM_SAFETENSORS_ERROR, LLM_SAFETENSORS_ERROR_MISSING,
                       "%s: tensor “%s” is not in the file, though %s assigns it there",
                       file_name, name, index_file->name);
          return FALSE;
        }
      file = g_ptr_array_index (weights->files, info->file_index);
      if (strcmp (file->name, file_name) != 0)
        {
          g_set_error (error, LLM_SAFETENSORS_ERROR, LLM_SAFETENSORS_ERROR_INVALID,
                       "%s: tensor “%s” is in the file, though %s assigns it to %s",
                       file->name, name, index_file->name, file_name);
          return FALSE;
        }
    }
  for (guint i = 0; i < weights->n_tensors; i++)
    {
      const LlmTensorInfo *info = &weights->tensors[i];

      if (!g_hash_table_contains (weight_map, info->name))
        {
          const WeightsFile *file = g_ptr_array_index (weights->files, info->file_index);

          g_set_error (error, LLM_SAFETENSORS_ERROR, LLM_SAFETENSORS_ERROR_INVALID,
                       "%s: tensor “%s” is not listed in the weight_map of %s",
                       file->name, info->name, index_file->name);
          return FALSE;
        }
    }

  return TRUE;
}

LlmWeights *
llm_weights_open (const char  *model_dir,
                  GError     **error)
{
  g_autoptr(LlmWeights) weights = NULL;
  g_autoptr(GError) local_error = NULL;
  WeightsFile *file;

  g_return_val_if_fail (model_dir != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  weights = g_new0 (LlmWeights, 1);
  weights->files = g_ptr_array_new_with_free_func ((GDestroyNotify) weights_file_free);
  weights->by_name = g_hash_table_new (g_str_hash, g_str_equal);

  /* As transformers does: the single file first, then the index. */
  file = weights_file_open (model_dir, SINGLE_FILE_NAME, &local_error);
  if (file != NULL)
    {
      g_autoptr(GPtrArray) per_file = NULL;
      GPtrArray *tensors;

      per_file = g_ptr_array_new_with_free_func ((GDestroyNotify) g_ptr_array_unref);
      g_ptr_array_add (weights->files, file);
      tensors = weights_file_read_header (file, 0, error);
      if (tensors == NULL)
        return NULL;
      g_ptr_array_add (per_file, tensors);
      if (!weights_take_tensors (weights, per_file, error))
        return NULL;
    }
  else if (g_error_matches (local_error, LLM_SAFETENSORS_ERROR, LLM_SAFETENSORS_ERROR_MISSING))
    {
      g_autoptr(WeightsFile) index_file = NULL;

      g_clear_error (&local_error);
      index_file = weights_file_open (model_dir, INDEX_FILE_NAME, &local_error);
      if (index_file == NULL)
        {
          if (g_error_matches (local_error, LLM_SAFETENSORS_ERROR,
                               LLM_SAFETENSORS_ERROR_MISSING))
            {
              g_set_error (error, LLM_SAFETENSORS_ERROR, LLM_SAFETENSORS_ERROR_MISSING,
                           "%s: no %s nor %s in the model folder", model_dir,
                           SINGLE_FILE_NAME, INDEX_FILE_NAME);
              return NULL;
            }
          g_propagate_error (error, g_steal_pointer (&local_error));
          return NULL;
        }
      if (!weights_open_shards (weights, model_dir, index_file, error))
        return NULL;
    }
  else
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }

  return g_steal_pointer (&weights);
}

const LlmTensorInfo *
llm_weights_lookup (LlmWeights *weights,
                    const char *name)
{
  g_return_val_if_fail (weights != NULL, NULL);
  g_return_val_if_fail (name != NULL, NULL);

  return g_hash_table_lookup (weights->by_name, name);
}

guint
llm_weights_get_n_tensors (LlmWeights *weights)
{
  g_return_val_if_fail (weights != NULL, 0);

  return weights->n_tensors;
}

const LlmTensorInfo *
llm_weights_get_tensor (LlmWeights *weights,
                        guint       index)
{
  g_return_val_if_fail (weights != NULL, NULL);
  g_return_val_if_fail (index < weights->n_tensors, NULL);

  return &weights->tensors[index];
}

const char *
llm_weights_get_file_path (LlmWeights *weights,
                           guint       file_index)
{
  const WeightsFile *file;

  g_return_val_if_fail (weights != NULL, NULL);
  g_return_val_if_fail (file_index < weights->files->len, NULL);

  file = g_ptr_array_index (weights->files, file_index);
  return file->path;
}

const void *
llm_weights_map (LlmWeights          *weights,
                 const LlmTensorInfo *tensor,
                 GError             **error)
{
  gsize page_size = (gsize) sysconf (_SC_PAGESIZE);
  TensorMapping *mapping;
  WeightsFile *file;
  struct stat st;
  guint64 start, length;
  guintptr index;
  gpointer base;

  g_return_val_if_fail (weights != NULL, NULL);
  g_return_val_if_fail (tensor != NULL, NULL);
  g_return_val_if_fail ((guintptr) tensor >= (guintptr) weights->tensors &&
                        (guintptr) tensor < (guintptr) (weights->tensors + weights->n_tensors),
                        NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  index = ((guintptr) tensor - (guintptr) weights->tensors) / sizeof *tensor;
  mapping = &weights->mappings[index];
  if (mapping->data != NULL)
    return mapping->data;

  if (tensor->size == 0)
    {
      mapping->data = empty_tensor_data;
      return mapping->data;
    }

  /* The file was checked when opened; one truncated since would turn reads
   * of the mapping into SIGBUS. */
  file = g_ptr_array_index (weights->files, tensor->file_index);
  if (fstat (file->fd, &st) != 0)
    {
      int saved_errno = errno;

      g_set_error (error, LLM_SAFETENSORS_ERROR, LLM_SAFETENSORS_ERROR_IO,
                   "%s: %s", file->name, g_strerror (saved_errno));
      return NULL;
    }
  if ((guint64) st.st_size < tensor->offset + tensor->size)
    {
      g_set_error (error, LLM_SAFETENSORS_ERROR, LLM_SAFETENSORS_ERROR_INVALID,
                   "%s: the file shrank to %" G_GUINT64_FORMAT " bytes since it was opened, "
                   "and tensor “%s” ends at byte %" G_GUINT64_FORMAT, file->name,
                   (guint64) st.st_size, tensor->name, tensor->offset + tensor->size);
      return NULL;
    }

  start = tensor->offset - tensor->offset % page_size;
  length = tensor->offset + tensor->size - start;
  if (length > G_MAXSIZE)
    {
      g_set_error (error, LLM_SAFETENSORS_ERROR, LLM_SAFETENSORS_ERROR_IO,
                   "%s: tensor “%s” is too large to map on this system", file->name,
                   tensor->name);
      return NULL;
    }

  base = mmap (NULL, (gsize) length, PROT_READ, MAP_PRIVATE, file->fd, (off_t) start);
  if (base == MAP_FAILED)
    {
      int saved_errno = errno;

      g_set_error (error, LLM_SAFETENSORS_ERROR, LLM_SAFETENSORS_ERROR_IO,
                   "%s: could not map tensor “%s”: %s", file->name, tensor->name,
                   g_strerror (saved_errno));
      return NULL;
    }
  /* Loading reads the tensor from start to end: read ahead. */
  (void) madvise (base, (gsize) length, MADV_WILLNEED);

  mapping->base = base;
  mapping->length = (gsize) length;
  mapping->data = (const guint8 *) base + (tensor->offset - start);
  weights->mapped_bytes += (length + page_size - 1) / page_size * page_size;
  return mapping->data;
}

guint64
llm_weights_get_mapped_bytes (LlmWeights *weights)
{
  g_return_val_if_fail (weights != NULL, 0);

  return weights->mapped_bytes;
}

/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-template-value"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "llm-template-private.h"

/* The values a template computes with, and the text JavaScript makes of them:
 * the reference engine runs on JavaScript, so a prompt depends on how
 * JavaScript prints a number, trims a string or compares two values. Strings
 * are UTF-8 here; where JavaScript counts UTF-16 code units, so do these. */

/* ---- values ------------------------------------------------------------ */

static void
map_free (Map *map)
{
  g_ptr_array_unref (map->keys);
  g_ptr_array_unref (map->values);
  g_hash_table_unref (map->index);
  g_free (map);
}

void
value_free (gpointer data)
{
  Value *value = data;

  switch (value->type)
    {
    case VALUE_STRING:
      g_free (value->string.data);
      break;
    case VALUE_ARRAY:
    case VALUE_TUPLE:
      g_ptr_array_unref (value->items);
      break;
    case VALUE_OBJECT:
    case VALUE_KWARGS:
    case VALUE_NAMESPACE:
      map_free (value->map);
      break;
    default:
      break;
    }
  g_free (value);
}

Value *
value_new (Render    *render,
           ValueType  type)
{
  Value *value = g_new0 (Value, 1);

  value->type = type;
  g_ptr_array_add (render->values, value);
  return value;
}

Value *
value_undefined (Render *render)
{
  if (render->undefined == NULL)
    render->undefined = value_new (render, VALUE_UNDEFINED);
  return render->undefined;
}

Value *
value_null (Render *render)
{
  if (render->null == NULL)
    render->null = value_new (render, VALUE_NULL);
  return render->null;
}

Value *
value_new_boolean (Render   *render,
                   gboolean  boolean)
{
  Value *value = value_new (render, VALUE_BOOLEAN);

  value->boolean = boolean != FALSE;
  return value;
}

Value *
value_new_number (Render    *render,
                  ValueType  type,
                  double     number)
{
  Value *value = value_new (render, type);

  value->number = number;
  return value;
}

Value *
value_new_string (Render     *render,
                  const char *data,
                  gsize       len)
{
  Value *value = value_new (render, VALUE_STRING);

  value->string.data = g_malloc (len + 1);
  if (len > 0)
    memcpy (value->string.data, data, len);
  value->string.data[len] = '\0';
  value->string.len = len;
  return value;
}

Value *
value_new_string_take (Render  *render,
                       GString *string)
{
  Value *value = value_new (render, VALUE_STRING);

  value->string.len = string->len;
  value->string.data = g_string_free (string, FALSE);
  return value;
}

Value *
value_new_array (Render    *render,
                 ValueType  type)
{
  Value *value = value_new (render, type);

  value->items = g_ptr_array_new ();
  return value;
}

static guint
string_value_hash (gconstpointer key)
{
  const Value *value = key;
  guint hash = 5381;

  for (gsize i = 0; i < value->string.len; i++)
    hash = hash * 33 + (guchar) value->string.data[i];
  return hash;
}

static gboolean
string_value_equal (gconstpointer a,
                    gconstpointer b)
{
  const Value *x = a, *y = b;

  return x->string.len == y->string.len &&
         memcmp (x->string.data, y->string.data, x->string.len) == 0;
}

static Map *
map_new (void)
{
  Map *map = g_new0 (Map, 1);

  map->keys = g_ptr_array_new ();
  map->values = g_ptr_array_new ();
  map->index = g_hash_table_new (string_value_hash, string_value_equal);
  return map;
}

Value *
value_new_map (Render    *render,
               ValueType  type)
{
  Value *value = value_new (render, type);

  value->map = map_new ();
  return value;
}

Value *
value_new_function (Render       *render,
                    FunctionKind  kind,
                    Value        *self)
{
  Value *value = value_new (render, VALUE_FUNCTION);

  value->function.kind = kind;
  value->function.self = self;
  return value;
}

/* ---- maps and scopes --------------------------------------------------- */

Value *
map_get (Map        *map,
         const char *key,
         gsize       len)
{
  Value probe = { .type = VALUE_STRING, .string = { (char *) key, len } };
  gpointer position = g_hash_table_lookup (map->index, &probe);

  if (position == NULL)
    return NULL;
  return g_ptr_array_index (map->values, GPOINTER_TO_UINT (position) - 1);
}

void
map_set (Render     *render,
         Map        *map,
         const char *key,
         gsize       len,
         Value      *value)
{
  Value probe = { .type = VALUE_STRING, .string = { (char *) key, len } };
  gpointer position = g_hash_table_lookup (map->index, &probe);
  Value *key_value;

  if (position != NULL)
    {
      g_ptr_array_index (map->values, GPOINTER_TO_UINT (position) - 1) = value;
      return;
    }
  key_value = value_new_string (render, key, len);
  g_ptr_array_add (map->keys, key_value);
  g_ptr_array_add (map->values, value);
  g_hash_table_insert (map->index, key_value, GUINT_TO_POINTER (map->keys->len));
}

gboolean
map_remove (Map        *map,
            const char *key,
            gsize       len)
{
  Value probe = { .type = VALUE_STRING, .string = { (char *) key, len } };
  gpointer position = g_hash_table_lookup (map->index, &probe);

  if (position == NULL)
    return FALSE;
  g_ptr_array_remove_index (map->keys, GPOINTER_TO_UINT (position) - 1);
  g_ptr_array_remove_index (map->values, GPOINTER_TO_UINT (position) - 1);
  g_hash_table_remove_all (map->index);
  for (guint i = 0; i < map->keys->len; i++)
    g_hash_table_insert (map->index, g_ptr_array_index (map->keys, i), GUINT_TO_POINTER (i + 1));
  return TRUE;
}

guint
map_size (Map *map)
{
  return map->keys->len;
}

void
env_free (gpointer data)
{
  Env *env = data;

  map_free (env->variables);
  g_free (env);
}

Env *
env_new (Render *render,
         Env    *parent)
{
  Env *env = g_new0 (Env, 1);

  env->parent = parent;
  env->variables = map_new ();
  g_ptr_array_add (render->envs, env);
  return env;
}

Value *
env_lookup (Render     *render,
            Env        *env,
            const char *name)
{
  gsize len = strlen (name);

  for (; env != NULL; env = env->parent)
    {
      Value *value = map_get (env->variables, name, len);

      if (value != NULL)
        return value;
      /* Every scope of the reference starts with its own namespace(). */
      if (g_str_equal (name, "namespace"))
        {
          if (render->namespace_function == NULL)
            render->namespace_function = value_new_function (render, FUNCTION_NAMESPACE, NULL);
          return render->namespace_function;
        }
    }
  return value_undefined (render);
}

void
env_set (Render     *render,
         Env        *env,
         const char *name,
         Value      *value)
{
  map_set (render, env->variables, name, strlen (name), value);
}

/* ---- truth and names --------------------------------------------------- */

gboolean
value_truthy (const Value *value)
{
  switch (value->type)
    {
    case VALUE_UNDEFINED:
    case VALUE_NULL:
      return FALSE;
    case VALUE_BOOLEAN:
      return value->boolean;
    case VALUE_INTEGER:
    case VALUE_FLOAT:
      return value->number != 0 && !isnan (value->number);
    case VALUE_STRING:
      return value->string.len > 0;
    case VALUE_ARRAY:
    case VALUE_TUPLE:
      return value->items->len > 0;
    case VALUE_OBJECT:
    case VALUE_KWARGS:
      return map_size (value->map) > 0;
    case VALUE_NAMESPACE:
    case VALUE_FUNCTION:
    default:
      return TRUE;
    }
}

const char *
value_type_name (const Value *value)
{
  static const char * const names[] = {
    "an undefined value", "none", "a boolean", "an integer", "a float", "a string", "a list",
    "a tuple", "a mapping", "keyword arguments", "a namespace", "a function",
  };

  return names[value->type];
}

/* ---- JavaScript numbers ------------------------------------------------ */

/* Number.prototype.toString(): the shortest digits that read back as the
 * same double, laid out as ECMA-262 Number::toString says. */
void
js_append_number (GString *out,
                  double   number)
{
  char buf[64], format[16], digits[32];
  int k = 0, exponent, n;

  if (isnan (number))
    {
      g_string_append (out, "NaN");
      return;
    }
  if (number == 0)
    {
      g_string_append_c (out, '0');
      return;
    }
  if (number < 0)
    {
      g_string_append_c (out, '-');
      number = -number;
    }
  if (isinf (number))
    {
      g_string_append (out, "Infinity");
      return;
    }

  for (int precision = 1; precision <= 17; precision++)
    {
      g_snprintf (format, sizeof format, "%%.%de", precision - 1);
      g_ascii_formatd (buf, sizeof buf, format, number);
      if (g_ascii_strtod (buf, NULL) == number)
        break;
    }

  /* buf is "d.ddde±xx" or "de±xx" */
  for (const char *p = buf; *p != '\0' && *p != 'e'; p++)
    if (g_ascii_isdigit (*p))
      digits[k++] = *p;
  while (k > 1 && digits[k - 1] == '0')
    k--;
  digits[k] = '\0';
  exponent = atoi (strchr (buf, 'e') + 1);
  n = exponent + 1;

  if (k <= n && n <= 21)
    {
      g_string_append_len (out, digits, k);
      for (int i = 0; i < n - k; i++)
        g_string_append_c (out, '0');
    }
  else if (0 < n && n <= 21)
    {
      g_string_append_len (out, digits, n);
      g_string_append_c (out, '.');
      g_string_append_len (out, digits + n, k - n);
    }
  else if (-6 < n && n <= 0)
    {
      g_string_append (out, "0.");
      for (int i = 0; i < -n; i++)
        g_string_append_c (out, '0');
      g_string_append_len (out, digits, k);
    }
  else
    {
      g_string_append_c (out, digits[0]);
      if (k > 1)
        {
          g_string_append_c (out, '.');
          g_string_append_len (out, digits + 1, k - 1);
        }
      g_string_append_printf (out, "e%c%d", n - 1 >= 0 ? '+' : '-', ABS (n - 1));
    }
}

/* FloatValue.toString() of the reference: a whole float keeps its ".0". */
void
js_append_float (GString *out,
                 double   number)
{
  char buf[G_ASCII_DTOSTR_BUF_SIZE + 32];

  if (number == 0 && signbit (number))
    g_string_append (out, "-0.0");
  else if (isfinite (number) && fmod (number, 1) == 0 && fabs (number) < 1e21)
    g_string_append (out, g_ascii_formatd (buf, sizeof buf, "%.1f", number));
  else
    js_append_number (out, number);
}

/* ToIntegerOrInfinity */
double
js_to_integer (double number)
{
  if (isnan (number))
    return 0;
  return trunc (number) + 0.0;
}

/* ---- JavaScript strings ------------------------------------------------ */

gunichar
js_next_char (const char *s,
              gsize       len,
              gsize      *i)
{
  gunichar c = g_utf8_get_char_validated (s + *i, len - *i);

  if (c == (gunichar) -1 || c == (gunichar) -2)
    {
      (*i)++;
      return 0xfffd;
    }
  *i = g_utf8_next_char (s + *i) - s;
  return c;
}

void
js_append_char (GString  *out,
                gunichar  c)
{
  g_string_append_unichar (out, c);
}

/* The length of the white space character (WhiteSpace or LineTerminator, as
 * \s and trim() see it) at s, or 0. */
gsize
js_space_length (const char *s,
                 gsize       len)
{
  const guchar *u = (const guchar *) s;

  if (len == 0)
    return 0;
  if (u[0] == ' ' || (u[0] >= '\t' && u[0] <= '\r'))
    return 1;
  if (len >= 2 && u[0] == 0xc2 && u[1] == 0xa0)
    return 2;
  if (len < 3)
    return 0;
  if (u[0] == 0xe1 && u[1] == 0x9a && u[2] == 0x80)
    return 3;
  if (u[0] == 0xe2 && u[1] == 0x80 &&
      ((u[2] >= 0x80 && u[2] <= 0x8a) || u[2] == 0xa8 || u[2] == 0xa9 || u[2] == 0xaf))
    return 3;
  if (u[0] == 0xe2 && u[1] == 0x81 && u[2] == 0x9f)
    return 3;
  if (u[0] == 0xe3 && u[1] == 0x80 && u[2] == 0x80)
    return 3;
  if (u[0] == 0xef && u[1] == 0xbb && u[2] == 0xbf)
    return 3;
  return 0;
}

gsize
js_trim_start (const char *s,
               gsize       len)
{
  gsize i = 0, n;

  while (i < len && (n = js_space_length (s + i, len - i)) > 0)
    i += n;
  return i;
}

gsize
js_trim_end (const char *s,
             gsize       len)
{
  while (len > 0)
    {
      gsize start = len - 1;

      while (start > 0 && ((guchar) s[start] & 0xc0) == 0x80)
        start--;
      if (js_space_length (s + start, len - start) != len - start)
        break;
      len = start;
    }
  return len;
}

const char *
js_find (const char *haystack,
         gsize       haystack_len,
         const char *needle,
         gsize       needle_len)
{
  if (needle_len == 0)
    return haystack;
  for (gsize i = 0; i + needle_len <= haystack_len; i++)
    {
      const char *candidate = memchr (haystack + i, needle[0], haystack_len - needle_len + 1 - i);

      if (candidate == NULL)
        return NULL;
      i = candidate - haystack;
      if (memcmp (candidate, needle, needle_len) == 0)
        return candidate;
    }
  return NULL;
}

gsize
js_utf16_length (const char *s,
                 gsize       len)
{
  gsize units = 0;

  for (gsize i = 0; i < len; i++)
    {
      guchar c = s[i];

      if ((c & 0xc0) == 0x80)
        continue;
      units += c >= 0xf0 ? 2 : 1;
    }
  return units;
}

static gunichar
utf16_first_unit (gunichar c)
{
  return c < 0x10000 ? c : 0xd800 + ((c - 0x10000) >> 10);
}

/* JavaScript's < on strings: by UTF-16 code units. */
int
js_compare_strings (const char *a,
                    gsize       alen,
                    const char *b,
                    gsize       blen)
{
  gsize i = 0, j = 0;

  while (i < alen && j < blen)
    {
      gunichar x = js_next_char (a, alen, &i);
      gunichar y = js_next_char (b, blen, &j);

      if (x != y)
        {
          gunichar ux = utf16_first_unit (x), uy = utf16_first_unit (y);

          if (ux != uy)
            return ux < uy ? -1 : 1;
          return x < y ? -1 : 1;
        }
    }
  if (i < alen)
    return 1;
  if (j < blen)
    return -1;
  return 0;
}

static gboolean
is_cased (gunichar c)
{
  return g_unichar_isupper (c) || g_unichar_islower (c) || g_unichar_istitle (c);
}

static gboolean
is_case_ignorable (gunichar c)
{
  switch (g_unichar_type (c))
    {
    case G_UNICODE_NON_SPACING_MARK:
    case G_UNICODE_ENCLOSING_MARK:
    case G_UNICODE_FORMAT:
    case G_UNICODE_MODIFIER_LETTER:
    case G_UNICODE_MODIFIER_SYMBOL:
      return TRUE;
    default:
      return c == '\'' || c == '.' || c == ':' || c == '^' || c == '`' || c == 0x00b7 ||
             c == 0x2018 || c == 0x2019 || c == 0x2024 || c == 0x2027;
    }
}

/* Σ is ς at the end of a word (Unicode's Final_Sigma condition). */
static gboolean
is_final_sigma (const char *s,
                gsize       len,
                gsize       at,
                gsize       after)
{
  gboolean cased_before = FALSE;
  const char *p = s + at;

  while (p > s)
    {
      gunichar c;

      p = g_utf8_prev_char (p);
      c = g_utf8_get_char (p);
      if (is_case_ignorable (c))
        continue;
      cased_before = is_cased (c);
      break;
    }
  if (!cased_before)
    return FALSE;
  for (gsize i = after; i < len;)
    {
      gunichar c = js_next_char (s, len, &i);

      if (is_case_ignorable (c))
        continue;
      return !is_cased (c);
    }
  return TRUE;
}

/* toUpperCase(): the full, locale-independent mappings (ß → SS). GLib's are
 * per locale only for i, ı and İ, which are handled here. */
void
js_append_upper (GString    *out,
                 const char *s,
                 gsize       len)
{
  for (gsize i = 0; i < len;)
    {
      gsize start = i;
      gunichar c = js_next_char (s, len, &i);

      if (c < 0x80)
        g_string_append_c (out, g_ascii_toupper (c));
      else if (c == 0x0131)
        g_string_append_c (out, 'I');
      else
        {
          g_autofree char *upper = g_utf8_strup (s + start, i - start);

          g_string_append (out, upper);
        }
    }
}

void
js_append_lower (GString    *out,
                 const char *s,
                 gsize       len)
{
  for (gsize i = 0; i < len;)
    {
      gsize start = i;
      gunichar c = js_next_char (s, len, &i);

      if (c < 0x80)
        g_string_append_c (out, g_ascii_tolower (c));
      else if (c == 0x0130)
        g_string_append (out, "i\xcc\x87");
      else if (c == 0x03a3)
        g_string_append (out, is_final_sigma (s, len, start, i) ? "ς" : "σ");
      else
        {
          g_autofree char *lower = g_utf8_strdown (s + start, i - start);

          g_string_append (out, lower);
        }
    }
}

static gboolean
is_ascii_word (char c)
{
  return g_ascii_isalnum (c) || c == '_';
}

/* value.replace(/\b\w/g, c => c.toUpperCase()): ASCII word starts only. */
void
js_append_title (GString    *out,
                 const char *s,
                 gsize       len)
{
  for (gsize i = 0; i < len; i++)
    {
      if (is_ascii_word (s[i]) && (i == 0 || !is_ascii_word (s[i - 1])))
        g_string_append_c (out, g_ascii_toupper (s[i]));
      else
        g_string_append_c (out, s[i]);
    }
}

static gsize
count_digits (const char *s,
              gsize       len,
              gsize       i)
{
  gsize start = i;

  while (i < len && g_ascii_isdigit (s[i]))
    i++;
  return i - start;
}

/* The longest StrDecimalLiteral at s + i (sign, Infinity, digits, fraction,
 * exponent): its length, 0 if none. */
static gsize
match_decimal (const char *s,
               gsize       len,
               gsize       i)
{
  gsize start = i, digits, fraction = 0;

  if (i < len && (s[i] == '+' || s[i] == '-'))
    i++;
  if (len - i >= 8 && memcmp (s + i, "Infinity", 8) == 0)
    return i + 8 - start;
  digits = count_digits (s, len, i);
  i += digits;
  if (i < len && s[i] == '.')
    {
      fraction = count_digits (s, len, i + 1);
      if (digits > 0 || fraction > 0)
        i += 1 + fraction;
    }
  if (digits == 0 && fraction == 0)
    return 0;
  if (i < len && (s[i] == 'e' || s[i] == 'E'))
    {
      gsize j = i + 1;

      if (j < len && (s[j] == '+' || s[j] == '-'))
        j++;
      if (count_digits (s, len, j) > 0)
        i = j + count_digits (s, len, j);
    }
  return i - start;
}

static double
decimal_value (const char *s,
               gsize       len)
{
  g_autofree char *copy = g_strndup (s, len);
  const char *p = copy;
  double sign = 1;

  if (*p == '+' || *p == '-')
    sign = *p++ == '-' ? -1 : 1;
  if (g_str_equal (p, "Infinity"))
    return sign * INFINITY;
  return sign * g_ascii_strtod (p, NULL);
}

double
js_parse_float (const char *s,
                gsize       len)
{
  gsize start = js_trim_start (s, len);
  gsize n = match_decimal (s, len, start);

  if (n == 0)
    return NAN;
  return decimal_value (s + start, n);
}

double
js_parse_int (const char *s,
              gsize       len)
{
  gsize i = js_trim_start (s, len);
  gsize start = i;
  gsize digits;

  if (i < len && (s[i] == '+' || s[i] == '-'))
    i++;
  digits = count_digits (s, len, i);
  if (digits == 0)
    return NAN;
  return decimal_value (s + start, i + digits - start);
}

/* ToNumber(string), for == between a string and a number. */
double
js_string_to_number (const char *s,
                     gsize       len)
{
  gsize start = js_trim_start (s, len);
  gsize end = js_trim_end (s, len);
  gsize n;

  if (end <= start)
    return 0;
  s += start;
  len = end - start;
  if (len > 2 && s[0] == '0' && strchr ("xXoObB", s[1]) != NULL)
    {
      int base = (s[1] == 'x' || s[1] == 'X') ? 16 : (s[1] == 'o' || s[1] == 'O') ? 8 : 2;
      double value = 0;

      for (gsize i = 2; i < len; i++)
        {
          int digit = g_ascii_xdigit_value (s[i]);

          if (digit < 0 || digit >= base)
            return NAN;
          value = value * base + digit;
        }
      return value;
    }
  n = match_decimal (s, len, 0);
  if (n != len)
    return NAN;
  return decimal_value (s, len);
}

/* ---- text forms -------------------------------------------------------- */

static gboolean
check_length (Render   *render,
              GString  *out,
              GError  **error)
{
  if (out->len > render->limits.max_length)
    {
      g_set_error (error, LLM_TEMPLATE_ERROR, LLM_TEMPLATE_ERROR_LIMIT,
                   "a string grows past %" G_GSIZE_FORMAT " bytes", render->limits.max_length);
      return FALSE;
    }
  return TRUE;
}

static gboolean
function_text_error (GError **error)
{
  g_set_error_literal (error, LLM_TEMPLATE_ERROR, LLM_TEMPLATE_ERROR_RENDER,
                       "a function cannot be turned into text");
  return FALSE;
}

gboolean
value_append_raw (Render       *render,
                  GString      *out,
                  const Value  *value,
                  guint         depth,
                  GError      **error)
{
  switch (value->type)
    {
    case VALUE_UNDEFINED:
      g_string_append (out, "undefined");
      break;
    case VALUE_NULL:
      g_string_append (out, "null");
      break;
    case VALUE_BOOLEAN:
      g_string_append (out, value->boolean ? "true" : "false");
      break;
    case VALUE_INTEGER:
    case VALUE_FLOAT:
      js_append_number (out, value->number);
      break;
    case VALUE_STRING:
      g_string_append_len (out, value->string.data, value->string.len);
      break;
    case VALUE_ARRAY:
    case VALUE_TUPLE:
      /* Array.prototype.toString(): the elements' own toString(), by commas */
      for (guint i = 0; i < value->items->len; i++)
        {
          if (i > 0)
            g_string_append_c (out, ',');
          if (!value_append_display (render, out, g_ptr_array_index (value->items, i), error))
            return FALSE;
          if (!check_length (render, out, error))
            return FALSE;
        }
      break;
    case VALUE_OBJECT:
    case VALUE_KWARGS:
    case VALUE_NAMESPACE:
      g_string_append (out, "[object Map]");
      break;
    case VALUE_FUNCTION:
    default:
      return function_text_error (error);
    }
  return check_length (render, out, error);
}

gboolean
value_append_display (Render       *render,
                      GString      *out,
                      const Value  *value,
                      GError      **error)
{
  switch (value->type)
    {
    case VALUE_FLOAT:
      js_append_float (out, value->number);
      return check_length (render, out, error);
    case VALUE_ARRAY:
    case VALUE_TUPLE:
    case VALUE_OBJECT:
    case VALUE_KWARGS:
    case VALUE_NAMESPACE:
      return value_append_json (render, out, value, NULL, 0, FALSE, error);
    default:
      return value_append_raw (render, out, value, 0, error);
    }
}

/* JSON.stringify() of a string */
static void
append_json_string (GString    *out,
                    const char *s,
                    gsize       len,
                    gboolean    ensure_ascii)
{
  g_string_append_c (out, '"');
  for (gsize i = 0; i < len;)
    {
      guchar c = s[i];

      switch (c)
        {
        case '"': g_string_append (out, "\\\""); i++; continue;
        case '\\': g_string_append (out, "\\\\"); i++; continue;
        case '\b': g_string_append (out, "\\b"); i++; continue;
        case '\f': g_string_append (out, "\\f"); i++; continue;
        case '\n': g_string_append (out, "\\n"); i++; continue;
        case '\r': g_string_append (out, "\\r"); i++; continue;
        case '\t': g_string_append (out, "\\t"); i++; continue;
        default:
          break;
        }
      if (c < 0x20)
        {
          g_string_append_printf (out, "\\u%04x", c);
          i++;
        }
      else if (c < 0x7f)
        {
          g_string_append_c (out, c);
          i++;
        }
      else if (!ensure_ascii)
        {
          gsize start = i;

          js_next_char (s, len, &i);
          g_string_append_len (out, s + start, i - start);
        }
      else
        {
          gunichar u = js_next_char (s, len, &i);

          if (u >= 0x10000)
            g_string_append_printf (out, "\\u%04x\\u%04x", 0xd800 + ((u - 0x10000) >> 10),
                                    0xdc00 + ((u - 0x10000) & 0x3ff));
          else
            g_string_append_printf (out, "\\u%04x", u);
        }
    }
  g_string_append_c (out, '"');
}

/* An approximation of localeCompare() for tojson(sort_keys=true): case
 * folded first, then lower case before upper case. */
static int
compare_keys_locale (gconstpointer a,
                     gconstpointer b)
{
  const Value *x = *(const Value * const *) a, *y = *(const Value * const *) b;
  g_autofree char *fx = g_utf8_casefold (x->string.data, x->string.len);
  g_autofree char *fy = g_utf8_casefold (y->string.data, y->string.len);
  int result = strcmp (fx, fy);

  if (result != 0)
    return result;
  return -js_compare_strings (x->string.data, x->string.len, y->string.data, y->string.len);
}

static void
append_padding (GString *out,
                int      indent,
                guint    depth)
{
  g_string_append_c (out, '\n');
  for (guint i = 0; i < depth; i++)
    for (int j = 0; j < indent; j++)
      g_string_append_c (out, ' ');
}

gboolean
value_append_json (Render             *render,
                   GString            *out,
                   const Value        *value,
                   const JsonOptions  *options,
                   guint               depth,
                   gboolean            undefined_to_null,
                   GError            **error)
{
  static const JsonOptions defaults = { 0, };
  const char *item_separator, *key_separator;

  if (options == NULL)
    options = &defaults;
  if (depth > render->limits.max_depth)
    {
      g_set_error (error, LLM_TEMPLATE_ERROR, LLM_TEMPLATE_ERROR_LIMIT,
                   "a value nests more than %u levels deep, or contains itself",
                   render->limits.max_depth);
      return FALSE;
    }
  if (options->item_separator != NULL)
    {
      item_separator = options->item_separator;
      key_separator = options->key_separator;
    }
  else
    {
      item_separator = options->indent > 0 ? "," : ", ";
      key_separator = ": ";
    }

  switch (value->type)
    {
    case VALUE_NULL:
      g_string_append (out, "null");
      break;
    case VALUE_UNDEFINED:
      g_string_append (out, undefined_to_null ? "null" : "undefined");
      break;
    case VALUE_INTEGER:
    case VALUE_FLOAT:
      if (isfinite (value->number))
        js_append_number (out, value->number);
      else
        g_string_append (out, "null");
      break;
    case VALUE_BOOLEAN:
      g_string_append (out, value->boolean ? "true" : "false");
      break;
    case VALUE_STRING:
      append_json_string (out, value->string.data, value->string.len, options->ensure_ascii);
      break;
    case VALUE_ARRAY:
      g_string_append_c (out, '[');
      for (guint i = 0; i < value->items->len; i++)
        {
          if (i > 0)
            g_string_append (out, item_separator);
          if (options->indent > 0)
            append_padding (out, options->indent, depth + 1);
          if (!value_append_json (render, out, g_ptr_array_index (value->items, i), options,
                                  depth + 1, undefined_to_null, error))
            return FALSE;
        }
      if (options->indent > 0 && value->items->len > 0)
        append_padding (out, options->indent, depth);
      g_string_append_c (out, ']');
      break;
    case VALUE_OBJECT:
    case VALUE_NAMESPACE:
      {
        Map *map = value->map;
        g_autoptr(GPtrArray) order = g_ptr_array_new ();

        for (guint i = 0; i < map_size (map); i++)
          g_ptr_array_add (order, g_ptr_array_index (map->keys, i));
        if (options->sort_keys)
          g_ptr_array_sort (order, compare_keys_locale);

        g_string_append_c (out, '{');
        for (guint i = 0; i < order->len; i++)
          {
            const Value *key = g_ptr_array_index (order, i);

            if (i > 0)
              g_string_append (out, item_separator);
            if (options->indent > 0)
              append_padding (out, options->indent, depth + 1);
            append_json_string (out, key->string.data, key->string.len, options->ensure_ascii);
            g_string_append (out, key_separator);
            if (!value_append_json (render, out, map_get (map, key->string.data, key->string.len),
                                    options, depth + 1, undefined_to_null, error))
              return FALSE;
          }
        if (options->indent > 0 && order->len > 0)
          append_padding (out, options->indent, depth);
        g_string_append_c (out, '}');
        break;
      }
    case VALUE_TUPLE:
    case VALUE_KWARGS:
    case VALUE_FUNCTION:
    default:
      /* The reference's toJSON() knows neither tuples nor keyword arguments. */
      g_set_error (error, LLM_TEMPLATE_ERROR, LLM_TEMPLATE_ERROR_RENDER,
                   "%s cannot be turned into JSON", value_type_name (value));
      return FALSE;
    }
  return check_length (render, out, error);
}

/* ---- equality ---------------------------------------------------------- */

typedef enum
{
  RAW_UNDEFINED,
  RAW_NULL,
  RAW_BOOLEAN,
  RAW_NUMBER,
  RAW_STRING,
  RAW_OBJECT,
} RawKind;

/* The JavaScript type of a RuntimeValue's `.value` */
static RawKind
raw_kind (const Value *value)
{
  switch (value->type)
    {
    case VALUE_UNDEFINED: return RAW_UNDEFINED;
    case VALUE_NULL: return RAW_NULL;
    case VALUE_BOOLEAN: return RAW_BOOLEAN;
    case VALUE_INTEGER:
    case VALUE_FLOAT: return RAW_NUMBER;
    case VALUE_STRING: return RAW_STRING;
    default: return RAW_OBJECT;
    }
}

/* The `.value` of two values denote the same JavaScript object: arrays and
 * maps are compared by identity, as a JavaScript engine does. */
static gboolean
same_object (const Value *a,
             const Value *b)
{
  return a == b;
}

/* a.value === b.value */
gboolean
value_strict_equals (const Value *a,
                     const Value *b)
{
  RawKind kind = raw_kind (a);

  if (kind != raw_kind (b))
    return FALSE;
  switch (kind)
    {
    case RAW_UNDEFINED:
    case RAW_NULL:
      return TRUE;
    case RAW_BOOLEAN:
      return a->boolean == b->boolean;
    case RAW_NUMBER:
      return a->number == b->number;
    case RAW_STRING:
      return a->string.len == b->string.len &&
             memcmp (a->string.data, b->string.data, a->string.len) == 0;
    case RAW_OBJECT:
    default:
      return same_object (a, b);
    }
}

/* SameValueZero, as a Set compares */
gboolean
value_same_value_zero (const Value *a,
                       const Value *b)
{
  if (raw_kind (a) == RAW_NUMBER && raw_kind (b) == RAW_NUMBER && isnan (a->number) &&
      isnan (b->number))
    return TRUE;
  return value_strict_equals (a, b);
}

/* a.value == b.value: JavaScript's loose equality, coercions included. */
gboolean
value_loose_equals (Render      *render,
                    const Value *a,
                    const Value *b)
{
  RawKind ka = raw_kind (a), kb = raw_kind (b);

  if (ka == kb)
    return value_strict_equals (a, b);
  if ((ka == RAW_NULL || ka == RAW_UNDEFINED) && (kb == RAW_NULL || kb == RAW_UNDEFINED))
    return TRUE;
  if (ka == RAW_NULL || ka == RAW_UNDEFINED || kb == RAW_NULL || kb == RAW_UNDEFINED)
    return FALSE;
  if (ka == RAW_BOOLEAN || kb == RAW_BOOLEAN)
    {
      Value number = { .type = VALUE_INTEGER };
      const Value *boolean = ka == RAW_BOOLEAN ? a : b;
      const Value *other = ka == RAW_BOOLEAN ? b : a;

      number.number = boolean->boolean ? 1 : 0;
      return value_loose_equals (render, &number, other);
    }
  if (ka == RAW_OBJECT || kb == RAW_OBJECT)
    {
      const Value *object = ka == RAW_OBJECT ? a : b;
      const Value *other = ka == RAW_OBJECT ? b : a;
      g_autoptr(GString) text = g_string_new (NULL);
      Value primitive = { .type = VALUE_STRING };

      if (object->type == VALUE_FUNCTION ||
          !value_append_raw (render, text, object, 0, NULL))
        return FALSE;
      primitive.string.data = text->str;
      primitive.string.len = text->len;
      return value_loose_equals (render, &primitive, other);
    }
  /* a number and a string */
  {
    const Value *string = ka == RAW_STRING ? a : b;
    const Value *number = ka == RAW_STRING ? b : a;

    return js_string_to_number (string->string.data, string->string.len) == number->number;
  }
}

/* ---- from JSON --------------------------------------------------------- */

#define MAX_JSON_DEPTH 4096

/* A canonical array index ("0" … "4294967294"): JavaScript objects list
 * these keys first, in numeric order, whatever order they were written in. */
static gboolean
is_array_index (const char *key,
                guint64    *index)
{
  guint64 value = 0;
  gsize len = strlen (key);

  if (len == 0 || len > 10 || (len > 1 && key[0] == '0'))
    return FALSE;
  for (gsize i = 0; i < len; i++)
    {
      if (!g_ascii_isdigit (key[i]))
        return FALSE;
      value = value * 10 + (key[i] - '0');
    }
  *index = value;
  return value < G_GUINT64_CONSTANT (4294967295);
}

static int
compare_index_keys (gconstpointer a,
                    gconstpointer b)
{
  guint64 x = 0, y = 0;

  is_array_index (*(const char * const *) a, &x);
  is_array_index (*(const char * const *) b, &y);
  return x < y ? -1 : x > y ? 1 : 0;
}

Value *
value_from_json (Render    *render,
                 JsonNode  *node,
                 guint      depth,
                 GError   **error)
{
  Value *value;

  if (depth > MAX_JSON_DEPTH)
    {
      g_set_error (error, LLM_TEMPLATE_ERROR, LLM_TEMPLATE_ERROR_INVALID,
                   "the variables nest more than %d levels deep", MAX_JSON_DEPTH);
      return NULL;
    }
  if (node == NULL)
    return value_null (render);

  switch (json_node_get_node_type (node))
    {
    case JSON_NODE_NULL:
      return value_null (render);

    case JSON_NODE_ARRAY:
      {
        JsonArray *array = json_node_get_array (node);
        guint n = json_array_get_length (array);

        value = value_new_array (render, VALUE_ARRAY);
        for (guint i = 0; i < n; i++)
          {
            Value *item = value_from_json (render, json_array_get_element (array, i), depth + 1,
                                           error);

            if (item == NULL)
              return NULL;
            g_ptr_array_add (value->items, item);
          }
        return value;
      }

    case JSON_NODE_OBJECT:
      {
        JsonObject *object = json_node_get_object (node);
        g_autoptr(GList) members = json_object_get_members (object);
        g_autoptr(GPtrArray) indices = g_ptr_array_new ();
        g_autoptr(GPtrArray) names = g_ptr_array_new ();

        for (GList *l = members; l != NULL; l = l->next)
          {
            guint64 index;

            g_ptr_array_add (is_array_index (l->data, &index) ? indices : names, l->data);
          }
        g_ptr_array_sort (indices, compare_index_keys);
        g_ptr_array_extend (indices, names, NULL, NULL);

        value = value_new_map (render, VALUE_OBJECT);
        for (guint i = 0; i < indices->len; i++)
          {
            const char *key = g_ptr_array_index (indices, i);
            Value *member = value_from_json (render, json_object_get_member (object, key),
                                             depth + 1, error);

            if (member == NULL)
              return NULL;
            map_set (render, value->map, key, strlen (key), member);
          }
        return value;
      }

    case JSON_NODE_VALUE:
    default:
      {
        GType type = json_node_get_value_type (node);

        if (type == G_TYPE_BOOLEAN)
          return value_new_boolean (render, json_node_get_boolean (node));
        if (type == G_TYPE_STRING)
          {
            const char *s = json_node_get_string (node);

            return value_new_string (render, s, strlen (s));
          }
        if (type == G_TYPE_INT64 || type == G_TYPE_INT || type == G_TYPE_UINT ||
            type == G_TYPE_LONG || type == G_TYPE_ULONG || type == G_TYPE_UINT64)
          return value_new_number (render, VALUE_INTEGER, (double) json_node_get_int (node));
        if (type == G_TYPE_DOUBLE || type == G_TYPE_FLOAT)
          {
            double number = json_node_get_double (node);

            /* JSON.parse() has one number type: 1.0 is the integer 1 */
            return value_new_number (render,
                                     isfinite (number) && number == trunc (number) ? VALUE_INTEGER
                                                                                 : VALUE_FLOAT,
                                     number);
          }
        g_set_error (error, LLM_TEMPLATE_ERROR, LLM_TEMPLATE_ERROR_INVALID,
                     "a variable holds a value of type %s, which JSON has not", g_type_name (type));
        return NULL;
      }
    }
}

/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-template"

#include <math.h>
#include <string.h>

#include "llm-template-private.h"

/* The interpreter of chat templates: the evaluation rules, filters, tests and
 * methods of @huggingface/jinja, which is what the tests compare with. Where
 * that engine fails (an unknown filter, a type it cannot handle), this one
 * fails too, with the position in the template: a template it cannot render
 * exactly is an error, never a different prompt. */

struct _LlmTemplate
{
  TemplateTree *tree;
  LlmTemplateLimits limits;
};

static const LlmTemplateLimits default_limits = {
  .max_steps = 50000000,
  .max_length = 64 << 20,
  .max_depth = 400,
};

G_DEFINE_QUARK (llm-template-error-quark, llm_template_error)

/* break and continue travel up to their loop as errors of this domain. */
#define CONTROL_QUARK (g_quark_from_static_string ("llm-template-control"))
enum { CONTROL_BREAK, CONTROL_CONTINUE };

static Value *evaluate (Render      *render,
                        const Node  *node,
                        Env         *env,
                        GError     **error);
static Value *evaluate_block (Render      *render,
                              GPtrArray   *statements,
                              Env         *env,
                              GError     **error);
static Value *call_function (Render      *render,
                             Value       *function,
                             GPtrArray   *args,
                             Env         *scope,
                             const Node  *node,
                             GError     **error);

/* ---- errors ------------------------------------------------------------ */

static gpointer G_GNUC_PRINTF (5, 6)
render_error (Render      *render,
              const Node  *node,
              GError     **error,
              int          code,
              const char  *format,
              ...)
{
  g_autofree char *position = template_tree_dup_position (render->tree, node->offset);
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, LLM_TEMPLATE_ERROR, code, "%s: %s", position, message);
  if (error != NULL)
    render->located = *error;
  return NULL;
}

#define fail(render, node, error, ...) \
  render_error (render, node, error, LLM_TEMPLATE_ERROR_RENDER, __VA_ARGS__)

/* An error from the value functions, which know no position, gets the one of
 * the node being evaluated. */
static gpointer
locate_error (Render      *render,
              const Node  *node,
              GError     **error)
{
  if (error != NULL && *error != NULL && (*error)->domain == LLM_TEMPLATE_ERROR &&
      *error != render->located)
    {
      g_autofree char *position = template_tree_dup_position (render->tree, node->offset);

      g_prefix_error (error, "%s: ", position);
      render->located = *error;
    }
  return NULL;
}

static gboolean
check_length (Render      *render,
              const Node  *node,
              gsize        length,
              GError     **error)
{
  if (length > render->limits.max_length)
    {
      render_error (render, node, error, LLM_TEMPLATE_ERROR_LIMIT,
                    "a string grows past %" G_GSIZE_FORMAT " bytes", render->limits.max_length);
      return FALSE;
    }
  return TRUE;
}

static gboolean
count_step (Render      *render,
            const Node  *node,
            GError     **error)
{
  if (++render->steps > render->limits.max_steps)
    {
      render_error (render, node, error, LLM_TEMPLATE_ERROR_LIMIT,
                    "the template takes more than %" G_GUINT64_FORMAT " steps",
                    render->limits.max_steps);
      return FALSE;
    }
  return TRUE;
}

/* ---- small helpers ----------------------------------------------------- */

static Value *
string_value (Render  *render,
              GString *string)
{
  return value_new_string_take (render, string);
}

static Value *
new_string (Render     *render,
            const char *s)
{
  return value_new_string (render, s, strlen (s));
}

static Value *
display_string (Render      *render,
                const Node  *node,
                Value       *value,
                GError     **error)
{
  g_autoptr(GString) out = g_string_new (NULL);

  if (!value_append_display (render, out, value, error))
    return locate_error (render, node, error);
  return string_value (render, g_steal_pointer (&out));
}

static Value *
json_string (Render             *render,
             const Node         *node,
             Value              *value,
             const JsonOptions  *options,
             gboolean            undefined_to_null,
             GError            **error)
{
  g_autoptr(GString) out = g_string_new (NULL);

  if (!value_append_json (render, out, value, options, 0, undefined_to_null, error))
    return locate_error (render, node, error);
  return string_value (render, g_steal_pointer (&out));
}

/* The JavaScript truthiness of a RuntimeValue's `.value` (every array and
 * map is truthy there, even empty), for flags read as `x.value`. */
static gboolean
raw_truthy (const Value *value)
{
  switch (value->type)
    {
    case VALUE_ARRAY:
    case VALUE_TUPLE:
    case VALUE_OBJECT:
    case VALUE_KWARGS:
    case VALUE_NAMESPACE:
    case VALUE_FUNCTION:
      return TRUE;
    default:
      return value_truthy (value);
    }
}

/* `.at()` on an array or a string (by UTF-16 code units). */
static Value *
value_at (Render *render,
          Value  *object,
          double  position)
{
  double index = js_to_integer (position);

  if (value_is_array (object))
    {
      double len = object->items->len;

      if (index < 0)
        index += len;
      if (index < 0 || index >= len)
        return NULL;
      return g_ptr_array_index (object->items, (guint) index);
    }
  else
    {
      const char *s = object->string.data;
      gsize len = object->string.len;
      double units = js_utf16_length (s, len);
      double unit = 0;

      if (index < 0)
        index += units;
      if (index < 0 || index >= units)
        return NULL;
      for (gsize i = 0; i < len;)
        {
          gsize start = i;
          gunichar c = js_next_char (s, len, &i);
          double width = c >= 0x10000 ? 2 : 1;

          if (index < unit + width)
            {
              /* half of a surrogate pair prints as U+FFFD */
              if (width == 2)
                return new_string (render, "\xef\xbf\xbd");
              return value_new_string (render, s + start, i - start);
            }
          unit += width;
        }
      return NULL;
    }
}

static GPtrArray *
string_chars (Render *render,
              Value  *string)
{
  GPtrArray *chars = g_ptr_array_new ();
  const char *s = string->string.data;
  gsize len = string->string.len;

  for (gsize i = 0; i < len;)
    {
      gsize start = i;

      js_next_char (s, len, &i);
      g_ptr_array_add (chars, value_new_string (render, s + start, i - start));
    }
  return chars;
}

/* The slice() of the reference's utils, over doubles as JavaScript computes. */
static GPtrArray *
slice_items (GPtrArray *array,
             Value     *start_value,
             Value     *stop_value,
             Value     *step_value)
{
  GPtrArray *result = g_ptr_array_new ();
  double len = array->len;
  double step = step_value->type == VALUE_UNDEFINED ? 1 : step_value->number;
  double direction = isnan (step) ? NAN : step > 0 ? 1 : step < 0 ? -1 : 0;
  double start, stop;

  if (isnan (direction))
    return result;
  if (direction >= 0)
    {
      start = start_value->type == VALUE_UNDEFINED ? 0 : start_value->number;
      start = start < 0 ? MAX (len + start, 0) : MIN (start, len);
      stop = stop_value->type == VALUE_UNDEFINED ? len : stop_value->number;
      stop = stop < 0 ? MAX (len + stop, 0) : MIN (stop, len);
    }
  else
    {
      start = start_value->type == VALUE_UNDEFINED ? len - 1 : start_value->number;
      start = start < 0 ? MAX (len + start, -1) : MIN (start, len - 1);
      stop = stop_value->type == VALUE_UNDEFINED ? -1 : stop_value->number;
      stop = stop < -1 ? MAX (len + stop, -1) : MIN (stop, len - 1);
    }
  if (isnan (start) || isnan (stop))
    return result;
  for (double i = start; direction * i < direction * stop; i += step)
    g_ptr_array_add (result, g_ptr_array_index (array, (guint) i));
  return result;
}

/* ---- comparisons ------------------------------------------------------- */

static gboolean
is_numeric_like (const Value *value)
{
  return value_is_number (value) || value->type == VALUE_BOOLEAN;
}

static double
numeric_value (const Value *value)
{
  return value->type == VALUE_BOOLEAN ? (value->boolean ? 1 : 0) : value->number;
}

/* compareRuntimeValues() */
static gboolean
compare_values (Render       *render,
                const Value  *a,
                const Value  *b,
                gboolean      case_sensitive,
                int          *result,
                GError      **error)
{
  *result = 0;
  if (a->type == VALUE_NULL && b->type == VALUE_NULL)
    return TRUE;
  if (a->type == VALUE_UNDEFINED && b->type == VALUE_UNDEFINED)
    return TRUE;
  if (a->type == VALUE_NULL || b->type == VALUE_NULL || a->type == VALUE_UNDEFINED ||
      b->type == VALUE_UNDEFINED)
    goto incomparable;
  if (is_numeric_like (a) && is_numeric_like (b))
    {
      double x = numeric_value (a), y = numeric_value (b);

      *result = x < y ? -1 : x > y ? 1 : 0;
      return TRUE;
    }
  /* Only strings compare, and only with strings: tuples and keyword
   * arguments are other types than lists and mappings there. */
  if (a->type != VALUE_STRING || b->type != VALUE_STRING)
    goto incomparable;
  if (case_sensitive)
    *result = js_compare_strings (a->string.data, a->string.len, b->string.data, b->string.len);
  else
    {
      g_autoptr(GString) x = g_string_new (NULL);
      g_autoptr(GString) y = g_string_new (NULL);

      js_append_lower (x, a->string.data, a->string.len);
      js_append_lower (y, b->string.data, b->string.len);
      *result = js_compare_strings (x->str, x->len, y->str, y->len);
    }
  return TRUE;

incomparable:
  g_set_error (error, LLM_TEMPLATE_ERROR, LLM_TEMPLATE_ERROR_RENDER,
               "cannot compare %s with %s", value_type_name (a), value_type_name (b));
  return FALSE;
}

typedef struct
{
  Render *render;
  gboolean case_sensitive;
  gboolean reverse;
  Value *attribute;   /* NULL: the items themselves */
  GError *error;
} SortContext;

static Value *get_attribute_value (Render     *render,
                                   Value      *item,
                                   const char *path,
                                   gsize       len);

static int
sort_compare (SortContext *context,
              Value       *a,
              Value       *b)
{
  int result;

  if (context->error != NULL)
    return 0;
  if (context->attribute != NULL)
    {
      g_autoptr(GString) path = g_string_new (NULL);

      if (context->attribute->type == VALUE_INTEGER)
        js_append_number (path, context->attribute->number);
      else
        g_string_append_len (path, context->attribute->string.data,
                             context->attribute->string.len);
      a = get_attribute_value (context->render, a, path->str, path->len);
      b = get_attribute_value (context->render, b, path->str, path->len);
    }
  if (!compare_values (context->render, a, b, context->case_sensitive, &result, &context->error))
    return 0;
  return context->reverse ? -result : result;
}

/* A stable merge sort, as Array.prototype.sort is. */
static void
merge_sort (Value       **items,
            Value       **scratch,
            guint         n,
            SortContext  *context)
{
  guint half = n / 2, i = 0, j = half, k = 0;

  if (n < 2)
    return;
  merge_sort (items, scratch, half, context);
  merge_sort (items + half, scratch, n - half, context);
  while (i < half && j < n)
    {
      if (sort_compare (context, items[j], items[i]) < 0)
        scratch[k++] = items[j++];
      else
        scratch[k++] = items[i++];
    }
  while (i < half)
    scratch[k++] = items[i++];
  while (j < n)
    scratch[k++] = items[j++];
  memcpy (items, scratch, n * sizeof (Value *));
}

static GPtrArray *
sorted_copy (GPtrArray    *items,
             SortContext  *context)
{
  GPtrArray *copy = g_ptr_array_new ();
  g_autofree Value **scratch = g_new (Value *, MAX (items->len, 1));

  for (guint i = 0; i < items->len; i++)
    g_ptr_array_add (copy, g_ptr_array_index (items, i));
  merge_sort ((Value **) copy->pdata, scratch, copy->len, context);
  return copy;
}

/* ---- tests ------------------------------------------------------------- */

static gboolean
is_known_test (const char *name)
{
  static const char * const tests[] = {
    "boolean", "callable", "odd", "even", "false", "true", "none", "string", "number", "integer",
    "iterable", "mapping", "sequence", "lower", "upper", "defined", "undefined", "equalto", "eq",
  };

  for (guint i = 0; i < G_N_ELEMENTS (tests); i++)
    if (g_str_equal (name, tests[i]))
      return TRUE;
  return FALSE;
}

static gboolean
string_is_cased (const Value *value,
                 gboolean     upper)
{
  g_autoptr(GString) mapped = g_string_new (NULL);

  if (upper)
    js_append_upper (mapped, value->string.data, value->string.len);
  else
    js_append_lower (mapped, value->string.data, value->string.len);
  return mapped->len == value->string.len &&
         memcmp (mapped->str, value->string.data, mapped->len) == 0;
}

/* Applies a known test; `argument` is NULL when none was given. */
static gboolean
apply_test (Render       *render,
            const char   *name,
            const Value  *operand,
            const Value  *argument,
            gboolean     *result,
            GError      **error)
{
  if (g_str_equal (name, "boolean"))
    *result = operand->type == VALUE_BOOLEAN;
  else if (g_str_equal (name, "callable"))
    *result = operand->type == VALUE_FUNCTION;
  else if (g_str_equal (name, "odd") || g_str_equal (name, "even"))
    {
      double rest;

      if (operand->type != VALUE_INTEGER)
        {
          g_set_error (error, LLM_TEMPLATE_ERROR, LLM_TEMPLATE_ERROR_RENDER,
                       "the test “%s” needs an integer, not %s", name, value_type_name (operand));
          return FALSE;
        }
      rest = fmod (operand->number, 2);
      *result = g_str_equal (name, "odd") ? rest != 0 || isnan (rest) : rest == 0;
    }
  else if (g_str_equal (name, "false"))
    *result = operand->type == VALUE_BOOLEAN && !operand->boolean;
  else if (g_str_equal (name, "true"))
    *result = operand->type == VALUE_BOOLEAN && operand->boolean;
  else if (g_str_equal (name, "none"))
    *result = operand->type == VALUE_NULL;
  else if (g_str_equal (name, "string"))
    *result = operand->type == VALUE_STRING;
  else if (g_str_equal (name, "number"))
    *result = value_is_number (operand);
  else if (g_str_equal (name, "integer"))
    *result = operand->type == VALUE_INTEGER;
  else if (g_str_equal (name, "iterable"))
    *result = operand->type == VALUE_ARRAY || operand->type == VALUE_STRING;
  else if (g_str_equal (name, "mapping"))
    *result = value_is_object (operand);
  else if (g_str_equal (name, "sequence"))
    *result = value_is_array (operand) || value_is_object (operand) ||
              operand->type == VALUE_STRING;
  else if (g_str_equal (name, "lower") || g_str_equal (name, "upper"))
    *result = operand->type == VALUE_STRING && string_is_cased (operand, name[0] == 'u');
  else if (g_str_equal (name, "defined"))
    *result = operand->type != VALUE_UNDEFINED;
  else if (g_str_equal (name, "undefined"))
    *result = operand->type == VALUE_UNDEFINED;
  else if (g_str_equal (name, "equalto") || g_str_equal (name, "eq"))
    {
      if (argument == NULL)
        {
          g_set_error (error, LLM_TEMPLATE_ERROR, LLM_TEMPLATE_ERROR_RENDER,
                       "the test “%s” needs a value to compare with", name);
          return FALSE;
        }
      *result = value_strict_equals (operand, argument);
    }
  else
    {
      g_set_error (error, LLM_TEMPLATE_ERROR, LLM_TEMPLATE_ERROR_RENDER, "unknown test “%s”",
                   name);
      return FALSE;
    }
  return TRUE;
}

/* ---- arguments --------------------------------------------------------- */

typedef struct
{
  GPtrArray *positional;   /* Value * */
  Value *kwargs;           /* VALUE_KWARGS */
} Arguments;

static void
arguments_clear (Arguments *arguments)
{
  g_clear_pointer (&arguments->positional, g_ptr_array_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Arguments, arguments_clear)

static gboolean
evaluate_arguments (Render      *render,
                    GPtrArray   *args,
                    Env         *env,
                    Arguments   *out,
                    GError     **error)
{
  out->positional = g_ptr_array_new ();
  out->kwargs = value_new_map (render, VALUE_KWARGS);

  for (guint i = 0; args != NULL && i < args->len; i++)
    {
      const Node *argument = g_ptr_array_index (args, i);

      if (argument->type == NODE_SPREAD)
        {
          Value *value = evaluate (render, argument->a, env, error);

          if (value == NULL)
            return FALSE;
          if (!value_is_array (value))
            {
              fail (render, argument, error, "cannot unpack %s with “*”", value_type_name (value));
              return FALSE;
            }
          g_ptr_array_extend (out->positional, value->items, NULL, NULL);
        }
      else if (argument->type != NODE_KEYWORD_ARGUMENT && argument->type != NODE_KEYWORD_SPREAD)
        {
          Value *value = evaluate (render, argument, env, error);

          if (value == NULL)
            return FALSE;
          g_ptr_array_add (out->positional, value);
        }
    }

  for (guint i = 0; args != NULL && i < args->len; i++)
    {
      const Node *argument = g_ptr_array_index (args, i);

      if (argument->type == NODE_KEYWORD_ARGUMENT)
        {
          const Node *key = argument->a;
          Value *value = evaluate (render, argument->b, env, error);

          if (value == NULL)
            return FALSE;
          if (map_get (out->kwargs->map, key->str, key->len) != NULL)
            {
              fail (render, argument, error, "the keyword argument “%s” is given twice", key->str);
              return FALSE;
            }
          map_set (render, out->kwargs->map, key->str, key->len, value);
        }
      else if (argument->type == NODE_KEYWORD_SPREAD)
        {
          Value *value = evaluate (render, argument->a, env, error);

          if (value == NULL)
            return FALSE;
          if (!value_is_object (value))
            {
              fail (render, argument, error, "the argument after “**” must be a mapping, not %s",
                    value_type_name (value));
              return FALSE;
            }
          for (guint k = 0; k < map_size (value->map); k++)
            {
              Value *key = g_ptr_array_index (value->map->keys, k);

              if (map_get (out->kwargs->map, key->string.data, key->string.len) != NULL)
                {
                  fail (render, argument, error, "the keyword argument “%s” is given twice",
                        key->string.data);
                  return FALSE;
                }
              map_set (render, out->kwargs->map, key->string.data, key->string.len,
                       g_ptr_array_index (value->map->values, k));
            }
        }
    }
  return TRUE;
}

static Value *
kwarg (Arguments  *arguments,
       const char *name)
{
  return map_get (arguments->kwargs->map, name, strlen (name));
}

static Value *
positional (Arguments *arguments,
            guint      index)
{
  return index < arguments->positional->len ? g_ptr_array_index (arguments->positional, index)
                                            : NULL;
}

/* args.at(i) ?? kwargs.get(name) ?? fallback */
static Value *
argument_or (Arguments  *arguments,
             guint       index,
             const char *name,
             Value      *fallback)
{
  Value *value = positional (arguments, index);

  if (value == NULL && name != NULL)
    value = kwarg (arguments, name);
  return value != NULL ? value : fallback;
}

/* ---- builtins of strings and objects ----------------------------------- */

static Value *
string_builtin (Render     *render,
                Value      *string,
                const char *name)
{
  static const struct
  {
    const char *name;
    FunctionKind kind;
  } methods[] = {
    { "upper", FUNCTION_STR_UPPER },
    { "lower", FUNCTION_STR_LOWER },
    { "strip", FUNCTION_STR_STRIP },
    { "title", FUNCTION_STR_TITLE },
    { "capitalize", FUNCTION_STR_CAPITALIZE },
    { "rstrip", FUNCTION_STR_RSTRIP },
    { "lstrip", FUNCTION_STR_LSTRIP },
    { "startswith", FUNCTION_STR_STARTSWITH },
    { "endswith", FUNCTION_STR_ENDSWITH },
    { "split", FUNCTION_STR_SPLIT },
    { "replace", FUNCTION_STR_REPLACE },
  };

  if (g_str_equal (name, "length"))
    return value_new_number (render, VALUE_INTEGER,
                             js_utf16_length (string->string.data, string->string.len));
  for (guint i = 0; i < G_N_ELEMENTS (methods); i++)
    if (g_str_equal (name, methods[i].name))
      return value_new_function (render, methods[i].kind, string);
  return NULL;
}

static Value *
object_builtin (Render     *render,
                Value      *object,
                const char *name)
{
  static const struct
  {
    const char *name;
    FunctionKind kind;
  } methods[] = {
    { "get", FUNCTION_OBJ_GET },
    { "items", FUNCTION_OBJ_ITEMS },
    { "keys", FUNCTION_OBJ_KEYS },
    { "values", FUNCTION_OBJ_VALUES },
    { "dictsort", FUNCTION_OBJ_DICTSORT },
  };

  for (guint i = 0; i < G_N_ELEMENTS (methods); i++)
    if (g_str_equal (name, methods[i].name))
      return value_new_function (render, methods[i].kind, object);
  return NULL;
}

static Value *
object_items (Render *render,
              Value  *object)
{
  Value *items = value_new_array (render, VALUE_ARRAY);

  for (guint i = 0; i < map_size (object->map); i++)
    {
      Value *pair = value_new_array (render, VALUE_ARRAY);
      Value *key = g_ptr_array_index (object->map->keys, i);

      g_ptr_array_add (pair->items, value_new_string (render, key->string.data, key->string.len));
      g_ptr_array_add (pair->items, g_ptr_array_index (object->map->values, i));
      g_ptr_array_add (items->items, pair);
    }
  return items;
}

static Value *
object_keys (Render *render,
             Value  *object)
{
  Value *keys = value_new_array (render, VALUE_ARRAY);

  for (guint i = 0; i < map_size (object->map); i++)
    {
      Value *key = g_ptr_array_index (object->map->keys, i);

      g_ptr_array_add (keys->items, value_new_string (render, key->string.data, key->string.len));
    }
  return keys;
}

/* The replace() of the reference's utils: count < 0 or none is all of
 * them; an empty `old` matches between every two characters. */
static GString *
string_replace (const char *s,
                gsize       len,
                const Value *old,
                const Value *replacement,
                double       count)
{
  GString *out = g_string_new (NULL);
  double remaining = isnan (count) || count < 0 ? INFINITY : count;

  if (count == 0)
    {
      g_string_append_len (out, s, len);
      return out;
    }
  if (old->string.len == 0)
    {
      for (gsize i = 0; i <= len;)
        {
          gsize start = i;

          if (remaining > 0)
            {
              g_string_append_len (out, replacement->string.data, replacement->string.len);
              remaining--;
            }
          if (i == len)
            break;
          js_next_char (s, len, &i);
          g_string_append_len (out, s + start, i - start);
        }
      return out;
    }
  for (gsize i = 0; i < len;)
    {
      const char *found = NULL;

      if (remaining > 0)
        found = js_find (s + i, len - i, old->string.data, old->string.len);
      if (found == NULL)
        {
          g_string_append_len (out, s + i, len - i);
          break;
        }
      g_string_append_len (out, s + i, found - (s + i));
      g_string_append_len (out, replacement->string.data, replacement->string.len);
      remaining--;
      i = found - s + old->string.len;
    }
  return out;
}

static Value *
call_string_method (Render      *render,
                    Value       *function,
                    GPtrArray   *args,
                    const Node  *node,
                    GError     **error)
{
  Value *self = function->function.self;
  const char *s = self->string.data;
  gsize len = self->string.len;
  g_autoptr(GString) out = g_string_new (NULL);

  switch (function->function.kind)
    {
    case FUNCTION_STR_UPPER:
      js_append_upper (out, s, len);
      break;
    case FUNCTION_STR_LOWER:
      js_append_lower (out, s, len);
      break;
    case FUNCTION_STR_STRIP:
      {
        gsize start = js_trim_start (s, len);
        gsize end = js_trim_end (s, len);

        g_string_append_len (out, s + start, end > start ? end - start : 0);
        break;
      }
    case FUNCTION_STR_TITLE:
      js_append_title (out, s, len);
      break;
    case FUNCTION_STR_CAPITALIZE:
      {
        gsize i = 0;
        gunichar first;

        if (len == 0)
          break;
        first = js_next_char (s, len, &i);
        /* charAt(0) is a UTF-16 code unit: half a pair does not change */
        if (first >= 0x10000)
          g_string_append_len (out, s, i);
        else
          js_append_upper (out, s, i);
        g_string_append_len (out, s + i, len - i);
        break;
      }
    case FUNCTION_STR_RSTRIP:
      g_string_append_len (out, s, js_trim_end (s, len));
      break;
    case FUNCTION_STR_LSTRIP:
      {
        gsize start = js_trim_start (s, len);

        g_string_append_len (out, s + start, len - start);
        break;
      }
    case FUNCTION_STR_STARTSWITH:
    case FUNCTION_STR_ENDSWITH:
      {
        gboolean starts = function->function.kind == FUNCTION_STR_STARTSWITH;
        const char *method = starts ? "startswith" : "endswith";
        Value *pattern = args->len > 0 ? g_ptr_array_index (args, 0) : NULL;
        GPtrArray *candidates;
        g_autoptr(GPtrArray) single = g_ptr_array_new ();

        if (pattern == NULL)
          return fail (render, node, error, "%s() needs an argument", method);
        if (pattern->type == VALUE_STRING)
          {
            g_ptr_array_add (single, pattern);
            candidates = single;
          }
        else if (value_is_array (pattern))
          candidates = pattern->items;
        else
          return fail (render, node, error,
                       "the argument of %s() must be a string or a tuple of strings", method);
        for (guint i = 0; i < candidates->len; i++)
          {
            Value *candidate = g_ptr_array_index (candidates, i);
            gsize n;

            if (candidate->type != VALUE_STRING)
              return fail (render, node, error, "the tuple of %s() must hold strings", method);
            n = candidate->string.len;
            if (n <= len && memcmp (starts ? s : s + len - n, candidate->string.data, n) == 0)
              return value_new_boolean (render, TRUE);
          }
        return value_new_boolean (render, FALSE);
      }
    case FUNCTION_STR_SPLIT:
      {
        Value *sep = args->len > 0 ? g_ptr_array_index (args, 0) : value_null (render);
        Value *maxsplit_value = args->len > 1 ? g_ptr_array_index (args, 1) : NULL;
        double maxsplit = -1;
        Value *result = value_new_array (render, VALUE_ARRAY);

        if (sep->type != VALUE_STRING && sep->type != VALUE_NULL)
          return fail (render, node, error, "the separator of split() must be a string or none");
        if (maxsplit_value != NULL)
          {
            if (maxsplit_value->type != VALUE_INTEGER)
              return fail (render, node, error, "the maxsplit of split() must be an integer");
            maxsplit = maxsplit_value->number;
          }
        if (sep->type == VALUE_NULL)
          {
            gsize i = js_trim_start (s, len);

            while (i < len)
              {
                gsize start = i, n;

                while (i < len && js_space_length (s + i, len - i) == 0)
                  js_next_char (s, len, &i);
                if (maxsplit != -1 && result->items->len >= maxsplit)
                  {
                    g_ptr_array_add (result->items,
                                     value_new_string (render, s + start, len - start));
                    break;
                  }
                g_ptr_array_add (result->items, value_new_string (render, s + start, i - start));
                while (i < len && (n = js_space_length (s + i, len - i)) > 0)
                  i += n;
              }
            return result;
          }
        if (sep->string.len == 0)
          return fail (render, node, error, "split() with an empty separator");
        for (gsize i = 0;;)
          {
            const char *found = js_find (s + i, len - i, sep->string.data, sep->string.len);

            if (!count_step (render, node, error))
              return NULL;
            if (found == NULL)
              {
                g_ptr_array_add (result->items, value_new_string (render, s + i, len - i));
                break;
              }
            g_ptr_array_add (result->items, value_new_string (render, s + i, found - (s + i)));
            i = found - s + sep->string.len;
          }
        if (maxsplit != -1 && result->items->len > maxsplit)
          {
            /* result.push(result.splice(maxsplit).join(sep)) */
            double n = result->items->len;
            double from = js_to_integer (maxsplit);
            g_autoptr(GString) joined = g_string_new (NULL);
            guint k;

            from = from < 0 ? MAX (n + from, 0) : MIN (from, n);
            k = (guint) from;
            for (guint i = k; i < result->items->len; i++)
              {
                Value *part = g_ptr_array_index (result->items, i);

                if (i > k)
                  g_string_append_len (joined, sep->string.data, sep->string.len);
                g_string_append_len (joined, part->string.data, part->string.len);
              }
            g_ptr_array_set_size (result->items, k);
            g_ptr_array_add (result->items, string_value (render, g_steal_pointer (&joined)));
          }
        return result;
      }
    case FUNCTION_STR_REPLACE:
      {
        Value *old, *replacement, *count;

        if (args->len < 2)
          return fail (render, node, error, "replace() needs two arguments");
        old = g_ptr_array_index (args, 0);
        replacement = g_ptr_array_index (args, 1);
        if (old->type != VALUE_STRING || replacement->type != VALUE_STRING)
          return fail (render, node, error, "the arguments of replace() must be strings");
        if (args->len > 2)
          {
            count = g_ptr_array_index (args, 2);
            if (count->type == VALUE_KWARGS)
              {
                count = map_get (count->map, "count", 5);
                if (count == NULL)
                  count = value_null (render);
              }
          }
        else
          count = value_null (render);
        if (count->type != VALUE_INTEGER && count->type != VALUE_NULL)
          return fail (render, node, error, "the count of replace() must be an integer or none");
        g_string_free (out, TRUE);
        out = string_replace (s, len, old, replacement,
                              count->type == VALUE_NULL ? -1 : count->number);
        break;
      }
    default:
      g_assert_not_reached ();
    }

  if (!check_length (render, node, out->len, error))
    return NULL;
  return string_value (render, g_steal_pointer (&out));
}

static Value *
dictsort (Render      *render,
          Value       *object,
          GPtrArray   *args,
          const Node  *node,
          GError     **error)
{
  g_autoptr(GPtrArray) positional_args = g_ptr_array_new ();
  Map *kwargs = NULL;
  Value *case_sensitive, *by, *reverse, *items, *sorted;
  SortContext context = { render, };
  gboolean by_value;

  for (guint i = 0; i < args->len; i++)
    {
      Value *arg = g_ptr_array_index (args, i);

      if (arg->type == VALUE_KWARGS)
        kwargs = arg->map;
      else
        g_ptr_array_add (positional_args, arg);
    }
#define DICTSORT_ARG(i, name, fallback) \
  (positional_args->len > (i) ? g_ptr_array_index (positional_args, i) : \
   (kwargs != NULL && map_get (kwargs, name, strlen (name)) != NULL) ? \
     map_get (kwargs, name, strlen (name)) : (fallback))
  case_sensitive = DICTSORT_ARG (0, "case_sensitive", value_new_boolean (render, FALSE));
  if (case_sensitive->type != VALUE_BOOLEAN)
    return fail (render, node, error, "case_sensitive must be a boolean");
  by = DICTSORT_ARG (1, "by", new_string (render, "key"));
  if (by->type != VALUE_STRING)
    return fail (render, node, error, "by must be a string");
  if (!g_str_equal (by->string.data, "key") && !g_str_equal (by->string.data, "value"))
    return fail (render, node, error, "by must be either 'key' or 'value'");
  reverse = DICTSORT_ARG (2, "reverse", value_new_boolean (render, FALSE));
  if (reverse->type != VALUE_BOOLEAN)
    return fail (render, node, error, "reverse must be a boolean");
#undef DICTSORT_ARG

  by_value = g_str_equal (by->string.data, "value");
  items = object_items (render, object);
  context.case_sensitive = case_sensitive->boolean;
  context.reverse = reverse->boolean;
  context.attribute = new_string (render, by_value ? "1" : "0");
  sorted = value_new_array (render, VALUE_ARRAY);
  g_ptr_array_unref (sorted->items);
  sorted->items = sorted_copy (items->items, &context);
  if (context.error != NULL)
    {
      g_propagate_error (error, context.error);
      return locate_error (render, node, error);
    }
  return sorted;
}

/* ---- macros ------------------------------------------------------------ */

static const char *
parameter_name (const Node *parameter)
{
  return parameter->type == NODE_IDENTIFIER ? parameter->str : parameter->a->str;
}

static gboolean
bind_macro_arguments (Render      *render,
                      const char  *display_name,
                      const Node  *definition,
                      GPtrArray   *parameters,
                      GPtrArray   *args,
                      Env         *scope,
                      const Node  *node,
                      GError     **error)
{
  g_autoptr(GPtrArray) positional_args = g_ptr_array_new ();
  g_autoptr(GPtrArray) pending = g_ptr_array_new ();
  Value *kwargs = value_new_map (render, VALUE_OBJECT);
  guint n_parameters = parameters != NULL ? parameters->len : 0;

  g_ptr_array_extend (positional_args, args, NULL, NULL);
  if (positional_args->len > 0)
    {
      Value *last = g_ptr_array_index (positional_args, positional_args->len - 1);

      if (last->type == VALUE_KWARGS)
        {
          g_ptr_array_set_size (positional_args, positional_args->len - 1);
          for (guint i = 0; i < map_size (last->map); i++)
            {
              Value *key = g_ptr_array_index (last->map->keys, i);

              map_set (render, kwargs->map, key->string.data, key->string.len,
                       g_ptr_array_index (last->map->values, i));
            }
        }
    }

  for (guint i = 0; i < n_parameters; i++)
    {
      const Node *parameter = g_ptr_array_index (parameters, i);
      const char *name = parameter_name (parameter);
      Value *value = i < positional_args->len ? g_ptr_array_index (positional_args, i) : NULL;

      if (value == NULL && (value = map_get (kwargs->map, name, strlen (name))) != NULL)
        map_remove (kwargs->map, name, strlen (name));
      if (value == NULL && parameter->type == NODE_KEYWORD_ARGUMENT)
        g_ptr_array_add (pending, (gpointer) parameter);
      env_set (render, scope, name, value != NULL ? value : value_undefined (render));
    }

  if (definition->uses_kwargs)
    env_set (render, scope, "kwargs", kwargs);
  else if (map_size (kwargs->map) > 0)
    {
      fail (render, node, error, "macro %s takes no keyword argument “%s”", display_name,
            ((Value *) g_ptr_array_index (kwargs->map->keys, 0))->string.data);
      return FALSE;
    }
  if (definition->uses_varargs)
    {
      Value *varargs = value_new_array (render, VALUE_ARRAY);

      for (guint i = n_parameters; i < positional_args->len; i++)
        g_ptr_array_add (varargs->items, g_ptr_array_index (positional_args, i));
      env_set (render, scope, "varargs", varargs);
    }
  else if (positional_args->len > n_parameters)
    {
      fail (render, node, error, "macro %s takes at most %u argument(s)", display_name,
            n_parameters);
      return FALSE;
    }

  for (guint i = 0; i < pending->len; i++)
    {
      const Node *parameter = g_ptr_array_index (pending, i);
      Value *value = evaluate (render, parameter->b, scope, error);

      if (value == NULL)
        return FALSE;
      env_set (render, scope, parameter->a->str, value);
    }
  return TRUE;
}

/* ---- global functions -------------------------------------------------- */

static Value *
call_namespace (Render      *render,
                GPtrArray   *args,
                const Node  *node,
                GError     **error)
{
  Value *namespace = value_new_map (render, VALUE_NAMESPACE);
  guint n = args->len;
  Value *kwargs = NULL;

  if (n > 0 && ((Value *) g_ptr_array_index (args, n - 1))->type == VALUE_KWARGS)
    kwargs = g_ptr_array_index (args, --n);
  if (n > 1)
    return fail (render, node, error, "namespace() takes at most 1 positional argument, got %u", n);
  if (n == 1)
    {
      Value *source = g_ptr_array_index (args, 0);

      if (value_is_object (source))
        {
          for (guint i = 0; i < map_size (source->map); i++)
            {
              Value *key = g_ptr_array_index (source->map->keys, i);

              map_set (render, namespace->map, key->string.data, key->string.len,
                       g_ptr_array_index (source->map->values, i));
            }
        }
      else if (value_is_array (source))
        {
          for (guint i = 0; i < source->items->len; i++)
            {
              Value *pair = g_ptr_array_index (source->items, i);
              Value *key, *value;

              if (value_is_array (pair) && pair->items->len == 2)
                {
                  key = g_ptr_array_index (pair->items, 0);
                  value = g_ptr_array_index (pair->items, 1);
                }
              else if (pair->type == VALUE_STRING &&
                       g_utf8_strlen (pair->string.data, pair->string.len) == 2)
                {
                  const char *second = g_utf8_next_char (pair->string.data);

                  key = value_new_string (render, pair->string.data, second - pair->string.data);
                  value = value_new_string (render, second,
                                            pair->string.len - (second - pair->string.data));
                }
              else
                return fail (render, node, error,
                             "namespace() expects a mapping or a list of [key, value] pairs");
              if (key->type != VALUE_STRING)
                return fail (render, node, error, "the keys of a namespace must be strings");
              map_set (render, namespace->map, key->string.data, key->string.len, value);
            }
        }
      else
        return fail (render, node, error, "%s is not iterable", value_type_name (source));
    }
  if (kwargs != NULL)
    for (guint i = 0; i < map_size (kwargs->map); i++)
      {
        Value *key = g_ptr_array_index (kwargs->map->keys, i);

        map_set (render, namespace->map, key->string.data, key->string.len,
                 g_ptr_array_index (kwargs->map->values, i));
      }
  return namespace;
}

/* ToNumber() of the `.value` range() gets; FALSE for what it cannot take. */
static gboolean
range_number (const Value *value,
              double      *number)
{
  switch (value->type)
    {
    case VALUE_UNDEFINED: *number = NAN; return TRUE;
    case VALUE_NULL: *number = 0; return TRUE;
    case VALUE_BOOLEAN: *number = value->boolean ? 1 : 0; return TRUE;
    case VALUE_INTEGER:
    case VALUE_FLOAT: *number = value->number; return TRUE;
    default: return FALSE;
    }
}

/* range(start, stop, step = 1) of the reference's utils, run on the raw
 * JavaScript values: range(x) counts from 0, an undefined stop is the same,
 * and the first item is `start` itself (a boolean stays a boolean). */
static Value *
call_range (Render      *render,
            GPtrArray   *args,
            const Node  *node,
            GError     **error)
{
  Value *start_value, *stop_value, *step_value, *first;
  double numbers[3];
  double start, stop, step;
  Value *result = value_new_array (render, VALUE_ARRAY);

  if (args->len < 1)
    return result;
  for (guint i = 0; i < MIN (args->len, 3); i++)
    if (!range_number (g_ptr_array_index (args, i), &numbers[i]))
      return fail (render, node, error, "range() takes numbers, not %s",
                   value_type_name (g_ptr_array_index (args, i)));
  start_value = g_ptr_array_index (args, 0);
  stop_value = args->len > 1 ? g_ptr_array_index (args, 1) : NULL;
  step_value = args->len > 2 ? g_ptr_array_index (args, 2) : NULL;
  first = start_value;
  start = numbers[0];
  if (stop_value == NULL || stop_value->type == VALUE_UNDEFINED)
    {
      stop = start;
      start = 0;
      first = NULL;
    }
  else
    stop = numbers[1];
  step = step_value == NULL || step_value->type == VALUE_UNDEFINED ? 1 : numbers[2];
  if (step_value != NULL && value_is_number (step_value) && step_value->number == 0)
    return fail (render, node, error, "range() step must not be zero");

  for (double i = start; step > 0 ? i < stop : i > stop; i += step)
    {
      if (!count_step (render, node, error))
        return NULL;
      if (first != NULL && !value_is_number (first))
        g_ptr_array_add (result->items, first);
      else
        g_ptr_array_add (result->items, value_new_number (render, i == trunc (i) ? VALUE_INTEGER
                                                                                 : VALUE_FLOAT,
                                                          i));
      first = NULL;
    }
  return result;
}

static Value *
call_strftime_now (Render      *render,
                   GPtrArray   *args,
                   const Node  *node,
                   GError     **error)
{
  static const char * const months[] = {
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
  };
  Value *format = args->len > 0 ? g_ptr_array_index (args, 0) : NULL;
  g_autoptr(GDateTime) now = g_date_time_new_now_local ();
  g_autoptr(GString) out = g_string_new (NULL);
  int month;

  if (format == NULL || format->type != VALUE_STRING)
    return fail (render, node, error, "strftime_now() takes a format string");
  month = g_date_time_get_month (now) - 1;
  for (gsize i = 0; i < format->string.len; i++)
    {
      char c = format->string.data[i];
      char next = i + 1 < format->string.len ? format->string.data[i + 1] : '\0';

      if (c != '%' || strchr ("YmdbBHM%", next) == NULL || next == '\0')
        {
          g_string_append_c (out, c);
          continue;
        }
      i++;
      switch (next)
        {
        case 'Y': g_string_append_printf (out, "%d", g_date_time_get_year (now)); break;
        case 'm': g_string_append_printf (out, "%02d", month + 1); break;
        case 'd': g_string_append_printf (out, "%02d", g_date_time_get_day_of_month (now)); break;
        case 'b': g_string_append_len (out, months[month], 3); break;
        case 'B': g_string_append (out, months[month]); break;
        case 'H': g_string_append_printf (out, "%02d", g_date_time_get_hour (now)); break;
        case 'M': g_string_append_printf (out, "%02d", g_date_time_get_minute (now)); break;
        default: g_string_append_c (out, '%'); break;
        }
    }
  return string_value (render, g_steal_pointer (&out));
}

/* raise_exception(args): `new Error(args)`, whose message is the arguments'
 * values joined by commas. */
static Value *
call_raise_exception (Render      *render,
                      GPtrArray   *args,
                      const Node  *node,
                      GError     **error)
{
  g_autoptr(GString) message = g_string_new (NULL);

  for (guint i = 0; i < args->len; i++)
    {
      Value *arg = g_ptr_array_index (args, i);

      if (i > 0)
        g_string_append_c (message, ',');
      if (arg->type != VALUE_NULL && arg->type != VALUE_UNDEFINED &&
          !value_append_raw (render, message, arg, 0, error))
        return locate_error (render, node, error);
    }
  return render_error (render, node, error, LLM_TEMPLATE_ERROR_RAISED, "%s", message->str);
}

static Value *
call_function (Render      *render,
               Value       *function,
               GPtrArray   *args,
               Env         *scope,
               const Node  *node,
               GError     **error)
{
  switch (function->function.kind)
    {
    case FUNCTION_NAMESPACE:
      return call_namespace (render, args, node, error);
    case FUNCTION_RAISE_EXCEPTION:
      return call_raise_exception (render, args, node, error);
    case FUNCTION_RANGE:
      return call_range (render, args, node, error);
    case FUNCTION_STRFTIME_NOW:
      return call_strftime_now (render, args, node, error);
    case FUNCTION_MACRO:
      {
        const Node *macro = function->function.node;
        Env *macro_scope = env_new (render, scope);
        g_autofree char *display_name = g_strdup_printf ("'%s'", macro->a->str);

        if (!bind_macro_arguments (render, display_name, macro, macro->args, args, macro_scope,
                                   node, error))
          return NULL;
        return evaluate_block (render, macro->body, macro_scope, error);
      }
    case FUNCTION_CALLER:
      {
        const Node *call = function->function.node;
        Env *call_scope = env_new (render, function->function.env);

        if (!bind_macro_arguments (render, "None", call, call->args, args, call_scope, node, error))
          return NULL;
        return evaluate_block (render, call->body, call_scope, error);
      }
    case FUNCTION_OBJ_GET:
      {
        Value *key = args->len > 0 ? g_ptr_array_index (args, 0) : NULL;
        Value *self = function->function.self;
        Value *value;

        if (key == NULL || key->type != VALUE_STRING)
          return fail (render, node, error, "the key of get() must be a string");
        value = map_get (self->map, key->string.data, key->string.len);
        if (value == NULL)
          value = args->len > 1 ? g_ptr_array_index (args, 1) : value_null (render);
        return value;
      }
    case FUNCTION_OBJ_ITEMS:
      return object_items (render, function->function.self);
    case FUNCTION_OBJ_KEYS:
      return object_keys (render, function->function.self);
    case FUNCTION_OBJ_VALUES:
      {
        Value *values = value_new_array (render, VALUE_ARRAY);

        g_ptr_array_extend (values->items, function->function.self->map->values, NULL, NULL);
        return values;
      }
    case FUNCTION_OBJ_DICTSORT:
      return dictsort (render, function->function.self, args, node, error);
    default:
      return call_string_method (render, function, args, node, error);
    }
}

/* ---- filters ----------------------------------------------------------- */

/* getAttributeValue(): a dotted path, through mappings and list indices. */
static Value *
get_attribute_value (Render     *render,
                     Value      *item,
                     const char *path,
                     gsize       len)
{
  Value *value = item;
  gsize start = 0;

  while (start <= len)
    {
      const char *dot = memchr (path + start, '.', len - start);
      gsize end = dot != NULL ? (gsize) (dot - path) : len;

      if (value_is_attribute_container (value))
        {
          value = map_get (value->map, path + start, end - start);
          if (value == NULL)
            value = value_undefined (render);
        }
      else if (value_is_array (value))
        {
          double index = js_parse_int (path + start, end - start);

          if (isnan (index) || index < 0 || index >= value->items->len)
            return value_undefined (render);
          value = g_ptr_array_index (value->items, (guint) index);
        }
      else
        return value_undefined (render);
      start = end + 1;
    }
  return value;
}

static Value *
indent_string (Render      *render,
               Value       *operand,
               Value       *width,
               gboolean     first,
               gboolean     blank,
               const Node  *node,
               GError     **error)
{
  g_autoptr(GString) out = g_string_new (NULL);
  const char *s = operand->string.data;
  gsize len = operand->string.len;
  guint line = 0;

  if (width->type != VALUE_INTEGER)
    return fail (render, node, error, "the width of indent must be an integer");
  if (width->number < 0 || !isfinite (width->number) ||
      width->number > (double) render->limits.max_length)
    return fail (render, node, error, "invalid indent width");

  for (gsize start = 0;; line++)
    {
      const char *newline = memchr (s + start, '\n', len - start);
      gsize end = newline != NULL ? (gsize) (newline - s) : len;

      if (line > 0)
        g_string_append_c (out, '\n');
      if (!((!first && line == 0) || (!blank && end == start)))
        for (double i = 0; i < width->number; i++)
          g_string_append_c (out, ' ');
      g_string_append_len (out, s + start, end - start);
      if (!check_length (render, node, out->len, error))
        return NULL;
      if (newline == NULL)
        break;
      start = end + 1;
    }
  return string_value (render, g_steal_pointer (&out));
}

/* The `join` of arrays: Array.prototype.join() of the `.value`s. */
static Value *
join_values (Render      *render,
             GPtrArray   *items,
             const char  *separator,
             gsize        separator_len,
             const Node  *node,
             GError     **error)
{
  g_autoptr(GString) out = g_string_new (NULL);

  for (guint i = 0; i < items->len; i++)
    {
      Value *item = g_ptr_array_index (items, i);

      if (i > 0)
        g_string_append_len (out, separator, separator_len);
      if (item->type != VALUE_NULL && item->type != VALUE_UNDEFINED &&
          !value_append_raw (render, out, item, 0, error))
        return locate_error (render, node, error);
      if (!check_length (render, node, out->len, error))
        return NULL;
    }
  return string_value (render, g_steal_pointer (&out));
}

/* What the reference says of a filter it does not apply: unknown, or not
 * for this type. */
static Value *
unknown_filter (Render      *render,
                const Node  *node,
                const char  *name,
                Value       *operand,
                GError     **error)
{
  static const char * const filters[] = {
    "abs", "bool", "capitalize", "default", "dictsort", "first", "float", "get", "indent", "int",
    "items", "join", "keys", "last", "length", "list", "lower", "map", "rejectattr", "replace",
    "reverse", "safe", "selectattr", "sort", "string", "title", "tojson", "trim", "unique",
    "upper", "values",
  };

  for (guint i = 0; i < G_N_ELEMENTS (filters); i++)
    if (g_str_equal (name, filters[i]))
      return fail (render, node, error, "the filter “%s” does not apply to %s", name,
                   value_type_name (operand));
  return fail (render, node, error, "unknown filter “%s”", name);
}

static Value *
apply_identifier_filter (Render      *render,
                         Value       *operand,
                         const Node  *filter,
                         Env         *env,
                         GError     **error)
{
  const char *name = filter->str;

  if (g_str_equal (name, "safe"))
    return operand;
  if (g_str_equal (name, "tojson"))
    return json_string (render, filter, operand, NULL, TRUE, error);

  if (value_is_array (operand))
    {
      GPtrArray *items = operand->items;

      if (g_str_equal (name, "list"))
        return operand;
      if (g_str_equal (name, "first") || g_str_equal (name, "last"))
        {
          if (items->len == 0)
            return fail (render, filter, error, "“%s” of an empty list", name);
          return g_ptr_array_index (items, name[0] == 'f' ? 0 : items->len - 1);
        }
      if (g_str_equal (name, "length"))
        return value_new_number (render, VALUE_INTEGER, items->len);
      if (g_str_equal (name, "reverse"))
        {
          Value *reversed = value_new_array (render, VALUE_ARRAY);

          for (guint i = items->len; i > 0; i--)
            g_ptr_array_add (reversed->items, g_ptr_array_index (items, i - 1));
          return reversed;
        }
      if (g_str_equal (name, "sort"))
        {
          SortContext context = { render, };
          Value *sorted = value_new_array (render, VALUE_ARRAY);

          g_ptr_array_unref (sorted->items);
          sorted->items = sorted_copy (items, &context);
          if (context.error != NULL)
            {
              g_propagate_error (error, context.error);
              return locate_error (render, filter, error);
            }
          return sorted;
        }
      if (g_str_equal (name, "join"))
        return join_values (render, items, "", 0, filter, error);
      if (g_str_equal (name, "string"))
        return json_string (render, filter, operand, NULL, FALSE, error);
      if (g_str_equal (name, "unique"))
        {
          Value *unique = value_new_array (render, VALUE_ARRAY);

          for (guint i = 0; i < items->len; i++)
            {
              Value *item = g_ptr_array_index (items, i);
              gboolean seen = FALSE;

              for (guint j = 0; j < unique->items->len && !seen; j++)
                seen = value_same_value_zero (g_ptr_array_index (unique->items, j), item);
              if (!count_step (render, filter, error))
                return NULL;
              if (!seen)
                g_ptr_array_add (unique->items, item);
            }
          return unique;
        }
      return unknown_filter (render, filter, name, operand, error);
    }

  if (operand->type == VALUE_STRING)
    {
      const char *s = operand->string.data;
      gsize len = operand->string.len;

      if (g_str_equal (name, "length"))
        return string_builtin (render, operand, "length");
      if (g_str_equal (name, "upper") || g_str_equal (name, "lower") ||
          g_str_equal (name, "title") || g_str_equal (name, "capitalize"))
        {
          g_autoptr(GPtrArray) no_args = g_ptr_array_new ();

          return call_string_method (render, string_builtin (render, operand, name), no_args,
                                     filter, error);
        }
      if (g_str_equal (name, "trim"))
        {
          gsize start = js_trim_start (s, len);
          gsize end = js_trim_end (s, len);

          return value_new_string (render, s + start, end > start ? end - start : 0);
        }
      if (g_str_equal (name, "indent"))
        return indent_string (render, operand, value_new_number (render, VALUE_INTEGER, 4), FALSE,
                              FALSE, filter, error);
      if (g_str_equal (name, "join") || g_str_equal (name, "string"))
        return operand;
      if (g_str_equal (name, "int"))
        {
          double number = js_parse_int (s, len);

          return value_new_number (render, VALUE_INTEGER, isnan (number) ? 0 : number);
        }
      if (g_str_equal (name, "float"))
        {
          double number = js_parse_float (s, len);

          return value_new_number (render, VALUE_FLOAT, isnan (number) ? 0 : number);
        }
      return unknown_filter (render, filter, name, operand, error);
    }

  if (value_is_number (operand))
    {
      if (g_str_equal (name, "abs"))
        return value_new_number (render, operand->type, fabs (operand->number));
      if (g_str_equal (name, "int"))
        return value_new_number (render, VALUE_INTEGER, floor (operand->number));
      if (g_str_equal (name, "float"))
        return value_new_number (render, VALUE_FLOAT, operand->number);
      if (g_str_equal (name, "string"))
        return display_string (render, filter, operand, error);
      return unknown_filter (render, filter, name, operand, error);
    }

  if (value_is_object (operand))
    {
      Value *builtin;
      g_autoptr(GPtrArray) no_args = g_ptr_array_new ();

      if (g_str_equal (name, "items"))
        return object_items (render, operand);
      if (g_str_equal (name, "length"))
        return value_new_number (render, VALUE_INTEGER, map_size (operand->map));
      builtin = object_builtin (render, operand, name);
      if (builtin != NULL)
        return call_function (render, builtin, no_args, env, filter, error);
      return unknown_filter (render, filter, name, operand, error);
    }

  if (operand->type == VALUE_BOOLEAN)
    {
      if (g_str_equal (name, "bool"))
        return value_new_boolean (render, operand->boolean);
      if (g_str_equal (name, "int"))
        return value_new_number (render, VALUE_INTEGER, operand->boolean ? 1 : 0);
      if (g_str_equal (name, "float"))
        return value_new_number (render, VALUE_FLOAT, operand->boolean ? 1 : 0);
      if (g_str_equal (name, "string"))
        return new_string (render, operand->boolean ? "true" : "false");
      return unknown_filter (render, filter, name, operand, error);
    }

  return unknown_filter (render, filter, name, operand, error);
}

static Value *
filter_tojson (Render      *render,
               Value       *operand,
               Arguments   *arguments,
               const Node  *filter,
               GError     **error)
{
  Value *indent = kwarg (arguments, "indent");
  Value *ensure_ascii = kwarg (arguments, "ensure_ascii");
  Value *sort_keys = kwarg (arguments, "sort_keys");
  Value *separators = kwarg (arguments, "separators");
  JsonOptions options = { 0, };

  if (indent != NULL && indent->type != VALUE_INTEGER && indent->type != VALUE_NULL)
    return fail (render, filter, error, "the indent of tojson must be an integer");
  if (indent != NULL && indent->type == VALUE_INTEGER && value_truthy (indent))
    {
      if (indent->number < 0 || !isfinite (indent->number) || indent->number > 1 << 16)
        return fail (render, filter, error, "invalid indent for tojson");
      options.indent = (int) indent->number;
    }
  if (ensure_ascii != NULL && ensure_ascii->type != VALUE_BOOLEAN)
    return fail (render, filter, error, "ensure_ascii must be a boolean");
  options.ensure_ascii = ensure_ascii != NULL && ensure_ascii->boolean;
  if (sort_keys != NULL && sort_keys->type != VALUE_BOOLEAN)
    return fail (render, filter, error, "sort_keys must be a boolean");
  options.sort_keys = sort_keys != NULL && sort_keys->boolean;
  if (separators != NULL && value_is_array (separators))
    {
      Value *item_separator, *key_separator;

      if (separators->items->len != 2)
        return fail (render, filter, error, "separators must be a tuple of two strings");
      item_separator = g_ptr_array_index (separators->items, 0);
      key_separator = g_ptr_array_index (separators->items, 1);
      if (item_separator->type != VALUE_STRING || key_separator->type != VALUE_STRING)
        return fail (render, filter, error, "separators must be a tuple of two strings");
      options.item_separator = item_separator->string.data;
      options.key_separator = key_separator->string.data;
    }
  else if (separators != NULL && separators->type != VALUE_NULL)
    return fail (render, filter, error, "separators must be a tuple of two strings");
  return json_string (render, filter, operand, &options, TRUE, error);
}

static Value *
filter_select_attribute (Render      *render,
                         Value       *operand,
                         const Node  *filter,
                         const char  *name,
                         Env         *env,
                         GError     **error)
{
  gboolean select = g_str_equal (name, "selectattr");
  GPtrArray *args = filter->args;
  Value *values[3] = { NULL, NULL, NULL };
  Value *result = value_new_array (render, VALUE_ARRAY);

  for (guint i = 0; i < operand->items->len; i++)
    if (!value_is_attribute_container (g_ptr_array_index (operand->items, i)))
      return fail (render, filter, error, "%s can only be applied to a list of mappings", name);
  for (guint i = 0; i < args->len; i++)
    if (((Node *) g_ptr_array_index (args, i))->type != NODE_STRING)
      return fail (render, filter, error, "the arguments of %s must be strings", name);
  if (args->len == 0)
    return fail (render, filter, error, "%s needs an attribute name", name);
  for (guint i = 0; i < MIN (args->len, 3); i++)
    if ((values[i] = evaluate (render, g_ptr_array_index (args, i), env, error)) == NULL)
      return NULL;
  if (values[1] != NULL && !is_known_test (values[1]->string.data))
    return fail (render, filter, error, "unknown test “%s”", values[1]->string.data);

  for (guint i = 0; i < operand->items->len; i++)
    {
      Value *item = g_ptr_array_index (operand->items, i);
      Value *attribute = map_get (item->map, values[0]->string.data, values[0]->string.len);
      gboolean result_value = FALSE;

      if (attribute != NULL)
        {
          if (values[1] == NULL)
            result_value = value_truthy (attribute);
          else if (!apply_test (render, values[1]->string.data, attribute, values[2],
                                &result_value, error))
            return locate_error (render, filter, error);
        }
      if (result_value == select)
        g_ptr_array_add (result->items, item);
    }
  return result;
}

static Value *
apply_call_filter (Render      *render,
                   Value       *operand,
                   const Node  *filter,
                   Env         *env,
                   GError     **error)
{
  g_auto(Arguments) arguments = { NULL, };
  const char *name;

  if (filter->a->type != NODE_IDENTIFIER)
    return fail (render, filter, error, "a filter must be a name");
  name = filter->a->str;

  if (g_str_equal (name, "selectattr") || g_str_equal (name, "rejectattr"))
    {
      if (!value_is_array (operand))
        return unknown_filter (render, filter, name, operand, error);
      return filter_select_attribute (render, operand, filter, name, env, error);
    }

  if (!evaluate_arguments (render, filter->args, env, &arguments, error))
    return NULL;

  if (g_str_equal (name, "tojson"))
    return filter_tojson (render, operand, &arguments, filter, error);

  if (g_str_equal (name, "join"))
    {
      Value *separator = argument_or (&arguments, 0, "separator", NULL);
      g_autoptr(GPtrArray) chars = NULL;
      GPtrArray *items;

      if (operand->type == VALUE_STRING)
        items = chars = string_chars (render, operand);
      else if (value_is_array (operand))
        items = operand->items;
      else
        return unknown_filter (render, filter, name, operand, error);
      if (separator != NULL && separator->type != VALUE_STRING)
        return fail (render, filter, error, "the separator of join must be a string");
      return join_values (render, items, separator != NULL ? separator->string.data : "",
                          separator != NULL ? separator->string.len : 0, filter, error);
    }

  if (g_str_equal (name, "int") || g_str_equal (name, "float"))
    {
      gboolean is_int = name[0] == 'i';
      Value *fallback = argument_or (&arguments, 0, "default", NULL);

      if (fallback == NULL)
        fallback = value_new_number (render, is_int ? VALUE_INTEGER : VALUE_FLOAT, 0);
      if (operand->type == VALUE_STRING)
        {
          double number = is_int ? js_parse_int (operand->string.data, operand->string.len)
                                 : js_parse_float (operand->string.data, operand->string.len);

          if (isnan (number))
            return fallback;
          return value_new_number (render, is_int ? VALUE_INTEGER : VALUE_FLOAT, number);
        }
      if (value_is_number (operand))
        return operand;
      if (operand->type == VALUE_BOOLEAN)
        return value_new_number (render, is_int ? VALUE_INTEGER : VALUE_FLOAT,
                                 operand->boolean ? 1 : 0);
      return unknown_filter (render, filter, name, operand, error);
    }

  if (g_str_equal (name, "default"))
    {
      Value *fallback = positional (&arguments, 0);
      Value *boolean = argument_or (&arguments, 1, "boolean", NULL);

      if (fallback == NULL)
        fallback = new_string (render, "");
      if (boolean != NULL && boolean->type != VALUE_BOOLEAN)
        return fail (render, filter, error, "the flag of default must be a boolean");
      if (operand->type == VALUE_UNDEFINED ||
          (boolean != NULL && boolean->boolean && !value_truthy (operand)))
        return fallback;
      return operand;
    }

  if (value_is_array (operand))
    {
      if (g_str_equal (name, "sort"))
        {
          Value *reverse = argument_or (&arguments, 0, "reverse", NULL);
          Value *case_sensitive = argument_or (&arguments, 1, "case_sensitive", NULL);
          Value *attribute = argument_or (&arguments, 2, "attribute", NULL);
          SortContext context = { render, };
          Value *sorted;

          if (reverse != NULL && reverse->type != VALUE_BOOLEAN)
            return fail (render, filter, error, "reverse must be a boolean");
          if (case_sensitive != NULL && case_sensitive->type != VALUE_BOOLEAN)
            return fail (render, filter, error, "case_sensitive must be a boolean");
          if (attribute != NULL && attribute->type != VALUE_STRING &&
              attribute->type != VALUE_INTEGER && attribute->type != VALUE_NULL)
            return fail (render, filter, error, "attribute must be a string, an integer or none");
          context.reverse = reverse != NULL && reverse->boolean;
          context.case_sensitive = case_sensitive != NULL && case_sensitive->boolean;
          context.attribute = attribute != NULL && attribute->type != VALUE_NULL ? attribute : NULL;
          sorted = value_new_array (render, VALUE_ARRAY);
          g_ptr_array_unref (sorted->items);
          sorted->items = sorted_copy (operand->items, &context);
          if (context.error != NULL)
            {
              g_propagate_error (error, context.error);
              return locate_error (render, filter, error);
            }
          return sorted;
        }
      if (g_str_equal (name, "map"))
        {
          Value *attribute = kwarg (&arguments, "attribute");
          Value *fallback = kwarg (&arguments, "default");
          Value *mapped;

          if (attribute == NULL)
            return fail (render, filter, error, "map without attribute= is not supported");
          if (attribute->type != VALUE_STRING)
            return fail (render, filter, error, "the attribute of map must be a string");
          mapped = value_new_array (render, VALUE_ARRAY);
          for (guint i = 0; i < operand->items->len; i++)
            {
              Value *item = g_ptr_array_index (operand->items, i);
              Value *value;

              if (!value_is_attribute_container (item))
                return fail (render, filter, error, "the items of map must be mappings");
              value = get_attribute_value (render, item, attribute->string.data,
                                           attribute->string.len);
              if (value->type == VALUE_UNDEFINED && fallback != NULL)
                value = fallback;
              g_ptr_array_add (mapped->items, value);
            }
          return mapped;
        }
      return unknown_filter (render, filter, name, operand, error);
    }

  if (operand->type == VALUE_STRING)
    {
      if (g_str_equal (name, "indent"))
        {
          Value *width = argument_or (&arguments, 0, "width", NULL);
          Value *first = argument_or (&arguments, 1, "first", NULL);
          Value *blank = argument_or (&arguments, 2, "blank", NULL);

          if (width == NULL)
            width = value_new_number (render, VALUE_INTEGER, 4);
          return indent_string (render, operand, width, first != NULL && raw_truthy (first),
                                blank != NULL && raw_truthy (blank), filter, error);
        }
      if (g_str_equal (name, "replace"))
        {
          g_autoptr(GPtrArray) args = g_ptr_array_new ();

          g_ptr_array_extend (args, arguments.positional, NULL, NULL);
          g_ptr_array_add (args, arguments.kwargs);
          return call_function (render, string_builtin (render, operand, "replace"), args, env,
                                filter, error);
        }
      return unknown_filter (render, filter, name, operand, error);
    }

  if (value_is_object (operand))
    {
      Value *builtin = object_builtin (render, operand, name);

      if (builtin != NULL)
        {
          if (map_size (arguments.kwargs->map) > 0)
            g_ptr_array_add (arguments.positional, arguments.kwargs);
          return call_function (render, builtin, arguments.positional, env, filter, error);
        }
      return unknown_filter (render, filter, name, operand, error);
    }

  return unknown_filter (render, filter, name, operand, error);
}

static Value *
apply_filter (Render      *render,
              Value       *operand,
              const Node  *filter,
              Env         *env,
              GError     **error)
{
  if (filter->type == NODE_IDENTIFIER)
    return apply_identifier_filter (render, operand, filter, env, error);
  if (filter->type == NODE_CALL)
    return apply_call_filter (render, operand, filter, env, error);
  return fail (render, filter, error, "a filter must be a name or a call");
}

/* ---- expressions ------------------------------------------------------- */

static Value *
evaluate_binary (Render      *render,
                 const Node  *node,
                 Env         *env,
                 GError     **error)
{
  static const char * const operators[] = {
    "or", "and", "not", "==", "!=", "<", ">", "<=", ">=", "in", "not in", "+", "-", "~", "*", "/",
    "//", "%", "**",
  };
  Operator op = node->op;
  Value *left = evaluate (render, node->a, env, error);
  Value *right;

  if (left == NULL)
    return NULL;
  if (op == OP_AND)
    return value_truthy (left) ? evaluate (render, node->b, env, error) : left;
  if (op == OP_OR)
    return value_truthy (left) ? left : evaluate (render, node->b, env, error);

  if ((right = evaluate (render, node->b, env, error)) == NULL)
    return NULL;

  if (op == OP_EQ)
    return value_new_boolean (render, value_loose_equals (render, left, right));
  if (op == OP_NE)
    return value_new_boolean (render, !value_loose_equals (render, left, right));

  if (left->type == VALUE_UNDEFINED || right->type == VALUE_UNDEFINED)
    {
      if (right->type == VALUE_UNDEFINED && (op == OP_IN || op == OP_NOT_IN))
        return value_new_boolean (render, op == OP_NOT_IN);
      return fail (render, node, error, "cannot apply “%s” to an undefined value", operators[op]);
    }
  if (left->type == VALUE_NULL || right->type == VALUE_NULL)
    return fail (render, node, error, "cannot apply “%s” to none", operators[op]);

  if (op == OP_CONCAT)
    {
      g_autoptr(GString) out = g_string_new (NULL);

      if (!value_append_raw (render, out, left, 0, error) ||
          !value_append_raw (render, out, right, 0, error))
        return locate_error (render, node, error);
      return string_value (render, g_steal_pointer (&out));
    }

  if (op == OP_POW && is_numeric_like (left) && is_numeric_like (right))
    {
      double a = numeric_value (left), b = numeric_value (right);
      double result;

      if (a == 0 && b < 0)
        return fail (render, node, error, "0.0 cannot be raised to a negative power");
      result = (isnan (b) || (isinf (b) && fabs (a) == 1)) ? NAN : pow (a, b);
      if (!isfinite (result))
        return fail (render, node, error, "the power is not a finite real number");
      return value_new_number (render,
                               left->type == VALUE_FLOAT || right->type == VALUE_FLOAT || b < 0
                               ? VALUE_FLOAT : VALUE_INTEGER,
                               result);
    }

  if (value_is_number (left) && value_is_number (right))
    {
      double a = left->number, b = right->number;
      ValueType type = left->type == VALUE_FLOAT || right->type == VALUE_FLOAT ? VALUE_FLOAT
                                                                               : VALUE_INTEGER;

      switch (op)
        {
        case OP_ADD: return value_new_number (render, type, a + b);
        case OP_SUB: return value_new_number (render, type, a - b);
        case OP_MUL: return value_new_number (render, type, a * b);
        case OP_DIV: return value_new_number (render, VALUE_FLOAT, a / b);
        case OP_FLOOR_DIV: return value_new_number (render, type, floor (a / b));
        case OP_MOD: return value_new_number (render, type, fmod (a, b));
        case OP_LT: return value_new_boolean (render, a < b);
        case OP_GT: return value_new_boolean (render, a > b);
        case OP_GE: return value_new_boolean (render, a >= b);
        case OP_LE: return value_new_boolean (render, a <= b);
        default: break;
        }
    }
  else if (value_is_array (left) && value_is_array (right))
    {
      if (op == OP_ADD)
        {
          Value *joined = value_new_array (render, VALUE_ARRAY);

          if (!count_step (render, node, error))
            return NULL;
          g_ptr_array_extend (joined->items, left->items, NULL, NULL);
          g_ptr_array_extend (joined->items, right->items, NULL, NULL);
          return joined;
        }
    }
  else if (value_is_array (right))
    {
      gboolean member = FALSE;

      for (guint i = 0; i < right->items->len && !member; i++)
        member = value_strict_equals (g_ptr_array_index (right->items, i), left);
      if (op == OP_IN)
        return value_new_boolean (render, member);
      if (op == OP_NOT_IN)
        return value_new_boolean (render, !member);
    }

  if ((left->type == VALUE_STRING || right->type == VALUE_STRING) && op == OP_ADD)
    {
      g_autoptr(GString) out = g_string_new (NULL);

      if (!value_append_raw (render, out, left, 0, error) ||
          !value_append_raw (render, out, right, 0, error))
        return locate_error (render, node, error);
      return string_value (render, g_steal_pointer (&out));
    }
  if (left->type == VALUE_STRING && right->type == VALUE_STRING &&
      (op == OP_IN || op == OP_NOT_IN))
    {
      gboolean found = left->string.len == 0 ||
                       js_find (right->string.data, right->string.len, left->string.data,
                               left->string.len) != NULL;

      return value_new_boolean (render, op == OP_IN ? found : !found);
    }
  if (left->type == VALUE_STRING && value_is_object (right) && (op == OP_IN || op == OP_NOT_IN))
    {
      gboolean found = map_get (right->map, left->string.data, left->string.len) != NULL;

      return value_new_boolean (render, op == OP_IN ? found : !found);
    }

  return fail (render, node, error, "cannot apply “%s” to %s and %s", operators[op],
               value_type_name (left), value_type_name (right));
}

static Value *
evaluate_unary (Render      *render,
                const Node  *node,
                Env         *env,
                GError     **error)
{
  Value *argument = evaluate (render, node->a, env, error);

  if (argument == NULL)
    return NULL;
  if (node->op == OP_NOT)
    return value_new_boolean (render, !value_truthy (argument));
  if (is_numeric_like (argument))
    {
      double sign = node->op == OP_SUB ? -1 : 1;

      return value_new_number (render,
                               argument->type == VALUE_FLOAT ? VALUE_FLOAT : VALUE_INTEGER,
                               sign * numeric_value (argument));
    }
  return fail (render, node, error, "cannot apply “%s” to %s", node->op == OP_SUB ? "-" : "+",
               value_type_name (argument));
}

static Value *
evaluate_slice (Render      *render,
                Value       *object,
                const Node  *slice,
                Env         *env,
                GError     **error)
{
  Value *parts[3];
  const Node *nodes[3] = { slice->a, slice->b, slice->c };
  g_autoptr(GPtrArray) chars = NULL;
  g_autoptr(GPtrArray) result = NULL;

  if (!value_is_array (object) && object->type != VALUE_STRING)
    return fail (render, slice, error, "cannot slice %s", value_type_name (object));
  for (guint i = 0; i < 3; i++)
    {
      if ((parts[i] = evaluate (render, nodes[i], env, error)) == NULL)
        return NULL;
      if (parts[i]->type != VALUE_INTEGER && parts[i]->type != VALUE_UNDEFINED)
        return fail (render, slice, error, "the bounds of a slice must be integers");
    }

  if (value_is_array (object))
    {
      Value *array = value_new_array (render, VALUE_ARRAY);

      g_ptr_array_unref (array->items);
      array->items = slice_items (object->items, parts[0], parts[1], parts[2]);
      return array;
    }
  else
    {
      g_autoptr(GString) out = g_string_new (NULL);

      chars = string_chars (render, object);
      result = slice_items (chars, parts[0], parts[1], parts[2]);
      for (guint i = 0; i < result->len; i++)
        {
          Value *c = g_ptr_array_index (result, i);

          g_string_append_len (out, c->string.data, c->string.len);
        }
      return string_value (render, g_steal_pointer (&out));
    }
}

static Value *
evaluate_member (Render      *render,
                 const Node  *node,
                 Env         *env,
                 GError     **error)
{
  Value *object = evaluate (render, node->a, env, error);
  Value *property, *value = NULL;

  if (object == NULL)
    return NULL;
  if (node->flag)
    {
      if (node->b->type == NODE_SLICE)
        return evaluate_slice (render, object, node->b, env, error);
      if ((property = evaluate (render, node->b, env, error)) == NULL)
        return NULL;
    }
  else if (node->b->type == NODE_INTEGER)
    property = value_new_number (render, VALUE_INTEGER, node->b->number);
  else
    property = value_new_string (render, node->b->str, node->b->len);

  if (value_is_attribute_container (object))
    {
      if (property->type != VALUE_STRING)
        return fail (render, node, error, "cannot look up %s in %s",
                     value_type_name (property), value_type_name (object));
      value = map_get (object->map, property->string.data, property->string.len);
      if (value == NULL && value_is_object (object))
        value = object_builtin (render, object, property->string.data);
    }
  else if (value_is_array (object) || object->type == VALUE_STRING)
    {
      if (property->type == VALUE_INTEGER)
        value = value_at (render, object, property->number);
      else if (property->type == VALUE_STRING)
        {
          if (object->type == VALUE_STRING)
            value = string_builtin (render, object, property->string.data);
          else if (g_str_equal (property->string.data, "length"))
            value = value_new_number (render, VALUE_INTEGER, object->items->len);
        }
      else
        return fail (render, node, error, "cannot index %s with %s",
                     value_type_name (object), value_type_name (property));
    }
  else if (property->type != VALUE_STRING)
    return fail (render, node, error, "cannot look up %s in %s", value_type_name (property),
                 value_type_name (object));

  return value != NULL ? value : value_undefined (render);
}

static Value *
evaluate_call (Render      *render,
               const Node  *node,
               Env         *env,
               GError     **error)
{
  g_auto(Arguments) arguments = { NULL, };
  Value *function;

  if (!evaluate_arguments (render, node->args, env, &arguments, error))
    return NULL;
  if (map_size (arguments.kwargs->map) > 0)
    g_ptr_array_add (arguments.positional, arguments.kwargs);
  if ((function = evaluate (render, node->a, env, error)) == NULL)
    return NULL;
  if (function->type != VALUE_FUNCTION)
    return fail (render, node, error, "cannot call %s", value_type_name (function));
  return call_function (render, function, arguments.positional, env, node, error);
}

static Value *
evaluate_test (Render      *render,
               const Node  *node,
               Env         *env,
               GError     **error)
{
  Value *operand = evaluate (render, node->a, env, error);
  gboolean result;

  if (operand == NULL)
    return NULL;
  if (!is_known_test (node->b->str))
    return fail (render, node->b, error, "unknown test “%s”", node->b->str);
  if (!apply_test (render, node->b->str, operand, NULL, &result, error))
    return locate_error (render, node, error);
  return value_new_boolean (render, node->flag ? !result : result);
}

/* ---- statements -------------------------------------------------------- */

static gboolean
assign_loop_variable (Render      *render,
                      const Node  *target,
                      Value       *current,
                      Env         *scope,
                      GError     **error)
{
  if (target->type == NODE_IDENTIFIER)
    {
      env_set (render, scope, target->str, current);
      return TRUE;
    }
  for (guint j = 0; j < target->args->len; j++)
    {
      const Node *name = g_ptr_array_index (target->args, j);

      if (name->type != NODE_IDENTIFIER)
        {
          fail (render, name, error, "cannot unpack into this expression");
          return FALSE;
        }
      env_set (render, scope, name->str, g_ptr_array_index (current->items, j));
    }
  return TRUE;
}

static Value *
evaluate_for (Render      *render,
              const Node  *node,
              Env         *env,
              GError     **error)
{
  Env *scope = env_new (render, env);
  const Node *target = node->a;
  const Node *test = NULL;
  Value *iterable;
  g_autoptr(GPtrArray) items = g_ptr_array_new ();
  g_autoptr(GString) out = g_string_new (NULL);
  gboolean no_iteration = TRUE;

  if (node->b->type == NODE_SELECT)
    {
      iterable = evaluate (render, node->b->a, scope, error);
      test = node->b->b;
    }
  else
    iterable = evaluate (render, node->b, scope, error);
  if (iterable == NULL)
    return NULL;
  if (value_is_object (iterable))
    iterable = object_keys (render, iterable);
  else if (!value_is_array (iterable))
    return fail (render, node->b, error, "cannot loop over %s", value_type_name (iterable));

  for (guint i = 0; i < iterable->items->len; i++)
    {
      Value *current = g_ptr_array_index (iterable->items, i);

      if (!count_step (render, node, error))
        return NULL;
      if (target->type == NODE_TUPLE)
        {
          if (current->type != VALUE_ARRAY)
            return fail (render, target, error, "cannot unpack %s", value_type_name (current));
          if (current->items->len != target->args->len)
            return fail (render, target, error, "too %s items to unpack",
                         target->args->len > current->items->len ? "few" : "many");
        }
      if (test != NULL)
        {
          Env *loop_scope = env_new (render, scope);
          Value *passed;

          if (!assign_loop_variable (render, target, current, loop_scope, error))
            return NULL;
          if ((passed = evaluate (render, test, loop_scope, error)) == NULL)
            return NULL;
          if (!value_truthy (passed))
            continue;
        }
      g_ptr_array_add (items, current);
    }

  for (guint i = 0; i < items->len; i++)
    {
      Value *loop = value_new_map (render, VALUE_OBJECT);
      double n = items->len;
      g_autoptr(GError) body_error = NULL;
      Value *body;

      if (!count_step (render, node, error))
        return NULL;
      map_set (render, loop->map, "index", 5, value_new_number (render, VALUE_INTEGER, i + 1));
      map_set (render, loop->map, "index0", 6, value_new_number (render, VALUE_INTEGER, i));
      map_set (render, loop->map, "revindex", 8, value_new_number (render, VALUE_INTEGER, n - i));
      map_set (render, loop->map, "revindex0", 9,
               value_new_number (render, VALUE_INTEGER, n - i - 1));
      map_set (render, loop->map, "first", 5, value_new_boolean (render, i == 0));
      map_set (render, loop->map, "last", 4, value_new_boolean (render, i == items->len - 1));
      map_set (render, loop->map, "length", 6, value_new_number (render, VALUE_INTEGER, n));
      map_set (render, loop->map, "previtem", 8,
               i > 0 ? g_ptr_array_index (items, i - 1) : value_undefined (render));
      map_set (render, loop->map, "nextitem", 8,
               i + 1 < items->len ? g_ptr_array_index (items, i + 1) : value_undefined (render));
      env_set (render, scope, "loop", loop);
      if (!assign_loop_variable (render, target, g_ptr_array_index (items, i), scope, error))
        return NULL;

      body = evaluate_block (render, node->body, scope, &body_error);
      if (body == NULL)
        {
          if (g_error_matches (body_error, CONTROL_QUARK, CONTROL_CONTINUE))
            continue;
          if (g_error_matches (body_error, CONTROL_QUARK, CONTROL_BREAK))
            break;
          g_propagate_error (error, g_steal_pointer (&body_error));
          return NULL;
        }
      g_string_append_len (out, body->string.data, body->string.len);
      if (!check_length (render, node, out->len, error))
        return NULL;
      no_iteration = FALSE;
    }

  if (no_iteration)
    {
      Value *alternate = evaluate_block (render, node->alternate, scope, error);

      if (alternate == NULL)
        return NULL;
      g_string_append_len (out, alternate->string.data, alternate->string.len);
    }
  return string_value (render, g_steal_pointer (&out));
}

static Value *
evaluate_set (Render      *render,
              const Node  *node,
              Env         *env,
              GError     **error)
{
  const Node *assignee = node->a;
  Value *rhs = node->b != NULL ? evaluate (render, node->b, env, error)
                               : evaluate_block (render, node->body, env, error);

  if (rhs == NULL)
    return NULL;

  if (assignee->type == NODE_IDENTIFIER)
    env_set (render, env, assignee->str, rhs);
  else if (assignee->type == NODE_TUPLE)
    {
      if (!value_is_array (rhs))
        return fail (render, node, error, "cannot unpack %s", value_type_name (rhs));
      if (rhs->items->len != assignee->args->len)
        return fail (render, node, error, "too %s items to unpack",
                     assignee->args->len > rhs->items->len ? "few" : "many");
      for (guint i = 0; i < assignee->args->len; i++)
        {
          const Node *name = g_ptr_array_index (assignee->args, i);

          if (name->type != NODE_IDENTIFIER)
            return fail (render, name, error, "cannot unpack into this expression");
          env_set (render, env, name->str, g_ptr_array_index (rhs->items, i));
        }
    }
  else if (assignee->type == NODE_MEMBER)
    {
      Value *object = evaluate (render, assignee->a, env, error);

      if (object == NULL)
        return NULL;
      if (object->type != VALUE_NAMESPACE)
        return fail (render, assignee, error, "cannot set an attribute of %s, only of a namespace",
                     value_type_name (object));
      if (assignee->b->type != NODE_IDENTIFIER)
        return fail (render, assignee, error, "cannot set this member of a namespace");
      map_set (render, object->map, assignee->b->str, assignee->b->len, rhs);
    }
  else
    return fail (render, assignee, error, "cannot assign to this expression");

  return value_null (render);
}

static Value *
evaluate_call_statement (Render      *render,
                         const Node  *node,
                         Env         *env,
                         GError     **error)
{
  Value *caller = value_new_function (render, FUNCTION_CALLER, NULL);
  g_auto(Arguments) arguments = { NULL, };
  Value *function;
  Env *scope;

  caller->function.node = node;
  caller->function.env = env;
  if (!evaluate_arguments (render, node->a->args, env, &arguments, error))
    return NULL;
  g_ptr_array_add (arguments.positional, arguments.kwargs);
  if ((function = evaluate (render, node->a->a, env, error)) == NULL)
    return NULL;
  if (function->type != VALUE_FUNCTION)
    return fail (render, node, error, "cannot call %s", value_type_name (function));
  scope = env_new (render, env);
  env_set (render, scope, "caller", caller);
  return call_function (render, function, arguments.positional, scope, node->a, error);
}

static Value *
evaluate_node (Render      *render,
               const Node  *node,
               Env         *env,
               GError     **error)
{
  switch (node->type)
    {
    case NODE_TEXT:
    case NODE_STRING:
      return value_new_string (render, node->str, node->len);
    case NODE_COMMENT:
      return value_null (render);
    case NODE_IF:
      {
        Value *test = evaluate (render, node->a, env, error);

        if (test == NULL)
          return NULL;
        return evaluate_block (render, value_truthy (test) ? node->body : node->alternate, env,
                               error);
      }
    case NODE_FOR:
      return evaluate_for (render, node, env, error);
    case NODE_BREAK:
    case NODE_CONTINUE:
      g_set_error_literal (error, CONTROL_QUARK,
                           node->type == NODE_BREAK ? CONTROL_BREAK : CONTROL_CONTINUE,
                           node->type == NODE_BREAK ? "break" : "continue");
      render->control = node;
      return NULL;
    case NODE_SET:
      return evaluate_set (render, node, env, error);
    case NODE_MACRO:
      {
        Value *macro = value_new_function (render, FUNCTION_MACRO, NULL);

        macro->function.node = node;
        env_set (render, env, node->a->str, macro);
        return value_null (render);
      }
    case NODE_CALL_STATEMENT:
      return evaluate_call_statement (render, node, env, error);
    case NODE_FILTER_STATEMENT:
      {
        Value *rendered = evaluate_block (render, node->body, env, error);

        if (rendered == NULL)
          return NULL;
        return apply_filter (render, rendered, node->a, env, error);
      }
    case NODE_INTEGER:
      return value_new_number (render, VALUE_INTEGER, node->number);
    case NODE_FLOAT:
      return value_new_number (render, VALUE_FLOAT, node->number);
    case NODE_ARRAY:
    case NODE_TUPLE:
      {
        Value *array = value_new_array (render, node->type == NODE_ARRAY ? VALUE_ARRAY
                                                                         : VALUE_TUPLE);

        for (guint i = 0; i < node->args->len; i++)
          {
            Value *item = evaluate (render, g_ptr_array_index (node->args, i), env, error);

            if (item == NULL)
              return NULL;
            g_ptr_array_add (array->items, item);
          }
        return array;
      }
    case NODE_OBJECT:
      {
        Value *object = value_new_map (render, VALUE_OBJECT);

        for (guint i = 0; i + 1 < node->args->len; i += 2)
          {
            const Node *key_node = g_ptr_array_index (node->args, i);
            Value *key = evaluate (render, key_node, env, error);
            Value *value;

            if (key == NULL)
              return NULL;
            if (key->type != VALUE_STRING)
              return fail (render, key_node, error, "the keys of a mapping must be strings, not %s",
                           value_type_name (key));
            value = evaluate (render, g_ptr_array_index (node->args, i + 1), env, error);
            if (value == NULL)
              return NULL;
            map_set (render, object->map, key->string.data, key->string.len, value);
          }
        return object;
      }
    case NODE_IDENTIFIER:
      return env_lookup (render, env, node->str);
    case NODE_CALL:
      return evaluate_call (render, node, env, error);
    case NODE_MEMBER:
      return evaluate_member (render, node, env, error);
    case NODE_UNARY:
      return evaluate_unary (render, node, env, error);
    case NODE_BINARY:
      return evaluate_binary (render, node, env, error);
    case NODE_FILTER:
      {
        Value *operand = evaluate (render, node->a, env, error);

        if (operand == NULL)
          return NULL;
        return apply_filter (render, operand, node->b, env, error);
      }
    case NODE_TEST:
      return evaluate_test (render, node, env, error);
    case NODE_SELECT:
      {
        Value *test = evaluate (render, node->b, env, error);

        if (test == NULL)
          return NULL;
        if (!value_truthy (test))
          return value_undefined (render);
        return evaluate (render, node->a, env, error);
      }
    case NODE_TERNARY:
      {
        Value *test = evaluate (render, node->a, env, error);

        if (test == NULL)
          return NULL;
        return evaluate (render, value_truthy (test) ? node->b : node->c, env, error);
      }
    case NODE_SLICE:
    case NODE_KEYWORD_ARGUMENT:
    case NODE_SPREAD:
    case NODE_KEYWORD_SPREAD:
    default:
      return fail (render, node, error, "this expression cannot stand here");
    }
}

static Value *
evaluate (Render      *render,
          const Node  *node,
          Env         *env,
          GError     **error)
{
  Value *result;

  if (node == NULL)
    return value_undefined (render);
  if (!count_step (render, node, error))
    return NULL;
  if (render->depth >= render->limits.max_depth)
    return render_error (render, node, error, LLM_TEMPLATE_ERROR_LIMIT,
                         "the template nests or recurses more than %u levels deep",
                         render->limits.max_depth);
  render->depth++;
  result = evaluate_node (render, node, env, error);
  render->depth--;
  if (result == NULL)
    locate_error (render, node, error);
  return result;
}

static Value *
evaluate_block (Render      *render,
                GPtrArray   *statements,
                Env         *env,
                GError     **error)
{
  g_autoptr(GString) out = g_string_new (NULL);

  for (guint i = 0; statements != NULL && i < statements->len; i++)
    {
      const Node *statement = g_ptr_array_index (statements, i);
      Value *value = evaluate (render, statement, env, error);

      if (value == NULL)
        return NULL;
      if (value->type == VALUE_NULL || value->type == VALUE_UNDEFINED)
        continue;
      if (!value_append_display (render, out, value, error))
        return locate_error (render, statement, error);
      if (!check_length (render, statement, out->len, error))
        return NULL;
    }
  return string_value (render, g_steal_pointer (&out));
}

/* ---- the template ------------------------------------------------------ */

/**
 * llm_template_new:
 * @source: the template, UTF-8
 * @name: (nullable): what messages call it, as in "chat_template:3:15: …"
 * @error: return location for a #GError
 *
 * Parses a template once, to render it any number of times.
 *
 * Returns: (transfer full) (nullable): the template, or %NULL with
 *   %LLM_TEMPLATE_ERROR_SYNTAX naming the line and column.
 */
LlmTemplate *
llm_template_new (const char  *source,
                  const char  *name,
                  GError     **error)
{
  LlmTemplate *self;
  TemplateTree *tree;

  g_return_val_if_fail (source != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  tree = template_tree_parse (source, strlen (source), name, error);
  if (tree == NULL)
    return NULL;
  self = g_new0 (LlmTemplate, 1);
  self->tree = tree;
  self->limits = default_limits;
  return self;
}

void
llm_template_free (LlmTemplate *self)
{
  if (self == NULL)
    return;
  template_tree_free (self->tree);
  g_free (self);
}

void
llm_template_get_limits (LlmTemplate       *self,
                         LlmTemplateLimits *limits)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (limits != NULL);

  *limits = self->limits;
}

void
llm_template_set_limits (LlmTemplate             *self,
                         const LlmTemplateLimits *limits)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (limits != NULL);

  self->limits = *limits;
}

static void
render_clear (Render *render)
{
  g_clear_pointer (&render->values, g_ptr_array_unref);
  g_clear_pointer (&render->envs, g_ptr_array_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Render, render_clear)

/* The globals of the reference's setupGlobals(), and namespace(). */
static void
declare_globals (Render *render,
                 Env    *global)
{
  static const struct
  {
    const char *name;
    FunctionKind kind;
  } functions[] = {
    { "namespace", FUNCTION_NAMESPACE },
    { "raise_exception", FUNCTION_RAISE_EXCEPTION },
    { "range", FUNCTION_RANGE },
    { "strftime_now", FUNCTION_STRFTIME_NOW },
  };

  for (guint i = 0; i < G_N_ELEMENTS (functions); i++)
    env_set (render, global, functions[i].name,
             value_new_function (render, functions[i].kind, NULL));
  env_set (render, global, "false", value_new_boolean (render, FALSE));
  env_set (render, global, "true", value_new_boolean (render, TRUE));
  env_set (render, global, "none", value_null (render));
  env_set (render, global, "True", value_new_boolean (render, TRUE));
  env_set (render, global, "False", value_new_boolean (render, FALSE));
  env_set (render, global, "None", value_null (render));
}

/**
 * llm_template_render:
 * @self: a template
 * @variables: (nullable): the variables the template sees, as JSON
 * @error: return location for a #GError
 *
 * Renders the template. A variable may not take the name of a global
 * (true, none, namespace, range, …), as in the reference.
 *
 * Returns: (transfer full) (nullable): the text, or %NULL with an error in
 *   %LLM_TEMPLATE_ERROR naming the line and column in the template.
 */
char *
llm_template_render (LlmTemplate  *self,
                     JsonObject   *variables,
                     GError      **error)
{
  g_auto(Render) render = {
    .tree = self->tree,
    .limits = self->limits,
  };
  g_autoptr(GError) local_error = NULL;
  Env *global;
  Value *result;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  render.values = g_ptr_array_new_with_free_func (value_free);
  render.envs = g_ptr_array_new_with_free_func (env_free);
  global = env_new (&render, NULL);
  declare_globals (&render, global);

  if (variables != NULL)
    {
      g_autoptr(GList) members = json_object_get_members (variables);

      for (GList *l = members; l != NULL; l = l->next)
        {
          const char *name = l->data;
          Value *value;

          if (map_get (global->variables, name, strlen (name)) != NULL)
            {
              g_set_error (error, LLM_TEMPLATE_ERROR, LLM_TEMPLATE_ERROR_INVALID,
                           "the variable “%s” is already declared by the template engine", name);
              return NULL;
            }
          value = value_from_json (&render, json_object_get_member (variables, name), 0, error);
          if (value == NULL)
            return NULL;
          env_set (&render, global, name, value);
        }
    }

  result = evaluate_block (&render, self->tree->body, global, &local_error);
  if (result == NULL)
    {
      if (local_error->domain == CONTROL_QUARK)
        {
          render_error (&render, render.control, error, LLM_TEMPLATE_ERROR_RENDER,
                        "“%s” outside of a loop", local_error->message);
          return NULL;
        }
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }
  return g_strndup (result->string.data, result->string.len);
}

/* ---- chat templates of models ------------------------------------------ */

static JsonNode *
load_json_file (const char  *path,
                GError     **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();

  if (!json_parser_load_from_file (parser, path, error))
    {
      g_prefix_error (error, "%s: ", path);
      return NULL;
    }
  return json_node_copy (json_parser_get_root (parser));
}

/**
 * llm_chat_template_dup_source:
 * @model_dir: a Hugging Face model folder (tokenizer files are enough)
 * @request: (nullable): the request, which picks the "tool_use" template of
 *   a list when it has tools, as transformers does
 * @name: (out) (optional): what messages should call the template
 * @error: return location for a #GError
 *
 * Finds a model's chat template: chat_template.jinja beside the tokenizer
 * files if there is one (newer repositories), else tokenizer_config.json's
 * chat_template: a string, or a list of {name, template}.
 *
 * Returns: (transfer full) (nullable): the template source
 */
char *
llm_chat_template_dup_source (const char  *model_dir,
                              JsonObject  *request,
                              char       **name,
                              GError     **error)
{
  g_autofree char *jinja_path = g_build_filename (model_dir, "chat_template.jinja", NULL);
  g_autofree char *config_path = g_build_filename (model_dir, "tokenizer_config.json", NULL);
  g_autoptr(JsonNode) root = NULL;
  JsonNode *template;
  JsonObject *config;

  g_return_val_if_fail (model_dir != NULL, NULL);

  if (!g_file_test (model_dir, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT, "%s is not a folder", model_dir);
      return NULL;
    }
  if (g_file_test (jinja_path, G_FILE_TEST_EXISTS))
    {
      char *source = NULL;

      if (!g_file_get_contents (jinja_path, &source, NULL, error))
        return NULL;
      if (name != NULL)
        *name = g_strdup ("chat_template.jinja");
      return source;
    }

  if (!g_file_test (config_path, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, LLM_TEMPLATE_ERROR, LLM_TEMPLATE_ERROR_NO_TEMPLATE,
                   "%s has no chat template: neither tokenizer_config.json nor chat_template.jinja",
                   model_dir);
      return NULL;
    }
  if ((root = load_json_file (config_path, error)) == NULL)
    return NULL;
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, LLM_TEMPLATE_ERROR, LLM_TEMPLATE_ERROR_INVALID,
                   "%s: not a JSON object", config_path);
      return NULL;
    }
  config = json_node_get_object (root);
  template = json_object_get_member (config, "chat_template");
  if (template == NULL || JSON_NODE_HOLDS_NULL (template))
    {
      g_set_error (error, LLM_TEMPLATE_ERROR, LLM_TEMPLATE_ERROR_NO_TEMPLATE,
                   "%s has no chat_template, and there is no chat_template.jinja beside it",
                   config_path);
      return NULL;
    }

  if (JSON_NODE_HOLDS_VALUE (template) && json_node_get_value_type (template) == G_TYPE_STRING)
    {
      if (name != NULL)
        *name = g_strdup ("chat_template");
      return g_strdup (json_node_get_string (template));
    }

  if (JSON_NODE_HOLDS_ARRAY (template))
    {
      JsonArray *list = json_node_get_array (template);
      JsonNode *tools = request != NULL ? json_object_get_member (request, "tools") : NULL;
      gboolean has_tools = tools != NULL && !JSON_NODE_HOLDS_NULL (tools);
      const char *wanted[] = { has_tools ? "tool_use" : "default", "default" };
      g_autoptr(GString) names = g_string_new (NULL);

      for (guint i = 0; i < json_array_get_length (list); i++)
        {
          JsonNode *entry = json_array_get_element (list, i);
          JsonObject *object = JSON_NODE_HOLDS_OBJECT (entry) ? json_node_get_object (entry) : NULL;

          if (object == NULL ||
              json_object_get_string_member_with_default (object, "name", NULL) == NULL ||
              json_object_get_string_member_with_default (object, "template", NULL) == NULL)
            {
              g_set_error (error, LLM_TEMPLATE_ERROR, LLM_TEMPLATE_ERROR_INVALID,
                           "%s: chat_template[%u] is not a {\"name\", \"template\"} object",
                           config_path, i);
              return NULL;
            }
          g_string_append_printf (names, "%s“%s”", names->len > 0 ? ", " : "",
                                  json_object_get_string_member (object, "name"));
        }

      for (guint w = 0; w < G_N_ELEMENTS (wanted); w++)
        for (guint i = 0; i < json_array_get_length (list); i++)
          {
            JsonObject *object = json_array_get_object_element (list, i);
            const char *entry_name = json_object_get_string_member (object, "name");

            if (g_str_equal (entry_name, wanted[w]))
              {
                if (name != NULL)
                  *name = g_strdup_printf ("chat_template[%s]", entry_name);
                return g_strdup (json_object_get_string_member (object, "template"));
              }
          }
      g_set_error (error, LLM_TEMPLATE_ERROR, LLM_TEMPLATE_ERROR_NO_TEMPLATE,
                   "%s: chat_template has no “default” template (it has %s)", config_path,
                   names->len > 0 ? names->str : "none");
      return NULL;
    }

  g_set_error (error, LLM_TEMPLATE_ERROR, LLM_TEMPLATE_ERROR_INVALID,
               "%s: chat_template is neither a string nor a list of templates", config_path);
  return NULL;
}

/* A special token of tokenizer_config.json: a string or {"content": …}. */
static const char *
special_token (JsonObject *config,
               const char *key)
{
  JsonNode *node = json_object_get_member (config, key);

  if (node == NULL)
    return NULL;
  if (JSON_NODE_HOLDS_VALUE (node) && json_node_get_value_type (node) == G_TYPE_STRING)
    return json_node_get_string (node);
  if (JSON_NODE_HOLDS_OBJECT (node))
    return json_object_get_string_member_with_default (json_node_get_object (node), "content",
                                                       NULL);
  return NULL;
}

/**
 * llm_chat_template_render_for_model:
 * @model_dir: a Hugging Face model folder (tokenizer files are enough)
 * @request: the request: {"messages": […], "add_generation_prompt": true, …}
 * @error: return location for a #GError
 *
 * Renders a conversation with the model's own chat template, as
 * `tokenizer.apply_chat_template (…, tokenize=False)` does: every key of
 * the request is a variable, and so are the special tokens of
 * tokenizer_config.json (bos_token, eos_token, unk_token, pad_token) that the
 * request does not set itself.
 *
 * Returns: (transfer full) (nullable): the prompt
 */
char *
llm_chat_template_render_for_model (const char  *model_dir,
                                    JsonObject  *request,
                                    GError     **error)
{
  static const char * const special_tokens[] = {
    "bos_token", "eos_token", "unk_token", "pad_token",
  };
  g_autofree char *config_path = g_build_filename (model_dir, "tokenizer_config.json", NULL);
  g_autofree char *name = NULL;
  g_autofree char *source = NULL;
  g_autoptr(LlmTemplate) template = NULL;
  g_autoptr(JsonObject) variables = json_object_new ();
  g_autoptr(JsonNode) config = NULL;

  g_return_val_if_fail (model_dir != NULL, NULL);
  g_return_val_if_fail (request != NULL, NULL);

  if ((source = llm_chat_template_dup_source (model_dir, request, &name, error)) == NULL)
    return NULL;
  if ((template = llm_template_new (source, name, error)) == NULL)
    return NULL;

  if (g_file_test (config_path, G_FILE_TEST_EXISTS))
    {
      if ((config = load_json_file (config_path, error)) == NULL)
        return NULL;
      for (guint i = 0; JSON_NODE_HOLDS_OBJECT (config) && i < G_N_ELEMENTS (special_tokens); i++)
        {
          const char *token = special_token (json_node_get_object (config), special_tokens[i]);

          if (token != NULL && !json_object_has_member (request, special_tokens[i]))
            json_object_set_string_member (variables, special_tokens[i], token);
        }
    }

  {
    g_autoptr(GList) members = json_object_get_members (request);

    for (GList *l = members; l != NULL; l = l->next)
      json_object_set_member (variables, l->data,
                              json_node_copy (json_object_get_member (request, l->data)));
  }

  return llm_template_render (template, variables, error);
}

/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include "llm-template.h"

G_BEGIN_DECLS

/* The pieces of the template engine shared by its files:
 *   llm-template-parse.c  the source → tokens → syntax tree
 *   llm-template-value.c  the values and their JavaScript-exact text forms
 *   llm-template.c        the interpreter, the filters and the public API */

/* ---- syntax tree ------------------------------------------------------- */

typedef enum
{
  /* statements */
  NODE_TEXT,             /* str: text between tags */
  NODE_COMMENT,
  NODE_IF,               /* a: test; body; alternate */
  NODE_FOR,              /* a: loop variable (identifier or tuple); b: iterable; body; alternate */
  NODE_BREAK,
  NODE_CONTINUE,
  NODE_SET,              /* a: assignee; b: value or NULL; body (block set) */
  NODE_MACRO,            /* a: name identifier; args; body */
  NODE_CALL_STATEMENT,   /* a: the call expression; args: caller parameters (NULL: none); body */
  NODE_FILTER_STATEMENT, /* a: filter (identifier or call); body */
  /* expressions */
  NODE_IDENTIFIER,       /* str */
  NODE_INTEGER,          /* number */
  NODE_FLOAT,            /* number */
  NODE_STRING,           /* str */
  NODE_ARRAY,            /* args */
  NODE_TUPLE,            /* args */
  NODE_OBJECT,           /* args: key, value, key, value… */
  NODE_MEMBER,           /* a: object; b: property; flag: computed ([…]) */
  NODE_CALL,             /* a: callee; args */
  NODE_BINARY,           /* op; a; b */
  NODE_UNARY,            /* op; a */
  NODE_FILTER,           /* a: operand; b: filter (identifier or call) */
  NODE_TEST,             /* a: operand; b: test identifier; flag: negated */
  NODE_SELECT,           /* a: value; b: test (a if b, without else) */
  NODE_TERNARY,          /* a: condition; b: if true; c: if false */
  NODE_SLICE,            /* a: start; b: stop; c: step (each may be NULL) */
  NODE_KEYWORD_ARGUMENT, /* a: key identifier; b: value */
  NODE_SPREAD,           /* a: *argument */
  NODE_KEYWORD_SPREAD,   /* a: **argument */
} NodeType;

typedef enum
{
  OP_OR, OP_AND, OP_NOT,
  OP_EQ, OP_NE, OP_LT, OP_GT, OP_LE, OP_GE, OP_IN, OP_NOT_IN,
  OP_ADD, OP_SUB, OP_CONCAT, OP_MUL, OP_DIV, OP_FLOOR_DIV, OP_MOD, OP_POW,
} Operator;

typedef struct _Node Node;

struct _Node
{
  NodeType type;
  gsize offset;        /* in the original source, for messages */
  Operator op;
  gboolean flag;
  char *str;           /* identifier, string or text; NUL-terminated, may hold NULs */
  gsize len;
  double number;
  Node *a, *b, *c;
  GPtrArray *args;     /* Node * */
  GPtrArray *body;     /* Node * */
  GPtrArray *alternate;
  guint depth;         /* of the subtree: 1 for a leaf */
  /* For macros and call blocks, whether the body reads kwargs / varargs:
   * worked out on first use. */
  gboolean specials_known;
  gboolean uses_kwargs;
  gboolean uses_varargs;
};

typedef struct
{
  char *name;
  char *source;        /* as given */
  GPtrArray *nodes;    /* every Node, owned */
  GPtrArray *body;     /* the top-level statements */
} TemplateTree;

/* Whether a macro or call block body reads kwargs / varargs without
 * declaring them, as findAccessedSpecialMacroArguments() of the reference. */
void          template_find_special_arguments (Node *node);

TemplateTree *template_tree_parse (const char  *source,
                                   gsize        length,
                                   const char  *name,
                                   GError     **error);
void          template_tree_free  (TemplateTree *tree);
/* "name:line:column" of an offset in the source. */
char         *template_tree_dup_position (const TemplateTree *tree,
                                          gsize               offset);

/* ---- values ------------------------------------------------------------ */

typedef enum
{
  VALUE_UNDEFINED,
  VALUE_NULL,
  VALUE_BOOLEAN,
  VALUE_INTEGER,   /* a JavaScript number known to be integral (or ±∞, NaN from arithmetic) */
  VALUE_FLOAT,
  VALUE_STRING,
  VALUE_ARRAY,
  VALUE_TUPLE,
  VALUE_OBJECT,
  VALUE_KWARGS,    /* keyword arguments of a call: an object */
  VALUE_NAMESPACE,
  VALUE_FUNCTION,
} ValueType;

typedef enum
{
  FUNCTION_NAMESPACE,
  FUNCTION_RAISE_EXCEPTION,
  FUNCTION_RANGE,
  FUNCTION_STRFTIME_NOW,
  FUNCTION_MACRO,
  FUNCTION_CALLER,
  /* string methods */
  FUNCTION_STR_UPPER,
  FUNCTION_STR_LOWER,
  FUNCTION_STR_STRIP,
  FUNCTION_STR_TITLE,
  FUNCTION_STR_CAPITALIZE,
  FUNCTION_STR_RSTRIP,
  FUNCTION_STR_LSTRIP,
  FUNCTION_STR_STARTSWITH,
  FUNCTION_STR_ENDSWITH,
  FUNCTION_STR_SPLIT,
  FUNCTION_STR_REPLACE,
  /* object methods */
  FUNCTION_OBJ_GET,
  FUNCTION_OBJ_ITEMS,
  FUNCTION_OBJ_KEYS,
  FUNCTION_OBJ_VALUES,
  FUNCTION_OBJ_DICTSORT,
} FunctionKind;

typedef struct _Value Value;
typedef struct _Map Map;
typedef struct _Env Env;

struct _Value
{
  ValueType type;
  union
  {
    gboolean boolean;
    double number;
    struct
    {
      char *data;    /* UTF-8, NUL-terminated, may hold NULs */
      gsize len;
    } string;
    GPtrArray *items;  /* of Value *, for arrays and tuples */
    Map *map;          /* for objects, keyword arguments and namespaces */
    struct
    {
      FunctionKind kind;
      Value *self;       /* the string or object of a method */
      const Node *node;  /* the macro or call block */
      Env *env;          /* where a call block was written */
    } function;
  };
};

/* An insertion-ordered map from strings to values, like a JavaScript Map. */
struct _Map
{
  GPtrArray *keys;      /* Value * (strings) */
  GPtrArray *values;    /* Value * */
  GHashTable *index;    /* Value * key → position + 1 */
};

struct _Env
{
  Env *parent;
  Map *variables;
};

/* One rendering: every value and scope it makes lives until its end, which
 * also frees the cycles a namespace can make. */
typedef struct
{
  const TemplateTree *tree;
  LlmTemplateLimits limits;
  GPtrArray *values;    /* Value *, owned */
  GPtrArray *envs;      /* Env *, owned */
  Value *undefined;
  Value *null;
  Value *namespace_function;
  guint64 steps;
  guint depth;
  const Node *control;    /* the break or continue travelling up */
  const GError *located;  /* the error that already names its position */
} Render;

static inline gboolean
value_is_array (const Value *value)
{
  return value->type == VALUE_ARRAY || value->type == VALUE_TUPLE;
}

/* `instanceof ObjectValue` */
static inline gboolean
value_is_object (const Value *value)
{
  return value->type == VALUE_OBJECT || value->type == VALUE_KWARGS;
}

static inline gboolean
value_is_number (const Value *value)
{
  return value->type == VALUE_INTEGER || value->type == VALUE_FLOAT;
}

static inline gboolean
value_is_attribute_container (const Value *value)
{
  return value_is_object (value) || value->type == VALUE_NAMESPACE;
}

void        value_free           (gpointer     value);
void        env_free             (gpointer     env);
Value      *value_new            (Render      *render,
                                  ValueType    type);
Value      *value_new_boolean    (Render      *render,
                                  gboolean     boolean);
Value      *value_new_number     (Render      *render,
                                  ValueType    type,
                                  double       number);
Value      *value_new_string     (Render      *render,
                                  const char  *data,
                                  gsize        len);
Value      *value_new_string_take (Render     *render,
                                   GString    *string);
Value      *value_new_array      (Render      *render,
                                  ValueType    type);
Value      *value_new_map        (Render      *render,
                                  ValueType    type);
Value      *value_new_function   (Render      *render,
                                  FunctionKind kind,
                                  Value       *self);
Value      *value_undefined      (Render      *render);
Value      *value_null           (Render      *render);
Value      *value_from_json      (Render      *render,
                                  JsonNode    *node,
                                  guint        depth,
                                  GError     **error);

Env        *env_new              (Render      *render,
                                  Env         *parent);
Value      *env_lookup           (Render      *render,
                                  Env         *env,
                                  const char  *name);
void        env_set              (Render      *render,
                                  Env         *env,
                                  const char  *name,
                                  Value       *value);

Value      *map_get              (Map         *map,
                                  const char  *key,
                                  gsize        len);
void        map_set              (Render      *render,
                                  Map         *map,
                                  const char  *key,
                                  gsize        len,
                                  Value       *value);
gboolean    map_remove           (Map         *map,
                                  const char  *key,
                                  gsize        len);
guint       map_size             (Map         *map);

gboolean    value_truthy         (const Value *value);
const char *value_type_name      (const Value *value);

/* JavaScript's text forms: `String(v.value)` (what + and ~ and join use),
 * the RuntimeValue's toString() (what {{ }} prints) and toJSON. Each fails
 * only on what JavaScript would print as source code, or on the limits. */
gboolean    value_append_raw     (Render      *render,
                                  GString     *out,
                                  const Value *value,
                                  guint        depth,
                                  GError     **error);
gboolean    value_append_display (Render      *render,
                                  GString     *out,
                                  const Value *value,
                                  GError     **error);

typedef struct
{
  int indent;              /* 0: none */
  gboolean ensure_ascii;
  gboolean sort_keys;
  const char *item_separator;  /* NULL: the default */
  const char *key_separator;
} JsonOptions;

gboolean    value_append_json    (Render            *render,
                                  GString           *out,
                                  const Value       *value,
                                  const JsonOptions *options,
                                  guint              depth,
                                  gboolean           undefined_to_null,
                                  GError           **error);

gboolean    value_loose_equals   (Render      *render,
                                  const Value *a,
                                  const Value *b);
gboolean    value_strict_equals  (const Value *a,
                                  const Value *b);
gboolean    value_same_value_zero (const Value *a,
                                   const Value *b);

/* ---- JavaScript strings and numbers over UTF-8 -------------------------- */

void        js_append_number     (GString     *out,
                                  double       number);
void        js_append_float      (GString     *out,
                                  double       number);
gsize       js_space_length      (const char  *s,
                                  gsize        len);
gsize       js_trim_start        (const char  *s,
                                  gsize        len);
gsize       js_trim_end          (const char  *s,
                                  gsize        len);
const char *js_find              (const char  *haystack,
                                  gsize        haystack_len,
                                  const char  *needle,
                                  gsize        needle_len);
gsize       js_utf16_length      (const char  *s,
                                  gsize        len);
int         js_compare_strings   (const char  *a,
                                  gsize        alen,
                                  const char  *b,
                                  gsize        blen);
void        js_append_upper      (GString     *out,
                                  const char  *s,
                                  gsize        len);
void        js_append_lower      (GString     *out,
                                  const char  *s,
                                  gsize        len);
void        js_append_title      (GString     *out,
                                  const char  *s,
                                  gsize        len);
double      js_parse_int         (const char  *s,
                                  gsize        len);
double      js_parse_float       (const char  *s,
                                  gsize        len);
double      js_string_to_number  (const char  *s,
                                  gsize        len);
double      js_to_integer        (double       number);
gunichar    js_next_char         (const char  *s,
                                  gsize        len,
                                  gsize       *i);
void        js_append_char       (GString     *out,
                                  gunichar     c);

G_END_DECLS

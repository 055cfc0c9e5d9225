/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-test-template"

#include "llm-template.h"

#include <string.h>
#include <glib/gstdio.h>

/* The chat template engine: its language, its errors and their positions,
 * its limits, how it finds a model's template, and — the point of it — every
 * real chat template × every conversation in tests/references/conversations
 * rendered byte for byte as @huggingface/jinja renders them. */

/* ---- the language ------------------------------------------------------ */

typedef struct
{
  const char *path;
  const char *source;
  const char *variables;   /* a JSON object */
  const char *expected;
} RenderCase;

/* Each expected text is what @huggingface/jinja 0.5.11 renders. */
static const RenderCase render_cases[] = {
  { "for/loop-variables",
    "{% for x in items %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ lo"
    "op.last }}{{ loop.length }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop."
    "previtem }}{{ x }};{% endfor %}",
    "{\"items\": [\"a\", \"b\", \"c\"]}",
    "10truefalse332a;21falsefalse321ab;32falsetrue310bc;" },
  { "for/else",
    "{% for x in [] %}x{% else %}empty{% endfor %}{% for x in [1] %}{{ x }}{% e"
    "lse %}no{% endfor %}",
    "{}",
    "empty1" },
  { "for/condition",
    "{% for x in items if x != 'b' %}{{ x }}{{ loop.index }}{{ loop.length }}{%"
    " endfor %}",
    "{\"items\": [\"a\", \"b\", \"c\"]}",
    "a12c22" },
  { "for/unpack",
    "{% for k, v in d.items() %}{{ k }}={{ v }},{% endfor %}{% for k, v in d|it"
    "ems %}{{ k }}{% endfor %}",
    "{\"d\": {\"b\": 1, \"a\": 2}}",
    "b=1,a=2,ba" },
  { "for/mapping",
    "{% for k in d %}{{ k }}{% endfor %}",
    "{\"d\": {\"b\": 1, \"a\": 2, \"7\": 0}}",
    "7ba" },
  { "for/break-continue",
    "{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i > "
    "4 %}{% break %}{% endif %}{{ i }}{% endfor %}",
    "{}",
    "0134" },
  { "for/nested-loop",
    "{% for a in [1, 2] %}{% for b in ['x', 'y'] %}{{ a }}{{ b }}{{ loop.index "
    "}}{% endfor %}{{ loop.index }} {% endfor %}",
    "{}",
    "1x11y21 2x12y22 " },
  { "if/elif-else",
    "{% for n in [1, 2, 3] %}{% if n == 1 %}one{% elif n == 2 %}two{% else %}ma"
    "ny{% endif %} {% endfor %}",
    "{}",
    "one two many " },
  { "set/block",
    "{% set x = 1 + 2 %}{% set y %}[{{ x }}]{% endset %}{{ y }}{{ y|length }}{%"
    " set a, b = [1, 2] %}{{ a }}{{ b }}",
    "{}",
    "[3]312" },
  { "set/scope",
    "{% set x = 'outer' %}{% for i in [1] %}{% set x = 'inner' %}{{ x }}{% endf"
    "or %}{{ x }}",
    "{}",
    "innerouter" },
  { "set/namespace",
    "{% set ns = namespace(count=0, seen=[]) %}{% for i in range(5) %}{% set ns"
    ".count = ns.count + i %}{% endfor %}{{ ns.count }} {{ ns }}",
    "{}",
    "10 {\"count\": 10, \"seen\": []}" },
  { "macro/defaults",
    "{% macro greet(name, punct='!') %}Hello {{ name }}{{ punct }}{% endmacro %"
    "}{{ greet('a') }} {{ greet('b', '?') }} {{ greet(name='c', punct='.') }}",
    "{}",
    "Hello a! Hello b? Hello c." },
  { "macro/recursion",
    "{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro "
    "%}{{ f(3) }}",
    "{}",
    "321" },
  { "macro/varargs-kwargs",
    "{% macro m(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, 3"
    ", k='v') }}",
    "{}",
    "1[2, 3]{\"k\": \"v\"}" },
  { "macro/call-block",
    "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{%"
    " call wrap('b') %}bold{% endcall %}",
    "{}",
    "<b>bold</b>" },
  { "macro/call-arguments",
    "{% macro each(items) %}{% for i in items %}{{ caller(i) }}{% endfor %}{% e"
    "ndmacro %}{% call(x) each([1, 2]) %}<{{ x }}>{% endcall %}",
    "{}",
    "<1><2>" },
  { "filter/block",
    "{% filter upper %}abc {{ 'd' }}{% endfilter %}",
    "{}",
    "ABC D" },
  { "literal/values",
    "{{ 'a\\n\\t\\'' }}|{{ \"x\\\"y\" }}|{{ 1.5 }}|{{ 2.0 }}|{{ -3 }}|{{ true }"
    "}|{{ none }}|{{ [1, 'a', none, true, 2.0] }}|{{ {'k': 1.0, 'l': [2]} }}|{{"
    " (1, 2)|length }}|{{ 'a' 'b' }}|{{ '\\u00e9\\x41' }}",
    "{}",
    "a\n\t'|x\"y|1.5|2.0|-3|true||[1, \"a\", null, true, 2]|{\"k\": 1, \"l\": ["
    "2]}|2|ab|éA" },
  { "literal/numbers",
    "{{ 100000000000000000000.0 }} {{ 1000000000000000000000.0 }} {{ 0.000001 }"
    "} {{ 0.0000001 }} {{ 123456789.123 }} {{ -0.0 }} {{ 5 / 0 }} {{ 1.0 * 3 }}"
    " {{ 2 ** 60 }} {{ 0.1 + 0.2 }} {{ 1 / 3 }}",
    "{}",
    "100000000000000000000.0 1e+21 0.000001 1e-7 123456789.123 -0.0 Infinity 3."
    "0 1152921504606847000 0.30000000000000004 0.3333333333333333" },
  { "operator/arithmetic",
    "{{ 7 // 2 }} {{ 7 / 2 }} {{ 7 % 3 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ -7 // "
    "2 }} {{ 1 + 2 * 3 - 4 }} {{ 7.5 // 2 }} {{ -7 % 3 }} {{ 3 - -2 }} {{ 2 * 3"
    " ** 2 }}",
    "{}",
    "3 3.5 1 1024 0.5 -4 3 3.0 -1 5 18" },
  { "operator/concatenation",
    "{{ 'a' + 'b' }} {{ 'a' ~ 1 ~ 2.0 ~ true }} {{ 'n' + 1.0 }} {{ [1, 2] ~ '' "
    "}} {{ [1, 2] + [3] }} {{ {} ~ '' }}",
    "{}",
    "ab a12true n1 1,2 [1, 2, 3] [object Map]" },
  { "operator/comparison",
    "{{ 1 < 2 }}{{ 2 <= 2 }}{{ 'a' == 'a' }}{{ 1 == 1.0 }}{{ 1 != 2 }}{{ 'b' in"
    " 'abc' }}{{ 'x' not in ['x'] }}{{ 'k' in {'k': 1} }}{{ none == none }}{{ u"
    "ndefined_var == none }}{{ 2 in [1, 2] }}",
    "{}",
    "truetruetruetruetruetruefalsetruetruetruetrue" },
  { "operator/loose-equality",
    "{{ 1 == true }}{{ '1' == 1 }}{{ '' == 0 }}{{ [] == [] }}{{ 'a' == ['a'] }}"
    "{{ x == x }}{{ x == y }}",
    "{\"x\": [1], \"y\": [1]}",
    "truetruetruefalsetruetruefalse" },
  { "operator/logic",
    "{{ 1 and 'x' }}|{{ 0 or [] }}|{{ not 0 }}|{{ [] or 'fallback' }}|{{ 'a' if"
    " false else 'b' }}|{{ 'yes' if 1 }}|{{ 'no' if 0 }}|{{ not false not true "
    "}}",
    "{}",
    "x|[]|true|fallback|b|yes||false" },
  { "operator/identity",
    "{% set l = items|selectattr('r', 'equalto', 'u')|list %}{% for m in items "
    "%}{{ m == l[-1] }}{% endfor %}",
    "{\"items\": [{\"r\": \"u\"}, {\"r\": \"a\"}, {\"r\": \"u\"}]}",
    "falsefalsetrue" },
  { "subscript/slices",
    "{{ 'hello'[1:3] }} {{ 'hello'[::-1] }} {{ [1, 2, 3, 4, 5][-2:] }} {{ [1, 2"
    ", 3, 4, 5][::2] }} {{ [1, 2, 3][5:] }} {{ 'héllo😀'[-2:] }} {{ x[1] }} {{ x"
    "[-1] }} {{ x[7] }} {{ [1, 2, 3, 4][3:0:-1] }} {{ 'abc'[1] }}",
    "{\"x\": [10, 20, 30]}",
    "el olleh [4, 5] [1, 3, 5] [] o😀 20 30  [4, 3, 2] b" },
  { "subscript/attributes",
    "{{ d.a }} {{ d['a'] }} {{ d.missing }} {{ d.missing.deeper }} {{ d.n.0 }} "
    "{{ 'abc'.length }} {{ [1, 2].length }}",
    "{\"d\": {\"a\": \"A\", \"n\": [5, 6]}}",
    "A A   5 3 2" },
  { "filter/strings",
    "{{ '  pad  '|trim }}|{{ 'abc'|upper }}|{{ 'ABC'|lower }}|{{ 'hello world-f"
    "oo'|title }}|{{ 'hELLO'|capitalize }}|{{ 'a\n"
    "b\n\nc'|indent }}|{{ 'a\nb'|indent(2, true) }}|{{ '42'|int }}|{{ '3.5'|flo"
    "at }}|{{ 'x'|int }}|{{ 'abc'|length }}|{{ 'a-b-c'|replace('-', '+') }}|{{ "
    "'aaa'|replace('a', 'b', 2) }}|{{ 'ab'|join('.') }}|{{ 'x'|string }}|{{ ' 1"
    "2abc'|int }}|{{ 'x'|int(7) }}",
    "{}",
    "pad|ABC|abc|Hello World-Foo|HELLO|a\n    b\n"
    "\n    c|  a\n  b|42|3.5|0|3|a+b+c|bba|a.b|x|12|7" },
  { "filter/numbers",
    "{{ -3|abs }} {{ -2.5|abs }} {{ 3.7|int }} {{ 3|float }} {{ 2.0|string }} {"
    "{ 5|string }} {{ true|int }} {{ false|string }} {{ 3.5|int(0) }}",
    "{}",
    "3 2.5 3 3.0 2.0 5 1 false 3.5" },
  { "filter/lists",
    "{{ [3, 1, 2]|sort }}|{{ ['b', 'A', 'c']|sort }}|{{ [3, 1, 2]|sort(reverse="
    "true) }}|{{ [1, 2, 3]|reverse }}|{{ [1, 2, 3]|first }}|{{ [1, 2, 3]|last }"
    "}|{{ [1, 2, 3]|length }}|{{ ['a', 'b']|join(', ') }}|{{ [1, 1, 2, '1']|uni"
    "que }}|{{ [1, 2]|list }}|{{ [1, 2]|string }}|{{ [1, none, 'x']|join }}",
    "{}",
    "[1, 2, 3]|[\"A\", \"b\", \"c\"]|[3, 2, 1]|[3, 2, 1]|1|3|3|a, b|[1, 2, \"1"
    "\"]|[1, 2]|[1, 2]|1x" },
  { "filter/attributes",
    "{{ users|map(attribute='name')|join(',') }}|{{ users|selectattr('admin')|m"
    "ap(attribute='name')|join(',') }}|{{ users|rejectattr('name', 'equalto', '"
    "bob')|length }}|{{ users|sort(attribute='age')|map(attribute='name')|join("
    "',') }}|{{ users|map(attribute='age', default=0)|list }}",
    "{\"users\": [{\"name\": \"bob\", \"age\": 30, \"admin\": true}, {\"name\":"
    " \"al\", \"age\": 20, \"admin\": false}, {\"name\": \"cy\", \"admin\": tru"
    "e, \"age\": 25}]}",
    "bob,al,cy|bob,cy|2|al,cy,bob|[30, 20, 25]" },
  { "filter/tojson",
    "{{ d|tojson }}|{{ d|tojson(indent=2) }}|{{ 'é\"\\n\\u0001'|tojson }}|{{ 'é"
    "😀'|tojson(ensure_ascii=true) }}|{{ [1.0, 1.5, none]|tojson }}|{{ undefined"
    "_var|tojson }}|{{ d|tojson(separators=(',', ':')) }}|{{ [[], {}]|tojson(in"
    "dent=4) }}|{{ d|tojson(indent=0) }}",
    "{\"d\": {\"2\": true, \"10\": \"ten\", \"z\": 1, \"a\": [1, {\"b\": null}]"
    "}}",
    "{\"2\": true, \"10\": \"ten\", \"z\": 1, \"a\": [1, {\"b\": null}]}|{\n"
    "  \"2\": true,\n  \"10\": \"ten\",\n  \"z\": 1,\n"
    "  \"a\": [\n    1,\n    {\n      \"b\": null\n"
    "    }\n  ]\n}|\"é\\\"\\n\\u0001\"|\"\\u00e9\\ud83d\\ude00\"|[1, 1.5, null]"
    "|null|{\"2\":true,\"10\":\"ten\",\"z\":1,\"a\":[1,{\"b\":null}]}|[\n"
    "    [],\n    {}\n]|{\"2\": true, \"10\": \"ten\", \"z\": 1, \"a\": [1, {\""
    "b\": null}]}" },
  { "filter/default",
    "{{ missing|default('d') }}|{{ ''|default('d') }}|{{ ''|default('d', true) "
    "}}|{{ none|default('d') }}",
    "{}",
    "d||d|" },
  { "filter/mappings",
    "{{ d|items }}|{{ d|dictsort }}|{{ d.keys() }}|{{ d.values() }}|{{ d.get('a"
    "') }}|{{ d.get('zz', 'none!') }}|{{ d.get('zz') }}|{{ d|length }}|{{ d.ite"
    "ms()|list }}",
    "{\"d\": {\"b\": 2, \"a\": 1}}",
    "[[\"b\", 2], [\"a\", 1]]|[[\"a\", 1], [\"b\", 2]]|[\"b\", \"a\"]|[2, 1]|1|"
    "none!||2|[[\"b\", 2], [\"a\", 1]]" },
  { "test/all",
    "{{ x is defined }}{{ y is undefined }}{{ none is none }}{{ 'a' is string }"
    "}{{ 1 is number }}{{ 1 is integer }}{{ 1.5 is integer }}{{ true is boolean"
    " }}{{ {} is mapping }}{{ [] is iterable }}{{ 'a' is iterable }}{{ 3 is odd"
    " }}{{ 4 is even }}{{ true is true }}{{ false is false }}{{ 'abc' is lower "
    "}}{{ 'ABC' is upper }}{{ x is not none }}{{ (1, 2) is sequence }}{{ range "
    "is callable }}",
    "{\"x\": 1}",
    "truetruetruetruetruetruefalsetruetruetruetruetruetruetruetruetruetruetruet"
    "ruetrue" },
  { "method/strings",
    "{{ s.startswith('He') }}{{ s.endswith(('x', 'ld')) }}|{{ s.split(' ') }}|{"
    "{ '  a  b '.split() }}|{{ 'a,b,c'.split(',', 1) }}|{{ s.replace('l', 'L') "
    "}}|{{ '  x  '.strip() }}|{{ '\n\nx\n'.lstrip('\n"
    "') }}|{{ 'x\n\n'.rstrip() }}|{{ s.upper() }}{{ s.lower() }}|{{ s.title() }"
    "}|{{ s.capitalize() }}|{{ 'a b c'.split(none, 1) }}",
    "{\"s\": \"Hello world\"}",
    "truetrue|[\"Hello\", \"world\"]|[\"a\", \"b\"]|[\"a\", \"b,c\"]|HeLLo worL"
    "d|x|x\n|x|HELLO WORLDhello world|Hello World|Hello world|[\"a\", \"b c\"]" },
  { "whitespace/control",
    "a  {{- 'b' -}}  c\n{%- if true %}\n  d\n{%- endif %}\n"
    "  {# comment #}\ne {#- trimmed -#} f",
    "{}",
    "abc  def" },
  { "whitespace/blocks",
    "<ul>\n  {% for x in [1, 2] %}\n    <li>{{ x }}</li>\n"
    "  {% endfor %}\n</ul>\n",
    "{}",
    "<ul>\n    <li>1</li>\n    <li>2</li>\n</ul>" },
  { "whitespace/generation",
    "{% generation %}gen{% endgeneration %} and {%- generation -%} x {%- endgen"
    "eration -%} y",
    "{}",
    "gen andxy" },
  { "unicode/case",
    "{{ 'straße'|upper }} {{ 'ΟΔΟΣ'|lower }} {{ 'İ'|lower|length }} {{ 'a😀b'|le"
    "ngth }} {{ 'a😀b'[3] }} {{ 'éa'|title }}",
    "{}",
    "STRASSE οδος 2 4 b éA" },
  { "global/range",
    "{{ range(3) }} {{ range(1, 7, 2) }} {{ range(5, 0, -2) }} {{ strftime_now "
    "is defined }}",
    "{}",
    "[0, 1, 2] [1, 3, 5] [5, 3, 1] true" },
};

static JsonObject *
parse_object (const char *json)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;

  json_parser_load_from_data (parser, json, -1, &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)));
  return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

static char *
render (const char  *source,
        const char  *variables,
        GError     **error)
{
  g_autoptr(LlmTemplate) template = llm_template_new (source, "template", error);
  g_autoptr(JsonObject) object = parse_object (variables != NULL ? variables : "{}");

  if (template == NULL)
    return NULL;
  return llm_template_render (template, object, error);
}

static void
test_render (gconstpointer data)
{
  const RenderCase *test = data;
  g_autoptr(GError) error = NULL;
  g_autofree char *output = render (test->source, test->variables, &error);

  g_assert_no_error (error);
  g_assert_cmpstr (output, ==, test->expected);
}

/* A template renders the same each time: nothing of one rendering stays. */
static void
test_render_twice (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(LlmTemplate) template =
    llm_template_new ("{% set ns = namespace(n=0) %}{% for m in messages %}"
                      "{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}{{ x is defined }}",
                      "template", &error);
  g_autoptr(JsonObject) first = parse_object ("{\"messages\": [1, 2, 3], \"x\": 1}");
  g_autoptr(JsonObject) second = parse_object ("{\"messages\": [1]}");
  g_autoptr(JsonObject) third = parse_object ("{\"messages\": []}");
  g_autofree char *a = NULL, *b = NULL, *c = NULL;

  g_assert_no_error (error);
  a = llm_template_render (template, first, &error);
  g_assert_no_error (error);
  b = llm_template_render (template, second, &error);
  g_assert_no_error (error);
  c = llm_template_render (template, third, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (a, ==, "3true");
  g_assert_cmpstr (b, ==, "1false");
  g_assert_cmpstr (c, ==, "0false");
}

/* ---- errors ------------------------------------------------------------ */

typedef struct
{
  const char *path;
  const char *source;
  const char *variables;
  LlmTemplateError code;
  const char *message;
} ErrorCase;

static const ErrorCase error_cases[] = {
  { "syntax/unknown-statement", "Hello\n{% frobnicate %}", NULL, LLM_TEMPLATE_ERROR_SYNTAX,
    "template:2:4: unknown statement “frobnicate”" },
  { "syntax/unclosed-if", "{% if x %}\nnever closed", NULL, LLM_TEMPLATE_ERROR_SYNTAX,
    "template:2:13: the “if” block of template:1:4 is not closed: “{% endif %}” is missing" },
  { "syntax/unclosed-for", "{% for m in messages %}{{ m }}{% else %}", NULL,
    LLM_TEMPLATE_ERROR_SYNTAX,
    "template:1:41: the “for” block of template:1:4 is not closed: “{% endfor %}” is missing" },
  { "syntax/mismatched-end", "{% if x %}a{% endfor %}", NULL, LLM_TEMPLATE_ERROR_SYNTAX,
    "template:1:15: unknown statement “endfor”" },
  { "syntax/unclosed-expression", "{{ name ", NULL, LLM_TEMPLATE_ERROR_SYNTAX,
    "template:1:9: unexpected end of template" },
  { "syntax/unterminated-string", "{{ 'abc }}", NULL, LLM_TEMPLATE_ERROR_SYNTAX,
    "template:1:11: unterminated string" },
  { "syntax/bad-character", "{{ a ? b }}", NULL, LLM_TEMPLATE_ERROR_SYNTAX,
    "template:1:6: unexpected character “?”" },
  { "syntax/bad-escape", "{{ 'a\\qb' }}", NULL, LLM_TEMPLATE_ERROR_SYNTAX,
    "template:1:6: unknown escape sequence “\\q”" },
  { "syntax/unclosed-comment", "text {# never closed", NULL, LLM_TEMPLATE_ERROR_SYNTAX,
    "template:1:19: missing end of comment tag “#}”" },
  { "syntax/trailing-tokens", "{{ 'a' b }}", NULL, LLM_TEMPLATE_ERROR_SYNTAX,
    "template:1:8: expected “}}”, found name" },
  { "syntax/missing-operand", "\n\n  {{ 1 + }}", NULL, LLM_TEMPLATE_ERROR_SYNTAX,
    "template:3:10: unexpected “}}”" },
  { "syntax/bad-loop-variable", "{% for 1 in x %}{% endfor %}", NULL, LLM_TEMPLATE_ERROR_SYNTAX,
    "template:1:10: expected a name or a tuple of names for the loop variable" },
  { "syntax/not-utf8", "ok\n\xff", NULL, LLM_TEMPLATE_ERROR_SYNTAX,
    "template:2:1: the template is not valid UTF-8 text" },
  { "render/unknown-filter", "line one\n{{ x | foo }}", NULL, LLM_TEMPLATE_ERROR_RENDER,
    "template:2:8: unknown filter “foo”" },
  { "render/unsupported-filter", "{{ [1, 2] | reject('odd') }}", NULL, LLM_TEMPLATE_ERROR_RENDER,
    "template:1:13: unknown filter “reject”" },
  { "render/filter-type", "{{ 5 | upper }}", NULL, LLM_TEMPLATE_ERROR_RENDER,
    "template:1:8: the filter “upper” does not apply to an integer" },
  { "render/default-without-call", "{{ missing | default }}", NULL, LLM_TEMPLATE_ERROR_RENDER,
    "template:1:14: the filter “default” does not apply to an undefined value" },
  { "render/unknown-test", "{{ x is frob }}", NULL, LLM_TEMPLATE_ERROR_RENDER,
    "template:1:9: unknown test “frob”" },
  { "render/undefined-operand", "{{ x + 1 }}", NULL, LLM_TEMPLATE_ERROR_RENDER,
    "template:1:6: cannot apply “+” to an undefined value" },
  { "render/none-operand", "{{ none ~ 'a' }}", NULL, LLM_TEMPLATE_ERROR_RENDER,
    "template:1:9: cannot apply “~” to none" },
  { "render/null-content", "{{ '</think>' in m.content }}", "{\"m\": {\"content\": null}}",
    LLM_TEMPLATE_ERROR_RENDER, "template:1:15: cannot apply “in” to none" },
  { "render/loop-over-integer", "{% for x in 5 %}{% endfor %}", NULL, LLM_TEMPLATE_ERROR_RENDER,
    "template:1:13: cannot loop over an integer" },
  { "render/loop-over-string", "{% for c in 'abc' %}{% endfor %}", NULL, LLM_TEMPLATE_ERROR_RENDER,
    "template:1:13: cannot loop over a string" },
  { "render/call-undefined", "{{ x.y() }}", NULL, LLM_TEMPLATE_ERROR_RENDER,
    "template:1:5: cannot call an undefined value" },
  { "render/raise-exception",
    "{% if true %}\n  {{ raise_exception('Bad ' ~ 'input') }}\n{% endif %}", NULL,
    LLM_TEMPLATE_ERROR_RAISED, "template:2:6: Bad input" },
  { "render/break-outside-loop", "a{% break %}", NULL, LLM_TEMPLATE_ERROR_RENDER,
    "template:1:5: “break” outside of a loop" },
  { "render/first-of-empty", "{{ [] | first }}", NULL, LLM_TEMPLATE_ERROR_RENDER,
    "template:1:9: “first” of an empty list" },
  { "render/tuple-to-json", "{{ (1, 2) }}", NULL, LLM_TEMPLATE_ERROR_RENDER,
    "template:1:5: a tuple cannot be turned into JSON" },
  { "render/compare-types", "{{ [1, 'a'] | sort }}", NULL, LLM_TEMPLATE_ERROR_RENDER,
    "template:1:15: cannot compare a string with an integer" },
  { "render/set-attribute", "{% set d = {} %}{% set d.x = 1 %}", NULL, LLM_TEMPLATE_ERROR_RENDER,
    "template:1:25: cannot set an attribute of a mapping, only of a namespace" },
  { "render/macro-arguments", "{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}", NULL,
    LLM_TEMPLATE_ERROR_RENDER, "template:1:34: macro 'm' takes at most 1 argument(s)" },
  { "render/print-function", "{{ 'a'.upper }}", NULL, LLM_TEMPLATE_ERROR_RENDER,
    "template:1:7: a function cannot be turned into text" },
  { "render/declared-variable", "{{ true }}", "{\"true\": 1}", LLM_TEMPLATE_ERROR_INVALID,
    "the variable “true” is already declared by the template engine" },
  { "limit/recursion", "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", NULL,
    LLM_TEMPLATE_ERROR_LIMIT, NULL },
  { "limit/cycle", "{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}", NULL,
    LLM_TEMPLATE_ERROR_LIMIT, NULL },
  { "limit/length", "{% set ns = namespace(s='x') %}{% for i in range(100) %}"
    "{% set ns.s = ns.s ~ ns.s %}{% endfor %}", NULL, LLM_TEMPLATE_ERROR_LIMIT, NULL },
  { "limit/nesting", "{{ ((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((("
    "((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((("
    "((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((("
    "((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((("
    "1 }}", NULL, LLM_TEMPLATE_ERROR_SYNTAX, NULL },
};

static void
test_error (gconstpointer data)
{
  const ErrorCase *test = data;
  g_autoptr(GError) error = NULL;
  g_autofree char *output = render (test->source, test->variables, &error);

  g_assert_null (output);
  g_assert_error (error, LLM_TEMPLATE_ERROR, (int) test->code);
  if (test->message != NULL)
    g_assert_cmpstr (error->message, ==, test->message);
  g_test_message ("%s", error->message);
}

/* Loops end at the step limit, however they nest. */
static void
test_limit_steps (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(LlmTemplate) template =
    llm_template_new ("{% for i in range(1000) %}{% for j in range(1000) %}"
                      "{% for k in range(1000) %}{% endfor %}{% endfor %}{% endfor %}",
                      "template", &error);
  LlmTemplateLimits limits;
  g_autofree char *output = NULL;

  g_assert_no_error (error);
  llm_template_get_limits (template, &limits);
  limits.max_steps = 100000;
  llm_template_set_limits (template, &limits);
  output = llm_template_render (template, NULL, &error);
  g_assert_null (output);
  g_assert_error (error, LLM_TEMPLATE_ERROR, LLM_TEMPLATE_ERROR_LIMIT);
}

/* ---- a model's template ------------------------------------------------ */

typedef struct
{
  char *dir;
} Fixture;

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;

  fixture->dir = g_dir_make_tmp ("llm-template-XXXXXX", &error);
  g_assert_no_error (error);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  user_data)
{
  g_autoptr(GDir) dir = g_dir_open (fixture->dir, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (fixture->dir, name, NULL);

      g_unlink (path);
    }
  g_rmdir (fixture->dir);
  g_free (fixture->dir);
}

static void
write_file (Fixture    *fixture,
            const char *name,
            const char *contents)
{
  g_autofree char *path = g_build_filename (fixture->dir, name, NULL);
  g_autoptr(GError) error = NULL;

  g_file_set_contents (path, contents, -1, &error);
  g_assert_no_error (error);
}

static char *
render_model (Fixture     *fixture,
              const char  *request,
              GError     **error)
{
  g_autoptr(JsonObject) object = parse_object (request);

  return llm_chat_template_render_for_model (fixture->dir, object, error);
}

static void
test_model_special_tokens (Fixture       *fixture,
                           gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *output = NULL;
  g_autofree char *overridden = NULL;

  write_file (fixture, "tokenizer_config.json",
              "{\"chat_template\": \"{{ bos_token }}{{ messages[0].content }}{{ eos_token }}"
              "|{{ unk_token is defined }}|{{ pad_token }}|{{ extra }}\","
              " \"bos_token\": {\"__type\": \"AddedToken\", \"content\": \"<s>\","
              " \"lstrip\": false},"
              " \"eos_token\": \"</s>\", \"unk_token\": null, \"pad_token\": \"<pad>\","
              " \"model_max_length\": 1000000000000000019884624838656}");
  output = render_model (fixture, "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}],"
                         " \"extra\": [1, 2]}", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (output, ==, "<s>hi</s>|false|<pad>|[1, 2]");

  overridden = render_model (fixture,
                             "{\"messages\": [{\"content\": \"x\"}], \"eos_token\": \"E\"}",
                             &error);
  g_assert_no_error (error);
  g_assert_cmpstr (overridden, ==, "<s>xE|false|<pad>|");
}

static void
test_model_template_list (Fixture       *fixture,
                          gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *plain = NULL, *with_tools = NULL, *null_tools = NULL, *missing = NULL;

  write_file (fixture, "tokenizer_config.json",
              "{\"chat_template\": [{\"name\": \"default\", \"template\": \"D{{ tools|length }}\"},"
              " {\"name\": \"tool_use\", \"template\": \"T{{ tools|length }}\"}]}");
  plain = render_model (fixture, "{\"messages\": [], \"tools\": []}", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (plain, ==, "T0");
  with_tools = render_model (fixture, "{\"tools\": [{}, {}]}", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (with_tools, ==, "T2");
  null_tools = render_model (fixture, "{\"tools\": null, \"messages\": []}", &error);
  g_assert_error (error, LLM_TEMPLATE_ERROR, LLM_TEMPLATE_ERROR_RENDER);
  g_clear_error (&error);
  g_assert_null (null_tools);

  write_file (fixture, "tokenizer_config.json",
              "{\"chat_template\": [{\"name\": \"rag\", \"template\": \"R\"}]}");
  missing = render_model (fixture, "{\"messages\": []}", &error);
  g_assert_error (error, LLM_TEMPLATE_ERROR, LLM_TEMPLATE_ERROR_NO_TEMPLATE);
  g_assert_nonnull (strstr (error->message, "“rag”"));
  g_assert_null (missing);
}

static void
test_model_jinja_file (Fixture       *fixture,
                       gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *output = NULL;

  write_file (fixture, "tokenizer_config.json",
              "{\"chat_template\": \"from the config\", \"bos_token\": \"<|b|>\"}");
  write_file (fixture, "chat_template.jinja", "{{ bos_token }}from the file\n");
  output = render_model (fixture, "{\"messages\": []}", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (output, ==, "<|b|>from the file");
}

static void
test_model_errors (Fixture       *fixture,
                   gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *none = NULL, *no_template = NULL, *bad_json = NULL, *bad_syntax = NULL;

  none = render_model (fixture, "{\"messages\": []}", &error);
  g_assert_error (error, LLM_TEMPLATE_ERROR, LLM_TEMPLATE_ERROR_NO_TEMPLATE);
  g_clear_error (&error);

  write_file (fixture, "tokenizer_config.json", "{\"bos_token\": \"<s>\"}");
  no_template = render_model (fixture, "{\"messages\": []}", &error);
  g_assert_error (error, LLM_TEMPLATE_ERROR, LLM_TEMPLATE_ERROR_NO_TEMPLATE);
  g_clear_error (&error);

  write_file (fixture, "tokenizer_config.json", "{\"chat_template\": ");
  bad_json = render_model (fixture, "{\"messages\": []}", &error);
  g_assert_nonnull (error);
  g_assert_true (g_str_has_prefix (error->message, fixture->dir));
  g_clear_error (&error);

  write_file (fixture, "tokenizer_config.json", "{\"chat_template\": \"{% if %}\"}");
  bad_syntax = render_model (fixture, "{\"messages\": []}", &error);
  g_assert_error (error, LLM_TEMPLATE_ERROR, LLM_TEMPLATE_ERROR_SYNTAX);
  g_assert_true (g_str_has_prefix (error->message, "chat_template:1:7: "));

  g_assert_null (none);
  g_assert_null (no_template);
  g_assert_null (bad_json);
  g_assert_null (bad_syntax);
}

/* ---- the reference ----------------------------------------------------- */

typedef struct
{
  JsonNode *root;       /* what render-template.mjs wrote */
  char *error;          /* why it could not be had */
  GHashTable *conversations;   /* file name → JsonObject */
} Reference;

static Reference reference;

static JsonNode *
load_json (const char  *path,
           GError     **error)
{
  g_autoptr(JsonParser) parser = json_parser_new ();

  if (!json_parser_load_from_file (parser, path, error))
    return NULL;
  return json_node_copy (json_parser_get_root (parser));
}

static const char *
shared_dir (void)
{
  const char *dir = g_getenv ("LLM_NODE_SHARED_DIR");
  g_autofree char *templates = NULL;

  if (dir == NULL)
    return NULL;
  templates = g_build_filename (dir, "chat-templates", "README.md", NULL);
  return g_file_test (templates, G_FILE_TEST_EXISTS) ? dir : NULL;
}

/* Runs the reference once, for every test that compares with it. A missing
 * node or reference fails those tests: it is never a skip. */
static gboolean
reference_load (void)
{
  const char *modules = g_getenv ("LLM_NODE_REFERENCES");
  g_autofree char *node = g_find_program_in_path ("node");
  g_autofree char *script = g_test_build_filename (G_TEST_DIST, "references",
                                                   "render-template.mjs", NULL);
  g_autofree char *conversations = g_test_build_filename (G_TEST_DIST, "references",
                                                          "conversations", NULL);
  g_autofree char *tmp = NULL;
  g_autofree char *out = NULL;
  g_autofree char *standard_error = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GDir) dir = NULL;
  const char *name;
  int status = 0;

  if (reference.root != NULL || reference.error != NULL)
    return reference.root != NULL;

  if (modules == NULL || !g_file_test (modules, G_FILE_TEST_IS_DIR))
    {
      reference.error = g_strdup_printf ("LLM_NODE_REFERENCES (%s) is not a folder: the npm "
                                         "references were not fetched",
                                         modules != NULL ? modules : "unset");
      return FALSE;
    }
  if (node == NULL)
    {
      reference.error = g_strdup ("node is not installed: sudo apt-get install nodejs");
      return FALSE;
    }

  tmp = g_dir_make_tmp ("llm-template-reference-XXXXXX", &error);
  g_assert_no_error (error);
  out = g_build_filename (tmp, "reference.json", NULL);
  {
    const char *argv[] = {
      node, script, modules, shared_dir () != NULL ? shared_dir () : "", conversations, out, NULL,
    };

    if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, NULL,
                       &standard_error, &status, &error) ||
        !g_spawn_check_wait_status (status, &error))
      {
        reference.error = g_strdup_printf ("render-template.mjs failed: %s\n%s", error->message,
                                           standard_error != NULL ? standard_error : "");
        return FALSE;
      }
  }
  reference.root = load_json (out, &error);
  g_assert_no_error (error);
  g_unlink (out);
  g_rmdir (tmp);

  reference.conversations = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                   (GDestroyNotify) json_object_unref);
  dir = g_dir_open (conversations, 0, &error);
  g_assert_no_error (error);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (conversations, name, NULL);
      g_autoptr(JsonNode) conversation = NULL;

      if (!g_str_has_suffix (name, ".json"))
        continue;
      conversation = load_json (path, &error);
      g_assert_no_error (error);
      g_assert_true (JSON_NODE_HOLDS_OBJECT (conversation));
      g_hash_table_insert (reference.conversations, g_strdup (name),
                           json_object_ref (json_node_get_object (conversation)));
    }
  return TRUE;
}

/* Where two prompts part, for the log. */
static void
describe_difference (const char *expected,
                     const char *actual)
{
  gsize i = 0;
  g_autofree char *expected_part = NULL, *actual_part = NULL;

  while (expected[i] != '\0' && expected[i] == actual[i])
    i++;
  expected_part = g_strescape (expected + (i > 20 ? i - 20 : 0), NULL);
  actual_part = g_strescape (actual + (i > 20 ? i - 20 : 0), NULL);
  if (strlen (expected_part) > 100)
    expected_part[100] = '\0';
  if (strlen (actual_part) > 100)
    actual_part[100] = '\0';
  g_test_message ("  first difference at byte %" G_GSIZE_FORMAT ":\n    reference: …%s\n"
                  "    llm-node:  …%s", i, expected_part, actual_part);
}

typedef struct
{
  guint compared, identical, both_raised, mismatches;
} Tally;

/* One result of the reference against ours: both rendered the same text,
 * or both refused. */
static void
compare_result (JsonObject *result,
                const char *template_name,
                char       *output,
                GError     *error,
                Tally      *tally)
{
  const char *conversation = json_object_get_string_member (result, "conversation");
  const char *expected = json_object_get_string_member_with_default (result, "output", NULL);
  const char *expected_error = json_object_get_string_member_with_default (result, "error", NULL);

  tally->compared++;
  if (expected != NULL && output != NULL && g_str_equal (expected, output))
    tally->identical++;
  else if (expected == NULL && output == NULL)
    {
      tally->both_raised++;
      g_test_message ("%s × %s: both refuse: reference “%s”, llm-node “%s”", template_name,
                      conversation, expected_error, error->message);
      /* A template's own exception carries the template's own message. */
      if (error->code == LLM_TEMPLATE_ERROR_RAISED && !g_str_has_suffix (error->message,
                                                                         expected_error))
        {
          tally->mismatches++;
          g_test_message ("MISMATCH %s × %s: the messages of raise_exception() differ",
                          template_name, conversation);
        }
    }
  else
    {
      tally->mismatches++;
      if (expected == NULL)
        g_test_message ("MISMATCH %s × %s: the reference refuses (%s), llm-node renders",
                        template_name, conversation, expected_error);
      else if (output == NULL)
        g_test_message ("MISMATCH %s × %s: llm-node refuses (%s), the reference renders",
                        template_name, conversation, error->message);
      else
        {
          g_test_message ("MISMATCH %s × %s: the prompts differ", template_name, conversation);
          describe_difference (expected, output);
        }
    }
}

static void
test_reference (gconstpointer data)
{
  const char *kind = data;
  JsonArray *templates;
  Tally tally = { 0, };
  guint n_templates = 0;

  if (!reference_load ())
    {
      g_test_fail_printf ("no reference to compare with: %s", reference.error);
      return;
    }
  if (g_str_equal (kind, "shared") && shared_dir () == NULL)
    {
      g_test_skip ("LLM_NODE_SHARED_DIR has no chat-templates/: the shared templates are "
                   "missing on this machine");
      return;
    }

  templates = json_object_get_array_member (json_node_get_object (reference.root), "templates");
  for (guint t = 0; t < json_array_get_length (templates); t++)
    {
      JsonObject *template_object = json_array_get_object_element (templates, t);
      const char *name = json_object_get_string_member (template_object, "name");
      JsonObject *special = json_object_get_object_member (template_object, "special_tokens");
      JsonArray *results = json_object_get_array_member (template_object, "results");
      g_autoptr(LlmTemplate) template = NULL;

      if (!g_str_equal (json_object_get_string_member (template_object, "kind"), kind))
        continue;
      n_templates++;

      if (g_str_equal (kind, "shared"))
        {
          g_autoptr(GError) error = NULL;

          template = llm_template_new (json_object_get_string_member (template_object, "source"),
                                       name, &error);
          g_assert_no_error (error);
        }

      for (guint r = 0; r < json_array_get_length (results); r++)
        {
          JsonObject *result = json_array_get_object_element (results, r);
          JsonObject *conversation =
            g_hash_table_lookup (reference.conversations,
                                 json_object_get_string_member (result, "conversation"));
          g_autoptr(GError) error = NULL;
          g_autofree char *output = NULL;

          g_assert_nonnull (conversation);
          if (template != NULL)
            {
              g_autoptr(JsonObject) variables = json_object_new ();
              g_autoptr(GList) tokens = json_object_get_members (special);
              g_autoptr(GList) keys = json_object_get_members (conversation);

              for (GList *l = tokens; l != NULL; l = l->next)
                json_object_set_member (variables, l->data,
                                        json_node_copy (json_object_get_member (special, l->data)));
              for (GList *l = keys; l != NULL; l = l->next)
                json_object_set_member (variables, l->data,
                                        json_node_copy (json_object_get_member (conversation,
                                                                                l->data)));
              output = llm_template_render (template, variables, &error);
            }
          else
            output = llm_chat_template_render_for_model (
              json_object_get_string_member (template_object, "model_dir"), conversation, &error);
          compare_result (result, name, output, error, &tally);
        }
    }

  g_test_message ("%u templates × %u conversations: %u compared, %u identical, %u refused by "
                  "both, %u mismatches", n_templates,
                  g_hash_table_size (reference.conversations), tally.compared, tally.identical,
                  tally.both_raised, tally.mismatches);
  g_assert_cmpuint (n_templates, >, 0);
  g_assert_cmpuint (tally.compared, ==, n_templates * g_hash_table_size (reference.conversations));
  g_assert_cmpuint (tally.mismatches, ==, 0);
}

int
main (int   argc,
      char *argv[])
{
  int status;

  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (render_cases); i++)
    {
      g_autofree char *path = g_strconcat ("/llm/template/render/", render_cases[i].path, NULL);

      g_test_add_data_func (path, &render_cases[i], test_render);
    }
  g_test_add_func ("/llm/template/render/twice", test_render_twice);

  for (guint i = 0; i < G_N_ELEMENTS (error_cases); i++)
    {
      g_autofree char *path = g_strconcat ("/llm/template/error/", error_cases[i].path, NULL);

      g_test_add_data_func (path, &error_cases[i], test_error);
    }
  g_test_add_func ("/llm/template/error/limit/steps", test_limit_steps);

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/llm/template/model/special-tokens", test_model_special_tokens);
  ADD ("/llm/template/model/template-list", test_model_template_list);
  ADD ("/llm/template/model/jinja-file", test_model_jinja_file);
  ADD ("/llm/template/model/errors", test_model_errors);
#undef ADD

  g_test_add_data_func ("/llm/template/reference/shared-templates", "shared", test_reference);
  g_test_add_data_func ("/llm/template/reference/model-templates", "model", test_reference);

  status = g_test_run ();
  g_clear_pointer (&reference.root, json_node_unref);
  g_clear_pointer (&reference.conversations, g_hash_table_unref);
  g_free (reference.error);
  return status;
}

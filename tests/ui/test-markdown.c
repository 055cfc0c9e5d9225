/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <string.h>

#include <adwaita.h>

#include "llm-markdown.h"
#include "llm-markdown-view.h"
#include "llm-test-ui.h"

/* The markdown of chat answers: the parser, which needs no display, then the
 * view that shows its blocks as widgets, in a real X server (Xvfb). */

/* An answer as models write them, about 700 bytes: headings, emphasis,
 * code, links, nested lists, a quote, code blocks and a rule. */
static const char sample_answer[] =
  "## Building the project\n"
  "\n"
  "To build it, you need **Meson** and *Ninja*, with `libgtk-4-dev` installed. See "
  "[the Meson manual](https://mesonbuild.com/) for details, or https://ninja-build.org.\n"
  "\n"
  "1. Install the dependencies:\n"
  "   ```sh\n"
  "   sudo apt-get install meson ninja-build libgtk-4-dev libadwaita-1-dev\n"
  "   ```\n"
  "2. Configure the build with `meson setup build`.\n"
  "3. Compile it: `ninja -C build`.\n"
  "\n"
  "- Faster than ~~make~~ with ninja\n"
  "- Nested items:\n"
  "  - one with **bold** and `code`\n"
  "  - one with _emphasis_ & <angle> brackets\n"
  "\n"
  "> **Note:** a quote, whose text\n"
  "> spans two lines.\n"
  "\n"
  "```c\n"
  "int\n"
  "main (int argc, char *argv[])\n"
  "{\n"
  "  return argc > 1 && argv[1][0] == '<' ? 1 : 0;\n"
  "}\n"
  "```\n"
  "\n"
  "---\n"
  "\n"
  "That is all: the build takes *under a minute*.\n";

/* Markup as GtkLabel takes it: well-formed, its `<a href>` links neither
 * nested nor left open, and the rest Pango markup. */
static void
assert_valid_markup (const char *markup)
{
  static const GMarkupParser no_parser = { NULL, };
  g_autoptr(GString) wrapped = g_string_new ("<markup>");
  g_autoptr(GString) pango = g_string_new (NULL);
  g_autoptr(GMarkupParseContext) context = NULL;
  g_autoptr(GError) error = NULL;
  gboolean in_link = FALSE;

  g_assert_nonnull (markup);
  g_assert_true (g_utf8_validate (markup, -1, NULL));

  g_string_append (wrapped, markup);
  g_string_append (wrapped, "</markup>");
  context = g_markup_parse_context_new (&no_parser, 0, NULL, NULL);
  if (!g_markup_parse_context_parse (context, wrapped->str, wrapped->len, &error) ||
      !g_markup_parse_context_end_parse (context, &error))
    g_error ("not well-formed: “%s”: %s", markup, error->message);

  for (const char *p = markup; *p != '\0';)
    {
      if (g_str_has_prefix (p, "<a href=\""))
        {
          const char *end = strchr (p, '>');

          g_assert_false (in_link);
          g_assert_nonnull (end);
          g_assert_cmpint (end[-1], ==, '"');
          in_link = TRUE;
          p = end + 1;
        }
      else if (g_str_has_prefix (p, "</a>"))
        {
          g_assert_true (in_link);
          in_link = FALSE;
          p += 4;
        }
      else
        {
          g_string_append_c (pango, *p++);
        }
    }
  g_assert_false (in_link);

  if (!pango_parse_markup (pango->str, -1, 0, NULL, NULL, NULL, &error))
    g_error ("not Pango markup: “%s”: %s", markup, error->message);
}

/* Parses @text and checks every block's markup. */
static GPtrArray *
parse (const char *text)
{
  GPtrArray *blocks = llm_markdown_parse (text);

  g_assert_nonnull (blocks);
  for (guint i = 0; i < blocks->len; i++)
    {
      LlmMarkdownBlock *block = g_ptr_array_index (blocks, i);

      switch (block->kind)
        {
        case LLM_MARKDOWN_BLOCK_CODE:
          g_assert_nonnull (block->text);
          g_assert_true (g_utf8_validate (block->text, -1, NULL));
          g_assert_null (block->markup);
          break;

        case LLM_MARKDOWN_BLOCK_RULE:
          g_assert_null (block->markup);
          break;

        default:
          assert_valid_markup (block->markup);
          g_assert_null (block->text);
          break;
        }
    }

  return blocks;
}

static LlmMarkdownBlock *
block_at (GPtrArray *blocks,
          guint      index)
{
  g_assert_cmpuint (index, <, blocks->len);
  return g_ptr_array_index (blocks, index);
}

#define assert_block(blocks, index, kind_, markup_)                     \
  G_STMT_START {                                                        \
    LlmMarkdownBlock *block_ = block_at (blocks, index);                \
    g_assert_cmpint (block_->kind, ==, kind_);                          \
    g_assert_cmpstr (block_->markup, ==, markup_);                      \
  } G_STMT_END

static void
test_parse_paragraphs (void)
{
  g_autoptr(GPtrArray) blocks = parse ("Hello\nworld,  \n  again\n\n\n  Second one\r\n");
  g_autoptr(GPtrArray) empty = parse ("");
  g_autoptr(GPtrArray) blank = parse ("\n  \n\t\n");

  /* Line breaks are kept, since models do not wrap lines by hand. */
  g_assert_cmpuint (blocks->len, ==, 2);
  assert_block (blocks, 0, LLM_MARKDOWN_BLOCK_PARAGRAPH, "Hello\nworld,\nagain");
  assert_block (blocks, 1, LLM_MARKDOWN_BLOCK_PARAGRAPH, "Second one");
  g_assert_cmpuint (block_at (blocks, 1)->depth, ==, 0);
  g_assert_cmpuint (empty->len, ==, 0);
  g_assert_cmpuint (blank->len, ==, 0);
}

static void
test_parse_headings (void)
{
  g_autoptr(GPtrArray) blocks = parse ("# One\n"
                                       "## Two ##\n"
                                       "### Three *in italics*\n"
                                       "#### C#\n"
                                       "##### Five\n"
                                       "###### Six\n"
                                       "####### seven\n"
                                       "#hashtag\n"
                                       "text\n"
                                       "# Interrupts\n");

  g_assert_cmpuint (blocks->len, ==, 8);
  assert_block (blocks, 0, LLM_MARKDOWN_BLOCK_HEADING, "One");
  assert_block (blocks, 1, LLM_MARKDOWN_BLOCK_HEADING, "Two");
  assert_block (blocks, 2, LLM_MARKDOWN_BLOCK_HEADING, "Three <i>in italics</i>");
  assert_block (blocks, 3, LLM_MARKDOWN_BLOCK_HEADING, "C#");
  assert_block (blocks, 4, LLM_MARKDOWN_BLOCK_HEADING, "Five");
  assert_block (blocks, 5, LLM_MARKDOWN_BLOCK_HEADING, "Six");
  for (guint i = 0; i < 6; i++)
    g_assert_cmpuint (block_at (blocks, i)->level, ==, i + 1);
  assert_block (blocks, 6, LLM_MARKDOWN_BLOCK_PARAGRAPH, "####### seven\n#hashtag\ntext");
  assert_block (blocks, 7, LLM_MARKDOWN_BLOCK_HEADING, "Interrupts");
  g_assert_cmpuint (block_at (blocks, 7)->level, ==, 1);
}

static void
test_parse_bullets (void)
{
  g_autoptr(GPtrArray) blocks = parse ("Intro:\n"
                                       "- one\n"
                                       "* two\n"
                                       "  continued\n"
                                       "  - nested\n"
                                       "    + deeper\n"
                                       "\t- tab, deeper still\n"
                                       "  - back to one level\n"
                                       "\n"
                                       "    A paragraph in the nested item.\n"
                                       "+ top again\n"
                                       "-\n"
                                       "-not an item\n"
                                       "\n"
                                       "After the list.\n");
  static const struct {
    LlmMarkdownBlockKind kind;
    guint depth;
    const char *markup;
  } expected[] = {
    { LLM_MARKDOWN_BLOCK_PARAGRAPH, 0, "Intro:" },
    { LLM_MARKDOWN_BLOCK_BULLET_ITEM, 0, "one" },
    { LLM_MARKDOWN_BLOCK_BULLET_ITEM, 0, "two\ncontinued" },
    { LLM_MARKDOWN_BLOCK_BULLET_ITEM, 1, "nested" },
    { LLM_MARKDOWN_BLOCK_BULLET_ITEM, 2, "deeper" },
    { LLM_MARKDOWN_BLOCK_BULLET_ITEM, 2, "tab, deeper still" },
    { LLM_MARKDOWN_BLOCK_BULLET_ITEM, 1, "back to one level" },
    { LLM_MARKDOWN_BLOCK_PARAGRAPH, 2, "A paragraph in the nested item." },
    { LLM_MARKDOWN_BLOCK_BULLET_ITEM, 0, "top again" },
    { LLM_MARKDOWN_BLOCK_BULLET_ITEM, 0, "-not an item" },
    { LLM_MARKDOWN_BLOCK_PARAGRAPH, 0, "After the list." },
  };

  g_assert_cmpuint (blocks->len, ==, G_N_ELEMENTS (expected));
  for (guint i = 0; i < G_N_ELEMENTS (expected); i++)
    {
      g_test_message ("block %u", i);
      assert_block (blocks, i, expected[i].kind, expected[i].markup);
      g_assert_cmpuint (block_at (blocks, i)->depth, ==, expected[i].depth);
    }
}

static void
test_parse_numbered (void)
{
  g_autoptr(GPtrArray) blocks = parse ("1. one\n"
                                       "2) two\n"
                                       "10. ten\n"
                                       "   1. nested\n"
                                       "   2. nested again\n"
                                       "3.14 is not an item\n"
                                       "\n"
                                       "In the year\n"
                                       "2024. it was not an item either\n"
                                       "1. but this one is\n"
                                       "1234567890. too long\n");

  g_assert_cmpuint (blocks->len, ==, 7);
  assert_block (blocks, 0, LLM_MARKDOWN_BLOCK_NUMBERED_ITEM, "one");
  g_assert_cmpuint (block_at (blocks, 0)->number, ==, 1);
  assert_block (blocks, 1, LLM_MARKDOWN_BLOCK_NUMBERED_ITEM, "two");
  g_assert_cmpuint (block_at (blocks, 1)->number, ==, 2);
  assert_block (blocks, 2, LLM_MARKDOWN_BLOCK_NUMBERED_ITEM, "ten");
  g_assert_cmpuint (block_at (blocks, 2)->number, ==, 10);
  g_assert_cmpuint (block_at (blocks, 2)->depth, ==, 0);
  assert_block (blocks, 3, LLM_MARKDOWN_BLOCK_NUMBERED_ITEM, "nested");
  g_assert_cmpuint (block_at (blocks, 3)->number, ==, 1);
  g_assert_cmpuint (block_at (blocks, 3)->depth, ==, 1);
  assert_block (blocks, 4, LLM_MARKDOWN_BLOCK_NUMBERED_ITEM, "nested again\n3.14 is not an item");
  g_assert_cmpuint (block_at (blocks, 4)->number, ==, 2);
  assert_block (blocks, 5, LLM_MARKDOWN_BLOCK_PARAGRAPH,
                "In the year\n2024. it was not an item either");
  assert_block (blocks, 6, LLM_MARKDOWN_BLOCK_NUMBERED_ITEM, "but this one is\n1234567890. too long");
}

static void
test_parse_code (void)
{
  g_autoptr(GPtrArray) blocks = parse ("```python {linenos}\n"
                                       "print ('<&>')\n"
                                       "\n"
                                       "# not a heading\n"
                                       "    indented\n"
                                       "```\n"
                                       "~~~\n"
                                       "```\n"
                                       "~~~~\n"
                                       "```js```\n"
                                       "1. Run:\n"
                                       "   ````sh\n"
                                       "   make\n"
                                       "     all\n"
                                       "   ````\n");
  LlmMarkdownBlock *block;

  g_assert_cmpuint (blocks->len, ==, 5);
  block = block_at (blocks, 0);
  g_assert_cmpint (block->kind, ==, LLM_MARKDOWN_BLOCK_CODE);
  g_assert_cmpstr (block->language, ==, "python");
  g_assert_cmpstr (block->text, ==, "print ('<&>')\n\n# not a heading\n    indented");
  g_assert_true (block->closed);

  /* A fence closes only with its own character. */
  block = block_at (blocks, 1);
  g_assert_cmpint (block->kind, ==, LLM_MARKDOWN_BLOCK_CODE);
  g_assert_null (block->language);
  g_assert_cmpstr (block->text, ==, "```");

  /* Backticks on one line are a code span. */
  assert_block (blocks, 2, LLM_MARKDOWN_BLOCK_PARAGRAPH, "<tt>js</tt>");

  /* In a list item, the code loses the item's indentation. */
  assert_block (blocks, 3, LLM_MARKDOWN_BLOCK_NUMBERED_ITEM, "Run:");
  block = block_at (blocks, 4);
  g_assert_cmpint (block->kind, ==, LLM_MARKDOWN_BLOCK_CODE);
  g_assert_cmpuint (block->depth, ==, 1);
  g_assert_cmpstr (block->language, ==, "sh");
  g_assert_cmpstr (block->text, ==, "make\n  all");
}

/* While an answer streams, its last code block is not closed yet. */
static void
test_parse_code_unclosed (void)
{
  static const struct {
    const char *markdown;
    const char *text;
  } cases[] = {
    { "```c\nint x;\n", "int x;" },
    { "```c\nint x;\nint y", "int x;\nint y" },
    { "```c\nint x;\n`", "int x;" },
    { "```c\nint x;\n``", "int x;" },
    { "```c\n", "" },
    { "```c", "" },
    { "````\n```\n", "```" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GPtrArray) blocks = parse (cases[i].markdown);
      LlmMarkdownBlock *block = block_at (blocks, 0);

      g_assert_cmpuint (blocks->len, ==, 1);
      g_assert_cmpint (block->kind, ==, LLM_MARKDOWN_BLOCK_CODE);
      g_assert_cmpstr (block->text, ==, cases[i].text);
      g_assert_false (block->closed);
    }
}

static void
test_parse_quotes_and_rules (void)
{
  g_autoptr(GPtrArray) blocks = parse ("> a *quote*\n"
                                       ">\n"
                                       ">> nested\n"
                                       "lazy continuation\n"
                                       "\n"
                                       "Text\n"
                                       "---\n"
                                       "***\n"
                                       "- - -\n"
                                       " _ _ _\n"
                                       "--\n"
                                       "> quote\n"
                                       "- item after it\n");

  g_assert_cmpuint (blocks->len, ==, 9);
  assert_block (blocks, 0, LLM_MARKDOWN_BLOCK_QUOTE, "a <i>quote</i>\n\nnested\nlazy continuation");
  /* No setext heading: a rule under a paragraph is the rule it looks like. */
  assert_block (blocks, 1, LLM_MARKDOWN_BLOCK_PARAGRAPH, "Text");
  for (guint i = 2; i < 6; i++)
    assert_block (blocks, i, LLM_MARKDOWN_BLOCK_RULE, NULL);
  assert_block (blocks, 6, LLM_MARKDOWN_BLOCK_PARAGRAPH, "--");
  assert_block (blocks, 7, LLM_MARKDOWN_BLOCK_QUOTE, "quote");
  assert_block (blocks, 8, LLM_MARKDOWN_BLOCK_BULLET_ITEM, "item after it");
}

static void
test_parse_inline (void)
{
  static const struct {
    const char *markdown;
    const char *markup;
  } cases[] = {
    { "plain", "plain" },
    { "**bold**", "<b>bold</b>" },
    { "__bold__", "<b>bold</b>" },
    { "*italic*", "<i>italic</i>" },
    { "_italic_", "<i>italic</i>" },
    { "***both***", "<i><b>both</b></i>" },
    { "*italic **bold** rest*", "<i>italic <b>bold</b> rest</i>" },
    { "**bold *italic* rest**", "<b>bold <i>italic</i> rest</b>" },
    { "a*b*c", "a<i>b</i>c" },
    { "snake_case_name and __init__", "snake_case_name and <b>init</b>" },
    { "2 * 3 * 4", "2 * 3 * 4" },
    { "**\"quoted\"**", "<b>&quot;quoted&quot;</b>" },
    { "`code`", "<tt>code</tt>" },
    { "`a <b> & c`", "<tt>a &lt;b&gt; &amp; c</tt>" },
    { "``a ` b``", "<tt>a ` b</tt>" },
    { "`` `x` ``", "<tt>`x`</tt>" },
    { "`**not bold**`", "<tt>**not bold**</tt>" },
    { "~~strike~~", "<s>strike</s>" },
    { "~5 minutes, ~6 hours", "~5 minutes, ~6 hours" },
    { "~~~three~~~", "~~~three~~~" },
    { "[GNOME](https://gnome.org)", "<a href=\"https://gnome.org\">GNOME</a>" },
    { "[**bold** link](http://a.org/x_(y) \"title\")",
      "<a href=\"http://a.org/x_(y)\"><b>bold</b> link</a>" },
    { "**[in bold](https://a.org)**", "<b><a href=\"https://a.org\">in bold</a></b>" },
    { "[mail](mailto:a@b.org)", "<a href=\"mailto:a@b.org\">mail</a>" },
    { "[q](https://a.org/?a=1&b=\"2\")", "<a href=\"https://a.org/?a=1&amp;b=&quot;2&quot;\">q</a>" },
    { "[x](javascript:alert(1))", "x" },
    { "[file](file:///etc/passwd)", "file" },
    { "[nested [brackets]](https://a.org)", "<a href=\"https://a.org\">nested [brackets]</a>" },
    { "[not a link] (https://a.org)", "[not a link] (<a href=\"https://a.org\">https://a.org</a>)" },
    { "![a cat](https://a.org/cat.png)", "<a href=\"https://a.org/cat.png\">a cat</a>" },
    { "<https://a.org/?a=1&b=2>", "<a href=\"https://a.org/?a=1&amp;b=2\">https://a.org/?a=1&amp;b=2</a>" },
    { "<b>not html</b>", "&lt;b&gt;not html&lt;/b&gt;" },
    { "see https://gnome.org.", "see <a href=\"https://gnome.org\">https://gnome.org</a>." },
    { "(https://a.org/wiki/X_(Y))", "(<a href=\"https://a.org/wiki/X_(Y)\">https://a.org/wiki/X_(Y)</a>)" },
    { "**https://a.org**", "<b><a href=\"https://a.org\">https://a.org</a></b>" },
    { "[https://a.org](https://b.org)", "<a href=\"https://b.org\">https://a.org</a>" },
    { "\\*not italic\\*", "*not italic*" },
    { "\\`not code\\`", "`not code`" },
    { "\\[not](https://a.org)", "[not](https://a.org)" },
    { "<https://a.org/*x*>", "<a href=\"https://a.org/*x*\">https://a.org/*x*</a>" },
    { "https://a.org/some_*file*_name",
      "<a href=\"https://a.org/some_*file*_name\">https://a.org/some_*file*_name</a>" },
    { "C:\\path\\to", "C:\\path\\to" },
    { "line\\\nbreak", "line\nbreak" },
    { "1 < 2 && 3 > 2", "1 &lt; 2 &amp;&amp; 3 &gt; 2" },
    { "it's \"quoted\" &amp;", "it&apos;s &quot;quoted&quot; &amp;amp;" },
    { "control\x01" "char", "control&#x1;char" },
    { "é*à*ü", "é<i>à</i>ü" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *markup = llm_markdown_inline_to_markup (cases[i].markdown, -1);

      g_test_message ("%s", cases[i].markdown);
      g_assert_cmpstr (markup, ==, cases[i].markup);
      assert_valid_markup (markup);
    }
}

/* Spans whose end has not arrived yet read as typed. */
static void
test_parse_inline_unclosed (void)
{
  static const char *cases[] = {
    "**bol",
    "*ital",
    "__bol",
    "_ital",
    "`cod",
    "``code`",
    "~~stri",
    "***both",
    "**bold *and ital",
    "[link",
    "[link]",
    "[link](",
    "[link](https://a.or",
    "<https://a.or",
    "text \\",
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *markup = llm_markdown_inline_to_markup (cases[i], -1);
      g_autofree char *escaped = g_markup_escape_text (cases[i], -1);

      g_test_message ("%s", cases[i]);
      g_assert_cmpstr (markup, ==, escaped);
    }
}

/* Text that means something in markup is text in every kind of block. */
static void
test_parse_escaping (void)
{
  g_autoptr(GPtrArray) blocks = parse ("# <h1> & co\n"
                                       "<p>a & b</p>\n"
                                       "- <li>\n"
                                       "1. &amp;\n"
                                       "> </blockquote>\n"
                                       "```<html>\n"
                                       "<&>\n"
                                       "```\n");

  g_assert_cmpuint (blocks->len, ==, 6);
  assert_block (blocks, 0, LLM_MARKDOWN_BLOCK_HEADING, "&lt;h1&gt; &amp; co");
  assert_block (blocks, 1, LLM_MARKDOWN_BLOCK_PARAGRAPH, "&lt;p&gt;a &amp; b&lt;/p&gt;");
  assert_block (blocks, 2, LLM_MARKDOWN_BLOCK_BULLET_ITEM, "&lt;li&gt;");
  assert_block (blocks, 3, LLM_MARKDOWN_BLOCK_NUMBERED_ITEM, "&amp;amp;");
  assert_block (blocks, 4, LLM_MARKDOWN_BLOCK_QUOTE, "&lt;/blockquote&gt;");
  /* Code is raw text, for a label that does not use markup. */
  g_assert_cmpstr (block_at (blocks, 5)->language, ==, "<html>");
  g_assert_cmpstr (block_at (blocks, 5)->text, ==, "<&>");
}

static void
test_parse_invalid_utf8 (void)
{
  g_autoptr(GPtrArray) blocks = parse ("**caf\xc3** \xff\xfe\n```\n\xc3\x28\n```\n");
  g_autofree char *markup = llm_markdown_inline_to_markup ("a\xff*b*", 5);

  g_assert_cmpuint (blocks->len, ==, 2);
  assert_valid_markup (markup);
  g_assert_nonnull (strstr (markup, "<i>b</i>"));
}

/* Random mixtures of the characters markdown gives a meaning to, and of
 * some that markup does: every block's markup is valid, nothing crashes.
 * The seed is printed by --verbose and taken by --seed. */
static void
test_parse_fuzz (void)
{
  static const char *pieces[] = {
    "*", "**", "_", "__", "~", "~~", "`", "```", "~~~", "[", "]", "(", ")", "![",
    "<", ">", "&", "\"", "'", "\\", "#", "# ", "- ", "+ ", "1. ", "2) ", "> ", "---",
    " ", "  ", "\t", "\n", "\n\n", "\r\n", "a", "word", "é", "日本", "\x01", "\x7f",
    "\xc2\x85", "https://a.org", "mailto:x@y.z", "](", "](https://b.org)", "&amp;", "<b>",
    "\xff", "\xc3",
  };
  guint n_blocks = 0;

  for (guint i = 0; i < 20000; i++)
    {
      g_autoptr(GString) text = g_string_new (NULL);
      guint n_pieces = g_test_rand_int_range (0, 40);

      for (guint j = 0; j < n_pieces; j++)
        g_string_append (text, pieces[g_test_rand_int_range (0, G_N_ELEMENTS (pieces))]);

      {
        g_autoptr(GPtrArray) blocks = parse (text->str);
        g_autofree char *markup = llm_markdown_inline_to_markup (text->str, text->len);

        assert_valid_markup (markup);
        n_blocks += blocks->len;
      }
    }

  g_test_message ("20000 random texts, %u blocks, all valid", n_blocks);
}

/* An answer of about 10 KB, parsed again on each streamed token. */
static char *
dup_long_answer (void)
{
  GString *answer = g_string_new (NULL);

  while (answer->len < 10 * 1024)
    g_string_append (answer, sample_answer);

  return g_string_free (answer, FALSE);
}

static void
test_parse_speed (void)
{
  g_autofree char *answer = dup_long_answer ();
  gsize length = strlen (answer);
  guint n_runs = 200;
  gint64 start;
  double whole, prefixes;
  guint n_prefixes = 0;

  /* Warm up the allocator and caches. */
  g_ptr_array_unref (llm_markdown_parse (answer));

  start = g_get_monotonic_time ();
  for (guint i = 0; i < n_runs; i++)
    g_ptr_array_unref (llm_markdown_parse (answer));
  whole = (g_get_monotonic_time () - start) / (double) n_runs;

  /* As the answer streams, a few characters at a time. */
  start = g_get_monotonic_time ();
  for (gsize end = 4; end <= length; end += 4)
    {
      g_autofree char *prefix = g_strndup (answer, end);

      g_ptr_array_unref (llm_markdown_parse (prefix));
      n_prefixes++;
    }
  prefixes = (g_get_monotonic_time () - start) / (double) n_prefixes;

  g_test_message ("parsing a %" G_GSIZE_FORMAT "-byte answer: %.1f µs (mean of %u); "
                  "its %u streamed prefixes: %.1f µs each on average",
                  length, whole, n_runs, n_prefixes, prefixes);
}

/* The view */

static GtkWidget *
nth_child (GtkWidget *widget,
           guint      n)
{
  GtkWidget *child = gtk_widget_get_first_child (widget);

  for (guint i = 0; i < n && child != NULL; i++)
    child = gtk_widget_get_next_sibling (child);
  g_assert_nonnull (child);

  return child;
}

static guint
count_children (GtkWidget *widget)
{
  guint n = 0;

  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    n++;

  return n;
}

static GtkLabel *
item_label (GtkWidget  *item,
            const char *marker)
{
  g_assert_true (GTK_IS_BOX (item));
  g_assert_cmpstr (gtk_label_get_text (GTK_LABEL (nth_child (item, 0))), ==, marker);
  return GTK_LABEL (nth_child (item, 1));
}

static GtkLabel *
code_label (GtkWidget  *code,
            const char *language)
{
  GtkWidget *caption = nth_child (code, 0);
  GtkWidget *scroller = nth_child (code, 1);
  GtkWidget *label;

  g_assert_true (GTK_IS_LABEL (caption));
  g_assert_true (GTK_IS_SCROLLED_WINDOW (scroller));
  g_assert_true (gtk_widget_has_css_class (scroller, "card"));
  g_assert_cmpint (gtk_widget_get_visible (caption), ==, language != NULL);
  if (language != NULL)
    {
      g_autofree char *name = g_strdup_printf ("Code in %s", language);

      g_assert_cmpstr (gtk_label_get_text (GTK_LABEL (caption)), ==, language);
      gtk_test_accessible_assert_property (scroller, GTK_ACCESSIBLE_PROPERTY_LABEL, name);
    }
  else
    {
      gtk_test_accessible_assert_property (scroller, GTK_ACCESSIBLE_PROPERTY_LABEL, "Code");
    }

  /* The scrolled window puts a viewport around the label. */
  label = gtk_widget_get_first_child (gtk_scrolled_window_get_child (GTK_SCROLLED_WINDOW (scroller)));
  g_assert_true (GTK_IS_LABEL (label));
  g_assert_true (gtk_widget_has_css_class (label, "monospace"));
  g_assert_true (gtk_label_get_selectable (GTK_LABEL (label)));
  g_assert_false (gtk_label_get_wrap (GTK_LABEL (label)));
  g_assert_false (gtk_label_get_use_markup (GTK_LABEL (label)));

  return GTK_LABEL (label);
}

static void
assert_text_label (GtkWidget  *widget,
                   const char *text)
{
  GtkLabel *label = GTK_LABEL (widget);

  g_assert_true (GTK_IS_LABEL (widget));
  g_assert_cmpstr (gtk_label_get_text (label), ==, text);
  g_assert_true (gtk_label_get_use_markup (label));
  g_assert_true (gtk_label_get_wrap (label));
  g_assert_cmpint (gtk_label_get_wrap_mode (label), ==, PANGO_WRAP_WORD_CHAR);
  g_assert_true (gtk_label_get_selectable (label));
  g_assert_cmpfloat (gtk_label_get_xalign (label), ==, 0.0);
}

static void
notify_cb (GObject    *object,
           GParamSpec *pspec,
           gpointer    user_data)
{
  guint *n_notifies = user_data;

  (*n_notifies)++;
}

static void
test_view_blocks (void)
{
  GtkWidget *view = g_object_ref_sink (llm_markdown_view_new ());
  GtkWidget *quote;
  guint n_notifies = 0;

  g_signal_connect (view, "notify::markdown", G_CALLBACK (notify_cb), &n_notifies);
  g_assert_cmpstr (llm_markdown_view_get_markdown (LLM_MARKDOWN_VIEW (view)), ==, "");
  g_assert_cmpuint (count_children (view), ==, 0);

  g_object_set (view, "markdown",
                "# Title\n"
                "Some **bold** and `code` & <more>.\n"
                "### Small\n"
                "- first\n"
                "  - nested\n"
                "12. twelfth\n"
                "```python\n"
                "print ('<hi>')\n"
                "```\n"
                "```\n"
                "plain\n"
                "```\n"
                "> quoted *text*\n"
                "\n"
                "---\n",
                NULL);
  g_assert_cmpuint (n_notifies, ==, 1);
  g_assert_cmpuint (count_children (view), ==, 10);

  assert_text_label (nth_child (view, 0), "Title");
  g_assert_true (gtk_widget_has_css_class (nth_child (view, 0), "title-1"));
  gtk_test_accessible_assert_role (nth_child (view, 0), GTK_ACCESSIBLE_ROLE_HEADING);
  gtk_test_accessible_assert_property (nth_child (view, 0), GTK_ACCESSIBLE_PROPERTY_LEVEL, 1);
  assert_text_label (nth_child (view, 1), "Some bold and code & <more>.");
  assert_text_label (nth_child (view, 2), "Small");
  g_assert_true (gtk_widget_has_css_class (nth_child (view, 2), "title-3"));
  g_assert_false (gtk_widget_has_css_class (nth_child (view, 2), "title-1"));

  assert_text_label (GTK_WIDGET (item_label (nth_child (view, 3), "•")), "first");
  assert_text_label (GTK_WIDGET (item_label (nth_child (view, 4), "◦")), "nested");
  g_assert_cmpint (gtk_widget_get_margin_start (nth_child (view, 4)), >,
                   gtk_widget_get_margin_start (nth_child (view, 3)));
  assert_text_label (GTK_WIDGET (item_label (nth_child (view, 5), "12.")), "twelfth");
  gtk_test_accessible_assert_role (nth_child (view, 5), GTK_ACCESSIBLE_ROLE_LIST_ITEM);

  g_assert_cmpstr (gtk_label_get_text (code_label (nth_child (view, 6), "python")), ==,
                   "print ('<hi>')");
  g_assert_cmpstr (gtk_label_get_text (code_label (nth_child (view, 7), NULL)), ==, "plain");

  quote = nth_child (view, 8);
  g_assert_true (GTK_IS_BOX (quote));
  g_assert_true (GTK_IS_SEPARATOR (nth_child (quote, 0)));
  assert_text_label (nth_child (quote, 1), "quoted text");
  g_assert_true (gtk_widget_has_css_class (nth_child (quote, 1), "dim-label"));
  g_assert_true (GTK_IS_SEPARATOR (nth_child (view, 9)));

  /* Setting the same text again changes nothing and says nothing. */
  llm_markdown_view_set_markdown (LLM_MARKDOWN_VIEW (view),
                                  llm_markdown_view_get_markdown (LLM_MARKDOWN_VIEW (view)));
  g_assert_cmpuint (n_notifies, ==, 1);

  /* A heading changes level in place; blocks that go are removed. */
  llm_markdown_view_set_markdown (LLM_MARKDOWN_VIEW (view), "## Title");
  g_assert_cmpuint (n_notifies, ==, 2);
  g_assert_cmpuint (count_children (view), ==, 1);
  g_assert_true (gtk_widget_has_css_class (nth_child (view, 0), "title-2"));
  g_assert_false (gtk_widget_has_css_class (nth_child (view, 0), "title-1"));

  llm_markdown_view_set_markdown (LLM_MARKDOWN_VIEW (view), NULL);
  g_assert_cmpstr (llm_markdown_view_get_markdown (LLM_MARKDOWN_VIEW (view)), ==, "");
  g_assert_cmpuint (count_children (view), ==, 0);

  g_assert_finalize_object (view);
}

/* An answer streamed a few characters at a time keeps the widgets of the
 * blocks above the one arriving: only the last may be replaced, when it
 * turns out to be of another kind, and the labels of finished blocks are
 * left alone. */
static void
test_view_streaming (void)
{
  GtkWidget *view = g_object_ref_sink (llm_markdown_view_new ());
  gsize length = strlen (sample_answer);
  g_autoptr(GPtrArray) previous = g_ptr_array_new ();
  GtkWidget *first = NULL;
  guint n_replaced = 0;
  g_autofree char *answer = dup_long_answer ();
  gsize answer_length = strlen (answer);
  guint n_updates = 0;
  gint64 start;

  for (gsize end = 3; end < length + 3; end += 3)
    {
      g_autofree char *prefix = g_strndup (sample_answer, MIN (end, length));
      GtkWidget *child;
      guint i = 0;

      llm_markdown_view_set_markdown (LLM_MARKDOWN_VIEW (view), prefix);

      for (child = gtk_widget_get_first_child (view); child != NULL;
           child = gtk_widget_get_next_sibling (child), i++)
        {
          if (i + 1 < previous->len)
            g_assert_true (child == g_ptr_array_index (previous, i));
          else if (i < previous->len && child != g_ptr_array_index (previous, i))
            n_replaced++;
        }
      g_assert_cmpuint (i, >=, previous->len);

      g_ptr_array_set_size (previous, 0);
      for (child = gtk_widget_get_first_child (view); child != NULL;
           child = gtk_widget_get_next_sibling (child))
        g_ptr_array_add (previous, child);
      if (first == NULL && previous->len > 0)
        first = g_ptr_array_index (previous, 0);
    }

  g_assert_true (first == gtk_widget_get_first_child (view));
  assert_text_label (first, "Building the project");
  {
    g_autoptr(GPtrArray) blocks = llm_markdown_parse (sample_answer);

    g_assert_cmpuint (count_children (view), ==, blocks->len);
  }
  g_test_message ("%u blocks, %u replaced as their kind became clear",
                  count_children (view), n_replaced);

  /* The cost of an update as a long answer streams, without drawing. */
  llm_markdown_view_set_markdown (LLM_MARKDOWN_VIEW (view), NULL);
  start = g_get_monotonic_time ();
  for (gsize end = 4; end <= answer_length; end += 4)
    {
      g_autofree char *prefix = g_strndup (answer, end);

      llm_markdown_view_set_markdown (LLM_MARKDOWN_VIEW (view), prefix);
      n_updates++;
    }
  g_test_message ("streaming a %" G_GSIZE_FORMAT "-byte answer into the view: %.1f µs per update "
                  "(mean of %u), %u widgets",
                  answer_length, (g_get_monotonic_time () - start) / (double) n_updates, n_updates,
                  count_children (view));

  g_assert_finalize_object (view);
}


/* The share of pixels that are not the background's colour, the most
 * common one. */
static double
share_of_drawn_pixels (GdkTexture *texture)
{
  int width = gdk_texture_get_width (texture);
  int height = gdk_texture_get_height (texture);
  g_autofree guint32 *pixels = g_new (guint32, width * height);
  g_autoptr(GHashTable) counts = g_hash_table_new (NULL, NULL);
  guint32 background = 0;
  guint background_count = 0;
  guint n_drawn = 0;

  gdk_texture_download (texture, (guchar *) pixels, width * 4);
  for (int i = 0; i < width * height; i++)
    {
      guint count = GPOINTER_TO_UINT (g_hash_table_lookup (counts, GUINT_TO_POINTER (pixels[i]))) + 1;

      g_hash_table_insert (counts, GUINT_TO_POINTER (pixels[i]), GUINT_TO_POINTER (count));
      if (count > background_count)
        {
          background = pixels[i];
          background_count = count;
        }
    }
  for (int i = 0; i < width * height; i++)
    n_drawn += pixels[i] != background;

  return (double) n_drawn / (width * height);
}

static void
check_screenshot (int         width,
                  const char *name)
{
  g_autofree char *path = g_test_build_filename (G_TEST_BUILT, name, NULL);
  g_autoptr(GdkTexture) texture = NULL;
  GtkWidget *window = gtk_window_new ();
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 0);
  GtkWidget *view = llm_markdown_view_new ();
  GtkWidget *composer = gtk_entry_new ();
  GtkWidget *code;
  GtkWidget *scroller;
  GtkAdjustment *hadjustment;
  double drawn;
  int height;

  gtk_widget_set_margin_top (view, 18);
  gtk_widget_set_margin_bottom (view, 18);
  gtk_widget_set_margin_start (view, 18);
  gtk_widget_set_margin_end (view, 18);
  gtk_widget_set_vexpand (view, TRUE);
  gtk_widget_set_valign (view, GTK_ALIGN_START);
  gtk_widget_set_margin_start (composer, 18);
  gtk_widget_set_margin_end (composer, 18);
  gtk_widget_set_margin_bottom (composer, 18);
  gtk_entry_set_placeholder_text (GTK_ENTRY (composer), "Message");
  gtk_box_append (GTK_BOX (box), view);
  gtk_box_append (GTK_BOX (box), composer);
  gtk_window_set_child (GTK_WINDOW (window), box);
  llm_markdown_view_set_markdown (LLM_MARKDOWN_VIEW (view), sample_answer);

  /* As tall as the answer is at this width, above a composer that has the
   * focus, as in the chat: a selectable label that took it would select
   * all its text. */
  gtk_widget_measure (box, GTK_ORIENTATION_VERTICAL, width, NULL, &height, NULL, NULL);
  gtk_window_set_default_size (GTK_WINDOW (window), width, height);
  gtk_window_set_focus (GTK_WINDOW (window), composer);
  gtk_window_present (GTK_WINDOW (window));
  LLM_TEST_UI_AWAIT_UNTIL (gtk_widget_get_mapped (window) && gtk_widget_get_width (view) > 0, 5);
  llm_test_await_frames (window, 5);

  /* Long code lines scroll rather than widen the view. */
  g_assert_cmpint (gtk_widget_get_width (view), <=, width - 36);
  code = nth_child (view, 3);
  scroller = nth_child (code, 1);
  hadjustment = gtk_scrolled_window_get_hadjustment (GTK_SCROLLED_WINDOW (scroller));
  g_test_message ("%s: %d px wide; the first code block scrolls %.0f px in %.0f px",
                  name, gtk_widget_get_width (view), gtk_adjustment_get_upper (hadjustment),
                  gtk_adjustment_get_page_size (hadjustment));
  if (width < 500)
    g_assert_cmpfloat (gtk_adjustment_get_upper (hadjustment), >,
                       gtk_adjustment_get_page_size (hadjustment));

  texture = llm_test_render_widget (window);
  drawn = share_of_drawn_pixels (texture);
  g_test_message ("%s: %d×%d, %.1f %% of pixels drawn over the background", name,
                  gdk_texture_get_width (texture), gdk_texture_get_height (texture), 100 * drawn);
  g_assert_cmpfloat (drawn, >, 0.02);
  g_assert_cmpfloat (drawn, <, 0.9);
  g_assert_true (gdk_texture_save_to_png (texture, path));
  g_test_message ("saved %s", path);

  g_object_add_weak_pointer (G_OBJECT (window), (gpointer *) &window);
  gtk_window_destroy (GTK_WINDOW (window));
  while (window != NULL && g_main_context_iteration (NULL, FALSE))
    ;
  g_assert_null (window);
}

static void
test_view_screenshot (void)
{
  check_screenshot (720, "screenshot-markdown.png");
  check_screenshot (360, "screenshot-markdown-narrow.png");
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);
  /* GTK's test accessibility backend keeps what the widgets tell assistive
   * technologies, for the checks, and needs no accessibility bus. */
  g_setenv ("GTK_A11Y", "test", TRUE);
  adw_init ();

  g_test_add_func ("/llm/ui/markdown/parse/paragraphs", test_parse_paragraphs);
  g_test_add_func ("/llm/ui/markdown/parse/headings", test_parse_headings);
  g_test_add_func ("/llm/ui/markdown/parse/bullets", test_parse_bullets);
  g_test_add_func ("/llm/ui/markdown/parse/numbered", test_parse_numbered);
  g_test_add_func ("/llm/ui/markdown/parse/code", test_parse_code);
  g_test_add_func ("/llm/ui/markdown/parse/code-unclosed", test_parse_code_unclosed);
  g_test_add_func ("/llm/ui/markdown/parse/quotes-and-rules", test_parse_quotes_and_rules);
  g_test_add_func ("/llm/ui/markdown/parse/inline", test_parse_inline);
  g_test_add_func ("/llm/ui/markdown/parse/inline-unclosed", test_parse_inline_unclosed);
  g_test_add_func ("/llm/ui/markdown/parse/escaping", test_parse_escaping);
  g_test_add_func ("/llm/ui/markdown/parse/invalid-utf8", test_parse_invalid_utf8);
  g_test_add_func ("/llm/ui/markdown/parse/fuzz", test_parse_fuzz);
  g_test_add_func ("/llm/ui/markdown/parse/speed", test_parse_speed);
  g_test_add_func ("/llm/ui/markdown/view/blocks", test_view_blocks);
  g_test_add_func ("/llm/ui/markdown/view/streaming", test_view_streaming);
  g_test_add_func ("/llm/ui/markdown/view/screenshot", test_view_screenshot);

  return g_test_run ();
}

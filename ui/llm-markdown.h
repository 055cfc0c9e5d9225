/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * LlmMarkdownBlockKind:
 * @LLM_MARKDOWN_BLOCK_PARAGRAPH: text, its line breaks kept
 * @LLM_MARKDOWN_BLOCK_HEADING: a `#` heading, of level 1 to 6
 * @LLM_MARKDOWN_BLOCK_BULLET_ITEM: a `-`, `*` or `+` list item
 * @LLM_MARKDOWN_BLOCK_NUMBERED_ITEM: a `1.` or `1)` list item
 * @LLM_MARKDOWN_BLOCK_CODE: a fenced code block, raw text
 * @LLM_MARKDOWN_BLOCK_QUOTE: consecutive `>` lines
 * @LLM_MARKDOWN_BLOCK_RULE: a horizontal rule
 *
 * What a block of a markdown text is.
 */
typedef enum
{
  LLM_MARKDOWN_BLOCK_PARAGRAPH,
  LLM_MARKDOWN_BLOCK_HEADING,
  LLM_MARKDOWN_BLOCK_BULLET_ITEM,
  LLM_MARKDOWN_BLOCK_NUMBERED_ITEM,
  LLM_MARKDOWN_BLOCK_CODE,
  LLM_MARKDOWN_BLOCK_QUOTE,
  LLM_MARKDOWN_BLOCK_RULE,
} LlmMarkdownBlockKind;

/**
 * LlmMarkdownBlock:
 * @kind: what the block is
 * @level: the level of a heading, 1 to 6; 0 for other blocks
 * @depth: how deep in lists the block sits: 0 for an item of a top-level
 *   list, 1 for an item nested in it; for a paragraph, quote or code block
 *   that continues a list item, the depth of that item plus one
 * @number: the number a numbered item shows
 * @markup: Pango markup of the text of a paragraph, heading, list item or
 *   quote, with `<a href="…">` links as #GtkLabel takes them; %NULL for code
 *   blocks and rules
 * @text: the raw text of a code block, without its fences; %NULL otherwise
 * @language: the language a code block's fence names, or %NULL
 * @closed: for a code block, whether its closing fence has arrived yet
 *
 * One block of a markdown text, as llm_markdown_parse() returns them: a flat
 * list rather than a tree, since a chat answer shows its blocks one below
 * the other and a list item's nesting is only an indentation.
 */
typedef struct
{
  LlmMarkdownBlockKind kind;
  guint level;
  guint depth;
  guint number;
  char *markup;
  char *text;
  char *language;
  gboolean closed;
} LlmMarkdownBlock;

void       llm_markdown_block_free   (LlmMarkdownBlock *block);

GPtrArray *llm_markdown_parse        (const char       *text);
char      *llm_markdown_inline_to_markup (const char   *text,
                                          gssize        length);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LlmMarkdownBlock, llm_markdown_block_free)

G_END_DECLS

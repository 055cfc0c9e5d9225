/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define LLM_TYPE_MARKDOWN_VIEW (llm_markdown_view_get_type ())

G_DECLARE_FINAL_TYPE (LlmMarkdownView, llm_markdown_view, LLM, MARKDOWN_VIEW, GtkWidget)

GtkWidget  *llm_markdown_view_new          (void);
const char *llm_markdown_view_get_markdown (LlmMarkdownView *self);
void        llm_markdown_view_set_markdown (LlmMarkdownView *self,
                                            const char      *markdown);

G_END_DECLS

/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define LLM_TYPE_CHAT_VIEW (llm_chat_view_get_type ())

G_DECLARE_FINAL_TYPE (LlmChatView, llm_chat_view, LLM, CHAT_VIEW, AdwBin)

G_END_DECLS

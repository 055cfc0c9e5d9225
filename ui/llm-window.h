/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "llm-application.h"
#include "llm-chat-view.h"

G_BEGIN_DECLS

#define LLM_TYPE_WINDOW (llm_window_get_type ())

G_DECLARE_FINAL_TYPE (LlmWindow, llm_window, LLM, WINDOW, AdwApplicationWindow)

LlmWindow  *llm_window_new             (LlmApplication *application);
const char *llm_window_get_visible_place (LlmWindow    *self);
void        llm_window_open_model      (LlmWindow      *self,
                                        const char     *model_dir);
LlmChatView *llm_window_get_chat_view  (LlmWindow      *self);

G_END_DECLS

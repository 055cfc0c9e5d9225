/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define LLM_TYPE_DASHBOARD_VIEW (llm_dashboard_view_get_type ())

G_DECLARE_FINAL_TYPE (LlmDashboardView, llm_dashboard_view, LLM, DASHBOARD_VIEW, AdwBin)

void llm_dashboard_view_set_address (LlmDashboardView *self,
                                     const char       *address,
                                     const char       *error_message);

G_END_DECLS

/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "llm-resources.h"

G_BEGIN_DECLS

#define LLM_TYPE_ONBOARDING_VIEW (llm_onboarding_view_get_type ())

G_DECLARE_FINAL_TYPE (LlmOnboardingView, llm_onboarding_view, LLM, ONBOARDING_VIEW, AdwBin)

LlmResources *llm_onboarding_view_get_resources (LlmOnboardingView *self);
void          llm_onboarding_view_set_resources (LlmOnboardingView *self,
                                                 LlmResources      *resources);

G_END_DECLS

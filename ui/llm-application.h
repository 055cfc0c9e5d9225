/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <adwaita.h>

#include "llm-identity.h"
#include "llm-resources.h"

G_BEGIN_DECLS

#define LLM_TYPE_APPLICATION (llm_application_get_type ())

G_DECLARE_FINAL_TYPE (LlmApplication, llm_application, LLM, APPLICATION, AdwApplication)

LlmApplication *llm_application_new           (void);
LlmResources   *llm_application_get_resources (LlmApplication *self);
LlmIdentity    *llm_application_get_identity  (LlmApplication *self);
const char     *llm_application_get_identity_error (LlmApplication *self);

G_END_DECLS

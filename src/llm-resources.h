/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define LLM_TYPE_RESOURCES (llm_resources_get_type ())

G_DECLARE_FINAL_TYPE (LlmResources, llm_resources, LLM, RESOURCES, GObject)

LlmResources *llm_resources_new                  (const char           *data_dir);
const char   *llm_resources_get_data_dir         (LlmResources         *self);
guint64       llm_resources_get_total_memory     (LlmResources         *self);
guint64       llm_resources_get_available_memory (LlmResources         *self);
guint         llm_resources_get_n_cores          (LlmResources         *self);
const char   *llm_resources_get_cpu_model        (LlmResources         *self);
const char   *llm_resources_get_cpu_features     (LlmResources         *self);
guint64       llm_resources_get_disk_free        (LlmResources         *self);
guint64       llm_resources_get_disk_size        (LlmResources         *self);
gboolean      llm_resources_get_ready            (LlmResources         *self);
void          llm_resources_refresh_async        (LlmResources         *self,
                                                  GCancellable         *cancellable,
                                                  GAsyncReadyCallback   callback,
                                                  gpointer              user_data);
gboolean      llm_resources_refresh_finish       (LlmResources         *self,
                                                  GAsyncResult         *result,
                                                  GError              **error);

G_END_DECLS

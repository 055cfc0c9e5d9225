/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/*
 * LlmCoverage: who hosts which layer of ONE model, live.
 *
 *   coverage = llm_coverage_new ("stories260K", 5, G_LIST_MODEL (peer_list),
 *                                G_LIST_MODEL (local_shards));   // or NULL
 *   g_object_bind_property (coverage, "complete", button, "sensitive", G_BINDING_SYNC_CREATE);
 *   g_signal_connect (coverage, "changed", G_CALLBACK (redraw), view);
 *
 *   llm_coverage_get_replicas (coverage, layer);   // how many nodes host it
 *   gaps = llm_coverage_dup_gaps (coverage);       // GArray of LlmLayerRange
 *   json = llm_coverage_to_json (coverage);        // for `peers --json`
 */

/**
 * LlmLayerRange:
 * @first: the first layer, 0-based
 * @last: the last layer, inclusive
 */
typedef struct
{
  guint first;
  guint last;
} LlmLayerRange;

#define LLM_TYPE_COVERAGE (llm_coverage_get_type ())

G_DECLARE_FINAL_TYPE (LlmCoverage, llm_coverage, LLM, COVERAGE, GObject)

LlmCoverage *llm_coverage_new          (const char  *model_id,
                                        guint        n_layers,
                                        GListModel  *peers,
                                        GListModel  *shards);
const char  *llm_coverage_get_model_id (LlmCoverage *self);
guint        llm_coverage_get_n_layers (LlmCoverage *self);
GListModel  *llm_coverage_get_peers    (LlmCoverage *self);
GListModel  *llm_coverage_get_shards   (LlmCoverage *self);
guint        llm_coverage_get_replicas (LlmCoverage *self,
                                        guint        layer);
GArray      *llm_coverage_dup_gaps     (LlmCoverage *self);
gboolean     llm_coverage_get_complete (LlmCoverage *self);
JsonObject  *llm_coverage_to_json      (LlmCoverage *self);

G_END_DECLS

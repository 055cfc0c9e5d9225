/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-coverage"

#include "llm-coverage.h"

#include <string.h>

#include "llm-peer.h"
#include "llm-shard.h"

/**
 * LlmCoverage:
 *
 * For one model of #LlmCoverage:n-layers layers, how many nodes can run
 * each layer: the replica count per layer, and the gaps (ranges of layers
 * that nobody hosts). A model can serve a prompt only when it is
 * #LlmCoverage:complete.
 *
 * The counts follow #LlmCoverage:peers (a #GListModel of #LlmPeer, usually
 * the node's #LlmPeerList) and, if given, #LlmCoverage:shards (a
 * #GListModel of this node's #LlmShard) as they change: peers joining and
 * leaving (#GListModel::items-changed), a peer announcing other shards
 * (#LlmPeer:shards) or going (#LlmPeer:state), a local shard becoming ready
 * or failing (#LlmShard:state).
 *
 * What counts as a replica of a layer:
 *
 * - each peer, not %LLM_PEER_STATE_GONE, with a shard of this model that
 *   holds the layer — once, even if two of its ranges overlap;
 * - this node, once, if one of its %LLM_SHARD_STATE_READY shards of this
 *   model holds the layer (a shard still downloading cannot serve).
 *
 * Layers beyond the model's last are ignored: a peer that claims them
 * covers nothing more.
 */
struct _LlmCoverage
{
  GObject parent_instance;

  GListModel *peers;
  GListModel *shards;
  GPtrArray *tracked_peers;     /* mirrors @peers, with our handlers */
  GPtrArray *tracked_shards;    /* mirrors @shards, with our handlers */
  char *model_id;
  guint *replicas;              /* (n_layers) */
  gboolean *scratch;            /* (n_layers): the layers one node holds */

  guint n_layers;
  gboolean complete;
};

G_DEFINE_FINAL_TYPE (LlmCoverage, llm_coverage, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_MODEL_ID,
  PROP_N_LAYERS,
  PROP_PEERS,
  PROP_SHARDS,
  PROP_COMPLETE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

enum {
  CHANGED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

static void
add_node (LlmCoverage *self,
          guint       *replicas)
{
  for (guint layer = 0; layer < self->n_layers; layer++)
    if (self->scratch[layer])
      replicas[layer]++;
  memset (self->scratch, 0, self->n_layers * sizeof (gboolean));
}

static void
mark_range (LlmCoverage *self,
            guint        first,
            guint        last)
{
  for (guint layer = first; layer <= last && layer < self->n_layers; layer++)
    self->scratch[layer] = TRUE;
}

/* Counting again from scratch is O(peers × ranges + layers): small, and
 * simpler to get right than incremental updates. */
static void
recompute (LlmCoverage *self)
{
  g_autofree guint *replicas = g_new0 (guint, self->n_layers);
  gboolean complete = TRUE;

  for (guint i = 0; i < self->tracked_peers->len; i++)
    {
      LlmPeer *peer = g_ptr_array_index (self->tracked_peers, i);
      g_autoptr(GPtrArray) shards = NULL;

      if (llm_peer_get_state (peer) == LLM_PEER_STATE_GONE)
        continue;

      shards = llm_peer_dup_shards (peer);
      for (guint j = 0; j < shards->len; j++)
        {
          const LlmPeerShard *shard = g_ptr_array_index (shards, j);

          if (g_str_equal (shard->model_id, self->model_id))
            mark_range (self, shard->first_layer, shard->last_layer);
        }
      add_node (self, replicas);
    }

  for (guint i = 0; i < self->tracked_shards->len; i++)
    {
      LlmShard *shard = g_ptr_array_index (self->tracked_shards, i);

      if (llm_shard_get_state (shard) == LLM_SHARD_STATE_READY &&
          g_str_equal (llm_shard_get_model_id (shard), self->model_id))
        mark_range (self, llm_shard_get_first_layer (shard), llm_shard_get_last_layer (shard));
    }
  add_node (self, replicas);

  for (guint layer = 0; layer < self->n_layers; layer++)
    complete &= replicas[layer] > 0;

  if (memcmp (replicas, self->replicas, self->n_layers * sizeof (guint)) == 0)
    return;

  g_free (self->replicas);
  self->replicas = g_steal_pointer (&replicas);
  g_signal_emit (self, signals[CHANGED], 0);

  if (self->complete != complete)
    {
      self->complete = complete;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_COMPLETE]);
    }
}

static void
on_item_notify (GObject     *item,
                GParamSpec  *pspec,
                LlmCoverage *self)
{
  recompute (self);
}

/* Keeps @tracked a copy of @model, with our handlers on each item. */
static void
track_items (LlmCoverage *self,
             GPtrArray   *tracked,
             GListModel  *model,
             guint        position,
             guint        removed,
             guint        added)
{
  g_assert (position + removed <= tracked->len);

  for (guint i = position; i < position + removed; i++)
    g_signal_handlers_disconnect_by_data (g_ptr_array_index (tracked, i), self);
  g_ptr_array_remove_range (tracked, position, removed);

  for (guint i = 0; i < added; i++)
    {
      g_autoptr(GObject) item = g_list_model_get_item (model, position + i);

      if (LLM_IS_PEER (item))
        g_signal_connect (item, "notify::shards", G_CALLBACK (on_item_notify), self);
      g_signal_connect (item, "notify::state", G_CALLBACK (on_item_notify), self);
      g_ptr_array_insert (tracked, position + i, g_steal_pointer (&item));
    }
}

static void
on_peers_items_changed (GListModel  *model,
                        guint        position,
                        guint        removed,
                        guint        added,
                        LlmCoverage *self)
{
  track_items (self, self->tracked_peers, model, position, removed, added);
  recompute (self);
}

static void
on_shards_items_changed (GListModel  *model,
                         guint        position,
                         guint        removed,
                         guint        added,
                         LlmCoverage *self)
{
  track_items (self, self->tracked_shards, model, position, removed, added);
  recompute (self);
}

static void
untrack_all (LlmCoverage *self,
             GPtrArray   *tracked)
{
  for (guint i = 0; i < tracked->len; i++)
    g_signal_handlers_disconnect_by_data (g_ptr_array_index (tracked, i), self);
  g_ptr_array_set_size (tracked, 0);
}

static void
llm_coverage_constructed (GObject *object)
{
  LlmCoverage *self = LLM_COVERAGE (object);

  G_OBJECT_CLASS (llm_coverage_parent_class)->constructed (object);

  g_assert (self->n_layers > 0);
  g_assert (self->peers != NULL);

  self->replicas = g_new0 (guint, self->n_layers);
  self->scratch = g_new0 (gboolean, self->n_layers);

  g_signal_connect (self->peers, "items-changed", G_CALLBACK (on_peers_items_changed), self);
  track_items (self, self->tracked_peers, self->peers,
               0, 0, g_list_model_get_n_items (self->peers));

  if (self->shards != NULL)
    {
      g_signal_connect (self->shards, "items-changed", G_CALLBACK (on_shards_items_changed), self);
      track_items (self, self->tracked_shards, self->shards,
                   0, 0, g_list_model_get_n_items (self->shards));
    }

  /* No ::changed before anyone could connect to it. */
  g_signal_handlers_block_matched (self, G_SIGNAL_MATCH_ID, signals[CHANGED],
                                   0, NULL, NULL, NULL);
  recompute (self);
  g_signal_handlers_unblock_matched (self, G_SIGNAL_MATCH_ID, signals[CHANGED],
                                     0, NULL, NULL, NULL);
}

static void
llm_coverage_dispose (GObject *object)
{
  LlmCoverage *self = LLM_COVERAGE (object);

  untrack_all (self, self->tracked_peers);
  untrack_all (self, self->tracked_shards);

  if (self->peers != NULL)
    g_signal_handlers_disconnect_by_data (self->peers, self);
  if (self->shards != NULL)
    g_signal_handlers_disconnect_by_data (self->shards, self);
  g_clear_object (&self->peers);
  g_clear_object (&self->shards);

  G_OBJECT_CLASS (llm_coverage_parent_class)->dispose (object);
}

static void
llm_coverage_finalize (GObject *object)
{
  LlmCoverage *self = LLM_COVERAGE (object);

  g_clear_pointer (&self->tracked_peers, g_ptr_array_unref);
  g_clear_pointer (&self->tracked_shards, g_ptr_array_unref);
  g_clear_pointer (&self->model_id, g_free);
  g_clear_pointer (&self->replicas, g_free);
  g_clear_pointer (&self->scratch, g_free);

  G_OBJECT_CLASS (llm_coverage_parent_class)->finalize (object);
}

static void
llm_coverage_get_property (GObject    *object,
                           guint       prop_id,
                           GValue     *value,
                           GParamSpec *pspec)
{
  LlmCoverage *self = LLM_COVERAGE (object);

  switch (prop_id)
    {
    case PROP_MODEL_ID:
      g_value_set_string (value, self->model_id);
      break;

    case PROP_N_LAYERS:
      g_value_set_uint (value, self->n_layers);
      break;

    case PROP_PEERS:
      g_value_set_object (value, self->peers);
      break;

    case PROP_SHARDS:
      g_value_set_object (value, self->shards);
      break;

    case PROP_COMPLETE:
      g_value_set_boolean (value, self->complete);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
llm_coverage_set_property (GObject      *object,
                           guint         prop_id,
                           const GValue *value,
                           GParamSpec   *pspec)
{
  LlmCoverage *self = LLM_COVERAGE (object);

  switch (prop_id)
    {
    case PROP_MODEL_ID:
      self->model_id = g_value_dup_string (value);
      break;

    case PROP_N_LAYERS:
      self->n_layers = g_value_get_uint (value);
      break;

    case PROP_PEERS:
      self->peers = g_value_dup_object (value);
      break;

    case PROP_SHARDS:
      self->shards = g_value_dup_object (value);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
llm_coverage_class_init (LlmCoverageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = llm_coverage_constructed;
  object_class->dispose = llm_coverage_dispose;
  object_class->finalize = llm_coverage_finalize;
  object_class->get_property = llm_coverage_get_property;
  object_class->set_property = llm_coverage_set_property;

  /**
   * LlmCoverage:model-id:
   *
   * The model whose layers are counted, as peers announce it.
   */
  properties[PROP_MODEL_ID] =
    g_param_spec_string ("model-id", NULL, NULL,
                         NULL,
                         (G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
                          G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmCoverage:n-layers:
   *
   * How many layers the model has (its config's `num_hidden_layers`).
   */
  properties[PROP_N_LAYERS] =
    g_param_spec_uint ("n-layers", NULL, NULL,
                       1, G_MAXUINT, 1,
                       (G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
                        G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmCoverage:peers:
   *
   * The peers to count: a #GListModel of #LlmPeer.
   */
  properties[PROP_PEERS] =
    g_param_spec_object ("peers", NULL, NULL,
                         G_TYPE_LIST_MODEL,
                         (G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
                          G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmCoverage:shards:
   *
   * This node's shards, a #GListModel of #LlmShard, or %NULL to count
   * peers only.
   */
  properties[PROP_SHARDS] =
    g_param_spec_object ("shards", NULL, NULL,
                         G_TYPE_LIST_MODEL,
                         (G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
                          G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmCoverage:complete:
   *
   * Whether every layer has at least one replica: the model can run.
   */
  properties[PROP_COMPLETE] =
    g_param_spec_boolean ("complete", NULL, NULL,
                          FALSE,
                          (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * LlmCoverage::changed:
   * @self: the coverage
   *
   * Emitted when the replica count of at least one layer changed (and so
   * perhaps the gaps). Not emitted when peers change in ways that leave
   * the counts as they were.
   */
  signals[CHANGED] =
    g_signal_new ("changed",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0,
                  NULL, NULL, NULL,
                  G_TYPE_NONE, 0);
}

static void
llm_coverage_init (LlmCoverage *self)
{
  self->tracked_peers = g_ptr_array_new_with_free_func (g_object_unref);
  self->tracked_shards = g_ptr_array_new_with_free_func (g_object_unref);
}

/**
 * llm_coverage_new:
 * @model_id: the model
 * @n_layers: its number of layers, at least 1
 * @peers: a #GListModel of #LlmPeer
 * @shards: (nullable): a #GListModel of this node's #LlmShard
 *
 * Returns: (transfer full): a new coverage, already counted
 */
LlmCoverage *
llm_coverage_new (const char *model_id,
                  guint       n_layers,
                  GListModel *peers,
                  GListModel *shards)
{
  g_return_val_if_fail (model_id != NULL, NULL);
  g_return_val_if_fail (n_layers > 0, NULL);
  g_return_val_if_fail (G_IS_LIST_MODEL (peers), NULL);
  g_return_val_if_fail (g_type_is_a (g_list_model_get_item_type (peers), LLM_TYPE_PEER), NULL);
  g_return_val_if_fail (shards == NULL || G_IS_LIST_MODEL (shards), NULL);
  g_return_val_if_fail (shards == NULL ||
                        g_type_is_a (g_list_model_get_item_type (shards), LLM_TYPE_SHARD), NULL);

  return g_object_new (LLM_TYPE_COVERAGE,
                       "model-id", model_id,
                       "n-layers", n_layers,
                       "peers", peers,
                       "shards", shards,
                       NULL);
}

const char *
llm_coverage_get_model_id (LlmCoverage *self)
{
  g_return_val_if_fail (LLM_IS_COVERAGE (self), NULL);

  return self->model_id;
}

guint
llm_coverage_get_n_layers (LlmCoverage *self)
{
  g_return_val_if_fail (LLM_IS_COVERAGE (self), 0);

  return self->n_layers;
}

/**
 * llm_coverage_get_peers:
 * @self: a #LlmCoverage
 *
 * Returns: (transfer none): the peers counted
 */
GListModel *
llm_coverage_get_peers (LlmCoverage *self)
{
  g_return_val_if_fail (LLM_IS_COVERAGE (self), NULL);

  return self->peers;
}

/**
 * llm_coverage_get_shards:
 * @self: a #LlmCoverage
 *
 * Returns: (transfer none) (nullable): the local shards counted
 */
GListModel *
llm_coverage_get_shards (LlmCoverage *self)
{
  g_return_val_if_fail (LLM_IS_COVERAGE (self), NULL);

  return self->shards;
}

/**
 * llm_coverage_get_replicas:
 * @self: a #LlmCoverage
 * @layer: a layer below #LlmCoverage:n-layers
 *
 * Returns: how many nodes (peers, and this one) can run @layer
 */
guint
llm_coverage_get_replicas (LlmCoverage *self,
                           guint        layer)
{
  g_return_val_if_fail (LLM_IS_COVERAGE (self), 0);
  g_return_val_if_fail (layer < self->n_layers, 0);

  return self->replicas[layer];
}

/**
 * llm_coverage_dup_gaps:
 * @self: a #LlmCoverage
 *
 * Returns: (transfer full) (element-type LlmLayerRange): the maximal
 *   ranges of layers that no node hosts, in order; empty when
 *   #LlmCoverage:complete
 */
GArray *
llm_coverage_dup_gaps (LlmCoverage *self)
{
  GArray *gaps;

  g_return_val_if_fail (LLM_IS_COVERAGE (self), NULL);

  gaps = g_array_new (FALSE, FALSE, sizeof (LlmLayerRange));
  for (guint layer = 0; layer < self->n_layers; layer++)
    {
      LlmLayerRange gap;

      if (self->replicas[layer] > 0)
        continue;

      gap.first = layer;
      while (layer + 1 < self->n_layers && self->replicas[layer + 1] == 0)
        layer++;
      gap.last = layer;
      g_array_append_val (gaps, gap);
    }

  return gaps;
}

gboolean
llm_coverage_get_complete (LlmCoverage *self)
{
  g_return_val_if_fail (LLM_IS_COVERAGE (self), FALSE);

  return self->complete;
}

/**
 * llm_coverage_to_json:
 * @self: a #LlmCoverage
 *
 * Describes the coverage for `llm-node peers --json`:
 *
 * |[
 * { "model": "stories260K", "n_layers": 5, "replicas": [2, 2, 1, 0, 0],
 *   "gaps": [{ "first": 3, "last": 4 }], "complete": false }
 * ]|
 *
 * Returns: (transfer full): a new #JsonObject
 */
JsonObject *
llm_coverage_to_json (LlmCoverage *self)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GArray) gaps = NULL;

  g_return_val_if_fail (LLM_IS_COVERAGE (self), NULL);

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "model");
  json_builder_add_string_value (builder, self->model_id);
  json_builder_set_member_name (builder, "n_layers");
  json_builder_add_int_value (builder, self->n_layers);

  json_builder_set_member_name (builder, "replicas");
  json_builder_begin_array (builder);
  for (guint layer = 0; layer < self->n_layers; layer++)
    json_builder_add_int_value (builder, self->replicas[layer]);
  json_builder_end_array (builder);

  gaps = llm_coverage_dup_gaps (self);
  json_builder_set_member_name (builder, "gaps");
  json_builder_begin_array (builder);
  for (guint i = 0; i < gaps->len; i++)
    {
      const LlmLayerRange *gap = &g_array_index (gaps, LlmLayerRange, i);

      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "first");
      json_builder_add_int_value (builder, gap->first);
      json_builder_set_member_name (builder, "last");
      json_builder_add_int_value (builder, gap->last);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);

  json_builder_set_member_name (builder, "complete");
  json_builder_add_boolean_value (builder, self->complete);
  json_builder_end_object (builder);

  root = json_builder_get_root (builder);

  return json_object_ref (json_node_get_object (root));
}

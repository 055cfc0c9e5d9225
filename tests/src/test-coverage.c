/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "llm-coverage.h"
#include "llm-identity.h"
#include "llm-peer-list.h"
#include "llm-shard.h"

#define MODEL    "stories260K"
#define N_LAYERS 5

typedef struct
{
  LlmPeerList *list;
  GListStore *shards;
  LlmCoverage *coverage;
  guint n_changed;
  guint n_complete;
} Fixture;

static char *
dup_new_address (void)
{
  g_autoptr(LlmIdentity) identity = llm_identity_generate ();

  return llm_address_from_public_key (llm_identity_get_public_key (identity));
}

static GPtrArray *
new_shard_array (void)
{
  return g_ptr_array_new_with_free_func ((GDestroyNotify) llm_peer_shard_free);
}

static void
changed_cb (LlmCoverage *coverage,
            Fixture     *fixture)
{
  fixture->n_changed++;
}

static void
complete_cb (LlmCoverage *coverage,
             GParamSpec  *pspec,
             Fixture     *fixture)
{
  fixture->n_complete++;
}

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  fixture->list = llm_peer_list_new ();
  fixture->shards = g_list_store_new (LLM_TYPE_SHARD);
  fixture->coverage = llm_coverage_new (MODEL, N_LAYERS, G_LIST_MODEL (fixture->list),
                                        G_LIST_MODEL (fixture->shards));
  g_signal_connect (fixture->coverage, "changed", G_CALLBACK (changed_cb), fixture);
  g_signal_connect (fixture->coverage, "notify::complete", G_CALLBACK (complete_cb), fixture);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  g_assert_finalize_object (fixture->coverage);
  g_assert_finalize_object (fixture->list);
  g_assert_finalize_object (fixture->shards);
}

/* Announces, for a new peer or an existing one, the ranges given as
 * (first, last) pairs of @model, ended by -1. */
static LlmPeer *
announce (Fixture    *fixture,
          const char *address,
          const char *model,
          ...)
{
  g_autoptr(JsonObject) announcement = json_object_new ();
  g_autoptr(GError) error = NULL;
  JsonArray *shards = json_array_new ();
  LlmPeer *peer;
  va_list ap;
  int first;

  json_object_set_string_member (announcement, "address", address);
  json_object_set_array_member (announcement, "endpoints", json_array_new ());

  va_start (ap, model);
  while ((first = va_arg (ap, int)) >= 0)
    {
      JsonObject *shard = json_object_new ();

      json_object_set_string_member (shard, "model", model);
      json_object_set_int_member (shard, "first", first);
      json_object_set_int_member (shard, "last", va_arg (ap, int));
      json_array_add_object_element (shards, shard);
    }
  va_end (ap);
  json_object_set_array_member (announcement, "shards", shards);

  peer = llm_peer_list_update_from_json (fixture->list, announcement, LLM_PEER_SOURCE_LAN,
                                         g_get_monotonic_time (), &error);
  g_assert_no_error (error);

  return peer;
}

static void
assert_replicas (LlmCoverage *coverage,
                 const guint  expected[N_LAYERS])
{
  g_assert_cmpuint (llm_coverage_get_n_layers (coverage), ==, N_LAYERS);
  for (guint layer = 0; layer < N_LAYERS; layer++)
    {
      g_test_message ("layer %u", layer);
      g_assert_cmpuint (llm_coverage_get_replicas (coverage, layer), ==, expected[layer]);
    }
}

static void
assert_gaps (LlmCoverage *coverage,
             const char  *expected)
{
  g_autoptr(GArray) gaps = llm_coverage_dup_gaps (coverage);
  g_autoptr(GString) string = g_string_new (NULL);

  for (guint i = 0; i < gaps->len; i++)
    {
      LlmLayerRange *gap = &g_array_index (gaps, LlmLayerRange, i);

      g_string_append_printf (string, "%s%u-%u", i ? "," : "", gap->first, gap->last);
    }
  g_assert_cmpstr (string->str, ==, expected);
}

static void
test_coverage_empty (Fixture       *fixture,
                     gconstpointer  data)
{
  const guint none[N_LAYERS] = { 0 };
  gboolean complete = TRUE;
  guint n_layers = 0;
  g_autofree char *model_id = NULL;

  assert_replicas (fixture->coverage, none);
  assert_gaps (fixture->coverage, "0-4");
  g_assert_false (llm_coverage_get_complete (fixture->coverage));
  g_assert_cmpstr (llm_coverage_get_model_id (fixture->coverage), ==, MODEL);
  g_assert_true (llm_coverage_get_peers (fixture->coverage) == G_LIST_MODEL (fixture->list));
  g_assert_true (llm_coverage_get_shards (fixture->coverage) == G_LIST_MODEL (fixture->shards));

  g_object_get (fixture->coverage,
                "complete", &complete,
                "n-layers", &n_layers,
                "model-id", &model_id,
                NULL);
  g_assert_false (complete);
  g_assert_cmpuint (n_layers, ==, N_LAYERS);
  g_assert_cmpstr (model_id, ==, MODEL);
}

/* Peers come and go; the counts, the gaps, ::changed and :complete follow. */
static void
test_coverage_peers (Fixture       *fixture,
                     gconstpointer  data)
{
  g_autofree char *a = dup_new_address ();
  g_autofree char *b = dup_new_address ();
  g_autofree char *c = dup_new_address ();
  const guint step1[N_LAYERS] = { 1, 1, 1, 0, 0 };
  const guint step2[N_LAYERS] = { 1, 1, 2, 1, 1 };
  const guint step3[N_LAYERS] = { 2, 2, 3, 1, 1 };
  const guint step4[N_LAYERS] = { 2, 2, 2, 0, 0 };

  announce (fixture, a, MODEL, 0, 2, -1);
  assert_replicas (fixture->coverage, step1);
  assert_gaps (fixture->coverage, "3-4");
  g_assert_cmpuint (fixture->n_changed, ==, 1);
  g_assert_false (llm_coverage_get_complete (fixture->coverage));
  g_assert_cmpuint (fixture->n_complete, ==, 0);

  announce (fixture, b, MODEL, 2, 4, -1);
  assert_replicas (fixture->coverage, step2);
  assert_gaps (fixture->coverage, "");
  g_assert_cmpuint (fixture->n_changed, ==, 2);
  g_assert_true (llm_coverage_get_complete (fixture->coverage));
  g_assert_cmpuint (fixture->n_complete, ==, 1);

  announce (fixture, c, MODEL, 0, 2, -1);
  assert_replicas (fixture->coverage, step3);
  g_assert_cmpuint (fixture->n_changed, ==, 3);
  g_assert_cmpuint (fixture->n_complete, ==, 1);

  /* b says goodbye: layers 3–4 have nobody again. */
  g_assert_true (llm_peer_list_remove (fixture->list, b));
  assert_replicas (fixture->coverage, step4);
  assert_gaps (fixture->coverage, "3-4");
  g_assert_cmpuint (fixture->n_changed, ==, 4);
  g_assert_false (llm_coverage_get_complete (fixture->coverage));
  g_assert_cmpuint (fixture->n_complete, ==, 2);

  /* A peer that announces nothing new changes nothing: no ::changed. */
  announce (fixture, c, MODEL, 0, 2, -1);
  g_assert_cmpuint (fixture->n_changed, ==, 4);
}

/* A peer in the table changes its shards (notify::shards). */
static void
test_coverage_peer_changes (Fixture       *fixture,
                            gconstpointer  data)
{
  g_autofree char *a = dup_new_address ();
  g_autofree char *b = dup_new_address ();
  const guint before[N_LAYERS] = { 1, 1, 0, 1, 0 };
  const guint after[N_LAYERS] = { 0, 0, 1, 2, 1 };
  LlmPeer *peer;

  announce (fixture, b, MODEL, 3, 3, -1);
  peer = announce (fixture, a, MODEL, 0, 1, -1);
  assert_replicas (fixture->coverage, before);
  assert_gaps (fixture->coverage, "2-2,4-4");
  g_assert_cmpuint (fixture->n_changed, ==, 2);

  announce (fixture, a, MODEL, 2, 4, -1);
  assert_replicas (fixture->coverage, after);
  assert_gaps (fixture->coverage, "0-1");
  g_assert_cmpuint (fixture->n_changed, ==, 3);

  /* Changes that leave the counts alone emit nothing. */
  llm_peer_set_latency (peer, 4.0);
  llm_peer_set_state (peer, LLM_PEER_STATE_CONNECTED);
  llm_peer_set_last_seen (peer, 7);
  g_assert_cmpuint (fixture->n_changed, ==, 3);

  /* A peer marked gone (but still listed) no longer counts. */
  llm_peer_set_state (peer, LLM_PEER_STATE_GONE);
  assert_gaps (fixture->coverage, "0-2,4-4");
  g_assert_cmpuint (fixture->n_changed, ==, 4);
}

/* Only this model's layers, only up to its last layer, and one node is
 * one replica even if its ranges overlap. */
static void
test_coverage_counting (Fixture       *fixture,
                        gconstpointer  data)
{
  g_autofree char *a = dup_new_address ();
  g_autofree char *b = dup_new_address ();
  g_autoptr(GPtrArray) shards = new_shard_array ();
  const guint expected[N_LAYERS] = { 0, 0, 0, 1, 1 };
  LlmPeer *peer;

  announce (fixture, a, "another-model", 0, 4, -1);
  g_assert_cmpuint (fixture->n_changed, ==, 0);
  assert_gaps (fixture->coverage, "0-4");

  /* Beyond the model's 5 layers: what lies inside still counts. */
  announce (fixture, b, MODEL, 3, 40, -1);
  assert_replicas (fixture->coverage, expected);

  peer = llm_peer_list_lookup (fixture->list, a);
  g_ptr_array_add (shards, llm_peer_shard_new (MODEL, 0, 3));
  g_ptr_array_add (shards, llm_peer_shard_new (MODEL, 2, 4));
  llm_peer_set_shards (peer, shards);
  {
    const guint overlapping[N_LAYERS] = { 1, 1, 1, 2, 2 };

    assert_replicas (fixture->coverage, overlapping);
    g_assert_true (llm_coverage_get_complete (fixture->coverage));
  }
}

/* This node's shards count once they are ready. */
static void
test_coverage_local_shards (Fixture       *fixture,
                            gconstpointer  data)
{
  g_autofree char *a = dup_new_address ();
  g_autoptr(LlmShard) head = llm_shard_new (MODEL, "main", 0, 1);
  g_autoptr(LlmShard) tail = llm_shard_new (MODEL, "main", 1, 4);
  g_autoptr(LlmShard) other = llm_shard_new ("another-model", "main", 0, 4);
  g_autoptr(GError) error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, "disk full");
  const guint head_ready[N_LAYERS] = { 1, 1, 0, 0, 0 };
  const guint both_ready[N_LAYERS] = { 1, 1, 1, 1, 1 };
  const guint with_peer[N_LAYERS] = { 1, 2, 2, 1, 1 };

  g_list_store_append (fixture->shards, head);
  g_list_store_append (fixture->shards, other);
  g_list_store_append (fixture->shards, tail);
  g_assert_cmpuint (fixture->n_changed, ==, 0);

  llm_shard_set_state (head, LLM_SHARD_STATE_DOWNLOADING);
  llm_shard_set_state (other, LLM_SHARD_STATE_READY);
  g_assert_cmpuint (fixture->n_changed, ==, 0);

  llm_shard_set_state (head, LLM_SHARD_STATE_READY);
  assert_replicas (fixture->coverage, head_ready);
  g_assert_cmpuint (fixture->n_changed, ==, 1);

  /* Two local shards overlapping on layer 1: still one node. */
  llm_shard_set_state (tail, LLM_SHARD_STATE_READY);
  assert_replicas (fixture->coverage, both_ready);
  g_assert_true (llm_coverage_get_complete (fixture->coverage));

  announce (fixture, a, MODEL, 1, 2, -1);
  assert_replicas (fixture->coverage, with_peer);

  llm_shard_set_failed (tail, error);
  assert_gaps (fixture->coverage, "3-4");
  g_assert_false (llm_coverage_get_complete (fixture->coverage));

  llm_shard_set_state (tail, LLM_SHARD_STATE_READY);
  g_assert_true (llm_coverage_get_complete (fixture->coverage));
  g_list_store_remove (fixture->shards, 2);
  assert_gaps (fixture->coverage, "3-4");
  g_assert_cmpuint (fixture->n_complete, ==, 4);

  /* The removed shard is no longer watched. */
  llm_shard_set_state (tail, LLM_SHARD_STATE_LOADING);
  llm_shard_set_state (tail, LLM_SHARD_STATE_READY);
  assert_gaps (fixture->coverage, "3-4");
}

/* A killed node: not seen for longer than the timeout, it expires, and
 * its layers go with it. */
static void
test_coverage_expire (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autofree char *a = dup_new_address ();
  g_autofree char *b = dup_new_address ();
  LlmPeer *peer;
  gint64 now;

  announce (fixture, a, MODEL, 0, 2, -1);
  peer = announce (fixture, b, MODEL, 3, 4, -1);
  g_assert_true (llm_coverage_get_complete (fixture->coverage));

  now = llm_peer_get_last_seen (peer) + 61 * G_USEC_PER_SEC;
  llm_peer_set_last_seen (llm_peer_list_lookup (fixture->list, a), now);
  g_assert_cmpuint (llm_peer_list_expire (fixture->list, now, 60 * G_USEC_PER_SEC), ==, 1);
  assert_gaps (fixture->coverage, "3-4");
  g_assert_false (llm_coverage_get_complete (fixture->coverage));

  llm_peer_list_clear (fixture->list);
  assert_gaps (fixture->coverage, "0-4");
}

/* Made on a table that has peers already, it counts them at once, without
 * a ::changed nobody could have seen. */
static void
test_coverage_existing (void)
{
  g_autofree char *a = dup_new_address ();
  g_autofree char *b = dup_new_address ();
  LlmPeerList *list = llm_peer_list_new ();
  LlmCoverage *coverage;
  LlmPeer *peer;
  g_autoptr(GPtrArray) shards = new_shard_array ();
  const guint expected[N_LAYERS] = { 1, 1, 1, 1, 1 };

  g_ptr_array_add (shards, llm_peer_shard_new (MODEL, 0, 4));
  llm_peer_set_shards (llm_peer_list_ensure (list, a, NULL), shards);
  peer = g_object_ref (llm_peer_list_ensure (list, b, NULL));

  coverage = llm_coverage_new (MODEL, N_LAYERS, G_LIST_MODEL (list), NULL);
  assert_replicas (coverage, expected);
  g_assert_true (llm_coverage_get_complete (coverage));
  g_assert_null (llm_coverage_get_shards (coverage));

  /* Once the coverage is gone, its handlers are too. */
  g_assert_finalize_object (coverage);
  llm_peer_set_shards (peer, shards);
  llm_peer_list_remove (list, a);

  g_assert_finalize_object (list);
  g_assert_finalize_object (peer);
}

static void
test_coverage_to_json (Fixture       *fixture,
                       gconstpointer  data)
{
  g_autofree char *a = dup_new_address ();
  g_autofree char *b = dup_new_address ();
  g_autoptr(JsonObject) json = NULL;
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) node = json_node_new (JSON_NODE_OBJECT);
  g_autofree char *text = NULL;

  announce (fixture, a, MODEL, 0, 1, -1);
  announce (fixture, b, MODEL, 0, 0, -1);

  json = llm_coverage_to_json (fixture->coverage);
  json_node_set_object (node, json);
  json_generator_set_root (generator, node);
  text = json_generator_to_data (generator, NULL);
  g_assert_cmpstr (text, ==,
                   "{\"model\":\"stories260K\",\"n_layers\":5,\"replicas\":[2,1,0,0,0],"
                   "\"gaps\":[{\"first\":2,\"last\":4}],\"complete\":false}");
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

#define ADD(path, func) \
  g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

  ADD ("/llm/coverage/empty", test_coverage_empty);
  ADD ("/llm/coverage/peers", test_coverage_peers);
  ADD ("/llm/coverage/peer-changes", test_coverage_peer_changes);
  ADD ("/llm/coverage/counting", test_coverage_counting);
  ADD ("/llm/coverage/local-shards", test_coverage_local_shards);
  ADD ("/llm/coverage/expire", test_coverage_expire);
  ADD ("/llm/coverage/to-json", test_coverage_to_json);
  g_test_add_func ("/llm/coverage/existing", test_coverage_existing);

#undef ADD

  return g_test_run ();
}

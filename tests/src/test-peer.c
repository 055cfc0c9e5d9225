/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <string.h>

#include "llm-identity.h"
#include "llm-peer.h"

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

/* Parses @text after replacing @ADDR@ with @address and @OTHER@ with
 * another node's address. */
static JsonObject *
parse_announcement (const char *text,
                    const char *address)
{
  g_autofree char *other = dup_new_address ();
  g_autoptr(GString) string = g_string_new (text);
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;

  g_string_replace (string, "@ADDR@", address, 0);
  g_string_replace (string, "@OTHER@", other, 0);
  json_parser_load_from_data (parser, string->str, -1, &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)));

  return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

static void
count_notify_cb (GObject    *object,
                 GParamSpec *pspec,
                 GHashTable *counts)
{
  guint count = GPOINTER_TO_UINT (g_hash_table_lookup (counts, pspec->name));

  g_hash_table_insert (counts, (gpointer) pspec->name, GUINT_TO_POINTER (count + 1));
}

static guint
get_count (GHashTable *counts,
           const char *name)
{
  return GPOINTER_TO_UINT (g_hash_table_lookup (counts, name));
}

static GHashTable *
watch_notify (gpointer object)
{
  GHashTable *counts = g_hash_table_new (g_str_hash, g_str_equal);

  g_signal_connect (object, "notify", G_CALLBACK (count_notify_cb), counts);

  return counts;
}

static void
test_peer_new (void)
{
  g_autofree char *address = dup_new_address ();
  g_autoptr(GPtrArray) shards = NULL;
  g_autofree char *got_address = NULL;
  g_auto(GStrv) endpoints = NULL;
  LlmPeerState state;
  LlmPeerSource sources;
  double latency;
  LlmPeer *peer;

  peer = llm_peer_new (address);
  g_assert_cmpstr (llm_peer_get_address (peer), ==, address);
  g_assert_nonnull (llm_peer_get_endpoints (peer));
  g_assert_null (llm_peer_get_endpoints (peer)[0]);
  shards = llm_peer_dup_shards (peer);
  g_assert_cmpuint (shards->len, ==, 0);
  g_assert_cmpfloat (llm_peer_get_latency (peer), ==, -1.0);
  g_assert_cmpfloat (llm_peer_get_throughput (peer), ==, 0.0);
  g_assert_cmpint (llm_peer_get_last_seen (peer), ==, 0);
  g_assert_cmpint (llm_peer_get_state (peer), ==, LLM_PEER_STATE_DISCOVERED);
  g_assert_cmpint (llm_peer_get_sources (peer), ==, LLM_PEER_SOURCE_NONE);
  g_assert_false (llm_peer_hosts_layer (peer, "stories260K", 0));

  g_object_get (peer,
                "address", &got_address,
                "endpoints", &endpoints,
                "state", &state,
                "sources", &sources,
                "latency", &latency,
                NULL);
  g_assert_cmpstr (got_address, ==, address);
  g_assert_cmpuint (g_strv_length (endpoints), ==, 0);
  g_assert_cmpint (state, ==, LLM_PEER_STATE_DISCOVERED);
  g_assert_cmpint (sources, ==, LLM_PEER_SOURCE_NONE);
  g_assert_cmpfloat (latency, ==, -1.0);

  g_assert_finalize_object (peer);
}

static void
test_peer_bad_address (void)
{
  if (g_test_subprocess ())
    {
      llm_peer_new ("not-an-address.llm");
      return;
    }

  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*CRITICAL*llm_address_is_valid*");
}

static void
test_peer_properties (void)
{
  g_autofree char *address = dup_new_address ();
  g_autoptr(GHashTable) counts = NULL;
  const char *endpoints[] = { "127.0.0.1:4001", "[::1]:4001", NULL };
  const char *same[] = { "127.0.0.1:4001", "[::1]:4001", NULL };
  LlmPeer *peer = llm_peer_new (address);

  counts = watch_notify (peer);

  /* Each setter notifies on a change, and only then. */
  llm_peer_set_endpoints (peer, endpoints);
  llm_peer_set_endpoints (peer, same);
  g_assert_cmpuint (get_count (counts, "endpoints"), ==, 1);
  g_assert_cmpstrv (llm_peer_get_endpoints (peer), endpoints);
  llm_peer_set_endpoints (peer, NULL);
  g_assert_cmpuint (get_count (counts, "endpoints"), ==, 2);
  g_assert_null (llm_peer_get_endpoints (peer)[0]);

  llm_peer_set_latency (peer, 12.5);
  llm_peer_set_latency (peer, 12.5);
  g_assert_cmpuint (get_count (counts, "latency"), ==, 1);
  g_assert_cmpfloat (llm_peer_get_latency (peer), ==, 12.5);

  llm_peer_set_throughput (peer, 1e6);
  llm_peer_set_throughput (peer, 1e6);
  g_assert_cmpuint (get_count (counts, "throughput"), ==, 1);

  llm_peer_set_last_seen (peer, 42);
  llm_peer_set_last_seen (peer, 42);
  g_assert_cmpuint (get_count (counts, "last-seen"), ==, 1);
  g_assert_cmpint (llm_peer_get_last_seen (peer), ==, 42);

  llm_peer_set_state (peer, LLM_PEER_STATE_CONNECTED);
  llm_peer_set_state (peer, LLM_PEER_STATE_CONNECTED);
  g_assert_cmpuint (get_count (counts, "state"), ==, 1);

  llm_peer_add_source (peer, LLM_PEER_SOURCE_LAN);
  llm_peer_add_source (peer, LLM_PEER_SOURCE_DHT);
  llm_peer_add_source (peer, LLM_PEER_SOURCE_LAN);
  g_assert_cmpuint (get_count (counts, "sources"), ==, 2);
  g_assert_cmpint (llm_peer_get_sources (peer), ==, LLM_PEER_SOURCE_LAN | LLM_PEER_SOURCE_DHT);

  g_object_set (peer, "state", LLM_PEER_STATE_GONE, "latency", 3.0, NULL);
  g_assert_cmpuint (get_count (counts, "state"), ==, 2);
  g_assert_cmpuint (get_count (counts, "latency"), ==, 2);
  g_assert_cmpuint (get_count (counts, "address"), ==, 0);

  g_signal_handlers_disconnect_by_data (peer, counts);
  g_assert_finalize_object (peer);
}

static void
test_peer_shards (void)
{
  g_autofree char *address = dup_new_address ();
  g_autoptr(GHashTable) counts = NULL;
  g_autoptr(GPtrArray) shards = new_shard_array ();
  g_autoptr(GPtrArray) reordered = new_shard_array ();
  g_autoptr(GPtrArray) got = NULL;
  g_autoptr(GPtrArray) property = NULL;
  LlmPeer *peer = llm_peer_new (address);
  const LlmPeerShard *shard;

  counts = watch_notify (peer);

  g_ptr_array_add (shards, llm_peer_shard_new ("stories260K", 5, 9));
  g_ptr_array_add (shards, llm_peer_shard_new ("stories260K", 0, 2));
  g_ptr_array_add (shards, llm_peer_shard_new ("other", 3, 3));

  /* One notification for the whole set. */
  llm_peer_set_shards (peer, shards);
  g_assert_cmpuint (get_count (counts, "shards"), ==, 1);

  /* The same set in another order is no change. */
  g_ptr_array_add (reordered, llm_peer_shard_new ("other", 3, 3));
  g_ptr_array_add (reordered, llm_peer_shard_new ("stories260K", 0, 2));
  g_ptr_array_add (reordered, llm_peer_shard_new ("stories260K", 5, 9));
  llm_peer_set_shards (peer, reordered);
  g_assert_cmpuint (get_count (counts, "shards"), ==, 1);

  /* A sorted copy, which the caller owns. */
  got = llm_peer_dup_shards (peer);
  g_assert_cmpuint (got->len, ==, 3);
  shard = g_ptr_array_index (got, 0);
  g_assert_cmpstr (shard->model_id, ==, "other");
  shard = g_ptr_array_index (got, 1);
  g_assert_cmpstr (shard->model_id, ==, "stories260K");
  g_assert_cmpuint (shard->first_layer, ==, 0);
  g_assert_cmpuint (shard->last_layer, ==, 2);
  shard = g_ptr_array_index (got, 2);
  g_assert_cmpuint (shard->first_layer, ==, 5);
  g_assert_cmpuint (shard->last_layer, ==, 9);
  g_ptr_array_set_size (got, 0);
  g_assert_cmpuint (llm_peer_hosts_layer (peer, "stories260K", 0), ==, TRUE);

  g_object_get (peer, "shards", &property, NULL);
  g_assert_cmpuint (property->len, ==, 3);

  /* Inclusive ranges, per model. */
  g_assert_true (llm_peer_hosts_layer (peer, "stories260K", 2));
  g_assert_false (llm_peer_hosts_layer (peer, "stories260K", 3));
  g_assert_false (llm_peer_hosts_layer (peer, "stories260K", 4));
  g_assert_true (llm_peer_hosts_layer (peer, "stories260K", 5));
  g_assert_true (llm_peer_hosts_layer (peer, "stories260K", 9));
  g_assert_false (llm_peer_hosts_layer (peer, "stories260K", 10));
  g_assert_true (llm_peer_hosts_layer (peer, "other", 3));
  g_assert_false (llm_peer_hosts_layer (peer, "other", 2));
  g_assert_false (llm_peer_hosts_layer (peer, "unknown", 0));

  llm_peer_set_shards (peer, NULL);
  g_assert_cmpuint (get_count (counts, "shards"), ==, 2);
  g_assert_false (llm_peer_hosts_layer (peer, "stories260K", 0));

  g_signal_handlers_disconnect_by_data (peer, counts);
  g_assert_finalize_object (peer);
}

static void
test_peer_update_valid (void)
{
  g_autofree char *address = dup_new_address ();
  g_autoptr(GHashTable) counts = NULL;
  g_autoptr(JsonObject) announcement = NULL;
  g_autoptr(JsonObject) changed = NULL;
  g_autoptr(GPtrArray) shards = NULL;
  g_autoptr(GError) error = NULL;
  const char *expected[] = { "192.0.2.1:4001", "[2001:db8::1]:4001", "node-1.local:4001", NULL };
  LlmPeer *peer = llm_peer_new (address);

  counts = watch_notify (peer);
  announcement = parse_announcement ("{ \"address\": \"@ADDR@\","
                                     "  \"endpoints\": [\"192.0.2.1:4001\", \"[2001:db8::1]:4001\","
                                     "                  \"node-1.local:4001\"],"
                                     "  \"shards\": [{ \"model\": \"stories260K\","
                                     "                \"first\": 0, \"last\": 4 },"
                                     "              { \"model\": \"stories260K\","
                                     "                \"first\": 6, \"last\": 6 }],"
                                     "  \"future\": { \"ignored\": true } }",
                                     address);

  g_assert_true (llm_peer_update_from_json (peer, announcement, &error));
  g_assert_no_error (error);
  g_assert_cmpstrv (llm_peer_get_endpoints (peer), expected);
  shards = llm_peer_dup_shards (peer);
  g_assert_cmpuint (shards->len, ==, 2);
  g_assert_true (llm_peer_hosts_layer (peer, "stories260K", 4));
  g_assert_false (llm_peer_hosts_layer (peer, "stories260K", 5));
  g_assert_true (llm_peer_hosts_layer (peer, "stories260K", 6));
  g_assert_cmpuint (get_count (counts, "endpoints"), ==, 1);
  g_assert_cmpuint (get_count (counts, "shards"), ==, 1);
  /* The caller sets last-seen, not the announcement. */
  g_assert_cmpuint (get_count (counts, "last-seen"), ==, 0);

  /* The same announcement again changes nothing. */
  g_assert_true (llm_peer_update_from_json (peer, announcement, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (get_count (counts, "endpoints"), ==, 1);
  g_assert_cmpuint (get_count (counts, "shards"), ==, 1);

  /* Shards only: endpoints stay quiet. An empty set is valid. */
  changed = parse_announcement ("{ \"address\": \"@ADDR@\","
                                "  \"endpoints\": [\"192.0.2.1:4001\", \"[2001:db8::1]:4001\","
                                "                  \"node-1.local:4001\"],"
                                "  \"shards\": [] }",
                                address);
  g_assert_true (llm_peer_update_from_json (peer, changed, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (get_count (counts, "endpoints"), ==, 1);
  g_assert_cmpuint (get_count (counts, "shards"), ==, 2);
  g_assert_false (llm_peer_hosts_layer (peer, "stories260K", 0));

  g_signal_handlers_disconnect_by_data (peer, counts);
  g_assert_finalize_object (peer);
}

/* Bad announcements: each is refused with its error, and the peer is left
 * as it was. */
typedef struct
{
  const char *path;
  const char *json;
  int code;             /* LlmPeerError */
} BadCase;

static const BadCase bad_cases[] = {
  { "/llm/peer/update/claims-other-address",
    "{ \"address\": \"@OTHER@\", \"endpoints\": [], \"shards\": [] }",
    LLM_PEER_ERROR_ADDRESS_MISMATCH },
  { "/llm/peer/update/missing-address",
    "{ \"endpoints\": [], \"shards\": [] }",
    LLM_PEER_ERROR_INVALID },
  { "/llm/peer/update/address-not-string",
    "{ \"address\": 7, \"endpoints\": [], \"shards\": [] }",
    LLM_PEER_ERROR_INVALID },
  { "/llm/peer/update/address-object",
    "{ \"address\": { \"a\": 1 }, \"endpoints\": [], \"shards\": [] }",
    LLM_PEER_ERROR_INVALID },
  { "/llm/peer/update/address-invalid",
    "{ \"address\": \"aaaa.llm\", \"endpoints\": [], \"shards\": [] }",
    LLM_PEER_ERROR_INVALID },
  { "/llm/peer/update/address-uppercase",
    "{ \"address\": \"@UPPER@\", \"endpoints\": [], \"shards\": [] }",
    LLM_PEER_ERROR_INVALID },
  { "/llm/peer/update/missing-endpoints",
    "{ \"address\": \"@ADDR@\", \"shards\": [] }",
    LLM_PEER_ERROR_INVALID },
  { "/llm/peer/update/endpoints-not-array",
    "{ \"address\": \"@ADDR@\", \"endpoints\": \"127.0.0.1:1\", \"shards\": [] }",
    LLM_PEER_ERROR_INVALID },
  { "/llm/peer/update/endpoint-not-string",
    "{ \"address\": \"@ADDR@\", \"endpoints\": [4001], \"shards\": [] }",
    LLM_PEER_ERROR_INVALID },
  { "/llm/peer/update/endpoint-no-port",
    "{ \"address\": \"@ADDR@\", \"endpoints\": [\"127.0.0.1\"], \"shards\": [] }",
    LLM_PEER_ERROR_INVALID },
  { "/llm/peer/update/endpoint-port-zero",
    "{ \"address\": \"@ADDR@\", \"endpoints\": [\"127.0.0.1:0\"], \"shards\": [] }",
    LLM_PEER_ERROR_INVALID },
  { "/llm/peer/update/endpoint-port-too-big",
    "{ \"address\": \"@ADDR@\", \"endpoints\": [\"127.0.0.1:65536\"], \"shards\": [] }",
    LLM_PEER_ERROR_INVALID },
  { "/llm/peer/update/endpoint-bad-host",
    "{ \"address\": \"@ADDR@\", \"endpoints\": [\"evil host\\n:4001\"], \"shards\": [] }",
    LLM_PEER_ERROR_INVALID },
  { "/llm/peer/update/endpoint-ipv6-unbracketed",
    "{ \"address\": \"@ADDR@\", \"endpoints\": [\"::1:4001\"], \"shards\": [] }",
    LLM_PEER_ERROR_INVALID },
  { "/llm/peer/update/endpoint-empty",
    "{ \"address\": \"@ADDR@\", \"endpoints\": [\"\"], \"shards\": [] }",
    LLM_PEER_ERROR_INVALID },
  { "/llm/peer/update/endpoint-twice",
    "{ \"address\": \"@ADDR@\", \"endpoints\": [\"127.0.0.1:1\", \"127.0.0.1:1\"],"
    "  \"shards\": [] }",
    LLM_PEER_ERROR_TOO_MANY },
  { "/llm/peer/update/too-many-endpoints",
    "{ \"address\": \"@ADDR@\", \"endpoints\": [@ENDPOINTS17@], \"shards\": [] }",
    LLM_PEER_ERROR_TOO_MANY },
  { "/llm/peer/update/missing-shards",
    "{ \"address\": \"@ADDR@\", \"endpoints\": [] }",
    LLM_PEER_ERROR_INVALID },
  { "/llm/peer/update/shards-not-array",
    "{ \"address\": \"@ADDR@\", \"endpoints\": [], \"shards\": {} }",
    LLM_PEER_ERROR_INVALID },
  { "/llm/peer/update/shard-not-object",
    "{ \"address\": \"@ADDR@\", \"endpoints\": [], \"shards\": [[0, 4]] }",
    LLM_PEER_ERROR_INVALID },
  { "/llm/peer/update/shard-missing-model",
    "{ \"address\": \"@ADDR@\", \"endpoints\": [], \"shards\": [{ \"first\": 0, \"last\": 1 }] }",
    LLM_PEER_ERROR_INVALID },
  { "/llm/peer/update/shard-model-not-string",
    "{ \"address\": \"@ADDR@\", \"endpoints\": [],"
    "  \"shards\": [{ \"model\": 1, \"first\": 0, \"last\": 1 }] }",
    LLM_PEER_ERROR_INVALID },
  { "/llm/peer/update/shard-model-empty",
    "{ \"address\": \"@ADDR@\", \"endpoints\": [],"
    "  \"shards\": [{ \"model\": \"\", \"first\": 0, \"last\": 1 }] }",
    LLM_PEER_ERROR_INVALID },
  { "/llm/peer/update/shard-model-control",
    "{ \"address\": \"@ADDR@\", \"endpoints\": [],"
    "  \"shards\": [{ \"model\": \"a\\u001bb\", \"first\": 0, \"last\": 1 }] }",
    LLM_PEER_ERROR_INVALID },
  { "/llm/peer/update/shard-model-too-long",
    "{ \"address\": \"@ADDR@\", \"endpoints\": [],"
    "  \"shards\": [{ \"model\": \"@LONG@\", \"first\": 0, \"last\": 1 }] }",
    LLM_PEER_ERROR_INVALID },
  { "/llm/peer/update/shard-missing-first",
    "{ \"address\": \"@ADDR@\", \"endpoints\": [],"
    "  \"shards\": [{ \"model\": \"m\", \"last\": 1 }] }",
    LLM_PEER_ERROR_INVALID },
  { "/llm/peer/update/shard-first-string",
    "{ \"address\": \"@ADDR@\", \"endpoints\": [],"
    "  \"shards\": [{ \"model\": \"m\", \"first\": \"0\", \"last\": 1 }] }",
    LLM_PEER_ERROR_INVALID },
  { "/llm/peer/update/shard-last-float",
    "{ \"address\": \"@ADDR@\", \"endpoints\": [],"
    "  \"shards\": [{ \"model\": \"m\", \"first\": 0, \"last\": 1.5 }] }",
    LLM_PEER_ERROR_INVALID },
  { "/llm/peer/update/shard-last-null",
    "{ \"address\": \"@ADDR@\", \"endpoints\": [],"
    "  \"shards\": [{ \"model\": \"m\", \"first\": 0, \"last\": null }] }",
    LLM_PEER_ERROR_INVALID },
  { "/llm/peer/update/negative-range",
    "{ \"address\": \"@ADDR@\", \"endpoints\": [],"
    "  \"shards\": [{ \"model\": \"m\", \"first\": -1, \"last\": 1 }] }",
    LLM_PEER_ERROR_RANGE },
  { "/llm/peer/update/inverted-range",
    "{ \"address\": \"@ADDR@\", \"endpoints\": [],"
    "  \"shards\": [{ \"model\": \"m\", \"first\": 5, \"last\": 4 }] }",
    LLM_PEER_ERROR_RANGE },
  { "/llm/peer/update/layer-too-large",
    "{ \"address\": \"@ADDR@\", \"endpoints\": [],"
    "  \"shards\": [{ \"model\": \"m\", \"first\": 0, \"last\": 4294967296 }] }",
    LLM_PEER_ERROR_RANGE },
  { "/llm/peer/update/overlapping-ranges",
    "{ \"address\": \"@ADDR@\", \"endpoints\": [],"
    "  \"shards\": [{ \"model\": \"m\", \"first\": 4, \"last\": 9 },"
    "              { \"model\": \"m\", \"first\": 0, \"last\": 4 }] }",
    LLM_PEER_ERROR_RANGE },
  { "/llm/peer/update/too-many-shards",
    "{ \"address\": \"@ADDR@\", \"endpoints\": [], \"shards\": [@SHARDS65@] }",
    LLM_PEER_ERROR_TOO_MANY },
};

static void
test_peer_update_bad (gconstpointer data)
{
  const BadCase *bad = data;
  g_autofree char *address = dup_new_address ();
  g_autofree char *upper = g_ascii_strup (address, -1);
  g_autofree char *long_model = g_strnfill (LLM_PEER_MAX_MODEL_ID_LENGTH + 1, 'm');
  g_autoptr(GString) text = g_string_new (bad->json);
  g_autoptr(GString) endpoints = g_string_new (NULL);
  g_autoptr(GString) shards = g_string_new (NULL);
  g_autoptr(JsonObject) good = NULL;
  g_autoptr(JsonObject) announcement = NULL;
  g_autoptr(GPtrArray) before = NULL;
  g_autoptr(GPtrArray) after = NULL;
  g_autoptr(GHashTable) counts = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) endpoints_before = NULL;
  LlmPeer *peer = llm_peer_new (address);

  /* Too many by one. */
  for (guint i = 0; i <= LLM_PEER_MAX_ENDPOINTS; i++)
    g_string_append_printf (endpoints, "%s\"127.0.0.1:%u\"", i ? "," : "", 4000 + i);
  for (guint i = 0; i <= LLM_PEER_MAX_SHARDS; i++)
    g_string_append_printf (shards, "%s{ \"model\": \"m\", \"first\": %u, \"last\": %u }",
                            i ? "," : "", i, i);
  g_string_replace (text, "@ENDPOINTS17@", endpoints->str, 0);
  g_string_replace (text, "@SHARDS65@", shards->str, 0);
  g_string_replace (text, "@UPPER@", upper, 0);
  g_string_replace (text, "@LONG@", long_model, 0);

  good = parse_announcement ("{ \"address\": \"@ADDR@\", \"endpoints\": [\"127.0.0.1:4001\"],"
                             "  \"shards\": [{ \"model\": \"m\", \"first\": 0, \"last\": 3 }] }",
                             address);
  g_assert_true (llm_peer_update_from_json (peer, good, NULL));
  endpoints_before = g_strdupv ((char **) llm_peer_get_endpoints (peer));
  before = llm_peer_dup_shards (peer);

  counts = watch_notify (peer);
  announcement = parse_announcement (text->str, address);
  g_assert_false (llm_peer_update_from_json (peer, announcement, &error));
  g_assert_error (error, LLM_PEER_ERROR, bad->code);
  g_test_message ("%s", error->message);

  /* Unchanged, and nothing notified. */
  g_assert_cmpuint (g_hash_table_size (counts), ==, 0);
  g_assert_cmpstrv (llm_peer_get_endpoints (peer), endpoints_before);
  after = llm_peer_dup_shards (peer);
  g_assert_cmpuint (after->len, ==, before->len);
  g_assert_true (llm_peer_hosts_layer (peer, "m", 3));

  g_signal_handlers_disconnect_by_data (peer, counts);
  g_assert_finalize_object (peer);
}

static void
test_peer_update_limits (void)
{
  g_autofree char *address = dup_new_address ();
  g_autoptr(GString) text = g_string_new (NULL);
  g_autoptr(JsonObject) announcement = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *long_model = g_strnfill (LLM_PEER_MAX_MODEL_ID_LENGTH, 'm');
  LlmPeer *peer = llm_peer_new (address);

  /* Exactly at every limit is fine. */
  g_string_append (text, "{ \"address\": \"@ADDR@\", \"endpoints\": [");
  for (guint i = 0; i < LLM_PEER_MAX_ENDPOINTS; i++)
    g_string_append_printf (text, "%s\"127.0.0.1:%u\"", i ? "," : "", 4000 + i);
  g_string_append (text, "], \"shards\": [");
  for (guint i = 0; i < LLM_PEER_MAX_SHARDS - 1; i++)
    g_string_append_printf (text, "{ \"model\": \"m\", \"first\": %u, \"last\": %u },", i, i);
  g_string_append_printf (text, "{ \"model\": \"%s\", \"first\": 0, \"last\": %u }] }",
                          long_model, LLM_PEER_MAX_LAYER);

  announcement = parse_announcement (text->str, address);
  g_assert_true (llm_peer_update_from_json (peer, announcement, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (g_strv_length ((char **) llm_peer_get_endpoints (peer)), ==,
                    LLM_PEER_MAX_ENDPOINTS);
  g_assert_true (llm_peer_hosts_layer (peer, long_model, LLM_PEER_MAX_LAYER));
  g_assert_true (llm_peer_hosts_layer (peer, "m", LLM_PEER_MAX_SHARDS - 2));

  g_assert_finalize_object (peer);
}

static void
test_peer_to_json (void)
{
  g_autofree char *address = dup_new_address ();
  g_autoptr(JsonObject) announcement = NULL;
  g_autoptr(JsonObject) json = NULL;
  g_autoptr(JsonObject) again = NULL;
  g_autoptr(GError) error = NULL;
  JsonArray *array;
  LlmPeer *peer = llm_peer_new (address);
  LlmPeer *copy = llm_peer_new (address);

  announcement = parse_announcement ("{ \"address\": \"@ADDR@\","
                                     "  \"endpoints\": [\"127.0.0.1:4001\"],"
                                     "  \"shards\": [{ \"model\": \"m\","
                                     "                \"first\": 2, \"last\": 3 }] }",
                                     address);
  g_assert_true (llm_peer_update_from_json (peer, announcement, &error));
  g_assert_no_error (error);

  json = llm_peer_to_json (peer, 5 * G_USEC_PER_SEC);
  g_assert_cmpstr (json_object_get_string_member (json, "address"), ==, address);
  g_assert_cmpstr (json_object_get_string_member (json, "state"), ==, "discovered");
  g_assert_false (json_object_has_member (json, "latency_ms"));
  g_assert_false (json_object_has_member (json, "last_seen_ms_ago"));

  llm_peer_set_last_seen (peer, 2 * G_USEC_PER_SEC);
  llm_peer_set_latency (peer, 1.5);
  llm_peer_set_state (peer, LLM_PEER_STATE_CONNECTED);
  llm_peer_add_source (peer, LLM_PEER_SOURCE_DHT | LLM_PEER_SOURCE_MANUAL);
  g_clear_pointer (&json, json_object_unref);
  json = llm_peer_to_json (peer, 5 * G_USEC_PER_SEC);
  g_assert_cmpint (json_object_get_int_member (json, "last_seen_ms_ago"), ==, 3000);
  g_assert_cmpfloat (json_object_get_double_member (json, "latency_ms"), ==, 1.5);
  g_assert_cmpstr (json_object_get_string_member (json, "state"), ==, "connected");
  array = json_object_get_array_member (json, "sources");
  g_assert_cmpuint (json_array_get_length (array), ==, 2);
  g_assert_cmpstr (json_array_get_string_element (array, 0), ==, "dht");
  g_assert_cmpstr (json_array_get_string_element (array, 1), ==, "manual");
  array = json_object_get_array_member (json, "shards");
  g_assert_cmpuint (json_array_get_length (array), ==, 1);

  /* What it prints is an announcement that checks. */
  g_assert_true (llm_peer_update_from_json (copy, json, &error));
  g_assert_no_error (error);
  g_assert_true (llm_peer_hosts_layer (copy, "m", 2));
  g_assert_cmpstrv (llm_peer_get_endpoints (copy), llm_peer_get_endpoints (peer));

  g_assert_finalize_object (peer);
  g_assert_finalize_object (copy);
}

static void
test_peer_enums (void)
{
  g_autoptr(GEnumClass) state_class = g_type_class_ref (LLM_TYPE_PEER_STATE);
  g_autoptr(GFlagsClass) source_class = g_type_class_ref (LLM_TYPE_PEER_SOURCE);

  g_assert_cmpstr (g_enum_get_value (state_class, LLM_PEER_STATE_GONE)->value_nick, ==, "gone");
  g_assert_cmpstr (g_flags_get_first_value (source_class, LLM_PEER_SOURCE_LAN)->value_nick, ==,
                   "lan");
  g_assert_true (G_TYPE_IS_BOXED (LLM_TYPE_PEER_SHARD));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/llm/peer/new", test_peer_new);
  g_test_add_func ("/llm/peer/bad-address", test_peer_bad_address);
  g_test_add_func ("/llm/peer/properties", test_peer_properties);
  g_test_add_func ("/llm/peer/shards", test_peer_shards);
  g_test_add_func ("/llm/peer/update/valid", test_peer_update_valid);
  g_test_add_func ("/llm/peer/update/limits", test_peer_update_limits);
  for (guint i = 0; i < G_N_ELEMENTS (bad_cases); i++)
    g_test_add_data_func (bad_cases[i].path, &bad_cases[i], test_peer_update_bad);
  g_test_add_func ("/llm/peer/to-json", test_peer_to_json);
  g_test_add_func ("/llm/peer/enums", test_peer_enums);

  return g_test_run ();
}

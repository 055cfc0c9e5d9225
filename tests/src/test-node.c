/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "llm-control.h"
#include "llm-mdns-discovery.h"
#include "llm-node.h"
#include "llm-test-peers.h"

/* Nodes on loopback, in this process: no Avahi, no DHT (those have tests
 * of their own, in namespaces); peers given by hand, as with --peer. */

#define MODEL_ID "stories260K"
#define N_LAYERS 5

static LlmNode *
node_new (guint8  seed,
          guint   first,
          guint   last)
{
  g_autoptr(LlmIdentity) identity = llm_test_identity_new (seed);
  g_autoptr(LlmShard) shard = llm_shard_new (MODEL_ID, NULL, first, last);
  LlmNode *node = llm_node_new (identity);

  g_object_set (node,
                "listen-host", "127.0.0.1", "listen-port", 0,
                "mdns-enabled", FALSE, "dht-enabled", FALSE,
                NULL);
  llm_shard_set_state (shard, LLM_SHARD_STATE_READY);
  llm_node_add_shard (node, shard, N_LAYERS);
  return node;
}

static char *
dup_endpoint (LlmNode *node)
{
  return g_strdup (llm_node_get_endpoints (node)[0]);
}

static void
node_start (LlmNode *node)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (llm_node_start (node, &error));
  g_assert_no_error (error);
}

static void
stopped_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  gboolean *stopped = user_data;

  g_assert_true (llm_node_stop_finish (LLM_NODE (source), result, NULL));
  *stopped = TRUE;
}

static void
node_stop (LlmNode *node)
{
  gboolean stopped = FALSE;

  llm_node_stop_async (node, NULL, stopped_cb, &stopped);
  LLM_TEST_AWAIT_UNTIL (stopped);
  g_assert_false (llm_node_get_running (node));
}

static LlmPeer *
lookup_peer (LlmNode *node,
             LlmNode *other)
{
  return llm_peer_list_lookup (LLM_PEER_LIST (llm_node_get_peers (node)),
                               llm_node_get_address (other));
}

static gboolean
knows_shards_of (LlmNode *node,
                 LlmNode *other)
{
  LlmPeer *peer = lookup_peer (node, other);
  g_autoptr(GPtrArray) shards = peer ? llm_peer_dup_shards (peer) : NULL;

  return shards != NULL && shards->len > 0;
}

static void
count_cb (gpointer  instance,
          guint    *count)
{
  (*count)++;
}

static void
test_two_nodes (void)
{
  g_autoptr(LlmNode) alice = node_new (1, 0, 2);
  g_autoptr(LlmNode) bob = node_new (2, 3, 4);
  g_autoptr(GPtrArray) shards = NULL;
  g_autofree char *alice_endpoint = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) json = NULL;
  LlmCoverage *coverage;
  LlmPeerShard *shard;
  LlmPeer *peer;
  guint n_changes = 0;

  node_start (alice);
  alice_endpoint = dup_endpoint (alice);
  g_assert_true (g_str_has_prefix (alice_endpoint, "127.0.0.1:"));
  g_assert_false (llm_node_add_peer_endpoint (bob, "no port", &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_assert_true (llm_node_add_peer_endpoint (bob, alice_endpoint, NULL));

  coverage = llm_node_lookup_coverage (alice, MODEL_ID);
  g_assert_nonnull (coverage);
  g_assert_null (llm_node_lookup_coverage (alice, "another model"));
  g_assert_false (llm_coverage_get_complete (coverage));
  g_signal_connect (coverage, "changed", G_CALLBACK (count_cb), &n_changes);

  node_start (bob);
  LLM_TEST_AWAIT_UNTIL (knows_shards_of (alice, bob) && knows_shards_of (bob, alice));

  /* Each knows the other, connected, with its layers, and from where. */
  peer = lookup_peer (alice, bob);
  g_assert_cmpint (llm_peer_get_state (peer), ==, LLM_PEER_STATE_CONNECTED);
  g_assert_cmpstr (llm_peer_get_endpoints (peer)[0], ==, llm_node_get_endpoints (bob)[0]);
  shards = llm_peer_dup_shards (peer);
  g_assert_cmpuint (shards->len, ==, 1);
  shard = g_ptr_array_index (shards, 0);
  g_assert_cmpstr (shard->model_id, ==, MODEL_ID);
  g_assert_cmpuint (shard->first_layer, ==, 3);
  g_assert_cmpuint (shard->last_layer, ==, 4);
  g_assert_true (llm_peer_get_sources (lookup_peer (bob, alice)) & LLM_PEER_SOURCE_MANUAL);

  /* The coverage followed, live. */
  g_assert_true (llm_coverage_get_complete (coverage));
  g_assert_cmpuint (n_changes, >, 0);
  g_assert_true (llm_coverage_get_complete (llm_node_lookup_coverage (bob, MODEL_ID)));

  json = llm_node_to_json (alice);
  g_assert_cmpstr (json_object_get_string_member (json, "address"), ==,
                   llm_node_get_address (alice));
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (json, "peers")), ==, 1);
  g_assert_true (json_object_get_boolean_member (
    json_array_get_object_element (json_object_get_array_member (json, "coverage"), 0),
    "complete"));

  /* Bob leaves: his goodbye removes him from Alice's table at once. */
  node_stop (bob);
  LLM_TEST_AWAIT_UNTIL (lookup_peer (alice, bob) == NULL);
  g_assert_false (llm_coverage_get_complete (coverage));
  g_assert_cmpuint (llm_coverage_get_replicas (coverage, 3), ==, 0);
  g_assert_cmpuint (llm_coverage_get_replicas (coverage, 0), ==, 1);

  node_stop (alice);
}

/* Both dial each other at once: each side keeps the same single
 * connection. */
static void
test_simultaneous_dial (void)
{
  g_autoptr(LlmNode) alice = node_new (3, 0, 2);
  g_autoptr(LlmNode) bob = node_new (4, 3, 4);
  g_autofree char *alice_endpoint = NULL;
  g_autofree char *bob_endpoint = NULL;

  node_start (alice);
  node_start (bob);
  alice_endpoint = dup_endpoint (alice);
  bob_endpoint = dup_endpoint (bob);
  llm_node_add_peer_endpoint (alice, bob_endpoint, NULL);
  llm_node_add_peer_endpoint (bob, alice_endpoint, NULL);

  LLM_TEST_AWAIT_UNTIL (knows_shards_of (alice, bob) && knows_shards_of (bob, alice));
  LLM_TEST_AWAIT_UNTIL (llm_transport_server_get_n_connections (llm_node_get_transport_server (alice)) == 1 &&
                        llm_transport_server_get_n_connections (llm_node_get_transport_server (bob)) == 1);
  /* And it stays so: nobody dials again while connected. */
  llm_test_sleep (2500);
  g_assert_cmpuint (llm_transport_server_get_n_connections (llm_node_get_transport_server (alice)), ==, 1);
  g_assert_cmpint (llm_peer_get_state (lookup_peer (alice, bob)), ==, LLM_PEER_STATE_CONNECTED);

  node_stop (alice);
  node_stop (bob);
}

typedef struct
{
  LlmConnection *connection;
  gboolean done;
} Dialled;

static void
dialled_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  Dialled *dialled = user_data;
  g_autoptr(GError) error = NULL;

  dialled->connection = llm_transport_server_connect_finish (LLM_TRANSPORT_SERVER (source),
                                                             result, &error);
  g_assert_no_error (error);
  dialled->done = TRUE;
}

/* A bare transport endpoint (no node) that dials @node. */
static LlmConnection *
dial_node (LlmTransportServer *client,
           LlmNode            *node)
{
  g_autoptr(GSocketConnectable) connectable =
    g_network_address_parse (llm_node_get_endpoints (node)[0], 0, NULL);
  Dialled dialled = { NULL, FALSE };

  llm_transport_server_connect_async (client, connectable, llm_node_get_address (node), NULL,
                                      dialled_cb, &dialled);
  LLM_TEST_AWAIT_UNTIL (dialled.done);
  return dialled.connection;
}

static void
send_json (LlmConnection *connection,
           const char    *text)
{
  g_autoptr(JsonNode) node = json_from_string (text, NULL);

  g_assert_nonnull (node);
  llm_connection_send_async (connection, json_node_get_object (node), NULL, NULL, NULL, NULL);
}

/* A peer that announces another's address is refused, and stays as it
 * was; its connection and the node go on. */
static void
test_lying_announcement (void)
{
  g_autoptr(LlmNode) node = node_new (5, 0, 4);
  g_autoptr(LlmIdentity) mallory = llm_test_identity_new (6);
  g_autoptr(LlmIdentity) victim = llm_test_identity_new (7);
  g_autoptr(LlmTransportServer) client = llm_transport_server_new (mallory);
  g_autoptr(LlmConnection) connection = NULL;
  g_autofree char *lie = NULL;
  g_autofree char *truth = NULL;
  LlmPeer *peer;

  node_start (node);
  connection = dial_node (client, node);
  LLM_TEST_AWAIT_UNTIL (llm_peer_list_lookup (LLM_PEER_LIST (llm_node_get_peers (node)),
                                              llm_identity_get_address (mallory)) != NULL);
  peer = llm_peer_list_lookup (LLM_PEER_LIST (llm_node_get_peers (node)),
                               llm_identity_get_address (mallory));

  llm_test_log_capture ();
  lie = g_strdup_printf ("{\"type\": \"announce\", \"address\": \"%s\", \"endpoints\": [], "
                         "\"shards\": [{\"model\": \"" MODEL_ID "\", \"first\": 0, \"last\": 4}]}",
                         llm_identity_get_address (victim));
  send_json (connection, lie);
  truth = g_strdup_printf ("{\"type\": \"announce\", \"address\": \"%s\", \"endpoints\": [], "
                           "\"shards\": [{\"model\": \"" MODEL_ID "\", \"first\": 1, \"last\": 1}]}",
                           llm_identity_get_address (mallory));
  send_json (connection, "{\"type\": \"announce\", \"shards\": 7}");
  send_json (connection, "{\"type\": \"from the future\"}");
  send_json (connection, truth);

  LLM_TEST_AWAIT_UNTIL (llm_peer_hosts_layer (peer, MODEL_ID, 1));
  g_assert_false (llm_peer_hosts_layer (peer, MODEL_ID, 0));
  g_assert_null (llm_peer_list_lookup (LLM_PEER_LIST (llm_node_get_peers (node)),
                                       llm_identity_get_address (victim)));
  g_assert_true (llm_test_log_contains ("*Dropped an announcement from*"));
  g_assert_cmpint (llm_connection_get_state (connection), ==, LLM_CONNECTION_STATE_OPEN);

  llm_connection_close (connection);
  llm_transport_server_stop (client);
  node_stop (node);
}

/* A peer whose connection dies without a goodbye (killed) stays known
 * until its timeout, then leaves the table and the coverage. */
static void
test_silent_peer_expires (void)
{
  g_autoptr(LlmNode) node = node_new (8, 0, 2);
  g_autoptr(LlmIdentity) other = llm_test_identity_new (9);
  g_autoptr(LlmTransportServer) client = llm_transport_server_new (other);
  g_autoptr(LlmConnection) connection = NULL;
  g_autofree char *announcement = NULL;
  LlmCoverage *coverage = llm_node_lookup_coverage (node, MODEL_ID);
  LlmPeer *peer;
  gint64 closed_at;

  g_object_set (node, "peer-timeout", 1, NULL);
  node_start (node);
  connection = dial_node (client, node);
  announcement = g_strdup_printf ("{\"type\": \"announce\", \"address\": \"%s\", "
                                  "\"endpoints\": [], \"shards\": [{\"model\": \"" MODEL_ID
                                  "\", \"first\": 3, \"last\": 4}]}",
                                  llm_identity_get_address (other));
  send_json (connection, announcement);
  LLM_TEST_AWAIT_UNTIL (llm_coverage_get_complete (coverage));
  peer = llm_peer_list_lookup (LLM_PEER_LIST (llm_node_get_peers (node)),
                               llm_identity_get_address (other));
  g_object_ref (peer);

  /* Close the socket under the connection: as a killed process would. */
  g_io_stream_close (llm_connection_get_base_stream (connection), NULL, NULL);
  closed_at = g_get_monotonic_time ();
  LLM_TEST_AWAIT_UNTIL (llm_peer_get_state (peer) != LLM_PEER_STATE_CONNECTED);
  LLM_TEST_AWAIT_UNTIL (llm_peer_get_state (peer) == LLM_PEER_STATE_GONE);
  g_test_message ("A silent peer left after %.1f s (timeout 1 s, checked every 2 s)",
                  (g_get_monotonic_time () - closed_at) / (double) G_USEC_PER_SEC);
  g_assert_false (llm_coverage_get_complete (coverage));
  g_assert_cmpuint (g_list_model_get_n_items (llm_node_get_peers (node)), ==, 0);
  g_object_unref (peer);

  llm_transport_server_stop (client);
  node_stop (node);
}

static void
test_mdns_txt (void)
{
  g_autoptr(LlmIdentity) identity = llm_test_identity_new (10);
  g_autoptr(JsonNode) node = NULL;
  g_autoptr(JsonObject) back = NULL;
  g_autoptr(GPtrArray) txt = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  JsonArray *shards;

  text = g_strdup_printf ("{\"address\": \"%s\", \"endpoints\": [\"10.0.0.1:1\"], \"shards\": ["
                          "{\"model\": \"org/model\", \"first\": 0, \"last\": 9},"
                          "{\"model\": \"" MODEL_ID "\", \"first\": 4, \"last\": 4}]}",
                          llm_identity_get_address (identity));
  node = json_from_string (text, NULL);
  txt = llm_mdns_txt_from_announcement (json_node_get_object (node));
  g_ptr_array_add (txt, NULL);
  for (guint i = 0; i + 1 < txt->len; i++)
    g_assert_cmpuint (strlen (g_ptr_array_index (txt, i)), <=, 255);

  back = llm_mdns_txt_to_announcement ((const char * const *) txt->pdata, "10.0.0.2:7421", &error);
  g_assert_no_error (error);
  g_assert_cmpstr (json_object_get_string_member (back, "address"), ==,
                   llm_identity_get_address (identity));
  g_assert_cmpstr (json_array_get_string_element (json_object_get_array_member (back, "endpoints"), 0),
                   ==, "10.0.0.2:7421");
  shards = json_object_get_array_member (back, "shards");
  g_assert_cmpuint (json_array_get_length (shards), ==, 2);
  g_assert_cmpstr (json_object_get_string_member (json_array_get_object_element (shards, 0), "model"),
                   ==, "org/model");
  g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (shards, 0), "last"),
                   ==, 9);

  /* What a stranger on the LAN may publish instead. */
  {
    const char *no_version[] = { "address=x", NULL };
    const char *bad_address[] = { "txtvers=1", "address=abc.llm", NULL };
    g_autofree char *address = g_strdup_printf ("address=%s", llm_identity_get_address (identity));
    const char *bad_shards[] = { "txtvers=1", address, "shards=m:1-", NULL };
    const char *inverted_is_parsed[] = { "txtvers=1", address, "shards=m:4-1", NULL };
    g_autoptr(JsonObject) inverted = NULL;

    g_clear_error (&error);
    g_assert_null (llm_mdns_txt_to_announcement (no_version, "10.0.0.2:1", &error));
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED);
    g_clear_error (&error);
    g_assert_null (llm_mdns_txt_to_announcement (bad_address, "10.0.0.2:1", &error));
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
    g_clear_error (&error);
    g_assert_null (llm_mdns_txt_to_announcement (bad_shards, "10.0.0.2:1", &error));
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
    g_clear_error (&error);
    /* Parsed here; llm_peer_update_from_json() refuses the range. */
    inverted = llm_mdns_txt_to_announcement (inverted_is_parsed, "10.0.0.2:1", &error);
    g_assert_no_error (error);
    g_assert_nonnull (inverted);
  }
}

typedef struct
{
  char *data_dir;
  JsonObject *result;
  GError *error;
  gboolean done;
} Request;

static gpointer
request_thread (gpointer user_data)
{
  Request *request = user_data;

  request->result = llm_control_request (request->data_dir, "peers", NULL, &request->error);
  g_atomic_int_set (&request->done, TRUE);
  return NULL;
}

/* The control socket answers from the main loop: ask from a thread, as
 * another process would. */
static JsonObject *
request_peers (const char  *data_dir,
               GError     **error)
{
  Request request = { (char *) data_dir, NULL, NULL, FALSE };
  GThread *thread = g_thread_new ("request", request_thread, &request);

  LLM_TEST_AWAIT_UNTIL (g_atomic_int_get (&request.done));
  g_thread_join (thread);
  if (request.error != NULL)
    g_propagate_error (error, request.error);
  return request.result;
}

static void
test_control_socket (void)
{
  g_autoptr(LlmNode) node = node_new (11, 0, 4);
  g_autoptr(LlmControlServer) control = llm_control_server_new (node);
  g_autoptr(LlmControlServer) second = llm_control_server_new (node);
  g_autoptr(JsonObject) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *data_dir = g_dir_make_tmp ("llm-node-control-XXXXXX", NULL);
  g_autofree char *socket_path = g_build_filename (data_dir, LLM_CONTROL_SOCKET_NAME, NULL);
  g_autofree char *long_dir = NULL;
  GStatBuf status;

  /* Nobody there yet. */
  g_assert_null (request_peers (data_dir, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED);
  g_clear_error (&error);

  /* A socket file left by a killed node is replaced. */
  g_assert_true (g_file_set_contents (socket_path, "", 0, NULL));
  node_start (node);
  g_assert_true (llm_control_server_start (control, data_dir, &error));
  g_assert_no_error (error);
  g_assert_cmpint (g_stat (socket_path, &status), ==, 0);
  g_assert_cmpint (status.st_mode & 0777, ==, 0600);

  result = request_peers (data_dir, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (json_object_get_string_member (result, "address"), ==,
                   llm_node_get_address (node));
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (result, "shards")), ==, 1);
  g_assert_true (json_object_has_member (result, "coverage"));

  /* A second node on the same data dir is refused, and the first goes on. */
  g_assert_false (llm_control_server_start (second, data_dir, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE);
  g_clear_error (&error);
  g_clear_pointer (&result, json_object_unref);
  result = request_peers (data_dir, &error);
  g_assert_no_error (error);

  /* Unix sockets have short paths. */
  long_dir = g_strnfill (120, 'd');
  g_assert_false (llm_control_server_start (second, long_dir, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG);
  g_clear_error (&error);

  llm_control_server_stop (control);
  g_assert_false (g_file_test (socket_path, G_FILE_TEST_EXISTS));
  node_stop (node);
  g_rmdir (data_dir);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/llm/node/two-nodes", test_two_nodes);
  g_test_add_func ("/llm/node/simultaneous-dial", test_simultaneous_dial);
  g_test_add_func ("/llm/node/lying-announcement", test_lying_announcement);
  g_test_add_func ("/llm/node/silent-peer-expires", test_silent_peer_expires);
  g_test_add_func ("/llm/node/mdns-txt", test_mdns_txt);
  g_test_add_func ("/llm/node/control-socket", test_control_socket);

  return g_test_run ();
}

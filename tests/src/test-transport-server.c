/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <string.h>

#include "llm-test-peers.h"
#include "llm-transport-server.h"

/* LlmTransportServer on the loopback interface (127.0.0.1 only): dialling,
 * accepting, limits, and serving well-behaved peers while others
 * misbehave. */

typedef struct
{
  LlmIdentity *alice;
  LlmIdentity *bob;
  LlmIdentity *carol;
  LlmTransportServer *server;     /* Bob's, listening */
  LlmTransportServer *client;     /* Alice's, dialling */
  GPtrArray *accepted;            /* of LlmConnection, from ::connection */
  GPtrArray *messages;            /* of JsonObject, received by Bob */
  guint max_seen_handshakes;
} Fixture;

static void
message_cb (LlmConnection *connection,
            JsonObject    *message,
            GBytes        *payload,
            Fixture       *fixture)
{
  g_autoptr(JsonObject) echo = json_object_new ();

  g_ptr_array_add (fixture->messages, json_object_ref (message));

  /* Bob echoes, so that Alice sees her peer is served. */
  json_object_set_string_member (echo, "type", "echo");
  json_object_set_int_member (echo, "n", json_object_get_int_member (message, "n"));
  llm_connection_send_async (connection, echo, NULL, NULL, NULL, NULL);
}

static void
connection_cb (LlmTransportServer *server,
               LlmConnection      *connection,
               Fixture            *fixture)
{
  g_assert_cmpint (llm_connection_get_state (connection), ==, LLM_CONNECTION_STATE_OPEN);
  g_assert_nonnull (llm_connection_get_peer_address (connection));
  g_ptr_array_add (fixture->accepted, g_object_ref (connection));
  g_signal_connect (connection, "message", G_CALLBACK (message_cb), fixture);
}

static void
n_handshakes_cb (LlmTransportServer *server,
                 GParamSpec         *pspec,
                 Fixture            *fixture)
{
  fixture->max_seen_handshakes = MAX (fixture->max_seen_handshakes,
                                      llm_transport_server_get_n_handshakes (server));
}

static void
fixture_setup (Fixture       *fixture,
               gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  llm_test_log_capture ();
  llm_test_log_clear ();

  fixture->alice = llm_test_identity_new (0xa1);
  fixture->bob = llm_test_identity_new (0xb0);
  fixture->carol = llm_test_identity_new (0xca);
  fixture->accepted = g_ptr_array_new_with_free_func (g_object_unref);
  fixture->messages = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);

  fixture->server = llm_transport_server_new (fixture->bob);
  g_object_set (fixture->server,
                "handshake-timeout", 500,
                "keepalive-interval", 0,
                "idle-timeout", 0,
                NULL);
  g_signal_connect (fixture->server, "connection", G_CALLBACK (connection_cb), fixture);
  g_signal_connect (fixture->server, "notify::n-handshakes", G_CALLBACK (n_handshakes_cb), fixture);
  g_assert_true (llm_transport_server_listen (fixture->server, "127.0.0.1", 0, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (llm_transport_server_get_port (fixture->server), >, 0);
  g_assert_true (llm_transport_server_get_listening (fixture->server));

  fixture->client = llm_transport_server_new (fixture->alice);
  g_object_set (fixture->client, "handshake-timeout", 500, NULL);
}

static void
fixture_teardown (Fixture       *fixture,
                  gconstpointer  data)
{
  llm_transport_server_stop (fixture->server);
  llm_transport_server_stop (fixture->client);
  for (guint i = 0; i < fixture->accepted->len; i++)
    g_signal_handlers_disconnect_by_data (g_ptr_array_index (fixture->accepted, i), fixture);
  g_clear_pointer (&fixture->accepted, g_ptr_array_unref);
  g_clear_pointer (&fixture->messages, g_ptr_array_unref);

  /* Nothing else holds the servers once their connections are closed. */
  LLM_TEST_AWAIT_UNTIL (G_OBJECT (fixture->server)->ref_count == 1 &&
                        G_OBJECT (fixture->client)->ref_count == 1);
  g_assert_finalize_object (g_steal_pointer (&fixture->server));
  g_assert_finalize_object (g_steal_pointer (&fixture->client));
  g_clear_object (&fixture->alice);
  g_clear_object (&fixture->bob);
  g_clear_object (&fixture->carol);
}

typedef struct
{
  LlmConnection *connection;
  GError *error;
  gboolean done;
} Dial;

static void
dial_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  Dial *dial = user_data;

  dial->connection = llm_transport_server_connect_finish (LLM_TRANSPORT_SERVER (object), result,
                                                          &dial->error);
  dial->done = TRUE;
}

static void
dial_clear (Dial *dial)
{
  g_clear_object (&dial->connection);
  g_clear_error (&dial->error);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Dial, dial_clear)

static void
dial (Fixture    *fixture,
      const char *expected_address,
      Dial       *result)
{
  g_autoptr(GSocketConnectable) address = NULL;

  address = g_network_address_new ("127.0.0.1", llm_transport_server_get_port (fixture->server));
  llm_transport_server_connect_async (fixture->client, address, expected_address, NULL, dial_cb,
                                      result);
  LLM_TEST_AWAIT_UNTIL (result->done);
}

static void
echo_cb (LlmConnection *connection,
         JsonObject    *message,
         GBytes        *payload,
         guint         *n_echoes)
{
  (*n_echoes)++;
}

/* Alice sends a message to Bob and waits for the echo. */
static void
assert_served (Fixture       *fixture,
               LlmConnection *connection)
{
  g_autoptr(JsonObject) message = json_object_new ();
  guint n_echoes = 0;
  gulong id;

  id = g_signal_connect (connection, "message", G_CALLBACK (echo_cb), &n_echoes);
  json_object_set_int_member (message, "n", 7);
  llm_connection_send_async (connection, message, NULL, NULL, NULL, NULL);
  LLM_TEST_AWAIT_UNTIL (n_echoes == 1);
  g_signal_handler_disconnect (connection, id);
}

static void
test_server_connect (Fixture       *fixture,
                     gconstpointer  data)
{
  g_auto(Dial) result = { 0 };
  g_autofree char *endpoint = NULL;
  LlmConnection *accepted;
  guint port;

  dial (fixture, llm_identity_get_address (fixture->bob), &result);
  g_assert_no_error (result.error);
  g_assert_nonnull (result.connection);
  g_assert_cmpstr (llm_connection_get_peer_address (result.connection), ==,
                   llm_identity_get_address (fixture->bob));

  LLM_TEST_AWAIT_UNTIL (fixture->accepted->len == 1);
  accepted = g_ptr_array_index (fixture->accepted, 0);
  g_assert_cmpstr (llm_connection_get_peer_address (accepted), ==,
                   llm_identity_get_address (fixture->alice));
  g_assert_true (g_str_has_prefix (llm_connection_get_endpoint (accepted), "127.0.0.1:"));

  g_object_get (fixture->server, "port", &port, NULL);
  endpoint = g_strdup_printf ("127.0.0.1:%u", port);
  g_assert_cmpstr (llm_connection_get_endpoint (result.connection), ==, endpoint);

  g_assert_cmpuint (llm_transport_server_get_n_connections (fixture->server), ==, 1);
  g_assert_cmpuint (llm_transport_server_get_n_connections (fixture->client), ==, 1);
  g_assert_cmpuint (llm_transport_server_get_n_handshakes (fixture->server), ==, 0);

  assert_served (fixture, result.connection);
  g_assert_cmpuint (fixture->messages->len, ==, 1);

  /* Alice leaves: Bob's server forgets the connection. */
  llm_connection_close (result.connection);
  LLM_TEST_AWAIT_UNTIL (llm_transport_server_get_n_connections (fixture->server) == 0);
  g_assert_cmpuint (llm_transport_server_get_n_connections (fixture->client), ==, 0);
}

static void
test_server_wrong_address (Fixture       *fixture,
                           gconstpointer  data)
{
  g_auto(Dial) result = { 0 };

  dial (fixture, llm_identity_get_address (fixture->carol), &result);
  g_assert_error (result.error, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_WRONG_PEER);
  g_assert_null (result.connection);

  LLM_TEST_AWAIT_UNTIL (llm_transport_server_get_n_handshakes (fixture->server) == 0);
  g_assert_cmpuint (fixture->accepted->len, ==, 0);
  g_assert_cmpuint (llm_transport_server_get_n_connections (fixture->server), ==, 0);
  g_assert_true (llm_test_log_contains ("llm-connection: Connection with 127.0.0.1:* closed: "
                                        "The peer closed the connection during the handshake*"));
}

static void
test_server_refused (Fixture       *fixture,
                     gconstpointer  data)
{
  g_auto(Dial) result = { 0 };
  guint16 port = llm_transport_server_get_port (fixture->server);
  g_autoptr(GSocketConnectable) address = g_network_address_new ("127.0.0.1", port);

  llm_transport_server_stop (fixture->server);
  g_assert_false (llm_transport_server_get_listening (fixture->server));
  g_assert_cmpuint (llm_transport_server_get_port (fixture->server), ==, 0);

  llm_transport_server_connect_async (fixture->client, address, NULL, NULL, dial_cb, &result);
  LLM_TEST_AWAIT_UNTIL (result.done);
  g_assert_error (result.error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  g_assert_true (g_str_has_prefix (result.error->message, "Cannot connect to 127.0.0.1:"));
}

static void
test_server_listen_errors (Fixture       *fixture,
                           gconstpointer  data)
{
  g_autoptr(LlmTransportServer) other = llm_transport_server_new (fixture->carol);
  g_autoptr(LlmTransportServer) named = llm_transport_server_new (fixture->carol);
  g_autoptr(GError) error = NULL;

  g_assert_false (llm_transport_server_listen (named, "example.com", 0, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "“example.com”"));
  g_clear_error (&error);

  g_assert_false (llm_transport_server_listen (other, "127.0.0.1",
                                               llm_transport_server_get_port (fixture->server),
                                               &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE);
  g_assert_true (g_str_has_prefix (error->message, "Cannot listen on 127.0.0.1 port"));
  g_assert_false (llm_transport_server_get_listening (other));
}

/* A burst of silent connections {{{ */

typedef struct
{
  guint16 port;
  guint n;
  GPtrArray *sockets;
  gint done;
} Burst;

static gpointer
burst_thread (gpointer data)
{
  Burst *burst = data;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, burst->port);

  for (guint i = 0; i < burst->n; i++)
    {
      g_autoptr(GSocket) socket = NULL;

      socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                             G_SOCKET_PROTOCOL_TCP, NULL);
      g_assert_nonnull (socket);
      /* The server may drop it at once; connecting still works. */
      if (g_socket_connect (socket, address, NULL, NULL))
        g_ptr_array_add (burst->sockets, g_steal_pointer (&socket));
    }

  g_atomic_int_set (&burst->done, TRUE);
  return NULL;
}

static void
run_burst (Fixture *fixture,
           guint    n,
           guint    limit)
{
  g_auto(Dial) established = { 0 };
  g_auto(Dial) after = { 0 };
  Burst burst = { 0 };
  GThread *thread;

  /* Silent connections hold their handshake slot for the whole burst, even
   * on a loaded machine. */
  llm_transport_server_set_handshake_timeout (fixture->server, 4000);

  /* Alice is connected before the burst. */
  dial (fixture, llm_identity_get_address (fixture->bob), &established);
  g_assert_no_error (established.error);
  fixture->max_seen_handshakes = 0;

  burst.port = llm_transport_server_get_port (fixture->server);
  burst.n = n;
  burst.sockets = g_ptr_array_new_with_free_func (g_object_unref);
  thread = g_thread_new ("burst", burst_thread, &burst);

  /* During the burst, Alice is served as before. */
  while (!g_atomic_int_get (&burst.done))
    assert_served (fixture, established.connection);
  g_thread_join (thread);

  /* Every slot is taken, never more; the others were dropped, each with a
   * logged reason naming its endpoint. */
  LLM_TEST_AWAIT_UNTIL (llm_transport_server_get_n_handshakes (fixture->server) == limit);
  g_assert_cmpuint (fixture->max_seen_handshakes, ==, limit);
  assert_served (fixture, established.connection);

  /* The burst ends: its handshakes end with it; then a newcomer gets in. */
  g_ptr_array_unref (burst.sockets);
  LLM_TEST_AWAIT_UNTIL (llm_transport_server_get_n_handshakes (fixture->server) == 0);
  dial (fixture, llm_identity_get_address (fixture->bob), &after);
  g_assert_no_error (after.error);
  assert_served (fixture, after.connection);
  assert_served (fixture, established.connection);
  g_assert_cmpuint (llm_transport_server_get_n_connections (fixture->server), ==, 2);
}

static void
test_server_burst_per_host (Fixture       *fixture,
                            gconstpointer  data)
{
  llm_transport_server_set_max_handshakes_per_host (fixture->server, 4);
  run_burst (fixture, 100, 4);
  g_assert_true (llm_test_log_contains ("llm-transport-server: Dropped a connection from "
                                        "127.0.0.1 port *: 4 handshakes from that host are "
                                        "under way, the limit"));
  g_assert_true (llm_test_log_contains ("llm-connection: Connection with 127.0.0.1:* closed: "
                                        "The peer closed the connection during the handshake*"));
}

static void
test_server_burst (Fixture       *fixture,
                   gconstpointer  data)
{
  llm_transport_server_set_max_handshakes (fixture->server, 6);
  llm_transport_server_set_max_handshakes_per_host (fixture->server, 1000);
  run_burst (fixture, 100, 6);
  g_assert_true (llm_test_log_contains ("llm-transport-server: Dropped a connection from "
                                        "127.0.0.1 port *: 6 handshakes are under way, "
                                        "the limit"));
}

/* Silent connections that stay: each times out, and frees its slot. */
static void
test_server_handshake_timeout (Fixture       *fixture,
                               gconstpointer  data)
{
  Burst burst = { 0 };

  llm_transport_server_set_handshake_timeout (fixture->server, 200);
  burst.port = llm_transport_server_get_port (fixture->server);
  burst.n = 3;
  burst.sockets = g_ptr_array_new_with_free_func (g_object_unref);
  burst_thread (&burst);

  LLM_TEST_AWAIT_UNTIL (llm_transport_server_get_n_handshakes (fixture->server) == 3);
  LLM_TEST_AWAIT_UNTIL (llm_transport_server_get_n_handshakes (fixture->server) == 0);
  g_assert_true (llm_test_log_contains ("llm-connection: Connection with 127.0.0.1:* closed: "
                                        "The handshake did not finish within 200 ms"));
  g_ptr_array_unref (burst.sockets);
}

/* }}} */

/* Misbehaving peers on TCP {{{ */

static LlmTestRawPeer *
raw_peer_connect (Fixture     *fixture,
                  LlmIdentity *identity)
{
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = NULL;
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GError) error = NULL;

  address = g_inet_socket_address_new (loopback, llm_transport_server_get_port (fixture->server));
  socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                         &error);
  g_assert_no_error (error);
  g_socket_connect (socket, address, NULL, &error);
  g_assert_no_error (error);

  return llm_test_raw_peer_new (socket, identity);
}

static void
script_garbage (LlmTestRawPeer *peer,
                gpointer        user_data)
{
  guint8 garbage[64];

  memset (garbage, 0x5a, sizeof garbage);
  llm_test_raw_peer_send (peer, garbage, sizeof garbage);
  g_assert_true (llm_test_raw_peer_wait_closed (peer));
}

static void
script_oversize (LlmTestRawPeer *peer,
                 gpointer        user_data)
{
  g_assert_true (llm_test_raw_peer_handshake (peer, TRUE, NULL));
  llm_test_raw_peer_send (peer, "\x01\x00\x00\x01", 4);
  g_assert_true (llm_test_raw_peer_wait_closed (peer));
}

static void
script_replay (LlmTestRawPeer *peer,
               gpointer        user_data)
{
  g_autoptr(GBytes) frame = NULL;

  g_assert_true (llm_test_raw_peer_handshake (peer, TRUE, NULL));
  frame = llm_test_raw_peer_seal (peer, "{\"n\":1}", NULL);
  llm_test_raw_peer_send_bytes (peer, frame);
  llm_test_raw_peer_send_bytes (peer, frame);
  g_assert_true (llm_test_raw_peer_wait_closed (peer));
}

static void
script_reorder (LlmTestRawPeer *peer,
                gpointer        user_data)
{
  g_autoptr(GBytes) first = NULL;
  g_autoptr(GBytes) second = NULL;

  g_assert_true (llm_test_raw_peer_handshake (peer, TRUE, NULL));
  first = llm_test_raw_peer_seal (peer, "{\"n\":1}", NULL);
  second = llm_test_raw_peer_seal (peer, "{\"n\":2}", NULL);
  llm_test_raw_peer_send_bytes (peer, second);
  llm_test_raw_peer_send_bytes (peer, first);
  g_assert_true (llm_test_raw_peer_wait_closed (peer));
}

static void
script_truncated (LlmTestRawPeer *peer,
                  gpointer        user_data)
{
  g_autoptr(GBytes) frame = NULL;

  g_assert_true (llm_test_raw_peer_handshake (peer, TRUE, NULL));
  frame = llm_test_raw_peer_seal (peer, "{\"n\":1}", NULL);
  llm_test_raw_peer_send (peer, g_bytes_get_data (frame, NULL), g_bytes_get_size (frame) - 1);
  llm_test_raw_peer_shutdown (peer);
  g_assert_true (llm_test_raw_peer_wait_closed (peer));
}

static void
script_version (LlmTestRawPeer *peer,
                gpointer        user_data)
{
  guint8 hello[LLM_HANDSHAKE_HELLO_SIZE] = "LLMN\x07\x00\x00\x00";

  llm_test_raw_peer_send (peer, hello, sizeof hello);
  g_assert_true (llm_test_raw_peer_wait_closed (peer));
}

static void
script_impersonate (LlmTestRawPeer *peer,
                    gpointer        user_data)
{
  llm_test_raw_peer_handshake (peer, TRUE, NULL);
  g_assert_true (llm_test_raw_peer_wait_closed (peer));
}

/* Peers that break the protocol each lose their own connection, with a
 * logged reason naming them; Alice, connected all along, is served. */
static void
test_server_misbehaving (Fixture       *fixture,
                         gconstpointer  data)
{
  g_auto(Dial) established = { 0 };
  struct {
    LlmTestRawPeerScript script;
    const char *logged;
  } cases[] = {
    { script_garbage, "llm-connection: Connection with 127.0.0.1:* closed: The peer did not "
                      "start with an llm-node hello*" },
    { script_oversize, "llm-connection: Connection with *.llm (127.0.0.1:*) closed: A frame of "
                       "16777217 bytes is over the limit*" },
    { script_replay, "llm-connection: Connection with *.llm (127.0.0.1:*) closed: Frame 1 does "
                     "not authenticate*" },
    { script_impersonate, "llm-connection: Connection with 127.0.0.1:* closed: The peer claims "
                          "to be * but cannot prove*" },
    { script_reorder, "llm-connection: Connection with *.llm (127.0.0.1:*) closed: Frame 0 does "
                      "not authenticate*" },
    { script_truncated, "llm-connection: Connection with *.llm (127.0.0.1:*) closed: The peer "
                        "closed the connection in the middle of a frame*" },
    { script_version, "llm-connection: Connection with 127.0.0.1:* closed: The peer speaks "
                      "protocol version 7; this node speaks version 1" },
  };

  dial (fixture, llm_identity_get_address (fixture->bob), &established);
  g_assert_no_error (established.error);
  LLM_TEST_AWAIT_UNTIL (fixture->accepted->len == 1);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(LlmTestRawPeer) peer = NULL;
      g_autoptr(LlmIdentity) stranger = llm_test_identity_new (0x10 + i);

      peer = raw_peer_connect (fixture, stranger);
      if (cases[i].script == script_impersonate)
        llm_test_raw_peer_set_claimed_key (peer, llm_identity_get_public_key (fixture->alice));
      llm_test_raw_peer_run (peer, cases[i].script, NULL);

      while (!llm_test_raw_peer_done (peer))
        assert_served (fixture, established.connection);
      if (!llm_test_log_contains (cases[i].logged))
        g_error ("Nothing logged matches “%s”", cases[i].logged);
    }

  LLM_TEST_AWAIT_UNTIL (llm_transport_server_get_n_connections (fixture->server) == 1 &&
                        llm_transport_server_get_n_handshakes (fixture->server) == 0);
  assert_served (fixture, established.connection);
  g_assert_cmpint (llm_connection_get_state (established.connection), ==,
                   LLM_CONNECTION_STATE_OPEN);
}

/* }}} */

static void
test_server_max_connections (Fixture       *fixture,
                             gconstpointer  data)
{
  g_auto(Dial) first = { 0 };
  g_auto(Dial) second = { 0 };

  llm_transport_server_set_max_connections (fixture->server, 1);
  dial (fixture, llm_identity_get_address (fixture->bob), &first);
  g_assert_no_error (first.error);
  LLM_TEST_AWAIT_UNTIL (llm_transport_server_get_n_connections (fixture->server) == 1);

  dial (fixture, llm_identity_get_address (fixture->bob), &second);
  g_assert_nonnull (second.error);
  g_assert_true (llm_test_log_contains ("llm-transport-server: Dropped a connection from "
                                        "127.0.0.1 port *: this node has 1 connections, "
                                        "its limit"));
  assert_served (fixture, first.connection);
}

static void
closed_cb (LlmConnection *connection,
           const GError  *error,
           GError       **closed)
{
  *closed = g_error_copy (error);
}

static void
test_server_stop (Fixture       *fixture,
                  gconstpointer  data)
{
  g_auto(Dial) result = { 0 };
  g_autoptr(GError) closed = NULL;

  dial (fixture, llm_identity_get_address (fixture->bob), &result);
  g_assert_no_error (result.error);
  g_signal_connect (result.connection, "closed", G_CALLBACK (closed_cb), &closed);
  LLM_TEST_AWAIT_UNTIL (llm_transport_server_get_n_connections (fixture->server) == 1);

  llm_transport_server_stop (fixture->server);
  g_assert_cmpuint (llm_transport_server_get_n_connections (fixture->server), ==, 0);
  LLM_TEST_AWAIT_UNTIL (closed != NULL);
  g_assert_error (closed, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
  g_signal_handlers_disconnect_by_data (result.connection, &closed);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

#define ADD(path, func) \
  g_test_add ("/llm/transport-server/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)

  ADD ("connect", test_server_connect);
  ADD ("wrong-address", test_server_wrong_address);
  ADD ("refused", test_server_refused);
  ADD ("listen-errors", test_server_listen_errors);
  ADD ("burst", test_server_burst);
  ADD ("burst-per-host", test_server_burst_per_host);
  ADD ("handshake-timeout", test_server_handshake_timeout);
  ADD ("misbehaving", test_server_misbehaving);
  ADD ("max-connections", test_server_max_connections);
  ADD ("stop", test_server_stop);

#undef ADD

  return g_test_run ();
}

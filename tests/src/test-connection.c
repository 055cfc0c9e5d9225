/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <sodium.h>
#include <string.h>

#include "llm-connection.h"
#include "llm-test-peers.h"

/* LlmConnection over socketpairs: two real connections talking, or one
 * real connection facing a scripted peer (LlmTestRawPeer) that breaks the
 * protocol on purpose. Timings are short so that each test takes well
 * under a second or two. */

#define HANDSHAKE_TIMEOUT_MS 400
#define KEEPALIVE_MS         50
#define IDLE_TIMEOUT_MS      300

typedef struct
{
  LlmConnection *connection;
  GPtrArray *messages;     /* of JsonObject */
  GPtrArray *payloads;     /* of GBytes, or NULL */
  GError *closed;          /* the reason given by ::closed */
  GError *handshake_error;
  guint n_closed;
  gboolean handshake_done;
} Side;

typedef struct
{
  LlmIdentity *alice;
  LlmIdentity *bob;
  LlmIdentity *carol;
  LlmIdentity *mallory;
  Side a;                  /* alice, who dials */
  Side b;                  /* bob, who accepts */
  LlmTestRawPeer *peer;
} Fixture;

static void
message_cb (LlmConnection *connection,
            JsonObject    *message,
            GBytes        *payload,
            Side          *side)
{
  g_ptr_array_add (side->messages, json_object_ref (message));
  g_ptr_array_add (side->payloads, payload != NULL ? g_bytes_ref (payload) : NULL);
}

static void
closed_cb (LlmConnection *connection,
           const GError  *error,
           Side          *side)
{
  g_assert_nonnull (error);
  g_assert_cmpint (llm_connection_get_state (connection), ==, LLM_CONNECTION_STATE_CLOSED);
  side->n_closed++;
  g_clear_error (&side->closed);
  side->closed = g_error_copy (error);
}

static void
side_init (Side          *side,
           LlmIdentity   *identity,
           GIOStream     *stream,
           gboolean       initiator)
{
  side->messages = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);
  side->payloads = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  side->connection = llm_connection_new (identity, stream, initiator);
  g_object_set (side->connection,
                "handshake-timeout", HANDSHAKE_TIMEOUT_MS,
                "keepalive-interval", 0,
                "idle-timeout", 0,
                NULL);
  g_signal_connect (side->connection, "message", G_CALLBACK (message_cb), side);
  g_signal_connect (side->connection, "closed", G_CALLBACK (closed_cb), side);
}

/* Closes the connection and checks that nothing else holds it. */
static void
side_clear (Side *side)
{
  if (side->connection != NULL)
    {
      llm_connection_close (side->connection);
      LLM_TEST_AWAIT_UNTIL (G_OBJECT (side->connection)->ref_count == 1);
      g_signal_handlers_disconnect_by_data (side->connection, side);
      g_assert_finalize_object (g_steal_pointer (&side->connection));
    }
  g_clear_pointer (&side->messages, g_ptr_array_unref);
  g_clear_pointer (&side->payloads, g_ptr_array_unref);
  g_clear_error (&side->closed);
  g_clear_error (&side->handshake_error);
}

static void
handshake_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  Side *side = user_data;

  side->handshake_done = TRUE;
  if (!llm_connection_handshake_finish (LLM_CONNECTION (object), result, &side->handshake_error))
    g_assert_nonnull (side->handshake_error);
}

static void
fixture_setup (Fixture       *fixture,
               gconstpointer  data)
{
  llm_test_log_capture ();
  llm_test_log_clear ();
  fixture->alice = llm_test_identity_new (0xa1);
  fixture->bob = llm_test_identity_new (0xb0);
  fixture->carol = llm_test_identity_new (0xca);
  fixture->mallory = llm_test_identity_new (0x66);
}

static void
fixture_teardown (Fixture       *fixture,
                  gconstpointer  data)
{
  side_clear (&fixture->a);
  side_clear (&fixture->b);
  g_clear_pointer (&fixture->peer, llm_test_raw_peer_free);
  g_clear_object (&fixture->alice);
  g_clear_object (&fixture->bob);
  g_clear_object (&fixture->carol);
  g_clear_object (&fixture->mallory);
}

/* Alice and Bob, two real connections on a socketpair, handshaking. */
static void
start_pair (Fixture    *fixture,
            const char *expected_address)
{
  g_autoptr(GSocketConnection) stream_a = NULL;
  g_autoptr(GSocketConnection) stream_b = NULL;

  llm_test_socketpair (&stream_a, &stream_b);
  side_init (&fixture->a, fixture->alice, G_IO_STREAM (stream_a), TRUE);
  side_init (&fixture->b, fixture->bob, G_IO_STREAM (stream_b), FALSE);

  llm_connection_handshake_async (fixture->b.connection, NULL, NULL, handshake_cb, &fixture->b);
  llm_connection_handshake_async (fixture->a.connection, expected_address, NULL, handshake_cb,
                                  &fixture->a);
}

static void
open_pair (Fixture *fixture)
{
  start_pair (fixture, llm_identity_get_address (fixture->bob));
  LLM_TEST_AWAIT_UNTIL (fixture->a.handshake_done && fixture->b.handshake_done);
  g_assert_no_error (fixture->a.handshake_error);
  g_assert_no_error (fixture->b.handshake_error);
}

/* Bob, a real responder, facing a scripted initiator. */
static void
start_bob_with_peer (Fixture              *fixture,
                     LlmIdentity          *peer_identity,
                     LlmTestRawPeerScript  script)
{
  g_autoptr(GSocketConnection) stream = NULL;
  g_autoptr(GSocket) raw = NULL;

  stream = llm_test_socketpair_raw (&raw);
  side_init (&fixture->b, fixture->bob, G_IO_STREAM (stream), FALSE);
  fixture->peer = llm_test_raw_peer_new (raw, peer_identity);
  llm_connection_handshake_async (fixture->b.connection, NULL, NULL, handshake_cb, &fixture->b);
  if (script != NULL)
    llm_test_raw_peer_run (fixture->peer, script, fixture);
}

/* Alice, a real initiator expecting @expected_address, facing a scripted
 * responder. */
static void
start_alice_with_peer (Fixture              *fixture,
                       LlmIdentity          *peer_identity,
                       const char           *expected_address,
                       LlmTestRawPeerScript  script)
{
  g_autoptr(GSocketConnection) stream = NULL;
  g_autoptr(GSocket) raw = NULL;

  stream = llm_test_socketpair_raw (&raw);
  side_init (&fixture->a, fixture->alice, G_IO_STREAM (stream), TRUE);
  fixture->peer = llm_test_raw_peer_new (raw, peer_identity);
  llm_connection_handshake_async (fixture->a.connection, expected_address, NULL, handshake_cb,
                                  &fixture->a);
  if (script != NULL)
    llm_test_raw_peer_run (fixture->peer, script, fixture);
}

static void
assert_closed (Side       *side,
               GQuark      domain,
               int         code,
               const char *pattern)
{
  LLM_TEST_AWAIT_UNTIL (side->closed != NULL);
  g_assert_error (side->closed, domain, code);
  g_assert_cmpuint (side->n_closed, ==, 1);
  g_assert_cmpint (llm_connection_get_state (side->connection), ==, LLM_CONNECTION_STATE_CLOSED);
  if (pattern != NULL && !g_pattern_match_simple (pattern, side->closed->message))
    g_error ("“%s” does not match “%s”", side->closed->message, pattern);
}

/* The reason is logged, naming the peer. */
static void
assert_logged (const char *pattern)
{
  if (!llm_test_log_contains (pattern))
    g_error ("Nothing logged matches “%s”", pattern);
}

/* Two real connections {{{ */

static void
test_connection_handshake (Fixture       *fixture,
                           gconstpointer  data)
{
  LlmConnectionState state;
  g_autofree char *peer_address = NULL;
  LlmCipher cipher;

  open_pair (fixture);

  g_assert_cmpint (llm_connection_get_state (fixture->a.connection), ==, LLM_CONNECTION_STATE_OPEN);
  g_assert_cmpint (llm_connection_get_state (fixture->b.connection), ==, LLM_CONNECTION_STATE_OPEN);
  g_assert_cmpstr (llm_connection_get_peer_address (fixture->a.connection), ==,
                   llm_identity_get_address (fixture->bob));
  g_assert_cmpstr (llm_connection_get_peer_address (fixture->b.connection), ==,
                   llm_identity_get_address (fixture->alice));
  g_assert_cmpmem (llm_connection_get_peer_public_key (fixture->b.connection), 32,
                   llm_identity_get_public_key (fixture->alice), 32);
  g_assert_true (llm_connection_get_initiator (fixture->a.connection));
  g_assert_false (llm_connection_get_initiator (fixture->b.connection));
  g_assert_cmpstr (llm_connection_get_endpoint (fixture->a.connection), ==, "a local socket");
  g_assert_null (llm_connection_get_close_error (fixture->a.connection));

  /* Both CPUs are this one: AES-256-GCM exactly when it has AES-NI. */
  cipher = crypto_aead_aes256gcm_is_available () ? LLM_CIPHER_AES256_GCM
                                                 : LLM_CIPHER_XCHACHA20_POLY1305;
  g_assert_cmpint (llm_connection_get_cipher (fixture->a.connection), ==, cipher);
  g_assert_cmpint (llm_connection_get_cipher (fixture->b.connection), ==, cipher);

  g_object_get (fixture->b.connection, "state", &state, "peer-address", &peer_address, NULL);
  g_assert_cmpint (state, ==, LLM_CONNECTION_STATE_OPEN);
  g_assert_cmpstr (peer_address, ==, llm_identity_get_address (fixture->alice));

  assert_logged ("llm-connection: Connection with * (a local socket) open (dialled, *)");
}

/* Without an expected address, any peer that proves an identity. */
static void
test_connection_any_peer (Fixture       *fixture,
                          gconstpointer  data)
{
  start_pair (fixture, NULL);
  LLM_TEST_AWAIT_UNTIL (fixture->a.handshake_done && fixture->b.handshake_done);
  g_assert_no_error (fixture->a.handshake_error);
  g_assert_cmpstr (llm_connection_get_peer_address (fixture->a.connection), ==,
                   llm_identity_get_address (fixture->bob));
}

static void
send_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  guint *n_sent = user_data;
  g_autoptr(GError) error = NULL;

  g_assert_true (llm_connection_send_finish (LLM_CONNECTION (object), result, &error));
  g_assert_no_error (error);
  (*n_sent)++;
}

static JsonObject *
message_new (const char *type,
             gint64      n)
{
  JsonObject *message = json_object_new ();

  json_object_set_string_member (message, "type", type);
  json_object_set_int_member (message, "n", n);
  return message;
}

static void
test_connection_messages (Fixture       *fixture,
                          gconstpointer  data)
{
  g_autoptr(GBytes) big = NULL;
  guint n_sent = 0;
  guint8 *tensor;
  const guint n = 200;

  open_pair (fixture);

  /* A 4 MiB tensor, as little-endian floats. */
  tensor = g_malloc (4 << 20);
  for (gsize i = 0; i < (4 << 20) / sizeof (float); i++)
    {
      guint32 le = GUINT32_TO_LE ((guint32) i * 2654435761u);
      memcpy (tensor + 4 * i, &le, 4);
    }
  big = g_bytes_new_take (tensor, 4 << 20);

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(JsonObject) to_bob = message_new ("to-bob", i);
      g_autoptr(JsonObject) to_alice = message_new ("to-alice", i);
      g_autoptr(GBytes) small = g_bytes_new (&i, sizeof i);

      llm_connection_send_async (fixture->a.connection, to_bob, i % 2 ? small : NULL, NULL,
                                 send_cb, &n_sent);
      llm_connection_send_async (fixture->b.connection, to_alice, i == 50 ? big : NULL, NULL,
                                 send_cb, &n_sent);
    }

  LLM_TEST_AWAIT_UNTIL (fixture->b.messages->len == n && fixture->a.messages->len == n);
  LLM_TEST_AWAIT_UNTIL (n_sent == 2 * n);

  /* In order, whole, each with its own payload. */
  for (guint i = 0; i < n; i++)
    {
      JsonObject *at_bob = g_ptr_array_index (fixture->b.messages, i);
      JsonObject *at_alice = g_ptr_array_index (fixture->a.messages, i);
      GBytes *payload = g_ptr_array_index (fixture->b.payloads, i);

      g_assert_cmpstr (json_object_get_string_member (at_bob, "type"), ==, "to-bob");
      g_assert_cmpint (json_object_get_int_member (at_bob, "n"), ==, i);
      g_assert_cmpint (json_object_get_int_member (at_alice, "n"), ==, i);
      if (i % 2)
        g_assert_cmpmem (g_bytes_get_data (payload, NULL), g_bytes_get_size (payload),
                         &i, sizeof i);
      else
        g_assert_null (payload);
    }
  g_assert_true (g_bytes_equal (g_ptr_array_index (fixture->a.payloads, 50), big));
  g_assert_null (g_ptr_array_index (fixture->a.payloads, 49));

  g_assert_null (fixture->a.closed);
  g_assert_null (fixture->b.closed);
}

static void
send_error_cb (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  GError **error = user_data;

  g_assert_false (llm_connection_send_finish (LLM_CONNECTION (object), result, error));
  g_assert_nonnull (*error);
}

/* Too large to send: refused, and the connection goes on. */
static void
test_connection_send_too_large (Fixture       *fixture,
                                gconstpointer  data)
{
  g_autoptr(JsonObject) message = message_new ("big", 0);
  g_autoptr(GBytes) huge = NULL;
  g_autoptr(GError) error = NULL;
  guint n_sent = 0;

  open_pair (fixture);

  huge = g_bytes_new_take (g_malloc0 (LLM_FRAME_MAX_SIZE), LLM_FRAME_MAX_SIZE);
  llm_connection_send_async (fixture->a.connection, message, huge, NULL, send_error_cb, &error);
  LLM_TEST_AWAIT_UNTIL (error != NULL);
  g_assert_error (error, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_TOO_LARGE);

  llm_connection_send_async (fixture->a.connection, message, NULL, NULL, send_cb, &n_sent);
  LLM_TEST_AWAIT_UNTIL (fixture->b.messages->len == 1 && n_sent == 1);
  g_assert_cmpint (llm_connection_get_state (fixture->a.connection), ==, LLM_CONNECTION_STATE_OPEN);
}

static void
test_connection_wrong_peer (Fixture       *fixture,
                            gconstpointer  data)
{
  g_autofree char *pattern = NULL;

  /* Alice dials Carol's address, but Bob answers. */
  start_pair (fixture, llm_identity_get_address (fixture->carol));
  LLM_TEST_AWAIT_UNTIL (fixture->a.handshake_done && fixture->b.handshake_done);

  pattern = g_strdup_printf ("Dialled %s, but the peer proved it is %s",
                             llm_identity_get_address (fixture->carol),
                             llm_identity_get_address (fixture->bob));
  g_assert_error (fixture->a.handshake_error, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_WRONG_PEER);
  assert_closed (&fixture->a, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_WRONG_PEER, pattern);

  /* Alice never proved her identity to the wrong peer. */
  assert_closed (&fixture->b, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                 "*during the handshake, before its proof");
  g_assert_null (llm_connection_get_peer_address (fixture->b.connection));

  assert_logged ("llm-connection: Connection with * (a local socket) closed: Dialled *");
}

static void
test_connection_bad_expected_address (Fixture       *fixture,
                                      gconstpointer  data)
{
  start_pair (fixture, "bob.llm");
  LLM_TEST_AWAIT_UNTIL (fixture->a.handshake_done);
  g_assert_error (fixture->a.handshake_error, LLM_ADDRESS_ERROR, LLM_ADDRESS_ERROR_LENGTH);
  assert_closed (&fixture->b, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED, NULL);
}

static void
test_connection_close (Fixture       *fixture,
                       gconstpointer  data)
{
  g_autoptr(JsonObject) message = message_new ("late", 0);
  g_autoptr(GError) error = NULL;

  open_pair (fixture);
  llm_connection_close (fixture->a.connection);
  assert_closed (&fixture->a, G_IO_ERROR, G_IO_ERROR_CLOSED, "Closed by this node");
  assert_closed (&fixture->b, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                 "The peer closed the connection");

  /* Closing again does nothing; sending fails with the reason. */
  llm_connection_close (fixture->a.connection);
  g_assert_cmpuint (fixture->a.n_closed, ==, 1);
  llm_connection_send_async (fixture->b.connection, message, NULL, NULL, send_error_cb, &error);
  LLM_TEST_AWAIT_UNTIL (error != NULL);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CLOSED);
  g_assert_cmpstr (error->message, ==, "The connection is closed: The peer closed the connection");
}

static void
test_connection_cancel_handshake (Fixture       *fixture,
                                  gconstpointer  data)
{
  g_autoptr(GSocketConnection) stream = NULL;
  g_autoptr(GSocket) raw = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();

  /* Nobody answers; the owner gives up. */
  stream = llm_test_socketpair_raw (&raw);
  side_init (&fixture->a, fixture->alice, G_IO_STREAM (stream), TRUE);
  llm_connection_handshake_async (fixture->a.connection, NULL, cancellable, handshake_cb,
                                  &fixture->a);
  g_cancellable_cancel (cancellable);
  LLM_TEST_AWAIT_UNTIL (fixture->a.handshake_done);
  g_assert_error (fixture->a.handshake_error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  assert_closed (&fixture->a, G_IO_ERROR, G_IO_ERROR_CANCELLED, NULL);
}

static void
test_connection_keepalive (Fixture       *fixture,
                           gconstpointer  data)
{
  g_autoptr(GSocketConnection) stream_a = NULL;
  g_autoptr(GSocketConnection) stream_b = NULL;

  llm_test_socketpair (&stream_a, &stream_b);
  side_init (&fixture->a, fixture->alice, G_IO_STREAM (stream_a), TRUE);
  side_init (&fixture->b, fixture->bob, G_IO_STREAM (stream_b), FALSE);
  for (guint i = 0; i < 2; i++)
    g_object_set (i == 0 ? fixture->a.connection : fixture->b.connection,
                  "keepalive-interval", KEEPALIVE_MS,
                  "idle-timeout", IDLE_TIMEOUT_MS,
                  NULL);
  llm_connection_handshake_async (fixture->b.connection, NULL, NULL, handshake_cb, &fixture->b);
  llm_connection_handshake_async (fixture->a.connection, NULL, NULL, handshake_cb, &fixture->a);
  LLM_TEST_AWAIT_UNTIL (fixture->a.handshake_done && fixture->b.handshake_done);

  /* Three idle timeouts of silence from the application: pings keep the
   * connection up, and measure the round trip. */
  llm_test_sleep (3 * IDLE_TIMEOUT_MS);
  g_assert_null (fixture->a.closed);
  g_assert_null (fixture->b.closed);
  g_assert_cmpint (llm_connection_get_round_trip_time (fixture->a.connection), >=, 0);
  g_assert_cmpint (llm_connection_get_round_trip_time (fixture->b.connection), >=, 0);
  g_assert_cmpint (llm_connection_get_round_trip_time (fixture->a.connection), <,
                   G_USEC_PER_SEC);
  g_assert_cmpuint (fixture->a.messages->len, ==, 0);
}

/* }}} */

/* Scripted peers {{{ */

/* A well-behaved scripted peer, to check that the scripted side speaks
 * the same protocol: hello, a message with a payload, and one back. */
static void
script_talk (LlmTestRawPeer *peer,
             gpointer        user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) payload = g_bytes_new ("\x01\x02\x03", 3);
  g_autoptr(GBytes) frame = NULL;
  g_autoptr(GBytes) reply = NULL;
  g_autoptr(JsonObject) message = NULL;
  LlmFrameType type;

  g_assert_true (llm_test_raw_peer_handshake (peer, TRUE, &error));
  g_assert_no_error (error);
  frame = llm_test_raw_peer_seal (peer, "{\"type\":\"hello\"}", payload);
  g_assert_true (llm_test_raw_peer_send_bytes (peer, frame));

  reply = llm_test_raw_peer_receive_frame (peer, &error);
  g_assert_no_error (error);
  g_assert_true (llm_frame_parse_plaintext (reply, &type, &message, NULL, &error));
  g_assert_cmpstr (json_object_get_string_member (message, "type"), ==, "welcome");
}

static void
test_connection_scripted (Fixture       *fixture,
                          gconstpointer  data)
{
  g_autoptr(JsonObject) welcome = message_new ("welcome", 1);
  guint n_sent = 0;

  start_bob_with_peer (fixture, fixture->carol, script_talk);
  LLM_TEST_AWAIT_UNTIL (fixture->b.messages->len == 1);
  g_assert_no_error (fixture->b.handshake_error);
  g_assert_cmpstr (llm_connection_get_peer_address (fixture->b.connection), ==,
                   llm_identity_get_address (fixture->carol));
  g_assert_cmpstr (json_object_get_string_member (g_ptr_array_index (fixture->b.messages, 0),
                                                  "type"), ==, "hello");
  g_assert_cmpmem (g_bytes_get_data (g_ptr_array_index (fixture->b.payloads, 0), NULL), 3,
                   "\x01\x02\x03", 3);

  llm_connection_send_async (fixture->b.connection, welcome, NULL, NULL, send_cb, &n_sent);
  LLM_TEST_AWAIT_UNTIL (n_sent == 1 && llm_test_raw_peer_done (fixture->peer));
}

/* A peer that does not offer AES-256-GCM gets XChaCha20-Poly1305. */
static void
script_no_aes (LlmTestRawPeer *peer,
               gpointer        user_data)
{
  g_assert_true (llm_test_raw_peer_handshake (peer, TRUE, NULL));
  llm_test_raw_peer_wait_closed (peer);
}

static void
test_connection_cipher_fallback (Fixture       *fixture,
                                 gconstpointer  data)
{
  g_autoptr(GSocketConnection) stream = NULL;
  g_autoptr(GSocket) raw = NULL;

  stream = llm_test_socketpair_raw (&raw);
  side_init (&fixture->b, fixture->bob, G_IO_STREAM (stream), FALSE);
  fixture->peer = llm_test_raw_peer_new (raw, fixture->carol);
  llm_test_raw_peer_set_aes256gcm (fixture->peer, FALSE);
  llm_connection_handshake_async (fixture->b.connection, NULL, NULL, handshake_cb, &fixture->b);
  llm_test_raw_peer_run (fixture->peer, script_no_aes, NULL);

  LLM_TEST_AWAIT_UNTIL (fixture->b.handshake_done);
  g_assert_no_error (fixture->b.handshake_error);
  g_assert_cmpint (llm_connection_get_cipher (fixture->b.connection), ==,
                   LLM_CIPHER_XCHACHA20_POLY1305);
}

static void
script_garbage (LlmTestRawPeer *peer,
                gpointer        user_data)
{
  static const char request[] = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\n\r\n";

  llm_test_raw_peer_send (peer, request, sizeof request - 1);
  g_assert_true (llm_test_raw_peer_wait_closed (peer));
}

static void
test_connection_garbage (Fixture       *fixture,
                         gconstpointer  data)
{
  start_bob_with_peer (fixture, fixture->carol, script_garbage);
  assert_closed (&fixture->b, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_MALFORMED,
                 "*did not start with an llm-node hello*");
  g_assert_error (fixture->b.handshake_error, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_MALFORMED);
  assert_logged ("llm-connection: Connection with a local socket closed: *did not start*");
  LLM_TEST_AWAIT_UNTIL (llm_test_raw_peer_done (fixture->peer));
}

static void
script_short_hello (LlmTestRawPeer *peer,
                    gpointer        user_data)
{
  llm_test_raw_peer_send (peer, "LLMN\x01\x01\x00\x00" "0123456789", 18);
  llm_test_raw_peer_shutdown (peer);
  g_assert_true (llm_test_raw_peer_wait_closed (peer));
}

static void
test_connection_truncated_handshake (Fixture       *fixture,
                                     gconstpointer  data)
{
  start_bob_with_peer (fixture, fixture->carol, script_short_hello);
  assert_closed (&fixture->b, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_TRUNCATED,
                 "*in the middle of its hello (18 of 40 bytes)");
  LLM_TEST_AWAIT_UNTIL (llm_test_raw_peer_done (fixture->peer));
}

/* A newer peer: the responder answers with its own hello (version 1)
 * before it closes, so that the peer could fall back. */
static void
script_version_2 (LlmTestRawPeer *peer,
                  gpointer        user_data)
{
  guint8 hello[LLM_HANDSHAKE_HELLO_SIZE] = "LLMN\x02\x00\x00\x00";
  guint8 reply[LLM_HANDSHAKE_HELLO_SIZE];

  randombytes_buf (hello + 8, 32);
  llm_test_raw_peer_send (peer, hello, sizeof hello);
  g_assert_true (llm_test_raw_peer_receive (peer, reply, sizeof reply));
  g_assert_cmpmem (reply, 4, "LLMN", 4);
  g_assert_cmpint (reply[4], ==, 1);
  g_assert_true (llm_test_raw_peer_wait_closed (peer));
}

static void
test_connection_version (Fixture       *fixture,
                         gconstpointer  data)
{
  start_bob_with_peer (fixture, fixture->carol, script_version_2);
  assert_closed (&fixture->b, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_VERSION,
                 "The peer speaks protocol version 2; this node speaks version 1");
  assert_logged ("llm-connection: Connection with a local socket closed: *version 2*");
  LLM_TEST_AWAIT_UNTIL (llm_test_raw_peer_done (fixture->peer));
}

/* The same, seen from the initiator: a responder of version 3. */
static void
script_version_3_responder (LlmTestRawPeer *peer,
                            gpointer        user_data)
{
  guint8 hello[LLM_HANDSHAKE_HELLO_SIZE] = "LLMN\x03\x00\x00\x00";
  guint8 theirs[LLM_HANDSHAKE_HELLO_SIZE];

  g_assert_true (llm_test_raw_peer_receive (peer, theirs, sizeof theirs));
  randombytes_buf (hello + 8, 32);
  llm_test_raw_peer_send (peer, hello, sizeof hello);
  g_assert_true (llm_test_raw_peer_wait_closed (peer));
}

static void
test_connection_version_initiator (Fixture       *fixture,
                                   gconstpointer  data)
{
  start_alice_with_peer (fixture, fixture->bob, NULL, script_version_3_responder);
  assert_closed (&fixture->a, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_VERSION,
                 "The peer speaks protocol version 3; this node speaks version 1");
  LLM_TEST_AWAIT_UNTIL (llm_test_raw_peer_done (fixture->peer));
}

/* Mallory claims Carol's key to Bob, signing with her own. */
static void
script_impersonate_initiator (LlmTestRawPeer *peer,
                              gpointer        user_data)
{
  Fixture *fixture = user_data;
  g_autoptr(GError) error = NULL;

  (void) fixture;
  llm_test_raw_peer_handshake (peer, TRUE, &error);
  g_assert_true (llm_test_raw_peer_wait_closed (peer));
}

static void
test_connection_impersonation (Fixture       *fixture,
                               gconstpointer  data)
{
  g_autofree char *pattern = NULL;

  start_bob_with_peer (fixture, fixture->mallory, NULL);
  llm_test_raw_peer_set_claimed_key (fixture->peer, llm_identity_get_public_key (fixture->carol));
  llm_test_raw_peer_run (fixture->peer, script_impersonate_initiator, fixture);

  pattern = g_strdup_printf ("The peer claims to be %s but cannot prove*",
                             llm_identity_get_address (fixture->carol));
  assert_closed (&fixture->b, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_AUTHENTICATION, pattern);
  g_assert_null (llm_connection_get_peer_address (fixture->b.connection));
  assert_logged ("llm-connection: Connection with a local socket closed: The peer claims to be *");
  LLM_TEST_AWAIT_UNTIL (llm_test_raw_peer_done (fixture->peer));
}

/* Mallory answers Alice's call to Carol, with Carol's key. */
static void
script_impersonate_responder (LlmTestRawPeer *peer,
                              gpointer        user_data)
{
  g_autoptr(GError) error = NULL;

  /* Alice does not send her proof to someone who failed to prove theirs:
   * the scripted handshake ends with the stream. */
  g_assert_false (llm_test_raw_peer_handshake (peer, FALSE, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
}

static void
test_connection_impersonation_responder (Fixture       *fixture,
                                         gconstpointer  data)
{
  start_alice_with_peer (fixture, fixture->mallory, llm_identity_get_address (fixture->carol),
                         NULL);
  llm_test_raw_peer_set_claimed_key (fixture->peer, llm_identity_get_public_key (fixture->carol));
  llm_test_raw_peer_run (fixture->peer, script_impersonate_responder, fixture);

  assert_closed (&fixture->a, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_AUTHENTICATION,
                 "The peer claims to be *");
  LLM_TEST_AWAIT_UNTIL (llm_test_raw_peer_done (fixture->peer));
}

/* Silent after connecting: the handshake times out. */
static void
test_connection_handshake_timeout (Fixture       *fixture,
                                   gconstpointer  data)
{
  gint64 start = g_get_monotonic_time ();
  gint64 elapsed_ms;

  start_bob_with_peer (fixture, fixture->carol, NULL);
  assert_closed (&fixture->b, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                 "The handshake did not finish within 400 ms");
  elapsed_ms = (g_get_monotonic_time () - start) / 1000;
  g_assert_cmpint (elapsed_ms, >=, HANDSHAKE_TIMEOUT_MS - 10);
  g_assert_cmpint (elapsed_ms, <, HANDSHAKE_TIMEOUT_MS + 1000);
  assert_logged ("llm-connection: Connection with a local socket closed: The handshake did not*");
}

/* Handshakes, then nothing at all: the idle timeout closes it. */
static void
script_silent (LlmTestRawPeer *peer,
               gpointer        user_data)
{
  g_assert_true (llm_test_raw_peer_handshake (peer, TRUE, NULL));
  g_assert_true (llm_test_raw_peer_wait_closed (peer));
}

static void
test_connection_idle_timeout (Fixture       *fixture,
                              gconstpointer  data)
{
  gint64 open_time;
  gint64 elapsed_ms;

  start_bob_with_peer (fixture, fixture->carol, NULL);
  g_object_set (fixture->b.connection,
                "keepalive-interval", KEEPALIVE_MS,
                "idle-timeout", IDLE_TIMEOUT_MS,
                NULL);
  llm_test_raw_peer_run (fixture->peer, script_silent, fixture);
  LLM_TEST_AWAIT_UNTIL (fixture->b.handshake_done);
  g_assert_no_error (fixture->b.handshake_error);
  open_time = g_get_monotonic_time ();

  assert_closed (&fixture->b, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                 "Nothing came from the peer for 300 ms");
  elapsed_ms = (g_get_monotonic_time () - open_time) / 1000;
  g_assert_cmpint (elapsed_ms, >=, IDLE_TIMEOUT_MS - 10);
  g_assert_cmpint (elapsed_ms, <, IDLE_TIMEOUT_MS + 1000);
  assert_logged ("llm-connection: Connection with *.llm (a local socket) closed: Nothing came*");
  LLM_TEST_AWAIT_UNTIL (llm_test_raw_peer_done (fixture->peer));
}

/* After the handshake, the frame of @script_frames. */
typedef enum
{
  BAD_OVERSIZE,
  BAD_HUGE,
  BAD_UNDERSIZE,
  BAD_TRUNCATED,
  BAD_TRUNCATED_HEADER,
  BAD_REPLAY,
  BAD_REORDER,
  BAD_TAMPER,
  BAD_NO_JSON,
} Bad;

static Bad bad;

static void
script_bad_frames (LlmTestRawPeer *peer,
                   gpointer        user_data)
{
  g_autoptr(GBytes) first = NULL;
  g_autoptr(GBytes) second = NULL;

  g_assert_true (llm_test_raw_peer_handshake (peer, TRUE, NULL));
  first = llm_test_raw_peer_seal (peer, "{\"n\":0}", NULL);
  second = llm_test_raw_peer_seal (peer, "{\"n\":1}", NULL);

  switch (bad)
    {
    case BAD_OVERSIZE:
      {
        guint32 be = GUINT32_TO_BE (LLM_FRAME_MAX_SIZE + 1);

        llm_test_raw_peer_send (peer, &be, 4);
      }
      break;

    case BAD_HUGE:
      llm_test_raw_peer_send (peer, "\xff\xff\xff\xff", 4);
      break;

    case BAD_UNDERSIZE:
      llm_test_raw_peer_send (peer, "\x00\x00\x00\x03" "abc", 7);
      break;

    case BAD_TRUNCATED:
      llm_test_raw_peer_send (peer, g_bytes_get_data (first, NULL), g_bytes_get_size (first) - 3);
      llm_test_raw_peer_shutdown (peer);
      break;

    case BAD_TRUNCATED_HEADER:
      llm_test_raw_peer_send (peer, "\x00\x00", 2);
      llm_test_raw_peer_shutdown (peer);
      break;

    case BAD_REPLAY:
      llm_test_raw_peer_send_bytes (peer, first);
      llm_test_raw_peer_send_bytes (peer, first);
      break;

    case BAD_REORDER:
      llm_test_raw_peer_send_bytes (peer, second);
      llm_test_raw_peer_send_bytes (peer, first);
      break;

    case BAD_TAMPER:
      {
        g_autofree guint8 *copy = g_memdup2 (g_bytes_get_data (first, NULL),
                                             g_bytes_get_size (first));

        copy[g_bytes_get_size (first) - 20] ^= 0x01;
        llm_test_raw_peer_send (peer, copy, g_bytes_get_size (first));
      }
      break;

    case BAD_NO_JSON:
      {
        g_autoptr(GBytes) frame = NULL;

        /* Authentic, but the JSON is an array, not an object. */
        frame = llm_test_raw_peer_seal (peer, "[]", NULL);
        llm_test_raw_peer_send_bytes (peer, first);
        llm_test_raw_peer_send_bytes (peer, second);
        llm_test_raw_peer_send_bytes (peer, frame);
      }
      break;

    default:
      g_assert_not_reached ();
    }

  g_assert_true (llm_test_raw_peer_wait_closed (peer));
}

static void
run_bad_frame (Fixture    *fixture,
               Bad         which,
               int         code,
               const char *pattern)
{
  g_autofree char *logged = NULL;

  bad = which;
  start_bob_with_peer (fixture, fixture->carol, script_bad_frames);
  assert_closed (&fixture->b, LLM_PROTOCOL_ERROR, code, pattern);

  /* Logged as a message, naming the proven address and the endpoint. */
  logged = g_strdup_printf ("llm-connection: Connection with %s (a local socket) closed: %s",
                            llm_identity_get_address (fixture->carol), pattern);
  assert_logged (logged);
  LLM_TEST_AWAIT_UNTIL (llm_test_raw_peer_done (fixture->peer));
}

static void
test_connection_oversize (Fixture       *fixture,
                          gconstpointer  data)
{
  run_bad_frame (fixture, BAD_OVERSIZE, LLM_PROTOCOL_ERROR_TOO_LARGE,
                 "A frame of 16777217 bytes is over the limit of 16777216 bytes");
}

static void
test_connection_huge (Fixture       *fixture,
                      gconstpointer  data)
{
  run_bad_frame (fixture, BAD_HUGE, LLM_PROTOCOL_ERROR_TOO_LARGE,
                 "A frame of 4294967295 bytes is over the limit*");
}

static void
test_connection_undersize (Fixture       *fixture,
                           gconstpointer  data)
{
  run_bad_frame (fixture, BAD_UNDERSIZE, LLM_PROTOCOL_ERROR_MALFORMED,
                 "A frame of 3 bytes is shorter than the smallest frame*");
}

static void
test_connection_truncated (Fixture       *fixture,
                           gconstpointer  data)
{
  run_bad_frame (fixture, BAD_TRUNCATED, LLM_PROTOCOL_ERROR_TRUNCATED,
                 "The peer closed the connection in the middle of a frame (25 of 28 bytes)");
}

static void
test_connection_truncated_header (Fixture       *fixture,
                                  gconstpointer  data)
{
  run_bad_frame (fixture, BAD_TRUNCATED_HEADER, LLM_PROTOCOL_ERROR_TRUNCATED,
                 "*in the middle of a frame header");
}

static void
test_connection_replay (Fixture       *fixture,
                        gconstpointer  data)
{
  run_bad_frame (fixture, BAD_REPLAY, LLM_PROTOCOL_ERROR_AUTHENTICATION,
                 "Frame 1 does not authenticate*replayed or reordered");
  /* The genuine frame went through, the replay did not. */
  g_assert_cmpuint (fixture->b.messages->len, ==, 1);
}

static void
test_connection_reorder (Fixture       *fixture,
                         gconstpointer  data)
{
  run_bad_frame (fixture, BAD_REORDER, LLM_PROTOCOL_ERROR_AUTHENTICATION,
                 "Frame 0 does not authenticate*");
  g_assert_cmpuint (fixture->b.messages->len, ==, 0);
}

static void
test_connection_tamper (Fixture       *fixture,
                        gconstpointer  data)
{
  run_bad_frame (fixture, BAD_TAMPER, LLM_PROTOCOL_ERROR_AUTHENTICATION,
                 "Frame 0 does not authenticate*");
  g_assert_cmpuint (fixture->b.messages->len, ==, 0);
}

static void
test_connection_not_an_object (Fixture       *fixture,
                               gconstpointer  data)
{
  run_bad_frame (fixture, BAD_NO_JSON, LLM_PROTOCOL_ERROR_MALFORMED,
                 "The JSON of a message is not an object");
  g_assert_cmpuint (fixture->b.messages->len, ==, 2);
}

/* }}} */

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

#define ADD(path, func) \
  g_test_add ("/llm/connection/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)

  ADD ("handshake", test_connection_handshake);
  ADD ("any-peer", test_connection_any_peer);
  ADD ("messages", test_connection_messages);
  ADD ("send-too-large", test_connection_send_too_large);
  ADD ("wrong-peer", test_connection_wrong_peer);
  ADD ("bad-expected-address", test_connection_bad_expected_address);
  ADD ("close", test_connection_close);
  ADD ("cancel-handshake", test_connection_cancel_handshake);
  ADD ("keepalive", test_connection_keepalive);
  ADD ("scripted", test_connection_scripted);
  ADD ("cipher-fallback", test_connection_cipher_fallback);
  ADD ("garbage", test_connection_garbage);
  ADD ("truncated-handshake", test_connection_truncated_handshake);
  ADD ("version", test_connection_version);
  ADD ("version-initiator", test_connection_version_initiator);
  ADD ("impersonation", test_connection_impersonation);
  ADD ("impersonation-responder", test_connection_impersonation_responder);
  ADD ("handshake-timeout", test_connection_handshake_timeout);
  ADD ("idle-timeout", test_connection_idle_timeout);
  ADD ("oversize", test_connection_oversize);
  ADD ("oversize-huge", test_connection_huge);
  ADD ("undersize", test_connection_undersize);
  ADD ("truncated", test_connection_truncated);
  ADD ("truncated-header", test_connection_truncated_header);
  ADD ("replay", test_connection_replay);
  ADD ("reorder", test_connection_reorder);
  ADD ("tamper", test_connection_tamper);
  ADD ("not-an-object", test_connection_not_an_object);

#undef ADD

  return g_test_run ();
}

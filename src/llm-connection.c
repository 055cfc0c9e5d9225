/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-connection"

#include "llm-connection.h"

#include <string.h>

/**
 * LlmConnection:
 *
 * An encrypted, authenticated channel to one peer over a #GIOStream (a TCP
 * #GSocketConnection, or one end of a socketpair in tests), speaking
 * protocol version 1 (docs/protocol.md; the bytes are made and checked by
 * llm-frame.h).
 *
 * Make it with llm_connection_new(), set the timing properties if the
 * defaults do not suit, then call llm_connection_handshake_async(). The
 * initiator (the side that dialled) may pass the `.llm` address it expects:
 * a peer that proves any other identity is refused before this node reveals
 * its own. Once #LlmConnection:state is %LLM_CONNECTION_STATE_OPEN,
 * #LlmConnection:peer-address is the address the peer proved it owns,
 * llm_connection_send_async() sends a JSON object with an optional binary
 * payload, and #LlmConnection::message delivers the peer's.
 *
 * The connection pings its peer every #LlmConnection:keepalive-interval and
 * closes itself when nothing at all arrives for #LlmConnection:idle-timeout;
 * any frame that fails to authenticate or parse closes it too. Every close
 * emits #LlmConnection::closed once, with the reason, and logs it (with
 * g_message() when the peer misbehaved or timed out, g_debug() otherwise),
 * naming the peer's address and endpoint.
 *
 * All I/O is asynchronous. Signals, property notifications and callbacks
 * come on the thread-default main context of the llm_connection_handshake_async()
 * call. While open, the connection's pending reads hold a reference on it,
 * so an owner that is done with a connection calls llm_connection_close().
 */
struct _LlmConnection
{
  GObject parent_instance;

  LlmIdentity *identity;
  GIOStream *base_stream;
  GCancellable *cancellable;
  GMainContext *context;
  LlmHandshake *handshake;
  LlmFrameCipher *send_cipher;
  LlmFrameCipher *receive_cipher;
  GTask *handshake_task;
  GQueue outgoing;              /* of Outgoing, waiting */
  struct _Outgoing *in_flight;  /* the one being written */
  GSource *handshake_source;
  GSource *keepalive_source;
  GSource *idle_source;
  GSource *cancel_source;
  GError *close_error;
  char *expected_address;
  char *peer_address;
  char *endpoint;
  guint8 *body;

  guint8 handshake_buffer[LLM_HANDSHAKE_HELLO_SIZE + LLM_HANDSHAKE_PROOF_SIZE];
  guint8 header[LLM_FRAME_HEADER_SIZE];
  guint8 peer_public_key[LLM_ADDRESS_PUBLIC_KEY_SIZE];
  gsize body_size;
  gsize body_received;
  gsize body_allocated;
  gint64 last_receive_time;
  gint64 round_trip_time;
  guint handshake_timeout;
  guint keepalive_interval;
  guint idle_timeout;
  LlmConnectionState state;
  LlmCipher cipher;
  gboolean initiator;
  gboolean writing;
};

G_DEFINE_FINAL_TYPE (LlmConnection, llm_connection, G_TYPE_OBJECT)

G_DEFINE_ENUM_TYPE (LlmConnectionState, llm_connection_state,
  G_DEFINE_ENUM_VALUE (LLM_CONNECTION_STATE_NEW, "new"),
  G_DEFINE_ENUM_VALUE (LLM_CONNECTION_STATE_HANDSHAKING, "handshaking"),
  G_DEFINE_ENUM_VALUE (LLM_CONNECTION_STATE_OPEN, "open"),
  G_DEFINE_ENUM_VALUE (LLM_CONNECTION_STATE_CLOSED, "closed"))

enum {
  PROP_0,
  PROP_IDENTITY,
  PROP_BASE_STREAM,
  PROP_INITIATOR,
  PROP_STATE,
  PROP_PEER_ADDRESS,
  PROP_ENDPOINT,
  PROP_CIPHER,
  PROP_ROUND_TRIP_TIME,
  PROP_HANDSHAKE_TIMEOUT,
  PROP_KEEPALIVE_INTERVAL,
  PROP_IDLE_TIMEOUT,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

enum {
  MESSAGE,
  CLOSED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

/* A frame's body is read in chunks of at most this size, into a buffer that
 * grows as bytes arrive: a peer that announces 16 MiB and sends nothing
 * costs nothing, and each chunk counts as activity for the idle timeout. */
#define BODY_CHUNK_SIZE (256 * 1024)

typedef struct _Outgoing
{
  GBytes *frame;
  GTask *task;        /* (nullable): none for pings and pongs */
} Outgoing;

static void
outgoing_free (Outgoing *outgoing)
{
  g_clear_pointer (&outgoing->frame, g_bytes_unref);
  g_clear_object (&outgoing->task);
  g_free (outgoing);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Outgoing, outgoing_free)

static void read_header (LlmConnection *self);

/* Naming the peer in logs and errors: its proven address when there is one,
 * and where it connects from. */
static char *
describe_peer (LlmConnection *self)
{
  if (self->peer_address != NULL)
    return g_strdup_printf ("%s (%s)", self->peer_address, self->endpoint);

  return g_strdup (self->endpoint);
}

static char *
describe_endpoint (GIOStream *stream)
{
  g_autoptr(GSocketAddress) address = NULL;

  if (G_IS_SOCKET_CONNECTION (stream))
    address = g_socket_connection_get_remote_address (G_SOCKET_CONNECTION (stream), NULL);

  if (G_IS_INET_SOCKET_ADDRESS (address))
    {
      GInetAddress *inet = g_inet_socket_address_get_address (G_INET_SOCKET_ADDRESS (address));
      guint16 port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (address));
      g_autofree char *host = g_inet_address_to_string (inet);

      if (g_inet_address_get_family (inet) == G_SOCKET_FAMILY_IPV6)
        return g_strdup_printf ("[%s]:%u", host, port);
      return g_strdup_printf ("%s:%u", host, port);
    }

  if (address != NULL)
    return g_strdup ("a local socket");

  return g_strdup ("a stream");
}

static void
clear_source (GSource **source)
{
  if (*source != NULL)
    {
      g_source_destroy (*source);
      g_clear_pointer (source, g_source_unref);
    }
}

static GSource *
add_timeout (LlmConnection *self,
             guint          timeout_ms,
             GSourceFunc    function)
{
  GSource *source = g_timeout_source_new (timeout_ms);

  g_source_set_callback (source, function, self, NULL);
  g_source_set_static_name (source, "[llm-connection] timer");
  g_source_attach (source, self->context);

  return source;
}

static gboolean
is_quiet_close (LlmConnection *self,
                const GError  *error)
{
  return g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CLOSED) ||
         g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED) ||
         (self->state == LLM_CONNECTION_STATE_OPEN &&
          g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED));
}

static void
close_stream_cb (GObject      *object,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_io_stream_close_finish (G_IO_STREAM (object), result, NULL);
}

static void
fail_task (GTask        *task,
           const GError *reason)
{
  g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CLOSED,
                           "The connection is closed: %s", reason->message);
}

/* Every way a connection ends goes through here, once: log the reason,
 * stop everything, close the stream, tell the owner. */
static void
close_with_error (LlmConnection *self,
                  const GError  *error)
{
  g_autoptr(LlmConnection) hold = g_object_ref (self);
  g_autoptr(GTask) handshake_task = NULL;
  g_autofree char *peer = NULL;
  Outgoing *outgoing;

  if (self->state == LLM_CONNECTION_STATE_CLOSED)
    return;

  peer = describe_peer (self);
  if (is_quiet_close (self, error))
    g_debug ("Connection with %s closed: %s", peer, error->message);
  else
    g_message ("Connection with %s closed: %s", peer, error->message);

  self->close_error = g_error_copy (error);
  self->state = LLM_CONNECTION_STATE_CLOSED;

  g_cancellable_cancel (self->cancellable);
  clear_source (&self->handshake_source);
  clear_source (&self->keepalive_source);
  clear_source (&self->idle_source);
  clear_source (&self->cancel_source);
  g_clear_pointer (&self->handshake, llm_handshake_free);
  g_clear_pointer (&self->send_cipher, llm_frame_cipher_free);
  g_clear_pointer (&self->receive_cipher, llm_frame_cipher_free);
  g_clear_pointer (&self->body, g_free);

  while ((outgoing = g_queue_pop_head (&self->outgoing)) != NULL)
    {
      if (outgoing->task != NULL)
        fail_task (outgoing->task, error);
      outgoing_free (outgoing);
    }

  if (self->base_stream != NULL && !g_io_stream_is_closed (self->base_stream))
    g_io_stream_close_async (self->base_stream, G_PRIORITY_DEFAULT, NULL, close_stream_cb, NULL);

  handshake_task = g_steal_pointer (&self->handshake_task);
  if (handshake_task != NULL)
    g_task_return_error (handshake_task, g_error_copy (error));

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
  g_signal_emit (self, signals[CLOSED], 0, self->close_error);
}

static void
close_with_new_error (LlmConnection *self,
                      GQuark         domain,
                      int            code,
                      const char    *format,
                      ...) G_GNUC_PRINTF (4, 5);

static void
close_with_new_error (LlmConnection *self,
                      GQuark         domain,
                      int            code,
                      const char    *format,
                      ...)
{
  g_autoptr(GError) error = NULL;
  va_list args;

  va_start (args, format);
  error = g_error_new_valist (domain, code, format, args);
  va_end (args);

  close_with_error (self, error);
}

/* Whether a finished read or write may go on: not when the connection
 * closed meanwhile (the operation was cancelled then), nor when it failed,
 * which closes the connection. */
static gboolean
check_io (LlmConnection *self,
          GError        *error)
{
  if (self->state == LLM_CONNECTION_STATE_CLOSED)
    return FALSE;

  if (error != NULL)
    {
      close_with_error (self, error);
      return FALSE;
    }

  return TRUE;
}

/* Writing {{{ */

static void write_next (LlmConnection *self);

static void
write_cb (GObject      *object,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(LlmConnection) self = user_data;
  g_autoptr(Outgoing) outgoing = NULL;
  g_autoptr(GError) error = NULL;

  g_output_stream_write_all_finish (G_OUTPUT_STREAM (object), result, NULL, &error);

  outgoing = g_steal_pointer (&self->in_flight);
  self->writing = FALSE;

  g_assert (outgoing != NULL);

  /* Written whole before the connection closed: that send succeeded. */
  if (self->state == LLM_CONNECTION_STATE_CLOSED)
    {
      if (outgoing->task != NULL && error == NULL)
        g_task_return_boolean (outgoing->task, TRUE);
      else if (outgoing->task != NULL)
        fail_task (outgoing->task, self->close_error);
      return;
    }

  if (error != NULL)
    {
      g_prefix_error (&error, "Cannot send to the peer: ");
      if (outgoing->task != NULL)
        fail_task (outgoing->task, error);
      close_with_error (self, error);
      return;
    }

  if (outgoing->task != NULL)
    g_task_return_boolean (outgoing->task, TRUE);

  write_next (self);
}

/* Frames go out one at a time, in the order they were sealed, which is the
 * order of their counters: the peer expects exactly that. */
static void
write_next (LlmConnection *self)
{
  Outgoing *outgoing;
  const guint8 *data;
  gsize size;

  if (self->writing || self->state != LLM_CONNECTION_STATE_OPEN)
    return;

  outgoing = g_queue_pop_head (&self->outgoing);
  if (outgoing == NULL)
    return;

  /* The frame stays alive until the write finishes, even if the connection
   * closes meanwhile. */
  self->in_flight = outgoing;
  self->writing = TRUE;
  data = g_bytes_get_data (outgoing->frame, &size);
  g_output_stream_write_all_async (g_io_stream_get_output_stream (self->base_stream),
                                   data, size, G_PRIORITY_DEFAULT, self->cancellable,
                                   write_cb, g_object_ref (self));
}

static void
enqueue (LlmConnection *self,
         GBytes        *frame,
         GTask         *task)
{
  Outgoing *outgoing = g_new0 (Outgoing, 1);

  outgoing->frame = g_bytes_ref (frame);
  outgoing->task = task != NULL ? g_object_ref (task) : NULL;
  g_queue_push_tail (&self->outgoing, outgoing);
  write_next (self);
}

static void
send_ping_or_pong (LlmConnection *self,
                   LlmFrameType   type,
                   GBytes        *stamp)
{
  g_autoptr(GBytes) frame = NULL;
  g_autoptr(GError) error = NULL;

  frame = llm_frame_seal (self->send_cipher, type, NULL, 0, stamp, &error);
  if (frame == NULL)
    {
      close_with_error (self, error);
      return;
    }

  enqueue (self, frame, NULL);
}

static gboolean
keepalive_cb (gpointer user_data)
{
  LlmConnection *self = user_data;
  g_autoptr(GBytes) stamp = NULL;
  guint64 now_be = GUINT64_TO_BE ((guint64) g_get_monotonic_time ());

  stamp = g_bytes_new (&now_be, sizeof now_be);
  send_ping_or_pong (self, LLM_FRAME_PING, stamp);

  return G_SOURCE_CONTINUE;
}

/* }}} */

/* Reading frames {{{ */

static gboolean
idle_cb (gpointer user_data)
{
  LlmConnection *self = user_data;
  gint64 quiet_ms = (g_get_monotonic_time () - self->last_receive_time) / 1000;

  clear_source (&self->idle_source);

  if (quiet_ms >= self->idle_timeout)
    {
      close_with_new_error (self, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                            "Nothing came from the peer for %u ms", self->idle_timeout);
      return G_SOURCE_REMOVE;
    }

  /* Something came meanwhile: wait for the rest of the timeout only. */
  self->idle_source = add_timeout (self, self->idle_timeout - (guint) quiet_ms, idle_cb);

  return G_SOURCE_REMOVE;
}

static void
dispatch_frame (LlmConnection *self,
                GBytes        *plaintext)
{
  g_autoptr(JsonObject) message = NULL;
  g_autoptr(GBytes) payload = NULL;
  g_autoptr(GError) error = NULL;
  LlmFrameType type;

  if (!llm_frame_parse_plaintext (plaintext, &type, &message, &payload, &error))
    {
      close_with_error (self, error);
      return;
    }

  switch (type)
    {
    case LLM_FRAME_MESSAGE:
      g_signal_emit (self, signals[MESSAGE], 0, message, payload);
      break;

    case LLM_FRAME_PING:
      send_ping_or_pong (self, LLM_FRAME_PONG, payload);
      break;

    case LLM_FRAME_PONG:
      {
        guint64 stamp_be;
        gint64 stamp, now = g_get_monotonic_time ();

        memcpy (&stamp_be, g_bytes_get_data (payload, NULL), sizeof stamp_be);
        stamp = (gint64) GUINT64_FROM_BE (stamp_be);

        /* A pong echoes one of this node's pings, or the peer lies: only
         * believe a stamp from the past. */
        if (stamp > 0 && stamp <= now && now - stamp != self->round_trip_time)
          {
            self->round_trip_time = now - stamp;
            g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ROUND_TRIP_TIME]);
          }
      }
      break;

    default:
      g_assert_not_reached ();
    }
}

static void read_body (LlmConnection *self);

static void
read_body_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(LlmConnection) self = user_data;
  g_autoptr(GError) error = NULL;
  gssize n;

  n = g_input_stream_read_finish (G_INPUT_STREAM (object), result, &error);
  if (!check_io (self, error))
    return;

  if (n == 0)
    {
      close_with_new_error (self, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_TRUNCATED,
                            "The peer closed the connection in the middle of a frame "
                            "(%" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT " bytes)",
                            self->body_received, self->body_size);
      return;
    }

  self->body_received += n;
  self->last_receive_time = g_get_monotonic_time ();
  read_body (self);
}

static void
read_body (LlmConnection *self)
{
  g_autoptr(GBytes) plaintext = NULL;
  g_autoptr(GError) error = NULL;
  gsize want;

  if (self->body_received < self->body_size)
    {
      want = MIN (self->body_size - self->body_received, BODY_CHUNK_SIZE);
      if (self->body_allocated < self->body_received + want)
        {
          self->body_allocated = MIN (self->body_size,
                                      MAX (self->body_received + want, 2 * self->body_allocated));
          self->body = g_realloc (self->body, self->body_allocated);
        }

      g_input_stream_read_async (g_io_stream_get_input_stream (self->base_stream),
                                 self->body + self->body_received, want,
                                 G_PRIORITY_DEFAULT, self->cancellable,
                                 read_body_cb, g_object_ref (self));
      return;
    }

  plaintext = llm_frame_open (self->receive_cipher, self->header,
                              g_steal_pointer (&self->body), self->body_size, &error);
  self->body_allocated = 0;
  if (plaintext == NULL)
    {
      close_with_error (self, error);
      return;
    }

  dispatch_frame (self, plaintext);

  /* A handler may have closed the connection. */
  if (self->state == LLM_CONNECTION_STATE_OPEN)
    read_header (self);
}

static void
read_header_cb (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(LlmConnection) self = user_data;
  g_autoptr(GError) error = NULL;
  gsize n = 0;

  g_input_stream_read_all_finish (G_INPUT_STREAM (object), result, &n, &error);
  if (!check_io (self, error))
    return;

  if (n == 0)
    {
      close_with_new_error (self, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                            "The peer closed the connection");
      return;
    }

  if (n < sizeof self->header)
    {
      close_with_new_error (self, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_TRUNCATED,
                            "The peer closed the connection in the middle of a frame header");
      return;
    }

  /* The size is checked before a byte is allocated for it. */
  if (!llm_frame_parse_header (self->header, &self->body_size, &error))
    {
      close_with_error (self, error);
      return;
    }

  self->last_receive_time = g_get_monotonic_time ();
  self->body_received = 0;
  self->body_allocated = 0;
  read_body (self);
}

static void
read_header (LlmConnection *self)
{
  g_input_stream_read_all_async (g_io_stream_get_input_stream (self->base_stream),
                                 self->header, sizeof self->header,
                                 G_PRIORITY_DEFAULT, self->cancellable,
                                 read_header_cb, g_object_ref (self));
}

/* }}} */

/* Handshake {{{ */

static void
sign_cb (const guint8 *data,
         gsize         size,
         guint8        signature[64],
         gpointer      user_data)
{
  llm_identity_sign (LLM_IDENTITY (user_data), data, size, signature);
}

static void
handshake_complete (LlmConnection *self)
{
  g_autoptr(GTask) task = g_steal_pointer (&self->handshake_task);
  g_autofree char *peer = NULL;

  llm_handshake_split (self->handshake, &self->send_cipher, &self->receive_cipher);
  self->cipher = llm_handshake_get_cipher (self->handshake);
  g_clear_pointer (&self->handshake, llm_handshake_free);
  clear_source (&self->handshake_source);
  clear_source (&self->cancel_source);

  self->state = LLM_CONNECTION_STATE_OPEN;
  self->last_receive_time = g_get_monotonic_time ();
  if (self->keepalive_interval > 0)
    self->keepalive_source = add_timeout (self, self->keepalive_interval, keepalive_cb);
  if (self->idle_timeout > 0)
    self->idle_source = add_timeout (self, self->idle_timeout, idle_cb);

  peer = describe_peer (self);
  g_debug ("Connection with %s open (%s, %s)", peer,
           self->initiator ? "dialled" : "accepted",
           self->cipher == LLM_CIPHER_AES256_GCM ? "AES-256-GCM" : "XChaCha20-Poly1305");

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CIPHER]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);

  read_header (self);
  write_next (self);

  g_task_return_boolean (task, TRUE);
}

/* Reads exactly @size bytes of the handshake into handshake_buffer. */
static gboolean
finish_handshake_read (LlmConnection  *self,
                       GAsyncResult   *result,
                       gsize           size,
                       const char     *what)
{
  g_autoptr(GError) error = NULL;
  gsize n = 0;

  g_input_stream_read_all_finish (g_io_stream_get_input_stream (self->base_stream),
                                  result, &n, &error);
  if (!check_io (self, error))
    return FALSE;

  if (n == 0)
    {
      close_with_new_error (self, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                            "The peer closed the connection during the handshake, "
                            "before its %s", what);
      return FALSE;
    }

  if (n < size)
    {
      close_with_new_error (self, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_TRUNCATED,
                            "The peer closed the connection in the middle of its %s "
                            "(%" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT " bytes)",
                            what, n, size);
      return FALSE;
    }

  return TRUE;
}

static void
handshake_read (LlmConnection       *self,
                gsize                size,
                GAsyncReadyCallback  callback)
{
  g_input_stream_read_all_async (g_io_stream_get_input_stream (self->base_stream),
                                 self->handshake_buffer, size,
                                 G_PRIORITY_DEFAULT, self->cancellable,
                                 callback, g_object_ref (self));
}

static void
handshake_write (LlmConnection       *self,
                 gsize                size,
                 GAsyncReadyCallback  callback)
{
  g_output_stream_write_all_async (g_io_stream_get_output_stream (self->base_stream),
                                   self->handshake_buffer, size,
                                   G_PRIORITY_DEFAULT, self->cancellable,
                                   callback, g_object_ref (self));
}

static gboolean
finish_handshake_write (LlmConnection *self,
                        GAsyncResult  *result)
{
  g_autoptr(GError) error = NULL;

  g_output_stream_write_all_finish (g_io_stream_get_output_stream (self->base_stream),
                                    result, NULL, &error);
  if (error != NULL)
    g_prefix_error (&error, "Cannot send the handshake: ");

  return check_io (self, error);
}

/* Proven identities: the address is derived from the key the peer proved
 * it holds, never taken from anything it says. */
static void
set_peer (LlmConnection *self)
{
  memcpy (self->peer_public_key, llm_handshake_get_peer_public_key (self->handshake),
          sizeof self->peer_public_key);
  self->peer_address = llm_address_from_public_key (self->peer_public_key);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PEER_ADDRESS]);
}

/* The initiator: hello →, ← hello, ← proof, proof →. */

static void
initiator_write_proof_cb (GObject      *object,
                          GAsyncResult *result,
                          gpointer      user_data)
{
  g_autoptr(LlmConnection) self = user_data;

  if (finish_handshake_write (self, result))
    handshake_complete (self);
}

static void
initiator_read_proof_cb (GObject      *object,
                         GAsyncResult *result,
                         gpointer      user_data)
{
  g_autoptr(LlmConnection) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!finish_handshake_read (self, result, LLM_HANDSHAKE_PROOF_SIZE, "proof"))
    return;

  if (!llm_handshake_read_proof (self->handshake, self->handshake_buffer,
                                 LLM_HANDSHAKE_PROOF_SIZE, &error))
    {
      close_with_error (self, error);
      return;
    }

  set_peer (self);

  /* Checked before this node sends its own proof, so that a wrong peer
   * does not learn who dialled it. */
  if (self->expected_address != NULL && !g_str_equal (self->expected_address, self->peer_address))
    {
      close_with_new_error (self, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_WRONG_PEER,
                            "Dialled %s, but the peer proved it is %s",
                            self->expected_address, self->peer_address);
      return;
    }

  if (!llm_handshake_write_proof (self->handshake, self->handshake_buffer, &error))
    {
      close_with_error (self, error);
      return;
    }

  handshake_write (self, LLM_HANDSHAKE_PROOF_SIZE, initiator_write_proof_cb);
}

static void
initiator_read_hello_cb (GObject      *object,
                         GAsyncResult *result,
                         gpointer      user_data)
{
  g_autoptr(LlmConnection) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!finish_handshake_read (self, result, LLM_HANDSHAKE_HELLO_SIZE, "hello"))
    return;

  if (!llm_handshake_read_hello (self->handshake, self->handshake_buffer,
                                 LLM_HANDSHAKE_HELLO_SIZE, &error))
    {
      close_with_error (self, error);
      return;
    }

  handshake_read (self, LLM_HANDSHAKE_PROOF_SIZE, initiator_read_proof_cb);
}

static void
initiator_write_hello_cb (GObject      *object,
                          GAsyncResult *result,
                          gpointer      user_data)
{
  g_autoptr(LlmConnection) self = user_data;

  if (finish_handshake_write (self, result))
    handshake_read (self, LLM_HANDSHAKE_HELLO_SIZE, initiator_read_hello_cb);
}

/* The responder: ← hello, hello + proof →, ← proof. */

static void
responder_read_proof_cb (GObject      *object,
                         GAsyncResult *result,
                         gpointer      user_data)
{
  g_autoptr(LlmConnection) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!finish_handshake_read (self, result, LLM_HANDSHAKE_PROOF_SIZE, "proof"))
    return;

  if (!llm_handshake_read_proof (self->handshake, self->handshake_buffer,
                                 LLM_HANDSHAKE_PROOF_SIZE, &error))
    {
      close_with_error (self, error);
      return;
    }

  set_peer (self);
  handshake_complete (self);
}

static void
responder_write_cb (GObject      *object,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(LlmConnection) self = user_data;

  if (finish_handshake_write (self, result))
    handshake_read (self, LLM_HANDSHAKE_PROOF_SIZE, responder_read_proof_cb);
}

static void
responder_refuse_version_cb (GObject      *object,
                             GAsyncResult *result,
                             gpointer      user_data)
{
  g_autoptr(LlmConnection) self = user_data;
  guint8 version;

  if (!finish_handshake_write (self, result))
    return;

  version = llm_handshake_get_peer_version (self->handshake);
  close_with_new_error (self, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_VERSION,
                        "The peer speaks protocol version %u; this node speaks version %d",
                        version, LLM_PROTOCOL_VERSION);
}

static void
responder_read_hello_cb (GObject      *object,
                         GAsyncResult *result,
                         gpointer      user_data)
{
  g_autoptr(LlmConnection) self = user_data;
  g_autoptr(GError) error = NULL;

  if (!finish_handshake_read (self, result, LLM_HANDSHAKE_HELLO_SIZE, "hello"))
    return;

  if (!llm_handshake_read_hello (self->handshake, self->handshake_buffer,
                                 LLM_HANDSHAKE_HELLO_SIZE, &error))
    {
      /* The peer learns which version this node speaks from its hello, so
       * that a newer peer may fall back to it. */
      if (g_error_matches (error, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_VERSION))
        {
          llm_handshake_write_hello (self->handshake, self->handshake_buffer);
          handshake_write (self, LLM_HANDSHAKE_HELLO_SIZE, responder_refuse_version_cb);
          return;
        }

      close_with_error (self, error);
      return;
    }

  llm_handshake_write_hello (self->handshake, self->handshake_buffer);
  if (!llm_handshake_write_proof (self->handshake,
                                  self->handshake_buffer + LLM_HANDSHAKE_HELLO_SIZE, &error))
    {
      close_with_error (self, error);
      return;
    }

  handshake_write (self, LLM_HANDSHAKE_HELLO_SIZE + LLM_HANDSHAKE_PROOF_SIZE, responder_write_cb);
}

static gboolean
handshake_timeout_cb (gpointer user_data)
{
  LlmConnection *self = user_data;

  clear_source (&self->handshake_source);
  close_with_new_error (self, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                        "The handshake did not finish within %u ms", self->handshake_timeout);

  return G_SOURCE_REMOVE;
}

static gboolean
handshake_cancelled_cb (GCancellable *cancellable,
                        gpointer      user_data)
{
  LlmConnection *self = user_data;

  clear_source (&self->cancel_source);
  close_with_new_error (self, G_IO_ERROR, G_IO_ERROR_CANCELLED, "The handshake was cancelled");

  return G_SOURCE_REMOVE;
}

/**
 * llm_connection_handshake_async:
 * @self: a new #LlmConnection
 * @expected_address: (nullable): for the initiator, the `.llm` address it
 *   dials; %NULL accepts any peer that proves an identity (a peer given as
 *   HOST:PORT only). Must be %NULL for the responder.
 * @cancellable: (nullable): cancels the handshake, which closes the
 *   connection
 * @callback: called when the connection is open or closed
 * @user_data: data for @callback
 *
 * Proves this node's identity to the peer and checks the peer's, within
 * #LlmConnection:handshake-timeout. On failure the connection is closed
 * (and #LlmConnection::closed emitted) before @callback runs; the error is
 * in %LLM_PROTOCOL_ERROR (a peer that is not a node, speaks another
 * version, fails to prove its identity, or is not @expected_address), or
 * %G_IO_ERROR (%G_IO_ERROR_TIMED_OUT, %G_IO_ERROR_CONNECTION_CLOSED…), or
 * %LLM_ADDRESS_ERROR for an @expected_address that is not an address.
 */
void
llm_connection_handshake_async (LlmConnection       *self,
                                const char          *expected_address,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  g_autoptr(GError) error = NULL;

  g_return_if_fail (LLM_IS_CONNECTION (self));
  g_return_if_fail (self->state == LLM_CONNECTION_STATE_NEW);
  g_return_if_fail (self->initiator || expected_address == NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  self->context = g_main_context_ref_thread_default ();
  self->handshake_task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (self->handshake_task, llm_connection_handshake_async);
  /* The connection reports cancellation itself, as a close. */
  g_task_set_check_cancellable (self->handshake_task, FALSE);

  self->state = LLM_CONNECTION_STATE_HANDSHAKING;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);

  if (expected_address != NULL && !llm_address_parse (expected_address, NULL, &error))
    {
      close_with_error (self, error);
      return;
    }
  self->expected_address = g_strdup (expected_address);

  if (self->handshake_timeout > 0)
    self->handshake_source = add_timeout (self, self->handshake_timeout, handshake_timeout_cb);

  if (cancellable != NULL)
    {
      self->cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_callback (self->cancel_source, G_SOURCE_FUNC (handshake_cancelled_cb),
                             self, NULL);
      g_source_attach (self->cancel_source, self->context);
    }

  self->handshake = llm_handshake_new (self->initiator ? LLM_HANDSHAKE_INITIATOR
                                                       : LLM_HANDSHAKE_RESPONDER,
                                       llm_identity_get_public_key (self->identity),
                                       sign_cb, self->identity, TRUE);

  if (self->initiator)
    {
      llm_handshake_write_hello (self->handshake, self->handshake_buffer);
      handshake_write (self, LLM_HANDSHAKE_HELLO_SIZE, initiator_write_hello_cb);
    }
  else
    {
      handshake_read (self, LLM_HANDSHAKE_HELLO_SIZE, responder_read_hello_cb);
    }
}

/**
 * llm_connection_handshake_finish:
 * @self: a #LlmConnection
 * @result: the #GAsyncResult given to the callback
 * @error: return location for a #GError
 *
 * Returns: %TRUE if the connection is open
 */
gboolean
llm_connection_handshake_finish (LlmConnection  *self,
                                 GAsyncResult   *result,
                                 GError        **error)
{
  g_return_val_if_fail (LLM_IS_CONNECTION (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        llm_connection_handshake_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* }}} */

/**
 * llm_connection_send_async:
 * @self: an open #LlmConnection
 * @message: a JSON object
 * @payload: (nullable): raw bytes to carry beside @message (tensors, as
 *   little-endian values), at most %LLM_FRAME_MAX_PAYLOAD_SIZE with the JSON
 * @cancellable: (nullable): a #GCancellable
 * @callback: called once the frame is written out, or failed
 * @user_data: data for @callback
 *
 * Seals @message and @payload in one frame and queues it; frames are
 * written in the order of the calls. Before the connection is open, this
 * fails with %G_IO_ERROR_NOT_CONNECTED; once closed, with %G_IO_ERROR_CLOSED
 * and the reason. A message too large for a frame fails
 * with %LLM_PROTOCOL_ERROR_TOO_LARGE and leaves the connection open.
 * Cancelling cannot take back a frame once queued (the peer counts them); it
 * only makes the result %G_IO_ERROR_CANCELLED.
 *
 * The queue is not bounded: a sender of large payloads waits for each
 * callback before it sends the next.
 */
void
llm_connection_send_async (LlmConnection       *self,
                           JsonObject          *message,
                           GBytes              *payload,
                           GCancellable        *cancellable,
                           GAsyncReadyCallback  callback,
                           gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GBytes) frame = NULL;
  g_autoptr(GError) error = NULL;

  g_return_if_fail (LLM_IS_CONNECTION (self));
  g_return_if_fail (message != NULL);
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, llm_connection_send_async);

  if (self->state == LLM_CONNECTION_STATE_CLOSED)
    {
      fail_task (task, self->close_error);
      return;
    }

  if (self->state != LLM_CONNECTION_STATE_OPEN)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                               "The connection is not open yet");
      return;
    }

  frame = llm_frame_seal_message (self->send_cipher, message, payload, &error);
  if (frame == NULL)
    {
      /* An exhausted counter ends the connection; a message too large is
       * only refused. */
      if (g_error_matches (error, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_EXHAUSTED))
        close_with_error (self, error);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  enqueue (self, frame, task);
}

/**
 * llm_connection_send_finish:
 * @self: a #LlmConnection
 * @result: the #GAsyncResult given to the callback
 * @error: return location for a #GError
 *
 * Returns: %TRUE if the frame was written to the stream
 */
gboolean
llm_connection_send_finish (LlmConnection  *self,
                            GAsyncResult   *result,
                            GError        **error)
{
  g_return_val_if_fail (LLM_IS_CONNECTION (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == llm_connection_send_async,
                        FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * llm_connection_close:
 * @self: a #LlmConnection
 *
 * Closes the connection now, whatever its state: frames still queued are
 * dropped (their callbacks fail), #LlmConnection::closed is emitted with
 * %G_IO_ERROR_CLOSED, and the peer sees the stream end. Does nothing on a
 * closed connection.
 */
void
llm_connection_close (LlmConnection *self)
{
  g_return_if_fail (LLM_IS_CONNECTION (self));

  if (self->state == LLM_CONNECTION_STATE_CLOSED)
    return;

  close_with_new_error (self, G_IO_ERROR, G_IO_ERROR_CLOSED, "Closed by this node");
}

/* GObject {{{ */

static void
llm_connection_constructed (GObject *object)
{
  LlmConnection *self = LLM_CONNECTION (object);

  G_OBJECT_CLASS (llm_connection_parent_class)->constructed (object);

  g_assert (LLM_IS_IDENTITY (self->identity));
  g_assert (G_IS_IO_STREAM (self->base_stream));

  self->endpoint = describe_endpoint (self->base_stream);
}

static void
llm_connection_dispose (GObject *object)
{
  LlmConnection *self = LLM_CONNECTION (object);

  g_cancellable_cancel (self->cancellable);
  clear_source (&self->handshake_source);
  clear_source (&self->keepalive_source);
  clear_source (&self->idle_source);
  clear_source (&self->cancel_source);

  /* Pending operations hold references: there are none left, and closing a
   * socket does not block. */
  if (self->base_stream != NULL && !g_io_stream_is_closed (self->base_stream))
    g_io_stream_close (self->base_stream, NULL, NULL);
  self->state = LLM_CONNECTION_STATE_CLOSED;

  g_queue_clear_full (&self->outgoing, (GDestroyNotify) outgoing_free);
  g_clear_pointer (&self->in_flight, outgoing_free);
  g_clear_object (&self->handshake_task);

  G_OBJECT_CLASS (llm_connection_parent_class)->dispose (object);
}

static void
llm_connection_finalize (GObject *object)
{
  LlmConnection *self = LLM_CONNECTION (object);

  g_clear_pointer (&self->handshake, llm_handshake_free);
  g_clear_pointer (&self->send_cipher, llm_frame_cipher_free);
  g_clear_pointer (&self->receive_cipher, llm_frame_cipher_free);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_clear_pointer (&self->close_error, g_error_free);
  g_clear_pointer (&self->expected_address, g_free);
  g_clear_pointer (&self->peer_address, g_free);
  g_clear_pointer (&self->endpoint, g_free);
  g_clear_pointer (&self->body, g_free);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->base_stream);
  g_clear_object (&self->identity);

  G_OBJECT_CLASS (llm_connection_parent_class)->finalize (object);
}

static void
llm_connection_get_property (GObject    *object,
                             guint       prop_id,
                             GValue     *value,
                             GParamSpec *pspec)
{
  LlmConnection *self = LLM_CONNECTION (object);

  switch (prop_id)
    {
    case PROP_IDENTITY:
      g_value_set_object (value, self->identity);
      break;

    case PROP_BASE_STREAM:
      g_value_set_object (value, self->base_stream);
      break;

    case PROP_INITIATOR:
      g_value_set_boolean (value, self->initiator);
      break;

    case PROP_STATE:
      g_value_set_enum (value, self->state);
      break;

    case PROP_PEER_ADDRESS:
      g_value_set_string (value, self->peer_address);
      break;

    case PROP_ENDPOINT:
      g_value_set_string (value, self->endpoint);
      break;

    case PROP_CIPHER:
      g_value_set_enum (value, self->cipher);
      break;

    case PROP_ROUND_TRIP_TIME:
      g_value_set_int64 (value, self->round_trip_time);
      break;

    case PROP_HANDSHAKE_TIMEOUT:
      g_value_set_uint (value, self->handshake_timeout);
      break;

    case PROP_KEEPALIVE_INTERVAL:
      g_value_set_uint (value, self->keepalive_interval);
      break;

    case PROP_IDLE_TIMEOUT:
      g_value_set_uint (value, self->idle_timeout);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
llm_connection_set_property (GObject      *object,
                             guint         prop_id,
                             const GValue *value,
                             GParamSpec   *pspec)
{
  LlmConnection *self = LLM_CONNECTION (object);

  switch (prop_id)
    {
    case PROP_IDENTITY:
      self->identity = g_value_dup_object (value);
      break;

    case PROP_BASE_STREAM:
      self->base_stream = g_value_dup_object (value);
      break;

    case PROP_INITIATOR:
      self->initiator = g_value_get_boolean (value);
      break;

    case PROP_HANDSHAKE_TIMEOUT:
      llm_connection_set_handshake_timeout (self, g_value_get_uint (value));
      break;

    case PROP_KEEPALIVE_INTERVAL:
      llm_connection_set_keepalive_interval (self, g_value_get_uint (value));
      break;

    case PROP_IDLE_TIMEOUT:
      llm_connection_set_idle_timeout (self, g_value_get_uint (value));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
llm_connection_class_init (LlmConnectionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = llm_connection_constructed;
  object_class->dispose = llm_connection_dispose;
  object_class->finalize = llm_connection_finalize;
  object_class->get_property = llm_connection_get_property;
  object_class->set_property = llm_connection_set_property;

  /**
   * LlmConnection:identity:
   *
   * This node's identity, which the handshake proves.
   */
  properties[PROP_IDENTITY] =
    g_param_spec_object ("identity", NULL, NULL,
                         LLM_TYPE_IDENTITY,
                         (G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
                          G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmConnection:base-stream:
   *
   * The stream the frames travel on; the connection closes it when it
   * closes.
   */
  properties[PROP_BASE_STREAM] =
    g_param_spec_object ("base-stream", NULL, NULL,
                         G_TYPE_IO_STREAM,
                         (G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
                          G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmConnection:initiator:
   *
   * %TRUE on the side that dialled, %FALSE on the side that accepted.
   */
  properties[PROP_INITIATOR] =
    g_param_spec_boolean ("initiator", NULL, NULL,
                          FALSE,
                          (G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
                           G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmConnection:state:
   *
   * Where the connection is in its life.
   */
  properties[PROP_STATE] =
    g_param_spec_enum ("state", NULL, NULL,
                       LLM_TYPE_CONNECTION_STATE,
                       LLM_CONNECTION_STATE_NEW,
                       (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmConnection:peer-address:
   *
   * The `.llm` address the peer proved it owns, or %NULL until it has.
   */
  properties[PROP_PEER_ADDRESS] =
    g_param_spec_string ("peer-address", NULL, NULL,
                         NULL,
                         (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmConnection:endpoint:
   *
   * Where the peer connects from, for people and logs: `127.0.0.1:4001`,
   * `[::1]:4001`, or “a local socket”.
   */
  properties[PROP_ENDPOINT] =
    g_param_spec_string ("endpoint", NULL, NULL,
                         NULL,
                         (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmConnection:cipher:
   *
   * The AEAD of the frames, once the connection is open.
   */
  properties[PROP_CIPHER] =
    g_param_spec_enum ("cipher", NULL, NULL,
                       LLM_TYPE_CIPHER,
                       LLM_CIPHER_XCHACHA20_POLY1305,
                       (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmConnection:round-trip-time:
   *
   * The time from the last answered ping to its pong, in microseconds, or
   * -1 before the first pong. A peer's latency, for #LlmPeer.
   */
  properties[PROP_ROUND_TRIP_TIME] =
    g_param_spec_int64 ("round-trip-time", NULL, NULL,
                        -1, G_MAXINT64, -1,
                        (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmConnection:handshake-timeout:
   *
   * Milliseconds the handshake may take; 0 for no limit. Read when the
   * handshake starts.
   */
  properties[PROP_HANDSHAKE_TIMEOUT] =
    g_param_spec_uint ("handshake-timeout", NULL, NULL,
                       0, G_MAXUINT, LLM_CONNECTION_DEFAULT_HANDSHAKE_TIMEOUT,
                       (G_PARAM_READWRITE | G_PARAM_CONSTRUCT |
                        G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmConnection:keepalive-interval:
   *
   * Milliseconds between two pings; 0 for none. Read when the connection
   * opens.
   */
  properties[PROP_KEEPALIVE_INTERVAL] =
    g_param_spec_uint ("keepalive-interval", NULL, NULL,
                       0, G_MAXUINT, LLM_CONNECTION_DEFAULT_KEEPALIVE_INTERVAL,
                       (G_PARAM_READWRITE | G_PARAM_CONSTRUCT |
                        G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmConnection:idle-timeout:
   *
   * Milliseconds without a byte from the peer after which the connection
   * closes with %G_IO_ERROR_TIMED_OUT; 0 for no limit. Keep it above the
   * peer's keepalive interval. Read when the connection opens.
   */
  properties[PROP_IDLE_TIMEOUT] =
    g_param_spec_uint ("idle-timeout", NULL, NULL,
                       0, G_MAXUINT, LLM_CONNECTION_DEFAULT_IDLE_TIMEOUT,
                       (G_PARAM_READWRITE | G_PARAM_CONSTRUCT |
                        G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * LlmConnection::message:
   * @self: the #LlmConnection
   * @message: the JSON object the peer sent
   * @payload: (nullable): the bytes beside it, %NULL when there are none
   *
   * A message from the peer, in the order it was sent.
   */
  signals[MESSAGE] =
    g_signal_new ("message",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0,
                  NULL, NULL, NULL,
                  G_TYPE_NONE, 2, JSON_TYPE_OBJECT, G_TYPE_BYTES);

  /**
   * LlmConnection::closed:
   * @self: the #LlmConnection
   * @error: why: %G_IO_ERROR_CLOSED when this node closed it,
   *   %G_IO_ERROR_CONNECTION_CLOSED when the peer did, %G_IO_ERROR_TIMED_OUT,
   *   an error of %LLM_PROTOCOL_ERROR when the peer broke the protocol, or
   *   the stream's own error
   *
   * The connection closed. Emitted once, after #LlmConnection:state became
   * %LLM_CONNECTION_STATE_CLOSED.
   */
  signals[CLOSED] =
    g_signal_new ("closed",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0,
                  NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_ERROR);
}

static void
llm_connection_init (LlmConnection *self)
{
  self->cancellable = g_cancellable_new ();
  self->round_trip_time = -1;
  g_queue_init (&self->outgoing);
}

/* }}} */

/**
 * llm_connection_new:
 * @identity: this node's identity
 * @base_stream: a connected stream
 * @initiator: %TRUE if this node dialled, %FALSE if it accepted
 *
 * Returns: (transfer full): a new connection, not yet handshaken
 */
LlmConnection *
llm_connection_new (LlmIdentity *identity,
                    GIOStream   *base_stream,
                    gboolean     initiator)
{
  g_return_val_if_fail (LLM_IS_IDENTITY (identity), NULL);
  g_return_val_if_fail (G_IS_IO_STREAM (base_stream), NULL);

  return g_object_new (LLM_TYPE_CONNECTION,
                       "identity", identity,
                       "base-stream", base_stream,
                       "initiator", initiator,
                       NULL);
}

LlmIdentity *
llm_connection_get_identity (LlmConnection *self)
{
  g_return_val_if_fail (LLM_IS_CONNECTION (self), NULL);

  return self->identity;
}

GIOStream *
llm_connection_get_base_stream (LlmConnection *self)
{
  g_return_val_if_fail (LLM_IS_CONNECTION (self), NULL);

  return self->base_stream;
}

gboolean
llm_connection_get_initiator (LlmConnection *self)
{
  g_return_val_if_fail (LLM_IS_CONNECTION (self), FALSE);

  return self->initiator;
}

LlmConnectionState
llm_connection_get_state (LlmConnection *self)
{
  g_return_val_if_fail (LLM_IS_CONNECTION (self), LLM_CONNECTION_STATE_CLOSED);

  return self->state;
}

/**
 * llm_connection_get_peer_address:
 * @self: a #LlmConnection
 *
 * Returns: (nullable): the address the peer proved it owns
 */
const char *
llm_connection_get_peer_address (LlmConnection *self)
{
  g_return_val_if_fail (LLM_IS_CONNECTION (self), NULL);

  return self->peer_address;
}

/**
 * llm_connection_get_peer_public_key:
 * @self: a #LlmConnection
 *
 * Returns: (nullable) (array fixed-size=32): the peer's Ed25519 key, once
 *   proven
 */
const guint8 *
llm_connection_get_peer_public_key (LlmConnection *self)
{
  g_return_val_if_fail (LLM_IS_CONNECTION (self), NULL);

  return self->peer_address != NULL ? self->peer_public_key : NULL;
}

const char *
llm_connection_get_endpoint (LlmConnection *self)
{
  g_return_val_if_fail (LLM_IS_CONNECTION (self), NULL);

  return self->endpoint;
}

LlmCipher
llm_connection_get_cipher (LlmConnection *self)
{
  g_return_val_if_fail (LLM_IS_CONNECTION (self), LLM_CIPHER_XCHACHA20_POLY1305);

  return self->cipher;
}

gint64
llm_connection_get_round_trip_time (LlmConnection *self)
{
  g_return_val_if_fail (LLM_IS_CONNECTION (self), -1);

  return self->round_trip_time;
}

/**
 * llm_connection_get_close_error:
 * @self: a #LlmConnection
 *
 * Returns: (nullable): why the connection closed, once it has
 */
const GError *
llm_connection_get_close_error (LlmConnection *self)
{
  g_return_val_if_fail (LLM_IS_CONNECTION (self), NULL);

  return self->close_error;
}

guint
llm_connection_get_handshake_timeout (LlmConnection *self)
{
  g_return_val_if_fail (LLM_IS_CONNECTION (self), 0);

  return self->handshake_timeout;
}

void
llm_connection_set_handshake_timeout (LlmConnection *self,
                                      guint          timeout_ms)
{
  g_return_if_fail (LLM_IS_CONNECTION (self));

  if (self->handshake_timeout == timeout_ms)
    return;

  self->handshake_timeout = timeout_ms;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_HANDSHAKE_TIMEOUT]);
}

guint
llm_connection_get_keepalive_interval (LlmConnection *self)
{
  g_return_val_if_fail (LLM_IS_CONNECTION (self), 0);

  return self->keepalive_interval;
}

void
llm_connection_set_keepalive_interval (LlmConnection *self,
                                       guint          interval_ms)
{
  g_return_if_fail (LLM_IS_CONNECTION (self));

  if (self->keepalive_interval == interval_ms)
    return;

  self->keepalive_interval = interval_ms;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_KEEPALIVE_INTERVAL]);
}

guint
llm_connection_get_idle_timeout (LlmConnection *self)
{
  g_return_val_if_fail (LLM_IS_CONNECTION (self), 0);

  return self->idle_timeout;
}

void
llm_connection_set_idle_timeout (LlmConnection *self,
                                 guint          timeout_ms)
{
  g_return_if_fail (LLM_IS_CONNECTION (self));

  if (self->idle_timeout == timeout_ms)
    return;

  self->idle_timeout = timeout_ms;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_IDLE_TIMEOUT]);
}

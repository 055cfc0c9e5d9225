/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-transport-server"

#include "llm-transport-server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

/**
 * LlmTransportServer:
 *
 * This node's end of the transport: it listens on a TCP port, handshakes
 * with whoever connects (llm-connection.h), emits
 * #LlmTransportServer::connection for each peer that proved its identity,
 * and dials peers with llm_transport_server_connect_async(). Every
 * connection it makes, either way, gets its timing properties.
 *
 * A connection that is not authenticated yet costs little (a few hundred
 * bytes, one X25519 and one Ed25519 operation) but anyone can make one, so
 * there are at most #LlmTransportServer:max-handshakes of them, and at most
 * #LlmTransportServer:max-handshakes-per-host from one IP address; each
 * lasts at most #LlmTransportServer:handshake-timeout. A connection over a
 * limit is closed at once, with a g_message() that names its endpoint.
 * Authenticated connections are capped by
 * #LlmTransportServer:max-connections. A peer that breaks the protocol
 * loses its own connection only: every connection has its own buffers and
 * state, and all run asynchronously on the main context.
 *
 * The server keeps a reference on each open connection it made until the
 * connection closes; llm_transport_server_stop() closes them all.
 */
struct _LlmTransportServer
{
  GObject parent_instance;

  LlmIdentity *identity;
  GSocketService *service;
  GCancellable *cancellable;
  GHashTable *handshakes;        /* LlmConnection → host (char *) */
  GHashTable *hosts;             /* host → number of handshakes (GUINT_TO_POINTER) */
  GHashTable *connections;       /* set of open LlmConnection */

  guint max_handshakes;
  guint max_handshakes_per_host;
  guint max_connections;
  guint handshake_timeout;
  guint keepalive_interval;
  guint idle_timeout;
  guint16 port;
};

G_DEFINE_FINAL_TYPE (LlmTransportServer, llm_transport_server, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_IDENTITY,
  PROP_PORT,
  PROP_LISTENING,
  PROP_N_HANDSHAKES,
  PROP_N_CONNECTIONS,
  PROP_MAX_HANDSHAKES,
  PROP_MAX_HANDSHAKES_PER_HOST,
  PROP_MAX_CONNECTIONS,
  PROP_HANDSHAKE_TIMEOUT,
  PROP_KEEPALIVE_INTERVAL,
  PROP_IDLE_TIMEOUT,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

enum {
  CONNECTION,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

#define LISTEN_BACKLOG 128

static void
configure_socket (GSocketConnection *connection)
{
  GSocket *socket = g_socket_connection_get_socket (connection);

  /* Frames are written whole; Nagle's algorithm would only delay the small
   * ones (a token's worth of hidden state, a pong). */
  if (g_socket_get_family (socket) != G_SOCKET_FAMILY_UNIX)
    g_socket_set_option (socket, IPPROTO_TCP, TCP_NODELAY, TRUE, NULL);
  g_socket_set_timeout (socket, 0);
}

static LlmConnection *
new_connection (LlmTransportServer *self,
                GSocketConnection  *socket_connection,
                gboolean            initiator)
{
  return g_object_new (LLM_TYPE_CONNECTION,
                       "identity", self->identity,
                       "base-stream", socket_connection,
                       "initiator", initiator,
                       "handshake-timeout", self->handshake_timeout,
                       "keepalive-interval", self->keepalive_interval,
                       "idle-timeout", self->idle_timeout,
                       NULL);
}

static void
connection_closed_cb (LlmConnection      *connection,
                      const GError       *error,
                      LlmTransportServer *self)
{
  g_signal_handlers_disconnect_by_func (connection, connection_closed_cb, self);
  if (g_hash_table_remove (self->connections, connection))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_CONNECTIONS]);
}

static void
track_connection (LlmTransportServer *self,
                  LlmConnection      *connection)
{
  g_hash_table_add (self->connections, g_object_ref (connection));
  g_signal_connect_object (connection, "closed", G_CALLBACK (connection_closed_cb), self, 0);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_CONNECTIONS]);
}

static void
untrack_handshake (LlmTransportServer *self,
                   LlmConnection      *connection)
{
  const char *host;
  guint count;

  host = g_hash_table_lookup (self->handshakes, connection);
  if (host == NULL)
    return;

  count = GPOINTER_TO_UINT (g_hash_table_lookup (self->hosts, host));
  if (count <= 1)
    g_hash_table_remove (self->hosts, host);
  else
    g_hash_table_insert (self->hosts, g_strdup (host), GUINT_TO_POINTER (count - 1));

  g_hash_table_remove (self->handshakes, connection);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_HANDSHAKES]);
}

static void
accept_handshake_cb (GObject      *object,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  LlmConnection *connection = LLM_CONNECTION (object);
  g_autoptr(LlmTransportServer) self = user_data;
  g_autoptr(GError) error = NULL;

  /* The connection closed itself on failure, and logged why. */
  if (!llm_connection_handshake_finish (connection, result, &error))
    {
      untrack_handshake (self, connection);
      return;
    }

  g_object_ref (connection);
  untrack_handshake (self, connection);

  if (g_hash_table_size (self->connections) >= self->max_connections)
    {
      g_message ("Refused %s (%s): this node has %u connections, its limit",
                 llm_connection_get_peer_address (connection),
                 llm_connection_get_endpoint (connection), self->max_connections);
      llm_connection_close (connection);
      g_object_unref (connection);
      return;
    }

  g_debug ("Accepted %s (%s)", llm_connection_get_peer_address (connection),
           llm_connection_get_endpoint (connection));
  track_connection (self, connection);
  g_signal_emit (self, signals[CONNECTION], 0, connection);
  g_object_unref (connection);
}

static char *
dup_remote_host (GSocketConnection *socket_connection,
                 guint16           *port)
{
  g_autoptr(GSocketAddress) address = NULL;
  GInetSocketAddress *inet;

  address = g_socket_connection_get_remote_address (socket_connection, NULL);
  if (!G_IS_INET_SOCKET_ADDRESS (address))
    return g_strdup ("local");

  inet = G_INET_SOCKET_ADDRESS (address);
  *port = g_inet_socket_address_get_port (inet);
  return g_inet_address_to_string (g_inet_socket_address_get_address (inet));
}

static gboolean
incoming_cb (GSocketService     *service,
             GSocketConnection  *socket_connection,
             GObject            *source_object,
             LlmTransportServer *self)
{
  g_autoptr(LlmConnection) connection = NULL;
  g_autofree char *host = NULL;
  guint16 port = 0;
  guint host_count;
  guint n_handshakes;

  host = dup_remote_host (socket_connection, &port);
  host_count = GPOINTER_TO_UINT (g_hash_table_lookup (self->hosts, host));
  n_handshakes = g_hash_table_size (self->handshakes);

  /* Refused before anything is allocated for it. */
  if (n_handshakes >= self->max_handshakes)
    {
      g_message ("Dropped a connection from %s port %u: %u handshakes are under way, the limit",
                 host, port, n_handshakes);
      g_io_stream_close (G_IO_STREAM (socket_connection), NULL, NULL);
      return TRUE;
    }

  if (host_count >= self->max_handshakes_per_host)
    {
      g_message ("Dropped a connection from %s port %u: %u handshakes from that host are "
                 "under way, the limit", host, port, host_count);
      g_io_stream_close (G_IO_STREAM (socket_connection), NULL, NULL);
      return TRUE;
    }

  if (g_hash_table_size (self->connections) + n_handshakes >= self->max_connections)
    {
      g_message ("Dropped a connection from %s port %u: this node has %u connections, "
                 "its limit", host, port, self->max_connections);
      g_io_stream_close (G_IO_STREAM (socket_connection), NULL, NULL);
      return TRUE;
    }

  configure_socket (socket_connection);
  connection = new_connection (self, socket_connection, FALSE);
  g_hash_table_insert (self->hosts, g_strdup (host), GUINT_TO_POINTER (host_count + 1));
  g_hash_table_insert (self->handshakes, g_object_ref (connection), g_steal_pointer (&host));
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_HANDSHAKES]);

  llm_connection_handshake_async (connection, NULL, self->cancellable,
                                  accept_handshake_cb, g_object_ref (self));

  return TRUE;
}

/**
 * llm_transport_server_listen:
 * @self: a #LlmTransportServer
 * @host: (nullable): an IP address of this machine to listen on
 *   (`127.0.0.1`, `::1`, `0.0.0.0`, `::`), `localhost` for 127.0.0.1, or
 *   %NULL for every address, IPv4 and IPv6
 * @port: a TCP port, or 0 for one the system picks
 * @error: return location for a #GError
 *
 * Starts accepting connections. Host names other than `localhost` are
 * refused: resolving them would block. #LlmTransportServer:port tells the
 * port bound.
 *
 * Returns: %TRUE if the server listens
 */
gboolean
llm_transport_server_listen (LlmTransportServer  *self,
                             const char          *host,
                             guint16              port,
                             GError             **error)
{
  g_autoptr(GSocketService) service = NULL;
  guint16 bound = port;

  g_return_val_if_fail (LLM_IS_TRANSPORT_SERVER (self), FALSE);
  g_return_val_if_fail (self->service == NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  service = g_socket_service_new ();
  g_socket_service_stop (service);
  /* GIO's default of 10 pending connections would make a burst of
   * connections wait for TCP retransmissions, and the genuine peers among
   * them with it: accept them all quickly, and drop the excess. */
  g_socket_listener_set_backlog (G_SOCKET_LISTENER (service), LISTEN_BACKLOG);

  if (host == NULL || *host == '\0')
    {
      if (port == 0)
        bound = g_socket_listener_add_any_inet_port (G_SOCKET_LISTENER (service), NULL, error);
      else if (!g_socket_listener_add_inet_port (G_SOCKET_LISTENER (service), port, NULL, error))
        bound = 0;

      if (bound == 0)
        {
          g_prefix_error (error, "Cannot listen on port %u: ", port);
          return FALSE;
        }
    }
  else
    {
      g_autoptr(GInetAddress) inet = NULL;
      g_autoptr(GSocketAddress) address = NULL;
      g_autoptr(GSocketAddress) effective = NULL;

      inet = g_str_equal (host, "localhost")
             ? g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4)
             : g_inet_address_new_from_string (host);
      if (inet == NULL)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       "Cannot listen on “%s”: give an IP address of this machine, such as "
                       "127.0.0.1, 0.0.0.0 or ::", host);
          return FALSE;
        }

      address = g_inet_socket_address_new (inet, port);
      if (!g_socket_listener_add_address (G_SOCKET_LISTENER (service), address,
                                          G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                                          NULL, &effective, error))
        {
          g_prefix_error (error, "Cannot listen on %s port %u: ", host, port);
          return FALSE;
        }
      bound = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective));
    }

  self->service = g_steal_pointer (&service);
  self->port = bound;
  g_signal_connect_object (self->service, "incoming", G_CALLBACK (incoming_cb), self, 0);
  g_socket_service_start (self->service);

  g_debug ("%s listening on %s port %u", llm_identity_get_address (self->identity),
           host != NULL ? host : "every address", bound);

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PORT]);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LISTENING]);

  return TRUE;
}

static void
close_all (LlmTransportServer *self,
           GHashTable         *table)
{
  g_autoptr(GPtrArray) snapshot = g_ptr_array_new_with_free_func (g_object_unref);
  GHashTableIter iter;
  gpointer connection;

  /* Closing runs callbacks that change the tables. */
  g_hash_table_iter_init (&iter, table);
  while (g_hash_table_iter_next (&iter, &connection, NULL))
    g_ptr_array_add (snapshot, g_object_ref (connection));

  for (guint i = 0; i < snapshot->len; i++)
    llm_connection_close (g_ptr_array_index (snapshot, i));
}

/**
 * llm_transport_server_stop:
 * @self: a #LlmTransportServer
 *
 * Stops listening and closes every connection of the server, handshaking
 * or open. The server may listen again afterwards.
 */
void
llm_transport_server_stop (LlmTransportServer *self)
{
  g_return_if_fail (LLM_IS_TRANSPORT_SERVER (self));

  if (self->service != NULL)
    {
      g_signal_handlers_disconnect_by_func (self->service, incoming_cb, self);
      g_socket_service_stop (self->service);
      g_socket_listener_close (G_SOCKET_LISTENER (self->service));
      g_clear_object (&self->service);
      self->port = 0;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PORT]);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LISTENING]);
    }

  close_all (self, self->handshakes);
  close_all (self, self->connections);
}

/* Dialling {{{ */

typedef struct
{
  GSocketConnectable *connectable;
  LlmConnection *connection;
  char *expected_address;
} ConnectData;

static void
connect_data_free (ConnectData *data)
{
  g_clear_object (&data->connectable);
  g_clear_object (&data->connection);
  g_clear_pointer (&data->expected_address, g_free);
  g_free (data);
}

static void
connect_handshake_cb (GObject      *object,
                      GAsyncResult *result,
                      gpointer      user_data)
{
  LlmConnection *connection = LLM_CONNECTION (object);
  g_autoptr(GTask) task = user_data;
  LlmTransportServer *self = g_task_get_source_object (task);
  GError *error = NULL;

  if (!llm_connection_handshake_finish (connection, result, &error))
    {
      g_task_return_error (task, error);
      return;
    }

  track_connection (self, connection);
  g_task_return_pointer (task, g_object_ref (connection), g_object_unref);
}

static void
connect_cb (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GSocketConnection) socket_connection = NULL;
  LlmTransportServer *self = g_task_get_source_object (task);
  ConnectData *data = g_task_get_task_data (task);
  GError *error = NULL;

  socket_connection = g_socket_client_connect_finish (G_SOCKET_CLIENT (object), result, &error);
  if (socket_connection == NULL)
    {
      g_autofree char *name = g_socket_connectable_to_string (data->connectable);

      g_prefix_error (&error, "Cannot connect to %s: ", name);
      g_task_return_error (task, error);
      return;
    }

  configure_socket (socket_connection);
  data->connection = new_connection (self, socket_connection, TRUE);
  llm_connection_handshake_async (data->connection, data->expected_address,
                                  g_task_get_cancellable (task),
                                  connect_handshake_cb, g_object_ref (task));
}

/**
 * llm_transport_server_connect_async:
 * @self: a #LlmTransportServer
 * @connectable: where the peer listens: a #GNetworkAddress (say from
 *   g_network_address_parse() of `HOST:PORT`), a #GInetSocketAddress…
 * @expected_address: (nullable): the `.llm` address of the peer, when
 *   known (from mDNS or the DHT): a peer that proves another identity is
 *   refused with %LLM_PROTOCOL_ERROR_WRONG_PEER. %NULL for a peer known by
 *   its endpoint only, which may then be anyone who proves any identity.
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the connection is open, or failed
 * @user_data: data for @callback
 *
 * Dials a peer and handshakes as the initiator, with the server's timing
 * properties. The connect step takes at most the handshake timeout too
 * (rounded up to seconds). The server keeps the open connection until it
 * closes, like those it accepts, but #LlmTransportServer::connection is
 * only for those.
 */
void
llm_transport_server_connect_async (LlmTransportServer  *self,
                                    GSocketConnectable  *connectable,
                                    const char          *expected_address,
                                    GCancellable        *cancellable,
                                    GAsyncReadyCallback  callback,
                                    gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GSocketClient) client = NULL;
  ConnectData *data;

  g_return_if_fail (LLM_IS_TRANSPORT_SERVER (self));
  g_return_if_fail (G_IS_SOCKET_CONNECTABLE (connectable));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));

  data = g_new0 (ConnectData, 1);
  data->connectable = g_object_ref (connectable);
  data->expected_address = g_strdup (expected_address);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, llm_transport_server_connect_async);
  g_task_set_task_data (task, data, (GDestroyNotify) connect_data_free);

  client = g_socket_client_new ();
  /* Peers are reached directly: a desktop's HTTP proxy is for the web, and
   * looking it up needs GSettings schemas a headless server may not have. */
  g_socket_client_set_enable_proxy (client, FALSE);
  /* The socket's own timeout would apply to every later read too: it is
   * reset to none once connected (configure_socket()). */
  if (self->handshake_timeout > 0)
    g_socket_client_set_timeout (client, (self->handshake_timeout + 999) / 1000);
  g_socket_client_connect_async (client, connectable, cancellable, connect_cb,
                                 g_steal_pointer (&task));
}

/**
 * llm_transport_server_connect_finish:
 * @self: a #LlmTransportServer
 * @result: the #GAsyncResult given to the callback
 * @error: return location for a #GError
 *
 * Returns: (transfer full): the open connection, or %NULL
 */
LlmConnection *
llm_transport_server_connect_finish (LlmTransportServer  *self,
                                     GAsyncResult        *result,
                                     GError             **error)
{
  g_return_val_if_fail (LLM_IS_TRANSPORT_SERVER (self), NULL);
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) ==
                        llm_transport_server_connect_async, NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* }}} */

/* GObject {{{ */

static void
llm_transport_server_dispose (GObject *object)
{
  LlmTransportServer *self = LLM_TRANSPORT_SERVER (object);

  g_cancellable_cancel (self->cancellable);
  llm_transport_server_stop (self);

  G_OBJECT_CLASS (llm_transport_server_parent_class)->dispose (object);
}

static void
llm_transport_server_finalize (GObject *object)
{
  LlmTransportServer *self = LLM_TRANSPORT_SERVER (object);

  g_clear_pointer (&self->handshakes, g_hash_table_unref);
  g_clear_pointer (&self->hosts, g_hash_table_unref);
  g_clear_pointer (&self->connections, g_hash_table_unref);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->identity);

  G_OBJECT_CLASS (llm_transport_server_parent_class)->finalize (object);
}

static void
llm_transport_server_get_property (GObject    *object,
                                   guint       prop_id,
                                   GValue     *value,
                                   GParamSpec *pspec)
{
  LlmTransportServer *self = LLM_TRANSPORT_SERVER (object);

  switch (prop_id)
    {
    case PROP_IDENTITY:
      g_value_set_object (value, self->identity);
      break;

    case PROP_PORT:
      g_value_set_uint (value, self->port);
      break;

    case PROP_LISTENING:
      g_value_set_boolean (value, self->service != NULL);
      break;

    case PROP_N_HANDSHAKES:
      g_value_set_uint (value, g_hash_table_size (self->handshakes));
      break;

    case PROP_N_CONNECTIONS:
      g_value_set_uint (value, g_hash_table_size (self->connections));
      break;

    case PROP_MAX_HANDSHAKES:
      g_value_set_uint (value, self->max_handshakes);
      break;

    case PROP_MAX_HANDSHAKES_PER_HOST:
      g_value_set_uint (value, self->max_handshakes_per_host);
      break;

    case PROP_MAX_CONNECTIONS:
      g_value_set_uint (value, self->max_connections);
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
llm_transport_server_set_property (GObject      *object,
                                   guint         prop_id,
                                   const GValue *value,
                                   GParamSpec   *pspec)
{
  LlmTransportServer *self = LLM_TRANSPORT_SERVER (object);

  switch (prop_id)
    {
    case PROP_IDENTITY:
      self->identity = g_value_dup_object (value);
      break;

    case PROP_MAX_HANDSHAKES:
      llm_transport_server_set_max_handshakes (self, g_value_get_uint (value));
      break;

    case PROP_MAX_HANDSHAKES_PER_HOST:
      llm_transport_server_set_max_handshakes_per_host (self, g_value_get_uint (value));
      break;

    case PROP_MAX_CONNECTIONS:
      llm_transport_server_set_max_connections (self, g_value_get_uint (value));
      break;

    case PROP_HANDSHAKE_TIMEOUT:
      llm_transport_server_set_handshake_timeout (self, g_value_get_uint (value));
      break;

    case PROP_KEEPALIVE_INTERVAL:
      llm_transport_server_set_keepalive_interval (self, g_value_get_uint (value));
      break;

    case PROP_IDLE_TIMEOUT:
      llm_transport_server_set_idle_timeout (self, g_value_get_uint (value));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static GParamSpec *
uint_property (const char *name,
               guint       minimum,
               guint       default_value)
{
  return g_param_spec_uint (name, NULL, NULL,
                            minimum, G_MAXUINT, default_value,
                            (G_PARAM_READWRITE | G_PARAM_CONSTRUCT |
                             G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));
}

static void
llm_transport_server_class_init (LlmTransportServerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = llm_transport_server_dispose;
  object_class->finalize = llm_transport_server_finalize;
  object_class->get_property = llm_transport_server_get_property;
  object_class->set_property = llm_transport_server_set_property;

  /**
   * LlmTransportServer:identity:
   *
   * This node's identity, proven in every handshake.
   */
  properties[PROP_IDENTITY] =
    g_param_spec_object ("identity", NULL, NULL,
                         LLM_TYPE_IDENTITY,
                         (G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
                          G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmTransportServer:port:
   *
   * The TCP port the server listens on, or 0 when it does not. With port 0
   * given to llm_transport_server_listen(), the one the system picked: the
   * one to publish in discovery records.
   */
  properties[PROP_PORT] =
    g_param_spec_uint ("port", NULL, NULL,
                       0, G_MAXUINT16, 0,
                       (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmTransportServer:listening:
   *
   * Whether the server accepts connections.
   */
  properties[PROP_LISTENING] =
    g_param_spec_boolean ("listening", NULL, NULL,
                          FALSE,
                          (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmTransportServer:n-handshakes:
   *
   * Accepted connections whose handshake is under way.
   */
  properties[PROP_N_HANDSHAKES] =
    g_param_spec_uint ("n-handshakes", NULL, NULL,
                       0, G_MAXUINT, 0,
                       (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmTransportServer:n-connections:
   *
   * Open connections, accepted and dialled.
   */
  properties[PROP_N_CONNECTIONS] =
    g_param_spec_uint ("n-connections", NULL, NULL,
                       0, G_MAXUINT, 0,
                       (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmTransportServer:max-handshakes:
   *
   * The most handshakes under way at once; a connection over it is dropped.
   */
  properties[PROP_MAX_HANDSHAKES] =
    uint_property ("max-handshakes", 1, LLM_TRANSPORT_SERVER_DEFAULT_MAX_HANDSHAKES);

  /**
   * LlmTransportServer:max-handshakes-per-host:
   *
   * The most handshakes under way at once from one IP address, so that one
   * host cannot take every handshake slot.
   */
  properties[PROP_MAX_HANDSHAKES_PER_HOST] =
    uint_property ("max-handshakes-per-host", 1,
                   LLM_TRANSPORT_SERVER_DEFAULT_MAX_HANDSHAKES_PER_HOST);

  /**
   * LlmTransportServer:max-connections:
   *
   * The most connections, open and handshaking, this server accepts.
   */
  properties[PROP_MAX_CONNECTIONS] =
    uint_property ("max-connections", 1, LLM_TRANSPORT_SERVER_DEFAULT_MAX_CONNECTIONS);

  /**
   * LlmTransportServer:handshake-timeout:
   *
   * #LlmConnection:handshake-timeout of the server's connections, in ms.
   */
  properties[PROP_HANDSHAKE_TIMEOUT] =
    uint_property ("handshake-timeout", 0, LLM_CONNECTION_DEFAULT_HANDSHAKE_TIMEOUT);

  /**
   * LlmTransportServer:keepalive-interval:
   *
   * #LlmConnection:keepalive-interval of the server's connections, in ms.
   */
  properties[PROP_KEEPALIVE_INTERVAL] =
    uint_property ("keepalive-interval", 0, LLM_CONNECTION_DEFAULT_KEEPALIVE_INTERVAL);

  /**
   * LlmTransportServer:idle-timeout:
   *
   * #LlmConnection:idle-timeout of the server's connections, in ms.
   */
  properties[PROP_IDLE_TIMEOUT] =
    uint_property ("idle-timeout", 0, LLM_CONNECTION_DEFAULT_IDLE_TIMEOUT);

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * LlmTransportServer::connection:
   * @self: the #LlmTransportServer
   * @connection: an open #LlmConnection; its #LlmConnection:peer-address
   *   is proven
   *
   * A peer connected and proved its identity. Take a reference to keep
   * using the connection after it closes; connect to #LlmConnection::message
   * here, so that no message is missed.
   */
  signals[CONNECTION] =
    g_signal_new ("connection",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0,
                  NULL, NULL, NULL,
                  G_TYPE_NONE, 1, LLM_TYPE_CONNECTION);
}

static void
llm_transport_server_init (LlmTransportServer *self)
{
  self->cancellable = g_cancellable_new ();
  self->handshakes = g_hash_table_new_full (NULL, NULL, g_object_unref, g_free);
  self->hosts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->connections = g_hash_table_new_full (NULL, NULL, g_object_unref, NULL);
}

/* }}} */

/**
 * llm_transport_server_new:
 * @identity: this node's identity
 *
 * Returns: (transfer full): a server, not listening yet
 */
LlmTransportServer *
llm_transport_server_new (LlmIdentity *identity)
{
  g_return_val_if_fail (LLM_IS_IDENTITY (identity), NULL);

  return g_object_new (LLM_TYPE_TRANSPORT_SERVER,
                       "identity", identity,
                       NULL);
}

LlmIdentity *
llm_transport_server_get_identity (LlmTransportServer *self)
{
  g_return_val_if_fail (LLM_IS_TRANSPORT_SERVER (self), NULL);

  return self->identity;
}

guint16
llm_transport_server_get_port (LlmTransportServer *self)
{
  g_return_val_if_fail (LLM_IS_TRANSPORT_SERVER (self), 0);

  return self->port;
}

gboolean
llm_transport_server_get_listening (LlmTransportServer *self)
{
  g_return_val_if_fail (LLM_IS_TRANSPORT_SERVER (self), FALSE);

  return self->service != NULL;
}

guint
llm_transport_server_get_n_handshakes (LlmTransportServer *self)
{
  g_return_val_if_fail (LLM_IS_TRANSPORT_SERVER (self), 0);

  return g_hash_table_size (self->handshakes);
}

guint
llm_transport_server_get_n_connections (LlmTransportServer *self)
{
  g_return_val_if_fail (LLM_IS_TRANSPORT_SERVER (self), 0);

  return g_hash_table_size (self->connections);
}

/**
 * llm_transport_server_dup_connections:
 * @self: a #LlmTransportServer
 *
 * Returns: (transfer full) (element-type LlmConnection): the open
 *   connections, accepted and dialled
 */
GPtrArray *
llm_transport_server_dup_connections (LlmTransportServer *self)
{
  GPtrArray *connections;
  GHashTableIter iter;
  gpointer connection;

  g_return_val_if_fail (LLM_IS_TRANSPORT_SERVER (self), NULL);

  connections = g_ptr_array_new_with_free_func (g_object_unref);
  g_hash_table_iter_init (&iter, self->connections);
  while (g_hash_table_iter_next (&iter, &connection, NULL))
    g_ptr_array_add (connections, g_object_ref (connection));

  return connections;
}

static void
set_uint (LlmTransportServer *self,
          guint              *field,
          guint               value,
          guint               prop_id)
{
  if (*field == value)
    return;

  *field = value;
  g_object_notify_by_pspec (G_OBJECT (self), properties[prop_id]);
}

guint
llm_transport_server_get_max_handshakes (LlmTransportServer *self)
{
  g_return_val_if_fail (LLM_IS_TRANSPORT_SERVER (self), 0);

  return self->max_handshakes;
}

void
llm_transport_server_set_max_handshakes (LlmTransportServer *self,
                                         guint               max)
{
  g_return_if_fail (LLM_IS_TRANSPORT_SERVER (self));
  g_return_if_fail (max > 0);

  set_uint (self, &self->max_handshakes, max, PROP_MAX_HANDSHAKES);
}

guint
llm_transport_server_get_max_handshakes_per_host (LlmTransportServer *self)
{
  g_return_val_if_fail (LLM_IS_TRANSPORT_SERVER (self), 0);

  return self->max_handshakes_per_host;
}

void
llm_transport_server_set_max_handshakes_per_host (LlmTransportServer *self,
                                                  guint               max)
{
  g_return_if_fail (LLM_IS_TRANSPORT_SERVER (self));
  g_return_if_fail (max > 0);

  set_uint (self, &self->max_handshakes_per_host, max, PROP_MAX_HANDSHAKES_PER_HOST);
}

guint
llm_transport_server_get_max_connections (LlmTransportServer *self)
{
  g_return_val_if_fail (LLM_IS_TRANSPORT_SERVER (self), 0);

  return self->max_connections;
}

void
llm_transport_server_set_max_connections (LlmTransportServer *self,
                                          guint               max)
{
  g_return_if_fail (LLM_IS_TRANSPORT_SERVER (self));
  g_return_if_fail (max > 0);

  set_uint (self, &self->max_connections, max, PROP_MAX_CONNECTIONS);
}

guint
llm_transport_server_get_handshake_timeout (LlmTransportServer *self)
{
  g_return_val_if_fail (LLM_IS_TRANSPORT_SERVER (self), 0);

  return self->handshake_timeout;
}

void
llm_transport_server_set_handshake_timeout (LlmTransportServer *self,
                                            guint               timeout_ms)
{
  g_return_if_fail (LLM_IS_TRANSPORT_SERVER (self));

  set_uint (self, &self->handshake_timeout, timeout_ms, PROP_HANDSHAKE_TIMEOUT);
}

guint
llm_transport_server_get_keepalive_interval (LlmTransportServer *self)
{
  g_return_val_if_fail (LLM_IS_TRANSPORT_SERVER (self), 0);

  return self->keepalive_interval;
}

void
llm_transport_server_set_keepalive_interval (LlmTransportServer *self,
                                             guint               interval_ms)
{
  g_return_if_fail (LLM_IS_TRANSPORT_SERVER (self));

  set_uint (self, &self->keepalive_interval, interval_ms, PROP_KEEPALIVE_INTERVAL);
}

guint
llm_transport_server_get_idle_timeout (LlmTransportServer *self)
{
  g_return_val_if_fail (LLM_IS_TRANSPORT_SERVER (self), 0);

  return self->idle_timeout;
}

void
llm_transport_server_set_idle_timeout (LlmTransportServer *self,
                                       guint               timeout_ms)
{
  g_return_if_fail (LLM_IS_TRANSPORT_SERVER (self));

  set_uint (self, &self->idle_timeout, timeout_ms, PROP_IDLE_TIMEOUT);
}

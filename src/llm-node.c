/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-node"

#include "llm-node.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>

#include "llm-dht-discovery.h"
#include "llm-mdns-discovery.h"

/**
 * LlmNode:
 *
 * This machine's node: everything `llm-node host` and the window run.
 *
 * Every way of finding a peer ends in the peer table (#LlmNode:peers):
 *
 * - OpenDHT: records are signed by their node, so a record's peer enters
 *   the table at once (state %LLM_PEER_STATE_DISCOVERED) and is dialled;
 * - Avahi: what the LAN says is not authenticated, so a service is only
 *   dialled, expecting the address it claims; the peer enters the table
 *   when the handshake has proved it;
 * - `--peer HOST:PORT`: dialled, and dialled again while the node runs;
 * - and whoever connects to this node.
 *
 * A peer's shards and last-seen come from what it says on its connection
 * (`announce` every #LlmNode:announce-interval seconds); DHT records
 * only fill in peers not connected. A peer silent for #LlmNode:peer-timeout
 * seconds is dropped; one that says `goodbye` is dropped at once, and
 * older records of it that the DHT hands back later are ignored.
 *
 * Two nodes that dial each other at once keep one connection: the one
 * dialled by the smaller address (both sides decide alike).
 */

/* How often the node forgets silent peers and dials again those it lost. */
#define MAINTENANCE_INTERVAL_S  2
/* The least time between two dials of one discovered peer. */
#define REDIAL_INTERVAL_US      (10 * G_USEC_PER_SEC)
/* Back-off of a `--peer` that does not answer. */
#define STATIC_RETRY_MIN_S      2
#define STATIC_RETRY_MAX_S      30
/* How long leaving waits for the goodbyes to be sent. */
#define GOODBYE_TIMEOUT_MS      1000

typedef struct
{
  LlmNode *node;                /* unowned: the node frees its static peers */
  char *endpoint;
  char *address;                /* learnt from the first handshake */
  guint retry_source;
  guint backoff_s;
  gboolean dialling;
} StaticPeer;

struct _LlmNode
{
  GObject parent_instance;

  LlmIdentity *identity;
  LlmTransportServer *server;
  LlmPeerList *peers;
  GListStore *shards;
  GListStore *coverages;

  LlmDhtDiscovery *dht;
  LlmMdnsDiscovery *mdns;

  /* Settings, read by llm_node_start(). */
  char *listen_host;
  guint listen_port;
  gboolean mdns_enabled;
  gboolean dht_enabled;
  char *dht_bootstrap;
  guint announce_interval;
  guint peer_timeout;

  GStrv endpoints;
  gboolean running;
  GCancellable *cancellable;
  guint maintenance_source;
  guint announce_source;

  GHashTable *connections;      /* address → LlmConnection: the one kept per peer */
  GHashTable *dialling;         /* addresses being dialled */
  GHashTable *last_dials;       /* address → monotonic time of the last dial (gint64 *) */
  GHashTable *record_times;     /* address → newest DHT record timestamp heard (gint64 *) */
  GHashTable *departures;       /* address → wall time of its goodbye, seconds (gint64 *) */
  GPtrArray *static_peers;      /* of StaticPeer */
};

enum
{
  PROP_0,
  PROP_IDENTITY,
  PROP_ADDRESS,
  PROP_PEERS,
  PROP_SHARDS,
  PROP_COVERAGES,
  PROP_LISTEN_HOST,
  PROP_LISTEN_PORT,
  PROP_MDNS_ENABLED,
  PROP_DHT_ENABLED,
  PROP_DHT_BOOTSTRAP,
  PROP_ANNOUNCE_INTERVAL,
  PROP_PEER_TIMEOUT,
  PROP_ENDPOINTS,
  PROP_RUNNING,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (LlmNode, llm_node, G_TYPE_OBJECT)

static void dial (LlmNode             *self,
                  const char          *expected_address,
                  const char * const  *endpoints,
                  LlmPeerSource        source,
                  StaticPeer          *static_peer);
static void static_peer_schedule_retry (StaticPeer *static_peer);

static gint64 *
gint64_new (gint64 value)
{
  return g_memdup2 (&value, sizeof value);
}

static gint64
lookup_time (GHashTable *table,
             const char *address)
{
  gint64 *time = g_hash_table_lookup (table, address);

  return time != NULL ? *time : G_MININT64;
}

/* Announcements */

/**
 * llm_node_dup_announcement:
 * @self: a #LlmNode
 *
 * What this node says about itself: its address, endpoints and the ranges
 * of its ready shards (the format of #LlmPeer).
 *
 * Returns: (transfer full): the announcement
 */
JsonObject *
llm_node_dup_announcement (LlmNode *self)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  guint n_shards = g_list_model_get_n_items (G_LIST_MODEL (self->shards));

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "address");
  json_builder_add_string_value (builder, llm_identity_get_address (self->identity));
  json_builder_set_member_name (builder, "endpoints");
  json_builder_begin_array (builder);
  for (guint i = 0; self->endpoints != NULL && self->endpoints[i] != NULL; i++)
    json_builder_add_string_value (builder, self->endpoints[i]);
  json_builder_end_array (builder);
  json_builder_set_member_name (builder, "shards");
  json_builder_begin_array (builder);
  for (guint i = 0; i < n_shards; i++)
    {
      g_autoptr(LlmShard) shard = g_list_model_get_item (G_LIST_MODEL (self->shards), i);

      if (llm_shard_get_state (shard) != LLM_SHARD_STATE_READY)
        continue;
      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "model");
      json_builder_add_string_value (builder, llm_shard_get_model_id (shard));
      json_builder_set_member_name (builder, "first");
      json_builder_add_int_value (builder, llm_shard_get_first_layer (shard));
      json_builder_set_member_name (builder, "last");
      json_builder_add_int_value (builder, llm_shard_get_last_layer (shard));
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);
  json_builder_end_object (builder);

  return json_node_dup_object (json_builder_get_root (builder));
}

static void
send_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  /* A failed send closes the connection, which says why in the log. */
  if (!llm_connection_send_finish (LLM_CONNECTION (source), result, &error))
    g_debug ("A message to %s was not sent: %s",
             llm_connection_get_peer_address (LLM_CONNECTION (source)), error->message);
}

/* The announcement as a message on a connection. */
static JsonObject *
announce_message_new (JsonObject *announcement)
{
  JsonObject *message = json_object_new ();
  GList *members = json_object_get_members (announcement);

  json_object_set_string_member (message, "type", "announce");
  for (GList *l = members; l != NULL; l = l->next)
    json_object_set_member (message, l->data,
                            json_node_copy (json_object_get_member (announcement, l->data)));
  g_list_free (members);

  return message;
}

static void
announce_to_connections (LlmNode    *self,
                         JsonObject *announcement)
{
  g_autoptr(JsonObject) message = announce_message_new (announcement);
  GHashTableIter iter;
  gpointer connection;

  g_hash_table_iter_init (&iter, self->connections);
  while (g_hash_table_iter_next (&iter, NULL, &connection))
    llm_connection_send_async (connection, message, NULL, NULL, send_cb, NULL);
}

/* Tells everyone what this node hosts now: connected peers, the LAN and
 * the DHT. */
static void
announce_everywhere (LlmNode *self)
{
  g_autoptr(JsonObject) announcement = NULL;
  guint n_shards;

  if (!self->running)
    return;

  announcement = llm_node_dup_announcement (self);
  announce_to_connections (self, announcement);

  if (self->mdns != NULL)
    llm_mdns_discovery_publish (self->mdns, llm_transport_server_get_port (self->server),
                                announcement);

  n_shards = g_list_model_get_n_items (G_LIST_MODEL (self->shards));
  for (guint i = 0; self->dht != NULL && i < n_shards; i++)
    {
      g_autoptr(LlmShard) shard = g_list_model_get_item (G_LIST_MODEL (self->shards), i);

      if (llm_shard_get_state (shard) == LLM_SHARD_STATE_READY)
        llm_dht_discovery_announce (self->dht, llm_shard_get_model_id (shard), announcement);
    }
}

static gboolean
announce_cb (gpointer user_data)
{
  LlmNode *self = user_data;
  g_autoptr(JsonObject) announcement = llm_node_dup_announcement (self);

  /* Only the connections: the DHT refreshes on its own schedule, and the
   * LAN keeps what was published. */
  announce_to_connections (self, announcement);

  return G_SOURCE_CONTINUE;
}

/* Connections */

/* Which of two open connections to one peer both sides keep: the one
 * dialled by the smaller address; between two dialled by the same side
 * (a reconnection), the newer. */
static LlmConnection *
choose_connection (LlmNode       *self,
                   LlmConnection *older,
                   LlmConnection *newer)
{
  const char *own = llm_identity_get_address (self->identity);
  const char *peer = llm_connection_get_peer_address (newer);
  gboolean own_dials = strcmp (own, peer) < 0;
  gboolean older_preferred = llm_connection_get_initiator (older) == own_dials;
  gboolean newer_preferred = llm_connection_get_initiator (newer) == own_dials;

  return older_preferred && !newer_preferred ? older : newer;
}

static void
on_message (LlmConnection *connection,
            JsonObject    *message,
            GBytes        *payload,
            gpointer       user_data)
{
  LlmNode *self = user_data;
  const char *address = llm_connection_get_peer_address (connection);
  const char *type = json_object_get_string_member_with_default (message, "type", "");
  g_autoptr(LlmConnection) alive = g_object_ref (connection);
  g_autoptr(GError) error = NULL;
  LlmPeer *peer;

  if (g_hash_table_lookup (self->connections, address) != connection)
    return;

  if (g_str_equal (type, "announce"))
    {
      gboolean added;

      peer = llm_peer_list_ensure (self->peers, address, &added);
      if (!llm_peer_update_from_json (peer, message, &error))
        {
          /* The peer stays as it was, and so does its connection: one bad
           * announcement costs only itself. */
          g_message ("Dropped an announcement from %s: %s", address, error->message);
          return;
        }
      llm_peer_set_last_seen (peer, g_get_monotonic_time ());
      llm_peer_set_state (peer, LLM_PEER_STATE_CONNECTED);
      if (llm_connection_get_round_trip_time (connection) > 0)
        llm_peer_set_latency (peer, llm_connection_get_round_trip_time (connection) / 1000.0);
    }
  else if (g_str_equal (type, "goodbye"))
    {
      g_debug ("%s said goodbye", address);
      g_hash_table_insert (self->departures, g_strdup (address),
                           gint64_new (g_get_real_time () / G_USEC_PER_SEC));
      llm_peer_list_remove (self->peers, address);
      g_hash_table_remove (self->connections, address);
      llm_connection_close (connection);
    }
  else
    {
      /* Later versions may say more. */
      g_debug ("Ignored a “%s” message from %s", type, address);
    }
}

static void
on_closed (LlmConnection *connection,
           const GError  *reason,
           gpointer       user_data)
{
  LlmNode *self = user_data;
  const char *address = llm_connection_get_peer_address (connection);
  LlmPeer *peer;

  g_signal_handlers_disconnect_by_data (connection, self);

  if (address == NULL || g_hash_table_lookup (self->connections, address) != connection)
    return;

  g_hash_table_remove (self->connections, address);
  /* Not gone yet: it may come back before its timeout, or be dialled. */
  peer = llm_peer_list_lookup (self->peers, address);
  if (peer != NULL)
    llm_peer_set_state (peer, LLM_PEER_STATE_DISCOVERED);
}

static void
adopt_connection (LlmNode       *self,
                  LlmConnection *connection,
                  LlmPeerSource  source)
{
  const char *address = llm_connection_get_peer_address (connection);
  LlmConnection *current = g_hash_table_lookup (self->connections, address);
  g_autoptr(JsonObject) announcement = NULL;
  g_autoptr(JsonObject) message = NULL;
  LlmPeer *peer;

  if (g_str_equal (address, llm_identity_get_address (self->identity)))
    {
      g_message ("Closing a connection to this node itself (%s)",
                 llm_connection_get_endpoint (connection));
      llm_connection_close (connection);
      return;
    }

  if (current != NULL && choose_connection (self, current, connection) == current)
    {
      llm_connection_close (connection);
      peer = llm_peer_list_lookup (self->peers, address);
      if (peer != NULL)
        llm_peer_add_source (peer, source);
      return;
    }

  if (current != NULL)
    {
      g_hash_table_remove (self->connections, address);
      g_signal_handlers_disconnect_by_data (current, self);
      llm_connection_close (current);
    }

  g_hash_table_insert (self->connections, g_strdup (address), g_object_ref (connection));
  g_signal_connect_object (connection, "message", G_CALLBACK (on_message), self, 0);
  g_signal_connect_object (connection, "closed", G_CALLBACK (on_closed), self, 0);
  /* It is back: no longer departed. */
  g_hash_table_remove (self->departures, address);

  peer = llm_peer_list_ensure (self->peers, address, NULL);
  g_object_freeze_notify (G_OBJECT (peer));
  llm_peer_add_source (peer, source);
  llm_peer_set_state (peer, LLM_PEER_STATE_CONNECTED);
  llm_peer_set_last_seen (peer, g_get_monotonic_time ());
  g_object_thaw_notify (G_OBJECT (peer));

  announcement = llm_node_dup_announcement (self);
  message = announce_message_new (announcement);
  llm_connection_send_async (connection, message, NULL, NULL, send_cb, NULL);
}

static void
on_incoming_connection (LlmTransportServer *server,
                        LlmConnection      *connection,
                        gpointer            user_data)
{
  adopt_connection (LLM_NODE (user_data), connection, LLM_PEER_SOURCE_NONE);
}

/* Dialling */

typedef struct
{
  LlmNode *node;
  char *expected_address;
  GStrv endpoints;
  guint next;
  LlmPeerSource source;
  StaticPeer *static_peer;
} Dial;

static void
dial_free (Dial *dial)
{
  g_object_unref (dial->node);
  g_free (dial->expected_address);
  g_strfreev (dial->endpoints);
  g_free (dial);
}

static void dial_next (Dial *dial);

static void
dial_done (Dial          *dial,
           LlmConnection *connection)
{
  LlmNode *self = dial->node;
  StaticPeer *static_peer = dial->static_peer;

  if (dial->expected_address != NULL)
    {
      LlmPeer *peer = llm_peer_list_lookup (self->peers, dial->expected_address);

      g_hash_table_remove (self->dialling, dial->expected_address);
      if (connection == NULL && peer != NULL && llm_peer_get_state (peer) == LLM_PEER_STATE_CONNECTING)
        llm_peer_set_state (peer, LLM_PEER_STATE_DISCOVERED);
    }

  if (static_peer != NULL)
    {
      static_peer->dialling = FALSE;
      if (connection != NULL)
        {
          g_free (static_peer->address);
          static_peer->address = g_strdup (llm_connection_get_peer_address (connection));
          static_peer->backoff_s = 0;
        }
    }

  if (connection != NULL && self->running)
    adopt_connection (self, connection, dial->source);
  else if (connection != NULL)
    llm_connection_close (connection);

  if (static_peer != NULL && self->running)
    static_peer_schedule_retry (static_peer);

  dial_free (dial);
}

static void
dial_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  Dial *dial = user_data;
  g_autoptr(LlmConnection) connection = NULL;
  g_autoptr(GError) error = NULL;

  connection = llm_transport_server_connect_finish (LLM_TRANSPORT_SERVER (source), result, &error);
  if (connection != NULL)
    {
      dial_done (dial, connection);
      return;
    }

  if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_message ("Could not reach %s at %s: %s",
               dial->expected_address ? dial->expected_address : "a peer",
               dial->endpoints[dial->next - 1], error->message);
  dial_next (dial);
}

static void
dial_next (Dial *dial)
{
  LlmNode *self = dial->node;

  while (self->running && dial->endpoints[dial->next] != NULL)
    {
      const char *endpoint = dial->endpoints[dial->next++];
      g_autoptr(GSocketConnectable) connectable = NULL;
      g_autoptr(GError) error = NULL;

      connectable = g_network_address_parse (endpoint, 0, &error);
      if (connectable == NULL)
        {
          g_message ("Cannot dial “%s”: %s", endpoint, error->message);
          continue;
        }
      llm_transport_server_connect_async (self->server, connectable, dial->expected_address,
                                          self->cancellable, dial_cb, dial);
      return;
    }

  dial_done (dial, NULL);
}

static void
dial (LlmNode            *self,
      const char         *expected_address,
      const char * const *endpoints,
      LlmPeerSource       source,
      StaticPeer         *static_peer)
{
  LlmPeer *peer;
  Dial *dial;

  if (expected_address != NULL)
    {
      if (g_hash_table_contains (self->dialling, expected_address))
        return;
      g_hash_table_add (self->dialling, g_strdup (expected_address));
      g_hash_table_insert (self->last_dials, g_strdup (expected_address),
                           gint64_new (g_get_monotonic_time ()));
    }

  if (expected_address != NULL && (peer = llm_peer_list_lookup (self->peers, expected_address)))
    llm_peer_set_state (peer, LLM_PEER_STATE_CONNECTING);

  dial = g_new0 (Dial, 1);
  dial->node = g_object_ref (self);
  dial->expected_address = g_strdup (expected_address);
  dial->endpoints = g_strdupv ((char **) endpoints);
  dial->source = source;
  dial->static_peer = static_peer;
  if (static_peer != NULL)
    static_peer->dialling = TRUE;

  dial_next (dial);
}

static gboolean
is_connected (LlmNode    *self,
              const char *address)
{
  return g_hash_table_contains (self->connections, address);
}

/* Peers given by hand */

static void
static_peer_free (StaticPeer *static_peer)
{
  g_clear_handle_id (&static_peer->retry_source, g_source_remove);
  g_free (static_peer->endpoint);
  g_free (static_peer->address);
  g_free (static_peer);
}

static gboolean
static_peer_retry_cb (gpointer user_data)
{
  StaticPeer *static_peer = user_data;
  LlmNode *self = static_peer->node;

  static_peer->retry_source = 0;
  /* Connected already (maybe it dialled this node): nothing to do until
   * that connection ends. */
  if (static_peer->address != NULL && is_connected (self, static_peer->address))
    static_peer_schedule_retry (static_peer);
  else
    dial (self, NULL, (const char *[]) { static_peer->endpoint, NULL }, LLM_PEER_SOURCE_MANUAL,
          static_peer);

  return G_SOURCE_REMOVE;
}

static void
static_peer_schedule_retry (StaticPeer *static_peer)
{
  if (static_peer->retry_source != 0 || static_peer->dialling)
    return;

  static_peer->backoff_s = CLAMP (static_peer->backoff_s * 2, STATIC_RETRY_MIN_S,
                                  STATIC_RETRY_MAX_S);
  static_peer->retry_source = g_timeout_add_seconds (static_peer->backoff_s,
                                                     static_peer_retry_cb, static_peer);
}

/**
 * llm_node_add_peer_endpoint:
 * @self: a #LlmNode
 * @endpoint: `HOST:PORT` of a peer (`--peer`)
 * @error: why @endpoint is not one
 *
 * Adds a peer to dial whatever discovery finds, and to dial again while
 * the node runs whenever the connection ends.
 *
 * Returns: %TRUE if @endpoint is `HOST:PORT`
 */
gboolean
llm_node_add_peer_endpoint (LlmNode     *self,
                            const char  *endpoint,
                            GError     **error)
{
  g_autoptr(GSocketConnectable) connectable = NULL;
  StaticPeer *static_peer;

  g_return_val_if_fail (LLM_IS_NODE (self), FALSE);
  g_return_val_if_fail (endpoint != NULL, FALSE);

  connectable = g_network_address_parse (endpoint, 0, error);
  if (connectable == NULL || g_network_address_get_port (G_NETWORK_ADDRESS (connectable)) == 0)
    {
      g_clear_error (error);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "“%s” is not a peer’s HOST:PORT", endpoint);
      return FALSE;
    }

  static_peer = g_new0 (StaticPeer, 1);
  static_peer->node = self;
  static_peer->endpoint = g_strdup (endpoint);
  g_ptr_array_add (self->static_peers, static_peer);

  if (self->running)
    static_peer_retry_cb (static_peer);

  return TRUE;
}

/* Discovery */

static void
on_dht_peer_announced (LlmDhtDiscovery *dht,
                       const char      *address,
                       JsonObject      *record,
                       gpointer         user_data)
{
  LlmNode *self = user_data;
  gint64 timestamp = json_object_get_int_member (record, "timestamp");
  g_autoptr(GError) error = NULL;
  LlmPeer *peer;

  if (g_str_equal (address, llm_identity_get_address (self->identity)))
    return;
  /* The DHT hands back records it has already given, and those of nodes
   * that have left: only a newer one says the node is alive. */
  if (timestamp <= lookup_time (self->record_times, address) ||
      timestamp <= lookup_time (self->departures, address))
    return;
  g_hash_table_insert (self->record_times, g_strdup (address), gint64_new (timestamp));

  peer = llm_peer_list_lookup (self->peers, address);
  if (peer != NULL && is_connected (self, address))
    {
      /* What it says on its connection is newer than any record. */
      llm_peer_add_source (peer, LLM_PEER_SOURCE_DHT);
      return;
    }

  peer = llm_peer_list_update_from_json (self->peers, record, LLM_PEER_SOURCE_DHT,
                                         g_get_monotonic_time (), &error);
  if (peer == NULL)
    {
      g_message ("Dropped the DHT record of %s: %s", address, error->message);
      return;
    }
  dial (self, address, llm_peer_get_endpoints (peer), LLM_PEER_SOURCE_DHT, NULL);
}

static void
on_dht_peer_expired (LlmDhtDiscovery *dht,
                     const char      *address,
                     const char      *model_id,
                     gpointer         user_data)
{
  LlmNode *self = user_data;

  if (!is_connected (self, address))
    llm_peer_list_remove (self->peers, address);
}

static void
on_mdns_peer_found (LlmMdnsDiscovery *mdns,
                    const char       *address,
                    JsonObject       *announcement,
                    gpointer          user_data)
{
  LlmNode *self = user_data;
  LlmPeer *peer = llm_peer_list_lookup (self->peers, address);
  g_autoptr(GStrvBuilder) endpoints = g_strv_builder_new ();
  g_auto(GStrv) endpoints_strv = NULL;
  JsonArray *array = json_object_get_array_member (announcement, "endpoints");

  if (g_str_equal (address, llm_identity_get_address (self->identity)))
    return;
  /* Already proved, on a connection: the LAN is one more way to it. */
  if (peer != NULL && is_connected (self, address))
    {
      llm_peer_add_source (peer, LLM_PEER_SOURCE_LAN);
      return;
    }

  for (guint i = 0; i < json_array_get_length (array); i++)
    g_strv_builder_add (endpoints, json_array_get_string_element (array, i));
  endpoints_strv = g_strv_builder_end (endpoints);
  dial (self, address, (const char * const *) endpoints_strv, LLM_PEER_SOURCE_LAN, NULL);
}

static void
on_mdns_peer_lost (LlmMdnsDiscovery *mdns,
                   const char       *address,
                   gpointer          user_data)
{
  LlmNode *self = user_data;

  if (!is_connected (self, address))
    llm_peer_list_remove (self->peers, address);
}

/* Upkeep */

static gboolean
drop_old_time (gpointer key,
               gpointer value,
               gpointer user_data)
{
  return *(gint64 *) value < *(gint64 *) user_data;
}

static gboolean
maintenance_cb (gpointer user_data)
{
  LlmNode *self = user_data;
  gint64 now = g_get_monotonic_time ();
  gint64 oldest_record = g_get_real_time () / G_USEC_PER_SEC - LLM_DHT_RECORD_LIFETIME;
  gint64 oldest_dial = now - REDIAL_INTERVAL_US;
  guint n_peers;

  llm_peer_list_expire (self->peers, now, (gint64) self->peer_timeout * G_USEC_PER_SEC);

  /* Past a record's lifetime, the DHT cannot hand it back. */
  g_hash_table_foreach_remove (self->record_times, drop_old_time, &oldest_record);
  g_hash_table_foreach_remove (self->departures, drop_old_time, &oldest_record);
  g_hash_table_foreach_remove (self->last_dials, drop_old_time, &oldest_dial);

  /* Dial again the peers that are known but not connected. */
  n_peers = g_list_model_get_n_items (G_LIST_MODEL (self->peers));
  for (guint i = 0; i < n_peers; i++)
    {
      g_autoptr(LlmPeer) peer = g_list_model_get_item (G_LIST_MODEL (self->peers), i);
      const char *address = llm_peer_get_address (peer);

      if (is_connected (self, address) || llm_peer_get_endpoints (peer)[0] == NULL ||
          now - lookup_time (self->last_dials, address) < REDIAL_INTERVAL_US)
        continue;
      dial (self, address, llm_peer_get_endpoints (peer), LLM_PEER_SOURCE_NONE, NULL);
    }

  return G_SOURCE_CONTINUE;
}

/* Where peers can reach this node: the listening address, or when it
 * listens on all of them, the machine's addresses (loopback only when
 * there is nothing else). */
static GStrv
dup_local_endpoints (const char *listen_host,
                     guint16     port)
{
  g_autoptr(GPtrArray) endpoints = g_ptr_array_new_with_free_func (g_free);
  gboolean any_ipv4 = listen_host == NULL || *listen_host == '\0' ||
                      g_str_equal (listen_host, "0.0.0.0") || g_str_equal (listen_host, "::");
  gboolean any_ipv6 = listen_host == NULL || *listen_host == '\0' || g_str_equal (listen_host, "::");
  struct ifaddrs *addresses = NULL;
  guint n = 0;

  if (!any_ipv4)
    {
      g_ptr_array_add (endpoints, strchr (listen_host, ':') != NULL
                                  ? g_strdup_printf ("[%s]:%u", listen_host, port)
                                  : g_strdup_printf ("%s:%u", listen_host, port));
    }

  else if (getifaddrs (&addresses) == 0)
    {
      for (struct ifaddrs *a = addresses; a != NULL && n < LLM_PEER_MAX_ENDPOINTS; a = a->ifa_next)
        {
          char host[INET6_ADDRSTRLEN];

          if (a->ifa_addr == NULL || !(a->ifa_flags & IFF_UP) || (a->ifa_flags & IFF_LOOPBACK))
            continue;
          if (a->ifa_addr->sa_family == AF_INET &&
              inet_ntop (AF_INET, &((struct sockaddr_in *) a->ifa_addr)->sin_addr,
                         host, sizeof host) != NULL)
            g_ptr_array_add (endpoints, g_strdup_printf ("%s:%u", host, port));
          else if (a->ifa_addr->sa_family == AF_INET6 && any_ipv6 &&
                   !IN6_IS_ADDR_LINKLOCAL (&((struct sockaddr_in6 *) a->ifa_addr)->sin6_addr) &&
                   inet_ntop (AF_INET6, &((struct sockaddr_in6 *) a->ifa_addr)->sin6_addr,
                              host, sizeof host) != NULL)
            g_ptr_array_add (endpoints, g_strdup_printf ("[%s]:%u", host, port));
          else
            continue;
          n++;
        }
      freeifaddrs (addresses);
    }
  if (endpoints->len == 0)
    g_ptr_array_add (endpoints, g_strdup_printf ("127.0.0.1:%u", port));

  g_ptr_array_add (endpoints, NULL);
  return (GStrv) g_ptr_array_free (g_steal_pointer (&endpoints), FALSE);
}

/* Shards and coverage */

/**
 * llm_node_lookup_coverage:
 * @self: a #LlmNode
 * @model_id: a model hosted here
 *
 * Returns: (transfer none) (nullable): who hosts which layer of @model_id
 */
LlmCoverage *
llm_node_lookup_coverage (LlmNode    *self,
                          const char *model_id)
{
  guint n;

  g_return_val_if_fail (LLM_IS_NODE (self), NULL);

  n = g_list_model_get_n_items (G_LIST_MODEL (self->coverages));
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(LlmCoverage) coverage = g_list_model_get_item (G_LIST_MODEL (self->coverages), i);

      if (g_str_equal (llm_coverage_get_model_id (coverage), model_id))
        return coverage;
    }
  return NULL;
}

static void
on_shard_state (LlmShard   *shard,
                GParamSpec *pspec,
                gpointer    user_data)
{
  announce_everywhere (LLM_NODE (user_data));
}

/**
 * llm_node_add_shard:
 * @self: a #LlmNode
 * @shard: a range of layers hosted here
 * @n_layers: how many layers the whole model has (for its coverage)
 *
 * Hosts @shard: announced (on the LAN, in the DHT, to peers) whenever it
 * is %LLM_SHARD_STATE_READY, counted in its model's coverage, and the
 * DHT is searched for the model's other hosts.
 */
void
llm_node_add_shard (LlmNode  *self,
                    LlmShard *shard,
                    guint     n_layers)
{
  const char *model_id;

  g_return_if_fail (LLM_IS_NODE (self));
  g_return_if_fail (LLM_IS_SHARD (shard));
  g_return_if_fail (llm_shard_get_last_layer (shard) < n_layers);

  model_id = llm_shard_get_model_id (shard);
  if (llm_node_lookup_coverage (self, model_id) == NULL)
    {
      g_autoptr(LlmCoverage) coverage =
        llm_coverage_new (model_id, n_layers, G_LIST_MODEL (self->peers),
                          G_LIST_MODEL (self->shards));

      g_list_store_append (self->coverages, coverage);
      if (self->dht != NULL)
        llm_dht_discovery_listen (self->dht, model_id);
    }

  g_signal_connect_object (shard, "notify::state", G_CALLBACK (on_shard_state), self, 0);
  g_list_store_append (self->shards, shard);
  announce_everywhere (self);
}

/* Starting and leaving */

/**
 * llm_node_start:
 * @self: a #LlmNode
 * @error: why the node cannot run (the port is taken, the DHT cannot start)
 *
 * Listens, then runs discovery and dials the peers given by hand.
 *
 * Returns: %TRUE if the node runs
 */
gboolean
llm_node_start (LlmNode  *self,
                GError  **error)
{
  guint n_coverages;

  g_return_val_if_fail (LLM_IS_NODE (self), FALSE);
  g_return_val_if_fail (!self->running, FALSE);

  if (!llm_transport_server_listen (self->server, self->listen_host, self->listen_port, error))
    return FALSE;

  g_strfreev (self->endpoints);
  self->endpoints = dup_local_endpoints (self->listen_host,
                                         llm_transport_server_get_port (self->server));
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ENDPOINTS]);

  if (self->dht_enabled)
    {
      self->dht = llm_dht_discovery_new (self->identity, self->dht_bootstrap, 0);
      g_signal_connect_object (self->dht, "peer-announced",
                               G_CALLBACK (on_dht_peer_announced), self, 0);
      g_signal_connect_object (self->dht, "peer-expired",
                               G_CALLBACK (on_dht_peer_expired), self, 0);
      n_coverages = g_list_model_get_n_items (G_LIST_MODEL (self->coverages));
      for (guint i = 0; i < n_coverages; i++)
        {
          g_autoptr(LlmCoverage) coverage = g_list_model_get_item (G_LIST_MODEL (self->coverages), i);

          llm_dht_discovery_listen (self->dht, llm_coverage_get_model_id (coverage));
        }
      if (!llm_dht_discovery_start (self->dht, error))
        {
          g_clear_object (&self->dht);
          llm_transport_server_stop (self->server);
          return FALSE;
        }
    }

  if (self->mdns_enabled)
    {
      self->mdns = llm_mdns_discovery_new (llm_identity_get_address (self->identity));
      g_signal_connect_object (self->mdns, "peer-found", G_CALLBACK (on_mdns_peer_found), self, 0);
      g_signal_connect_object (self->mdns, "peer-lost", G_CALLBACK (on_mdns_peer_lost), self, 0);
      llm_mdns_discovery_start (self->mdns);
    }

  g_signal_connect_object (self->server, "connection",
                           G_CALLBACK (on_incoming_connection), self, 0);
  g_clear_object (&self->cancellable);
  self->cancellable = g_cancellable_new ();
  self->running = TRUE;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RUNNING]);

  self->maintenance_source = g_timeout_add_seconds (MAINTENANCE_INTERVAL_S, maintenance_cb, self);
  self->announce_source = g_timeout_add_seconds (self->announce_interval, announce_cb, self);

  announce_everywhere (self);
  for (guint i = 0; i < self->static_peers->len; i++)
    static_peer_retry_cb (g_ptr_array_index (self->static_peers, i));

  return TRUE;
}

typedef struct
{
  guint n_pending;
  guint timeout_source;
  gboolean done;
} Leaving;

static void
leaving_free (Leaving *leaving)
{
  g_clear_handle_id (&leaving->timeout_source, g_source_remove);
  g_free (leaving);
}

/* Once every goodbye is sent, or the time is up. */
static void
finish_leaving (GTask *task)
{
  LlmNode *self = g_task_get_source_object (task);
  Leaving *leaving = g_task_get_task_data (task);

  if (leaving->done)
    return;
  leaving->done = TRUE;

  llm_transport_server_stop (self->server);
  g_hash_table_remove_all (self->connections);
  llm_peer_list_clear (self->peers);
  g_task_return_boolean (task, TRUE);
}

static gboolean
goodbye_timeout_cb (gpointer user_data)
{
  GTask *task = user_data;
  Leaving *leaving = g_task_get_task_data (task);

  leaving->timeout_source = 0;
  g_message ("Some goodbyes were not sent in time: leaving anyway");
  finish_leaving (task);
  return G_SOURCE_REMOVE;
}

static void
goodbye_sent_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  Leaving *leaving = g_task_get_task_data (task);

  send_cb (source, result, NULL);
  if (--leaving->n_pending == 0)
    {
      g_clear_handle_id (&leaving->timeout_source, g_source_remove);
      finish_leaving (task);
    }
}

/**
 * llm_node_stop_async:
 * @self: a #LlmNode
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the node has left
 * @user_data: for @callback
 *
 * Leaves cleanly: withdraws this node from the LAN and the DHT, says
 * goodbye on every connection (waiting at most a second for them to be
 * sent), then closes them all.
 */
void
llm_node_stop_async (LlmNode             *self,
                     GCancellable        *cancellable,
                     GAsyncReadyCallback  callback,
                     gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(JsonObject) goodbye = json_object_new ();
  g_autoptr(GPtrArray) connections = NULL;
  GHashTableIter iter;
  gpointer connection;
  Leaving *leaving;

  g_return_if_fail (LLM_IS_NODE (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, llm_node_stop_async);
  leaving = g_new0 (Leaving, 1);
  g_task_set_task_data (task, leaving, (GDestroyNotify) leaving_free);

  if (!self->running)
    {
      g_task_return_boolean (task, TRUE);
      return;
    }

  self->running = FALSE;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RUNNING]);
  g_cancellable_cancel (self->cancellable);
  g_clear_handle_id (&self->maintenance_source, g_source_remove);
  g_clear_handle_id (&self->announce_source, g_source_remove);
  for (guint i = 0; i < self->static_peers->len; i++)
    {
      StaticPeer *static_peer = g_ptr_array_index (self->static_peers, i);

      g_clear_handle_id (&static_peer->retry_source, g_source_remove);
    }

  if (self->mdns != NULL)
    {
      llm_mdns_discovery_stop (self->mdns);
      g_signal_handlers_disconnect_by_data (self->mdns, self);
      g_clear_object (&self->mdns);
    }
  if (self->dht != NULL)
    {
      llm_dht_discovery_stop (self->dht);
      g_signal_handlers_disconnect_by_data (self->dht, self);
      g_clear_object (&self->dht);
    }

  json_object_set_string_member (goodbye, "type", "goodbye");
  connections = g_ptr_array_new_with_free_func (g_object_unref);
  g_hash_table_iter_init (&iter, self->connections);
  while (g_hash_table_iter_next (&iter, NULL, &connection))
    g_ptr_array_add (connections, g_object_ref (connection));
  /* The pending sends hold the task until the timeout is removed. */
  for (guint i = 0; i < connections->len; i++)
    {
      leaving->n_pending++;
      llm_connection_send_async (g_ptr_array_index (connections, i), goodbye, NULL, NULL,
                                 goodbye_sent_cb, g_object_ref (task));
    }
  if (leaving->n_pending == 0)
    finish_leaving (task);
  else
    leaving->timeout_source = g_timeout_add (GOODBYE_TIMEOUT_MS, goodbye_timeout_cb, task);
}

gboolean
llm_node_stop_finish (LlmNode       *self,
                      GAsyncResult  *result,
                      GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/**
 * llm_node_to_json:
 * @self: a #LlmNode
 *
 * What `llm-node peers --json` prints: this node's address, endpoints and
 * shards, each peer (as llm_peer_to_json()) and the coverage of each
 * model hosted here.
 *
 * Returns: (transfer full): the object
 */
JsonObject *
llm_node_to_json (LlmNode *self)
{
  g_autoptr(JsonObject) object = llm_node_dup_announcement (self);
  g_autoptr(GEnumClass) states = g_type_class_ref (LLM_TYPE_SHARD_STATE);
  JsonArray *shards = json_array_new ();
  JsonArray *coverages = json_array_new ();
  guint n;

  g_return_val_if_fail (LLM_IS_NODE (self), NULL);

  /* Here every shard, whatever its state. */
  n = g_list_model_get_n_items (G_LIST_MODEL (self->shards));
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(LlmShard) shard = g_list_model_get_item (G_LIST_MODEL (self->shards), i);
      JsonObject *item = json_object_new ();

      json_object_set_string_member (item, "model", llm_shard_get_model_id (shard));
      json_object_set_int_member (item, "first", llm_shard_get_first_layer (shard));
      json_object_set_int_member (item, "last", llm_shard_get_last_layer (shard));
      json_object_set_string_member (item, "state",
                                     g_enum_get_value (states, llm_shard_get_state (shard))->value_nick);
      if (llm_shard_get_error_message (shard) != NULL)
        json_object_set_string_member (item, "error", llm_shard_get_error_message (shard));
      json_array_add_object_element (shards, item);
    }
  json_object_set_array_member (object, "shards", shards);

  json_object_set_array_member (object, "peers",
                                llm_peer_list_to_json (self->peers, g_get_monotonic_time ()));

  n = g_list_model_get_n_items (G_LIST_MODEL (self->coverages));
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(LlmCoverage) coverage = g_list_model_get_item (G_LIST_MODEL (self->coverages), i);

      json_array_add_object_element (coverages, llm_coverage_to_json (coverage));
    }
  json_object_set_array_member (object, "coverage", coverages);

  return g_steal_pointer (&object);
}

/* Accessors */

LlmNode *
llm_node_new (LlmIdentity *identity)
{
  g_return_val_if_fail (LLM_IS_IDENTITY (identity), NULL);

  return g_object_new (LLM_TYPE_NODE, "identity", identity, NULL);
}

LlmIdentity *
llm_node_get_identity (LlmNode *self)
{
  g_return_val_if_fail (LLM_IS_NODE (self), NULL);
  return self->identity;
}

const char *
llm_node_get_address (LlmNode *self)
{
  g_return_val_if_fail (LLM_IS_NODE (self), NULL);
  return llm_identity_get_address (self->identity);
}

/**
 * llm_node_get_peers:
 * @self: a #LlmNode
 *
 * Returns: (transfer none): the peer table, a #GListModel of #LlmPeer
 */
GListModel *
llm_node_get_peers (LlmNode *self)
{
  g_return_val_if_fail (LLM_IS_NODE (self), NULL);
  return G_LIST_MODEL (self->peers);
}

/**
 * llm_node_get_shards:
 * @self: a #LlmNode
 *
 * Returns: (transfer none): the shards hosted here, a #GListModel of #LlmShard
 */
GListModel *
llm_node_get_shards (LlmNode *self)
{
  g_return_val_if_fail (LLM_IS_NODE (self), NULL);
  return G_LIST_MODEL (self->shards);
}

/**
 * llm_node_get_coverages:
 * @self: a #LlmNode
 *
 * Returns: (transfer none): a #GListModel of #LlmCoverage, one per model
 *   hosted here
 */
GListModel *
llm_node_get_coverages (LlmNode *self)
{
  g_return_val_if_fail (LLM_IS_NODE (self), NULL);
  return G_LIST_MODEL (self->coverages);
}

/**
 * llm_node_get_transport_server:
 * @self: a #LlmNode
 *
 * Returns: (transfer none): the node's end of the transport
 */
LlmTransportServer *
llm_node_get_transport_server (LlmNode *self)
{
  g_return_val_if_fail (LLM_IS_NODE (self), NULL);
  return self->server;
}

/**
 * llm_node_get_endpoints:
 * @self: a #LlmNode
 *
 * Returns: (transfer none) (nullable): where peers reach this node, once
 *   it listens
 */
const char * const *
llm_node_get_endpoints (LlmNode *self)
{
  g_return_val_if_fail (LLM_IS_NODE (self), NULL);
  return (const char * const *) self->endpoints;
}

gboolean
llm_node_get_running (LlmNode *self)
{
  g_return_val_if_fail (LLM_IS_NODE (self), FALSE);
  return self->running;
}

static void
llm_node_dispose (GObject *object)
{
  LlmNode *self = LLM_NODE (object);

  g_clear_handle_id (&self->maintenance_source, g_source_remove);
  g_clear_handle_id (&self->announce_source, g_source_remove);
  if (self->cancellable != NULL)
    g_cancellable_cancel (self->cancellable);
  g_ptr_array_set_size (self->static_peers, 0);
  if (self->mdns != NULL)
    llm_mdns_discovery_stop (self->mdns);
  g_clear_object (&self->mdns);
  if (self->dht != NULL)
    llm_dht_discovery_stop (self->dht);
  g_clear_object (&self->dht);
  if (self->server != NULL)
    llm_transport_server_stop (self->server);
  g_hash_table_remove_all (self->connections);
  g_clear_object (&self->server);
  g_clear_object (&self->coverages);
  g_clear_object (&self->shards);
  g_clear_object (&self->peers);
  g_clear_object (&self->cancellable);

  G_OBJECT_CLASS (llm_node_parent_class)->dispose (object);
}

static void
llm_node_finalize (GObject *object)
{
  LlmNode *self = LLM_NODE (object);

  g_clear_object (&self->identity);
  g_ptr_array_unref (self->static_peers);
  g_hash_table_unref (self->connections);
  g_hash_table_unref (self->dialling);
  g_hash_table_unref (self->last_dials);
  g_hash_table_unref (self->record_times);
  g_hash_table_unref (self->departures);
  g_strfreev (self->endpoints);
  g_free (self->listen_host);
  g_free (self->dht_bootstrap);

  G_OBJECT_CLASS (llm_node_parent_class)->finalize (object);
}

static void
llm_node_constructed (GObject *object)
{
  LlmNode *self = LLM_NODE (object);

  G_OBJECT_CLASS (llm_node_parent_class)->constructed (object);

  self->server = llm_transport_server_new (self->identity);
}

static void
llm_node_get_property (GObject    *object,
                       guint       prop_id,
                       GValue     *value,
                       GParamSpec *pspec)
{
  LlmNode *self = LLM_NODE (object);

  switch (prop_id)
    {
    case PROP_IDENTITY:
      g_value_set_object (value, self->identity);
      break;
    case PROP_ADDRESS:
      g_value_set_string (value, llm_identity_get_address (self->identity));
      break;
    case PROP_PEERS:
      g_value_set_object (value, self->peers);
      break;
    case PROP_SHARDS:
      g_value_set_object (value, self->shards);
      break;
    case PROP_COVERAGES:
      g_value_set_object (value, self->coverages);
      break;
    case PROP_LISTEN_HOST:
      g_value_set_string (value, self->listen_host);
      break;
    case PROP_LISTEN_PORT:
      g_value_set_uint (value, self->listen_port);
      break;
    case PROP_MDNS_ENABLED:
      g_value_set_boolean (value, self->mdns_enabled);
      break;
    case PROP_DHT_ENABLED:
      g_value_set_boolean (value, self->dht_enabled);
      break;
    case PROP_DHT_BOOTSTRAP:
      g_value_set_string (value, self->dht_bootstrap);
      break;
    case PROP_ANNOUNCE_INTERVAL:
      g_value_set_uint (value, self->announce_interval);
      break;
    case PROP_PEER_TIMEOUT:
      g_value_set_uint (value, self->peer_timeout);
      break;
    case PROP_ENDPOINTS:
      g_value_set_boxed (value, self->endpoints);
      break;
    case PROP_RUNNING:
      g_value_set_boolean (value, self->running);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
llm_node_set_property (GObject      *object,
                       guint         prop_id,
                       const GValue *value,
                       GParamSpec   *pspec)
{
  LlmNode *self = LLM_NODE (object);

  switch (prop_id)
    {
    case PROP_IDENTITY:
      self->identity = g_value_dup_object (value);
      break;
    case PROP_LISTEN_HOST:
      g_free (self->listen_host);
      self->listen_host = g_value_dup_string (value);
      break;
    case PROP_LISTEN_PORT:
      self->listen_port = g_value_get_uint (value);
      break;
    case PROP_MDNS_ENABLED:
      self->mdns_enabled = g_value_get_boolean (value);
      break;
    case PROP_DHT_ENABLED:
      self->dht_enabled = g_value_get_boolean (value);
      break;
    case PROP_DHT_BOOTSTRAP:
      g_free (self->dht_bootstrap);
      self->dht_bootstrap = g_value_dup_string (value);
      break;
    case PROP_ANNOUNCE_INTERVAL:
      self->announce_interval = g_value_get_uint (value);
      break;
    case PROP_PEER_TIMEOUT:
      self->peer_timeout = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
llm_node_class_init (LlmNodeClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags settings = G_PARAM_READWRITE | G_PARAM_CONSTRUCT | G_PARAM_STATIC_STRINGS;
  const GParamFlags readable = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->constructed = llm_node_constructed;
  object_class->dispose = llm_node_dispose;
  object_class->finalize = llm_node_finalize;
  object_class->get_property = llm_node_get_property;
  object_class->set_property = llm_node_set_property;

  /** LlmNode:identity: the node's key pair */
  properties[PROP_IDENTITY] =
    g_param_spec_object ("identity", NULL, NULL, LLM_TYPE_IDENTITY,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  /** LlmNode:address: the node's `.llm` address */
  properties[PROP_ADDRESS] =
    g_param_spec_string ("address", NULL, NULL, NULL, readable);
  /** LlmNode:peers: the peer table (#LlmPeerList, a #GListModel of #LlmPeer) */
  properties[PROP_PEERS] =
    g_param_spec_object ("peers", NULL, NULL, G_TYPE_LIST_MODEL, readable);
  /** LlmNode:shards: the shards hosted here (#GListModel of #LlmShard) */
  properties[PROP_SHARDS] =
    g_param_spec_object ("shards", NULL, NULL, G_TYPE_LIST_MODEL, readable);
  /** LlmNode:coverages: one #LlmCoverage per model hosted here (#GListModel) */
  properties[PROP_COVERAGES] =
    g_param_spec_object ("coverages", NULL, NULL, G_TYPE_LIST_MODEL, readable);
  /** LlmNode:listen-host: the IP address to listen on; %NULL for all */
  properties[PROP_LISTEN_HOST] =
    g_param_spec_string ("listen-host", NULL, NULL, NULL, settings);
  /** LlmNode:listen-port: the TCP port to listen on; 0 for any free one */
  properties[PROP_LISTEN_PORT] =
    g_param_spec_uint ("listen-port", NULL, NULL, 0, G_MAXUINT16, LLM_NODE_DEFAULT_PORT, settings);
  /** LlmNode:mdns-enabled: whether to publish and browse on the LAN (Avahi) */
  properties[PROP_MDNS_ENABLED] =
    g_param_spec_boolean ("mdns-enabled", NULL, NULL, TRUE, settings);
  /** LlmNode:dht-enabled: whether to announce and search in the DHT */
  properties[PROP_DHT_ENABLED] =
    g_param_spec_boolean ("dht-enabled", NULL, NULL, TRUE, settings);
  /** LlmNode:dht-bootstrap: the DHT node to join through, `HOST:PORT` */
  properties[PROP_DHT_BOOTSTRAP] =
    g_param_spec_string ("dht-bootstrap", NULL, NULL, LLM_DHT_DISCOVERY_DEFAULT_BOOTSTRAP,
                         settings);
  /** LlmNode:announce-interval: seconds between two announcements to each peer */
  properties[PROP_ANNOUNCE_INTERVAL] =
    g_param_spec_uint ("announce-interval", NULL, NULL, 1, 3600, 15, settings);
  /** LlmNode:peer-timeout: seconds a peer may stay silent before it is dropped */
  properties[PROP_PEER_TIMEOUT] =
    g_param_spec_uint ("peer-timeout", NULL, NULL, 1, 86400, 45, settings);
  /** LlmNode:endpoints: where peers can reach this node (`HOST:PORT`), once it listens */
  properties[PROP_ENDPOINTS] =
    g_param_spec_boxed ("endpoints", NULL, NULL, G_TYPE_STRV, readable);
  /** LlmNode:running: between llm_node_start() and llm_node_stop_async() */
  properties[PROP_RUNNING] =
    g_param_spec_boolean ("running", NULL, NULL, FALSE, readable);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
llm_node_init (LlmNode *self)
{
  self->peers = llm_peer_list_new ();
  self->shards = g_list_store_new (LLM_TYPE_SHARD);
  self->coverages = g_list_store_new (LLM_TYPE_COVERAGE);
  self->connections = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->dialling = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->last_dials = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->record_times = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->departures = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->static_peers = g_ptr_array_new_with_free_func ((GDestroyNotify) static_peer_free);
}

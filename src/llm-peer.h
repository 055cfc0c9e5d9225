/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/*
 * LlmPeer: another node as seen from here, one row of the peer table
 * (LlmPeerList). No networking: LlmNode and discovery feed it.
 *
 *   peer = llm_peer_new (address);                 // a valid .llm address
 *   llm_peer_update_from_json (peer, announcement, &error);
 *   llm_peer_set_last_seen (peer, g_get_monotonic_time ());
 *   llm_peer_set_latency (peer, llm_connection_get_round_trip_time (c) / 1000.0);
 *
 * An announcement is the JSON object a node publishes about itself (in its
 * DHT record, its mDNS TXT records once decoded, and as a message on a
 * connection):
 *
 *   { "address":   "<60-character .llm address>",
 *     "endpoints": ["192.0.2.1:4001", "[2001:db8::1]:4001", "host.local:4001"],
 *     "shards":    [{ "model": "stories260K", "first": 0, "last": 4 }] }
 *
 * Layer ranges are 0-based and inclusive. Members not listed here are
 * ignored, so that later versions may add some.
 */

/* Bounds on what one announcement may claim: a peer cannot make this node
 * hold more than this for it. */
#define LLM_PEER_MAX_ENDPOINTS       16
#define LLM_PEER_MAX_SHARDS          64
#define LLM_PEER_MAX_LAYER           65535
#define LLM_PEER_MAX_MODEL_ID_LENGTH 256
#define LLM_PEER_MAX_ENDPOINT_LENGTH 262

#define LLM_PEER_ERROR (llm_peer_error_quark ())

/**
 * LlmPeerError:
 * @LLM_PEER_ERROR_INVALID: a member is missing or has the wrong type, or a
 *   string is malformed (address, endpoint, model id)
 * @LLM_PEER_ERROR_ADDRESS_MISMATCH: the announcement names another address
 *   than the peer's: a peer claiming another's address
 * @LLM_PEER_ERROR_RANGE: a layer range that is negative, inverted, beyond
 *   %LLM_PEER_MAX_LAYER, or overlaps another range of the same model
 * @LLM_PEER_ERROR_TOO_MANY: more than %LLM_PEER_MAX_ENDPOINTS endpoints or
 *   %LLM_PEER_MAX_SHARDS shards, or the same endpoint twice
 */
typedef enum
{
  LLM_PEER_ERROR_INVALID,
  LLM_PEER_ERROR_ADDRESS_MISMATCH,
  LLM_PEER_ERROR_RANGE,
  LLM_PEER_ERROR_TOO_MANY,
} LlmPeerError;

GQuark llm_peer_error_quark (void);

/**
 * LlmPeerState:
 * @LLM_PEER_STATE_DISCOVERED: known from an announcement, not connected
 * @LLM_PEER_STATE_CONNECTING: this node is dialling it
 * @LLM_PEER_STATE_CONNECTED: an open, authenticated connection exists
 * @LLM_PEER_STATE_GONE: said goodbye or expired; it has left the peer table
 */
typedef enum
{
  LLM_PEER_STATE_DISCOVERED,
  LLM_PEER_STATE_CONNECTING,
  LLM_PEER_STATE_CONNECTED,
  LLM_PEER_STATE_GONE,
} LlmPeerState;

#define LLM_TYPE_PEER_STATE (llm_peer_state_get_type ())
GType llm_peer_state_get_type (void);

/**
 * LlmPeerSource:
 * @LLM_PEER_SOURCE_NONE: not known from anywhere yet
 * @LLM_PEER_SOURCE_LAN: found by DNS-SD (Avahi) on the local network
 * @LLM_PEER_SOURCE_DHT: found in the DHT
 * @LLM_PEER_SOURCE_MANUAL: given by hand (`--peer HOST:PORT`)
 *
 * How this node learnt of a peer; a peer may be found in several ways.
 */
typedef enum /*< flags >*/
{
  LLM_PEER_SOURCE_NONE   = 0,
  LLM_PEER_SOURCE_LAN    = 1 << 0,
  LLM_PEER_SOURCE_DHT    = 1 << 1,
  LLM_PEER_SOURCE_MANUAL = 1 << 2,
} LlmPeerSource;

#define LLM_TYPE_PEER_SOURCE (llm_peer_source_get_type ())
GType llm_peer_source_get_type (void);

/**
 * LlmPeerShard:
 * @model_id: the model, as in announcements (`stories260K`, `org/name`)
 * @first_layer: the first layer hosted
 * @last_layer: the last layer hosted, inclusive
 *
 * A range of one model's layers that a peer hosts.
 */
typedef struct
{
  char *model_id;
  guint first_layer;
  guint last_layer;
} LlmPeerShard;

#define LLM_TYPE_PEER_SHARD (llm_peer_shard_get_type ())
GType         llm_peer_shard_get_type (void);
LlmPeerShard *llm_peer_shard_new      (const char         *model_id,
                                       guint               first_layer,
                                       guint               last_layer);
LlmPeerShard *llm_peer_shard_copy     (const LlmPeerShard *shard);
void          llm_peer_shard_free     (LlmPeerShard       *shard);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LlmPeerShard, llm_peer_shard_free)

#define LLM_TYPE_PEER (llm_peer_get_type ())

G_DECLARE_FINAL_TYPE (LlmPeer, llm_peer, LLM, PEER, GObject)

LlmPeer            *llm_peer_new              (const char          *address);
gboolean            llm_peer_update_from_json (LlmPeer             *self,
                                               JsonObject          *announcement,
                                               GError             **error);
JsonObject         *llm_peer_to_json          (LlmPeer             *self,
                                               gint64               now);

const char         *llm_peer_get_address      (LlmPeer             *self);
const char * const *llm_peer_get_endpoints    (LlmPeer             *self);
void                llm_peer_set_endpoints    (LlmPeer             *self,
                                               const char * const  *endpoints);
GPtrArray          *llm_peer_dup_shards       (LlmPeer             *self);
void                llm_peer_set_shards       (LlmPeer             *self,
                                               GPtrArray           *shards);
gboolean            llm_peer_hosts_layer      (LlmPeer             *self,
                                               const char          *model_id,
                                               guint                layer);
double              llm_peer_get_latency      (LlmPeer             *self);
void                llm_peer_set_latency      (LlmPeer             *self,
                                               double               latency);
double              llm_peer_get_throughput   (LlmPeer             *self);
void                llm_peer_set_throughput   (LlmPeer             *self,
                                               double               throughput);
gint64              llm_peer_get_last_seen    (LlmPeer             *self);
void                llm_peer_set_last_seen    (LlmPeer             *self,
                                               gint64               last_seen);
LlmPeerState        llm_peer_get_state        (LlmPeer             *self);
void                llm_peer_set_state        (LlmPeer             *self,
                                               LlmPeerState         state);
LlmPeerSource       llm_peer_get_sources      (LlmPeer             *self);
void                llm_peer_set_sources      (LlmPeer             *self,
                                               LlmPeerSource        sources);
void                llm_peer_add_source       (LlmPeer             *self,
                                               LlmPeerSource        source);

G_END_DECLS

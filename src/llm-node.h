/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "llm-coverage.h"
#include "llm-identity.h"
#include "llm-peer-list.h"
#include "llm-shard.h"
#include "llm-transport-server.h"

G_BEGIN_DECLS

/*
 * LlmNode: this machine's node. It owns the identity, the transport server,
 * the peer table, the shards hosted here and a coverage per model, and runs
 * discovery (Avahi, OpenDHT, peers given by hand) into the peer table.
 *
 *   node = llm_node_new (identity);
 *   g_object_set (node, "listen-host", "0.0.0.0", "listen-port", 7421,
 *                 "dht-bootstrap", "127.0.0.1:4222", "mdns-enabled", FALSE, NULL);
 *   llm_node_add_peer_endpoint (node, "192.0.2.7:7421", &error);   // --peer
 *   llm_node_add_shard (node, shard, n_layers_of_the_model);
 *   llm_node_start (node, &error);
 *   gtk_list_view_set_model (…, llm_node_get_peers (node));         // live
 *   coverage = llm_node_lookup_coverage (node, "stories260K");
 *   …
 *   llm_node_stop_async (node, NULL, on_stopped, data);   // goodbye to all
 *
 * What peers say to each other on a connection (JSON control messages):
 *
 *   {"type": "announce", <the announcement: address, endpoints, shards>}
 *     on connecting, when this node's shards change, and every
 *     #LlmNode:announce-interval seconds: a peer's last-seen
 *   {"type": "goodbye"}
 *     when a node leaves: the peer is removed at once
 *
 * A peer that goes silent leaves the table #LlmNode:peer-timeout seconds
 * after it was last heard.
 */

#define LLM_NODE_DEFAULT_PORT 7421

#define LLM_TYPE_NODE (llm_node_get_type ())

G_DECLARE_FINAL_TYPE (LlmNode, llm_node, LLM, NODE, GObject)

LlmNode            *llm_node_new                (LlmIdentity          *identity);
gboolean            llm_node_add_peer_endpoint  (LlmNode              *self,
                                                 const char           *endpoint,
                                                 GError              **error);
void                llm_node_add_shard          (LlmNode              *self,
                                                 LlmShard             *shard,
                                                 guint                 n_layers);
gboolean            llm_node_start              (LlmNode              *self,
                                                 GError              **error);
void                llm_node_stop_async         (LlmNode              *self,
                                                 GCancellable         *cancellable,
                                                 GAsyncReadyCallback   callback,
                                                 gpointer              user_data);
gboolean            llm_node_stop_finish        (LlmNode              *self,
                                                 GAsyncResult         *result,
                                                 GError              **error);

LlmIdentity        *llm_node_get_identity       (LlmNode              *self);
const char         *llm_node_get_address        (LlmNode              *self);
GListModel         *llm_node_get_peers          (LlmNode              *self);
GListModel         *llm_node_get_shards         (LlmNode              *self);
GListModel         *llm_node_get_coverages      (LlmNode              *self);
LlmCoverage        *llm_node_lookup_coverage    (LlmNode              *self,
                                                 const char           *model_id);
LlmTransportServer *llm_node_get_transport_server (LlmNode            *self);
const char * const *llm_node_get_endpoints      (LlmNode              *self);
gboolean            llm_node_get_running        (LlmNode              *self);
JsonObject         *llm_node_dup_announcement   (LlmNode              *self);
JsonObject         *llm_node_to_json            (LlmNode              *self);

G_END_DECLS

/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "llm-connection.h"
#include "llm-identity.h"

G_BEGIN_DECLS

/*
 * LlmTransportServer: this node's end of the transport, for LlmNode.
 *
 *   server = llm_transport_server_new (identity);
 *   g_signal_connect (server, "connection", G_CALLBACK (on_connection), node);
 *   llm_transport_server_listen (server, NULL, 0, &error);   // --listen HOST:PORT
 *   port = llm_transport_server_get_port (server);            // for mDNS and the DHT
 *
 *   - ::connection (LlmConnection *) is emitted for each peer that
 *     connected and proved its address; connect to its ::message there.
 *   - llm_transport_server_connect_async (server, g_network_address_parse
 *     ("HOST:PORT", 0, NULL), expected_address_or_NULL, …) dials a peer
 *     found by discovery (its address known: a different one is refused) or
 *     given with --peer (address unknown: learnt from the handshake).
 *   - Timing properties (handshake-timeout, keepalive-interval,
 *     idle-timeout, in ms) apply to every connection made afterwards; the
 *     limits (max-handshakes, max-handshakes-per-host, max-connections)
 *     bound what strangers can cost.
 *   - The server keeps each open connection until it closes;
 *     llm_transport_server_stop() closes them all (when the node leaves).
 *   - "n-connections" and llm_transport_server_dup_connections() list them.
 */

/* Defaults of the limits. Handshakes are the unauthenticated ones: anyone
 * can start one, so they are capped in all and per remote host. */
#define LLM_TRANSPORT_SERVER_DEFAULT_MAX_HANDSHAKES          32
#define LLM_TRANSPORT_SERVER_DEFAULT_MAX_HANDSHAKES_PER_HOST 8
#define LLM_TRANSPORT_SERVER_DEFAULT_MAX_CONNECTIONS         256

#define LLM_TYPE_TRANSPORT_SERVER (llm_transport_server_get_type ())

G_DECLARE_FINAL_TYPE (LlmTransportServer, llm_transport_server, LLM, TRANSPORT_SERVER, GObject)

LlmTransportServer *llm_transport_server_new            (LlmIdentity          *identity);
gboolean            llm_transport_server_listen         (LlmTransportServer   *self,
                                                         const char           *host,
                                                         guint16               port,
                                                         GError              **error);
void                llm_transport_server_stop           (LlmTransportServer   *self);
void                llm_transport_server_connect_async  (LlmTransportServer   *self,
                                                         GSocketConnectable   *connectable,
                                                         const char           *expected_address,
                                                         GCancellable         *cancellable,
                                                         GAsyncReadyCallback   callback,
                                                         gpointer              user_data);
LlmConnection      *llm_transport_server_connect_finish (LlmTransportServer   *self,
                                                         GAsyncResult         *result,
                                                         GError              **error);

LlmIdentity *llm_transport_server_get_identity                (LlmTransportServer *self);
guint16      llm_transport_server_get_port                    (LlmTransportServer *self);
gboolean     llm_transport_server_get_listening               (LlmTransportServer *self);
guint        llm_transport_server_get_n_handshakes            (LlmTransportServer *self);
guint        llm_transport_server_get_n_connections           (LlmTransportServer *self);
GPtrArray   *llm_transport_server_dup_connections             (LlmTransportServer *self);
guint        llm_transport_server_get_max_handshakes          (LlmTransportServer *self);
void         llm_transport_server_set_max_handshakes          (LlmTransportServer *self,
                                                               guint               max);
guint        llm_transport_server_get_max_handshakes_per_host (LlmTransportServer *self);
void         llm_transport_server_set_max_handshakes_per_host (LlmTransportServer *self,
                                                               guint               max);
guint        llm_transport_server_get_max_connections         (LlmTransportServer *self);
void         llm_transport_server_set_max_connections         (LlmTransportServer *self,
                                                               guint               max);
guint        llm_transport_server_get_handshake_timeout       (LlmTransportServer *self);
void         llm_transport_server_set_handshake_timeout       (LlmTransportServer *self,
                                                               guint               timeout_ms);
guint        llm_transport_server_get_keepalive_interval      (LlmTransportServer *self);
void         llm_transport_server_set_keepalive_interval      (LlmTransportServer *self,
                                                               guint               interval_ms);
guint        llm_transport_server_get_idle_timeout            (LlmTransportServer *self);
void         llm_transport_server_set_idle_timeout            (LlmTransportServer *self,
                                                               guint               timeout_ms);

G_END_DECLS

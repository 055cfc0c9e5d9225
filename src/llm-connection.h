/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "llm-frame.h"
#include "llm-identity.h"

G_BEGIN_DECLS

/*
 * LlmConnection: one authenticated, encrypted channel to one peer
 * (docs/protocol.md for the bytes).
 *
 * Usually made by LlmTransportServer, which dials
 * (llm_transport_server_connect_async()) and accepts (the ::connection
 * signal); over a socketpair in tests:
 *
 *   connection = llm_connection_new (identity, stream, initiator);
 *   g_object_set (connection, "keepalive-interval", 50, "idle-timeout", 300, NULL);
 *   llm_connection_handshake_async (connection, expected_address, NULL, cb, data);
 *
 * Once open:
 *
 *   - "peer-address" is the .llm address the peer proved it owns (never
 *     what it claims): the key of the peer table. "endpoint" says where it
 *     connects from, for logs.
 *   - llm_connection_send_async (connection, json_object, payload_or_NULL, …)
 *     sends one message: a JSON object (the control part; its members are
 *     the application's, the transport adds none) and optional raw bytes
 *     (tensors, little-endian), together up to 16 MiB.
 *   - ::message (JsonObject *message, GBytes *payload_or_NULL) delivers the
 *     peer's messages in order, on the main context.
 *   - "round-trip-time" (µs) is measured by the keepalive pings: a peer's
 *     latency.
 *   - ::closed (const GError *reason) comes once, whatever ends the
 *     connection: llm_connection_close() (G_IO_ERROR_CLOSED), the peer
 *     (G_IO_ERROR_CONNECTION_CLOSED), a timeout (G_IO_ERROR_TIMED_OUT), a
 *     peer that broke the protocol (LLM_PROTOCOL_ERROR_*), or the socket.
 *     The reason is logged too, with the peer's address and endpoint.
 *
 * A connection does not reconnect: the owner (LlmNode/LlmPeer) dials
 * again. Two nodes that dial each other at once get two connections; which
 * one to keep is the owner's choice (e.g. the one dialled by the smaller
 * address).
 */

/**
 * LlmConnectionState:
 * @LLM_CONNECTION_STATE_NEW: made, handshake not started
 * @LLM_CONNECTION_STATE_HANDSHAKING: proving identities
 * @LLM_CONNECTION_STATE_OPEN: the peer is authenticated; messages flow
 * @LLM_CONNECTION_STATE_CLOSED: over, for the reason given by
 *   #LlmConnection::closed; a closed connection never opens again
 */
typedef enum
{
  LLM_CONNECTION_STATE_NEW,
  LLM_CONNECTION_STATE_HANDSHAKING,
  LLM_CONNECTION_STATE_OPEN,
  LLM_CONNECTION_STATE_CLOSED,
} LlmConnectionState;

#define LLM_TYPE_CONNECTION_STATE (llm_connection_state_get_type ())
GType llm_connection_state_get_type (void);

/* Defaults of the timing properties, in milliseconds. The idle timeout is
 * three keepalive intervals, so that a lost ping or two is not fatal. */
#define LLM_CONNECTION_DEFAULT_HANDSHAKE_TIMEOUT  10000
#define LLM_CONNECTION_DEFAULT_KEEPALIVE_INTERVAL 15000
#define LLM_CONNECTION_DEFAULT_IDLE_TIMEOUT       45000

#define LLM_TYPE_CONNECTION (llm_connection_get_type ())

G_DECLARE_FINAL_TYPE (LlmConnection, llm_connection, LLM, CONNECTION, GObject)

LlmConnection      *llm_connection_new                    (LlmIdentity          *identity,
                                                           GIOStream            *base_stream,
                                                           gboolean              initiator);
void                llm_connection_handshake_async        (LlmConnection        *self,
                                                           const char           *expected_address,
                                                           GCancellable         *cancellable,
                                                           GAsyncReadyCallback   callback,
                                                           gpointer              user_data);
gboolean            llm_connection_handshake_finish       (LlmConnection        *self,
                                                           GAsyncResult         *result,
                                                           GError              **error);
void                llm_connection_send_async             (LlmConnection        *self,
                                                           JsonObject           *message,
                                                           GBytes               *payload,
                                                           GCancellable         *cancellable,
                                                           GAsyncReadyCallback   callback,
                                                           gpointer              user_data);
gboolean            llm_connection_send_finish            (LlmConnection        *self,
                                                           GAsyncResult         *result,
                                                           GError              **error);
void                llm_connection_close                  (LlmConnection        *self);

LlmIdentity        *llm_connection_get_identity           (LlmConnection        *self);
GIOStream          *llm_connection_get_base_stream        (LlmConnection        *self);
gboolean            llm_connection_get_initiator          (LlmConnection        *self);
LlmConnectionState  llm_connection_get_state              (LlmConnection        *self);
const char         *llm_connection_get_peer_address       (LlmConnection        *self);
const guint8       *llm_connection_get_peer_public_key    (LlmConnection        *self);
const char         *llm_connection_get_endpoint           (LlmConnection        *self);
LlmCipher           llm_connection_get_cipher             (LlmConnection        *self);
gint64              llm_connection_get_round_trip_time    (LlmConnection        *self);
const GError       *llm_connection_get_close_error        (LlmConnection        *self);
guint               llm_connection_get_handshake_timeout  (LlmConnection        *self);
void                llm_connection_set_handshake_timeout  (LlmConnection        *self,
                                                           guint                 timeout_ms);
guint               llm_connection_get_keepalive_interval (LlmConnection        *self);
void                llm_connection_set_keepalive_interval (LlmConnection        *self,
                                                           guint                 interval_ms);
guint               llm_connection_get_idle_timeout       (LlmConnection        *self);
void                llm_connection_set_idle_timeout       (LlmConnection        *self,
                                                           guint                 timeout_ms);

G_END_DECLS

/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "llm-peer.h"

G_BEGIN_DECLS

/*
 * LlmPeerList: the peer table, a GListModel of LlmPeer keyed by address,
 * sorted by address. Every way of finding a peer ends here:
 *
 *   // discovery (mDNS, DHT) and connections, with a checked announcement
 *   peer = llm_peer_list_update_from_json (list, announcement, LLM_PEER_SOURCE_DHT,
 *                                          g_get_monotonic_time (), &error);
 *   // a connection whose handshake proved an address (e.g. from --peer)
 *   peer = llm_peer_list_ensure (list, llm_connection_get_peer_address (c), NULL);
 *   // a goodbye
 *   llm_peer_list_remove (list, address);
 *   // a timer, every few seconds: forget the silent
 *   llm_peer_list_expire (list, g_get_monotonic_time (), 45 * G_USEC_PER_SEC);
 */

#define LLM_TYPE_PEER_LIST (llm_peer_list_get_type ())

G_DECLARE_FINAL_TYPE (LlmPeerList, llm_peer_list, LLM, PEER_LIST, GObject)

LlmPeerList *llm_peer_list_new              (void);
LlmPeer     *llm_peer_list_lookup           (LlmPeerList    *self,
                                             const char     *address);
gboolean     llm_peer_list_add              (LlmPeerList    *self,
                                             LlmPeer        *peer);
LlmPeer     *llm_peer_list_ensure           (LlmPeerList    *self,
                                             const char     *address,
                                             gboolean       *added);
LlmPeer     *llm_peer_list_update_from_json (LlmPeerList    *self,
                                             JsonObject     *announcement,
                                             LlmPeerSource   source,
                                             gint64          now,
                                             GError        **error);
gboolean     llm_peer_list_remove           (LlmPeerList    *self,
                                             const char     *address);
guint        llm_peer_list_expire           (LlmPeerList    *self,
                                             gint64          now,
                                             gint64          timeout);
void         llm_peer_list_clear            (LlmPeerList    *self);
JsonArray   *llm_peer_list_to_json          (LlmPeerList    *self,
                                             gint64          now);

G_END_DECLS

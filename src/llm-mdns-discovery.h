/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* The DNS-SD service type of llm-node on the local network. */
#define LLM_MDNS_SERVICE_TYPE "_llm-node._tcp"

/*
 * LlmMdnsDiscovery: the LAN half of discovery, through the Avahi daemon.
 *
 *   mdns = llm_mdns_discovery_new (llm_identity_get_address (identity));
 *   g_signal_connect (mdns, "peer-found", G_CALLBACK (on_peer_found), node);
 *   llm_mdns_discovery_start (mdns);                   // browse
 *   llm_mdns_discovery_publish (mdns, port, announcement);
 *   …
 *   llm_mdns_discovery_stop (mdns);                    // withdraws the service
 *
 * What mDNS says is not authenticated: anyone on the LAN can publish any
 * address. A peer found here is a place to dial with the address it claims;
 * the handshake proves it (or the dial is refused).
 */

#define LLM_TYPE_MDNS_DISCOVERY (llm_mdns_discovery_get_type ())

G_DECLARE_FINAL_TYPE (LlmMdnsDiscovery, llm_mdns_discovery, LLM, MDNS_DISCOVERY, GObject)

LlmMdnsDiscovery *llm_mdns_discovery_new         (const char       *own_address);
void              llm_mdns_discovery_start       (LlmMdnsDiscovery *self);
void              llm_mdns_discovery_stop        (LlmMdnsDiscovery *self);
void              llm_mdns_discovery_publish     (LlmMdnsDiscovery *self,
                                                  guint16           port,
                                                  JsonObject       *announcement);
gboolean          llm_mdns_discovery_get_available (LlmMdnsDiscovery *self);
gboolean          llm_mdns_discovery_get_published (LlmMdnsDiscovery *self);

/* The TXT records of an announcement, and back (pure; for tests too). */
GPtrArray  *llm_mdns_txt_from_announcement (JsonObject  *announcement);
JsonObject *llm_mdns_txt_to_announcement   (const char * const *txt,
                                            const char  *endpoint,
                                            GError     **error);

G_END_DECLS

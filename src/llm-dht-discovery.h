/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "llm-identity.h"

G_BEGIN_DECLS

/**
 * LLM_DHT_DISCOVERY_DEFAULT_BOOTSTRAP:
 *
 * The public OpenDHT bootstrap node (Jami's). Tests never use it: they pass
 * a `dhtnode` of their own on loopback.
 */
#define LLM_DHT_DISCOVERY_DEFAULT_BOOTSTRAP "bootstrap.jami.net:4222"
#define LLM_DHT_DISCOVERY_DEFAULT_PORT      4222

/* OpenDHT forgets a value after 10 minutes; a record claims no more. */
#define LLM_DHT_RECORD_LIFETIME        600
/* How far in the future a record's timestamp may be (clock skew), seconds. */
#define LLM_DHT_RECORD_MAX_SKEW        60
/* The largest DHT value this node parses, bytes. */
#define LLM_DHT_RECORD_MAX_SIZE        (16 * 1024)
/* The label signed before the record bytes: a record signature can never
 * be mistaken for a signature made for another purpose. */
#define LLM_DHT_RECORD_SIGNATURE_LABEL "llm-node dht record v1"

#define LLM_DHT_DISCOVERY_ERROR (llm_dht_discovery_error_quark ())

/**
 * LlmDhtDiscoveryError:
 * @LLM_DHT_DISCOVERY_ERROR_INVALID: not a record: bad JSON, too big, not an object
 * @LLM_DHT_DISCOVERY_ERROR_MISSING_FIELD: a required field is missing or of the wrong type
 * @LLM_DHT_DISCOVERY_ERROR_FORGED: the signature does not verify with the claimed address
 * @LLM_DHT_DISCOVERY_ERROR_STALE: expired, dated too far in the future, or valid too long
 * @LLM_DHT_DISCOVERY_ERROR_WRONG_MODEL: a record for another model id
 * @LLM_DHT_DISCOVERY_ERROR_BOOTSTRAP: the bootstrap is not `HOST:PORT`
 * @LLM_DHT_DISCOVERY_ERROR_FAILED: the DHT runner could not start
 */
typedef enum
{
  LLM_DHT_DISCOVERY_ERROR_INVALID,
  LLM_DHT_DISCOVERY_ERROR_MISSING_FIELD,
  LLM_DHT_DISCOVERY_ERROR_FORGED,
  LLM_DHT_DISCOVERY_ERROR_STALE,
  LLM_DHT_DISCOVERY_ERROR_WRONG_MODEL,
  LLM_DHT_DISCOVERY_ERROR_BOOTSTRAP,
  LLM_DHT_DISCOVERY_ERROR_FAILED,
} LlmDhtDiscoveryError;

GQuark llm_dht_discovery_error_quark (void);

/* The record format, without the network (pure functions: any thread). */
GBytes     *llm_dht_record_new   (LlmIdentity  *identity,
                                  const char   *model_id,
                                  JsonObject   *announcement,
                                  gint64        now);
JsonObject *llm_dht_record_parse (const guint8 *data,
                                  gsize         size,
                                  const char   *model_id,
                                  gint64        now,
                                  gboolean      check_time,
                                  GError      **error);
void        llm_dht_infohash_for_model (const char *model_id,
                                        guint8      infohash[20]);

#define LLM_TYPE_DHT_DISCOVERY (llm_dht_discovery_get_type ())

G_DECLARE_FINAL_TYPE (LlmDhtDiscovery, llm_dht_discovery, LLM, DHT_DISCOVERY, GObject)

LlmDhtDiscovery *llm_dht_discovery_new          (LlmIdentity     *identity,
                                                 const char      *bootstrap,
                                                 guint16          port);
gboolean         llm_dht_discovery_start        (LlmDhtDiscovery *self,
                                                 GError         **error);
void             llm_dht_discovery_stop         (LlmDhtDiscovery *self);
void             llm_dht_discovery_announce     (LlmDhtDiscovery *self,
                                                 const char      *model_id,
                                                 JsonObject      *announcement);
void             llm_dht_discovery_withdraw     (LlmDhtDiscovery *self,
                                                 const char      *model_id);
void             llm_dht_discovery_listen       (LlmDhtDiscovery *self,
                                                 const char      *model_id);
void             llm_dht_discovery_unlisten     (LlmDhtDiscovery *self,
                                                 const char      *model_id);
guint16          llm_dht_discovery_get_bound_port (LlmDhtDiscovery *self);
gboolean         llm_dht_discovery_get_running  (LlmDhtDiscovery *self);

G_END_DECLS

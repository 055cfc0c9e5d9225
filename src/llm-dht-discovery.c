/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-dht-discovery"

#include "llm-dht-discovery.h"

#include <errno.h>
#include <string.h>

#include <opendht/opendht_c.h>

/**
 * LlmDhtDiscovery:
 *
 * The internet half of discovery, on OpenDHT (libopendht-c). The node
 * announces, for each model it hosts, a record signed with its key under
 * the InfoHash of `"llm-node:" MODEL_ID`, and listens on the keys of the
 * models it wants, emitting #LlmDhtDiscovery::peer-announced for each valid
 * record of another node.
 *
 * A DHT value is a JSON envelope:
 *
 * |[
 * {"version": 1, "record": "<record JSON, as signed>", "signature": "<base64>"}
 * ]|
 *
 * and the record, kept as the exact string that was signed so that nobody
 * needs a canonical JSON form, is the announcement's members plus `model`,
 * `address`, `timestamp` and `expires` (Unix seconds). The signature is
 * Ed25519 by the node key over %LLM_DHT_RECORD_SIGNATURE_LABEL, a NUL, and
 * the record bytes. A reader drops (with a g_message() giving the reason)
 * a value that is not such an envelope, a record without `address`,
 * `model`, `timestamp`, `expires` or an `endpoints` array, a signature
 * that does not verify with the claimed address, a record for another
 * model, an expired record or one dated more than %LLM_DHT_RECORD_MAX_SKEW
 * seconds ahead, and one that claims to live longer than OpenDHT keeps a
 * value.
 *
 * OpenDHT forgets values after ten minutes, so each announcement is put
 * again, with a fresh timestamp, every #LlmDhtDiscovery:refresh-interval
 * seconds.
 *
 * Threads: OpenDHT calls back on its own thread. Those callbacks only copy
 * the value's bytes and attach an idle source to the main context captured
 * at construction; parsing, checking and signals happen there. (Not
 * g_main_context_invoke(): when the target is the global default context
 * and nobody is iterating it, that runs the function at once on the
 * calling thread — the DHT thread.)
 */

typedef struct
{
  GMainContext *context;
  GWeakRef      self;
  char         *model_id;
  int           cancelled;      /* atomic */
} ListenState;

typedef struct
{
  ListenState  *state;          /* owned (atomic rc box) */
  dht_infohash  hash;
  dht_op_token *token;
  GHashTable   *latest;         /* address → gint64 * timestamp of the newest record */
} Listen;

typedef struct
{
  char         *model_id;
  JsonObject   *announcement;
  dht_infohash  hash;
} Announce;

typedef struct
{
  ListenState *state;
  GBytes      *data;
  gboolean     expired;
} Delivery;

struct _LlmDhtDiscovery
{
  GObject parent_instance;

  LlmIdentity  *identity;
  GMainContext *context;
  char         *bootstrap;
  dht_runner   *runner;
  GHashTable   *listens;        /* model id → Listen */
  GHashTable   *announces;      /* model id → Announce */
  GSource      *refresh_source;

  guint   refresh_interval;
  guint16 port;
};

G_DEFINE_FINAL_TYPE (LlmDhtDiscovery, llm_dht_discovery, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_IDENTITY,
  PROP_BOOTSTRAP,
  PROP_PORT,
  PROP_REFRESH_INTERVAL,
  PROP_RUNNING,
  N_PROPERTIES
};

static GParamSpec *properties[N_PROPERTIES];

enum {
  PEER_ANNOUNCED,
  PEER_EXPIRED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_QUARK (llm-dht-discovery-error-quark, llm_dht_discovery_error)

/*
 * The record format
 */

void
llm_dht_infohash_for_model (const char *model_id,
                            guint8      infohash[20])
{
  g_autofree char *key = NULL;
  dht_infohash hash;

  g_return_if_fail (model_id != NULL);
  G_STATIC_ASSERT (sizeof hash.d == 20);

  key = g_strconcat ("llm-node:", model_id, NULL);
  dht_infohash_get_from_string (&hash, key);
  memcpy (infohash, hash.d, sizeof hash.d);
}

static GByteArray *
signed_bytes (const char *record)
{
  GByteArray *bytes = g_byte_array_new ();

  g_byte_array_append (bytes, (const guint8 *) LLM_DHT_RECORD_SIGNATURE_LABEL,
                       sizeof LLM_DHT_RECORD_SIGNATURE_LABEL); /* with its NUL */
  g_byte_array_append (bytes, (const guint8 *) record, strlen (record));
  return bytes;
}

static char *
object_to_string (JsonObject *object)
{
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);

  json_node_set_object (node, object);
  json_generator_set_root (generator, node);
  return json_generator_to_data (generator, NULL);
}

static void
copy_member (JsonObject  *object,
             const char  *name,
             JsonNode    *node,
             gpointer     user_data)
{
  json_object_set_member (user_data, name, json_node_copy (node));
}

/**
 * llm_dht_record_new:
 * @identity: the node that signs
 * @model_id: the model the record is for
 * @announcement: (nullable): what to publish (`endpoints`, `shards`…)
 * @now: the time, Unix seconds
 *
 * Returns: (transfer full): the DHT value: a signed envelope valid for
 *   %LLM_DHT_RECORD_LIFETIME seconds from @now.
 */
GBytes *
llm_dht_record_new (LlmIdentity *identity,
                    const char  *model_id,
                    JsonObject  *announcement,
                    gint64       now)
{
  g_autoptr (JsonObject) record = json_object_new ();
  g_autoptr (JsonObject) envelope = json_object_new ();
  g_autoptr (GByteArray) to_sign = NULL;
  g_autofree char *record_string = NULL;
  g_autofree char *signature64 = NULL;
  guint8 signature[LLM_ADDRESS_SIGNATURE_SIZE];
  char *envelope_string;

  g_return_val_if_fail (LLM_IS_IDENTITY (identity), NULL);
  g_return_val_if_fail (model_id != NULL, NULL);

  if (announcement != NULL)
    json_object_foreach_member (announcement, copy_member, record);
  if (!json_object_has_member (record, "endpoints"))
    json_object_set_array_member (record, "endpoints", json_array_new ());
  json_object_set_string_member (record, "model", model_id);
  json_object_set_string_member (record, "address", llm_identity_get_address (identity));
  json_object_set_int_member (record, "timestamp", now);
  json_object_set_int_member (record, "expires", now + LLM_DHT_RECORD_LIFETIME);

  record_string = object_to_string (record);
  to_sign = signed_bytes (record_string);
  llm_identity_sign (identity, to_sign->data, to_sign->len, signature);
  signature64 = g_base64_encode (signature, sizeof signature);

  json_object_set_int_member (envelope, "version", 1);
  json_object_set_string_member (envelope, "record", record_string);
  json_object_set_string_member (envelope, "signature", signature64);
  envelope_string = object_to_string (envelope);

  return g_bytes_new_take (envelope_string, strlen (envelope_string));
}

static gboolean
get_member (JsonObject   *object,
            const char   *name,
            GType         value_type,
            JsonNode    **node,
            GError      **error)
{
  JsonNode *member = json_object_get_member (object, name);

  if (member == NULL ||
      (value_type == JSON_TYPE_ARRAY && !JSON_NODE_HOLDS_ARRAY (member)) ||
      (value_type != JSON_TYPE_ARRAY &&
       (!JSON_NODE_HOLDS_VALUE (member) || json_node_get_value_type (member) != value_type)))
    {
      g_set_error (error, LLM_DHT_DISCOVERY_ERROR, LLM_DHT_DISCOVERY_ERROR_MISSING_FIELD,
                   "“%s” is missing or not a%s %s", name,
                   value_type == G_TYPE_INT64 ? "n" : "",
                   value_type == G_TYPE_STRING ? "string" :
                   value_type == G_TYPE_INT64 ? "integer" : "array");
      return FALSE;
    }

  *node = member;
  return TRUE;
}

static JsonObject *
parse_object (const char  *data,
              gssize       size,
              const char  *what,
              GError     **error)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) local_error = NULL;
  JsonNode *root;

  if (size < 0)
    size = strlen (data);
  if (!g_utf8_validate_len (data, size, NULL))
    {
      g_set_error (error, LLM_DHT_DISCOVERY_ERROR, LLM_DHT_DISCOVERY_ERROR_INVALID,
                   "The %s is not UTF-8", what);
      return NULL;
    }
  if (!json_parser_load_from_data (parser, data, size, &local_error))
    {
      g_set_error (error, LLM_DHT_DISCOVERY_ERROR, LLM_DHT_DISCOVERY_ERROR_INVALID,
                   "The %s is not JSON: %s", what, local_error->message);
      return NULL;
    }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, LLM_DHT_DISCOVERY_ERROR, LLM_DHT_DISCOVERY_ERROR_INVALID,
                   "The %s is not a JSON object", what);
      return NULL;
    }
  return json_object_ref (json_node_get_object (root));
}

/**
 * llm_dht_record_parse:
 * @data: a DHT value
 * @size: its size
 * @model_id: the model whose key it was found under
 * @now: the time, Unix seconds
 * @check_time: whether to refuse an expired record (not for one OpenDHT
 *   reports as expired)
 * @error: where the reason a record is refused goes
 *
 * Checks a DHT value: its form, its signature against the `.llm` address it
 * claims, its model and its dates.
 *
 * Returns: (transfer full): the record, or %NULL with @error set.
 */
JsonObject *
llm_dht_record_parse (const guint8  *data,
                      gsize          size,
                      const char    *model_id,
                      gint64         now,
                      gboolean       check_time,
                      GError       **error)
{
  g_autoptr (JsonObject) envelope = NULL;
  g_autoptr (JsonObject) record = NULL;
  g_autoptr (GByteArray) to_sign = NULL;
  g_autoptr (GError) local_error = NULL;
  g_autofree guint8 *signature = NULL;
  JsonNode *node;
  const char *record_string;
  const char *address;
  gint64 timestamp, expires;
  gsize signature_size = 0;

  g_return_val_if_fail (data != NULL || size == 0, NULL);
  g_return_val_if_fail (model_id != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (size > LLM_DHT_RECORD_MAX_SIZE)
    {
      g_set_error (error, LLM_DHT_DISCOVERY_ERROR, LLM_DHT_DISCOVERY_ERROR_INVALID,
                   "The value is %" G_GSIZE_FORMAT " bytes, more than %d",
                   size, LLM_DHT_RECORD_MAX_SIZE);
      return NULL;
    }
  if (size == 0)
    {
      g_set_error (error, LLM_DHT_DISCOVERY_ERROR, LLM_DHT_DISCOVERY_ERROR_INVALID,
                   "The value is empty");
      return NULL;
    }

  if ((envelope = parse_object ((const char *) data, size, "value", error)) == NULL)
    return NULL;

  if (!get_member (envelope, "version", G_TYPE_INT64, &node, error))
    return NULL;
  if (json_node_get_int (node) != 1)
    {
      g_set_error (error, LLM_DHT_DISCOVERY_ERROR, LLM_DHT_DISCOVERY_ERROR_INVALID,
                   "Unknown record version %" G_GINT64_FORMAT, json_node_get_int (node));
      return NULL;
    }
  if (!get_member (envelope, "record", G_TYPE_STRING, &node, error))
    return NULL;
  record_string = json_node_get_string (node);
  if (!get_member (envelope, "signature", G_TYPE_STRING, &node, error))
    return NULL;
  signature = g_base64_decode (json_node_get_string (node), &signature_size);
  if (signature_size != LLM_ADDRESS_SIGNATURE_SIZE)
    {
      g_set_error (error, LLM_DHT_DISCOVERY_ERROR, LLM_DHT_DISCOVERY_ERROR_FORGED,
                   "The signature is %" G_GSIZE_FORMAT " bytes, not %d",
                   signature_size, LLM_ADDRESS_SIGNATURE_SIZE);
      return NULL;
    }

  if ((record = parse_object (record_string, -1, "record", error)) == NULL)
    return NULL;
  if (!get_member (record, "address", G_TYPE_STRING, &node, error))
    return NULL;
  address = json_node_get_string (node);

  to_sign = signed_bytes (record_string);
  if (!llm_address_verify (address, to_sign->data, to_sign->len, signature, &local_error))
    {
      g_set_error (error, LLM_DHT_DISCOVERY_ERROR, LLM_DHT_DISCOVERY_ERROR_FORGED,
                   "The record is not signed by %.60s: %s", address, local_error->message);
      return NULL;
    }

  if (!get_member (record, "model", G_TYPE_STRING, &node, error))
    return NULL;
  if (g_strcmp0 (json_node_get_string (node), model_id) != 0)
    {
      g_set_error (error, LLM_DHT_DISCOVERY_ERROR, LLM_DHT_DISCOVERY_ERROR_WRONG_MODEL,
                   "The record of %s is for model “%s”, not “%s”",
                   address, json_node_get_string (node), model_id);
      return NULL;
    }
  if (!get_member (record, "endpoints", JSON_TYPE_ARRAY, &node, error) ||
      !get_member (record, "timestamp", G_TYPE_INT64, &node, error))
    return NULL;
  timestamp = json_node_get_int (node);
  if (!get_member (record, "expires", G_TYPE_INT64, &node, error))
    return NULL;
  expires = json_node_get_int (node);

  if (expires < timestamp || expires - timestamp > LLM_DHT_RECORD_LIFETIME)
    {
      g_set_error (error, LLM_DHT_DISCOVERY_ERROR, LLM_DHT_DISCOVERY_ERROR_STALE,
                   "The record of %s claims to live %" G_GINT64_FORMAT " s, not 0 to %d",
                   address, expires - timestamp, LLM_DHT_RECORD_LIFETIME);
      return NULL;
    }
  if (check_time && expires <= now)
    {
      g_set_error (error, LLM_DHT_DISCOVERY_ERROR, LLM_DHT_DISCOVERY_ERROR_STALE,
                   "The record of %s expired %" G_GINT64_FORMAT " s ago",
                   address, now - expires);
      return NULL;
    }
  if (check_time && timestamp > now + LLM_DHT_RECORD_MAX_SKEW)
    {
      g_set_error (error, LLM_DHT_DISCOVERY_ERROR, LLM_DHT_DISCOVERY_ERROR_STALE,
                   "The record of %s is dated %" G_GINT64_FORMAT " s in the future",
                   address, timestamp - now);
      return NULL;
    }

  return g_steal_pointer (&record);
}

/*
 * Listening: the DHT thread's side
 */

static void
listen_state_clear (gpointer data)
{
  ListenState *state = data;

  g_main_context_unref (state->context);
  g_weak_ref_clear (&state->self);
  g_free (state->model_id);
}

static void
listen_state_unref (ListenState *state)
{
  g_atomic_rc_box_release_full (state, listen_state_clear);
}

static void
delivery_free (gpointer data)
{
  Delivery *delivery = data;

  listen_state_unref (delivery->state);
  g_bytes_unref (delivery->data);
  g_free (delivery);
}

static gboolean deliver_cb (gpointer data);

/* Runs on the DHT thread: copy, hand over, touch nothing else. */
static bool
listen_value_cb (const dht_value *value,
                 bool             expired,
                 void            *user_data)
{
  ListenState *state = user_data;
  g_autoptr (GSource) source = NULL;
  dht_data_view view;
  Delivery *delivery;

  if (g_atomic_int_get (&state->cancelled))
    return false;

  view = dht_value_get_data (value);
  if (view.size > LLM_DHT_RECORD_MAX_SIZE)
    {
      g_message ("Dropped a DHT value of %" G_GSIZE_FORMAT " bytes for %s: too big",
                 view.size, state->model_id);
      return true;
    }

  delivery = g_new0 (Delivery, 1);
  delivery->state = g_atomic_rc_box_acquire (state);
  delivery->data = g_bytes_new (view.data, view.size);
  delivery->expired = expired;

  source = g_idle_source_new ();
  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_callback (source, deliver_cb, delivery, delivery_free);
  g_source_set_static_name (source, "[llm-dht-discovery] deliver");
  g_source_attach (source, state->context);

  return true;
}

/* Runs on the DHT thread when OpenDHT drops the listen callback. */
static void
listen_done_cb (void *user_data)
{
  listen_state_unref (user_data);
}

/*
 * Listening: the main thread's side
 */

static void
listen_free (gpointer data)
{
  Listen *listen = data;

  g_atomic_int_set (&listen->state->cancelled, TRUE);
  g_assert (listen->token == NULL);
  listen_state_unref (listen->state);
  g_hash_table_unref (listen->latest);
  g_free (listen);
}

static gboolean
deliver_cb (gpointer data)
{
  Delivery *delivery = data;
  ListenState *state = delivery->state;
  g_autoptr (LlmDhtDiscovery) self = NULL;
  g_autoptr (JsonObject) record = NULL;
  g_autoptr (GError) error = NULL;
  const char *address;
  gint64 timestamp;
  gint64 *latest;
  Listen *listen;

  if (g_atomic_int_get (&state->cancelled) ||
      (self = g_weak_ref_get (&state->self)) == NULL)
    return G_SOURCE_REMOVE;

  listen = g_hash_table_lookup (self->listens, state->model_id);
  if (listen == NULL || listen->state != state)
    return G_SOURCE_REMOVE;

  record = llm_dht_record_parse (g_bytes_get_data (delivery->data, NULL),
                                 g_bytes_get_size (delivery->data),
                                 state->model_id,
                                 g_get_real_time () / G_USEC_PER_SEC,
                                 !delivery->expired,
                                 &error);
  if (record == NULL)
    {
      g_message ("Dropped a DHT record for model “%s”: %s", state->model_id, error->message);
      return G_SOURCE_REMOVE;
    }

  address = json_object_get_string_member (record, "address");
  timestamp = json_object_get_int_member (record, "timestamp");
  latest = g_hash_table_lookup (listen->latest, address);

  if (g_str_equal (address, llm_identity_get_address (self->identity)))
    return G_SOURCE_REMOVE;

  if (delivery->expired)
    {
      /* Only the newest record of a node counts: an older one expiring
       * while a refresh is stored says nothing. */
      if (latest != NULL && timestamp >= *latest)
        {
          g_autofree char *owned = g_strdup (address);

          g_hash_table_remove (listen->latest, owned);
          g_debug ("%s's record for %s expired", owned, state->model_id);
          g_signal_emit (self, signals[PEER_EXPIRED], 0, owned, state->model_id);
        }
      return G_SOURCE_REMOVE;
    }

  if (latest != NULL && timestamp <= *latest)
    {
      g_debug ("Ignored an older or repeated record of %s for %s", address, state->model_id);
      return G_SOURCE_REMOVE;
    }

  g_hash_table_replace (listen->latest, g_strdup (address), g_memdup2 (&timestamp, sizeof timestamp));
  g_debug ("%s announced %s", address, state->model_id);
  g_signal_emit (self, signals[PEER_ANNOUNCED], 0, address, record);

  return G_SOURCE_REMOVE;
}

static void
listen_start (LlmDhtDiscovery *self,
              Listen          *listen)
{
  g_assert (self->runner != NULL);
  g_assert (listen->token == NULL);

  listen->token = dht_runner_listen (self->runner, &listen->hash,
                                     listen_value_cb, listen_done_cb,
                                     g_atomic_rc_box_acquire (listen->state));
}

static void
listen_cancel (LlmDhtDiscovery *self,
               Listen          *listen)
{
  g_atomic_int_set (&listen->state->cancelled, TRUE);
  if (listen->token == NULL)
    return;

  if (self->runner != NULL)
    dht_runner_cancel_listen (self->runner, &listen->hash, listen->token);
  dht_op_token_delete (listen->token);
  listen->token = NULL;
}

/*
 * Announcing
 */

static void
announce_free (gpointer data)
{
  Announce *announce = data;

  g_free (announce->model_id);
  g_clear_pointer (&announce->announcement, json_object_unref);
  g_free (announce);
}

/* Runs on the DHT thread. */
static void
put_done_cb (bool  ok,
             void *user_data)
{
  g_autofree char *model_id = user_data;

  if (ok)
    g_debug ("Announced model “%s” on the DHT", model_id);
  else
    g_message ("Could not announce model “%s” on the DHT (no reachable node yet?)", model_id);
}

static void
announce_put (LlmDhtDiscovery *self,
              Announce        *announce)
{
  g_autoptr (GBytes) bytes = NULL;
  dht_value *value;

  g_assert (self->runner != NULL);

  bytes = llm_dht_record_new (self->identity, announce->model_id, announce->announcement,
                              g_get_real_time () / G_USEC_PER_SEC);
  value = dht_value_new (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  dht_runner_put (self->runner, &announce->hash, value,
                  put_done_cb, g_strdup (announce->model_id), false);
  dht_value_unref (value);
}

static gboolean
refresh_cb (gpointer data)
{
  LlmDhtDiscovery *self = data;
  GHashTableIter iter;
  gpointer value;

  if (self->runner == NULL)
    return G_SOURCE_CONTINUE;

  g_hash_table_iter_init (&iter, self->announces);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    announce_put (self, value);

  return G_SOURCE_CONTINUE;
}

static void
refresh_source_restart (LlmDhtDiscovery *self)
{
  if (self->refresh_source != NULL)
    {
      g_source_destroy (self->refresh_source);
      g_clear_pointer (&self->refresh_source, g_source_unref);
    }
  if (self->runner == NULL)
    return;

  self->refresh_source = g_timeout_source_new_seconds (self->refresh_interval);
  g_source_set_callback (self->refresh_source, refresh_cb, self, NULL);
  g_source_set_static_name (self->refresh_source, "[llm-dht-discovery] refresh");
  g_source_attach (self->refresh_source, self->context);
}

/*
 * GObject
 */

static void
llm_dht_discovery_constructed (GObject *object)
{
  LlmDhtDiscovery *self = LLM_DHT_DISCOVERY (object);

  G_OBJECT_CLASS (llm_dht_discovery_parent_class)->constructed (object);

  g_assert (LLM_IS_IDENTITY (self->identity));
  if (self->bootstrap == NULL)
    self->bootstrap = g_strdup (LLM_DHT_DISCOVERY_DEFAULT_BOOTSTRAP);
}

static void
llm_dht_discovery_dispose (GObject *object)
{
  LlmDhtDiscovery *self = LLM_DHT_DISCOVERY (object);

  llm_dht_discovery_stop (self);
  g_hash_table_remove_all (self->listens);
  g_hash_table_remove_all (self->announces);

  G_OBJECT_CLASS (llm_dht_discovery_parent_class)->dispose (object);
}

static void
llm_dht_discovery_finalize (GObject *object)
{
  LlmDhtDiscovery *self = LLM_DHT_DISCOVERY (object);

  g_clear_object (&self->identity);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_clear_pointer (&self->bootstrap, g_free);
  g_clear_pointer (&self->listens, g_hash_table_unref);
  g_clear_pointer (&self->announces, g_hash_table_unref);

  G_OBJECT_CLASS (llm_dht_discovery_parent_class)->finalize (object);
}

static void
llm_dht_discovery_get_property (GObject    *object,
                                guint       prop_id,
                                GValue     *value,
                                GParamSpec *pspec)
{
  LlmDhtDiscovery *self = LLM_DHT_DISCOVERY (object);

  switch (prop_id)
    {
    case PROP_IDENTITY:
      g_value_set_object (value, self->identity);
      break;
    case PROP_BOOTSTRAP:
      g_value_set_string (value, self->bootstrap);
      break;
    case PROP_PORT:
      g_value_set_uint (value, self->port);
      break;
    case PROP_REFRESH_INTERVAL:
      g_value_set_uint (value, self->refresh_interval);
      break;
    case PROP_RUNNING:
      g_value_set_boolean (value, self->runner != NULL);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
llm_dht_discovery_set_property (GObject      *object,
                                guint         prop_id,
                                const GValue *value,
                                GParamSpec   *pspec)
{
  LlmDhtDiscovery *self = LLM_DHT_DISCOVERY (object);

  switch (prop_id)
    {
    case PROP_IDENTITY:
      self->identity = g_value_dup_object (value);
      break;
    case PROP_BOOTSTRAP:
      self->bootstrap = g_value_dup_string (value);
      break;
    case PROP_PORT:
      self->port = g_value_get_uint (value);
      break;
    case PROP_REFRESH_INTERVAL:
      if (self->refresh_interval != g_value_get_uint (value))
        {
          self->refresh_interval = g_value_get_uint (value);
          refresh_source_restart (self);
          g_object_notify_by_pspec (object, pspec);
        }
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
llm_dht_discovery_class_init (LlmDhtDiscoveryClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = llm_dht_discovery_constructed;
  object_class->dispose = llm_dht_discovery_dispose;
  object_class->finalize = llm_dht_discovery_finalize;
  object_class->get_property = llm_dht_discovery_get_property;
  object_class->set_property = llm_dht_discovery_set_property;

  /**
   * LlmDhtDiscovery:identity:
   *
   * The node's identity: it signs the records.
   */
  properties[PROP_IDENTITY] =
    g_param_spec_object ("identity", NULL, NULL,
                         LLM_TYPE_IDENTITY,
                         (G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
                          G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * LlmDhtDiscovery:bootstrap:
   *
   * The node to join the DHT through, `HOST:PORT` (port 4222 if left out).
   */
  properties[PROP_BOOTSTRAP] =
    g_param_spec_string ("bootstrap", NULL, NULL,
                         LLM_DHT_DISCOVERY_DEFAULT_BOOTSTRAP,
                         (G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
                          G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * LlmDhtDiscovery:port:
   *
   * The local UDP port of the DHT node; 0 for any.
   */
  properties[PROP_PORT] =
    g_param_spec_uint ("port", NULL, NULL,
                       0, G_MAXUINT16, 0,
                       (G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
                        G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * LlmDhtDiscovery:refresh-interval:
   *
   * Seconds between two puts of each announcement; less than
   * %LLM_DHT_RECORD_LIFETIME, so that a record never lapses.
   */
  properties[PROP_REFRESH_INTERVAL] =
    g_param_spec_uint ("refresh-interval", NULL, NULL,
                       1, LLM_DHT_RECORD_LIFETIME - 60, 240,
                       (G_PARAM_READWRITE | G_PARAM_CONSTRUCT |
                        G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * LlmDhtDiscovery:running:
   *
   * Whether the DHT node runs (between llm_dht_discovery_start() and
   * llm_dht_discovery_stop()).
   */
  properties[PROP_RUNNING] =
    g_param_spec_boolean ("running", NULL, NULL,
                          FALSE,
                          (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPERTIES, properties);

  /**
   * LlmDhtDiscovery::peer-announced:
   * @self: the discovery
   * @address: the `.llm` address of the node
   * @record: (type Json.Object): its checked record (`model`, `address`,
   *   `endpoints`, `timestamp`, `expires`, and whatever else it announced)
   *
   * Another node announced a model listened to. Emitted on the main context
   * of the thread that created @self, again at each refresh of the record.
   */
  signals[PEER_ANNOUNCED] =
    g_signal_new ("peer-announced",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, G_TYPE_STRING, JSON_TYPE_OBJECT);

  /**
   * LlmDhtDiscovery::peer-expired:
   * @self: the discovery
   * @address: the `.llm` address of the node
   * @model_id: the model
   *
   * OpenDHT reports that the newest record of @address for @model_id
   * expired: the node stopped refreshing it.
   */
  signals[PEER_EXPIRED] =
    g_signal_new ("peer-expired",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);
}

static void
llm_dht_discovery_init (LlmDhtDiscovery *self)
{
  self->context = g_main_context_ref_thread_default ();
  self->listens = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, listen_free);
  self->announces = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, announce_free);
}

/**
 * llm_dht_discovery_new:
 * @identity: the node's identity
 * @bootstrap: (nullable): `HOST:PORT` of a DHT node, or %NULL for
 *   %LLM_DHT_DISCOVERY_DEFAULT_BOOTSTRAP
 * @port: the local UDP port, 0 for any
 *
 * Signals are emitted on the thread-default main context of the caller.
 *
 * Returns: (transfer full): a discovery, stopped
 */
LlmDhtDiscovery *
llm_dht_discovery_new (LlmIdentity *identity,
                       const char  *bootstrap,
                       guint16      port)
{
  g_return_val_if_fail (LLM_IS_IDENTITY (identity), NULL);

  return g_object_new (LLM_TYPE_DHT_DISCOVERY,
                       "identity", identity,
                       "bootstrap", bootstrap,
                       "port", (guint) port,
                       NULL);
}

/**
 * llm_dht_discovery_start:
 * @self: a discovery
 * @error: where a bad bootstrap or a port in use goes
 *
 * Runs the DHT node on its own threads, joins the DHT through the bootstrap
 * node, and puts and listens what was asked so far.
 *
 * Returns: whether the node runs
 */
gboolean
llm_dht_discovery_start (LlmDhtDiscovery  *self,
                         GError          **error)
{
  g_autoptr (GSocketConnectable) bootstrap = NULL;
  g_autoptr (GError) local_error = NULL;
  g_autofree char *service = NULL;
  dht_runner_config config;
  GHashTableIter iter;
  gpointer value;
  int status;

  g_return_val_if_fail (LLM_IS_DHT_DISCOVERY (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (self->runner != NULL)
    return TRUE;

  bootstrap = g_network_address_parse (self->bootstrap, LLM_DHT_DISCOVERY_DEFAULT_PORT,
                                       &local_error);
  if (bootstrap == NULL)
    {
      g_set_error (error, LLM_DHT_DISCOVERY_ERROR, LLM_DHT_DISCOVERY_ERROR_BOOTSTRAP,
                   "The DHT bootstrap “%s” is not HOST:PORT: %s",
                   self->bootstrap, local_error->message);
      return FALSE;
    }

  /* No multicast peer discovery: whom we talk to is the bootstrap's
   * business and the DHT's, nothing else (and tests stay on loopback). */
  dht_runner_config_default (&config);
  config.threaded = true;
  config.peer_discovery = false;
  config.peer_publish = false;
  config.log = false;

  self->runner = dht_runner_new ();
  status = dht_runner_run_config (self->runner, self->port, &config);
  if (status != 0)
    {
      g_set_error (error, LLM_DHT_DISCOVERY_ERROR, LLM_DHT_DISCOVERY_ERROR_FAILED,
                   "Could not run the DHT node on UDP port %u: %s",
                   self->port, g_strerror (ABS (status)));
      g_clear_pointer (&self->runner, dht_runner_delete);
      return FALSE;
    }

  service = g_strdup_printf ("%u", g_network_address_get_port (G_NETWORK_ADDRESS (bootstrap)));
  dht_runner_bootstrap (self->runner,
                        g_network_address_get_hostname (G_NETWORK_ADDRESS (bootstrap)),
                        service);
  g_debug ("DHT node on UDP port %u, joining through %s",
           llm_dht_discovery_get_bound_port (self), self->bootstrap);

  g_hash_table_iter_init (&iter, self->listens);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    listen_start (self, value);
  refresh_cb (self);
  refresh_source_restart (self);

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RUNNING]);
  return TRUE;
}

/**
 * llm_dht_discovery_stop:
 * @self: a discovery
 *
 * Cancels the listens and the refreshes and joins the DHT node's threads.
 * Records already put live on in the DHT until they expire. What was
 * announced or listened to is kept for a next llm_dht_discovery_start().
 */
void
llm_dht_discovery_stop (LlmDhtDiscovery *self)
{
  GHashTableIter iter;
  gpointer key, value;

  g_return_if_fail (LLM_IS_DHT_DISCOVERY (self));

  if (self->runner == NULL)
    return;

  g_hash_table_iter_init (&iter, self->listens);
  while (g_hash_table_iter_next (&iter, &key, &value))
    {
      Listen *listen = value;

      listen_cancel (self, listen);
      /* A fresh state for a next start: the old one may still be in
       * deliveries on their way, which now drop themselves. */
      listen_state_unref (listen->state);
      listen->state = g_atomic_rc_box_new0 (ListenState);
      listen->state->context = g_main_context_ref (self->context);
      g_weak_ref_init (&listen->state->self, self);
      listen->state->model_id = g_strdup (key);
    }

  /* dht_runner_delete() joins the DHT threads. */
  g_clear_pointer (&self->runner, dht_runner_delete);
  refresh_source_restart (self);

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RUNNING]);
}

/**
 * llm_dht_discovery_announce:
 * @self: a discovery
 * @model_id: a model this node hosts
 * @announcement: what to publish: `endpoints` (an array of `HOST:PORT`),
 *   `shards`… Copied: later changes need another call.
 *
 * Puts a signed record for @model_id now (if running) and every
 * #LlmDhtDiscovery:refresh-interval seconds, replacing any previous
 * announcement for it.
 */
void
llm_dht_discovery_announce (LlmDhtDiscovery *self,
                            const char      *model_id,
                            JsonObject      *announcement)
{
  Announce *announce;

  g_return_if_fail (LLM_IS_DHT_DISCOVERY (self));
  g_return_if_fail (model_id != NULL);
  g_return_if_fail (announcement != NULL);

  announce = g_new0 (Announce, 1);
  announce->model_id = g_strdup (model_id);
  announce->announcement = json_object_new ();
  json_object_foreach_member (announcement, copy_member, announce->announcement);
  llm_dht_infohash_for_model (model_id, announce->hash.d);
  g_hash_table_replace (self->announces, g_strdup (model_id), announce);

  if (self->runner != NULL)
    announce_put (self, announce);
}

/**
 * llm_dht_discovery_withdraw:
 * @self: a discovery
 * @model_id: a model announced
 *
 * Stops refreshing the record of @model_id; it expires in the DHT.
 */
void
llm_dht_discovery_withdraw (LlmDhtDiscovery *self,
                            const char      *model_id)
{
  g_return_if_fail (LLM_IS_DHT_DISCOVERY (self));
  g_return_if_fail (model_id != NULL);

  g_hash_table_remove (self->announces, model_id);
}

/**
 * llm_dht_discovery_listen:
 * @self: a discovery
 * @model_id: a model to find hosts of
 *
 * Listens on @model_id's key: #LlmDhtDiscovery::peer-announced for each
 * valid record stored there or to come.
 */
void
llm_dht_discovery_listen (LlmDhtDiscovery *self,
                          const char      *model_id)
{
  Listen *listen;

  g_return_if_fail (LLM_IS_DHT_DISCOVERY (self));
  g_return_if_fail (model_id != NULL);

  if (g_hash_table_contains (self->listens, model_id))
    return;

  listen = g_new0 (Listen, 1);
  listen->state = g_atomic_rc_box_new0 (ListenState);
  listen->state->context = g_main_context_ref (self->context);
  g_weak_ref_init (&listen->state->self, self);
  listen->state->model_id = g_strdup (model_id);
  listen->latest = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  llm_dht_infohash_for_model (model_id, listen->hash.d);
  g_hash_table_insert (self->listens, g_strdup (model_id), listen);

  if (self->runner != NULL)
    listen_start (self, listen);
}

/**
 * llm_dht_discovery_unlisten:
 * @self: a discovery
 * @model_id: a model listened to
 *
 * Cancels the listen on @model_id's key.
 */
void
llm_dht_discovery_unlisten (LlmDhtDiscovery *self,
                            const char      *model_id)
{
  Listen *listen;

  g_return_if_fail (LLM_IS_DHT_DISCOVERY (self));
  g_return_if_fail (model_id != NULL);

  if ((listen = g_hash_table_lookup (self->listens, model_id)) == NULL)
    return;

  listen_cancel (self, listen);
  g_hash_table_remove (self->listens, model_id);
}

/**
 * llm_dht_discovery_get_bound_port:
 * @self: a discovery
 *
 * Returns: the UDP port the DHT node is bound to (IPv4), or 0 when stopped
 */
guint16
llm_dht_discovery_get_bound_port (LlmDhtDiscovery *self)
{
  g_return_val_if_fail (LLM_IS_DHT_DISCOVERY (self), 0);

  if (self->runner == NULL)
    return 0;
  return dht_runner_get_bound_port (self->runner, AF_INET);
}

gboolean
llm_dht_discovery_get_running (LlmDhtDiscovery *self)
{
  g_return_val_if_fail (LLM_IS_DHT_DISCOVERY (self), FALSE);

  return self->runner != NULL;
}

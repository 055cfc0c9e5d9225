/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-peer"

#include "llm-peer.h"

#include <string.h>

#include "llm-address.h"

/**
 * LlmPeer:
 *
 * Another node as seen from here: its `.llm` address (which never changes:
 * it is the key of the peer table), where to reach it, which layers of which
 * models it hosts, how fast it answers, when it was last heard of, and
 * whether this node is connected to it.
 *
 * A peer holds data only; LlmNode and discovery set it. Announcements from
 * the network go through llm_peer_update_from_json(), which checks them
 * strictly and changes nothing when they are bad. Every setter notifies its
 * property only when the value changes, so a UI may bind to any of them.
 *
 * Times: #LlmPeer:last-seen is in the monotonic clock of
 * g_get_monotonic_time() (µs), so that changes of the wall clock neither
 * expire peers nor keep them alive. To show it to people, show the age:
 * `now - last_seen`, as llm_peer_to_json() does.
 */
struct _LlmPeer
{
  GObject parent_instance;

  char *address;
  GStrv endpoints;
  GPtrArray *shards;    /* of LlmPeerShard, sorted by model id then first layer */

  double latency;
  double throughput;
  gint64 last_seen;
  LlmPeerState state;
  LlmPeerSource sources;
};

G_DEFINE_FINAL_TYPE (LlmPeer, llm_peer, G_TYPE_OBJECT)

G_DEFINE_QUARK (llm-peer-error-quark, llm_peer_error)

G_DEFINE_ENUM_TYPE (LlmPeerState, llm_peer_state,
  G_DEFINE_ENUM_VALUE (LLM_PEER_STATE_DISCOVERED, "discovered"),
  G_DEFINE_ENUM_VALUE (LLM_PEER_STATE_CONNECTING, "connecting"),
  G_DEFINE_ENUM_VALUE (LLM_PEER_STATE_CONNECTED, "connected"),
  G_DEFINE_ENUM_VALUE (LLM_PEER_STATE_GONE, "gone"))

G_DEFINE_FLAGS_TYPE (LlmPeerSource, llm_peer_source,
  G_DEFINE_ENUM_VALUE (LLM_PEER_SOURCE_NONE, "none"),
  G_DEFINE_ENUM_VALUE (LLM_PEER_SOURCE_LAN, "lan"),
  G_DEFINE_ENUM_VALUE (LLM_PEER_SOURCE_DHT, "dht"),
  G_DEFINE_ENUM_VALUE (LLM_PEER_SOURCE_MANUAL, "manual"))

G_DEFINE_BOXED_TYPE (LlmPeerShard, llm_peer_shard, llm_peer_shard_copy, llm_peer_shard_free)

enum {
  PROP_0,
  PROP_ADDRESS,
  PROP_ENDPOINTS,
  PROP_SHARDS,
  PROP_LATENCY,
  PROP_THROUGHPUT,
  PROP_LAST_SEEN,
  PROP_STATE,
  PROP_SOURCES,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

/* LlmPeerShard */

/**
 * llm_peer_shard_new:
 * @model_id: the model
 * @first_layer: the first layer
 * @last_layer: the last layer, inclusive, not below @first_layer
 *
 * Returns: (transfer full): a new #LlmPeerShard
 */
LlmPeerShard *
llm_peer_shard_new (const char *model_id,
                    guint       first_layer,
                    guint       last_layer)
{
  LlmPeerShard *shard;

  g_return_val_if_fail (model_id != NULL, NULL);
  g_return_val_if_fail (first_layer <= last_layer, NULL);

  shard = g_new0 (LlmPeerShard, 1);
  shard->model_id = g_strdup (model_id);
  shard->first_layer = first_layer;
  shard->last_layer = last_layer;

  return shard;
}

LlmPeerShard *
llm_peer_shard_copy (const LlmPeerShard *shard)
{
  g_return_val_if_fail (shard != NULL, NULL);

  return llm_peer_shard_new (shard->model_id, shard->first_layer, shard->last_layer);
}

void
llm_peer_shard_free (LlmPeerShard *shard)
{
  if (shard == NULL)
    return;

  g_free (shard->model_id);
  g_free (shard);
}

static int
shard_compare (gconstpointer a,
               gconstpointer b)
{
  const LlmPeerShard *sa = *(LlmPeerShard * const *) a;
  const LlmPeerShard *sb = *(LlmPeerShard * const *) b;
  int cmp = strcmp (sa->model_id, sb->model_id);

  if (cmp != 0)
    return cmp;
  if (sa->first_layer != sb->first_layer)
    return sa->first_layer < sb->first_layer ? -1 : 1;
  if (sa->last_layer != sb->last_layer)
    return sa->last_layer < sb->last_layer ? -1 : 1;

  return 0;
}

static GPtrArray *
shards_copy_sorted (GPtrArray *shards)
{
  GPtrArray *copy = g_ptr_array_new_with_free_func ((GDestroyNotify) llm_peer_shard_free);

  for (guint i = 0; shards != NULL && i < shards->len; i++)
    g_ptr_array_add (copy, llm_peer_shard_copy (g_ptr_array_index (shards, i)));
  g_ptr_array_sort (copy, shard_compare);

  return copy;
}

static gboolean
shards_equal (GPtrArray *a,
              GPtrArray *b)
{
  if (a->len != b->len)
    return FALSE;

  for (guint i = 0; i < a->len; i++)
    if (shard_compare (&g_ptr_array_index (a, i), &g_ptr_array_index (b, i)) != 0)
      return FALSE;

  return TRUE;
}

/* Validation of announcements */

/* A model id is an opaque name, but one that is printed and used as a key:
 * valid UTF-8, not empty, bounded, without control characters. */
static gboolean
model_id_is_valid (const char *model_id)
{
  gsize length = strlen (model_id);

  if (length == 0 || length > LLM_PEER_MAX_MODEL_ID_LENGTH)
    return FALSE;
  if (!g_utf8_validate (model_id, length, NULL))
    return FALSE;

  for (const char *p = model_id; *p != '\0'; p = g_utf8_next_char (p))
    if (g_unichar_iscntrl (g_utf8_get_char (p)))
      return FALSE;

  return TRUE;
}

/* HOST:PORT, with an IPv6 host in brackets, a port from 1 to 65535, and a
 * host that is an IP address or a DNS name (letters, digits, '-', '.'). */
static gboolean
endpoint_is_valid (const char *endpoint)
{
  g_autoptr(GSocketConnectable) parsed = NULL;
  const char *host;
  gsize length = strlen (endpoint);

  if (length == 0 || length > LLM_PEER_MAX_ENDPOINT_LENGTH)
    return FALSE;

  parsed = g_network_address_parse (endpoint, 0, NULL);
  if (parsed == NULL || g_network_address_get_port (G_NETWORK_ADDRESS (parsed)) == 0)
    return FALSE;

  host = g_network_address_get_hostname (G_NETWORK_ADDRESS (parsed));
  if (host == NULL || *host == '\0' || strlen (host) > 253)
    return FALSE;
  if (g_hostname_is_ip_address (host))
    return TRUE;

  for (const char *p = host; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '.')
      return FALSE;

  return TRUE;
}

static gboolean
get_layer (JsonObject  *object,
           const char  *member,
           guint        index,
           guint       *layer,
           GError     **error)
{
  JsonNode *node = json_object_get_member (object, member);
  gint64 value;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_INT64)
    {
      g_set_error (error, LLM_PEER_ERROR, LLM_PEER_ERROR_INVALID,
                   "Shard %u: “%s” must be an integer", index, member);
      return FALSE;
    }

  value = json_node_get_int (node);
  if (value < 0 || value > LLM_PEER_MAX_LAYER)
    {
      g_set_error (error, LLM_PEER_ERROR, LLM_PEER_ERROR_RANGE,
                   "Shard %u: layer “%s” is %" G_GINT64_FORMAT ", not within 0–%u",
                   index, member, value, LLM_PEER_MAX_LAYER);
      return FALSE;
    }

  *layer = (guint) value;
  return TRUE;
}

static GStrv
parse_endpoints (JsonObject  *announcement,
                 GError     **error)
{
  JsonNode *node = json_object_get_member (announcement, "endpoints");
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_autoptr(GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  JsonArray *array;
  guint n;

  if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node))
    {
      g_set_error_literal (error, LLM_PEER_ERROR, LLM_PEER_ERROR_INVALID,
                           "“endpoints” must be an array of HOST:PORT strings");
      return NULL;
    }

  array = json_node_get_array (node);
  n = json_array_get_length (array);
  if (n > LLM_PEER_MAX_ENDPOINTS)
    {
      g_set_error (error, LLM_PEER_ERROR, LLM_PEER_ERROR_TOO_MANY,
                   "%u endpoints, more than the %u allowed", n, LLM_PEER_MAX_ENDPOINTS);
      return NULL;
    }

  for (guint i = 0; i < n; i++)
    {
      JsonNode *element = json_array_get_element (array, i);
      const char *endpoint;

      if (!JSON_NODE_HOLDS_VALUE (element) || json_node_get_value_type (element) != G_TYPE_STRING)
        {
          g_set_error (error, LLM_PEER_ERROR, LLM_PEER_ERROR_INVALID,
                       "Endpoint %u is not a string", i);
          return NULL;
        }

      endpoint = json_node_get_string (element);
      if (!endpoint_is_valid (endpoint))
        {
          g_autofree char *escaped = g_strescape (endpoint, NULL);

          g_set_error (error, LLM_PEER_ERROR, LLM_PEER_ERROR_INVALID,
                       "Endpoint %u “%.64s” is not HOST:PORT", i, escaped);
          return NULL;
        }

      if (!g_hash_table_add (seen, (gpointer) endpoint))
        {
          g_set_error (error, LLM_PEER_ERROR, LLM_PEER_ERROR_TOO_MANY,
                       "Endpoint “%s” is listed twice", endpoint);
          return NULL;
        }

      g_strv_builder_add (builder, endpoint);
    }

  return g_strv_builder_end (builder);
}

static GPtrArray *
parse_shards (JsonObject  *announcement,
              GError     **error)
{
  JsonNode *node = json_object_get_member (announcement, "shards");
  g_autoptr(GPtrArray) shards = NULL;
  JsonArray *array;
  guint n;

  if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node))
    {
      g_set_error_literal (error, LLM_PEER_ERROR, LLM_PEER_ERROR_INVALID,
                           "“shards” must be an array of {model, first, last} objects");
      return NULL;
    }

  array = json_node_get_array (node);
  n = json_array_get_length (array);
  if (n > LLM_PEER_MAX_SHARDS)
    {
      g_set_error (error, LLM_PEER_ERROR, LLM_PEER_ERROR_TOO_MANY,
                   "%u shards, more than the %u allowed", n, LLM_PEER_MAX_SHARDS);
      return NULL;
    }

  shards = g_ptr_array_new_with_free_func ((GDestroyNotify) llm_peer_shard_free);

  for (guint i = 0; i < n; i++)
    {
      JsonNode *element = json_array_get_element (array, i);
      JsonObject *object;
      JsonNode *model;
      const char *model_id;
      guint first, last;

      if (!JSON_NODE_HOLDS_OBJECT (element))
        {
          g_set_error (error, LLM_PEER_ERROR, LLM_PEER_ERROR_INVALID,
                       "Shard %u is not an object", i);
          return NULL;
        }

      object = json_node_get_object (element);
      model = json_object_get_member (object, "model");
      if (model == NULL || !JSON_NODE_HOLDS_VALUE (model) ||
          json_node_get_value_type (model) != G_TYPE_STRING)
        {
          g_set_error (error, LLM_PEER_ERROR, LLM_PEER_ERROR_INVALID,
                       "Shard %u: “model” must be a string", i);
          return NULL;
        }

      model_id = json_node_get_string (model);
      if (!model_id_is_valid (model_id))
        {
          g_set_error (error, LLM_PEER_ERROR, LLM_PEER_ERROR_INVALID,
                       "Shard %u: the model id is empty, too long or not printable", i);
          return NULL;
        }

      if (!get_layer (object, "first", i, &first, error) ||
          !get_layer (object, "last", i, &last, error))
        return NULL;

      if (first > last)
        {
          g_set_error (error, LLM_PEER_ERROR, LLM_PEER_ERROR_RANGE,
                       "Shard %u: layers %u–%u are inverted", i, first, last);
          return NULL;
        }

      g_ptr_array_add (shards, llm_peer_shard_new (model_id, first, last));
    }

  /* Two ranges of one model that overlap are a peer counting itself twice
   * as a replica. */
  g_ptr_array_sort (shards, shard_compare);
  for (guint i = 1; i < shards->len; i++)
    {
      const LlmPeerShard *prev = g_ptr_array_index (shards, i - 1);
      const LlmPeerShard *next = g_ptr_array_index (shards, i);

      if (g_str_equal (prev->model_id, next->model_id) && next->first_layer <= prev->last_layer)
        {
          g_set_error (error, LLM_PEER_ERROR, LLM_PEER_ERROR_RANGE,
                       "Shards of “%s” overlap: layers %u–%u and %u–%u",
                       prev->model_id, prev->first_layer, prev->last_layer,
                       next->first_layer, next->last_layer);
          return NULL;
        }
    }

  return g_steal_pointer (&shards);
}

/* GObject */

static void
llm_peer_finalize (GObject *object)
{
  LlmPeer *self = LLM_PEER (object);

  g_clear_pointer (&self->address, g_free);
  g_clear_pointer (&self->endpoints, g_strfreev);
  g_clear_pointer (&self->shards, g_ptr_array_unref);

  G_OBJECT_CLASS (llm_peer_parent_class)->finalize (object);
}

static void
llm_peer_get_property (GObject    *object,
                       guint       prop_id,
                       GValue     *value,
                       GParamSpec *pspec)
{
  LlmPeer *self = LLM_PEER (object);

  switch (prop_id)
    {
    case PROP_ADDRESS:
      g_value_set_string (value, self->address);
      break;

    case PROP_ENDPOINTS:
      g_value_set_boxed (value, self->endpoints);
      break;

    case PROP_SHARDS:
      g_value_take_boxed (value, llm_peer_dup_shards (self));
      break;

    case PROP_LATENCY:
      g_value_set_double (value, self->latency);
      break;

    case PROP_THROUGHPUT:
      g_value_set_double (value, self->throughput);
      break;

    case PROP_LAST_SEEN:
      g_value_set_int64 (value, self->last_seen);
      break;

    case PROP_STATE:
      g_value_set_enum (value, self->state);
      break;

    case PROP_SOURCES:
      g_value_set_flags (value, self->sources);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
llm_peer_set_property (GObject      *object,
                       guint         prop_id,
                       const GValue *value,
                       GParamSpec   *pspec)
{
  LlmPeer *self = LLM_PEER (object);

  switch (prop_id)
    {
    case PROP_ADDRESS:
      /* Construct-only: checked in llm_peer_constructed(). */
      self->address = g_value_dup_string (value);
      break;

    case PROP_ENDPOINTS:
      llm_peer_set_endpoints (self, g_value_get_boxed (value));
      break;

    case PROP_SHARDS:
      llm_peer_set_shards (self, g_value_get_boxed (value));
      break;

    case PROP_LATENCY:
      llm_peer_set_latency (self, g_value_get_double (value));
      break;

    case PROP_THROUGHPUT:
      llm_peer_set_throughput (self, g_value_get_double (value));
      break;

    case PROP_LAST_SEEN:
      llm_peer_set_last_seen (self, g_value_get_int64 (value));
      break;

    case PROP_STATE:
      llm_peer_set_state (self, g_value_get_enum (value));
      break;

    case PROP_SOURCES:
      llm_peer_set_sources (self, g_value_get_flags (value));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
llm_peer_constructed (GObject *object)
{
  LlmPeer *self = LLM_PEER (object);

  G_OBJECT_CLASS (llm_peer_parent_class)->constructed (object);

  /* A peer without a valid address is a programming error: whoever makes
   * one has checked the address (llm_address_parse()) or had it proven. */
  if (!llm_address_is_valid (self->address))
    g_critical ("LlmPeer: “%s” is not a valid .llm address",
                self->address ? self->address : "(null)");
}

static void
llm_peer_class_init (LlmPeerClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = llm_peer_constructed;
  object_class->finalize = llm_peer_finalize;
  object_class->get_property = llm_peer_get_property;
  object_class->set_property = llm_peer_set_property;

  /**
   * LlmPeer:address:
   *
   * The peer's `.llm` address: its identity, and its key in the peer table.
   */
  properties[PROP_ADDRESS] =
    g_param_spec_string ("address", NULL, NULL,
                         NULL,
                         (G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
                          G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmPeer:endpoints:
   *
   * Where the peer can be dialled, as `HOST:PORT` strings (`[IPV6]:PORT`
   * for IPv6), in the order it announced them. Never %NULL.
   */
  properties[PROP_ENDPOINTS] =
    g_param_spec_boxed ("endpoints", NULL, NULL,
                        G_TYPE_STRV,
                        (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmPeer:shards:
   *
   * The layer ranges the peer hosts: a #GPtrArray of #LlmPeerShard, sorted
   * by model id then first layer. Reading it gives a copy; setting it
   * replaces the whole set, and notifies once.
   */
  properties[PROP_SHARDS] =
    g_param_spec_boxed ("shards", NULL, NULL,
                        G_TYPE_PTR_ARRAY,
                        (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmPeer:latency:
   *
   * The round-trip time to the peer in milliseconds, as its connection's
   * keepalives measure it (#LlmConnection:round-trip-time / 1000), or -1
   * while unknown.
   */
  properties[PROP_LATENCY] =
    g_param_spec_double ("latency", NULL, NULL,
                         -1.0, G_MAXDOUBLE, -1.0,
                         (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmPeer:throughput:
   *
   * How fast the peer has moved data for this node, in bytes per second,
   * or 0 while unmeasured.
   */
  properties[PROP_THROUGHPUT] =
    g_param_spec_double ("throughput", NULL, NULL,
                         0.0, G_MAXDOUBLE, 0.0,
                         (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmPeer:last-seen:
   *
   * When the peer was last heard of (an announcement, a message, a
   * keepalive), in g_get_monotonic_time() µs; 0 means never.
   * llm_peer_list_expire() compares it with its `now`.
   */
  properties[PROP_LAST_SEEN] =
    g_param_spec_int64 ("last-seen", NULL, NULL,
                        0, G_MAXINT64, 0,
                        (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmPeer:state:
   *
   * Whether this node is connected to the peer.
   */
  properties[PROP_STATE] =
    g_param_spec_enum ("state", NULL, NULL,
                       LLM_TYPE_PEER_STATE,
                       LLM_PEER_STATE_DISCOVERED,
                       (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmPeer:sources:
   *
   * How this node learnt of the peer (LAN, DHT, by hand), as flags.
   */
  properties[PROP_SOURCES] =
    g_param_spec_flags ("sources", NULL, NULL,
                        LLM_TYPE_PEER_SOURCE,
                        LLM_PEER_SOURCE_NONE,
                        (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
llm_peer_init (LlmPeer *self)
{
  self->endpoints = g_new0 (char *, 1);
  self->shards = g_ptr_array_new_with_free_func ((GDestroyNotify) llm_peer_shard_free);
  self->latency = -1.0;
}

/**
 * llm_peer_new:
 * @address: the peer's `.llm` address, valid (llm_address_is_valid())
 *
 * Returns: (transfer full): a new peer that hosts nothing yet, in state
 *   %LLM_PEER_STATE_DISCOVERED
 */
LlmPeer *
llm_peer_new (const char *address)
{
  g_return_val_if_fail (llm_address_is_valid (address), NULL);

  return g_object_new (LLM_TYPE_PEER, "address", address, NULL);
}

/**
 * llm_peer_update_from_json:
 * @self: a #LlmPeer
 * @announcement: the peer's announcement (see llm-peer.h)
 * @error: return location for a #LlmPeerError
 *
 * Checks @announcement strictly, then sets #LlmPeer:endpoints and
 * #LlmPeer:shards from it (each notified once, and only if changed). The
 * announcement must name this peer's address: whoever relays it (the
 * connection it came on, the signed DHT record) has proven that address,
 * so an announcement that claims another is refused.
 *
 * It does not touch #LlmPeer:last-seen; the caller, which knows when and
 * how the announcement came, sets it.
 *
 * Returns: %TRUE if the peer was updated; %FALSE, with @error set and the
 *   peer unchanged, if @announcement is invalid
 */
gboolean
llm_peer_update_from_json (LlmPeer     *self,
                           JsonObject  *announcement,
                           GError     **error)
{
  JsonNode *node;
  const char *address;
  g_auto(GStrv) endpoints = NULL;
  g_autoptr(GPtrArray) shards = NULL;

  g_return_val_if_fail (LLM_IS_PEER (self), FALSE);
  g_return_val_if_fail (announcement != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  node = json_object_get_member (announcement, "address");
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING)
    {
      g_set_error_literal (error, LLM_PEER_ERROR, LLM_PEER_ERROR_INVALID,
                           "“address” must be a string");
      return FALSE;
    }

  address = json_node_get_string (node);
  if (!llm_address_is_valid (address))
    {
      g_autofree char *escaped = g_strescape (address, NULL);

      g_set_error (error, LLM_PEER_ERROR, LLM_PEER_ERROR_INVALID,
                   "“%.64s” is not a valid .llm address", escaped);
      return FALSE;
    }

  if (!g_str_equal (address, self->address))
    {
      g_set_error (error, LLM_PEER_ERROR, LLM_PEER_ERROR_ADDRESS_MISMATCH,
                   "Peer %s announced itself as %s", self->address, address);
      return FALSE;
    }

  if ((endpoints = parse_endpoints (announcement, error)) == NULL)
    return FALSE;

  if ((shards = parse_shards (announcement, error)) == NULL)
    return FALSE;

  g_object_freeze_notify (G_OBJECT (self));
  llm_peer_set_endpoints (self, (const char * const *) endpoints);
  llm_peer_set_shards (self, shards);
  g_object_thaw_notify (G_OBJECT (self));

  return TRUE;
}

/**
 * llm_peer_to_json:
 * @self: a #LlmPeer
 * @now: the current g_get_monotonic_time(), to give the age of last-seen
 *
 * Describes the peer for `llm-node peers --json`: the members of an
 * announcement (`address`, `endpoints`, `shards`), then `state`,
 * `sources` (an array of "lan", "dht", "manual"), `latency_ms` (omitted
 * while unknown), `throughput` (bytes/s), and `last_seen_ms_ago` (omitted
 * if never seen).
 *
 * Returns: (transfer full): a new #JsonObject
 */
JsonObject *
llm_peer_to_json (LlmPeer *self,
                  gint64   now)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GFlagsClass) flags_class = NULL;
  GEnumClass *enum_class;

  g_return_val_if_fail (LLM_IS_PEER (self), NULL);

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "address");
  json_builder_add_string_value (builder, self->address);

  json_builder_set_member_name (builder, "endpoints");
  json_builder_begin_array (builder);
  for (guint i = 0; self->endpoints[i] != NULL; i++)
    json_builder_add_string_value (builder, self->endpoints[i]);
  json_builder_end_array (builder);

  json_builder_set_member_name (builder, "shards");
  json_builder_begin_array (builder);
  for (guint i = 0; i < self->shards->len; i++)
    {
      const LlmPeerShard *shard = g_ptr_array_index (self->shards, i);

      json_builder_begin_object (builder);
      json_builder_set_member_name (builder, "model");
      json_builder_add_string_value (builder, shard->model_id);
      json_builder_set_member_name (builder, "first");
      json_builder_add_int_value (builder, shard->first_layer);
      json_builder_set_member_name (builder, "last");
      json_builder_add_int_value (builder, shard->last_layer);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);

  enum_class = g_type_class_ref (LLM_TYPE_PEER_STATE);
  json_builder_set_member_name (builder, "state");
  json_builder_add_string_value (builder,
                                 g_enum_get_value (enum_class, self->state)->value_nick);
  g_type_class_unref (enum_class);

  flags_class = g_type_class_ref (LLM_TYPE_PEER_SOURCE);
  json_builder_set_member_name (builder, "sources");
  json_builder_begin_array (builder);
  for (guint i = 0; i < flags_class->n_values; i++)
    {
      const GFlagsValue *value = &flags_class->values[i];

      if (value->value != 0 && (self->sources & value->value) == value->value)
        json_builder_add_string_value (builder, value->value_nick);
    }
  json_builder_end_array (builder);

  if (self->latency >= 0.0)
    {
      json_builder_set_member_name (builder, "latency_ms");
      json_builder_add_double_value (builder, self->latency);
    }

  json_builder_set_member_name (builder, "throughput");
  json_builder_add_double_value (builder, self->throughput);

  if (self->last_seen > 0)
    {
      json_builder_set_member_name (builder, "last_seen_ms_ago");
      json_builder_add_int_value (builder, MAX (0, now - self->last_seen) / 1000);
    }

  json_builder_end_object (builder);

  root = json_builder_get_root (builder);

  return json_object_ref (json_node_get_object (root));
}

const char *
llm_peer_get_address (LlmPeer *self)
{
  g_return_val_if_fail (LLM_IS_PEER (self), NULL);

  return self->address;
}

/**
 * llm_peer_get_endpoints:
 * @self: a #LlmPeer
 *
 * Returns: (transfer none): the peer's endpoints; never %NULL
 */
const char * const *
llm_peer_get_endpoints (LlmPeer *self)
{
  g_return_val_if_fail (LLM_IS_PEER (self), NULL);

  return (const char * const *) self->endpoints;
}

/**
 * llm_peer_set_endpoints:
 * @self: a #LlmPeer
 * @endpoints: (nullable): `HOST:PORT` strings; %NULL is none
 *
 * Sets #LlmPeer:endpoints. Trusted input: announcements go through
 * llm_peer_update_from_json(), which checks them.
 */
void
llm_peer_set_endpoints (LlmPeer            *self,
                        const char * const *endpoints)
{
  const char * const none[] = { NULL };

  g_return_if_fail (LLM_IS_PEER (self));

  if (endpoints == NULL)
    endpoints = none;

  if (g_strv_equal ((const char * const *) self->endpoints, endpoints))
    return;

  g_strfreev (self->endpoints);
  self->endpoints = g_strdupv ((char **) endpoints);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ENDPOINTS]);
}

/**
 * llm_peer_dup_shards:
 * @self: a #LlmPeer
 *
 * Returns: (transfer full) (element-type LlmPeerShard): a copy of the
 *   peer's shards, sorted by model id then first layer
 */
GPtrArray *
llm_peer_dup_shards (LlmPeer *self)
{
  g_return_val_if_fail (LLM_IS_PEER (self), NULL);

  return shards_copy_sorted (self->shards);
}

/**
 * llm_peer_set_shards:
 * @self: a #LlmPeer
 * @shards: (nullable) (element-type LlmPeerShard): the new set; %NULL is none
 *
 * Replaces the peer's shards with a copy of @shards and notifies
 * #LlmPeer:shards once, if the set changed.
 */
void
llm_peer_set_shards (LlmPeer   *self,
                     GPtrArray *shards)
{
  g_autoptr(GPtrArray) copy = NULL;

  g_return_if_fail (LLM_IS_PEER (self));

  copy = shards_copy_sorted (shards);
  if (shards_equal (self->shards, copy))
    return;

  g_ptr_array_unref (self->shards);
  self->shards = g_steal_pointer (&copy);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SHARDS]);
}

/**
 * llm_peer_hosts_layer:
 * @self: a #LlmPeer
 * @model_id: a model id
 * @layer: a layer, 0-based
 *
 * Returns: whether one of the peer's shards of @model_id holds @layer
 */
gboolean
llm_peer_hosts_layer (LlmPeer    *self,
                      const char *model_id,
                      guint       layer)
{
  g_return_val_if_fail (LLM_IS_PEER (self), FALSE);
  g_return_val_if_fail (model_id != NULL, FALSE);

  for (guint i = 0; i < self->shards->len; i++)
    {
      const LlmPeerShard *shard = g_ptr_array_index (self->shards, i);

      if (g_str_equal (shard->model_id, model_id) &&
          shard->first_layer <= layer && layer <= shard->last_layer)
        return TRUE;
    }

  return FALSE;
}

double
llm_peer_get_latency (LlmPeer *self)
{
  g_return_val_if_fail (LLM_IS_PEER (self), -1.0);

  return self->latency;
}

/**
 * llm_peer_set_latency:
 * @self: a #LlmPeer
 * @latency: the round-trip time in ms, or -1 for unknown
 */
void
llm_peer_set_latency (LlmPeer *self,
                      double   latency)
{
  g_return_if_fail (LLM_IS_PEER (self));
  g_return_if_fail (latency >= 0.0 || latency == -1.0);

  if (self->latency == latency)
    return;

  self->latency = latency;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LATENCY]);
}

double
llm_peer_get_throughput (LlmPeer *self)
{
  g_return_val_if_fail (LLM_IS_PEER (self), 0.0);

  return self->throughput;
}

/**
 * llm_peer_set_throughput:
 * @self: a #LlmPeer
 * @throughput: bytes per second, or 0 for unmeasured
 */
void
llm_peer_set_throughput (LlmPeer *self,
                         double   throughput)
{
  g_return_if_fail (LLM_IS_PEER (self));
  g_return_if_fail (throughput >= 0.0);

  if (self->throughput == throughput)
    return;

  self->throughput = throughput;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_THROUGHPUT]);
}

gint64
llm_peer_get_last_seen (LlmPeer *self)
{
  g_return_val_if_fail (LLM_IS_PEER (self), 0);

  return self->last_seen;
}

/**
 * llm_peer_set_last_seen:
 * @self: a #LlmPeer
 * @last_seen: a g_get_monotonic_time() in µs
 */
void
llm_peer_set_last_seen (LlmPeer *self,
                        gint64   last_seen)
{
  g_return_if_fail (LLM_IS_PEER (self));
  g_return_if_fail (last_seen >= 0);

  if (self->last_seen == last_seen)
    return;

  self->last_seen = last_seen;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_LAST_SEEN]);
}

LlmPeerState
llm_peer_get_state (LlmPeer *self)
{
  g_return_val_if_fail (LLM_IS_PEER (self), LLM_PEER_STATE_GONE);

  return self->state;
}

void
llm_peer_set_state (LlmPeer      *self,
                    LlmPeerState  state)
{
  g_return_if_fail (LLM_IS_PEER (self));
  g_return_if_fail (state <= LLM_PEER_STATE_GONE);

  if (self->state == state)
    return;

  self->state = state;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
}

LlmPeerSource
llm_peer_get_sources (LlmPeer *self)
{
  g_return_val_if_fail (LLM_IS_PEER (self), LLM_PEER_SOURCE_NONE);

  return self->sources;
}

void
llm_peer_set_sources (LlmPeer       *self,
                      LlmPeerSource  sources)
{
  g_return_if_fail (LLM_IS_PEER (self));

  if (self->sources == sources)
    return;

  self->sources = sources;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SOURCES]);
}

/**
 * llm_peer_add_source:
 * @self: a #LlmPeer
 * @source: a way of finding peers
 *
 * Adds @source to #LlmPeer:sources.
 */
void
llm_peer_add_source (LlmPeer       *self,
                     LlmPeerSource  source)
{
  g_return_if_fail (LLM_IS_PEER (self));

  llm_peer_set_sources (self, self->sources | source);
}

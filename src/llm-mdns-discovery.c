/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-mdns-discovery"

#include "llm-mdns-discovery.h"

#include <string.h>

#include <avahi-client/client.h>
#include <avahi-client/lookup.h>
#include <avahi-client/publish.h>
#include <avahi-common/error.h>
#include <avahi-glib/glib-watch.h>

#include "llm-address.h"
#include "llm-peer.h"

/**
 * LlmMdnsDiscovery:
 *
 * Publishes this node as a DNS-SD service of type %LLM_MDNS_SERVICE_TYPE
 * and browses for the others, through the Avahi daemon (libavahi-client,
 * driven by the GLib main context through libavahi-glib).
 *
 * The service's instance name is the node's address without `.llm` (56
 * characters: unique, and within DNS-SD's 63). Its TXT records:
 *
 * |[
 * txtvers=1
 * address=<the .llm address>
 * shards=stories260K:0-4,org/model:10-19
 * ]|
 *
 * (a TXT string holds 255 bytes: shards that do not fit are left out; the
 * announcement sent on the connection has them all).
 *
 * The Avahi daemon may be absent, or come and go: the client waits for it
 * (AVAHI_CLIENT_NO_FAIL), publishes and browses whenever it is there, and
 * says once in the log when it is not.
 */

#define TXT_VERSION "1"

struct _LlmMdnsDiscovery
{
  GObject parent_instance;

  char *own_address;
  char *service_name;

  AvahiGLibPoll *poll;
  AvahiClient *client;
  AvahiEntryGroup *group;
  AvahiServiceBrowser *browser;
  GHashTable *resolvers;        /* AvahiServiceResolver * set */

  /* What to publish: set by llm_mdns_discovery_publish(), published when
   * the daemon is running. */
  guint16 port;
  GPtrArray *txt;

  gboolean available;
  gboolean published;
  gboolean said_unavailable;
};

enum
{
  PROP_0,
  PROP_OWN_ADDRESS,
  PROP_AVAILABLE,
  PROP_PUBLISHED,
  N_PROPS
};

enum
{
  PEER_FOUND,
  PEER_LOST,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (LlmMdnsDiscovery, llm_mdns_discovery, G_TYPE_OBJECT)

static void start_client (LlmMdnsDiscovery *self);

/**
 * llm_mdns_txt_from_announcement:
 * @announcement: this node's announcement (see #LlmPeer)
 *
 * Returns: (transfer full) (element-type utf8): the TXT strings
 */
GPtrArray *
llm_mdns_txt_from_announcement (JsonObject *announcement)
{
  GPtrArray *txt = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GString) shards = g_string_new ("shards=");
  JsonArray *array = json_object_get_array_member (announcement, "shards");

  g_ptr_array_add (txt, g_strdup ("txtvers=" TXT_VERSION));
  g_ptr_array_add (txt, g_strdup_printf ("address=%s",
                                         json_object_get_string_member (announcement, "address")));

  for (guint i = 0; array != NULL && i < json_array_get_length (array); i++)
    {
      JsonObject *shard = json_array_get_object_element (array, i);
      g_autofree char *item =
        g_strdup_printf ("%s%s:%" G_GINT64_FORMAT "-%" G_GINT64_FORMAT,
                         i > 0 ? "," : "",
                         json_object_get_string_member (shard, "model"),
                         json_object_get_int_member (shard, "first"),
                         json_object_get_int_member (shard, "last"));

      if (shards->len + strlen (item) > 255)
        break;
      g_string_append (shards, item);
    }
  g_ptr_array_add (txt, g_string_free (g_steal_pointer (&shards), FALSE));

  return txt;
}

static const char *
txt_lookup (const char * const *txt,
            const char         *key)
{
  gsize key_length = strlen (key);

  for (guint i = 0; txt[i] != NULL; i++)
    if (strncmp (txt[i], key, key_length) == 0 && txt[i][key_length] == '=')
      return txt[i] + key_length + 1;
  return NULL;
}

/* "model:first-last"; the model id is free of ',' (split before). */
static gboolean
parse_shard (const char  *text,
             JsonBuilder *builder)
{
  const char *colon = strrchr (text, ':');
  g_autofree char *model_id = NULL;
  g_auto(GStrv) bounds = NULL;
  guint64 first, last;

  if (colon == NULL || colon == text)
    return FALSE;
  bounds = g_strsplit (colon + 1, "-", 3);
  if (g_strv_length (bounds) != 2 ||
      !g_ascii_string_to_unsigned (bounds[0], 10, 0, LLM_PEER_MAX_LAYER, &first, NULL) ||
      !g_ascii_string_to_unsigned (bounds[1], 10, 0, LLM_PEER_MAX_LAYER, &last, NULL))
    return FALSE;
  model_id = g_strndup (text, colon - text);

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "model");
  json_builder_add_string_value (builder, model_id);
  json_builder_set_member_name (builder, "first");
  json_builder_add_int_value (builder, first);
  json_builder_set_member_name (builder, "last");
  json_builder_add_int_value (builder, last);
  json_builder_end_object (builder);
  return TRUE;
}

/**
 * llm_mdns_txt_to_announcement:
 * @txt: (array zero-terminated=1): a service's TXT strings
 * @endpoint: where the service is, `HOST:PORT`
 * @error: the reason the records are not an llm-node announcement
 *
 * Returns: (transfer full): the announcement they make (still to be checked
 *   by llm_peer_update_from_json(), and unauthenticated), or %NULL
 */
JsonObject *
llm_mdns_txt_to_announcement (const char * const  *txt,
                              const char          *endpoint,
                              GError             **error)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_auto(GStrv) shards = NULL;
  const char *version = txt_lookup (txt, "txtvers");
  const char *address = txt_lookup (txt, "address");
  const char *shards_text = txt_lookup (txt, "shards");

  if (g_strcmp0 (version, TXT_VERSION) != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                   "TXT record version “%s” is not " TXT_VERSION, version ? version : "");
      return NULL;
    }
  if (address == NULL || !llm_address_is_valid (address))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "The TXT records have no valid “address”");
      return NULL;
    }

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "address");
  json_builder_add_string_value (builder, address);
  json_builder_set_member_name (builder, "endpoints");
  json_builder_begin_array (builder);
  json_builder_add_string_value (builder, endpoint);
  json_builder_end_array (builder);
  json_builder_set_member_name (builder, "shards");
  json_builder_begin_array (builder);
  shards = g_strsplit (shards_text != NULL ? shards_text : "", ",", LLM_PEER_MAX_SHARDS + 1);
  for (guint i = 0; shards[i] != NULL; i++)
    if (*shards[i] != '\0' && !parse_shard (shards[i], builder))
      {
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                     "The TXT shard “%s” is not MODEL:FIRST-LAST", shards[i]);
        return NULL;
      }
  json_builder_end_array (builder);
  json_builder_end_object (builder);

  return json_node_dup_object (json_builder_get_root (builder));
}

static void
set_available (LlmMdnsDiscovery *self,
               gboolean          available)
{
  if (self->available == available)
    return;
  self->available = available;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_AVAILABLE]);
}

static void
set_published (LlmMdnsDiscovery *self,
               gboolean          published)
{
  if (self->published == published)
    return;
  self->published = published;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PUBLISHED]);
}

static void
group_cb (AvahiEntryGroup      *group,
          AvahiEntryGroupState  state,
          gpointer              user_data)
{
  LlmMdnsDiscovery *self = user_data;

  switch (state)
    {
    case AVAHI_ENTRY_GROUP_ESTABLISHED:
      g_debug ("Published %s.%s", self->service_name, LLM_MDNS_SERVICE_TYPE);
      set_published (self, TRUE);
      break;
    case AVAHI_ENTRY_GROUP_COLLISION:
      /* The name is this node's address: only a copy of this node (same
       * data dir) or a liar can hold it. Renaming would not help peers,
       * who dial the address. */
      g_warning ("Another service on the LAN is named %s: this node is not published there",
                 self->service_name);
      set_published (self, FALSE);
      break;
    case AVAHI_ENTRY_GROUP_FAILURE:
      g_warning ("Could not publish on the LAN: %s",
                 avahi_strerror (avahi_client_errno (avahi_entry_group_get_client (group))));
      set_published (self, FALSE);
      break;
    case AVAHI_ENTRY_GROUP_UNCOMMITED:
    case AVAHI_ENTRY_GROUP_REGISTERING:
    default:
      break;
    }
}

static void
publish_now (LlmMdnsDiscovery *self)
{
  AvahiStringList *list;
  int status;

  if (!self->available || self->txt == NULL)
    return;

  if (self->group == NULL)
    self->group = avahi_entry_group_new (self->client, group_cb, self);
  else
    avahi_entry_group_reset (self->group);
  if (self->group == NULL)
    {
      g_warning ("Could not publish on the LAN: %s",
                 avahi_strerror (avahi_client_errno (self->client)));
      return;
    }

  list = avahi_string_list_new_from_array ((const char **) self->txt->pdata, self->txt->len);
  status = avahi_entry_group_add_service_strlst (self->group, AVAHI_IF_UNSPEC, AVAHI_PROTO_UNSPEC,
                                                 0, self->service_name, LLM_MDNS_SERVICE_TYPE,
                                                 NULL, NULL, self->port, list);
  avahi_string_list_free (list);
  if (status >= 0)
    status = avahi_entry_group_commit (self->group);
  if (status < 0)
    {
      g_warning ("Could not publish %s on the LAN: %s", self->service_name,
                 avahi_strerror (status));
      set_published (self, FALSE);
    }
}

static char **
strv_from_txt (AvahiStringList *list)
{
  GPtrArray *strings = g_ptr_array_new ();

  for (; list != NULL; list = avahi_string_list_get_next (list))
    g_ptr_array_add (strings, g_strndup ((const char *) avahi_string_list_get_text (list),
                                         avahi_string_list_get_size (list)));
  g_ptr_array_add (strings, NULL);
  return (char **) g_ptr_array_free (strings, FALSE);
}

static void
resolver_cb (AvahiServiceResolver   *resolver,
             AvahiIfIndex            interface,
             AvahiProtocol           protocol,
             AvahiResolverEvent      event,
             const char             *name,
             const char             *type,
             const char             *domain,
             const char             *host_name,
             const AvahiAddress     *address,
             uint16_t                port,
             AvahiStringList        *txt,
             AvahiLookupResultFlags  flags,
             gpointer                user_data)
{
  LlmMdnsDiscovery *self = user_data;
  g_autoptr(JsonObject) announcement = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *endpoint = NULL;
  g_auto(GStrv) strings = NULL;
  char host[AVAHI_ADDRESS_STR_MAX];

  if (event != AVAHI_RESOLVER_FOUND)
    {
      g_message ("Could not resolve %s on the LAN: %s", name,
                 avahi_strerror (avahi_client_errno (self->client)));
      goto out;
    }

  avahi_address_snprint (host, sizeof host, address);
  if (address->proto == AVAHI_PROTO_INET6)
    {
      /* A link-local address means nothing without its interface. */
      if (g_str_has_prefix (host, "fe80:"))
        goto out;
      endpoint = g_strdup_printf ("[%s]:%u", host, port);
    }
  else
    endpoint = g_strdup_printf ("%s:%u", host, port);

  strings = strv_from_txt (txt);
  announcement = llm_mdns_txt_to_announcement ((const char * const *) strings, endpoint, &error);
  if (announcement == NULL)
    {
      g_message ("Ignoring %s on the LAN: %s", name, error->message);
      goto out;
    }
  /* The instance name is the address, so that no two nodes collide. */
  if (!g_str_has_prefix (json_object_get_string_member (announcement, "address"), name))
    {
      g_message ("Ignoring %s on the LAN: its TXT records name another address", name);
      goto out;
    }

  g_signal_emit (self, signals[PEER_FOUND], 0,
                 json_object_get_string_member (announcement, "address"), announcement);

out:
  g_hash_table_remove (self->resolvers, resolver);
}

static void
browser_cb (AvahiServiceBrowser    *browser,
            AvahiIfIndex            interface,
            AvahiProtocol           protocol,
            AvahiBrowserEvent       event,
            const char             *name,
            const char             *type,
            const char             *domain,
            AvahiLookupResultFlags  flags,
            gpointer                user_data)
{
  LlmMdnsDiscovery *self = user_data;
  AvahiServiceResolver *resolver;
  g_autofree char *address = NULL;

  switch (event)
    {
    case AVAHI_BROWSER_NEW:
      if (g_strcmp0 (name, self->service_name) == 0)
        break;
      resolver = avahi_service_resolver_new (self->client, interface, protocol, name, type, domain,
                                             AVAHI_PROTO_UNSPEC, 0, resolver_cb, self);
      if (resolver == NULL)
        g_message ("Could not resolve %s on the LAN: %s", name,
                   avahi_strerror (avahi_client_errno (self->client)));
      else
        g_hash_table_add (self->resolvers, resolver);
      break;

    case AVAHI_BROWSER_REMOVE:
      address = g_strconcat (name, ".llm", NULL);
      if (llm_address_is_valid (address) && g_strcmp0 (name, self->service_name) != 0)
        g_signal_emit (self, signals[PEER_LOST], 0, address);
      break;

    case AVAHI_BROWSER_FAILURE:
      g_warning ("Browsing the LAN failed: %s",
                 avahi_strerror (avahi_client_errno (self->client)));
      break;

    case AVAHI_BROWSER_CACHE_EXHAUSTED:
    case AVAHI_BROWSER_ALL_FOR_NOW:
    default:
      break;
    }
}

static void
free_resolver (gpointer resolver)
{
  avahi_service_resolver_free (resolver);
}

static void
forget_client (LlmMdnsDiscovery *self)
{
  g_hash_table_remove_all (self->resolvers);
  g_clear_pointer (&self->browser, avahi_service_browser_free);
  g_clear_pointer (&self->group, avahi_entry_group_free);
  g_clear_pointer (&self->client, avahi_client_free);
  set_published (self, FALSE);
  set_available (self, FALSE);
}

static gboolean
restart_client_cb (gpointer user_data)
{
  LlmMdnsDiscovery *self = user_data;

  forget_client (self);
  start_client (self);
  return G_SOURCE_REMOVE;
}

static void
client_cb (AvahiClient      *client,
           AvahiClientState  state,
           gpointer          user_data)
{
  LlmMdnsDiscovery *self = user_data;

  /* Called from within avahi_client_new() too, before it returns. */
  self->client = client;

  switch (state)
    {
    case AVAHI_CLIENT_S_RUNNING:
      if (!self->available)
        g_debug ("The Avahi daemon is running: LAN discovery is on");
      self->said_unavailable = FALSE;
      set_available (self, TRUE);
      if (self->browser == NULL)
        self->browser = avahi_service_browser_new (client, AVAHI_IF_UNSPEC, AVAHI_PROTO_UNSPEC,
                                                   LLM_MDNS_SERVICE_TYPE, NULL, 0,
                                                   browser_cb, self);
      if (self->browser == NULL)
        g_warning ("Could not browse the LAN: %s", avahi_strerror (avahi_client_errno (client)));
      publish_now (self);
      break;

    case AVAHI_CLIENT_S_COLLISION:
    case AVAHI_CLIENT_S_REGISTERING:
      /* The daemon renames its host: publish again once it runs. */
      if (self->group != NULL)
        avahi_entry_group_reset (self->group);
      set_published (self, FALSE);
      break;

    case AVAHI_CLIENT_CONNECTING:
      if (!self->said_unavailable)
        g_message ("Waiting for the Avahi daemon: no LAN discovery until it runs");
      self->said_unavailable = TRUE;
      break;

    case AVAHI_CLIENT_FAILURE:
      /* The daemon went away: a new client waits for it to come back. Not
       * freed here, inside its own callback. */
      g_message ("Lost the Avahi daemon (%s): LAN discovery paused",
                 avahi_strerror (avahi_client_errno (client)));
      set_available (self, FALSE);
      set_published (self, FALSE);
      g_idle_add_full (G_PRIORITY_DEFAULT, restart_client_cb, g_object_ref (self), g_object_unref);
      break;

    default:
      break;
    }
}

static void
start_client (LlmMdnsDiscovery *self)
{
  int status = 0;

  self->client = avahi_client_new (avahi_glib_poll_get (self->poll), AVAHI_CLIENT_NO_FAIL,
                                    client_cb, self, &status);
  if (self->client == NULL)
    g_message ("No LAN discovery: %s", avahi_strerror (status));
}

/**
 * llm_mdns_discovery_start:
 * @self: a #LlmMdnsDiscovery
 *
 * Connects to the Avahi daemon (now or whenever it appears) and browses
 * for other nodes: #LlmMdnsDiscovery::peer-found for each.
 */
void
llm_mdns_discovery_start (LlmMdnsDiscovery *self)
{
  g_return_if_fail (LLM_IS_MDNS_DISCOVERY (self));

  if (self->poll == NULL)
    self->poll = avahi_glib_poll_new (g_main_context_get_thread_default (), G_PRIORITY_DEFAULT);
  if (self->client == NULL)
    start_client (self);
}

/**
 * llm_mdns_discovery_stop:
 * @self: a #LlmMdnsDiscovery
 *
 * Withdraws the service (the daemon sends the goodbye packets) and stops
 * browsing.
 */
void
llm_mdns_discovery_stop (LlmMdnsDiscovery *self)
{
  g_return_if_fail (LLM_IS_MDNS_DISCOVERY (self));

  forget_client (self);
}

/**
 * llm_mdns_discovery_publish:
 * @self: a #LlmMdnsDiscovery
 * @port: the TCP port of this node's transport
 * @announcement: this node's announcement (address and shards are used)
 *
 * Publishes this node, or updates what is published; done whenever the
 * daemon runs.
 */
void
llm_mdns_discovery_publish (LlmMdnsDiscovery *self,
                            guint16           port,
                            JsonObject       *announcement)
{
  g_return_if_fail (LLM_IS_MDNS_DISCOVERY (self));
  g_return_if_fail (port != 0);

  g_clear_pointer (&self->txt, g_ptr_array_unref);
  self->txt = llm_mdns_txt_from_announcement (announcement);
  self->port = port;
  publish_now (self);
}

gboolean
llm_mdns_discovery_get_available (LlmMdnsDiscovery *self)
{
  g_return_val_if_fail (LLM_IS_MDNS_DISCOVERY (self), FALSE);
  return self->available;
}

gboolean
llm_mdns_discovery_get_published (LlmMdnsDiscovery *self)
{
  g_return_val_if_fail (LLM_IS_MDNS_DISCOVERY (self), FALSE);
  return self->published;
}

LlmMdnsDiscovery *
llm_mdns_discovery_new (const char *own_address)
{
  g_return_val_if_fail (llm_address_is_valid (own_address), NULL);

  return g_object_new (LLM_TYPE_MDNS_DISCOVERY, "own-address", own_address, NULL);
}

static void
llm_mdns_discovery_dispose (GObject *object)
{
  LlmMdnsDiscovery *self = LLM_MDNS_DISCOVERY (object);

  forget_client (self);
  g_clear_pointer (&self->poll, avahi_glib_poll_free);

  G_OBJECT_CLASS (llm_mdns_discovery_parent_class)->dispose (object);
}

static void
llm_mdns_discovery_finalize (GObject *object)
{
  LlmMdnsDiscovery *self = LLM_MDNS_DISCOVERY (object);

  g_hash_table_unref (self->resolvers);
  g_clear_pointer (&self->txt, g_ptr_array_unref);
  g_free (self->own_address);
  g_free (self->service_name);

  G_OBJECT_CLASS (llm_mdns_discovery_parent_class)->finalize (object);
}

static void
llm_mdns_discovery_get_property (GObject    *object,
                                 guint       prop_id,
                                 GValue     *value,
                                 GParamSpec *pspec)
{
  LlmMdnsDiscovery *self = LLM_MDNS_DISCOVERY (object);

  switch (prop_id)
    {
    case PROP_OWN_ADDRESS:
      g_value_set_string (value, self->own_address);
      break;
    case PROP_AVAILABLE:
      g_value_set_boolean (value, self->available);
      break;
    case PROP_PUBLISHED:
      g_value_set_boolean (value, self->published);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
llm_mdns_discovery_set_property (GObject      *object,
                                 guint         prop_id,
                                 const GValue *value,
                                 GParamSpec   *pspec)
{
  LlmMdnsDiscovery *self = LLM_MDNS_DISCOVERY (object);

  switch (prop_id)
    {
    case PROP_OWN_ADDRESS:
      self->own_address = g_value_dup_string (value);
      self->service_name = g_strndup (self->own_address,
                                      strlen (self->own_address) - strlen (".llm"));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
llm_mdns_discovery_class_init (LlmMdnsDiscoveryClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = llm_mdns_discovery_dispose;
  object_class->finalize = llm_mdns_discovery_finalize;
  object_class->get_property = llm_mdns_discovery_get_property;
  object_class->set_property = llm_mdns_discovery_set_property;

  /**
   * LlmMdnsDiscovery:own-address:
   *
   * This node's `.llm` address: what it publishes, and what browsing skips.
   */
  properties[PROP_OWN_ADDRESS] =
    g_param_spec_string ("own-address", NULL, NULL, NULL,
                         (G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS));

  /**
   * LlmMdnsDiscovery:available:
   *
   * Whether the Avahi daemon runs and LAN discovery is on.
   */
  properties[PROP_AVAILABLE] =
    g_param_spec_boolean ("available", NULL, NULL, FALSE,
                          (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * LlmMdnsDiscovery:published:
   *
   * Whether the daemon has established this node's service on the LAN.
   */
  properties[PROP_PUBLISHED] =
    g_param_spec_boolean ("published", NULL, NULL, FALSE,
                          (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * LlmMdnsDiscovery::peer-found:
   * @self: the discovery
   * @address: the `.llm` address the service claims
   * @announcement: (type Json.Object): what its TXT records say, with the
   *   resolved endpoint — unauthenticated: dial it expecting @address
   *
   * A node published itself on the LAN (emitted again when it updates).
   */
  signals[PEER_FOUND] =
    g_signal_new ("peer-found",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, G_TYPE_STRING, JSON_TYPE_OBJECT);

  /**
   * LlmMdnsDiscovery::peer-lost:
   * @self: the discovery
   * @address: the `.llm` address of the service
   *
   * A node withdrew its service from the LAN.
   */
  signals[PEER_LOST] =
    g_signal_new ("peer-lost",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_STRING);
}

static void
llm_mdns_discovery_init (LlmMdnsDiscovery *self)
{
  self->resolvers = g_hash_table_new_full (NULL, NULL, free_resolver, NULL);
}

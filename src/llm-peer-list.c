/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-peer-list"

#include "llm-peer-list.h"

#include <string.h>

#include "llm-address.h"

/**
 * LlmPeerList:
 *
 * The peer table: every #LlmPeer this node knows, at most one per `.llm`
 * address, as a #GListModel sorted by address (so that its order, and the
 * output of `llm-node peers --json`, does not depend on the order in which
 * peers were found).
 *
 * #GListModel::items-changed is emitted when peers join or leave the
 * table, never when a peer changes: watch the peer's own notifications
 * for that (#LlmCoverage watches #LlmPeer:shards and #LlmPeer:state).
 *
 * A peer leaves the table when it says goodbye (llm_peer_list_remove()),
 * when it has not been seen for too long (llm_peer_list_expire()), or when
 * the node stops (llm_peer_list_clear()); its #LlmPeer:state then becomes
 * %LLM_PEER_STATE_GONE, so whoever still holds it knows.
 */
struct _LlmPeerList
{
  GObject parent_instance;

  GPtrArray *peers;     /* of LlmPeer, sorted by address */
};

static void llm_peer_list_model_init (GListModelInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (LlmPeerList, llm_peer_list, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_LIST_MODEL, llm_peer_list_model_init))

enum {
  PROP_0,
  PROP_N_ITEMS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

/* GListModel */

static GType
llm_peer_list_get_item_type (GListModel *model)
{
  return LLM_TYPE_PEER;
}

static guint
llm_peer_list_get_n_items (GListModel *model)
{
  return LLM_PEER_LIST (model)->peers->len;
}

static gpointer
llm_peer_list_get_item (GListModel *model,
                        guint       position)
{
  LlmPeerList *self = LLM_PEER_LIST (model);

  if (position >= self->peers->len)
    return NULL;

  return g_object_ref (g_ptr_array_index (self->peers, position));
}

static void
llm_peer_list_model_init (GListModelInterface *iface)
{
  iface->get_item_type = llm_peer_list_get_item_type;
  iface->get_n_items = llm_peer_list_get_n_items;
  iface->get_item = llm_peer_list_get_item;
}

/* Where @address is (TRUE) or would go (FALSE). */
static gboolean
find_position (LlmPeerList *self,
               const char  *address,
               guint       *position)
{
  guint low = 0;
  guint high = self->peers->len;

  while (low < high)
    {
      guint middle = low + (high - low) / 2;
      LlmPeer *peer = g_ptr_array_index (self->peers, middle);
      int cmp = strcmp (address, llm_peer_get_address (peer));

      if (cmp == 0)
        {
          *position = middle;
          return TRUE;
        }

      if (cmp < 0)
        high = middle;
      else
        low = middle + 1;
    }

  *position = low;
  return FALSE;
}

static void
insert_at (LlmPeerList *self,
           guint        position,
           LlmPeer     *peer)
{
  g_ptr_array_insert (self->peers, position, g_object_ref (peer));
  g_list_model_items_changed (G_LIST_MODEL (self), position, 0, 1);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_ITEMS]);
}

static void
remove_at (LlmPeerList *self,
           guint        position)
{
  g_autoptr(LlmPeer) peer = g_ptr_array_steal_index (self->peers, position);

  g_list_model_items_changed (G_LIST_MODEL (self), position, 1, 0);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_ITEMS]);
  llm_peer_set_state (peer, LLM_PEER_STATE_GONE);
}

/* GObject */

static void
llm_peer_list_finalize (GObject *object)
{
  LlmPeerList *self = LLM_PEER_LIST (object);

  g_clear_pointer (&self->peers, g_ptr_array_unref);

  G_OBJECT_CLASS (llm_peer_list_parent_class)->finalize (object);
}

static void
llm_peer_list_get_property (GObject    *object,
                            guint       prop_id,
                            GValue     *value,
                            GParamSpec *pspec)
{
  LlmPeerList *self = LLM_PEER_LIST (object);

  switch (prop_id)
    {
    case PROP_N_ITEMS:
      g_value_set_uint (value, self->peers->len);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
llm_peer_list_class_init (LlmPeerListClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = llm_peer_list_finalize;
  object_class->get_property = llm_peer_list_get_property;

  /**
   * LlmPeerList:n-items:
   *
   * How many peers are in the table, for a UI to bind to (“3 peers”).
   */
  properties[PROP_N_ITEMS] =
    g_param_spec_uint ("n-items", NULL, NULL,
                       0, G_MAXUINT, 0,
                       (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
llm_peer_list_init (LlmPeerList *self)
{
  self->peers = g_ptr_array_new_with_free_func (g_object_unref);
}

LlmPeerList *
llm_peer_list_new (void)
{
  return g_object_new (LLM_TYPE_PEER_LIST, NULL);
}

/**
 * llm_peer_list_lookup:
 * @self: a #LlmPeerList
 * @address: a `.llm` address
 *
 * Returns: (transfer none) (nullable): the peer with that address, if in
 *   the table
 */
LlmPeer *
llm_peer_list_lookup (LlmPeerList *self,
                      const char  *address)
{
  guint position;

  g_return_val_if_fail (LLM_IS_PEER_LIST (self), NULL);
  g_return_val_if_fail (address != NULL, NULL);

  if (!find_position (self, address, &position))
    return NULL;

  return g_ptr_array_index (self->peers, position);
}

/**
 * llm_peer_list_add:
 * @self: a #LlmPeerList
 * @peer: a peer not in the table
 *
 * Adds @peer, unless the table has a peer with its address already.
 *
 * Returns: %TRUE if @peer was added, %FALSE if its address was taken
 */
gboolean
llm_peer_list_add (LlmPeerList *self,
                   LlmPeer     *peer)
{
  guint position;

  g_return_val_if_fail (LLM_IS_PEER_LIST (self), FALSE);
  g_return_val_if_fail (LLM_IS_PEER (peer), FALSE);
  g_return_val_if_fail (llm_peer_get_state (peer) != LLM_PEER_STATE_GONE, FALSE);

  if (find_position (self, llm_peer_get_address (peer), &position))
    return FALSE;

  insert_at (self, position, peer);

  return TRUE;
}

/**
 * llm_peer_list_ensure:
 * @self: a #LlmPeerList
 * @address: a valid `.llm` address
 * @added: (out) (optional): whether a peer was made for it
 *
 * Returns the peer with @address, adding a new one (hosting nothing,
 * %LLM_PEER_STATE_DISCOVERED, never seen) if there was none. For
 * addresses proven by a handshake; announcements go through
 * llm_peer_list_update_from_json().
 *
 * Returns: (transfer none): the peer
 */
LlmPeer *
llm_peer_list_ensure (LlmPeerList *self,
                      const char  *address,
                      gboolean    *added)
{
  g_autoptr(LlmPeer) peer = NULL;
  guint position;

  g_return_val_if_fail (LLM_IS_PEER_LIST (self), NULL);
  g_return_val_if_fail (llm_address_is_valid (address), NULL);

  if (added != NULL)
    *added = FALSE;

  if (find_position (self, address, &position))
    return g_ptr_array_index (self->peers, position);

  peer = llm_peer_new (address);
  insert_at (self, position, peer);
  if (added != NULL)
    *added = TRUE;

  return peer;
}

/**
 * llm_peer_list_update_from_json:
 * @self: a #LlmPeerList
 * @announcement: a node's announcement (see llm-peer.h)
 * @source: how it came
 * @now: the g_get_monotonic_time() it came at
 * @error: return location for a #LlmPeerError
 *
 * Adds or updates the peer that @announcement describes: checks it
 * (llm_peer_update_from_json()), then adds @source to the peer's sources
 * and sets its last-seen to @now. The caller has checked that the
 * announcement is the named node's own (a signature, a handshake).
 *
 * Returns: (transfer none) (nullable): the peer; %NULL, with @error set
 *   and the table unchanged, if @announcement is invalid
 */
LlmPeer *
llm_peer_list_update_from_json (LlmPeerList    *self,
                                JsonObject     *announcement,
                                LlmPeerSource   source,
                                gint64          now,
                                GError        **error)
{
  g_autoptr(LlmPeer) peer = NULL;
  JsonNode *node;
  const char *address;
  guint position;
  gboolean found;

  g_return_val_if_fail (LLM_IS_PEER_LIST (self), NULL);
  g_return_val_if_fail (announcement != NULL, NULL);
  g_return_val_if_fail (now >= 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  /* Only to find the peer: llm_peer_update_from_json() checks the rest. */
  node = json_object_get_member (announcement, "address");
  address = node != NULL && JSON_NODE_HOLDS_VALUE (node) &&
            json_node_get_value_type (node) == G_TYPE_STRING ? json_node_get_string (node) : NULL;
  if (address == NULL || !llm_address_is_valid (address))
    {
      g_set_error_literal (error, LLM_PEER_ERROR, LLM_PEER_ERROR_INVALID,
                           "The announcement has no valid “address”");
      return NULL;
    }

  found = find_position (self, address, &position);
  peer = found ? g_object_ref (g_ptr_array_index (self->peers, position)) : llm_peer_new (address);

  if (!llm_peer_update_from_json (peer, announcement, error))
    return NULL;

  g_object_freeze_notify (G_OBJECT (peer));
  llm_peer_add_source (peer, source);
  llm_peer_set_last_seen (peer, now);
  g_object_thaw_notify (G_OBJECT (peer));

  if (!found)
    insert_at (self, position, peer);

  return peer;
}

/**
 * llm_peer_list_remove:
 * @self: a #LlmPeerList
 * @address: a `.llm` address
 *
 * Removes the peer with @address (for a goodbye) and sets its state to
 * %LLM_PEER_STATE_GONE.
 *
 * Returns: %TRUE if there was such a peer
 */
gboolean
llm_peer_list_remove (LlmPeerList *self,
                      const char  *address)
{
  guint position;

  g_return_val_if_fail (LLM_IS_PEER_LIST (self), FALSE);
  g_return_val_if_fail (address != NULL, FALSE);

  if (!find_position (self, address, &position))
    return FALSE;

  remove_at (self, position);

  return TRUE;
}

/**
 * llm_peer_list_expire:
 * @self: a #LlmPeerList
 * @now: the current g_get_monotonic_time()
 * @timeout: how long a peer may stay silent, in µs
 *
 * Removes every peer whose #LlmPeer:last-seen is more than @timeout
 * before @now (a peer never seen, last-seen 0, counts as seen long ago),
 * whatever its state: the node keeps the last-seen of connected peers
 * fresh (on each message and keepalive), so a connected peer that goes
 * silent expires like the others. Removed peers become
 * %LLM_PEER_STATE_GONE; one #GListModel::items-changed is emitted per
 * removed peer.
 *
 * Returns: how many peers were removed
 */
guint
llm_peer_list_expire (LlmPeerList *self,
                      gint64       now,
                      gint64       timeout)
{
  guint removed = 0;

  g_return_val_if_fail (LLM_IS_PEER_LIST (self), 0);
  g_return_val_if_fail (timeout >= 0, 0);

  /* Backwards, so that the positions still to visit do not move. */
  for (guint i = self->peers->len; i > 0; i--)
    {
      LlmPeer *peer = g_ptr_array_index (self->peers, i - 1);

      if (now - llm_peer_get_last_seen (peer) > timeout)
        {
          g_debug ("Peer %s expired: not seen for %" G_GINT64_FORMAT " ms",
                   llm_peer_get_address (peer),
                   (now - llm_peer_get_last_seen (peer)) / 1000);
          remove_at (self, i - 1);
          removed++;
        }
    }

  return removed;
}

/**
 * llm_peer_list_clear:
 * @self: a #LlmPeerList
 *
 * Removes every peer (when the node stops), with one
 * #GListModel::items-changed; they become %LLM_PEER_STATE_GONE.
 */
void
llm_peer_list_clear (LlmPeerList *self)
{
  g_autoptr(GPtrArray) peers = NULL;

  g_return_if_fail (LLM_IS_PEER_LIST (self));

  if (self->peers->len == 0)
    return;

  peers = g_steal_pointer (&self->peers);
  self->peers = g_ptr_array_new_with_free_func (g_object_unref);
  g_list_model_items_changed (G_LIST_MODEL (self), 0, peers->len, 0);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_ITEMS]);

  for (guint i = 0; i < peers->len; i++)
    llm_peer_set_state (g_ptr_array_index (peers, i), LLM_PEER_STATE_GONE);
}

/**
 * llm_peer_list_to_json:
 * @self: a #LlmPeerList
 * @now: the current g_get_monotonic_time()
 *
 * Returns: (transfer full): an array of llm_peer_to_json(), in table order
 */
JsonArray *
llm_peer_list_to_json (LlmPeerList *self,
                       gint64       now)
{
  JsonArray *array;

  g_return_val_if_fail (LLM_IS_PEER_LIST (self), NULL);

  array = json_array_sized_new (self->peers->len);
  for (guint i = 0; i < self->peers->len; i++)
    json_array_add_object_element (array, llm_peer_to_json (g_ptr_array_index (self->peers, i),
                                                            now));

  return array;
}

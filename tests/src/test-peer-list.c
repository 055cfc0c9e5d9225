/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <string.h>

#include "llm-identity.h"
#include "llm-peer-list.h"

static char *
dup_new_address (void)
{
  g_autoptr(LlmIdentity) identity = llm_identity_generate ();

  return llm_address_from_public_key (llm_identity_get_public_key (identity));
}

static JsonObject *
make_announcement (const char *address,
                   const char *endpoint,
                   guint       first,
                   guint       last)
{
  JsonObject *object = json_object_new ();
  JsonArray *endpoints = json_array_new ();
  JsonArray *shards = json_array_new ();
  JsonObject *shard = json_object_new ();

  json_object_set_string_member (object, "address", address);
  if (endpoint != NULL)
    json_array_add_string_element (endpoints, endpoint);
  json_object_set_array_member (object, "endpoints", endpoints);
  json_object_set_string_member (shard, "model", "stories260K");
  json_object_set_int_member (shard, "first", first);
  json_object_set_int_member (shard, "last", last);
  json_array_add_object_element (shards, shard);
  json_object_set_array_member (object, "shards", shards);

  return object;
}

/* A mirror of the model kept only from ::items-changed: if the signal's
 * positions are right, it matches the model at every step. */
typedef struct
{
  GPtrArray *mirror;
  guint n_emissions;
  guint n_items_notifies;
} Watch;

static void
items_changed_cb (GListModel *model,
                  guint       position,
                  guint       removed,
                  guint       added,
                  Watch      *watch)
{
  g_assert_cmpuint (position + removed, <=, watch->mirror->len);
  g_ptr_array_remove_range (watch->mirror, position, removed);
  for (guint i = 0; i < added; i++)
    g_ptr_array_insert (watch->mirror, position + i, g_list_model_get_item (model, position + i));
  watch->n_emissions++;
}

static void
n_items_cb (GObject    *object,
            GParamSpec *pspec,
            Watch      *watch)
{
  watch->n_items_notifies++;
}

static void
watch_init (Watch       *watch,
            LlmPeerList *list)
{
  watch->mirror = g_ptr_array_new_with_free_func (g_object_unref);
  watch->n_emissions = 0;
  watch->n_items_notifies = 0;
  g_signal_connect (list, "items-changed", G_CALLBACK (items_changed_cb), watch);
  g_signal_connect (list, "notify::n-items", G_CALLBACK (n_items_cb), watch);
}

static void
watch_clear (Watch       *watch,
             LlmPeerList *list)
{
  g_signal_handlers_disconnect_by_data (list, watch);
  g_clear_pointer (&watch->mirror, g_ptr_array_unref);
}

/* The model matches the mirror, is sorted by address, without duplicates. */
static void
assert_consistent (LlmPeerList *list,
                   Watch       *watch)
{
  GListModel *model = G_LIST_MODEL (list);
  guint n = g_list_model_get_n_items (model);
  guint n_items;

  g_object_get (list, "n-items", &n_items, NULL);
  g_assert_cmpuint (n_items, ==, n);
  g_assert_cmpuint (watch->mirror->len, ==, n);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(LlmPeer) peer = g_list_model_get_item (model, i);

      g_assert_true (peer == g_ptr_array_index (watch->mirror, i));
      g_assert_true (llm_peer_list_lookup (list, llm_peer_get_address (peer)) == peer);
      if (i > 0)
        {
          g_autoptr(LlmPeer) prev = g_list_model_get_item (model, i - 1);

          g_assert_cmpint (strcmp (llm_peer_get_address (prev), llm_peer_get_address (peer)), <, 0);
        }
    }
  g_assert_null (g_list_model_get_item (model, n));
}

static void
test_peer_list_add (void)
{
  LlmPeerList *list = llm_peer_list_new ();
  g_autoptr(GPtrArray) peers = g_ptr_array_new_with_free_func (g_object_unref);
  Watch watch;

  watch_init (&watch, list);
  g_assert_true (g_list_model_get_item_type (G_LIST_MODEL (list)) == LLM_TYPE_PEER);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (list)), ==, 0);

  for (guint i = 0; i < 8; i++)
    {
      g_autofree char *address = dup_new_address ();
      LlmPeer *peer = llm_peer_new (address);

      g_ptr_array_add (peers, peer);
      g_assert_null (llm_peer_list_lookup (list, address));
      g_assert_true (llm_peer_list_add (list, peer));
      g_assert_cmpuint (watch.n_emissions, ==, i + 1);
      g_assert_cmpuint (watch.n_items_notifies, ==, i + 1);
      assert_consistent (list, &watch);
    }

  /* No duplicates: the same peer, or another object with its address. */
  for (guint i = 0; i < peers->len; i++)
    {
      LlmPeer *peer = g_ptr_array_index (peers, i);
      g_autoptr(LlmPeer) twin = llm_peer_new (llm_peer_get_address (peer));

      g_assert_false (llm_peer_list_add (list, peer));
      g_assert_false (llm_peer_list_add (list, twin));
      g_assert_true (llm_peer_list_lookup (list, llm_peer_get_address (peer)) == peer);
    }
  g_assert_cmpuint (watch.n_emissions, ==, 8);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (list)), ==, 8);
  assert_consistent (list, &watch);

  watch_clear (&watch, list);
  g_assert_finalize_object (list);
  for (guint i = 0; i < peers->len; i++)
    g_assert_cmpint (llm_peer_get_state (g_ptr_array_index (peers, i)), !=, LLM_PEER_STATE_GONE);
  while (peers->len > 0)
    g_assert_finalize_object (g_ptr_array_steal_index (peers, peers->len - 1));
}

static void
test_peer_list_ensure (void)
{
  g_autofree char *address = dup_new_address ();
  LlmPeerList *list = llm_peer_list_new ();
  LlmPeer *peer, *again;
  gboolean added = FALSE;
  Watch watch;

  watch_init (&watch, list);

  peer = llm_peer_list_ensure (list, address, &added);
  g_assert_true (added);
  g_assert_cmpstr (llm_peer_get_address (peer), ==, address);
  g_assert_cmpint (llm_peer_get_state (peer), ==, LLM_PEER_STATE_DISCOVERED);

  again = llm_peer_list_ensure (list, address, &added);
  g_assert_false (added);
  g_assert_true (again == peer);
  g_assert_cmpuint (watch.n_emissions, ==, 1);
  assert_consistent (list, &watch);

  watch_clear (&watch, list);
  g_object_add_weak_pointer (G_OBJECT (peer), (gpointer *) &peer);
  g_assert_finalize_object (list);
  g_assert_null (peer);
}

static void
test_peer_list_update_from_json (void)
{
  g_autofree char *address = dup_new_address ();
  g_autoptr(JsonObject) first = make_announcement (address, "127.0.0.1:4001", 0, 2);
  g_autoptr(JsonObject) second = make_announcement (address, "127.0.0.1:4002", 3, 4);
  g_autoptr(JsonObject) inverted = make_announcement (address, "127.0.0.1:4003", 4, 3);
  g_autoptr(JsonObject) not_string = json_object_new ();
  g_autoptr(GError) error = NULL;
  LlmPeerList *list = llm_peer_list_new ();
  LlmPeer *peer, *again;
  Watch watch;

  watch_init (&watch, list);

  /* A new peer. */
  peer = llm_peer_list_update_from_json (list, first, LLM_PEER_SOURCE_LAN, 1000, &error);
  g_assert_no_error (error);
  g_assert_nonnull (peer);
  g_assert_cmpuint (watch.n_emissions, ==, 1);
  g_assert_cmpint (llm_peer_get_sources (peer), ==, LLM_PEER_SOURCE_LAN);
  g_assert_cmpint (llm_peer_get_last_seen (peer), ==, 1000);
  g_assert_true (llm_peer_hosts_layer (peer, "stories260K", 2));
  assert_consistent (list, &watch);

  /* The same peer, found again in the DHT, with other shards: updated in
   * place, no items-changed. */
  again = llm_peer_list_update_from_json (list, second, LLM_PEER_SOURCE_DHT, 2000, &error);
  g_assert_no_error (error);
  g_assert_true (again == peer);
  g_assert_cmpuint (watch.n_emissions, ==, 1);
  g_assert_cmpint (llm_peer_get_sources (peer), ==, LLM_PEER_SOURCE_LAN | LLM_PEER_SOURCE_DHT);
  g_assert_cmpint (llm_peer_get_last_seen (peer), ==, 2000);
  g_assert_false (llm_peer_hosts_layer (peer, "stories260K", 2));
  g_assert_true (llm_peer_hosts_layer (peer, "stories260K", 4));
  g_assert_cmpstr (llm_peer_get_endpoints (peer)[0], ==, "127.0.0.1:4002");

  /* A bad announcement for it: refused, the peer untouched, last-seen too. */
  g_assert_null (llm_peer_list_update_from_json (list, inverted, LLM_PEER_SOURCE_MANUAL, 3000,
                                                 &error));
  g_assert_error (error, LLM_PEER_ERROR, LLM_PEER_ERROR_RANGE);
  g_clear_error (&error);
  g_assert_cmpint (llm_peer_get_last_seen (peer), ==, 2000);
  g_assert_cmpint (llm_peer_get_sources (peer), ==, LLM_PEER_SOURCE_LAN | LLM_PEER_SOURCE_DHT);
  g_assert_true (llm_peer_hosts_layer (peer, "stories260K", 4));

  /* A bad announcement for a new peer: nothing added. */
  json_object_set_int_member (not_string, "address", 12);
  g_assert_null (llm_peer_list_update_from_json (list, not_string, LLM_PEER_SOURCE_LAN, 3000,
                                                 &error));
  g_assert_error (error, LLM_PEER_ERROR, LLM_PEER_ERROR_INVALID);
  g_clear_error (&error);

  {
    g_autofree char *other = dup_new_address ();
    g_autoptr(JsonObject) bad_new = make_announcement (other, "127.0.0.1:1", 2, 1);

    g_assert_null (llm_peer_list_update_from_json (list, bad_new, LLM_PEER_SOURCE_LAN, 3000,
                                                   &error));
    g_assert_error (error, LLM_PEER_ERROR, LLM_PEER_ERROR_RANGE);
    g_clear_error (&error);
    g_assert_null (llm_peer_list_lookup (list, other));
  }

  g_assert_cmpuint (watch.n_emissions, ==, 1);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (list)), ==, 1);
  assert_consistent (list, &watch);

  watch_clear (&watch, list);
  g_assert_finalize_object (list);
}

static void
test_peer_list_remove (void)
{
  LlmPeerList *list = llm_peer_list_new ();
  g_autoptr(GPtrArray) peers = g_ptr_array_new_with_free_func (g_object_unref);
  g_autofree char *unknown = dup_new_address ();
  Watch watch;

  for (guint i = 0; i < 5; i++)
    {
      g_autofree char *address = dup_new_address ();

      g_ptr_array_add (peers, g_object_ref (llm_peer_list_ensure (list, address, NULL)));
    }
  watch_init (&watch, list);
  for (guint i = 0; i < 5; i++)
    g_ptr_array_add (watch.mirror, g_list_model_get_item (G_LIST_MODEL (list), i));

  /* A goodbye: the peer leaves the table, at its own position, and is gone. */
  for (guint i = 0; i < peers->len; i++)
    {
      LlmPeer *peer = g_ptr_array_index (peers, i);

      g_assert_true (llm_peer_list_remove (list, llm_peer_get_address (peer)));
      g_assert_cmpint (llm_peer_get_state (peer), ==, LLM_PEER_STATE_GONE);
      g_assert_null (llm_peer_list_lookup (list, llm_peer_get_address (peer)));
      g_assert_false (llm_peer_list_remove (list, llm_peer_get_address (peer)));
      g_assert_cmpuint (watch.n_emissions, ==, i + 1);
      assert_consistent (list, &watch);
    }

  g_assert_false (llm_peer_list_remove (list, unknown));
  g_assert_cmpuint (watch.n_emissions, ==, 5);

  /* A gone peer cannot come back as it was: a new LlmPeer must be made. */
  g_test_expect_message ("llm-peer-list", G_LOG_LEVEL_CRITICAL, "*GONE*");
  g_assert_false (llm_peer_list_add (list, g_ptr_array_index (peers, 0)));
  g_test_assert_expected_messages ();

  watch_clear (&watch, list);
  g_assert_finalize_object (list);
  while (peers->len > 0)
    g_assert_finalize_object (g_ptr_array_steal_index (peers, peers->len - 1));
}

static void
test_peer_list_expire (void)
{
  LlmPeerList *list = llm_peer_list_new ();
  g_autoptr(GPtrArray) peers = g_ptr_array_new_with_free_func (g_object_unref);
  const gint64 timeout = 60 * G_USEC_PER_SEC;
  const gint64 now = 1000 * G_USEC_PER_SEC;
  /* Seen: long ago, just beyond the timeout, exactly at it, recently,
   * never (0), and recently but connected. */
  const gint64 seen[] = { 1, now - timeout - 1, now - timeout, now - 1, 0, now };
  const gboolean expired[] = { TRUE, TRUE, FALSE, FALSE, TRUE, FALSE };
  Watch watch;

  watch_init (&watch, list);
  for (guint i = 0; i < G_N_ELEMENTS (seen); i++)
    {
      g_autofree char *address = dup_new_address ();
      LlmPeer *peer = llm_peer_list_ensure (list, address, NULL);

      llm_peer_set_last_seen (peer, seen[i]);
      g_ptr_array_add (peers, g_object_ref (peer));
    }
  llm_peer_set_state (g_ptr_array_index (peers, 5), LLM_PEER_STATE_CONNECTED);
  watch.n_emissions = 0;

  g_assert_cmpuint (llm_peer_list_expire (list, now, timeout), ==, 3);
  g_assert_cmpuint (watch.n_emissions, ==, 3);
  assert_consistent (list, &watch);

  for (guint i = 0; i < peers->len; i++)
    {
      LlmPeer *peer = g_ptr_array_index (peers, i);
      gboolean present = llm_peer_list_lookup (list, llm_peer_get_address (peer)) != NULL;

      g_assert_cmpint (present, ==, !expired[i]);
      g_assert_cmpint (llm_peer_get_state (peer) == LLM_PEER_STATE_GONE, ==, expired[i]);
    }

  /* Nothing more to expire at the same time; all of it a minute later. */
  g_assert_cmpuint (llm_peer_list_expire (list, now, timeout), ==, 0);
  g_assert_cmpuint (watch.n_emissions, ==, 3);
  g_assert_cmpuint (llm_peer_list_expire (list, now + timeout + 1, timeout), ==, 3);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (list)), ==, 0);
  assert_consistent (list, &watch);

  watch_clear (&watch, list);
  g_assert_finalize_object (list);
  while (peers->len > 0)
    g_assert_finalize_object (g_ptr_array_steal_index (peers, peers->len - 1));
}

static void
test_peer_list_clear (void)
{
  LlmPeerList *list = llm_peer_list_new ();
  g_autoptr(LlmPeer) kept = NULL;
  Watch watch;

  watch_init (&watch, list);
  llm_peer_list_clear (list);
  g_assert_cmpuint (watch.n_emissions, ==, 0);

  for (guint i = 0; i < 4; i++)
    {
      g_autofree char *address = dup_new_address ();

      g_set_object (&kept, llm_peer_list_ensure (list, address, NULL));
    }
  g_assert_cmpuint (watch.n_emissions, ==, 4);

  llm_peer_list_clear (list);
  g_assert_cmpuint (watch.n_emissions, ==, 5);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (list)), ==, 0);
  g_assert_cmpint (llm_peer_get_state (kept), ==, LLM_PEER_STATE_GONE);
  assert_consistent (list, &watch);

  watch_clear (&watch, list);
  g_assert_finalize_object (list);
  g_assert_finalize_object (g_steal_pointer (&kept));
}

static void
test_peer_list_to_json (void)
{
  LlmPeerList *list = llm_peer_list_new ();
  g_autoptr(JsonArray) array = NULL;
  g_autoptr(GError) error = NULL;

  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *address = dup_new_address ();
      g_autoptr(JsonObject) announcement = make_announcement (address, "127.0.0.1:4001", i, i);

      g_assert_nonnull (llm_peer_list_update_from_json (list, announcement, LLM_PEER_SOURCE_DHT,
                                                        G_USEC_PER_SEC, &error));
      g_assert_no_error (error);
    }

  array = llm_peer_list_to_json (list, 3 * G_USEC_PER_SEC);
  g_assert_cmpuint (json_array_get_length (array), ==, 3);
  for (guint i = 0; i < 3; i++)
    {
      g_autoptr(LlmPeer) peer = g_list_model_get_item (G_LIST_MODEL (list), i);
      JsonObject *object = json_array_get_object_element (array, i);

      g_assert_cmpstr (json_object_get_string_member (object, "address"), ==,
                       llm_peer_get_address (peer));
      g_assert_cmpint (json_object_get_int_member (object, "last_seen_ms_ago"), ==, 2000);
    }

  g_assert_finalize_object (list);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/llm/peer-list/add", test_peer_list_add);
  g_test_add_func ("/llm/peer-list/ensure", test_peer_list_ensure);
  g_test_add_func ("/llm/peer-list/update-from-json", test_peer_list_update_from_json);
  g_test_add_func ("/llm/peer-list/remove", test_peer_list_remove);
  g_test_add_func ("/llm/peer-list/expire", test_peer_list_expire);
  g_test_add_func ("/llm/peer-list/clear", test_peer_list_clear);
  g_test_add_func ("/llm/peer-list/to-json", test_peer_list_to_json);

  return g_test_run ();
}

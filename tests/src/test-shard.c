/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "llm-shard.h"

#include <gio/gio.h>

static void
count_notify_cb (GObject    *object,
                 GParamSpec *pspec,
                 GHashTable *counts)
{
  guint count = GPOINTER_TO_UINT (g_hash_table_lookup (counts, pspec->name));

  g_hash_table_insert (counts, (gpointer) pspec->name, GUINT_TO_POINTER (count + 1));
}

static guint
get_count (GHashTable *counts,
           const char *name)
{
  return GPOINTER_TO_UINT (g_hash_table_lookup (counts, name));
}

static void
test_shard_new (void)
{
  g_autofree char *model_id = NULL;
  g_autofree char *revision = NULL;
  guint first, last;
  LlmShardState state;
  double progress;
  LlmShard *shard = llm_shard_new ("stories260K", "main", 2, 4);

  g_assert_cmpstr (llm_shard_get_model_id (shard), ==, "stories260K");
  g_assert_cmpstr (llm_shard_get_revision (shard), ==, "main");
  g_assert_cmpuint (llm_shard_get_first_layer (shard), ==, 2);
  g_assert_cmpuint (llm_shard_get_last_layer (shard), ==, 4);
  g_assert_cmpuint (llm_shard_get_n_layers (shard), ==, 3);
  g_assert_false (llm_shard_holds_layer (shard, 1));
  g_assert_true (llm_shard_holds_layer (shard, 2));
  g_assert_true (llm_shard_holds_layer (shard, 4));
  g_assert_false (llm_shard_holds_layer (shard, 5));
  g_assert_null (llm_shard_get_dtype (shard));
  g_assert_cmpint (llm_shard_get_state (shard), ==, LLM_SHARD_STATE_MISSING);
  g_assert_cmpfloat (llm_shard_get_progress (shard), ==, 0.0);
  g_assert_null (llm_shard_get_error_message (shard));

  g_object_get (shard,
                "model-id", &model_id,
                "revision", &revision,
                "first-layer", &first,
                "last-layer", &last,
                "state", &state,
                "progress", &progress,
                NULL);
  g_assert_cmpstr (model_id, ==, "stories260K");
  g_assert_cmpstr (revision, ==, "main");
  g_assert_cmpuint (first, ==, 2);
  g_assert_cmpuint (last, ==, 4);
  g_assert_cmpint (state, ==, LLM_SHARD_STATE_MISSING);

  g_assert_finalize_object (shard);

  /* A local directory has no revision. */
  shard = llm_shard_new ("stories260K", NULL, 0, 0);
  g_assert_null (llm_shard_get_revision (shard));
  g_assert_cmpuint (llm_shard_get_n_layers (shard), ==, 1);
  g_assert_finalize_object (shard);
}

static void
test_shard_inverted (void)
{
  if (g_test_subprocess ())
    {
      llm_shard_new ("stories260K", NULL, 4, 3);
      return;
    }

  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_failed ();
  g_test_trap_assert_stderr ("*CRITICAL*first_layer <= last_layer*");
}

static void
test_shard_lifecycle (void)
{
  g_autoptr(GHashTable) counts = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GError) error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_NO_SPACE,
                                                 "No space left on device");
  LlmShard *shard = llm_shard_new ("stories260K", "main", 0, 4);

  g_signal_connect (shard, "notify", G_CALLBACK (count_notify_cb), counts);

  llm_shard_set_dtype (shard, "F32");
  llm_shard_set_dtype (shard, "F32");
  g_assert_cmpuint (get_count (counts, "dtype"), ==, 1);
  g_assert_cmpstr (llm_shard_get_dtype (shard), ==, "F32");

  llm_shard_set_state (shard, LLM_SHARD_STATE_DOWNLOADING);
  llm_shard_set_state (shard, LLM_SHARD_STATE_DOWNLOADING);
  g_assert_cmpuint (get_count (counts, "state"), ==, 1);

  llm_shard_set_progress (shard, 0.25);
  llm_shard_set_progress (shard, 0.25);
  llm_shard_set_progress (shard, 1.0);
  g_assert_cmpuint (get_count (counts, "progress"), ==, 2);
  g_assert_cmpfloat (llm_shard_get_progress (shard), ==, 1.0);

  /* Failing says why; a retry forgets it. */
  llm_shard_set_failed (shard, error);
  g_assert_cmpint (llm_shard_get_state (shard), ==, LLM_SHARD_STATE_FAILED);
  g_assert_cmpstr (llm_shard_get_error_message (shard), ==, "No space left on device");
  g_assert_cmpuint (get_count (counts, "state"), ==, 2);
  g_assert_cmpuint (get_count (counts, "error-message"), ==, 1);

  llm_shard_set_failed (shard, error);
  g_assert_cmpuint (get_count (counts, "state"), ==, 2);
  g_assert_cmpuint (get_count (counts, "error-message"), ==, 1);

  llm_shard_set_state (shard, LLM_SHARD_STATE_DOWNLOADING);
  g_assert_null (llm_shard_get_error_message (shard));
  g_assert_cmpuint (get_count (counts, "error-message"), ==, 2);

  g_object_set (shard, "state", LLM_SHARD_STATE_READY, NULL);
  g_assert_cmpint (llm_shard_get_state (shard), ==, LLM_SHARD_STATE_READY);
  g_assert_cmpuint (get_count (counts, "state"), ==, 4);
  g_assert_cmpuint (get_count (counts, "model-id"), ==, 0);

  g_signal_handlers_disconnect_by_data (shard, counts);
  g_assert_finalize_object (shard);
}

static void
test_shard_bad_progress (void)
{
  g_autoptr(LlmShard) shard = llm_shard_new ("stories260K", NULL, 0, 0);

  g_test_expect_message ("llm-shard", G_LOG_LEVEL_CRITICAL, "*progress*");
  llm_shard_set_progress (shard, 1.5);
  g_test_assert_expected_messages ();
  g_assert_cmpfloat (llm_shard_get_progress (shard), ==, 0.0);
}

static void
test_shard_enum (void)
{
  g_autoptr(GEnumClass) klass = g_type_class_ref (LLM_TYPE_SHARD_STATE);

  g_assert_cmpstr (g_enum_get_value (klass, LLM_SHARD_STATE_READY)->value_nick, ==, "ready");
  g_assert_cmpuint (klass->n_values, ==, 5);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/llm/shard/new", test_shard_new);
  g_test_add_func ("/llm/shard/inverted", test_shard_inverted);
  g_test_add_func ("/llm/shard/lifecycle", test_shard_lifecycle);
  g_test_add_func ("/llm/shard/bad-progress", test_shard_bad_progress);
  g_test_add_func ("/llm/shard/enum", test_shard_enum);

  return g_test_run ();
}

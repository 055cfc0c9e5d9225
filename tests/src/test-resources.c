/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "llm-resources.h"

#include <sys/statvfs.h>
#include <unistd.h>

static void
refresh_cb (GObject      *object,
            GAsyncResult *result,
            gpointer      user_data)
{
  GAsyncResult **result_out = user_data;

  *result_out = g_object_ref (result);
}

static gboolean
refresh_sync (LlmResources  *resources,
              GError       **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  llm_resources_refresh_async (resources, NULL, refresh_cb, &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);

  return llm_resources_refresh_finish (resources, result, error);
}

static void
count_notify_cb (GObject    *object,
                 GParamSpec *pspec,
                 gpointer    user_data)
{
  guint *n_notifies = user_data;

  /* Properties must change on the thread that owns the object. */
  g_assert_true (g_main_context_is_owner (g_main_context_default ()));
  (*n_notifies)++;
}

static void
test_resources_measure (void)
{
  g_autofree char *data_dir = g_build_filename (g_get_user_data_dir (), "llm-node", NULL);
  g_autoptr(LlmResources) resources = llm_resources_new (data_dir);
  g_autoptr(GError) error = NULL;
  guint64 physical = (guint64) sysconf (_SC_PHYS_PAGES) * (guint64) sysconf (_SC_PAGESIZE);
  struct statvfs fs;
  guint n_notifies = 0;

  g_assert_cmpint (g_mkdir_with_parents (g_get_user_data_dir (), 0700), ==, 0);
  g_assert_false (llm_resources_get_ready (resources));
  g_assert_cmpuint (llm_resources_get_n_cores (resources), ==, g_get_num_processors ());

  g_signal_connect (resources, "notify", G_CALLBACK (count_notify_cb), &n_notifies);
  g_assert_true (refresh_sync (resources, &error));
  g_assert_no_error (error);
  g_assert_true (llm_resources_get_ready (resources));
  g_assert_cmpuint (n_notifies, >, 0);

  /* /proc/meminfo's MemTotal leaves out memory the kernel reserved at boot,
   * so it is a little under what sysconf counts, never over. */
  g_assert_cmpuint (llm_resources_get_total_memory (resources), <=, physical);
  g_assert_cmpuint (llm_resources_get_total_memory (resources), >, physical / 10 * 9);
  g_assert_cmpuint (llm_resources_get_available_memory (resources), >, 0);
  g_assert_cmpuint (llm_resources_get_available_memory (resources), <=,
                    llm_resources_get_total_memory (resources));

  /* The data dir does not exist yet: its parent's file system counts. */
  g_assert_false (g_file_test (data_dir, G_FILE_TEST_EXISTS));
  g_assert_cmpint (statvfs (g_get_user_data_dir (), &fs), ==, 0);
  g_assert_cmpuint (llm_resources_get_disk_size (resources), ==, (guint64) fs.f_blocks * fs.f_frsize);
  g_assert_cmpuint (llm_resources_get_disk_free (resources), >, 0);
  g_assert_cmpuint (llm_resources_get_disk_free (resources), <=,
                    llm_resources_get_disk_size (resources));
}

static void
test_resources_refresh_notifies_only_changes (void)
{
  g_autoptr(LlmResources) resources = llm_resources_new (g_get_user_data_dir ());
  g_autoptr(GError) error = NULL;
  guint n_ready_notifies = 0;

  g_assert_true (refresh_sync (resources, &error));
  g_signal_connect (resources, "notify::ready", G_CALLBACK (count_notify_cb), &n_ready_notifies);
  g_assert_true (refresh_sync (resources, &error));
  g_assert_no_error (error);
  /* Still ready: no second notification. */
  g_assert_cmpuint (n_ready_notifies, ==, 0);
}

static void
test_resources_finalize (void)
{
  LlmResources *resources = llm_resources_new ("/");

  g_assert_true (refresh_sync (resources, NULL));
  g_assert_finalize_object (resources);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/llm/resources/measure", test_resources_measure);
  g_test_add_func ("/llm/resources/refresh-notifies-only-changes",
                   test_resources_refresh_notifies_only_changes);
  g_test_add_func ("/llm/resources/finalize", test_resources_finalize);

  return g_test_run ();
}

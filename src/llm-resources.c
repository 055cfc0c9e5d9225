/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-resources"

#include "config.h"

#include "llm-resources.h"

#include <glib/gi18n.h>
#include <string.h>
#include <unistd.h>

#include "llm-cpu.h"

/**
 * LlmResources:
 *
 * What this machine can give to the swarm: memory, processor cores and
 * features, and free disk space where models are stored. The onboarding
 * assistant recommends layers to host from these figures.
 *
 * Reading them touches the file system, so it happens on a worker thread
 * (llm_resources_refresh_async()); the properties change on the main thread.
 */
struct _LlmResources
{
  GObject parent_instance;

  char *data_dir;
  char *cpu_model;
  char *cpu_features;

  guint64 total_memory;
  guint64 available_memory;
  guint64 disk_free;
  guint64 disk_size;
  guint n_cores;
  gboolean ready;
};

G_DEFINE_FINAL_TYPE (LlmResources, llm_resources, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_DATA_DIR,
  PROP_TOTAL_MEMORY,
  PROP_AVAILABLE_MEMORY,
  PROP_N_CORES,
  PROP_CPU_MODEL,
  PROP_CPU_FEATURES,
  PROP_DISK_FREE,
  PROP_DISK_SIZE,
  PROP_READY,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

/* One reading of the machine, made on a worker thread. */
typedef struct
{
  guint64 total_memory;
  guint64 available_memory;
  guint64 disk_free;
  guint64 disk_size;
} Reading;

/* Reads a "Key:   123 kB" line of /proc/meminfo, in bytes. */
static gboolean
parse_meminfo_value (const char *meminfo,
                     const char *key,
                     guint64    *bytes)
{
  const char *line = strstr (meminfo, key);

  if (line == NULL)
    return FALSE;

  *bytes = g_ascii_strtoull (line + strlen (key), NULL, 10) * 1024;
  return *bytes > 0;
}

static void
read_memory (Reading *reading)
{
  g_autofree char *meminfo = NULL;

  if (g_file_get_contents ("/proc/meminfo", &meminfo, NULL, NULL) &&
      parse_meminfo_value (meminfo, "MemTotal:", &reading->total_memory) &&
      parse_meminfo_value (meminfo, "MemAvailable:", &reading->available_memory))
    return;

  /* Not Linux, or an old kernel: what POSIX says. */
  reading->total_memory = (guint64) sysconf (_SC_PHYS_PAGES) * (guint64) sysconf (_SC_PAGESIZE);
  reading->available_memory = (guint64) sysconf (_SC_AVPHYS_PAGES) * (guint64) sysconf (_SC_PAGESIZE);
}

/* The data dir may not exist before the first download: measure the file
 * system it will be created on, that of its nearest existing ancestor. */
static gboolean
read_disk (const char  *data_dir,
           Reading     *reading,
           GError     **error)
{
  g_autoptr(GFile) file = g_file_new_for_path (data_dir);
  g_autoptr(GFileInfo) info = NULL;

  while (!g_file_query_exists (file, NULL))
    {
      g_autoptr(GFile) parent = g_file_get_parent (file);

      if (parent == NULL)
        break;
      g_set_object (&file, parent);
    }

  info = g_file_query_filesystem_info (file,
                                       G_FILE_ATTRIBUTE_FILESYSTEM_FREE ","
                                       G_FILE_ATTRIBUTE_FILESYSTEM_SIZE,
                                       NULL, error);
  if (info == NULL)
    {
      g_prefix_error (error, _("Cannot measure free disk space for %s: "), data_dir);
      return FALSE;
    }

  reading->disk_free = g_file_info_get_attribute_uint64 (info, G_FILE_ATTRIBUTE_FILESYSTEM_FREE);
  reading->disk_size = g_file_info_get_attribute_uint64 (info, G_FILE_ATTRIBUTE_FILESYSTEM_SIZE);
  return TRUE;
}

static void
llm_resources_refresh_worker (GTask        *task,
                              gpointer      source_object,
                              gpointer      task_data,
                              GCancellable *cancellable)
{
  const char *data_dir = task_data;
  g_autofree Reading *reading = g_new0 (Reading, 1);
  GError *error = NULL;

  read_memory (reading);
  if (!read_disk (data_dir, reading, &error))
    g_task_return_error (task, error);
  else
    g_task_return_pointer (task, g_steal_pointer (&reading), g_free);
}

static void
set_uint64 (LlmResources *self,
            guint64      *field,
            guint64       value,
            guint         prop_id)
{
  if (*field == value)
    return;
  *field = value;
  g_object_notify_by_pspec (G_OBJECT (self), properties[prop_id]);
}

static void
llm_resources_apply (LlmResources  *self,
                     const Reading *reading)
{
  g_object_freeze_notify (G_OBJECT (self));
  set_uint64 (self, &self->total_memory, reading->total_memory, PROP_TOTAL_MEMORY);
  set_uint64 (self, &self->available_memory, reading->available_memory, PROP_AVAILABLE_MEMORY);
  set_uint64 (self, &self->disk_free, reading->disk_free, PROP_DISK_FREE);
  set_uint64 (self, &self->disk_size, reading->disk_size, PROP_DISK_SIZE);
  if (!self->ready)
    {
      self->ready = TRUE;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_READY]);
    }
  g_object_thaw_notify (G_OBJECT (self));
}

/* Runs on the main context: the properties change where their observers live. */
static void
llm_resources_refresh_cb (GObject      *object,
                          GAsyncResult *result,
                          gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  LlmResources *self = g_task_get_source_object (task);
  g_autofree Reading *reading = NULL;
  GError *error = NULL;

  reading = g_task_propagate_pointer (G_TASK (result), &error);
  if (reading == NULL)
    {
      g_task_return_error (task, error);
      return;
    }

  llm_resources_apply (self, reading);
  g_task_return_boolean (task, TRUE);
}

/**
 * llm_resources_refresh_async:
 *
 * Measures memory and disk again on a worker thread, then updates the
 * properties on the calling thread's main context.
 */
void
llm_resources_refresh_async (LlmResources        *self,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GTask) worker_task = NULL;

  g_return_if_fail (LLM_IS_RESOURCES (self));
  g_return_if_fail (!cancellable || G_IS_CANCELLABLE (cancellable));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, llm_resources_refresh_async);

  /* The worker's task has no source object: the thread pool drops its last
   * reference on the worker thread, and only the main thread may finalize us. */
  worker_task = g_task_new (NULL, cancellable, llm_resources_refresh_cb, g_steal_pointer (&task));
  g_task_set_source_tag (worker_task, llm_resources_refresh_worker);
  g_task_set_task_data (worker_task, g_strdup (self->data_dir), g_free);
  g_task_run_in_thread (worker_task, llm_resources_refresh_worker);
}

gboolean
llm_resources_refresh_finish (LlmResources  *self,
                              GAsyncResult  *result,
                              GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == llm_resources_refresh_async,
                        FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
llm_resources_finalize (GObject *object)
{
  LlmResources *self = LLM_RESOURCES (object);

  g_clear_pointer (&self->data_dir, g_free);
  g_clear_pointer (&self->cpu_model, g_free);
  g_clear_pointer (&self->cpu_features, g_free);

  G_OBJECT_CLASS (llm_resources_parent_class)->finalize (object);
}

static void
llm_resources_get_property (GObject    *object,
                            guint       prop_id,
                            GValue     *value,
                            GParamSpec *pspec)
{
  LlmResources *self = LLM_RESOURCES (object);

  switch (prop_id)
    {
    case PROP_DATA_DIR:
      g_value_set_string (value, self->data_dir);
      break;
    case PROP_TOTAL_MEMORY:
      g_value_set_uint64 (value, self->total_memory);
      break;
    case PROP_AVAILABLE_MEMORY:
      g_value_set_uint64 (value, self->available_memory);
      break;
    case PROP_N_CORES:
      g_value_set_uint (value, self->n_cores);
      break;
    case PROP_CPU_MODEL:
      g_value_set_string (value, self->cpu_model);
      break;
    case PROP_CPU_FEATURES:
      g_value_set_string (value, self->cpu_features);
      break;
    case PROP_DISK_FREE:
      g_value_set_uint64 (value, self->disk_free);
      break;
    case PROP_DISK_SIZE:
      g_value_set_uint64 (value, self->disk_size);
      break;
    case PROP_READY:
      g_value_set_boolean (value, self->ready);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
llm_resources_set_property (GObject      *object,
                            guint         prop_id,
                            const GValue *value,
                            GParamSpec   *pspec)
{
  LlmResources *self = LLM_RESOURCES (object);

  switch (prop_id)
    {
    case PROP_DATA_DIR:
      self->data_dir = g_value_dup_string (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
llm_resources_class_init (LlmResourcesClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GParamFlags ro = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;

  object_class->finalize = llm_resources_finalize;
  object_class->get_property = llm_resources_get_property;
  object_class->set_property = llm_resources_set_property;

  /** LlmResources:data-dir: where models are stored; its file system's free space counts. */
  properties[PROP_DATA_DIR] =
    g_param_spec_string ("data-dir", NULL, NULL, NULL,
                         G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  /** LlmResources:total-memory: physical memory, in bytes. */
  properties[PROP_TOTAL_MEMORY] =
    g_param_spec_uint64 ("total-memory", NULL, NULL, 0, G_MAXUINT64, 0, ro);
  /** LlmResources:available-memory: memory the kernel can give without swapping, in bytes. */
  properties[PROP_AVAILABLE_MEMORY] =
    g_param_spec_uint64 ("available-memory", NULL, NULL, 0, G_MAXUINT64, 0, ro);
  /** LlmResources:n-cores: processors this process may run on. */
  properties[PROP_N_CORES] =
    g_param_spec_uint ("n-cores", NULL, NULL, 0, G_MAXUINT, 0, ro);
  /** LlmResources:cpu-model: the processor's brand string, or %NULL. */
  properties[PROP_CPU_MODEL] =
    g_param_spec_string ("cpu-model", NULL, NULL, NULL, ro);
  /** LlmResources:cpu-features: the vector and crypto extensions the engine uses. */
  properties[PROP_CPU_FEATURES] =
    g_param_spec_string ("cpu-features", NULL, NULL, NULL, ro);
  /** LlmResources:disk-free: free bytes on the data dir's file system. */
  properties[PROP_DISK_FREE] =
    g_param_spec_uint64 ("disk-free", NULL, NULL, 0, G_MAXUINT64, 0, ro);
  /** LlmResources:disk-size: size of the data dir's file system, in bytes. */
  properties[PROP_DISK_SIZE] =
    g_param_spec_uint64 ("disk-size", NULL, NULL, 0, G_MAXUINT64, 0, ro);
  /** LlmResources:ready: whether memory and disk have been measured once. */
  properties[PROP_READY] =
    g_param_spec_boolean ("ready", NULL, NULL, FALSE, ro);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
llm_resources_init (LlmResources *self)
{
  /* Processor facts cannot change while we run: read them once, here. */
  self->n_cores = g_get_num_processors ();
  self->cpu_model = llm_cpu_dup_model_name ();
  self->cpu_features = llm_cpu_dup_feature_names ();
}

/**
 * llm_resources_new:
 * @data_dir: where models are stored
 *
 * Returns: (transfer full): resources not yet measured; call
 *   llm_resources_refresh_async().
 */
LlmResources *
llm_resources_new (const char *data_dir)
{
  g_return_val_if_fail (data_dir != NULL, NULL);

  return g_object_new (LLM_TYPE_RESOURCES, "data-dir", data_dir, NULL);
}

const char *
llm_resources_get_data_dir (LlmResources *self)
{
  g_return_val_if_fail (LLM_IS_RESOURCES (self), NULL);
  return self->data_dir;
}

guint64
llm_resources_get_total_memory (LlmResources *self)
{
  g_return_val_if_fail (LLM_IS_RESOURCES (self), 0);
  return self->total_memory;
}

guint64
llm_resources_get_available_memory (LlmResources *self)
{
  g_return_val_if_fail (LLM_IS_RESOURCES (self), 0);
  return self->available_memory;
}

guint
llm_resources_get_n_cores (LlmResources *self)
{
  g_return_val_if_fail (LLM_IS_RESOURCES (self), 0);
  return self->n_cores;
}

const char *
llm_resources_get_cpu_model (LlmResources *self)
{
  g_return_val_if_fail (LLM_IS_RESOURCES (self), NULL);
  return self->cpu_model;
}

const char *
llm_resources_get_cpu_features (LlmResources *self)
{
  g_return_val_if_fail (LLM_IS_RESOURCES (self), NULL);
  return self->cpu_features;
}

guint64
llm_resources_get_disk_free (LlmResources *self)
{
  g_return_val_if_fail (LLM_IS_RESOURCES (self), 0);
  return self->disk_free;
}

guint64
llm_resources_get_disk_size (LlmResources *self)
{
  g_return_val_if_fail (LLM_IS_RESOURCES (self), 0);
  return self->disk_size;
}

gboolean
llm_resources_get_ready (LlmResources *self)
{
  g_return_val_if_fail (LLM_IS_RESOURCES (self), FALSE);
  return self->ready;
}

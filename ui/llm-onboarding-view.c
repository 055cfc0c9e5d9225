/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-onboarding-view"

#include "config.h"

#include "llm-onboarding-view.h"

#include <glib/gi18n.h>

/* The assistant shown at first launch: welcome, what this computer can give,
 * then which layers to host. It finishes through the win.finish-onboarding
 * action, so the window decides what comes next. */
struct _LlmOnboardingView
{
  AdwBin parent_instance;

  LlmResources *resources;

  AdwCarousel *carousel;
  AdwActionRow *memory_row;
  AdwActionRow *processor_row;
  AdwActionRow *disk_row;
};

G_DEFINE_FINAL_TYPE (LlmOnboardingView, llm_onboarding_view, ADW_TYPE_BIN)

enum {
  PROP_0,
  PROP_RESOURCES,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
next_page_cb (LlmOnboardingView *self)
{
  guint position = (guint) adw_carousel_get_position (self->carousel);

  if (position + 1 < adw_carousel_get_n_pages (self->carousel))
    adw_carousel_scroll_to (self->carousel,
                            adw_carousel_get_nth_page (self->carousel, position + 1),
                            TRUE);
}

static void
update_rows (LlmOnboardingView *self)
{
  g_autofree char *memory = NULL;
  g_autofree char *processor = NULL;
  g_autofree char *disk = NULL;
  const char *features;
  guint n_cores;

  if (self->resources == NULL)
    return;

  n_cores = llm_resources_get_n_cores (self->resources);
  features = llm_resources_get_cpu_features (self->resources);
  processor = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%u core%s%s", "%u cores%s%s", n_cores),
                               n_cores,
                               features && *features ? " · " : "",
                               features ? features : "");
  adw_action_row_set_subtitle (self->processor_row, processor);

  if (!llm_resources_get_ready (self->resources))
    return;

  {
    g_autofree char *available = g_format_size (llm_resources_get_available_memory (self->resources));
    g_autofree char *total = g_format_size (llm_resources_get_total_memory (self->resources));
    g_autofree char *free_space = g_format_size (llm_resources_get_disk_free (self->resources));

    /* Translators: memory available now, then physical memory, e.g. "21.5 GB available of 25.2 GB" */
    memory = g_strdup_printf (_("%s available of %s"), available, total);
    /* Translators: free space, then the folder where models are stored */
    disk = g_strdup_printf (_("%s in %s"), free_space, llm_resources_get_data_dir (self->resources));
  }
  adw_action_row_set_subtitle (self->memory_row, memory);
  adw_action_row_set_subtitle (self->disk_row, disk);
}

LlmResources *
llm_onboarding_view_get_resources (LlmOnboardingView *self)
{
  g_return_val_if_fail (LLM_IS_ONBOARDING_VIEW (self), NULL);
  return self->resources;
}

void
llm_onboarding_view_set_resources (LlmOnboardingView *self,
                                   LlmResources      *resources)
{
  g_return_if_fail (LLM_IS_ONBOARDING_VIEW (self));
  g_return_if_fail (!resources || LLM_IS_RESOURCES (resources));

  if (self->resources == resources)
    return;

  if (self->resources != NULL)
    g_signal_handlers_disconnect_by_func (self->resources, update_rows, self);
  g_set_object (&self->resources, resources);
  if (resources != NULL)
    g_signal_connect_object (resources, "notify", G_CALLBACK (update_rows), self,
                             G_CONNECT_SWAPPED);
  update_rows (self);

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RESOURCES]);
}

static void
llm_onboarding_view_dispose (GObject *object)
{
  LlmOnboardingView *self = LLM_ONBOARDING_VIEW (object);

  gtk_widget_dispose_template (GTK_WIDGET (self), LLM_TYPE_ONBOARDING_VIEW);
  g_clear_object (&self->resources);

  G_OBJECT_CLASS (llm_onboarding_view_parent_class)->dispose (object);
}

static void
llm_onboarding_view_get_property (GObject    *object,
                                  guint       prop_id,
                                  GValue     *value,
                                  GParamSpec *pspec)
{
  LlmOnboardingView *self = LLM_ONBOARDING_VIEW (object);

  switch (prop_id)
    {
    case PROP_RESOURCES:
      g_value_set_object (value, self->resources);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
llm_onboarding_view_set_property (GObject      *object,
                                  guint         prop_id,
                                  const GValue *value,
                                  GParamSpec   *pspec)
{
  LlmOnboardingView *self = LLM_ONBOARDING_VIEW (object);

  switch (prop_id)
    {
    case PROP_RESOURCES:
      llm_onboarding_view_set_resources (self, g_value_get_object (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
llm_onboarding_view_class_init (LlmOnboardingViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = llm_onboarding_view_dispose;
  object_class->get_property = llm_onboarding_view_get_property;
  object_class->set_property = llm_onboarding_view_set_property;

  /** LlmOnboardingView:resources: the machine's figures shown and used for the recommendation. */
  properties[PROP_RESOURCES] =
    g_param_spec_object ("resources", NULL, NULL, LLM_TYPE_RESOURCES,
                         G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_template_from_resource (widget_class, RESOURCE_PATH "/llm-onboarding-view.ui");
  gtk_widget_class_bind_template_child (widget_class, LlmOnboardingView, carousel);
  gtk_widget_class_bind_template_child (widget_class, LlmOnboardingView, memory_row);
  gtk_widget_class_bind_template_child (widget_class, LlmOnboardingView, processor_row);
  gtk_widget_class_bind_template_child (widget_class, LlmOnboardingView, disk_row);
  gtk_widget_class_bind_template_callback (widget_class, next_page_cb);
}

static void
llm_onboarding_view_init (LlmOnboardingView *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-dashboard-view"

#include "config.h"

#include "llm-dashboard-view.h"

/* The node at a glance: its address and shards, its peers, the layer
 * coverage of its model and the pipeline running through it. Each part
 * shows its empty state until the node behind it is built. */
struct _LlmDashboardView
{
  AdwBin parent_instance;

  AdwActionRow *address_row;
};

G_DEFINE_FINAL_TYPE (LlmDashboardView, llm_dashboard_view, ADW_TYPE_BIN)

static void
llm_dashboard_view_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), LLM_TYPE_DASHBOARD_VIEW);

  G_OBJECT_CLASS (llm_dashboard_view_parent_class)->dispose (object);
}

static void
llm_dashboard_view_class_init (LlmDashboardViewClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = llm_dashboard_view_dispose;

  gtk_widget_class_set_template_from_resource (widget_class, RESOURCE_PATH "/llm-dashboard-view.ui");
  gtk_widget_class_bind_template_child (widget_class, LlmDashboardView, address_row);
}

static void
llm_dashboard_view_init (LlmDashboardView *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

/**
 * llm_dashboard_view_set_address:
 * @address: (nullable): this node's .llm address
 * @error_message: (nullable): why there is none
 *
 * Shows the node's address, or why it could not be read.
 */
void
llm_dashboard_view_set_address (LlmDashboardView *self,
                                const char       *address,
                                const char       *error_message)
{
  g_return_if_fail (LLM_IS_DASHBOARD_VIEW (self));

  adw_action_row_set_subtitle (self->address_row, address ? address : error_message);
}

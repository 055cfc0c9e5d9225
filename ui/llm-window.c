/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-window"

#include "config.h"

#include "llm-window.h"

#include "llm-dashboard-view.h"
#include "llm-onboarding-view.h"

/* The main window holds the product's three places: the onboarding assistant
 * (at first launch), the dashboard and the chat. Each is reached through an
 * action, so menus, shortcuts and tests all go the same way. */
struct _LlmWindow
{
  AdwApplicationWindow parent_instance;

  GSettings *settings;

  GtkStack *main_stack;
  AdwViewStack *view_stack;
  LlmOnboardingView *onboarding_view;
  LlmDashboardView *dashboard_view;
  LlmChatView *chat_view;
};

G_DEFINE_FINAL_TYPE (LlmWindow, llm_window, ADW_TYPE_APPLICATION_WINDOW)

static void
show_view (LlmWindow  *self,
           const char *name)
{
  gtk_stack_set_visible_child_name (self->main_stack, "main");
  adw_view_stack_set_visible_child_name (self->view_stack, name);
}

static void
show_dashboard_action (GtkWidget  *widget,
                       const char *action_name,
                       GVariant   *parameter)
{
  show_view (LLM_WINDOW (widget), "dashboard");
}

static void
show_chat_action (GtkWidget  *widget,
                  const char *action_name,
                  GVariant   *parameter)
{
  show_view (LLM_WINDOW (widget), "chat");
}

static void
show_onboarding_action (GtkWidget  *widget,
                        const char *action_name,
                        GVariant   *parameter)
{
  LlmWindow *self = LLM_WINDOW (widget);

  gtk_stack_set_visible_child_name (self->main_stack, "onboarding");
}

static void
finish_onboarding_action (GtkWidget  *widget,
                          const char *action_name,
                          GVariant   *parameter)
{
  LlmWindow *self = LLM_WINDOW (widget);

  g_settings_set_boolean (self->settings, "onboarding-done", TRUE);
  show_view (self, "dashboard");
}

/**
 * llm_window_get_visible_place:
 *
 * Returns: "onboarding", "dashboard" or "chat": what the person sees.
 */
const char *
llm_window_get_visible_place (LlmWindow *self)
{
  g_return_val_if_fail (LLM_IS_WINDOW (self), NULL);

  if (g_strcmp0 (gtk_stack_get_visible_child_name (self->main_stack), "onboarding") == 0)
    return "onboarding";
  return adw_view_stack_get_visible_child_name (self->view_stack);
}

/**
 * llm_window_open_model:
 * @self: a #LlmWindow
 * @model_dir: a Hugging Face model folder
 *
 * Opens the chat with that model, the keyboard in the message field
 * (`llm-node --model DIR`): no onboarding in the way.
 */
void
llm_window_open_model (LlmWindow  *self,
                       const char *model_dir)
{
  g_return_if_fail (LLM_IS_WINDOW (self));
  g_return_if_fail (model_dir != NULL);

  /* At once: the onboarding must not show through a crossfade. */
  gtk_stack_set_visible_child_full (self->main_stack, "main", GTK_STACK_TRANSITION_TYPE_NONE);
  show_view (self, "chat");
  llm_chat_view_open_model (self->chat_view, model_dir);
  llm_chat_view_focus_prompt (self->chat_view);
}

/**
 * llm_window_get_chat_view:
 *
 * Returns: (transfer none): the chat
 */
LlmChatView *
llm_window_get_chat_view (LlmWindow *self)
{
  g_return_val_if_fail (LLM_IS_WINDOW (self), NULL);
  return self->chat_view;
}

/* The size is saved when the window closes rather than on every resize, and
 * only the unmaximized size, so that unmaximizing restores it. */
static gboolean
llm_window_close_request (GtkWindow *window)
{
  LlmWindow *self = LLM_WINDOW (window);
  int width, height;

  gtk_window_get_default_size (window, &width, &height);
  g_settings_delay (self->settings);
  g_settings_set_boolean (self->settings, "window-maximized", gtk_window_is_maximized (window));
  if (!gtk_window_is_maximized (window))
    {
      g_settings_set_int (self->settings, "window-width", width);
      g_settings_set_int (self->settings, "window-height", height);
    }
  g_settings_apply (self->settings);

  return GTK_WINDOW_CLASS (llm_window_parent_class)->close_request (window);
}

static void
identity_changed_cb (LlmWindow      *self,
                     GParamSpec     *pspec,
                     LlmApplication *application)
{
  LlmIdentity *identity = llm_application_get_identity (application);

  if (identity != NULL || llm_application_get_identity_error (application) != NULL)
    llm_dashboard_view_set_address (self->dashboard_view,
                                    identity ? llm_identity_get_address (identity) : NULL,
                                    llm_application_get_identity_error (application));
}

static void
llm_window_constructed (GObject *object)
{
  LlmWindow *self = LLM_WINDOW (object);

  G_OBJECT_CLASS (llm_window_parent_class)->constructed (object);

  gtk_window_set_default_size (GTK_WINDOW (self),
                               g_settings_get_int (self->settings, "window-width"),
                               g_settings_get_int (self->settings, "window-height"));
  if (g_settings_get_boolean (self->settings, "window-maximized"))
    gtk_window_maximize (GTK_WINDOW (self));

  if (g_settings_get_boolean (self->settings, "onboarding-done"))
    show_view (self, "dashboard");
  else
    gtk_stack_set_visible_child_name (self->main_stack, "onboarding");
}

static void
llm_window_dispose (GObject *object)
{
  LlmWindow *self = LLM_WINDOW (object);

  gtk_widget_dispose_template (GTK_WIDGET (self), LLM_TYPE_WINDOW);
  g_clear_object (&self->settings);

  G_OBJECT_CLASS (llm_window_parent_class)->dispose (object);
}

static void
llm_window_class_init (LlmWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  GtkWindowClass *window_class = GTK_WINDOW_CLASS (klass);

  object_class->constructed = llm_window_constructed;
  object_class->dispose = llm_window_dispose;
  window_class->close_request = llm_window_close_request;

  g_type_ensure (LLM_TYPE_CHAT_VIEW);
  g_type_ensure (LLM_TYPE_DASHBOARD_VIEW);
  g_type_ensure (LLM_TYPE_ONBOARDING_VIEW);

  gtk_widget_class_set_template_from_resource (widget_class, RESOURCE_PATH "/llm-window.ui");
  gtk_widget_class_bind_template_child (widget_class, LlmWindow, main_stack);
  gtk_widget_class_bind_template_child (widget_class, LlmWindow, view_stack);
  gtk_widget_class_bind_template_child (widget_class, LlmWindow, onboarding_view);
  gtk_widget_class_bind_template_child (widget_class, LlmWindow, dashboard_view);
  gtk_widget_class_bind_template_child (widget_class, LlmWindow, chat_view);

  gtk_widget_class_install_action (widget_class, "win.show-dashboard", NULL, show_dashboard_action);
  gtk_widget_class_install_action (widget_class, "win.show-chat", NULL, show_chat_action);
  gtk_widget_class_install_action (widget_class, "win.show-onboarding", NULL, show_onboarding_action);
  gtk_widget_class_install_action (widget_class, "win.finish-onboarding", NULL, finish_onboarding_action);

  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_1, GDK_CONTROL_MASK, "win.show-dashboard", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_2, GDK_CONTROL_MASK, "win.show-chat", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_3, GDK_CONTROL_MASK, "win.show-onboarding", NULL);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_w, GDK_CONTROL_MASK, "window.close", NULL);
}

static void
llm_window_init (LlmWindow *self)
{
  self->settings = g_settings_new (APP_ID);

  gtk_widget_init_template (GTK_WIDGET (self));
}

LlmWindow *
llm_window_new (LlmApplication *application)
{
  LlmWindow *self;

  g_return_val_if_fail (LLM_IS_APPLICATION (application), NULL);

  /* GtkWindow:application is not a construct property: it is set after
   * constructed(), so the window follows the application's state here. */
  self = g_object_new (LLM_TYPE_WINDOW, "application", application, NULL);
  llm_onboarding_view_set_resources (self->onboarding_view,
                                     llm_application_get_resources (application));
  g_signal_connect_object (application, "notify::identity", G_CALLBACK (identity_changed_cb),
                           self, G_CONNECT_SWAPPED);
  identity_changed_cb (self, NULL, application);

  return self;
}

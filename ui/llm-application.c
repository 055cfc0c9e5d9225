/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-application"

#include "config.h"

#include "llm-application.h"

#include <glib/gi18n.h>

#include "llm-cli.h"
#include "llm-paths.h"
#include "llm-window.h"

struct _LlmApplication
{
  AdwApplication parent_instance;

  LlmResources *resources;
  GCancellable *cancellable;
};

G_DEFINE_FINAL_TYPE (LlmApplication, llm_application, ADW_TYPE_APPLICATION)

/**
 * llm_application_get_resources:
 *
 * Returns: (transfer none): what this machine can give, measured at startup.
 */
LlmResources *
llm_application_get_resources (LlmApplication *self)
{
  g_return_val_if_fail (LLM_IS_APPLICATION (self), NULL);
  return self->resources;
}

static void
about_action (GSimpleAction *action,
              GVariant      *parameter,
              gpointer       user_data)
{
  LlmApplication *self = user_data;
  static const char *developers[] = { "The llm-node developers", NULL };
  GtkWidget *about;

  about = g_object_new (ADW_TYPE_ABOUT_WINDOW,
                        "transient-for", gtk_application_get_active_window (GTK_APPLICATION (self)),
                        "application", self,
                        "application-icon", APP_ID,
                        "application-name", _("llm-node"),
                        "developer-name", _("The llm-node developers"),
                        "version", PACKAGE_VERSION,
                        "comments", _("Run large language models together, each computer hosting a slice of the layers"),
                        "website", "https://github.com/llm-node/llm-node",
                        "issue-url", "https://github.com/llm-node/llm-node/issues",
                        "license-type", GTK_LICENSE_GPL_3_0,
                        "developers", developers,
                        /* Translators: your names, one per line, as "Name <email>" */
                        "translator-credits", _("translator-credits"),
                        NULL);
  gtk_window_present (GTK_WINDOW (about));
}

static void
quit_action (GSimpleAction *action,
             GVariant      *parameter,
             gpointer       user_data)
{
  g_application_quit (G_APPLICATION (user_data));
}

static const GActionEntry app_actions[] = {
  { "about", about_action },
  { "quit", quit_action },
};

static void
resources_refreshed_cb (GObject      *object,
                        GAsyncResult *result,
                        gpointer      user_data)
{
  g_autoptr(GError) error = NULL;

  if (!llm_resources_refresh_finish (LLM_RESOURCES (object), result, &error) &&
      !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_warning ("%s", error->message);
}

static void
llm_application_startup (GApplication *application)
{
  LlmApplication *self = LLM_APPLICATION (application);
  static const char *quit_accels[] = { "<Control>q", NULL };
  g_autofree char *data_dir = llm_paths_dup_default_data_dir ();

  G_APPLICATION_CLASS (llm_application_parent_class)->startup (application);

  g_action_map_add_action_entries (G_ACTION_MAP (self), app_actions, G_N_ELEMENTS (app_actions), self);
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "app.quit", quit_accels);

  self->resources = llm_resources_new (data_dir);
  llm_resources_refresh_async (self->resources, self->cancellable, resources_refreshed_cb, NULL);
}

static void
llm_application_activate (GApplication *application)
{
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (application));

  if (window == NULL)
    window = GTK_WINDOW (llm_window_new (LLM_APPLICATION (application)));

  gtk_window_present (window);
}

/* `--version` is answered here, before registration and before GTK opens the
 * display, so it works on a machine without one. */
static int
llm_application_handle_local_options (GApplication *application,
                                      GVariantDict *options)
{
  if (g_variant_dict_contains (options, "version"))
    {
      g_print ("llm-node %s\n", PACKAGE_VERSION);
      return 0;
    }

  return -1;
}

static void
llm_application_shutdown (GApplication *application)
{
  LlmApplication *self = LLM_APPLICATION (application);

  g_cancellable_cancel (self->cancellable);

  G_APPLICATION_CLASS (llm_application_parent_class)->shutdown (application);
}

static void
llm_application_dispose (GObject *object)
{
  LlmApplication *self = LLM_APPLICATION (object);

  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  g_clear_object (&self->resources);

  G_OBJECT_CLASS (llm_application_parent_class)->dispose (object);
}

static void
llm_application_class_init (LlmApplicationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GApplicationClass *application_class = G_APPLICATION_CLASS (klass);

  object_class->dispose = llm_application_dispose;
  application_class->startup = llm_application_startup;
  application_class->activate = llm_application_activate;
  application_class->handle_local_options = llm_application_handle_local_options;
  application_class->shutdown = llm_application_shutdown;
}

static void
llm_application_init (LlmApplication *self)
{
  static const GOptionEntry options[] = {
    { "version", 0, 0, G_OPTION_ARG_NONE, NULL, N_("Print the version and exit"), NULL },
    { NULL }
  };
  g_autofree char *commands = llm_cli_dup_commands_help ();

  self->cancellable = g_cancellable_new ();

  g_application_add_main_option_entries (G_APPLICATION (self), options);
  g_application_set_option_context_parameter_string (G_APPLICATION (self), _("[COMMAND]"));
  g_application_set_option_context_summary (G_APPLICATION (self),
                                            _("Run large language models together. Without a command, opens the window."));
  g_application_set_option_context_description (G_APPLICATION (self), commands);
}

LlmApplication *
llm_application_new (void)
{
  return g_object_new (LLM_TYPE_APPLICATION,
                       "application-id", APP_ID,
                       "resource-base-path", RESOURCE_PATH,
                       "flags", G_APPLICATION_DEFAULT_FLAGS,
                       NULL);
}

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
  LlmIdentity *identity;
  GCancellable *cancellable;
  char *identity_error;
  char *model_dir;              /* --model, for the first window */
};

G_DEFINE_FINAL_TYPE (LlmApplication, llm_application, ADW_TYPE_APPLICATION)

enum {
  PROP_0,
  PROP_IDENTITY,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

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

/**
 * llm_application_get_identity:
 *
 * Returns: (transfer none) (nullable): this node's identity, once read or
 *   created in the data dir; %NULL before, or when the key file is invalid.
 */
LlmIdentity *
llm_application_get_identity (LlmApplication *self)
{
  g_return_val_if_fail (LLM_IS_APPLICATION (self), NULL);
  return self->identity;
}

/**
 * llm_application_get_identity_error:
 *
 * Returns: (nullable): why the identity could not be read, for the person.
 */
const char *
llm_application_get_identity_error (LlmApplication *self)
{
  g_return_val_if_fail (LLM_IS_APPLICATION (self), NULL);
  return self->identity_error;
}

static void
identity_loaded_cb (GObject      *object,
                    GAsyncResult *result,
                    gpointer      user_data)
{
  g_autoptr(LlmApplication) self = user_data;
  g_autoptr(GError) error = NULL;

  self->identity = llm_identity_load_or_create_finish (result, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (self->identity == NULL)
    {
      /* An invalid key file is kept as it is and shown, never replaced. */
      g_warning ("%s", error->message);
      self->identity_error = g_strdup (error->message);
    }
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_IDENTITY]);
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
  llm_identity_load_or_create_async (data_dir, self->cancellable, identity_loaded_cb,
                                     g_object_ref (self));
}

static LlmWindow *
ensure_window (LlmApplication *self)
{
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (self));

  return window != NULL ? LLM_WINDOW (window) : llm_window_new (self);
}

static void
llm_application_activate (GApplication *application)
{
  LlmApplication *self = LLM_APPLICATION (application);
  LlmWindow *window = ensure_window (self);
  g_autofree char *model_dir = g_steal_pointer (&self->model_dir);

  if (model_dir != NULL)
    llm_window_open_model (window, model_dir);
  gtk_window_present (GTK_WINDOW (window));
}

/* `llm-node --model DIR` while the app already runs: the running instance
 * opens the model. */
static void
llm_application_open (GApplication  *application,
                      GFile        **files,
                      int            n_files,
                      const char    *hint)
{
  LlmWindow *window = ensure_window (LLM_APPLICATION (application));

  if (n_files > 0 && g_file_peek_path (files[0]) != NULL)
    llm_window_open_model (window, g_file_peek_path (files[0]));
  gtk_window_present (GTK_WINDOW (window));
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
  g_clear_object (&self->identity);

  G_OBJECT_CLASS (llm_application_parent_class)->dispose (object);
}

static void
llm_application_finalize (GObject *object)
{
  LlmApplication *self = LLM_APPLICATION (object);

  g_free (self->identity_error);
  g_free (self->model_dir);

  G_OBJECT_CLASS (llm_application_parent_class)->finalize (object);
}

static void
llm_application_get_property (GObject    *object,
                              guint       prop_id,
                              GValue     *value,
                              GParamSpec *pspec)
{
  LlmApplication *self = LLM_APPLICATION (object);

  switch (prop_id)
    {
    case PROP_IDENTITY:
      g_value_set_object (value, self->identity);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
llm_application_class_init (LlmApplicationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GApplicationClass *application_class = G_APPLICATION_CLASS (klass);

  object_class->dispose = llm_application_dispose;
  object_class->finalize = llm_application_finalize;
  object_class->get_property = llm_application_get_property;
  application_class->startup = llm_application_startup;
  application_class->activate = llm_application_activate;
  application_class->open = llm_application_open;
  application_class->handle_local_options = llm_application_handle_local_options;
  application_class->shutdown = llm_application_shutdown;

  /**
   * LlmApplication:identity: (nullable)
   *
   * This node's identity, read or created at startup on a worker thread;
   * notified once it is there, or when it failed
   * (llm_application_get_identity_error()).
   */
  properties[PROP_IDENTITY] =
    g_param_spec_object ("identity", NULL, NULL, LLM_TYPE_IDENTITY,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
llm_application_init (LlmApplication *self)
{
  static const GOptionEntry options[] = {
    { "version", 0, 0, G_OPTION_ARG_NONE, NULL, N_("Print the version and exit"), NULL },
    { "model", 0, 0, G_OPTION_ARG_FILENAME, NULL,
      N_("Open the chat with the Hugging Face model in this folder"), N_("DIR") },
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
                       "flags", G_APPLICATION_HANDLES_OPEN,
                       NULL);
}

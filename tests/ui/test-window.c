/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <string.h>

#include "llm-address.h"
#include "llm-application.h"
#include "llm-test-ui.h"
#include "llm-window.h"

/* The main window in a real X server (Xvfb): its places, the actions and
 * shortcuts that reach them, its narrow layout and what it draws. */

/* The data dirs before G_TEST_OPTION_ISOLATE_DIRS hid them: icon themes and
 * the MIME database, which image loading needs, live there. */
static char **system_data_dirs;

/* One application for the whole program, as in a real process; each test
 * opens its own window on it. */
static LlmApplication *application;

typedef struct
{
  GSettings *settings;
} Fixture;

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  user_data)
{
  g_autofree char *data_dirs = g_strjoinv (":", system_data_dirs);

  g_setenv ("XDG_DATA_DIRS", data_dirs, TRUE);

  fixture->settings = g_settings_new (APP_ID);
  /* A first launch: every key at its default. */
  g_settings_reset (fixture->settings, "onboarding-done");
  g_settings_reset (fixture->settings, "window-width");
  g_settings_reset (fixture->settings, "window-height");
  g_settings_reset (fixture->settings, "window-maximized");

  if (!g_application_get_is_registered (G_APPLICATION (application)))
    {
      g_autoptr(GError) error = NULL;

      g_application_register (G_APPLICATION (application), NULL, &error);
      g_assert_no_error (error);
      for (guint i = 0; system_data_dirs[i] != NULL; i++)
        {
          g_autofree char *icons = g_build_filename (system_data_dirs[i], "icons", NULL);

          gtk_icon_theme_add_search_path (gtk_icon_theme_get_for_display (gdk_display_get_default ()),
                                          icons);
        }
      /* The app's own icon, from the source tree. */
      gtk_icon_theme_add_search_path (gtk_icon_theme_get_for_display (gdk_display_get_default ()),
                                      g_test_get_filename (G_TEST_DIST, "..", "data", "icons", NULL));
    }
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  user_data)
{
  GList *windows;

  /* Every window closes and is finalized: nothing holds on to it. */
  while ((windows = gtk_application_get_windows (GTK_APPLICATION (application))) != NULL)
    {
      GtkWindow *window = windows->data;

      g_object_add_weak_pointer (G_OBJECT (window), (gpointer *) &window);
      gtk_window_destroy (window);
      while (window != NULL && g_main_context_iteration (NULL, FALSE))
        ;
      g_assert_null (window);
    }

  g_clear_object (&fixture->settings);
}


static LlmWindow *
open_window (Fixture *fixture)
{
  GtkWindow *window;
  gint64 start = g_get_monotonic_time ();

  g_application_activate (G_APPLICATION (application));
  window = gtk_application_get_active_window (GTK_APPLICATION (application));
  g_assert_true (LLM_IS_WINDOW (window));
  llm_test_await_frames (GTK_WIDGET (window), 1);
  g_test_message ("window shown %.1f ms after activation",
                  (g_get_monotonic_time () - start) / 1000.0);

  return LLM_WINDOW (window);
}

static AdwActionRow *
find_row (GtkWidget  *widget,
          const char *title)
{
  if (ADW_IS_ACTION_ROW (widget) &&
      g_strcmp0 (adw_preferences_row_get_title (ADW_PREFERENCES_ROW (widget)), title) == 0)
    return ADW_ACTION_ROW (widget);

  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      AdwActionRow *row = find_row (child, title);

      if (row != NULL)
        return row;
    }

  return NULL;
}

static void
test_window_first_launch (Fixture       *fixture,
                          gconstpointer  user_data)
{
  LlmWindow *window = open_window (fixture);

  g_assert_cmpstr (llm_window_get_visible_place (window), ==, "onboarding");

  /* The assistant shows what this machine can give, once measured. */
  LLM_TEST_UI_AWAIT_UNTIL (llm_resources_get_ready (llm_application_get_resources (application)), 5);
  g_assert_nonnull (strstr (adw_action_row_get_subtitle (find_row (GTK_WIDGET (window), "Memory")),
                            " of "));
  g_assert_nonnull (strstr (adw_action_row_get_subtitle (find_row (GTK_WIDGET (window),
                                                                   "Free Disk Space")),
                            g_get_user_data_dir ()));

  /* Finishing the assistant leads to the dashboard, and is remembered. */
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), "win.finish-onboarding", NULL));
  g_assert_cmpstr (llm_window_get_visible_place (window), ==, "dashboard");
  g_assert_true (g_settings_get_boolean (fixture->settings, "onboarding-done"));
}

/* The dashboard shows this node's .llm address, read or created in the data
 * dir on a worker thread at startup. */
static void
test_window_address (Fixture       *fixture,
                     gconstpointer  user_data)
{
  LlmWindow *window = open_window (fixture);
  AdwActionRow *row = find_row (GTK_WIDGET (window), "Address");
  LlmIdentity *identity;

  g_assert_nonnull (row);
  LLM_TEST_UI_AWAIT_UNTIL (llm_application_get_identity (application) != NULL, 5);
  identity = llm_application_get_identity (application);
  g_assert_true (llm_address_is_valid (llm_identity_get_address (identity)));
  g_assert_cmpstr (adw_action_row_get_subtitle (row), ==, llm_identity_get_address (identity));
}

static void
test_window_later_launch (Fixture       *fixture,
                          gconstpointer  user_data)
{
  LlmWindow *window;

  g_settings_set_boolean (fixture->settings, "onboarding-done", TRUE);
  window = open_window (fixture);
  g_assert_cmpstr (llm_window_get_visible_place (window), ==, "dashboard");
}

static void
test_window_places_through_actions (Fixture       *fixture,
                                    gconstpointer  user_data)
{
  static const struct {
    const char *action;
    const char *place;
  } places[] = {
    { "win.show-chat", "chat" },
    { "win.show-dashboard", "dashboard" },
    { "win.show-onboarding", "onboarding" },
    { "win.show-chat", "chat" },
  };
  LlmWindow *window = open_window (fixture);

  for (guint i = 0; i < G_N_ELEMENTS (places); i++)
    {
      g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), places[i].action, NULL));
      g_assert_cmpstr (llm_window_get_visible_place (window), ==, places[i].place);
    }
}

/* The accelerators the window's own shortcut controller maps to an action. */
static char *
dup_trigger_for_action (GtkWidget  *widget,
                        const char *action_name)
{
  g_autoptr(GListModel) controllers = gtk_widget_observe_controllers (widget);

  for (guint i = 0; i < g_list_model_get_n_items (controllers); i++)
    {
      g_autoptr(GtkEventController) controller = g_list_model_get_item (controllers, i);

      if (!GTK_IS_SHORTCUT_CONTROLLER (controller))
        continue;

      for (guint j = 0; j < g_list_model_get_n_items (G_LIST_MODEL (controller)); j++)
        {
          g_autoptr(GtkShortcut) shortcut = g_list_model_get_item (G_LIST_MODEL (controller), j);
          GtkShortcutAction *action = gtk_shortcut_get_action (shortcut);

          if (GTK_IS_NAMED_ACTION (action) &&
              g_str_equal (gtk_named_action_get_action_name (GTK_NAMED_ACTION (action)), action_name))
            return gtk_shortcut_trigger_to_string (gtk_shortcut_get_trigger (shortcut));
        }
    }

  return NULL;
}

static void
test_window_shortcuts (Fixture       *fixture,
                       gconstpointer  user_data)
{
  static const struct {
    const char *action;
    const char *trigger;
  } shortcuts[] = {
    { "win.show-dashboard", "<Control>1" },
    { "win.show-chat", "<Control>2" },
    { "win.show-onboarding", "<Control>3" },
    { "window.close", "<Control>w" },
  };
  LlmWindow *window = open_window (fixture);
  g_auto(GStrv) quit_accels = NULL;

  for (guint i = 0; i < G_N_ELEMENTS (shortcuts); i++)
    {
      g_autofree char *trigger = dup_trigger_for_action (GTK_WIDGET (window), shortcuts[i].action);

      g_assert_cmpstr (trigger, ==, shortcuts[i].trigger);
    }

  quit_accels = gtk_application_get_accels_for_action (GTK_APPLICATION (application),
                                                       "app.quit");
  g_assert_cmpstr (quit_accels[0], ==, "<Control>q");

  /* GtkApplication loads gtk/help-overlay.ui from the resource base path. */
  g_assert_nonnull (gtk_application_window_get_help_overlay (GTK_APPLICATION_WINDOW (window)));
}

static void
test_window_about (Fixture       *fixture,
                   gconstpointer  user_data)
{
  LlmWindow *window = open_window (fixture);
  GList *windows;

  g_action_group_activate_action (G_ACTION_GROUP (application), "about", NULL);
  windows = gtk_application_get_windows (GTK_APPLICATION (application));
  g_assert_true (ADW_IS_ABOUT_WINDOW (windows->data));
  g_assert_cmpstr (adw_about_window_get_version (windows->data), ==, PACKAGE_VERSION);
  g_assert_true (gtk_window_get_transient_for (windows->data) == GTK_WINDOW (window));
}

static void
test_window_size_remembered (Fixture       *fixture,
                             gconstpointer  user_data)
{
  LlmWindow *window;
  int width, height;

  g_settings_set_int (fixture->settings, "window-width", 640);
  g_settings_set_int (fixture->settings, "window-height", 480);
  window = open_window (fixture);
  gtk_window_get_default_size (GTK_WINDOW (window), &width, &height);
  g_assert_cmpint (width, ==, 640);
  g_assert_cmpint (height, ==, 480);

  gtk_window_set_default_size (GTK_WINDOW (window), 700, 500);
  gtk_window_close (GTK_WINDOW (window));
  g_assert_cmpint (g_settings_get_int (fixture->settings, "window-width"), ==, 700);
  g_assert_cmpint (g_settings_get_int (fixture->settings, "window-height"), ==, 500);
  g_assert_false (g_settings_get_boolean (fixture->settings, "window-maximized"));
}

static void
test_window_narrow (Fixture       *fixture,
                    gconstpointer  user_data)
{
  static const char *actions[] = { "win.show-onboarding", "win.show-dashboard", "win.show-chat" };
  LlmWindow *window = open_window (fixture);

  /* Every place fits a phone-sized window: 360 px wide. */
  for (guint i = 0; i < G_N_ELEMENTS (actions); i++)
    {
      int minimum_width;

      gtk_widget_activate_action (GTK_WIDGET (window), actions[i], NULL);
      gtk_widget_measure (gtk_window_get_child (GTK_WINDOW (window)), GTK_ORIENTATION_HORIZONTAL,
                          -1, &minimum_width, NULL, NULL, NULL);
      g_test_message ("%s: minimum width %d px", actions[i], minimum_width);
      g_assert_cmpint (minimum_width, <=, 360);
    }
}

/* The share of pixels that differ clearly from the most common colour, the
 * window's background. */
static double
share_of_drawn_pixels (GdkTexture *texture)
{
  int width = gdk_texture_get_width (texture);
  int height = gdk_texture_get_height (texture);
  gsize stride = width * 4;
  g_autofree guchar *pixels = g_malloc (stride * height);
  g_autoptr(GHashTable) counts = g_hash_table_new (NULL, NULL);
  guint32 background = 0;
  guint background_count = 0;
  guint n_drawn = 0;

  gdk_texture_download (texture, pixels, stride);
  for (int i = 0; i < width * height; i++)
    {
      guint32 color = ((guint32 *) pixels)[i];
      guint count = GPOINTER_TO_UINT (g_hash_table_lookup (counts, GUINT_TO_POINTER (color))) + 1;

      g_hash_table_insert (counts, GUINT_TO_POINTER (color), GUINT_TO_POINTER (count));
      if (count > background_count)
        {
          background = color;
          background_count = count;
        }
    }

  for (int i = 0; i < width * height; i++)
    {
      const guchar *pixel = pixels + 4 * i;
      const guchar *reference = (const guchar *) &background;
      int difference = 0;

      for (int c = 0; c < 4; c++)
        difference += ABS (pixel[c] - reference[c]);
      if (difference > 48)
        n_drawn++;
    }

  return (double) n_drawn / (width * height);
}

static GtkButton *
find_button (GtkWidget  *widget,
             const char *label)
{
  if (GTK_IS_BUTTON (widget) && g_strcmp0 (gtk_button_get_label (GTK_BUTTON (widget)), label) == 0)
    return GTK_BUTTON (widget);

  for (GtkWidget *child = gtk_widget_get_first_child (widget); child != NULL;
       child = gtk_widget_get_next_sibling (child))
    {
      GtkButton *button = find_button (child, label);

      if (button != NULL)
        return button;
    }

  return NULL;
}

/* Opens a window of the given size on a place, clicks a button there if
 * asked, and checks what it draws. */
static void
check_screenshot (Fixture    *fixture,
                  const char *action,
                  const char *button,
                  int         width,
                  int         height,
                  const char *name)
{
  g_autoptr(GdkTexture) texture = NULL;
  g_autofree char *path = g_test_build_filename (G_TEST_BUILT, name, NULL);
  LlmWindow *window;
  GdkSurface *surface;
  double drawn;

  g_settings_set_int (fixture->settings, "window-width", width);
  g_settings_set_int (fixture->settings, "window-height", height);
  window = open_window (fixture);
  g_assert_true (gtk_widget_activate_action (GTK_WIDGET (window), action, NULL));
  if (button != NULL)
    g_signal_emit_by_name (find_button (GTK_WIDGET (window), button), "clicked");
  /* The onboarding view measures the machine on a worker thread. */
  LLM_TEST_UI_AWAIT_UNTIL (llm_resources_get_ready (llm_application_get_resources (application)), 5);
  surface = gtk_native_get_surface (GTK_NATIVE (window));
  LLM_TEST_UI_AWAIT_UNTIL (gdk_surface_get_width (surface) == width &&
               gdk_surface_get_height (surface) == height, 5);
  /* Past the page transition. */
  llm_test_await_frames (GTK_WIDGET (window), 30);

  /* The surface has the size asked for; the window widget, that less the
   * frame client-side decorations draw around it. */
  texture = llm_test_render_widget (GTK_WIDGET (window));
  g_assert_cmpint (gdk_texture_get_width (texture), ==, gtk_widget_get_width (GTK_WIDGET (window)));
  g_assert_cmpint (gdk_texture_get_height (texture), ==, gtk_widget_get_height (GTK_WIDGET (window)));
  g_assert_cmpint (gdk_texture_get_width (texture), >, width - 40);
  g_assert_cmpint (gdk_texture_get_height (texture), >, height - 40);

  /* Not blank: headings, rows and buttons cover part of the window. */
  drawn = share_of_drawn_pixels (texture);
  g_test_message ("%s: %d×%d, %.1f %% of pixels drawn over the background",
                  name, gdk_texture_get_width (texture), gdk_texture_get_height (texture),
                  100 * drawn);
  g_assert_cmpfloat (drawn, >, 0.02);
  g_assert_cmpfloat (drawn, <, 0.98);

  g_assert_true (gdk_texture_save_to_png (texture, path));
  g_test_message ("saved %s", path);
  gtk_window_destroy (GTK_WINDOW (window));
}

static void
test_window_screenshots (Fixture       *fixture,
                         gconstpointer  user_data)
{
  check_screenshot (fixture, "win.show-onboarding", NULL, 980, 700, "screenshot-onboarding.png");
  check_screenshot (fixture, "win.show-onboarding", "_Get Started", 980, 700,
                    "screenshot-onboarding-machine.png");
  check_screenshot (fixture, "win.show-dashboard", NULL, 980, 700, "screenshot-dashboard.png");
  check_screenshot (fixture, "win.show-chat", NULL, 980, 700, "screenshot-chat.png");
  check_screenshot (fixture, "win.show-dashboard", NULL, 360, 640, "screenshot-dashboard-narrow.png");
}

int
main (int   argc,
      char *argv[])
{
  int status;

  system_data_dirs = g_strdupv ((char **) g_get_system_data_dirs ());
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  application = llm_application_new ();
  /* The test's private session bus may hold another instance. */
  g_application_set_flags (G_APPLICATION (application), G_APPLICATION_NON_UNIQUE);

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/llm/ui/window/first-launch", test_window_first_launch);
  ADD ("/llm/ui/window/later-launch", test_window_later_launch);
  ADD ("/llm/ui/window/address", test_window_address);
  ADD ("/llm/ui/window/places-through-actions", test_window_places_through_actions);
  ADD ("/llm/ui/window/shortcuts", test_window_shortcuts);
  ADD ("/llm/ui/window/about", test_window_about);
  ADD ("/llm/ui/window/size-remembered", test_window_size_remembered);
  ADD ("/llm/ui/window/narrow", test_window_narrow);
  ADD ("/llm/ui/window/screenshots", test_window_screenshots);
#undef ADD

  status = g_test_run ();
  g_clear_object (&application);
  return status;
}

/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-cli"

#include "config.h"

#include <glib/gi18n.h>
#include <glib-unix.h>

#include "llm-cli-private.h"
#include "llm-control.h"
#include "llm-model.h"
#include "llm-node.h"

/* `llm-node host`: a headless node hosting a range of layers until it is
 * told to stop; `llm-node peers`: what that node knows. */

typedef struct
{
  GMainLoop *loop;
  LlmNode *node;
  LlmShard *shard;
  LlmModel *model;
  LlmLayers *layers;
  gboolean loading;
  int status;
} Host;

static gboolean
parse_layers (const char  *text,
              guint       *first,
              guint       *last,
              GError     **error)
{
  g_auto(GStrv) bounds = g_strsplit (text, "-", 3);
  guint64 a, b;

  if (g_strv_length (bounds) != 2 ||
      !g_ascii_string_to_unsigned (bounds[0], 10, 0, G_MAXINT, &a, NULL) ||
      !g_ascii_string_to_unsigned (bounds[1], 10, 0, G_MAXINT, &b, NULL) || a > b)
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   _("--layers takes a range A-B of layer numbers, first to last inclusive, "
                     "0-based (such as 0-9), not “%s”"), text);
      return FALSE;
    }
  *first = a;
  *last = b;
  return TRUE;
}

/* The model's id in announcements: the folder's name, as in a Hugging Face
 * repository's (stories260K, Qwen3-0.6B). */
static char *
dup_model_id (const char *model_dir)
{
  g_autofree char *canonical = g_canonicalize_filename (model_dir, NULL);

  return g_path_get_basename (canonical);
}

static void
layers_loaded_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  Host *host = user_data;
  g_autoptr(GError) error = NULL;

  host->loading = FALSE;
  host->layers = g_task_propagate_pointer (G_TASK (result), &error);
  if (host->layers == NULL)
    {
      llm_shard_set_failed (host->shard, error);
      g_printerr (_("llm-node host: %s\n"), error->message);
      host->status = 1;
      g_main_loop_quit (host->loop);
      return;
    }
  llm_shard_set_state (host->shard, LLM_SHARD_STATE_READY);
}

static void
load_layers_thread (GTask        *task,
                    gpointer      source_object,
                    gpointer      task_data,
                    GCancellable *cancellable)
{
  Host *host = task_data;
  g_autoptr(GError) error = NULL;
  LlmLayers *layers;

  layers = llm_layers_new (host->model, llm_shard_get_first_layer (host->shard),
                           llm_shard_get_last_layer (host->shard) + 1, &error);
  if (layers == NULL)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_pointer (task, layers, (GDestroyNotify) llm_layers_free);
}

static void
stopped_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  Host *host = user_data;

  llm_node_stop_finish (LLM_NODE (source), result, NULL);
  g_main_loop_quit (host->loop);
}

static gboolean
on_signal (gpointer user_data)
{
  Host *host = user_data;

  if (llm_node_get_running (host->node))
    llm_node_stop_async (host->node, NULL, stopped_cb, host);
  return G_SOURCE_CONTINUE;
}

int
llm_cli_host (CliOptions  *options,
              int          argc,
              char       **argv)
{
  Host host = { 0 };
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  g_autoptr(LlmIdentity) identity = NULL;
  g_autoptr(LlmModel) model = NULL;
  g_autoptr(LlmNode) node = NULL;
  g_autoptr(LlmShard) shard = NULL;
  g_autoptr(LlmControlServer) control = NULL;
  g_autoptr(GSocketConnectable) listen = NULL;
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *data_dir = NULL;
  g_autofree char *model_id = NULL;
  g_autofree char *endpoints = NULL;
  guint first, last, n_layers, sigint, sigterm;

  if (options->model_dir == NULL || options->layers == NULL)
    {
      g_printerr (_("llm-node host: --model DIR and --layers A-B are required\n"));
      return 2;
    }
  if (!parse_layers (options->layers, &first, &last, &error))
    {
      g_printerr ("llm-node host: %s\n", error->message);
      return 2;
    }
  if (options->listen != NULL)
    {
      listen = g_network_address_parse (options->listen, LLM_NODE_DEFAULT_PORT, &error);
      if (listen == NULL)
        {
          g_printerr (_("llm-node host: --listen takes HOST:PORT: %s\n"), error->message);
          return 2;
        }
    }

  model = llm_model_open (options->model_dir, &error);
  if (model == NULL)
    {
      g_printerr (_("llm-node host: %s\n"), error->message);
      return 1;
    }
  n_layers = llm_model_get_config (model)->n_layers;
  if (last >= n_layers)
    {
      g_printerr (_("llm-node host: the model has %u layers, 0 to %u: it has no layer %u\n"),
                  n_layers, n_layers - 1, last);
      return 2;
    }

  data_dir = llm_cli_dup_data_dir (options);
  identity = llm_identity_load_or_create (data_dir, &error);
  if (identity == NULL)
    {
      g_printerr (_("llm-node host: %s\n"), error->message);
      return 1;
    }

  node = llm_node_new (identity);
  g_object_set (node,
                "mdns-enabled", !options->no_mdns,
                "dht-enabled", !options->no_dht,
                NULL);
  if (listen != NULL)
    g_object_set (node,
                  "listen-host", g_network_address_get_hostname (G_NETWORK_ADDRESS (listen)),
                  "listen-port", (guint) g_network_address_get_port (G_NETWORK_ADDRESS (listen)),
                  NULL);
  if (options->bootstrap != NULL)
    g_object_set (node, "dht-bootstrap", options->bootstrap, NULL);
  for (guint i = 0; options->peers != NULL && options->peers[i] != NULL; i++)
    if (!llm_node_add_peer_endpoint (node, options->peers[i], &error))
      {
        g_printerr (_("llm-node host: --peer: %s\n"), error->message);
        return 2;
      }

  model_id = dup_model_id (options->model_dir);
  shard = llm_shard_new (model_id, NULL, first, last);
  llm_shard_set_dtype (shard, llm_dtype_to_string (llm_model_get_dtype (model)));
  llm_shard_set_state (shard, LLM_SHARD_STATE_LOADING);
  llm_node_add_shard (node, shard, n_layers);

  control = llm_control_server_new (node);
  if (!llm_control_server_start (control, data_dir, &error) ||
      !llm_node_start (node, &error))
    {
      g_printerr (_("llm-node host: %s\n"), error->message);
      return 1;
    }

  host = (Host) { loop, node, shard, model, NULL, TRUE, 0 };
  sigint = g_unix_signal_add (SIGINT, on_signal, &host);
  sigterm = g_unix_signal_add (SIGTERM, on_signal, &host);

  /* Mapping the layers touches the disk: not on the main thread. */
  task = g_task_new (NULL, NULL, layers_loaded_cb, &host);
  g_task_set_task_data (task, &host, NULL);
  g_task_run_in_thread (task, load_layers_thread);
  g_clear_object (&task);

  endpoints = g_strjoinv (", ", (char **) llm_node_get_endpoints (node));
  g_print (_("Hosting layers %u–%u of %s as %s on %s\n"), first, last, model_id,
           llm_identity_get_address (identity), endpoints);

  g_main_loop_run (loop);

  if (llm_node_get_running (node))
    {
      llm_node_stop_async (node, NULL, stopped_cb, &host);
      g_main_loop_run (loop);
    }
  /* The loading thread uses the model: let it finish first. */
  while (host.loading)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (sigint);
  g_source_remove (sigterm);
  llm_control_server_stop (control);
  g_clear_pointer (&host.layers, llm_layers_free);

  return host.status;
}

static void
print_peers (JsonObject *result)
{
  JsonArray *peers = json_object_get_array_member (result, "peers");
  JsonArray *coverage = json_object_get_array_member (result, "coverage");

  g_print (_("This node: %s\n"), json_object_get_string_member (result, "address"));
  for (guint i = 0; peers != NULL && i < json_array_get_length (peers); i++)
    {
      JsonObject *peer = json_array_get_object_element (peers, i);
      JsonArray *shards = json_object_get_array_member (peer, "shards");
      g_autoptr(GString) ranges = g_string_new ("");

      for (guint j = 0; shards != NULL && j < json_array_get_length (shards); j++)
        {
          JsonObject *shard = json_array_get_object_element (shards, j);

          g_string_append_printf (ranges, "%s%s %" G_GINT64_FORMAT "–%" G_GINT64_FORMAT,
                                  j > 0 ? ", " : "",
                                  json_object_get_string_member (shard, "model"),
                                  json_object_get_int_member (shard, "first"),
                                  json_object_get_int_member (shard, "last"));
        }
      g_print ("  %s  %-10s  %s\n", json_object_get_string_member (peer, "address"),
               json_object_get_string_member_with_default (peer, "state", ""), ranges->str);
    }
  for (guint i = 0; coverage != NULL && i < json_array_get_length (coverage); i++)
    {
      JsonObject *model = json_array_get_object_element (coverage, i);

      g_print (json_object_get_boolean_member (model, "complete")
               ? _("%s: every layer is hosted\n") : _("%s: some layers have no host\n"),
               json_object_get_string_member (model, "model"));
    }
}

int
llm_cli_peers (CliOptions  *options,
               int          argc,
               char       **argv)
{
  g_autoptr(JsonObject) result = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *data_dir = NULL;

  data_dir = llm_cli_dup_data_dir (options);
  result = llm_control_request (data_dir, "peers", NULL, &error);
  if (result == NULL)
    {
      g_printerr (_("llm-node peers: %s\n"), error->message);
      return 1;
    }

  if (options->json)
    {
      g_autoptr(JsonNode) root = json_node_init_object (json_node_alloc (), result);
      g_autofree char *text = json_to_string (root, TRUE);

      g_print ("%s\n", text);
    }
  else
    print_peers (result);

  return 0;
}

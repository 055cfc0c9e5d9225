/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-control"

#include "llm-control.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>

/* A request is one short line; a reply may list many peers. */
#define MAX_REQUEST_SIZE 4096
#define MAX_REPLY_SIZE   (16 * 1024 * 1024)
#define CLIENT_TIMEOUT_S 10

struct _LlmControlServer
{
  GObject parent_instance;

  LlmNode *node;
  GSocketService *service;
  char *path;
};

G_DEFINE_FINAL_TYPE (LlmControlServer, llm_control_server, G_TYPE_OBJECT)

static char *
dup_socket_path (const char  *data_dir,
                 GError     **error)
{
  g_autofree char *path = g_build_filename (data_dir, LLM_CONTROL_SOCKET_NAME, NULL);

  if (strlen (path) >= sizeof (((struct sockaddr_un *) NULL)->sun_path))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG,
                   "The control socket %s is too long a path for a Unix socket: "
                   "choose a shorter data directory", path);
      return NULL;
    }
  return g_steal_pointer (&path);
}

static GSocketConnection *
connect_to (const char    *path,
            GCancellable  *cancellable,
            GError       **error)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketAddress) address = g_unix_socket_address_new (path);

  g_socket_client_set_timeout (client, CLIENT_TIMEOUT_S);
  return g_socket_client_connect (client, G_SOCKET_CONNECTABLE (address), cancellable, error);
}

typedef struct
{
  LlmControlServer *server;
  GSocketConnection *connection;
  GDataInputStream *input;
} Request;

static void
request_free (Request *request)
{
  g_object_unref (request->server);
  g_object_unref (request->connection);
  g_object_unref (request->input);
  g_free (request);
}

static void
reply_written_cb (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  Request *request = user_data;
  g_autoptr(GError) error = NULL;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, &error))
    g_debug ("A control reply was not sent: %s", error->message);
  g_io_stream_close (G_IO_STREAM (request->connection), NULL, NULL);
  request_free (request);
}

static JsonObject *
answer (LlmControlServer *self,
        const char       *line)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(JsonObject) reply = json_object_new ();
  g_autoptr(GError) error = NULL;
  const char *name = NULL;
  JsonNode *root;

  if (line != NULL && json_parser_load_from_data (parser, line, -1, &error) &&
      (root = json_parser_get_root (parser)) != NULL && JSON_NODE_HOLDS_OBJECT (root))
    name = json_object_get_string_member_with_default (json_node_get_object (root), "request", NULL);

  if (g_strcmp0 (name, "peers") == 0)
    json_object_set_object_member (reply, "result", llm_node_to_json (self->node));
  else if (name != NULL)
    {
      g_autofree char *message = g_strdup_printf ("Unknown request “%s”", name);

      json_object_set_string_member (reply, "error", message);
    }
  else
    json_object_set_string_member (reply, "error", "A request is a line of JSON: {\"request\": …}");

  return g_steal_pointer (&reply);
}

static void
line_read_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Request *request = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) reply = NULL;
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *line = NULL;
  g_autofree char *serialized = NULL;
  g_autofree char *text = NULL;
  gsize length = 0;
  GOutputStream *output;

  line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source), result,
                                                    &length, &error);
  if (error != NULL)
    g_debug ("A control request could not be read: %s", error->message);

  reply = answer (request->server, length <= MAX_REQUEST_SIZE ? line : NULL);
  root = json_node_init_object (json_node_alloc (), reply);
  serialized = json_to_string (root, FALSE);
  text = g_strconcat (serialized, "\n", NULL);

  output = g_io_stream_get_output_stream (G_IO_STREAM (request->connection));
  g_output_stream_write_all_async (output, text, strlen (text), G_PRIORITY_DEFAULT, NULL,
                                   reply_written_cb, request);
  /* write_all_async copies nothing: keep the text alive with the request. */
  g_object_set_data_full (G_OBJECT (request->connection), "reply", g_steal_pointer (&text), g_free);
}

static gboolean
on_incoming (GSocketService    *service,
             GSocketConnection *connection,
             GObject           *source_object,
             gpointer           user_data)
{
  LlmControlServer *self = user_data;
  g_autoptr(GCredentials) credentials = NULL;
  g_autoptr(GError) error = NULL;
  Request *request;

  /* The socket is 0600 already; this also holds if its mode is changed. */
  credentials = g_socket_get_credentials (g_socket_connection_get_socket (connection), &error);
  if (credentials == NULL || g_credentials_get_unix_user (credentials, NULL) != getuid ())
    {
      g_message ("Refused a control connection from another user%s%s",
                 error ? ": " : "", error ? error->message : "");
      g_io_stream_close (G_IO_STREAM (connection), NULL, NULL);
      return TRUE;
    }

  request = g_new0 (Request, 1);
  request->server = g_object_ref (self);
  request->connection = g_object_ref (connection);
  request->input = g_data_input_stream_new (g_io_stream_get_input_stream (G_IO_STREAM (connection)));
  g_buffered_input_stream_set_buffer_size (G_BUFFERED_INPUT_STREAM (request->input),
                                           MAX_REQUEST_SIZE);
  g_data_input_stream_read_line_async (request->input, G_PRIORITY_DEFAULT, NULL,
                                       line_read_cb, request);
  return TRUE;
}

/**
 * llm_control_server_start:
 * @self: a #LlmControlServer
 * @data_dir: the node's data directory
 * @error: why the socket cannot be made: another node runs on @data_dir,
 *   the path is too long, the directory is not writable
 *
 * Returns: %TRUE if the control socket accepts requests
 */
gboolean
llm_control_server_start (LlmControlServer  *self,
                          const char        *data_dir,
                          GError           **error)
{
  g_autoptr(GSocketAddress) address = NULL;
  g_autoptr(GSocketConnection) other = NULL;
  g_autofree char *path = NULL;

  g_return_val_if_fail (LLM_IS_CONTROL_SERVER (self), FALSE);
  g_return_val_if_fail (self->service == NULL, FALSE);

  path = dup_socket_path (data_dir, error);
  if (path == NULL)
    return FALSE;

  /* A socket left by a node that was killed answers nobody: replace it.
   * One that answers belongs to a running node: leave it alone. */
  if (g_file_test (path, G_FILE_TEST_EXISTS))
    {
      other = connect_to (path, NULL, NULL);
      if (other != NULL)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE,
                       "Another node is running with the data directory %s", data_dir);
          return FALSE;
        }
      if (g_unlink (path) != 0 && errno != ENOENT)
        {
          int saved_errno = errno;

          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved_errno),
                       "Cannot remove the old control socket %s: %s", path,
                       g_strerror (saved_errno));
          return FALSE;
        }
    }

  self->service = g_socket_service_new ();
  address = g_unix_socket_address_new (path);
  if (!g_socket_listener_add_address (G_SOCKET_LISTENER (self->service), address,
                                      G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT,
                                      NULL, NULL, error) ||
      g_chmod (path, 0600) != 0)
    {
      if (error != NULL && *error == NULL)
        g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno),
                     "Cannot restrict the control socket %s to its owner: %s", path,
                     g_strerror (errno));
      else
        g_prefix_error (error, "Cannot make the control socket %s: ", path);
      g_clear_object (&self->service);
      return FALSE;
    }

  g_signal_connect_object (self->service, "incoming", G_CALLBACK (on_incoming), self, 0);
  g_socket_service_start (self->service);
  self->path = g_steal_pointer (&path);
  return TRUE;
}

/**
 * llm_control_server_stop:
 * @self: a #LlmControlServer
 *
 * Closes the socket and removes it from the data directory.
 */
void
llm_control_server_stop (LlmControlServer *self)
{
  g_return_if_fail (LLM_IS_CONTROL_SERVER (self));

  if (self->service == NULL)
    return;
  g_socket_service_stop (self->service);
  g_socket_listener_close (G_SOCKET_LISTENER (self->service));
  g_clear_object (&self->service);
  g_unlink (self->path);
  g_clear_pointer (&self->path, g_free);
}

/**
 * llm_control_request:
 * @data_dir: the data directory of a running node
 * @request: what to ask (`peers`)
 * @cancellable: (nullable): a #GCancellable
 * @error: why there is no answer: no node runs there, or it refused
 *
 * Asks the node running on @data_dir, and waits for the answer (for
 * command-line tools: it blocks).
 *
 * Returns: (transfer full): the result, or %NULL
 */
JsonObject *
llm_control_request (const char    *data_dir,
                     const char    *request,
                     GCancellable  *cancellable,
                     GError       **error)
{
  g_autoptr(GSocketConnection) connection = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GByteArray) reply = g_byte_array_new ();
  g_autofree char *path = NULL;
  g_autofree char *line = NULL;
  g_autoptr(GError) local_error = NULL;
  GInputStream *input;
  JsonObject *object;
  JsonNode *root;
  guint8 buffer[65536];
  gssize n;

  path = dup_socket_path (data_dir, error);
  if (path == NULL)
    return NULL;

  connection = connect_to (path, cancellable, &local_error);
  if (connection == NULL)
    {
      if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND) ||
          g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED))
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                     "No node is running with the data directory %s "
                     "(start one with “llm-node host”)", data_dir);
      else
        g_set_error (error, local_error->domain, local_error->code,
                     "Cannot reach the node of %s: %s", data_dir, local_error->message);
      return NULL;
    }

  line = g_strdup_printf ("{\"request\": \"%s\"}\n", request);
  if (!g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (connection)),
                                  line, strlen (line), NULL, cancellable, error))
    return NULL;

  input = g_io_stream_get_input_stream (G_IO_STREAM (connection));
  while ((n = g_input_stream_read (input, buffer, sizeof buffer, cancellable, error)) > 0)
    {
      if (reply->len + n > MAX_REPLY_SIZE)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
                       "The node’s reply is larger than %d bytes", MAX_REPLY_SIZE);
          return NULL;
        }
      g_byte_array_append (reply, buffer, n);
    }
  if (n < 0)
    return NULL;

  if (!json_parser_load_from_data (parser, (const char *) reply->data, reply->len, &local_error) ||
      (root = json_parser_get_root (parser)) == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   "The node replied with something other than a JSON object%s%s",
                   local_error ? ": " : "", local_error ? local_error->message : "");
      return NULL;
    }

  object = json_node_get_object (root);
  if (json_object_has_member (object, "error"))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "The node refused: %s",
                   json_object_get_string_member_with_default (object, "error", ""));
      return NULL;
    }
  if (json_object_get_object_member (object, "result") == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "The node’s reply has no result");
      return NULL;
    }

  return json_object_ref (json_object_get_object_member (object, "result"));
}

LlmControlServer *
llm_control_server_new (LlmNode *node)
{
  LlmControlServer *self;

  g_return_val_if_fail (LLM_IS_NODE (node), NULL);

  self = g_object_new (LLM_TYPE_CONTROL_SERVER, NULL);
  self->node = g_object_ref (node);
  return self;
}

static void
llm_control_server_dispose (GObject *object)
{
  LlmControlServer *self = LLM_CONTROL_SERVER (object);

  llm_control_server_stop (self);
  g_clear_object (&self->node);

  G_OBJECT_CLASS (llm_control_server_parent_class)->dispose (object);
}

static void
llm_control_server_class_init (LlmControlServerClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = llm_control_server_dispose;
}

static void
llm_control_server_init (LlmControlServer *self)
{
}

/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "llm-node.h"

G_BEGIN_DECLS

/*
 * The node's local control socket: how `llm-node peers` asks the node
 * running on a data dir what it knows. A Unix socket in the data dir,
 * mode 0600, that also checks the caller's user id.
 *
 *   server = llm_control_server_new (node);
 *   llm_control_server_start (server, data_dir, &error);      // in `host`
 *
 *   reply = llm_control_request (data_dir, "peers", NULL, &error);   // client
 *
 * One request per connection: a line of JSON, {"request": "peers"}; one
 * reply: {"result": {…}} or {"error": "message"}.
 */

#define LLM_CONTROL_SOCKET_NAME "control.socket"

#define LLM_TYPE_CONTROL_SERVER (llm_control_server_get_type ())

G_DECLARE_FINAL_TYPE (LlmControlServer, llm_control_server, LLM, CONTROL_SERVER, GObject)

LlmControlServer *llm_control_server_new   (LlmNode           *node);
gboolean          llm_control_server_start (LlmControlServer  *self,
                                            const char        *data_dir,
                                            GError           **error);
void              llm_control_server_stop  (LlmControlServer  *self);

JsonObject       *llm_control_request      (const char        *data_dir,
                                            const char        *request,
                                            GCancellable      *cancellable,
                                            GError           **error);

G_END_DECLS

/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "llm-test-shared.h"

/* Several real `llm-node host` processes find each other, as people's
 * machines would: through a local OpenDHT node, and through Avahi on a
 * shared link. Each test runs in a copy of this program inside network
 * namespaces of its own (`unshare`), so that nothing reaches the machine's
 * real network, and watches the nodes only through `llm-node peers --json`,
 * the command-line contract:
 *
 *   { "address": "….llm", "endpoints": […], "shards": [{"model", "first", "last", "state"}],
 *     "peers": [{"address", "endpoints", "shards", "state", "sources", …}],
 *     "coverage": [{"model", "n_layers", "replicas": […], "gaps": [{"first", "last"}],
 *                   "complete"}] }
 */

#define MODEL_ID "stories260K"
#define N_LAYERS 5

/* Set in the environment of the copy of this program that runs inside the
 * namespaces: the path of the test it runs there, and the folder (made and
 * removed by the parent, so that it goes even when the copy aborts) where
 * the nodes keep their data and logs. */
#define NETNS_ENV    "LLM_TEST_SWARM_IN_NETNS"
#define WORK_DIR_ENV "LLM_TEST_SWARM_DIR"

/* How often the nodes are asked, and how long one answer may take. */
#define POLL_INTERVAL_MS  250
#define ANSWER_TIMEOUT_MS 5000

/* Finding each other has no deadline in the contract: a generous one, and a
 * test that goes on as soon as the swarm is whole. Leaving has deadlines: a
 * goodbye is heard at once (30 s is plenty), a silent peer expires 45 s
 * after it was last heard from. */
#define DISCOVERY_TIMEOUT_S 60
#define GOODBYE_TIMEOUT_S   30
#define EXPIRY_TIMEOUT_S    60
#define EXIT_TIMEOUT_S      10

/*
 * What a node should see, checked on its answer to `peers --json`.
 */

/* A node as others should see it: its address and the layers it hosts. */
typedef struct
{
  const char *address;
  guint       first;
  guint       last;
} Hosting;

typedef struct
{
  const Hosting *self;          /* the node asked, or NULL */
  const Hosting *peers[3];      /* peers it must list (NULL-terminated) */
  const Hosting *gone[3];       /* peers it must have forgotten (NULL-terminated) */
  const char    *source;        /* a source every listed peer must name, or NULL */
  const guint   *replicas;      /* the coverage of MODEL_ID it must show, or NULL */
} Expectation;

/* Members are looked up leniently: a member missing or of the wrong type
 * makes a check fail and say so, never the test crash. */

static JsonArray *
member_array (JsonObject *object,
              const char *name)
{
  JsonNode *node = object ? json_object_get_member (object, name) : NULL;

  return node && JSON_NODE_HOLDS_ARRAY (node) ? json_node_get_array (node) : NULL;
}

static JsonObject *
element_object (JsonArray *array,
                guint      index)
{
  JsonNode *node = json_array_get_element (array, index);

  return JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
}

static const char *
member_string (JsonObject *object,
               const char *name)
{
  JsonNode *node = object ? json_object_get_member (object, name) : NULL;

  if (node == NULL || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

/* -1 when absent or not an integer. */
static gint64
member_int (JsonObject *object,
            const char *name)
{
  JsonNode *node = object ? json_object_get_member (object, name) : NULL;

  if (node == NULL || json_node_get_value_type (node) != G_TYPE_INT64)
    return -1;
  return json_node_get_int (node);
}

static JsonObject *
view_find_peer (JsonObject *view,
                const char *address)
{
  JsonArray *peers = member_array (view, "peers");

  for (guint i = 0; peers != NULL && i < json_array_get_length (peers); i++)
    {
      JsonObject *peer = element_object (peers, i);

      if (g_strcmp0 (member_string (peer, "address"), address) == 0)
        return peer;
    }
  return NULL;
}

static JsonObject *
view_find_coverage (JsonObject *view)
{
  JsonArray *coverage = member_array (view, "coverage");

  for (guint i = 0; coverage != NULL && i < json_array_get_length (coverage); i++)
    {
      JsonObject *model = element_object (coverage, i);

      if (g_strcmp0 (member_string (model, "model"), MODEL_ID) == 0)
        return model;
    }
  return NULL;
}

/* Whether @shards holds exactly the range @first–@last of MODEL_ID. */
static gboolean
shards_hold (JsonArray *shards,
             guint      first,
             guint      last)
{
  for (guint i = 0; shards != NULL && i < json_array_get_length (shards); i++)
    {
      JsonObject *shard = element_object (shards, i);

      if (g_strcmp0 (member_string (shard, "model"), MODEL_ID) == 0 &&
          member_int (shard, "first") == first && member_int (shard, "last") == last)
        return TRUE;
    }
  return FALSE;
}

static gboolean
array_has_string (JsonArray  *array,
                  const char *string)
{
  for (guint i = 0; array != NULL && i < json_array_get_length (array); i++)
    {
      JsonNode *node = json_array_get_element (array, i);

      if (json_node_get_value_type (node) == G_TYPE_STRING &&
          g_strcmp0 (json_node_get_string (node), string) == 0)
        return TRUE;
    }
  return FALSE;
}

/* Adds a reason to @why, after those already there. */
G_GNUC_PRINTF (2, 3) static void
why_add (GString    *why,
         const char *format,
         ...)
{
  va_list ap;

  if (why->len > 0)
    g_string_append (why, "; ");
  va_start (ap, format);
  g_string_append_vprintf (why, format, ap);
  va_end (ap);
}

/* Reads the replica counts of MODEL_ID's coverage into @replicas; FALSE,
 * saying why, when they are not there as N_LAYERS integers. */
static gboolean
coverage_get_replicas (JsonObject *coverage,
                       gint64      replicas[N_LAYERS],
                       GString    *why)
{
  JsonArray *array = member_array (coverage, "replicas");

  if (coverage == NULL)
    {
      why_add (why, "no coverage of " MODEL_ID);
      return FALSE;
    }
  if (member_int (coverage, "n_layers") != N_LAYERS)
    {
      why_add (why, "coverage n_layers is not %d", N_LAYERS);
      return FALSE;
    }
  if (array == NULL || json_array_get_length (array) != N_LAYERS)
    {
      why_add (why, "coverage replicas are not %d counts", N_LAYERS);
      return FALSE;
    }
  for (guint i = 0; i < N_LAYERS; i++)
    {
      JsonNode *node = json_array_get_element (array, i);

      if (json_node_get_value_type (node) != G_TYPE_INT64)
        {
          why_add (why, "coverage replicas are not integers");
          return FALSE;
        }
      replicas[i] = json_node_get_int (node);
    }
  return TRUE;
}

static char *
replicas_to_string (const gint64 *replicas)
{
  g_autoptr(GString) string = g_string_new ("[");

  for (guint i = 0; i < N_LAYERS; i++)
    g_string_append_printf (string, "%s%" G_GINT64_FORMAT, i ? "," : "", replicas[i]);
  g_string_append_c (string, ']');
  return g_string_free (g_steal_pointer (&string), FALSE);
}

/* The coverage must count @expected replicas per layer, call itself
 * complete exactly when no layer is missing, and name as gaps (when it names
 * any) exactly the missing layers. */
static gboolean
coverage_check (JsonObject  *coverage,
                const guint *expected,
                GString     *why)
{
  gint64 replicas[N_LAYERS];
  gboolean missing[N_LAYERS] = { FALSE };
  gboolean in_gap[N_LAYERS] = { FALSE };
  gboolean complete = TRUE;
  JsonNode *complete_node;
  JsonArray *gaps;
  gboolean ok = TRUE;

  if (!coverage_get_replicas (coverage, replicas, why))
    return FALSE;

  for (guint i = 0; i < N_LAYERS; i++)
    {
      if (replicas[i] != expected[i])
        {
          gint64 wanted[N_LAYERS];
          g_autofree char *seen = replicas_to_string (replicas);
          g_autofree char *want = NULL;

          for (guint j = 0; j < N_LAYERS; j++)
            wanted[j] = expected[j];
          want = replicas_to_string (wanted);
          why_add (why, "coverage replicas are %s, not %s", seen, want);
          return FALSE;
        }
      missing[i] = expected[i] == 0;
      complete = complete && !missing[i];
    }

  complete_node = json_object_get_member (coverage, "complete");
  if (complete_node == NULL || json_node_get_value_type (complete_node) != G_TYPE_BOOLEAN ||
      json_node_get_boolean (complete_node) != complete)
    {
      why_add (why, "coverage is not marked \"complete\": %s", complete ? "true" : "false");
      ok = FALSE;
    }

  gaps = member_array (coverage, "gaps");
  if (gaps != NULL)
    {
      for (guint i = 0; i < json_array_get_length (gaps); i++)
        {
          JsonObject *gap = element_object (gaps, i);
          gint64 first = member_int (gap, "first");
          gint64 last = member_int (gap, "last");

          if (first < 0 || last < first || last >= N_LAYERS)
            {
              why_add (why, "coverage gap %u is not a layer range", i);
              return FALSE;
            }
          for (gint64 layer = first; layer <= last; layer++)
            in_gap[layer] = TRUE;
        }
      for (guint i = 0; i < N_LAYERS; i++)
        if (in_gap[i] != missing[i])
          {
            why_add (why, "coverage gaps %s layer %u", in_gap[i] ? "wrongly name" : "leave out", i);
            ok = FALSE;
          }
    }

  return ok;
}

/* Whether @view, one node's answer to `peers --json`, meets @expect; when
 * it does not, @why says what is missing. */
static gboolean
view_meets (JsonObject        *view,
            const Expectation *expect,
            GString           *why)
{
  gboolean ok = TRUE;

  if (expect->self != NULL)
    {
      if (g_strcmp0 (member_string (view, "address"), expect->self->address) != 0)
        {
          why_add (why, "its address is %s, not %s",
                   member_string (view, "address"), expect->self->address);
          ok = FALSE;
        }
      if (!shards_hold (member_array (view, "shards"), expect->self->first, expect->self->last))
        {
          why_add (why, "its own shards lack %s %u-%u", MODEL_ID,
                   expect->self->first, expect->self->last);
          ok = FALSE;
        }
    }

  for (guint i = 0; i < G_N_ELEMENTS (expect->peers) && expect->peers[i] != NULL; i++)
    {
      const Hosting *hosting = expect->peers[i];
      JsonObject *peer = view_find_peer (view, hosting->address);

      if (peer == NULL)
        {
          why_add (why, "peer %s is not listed", hosting->address);
          ok = FALSE;
        }
      else if (!shards_hold (member_array (peer, "shards"), hosting->first, hosting->last))
        {
          why_add (why, "peer %s is not listed with layers %u-%u",
                   hosting->address, hosting->first, hosting->last);
          ok = FALSE;
        }
      else if (expect->source != NULL &&
               !array_has_string (member_array (peer, "sources"), expect->source))
        {
          why_add (why, "peer %s lacks the source \"%s\"", hosting->address, expect->source);
          ok = FALSE;
        }
    }

  for (guint i = 0; i < G_N_ELEMENTS (expect->gone) && expect->gone[i] != NULL; i++)
    {
      const Hosting *hosting = expect->gone[i];
      gint64 replicas[N_LAYERS];
      g_autoptr(GString) ignored = g_string_new (NULL);

      if (view_find_peer (view, hosting->address) != NULL)
        {
          why_add (why, "peer %s is still listed", hosting->address);
          ok = FALSE;
        }
      /* Gone from the coverage too: nobody else hosts its layers. */
      if (coverage_get_replicas (view_find_coverage (view), replicas, ignored))
        for (guint layer = hosting->first; layer <= hosting->last; layer++)
          if (replicas[layer] != 0)
            {
              why_add (why, "the coverage still counts %s's layer %u", hosting->address, layer);
              ok = FALSE;
              break;
            }
    }

  if (expect->replicas != NULL &&
      !coverage_check (view_find_coverage (view), expect->replicas, why))
    ok = FALSE;

  return ok;
}

/*
 * The processes: nodes (and dhtnode), each with a log file, asked through
 * `llm-node peers --json`.
 */

typedef struct
{
  char        *name;            /* for messages: "node 2" */
  char        *data_dir;        /* NULL for helpers such as dhtnode */
  char        *log_path;        /* its standard output and error */
  char        *daemon_logs[3];  /* the logs of its daemons (NULL-terminated) */
  char        *address;
  Hosting      hosting;

  GSubprocess *process;
  gboolean     stopping;        /* the test signalled it: an exit is expected */
  gboolean     exited;
  char        *exit_reason;     /* " exited with status 0", " was killed by signal 9" */
  int          exit_status;     /* -1 when killed */

  JsonNode    *view;            /* its latest answer, NULL when the latest call failed */
  char        *answer;          /* the text of its latest answer that parsed */
  char        *failure;         /* why the latest call failed, or NULL */
} Node;

static void
node_free (Node *node)
{
  g_free (node->name);
  g_free (node->data_dir);
  g_free (node->log_path);
  for (guint i = 0; i < G_N_ELEMENTS (node->daemon_logs); i++)
    g_free (node->daemon_logs[i]);
  g_free (node->address);
  g_clear_object (&node->process);
  g_free (node->exit_reason);
  g_clear_pointer (&node->view, json_node_unref);
  g_free (node->answer);
  g_free (node->failure);
  g_free (node);
}

typedef struct
{
  char      *work_dir;
  char      *model;
  GPtrArray *nodes;             /* of Node, owned */
} Swarm;

static const char *
llm_node_bin (void)
{
  const char *binary = g_getenv ("LLM_NODE_BIN");

  g_assert_nonnull (binary);
  return binary;
}

/* Children never outlive the test, even one that aborted half-way: the
 * kernel kills them when the thread that started them dies. */
static void
die_with_parent (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static void
iterate_for (guint ms)
{
  gint64 end = g_get_monotonic_time () + ms * G_TIME_SPAN_MILLISECOND;

  while (g_get_monotonic_time () < end)
    {
      while (g_main_context_iteration (NULL, FALSE))
        ;
      g_usleep (10 * G_TIME_SPAN_MILLISECOND);
    }
}

static double
seconds_since (gint64 start)
{
  return (g_get_monotonic_time () - start) / (double) G_USEC_PER_SEC;
}

/* Up to @max_lines last lines of the file at @path, as test messages. */
static void
print_file_tail (const char *title,
                 const char *path,
                 guint       max_lines)
{
  g_autofree char *contents = NULL;
  g_auto(GStrv) lines = NULL;
  guint n_lines;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    {
      g_test_message ("%s: (no %s)", title, path);
      return;
    }
  lines = g_strsplit (contents, "\n", -1);
  n_lines = g_strv_length (lines);
  if (n_lines > 0 && *lines[n_lines - 1] == '\0')
    n_lines--;
  g_test_message ("%s (%s, %u lines):", title, path, n_lines);
  for (guint i = n_lines > max_lines ? n_lines - max_lines : 0; i < n_lines; i++)
    g_test_message ("  %s", lines[i]);
}

/* Says all that is known of every process, then fails the test. */
G_GNUC_PRINTF (2, 3) G_NORETURN static void
swarm_fail (Swarm      *swarm,
            const char *format,
            ...)
{
  g_autofree char *message = NULL;
  va_list ap;

  va_start (ap, format);
  message = g_strdup_vprintf (format, ap);
  va_end (ap);

  for (guint i = 0; i < swarm->nodes->len; i++)
    {
      Node *node = g_ptr_array_index (swarm->nodes, i);

      g_test_message ("%s%s%s%s", node->name, node->address ? " " : "",
                      node->address ? node->address : "",
                      node->exited ? node->exit_reason : " is still running");
      if (node->data_dir != NULL)
        {
          g_test_message ("%s: latest answer: %s", node->name,
                          node->answer ? node->answer : "(none)");
          if (node->failure != NULL)
            g_test_message ("%s: latest call failed: %s", node->name, node->failure);
        }
      print_file_tail (node->name, node->log_path, 60);
      for (guint j = 0; j < G_N_ELEMENTS (node->daemon_logs) && node->daemon_logs[j]; j++)
        print_file_tail (node->name, node->daemon_logs[j], 30);
    }

  g_error ("%s", message);
}

static Swarm *
swarm_new (void)
{
  Swarm *swarm = g_new0 (Swarm, 1);

  swarm->work_dir = g_strdup (g_getenv (WORK_DIR_ENV));
  g_assert_nonnull (swarm->work_dir);
  swarm->model = llm_test_dup_shared_path ("models", MODEL_ID, NULL);
  swarm->nodes = g_ptr_array_new_with_free_func ((GDestroyNotify) node_free);
  return swarm;
}

/* Stops what is still running, the hard way: the test is over. */
static void
swarm_free (Swarm *swarm)
{
  gint64 end = g_get_monotonic_time () + EXIT_TIMEOUT_S * G_USEC_PER_SEC;

  for (guint i = 0; i < swarm->nodes->len; i++)
    {
      Node *node = g_ptr_array_index (swarm->nodes, i);

      if (node->process != NULL && !node->exited)
        {
          node->stopping = TRUE;
          g_subprocess_force_exit (node->process);
        }
    }
  for (guint i = 0; i < swarm->nodes->len; i++)
    {
      Node *node = g_ptr_array_index (swarm->nodes, i);

      while (node->process != NULL && !node->exited)
        {
          if (g_get_monotonic_time () > end)
            g_error ("%s survived SIGKILL", node->name);
          iterate_for (20);
        }
    }

  g_ptr_array_unref (swarm->nodes);
  g_free (swarm->model);
  g_free (swarm->work_dir);
  g_free (swarm);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Swarm, swarm_free)

static Node *
swarm_add (Swarm      *swarm,
           const char *name,
           const char *id,
           guint       first,
           guint       last)
{
  Node *node = g_new0 (Node, 1);
  g_autofree char *log_name = g_strdup_printf ("%s.log", id);

  node->name = g_strdup (name);
  node->log_path = g_build_filename (swarm->work_dir, log_name, NULL);
  node->hosting.first = first;
  node->hosting.last = last;
  node->exit_status = -1;
  g_ptr_array_add (swarm->nodes, node);
  return node;
}

/* A node with a data folder of its own, and its identity made beforehand
 * with `llm-node address`: the test knows every address before any node
 * runs, and checks that `host` announces that same one. */
static Node *
swarm_add_node (Swarm      *swarm,
                const char *name,
                const char *id,
                guint       first,
                guint       last)
{
  Node *node = swarm_add (swarm, name, id, first, last);
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;

  node->data_dir = g_build_filename (swarm->work_dir, id, NULL);
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  process = g_subprocess_launcher_spawn (launcher, &error, llm_node_bin (), "address",
                                         "--data-dir", node->data_dir, NULL);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (process, NULL, NULL, &out, &err, &error);
  g_assert_no_error (error);
  if (!g_subprocess_get_if_exited (process) || g_subprocess_get_exit_status (process) != 0)
    g_error ("llm-node address --data-dir %s failed: %s", node->data_dir, err);

  node->address = g_strdup (g_strstrip (out));
  g_assert_cmpuint (strlen (node->address), ==, 60);
  g_assert_true (g_str_has_suffix (node->address, ".llm"));
  node->hosting.address = node->address;
  return node;
}

/* " exited with status 1", " was killed by signal 9". */
static char *
describe_exit (GSubprocess *process)
{
  if (g_subprocess_get_if_exited (process))
    return g_strdup_printf (" exited with status %d", g_subprocess_get_exit_status (process));
  return g_strdup_printf (" was killed by signal %d", g_subprocess_get_term_sig (process));
}

static void
node_exited_cb (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  GSubprocess *process = G_SUBPROCESS (object);
  Node *node = user_data;

  g_subprocess_wait_finish (process, result, NULL);
  node->exited = TRUE;
  node->exit_reason = describe_exit (process);
  if (g_subprocess_get_if_exited (process))
    node->exit_status = g_subprocess_get_exit_status (process);
}

/* Starts @argv for @node, its output into its log, the variables of @env
 * (NAME=VALUE, NULL-terminated, or NULL) set. Its standard input is a pipe
 * of its own, never the terminal of whoever runs the test. */
static void
node_spawn (Node              *node,
            const char *const *argv,
            const char *const *env)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GError) error = NULL;

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_subprocess_launcher_set_stdout_file_path (launcher, node->log_path);
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  g_subprocess_launcher_unsetenv (launcher, "DISPLAY");
  g_subprocess_launcher_unsetenv (launcher, "WAYLAND_DISPLAY");
  g_subprocess_launcher_setenv (launcher, "LC_ALL", "C.UTF-8", TRUE);
  for (guint i = 0; env != NULL && env[i] != NULL; i++)
    {
      g_auto(GStrv) pair = g_strsplit (env[i], "=", 2);

      g_subprocess_launcher_setenv (launcher, pair[0], pair[1], TRUE);
    }

  node->process = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  g_subprocess_wait_async (node->process, NULL, node_exited_cb, node);
}

static void
node_signal (Node *node,
             int   signal_number)
{
  g_assert_false (node->exited);
  node->stopping = TRUE;
  g_subprocess_send_signal (node->process, signal_number);
}

static void
node_await_exit (Swarm *swarm,
                 Node  *node)
{
  gint64 end = g_get_monotonic_time () + EXIT_TIMEOUT_S * G_USEC_PER_SEC;

  while (!node->exited)
    {
      if (g_get_monotonic_time () > end)
        swarm_fail (swarm, "%s did not exit within %d s of its signal", node->name,
                    EXIT_TIMEOUT_S);
      iterate_for (20);
    }
}

/* After SIGTERM: a goodbye, then a clean exit. */
static void
node_stop (Swarm *swarm,
           Node  *node)
{
  node_signal (node, SIGTERM);
  node_await_exit (swarm, node);
  if (node->exit_status != 0)
    swarm_fail (swarm, "%s%s after SIGTERM, instead of status 0", node->name, node->exit_reason);
}

typedef struct
{
  GSubprocess *process;
  guint        timeout_id;
  gboolean     timed_out;
  gboolean     done;
  char        *out;
  char        *err;
  GError      *error;
} Call;

static void
call_done_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  Call *call = user_data;

  g_subprocess_communicate_utf8_finish (G_SUBPROCESS (object), result,
                                        &call->out, &call->err, &call->error);
  call->done = TRUE;
}

static gboolean
call_timeout_cb (gpointer user_data)
{
  Call *call = user_data;

  call->timeout_id = 0;
  call->timed_out = TRUE;
  g_subprocess_force_exit (call->process);
  return G_SOURCE_REMOVE;
}

/* Asks @node with `peers --json`, keeping its answer in node->view, or why
 * there is none in node->failure. A call that cannot start, or gets no
 * answer within ANSWER_TIMEOUT_MS, is one more failed call: the test asks
 * again until its deadline. */
static void
node_ask (Node *node)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  Call call = { 0 };

  g_clear_pointer (&node->view, json_node_unref);
  g_clear_pointer (&node->failure, g_free);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  process = g_subprocess_launcher_spawn (launcher, &error, llm_node_bin (), "peers", "--json",
                                         "--data-dir", node->data_dir, NULL);
  if (process == NULL)
    {
      node->failure = g_strdup (error->message);
      return;
    }

  call.process = process;
  g_subprocess_communicate_utf8_async (process, NULL, NULL, call_done_cb, &call);
  call.timeout_id = g_timeout_add (ANSWER_TIMEOUT_MS, call_timeout_cb, &call);
  while (!call.done)
    g_main_context_iteration (NULL, TRUE);
  g_clear_handle_id (&call.timeout_id, g_source_remove);

  if (call.error != NULL)
    node->failure = g_strdup (call.error->message);
  else if (call.timed_out)
    node->failure = g_strdup_printf ("no answer within %d ms", ANSWER_TIMEOUT_MS);
  else if (!g_subprocess_get_if_exited (process) || g_subprocess_get_exit_status (process) != 0)
    {
      g_autofree char *reason = describe_exit (process);

      node->failure = g_strdup_printf ("`llm-node peers`%s: %s", reason, g_strstrip (call.err));
    }
  else if (!json_parser_load_from_data (parser, call.out, -1, &error))
    node->failure = g_strdup_printf ("not JSON (%s): %s", error->message, call.out);
  else if (!JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)))
    node->failure = g_strdup_printf ("not a JSON object: %s", call.out);
  else
    {
      node->view = json_node_ref (json_parser_get_root (parser));
      g_free (node->answer);
      node->answer = g_strdup (g_strstrip (call.out));
    }

  g_free (call.out);
  g_free (call.err);
  g_clear_error (&call.error);
}

/* One condition to wait for: @expect, on @node's answers. */
typedef struct
{
  const char        *what;
  Node              *node;
  Expectation        expect;
  double             timeout_s;
  double             seconds;   /* when it first held, or < 0 */
} Wait;

/* Asks the nodes of @waits, all together every POLL_INTERVAL_MS, until
 * every wait holds in one round; each wait's seconds says when it first
 * held, counted from @start. Fails, saying what each node lacked and all it
 * logged, when a wait's timeout passes or a node exits unasked. */
static void
swarm_await (Swarm  *swarm,
             Wait   *waits,
             guint   n_waits,
             gint64  start)
{
  for (guint i = 0; i < n_waits; i++)
    waits[i].seconds = -1;

  for (;;)
    {
      g_autoptr(GHashTable) asked = g_hash_table_new (NULL, NULL);
      g_autoptr(GString) unmet = g_string_new (NULL);
      gboolean all = TRUE;
      gboolean late = FALSE;
      double elapsed;

      for (guint i = 0; i < n_waits; i++)
        if (g_hash_table_add (asked, waits[i].node))
          node_ask (waits[i].node);
      elapsed = seconds_since (start);

      /* Once one wait is late, all that do not hold are reported. */
      for (guint i = 0; i < n_waits; i++)
        {
          Wait *wait = &waits[i];
          g_autoptr(GString) why = g_string_new (NULL);
          gboolean held;

          held = wait->node->view != NULL &&
                 view_meets (json_node_get_object (wait->node->view), &wait->expect, why);
          if (held && wait->seconds < 0)
            wait->seconds = elapsed;
          all = all && held;

          if (!held)
            {
              g_string_append_printf (unmet, "\n  %s (within %.0f s): %s", wait->what,
                                      wait->timeout_s,
                                      wait->node->view ? why->str : wait->node->failure);
              late = late || elapsed > wait->timeout_s;
            }
        }
      if (late)
        swarm_fail (swarm, "not so after %.1f s:%s", elapsed, unmet->str);
      if (all)
        return;

      for (guint i = 0; i < swarm->nodes->len; i++)
        {
          Node *node = g_ptr_array_index (swarm->nodes, i);

          if (node->exited && !node->stopping)
            swarm_fail (swarm, "%s%s while the test waited (after %.1f s)",
                        node->name, node->exit_reason, elapsed);
        }

      iterate_for (POLL_INTERVAL_MS);
    }
}

/* @expect must hold on @node's next answer. */
static void
swarm_check_now (Swarm             *swarm,
                 Node              *node,
                 const Expectation *expect,
                 const char        *what)
{
  g_autoptr(GString) why = g_string_new (NULL);

  node_ask (node);
  if (node->view == NULL)
    swarm_fail (swarm, "%s: %s", what, node->failure);
  if (!view_meets (json_node_get_object (node->view), expect, why))
    swarm_fail (swarm, "%s: %s", what, why->str);
}

static void
bring_loopback_up (void)
{
  struct ifreq request = { 0 };
  int fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

  g_assert_cmpint (fd, >=, 0);
  g_strlcpy (request.ifr_name, "lo", sizeof request.ifr_name);
  g_assert_cmpint (ioctl (fd, SIOCGIFFLAGS, &request), ==, 0);
  request.ifr_flags |= IFF_UP;
  g_assert_cmpint (ioctl (fd, SIOCSIFFLAGS, &request), ==, 0);
  close (fd);
}

/* Refuses to go on unless `lo` is the only interface: this copy of the
 * test is in a network namespace of its own, whatever it then does. */
static void
assert_only_loopback (void)
{
  struct if_nameindex *interfaces = if_nameindex ();

  g_assert_nonnull (interfaces);
  for (struct if_nameindex *i = interfaces; i->if_index != 0; i++)
    g_assert_cmpstr (i->if_name, ==, "lo");
  if_freenameindex (interfaces);
}

/* A program from PATH, or from the sbin folders that a user's PATH may
 * lack (ip, avahi-daemon). */
static char *
find_program (const char *name)
{
  char *path = g_find_program_in_path (name);

  for (const char *const *dir = (const char *[]) { "/usr/sbin", "/sbin", NULL };
       path == NULL && *dir != NULL; dir++)
    {
      g_autofree char *candidate = g_build_filename (*dir, name, NULL);

      if (g_file_test (candidate, G_FILE_TEST_IS_EXECUTABLE))
        path = g_steal_pointer (&candidate);
    }
  return path;
}

/*
 * DHT: three nodes and a dhtnode on the loopback of a network namespace.
 */

static guint16
free_udp_port (void)
{
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GError) error = NULL;

  socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
                         G_SOCKET_PROTOCOL_UDP, &error);
  g_assert_no_error (error);
  g_socket_bind (socket, address, FALSE, &error);
  g_assert_no_error (error);
  bound = g_socket_get_local_address (socket, &error);
  g_assert_no_error (error);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

static gboolean
udp_port_is_taken (guint16 port)
{
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, port);
  g_autoptr(GError) error = NULL;

  socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
                         G_SOCKET_PROTOCOL_UDP, &error);
  g_assert_no_error (error);
  return !g_socket_bind (socket, address, FALSE, &error) &&
         g_error_matches (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE);
}

/* A dhtnode of our own, for the nodes to bootstrap from; up once it holds
 * its port. */
static Node *
swarm_start_dhtnode (Swarm   *swarm,
                     guint16 *port)
{
  Node *dhtnode = swarm_add (swarm, "dhtnode", "dhtnode", 0, 0);
  g_autofree char *program = find_program ("dhtnode");
  g_autofree char *port_string = NULL;
  gint64 end = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

  *port = free_udp_port ();
  port_string = g_strdup_printf ("%u", *port);
  node_spawn (dhtnode, (const char *[]) { program, "-s", "-p", port_string, NULL }, NULL);
  while (!udp_port_is_taken (*port))
    {
      if (dhtnode->exited || g_get_monotonic_time () > end)
        swarm_fail (swarm, "dhtnode did not take UDP port %u", *port);
      iterate_for (20);
    }
  return dhtnode;
}

static void
test_dht_namespaced (void)
{
  g_autoptr(Swarm) swarm = swarm_new ();
  Node *nodes[3];
  g_autofree char *bootstrap = NULL;
  guint16 port;
  gint64 start;

  if (swarm->model == NULL)
    return;

  bring_loopback_up ();
  assert_only_loopback ();

  nodes[0] = swarm_add_node (swarm, "node 1", "1", 0, 1);
  nodes[1] = swarm_add_node (swarm, "node 2", "2", 2, 3);
  nodes[2] = swarm_add_node (swarm, "node 3", "3", 4, 4);
  g_assert_cmpstr (nodes[0]->address, !=, nodes[1]->address);
  g_assert_cmpstr (nodes[0]->address, !=, nodes[2]->address);
  g_assert_cmpstr (nodes[1]->address, !=, nodes[2]->address);

  swarm_start_dhtnode (swarm, &port);
  bootstrap = g_strdup_printf ("127.0.0.1:%u", port);

  start = g_get_monotonic_time ();
  for (guint i = 0; i < G_N_ELEMENTS (nodes); i++)
    {
      g_autofree char *layers = g_strdup_printf ("%u-%u", nodes[i]->hosting.first,
                                                 nodes[i]->hosting.last);

      node_spawn (nodes[i],
                  (const char *[]) { llm_node_bin (), "host", "--model", swarm->model,
                                     "--layers", layers, "--listen", "127.0.0.1:0",
                                     "--bootstrap", bootstrap, "--no-mdns",
                                     "--data-dir", nodes[i]->data_dir, NULL },
                  NULL);
    }

  /* Each sees the other two, and the whole model covered once. Without
   * mDNS or --peer, only the DHT can have told them. */
  {
    static const guint whole[N_LAYERS] = { 1, 1, 1, 1, 1 };
    const Hosting *h1 = &nodes[0]->hosting, *h2 = &nodes[1]->hosting, *h3 = &nodes[2]->hosting;
    Wait waits[] = {
      { "node 1 sees nodes 2 and 3", nodes[0],
        { h1, { h2, h3, NULL }, { NULL }, "dht", whole }, DISCOVERY_TIMEOUT_S, -1 },
      { "node 2 sees nodes 1 and 3", nodes[1],
        { h2, { h1, h3, NULL }, { NULL }, "dht", whole }, DISCOVERY_TIMEOUT_S, -1 },
      { "node 3 sees nodes 1 and 2", nodes[2],
        { h3, { h1, h2, NULL }, { NULL }, "dht", whole }, DISCOVERY_TIMEOUT_S, -1 },
    };

    swarm_await (swarm, waits, G_N_ELEMENTS (waits), start);
    g_test_message ("DHT: the three nodes saw each other after %.1f s "
                    "(node 1: %.1f s, node 2: %.1f s, node 3: %.1f s)",
                    seconds_since (start), waits[0].seconds, waits[1].seconds, waits[2].seconds);
  }

  /* Node 3 leaves with a goodbye, node 2 without a word, at once: node 1
   * forgets the first at once and the second when it expires. */
  {
    static const guint only_node_1[N_LAYERS] = { 1, 1, 0, 0, 0 };
    Wait waits[] = {
      { "node 1 forgets node 3 (SIGTERM, a goodbye)", nodes[0],
        { NULL, { NULL }, { &nodes[2]->hosting, NULL }, NULL, NULL }, GOODBYE_TIMEOUT_S, -1 },
      { "node 1 forgets node 2 (SIGKILL, expiry)", nodes[0],
        { NULL, { NULL }, { &nodes[1]->hosting, NULL }, NULL, NULL }, EXPIRY_TIMEOUT_S, -1 },
    };
    const Expectation alone = { &nodes[0]->hosting, { NULL }, { NULL }, NULL, only_node_1 };

    start = g_get_monotonic_time ();
    node_signal (nodes[2], SIGTERM);
    node_signal (nodes[1], SIGKILL);
    swarm_await (swarm, waits, G_N_ELEMENTS (waits), start);
    g_test_message ("DHT: node 1 forgot node 3 (goodbye) after %.1f s, "
                    "node 2 (killed) after %.1f s", waits[0].seconds, waits[1].seconds);

    node_await_exit (swarm, nodes[2]);
    if (nodes[2]->exit_status != 0)
      swarm_fail (swarm, "node 3%s after SIGTERM, instead of status 0", nodes[2]->exit_reason);
    swarm_check_now (swarm, nodes[0], &alone, "node 1 covers its own layers only");
  }

  node_stop (swarm, nodes[0]);
}

/*
 * LAN: two nodes in network namespaces joined by a veth link, each with a
 * system bus and an Avahi daemon of its own; the DHT is off.
 */

/* A system bus that lets anyone own, send and receive anything: it only
 * carries Avahi's messages to its node, in one namespace. */
static const char dbus_config[] =
  "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN\"\n"
  " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
  "<busconfig>\n"
  "  <type>system</type>\n"
  "  <listen>unix:path=/run/dbus/system_bus_socket</listen>\n"
  "  <auth>EXTERNAL</auth>\n"
  "  <policy context=\"default\">\n"
  "    <allow user=\"*\"/>\n"
  "    <allow own=\"*\"/>\n"
  "    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
  "    <allow receive_sender=\"*\"/>\n"
  "  </policy>\n"
  "</busconfig>\n";

/* Avahi on the link only, over IPv4, publishing nothing but the node's
 * service. */
static const char avahi_config_format[] =
  "[server]\n"
  "host-name=%s\n"
  "use-ipv4=yes\n"
  "use-ipv6=no\n"
  "allow-interfaces=veth0\n"
  "enable-dbus=yes\n"
  "\n"
  "[publish]\n"
  "publish-hinfo=no\n"
  "publish-workstation=no\n";

/* Runs in one node's network namespace and a mount namespace of its own: a
 * system bus and an Avahi daemon on a private /run, then the node itself
 * (exec, so that the test's signals reach it). The daemons get a
 * parent-death signal: they die with the node, however it ends. */
static const char lan_node_script[] =
  "set -e\n"
  "await_socket () {\n"
  "  i=0\n"
  "  while [ ! -S \"$1\" ]; do\n"
  "    i=$((i + 1))\n"
  "    if [ $i -gt 200 ]; then echo \"$2 did not start\" >&2; exit 1; fi\n"
  "    sleep 0.05\n"
  "  done\n"
  "}\n"
  "mount -t tmpfs tmpfs /run\n"
  "mkdir /run/dbus\n"
  "\"$LLM_TEST_SETPRIV\" --pdeathsig KILL \"$LLM_TEST_DBUS_DAEMON\""
  " --config-file=\"$LLM_TEST_DBUS_CONFIG\" --nofork --nopidfile >\"$LLM_TEST_DBUS_LOG\" 2>&1 &\n"
  "await_socket /run/dbus/system_bus_socket dbus-daemon\n"
  "\"$LLM_TEST_SETPRIV\" --pdeathsig KILL \"$LLM_TEST_AVAHI_DAEMON\" --no-drop-root --no-chroot"
  " -f \"$LLM_TEST_AVAHI_CONFIG\" >\"$LLM_TEST_AVAHI_LOG\" 2>&1 &\n"
  "await_socket /run/avahi-daemon/socket avahi-daemon\n"
  "exec \"$@\"\n";

/* Runs @argv to its end; FALSE with its output in @error_message when it
 * fails. */
static gboolean
run_quietly (const char *const *argv,
             char             **error_message)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *command = g_strjoinv (" ", (char **) argv);
  g_autofree char *output = NULL;

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  process = g_subprocess_launcher_spawnv (launcher, argv, &error);
  if (process == NULL ||
      !g_subprocess_communicate_utf8 (process, NULL, NULL, &output, NULL, &error))
    {
      *error_message = g_strdup_printf ("%s: %s", command, error->message);
      return FALSE;
    }
  if (!g_subprocess_get_if_exited (process) || g_subprocess_get_exit_status (process) != 0)
    {
      *error_message = g_strdup_printf ("%s: %s", command, g_strstrip (output));
      return FALSE;
    }
  return TRUE;
}

/* A copy of the user database at @path, in which the `avahi` user or group
 * (@pattern matches its entry up to its ids) is root: in a user namespace
 * that maps only root, avahi-daemon could not give its runtime folder to
 * anyone else. */
static gboolean
write_user_database (const char  *from,
                     const char  *path,
                     const char  *pattern,
                     const char  *replacement,
                     const char  *missing_line,
                     char       **error_message)
{
  g_autoptr(GRegex) regex = g_regex_new (pattern, G_REGEX_MULTILINE, 0, NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *contents = NULL;
  g_autofree char *edited = NULL;

  if (!g_file_get_contents (from, &contents, NULL, &error))
    {
      *error_message = g_strdup (error->message);
      return FALSE;
    }
  if (g_regex_match (regex, contents, 0, NULL))
    edited = g_regex_replace_literal (regex, contents, -1, 0, replacement, 0, NULL);
  else
    edited = g_strconcat (contents, missing_line, NULL);
  g_assert_true (g_file_set_contents (path, edited, -1, NULL));
  return TRUE;
}

/* In this copy's own mount namespace: a /run of its own (where `ip netns`
 * keeps namespaces), and /etc/passwd and /etc/group with avahi as root. */
static gboolean
set_up_private_system (const char  *work_dir,
                       char       **error_message)
{
  g_autofree char *passwd = g_build_filename (work_dir, "passwd", NULL);
  g_autofree char *group = g_build_filename (work_dir, "group", NULL);

  if (mount ("tmpfs", "/run", "tmpfs", 0, "mode=0755") != 0)
    {
      *error_message = g_strdup_printf ("mount tmpfs on /run: %s", g_strerror (errno));
      return FALSE;
    }
  if (!write_user_database ("/etc/passwd", passwd, "^avahi:x:[0-9]*:[0-9]*:", "avahi:x:0:0:",
                            "avahi:x:0:0:Avahi:/run/avahi-daemon:/usr/sbin/nologin\n",
                            error_message) ||
      !write_user_database ("/etc/group", group, "^avahi:x:[0-9]*:", "avahi:x:0:",
                            "avahi:x:0:\n", error_message))
    return FALSE;
  if (mount (passwd, "/etc/passwd", NULL, MS_BIND, NULL) != 0 ||
      mount (group, "/etc/group", NULL, MS_BIND, NULL) != 0)
    {
      *error_message = g_strdup_printf ("bind-mount over /etc/passwd: %s", g_strerror (errno));
      return FALSE;
    }
  return TRUE;
}

/* Namespaces a (10.77.0.1) and b (10.77.0.2), joined by a veth link. */
static gboolean
set_up_link (const char  *ip,
             char       **error_message)
{
  const char *const commands[][14] = {
    { ip, "netns", "add", "a", NULL },
    { ip, "netns", "add", "b", NULL },
    { ip, "link", "add", "veth0", "netns", "a", "type", "veth",
      "peer", "name", "veth0", "netns", "b", NULL },
    { ip, "-n", "a", "addr", "add", "10.77.0.1/24", "dev", "veth0", NULL },
    { ip, "-n", "b", "addr", "add", "10.77.0.2/24", "dev", "veth0", NULL },
    { ip, "-n", "a", "link", "set", "lo", "up", NULL },
    { ip, "-n", "b", "link", "set", "lo", "up", NULL },
    { ip, "-n", "a", "link", "set", "veth0", "up", NULL },
    { ip, "-n", "b", "link", "set", "veth0", "up", NULL },
  };

  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    if (!run_quietly (commands[i], error_message))
      return FALSE;
  return TRUE;
}

static void
write_file (const char *path,
            const char *contents)
{
  g_autoptr(GError) error = NULL;

  g_file_set_contents (path, contents, -1, &error);
  g_assert_no_error (error);
}

/* Starts @node in namespace @netns, behind its own bus and Avahi daemon. */
static void
lan_node_spawn (Swarm      *swarm,
                Node       *node,
                const char *netns,
                const char *ip)
{
  g_autofree char *unshare = find_program ("unshare");
  g_autofree char *setpriv = find_program ("setpriv");
  g_autofree char *dbus_daemon = find_program ("dbus-daemon");
  g_autofree char *avahi_daemon = find_program ("avahi-daemon");
  g_autofree char *layers = g_strdup_printf ("%u-%u", node->hosting.first, node->hosting.last);
  g_autofree char *host_name = g_strdup_printf ("node-%s", netns);
  g_autofree char *avahi_config = g_strdup_printf (avahi_config_format, host_name);
  g_autofree char *avahi_config_name = g_strdup_printf ("avahi-%s.conf", netns);
  g_autofree char *avahi_log_name = g_strdup_printf ("avahi-%s.log", netns);
  g_autofree char *dbus_log_name = g_strdup_printf ("dbus-%s.log", netns);
  g_autofree char *dbus_config_path = g_build_filename (swarm->work_dir, "dbus.conf", NULL);
  g_autofree char *avahi_config_path = NULL;
  g_autoptr(GPtrArray) env = g_ptr_array_new_with_free_func (g_free);

  avahi_config_path = g_build_filename (swarm->work_dir, avahi_config_name, NULL);
  node->daemon_logs[0] = g_build_filename (swarm->work_dir, dbus_log_name, NULL);
  node->daemon_logs[1] = g_build_filename (swarm->work_dir, avahi_log_name, NULL);
  write_file (dbus_config_path, dbus_config);
  write_file (avahi_config_path, avahi_config);

  /* What lan_node_script runs, by name: no quoting to get wrong. */
  g_ptr_array_add (env, g_strconcat ("LLM_TEST_SETPRIV=", setpriv, NULL));
  g_ptr_array_add (env, g_strconcat ("LLM_TEST_DBUS_DAEMON=", dbus_daemon, NULL));
  g_ptr_array_add (env, g_strconcat ("LLM_TEST_DBUS_CONFIG=", dbus_config_path, NULL));
  g_ptr_array_add (env, g_strconcat ("LLM_TEST_DBUS_LOG=", node->daemon_logs[0], NULL));
  g_ptr_array_add (env, g_strconcat ("LLM_TEST_AVAHI_DAEMON=", avahi_daemon, NULL));
  g_ptr_array_add (env, g_strconcat ("LLM_TEST_AVAHI_CONFIG=", avahi_config_path, NULL));
  g_ptr_array_add (env, g_strconcat ("LLM_TEST_AVAHI_LOG=", node->daemon_logs[1], NULL));
  g_ptr_array_add (env, g_strdup ("DBUS_SYSTEM_BUS_ADDRESS=unix:path=/run/dbus/system_bus_socket"));
  g_ptr_array_add (env, NULL);

  node_spawn (node,
              (const char *[]) { ip, "netns", "exec", netns, unshare, "-m",
                                 "sh", "-c", lan_node_script, "sh",
                                 llm_node_bin (), "host", "--model", swarm->model,
                                 "--layers", layers, "--listen", "0.0.0.0:0", "--no-dht",
                                 "--data-dir", node->data_dir, NULL },
              (const char *const *) env->pdata);
}

static void
test_lan_namespaced (void)
{
  g_autoptr(Swarm) swarm = swarm_new ();
  g_autofree char *ip = find_program ("ip");
  g_autofree char *error_message = NULL;
  Node *a;
  Node *b;
  gint64 start;

  if (swarm->model == NULL)
    return;

  assert_only_loopback ();
  if (!set_up_private_system (swarm->work_dir, &error_message) ||
      !set_up_link (ip, &error_message))
    {
      g_test_skip_printf ("Cannot set up the namespaces: %s", error_message);
      return;
    }

  a = swarm_add_node (swarm, "node a", "a", 0, 2);
  b = swarm_add_node (swarm, "node b", "b", 3, 4);
  g_assert_cmpstr (a->address, !=, b->address);

  start = g_get_monotonic_time ();
  lan_node_spawn (swarm, a, "a", ip);
  lan_node_spawn (swarm, b, "b", ip);

  /* A node's control socket is a file in its data folder, which reaches
   * across network namespaces: the test asks both nodes from its own. */
  {
    static const guint whole[N_LAYERS] = { 1, 1, 1, 1, 1 };
    Wait waits[] = {
      { "node a sees node b on the LAN", a,
        { &a->hosting, { &b->hosting, NULL }, { NULL }, "lan", whole }, DISCOVERY_TIMEOUT_S, -1 },
      { "node b sees node a on the LAN", b,
        { &b->hosting, { &a->hosting, NULL }, { NULL }, "lan", whole }, DISCOVERY_TIMEOUT_S, -1 },
    };

    swarm_await (swarm, waits, G_N_ELEMENTS (waits), start);
    g_test_message ("LAN: the two nodes saw each other after %.1f s "
                    "(node a: %.1f s, node b: %.1f s)",
                    seconds_since (start), waits[0].seconds, waits[1].seconds);
  }

  {
    static const guint only_a[N_LAYERS] = { 1, 1, 1, 0, 0 };
    Wait gone = { "node a forgets node b (SIGTERM, a goodbye)", a,
                  { &a->hosting, { NULL }, { &b->hosting, NULL }, NULL, only_a },
                  GOODBYE_TIMEOUT_S, -1 };

    start = g_get_monotonic_time ();
    node_signal (b, SIGTERM);
    swarm_await (swarm, &gone, 1, start);
    g_test_message ("LAN: node a forgot node b (goodbye) after %.1f s", gone.seconds);

    node_await_exit (swarm, b);
    if (b->exit_status != 0)
      swarm_fail (swarm, "node b%s after SIGTERM, instead of status 0", b->exit_reason);
  }

  node_stop (swarm, a);
}

/*
 * The parent side: a copy of this program in namespaces of its own.
 */

static void
remove_tree (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);

      if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
        remove_tree (child);
      else
        g_unlink (child);
    }
  g_rmdir (path);
}

/* Whether `unshare ARGS… true` works here. */
static gboolean
can_unshare (const char *const *args)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  int status;

  g_ptr_array_add (argv, "unshare");
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (char *) args[i]);
  g_ptr_array_add (argv, "true");
  g_ptr_array_add (argv, NULL);

  return g_spawn_sync (NULL, (char **) argv->pdata, NULL,
                       G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL |
                       G_SPAWN_STDERR_TO_DEV_NULL,
                       NULL, NULL, NULL, NULL, &status, NULL) &&
         g_spawn_check_wait_status (status, NULL);
}

/* Runs the test at @path in a copy of this program under `unshare
 * @unshare_args`, forwarding what it says; its skip is this test's skip. */
static void
run_namespaced (const char        *path,
                const char *const *unshare_args)
{
  g_autofree char *program = g_file_read_link ("/proc/self/exe", NULL);
  g_autofree char *work_dir = g_dir_make_tmp ("llm-swarm-XXXXXX", NULL);
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) child = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *output = NULL;
  g_autofree char *skipped = NULL;
  g_auto(GStrv) lines = NULL;

  g_assert_nonnull (work_dir);
  g_ptr_array_add (argv, "unshare");
  for (guint i = 0; unshare_args[i] != NULL; i++)
    g_ptr_array_add (argv, (char *) unshare_args[i]);
  g_ptr_array_add (argv, "--");
  g_ptr_array_add (argv, program);
  g_ptr_array_add (argv, "-p");
  g_ptr_array_add (argv, (char *) path);
  g_ptr_array_add (argv, NULL);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  g_subprocess_launcher_setenv (launcher, NETNS_ENV, path, TRUE);
  g_subprocess_launcher_setenv (launcher, WORK_DIR_ENV, work_dir, TRUE);
  child = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (child, NULL, NULL, &output, NULL, &error);
  g_assert_no_error (error);
  remove_tree (work_dir);

  /* The copy's own TAP lines would confuse the parent's. */
  lines = g_strsplit (output, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      char *skip = strstr (lines[i], " # SKIP");

      if (*lines[i] == '\0')
        continue;
      g_test_message ("namespace: %s", lines[i]);
      if (g_str_has_prefix (lines[i], "ok ") && skip != NULL)
        skipped = g_strdup (g_strstrip (skip + strlen (" # SKIP")));
    }

  /* The copy's reason goes on this test's own TAP line. */
  if (!g_subprocess_get_if_exited (child) || g_subprocess_get_exit_status (child) != 0)
    {
      g_autofree char *reason = describe_exit (child);

      g_test_fail_printf ("%s%s: see its messages above", path, reason);
    }
  else if (skipped != NULL)
    g_test_skip (skipped);
}

static void
test_dht (void)
{
  g_autofree char *model = llm_test_dup_shared_path ("models", MODEL_ID, NULL);
  g_autofree char *dhtnode = find_program ("dhtnode");

  if (model == NULL)
    return;
  if (dhtnode == NULL)
    {
      g_test_skip ("dhtnode is not installed (Debian package dhtnode)");
      return;
    }
  if (!can_unshare ((const char *[]) { "-rn", NULL }))
    {
      g_test_skip ("Cannot create a network namespace (unshare -rn)");
      return;
    }

  run_namespaced ("/llm/integration/swarm/dht/namespaced", (const char *[]) { "-rn", NULL });
}

static void
test_lan (void)
{
  g_autofree char *model = llm_test_dup_shared_path ("models", MODEL_ID, NULL);
  const char *const unshare_args[] = { "-rnm", "--propagation", "private", NULL };
  const struct {
    const char *program;
    const char *package;
  } needed[] = {
    { "avahi-daemon", "avahi-daemon" },
    { "dbus-daemon", "dbus-daemon" },
    { "ip", "iproute2" },
    { "unshare", "util-linux" },
    { "setpriv", "util-linux" },
  };

  if (model == NULL)
    return;
  for (guint i = 0; i < G_N_ELEMENTS (needed); i++)
    {
      g_autofree char *path = find_program (needed[i].program);

      if (path == NULL)
        {
          g_test_skip_printf ("%s is not installed (Debian package %s)", needed[i].program,
                              needed[i].package);
          return;
        }
    }
  if (!can_unshare (unshare_args))
    {
      g_test_skip ("Cannot create user, network and mount namespaces (unshare -rnm)");
      return;
    }

  run_namespaced ("/llm/integration/swarm/lan/namespaced", unshare_args);
}

/*
 * The checks themselves, on answers written by hand after the contract:
 * a wrong check would pass a broken swarm or fail a good one.
 */

#define ADDRESS_1 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.llm"
#define ADDRESS_2 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.llm"
#define ADDRESS_3 "cccccccccccccccccccccccccccccccccccccccccccccccccccccccc.llm"

static JsonObject *
parse_object (JsonParser *parser,
              const char *text)
{
  g_autoptr(GError) error = NULL;

  json_parser_load_from_data (parser, text, -1, &error);
  g_assert_no_error (error);
  return json_node_get_object (json_parser_get_root (parser));
}

static void
assert_view (const char        *text,
             const Expectation *expect,
             gboolean           meets,
             const char        *reason)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GString) why = g_string_new (NULL);
  JsonObject *view = parse_object (parser, text);

  g_assert_cmpint (view_meets (view, expect, why), ==, meets);
  if (reason != NULL && strstr (why->str, reason) == NULL)
    g_error ("“%s” lacks “%s”", why->str, reason);
}

static void
test_checks (void)
{
  static const Hosting h1 = { ADDRESS_1, 0, 1 }, h2 = { ADDRESS_2, 2, 3 }, h3 = { ADDRESS_3, 4, 4 };
  static const guint whole[N_LAYERS] = { 1, 1, 1, 1, 1 };
  static const guint without_3[N_LAYERS] = { 1, 1, 1, 1, 0 };
  const Expectation swarm = { &h1, { &h2, &h3, NULL }, { NULL }, NULL, whole };
  const Expectation on_lan = { &h1, { &h2, &h3, NULL }, { NULL }, "lan", whole };
  const Expectation left_3 = { NULL, { NULL }, { &h3, NULL }, NULL, NULL };
  const Expectation left_2 = { NULL, { NULL }, { &h2, NULL }, NULL, NULL };
  const Expectation two_left = { &h1, { &h2, NULL }, { &h3, NULL }, NULL, without_3 };
  const char *whole_view =
    "{ \"address\": \"" ADDRESS_1 "\", \"endpoints\": [\"127.0.0.1:40123\"],"
    "  \"shards\": [{\"model\": \"stories260K\", \"first\": 0, \"last\": 1, \"state\": \"ready\"}],"
    "  \"peers\": ["
    "    {\"address\": \"" ADDRESS_2 "\", \"endpoints\": [\"127.0.0.1:40124\"],"
    "     \"shards\": [{\"model\": \"stories260K\", \"first\": 2, \"last\": 3}],"
    "     \"state\": \"connected\", \"sources\": [\"dht\"], \"latency_ms\": 0.4,"
    "     \"throughput\": 0, \"last_seen_ms_ago\": 1200},"
    "    {\"address\": \"" ADDRESS_3 "\","
    "     \"shards\": [{\"model\": \"stories260K\", \"first\": 4, \"last\": 4}],"
    "     \"state\": \"discovered\", \"sources\": [\"lan\", \"dht\"]}],"
    "  \"coverage\": [{\"model\": \"stories260K\", \"n_layers\": 5, \"replicas\": [1,1,1,1,1],"
    "                  \"gaps\": [], \"complete\": true}] }";
  const char *without_3_view =
    "{ \"address\": \"" ADDRESS_1 "\","
    "  \"shards\": [{\"model\": \"stories260K\", \"first\": 0, \"last\": 1, \"state\": \"ready\"}],"
    "  \"peers\": ["
    "    {\"address\": \"" ADDRESS_2 "\","
    "     \"shards\": [{\"model\": \"stories260K\", \"first\": 2, \"last\": 3}]}],"
    "  \"coverage\": [{\"model\": \"stories260K\", \"n_layers\": 5, \"replicas\": [1,1,1,1,0],"
    "                  \"gaps\": [{\"first\": 4, \"last\": 4}], \"complete\": false}] }";

  assert_view (whole_view, &swarm, TRUE, NULL);
  assert_view (whole_view, &left_3, FALSE, "peer " ADDRESS_3 " is still listed");
  assert_view (without_3_view, &left_3, TRUE, NULL);
  assert_view (without_3_view, &two_left, TRUE, NULL);
  assert_view (without_3_view, &left_2, FALSE, "peer " ADDRESS_2 " is still listed");
  assert_view (without_3_view, &swarm, FALSE, "peer " ADDRESS_3 " is not listed");
  assert_view (without_3_view, &swarm, FALSE, "replicas are [1,1,1,1,0], not [1,1,1,1,1]");

  /* Only one of the peers was heard of on the LAN. */
  assert_view (whole_view, &on_lan, FALSE, "peer " ADDRESS_2 " lacks the source \"lan\"");

  /* Another node's view, or another range. */
  {
    const Hosting other = { ADDRESS_2, 0, 1 };
    const Hosting wider = { ADDRESS_1, 0, 2 };
    const Hosting moved = { ADDRESS_3, 3, 4 };
    const Expectation as_other = { &other, { NULL }, { NULL }, NULL, NULL };
    const Expectation as_wider = { &wider, { NULL }, { NULL }, NULL, NULL };
    const Expectation with_moved = { NULL, { &moved, NULL }, { NULL }, NULL, NULL };

    assert_view (whole_view, &as_other, FALSE, "its address is " ADDRESS_1);
    assert_view (whole_view, &as_wider, FALSE, "its own shards lack stories260K 0-2");
    assert_view (whole_view, &with_moved, FALSE, "is not listed with layers 3-4");
  }

  /* The peer is gone from the list but still counted. */
  assert_view ("{\"peers\": [], \"coverage\": [{\"model\": \"stories260K\", \"n_layers\": 5,"
               " \"replicas\": [1,1,1,1,1], \"complete\": true}]}",
               &left_3, FALSE, "still counts " ADDRESS_3 "'s layer 4");

  /* Coverage that contradicts itself. */
  assert_view ("{\"coverage\": [{\"model\": \"stories260K\", \"n_layers\": 5,"
               " \"replicas\": [1,1,1,1,0], \"gaps\": [], \"complete\": true}]}",
               &(Expectation) { NULL, { NULL }, { NULL }, NULL, without_3 }, FALSE,
               "not marked \"complete\": false");
  assert_view ("{\"coverage\": [{\"model\": \"stories260K\", \"n_layers\": 5,"
               " \"replicas\": [1,1,1,1,0], \"gaps\": [{\"first\": 3, \"last\": 4}],"
               " \"complete\": false}]}",
               &(Expectation) { NULL, { NULL }, { NULL }, NULL, without_3 }, FALSE,
               "gaps wrongly name layer 3");

  /* Whatever the shape, a check fails and says so: it never crashes. */
  for (const char *const *text = (const char *[]) {
         "{}", "{\"peers\": 3, \"coverage\": {}, \"shards\": null}",
         "{\"peers\": [1, \"x\", {\"address\": 5}], \"coverage\": [{\"model\": \"stories260K\","
         " \"n_layers\": 5, \"replicas\": [1, \"1\", 1, 1, 1]}]}",
         "{\"coverage\": [{\"model\": \"stories260K\", \"n_layers\": 5, \"replicas\": [1,1,1,1,1],"
         " \"gaps\": [{\"first\": 7, \"last\": 9}], \"complete\": true}]}",
         NULL };
       *text != NULL; text++)
    assert_view (*text, &swarm, FALSE, NULL);
}

int
main (int   argc,
      char *argv[])
{
  const char *namespaced = g_getenv (NETNS_ENV);

  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  if (g_strcmp0 (namespaced, "/llm/integration/swarm/dht/namespaced") == 0)
    g_test_add_func (namespaced, test_dht_namespaced);
  else if (g_strcmp0 (namespaced, "/llm/integration/swarm/lan/namespaced") == 0)
    g_test_add_func (namespaced, test_lan_namespaced);
  else
    {
      g_test_add_func ("/llm/integration/swarm/checks", test_checks);
      g_test_add_func ("/llm/integration/swarm/dht", test_dht);
      g_test_add_func ("/llm/integration/swarm/lan", test_lan);
    }

  return g_test_run ();
}

/* SPDX-License-Identifier: GPL-3.0-or-later */

#include <string.h>

#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "llm-dht-discovery.h"

#define MODEL_ID "stories260K"
#define NOW      G_GINT64_CONSTANT (1800000000)

/* Set in the environment of the copy of this program that runs inside a
 * network namespace of its own (see test_loopback()). */
#define NETNS_ENV "LLM_TEST_DHT_IN_NETNS"

static LlmIdentity *
identity_new (guint8 fill)
{
  guint8 seed[LLM_IDENTITY_SEED_SIZE];

  memset (seed, fill, sizeof seed);
  return llm_identity_new_from_seed (seed);
}

static JsonObject *
announcement_new (const char *endpoint)
{
  JsonObject *announcement = json_object_new ();
  JsonArray *endpoints = json_array_new ();
  JsonObject *shard = json_object_new ();
  JsonArray *shards = json_array_new ();

  json_array_add_string_element (endpoints, endpoint);
  json_object_set_array_member (announcement, "endpoints", endpoints);
  json_object_set_int_member (shard, "first", 0);
  json_object_set_int_member (shard, "last", 4);
  json_array_add_object_element (shards, shard);
  json_object_set_array_member (announcement, "shards", shards);
  return announcement;
}

static char *
to_string (JsonObject *object)
{
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autoptr (JsonNode) node = json_node_new (JSON_NODE_OBJECT);

  json_node_set_object (node, object);
  json_generator_set_root (generator, node);
  return json_generator_to_data (generator, NULL);
}

/* An envelope around @record_string, signed by @identity as the real code
 * does, to build records the real code would never make. */
static GBytes *
envelope_new (LlmIdentity *identity,
              const char  *record_string)
{
  g_autoptr (JsonObject) envelope = json_object_new ();
  g_autoptr (GByteArray) to_sign = g_byte_array_new ();
  g_autofree char *signature64 = NULL;
  guint8 signature[LLM_ADDRESS_SIGNATURE_SIZE];
  char *string;

  g_byte_array_append (to_sign, (const guint8 *) LLM_DHT_RECORD_SIGNATURE_LABEL,
                       sizeof LLM_DHT_RECORD_SIGNATURE_LABEL);
  g_byte_array_append (to_sign, (const guint8 *) record_string, strlen (record_string));
  llm_identity_sign (identity, to_sign->data, to_sign->len, signature);
  signature64 = g_base64_encode (signature, sizeof signature);

  json_object_set_int_member (envelope, "version", 1);
  json_object_set_string_member (envelope, "record", record_string);
  json_object_set_string_member (envelope, "signature", signature64);
  string = to_string (envelope);
  return g_bytes_new_take (string, strlen (string));
}

/* The record of a valid value, for tests to alter. */
static JsonObject *
record_of (GBytes *value)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (JsonParser) record_parser = json_parser_new ();
  JsonObject *envelope;

  g_assert_true (json_parser_load_from_data (parser, g_bytes_get_data (value, NULL),
                                             g_bytes_get_size (value), NULL));
  envelope = json_node_get_object (json_parser_get_root (parser));
  g_assert_true (json_parser_load_from_data (record_parser,
                                             json_object_get_string_member (envelope, "record"),
                                             -1, NULL));
  return json_object_ref (json_node_get_object (json_parser_get_root (record_parser)));
}

static void
assert_refused (GBytes     *value,
                const char *model_id,
                gint64      now,
                int         code)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (JsonObject) record = NULL;

  record = llm_dht_record_parse (g_bytes_get_data (value, NULL), g_bytes_get_size (value),
                                 model_id, now, TRUE, &error);
  g_assert_null (record);
  g_assert_error (error, LLM_DHT_DISCOVERY_ERROR, code);
  g_test_message ("refused: %s", error->message);
}

static void
test_record_round_trip (void)
{
  g_autoptr (LlmIdentity) identity = identity_new (1);
  g_autoptr (JsonObject) announcement = announcement_new ("127.0.0.1:7000");
  g_autoptr (GBytes) value = NULL;
  g_autoptr (JsonObject) record = NULL;
  g_autoptr (GError) error = NULL;
  JsonArray *endpoints;

  value = llm_dht_record_new (identity, MODEL_ID, announcement, NOW);
  g_assert_cmpuint (g_bytes_get_size (value), <, LLM_DHT_RECORD_MAX_SIZE);

  record = llm_dht_record_parse (g_bytes_get_data (value, NULL), g_bytes_get_size (value),
                                 MODEL_ID, NOW + 1, TRUE, &error);
  g_assert_no_error (error);
  g_assert_nonnull (record);
  g_assert_cmpstr (json_object_get_string_member (record, "address"), ==,
                   llm_identity_get_address (identity));
  g_assert_cmpstr (json_object_get_string_member (record, "model"), ==, MODEL_ID);
  g_assert_cmpint (json_object_get_int_member (record, "timestamp"), ==, NOW);
  g_assert_cmpint (json_object_get_int_member (record, "expires"), ==,
                   NOW + LLM_DHT_RECORD_LIFETIME);
  endpoints = json_object_get_array_member (record, "endpoints");
  g_assert_cmpuint (json_array_get_length (endpoints), ==, 1);
  g_assert_cmpstr (json_array_get_string_element (endpoints, 0), ==, "127.0.0.1:7000");
  g_assert_true (json_object_has_member (record, "shards"));

  /* A clock a little behind the announcer's is fine. */
  g_clear_pointer (&record, json_object_unref);
  record = llm_dht_record_parse (g_bytes_get_data (value, NULL), g_bytes_get_size (value),
                                 MODEL_ID, NOW - LLM_DHT_RECORD_MAX_SKEW, TRUE, &error);
  g_assert_no_error (error);
  g_assert_nonnull (record);
}

static void
test_record_forged (void)
{
  g_autoptr (LlmIdentity) identity = identity_new (1);
  g_autoptr (LlmIdentity) victim = identity_new (2);
  g_autoptr (JsonObject) announcement = announcement_new ("127.0.0.1:7000");
  g_autoptr (GBytes) value = NULL;
  g_autoptr (GBytes) forged = NULL;
  g_autoptr (JsonObject) record = NULL;
  g_autofree char *record_string = NULL;
  g_autofree char *text = NULL;
  char *at;

  value = llm_dht_record_new (identity, MODEL_ID, announcement, NOW);

  /* A record claiming the victim's address, signed by someone else. */
  record = record_of (value);
  json_object_set_string_member (record, "address", llm_identity_get_address (victim));
  record_string = to_string (record);
  forged = envelope_new (identity, record_string);
  assert_refused (forged, MODEL_ID, NOW, LLM_DHT_DISCOVERY_ERROR_FORGED);
  g_clear_pointer (&forged, g_bytes_unref);

  /* A record changed after signing: another endpoint. */
  text = g_strndup (g_bytes_get_data (value, NULL), g_bytes_get_size (value));
  g_assert_nonnull ((at = strstr (text, "7000")));
  at[0] = '6';
  forged = g_bytes_new (text, strlen (text));
  assert_refused (forged, MODEL_ID, NOW, LLM_DHT_DISCOVERY_ERROR_FORGED);
  g_clear_pointer (&forged, g_bytes_unref);

  /* A signature of the wrong size, and no address at all. */
  forged = g_bytes_new_static ("{\"version\":1,\"record\":\"{}\",\"signature\":\"AAAA\"}", 46);
  assert_refused (forged, MODEL_ID, NOW, LLM_DHT_DISCOVERY_ERROR_FORGED);
  g_clear_pointer (&forged, g_bytes_unref);

  forged = envelope_new (identity, "{\"model\":\"" MODEL_ID "\",\"endpoints\":[]}");
  assert_refused (forged, MODEL_ID, NOW, LLM_DHT_DISCOVERY_ERROR_MISSING_FIELD);
  g_clear_pointer (&forged, g_bytes_unref);

  /* A claimed address that is not one. */
  json_object_set_string_member (record, "address", "nobody.llm");
  g_clear_pointer (&record_string, g_free);
  record_string = to_string (record);
  forged = envelope_new (identity, record_string);
  assert_refused (forged, MODEL_ID, NOW, LLM_DHT_DISCOVERY_ERROR_FORGED);
}

static void
test_record_stale (void)
{
  g_autoptr (LlmIdentity) identity = identity_new (1);
  g_autoptr (JsonObject) announcement = announcement_new ("127.0.0.1:7000");
  g_autoptr (GBytes) value = NULL;
  g_autoptr (GBytes) forever = NULL;
  g_autoptr (JsonObject) record = NULL;
  g_autoptr (JsonObject) parsed = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *record_string = NULL;

  value = llm_dht_record_new (identity, MODEL_ID, announcement, NOW);

  /* Expired, and dated too far ahead. */
  assert_refused (value, MODEL_ID, NOW + LLM_DHT_RECORD_LIFETIME, LLM_DHT_DISCOVERY_ERROR_STALE);
  assert_refused (value, MODEL_ID, NOW + 100000, LLM_DHT_DISCOVERY_ERROR_STALE);
  assert_refused (value, MODEL_ID, NOW - LLM_DHT_RECORD_MAX_SKEW - 1,
                  LLM_DHT_DISCOVERY_ERROR_STALE);

  /* OpenDHT reporting a value as expired: dates are not checked then. */
  parsed = llm_dht_record_parse (g_bytes_get_data (value, NULL), g_bytes_get_size (value),
                                 MODEL_ID, NOW + 100000, FALSE, &error);
  g_assert_no_error (error);
  g_assert_nonnull (parsed);

  /* Signed properly, but claiming to live for a year. */
  record = record_of (value);
  json_object_set_int_member (record, "expires", NOW + 365 * 24 * 3600);
  record_string = to_string (record);
  forever = envelope_new (identity, record_string);
  assert_refused (forever, MODEL_ID, NOW, LLM_DHT_DISCOVERY_ERROR_STALE);
}

static void
test_record_wrong_model (void)
{
  g_autoptr (LlmIdentity) identity = identity_new (1);
  g_autoptr (JsonObject) announcement = announcement_new ("127.0.0.1:7000");
  g_autoptr (GBytes) value = NULL;
  guint8 a[20], b[20], c[20];

  value = llm_dht_record_new (identity, "other-model", announcement, NOW);
  assert_refused (value, MODEL_ID, NOW, LLM_DHT_DISCOVERY_ERROR_WRONG_MODEL);

  /* Keys: one per model, always the same. */
  llm_dht_infohash_for_model (MODEL_ID, a);
  llm_dht_infohash_for_model (MODEL_ID, b);
  llm_dht_infohash_for_model ("other-model", c);
  g_assert_cmpmem (a, sizeof a, b, sizeof b);
  g_assert_true (memcmp (a, c, sizeof a) != 0);
}

static void
test_record_garbage (void)
{
  g_autoptr (LlmIdentity) identity = identity_new (1);
  g_autofree char *big = NULL;
  const struct {
    const char *text;
    int code;
  } cases[] = {
    { "", LLM_DHT_DISCOVERY_ERROR_INVALID },
    { "not json", LLM_DHT_DISCOVERY_ERROR_INVALID },
    { "[1, 2]", LLM_DHT_DISCOVERY_ERROR_INVALID },
    { "{\"version\":1,\"record\":\"{\"", LLM_DHT_DISCOVERY_ERROR_INVALID },
    { "\xff\xfe{}", LLM_DHT_DISCOVERY_ERROR_INVALID },
    { "{}", LLM_DHT_DISCOVERY_ERROR_MISSING_FIELD },
    { "{\"version\":2,\"record\":\"{}\",\"signature\":\"\"}", LLM_DHT_DISCOVERY_ERROR_INVALID },
    { "{\"version\":\"1\",\"record\":\"{}\",\"signature\":\"\"}", LLM_DHT_DISCOVERY_ERROR_MISSING_FIELD },
    { "{\"version\":1,\"record\":{},\"signature\":\"\"}", LLM_DHT_DISCOVERY_ERROR_MISSING_FIELD },
    { "{\"version\":1,\"record\":\"{}\"}", LLM_DHT_DISCOVERY_ERROR_MISSING_FIELD },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GBytes) value = g_bytes_new_static (cases[i].text, strlen (cases[i].text));

      assert_refused (value, MODEL_ID, NOW, cases[i].code);
    }

  /* A record signed properly but without the fields a peer needs. */
  {
    g_autofree char *record_string = NULL;
    g_autoptr (GBytes) value = NULL;

    record_string = g_strdup_printf ("{\"model\":\"%s\",\"address\":\"%s\","
                                     "\"timestamp\":%" G_GINT64_FORMAT "}",
                                     MODEL_ID, llm_identity_get_address (identity), NOW);
    value = envelope_new (identity, record_string);
    assert_refused (value, MODEL_ID, NOW, LLM_DHT_DISCOVERY_ERROR_MISSING_FIELD);
  }

  /* Too big to be read at all. */
  {
    g_autoptr (GBytes) value = NULL;

    big = g_strnfill (LLM_DHT_RECORD_MAX_SIZE + 1, ' ');
    value = g_bytes_new_static (big, strlen (big));
    assert_refused (value, MODEL_ID, NOW, LLM_DHT_DISCOVERY_ERROR_INVALID);
  }
}

static void
test_discovery_properties (void)
{
  g_autoptr (LlmIdentity) identity = identity_new (1);
  LlmDhtDiscovery *discovery;
  g_autoptr (JsonObject) announcement = announcement_new ("127.0.0.1:7000");
  g_autoptr (GError) error = NULL;
  g_autofree char *bootstrap = NULL;
  guint interval = 0;

  /* Created, announcing and listening, but never started: no network. */
  discovery = llm_dht_discovery_new (identity, NULL, 0);
  g_object_get (discovery,
                "bootstrap", &bootstrap,
                "refresh-interval", &interval,
                NULL);
  g_assert_cmpstr (bootstrap, ==, LLM_DHT_DISCOVERY_DEFAULT_BOOTSTRAP);
  g_assert_cmpuint (interval, <, LLM_DHT_RECORD_LIFETIME);
  g_assert_false (llm_dht_discovery_get_running (discovery));
  g_assert_cmpuint (llm_dht_discovery_get_bound_port (discovery), ==, 0);

  llm_dht_discovery_announce (discovery, MODEL_ID, announcement);
  llm_dht_discovery_listen (discovery, MODEL_ID);
  llm_dht_discovery_unlisten (discovery, MODEL_ID);
  llm_dht_discovery_withdraw (discovery, MODEL_ID);
  llm_dht_discovery_stop (discovery);
  g_assert_finalize_object (discovery);

  /* A bootstrap that is not HOST:PORT. */
  discovery = llm_dht_discovery_new (identity, "127.0.0.1:port", 0);
  g_assert_false (llm_dht_discovery_start (discovery, &error));
  g_assert_error (error, LLM_DHT_DISCOVERY_ERROR, LLM_DHT_DISCOVERY_ERROR_BOOTSTRAP);
  g_assert_false (llm_dht_discovery_get_running (discovery));
  g_assert_finalize_object (discovery);
}

/*
 * Two nodes and a dhtnode on loopback, in a network namespace of their own.
 */

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

/* Refuses to go on unless `lo` is the only interface: nothing this test
 * sends can leave the namespace. */
static void
assert_only_loopback (void)
{
  struct if_nameindex *interfaces = if_nameindex ();

  g_assert_nonnull (interfaces);
  for (struct if_nameindex *i = interfaces; i->if_index != 0; i++)
    g_assert_cmpstr (i->if_name, ==, "lo");
  if_freenameindex (interfaces);
}

static guint16
free_udp_port (void)
{
  g_autoptr (GSocket) socket = NULL;
  g_autoptr (GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr (GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr (GSocketAddress) bound = NULL;
  g_autoptr (GError) error = NULL;

  socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_DATAGRAM,
                         G_SOCKET_PROTOCOL_UDP, &error);
  g_assert_no_error (error);
  g_socket_bind (socket, address, FALSE, &error);
  g_assert_no_error (error);
  bound = g_socket_get_local_address (socket, &error);
  g_assert_no_error (error);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
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

/* The DHT has to settle: a generous timeout, and a test that ends as soon
 * as the record arrives. */
#define DHT_TIMEOUT_MS 20000

#define AWAIT_UNTIL(condition)                                                       \
  G_STMT_START {                                                                     \
    gint64 end_ = g_get_monotonic_time () + DHT_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND; \
    while (!(condition))                                                             \
      {                                                                              \
        if (g_get_monotonic_time () > end_)                                          \
          g_error ("%s:%d: timed out waiting for %s", __FILE__, __LINE__, #condition); \
        iterate_for (20);                                                            \
      }                                                                              \
  } G_STMT_END

typedef struct
{
  GThread    *main_thread;
  char       *address;
  JsonObject *record;
  guint       n_announced;
} Seen;

static void
peer_announced_cb (LlmDhtDiscovery *discovery,
                   const char      *address,
                   JsonObject      *record,
                   Seen            *seen)
{
  g_assert_true (g_thread_self () == seen->main_thread);

  seen->n_announced++;
  g_free (seen->address);
  seen->address = g_strdup (address);
  g_clear_pointer (&seen->record, json_object_unref);
  seen->record = json_object_ref (record);
}

/* dhtnode must not outlive a test that failed half-way. */
static void
die_with_parent (gpointer user_data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

static void
test_loopback_namespaced (void)
{
  g_autoptr (LlmIdentity) announcer_id = identity_new (1);
  g_autoptr (LlmIdentity) listener_id = identity_new (2);
  g_autoptr (JsonObject) announcement = announcement_new ("127.0.0.1:7000");
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GSubprocess) dhtnode = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *port = NULL;
  g_autofree char *bootstrap = NULL;
  LlmDhtDiscovery *announcer;
  LlmDhtDiscovery *listener;
  Seen seen = { g_thread_self (), NULL, NULL, 0 };

  bring_loopback_up ();
  assert_only_loopback ();

  port = g_strdup_printf ("%u", free_udp_port ());
  bootstrap = g_strdup_printf ("127.0.0.1:%s", port);
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE |
                                        G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                                        G_SUBPROCESS_FLAGS_STDERR_SILENCE);
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
  dhtnode = g_subprocess_launcher_spawn (launcher, &error, "dhtnode", "-s", "-p", port, NULL);
  g_assert_no_error (error);
  iterate_for (300);

  listener = llm_dht_discovery_new (listener_id, bootstrap, 0);
  announcer = llm_dht_discovery_new (announcer_id, bootstrap, 0);
  g_object_set (announcer, "refresh-interval", 1, NULL);
  g_signal_connect (listener, "peer-announced", G_CALLBACK (peer_announced_cb), &seen);

  llm_dht_discovery_listen (listener, MODEL_ID);
  llm_dht_discovery_start (listener, &error);
  g_assert_no_error (error);
  g_assert_true (llm_dht_discovery_get_running (listener));
  g_assert_cmpuint (llm_dht_discovery_get_bound_port (listener), !=, 0);

  g_assert_true (llm_dht_discovery_start (announcer, &error));
  g_assert_no_error (error);
  llm_dht_discovery_announce (announcer, MODEL_ID, announcement);

  AWAIT_UNTIL (seen.n_announced > 0);
  g_assert_cmpstr (seen.address, ==, llm_identity_get_address (announcer_id));
  g_assert_cmpstr (json_object_get_string_member (seen.record, "model"), ==, MODEL_ID);
  g_assert_cmpstr (json_array_get_string_element (json_object_get_array_member (seen.record,
                                                                                "endpoints"), 0),
                   ==, "127.0.0.1:7000");

  /* The refresh puts a newer record every second: it arrives too. */
  AWAIT_UNTIL (seen.n_announced > 1);

  llm_dht_discovery_stop (announcer);
  llm_dht_discovery_stop (listener);
  g_assert_false (llm_dht_discovery_get_running (listener));
  g_assert_finalize_object (announcer);
  g_assert_finalize_object (listener);

  g_subprocess_force_exit (dhtnode);
  g_subprocess_wait (dhtnode, NULL, NULL);
  g_free (seen.address);
  g_clear_pointer (&seen.record, json_object_unref);
}

/* Runs test_loopback_namespaced() in a copy of this program inside a new
 * user and network namespace (`unshare -rn`), where `lo` is the only
 * interface: whatever OpenDHT does, nothing leaves the machine. */
static void
test_loopback (void)
{
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GSubprocess) child = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *output = NULL;
  g_autofree char *program = g_file_read_link ("/proc/self/exe", NULL);
  g_autofree char *dhtnode = g_find_program_in_path ("dhtnode");
  g_auto (GStrv) lines = NULL;
  int status;

  if (dhtnode == NULL)
    {
      g_test_skip ("dhtnode is not installed (Debian package dhtnode)");
      return;
    }
  if (!g_spawn_sync (NULL, (char *[]) { "unshare", "-rn", "true", NULL }, NULL,
                     G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
                     NULL, NULL, NULL, NULL, &status, NULL) ||
      !g_spawn_check_wait_status (status, NULL))
    {
      g_test_skip ("Cannot create a network namespace (unshare -rn)");
      return;
    }

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_subprocess_launcher_setenv (launcher, NETNS_ENV, "1", TRUE);
  child = g_subprocess_launcher_spawn (launcher, &error,
                                       "unshare", "-rn", "--", program,
                                       "-p", "/llm/dht-discovery/loopback/namespaced",
                                       NULL);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (child, NULL, NULL, &output, NULL, &error);
  g_assert_no_error (error);

  /* The child's own TAP lines would confuse the parent's. */
  lines = g_strsplit (output, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    if (*lines[i] != '\0')
      g_test_message ("namespace: %s", lines[i]);

  g_assert_true (g_subprocess_get_if_exited (child));
  g_assert_cmpint (g_subprocess_get_exit_status (child), ==, 0);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/llm/dht-discovery/record/round-trip", test_record_round_trip);
  g_test_add_func ("/llm/dht-discovery/record/forged", test_record_forged);
  g_test_add_func ("/llm/dht-discovery/record/stale", test_record_stale);
  g_test_add_func ("/llm/dht-discovery/record/wrong-model", test_record_wrong_model);
  g_test_add_func ("/llm/dht-discovery/record/garbage", test_record_garbage);
  g_test_add_func ("/llm/dht-discovery/properties", test_discovery_properties);
  if (g_getenv (NETNS_ENV) != NULL)
    g_test_add_func ("/llm/dht-discovery/loopback/namespaced", test_loopback_namespaced);
  else
    g_test_add_func ("/llm/dht-discovery/loopback", test_loopback);

  return g_test_run ();
}

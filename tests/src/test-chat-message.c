/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <string.h>

#include "llm-chat-message.h"
#include "llm-conversation.h"

static JsonObject *
parse_object (const char *json)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;

  json_parser_load_from_data (parser, json, -1, &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)));

  return json_object_ref (json_node_get_object (json_parser_get_root (parser)));
}

static char *
object_to_string (JsonObject *object)
{
  g_autoptr(JsonNode) node = json_node_new (JSON_NODE_OBJECT);

  json_node_set_object (node, object);

  return json_to_string (node, FALSE);
}

static void
count_notify_cb (GObject    *object,
                 GParamSpec *pspec,
                 guint      *count)
{
  (*count)++;
}

static void
test_chat_message_new (void)
{
  gint64 before = g_get_real_time () / G_USEC_PER_SEC;
  g_autoptr(LlmChatMessage) message = llm_chat_message_new (LLM_CHAT_ROLE_USER, "Hello");
  g_autoptr(LlmChatMessage) empty = llm_chat_message_new (LLM_CHAT_ROLE_ASSISTANT, NULL);
  gint64 after = g_get_real_time () / G_USEC_PER_SEC;
  g_autofree char *content = NULL;
  LlmChatRole role;

  g_assert_cmpint (llm_chat_message_get_role (message), ==, LLM_CHAT_ROLE_USER);
  g_assert_cmpstr (llm_chat_message_get_content (message), ==, "Hello");
  g_assert_cmpint (llm_chat_message_get_state (message), ==, LLM_CHAT_MESSAGE_STATE_COMPLETE);
  g_assert_cmpint (llm_chat_message_get_created (message), >=, before);
  g_assert_cmpint (llm_chat_message_get_created (message), <=, after);
  g_assert_cmpuint (llm_chat_message_get_n_tokens (message), ==, 0);
  g_assert_cmpfloat (llm_chat_message_get_time_to_first_token (message), ==, 0.0);
  g_assert_cmpfloat (llm_chat_message_get_tokens_per_second (message), ==, 0.0);
  g_assert_null (llm_chat_message_get_error_message (message));

  g_object_get (message, "role", &role, "content", &content, NULL);
  g_assert_cmpint (role, ==, LLM_CHAT_ROLE_USER);
  g_assert_cmpstr (content, ==, "Hello");

  g_assert_cmpint (llm_chat_message_get_role (empty), ==, LLM_CHAT_ROLE_ASSISTANT);
  g_assert_cmpstr (llm_chat_message_get_content (empty), ==, "");
}

static void
test_chat_message_streaming (void)
{
  g_autoptr(LlmChatMessage) message = llm_chat_message_new (LLM_CHAT_ROLE_ASSISTANT, "");
  guint n_content = 0, n_state = 0, n_figures = 0;

  g_signal_connect (message, "notify::content", G_CALLBACK (count_notify_cb), &n_content);
  g_signal_connect (message, "notify::state", G_CALLBACK (count_notify_cb), &n_state);
  g_signal_connect (message, "notify::n-tokens", G_CALLBACK (count_notify_cb), &n_figures);
  g_signal_connect (message, "notify::time-to-first-token", G_CALLBACK (count_notify_cb),
                    &n_figures);
  g_signal_connect (message, "notify::tokens-per-second", G_CALLBACK (count_notify_cb),
                    &n_figures);

  llm_chat_message_set_state (message, LLM_CHAT_MESSAGE_STATE_PENDING);
  llm_chat_message_set_state (message, LLM_CHAT_MESSAGE_STATE_PENDING);
  g_assert_cmpuint (n_state, ==, 1);
  llm_chat_message_set_state (message, LLM_CHAT_MESSAGE_STATE_STREAMING);
  g_assert_cmpuint (n_state, ==, 2);

  llm_chat_message_append (message, "Hel");
  llm_chat_message_append (message, "");
  llm_chat_message_append (message, "lo, ");
  llm_chat_message_append (message, "wörld");
  g_assert_cmpstr (llm_chat_message_get_content (message), ==, "Hello, wörld");
  g_assert_cmpuint (n_content, ==, 3);

  llm_chat_message_set_content (message, "Hello, wörld");
  g_assert_cmpuint (n_content, ==, 3);
  llm_chat_message_set_content (message, NULL);
  g_assert_cmpstr (llm_chat_message_get_content (message), ==, "");
  g_assert_cmpuint (n_content, ==, 4);
  llm_chat_message_set_content (message, "");
  g_assert_cmpuint (n_content, ==, 4);

  llm_chat_message_set_n_tokens (message, 12);
  llm_chat_message_set_n_tokens (message, 12);
  llm_chat_message_set_time_to_first_token (message, 0.051);
  llm_chat_message_set_time_to_first_token (message, 0.051);
  llm_chat_message_set_tokens_per_second (message, 81.2);
  llm_chat_message_set_tokens_per_second (message, 81.2);
  g_assert_cmpuint (n_figures, ==, 3);
  g_assert_cmpuint (llm_chat_message_get_n_tokens (message), ==, 12);
  g_assert_cmpfloat_with_epsilon (llm_chat_message_get_time_to_first_token (message), 0.051, 1e-9);
  g_assert_cmpfloat_with_epsilon (llm_chat_message_get_tokens_per_second (message), 81.2, 1e-9);

  llm_chat_message_set_state (message, LLM_CHAT_MESSAGE_STATE_COMPLETE);
  g_assert_cmpuint (n_state, ==, 3);
}

static void
test_chat_message_failed (void)
{
  g_autoptr(LlmChatMessage) message = llm_chat_message_new (LLM_CHAT_ROLE_ASSISTANT, "Par");
  g_autoptr(GError) error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, "The peer left");
  guint n_state = 0, n_error = 0;

  g_signal_connect (message, "notify::state", G_CALLBACK (count_notify_cb), &n_state);
  g_signal_connect (message, "notify::error-message", G_CALLBACK (count_notify_cb), &n_error);

  llm_chat_message_set_failed (message, error);
  g_assert_cmpint (llm_chat_message_get_state (message), ==, LLM_CHAT_MESSAGE_STATE_FAILED);
  g_assert_cmpstr (llm_chat_message_get_error_message (message), ==, "The peer left");
  g_assert_cmpstr (llm_chat_message_get_content (message), ==, "Par");
  g_assert_cmpuint (n_state, ==, 1);
  g_assert_cmpuint (n_error, ==, 1);

  /* A retry clears the reason. */
  llm_chat_message_set_state (message, LLM_CHAT_MESSAGE_STATE_PENDING);
  g_assert_null (llm_chat_message_get_error_message (message));
  g_assert_cmpuint (n_state, ==, 2);
  g_assert_cmpuint (n_error, ==, 2);
}

static void
assert_messages_equal (LlmChatMessage *a,
                       LlmChatMessage *b)
{
  g_assert_cmpint (llm_chat_message_get_role (a), ==, llm_chat_message_get_role (b));
  g_assert_cmpstr (llm_chat_message_get_content (a), ==, llm_chat_message_get_content (b));
  g_assert_cmpint (llm_chat_message_get_state (a), ==, llm_chat_message_get_state (b));
  g_assert_cmpint (llm_chat_message_get_created (a), ==, llm_chat_message_get_created (b));
  g_assert_cmpuint (llm_chat_message_get_n_tokens (a), ==, llm_chat_message_get_n_tokens (b));
  g_assert_cmpfloat (llm_chat_message_get_time_to_first_token (a), ==,
                     llm_chat_message_get_time_to_first_token (b));
  g_assert_cmpfloat (llm_chat_message_get_tokens_per_second (a), ==,
                     llm_chat_message_get_tokens_per_second (b));
  g_assert_cmpstr (llm_chat_message_get_error_message (a), ==,
                   llm_chat_message_get_error_message (b));
}

/* to_json → text → parse → new_from_json gives the same message, and the
 * same JSON again. */
static LlmChatMessage *
round_trip (LlmChatMessage *message,
            char          **json_out)
{
  g_autoptr(JsonObject) object = llm_chat_message_to_json (message);
  g_autofree char *json = object_to_string (object);
  g_autoptr(JsonObject) parsed = parse_object (json);
  g_autoptr(GError) error = NULL;
  g_autoptr(LlmChatMessage) copy = llm_chat_message_new_from_json (parsed, &error);
  g_autoptr(JsonObject) again = NULL;
  g_autofree char *json_again = NULL;

  g_assert_no_error (error);
  g_assert_nonnull (copy);
  again = llm_chat_message_to_json (copy);
  json_again = object_to_string (again);
  g_assert_cmpstr (json, ==, json_again);

  if (json_out != NULL)
    *json_out = g_steal_pointer (&json);

  return g_steal_pointer (&copy);
}

static void
test_chat_message_json_round_trip (void)
{
  g_autoptr(JsonObject) saved = parse_object ("{\"role\": \"assistant\", \"content\": \"Hé\\nllo\","
                                              " \"state\": \"complete\", \"created\": 1764161234,"
                                              " \"n_tokens\": 12, \"time_to_first_token\": 0.051,"
                                              " \"tokens_per_second\": 81, \"later\": [1, 2]}");
  g_autoptr(GError) error = NULL;
  g_autoptr(GError) why = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, "Out of memory");
  g_autoptr(LlmChatMessage) answer = llm_chat_message_new_from_json (saved, &error);
  g_autoptr(LlmChatMessage) answer_copy = NULL;
  g_autoptr(LlmChatMessage) user = llm_chat_message_new (LLM_CHAT_ROLE_USER, "Hi");
  g_autoptr(LlmChatMessage) user_copy = NULL;
  g_autoptr(LlmChatMessage) failed = llm_chat_message_new (LLM_CHAT_ROLE_ASSISTANT, "Half");
  g_autoptr(LlmChatMessage) failed_copy = NULL;
  g_autoptr(LlmChatMessage) system = llm_chat_message_new (LLM_CHAT_ROLE_SYSTEM, "Be brief.");
  g_autoptr(LlmChatMessage) system_copy = NULL;
  g_autofree char *user_json = NULL;
  g_autofree char *failed_json = NULL;

  /* Reading: every member, an integer where a number goes, an unknown
   * member ignored. */
  g_assert_no_error (error);
  g_assert_cmpint (llm_chat_message_get_role (answer), ==, LLM_CHAT_ROLE_ASSISTANT);
  g_assert_cmpstr (llm_chat_message_get_content (answer), ==, "Hé\nllo");
  g_assert_cmpint (llm_chat_message_get_state (answer), ==, LLM_CHAT_MESSAGE_STATE_COMPLETE);
  g_assert_cmpint (llm_chat_message_get_created (answer), ==, 1764161234);
  g_assert_cmpuint (llm_chat_message_get_n_tokens (answer), ==, 12);
  g_assert_cmpfloat_with_epsilon (llm_chat_message_get_time_to_first_token (answer), 0.051, 1e-12);
  g_assert_cmpfloat (llm_chat_message_get_tokens_per_second (answer), ==, 81.0);

  answer_copy = round_trip (answer, NULL);
  assert_messages_equal (answer, answer_copy);

  /* Figures are written only when known. */
  user_copy = round_trip (user, &user_json);
  assert_messages_equal (user, user_copy);
  g_assert_null (strstr (user_json, "n_tokens"));
  g_assert_null (strstr (user_json, "time_to_first_token"));
  g_assert_null (strstr (user_json, "tokens_per_second"));
  g_assert_null (strstr (user_json, "error"));
  g_assert_nonnull (strstr (user_json, "\"role\":\"user\""));

  llm_chat_message_set_failed (failed, why);
  failed_copy = round_trip (failed, &failed_json);
  assert_messages_equal (failed, failed_copy);
  g_assert_cmpstr (llm_chat_message_get_error_message (failed_copy), ==, "Out of memory");
  g_assert_nonnull (strstr (failed_json, "\"state\":\"failed\""));

  system_copy = round_trip (system, NULL);
  assert_messages_equal (system, system_copy);
}

/* A message saved during an answer comes back stopped, with its text. */
static void
test_chat_message_json_restored_as_stopped (void)
{
  const LlmChatMessageState states[] = {
    LLM_CHAT_MESSAGE_STATE_PENDING,
    LLM_CHAT_MESSAGE_STATE_STREAMING,
  };

  for (guint i = 0; i < G_N_ELEMENTS (states); i++)
    {
      g_autoptr(LlmChatMessage) message = llm_chat_message_new (LLM_CHAT_ROLE_ASSISTANT, "Once");
      g_autoptr(JsonObject) object = NULL;
      g_autoptr(LlmChatMessage) restored = NULL;
      g_autoptr(GError) error = NULL;

      llm_chat_message_set_state (message, states[i]);
      object = llm_chat_message_to_json (message);
      restored = llm_chat_message_new_from_json (object, &error);
      g_assert_no_error (error);
      g_assert_cmpint (llm_chat_message_get_state (restored), ==, LLM_CHAT_MESSAGE_STATE_STOPPED);
      g_assert_cmpstr (llm_chat_message_get_content (restored), ==, "Once");
    }
}

static void
test_chat_message_json_refusals (void)
{
  const struct
  {
    const char *json;
    const char *member;
  } cases[] = {
    { "{\"content\": \"x\", \"state\": \"complete\", \"created\": 1}", "role" },
    { "{\"role\": 1, \"content\": \"x\", \"state\": \"complete\", \"created\": 1}", "role" },
    { "{\"role\": \"robot\", \"content\": \"x\", \"state\": \"complete\", \"created\": 1}",
      "role" },
    { "{\"role\": \"User\", \"content\": \"x\", \"state\": \"complete\", \"created\": 1}", "role" },
    { "{\"role\": \"user\", \"state\": \"complete\", \"created\": 1}", "content" },
    { "{\"role\": \"user\", \"content\": null, \"state\": \"complete\", \"created\": 1}",
      "content" },
    { "{\"role\": \"user\", \"content\": [\"x\"], \"state\": \"complete\", \"created\": 1}",
      "content" },
    { "{\"role\": \"user\", \"content\": \"x\", \"created\": 1}", "state" },
    { "{\"role\": \"user\", \"content\": \"x\", \"state\": \"done\", \"created\": 1}", "state" },
    { "{\"role\": \"user\", \"content\": \"x\", \"state\": 0, \"created\": 1}", "state" },
    { "{\"role\": \"user\", \"content\": \"x\", \"state\": \"complete\"}", "created" },
    { "{\"role\": \"user\", \"content\": \"x\", \"state\": \"complete\", \"created\": \"1\"}",
      "created" },
    { "{\"role\": \"user\", \"content\": \"x\", \"state\": \"complete\", \"created\": 1.5}",
      "created" },
    { "{\"role\": \"user\", \"content\": \"x\", \"state\": \"complete\", \"created\": -1}",
      "created" },
    { "{\"role\": \"assistant\", \"content\": \"x\", \"state\": \"complete\", \"created\": 1,"
      " \"n_tokens\": \"12\"}", "n_tokens" },
    { "{\"role\": \"assistant\", \"content\": \"x\", \"state\": \"complete\", \"created\": 1,"
      " \"n_tokens\": -3}", "n_tokens" },
    { "{\"role\": \"assistant\", \"content\": \"x\", \"state\": \"complete\", \"created\": 1,"
      " \"n_tokens\": 99999999999}", "n_tokens" },
    { "{\"role\": \"assistant\", \"content\": \"x\", \"state\": \"complete\", \"created\": 1,"
      " \"time_to_first_token\": \"fast\"}", "time_to_first_token" },
    { "{\"role\": \"assistant\", \"content\": \"x\", \"state\": \"complete\", \"created\": 1,"
      " \"time_to_first_token\": -0.5}", "time_to_first_token" },
    { "{\"role\": \"assistant\", \"content\": \"x\", \"state\": \"complete\", \"created\": 1,"
      " \"tokens_per_second\": true}", "tokens_per_second" },
    { "{\"role\": \"assistant\", \"content\": \"x\", \"state\": \"failed\", \"created\": 1,"
      " \"error\": 5}", "error" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(JsonObject) object = parse_object (cases[i].json);
      g_autoptr(GError) error = NULL;
      g_autoptr(LlmChatMessage) message = llm_chat_message_new_from_json (object, &error);
      g_autofree char *quoted = g_strdup_printf ("“%s”", cases[i].member);

      g_test_message ("%s → %s", cases[i].json, error != NULL ? error->message : "(accepted)");
      g_assert_null (message);
      g_assert_error (error, LLM_CONVERSATION_ERROR, LLM_CONVERSATION_ERROR_INVALID);
      g_assert_nonnull (strstr (error->message, quoted));
    }
}

static void
test_chat_message_enums (void)
{
  g_autoptr(GEnumClass) roles = g_type_class_ref (LLM_TYPE_CHAT_ROLE);
  g_autoptr(GEnumClass) states = g_type_class_ref (LLM_TYPE_CHAT_MESSAGE_STATE);

  g_assert_cmpstr (g_enum_get_value (roles, LLM_CHAT_ROLE_SYSTEM)->value_nick, ==, "system");
  g_assert_cmpstr (g_enum_get_value (roles, LLM_CHAT_ROLE_USER)->value_nick, ==, "user");
  g_assert_cmpstr (g_enum_get_value (roles, LLM_CHAT_ROLE_ASSISTANT)->value_nick, ==, "assistant");
  g_assert_cmpuint (roles->n_values, ==, 3);

  g_assert_cmpstr (g_enum_get_value (states, LLM_CHAT_MESSAGE_STATE_COMPLETE)->value_nick, ==,
                   "complete");
  g_assert_cmpstr (g_enum_get_value (states, LLM_CHAT_MESSAGE_STATE_PENDING)->value_nick, ==,
                   "pending");
  g_assert_cmpstr (g_enum_get_value (states, LLM_CHAT_MESSAGE_STATE_STREAMING)->value_nick, ==,
                   "streaming");
  g_assert_cmpstr (g_enum_get_value (states, LLM_CHAT_MESSAGE_STATE_STOPPED)->value_nick, ==,
                   "stopped");
  g_assert_cmpstr (g_enum_get_value (states, LLM_CHAT_MESSAGE_STATE_FAILED)->value_nick, ==,
                   "failed");
  g_assert_cmpuint (states->n_values, ==, 5);
}

static void
test_chat_message_finalize (void)
{
  LlmChatMessage *message = llm_chat_message_new (LLM_CHAT_ROLE_ASSISTANT, "x");
  g_autoptr(GError) error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, "No");

  llm_chat_message_append (message, "yz");
  llm_chat_message_set_failed (message, error);
  g_assert_finalize_object (message);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/llm/chat-message/new", test_chat_message_new);
  g_test_add_func ("/llm/chat-message/streaming", test_chat_message_streaming);
  g_test_add_func ("/llm/chat-message/failed", test_chat_message_failed);
  g_test_add_func ("/llm/chat-message/json/round-trip", test_chat_message_json_round_trip);
  g_test_add_func ("/llm/chat-message/json/restored-as-stopped",
                   test_chat_message_json_restored_as_stopped);
  g_test_add_func ("/llm/chat-message/json/refusals", test_chat_message_json_refusals);
  g_test_add_func ("/llm/chat-message/enums", test_chat_message_enums);
  g_test_add_func ("/llm/chat-message/finalize", test_chat_message_finalize);

  return g_test_run ();
}

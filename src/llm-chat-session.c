/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-chat-session"

#include "llm-chat-session.h"

#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "llm-model.h"
#include "llm-pool.h"
#include "llm-sampler.h"
#include "llm-template.h"
#include "llm-tokenizer.h"

/**
 * LlmChatSession:
 *
 * The whole model on this machine (head and every layer), a tokenizer, and
 * one KV cache that follows the conversation being answered.
 *
 * Threads: the engine state below `engine` is touched only by the thread
 * that generates (one at a time, #LlmChatSession:busy says when); the
 * main thread owns the GObject side. Text crosses over in a buffer under
 * a mutex, drained by one idle source at a time, so that a fast model
 * cannot flood the main loop: however many tokens arrive between two
 * frames, the UI takes them in one go.
 */

/* The KV cache of a chat may take this much memory, at most. */
#define KV_CACHE_BUDGET (G_GUINT64_CONSTANT (2) << 30)

typedef struct
{
  LlmModel *model;
  LlmHead *head;
  LlmLayers *layers;
  LlmPool *pool;
  LlmTokenizer *tokenizer;
  LlmKvCache *cache;
  GArray *cached_tokens;        /* int: the tokens whose keys and values the cache holds */
} Engine;

struct _LlmChatSession
{
  GObject parent_instance;

  Engine engine;
  char *model_dir;
  char *name;
  char *dtype;
  gboolean has_chat_template;
  gboolean busy;
};

enum
{
  PROP_0,
  PROP_MODEL_DIR,
  PROP_NAME,
  PROP_ARCHITECTURE,
  PROP_N_PARAMS,
  PROP_DTYPE,
  PROP_CONTEXT_LENGTH,
  PROP_HAS_CHAT_TEMPLATE,
  PROP_BUSY,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (LlmChatSession, llm_chat_session, G_TYPE_OBJECT)

G_DEFINE_QUARK (llm-chat-session-error-quark, llm_chat_session_error)

static void
engine_clear (Engine *engine)
{
  g_clear_pointer (&engine->cache, llm_kv_cache_free);
  g_clear_pointer (&engine->layers, llm_layers_free);
  g_clear_pointer (&engine->head, llm_head_free);
  g_clear_pointer (&engine->model, llm_model_free);
  g_clear_pointer (&engine->pool, llm_pool_free);
  g_clear_pointer (&engine->tokenizer, llm_tokenizer_free);
  g_clear_pointer (&engine->cached_tokens, g_array_unref);
}

/* Loading */

static void
load_worker (GTask        *task,
             gpointer      source_object,
             gpointer      task_data,
             GCancellable *cancellable)
{
  const char *model_dir = task_data;
  g_autoptr(LlmChatSession) self = g_object_new (LLM_TYPE_CHAT_SESSION, NULL);
  Engine *engine = &self->engine;
  g_autoptr(GError) error = NULL;
  g_autofree char *template = NULL;
  g_autofree char *canonical = g_canonicalize_filename (model_dir, NULL);

  if ((engine->model = llm_model_open (model_dir, &error)) == NULL ||
      (engine->tokenizer = llm_tokenizer_load (model_dir, &error)) == NULL ||
      (engine->head = llm_head_new (engine->model, &error)) == NULL ||
      (engine->layers = llm_layers_new (engine->model, 0,
                                        llm_model_get_config (engine->model)->n_layers,
                                        &error)) == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  template = llm_chat_template_dup_source (model_dir, NULL, NULL, &error);
  if (template == NULL && !g_error_matches (error, LLM_TEMPLATE_ERROR, LLM_TEMPLATE_ERROR_NO_TEMPLATE))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  engine->pool = llm_pool_new (0);
  engine->cache = llm_kv_cache_new (engine->layers, KV_CACHE_BUDGET);
  engine->cached_tokens = g_array_new (FALSE, FALSE, sizeof (int));
  self->model_dir = g_strdup (canonical);
  self->name = g_path_get_basename (canonical);
  self->dtype = g_strdup (llm_dtype_to_string (llm_model_get_dtype (engine->model)));
  self->has_chat_template = template != NULL;

  g_task_return_pointer (task, g_steal_pointer (&self), g_object_unref);
}

/**
 * llm_chat_session_load_async:
 * @model_dir: a Hugging Face model folder
 * @cancellable: (nullable): a #GCancellable
 * @callback: called when the model is loaded, or not
 * @user_data: for @callback
 *
 * Opens the model, its tokenizer and chat template, and maps its weights,
 * on a worker thread.
 */
void
llm_chat_session_load_async (const char          *model_dir,
                             GCancellable        *cancellable,
                             GAsyncReadyCallback  callback,
                             gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (model_dir != NULL);

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, llm_chat_session_load_async);
  g_task_set_task_data (task, g_strdup (model_dir), g_free);
  g_task_run_in_thread (task, load_worker);
}

/**
 * llm_chat_session_load_finish:
 * @result: the #GAsyncResult
 * @error: why the folder is not a model this engine runs: no config.json,
 *   an unknown architecture, a damaged weights file, no tokenizer…
 *
 * Returns: (transfer full): the session, or %NULL
 */
LlmChatSession *
llm_chat_session_load_finish (GAsyncResult  *result,
                              GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* Answering */

/* The window must stay responsive while the model works on every core:
 * the engine's threads yield to the main thread (a nice value is per
 * thread on Linux). */
#define ENGINE_THREAD_NICE 10

static void
lower_thread_priority (void *data,
                       int   thread_index,
                       int   n_threads)
{
#ifdef SYS_gettid
  setpriority (PRIO_PROCESS, (id_t) syscall (SYS_gettid), ENGINE_THREAD_NICE);
#endif
}

typedef struct
{
  LlmChatSession *session;      /* owned: the worker uses its engine */
  LlmChatMessage *message;      /* owned; touched on the main thread only */
  JsonArray *messages;          /* for the template */
  char *plain_prompt;           /* or the text to continue */
  LlmChatSettings settings;
  char *system_prompt;
  GMainContext *context;

  /* From the worker to the main thread. */
  GMutex mutex;
  GString *pending_text;
  gboolean drain_scheduled;
  guint n_tokens;
  double time_to_first_token;
  double tokens_per_second;
} Respond;

static void
respond_free (Respond *respond)
{
  g_object_unref (respond->session);
  g_object_unref (respond->message);
  g_clear_pointer (&respond->messages, json_array_unref);
  g_free (respond->plain_prompt);
  g_free (respond->system_prompt);
  g_main_context_unref (respond->context);
  g_mutex_clear (&respond->mutex);
  g_string_free (respond->pending_text, TRUE);
  g_free (respond);
}

/* On the main thread: the text that arrived since the last time. */
static void
drain (Respond *respond)
{
  g_autofree char *text = NULL;

  g_mutex_lock (&respond->mutex);
  text = g_strdup (respond->pending_text->str);
  g_string_truncate (respond->pending_text, 0);
  respond->drain_scheduled = FALSE;
  g_mutex_unlock (&respond->mutex);

  if (*text != '\0')
    {
      if (llm_chat_message_get_state (respond->message) == LLM_CHAT_MESSAGE_STATE_PENDING)
        llm_chat_message_set_state (respond->message, LLM_CHAT_MESSAGE_STATE_STREAMING);
      llm_chat_message_append (respond->message, text);
    }
}

static gboolean
drain_cb (gpointer user_data)
{
  drain (g_task_get_task_data (user_data));
  return G_SOURCE_REMOVE;
}

/* On the worker: hands text to the main thread. */
static void
emit_text (GTask      *task,
           const char *text)
{
  Respond *respond = g_task_get_task_data (task);
  g_autoptr(GSource) source = NULL;
  gboolean schedule;

  if (*text == '\0')
    return;

  g_mutex_lock (&respond->mutex);
  g_string_append (respond->pending_text, text);
  schedule = !respond->drain_scheduled;
  respond->drain_scheduled = TRUE;
  g_mutex_unlock (&respond->mutex);

  if (!schedule)
    return;

  /* Not g_main_context_invoke(): with nobody iterating the context at that
   * moment, it would run drain_cb here, on the worker. The source holds
   * the task, hence the Respond. */
  source = g_idle_source_new ();
  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_callback (source, drain_cb, g_object_ref (task), g_object_unref);
  g_source_set_static_name (source, "[llm-chat-session] drain");
  g_source_attach (source, respond->context);
}

/* The prompt's token ids, as `llm-node generate` makes them: through the
 * chat template (which carries the special tokens), or the plain text with
 * the tokenizer's own special tokens. */
static GArray *
prompt_tokens (Respond  *respond,
               GError  **error)
{
  Engine *engine = &respond->session->engine;
  g_autoptr(GArray) ids = g_array_new (FALSE, FALSE, sizeof (int));

  if (respond->messages != NULL)
    {
      g_autoptr(JsonObject) request = json_object_new ();
      g_autofree char *text = NULL;

      json_object_set_array_member (request, "messages", json_array_ref (respond->messages));
      json_object_set_boolean_member (request, "add_generation_prompt", TRUE);
      text = llm_chat_template_render_for_model (respond->session->model_dir, request, error);
      if (text == NULL || !llm_tokenizer_encode (engine->tokenizer, text, -1, FALSE, ids, error))
        return NULL;
    }
  else if (!llm_tokenizer_encode (engine->tokenizer, respond->plain_prompt, -1, TRUE, ids, error))
    return NULL;

  if (ids->len == 0)
    {
      g_set_error_literal (error, LLM_CHAT_SESSION_ERROR, LLM_CHAT_SESSION_ERROR_EMPTY,
                           "The prompt has no tokens");
      return NULL;
    }
  return g_steal_pointer (&ids);
}

/* Runs tokens through the model from the cache's end; the logits of the
 * last one. */
static gboolean
forward (Engine        *engine,
         const int     *tokens,
         int            n,
         float         *logits,
         GCancellable  *cancellable,
         GError       **error)
{
  const LlmConfig *config = llm_model_get_config (engine->model);
  g_autofree float *hidden = g_new (float, (gsize) n * config->dim);

  if (!llm_head_embed (engine->head, tokens, n, hidden, error) ||
      !llm_layers_forward (engine->layers, engine->pool, engine->cache, hidden, n, cancellable,
                           error))
    return FALSE;
  llm_head_logits (engine->head, engine->pool, hidden + (gsize) (n - 1) * config->dim, 1, logits);
  g_array_append_vals (engine->cached_tokens, tokens, n);
  return TRUE;
}

/* Keeps the longest prefix of the cache that the new prompt shares, so
 * that a follow-up pays only for what is new. At least the last token is
 * run again: its logits are the first answer token's. */
static guint
reuse_cache (Engine *engine,
             GArray *tokens)
{
  guint shared = 0;

  while (shared < engine->cached_tokens->len && shared + 1 < tokens->len &&
         g_array_index (engine->cached_tokens, int, shared) == g_array_index (tokens, int, shared))
    shared++;

  llm_kv_cache_truncate (engine->cache, shared);
  g_array_set_size (engine->cached_tokens, shared);
  return shared;
}

static void
respond_worker (GTask        *task,
                gpointer      source_object,
                gpointer      task_data,
                GCancellable *cancellable)
{
  Respond *respond = task_data;
  Engine *engine = &respond->session->engine;
  const LlmConfig *config = llm_model_get_config (engine->model);
  LlmSamplerParams params = LLM_SAMPLER_PARAMS_DEFAULT;
  g_autoptr(LlmSampler) sampler = NULL;
  g_autoptr(LlmTokenizerStream) stream = NULL;
  g_autoptr(GArray) tokens = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree float *logits = g_new (float, config->vocab_size);
  g_autofree char *rest = NULL;
  gint64 start = g_get_monotonic_time ();
  gint64 first_token_at = 0;
  guint shared, n_generated = 0;

  llm_pool_run (engine->pool, lower_thread_priority, NULL);

  tokens = prompt_tokens (respond, &error);
  if (tokens == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  params.temperature = respond->settings.temperature;
  params.top_p = respond->settings.top_p;
  params.seed = respond->settings.seed;
  sampler = llm_sampler_new (&params, config->vocab_size);

  /* The prompt goes through the decoder unprinted, so that the answer
   * decodes as its continuation (a sentencepiece decoder strips the
   * leading space of the first token only). */
  stream = llm_tokenizer_stream_new (engine->tokenizer, TRUE);
  for (guint i = 0; i < tokens->len; i++)
    g_free (llm_tokenizer_stream_push (stream, g_array_index (tokens, int, i)));

  shared = reuse_cache (engine, tokens);
  if (!forward (engine, (int *) tokens->data + shared, tokens->len - shared, logits, cancellable,
                &error))
    goto out;

  while (n_generated < respond->settings.max_tokens)
    {
      int token = llm_sampler_sample (sampler, logits, (int *) tokens->data, tokens->len);
      g_autofree char *text = NULL;

      if (llm_config_is_eos (config, token))
        break;
      g_array_append_val (tokens, token);
      n_generated++;
      if (first_token_at == 0)
        first_token_at = g_get_monotonic_time ();
      text = llm_tokenizer_stream_push (stream, token);
      emit_text (task, text);

      if (n_generated == respond->settings.max_tokens)
        break;
      if (g_cancellable_set_error_if_cancelled (cancellable, &error) ||
          !forward (engine, &token, 1, logits, cancellable, &error))
        break;
    }

out:
  rest = llm_tokenizer_stream_flush (stream);
  emit_text (task, rest);

  g_mutex_lock (&respond->mutex);
  respond->n_tokens = n_generated;
  if (first_token_at != 0)
    {
      gint64 end = g_get_monotonic_time ();

      respond->time_to_first_token = (first_token_at - start) / (double) G_USEC_PER_SEC;
      respond->tokens_per_second = n_generated > 1 && end > first_token_at
                                   ? (n_generated - 1) * (double) G_USEC_PER_SEC / (end - first_token_at)
                                   : 0;
    }
  g_mutex_unlock (&respond->mutex);

  /* A full context ends the answer, as the end-of-sequence token would. */
  if (error != NULL && !g_error_matches (error, LLM_MODEL_ERROR, LLM_MODEL_ERROR_CACHE_FULL))
    {
      /* A step cut short leaves the cache ahead of the tokens: start over
       * from what both agree on. */
      llm_kv_cache_truncate (engine->cache, MIN ((guint) llm_kv_cache_get_length (engine->cache),
                                                 engine->cached_tokens->len));
      g_array_set_size (engine->cached_tokens, llm_kv_cache_get_length (engine->cache));
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  g_task_return_boolean (task, TRUE);
}

static void
set_busy (LlmChatSession *self,
          gboolean        busy)
{
  if (self->busy == busy)
    return;
  self->busy = busy;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BUSY]);
}

static void
respond_done_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(GTask) outer = user_data;
  Respond *respond = g_task_get_task_data (G_TASK (result));
  LlmChatMessage *message = respond->message;
  g_autoptr(GError) error = NULL;

  /* The last text first: the message is whole before it is finished. */
  drain (respond);
  set_busy (respond->session, FALSE);

  g_object_freeze_notify (G_OBJECT (message));
  llm_chat_message_set_n_tokens (message, respond->n_tokens);
  if (respond->n_tokens > 0)
    {
      llm_chat_message_set_time_to_first_token (message, respond->time_to_first_token);
      llm_chat_message_set_tokens_per_second (message, respond->tokens_per_second);
    }
  if (g_task_propagate_boolean (G_TASK (result), &error))
    llm_chat_message_set_state (message, LLM_CHAT_MESSAGE_STATE_COMPLETE);
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    llm_chat_message_set_state (message, LLM_CHAT_MESSAGE_STATE_STOPPED);
  else
    llm_chat_message_set_failed (message, error);
  g_object_thaw_notify (G_OBJECT (message));

  if (error != NULL)
    g_task_return_error (outer, g_steal_pointer (&error));
  else
    g_task_return_boolean (outer, TRUE);
}

/**
 * llm_chat_session_respond_async:
 * @self: a #LlmChatSession
 * @conversation: the conversation to answer; its last message is usually
 *   the person's
 * @settings: how to sample, and the system prompt
 * @cancellable: (nullable): cancel to stop the answer
 * @callback: called when the answer has ended (complete, stopped or failed)
 * @user_data: for @callback
 *
 * Appends an assistant message to @conversation and streams the answer
 * into it. The callback's error is %G_IO_ERROR_CANCELLED when stopped, as
 * the message's state says too.
 */
void
llm_chat_session_respond_async (LlmChatSession        *self,
                                LlmConversation       *conversation,
                                const LlmChatSettings *settings,
                                GCancellable          *cancellable,
                                GAsyncReadyCallback    callback,
                                gpointer               user_data)
{
  g_autoptr(GTask) outer = NULL;
  g_autoptr(GTask) task = NULL;
  g_autoptr(GString) plain = NULL;
  Respond *respond;
  guint n;

  g_return_if_fail (LLM_IS_CHAT_SESSION (self));
  g_return_if_fail (LLM_IS_CONVERSATION (conversation));
  g_return_if_fail (settings != NULL);

  outer = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (outer, llm_chat_session_respond_async);

  if (self->busy)
    {
      g_task_return_new_error (outer, LLM_CHAT_SESSION_ERROR, LLM_CHAT_SESSION_ERROR_BUSY,
                               "The model is already answering");
      return;
    }

  respond = g_new0 (Respond, 1);
  respond->session = g_object_ref (self);
  respond->settings = *settings;
  respond->system_prompt = g_strdup (settings->system_prompt);
  respond->settings.system_prompt = respond->system_prompt;
  respond->context = g_main_context_ref_thread_default ();
  respond->pending_text = g_string_new (NULL);
  g_mutex_init (&respond->mutex);

  /* Read on this thread, before the answer joins the conversation. */
  if (self->has_chat_template)
    respond->messages = llm_conversation_dup_template_messages (conversation, settings->system_prompt);
  else
    {
      plain = g_string_new (NULL);
      n = g_list_model_get_n_items (G_LIST_MODEL (conversation));
      for (guint i = 0; i < n; i++)
        {
          g_autoptr(LlmChatMessage) message = g_list_model_get_item (G_LIST_MODEL (conversation), i);

          if (llm_chat_message_get_role (message) != LLM_CHAT_ROLE_SYSTEM &&
              llm_chat_message_get_state (message) != LLM_CHAT_MESSAGE_STATE_FAILED)
            g_string_append (plain, llm_chat_message_get_content (message));
        }
      respond->plain_prompt = g_string_free (g_steal_pointer (&plain), FALSE);
    }

  respond->message = llm_chat_message_new (LLM_CHAT_ROLE_ASSISTANT, "");
  llm_chat_message_set_state (respond->message, LLM_CHAT_MESSAGE_STATE_PENDING);
  llm_conversation_append (conversation, respond->message);
  set_busy (self, TRUE);

  task = g_task_new (NULL, cancellable, respond_done_cb, g_steal_pointer (&outer));
  g_task_set_source_tag (task, respond_worker);
  g_task_set_task_data (task, respond, (GDestroyNotify) respond_free);
  g_task_run_in_thread (task, respond_worker);
}

gboolean
llm_chat_session_respond_finish (LlmChatSession  *self,
                                 GAsyncResult    *result,
                                 GError         **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* Properties */

const char *
llm_chat_session_get_model_dir (LlmChatSession *self)
{
  g_return_val_if_fail (LLM_IS_CHAT_SESSION (self), NULL);
  return self->model_dir;
}

const char *
llm_chat_session_get_name (LlmChatSession *self)
{
  g_return_val_if_fail (LLM_IS_CHAT_SESSION (self), NULL);
  return self->name;
}

const char *
llm_chat_session_get_architecture (LlmChatSession *self)
{
  g_return_val_if_fail (LLM_IS_CHAT_SESSION (self), NULL);
  return llm_model_get_config (self->engine.model)->architecture;
}

guint64
llm_chat_session_get_n_params (LlmChatSession *self)
{
  g_return_val_if_fail (LLM_IS_CHAT_SESSION (self), 0);
  return llm_model_get_n_params (self->engine.model);
}

const char *
llm_chat_session_get_dtype (LlmChatSession *self)
{
  g_return_val_if_fail (LLM_IS_CHAT_SESSION (self), NULL);
  return self->dtype;
}

guint
llm_chat_session_get_context_length (LlmChatSession *self)
{
  g_return_val_if_fail (LLM_IS_CHAT_SESSION (self), 0);
  return llm_model_get_config (self->engine.model)->max_seq_len;
}

gboolean
llm_chat_session_get_has_chat_template (LlmChatSession *self)
{
  g_return_val_if_fail (LLM_IS_CHAT_SESSION (self), FALSE);
  return self->has_chat_template;
}

gboolean
llm_chat_session_get_busy (LlmChatSession *self)
{
  g_return_val_if_fail (LLM_IS_CHAT_SESSION (self), FALSE);
  return self->busy;
}

static void
llm_chat_session_finalize (GObject *object)
{
  LlmChatSession *self = LLM_CHAT_SESSION (object);

  engine_clear (&self->engine);
  g_free (self->model_dir);
  g_free (self->name);
  g_free (self->dtype);

  G_OBJECT_CLASS (llm_chat_session_parent_class)->finalize (object);
}

static void
llm_chat_session_get_property (GObject    *object,
                               guint       prop_id,
                               GValue     *value,
                               GParamSpec *pspec)
{
  LlmChatSession *self = LLM_CHAT_SESSION (object);

  switch (prop_id)
    {
    case PROP_MODEL_DIR:
      g_value_set_string (value, self->model_dir);
      break;
    case PROP_NAME:
      g_value_set_string (value, self->name);
      break;
    case PROP_ARCHITECTURE:
      g_value_set_string (value, llm_chat_session_get_architecture (self));
      break;
    case PROP_N_PARAMS:
      g_value_set_uint64 (value, llm_chat_session_get_n_params (self));
      break;
    case PROP_DTYPE:
      g_value_set_string (value, self->dtype);
      break;
    case PROP_CONTEXT_LENGTH:
      g_value_set_uint (value, llm_chat_session_get_context_length (self));
      break;
    case PROP_HAS_CHAT_TEMPLATE:
      g_value_set_boolean (value, self->has_chat_template);
      break;
    case PROP_BUSY:
      g_value_set_boolean (value, self->busy);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
llm_chat_session_class_init (LlmChatSessionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  const GParamFlags flags = G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS;

  object_class->finalize = llm_chat_session_finalize;
  object_class->get_property = llm_chat_session_get_property;

  /** LlmChatSession:model-dir: the model folder, canonical */
  properties[PROP_MODEL_DIR] = g_param_spec_string ("model-dir", NULL, NULL, NULL, flags);
  /** LlmChatSession:name: the model's name: its folder's */
  properties[PROP_NAME] = g_param_spec_string ("name", NULL, NULL, NULL, flags);
  /** LlmChatSession:architecture: as config.json says, e.g. `Qwen3ForCausalLM` */
  properties[PROP_ARCHITECTURE] = g_param_spec_string ("architecture", NULL, NULL, NULL, flags);
  /** LlmChatSession:n-params: the number of parameters */
  properties[PROP_N_PARAMS] = g_param_spec_uint64 ("n-params", NULL, NULL,
                                                   0, G_MAXUINT64, 0, flags);
  /** LlmChatSession:dtype: the weights' type, e.g. `BF16` */
  properties[PROP_DTYPE] = g_param_spec_string ("dtype", NULL, NULL, NULL, flags);
  /** LlmChatSession:context-length: the most tokens the model attends to */
  properties[PROP_CONTEXT_LENGTH] = g_param_spec_uint ("context-length", NULL, NULL,
                                                       0, G_MAXUINT, 0, flags);
  /** LlmChatSession:has-chat-template: whether prompts go through a chat template */
  properties[PROP_HAS_CHAT_TEMPLATE] = g_param_spec_boolean ("has-chat-template", NULL, NULL,
                                                             FALSE, flags);
  /** LlmChatSession:busy: whether an answer is being generated */
  properties[PROP_BUSY] = g_param_spec_boolean ("busy", NULL, NULL, FALSE, flags);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
llm_chat_session_init (LlmChatSession *self)
{
}

/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-chat-message"

#include "llm-chat-message.h"

#include "llm-conversation.h"

/**
 * LlmChatMessage:
 *
 * One message of an #LlmConversation: who wrote it (#LlmChatMessage:role,
 * fixed at construction), what it says (#LlmChatMessage:content), and, for
 * an answer of the model, how far it got (#LlmChatMessage:state) and how
 * fast (#LlmChatMessage:n-tokens, #LlmChatMessage:time-to-first-token,
 * #LlmChatMessage:tokens-per-second).
 *
 * A message is changed on the main thread only; every setter notifies only
 * on a change, so that a row of the chat view can bind to it. While an
 * answer streams, llm_chat_message_append() grows the content in place
 * (amortized, without copying the whole text for every token).
 *
 * The figures are 0 while unknown, and are saved only when known.
 */
struct _LlmChatMessage
{
  GObject parent_instance;

  GString *content;
  char *error_message;

  gint64 created;
  double time_to_first_token;
  double tokens_per_second;
  guint n_tokens;
  LlmChatRole role;
  LlmChatMessageState state;
};

G_DEFINE_FINAL_TYPE (LlmChatMessage, llm_chat_message, G_TYPE_OBJECT)

G_DEFINE_ENUM_TYPE (LlmChatRole, llm_chat_role,
  G_DEFINE_ENUM_VALUE (LLM_CHAT_ROLE_SYSTEM, "system"),
  G_DEFINE_ENUM_VALUE (LLM_CHAT_ROLE_USER, "user"),
  G_DEFINE_ENUM_VALUE (LLM_CHAT_ROLE_ASSISTANT, "assistant"))

G_DEFINE_ENUM_TYPE (LlmChatMessageState, llm_chat_message_state,
  G_DEFINE_ENUM_VALUE (LLM_CHAT_MESSAGE_STATE_COMPLETE, "complete"),
  G_DEFINE_ENUM_VALUE (LLM_CHAT_MESSAGE_STATE_PENDING, "pending"),
  G_DEFINE_ENUM_VALUE (LLM_CHAT_MESSAGE_STATE_STREAMING, "streaming"),
  G_DEFINE_ENUM_VALUE (LLM_CHAT_MESSAGE_STATE_STOPPED, "stopped"),
  G_DEFINE_ENUM_VALUE (LLM_CHAT_MESSAGE_STATE_FAILED, "failed"))

enum {
  PROP_0,
  PROP_ROLE,
  PROP_CONTENT,
  PROP_STATE,
  PROP_CREATED,
  PROP_N_TOKENS,
  PROP_TIME_TO_FIRST_TOKEN,
  PROP_TOKENS_PER_SECOND,
  PROP_ERROR_MESSAGE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

/* g_set_str() is GLib 2.76. */
static gboolean
set_str (char       **str,
         const char  *value)
{
  if (g_strcmp0 (*str, value) == 0)
    return FALSE;

  g_free (*str);
  *str = g_strdup (value);

  return TRUE;
}

static const char *
enum_to_nick (GType type,
              int   value)
{
  GEnumClass *enum_class = g_type_class_ref (type);
  GEnumValue *enum_value = g_enum_get_value (enum_class, value);

  g_type_class_unref (enum_class);
  g_assert (enum_value != NULL);

  /* The nicks are static strings; the class of a static type stays alive. */
  return enum_value->value_nick;
}

/* JSON members, checked. Each error names the member; the caller says
 * where the object was (which message of which file). */

static JsonNode *
get_value_member (JsonObject *object,
                  const char *member)
{
  JsonNode *node = json_object_get_member (object, member);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return NULL;

  return node;
}

static gboolean
get_string_member (JsonObject  *object,
                   const char  *member,
                   gboolean     optional,
                   const char **value,
                   GError     **error)
{
  JsonNode *node = json_object_get_member (object, member);

  if (node == NULL && optional)
    {
      *value = NULL;
      return TRUE;
    }

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_STRING)
    {
      g_set_error (error, LLM_CONVERSATION_ERROR, LLM_CONVERSATION_ERROR_INVALID,
                   node == NULL ? "“%s” is missing: it must be a string"
                                : "“%s” must be a string",
                   member);
      return FALSE;
    }

  *value = json_node_get_string (node);
  return TRUE;
}

static gboolean
get_enum_member (JsonObject  *object,
                 const char  *member,
                 GType        type,
                 int         *value,
                 GError     **error)
{
  g_autoptr(GEnumClass) enum_class = NULL;
  g_autoptr(GString) nicks = NULL;
  g_autofree char *escaped = NULL;
  const GEnumValue *enum_value;
  const char *nick;

  if (!get_string_member (object, member, FALSE, &nick, error))
    return FALSE;

  enum_class = g_type_class_ref (type);
  enum_value = g_enum_get_value_by_nick (enum_class, nick);
  if (enum_value != NULL)
    {
      *value = enum_value->value;
      return TRUE;
    }

  nicks = g_string_new (NULL);
  for (guint i = 0; i < enum_class->n_values; i++)
    g_string_append_printf (nicks, "%s%s", i > 0 ? ", " : "", enum_class->values[i].value_nick);

  escaped = g_strescape (nick, NULL);
  g_set_error (error, LLM_CONVERSATION_ERROR, LLM_CONVERSATION_ERROR_INVALID,
               "“%s” is “%.64s”, not one of %s", member, escaped, nicks->str);
  return FALSE;
}

static gboolean
get_int_member (JsonObject  *object,
                const char  *member,
                gboolean     optional,
                gint64       max,
                gint64      *value,
                GError     **error)
{
  JsonNode *node = json_object_get_member (object, member);

  if (node == NULL && optional)
    return TRUE;

  node = get_value_member (object, member);
  if (node == NULL || json_node_get_value_type (node) != G_TYPE_INT64)
    {
      g_set_error (error, LLM_CONVERSATION_ERROR, LLM_CONVERSATION_ERROR_INVALID,
                   json_object_get_member (object, member) == NULL
                     ? "“%s” is missing: it must be an integer"
                     : "“%s” must be an integer",
                   member);
      return FALSE;
    }

  *value = json_node_get_int (node);
  if (*value < 0 || *value > max)
    {
      g_set_error (error, LLM_CONVERSATION_ERROR, LLM_CONVERSATION_ERROR_INVALID,
                   "“%s” is %" G_GINT64_FORMAT ", not within 0–%" G_GINT64_FORMAT,
                   member, *value, max);
      return FALSE;
    }

  return TRUE;
}

/* An optional non-negative number, integer or not. */
static gboolean
get_number_member (JsonObject  *object,
                   const char  *member,
                   double      *value,
                   GError     **error)
{
  JsonNode *node = json_object_get_member (object, member);
  GType type;

  if (node == NULL)
    return TRUE;

  type = JSON_NODE_HOLDS_VALUE (node) ? json_node_get_value_type (node) : G_TYPE_INVALID;
  if (type != G_TYPE_DOUBLE && type != G_TYPE_INT64)
    {
      g_set_error (error, LLM_CONVERSATION_ERROR, LLM_CONVERSATION_ERROR_INVALID,
                   "“%s” must be a number", member);
      return FALSE;
    }

  *value = json_node_get_double (node);
  if (!(*value >= 0.0) || *value > G_MAXDOUBLE)
    {
      g_set_error (error, LLM_CONVERSATION_ERROR, LLM_CONVERSATION_ERROR_INVALID,
                   "“%s” is %g: it must not be negative", member, *value);
      return FALSE;
    }

  return TRUE;
}

/* GObject */

static void
llm_chat_message_finalize (GObject *object)
{
  LlmChatMessage *self = LLM_CHAT_MESSAGE (object);

  g_string_free (self->content, TRUE);
  g_clear_pointer (&self->error_message, g_free);

  G_OBJECT_CLASS (llm_chat_message_parent_class)->finalize (object);
}

static void
llm_chat_message_get_property (GObject    *object,
                               guint       prop_id,
                               GValue     *value,
                               GParamSpec *pspec)
{
  LlmChatMessage *self = LLM_CHAT_MESSAGE (object);

  switch (prop_id)
    {
    case PROP_ROLE:
      g_value_set_enum (value, self->role);
      break;

    case PROP_CONTENT:
      g_value_set_string (value, self->content->str);
      break;

    case PROP_STATE:
      g_value_set_enum (value, self->state);
      break;

    case PROP_CREATED:
      g_value_set_int64 (value, self->created);
      break;

    case PROP_N_TOKENS:
      g_value_set_uint (value, self->n_tokens);
      break;

    case PROP_TIME_TO_FIRST_TOKEN:
      g_value_set_double (value, self->time_to_first_token);
      break;

    case PROP_TOKENS_PER_SECOND:
      g_value_set_double (value, self->tokens_per_second);
      break;

    case PROP_ERROR_MESSAGE:
      g_value_set_string (value, self->error_message);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
llm_chat_message_set_property (GObject      *object,
                               guint         prop_id,
                               const GValue *value,
                               GParamSpec   *pspec)
{
  LlmChatMessage *self = LLM_CHAT_MESSAGE (object);

  switch (prop_id)
    {
    case PROP_ROLE:
      self->role = g_value_get_enum (value);
      break;

    case PROP_CONTENT:
      llm_chat_message_set_content (self, g_value_get_string (value));
      break;

    case PROP_STATE:
      llm_chat_message_set_state (self, g_value_get_enum (value));
      break;

    case PROP_CREATED:
      /* Construct-only; 0 is “now”, see llm_chat_message_init(). */
      if (g_value_get_int64 (value) != 0)
        self->created = g_value_get_int64 (value);
      break;

    case PROP_N_TOKENS:
      llm_chat_message_set_n_tokens (self, g_value_get_uint (value));
      break;

    case PROP_TIME_TO_FIRST_TOKEN:
      llm_chat_message_set_time_to_first_token (self, g_value_get_double (value));
      break;

    case PROP_TOKENS_PER_SECOND:
      llm_chat_message_set_tokens_per_second (self, g_value_get_double (value));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
llm_chat_message_class_init (LlmChatMessageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = llm_chat_message_finalize;
  object_class->get_property = llm_chat_message_get_property;
  object_class->set_property = llm_chat_message_set_property;

  /**
   * LlmChatMessage:role:
   *
   * Who wrote the message.
   */
  properties[PROP_ROLE] =
    g_param_spec_enum ("role", NULL, NULL,
                       LLM_TYPE_CHAT_ROLE,
                       LLM_CHAT_ROLE_USER,
                       (G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
                        G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmChatMessage:content:
   *
   * The text of the message; never %NULL (an answer starts empty).
   */
  properties[PROP_CONTENT] =
    g_param_spec_string ("content", NULL, NULL,
                         "",
                         (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmChatMessage:state:
   *
   * How far the message is: %LLM_CHAT_MESSAGE_STATE_COMPLETE for every
   * message but an answer that is on its way or did not end well.
   */
  properties[PROP_STATE] =
    g_param_spec_enum ("state", NULL, NULL,
                       LLM_TYPE_CHAT_MESSAGE_STATE,
                       LLM_CHAT_MESSAGE_STATE_COMPLETE,
                       (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmChatMessage:created:
   *
   * When the message was written, in Unix seconds. Set at construction
   * (0, the default, is “now”).
   */
  properties[PROP_CREATED] =
    g_param_spec_int64 ("created", NULL, NULL,
                        0, G_MAXINT64, 0,
                        (G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
                         G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmChatMessage:n-tokens:
   *
   * How many tokens the model generated for this answer; 0 while unknown.
   */
  properties[PROP_N_TOKENS] =
    g_param_spec_uint ("n-tokens", NULL, NULL,
                       0, G_MAXUINT, 0,
                       (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmChatMessage:time-to-first-token:
   *
   * Seconds from the request to the first token of this answer; 0 while
   * unknown.
   */
  properties[PROP_TIME_TO_FIRST_TOKEN] =
    g_param_spec_double ("time-to-first-token", NULL, NULL,
                         0.0, G_MAXDOUBLE, 0.0,
                         (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmChatMessage:tokens-per-second:
   *
   * How fast the answer was generated, after its first token; 0 while
   * unknown.
   */
  properties[PROP_TOKENS_PER_SECOND] =
    g_param_spec_double ("tokens-per-second", NULL, NULL,
                         0.0, G_MAXDOUBLE, 0.0,
                         (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmChatMessage:error-message:
   *
   * Why the answer failed, for people, while #LlmChatMessage:state is
   * %LLM_CHAT_MESSAGE_STATE_FAILED; %NULL otherwise. Set with
   * llm_chat_message_set_failed().
   */
  properties[PROP_ERROR_MESSAGE] =
    g_param_spec_string ("error-message", NULL, NULL,
                         NULL,
                         (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
llm_chat_message_init (LlmChatMessage *self)
{
  self->content = g_string_new (NULL);
  self->created = g_get_real_time () / G_USEC_PER_SEC;
}

/**
 * llm_chat_message_new:
 * @role: who writes it
 * @content: (nullable): its text; %NULL is ""
 *
 * Returns: (transfer full): a new message, %LLM_CHAT_MESSAGE_STATE_COMPLETE,
 *   created now
 */
LlmChatMessage *
llm_chat_message_new (LlmChatRole  role,
                      const char  *content)
{
  g_return_val_if_fail (role <= LLM_CHAT_ROLE_ASSISTANT, NULL);

  return g_object_new (LLM_TYPE_CHAT_MESSAGE,
                       "role", role,
                       "content", content,
                       NULL);
}

/**
 * llm_chat_message_new_from_json:
 * @object: a message as llm_chat_message_to_json() writes it
 * @error: return location for a #LlmConversationError
 *
 * Reads a saved message. `role`, `content`, `state` and `created` are
 * required; `n_tokens`, `time_to_first_token`, `tokens_per_second` and
 * `error` are optional; other members are ignored, so that later versions
 * may add some. A message saved while pending or streaming (the app quit
 * during an answer) comes back %LLM_CHAT_MESSAGE_STATE_STOPPED: nothing
 * will finish it now.
 *
 * Returns: (transfer full): the message, or %NULL with @error set
 *   (%LLM_CONVERSATION_ERROR_INVALID, naming the member)
 */
LlmChatMessage *
llm_chat_message_new_from_json (JsonObject  *object,
                                GError     **error)
{
  g_autoptr(LlmChatMessage) self = NULL;
  const char *content;
  const char *error_message;
  int role, state;
  gint64 created, n_tokens = 0;
  double time_to_first_token = 0.0, tokens_per_second = 0.0;

  g_return_val_if_fail (object != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!get_enum_member (object, "role", LLM_TYPE_CHAT_ROLE, &role, error) ||
      !get_string_member (object, "content", FALSE, &content, error) ||
      !get_enum_member (object, "state", LLM_TYPE_CHAT_MESSAGE_STATE, &state, error) ||
      !get_int_member (object, "created", FALSE, G_MAXINT64, &created, error) ||
      !get_int_member (object, "n_tokens", TRUE, G_MAXUINT, &n_tokens, error) ||
      !get_number_member (object, "time_to_first_token", &time_to_first_token, error) ||
      !get_number_member (object, "tokens_per_second", &tokens_per_second, error) ||
      !get_string_member (object, "error", TRUE, &error_message, error))
    return NULL;

  if (state == LLM_CHAT_MESSAGE_STATE_PENDING || state == LLM_CHAT_MESSAGE_STATE_STREAMING)
    state = LLM_CHAT_MESSAGE_STATE_STOPPED;

  self = g_object_new (LLM_TYPE_CHAT_MESSAGE,
                       "role", role,
                       "content", content,
                       "created", created,
                       "state", state,
                       "n-tokens", (guint) n_tokens,
                       "time-to-first-token", time_to_first_token,
                       "tokens-per-second", tokens_per_second,
                       NULL);

  /* Created 0 is “now” for g_object_new(); the file said 1970. */
  self->created = created;

  if (state == LLM_CHAT_MESSAGE_STATE_FAILED)
    self->error_message = g_strdup (error_message);

  return g_steal_pointer (&self);
}

/**
 * llm_chat_message_to_json:
 * @self: a #LlmChatMessage
 *
 * Describes the message for a saved conversation (see llm-chat-message.h):
 * `role`, `content`, `state`, `created`, then the figures that are known,
 * then `error` if the answer failed.
 *
 * Returns: (transfer full): a new #JsonObject
 */
JsonObject *
llm_chat_message_to_json (LlmChatMessage *self)
{
  JsonObject *object;

  g_return_val_if_fail (LLM_IS_CHAT_MESSAGE (self), NULL);

  object = json_object_new ();
  json_object_set_string_member (object, "role", enum_to_nick (LLM_TYPE_CHAT_ROLE, self->role));
  json_object_set_string_member (object, "content", self->content->str);
  json_object_set_string_member (object, "state",
                                 enum_to_nick (LLM_TYPE_CHAT_MESSAGE_STATE, self->state));
  json_object_set_int_member (object, "created", self->created);

  if (self->n_tokens > 0)
    json_object_set_int_member (object, "n_tokens", self->n_tokens);
  if (self->time_to_first_token > 0.0)
    json_object_set_double_member (object, "time_to_first_token", self->time_to_first_token);
  if (self->tokens_per_second > 0.0)
    json_object_set_double_member (object, "tokens_per_second", self->tokens_per_second);

  if (self->state == LLM_CHAT_MESSAGE_STATE_FAILED && self->error_message != NULL)
    json_object_set_string_member (object, "error", self->error_message);

  return object;
}

LlmChatRole
llm_chat_message_get_role (LlmChatMessage *self)
{
  g_return_val_if_fail (LLM_IS_CHAT_MESSAGE (self), LLM_CHAT_ROLE_USER);

  return self->role;
}

/**
 * llm_chat_message_get_content:
 * @self: a #LlmChatMessage
 *
 * Returns: (transfer none): the text; never %NULL. It changes (and may
 *   move) with the next llm_chat_message_append(): copy it to keep it.
 */
const char *
llm_chat_message_get_content (LlmChatMessage *self)
{
  g_return_val_if_fail (LLM_IS_CHAT_MESSAGE (self), NULL);

  return self->content->str;
}

/**
 * llm_chat_message_set_content:
 * @self: a #LlmChatMessage
 * @content: (nullable): the new text; %NULL is ""
 *
 * Replaces the text (editing a message).
 */
void
llm_chat_message_set_content (LlmChatMessage *self,
                              const char     *content)
{
  g_return_if_fail (LLM_IS_CHAT_MESSAGE (self));

  if (content == NULL)
    content = "";

  if (g_str_equal (self->content->str, content))
    return;

  g_string_assign (self->content, content);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CONTENT]);
}

/**
 * llm_chat_message_append:
 * @self: a #LlmChatMessage
 * @text: text to add at the end (a token of an answer)
 *
 * Adds @text to the content, and notifies #LlmChatMessage:content unless
 * @text is empty.
 */
void
llm_chat_message_append (LlmChatMessage *self,
                         const char     *text)
{
  g_return_if_fail (LLM_IS_CHAT_MESSAGE (self));
  g_return_if_fail (text != NULL);

  if (*text == '\0')
    return;

  g_string_append (self->content, text);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CONTENT]);
}

LlmChatMessageState
llm_chat_message_get_state (LlmChatMessage *self)
{
  g_return_val_if_fail (LLM_IS_CHAT_MESSAGE (self), LLM_CHAT_MESSAGE_STATE_FAILED);

  return self->state;
}

/**
 * llm_chat_message_set_state:
 * @self: a #LlmChatMessage
 * @state: the new state
 *
 * Sets #LlmChatMessage:state. Leaving %LLM_CHAT_MESSAGE_STATE_FAILED (a
 * retry) clears #LlmChatMessage:error-message; to fail, use
 * llm_chat_message_set_failed(), which says why.
 */
void
llm_chat_message_set_state (LlmChatMessage      *self,
                            LlmChatMessageState  state)
{
  g_return_if_fail (LLM_IS_CHAT_MESSAGE (self));
  g_return_if_fail (state <= LLM_CHAT_MESSAGE_STATE_FAILED);

  if (self->state == state)
    return;

  g_object_freeze_notify (G_OBJECT (self));
  self->state = state;
  if (state != LLM_CHAT_MESSAGE_STATE_FAILED && self->error_message != NULL)
    {
      g_clear_pointer (&self->error_message, g_free);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ERROR_MESSAGE]);
    }
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
  g_object_thaw_notify (G_OBJECT (self));
}

/**
 * llm_chat_message_get_created:
 * @self: a #LlmChatMessage
 *
 * Returns: when the message was written, in Unix seconds
 */
gint64
llm_chat_message_get_created (LlmChatMessage *self)
{
  g_return_val_if_fail (LLM_IS_CHAT_MESSAGE (self), 0);

  return self->created;
}

guint
llm_chat_message_get_n_tokens (LlmChatMessage *self)
{
  g_return_val_if_fail (LLM_IS_CHAT_MESSAGE (self), 0);

  return self->n_tokens;
}

/**
 * llm_chat_message_set_n_tokens:
 * @self: a #LlmChatMessage
 * @n_tokens: how many tokens the answer has, or 0 for unknown
 */
void
llm_chat_message_set_n_tokens (LlmChatMessage *self,
                               guint           n_tokens)
{
  g_return_if_fail (LLM_IS_CHAT_MESSAGE (self));

  if (self->n_tokens == n_tokens)
    return;

  self->n_tokens = n_tokens;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_TOKENS]);
}

double
llm_chat_message_get_time_to_first_token (LlmChatMessage *self)
{
  g_return_val_if_fail (LLM_IS_CHAT_MESSAGE (self), 0.0);

  return self->time_to_first_token;
}

/**
 * llm_chat_message_set_time_to_first_token:
 * @self: a #LlmChatMessage
 * @seconds: from the request to the first token, or 0 for unknown
 */
void
llm_chat_message_set_time_to_first_token (LlmChatMessage *self,
                                          double          seconds)
{
  g_return_if_fail (LLM_IS_CHAT_MESSAGE (self));
  g_return_if_fail (seconds >= 0.0);

  if (self->time_to_first_token == seconds)
    return;

  self->time_to_first_token = seconds;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TIME_TO_FIRST_TOKEN]);
}

double
llm_chat_message_get_tokens_per_second (LlmChatMessage *self)
{
  g_return_val_if_fail (LLM_IS_CHAT_MESSAGE (self), 0.0);

  return self->tokens_per_second;
}

/**
 * llm_chat_message_set_tokens_per_second:
 * @self: a #LlmChatMessage
 * @rate: tokens generated per second, or 0 for unknown
 */
void
llm_chat_message_set_tokens_per_second (LlmChatMessage *self,
                                        double          rate)
{
  g_return_if_fail (LLM_IS_CHAT_MESSAGE (self));
  g_return_if_fail (rate >= 0.0);

  if (self->tokens_per_second == rate)
    return;

  self->tokens_per_second = rate;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TOKENS_PER_SECOND]);
}

/**
 * llm_chat_message_get_error_message:
 * @self: a #LlmChatMessage
 *
 * Returns: (transfer none) (nullable): why the answer failed, while
 *   failed
 */
const char *
llm_chat_message_get_error_message (LlmChatMessage *self)
{
  g_return_val_if_fail (LLM_IS_CHAT_MESSAGE (self), NULL);

  return self->error_message;
}

/**
 * llm_chat_message_set_failed:
 * @self: a #LlmChatMessage
 * @error: why the answer could not be finished
 *
 * Sets #LlmChatMessage:state to %LLM_CHAT_MESSAGE_STATE_FAILED and
 * #LlmChatMessage:error-message to @error's message. The content so far
 * stays, for the person to read.
 */
void
llm_chat_message_set_failed (LlmChatMessage *self,
                             const GError   *error)
{
  g_return_if_fail (LLM_IS_CHAT_MESSAGE (self));
  g_return_if_fail (error != NULL);

  g_object_freeze_notify (G_OBJECT (self));
  if (set_str (&self->error_message, error->message))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ERROR_MESSAGE]);
  llm_chat_message_set_state (self, LLM_CHAT_MESSAGE_STATE_FAILED);
  g_object_thaw_notify (G_OBJECT (self));
}

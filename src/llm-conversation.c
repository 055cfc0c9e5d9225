/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-conversation"

#include "llm-conversation.h"

#include <string.h>

/**
 * LlmConversation:
 *
 * A conversation with a model: its #LlmChatMessage, in order, as a
 * #GListModel (a chat view binds to it), and what a list of conversations
 * shows of it: #LlmConversation:title, #LlmConversation:model and
 * #LlmConversation:modified.
 *
 * The title is the first line of the first user message, cut at
 * %LLM_CONVERSATION_TITLE_LENGTH characters, until one is set with
 * llm_conversation_set_title(); it follows the first user message (which
 * a truncation may remove) while it is derived.
 *
 * #LlmConversation::changed says that what a save would write has
 * changed: a message added, removed or finished (these also move
 * #LlmConversation:modified, in Unix seconds), or the title or model set.
 * A message growing token by token is not a change until it finishes:
 * saving on ::changed saves each answer once.
 *
 * Like every model of the app, it is changed on the main thread only.
 */
struct _LlmConversation
{
  GObject parent_instance;

  char *id;
  char *title;          /* set by llm_conversation_set_title(), or NULL */
  char *derived_title;  /* from the first user message; never NULL */
  char *model;
  GPtrArray *messages;  /* of LlmChatMessage, in order */

  gint64 created;
  gint64 modified;
};

static void llm_conversation_model_init (GListModelInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (LlmConversation, llm_conversation, G_TYPE_OBJECT,
                               G_IMPLEMENT_INTERFACE (G_TYPE_LIST_MODEL,
                                                      llm_conversation_model_init))

G_DEFINE_QUARK (llm-conversation-error-quark, llm_conversation_error)

enum {
  PROP_0,
  PROP_ID,
  PROP_TITLE,
  PROP_MODEL,
  PROP_CREATED,
  PROP_MODIFIED,
  PROP_N_ITEMS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

enum {
  CHANGED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

#define MAX_ID_LENGTH 64
#define FORMAT_VERSION 1

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

/* The id names the conversation's file: ID.json. */
static gboolean
id_is_file_safe (const char *id)
{
  gsize length = strlen (id);

  if (length == 0 || length > MAX_ID_LENGTH)
    return FALSE;

  for (const char *p = id; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && *p != '-' && *p != '_')
      return FALSE;

  return TRUE;
}

/* The first line of @content, without the whitespace around it, cut at
 * LLM_CONVERSATION_TITLE_LENGTH characters (never inside a character). */
static char *
derive_title (const char *content)
{
  g_autofree char *valid = g_utf8_make_valid (content, -1);
  const char *start = valid;
  const char *end;
  char *title;

  while (*start != '\0' && g_unichar_isspace (g_utf8_get_char (start)))
    start = g_utf8_next_char (start);

  /* Bytes '\n' and '\r' never occur inside a multi-byte UTF-8 character. */
  for (end = start; *end != '\0' && *end != '\n' && *end != '\r'; end++)
    ;

  if (g_utf8_strlen (start, end - start) > LLM_CONVERSATION_TITLE_LENGTH)
    end = g_utf8_offset_to_pointer (start, LLM_CONVERSATION_TITLE_LENGTH);

  title = g_strndup (start, end - start);

  return g_strchomp (title);
}

static LlmChatMessage *
find_first_user_message (LlmConversation *self)
{
  for (guint i = 0; i < self->messages->len; i++)
    {
      LlmChatMessage *message = g_ptr_array_index (self->messages, i);

      if (llm_chat_message_get_role (message) == LLM_CHAT_ROLE_USER)
        return message;
    }

  return NULL;
}

static void
update_derived_title (LlmConversation *self)
{
  LlmChatMessage *first = find_first_user_message (self);
  g_autofree char *title = derive_title (first != NULL ? llm_chat_message_get_content (first) : "");

  if (g_str_equal (title, self->derived_title))
    return;

  g_free (self->derived_title);
  self->derived_title = g_steal_pointer (&title);

  if (self->title == NULL)
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TITLE]);
}

/* Moves #LlmConversation:modified to now and says so. */
static void
touch (LlmConversation *self)
{
  gint64 now = g_get_real_time () / G_USEC_PER_SEC;

  if (self->modified != now)
    {
      self->modified = now;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MODIFIED]);
    }

  g_signal_emit (self, signals[CHANGED], 0);
}

static void
message_state_cb (LlmChatMessage  *message,
                  GParamSpec      *pspec,
                  LlmConversation *self)
{
  LlmChatMessageState state = llm_chat_message_get_state (message);

  /* States change only when they differ, so this is a message finishing
   * (or failing after it finished, which is worth saving too). */
  if (state != LLM_CHAT_MESSAGE_STATE_PENDING && state != LLM_CHAT_MESSAGE_STATE_STREAMING)
    touch (self);
}

static void
message_content_cb (LlmChatMessage  *message,
                    GParamSpec      *pspec,
                    LlmConversation *self)
{
  if (llm_chat_message_get_role (message) == LLM_CHAT_ROLE_USER)
    update_derived_title (self);
}

static void
watch_message (LlmConversation *self,
               LlmChatMessage  *message)
{
  g_signal_connect_object (message, "notify::state", G_CALLBACK (message_state_cb), self, 0);
  g_signal_connect_object (message, "notify::content", G_CALLBACK (message_content_cb), self, 0);
}

static void
unwatch_message (gpointer data,
                 gpointer user_data)
{
  g_signal_handlers_disconnect_by_data (data, user_data);
}

/* GListModel */

static GType
llm_conversation_get_item_type (GListModel *model)
{
  return LLM_TYPE_CHAT_MESSAGE;
}

static guint
llm_conversation_get_n_items (GListModel *model)
{
  return LLM_CONVERSATION (model)->messages->len;
}

static gpointer
llm_conversation_get_item (GListModel *model,
                           guint       position)
{
  LlmConversation *self = LLM_CONVERSATION (model);

  if (position >= self->messages->len)
    return NULL;

  return g_object_ref (g_ptr_array_index (self->messages, position));
}

static void
llm_conversation_model_init (GListModelInterface *iface)
{
  iface->get_item_type = llm_conversation_get_item_type;
  iface->get_n_items = llm_conversation_get_n_items;
  iface->get_item = llm_conversation_get_item;
}

/* GObject */

static void
llm_conversation_dispose (GObject *object)
{
  LlmConversation *self = LLM_CONVERSATION (object);

  /* The messages may outlive the conversation (a chat view holds them). */
  g_ptr_array_foreach (self->messages, unwatch_message, self);

  G_OBJECT_CLASS (llm_conversation_parent_class)->dispose (object);
}

static void
llm_conversation_finalize (GObject *object)
{
  LlmConversation *self = LLM_CONVERSATION (object);

  g_clear_pointer (&self->id, g_free);
  g_clear_pointer (&self->title, g_free);
  g_clear_pointer (&self->derived_title, g_free);
  g_clear_pointer (&self->model, g_free);
  g_clear_pointer (&self->messages, g_ptr_array_unref);

  G_OBJECT_CLASS (llm_conversation_parent_class)->finalize (object);
}

static void
llm_conversation_constructed (GObject *object)
{
  LlmConversation *self = LLM_CONVERSATION (object);

  G_OBJECT_CLASS (llm_conversation_parent_class)->constructed (object);

  if (self->id == NULL)
    self->id = g_uuid_string_random ();
  else if (!id_is_file_safe (self->id))
    g_critical ("LlmConversation: “%s” is not a file-safe id", self->id);
}

static void
llm_conversation_get_property (GObject    *object,
                               guint       prop_id,
                               GValue     *value,
                               GParamSpec *pspec)
{
  LlmConversation *self = LLM_CONVERSATION (object);

  switch (prop_id)
    {
    case PROP_ID:
      g_value_set_string (value, self->id);
      break;

    case PROP_TITLE:
      g_value_set_string (value, llm_conversation_get_title (self));
      break;

    case PROP_MODEL:
      g_value_set_string (value, self->model);
      break;

    case PROP_CREATED:
      g_value_set_int64 (value, self->created);
      break;

    case PROP_MODIFIED:
      g_value_set_int64 (value, self->modified);
      break;

    case PROP_N_ITEMS:
      g_value_set_uint (value, self->messages->len);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
llm_conversation_set_property (GObject      *object,
                               guint         prop_id,
                               const GValue *value,
                               GParamSpec   *pspec)
{
  LlmConversation *self = LLM_CONVERSATION (object);

  switch (prop_id)
    {
    case PROP_ID:
      /* Construct-only: checked in llm_conversation_constructed(). */
      self->id = g_value_dup_string (value);
      break;

    case PROP_TITLE:
      llm_conversation_set_title (self, g_value_get_string (value));
      break;

    case PROP_MODEL:
      llm_conversation_set_model (self, g_value_get_string (value));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
llm_conversation_class_init (LlmConversationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = llm_conversation_constructed;
  object_class->dispose = llm_conversation_dispose;
  object_class->finalize = llm_conversation_finalize;
  object_class->get_property = llm_conversation_get_property;
  object_class->set_property = llm_conversation_set_property;

  /**
   * LlmConversation:id:
   *
   * The conversation's name for the store, and of its file: letters,
   * digits, `-` and `_`, at most 64 of them. A random UUID unless given.
   */
  properties[PROP_ID] =
    g_param_spec_string ("id", NULL, NULL,
                         NULL,
                         (G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
                          G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmConversation:title:
   *
   * What the conversation is called: as set, or else derived from the
   * first user message; "" when there is none. Setting "" or %NULL goes
   * back to the derived title.
   */
  properties[PROP_TITLE] =
    g_param_spec_string ("title", NULL, NULL,
                         "",
                         (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmConversation:model:
   *
   * The model the conversation is held with (its folder), or %NULL.
   */
  properties[PROP_MODEL] =
    g_param_spec_string ("model", NULL, NULL,
                         NULL,
                         (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmConversation:created:
   *
   * When the conversation was started, in Unix seconds.
   */
  properties[PROP_CREATED] =
    g_param_spec_int64 ("created", NULL, NULL,
                        0, G_MAXINT64, 0,
                        (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmConversation:modified:
   *
   * When a message was last added, removed or finished, in Unix seconds.
   */
  properties[PROP_MODIFIED] =
    g_param_spec_int64 ("modified", NULL, NULL,
                        0, G_MAXINT64, 0,
                        (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmConversation:n-items:
   *
   * How many messages there are.
   */
  properties[PROP_N_ITEMS] =
    g_param_spec_uint ("n-items", NULL, NULL,
                       0, G_MAXUINT, 0,
                       (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  g_object_class_install_properties (object_class, N_PROPS, properties);

  /**
   * LlmConversation::changed:
   * @self: the conversation
   *
   * What a save would write has changed: a message was added, removed or
   * finished, or the title or model was set. Not emitted for each token
   * of an answer.
   */
  signals[CHANGED] =
    g_signal_new ("changed",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0,
                  NULL, NULL,
                  NULL,
                  G_TYPE_NONE, 0);
}

static void
llm_conversation_init (LlmConversation *self)
{
  self->messages = g_ptr_array_new_with_free_func (g_object_unref);
  self->derived_title = g_strdup ("");
  self->created = g_get_real_time () / G_USEC_PER_SEC;
  self->modified = self->created;
}

/**
 * llm_conversation_new:
 *
 * Returns: (transfer full): a new empty conversation with a random id,
 *   created and modified now
 */
LlmConversation *
llm_conversation_new (void)
{
  return g_object_new (LLM_TYPE_CONVERSATION, NULL);
}

/* JSON members, checked; each error names the member. */

static gboolean
get_int_member (JsonObject  *object,
                const char  *member,
                gint64      *value,
                GError     **error)
{
  JsonNode *node = json_object_get_member (object, member);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_INT64)
    {
      g_set_error (error, LLM_CONVERSATION_ERROR, LLM_CONVERSATION_ERROR_INVALID,
                   node == NULL ? "“%s” is missing: it must be an integer"
                                : "“%s” must be an integer",
                   member);
      return FALSE;
    }

  *value = json_node_get_int (node);
  if (*value < 0)
    {
      g_set_error (error, LLM_CONVERSATION_ERROR, LLM_CONVERSATION_ERROR_INVALID,
                   "“%s” is %" G_GINT64_FORMAT ": it must not be negative", member, *value);
      return FALSE;
    }

  return TRUE;
}

/* A string, or with @optional, nothing or null (*value is then NULL). */
static gboolean
get_string_member (JsonObject  *object,
                   const char  *member,
                   gboolean     optional,
                   const char **value,
                   GError     **error)
{
  JsonNode *node = json_object_get_member (object, member);

  *value = NULL;
  if (optional && (node == NULL || JSON_NODE_HOLDS_NULL (node)))
    return TRUE;

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

/**
 * llm_conversation_new_from_json:
 * @object: a conversation as llm_conversation_to_json() writes it
 * @error: return location for a #LlmConversationError
 *
 * Reads a saved conversation. `version` must be 1; `id` (file-safe),
 * `created`, `modified` and `messages` are required; `title` and `model`
 * are optional (a title equal to the one derived from the messages stays
 * derived); other members are ignored, so that later versions of format 1
 * may add some. Messages are read by llm_chat_message_new_from_json().
 *
 * Returns: (transfer full): the conversation, or %NULL with @error set:
 *   %LLM_CONVERSATION_ERROR_VERSION for another version,
 *   %LLM_CONVERSATION_ERROR_INVALID (naming the member) for the rest
 */
LlmConversation *
llm_conversation_new_from_json (JsonObject  *object,
                                GError     **error)
{
  g_autoptr(LlmConversation) self = NULL;
  g_autoptr(GPtrArray) messages = NULL;
  JsonNode *node;
  JsonArray *array;
  const char *id, *title, *model;
  gint64 version, created, modified;
  guint n;

  g_return_val_if_fail (object != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  /* The version first: another version may have other members. */
  node = json_object_get_member (object, "version");
  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) ||
      json_node_get_value_type (node) != G_TYPE_INT64)
    {
      g_set_error (error, LLM_CONVERSATION_ERROR, LLM_CONVERSATION_ERROR_INVALID,
                   node == NULL ? "“version” is missing: it must be the integer %d"
                                : "“version” must be the integer %d",
                   FORMAT_VERSION);
      return NULL;
    }

  version = json_node_get_int (node);
  if (version != FORMAT_VERSION)
    {
      g_set_error (error, LLM_CONVERSATION_ERROR, LLM_CONVERSATION_ERROR_VERSION,
                   "“version” is %" G_GINT64_FORMAT ": this version of the app reads version %d",
                   version, FORMAT_VERSION);
      return NULL;
    }

  if (!get_string_member (object, "id", FALSE, &id, error))
    return NULL;

  if (!id_is_file_safe (id))
    {
      g_autofree char *escaped = g_strescape (id, NULL);

      g_set_error (error, LLM_CONVERSATION_ERROR, LLM_CONVERSATION_ERROR_INVALID,
                   "“id” is “%.80s”: it must be 1 to %d letters, digits, “-” or “_”",
                   escaped, MAX_ID_LENGTH);
      return NULL;
    }

  if (!get_string_member (object, "title", TRUE, &title, error) ||
      !get_string_member (object, "model", TRUE, &model, error) ||
      !get_int_member (object, "created", &created, error) ||
      !get_int_member (object, "modified", &modified, error))
    return NULL;

  node = json_object_get_member (object, "messages");
  if (node == NULL || !JSON_NODE_HOLDS_ARRAY (node))
    {
      g_set_error_literal (error, LLM_CONVERSATION_ERROR, LLM_CONVERSATION_ERROR_INVALID,
                           node == NULL ? "“messages” is missing: it must be an array"
                                        : "“messages” must be an array");
      return NULL;
    }

  array = json_node_get_array (node);
  n = json_array_get_length (array);
  messages = g_ptr_array_new_full (n, g_object_unref);
  for (guint i = 0; i < n; i++)
    {
      JsonNode *element = json_array_get_element (array, i);
      LlmChatMessage *message;

      if (!JSON_NODE_HOLDS_OBJECT (element))
        {
          g_set_error (error, LLM_CONVERSATION_ERROR, LLM_CONVERSATION_ERROR_INVALID,
                       "“messages”[%u] must be an object", i);
          return NULL;
        }

      message = llm_chat_message_new_from_json (json_node_get_object (element), error);
      if (message == NULL)
        {
          g_prefix_error (error, "“messages”[%u]: ", i);
          return NULL;
        }

      g_ptr_array_add (messages, message);
    }

  self = g_object_new (LLM_TYPE_CONVERSATION,
                       "id", id,
                       "model", model,
                       NULL);
  self->created = created;
  self->modified = modified;

  for (guint i = 0; i < messages->len; i++)
    {
      LlmChatMessage *message = g_ptr_array_index (messages, i);

      g_ptr_array_add (self->messages, g_object_ref (message));
      watch_message (self, message);
    }

  update_derived_title (self);
  if (title != NULL && *title != '\0' && !g_str_equal (title, self->derived_title))
    self->title = g_strdup (title);

  return g_steal_pointer (&self);
}

/**
 * llm_conversation_to_json:
 * @self: a #LlmConversation
 *
 * Describes the conversation for its file (see llm-conversation.h):
 * `version`, `id`, `title` (as shown), `model` (if set), `created`,
 * `modified`, then `messages`.
 *
 * Returns: (transfer full): a new #JsonObject
 */
JsonObject *
llm_conversation_to_json (LlmConversation *self)
{
  JsonObject *object;
  JsonArray *messages;

  g_return_val_if_fail (LLM_IS_CONVERSATION (self), NULL);

  object = json_object_new ();
  json_object_set_int_member (object, "version", FORMAT_VERSION);
  json_object_set_string_member (object, "id", self->id);
  json_object_set_string_member (object, "title", llm_conversation_get_title (self));
  if (self->model != NULL)
    json_object_set_string_member (object, "model", self->model);
  json_object_set_int_member (object, "created", self->created);
  json_object_set_int_member (object, "modified", self->modified);

  messages = json_array_sized_new (self->messages->len);
  for (guint i = 0; i < self->messages->len; i++)
    {
      LlmChatMessage *message = g_ptr_array_index (self->messages, i);

      json_array_add_object_element (messages, llm_chat_message_to_json (message));
    }
  json_object_set_array_member (object, "messages", messages);

  return object;
}

/**
 * llm_conversation_get_id:
 * @self: a #LlmConversation
 *
 * Returns: (transfer none): the id, file-safe
 */
const char *
llm_conversation_get_id (LlmConversation *self)
{
  g_return_val_if_fail (LLM_IS_CONVERSATION (self), NULL);

  return self->id;
}

/**
 * llm_conversation_get_title:
 * @self: a #LlmConversation
 *
 * Returns: (transfer none): the title as set, or else as derived from the
 *   first user message; "" if there is none
 */
const char *
llm_conversation_get_title (LlmConversation *self)
{
  g_return_val_if_fail (LLM_IS_CONVERSATION (self), NULL);

  return self->title != NULL ? self->title : self->derived_title;
}

/**
 * llm_conversation_set_title:
 * @self: a #LlmConversation
 * @title: (nullable): a title; %NULL or "" to derive it again from the
 *   first user message
 *
 * Sets #LlmConversation:title, and emits #LlmConversation::changed if the
 * title set changed.
 */
void
llm_conversation_set_title (LlmConversation *self,
                            const char      *title)
{
  g_autofree char *old_title = NULL;

  g_return_if_fail (LLM_IS_CONVERSATION (self));

  if (title != NULL && *title == '\0')
    title = NULL;

  if (g_strcmp0 (self->title, title) == 0)
    return;

  old_title = g_strdup (llm_conversation_get_title (self));
  set_str (&self->title, title);

  if (!g_str_equal (old_title, llm_conversation_get_title (self)))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TITLE]);
  g_signal_emit (self, signals[CHANGED], 0);
}

/**
 * llm_conversation_get_model:
 * @self: a #LlmConversation
 *
 * Returns: (transfer none) (nullable): the model's folder
 */
const char *
llm_conversation_get_model (LlmConversation *self)
{
  g_return_val_if_fail (LLM_IS_CONVERSATION (self), NULL);

  return self->model;
}

/**
 * llm_conversation_set_model:
 * @self: a #LlmConversation
 * @model: (nullable): the model's folder
 *
 * Sets #LlmConversation:model, and emits #LlmConversation::changed if it
 * changed.
 */
void
llm_conversation_set_model (LlmConversation *self,
                            const char      *model)
{
  g_return_if_fail (LLM_IS_CONVERSATION (self));

  if (!set_str (&self->model, model))
    return;

  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_MODEL]);
  g_signal_emit (self, signals[CHANGED], 0);
}

/**
 * llm_conversation_get_created:
 * @self: a #LlmConversation
 *
 * Returns: when the conversation was started, in Unix seconds
 */
gint64
llm_conversation_get_created (LlmConversation *self)
{
  g_return_val_if_fail (LLM_IS_CONVERSATION (self), 0);

  return self->created;
}

/**
 * llm_conversation_get_modified:
 * @self: a #LlmConversation
 *
 * Returns: when a message was last added, removed or finished, in Unix
 *   seconds
 */
gint64
llm_conversation_get_modified (LlmConversation *self)
{
  g_return_val_if_fail (LLM_IS_CONVERSATION (self), 0);

  return self->modified;
}

/**
 * llm_conversation_append:
 * @self: a #LlmConversation
 * @message: a message, in no other conversation
 *
 * Adds @message at the end. Emits #GListModel::items-changed, then
 * #LlmConversation::changed.
 */
void
llm_conversation_append (LlmConversation *self,
                         LlmChatMessage  *message)
{
  g_return_if_fail (LLM_IS_CONVERSATION (self));
  g_return_if_fail (LLM_IS_CHAT_MESSAGE (message));

  g_ptr_array_add (self->messages, g_object_ref (message));
  watch_message (self, message);

  g_list_model_items_changed (G_LIST_MODEL (self), self->messages->len - 1, 0, 1);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_ITEMS]);
  if (llm_chat_message_get_role (message) == LLM_CHAT_ROLE_USER)
    update_derived_title (self);
  touch (self);
}

/**
 * llm_conversation_truncate:
 * @self: a #LlmConversation
 * @n_messages: how many messages to keep
 *
 * Removes the messages from position @n_messages on (to regenerate an
 * answer, or to edit a message and go on from there). Nothing happens if
 * there are no more than @n_messages; otherwise one
 * #GListModel::items-changed, then #LlmConversation::changed.
 */
void
llm_conversation_truncate (LlmConversation *self,
                           guint            n_messages)
{
  guint n_removed;

  g_return_if_fail (LLM_IS_CONVERSATION (self));

  if (n_messages >= self->messages->len)
    return;

  n_removed = self->messages->len - n_messages;
  for (guint i = n_messages; i < self->messages->len; i++)
    unwatch_message (g_ptr_array_index (self->messages, i), self);
  g_ptr_array_remove_range (self->messages, n_messages, n_removed);

  g_list_model_items_changed (G_LIST_MODEL (self), n_messages, n_removed, 0);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_N_ITEMS]);
  update_derived_title (self);
  touch (self);
}

/**
 * llm_conversation_get_last:
 * @self: a #LlmConversation
 *
 * Returns: (transfer none) (nullable): the last message (the answer being
 *   written, during one), or %NULL if there is none
 */
LlmChatMessage *
llm_conversation_get_last (LlmConversation *self)
{
  g_return_val_if_fail (LLM_IS_CONVERSATION (self), NULL);

  if (self->messages->len == 0)
    return NULL;

  return g_ptr_array_index (self->messages, self->messages->len - 1);
}

static void
add_template_message (JsonArray  *array,
                      LlmChatRole role,
                      const char *content)
{
  g_autoptr(GEnumClass) enum_class = g_type_class_ref (LLM_TYPE_CHAT_ROLE);
  JsonObject *object = json_object_new ();

  json_object_set_string_member (object, "role", g_enum_get_value (enum_class, role)->value_nick);
  json_object_set_string_member (object, "content", content);
  json_array_add_object_element (array, object);
}

/**
 * llm_conversation_dup_template_messages:
 * @self: a #LlmConversation
 * @system_prompt: (nullable): instructions to put first, or %NULL or ""
 *   for none
 *
 * The conversation in the form chat templates take (the `messages` of
 * llm_template_render()): `[{"role": "…", "content": "…"}, …]`, starting
 * with @system_prompt as a system message if there is one. Answers that
 * have nothing to say are left out: pending or failed ones, and empty
 * ones (stopped before their first token); an answer that was stopped
 * keeps what it had.
 *
 * Returns: (transfer full): a new #JsonArray of objects
 */
JsonArray *
llm_conversation_dup_template_messages (LlmConversation *self,
                                        const char      *system_prompt)
{
  JsonArray *array;

  g_return_val_if_fail (LLM_IS_CONVERSATION (self), NULL);

  array = json_array_sized_new (self->messages->len + 1);
  if (system_prompt != NULL && *system_prompt != '\0')
    add_template_message (array, LLM_CHAT_ROLE_SYSTEM, system_prompt);

  for (guint i = 0; i < self->messages->len; i++)
    {
      LlmChatMessage *message = g_ptr_array_index (self->messages, i);
      LlmChatRole role = llm_chat_message_get_role (message);
      LlmChatMessageState state = llm_chat_message_get_state (message);
      const char *content = llm_chat_message_get_content (message);

      if (role == LLM_CHAT_ROLE_ASSISTANT &&
          (state == LLM_CHAT_MESSAGE_STATE_PENDING || state == LLM_CHAT_MESSAGE_STATE_FAILED ||
           *content == '\0'))
        continue;

      add_template_message (array, role, content);
    }

  return array;
}

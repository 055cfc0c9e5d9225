/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-shard"

#include "llm-shard.h"

/**
 * LlmShard:
 *
 * A range of one model's layers that this node hosts: which model
 * (#LlmShard:model-id at #LlmShard:revision), which layers
 * (#LlmShard:first-layer to #LlmShard:last-layer, inclusive, 0-based), in
 * which #LlmShard:dtype, and how far it is from serving
 * (#LlmShard:state, #LlmShard:progress, #LlmShard:error-message).
 *
 * The model and layers are fixed at construction: hosting other layers is
 * another shard. The rest is set by whoever downloads and loads the shard,
 * on the main thread, and every setter notifies only on a change, so the
 * UI binds to them.
 *
 * The engine handle (an `LlmLayers` of engine/llm-model.h) is not here
 * yet: the step that loads shards adds it, and sets the state to
 * %LLM_SHARD_STATE_READY only once the layers can run.
 */
struct _LlmShard
{
  GObject parent_instance;

  char *model_id;
  char *revision;
  char *dtype;
  char *error_message;

  double progress;
  guint first_layer;
  guint last_layer;
  LlmShardState state;
};

G_DEFINE_FINAL_TYPE (LlmShard, llm_shard, G_TYPE_OBJECT)

G_DEFINE_ENUM_TYPE (LlmShardState, llm_shard_state,
  G_DEFINE_ENUM_VALUE (LLM_SHARD_STATE_MISSING, "missing"),
  G_DEFINE_ENUM_VALUE (LLM_SHARD_STATE_DOWNLOADING, "downloading"),
  G_DEFINE_ENUM_VALUE (LLM_SHARD_STATE_LOADING, "loading"),
  G_DEFINE_ENUM_VALUE (LLM_SHARD_STATE_READY, "ready"),
  G_DEFINE_ENUM_VALUE (LLM_SHARD_STATE_FAILED, "failed"))

enum {
  PROP_0,
  PROP_MODEL_ID,
  PROP_REVISION,
  PROP_FIRST_LAYER,
  PROP_LAST_LAYER,
  PROP_DTYPE,
  PROP_STATE,
  PROP_PROGRESS,
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

static void
llm_shard_finalize (GObject *object)
{
  LlmShard *self = LLM_SHARD (object);

  g_clear_pointer (&self->model_id, g_free);
  g_clear_pointer (&self->revision, g_free);
  g_clear_pointer (&self->dtype, g_free);
  g_clear_pointer (&self->error_message, g_free);

  G_OBJECT_CLASS (llm_shard_parent_class)->finalize (object);
}

static void
llm_shard_constructed (GObject *object)
{
  LlmShard *self = LLM_SHARD (object);

  G_OBJECT_CLASS (llm_shard_parent_class)->constructed (object);

  if (self->model_id == NULL || *self->model_id == '\0')
    g_critical ("LlmShard: a shard needs a model id");
  if (self->first_layer > self->last_layer)
    g_critical ("LlmShard: layers %u–%u are inverted", self->first_layer, self->last_layer);
}

static void
llm_shard_get_property (GObject    *object,
                        guint       prop_id,
                        GValue     *value,
                        GParamSpec *pspec)
{
  LlmShard *self = LLM_SHARD (object);

  switch (prop_id)
    {
    case PROP_MODEL_ID:
      g_value_set_string (value, self->model_id);
      break;

    case PROP_REVISION:
      g_value_set_string (value, self->revision);
      break;

    case PROP_FIRST_LAYER:
      g_value_set_uint (value, self->first_layer);
      break;

    case PROP_LAST_LAYER:
      g_value_set_uint (value, self->last_layer);
      break;

    case PROP_DTYPE:
      g_value_set_string (value, self->dtype);
      break;

    case PROP_STATE:
      g_value_set_enum (value, self->state);
      break;

    case PROP_PROGRESS:
      g_value_set_double (value, self->progress);
      break;

    case PROP_ERROR_MESSAGE:
      g_value_set_string (value, self->error_message);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
llm_shard_set_property (GObject      *object,
                        guint         prop_id,
                        const GValue *value,
                        GParamSpec   *pspec)
{
  LlmShard *self = LLM_SHARD (object);

  switch (prop_id)
    {
    case PROP_MODEL_ID:
      self->model_id = g_value_dup_string (value);
      break;

    case PROP_REVISION:
      self->revision = g_value_dup_string (value);
      break;

    case PROP_FIRST_LAYER:
      self->first_layer = g_value_get_uint (value);
      break;

    case PROP_LAST_LAYER:
      self->last_layer = g_value_get_uint (value);
      break;

    case PROP_DTYPE:
      llm_shard_set_dtype (self, g_value_get_string (value));
      break;

    case PROP_STATE:
      llm_shard_set_state (self, g_value_get_enum (value));
      break;

    case PROP_PROGRESS:
      llm_shard_set_progress (self, g_value_get_double (value));
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
llm_shard_class_init (LlmShardClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = llm_shard_constructed;
  object_class->finalize = llm_shard_finalize;
  object_class->get_property = llm_shard_get_property;
  object_class->set_property = llm_shard_set_property;

  /**
   * LlmShard:model-id:
   *
   * The model the layers belong to, as peers announce it
   * (`stories260K`, `org/name`).
   */
  properties[PROP_MODEL_ID] =
    g_param_spec_string ("model-id", NULL, NULL,
                         NULL,
                         (G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
                          G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmShard:revision:
   *
   * The model's revision (a git commit or branch of its repository), or
   * %NULL when unknown, as for a model given as a local directory.
   */
  properties[PROP_REVISION] =
    g_param_spec_string ("revision", NULL, NULL,
                         NULL,
                         (G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
                          G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmShard:first-layer:
   *
   * The first layer hosted, 0-based.
   */
  properties[PROP_FIRST_LAYER] =
    g_param_spec_uint ("first-layer", NULL, NULL,
                       0, G_MAXUINT, 0,
                       (G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
                        G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmShard:last-layer:
   *
   * The last layer hosted, inclusive: not below #LlmShard:first-layer.
   */
  properties[PROP_LAST_LAYER] =
    g_param_spec_uint ("last-layer", NULL, NULL,
                       0, G_MAXUINT, 0,
                       (G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY |
                        G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmShard:dtype:
   *
   * The type of the weights as the safetensors header names it (`F32`,
   * `F16`, `BF16`), or %NULL until known.
   */
  properties[PROP_DTYPE] =
    g_param_spec_string ("dtype", NULL, NULL,
                         NULL,
                         (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmShard:state:
   *
   * How far the shard is from serving. Only a %LLM_SHARD_STATE_READY shard
   * counts as a replica (#LlmCoverage).
   */
  properties[PROP_STATE] =
    g_param_spec_enum ("state", NULL, NULL,
                       LLM_TYPE_SHARD_STATE,
                       LLM_SHARD_STATE_MISSING,
                       (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmShard:progress:
   *
   * The fraction done of the current step (downloading or loading), from
   * 0 to 1.
   */
  properties[PROP_PROGRESS] =
    g_param_spec_double ("progress", NULL, NULL,
                         0.0, 1.0, 0.0,
                         (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  /**
   * LlmShard:error-message:
   *
   * Why the shard failed, for people, while #LlmShard:state is
   * %LLM_SHARD_STATE_FAILED; %NULL otherwise. Set with
   * llm_shard_set_failed().
   */
  properties[PROP_ERROR_MESSAGE] =
    g_param_spec_string ("error-message", NULL, NULL,
                         NULL,
                         (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY));

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
llm_shard_init (LlmShard *self)
{
}

/**
 * llm_shard_new:
 * @model_id: the model
 * @revision: (nullable): its revision
 * @first_layer: the first layer hosted
 * @last_layer: the last layer hosted, inclusive
 *
 * Returns: (transfer full): a new shard, %LLM_SHARD_STATE_MISSING
 */
LlmShard *
llm_shard_new (const char *model_id,
               const char *revision,
               guint       first_layer,
               guint       last_layer)
{
  g_return_val_if_fail (model_id != NULL && *model_id != '\0', NULL);
  g_return_val_if_fail (first_layer <= last_layer, NULL);

  return g_object_new (LLM_TYPE_SHARD,
                       "model-id", model_id,
                       "revision", revision,
                       "first-layer", first_layer,
                       "last-layer", last_layer,
                       NULL);
}

const char *
llm_shard_get_model_id (LlmShard *self)
{
  g_return_val_if_fail (LLM_IS_SHARD (self), NULL);

  return self->model_id;
}

const char *
llm_shard_get_revision (LlmShard *self)
{
  g_return_val_if_fail (LLM_IS_SHARD (self), NULL);

  return self->revision;
}

guint
llm_shard_get_first_layer (LlmShard *self)
{
  g_return_val_if_fail (LLM_IS_SHARD (self), 0);

  return self->first_layer;
}

guint
llm_shard_get_last_layer (LlmShard *self)
{
  g_return_val_if_fail (LLM_IS_SHARD (self), 0);

  return self->last_layer;
}

/**
 * llm_shard_get_n_layers:
 * @self: a #LlmShard
 *
 * Returns: how many layers the shard holds: last - first + 1
 */
guint
llm_shard_get_n_layers (LlmShard *self)
{
  g_return_val_if_fail (LLM_IS_SHARD (self), 0);

  return self->last_layer - self->first_layer + 1;
}

gboolean
llm_shard_holds_layer (LlmShard *self,
                       guint     layer)
{
  g_return_val_if_fail (LLM_IS_SHARD (self), FALSE);

  return self->first_layer <= layer && layer <= self->last_layer;
}

const char *
llm_shard_get_dtype (LlmShard *self)
{
  g_return_val_if_fail (LLM_IS_SHARD (self), NULL);

  return self->dtype;
}

void
llm_shard_set_dtype (LlmShard   *self,
                     const char *dtype)
{
  g_return_if_fail (LLM_IS_SHARD (self));

  if (set_str (&self->dtype, dtype))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_DTYPE]);
}

LlmShardState
llm_shard_get_state (LlmShard *self)
{
  g_return_val_if_fail (LLM_IS_SHARD (self), LLM_SHARD_STATE_FAILED);

  return self->state;
}

/**
 * llm_shard_set_state:
 * @self: a #LlmShard
 * @state: the new state
 *
 * Sets #LlmShard:state. Leaving %LLM_SHARD_STATE_FAILED (a retry) clears
 * #LlmShard:error-message; to fail, use llm_shard_set_failed(), which says
 * why.
 */
void
llm_shard_set_state (LlmShard      *self,
                     LlmShardState  state)
{
  g_return_if_fail (LLM_IS_SHARD (self));
  g_return_if_fail (state <= LLM_SHARD_STATE_FAILED);

  if (self->state == state)
    return;

  g_object_freeze_notify (G_OBJECT (self));
  self->state = state;
  if (state != LLM_SHARD_STATE_FAILED && self->error_message != NULL)
    {
      g_clear_pointer (&self->error_message, g_free);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ERROR_MESSAGE]);
    }
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
  g_object_thaw_notify (G_OBJECT (self));
}

double
llm_shard_get_progress (LlmShard *self)
{
  g_return_val_if_fail (LLM_IS_SHARD (self), 0.0);

  return self->progress;
}

void
llm_shard_set_progress (LlmShard *self,
                        double    progress)
{
  g_return_if_fail (LLM_IS_SHARD (self));
  g_return_if_fail (progress >= 0.0 && progress <= 1.0);

  if (self->progress == progress)
    return;

  self->progress = progress;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PROGRESS]);
}

const char *
llm_shard_get_error_message (LlmShard *self)
{
  g_return_val_if_fail (LLM_IS_SHARD (self), NULL);

  return self->error_message;
}

/**
 * llm_shard_set_failed:
 * @self: a #LlmShard
 * @error: why it failed
 *
 * Sets #LlmShard:state to %LLM_SHARD_STATE_FAILED and
 * #LlmShard:error-message to @error's message.
 */
void
llm_shard_set_failed (LlmShard     *self,
                      const GError *error)
{
  g_return_if_fail (LLM_IS_SHARD (self));
  g_return_if_fail (error != NULL);

  g_object_freeze_notify (G_OBJECT (self));
  if (set_str (&self->error_message, error->message))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ERROR_MESSAGE]);
  llm_shard_set_state (self, LLM_SHARD_STATE_FAILED);
  g_object_thaw_notify (G_OBJECT (self));
}

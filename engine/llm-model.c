/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-model"

#include "llm-model.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "llm-kernels.h"

G_DEFINE_QUARK (llm-model-error-quark, llm_model_error)

struct _LlmModel
{
  char *dir;
  LlmConfig *config;
  LlmWeights *weights;
};

/* One transformer block's weights: matrices point into the mapped file,
 * small vectors are converted to f32 at load. */
typedef struct
{
  float *attn_norm;    /* (dim) */
  LlmMatrix wq;        /* (n_heads * head_dim, dim) */
  LlmMatrix wk;        /* (n_kv_heads * head_dim, dim) */
  LlmMatrix wv;        /* (n_kv_heads * head_dim, dim) */
  float *bq;           /* (n_heads * head_dim), Qwen2 only */
  float *bk;           /* (n_kv_heads * head_dim), Qwen2 only */
  float *bv;           /* (n_kv_heads * head_dim), Qwen2 only */
  float *q_norm;       /* (head_dim), Qwen3 only */
  float *k_norm;       /* (head_dim), Qwen3 only */
  LlmMatrix wo;        /* (dim, n_heads * head_dim) */
  float *ffn_norm;     /* (dim) */
  LlmMatrix w_gate;    /* (hidden_dim, dim) */
  LlmMatrix w_up;      /* (hidden_dim, dim) */
  LlmMatrix w_down;    /* (dim, hidden_dim) */
} Layer;

struct _LlmLayers
{
  LlmModel *model;     /* borrowed: outlives its layers */
  int begin;
  int end;
  Layer *layers;       /* (end - begin) */
  guint64 bytes;
};

struct _LlmHead
{
  LlmModel *model;     /* borrowed */
  LlmMatrix embed;     /* (vocab_size, dim) */
  float *norm;         /* (dim) */
  LlmMatrix lm_head;   /* (vocab_size, dim), embed itself when tied */
  guint64 bytes;
};

struct _LlmKvCache
{
  LlmLayers *layers;   /* borrowed */
  guint64 budget;
  int length;          /* positions filled */
  int capacity;        /* positions allocated */
  float **keys;        /* per layer: (capacity, n_kv_heads * head_dim) */
  float **values;      /* per layer: (capacity, n_kv_heads * head_dim) */
};

LlmModel *
llm_model_open (const char  *model_dir,
                GError     **error)
{
  g_autoptr(LlmModel) model = g_new0 (LlmModel, 1);

  model->dir = g_strdup (model_dir);
  model->config = llm_config_load (model_dir, error);
  if (model->config == NULL)
    return NULL;
  model->weights = llm_weights_open (model_dir, error);
  if (model->weights == NULL)
    return NULL;

  return g_steal_pointer (&model);
}

void
llm_model_free (LlmModel *model)
{
  if (model == NULL)
    return;

  g_clear_pointer (&model->weights, llm_weights_free);
  g_clear_pointer (&model->config, llm_config_free);
  g_free (model->dir);
  g_free (model);
}

const LlmConfig *
llm_model_get_config (LlmModel *model)
{
  return model->config;
}

LlmWeights *
llm_model_get_weights (LlmModel *model)
{
  return model->weights;
}

const char *
llm_model_get_dir (LlmModel *model)
{
  return model->dir;
}

/* The dtype of the matrices: that of the first layer's first projection,
 * or of the embeddings. */
LlmDtype
llm_model_get_dtype (LlmModel *model)
{
  const LlmTensorInfo *info = llm_weights_lookup (model->weights, "model.embed_tokens.weight");

  return info != NULL ? info->dtype : LLM_DTYPE_F32;
}

guint64
llm_model_get_n_params (LlmModel *model)
{
  guint64 total = 0;

  for (guint i = 0; i < llm_weights_get_n_tensors (model->weights); i++)
    {
      const LlmTensorInfo *info = llm_weights_get_tensor (model->weights, i);
      guint64 count = 1;

      for (guint d = 0; d < info->n_dims; d++)
        count *= info->shape[d];
      total += count;
    }

  return total;
}

static const LlmTensorInfo *
find_tensor (LlmModel    *model,
             const char  *name,
             guint64      rows,
             guint64      cols,
             GError     **error)
{
  const LlmTensorInfo *info = llm_weights_lookup (model->weights, name);
  const char *path;

  if (info == NULL)
    {
      g_set_error (error, LLM_MODEL_ERROR, LLM_MODEL_ERROR_INVALID,
                   "%s: tensor “%s” is missing", model->dir, name);
      return NULL;
    }

  path = llm_weights_get_file_path (model->weights, info->file_index);
  if (info->dtype != LLM_DTYPE_F32 && info->dtype != LLM_DTYPE_F16 && info->dtype != LLM_DTYPE_BF16)
    {
      g_set_error (error, LLM_MODEL_ERROR, LLM_MODEL_ERROR_UNSUPPORTED,
                   "%s: tensor “%s” is %s; the engine computes with F32, F16 and BF16",
                   path, name, llm_dtype_to_string (info->dtype));
      return NULL;
    }

  if ((cols == 0 && !(info->n_dims == 1 && info->shape[0] == rows)) ||
      (cols != 0 && !(info->n_dims == 2 && info->shape[0] == rows && info->shape[1] == cols)))
    {
      g_autoptr(GString) shape = g_string_new ("[");

      for (guint d = 0; d < info->n_dims; d++)
        g_string_append_printf (shape, "%s%" G_GUINT64_FORMAT, d ? ", " : "", info->shape[d]);
      g_string_append_c (shape, ']');
      if (cols == 0)
        g_set_error (error, LLM_MODEL_ERROR, LLM_MODEL_ERROR_INVALID,
                     "%s: tensor “%s” has shape %s; config.json implies [%" G_GUINT64_FORMAT "]",
                     path, name, shape->str, rows);
      else
        g_set_error (error, LLM_MODEL_ERROR, LLM_MODEL_ERROR_INVALID,
                     "%s: tensor “%s” has shape %s; config.json implies [%" G_GUINT64_FORMAT
                     ", %" G_GUINT64_FORMAT "]", path, name, shape->str, rows, cols);
      return NULL;
    }

  return info;
}

static gboolean
load_matrix (LlmModel    *model,
             const char  *name,
             int          rows,
             int          cols,
             LlmMatrix   *matrix,
             guint64     *bytes,
             GError     **error)
{
  const LlmTensorInfo *info = find_tensor (model, name, rows, cols, error);
  const void *data;

  if (info == NULL)
    return FALSE;
  data = llm_weights_map (model->weights, info, error);
  if (data == NULL)
    return FALSE;

  *matrix = (LlmMatrix) { data, info->dtype, rows, cols };
  *bytes += info->size;
  return TRUE;
}

/* Rows [first, first + rows) of a fused matrix, as a matrix of its own. */
static LlmMatrix
matrix_rows (const LlmMatrix *fused,
             int              first,
             int              rows)
{
  gsize element = fused->dtype == LLM_DTYPE_F32 ? 4 : 2;

  return (LlmMatrix) {
    (const char *) fused->data + (gsize) first * fused->cols * element,
    fused->dtype, rows, fused->cols
  };
}

static float *
load_vector (LlmModel    *model,
             const char  *name,
             int          length,
             guint64     *bytes,
             GError     **error)
{
  const LlmTensorInfo *info = find_tensor (model, name, length, 0, error);
  const void *data;
  float *vector;

  if (info == NULL)
    return NULL;
  data = llm_weights_map (model->weights, info, error);
  if (data == NULL)
    return NULL;

  vector = g_new (float, length);
  llm_convert_to_f32 (vector, data, info->dtype, length);
  *bytes += info->size;
  return vector;
}

static void
layer_clear (Layer *layer)
{
  g_free (layer->attn_norm);
  g_free (layer->bq);
  g_free (layer->bk);
  g_free (layer->bv);
  g_free (layer->q_norm);
  g_free (layer->k_norm);
  g_free (layer->ffn_norm);
}

static gboolean
load_layer (LlmModel  *model,
            int        index,
            Layer     *layer,
            guint64   *bytes,
            GError   **error)
{
  const LlmConfig *c = model->config;
  int q_rows = c->n_heads * c->head_dim;
  int kv_rows = c->n_kv_heads * c->head_dim;
  g_autofree char *prefix = g_strdup_printf ("model.layers.%d.", index);

  g_autofree char *attn_norm = g_strconcat (prefix, "input_layernorm.weight", NULL);
  g_autofree char *ffn_norm = g_strconcat (prefix, "post_attention_layernorm.weight", NULL);
  g_autofree char *wo = g_strconcat (prefix, "self_attn.o_proj.weight", NULL);
  g_autofree char *w_down = g_strconcat (prefix, "mlp.down_proj.weight", NULL);

  layer->attn_norm = load_vector (model, attn_norm, c->dim, bytes, error);
  layer->ffn_norm = layer->attn_norm ? load_vector (model, ffn_norm, c->dim, bytes, error) : NULL;
  if (layer->ffn_norm == NULL ||
      !load_matrix (model, wo, c->dim, q_rows, &layer->wo, bytes, error) ||
      !load_matrix (model, w_down, c->dim, c->hidden_dim, &layer->w_down, bytes, error))
    return FALSE;

  if (c->arch == LLM_ARCH_PHI3)
    {
      g_autofree char *qkv = g_strconcat (prefix, "self_attn.qkv_proj.weight", NULL);
      g_autofree char *gate_up = g_strconcat (prefix, "mlp.gate_up_proj.weight", NULL);
      LlmMatrix fused;

      /* Fused projections: q, k, v rows one after the other; gate rows, then up. */
      if (!load_matrix (model, qkv, q_rows + 2 * kv_rows, c->dim, &fused, bytes, error))
        return FALSE;
      layer->wq = matrix_rows (&fused, 0, q_rows);
      layer->wk = matrix_rows (&fused, q_rows, kv_rows);
      layer->wv = matrix_rows (&fused, q_rows + kv_rows, kv_rows);

      if (!load_matrix (model, gate_up, 2 * c->hidden_dim, c->dim, &fused, bytes, error))
        return FALSE;
      layer->w_gate = matrix_rows (&fused, 0, c->hidden_dim);
      layer->w_up = matrix_rows (&fused, c->hidden_dim, c->hidden_dim);
    }
  else
    {
      g_autofree char *wq = g_strconcat (prefix, "self_attn.q_proj.weight", NULL);
      g_autofree char *wk = g_strconcat (prefix, "self_attn.k_proj.weight", NULL);
      g_autofree char *wv = g_strconcat (prefix, "self_attn.v_proj.weight", NULL);
      g_autofree char *w_gate = g_strconcat (prefix, "mlp.gate_proj.weight", NULL);
      g_autofree char *w_up = g_strconcat (prefix, "mlp.up_proj.weight", NULL);

      if (!load_matrix (model, wq, q_rows, c->dim, &layer->wq, bytes, error) ||
          !load_matrix (model, wk, kv_rows, c->dim, &layer->wk, bytes, error) ||
          !load_matrix (model, wv, kv_rows, c->dim, &layer->wv, bytes, error) ||
          !load_matrix (model, w_gate, c->hidden_dim, c->dim, &layer->w_gate, bytes, error) ||
          !load_matrix (model, w_up, c->hidden_dim, c->dim, &layer->w_up, bytes, error))
        return FALSE;
    }

  if (c->qkv_bias)
    {
      g_autofree char *bq = g_strconcat (prefix, "self_attn.q_proj.bias", NULL);
      g_autofree char *bk = g_strconcat (prefix, "self_attn.k_proj.bias", NULL);
      g_autofree char *bv = g_strconcat (prefix, "self_attn.v_proj.bias", NULL);

      if (!(layer->bq = load_vector (model, bq, q_rows, bytes, error)) ||
          !(layer->bk = load_vector (model, bk, kv_rows, bytes, error)) ||
          !(layer->bv = load_vector (model, bv, kv_rows, bytes, error)))
        return FALSE;
    }

  if (c->qk_norm)
    {
      g_autofree char *q_norm = g_strconcat (prefix, "self_attn.q_norm.weight", NULL);
      g_autofree char *k_norm = g_strconcat (prefix, "self_attn.k_norm.weight", NULL);

      if (!(layer->q_norm = load_vector (model, q_norm, c->head_dim, bytes, error)) ||
          !(layer->k_norm = load_vector (model, k_norm, c->head_dim, bytes, error)))
        return FALSE;
    }

  return TRUE;
}

/**
 * llm_layers_new:
 * @begin: the first layer
 * @end: one past the last layer
 *
 * Maps the weights of layers [begin, end), and only those.
 */
LlmLayers *
llm_layers_new (LlmModel  *model,
                int        begin,
                int        end,
                GError   **error)
{
  g_autoptr(LlmLayers) layers = NULL;

  if (begin < 0 || end > model->config->n_layers || begin >= end)
    {
      g_set_error (error, LLM_MODEL_ERROR, LLM_MODEL_ERROR_INVALID,
                   "%s: layers %d–%d are not a range of the model’s %d layers",
                   model->dir, begin, end - 1, model->config->n_layers);
      return NULL;
    }

  layers = g_new0 (LlmLayers, 1);
  layers->model = model;
  layers->begin = begin;
  layers->end = end;
  layers->layers = g_new0 (Layer, end - begin);

  for (int i = begin; i < end; i++)
    if (!load_layer (model, i, &layers->layers[i - begin], &layers->bytes, error))
      return NULL;

  return g_steal_pointer (&layers);
}

void
llm_layers_free (LlmLayers *layers)
{
  if (layers == NULL)
    return;

  for (int i = 0; i < layers->end - layers->begin; i++)
    layer_clear (&layers->layers[i]);
  g_free (layers->layers);
  g_free (layers);
}

int
llm_layers_get_begin (LlmLayers *layers)
{
  return layers->begin;
}

int
llm_layers_get_end (LlmLayers *layers)
{
  return layers->end;
}

/* Bytes of weights the range reads for each token. */
guint64
llm_layers_get_bytes (LlmLayers *layers)
{
  return layers->bytes;
}

LlmHead *
llm_head_new (LlmModel  *model,
              GError   **error)
{
  const LlmConfig *c = model->config;
  g_autoptr(LlmHead) head = g_new0 (LlmHead, 1);
  guint64 embed_bytes = 0;

  head->model = model;
  if (!load_matrix (model, "model.embed_tokens.weight", c->vocab_size, c->dim, &head->embed,
                    &embed_bytes, error))
    return NULL;
  head->norm = load_vector (model, "model.norm.weight", c->dim, &head->bytes, error);
  if (head->norm == NULL)
    return NULL;

  /* Tied embeddings: the head reads embed_tokens. lm_head.weight is then
   * usually absent; where a checkpoint stores it anyway, transformers ties
   * it over, and so do we. */
  if (c->tie_embeddings)
    {
      head->lm_head = head->embed;
      head->bytes += embed_bytes;
    }
  else if (!load_matrix (model, "lm_head.weight", c->vocab_size, c->dim, &head->lm_head,
                         &head->bytes, error))
    return NULL;

  return g_steal_pointer (&head);
}

void
llm_head_free (LlmHead *head)
{
  if (head == NULL)
    return;

  g_free (head->norm);
  g_free (head);
}

/* Bytes of weights the head reads for each token's logits. */
guint64
llm_head_get_bytes (LlmHead *head)
{
  return head->bytes;
}

gboolean
llm_head_embed (LlmHead    *head,
                const int  *tokens,
                int         n,
                float      *hidden,
                GError    **error)
{
  const LlmConfig *c = head->model->config;
  gsize row_bytes = (gsize) c->dim * (head->embed.dtype == LLM_DTYPE_F32 ? 4 : 2);

  for (int t = 0; t < n; t++)
    {
      if (tokens[t] < 0 || tokens[t] >= c->vocab_size)
        {
          g_set_error (error, LLM_MODEL_ERROR, LLM_MODEL_ERROR_BAD_TOKEN,
                       "token %d is outside the vocabulary of %d", tokens[t], c->vocab_size);
          return FALSE;
        }
      llm_convert_to_f32 (hidden + (gsize) t * c->dim,
                          (const char *) head->embed.data + (gsize) tokens[t] * row_bytes,
                          head->embed.dtype, c->dim);
    }

  return TRUE;
}

/**
 * llm_head_logits:
 * @hidden: (n, dim) the last layer's output
 * @logits: (n, vocab_size)
 */
void
llm_head_logits (LlmHead     *head,
                 LlmPool     *pool,
                 const float *hidden,
                 int          n,
                 float       *logits)
{
  const LlmConfig *c = head->model->config;
  g_autofree float *normed = g_new (float, (gsize) n * c->dim);
  LlmMatmul product = { head->lm_head, logits };

  llm_rmsnorm (normed, hidden, head->norm, n, c->dim, c->norm_eps);
  llm_matmul (pool, normed, n, &product, 1);
}

/* KV cache */

LlmKvCache *
llm_kv_cache_new (LlmLayers *layers,
                  guint64    budget_bytes)
{
  LlmKvCache *cache = g_new0 (LlmKvCache, 1);
  int n_layers = layers->end - layers->begin;

  cache->layers = layers;
  cache->budget = budget_bytes;
  cache->keys = g_new0 (float *, n_layers);
  cache->values = g_new0 (float *, n_layers);

  return cache;
}

void
llm_kv_cache_free (LlmKvCache *cache)
{
  if (cache == NULL)
    return;

  for (int i = 0; i < cache->layers->end - cache->layers->begin; i++)
    {
      g_free (cache->keys[i]);
      g_free (cache->values[i]);
    }
  g_free (cache->keys);
  g_free (cache->values);
  g_free (cache);
}

int
llm_kv_cache_get_length (LlmKvCache *cache)
{
  return cache->length;
}

int
llm_kv_cache_get_capacity (LlmKvCache *cache)
{
  return cache->capacity;
}

guint64
llm_kv_cache_get_bytes_per_token (LlmKvCache *cache)
{
  const LlmConfig *c = cache->layers->model->config;

  return 2 * sizeof (float) * (guint64) c->n_kv_heads * c->head_dim *
         (cache->layers->end - cache->layers->begin);
}

/**
 * llm_kv_cache_truncate:
 *
 * Forgets the positions from @length on, to regenerate from there.
 */
void
llm_kv_cache_truncate (LlmKvCache *cache,
                       int         length)
{
  g_return_if_fail (length >= 0);

  cache->length = MIN (cache->length, length);
}

static gboolean
kv_cache_reserve (LlmKvCache  *cache,
                  int          length,
                  GError     **error)
{
  const LlmConfig *c = cache->layers->model->config;
  guint64 per_token = llm_kv_cache_get_bytes_per_token (cache);
  guint64 max_tokens = MIN (cache->budget / per_token, (guint64) c->max_seq_len);
  gsize row = (gsize) c->n_kv_heads * c->head_dim;
  int capacity;

  if (length <= cache->capacity)
    return TRUE;

  if ((guint64) length > max_tokens)
    {
      g_autofree char *budget = g_format_size (cache->budget);

      g_set_error (error, LLM_MODEL_ERROR, LLM_MODEL_ERROR_CACHE_FULL,
                   "the KV cache is full: %d positions needed, %" G_GUINT64_FORMAT
                   " fit in its budget of %s and the model’s context of %d",
                   length, max_tokens, budget, c->max_seq_len);
      return FALSE;
    }

  /* Grow geometrically, so appending one token at a time stays cheap. */
  capacity = (int) MIN (MAX ((guint64) length, MAX (2 * (guint64) cache->capacity, 64)), max_tokens);
  for (int i = 0; i < cache->layers->end - cache->layers->begin; i++)
    {
      cache->keys[i] = g_renew (float, cache->keys[i], (gsize) capacity * row);
      cache->values[i] = g_renew (float, cache->values[i], (gsize) capacity * row);
    }
  cache->capacity = capacity;

  return TRUE;
}

/* Forward pass */

/* Buffers of one forward call of n tokens. */
typedef struct
{
  LlmLayers *layers;
  const LlmConfig *config;
  int n;
  int start;           /* position of the first token */
  float *x;            /* (n, dim) the residual stream */
  float *xb;           /* (n, dim) normalized input of a block */
  float *q;            /* (n, n_heads * head_dim) */
  float *k;            /* (n, n_kv_heads * head_dim) */
  float *v;            /* (n, n_kv_heads * head_dim) */
  float *att;          /* (n, n_heads * head_dim) attention output */
  float *gate;         /* (n, hidden_dim) */
  float *up;           /* (n, hidden_dim) */
  float *cos;          /* (n, head_dim / 2) */
  float *sin;          /* (n, head_dim / 2) */
  float *scores;       /* (n_threads, start + n) attention weights */
  const Layer *layer;
  atomic_int next_pair;  /* of the attention's (token, head) pairs */
  float *keys;         /* this layer's cache */
  float *values;
} Forward;

static void
add_bias (float       *x,
          const float *bias,
          int          n,
          int          width)
{
  if (bias != NULL)
    for (int t = 0; t < n; t++)
      llm_add (x + (gsize) t * width, bias, width);
}

/* Rotates each head's halves by the position's angles (rotate_half). */
static void
apply_rope (float       *x,
            int          n,
            int          n_heads,
            int          head_dim,
            const float *cos,
            const float *sin)
{
  int half = head_dim / 2;

  for (int t = 0; t < n; t++)
    for (int h = 0; h < n_heads; h++)
      {
        float *v = x + ((gsize) t * n_heads + h) * head_dim;
        const float *ct = cos + (gsize) t * half;
        const float *st = sin + (gsize) t * half;

        for (int i = 0; i < half; i++)
          {
            float x1 = v[i];
            float x2 = v[i + half];

            v[i] = x1 * ct[i] - x2 * st[i];
            v[i + half] = x2 * ct[i] + x1 * st[i];
          }
      }
}

static void
compute_rope_tables (Forward *f)
{
  const LlmConfig *c = f->config;
  int half = c->head_dim / 2;
  g_autofree float *inv_freq = g_new (float, half);
  float attention_factor;

  llm_config_rope_frequencies (c, f->start + f->n - 1, inv_freq, &attention_factor);
  for (int t = 0; t < f->n; t++)
    for (int i = 0; i < half; i++)
      {
        double angle = (double) (f->start + t) * inv_freq[i];

        f->cos[(gsize) t * half + i] = (float) cos (angle) * attention_factor;
        f->sin[(gsize) t * half + i] = (float) sin (angle) * attention_factor;
      }
}

/* Each free thread takes the next (token, head) pair, the last tokens
 * first: under the causal mask, later tokens attend to more positions. */
static void
attention_worker (void *data,
                  int   thread_index,
                  int   n_threads)
{
  Forward *f = data;
  const LlmConfig *c = f->config;
  int hd = c->head_dim;
  int kv_width = c->n_kv_heads * hd;
  int group = c->n_heads / c->n_kv_heads;
  float scale = 1.0f / sqrtf ((float) hd);
  float *scores = f->scores + (gsize) thread_index * (f->start + f->n);
  int n_pairs = f->n * c->n_heads;
  int pair;

  while ((pair = atomic_fetch_add_explicit (&f->next_pair, 1, memory_order_relaxed)) < n_pairs)
    {
      int t = f->n - 1 - pair / c->n_heads;
      int h = pair % c->n_heads;
      int position = f->start + t;
      int first = 0;
      gsize kv_offset = (gsize) (h / group) * hd;

      /* Causal: a token sees itself and those before, within the window. */
      if (c->sliding_window > 0)
        first = MAX (0, position - c->sliding_window + 1);

      llm_attention_scores (scores, f->q + ((gsize) t * c->n_heads + h) * hd,
                            f->keys + (gsize) first * kv_width + kv_offset, kv_width,
                            position - first + 1, hd, scale);
      llm_softmax (scores, position - first + 1);
      llm_attention_values (f->att + ((gsize) t * c->n_heads + h) * hd, scores,
                            f->values + (gsize) first * kv_width + kv_offset, kv_width,
                            position - first + 1, hd);
    }
}

/* The steps between the products work row by row: for a prompt, each
 * thread of the pool takes a share of the rows; one token's are too short
 * to share. */
typedef void (*RowsFunc) (Forward *f,
                          int      begin,
                          int      end);

typedef struct
{
  Forward *f;
  RowsFunc func;
} RowsJob;

static void
rows_worker (void *data,
             int   thread_index,
             int   n_threads)
{
  RowsJob *job = data;
  int begin, end;

  llm_pool_split (job->f->n, 1, thread_index, n_threads, &begin, &end);
  if (begin < end)
    job->func (job->f, begin, end);
}

static void
for_rows (Forward  *f,
          LlmPool  *pool,
          RowsFunc  func)
{
  RowsJob job = { f, func };

  if (f->n < 4)
    func (f, 0, f->n);
  else
    llm_pool_run (pool, rows_worker, &job);
}

static void
normalize_attention_input (Forward *f,
                           int      begin,
                           int      end)
{
  const LlmConfig *c = f->config;
  gsize offset = (gsize) begin * c->dim;

  llm_rmsnorm (f->xb + offset, f->x + offset, f->layer->attn_norm, end - begin, c->dim, c->norm_eps);
}

/* Biases, Qwen3's per-head norms of q and k, the rotation; then the keys
 * and values join the session's cache. */
static void
prepare_queries_and_keys (Forward *f,
                          int      begin,
                          int      end)
{
  const LlmConfig *c = f->config;
  const Layer *layer = f->layer;
  int n = end - begin;
  int q_width = c->n_heads * c->head_dim;
  int kv_width = c->n_kv_heads * c->head_dim;
  float *q = f->q + (gsize) begin * q_width;
  float *k = f->k + (gsize) begin * kv_width;
  float *v = f->v + (gsize) begin * kv_width;
  const float *cos = f->cos + (gsize) begin * (c->head_dim / 2);
  const float *sin = f->sin + (gsize) begin * (c->head_dim / 2);

  add_bias (q, layer->bq, n, q_width);
  add_bias (k, layer->bk, n, kv_width);
  add_bias (v, layer->bv, n, kv_width);

  if (layer->q_norm != NULL)
    {
      llm_rmsnorm (q, q, layer->q_norm, n * c->n_heads, c->head_dim, c->norm_eps);
      llm_rmsnorm (k, k, layer->k_norm, n * c->n_kv_heads, c->head_dim, c->norm_eps);
    }

  apply_rope (q, n, c->n_heads, c->head_dim, cos, sin);
  apply_rope (k, n, c->n_kv_heads, c->head_dim, cos, sin);

  memcpy (f->keys + (gsize) (f->start + begin) * kv_width, k, sizeof (float) * n * kv_width);
  memcpy (f->values + (gsize) (f->start + begin) * kv_width, v, sizeof (float) * n * kv_width);
}

/* The attention's residual, then the MLP's input. */
static void
normalize_mlp_input (Forward *f,
                     int      begin,
                     int      end)
{
  const LlmConfig *c = f->config;
  gsize offset = (gsize) begin * c->dim;

  llm_add (f->x + offset, f->xb + offset, (gsize) (end - begin) * c->dim);
  llm_rmsnorm (f->xb + offset, f->x + offset, f->layer->ffn_norm, end - begin, c->dim, c->norm_eps);
}

static void
gate (Forward *f,
      int      begin,
      int      end)
{
  gsize offset = (gsize) begin * f->config->hidden_dim;

  llm_silu_mul (f->gate + offset, f->up + offset, (gsize) (end - begin) * f->config->hidden_dim);
}

static void
add_mlp_output (Forward *f,
                int      begin,
                int      end)
{
  gsize offset = (gsize) begin * f->config->dim;

  llm_add (f->x + offset, f->xb + offset, (gsize) (end - begin) * f->config->dim);
}

/* One transformer block: pre-norm attention, then the SiLU-gated MLP, each
 * added to the residual stream x. */
static void
layer_forward (Forward     *f,
               LlmPool     *pool,
               const Layer *layer)
{
  int n = f->n;

  f->layer = layer;

  /* Attention: q, k and v in one parallel step. */
  for_rows (f, pool, normalize_attention_input);
  {
    LlmMatmul qkv[] = { { layer->wq, f->q }, { layer->wk, f->k }, { layer->wv, f->v } };
    llm_matmul (pool, f->xb, n, qkv, G_N_ELEMENTS (qkv));
  }
  for_rows (f, pool, prepare_queries_and_keys);
  atomic_store (&f->next_pair, 0);
  llm_pool_run (pool, attention_worker, f);
  {
    LlmMatmul o = { layer->wo, f->xb };
    llm_matmul (pool, f->att, n, &o, 1);
  }

  /* MLP: gate and up in one parallel step, down. */
  for_rows (f, pool, normalize_mlp_input);
  {
    LlmMatmul gate_up[] = { { layer->w_gate, f->gate }, { layer->w_up, f->up } };
    llm_matmul (pool, f->xb, n, gate_up, G_N_ELEMENTS (gate_up));
  }
  for_rows (f, pool, gate);
  {
    LlmMatmul down = { layer->w_down, f->xb };
    llm_matmul (pool, f->gate, n, &down, 1);
  }
  for_rows (f, pool, add_mlp_output);
}

/**
 * llm_layers_forward:
 * @cache: the session, whose length is the position of the first token
 * @hidden: (n, dim) hidden states in; the range's output on return
 * @n: tokens in this call: many for a prompt (prefill), one to decode
 *
 * Runs the range's layers on @n new positions of the session, appending
 * their keys and values to @cache. Cancelling stops between two layers and
 * leaves the cache as it was.
 */
gboolean
llm_layers_forward (LlmLayers     *layers,
                    LlmPool       *pool,
                    LlmKvCache    *cache,
                    float         *hidden,
                    int            n,
                    GCancellable  *cancellable,
                    GError       **error)
{
  const LlmConfig *c = layers->model->config;
  int q_width = c->n_heads * c->head_dim;
  int kv_width = c->n_kv_heads * c->head_dim;
  int half = c->head_dim / 2;
  Forward f = { layers, c, n, cache->length, hidden };
  g_autofree float *buffer = NULL;
  gsize sizes[] = {
    (gsize) n * c->dim, (gsize) n * q_width, (gsize) n * kv_width, (gsize) n * kv_width,
    (gsize) n * q_width, (gsize) n * c->hidden_dim, (gsize) n * c->hidden_dim,
    (gsize) n * half, (gsize) n * half,
    (gsize) llm_pool_get_n_threads (pool) * (cache->length + n),
  };
  float **buffers[] = { &f.xb, &f.q, &f.k, &f.v, &f.att, &f.gate, &f.up, &f.cos, &f.sin, &f.scores };
  gsize total = 0;

  g_return_val_if_fail (cache->layers == layers, FALSE);
  g_return_val_if_fail (n > 0, FALSE);

  if (!kv_cache_reserve (cache, cache->length + n, error))
    return FALSE;

  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
    total += sizes[i];
  buffer = g_new (float, total);
  total = 0;
  for (guint i = 0; i < G_N_ELEMENTS (sizes); i++)
    {
      *buffers[i] = buffer + total;
      total += sizes[i];
    }

  compute_rope_tables (&f);

  for (int l = 0; l < layers->end - layers->begin; l++)
    {
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return FALSE;

      f.keys = cache->keys[l];
      f.values = cache->values[l];
      layer_forward (&f, pool, &layers->layers[l]);
    }

  cache->length += n;
  return TRUE;
}

/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-tokenizer"

#include "llm-tokenizer-private.h"

#include <stdarg.h>
#include <string.h>

/* The tokenizer, step by step as Hugging Face's `tokenizers` runs it:
 *
 *   text ─► added tokens matched in the raw text (those not "normalized")
 *        ─► normalizer, on each piece between them
 *        ─► added tokens matched in the normalized text
 *        ─► pre-tokenizer: the pieces ("words") the model sees one by one
 *        ─► model (BPE): each word to ids, through a cache of words
 *        ─► post-processor: special tokens around the sequence (BOS, …)
 *
 * and back: ids ─► tokens ─► decoder ─► clean-up of spaces (unless the
 * config turns it off, as transformers' clean_up_tokenization_spaces) ─►
 * text.
 *
 * Where the Rust library and the JavaScript reference of the tests
 * (@huggingface/tokenizers) differ, this follows the reference for what the
 * tests cover: the ByteLevel decoder keeps added tokens verbatim; byte
 * fallback decodes each maximal invalid subpart to one U+FFFD and drops a
 * byte order mark that starts a run of bytes; the inline (?i:…) of the
 * Llama 3 and Qwen regexes folds ASCII case only ("'ſ" is no contraction);
 * added tokens keep the ids the file gives them. It follows Rust for the
 * rest: single_word; the Split behaviors MergedWithPrevious, MergedWithNext
 * and Contiguous; Punctuation and Digits isolating characters one by one;
 * Metaspace splitting; the Metaspace decoder; \s as the White_Space
 * property in the GPT-2 regex of ByteLevel. */

G_DEFINE_QUARK (llm-tokenizer-error-quark, llm_tokenizer_error)

/* The largest vocabularies have about 256 thousand tokens; a file claiming
 * sixteen times that is broken (or hostile). */
#define MAX_ID ((1 << 22) - 1)
/* Words longer than this are not cached (the reference's limit, too). */
#define CACHE_MAX_WORD 256
#define CACHE_MAX_ENTRIES (1 << 16)
#define CACHE_MAX_BYTES (32 << 20)

/* ------------------------------------------------------------------------ */
/* Hashing */

static inline guint64
mix64 (guint64 h)
{
  h ^= h >> 33;
  h *= G_GUINT64_CONSTANT (0xff51afd7ed558ccd);
  h ^= h >> 33;
  h *= G_GUINT64_CONSTANT (0xc4ceb9fe1a85ec53);
  h ^= h >> 33;
  return h;
}

static inline guint32
hash_bytes (const char *s,
            gsize       n)
{
  guint64 h = G_GUINT64_CONSTANT (0x9e3779b97f4a7c15) ^ n;
  gsize i = 0;

  for (; i + 8 <= n; i += 8)
    {
      guint64 w;

      memcpy (&w, s + i, 8);
      h = (h ^ w) * G_GUINT64_CONSTANT (0x100000001b3);
      h ^= h >> 29;
    }
  if (i < n)
    {
      guint64 w = 0;

      memcpy (&w, s + i, n - i);
      h = (h ^ w) * G_GUINT64_CONSTANT (0x100000001b3);
    }
  return (guint32) mix64 (h);
}

static guint
next_power_of_two (guint n)
{
  guint size = 16;

  while (size < n)
    size <<= 1;
  return size;
}

/* ------------------------------------------------------------------------ */
/* The vocabulary: id ↔ token, tokens held in one string chunk */

typedef struct
{
  guint32 hash;
  gint32  id;   /* -1: empty */
} TokenSlot;

typedef struct
{
  GStringChunk *strings;
  const char  **tokens;   /* (n_ids) NULL where no token has the id */
  guint32      *lengths;  /* (n_ids) */
  guint         n_ids;
  TokenSlot    *slots;    /* open addressing, token → id */
  guint         mask;
  guint         n_used;
} Vocab;

static void
vocab_clear (Vocab *v)
{
  g_clear_pointer (&v->strings, g_string_chunk_free);
  g_clear_pointer (&v->tokens, g_free);
  g_clear_pointer (&v->lengths, g_free);
  g_clear_pointer (&v->slots, g_free);
}

static void
vocab_init (Vocab *v,
            guint  n_ids,
            guint  expected)
{
  v->strings = g_string_chunk_new (CLAMP (expected * 8, 1024, 1 << 20));
  v->n_ids = n_ids;
  v->tokens = g_new0 (const char *, MAX (n_ids, 1));
  v->lengths = g_new0 (guint32, MAX (n_ids, 1));
  v->mask = next_power_of_two (expected * 2 + 1) - 1;
  v->slots = g_new (TokenSlot, v->mask + 1);
  for (guint i = 0; i <= v->mask; i++)
    v->slots[i].id = -1;
}

static int
vocab_lookup (const Vocab *v,
              const char  *s,
              gsize        n)
{
  guint32 hash = hash_bytes (s, n);

  for (guint i = hash & v->mask;; i = (i + 1) & v->mask)
    {
      const TokenSlot *slot = &v->slots[i];

      if (slot->id < 0)
        return -1;
      if (slot->hash == hash && v->lengths[slot->id] == n &&
          memcmp (v->tokens[slot->id], s, n) == 0)
        return slot->id;
    }
}

static void
vocab_grow (Vocab *v)
{
  guint old_size = v->mask + 1;
  TokenSlot *old = v->slots;

  v->mask = old_size * 2 - 1;
  v->slots = g_new (TokenSlot, v->mask + 1);
  for (guint i = 0; i <= v->mask; i++)
    v->slots[i].id = -1;
  for (guint i = 0; i < old_size; i++)
    if (old[i].id >= 0)
      {
        guint j = old[i].hash & v->mask;

        while (v->slots[j].id >= 0)
          j = (j + 1) & v->mask;
        v->slots[j] = old[i];
      }
  g_free (old);
}

/* Gives id the token s, and maps s to id (replacing an earlier mapping of
 * s, as a later key replaces an earlier one in a JSON object). */
static void
vocab_set (Vocab      *v,
           const char *s,
           gsize       n,
           int         id)
{
  guint32 hash = hash_bytes (s, n);
  const char *copy = g_string_chunk_insert_len (v->strings, s, (gssize) n);
  guint i;

  v->tokens[id] = copy;
  v->lengths[id] = (guint32) n;

  for (i = hash & v->mask;; i = (i + 1) & v->mask)
    {
      TokenSlot *slot = &v->slots[i];

      if (slot->id < 0)
        break;
      if (slot->hash == hash && v->lengths[slot->id] == n &&
          memcmp (v->tokens[slot->id], s, n) == 0)
        {
          slot->id = id;
          return;
        }
    }
  v->slots[i].hash = hash;
  v->slots[i].id = id;
  if (++v->n_used * 2 > v->mask)
    vocab_grow (v);
}

/* ------------------------------------------------------------------------ */
/* Merges: (left id, right id) → (rank, merged id) */

typedef struct
{
  guint64 key;   /* 0: empty */
  guint32 rank;
  gint32  id;
} MergeSlot;

typedef struct
{
  MergeSlot *slots;
  guint      mask;
} Merges;

static inline guint64
merge_key (int left,
           int right)
{
  return ((guint64) (guint32) (left + 1) << 32) | (guint32) (right + 1);
}

static inline const MergeSlot *
merges_lookup (const Merges *m,
               int           left,
               int           right)
{
  guint64 key = merge_key (left, right);

  if (m->slots == NULL)
    return NULL;
  for (guint i = (guint) mix64 (key) & m->mask;; i = (i + 1) & m->mask)
    {
      const MergeSlot *slot = &m->slots[i];

      if (slot->key == key)
        return slot;
      if (slot->key == 0)
        return NULL;
    }
}

static void
merges_insert (Merges  *m,
               int      left,
               int      right,
               guint32  rank,
               int      id)
{
  guint64 key = merge_key (left, right);
  guint i;

  for (i = (guint) mix64 (key) & m->mask; m->slots[i].key != 0 && m->slots[i].key != key;
       i = (i + 1) & m->mask)
    ;
  m->slots[i].key = key;
  m->slots[i].rank = rank;
  m->slots[i].id = id;
}

/* ------------------------------------------------------------------------ */
/* The byte-level alphabet of GPT-2: each byte is a printable character. */

static gunichar byte_to_unichar[256];
static char byte_to_utf8[256][3];
static guint8 byte_to_utf8_length[256];
static gint16 unichar_to_byte[0x144];  /* -1 where no byte */

static gpointer
init_byte_level (gpointer data)
{
  guint n = 0;

  for (guint c = 0; c < G_N_ELEMENTS (unichar_to_byte); c++)
    unichar_to_byte[c] = -1;
  for (guint b = 0; b < 256; b++)
    {
      gboolean printable = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || b >= 0xae;

      byte_to_unichar[b] = printable ? b : 256 + n++;
      byte_to_utf8_length[b] = (guint8) g_unichar_to_utf8 (byte_to_unichar[b], byte_to_utf8[b]);
      unichar_to_byte[byte_to_unichar[b]] = (gint16) b;
    }
  return NULL;
}

static void
ensure_byte_level (void)
{
  static GOnce once = G_ONCE_INIT;

  g_once (&once, init_byte_level, NULL);
}

static void
append_byte_level (GString    *out,
                   const char *s,
                   gsize       n)
{
  for (gsize i = 0; i < n; i++)
    {
      guint8 b = (guint8) s[i];

      g_string_append_len (out, byte_to_utf8[b], byte_to_utf8_length[b]);
    }
}

/* ------------------------------------------------------------------------ */
/* A scratch arena for the strings that one encode call makes */

typedef struct
{
  GPtrArray *blocks;  /* char* of BLOCK bytes, or bigger */
  gsize      used;    /* in the last block */
  gsize      size;    /* of the last block */
} Scratch;

#define SCRATCH_BLOCK (64 * 1024)

static char *
scratch_alloc (Scratch *s,
               gsize    n)
{
  char *p;

  if (s->blocks->len == 0 || s->size - s->used < n)
    {
      gsize size = MAX (SCRATCH_BLOCK, n);

      g_ptr_array_add (s->blocks, g_malloc (size));
      s->size = size;
      s->used = 0;
    }
  p = (char *) g_ptr_array_index (s->blocks, s->blocks->len - 1) + s->used;
  s->used += n;
  return p;
}

static void
scratch_reset (Scratch *s)
{
  g_ptr_array_set_size (s->blocks, 0);
  s->used = 0;
  s->size = 0;
}

/* ------------------------------------------------------------------------ */
/* Components, as read from tokenizer.json */

typedef enum
{
  NORMALIZER_SEQUENCE,
  NORMALIZER_PREPEND,
  NORMALIZER_REPLACE,
  NORMALIZER_NFC,
  NORMALIZER_NFD,
  NORMALIZER_NFKC,
  NORMALIZER_NFKD,
  NORMALIZER_LOWERCASE,
  NORMALIZER_STRIP,
  NORMALIZER_STRIP_ACCENTS,
  NORMALIZER_BYTE_LEVEL,
} NormalizerKind;

typedef struct _Normalizer Normalizer;

struct _Normalizer
{
  NormalizerKind  kind;
  GPtrArray      *children;     /* Normalizer*, for a sequence */
  char           *content;      /* Prepend's text, Replace's replacement */
  gsize           content_length;
  LlmPattern     *pattern;      /* Replace */
  gboolean        strip_left;
  gboolean        strip_right;
};

typedef enum
{
  BEHAVIOR_REMOVED,
  BEHAVIOR_ISOLATED,
  BEHAVIOR_MERGED_WITH_PREVIOUS,
  BEHAVIOR_MERGED_WITH_NEXT,
  BEHAVIOR_CONTIGUOUS,
} Behavior;

typedef enum
{
  PRE_SPLIT,
  PRE_BYTE_LEVEL,
  PRE_METASPACE,
  PRE_DIGITS,
  PRE_PUNCTUATION,
  PRE_WHITESPACE,
  PRE_WHITESPACE_SPLIT,
  PRE_CHAR_DELIMITER,
  PRE_BERT,
  PRE_FIXED_LENGTH,
} PreKind;

typedef enum
{
  PREPEND_ALWAYS,
  PREPEND_FIRST,
  PREPEND_NEVER,
} PrependScheme;

/* One step of the pre-tokenizer; sequences are flattened into a list. */
typedef struct
{
  PreKind        kind;
  LlmPattern    *pattern;          /* Split; ByteLevel with use_regex */
  Behavior       behavior;
  gboolean       invert;
  gboolean       add_prefix_space; /* ByteLevel */
  gboolean       map_bytes;        /* ByteLevel: FALSE when the model maps them */
  char           replacement[8];   /* Metaspace (UTF-8, NUL-terminated) */
  guint          replacement_length;
  PrependScheme  prepend_scheme;
  gboolean       split;
  gboolean       individual_digits;
  gunichar       delimiter;        /* CharDelimiterSplit */
  guint          length;           /* FixedLength */
} PreStep;

typedef enum
{
  DECODER_SEQUENCE,
  DECODER_BYTE_LEVEL,
  DECODER_BYTE_FALLBACK,
  DECODER_FUSE,
  DECODER_STRIP,
  DECODER_REPLACE,
  DECODER_METASPACE,
  DECODER_BPE,
} DecoderKind;

typedef struct _Decoder Decoder;

struct _Decoder
{
  DecoderKind  kind;
  GPtrArray   *children;        /* Decoder*, for a sequence */
  LlmPattern  *pattern;         /* Replace */
  char        *content;         /* Replace's replacement; Strip's character; BPE's suffix */
  gsize        content_length;
  guint        start;           /* Strip */
  guint        stop;
  char         replacement[8];  /* Metaspace */
  guint        replacement_length;
  gboolean     prepend;         /* Metaspace: prepend_scheme is not "never" */
};

typedef struct
{
  char     *content;
  gsize     length;
  int       id;
  gboolean  special;
  gboolean  lstrip;
  gboolean  rstrip;
  gboolean  single_word;
  gboolean  normalized;
} AddedToken;

/* A byte trie of added tokens, for leftmost-longest matching. */
typedef struct
{
  guint32 first_child;   /* 0: none (the root is never a child) */
  guint32 next_sibling;
  gint32  token;         /* index in added, -1 if no token ends here */
  guint8  byte;
} TrieNode;

typedef struct
{
  GArray   *nodes;       /* TrieNode, the root first */
  gboolean  first_bytes[256];
  guint     n_tokens;
} Trie;

enum
{
  ID_ADDED = 1 << 0,
  ID_SPECIAL = 1 << 1,
};

/* The word cache: raw bytes of a word → its ids. */
typedef struct
{
  guint32 hash;
  guint32 key_length;    /* 0: empty */
  guint32 offset;        /* in data: the key, then the ids */
  guint32 n_ids;
} CacheSlot;

typedef struct
{
  CacheSlot *slots;
  guint      mask;
  guint      n_entries;
  GString   *data;
} Cache;

typedef struct
{
  gint32  left;
  gint32  right;
  guint32 rank;
  gint32  left_id;
  gint32  right_id;
} HeapEntry;

struct _LlmTokenizer
{
  char         *name;
  Vocab         vocab;
  guint8       *id_flags;          /* (vocab.n_ids) ID_ADDED, ID_SPECIAL */

  /* The BPE model. */
  Merges        merges;
  int           unk_id;            /* -1: none */
  gboolean      byte_fallback;
  gboolean      fuse_unk;
  gboolean      ignore_merges;
  char         *continuing_subword_prefix;  /* NULL when none or empty */
  char         *end_of_word_suffix;
  int           byte_fallback_ids[256];     /* "<0x41>" …, -1 when absent */
  int           byte_level_ids[256];        /* "A", "Ġ" …, -1 when absent */
  gboolean      model_maps_bytes;           /* words reach the model as raw bytes */
  gboolean      metaspace_chunks;           /* see can_chunk_at_metaspace() */

  /* Added tokens. */
  AddedToken   *added;
  guint         n_added;
  Trie          raw_trie;
  Trie          normalized_trie;

  Normalizer   *normalizer;
  GPtrArray    *pre_steps;        /* PreStep* */
  GArray       *template;         /* int: ids, -1 for the sequence; NULL: the sequence alone */
  Decoder      *decoder;

  /* From tokenizer_config.json. */
  GHashTable   *special_tokens;   /* "bos_token" → content */
  int           bos_id;
  int           eos_id;
  gboolean      clean_up_spaces;
  gboolean      split_special_tokens;

  /* Encoding state, under the lock. */
  GMutex        lock;
  Cache         cache;
  Scratch       scratch;
  GString      *normalized;
  GString      *word;
  GArray       *segments;         /* Segment */
  GArray       *sub_segments;
  GArray       *pieces;           /* Piece */
  GArray       *pieces_next;
  GArray       *last_pieces;
  GArray       *spans;            /* LlmSpan */
  GArray       *sequence;         /* int */
  GArray       *symbols;          /* Symbol */
  GArray       *heap;             /* HeapEntry */
};

/* ------------------------------------------------------------------------ */
/* Freeing */

static void
normalizer_free (gpointer data)
{
  Normalizer *n = data;

  if (n == NULL)
    return;
  g_clear_pointer (&n->children, g_ptr_array_unref);
  g_clear_pointer (&n->pattern, llm_pattern_free);
  g_free (n->content);
  g_free (n);
}

static void
pre_step_free (gpointer data)
{
  PreStep *step = data;

  g_clear_pointer (&step->pattern, llm_pattern_free);
  g_free (step);
}

static void
decoder_free (gpointer data)
{
  Decoder *d = data;

  if (d == NULL)
    return;
  g_clear_pointer (&d->children, g_ptr_array_unref);
  g_clear_pointer (&d->pattern, llm_pattern_free);
  g_free (d->content);
  g_free (d);
}

void
llm_tokenizer_free (LlmTokenizer *tok)
{
  if (tok == NULL)
    return;
  g_free (tok->name);
  vocab_clear (&tok->vocab);
  g_free (tok->id_flags);
  g_free (tok->merges.slots);
  g_free (tok->continuing_subword_prefix);
  g_free (tok->end_of_word_suffix);
  for (guint i = 0; i < tok->n_added; i++)
    g_free (tok->added[i].content);
  g_free (tok->added);
  g_clear_pointer (&tok->raw_trie.nodes, g_array_unref);
  g_clear_pointer (&tok->normalized_trie.nodes, g_array_unref);
  normalizer_free (tok->normalizer);
  g_clear_pointer (&tok->pre_steps, g_ptr_array_unref);
  g_clear_pointer (&tok->template, g_array_unref);
  decoder_free (tok->decoder);
  g_clear_pointer (&tok->special_tokens, g_hash_table_unref);
  g_mutex_clear (&tok->lock);
  g_free (tok->cache.slots);
  if (tok->cache.data != NULL)
    g_string_free (tok->cache.data, TRUE);
  g_clear_pointer (&tok->scratch.blocks, g_ptr_array_unref);
  if (tok->normalized != NULL)
    g_string_free (tok->normalized, TRUE);
  if (tok->word != NULL)
    g_string_free (tok->word, TRUE);
  g_clear_pointer (&tok->segments, g_array_unref);
  g_clear_pointer (&tok->sub_segments, g_array_unref);
  g_clear_pointer (&tok->pieces, g_array_unref);
  g_clear_pointer (&tok->pieces_next, g_array_unref);
  g_clear_pointer (&tok->last_pieces, g_array_unref);
  g_clear_pointer (&tok->spans, g_array_unref);
  g_clear_pointer (&tok->sequence, g_array_unref);
  g_clear_pointer (&tok->symbols, g_array_unref);
  g_clear_pointer (&tok->heap, g_array_unref);
  g_free (tok);
}

/* ------------------------------------------------------------------------ */
/* Reading tokenizer.json: messages name the file, the line and column, the
 * path of the field and the problem. */

typedef struct
{
  LlmJsonDoc  *doc;
  GError     **error;
} Reader;

G_GNUC_PRINTF (5, 6)
static gboolean
reader_fail (Reader        *r,
             int            code,
             const LlmJson *at,
             const char    *path,
             const char    *format,
             ...)
{
  g_autofree char *position = llm_json_doc_dup_position (r->doc, at);
  g_autofree char *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (r->error, LLM_TOKENIZER_ERROR, code, "%s: %s: %s", position, path, message);
  return FALSE;
}

#define INVALID(r, at, path, ...) \
  reader_fail ((r), LLM_TOKENIZER_ERROR_INVALID, (at), (path), __VA_ARGS__)
#define UNSUPPORTED(r, at, path, ...) \
  reader_fail ((r), LLM_TOKENIZER_ERROR_UNSUPPORTED, (at), (path), __VA_ARGS__)

static gboolean
expect_type (Reader        *r,
             const LlmJson *value,
             const char    *path,
             LlmJsonType    type)
{
  if (value->type == type || (type == LLM_JSON_TRUE && value->type == LLM_JSON_FALSE))
    return TRUE;
  return INVALID (r, value, path, "expected %s, found %s",
                  llm_json_type_name (type), llm_json_type_name (value->type));
}

/* A string member: *out is NULL when it is absent or null. */
static gboolean
read_string (Reader         *r,
             const LlmJson  *object,
             const char     *path,
             const char     *key,
             const LlmJson **out)
{
  const LlmJson *member = llm_json_get_member (object, key);
  g_autofree char *member_path = NULL;

  *out = NULL;
  if (member == NULL || member->type == LLM_JSON_NULL)
    return TRUE;
  member_path = g_strdup_printf ("%s.%s", path, key);
  if (!expect_type (r, member, member_path, LLM_JSON_STRING))
    return FALSE;
  *out = member;
  return TRUE;
}

static gboolean
read_bool (Reader        *r,
           const LlmJson *object,
           const char    *path,
           const char    *key,
           gboolean       fallback,
           gboolean      *out)
{
  const LlmJson *member = llm_json_get_member (object, key);
  g_autofree char *member_path = NULL;

  *out = fallback;
  if (member == NULL || member->type == LLM_JSON_NULL)
    return TRUE;
  member_path = g_strdup_printf ("%s.%s", path, key);
  if (!expect_type (r, member, member_path, LLM_JSON_TRUE))
    return FALSE;
  *out = member->type == LLM_JSON_TRUE;
  return TRUE;
}

static gboolean
read_uint (Reader        *r,
           const LlmJson *object,
           const char    *path,
           const char    *key,
           guint          fallback,
           guint          max,
           guint         *out)
{
  const LlmJson *member = llm_json_get_member (object, key);
  g_autofree char *member_path = NULL;

  *out = fallback;
  if (member == NULL || member->type == LLM_JSON_NULL)
    return TRUE;
  member_path = g_strdup_printf ("%s.%s", path, key);
  if (!expect_type (r, member, member_path, LLM_JSON_NUMBER))
    return FALSE;
  if (!(member->number >= 0 && member->number <= max) || member->number != (guint) member->number)
    return INVALID (r, member, member_path, "expected an integer from 0 to %u", max);
  *out = (guint) member->number;
  return TRUE;
}

/* The "type" of a component; NULL (and no error) when absent. */
static gboolean
read_type (Reader         *r,
           const LlmJson  *object,
           const char     *path,
           const char    **type)
{
  const LlmJson *member;

  *type = NULL;
  if (!expect_type (r, object, path, LLM_JSON_OBJECT) ||
      !read_string (r, object, path, "type", &member))
    return FALSE;
  if (member != NULL)
    *type = member->string;
  return TRUE;
}

/* A pattern: {"String": "…"} or {"Regex": "…"}. */
static LlmPattern *
read_pattern (Reader        *r,
              const LlmJson *object,
              const char    *path)
{
  const LlmJson *member = llm_json_get_member (object, "pattern");
  g_autofree char *pattern_path = g_strdup_printf ("%s.pattern", path);
  const LlmJson *string, *regex;
  g_autoptr(GError) local_error = NULL;
  LlmPattern *pattern;

  if (member == NULL)
    {
      INVALID (r, object, path, "no “pattern”");
      return NULL;
    }
  if (!expect_type (r, member, pattern_path, LLM_JSON_OBJECT) ||
      !read_string (r, member, pattern_path, "String", &string) ||
      !read_string (r, member, pattern_path, "Regex", &regex))
    return NULL;
  if (string != NULL)
    return llm_pattern_new_string (string->string, string->length);
  if (regex == NULL)
    {
      INVALID (r, member, pattern_path, "expected {\"String\": …} or {\"Regex\": …}");
      return NULL;
    }
  if (strlen (regex->string) != regex->length)
    {
      INVALID (r, regex, pattern_path, "a regex with a NUL character");
      return NULL;
    }
  pattern = llm_pattern_new_regex (regex->string, &local_error);
  if (pattern == NULL)
    UNSUPPORTED (r, regex, pattern_path, "%s", local_error->message);
  return pattern;
}

/* A single character, as Metaspace's replacement and Strip's content are. */
static gboolean
read_char (Reader        *r,
           const LlmJson *object,
           const char    *path,
           const char    *key,
           const char    *fallback,
           char           out[8],
           guint         *out_length)
{
  const LlmJson *member;
  const char *s = fallback;
  gsize n;

  if (!read_string (r, object, path, key, &member))
    return FALSE;
  if (member != NULL)
    s = member->string;
  n = strlen (s);
  if (n == 0 || n > 4 || g_utf8_strlen (s, (gssize) n) != 1 ||
      (member != NULL && member->length != n))
    return INVALID (r, member, path, "“%s” must be one character", key);
  memcpy (out, s, n + 1);
  *out_length = (guint) n;
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Normalizers */

static Normalizer *read_normalizer (Reader *r, const LlmJson *value, const char *path);

static Normalizer *
read_normalizer (Reader        *r,
                 const LlmJson *value,
                 const char    *path)
{
  g_autoptr(GError) local_error = NULL;
  const char *type;
  Normalizer *n;

  if (!read_type (r, value, path, &type))
    return NULL;
  if (type == NULL)
    {
      INVALID (r, value, path, "no “type”");
      return NULL;
    }

  n = g_new0 (Normalizer, 1);
  if (strcmp (type, "Sequence") == 0)
    {
      const LlmJson *list = llm_json_get_member (value, "normalizers");
      g_autofree char *list_path = g_strdup_printf ("%s.normalizers", path);

      n->kind = NORMALIZER_SEQUENCE;
      n->children = g_ptr_array_new_with_free_func (normalizer_free);
      if (list == NULL || !expect_type (r, list, list_path, LLM_JSON_ARRAY))
        {
          if (list == NULL)
            INVALID (r, value, path, "no “normalizers”");
          goto fail;
        }
      for (guint i = 0; i < list->length; i++)
        {
          g_autofree char *item_path = g_strdup_printf ("%s[%u]", list_path, i);
          Normalizer *child;

          if (list->items[i].type == LLM_JSON_NULL)
            continue;
          child = read_normalizer (r, &list->items[i], item_path);
          if (child == NULL)
            goto fail;
          g_ptr_array_add (n->children, child);
        }
    }
  else if (strcmp (type, "Prepend") == 0)
    {
      const LlmJson *prepend;

      n->kind = NORMALIZER_PREPEND;
      if (!read_string (r, value, path, "prepend", &prepend))
        goto fail;
      if (prepend == NULL)
        {
          INVALID (r, value, path, "no “prepend”");
          goto fail;
        }
      n->content = g_memdup2 (prepend->string, prepend->length + 1);
      n->content_length = prepend->length;
    }
  else if (strcmp (type, "Replace") == 0)
    {
      const LlmJson *content;

      n->kind = NORMALIZER_REPLACE;
      n->pattern = read_pattern (r, value, path);
      if (n->pattern == NULL || !read_string (r, value, path, "content", &content))
        goto fail;
      n->content = g_memdup2 (content ? content->string : "", content ? content->length + 1 : 1);
      n->content_length = content ? content->length : 0;
    }
  else if (strcmp (type, "NFC") == 0)
    n->kind = NORMALIZER_NFC;
  else if (strcmp (type, "NFD") == 0)
    n->kind = NORMALIZER_NFD;
  else if (strcmp (type, "NFKC") == 0)
    n->kind = NORMALIZER_NFKC;
  else if (strcmp (type, "NFKD") == 0)
    n->kind = NORMALIZER_NFKD;
  else if (strcmp (type, "Lowercase") == 0)
    n->kind = NORMALIZER_LOWERCASE;
  else if (strcmp (type, "StripAccents") == 0)
    n->kind = NORMALIZER_STRIP_ACCENTS;
  else if (strcmp (type, "ByteLevel") == 0)
    n->kind = NORMALIZER_BYTE_LEVEL;
  else if (strcmp (type, "Strip") == 0)
    {
      n->kind = NORMALIZER_STRIP;
      if (!read_bool (r, value, path, "strip_left", TRUE, &n->strip_left) ||
          !read_bool (r, value, path, "strip_right", TRUE, &n->strip_right))
        goto fail;
    }
  else
    {
      UNSUPPORTED (r, value, path,
                   "unsupported normalizer type “%s” (supported: Sequence, Prepend, Replace, NFC, "
                   "NFD, NFKC, NFKD, Lowercase, Strip, StripAccents, ByteLevel)", type);
      goto fail;
    }
  return n;

fail:
  normalizer_free (n);
  return NULL;
}

/* Applies a Unicode normalization form to the text, in place. */
static void
normalize_unicode (GString        *text,
                   GNormalizeMode  mode,
                   GString        *tmp)
{
  const char *s = text->str;
  gsize n = text->len, i = 0, copied = 0;
  gboolean changed = FALSE;

  /* ASCII is left as it is by every form, and an ASCII character never
   * combines with one before it; so only the runs of non-ASCII characters,
   * with the ASCII character before them, need normalizing. */
  g_string_truncate (tmp, 0);
  while (i < n)
    {
      gsize start, end;
      g_autofree char *normalized = NULL;

      while (i < n && (guchar) s[i] < 0x80)
        i++;
      if (i >= n)
        break;
      /* g_utf8_normalize() stops at a NUL, which composes with nothing. */
      start = i > 0 && s[i - 1] != '\0' ? i - 1 : i;
      end = i;
      while (end < n && (guchar) s[end] >= 0x80)
        end++;
      normalized = g_utf8_normalize (s + start, (gssize) (end - start), mode);
      if (normalized != NULL &&
          (strlen (normalized) != end - start || memcmp (normalized, s + start, end - start) != 0))
        {
          g_string_append_len (tmp, s + copied, (gssize) (start - copied));
          g_string_append (tmp, normalized);
          copied = end;
          changed = TRUE;
        }
      i = end;
    }
  if (!changed)
    return;
  g_string_append_len (tmp, s + copied, (gssize) (n - copied));
  g_string_assign (text, "");
  g_string_append_len (text, tmp->str, (gssize) tmp->len);
}

static void
replace_all (GString    *text,
             LlmPattern *pattern,
             const char *content,
             gsize       content_length,
             GArray     *spans,
             GString    *tmp)
{
  gsize copied = 0;

  g_array_set_size (spans, 0);
  llm_pattern_find_all (pattern, text->str, text->len, spans);
  if (spans->len == 0)
    return;
  g_string_truncate (tmp, 0);
  for (guint i = 0; i < spans->len; i++)
    {
      const LlmSpan *span = &g_array_index (spans, LlmSpan, i);

      g_string_append_len (tmp, text->str + copied, (gssize) (span->start - copied));
      g_string_append_len (tmp, content, (gssize) content_length);
      copied = span->end;
    }
  g_string_append_len (tmp, text->str + copied, (gssize) (text->len - copied));
  g_string_truncate (text, 0);
  g_string_append_len (text, tmp->str, (gssize) tmp->len);
}

static void
normalize (const Normalizer *n,
           GString          *text,
           GArray           *spans)
{
  g_autoptr(GString) tmp = NULL;

  switch (n->kind)
    {
    case NORMALIZER_SEQUENCE:
      for (guint i = 0; i < n->children->len; i++)
        normalize (g_ptr_array_index (n->children, i), text, spans);
      return;
    case NORMALIZER_PREPEND:
      if (text->len > 0)
        g_string_prepend_len (text, n->content, (gssize) n->content_length);
      return;
    case NORMALIZER_REPLACE:
      tmp = g_string_new (NULL);
      replace_all (text, n->pattern, n->content, n->content_length, spans, tmp);
      return;
    case NORMALIZER_NFC:
    case NORMALIZER_NFD:
    case NORMALIZER_NFKC:
    case NORMALIZER_NFKD:
      {
        static const GNormalizeMode modes[] = {
          [NORMALIZER_NFC] = G_NORMALIZE_NFC, [NORMALIZER_NFD] = G_NORMALIZE_NFD,
          [NORMALIZER_NFKC] = G_NORMALIZE_NFKC, [NORMALIZER_NFKD] = G_NORMALIZE_NFKD,
        };

        tmp = g_string_new (NULL);
        normalize_unicode (text, modes[n->kind], tmp);
      }
      return;
    case NORMALIZER_LOWERCASE:
      /* Character by character, whatever the locale, as Rust's
       * char::to_lowercase(): "İ" is the one character that becomes two. */
      tmp = g_string_sized_new (text->len);
      for (gsize i = 0; i < text->len;)
        {
          guint len;
          gunichar c = llm_utf8_get_char (text->str + i, &len);

          if (c == 0x130)
            g_string_append (tmp, "i\xcc\x87");
          else
            g_string_append_unichar (tmp, g_unichar_tolower (c));
          i += len;
        }
      g_string_truncate (text, 0);
      g_string_append_len (text, tmp->str, (gssize) tmp->len);
      return;
    case NORMALIZER_STRIP:
      {
        gsize start = 0, end = text->len;
        guint len;

        while (n->strip_left && start < end &&
               (llm_unichar_class (llm_utf8_get_char (text->str + start, &len)) & LLM_CHAR_SPACE))
          start += len;
        while (n->strip_right && end > start)
          {
            gsize last = end - 1;

            while (last > start && ((guchar) text->str[last] & 0xc0) == 0x80)
              last--;
            if (!(llm_unichar_class (llm_utf8_get_char (text->str + last, &len)) & LLM_CHAR_SPACE))
              break;
            end = last;
          }
        g_string_truncate (text, end);
        g_string_erase (text, 0, (gssize) start);
      }
      return;
    case NORMALIZER_STRIP_ACCENTS:
      tmp = g_string_new (NULL);
      for (gsize i = 0; i < text->len;)
        {
          guint len;
          gunichar c = llm_utf8_get_char (text->str + i, &len);

          if (!(llm_unichar_class (c) & LLM_CHAR_MARK))
            g_string_append_len (tmp, text->str + i, len);
          i += len;
        }
      g_string_truncate (text, 0);
      g_string_append_len (text, tmp->str, (gssize) tmp->len);
      return;
    case NORMALIZER_BYTE_LEVEL:
      tmp = g_string_new (NULL);
      append_byte_level (tmp, text->str, text->len);
      g_string_truncate (text, 0);
      g_string_append_len (text, tmp->str, (gssize) tmp->len);
      return;
    default:
      g_assert_not_reached ();
    }
}

/* ------------------------------------------------------------------------ */
/* Pre-tokenizers */

static gboolean
read_behavior (Reader        *r,
               const LlmJson *object,
               const char    *path,
               Behavior       fallback,
               Behavior      *out)
{
  static const char *const names[] = {
    [BEHAVIOR_REMOVED] = "Removed", [BEHAVIOR_ISOLATED] = "Isolated",
    [BEHAVIOR_MERGED_WITH_PREVIOUS] = "MergedWithPrevious",
    [BEHAVIOR_MERGED_WITH_NEXT] = "MergedWithNext", [BEHAVIOR_CONTIGUOUS] = "Contiguous",
  };
  const LlmJson *member;

  *out = fallback;
  if (!read_string (r, object, path, "behavior", &member))
    return FALSE;
  if (member == NULL)
    return TRUE;
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    if (strcmp (member->string, names[i]) == 0)
      {
        *out = (Behavior) i;
        return TRUE;
      }
  return UNSUPPORTED (r, member, path, "unknown split behavior “%s”", member->string);
}

static gboolean
read_pre_tokenizer (Reader        *r,
                    const LlmJson *value,
                    const char    *path,
                    GPtrArray     *steps)
{
  const char *type;
  PreStep *step;

  if (!read_type (r, value, path, &type))
    return FALSE;
  if (type == NULL)
    return INVALID (r, value, path, "no “type”");

  if (strcmp (type, "Sequence") == 0)
    {
      const LlmJson *list = llm_json_get_member (value, "pretokenizers");
      g_autofree char *list_path = g_strdup_printf ("%s.pretokenizers", path);

      if (list == NULL)
        return INVALID (r, value, path, "no “pretokenizers”");
      if (!expect_type (r, list, list_path, LLM_JSON_ARRAY))
        return FALSE;
      for (guint i = 0; i < list->length; i++)
        {
          g_autofree char *item_path = g_strdup_printf ("%s[%u]", list_path, i);

          if (list->items[i].type != LLM_JSON_NULL &&
              !read_pre_tokenizer (r, &list->items[i], item_path, steps))
            return FALSE;
        }
      return TRUE;
    }

  step = g_new0 (PreStep, 1);
  g_ptr_array_add (steps, step);
  if (strcmp (type, "Split") == 0)
    {
      step->kind = PRE_SPLIT;
      step->pattern = read_pattern (r, value, path);
      return step->pattern != NULL &&
             read_behavior (r, value, path, BEHAVIOR_ISOLATED, &step->behavior) &&
             read_bool (r, value, path, "invert", FALSE, &step->invert);
    }
  if (strcmp (type, "ByteLevel") == 0)
    {
      gboolean use_regex;

      step->kind = PRE_BYTE_LEVEL;
      step->map_bytes = TRUE;
      if (!read_bool (r, value, path, "add_prefix_space", FALSE, &step->add_prefix_space) ||
          !read_bool (r, value, path, "use_regex", TRUE, &use_regex))
        return FALSE;
      if (use_regex)
        step->pattern = llm_pattern_new_regex ("'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+|"
                                               " ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+", NULL);
      step->behavior = BEHAVIOR_ISOLATED;
      return TRUE;
    }
  if (strcmp (type, "Metaspace") == 0)
    {
      const LlmJson *scheme;
      gboolean add_prefix_space;

      step->kind = PRE_METASPACE;
      if (!read_char (r, value, path, "replacement", "\xe2\x96\x81", step->replacement,
                      &step->replacement_length) ||
          !read_bool (r, value, path, "add_prefix_space", TRUE, &add_prefix_space) ||
          !read_bool (r, value, path, "split", TRUE, &step->split) ||
          !read_string (r, value, path, "prepend_scheme", &scheme))
        return FALSE;
      step->prepend_scheme = add_prefix_space ? PREPEND_ALWAYS : PREPEND_NEVER;
      if (scheme != NULL)
        {
          if (strcmp (scheme->string, "always") == 0)
            step->prepend_scheme = PREPEND_ALWAYS;
          else if (strcmp (scheme->string, "first") == 0)
            step->prepend_scheme = PREPEND_FIRST;
          else if (strcmp (scheme->string, "never") == 0)
            step->prepend_scheme = PREPEND_NEVER;
          else
            return UNSUPPORTED (r, scheme, path, "unknown prepend_scheme “%s”", scheme->string);
        }
      return TRUE;
    }
  if (strcmp (type, "Digits") == 0)
    {
      step->kind = PRE_DIGITS;
      return read_bool (r, value, path, "individual_digits", FALSE, &step->individual_digits);
    }
  if (strcmp (type, "Punctuation") == 0)
    {
      step->kind = PRE_PUNCTUATION;
      return read_behavior (r, value, path, BEHAVIOR_ISOLATED, &step->behavior);
    }
  if (strcmp (type, "Whitespace") == 0)
    {
      step->kind = PRE_WHITESPACE;
      return TRUE;
    }
  if (strcmp (type, "WhitespaceSplit") == 0)
    {
      step->kind = PRE_WHITESPACE_SPLIT;
      return TRUE;
    }
  if (strcmp (type, "BertPreTokenizer") == 0)
    {
      step->kind = PRE_BERT;
      return TRUE;
    }
  if (strcmp (type, "CharDelimiterSplit") == 0)
    {
      guint len;

      step->kind = PRE_CHAR_DELIMITER;
      if (!read_char (r, value, path, "delimiter", " ", step->replacement, &len))
        return FALSE;
      step->delimiter = g_utf8_get_char (step->replacement);
      return TRUE;
    }
  if (strcmp (type, "FixedLength") == 0)
    {
      step->kind = PRE_FIXED_LENGTH;
      if (!read_uint (r, value, path, "length", 5, G_MAXINT, &step->length))
        return FALSE;
      if (step->length == 0)
        return INVALID (r, value, path, "a FixedLength of 0");
      return TRUE;
    }
  return UNSUPPORTED (r, value, path,
                      "unsupported pre-tokenizer type “%s” (supported: Sequence, Split, ByteLevel, "
                      "Metaspace, Digits, Punctuation, Whitespace, WhitespaceSplit, "
                      "CharDelimiterSplit, BertPreTokenizer, FixedLength)", type);
}

/* A piece of text on its way to the model. */
typedef struct
{
  const char *text;
  gsize       length;
  gboolean    first;   /* it starts the input text */
} Piece;

typedef struct
{
  gsize    start;
  gsize    end;
  gboolean is_match;
} Split;

/* The spans of the characters c of text for which class_test (c) holds, each
 * its own match, as Rust's `impl Pattern for Fn(char) -> bool` gives them. */
typedef gboolean (*CharTest) (gunichar c, gpointer data);

static void
find_chars (const char *text,
            gsize       length,
            CharTest    test,
            gpointer    data,
            GArray     *spans)
{
  for (gsize i = 0; i < length;)
    {
      guint len;
      gunichar c = llm_utf8_get_char (text + i, &len);

      if (test (c, data))
        {
          LlmSpan span = { i, i + len };

          g_array_append_val (spans, span);
        }
      i += len;
    }
}

static void
emit_piece (GArray       *out,
            const Piece  *from,
            gsize         start,
            gsize         end)
{
  Piece piece = { from->text + start, end - start, from->first && start == 0 };

  if (end > start)
    g_array_append_val (out, piece);
}

/* Splits piece at the matches (spans relative to it), with behavior, as
 * Rust's NormalizedString::split(). */
static void
split_piece (const Piece *piece,
             const GArray *spans,
             Behavior      behavior,
             gboolean      invert,
             GArray       *out)
{
  g_autoptr(GArray) splits = g_array_sized_new (FALSE, FALSE, sizeof (Split), spans->len * 2 + 1);
  g_autoptr(GArray) merged = NULL;
  gsize previous = 0;

  for (guint i = 0; i < spans->len; i++)
    {
      const LlmSpan *span = &g_array_index (spans, LlmSpan, i);
      Split gap = { previous, span->start, FALSE };
      Split match = { span->start, span->end, TRUE };

      if (span->start > previous)
        g_array_append_val (splits, gap);
      g_array_append_val (splits, match);
      previous = span->end;
    }
  if (previous < piece->length)
    {
      Split gap = { previous, piece->length, FALSE };

      g_array_append_val (splits, gap);
    }
  if (invert)
    for (guint i = 0; i < splits->len; i++)
      g_array_index (splits, Split, i).is_match ^= TRUE;

  merged = g_array_sized_new (FALSE, FALSE, sizeof (Split), splits->len);
  switch (behavior)
    {
    case BEHAVIOR_REMOVED:
      for (guint i = 0; i < splits->len; i++)
        if (!g_array_index (splits, Split, i).is_match)
          g_array_append_val (merged, g_array_index (splits, Split, i));
      break;
    case BEHAVIOR_ISOLATED:
      g_array_append_vals (merged, splits->data, splits->len);
      break;
    case BEHAVIOR_MERGED_WITH_PREVIOUS:
      {
        gboolean previous_match = FALSE;

        for (guint i = 0; i < splits->len; i++)
          {
            Split s = g_array_index (splits, Split, i);

            if (s.is_match && !previous_match && merged->len > 0)
              g_array_index (merged, Split, merged->len - 1).end = s.end;
            else
              g_array_append_val (merged, s);
            previous_match = s.is_match;
          }
      }
      break;
    case BEHAVIOR_MERGED_WITH_NEXT:
      {
        gboolean previous_match = FALSE;

        for (guint i = splits->len; i-- > 0;)
          {
            Split s = g_array_index (splits, Split, i);

            if (s.is_match && !previous_match && merged->len > 0)
              g_array_index (merged, Split, merged->len - 1).start = s.start;
            else
              g_array_append_val (merged, s);
            previous_match = s.is_match;
          }
        for (guint i = 0; i < merged->len / 2; i++)
          {
            Split tmp = g_array_index (merged, Split, i);

            g_array_index (merged, Split, i) = g_array_index (merged, Split, merged->len - 1 - i);
            g_array_index (merged, Split, merged->len - 1 - i) = tmp;
          }
      }
      break;
    case BEHAVIOR_CONTIGUOUS:
      {
        gboolean previous_match = FALSE;

        for (guint i = 0; i < splits->len; i++)
          {
            Split s = g_array_index (splits, Split, i);

            if (s.is_match == previous_match && merged->len > 0)
              g_array_index (merged, Split, merged->len - 1).end = s.end;
            else
              g_array_append_val (merged, s);
            previous_match = s.is_match;
          }
      }
      break;
    default:
      g_assert_not_reached ();
    }

  for (guint i = 0; i < merged->len; i++)
    {
      const Split *s = &g_array_index (merged, Split, i);

      emit_piece (out, piece, s->start, s->end);
    }
}

static gboolean
is_space_char (gunichar c,
               gpointer data)
{
  return (llm_unichar_class (c) & LLM_CHAR_SPACE) != 0;
}

static gboolean
is_numeric_char (gunichar c,
                 gpointer data)
{
  return (llm_unichar_class (c) & LLM_CHAR_NUMBER) != 0;
}

/* Rust's is_punc: ASCII punctuation and symbols, and Unicode's P*. */
static gboolean
is_punctuation_char (gunichar c,
                     gpointer data)
{
  return (c < 0x80 && g_ascii_ispunct ((char) c)) ||
         (llm_unichar_class (c) & LLM_CHAR_PUNCTUATION) != 0;
}

static gboolean
is_given_char (gunichar c,
               gpointer data)
{
  return c == *(const gunichar *) data;
}

/* Copies text into the scratch arena, with each space replaced by
 * replacement and, if prepend, replacement before. */
static Piece
metaspace_piece (Scratch     *scratch,
                 const Piece *piece,
                 const PreStep *step)
{
  gsize spaces = 0, n, j = 0;
  gboolean prepend;
  char *out;
  Piece result = { NULL, 0, piece->first };

  for (gsize i = 0; i < piece->length; i++)
    spaces += piece->text[i] == ' ';
  prepend = step->prepend_scheme == PREPEND_ALWAYS ||
            (step->prepend_scheme == PREPEND_FIRST && piece->first);
  /* Not when the text already starts with the replacement (or a space,
   * which becomes one). */
  if (prepend && (piece->text[0] == ' ' ||
                  (piece->length >= step->replacement_length &&
                   memcmp (piece->text, step->replacement, step->replacement_length) == 0)))
    prepend = FALSE;

  n = piece->length + spaces * (step->replacement_length - 1) +
      (prepend ? step->replacement_length : 0);
  out = scratch_alloc (scratch, MAX (n, 1));
  if (prepend)
    {
      memcpy (out, step->replacement, step->replacement_length);
      j = step->replacement_length;
    }
  for (gsize i = 0; i < piece->length; i++)
    {
      if (piece->text[i] == ' ')
        {
          memcpy (out + j, step->replacement, step->replacement_length);
          j += step->replacement_length;
        }
      else
        out[j++] = piece->text[i];
    }
  result.text = out;
  result.length = j;
  return result;
}

/* Runs one pre-tokenizer step on piece, appending the resulting pieces. */
static void
pre_tokenize_step (LlmTokenizer  *tok,
                   const PreStep *step,
                   const Piece   *piece,
                   GArray        *out)
{
  GArray *spans = tok->spans;

  g_array_set_size (spans, 0);
  switch (step->kind)
    {
    case PRE_SPLIT:
      llm_pattern_find_all (step->pattern, piece->text, piece->length, spans);
      /* The regexes of GPT-2, Llama 3 and Qwen tile the text: isolated, the
       * matches are the pieces. */
      if (llm_pattern_is_native (step->pattern) && step->behavior == BEHAVIOR_ISOLATED &&
          !step->invert)
        {
          for (guint i = 0; i < spans->len; i++)
            {
              const LlmSpan *span = &g_array_index (spans, LlmSpan, i);

              emit_piece (out, piece, span->start, span->end);
            }
        }
      else
        split_piece (piece, spans, step->behavior, step->invert, out);
      return;

    case PRE_BYTE_LEVEL:
      {
        Piece p = *piece;
        g_autoptr(GArray) split = NULL;

        if (step->add_prefix_space && (p.length == 0 || p.text[0] != ' '))
          {
            char *text = scratch_alloc (&tok->scratch, p.length + 1);

            text[0] = ' ';
            memcpy (text + 1, p.text, p.length);
            p.text = text;
            p.length++;
          }
        split = g_array_new (FALSE, FALSE, sizeof (Piece));
        if (step->pattern != NULL)
          {
            llm_pattern_find_all (step->pattern, p.text, p.length, spans);
            for (guint i = 0; i < spans->len; i++)
              {
                const LlmSpan *span = &g_array_index (spans, LlmSpan, i);

                emit_piece (split, &p, span->start, span->end);
              }
          }
        else
          g_array_append_val (split, p);

        for (guint i = 0; i < split->len; i++)
          {
            Piece q = g_array_index (split, Piece, i);

            if (step->map_bytes)
              {
                gsize n = 0;
                char *text;

                for (gsize j = 0; j < q.length; j++)
                  n += byte_to_utf8_length[(guint8) q.text[j]];
                text = scratch_alloc (&tok->scratch, n);
                n = 0;
                for (gsize j = 0; j < q.length; j++)
                  {
                    guint8 b = (guint8) q.text[j];

                    memcpy (text + n, byte_to_utf8[b], byte_to_utf8_length[b]);
                    n += byte_to_utf8_length[b];
                  }
                q.text = text;
                q.length = n;
              }
            g_array_append_val (out, q);
          }
      }
      return;

    case PRE_METASPACE:
      {
        Piece p = metaspace_piece (&tok->scratch, piece, step);

        if (step->split)
          {
            gunichar r = g_utf8_get_char (step->replacement);

            find_chars (p.text, p.length, is_given_char, &r, spans);
            split_piece (&p, spans, BEHAVIOR_MERGED_WITH_NEXT, FALSE, out);
          }
        else if (p.length > 0)
          g_array_append_val (out, p);
      }
      return;

    case PRE_DIGITS:
      find_chars (piece->text, piece->length, is_numeric_char, NULL, spans);
      split_piece (piece, spans, step->individual_digits ? BEHAVIOR_ISOLATED : BEHAVIOR_CONTIGUOUS,
                   FALSE, out);
      return;

    case PRE_PUNCTUATION:
      find_chars (piece->text, piece->length, is_punctuation_char, NULL, spans);
      split_piece (piece, spans, step->behavior, FALSE, out);
      return;

    case PRE_WHITESPACE_SPLIT:
      find_chars (piece->text, piece->length, is_space_char, NULL, spans);
      split_piece (piece, spans, BEHAVIOR_REMOVED, FALSE, out);
      return;

    case PRE_CHAR_DELIMITER:
      find_chars (piece->text, piece->length, is_given_char, (gpointer) &step->delimiter, spans);
      split_piece (piece, spans, BEHAVIOR_REMOVED, FALSE, out);
      return;

    case PRE_BERT:
      {
        g_autoptr(GArray) words = g_array_new (FALSE, FALSE, sizeof (Piece));

        find_chars (piece->text, piece->length, is_space_char, NULL, spans);
        split_piece (piece, spans, BEHAVIOR_REMOVED, FALSE, words);
        for (guint i = 0; i < words->len; i++)
          {
            const Piece *word = &g_array_index (words, Piece, i);

            g_array_set_size (spans, 0);
            find_chars (word->text, word->length, is_punctuation_char, NULL, spans);
            split_piece (word, spans, BEHAVIOR_ISOLATED, FALSE, out);
          }
      }
      return;

    case PRE_WHITESPACE:
      /* \w+|[^\w\s]+, the matches only. */
      for (gsize i = 0; i < piece->length;)
        {
          guint len;
          guint klass = llm_unichar_class (llm_utf8_get_char (piece->text + i, &len));
          gboolean word = (klass & LLM_CHAR_WORD) != 0;
          gsize end = i + len;

          if (!word && (klass & LLM_CHAR_SPACE))
            {
              i = end;
              continue;
            }
          while (end < piece->length)
            {
              guint k = llm_unichar_class (llm_utf8_get_char (piece->text + end, &len));

              if (word ? !(k & LLM_CHAR_WORD) : ((k & LLM_CHAR_WORD) || (k & LLM_CHAR_SPACE)))
                break;
              end += len;
            }
          emit_piece (out, piece, i, end);
          i = end;
        }
      return;

    case PRE_FIXED_LENGTH:
      for (gsize i = 0; i < piece->length;)
        {
          gsize end = i;

          for (guint k = 0; k < step->length && end < piece->length; k++)
            end += llm_utf8_char_length ((guchar) piece->text[end]);
          emit_piece (out, piece, i, end);
          i = end;
        }
      return;

    default:
      g_assert_not_reached ();
    }
}

/* ------------------------------------------------------------------------ */
/* Post-processors: a template of ids around the sequence */

static gboolean
read_special_ids (Reader        *r,
                  const LlmJson *processor,
                  const char    *path,
                  const char    *name,
                  const LlmJson *at,
                  GArray        *out)
{
  const LlmJson *specials = llm_json_get_member (processor, "special_tokens");
  const LlmJson *special = llm_json_get_member (specials, name);
  const LlmJson *ids = llm_json_get_member (special, "ids");

  if (ids == NULL || ids->type != LLM_JSON_ARRAY)
    return INVALID (r, at, path, "the special token “%s” is not in “special_tokens” with its ids",
                    name);
  for (guint i = 0; i < ids->length; i++)
    {
      const LlmJson *id = &ids->items[i];
      int value;

      if (id->type != LLM_JSON_NUMBER || !(id->number >= 0 && id->number <= MAX_ID) ||
          id->number != (int) id->number)
        return INVALID (r, id, path, "the ids of “%s” must be integers from 0 to %d", name, MAX_ID);
      value = (int) id->number;
      g_array_append_val (out, value);
    }
  return TRUE;
}

/* Substitutes inner (or the bare sequence) for the sequence in outer. */
static GArray *
compose_templates (GArray *outer,
                   GArray *inner)
{
  GArray *result = g_array_new (FALSE, FALSE, sizeof (int));

  for (guint i = 0; i < outer->len; i++)
    {
      int item = g_array_index (outer, int, i);

      if (item >= 0 || inner == NULL)
        g_array_append_val (result, item);
      else
        g_array_append_vals (result, inner->data, inner->len);
    }
  return result;
}

static gboolean
read_post_processor (Reader        *r,
                     const LlmJson *value,
                     const char    *path,
                     GArray       **template)
{
  const char *type;

  if (!read_type (r, value, path, &type))
    return FALSE;
  if (type == NULL)
    return INVALID (r, value, path, "no “type”");

  if (strcmp (type, "ByteLevel") == 0)
    return TRUE;
  if (strcmp (type, "Sequence") == 0)
    {
      const LlmJson *list = llm_json_get_member (value, "processors");
      g_autofree char *list_path = g_strdup_printf ("%s.processors", path);

      if (list == NULL)
        return INVALID (r, value, path, "no “processors”");
      if (!expect_type (r, list, list_path, LLM_JSON_ARRAY))
        return FALSE;
      for (guint i = 0; i < list->length; i++)
        {
          g_autofree char *item_path = g_strdup_printf ("%s[%u]", list_path, i);

          if (list->items[i].type != LLM_JSON_NULL &&
              !read_post_processor (r, &list->items[i], item_path, template))
            return FALSE;
        }
      return TRUE;
    }
  if (strcmp (type, "TemplateProcessing") == 0)
    {
      const LlmJson *single = llm_json_get_member (value, "single");
      g_autofree char *single_path = g_strdup_printf ("%s.single", path);
      g_autoptr(GArray) items = g_array_new (FALSE, FALSE, sizeof (int));
      GArray *composed;
      int sequence = -1;

      if (single == NULL)
        return INVALID (r, value, path, "no “single” template");
      if (single->type == LLM_JSON_STRING)
        {
          /* The short form: "[CLS] $A [SEP]", with optional ":type_id"s. */
          g_auto(GStrv) words = g_strsplit (single->string, " ", -1);

          for (guint i = 0; words[i] != NULL; i++)
            {
              char *colon = strrchr (words[i], ':');

              if (colon != NULL && colon != words[i])
                *colon = '\0';
              if (words[i][0] == '\0')
                continue;
              if (words[i][0] == '$')
                g_array_append_val (items, sequence);
              else if (!read_special_ids (r, value, single_path, words[i], single, items))
                return FALSE;
            }
        }
      else
        {
          if (!expect_type (r, single, single_path, LLM_JSON_ARRAY))
            return FALSE;
          for (guint i = 0; i < single->length; i++)
            {
              const LlmJson *item = &single->items[i];
              const LlmJson *special = llm_json_get_member (item, "SpecialToken");
              g_autofree char *item_path = g_strdup_printf ("%s[%u]", single_path, i);
              const LlmJson *id;

              if (llm_json_get_member (item, "Sequence") != NULL)
                {
                  g_array_append_val (items, sequence);
                  continue;
                }
              if (special == NULL)
                return INVALID (r, item, item_path,
                                "expected {\"SpecialToken\": …} or {\"Sequence\": …}");
              if (!read_string (r, special, item_path, "id", &id))
                return FALSE;
              if (id == NULL)
                return INVALID (r, special, item_path, "a special token without “id”");
              if (!read_special_ids (r, value, item_path, id->string, id, items))
                return FALSE;
            }
        }
      composed = compose_templates (items, *template);
      g_clear_pointer (template, g_array_unref);
      *template = composed;
      return TRUE;
    }
  if (strcmp (type, "RobertaProcessing") == 0 || strcmp (type, "BertProcessing") == 0)
    {
      const LlmJson *cls = llm_json_get_member (value, "cls");
      const LlmJson *sep = llm_json_get_member (value, "sep");
      g_autoptr(GArray) items = g_array_new (FALSE, FALSE, sizeof (int));
      int sequence = -1;
      GArray *composed;

      /* ["<s>", 0]: the token and its id. */
      for (guint i = 0; i < 2; i++)
        {
          const LlmJson *pair = i == 0 ? cls : sep;
          int id;

          if (pair == NULL || pair->type != LLM_JSON_ARRAY || pair->length != 2 ||
              pair->items[1].type != LLM_JSON_NUMBER || !(pair->items[1].number >= 0) ||
              pair->items[1].number > MAX_ID)
            return INVALID (r, pair ? pair : value, path, "“%s” must be [token, id]",
                            i == 0 ? "cls" : "sep");
          id = (int) pair->items[1].number;
          g_array_append_val (items, id);
          if (i == 0)
            g_array_append_val (items, sequence);
        }
      composed = compose_templates (items, *template);
      g_clear_pointer (template, g_array_unref);
      *template = composed;
      return TRUE;
    }
  return UNSUPPORTED (r, value, path,
                      "unsupported post-processor type “%s” (supported: TemplateProcessing, "
                      "ByteLevel, RobertaProcessing, BertProcessing, Sequence)", type);
}

/* ------------------------------------------------------------------------ */
/* Decoders */

static Decoder *
read_decoder (Reader        *r,
              const LlmJson *value,
              const char    *path)
{
  const char *type;
  Decoder *d;

  if (!read_type (r, value, path, &type))
    return NULL;
  if (type == NULL)
    {
      INVALID (r, value, path, "no “type”");
      return NULL;
    }

  d = g_new0 (Decoder, 1);
  if (strcmp (type, "Sequence") == 0)
    {
      const LlmJson *list = llm_json_get_member (value, "decoders");
      g_autofree char *list_path = g_strdup_printf ("%s.decoders", path);

      d->kind = DECODER_SEQUENCE;
      d->children = g_ptr_array_new_with_free_func (decoder_free);
      if (list == NULL)
        {
          INVALID (r, value, path, "no “decoders”");
          goto fail;
        }
      if (!expect_type (r, list, list_path, LLM_JSON_ARRAY))
        goto fail;
      for (guint i = 0; i < list->length; i++)
        {
          g_autofree char *item_path = g_strdup_printf ("%s[%u]", list_path, i);
          Decoder *child;

          if (list->items[i].type == LLM_JSON_NULL)
            continue;
          child = read_decoder (r, &list->items[i], item_path);
          if (child == NULL)
            goto fail;
          g_ptr_array_add (d->children, child);
        }
    }
  else if (strcmp (type, "ByteLevel") == 0)
    d->kind = DECODER_BYTE_LEVEL;
  else if (strcmp (type, "ByteFallback") == 0)
    d->kind = DECODER_BYTE_FALLBACK;
  else if (strcmp (type, "Fuse") == 0)
    d->kind = DECODER_FUSE;
  else if (strcmp (type, "Strip") == 0)
    {
      char content[8];
      guint len;

      d->kind = DECODER_STRIP;
      if (!read_char (r, value, path, "content", " ", content, &len) ||
          !read_uint (r, value, path, "start", 0, G_MAXINT, &d->start) ||
          !read_uint (r, value, path, "stop", 0, G_MAXINT, &d->stop))
        goto fail;
      d->content = g_strdup (content);
      d->content_length = len;
    }
  else if (strcmp (type, "Replace") == 0)
    {
      const LlmJson *content;

      d->kind = DECODER_REPLACE;
      d->pattern = read_pattern (r, value, path);
      if (d->pattern == NULL || !read_string (r, value, path, "content", &content))
        goto fail;
      d->content = g_memdup2 (content ? content->string : "", content ? content->length + 1 : 1);
      d->content_length = content ? content->length : 0;
    }
  else if (strcmp (type, "Metaspace") == 0)
    {
      const LlmJson *scheme;
      gboolean add_prefix_space;

      d->kind = DECODER_METASPACE;
      if (!read_char (r, value, path, "replacement", "\xe2\x96\x81", d->replacement,
                      &d->replacement_length) ||
          !read_bool (r, value, path, "add_prefix_space", TRUE, &add_prefix_space) ||
          !read_string (r, value, path, "prepend_scheme", &scheme))
        goto fail;
      d->prepend = scheme != NULL ? strcmp (scheme->string, "never") != 0 : add_prefix_space;
    }
  else if (strcmp (type, "BPEDecoder") == 0)
    {
      const LlmJson *suffix;

      d->kind = DECODER_BPE;
      if (!read_string (r, value, path, "suffix", &suffix))
        goto fail;
      d->content = g_strdup (suffix ? suffix->string : "</w>");
      d->content_length = strlen (d->content);
    }
  else
    {
      UNSUPPORTED (r, value, path,
                   "unsupported decoder type “%s” (supported: ByteLevel, ByteFallback, Fuse, "
                   "Strip, Replace, Metaspace, BPEDecoder, Sequence)", type);
      goto fail;
    }
  return d;

fail:
  decoder_free (d);
  return NULL;
}

/* Tokens on their way back to text: their bytes in one buffer, in order,
 * and where each starts and ends. */
typedef struct
{
  gsize    offset;
  gsize    length;
  gboolean added;   /* an added token, which the ByteLevel decoder keeps as it is */
} DecodeToken;

typedef struct
{
  GString *text;
  GArray  *tokens;  /* DecodeToken */
} DecodeList;

static void
decode_list_init (DecodeList *list,
                  gsize       size)
{
  list->text = g_string_sized_new (size);
  list->tokens = g_array_new (FALSE, FALSE, sizeof (DecodeToken));
}

static void
decode_list_clear (DecodeList *list)
{
  if (list->text != NULL)
    g_string_free (list->text, TRUE);
  g_clear_pointer (&list->tokens, g_array_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (DecodeList, decode_list_clear)

static void
decode_list_add (DecodeList *list,
                 const char *text,
                 gsize       length,
                 gboolean    added)
{
  DecodeToken t = { list->text->len, length, added };

  g_string_append_len (list->text, text, (gssize) length);
  g_array_append_val (list->tokens, t);
}

/* Starts a token that the caller then appends to list->text. */
static void
decode_list_begin (DecodeList *list,
                   gboolean    added)
{
  DecodeToken t = { list->text->len, 0, added };

  g_array_append_val (list->tokens, t);
}

static void
decode_list_end (DecodeList *list)
{
  DecodeToken *t = &g_array_index (list->tokens, DecodeToken, list->tokens->len - 1);

  t->length = list->text->len - t->offset;
}

#define TOKEN_AT(list, i) (&g_array_index ((list)->tokens, DecodeToken, (i)))
#define TOKEN_TEXT(list, t) ((list)->text->str + (t)->offset)

static void
decode_list_swap (DecodeList *list,
                  DecodeList *with)
{
  DecodeList tmp = *list;

  *list = *with;
  *with = tmp;
}

/* "<0x41>": a byte, for ByteFallback. */
static inline gboolean
is_byte_token (const char *s,
               gsize       n)
{
  return n == 6 && memcmp (s, "<0x", 3) == 0 && s[5] == '>' && g_ascii_isxdigit (s[3]) &&
         g_ascii_isxdigit (s[4]);
}

/* Appends bytes as text, each maximal invalid subpart as U+FFFD; with
 * drop_bom, without a byte order mark at their start. */
static void
flush_bytes (DecodeList *out,
             GByteArray *bytes,
             gboolean    drop_bom)
{
  guint bom = 0;

  if (bytes->len == 0)
    return;
  if (drop_bom && bytes->len >= 3 && memcmp (bytes->data, "\xef\xbb\xbf", 3) == 0)
    bom = 3;
  decode_list_begin (out, FALSE);
  llm_utf8_append_lossy (out->text, (const char *) bytes->data + bom, bytes->len - bom);
  decode_list_end (out);
  g_byte_array_set_size (bytes, 0);
}

/* continued: the tokens follow byte tokens (of a stream's earlier ids),
 * so that a run of bytes at their start is not the start of a run. */
static void
decode_run (const Decoder *d,
            DecodeList    *list,
            gboolean       continued)
{
  g_auto(DecodeList) out = { NULL, NULL };
  GArray *tokens = list->tokens;

  switch (d->kind)
    {
    case DECODER_SEQUENCE:
      for (guint i = 0; i < d->children->len; i++)
        decode_run (g_ptr_array_index (d->children, i), list, continued);
      return;

    case DECODER_BYTE_LEVEL:
      {
        /* Runs of tokens become bytes, then text; added tokens stay as they
         * are, as in the reference. A token with a character outside the
         * byte-level alphabet keeps its own bytes, as in Rust. */
        g_autoptr(GByteArray) bytes = g_byte_array_new ();

        decode_list_init (&out, list->text->len);
        for (guint i = 0; i < tokens->len; i++)
          {
            const DecodeToken *t = TOKEN_AT (list, i);
            const char *s = TOKEN_TEXT (list, t);
            guint start = bytes->len;

            if (t->added)
              {
                flush_bytes (&out, bytes, FALSE);
                decode_list_add (&out, s, t->length, TRUE);
                continue;
              }
            for (gsize j = 0; j < t->length;)
              {
                guint len;
                gunichar c = llm_utf8_get_char (s + j, &len);
                guint8 b;

                if (c >= G_N_ELEMENTS (unichar_to_byte) || unichar_to_byte[c] < 0)
                  {
                    g_byte_array_set_size (bytes, start);
                    g_byte_array_append (bytes, (const guint8 *) s, t->length);
                    break;
                  }
                b = (guint8) unichar_to_byte[c];
                g_byte_array_append (bytes, &b, 1);
                j += len;
              }
          }
        flush_bytes (&out, bytes, FALSE);
        decode_list_swap (list, &out);
      }
      return;

    case DECODER_BYTE_FALLBACK:
      {
        /* The reference decodes each run of bytes with a TextDecoder that
         * drops a byte order mark at its start (Rust's keeps it). */
        g_autoptr(GByteArray) bytes = g_byte_array_new ();
        gboolean first_run = TRUE;

        decode_list_init (&out, list->text->len);
        for (guint i = 0; i < tokens->len; i++)
          {
            const DecodeToken *t = TOKEN_AT (list, i);
            const char *s = TOKEN_TEXT (list, t);

            if (is_byte_token (s, t->length))
              {
                guint8 b = (guint8) (g_ascii_xdigit_value (s[3]) * 16 +
                                     g_ascii_xdigit_value (s[4]));

                g_byte_array_append (bytes, &b, 1);
                continue;
              }
            flush_bytes (&out, bytes, !(continued && first_run));
            first_run = FALSE;
            decode_list_add (&out, s, t->length, t->added);
          }
        flush_bytes (&out, bytes, !(continued && first_run));
        decode_list_swap (list, &out);
      }
      return;

    case DECODER_FUSE:
      decode_list_init (&out, list->text->len);
      decode_list_begin (&out, FALSE);
      for (guint i = 0; i < tokens->len; i++)
        g_string_append_len (out.text, TOKEN_TEXT (list, TOKEN_AT (list, i)),
                             (gssize) TOKEN_AT (list, i)->length);
      decode_list_end (&out);
      decode_list_swap (list, &out);
      return;

    case DECODER_STRIP:
      /* In place: each token loses up to start copies of the character at
       * its start and up to stop at its end. */
      for (guint i = 0; i < tokens->len; i++)
        {
          DecodeToken *t = TOKEN_AT (list, i);

          for (guint k = 0; k < d->start && t->length >= d->content_length &&
                            memcmp (TOKEN_TEXT (list, t), d->content, d->content_length) == 0; k++)
            {
              t->offset += d->content_length;
              t->length -= d->content_length;
            }
          for (guint k = 0; k < d->stop && t->length >= d->content_length &&
                            memcmp (TOKEN_TEXT (list, t) + t->length - d->content_length,
                                    d->content, d->content_length) == 0; k++)
            t->length -= d->content_length;
        }
      return;

    case DECODER_REPLACE:
    case DECODER_BPE:
      {
        g_autoptr(GArray) spans = g_array_new (FALSE, FALSE, sizeof (LlmSpan));
        g_autoptr(LlmPattern) suffix = NULL;
        LlmPattern *pattern = d->pattern;

        if (d->kind == DECODER_BPE)
          pattern = suffix = llm_pattern_new_string (d->content, d->content_length);
        decode_list_init (&out, list->text->len);
        for (guint i = 0; i < tokens->len; i++)
          {
            const DecodeToken *t = TOKEN_AT (list, i);
            const char *s = TOKEN_TEXT (list, t);
            const char *content = d->content;
            gsize content_length = d->content_length, copied = 0;

            /* BPEDecoder: the suffix ends a word, except in the last token. */
            if (d->kind == DECODER_BPE)
              {
                content = i + 1 == tokens->len ? "" : " ";
                content_length = i + 1 == tokens->len ? 0 : 1;
              }
            g_array_set_size (spans, 0);
            llm_pattern_find_all (pattern, s, t->length, spans);
            decode_list_begin (&out, t->added);
            for (guint k = 0; k < spans->len; k++)
              {
                const LlmSpan *span = &g_array_index (spans, LlmSpan, k);

                g_string_append_len (out.text, s + copied, (gssize) (span->start - copied));
                g_string_append_len (out.text, content, (gssize) content_length);
                copied = span->end;
              }
            g_string_append_len (out.text, s + copied, (gssize) (t->length - copied));
            decode_list_end (&out);
          }
        decode_list_swap (list, &out);
      }
      return;

    case DECODER_METASPACE:
      /* As Rust: every replacement character of the first token goes (when a
       * prefix was prepended), the others become spaces. */
      decode_list_init (&out, list->text->len);
      for (guint i = 0; i < tokens->len; i++)
        {
          const DecodeToken *t = TOKEN_AT (list, i);
          const char *s = TOKEN_TEXT (list, t);

          decode_list_begin (&out, t->added);
          for (gsize j = 0; j < t->length;)
            {
              if (t->length - j >= d->replacement_length &&
                  memcmp (s + j, d->replacement, d->replacement_length) == 0)
                {
                  if (i != 0 || !d->prepend)
                    g_string_append_c (out.text, ' ');
                  j += d->replacement_length;
                }
              else
                g_string_append_c (out.text, s[j++]);
            }
          decode_list_end (&out);
        }
      decode_list_swap (list, &out);
      return;

    default:
      g_assert_not_reached ();
    }
}

/* transformers' clean_up_tokenization(), in its order. */
static const char *const clean_up_patterns[][2] = {
  { " .", "." }, { " ?", "?" }, { " !", "!" }, { " ,", "," }, { " ' ", "'" },
  { " n't", "n't" }, { " 'm", "'m" }, { " 's", "'s" }, { " 've", "'ve" }, { " 're", "'re" },
};

static gpointer
build_clean_up_patterns (gpointer data)
{
  LlmPattern **patterns = g_new (LlmPattern *, G_N_ELEMENTS (clean_up_patterns));

  for (guint i = 0; i < G_N_ELEMENTS (clean_up_patterns); i++)
    patterns[i] = llm_pattern_new_string (clean_up_patterns[i][0],
                                          strlen (clean_up_patterns[i][0]));
  return patterns;
}

static void
clean_up_spaces (GString *text)
{
  static GOnce once = G_ONCE_INIT;
  LlmPattern **patterns;
  g_autoptr(GArray) spans = NULL;
  g_autoptr(GString) tmp = NULL;

  /* Every pattern starts with a space. */
  if (memchr (text->str, ' ', text->len) == NULL)
    return;
  patterns = g_once (&once, build_clean_up_patterns, NULL);
  spans = g_array_new (FALSE, FALSE, sizeof (LlmSpan));
  tmp = g_string_new (NULL);
  for (guint i = 0; i < G_N_ELEMENTS (clean_up_patterns); i++)
    replace_all (text, patterns[i], clean_up_patterns[i][1], strlen (clean_up_patterns[i][1]),
                 spans, tmp);
}

/* ------------------------------------------------------------------------ */
/* The BPE model */

static gboolean
read_model (Reader        *r,
            LlmTokenizer  *tok,
            const LlmJson *model,
            const LlmJson *added_tokens)
{
  const LlmJson *vocab, *merges, *unk, *prefix, *suffix;
  const char *type;
  guint max_id = 0, n_ids;
  gboolean has_vocab_ids;

  if (model == NULL)
    return INVALID (r, llm_json_doc_get_root (r->doc), "model", "no “model”");
  if (!read_type (r, model, "model", &type))
    return FALSE;
  /* Old files have no type; the reference then takes a model with merges
   * for BPE. */
  if (type == NULL && llm_json_get_member (model, "merges") == NULL)
    return INVALID (r, model, "model", "no “type”");
  if (type != NULL && strcmp (type, "BPE") != 0)
    return UNSUPPORTED (r, model, "model.type",
                        "unsupported model type “%s” (this tokenizer does BPE only)", type);

  vocab = llm_json_get_member (model, "vocab");
  merges = llm_json_get_member (model, "merges");
  if (vocab == NULL)
    return INVALID (r, model, "model", "no “vocab”");
  if (!expect_type (r, vocab, "model.vocab", LLM_JSON_OBJECT))
    return FALSE;
  if (merges != NULL && merges->type != LLM_JSON_NULL &&
      !expect_type (r, merges, "model.merges", LLM_JSON_ARRAY))
    return FALSE;
  if (!read_string (r, model, "model", "unk_token", &unk) ||
      !read_bool (r, model, "model", "byte_fallback", FALSE, &tok->byte_fallback) ||
      !read_bool (r, model, "model", "fuse_unk", FALSE, &tok->fuse_unk) ||
      !read_bool (r, model, "model", "ignore_merges", FALSE, &tok->ignore_merges) ||
      !read_string (r, model, "model", "continuing_subword_prefix", &prefix) ||
      !read_string (r, model, "model", "end_of_word_suffix", &suffix))
    return FALSE;
  if (prefix != NULL && prefix->length > 0)
    tok->continuing_subword_prefix = g_strdup (prefix->string);
  if (suffix != NULL && suffix->length > 0)
    tok->end_of_word_suffix = g_strdup (suffix->string);

  /* The ids: those of the vocabulary and of the added tokens. */
  has_vocab_ids = vocab->length > 0;
  for (guint i = 0; i < vocab->length; i++)
    {
      const LlmJson *entry = &vocab->items[i];

      if (entry->type != LLM_JSON_NUMBER || !(entry->number >= 0 && entry->number <= MAX_ID) ||
          entry->number != (guint) entry->number)
        return INVALID (r, entry, "model.vocab",
                        "the id of “%s” must be an integer from 0 to %d", entry->key, MAX_ID);
      max_id = MAX (max_id, (guint) entry->number);
    }
  for (guint i = 0; added_tokens != NULL && i < added_tokens->length; i++)
    {
      const LlmJson *id = llm_json_get_member (&added_tokens->items[i], "id");

      if (id == NULL || id->type != LLM_JSON_NUMBER || !(id->number >= 0 && id->number <= MAX_ID) ||
          id->number != (guint) id->number)
        return INVALID (r, &added_tokens->items[i], "added_tokens",
                        "each added token needs an “id” from 0 to %d", MAX_ID);
      max_id = MAX (max_id, (guint) id->number);
      has_vocab_ids = TRUE;
    }
  n_ids = has_vocab_ids ? max_id + 1 : 0;

  vocab_init (&tok->vocab, n_ids, vocab->length + (added_tokens ? added_tokens->length : 0));
  tok->id_flags = g_new0 (guint8, MAX (n_ids, 1));
  for (guint i = 0; i < vocab->length; i++)
    {
      const LlmJson *entry = &vocab->items[i];

      vocab_set (&tok->vocab, entry->key, entry->key_length, (int) entry->number);
    }

  tok->unk_id = -1;
  if (unk != NULL)
    tok->unk_id = vocab_lookup (&tok->vocab, unk->string, unk->length);

  ensure_byte_level ();
  for (guint b = 0; b < 256; b++)
    {
      char name[8];

      g_snprintf (name, sizeof name, "<0x%02X>", b);
      tok->byte_fallback_ids[b] = vocab_lookup (&tok->vocab, name, 6);
      tok->byte_level_ids[b] = vocab_lookup (&tok->vocab, byte_to_utf8[b], byte_to_utf8_length[b]);
    }

  /* The merges, by rank: ["a", "b"] pairs or "a b" strings. */
  if (merges != NULL && merges->type == LLM_JSON_ARRAY && merges->length > 0)
    {
      g_autoptr(GString) merged = g_string_new (NULL);
      gsize prefix_length = tok->continuing_subword_prefix ? strlen (tok->continuing_subword_prefix)
                                                           : 0;

      tok->merges.mask = next_power_of_two (merges->length * 2 + 1) - 1;
      tok->merges.slots = g_new0 (MergeSlot, tok->merges.mask + 1);
      for (guint i = 0; i < merges->length; i++)
        {
          const LlmJson *merge = &merges->items[i];
          const char *a, *b;
          gsize a_length, b_length;
          int a_id, b_id, id;

          if (merge->type == LLM_JSON_STRING)
            {
              const char *space = memchr (merge->string, ' ', merge->length);

              if (space == NULL)
                return INVALID (r, merge, "model.merges",
                                "merge %u, “%s”, is not two tokens separated by a space", i,
                                merge->string);
              a = merge->string;
              a_length = (gsize) (space - a);
              b = space + 1;
              b_length = merge->length - a_length - 1;
            }
          else if (merge->type == LLM_JSON_ARRAY && merge->length == 2 &&
                   merge->items[0].type == LLM_JSON_STRING &&
                   merge->items[1].type == LLM_JSON_STRING)
            {
              a = merge->items[0].string;
              a_length = merge->items[0].length;
              b = merge->items[1].string;
              b_length = merge->items[1].length;
            }
          else
            return INVALID (r, merge, "model.merges",
                            "merge %u is neither a string \"a b\" nor a pair [\"a\", \"b\"]", i);

          a_id = vocab_lookup (&tok->vocab, a, a_length);
          b_id = vocab_lookup (&tok->vocab, b, b_length);
          if (a_id < 0 || b_id < 0)
            return INVALID (r, merge, "model.merges", "merge %u: the token “%.*s” is not in the "
                            "vocabulary", i, (int) (a_id < 0 ? a_length : b_length),
                            a_id < 0 ? a : b);
          g_string_truncate (merged, 0);
          g_string_append_len (merged, a, (gssize) a_length);
          if (prefix_length > 0 && b_length >= prefix_length &&
              memcmp (b, tok->continuing_subword_prefix, prefix_length) == 0)
            g_string_append_len (merged, b + prefix_length, (gssize) (b_length - prefix_length));
          else
            g_string_append_len (merged, b, (gssize) b_length);
          id = vocab_lookup (&tok->vocab, merged->str, merged->len);
          if (id < 0)
            return INVALID (r, merge, "model.merges",
                            "merge %u: its result “%s” is not in the vocabulary", i, merged->str);
          merges_insert (&tok->merges, a_id, b_id, i, id);
        }
    }
  return TRUE;
}

static gboolean
read_added_tokens (Reader        *r,
                   LlmTokenizer  *tok,
                   const LlmJson *added_tokens)
{
  if (added_tokens == NULL)
    return TRUE;
  tok->added = g_new0 (AddedToken, MAX (added_tokens->length, 1));
  for (guint i = 0; i < added_tokens->length; i++)
    {
      const LlmJson *item = &added_tokens->items[i];
      g_autofree char *path = g_strdup_printf ("added_tokens[%u]", i);
      AddedToken *t = &tok->added[tok->n_added];
      const LlmJson *content;

      if (!expect_type (r, item, path, LLM_JSON_OBJECT) ||
          !read_string (r, item, path, "content", &content))
        return FALSE;
      if (content == NULL)
        return INVALID (r, item, path, "no “content”");
      t->content = g_memdup2 (content->string, content->length + 1);
      t->length = content->length;
      t->id = (int) llm_json_get_member (item, "id")->number;
      tok->n_added++;
      if (!read_bool (r, item, path, "special", FALSE, &t->special) ||
          !read_bool (r, item, path, "lstrip", FALSE, &t->lstrip) ||
          !read_bool (r, item, path, "rstrip", FALSE, &t->rstrip) ||
          !read_bool (r, item, path, "single_word", FALSE, &t->single_word) ||
          !read_bool (r, item, path, "normalized", !t->special, &t->normalized))
        return FALSE;

      vocab_set (&tok->vocab, t->content, t->length, t->id);
      tok->id_flags[t->id] |= ID_ADDED | (t->special ? ID_SPECIAL : 0);
    }
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Added tokens in text */

static void
trie_init (Trie *trie)
{
  TrieNode root = { 0, 0, -1, 0 };

  trie->nodes = g_array_new (FALSE, FALSE, sizeof (TrieNode));
  g_array_append_val (trie->nodes, root);
}

static void
trie_add (Trie       *trie,
          const char *s,
          gsize       n,
          int         token)
{
  guint32 node = 0;

  if (n == 0)
    return;
  trie->first_bytes[(guint8) s[0]] = TRUE;
  trie->n_tokens++;
  for (gsize i = 0; i < n; i++)
    {
      guint32 child = g_array_index (trie->nodes, TrieNode, node).first_child;

      while (child != 0 && g_array_index (trie->nodes, TrieNode, child).byte != (guint8) s[i])
        child = g_array_index (trie->nodes, TrieNode, child).next_sibling;
      if (child == 0)
        {
          TrieNode new_node = { 0, g_array_index (trie->nodes, TrieNode, node).first_child, -1,
                                (guint8) s[i] };

          child = trie->nodes->len;
          g_array_append_val (trie->nodes, new_node);
          g_array_index (trie->nodes, TrieNode, node).first_child = child;
        }
      node = child;
    }
  /* The first of two tokens with the same content wins. */
  if (g_array_index (trie->nodes, TrieNode, node).token < 0)
    g_array_index (trie->nodes, TrieNode, node).token = token;
}

/* The longest token starting at text[i], its index in *token. */
static gsize
trie_match (const Trie *trie,
            const char *text,
            gsize       length,
            gsize       i,
            int        *token)
{
  const TrieNode *nodes = (const TrieNode *) trie->nodes->data;
  guint32 node = 0;
  gsize best = 0;

  *token = -1;
  for (gsize j = i; j < length; j++)
    {
      guint32 child = nodes[node].first_child;

      while (child != 0 && nodes[child].byte != (guint8) text[j])
        child = nodes[child].next_sibling;
      if (child == 0)
        break;
      node = child;
      if (nodes[node].token >= 0)
        {
          best = j + 1 - i;
          *token = nodes[node].token;
        }
    }
  return best;
}

typedef struct
{
  gsize start;
  gsize end;
  int   id;   /* -1: text */
} Segment;

static gboolean
is_word_char_at_end (const char *text,
                     gsize       end)
{
  gsize start = end;
  guint len;

  if (end == 0)
    return FALSE;
  start--;
  while (start > 0 && ((guchar) text[start] & 0xc0) == 0x80)
    start--;
  return (llm_unichar_class (llm_utf8_get_char (text + start, &len)) & LLM_CHAR_WORD) != 0 ||
         text[start] == '_';
}

static gboolean
is_word_char_at (const char *text,
                 gsize       length,
                 gsize       i)
{
  guint len;

  if (i >= length)
    return FALSE;
  return (llm_unichar_class (llm_utf8_get_char (text + i, &len)) & LLM_CHAR_WORD) != 0 ||
         text[i] == '_';
}

/* Splits text at the added tokens of trie, as Rust's
 * AddedVocabulary::find_matches(): leftmost-longest matches, those not a
 * single word dropped when they must be one, then whitespace taken in on
 * the left (lstrip) and right (rstrip). */
static void
split_added (LlmTokenizer *tok,
             const Trie   *trie,
             gboolean      skip_special,
             const char   *text,
             gsize         length,
             GArray       *segments)
{
  gsize done = 0;

  g_array_set_size (segments, 0);
  if (trie->n_tokens > 0)
    for (gsize i = 0; i < length;)
      {
        gsize match, start, stop;
        const AddedToken *t;
        int index;

        if (!trie->first_bytes[(guint8) text[i]])
          {
            i++;
            continue;
          }
        match = trie_match (trie, text, length, i, &index);
        if (match == 0)
          {
            i++;
            continue;
          }
        t = &tok->added[index];
        start = i;
        stop = i + match;
        i = stop;
        if (skip_special && t->special)
          continue;
        if (t->single_word &&
            (is_word_char_at_end (text, start) || is_word_char_at (text, length, stop)))
          continue;
        if (t->lstrip)
          while (start > done)
            {
              gsize prev = start - 1;
              guint len;

              while (prev > done && ((guchar) text[prev] & 0xc0) == 0x80)
                prev--;
              if (!(llm_unichar_class (llm_utf8_get_char (text + prev, &len)) & LLM_CHAR_SPACE))
                break;
              start = prev;
            }
        if (t->rstrip)
          while (stop < length)
            {
              guint len;

              if (!(llm_unichar_class (llm_utf8_get_char (text + stop, &len)) & LLM_CHAR_SPACE))
                break;
              stop += len;
            }
        if (start > done)
          {
            Segment s = { done, start, -1 };

            g_array_append_val (segments, s);
          }
        {
          Segment s = { start, stop, t->id };

          g_array_append_val (segments, s);
        }
        done = stop;
        i = MAX (i, stop);
      }
  if (done < length)
    {
      Segment s = { done, length, -1 };

      g_array_append_val (segments, s);
    }
}

/* ------------------------------------------------------------------------ */
/* Encoding a word with BPE */

typedef struct
{
  gint32 id;
  gint32 prev;
  gint32 next;
} Symbol;

static inline gboolean
heap_less (const HeapEntry *a,
           const HeapEntry *b)
{
  return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static void
heap_push (GArray          *heap,
           const HeapEntry *entry)
{
  HeapEntry *h;
  guint i;

  g_array_append_val (heap, *entry);
  h = (HeapEntry *) heap->data;
  i = heap->len - 1;
  while (i > 0)
    {
      guint parent = (i - 1) / 2;
      HeapEntry tmp;

      if (!heap_less (&h[i], &h[parent]))
        break;
      tmp = h[i];
      h[i] = h[parent];
      h[parent] = tmp;
      i = parent;
    }
}

static HeapEntry
heap_pop (GArray *heap)
{
  HeapEntry *h = (HeapEntry *) heap->data;
  HeapEntry top = h[0];
  guint n = heap->len - 1, i = 0;

  h[0] = h[n];
  g_array_set_size (heap, n);
  for (;;)
    {
      guint left = 2 * i + 1, right = left + 1, smallest = i;
      HeapEntry tmp;

      if (left < n && heap_less (&h[left], &h[smallest]))
        smallest = left;
      if (right < n && heap_less (&h[right], &h[smallest]))
        smallest = right;
      if (smallest == i)
        break;
      tmp = h[i];
      h[i] = h[smallest];
      h[smallest] = tmp;
      i = smallest;
    }
  return top;
}

static inline void
push_pair (LlmTokenizer *tok,
           const Symbol *symbols,
           int           left)
{
  int right = symbols[left].next;
  const MergeSlot *slot;
  HeapEntry entry;

  if (right < 0)
    return;
  slot = merges_lookup (&tok->merges, symbols[left].id, symbols[right].id);
  if (slot == NULL)
    return;
  entry.left = left;
  entry.right = right;
  entry.rank = slot->rank;
  entry.left_id = symbols[left].id;
  entry.right_id = symbols[right].id;
  heap_push (tok->heap, &entry);
}

static void
add_symbol (GArray *symbols,
            int     id)
{
  Symbol s = { id, (gint32) symbols->len - 1, -1 };

  if (symbols->len > 0)
    g_array_index (symbols, Symbol, symbols->len - 1).next = (gint32) symbols->len;
  g_array_append_val (symbols, s);
}

/* A character (with its prefix and suffix) that the vocabulary lacks: its
 * bytes' tokens with byte fallback, else unk (fused with the unk before,
 * with fuse_unk), else nothing, as Rust's BPE::merge_word(). *pending_unk
 * is set while an unk waits to be added. */
static void
add_unknown (LlmTokenizer *tok,
             GArray       *symbols,
             const char   *s,
             gsize         n,
             gboolean     *pending_unk)
{
  if (tok->byte_fallback)
    {
      gboolean all = TRUE;

      for (gsize i = 0; i < n; i++)
        all &= tok->byte_fallback_ids[(guint8) s[i]] >= 0;
      if (all)
        {
          if (*pending_unk)
            {
              add_symbol (symbols, tok->unk_id);
              *pending_unk = FALSE;
            }
          for (gsize i = 0; i < n; i++)
            add_symbol (symbols, tok->byte_fallback_ids[(guint8) s[i]]);
          return;
        }
    }
  if (tok->unk_id < 0)
    return;
  if (*pending_unk && !tok->fuse_unk)
    add_symbol (symbols, tok->unk_id);
  *pending_unk = TRUE;
}

static void
add_known (LlmTokenizer *tok,
           GArray       *symbols,
           int           id,
           gboolean     *pending_unk)
{
  if (*pending_unk)
    {
      add_symbol (symbols, tok->unk_id);
      *pending_unk = FALSE;
    }
  add_symbol (symbols, id);
}

/* The initial symbols of a word: its characters' ids. */
static void
word_symbols (LlmTokenizer *tok,
              const char   *s,
              gsize         n,
              gboolean      raw_bytes,
              GArray       *symbols)
{
  gboolean pending_unk = FALSE;

  g_array_set_size (symbols, 0);
  if (raw_bytes)
    {
      for (gsize i = 0; i < n; i++)
        {
          guint8 b = (guint8) s[i];
          int id = tok->byte_level_ids[b];

          if (id >= 0)
            add_known (tok, symbols, id, &pending_unk);
          else
            add_unknown (tok, symbols, byte_to_utf8[b], byte_to_utf8_length[b], &pending_unk);
        }
    }
  else
    {
      GString *key = tok->word;
      const char *prefix = tok->continuing_subword_prefix;
      const char *suffix = tok->end_of_word_suffix;

      for (gsize i = 0; i < n;)
        {
          guint len = MIN (llm_utf8_char_length ((guchar) s[i]), (guint) (n - i));
          const char *k = s + i;
          gsize k_length = len;
          int id;

          if ((prefix != NULL && i > 0) || (suffix != NULL && i + len >= n))
            {
              g_string_truncate (key, 0);
              if (prefix != NULL && i > 0)
                g_string_append (key, prefix);
              g_string_append_len (key, s + i, len);
              if (suffix != NULL && i + len >= n)
                g_string_append (key, suffix);
              k = key->str;
              k_length = key->len;
            }
          id = vocab_lookup (&tok->vocab, k, k_length);
          if (id >= 0)
            add_known (tok, symbols, id, &pending_unk);
          else
            add_unknown (tok, symbols, k, k_length, &pending_unk);
          i += len;
        }
    }
  if (pending_unk)
    add_symbol (symbols, tok->unk_id);
}

/* Merges the symbols, lowest rank first, leftmost first among equals. */
static void
merge_symbols (LlmTokenizer *tok,
               GArray       *symbols)
{
  Symbol *sym = (Symbol *) symbols->data;
  GArray *heap = tok->heap;

  if (symbols->len < 2 || tok->merges.slots == NULL)
    return;
  g_array_set_size (heap, 0);
  for (guint i = 0; i + 1 < symbols->len; i++)
    push_pair (tok, sym, (int) i);

  while (heap->len > 0)
    {
      HeapEntry e = heap_pop (heap);
      const MergeSlot *slot;
      int after;

      /* Stale: one of the two has merged with another since. */
      if (sym[e.left].id != e.left_id || sym[e.left].next != e.right ||
          sym[e.right].id != e.right_id)
        continue;
      slot = merges_lookup (&tok->merges, e.left_id, e.right_id);
      sym[e.left].id = slot->id;
      after = sym[e.right].next;
      sym[e.left].next = after;
      if (after >= 0)
        sym[after].prev = e.left;
      sym[e.right].id = -1;
      sym[e.right].next = -1;
      if (sym[e.left].prev >= 0)
        push_pair (tok, sym, sym[e.left].prev);
      push_pair (tok, sym, e.left);
    }
}

static void
bpe_word (LlmTokenizer *tok,
          const char   *s,
          gsize         n,
          gboolean      raw_bytes,
          GArray       *ids)
{
  GArray *symbols = tok->symbols;

  if (tok->ignore_merges)
    {
      int id;

      if (raw_bytes)
        {
          g_string_truncate (tok->word, 0);
          append_byte_level (tok->word, s, n);
          id = vocab_lookup (&tok->vocab, tok->word->str, tok->word->len);
        }
      else
        id = vocab_lookup (&tok->vocab, s, n);
      if (id >= 0)
        {
          g_array_append_val (ids, id);
          return;
        }
    }

  word_symbols (tok, s, n, raw_bytes, symbols);
  merge_symbols (tok, symbols);
  if (symbols->len > 0)
    for (int i = 0; i >= 0; i = g_array_index (symbols, Symbol, i).next)
      g_array_append_val (ids, g_array_index (symbols, Symbol, i).id);
}

/* The cache of words: it starts small and grows to CACHE_MAX_ENTRIES
 * words, then starts over. */

static void
cache_reset (Cache *c,
             guint  size)
{
  g_free (c->slots);
  c->mask = size - 1;
  c->slots = g_new0 (CacheSlot, size);
  c->n_entries = 0;
  if (c->data == NULL)
    c->data = g_string_sized_new (4096);
  g_string_truncate (c->data, 0);
}

static void
cache_grow (Cache *c)
{
  guint old_size = c->mask + 1;
  CacheSlot *old = c->slots;

  c->mask = old_size * 2 - 1;
  c->slots = g_new0 (CacheSlot, c->mask + 1);
  for (guint i = 0; i < old_size; i++)
    if (old[i].key_length != 0)
      {
        guint j = old[i].hash & c->mask;

        while (c->slots[j].key_length != 0)
          j = (j + 1) & c->mask;
        c->slots[j] = old[i];
      }
  g_free (old);
}

static void
encode_word (LlmTokenizer *tok,
             const char   *s,
             gsize         n,
             GArray       *ids)
{
  Cache *c = &tok->cache;
  guint32 hash;
  guint i;
  guint before;

  if (n == 0)
    return;
  if (n >= CACHE_MAX_WORD)
    {
      bpe_word (tok, s, n, tok->model_maps_bytes, ids);
      return;
    }

  hash = hash_bytes (s, n);
  for (i = hash & c->mask; c->slots[i].key_length != 0; i = (i + 1) & c->mask)
    {
      const CacheSlot *slot = &c->slots[i];

      if (slot->hash == hash && slot->key_length == n &&
          memcmp (c->data->str + slot->offset, s, n) == 0)
        {
          const char *p = c->data->str + slot->offset + ((n + 3) & ~(gsize) 3);

          g_array_append_vals (ids, p, slot->n_ids);
          return;
        }
    }

  before = ids->len;
  bpe_word (tok, s, n, tok->model_maps_bytes, ids);

  if (c->n_entries >= CACHE_MAX_ENTRIES || c->data->len > CACHE_MAX_BYTES)
    cache_reset (c, c->mask + 1);
  else if ((c->n_entries + 1) * 2 > c->mask + 1)
    cache_grow (c);
  for (i = hash & c->mask; c->slots[i].key_length != 0; i = (i + 1) & c->mask)
    ;
  {
    CacheSlot *slot = &c->slots[i];
    gsize padded = (n + 3) & ~(gsize) 3;
    guint n_ids = ids->len - before;

    slot->hash = hash;
    slot->key_length = (guint32) n;
    slot->offset = (guint32) c->data->len;
    slot->n_ids = n_ids;
    g_string_append_len (c->data, s, (gssize) n);
    g_string_append_len (c->data, "\0\0\0", (gssize) (padded - n));
    /* A word of unknown characters, without unk, has no ids. */
    if (n_ids > 0)
      g_string_append_len (c->data, (const char *) &g_array_index (ids, int, before),
                           (gssize) (n_ids * sizeof (int)));
    c->n_entries++;
  }
}

/* With no pre-tokenizer, sentencepiece-style models see whole lines as one
 * word. When no token of the vocabulary has "▁" after another character,
 * no merge can cross the start of a "▁" run, so the line can be cut there
 * into words that BPE (and the cache) take one at a time: the same ids,
 * much faster. (Not with ignore_merges, which looks words up whole.) */
static gboolean
can_chunk_at_metaspace (LlmTokenizer *tok)
{
  static const char metaspace[] = "\xe2\x96\x81";

  if (tok->pre_steps->len > 0 || tok->model_maps_bytes || tok->continuing_subword_prefix ||
      tok->end_of_word_suffix || tok->ignore_merges || vocab_lookup (&tok->vocab, metaspace, 3) < 0)
    return FALSE;
  for (guint id = 0; id < tok->vocab.n_ids; id++)
    {
      const char *t = tok->vocab.tokens[id];
      gsize n = tok->vocab.lengths[id];

      if (t == NULL || (tok->id_flags[id] & ID_ADDED))
        continue;
      for (gsize i = 1; i + 3 <= n; i++)
        if (memcmp (t + i, metaspace, 3) == 0 &&
            !(i >= 3 && memcmp (t + i - 3, metaspace, 3) == 0))
          return FALSE;
    }
  return TRUE;
}

static void
encode_model (LlmTokenizer *tok,
              const char   *s,
              gsize         n,
              GArray       *ids)
{
  gsize start = 0;

  if (!tok->metaspace_chunks)
    {
      encode_word (tok, s, n, ids);
      return;
    }
  for (gsize i = 1; i + 3 <= n; i++)
    if (memcmp (s + i, "\xe2\x96\x81", 3) == 0 &&
        !(i >= 3 && memcmp (s + i - 3, "\xe2\x96\x81", 3) == 0))
      {
        encode_word (tok, s + start, i - start, ids);
        start = i;
      }
  encode_word (tok, s + start, n - start, ids);
}

/* ------------------------------------------------------------------------ */
/* Encoding */

static void
pre_tokenize_and_encode (LlmTokenizer *tok,
                         const char   *text,
                         gsize         length,
                         gboolean      first,
                         GArray       *ids)
{
  GPtrArray *steps = tok->pre_steps;
  Piece whole = { text, length, first };
  GArray *pieces = tok->pieces;

  if (steps->len == 0)
    {
      encode_model (tok, text, length, ids);
      return;
    }

  g_array_set_size (pieces, 0);
  g_array_append_val (pieces, whole);
  for (guint s = 0; s + 1 < steps->len; s++)
    {
      GArray *next = tok->pieces_next;

      g_array_set_size (next, 0);
      for (guint i = 0; i < pieces->len; i++)
        pre_tokenize_step (tok, g_ptr_array_index (steps, s), &g_array_index (pieces, Piece, i),
                           next);
      tok->pieces_next = pieces;
      tok->pieces = pieces = next;
    }

  /* The last step hands its pieces to the model as it makes them. */
  for (guint i = 0; i < pieces->len; i++)
    {
      GArray *last = tok->last_pieces;

      g_array_set_size (last, 0);
      pre_tokenize_step (tok, g_ptr_array_index (steps, steps->len - 1),
                         &g_array_index (pieces, Piece, i), last);
      for (guint j = 0; j < last->len; j++)
        {
          const Piece *p = &g_array_index (last, Piece, j);

          encode_model (tok, p->text, p->length, ids);
        }
    }
}

static void
encode_sequence (LlmTokenizer *tok,
                 const char   *text,
                 gsize         length,
                 GArray       *ids)
{
  GArray *segments = tok->segments;

  split_added (tok, &tok->raw_trie, tok->split_special_tokens, text, length, segments);
  for (guint i = 0; i < segments->len; i++)
    {
      Segment seg = g_array_index (segments, Segment, i);
      const char *section = text + seg.start;
      gsize section_length = seg.end - seg.start;
      GArray *subs = tok->sub_segments;

      if (seg.id >= 0)
        {
          g_array_append_val (ids, seg.id);
          continue;
        }
      if (tok->normalizer != NULL)
        {
          g_string_truncate (tok->normalized, 0);
          g_string_append_len (tok->normalized, section, (gssize) section_length);
          normalize (tok->normalizer, tok->normalized, tok->spans);
          section = tok->normalized->str;
          section_length = tok->normalized->len;
        }
      split_added (tok, &tok->normalized_trie, tok->split_special_tokens, section, section_length,
                   subs);
      for (guint j = 0; j < subs->len; j++)
        {
          const Segment *sub = &g_array_index (subs, Segment, j);

          if (sub->id >= 0)
            g_array_append_val (ids, sub->id);
          else
            pre_tokenize_and_encode (tok, section + sub->start, sub->end - sub->start,
                                     seg.start == 0 && sub->start == 0, ids);
        }
    }
}

gboolean
llm_tokenizer_encode (LlmTokenizer  *tok,
                      const char    *text,
                      gssize         length,
                      gboolean       add_special_tokens,
                      GArray        *ids,
                      GError       **error)
{
  g_autoptr(GString) valid = NULL;
  GArray *sequence;
  gsize n;

  g_return_val_if_fail (tok != NULL, FALSE);
  g_return_val_if_fail (text != NULL || length == 0, FALSE);
  g_return_val_if_fail (ids != NULL && g_array_get_element_size (ids) == sizeof (int), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  n = length < 0 ? strlen (text) : (gsize) length;
  /* Words are arrays of symbols indexed by int. */
  if (n >= G_MAXINT32 / 4)
    {
      g_set_error (error, LLM_TOKENIZER_ERROR, LLM_TOKENIZER_ERROR_INVALID,
                   "a text of %" G_GSIZE_FORMAT " bytes is too long to tokenize (512 MiB at most)",
                   n);
      return FALSE;
    }
  if (!llm_utf8_is_valid (text, n))
    {
      valid = g_string_sized_new (n + 16);
      llm_utf8_append_lossy (valid, text, n);
      text = valid->str;
      n = valid->len;
    }

  g_mutex_lock (&tok->lock);
  sequence = tok->sequence;
  g_array_set_size (sequence, 0);
  encode_sequence (tok, text, n, sequence);
  scratch_reset (&tok->scratch);

  if (add_special_tokens && tok->template != NULL)
    {
      for (guint i = 0; i < tok->template->len; i++)
        {
          int item = g_array_index (tok->template, int, i);

          if (item >= 0)
            g_array_append_val (ids, item);
          else
            g_array_append_vals (ids, sequence->data, sequence->len);
        }
    }
  else
    g_array_append_vals (ids, sequence->data, sequence->len);
  /* Big texts should not keep big buffers. */
  if (sequence->len > (1 << 20))
    g_array_set_size (sequence, 0);
  g_mutex_unlock (&tok->lock);
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Decoding */

static char *
decode_ids (LlmTokenizer *tok,
            const int    *ids,
            gsize         n,
            gboolean      skip_special_tokens,
            gboolean      continued,
            gboolean      clean_up)
{
  g_auto(DecodeList) list = { NULL, NULL };
  GString *text;

  decode_list_init (&list, n * 4);
  for (gsize i = 0; i < n; i++)
    {
      int id = ids[i];

      if (id < 0 || (guint) id >= tok->vocab.n_ids || tok->vocab.tokens[id] == NULL)
        continue;
      if (skip_special_tokens && (tok->id_flags[id] & ID_SPECIAL))
        continue;
      decode_list_add (&list, tok->vocab.tokens[id], tok->vocab.lengths[id],
                       (tok->id_flags[id] & ID_ADDED) != 0);
    }

  if (tok->decoder != NULL)
    decode_run (tok->decoder, &list, continued);
  text = g_string_sized_new (list.text->len + 1);
  for (guint i = 0; i < list.tokens->len; i++)
    {
      const DecodeToken *t = TOKEN_AT (&list, i);

      /* Without a decoder, tokens are joined with spaces. */
      if (tok->decoder == NULL && i > 0)
        g_string_append_c (text, ' ');
      g_string_append_len (text, TOKEN_TEXT (&list, t), (gssize) t->length);
    }
  if (clean_up)
    clean_up_spaces (text);
  return g_string_free (text, FALSE);
}

char *
llm_tokenizer_decode (LlmTokenizer *tok,
                      const int    *ids,
                      gsize         n,
                      gboolean      skip_special_tokens)
{
  g_return_val_if_fail (tok != NULL, NULL);
  g_return_val_if_fail (ids != NULL || n == 0, NULL);

  return decode_ids (tok, ids, n, skip_special_tokens, FALSE, tok->clean_up_spaces);
}

/* ------------------------------------------------------------------------ */
/* Streaming decode
 *
 * As Hugging Face's DecodeStream: the text of the ids since the last
 * emission, with those of the emission before as context (so that
 * decoders that treat the first token apart see the same first token),
 * minus the text of that context. Nothing is emitted while the text ends in
 * U+FFFD: a character whose bytes have not all come.
 *
 * The clean-up of spaces (" ." to ".", …) is no decoder: it runs over the
 * whole text, left to right, pattern after pattern, so the stream applies
 * it itself to the raw text, up to a point that no pattern can straddle. */

struct _LlmTokenizerStream
{
  LlmTokenizer *tok;
  gboolean      skip_special_tokens;
  GArray       *ids;           /* int: the context, then the new ids */
  guint         n_context;
  char         *context_text;
  gboolean      continued;     /* the id before the context is a byte token */
  GString      *raw;           /* decoded: the last bytes emitted, then those not yet */
  gsize         raw_emitted;   /* how many of raw's bytes were emitted */
};

LlmTokenizerStream *
llm_tokenizer_stream_new (LlmTokenizer *tok,
                          gboolean      skip_special_tokens)
{
  LlmTokenizerStream *stream;

  g_return_val_if_fail (tok != NULL, NULL);

  stream = g_new0 (LlmTokenizerStream, 1);
  stream->tok = tok;
  stream->skip_special_tokens = skip_special_tokens;
  stream->ids = g_array_new (FALSE, FALSE, sizeof (int));
  stream->context_text = g_strdup ("");
  stream->raw = g_string_new (NULL);
  return stream;
}

void
llm_tokenizer_stream_free (LlmTokenizerStream *stream)
{
  if (stream == NULL)
    return;
  g_array_unref (stream->ids);
  g_free (stream->context_text);
  g_string_free (stream->raw, TRUE);
  g_free (stream);
}

/* The raw text of the ids after the context, or NULL while it ends in an
 * unfinished character (unless final). */
static char *
stream_take (LlmTokenizerStream *stream,
             gboolean            final)
{
  LlmTokenizer *tok = stream->tok;
  g_autofree char *text = decode_ids (tok, (const int *) stream->ids->data, stream->ids->len,
                                      stream->skip_special_tokens, stream->continued, FALSE);
  gsize context_length = strlen (stream->context_text);
  gsize length = strlen (text);
  gsize common = 0;
  char *result;

  if (!final && (length <= context_length ||
                 (length >= 3 && memcmp (text + length - 3, "\xef\xbf\xbd", 3) == 0)))
    return NULL;
  /* The text starts with the context's, as long as the decoders change
   * nothing before the last token but at the very start of the text. */
  while (common < context_length && common < length && text[common] == stream->context_text[common])
    common++;
  if (common < context_length)
    g_debug ("streamed text diverged from the context (%" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT
             " bytes agree)", common, context_length);
  result = g_strdup (text + MIN (context_length, length));

  /* What was just emitted is the context of what comes next. Whether the
   * ids before it end in a byte token matters to the reference's byte
   * fallback, which drops a byte order mark only where a run of bytes
   * starts. */
  if (stream->n_context > 0)
    {
      int last = g_array_index (stream->ids, int, stream->n_context - 1);

      stream->continued = is_byte_token (tok->vocab.tokens[last], tok->vocab.lengths[last]);
    }
  g_array_remove_range (stream->ids, 0, stream->n_context);
  stream->n_context = stream->ids->len;
  g_free (stream->context_text);
  stream->context_text = decode_ids (tok, (const int *) stream->ids->data, stream->ids->len,
                                     stream->skip_special_tokens, stream->continued, FALSE);
  return result;
}

/* Whether the clean-up of spaces can cut text before position i: every
 * pattern is ASCII from " .?!,'" and "ntmsver", and only spaces go, so no
 * match straddles a character outside those, nor four bytes without a
 * space. */
static gboolean
is_clean_up_cut (const GString *text,
                 gsize          i)
{
  guchar before = (guchar) text->str[i - 1];
  guint run = 0;

  if (i < text->len && ((guchar) text->str[i] & 0xc0) == 0x80)
    return FALSE;
  if (before >= 0x80 || (before != ' ' && strchr (".?!,'ntmsver", before) == NULL))
    return TRUE;
  while (run < 4 && run < i && text->str[i - 1 - run] != ' ')
    run++;
  return run == 4;
}

/* Appends raw text to the stream's and returns what of it can be emitted:
 * all of it without the clean-up of spaces, else what comes before the last
 * cut (all of it when final), cleaned up. */
static char *
stream_emit (LlmTokenizerStream *stream,
             const char         *raw,
             gboolean            final)
{
  GString *pending = stream->raw;
  gsize start = stream->raw_emitted;
  g_autoptr(GString) out = NULL;
  gsize cut, keep;

  if (!stream->tok->clean_up_spaces)
    return g_strdup (raw);

  g_string_append (pending, raw);
  cut = pending->len;
  if (!final)
    while (cut > start && !is_clean_up_cut (pending, cut))
      cut--;
  out = g_string_new_len (pending->str + start, (gssize) (cut - start));
  clean_up_spaces (out);

  /* The last four bytes emitted stay, for is_clean_up_cut() to see. */
  keep = MIN (cut, 4);
  g_string_erase (pending, 0, (gssize) (cut - keep));
  stream->raw_emitted = keep;
  return g_string_free (g_steal_pointer (&out), FALSE);
}

char *
llm_tokenizer_stream_push (LlmTokenizerStream *stream,
                           int                 id)
{
  g_autofree char *raw = NULL;

  g_return_val_if_fail (stream != NULL, NULL);

  /* What decode leaves out never enters the window, which would otherwise
   * grow (and be decoded again at each push) through a run of them. */
  if (id < 0 || (guint) id >= stream->tok->vocab.n_ids || stream->tok->vocab.tokens[id] == NULL ||
      (stream->skip_special_tokens && (stream->tok->id_flags[id] & ID_SPECIAL)))
    return g_strdup ("");
  g_array_append_val (stream->ids, id);
  raw = stream_take (stream, FALSE);
  return stream_emit (stream, raw != NULL ? raw : "", FALSE);
}

char *
llm_tokenizer_stream_flush (LlmTokenizerStream *stream)
{
  g_autofree char *raw = NULL;
  char *text;

  g_return_val_if_fail (stream != NULL, NULL);

  if (stream->ids->len > stream->n_context)
    raw = stream_take (stream, TRUE);
  text = stream_emit (stream, raw != NULL ? raw : "", TRUE);
  g_array_set_size (stream->ids, 0);
  stream->n_context = 0;
  stream->continued = FALSE;
  g_free (stream->context_text);
  stream->context_text = g_strdup ("");
  g_string_truncate (stream->raw, 0);
  stream->raw_emitted = 0;
  return text;
}

/* ------------------------------------------------------------------------ */
/* tokenizer_config.json */

static const char *
special_token_content (const LlmJson *value)
{
  const LlmJson *content;

  if (value == NULL)
    return NULL;
  if (value->type == LLM_JSON_STRING)
    return value->string;
  content = llm_json_get_member (value, "content");
  if (content != NULL && content->type == LLM_JSON_STRING)
    return content->string;
  return NULL;
}

/* The JSON reader's errors, as the tokenizer's: a file that is not JSON is
 * an invalid tokenizer file. */
static LlmJsonDoc *
parse_json (const char  *json,
            gsize        length,
            const char  *name,
            GError     **error)
{
  GError *local_error = NULL;
  LlmJsonDoc *doc = llm_json_parse (json, length, name, &local_error);

  if (doc == NULL)
    {
      g_set_error_literal (error, LLM_TOKENIZER_ERROR, LLM_TOKENIZER_ERROR_INVALID,
                           local_error->message);
      g_error_free (local_error);
    }
  return doc;
}

static gboolean
read_config (LlmTokenizer  *tok,
             const char    *json,
             gsize          length,
             const char    *name,
             GError       **error)
{
  g_autoptr(LlmJsonDoc) doc = parse_json (json, length, name, error);
  Reader reader = { doc, error };
  const LlmJson *root, *additional, *klass;
  gboolean add_bos, add_eos, split_special;
  const char *bos, *eos;

  if (doc == NULL)
    return FALSE;
  root = llm_json_doc_get_root (doc);
  if (!expect_type (&reader, root, "(the top level)", LLM_JSON_OBJECT))
    return FALSE;

  for (guint i = 0; i < root->length; i++)
    {
      const LlmJson *member = &root->items[i];
      const char *content;

      if (!g_str_has_suffix (member->key, "_token"))
        continue;
      content = special_token_content (member);
      if (content != NULL)
        g_hash_table_replace (tok->special_tokens, g_strdup (member->key), g_strdup (content));
      else
        g_hash_table_remove (tok->special_tokens, member->key);
    }

  /* additional_special_tokens are skipped by decode (skip_special_tokens),
   * as the reference does. */
  additional = llm_json_get_member (root, "additional_special_tokens");
  if (additional != NULL && additional->type == LLM_JSON_ARRAY)
    for (guint i = 0; i < additional->length; i++)
      {
        const char *content = special_token_content (&additional->items[i]);
        int id = content ? vocab_lookup (&tok->vocab, content, strlen (content)) : -1;

        if (id >= 0)
          tok->id_flags[id] |= ID_SPECIAL;
      }

  if (!read_bool (&reader, root, "(the top level)", "clean_up_tokenization_spaces", TRUE,
                  &tok->clean_up_spaces) ||
      !read_bool (&reader, root, "(the top level)", "split_special_tokens", FALSE, &split_special))
    return FALSE;

  bos = g_hash_table_lookup (tok->special_tokens, "bos_token");
  eos = g_hash_table_lookup (tok->special_tokens, "eos_token");
  tok->bos_id = bos ? vocab_lookup (&tok->vocab, bos, strlen (bos)) : -1;
  tok->eos_id = eos ? vocab_lookup (&tok->vocab, eos, strlen (eos)) : -1;

  /* transformers' Llama and Gemma fast tokenizers rebuild the
   * post-processor from add_bos_token (default true) and add_eos_token
   * (default false); the other classes ignore both. */
  klass = llm_json_get_member (root, "tokenizer_class");
  if (klass != NULL && klass->type == LLM_JSON_STRING &&
      (g_str_has_prefix (klass->string, "LlamaTokenizer") ||
       g_str_has_prefix (klass->string, "CodeLlamaTokenizer") ||
       g_str_has_prefix (klass->string, "GemmaTokenizer")))
    {
      int sequence = -1;

      if (!read_bool (&reader, root, "(the top level)", "add_bos_token", TRUE, &add_bos) ||
          !read_bool (&reader, root, "(the top level)", "add_eos_token", FALSE, &add_eos))
        return FALSE;
      g_clear_pointer (&tok->template, g_array_unref);
      tok->template = g_array_new (FALSE, FALSE, sizeof (int));
      if (add_bos && tok->bos_id >= 0)
        g_array_append_val (tok->template, tok->bos_id);
      g_array_append_val (tok->template, sequence);
      if (add_eos && tok->eos_id >= 0)
        g_array_append_val (tok->template, tok->eos_id);
    }

  /* Special tokens then are text like any other. */
  tok->split_special_tokens = split_special;
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Loading */

static gboolean
build_added_tries (LlmTokenizer *tok)
{
  g_autoptr(GString) normalized = g_string_new (NULL);
  g_autoptr(GArray) spans = g_array_new (FALSE, FALSE, sizeof (LlmSpan));

  trie_init (&tok->raw_trie);
  trie_init (&tok->normalized_trie);
  for (guint i = 0; i < tok->n_added; i++)
    {
      const AddedToken *t = &tok->added[i];

      if (t->normalized && tok->normalizer != NULL)
        {
          /* Matched in the normalized text, by its normalized form. */
          g_string_assign (normalized, "");
          g_string_append_len (normalized, t->content, (gssize) t->length);
          if (!llm_utf8_is_valid (normalized->str, normalized->len))
            continue;
          normalize (tok->normalizer, normalized, spans);
          trie_add (&tok->normalized_trie, normalized->str, normalized->len, (int) i);
        }
      else
        trie_add (&tok->raw_trie, t->content, t->length, (int) i);
    }
  return TRUE;
}

LlmTokenizer *
llm_tokenizer_load_from_data (const char  *json,
                              gsize        json_len,
                              const char  *config_json,
                              gsize        config_len,
                              const char  *name,
                              GError     **error)
{
  g_autoptr(LlmTokenizer) tok = NULL;
  g_autoptr(LlmJsonDoc) doc = NULL;
  const LlmJson *root, *member, *added_tokens;
  Reader reader = { NULL, error };
  Reader *r = &reader;

  g_return_val_if_fail (json != NULL || json_len == 0, NULL);
  g_return_val_if_fail (name != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  doc = parse_json (json, json_len, name, error);
  if (doc == NULL)
    return NULL;
  reader.doc = doc;
  root = llm_json_doc_get_root (doc);
  if (!expect_type (r, root, "(the top level)", LLM_JSON_OBJECT))
    return NULL;

  tok = g_new0 (LlmTokenizer, 1);
  g_mutex_init (&tok->lock);
  tok->name = g_strdup (name);
  tok->bos_id = tok->eos_id = -1;
  tok->clean_up_spaces = TRUE;
  tok->special_tokens = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  tok->pre_steps = g_ptr_array_new_with_free_func (pre_step_free);

  added_tokens = llm_json_get_member (root, "added_tokens");
  if (added_tokens != NULL && added_tokens->type == LLM_JSON_NULL)
    added_tokens = NULL;
  if (added_tokens != NULL && !expect_type (r, added_tokens, "added_tokens", LLM_JSON_ARRAY))
    return NULL;
  if (!read_model (r, tok, llm_json_get_member (root, "model"), added_tokens) ||
      !read_added_tokens (r, tok, added_tokens))
    return NULL;

  member = llm_json_get_member (root, "normalizer");
  if (member != NULL && member->type != LLM_JSON_NULL)
    {
      tok->normalizer = read_normalizer (r, member, "normalizer");
      if (tok->normalizer == NULL)
        return NULL;
    }

  member = llm_json_get_member (root, "pre_tokenizer");
  if (member != NULL && member->type != LLM_JSON_NULL &&
      !read_pre_tokenizer (r, member, "pre_tokenizer", tok->pre_steps))
    return NULL;
  /* A final ByteLevel only maps bytes to its alphabet: the model does that
   * itself, on raw bytes, which its cache and its lookups prefer. */
  if (tok->pre_steps->len > 0 && !tok->continuing_subword_prefix && !tok->end_of_word_suffix)
    {
      PreStep *last = g_ptr_array_index (tok->pre_steps, tok->pre_steps->len - 1);

      if (last->kind == PRE_BYTE_LEVEL)
        {
          last->map_bytes = FALSE;
          tok->model_maps_bytes = TRUE;
          if (last->pattern == NULL && !last->add_prefix_space)
            g_ptr_array_remove_index (tok->pre_steps, tok->pre_steps->len - 1);
        }
    }

  member = llm_json_get_member (root, "post_processor");
  if (member != NULL && member->type != LLM_JSON_NULL &&
      !read_post_processor (r, member, "post_processor", &tok->template))
    return NULL;

  /* Its ids go to the model's embeddings: they must be the vocabulary's. */
  for (guint i = 0; tok->template != NULL && i < tok->template->len; i++)
    {
      int id = g_array_index (tok->template, int, i);

      if (id >= 0 && ((guint) id >= tok->vocab.n_ids || tok->vocab.tokens[id] == NULL))
        {
          INVALID (r, member, "post_processor", "its special token id %d is not in the vocabulary",
                   id);
          return NULL;
        }
    }

  member = llm_json_get_member (root, "decoder");
  if (member != NULL && member->type != LLM_JSON_NULL)
    {
      tok->decoder = read_decoder (r, member, "decoder");
      if (tok->decoder == NULL)
        return NULL;
    }

  build_added_tries (tok);
  tok->metaspace_chunks = can_chunk_at_metaspace (tok);

  if (config_json != NULL)
    {
      g_autofree char *dir = g_path_get_dirname (name);
      g_autofree char *config_name = g_build_filename (dir, "tokenizer_config.json", NULL);

      if (!read_config (tok, config_json, config_len, config_name, error))
        return NULL;
    }

  /* The state of encoding. */
  cache_reset (&tok->cache, 1024);
  tok->scratch.blocks = g_ptr_array_new_with_free_func (g_free);
  tok->normalized = g_string_new (NULL);
  tok->word = g_string_new (NULL);
  tok->segments = g_array_new (FALSE, FALSE, sizeof (Segment));
  tok->sub_segments = g_array_new (FALSE, FALSE, sizeof (Segment));
  tok->pieces = g_array_new (FALSE, FALSE, sizeof (Piece));
  tok->pieces_next = g_array_new (FALSE, FALSE, sizeof (Piece));
  tok->last_pieces = g_array_new (FALSE, FALSE, sizeof (Piece));
  tok->spans = g_array_new (FALSE, FALSE, sizeof (LlmSpan));
  tok->sequence = g_array_new (FALSE, FALSE, sizeof (int));
  tok->symbols = g_array_new (FALSE, FALSE, sizeof (Symbol));
  tok->heap = g_array_new (FALSE, FALSE, sizeof (HeapEntry));

  return g_steal_pointer (&tok);
}

LlmTokenizer *
llm_tokenizer_load (const char  *model_dir,
                    GError     **error)
{
  g_autofree char *path = NULL;
  g_autofree char *config_path = NULL;
  g_autofree char *json = NULL;
  g_autofree char *config = NULL;
  g_autoptr(GError) local_error = NULL;
  gsize json_len = 0, config_len = 0;

  g_return_val_if_fail (model_dir != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  path = g_build_filename (model_dir, "tokenizer.json", NULL);
  if (!g_file_get_contents (path, &json, &json_len, &local_error))
    {
      g_set_error (error, LLM_TOKENIZER_ERROR, LLM_TOKENIZER_ERROR_IO, "%s", local_error->message);
      return NULL;
    }

  config_path = g_build_filename (model_dir, "tokenizer_config.json", NULL);
  if (!g_file_get_contents (config_path, &config, &config_len, &local_error))
    {
      if (!g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        {
          g_set_error (error, LLM_TOKENIZER_ERROR, LLM_TOKENIZER_ERROR_IO, "%s",
                       local_error->message);
          return NULL;
        }
      g_clear_error (&local_error);
    }

  return llm_tokenizer_load_from_data (json, json_len, config, config_len, path, error);
}

/* ------------------------------------------------------------------------ */
/* Lookups */

int
llm_tokenizer_token_to_id (LlmTokenizer *tok,
                           const char   *token)
{
  g_return_val_if_fail (tok != NULL, -1);
  g_return_val_if_fail (token != NULL, -1);

  return vocab_lookup (&tok->vocab, token, strlen (token));
}

const char *
llm_tokenizer_id_to_token (LlmTokenizer *tok,
                           int           id)
{
  g_return_val_if_fail (tok != NULL, NULL);

  if (id < 0 || (guint) id >= tok->vocab.n_ids)
    return NULL;
  return tok->vocab.tokens[id];
}

int
llm_tokenizer_get_vocab_size (LlmTokenizer *tok)
{
  g_return_val_if_fail (tok != NULL, 0);

  return (int) tok->vocab.n_ids;
}

int
llm_tokenizer_get_bos_id (LlmTokenizer *tok)
{
  g_return_val_if_fail (tok != NULL, -1);

  return tok->bos_id;
}

int
llm_tokenizer_get_eos_id (LlmTokenizer *tok)
{
  g_return_val_if_fail (tok != NULL, -1);

  return tok->eos_id;
}

const char *
llm_tokenizer_get_special_token (LlmTokenizer *tok,
                                 const char   *name)
{
  g_return_val_if_fail (tok != NULL, NULL);
  g_return_val_if_fail (name != NULL, NULL);

  return g_hash_table_lookup (tok->special_tokens, name);
}

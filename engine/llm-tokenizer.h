/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* The tokenizer: Hugging Face's tokenizer.json, giving exactly the ids that
 * the `tokenizers` library gives (checked against @huggingface/tokenizers
 * in the tests), and back.
 *
 * Supported: the BPE model (byte-level as in GPT-2, Llama 3 and Qwen, or
 * sentencepiece-style with byte fallback as in Llama 2; merges as "a b"
 * strings or ["a", "b"] pairs; ignore_merges; unk and fuse_unk;
 * continuing_subword_prefix and end_of_word_suffix); the normalizers
 * Sequence, Prepend, Replace, NFC, NFD, NFKC, NFKD, Lowercase, Strip and
 * StripAccents; the pre-tokenizers Sequence, Split, ByteLevel, Metaspace,
 * Digits, Punctuation, Whitespace, WhitespaceSplit, CharDelimiterSplit,
 * BertPreTokenizer and FixedLength; the added tokens with their lstrip,
 * rstrip, single_word, normalized and special flags; the post-processors
 * TemplateProcessing, ByteLevel, RobertaProcessing, BertProcessing and
 * Sequence; the decoders ByteLevel, ByteFallback, Fuse, Strip, Replace,
 * Metaspace, BPEDecoder and Sequence. Anything else is refused with an
 * error naming it, never guessed.
 *
 * Text that is not valid UTF-8 is encoded as if each maximal invalid
 * subpart were U+FFFD, as Rust's String::from_utf8_lossy() (and so
 * Hugging Face's Python and Rust bindings, given bytes) would have it.
 *
 * One tokenizer may be shared by threads: encoding takes a lock (it
 * updates a cache of words), everything else only reads. */

#include <glib.h>

G_BEGIN_DECLS

#define LLM_TOKENIZER_ERROR (llm_tokenizer_error_quark ())

typedef enum
{
  LLM_TOKENIZER_ERROR_IO,           /* a file could not be read */
  LLM_TOKENIZER_ERROR_INVALID,      /* a file is not JSON, or not what a tokenizer file holds */
  LLM_TOKENIZER_ERROR_UNSUPPORTED,  /* a model, normalizer, … type this tokenizer does not do */
} LlmTokenizerError;

GQuark llm_tokenizer_error_quark (void);

typedef struct _LlmTokenizer LlmTokenizer;
typedef struct _LlmTokenizerStream LlmTokenizerStream;

/* Reads model_dir/tokenizer.json and, when present,
 * model_dir/tokenizer_config.json: its special tokens (bos_token, …, as
 * strings or {"content": …} objects), additional_special_tokens,
 * clean_up_tokenization_spaces, split_special_tokens, and for the Llama
 * and Gemma tokenizer classes add_bos_token and add_eos_token, which
 * transformers' fast tokenizers turn into the post-processor. */
LlmTokenizer *llm_tokenizer_load             (const char    *model_dir,
                                              GError       **error);
/* The same from memory; config_json may be NULL. name is the path used in
 * messages for the tokenizer.json (the config's is derived from it). */
LlmTokenizer *llm_tokenizer_load_from_data   (const char    *json,
                                              gsize          json_len,
                                              const char    *config_json,
                                              gsize          config_len,
                                              const char    *name,
                                              GError       **error);
void          llm_tokenizer_free             (LlmTokenizer  *tokenizer);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LlmTokenizer, llm_tokenizer_free)

/* Appends the ids of text (length bytes, or up to its NUL if -1) to ids
 * (an array of int), with the post-processor's special tokens (BOS, …) when
 * add_special_tokens is TRUE, as Hugging Face's encode() does by default.
 * Returns FALSE only for a text of 512 MiB or more. */
gboolean      llm_tokenizer_encode           (LlmTokenizer  *tokenizer,
                                              const char    *text,
                                              gssize         length,
                                              gboolean       add_special_tokens,
                                              GArray        *ids,
                                              GError       **error);
/* The text of n ids, as Hugging Face's decode(); ids out of range are
 * skipped. skip_special_tokens leaves out the special added tokens. */
char         *llm_tokenizer_decode           (LlmTokenizer  *tokenizer,
                                              const int     *ids,
                                              gsize          n,
                                              gboolean       skip_special_tokens);

/* Streaming decode, for generation: each push returns the text that the
 * new id completes (newly allocated, "" while nothing is complete: never
 * half a UTF-8 character). The pushes' texts, then flush's, concatenate to
 * llm_tokenizer_decode() of all the ids. flush returns what was held back
 * (an unfinished character, or the last few characters when decode cleans
 * up spaces, since " ." and the like become "." only once the next token is
 * known) and starts over. The stream borrows the tokenizer. */
LlmTokenizerStream *llm_tokenizer_stream_new   (LlmTokenizer       *tokenizer,
                                                gboolean            skip_special_tokens);
char               *llm_tokenizer_stream_push  (LlmTokenizerStream *stream,
                                                int                 id);
char               *llm_tokenizer_stream_flush (LlmTokenizerStream *stream);
void                llm_tokenizer_stream_free  (LlmTokenizerStream *stream);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LlmTokenizerStream, llm_tokenizer_stream_free)

/* The id of a token of the vocabulary or an added token, -1 if none. */
int           llm_tokenizer_token_to_id      (LlmTokenizer  *tokenizer,
                                              const char    *token);
/* The token of an id (in the model's alphabet: "Ġthe", "▁the"), NULL if
 * none. */
const char   *llm_tokenizer_id_to_token      (LlmTokenizer  *tokenizer,
                                              int            id);
/* One more than the largest id, added tokens included. */
int           llm_tokenizer_get_vocab_size   (LlmTokenizer  *tokenizer);
/* The ids of tokenizer_config.json's bos_token and eos_token; -1 if none. */
int           llm_tokenizer_get_bos_id       (LlmTokenizer  *tokenizer);
int           llm_tokenizer_get_eos_id       (LlmTokenizer  *tokenizer);
/* A special token of tokenizer_config.json by its key ("bos_token",
 * "eos_token", "unk_token", "pad_token", …), for the chat templates; NULL
 * when absent or null. */
const char   *llm_tokenizer_get_special_token (LlmTokenizer *tokenizer,
                                               const char   *name);

G_END_DECLS

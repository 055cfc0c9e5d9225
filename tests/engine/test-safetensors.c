/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-test-safetensors"

#include "llm-safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>

/* One tensor entry of a header, as writers spell it. */
#define TENSOR(name, dtype, shape, offsets) \
  "\"" name "\":{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":" offsets "}"

typedef struct
{
  char *dir;   /* a fresh model folder */
} Fixture;

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;

  fixture->dir = g_dir_make_tmp ("llm-safetensors-XXXXXX", &error);
  g_assert_no_error (error);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  user_data)
{
  g_autoptr(GDir) dir = g_dir_open (fixture->dir, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (fixture->dir, name, NULL);

      if (g_file_test (path, G_FILE_TEST_IS_DIR))
        g_rmdir (path);
      else
        g_unlink (path);
    }
  g_rmdir (fixture->dir);
  g_free (fixture->dir);
}

static void
write_bytes (const char   *dir,
             const char   *name,
             const guint8 *bytes,
             gsize         length)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autoptr(GError) error = NULL;

  g_file_set_contents (path, (const char *) bytes, (gssize) length, &error);
  g_assert_no_error (error);
}

/* A safetensors file, byte by byte: the header's length (8 bytes, little
 * endian), the header, then the data. */
static void
write_safetensors_full (const char   *dir,
                        const char   *name,
                        const char   *header,
                        gsize         header_length,
                        const guint8 *data,
                        gsize         data_length)
{
  g_autoptr(GByteArray) file = g_byte_array_new ();
  guint8 zero = 0;

  for (guint i = 0; i < 8; i++)
    {
      guint8 byte = (guint8) ((guint64) header_length >> (8 * i));

      g_byte_array_append (file, &byte, 1);
    }
  g_byte_array_append (file, (const guint8 *) header, (guint) header_length);
  if (data != NULL)
    g_byte_array_append (file, data, (guint) data_length);
  else
    for (gsize i = 0; i < data_length; i++)
      g_byte_array_append (file, &zero, 1);

  write_bytes (dir, name, file->data, file->len);
}

/* The same with the header padded with spaces to a multiple of 8 bytes, as
 * writers do so that the data is aligned. Returns where the data starts. */
static guint64
write_safetensors (const char   *dir,
                   const char   *name,
                   const char   *header,
                   const guint8 *data,
                   gsize         data_length)
{
  g_autoptr(GString) padded = g_string_new (header);

  while (padded->len % 8 != 0)
    g_string_append_c (padded, ' ');
  write_safetensors_full (dir, name, padded->str, padded->len, data, data_length);
  return 8 + padded->len;
}

static void
write_text (const char *dir,
            const char *name,
            const char *text)
{
  write_bytes (dir, name, (const guint8 *) text, strlen (text));
}

/* Opens the fixture's folder, which must fail with domain/code, with a
 * message that holds every one of the NULL-terminated words. */
G_GNUC_NULL_TERMINATED
static void
assert_open_fails (Fixture    *fixture,
                   int         code,
                   const char *word,
                   ...)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(LlmWeights) weights = llm_weights_open (fixture->dir, &error);
  va_list args;

  g_assert_null (weights);
  g_assert_error (error, LLM_SAFETENSORS_ERROR, code);
  g_test_message ("%s", error->message);

  va_start (args, word);
  for (; word != NULL; word = va_arg (args, const char *))
    if (strstr (error->message, word) == NULL)
      g_error ("“%s” is not in the message “%s”", word, error->message);
  va_end (args);
}

/* ------------------------------------------------------------------------ */
/* Rejections of a header, one test each. */

typedef struct
{
  const char *path;
  const char *header;
  gsize       header_length;   /* 0: strlen (header) */
  guint64     data_size;
  const char *word;            /* that the message must hold */
} HeaderCase;

static const HeaderCase header_cases[] = {
  { "duplicate-name",
    "{" TENSOR ("a", "F32", "[1]", "[0,4]") "," TENSOR ("a", "F32", "[1]", "[4,8]") "}", 0, 8,
    "duplicate tensor name “a”" },
  { "duplicate-field",
    "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 0, 4,
    "duplicate key “dtype”" },
  { "duplicate-metadata-key",
    "{\"__metadata__\":{\"format\":\"pt\",\"format\":\"np\"}}", 0, 0,
    "duplicate key “format”" },
  { "duplicate-metadata",
    "{\"__metadata__\":{},\"__metadata__\":{}}", 0, 0,
    "duplicate key “__metadata__”" },
  { "comment-line",
    "{// weights\n" TENSOR ("a", "F32", "[1]", "[0,4]") "}", 0, 4,
    "comments" },
  { "comment-block",
    "{\"a\":{\"dtype\":\"F32\",/* x */\"shape\":[1],\"data_offsets\":[0,4]}}", 0, 4,
    "comments" },
  { "comment-value",
    "{\"a\":/* x */{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 0, 4,
    "comments" },
  { "comment-after",
    "{" TENSOR ("a", "F32", "[1]", "[0,4]") "} // end", 0, 4,
    "comments" },
  { "trailing-comma",
    "{" TENSOR ("a", "F32", "[1]", "[0,4]") ",}", 0, 4,
    "trailing comma" },
  { "trailing-comma-entry",
    "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],}}", 0, 4,
    "trailing comma" },
  { "trailing-comma-array",
    "{" TENSOR ("a", "F32", "[1,]", "[0,4]") "}", 0, 4,
    "trailing comma" },
  { "hex",
    "{" TENSOR ("a", "F32", "[0x1]", "[0,4]") "}", 0, 4,
    "hexadecimal" },
  { "octal",
    "{" TENSOR ("a", "F32", "[1]", "[0,04]") "}", 0, 4,
    "leading zeros" },
  { "plus-sign",
    "{" TENSOR ("a", "F32", "[+1]", "[0,4]") "}", 0, 4,
    "“+”" },
  { "fraction",
    "{" TENSOR ("a", "F32", "[1]", "[0,4.0]") "}", 0, 4,
    "must be an integer" },
  { "exponent",
    "{" TENSOR ("a", "F32", "[1e0]", "[0,4]") "}", 0, 4,
    "must be an integer" },
  { "negative-offset",
    "{" TENSOR ("a", "F32", "[1]", "[-4,0]") "}", 0, 4,
    "negative" },
  { "negative-dim",
    "{" TENSOR ("a", "F32", "[-1]", "[0,4]") "}", 0, 4,
    "negative" },
  { "integer-too-large",
    "{" TENSOR ("a", "U8", "[9223372036854775808]", "[0,4]") "}", 0, 4,
    "too large" },
  { "offset-too-large",
    "{" TENSOR ("a", "U8", "[4]", "[0,18446744073709551620]") "}", 0, 4,
    "too large" },
  { "shape-overflow",
    "{" TENSOR ("a", "F64", "[4294967296,4294967296]", "[0,0]") "}", 0, 0,
    "overflows" },
  { "dtype-size-overflow",
    "{" TENSOR ("a", "F32", "[4611686018427387904]", "[0,0]") "}", 0, 0,
    "overflows" },
  { "unknown-field",
    "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"offset\":0}}", 0, 4,
    "unknown field “offset”" },
  { "unknown-dtype",
    "{" TENSOR ("a", "F12", "[1]", "[0,4]") "}", 0, 4,
    "unknown dtype “F12”" },
  { "lowercase-dtype",
    "{" TENSOR ("a", "f32", "[1]", "[0,4]") "}", 0, 4,
    "unknown dtype “f32”" },
  { "missing-field",
    "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 0, 4,
    "has no data_offsets" },
  { "invalid-utf8",
    "{" TENSOR ("\xff", "F32", "[1]", "[0,4]") "}", 0, 4,
    "UTF-8" },
  { "overlong-utf8",
    "{" TENSOR ("\xc0\xaf", "F32", "[1]", "[0,4]") "}", 0, 4,
    "UTF-8" },
  { "surrogate-utf8",
    "{" TENSOR ("\xed\xa0\x80", "F32", "[1]", "[0,4]") "}", 0, 4,
    "UTF-8" },
  { "truncated-utf8",
    "{\"__metadata__\":{\"k\":\"\xe2\x82\"}}", 0, 0,
    "UTF-8" },
  { "bad-escape",
    "{" TENSOR ("a\\x", "F32", "[1]", "[0,4]") "}", 0, 4,
    "bad escape" },
  { "lone-high-surrogate",
    "{" TENSOR ("a\\ud800", "F32", "[1]", "[0,4]") "}", 0, 4,
    "surrogate" },
  { "lone-low-surrogate",
    "{" TENSOR ("a\\udc00", "F32", "[1]", "[0,4]") "}", 0, 4,
    "surrogate" },
  { "surrogate-pair-reversed",
    "{" TENSOR ("\\ud800\\u0041", "F32", "[1]", "[0,4]") "}", 0, 4,
    "surrogate" },
  { "short-unicode-escape",
    "{" TENSOR ("a\\u12", "F32", "[1]", "[0,4]") "}", 0, 4,
    "four hexadecimal digits" },
  { "nul-escape",
    "{" TENSOR ("a\\u0000b", "F32", "[1]", "[0,4]") "}", 0, 4,
    "NUL" },
  { "control-character",
    "{" TENSOR ("a\nb", "F32", "[1]", "[0,4]") "}", 0, 4,
    "control character" },
  { "unterminated-string",
    "{\"a", 0, 0,
    "unterminated string" },
  { "truncated",
    "{\"a\":{\"dtype\":\"F32\"", 0, 4,
    "unexpected end" },
  { "overlap",
    "{" TENSOR ("a", "F32", "[2]", "[0,8]") "," TENSOR ("b", "F32", "[1]", "[4,8]") "}", 0, 8,
    "overlaps" },
  { "same-offsets",
    "{" TENSOR ("a", "F32", "[1]", "[0,4]") "," TENSOR ("b", "F32", "[1]", "[0,4]") "}", 0, 4,
    "overlaps" },
  { "gap",
    "{" TENSOR ("a", "F32", "[1]", "[0,4]") "," TENSOR ("b", "F32", "[1]", "[8,12]") "}", 0, 12,
    "gap" },
  { "gap-at-start",
    "{" TENSOR ("a", "F32", "[1]", "[4,8]") "}", 0, 8,
    "gap" },
  { "gap-at-end",
    "{" TENSOR ("a", "F32", "[1]", "[0,4]") "}", 0, 8,
    "belong to no tensor" },
  { "data-without-tensors",
    "{}", 0, 4,
    "belong to no tensor" },
  { "end-before-begin",
    "{" TENSOR ("a", "F32", "[0]", "[8,4]") "}", 0, 8,
    "ends before it begins" },
  { "size-mismatch",
    "{" TENSOR ("a", "F32", "[2]", "[0,4]") "}", 0, 4,
    "its size as F32 [2] is 8 bytes" },
  { "past-data",
    "{" TENSOR ("a", "F32", "[4]", "[0,16]") "}", 0, 8,
    "ends at byte 16 past the data (8 bytes)" },
  { "not-object",
    "[1, 2]", 0, 0,
    "not a JSON object" },
  { "not-object-string",
    "\"model\"", 0, 0,
    "not a JSON object" },
  { "empty-text",
    "", 0, 0,
    "not a JSON object" },
  { "spaces-only",
    "        ", 0, 0,
    "not a JSON object" },
  { "tensor-not-object",
    "{\"a\":[1]}", 0, 0,
    "must be an object" },
  { "trailing-garbage",
    "{" TENSOR ("a", "F32", "[1]", "[0,4]") "} x", 0, 4,
    "trailing data" },
  { "second-object",
    "{}{}", 0, 0,
    "trailing data" },
  { "trailing-nul",
    "{}\0\0\0\0\0\0", 8, 0,
    "trailing data" },
  { "embedded-nul",
    "{\"a\0b\":{}}", 10, 0,
    "control character" },
  { "deep-nesting",
    "{\"a\":{\"dtype\":\"F32\",\"shape\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    0, 0, "expected an integer" },
  { "deep-metadata",
    "{\"__metadata__\":{\"k\":{\"k\":{\"k\":{\"k\":{\"k\":{\"k\":{\"k\":{\"k\":{\"k\":{", 0, 0,
    "must be a string" },
  { "too-many-dims",
    "{" TENSOR ("a", "U8", "[1,1,1,1,1,1,1,1,1]", "[0,1]") "}", 0, 1,
    "more than 8" },
  { "three-offsets",
    "{" TENSOR ("a", "U8", "[1]", "[0,1,1]") "}", 0, 1,
    "more than 2" },
  { "one-offset",
    "{" TENSOR ("a", "U8", "[1]", "[0]") "}", 0, 1,
    "two integers" },
  { "shape-not-array",
    "{" TENSOR ("a", "U8", "1", "[0,1]") "}", 0, 1,
    "list of integers" },
  { "dtype-not-string",
    "{" "\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}" "}", 0, 4,
    "dtype of tensor “a” must be a string" },
  { "metadata-not-string",
    "{\"__metadata__\":{\"total\":12}}", 0, 0,
    "must be a string" },
  { "metadata-not-object",
    "{\"__metadata__\":\"pt\"}", 0, 0,
    "must be an object" },
  { "single-quotes",
    "{'a':{}}", 0, 0,
    "unexpected “'”" },
  { "missing-colon",
    "{\"a\" {}}", 0, 0,
    "expected “:”" },
  { "missing-comma",
    "{" TENSOR ("a", "F32", "[1]", "[0,4]") TENSOR ("b", "F32", "[1]", "[4,8]") "}", 0, 8,
    "expected “,” or “}”" },
  { "nan",
    "{" TENSOR ("a", "F32", "[NaN]", "[0,4]") "}", 0, 4,
    "expected an integer" },
};

static void
test_reject_header (Fixture       *fixture,
                    gconstpointer  user_data)
{
  const HeaderCase *test = user_data;
  gsize length = test->header_length ? test->header_length : strlen (test->header);
  g_autoptr(GPtrArray) tensors = NULL;
  g_autoptr(GHashTable) metadata = NULL;
  g_autoptr(GError) error = NULL;

  /* The parser alone… */
  g_assert_false (llm_safetensors_parse_header (test->header, length, test->data_size,
                                                &tensors, &metadata, &error));
  g_assert_error (error, LLM_SAFETENSORS_ERROR, LLM_SAFETENSORS_ERROR_INVALID);
  g_assert_null (tensors);
  g_assert_null (metadata);
  if (strstr (error->message, test->word) == NULL)
    g_error ("“%s” is not in the message “%s”", test->word, error->message);

  /* …and a file on disk, whose name the message then carries. */
  write_safetensors_full (fixture->dir, "model.safetensors", test->header, length, NULL,
                          test->data_size);
  assert_open_fails (fixture, LLM_SAFETENSORS_ERROR_INVALID,
                     "model.safetensors: ", test->word, NULL);
}

/* ------------------------------------------------------------------------ */
/* Rejections of a file */

static void
test_reject_short_file (Fixture       *fixture,
                        gconstpointer  user_data)
{
  const guint8 bytes[] = { 2, 0, 0, 0, 0 };

  write_bytes (fixture->dir, "model.safetensors", bytes, sizeof bytes);
  assert_open_fails (fixture, LLM_SAFETENSORS_ERROR_INVALID,
                     "model.safetensors", "too short", NULL);
}

static void
test_reject_empty_file (Fixture       *fixture,
                        gconstpointer  user_data)
{
  write_bytes (fixture->dir, "model.safetensors", (const guint8 *) "", 0);
  assert_open_fails (fixture, LLM_SAFETENSORS_ERROR_INVALID,
                     "model.safetensors", "too short", NULL);
}

static void
test_reject_header_too_large (Fixture       *fixture,
                              gconstpointer  user_data)
{
  /* 100000001 as the length, then a little JSON. */
  const guint8 bytes[] = { 0x01, 0xe1, 0xf5, 0x05, 0, 0, 0, 0, '{', '}' };
  g_autoptr(GError) error = NULL;
  g_autofree char *big = g_malloc (100000001);

  write_bytes (fixture->dir, "model.safetensors", bytes, sizeof bytes);
  assert_open_fails (fixture, LLM_SAFETENSORS_ERROR_INVALID,
                     "model.safetensors", "header length 100000001 is too large", NULL);

  /* The parser has the same limit. */
  memset (big, ' ', 100000001);
  big[0] = '{';
  big[1] = '}';
  g_assert_false (llm_safetensors_parse_header (big, 100000001, 0, NULL, NULL, &error));
  g_assert_error (error, LLM_SAFETENSORS_ERROR, LLM_SAFETENSORS_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "too large"));
}

static void
test_reject_header_past_file (Fixture       *fixture,
                              gconstpointer  user_data)
{
  const guint8 bytes[] = { 100, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ' };

  write_bytes (fixture->dir, "model.safetensors", bytes, sizeof bytes);
  assert_open_fails (fixture, LLM_SAFETENSORS_ERROR_INVALID,
                     "model.safetensors", "header length 100 runs past the end of the file",
                     NULL);
}

static void
test_reject_huge_header_length (Fixture       *fixture,
                                gconstpointer  user_data)
{
  /* 2^64 − 1: no addition may wrap around. */
  const guint8 bytes[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, '{', '}' };

  write_bytes (fixture->dir, "model.safetensors", bytes, sizeof bytes);
  assert_open_fails (fixture, LLM_SAFETENSORS_ERROR_INVALID,
                     "model.safetensors", "too large", NULL);
}

static void
test_reject_tensor_past_file (Fixture       *fixture,
                              gconstpointer  user_data)
{
  /* The header promises 16 bytes, the file holds 8. */
  write_safetensors (fixture->dir, "model.safetensors",
                     "{" TENSOR ("model.layers.3.mlp.up_proj.weight", "F32", "[4]", "[0,16]") "}",
                     NULL, 8);
  assert_open_fails (fixture, LLM_SAFETENSORS_ERROR_INVALID,
                     "model.safetensors: tensor “model.layers.3.mlp.up_proj.weight” ends at "
                     "byte 16 past the data (8 bytes)", NULL);
}

static void
test_reject_not_regular (Fixture       *fixture,
                         gconstpointer  user_data)
{
  g_autofree char *path = g_build_filename (fixture->dir, "model.safetensors", NULL);

  g_assert_cmpint (g_mkdir (path, 0700), ==, 0);
  assert_open_fails (fixture, LLM_SAFETENSORS_ERROR_INVALID,
                     "model.safetensors", "not a regular file", NULL);
}

static void
test_reject_no_weights (Fixture       *fixture,
                        gconstpointer  user_data)
{
  assert_open_fails (fixture, LLM_SAFETENSORS_ERROR_MISSING,
                     fixture->dir, "model.safetensors.index.json", NULL);
}

/* ------------------------------------------------------------------------ */
/* Valid files */

/* Three tensors in the order the header does not list them, with metadata. */
#define THREE_DTYPES_HEADER \
  "{\"__metadata__\":{\"format\":\"pt\",\"caf\\u00e9\":\"\xe2\x82\xac\"}," \
  TENSOR ("norm", "F16", "[2,2]", "[32,40]") "," \
  TENSOR ("embed", "F32", "[2,3]", "[0,24]") "," \
  TENSOR ("bias", "BF16", "[4]", "[24,32]") "}    "

static void
make_three_dtypes_data (guint8 data[40])
{
  const float f32[6] = { 1.0f, -2.5f, 3.25f, 0.0f, 1e-3f, 65504.0f };
  const guint16 bf16[4] = { 0x3f80, 0xc000, 0x4049, 0x0001 };
  const guint16 f16[4] = { 0x3c00, 0xc000, 0x7bff, 0x8001 };

  /* Little endian on disk, as on every machine we run on. */
  G_STATIC_ASSERT (G_BYTE_ORDER == G_LITTLE_ENDIAN);
  memcpy (data, f32, 24);
  memcpy (data + 24, bf16, 8);
  memcpy (data + 32, f16, 8);
}

static void
test_open_single (Fixture       *fixture,
                  gconstpointer  user_data)
{
  g_autoptr(LlmWeights) weights = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *expected_path = NULL;
  guint64 data_start;
  const LlmTensorInfo *embed, *bias, *norm;
  const void *embed_data, *bias_data, *norm_data;
  guint8 data[40];

  make_three_dtypes_data (data);
  data_start = write_safetensors (fixture->dir, "model.safetensors", THREE_DTYPES_HEADER,
                                  data, sizeof data);
  g_assert_cmpuint (data_start % 8, ==, 0);

  weights = llm_weights_open (fixture->dir, &error);
  g_assert_no_error (error);
  g_assert_nonnull (weights);

  /* In the order of the data, not of the header. */
  g_assert_cmpuint (llm_weights_get_n_tensors (weights), ==, 3);
  g_assert_cmpstr (llm_weights_get_tensor (weights, 0)->name, ==, "embed");
  g_assert_cmpstr (llm_weights_get_tensor (weights, 1)->name, ==, "bias");
  g_assert_cmpstr (llm_weights_get_tensor (weights, 2)->name, ==, "norm");
  expected_path = g_build_filename (fixture->dir, "model.safetensors", NULL);
  g_assert_cmpstr (llm_weights_get_file_path (weights, 0), ==, expected_path);
  g_assert_null (llm_weights_lookup (weights, "lm_head.weight"));
  g_assert_null (llm_weights_lookup (weights, "__metadata__"));

  embed = llm_weights_lookup (weights, "embed");
  g_assert_true (embed == llm_weights_get_tensor (weights, 0));
  g_assert_cmpint (embed->dtype, ==, LLM_DTYPE_F32);
  g_assert_cmpuint (embed->n_dims, ==, 2);
  g_assert_cmpuint (embed->shape[0], ==, 2);
  g_assert_cmpuint (embed->shape[1], ==, 3);
  g_assert_cmpuint (embed->offset, ==, data_start);
  g_assert_cmpuint (embed->size, ==, 24);
  g_assert_cmpuint (embed->file_index, ==, 0);

  bias = llm_weights_lookup (weights, "bias");
  g_assert_cmpint (bias->dtype, ==, LLM_DTYPE_BF16);
  g_assert_cmpuint (bias->n_dims, ==, 1);
  g_assert_cmpuint (bias->shape[0], ==, 4);
  g_assert_cmpuint (bias->offset, ==, data_start + 24);
  g_assert_cmpuint (bias->size, ==, 8);

  norm = llm_weights_lookup (weights, "norm");
  g_assert_cmpint (norm->dtype, ==, LLM_DTYPE_F16);
  g_assert_cmpuint (norm->n_dims, ==, 2);
  g_assert_cmpuint (norm->offset, ==, data_start + 32);
  g_assert_cmpuint (norm->size, ==, 8);

  /* Nothing is mapped until asked for. */
  g_assert_cmpuint (llm_weights_get_mapped_bytes (weights), ==, 0);

  embed_data = llm_weights_map (weights, embed, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (embed_data, 24, data, 24);
  g_assert_cmpfloat (((const float *) embed_data)[1], ==, -2.5f);
  g_assert_cmpfloat (((const float *) embed_data)[5], ==, 65504.0f);

  bias_data = llm_weights_map (weights, bias, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (bias_data, 8, data + 24, 8);
  g_assert_cmphex (((const guint16 *) bias_data)[2], ==, 0x4049);

  norm_data = llm_weights_map (weights, norm, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (norm_data, 8, data + 32, 8);

  /* Mapping again gives the same pointer and maps nothing more. */
  {
    guint64 mapped = llm_weights_get_mapped_bytes (weights);

    g_assert_cmpuint (mapped, >, 0);
    g_assert_true (llm_weights_map (weights, embed, &error) == embed_data);
    g_assert_true (llm_weights_map (weights, norm, &error) == norm_data);
    g_assert_no_error (error);
    g_assert_cmpuint (llm_weights_get_mapped_bytes (weights), ==, mapped);
  }
}

static void
test_parse_metadata (void)
{
  g_autoptr(GPtrArray) tensors = NULL;
  g_autoptr(GHashTable) metadata = NULL;
  g_autoptr(GError) error = NULL;
  const LlmTensorInfo *info;

  g_assert_true (llm_safetensors_parse_header (THREE_DTYPES_HEADER, strlen (THREE_DTYPES_HEADER),
                                               40, &tensors, &metadata, &error));
  g_assert_no_error (error);

  g_assert_cmpuint (g_hash_table_size (metadata), ==, 2);
  g_assert_cmpstr (g_hash_table_lookup (metadata, "format"), ==, "pt");
  g_assert_cmpstr (g_hash_table_lookup (metadata, "café"), ==, "€");

  /* Sorted by offset, relative to the data. */
  g_assert_cmpuint (tensors->len, ==, 3);
  info = g_ptr_array_index (tensors, 2);
  g_assert_cmpstr (info->name, ==, "norm");
  g_assert_cmpuint (info->offset, ==, 32);
  g_assert_cmpuint (info->size, ==, 8);
  g_assert_cmpuint (info->file_index, ==, 0);

  /* Without metadata, the table is empty; null is no metadata too. */
  g_clear_pointer (&tensors, g_ptr_array_unref);
  g_clear_pointer (&metadata, g_hash_table_unref);
  g_assert_true (llm_safetensors_parse_header ("{\"__metadata__\":null}", 21, 0,
                                               &tensors, &metadata, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (tensors->len, ==, 0);
  g_assert_cmpuint (g_hash_table_size (metadata), ==, 0);
}

static void
test_parse_scalar_and_empty (Fixture       *fixture,
                             gconstpointer  user_data)
{
  /* shape [] is one element; a dimension of 0 is no bytes at all, and may
   * sit anywhere, even at the same offset as another tensor. */
  const char *header =
    "{" TENSOR ("empty", "F32", "[3,0,2]", "[0,0]") ","
        TENSOR ("scalar", "F64", "[]", "[0,8]") ","
        TENSOR ("empty2", "BF16", "[0]", "[8,8]") ","
        TENSOR ("largest", "U8", "[9223372036854775807,0]", "[8,8]") "}";
  const guint8 data[8] = { 0, 0, 0, 0, 0, 0, 0xf0, 0x3f };   /* 1.0 */
  g_autoptr(LlmWeights) weights = NULL;
  g_autoptr(GError) error = NULL;
  const LlmTensorInfo *scalar, *empty;
  const void *p;

  write_safetensors (fixture->dir, "model.safetensors", header, data, sizeof data);
  weights = llm_weights_open (fixture->dir, &error);
  g_assert_no_error (error);

  g_assert_cmpuint (llm_weights_get_n_tensors (weights), ==, 4);
  scalar = llm_weights_lookup (weights, "scalar");
  g_assert_cmpuint (scalar->n_dims, ==, 0);
  g_assert_cmpuint (scalar->size, ==, 8);
  p = llm_weights_map (weights, scalar, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (*(const double *) p, ==, 1.0);

  empty = llm_weights_lookup (weights, "empty");
  g_assert_cmpuint (empty->n_dims, ==, 3);
  g_assert_cmpuint (empty->shape[1], ==, 0);
  g_assert_cmpuint (empty->size, ==, 0);
  g_assert_cmpuint (llm_weights_lookup (weights, "largest")->shape[0], ==, G_MAXINT64);

  /* A tensor of no bytes maps nothing, yet is not NULL. */
  {
    guint64 mapped = llm_weights_get_mapped_bytes (weights);

    g_assert_nonnull (llm_weights_map (weights, empty, &error));
    g_assert_no_error (error);
    g_assert_cmpuint (llm_weights_get_mapped_bytes (weights), ==, mapped);
  }
}

static void
test_parse_escapes (void)
{
  const char *header =
    "{" TENSOR ("caf\\u00e9 \\ud83d\\ude00 \\\"q\\\" \\\\ \\/ \\b\\f\\n\\r\\t",
                "U8", "[1]", "[0,1]")
    "," TENSOR ("na\xc3\xafve \xf0\x9f\x98\x80", "U8", "[1]", "[1,2]") "}";
  g_autoptr(GPtrArray) tensors = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_true (llm_safetensors_parse_header (header, strlen (header), 2, &tensors, NULL,
                                               &error));
  g_assert_no_error (error);
  g_assert_cmpstr (((LlmTensorInfo *) g_ptr_array_index (tensors, 0))->name, ==,
                   "café \xf0\x9f\x98\x80 \"q\" \\ / \b\f\n\r\t");
  g_assert_cmpstr (((LlmTensorInfo *) g_ptr_array_index (tensors, 1))->name, ==,
                   "naïve \xf0\x9f\x98\x80");
}

static void
test_parse_whitespace (void)
{
  const char *headers[] = {
    "{}",
    "{}        ",
    "  {  }  ",
    "\n{\r\n\t\"x\" : { \"shape\" : [ ] , \"data_offsets\" : [ 0 , 4 ] ,"
    " \"dtype\" : \"I32\" }\n}\n",
  };
  const guint64 data_sizes[] = { 0, 0, 0, 4 };

  for (guint i = 0; i < G_N_ELEMENTS (headers); i++)
    {
      g_autoptr(GPtrArray) tensors = NULL;
      g_autoptr(GError) error = NULL;

      g_assert_true (llm_safetensors_parse_header (headers[i], strlen (headers[i]),
                                                   data_sizes[i], &tensors, NULL, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (tensors->len, ==, data_sizes[i] ? 1 : 0);
    }
}

static void
test_dtypes (void)
{
  const struct
  {
    LlmDtype    dtype;
    const char *name;
    gsize       size;
  } expected[] = {
    { LLM_DTYPE_F32, "F32", 4 }, { LLM_DTYPE_F16, "F16", 2 }, { LLM_DTYPE_BF16, "BF16", 2 },
    { LLM_DTYPE_F64, "F64", 8 }, { LLM_DTYPE_I64, "I64", 8 }, { LLM_DTYPE_U64, "U64", 8 },
    { LLM_DTYPE_I32, "I32", 4 }, { LLM_DTYPE_U32, "U32", 4 }, { LLM_DTYPE_I16, "I16", 2 },
    { LLM_DTYPE_U16, "U16", 2 }, { LLM_DTYPE_I8, "I8", 1 }, { LLM_DTYPE_U8, "U8", 1 },
    { LLM_DTYPE_BOOL, "BOOL", 1 }, { LLM_DTYPE_F8_E5M2, "F8_E5M2", 1 },
    { LLM_DTYPE_F8_E4M3, "F8_E4M3", 1 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (expected); i++)
    {
      g_autofree char *header = NULL;
      g_autoptr(GPtrArray) tensors = NULL;
      g_autoptr(GError) error = NULL;
      const LlmTensorInfo *info;

      g_assert_cmpstr (llm_dtype_to_string (expected[i].dtype), ==, expected[i].name);
      g_assert_cmpuint (llm_dtype_size (expected[i].dtype), ==, expected[i].size);

      /* The reader knows each one by name, with its size. */
      header = g_strdup_printf ("{\"t\":{\"dtype\":\"%s\",\"shape\":[3],\"data_offsets\":[0,%"
                                G_GSIZE_FORMAT "]}}", expected[i].name, 3 * expected[i].size);
      g_assert_true (llm_safetensors_parse_header (header, strlen (header), 3 * expected[i].size,
                                                   &tensors, NULL, &error));
      g_assert_no_error (error);
      info = g_ptr_array_index (tensors, 0);
      g_assert_cmpint (info->dtype, ==, expected[i].dtype);
    }
}

/* ------------------------------------------------------------------------ */
/* Sharded folders */

#define SHARD_1 "model-00001-of-00002.safetensors"
#define SHARD_2 "model-00002-of-00002.safetensors"

static void
write_two_shards (Fixture *fixture)
{
  guint8 data1[24], data2[16];

  for (guint i = 0; i < sizeof data1; i++)
    data1[i] = (guint8) (i + 1);
  for (guint i = 0; i < sizeof data2; i++)
    data2[i] = (guint8) (100 + i);

  write_safetensors (fixture->dir, SHARD_1,
                     "{\"__metadata__\":{\"format\":\"pt\"},"
                     TENSOR ("model.embed_tokens.weight", "F32", "[2,2]", "[0,16]") ","
                     TENSOR ("model.layers.0.input_layernorm.weight", "BF16", "[4]", "[16,24]")
                     "}", data1, sizeof data1);
  write_safetensors (fixture->dir, SHARD_2,
                     "{" TENSOR ("model.layers.1.input_layernorm.weight", "F16", "[4]", "[0,8]") ","
                     TENSOR ("model.norm.weight", "F16", "[4]", "[8,16]") "}",
                     data2, sizeof data2);
}

#define INDEX_HEAD \
  "{\n  \"metadata\": {\"total_size\": 40, \"nested\": [1, -2.5e+3, true, null]},\n"

static void
test_open_sharded (Fixture       *fixture,
                   gconstpointer  user_data)
{
  g_autoptr(LlmWeights) weights = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *path2 = NULL;
  const LlmTensorInfo *info;
  const guint8 *data;

  write_two_shards (fixture);
  /* The index lists shard 2 first: file numbers follow the file names. */
  write_text (fixture->dir, "model.safetensors.index.json",
              INDEX_HEAD
              "  \"weight_map\": {\n"
              "    \"model.norm.weight\": \"" SHARD_2 "\",\n"
              "    \"model.embed_tokens.weight\": \"" SHARD_1 "\",\n"
              "    \"model.layers.0.input_layernorm.weight\": \"" SHARD_1 "\",\n"
              "    \"model.layers.1.input_layernorm.weight\": \"" SHARD_2 "\"\n"
              "  }\n}\n");

  weights = llm_weights_open (fixture->dir, &error);
  g_assert_no_error (error);
  g_assert_nonnull (weights);

  g_assert_cmpuint (llm_weights_get_n_tensors (weights), ==, 4);
  g_assert_cmpstr (llm_weights_get_tensor (weights, 0)->name, ==, "model.embed_tokens.weight");
  g_assert_cmpstr (llm_weights_get_tensor (weights, 3)->name, ==, "model.norm.weight");
  path2 = g_build_filename (fixture->dir, SHARD_2, NULL);
  g_assert_cmpstr (llm_weights_get_file_path (weights, 1), ==, path2);

  info = llm_weights_lookup (weights, "model.layers.0.input_layernorm.weight");
  g_assert_cmpuint (info->file_index, ==, 0);
  g_assert_cmpint (info->dtype, ==, LLM_DTYPE_BF16);

  info = llm_weights_lookup (weights, "model.norm.weight");
  g_assert_cmpuint (info->file_index, ==, 1);
  g_assert_cmpint (info->dtype, ==, LLM_DTYPE_F16);
  g_assert_cmpuint (info->size, ==, 8);

  /* Mapping a tensor of shard 2 reads shard 2. */
  data = llm_weights_map (weights, info, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < 8; i++)
    g_assert_cmpuint (data[i], ==, 108 + i);
  data = llm_weights_map (weights, llm_weights_lookup (weights, "model.embed_tokens.weight"),
                          &error);
  g_assert_no_error (error);
  g_assert_cmpuint (data[0], ==, 1);
  g_assert_cmpuint (data[15], ==, 16);
}

static void
test_index_missing_shard (Fixture       *fixture,
                          gconstpointer  user_data)
{
  write_two_shards (fixture);
  write_text (fixture->dir, "model.safetensors.index.json",
              "{\"weight_map\": {"
              "\"model.embed_tokens.weight\": \"" SHARD_1 "\","
              "\"model.layers.0.input_layernorm.weight\": \"" SHARD_1 "\","
              "\"model.layers.1.input_layernorm.weight\": \"" SHARD_2 "\","
              "\"model.norm.weight\": \"model-00003-of-00002.safetensors\"}}");
  assert_open_fails (fixture, LLM_SAFETENSORS_ERROR_MISSING,
                     "model.safetensors.index.json",
                     "model-00003-of-00002.safetensors, which does not exist", NULL);
}

static void
test_index_missing_tensor (Fixture       *fixture,
                           gconstpointer  user_data)
{
  write_two_shards (fixture);
  write_text (fixture->dir, "model.safetensors.index.json",
              "{\"weight_map\": {"
              "\"model.embed_tokens.weight\": \"" SHARD_1 "\","
              "\"model.layers.0.input_layernorm.weight\": \"" SHARD_1 "\","
              "\"model.layers.1.input_layernorm.weight\": \"" SHARD_2 "\","
              "\"model.layers.1.mlp.up_proj.weight\": \"" SHARD_2 "\","
              "\"model.norm.weight\": \"" SHARD_2 "\"}}");
  assert_open_fails (fixture, LLM_SAFETENSORS_ERROR_MISSING,
                     SHARD_2 ": tensor “model.layers.1.mlp.up_proj.weight” is not in the file",
                     NULL);
}

static void
test_index_duplicate_key (Fixture       *fixture,
                          gconstpointer  user_data)
{
  write_two_shards (fixture);
  write_text (fixture->dir, "model.safetensors.index.json",
              "{\"weight_map\": {"
              "\"model.embed_tokens.weight\": \"" SHARD_1 "\","
              "\"model.layers.0.input_layernorm.weight\": \"" SHARD_1 "\","
              "\"model.layers.1.input_layernorm.weight\": \"" SHARD_2 "\","
              "\"model.norm.weight\": \"" SHARD_2 "\","
              "\"model.embed_tokens.weight\": \"" SHARD_2 "\"}}");
  assert_open_fails (fixture, LLM_SAFETENSORS_ERROR_INVALID,
                     "model.safetensors.index.json",
                     "duplicate key “model.embed_tokens.weight” in weight_map", NULL);
}

static void
test_index_duplicate_top_key (Fixture       *fixture,
                              gconstpointer  user_data)
{
  write_two_shards (fixture);
  write_text (fixture->dir, "model.safetensors.index.json",
              "{\"weight_map\": {\"model.embed_tokens.weight\": \"" SHARD_1 "\"},"
              " \"weight_map\": {}}");
  assert_open_fails (fixture, LLM_SAFETENSORS_ERROR_INVALID,
                     "model.safetensors.index.json", "duplicate key “weight_map”", NULL);
}

static void
test_index_two_shards (Fixture       *fixture,
                       gconstpointer  user_data)
{
  guint8 data[8] = { 0 };

  write_two_shards (fixture);
  /* Shard 2 holds model.norm.weight, and so does a third one. */
  write_safetensors (fixture->dir, "model-extra.safetensors",
                     "{" TENSOR ("model.norm.weight", "F16", "[4]", "[0,8]") "}",
                     data, sizeof data);
  write_text (fixture->dir, "model.safetensors.index.json",
              "{\"weight_map\": {"
              "\"model.embed_tokens.weight\": \"" SHARD_1 "\","
              "\"model.layers.0.input_layernorm.weight\": \"" SHARD_1 "\","
              "\"model.layers.1.input_layernorm.weight\": \"model-extra.safetensors\","
              "\"model.norm.weight\": \"" SHARD_2 "\"}}");
  assert_open_fails (fixture, LLM_SAFETENSORS_ERROR_INVALID,
                     "“model.norm.weight” is in two files", SHARD_2, "model-extra.safetensors",
                     NULL);
}

static void
test_index_wrong_shard (Fixture       *fixture,
                        gconstpointer  user_data)
{
  write_two_shards (fixture);
  write_text (fixture->dir, "model.safetensors.index.json",
              "{\"weight_map\": {"
              "\"model.embed_tokens.weight\": \"" SHARD_1 "\","
              "\"model.layers.0.input_layernorm.weight\": \"" SHARD_1 "\","
              "\"model.layers.1.input_layernorm.weight\": \"" SHARD_2 "\","
              "\"model.norm.weight\": \"" SHARD_1 "\"}}");
  assert_open_fails (fixture, LLM_SAFETENSORS_ERROR_INVALID,
                     SHARD_2 ": tensor “model.norm.weight” is in the file, though "
                     "model.safetensors.index.json assigns it to " SHARD_1, NULL);
}

static void
test_index_unlisted_tensor (Fixture       *fixture,
                            gconstpointer  user_data)
{
  write_two_shards (fixture);
  write_text (fixture->dir, "model.safetensors.index.json",
              "{\"weight_map\": {"
              "\"model.embed_tokens.weight\": \"" SHARD_1 "\","
              "\"model.layers.0.input_layernorm.weight\": \"" SHARD_1 "\","
              "\"model.norm.weight\": \"" SHARD_2 "\"}}");
  assert_open_fails (fixture, LLM_SAFETENSORS_ERROR_INVALID,
                     SHARD_2 ": tensor “model.layers.1.input_layernorm.weight” is not listed",
                     NULL);
}

static void
test_index_bad_file_name (Fixture       *fixture,
                          gconstpointer  user_data)
{
  write_text (fixture->dir, "model.safetensors.index.json",
              "{\"weight_map\": {\"model.norm.weight\": \"../" SHARD_1 "\"}}");
  assert_open_fails (fixture, LLM_SAFETENSORS_ERROR_INVALID,
                     "model.safetensors.index.json", "not a file name", NULL);
}

static void
test_index_bad_shard (Fixture       *fixture,
                      gconstpointer  user_data)
{
  write_two_shards (fixture);
  write_safetensors (fixture->dir, SHARD_2,
                     "{" TENSOR ("model.layers.1.input_layernorm.weight", "F16", "[4]", "[0,8]") ","
                     TENSOR ("model.norm.weight", "F16", "[4]", "[8,16]") "}", NULL, 12);
  write_text (fixture->dir, "model.safetensors.index.json",
              "{\"weight_map\": {"
              "\"model.embed_tokens.weight\": \"" SHARD_1 "\","
              "\"model.layers.0.input_layernorm.weight\": \"" SHARD_1 "\","
              "\"model.layers.1.input_layernorm.weight\": \"" SHARD_2 "\","
              "\"model.norm.weight\": \"" SHARD_2 "\"}}");
  assert_open_fails (fixture, LLM_SAFETENSORS_ERROR_INVALID,
                     SHARD_2 ": tensor “model.norm.weight” ends at byte 16 past the data "
                     "(12 bytes)", NULL);
}

static void
test_index_deep_nesting (Fixture       *fixture,
                         gconstpointer  user_data)
{
  g_autoptr(GString) index = g_string_new ("{\"metadata\": ");

  /* Far deeper than the limit, and deep enough to exhaust a stack that
   * would not stop. */
  for (guint i = 0; i < 100000; i++)
    g_string_append (index, "[{\"a\":");
  write_text (fixture->dir, "model.safetensors.index.json", index->str);
  assert_open_fails (fixture, LLM_SAFETENSORS_ERROR_INVALID,
                     "model.safetensors.index.json", "nested deeper", NULL);
}

static void
test_index_strict_json (Fixture       *fixture,
                        gconstpointer  user_data)
{
  const struct
  {
    const char *index;
    const char *word;
  } cases[] = {
    { "{\"weight_map\": {\"a\": \"" SHARD_1 "\",}}", "trailing comma" },
    { "{\"metadata\": {\"total_size\": 0x10}, \"weight_map\": {}}", "hexadecimal" },
    { "{\"metadata\": {\"total_size\": 010}, \"weight_map\": {}}", "leading zeros" },
    { "{\"metadata\": {\"total_size\": +10}, \"weight_map\": {}}", "“+”" },
    { "{\"metadata\": {\"a\": 1, \"a\": 2}, \"weight_map\": {}}", "duplicate key “a”" },
    { "{\"metadata\": {} /* size */, \"weight_map\": {}}", "comments" },
    { "{\"metadata\": {\"total_size\": 1.}, \"weight_map\": {}}", "a digit" },
    { "{\"metadata\": tru, \"weight_map\": {}}", "expected a JSON value" },
    { "{\"metadata\": {}}", "no weight_map" },
    { "{\"weight_map\": {}}", "lists no tensor" },
    { "{\"weight_map\": {\"a\": 1}}", "must be a file name" },
    { "{\"weight_map\": []}", "must be an object" },
    { "[]", "not a JSON object" },
    { "{\"weight_map\": {\"a\": \"" SHARD_1 "\"}} {}", "trailing data" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      write_text (fixture->dir, "model.safetensors.index.json", cases[i].index);
      assert_open_fails (fixture, LLM_SAFETENSORS_ERROR_INVALID,
                         "model.safetensors.index.json: ", cases[i].word, NULL);
    }
}

/* ------------------------------------------------------------------------ */
/* Mapping */

static void
test_map_only_the_tensor (Fixture       *fixture,
                          gconstpointer  user_data)
{
  /* Three tensors of a few pages each, not on page boundaries. */
  const gsize n = 50001;   /* floats */
  const char *header_format =
    "{" TENSOR ("a", "F32", "[50001]", "[0,200004]") ","
        TENSOR ("b", "F32", "[50001]", "[200004,400008]") ","
        TENSOR ("c", "F32", "[50001]", "[400008,600012]") "}";
  const guint64 page_size = (guint64) sysconf (_SC_PAGESIZE);
  g_autofree float *data = g_new (float, 3 * n);
  g_autoptr(LlmWeights) weights = NULL;
  g_autoptr(GError) error = NULL;
  const LlmTensorInfo *b;
  const float *mapped;
  guint64 mapped_bytes;

  for (gsize i = 0; i < 3 * n; i++)
    data[i] = (float) i;
  write_safetensors (fixture->dir, "model.safetensors", header_format,
                     (const guint8 *) data, 3 * n * sizeof (float));

  weights = llm_weights_open (fixture->dir, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (llm_weights_get_mapped_bytes (weights), ==, 0);

  b = llm_weights_lookup (weights, "b");
  mapped = llm_weights_map (weights, b, &error);
  g_assert_no_error (error);
  g_assert_cmpfloat (mapped[0], ==, (float) n);
  g_assert_cmpfloat (mapped[n - 1], ==, (float) (2 * n - 1));

  mapped_bytes = llm_weights_get_mapped_bytes (weights);
  g_test_message ("tensor of %" G_GUINT64_FORMAT " bytes, %" G_GUINT64_FORMAT " mapped",
                  b->size, mapped_bytes);
  g_assert_cmpuint (mapped_bytes, >=, b->size);
  g_assert_cmpuint (mapped_bytes, <=, b->size + 2 * page_size);
}

static void
test_map_sparse_file (Fixture       *fixture,
                      gconstpointer  user_data)
{
  /* A 16 GiB tensor that exists only as a hole, then a small one: opening
   * reads the header only, and mapping the small one maps a page or two. */
  const char *header =
    "{" TENSOR ("huge", "U8", "[17179869184]", "[0,17179869184]") ","
        TENSOR ("tail", "U8", "[16]", "[17179869184,17179869200]") "}";
  const guint64 page_size = (guint64) sysconf (_SC_PAGESIZE);
  const guint64 length = strlen (header);
  g_autofree char *path = g_build_filename (fixture->dir, "model.safetensors", NULL);
  g_autoptr(LlmWeights) weights = NULL;
  g_autoptr(GError) error = NULL;
  const LlmTensorInfo *tail;
  const guint8 *bytes;
  guint8 tail_data[16];
  int fd;

  fd = g_open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  g_assert_cmpint (fd, >=, 0);
  for (guint i = 0; i < 16; i++)
    tail_data[i] = (guint8) (0xa0 + i);
  {
    guint8 length_bytes[8];

    for (guint i = 0; i < 8; i++)
      length_bytes[i] = (guint8) (length >> (8 * i));
    g_assert_cmpint (pwrite (fd, length_bytes, 8, 0), ==, 8);
    g_assert_cmpint (pwrite (fd, header, length, 8), ==, (gssize) length);
  }
  if (pwrite (fd, tail_data, 16, (off_t) (8 + length + G_GUINT64_CONSTANT (17179869184))) != 16)
    {
      int saved_errno = errno;

      g_autofree char *message = g_strdup_printf ("no sparse file of 16 GiB here: %s",
                                                  g_strerror (saved_errno));

      close (fd);
      g_test_skip (message);
      return;
    }
  close (fd);

  weights = llm_weights_open (fixture->dir, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (llm_weights_lookup (weights, "huge")->size, ==,
                    G_GUINT64_CONSTANT (17179869184));

  tail = llm_weights_lookup (weights, "tail");
  bytes = llm_weights_map (weights, tail, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (bytes, 16, tail_data, 16);
  g_assert_cmpuint (llm_weights_get_mapped_bytes (weights), <=, 2 * page_size);
}

static void
test_map_file_shrank (Fixture       *fixture,
                      gconstpointer  user_data)
{
  guint8 data[40];
  g_autofree char *path = g_build_filename (fixture->dir, "model.safetensors", NULL);
  g_autoptr(LlmWeights) weights = NULL;
  g_autoptr(GError) error = NULL;

  guint64 data_start;

  make_three_dtypes_data (data);
  data_start = write_safetensors (fixture->dir, "model.safetensors", THREE_DTYPES_HEADER,
                                  data, sizeof data);
  weights = llm_weights_open (fixture->dir, &error);
  g_assert_no_error (error);

  /* Cut after it was opened: mapping must fail, not crash later. */
  g_assert_cmpint (truncate (path, (off_t) data_start + 30), ==, 0);
  g_assert_null (llm_weights_map (weights, llm_weights_lookup (weights, "norm"), &error));
  g_assert_error (error, LLM_SAFETENSORS_ERROR, LLM_SAFETENSORS_ERROR_INVALID);
  g_assert_nonnull (strstr (error->message, "model.safetensors: the file shrank"));
  g_clear_error (&error);

  /* What is still there still maps. */
  g_assert_nonnull (llm_weights_map (weights, llm_weights_lookup (weights, "embed"), &error));
  g_assert_no_error (error);
}

/* ------------------------------------------------------------------------ */
/* A real model */

static char *
find_stories260k (void)
{
  const char *shared = g_getenv ("LLM_NODE_SHARED_DIR");
  g_autofree char *dir = NULL;
  g_autofree char *file = NULL;

  if (shared == NULL)
    return NULL;
  dir = g_build_filename (shared, "models", "stories260K", NULL);
  file = g_build_filename (dir, "model.safetensors", NULL);
  if (!g_file_test (file, G_FILE_TEST_IS_REGULAR))
    return NULL;
  return g_steal_pointer (&dir);
}

static void
test_stories260k (void)
{
  static const char * const layer_tensors[] = {
    "input_layernorm.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight",
    "self_attn.v_proj.weight", "self_attn.o_proj.weight", "post_attention_layernorm.weight",
    "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight",
  };
  g_autofree char *dir = find_stories260k ();
  g_autoptr(LlmWeights) weights = NULL;
  g_autoptr(GError) error = NULL;
  const guint64 page_size = (guint64) sysconf (_SC_PAGESIZE);
  const LlmTensorInfo *embed;
  const float *values;

  if (dir == NULL)
    {
      g_test_skip ("stories260K not found: set LLM_NODE_SHARED_DIR to the shared folder "
                   "that holds models/stories260K/model.safetensors");
      return;
    }

  weights = llm_weights_open (dir, &error);
  g_assert_no_error (error);

  /* Embeddings, 9 tensors for each of 5 layers, the final norm; the
   * embeddings are tied, so no lm_head. */
  g_assert_cmpuint (llm_weights_get_n_tensors (weights), ==, 1 + 5 * 9 + 1);
  for (guint layer = 0; layer < 5; layer++)
    for (guint i = 0; i < G_N_ELEMENTS (layer_tensors); i++)
      {
        g_autofree char *name = g_strdup_printf ("model.layers.%u.%s", layer, layer_tensors[i]);
        const LlmTensorInfo *info = llm_weights_lookup (weights, name);

        g_assert_nonnull (info);
        g_assert_cmpint (info->dtype, ==, LLM_DTYPE_F32);
      }
  g_assert_nonnull (llm_weights_lookup (weights, "model.norm.weight"));
  g_assert_null (llm_weights_lookup (weights, "lm_head.weight"));

  embed = llm_weights_lookup (weights, "model.embed_tokens.weight");
  g_assert_nonnull (embed);
  g_assert_cmpint (embed->dtype, ==, LLM_DTYPE_F32);
  g_assert_cmpuint (embed->n_dims, ==, 2);
  g_assert_cmpuint (embed->shape[0], ==, 512);
  g_assert_cmpuint (embed->shape[1], ==, 64);
  g_assert_cmpuint (embed->size, ==, 512 * 64 * 4);

  /* Mapping the embeddings maps about their size, not the file. */
  values = llm_weights_map (weights, embed, &error);
  g_assert_no_error (error);
  for (guint i = 0; i < 512 * 64; i++)
    g_assert_true (isfinite (values[i]));
  g_assert_cmpuint (llm_weights_get_mapped_bytes (weights), >=, embed->size);
  g_assert_cmpuint (llm_weights_get_mapped_bytes (weights), <=, embed->size + 2 * page_size);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  for (guint i = 0; i < G_N_ELEMENTS (header_cases); i++)
    {
      g_autofree char *path = g_strconcat ("/llm/safetensors/reject/", header_cases[i].path,
                                           NULL);

      g_test_add (path, Fixture, &header_cases[i], fixture_set_up, test_reject_header,
                  fixture_tear_down);
    }

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/llm/safetensors/reject/short-file", test_reject_short_file);
  ADD ("/llm/safetensors/reject/empty-file", test_reject_empty_file);
  ADD ("/llm/safetensors/reject/header-too-large", test_reject_header_too_large);
  ADD ("/llm/safetensors/reject/header-past-file", test_reject_header_past_file);
  ADD ("/llm/safetensors/reject/huge-header-length", test_reject_huge_header_length);
  ADD ("/llm/safetensors/reject/tensor-past-file", test_reject_tensor_past_file);
  ADD ("/llm/safetensors/reject/not-regular-file", test_reject_not_regular);
  ADD ("/llm/safetensors/reject/no-weights", test_reject_no_weights);

  ADD ("/llm/safetensors/open/single", test_open_single);
  ADD ("/llm/safetensors/open/scalar-and-empty", test_parse_scalar_and_empty);
  ADD ("/llm/safetensors/open/sharded", test_open_sharded);
  g_test_add_func ("/llm/safetensors/parse/metadata", test_parse_metadata);
  g_test_add_func ("/llm/safetensors/parse/escapes", test_parse_escapes);
  g_test_add_func ("/llm/safetensors/parse/whitespace", test_parse_whitespace);
  g_test_add_func ("/llm/safetensors/parse/dtypes", test_dtypes);

  ADD ("/llm/safetensors/index/missing-shard", test_index_missing_shard);
  ADD ("/llm/safetensors/index/missing-tensor", test_index_missing_tensor);
  ADD ("/llm/safetensors/index/duplicate-key", test_index_duplicate_key);
  ADD ("/llm/safetensors/index/duplicate-top-key", test_index_duplicate_top_key);
  ADD ("/llm/safetensors/index/two-shards", test_index_two_shards);
  ADD ("/llm/safetensors/index/wrong-shard", test_index_wrong_shard);
  ADD ("/llm/safetensors/index/unlisted-tensor", test_index_unlisted_tensor);
  ADD ("/llm/safetensors/index/bad-file-name", test_index_bad_file_name);
  ADD ("/llm/safetensors/index/bad-shard", test_index_bad_shard);
  ADD ("/llm/safetensors/index/deep-nesting", test_index_deep_nesting);
  ADD ("/llm/safetensors/index/strict-json", test_index_strict_json);

  ADD ("/llm/safetensors/map/only-the-tensor", test_map_only_the_tensor);
  ADD ("/llm/safetensors/map/sparse-file", test_map_sparse_file);
  ADD ("/llm/safetensors/map/file-shrank", test_map_file_shrank);
#undef ADD

  g_test_add_func ("/llm/safetensors/stories260K", test_stories260k);

  return g_test_run ();
}

/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <sodium.h>
#include <string.h>

#include "llm-address.h"
#include "llm-identity.h"

/* Test vectors, computed independently of this code with Python's
 * `cryptography` and `hashlib` (the derivation of the address spelled out):
 *
 *   from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
 *   from cryptography.hazmat.primitives import serialization as s
 *   import hashlib, base64
 *   def address(seed):
 *       pk = Ed25519PrivateKey.from_private_bytes(seed).public_key() \
 *              .public_bytes(s.Encoding.Raw, s.PublicFormat.Raw)
 *       checksum = hashlib.blake2b(b".llm checksum" + pk + b"\x01", digest_size=32).digest()[:2]
 *       return base64.b32encode(pk + checksum + b"\x01").decode().lower() + ".llm"
 *
 * The first key is RFC 8032's test 1, whose public key the RFC gives. */
static const struct {
  const char *seed;
  const char *public_key;
  const char *address;
} vectors[] = {
  { "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    "25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenjjvab.llm" },
  { "0000000000000000000000000000000000000000000000000000000000000000",
    "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29",
    "hnvcppgow2sc2yvdvdicu3ynonsteflxdxrehjr2ybekdc2z3iu3xsyb.llm" },
  { "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
    "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8",
    "aoqqpp7tzyil4hlq3umoos6atft6jvrqtosq2xy53sdgiesvgg4i6pab.llm" },
};

static void
hex_decode (const char *hex,
            guint8     *out,
            gsize       size)
{
  g_assert_cmpuint (strlen (hex), ==, 2 * size);
  for (gsize i = 0; i < size; i++)
    out[i] = (g_ascii_xdigit_value (hex[2 * i]) << 4) | g_ascii_xdigit_value (hex[2 * i + 1]);
}

static void
test_address_vectors (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (vectors); i++)
    {
      g_autoptr(LlmIdentity) identity = NULL;
      g_autoptr(GError) error = NULL;
      g_autofree char *address = NULL;
      guint8 seed[32], public_key[32], parsed[32];

      hex_decode (vectors[i].seed, seed, sizeof seed);
      hex_decode (vectors[i].public_key, public_key, sizeof public_key);

      address = llm_address_from_public_key (public_key);
      g_assert_cmpstr (address, ==, vectors[i].address);
      g_assert_cmpuint (strlen (address), ==, LLM_ADDRESS_LENGTH);

      identity = llm_identity_new_from_seed (seed);
      g_assert_cmpstr (llm_identity_get_address (identity), ==, vectors[i].address);
      g_assert_cmpmem (llm_identity_get_public_key (identity), 32, public_key, 32);

      g_assert_true (llm_address_parse (vectors[i].address, parsed, &error));
      g_assert_no_error (error);
      g_assert_cmpmem (parsed, 32, public_key, 32);
      g_assert_true (llm_address_is_valid (vectors[i].address));
    }
}

static void
test_address_roundtrip (void)
{
  for (guint i = 0; i < 64; i++)
    {
      g_autoptr(LlmIdentity) identity = llm_identity_generate ();
      const char *address = llm_identity_get_address (identity);
      guint8 parsed[32];

      g_assert_cmpuint (strlen (address), ==, LLM_ADDRESS_LENGTH);
      g_assert_true (g_str_has_suffix (address, ".llm"));
      g_assert_true (llm_address_parse (address, parsed, NULL));
      g_assert_cmpmem (parsed, 32, llm_identity_get_public_key (identity), 32);
    }
}

static void
assert_refused (const char *address,
                int         code,
                const char *message_pattern)
{
  g_autoptr(GError) error = NULL;
  guint8 key[32] = { 0 };

  g_assert_false (llm_address_parse (address, key, &error));
  g_assert_error (error, LLM_ADDRESS_ERROR, code);
  if (!g_pattern_match_simple (message_pattern, error->message))
    g_error ("“%s” does not match “%s”", error->message, message_pattern);
  g_assert_false (llm_address_is_valid (address));
}

/* Replaces the base32 digit at @index with @c. */
static char *
dup_with (const char *address,
          guint       index,
          char        c)
{
  char *copy = g_strdup (address);

  copy[index] = c;
  return copy;
}

static void
test_address_errors (void)
{
  const char *good = vectors[0].address;
  g_autofree char *long_one = g_strconcat ("a", good, NULL);
  g_autofree char *upper = g_ascii_strup (good, -1);
  g_autofree char *upper_suffix = NULL;
  g_autofree char *bad_char = dup_with (good, 10, '1');
  g_autofree char *bad_char8 = dup_with (good, 0, '8');
  g_autofree char *bad_punct = dup_with (good, 5, '.');
  g_autofree char *bad_checksum = dup_with (good, 52, good[52] == 'a' ? 'b' : 'a');
  g_autofree char *bad_key = dup_with (good, 3, good[3] == 'a' ? 'b' : 'a');
  g_autofree char *non_utf8 = dup_with (good, 7, '\xff');
  g_autofree char *version2 = NULL;
  g_autofree char *not_a_point = NULL;
  guint8 key[32];
  guint8 decoded[35];

  assert_refused ("", LLM_ADDRESS_ERROR_LENGTH, "*has 0 characters, not 60*");
  assert_refused (long_one, LLM_ADDRESS_ERROR_LENGTH, "*has 61 characters*");
  assert_refused ("25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenjjvab.onion",
                  LLM_ADDRESS_ERROR_LENGTH, "*62 characters*");
  assert_refused ("25njqamcweflpvkl73j4szahhihoc4xt3ktcgjnpaingr5yhkenjjvab.com",
                  LLM_ADDRESS_ERROR_SUFFIX, "*does not end in “.llm”*");
  assert_refused (upper, LLM_ADDRESS_ERROR_UPPERCASE, "*lower case*");
  upper_suffix = g_strdup (good);
  memcpy (upper_suffix + 56, ".LLM", 4);
  assert_refused (upper_suffix, LLM_ADDRESS_ERROR_UPPERCASE, "*lower case*");
  assert_refused (bad_char, LLM_ADDRESS_ERROR_CHARACTER,
                  "*character 11 is not one of a–z and 2–7*");
  assert_refused (bad_char8, LLM_ADDRESS_ERROR_CHARACTER, "*character 1 *");
  assert_refused (bad_punct, LLM_ADDRESS_ERROR_CHARACTER, "*character 6 *");
  assert_refused (non_utf8, LLM_ADDRESS_ERROR_CHARACTER, "*character 8 *");
  assert_refused (bad_checksum, LLM_ADDRESS_ERROR_CHECKSUM, "*checksum does not match*");
  assert_refused (bad_key, LLM_ADDRESS_ERROR_CHECKSUM, "*checksum*");

  /* A version 2 address with a checksum that is right for version 2: the
   * version is what is refused. base32 of pk ‖ checksum ‖ 0x02. */
  {
    crypto_generichash_state state;
    guint8 digest[32], version = 2;
    GString *s = g_string_new (NULL);
    guint bits = 0, value = 0;

    hex_decode (vectors[0].public_key, decoded, 32);
    crypto_generichash_init (&state, NULL, 0, 32);
    crypto_generichash_update (&state, (const guint8 *) ".llm checksum", 13);
    crypto_generichash_update (&state, decoded, 32);
    crypto_generichash_update (&state, &version, 1);
    crypto_generichash_final (&state, digest, 32);
    decoded[32] = digest[0];
    decoded[33] = digest[1];
    decoded[34] = version;
    for (guint i = 0; i < 35; i++)
      {
        value = (value << 8) | decoded[i];
        bits += 8;
        while (bits >= 5)
          {
            g_string_append_c (s, "abcdefghijklmnopqrstuvwxyz234567"[(value >> (bits - 5)) & 31]);
            bits -= 5;
          }
      }
    g_string_append (s, ".llm");
    version2 = g_string_free (s, FALSE);
  }
  assert_refused (version2, LLM_ADDRESS_ERROR_VERSION, "*has version 2, not 1*");

  /* A right checksum of 32 bytes that are not a curve point: the address
   * is well formed but names no key. y = 2 is not on the curve. */
  memset (key, 0, sizeof key);
  key[0] = 2;
  g_assert_cmpint (crypto_core_ed25519_is_valid_point (key), ==, 0);
  not_a_point = llm_address_from_public_key (key);
  assert_refused (not_a_point, LLM_ADDRESS_ERROR_KEY, "*not name a valid Ed25519 public key*");

  /* Long garbage is quoted short. */
  {
    g_autofree char *garbage = g_strnfill (5000, 'x');
    g_autoptr(GError) error = NULL;

    g_assert_false (llm_address_parse (garbage, NULL, &error));
    g_assert_error (error, LLM_ADDRESS_ERROR, LLM_ADDRESS_ERROR_LENGTH);
    g_assert_cmpuint (strlen (error->message), <, 200);
  }
}

static void
test_address_verify (void)
{
  g_autoptr(LlmIdentity) signer = llm_identity_generate ();
  g_autoptr(LlmIdentity) other = llm_identity_generate ();
  g_autoptr(GError) error = NULL;
  static const char record[] = "llm-node dht record v1: layers 0-9";
  guint8 signature[64];

  llm_identity_sign (signer, record, sizeof record, signature);
  g_assert_true (llm_address_verify (llm_identity_get_address (signer), record, sizeof record,
                                     signature, &error));
  g_assert_no_error (error);

  g_assert_false (llm_address_verify (llm_identity_get_address (other), record, sizeof record,
                                      signature, &error));
  g_assert_error (error, LLM_ADDRESS_ERROR, LLM_ADDRESS_ERROR_SIGNATURE);
  g_clear_error (&error);

  signature[10] ^= 1;
  g_assert_false (llm_address_verify (llm_identity_get_address (signer), record, sizeof record,
                                      signature, &error));
  g_assert_error (error, LLM_ADDRESS_ERROR, LLM_ADDRESS_ERROR_SIGNATURE);
  g_clear_error (&error);

  g_assert_false (llm_address_verify ("nope", record, sizeof record, signature, &error));
  g_assert_error (error, LLM_ADDRESS_ERROR, LLM_ADDRESS_ERROR_LENGTH);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/llm/address/vectors", test_address_vectors);
  g_test_add_func ("/llm/address/roundtrip", test_address_roundtrip);
  g_test_add_func ("/llm/address/errors", test_address_errors);
  g_test_add_func ("/llm/address/verify", test_address_verify);

  return g_test_run ();
}

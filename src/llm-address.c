/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-address"

#include "llm-address.h"

#include <sodium.h>
#include <string.h>

G_DEFINE_QUARK (llm-address-error-quark, llm_address_error)

#define CHECKSUM_LABEL  ".llm checksum"
#define CHECKSUM_SIZE   2
#define DECODED_SIZE    (LLM_ADDRESS_PUBLIC_KEY_SIZE + CHECKSUM_SIZE + 1)
#define ENCODED_SIZE    (LLM_ADDRESS_LENGTH - (sizeof LLM_ADDRESS_SUFFIX - 1))

G_STATIC_ASSERT (DECODED_SIZE * 8 == ENCODED_SIZE * 5);

static const char base32_alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

static void
compute_checksum (const guint8 public_key[LLM_ADDRESS_PUBLIC_KEY_SIZE],
                  guint8       version,
                  guint8       checksum[CHECKSUM_SIZE])
{
  crypto_generichash_state state;
  guint8 digest[32];

  crypto_generichash_init (&state, NULL, 0, sizeof digest);
  crypto_generichash_update (&state, (const guint8 *) CHECKSUM_LABEL, strlen (CHECKSUM_LABEL));
  crypto_generichash_update (&state, public_key, LLM_ADDRESS_PUBLIC_KEY_SIZE);
  crypto_generichash_update (&state, &version, 1);
  crypto_generichash_final (&state, digest, sizeof digest);
  memcpy (checksum, digest, CHECKSUM_SIZE);
}

/**
 * llm_address_from_public_key:
 * @public_key: an Ed25519 public key
 *
 * Returns: (transfer full): the `.llm` address of @public_key
 */
char *
llm_address_from_public_key (const guint8 public_key[LLM_ADDRESS_PUBLIC_KEY_SIZE])
{
  guint8 decoded[DECODED_SIZE];
  GString *address;
  guint bits = 0;
  guint value = 0;

  g_return_val_if_fail (public_key != NULL, NULL);

  memcpy (decoded, public_key, LLM_ADDRESS_PUBLIC_KEY_SIZE);
  compute_checksum (public_key, LLM_ADDRESS_VERSION, decoded + LLM_ADDRESS_PUBLIC_KEY_SIZE);
  decoded[DECODED_SIZE - 1] = LLM_ADDRESS_VERSION;

  /* 280 bits make exactly 56 groups of five: no padding, no spare bits. */
  address = g_string_sized_new (LLM_ADDRESS_LENGTH);
  for (guint i = 0; i < DECODED_SIZE; i++)
    {
      value = (value << 8) | decoded[i];
      bits += 8;
      while (bits >= 5)
        {
          g_string_append_c (address, base32_alphabet[(value >> (bits - 5)) & 0x1f]);
          bits -= 5;
        }
    }
  g_assert (bits == 0);
  g_string_append (address, LLM_ADDRESS_SUFFIX);
  g_assert (address->len == LLM_ADDRESS_LENGTH);

  return g_string_free (address, FALSE);
}

/* Error messages quote what they were given; peers and users can give
 * anything, so the quote is made valid UTF-8 first, and kept short. */
static char *
dup_quotable (const char *valid)
{
  if (g_utf8_strlen (valid, -1) > 70)
    {
      g_autofree char *head = g_utf8_substring (valid, 0, 64);
      return g_strdup_printf ("%s…", head);
    }

  return g_strdup (valid);
}

static int
base32_value (char c)
{
  if (c >= 'a' && c <= 'z')
    return c - 'a';
  if (c >= '2' && c <= '7')
    return c - '2' + 26;
  return -1;
}

/**
 * llm_address_parse:
 * @address: a `.llm` address
 * @public_key: (out caller-allocates) (optional): where to store the key
 * @error: return location for a #GError in %LLM_ADDRESS_ERROR
 *
 * Checks @address (length, suffix, alphabet, version, checksum, and that it
 * names a valid Ed25519 point) and extracts the public key it names. Each
 * defect has its own error code; the message quotes the address.
 *
 * Returns: %TRUE if @address is a well-formed `.llm` address
 */
gboolean
llm_address_parse (const char  *address,
                   guint8       public_key[LLM_ADDRESS_PUBLIC_KEY_SIZE],
                   GError     **error)
{
  g_autofree char *valid = NULL;
  g_autofree char *quoted = NULL;
  guint8 decoded[DECODED_SIZE];
  guint8 checksum[CHECKSUM_SIZE];
  gsize length;
  guint bits = 0;
  guint value = 0;
  guint n = 0;

  g_return_val_if_fail (address != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  valid = g_utf8_make_valid (address, -1);
  quoted = dup_quotable (valid);
  length = strlen (address);

  if (length != LLM_ADDRESS_LENGTH)
    {
      g_set_error (error, LLM_ADDRESS_ERROR, LLM_ADDRESS_ERROR_LENGTH,
                   "“%s” is not a .llm address: it has %ld characters, not %d",
                   quoted, g_utf8_strlen (valid, -1), LLM_ADDRESS_LENGTH);
      return FALSE;
    }

  if (memcmp (address + ENCODED_SIZE, LLM_ADDRESS_SUFFIX, sizeof LLM_ADDRESS_SUFFIX - 1) != 0)
    {
      if (g_ascii_strcasecmp (address + ENCODED_SIZE, LLM_ADDRESS_SUFFIX) == 0)
        g_set_error (error, LLM_ADDRESS_ERROR, LLM_ADDRESS_ERROR_UPPERCASE,
                     "“%s” is not a .llm address: addresses are written in lower case",
                     quoted);
      else
        g_set_error (error, LLM_ADDRESS_ERROR, LLM_ADDRESS_ERROR_SUFFIX,
                     "“%s” is not a .llm address: it does not end in “%s”",
                     quoted, LLM_ADDRESS_SUFFIX);
      return FALSE;
    }

  for (guint i = 0; i < ENCODED_SIZE; i++)
    {
      int v = base32_value (address[i]);

      if (v < 0)
        {
          if (g_ascii_isupper (address[i]))
            g_set_error (error, LLM_ADDRESS_ERROR, LLM_ADDRESS_ERROR_UPPERCASE,
                         "“%s” is not a .llm address: addresses are written in lower case",
                         quoted);
          else
            g_set_error (error, LLM_ADDRESS_ERROR, LLM_ADDRESS_ERROR_CHARACTER,
                         "“%s” is not a .llm address: character %u is not one of "
                         "a–z and 2–7",
                         quoted, i + 1);
          return FALSE;
        }

      value = (value << 5) | (guint) v;
      bits += 5;
      if (bits >= 8)
        {
          decoded[n++] = (value >> (bits - 8)) & 0xff;
          bits -= 8;
        }
    }
  g_assert (n == DECODED_SIZE && bits == 0);

  if (decoded[DECODED_SIZE - 1] != LLM_ADDRESS_VERSION)
    {
      g_set_error (error, LLM_ADDRESS_ERROR, LLM_ADDRESS_ERROR_VERSION,
                   "“%s” is not a .llm address this node understands: it has version %u, "
                   "not %d",
                   quoted, decoded[DECODED_SIZE - 1], LLM_ADDRESS_VERSION);
      return FALSE;
    }

  compute_checksum (decoded, decoded[DECODED_SIZE - 1], checksum);
  if (memcmp (checksum, decoded + LLM_ADDRESS_PUBLIC_KEY_SIZE, CHECKSUM_SIZE) != 0)
    {
      g_set_error (error, LLM_ADDRESS_ERROR, LLM_ADDRESS_ERROR_CHECKSUM,
                   "“%s” is not a .llm address: its checksum does not match (a typo?)",
                   quoted);
      return FALSE;
    }

  /* A checksum is no signature: anyone can make a well-formed address of 32
   * arbitrary bytes. Refusing what is not a point in the prime-order group
   * here gives a clear error rather than a handshake that can never work. */
  if (sodium_init () < 0 || crypto_core_ed25519_is_valid_point (decoded) != 1)
    {
      g_set_error (error, LLM_ADDRESS_ERROR, LLM_ADDRESS_ERROR_KEY,
                   "“%s” is not a .llm address: it does not name a valid Ed25519 public key",
                   quoted);
      return FALSE;
    }

  if (public_key != NULL)
    memcpy (public_key, decoded, LLM_ADDRESS_PUBLIC_KEY_SIZE);

  return TRUE;
}

/**
 * llm_address_is_valid:
 * @address: (nullable): a string
 *
 * Returns: %TRUE if llm_address_parse() accepts @address
 */
gboolean
llm_address_is_valid (const char *address)
{
  return address != NULL && llm_address_parse (address, NULL, NULL);
}

/**
 * llm_address_verify:
 * @address: the `.llm` address of the signer
 * @data: (array length=size): the signed bytes
 * @size: the size of @data
 * @signature: an Ed25519 signature, as made by llm_identity_sign()
 * @error: return location for a #GError in %LLM_ADDRESS_ERROR
 *
 * Checks that the node named @address signed @data: discovery checks the
 * records that peers publish with this.
 *
 * Returns: %TRUE if @signature is the signature of @data by @address's key
 */
gboolean
llm_address_verify (const char   *address,
                    const void   *data,
                    gsize         size,
                    const guint8  signature[LLM_ADDRESS_SIGNATURE_SIZE],
                    GError      **error)
{
  guint8 public_key[LLM_ADDRESS_PUBLIC_KEY_SIZE];

  g_return_val_if_fail (address != NULL, FALSE);
  g_return_val_if_fail (data != NULL || size == 0, FALSE);
  g_return_val_if_fail (signature != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!llm_address_parse (address, public_key, error))
    return FALSE;

  if (crypto_sign_verify_detached (signature, data, size, public_key) != 0)
    {
      g_set_error (error, LLM_ADDRESS_ERROR, LLM_ADDRESS_ERROR_SIGNATURE,
                   "The signature is not from %s", address);
      return FALSE;
    }

  return TRUE;
}

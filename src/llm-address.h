/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/**
 * SECTION:llm-address
 *
 * A node's `.llm` address names its Ed25519 public key, the way Tor v3 names
 * an onion service:
 *
 * |[
 * address  = base32 (public_key ‖ checksum ‖ version) ".llm"
 * checksum = BLAKE2b-256 (".llm checksum" ‖ public_key ‖ version) [0..1]
 * version  = 0x01
 * ]|
 *
 * base32 is RFC 4648's alphabet in lower case, without padding: 35 bytes make
 * exactly 56 characters, so an address is always 60 characters long.
 *
 * Addresses are canonical: lower case only. Comparing two addresses is
 * comparing two strings (g_str_equal(), g_str_hash() as a table key), which
 * only holds if there is one spelling per key, so the parser refuses upper
 * case with %LLM_ADDRESS_ERROR_UPPERCASE rather than folding it.
 *
 * An address is self-certifying: whoever proves in a handshake that they
 * hold the secret half of the key it names *is* that node
 * (see llm-connection.h).
 */

#define LLM_ADDRESS_LENGTH          60
#define LLM_ADDRESS_VERSION         1
#define LLM_ADDRESS_SUFFIX          ".llm"
#define LLM_ADDRESS_PUBLIC_KEY_SIZE 32
#define LLM_ADDRESS_SIGNATURE_SIZE  64

#define LLM_ADDRESS_ERROR (llm_address_error_quark ())

/**
 * LlmAddressError:
 * @LLM_ADDRESS_ERROR_LENGTH: not 60 characters long
 * @LLM_ADDRESS_ERROR_SUFFIX: does not end in `.llm`
 * @LLM_ADDRESS_ERROR_UPPERCASE: has upper-case letters; addresses are lower case
 * @LLM_ADDRESS_ERROR_CHARACTER: a character outside base32 (a–z, 2–7)
 * @LLM_ADDRESS_ERROR_VERSION: a version other than %LLM_ADDRESS_VERSION
 * @LLM_ADDRESS_ERROR_CHECKSUM: the checksum does not match: a typo
 * @LLM_ADDRESS_ERROR_KEY: the key is not a usable Ed25519 public key
 * @LLM_ADDRESS_ERROR_SIGNATURE: a signature does not verify with the address's key
 */
typedef enum
{
  LLM_ADDRESS_ERROR_LENGTH,
  LLM_ADDRESS_ERROR_SUFFIX,
  LLM_ADDRESS_ERROR_UPPERCASE,
  LLM_ADDRESS_ERROR_CHARACTER,
  LLM_ADDRESS_ERROR_VERSION,
  LLM_ADDRESS_ERROR_CHECKSUM,
  LLM_ADDRESS_ERROR_KEY,
  LLM_ADDRESS_ERROR_SIGNATURE,
} LlmAddressError;

GQuark   llm_address_error_quark     (void);

char    *llm_address_from_public_key (const guint8  public_key[LLM_ADDRESS_PUBLIC_KEY_SIZE]);
gboolean llm_address_parse           (const char   *address,
                                      guint8        public_key[LLM_ADDRESS_PUBLIC_KEY_SIZE],
                                      GError      **error);
gboolean llm_address_is_valid        (const char   *address);
gboolean llm_address_verify          (const char   *address,
                                      const void   *data,
                                      gsize         size,
                                      const guint8  signature[LLM_ADDRESS_SIGNATURE_SIZE],
                                      GError      **error);

G_END_DECLS

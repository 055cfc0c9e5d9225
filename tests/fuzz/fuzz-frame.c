/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-fuzz-frame"

/* libFuzzer target for what a peer sends: hellos and proofs of the
 * handshake, frame headers, sealed frames, their plaintext (type, JSON,
 * payload), and .llm addresses. The first byte picks what the rest is:
 *
 *   0  a frame's plaintext, parsed
 *   1  a frame on the wire (header, sealed body), opened with a fixed key
 *      (XChaCha20-Poly1305, or AES-256-GCM when the second byte is odd),
 *      then parsed
 *   2  the initiator's hello then proof, read by a responder
 *   3  the responder's hello then proof, read by an initiator
 *      (the identities and ephemeral keys are fixed, so that the seed
 *      corpus holds genuine messages to mutate)
 *   4  a .llm address
 *   5  a plaintext sealed with a fixed key, opened and parsed: every
 *      successful parse of mode 0 must survive the round trip
 *   6  a genuine handshake whose four messages are XORed with the input in
 *      transit: a tampered handshake must never complete
 *
 * Beside the sanitizers, it checks what success promises: a parsed message
 * is a JSON object, sizes are within the limits, and the handshake agrees. */

#include <sodium.h>
#include <stdint.h>
#include <string.h>

#include "llm-address.h"
#include "llm-frame.h"

int LLVMFuzzerTestOneInput (const uint8_t *data,
                            size_t         size);

static guint8 secret_keys[2][crypto_sign_SECRETKEYBYTES];
static guint8 public_keys[2][crypto_sign_PUBLICKEYBYTES];
static const guint8 ephemeral_i[32] = { 1, 2, 3 };
static const guint8 ephemeral_r[32] = { 4, 5, 6 };
static const guint8 frame_key[32] = { 42 };

static void
sign_cb (const guint8 *message,
         gsize         size,
         guint8        signature[64],
         gpointer      user_data)
{
  crypto_sign_detached (signature, NULL, message, size, user_data);
}

static void
init (void)
{
  static gboolean done;

  if (done)
    return;

  g_assert (sodium_init () >= 0);
  for (guint i = 0; i < 2; i++)
    {
      guint8 seed[32];

      memset (seed, 0x11 * (i + 1), sizeof seed);
      crypto_sign_seed_keypair (public_keys[i], secret_keys[i], seed);
    }
  done = TRUE;
}

static LlmHandshake *
handshake_new (LlmHandshakeRole role)
{
  guint i = role == LLM_HANDSHAKE_INITIATOR ? 0 : 1;
  LlmHandshake *handshake;

  handshake = llm_handshake_new (role, public_keys[i], sign_cb, secret_keys[i], TRUE);
  llm_handshake_set_ephemeral_secret (handshake, i == 0 ? ephemeral_i : ephemeral_r);

  return handshake;
}

/* What a successful parse promises. */
static void
parse_plaintext (GBytes *plaintext)
{
  g_autoptr(JsonObject) message = NULL;
  g_autoptr(GBytes) payload = NULL;
  g_autoptr(GError) error = NULL;
  LlmFrameType type;

  if (llm_frame_parse_plaintext (plaintext, &type, &message, &payload, &error))
    {
      g_assert_no_error (error);
      if (type == LLM_FRAME_MESSAGE)
        {
          g_assert (message != NULL);
          g_assert (payload == NULL || g_bytes_get_size (payload) > 0);
          g_assert (payload == NULL ||
                    g_bytes_get_size (payload) < g_bytes_get_size (plaintext));
          json_object_get_size (message);
        }
      else
        {
          g_assert (type == LLM_FRAME_PING || type == LLM_FRAME_PONG);
          g_assert (message == NULL);
          g_assert (g_bytes_get_size (payload) == LLM_FRAME_PING_SIZE);
        }
    }
  else
    {
      g_assert (error != NULL && error->domain == LLM_PROTOCOL_ERROR);
      g_assert (message == NULL);
    }
}

static void
fuzz_open (const guint8 *data,
           gsize         size)
{
  g_autoptr(LlmFrameCipher) cipher = NULL;
  g_autoptr(GBytes) plaintext = NULL;
  g_autoptr(GError) error = NULL;
  LlmCipher which = LLM_CIPHER_XCHACHA20_POLY1305;
  gsize body_size;

  if (size < 1 + LLM_FRAME_HEADER_SIZE)
    return;
  if ((data[0] & 1) && crypto_aead_aes256gcm_is_available ())
    which = LLM_CIPHER_AES256_GCM;
  data++;
  size--;

  if (!llm_frame_parse_header (data, &body_size, &error))
    {
      g_assert (error != NULL);
      return;
    }
  g_assert (body_size >= LLM_FRAME_MIN_SIZE && body_size <= LLM_FRAME_MAX_SIZE);

  /* As the connection does: only bytes that arrived are read. */
  body_size = MIN (body_size, size - LLM_FRAME_HEADER_SIZE);
  if (body_size < LLM_FRAME_MIN_SIZE)
    return;

  cipher = llm_frame_cipher_new (which, frame_key);
  plaintext = llm_frame_open (cipher, data, g_memdup2 (data + LLM_FRAME_HEADER_SIZE, body_size),
                              body_size, &error);
  if (plaintext != NULL)
    parse_plaintext (plaintext);
}

static void
fuzz_read_handshake (LlmHandshakeRole  role,
                     const guint8     *data,
                     gsize             size)
{
  g_autoptr(LlmHandshake) handshake = handshake_new (role);
  g_autoptr(GError) error = NULL;
  guint8 hello[LLM_HANDSHAKE_HELLO_SIZE];
  guint8 proof[LLM_HANDSHAKE_PROOF_SIZE];
  gsize hello_size = MIN (size, LLM_HANDSHAKE_HELLO_SIZE);

  if (role == LLM_HANDSHAKE_INITIATOR)
    llm_handshake_write_hello (handshake, hello);

  if (!llm_handshake_read_hello (handshake, data, hello_size, &error))
    {
      g_assert (error != NULL);
      if (role == LLM_HANDSHAKE_RESPONDER &&
          g_error_matches (error, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_VERSION))
        llm_handshake_write_hello (handshake, hello);
      return;
    }

  if (role == LLM_HANDSHAKE_RESPONDER)
    {
      llm_handshake_write_hello (handshake, hello);
      g_assert (llm_handshake_write_proof (handshake, proof, NULL));
    }

  /* A proof is sealed with a key of this handshake and signed by the
   * identity it names: only the genuine peer's bytes (replayed from the seed
   * corpus: the ephemeral keys are fixed here) get through, and then the
   * peer is who it must be. */
  if (llm_handshake_read_proof (handshake, data + hello_size, size - hello_size, &error))
    {
      const guint8 *expected = public_keys[role == LLM_HANDSHAKE_INITIATOR ? 1 : 0];

      g_assert_no_error (error);
      g_assert (memcmp (llm_handshake_get_peer_public_key (handshake), expected, 32) == 0);
      g_assert (role == LLM_HANDSHAKE_INITIATOR || llm_handshake_is_complete (handshake));
    }
  else
    {
      g_assert (error != NULL);
      g_assert (!llm_handshake_is_complete (handshake));
      g_assert (llm_handshake_get_peer_public_key (handshake) == NULL);
    }
}

static void
fuzz_address (const guint8 *data,
              gsize         size)
{
  g_autofree char *text = g_strndup ((const char *) data, size);
  g_autoptr(GError) error = NULL;
  guint8 key[32];

  if (llm_address_parse (text, key, &error))
    {
      g_autofree char *again = llm_address_from_public_key (key);

      /* One spelling per key. */
      g_assert (strcmp (again, text) == 0);
    }
  else
    {
      g_assert (error != NULL && error->domain == LLM_ADDRESS_ERROR);
    }
}

static void
fuzz_roundtrip (const guint8 *data,
                gsize         size)
{
  g_autoptr(GBytes) original = g_bytes_new (data, size);
  LlmCipher xchacha = LLM_CIPHER_XCHACHA20_POLY1305;
  g_autoptr(LlmFrameCipher) sender = llm_frame_cipher_new (xchacha, frame_key);
  g_autoptr(LlmFrameCipher) receiver = llm_frame_cipher_new (xchacha, frame_key);
  g_autoptr(GBytes) frame = NULL;
  g_autoptr(GBytes) plaintext = NULL;
  g_autoptr(GError) error = NULL;
  const guint8 *bytes;
  gsize frame_size, body_size;
  guint32 json_size;

  parse_plaintext (original);

  /* Seal the same bytes as a sender would (type, JSON length, JSON, payload). */
  if (size < LLM_FRAME_PLAINTEXT_MIN)
    return;
  json_size = ((guint32) data[1] << 24) | ((guint32) data[2] << 16) |
              ((guint32) data[3] << 8) | data[4];
  if (json_size > size - LLM_FRAME_PLAINTEXT_MIN)
    return;

  {
    g_autoptr(GBytes) payload = g_bytes_new (data + LLM_FRAME_PLAINTEXT_MIN + json_size,
                                             size - LLM_FRAME_PLAINTEXT_MIN - json_size);

    frame = llm_frame_seal (sender, data[0], (const char *) data + LLM_FRAME_PLAINTEXT_MIN,
                            json_size, payload, &error);
  }
  if (frame == NULL)
    {
      g_assert (g_error_matches (error, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_TOO_LARGE));
      return;
    }

  bytes = g_bytes_get_data (frame, &frame_size);
  g_assert (llm_frame_parse_header (bytes, &body_size, NULL));
  g_assert (body_size == frame_size - LLM_FRAME_HEADER_SIZE);
  plaintext = llm_frame_open (receiver, bytes, g_memdup2 (bytes + LLM_FRAME_HEADER_SIZE, body_size),
                              body_size, &error);
  g_assert (plaintext != NULL);
  g_assert (g_bytes_equal (plaintext, original));
  parse_plaintext (plaintext);
}

static void
xor_with (guint8       *message,
          gsize         size,
          const guint8 *data,
          gsize         data_size,
          gsize        *offset)
{
  for (gsize i = 0; i < size && *offset < data_size; i++)
    message[i] ^= data[(*offset)++];
}

static void
fuzz_tamper (const guint8 *data,
             gsize         size)
{
  g_autoptr(LlmHandshake) initiator = handshake_new (LLM_HANDSHAKE_INITIATOR);
  g_autoptr(LlmHandshake) responder = handshake_new (LLM_HANDSHAKE_RESPONDER);
  guint8 hello_i[LLM_HANDSHAKE_HELLO_SIZE], hello_r[LLM_HANDSHAKE_HELLO_SIZE];
  guint8 proof_r[LLM_HANDSHAKE_PROOF_SIZE], proof_i[LLM_HANDSHAKE_PROOF_SIZE];
  gboolean tampered = FALSE;
  gsize offset = 0;

  /* Only the first bytes of the input are used, one per handshake byte. */
  for (gsize i = 0; i < MIN (size, 2 * (LLM_HANDSHAKE_HELLO_SIZE + LLM_HANDSHAKE_PROOF_SIZE)); i++)
    tampered |= data[i] != 0;

  llm_handshake_write_hello (initiator, hello_i);
  xor_with (hello_i, sizeof hello_i, data, size, &offset);
  if (!llm_handshake_read_hello (responder, hello_i, sizeof hello_i, NULL))
    return;
  llm_handshake_write_hello (responder, hello_r);
  g_assert (llm_handshake_write_proof (responder, proof_r, NULL));
  xor_with (hello_r, sizeof hello_r, data, size, &offset);
  xor_with (proof_r, sizeof proof_r, data, size, &offset);
  if (!llm_handshake_read_hello (initiator, hello_r, sizeof hello_r, NULL) ||
      !llm_handshake_read_proof (initiator, proof_r, sizeof proof_r, NULL))
    return;
  g_assert (llm_handshake_write_proof (initiator, proof_i, NULL));
  xor_with (proof_i, sizeof proof_i, data, size, &offset);
  if (!llm_handshake_read_proof (responder, proof_i, sizeof proof_i, NULL))
    return;

  /* Each side's transcript holds the hellos as it saw them, and each proof
   * is sealed and signed over it: any change to any byte in transit fails
   * the handshake, so a complete one was not tampered with. */
  g_assert (!tampered);
  g_assert (llm_handshake_is_complete (initiator) && llm_handshake_is_complete (responder));
  g_assert (memcmp (llm_handshake_get_peer_public_key (initiator), public_keys[1], 32) == 0);
  g_assert (memcmp (llm_handshake_get_peer_public_key (responder), public_keys[0], 32) == 0);
  g_assert (llm_handshake_get_cipher (initiator) == llm_handshake_get_cipher (responder));

  {
    g_autoptr(LlmFrameCipher) i_send = NULL, i_receive = NULL, r_send = NULL, r_receive = NULL;
    g_autoptr(GBytes) frame = NULL, plaintext = NULL;
    const guint8 *bytes;
    gsize frame_size;

    llm_handshake_split (initiator, &i_send, &i_receive);
    llm_handshake_split (responder, &r_send, &r_receive);
    frame = llm_frame_seal (i_send, LLM_FRAME_MESSAGE, "{}", 2, NULL, NULL);
    bytes = g_bytes_get_data (frame, &frame_size);
    plaintext = llm_frame_open (r_receive, bytes,
                                g_memdup2 (bytes + LLM_FRAME_HEADER_SIZE,
                                           frame_size - LLM_FRAME_HEADER_SIZE),
                                frame_size - LLM_FRAME_HEADER_SIZE, NULL);
    g_assert (plaintext != NULL);
  }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  init ();

  if (size < 1)
    return 0;

  switch (data[0] % 7)
    {
    case 0:
      {
        g_autoptr(GBytes) plaintext = g_bytes_new (data + 1, size - 1);

        parse_plaintext (plaintext);
      }
      break;

    case 1:
      fuzz_open (data + 1, size - 1);
      break;

    case 2:
      fuzz_read_handshake (LLM_HANDSHAKE_RESPONDER, data + 1, size - 1);
      break;

    case 3:
      fuzz_read_handshake (LLM_HANDSHAKE_INITIATOR, data + 1, size - 1);
      break;

    case 4:
      fuzz_address (data + 1, size - 1);
      break;

    case 5:
      fuzz_roundtrip (data + 1, size - 1);
      break;

    case 6:
      fuzz_tamper (data + 1, size - 1);
      break;

    default:
      g_assert_not_reached ();
    }

  return 0;
}

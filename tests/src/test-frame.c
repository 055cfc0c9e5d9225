/* SPDX-License-Identifier: GPL-3.0-or-later */
#include <sodium.h>
#include <string.h>

#include "llm-frame.h"
#include "llm-identity.h"

/* The wire format without I/O: handshakes between two state machines, and
 * frames sealed on one side and opened on the other. */

static LlmIdentity *
identity_new (guint8 fill)
{
  guint8 seed[32];

  memset (seed, fill, sizeof seed);
  return llm_identity_new_from_seed (seed);
}

static void
sign_cb (const guint8 *data,
         gsize         size,
         guint8        signature[64],
         gpointer      user_data)
{
  llm_identity_sign (LLM_IDENTITY (user_data), data, size, signature);
}

static LlmHandshake *
handshake_new (LlmHandshakeRole  role,
               LlmIdentity      *identity,
               gboolean          aes256gcm)
{
  return llm_handshake_new (role, llm_identity_get_public_key (identity), sign_cb, identity,
                            aes256gcm);
}

/* Runs a whole handshake; every step must succeed. */
static void
run_handshake (LlmHandshake *initiator,
               LlmHandshake *responder)
{
  g_autoptr(GError) error = NULL;
  guint8 hello_i[LLM_HANDSHAKE_HELLO_SIZE], hello_r[LLM_HANDSHAKE_HELLO_SIZE];
  guint8 proof_r[LLM_HANDSHAKE_PROOF_SIZE], proof_i[LLM_HANDSHAKE_PROOF_SIZE];

  llm_handshake_write_hello (initiator, hello_i);
  g_assert_true (llm_handshake_read_hello (responder, hello_i, sizeof hello_i, &error));
  g_assert_no_error (error);
  llm_handshake_write_hello (responder, hello_r);
  g_assert_true (llm_handshake_write_proof (responder, proof_r, &error));
  g_assert_true (llm_handshake_read_hello (initiator, hello_r, sizeof hello_r, &error));
  g_assert_no_error (error);
  g_assert_true (llm_handshake_read_proof (initiator, proof_r, sizeof proof_r, &error));
  g_assert_no_error (error);
  g_assert_true (llm_handshake_write_proof (initiator, proof_i, &error));
  g_assert_true (llm_handshake_read_proof (responder, proof_i, sizeof proof_i, &error));
  g_assert_no_error (error);

  g_assert_true (llm_handshake_is_complete (initiator));
  g_assert_true (llm_handshake_is_complete (responder));
}

typedef struct
{
  LlmIdentity *alice;
  LlmIdentity *bob;
  LlmFrameCipher *alice_send;
  LlmFrameCipher *alice_receive;
  LlmFrameCipher *bob_send;
  LlmFrameCipher *bob_receive;
} Pair;

static void
pair_setup (Pair          *pair,
            gconstpointer  data)
{
  g_autoptr(LlmHandshake) initiator = NULL;
  g_autoptr(LlmHandshake) responder = NULL;

  pair->alice = identity_new (1);
  pair->bob = identity_new (2);
  initiator = handshake_new (LLM_HANDSHAKE_INITIATOR, pair->alice, TRUE);
  responder = handshake_new (LLM_HANDSHAKE_RESPONDER, pair->bob, TRUE);
  run_handshake (initiator, responder);
  llm_handshake_split (initiator, &pair->alice_send, &pair->alice_receive);
  llm_handshake_split (responder, &pair->bob_send, &pair->bob_receive);
}

static void
pair_teardown (Pair          *pair,
               gconstpointer  data)
{
  g_clear_pointer (&pair->alice_send, llm_frame_cipher_free);
  g_clear_pointer (&pair->alice_receive, llm_frame_cipher_free);
  g_clear_pointer (&pair->bob_send, llm_frame_cipher_free);
  g_clear_pointer (&pair->bob_receive, llm_frame_cipher_free);
  g_clear_object (&pair->alice);
  g_clear_object (&pair->bob);
}

/* Opens a wire frame (header + body) as a receiver would. */
static GBytes *
open_frame (LlmFrameCipher  *cipher,
            GBytes          *frame,
            GError         **error)
{
  const guint8 *data;
  gsize size, body_size;

  data = g_bytes_get_data (frame, &size);
  if (!llm_frame_parse_header (data, &body_size, error))
    return NULL;
  g_assert_cmpuint (body_size, ==, size - LLM_FRAME_HEADER_SIZE);

  return llm_frame_open (cipher, data, g_memdup2 (data + LLM_FRAME_HEADER_SIZE, body_size),
                         body_size, error);
}

/* Protocol version 1, byte for byte: a handshake between fixed identities
 * (Ed25519 seeds 32 × 0x11 for the initiator, 32 × 0x22 for the
 * responder) with fixed ephemeral X25519 secrets (01 02 03 0… and
 * 04 05 06 0…), then three frames. The expected bytes come from a separate
 * implementation of docs/protocol.md in Python, run once: X25519, Ed25519,
 * ChaCha20-Poly1305 and AES-GCM from `cryptography`, BLAKE2b from
 * `hashlib`, and HChaCha20 written out for XChaCha20-Poly1305:
 *
 *   H(x) = blake2b(x, digest_size=32); KDF(l, h) = blake2b(l + h, digest_size=32, key=s)
 *   hello = b"LLMN" + [1, flags, 0, 0] + X25519 public key;  s = X25519(e, E')
 *   h0 = H(b"llm-node handshake v1" + hello_i + hello_r)
 *   proof_r = xchacha(KDF(b"llm-node proof key r2i", h0), nonce=0, ad=h0,
 *                     pk_r + sign_r(b"llm-node responder signature v1" + h0))
 *   h1 = H(h0 + proof_r)
 *   proof_i = xchacha(KDF(b"llm-node proof key i2r", h0), nonce=0, ad=h1,
 *                     pk_i + sign_i(b"llm-node initiator signature v1" + h1))
 *   h2 = H(h1 + proof_i)
 *   k_i2r = KDF(b"llm-node traffic key i2r", h2); k_r2i = KDF(b"llm-node traffic key r2i", h2)
 *   frame = be32(len(p) + 16) + aead(k, nonce=le64(counter) + zeros, ad=header, p)
 *   p = [type] + be32(len(json)) + json + payload
 *
 * Frames: i2r 0 is a message {"type":"hello"} with payload 01 02 03 04,
 * i2r 1 a ping with payload 00…07, r2i 0 a message {} with no payload. */
static const struct {
  gboolean aes256gcm;
  const char *hello_i, *hello_r, *proof_r, *proof_i, *i2r_0, *i2r_1, *r2i_0;
} wire_vectors[] = {
  { FALSE,
    "4c4c4d4e01000000a50d356c1376ded9d101380e45b19313d131c4d0eae905344af92155b7d8a546",
    "4c4c4d4e010000002849c32dd11353d9636b199285f9e67d2c74c017a1aee846081a4f8b037bca11",
    "d67f69c2a18a7263ad46cb96a828145576332c6e1a32903781d5b90c24e08ee6a54ca2c8faee85eb90b9ce2584bef7"
    "74d3d76e48a0eb802e356b8619db46b1f8fefe37484f395ef0eb203e72c78129475e51d056a03e016e5ba0490b87bc"
    "63125e92dbfa8d637dadf93ddb4210cca94c",
    "abc157e7634df4b09ef63a5bc55bf6bcebccd21380faf639a3b0fb18c8b95c155b8531bfca6f4f9d67a738ea9c5fb8"
    "d129a1d2466eb036bc9ef7ff1c2c0fa4759eec9f52b4251fb824b0b6a6a6ba669b4a577cb94702f3cd2d039ae2a947"
    "4a08fdc962f3417285d29009cc26431e1293",
    "00000029730933c01bf2617393ec52ba22efe383e9aef771becde49ffe1d7ca4d1236dfa3f1eff3639abdd59f8",
    "0000001d0bd3ac2a8dcb6338879bbe265801f8786458b36a2f64d9f4ea706acbe3",
    "00000017a3aba4b3075d6da1aa0354a1ce8695a66b5d509f188eff" },
  { TRUE,
    "4c4c4d4e01010000a50d356c1376ded9d101380e45b19313d131c4d0eae905344af92155b7d8a546",
    "4c4c4d4e010100002849c32dd11353d9636b199285f9e67d2c74c017a1aee846081a4f8b037bca11",
    "ef959b340532ccfa7ffa274f789c9511dd3ed4fb1ea5840f4409b92048581f07edb7254c19489faed0a33f7263c560"
    "74293f6cbfbe13984d586056d0b16eb10e240adc1104954a9463be4115a1a8bd723aef436e26313273afd38027cfa7"
    "f69f0469c02522e3823b9244ff1d017f2de0",
    "af14753892118dccf9e5a8ba7e3dfbad6e2248d0779ced6cdf9259f226af483b26d9e3c43edd9fe821f3b64d5144f8"
    "21d2d07cb88fc1d22e4a914fe2adc4ce0e9a7c47f38c58f4cc841376322a9229749ca9aa05d999caed257a0ee384d5"
    "d4f873daed61ca7d5ffac909ff2322b20571",
    "000000294e4b961d234bd9d1de03b249b85b9cd684915d6065c982c767fa3a54aa75792e6d5a257002db02ade6",
    "0000001d2e0d84c76bafbace1ff4d43afd389e417b7a6584fe3d439ec8f64ce7ec",
    "0000001747da259999aef701c654f287b5a4ae65ae723492616361" },
};

static void
assert_hex (const guint8 *data,
            gsize         size,
            const char   *hex)
{
  g_autofree char *encoded = g_malloc (2 * size + 1);

  sodium_bin2hex (encoded, 2 * size + 1, data, size);
  g_assert_cmpstr (encoded, ==, hex);
}

static void
assert_frame_hex (GBytes     *frame,
                  const char *hex)
{
  assert_hex (g_bytes_get_data (frame, NULL), g_bytes_get_size (frame), hex);
}

static void
test_frame_vectors (void)
{
  static const guint8 ephemeral_i[32] = { 1, 2, 3 };
  static const guint8 ephemeral_r[32] = { 4, 5, 6 };
  g_autoptr(LlmIdentity) initiator_identity = identity_new (0x11);
  g_autoptr(LlmIdentity) responder_identity = identity_new (0x22);

  for (guint v = 0; v < G_N_ELEMENTS (wire_vectors); v++)
    {
      g_autoptr(LlmHandshake) initiator = NULL;
      g_autoptr(LlmHandshake) responder = NULL;
      g_autoptr(LlmFrameCipher) i_send = NULL, i_receive = NULL, r_send = NULL, r_receive = NULL;
      g_autoptr(GBytes) payload = g_bytes_new ("\x01\x02\x03\x04", 4);
      g_autoptr(GBytes) stamp = g_bytes_new ("\x00\x01\x02\x03\x04\x05\x06\x07", 8);
      g_autoptr(GBytes) frame = NULL;
      guint8 hello_i[LLM_HANDSHAKE_HELLO_SIZE], hello_r[LLM_HANDSHAKE_HELLO_SIZE];
      guint8 proof_r[LLM_HANDSHAKE_PROOF_SIZE], proof_i[LLM_HANDSHAKE_PROOF_SIZE];

      if (wire_vectors[v].aes256gcm && !crypto_aead_aes256gcm_is_available ())
        {
          g_test_message ("No AES-NI here: the AES-256-GCM vector is not checked");
          continue;
        }

      initiator = handshake_new (LLM_HANDSHAKE_INITIATOR, initiator_identity,
                                 wire_vectors[v].aes256gcm);
      responder = handshake_new (LLM_HANDSHAKE_RESPONDER, responder_identity,
                                 wire_vectors[v].aes256gcm);
      llm_handshake_set_ephemeral_secret (initiator, ephemeral_i);
      llm_handshake_set_ephemeral_secret (responder, ephemeral_r);

      llm_handshake_write_hello (initiator, hello_i);
      assert_hex (hello_i, sizeof hello_i, wire_vectors[v].hello_i);
      g_assert_true (llm_handshake_read_hello (responder, hello_i, sizeof hello_i, NULL));
      llm_handshake_write_hello (responder, hello_r);
      assert_hex (hello_r, sizeof hello_r, wire_vectors[v].hello_r);
      g_assert_true (llm_handshake_write_proof (responder, proof_r, NULL));
      assert_hex (proof_r, sizeof proof_r, wire_vectors[v].proof_r);
      g_assert_true (llm_handshake_read_hello (initiator, hello_r, sizeof hello_r, NULL));
      g_assert_true (llm_handshake_read_proof (initiator, proof_r, sizeof proof_r, NULL));
      g_assert_true (llm_handshake_write_proof (initiator, proof_i, NULL));
      assert_hex (proof_i, sizeof proof_i, wire_vectors[v].proof_i);
      g_assert_true (llm_handshake_read_proof (responder, proof_i, sizeof proof_i, NULL));

      llm_handshake_split (initiator, &i_send, &i_receive);
      llm_handshake_split (responder, &r_send, &r_receive);

      frame = llm_frame_seal (i_send, LLM_FRAME_MESSAGE, "{\"type\":\"hello\"}", 16, payload, NULL);
      assert_frame_hex (frame, wire_vectors[v].i2r_0);
      g_clear_pointer (&frame, g_bytes_unref);
      frame = llm_frame_seal (i_send, LLM_FRAME_PING, NULL, 0, stamp, NULL);
      assert_frame_hex (frame, wire_vectors[v].i2r_1);
      g_clear_pointer (&frame, g_bytes_unref);
      frame = llm_frame_seal (r_send, LLM_FRAME_MESSAGE, "{}", 2, NULL, NULL);
      assert_frame_hex (frame, wire_vectors[v].r2i_0);
    }
}

static void
test_frame_handshake (void)
{
  g_autoptr(LlmIdentity) alice = identity_new (1);
  g_autoptr(LlmIdentity) bob = identity_new (2);
  gboolean aes = crypto_aead_aes256gcm_is_available ();

  /* Both ways of every offer: AES-256-GCM only when both offer it (and
   * this CPU has it). */
  for (guint offers = 0; offers < 4; offers++)
    {
      g_autoptr(LlmHandshake) initiator = NULL;
      g_autoptr(LlmHandshake) responder = NULL;
      g_autoptr(LlmFrameCipher) i_send = NULL, i_receive = NULL, r_send = NULL, r_receive = NULL;
      g_autoptr(GBytes) frame = NULL, plaintext = NULL;
      g_autoptr(GError) error = NULL;
      LlmCipher expected = (offers == 3 && aes) ? LLM_CIPHER_AES256_GCM
                                                : LLM_CIPHER_XCHACHA20_POLY1305;

      initiator = handshake_new (LLM_HANDSHAKE_INITIATOR, alice, offers & 1);
      responder = handshake_new (LLM_HANDSHAKE_RESPONDER, bob, offers & 2);
      g_assert_null (llm_handshake_get_peer_public_key (initiator));
      run_handshake (initiator, responder);

      g_assert_cmpmem (llm_handshake_get_peer_public_key (initiator), 32,
                       llm_identity_get_public_key (bob), 32);
      g_assert_cmpmem (llm_handshake_get_peer_public_key (responder), 32,
                       llm_identity_get_public_key (alice), 32);
      g_assert_cmpint (llm_handshake_get_cipher (initiator), ==, expected);
      g_assert_cmpint (llm_handshake_get_cipher (responder), ==, expected);
      g_assert_cmpint (llm_handshake_get_peer_version (responder), ==, 1);

      llm_handshake_split (initiator, &i_send, &i_receive);
      llm_handshake_split (responder, &r_send, &r_receive);
      g_assert_cmpint (llm_frame_cipher_get_cipher (i_send), ==, expected);

      /* Each direction has its own key: what one side sends, only the
       * other's receiving half opens. */
      frame = llm_frame_seal (i_send, LLM_FRAME_MESSAGE, "{}", 2, NULL, &error);
      g_assert_no_error (error);
      plaintext = open_frame (r_receive, frame, &error);
      g_assert_no_error (error);
      g_assert_nonnull (plaintext);
      g_clear_pointer (&plaintext, g_bytes_unref);
      plaintext = open_frame (i_receive, frame, &error);
      g_assert_error (error, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_AUTHENTICATION);
      g_assert_null (plaintext);
    }
}

static void
test_frame_roundtrip (Pair          *pair,
                      gconstpointer  data)
{
  g_autoptr(JsonObject) message = json_object_new ();
  g_autoptr(GBytes) payload = NULL;
  guint8 tensor[4096];

  for (guint i = 0; i < sizeof tensor; i++)
    tensor[i] = i * 7;
  payload = g_bytes_new (tensor, sizeof tensor);
  json_object_set_string_member (message, "type", "forward");
  json_object_set_int_member (message, "layer", 3);

  for (guint round = 0; round < 3; round++)
    {
      g_autoptr(GBytes) frame = NULL, plaintext = NULL, received_payload = NULL;
      g_autoptr(JsonObject) received = NULL;
      g_autoptr(GError) error = NULL;
      LlmFrameType type;

      frame = llm_frame_seal_message (pair->alice_send, message, round == 1 ? NULL : payload,
                                      &error);
      g_assert_no_error (error);
      plaintext = open_frame (pair->bob_receive, frame, &error);
      g_assert_no_error (error);
      g_assert_true (llm_frame_parse_plaintext (plaintext, &type, &received, &received_payload,
                                                &error));
      g_assert_no_error (error);
      g_assert_cmpint (type, ==, LLM_FRAME_MESSAGE);
      g_assert_cmpstr (json_object_get_string_member (received, "type"), ==, "forward");
      g_assert_cmpint (json_object_get_int_member (received, "layer"), ==, 3);
      if (round == 1)
        g_assert_null (received_payload);
      else
        g_assert_true (g_bytes_equal (received_payload, payload));
    }

  g_assert_cmpuint (llm_frame_cipher_get_counter (pair->alice_send), ==, 3);
  g_assert_cmpuint (llm_frame_cipher_get_counter (pair->bob_receive), ==, 3);

  /* Ping and pong carry their 8 bytes. */
  {
    g_autoptr(GBytes) stamp = g_bytes_new ("12345678", 8);
    g_autoptr(GBytes) frame = NULL, plaintext = NULL, received_payload = NULL;
    g_autoptr(JsonObject) received = NULL;
    LlmFrameType type;

    frame = llm_frame_seal (pair->bob_send, LLM_FRAME_PING, NULL, 0, stamp, NULL);
    plaintext = open_frame (pair->alice_receive, frame, NULL);
    g_assert_true (llm_frame_parse_plaintext (plaintext, &type, &received, &received_payload,
                                              NULL));
    g_assert_cmpint (type, ==, LLM_FRAME_PING);
    g_assert_null (received);
    g_assert_true (g_bytes_equal (received_payload, stamp));
  }
}

static void
test_frame_header (void)
{
  static const struct {
    guint32 size;
    int code;     /* -1: accepted */
  } cases[] = {
    { 0, LLM_PROTOCOL_ERROR_MALFORMED },
    { LLM_FRAME_MIN_SIZE - 1, LLM_PROTOCOL_ERROR_MALFORMED },
    { LLM_FRAME_MIN_SIZE, -1 },
    { LLM_FRAME_MAX_SIZE, -1 },
    { LLM_FRAME_MAX_SIZE + 1, LLM_PROTOCOL_ERROR_TOO_LARGE },
    { G_MAXUINT32, LLM_PROTOCOL_ERROR_TOO_LARGE },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GError) error = NULL;
      guint32 be = GUINT32_TO_BE (cases[i].size);
      gsize size = 0;

      if (cases[i].code < 0)
        {
          g_assert_true (llm_frame_parse_header ((const guint8 *) &be, &size, &error));
          g_assert_no_error (error);
          g_assert_cmpuint (size, ==, cases[i].size);
        }
      else
        {
          g_assert_false (llm_frame_parse_header ((const guint8 *) &be, &size, &error));
          g_assert_error (error, LLM_PROTOCOL_ERROR, cases[i].code);
        }
    }
}

static void
test_frame_too_large (Pair          *pair,
                      gconstpointer  data)
{
  g_autoptr(GBytes) big = NULL;
  g_autoptr(GBytes) fits = NULL;
  g_autoptr(GBytes) frame = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *json = NULL;
  guint8 *zeros;

  zeros = g_malloc0 (LLM_FRAME_MAX_PAYLOAD_SIZE + 1);
  big = g_bytes_new_take (zeros, LLM_FRAME_MAX_PAYLOAD_SIZE + 1);
  fits = g_bytes_new_from_bytes (big, 0, LLM_FRAME_MAX_PAYLOAD_SIZE);

  frame = llm_frame_seal (pair->alice_send, LLM_FRAME_MESSAGE, "{}", 2, big, &error);
  g_assert_error (error, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_TOO_LARGE);
  g_assert_null (frame);
  g_clear_error (&error);
  /* A refused frame uses no counter value. */
  g_assert_cmpuint (llm_frame_cipher_get_counter (pair->alice_send), ==, 0);

  /* The largest payload fits, and opens. */
  frame = llm_frame_seal (pair->alice_send, LLM_FRAME_MESSAGE, "{}", 2, fits, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (frame), ==, LLM_FRAME_HEADER_SIZE + LLM_FRAME_MAX_SIZE);
  {
    g_autoptr(GBytes) plaintext = open_frame (pair->bob_receive, frame, &error);

    g_assert_no_error (error);
    g_assert_nonnull (plaintext);
  }

  json = g_strnfill (LLM_FRAME_MAX_JSON_SIZE + 1, ' ');
  g_clear_pointer (&frame, g_bytes_unref);
  frame = llm_frame_seal (pair->alice_send, LLM_FRAME_MESSAGE, json, strlen (json), NULL, &error);
  g_assert_error (error, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_TOO_LARGE);
}

/* Replayed, reordered, cut, changed: none authenticates. */
static void
test_frame_replay (Pair          *pair,
                   gconstpointer  data)
{
  g_autoptr(GBytes) first = NULL, second = NULL, plaintext = NULL;
  g_autoptr(GError) error = NULL;

  first = llm_frame_seal (pair->alice_send, LLM_FRAME_MESSAGE, "{\"n\":0}", 7, NULL, NULL);
  second = llm_frame_seal (pair->alice_send, LLM_FRAME_MESSAGE, "{\"n\":1}", 7, NULL, NULL);

  /* Reordered: the second first. */
  plaintext = open_frame (pair->bob_receive, second, &error);
  g_assert_error (error, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_AUTHENTICATION);
  g_assert_null (plaintext);
  g_clear_error (&error);
  g_assert_cmpuint (llm_frame_cipher_get_counter (pair->bob_receive), ==, 0);

  plaintext = open_frame (pair->bob_receive, first, &error);
  g_assert_no_error (error);
  g_clear_pointer (&plaintext, g_bytes_unref);

  /* Replayed. */
  plaintext = open_frame (pair->bob_receive, first, &error);
  g_assert_error (error, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_AUTHENTICATION);
  g_clear_error (&error);

  /* Cut short (the header claims one byte less), and changed. */
  {
    const guint8 *bytes;
    guint8 *body;
    guint8 header[4];
    gsize size;

    bytes = g_bytes_get_data (second, &size);
    memcpy (header, bytes, 4);
    header[3]--;
    body = g_memdup2 (bytes + 4, size - 5);
    plaintext = llm_frame_open (pair->bob_receive, header, body, size - 5, &error);
    g_assert_error (error, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_AUTHENTICATION);
    g_clear_error (&error);

    body = g_memdup2 (bytes + 4, size - 4);
    body[3] ^= 0x40;
    plaintext = llm_frame_open (pair->bob_receive, bytes, body, size - 4, &error);
    g_assert_error (error, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_AUTHENTICATION);
    g_clear_error (&error);
  }

  /* And the genuine second frame still opens after all that. */
  plaintext = open_frame (pair->bob_receive, second, &error);
  g_assert_no_error (error);
}

static void
test_frame_counter (Pair          *pair,
                    gconstpointer  data)
{
  g_autoptr(GBytes) frame = NULL, plaintext = NULL;
  g_autoptr(GError) error = NULL;

  /* The last usable counter value works, once. */
  llm_frame_cipher_set_counter (pair->alice_send, G_MAXUINT64 - 1);
  llm_frame_cipher_set_counter (pair->bob_receive, G_MAXUINT64 - 1);
  frame = llm_frame_seal (pair->alice_send, LLM_FRAME_MESSAGE, "{}", 2, NULL, &error);
  g_assert_no_error (error);
  plaintext = open_frame (pair->bob_receive, frame, &error);
  g_assert_no_error (error);
  g_clear_pointer (&frame, g_bytes_unref);

  frame = llm_frame_seal (pair->alice_send, LLM_FRAME_MESSAGE, "{}", 2, NULL, &error);
  g_assert_error (error, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_EXHAUSTED);
  g_assert_null (frame);
  g_clear_error (&error);

  {
    guint8 header[4] = { 0, 0, 0, LLM_FRAME_MIN_SIZE + 2 };

    g_clear_pointer (&plaintext, g_bytes_unref);
    plaintext = llm_frame_open (pair->bob_receive, header, g_malloc0 (LLM_FRAME_MIN_SIZE + 2),
                                LLM_FRAME_MIN_SIZE + 2, &error);
    g_assert_error (error, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_EXHAUSTED);
  }
}

static void
assert_plaintext_refused (const void *data,
                          gsize       size,
                          int         code,
                          const char *pattern)
{
  g_autoptr(GBytes) plaintext = g_bytes_new (data, size);
  g_autoptr(JsonObject) message = NULL;
  g_autoptr(GBytes) payload = NULL;
  g_autoptr(GError) error = NULL;
  LlmFrameType type;

  g_assert_false (llm_frame_parse_plaintext (plaintext, &type, &message, &payload, &error));
  g_assert_error (error, LLM_PROTOCOL_ERROR, code);
  if (!g_pattern_match_simple (pattern, error->message))
    g_error ("“%s” does not match “%s”", error->message, pattern);
}

static GBytes *
make_plaintext (guint8      type,
                const char *json,
                gsize       json_size,
                const char *payload,
                gsize       payload_size)
{
  GByteArray *array = g_byte_array_new ();
  guint32 be = GUINT32_TO_BE ((guint32) json_size);

  g_byte_array_append (array, &type, 1);
  g_byte_array_append (array, (const guint8 *) &be, 4);
  g_byte_array_append (array, (const guint8 *) json, json_size);
  g_byte_array_append (array, (const guint8 *) payload, payload_size);

  return g_byte_array_free_to_bytes (array);
}

#define REFUSE(bytes, code, pattern) \
  G_STMT_START { \
    g_autoptr(GBytes) b_ = (bytes); \
    assert_plaintext_refused (g_bytes_get_data (b_, NULL), g_bytes_get_size (b_), code, pattern); \
  } G_STMT_END

static void
test_frame_malformed (void)
{
  g_autofree char *deep_ok = NULL;
  g_autofree char *deep_bad = NULL;
  GString *deep;

  assert_plaintext_refused ("\x01\x00\x00", 3, LLM_PROTOCOL_ERROR_MALFORMED, "*too short*");
  assert_plaintext_refused ("\x01\x00\x00\x00\x09{}", 7, LLM_PROTOCOL_ERROR_MALFORMED,
                            "*announces 9 bytes of JSON but holds 2*");
  assert_plaintext_refused ("\x01\xff\xff\xff\xff{}", 7, LLM_PROTOCOL_ERROR_MALFORMED,
                            "*announces*");
  REFUSE (make_plaintext (9, "{}", 2, NULL, 0), LLM_PROTOCOL_ERROR_MALFORMED,
          "Unknown frame type 9");
  REFUSE (make_plaintext (0, "{}", 2, NULL, 0), LLM_PROTOCOL_ERROR_MALFORMED,
          "Unknown frame type 0");
  REFUSE (make_plaintext (LLM_FRAME_PING, NULL, 0, "1234567", 7), LLM_PROTOCOL_ERROR_MALFORMED,
          "A ping must carry 8 bytes*");
  REFUSE (make_plaintext (LLM_FRAME_PONG, "{}", 2, "12345678", 8), LLM_PROTOCOL_ERROR_MALFORMED,
          "A pong must carry 8 bytes*");
  REFUSE (make_plaintext (LLM_FRAME_MESSAGE, NULL, 0, "payload", 7), LLM_PROTOCOL_ERROR_MALFORMED,
          "*does not parse: it is empty");
  REFUSE (make_plaintext (LLM_FRAME_MESSAGE, "[1, 2]", 6, NULL, 0), LLM_PROTOCOL_ERROR_MALFORMED,
          "*not an object");
  REFUSE (make_plaintext (LLM_FRAME_MESSAGE, "\"s\"", 3, NULL, 0), LLM_PROTOCOL_ERROR_MALFORMED,
          "*not an object");
  REFUSE (make_plaintext (LLM_FRAME_MESSAGE, "{\"a\":", 5, NULL, 0), LLM_PROTOCOL_ERROR_MALFORMED,
          "*does not parse*");
  REFUSE (make_plaintext (LLM_FRAME_MESSAGE, "{\"a\":\"\xff\"}", 9, NULL, 0),
          LLM_PROTOCOL_ERROR_MALFORMED, "*not valid UTF-8");
  REFUSE (make_plaintext (LLM_FRAME_MESSAGE, "{}\0{}", 5, NULL, 0),
          LLM_PROTOCOL_ERROR_MALFORMED, "*not valid UTF-8");

  /* 64 levels parse; 65 are refused before json-glib recurses into them. */
  deep = g_string_new ("{\"a\":");
  for (guint i = 1; i < LLM_FRAME_MAX_JSON_DEPTH; i++)
    g_string_append (deep, "[");
  for (guint i = 1; i < LLM_FRAME_MAX_JSON_DEPTH; i++)
    g_string_append (deep, "]");
  g_string_append (deep, "}");
  deep_ok = g_string_free (deep, FALSE);
  deep_bad = g_strdup_printf ("{\"b\":%s}", deep_ok);
  {
    g_autoptr(GBytes) plaintext = make_plaintext (LLM_FRAME_MESSAGE, deep_ok, strlen (deep_ok),
                                                  NULL, 0);
    g_autoptr(JsonObject) message = NULL;
    LlmFrameType type;

    g_assert_true (llm_frame_parse_plaintext (plaintext, &type, &message, NULL, NULL));
    g_assert_nonnull (message);
  }
  REFUSE (make_plaintext (LLM_FRAME_MESSAGE, deep_bad, strlen (deep_bad), NULL, 0),
          LLM_PROTOCOL_ERROR_MALFORMED, "*nested deeper than 64 levels");

  /* Brackets inside strings do not count. */
  {
    g_autofree char *brackets = g_strnfill (1000, '[');
    g_autofree char *json = g_strdup_printf ("{\"s\":\"%s\\\"[\"}", brackets);
    g_autoptr(GBytes) plaintext = make_plaintext (LLM_FRAME_MESSAGE, json, strlen (json), NULL, 0);
    LlmFrameType type;

    g_assert_true (llm_frame_parse_plaintext (plaintext, &type, NULL, NULL, NULL));
  }
}

/* Hellos: what is not a hello, another version, a low-order key. */
static void
test_frame_hello (void)
{
  g_autoptr(LlmIdentity) alice = identity_new (1);
  g_autoptr(LlmIdentity) bob = identity_new (2);
  guint8 hello[LLM_HANDSHAKE_HELLO_SIZE];

  {
    g_autoptr(LlmHandshake) initiator = handshake_new (LLM_HANDSHAKE_INITIATOR, alice, TRUE);

    llm_handshake_write_hello (initiator, hello);
    g_assert_cmpmem (hello, 4, "LLMN", 4);
    g_assert_cmpint (hello[4], ==, LLM_PROTOCOL_VERSION);
    g_assert_cmpint (hello[6], ==, 0);
    g_assert_cmpint (hello[7], ==, 0);
  }

  {
    g_autoptr(LlmHandshake) responder = handshake_new (LLM_HANDSHAKE_RESPONDER, bob, TRUE);
    g_autoptr(GError) error = NULL;

    static const char request[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n0123456789ab";

    g_assert_false (llm_handshake_read_hello (responder, (const guint8 *) request, 40, &error));
    g_assert_error (error, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_MALFORMED);
    g_assert_nonnull (strstr (error->message, "did not start with an llm-node hello"));
  }

  {
    g_autoptr(LlmHandshake) responder = handshake_new (LLM_HANDSHAKE_RESPONDER, bob, TRUE);
    g_autoptr(GError) error = NULL;

    g_assert_false (llm_handshake_read_hello (responder, hello, 39, &error));
    g_assert_error (error, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_MALFORMED);
  }

  {
    g_autoptr(LlmHandshake) responder = handshake_new (LLM_HANDSHAKE_RESPONDER, bob, TRUE);
    g_autoptr(GError) error = NULL;
    guint8 v2[LLM_HANDSHAKE_HELLO_SIZE], reply[LLM_HANDSHAKE_HELLO_SIZE];
    guint8 proof[LLM_HANDSHAKE_PROOF_SIZE];

    memcpy (v2, hello, sizeof v2);
    v2[4] = 2;
    g_assert_false (llm_handshake_read_hello (responder, v2, sizeof v2, &error));
    g_assert_error (error, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_VERSION);
    g_assert_cmpstr (error->message, ==,
                     "The peer speaks protocol version 2; this node speaks version 1");
    g_assert_cmpint (llm_handshake_get_peer_version (responder), ==, 2);
    g_clear_error (&error);

    /* The responder may still say which version it speaks, but proves
     * nothing. */
    llm_handshake_write_hello (responder, reply);
    g_assert_cmpint (reply[4], ==, 1);
    g_assert_false (llm_handshake_write_proof (responder, proof, &error));
    g_assert_nonnull (error);
  }

  {
    g_autoptr(LlmHandshake) responder = handshake_new (LLM_HANDSHAKE_RESPONDER, bob, TRUE);
    g_autoptr(GError) error = NULL;
    guint8 low_order[LLM_HANDSHAKE_HELLO_SIZE];

    /* The all-zero point: every secret times it is zero. */
    memcpy (low_order, hello, 8);
    memset (low_order + 8, 0, 32);
    g_assert_false (llm_handshake_read_hello (responder, low_order, sizeof low_order, &error));
    g_assert_error (error, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_MALFORMED);
    g_assert_nonnull (strstr (error->message, "low-order"));
  }
}

/* Mallory signs with her own key but claims Bob's: she cannot finish. */
static void
test_frame_impersonation (void)
{
  g_autoptr(LlmIdentity) alice = identity_new (1);
  g_autoptr(LlmIdentity) bob = identity_new (2);
  g_autoptr(LlmIdentity) mallory = identity_new (3);
  g_autoptr(GError) error = NULL;
  guint8 hello_i[LLM_HANDSHAKE_HELLO_SIZE], hello_r[LLM_HANDSHAKE_HELLO_SIZE];
  guint8 proof[LLM_HANDSHAKE_PROOF_SIZE];

  /* As responder, to Alice who dials. */
  {
    g_autoptr(LlmHandshake) initiator = handshake_new (LLM_HANDSHAKE_INITIATOR, alice, TRUE);
    g_autoptr(LlmHandshake) fake = llm_handshake_new (LLM_HANDSHAKE_RESPONDER,
                                                      llm_identity_get_public_key (bob),
                                                      sign_cb, mallory, TRUE);

    llm_handshake_write_hello (initiator, hello_i);
    g_assert_true (llm_handshake_read_hello (fake, hello_i, sizeof hello_i, NULL));
    llm_handshake_write_hello (fake, hello_r);
    g_assert_true (llm_handshake_write_proof (fake, proof, NULL));
    g_assert_true (llm_handshake_read_hello (initiator, hello_r, sizeof hello_r, NULL));
    g_assert_false (llm_handshake_read_proof (initiator, proof, sizeof proof, &error));
    g_assert_error (error, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_AUTHENTICATION);
    g_assert_nonnull (strstr (error->message, llm_identity_get_address (bob)));
    g_assert_nonnull (strstr (error->message, "cannot prove"));
    g_assert_null (llm_handshake_get_peer_public_key (initiator));
    g_clear_error (&error);
  }

  /* As initiator, to Bob who accepts. */
  {
    g_autoptr(LlmHandshake) fake = llm_handshake_new (LLM_HANDSHAKE_INITIATOR,
                                                      llm_identity_get_public_key (alice),
                                                      sign_cb, mallory, TRUE);
    g_autoptr(LlmHandshake) responder = handshake_new (LLM_HANDSHAKE_RESPONDER, bob, TRUE);

    llm_handshake_write_hello (fake, hello_i);
    g_assert_true (llm_handshake_read_hello (responder, hello_i, sizeof hello_i, NULL));
    llm_handshake_write_hello (responder, hello_r);
    g_assert_true (llm_handshake_write_proof (responder, proof, NULL));
    g_assert_true (llm_handshake_read_hello (fake, hello_r, sizeof hello_r, NULL));
    g_assert_true (llm_handshake_read_proof (fake, proof, sizeof proof, NULL));
    g_assert_true (llm_handshake_write_proof (fake, proof, NULL));
    g_assert_false (llm_handshake_read_proof (responder, proof, sizeof proof, &error));
    g_assert_error (error, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_AUTHENTICATION);
    g_assert_false (llm_handshake_is_complete (responder));
    g_clear_error (&error);
  }

  /* A man in the middle who swaps the ephemeral keys: the proofs do not
   * even decrypt. */
  {
    g_autoptr(LlmHandshake) initiator = handshake_new (LLM_HANDSHAKE_INITIATOR, alice, TRUE);
    g_autoptr(LlmHandshake) responder = handshake_new (LLM_HANDSHAKE_RESPONDER, bob, TRUE);
    g_autoptr(LlmHandshake) middle = handshake_new (LLM_HANDSHAKE_INITIATOR, mallory, TRUE);
    guint8 hello_m[LLM_HANDSHAKE_HELLO_SIZE];

    llm_handshake_write_hello (initiator, hello_i);
    llm_handshake_write_hello (middle, hello_m);
    g_assert_true (llm_handshake_read_hello (responder, hello_m, sizeof hello_m, NULL));
    llm_handshake_write_hello (responder, hello_r);
    g_assert_true (llm_handshake_write_proof (responder, proof, NULL));
    g_assert_true (llm_handshake_read_hello (initiator, hello_r, sizeof hello_r, NULL));
    g_assert_false (llm_handshake_read_proof (initiator, proof, sizeof proof, &error));
    g_assert_error (error, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_AUTHENTICATION);
    g_assert_nonnull (strstr (error->message, "does not decrypt"));
    g_clear_error (&error);
  }

  /* A node reaching itself is refused. */
  {
    g_autoptr(LlmHandshake) initiator = handshake_new (LLM_HANDSHAKE_INITIATOR, alice, TRUE);
    g_autoptr(LlmHandshake) responder = handshake_new (LLM_HANDSHAKE_RESPONDER, alice, TRUE);

    llm_handshake_write_hello (initiator, hello_i);
    g_assert_true (llm_handshake_read_hello (responder, hello_i, sizeof hello_i, NULL));
    llm_handshake_write_hello (responder, hello_r);
    g_assert_true (llm_handshake_write_proof (responder, proof, NULL));
    g_assert_true (llm_handshake_read_hello (initiator, hello_r, sizeof hello_r, NULL));
    g_assert_false (llm_handshake_read_proof (initiator, proof, sizeof proof, &error));
    g_assert_error (error, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_WRONG_PEER);
  }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/llm/frame/handshake", test_frame_handshake);
  g_test_add_func ("/llm/frame/vectors", test_frame_vectors);
  g_test_add_func ("/llm/frame/hello", test_frame_hello);
  g_test_add_func ("/llm/frame/impersonation", test_frame_impersonation);
  g_test_add ("/llm/frame/roundtrip", Pair, NULL, pair_setup, test_frame_roundtrip, pair_teardown);
  g_test_add_func ("/llm/frame/header", test_frame_header);
  g_test_add ("/llm/frame/too-large", Pair, NULL, pair_setup, test_frame_too_large, pair_teardown);
  g_test_add ("/llm/frame/replay", Pair, NULL, pair_setup, test_frame_replay, pair_teardown);
  g_test_add ("/llm/frame/counter", Pair, NULL, pair_setup, test_frame_counter, pair_teardown);
  g_test_add_func ("/llm/frame/malformed", test_frame_malformed);

  return g_test_run ();
}

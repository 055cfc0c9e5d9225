/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-frame"

#include "llm-frame.h"

#include <sodium.h>
#include <string.h>

#include "llm-address.h"

/* The handshake and frames of protocol version 1; docs/protocol.md is the
 * specification, and says why each step is there. */

G_DEFINE_QUARK (llm-protocol-error-quark, llm_protocol_error)

G_DEFINE_ENUM_TYPE (LlmCipher, llm_cipher,
  G_DEFINE_ENUM_VALUE (LLM_CIPHER_XCHACHA20_POLY1305, "xchacha20-poly1305"),
  G_DEFINE_ENUM_VALUE (LLM_CIPHER_AES256_GCM, "aes256-gcm"))

#define HELLO_MAGIC          "LLMN"
#define HELLO_FLAG_AES256GCM 0x01

#define LABEL_TRANSCRIPT     "llm-node handshake v1"
#define LABEL_PROOF_R        "llm-node proof key r2i"
#define LABEL_PROOF_I        "llm-node proof key i2r"
#define LABEL_SIGNATURE_R    "llm-node responder signature v1"
#define LABEL_SIGNATURE_I    "llm-node initiator signature v1"
#define LABEL_TRAFFIC_I2R    "llm-node traffic key i2r"
#define LABEL_TRAFFIC_R2I    "llm-node traffic key r2i"

#define HASH_SIZE            32
#define PROOF_PLAINTEXT_SIZE (crypto_sign_PUBLICKEYBYTES + crypto_sign_BYTES)

G_STATIC_ASSERT (LLM_HANDSHAKE_HELLO_SIZE == 4 + 1 + 1 + 2 + crypto_scalarmult_BYTES);
G_STATIC_ASSERT (LLM_HANDSHAKE_PROOF_SIZE ==
                 PROOF_PLAINTEXT_SIZE + crypto_aead_xchacha20poly1305_ietf_ABYTES);
G_STATIC_ASSERT (LLM_FRAME_TAG_SIZE == crypto_aead_xchacha20poly1305_ietf_ABYTES);
G_STATIC_ASSERT (LLM_FRAME_TAG_SIZE == crypto_aead_aes256gcm_ABYTES);
G_STATIC_ASSERT (LLM_HANDSHAKE_KEY_SIZE == crypto_aead_xchacha20poly1305_ietf_KEYBYTES);
G_STATIC_ASSERT (LLM_HANDSHAKE_KEY_SIZE == crypto_aead_aes256gcm_KEYBYTES);

static void
ensure_sodium (void)
{
  if (sodium_init () < 0)
    g_error ("libsodium cannot initialize: no source of randomness?");
}

/* Frames {{{ */

struct _LlmFrameCipher
{
  guint8 *key;        /* LLM_HANDSHAKE_KEY_SIZE bytes, from sodium_malloc() */
  guint64 counter;    /* the nonce of the next frame */
  LlmCipher cipher;
};

/**
 * llm_frame_cipher_new:
 * @cipher: the AEAD
 * @key: a 32-byte key, used for one direction of one connection only
 *
 * Returns: (transfer full): the state of one direction of frames, its
 *   counter at 0
 */
LlmFrameCipher *
llm_frame_cipher_new (LlmCipher    cipher,
                      const guint8 key[LLM_HANDSHAKE_KEY_SIZE])
{
  LlmFrameCipher *self;

  g_return_val_if_fail (key != NULL, NULL);
  g_return_val_if_fail (cipher == LLM_CIPHER_XCHACHA20_POLY1305 ||
                        cipher == LLM_CIPHER_AES256_GCM, NULL);

  ensure_sodium ();

  /* libsodium's AES-GCM exists only with AES-NI; the handshake never
   * chooses it otherwise. */
  g_return_val_if_fail (cipher != LLM_CIPHER_AES256_GCM ||
                        crypto_aead_aes256gcm_is_available (), NULL);

  self = g_new0 (LlmFrameCipher, 1);
  self->cipher = cipher;
  self->key = sodium_malloc (LLM_HANDSHAKE_KEY_SIZE);
  g_assert (self->key != NULL);
  memcpy (self->key, key, LLM_HANDSHAKE_KEY_SIZE);

  return self;
}

void
llm_frame_cipher_free (LlmFrameCipher *self)
{
  if (self == NULL)
    return;

  sodium_free (self->key);
  g_free (self);
}

LlmCipher
llm_frame_cipher_get_cipher (LlmFrameCipher *self)
{
  g_return_val_if_fail (self != NULL, LLM_CIPHER_XCHACHA20_POLY1305);

  return self->cipher;
}

/**
 * llm_frame_cipher_get_counter:
 * @self: a #LlmFrameCipher
 *
 * Returns: the number of frames sealed or opened so far, which is the nonce
 *   of the next one
 */
guint64
llm_frame_cipher_get_counter (LlmFrameCipher *self)
{
  g_return_val_if_fail (self != NULL, 0);

  return self->counter;
}

/**
 * llm_frame_cipher_set_counter:
 * @self: a #LlmFrameCipher
 * @counter: the next nonce
 *
 * For tests only: moving a counter makes a peer reject every frame, or
 * (backwards) reuses a nonce.
 */
void
llm_frame_cipher_set_counter (LlmFrameCipher *self,
                              guint64         counter)
{
  g_return_if_fail (self != NULL);

  self->counter = counter;
}

/* The nonce is the counter, little-endian, padded with zeros to the
 * cipher's nonce size. Each direction has its own key, so a nonce is never
 * reused with a key as long as the counter never wraps. */
static gboolean
take_nonce (LlmFrameCipher  *self,
            guint8           nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES],
            GError         **error)
{
  guint64 counter_le;

  if (self->counter == G_MAXUINT64)
    {
      g_set_error (error, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_EXHAUSTED,
                   "The frame counter is exhausted (2⁶⁴ − 1 frames): the connection "
                   "must end before a nonce repeats");
      return FALSE;
    }

  memset (nonce, 0, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  counter_le = GUINT64_TO_LE (self->counter);
  memcpy (nonce, &counter_le, sizeof counter_le);

  return TRUE;
}

/**
 * llm_frame_seal:
 * @self: the sending direction's #LlmFrameCipher
 * @type: the frame type
 * @json: (array length=json_size) (nullable): a serialized JSON object
 * @json_size: its size; 0 for none
 * @payload: (nullable): raw bytes carried beside the JSON
 * @error: return location for a #GError
 *
 * Makes a frame ready for the wire: header, then the sealed plaintext
 * `type (1) ‖ json_size (4, big-endian) ‖ json ‖ payload`. Takes the next
 * counter value, even on failure of the caller to send it: a counter is
 * never used twice.
 *
 * Returns: (transfer full): the frame, or %NULL if it would be too large or
 *   the counter is exhausted
 */
GBytes *
llm_frame_seal (LlmFrameCipher  *self,
                LlmFrameType     type,
                const char      *json,
                gsize            json_size,
                GBytes          *payload,
                GError         **error)
{
  guint8 nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
  const guint8 *payload_data = NULL;
  gsize payload_size = 0;
  gsize plaintext_size;
  gsize body_size;
  guint8 *frame;
  guint8 *plaintext;
  guint32 be;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (json != NULL || json_size == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (payload != NULL)
    payload_data = g_bytes_get_data (payload, &payload_size);

  if (json_size > LLM_FRAME_MAX_JSON_SIZE)
    {
      g_set_error (error, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_TOO_LARGE,
                   "The JSON of a message has %" G_GSIZE_FORMAT " bytes; at most %d fit a frame",
                   json_size, LLM_FRAME_MAX_JSON_SIZE);
      return NULL;
    }

  if (payload_size > LLM_FRAME_MAX_SIZE - LLM_FRAME_MIN_SIZE - json_size)
    {
      g_set_error (error, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_TOO_LARGE,
                   "A message of %" G_GSIZE_FORMAT " bytes of JSON and %" G_GSIZE_FORMAT
                   " bytes of payload is over the frame size limit (%d bytes): split it",
                   json_size, payload_size, LLM_FRAME_MAX_SIZE);
      return NULL;
    }

  if (!take_nonce (self, nonce, error))
    return NULL;

  plaintext_size = LLM_FRAME_PLAINTEXT_MIN + json_size + payload_size;
  body_size = plaintext_size + LLM_FRAME_TAG_SIZE;

  frame = g_malloc (LLM_FRAME_HEADER_SIZE + body_size);
  be = GUINT32_TO_BE ((guint32) body_size);
  memcpy (frame, &be, 4);

  plaintext = frame + LLM_FRAME_HEADER_SIZE;
  plaintext[0] = type;
  be = GUINT32_TO_BE ((guint32) json_size);
  memcpy (plaintext + 1, &be, 4);
  if (json_size > 0)
    memcpy (plaintext + LLM_FRAME_PLAINTEXT_MIN, json, json_size);
  if (payload_size > 0)
    memcpy (plaintext + LLM_FRAME_PLAINTEXT_MIN + json_size, payload_data, payload_size);

  /* Sealed in place; the header is associated data. */
  if (self->cipher == LLM_CIPHER_AES256_GCM)
    crypto_aead_aes256gcm_encrypt_detached (plaintext, plaintext + plaintext_size, NULL,
                                            plaintext, plaintext_size,
                                            frame, LLM_FRAME_HEADER_SIZE,
                                            NULL, nonce, self->key);
  else
    crypto_aead_xchacha20poly1305_ietf_encrypt_detached (plaintext, plaintext + plaintext_size,
                                                         NULL, plaintext, plaintext_size,
                                                         frame, LLM_FRAME_HEADER_SIZE,
                                                         NULL, nonce, self->key);
  self->counter++;

  return g_bytes_new_take (frame, LLM_FRAME_HEADER_SIZE + body_size);
}

/**
 * llm_frame_seal_message:
 * @self: the sending direction's #LlmFrameCipher
 * @message: a JSON object
 * @payload: (nullable): raw bytes carried beside it
 * @error: return location for a #GError
 *
 * Serializes @message and seals a %LLM_FRAME_MESSAGE frame.
 *
 * Returns: (transfer full): the frame, or %NULL
 */
GBytes *
llm_frame_seal_message (LlmFrameCipher  *self,
                        JsonObject      *message,
                        GBytes          *payload,
                        GError         **error)
{
  g_autoptr(JsonGenerator) generator = NULL;
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *json = NULL;
  gsize json_size;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (message != NULL, NULL);

  root = json_node_init_object (json_node_alloc (), message);
  generator = json_generator_new ();
  json_generator_set_root (generator, root);
  json = json_generator_to_data (generator, &json_size);

  return llm_frame_seal (self, LLM_FRAME_MESSAGE, json, json_size, payload, error);
}

/**
 * llm_frame_parse_header:
 * @header: the 4 bytes that start a frame
 * @body_size: (out): the size of the sealed body that follows
 * @error: return location for a #GError
 *
 * Checks the size a peer announces before anything is allocated for it.
 *
 * Returns: %TRUE if the size is within %LLM_FRAME_MIN_SIZE and
 *   %LLM_FRAME_MAX_SIZE
 */
gboolean
llm_frame_parse_header (const guint8   header[LLM_FRAME_HEADER_SIZE],
                        gsize         *body_size,
                        GError       **error)
{
  guint32 size;

  g_return_val_if_fail (header != NULL, FALSE);
  g_return_val_if_fail (body_size != NULL, FALSE);

  size = ((guint32) header[0] << 24) | ((guint32) header[1] << 16) |
         ((guint32) header[2] << 8) | header[3];

  if (size > LLM_FRAME_MAX_SIZE)
    {
      g_set_error (error, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_TOO_LARGE,
                   "A frame of %u bytes is over the limit of %d bytes", size, LLM_FRAME_MAX_SIZE);
      return FALSE;
    }

  if (size < LLM_FRAME_MIN_SIZE)
    {
      g_set_error (error, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_MALFORMED,
                   "A frame of %u bytes is shorter than the smallest frame (%d bytes)",
                   size, LLM_FRAME_MIN_SIZE);
      return FALSE;
    }

  *body_size = size;
  return TRUE;
}

/**
 * llm_frame_open:
 * @self: the receiving direction's #LlmFrameCipher
 * @header: the frame's header, as checked by llm_frame_parse_header()
 * @body: (transfer full) (array length=body_size): the sealed body, from
 *   g_malloc(); decrypted in place
 * @body_size: its size
 * @error: return location for a #GError
 *
 * Authenticates and decrypts the next frame. A frame that was replayed,
 * reordered, cut or changed fails, because its nonce is the receiver's own
 * counter and its header is authenticated.
 *
 * Returns: (transfer full): the plaintext (a view of @body), or %NULL
 */
GBytes *
llm_frame_open (LlmFrameCipher  *self,
                const guint8     header[LLM_FRAME_HEADER_SIZE],
                guint8          *body,
                gsize            body_size,
                GError         **error)
{
  g_autoptr(GBytes) bytes = NULL;
  guint8 nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
  gsize plaintext_size;
  int rc;

  g_return_val_if_fail (self != NULL, NULL);
  g_return_val_if_fail (header != NULL, NULL);
  g_return_val_if_fail (body != NULL, NULL);

  bytes = g_bytes_new_take (body, body_size);

  if (body_size < LLM_FRAME_MIN_SIZE || body_size > LLM_FRAME_MAX_SIZE)
    {
      g_set_error (error, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_MALFORMED,
                   "A frame of %" G_GSIZE_FORMAT " bytes is outside the limits", body_size);
      return NULL;
    }

  if (!take_nonce (self, nonce, error))
    return NULL;

  plaintext_size = body_size - LLM_FRAME_TAG_SIZE;
  if (self->cipher == LLM_CIPHER_AES256_GCM)
    rc = crypto_aead_aes256gcm_decrypt_detached (body, NULL, body, plaintext_size,
                                                 body + plaintext_size,
                                                 header, LLM_FRAME_HEADER_SIZE,
                                                 nonce, self->key);
  else
    rc = crypto_aead_xchacha20poly1305_ietf_decrypt_detached (body, NULL, body, plaintext_size,
                                                              body + plaintext_size,
                                                              header, LLM_FRAME_HEADER_SIZE,
                                                              nonce, self->key);
  if (rc != 0)
    {
      g_set_error (error, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_AUTHENTICATION,
                   "Frame %" G_GUINT64_FORMAT " does not authenticate: it was forged, changed, "
                   "replayed or reordered", self->counter);
      return NULL;
    }
  self->counter++;

  return g_bytes_new_from_bytes (bytes, 0, plaintext_size);
}

/* json-glib's parser recurses once per level of nesting; a peer must not be
 * able to exhaust the stack with "[[[[…", so nesting is counted first. */
static gboolean
check_json_depth (const char *json,
                  gsize       size)
{
  gboolean in_string = FALSE;
  guint depth = 0;

  for (gsize i = 0; i < size; i++)
    {
      char c = json[i];

      if (in_string)
        {
          if (c == '\\')
            i++;
          else if (c == '"')
            in_string = FALSE;
        }
      else if (c == '"')
        in_string = TRUE;
      else if (c == '[' || c == '{')
        {
          if (++depth > LLM_FRAME_MAX_JSON_DEPTH)
            return FALSE;
        }
      else if ((c == ']' || c == '}') && depth > 0)
        depth--;
    }

  return TRUE;
}

/**
 * llm_frame_parse_plaintext:
 * @plaintext: an opened frame
 * @type: (out): the frame type
 * @message: (out) (optional) (transfer full) (nullable): the JSON object of
 *   a %LLM_FRAME_MESSAGE, %NULL otherwise
 * @payload: (out) (optional) (transfer full) (nullable): the bytes beside
 *   the JSON, %NULL when there are none; the 8 bytes of a ping or pong
 * @error: return location for a #GError
 *
 * Returns: %TRUE if @plaintext is a well-formed frame of a known type
 */
gboolean
llm_frame_parse_plaintext (GBytes        *plaintext,
                           LlmFrameType  *type,
                           JsonObject   **message,
                           GBytes       **payload,
                           GError       **error)
{
  g_autoptr(JsonParser) parser = NULL;
  g_autoptr(GError) json_error = NULL;
  const guint8 *data;
  const char *json;
  JsonNode *root;
  gsize size;
  gsize json_size;
  gsize payload_size;

  g_return_val_if_fail (plaintext != NULL, FALSE);
  g_return_val_if_fail (type != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  data = g_bytes_get_data (plaintext, &size);
  if (size < LLM_FRAME_PLAINTEXT_MIN)
    {
      g_set_error (error, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_MALFORMED,
                   "A frame of %" G_GSIZE_FORMAT " bytes is too short for its header", size);
      return FALSE;
    }

  json_size = ((gsize) data[1] << 24) | ((gsize) data[2] << 16) | ((gsize) data[3] << 8) | data[4];
  if (json_size > size - LLM_FRAME_PLAINTEXT_MIN)
    {
      g_set_error (error, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_MALFORMED,
                   "A frame announces %" G_GSIZE_FORMAT " bytes of JSON but holds %" G_GSIZE_FORMAT,
                   json_size, size - LLM_FRAME_PLAINTEXT_MIN);
      return FALSE;
    }
  json = (const char *) data + LLM_FRAME_PLAINTEXT_MIN;
  payload_size = size - LLM_FRAME_PLAINTEXT_MIN - json_size;

  switch (data[0])
    {
    case LLM_FRAME_PING:
    case LLM_FRAME_PONG:
      if (json_size != 0 || payload_size != LLM_FRAME_PING_SIZE)
        {
          g_set_error (error, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_MALFORMED,
                       "A %s must carry %d bytes and no JSON",
                       data[0] == LLM_FRAME_PING ? "ping" : "pong", LLM_FRAME_PING_SIZE);
          return FALSE;
        }
      *type = data[0];
      if (message != NULL)
        *message = NULL;
      if (payload != NULL)
        *payload = g_bytes_new_from_bytes (plaintext, LLM_FRAME_PLAINTEXT_MIN, payload_size);
      return TRUE;

    case LLM_FRAME_MESSAGE:
      break;

    default:
      g_set_error (error, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_MALFORMED,
                   "Unknown frame type %u", data[0]);
      return FALSE;
    }

  if (json_size > LLM_FRAME_MAX_JSON_SIZE)
    {
      g_set_error (error, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_TOO_LARGE,
                   "A message has %" G_GSIZE_FORMAT " bytes of JSON; the limit is %d",
                   json_size, LLM_FRAME_MAX_JSON_SIZE);
      return FALSE;
    }

  /* g_utf8_validate() with a length also refuses NUL bytes, which would
   * otherwise cut the text short inside the parser. */
  if (!g_utf8_validate (json, json_size, NULL))
    {
      g_set_error (error, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_MALFORMED,
                   "The JSON of a message is not valid UTF-8");
      return FALSE;
    }

  if (!check_json_depth (json, json_size))
    {
      g_set_error (error, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_MALFORMED,
                   "The JSON of a message is nested deeper than %d levels",
                   LLM_FRAME_MAX_JSON_DEPTH);
      return FALSE;
    }

  parser = json_parser_new_immutable ();
  if (json_size == 0 || !json_parser_load_from_data (parser, json, json_size, &json_error))
    {
      g_set_error (error, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_MALFORMED,
                   "The JSON of a message does not parse: %s",
                   json_error != NULL ? json_error->message : "it is empty");
      return FALSE;
    }

  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, LLM_PROTOCOL_ERROR, LLM_PROTOCOL_ERROR_MALFORMED,
                   "The JSON of a message is not an object");
      return FALSE;
    }

  *type = LLM_FRAME_MESSAGE;
  if (message != NULL)
    *message = json_node_dup_object (root);
  if (payload != NULL)
    *payload = payload_size > 0
               ? g_bytes_new_from_bytes (plaintext, LLM_FRAME_PLAINTEXT_MIN + json_size,
                                         payload_size)
               : NULL;

  return TRUE;
}

/* }}} */

/* Handshake {{{ */

enum {
  STEP_HELLO_SENT     = 1 << 0,
  STEP_HELLO_RECEIVED = 1 << 1,
  STEP_PROOF_R        = 1 << 2,
  STEP_PROOF_I        = 1 << 3,
  STEP_FAILED         = 1 << 4,
  STEP_SPLIT          = 1 << 5,
};

/* The handshake's secrets, in locked memory. */
typedef struct
{
  guint8 ephemeral[crypto_scalarmult_SCALARBYTES];
  guint8 shared[crypto_scalarmult_BYTES];
  guint8 proof_r[LLM_HANDSHAKE_KEY_SIZE];
  guint8 proof_i[LLM_HANDSHAKE_KEY_SIZE];
} Secrets;

struct _LlmHandshake
{
  Secrets *secrets;
  LlmHandshakeSignFunc sign;
  gpointer sign_data;

  guint8 public_key[crypto_sign_PUBLICKEYBYTES];
  guint8 peer_public_key[crypto_sign_PUBLICKEYBYTES];
  guint8 hello[LLM_HANDSHAKE_HELLO_SIZE];
  guint8 peer_hello[LLM_HANDSHAKE_HELLO_SIZE];
  /* The transcript hash: h0 after the hellos, h1 after the responder's
   * proof, h2 after the initiator's. */
  guint8 transcript[HASH_SIZE];

  LlmHandshakeRole role;
  guint steps;
  guint8 peer_version;
  gboolean aes256gcm;
  gboolean peer_aes256gcm;
};

static void
build_hello (LlmHandshake *self)
{
  guint8 *hello = self->hello;
  guint8 ephemeral_public[crypto_scalarmult_BYTES];

  crypto_scalarmult_base (ephemeral_public, self->secrets->ephemeral);
  memcpy (hello, HELLO_MAGIC, 4);
  hello[4] = LLM_PROTOCOL_VERSION;
  hello[5] = self->aes256gcm ? HELLO_FLAG_AES256GCM : 0;
  hello[6] = 0;
  hello[7] = 0;
  memcpy (hello + 8, ephemeral_public, sizeof ephemeral_public);
}

/**
 * llm_handshake_new:
 * @role: which side this is
 * @public_key: this node's Ed25519 public key
 * @sign: signs with the matching secret key
 * @sign_data: data for @sign
 * @aes256gcm: whether to offer AES-256-GCM; it is offered only if this CPU
 *   has AES-NI too
 *
 * Starts a handshake with a fresh ephemeral X25519 key. The initiator calls
 * write_hello(), read_hello(), read_proof(), write_proof(); the responder
 * read_hello(), write_hello(), write_proof(), read_proof(). After a failure,
 * only free() remains (and, for a responder that read a hello of another
 * version, write_hello(), so that the peer learns this node's version).
 *
 * Returns: (transfer full): a new handshake
 */
LlmHandshake *
llm_handshake_new (LlmHandshakeRole      role,
                   const guint8          public_key[32],
                   LlmHandshakeSignFunc  sign,
                   gpointer              sign_data,
                   gboolean              aes256gcm)
{
  LlmHandshake *self;

  g_return_val_if_fail (role == LLM_HANDSHAKE_INITIATOR || role == LLM_HANDSHAKE_RESPONDER, NULL);
  g_return_val_if_fail (public_key != NULL, NULL);
  g_return_val_if_fail (sign != NULL, NULL);

  ensure_sodium ();

  self = g_new0 (LlmHandshake, 1);
  self->role = role;
  self->sign = sign;
  self->sign_data = sign_data;
  self->aes256gcm = aes256gcm && crypto_aead_aes256gcm_is_available ();
  memcpy (self->public_key, public_key, sizeof self->public_key);

  self->secrets = sodium_malloc (sizeof (Secrets));
  g_assert (self->secrets != NULL);
  randombytes_buf (self->secrets->ephemeral, sizeof self->secrets->ephemeral);
  build_hello (self);

  return self;
}

void
llm_handshake_free (LlmHandshake *self)
{
  if (self == NULL)
    return;

  sodium_free (self->secrets);
  sodium_memzero (self, sizeof *self);
  g_free (self);
}

/**
 * llm_handshake_set_ephemeral_secret:
 * @self: a #LlmHandshake, before its hello is written or read
 * @secret: an X25519 secret key
 *
 * For tests and fuzzing only, which need to replay a handshake byte for
 * byte. A fixed ephemeral key gives up forward secrecy.
 */
void
llm_handshake_set_ephemeral_secret (LlmHandshake *self,
                                    const guint8  secret[32])
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (secret != NULL);
  g_return_if_fail (self->steps == 0);

  memcpy (self->secrets->ephemeral, secret, sizeof self->secrets->ephemeral);
  build_hello (self);
}

/**
 * llm_handshake_write_hello:
 * @self: a #LlmHandshake
 * @hello: (out caller-allocates): the 40-byte hello to send
 */
void
llm_handshake_write_hello (LlmHandshake *self,
                           guint8       *hello)
{
  g_return_if_fail (self != NULL);
  g_return_if_fail (hello != NULL);
  g_return_if_fail (!(self->steps & STEP_HELLO_SENT));
  g_return_if_fail (self->role == LLM_HANDSHAKE_INITIATOR ||
                    (self->steps & STEP_HELLO_RECEIVED));

  memcpy (hello, self->hello, LLM_HANDSHAKE_HELLO_SIZE);
  self->steps |= STEP_HELLO_SENT;
}

static void
hash_update_string (crypto_generichash_state *state,
                    const char               *label)
{
  crypto_generichash_update (state, (const guint8 *) label, strlen (label));
}

/* key = BLAKE2b-256 keyed with the X25519 secret, over label ‖ transcript:
 * BLAKE2b with a key is a PRF, and the label keeps each key apart. */
static void
derive_key (LlmHandshake *self,
            const char   *label,
            guint8        key[LLM_HANDSHAKE_KEY_SIZE])
{
  crypto_generichash_state state;

  crypto_generichash_init (&state, self->secrets->shared, sizeof self->secrets->shared,
                           LLM_HANDSHAKE_KEY_SIZE);
  hash_update_string (&state, label);
  crypto_generichash_update (&state, self->transcript, sizeof self->transcript);
  crypto_generichash_final (&state, key, LLM_HANDSHAKE_KEY_SIZE);
  sodium_memzero (&state, sizeof state);
}

/* transcript = BLAKE2b-256 (transcript ‖ data) */
static void
mix_transcript (LlmHandshake *self,
                const guint8 *data,
                gsize         size)
{
  crypto_generichash_state state;

  crypto_generichash_init (&state, NULL, 0, HASH_SIZE);
  crypto_generichash_update (&state, self->transcript, sizeof self->transcript);
  crypto_generichash_update (&state, data, size);
  crypto_generichash_final (&state, self->transcript, HASH_SIZE);
}

static gboolean
fail (LlmHandshake  *self,
      GError       **error,
      int            code,
      const char    *format,
      ...) G_GNUC_PRINTF (4, 5);

static gboolean
fail (LlmHandshake  *self,
      GError       **error,
      int            code,
      const char    *format,
      ...)
{
  va_list args;

  self->steps |= STEP_FAILED;
  va_start (args, format);
  g_propagate_error (error, g_error_new_valist (LLM_PROTOCOL_ERROR, code, format, args));
  va_end (args);

  return FALSE;
}

/**
 * llm_handshake_read_hello:
 * @self: a #LlmHandshake
 * @data: (array length=size): the peer's hello
 * @size: its size
 * @error: return location for a #GError
 *
 * Checks the peer's hello and agrees on the secret with its ephemeral key.
 * A hello of another protocol version fails with
 * %LLM_PROTOCOL_ERROR_VERSION; llm_handshake_get_peer_version() tells which.
 *
 * Returns: %TRUE if the hello is one of protocol version 1
 */
gboolean
llm_handshake_read_hello (LlmHandshake  *self,
                          const guint8  *data,
                          gsize          size,
                          GError       **error)
{
  crypto_generichash_state state;
  const guint8 *hello_i, *hello_r;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (data != NULL || size == 0, FALSE);
  g_return_val_if_fail (!(self->steps & (STEP_HELLO_RECEIVED | STEP_FAILED)), FALSE);
  g_return_val_if_fail (self->role == LLM_HANDSHAKE_RESPONDER ||
                        (self->steps & STEP_HELLO_SENT), FALSE);

  if (size != LLM_HANDSHAKE_HELLO_SIZE || memcmp (data, HELLO_MAGIC, 4) != 0)
    return fail (self, error, LLM_PROTOCOL_ERROR_MALFORMED,
                 "The peer did not start with an llm-node hello: not an llm-node peer, "
                 "or garbage");

  self->peer_version = data[4];
  if (self->peer_version != LLM_PROTOCOL_VERSION)
    {
      /* A responder still answers with its own hello, so that the peer
       * learns which version this node speaks. */
      self->steps |= STEP_HELLO_RECEIVED;
      return fail (self, error, LLM_PROTOCOL_ERROR_VERSION,
                   "The peer speaks protocol version %u; this node speaks version %d",
                   self->peer_version, LLM_PROTOCOL_VERSION);
    }

  /* Bytes 6 and 7 are reserved: zero when sent, ignored when read. */
  self->peer_aes256gcm = (data[5] & HELLO_FLAG_AES256GCM) != 0;
  memcpy (self->peer_hello, data, LLM_HANDSHAKE_HELLO_SIZE);
  self->steps |= STEP_HELLO_RECEIVED;

  /* libsodium refuses a low-order point, whose result would be all zeros
   * and known to anyone. */
  if (crypto_scalarmult (self->secrets->shared, self->secrets->ephemeral, data + 8) != 0)
    return fail (self, error, LLM_PROTOCOL_ERROR_MALFORMED,
                 "The peer’s ephemeral key is a low-order point");

  /* h0 = BLAKE2b-256 (label ‖ initiator's hello ‖ responder's hello) */
  hello_i = self->role == LLM_HANDSHAKE_INITIATOR ? self->hello : self->peer_hello;
  hello_r = self->role == LLM_HANDSHAKE_INITIATOR ? self->peer_hello : self->hello;
  crypto_generichash_init (&state, NULL, 0, HASH_SIZE);
  hash_update_string (&state, LABEL_TRANSCRIPT);
  crypto_generichash_update (&state, hello_i, LLM_HANDSHAKE_HELLO_SIZE);
  crypto_generichash_update (&state, hello_r, LLM_HANDSHAKE_HELLO_SIZE);
  crypto_generichash_final (&state, self->transcript, HASH_SIZE);

  derive_key (self, LABEL_PROOF_R, self->secrets->proof_r);
  derive_key (self, LABEL_PROOF_I, self->secrets->proof_i);
  sodium_memzero (self->secrets->ephemeral, sizeof self->secrets->ephemeral);

  return TRUE;
}

/* The signed message: a label that says who signs, then the transcript. */
static void
build_signed (guint8       *message,
              const char   *label,
              const guint8  transcript[HASH_SIZE])
{
  gsize label_size = strlen (label);

  memcpy (message, label, label_size);
  memcpy (message + label_size, transcript, HASH_SIZE);
}

#define SIGNED_SIZE(label) (sizeof label - 1 + HASH_SIZE)

G_STATIC_ASSERT (SIGNED_SIZE (LABEL_SIGNATURE_R) == SIGNED_SIZE (LABEL_SIGNATURE_I));

/**
 * llm_handshake_write_proof:
 * @self: a #LlmHandshake
 * @proof: (out caller-allocates): the 112-byte proof to send
 * @error: return location for a #GError
 *
 * Makes this side's proof: its identity key and its signature of the
 * transcript, encrypted. For the initiator, this completes the handshake.
 *
 * Returns: %TRUE, or %FALSE if the handshake failed before
 */
gboolean
llm_handshake_write_proof (LlmHandshake  *self,
                           guint8        *proof,
                           GError       **error)
{
  guint8 nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES] = { 0 };
  guint8 plaintext[PROOF_PLAINTEXT_SIZE];
  guint8 signed_data[SIGNED_SIZE (LABEL_SIGNATURE_R)];
  gboolean initiator;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (proof != NULL, FALSE);

  if (self->steps & STEP_FAILED)
    return fail (self, error, LLM_PROTOCOL_ERROR_MALFORMED, "The handshake failed");

  initiator = self->role == LLM_HANDSHAKE_INITIATOR;
  g_return_val_if_fail ((self->steps & (STEP_HELLO_SENT | STEP_HELLO_RECEIVED)) ==
                        (STEP_HELLO_SENT | STEP_HELLO_RECEIVED), FALSE);
  g_return_val_if_fail (initiator ? (self->steps & STEP_PROOF_R) && !(self->steps & STEP_PROOF_I)
                                  : !(self->steps & STEP_PROOF_R), FALSE);

  build_signed (signed_data, initiator ? LABEL_SIGNATURE_I : LABEL_SIGNATURE_R, self->transcript);
  memcpy (plaintext, self->public_key, crypto_sign_PUBLICKEYBYTES);
  self->sign (signed_data, sizeof signed_data, plaintext + crypto_sign_PUBLICKEYBYTES,
              self->sign_data);

  /* Each proof key seals exactly one message, so a zero nonce is safe. The
   * transcript is associated data. */
  crypto_aead_xchacha20poly1305_ietf_encrypt (proof, NULL, plaintext, sizeof plaintext,
                                              self->transcript, sizeof self->transcript,
                                              NULL, nonce,
                                              initiator ? self->secrets->proof_i
                                                        : self->secrets->proof_r);
  mix_transcript (self, proof, LLM_HANDSHAKE_PROOF_SIZE);
  self->steps |= initiator ? STEP_PROOF_I : STEP_PROOF_R;

  return TRUE;
}

/**
 * llm_handshake_read_proof:
 * @self: a #LlmHandshake
 * @data: (array length=size): the peer's proof
 * @size: its size
 * @error: return location for a #GError
 *
 * Checks that the peer holds the secret key of the identity it sends, by
 * its signature over this very handshake. A peer that claims someone else's
 * identity fails here with %LLM_PROTOCOL_ERROR_AUTHENTICATION; one that
 * claims this node's own fails with %LLM_PROTOCOL_ERROR_WRONG_PEER. For
 * the responder, this completes the handshake.
 *
 * Returns: %TRUE if the peer proved its identity
 */
gboolean
llm_handshake_read_proof (LlmHandshake  *self,
                          const guint8  *data,
                          gsize          size,
                          GError       **error)
{
  guint8 nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES] = { 0 };
  guint8 plaintext[PROOF_PLAINTEXT_SIZE];
  guint8 signed_data[SIGNED_SIZE (LABEL_SIGNATURE_R)];
  gboolean initiator;

  g_return_val_if_fail (self != NULL, FALSE);
  g_return_val_if_fail (data != NULL || size == 0, FALSE);

  if (self->steps & STEP_FAILED)
    return fail (self, error, LLM_PROTOCOL_ERROR_MALFORMED, "The handshake failed");

  initiator = self->role == LLM_HANDSHAKE_INITIATOR;
  g_return_val_if_fail ((self->steps & (STEP_HELLO_SENT | STEP_HELLO_RECEIVED)) ==
                        (STEP_HELLO_SENT | STEP_HELLO_RECEIVED), FALSE);
  g_return_val_if_fail (initiator ? !(self->steps & STEP_PROOF_R)
                                  : (self->steps & STEP_PROOF_R) && !(self->steps & STEP_PROOF_I),
                        FALSE);

  if (size != LLM_HANDSHAKE_PROOF_SIZE)
    return fail (self, error, LLM_PROTOCOL_ERROR_MALFORMED,
                 "The peer’s proof has %" G_GSIZE_FORMAT " bytes, not %d",
                 size, LLM_HANDSHAKE_PROOF_SIZE);

  if (crypto_aead_xchacha20poly1305_ietf_decrypt (plaintext, NULL, NULL, data, size,
                                                  self->transcript, sizeof self->transcript,
                                                  nonce,
                                                  initiator ? self->secrets->proof_r
                                                            : self->secrets->proof_i) != 0)
    return fail (self, error, LLM_PROTOCOL_ERROR_AUTHENTICATION,
                 "The peer’s proof does not decrypt: it does not share this handshake’s keys");

  build_signed (signed_data, initiator ? LABEL_SIGNATURE_R : LABEL_SIGNATURE_I, self->transcript);
  if (crypto_sign_verify_detached (plaintext + crypto_sign_PUBLICKEYBYTES,
                                   signed_data, sizeof signed_data, plaintext) != 0)
    {
      g_autofree char *claimed = llm_address_from_public_key (plaintext);

      return fail (self, error, LLM_PROTOCOL_ERROR_AUTHENTICATION,
                   "The peer claims to be %s but cannot prove it holds that address’s key",
                   claimed);
    }

  /* Either a loop (discovery found this node itself) or this node's own
   * proof reflected back at it by a relay: both are refused. */
  if (sodium_memcmp (plaintext, self->public_key, crypto_sign_PUBLICKEYBYTES) == 0)
    return fail (self, error, LLM_PROTOCOL_ERROR_WRONG_PEER,
                 "The peer is this node itself");

  memcpy (self->peer_public_key, plaintext, crypto_sign_PUBLICKEYBYTES);
  mix_transcript (self, data, size);
  self->steps |= initiator ? STEP_PROOF_R : STEP_PROOF_I;

  return TRUE;
}

gboolean
llm_handshake_is_complete (LlmHandshake *self)
{
  g_return_val_if_fail (self != NULL, FALSE);

  return (self->steps & (STEP_PROOF_R | STEP_PROOF_I | STEP_FAILED)) ==
         (STEP_PROOF_R | STEP_PROOF_I);
}

/**
 * llm_handshake_get_peer_version:
 * @self: a #LlmHandshake
 *
 * Returns: the protocol version of the peer's hello, 0 before it is read
 */
guint8
llm_handshake_get_peer_version (LlmHandshake *self)
{
  g_return_val_if_fail (self != NULL, 0);

  return self->peer_version;
}

/**
 * llm_handshake_get_peer_public_key:
 * @self: a #LlmHandshake
 *
 * Returns: (nullable) (array fixed-size=32): the key the peer proved it
 *   holds, once its proof is read
 */
const guint8 *
llm_handshake_get_peer_public_key (LlmHandshake *self)
{
  g_return_val_if_fail (self != NULL, NULL);

  if (!(self->steps & (self->role == LLM_HANDSHAKE_INITIATOR ? STEP_PROOF_R : STEP_PROOF_I)))
    return NULL;

  return self->peer_public_key;
}

/**
 * llm_handshake_get_cipher:
 * @self: a #LlmHandshake whose hellos were exchanged
 *
 * Returns: AES-256-GCM if both hellos offered it, XChaCha20-Poly1305
 *   otherwise
 */
LlmCipher
llm_handshake_get_cipher (LlmHandshake *self)
{
  g_return_val_if_fail (self != NULL, LLM_CIPHER_XCHACHA20_POLY1305);

  return self->aes256gcm && self->peer_aes256gcm
         ? LLM_CIPHER_AES256_GCM
         : LLM_CIPHER_XCHACHA20_POLY1305;
}

/**
 * llm_handshake_split:
 * @self: a complete #LlmHandshake
 * @send: (out) (transfer full): the cipher of frames to the peer
 * @receive: (out) (transfer full): the cipher of frames from the peer
 *
 * Derives the two traffic keys from the shared secret and the whole
 * transcript, and forgets the shared secret.
 */
void
llm_handshake_split (LlmHandshake    *self,
                     LlmFrameCipher **send,
                     LlmFrameCipher **receive)
{
  guint8 *keys;
  LlmCipher cipher;

  g_return_if_fail (self != NULL);
  g_return_if_fail (llm_handshake_is_complete (self));
  g_return_if_fail (!(self->steps & STEP_SPLIT));
  g_return_if_fail (send != NULL && receive != NULL);

  self->steps |= STEP_SPLIT;
  keys = sodium_malloc (2 * LLM_HANDSHAKE_KEY_SIZE);
  g_assert (keys != NULL);
  derive_key (self, LABEL_TRAFFIC_I2R, keys);
  derive_key (self, LABEL_TRAFFIC_R2I, keys + LLM_HANDSHAKE_KEY_SIZE);
  sodium_memzero (self->secrets, sizeof (Secrets));

  cipher = llm_handshake_get_cipher (self);
  if (self->role == LLM_HANDSHAKE_INITIATOR)
    {
      *send = llm_frame_cipher_new (cipher, keys);
      *receive = llm_frame_cipher_new (cipher, keys + LLM_HANDSHAKE_KEY_SIZE);
    }
  else
    {
      *send = llm_frame_cipher_new (cipher, keys + LLM_HANDSHAKE_KEY_SIZE);
      *receive = llm_frame_cipher_new (cipher, keys);
    }
  sodium_free (keys);
}

/* }}} */

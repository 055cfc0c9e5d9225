/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/**
 * SECTION:llm-frame
 *
 * The wire format of protocol version 1 (docs/protocol.md), without any I/O:
 * the handshake as a state machine that reads and writes byte arrays
 * (#LlmHandshake), and the sealing and opening of frames (#LlmFrameCipher).
 * #LlmConnection does the I/O around these; the fuzz target and the tests
 * drive them directly.
 *
 * Every function here takes bytes from a peer as untrusted: a defect is a
 * #GError in %LLM_PROTOCOL_ERROR, never a crash, and sizes are checked
 * before anything is allocated.
 */

/* The protocol version, in every hello. */
#define LLM_PROTOCOL_VERSION        1

#define LLM_HANDSHAKE_HELLO_SIZE    40
#define LLM_HANDSHAKE_PROOF_SIZE    112
#define LLM_HANDSHAKE_KEY_SIZE      32

/* A frame: a 4-byte big-endian length, then that many sealed bytes (the
 * plaintext and a 16-byte authentication tag). */
#define LLM_FRAME_HEADER_SIZE       4
#define LLM_FRAME_TAG_SIZE          16
/* The smallest plaintext: a type byte and a JSON length. */
#define LLM_FRAME_PLAINTEXT_MIN     5
#define LLM_FRAME_MIN_SIZE          (LLM_FRAME_TAG_SIZE + LLM_FRAME_PLAINTEXT_MIN)
/* The largest sealed body (header not included): 16 MiB. */
#define LLM_FRAME_MAX_SIZE          (16 * 1024 * 1024)
/* The largest JSON object in a frame, and its deepest nesting. */
#define LLM_FRAME_MAX_JSON_SIZE     (1024 * 1024)
#define LLM_FRAME_MAX_JSON_DEPTH    64
/* The largest payload beside an empty JSON object "{}". */
#define LLM_FRAME_MAX_PAYLOAD_SIZE  (LLM_FRAME_MAX_SIZE - LLM_FRAME_MIN_SIZE - 2)
/* Ping and pong carry 8 bytes: the pinger's clock, echoed. */
#define LLM_FRAME_PING_SIZE         8

#define LLM_PROTOCOL_ERROR (llm_protocol_error_quark ())

/**
 * LlmProtocolError:
 * @LLM_PROTOCOL_ERROR_MALFORMED: bytes that are not the protocol (garbage
 *   instead of a hello, a frame too short, bad JSON…)
 * @LLM_PROTOCOL_ERROR_VERSION: the peer speaks another protocol version
 * @LLM_PROTOCOL_ERROR_TOO_LARGE: a frame over %LLM_FRAME_MAX_SIZE, or JSON
 *   over %LLM_FRAME_MAX_JSON_SIZE
 * @LLM_PROTOCOL_ERROR_TRUNCATED: the stream ended inside a hello, a proof or
 *   a frame
 * @LLM_PROTOCOL_ERROR_AUTHENTICATION: a proof or frame that does not
 *   authenticate: forged, tampered with, replayed or reordered, or a peer
 *   that cannot prove it holds the key it claims
 * @LLM_PROTOCOL_ERROR_WRONG_PEER: the peer proved an identity, but not the
 *   one that was dialled (or this node's own)
 * @LLM_PROTOCOL_ERROR_EXHAUSTED: a frame counter would wrap around
 */
typedef enum
{
  LLM_PROTOCOL_ERROR_MALFORMED,
  LLM_PROTOCOL_ERROR_VERSION,
  LLM_PROTOCOL_ERROR_TOO_LARGE,
  LLM_PROTOCOL_ERROR_TRUNCATED,
  LLM_PROTOCOL_ERROR_AUTHENTICATION,
  LLM_PROTOCOL_ERROR_WRONG_PEER,
  LLM_PROTOCOL_ERROR_EXHAUSTED,
} LlmProtocolError;

GQuark llm_protocol_error_quark (void);

/**
 * LlmCipher:
 * @LLM_CIPHER_XCHACHA20_POLY1305: XChaCha20-Poly1305 (IETF), everywhere
 * @LLM_CIPHER_AES256_GCM: AES-256-GCM, when both peers have AES-NI
 *
 * The AEAD of the frames, chosen in the handshake.
 */
typedef enum
{
  LLM_CIPHER_XCHACHA20_POLY1305,
  LLM_CIPHER_AES256_GCM,
} LlmCipher;

#define LLM_TYPE_CIPHER (llm_cipher_get_type ())
GType llm_cipher_get_type (void);

/**
 * LlmFrameType:
 * @LLM_FRAME_MESSAGE: a JSON object and an optional binary payload
 * @LLM_FRAME_PING: a keepalive; the peer answers with a pong
 * @LLM_FRAME_PONG: the answer to a ping, with the ping's 8 bytes
 */
typedef enum
{
  LLM_FRAME_MESSAGE = 1,
  LLM_FRAME_PING    = 2,
  LLM_FRAME_PONG    = 3,
} LlmFrameType;

/* Frames */

typedef struct _LlmFrameCipher LlmFrameCipher;

LlmFrameCipher *llm_frame_cipher_new         (LlmCipher       cipher,
                                              const guint8    key[LLM_HANDSHAKE_KEY_SIZE]);
void            llm_frame_cipher_free        (LlmFrameCipher *self);
LlmCipher       llm_frame_cipher_get_cipher  (LlmFrameCipher *self);
guint64         llm_frame_cipher_get_counter (LlmFrameCipher *self);
void            llm_frame_cipher_set_counter (LlmFrameCipher *self,
                                              guint64         counter);

GBytes  *llm_frame_seal            (LlmFrameCipher  *self,
                                    LlmFrameType     type,
                                    const char      *json,
                                    gsize            json_size,
                                    GBytes          *payload,
                                    GError         **error);
GBytes  *llm_frame_seal_message    (LlmFrameCipher  *self,
                                    JsonObject      *message,
                                    GBytes          *payload,
                                    GError         **error);
gboolean llm_frame_parse_header    (const guint8     header[LLM_FRAME_HEADER_SIZE],
                                    gsize           *body_size,
                                    GError         **error);
GBytes  *llm_frame_open            (LlmFrameCipher  *self,
                                    const guint8     header[LLM_FRAME_HEADER_SIZE],
                                    guint8          *body,
                                    gsize            body_size,
                                    GError         **error);
gboolean llm_frame_parse_plaintext (GBytes          *plaintext,
                                    LlmFrameType    *type,
                                    JsonObject     **message,
                                    GBytes         **payload,
                                    GError         **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LlmFrameCipher, llm_frame_cipher_free)

/* Handshake */

/**
 * LlmHandshakeRole:
 * @LLM_HANDSHAKE_INITIATOR: the side that dialled
 * @LLM_HANDSHAKE_RESPONDER: the side that accepted
 */
typedef enum
{
  LLM_HANDSHAKE_INITIATOR,
  LLM_HANDSHAKE_RESPONDER,
} LlmHandshakeRole;

/**
 * LlmHandshakeSignFunc:
 * @data: (array length=size): the bytes to sign
 * @size: their size
 * @signature: (out caller-allocates) (array fixed-size=64): the Ed25519 signature
 * @user_data: the data given with the function
 *
 * Signs with the node's identity key, which the handshake never sees.
 */
typedef void (*LlmHandshakeSignFunc) (const guint8 *data,
                                      gsize         size,
                                      guint8        signature[64],
                                      gpointer      user_data);

typedef struct _LlmHandshake LlmHandshake;

LlmHandshake *llm_handshake_new                  (LlmHandshakeRole       role,
                                                  const guint8           public_key[32],
                                                  LlmHandshakeSignFunc   sign,
                                                  gpointer               sign_data,
                                                  gboolean               aes256gcm);
void          llm_handshake_free                 (LlmHandshake          *self);
void          llm_handshake_set_ephemeral_secret (LlmHandshake          *self,
                                                  const guint8           secret[32]);
void          llm_handshake_write_hello          (LlmHandshake          *self,
                                                  guint8                *hello);
gboolean      llm_handshake_read_hello           (LlmHandshake          *self,
                                                  const guint8          *data,
                                                  gsize                  size,
                                                  GError               **error);
gboolean      llm_handshake_write_proof          (LlmHandshake          *self,
                                                  guint8                *proof,
                                                  GError               **error);
gboolean      llm_handshake_read_proof           (LlmHandshake          *self,
                                                  const guint8          *data,
                                                  gsize                  size,
                                                  GError               **error);
gboolean      llm_handshake_is_complete          (LlmHandshake          *self);
guint8        llm_handshake_get_peer_version     (LlmHandshake          *self);
const guint8 *llm_handshake_get_peer_public_key  (LlmHandshake          *self);
LlmCipher     llm_handshake_get_cipher           (LlmHandshake          *self);
void          llm_handshake_split                (LlmHandshake          *self,
                                                  LlmFrameCipher       **send,
                                                  LlmFrameCipher       **receive);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LlmHandshake, llm_handshake_free)

G_END_DECLS

/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <gio/gio.h>

#include "llm-address.h"

G_BEGIN_DECLS

/*
 * LlmIdentity: this node's Ed25519 key pair and `.llm` address.
 *
 * Use:
 *
 *   - LlmNode, at start-up: llm_identity_load_or_create_async (data_dir, …)
 *     (a worker thread reads or, on first run, creates DATA_DIR/identity.key),
 *     then hands the identity to llm_transport_server_new(). A key file that
 *     is there but invalid is an error to show, never something to replace.
 *   - `llm-node address` and tests: llm_identity_load_or_create(), the same,
 *     blocking.
 *   - Discovery, to sign what it publishes (a DHT record):
 *     llm_identity_sign (identity, record, size, signature), with a label of
 *     its own at the start of the record; whoever reads the record checks it
 *     with llm_address_verify (address, record, size, signature, &error).
 *   - Tests: llm_identity_new_from_seed() (fixed addresses) and
 *     llm_identity_generate() (in memory only).
 *
 * An identity never changes once made, so any thread may use it.
 */

/**
 * LLM_IDENTITY_FILE_NAME:
 *
 * The name of the key file in the node's data directory.
 */
#define LLM_IDENTITY_FILE_NAME "identity.key"
#define LLM_IDENTITY_SEED_SIZE 32

#define LLM_IDENTITY_ERROR (llm_identity_error_quark ())

/**
 * LlmIdentityError:
 * @LLM_IDENTITY_ERROR_INVALID: the key file exists but is not a valid key
 *   (wrong size, wrong header, or a public half that does not match the
 *   secret half). The file is left as it is.
 *
 * I/O errors (permissions, a full disk…) are in %G_IO_ERROR, and name the
 * file too.
 */
typedef enum
{
  LLM_IDENTITY_ERROR_INVALID,
} LlmIdentityError;

GQuark llm_identity_error_quark (void);

#define LLM_TYPE_IDENTITY (llm_identity_get_type ())

G_DECLARE_FINAL_TYPE (LlmIdentity, llm_identity, LLM, IDENTITY, GObject)

LlmIdentity *llm_identity_load_or_create        (const char           *data_dir,
                                                 GError              **error);
void         llm_identity_load_or_create_async  (const char           *data_dir,
                                                 GCancellable         *cancellable,
                                                 GAsyncReadyCallback   callback,
                                                 gpointer              user_data);
LlmIdentity *llm_identity_load_or_create_finish (GAsyncResult         *result,
                                                 GError              **error);
LlmIdentity *llm_identity_new_from_seed         (const guint8         *seed);
LlmIdentity *llm_identity_generate              (void);

const char   *llm_identity_get_address    (LlmIdentity *self);
const guint8 *llm_identity_get_public_key (LlmIdentity *self);
const char   *llm_identity_get_path       (LlmIdentity *self);
void          llm_identity_sign           (LlmIdentity *self,
                                           const void  *data,
                                           gsize        size,
                                           guint8       signature[LLM_ADDRESS_SIGNATURE_SIZE]);

G_END_DECLS

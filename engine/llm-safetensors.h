/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

/* The safetensors reader: a strict parser of the JSON header, and the weights
 * of a model folder (one file or shards), whose tensors are memory-mapped one
 * by one, so that a node hosting a slice of a model maps only that slice.
 *
 * A safetensors file is an 8-byte little-endian length N, N bytes of JSON
 * (possibly padded with spaces), then the data, which the tensors tile
 * exactly in the order of their offsets. */

#include <glib.h>

G_BEGIN_DECLS

#define LLM_SAFETENSORS_ERROR (llm_safetensors_error_quark ())

typedef enum
{
  LLM_SAFETENSORS_ERROR_IO,       /* a system call failed: open, read, mmap */
  LLM_SAFETENSORS_ERROR_INVALID,  /* the content of a file breaks the format */
  LLM_SAFETENSORS_ERROR_MISSING,  /* a file or a tensor that should be there is not */
} LlmSafetensorsError;

GQuark llm_safetensors_error_quark (void);

typedef enum
{
  /* The ones the engine computes with, first. */
  LLM_DTYPE_F32,
  LLM_DTYPE_F16,
  LLM_DTYPE_BF16,
  LLM_DTYPE_F64,
  LLM_DTYPE_I64,
  LLM_DTYPE_U64,
  LLM_DTYPE_I32,
  LLM_DTYPE_U32,
  LLM_DTYPE_I16,
  LLM_DTYPE_U16,
  LLM_DTYPE_I8,
  LLM_DTYPE_U8,
  LLM_DTYPE_BOOL,
  LLM_DTYPE_F8_E5M2,
  LLM_DTYPE_F8_E4M3,
} LlmDtype;

const char *llm_dtype_to_string (LlmDtype dtype);  /* "BF16" */
gsize       llm_dtype_size      (LlmDtype dtype);  /* bytes per element */

#define LLM_TENSOR_MAX_DIMS 8

typedef struct
{
  char     *name;
  LlmDtype  dtype;
  guint     n_dims;                       /* 0 for a scalar, which has 1 element */
  guint64   shape[LLM_TENSOR_MAX_DIMS];   /* (n_dims), outermost first */
  guint64   offset;                       /* absolute byte offset of its data in its file */
  guint64   size;                         /* bytes: product (shape) × llm_dtype_size (dtype) */
  guint     file_index;                   /* which file of the LlmWeights holds it */
} LlmTensorInfo;

/* Parses one header (the JSON text, without the 8-byte length). data_size is
 * the byte count after the header. Fills tensors (LlmTensorInfo*, owned by
 * the array, sorted by offset, with offset relative to the data start and
 * file_index 0) and metadata (char* → char*, empty when the header has no
 * "__metadata__"). Either may be NULL. Every rule of the format is checked:
 * strict JSON, known dtypes and fields, sizes that match shapes, tensors that
 * tile [0, data_size) exactly. For fuzzing and tests. */
gboolean llm_safetensors_parse_header (const char   *json,
                                       gsize         json_len,
                                       guint64       data_size,
                                       GPtrArray   **tensors,
                                       GHashTable  **metadata,
                                       GError      **error);

/* The weights of a model folder: model.safetensors, or else the shards
 * listed in model.safetensors.index.json ("weight_map": tensor name → file
 * name). Every named file must exist and hold exactly the tensors the index
 * assigns to it, and no tensor may be in two files.
 *
 * Opening reads the headers only, never the tensor data. Once open, the
 * lookups and getters only read and may be called from any thread;
 * llm_weights_map() may be called from one thread at a time. */
typedef struct _LlmWeights LlmWeights;

LlmWeights          *llm_weights_open             (const char          *model_dir,
                                                   GError             **error);
void                 llm_weights_free             (LlmWeights          *weights);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (LlmWeights, llm_weights_free)

/* The tensor called name, NULL if absent. Its offset is absolute. */
const LlmTensorInfo *llm_weights_lookup           (LlmWeights          *weights,
                                                   const char          *name);
/* Tensors are numbered file by file, then in the order of their offsets. */
guint                llm_weights_get_n_tensors    (LlmWeights          *weights);
const LlmTensorInfo *llm_weights_get_tensor       (LlmWeights          *weights,
                                                   guint                index);
const char          *llm_weights_get_file_path    (LlmWeights          *weights,
                                                   guint                file_index);

/* Maps exactly the pages of one tensor (read-only, private) and returns a
 * pointer to its first byte; the mapping lives until llm_weights_free().
 * Mapping the same tensor twice returns the same pointer. A tensor of 0 bytes
 * maps nothing and gets a non-NULL pointer that must not be read. tensor must
 * come from this weights' lookup or getter. One thread at a time. */
const void          *llm_weights_map              (LlmWeights          *weights,
                                                   const LlmTensorInfo *tensor,
                                                   GError             **error);
/* Bytes currently mapped (whole pages), for tests and the benchmark. */
guint64              llm_weights_get_mapped_bytes (LlmWeights          *weights);

G_END_DECLS

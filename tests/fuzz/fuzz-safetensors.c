/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-fuzz-safetensors"

/* libFuzzer target for the safetensors header parser. The input is an
 * 8-byte little-endian data size followed by the JSON header. Besides the
 * sanitizers, it checks what a successful parse promises: the tensors, sorted
 * by offset, tile [0, data_size) exactly with sizes that match their shapes. */

#include "llm-safetensors.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data,
                            size_t         size);

static void
check_tiling (GPtrArray  *tensors,
              guint64     data_size,
              GHashTable *metadata)
{
  guint64 expected = 0;

  for (guint i = 0; i < tensors->len; i++)
    {
      const LlmTensorInfo *info = g_ptr_array_index (tensors, i);
      guint64 n_bytes = llm_dtype_size (info->dtype);

      if (info->name == NULL || info->n_dims > LLM_TENSOR_MAX_DIMS ||
          llm_dtype_to_string (info->dtype) == NULL || info->offset != expected ||
          info->file_index != 0)
        abort ();
      for (guint d = 0; d < info->n_dims; d++)
        n_bytes *= info->shape[d];
      if (n_bytes != info->size || !g_utf8_validate (info->name, -1, NULL))
        abort ();
      expected += info->size;
    }
  if (expected != data_size || metadata == NULL)
    abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autoptr(GPtrArray) tensors = NULL;
  g_autoptr(GHashTable) metadata = NULL;
  g_autoptr(GError) error = NULL;
  guint64 data_size = 0;

  if (size < 8)
    return 0;
  for (guint i = 0; i < 8; i++)
    data_size |= (guint64) data[i] << (8 * i);

  if (llm_safetensors_parse_header ((const char *) data + 8, size - 8, data_size,
                                    &tensors, &metadata, &error))
    {
      if (error != NULL)
        abort ();
      check_tiling (tensors, data_size, metadata);
    }
  else if (error == NULL || error->message == NULL || tensors != NULL || metadata != NULL)
    {
      abort ();
    }

  return 0;
}

/* SPDX-License-Identifier: GPL-3.0-or-later */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Runs one function on every thread of the pool at once: each call gets its
 * thread's index and splits the work by it. Built for the many short
 * parallel steps of a forward pass, where waking threads must cost
 * microseconds: idle workers spin a moment before they sleep. */
typedef struct _LlmPool LlmPool;

typedef void (*LlmPoolFunc) (void *data,
                             int   thread_index,
                             int   n_threads);

LlmPool *llm_pool_new           (int          n_threads);
void     llm_pool_free          (LlmPool     *pool);
int      llm_pool_get_n_threads (LlmPool     *pool);
void     llm_pool_run           (LlmPool     *pool,
                                 LlmPoolFunc  func,
                                 void        *data);

/* The part [*begin, *end) of n items that thread_index of n_threads does,
 * in multiples of granule. */
void     llm_pool_split         (int          n,
                                 int          granule,
                                 int          thread_index,
                                 int          n_threads,
                                 int         *begin,
                                 int         *end);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (LlmPool, llm_pool_free)

G_END_DECLS

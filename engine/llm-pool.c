/* SPDX-License-Identifier: GPL-3.0-or-later */
#define G_LOG_DOMAIN "llm-pool"

#include "llm-pool.h"

#include <stdatomic.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause ()
#else
#define cpu_relax() do { } while (0)
#endif

/* How long an idle worker spins before it sleeps: long enough to cover the
 * gap between two matrix products of one token, short enough not to burn a
 * core while the model waits for the network or the person. */
#define SPIN_NANOSECONDS (200 * 1000)

struct _LlmPool
{
  int n_threads;
  GThread **workers;

  LlmPoolFunc func;
  void *data;

  atomic_uint generation;   /* bumped by each run */
  atomic_int pending;       /* workers still inside the current run */
  atomic_int n_sleeping;
  atomic_bool stopping;

  GMutex mutex;
  GCond wake;
};

typedef struct
{
  LlmPool *pool;
  int index;
} Worker;

static void
wait_for_generation (LlmPool  *pool,
                     unsigned  seen)
{
  gint64 deadline = g_get_monotonic_time () + SPIN_NANOSECONDS / 1000;

  for (guint spins = 0; atomic_load_explicit (&pool->generation, memory_order_acquire) == seen; spins++)
    {
      cpu_relax ();
      if ((spins & 255) != 0 || g_get_monotonic_time () < deadline)
        continue;

      g_mutex_lock (&pool->mutex);
      atomic_fetch_add (&pool->n_sleeping, 1);
      while (atomic_load (&pool->generation) == seen)
        g_cond_wait (&pool->wake, &pool->mutex);
      atomic_fetch_sub (&pool->n_sleeping, 1);
      g_mutex_unlock (&pool->mutex);
    }
}

static gpointer
llm_pool_worker (gpointer user_data)
{
  Worker *worker = user_data;
  LlmPool *pool = worker->pool;
  unsigned seen = 0;

  for (;;)
    {
      wait_for_generation (pool, seen);
      seen = atomic_load_explicit (&pool->generation, memory_order_acquire);
      if (atomic_load (&pool->stopping))
        break;

      pool->func (pool->data, worker->index, pool->n_threads);
      atomic_fetch_sub_explicit (&pool->pending, 1, memory_order_release);
    }

  g_free (worker);
  return NULL;
}

/**
 * llm_pool_new:
 * @n_threads: threads to compute with, the caller's included; 0 for one
 *   per processor
 */
LlmPool *
llm_pool_new (int n_threads)
{
  LlmPool *pool = g_new0 (LlmPool, 1);

  if (n_threads <= 0)
    n_threads = g_get_num_processors ();

  pool->n_threads = n_threads;
  g_mutex_init (&pool->mutex);
  g_cond_init (&pool->wake);

  /* The calling thread is thread 0: a pool of one starts no thread. */
  pool->workers = g_new0 (GThread *, n_threads);
  for (int i = 1; i < n_threads; i++)
    {
      Worker *worker = g_new (Worker, 1);

      *worker = (Worker) { pool, i };
      pool->workers[i] = g_thread_new ("llm-worker", llm_pool_worker, worker);
    }

  return pool;
}

static void
wake_workers (LlmPool *pool)
{
  atomic_fetch_add_explicit (&pool->generation, 1, memory_order_release);
  if (atomic_load (&pool->n_sleeping) > 0)
    {
      g_mutex_lock (&pool->mutex);
      g_cond_broadcast (&pool->wake);
      g_mutex_unlock (&pool->mutex);
    }
}

void
llm_pool_free (LlmPool *pool)
{
  if (pool == NULL)
    return;

  atomic_store (&pool->stopping, TRUE);
  wake_workers (pool);
  for (int i = 1; i < pool->n_threads; i++)
    g_thread_join (pool->workers[i]);

  g_free (pool->workers);
  g_mutex_clear (&pool->mutex);
  g_cond_clear (&pool->wake);
  g_free (pool);
}

int
llm_pool_get_n_threads (LlmPool *pool)
{
  return pool->n_threads;
}

/**
 * llm_pool_run:
 *
 * Calls @func on every thread of the pool, this one included, and returns
 * when all calls have returned. Not reentrant: one run at a time per pool.
 */
void
llm_pool_run (LlmPool     *pool,
              LlmPoolFunc  func,
              void        *data)
{
  if (pool->n_threads == 1)
    {
      func (data, 0, 1);
      return;
    }

  pool->func = func;
  pool->data = data;
  atomic_store_explicit (&pool->pending, pool->n_threads - 1, memory_order_relaxed);
  wake_workers (pool);

  func (data, 0, pool->n_threads);

  while (atomic_load_explicit (&pool->pending, memory_order_acquire) > 0)
    cpu_relax ();
}

void
llm_pool_split (int  n,
                int  granule,
                int  thread_index,
                int  n_threads,
                int *begin,
                int *end)
{
  int n_granules = (n + granule - 1) / granule;
  int first = (int) ((gint64) n_granules * thread_index / n_threads);
  int last = (int) ((gint64) n_granules * (thread_index + 1) / n_threads);

  *begin = MIN (first * granule, n);
  *end = MIN (last * granule, n);
}

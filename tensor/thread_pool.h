// thread_pool.h: one pool of worker threads and parallel_for, the only way attograd splits work.
//
// Reproducibility rule: parallel_for cuts [begin, end) into chunks of `grain` items whose
// boundaries depend only on (begin, end, grain), never on the number of threads. Each chunk is
// computed by exactly one thread, in a fixed order inside the chunk, so a kernel whose chunks
// write disjoint outputs gives the same bits with 1 thread or 16. Reductions that combine
// chunks keep one partial per chunk and add the partials in chunk order afterwards.
#pragma once

#include <cstdint>
#include <functional>

namespace ag {

// Threads used by kernels (the caller counts as one). The default is AG_NUM_THREADS when set,
// else every core. n < 1 is an Error, and so is a call from inside a parallel_for chunk. Any
// thread may call it at any time: a resize waits for the job in flight.
void set_num_threads(int num_threads);
int get_num_threads();

// Calls fn(chunk_begin, chunk_end) for every chunk [b, min(b + grain, end)), b = begin,
// begin + grain, ... Chunks run on the pool in any order, each on one thread; with one chunk,
// one thread, or when called from inside a parallel_for, everything runs on the calling
// thread (nested parallelism would oversubscribe two cores). grain < 1 is treated as 1.
// An exception thrown by fn is rethrown here after all chunks finish.
void parallel_for(int64_t begin, int64_t end, int64_t grain,
                  const std::function<void(int64_t chunk_begin, int64_t chunk_end)>& fn);

// True while the calling thread is running a chunk of a parallel_for.
bool in_parallel_region();

}  // namespace ag

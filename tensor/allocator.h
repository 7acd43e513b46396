// allocator.h: where tensor memory comes from. Blocks are 64-byte aligned (a cache line, and
// an AVX-512 register), and freed blocks are kept in a cache keyed by their exact size:
// a training step allocates the same sizes as the step before, so after the first step almost
// every allocation is a cache hit and memory stays flat instead of churning through malloc.
#pragma once

#include <cstddef>

namespace ag {

// Returns at least nbytes of 64-byte aligned, uninitialised memory (never null; throws Error
// when the system refuses).
void* allocate_bytes(size_t nbytes);

// Gives a block back; it is cached for the next allocation of the same size.
void free_bytes(void* ptr, size_t nbytes);

// Returns every cached block to the system; what is in use is untouched.
void empty_cache();

struct AllocatorStats {
  size_t bytes_in_use = 0;     // handed out and not yet freed
  size_t bytes_cached = 0;     // freed, kept for reuse
  size_t peak_bytes_in_use = 0;
  size_t system_allocations = 0;  // calls that missed the cache
};
AllocatorStats allocator_stats();

}  // namespace ag

// allocator.cpp: an exact-size caching allocator over aligned operator new.
// The cache is bounded (kMaxCachedBytes); past that a freed block goes back to the system.
#include "tensor/allocator.h"

#include <algorithm>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "tensor/error.h"

namespace ag {
namespace {

constexpr std::align_val_t kAlignment{64};
constexpr size_t kMaxCachedBytes = size_t{2} << 30;  // 2 GiB of idle blocks at most

struct Cache {
  std::mutex mutex;
  std::unordered_map<size_t, std::vector<void*>> free_blocks;  // size -> idle blocks
  AllocatorStats stats;
};

Cache& cache() {
  // Leaked on purpose: tensors in static storage may be freed after this would be destroyed.
  static Cache* instance = new Cache;
  return *instance;
}

// Sizes are rounded up to 64 bytes so that near-identical requests share a bucket.
size_t rounded(size_t nbytes) { return std::max<size_t>(64, (nbytes + 63) / 64 * 64); }

}  // namespace

void* allocate_bytes(size_t nbytes) {
  const size_t size = rounded(nbytes);
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    auto it = c.free_blocks.find(size);
    if (it != c.free_blocks.end() && !it->second.empty()) {
      void* ptr = it->second.back();
      it->second.pop_back();
      c.stats.bytes_cached -= size;
      c.stats.bytes_in_use += size;
      c.stats.peak_bytes_in_use = std::max(c.stats.peak_bytes_in_use, c.stats.bytes_in_use);
      return ptr;
    }
    c.stats.bytes_in_use += size;
    c.stats.peak_bytes_in_use = std::max(c.stats.peak_bytes_in_use, c.stats.bytes_in_use);
    ++c.stats.system_allocations;
  }
  void* ptr = ::operator new(size, kAlignment, std::nothrow);
  if (ptr == nullptr) {
    std::lock_guard<std::mutex> lock(c.mutex);
    c.stats.bytes_in_use -= size;
    throw Error("allocate", "out of memory: could not allocate ", nbytes, " bytes");
  }
  return ptr;
}

void free_bytes(void* ptr, size_t nbytes) {
  if (ptr == nullptr) return;
  const size_t size = rounded(nbytes);
  Cache& c = cache();
  {
    std::lock_guard<std::mutex> lock(c.mutex);
    c.stats.bytes_in_use -= size;
    if (c.stats.bytes_cached + size <= kMaxCachedBytes) {
      c.free_blocks[size].push_back(ptr);
      c.stats.bytes_cached += size;
      return;
    }
  }
  ::operator delete(ptr, kAlignment);
}

void empty_cache() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  for (auto& [size, blocks] : c.free_blocks)
    for (void* ptr : blocks) ::operator delete(ptr, kAlignment);
  c.free_blocks.clear();
  c.stats.bytes_cached = 0;
}

AllocatorStats allocator_stats() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  return c.stats;
}

}  // namespace ag

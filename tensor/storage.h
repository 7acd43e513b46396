// storage.h: the flat, aligned buffer behind a tensor, shared by the tensor and all its views.
// It also carries the version counter: every in-place write bumps it, and autograd compares it
// with the version it saw at forward time, so changing a tensor that a backward still needs
// is caught instead of silently giving a wrong gradient. Views share the counter because they
// share the bytes.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "tensor/dtype.h"

namespace ag {

class Storage {
 public:
  explicit Storage(size_t nbytes);  // uninitialised, 64-byte aligned
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }

  uint64_t version() const { return version_.load(std::memory_order_relaxed); }
  void bump_version() { version_.fetch_add(1, std::memory_order_relaxed); }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  std::atomic<uint64_t> version_{0};
};

}  // namespace ag

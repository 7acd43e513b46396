// strided_loop.h: the one loop every elementwise kernel runs on. It walks N operands that share
// a (broadcast) shape but each have their own strides, and hands the body runs of the innermost
// dim: (flat index of the run, offset of each operand, run length, each operand's inner stride).
// Dims that are laid out back to back in every operand are merged first, so a contiguous
// tensor is one long run and the body's plain loop vectorises.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>

#include "tensor/error.h"
#include "tensor/shape.h"
#include "tensor/thread_pool.h"

namespace ag::kernels {

// Elements per parallel chunk: big enough that waking a thread pays off.
inline constexpr int64_t kElementwiseGrain = 32768;

// The multi-index lives in a fixed array; creation refuses more dims (see creation.cpp), but a
// view can still have more, so a layout that stays wider after merging is refused here.
inline constexpr size_t kMaxLoopDims = 16;

template <size_t N>
struct StridedLayout {
  Shape shape;                    // merged shape
  std::array<Strides, N> strides;  // per operand, same rank as shape

  StridedLayout(const Shape& full_shape, const std::array<Strides, N>& full_strides) {
    // Merge dim d into d-1 when every operand steps over d-1 exactly as a run of d.
    for (size_t d = 0; d < full_shape.size(); ++d) {
      if (full_shape[d] == 1) continue;  // size-1 dims never move the offsets
      bool merge = !shape.empty();
      for (size_t k = 0; k < N && merge; ++k)
        merge = strides[k].back() == full_strides[k][d] * full_shape[d];
      if (merge) {
        shape.back() *= full_shape[d];
        for (size_t k = 0; k < N; ++k) strides[k].back() = full_strides[k][d];
      } else {
        shape.push_back(full_shape[d]);
        for (size_t k = 0; k < N; ++k) strides[k].push_back(full_strides[k][d]);
      }
    }
    if (shape.empty()) {  // a scalar, or all dims of size 1
      shape.push_back(1);
      for (size_t k = 0; k < N; ++k) strides[k].push_back(0);
    }
    if (shape.size() > kMaxLoopDims)
      throw Error("elementwise", "a tensor of shape ", full_shape, " is laid out in ", shape.size(),
                  " dims that cannot be merged; at most ", kMaxLoopDims,
                  " are supported (call contiguous() on a view with fewer dims first)");
  }
};

// Calls body(index, offsets, count, inner_strides) over flat indices [begin, end) of layout.
template <size_t N, typename Body>
void for_each_run(const StridedLayout<N>& layout, int64_t begin, int64_t end, Body&& body) {
  const int64_t ndim = static_cast<int64_t>(layout.shape.size());
  const int64_t inner = layout.shape[ndim - 1];
  std::array<int64_t, N> inner_strides;
  for (size_t k = 0; k < N; ++k) inner_strides[k] = layout.strides[k][ndim - 1];
  // Multi-index of `begin`, and each operand's offset there.
  std::array<int64_t, kMaxLoopDims> index{};
  std::array<int64_t, N> offsets{};
  int64_t rest = begin;
  for (int64_t d = ndim - 1; d >= 0; --d) {
    index[d] = rest % layout.shape[d];
    rest /= layout.shape[d];
    for (size_t k = 0; k < N; ++k) offsets[k] += index[d] * layout.strides[k][d];
  }
  int64_t i = begin;
  while (i < end) {
    const int64_t count = std::min(inner - index[ndim - 1], end - i);
    body(i, offsets, count, inner_strides);
    i += count;
    for (size_t k = 0; k < N; ++k) offsets[k] += count * inner_strides[k];
    index[ndim - 1] += count;
    // Carry into the outer dims.
    for (int64_t d = ndim - 1; d > 0 && index[d] == layout.shape[d]; --d) {
      for (size_t k = 0; k < N; ++k)
        offsets[k] += layout.strides[k][d - 1] - layout.shape[d] * layout.strides[k][d];
      index[d] = 0;
      ++index[d - 1];
    }
  }
}

// for_each_run over all of layout, split into fixed chunks across the pool.
template <size_t N, typename Body>
void parallel_for_each_run(const StridedLayout<N>& layout, Body&& body) {
  const int64_t numel = layout.shape.numel();
  parallel_for(0, numel, kElementwiseGrain, [&](int64_t chunk_begin, int64_t chunk_end) {
    for_each_run(layout, chunk_begin, chunk_end, body);
  });
}

}  // namespace ag::kernels

// reduce.cpp: sum, max, min, argmax and argmin over any set of dims, and sum_to (the backward of
// broadcasting). The input is viewed as (outer, inner) with the reduced dims last; each output
// element is one sequential pass over its inner elements, so the result has a fixed summation
// order whatever the thread count. When the reduced dims lead a contiguous tensor (the bias
// gradient: sum over (B*T) rows of a (B*T, C) tensor) the pass runs down columns instead, so
// nothing is transposed; a tall, narrow one is summed in runs of rows whose partial sums are
// added in run order, an order fixed by the shape alone (sum_columns).
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "tensor/kernels.h"
#include "tensor/thread_pool.h"

namespace ag::kernels {

Shape reduced_shape(const Shape& shape, std::vector<int64_t>& dims, bool keepdim,
                    std::string_view op_name) {
  const int64_t ndim = static_cast<int64_t>(shape.size());
  if (dims.empty()) {
    dims.resize(static_cast<size_t>(ndim));
    std::iota(dims.begin(), dims.end(), 0);
  }
  for (int64_t& d : dims) d = normalize_dim(d, ndim, op_name);
  std::sort(dims.begin(), dims.end());
  if (std::adjacent_find(dims.begin(), dims.end()) != dims.end())
    throw Error(op_name, "dim ", *std::adjacent_find(dims.begin(), dims.end()),
                " appears more than once in the dims to reduce");
  if (ndim == 0) dims.clear();  // reducing a 0-d tensor over dim 0 is the identity
  Shape out;
  for (int64_t d = 0; d < ndim; ++d) {
    const bool reduced = std::binary_search(dims.begin(), dims.end(), d);
    if (!reduced) out.push_back(shape[d]);
    else if (keepdim) out.push_back(1);
  }
  return out;
}

namespace {

template <typename T>
using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

// Reduces each row of a contiguous (outer, inner) block. TOut is T, or int64 for arg-reductions.
template <typename T, typename TOut>
void reduce_rows(Reduce op, const T* x, TOut* out, int64_t outer, int64_t inner) {
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(inner, 1));
  parallel_for(0, outer, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* x_row = x + r * inner;
      if (op == Reduce::Sum) {
        Acc<T> acc = 0;
        for (int64_t i = 0; i < inner; ++i) acc += x_row[i];
        out[r] = static_cast<TOut>(acc);
        continue;
      }
      // Max/min and their args: the first extreme wins ties; a NaN wins over any number.
      const bool want_max = op == Reduce::Max || op == Reduce::ArgMax;
      int64_t best = 0;
      for (int64_t i = 1; i < inner; ++i) {
        const T v = x_row[i], b = x_row[best];
        if constexpr (std::is_floating_point_v<T>) {
          if (std::isnan(b)) break;
          if (std::isnan(v)) { best = i; break; }
        }
        if (want_max ? (v > b) : (v < b)) best = i;
      }
      if (op == Reduce::ArgMax || op == Reduce::ArgMin) out[r] = static_cast<TOut>(best);
      else out[r] = static_cast<TOut>(x_row[best]);
    }
  });
}

// Adds rows [r0, r1) of a contiguous (rows, cols) block into sums[c - c0], c in [c0, c1).
// Blocks of kRows rows, kTile columns at a time: a tile's sums stay in registers for a block's
// rows and go to the array in between, and a block is read front to back, which the hardware
// prefetcher follows. Summing into the array row by row instead loads and stores every partial
// sum once per element: measured 5.6% of a GPT `small` training step, where the bias gradients
// come through here. Each column's sum is one sequential chain in row order.
template <typename T>
void add_rows_into(Acc<T>* sums, const T* x, int64_t r0, int64_t r1, int64_t c0, int64_t c1,
                   int64_t cols) {
  constexpr int64_t kTile = 16, kRows = 32;
  for (int64_t b0 = r0; b0 < r1; b0 += kRows) {
    const int64_t b1 = std::min(r1, b0 + kRows);
    int64_t c = c0;
    for (; c + kTile <= c1; c += kTile) {
      Acc<T> acc[kTile];
#pragma GCC unroll 16
      for (int64_t j = 0; j < kTile; ++j) acc[j] = sums[c - c0 + j];
      for (int64_t r = b0; r < b1; ++r) {
        const T* x_row = x + r * cols + c;
#pragma GCC unroll 16
        for (int64_t j = 0; j < kTile; ++j) acc[j] += x_row[j];
      }
#pragma GCC unroll 16
      for (int64_t j = 0; j < kTile; ++j) sums[c - c0 + j] = acc[j];
    }
    for (; c < c1; ++c)  // the last few columns, one at a time
      for (int64_t r = b0; r < b1; ++r) sums[c - c0] += x[r * cols + c];
  }
}

// Sums down the columns of a contiguous (rows, cols) block: out[c] = sum_r x[r, c].
// Wide blocks split into chunks of kChunk columns, each summed over all rows in one chain. A
// narrow, tall block (a bias gradient: cols = C <= 1024, rows = B * T) would be one or two
// chunks, one thread's work, so its rows are cut into runs as well: each run's column sums go
// to a partial, and the partials are added in run order. The runs depend on rows alone (at
// least kRunRows rows, at most kMaxRuns runs), never on the thread count, so neither do the
// bits. Measured on GPT tiny at 2 threads: the seven bias gradients of a step went from one
// thread's 0.37 Mcycles to both threads.
template <typename T>
void sum_columns(const T* x, T* out, int64_t rows, int64_t cols) {
  constexpr int64_t kChunk = 256, kRunRows = 256, kMaxRuns = 64, kSplitCols = 4 * kChunk;
  const int64_t col_chunks = (cols + kChunk - 1) / kChunk;
  const int64_t run_rows = std::max(kRunRows, (rows + kMaxRuns - 1) / kMaxRuns);
  const int64_t runs = cols <= kSplitCols ? (rows + run_rows - 1) / run_rows : 1;
  if (runs <= 1) {
    parallel_for(0, cols, kChunk, [&](int64_t c0, int64_t c1) {
      Acc<T> sums[kChunk] = {};
      add_rows_into(sums, x, 0, rows, c0, c1, cols);
      for (int64_t c = c0; c < c1; ++c) out[c] = static_cast<T>(sums[c - c0]);
    });
    return;
  }
  // partial: (runs, cols), one row of column sums per run of rows
  std::vector<Acc<T>> partial(static_cast<size_t>(runs * cols), Acc<T>{});
  parallel_for(0, runs * col_chunks, 1, [&](int64_t item_begin, int64_t item_end) {
    for (int64_t item = item_begin; item < item_end; ++item) {
      const int64_t run = item / col_chunks, c0 = (item % col_chunks) * kChunk;
      add_rows_into(partial.data() + run * cols + c0, x, run * run_rows,
                    std::min(rows, (run + 1) * run_rows), c0, std::min(cols, c0 + kChunk), cols);
    }
  });
  for (int64_t c = 0; c < cols; ++c) {
    Acc<T> sum = partial[static_cast<size_t>(c)];
    for (int64_t run = 1; run < runs; ++run) sum += partial[static_cast<size_t>(run * cols + c)];
    out[c] = static_cast<T>(sum);
  }
}

}  // namespace

Tensor reduce(Reduce op, const Tensor& x_in, const std::vector<int64_t>& dims_in, bool keepdim,
              std::string_view op_name) {
  if (!x_in.defined()) throw Error(op_name, "the input is an undefined tensor");
  const Tensor x = (op == Reduce::Sum && x_in.dtype() == kBool) ? cast(x_in, kInt64) : x_in;
  std::vector<int64_t> dims = dims_in;
  const Shape out_shape = reduced_shape(x.shape(), dims, keepdim, op_name);
  const int64_t ndim = x.dim();

  // Kept dims first, reduced dims last.
  Shape perm_shape;
  Strides perm_strides;
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < ndim; ++d)
    if (!std::binary_search(dims.begin(), dims.end(), d)) {
      perm_shape.push_back(x.shape()[d]);
      perm_strides.push_back(x.strides()[d]);
      outer *= x.shape()[d];
    }
  for (int64_t d : dims) {
    perm_shape.push_back(x.shape()[d]);
    perm_strides.push_back(x.strides()[d]);
    inner *= x.shape()[d];
  }
  const bool arg = op == Reduce::ArgMax || op == Reduce::ArgMin;
  if (inner == 0 && op != Reduce::Sum)
    throw Error(op_name, "cannot take a max/min over an empty dim: input shape ", x.shape());

  Tensor out = empty(out_shape, arg ? kInt64 : x.dtype());
  if (out.numel() == 0) return out;

  // Reduced dims leading a contiguous tensor: sum down columns, no copy.
  bool leading = x.is_contiguous() && op == Reduce::Sum;
  for (size_t i = 0; i < dims.size() && leading; ++i) leading = dims[i] == static_cast<int64_t>(i);

  dispatch_all(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    if constexpr (std::is_same_v<T, bool>) {
      throw Error(op_name, "max/min of a bool tensor is not supported");
    } else {
      if (leading) {
        sum_columns(x.data_ptr<T>(), out.data_ptr<T>(), inner, outer);
        return;
      }
      Tensor rows = as_strided(x, perm_shape, perm_strides, x.storage_offset());
      rows = contiguous(rows);  // (outer, inner)
      if (arg) reduce_rows<T, int64_t>(op, rows.data_ptr<T>(), out.data_ptr<int64_t>(), outer, inner);
      else reduce_rows<T, T>(op, rows.data_ptr<T>(), out.data_ptr<T>(), outer, inner);
    }
  });
  return out;
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  const int64_t lead = x.dim() - static_cast<int64_t>(shape.size());
  if (lead < 0) throw Error("sum_to", "cannot sum shape ", x.shape(), " down to ", shape);
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (d < lead) {
      dims.push_back(d);
    } else if (shape[d - lead] == 1 && x.shape()[d] != 1) {
      dims.push_back(d);
    } else if (shape[d - lead] != x.shape()[d]) {
      throw Error("sum_to", "cannot sum shape ", x.shape(), " down to ", shape);
    }
  }
  Tensor summed = reduce(Reduce::Sum, x, dims, /*keepdim=*/true, "sum_to");  // rank of x
  // Drop the leading dims that were summed away.
  return as_strided(summed, shape, contiguous_strides(shape), summed.storage_offset());
}

}  // namespace ag::kernels

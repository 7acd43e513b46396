// softmax.cpp: softmax, log_softmax and logsumexp along one dim.
// Each row is shifted by its maximum first: exp() then only sees values <= 0, so logits of 1e4
// cannot overflow, and the shift cancels out of the result exactly. A row whose maximum is
// -inf (every entry masked) would compute -inf - (-inf) = NaN; it is defined instead: softmax
// gives zeros, log_softmax and logsumexp give -inf.
#include <cmath>
#include <limits>

#include "tensor/kernels.h"
#include "tensor/thread_pool.h"

namespace ag::kernels {

namespace {

enum class Kind { Softmax, LogSoftmax, LogSumExp };

// Moves `dim` last and returns a contiguous (rows, n) copy, or x itself when already so.
Tensor rows_view(const Tensor& x, int64_t dim, Shape& perm_shape, Strides& perm_strides) {
  perm_shape.clear();
  perm_strides.clear();
  for (int64_t d = 0; d < x.dim(); ++d)
    if (d != dim) { perm_shape.push_back(x.size(d)); perm_strides.push_back(x.stride(d)); }
  perm_shape.push_back(x.dim() ? x.size(dim) : 1);
  perm_strides.push_back(x.dim() ? x.stride(dim) : 1);
  return contiguous(as_strided(x, perm_shape, perm_strides, x.storage_offset()));
}

template <typename T>
void row_kernel(Kind kind, const T* x, T* out, int64_t rows, int64_t n) {
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(n, 1));
  parallel_for(0, rows, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* x_row = x + r * n;
      T max = -std::numeric_limits<T>::infinity();
      for (int64_t i = 0; i < n; ++i) max = x_row[i] > max ? x_row[i] : max;
      if (std::isnan(max)) max = std::numeric_limits<T>::quiet_NaN();
      for (int64_t i = 0; i < n && !std::isnan(max); ++i)
        if (std::isnan(x_row[i])) max = x_row[i];  // NaN in, NaN out: never hidden
      const bool all_masked = max == -std::numeric_limits<T>::infinity();
      if (kind == Kind::LogSumExp) {
        if (all_masked) { out[r] = max; continue; }
        double sum = 0.0;
        for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(x_row[i] - max));
        out[r] = static_cast<T>(static_cast<double>(max) + std::log(sum));
        continue;
      }
      T* out_row = out + r * n;
      if (all_masked) {
        const T fill = kind == Kind::Softmax ? T(0) : -std::numeric_limits<T>::infinity();
        for (int64_t i = 0; i < n; ++i) out_row[i] = fill;
        continue;
      }
      double sum = 0.0;
      for (int64_t i = 0; i < n; ++i) {
        const T e = std::exp(x_row[i] - max);
        if (kind == Kind::Softmax) out_row[i] = e;
        sum += e;
      }
      if (kind == Kind::Softmax) {
        const T inv = static_cast<T>(1.0 / sum);
        for (int64_t i = 0; i < n; ++i) out_row[i] *= inv;
      } else {
        const T log_sum = static_cast<T>(std::log(sum));
        for (int64_t i = 0; i < n; ++i) out_row[i] = x_row[i] - max - log_sum;
      }
    }
  });
}

Tensor softmax_like(Kind kind, const Tensor& x, int64_t dim_in, bool keepdim, std::string_view op) {
  if (!x.defined()) throw Error(op, "the input is undefined");
  const int64_t dim = normalize_dim(dim_in, x.dim(), op);
  Shape perm_shape;
  Strides perm_strides;
  const Tensor rows = rows_view(x, dim, perm_shape, perm_strides);
  const int64_t n = perm_shape.back();
  const int64_t num_rows = n == 0 ? 0 : rows.numel() / n;
  if (kind == Kind::LogSumExp) {
    std::vector<int64_t> dims{dim};
    Tensor out = empty(reduced_shape(x.shape(), dims, keepdim, op), x.dtype());
    if (n == 0) return out.fill_(-INFINITY);
    dispatch_floating(x.dtype(), op, [&](auto zero) {
      using T = decltype(zero);
      row_kernel<T>(kind, rows.data_ptr<T>(), out.data_ptr<T>(), num_rows, n);
    });
    return out;
  }
  Tensor out = empty(perm_shape, x.dtype());
  dispatch_floating(x.dtype(), op, [&](auto zero) {
    using T = decltype(zero);
    row_kernel<T>(kind, rows.data_ptr<T>(), out.data_ptr<T>(), num_rows, n);
  });
  if (x.dim() <= 1 || dim == x.dim() - 1) return as_strided(out, x.shape(), contiguous_strides(x.shape()), 0);
  // Put `dim` back where it was: a strided view of the (..., n) result.
  const Strides out_strides = contiguous_strides(perm_shape);
  Strides strides(static_cast<size_t>(x.dim()));
  for (int64_t d = 0, k = 0; d < x.dim(); ++d)
    strides[d] = d == dim ? out_strides.back() : out_strides[k++];
  return contiguous(as_strided(out, x.shape(), strides, 0));
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) {
  return softmax_like(Kind::Softmax, x, dim, false, "softmax");
}
Tensor log_softmax(const Tensor& x, int64_t dim) {
  return softmax_like(Kind::LogSoftmax, x, dim, false, "log_softmax");
}
Tensor logsumexp(const Tensor& x, int64_t dim, bool keepdim) {
  return softmax_like(Kind::LogSumExp, x, dim, keepdim, "logsumexp");
}

}  // namespace ag::kernels

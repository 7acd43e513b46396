// index.cpp: cat, index_select / index_add_ and gather / scatter_add_: the kernels that move
// whole rows or single elements by index. Every index is checked against the size it indexes
// before anything is written, so a bad token id is an Error naming the id, never a stray read.
#include <algorithm>

#include "tensor/kernels.h"
#include "tensor/thread_pool.h"

namespace ag::kernels {

namespace {

void check_index_tensor(const Tensor& index, std::string_view op) {
  if (!index.defined()) throw Error(op, "the index tensor is undefined");
  if (index.dtype() != kInt64)
    throw Error(op, "indices must be an int64 tensor, got ", index.dtype());
}

void check_indices_in_range(const Tensor& index, int64_t size, std::string_view op) {
  const Tensor c = contiguous(index);
  const int64_t* idx = c.data_ptr<int64_t>();
  const int64_t n = c.numel();
  for (int64_t i = 0; i < n; ++i)
    if (idx[i] < 0 || idx[i] >= size)
      throw Error(op, "index ", idx[i], " is out of range for a dim of size ", size);
}

}  // namespace

Tensor cat(const TensorList& tensors, int64_t dim_in, std::string_view op_name) {
  if (tensors.empty()) throw Error(op_name, "needs at least one tensor");
  const Tensor& first = tensors[0];
  const int64_t dim = normalize_dim(dim_in, first.dim(), op_name);
  if (first.dim() == 0) throw Error(op_name, "cannot concatenate 0-d tensors; use stack");
  Shape out_shape = first.shape();
  out_shape[dim] = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    if (!t.defined()) throw Error(op_name, "tensor ", i, " is undefined");
    if (t.dtype() != first.dtype())
      throw Error(op_name, "dtype mismatch: tensor 0 is ", first.dtype(), ", tensor ", i, " is ", t.dtype());
    if (t.dim() != first.dim())
      throw Error(op_name, "tensor 0 has shape ", first.shape(), " but tensor ", i, " has shape ",
                  t.shape(), " (ranks differ)");
    for (int64_t d = 0; d < t.dim(); ++d)
      if (d != dim && t.size(d) != first.size(d))
        throw Error(op_name, "shapes differ outside dim ", dim, ": tensor 0 is ", first.shape(),
                    ", tensor ", i, " is ", t.shape());
    out_shape[dim] += t.size(dim);
  }
  Tensor out = empty(out_shape, first.dtype());
  int64_t start = 0;
  for (const Tensor& t : tensors) {
    Strides strides = out.strides();
    const Tensor part = as_strided(out, t.shape(), strides, start * out.stride(dim));
    copy_into(part, t);
    start += t.size(dim);
  }
  return out;
}

Tensor index_select(const Tensor& x, int64_t dim_in, const Tensor& index) {
  check_index_tensor(index, "index_select");
  if (index.dim() > 1)
    throw Error("index_select", "the index must be 1-d, got shape ", index.shape());
  const int64_t dim = normalize_dim(dim_in, x.dim(), "index_select");
  const int64_t size = x.dim() ? x.size(dim) : 1;
  // A 0-d result has room for one element: selecting it twice has no shape to go into.
  if (x.dim() == 0 && index.numel() != 1)
    throw Error("index_select", "a 0-d input has one element to select, so the index must hold "
                "exactly one, got ", index.numel(), " (index shape ", index.shape(), ")");
  check_indices_in_range(index, size, "index_select");
  Shape out_shape = x.shape();
  if (x.dim()) out_shape[dim] = index.numel();
  // View x as (outer, size, inner) and out as (outer, n, inner); copy rows.
  const Tensor xc = contiguous(x);
  const Tensor idx = contiguous(index);
  Tensor out = empty(out_shape, x.dtype());
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= x.size(d);
  for (int64_t d = dim + 1; d < x.dim(); ++d) inner *= x.size(d);
  const int64_t n = index.numel();
  dispatch_all(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* src = xc.data_ptr<T>();
    T* dst = out.data_ptr<T>();
    const int64_t* id = idx.data_ptr<int64_t>();
    const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(inner, 1));
    parallel_for(0, outer * n, grain, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t o = r / n, j = r % n;
        const T* src_row = src + (o * size + id[j]) * inner;
        T* dst_row = dst + r * inner;
        for (int64_t i = 0; i < inner; ++i) dst_row[i] = src_row[i];
      }
    });
  });
  return out;
}

void index_add_(const Tensor& out, int64_t dim_in, const Tensor& index, const Tensor& src) {
  check_index_tensor(index, "index_add_");
  if (!out.is_contiguous()) throw Error("index_add_", "the destination must be contiguous");
  const int64_t dim = normalize_dim(dim_in, out.dim(), "index_add_");
  const int64_t size = out.dim() ? out.size(dim) : 1;
  if (src.numel() != index.numel() * out.numel() / std::max<int64_t>(size, 1))
    throw Error("index_add_", "src of shape ", src.shape(), " does not hold one row per index (",
                index.numel(), " indices) of a destination of shape ", out.shape());
  check_indices_in_range(index, size, "index_add_");
  const Tensor sc = contiguous(src);
  const Tensor idx = contiguous(index);
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= out.size(d);
  for (int64_t d = dim + 1; d < out.dim(); ++d) inner *= out.size(d);
  const int64_t n = index.numel();
  dispatch_floating(out.dtype(), "index_add_", [&](auto zero) {
    using T = decltype(zero);
    const T* s = sc.data_ptr<T>();
    T* d = out.data_ptr<T>();
    const int64_t* id = idx.data_ptr<int64_t>();
    // Two source rows may hit the same destination row, so rows are not split across threads;
    // columns are, which keeps each destination element's sum in index order.
    parallel_for(0, inner, 1024, [&](int64_t c0, int64_t c1) {
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t j = 0; j < n; ++j) {
          const T* s_row = s + (o * n + j) * inner;
          T* d_row = d + (o * size + id[j]) * inner;
          for (int64_t c = c0; c < c1; ++c) d_row[c] += s_row[c];
        }
    });
  });
}

namespace {
// Walks every element of `index` (contiguous) with its multi-index, giving the flat offset of
// the matching element in a contiguous tensor of `shape` where dim takes the index value.
template <typename F>
void for_each_indexed(const Tensor& index, const Shape& shape, int64_t dim, F f) {
  const Tensor idx = contiguous(index);
  const int64_t* id = idx.data_ptr<int64_t>();
  const Strides target = contiguous_strides(shape);
  const Shape& ishape = index.shape();
  std::vector<int64_t> pos(ishape.size(), 0);
  const int64_t n = idx.numel();
  for (int64_t i = 0; i < n; ++i) {
    int64_t off = 0;
    for (size_t d = 0; d < ishape.size(); ++d)
      off += (static_cast<int64_t>(d) == dim ? id[i] : pos[d]) * target[d];
    f(i, off);
    for (int64_t d = static_cast<int64_t>(ishape.size()) - 1; d >= 0; --d) {
      if (++pos[d] < ishape[d]) break;
      pos[d] = 0;
    }
  }
}

void check_gather_shapes(const Tensor& x, int64_t dim, const Tensor& index, std::string_view op) {
  if (index.dim() != x.dim())
    throw Error(op, "index must have the input's rank: input ", x.shape(), ", index ", index.shape());
  for (int64_t d = 0; d < x.dim(); ++d)
    if (d != dim && index.size(d) > x.size(d))
      throw Error(op, "index shape ", index.shape(), " exceeds input shape ", x.shape(), " at dim ", d);
  check_indices_in_range(index, x.dim() ? x.size(dim) : 1, op);
}
}  // namespace

Tensor gather(const Tensor& x, int64_t dim_in, const Tensor& index) {
  check_index_tensor(index, "gather");
  const int64_t dim = normalize_dim(dim_in, x.dim(), "gather");
  check_gather_shapes(x, dim, index, "gather");
  const Tensor xc = contiguous(x);
  Tensor out = empty(index.shape(), x.dtype());
  dispatch_all(x.dtype(), [&](auto zero) {
    using T = decltype(zero);
    const T* s = xc.data_ptr<T>();
    T* o = out.data_ptr<T>();
    for_each_indexed(index, x.shape(), dim, [&](int64_t i, int64_t off) { o[i] = s[off]; });
  });
  return out;
}

void scatter_add_(const Tensor& out, int64_t dim_in, const Tensor& index, const Tensor& src) {
  check_index_tensor(index, "scatter_add_");
  if (!out.is_contiguous()) throw Error("scatter_add_", "the destination must be contiguous");
  const int64_t dim = normalize_dim(dim_in, out.dim(), "scatter_add_");
  check_gather_shapes(out, dim, index, "scatter_add_");
  if (src.shape() != index.shape())
    throw Error("scatter_add_", "src shape ", src.shape(), " must equal index shape ", index.shape());
  const Tensor sc = contiguous(src);
  dispatch_floating(out.dtype(), "scatter_add_", [&](auto zero) {
    using T = decltype(zero);
    const T* s = sc.data_ptr<T>();
    T* o = out.data_ptr<T>();
    for_each_indexed(index, out.shape(), dim, [&](int64_t i, int64_t off) { o[off] += s[i]; });
  });
}

}  // namespace ag::kernels

// index.cpp: cat, stack, index_select, gather and embedding, with backwards.
//   cat:           dx_i = the slice of dy that x_i filled
//   index_select:  dx = zeros, then dy's rows added at their indices (index_add)
//   gather:        dx = zeros, then dy scattered back and added (scatter_add)
// Repeated indices (a token that appears twice) add up, as the chain rule says they must.
#include "autograd/node.h"
#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace ag {

using autograd::Grads;
using autograd::record;

Tensor cat(const TensorList& tensors, int64_t dim_in) {
  Tensor y = kernels::cat(tensors, dim_in, "cat");
  const int64_t dim = normalize_dim(dim_in, tensors[0].dim(), "cat");
  std::vector<int64_t> sizes;
  for (const Tensor& t : tensors) sizes.push_back(t.size(dim));
  return record("cat", y, tensors, [sizes, dim](const Tensor& dy) {
    Grads grads;
    int64_t start = 0;
    for (int64_t size : sizes) {
      grads.push_back(dy.narrow(dim, start, size));
      start += size;
    }
    return grads;
  });
}

Tensor stack(const TensorList& tensors, int64_t dim) {
  if (tensors.empty()) throw Error("stack", "needs at least one tensor");
  for (size_t i = 1; i < tensors.size(); ++i)
    if (tensors[i].shape() != tensors[0].shape())
      throw Error("stack", "all tensors must have one shape: tensor 0 is ", tensors[0].shape(),
                  ", tensor ", i, " is ", tensors[i].shape());
  const int64_t d = normalize_dim(dim, tensors[0].dim() + 1, "stack");
  TensorList parts;
  for (const Tensor& t : tensors) parts.push_back(t.unsqueeze(d));
  return cat(parts, d);
}

namespace {
// The backward of index_select as an op of its own, so it has a backward too.
// dy: x's shape with n along dim   returns: `shape`
Tensor index_add_into_zeros(const Tensor& dy, const Shape& shape, int64_t dim, const Tensor& index) {
  Tensor out = zeros(shape, dy.dtype());
  kernels::index_add_(out, dim, index, dy);
  return record("index_add", out, {dy}, [dim, index](const Tensor& dg) {
    return Grads{index_select(dg, dim, index)};
  });
}

Tensor scatter_add_into_zeros(const Tensor& dy, const Shape& shape, int64_t dim, const Tensor& index) {
  Tensor out = zeros(shape, dy.dtype());
  kernels::scatter_add_(out, dim, index, dy);
  return record("scatter_add", out, {dy}, [dim, index](const Tensor& dg) {
    return Grads{gather(dg, dim, index)};
  });
}
}  // namespace

Tensor index_select(const Tensor& x, int64_t dim_in, const Tensor& index) {
  if (!x.defined()) throw Error("index_select", "the input is undefined");
  const int64_t dim = normalize_dim(dim_in, x.dim(), "index_select");
  Tensor y = kernels::index_select(x, dim, index);
  return record("index_select", y, {x}, [from = x.shape(), dim, index](const Tensor& dy) {
    return Grads{index_add_into_zeros(dy, from, dim, index)};
  });
}

Tensor gather(const Tensor& x, int64_t dim_in, const Tensor& index) {
  if (!x.defined()) throw Error("gather", "the input is undefined");
  const int64_t dim = normalize_dim(dim_in, x.dim(), "gather");
  Tensor y = kernels::gather(x, dim, index);
  return record("gather", y, {x}, [from = x.shape(), dim, index](const Tensor& dy) {
    return Grads{scatter_add_into_zeros(dy, from, dim, index)};
  });
}

// Row ids[...] of the table.   weight: (V, C)   ids: int64 any shape   returns: (*ids, C)
Tensor embedding(const Tensor& weight, const Tensor& ids) {
  if (!weight.defined() || weight.dim() != 2)
    throw Error("embedding", "the weight must be a 2-d (num_embeddings, dim) tensor, got shape ",
                weight.defined() ? weight.shape() : Shape{});
  if (!ids.defined() || ids.dtype() != kInt64)
    throw Error("embedding", "ids must be an int64 tensor, got ", ids.defined() ? dtype_name(ids.dtype()) : "undefined");
  const Tensor flat = kernels::contiguous(ids);
  const int64_t* p = flat.data_ptr<int64_t>();
  const int64_t vocab = weight.size(0);
  const int64_t n = flat.numel();
  for (int64_t i = 0; i < n; ++i)
    if (p[i] < 0 || p[i] >= vocab)
      throw Error("embedding", "token id ", p[i], " is outside the vocabulary of size ", vocab,
                  " (valid ids are 0..", vocab - 1, ")");
  Shape out_shape = ids.shape();
  out_shape.push_back(weight.size(1));
  const Tensor flat_ids = kernels::as_strided(flat, {flat.numel()}, {1}, flat.storage_offset());
  return index_select(weight, 0, flat_ids).view(out_shape);
}

}  // namespace ag

// view.cpp: the ops that change how elements are addressed, not their values: view/reshape,
// permute/transpose, unsqueeze/squeeze, expand, narrow/slice/select, contiguous, clone, to.
// Views share storage with their input (kernels::as_strided), so they cost no copy; their
// backward puts the gradient back into the input's layout:
//   reshape   -> reshape back          permute -> the inverse permutation
//   expand    -> sum over the copies   slice   -> scatter into zeros of the input's shape
#include <algorithm>
#include <numeric>

#include "autograd/node.h"
#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace ag {

using autograd::Grads;
using autograd::record;

namespace {

void require(const Tensor& x, std::string_view op) {
  if (!x.defined()) throw Error(op, "the input is undefined");
}

// Replaces a single -1 by the size that makes numel match; checks the sizes multiply out.
Shape infer_shape(const Shape& requested, int64_t numel, const Shape& from, std::string_view op) {
  Shape shape = requested;
  int64_t known = 1, infer_at = -1;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == -1) {
      if (infer_at >= 0) throw Error(op, "only one dim can be -1, got ", requested);
      infer_at = static_cast<int64_t>(d);
    } else if (shape[d] < 0) {
      throw Error(op, "invalid size ", shape[d], " in shape ", requested);
    } else {
      known *= shape[d];
    }
  }
  if (infer_at >= 0) {
    if (known == 0 || numel % known != 0)
      throw Error(op, "shape ", requested, " is invalid for an input of shape ", from, " (",
                  numel, " elements)");
    shape[infer_at] = numel / known;
  } else if (known != numel) {
    throw Error(op, "shape ", requested, " is invalid for an input of shape ", from, " (", numel,
                " elements, the new shape has ", known, ")");
  }
  return shape;
}

// Strides that view (old_shape, old_strides) as new_shape without copying, if any exist.
// Old dims are taken in chunks that are contiguous among themselves; each chunk must be
// covered exactly by a run of new dims, which then inherit the chunk's innermost stride.
std::optional<Strides> view_strides(const Shape& old_shape, const Strides& old_strides,
                                    const Shape& new_shape) {
  Strides new_strides(new_shape.size(), 0);
  if (old_shape.numel() == 0 || old_shape.empty()) return contiguous_strides(new_shape);
  int64_t view_d = static_cast<int64_t>(new_shape.size()) - 1;
  int64_t chunk_stride = old_strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(old_shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= old_shape[d];
    const bool chunk_ends =
        d == 0 || (old_shape[d - 1] != 1 && old_strides[d - 1] != tensor_numel * chunk_stride);
    if (!chunk_ends) continue;
    while (view_d >= 0 && (view_numel < tensor_numel || new_shape[view_d] == 1)) {
      new_strides[view_d] = view_numel * chunk_stride;
      view_numel *= new_shape[view_d];
      --view_d;
    }
    if (view_numel != tensor_numel) return std::nullopt;
    if (d > 0) {
      chunk_stride = old_strides[d - 1];
      tensor_numel = 1;
      view_numel = 1;
    }
  }
  if (view_d != -1) return std::nullopt;
  return new_strides;
}

Tensor alias(const Tensor& x, const Shape& shape, const Strides& strides, int64_t offset) {
  return kernels::as_strided(x, shape, strides, offset);
}

// The inverse of slicing: a tensor of `shape`, zero except dy placed at the slice.
// dy: the slice's shape   returns: shape
Tensor slice_scatter(const Tensor& dy, const Shape& shape, int64_t dim, int64_t start,
                     int64_t step) {
  Tensor out = zeros(shape, dy.dtype());
  Strides strides = out.strides();
  const int64_t offset = start * strides[dim];
  strides[dim] *= step;
  kernels::copy_into(alias(out, dy.shape(), strides, offset), dy);
  return record("slice_scatter", out, {dy}, [dim, start, step, n = dy.size(dim)](const Tensor& dg) {
    // d/d(dy) of "place dy into zeros" is "read the same slice back".
    return Grads{dg.slice(dim, start, start + (n - 1) * step + 1, step)};
  });
}

}  // namespace

Tensor view(const Tensor& x, const Shape& shape_in) {
  require(x, "view");
  const Shape shape = infer_shape(shape_in, x.numel(), x.shape(), "view");
  const auto strides = x.is_contiguous() ? std::optional<Strides>(contiguous_strides(shape))
                                         : view_strides(x.shape(), x.strides(), shape);
  if (!strides)
    throw Error("view", "shape ", shape, " is not compatible with the input's layout (shape ",
                x.shape(), ", strides ", x.strides(), "); use reshape(), which copies when it must");
  Tensor y = alias(x, shape, *strides, x.storage_offset());
  return record("view", y, {x}, [from = x.shape()](const Tensor& dy) {
    return Grads{dy.reshape(from)};
  });
}

Tensor reshape(const Tensor& x, const Shape& shape_in) {
  require(x, "reshape");
  const Shape shape = infer_shape(shape_in, x.numel(), x.shape(), "reshape");
  if (x.is_contiguous() || view_strides(x.shape(), x.strides(), shape)) return view(x, shape);
  return view(contiguous(x), shape);
}

Tensor permute(const Tensor& x, const std::vector<int64_t>& dims_in) {
  require(x, "permute");
  if (static_cast<int64_t>(dims_in.size()) != x.dim())
    throw Error("permute", "got ", dims_in.size(), " dims for a tensor of shape ", x.shape());
  std::vector<int64_t> dims(dims_in.size());
  std::vector<bool> used(dims.size(), false);
  Shape shape;
  Strides strides;
  for (size_t i = 0; i < dims.size(); ++i) {
    dims[i] = normalize_dim(dims_in[i], x.dim(), "permute");
    if (used[dims[i]]) throw Error("permute", "dim ", dims[i], " appears twice");
    used[dims[i]] = true;
    shape.push_back(x.size(dims[i]));
    strides.push_back(x.stride(dims[i]));
  }
  Tensor y = alias(x, shape, strides, x.storage_offset());
  return record("permute", y, {x}, [dims](const Tensor& dy) {
    std::vector<int64_t> inverse(dims.size());
    for (size_t i = 0; i < dims.size(); ++i) inverse[dims[i]] = static_cast<int64_t>(i);
    return Grads{permute(dy, inverse)};
  });
}

Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1) {
  require(x, "transpose");
  if (x.dim() == 0) return x;
  std::vector<int64_t> dims(x.dim());
  std::iota(dims.begin(), dims.end(), 0);
  std::swap(dims[normalize_dim(dim0, x.dim(), "transpose")],
            dims[normalize_dim(dim1, x.dim(), "transpose")]);
  return permute(x, dims);
}

Tensor unsqueeze(const Tensor& x, int64_t dim_in) {
  require(x, "unsqueeze");
  const int64_t dim = normalize_dim(dim_in, x.dim() + 1, "unsqueeze");
  Shape shape = x.shape();
  Strides strides = x.strides();
  const int64_t stride = dim < x.dim() ? x.stride(dim) * x.size(dim) : 1;
  shape.insert(shape.begin() + dim, 1);
  strides.insert(strides.begin() + dim, stride);
  Tensor y = alias(x, shape, strides, x.storage_offset());
  return record("unsqueeze", y, {x}, [from = x.shape()](const Tensor& dy) {
    return Grads{dy.reshape(from)};
  });
}

Tensor squeeze(const Tensor& x, std::optional<int64_t> dim) {
  require(x, "squeeze");
  Shape shape;
  Strides strides;
  const int64_t only = dim ? normalize_dim(*dim, x.dim(), "squeeze") : -1;
  for (int64_t d = 0; d < x.dim(); ++d) {
    const bool drop = x.size(d) == 1 && (only < 0 || d == only);
    if (!drop) { shape.push_back(x.size(d)); strides.push_back(x.stride(d)); }
  }
  Tensor y = alias(x, shape, strides, x.storage_offset());
  return record("squeeze", y, {x}, [from = x.shape()](const Tensor& dy) {
    return Grads{dy.reshape(from)};
  });
}

Tensor expand(const Tensor& x, const Shape& shape_in) {
  require(x, "expand");
  if (shape_in.size() < x.shape().size())
    throw Error("expand", "the target shape ", shape_in, " has fewer dims than the input ", x.shape());
  const size_t lead = shape_in.size() - x.shape().size();
  Shape shape = shape_in;
  Strides strides(shape.size(), 0);
  for (size_t d = 0; d < shape.size(); ++d) {
    if (d < lead) {
      if (shape[d] < 0)
        throw Error("expand", "a new leading dim needs a size (not ", shape[d], "): ", shape_in,
                    " for an input of shape ", x.shape());
      continue;
    }
    const int64_t have = x.shape()[d - lead];
    if (shape[d] == -1) shape[d] = have;
    if (shape[d] < 0) throw Error("expand", "invalid size ", shape[d], " in shape ", shape_in);
    if (have == shape[d]) strides[d] = x.strides()[d - lead];
    else if (have != 1)
      throw Error("expand", "cannot expand shape ", x.shape(), " to ", shape_in, ": dim ", d,
                  " has size ", have, ", and only size-1 dims can grow");
  }
  Tensor y = alias(x, shape, strides, x.storage_offset());
  return record("expand", y, {x}, [from = x.shape()](const Tensor& dy) {
    return Grads{sum_to(dy, from)};
  });
}

Tensor slice(const Tensor& x, int64_t dim_in, int64_t start, int64_t end, int64_t step) {
  require(x, "slice");
  if (x.dim() == 0) throw Error("slice", "cannot slice a 0-d tensor");
  const int64_t dim = normalize_dim(dim_in, x.dim(), "slice");
  if (step <= 0) throw Error("slice", "step must be positive, got ", step);
  // Python's rules: negative positions count from the end, and out-of-range ones are clamped.
  const int64_t size = x.size(dim);
  if (start < 0) start += size;
  if (end < 0) end += size;
  start = std::clamp<int64_t>(start, 0, size);
  end = std::clamp<int64_t>(end, start, size);
  Shape shape = x.shape();
  Strides strides = x.strides();
  shape[dim] = (end - start + step - 1) / step;
  strides[dim] *= step;
  Tensor y = alias(x, shape, strides, x.storage_offset() + start * x.stride(dim));
  return record("slice", y, {x}, [from = x.shape(), dim, start, step](const Tensor& dy) {
    return Grads{slice_scatter(dy, from, dim, start, step)};
  });
}

Tensor narrow(const Tensor& x, int64_t dim_in, int64_t start, int64_t length) {
  require(x, "narrow");
  if (x.dim() == 0) throw Error("narrow", "cannot narrow a 0-d tensor");
  const int64_t dim = normalize_dim(dim_in, x.dim(), "narrow");
  const int64_t size = x.size(dim);
  if (start < 0) start += size;
  if (start < 0 || length < 0 || start + length > size)
    throw Error("narrow", "start ", start, " and length ", length, " exceed dim ", dim,
                " of size ", size, " (shape ", x.shape(), ")");
  return slice(x, dim, start, start + length);
}

Tensor select(const Tensor& x, int64_t dim_in, int64_t index) {
  require(x, "select");
  if (x.dim() == 0) throw Error("select", "cannot select from a 0-d tensor");
  const int64_t dim = normalize_dim(dim_in, x.dim(), "select");
  const int64_t size = x.size(dim);
  if (index < -size || index >= size)
    throw Error("select", "index ", index, " is out of range for dim ", dim, " of size ", size,
                " (shape ", x.shape(), ")");
  if (index < 0) index += size;
  return squeeze(narrow(x, dim, index, 1), dim);
}

// y = x laid out row-major.   dx = dy
Tensor contiguous(const Tensor& x) {
  require(x, "contiguous");
  if (x.is_contiguous()) return x;
  return clone(x);
}

// y = a copy of x.   dx = dy
Tensor clone(const Tensor& x) {
  require(x, "clone");
  Tensor y = kernels::copy(x);
  return record("clone", y, {x}, [](const Tensor& dy) { return Grads{dy}; });
}

// y = x converted to dtype.   dx = dy converted back (only between floating dtypes)
Tensor to_dtype(const Tensor& x, DType dtype) {
  require(x, "to");
  if (x.dtype() == dtype) return x;
  Tensor y = kernels::cast(x, dtype);
  if (!is_floating(x.dtype()) || !is_floating(dtype)) return y;
  return record("to", y, {x}, [from = x.dtype()](const Tensor& dy) {
    return Grads{to_dtype(dy, from)};
  });
}

}  // namespace ag

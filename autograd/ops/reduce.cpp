// reduce.cpp: sum, mean, var, amax/amin, argmax/argmin, logsumexp and sum_to, with backwards.
// A reduction's backward spreads dy back over the elements that were reduced; with keepdim=false
// the reduced dims are first put back as size 1 (restore_dims), then broadcasting does the
// spreading:
//   sum:       dx = dy                         (each element counted once)
//   mean:      dx = dy / n
//   var:       dx = dy * 2 (x - mean) / (n - correction)
//   amax:      dx = dy * [x == max] / (number of maxima)
//   logsumexp: dx = dy * softmax(x)
#include "autograd/node.h"
#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace ag {

using autograd::Grads;
using autograd::record;

namespace {

// Puts reduced dims back as size 1, so a reduced result broadcasts against the input.
// g: reduced shape   returns: x's rank with 1 at each reduced dim
Tensor restore_dims(const Tensor& g, const Shape& input_shape, const std::vector<int64_t>& dims,
                    bool keepdim) {
  if (keepdim) return g;
  Shape shape = input_shape;
  for (int64_t d : dims) shape[d] = 1;
  return g.reshape(shape);
}

// Validated, sorted dims (all dims when empty) and how many elements each output reduces.
std::vector<int64_t> checked_dims(const Tensor& x, const std::vector<int64_t>& dims_in,
                                  std::string_view op, int64_t* count = nullptr) {
  if (!x.defined()) throw Error(op, "the input is undefined");
  std::vector<int64_t> dims = dims_in;
  kernels::reduced_shape(x.shape(), dims, false, op);
  if (count) {
    *count = 1;
    for (int64_t d : dims) *count *= x.size(d);
  }
  return dims;
}

}  // namespace

// y = sum of x over dims.   dx = dy broadcast back over the summed dims
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  const std::vector<int64_t> dims = checked_dims(x, dims_in, "sum");
  Tensor y = kernels::reduce(kernels::Reduce::Sum, x, dims, keepdim, "sum");
  return record("sum", y, {x}, [from = x.shape(), dims, keepdim](const Tensor& dy) {
    return Grads{restore_dims(dy, from, dims, keepdim).expand(from)};
  });
}

// y = sum / n.   dx = dy / n
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  int64_t n = 1;
  const std::vector<int64_t> dims = checked_dims(x, dims_in, "mean", &n);
  if (!x.is_floating_point()) throw Error("mean", "needs a floating tensor, got ", x.dtype());
  return sum(x, dims, keepdim) * (1.0 / static_cast<double>(n));
}

// y = sum (x - mean)^2 / (n - 1 if unbiased else n). Built from differentiable ops, so its
// backward (2 (x - mean) / (n - c)) and second derivative come from theirs.
Tensor var(const Tensor& x, const std::vector<int64_t>& dims_in, bool unbiased, bool keepdim) {
  int64_t n = 1;
  const std::vector<int64_t> dims = checked_dims(x, dims_in, "var", &n);
  const double divisor = static_cast<double>(n - (unbiased ? 1 : 0));
  if (divisor <= 0)
    throw Error("var", "needs more than ", unbiased ? 1 : 0, " elements per reduction, got ", n,
                " (input shape ", x.shape(), ")");
  const Tensor centered = x - mean(x, dims, /*keepdim=*/true);
  return sum(centered * centered, dims, keepdim) * (1.0 / divisor);
}

namespace {
// y = max (or min) over dims.   dx = dy * [x == y] / count(x == y): tied extremes share dy.
Tensor extreme(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim, bool is_max) {
  const char* name = is_max ? "amax" : "amin";
  const std::vector<int64_t> dims = checked_dims(x, dims_in, name);
  Tensor y = kernels::reduce(is_max ? kernels::Reduce::Max : kernels::Reduce::Min, x, dims,
                             keepdim, name);
  return record(name, y, {x}, [x, dims, keepdim](const Tensor& dy, const Tensor& y) {
    const Tensor hit = eq(x, restore_dims(y, x.shape(), dims, keepdim)).to(x.dtype());
    const Tensor count = sum(hit, dims, /*keepdim=*/true);
    return Grads{hit * restore_dims(dy, x.shape(), dims, keepdim) / count};
  }, {x});
}
}  // namespace

Tensor amax(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return extreme(x, dims, keepdim, true);
}
Tensor amin(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return extreme(x, dims, keepdim, false);
}

Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) {
  return kernels::reduce(kernels::Reduce::ArgMax, x, {dim}, keepdim, "argmax");
}
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim) {
  return kernels::reduce(kernels::Reduce::ArgMin, x, {dim}, keepdim, "argmin");
}

// y = log sum exp(x) along dim.   dx = dy * exp(x - y) = dy * softmax(x)
Tensor logsumexp(const Tensor& x, int64_t dim_in, bool keepdim) {
  if (!x.defined()) throw Error("logsumexp", "the input is undefined");
  const int64_t dim = normalize_dim(dim_in, x.dim(), "logsumexp");
  Tensor y = kernels::logsumexp(x, dim, keepdim);
  return record("logsumexp", y, {x}, [x, dim, keepdim](const Tensor& dy) {
    const std::vector<int64_t> dims{x.dim() ? dim : 0};
    return Grads{restore_dims(dy, x.shape(), x.dim() ? dims : std::vector<int64_t>{}, keepdim) *
                 softmax(x, dim)};
  }, {x});
}

// y = x summed down to shape.   dx = dy broadcast back up
Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  Tensor y = kernels::sum_to(x, shape);
  return record("sum_to", y, {x}, [from = x.shape()](const Tensor& dy) {
    return Grads{dy.expand(from)};
  });
}

}  // namespace ag

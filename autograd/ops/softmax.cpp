// softmax.cpp: softmax and log_softmax along one dim, each with its backward.
// The forward kernels shift each row by its maximum (tensor/softmax.cpp): exp() then stays <= 1,
// so logits of 1e4 cannot overflow, and a row that is all -inf (every key masked) gives zeros
// instead of NaN. The backwards need only the output y:
//   softmax:      dx = y * (dy - sum(dy * y))      (the Jacobian is diag(y) - y y^T)
//   log_softmax:  dx = dy - exp(y) * sum(dy)       (exp(y) is the softmax)
#include "autograd/node.h"
#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace ag {

using autograd::Grads;
using autograd::record;

Tensor softmax(const Tensor& x, int64_t dim_in) {
  if (!x.defined()) throw Error("softmax", "the input is undefined");
  const int64_t dim = normalize_dim(dim_in, x.dim(), "softmax");
  Tensor y = kernels::softmax(x, dim);
  return record("softmax", y, {x}, [dim](const Tensor& dy, const Tensor& y) {
    const int64_t d = y.dim() ? dim : 0;
    const Tensor dot = y.dim() ? sum(dy * y, {d}, /*keepdim=*/true) : dy * y;
    return Grads{y * (dy - dot)};
  });
}

Tensor log_softmax(const Tensor& x, int64_t dim_in) {
  if (!x.defined()) throw Error("log_softmax", "the input is undefined");
  const int64_t dim = normalize_dim(dim_in, x.dim(), "log_softmax");
  Tensor y = kernels::log_softmax(x, dim);
  return record("log_softmax", y, {x}, [dim](const Tensor& dy, const Tensor& y) {
    const Tensor total = y.dim() ? sum(dy, {dim}, /*keepdim=*/true) : dy;
    return Grads{dy - exp(y) * total};
  });
}

}  // namespace ag

// matmul.cpp: batched matrix multiply and its backward.
//   y = a b               a: (..., M, K)   b: (..., K, N)   y: (..., M, N)
//   da = dy b^T           (..., M, N) (..., N, K) -> (..., M, K), summed over broadcast batches
//   db = a^T dy           (..., K, M) (..., M, N) -> (..., K, N)
// The transposes are views; gemm reads them in place (tensor/matmul.cpp).
#include "autograd/node.h"
#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace ag {

using autograd::Grads;
using autograd::record;

Tensor matmul(const Tensor& a, const Tensor& b) {
  Tensor y = kernels::matmul(a, b, "matmul");
  return record("matmul", y, {a, b}, [a, b](const Tensor& dy) {
    // Vectors were treated as (1, K) and (K, 1) matrices; do the same here.
    const Tensor a2 = a.dim() == 1 ? a.unsqueeze(0) : a;
    const Tensor b2 = b.dim() == 1 ? b.unsqueeze(-1) : b;
    // dy: (..., M, N) without the dropped dims. Put N back first: for vector . vector, dy is
    // 0-d, and only after unsqueeze(-1) gives it a dim can unsqueeze(-2) address one.
    Tensor dy2 = dy;
    if (b.dim() == 1) dy2 = dy2.unsqueeze(-1);  // (..., M, 1)
    if (a.dim() == 1) dy2 = dy2.unsqueeze(-2);  // (..., 1, N)
    Tensor da, db;
    if (a.requires_grad()) da = sum_to(matmul(dy2, b2.transpose(-2, -1)), a2.shape()).reshape(a.shape());
    if (b.requires_grad()) db = sum_to(matmul(a2.transpose(-2, -1), dy2), b2.shape()).reshape(b.shape());
    return Grads{da, db};
  }, {a, b});
}

}  // namespace ag

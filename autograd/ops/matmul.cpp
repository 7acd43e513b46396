// matmul.cpp: batched matrix multiply and its backward.
//   y = a b               a: (..., M, K)   b: (..., K, N)   y: (..., M, N)
//   da = dy b^T           (..., M, N) (..., N, K) -> (..., M, K), summed over broadcast batches
//   db = a^T dy           (..., K, M) (..., M, N) -> (..., K, N)
// The transposes are views; gemm reads them in place (tensor/matmul.cpp).
//
// A batch of inputs times one shared 2-d b (every Linear layer: x (B, T, in) @ W^T) gets its
// db as one GEMM over all the rows, a_flat^T (K, B*M) @ dy_flat (B*M, N), rather than B
// per-batch products of (K, N) summed afterwards: the same sum, but without a (B, K, N)
// temporary and a pass over it. Measured on the GPT `small` step, the per-batch form spent
// about 4% of the step summing those temporaries.
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
    if (b.requires_grad()) {
      const bool shared_b = b2.dim() == 2 && a2.dim() > 2 && a2.shape() == [&] {
        Shape s = dy2.shape();  // dy's batch dims and M, then a's K: a was not broadcast
        s.back() = a2.size(-1);
        return s;
      }();
      if (shared_b) {
        const int64_t K = a2.size(-1), N = dy2.size(-1);
        db = matmul(a2.reshape({-1, K}).transpose(0, 1), dy2.reshape({-1, N})).reshape(b.shape());
      } else {
        db = sum_to(matmul(a2.transpose(-2, -1), dy2), b2.shape()).reshape(b.shape());
      }
    }
    return Grads{da, db};
  }, {a, b});
}

}  // namespace ag

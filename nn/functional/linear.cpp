// linear.cpp: F::linear (y = x W^T + b) and F::embedding (a table lookup), the two ways a
// transformer turns numbers and token ids into features.
// Both are compositions of autograd ops (matmul, add, index_select), so their backwards come for
// free and are twice differentiable:
//   linear:     dx = dy W,   dW = dy^T x (summed over every leading dim),   db = sum of dy
//   embedding:  dW[id] += dy for every position holding id (a repeated token adds up)
// W is stored (out, in), as PyTorch stores it, so a checkpoint opens in either framework.
#include "nn/functional.h"

namespace ag::nn::functional {

// x: (..., in)   weight: (out, in)   bias: (out)   returns: (..., out)
Tensor linear(const Tensor& x, const Tensor& weight, const std::optional<Tensor>& bias) {
  if (!x.defined() || !weight.defined()) throw Error("linear", "x or weight is undefined");
  if (!x.is_floating_point() || x.dtype() != weight.dtype())
    throw Error("linear", "x and weight must share one floating dtype: x is ", x.dtype(),
                ", weight is ", weight.dtype());
  if (weight.dim() != 2)
    throw Error("linear", "weight must be 2-d (out_features, in_features), got shape ",
                weight.shape());
  if (x.dim() < 1 || x.size(-1) != weight.size(1))
    throw Error("linear", "x's last dim must equal in_features: x is ", x.shape(),
                ", weight (out_features, in_features) is ", weight.shape());
  if (bias) {
    if (!bias->defined() || bias->dtype() != x.dtype())
      throw Error("linear", "bias must be a defined tensor of dtype ", x.dtype());
    if (bias->dim() != 1 || bias->size(0) != weight.size(0))
      throw Error("linear", "bias must have shape (", weight.size(0), ") to match weight ",
                  weight.shape(), ", got ", bias->shape());
  }
  Tensor y = matmul(x, weight.t());  // (..., in) @ (in, out) -> (..., out)
  if (bias) y = y + *bias;           // (out) broadcasts over the leading dims
  return y;
}

// ids: int64, any shape   weight: (V, C)   returns: (*ids.shape, C)
Tensor embedding(const Tensor& ids, const Tensor& weight) {
  if (weight.defined() && !weight.is_floating_point())
    throw Error("embedding", "the weight must be floating (float32 or float64), got ",
                weight.dtype());
  // ag::embedding checks the rest (a 2-d table, int64 ids, every id inside the vocabulary).
  return ag::embedding(weight, ids);
}

}  // namespace ag::nn::functional

// linear.cpp: F::linear (y = x W^T + b) and F::embedding (a table lookup), the two ways a
// transformer turns numbers and token ids into features.
//   linear:     dx = dy W,   dW = dy^T x (summed over every leading dim),   db = sum of dy
//   embedding:  dW[id] += dy for every position holding id (a repeated token adds up)
// W is stored (out, in), as PyTorch stores it, so a checkpoint opens in either framework.
//
// linear is one node (PyTorch's addmm): the forward fills y with the bias and lets one GEMM add
// x W^T to it, and the backward is two GEMMs that read W and dy where they are (dW comes out
// (out, in) directly, no transpose to copy) and a column sum. As matmul(x, W^T) + b it cost a
// second pass over y and a new tensor in the forward, and a transposed copy of dW in the
// backward. With create_graph the backward is the same three formulas in autograd ops, so
// linear stays twice differentiable. embedding is index_select, an autograd op.
#include "nn/functional.h"

#include "autograd/node.h"
#include "tensor/gemm.h"
#include "tensor/kernels.h"

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
  const int64_t out = weight.size(0), in = weight.size(1);
  const int64_t N = in == 0 ? 0 : x.numel() / in;  // rows of x, all leading dims flattened
  if (N == 0 || in == 0 || out == 0) {  // empty: the composition handles every edge
    Tensor y = matmul(x, weight.t());  // (..., in) @ (in, out) -> (..., out)
    return bias ? y + *bias : y;
  }
  const Tensor x_c = kernels::contiguous(x);    // (N, in) in memory
  const Tensor w_c = kernels::contiguous(weight);  // (out, in)
  Shape y_shape = x.shape();
  y_shape.back() = out;
  Tensor y = empty(y_shape, x.dtype());  // (..., out)
  // Every row starts as b (copy_into broadcasts it), then the GEMM adds x W^T.
  if (bias) kernels::copy_into(y, *bias);
  dispatch_floating(x.dtype(), "linear", [&](auto zero) {
    using T = decltype(zero);
    kernels::gemm<T>(false, true, N, out, in, x_c.data_ptr<T>(), in, w_c.data_ptr<T>(), in,
                     y.data_ptr<T>(), out, /*accumulate=*/bias.has_value());
  });

  TensorList inputs{x, weight};
  if (bias) inputs.push_back(*bias);
  const bool need_dx = x.requires_grad(), need_dw = weight.requires_grad();
  return autograd::record("linear", y, inputs, [x, weight, x_c, w_c, has_bias = bias.has_value(),
                                                 need_dx, need_dw, N, in, out](const Tensor& dy) {
    Tensor dx, dw;
    if (GradMode::is_enabled()) {  // create_graph: the same formulas, recorded
      const Tensor dy2 = dy.reshape({N, out});
      if (need_dx) dx = matmul(dy, weight);                          // (..., in)
      if (need_dw) dw = matmul(dy2.t(), x.reshape({N, in}));         // (out, in)
      if (!has_bias) return autograd::Grads{dx, dw};
      return autograd::Grads{dx, dw, sum_to(dy2, {out})};           // db: (out)
    }
    const Tensor dy_c = kernels::contiguous(dy);  // (N, out) in memory
    dispatch_floating(x_c.dtype(), "linear", [&](auto zero) {
      using T = decltype(zero);
      const T* dyp = dy_c.data_ptr<T>();
      if (need_dx) {  // dx (N, in) = dy (N, out) W (out, in)
        dx = empty(x_c.shape(), x_c.dtype());
        kernels::gemm<T>(false, false, N, in, out, dyp, out, w_c.data_ptr<T>(), in,
                         dx.data_ptr<T>(), in, false);
      }
      if (need_dw) {  // dW (out, in) = dy^T (out, N) x (N, in)
        dw = empty({out, in}, x_c.dtype());
        kernels::gemm<T>(true, false, out, in, N, dyp, out, x_c.data_ptr<T>(), in,
                         dw.data_ptr<T>(), in, false);
      }
    });
    if (!has_bias) return autograd::Grads{dx, dw};
    return autograd::Grads{dx, dw, kernels::sum_to(dy_c.view({N, out}), {out})};  // db: rows summed
  }, {x_c, w_c});
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

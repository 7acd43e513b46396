// activation.cpp: F::gelu, the Gaussian error linear unit of GPT-2 and BERT.
//   exact:  gelu(x) = x * Phi(x), Phi the standard normal CDF = (1 + erf(x / sqrt 2)) / 2
//   tanh:   gelu(x) ~ x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))   (GPT-2's form)
// The op and its backward (dx = dy * gelu'(x), itself differentiable, so gelu has a second
// derivative) live in autograd/ops/elementwise.cpp; this file is the nn entry point.
//
// F::bias_gelu(h, b) = gelu(h + b) as one op: the MLP's first Linear runs its GEMM without the
// bias, and the bias is added on the way into GELU (tensor/elementwise.cpp's fused kernel), so
// neither the forward nor the backward makes a pass over the (N, 4C) activations for the bias
// alone: the backward forms dh and sums db from it in the same pass. In float32 the forward
// also keeps Phi(h + b), so the backward needs no erf.
#include "nn/functional.h"

#include "autograd/node.h"
#include "tensor/kernels.h"

namespace ag::nn::functional {

// x: any shape   returns: same shape
Tensor gelu(const Tensor& x, const std::string& approximate) {
  if (!x.defined()) throw Error("gelu", "the input is undefined");
  if (!x.is_floating_point())
    throw Error("gelu", "expected a floating input (float32 or float64), got ", x.dtype(),
                " of shape ", x.shape());
  return ag::gelu(x, approximate);
}

// h: (..., C)   bias: (C)   returns: gelu(h + bias), h's shape
Tensor bias_gelu(const Tensor& h, const Tensor& bias, const std::string& approximate) {
  if (!h.defined() || !bias.defined()) throw Error("bias_gelu", "h or the bias is undefined");
  if (!h.is_floating_point() || h.dtype() != bias.dtype())
    throw Error("bias_gelu", "h and the bias must share one floating dtype: h is ", h.dtype(),
                ", bias is ", bias.dtype());
  if (h.dim() < 1 || bias.dim() != 1 || h.size(-1) != bias.size(0))
    throw Error("bias_gelu", "the bias must be (C) for h (..., C): h is ", h.shape(),
                ", bias is ", bias.shape());
  if (approximate != "none" && approximate != "tanh")
    throw Error("bias_gelu", "approximate must be \"none\" or \"tanh\", got \"", approximate,
                "\"");
  const bool tanh_form = approximate == "tanh";
  const Tensor h_c = kernels::contiguous(h), b_c = kernels::contiguous(bias);
  // Phi(h + b) is kept for the backward only when there will be one (float32, erf form).
  const bool backward_follows =
      GradMode::is_enabled() && (h.requires_grad() || bias.requires_grad());
  Tensor cdf;
  const Tensor y = kernels::bias_gelu(h_c, b_c, tanh_form, backward_follows ? &cdf : nullptr);
  auto backward = [h, bias, h_c, b_c, cdf, tanh_form](const Tensor& dy) {
    if (GradMode::is_enabled()) {  // create_graph: the same formulas, recorded
      const Tensor dt = dy * gelu_grad(h + bias, tanh_form);
      return autograd::Grads{dt, sum_to(dt, bias.shape())};
    }
    auto [dh, db] = kernels::bias_gelu_backward(kernels::contiguous(dy), h_c, b_c, tanh_form, cdf);
    return autograd::Grads{dh, db};
  };
  return autograd::record("bias_gelu", y, {h, bias}, backward, {h_c, b_c});
}

}  // namespace ag::nn::functional

// activation.cpp: F::gelu, the Gaussian error linear unit of GPT-2 and BERT.
//   exact:  gelu(x) = x * Phi(x), Phi the standard normal CDF = (1 + erf(x / sqrt 2)) / 2
//   tanh:   gelu(x) ~ x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))   (GPT-2's form)
// The op and its backward (dx = dy * gelu'(x), itself differentiable, so gelu has a second
// derivative) live in autograd/ops/elementwise.cpp; this file is the nn entry point.
#include "nn/functional.h"

namespace ag::nn::functional {

// x: any shape   returns: same shape
Tensor gelu(const Tensor& x, const std::string& approximate) {
  if (!x.defined()) throw Error("gelu", "the input is undefined");
  if (!x.is_floating_point())
    throw Error("gelu", "expected a floating input (float32 or float64), got ", x.dtype(),
                " of shape ", x.shape());
  return ag::gelu(x, approximate);
}

}  // namespace ag::nn::functional

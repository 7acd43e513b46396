// dropout.cpp: F::dropout, inverted dropout (Srivastava et al., 2014).
// While training, each element is kept with probability 1 - p and then divided by 1 - p, so the
// expected value of every output equals its input and nothing needs rescaling at eval time,
// when dropout is the identity. The mask is drawn once from the global generator
// (ag::manual_seed makes it reproducible) and becomes a constant factor of a mul, so the
// backward multiplies dy by the very same mask:   y = x * m,   dx = dy * m,
// m = keep / (1 - p), keep = [u >= p], u uniform in [0, 1) drawn in float64 (so the keep rule
// u >= p reads the same for float32 and float64 inputs, and matches attention's dropout, which
// drops where its keyed uniform is < p).
#include <cmath>

#include "nn/functional.h"
#include "tensor/kernels.h"

namespace ag::nn::functional {

// x: any shape   returns: same shape
Tensor dropout(const Tensor& x, double p, bool training) {
  if (!x.defined()) throw Error("dropout", "the input is undefined");
  if (!x.is_floating_point())
    throw Error("dropout", "expected a floating input (float32 or float64), got ", x.dtype(),
                " of shape ", x.shape());
  if (!(p >= 0.0 && p <= 1.0))  // also refuses NaN
    throw Error("dropout", "the probability p must be in [0, 1], got ", p);
  if (!training || p == 0.0) return x;
  // Everything dropped: the scale 1/(1-p) would be infinite, and 0 * inf is NaN. The output is
  // zero and so is every gradient, which x * 0 gives (still recorded, so backward reaches x).
  if (p == 1.0) return x * 0.0;
  const Tensor u = rand(x.shape(), kFloat64);                                    // x's shape
  const Tensor keep = kernels::cast(kernels::compare_scalar(kernels::Compare::Ge, u, p), x.dtype());
  const Tensor mask = kernels::affine(keep, 1.0 / (1.0 - p), 0.0);             // 0 or 1/(1-p)
  return x * mask;
}

}  // namespace ag::nn::functional

// layer_norm.h: nn::LayerNorm, normalisation over each token's features (Ba et al., 2016):
//   y = (x - mean) / sqrt(var + eps) * weight + bias,
// with mean and (biased) var taken over the trailing normalized_shape dims of each row. Unlike
// batch norm it needs no batch statistics, so training and inference compute the same thing.
// weight starts at ones and bias at zeros: the layer starts as a plain normalisation.
// bias = false drops the shift (nanoGPT's LayerNorm option; PyTorch 2.1 has it too).
#pragma once

#include <string>

#include "nn/module.h"

namespace ag::nn {

class LayerNorm : public Module {
 public:
  explicit LayerNorm(Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true,
                     bool bias = true);
  // The common case: normalise over the last dim, of size `dim`.
  explicit LayerNorm(int64_t dim, double eps = 1e-5, bool elementwise_affine = true,
                     bool bias = true)
      : LayerNorm(Shape{dim}, eps, elementwise_affine, bias) {}

  // x: (..., *normalized_shape)   returns: same shape as x
  Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }

  void reset_parameters();  // weight = 1, bias = 0

  std::string name() const override;  // "LayerNorm((8), eps=1e-05, elementwise_affine=true)"

  Tensor weight;  // normalized_shape, or undefined without elementwise_affine
  Tensor bias;    // normalized_shape, or undefined without elementwise_affine or bias
  Shape normalized_shape;
  double eps;
};

}  // namespace ag::nn

// linear.h: nn::Linear, the affine layer y = x W^T + b.
// The weight is stored (out_features, in_features), PyTorch's layout, so a checkpoint's matrix
// means the same thing in both frameworks; the transpose in x W^T is a free view.
// Init is PyTorch's default: kaiming_uniform(a = sqrt(5)), which works out to
// U(-1/sqrt(in), 1/sqrt(in)) for the weight, and the same bound for the bias.
#pragma once

#include <optional>
#include <string>

#include "nn/module.h"

namespace ag::nn {

class Linear : public Module {
 public:
  // A layer with fresh parameters, drawn from the global generator.
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  // A layer around an existing weight (out, in), registered as this layer's "weight": weight
  // tying, as GPT's lm_head shares the token embedding. Gradients from both uses accumulate in
  // the one tensor. No bias.
  explicit Linear(Tensor weight);

  // x: (..., in_features)   returns: (..., out_features)
  Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }

  // Draws the weight and bias again (PyTorch's default init, see above).
  void reset_parameters();

  std::string name() const override;  // "Linear(in_features=8, out_features=24, bias=true)"

  Tensor weight;  // (out_features, in_features)
  Tensor bias;    // (out_features), or undefined when bias = false
  int64_t in_features;
  int64_t out_features;
};

}  // namespace ag::nn

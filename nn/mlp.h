// mlp.h: nanoGPT's MLP, the position-wise feed-forward half of a transformer block:
//   y = dropout(c_proj(gelu(c_fc(x))))
// It widens each token to 4C, applies the nonlinearity, and narrows back: attention moves
// information between tokens, the MLP computes on each token alone.
// GELU is exact (x * Phi(x), with the erf) by default, as nanoGPT's nn.GELU(); "tanh" selects
// GPT-2's original approximation.
#pragma once

#include <memory>
#include <string>

#include "nn/dropout.h"
#include "nn/linear.h"
#include "nn/module.h"

namespace ag::nn {

class MLP : public Module {
 public:
  MLP(int64_t n_embd, double dropout = 0.0, bool bias = true, std::string approximate = "none");

  // x: (..., C)   returns: (..., C)
  Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }

  std::string name() const override;  // "MLP(n_embd=8, hidden=32, gelu=none)"

  std::shared_ptr<Linear> c_fc;      // C -> 4C
  std::shared_ptr<Linear> c_proj;    // 4C -> C
  std::shared_ptr<Dropout> dropout;  // on the output (the residual branch)
  std::string approximate;           // GELU: "none" (erf) or "tanh"
};

}  // namespace ag::nn

// dropout.h: nn::Dropout (Srivastava et al., 2014). While training, each element is zeroed
// with probability p and the survivors are scaled by 1/(1-p), so the expected value is
// unchanged and eval mode (the identity) needs no rescaling. train()/eval() on any ancestor
// module switches it; the mask is drawn from the global generator (ag::manual_seed).
#pragma once

#include <string>

#include "nn/module.h"

namespace ag::nn {

class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5);  // p in [0, 1], else Error

  // x: any shape   returns: same shape
  Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }

  std::string name() const override;  // "Dropout(p=0.1)"

  double p;
};

}  // namespace ag::nn

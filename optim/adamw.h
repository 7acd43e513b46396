// adamw.h: AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", 2019): Adam
// with the weight decay taken out of the gradient and applied to the weights directly,
//
//   p = p * (1 - lr * weight_decay)        then the Adam step of adam.h with g = grad
//
// Why it matters: in Adam, an L2 term in g is divided by sqrt(v) like the rest of the gradient,
// so weights with large gradients are barely decayed. Decoupled, every weight shrinks by the
// same factor per step, which is the regulariser people meant; it is what GPT training uses.
// Same options as Adam, but PyTorch's default weight_decay here is 1e-2.
//
//   ag::optim::AdamW opt(ag::optim::decay_groups(model.named_parameters(), 0.1),
//                        ag::optim::AdamWOptions(6e-4).betas({0.9, 0.95}));
#pragma once

#include "optim/adam.h"

namespace ag::optim {

// PyTorch's defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 1e-2.
class AdamWOptions : public detail::AdamFamilyOptions<AdamWOptions> {
 public:
  explicit AdamWOptions(double lr = 1e-3) : AdamFamilyOptions(lr, 1e-2) {}
};

class AdamW : public Optimizer {
 public:
  AdamW(const TensorList& params, const AdamWOptions& defaults = AdamWOptions());
  AdamW(std::vector<ParamGroup> groups, const AdamWOptions& defaults = AdamWOptions());

 protected:
  void update(const OptimizerOptions& options, const Tensor& param, const Tensor& grad,
              ParamState& state) override;
  StateKeys state_keys(const OptimizerOptions& options) const override;
};

}  // namespace ag::optim

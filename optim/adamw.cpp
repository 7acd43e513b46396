// adamw.cpp: AdamW's update: the fused loop of adam_kernel.cpp with decoupled weight decay
// (p *= 1 - lr * weight_decay before the Adam step, as torch.optim.AdamW does).
#include "optim/adamw.h"

#include "optim/adam_kernel.h"

namespace ag::optim {

AdamW::AdamW(const TensorList& params, const AdamWOptions& defaults)
    : AdamW(std::vector<ParamGroup>{ParamGroup{.params = params}}, defaults) {}

AdamW::AdamW(std::vector<ParamGroup> groups, const AdamWOptions& defaults)
    : Optimizer("AdamW", std::move(groups), defaults.clone()) {}

Optimizer::StateKeys AdamW::state_keys(const OptimizerOptions& options) const {
  if (static_cast<const AdamWOptions&>(options).amsgrad())
    return {.required = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}, .optional = {}};
  return {.required = {"exp_avg", "exp_avg_sq"}, .optional = {}};
}

void AdamW::update(const OptimizerOptions& options, const Tensor& param, const Tensor& grad,
                   ParamState& state) {
  const auto& o = static_cast<const AdamWOptions&>(options);
  const detail::AdamHyper hyper{o.lr(), std::get<0>(o.betas()), std::get<1>(o.betas()), o.eps(),
                                o.weight_decay(), o.amsgrad(), o.maximize(),
                                /*decoupled_weight_decay=*/true};
  defer(detail::adam_job(hyper, param, grad, state, name()));
}

}  // namespace ag::optim

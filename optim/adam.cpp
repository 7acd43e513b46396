// adam.cpp: Adam's options (shared with AdamW) and its update, which is the fused loop of
// adam_kernel.cpp with the weight decay folded into the gradient (an L2 penalty).
#include "optim/adam.h"

#include <cmath>

#include "optim/adam_kernel.h"
#include "optim/adamw.h"

namespace ag::optim {

// ---- options ------------------------------------------------------------------------------------

namespace detail {

template <typename Derived>
std::vector<std::pair<std::string, double>> AdamFamilyOptions<Derived>::hyperparameters() const {
  return {{"lr", lr_},
          {"beta1", std::get<0>(betas_)},
          {"beta2", std::get<1>(betas_)},
          {"eps", eps_},
          {"weight_decay", weight_decay_},
          {"amsgrad", amsgrad_ ? 1.0 : 0.0},
          {"maximize", maximize_ ? 1.0 : 0.0}};
}

template <typename Derived>
void AdamFamilyOptions<Derived>::set_hyperparameter(const std::string& name, double value,
                                                    std::string_view op) {
  if (name == "lr") lr_ = value;
  else if (name == "beta1") std::get<0>(betas_) = value;
  else if (name == "beta2") std::get<1>(betas_) = value;
  else if (name == "eps") eps_ = value;
  else if (name == "weight_decay") weight_decay_ = value;
  else if (name == "amsgrad") amsgrad_ = value != 0.0;
  else if (name == "maximize") maximize_ = value != 0.0;
  else throw Error(op, "Adam has no hyperparameter \"", name, "\"");
}

template <typename Derived>
void AdamFamilyOptions<Derived>::validate(std::string_view op) const {
  // Written as !(x >= 0) so that NaN fails too.
  if (!(lr_ >= 0.0)) throw Error(op, "invalid lr: ", lr_, " (must be >= 0)");
  // eps keeps the denominator away from 0 for weights whose gradients were always 0.
  if (!(eps_ > 0.0)) throw Error(op, "invalid eps: ", eps_, " (must be > 0)");
  // beta = 1 would freeze m or v at their zero start and divide by 1 - 1^step = 0.
  const auto [beta1, beta2] = betas_;
  if (!(beta1 >= 0.0 && beta1 < 1.0))
    throw Error(op, "invalid betas[0] (beta1): ", beta1, " (must be in [0, 1))");
  if (!(beta2 >= 0.0 && beta2 < 1.0))
    throw Error(op, "invalid betas[1] (beta2): ", beta2, " (must be in [0, 1))");
  if (!(weight_decay_ >= 0.0))
    throw Error(op, "invalid weight_decay: ", weight_decay_, " (must be >= 0)");
}

template class AdamFamilyOptions<AdamOptions>;
template class AdamFamilyOptions<AdamWOptions>;

}  // namespace detail

// ---- optimizer ----------------------------------------------------------------------------------

Adam::Adam(const TensorList& params, const AdamOptions& defaults)
    : Adam(std::vector<ParamGroup>{ParamGroup{.params = params}}, defaults) {}

Adam::Adam(std::vector<ParamGroup> groups, const AdamOptions& defaults)
    : Optimizer("Adam", std::move(groups), defaults.clone()) {}

Optimizer::StateKeys Adam::state_keys(const OptimizerOptions& options) const {
  if (static_cast<const AdamOptions&>(options).amsgrad())
    return {.required = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}, .optional = {}};
  return {.required = {"exp_avg", "exp_avg_sq"}, .optional = {}};
}

void Adam::update(const OptimizerOptions& options, const Tensor& param, const Tensor& grad,
                  ParamState& state) {
  const auto& o = static_cast<const AdamOptions&>(options);
  const detail::AdamHyper hyper{o.lr(), std::get<0>(o.betas()), std::get<1>(o.betas()), o.eps(),
                                o.weight_decay(), o.amsgrad(), o.maximize(),
                                /*decoupled_weight_decay=*/false};
  defer(detail::adam_job(hyper, param, grad, state, name()));
}

}  // namespace ag::optim

// adam.h: Adam (Kingma & Ba, 2015) with PyTorch's options: betas, eps, weight_decay as an L2
// penalty added to the gradient, AMSGrad, and bias correction. The math, per element:
//
//   g = grad + weight_decay * p
//   m = beta1 * m + (1 - beta1) * g                    running mean of g
//   v = beta2 * v + (1 - beta2) * g^2                  running mean of g^2
//   p = p - lr * (m / (1 - beta1^step)) / (sqrt(v / (1 - beta2^step)) + eps)
//
// m and v start at zero, so early on they are biased toward zero by factors 1 - beta^step; the
// divisions undo that. With amsgrad, v is replaced by its running maximum so the step size
// never grows back. The loop is fused (optim/adam_kernel.h). AdamW (adamw.h) differs only in
// how it decays weights.
//
// Where attograd differs from PyTorch: eps must be > 0 (PyTorch accepts 0, which gives 0/0 for
// a weight whose gradient has always been 0).
#pragma once

#include <tuple>

#include "optim/optimizer.h"

namespace ag::optim {

namespace detail {
// The options Adam and AdamW share; Derived makes the chained setters return the right type,
// so AdamWOptions(3e-4).betas({0.9, 0.95}).weight_decay(0.1) is still an AdamWOptions.
template <typename Derived>
class AdamFamilyOptions : public OptimizerOptions {
 public:
  Derived& lr(double lr) { lr_ = lr; return self(); }
  double lr() const { return lr_; }
  Derived& betas(const std::tuple<double, double>& betas) { betas_ = betas; return self(); }
  const std::tuple<double, double>& betas() const { return betas_; }
  Derived& eps(double eps) { eps_ = eps; return self(); }
  double eps() const { return eps_; }
  Derived& weight_decay(double weight_decay) { weight_decay_ = weight_decay; return self(); }
  double weight_decay() const { return weight_decay_; }
  Derived& amsgrad(bool amsgrad) { amsgrad_ = amsgrad; return self(); }
  bool amsgrad() const { return amsgrad_; }
  Derived& maximize(bool maximize) { maximize_ = maximize; return self(); }  // ascend instead
  bool maximize() const { return maximize_; }

  std::unique_ptr<OptimizerOptions> clone() const override {
    return std::make_unique<Derived>(static_cast<const Derived&>(*this));
  }
  // lr, beta1, beta2, eps, weight_decay, amsgrad, maximize
  std::vector<std::pair<std::string, double>> hyperparameters() const override;
  void set_hyperparameter(const std::string& name, double value, std::string_view op) override;
  // lr >= 0, betas in [0, 1), eps > 0, weight_decay >= 0.
  void validate(std::string_view op) const override;

 protected:
  AdamFamilyOptions(double lr, double weight_decay) : OptimizerOptions(lr, weight_decay) {}

 private:
  Derived& self() { return static_cast<Derived&>(*this); }
  std::tuple<double, double> betas_{0.9, 0.999};
  double eps_ = 1e-8;
  bool amsgrad_ = false;
  bool maximize_ = false;
};
}  // namespace detail

// PyTorch's defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0.
class AdamOptions : public detail::AdamFamilyOptions<AdamOptions> {
 public:
  explicit AdamOptions(double lr = 1e-3) : AdamFamilyOptions(lr, 0.0) {}
};

class Adam : public Optimizer {
 public:
  Adam(const TensorList& params, const AdamOptions& defaults = AdamOptions());
  Adam(std::vector<ParamGroup> groups, const AdamOptions& defaults = AdamOptions());

 protected:
  void update(const OptimizerOptions& options, const Tensor& param, const Tensor& grad,
              ParamState& state) override;
  StateKeys state_keys(const OptimizerOptions& options) const override;
};

}  // namespace ag::optim

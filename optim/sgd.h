// sgd.h: stochastic gradient descent with momentum, dampening, Nesterov momentum and weight
// decay, following torch.optim.SGD's formulas to the letter, per element:
//
//   g = grad + weight_decay * p                       (L2 penalty folded into the gradient)
//   buf = g                                           on the first step with momentum
//   buf = momentum * buf + (1 - dampening) * g        on later steps
//   g = g + momentum * buf  (nesterov)   or   g = buf
//   p = p - lr * g
//
// The first momentum buffer is the gradient itself, not (1 - dampening) times it: starting
// from a zero buffer would shrink the first steps, and PyTorch chose the undamped gradient.
// Which step is "first" is whether the buffer exists, so it survives a state-dict round trip.
#pragma once

#include "optim/optimizer.h"

namespace ag::optim {

class SGDOptions : public OptimizerOptions {
 public:
  explicit SGDOptions(double lr) : OptimizerOptions(lr, 0.0) {}

  SGDOptions& lr(double lr) { lr_ = lr; return *this; }
  double lr() const { return lr_; }
  SGDOptions& momentum(double momentum) { momentum_ = momentum; return *this; }
  double momentum() const { return momentum_; }
  SGDOptions& dampening(double dampening) { dampening_ = dampening; return *this; }
  double dampening() const { return dampening_; }
  SGDOptions& weight_decay(double weight_decay) { weight_decay_ = weight_decay; return *this; }
  double weight_decay() const { return weight_decay_; }
  SGDOptions& nesterov(bool nesterov) { nesterov_ = nesterov; return *this; }
  bool nesterov() const { return nesterov_; }
  SGDOptions& maximize(bool maximize) { maximize_ = maximize; return *this; }  // ascend instead
  bool maximize() const { return maximize_; }

  std::unique_ptr<OptimizerOptions> clone() const override {
    return std::make_unique<SGDOptions>(*this);
  }
  std::vector<std::pair<std::string, double>> hyperparameters() const override;
  void set_hyperparameter(const std::string& name, double value, std::string_view op) override;
  // lr, momentum, weight_decay >= 0; nesterov needs momentum > 0 and dampening == 0.
  void validate(std::string_view op) const override;

 private:
  double momentum_ = 0.0;
  double dampening_ = 0.0;
  bool nesterov_ = false;
  bool maximize_ = false;
};

class SGD : public Optimizer {
 public:
  SGD(const TensorList& params, const SGDOptions& defaults);
  SGD(std::vector<ParamGroup> groups, const SGDOptions& defaults);

 protected:
  void update(const OptimizerOptions& options, const Tensor& param, const Tensor& grad,
              ParamState& state) override;
  StateKeys state_keys(const OptimizerOptions& options) const override;
};

}  // namespace ag::optim

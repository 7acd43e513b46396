// optimizer.h: ag::optim::Optimizer, the base of SGD, Adam and AdamW: parameter groups with their
// own options, zero_grad, a step that runs under NoGradGuard, and a state dict complete enough
// that a run stopped, saved and resumed continues bit for bit.
//
// The pieces are libtorch's:
//   - one options class per optimizer with chained setters, read back by the same name:
//       auto options = AdamWOptions(3e-4).weight_decay(0.1).betas({0.9, 0.99});
//       options.lr();   // 3e-4
//   - parameter groups: each group is some parameters plus the options they use. A group asks
//     for changes from the optimizer's defaults (ParamGroup); the optimizer keeps the resolved,
//     complete options per group (OptimizerParamGroup), which schedules and users may edit.
//   - per-parameter state (momentum buffers, Adam's m and v, a step count), created on the
//     parameter's first update, which is what PyTorch's formulas expect (SGD's first momentum
//     buffer is the gradient itself, not a decayed zero).
//
// Where attograd differs from PyTorch:
//   - state_dict() is flat NamedTensors, so it saves as safetensors as it is: "state.<i>.<buffer>"
//     with i the parameter's index over all groups in order (PyTorch's numbering), the step as
//     a 0-d int64 "state.<i>.step", each group's hyperparameters as 0-d float64 tensors
//     ("param_groups.<g>.lr", booleans as 0/1) and its parameter indices ("param_groups.<g>.params").
//   - load_state_dict checks every key, shape and dtype before changing anything, so a bad dict
//     leaves the optimizer as it was.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "autograd/autograd.h"
#include "nn/module.h"

namespace ag::optim {

using nn::NamedTensors;

// ---- options ----------------------------------------------------------------------------------
// What every optimizer here has: a learning rate and a weight decay. The derived classes add
// their own hyperparameters and chained setters (SGDOptions, AdamOptions, AdamWOptions).
class OptimizerOptions {
 public:
  virtual ~OptimizerOptions() = default;
  virtual std::unique_ptr<OptimizerOptions> clone() const = 0;

  // Untyped access for code that works with any optimizer (schedules, decay_groups).
  double get_lr() const { return lr_; }
  void set_lr(double lr) { lr_ = lr; }
  double get_weight_decay() const { return weight_decay_; }
  void set_weight_decay(double weight_decay) { weight_decay_ = weight_decay; }

  // Every hyperparameter by name, booleans as 0/1: how a state dict saves and restores them.
  virtual std::vector<std::pair<std::string, double>> hyperparameters() const = 0;
  // Sets one of hyperparameters() by name; an unknown name is an Error naming op.
  virtual void set_hyperparameter(const std::string& name, double value, std::string_view op) = 0;
  // Throws Error(op, ...) naming the first invalid option and its value.
  virtual void validate(std::string_view op) const = 0;

 protected:
  OptimizerOptions(double lr, double weight_decay) : lr_(lr), weight_decay_(weight_decay) {}
  double lr_;
  double weight_decay_;
};

// ---- parameter groups -------------------------------------------------------------------------
// What a caller asks for: parameters and what they change of the optimizer's defaults.
//   std::vector<ParamGroup>{{.params = decay, .weight_decay = 0.1}, {.params = no_decay,
//                                                                    .weight_decay = 0.0}}
struct ParamGroup {
  TensorList params;
  std::optional<double> lr = std::nullopt;            // when set, replaces the default lr
  std::optional<double> weight_decay = std::nullopt;  // when set, replaces the default decay
  // When set: the group's complete options (of the optimizer's own options type), which the
  // two overrides above then adjust. Unset: the optimizer's defaults.
  std::shared_ptr<const OptimizerOptions> options = nullptr;
};

// What the optimizer keeps: the group's parameters and its complete options.
class OptimizerParamGroup {
 public:
  OptimizerParamGroup(TensorList params, std::unique_ptr<OptimizerOptions> options)
      : params_(std::move(params)), options_(std::move(options)) {}
  OptimizerParamGroup(const OptimizerParamGroup& other)
      : params_(other.params_), options_(other.options_->clone()) {}
  OptimizerParamGroup(OptimizerParamGroup&&) = default;
  OptimizerParamGroup& operator=(OptimizerParamGroup&&) = default;

  const TensorList& params() const { return params_; }
  OptimizerOptions& options() { return *options_; }
  const OptimizerOptions& options() const { return *options_; }
  void set_options(std::unique_ptr<OptimizerOptions> options) { options_ = std::move(options); }

 private:
  TensorList params_;
  std::unique_ptr<OptimizerOptions> options_;
};

// nanoGPT's split (configure_optimizers): parameters with dim >= 2 (matmul weights and
// embeddings) decay, the rest (biases, LayerNorm gains) do not. Returns two groups, decaying
// first, each possibly empty; parameters that do not require grad are left out.
// Note that nanoGPT's rule decays the embeddings too (wte, wpe are 2-d); to exclude them, pass
// a predicate: decay_groups(model.named_parameters(), 0.1,
//                           [](const std::string& name) { return name.find(".wte.") != npos; })
std::vector<ParamGroup> decay_groups(const NamedTensors& named_parameters, double weight_decay);
// As above; names for which exclude(name) is true never decay, whatever their dim.
std::vector<ParamGroup> decay_groups(const NamedTensors& named_parameters, double weight_decay,
                                     const std::function<bool(const std::string&)>& exclude);

// ---- per-parameter state -----------------------------------------------------------------------
struct ParamState {
  int64_t step = 0;                                     // updates this parameter has had
  std::vector<std::pair<std::string, Tensor>> buffers;  // PyTorch's names: "exp_avg", ...

  // The buffer called name, or an undefined Tensor.
  Tensor find(const std::string& name) const;
  // The buffer called name, created as zeros like `like` when absent.
  Tensor get_or_zeros(const std::string& name, const Tensor& like);
  bool empty() const { return step == 0 && buffers.empty(); }
};

// An update's element-by-element work, handed to step() instead of run at once: run(begin, end)
// updates elements [begin, end) of one parameter's n, and finish() (if any) runs after all of
// them (to copy a strided parameter back). step() runs the jobs of every parameter in one
// parallel_for over fixed chunks of elements: one pass over all parameters and one hand-over to
// the threads, where a parallel_for per parameter paid one each (a GPT has dozens of small
// parameters). The chunks never depend on the thread count, so neither do the bits.
struct ElementwiseJob {
  int64_t n = 0;
  std::function<void(int64_t begin, int64_t end)> run;
  std::function<void()> finish;
};

// ---- the optimizer -----------------------------------------------------------------------------
class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter that has a gradient (the others are skipped and keep their
  // state). Runs under NoGradGuard. closure, when given, is called first with grad mode on (to
  // recompute the loss and its gradients) and its loss is returned.
  Tensor step(const std::function<Tensor()>& closure = nullptr);

  // Drops every gradient (set_to_none, PyTorch's default), or zeroes it in place.
  void zero_grad(bool set_to_none = true);

  // Adds a group, resolved against the defaults as the constructor does.
  void add_param_group(const ParamGroup& group);
  std::vector<OptimizerParamGroup>& param_groups() { return param_groups_; }
  const std::vector<OptimizerParamGroup>& param_groups() const { return param_groups_; }
  const OptimizerOptions& defaults() const { return *defaults_; }
  TensorList parameters() const;  // every group's, in order

  // State of parameter i (counted over all groups in order).
  const ParamState& state(size_t i) const;

  NamedTensors state_dict() const;
  // Restores state and hyperparameters saved by state_dict(); the groups must hold as many
  // parameters of the same shapes. Everything is checked before anything changes.
  void load_state_dict(const NamedTensors& state);

  const std::string& name() const { return name_; }  // "AdamW": the op in its errors

 protected:
  Optimizer(std::string name, std::vector<ParamGroup> groups,
            std::unique_ptr<OptimizerOptions> defaults);

  // Updates one parameter in place from its gradient (same shape and dtype, any layout).
  // Called under NoGradGuard with the group's validated options.
  virtual void update(const OptimizerOptions& options, const Tensor& param, const Tensor& grad,
                      ParamState& state) = 0;

  // The buffers a parameter's state holds once it has been updated: required ones must be in a
  // loaded state that has a step; optional ones may be (SGD's momentum buffer exists only
  // after the first step with momentum).
  struct StateKeys {
    std::vector<std::string> required;
    std::vector<std::string> optional;
  };
  virtual StateKeys state_keys(const OptimizerOptions& options) const = 0;

  // An update whose work is element by element may hand it to step() (see ElementwiseJob).
  void defer(ElementwiseJob job) { deferred_.push_back(std::move(job)); }

 private:
  void run_deferred();
  std::vector<ElementwiseJob> deferred_;  // filled by update(), emptied at the end of step()

  std::string name_;
  std::unique_ptr<OptimizerOptions> defaults_;
  std::vector<OptimizerParamGroup> param_groups_;
  std::vector<ParamState> state_;  // one per parameter, in parameters() order
};

}  // namespace ag::optim

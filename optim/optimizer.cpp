// optimizer.cpp: what every optimizer shares: resolving parameter groups, the step loop that
// hands each parameter with a gradient to the optimizer's update, and the state dict.
// The state dict is flat (see optimizer.h) and is read in two passes: the first checks every
// key against the groups and builds the new state aside, the second swaps it in, so a dict
// that does not fit is an Error that leaves the optimizer untouched.
#include "optim/optimizer.h"

#include <algorithm>
#include <map>
#include <set>
#include <typeinfo>
#include <unordered_set>

#include "tensor/kernels.h"
#include "tensor/thread_pool.h"

namespace ag::optim {

// ---- parameter groups ----------------------------------------------------------------------------

std::vector<ParamGroup> decay_groups(const NamedTensors& named_parameters, double weight_decay) {
  return decay_groups(named_parameters, weight_decay, nullptr);
}

std::vector<ParamGroup> decay_groups(const NamedTensors& named_parameters, double weight_decay,
                                     const std::function<bool(const std::string&)>& exclude) {
  if (!(weight_decay >= 0.0))
    throw Error("decay_groups", "invalid weight_decay: ", weight_decay, " (must be >= 0)");
  ParamGroup decay{.params = {}, .lr = std::nullopt, .weight_decay = weight_decay, .options = {}};
  ParamGroup no_decay{.params = {}, .lr = std::nullopt, .weight_decay = 0.0, .options = {}};
  for (const auto& [name, param] : named_parameters) {
    if (!param.defined() || !param.requires_grad()) continue;
    // Weight decay pulls a matrix toward small singular values, a regulariser; on a bias or a
    // LayerNorm gain it only drags a scale or shift toward 0, which nothing asks for.
    const bool decays = param.dim() >= 2 && !(exclude && exclude(name));
    (decays ? decay : no_decay).params.push_back(param);
  }
  return {decay, no_decay};
}

// ---- per-parameter state -------------------------------------------------------------------------

Tensor ParamState::find(const std::string& name) const {
  for (const auto& [key, tensor] : buffers)
    if (key == name) return tensor;
  return Tensor();
}

Tensor ParamState::get_or_zeros(const std::string& name, const Tensor& like) {
  Tensor found = find(name);
  if (found.defined()) return found;
  buffers.emplace_back(name, zeros(like.shape(), like.dtype()));  // contiguous, as kernels expect
  return buffers.back().second;
}

// ---- construction ---------------------------------------------------------------------------------

Optimizer::Optimizer(std::string name, std::vector<ParamGroup> groups,
                     std::unique_ptr<OptimizerOptions> defaults)
    : name_(std::move(name)), defaults_(std::move(defaults)) {
  defaults_->validate(name_);
  for (const ParamGroup& group : groups) add_param_group(group);
  if (state_.empty())
    throw Error(name_, "got an empty parameter list (pass model.parameters() or groups that "
                       "hold at least one tensor)");
}

void Optimizer::add_param_group(const ParamGroup& group) {
  std::unique_ptr<OptimizerOptions> options;
  if (group.options) {
    if (typeid(*group.options) != typeid(*defaults_))
      throw Error(name_, "parameter group ", param_groups_.size(), " has options of another "
                  "optimizer; pass ", name_, "Options");
    options = group.options->clone();
  } else {
    options = defaults_->clone();
  }
  if (group.lr) options->set_lr(*group.lr);
  if (group.weight_decay) options->set_weight_decay(*group.weight_decay);
  options->validate(name_);

  std::unordered_set<const TensorImpl*> seen;
  for (const Tensor& p : parameters()) seen.insert(p.impl());
  for (size_t i = 0; i < group.params.size(); ++i) {
    const Tensor& p = group.params[i];
    if (!p.defined())
      throw Error(name_, "parameter ", i, " of group ", param_groups_.size(), " is undefined");
    if (!p.is_floating_point())
      throw Error(name_, "can only optimize float32 or float64 tensors, parameter ", i,
                  " of group ", param_groups_.size(), " is ", p.dtype());
    if (!p.is_leaf())
      throw Error(name_, "can't optimize a non-leaf tensor (parameter ", i, " of group ",
                  param_groups_.size(), " was computed by ", p.grad_fn_name(), ")");
    // The same tensor in two groups would be updated twice per step with two sets of options.
    if (!seen.insert(p.impl()).second)
      throw Error(name_, "parameter ", i, " of group ", param_groups_.size(),
                  " appears more than once among the parameter groups");
  }
  param_groups_.emplace_back(group.params, std::move(options));
  state_.resize(state_.size() + group.params.size());
}

TensorList Optimizer::parameters() const {
  TensorList out;
  for (const auto& group : param_groups_)
    out.insert(out.end(), group.params().begin(), group.params().end());
  return out;
}

const ParamState& Optimizer::state(size_t i) const {
  if (i >= state_.size())
    throw Error(name_, "no parameter ", i, " (this optimizer has ", state_.size(), ")");
  return state_[i];
}

// ---- stepping --------------------------------------------------------------------------------------

Tensor Optimizer::step(const std::function<Tensor()>& closure) {
  Tensor loss;
  if (closure) {
    AutoGradMode enable_grad(true);
    loss = closure();
  }
  NoGradGuard no_grad;
  // Options may have been edited since construction (a schedule sets lr); check all groups
  // before touching any parameter, so a bad value never leaves half the model stepped.
  for (const auto& group : param_groups_) group.options().validate(name_);
  size_t index = 0;
  try {
    for (auto& group : param_groups_) {
      for (const Tensor& param : group.params()) {
        ParamState& state = state_[index++];
        const Tensor grad = param.grad();
        if (!grad.defined()) continue;  // not reached by this backward: no update, no step
        if (grad.shape() != param.shape() || grad.dtype() != param.dtype())
          throw Error(name_, "parameter ", index - 1, " is ", param.dtype(), " ", param.shape(),
                      " but its grad is ", grad.dtype(), " ", grad.shape());
        // The step counts first: Adam's bias correction at the first update uses step = 1.
        ++state.step;
        update(group.options(), param, grad, state);
        // The update wrote through raw pointers; bump the version so a graph that saved this
        // parameter before the step refuses to backward through stale values.
        param.storage()->bump_version();
      }
    }
  } catch (...) {
    run_deferred();  // the parameters before the bad one are stepped, as without deferring
    throw;
  }
  run_deferred();
  return loss;
}

void Optimizer::run_deferred() {
  // Chunks of at most kChunk elements, within one parameter each: (job, first element).
  constexpr int64_t kChunk = 1 << 15;
  std::vector<std::pair<size_t, int64_t>> chunks;
  for (size_t j = 0; j < deferred_.size(); ++j)
    for (int64_t begin = 0; begin < deferred_[j].n; begin += kChunk) chunks.emplace_back(j, begin);
  std::vector<ElementwiseJob> jobs = std::move(deferred_);
  deferred_.clear();
  parallel_for(0, static_cast<int64_t>(chunks.size()), 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const auto [j, begin] = chunks[static_cast<size_t>(c)];
      jobs[j].run(begin, std::min(jobs[j].n, begin + kChunk));
    }
  });
  for (const ElementwiseJob& job : jobs)
    if (job.finish) job.finish();
}

void Optimizer::zero_grad(bool set_to_none) {
  for (const Tensor& param : parameters()) {
    if (set_to_none) {
      param.zero_grad();
      continue;
    }
    Tensor grad = param.grad();
    if (!grad.defined()) continue;
    NoGradGuard no_grad;
    // A gradient may be a broadcast view (the backward of sum() is an expanded 1); writing
    // zeros through it would write one element many times, so such a grad is replaced.
    if (grad.is_contiguous()) grad.zero_();
    else param.set_grad(zeros(param.shape(), param.dtype()));
  }
}

// ---- state dict ------------------------------------------------------------------------------------

NamedTensors Optimizer::state_dict() const {
  NamedTensors out;
  for (size_t i = 0; i < state_.size(); ++i) {
    const ParamState& state = state_[i];
    if (state.empty()) continue;  // never updated: nothing to save, as in PyTorch
    const std::string prefix = "state." + std::to_string(i) + ".";
    out.emplace_back(prefix + "step", from_vector<int64_t>({state.step}, Shape{}));
    for (const auto& [name, buffer] : state.buffers) out.emplace_back(prefix + name, buffer);
  }
  int64_t first = 0;
  for (size_t g = 0; g < param_groups_.size(); ++g) {
    const auto& group = param_groups_[g];
    const std::string prefix = "param_groups." + std::to_string(g) + ".";
    for (const auto& [name, value] : group.options().hyperparameters())
      out.emplace_back(prefix + name, scalar_tensor(value, kFloat64));  // a double, exactly
    const auto count = static_cast<int64_t>(group.params().size());
    out.emplace_back(prefix + "params", arange(static_cast<double>(first),
                                               static_cast<double>(first + count), 1.0, kInt64));
    first += count;
  }
  return out;
}

void Optimizer::load_state_dict(const NamedTensors& dict) {
  const std::string op = name_ + ".load_state_dict";
  std::map<std::string, Tensor> given;
  for (const auto& [key, tensor] : dict) {
    if (!tensor.defined()) throw Error(op, "\"", key, "\" is undefined");
    if (!given.emplace(key, tensor).second) throw Error(op, "the key \"", key, "\" appears twice");
  }
  std::set<std::string> used;
  auto take = [&](const std::string& key) -> const Tensor* {
    auto it = given.find(key);
    if (it == given.end()) return nullptr;
    used.insert(key);
    return &it->second;
  };
  auto scalar = [&](const std::string& key, const Tensor& t, DType dtype) {
    if (t.numel() != 1 || t.dtype() != dtype)
      throw Error(op, "\"", key, "\" must hold one ", dtype, " value, it is ", t.dtype(), " ",
                  t.shape());
  };

  // Pass 1: build the new options and state aside, checking as we go.
  std::vector<std::unique_ptr<OptimizerOptions>> new_options;
  std::vector<ParamState> new_state(state_.size());
  size_t index = 0;
  for (size_t g = 0; g < param_groups_.size(); ++g) {
    const auto& group = param_groups_[g];
    const std::string group_prefix = "param_groups." + std::to_string(g) + ".";
    const Tensor* ids = take(group_prefix + "params");
    if (!ids)
      throw Error(op, "missing \"", group_prefix, "params\": the dict has fewer parameter "
                  "groups than this optimizer (", param_groups_.size(), ")");
    if (ids->dtype() != kInt64 || ids->dim() != 1 ||
        ids->numel() != static_cast<int64_t>(group.params().size()))
      throw Error(op, "parameter group ", g, " holds ", group.params().size(),
                  " parameters, the dict's holds ", ids->numel());
    const std::vector<int64_t> id_values = ids->to_vector<int64_t>();
    for (size_t k = 0; k < id_values.size(); ++k)
      if (id_values[k] != static_cast<int64_t>(index + k))
        throw Error(op, "parameter group ", g, " lists parameter ", id_values[k], " at position ",
                    k, ", expected ", index + k, " (groups hold parameters in order)");

    auto options = group.options().clone();
    for (const auto& [name, old_value] : group.options().hyperparameters()) {
      const std::string key = group_prefix + name;
      const Tensor* value = take(key);
      if (!value) throw Error(op, "missing \"", key, "\"");
      scalar(key, *value, kFloat64);
      options->set_hyperparameter(name, value->item<double>(), op);
    }
    options->validate(op);
    const StateKeys keys = state_keys(*options);

    for (const Tensor& param : group.params()) {
      const std::string prefix = "state." + std::to_string(index) + ".";
      ParamState& state = new_state[index];
      const Tensor* step = take(prefix + "step");
      if (step) {
        scalar(prefix + "step", *step, kInt64);
        state.step = step->item<int64_t>();
        if (state.step < 0) throw Error(op, "\"", prefix, "step\" is negative: ", state.step);
      }
      auto load_buffer = [&](const std::string& name, bool required) {
        const std::string key = prefix + name;
        const Tensor* buffer = take(key);
        if (!buffer) {
          if (required && state.step > 0)
            throw Error(op, "missing \"", key, "\" (parameter ", index, " has taken ",
                        state.step, " steps)");
          return;
        }
        if (buffer->shape() != param.shape() || buffer->dtype() != param.dtype())
          throw Error(op, "\"", key, "\" is ", buffer->dtype(), " ", buffer->shape(),
                      " but parameter ", index, " is ", param.dtype(), " ", param.shape());
        state.buffers.emplace_back(name, kernels::copy(*buffer));  // owned, contiguous
      };
      for (const auto& name : keys.required) load_buffer(name, true);
      for (const auto& name : keys.optional) load_buffer(name, false);
      if (!step && !state.buffers.empty())
        throw Error(op, "parameter ", index, " has state buffers but no \"", prefix, "step\"");
      ++index;
    }
    new_options.push_back(std::move(options));
  }
  std::vector<std::string> unexpected;
  for (const auto& [key, tensor] : given)
    if (!used.count(key)) unexpected.push_back(key);
  if (!unexpected.empty()) {
    std::string list;
    for (size_t k = 0; k < unexpected.size() && k < 8; ++k) list += (k ? ", " : "") + unexpected[k];
    if (unexpected.size() > 8) list += ", ...";
    throw Error(op, unexpected.size(), " unexpected keys (", list, "); is it the state of another "
                "optimizer, or of one with other parameter groups?");
  }

  // Pass 2: everything fits; swap it in.
  for (size_t g = 0; g < param_groups_.size(); ++g)
    param_groups_[g].set_options(std::move(new_options[g]));
  state_ = std::move(new_state);
}

}  // namespace ag::optim

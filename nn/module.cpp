// module.cpp: walking the module tree (names, parameters, modes) and state dicts.
#include "nn/module.h"

#include <algorithm>
#include <sstream>
#include <unordered_set>

#include "tensor/kernels.h"

namespace ag::nn {

void Module::check_name(const std::string& name, std::string_view op) const {
  if (name.empty() || name.find('.') != std::string::npos)
    throw Error(op, "a name must be non-empty and contain no '.', got \"", name, "\"");
  auto taken = [&](const auto& list) {
    return std::any_of(list.begin(), list.end(), [&](const auto& entry) { return entry.first == name; });
  };
  if (taken(parameters_) || taken(buffers_) || taken(children_))
    throw Error(op, "the name \"", name, "\" is already registered in this ", this->name());
}

Tensor Module::register_parameter(const std::string& name, Tensor tensor, bool requires_grad) {
  check_name(name, "register_parameter");
  if (!tensor.defined()) throw Error("register_parameter", "parameter \"", name, "\" is undefined");
  if (requires_grad) tensor.requires_grad_(true);
  parameters_.emplace_back(name, tensor);
  return tensor;
}

Tensor Module::register_buffer(const std::string& name, Tensor tensor, bool persistent) {
  check_name(name, "register_buffer");
  buffers_.emplace_back(name, Buffer{tensor, persistent});
  return tensor;
}

void Module::collect(const std::string& prefix, bool recurse, bool params, bool include_duplicates,
                     bool persistent_only, NamedTensors& out) const {
  // Depth first, own entries before children's, each in registration order: PyTorch's order.
  std::unordered_set<const TensorImpl*> seen;
  for (const auto& [name, t] : out) seen.insert(t.impl());
  auto add = [&](const std::string& name, const Tensor& t) {
    if (!include_duplicates && !seen.insert(t.impl()).second) return;
    out.emplace_back(prefix + name, t);
  };
  if (params) {
    for (const auto& [name, t] : parameters_) add(name, t);
  } else {
    for (const auto& [name, b] : buffers_)
      if (b.persistent || !persistent_only) add(name, b.tensor);
  }
  if (!recurse) return;
  for (const auto& [name, child] : children_)
    child->collect(prefix + name + ".", true, params, include_duplicates, persistent_only, out);
}

NamedTensors Module::named_parameters(bool recurse) const {
  NamedTensors out;
  collect("", recurse, true, false, true, out);
  return out;
}

TensorList Module::parameters(bool recurse) const {
  TensorList out;
  for (auto& [name, t] : named_parameters(recurse)) out.push_back(t);
  return out;
}

NamedTensors Module::named_buffers(bool recurse) const {
  NamedTensors out;
  collect("", recurse, false, false, true, out);
  return out;
}

std::vector<std::pair<std::string, std::shared_ptr<Module>>> Module::named_children() const {
  return children_;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (const auto& [name, t] : named_parameters()) n += t.numel();
  return n;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

void Module::zero_grad() {
  for (auto& [name, t] : named_parameters()) t.zero_grad();
}

void Module::to(DType dtype) {
  NoGradGuard no_grad;
  auto convert = [&](Tensor& t) {
    if (!t.defined() || !t.is_floating_point() || t.dtype() == dtype) return;
    // Swap the data under the existing handle so every alias (tied weights, a module's own
    // member) sees the new dtype.
    const Tensor converted = kernels::cast(t, dtype);
    TensorImpl* impl = t.impl();
    impl->storage = converted.storage();
    impl->shape = converted.shape();
    impl->strides = converted.strides();
    impl->offset = converted.storage_offset();
    impl->dtype = dtype;
    if (impl->autograd) impl->autograd->grad = Tensor();
  };
  for (auto& [name, t] : parameters_) convert(t);
  for (auto& [name, b] : buffers_) convert(b.tensor);
  for (auto& [name, child] : children_) child->to(dtype);
}

NamedTensors Module::state_dict() const {
  NamedTensors out;
  collect("", true, true, true, true, out);
  NamedTensors buffers;
  collect("", true, false, true, true, buffers);
  out.insert(out.end(), buffers.begin(), buffers.end());
  return out;
}

LoadStateDictResult Module::load_state_dict(const NamedTensors& state, bool strict) {
  LoadStateDictResult result;
  const NamedTensors mine = state_dict();
  std::map<std::string, Tensor> given;
  for (const auto& [name, t] : state) given[name] = t;
  std::vector<std::pair<Tensor, Tensor>> copies;  // (destination, source), applied only if valid
  for (const auto& [name, dst] : mine) {
    auto it = given.find(name);
    if (it == given.end()) {
      result.missing_keys.push_back(name);
      continue;
    }
    if (!it->second.defined() || it->second.shape() != dst.shape()) {
      std::ostringstream os;
      os << name << ": module " << dst.shape() << " vs dict "
         << (it->second.defined() ? it->second.shape().str() : std::string("undefined"));
      result.shape_mismatches.push_back(os.str());
      continue;
    }
    copies.emplace_back(dst, it->second);
  }
  std::unordered_set<std::string> known;
  for (const auto& [name, t] : mine) known.insert(name);
  for (const auto& [name, t] : state)
    if (!known.count(name)) result.unexpected_keys.push_back(name);

  if (strict && (!result.missing_keys.empty() || !result.unexpected_keys.empty() ||
                 !result.shape_mismatches.empty())) {
    std::ostringstream os;
    auto list = [&](const char* what, const std::vector<std::string>& names) {
      if (names.empty()) return;
      os << " " << what << ": ";
      for (size_t i = 0; i < names.size(); ++i) os << (i ? ", " : "") << names[i] << "";
      os << ";";
    };
    list("missing keys", result.missing_keys);
    list("unexpected keys", result.unexpected_keys);
    list("shape mismatches", result.shape_mismatches);
    throw Error("load_state_dict", "the state dict does not fit this ", name(), ":", os.str(),
                " (pass strict=false to load the rest)");
  }
  NoGradGuard no_grad;
  for (auto& [dst, src] : copies) const_cast<Tensor&>(dst).copy_(src);
  return result;
}

}  // namespace ag::nn

// module.h: nn::Module, the base of every layer: a tree of named submodules and parameters.
// Names join with dots along the tree ("h.0.attn.c_attn.weight"), exactly as PyTorch names
// them, which is what makes a checkpoint portable between the two.
//
// A parameter is a Tensor handle that the module keeps and that requires grad; the module's own
// member (say `weight`) and the registry entry are the same handle, so an optimizer updating it
// in place updates the layer. Loading a state dict copies into those tensors in place for the
// same reason.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "autograd/autograd.h"

namespace ag::nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// What load_state_dict found; with strict=true any mismatch is an Error listing all of them.
struct LoadStateDictResult {
  std::vector<std::string> missing_keys;     // the module has them, the dict does not
  std::vector<std::string> unexpected_keys;  // the dict has them, the module does not
  std::vector<std::string> shape_mismatches; // "name: module (3, 4) vs dict (4, 3)"
};

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // ---- the tree --------------------------------------------------------------------------------
  // Parameters of this module and all below it, depth first in registration order; a tensor
  // registered under two names (tied weights) appears once, under its first name.
  NamedTensors named_parameters(bool recurse = true) const;
  TensorList parameters(bool recurse = true) const;
  NamedTensors named_buffers(bool recurse = true) const;  // persistent buffers only
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const;
  // Number of parameter elements (tied tensors counted once).
  int64_t num_parameters() const;

  // ---- modes -----------------------------------------------------------------------------------
  virtual void train(bool on = true);  // recursive; switches dropout
  void eval() { train(false); }
  bool is_training() const { return training_; }
  void zero_grad();  // sets every parameter's grad to undefined (PyTorch's set_to_none)
  // Converts every parameter and buffer to dtype in place (float32 <-> float64).
  void to(DType dtype);

  // ---- state dict -----------------------------------------------------------------------------
  // Every parameter and persistent buffer under its full dotted name; tied tensors appear under
  // each of their names (as in PyTorch). The tensors are the module's own (no copy).
  NamedTensors state_dict() const;
  // Copies values in by name. strict: any missing or unexpected name, or a shape mismatch, is
  // an Error that lists them all; otherwise they are returned and the rest is loaded.
  LoadStateDictResult load_state_dict(const NamedTensors& state, bool strict = true);

  // A short one-line description, e.g. "Linear(in_features=64, out_features=256, bias=true)".
  virtual std::string name() const { return "Module"; }

 protected:
  // Registers a parameter (it is made to require grad) and returns the same handle.
  Tensor register_parameter(const std::string& name, Tensor tensor, bool requires_grad = true);
  Tensor register_buffer(const std::string& name, Tensor tensor, bool persistent = true);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    check_name(name, "register_module");
    children_.emplace_back(name, module);
    return module;
  }

 private:
  void check_name(const std::string& name, std::string_view op) const;
  void collect(const std::string& prefix, bool recurse, bool params, bool include_duplicates,
               bool persistent_only, NamedTensors& out) const;

  struct Buffer {
    Tensor tensor;
    bool persistent;
  };
  NamedTensors parameters_;
  std::vector<std::pair<std::string, Buffer>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

// A list of modules named "0", "1", ... (nanoGPT's transformer.h).
class ModuleList : public Module {
 public:
  template <typename M>
  std::shared_ptr<M> push_back(std::shared_ptr<M> module) {
    // Name first, in its own statement: function arguments are evaluated in an unspecified
    // order, and GCC pushed before naming, so the first module was called "1".
    const std::string name = std::to_string(modules_.size());
    return register_module(name, push(module));
  }
  size_t size() const { return modules_.size(); }
  const std::shared_ptr<Module>& operator[](size_t i) const { return modules_.at(i); }
  template <typename M>
  std::shared_ptr<M> at(size_t i) const { return std::dynamic_pointer_cast<M>(modules_.at(i)); }
  std::string name() const override { return "ModuleList"; }

 private:
  template <typename M>
  std::shared_ptr<M> push(std::shared_ptr<M> module) {
    modules_.push_back(module);
    return module;
  }
  std::vector<std::shared_ptr<Module>> modules_;
};

// A module that only groups named children (nanoGPT's `transformer` ModuleDict).
class ModuleDict : public Module {
 public:
  template <typename M>
  std::shared_ptr<M> insert(const std::string& key, std::shared_ptr<M> module) {
    return register_module(key, module);
  }
  std::string name() const override { return "ModuleDict"; }
};

}  // namespace ag::nn

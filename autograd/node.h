// node.h: the graph. Every differentiable op that sees an input requiring grad creates a Node:
// the backward function of that op (a closure written right under its forward), plus one edge
// per input saying where the input's gradient goes next: into the Node that produced that
// input, or, for a leaf, into the leaf's .grad. The output tensor points to its Node through
// AutogradMeta::grad_fn; Nodes point only backwards, to their inputs' Nodes, so the graph is a
// DAG that frees itself when the last output is dropped.
//
// Writing an op (see autograd/ops/elementwise.cpp for many):
//
//   // y = exp(x)   x: any shape   returns: same shape
//   Tensor exp(const Tensor& x) {
//     Tensor y = kernels::unary(kernels::Unary::Exp, x);
//     return record("exp", y, {x}, [](const Tensor& dy, const Tensor& y) {
//       return Grads{dy * y};          // d/dx e^x = e^x, which is y
//     });
//   }
//
// A closure taking (dy) gets the output's gradient; one taking (dy, y) also gets the output,
// which the Node keeps without owning it through the graph (a Node capturing its own output
// would be a cycle that never frees). Closures capture what else they need, and list captured
// inputs in `saved` so that an in-place change to them is caught (version counters). Backward
// closures use differentiable ops, so running them with grad mode on (create_graph) records a
// graph of the backward: gradients of gradients for free.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "autograd/grad_mode.h"
#include "tensor/tensor.h"

namespace ag::autograd {

// What a Tensor carries once it takes part in autograd.
struct AutogradMeta {
  bool requires_grad = false;
  bool retains_grad = false;
  Tensor grad;                    // accumulated gradient (leaves, or retain_grad)
  std::shared_ptr<Node> grad_fn;  // null for a leaf
};

// One gradient per input of an op, in input order; an undefined Tensor means "none".
using Grads = std::vector<Tensor>;
using BackwardFn = std::function<Grads(const Tensor& dy, const Tensor& y)>;

class Node : public std::enable_shared_from_this<Node> {
 public:
  // Where an input's gradient goes: to the Node that made it, or into a leaf's .grad.
  struct Edge {
    std::shared_ptr<Node> node;
    std::shared_ptr<AutogradMeta> leaf;
    bool defined() const { return node || leaf; }
  };

  Node(std::string_view name, BackwardFn fn) : name_(name), fn_(std::move(fn)) {}
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  const std::string& name() const { return name_; }  // the forward op: "mul"
  std::string display_name() const;                  // "MulBackward"
  const std::vector<Edge>& edges() const { return edges_; }
  const std::vector<Shape>& input_shapes() const { return input_shapes_; }
  const Shape& output_shape() const { return output_shape_; }
  DType output_dtype() const { return output_dtype_; }
  bool released() const { return released_; }

  // Runs the backward closure for output gradient dy; checks saved tensors' versions first and
  // the returned gradients' shapes after. Called by the engine.
  Grads apply(const Tensor& dy);
  // Drops the closure and saved tensors (what backward without retain_graph does).
  void release();

  // For retain_grad(): the output's meta, if it is still alive.
  std::shared_ptr<AutogradMeta> output_meta() const { return output_meta_.lock(); }

 private:
  friend Tensor record_node(std::string_view, const Tensor&, const TensorList&, BackwardFn,
                            const TensorList&, bool);
  std::string name_;
  BackwardFn fn_;
  std::vector<Edge> edges_;
  std::vector<Shape> input_shapes_;
  std::vector<DType> input_dtypes_;
  Shape output_shape_;
  DType output_dtype_ = kFloat32;
  std::weak_ptr<AutogradMeta> output_meta_;
  Tensor saved_output_;  // a metadata-free alias of the output, when the closure wants y
  bool wants_output_ = false;
  std::vector<std::pair<Tensor, uint64_t>> saved_versions_;  // (tensor, version at forward)
  bool released_ = false;
};

// Attaches a Node to y when grad mode is on and an input requires grad; otherwise returns y.
Tensor record_node(std::string_view name, const Tensor& y, const TensorList& inputs,
                   BackwardFn fn, const TensorList& saved, bool wants_output);

// record(name, y, inputs, backward, saved): backward is a callable taking (dy) or (dy, y).
template <typename F>
Tensor record(std::string_view name, const Tensor& y, const TensorList& inputs, F&& backward,
              const TensorList& saved = {}) {
  if constexpr (std::is_invocable_v<F, const Tensor&, const Tensor&>) {
    return record_node(name, y, inputs, BackwardFn(std::forward<F>(backward)), saved, true);
  } else {
    return record_node(name, y, inputs,
                       [f = std::forward<F>(backward)](const Tensor& dy, const Tensor&) {
                         return f(dy);
                       },
                       saved, false);
  }
}

// True when some input requires grad and grad mode is on: ops use it to skip building
// backward-only state (an int64 copy of a mask, say) that no one would use.
bool any_requires_grad(const TensorList& inputs);

// Raises an Error naming op when t holds a NaN or Inf (used by anomaly mode).
void check_finite(const Tensor& t, std::string_view op, std::string_view phase,
                  const std::vector<Shape>& input_shapes);

}  // namespace ag::autograd

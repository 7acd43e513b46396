// node.cpp: creating Nodes (record_node), running their closures (apply), and tearing long
// graphs down without recursion.
#include "autograd/node.h"

#include <cctype>
#include <cmath>
#include <sstream>

#include "tensor/kernels.h"

namespace ag::autograd {

// ---- anomaly mode ---------------------------------------------------------------------------
// What counts as an anomaly, and where it is reported:
//   - a forward that produces a NaN. An Inf alone is let through: -inf is how an attention
//     mask says "never attend" and log(0) = -inf is exact, so flagging every Inf would make
//     anomaly mode useless on a transformer. An Inf that matters turns into a NaN where it
//     meets another (inf - inf, inf / inf, 0 * inf), and the message then names the input
//     that carried it in, pointing back up the graph;
//   - a backward that produces a NaN or an Inf in any gradient: no gradient is ever
//     legitimately infinite. The Error is named after the forward op whose backward it was.
//     A backward is written with differentiable ops, so a NaN can first show up in one of
//     them (the div in sqrt's dy / (2y)); it is reported as the backward's all the same.
// All of it runs only while anomaly mode is on; off, each op pays one relaxed atomic load.
namespace {

// The Node whose backward closure is running on this thread (set only in anomaly mode).
thread_local const Node* t_running_backward = nullptr;

}  // namespace

// Sets t_running_backward for the lifetime of the object, restoring the previous value even
// when the closure throws (a backward may run inside another: gradients of gradients).
class RunningBackward {
 public:
  explicit RunningBackward(const Node* node) : previous_(t_running_backward) {
    t_running_backward = node;
  }
  ~RunningBackward() { t_running_backward = previous_; }
  RunningBackward(const RunningBackward&) = delete;
  RunningBackward& operator=(const RunningBackward&) = delete;

 private:
  const Node* previous_;
};

namespace {

// "NaN" if t holds a NaN, else "Inf" if it holds an infinity, else nullptr (also for
// undefined and integer tensors).
const char* non_finite(const Tensor& t) {
  if (!t.defined() || !is_floating(t.dtype()) || t.numel() == 0) return nullptr;
  const Tensor c = kernels::contiguous(t);
  bool has_nan = false, has_inf = false;
  dispatch_floating(t.dtype(), "anomaly", [&](auto zero) {
    using T = decltype(zero);
    const T* p = c.data_ptr<T>();
    const int64_t n = c.numel();
    for (int64_t i = 0; i < n && !has_nan; ++i) {
      has_nan = has_nan || std::isnan(p[i]);
      has_inf = has_inf || std::isinf(p[i]);
    }
  });
  return has_nan ? "NaN" : has_inf ? "Inf" : nullptr;
}

std::string shapes_str(const std::vector<Shape>& shapes) {
  std::ostringstream os;
  for (size_t i = 0; i < shapes.size(); ++i) os << (i ? ", " : "") << shapes[i];
  return os.str();
}

// The forward half of anomaly mode (see the rules above): raises when y holds a NaN.
void check_forward(std::string_view name, const Tensor& y, const TensorList& inputs) {
  const char* bad_output = non_finite(y);
  if (bad_output == nullptr || std::string_view(bad_output) != "NaN") return;
  std::vector<Shape> shapes;
  std::ostringstream culprits;  // which inputs were already non-finite
  for (size_t i = 0; i < inputs.size(); ++i) {
    shapes.push_back(inputs[i].defined() ? inputs[i].shape() : Shape{});
    if (const char* bad = non_finite(inputs[i]))
      culprits << (culprits.tellp() > 0 ? ", " : "") << "input " << i << " (" << bad << ")";
  }
  const std::string cause =
      culprits.tellp() > 0
          ? "some inputs already held non-finite values: " + culprits.str() +
                "; look at the ops that made them (anomaly mode lets an Inf pass in the "
                "forward, since -inf masks and log(0) are legitimate)"
          : std::string("its inputs were finite, so this ") +
                (t_running_backward ? "step" : "op") + " made it";
  if (const Node* node = t_running_backward)
    throw Error(node->name(), "anomaly detected: the backward of ", node->name(),
                " (forward input shapes ", shapes_str(node->input_shapes()),
                ") produced NaN in its step ", name, " (input shapes ", shapes_str(shapes),
                "); ", cause);
  throw Error(name, "anomaly detected: the forward produced NaN (output shape ", y.shape(),
              ", input shapes ", shapes_str(shapes), "); ", cause);
}

}  // namespace

// A chain of 100,000 ops is a chain of 100,000 Nodes, each owning the next through an edge or
// a captured tensor. Letting shared_ptr destroy it would recurse 100,000 levels deep and
// overflow the stack. Instead the outermost destructor parks every edge in a list and frees
// them one at a time; destructors that run inside it only add to the list.
Node::~Node() {
  thread_local std::vector<std::shared_ptr<Node>>* pending = nullptr;
  std::vector<std::shared_ptr<Node>> local;
  std::vector<std::shared_ptr<Node>>& sink = pending ? *pending : local;
  for (Edge& edge : edges_)
    if (edge.node) sink.push_back(std::move(edge.node));
  // Captured tensors own their producers' Nodes too; move those Nodes to the list as well,
  // before the closure (and with it the tensors) is destroyed.
  auto park = [&](const Tensor& t) {
    if (t.defined() && t.impl()->autograd && t.impl()->autograd->grad_fn)
      sink.push_back(t.impl()->autograd->grad_fn);
  };
  for (auto& [tensor, version] : saved_versions_) park(tensor);
  fn_ = nullptr;
  saved_versions_.clear();
  if (pending) return;
  pending = &local;
  while (!local.empty()) {
    std::shared_ptr<Node> node = std::move(local.back());
    local.pop_back();
    node.reset();  // may append to `local` through `pending`
  }
  pending = nullptr;
}

std::string Node::display_name() const {
  // "masked_fill" -> "MaskedFillBackward"
  std::string out;
  bool upper = true;
  for (char c : name_) {
    if (c == '_') { upper = true; continue; }
    out += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    upper = false;
  }
  return out + "Backward";
}

Grads Node::apply(const Tensor& dy) {
  if (released_)
    throw Error("backward", "the graph through ", display_name(),
                " was already freed by an earlier backward(); pass retain_graph=true to the "
                "first backward() if you need to run backward through it again");
  for (const auto& [tensor, version] : saved_versions_)
    if (tensor.version() != version)
      throw Error(name_, "a tensor of shape ", tensor.shape(), " that ", display_name(),
                  " saved for backward was modified in place after the forward (its version is ",
                  tensor.version(), ", it was ", version,
                  "); compute it out of place, or clone() it before changing it");
  Tensor y;
  if (wants_output_) {
    y = saved_output_;
    if (GradMode::is_enabled()) {
      // create_graph: hand the closure an output that knows it came from this Node, so the
      // backward's own graph reaches through it.
      y = kernels::as_strided(saved_output_, saved_output_.shape(), saved_output_.strides(),
                              saved_output_.storage_offset());
      auto meta = std::make_shared<AutogradMeta>();
      meta->requires_grad = true;
      meta->grad_fn = shared_from_this();
      y.impl()->autograd = std::move(meta);
    }
  }
  Grads grads;
  if (anomaly_enabled()) {
    // Ops run inside this closure report a NaN as this backward's (see check_forward).
    RunningBackward running(this);
    grads = fn_(dy, y);
  } else {
    grads = fn_(dy, y);
  }
  if (grads.size() != edges_.size())
    throw Error(name_, "internal: backward returned ", grads.size(), " gradients for ",
                edges_.size(), " inputs");
  for (size_t i = 0; i < grads.size(); ++i) {
    if (!grads[i].defined()) continue;
    if (grads[i].shape() != input_shapes_[i])
      throw Error(name_, "internal: the gradient for input ", i, " has shape ", grads[i].shape(),
                  " but the input has shape ", input_shapes_[i]);
    if (anomaly_enabled() && non_finite(grads[i]))
      throw Error(name_, "anomaly detected: the backward of ", name_, " produced ",
                  non_finite(grads[i]), " in the gradient for input ", i, " (gradient shape ",
                  grads[i].shape(), "; the forward had input shapes ", shapes_str(input_shapes_),
                  " and output shape ", output_shape_, "); the gradient flowing in (dy) ",
                  non_finite(dy) ? std::string("already held ") + non_finite(dy)
                                 : std::string("was finite, so this backward made it"));
  }
  return grads;
}

void Node::release() {
  fn_ = nullptr;
  saved_output_ = Tensor();
  saved_versions_.clear();
  released_ = true;
}

bool any_requires_grad(const TensorList& inputs) {
  if (!GradMode::is_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

void check_finite(const Tensor& t, std::string_view op, std::string_view phase,
                  const std::vector<Shape>& input_shapes) {
  const char* bad = non_finite(t);
  if (bad == nullptr) return;
  throw Error(op, "anomaly detected: the ", phase, " produced ", bad, " (output shape ",
              t.shape(), ", input shapes ", shapes_str(input_shapes), ")",
              phase == "backward" ? " in the backward of this forward op" : "");
}

Tensor record_node(std::string_view name, const Tensor& y_in, const TensorList& inputs,
                   BackwardFn fn, const TensorList& saved, bool wants_output) {
  if (anomaly_enabled()) check_forward(name, y_in, inputs);  // one relaxed load when off
  if (!any_requires_grad(inputs)) return y_in;
  // The output must be a TensorImpl of its own: attaching a grad_fn to an input would rewire
  // the input's history.
  Tensor y = y_in;
  for (const Tensor& t : inputs)
    if (t.defined() && t.is_same(y))
      y = kernels::as_strided(y_in, y_in.shape(), y_in.strides(), y_in.storage_offset());
  if (!is_floating(y.dtype())) return y;  // integer and bool outputs carry no gradient

  auto node = std::make_shared<Node>(name, std::move(fn));
  node->edges_.reserve(inputs.size());
  for (const Tensor& t : inputs) {
    Node::Edge edge;
    if (t.defined() && t.requires_grad()) {
      if (t.grad_fn()) edge.node = t.grad_fn();
      else edge.leaf = t.impl()->autograd;
    }
    node->edges_.push_back(std::move(edge));
    node->input_shapes_.push_back(t.defined() ? t.shape() : Shape{});
    node->input_dtypes_.push_back(t.defined() ? t.dtype() : kFloat32);
  }
  for (const Tensor& t : saved)
    if (t.defined()) node->saved_versions_.emplace_back(t, t.version());
  node->output_shape_ = y.shape();
  node->output_dtype_ = y.dtype();
  if (wants_output) {
    node->wants_output_ = true;
    node->saved_output_ = kernels::as_strided(y, y.shape(), y.strides(), y.storage_offset());
    node->saved_versions_.emplace_back(node->saved_output_, y.version());
  }
  auto meta = std::make_shared<AutogradMeta>();
  meta->requires_grad = true;
  meta->grad_fn = std::move(node);
  meta->grad_fn->output_meta_ = meta;
  y.impl()->autograd = std::move(meta);
  return y;
}

}  // namespace ag::autograd

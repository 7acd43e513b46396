// engine.cpp: the backward pass, a topological walk over the graph with an explicit stack.
//
// The recursive version is two lines, and is what micrograd does:
//
//   visit(node): for child in node.edges: visit(child); order.push(node)
//   for node in reversed(order): node.backward()
//
// but recursion is as deep as the graph, and a chain of 100,000 ops overflows the stack. So:
//   1. Count, for every Node reachable from the outputs, how many edges point at it
//      (an iterative DFS with a std::vector as the stack).
//   2. Start from the outputs' Nodes. A Node runs once every Node that feeds it a gradient has
//      run (its count reached zero), so it sees its complete output gradient dy.
//   3. Running a Node adds its input gradients into the buffers of the Nodes it points at, or
//      into leaves' .grad. Gradients are added, never overwritten: an input used twice gets
//      both contributions (micrograd's +=).
// The order is fixed by the graph alone, so the same graph gives the same bits every time.
#include "autograd/engine.h"

#include <unordered_map>
#include <unordered_set>

#include "autograd/ops.h"
#include "tensor/kernels.h"

namespace ag::autograd {

namespace {

struct Targets {  // what autograd::grad() wants back
  std::unordered_map<const AutogradMeta*, size_t> leaves;
  std::unordered_map<const Node*, size_t> nodes;
  TensorList captured;
  bool active = false;
};

Tensor add_grads(const Tensor& a, const Tensor& b) {
  if (!a.defined()) return b;
  if (!b.defined()) return a;
  return a + b;  // recorded when create_graph: gradients of gradients see the sum
}

void accumulate_into_leaf(AutogradMeta& meta, const Tensor& g, bool create_graph) {
  if (create_graph) {
    // A g that is part of a graph must stay as it is (its graph is the point); any other g
    // may be an expanded view or the caller's own tensor, and the next accumulation writes
    // into .grad in place, so it is copied like the first gradient below.
    if (meta.grad.defined()) meta.grad = meta.grad + g;
    else meta.grad = g.grad_fn() ? g : kernels::copy(g);
    return;
  }
  NoGradGuard no_grad;
  // The first gradient is copied: g may be an expanded view or shared with another leaf, and
  // optimizers and clip_grad_norm_ write into .grad in place.
  if (!meta.grad.defined()) meta.grad = kernels::copy(g);
  else if (meta.grad.grad_fn()) meta.grad = kernels::binary(kernels::Binary::Add, meta.grad, g, "backward");
  else kernels::copy_into(meta.grad, kernels::binary(kernels::Binary::Add, meta.grad, g, "backward"));
}

void run(const TensorList& outputs, const TensorList& grad_outputs, bool retain_graph,
         bool create_graph, Targets& targets) {
  if (!grad_outputs.empty() && grad_outputs.size() != outputs.size())
    throw Error("backward", "got ", grad_outputs.size(), " gradients for ", outputs.size(),
                " outputs");
  AutoGradMode mode(create_graph);
  std::unordered_map<Node*, Tensor> buffers;  // dy accumulated so far, per Node
  std::vector<std::shared_ptr<Node>> roots;
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Tensor& out = outputs[i];
    if (!out.defined()) throw Error("backward", "output ", i, " is undefined");
    if (!out.requires_grad())
      throw Error("backward", "the tensor of shape ", out.shape(),
                  " does not require grad and has no grad_fn: nothing to differentiate (call "
                  "requires_grad_() on the inputs, and check no NoGradGuard is active)");
    Tensor g = grad_outputs.empty() ? Tensor() : grad_outputs[i];
    if (!g.defined()) {
      if (out.numel() != 1)
        throw Error("backward", "the gradient can only be implied for a one-element output; this "
                    "output has shape ", out.shape(), ", so pass a gradient of that shape (or "
                    "call .sum() first)");
      g = ones_like(out);
    } else if (g.shape() != out.shape() || g.dtype() != out.dtype()) {
      throw Error("backward", "the gradient has shape ", g.shape(), " and dtype ", g.dtype(),
                  " but the output has shape ", out.shape(), " and dtype ", out.dtype());
    }
    if (out.grad_fn()) {
      Node* node = out.grad_fn().get();
      buffers[node] = add_grads(buffers[node], g);
      roots.push_back(out.grad_fn());
    } else {
      AutogradMeta& meta = *out.impl()->autograd;
      auto it = targets.leaves.find(&meta);
      if (targets.active) {
        if (it != targets.leaves.end())
          targets.captured[it->second] = add_grads(targets.captured[it->second], g);
      } else {
        accumulate_into_leaf(meta, g, create_graph);
      }
    }
  }

  // 1. Count incoming edges of every reachable Node.
  std::unordered_map<Node*, int> dependencies;
  {
    std::unordered_set<Node*> seen;
    std::vector<Node*> stack;
    for (const auto& root : roots)
      if (seen.insert(root.get()).second) stack.push_back(root.get());
    while (!stack.empty()) {
      Node* node = stack.back();
      stack.pop_back();
      for (const Node::Edge& edge : node->edges()) {
        if (!edge.node) continue;
        ++dependencies[edge.node.get()];
        if (seen.insert(edge.node.get()).second) stack.push_back(edge.node.get());
      }
    }
  }

  // 2./3. Run Nodes whose gradient is complete.
  std::vector<std::shared_ptr<Node>> ready;
  {
    std::unordered_set<Node*> queued;
    for (const auto& root : roots)
      if (dependencies[root.get()] == 0 && queued.insert(root.get()).second) ready.push_back(root);
  }
  while (!ready.empty()) {
    std::shared_ptr<Node> node = std::move(ready.back());
    ready.pop_back();
    Tensor dy;
    if (auto it = buffers.find(node.get()); it != buffers.end()) {
      dy = std::move(it->second);
      buffers.erase(it);
    }
    Grads grads;
    if (dy.defined()) {
      if (auto it = targets.nodes.find(node.get()); it != targets.nodes.end())
        targets.captured[it->second] = add_grads(targets.captured[it->second], dy);
      if (!targets.active) {
        if (auto meta = node->output_meta(); meta && meta->retains_grad)
          accumulate_into_leaf(*meta, dy, create_graph);
      }
      grads = node->apply(dy);
    }
    const auto& edges = node->edges();
    for (size_t i = 0; i < edges.size(); ++i) {
      const Node::Edge& edge = edges[i];
      const Tensor g = i < grads.size() ? grads[i] : Tensor();
      if (edge.leaf && g.defined()) {
        if (targets.active) {
          if (auto it = targets.leaves.find(edge.leaf.get()); it != targets.leaves.end())
            targets.captured[it->second] = add_grads(targets.captured[it->second], g);
        } else {
          accumulate_into_leaf(*edge.leaf, g, create_graph);
        }
      }
      if (edge.node) {
        if (g.defined()) {
          Tensor& buffer = buffers[edge.node.get()];
          buffer = add_grads(buffer, g);
        }
        if (--dependencies[edge.node.get()] == 0) ready.push_back(edge.node);
      }
    }
    if (!retain_graph) node->release();
  }
}

}  // namespace

void backward(const TensorList& outputs, const TensorList& grad_outputs, bool retain_graph,
              bool create_graph) {
  Targets none;
  run(outputs, grad_outputs, retain_graph || create_graph, create_graph, none);
}

TensorList grad(const TensorList& outputs, const TensorList& inputs,
                const TensorList& grad_outputs, bool create_graph,
                std::optional<bool> retain_graph, bool allow_unused) {
  Targets targets;
  targets.active = true;
  targets.captured.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i];
    if (!x.defined() || !x.requires_grad())
      throw Error("grad", "input ", i, " does not require grad, so it has no gradient");
    if (x.grad_fn()) targets.nodes[x.grad_fn().get()] = i;
    else targets.leaves[x.impl()->autograd.get()] = i;
  }
  // Outputs that do not require grad contribute nothing (a constant has zero derivative).
  TensorList live_outputs, live_grads;
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (!outputs[i].defined() || !outputs[i].requires_grad()) continue;
    live_outputs.push_back(outputs[i]);
    if (!grad_outputs.empty()) live_grads.push_back(grad_outputs[i]);
  }
  if (!live_outputs.empty())
    run(live_outputs, live_grads, retain_graph.value_or(create_graph), create_graph, targets);
  for (size_t i = 0; i < inputs.size(); ++i)
    if (!targets.captured[i].defined() && !allow_unused)
      throw Error("grad", "input ", i, " (shape ", inputs[i].shape(),
                  ") was not used to compute the outputs; pass allow_unused=true to get an "
                  "undefined gradient for it");
  return targets.captured;
}

}  // namespace ag::autograd

// engine.h: running the graph backwards.
// Tensor::backward() accumulates into leaves' .grad; autograd::grad() returns the gradients of
// chosen inputs instead and leaves every .grad untouched (as torch.autograd.grad does).
#pragma once

#include "autograd/node.h"

namespace ag::autograd {

// Backpropagates grad_outputs[i] = dL/d outputs[i] through the graph. An undefined grad_output
// is allowed for a one-element output and means 1. With create_graph, as in PyTorch, a leaf's
// .grad then holds a graph that holds the leaf (a reference cycle that never frees by itself):
// zero_grad() breaks it, and grad(..., create_graph=true) below never makes it.
void backward(const TensorList& outputs, const TensorList& grad_outputs = {},
              bool retain_graph = false, bool create_graph = false);

// Returns dL/d inputs[i], where L = sum_i <grad_outputs[i], outputs[i]>. An input the outputs do
// not depend on gets an undefined tensor when allow_unused, else an Error. retain_graph
// defaults to create_graph, as in PyTorch.
TensorList grad(const TensorList& outputs, const TensorList& inputs,
                const TensorList& grad_outputs = {}, bool create_graph = false,
                std::optional<bool> retain_graph = std::nullopt, bool allow_unused = false);

}  // namespace ag::autograd

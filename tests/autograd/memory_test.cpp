// memory_test.cpp: graphs give their memory back. engine_test.cpp proves the basics (a Node
// never owns its output; a 100,000-op chain is freed without recursion); these cover the
// remaining ways a graph could outlive its use:
//   - backward(create_graph=true) into a leaf's .grad makes a reference cycle, exactly as in
//     PyTorch (leaf -> .grad -> the backward's graph -> the forward's Nodes -> leaf). It is
//     documented, and zero_grad() breaks it; autograd::grad(create_graph=true) makes none;
//   - after a training-like step, every tensor byte the step used is back in the allocator,
//     so the bytes in use return to where they were (run under LeakSanitizer in CI, which
//     also catches anything freed to neither).
#include <gtest/gtest.h>

#include <memory>

#include "autograd/autograd.h"
#include "autograd/node.h"
#include "tensor/allocator.h"

namespace {

using namespace ag;

TEST(GraphMemoryTest, CreateGraphIntoLeafGradIsACycleThatZeroGradBreaks) {
  std::weak_ptr<autograd::Node> forward_node;
  std::weak_ptr<TensorImpl> grad_impl;
  Tensor x = from_vector<double>({0.5, 2.0}, {2}).requires_grad_();
  {
    const Tensor h = (x * x).tanh();  // tanh's backward uses h, so the gradient's graph does
    forward_node = h.grad_fn();
    const Tensor y = h.sum();
    y.backward({}, /*retain_graph=*/false, /*create_graph=*/true);
    grad_impl = x.grad().impl_ptr();
    EXPECT_TRUE(x.grad().requires_grad());  // the gradient has a graph of its own
  }
  // Everything but x is gone, yet the forward graph lives on: x.grad's graph reaches it.
  EXPECT_FALSE(forward_node.expired());
  x.zero_grad();
  EXPECT_TRUE(grad_impl.expired());
  EXPECT_TRUE(forward_node.expired());
}

TEST(GraphMemoryTest, AutogradGradWithCreateGraphLeavesNoCycle) {
  std::weak_ptr<autograd::Node> forward_node, grad_node;
  Tensor x = from_vector<double>({0.5, 2.0}, {2}).requires_grad_();
  {
    const Tensor h = (x * x).tanh();
    forward_node = h.grad_fn();
    const Tensor y = h.sum();
    const Tensor dx = autograd::grad({y}, {x}, {}, /*create_graph=*/true)[0];
    grad_node = dx.grad_fn();
    dx.sum().backward();  // a second-order step, as a gradient penalty would do
  }
  EXPECT_TRUE(forward_node.expired());
  EXPECT_TRUE(grad_node.expired());
  EXPECT_TRUE(x.grad().defined());
}

TEST(GraphMemoryTest, ANodeThatKeepsItsOutputDoesNotKeepTheOutputsGraphBookkeeping) {
  // softmax's backward needs y; the Node keeps a bare alias of y's data, not y itself, so y's
  // autograd meta (which points back at the Node) is freed with y.
  Tensor x = from_vector<double>({1, 2, 3}, {3}).requires_grad_();
  std::weak_ptr<autograd::AutogradMeta> meta;
  Tensor loss;
  {
    const Tensor y = x.softmax(0);
    meta = y.impl()->autograd;
    loss = y.slice(0, 0, 2).sum();  // ops that do not capture y themselves
  }
  EXPECT_TRUE(meta.expired());
  loss.backward();
  EXPECT_TRUE(x.grad().defined());
}

TEST(GraphMemoryTest, ATrainingStepReturnsEveryByteItUsed) {
  manual_seed(1);
  Tensor w = (randn({32, 16}) * 0.1).requires_grad_();
  const Tensor x = randn({64, 32});
  auto train_step = [&] {
    w.zero_grad();
    const Tensor loss = x.matmul(w).tanh().log_softmax(-1).mean();
    loss.backward();
    NoGradGuard no_grad;
    w.add_(w.grad(), -0.1);
  };
  train_step();  // the first step fills the allocator's cache and creates w.grad
  w.zero_grad();
  const size_t in_use = allocator_stats().bytes_in_use;
  for (int i = 0; i < 20; ++i) {
    train_step();
    w.zero_grad();
    EXPECT_EQ(allocator_stats().bytes_in_use, in_use) << "step " << i;
  }
}

}  // namespace

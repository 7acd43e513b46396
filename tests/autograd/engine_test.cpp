// engine_test.cpp: what backward() promises. Gradients land in leaves and accumulate across
// calls; explicit output gradients weight the outputs; a broadcast input's gradient comes back
// in the input's shape; the walk is non-recursive (a 100,000-op chain neither overflows the
// stack going backward nor when it is destroyed); and a Node never owns its own output, so a
// graph frees itself when its last tensor goes.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <memory>

#include "autograd/autograd.h"

namespace {

using namespace ag;

Tensor vec(std::vector<double> values) {
  const int64_t n = static_cast<int64_t>(values.size());
  return from_vector<double>(values, {n});
}

TEST(EngineTest, RequiresGradMarksALeafWhoseGradIsUndefinedUntilBackward) {
  Tensor x = vec({1, 2, 3});
  EXPECT_FALSE(x.requires_grad());
  x.requires_grad_();
  EXPECT_TRUE(x.requires_grad());
  EXPECT_TRUE(x.is_leaf());
  EXPECT_FALSE(x.grad().defined());
  x.requires_grad_(false);
  EXPECT_FALSE(x.requires_grad());
}

TEST(EngineTest, OpsOnInputsThatNeedNoGradRecordNothing) {
  const Tensor a = vec({1, 2}), b = vec({3, 4});
  const Tensor y = (a * b).exp().sum();
  EXPECT_FALSE(y.requires_grad());
  EXPECT_EQ(y.grad_fn(), nullptr);
}

TEST(EngineTest, ResultsOfRecordedOpsNameTheirBackward) {
  Tensor a = vec({1, 2}).requires_grad_();
  const Tensor y = a * a;
  EXPECT_TRUE(y.requires_grad());
  EXPECT_FALSE(y.is_leaf());
  EXPECT_EQ(y.grad_fn_name(), "MulBackward");
  EXPECT_EQ(y.sum().grad_fn_name(), "SumBackward");
  EXPECT_EQ(a.masked_fill(from_vector<bool>({true, false}, {2}), 0).grad_fn_name(),
            "MaskedFillBackward");
  EXPECT_EQ(a.grad_fn_name(), "");
}

TEST(EngineTest, IntegerResultsCarryNoGradient) {
  Tensor x = vec({1, 5, 2}).requires_grad_();
  const Tensor index = x.argmax(0);
  EXPECT_EQ(index.dtype(), kInt64);
  EXPECT_FALSE(index.requires_grad());
  EXPECT_FALSE(gt(x, zeros_like(x)).requires_grad());
}

TEST(EngineTest, BackwardOnAScalarMatchesTheHandDerivative) {
  // L = sum(3 x^2 + exp(x))   dL/dx = 6x + exp(x)
  Tensor x = vec({0.5, -1, 2}).requires_grad_();
  Tensor loss = (x * x * 3.0 + x.exp()).sum();
  loss.backward();
  const auto g = x.grad().to_vector<double>();
  const std::vector<double> xs{0.5, -1, 2};
  ASSERT_EQ(g.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_NEAR(g[i], 6 * xs[i] + std::exp(xs[i]), 1e-12);
}

TEST(EngineTest, BackwardWithAnExplicitGradientComputesTheVectorJacobianProduct) {
  // y = x^2 (elementwise), so dL/dx = gradient * 2x.
  Tensor x = vec({1, 2, 3}).requires_grad_();
  const Tensor y = x * x;
  y.backward(vec({1, 0.5, -2}));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{2, 2, -12}));
}

TEST(EngineTest, GradientsAccumulateIntoLeavesAcrossTwoBackwardCalls) {
  Tensor x = vec({1, 2}).requires_grad_();
  (x * 3.0).sum().backward();
  (x * x).sum().backward();
  // 3 from the first call plus 2x from the second.
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{5, 7}));
}

TEST(EngineTest, ZeroGradClearsTheAccumulatedGradient) {
  Tensor x = vec({1, 2}).requires_grad_();
  (x * 3.0).sum().backward();
  x.zero_grad();
  EXPECT_FALSE(x.grad().defined());
  (x * 2.0).sum().backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{2, 2}));
}

TEST(EngineTest, AnInputUsedOnSeveralPathsGetsEveryContribution) {
  // A diamond: h = 2x feeds both h * h and h.exp().   L = sum(4x^2 + e^(2x))
  Tensor x = vec({0.25, -0.5}).requires_grad_();
  const Tensor h = x * 2.0;
  (h * h + h.exp()).sum().backward();
  const auto g = x.grad().to_vector<double>();
  EXPECT_NEAR(g[0], 8 * 0.25 + 2 * std::exp(0.5), 1e-12);
  EXPECT_NEAR(g[1], 8 * -0.5 + 2 * std::exp(-1.0), 1e-12);
}

TEST(EngineTest, BroadcastInputsGetGradientsSummedBackToTheirShapes) {
  Tensor a = zeros({3, 1}, kFloat64).requires_grad_();
  Tensor b = zeros({4}, kFloat64).requires_grad_();
  Tensor c = zeros({2, 1, 1}, kFloat64).requires_grad_();
  ((a + b) * 1.0 + c).sum().backward();  // (2, 3, 4)
  EXPECT_EQ(a.grad().shape(), Shape({3, 1}));
  EXPECT_EQ(b.grad().shape(), Shape({4}));
  EXPECT_EQ(c.grad().shape(), Shape({2, 1, 1}));
  // Each element of a fed 2 * 4 outputs; of b, 2 * 3; of c, 3 * 4.
  EXPECT_EQ(a.grad().to_vector<double>(), std::vector<double>(3, 8));
  EXPECT_EQ(b.grad().to_vector<double>(), std::vector<double>(4, 6));
  EXPECT_EQ(c.grad().to_vector<double>(), std::vector<double>(2, 12));
}

TEST(EngineTest, LeafGradIsAFreshContiguousTensor) {
  // sum's backward is an expanded view of one number; the leaf must not keep that view
  // (an optimizer writing into it in place would write one element many times).
  Tensor x = zeros({2, 3}, kFloat64).requires_grad_();
  x.sum().backward();
  EXPECT_TRUE(x.grad().is_contiguous());
  EXPECT_FALSE(x.grad().requires_grad());
  EXPECT_EQ(x.grad().to_vector<double>(), std::vector<double>(6, 1));
}

TEST(EngineTest, DetachSharesStorageButLeavesTheGraph) {
  Tensor x = vec({1, 2}).requires_grad_();
  const Tensor y = x * 2.0;
  const Tensor d = y.detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_EQ(d.grad_fn(), nullptr);
  EXPECT_EQ(d.storage(), y.storage());
  // Gradient flows only through the attached branch: d(2x * const)/dx = 2 * (2x).
  (y * d).sum().backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{4, 8}));
}

TEST(EngineTest, RetainGradKeepsTheGradientOfAnIntermediate) {
  Tensor x = vec({1, 2}).requires_grad_();
  Tensor h = x * 3.0;
  Tensor plain = x * 2.0;
  h.retain_grad();
  (h * h + plain).sum().backward();
  ASSERT_TRUE(h.grad().defined());
  EXPECT_EQ(h.grad().to_vector<double>(), (std::vector<double>{6, 12}));  // 2h
  EXPECT_FALSE(plain.grad().defined());  // not asked to keep it
}

TEST(EngineTest, RetainGraphAllowsASecondBackwardThatAccumulates) {
  Tensor x = vec({1, 2}).requires_grad_();
  const Tensor loss = (x * x).sum();
  loss.backward({}, /*retain_graph=*/true);
  loss.backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{4, 8}));
}

TEST(EngineTest, DefaultBackwardFreesTheGraphAndASecondOneSaysRetainGraph) {
  Tensor x = vec({1, 2}).requires_grad_();
  const Tensor loss = (x * x).sum();
  loss.backward();
  try {
    loss.backward();
    FAIL() << "the second backward should have raised";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("retain_graph"), std::string::npos) << e.what();
    EXPECT_EQ(e.op(), "backward");
  }
}

TEST(EngineTest, ChainOf100000OpsBackpropagatesWithoutStackOverflow) {
  // Each op is a Node; a recursive walk (or a recursive destructor) would need 100,000 frames.
  Tensor x = scalar_tensor(1.0, kFloat64).requires_grad_();
  Tensor y = x;
  for (int i = 0; i < 100000; ++i) y = y * 1.0;
  y.backward();
  EXPECT_DOUBLE_EQ(x.grad().item<double>(), 1.0);
}

TEST(EngineTest, ChainOf100000OpsIsDestroyedWithoutStackOverflow) {
  // Never backpropagated: the graph is still whole when the last handle goes.
  Tensor x = vec({1, 2}).requires_grad_();
  Tensor y = x;
  // Every other op a mul, which saves its inputs: each Node is owned twice over.
  for (int i = 0; i < 100000; ++i) y = i % 2 ? y * x : y.tanh();
  std::weak_ptr<autograd::Node> last = y.grad_fn();
  y = Tensor();
  EXPECT_TRUE(last.expired());
}

TEST(EngineTest, ANodeNeverHoldsItsOwnOutput) {
  // exp's backward needs its output y; if the Node captured y, then y -> Node -> y would be a
  // cycle that is never freed. Dropping y must free it even while the graph lives on.
  Tensor x = vec({0.5, 1}).requires_grad_();
  Tensor loss;
  std::weak_ptr<TensorImpl> output;
  std::weak_ptr<autograd::Node> node;
  {
    const Tensor y = x.exp();
    output = y.impl_ptr();
    node = y.grad_fn();
    loss = y.sum();
  }
  EXPECT_TRUE(output.expired());
  EXPECT_FALSE(node.expired());  // still needed by loss
  loss.backward();
  EXPECT_NEAR(x.grad().to_vector<double>()[1], std::exp(1.0), 1e-12);
  loss = Tensor();
  EXPECT_TRUE(node.expired());
}

TEST(EngineTest, AGraphIsFreedWhenItsLastOutputGoes) {
  Tensor x = vec({1, 2}).requires_grad_();
  std::weak_ptr<autograd::Node> first, last;
  {
    const Tensor h = (x * x).tanh();
    first = h.grad_fn();
    const Tensor loss = h.softmax(0).sum();
    last = loss.grad_fn();
  }
  EXPECT_TRUE(first.expired());
  EXPECT_TRUE(last.expired());
}

TEST(EngineTest, BackwardOfSeveralOutputsSumsTheirContributions) {
  Tensor x = vec({1, 2}).requires_grad_();
  const Tensor a = (x * 2.0).sum();
  const Tensor b = (x * x).sum();
  autograd::backward({a, b});
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{4, 6}));
}

TEST(EngineTest, OpsAcceptExpandedAndTransposedOutputGradients) {
  // sum()'s backward hands the next op an expanded dy (stride 0), and a caller may pass a
  // transposed one; every backward must read dy through its strides and give the same bits
  // as with a contiguous dy.
  manual_seed(4);
  Tensor x = randn({3, 4}, kFloat64).requires_grad_();
  const Tensor index = from_vector<int64_t>({2, 0, 2}, {3});
  const std::vector<std::function<Tensor(const Tensor&)>> ops = {
      [](const Tensor& t) { return t.exp(); },
      [](const Tensor& t) { return t.softmax(1); },
      [](const Tensor& t) { return t.log_softmax(0); },
      [](const Tensor& t) { return t.matmul(t.t()); },
      [&](const Tensor& t) { return index_select(t, 0, index); },
      [](const Tensor& t) { return gather(t, 1, from_vector<int64_t>({3, 3, 0}, {3, 1})).expand({3, 3}); },
      [](const Tensor& t) { return t.slice(1, 0, 4, 2).t(); },
      [](const Tensor& t) { return cat({t, t * 2.0}, 0).narrow(0, 1, 3); },
      [](const Tensor& t) { return amax(t, {0}, true).expand({3, 4}) * t; },
      [](const Tensor& t) { return t.var({1}, true, true) + t; },
  };
  for (size_t k = 0; k < ops.size(); ++k) {
    const Tensor y = ops[k](x);
    const Tensor expanded = autograd::grad({y.sum()}, {x}, {}, false, /*retain_graph=*/true)[0];
    const Tensor dense = autograd::grad({y}, {x}, {ones(y.shape(), kFloat64)}, false, true)[0];
    EXPECT_EQ(expanded.to_vector<double>(), dense.to_vector<double>()) << "op " << k;
    if (y.dim() == 2 && y.size(0) == y.size(1)) {
      const Tensor g = randn(y.shape(), kFloat64);
      const Tensor through_t = autograd::grad({y}, {x}, {g.t().contiguous().t()}, false, true)[0];
      const Tensor plain = autograd::grad({y}, {x}, {g}, false, true)[0];
      EXPECT_EQ(through_t.to_vector<double>(), plain.to_vector<double>()) << "op " << k;
    }
  }
}

TEST(EngineTest, BackwardIsBitwiseReproducible) {
  manual_seed(3);
  Tensor w = randn({16, 8}, kFloat64).requires_grad_();
  const Tensor x = randn({4, 16}, kFloat64);
  auto run = [&] {
    w.zero_grad();
    x.matmul(w).tanh().log_softmax(-1).sum().backward();
    return w.grad().to_vector<double>();
  };
  EXPECT_EQ(run(), run());
}

}  // namespace

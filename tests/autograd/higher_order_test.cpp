// higher_order_test.cpp: autograd::grad and create_graph. Backward closures are written with
// differentiable ops, so with create_graph the backward is itself recorded and can be
// differentiated again: second derivatives, Hessian-vector products, gradient penalties.
#include <gtest/gtest.h>

#include <cmath>

#include "autograd/autograd.h"

namespace {

using namespace ag;

Tensor vec(std::vector<double> values) {
  const int64_t n = static_cast<int64_t>(values.size());
  return from_vector<double>(values, {n});
}

TEST(HigherOrderTest, GradReturnsGradientsAndLeavesDotGradAlone) {
  Tensor x = vec({1, 2}).requires_grad_();
  const Tensor y = (x * x).sum();
  const TensorList g = autograd::grad({y}, {x});
  ASSERT_EQ(g.size(), 1u);
  EXPECT_EQ(g[0].to_vector<double>(), (std::vector<double>{2, 4}));
  EXPECT_FALSE(x.grad().defined());
}

TEST(HigherOrderTest, GradOfAnIntermediateIsTheGradientFlowingIntoIt) {
  Tensor x = vec({1, 2}).requires_grad_();
  const Tensor h = x * 3.0;
  const Tensor y = (h * h).sum();
  EXPECT_EQ(autograd::grad({y}, {h})[0].to_vector<double>(), (std::vector<double>{6, 12}));
}

TEST(HigherOrderTest, SecondDerivativeOfACubeIsSixX) {
  Tensor x = vec({0.5, -2}).requires_grad_();
  const Tensor y = x.pow(3.0).sum();
  const Tensor dx = autograd::grad({y}, {x}, {}, /*create_graph=*/true)[0];  // 3x^2
  EXPECT_TRUE(dx.requires_grad());
  const Tensor ddx = autograd::grad({dx.sum()}, {x})[0];                      // 6x
  EXPECT_EQ(dx.to_vector<double>(), (std::vector<double>{0.75, 12}));
  EXPECT_EQ(ddx.to_vector<double>(), (std::vector<double>{3, -12}));
}

TEST(HigherOrderTest, HessianVectorProductMatchesTheHandValue) {
  // f(x) = sum(x^3) + x0 x1 + sum(tanh(x))
  // H = diag(6 x_i - 2 tanh(x_i) sech^2(x_i)) + [[0, 1], [1, 0]]
  const double x0 = 0.3, x1 = -0.7;
  Tensor x = vec({x0, x1}).requires_grad_();
  const Tensor f = x.pow(3.0).sum() + x.select(0, 0) * x.select(0, 1) + x.tanh().sum();
  const Tensor g = autograd::grad({f}, {x}, {}, /*create_graph=*/true)[0];
  const Tensor v = vec({1, -2});
  const Tensor hv = autograd::grad({(g * v).sum()}, {x})[0];
  auto curvature = [](double t) {
    const double sech2 = 1 - std::tanh(t) * std::tanh(t);
    return 6 * t - 2 * std::tanh(t) * sech2;
  };
  const double h00 = curvature(x0), h11 = curvature(x1);
  const auto got = hv.to_vector<double>();
  EXPECT_NEAR(got[0], h00 * 1 + 1 * -2, 1e-12);
  EXPECT_NEAR(got[1], 1 * 1 + h11 * -2, 1e-12);
}

TEST(HigherOrderTest, BackwardWithCreateGraphRecordsTheGradient) {
  Tensor x = vec({1, 3}).requires_grad_();
  (x * x * x).sum().backward({}, /*retain_graph=*/false, /*create_graph=*/true);
  const Tensor dx = x.grad();  // 3x^2, itself differentiable
  ASSERT_TRUE(dx.requires_grad());
  EXPECT_EQ(dx.to_vector<double>(), (std::vector<double>{3, 27}));
  const Tensor ddx = autograd::grad({dx.sum()}, {x})[0];
  EXPECT_EQ(ddx.to_vector<double>(), (std::vector<double>{6, 18}));
  // x.grad's graph leads back to x: a reference cycle (as in PyTorch), broken here.
  x.zero_grad();
}

TEST(HigherOrderTest, SecondDerivativeThroughOpsThatSaveTheirOutput) {
  // softmax, exp, tanh and sigmoid hand their backward the output y; with create_graph the
  // backward must still see y as a function of x. d2/dx2 of sum(sigmoid(x)) = s(1-s)(1-2s).
  Tensor x = vec({0.2, -1.3}).requires_grad_();
  const Tensor g = autograd::grad({x.sigmoid().sum()}, {x}, {}, true)[0];
  const auto h = autograd::grad({g.sum()}, {x})[0].to_vector<double>();
  for (int i = 0; i < 2; ++i) {
    const double t = i == 0 ? 0.2 : -1.3, s = 1 / (1 + std::exp(-t));
    EXPECT_NEAR(h[i], s * (1 - s) * (1 - 2 * s), 1e-12);
  }
}

TEST(HigherOrderTest, CreateGraphNeverStoresAnAliasAsALeafsGrad) {
  // With create_graph, x.sum()'s gradient is ones expanded to x's shape (stride 0); stored as
  // x.grad, the next accumulation would write three values into its one memory slot.
  Tensor x = zeros({3}, kFloat64).requires_grad_();
  x.sum().backward({}, false, /*create_graph=*/true);
  (x * from_vector<double>({1, 2, 3}, {3})).sum().backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{2, 3, 4}));
  // Nor the caller's own gradient tensor: clone's backward passes dy straight through.
  Tensor z = zeros({2}, kFloat64).requires_grad_();
  const Tensor g = from_vector<double>({5, 6}, {2});
  z.clone().backward(g, false, /*create_graph=*/true);
  z.clone().backward(g);
  EXPECT_EQ(g.to_vector<double>(), (std::vector<double>{5, 6}));
  EXPECT_EQ(z.grad().to_vector<double>(), (std::vector<double>{10, 12}));
}

TEST(HigherOrderTest, UnusedInputsAreAnErrorUnlessAllowed) {
  Tensor x = vec({1, 2}).requires_grad_();
  Tensor unused = vec({3}).requires_grad_();
  const Tensor y = (x * 2.0).sum();
  try {
    (void)autograd::grad({y}, {x, unused}, {}, false, /*retain_graph=*/true);
    FAIL() << "an unused input should be an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("allow_unused"), std::string::npos) << e.what();
  }
  const TensorList g = autograd::grad({y}, {x, unused}, {}, false, std::nullopt, /*allow_unused=*/true);
  EXPECT_TRUE(g[0].defined());
  EXPECT_FALSE(g[1].defined());
}

TEST(HigherOrderTest, GradWithExplicitOutputGradients) {
  Tensor x = vec({1, 2, 3}).requires_grad_();
  const Tensor y = x * x;
  const Tensor g = autograd::grad({y}, {x}, {vec({1, 0, -1})})[0];
  EXPECT_EQ(g.to_vector<double>(), (std::vector<double>{2, 0, -6}));
}

TEST(HigherOrderTest, GradientPenaltyTrainsThroughTheGradient) {
  // L = |d/dx sum(w * x^2)|^2 = sum((2 w x)^2)   dL/dw = 8 w x^2
  Tensor w = vec({0.5, -1}).requires_grad_();
  Tensor x = vec({2, 3}).requires_grad_();
  const Tensor dx = autograd::grad({(w * x * x).sum()}, {x}, {}, true)[0];
  (dx * dx).sum().backward();
  EXPECT_EQ(w.grad().to_vector<double>(), (std::vector<double>{8 * 0.5 * 4, 8 * -1 * 9}));
}

}  // namespace

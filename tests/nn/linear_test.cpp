// linear_test.cpp: nn::Linear: PyTorch's (out, in) layout, PyTorch's default init bounds,
// reproducible init under manual_seed, and y = x W^T + b.
#include <gtest/gtest.h>

#include <cmath>

#include "nn/nn.h"

using namespace ag;

namespace {
double max_abs_diff(const Tensor& a, const Tensor& b) { return (a - b).abs().max().item<double>(); }
}  // namespace

TEST(LinearTest, WeightIsOutByInAndBiasIsOut) {
  nn::Linear linear(5, 3);
  EXPECT_EQ(linear.weight.shape(), (Shape{3, 5}));
  EXPECT_EQ(linear.bias.shape(), (Shape{3}));
  const auto named = linear.named_parameters();
  ASSERT_EQ(named.size(), 2u);
  EXPECT_EQ(named[0].first, "weight");
  EXPECT_EQ(named[1].first, "bias");
  EXPECT_TRUE(linear.weight.requires_grad());
  EXPECT_EQ(linear.name(), "Linear(in_features=5, out_features=3, bias=true)");
}

TEST(LinearTest, WithoutBiasHasOnlyAWeight) {
  nn::Linear linear(4, 2, /*bias=*/false);
  EXPECT_FALSE(linear.bias.defined());
  EXPECT_EQ(linear.parameters().size(), 1u);
  manual_seed(0);
  const Tensor x = randn({3, 4});
  EXPECT_LT(max_abs_diff(linear(x), x.matmul(linear.weight.t())), 1e-6);
}

TEST(LinearTest, InitStaysWithinPyTorchBoundAndFillsIt) {
  // kaiming_uniform(a = sqrt(5)) on fan_in 16 is U(-1/4, 1/4); the bias uses the same bound.
  manual_seed(3);
  nn::Linear linear(16, 32);
  const double bound = 1.0 / std::sqrt(16.0);
  for (const Tensor& p : {linear.weight, linear.bias}) {
    const double max_abs = p.abs().max().item<double>();
    EXPECT_LE(max_abs, bound);
    EXPECT_GT(max_abs, 0.8 * bound);  // 512 (or 32) uniform draws reach the edge
  }
  // U(-b, b) has variance b^2 / 3.
  const double var = linear.weight.pow(2.0).mean().item<double>();
  EXPECT_NEAR(var, bound * bound / 3.0, 0.15 * bound * bound / 3.0);
}

TEST(LinearTest, ManualSeedMakesInitReproducible) {
  manual_seed(42);
  nn::Linear a(7, 5);
  manual_seed(42);
  nn::Linear b(7, 5);
  EXPECT_EQ(a.weight.to_vector<float>(), b.weight.to_vector<float>());
  EXPECT_EQ(a.bias.to_vector<float>(), b.bias.to_vector<float>());
  manual_seed(43);
  nn::Linear c(7, 5);
  EXPECT_NE(a.weight.to_vector<float>(), c.weight.to_vector<float>());
}

TEST(LinearTest, ForwardIsXTimesWTransposePlusBias) {
  manual_seed(1);
  nn::Linear linear(5, 3);
  const Tensor x = randn({2, 4, 5});                                  // (B, T, in)
  const Tensor expected = x.matmul(linear.weight.t()) + linear.bias;  // (B, T, out)
  const Tensor y = linear(x);
  EXPECT_EQ(y.shape(), (Shape{2, 4, 3}));
  EXPECT_LT(max_abs_diff(y, expected), 1e-6);
}

TEST(LinearTest, GradientsReachWeightAndBias) {
  manual_seed(2);
  nn::Linear linear(3, 2);
  linear.to(kFloat64);
  const Tensor x = randn({4, 3}, kFloat64);
  auto r = autograd::gradcheck([&](const TensorList&) { return linear(x); },
                               {linear.weight, linear.bias});
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(LinearTest, SharedWeightIsTheSameTensor) {
  const Tensor w = randn({6, 4});
  nn::Linear linear(w);
  EXPECT_TRUE(linear.weight.is_same(w));
  EXPECT_EQ(linear.in_features, 4);
  EXPECT_EQ(linear.out_features, 6);
  EXPECT_FALSE(linear.bias.defined());
}

TEST(LinearTest, WrongInputSizeNamesTheShapes) {
  nn::Linear linear(5, 3);
  try {
    linear(randn({2, 4}));
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "Linear: expected an input of shape (..., 5), got (2, 4)");
  }
  EXPECT_THROW(nn::Linear(0, 3), Error);
}

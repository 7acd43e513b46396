// softmax_test.cpp: F::softmax and F::log_softmax: invariance to shifting a row, finite results
// at float32 logits of +-1e4 (softmax, log_softmax and cross_entropy), the all -inf row, and
// float64 gradchecks, including near saturation where the Jacobian is nearly zero.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "functional_test_helpers.h"
#include "nn/functional.h"

using namespace ag;
using namespace ag::testing;
namespace F = ag::nn::functional;

TEST(SoftmaxTest, ShiftingARowByAConstantChangesNothing) {
  // softmax(x + c) = softmax(x): the kernel subtracts the row max, which cancels c. Up to
  // c = 1e4 the only difference is the rounding of x + c itself (~1e4 * 2^-52).
  manual_seed(1);
  const Tensor x = randn({4, 7}, kFloat64);
  const Tensor reference = F::softmax(x, -1);
  for (double c : {1.0, 100.0, 1e4, -1e4}) {
    EXPECT_LT(max_abs_diff(F::softmax(x + c, -1), reference), 1e-11) << "shift " << c;
    EXPECT_LT(max_abs_diff(F::log_softmax(x + c, -1), F::log_softmax(x, -1)), 1e-11)
        << "shift " << c;
  }
}

TEST(SoftmaxTest, Float32LogitsOf1e4GiveFiniteValuesAndGradients) {
  // exp(1e4) overflows float32 (and float64); shifting by the row max keeps every exp() <= 1.
  Tensor x = from_vector<float>({1e4f, -1e4f, 0.f, 1e4f, 1e4f - 1.f, -1e4f}, {2, 3}).requires_grad_();
  const Tensor g = from_vector<float>({1.f, -2.f, 0.5f, 0.25f, 1.f, -1.f}, {2, 3});
  Tensor y = F::softmax(x, -1);
  EXPECT_TRUE(all_finite(y)) << y;
  (y * g).sum().backward();
  EXPECT_TRUE(all_finite(x.grad())) << x.grad();

  x.zero_grad();
  Tensor ly = F::log_softmax(x, -1);
  EXPECT_TRUE(all_finite(ly)) << ly;
  // Row 0 is [1e4, -1e4, 0]: log_softmax = [0, -2e4, -1e4] up to exp(-1e4), which is 0.
  EXPECT_EQ(ly.to_vector<float>()[0], 0.f);
  EXPECT_EQ(ly.to_vector<float>()[1], -2e4f);
  EXPECT_EQ(ly.to_vector<float>()[2], -1e4f);
  (ly * g).sum().backward();
  EXPECT_TRUE(all_finite(x.grad())) << x.grad();

  x.zero_grad();
  Tensor loss = F::cross_entropy(x, from_vector<int64_t>({1, 2}, {2}));
  EXPECT_TRUE(all_finite(loss)) << loss;
  EXPECT_NEAR(loss.item(), (2e4 + (1e4 + std::log1p(std::exp(-1.0)) - (-1e4))) / 2, 1.0);
  loss.backward();
  EXPECT_TRUE(all_finite(x.grad())) << x.grad();
}

TEST(SoftmaxTest, RowOfMinusInfinityGivesZerosNotNaN) {
  // Every key masked: softmax is 0/0. Defined as zeros, and the gradient through it is zero.
  const double inf = std::numeric_limits<double>::infinity();
  Tensor x = from_vector<double>({-inf, -inf, -inf, 1.0, 2.0, -inf}, {2, 3}).requires_grad_();
  Tensor y = F::softmax(x, -1);
  EXPECT_EQ(y.to_vector<double>()[0], 0.0);
  EXPECT_EQ(y.to_vector<double>()[1], 0.0);
  EXPECT_EQ(y.to_vector<double>()[2], 0.0);
  EXPECT_EQ(y.to_vector<double>()[5], 0.0);
  (y * from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3})).sum().backward();
  EXPECT_TRUE(all_finite(x.grad())) << x.grad();
  EXPECT_EQ(max_abs(x.grad().select(0, 0)), 0.0);
}

TEST(SoftmaxTest, GradcheckAlongEveryDimAndNonContiguous) {
  manual_seed(2);
  const Tensor x = randn({3, 4, 5}, kFloat64).requires_grad_();
  for (int64_t dim : {0, 1, -1}) {
    auto r = autograd::gradcheck([dim](const TensorList& in) { return F::softmax(in[0], dim); }, {x});
    EXPECT_TRUE(r.ok) << "dim " << dim << ": " << r.message;
    auto l = autograd::gradcheck([dim](const TensorList& in) { return F::log_softmax(in[0], dim); }, {x});
    EXPECT_TRUE(l.ok) << "dim " << dim << ": " << l.message;
  }
  // A transposed (non-contiguous) input, and a size-1 softmax dim (output constant 1).
  auto r = autograd::gradcheck(
      [](const TensorList& in) { return F::softmax(in[0].transpose(0, 2), -1); }, {x});
  EXPECT_TRUE(r.ok) << r.message;
  const Tensor one = randn({4, 1}, kFloat64).requires_grad_();
  auto r1 = autograd::gradcheck([](const TensorList& in) { return F::log_softmax(in[0], -1); }, {one});
  EXPECT_TRUE(r1.ok) << r1.message;
}

TEST(SoftmaxTest, GradcheckNearSaturation) {
  // Logits spread over +-60: most weights are ~1e-26 and one is ~1, so the Jacobian
  // y (I - y^T) is almost zero. The backward must still match central differences there.
  manual_seed(3);
  const Tensor x = (randn({3, 6}, kFloat64) * 30.0).detach().requires_grad_();
  auto r = autograd::gradcheck([](const TensorList& in) { return F::softmax(in[0], -1); }, {x});
  EXPECT_TRUE(r.ok) << r.message;
  auto l = autograd::gradcheck([](const TensorList& in) { return F::log_softmax(in[0], -1); }, {x});
  EXPECT_TRUE(l.ok) << l.message;
  auto gg = autograd::gradgradcheck([](const TensorList& in) { return F::softmax(in[0], -1); }, {x});
  EXPECT_TRUE(gg.ok) << gg.message;
}

TEST(SoftmaxTest, RejectsIntegerInputAndBadDim) {
  expect_error([] { F::softmax(arange(6.0).view({2, 3}), -1); },
               {"softmax", "expected a floating input", "int64", "(2, 3)"});
  expect_error([] { F::log_softmax(zeros({2, 3}), 2); }, {"log_softmax"});
}

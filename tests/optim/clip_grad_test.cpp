// clip_grad_test.cpp: clip_grad_norm_ against norms worked out by hand, the NaN/Inf policy
// (reported, never spread), thread-count independence, and clip_grad_value_.
#include <gtest/gtest.h>

#include <cmath>

#include "optim/optim.h"

using namespace ag;
namespace optim = ag::optim;

namespace {
Tensor param_with_grad(const std::vector<double>& grad, DType dtype = kFloat64) {
  Tensor p = zeros({static_cast<int64_t>(grad.size())}, dtype).requires_grad_();
  p.set_grad(from_vector(grad, {static_cast<int64_t>(grad.size())}, dtype));
  return p;
}
}  // namespace

TEST(ClipGradTest, TotalNormIsTheNormOfAllGradientsAsOneVector) {
  // (3, 4) and (12): 9 + 16 + 144 = 169, so the 2-norm is 13.
  Tensor a = param_with_grad({3, 4});
  Tensor b = param_with_grad({12});
  Tensor no_grad = zeros({2}, kFloat64).requires_grad_();  // skipped
  const double total = optim::clip_grad_norm_({a, no_grad, b}, 6.5);
  EXPECT_EQ(total, 13.0);
  // Scaled by max_norm / (total + 1e-6), PyTorch's coefficient.
  const double coef = 6.5 / (13.0 + 1e-6);
  EXPECT_EQ(a.grad().to_vector<double>(), (std::vector<double>{3 * coef, 4 * coef}));
  EXPECT_EQ(b.grad().to_vector<double>(), (std::vector<double>{12 * coef}));
  EXPECT_FALSE(no_grad.grad().defined());
}

TEST(ClipGradTest, OtherNormTypes) {
  Tensor a = param_with_grad({3, -4});
  Tensor b = param_with_grad({-12});
  EXPECT_EQ(optim::clip_grad_norm_({a, b}, 100.0, INFINITY), 12.0);
  EXPECT_EQ(optim::clip_grad_norm_({a, b}, 100.0, 1.0), 19.0);
  EXPECT_NEAR(optim::clip_grad_norm_({a, b}, 100.0, 3.0), std::cbrt(27.0 + 64.0 + 1728.0), 1e-12);
  EXPECT_THROW(optim::clip_grad_norm_({a, b}, 1.0, 0.0), Error);
  EXPECT_THROW(optim::clip_grad_norm_({a, b}, -1.0), Error);
}

TEST(ClipGradTest, ANormBelowTheLimitLeavesTheBitsAlone) {
  Tensor a = param_with_grad({0.1, 0.2}, kFloat32);
  const std::vector<float> before = a.grad().to_vector<float>();
  EXPECT_NEAR(optim::clip_grad_norm_({a}, 1.0), std::sqrt(0.05), 1e-7);
  EXPECT_EQ(a.grad().to_vector<float>(), before);
}

TEST(ClipGradTest, ANaNGradIsReportedAndNotSpread) {
  Tensor w = from_vector<float>({1, 2}, {2}).requires_grad_();
  w.set_grad(from_vector<float>({NAN, 1}, {2}));
  Tensor v = from_vector<float>({3}, {1}).requires_grad_();
  v.set_grad(from_vector<float>({100}, {1}));  // would be clipped if the norm were finite
  const double total = optim::clip_grad_norm_({w, v}, 1.0);
  EXPECT_TRUE(std::isnan(total));
  EXPECT_EQ(v.grad().to_vector<float>(), (std::vector<float>{100}));  // not multiplied by NaN
  EXPECT_EQ(w.grad().to_vector<float>()[1], 1.0f);
  EXPECT_EQ(w.to_vector<float>(), (std::vector<float>{1, 2}));
  EXPECT_EQ(v.to_vector<float>(), (std::vector<float>{3}));

  try {
    optim::clip_grad_norm_({v, w}, 1.0, 2.0, /*error_if_nonfinite=*/true);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "clip_grad_norm_: the total norm of order 2 of the gradients is nan "
                           "(the gradient of parameter 1 holds a NaN or Inf); the gradients "
                           "were left as they are");
  }
  EXPECT_EQ(v.grad().to_vector<float>(), (std::vector<float>{100}));
}

TEST(ClipGradTest, AnInfGradIsReportedToo) {
  Tensor w = param_with_grad({INFINITY, 1.0});
  EXPECT_TRUE(std::isinf(optim::clip_grad_norm_({w}, 1.0)));
  EXPECT_TRUE(std::isinf(optim::clip_grad_norm_({w}, 1.0, INFINITY)));
  EXPECT_EQ(w.grad().to_vector<double>()[1], 1.0);
}

TEST(ClipGradTest, ABroadcastGradIsClippedWithoutAliasing) {
  // The backward of sum() gives every element the same stride-0 one: scaling it in place
  // would scale the one shared element once per element.
  Tensor w = zeros({4}).requires_grad_();
  w.sum().backward();
  EXPECT_EQ(optim::clip_grad_norm_({w}, 1.0), 2.0);
  for (float g : w.grad().to_vector<float>()) EXPECT_NEAR(g, 0.5f, 1e-6f);
}

TEST(ClipGradTest, TheNormIsTheSameBitsWithOneOrManyThreads) {
  const int threads = get_num_threads();
  std::vector<double> totals;
  for (int n : {1, 3}) {
    set_num_threads(n);
    manual_seed(5);
    Tensor w = zeros({200001}).requires_grad_();  // several chunks, ragged tail
    w.set_grad(randn({200001}));
    totals.push_back(optim::clip_grad_norm_({w}, 1e9));
  }
  set_num_threads(threads);
  EXPECT_EQ(totals[0], totals[1]);
}

TEST(ClipGradTest, ClipGradValueClampsEachElement) {
  Tensor a = param_with_grad({-3, 0.5, 2, NAN});
  optim::clip_grad_value_({a}, 1.0);
  const std::vector<double> g = a.grad().to_vector<double>();
  EXPECT_EQ(g[0], -1.0);
  EXPECT_EQ(g[1], 0.5);
  EXPECT_EQ(g[2], 1.0);
  EXPECT_TRUE(std::isnan(g[3]));  // a NaN stays NaN, as torch.clamp
  EXPECT_THROW(optim::clip_grad_value_({a}, -1.0), Error);
}

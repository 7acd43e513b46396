// dropout_test.cpp: F::dropout: the identity in eval mode and at p = 0, zeros at p = 1, the
// mean kept while training (a seeded statistical test), the backward applying the very mask
// the forward drew, reproducibility from the seed, and a gradcheck.
#include <gtest/gtest.h>

#include <cmath>

#include "functional_test_helpers.h"
#include "nn/functional.h"

using namespace ag;
using namespace ag::testing;
namespace F = ag::nn::functional;

TEST(DropoutTest, EvalAndPZeroAreTheIdentity) {
  manual_seed(40);
  const Tensor x = randn({3, 4});
  EXPECT_TRUE(F::dropout(x, 0.5, /*training=*/false).is_same(x));
  EXPECT_TRUE(F::dropout(x, 0.0, /*training=*/true).is_same(x));
  // Neither draws random numbers: the global stream is untouched.
  const uint64_t offset = default_generator().offset();
  F::dropout(x, 0.9, false);
  EXPECT_EQ(default_generator().offset(), offset);
}

TEST(DropoutTest, POneGivesZerosAndZeroGradients) {
  Tensor x = from_vector<double>({1, -2, 3, 1e300}, {4}).requires_grad_();
  Tensor y = F::dropout(x, 1.0, true);
  EXPECT_EQ(max_abs(y), 0.0);
  EXPECT_TRUE(all_finite(y));  // no 0 * inf from a 1/(1-p) scale
  y.sum().backward();
  EXPECT_EQ(max_abs(x.grad()), 0.0);
}

TEST(DropoutTest, TrainingKeepsTheMean) {
  // Each output is 1/(1-p) with probability 1-p, else 0: mean 1, variance p/(1-p) = 3/7.
  // Over n = 100,000 elements the sample mean has standard deviation sqrt(3/7 / n) ~ 0.0021,
  // and the dropped fraction sqrt(p(1-p)/n) ~ 0.0014; the tolerances are about 5 of those.
  manual_seed(41);
  const double p = 0.3;
  const int64_t n = 100000;
  const Tensor y = F::dropout(ones({n}, kFloat64), p, true);
  const std::vector<double> values = y.to_vector<double>();
  double sum = 0.0;
  int64_t dropped = 0;
  for (double v : values) {
    sum += v;
    if (v == 0.0) ++dropped;
    else EXPECT_DOUBLE_EQ(v, 1.0 / (1.0 - p));
  }
  EXPECT_NEAR(sum / n, 1.0, 0.01);
  EXPECT_NEAR(static_cast<double>(dropped) / n, p, 0.007);
}

TEST(DropoutTest, BackwardAppliesTheSameMask) {
  manual_seed(42);
  const double p = 0.4;
  Tensor x = (randn({50}, kFloat64) + 3.0).detach().requires_grad_();  // no element is 0
  const Tensor g = randn({50}, kFloat64);
  Tensor y = F::dropout(x, p, true);
  (y * g).sum().backward();
  const auto xs = x.to_vector<double>(), ys = y.to_vector<double>();
  const auto gs = g.to_vector<double>(), dx = x.grad().to_vector<double>();
  for (size_t i = 0; i < xs.size(); ++i) {
    const double mask = ys[i] / xs[i];  // 0 or 1/(1-p)
    EXPECT_EQ(dx[i], ys[i] == 0.0 ? 0.0 : gs[i] / (1.0 - p)) << i;
    EXPECT_NEAR(mask == 0.0 ? 0.0 : mask, ys[i] == 0.0 ? 0.0 : 1.0 / (1.0 - p), 1e-12);
  }
}

TEST(DropoutTest, TheSeedFixesTheMask) {
  const Tensor x = ones({64});
  manual_seed(43);
  const Tensor a = F::dropout(x, 0.5, true);
  manual_seed(43);
  const Tensor b = F::dropout(x, 0.5, true);
  const Tensor c = F::dropout(x, 0.5, true);  // the stream moved on: another mask
  EXPECT_TRUE(bitwise_equal(a, b));
  EXPECT_FALSE(bitwise_equal(a, c));
}

TEST(DropoutTest, Gradcheck) {
  // gradcheck restores the global generator before every call, so the mask is fixed.
  manual_seed(44);
  const Tensor x = randn({3, 5}, kFloat64).requires_grad_();
  auto r = autograd::gradcheck([](const TensorList& in) { return F::dropout(in[0], 0.3, true); }, {x});
  EXPECT_TRUE(r.ok) << r.message;
  auto rt = autograd::gradcheck(
      [](const TensorList& in) { return F::dropout(in[0].t(), 0.5, true); }, {x});
  EXPECT_TRUE(rt.ok) << rt.message;
}

TEST(DropoutTest, RejectsBadProbabilityAndIntegerInput) {
  for (double p : {-0.1, 1.01, std::nan("")})
    expect_error([p] { F::dropout(zeros({2}), p, true); },
                 {"dropout", "the probability p must be in [0, 1]"});
  expect_error([] { F::dropout(zeros({2}), 1.5, false); }, {"dropout", "got 1.5"});
  expect_error([] { F::dropout(zeros({2, 2}, kInt64), 0.5, true); },
               {"dropout", "expected a floating input", "int64", "(2, 2)"});
}

// masked_softmax_test.cpp: softmax after masked_fill(-inf), the attention idiom. Masked
// entries get probability 0 and gradient 0; a row with every entry masked gives zeros forward
// and zero gradients backward, never NaN (DESIGN: a fully masked query row is defined).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "autograd/autograd.h"

namespace {

using namespace ag;

constexpr double kInf = std::numeric_limits<double>::infinity();

bool all_finite(const Tensor& t) {
  for (double v : t.to_vector<double>())
    if (!std::isfinite(v)) return false;
  return true;
}

TEST(MaskedSoftmaxTest, MaskedEntriesGetZeroProbabilityAndZeroGradient) {
  Tensor scores = from_vector<double>({0.5, 1.5, -1, 2, 0, 3}, {2, 3}).requires_grad_();
  const Tensor mask = from_vector<bool>({false, true, false, true, false, false}, {2, 3});
  const Tensor p = scores.masked_fill(mask, -kInf).softmax(-1);
  EXPECT_EQ(p.to_vector<double>()[1], 0.0);
  EXPECT_EQ(p.to_vector<double>()[3], 0.0);
  (p * from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3})).sum().backward();
  const auto g = scores.grad().to_vector<double>();
  EXPECT_TRUE(all_finite(scores.grad()));
  EXPECT_EQ(g[1], 0.0);
  EXPECT_EQ(g[3], 0.0);
  EXPECT_NE(g[0], 0.0);
}

TEST(MaskedSoftmaxTest, AFullyMaskedRowGivesZerosAndZeroGradientsNotNaN) {
  Tensor scores = from_vector<double>({0.5, 1.5, -1, 2, 0, 3}, {2, 3}).requires_grad_();
  const Tensor mask = from_vector<bool>({true, true, true, false, true, false}, {2, 3});
  const Tensor p = scores.masked_fill(mask, -kInf).softmax(-1);
  EXPECT_EQ(p.select(0, 0).to_vector<double>(), std::vector<double>(3, 0.0));
  (p * from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3})).sum().backward();
  EXPECT_TRUE(all_finite(scores.grad()));
  EXPECT_EQ(scores.grad().select(0, 0).to_vector<double>(), std::vector<double>(3, 0.0));
}

TEST(MaskedSoftmaxTest, LogsumexpAndLogSoftmaxOfAFullyMaskedRowHaveFiniteGradients) {
  Tensor scores = from_vector<double>({1, 2, 3, 4}, {2, 2}).requires_grad_();
  const Tensor masked = scores.masked_fill(from_vector<bool>({true, true, false, false}, {2, 2}), -kInf);
  masked.logsumexp(1).select(0, 1).backward({}, /*retain_graph=*/true);  // the live row only
  EXPECT_TRUE(all_finite(scores.grad()));
  scores.zero_grad();
  // The masked row's own log-probabilities are -inf; a loss reads only live entries.
  masked.log_softmax(1).select(0, 1).sum().backward();
  EXPECT_TRUE(all_finite(scores.grad()));
  EXPECT_EQ(scores.grad().select(0, 0).to_vector<double>(), std::vector<double>(2, 0.0));
}

TEST(MaskedSoftmaxTest, SecondDerivativesThroughAMaskAreFinite) {
  Tensor scores = from_vector<double>({0.5, 1.5, -1, 2}, {2, 2}).requires_grad_();
  const Tensor mask = from_vector<bool>({true, true, false, true}, {2, 2});
  const Tensor p = scores.masked_fill(mask, -kInf).softmax(-1);
  const Tensor g = autograd::grad({(p * p).sum()}, {scores}, {}, /*create_graph=*/true)[0];
  const Tensor h = autograd::grad({g.sum()}, {scores})[0];
  EXPECT_TRUE(all_finite(g));
  EXPECT_TRUE(all_finite(h));
}

}  // namespace

// softmax_test.cpp: softmax, log_softmax and logsumexp against plain formulas, along any dim
// and through strided inputs. They subtract the row max first, so logits of 1e4 neither
// overflow nor lose the answer, and a row that is entirely -inf (every key masked) gives
// zeros (softmax) or -inf (log_softmax, logsumexp) instead of NaN.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "autograd/ops.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace {

using namespace ag;

constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(SoftmaxTest, RowsMatchThePlainFormulaAlongEveryDim) {
  manual_seed(0);
  const Tensor x = randn({3, 4, 5}, kFloat64);
  const auto v = x.to_vector<double>();
  for (int64_t dim : {0, 1, 2, -1}) {
    const int64_t d = dim < 0 ? dim + 3 : dim;
    const auto s = x.softmax(dim).to_vector<double>();
    const auto ls = x.log_softmax(dim).to_vector<double>();
    const auto lse = x.logsumexp(dim, true).to_vector<double>();
    const Strides st = x.strides();
    const Shape out_shape = x.logsumexp(dim, true).shape();
    for (int64_t e = 0; e < 60; ++e) {
      const int64_t i = e / 20, j = (e / 5) % 4, k = e % 5;
      const int64_t base = e - (d == 0 ? i : d == 1 ? j : k) * st[d];
      double total = 0;
      for (int64_t r = 0; r < x.size(d); ++r) total += std::exp(v[base + r * st[d]]);
      EXPECT_NEAR(s[e], std::exp(v[e]) / total, 1e-15) << "dim " << dim;
      EXPECT_NEAR(ls[e], v[e] - std::log(total), 1e-14) << "dim " << dim;
      const int64_t ri = d == 0 ? 0 : i, rj = d == 1 ? 0 : j, rk = d == 2 ? 0 : k;
      EXPECT_NEAR(lse[(ri * out_shape[1] + rj) * out_shape[2] + rk], std::log(total), 1e-14);
    }
  }
}

TEST(SoftmaxTest, StridedInputsGiveTheSameAsContiguousOnes) {
  manual_seed(1);
  const Tensor x = randn({6, 7}, kFloat64);
  const Tensor t = x.t();  // (7, 6), non-contiguous
  EXPECT_EQ(t.softmax(1).to_vector<double>(), t.contiguous().softmax(1).to_vector<double>());
  EXPECT_EQ(t.log_softmax(0).to_vector<double>(), t.contiguous().log_softmax(0).to_vector<double>());
  EXPECT_EQ(x.slice(1, 0, 7, 2).logsumexp(1).to_vector<double>(),
            x.slice(1, 0, 7, 2).contiguous().logsumexp(1).to_vector<double>());
}

TEST(SoftmaxTest, RowsSumToOne) {
  manual_seed(2);
  const Tensor s = (randn({50, 33}) * 5.0f).softmax(-1);
  for (double total : s.sum({1}).to_vector<double>())
    EXPECT_NEAR(total, 1.0, 1e-6);
}

TEST(SoftmaxTest, HugeLogitsNeitherOverflowNorLoseTheAnswer) {
  const Tensor x = from_vector<float>({1e4f, 1e4f - 1, 0}, {3});
  const auto s = x.softmax(0).to_vector<double>();
  EXPECT_NEAR(s[0], 1 / (1 + std::exp(-1.0)), 1e-6);
  EXPECT_NEAR(s[1], std::exp(-1.0) / (1 + std::exp(-1.0)), 1e-6);
  EXPECT_EQ(s[2], 0.0);
  EXPECT_NEAR(x.logsumexp(0).item<double>(), 1e4 + std::log(1 + std::exp(-1.0)), 1e-2);
  EXPECT_TRUE(std::isfinite(x.log_softmax(0).to_vector<double>()[2]));
  EXPECT_NEAR((-x).log_softmax(0).to_vector<double>()[2], 0.0, 1e-6);
}

TEST(SoftmaxTest, AFullyMaskedRowGivesZerosNotNaN) {
  const Tensor x = from_vector<double>({-kInf, -kInf, -kInf, 1, -kInf, 1}, {2, 3});
  EXPECT_EQ(x.softmax(1).to_vector<double>(), (std::vector<double>{0, 0, 0, 0.5, 0, 0.5}));
  const auto ls = x.log_softmax(1).to_vector<double>();
  for (int i : {0, 1, 2, 4}) EXPECT_EQ(ls[i], -kInf);
  EXPECT_NEAR(ls[3], std::log(0.5), 1e-15);
  const auto lse = x.logsumexp(1).to_vector<double>();
  EXPECT_EQ(lse[0], -kInf);
  EXPECT_NEAR(lse[1], 1 + std::log(2.0), 1e-15);
}

TEST(SoftmaxTest, NaNInputsGiveNaNOutputs) {
  const Tensor x = from_vector<double>({1, NAN, 2}, {3});
  for (double v : x.softmax(0).to_vector<double>()) EXPECT_TRUE(std::isnan(v));
  EXPECT_TRUE(std::isnan(x.logsumexp(0).item<double>()));
}

TEST(SoftmaxTest, EdgeShapes) {
  EXPECT_EQ(scalar_tensor(3.0, kFloat64).softmax(0).item<double>(), 1.0);
  EXPECT_EQ(scalar_tensor(3.0, kFloat64).log_softmax(0).item<double>(), 0.0);
  EXPECT_EQ(scalar_tensor(3.0, kFloat64).logsumexp(0).item<double>(), 3.0);
  EXPECT_EQ(zeros({4, 1}).softmax(1).to_vector<float>(), std::vector<float>(4, 1.f));
  EXPECT_EQ(zeros({0, 3}).softmax(1).shape(), Shape({0, 3}));
  EXPECT_EQ(zeros({3, 0}).softmax(1).shape(), Shape({3, 0}));
  EXPECT_EQ(zeros({2, 0}).logsumexp(1).to_vector<float>(), std::vector<float>(2, -INFINITY));
}

}  // namespace

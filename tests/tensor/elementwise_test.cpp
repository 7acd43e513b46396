// elementwise_test.cpp: the elementwise kernels against plain loops. Binary ops broadcast as
// NumPy does, and any operand may be a strided view (transposed, sliced, expanded): the result
// must equal a naive loop over the broadcast multi-index. Also comparisons, where, masked_fill,
// the logic ops, and functions that must not overflow (sigmoid) or lose their sign.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <numbers>

#include "autograd/ops.h"
#include "tensor/kernels.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace {

using namespace ag;

// Element `out_index` of the broadcast shape, read from a row-major vector of `shape`.
double broadcast_read(const std::vector<double>& values, const Shape& shape,
                      const std::vector<int64_t>& out_index) {
  int64_t offset = 0, stride = 1;
  const size_t lead = out_index.size() - shape.size();
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    const int64_t i = shape[d] == 1 ? 0 : out_index[lead + d];
    offset += i * stride;
    stride *= shape[d];
  }
  return values[static_cast<size_t>(offset)];
}

// The naive broadcast of f over a and b, in row-major order of the broadcast shape.
std::vector<double> naive_binary(const Tensor& a, const Tensor& b,
                                 const std::function<double(double, double)>& f) {
  const Shape out = broadcast_shapes(a.shape(), b.shape(), "test");
  const auto va = a.to_vector<double>(), vb = b.to_vector<double>();
  std::vector<double> result;
  std::vector<int64_t> index(out.size(), 0);
  for (int64_t e = 0; e < out.numel(); ++e) {
    result.push_back(f(broadcast_read(va, a.shape(), index), broadcast_read(vb, b.shape(), index)));
    for (int64_t d = static_cast<int64_t>(out.size()) - 1; d >= 0; --d) {
      if (++index[d] < out[d]) break;
      index[d] = 0;
    }
  }
  return result;
}

struct BinaryCase {
  const char* name;
  std::function<Tensor(const Tensor&, const Tensor&)> op;
  std::function<double(double, double)> reference;
};

std::vector<BinaryCase> binary_cases() {
  return {
      {"add", [](const Tensor& a, const Tensor& b) { return a + b; }, [](double x, double y) { return x + y; }},
      {"sub", [](const Tensor& a, const Tensor& b) { return a - b; }, [](double x, double y) { return x - y; }},
      {"mul", [](const Tensor& a, const Tensor& b) { return a * b; }, [](double x, double y) { return x * y; }},
      {"div", [](const Tensor& a, const Tensor& b) { return a / b; }, [](double x, double y) { return x / y; }},
      {"maximum", [](const Tensor& a, const Tensor& b) { return maximum(a, b); },
       [](double x, double y) { return std::max(x, y); }},
      {"minimum", [](const Tensor& a, const Tensor& b) { return minimum(a, b); },
       [](double x, double y) { return std::min(x, y); }},
  };
}

// Pairs of shapes that broadcast, including 0-d, size-0 and rank-changing ones.
std::vector<std::pair<Shape, Shape>> broadcast_pairs() {
  return {{{3, 4}, {3, 4}},    {{3, 1}, {1, 4}},       {{2, 3, 4}, {4}},  {{2, 1, 4}, {3, 1}},
          {{}, {2, 3}},        {{5}, {}},               {{1}, {7}},        {{0, 3}, {3}},
          {{2, 1, 1, 3}, {4, 1}}, {{1, 1}, {1, 1}},     {{7, 5}, {7, 1}},  {{4, 1, 33}, {1, 5, 33}}};
}

TEST(ElementwiseTest, BroadcastingMatchesANaiveLoop) {
  manual_seed(0);
  for (const auto& [sa, sb] : broadcast_pairs())
    for (const BinaryCase& c : binary_cases()) {
      const Tensor a = randn(sa, kFloat64), b = randn(sb, kFloat64) + 3.0;
      const Tensor y = c.op(a, b);
      EXPECT_EQ(y.shape(), broadcast_shapes(sa, sb, "test"));
      EXPECT_EQ(y.to_vector<double>(), naive_binary(a, b, c.reference)) << c.name << " " << sa << " " << sb;
    }
}

TEST(ElementwiseTest, StridedOperandsAreReadThroughTheirStrides) {
  manual_seed(1);
  const Tensor base = randn({6, 8}, kFloat64);
  const std::vector<std::pair<Tensor, Tensor>> operands = {
      {base.t(), randn({8, 6}, kFloat64)},                               // transposed
      {base.slice(1, 0, 8, 2), base.slice(1, 1, 8, 2)},                   // every other column
      {base.narrow(0, 1, 3).t(), base.select(0, 0).unsqueeze(1)},         // transposed and a column
      {base.select(1, 3).unsqueeze(0).expand({5, 6}), randn({5, 6}, kFloat64)},  // stride-0 rows
      {base.t().slice(0, 1, 8, 3), base.narrow(1, 2, 1).t()},
  };
  for (const auto& [a, b] : operands)
    for (const BinaryCase& c : binary_cases())
      EXPECT_EQ(c.op(a, b).to_vector<double>(), naive_binary(a, b, c.reference))
          << c.name << " " << a.shape() << " strides " << a.strides() << " and " << b.shape()
          << " strides " << b.strides();
}

TEST(ElementwiseTest, LargeTensorsSplitIntoChunksGiveTheSameAsAPlainLoop) {
  // More than one 32768-element chunk, and a length that is not a multiple of it.
  manual_seed(2);
  const Tensor a = randn({3, 40000}), b = randn({40000});
  const auto va = a.to_vector<float>(), vb = b.to_vector<float>();
  const auto y = (a * b).to_vector<float>();
  for (size_t i = 0; i < y.size(); ++i) ASSERT_EQ(y[i], va[i] * vb[i % 40000]) << i;
  const auto t = a.t().exp().to_vector<float>();  // transposed, through the strided path
  for (size_t r = 0; r < 40000; r += 997)
    for (size_t c = 0; c < 3; ++c) ASSERT_EQ(t[r * 3 + c], std::exp(va[c * 40000 + r]));
}

TEST(ElementwiseTest, UnaryFunctionsMatchTheStandardLibrary) {
  const std::vector<double> xs{-3, -0.7, -0.1, 0.2, 0.9, 2.5};
  const Tensor x = from_vector<double>(xs, {2, 3});
  const std::vector<std::pair<Tensor, std::function<double(double)>>> cases = {
      {x.exp(), [](double v) { return std::exp(v); }},
      {x.abs().log(), [](double v) { return std::log(std::fabs(v)); }},
      {x.abs().sqrt(), [](double v) { return std::sqrt(std::fabs(v)); }},
      {x.abs().rsqrt(), [](double v) { return 1 / std::sqrt(std::fabs(v)); }},
      {x.abs(), [](double v) { return std::fabs(v); }},
      {x.tanh(), [](double v) { return std::tanh(v); }},
      {x.sigmoid(), [](double v) { return 1 / (1 + std::exp(-v)); }},
      {x.relu(), [](double v) { return v > 0 ? v : 0; }},
      {x.neg(), [](double v) { return -v; }},
      {x.pow(3.0), [](double v) { return v * v * v; }},
      {x.abs().pow(0.5), [](double v) { return std::sqrt(std::fabs(v)); }},
      {gelu(x), [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); }},
      {gelu(x, "tanh"),
       [](double v) {
         return 0.5 * v * (1 + std::tanh(std::sqrt(2 / std::numbers::pi) * (v + 0.044715 * v * v * v)));
       }},
      {x * 2.0 + 1.0, [](double v) { return v * 2 + 1; }},
      {1.0 - x, [](double v) { return 1 - v; }},
      {3.0 / x, [](double v) { return 3 / v; }},
  };
  for (size_t k = 0; k < cases.size(); ++k) {
    const auto got = cases[k].first.to_vector<double>();
    for (size_t i = 0; i < xs.size(); ++i)
      EXPECT_NEAR(got[i], cases[k].second(xs[i]), 1e-14 * (1 + std::fabs(got[i]))) << "case " << k << " x=" << xs[i];
  }
}

TEST(ElementwiseTest, SigmoidAndTanhSaturateWithoutOverflow) {
  const Tensor x = from_vector<float>({-1000, -100, 100, 1000}, {4});
  EXPECT_EQ(x.sigmoid().to_vector<float>(), (std::vector<float>{0, std::exp(-100.f) / (1 + std::exp(-100.f)), 1, 1}));
  EXPECT_EQ(x.tanh().to_vector<float>(), (std::vector<float>{-1, -1, 1, 1}));
}

TEST(ElementwiseTest, IntegerArithmeticStaysInteger) {
  const Tensor a = from_vector<int64_t>({7, -3}, {2}), b = from_vector<int64_t>({2, 5}, {2});
  EXPECT_EQ((a + b).to_vector<int64_t>(), (std::vector<int64_t>{9, 2}));
  EXPECT_EQ((a * b).dtype(), kInt64);
  EXPECT_EQ(maximum(a, b).to_vector<int64_t>(), (std::vector<int64_t>{7, 5}));
  EXPECT_EQ(a.abs().to_vector<int64_t>(), (std::vector<int64_t>{7, 3}));
  EXPECT_THROW((void)(a / b), Error);  // no silent truncation
}

TEST(ElementwiseTest, ComparisonsGiveBoolAndBroadcast) {
  const Tensor a = from_vector<double>({1, 2, 3, 4}, {2, 2}), b = from_vector<double>({2, 3}, {2});
  EXPECT_EQ(eq(a, b).dtype(), kBool);
  EXPECT_EQ(eq(a, b).to_vector<bool>(), (std::vector<bool>{false, false, false, false}));
  EXPECT_EQ(lt(a, b).to_vector<bool>(), (std::vector<bool>{true, true, false, false}));
  EXPECT_EQ(le(a, b).to_vector<bool>(), (std::vector<bool>{true, true, false, false}));
  EXPECT_EQ(gt(a, b).to_vector<bool>(), (std::vector<bool>{false, false, true, true}));
  EXPECT_EQ(ge(a, from_vector<double>({1}, {1})).to_vector<bool>(), std::vector<bool>(4, true));
  EXPECT_EQ(ne(a, a.t()).to_vector<bool>(), (std::vector<bool>{false, true, true, false}));
  const Tensor nan = from_vector<double>({NAN}, {1});
  EXPECT_FALSE(eq(nan, nan).item<bool>());  // IEEE: NaN equals nothing
  EXPECT_TRUE(ne(nan, nan).item<bool>());
}

TEST(ElementwiseTest, LogicOpsCombineMasks) {
  const Tensor p = from_vector<bool>({true, true, false, false}, {4});
  const Tensor q = from_vector<bool>({true, false, true, false}, {4});
  EXPECT_EQ(kernels::logical_and(p, q).to_vector<bool>(), (std::vector<bool>{true, false, false, false}));
  EXPECT_EQ(kernels::logical_or(p, q).to_vector<bool>(), (std::vector<bool>{true, true, true, false}));
  EXPECT_EQ(logical_not(p).to_vector<bool>(), (std::vector<bool>{false, false, true, true}));
  EXPECT_THROW((void)logical_not(zeros({2})), Error);
}

TEST(ElementwiseTest, WherePicksPerElementAndBroadcastsAllThree) {
  const Tensor cond = from_vector<bool>({true, false}, {2, 1});
  const Tensor a = from_vector<double>({1, 2, 3}, {3});
  const Tensor b = from_vector<double>({-1}, {});
  const Tensor y = where(cond, a, b);
  EXPECT_EQ(y.shape(), Shape({2, 3}));
  EXPECT_EQ(y.to_vector<double>(), (std::vector<double>{1, 2, 3, -1, -1, -1}));
  // Strided operands.
  const Tensor m = from_vector<double>({1, 2, 3, 4}, {2, 2});
  EXPECT_EQ(where(from_vector<bool>({true, false, false, true}, {2, 2}), m.t(), m).to_vector<double>(),
            (std::vector<double>{1, 2, 3, 4}));
}

TEST(ElementwiseTest, MaskedFillWritesWhereTheMaskIsTrue) {
  const Tensor x = arange(0, 6, 1, kFloat64).view({2, 3});
  const Tensor row_mask = from_vector<bool>({false, true, true}, {3});
  EXPECT_EQ(x.masked_fill(row_mask, -1).to_vector<double>(), (std::vector<double>{0, -1, -1, 3, -1, -1}));
  EXPECT_EQ(x.t().masked_fill(from_vector<bool>({true, false}, {2}), 9).to_vector<double>(),
            (std::vector<double>{9, 3, 9, 4, 9, 5}));
  // -inf fill, the attention mask idiom.
  EXPECT_TRUE(std::isinf(x.masked_fill(row_mask, -INFINITY).to_vector<double>()[1]));
  // The mask must broadcast to x, not grow it.
  EXPECT_THROW((void)x.masked_fill(from_vector<bool>({true, false, true, true, false, true, true, true}, {4, 2, 1}), 0), Error);
}

TEST(ElementwiseTest, CastConvertsBetweenDtypes) {
  const Tensor x = from_vector<double>({1.75, -2.5, 0}, {3});
  EXPECT_EQ(x.to(kInt64).to_vector<int64_t>(), (std::vector<int64_t>{1, -2, 0}));
  EXPECT_EQ(x.to(kBool).to_vector<bool>(), (std::vector<bool>{true, true, false}));
  EXPECT_EQ(x.to(kFloat32).dtype(), kFloat32);
  EXPECT_EQ(from_vector<bool>({true, false}, {2}).to(kFloat64).to_vector<double>(), (std::vector<double>{1, 0}));
}

TEST(ElementwiseTest, TooManyUnmergeableDimsRaiseInsteadOfOverflowing) {
  // The strided loop keeps a multi-index of at most 16 dims. 17 dims of size 2 in reversed
  // order cannot be merged (no dim steps over the next as a run), so they must be refused.
  Shape shape(17, 2);
  std::vector<int64_t> reversed;
  for (int64_t d = 16; d >= 0; --d) reversed.push_back(d);
  const Tensor flat = zeros({int64_t{1} << 17});
  Tensor merged = flat.view(shape);
  merged.fill_(1.0);  // one run after merging
  EXPECT_EQ(flat.sum().item<float>(), float(1 << 17));
  Tensor unmergeable = flat.view(shape).permute(reversed);
  EXPECT_THROW(unmergeable.fill_(2.0), Error);
  EXPECT_THROW((void)unmergeable.exp(), Error);
  EXPECT_EQ(flat.sum().item<float>(), float(1 << 17));  // nothing was written
}

}  // namespace

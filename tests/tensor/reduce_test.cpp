// reduce_test.cpp: sum, mean, max, min, argmax, argmin and var over any dims, with keepdim and
// negative dims, against plain loops; the column-sum fast path (reduced dims leading a
// contiguous tensor) against the general one; float32 sums accumulated in double; ties, NaN,
// bool and empty inputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "autograd/ops.h"
#include "tensor/kernels.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace {

using namespace ag;

enum class Kind { Sum, Mean, Max, Min, ArgMax, ArgMin, Var };

// The naive reduction of a (A, B, C) float64 tensor over `dims` (sorted, non-negative).
std::vector<double> naive_reduce(const Tensor& x, const std::vector<int64_t>& dims, Kind kind) {
  const Shape s = x.shape();
  const auto v = x.to_vector<double>();
  auto reduced = [&](int64_t d) { return std::find(dims.begin(), dims.end(), d) != dims.end(); };
  std::vector<double> out;
  // Walk the kept multi-index in row-major order, and for each, the reduced elements in order.
  for (int64_t i = 0; i < (reduced(0) ? 1 : s[0]); ++i)
    for (int64_t j = 0; j < (reduced(1) ? 1 : s[1]); ++j)
      for (int64_t k = 0; k < (reduced(2) ? 1 : s[2]); ++k) {
        std::vector<double> group;
        for (int64_t a = 0; a < s[0]; ++a)
          for (int64_t b = 0; b < s[1]; ++b)
            for (int64_t c = 0; c < s[2]; ++c) {
              if ((!reduced(0) && a != i) || (!reduced(1) && b != j) || (!reduced(2) && c != k)) continue;
              group.push_back(v[(a * s[1] + b) * s[2] + c]);
            }
        double r = 0;
        const auto n = static_cast<double>(group.size());
        switch (kind) {
          case Kind::Sum: for (double g : group) r += g; break;
          case Kind::Mean: for (double g : group) r += g; r /= n; break;
          case Kind::Max: r = *std::max_element(group.begin(), group.end()); break;
          case Kind::Min: r = *std::min_element(group.begin(), group.end()); break;
          case Kind::ArgMax: r = std::max_element(group.begin(), group.end()) - group.begin(); break;
          case Kind::ArgMin: r = std::min_element(group.begin(), group.end()) - group.begin(); break;
          case Kind::Var: {
            double mean = 0;
            for (double g : group) mean += g;
            mean /= n;
            for (double g : group) r += (g - mean) * (g - mean);
            r /= n - 1;
            break;
          }
        }
        out.push_back(r);
      }
  return out;
}

Tensor reduce_with(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim, Kind kind) {
  switch (kind) {
    case Kind::Sum: return x.sum(dims, keepdim);
    case Kind::Mean: return x.mean(dims, keepdim);
    case Kind::Max: return amax(x, dims, keepdim);
    case Kind::Min: return amin(x, dims, keepdim);
    case Kind::ArgMax: return x.argmax(dims[0], keepdim);
    case Kind::ArgMin: return x.argmin(dims[0], keepdim);
    case Kind::Var: return x.var(dims, true, keepdim);
  }
  return Tensor();
}

void expect_close(const std::vector<double>& got, const std::vector<double>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], 1e-12 * (1 + std::fabs(want[i]))) << what << " element " << i;
}

TEST(ReduceTest, EveryReductionOverEveryDimSetMatchesANaiveLoop) {
  manual_seed(0);
  const Tensor contiguous_x = randn({3, 4, 5}, kFloat64);
  const Tensor transposed_x = randn({5, 4, 3}, kFloat64).permute({2, 1, 0});
  const std::vector<std::vector<int64_t>> dim_sets = {{0}, {1}, {2}, {0, 1}, {0, 2}, {1, 2}, {0, 1, 2}};
  for (const Tensor& x : {contiguous_x, transposed_x})
    for (Kind kind : {Kind::Sum, Kind::Mean, Kind::Max, Kind::Min, Kind::Var, Kind::ArgMax, Kind::ArgMin})
      for (const auto& dims : dim_sets) {
        if ((kind == Kind::ArgMax || kind == Kind::ArgMin) && dims.size() != 1) continue;
        for (bool keepdim : {false, true}) {
          // The same dims spelled negatively must give the same answer.
          std::vector<int64_t> negative;
          for (int64_t d : dims) negative.push_back(d - 3);
          const Tensor y = reduce_with(x, dims, keepdim, kind);
          const Tensor y_neg = reduce_with(x, negative, keepdim, kind);
          Shape expected_shape;
          for (int64_t d = 0; d < 3; ++d) {
            const bool r = std::find(dims.begin(), dims.end(), d) != dims.end();
            if (!r) expected_shape.push_back(x.size(d));
            else if (keepdim) expected_shape.push_back(1);
          }
          const std::string what = "kind " + std::to_string(static_cast<int>(kind)) + " dims " +
                                   Shape(dims).str() + (keepdim ? " keepdim" : "") + " strides " +
                                   x.strides().str();
          EXPECT_EQ(y.shape(), expected_shape) << what;
          expect_close(y.to_vector<double>(), naive_reduce(x, dims, kind), what);
          EXPECT_EQ(y_neg.to_vector<double>(), y.to_vector<double>()) << what;
        }
      }
}

TEST(ReduceTest, ReducingAllDimsGivesAScalar) {
  const Tensor x = arange(1, 7, 1, kFloat64).view({2, 3});
  EXPECT_EQ(x.sum().dim(), 0);
  EXPECT_EQ(x.sum().item<double>(), 21);
  EXPECT_EQ(x.mean().item<double>(), 3.5);
  EXPECT_EQ(x.max().item<double>(), 6);
  EXPECT_EQ(x.min().item<double>(), 1);
  EXPECT_EQ(x.sum({}, true).shape(), Shape({1, 1}));
  EXPECT_NEAR(var(x).item<double>(), 3.5, 1e-15);
  EXPECT_NEAR(var(x, {}, /*unbiased=*/false).item<double>(), 35.0 / 12, 1e-15);
}

TEST(ReduceTest, ColumnSumFastPathMatchesTheGeneralPath) {
  // Summing the leading dims of a contiguous tensor runs down columns; the same sum over a
  // non-contiguous copy goes through the general path. Both keep one order per output.
  manual_seed(1);
  const Tensor x = randn({37, 5, 300}, kFloat64);
  const Tensor general = x.permute({2, 1, 0}).contiguous().permute({2, 1, 0});
  ASSERT_FALSE(general.is_contiguous());
  expect_close(x.sum({0}).to_vector<double>(), general.sum({0}).to_vector<double>(), "dim 0");
  expect_close(x.sum({0, 1}).to_vector<double>(), general.sum({0, 1}).to_vector<double>(), "dims 0, 1");
  expect_close(kernels::sum_to(x, {300}).to_vector<double>(), general.sum({0, 1}).to_vector<double>(), "sum_to");
}

TEST(ReduceTest, ColumnSumsOfTallNarrowBlocksAddRunsOfRowsInOrder) {
  // A bias gradient sums B * T rows of C <= 1024 columns. Those rows are cut into runs of at
  // least 256 (at most 64 runs), each run's column sums are a partial, and the partials are
  // added in run order: the same order as this loop, so float64 gives exactly its bits.
  manual_seed(3);
  for (const auto [rows, cols] : {std::pair<int64_t, int64_t>{1024, 64}, {2049, 300},
                                  {100001, 3}, {255, 7}, {300, 1025}}) {
    const Tensor x = randn({rows, cols}, kFloat64);
    const std::vector<double> values = x.to_vector<double>();
    const int64_t run_rows = std::max<int64_t>(256, (rows + 63) / 64);
    const bool split = cols <= 1024;
    std::vector<double> want(static_cast<size_t>(cols), 0.0);
    for (int64_t c = 0; c < cols; ++c) {
      double total = 0.0;
      for (int64_t r0 = 0; r0 < rows; r0 += split ? run_rows : rows) {
        double run = 0.0;
        for (int64_t r = r0; r < std::min(rows, r0 + (split ? run_rows : rows)); ++r)
          run += values[static_cast<size_t>(r * cols + c)];
        total = r0 == 0 ? run : total + run;
      }
      want[static_cast<size_t>(c)] = total;
    }
    EXPECT_EQ(x.sum({0}).to_vector<double>(), want) << rows << " x " << cols;
    // float32 sums the same runs in double, then rounds once: the float64 sums of its values.
    const Tensor xf = x.to(kFloat32);
    EXPECT_EQ(xf.sum({0}).to_vector<float>(),
              xf.to(kFloat64).sum({0}).to(kFloat32).to_vector<float>()) << rows << " x " << cols;
  }
  // Cancellation across runs survives: 1e8 (run 0) + 1 (run 1) - 1e8 (run 2) in float32.
  std::vector<float> column(1000, 0.0f);
  column[0] = 1e8f, column[300] = 1.f, column[600] = -1e8f;
  EXPECT_EQ(from_vector<float>(column, {1000, 1}).sum({0}).item<float>(), 1.f);
}

TEST(ReduceTest, Float32SumsAccumulateInDouble) {
  // In float32, 1e8 + 1 rounds back to 1e8 and the 1 is lost; a double accumulator keeps it.
  const Tensor x = from_vector<float>({1e8f, 1.f, -1e8f}, {3});
  EXPECT_EQ(x.sum().item<float>(), 1.f);
  EXPECT_EQ(x.view({3, 1}).sum({0}).item<float>(), 1.f);  // the column path too
}

TEST(ReduceTest, ArgmaxAndArgminReturnTheFirstOfTies) {
  const Tensor x = from_vector<double>({1, 3, 3, 0, 0, -2, -2, 5}, {2, 4});
  EXPECT_EQ(x.argmax(1).to_vector<int64_t>(), (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(x.argmin(1).to_vector<int64_t>(), (std::vector<int64_t>{3, 1}));
  EXPECT_EQ(x.argmax(0, true).shape(), Shape({1, 4}));
  EXPECT_EQ(x.argmax(-1).dtype(), kInt64);
}

TEST(ReduceTest, NaNPropagatesThroughMaxAndMin) {
  const Tensor x = from_vector<double>({1, NAN, 3, 2, 5, 4}, {2, 3});
  const auto mx = amax(x, {1}).to_vector<double>();
  EXPECT_TRUE(std::isnan(mx[0]));
  EXPECT_EQ(mx[1], 5);
  EXPECT_TRUE(std::isnan(amin(x, {1}).to_vector<double>()[0]));
  EXPECT_EQ(x.argmax(1).to_vector<int64_t>()[0], 1);
  EXPECT_TRUE(std::isnan(x.sum().item<double>()));
}

TEST(ReduceTest, SumOfABoolTensorCountsTrues) {
  const Tensor m = from_vector<bool>({true, false, true, true}, {2, 2});
  EXPECT_EQ(kernels::reduce(kernels::Reduce::Sum, m, {}, false, "sum").item<int64_t>(), 3);
  EXPECT_EQ(kernels::reduce(kernels::Reduce::Sum, m, {1}, false, "sum").to_vector<int64_t>(),
            (std::vector<int64_t>{1, 2}));
}

TEST(ReduceTest, IntegerReductions) {
  const Tensor x = from_vector<int64_t>({4, -1, 7, 2}, {2, 2});
  EXPECT_EQ(x.sum({0}).to_vector<int64_t>(), (std::vector<int64_t>{11, 1}));
  EXPECT_EQ(amax(x, {1}).to_vector<int64_t>(), (std::vector<int64_t>{4, 7}));
  EXPECT_EQ(x.sum().dtype(), kInt64);
}

TEST(ReduceTest, EmptyReductions) {
  const Tensor x = zeros({0, 3}, kFloat64);
  EXPECT_EQ(x.sum({0}).to_vector<double>(), std::vector<double>(3, 0));
  EXPECT_EQ(x.sum({1}).shape(), Shape({0}));
  EXPECT_EQ(x.sum().item<double>(), 0);
  EXPECT_TRUE(std::isnan(x.mean().item<double>()));  // 0 / 0, as in PyTorch
  EXPECT_EQ(amax(x, {1}).shape(), Shape({0}));         // nothing to take the max of per row
  EXPECT_THROW((void)amax(x, {0}), Error);             // a max over no elements
  EXPECT_THROW((void)x.argmax(0), Error);
}

TEST(ReduceTest, SumToUndoesBroadcasting) {
  const Tensor x = arange(0, 24, 1, kFloat64).view({2, 3, 4});
  EXPECT_EQ(kernels::sum_to(x, {3, 1}).to_vector<double>(), (std::vector<double>{60, 92, 124}));
  EXPECT_EQ(kernels::sum_to(x, {4}).to_vector<double>(), (std::vector<double>{60, 66, 72, 78}));
  EXPECT_EQ(kernels::sum_to(x, {}).item<double>(), 276);
  EXPECT_THROW((void)kernels::sum_to(x, {5}), Error);
}

}  // namespace

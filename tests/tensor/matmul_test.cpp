// matmul_test.cpp: PyTorch's matmul semantics against the reference GEMM. Batch dims broadcast,
// a 1-d operand is a vector whose dim is dropped, and operands may be transposed (read in
// place), strided (copied first) or expanded (a batch of one matrix with stride 0). Every
// result is compared with gemm_reference run batch by batch on contiguous copies, at awkward
// sizes: 1, primes, and sizes that leave tails for blocked kernels.
#include <gtest/gtest.h>

#include <cmath>

#include "autograd/ops.h"
#include "tensor/gemm.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace {

using namespace ag;

// The expected product, one gemm_reference per broadcast batch.
// a: (..., M, K) or (K)   b: (..., K, N) or (K)   returns: matmul's shape and values
template <typename T>
std::pair<Shape, std::vector<T>> reference_matmul(const Tensor& a_in, const Tensor& b_in) {
  const Tensor a = a_in.dim() == 1 ? a_in.unsqueeze(0) : a_in;
  const Tensor b = b_in.dim() == 1 ? b_in.unsqueeze(1) : b_in;
  const int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
  const Shape batch_a(a.shape().begin(), a.shape().end() - 2);
  const Shape batch_b(b.shape().begin(), b.shape().end() - 2);
  const Shape batch = broadcast_shapes(batch_a, batch_b, "test");
  Shape full_a = batch, full_b = batch;
  full_a.insert(full_a.end(), {M, K});
  full_b.insert(full_b.end(), {K, N});
  const auto va = a.expand(full_a).contiguous().template to_vector<T>();
  const auto vb = b.expand(full_b).contiguous().template to_vector<T>();
  std::vector<T> out(static_cast<size_t>(batch.numel() * M * N));
  for (int64_t i = 0; i < batch.numel(); ++i)
    kernels::gemm_reference<T>(false, false, M, N, K, va.data() + i * M * K, std::max<int64_t>(K, 1),
                               vb.data() + i * K * N, std::max<int64_t>(N, 1), out.data() + i * M * N,
                               std::max<int64_t>(N, 1), false);
  Shape shape = batch;
  if (a_in.dim() > 1) shape.push_back(M);
  if (b_in.dim() > 1) shape.push_back(N);
  return {shape, out};
}

template <typename T>
void expect_matches_reference(const Tensor& a, const Tensor& b, double tolerance) {
  const Tensor y = matmul(a, b);
  const auto [shape, want] = reference_matmul<T>(a, b);
  ASSERT_EQ(y.shape(), shape) << a.shape() << " @ " << b.shape();
  const auto got = y.to_vector<T>();
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i)
    worst = std::max(worst, std::fabs(double(got[i]) - double(want[i])) / (1 + std::fabs(double(want[i]))));
  EXPECT_LE(worst, tolerance) << a.shape() << " (strides " << a.strides() << ") @ " << b.shape()
                              << " (strides " << b.strides() << "): largest relative difference " << worst;
}

TEST(MatmulTest, ShapesAndBroadcastingMatchTheReference) {
  manual_seed(0);
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {{3, 4}, {4, 2}},       {{1, 1}, {1, 1}},          {{7, 13}, {13, 5}},     {{2, 3, 4}, {2, 4, 5}},
      {{2, 1, 3, 4}, {3, 4, 2}}, {{2, 3, 4}, {4, 5}},    {{3, 4}, {2, 4, 5}},    {{4}, {4, 3}},
      {{3, 4}, {4}},          {{4}, {4}},                {{2, 3, 4}, {4}},       {{4}, {2, 4, 3}},
      {{1, 17}, {17, 1}},     {{33, 65}, {65, 31}},      {{5, 1, 2, 3}, {1, 4, 3, 2}},
  };
  for (const auto& [sa, sb] : shapes) {
    expect_matches_reference<double>(randn(sa, kFloat64), randn(sb, kFloat64), 1e-12);
    expect_matches_reference<float>(randn(sa), randn(sb), 1e-5);
  }
}

TEST(MatmulTest, TransposedOperandsAreReadInPlaceCorrectly) {
  manual_seed(1);
  const Tensor a = randn({5, 3}, kFloat64).t();      // (3, 5), strides (1, 3)
  const Tensor b = randn({7, 5}, kFloat64).t();      // (5, 7)
  expect_matches_reference<double>(a, b, 1e-12);
  expect_matches_reference<double>(a, randn({5, 7}, kFloat64), 1e-12);
  expect_matches_reference<double>(randn({2, 3, 5}, kFloat64), b, 1e-12);
  const Tensor batched = randn({2, 6, 3}, kFloat64).transpose(-1, -2);  // (2, 3, 6)
  expect_matches_reference<double>(batched, randn({2, 6, 4}, kFloat64), 1e-12);
  expect_matches_reference<double>(randn({4, 2, 3}, kFloat64).transpose(0, 1), randn({3, 5}, kFloat64), 1e-12);
}

TEST(MatmulTest, StridedAndExpandedOperands) {
  manual_seed(2);
  const Tensor base = randn({6, 10}, kFloat64);
  // Every other column: no unit stride, so matmul must copy before gemm.
  expect_matches_reference<double>(base.slice(1, 0, 10, 2), randn({5, 3}, kFloat64), 1e-12);
  // A vector read with stride 2.
  expect_matches_reference<double>(base.select(0, 1).slice(0, 0, 10, 2), randn({5, 2}, kFloat64), 1e-12);
  expect_matches_reference<double>(randn({3, 5}, kFloat64), base.select(0, 2).slice(0, 1, 10, 2), 1e-12);
  // One matrix expanded over a batch (stride 0 on the batch dim), on either side.
  const Tensor shared = randn({1, 4, 5}, kFloat64).expand({3, 4, 5});
  expect_matches_reference<double>(shared, randn({3, 5, 2}, kFloat64), 1e-12);
  expect_matches_reference<double>(randn({3, 2, 4}, kFloat64), shared, 1e-12);
  // Rows of a batch that are not evenly spaced (a narrowed middle dim) cannot fold into one GEMM.
  expect_matches_reference<double>(randn({3, 6, 4}, kFloat64).narrow(1, 1, 4), randn({4, 2}, kFloat64), 1e-12);
  // Evenly spaced rows with a gap (every other batch) can.
  expect_matches_reference<double>(randn({6, 3, 4}, kFloat64).slice(0, 0, 6, 2), randn({4, 2}, kFloat64), 1e-12);
}

TEST(MatmulTest, ZeroSizedDims) {
  // K = 0 is an empty sum: zeros, not uninitialised memory.
  const Tensor y = matmul(ones({3, 0}, kFloat64), ones({0, 2}, kFloat64));
  EXPECT_EQ(y.shape(), Shape({3, 2}));
  EXPECT_EQ(y.to_vector<double>(), std::vector<double>(6, 0.0));
  EXPECT_EQ(matmul(ones({2, 0, 4}), ones({4, 5})).shape(), Shape({2, 0, 5}));
  EXPECT_EQ(matmul(ones({0, 2, 4}), ones({4, 5})).shape(), Shape({0, 2, 5}));
  EXPECT_EQ(matmul(ones({0}), ones({0})).item<float>(), 0.f);
}

TEST(MatmulTest, LargeBatchesMatchTheReference) {
  // Enough batches to run in parallel, and a size with tails for blocked kernels.
  manual_seed(3);
  expect_matches_reference<float>(randn({16, 37, 29}), randn({16, 29, 41}), 1e-5);
  expect_matches_reference<float>(randn({8, 64, 72}), randn({72, 40}), 1e-5);
}

}  // namespace

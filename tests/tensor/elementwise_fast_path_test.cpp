// elementwise_fast_path_test.cpp: the contiguous fast paths of tensor/elementwise.cpp (flat
// unary and same-shape binary loops, the fused GELU backward) against the general strided path,
// at awkward sizes (1, primes, tails past the parallel grain) and with transposed, sliced and
// broadcast operands; copy_into's copy and fill runs; and float32 GELU, which uses
// vector_math.h's erf, against double precision.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <numbers>

#include "autograd/ops.h"
#include "tensor/kernels.h"
#include "tensor/random.h"
#include "tensor/tensor.h"
#include "tensor/thread_pool.h"

namespace {

using namespace ag;
using kernels::Unary;

bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  const Tensor ca = kernels::contiguous(a), cb = kernels::contiguous(b);
  return std::memcmp(ca.raw_data(), cb.raw_data(),
                     static_cast<size_t>(a.numel()) * element_size(a.dtype())) == 0;
}

// A non-contiguous tensor with the same values as x: x stored transposed, viewed back.
Tensor strided_copy(const Tensor& x) {
  return kernels::contiguous(x.t()).t();  // (R, C) values, strides (1, R)
}

const int64_t kSizes[] = {1, 2, 7, 31, 97, 32771, 100003};  // 32771, 100003: chunk tails

// Exact GELU in double, the reference for float32 results.
double gelu_ref(double x) { return 0.5 * x * (1.0 + std::erf(x / std::numbers::sqrt2)); }
double gelu_grad_ref(double x) {
  return 0.5 * (1.0 + std::erf(x / std::numbers::sqrt2)) +
         x * std::exp(-0.5 * x * x) / std::sqrt(2.0 * std::numbers::pi);
}

TEST(ElementwiseFastPath, Float32GeluMatchesDoublePrecision) {
  manual_seed(3);
  for (int64_t n : kSizes) {
    const Tensor x = randn({n}) * scalar_tensor(3.0f);
    const auto xs = x.to_vector<double>();
    const auto y = kernels::unary(Unary::GeluErf, x).to_vector<double>();
    const auto g = kernels::unary(Unary::GeluErfGrad, x).to_vector<double>();
    for (size_t i = 0; i < xs.size(); ++i) {
      // erf_f32's 4.7e-7 absolute error, scaled by |x|/2, plus float rounding of the result.
      EXPECT_NEAR(y[i], gelu_ref(xs[i]), 3e-7 * std::fabs(xs[i]) + 1.2e-7 * std::fabs(y[i]) + 1e-30)
          << "x = " << xs[i];
      EXPECT_NEAR(g[i], gelu_grad_ref(xs[i]), 1e-6 * (1 + std::fabs(xs[i]))) << "x = " << xs[i];
    }
  }
}

TEST(ElementwiseFastPath, Float32GeluExtremes) {
  const Tensor x = from_vector<float>({-1e30f, -20.f, -9.f, 0.f, 9.f, 20.f, 1e30f}, {7});
  const auto y = kernels::unary(Unary::GeluErf, x).to_vector<float>();
  const auto g = kernels::unary(Unary::GeluErfGrad, x).to_vector<float>();
  const std::vector<float> y_ref = {-0.f, -0.f, 0.f, 0.f, 9.f, 20.f, 1e30f};
  const std::vector<float> g_ref = {0.f, 0.f, 0.f, 0.5f, 1.f, 1.f, 1.f};
  for (size_t i = 0; i < y.size(); ++i) {
    EXPECT_NEAR(y[i], y_ref[i], 1e-5) << i;
    EXPECT_NEAR(g[i], g_ref[i], 1e-5) << i;
  }
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_TRUE(std::isnan(kernels::unary(Unary::GeluErf, full({1}, nan)).item<float>()));
  EXPECT_TRUE(std::isnan(kernels::unary(Unary::GeluErfGrad, full({1}, nan)).item<float>()));
}

TEST(ElementwiseFastPath, Float64GeluIsTheExactFormula) {
  manual_seed(4);
  const Tensor x = randn({1001}, kFloat64);
  const auto xs = x.to_vector<double>();
  const auto y = kernels::unary(Unary::GeluErf, x).to_vector<double>();
  for (size_t i = 0; i < xs.size(); ++i)
    EXPECT_EQ(y[i], 0.5 * xs[i] * (1.0 + std::erf(xs[i] * (std::numbers::sqrt2 / 2))));
}

TEST(ElementwiseFastPath, ContiguousAndStridedPathsGiveTheSameBits) {
  manual_seed(5);
  for (DType dt : {kFloat32, kFloat64}) {
    for (int64_t rows : {1, 3, 17}) {
      for (int64_t cols : {1, 5, 97, 2053}) {
        const Tensor a = randn({rows, cols}, dt), b = randn({rows, cols}, dt);
        const Tensor sa = strided_copy(a), sb = strided_copy(b);
        ASSERT_FALSE(rows > 1 && cols > 1 && sa.is_contiguous());
        for (Unary op : {Unary::GeluErf, Unary::GeluErfGrad, Unary::GeluTanh, Unary::Exp,
                         Unary::Tanh, Unary::Relu})
          EXPECT_TRUE(same_bits(kernels::unary(op, a), kernels::unary(op, sa)))
              << rows << "x" << cols << " op " << static_cast<int>(op);
        for (auto op : {kernels::Binary::Add, kernels::Binary::Mul, kernels::Binary::Sub,
                        kernels::Binary::Div}) {
          const Tensor fast = kernels::binary(op, a, b, "test");
          EXPECT_TRUE(same_bits(fast, kernels::binary(op, sa, b, "test")));
          EXPECT_TRUE(same_bits(fast, kernels::binary(op, a, sb, "test")));
          EXPECT_TRUE(same_bits(fast, kernels::binary(op, sa, sb, "test")));
        }
        // Row + broadcast vector (a bias add), against a bias expanded and copied to full size
        // and against the strided path (a transposed a).
        for (const Shape& bias_shape : {Shape{cols}, Shape{1, cols}}) {
          const Tensor bias = randn(bias_shape, dt);
          const Tensor full_bias = kernels::contiguous(bias.expand({rows, cols}));
          for (auto op : {kernels::Binary::Add, kernels::Binary::Sub, kernels::Binary::Mul,
                          kernels::Binary::Div}) {
            const Tensor fast = kernels::binary(op, a, bias, "test");
            EXPECT_TRUE(same_bits(fast, kernels::binary(op, a, full_bias, "test")));
            EXPECT_TRUE(same_bits(fast, kernels::binary(op, sa, bias, "test")));
          }
        }
        // A 3-d input whose rows run across chunk boundaries of the parallel grain.
        const Tensor big = randn({3, rows * 11 + 2, cols}, dt), bias = randn({cols}, dt);
        EXPECT_TRUE(same_bits(
            kernels::binary(kernels::Binary::Add, big, bias, "test"),
            kernels::binary(kernels::Binary::Add, big, kernels::contiguous(bias.expand(big.shape())),
                            "test")));
        // copy of a sliced view (contiguous() of a narrow), against element reads.
        const Tensor sliced = a.narrow(1, cols / 3, cols - cols / 3);
        const Tensor c = kernels::copy(sliced);
        EXPECT_TRUE(c.is_contiguous());
        EXPECT_EQ(c.to_vector<double>(), sliced.to_vector<double>());
      }
    }
  }
}

TEST(ElementwiseFastPath, CopyIntoRunsCopyFillAndGatherLikeThePlainLoop) {
  // copy_into's runs: contiguous on both sides (a copy), a stride-0 source (a fill), anything
  // else (the strided loop). Destination: a column block of a wider buffer, so runs are short.
  manual_seed(8);
  for (int64_t rows : {1, 5, 33}) {
    for (int64_t cols : {1, 3, 17, 64}) {
      const int64_t width = cols + 7;
      const Tensor src = randn({rows, cols});
      const Tensor transposed_src = strided_copy(src);
      const Tensor row = randn({cols});
      const Tensor scalar = full({}, 2.5);
      for (const Tensor& s : {src, transposed_src, row, scalar}) {
        Tensor buffer = full({rows, width}, -1.0);
        const Tensor dst = buffer.narrow(1, 3, cols);
        kernels::copy_into(dst, s);
        const auto got = buffer.to_vector<float>();
        const auto want = kernels::contiguous(s.expand({rows, cols})).to_vector<float>();
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t c = 0; c < width; ++c) {
            const float expected = (c >= 3 && c < 3 + cols) ? want[r * cols + c - 3] : -1.0f;
            ASSERT_EQ(got[r * width + c], expected) << rows << "x" << cols << " at " << r << "," << c;
          }
      }
    }
  }
}

TEST(ElementwiseFastPath, TiledCopyOfATransposedMatrixMatchesElementReads) {
  // copy() of a (R, C) view with strides (1, ld >= R) runs in 16 x 16 tiles: sizes below, at
  // and past a tile, a sliced source (ld > R), several dtypes, and 1 vs 2 threads.
  manual_seed(9);
  for (auto [R, C] : {std::pair<int64_t, int64_t>{2, 2}, {2, 17}, {16, 16}, {17, 33}, {64, 3},
                      {300, 257}}) {
    for (DType dt : {kFloat32, kFloat64, kInt64}) {
      const Tensor base = (randn({C, R + 5}) * scalar_tensor(100.0f)).to(dt);
      const auto values = base.to_vector<double>();  // base is contiguous: no copy involved
      for (int64_t start : {0, 5}) {
        const Tensor x = base.narrow(1, start, R).t();  // (R, C), strides (1, R + 5)
        ASSERT_EQ(x.stride(0), 1);
        const int threads = get_num_threads();
        set_num_threads(1);
        const Tensor c = kernels::copy(x);
        set_num_threads(2);
        const Tensor c2 = kernels::copy(x);
        set_num_threads(threads);
        EXPECT_TRUE(c.is_contiguous());
        EXPECT_TRUE(same_bits(c, c2));
        const auto got = c.to_vector<double>();
        for (int64_t r = 0; r < R; ++r)
          for (int64_t col = 0; col < C; ++col)
            ASSERT_EQ(got[r * C + col], values[col * (R + 5) + start + r]) << R << "x" << C;
      }
    }
  }
}

TEST(ElementwiseFastPath, FusedGeluBackwardEqualsTheTwoStepProduct) {
  manual_seed(6);
  for (DType dt : {kFloat32, kFloat64}) {
    for (int64_t n : kSizes) {
      const Tensor x = randn({n}, dt), dy = randn({n}, dt);
      for (bool tanh_form : {false, true}) {
        const Tensor two_step = kernels::binary(
            kernels::Binary::Mul, dy,
            kernels::unary(tanh_form ? Unary::GeluTanhGrad : Unary::GeluErfGrad, x), "test");
        EXPECT_TRUE(same_bits(kernels::gelu_backward(dy, x, tanh_form), two_step)) << n;
      }
    }
    // Strided operands take the general path and must agree too.
    const Tensor x = randn({13, 29}, dt), dy = randn({13, 29}, dt);
    EXPECT_TRUE(same_bits(kernels::gelu_backward(strided_copy(dy), strided_copy(x), false),
                          kernels::gelu_backward(dy, x, false)));
  }
}

TEST(ElementwiseFastPath, GeluAutogradUsesTheFusedBackwardWithoutChangingIt) {
  manual_seed(7);
  const Tensor x = randn({4, 37}).requires_grad_();
  gelu(x).sum().backward();
  const Tensor expected = kernels::unary(Unary::GeluErfGrad, x.detach());
  EXPECT_TRUE(same_bits(x.grad(), expected));
}

}  // namespace

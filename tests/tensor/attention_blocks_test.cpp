// attention_blocks_test.cpp: the elementwise building blocks of the fast fused attention
// (tensor/simd/attention_micro_kernel.h: softmax_backward, scale_rows, transpose, dot) in their
// AVX2 and AVX-512 builds, against the plain loops they replace, bit for bit: at widths around
// the vector lengths (1, 7, 8, 9, 16, 17, 33, 64, 131), with row strides wider than the rows,
// and with the special values (-0, inf, NaN) a copy must keep. The fused attention tests
// (tests/nn/fused_attention_fast_test.cpp) check the whole algorithm against the reference.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "tensor/cpu_features.h"
#include "tensor/simd/attention_micro_kernel.h"

namespace {

#if defined(AG_TEST_SIMD)
using ag::kernels::simd::AttentionMicroKernels;

// The kernel sets this CPU runs.
std::vector<AttentionMicroKernels> kernel_sets() {
  std::vector<AttentionMicroKernels> sets;
  if (ag::cpu_has_avx2()) sets.push_back(ag::kernels::simd::avx2_attention_kernels());
  if (ag::cpu_has_avx512()) sets.push_back(ag::kernels::simd::avx512_attention_kernels());
  return sets;
}

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> normal;
  std::vector<float> x(n);
  for (float& v : x) v = normal(gen);
  return x;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

TEST(AttentionBlocks, SoftmaxBackwardGivesThePlainLoopsBits) {
  const auto sets = kernel_sets();
  if (sets.empty()) GTEST_SKIP() << "this CPU has no AVX2";
  const int64_t m = 5, ld = 80;
  for (int64_t n : {16, 32, 64}) {
    const std::vector<float> p = random_floats(m * ld, 1), dp = random_floats(m * ld, 2);
    const std::vector<float> delta = random_floats(m, 3);
    std::vector<float> expected = dp;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j)
        expected[i * ld + j] = p[i * ld + j] * (dp[i * ld + j] - delta[i]);
    for (const AttentionMicroKernels& kern : sets) {
      std::vector<float> ds = dp;
      kern.softmax_backward(ds.data(), p.data(), delta.data(), ld, m, n);
      EXPECT_TRUE(same_bits(ds, expected)) << kern.name << " n=" << n;  // past n: untouched
    }
  }
}

TEST(AttentionBlocks, ScaleRowsGivesThePlainLoopsBitsAndZeroPadding) {
  const auto sets = kernel_sets();
  if (sets.empty()) GTEST_SKIP() << "this CPU has no AVX2";
  const int64_t m = 3, lds = 140;
  std::vector<float> src = random_floats(m * lds, 4);
  src[0] = -0.0f;
  src[1] = std::numeric_limits<float>::infinity();
  src[2] = std::numeric_limits<float>::quiet_NaN();
  for (int64_t n : {1, 7, 8, 9, 16, 17, 33, 64, 131}) {
    for (float factor : {1.0f, 0.125f, -3.7f}) {
      const int64_t n_fill = (n + 15) / 16 * 16, ldd = n_fill + 5;
      std::vector<float> expected(m * ldd, 42.0f);
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t c = 0; c < n; ++c) expected[i * ldd + c] = factor * src[i * lds + c];
        for (int64_t c = n; c < n_fill; ++c) expected[i * ldd + c] = 0.0f;
      }
      for (const AttentionMicroKernels& kern : sets) {
        std::vector<float> dst(m * ldd, 42.0f);
        kern.scale_rows(dst.data(), ldd, src.data(), lds, m, n, n_fill, factor);
        EXPECT_TRUE(same_bits(dst, expected)) << kern.name << " n=" << n << " factor=" << factor;
      }
    }
  }
}

TEST(AttentionBlocks, TransposeMovesEveryValueAndZeroPadsTheRows) {
  const auto sets = kernel_sets();
  if (sets.empty()) GTEST_SKIP() << "this CPU has no AVX2";
  for (int64_t keys : {1, 7, 8, 9, 64, 131}) {
    for (int64_t n : {1, 7, 8, 9, 16, 33}) {
      const int64_t lds = n + 3, ld = (keys + 15) / 16 * 16 + 16;
      std::vector<float> src = random_floats(keys * lds, 5);
      src[0] = -0.0f;
      src[lds - 1] = std::numeric_limits<float>::quiet_NaN();
      std::vector<float> expected(n * ld, 0.0f);
      for (int64_t c = 0; c < n; ++c)
        for (int64_t j = 0; j < keys; ++j) expected[c * ld + j] = src[j * lds + c];
      for (const AttentionMicroKernels& kern : sets) {
        std::vector<float> dst(n * ld, 42.0f);
        kern.transpose(dst.data(), ld, src.data(), lds, keys, n);
        EXPECT_TRUE(same_bits(dst, expected)) << kern.name << " keys=" << keys << " n=" << n;
      }
    }
  }
}

// The order attention_micro_kernel.h documents for dot, written out in scalar code.
double dot_in_documented_order(const float* a, const float* b, int64_t n) {
  double lane[8] = {};
  const int64_t whole = n / 8 * 8;
  for (int64_t c = 0; c < whole; ++c) lane[c % 8] += static_cast<double>(a[c]) * b[c];
  double rest = 0.0;
  for (int64_t c = whole; c < n; ++c) rest += static_cast<double>(a[c]) * b[c];
  double half[4];
  for (int l = 0; l < 4; ++l) half[l] = lane[l] + lane[l + 4];
  return ((half[0] + half[2]) + (half[1] + half[3])) + rest;
}

TEST(AttentionBlocks, DotSumsInDoubleInTheDocumentedOrder) {
  const auto sets = kernel_sets();
  if (sets.empty()) GTEST_SKIP() << "this CPU has no AVX2";
  for (int64_t n : {1, 7, 8, 9, 16, 17, 33, 64, 131, 1031}) {
    // Large and small terms of both signs, so a different order would round differently.
    std::vector<float> a = random_floats(n, 6), b = random_floats(n, 7);
    for (int64_t c = 0; c < n; c += 5) a[c] *= 1e6f;
    long double exact = 0;
    double magnitude = 0;  // sum of |a b|: what the rounding errors of any order scale with
    for (int64_t c = 0; c < n; ++c) {
      exact += static_cast<long double>(a[c]) * b[c];
      magnitude += std::abs(static_cast<double>(a[c]) * b[c]);
    }
    const double expected = dot_in_documented_order(a.data(), b.data(), n);
    for (const AttentionMicroKernels& kern : sets) {
      const double got = kern.dot(a.data(), b.data(), n);
      EXPECT_TRUE(same_bits(got, expected)) << kern.name << " n=" << n << ": " << got << " vs "
                                            << expected;
      EXPECT_NEAR(got, static_cast<double>(exact), 1e-14 * magnitude) << kern.name << " n=" << n;
    }
  }
}
#endif

}  // namespace

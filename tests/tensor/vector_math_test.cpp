// vector_math_test.cpp: the branch-free erf_f32 and exp_f32 of tensor/vector_math.h against
// double-precision std::erf / std::exp on a dense grid, with the error bounds the header states,
// and their special values (NaN, +-inf, underflow); and the AVX2 / AVX-512 builds of the GELU
// loops (bias_gelu's fused ones too) against the baseline build, bit for bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iterator>
#include <limits>
#include <vector>

#include "tensor/cpu_features.h"
#include "tensor/simd/gelu_simd.h"
#include "tensor/vector_math.h"

namespace {

using ag::kernels::erf_f32;
using ag::kernels::exp_f32;

// 4 million points over [-6, 6] (every ~12th float near 1, denser near 0 via the second loop).
TEST(VectorMath, ErfMatchesStdErfToStatedBound) {
  double worst = 0;
  for (int i = -2000000; i <= 2000000; ++i) {
    const float x = static_cast<float>(i) * 3e-6f;
    worst = std::max(worst, std::fabs(double(erf_f32(x)) - std::erf(double(x))));
  }
  EXPECT_LE(worst, 4.8e-7);
  double worst_relative = 0;  // small arguments, where erf(x) ~ 2x/sqrt(pi): relative accuracy
  for (float x = 1e-30f; x < 1.0f; x *= 1.0001f) {
    worst_relative =
        std::max(worst_relative, std::fabs(double(erf_f32(x)) / std::erf(double(x)) - 1.0));
    ASSERT_EQ(erf_f32(-x), -erf_f32(x)) << x;
  }
  EXPECT_LE(worst_relative, 4e-7);
}

TEST(VectorMath, ErfSpecialValues) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(erf_f32(0.0f), 0.0f);
  EXPECT_EQ(erf_f32(inf), 1.0f);
  EXPECT_EQ(erf_f32(-inf), -1.0f);
  EXPECT_EQ(erf_f32(1e30f), 1.0f);
  EXPECT_TRUE(std::isnan(erf_f32(std::numeric_limits<float>::quiet_NaN())));
}

TEST(VectorMath, ExpMatchesStdExpToStatedBound) {
  double worst = 0;
  for (int i = 0; i <= 4000000; ++i) {
    const float x = -87.3f + static_cast<float>(i) * (175.3f / 4000000.0f);
    if (x > 88.0f) break;
    worst = std::max(worst, std::fabs(double(exp_f32(x)) / std::exp(double(x)) - 1.0));
  }
  EXPECT_LE(worst, 1.2e-7);
}

TEST(VectorMath, ExpSpecialValues) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(exp_f32(0.0f), 1.0f);
  EXPECT_EQ(exp_f32(-88.0f), 0.0f);  // below the smallest normal result: flushed to 0
  EXPECT_EQ(exp_f32(-inf), 0.0f);
  EXPECT_EQ(exp_f32(89.0f), inf);
  EXPECT_EQ(exp_f32(inf), inf);
  EXPECT_TRUE(std::isnan(exp_f32(std::numeric_limits<float>::quiet_NaN())));
}

// The GELU loops built for AVX2 and AVX-512 (tensor/simd/gelu_*.cpp) against this file's
// baseline build of the same loops: bit for bit, including tails and extreme inputs.
#if defined(AG_TEST_SIMD)
TEST(VectorMath, SimdGeluLoopsGiveTheBaselineBits) {
  std::vector<float> x(100003), dy(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = std::sin(static_cast<float>(i) * 0.37f) * 7.0f;
    dy[i] = std::cos(static_cast<float>(i) * 0.11f);
  }
  const float specials[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 1e30f, -1e30f, 13.0f, -13.0f,
                            std::numeric_limits<float>::infinity(), 4.0f, -4.0f};
  std::copy(std::begin(specials), std::end(specials), x.begin());
  using Loop = void (*)(const float*, float*, int64_t);
  using BackwardLoop = void (*)(const float*, const float*, float*, int64_t);
  struct Isa { const char* name; bool present; Loop forward; BackwardLoop backward; };
  const Isa isas[] = {
      {"avx2", ag::cpu_has_avx2(), ag::kernels::simd::gelu_erf_f32_avx2,
       ag::kernels::simd::gelu_erf_backward_f32_avx2},
      {"avx512", ag::cpu_has_avx512(), ag::kernels::simd::gelu_erf_f32_avx512,
       ag::kernels::simd::gelu_erf_backward_f32_avx512}};
  for (const Isa& isa : isas) {
    if (!isa.present) continue;
    for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{17}, static_cast<int64_t>(x.size())}) {
      std::vector<float> base(n), wide(n);
      ag::kernels::gelu_erf_f32_loop(x.data(), base.data(), n);
      isa.forward(x.data(), wide.data(), n);
      EXPECT_EQ(std::memcmp(base.data(), wide.data(), sizeof(float) * n), 0) << isa.name << n;
      ag::kernels::gelu_erf_backward_f32_loop(dy.data(), x.data(), base.data(), n);
      isa.backward(dy.data(), x.data(), wide.data(), n);
      EXPECT_EQ(std::memcmp(base.data(), wide.data(), sizeof(float) * n), 0) << isa.name << n;
    }
  }
}

// bias_gelu's fused loops (bias added inside, Phi kept, db summed) against their baseline build,
// and against the plain GELU loops applied to h + b: the same bits either way.
TEST(VectorMath, SimdBiasGeluLoopsGiveTheBaselineBits) {
  const int64_t C = 37, rows = 3, n = rows * C;
  std::vector<float> h(n), b(C), dy(n), x(n);
  for (int64_t i = 0; i < n; ++i) {
    h[i] = std::sin(static_cast<float>(i) * 0.37f) * 7.0f;
    dy[i] = std::cos(static_cast<float>(i) * 0.11f);
  }
  for (int64_t c = 0; c < C; ++c) b[c] = 0.5f * std::cos(static_cast<float>(c));
  h[0] = 13.0f, h[1] = -13.0f, h[2] = std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) x[i] = h[i] + b[i % C];
  using Forward = void (*)(const float*, const float*, float*, float*, int64_t);
  using Backward = void (*)(const float*, const float*, const float*, const float*, float*,
                            double*, int64_t);
  struct Isa { const char* name; bool present; Forward forward; Backward backward; };
  const Isa isas[] = {
      {"baseline", true, ag::kernels::bias_gelu_erf_cdf_f32_loop,
       ag::kernels::bias_gelu_erf_backward_cdf_f32_loop},
      {"avx2", ag::cpu_has_avx2(), ag::kernels::simd::bias_gelu_erf_cdf_f32_avx2,
       ag::kernels::simd::bias_gelu_erf_backward_cdf_f32_avx2},
      {"avx512", ag::cpu_has_avx512(), ag::kernels::simd::bias_gelu_erf_cdf_f32_avx512,
       ag::kernels::simd::bias_gelu_erf_backward_cdf_f32_avx512}};
  // The reference: the plain loops on x = h + b, and db summed row by row in double.
  std::vector<float> y_ref(n), dh_ref(n);
  std::vector<double> db_ref(C, 0.25);
  ag::kernels::gelu_erf_f32_loop(x.data(), y_ref.data(), n);
  ag::kernels::gelu_erf_backward_f32_loop(dy.data(), x.data(), dh_ref.data(), n);
  for (int64_t i = 0; i < n; ++i) db_ref[i % C] += dh_ref[i];
  for (const Isa& isa : isas) {
    if (!isa.present) continue;
    std::vector<float> y(n), cdf(n), dh(n);
    std::vector<double> db(C, 0.25);  // the loop adds to what is there
    for (int64_t r = 0; r < rows; ++r) {
      isa.forward(h.data() + r * C, b.data(), y.data() + r * C, cdf.data() + r * C, C);
      isa.backward(dy.data() + r * C, h.data() + r * C, b.data(), cdf.data() + r * C,
                   dh.data() + r * C, db.data(), C);
    }
    EXPECT_EQ(std::memcmp(y.data(), y_ref.data(), sizeof(float) * n), 0) << isa.name;
    EXPECT_EQ(std::memcmp(dh.data(), dh_ref.data(), sizeof(float) * n), 0) << isa.name;
    EXPECT_EQ(std::memcmp(db.data(), db_ref.data(), sizeof(double) * C), 0) << isa.name;
  }
}
#endif

// row_sum's order is its contract (layer norm and cross-entropy rely on it for the same bits in
// every build): lane k sums the terms i = k mod 8 of the whole blocks of 8 in order, the last
// n mod 8 terms form a tail, and ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)) + tail.
// Terms of widely spread magnitudes make any other order show in the last bits.
TEST(VectorMath, RowSumAddsEightLanesThenATreeThenTheTail) {
  // Signed terms from 2^-20 to 2^20 (x), and squared deviations (x - m)^2 of the same.
  std::vector<float> x(45);
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = std::ldexp(std::sin(1.3f * static_cast<float>(i) + 0.2f), static_cast<int>((i * 7) % 41) - 20);
  const double m = 0.37;
  for (int squared = 0; squared < 2; ++squared) {
    auto term = [&](int64_t i) {
      const double d = double(x[i]) - m;
      return squared ? d * d : double(x[i]);
    };
    for (int64_t n = 0; n <= static_cast<int64_t>(x.size()); ++n) {
      double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0}, tail = 0.0;
      const int64_t whole = n / 8 * 8;
      for (int64_t i = 0; i < whole; ++i) lane[i % 8] += term(i);
      for (int64_t i = whole; i < n; ++i) tail += term(i);
      const double want = (((lane[0] + lane[1]) + (lane[2] + lane[3])) +
                           ((lane[4] + lane[5]) + (lane[6] + lane[7]))) + tail;
      const double got = ag::kernels::row_sum<float>(n, [&](int64_t i, auto lanes) {
        const auto v = ag::kernels::load(lanes, x.data() + i);
        if (!squared) return v;
        const auto d = v - m;
        return d * d;
      });
      EXPECT_EQ(got, want) << "n = " << n << (squared ? ", squared deviations" : ", signed terms");
    }
  }
}

}  // namespace

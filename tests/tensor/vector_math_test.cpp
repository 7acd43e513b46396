// vector_math_test.cpp: the branch-free erf_f32 and exp_f32 of tensor/vector_math.h against
// double-precision std::erf / std::exp on a dense grid, with the error bounds the header states,
// and their special values (NaN, +-inf, underflow).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

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

}  // namespace

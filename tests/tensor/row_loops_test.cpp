// row_loops_test.cpp: the AVX2 builds of the layer norm and cross-entropy row loops
// (tensor/simd/layer_norm_avx2.cpp, cross_entropy_avx2.cpp) against the baseline builds of the
// same loops (tensor/layer_norm_rows.h, cross_entropy_rows.h, compiled here), bit for bit, at
// row widths around the eight-accumulator sums (1, 7, 8, 9, 64, 65, 130, 1031):
//   - layer norm: mean, rstd, y, dx and the dw / db partials, with and without the affine
//     weights, and for a row whose mean is large next to its spread;
//   - cross-entropy: loss, lse and dx, with label smoothing or without, ignored rows, a row
//     weight of 0, logits of 1e4 and -inf; and its row maximum, wherever the largest value sits.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include <limits>

#include "tensor/cpu_features.h"
#include "tensor/cross_entropy_rows.h"
#include "tensor/layer_norm_rows.h"
#include "tensor/simd/cross_entropy_simd.h"
#include "tensor/simd/layer_norm_simd.h"

namespace {

template <typename T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), sizeof(T) * a.size()) == 0;
}

#if defined(AG_TEST_SIMD)
TEST(LayerNormRows, Avx2GivesTheBaselineBits) {
  if (!ag::cpu_has_avx2()) GTEST_SKIP() << "this CPU has no AVX2";
  using ag::kernels::layer_norm_backward_rows;
  using ag::kernels::layer_norm_forward_rows;
  using ag::kernels::simd::layer_norm_backward_rows_f32_avx2;
  using ag::kernels::simd::layer_norm_forward_rows_f32_avx2;
  const int64_t N = 5;
  for (int64_t C : {1, 7, 8, 9, 64, 130, 1031}) {
    std::vector<float> x(N * C), dy(N * C), w(C), b(C);
    for (int64_t i = 0; i < N * C; ++i) {
      // Row 3 sits at 1000 with a spread of 0.01: the cancellation double is there for.
      const float offset = i / C == 3 ? 1000.0f : 0.0f, scale = i / C == 3 ? 0.01f : 2.0f;
      x[i] = offset + scale * std::sin(0.37f * static_cast<float>(i) + 0.1f);
      dy[i] = std::cos(0.11f * static_cast<float>(i));
    }
    for (int64_t c = 0; c < C; ++c) {
      w[c] = 1.0f + 0.5f * std::sin(static_cast<float>(c));
      b[c] = 0.25f * std::cos(static_cast<float>(c));
    }
    for (bool affine : {true, false}) {
      const float* wp = affine ? w.data() : nullptr;
      const float* bp = affine ? b.data() : nullptr;
      std::vector<float> y0(N * C), y1(N * C), dx0(N * C), dx1(N * C);
      std::vector<double> mean0(N), mean1(N), rstd0(N), rstd1(N);
      // Rows 1..N-1, so a run that does not start at row 0 is covered too.
      layer_norm_forward_rows<float>(y0.data(), mean0.data(), rstd0.data(), x.data(), wp, bp, 1,
                                     N, C, 1e-5);
      layer_norm_forward_rows_f32_avx2(y1.data(), mean1.data(), rstd1.data(), x.data(), wp, bp,
                                       1, N, C, 1e-5);
      EXPECT_TRUE(same_bits(y0, y1)) << "y, C = " << C << ", affine " << affine;
      EXPECT_TRUE(same_bits(mean0, mean1)) << "mean, C = " << C;
      EXPECT_TRUE(same_bits(rstd0, rstd1)) << "rstd, C = " << C;
      for (bool params : {true, false}) {
        std::vector<double> part0(2 * C, 0.5), part1(2 * C, 0.5);  // partials add to what is there
        double* p0 = params ? part0.data() : nullptr;
        double* p1 = params ? part1.data() : nullptr;
        layer_norm_backward_rows<float>(dx0.data(), p0, params ? p0 + C : nullptr, dy.data(),
                                        x.data(), wp, mean0.data(), rstd0.data(), 1, N, C);
        layer_norm_backward_rows_f32_avx2(dx1.data(), p1, params ? p1 + C : nullptr, dy.data(),
                                          x.data(), wp, mean1.data(), rstd1.data(), 1, N, C);
        EXPECT_TRUE(same_bits(dx0, dx1)) << "dx, C = " << C << ", affine " << affine;
        EXPECT_TRUE(same_bits(part0, part1)) << "dw, db, C = " << C << ", affine " << affine;
        // db, not dw: with C = 1, x_hat = 0 and dw only adds 0.
        if (params) EXPECT_NE(part0[C], 0.5) << "db was not touched";
      }
    }
  }
}

TEST(CrossEntropyRows, Avx2GivesTheBaselineBits) {
  if (!ag::cpu_has_avx2()) GTEST_SKIP() << "this CPU has no AVX2";
  using ag::kernels::cross_entropy_backward_rows;
  using ag::kernels::cross_entropy_forward_rows;
  using ag::kernels::simd::cross_entropy_backward_rows_f32_avx2;
  using ag::kernels::simd::cross_entropy_forward_rows_f32_avx2;
  const int64_t N = 6, ignore = -100;
  for (int64_t V : {1, 7, 8, 9, 65, 130, 1031}) {
    std::vector<float> x(N * V);
    for (int64_t i = 0; i < N * V; ++i) x[i] = 6.0f * std::sin(0.37f * static_cast<float>(i));
    x[2 * V] = 1e4f;  // row 2: one huge logit (the shift by the row max keeps it finite)
    if (V > 1) x[4 * V + 1] = -std::numeric_limits<float>::infinity();  // row 4: a -inf logit
    const std::vector<int64_t> targets = {0, V - 1, 0, ignore, V / 2, V - 1};
    // Row 5 weighs 0: its gradient is zeroed whatever the logits say.
    const std::vector<double> weight = {1.0, 0.5, 2.0, 1.0, 1.0 / 3.0, 0.0};
    for (double ls : {0.0, 0.1}) {
      std::vector<double> loss0(N), loss1(N), lse0(N), lse1(N);
      std::vector<float> e(V), dx0(N * V, 7.0f), dx1(N * V, 7.0f);
      cross_entropy_forward_rows<float>(loss0.data(), lse0.data(), x.data(), targets.data(), 0,
                                        N, V, ignore, ls, e.data());
      cross_entropy_forward_rows_f32_avx2(loss1.data(), lse1.data(), x.data(), targets.data(), 0,
                                          N, V, ignore, ls, e.data());
      EXPECT_TRUE(same_bits(loss0, loss1)) << "loss, V = " << V << ", ls " << ls;
      EXPECT_TRUE(same_bits(lse0, lse1)) << "lse, V = " << V << ", ls " << ls;
      cross_entropy_backward_rows<float>(dx0.data(), x.data(), targets.data(), lse0.data(),
                                         weight.data(), 0, N, V, ignore, ls);
      cross_entropy_backward_rows_f32_avx2(dx1.data(), x.data(), targets.data(), lse1.data(),
                                           weight.data(), 0, N, V, ignore, ls);
      EXPECT_TRUE(same_bits(dx0, dx1)) << "dx, V = " << V << ", ls " << ls;
      EXPECT_EQ(loss0[3], 0.0) << "an ignored row adds no loss";
      EXPECT_EQ(dx0[5 * V], 0.0f) << "a row of weight 0 gets no gradient";
      EXPECT_TRUE(std::isfinite(loss0[2])) << "V = " << V;
      // A -inf logit costs nothing without smoothing; with it, smooth = V lse - sum(x) = +inf.
      if (V > 1) EXPECT_EQ(std::isfinite(loss0[4]), ls == 0.0) << "V = " << V << ", ls " << ls;
    }
  }
}
#endif

// The loops themselves, whichever build runs them: a row normalised to mean 0 and variance 1
// (biased, as PyTorch), dx orthogonal to the constant row and to x_hat when w = 1, and db the
// plain sum of dy.
TEST(LayerNormRows, NormaliseAndBackwardIdentities) {
  const int64_t C = 37;
  std::vector<float> x(C), dy(C), y(C), dx(C);
  for (int64_t c = 0; c < C; ++c) {
    x[c] = 1000.0f + 0.01f * std::sin(0.7f * static_cast<float>(c));
    dy[c] = std::cos(0.3f * static_cast<float>(c));
  }
  double mean = 0, rstd = 0;
  ag::kernels::layer_norm_forward_rows<float>(y.data(), &mean, &rstd, x.data(), nullptr, nullptr,
                                              0, 1, C, 1e-12);
  double sum = 0, sq = 0;
  for (float v : y) sum += v, sq += double(v) * v;
  EXPECT_NEAR(sum / C, 0.0, 1e-5);
  EXPECT_NEAR(sq / C, 1.0, 1e-4);
  std::vector<double> part(2 * C, 0.0);
  ag::kernels::layer_norm_backward_rows<float>(dx.data(), part.data(), part.data() + C, dy.data(),
                                               x.data(), nullptr, &mean, &rstd, 0, 1, C);
  double dx_sum = 0, dx_dot_y = 0;
  for (int64_t c = 0; c < C; ++c) dx_sum += dx[c], dx_dot_y += double(dx[c]) * y[c];
  EXPECT_NEAR(dx_sum, 0.0, 1e-2 * rstd * 1e-3);
  EXPECT_NEAR(dx_dot_y, 0.0, 1e-2 * rstd * 1e-3);
  for (int64_t c = 0; c < C; ++c) {
    EXPECT_EQ(part[C + c], double(dy[c]));
    EXPECT_NEAR(part[c], double(dy[c]) * y[c], 1e-5);
  }
}

// The cross-entropy's row maximum runs eight lanes and a tree: whichever lane or tail position
// holds the largest value, it is found; a NaN is skipped as std::max skips it; all -inf is -inf.
TEST(CrossEntropyRows, RowMaxFindsTheLargestInEveryLaneAndTheTail) {
  const float inf = std::numeric_limits<float>::infinity();
  for (int64_t n = 1; n <= 27; ++n) {
    for (int64_t at = 0; at < n; ++at) {
      std::vector<float> x(n);
      for (int64_t c = 0; c < n; ++c) x[c] = -1.0f - 0.25f * static_cast<float>((c * 7) % n);
      x[at] = 3.5f;
      EXPECT_EQ(ag::kernels::row_max(x.data(), n), 3.5) << "n = " << n << ", largest at " << at;
      x[(at + 1) % n] = std::numeric_limits<float>::quiet_NaN();
      if (n > 1) EXPECT_EQ(ag::kernels::row_max(x.data(), n), 3.5) << "n = " << n << ", NaN beside it";
    }
    const std::vector<float> masked(n, -inf);
    EXPECT_EQ(ag::kernels::row_max(masked.data(), n), -static_cast<double>(inf)) << "n = " << n;
  }
  const std::vector<double> wide = {1e300, -2.0, 5e300};  // float64 rows keep their range
  EXPECT_EQ(ag::kernels::row_max(wide.data(), 3), 5e300);
}

}  // namespace

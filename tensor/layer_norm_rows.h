// layer_norm_rows.h: the row loops of layer norm's fused forward and backward, for a run of
// rows [r0, r1). nn/functional/layer_norm.cpp has the formulas, the checks and the threads; this
// header has only the arithmetic, so that it can be compiled twice:
//   - in layer_norm.cpp with the baseline flags (SSE2: two doubles per instruction), and
//   - in tensor/simd/layer_norm_avx2.cpp with AVX2 (four doubles per instruction), which the
//     float32 layer norm uses when the CPU has it (a forward + backward benchmark at (2048,
//     384) took 26% fewer cycles in all, allocation and autograd included).
// The two give the same bits: nothing here reassociates a sum (row_sum's eight accumulators
// have a fixed order whatever the vector width), and the AVX2 file is compiled with
// -ffp-contract=off, so no multiply and add are fused into one rounding.
//
// The arithmetic is in double whatever T is: x - mean cancels when the mean is large next to
// the spread, and double keeps that cancellation exact for float32 rows.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "tensor/vector_math.h"  // row_sum

// An anonymous namespace, as in vector_math.h: one copy per translation unit, so the linker can
// never hand the AVX2 copy to a CPU without AVX2.
namespace ag::kernels {
namespace {

// Rows per group in the loops below. A row's statistics are a chain: the sum, then the mean,
// the squares around it, a square root and a division, each waiting on the last. Rows are
// independent, so the statistics of kRowGroup rows are computed one after the other before any
// of their outputs: the out-of-order core then runs the chains of neighbouring rows side by
// side, where a long output loop between two rows' chains kept them apart. (Each row's
// arithmetic is unchanged, so are its bits.) Measured on GPT tiny's rows, (1024, 64), AVX2
// build, fastest of 300 calls: the forward 65 -> 53 us, the backward unchanged at 87 us.
constexpr int64_t kRowGroup = 4;

// Rows [r0, r1): mean, rstd = 1 / sqrt(var + eps) and y = (x - mean) * rstd * w + b.
// x, y: (N, C) contiguous   w, b: (C) or null   mean, rstd: (N)
template <typename T>
void layer_norm_forward_rows(T* y, double* mean, double* rstd, const T* x, const T* w,
                             const T* b, int64_t r0, int64_t r1, int64_t C, double eps) {
  for (int64_t g0 = r0; g0 < r1; g0 += kRowGroup) {
    const int64_t g1 = std::min(r1, g0 + kRowGroup);
    for (int64_t r = g0; r < g1; ++r) {
      const T* x_row = x + r * C;
      // Two passes (mean, then the squares around it): the one-pass E[x^2] - E[x]^2 cancels
      // catastrophically when the mean is large next to the spread.
      const double sum = row_sum<T>(C, [&](int64_t c, auto lanes) { return load(lanes, x_row + c); });
      const double m = sum / static_cast<double>(C);
      const double sq = row_sum<T>(C, [&](int64_t c, auto lanes) {
        const auto d = load(lanes, x_row + c) - m;
        return d * d;
      });
      mean[r] = m;
      rstd[r] = 1.0 / std::sqrt(sq / static_cast<double>(C) + eps);
    }
    for (int64_t r = g0; r < g1; ++r) {
      const T* x_row = x + r * C;
      T* y_row = y + r * C;
      const double m = mean[r], s = rstd[r];
      if (w && b) {  // the common case gets a loop without null tests, so it vectorises
        for (int64_t c = 0; c < C; ++c) y_row[c] = static_cast<T>((x_row[c] - m) * s * w[c] + b[c]);
      } else {
        for (int64_t c = 0; c < C; ++c) {
          double v = (x_row[c] - m) * s;
          if (w) v *= w[c];
          if (b) v += b[c];
          y_row[c] = static_cast<T>(v);
        }
      }
    }
  }
}

// One row's share of the parameter gradients: dw += dy * x_hat, db += dy.   all: (C)
// __restrict tells the compiler the four rows never overlap; without it GCC vectorises behind
// a run-time overlap test that fails for these rows and runs the scalar copy instead.
template <typename T>
void add_param_grads(double* __restrict dw, double* __restrict db, const T* __restrict dy,
                     const T* __restrict x, double mean, double rstd, int64_t C) {
  for (int64_t c = 0; c < C; ++c) {
    dw[c] += dy[c] * ((x[c] - mean) * rstd);
    db[c] += dy[c];
  }
}

// Rows [r0, r1) of the backward. With g = dy * w (or dy without affine weights):
//   dx = rstd * (g - mean(g) - x_hat * mean(g * x_hat))        (means over the row)
// and, when dw_part is not null, dw_part += dy * x_hat and db_part += dy over these rows, in row
// order. The two means of kRowGroup rows come first, then each row's dx (see kRowGroup).
// x, dy, dx: (N, C) contiguous   w: (C) or null   mean, rstd: (N)   dw_part, db_part: (C) or null
template <typename T>
void layer_norm_backward_rows(T* dx, double* dw_part, double* db_part, const T* dy, const T* x,
                              const T* w, const double* mean, const double* rstd, int64_t r0,
                              int64_t r1, int64_t C) {
  // The choice of g is made once, outside the loops: a `w ? ... : ...` inside them cannot be
  // vectorised (w[c] may not be read when w is null), and either way each element is computed
  // by the same expression.
  auto process_rows = [&](auto with_w) {
    // g of row dy_row at c, or at c .. c + 7 (row_sum's terms, tensor/vector_math.h)
    auto g_at = [&](const T* dy_row, int64_t c, auto lanes) {
      if constexpr (decltype(with_w)::value) return load(lanes, dy_row + c) * load(lanes, w + c);
      else return load(lanes, dy_row + c);
    };
    double mean_g[kRowGroup], mean_g_xhat[kRowGroup];
    for (int64_t g0 = r0; g0 < r1; g0 += kRowGroup) {
      const int64_t g1 = std::min(r1, g0 + kRowGroup);
      // Pass 1: the two row means of g and g * x_hat.
      for (int64_t r = g0; r < g1; ++r) {
        const T* x_row = x + r * C;
        const T* dy_row = dy + r * C;
        const double m = mean[r], s = rstd[r];
        mean_g[r - g0] = row_sum<T>(C, [&](int64_t c, auto lanes) { return g_at(dy_row, c, lanes); }) /
                         static_cast<double>(C);
        mean_g_xhat[r - g0] = row_sum<T>(C, [&](int64_t c, auto lanes) {
          return g_at(dy_row, c, lanes) * ((load(lanes, x_row + c) - m) * s);
        }) / static_cast<double>(C);
      }
      // Pass 2: each row's share of dw, db, and dx = rstd * (g - mean(g) - x_hat * mean(g * x_hat)).
      for (int64_t r = g0; r < g1; ++r) {
        const T* x_row = x + r * C;
        const T* dy_row = dy + r * C;
        T* dx_row = dx + r * C;
        const double m = mean[r], s = rstd[r];
        if (dw_part) add_param_grads(dw_part, db_part, dy_row, x_row, m, s, C);
        for (int64_t c = 0; c < C; ++c) {
          const double x_hat = (x_row[c] - m) * s;
          dx_row[c] = static_cast<T>(
              s * (g_at(dy_row, c, Lanes<double>{}) - mean_g[r - g0] - x_hat * mean_g_xhat[r - g0]));
        }
      }
    }
  };
  if (w) process_rows(std::true_type{});
  else process_rows(std::false_type{});
}

}  // namespace
}  // namespace ag::kernels

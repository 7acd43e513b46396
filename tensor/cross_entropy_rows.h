// cross_entropy_rows.h: the row loops of the fused cross-entropy's forward and backward, for a
// run of rows [r0, r1). nn/functional/cross_entropy.cpp has the formulas, the checks and the
// threads; this header has only the arithmetic, so that it can be compiled twice:
//   - in cross_entropy.cpp with the baseline flags (SSE2: four floats per instruction), and
//   - in tensor/simd/cross_entropy_avx2.cpp with AVX2 (eight), which float32 logits use when
//     the CPU has it.
// The two give the same bits: no sum is reassociated (row_sum's order depends on V alone), and
// both files are compiled with -ffp-contract=off, so no multiply and add fuse into one rounding.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "tensor/vector_math.h"  // exp_f32, row_sum

// An anonymous namespace, as in vector_math.h: one copy per translation unit, so the linker can
// never hand the AVX2 copy to a CPU without AVX2.
namespace ag::kernels {
namespace {

// The largest of x[0 .. n), NaN skipped (std::max keeps its first argument when the second is
// NaN). Eight running maxima (lane k takes c = k mod 8, lane 0 also the last n mod 8), then a
// fixed tree: one chain of n dependent max instructions waited ~4 cycles on each (for GPT's 65
// logits, about half of the forward's time), eight chains overlap. A maximum is exact, and which of several maxima the
// tree picks can only differ in the sign of a zero, which no result below can see.
template <typename T>
double row_max(const T* x, int64_t n) {
  T m[8];
  std::fill_n(m, 8, -std::numeric_limits<T>::infinity());
  int64_t c = 0;
  for (; c + 8 <= n; c += 8)
    for (int k = 0; k < 8; ++k) m[k] = std::max(m[k], x[c + k]);
  for (; c < n; ++c) m[0] = std::max(m[0], x[c]);
  return static_cast<double>(std::max(std::max(std::max(m[0], m[1]), std::max(m[2], m[3])),
                                      std::max(std::max(m[4], m[5]), std::max(m[6], m[7]))));
}

// Rows [r0, r1): loss = (1 - ls) nll + (ls / V) smooth, and lse = log sum exp(x) per row.
// logits: (N, V) contiguous   targets, loss, lse: (N)   e: V floats of scratch (float32 only)
template <typename T>
void cross_entropy_forward_rows(double* loss, double* lse, const T* logits,
                                const int64_t* targets, int64_t r0, int64_t r1, int64_t V,
                                int64_t ignore_index, double ls, float* e) {
  for (int64_t r = r0; r < r1; ++r) {
    if (targets[r] == ignore_index) {
      loss[r] = 0.0;
      lse[r] = 0.0;  // unused: an ignored row has no gradient
      continue;
    }
    const T* x_row = logits + r * V;
    const double max = row_max(x_row, V);
    // exp(x - max) <= 1, so the sum is in [1, V]: it can neither overflow nor vanish.
    double sum_exp = 0.0, sum_x = 0.0;
    if constexpr (std::is_same_v<T, float>) {
      // float32: the exponentials in one vectorised pass (exp_f32, under 1 ulp of float),
      // then summed in double in a fixed order that vectorises too (row_sum).
      for (int64_t c = 0; c < V; ++c) e[c] = exp_f32(static_cast<float>(x_row[c] - max));
      sum_exp = row_sum<T>(V, [&](int64_t c, auto lanes) { return load(lanes, e + c); });
      if (ls != 0.0)
        for (int64_t k = 0; k < V; ++k) sum_x += x_row[k];
    } else {
      for (int64_t c = 0; c < V; ++c) {
        sum_exp += std::exp(x_row[c] - max);
        sum_x += x_row[c];
      }
    }
    const double row_lse = max + std::log(sum_exp);
    const double nll = row_lse - x_row[targets[r]];
    const double smooth = static_cast<double>(V) * row_lse - sum_x;
    lse[r] = row_lse;
    // With ls = 0 this is exactly nll (the smoothing term is skipped, not multiplied by 0,
    // so a -inf logit elsewhere in the row cannot turn the loss into NaN).
    loss[r] = ls == 0.0 ? nll : (1.0 - ls) * nll + ls / static_cast<double>(V) * smooth;
  }
}

// Rows [r0, r1): dx = row_weight * (exp(x - lse) - (1 - ls) one_hot(t) - ls / V); rows that
// are ignored or weigh 0 are zeroed.
// logits, dx: (N, V) contiguous   targets, lse, row_weight: (N)
template <typename T>
void cross_entropy_backward_rows(T* dx, const T* logits, const int64_t* targets,
                                 const double* lse, const double* row_weight, int64_t r0,
                                 int64_t r1, int64_t V, int64_t ignore_index, double ls) {
  for (int64_t r = r0; r < r1; ++r) {
    T* dx_row = dx + r * V;
    if (targets[r] == ignore_index || row_weight[r] == 0.0) {
      for (int64_t c = 0; c < V; ++c) dx_row[c] = T(0);
      continue;
    }
    const T* x_row = logits + r * V;
    const double uniform = ls / static_cast<double>(V);
    const int64_t t = targets[r];
    const double w = row_weight[r], row_lse = lse[r];
    // softmax = exp(x - lse): float32 through exp_f32, so the loop vectorises; float64
    // through std::exp.
    auto p = [&](int64_t c) -> double {
      if constexpr (std::is_same_v<T, float>)
        return exp_f32(static_cast<float>(x_row[c] - row_lse));
      else
        return std::exp(x_row[c] - row_lse);
    };
    // Every class gets q = ls / V first; the target's q = (1 - ls) + ls / V is written after,
    // so the loop has no branch on c.
    for (int64_t c = 0; c < V; ++c) dx_row[c] = static_cast<T>(w * (p(c) - uniform));
    dx_row[t] = static_cast<T>(w * (p(t) - ((1.0 - ls) + uniform)));
  }
}

}  // namespace
}  // namespace ag::kernels

// cross_entropy.cpp: F::cross_entropy, log_softmax and the negative log-likelihood fused into
// one pass over the logits, with PyTorch's ignore_index, reductions and label smoothing.
//
// Per row with logits x (V classes) and target t, lse = log sum_c exp(x_c) (shifted by the row
// max, so logits of 1e4 stay finite):
//   nll    = lse - x_t                              (= -log_softmax(x)_t)
//   smooth = sum_c (lse - x_c) = V lse - sum_c x_c  (= -sum_c log_softmax(x)_c)
//   loss   = (1 - ls) * nll + (ls / V) * smooth     (ls = label_smoothing; PyTorch's formula)
// which is the cross-entropy against the target distribution q = (1 - ls) one_hot(t) + ls / V.
// Its gradient is therefore softmax minus that distribution:
//   dx_c = dy_row * (softmax(x)_c - (1 - ls) [c == t] - ls / V)
// The forward saves lse per row, so the backward rebuilds softmax = exp(x - lse) without a
// second reduction. Rows whose target is ignore_index add no loss and get no gradient.
//
// Reduction::Mean divides by the number of rows that are not ignored (as PyTorch does). When
// every row is ignored PyTorch returns 0/0 = NaN; we return 0 with zero gradients, so a batch of
// pure padding cannot poison a training run.
//
// float32 logits take exp from tensor/vector_math.h (vectorised, under 1 ulp of float), float64
// keeps std::exp, so float64 losses and gradients are exactly as before. The row loops are in
// tensor/cross_entropy_rows.h, built here and, for float32 on a CPU with AVX2, in
// tensor/simd/cross_entropy_avx2.cpp: the same bits, eight floats per instruction.
//
// Like layer_norm, the backward is a raw kernel, and under create_graph the same formula is
// written with differentiable ops (softmax(x) - q), so cross_entropy is twice differentiable.
#include <cmath>
#include <type_traits>
#include <vector>

#include "autograd/node.h"
#include "nn/functional.h"
#include "tensor/cpu_features.h"
#include "tensor/cross_entropy_rows.h"
#include "tensor/kernels.h"
#include "tensor/simd/cross_entropy_simd.h"

namespace ag::nn::functional {

using autograd::Grads;
using autograd::record;

namespace {

constexpr int64_t kRowsPerChunk = 64;  // fixed: chunking never depends on the thread count

// The float32 row loops for this CPU, chosen once: the AVX2 build or this file's baseline
// build of tensor/cross_entropy_rows.h. Both give the same bits; only the speed differs.
struct CrossEntropyRowsF32 {
  decltype(&kernels::cross_entropy_forward_rows<float>) forward;
  decltype(&kernels::cross_entropy_backward_rows<float>) backward;
};

const CrossEntropyRowsF32& cross_entropy_rows_f32() {
  static const CrossEntropyRowsF32 rows = [] {
#if defined(AG_HAVE_SIMD)
    if (cpu_has_avx2())
      return CrossEntropyRowsF32{kernels::simd::cross_entropy_forward_rows_f32_avx2,
                                 kernels::simd::cross_entropy_backward_rows_f32_avx2};
#endif
    return CrossEntropyRowsF32{kernels::cross_entropy_forward_rows<float>,
                               kernels::cross_entropy_backward_rows<float>};
  }();
  return rows;
}

// Per-row loss and lse.   logits: (N, V) contiguous   targets: (N)   loss, lse: (N)
template <typename T>
void cross_entropy_forward(double* loss, double* lse, const T* logits, const int64_t* targets,
                           int64_t N, int64_t V, int64_t ignore_index, double ls) {
  auto rows = kernels::cross_entropy_forward_rows<T>;
  if constexpr (std::is_same_v<T, float>) rows = cross_entropy_rows_f32().forward;
  parallel_for(0, N, kRowsPerChunk, [&](int64_t r0, int64_t r1) {
    std::vector<float> e(std::is_same_v<T, float> ? static_cast<size_t>(V) : 0);  // exp(x - max)
    rows(loss, lse, logits, targets, r0, r1, V, ignore_index, ls, e.data());
  });
}

// dx = row_weight * (exp(x - lse) - (1 - ls) one_hot(t) - ls / V), rows with weight 0 zeroed.
// logits, dx: (N, V) contiguous   targets, lse, row_weight: (N)
template <typename T>
void cross_entropy_backward(T* dx, const T* logits, const int64_t* targets, const double* lse,
                            const double* row_weight, int64_t N, int64_t V, int64_t ignore_index,
                            double ls) {
  auto rows = kernels::cross_entropy_backward_rows<T>;
  if constexpr (std::is_same_v<T, float>) rows = cross_entropy_rows_f32().backward;
  parallel_for(0, N, kRowsPerChunk, [&](int64_t r0, int64_t r1) {
    rows(dx, logits, targets, lse, row_weight, r0, r1, V, ignore_index, ls);
  });
}

}  // namespace

// logits: (..., V)   targets: int64 (...)   returns: scalar, or (...) for Reduction::None
Tensor cross_entropy(const Tensor& logits, const Tensor& targets,
                     const CrossEntropyOptions& options) {
  if (!logits.defined() || !targets.defined())
    throw Error("cross_entropy", "logits or targets is undefined");
  if (!logits.is_floating_point())
    throw Error("cross_entropy", "logits must be floating (float32 or float64), got ",
                logits.dtype());
  if (targets.dtype() != kInt64)
    throw Error("cross_entropy", "targets must be int64 class indices, got ", targets.dtype(),
                " (soft probability targets are not supported)");
  if (logits.dim() < 1 || logits.size(-1) < 1)
    throw Error("cross_entropy", "logits must be (..., V) with V >= 1 classes, got shape ",
                logits.shape());
  const Shape lead(logits.shape().begin(), logits.shape().end() - 1);
  if (targets.shape() != lead)
    throw Error("cross_entropy", "targets must have the logits' shape without the class dim: "
                "logits are ", logits.shape(), ", so targets should be ", lead, ", got ",
                targets.shape());
  const double ls = options.label_smoothing;
  if (!(ls >= 0.0 && ls <= 1.0))
    throw Error("cross_entropy", "label_smoothing must be in [0, 1], got ", ls);

  const int64_t V = logits.size(-1);
  const int64_t N = lead.numel();
  const int64_t ignore_index = options.ignore_index;
  const Tensor t = kernels::contiguous(targets);  // (N)
  const int64_t* t_data = t.data_ptr<int64_t>();
  int64_t num_valid = 0;
  for (int64_t r = 0; r < N; ++r) {
    if (t_data[r] == ignore_index) continue;
    if (t_data[r] < 0 || t_data[r] >= V)
      throw Error("cross_entropy", "target ", t_data[r], " is out of range for ", V,
                  " classes (valid targets are 0..", V - 1, ", or ignore_index ", ignore_index,
                  ")");
    ++num_valid;
  }

  const Tensor x = kernels::contiguous(logits);  // (N, V) in memory
  std::vector<double> loss(static_cast<size_t>(N)), lse_rows(static_cast<size_t>(N));
  dispatch_floating(logits.dtype(), "cross_entropy", [&](auto zero) {
    using T = decltype(zero);
    cross_entropy_forward<T>(loss.data(), lse_rows.data(), x.data_ptr<T>(), t_data, N, V,
                             ignore_index, ls);
  });

  const Reduction reduction = options.reduction;
  Tensor y;
  if (reduction == Reduction::None) {
    y = kernels::cast(from_vector<double>(loss, lead), logits.dtype());  // (...)
  } else {
    double total = 0.0;
    for (double l : loss) total += l;  // row order: reproducible
    if (reduction == Reduction::Mean) total = num_valid == 0 ? 0.0 : total / num_valid;
    y = scalar_tensor(total, logits.dtype());  // ()
  }

  return record("cross_entropy", y, {logits},
                [logits, x, t, lse_rows = std::move(lse_rows), shape = logits.shape(), N, V, ls,
                 ignore_index, reduction, num_valid](const Tensor& dy) {
    // How much each row's loss counts in the output: dy itself for None, dy / num_valid for
    // Mean (0 when nothing is valid: the defined all-ignored case).
    const double mean_factor = num_valid == 0 ? 0.0 : 1.0 / static_cast<double>(num_valid);
    if (GradMode::is_enabled()) {
      // create_graph: softmax(x) - q in differentiable ops, on the recorded logits (x may be a
      // raw contiguous copy that autograd cannot see through).   x2: (N, V)
      const Tensor x2 = logits.reshape({N, V});
      const int64_t* t_data = t.data_ptr<int64_t>();
      std::vector<double> q(static_cast<size_t>(N * V), 0.0), valid(static_cast<size_t>(N), 0.0);
      for (int64_t r = 0; r < N; ++r) {
        if (t_data[r] == ignore_index) continue;
        valid[r] = 1.0;
        for (int64_t c = 0; c < V; ++c) q[r * V + c] = ls / static_cast<double>(V);
        q[r * V + t_data[r]] += 1.0 - ls;
      }
      const Tensor target_dist = from_vector(q, {N, V}, x.dtype());    // (N, V)
      const Tensor valid_rows = from_vector(valid, {N, 1}, x.dtype());  // (N, 1)
      Tensor row_weight = reduction == Reduction::None ? dy.reshape({N, 1}) * valid_rows
                          : reduction == Reduction::Sum ? dy * valid_rows
                                                        : dy * valid_rows * mean_factor;
      return Grads{((ag::softmax(x2, -1) - target_dist) * row_weight).reshape(shape)};
    }
    std::vector<double> row_weight(static_cast<size_t>(N));
    if (reduction == Reduction::None) {
      const Tensor dy_rows = kernels::cast(kernels::contiguous(dy), kFloat64);  // (N)
      const double* p = dy_rows.data_ptr<double>();
      for (int64_t r = 0; r < N; ++r) row_weight[r] = p[r];
    } else {
      const double g = dy.item<double>();
      for (int64_t r = 0; r < N; ++r)
        row_weight[r] = reduction == Reduction::Sum ? g : g * mean_factor;
    }
    Tensor dx = empty(shape, x.dtype());
    dispatch_floating(x.dtype(), "cross_entropy", [&](auto zero) {
      using T = decltype(zero);
      cross_entropy_backward<T>(dx.data_ptr<T>(), x.data_ptr<T>(), t.data_ptr<int64_t>(),
                                lse_rows.data(), row_weight.data(), N, V, ignore_index, ls);
    });
    return Grads{dx};
  }, {logits});
}

}  // namespace ag::nn::functional

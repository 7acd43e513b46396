// layer_norm.cpp: F::layer_norm (Ba, Kiros and Hinton, 2016), fused: one kernel computes each
// row's mean and reciprocal standard deviation and normalizes it, one kernel undoes it.
//
// Per row of C = prod(normalized_shape) values (biased variance, as PyTorch):
//   mean = sum(x) / C      var = sum((x - mean)^2) / C      rstd = 1 / sqrt(var + eps)
//   x_hat = (x - mean) * rstd       y = x_hat * w + b
// The forward saves only mean and rstd per row (two numbers, not a copy of x_hat). With
// g = dy * w, the backward is
//   dx = rstd * (g - mean(g) - x_hat * mean(g * x_hat))     (means over the row)
//   dw = sum over rows of dy * x_hat      db = sum over rows of dy
// The two means are the derivative passing through mean and rstd: shifting a whole row changes
// nothing, and scaling a row changes nothing but the part of g along x_hat.
//
// The fused backward runs raw kernels, which autograd cannot see into. When the backward itself
// is recorded (create_graph, for a gradient of a gradient), the same formula is instead written
// with differentiable ops, recomputing mean and rstd from x so that their dependence on x is
// part of the recorded graph: layer_norm is twice differentiable.
//
// A constant row has var = 0, so rstd = 1/sqrt(eps): finite, which is why eps must be > 0.
//
// The row loops are in tensor/layer_norm_rows.h, built here and, for float32 on a CPU with AVX2,
// in tensor/simd/layer_norm_avx2.cpp: the same bits, four doubles per instruction.
#include <cmath>
#include <type_traits>
#include <vector>

#include "autograd/node.h"
#include "nn/functional.h"
#include "tensor/cpu_features.h"
#include "tensor/kernels.h"
#include "tensor/layer_norm_rows.h"
#include "tensor/simd/layer_norm_simd.h"

namespace ag::nn::functional {

using autograd::Grads;
using autograd::record;

namespace {

// Rows per parallel chunk. Fixed, never derived from the thread count: the partial sums of dw
// and db are kept one per chunk and added in chunk order, so 1 and N threads give equal bits.
constexpr int64_t kRowsPerChunk = 32;

// The float32 row loops for this CPU, chosen once: the AVX2 build or this file's baseline
// build of tensor/layer_norm_rows.h. Both give the same bits; only the speed differs.
struct LayerNormRowsF32 {
  decltype(&kernels::layer_norm_forward_rows<float>) forward;
  decltype(&kernels::layer_norm_backward_rows<float>) backward;
};

const LayerNormRowsF32& layer_norm_rows_f32() {
  static const LayerNormRowsF32 rows = [] {
#if defined(AG_HAVE_SIMD)
    if (cpu_has_avx2())
      return LayerNormRowsF32{kernels::simd::layer_norm_forward_rows_f32_avx2,
                              kernels::simd::layer_norm_backward_rows_f32_avx2};
#endif
    return LayerNormRowsF32{kernels::layer_norm_forward_rows<float>,
                            kernels::layer_norm_backward_rows<float>};
  }();
  return rows;
}

// y = x_hat * w + b per row; also writes mean and rstd.
// x, y: (N, C) contiguous   w, b: (C) or null   mean, rstd: (N)
template <typename T>
void layer_norm_forward(T* y, double* mean, double* rstd, const T* x, const T* w, const T* b,
                        int64_t N, int64_t C, double eps) {
  auto rows = kernels::layer_norm_forward_rows<T>;
  if constexpr (std::is_same_v<T, float>) rows = layer_norm_rows_f32().forward;
  parallel_for(0, N, kRowsPerChunk, [&](int64_t r0, int64_t r1) {
    rows(y, mean, rstd, x, w, b, r0, r1, C, eps);
  });
}

// The backward of layer_norm_forward. dx is written; dw, db (when not null) get the sums over
// rows. x, dy, dx: (N, C) contiguous   w: (C) or null   mean, rstd: (N)   dw, db: (C) or null
template <typename T>
void layer_norm_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w,
                         const double* mean, const double* rstd, int64_t N, int64_t C) {
  const int64_t num_chunks = (N + kRowsPerChunk - 1) / kRowsPerChunk;
  const bool want_params = dw || db;
  // One (dw, db) partial per chunk: (num_chunks, 2, C).
  std::vector<double> partial(want_params ? static_cast<size_t>(num_chunks * 2 * C) : 0, 0.0);
  auto rows = kernels::layer_norm_backward_rows<T>;
  if constexpr (std::is_same_v<T, float>) rows = layer_norm_rows_f32().backward;
  parallel_for(0, N, kRowsPerChunk, [&](int64_t r0, int64_t r1) {
    double* dw_part = want_params ? partial.data() + (r0 / kRowsPerChunk) * 2 * C : nullptr;
    double* db_part = want_params ? dw_part + C : nullptr;
    rows(dx, dw_part, db_part, dy, x, w, mean, rstd, r0, r1, C);
  });
  if (!want_params) return;
  for (int64_t c = 0; c < C; ++c) {
    double dw_c = 0.0, db_c = 0.0;
    for (int64_t k = 0; k < num_chunks; ++k) {  // chunk order: the same bits for any threads
      dw_c += partial[(k * 2) * C + c];
      db_c += partial[(k * 2 + 1) * C + c];
    }
    if (dw) dw[c] = static_cast<T>(dw_c);
    if (db) db[c] = static_cast<T>(db_c);
  }
}

// The same backward in differentiable ops, for create_graph. dims: the normalized trailing dims.
// x, dy: (..., *normalized_shape)   w, b: normalized_shape or undefined
Grads layer_norm_backward_recorded(const Tensor& dy, const Tensor& x, const Tensor& w,
                                   const Tensor& b, const std::vector<int64_t>& dims, double eps) {
  const Tensor mu = mean(x, dims, /*keepdim=*/true);                   // (..., 1, ..., 1)
  const Tensor x_centered = x - mu;                                    // x's shape
  const Tensor var = mean(x_centered * x_centered, dims, true);        // (..., 1, ..., 1)
  const Tensor r = rsqrt(var + eps);
  const Tensor x_hat = x_centered * r;                                 // x's shape
  const Tensor g = w.defined() ? dy * w : dy;
  Tensor dx, dw, db;
  if (x.requires_grad())
    dx = r * (g - mean(g, dims, true) - x_hat * mean(g * x_hat, dims, true));
  if (w.defined() && w.requires_grad()) dw = sum_to(dy * x_hat, w.shape());
  if (b.defined() && b.requires_grad()) db = sum_to(dy, b.shape());
  return Grads{dx, dw, db};
}

void check_param(const std::optional<Tensor>& p, const char* name, const Tensor& x,
                 const Shape& normalized_shape) {
  if (!p) return;
  if (!p->defined()) throw Error("layer_norm", "the ", name, " is undefined");
  if (p->dtype() != x.dtype())
    throw Error("layer_norm", "the ", name, " is ", p->dtype(), " but x is ", x.dtype());
  if (p->shape() != normalized_shape)
    throw Error("layer_norm", "the ", name, " has shape ", p->shape(),
                " but normalized_shape is ", normalized_shape);
}

}  // namespace

// x: (..., *normalized_shape)   weight, bias: normalized_shape   returns: same shape as x
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape,
                  const std::optional<Tensor>& weight, const std::optional<Tensor>& bias,
                  double eps) {
  if (!x.defined()) throw Error("layer_norm", "the input is undefined");
  if (!x.is_floating_point())
    throw Error("layer_norm", "expected a floating input (float32 or float64), got ", x.dtype());
  const int64_t k = static_cast<int64_t>(normalized_shape.size());
  bool trailing_match = k >= 1 && k <= x.dim();
  for (int64_t d = 0; trailing_match && d < k; ++d)
    trailing_match = x.size(x.dim() - k + d) == normalized_shape[d];
  if (!trailing_match)
    throw Error("layer_norm", "normalized_shape ", normalized_shape,
                " must be the trailing dims of x, but x has shape ", x.shape());
  if (!(eps > 0.0))
    throw Error("layer_norm", "eps must be positive (a constant row has variance 0 and would "
                "divide by sqrt(eps)), got ", eps);
  check_param(weight, "weight", x, normalized_shape);
  check_param(bias, "bias", x, normalized_shape);

  const int64_t C = normalized_shape.numel();
  const int64_t N = C == 0 ? 0 : x.numel() / C;
  const Tensor x_c = kernels::contiguous(x);  // (N, C) in memory
  const Tensor w = weight ? kernels::contiguous(*weight) : Tensor();
  const Tensor b = bias ? kernels::contiguous(*bias) : Tensor();
  Tensor y = empty(x.shape(), x.dtype());
  Tensor mean_rows = empty({N}, kFloat64), rstd_rows = empty({N}, kFloat64);  // (N) each
  dispatch_floating(x.dtype(), "layer_norm", [&](auto zero) {
    using T = decltype(zero);
    layer_norm_forward<T>(y.data_ptr<T>(), mean_rows.data_ptr<double>(),
                          rstd_rows.data_ptr<double>(), x_c.data_ptr<T>(),
                          w.defined() ? w.data_ptr<T>() : nullptr,
                          b.defined() ? b.data_ptr<T>() : nullptr, N, C, eps);
  });

  std::vector<int64_t> dims;  // the normalized dims, for the recorded backward
  for (int64_t d = x.dim() - k; d < x.dim(); ++d) dims.push_back(d);
  const Tensor w_in = weight ? *weight : Tensor(), b_in = bias ? *bias : Tensor();
  return record("layer_norm", y, {x, w_in, b_in},
                [x, w_in, b_in, mean_rows, rstd_rows, dims, eps, N, C](const Tensor& dy) {
    if (GradMode::is_enabled()) return layer_norm_backward_recorded(dy, x, w_in, b_in, dims, eps);
    const Tensor dy_c = kernels::contiguous(dy);
    const Tensor x_c = kernels::contiguous(x);
    const Tensor w_c = w_in.defined() ? kernels::contiguous(w_in) : Tensor();
    Tensor dx = empty(x.shape(), x.dtype());
    Tensor dw = w_in.defined() && w_in.requires_grad() ? empty(w_in.shape(), x.dtype()) : Tensor();
    Tensor db = b_in.defined() && b_in.requires_grad() ? empty(b_in.shape(), x.dtype()) : Tensor();
    dispatch_floating(x.dtype(), "layer_norm", [&](auto zero) {
      using T = decltype(zero);
      layer_norm_backward<T>(dx.data_ptr<T>(), dw.defined() ? dw.data_ptr<T>() : nullptr,
                             db.defined() ? db.data_ptr<T>() : nullptr, dy_c.data_ptr<T>(),
                             x_c.data_ptr<T>(), w_c.defined() ? w_c.data_ptr<T>() : nullptr,
                             mean_rows.data_ptr<double>(), rstd_rows.data_ptr<double>(), N, C);
    });
    if (!x.requires_grad()) dx = Tensor();
    return Grads{dx, dw, db};
  }, {x, w_in, b_in});
}

}  // namespace ag::nn::functional

// layer_norm_avx2.cpp: the float32 layer norm row loops of tensor/layer_norm_rows.h built with
// AVX2 (and -ffp-contract=off, so they give the bits of the baseline build, only four doubles
// per instruction instead of two).
#include "tensor/layer_norm_rows.h"
#include "tensor/simd/layer_norm_simd.h"

namespace ag::kernels::simd {

void layer_norm_forward_rows_f32_avx2(float* y, double* mean, double* rstd, const float* x,
                                      const float* w, const float* b, int64_t r0, int64_t r1,
                                      int64_t C, double eps) {
  layer_norm_forward_rows<float>(y, mean, rstd, x, w, b, r0, r1, C, eps);
}

void layer_norm_backward_rows_f32_avx2(float* dx, double* dw_part, double* db_part,
                                       const float* dy, const float* x, const float* w,
                                       const double* mean, const double* rstd, int64_t r0,
                                       int64_t r1, int64_t C) {
  layer_norm_backward_rows<float>(dx, dw_part, db_part, dy, x, w, mean, rstd, r0, r1, C);
}

}  // namespace ag::kernels::simd

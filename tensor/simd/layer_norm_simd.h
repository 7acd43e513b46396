// layer_norm_simd.h: the float32 row loops of tensor/layer_norm_rows.h compiled with AVX2
// (tensor/simd/layer_norm_avx2.cpp). nn/functional/layer_norm.cpp calls them when the CPU has
// AVX2, and its own baseline build of the same loops otherwise; both give the same bits.
// The arguments are those of layer_norm_forward_rows / layer_norm_backward_rows.
#pragma once

#include <cstdint>

namespace ag::kernels::simd {

void layer_norm_forward_rows_f32_avx2(float* y, double* mean, double* rstd, const float* x,
                                      const float* w, const float* b, int64_t r0, int64_t r1,
                                      int64_t C, double eps);
void layer_norm_backward_rows_f32_avx2(float* dx, double* dw_part, double* db_part,
                                       const float* dy, const float* x, const float* w,
                                       const double* mean, const double* rstd, int64_t r0,
                                       int64_t r1, int64_t C);

}  // namespace ag::kernels::simd

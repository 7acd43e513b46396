// cross_entropy_simd.h: the float32 row loops of tensor/cross_entropy_rows.h compiled with AVX2
// (tensor/simd/cross_entropy_avx2.cpp). nn/functional/cross_entropy.cpp calls them when the CPU
// has AVX2, and its own baseline build of the same loops otherwise; both give the same bits.
// The arguments are those of cross_entropy_forward_rows / cross_entropy_backward_rows.
#pragma once

#include <cstdint>

namespace ag::kernels::simd {

void cross_entropy_forward_rows_f32_avx2(double* loss, double* lse, const float* logits,
                                         const int64_t* targets, int64_t r0, int64_t r1,
                                         int64_t V, int64_t ignore_index, double ls, float* e);
void cross_entropy_backward_rows_f32_avx2(float* dx, const float* logits, const int64_t* targets,
                                          const double* lse, const double* row_weight,
                                          int64_t r0, int64_t r1, int64_t V,
                                          int64_t ignore_index, double ls);

}  // namespace ag::kernels::simd

// cross_entropy_avx2.cpp: the float32 cross-entropy row loops of tensor/cross_entropy_rows.h
// built with AVX2 (and -ffp-contract=off, so they give the bits of the baseline build, only
// eight floats per instruction instead of four).
#include "tensor/cross_entropy_rows.h"
#include "tensor/simd/cross_entropy_simd.h"

namespace ag::kernels::simd {

void cross_entropy_forward_rows_f32_avx2(double* loss, double* lse, const float* logits,
                                         const int64_t* targets, int64_t r0, int64_t r1,
                                         int64_t V, int64_t ignore_index, double ls, float* e) {
  cross_entropy_forward_rows<float>(loss, lse, logits, targets, r0, r1, V, ignore_index, ls, e);
}

void cross_entropy_backward_rows_f32_avx2(float* dx, const float* logits, const int64_t* targets,
                                          const double* lse, const double* row_weight,
                                          int64_t r0, int64_t r1, int64_t V,
                                          int64_t ignore_index, double ls) {
  cross_entropy_backward_rows<float>(dx, logits, targets, lse, row_weight, r0, r1, V,
                                     ignore_index, ls);
}

}  // namespace ag::kernels::simd

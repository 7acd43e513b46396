// gelu_avx512.cpp: the float32 GELU loops of tensor/vector_math.h built with AVX-512 (and
// -ffp-contract=off, so they give the bits of the baseline build, only more lanes at a time).
#include "tensor/simd/gelu_simd.h"
#include "tensor/vector_math.h"

namespace ag::kernels::simd {

void gelu_erf_f32_avx512(const float* x, float* y, int64_t n) { gelu_erf_f32_loop(x, y, n); }

void gelu_erf_backward_f32_avx512(const float* dy, const float* x, float* dx, int64_t n) {
  gelu_erf_backward_f32_loop(dy, x, dx, n);
}

void bias_gelu_erf_cdf_f32_avx512(const float* h, const float* b, float* y, float* cdf,
                                  int64_t n) {
  bias_gelu_erf_cdf_f32_loop(h, b, y, cdf, n);
}

void bias_gelu_erf_backward_cdf_f32_avx512(const float* dy, const float* h, const float* b,
                                           const float* cdf, float* dh, double* db_part,
                                           int64_t n) {
  bias_gelu_erf_backward_cdf_f32_loop(dy, h, b, cdf, dh, db_part, n);
}

}  // namespace ag::kernels::simd

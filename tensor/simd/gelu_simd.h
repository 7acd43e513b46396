// gelu_simd.h: the float32 GELU loops of tensor/vector_math.h compiled for AVX2 and AVX-512
// (tensor/simd/gelu_avx2.cpp, gelu_avx512.cpp). elementwise.cpp picks one per process from the
// CPU's features; all give the same bits as its own baseline (SSE2) build of the loops, since
// none fuses a multiply-add. x, y, dy, dx: n contiguous floats.
#pragma once

#include <cstdint>

namespace ag::kernels::simd {

void gelu_erf_f32_avx2(const float* x, float* y, int64_t n);
void gelu_erf_backward_f32_avx2(const float* dy, const float* x, float* dx, int64_t n);
void gelu_erf_f32_avx512(const float* x, float* y, int64_t n);
void gelu_erf_backward_f32_avx512(const float* dy, const float* x, float* dx, int64_t n);
// bias_gelu's forms, which add the bias and keep Phi(x) (cdf) from the forward for the
// backward (vector_math.h).
void bias_gelu_erf_cdf_f32_avx2(const float* h, const float* b, float* y, float* cdf, int64_t n);
void bias_gelu_erf_backward_cdf_f32_avx2(const float* dy, const float* h, const float* b,
                                         const float* cdf, float* dh, double* db_part, int64_t n);
void bias_gelu_erf_cdf_f32_avx512(const float* h, const float* b, float* y, float* cdf,
                                  int64_t n);
void bias_gelu_erf_backward_cdf_f32_avx512(const float* dy, const float* h, const float* b,
                                           const float* cdf, float* dh, double* db_part,
                                           int64_t n);

}  // namespace ag::kernels::simd

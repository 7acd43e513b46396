// ymm_transpose.h: small square transposes in AVX2 registers, for the files that pack operands
// (the GEMM's B^T panels in gemm_avx2.cpp, the fused attention's transposed keys in
// attention_micro_kernel_impl.h). They only move values, so any build gives the same bits.
//
// Include it only from files compiled with AVX2 enabled. Everything is in an anonymous
// namespace, one copy per translation unit, so an AVX-512 build of it can never be the copy
// an AVX2-only CPU runs (as for gemm_pack.h).
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace ag::kernels::simd {
namespace {

// (8, 8) floats: dst[j * dst_stride + p] = src[p * src_stride + j]. Three rounds, each
// interleaving twice as wide a unit: single floats (unpack), pairs (shuffle_ps), then 128-bit
// halves (permute2f128). A plain double loop compiles to 64 scalar moves.
inline void transpose_8x8(float* dst, int64_t dst_stride, const float* src, int64_t src_stride) {
  __m256 r[8], t[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * src_stride);
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  // r[4g + c], half h, lane L: column 4h + c of row 4g + L
  for (int g = 0; g < 8; g += 4) {
    r[g] = _mm256_shuffle_ps(t[g], t[g + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[g + 1] = _mm256_shuffle_ps(t[g], t[g + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[g + 2] = _mm256_shuffle_ps(t[g + 1], t[g + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[g + 3] = _mm256_shuffle_ps(t[g + 1], t[g + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int c = 0; c < 4; ++c) {
    t[c] = _mm256_permute2f128_ps(r[c], r[4 + c], 0x20);      // column c
    t[4 + c] = _mm256_permute2f128_ps(r[c], r[4 + c], 0x31);  // column 4 + c
  }
  for (int j = 0; j < 8; ++j) _mm256_storeu_ps(dst + j * dst_stride, t[j]);
}

// (4, 4) doubles: unpack pairs, then 128-bit halves.
inline void transpose_4x4(double* dst, int64_t dst_stride, const double* src,
                          int64_t src_stride) {
  __m256d r[4], t[4];
  for (int i = 0; i < 4; ++i) r[i] = _mm256_loadu_pd(src + i * src_stride);
  t[0] = _mm256_unpacklo_pd(r[0], r[1]);  // (r0[0], r1[0], r0[2], r1[2])
  t[1] = _mm256_unpackhi_pd(r[0], r[1]);  // (r0[1], r1[1], r0[3], r1[3])
  t[2] = _mm256_unpacklo_pd(r[2], r[3]);
  t[3] = _mm256_unpackhi_pd(r[2], r[3]);
  _mm256_storeu_pd(dst, _mm256_permute2f128_pd(t[0], t[2], 0x20));
  _mm256_storeu_pd(dst + dst_stride, _mm256_permute2f128_pd(t[1], t[3], 0x20));
  _mm256_storeu_pd(dst + 2 * dst_stride, _mm256_permute2f128_pd(t[0], t[2], 0x31));
  _mm256_storeu_pd(dst + 3 * dst_stride, _mm256_permute2f128_pd(t[1], t[3], 0x31));
}

}  // namespace
}  // namespace ag::kernels::simd

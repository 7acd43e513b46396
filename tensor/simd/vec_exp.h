// vec_exp.h: exp(x) for 8 floats (AVX2 + FMA) or 16 floats (AVX-512F) at once, for kernels
// that exponentiate whole rows (softmax, attention). Include it only from a file compiled with
// that instruction set (tensor/simd/*_avx2.cpp, *_avx512.cpp); each function exists only when
// the compiler was told the ISA (__AVX2__, __AVX512F__).
//
// The idea (Cephes' expf, as most vector libms do it): write x = n ln2 + r with n an integer and
// |r| <= ln2 / 2, so that
//   exp(x) = 2^n * exp(r).
// 2^n is built by writing n + 127 into a float's exponent bits (as two factors 2^(n/2), since
// 2^128 is no float though exp(88.5) is); exp(r) on that small interval is a degree-7
// polynomial 1 + r + r^2/2 + ... whose coefficients were fitted (minimax) rather than taken
// from the Taylor series. ln2 is split into a high part with few mantissa bits (so n * hi is
// exact) and a tiny low part: r = (x - n hi) - n lo loses no bits to cancellation.
//
// Accuracy: relative error below 2e-7 (1.1e-7 measured, about 1 ulp) for x in [-87.3, 88.7];
// tests/nn/fused_attention_fast_test.cpp checks it. Outside that range:
//   x < -87.33 (where exp(x) < FLT_MIN) gives 0, so exp(-inf) = 0 exactly, as softmax needs
//              for masked scores. Subnormal results are flushed to 0 (an absolute error below
//              1.2e-38, invisible next to any weight that matters).
//   x > 88.72  gives +inf.          NaN gives NaN.
#pragma once

#include <immintrin.h>

#include "tensor/vector_math.h"

namespace ag::kernels::simd {

// The constants are exp_f32's (tensor/vector_math.h), plus the overflow bound: these two
// build 2^n in two factors, so they stay finite up to ln(FLT_MAX).
namespace vec_exp_constants {
using namespace exp_constants;
inline constexpr float kMaxX = 88.7228391117f;  // ln(FLT_MAX): above, the result is inf
}  // namespace vec_exp_constants

#if defined(__AVX2__) && defined(__FMA__)
// exp of 8 floats; see the top of the file for the method and its accuracy.
inline __m256 exp_avx2(__m256 x) {
  using namespace vec_exp_constants;
  // Remember where the answer is 0 or inf before clamping x into the polynomial's range. Lanes
  // that underflow compute exp(0) and are zeroed at the end: clamped to kMinX instead, they
  // would compute a result at the edge of the subnormals, which costs the CPU an assist of
  // dozens of cycles, and softmax with a causal mask feeds this many -inf scores.
  const __m256 underflow = _mm256_cmp_ps(x, _mm256_set1_ps(kMinX), _CMP_LT_OQ);
  const __m256 overflow = _mm256_cmp_ps(x, _mm256_set1_ps(kMaxX), _CMP_GT_OQ);
  const __m256 xc =
      _mm256_blendv_ps(_mm256_min_ps(x, _mm256_set1_ps(kMaxX)), _mm256_setzero_ps(), underflow);
  // n = round(x / ln2);  r = x - n ln2, in two steps so that no bits cancel
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(kLog2e)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Hi), xc);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(kLn2Lo), r);
  // exp(r) by Horner's rule
  __m256 p = _mm256_set1_ps(kP5);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP4));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP3));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP2));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP1));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(kP0));
  p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  // 2^n, as 2^n1 * 2^n2 with n1 = floor(n / 2): n lies in [-126, 128] after the clamp, and
  // 2^128 is not a float, though exp(88.5) = 2^127.7 is. Each factor is n_i + 127 written into
  // a float's exponent field; scaling by a power of two is exact, so only the last product
  // rounds.
  const __m256i n_int = _mm256_cvtps_epi32(n);
  const __m256i n1 = _mm256_srai_epi32(n_int, 1), n2 = _mm256_sub_epi32(n_int, n1);
  const __m256i bias = _mm256_set1_epi32(127);
  const __m256 two_n1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
  const __m256 two_n2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
  __m256 y = _mm256_mul_ps(_mm256_mul_ps(p, two_n1), two_n2);
  y = _mm256_blendv_ps(y, _mm256_setzero_ps(), underflow);
  y = _mm256_blendv_ps(y, _mm256_set1_ps(__builtin_inff()), overflow);
  // NaN in, NaN out: the clamps above would have turned it into a number.
  return _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}
#endif

#if defined(__AVX512F__)
// exp of 16 floats; the same steps as exp_avx2, with mask registers for the special cases.
inline __m512 exp_avx512(__m512 x) {
  using namespace vec_exp_constants;
  const __mmask16 underflow = _mm512_cmp_ps_mask(x, _mm512_set1_ps(kMinX), _CMP_LT_OQ);
  const __mmask16 overflow = _mm512_cmp_ps_mask(x, _mm512_set1_ps(kMaxX), _CMP_GT_OQ);
  const __mmask16 is_nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
  const __m512 xc =  // underflowing lanes compute exp(0), as in exp_avx2
      _mm512_mask_mov_ps(_mm512_min_ps(x, _mm512_set1_ps(kMaxX)), underflow, _mm512_setzero_ps());
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(kLog2e)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Hi), xc);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(kLn2Lo), r);
  __m512 p = _mm512_set1_ps(kP5);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP4));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP3));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP2));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP1));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(kP0));
  p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  const __m512i n_int = _mm512_cvtps_epi32(n);
  const __m512i n1 = _mm512_srai_epi32(n_int, 1), n2 = _mm512_sub_epi32(n_int, n1);
  const __m512i bias = _mm512_set1_epi32(127);
  const __m512 two_n1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n1, bias), 23));
  const __m512 two_n2 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n2, bias), 23));
  __m512 y = _mm512_mul_ps(_mm512_mul_ps(p, two_n1), two_n2);
  y = _mm512_mask_mov_ps(y, underflow, _mm512_setzero_ps());
  y = _mm512_mask_mov_ps(y, overflow, _mm512_set1_ps(__builtin_inff()));
  return _mm512_mask_mov_ps(y, is_nan, x);
}
#endif

}  // namespace ag::kernels::simd

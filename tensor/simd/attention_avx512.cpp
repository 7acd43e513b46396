// attention_avx512.cpp: the fused attention's building blocks (attention_micro_kernel.h) on
// 16-float zmm registers (compiled with -mavx512f; fused_attention.cpp calls them only when the
// CPU has AVX-512F). The algorithm is attention_micro_kernel_impl.h; this file only says what a
// vector is.
#include <immintrin.h>

#include <cstdint>

// GCC 12 warns that the unmasked AVX-512 intrinsics (max, min, roundscale, ...) may read an
// uninitialised value: they are written as masked operations on _mm512_undefined_ps(), whose
// lanes the all-ones mask never reads. A false positive (GCC bug 105593), silenced here only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "tensor/simd/attention_micro_kernel_impl.h"
#include "tensor/simd/vec_exp.h"

namespace ag::kernels::simd {
namespace {

struct Zmm {
  static constexpr int kLanes = 16;
  static constexpr int kRows = 4, kCols = 4;  // 16 accumulators of 32 registers
  using Reg = __m512;
  static Reg zero() { return _mm512_setzero_ps(); }
  static Reg set1(float x) { return _mm512_set1_ps(x); }
  static Reg load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, Reg r) { _mm512_storeu_ps(p, r); }
  static Reg fmadd(Reg a, Reg b, Reg c) { return _mm512_fmadd_ps(a, b, c); }
  static Reg add(Reg a, Reg b) { return _mm512_add_ps(a, b); }
  static Reg sub(Reg a, Reg b) { return _mm512_sub_ps(a, b); }
  static Reg mul(Reg a, Reg b) { return _mm512_mul_ps(a, b); }
  static Reg max(Reg a, Reg b) { return _mm512_max_ps(a, b); }
  static Reg exp(Reg x) { return exp_avx512(x); }
  // Horizontal sum as a fixed tree: 256-bit halves, then the ymm tree of attention_avx2.cpp.
  static float reduce_add(Reg r) {
    const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(r),
                                   _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(r), 1)));
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
  }
  static float reduce_max(Reg r) { return _mm512_reduce_max_ps(r); }
  using IReg = __m512i;
  static IReg iset1(uint32_t x) { return _mm512_set1_epi32(static_cast<int>(x)); }
  static IReg iadd(IReg a, IReg b) { return _mm512_add_epi32(a, b); }
  static IReg ixor(IReg a, IReg b) { return _mm512_xor_si512(a, b); }
  static IReg isrl(IReg a, int bits) { return _mm512_srli_epi32(a, static_cast<unsigned>(bits)); }
  static IReg lane_index() {
    return _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  }
  // x * m as 64-bit products: _mm512_mul_epu32 multiplies the even lanes; the odd lanes are
  // shifted down to multiply them, and each product's halves are put back in their lanes.
  static void mul_hi_lo(IReg x, uint32_t m, IReg& hi, IReg& lo) {
    const IReg mv = _mm512_set1_epi32(static_cast<int>(m));
    const IReg even = _mm512_mul_epu32(x, mv);
    const IReg odd = _mm512_mul_epu32(_mm512_srli_epi64(x, 32), mv);
    hi = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 32), odd);
    lo = _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
  }
  // keep where (hi, lo) >= (threshold_hi, threshold_lo) as a pair of unsigned words, else 0.
  static Reg select_dropped(IReg hi, IReg lo, uint32_t threshold_hi, uint32_t threshold_lo,
                            float keep) {
    const __mmask16 dropped =
        _mm512_cmplt_epu32_mask(hi, iset1(threshold_hi)) |
        (_mm512_cmpeq_epu32_mask(hi, iset1(threshold_hi)) &
         _mm512_cmplt_epu32_mask(lo, iset1(threshold_lo)));
    return _mm512_maskz_mov_ps(static_cast<__mmask16>(~dropped), _mm512_set1_ps(keep));
  }
};

}  // namespace

AttentionMicroKernels avx512_attention_kernels() {
  return attention_impl::make_kernels<Zmm>("avx512");
}

}  // namespace ag::kernels::simd

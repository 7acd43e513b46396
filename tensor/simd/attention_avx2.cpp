// attention_avx2.cpp: the fused attention's building blocks (attention_micro_kernel.h) on
// 8-float ymm registers (compiled with -mavx2 -mfma; fused_attention.cpp calls them only when
// the CPU has AVX2 and FMA). The algorithm is attention_micro_kernel_impl.h; this file only says
// what a vector is.
#include <immintrin.h>

#include <cstdint>

#include "tensor/simd/attention_micro_kernel_impl.h"
#include "tensor/simd/vec_exp.h"

namespace ag::kernels::simd {
namespace {

struct Ymm {
  static constexpr int kLanes = 8;
  // A 6 x 2 tile: 12 accumulators, 2 vectors of B and a broadcast, 15 of the 16 registers.
  // Zen 3 and Skylake need 8 chains in flight (FMA latency 4, two ports) to keep both ports
  // busy; the 2 x 4 tile this replaced had exactly 8, and with D = 16 only 4.
  static constexpr int kRows = 6, kCols = 2;
  using Reg = __m256;
  static Reg zero() { return _mm256_setzero_ps(); }
  static Reg set1(float x) { return _mm256_set1_ps(x); }
  static Reg load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, Reg r) { _mm256_storeu_ps(p, r); }
  static Reg fmadd(Reg a, Reg b, Reg c) { return _mm256_fmadd_ps(a, b, c); }
  static Reg add(Reg a, Reg b) { return _mm256_add_ps(a, b); }
  static Reg sub(Reg a, Reg b) { return _mm256_sub_ps(a, b); }
  static Reg mul(Reg a, Reg b) { return _mm256_mul_ps(a, b); }
  static Reg max(Reg a, Reg b) { return _mm256_max_ps(a, b); }
  static Reg exp(Reg x) { return exp_avx2(x); }
  // Horizontal sums and maxima as a fixed tree: halves, then quarters, then pairs.
  static float reduce_add(Reg r) {
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(r), _mm256_extractf128_ps(r, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
  }
  using IReg = __m256i;
  static IReg iset1(uint32_t x) { return _mm256_set1_epi32(static_cast<int>(x)); }
  static IReg iadd(IReg a, IReg b) { return _mm256_add_epi32(a, b); }
  static IReg ixor(IReg a, IReg b) { return _mm256_xor_si256(a, b); }
  static IReg isrl(IReg a, int bits) { return _mm256_srli_epi32(a, bits); }
  static IReg lane_index() { return _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7); }
  // x * m as 64-bit products: _mm256_mul_epu32 multiplies the even lanes; the odd lanes are
  // shifted down to multiply them, and each product's halves are put back in their lanes.
  static void mul_hi_lo(IReg x, uint32_t m, IReg& hi, IReg& lo) {
    const IReg mv = _mm256_set1_epi32(static_cast<int>(m));
    const IReg even = _mm256_mul_epu32(x, mv);
    const IReg odd = _mm256_mul_epu32(_mm256_srli_epi64(x, 32), mv);
    hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
    lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
  }
  // keep where (hi, lo) >= (threshold_hi, threshold_lo) as a pair of unsigned words, else 0.
  // AVX2 compares signed words only: flipping the sign bit of both sides orders them unsigned.
  static Reg select_dropped(IReg hi, IReg lo, uint32_t threshold_hi, uint32_t threshold_lo,
                            float keep) {
    const IReg sign = _mm256_set1_epi32(static_cast<int>(0x80000000u));
    const IReg h = _mm256_xor_si256(hi, sign);
    const IReg th = _mm256_xor_si256(iset1(threshold_hi), sign);
    const IReg hi_less = _mm256_cmpgt_epi32(th, h);
    const IReg hi_equal = _mm256_cmpeq_epi32(h, th);
    const IReg lo_less = _mm256_cmpgt_epi32(iset1(threshold_lo), lo);  // both below 2^21
    const IReg dropped = _mm256_or_si256(hi_less, _mm256_and_si256(hi_equal, lo_less));
    return _mm256_andnot_ps(_mm256_castsi256_ps(dropped), _mm256_set1_ps(keep));
  }
  static float reduce_max(Reg r) {
    __m128 x = _mm_max_ps(_mm256_castps256_ps128(r), _mm256_extractf128_ps(r, 1));
    x = _mm_max_ps(x, _mm_movehl_ps(x, x));
    x = _mm_max_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
  }
};

}  // namespace

AttentionMicroKernels avx2_attention_kernels() {
  return attention_impl::make_kernels<Ymm>("avx2");
}

}  // namespace ag::kernels::simd

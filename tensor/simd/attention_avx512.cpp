// attention_avx512.cpp: the fused attention's building blocks (attention_micro_kernel.h) on
// 16-float zmm registers (compiled with -mavx512f; fused_attention.cpp calls them only when the
// CPU has AVX-512F). The algorithm is attention_micro_kernel_impl.h; this file only says what a
// vector is.
#include <immintrin.h>

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
  static constexpr int kRows = 4;  // 16 accumulators of 32 registers
  using Reg = __m512;
  static Reg zero() { return _mm512_setzero_ps(); }
  static Reg set1(float x) { return _mm512_set1_ps(x); }
  static Reg load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, Reg r) { _mm512_storeu_ps(p, r); }
  static Reg fmadd(Reg a, Reg b, Reg c) { return _mm512_fmadd_ps(a, b, c); }
  static Reg add(Reg a, Reg b) { return _mm512_add_ps(a, b); }
  static Reg sub(Reg a, Reg b) { return _mm512_sub_ps(a, b); }
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
};

}  // namespace

AttentionMicroKernels avx512_attention_kernels() {
  return attention_impl::make_kernels<Zmm>("avx512");
}

}  // namespace ag::kernels::simd

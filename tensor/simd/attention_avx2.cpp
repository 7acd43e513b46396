// attention_avx2.cpp: the fused attention's building blocks (attention_micro_kernel.h) on
// 8-float ymm registers (compiled with -mavx2 -mfma; fused_attention.cpp calls them only when
// the CPU has AVX2 and FMA). The algorithm is attention_micro_kernel_impl.h; this file only says
// what a vector is.
#include <immintrin.h>

#include "tensor/simd/attention_micro_kernel_impl.h"
#include "tensor/simd/vec_exp.h"

namespace ag::kernels::simd {
namespace {

struct Ymm {
  static constexpr int kLanes = 8;
  static constexpr int kRows = 2;  // 8 accumulators of 16 registers
  using Reg = __m256;
  static Reg zero() { return _mm256_setzero_ps(); }
  static Reg set1(float x) { return _mm256_set1_ps(x); }
  static Reg load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, Reg r) { _mm256_storeu_ps(p, r); }
  static Reg fmadd(Reg a, Reg b, Reg c) { return _mm256_fmadd_ps(a, b, c); }
  static Reg add(Reg a, Reg b) { return _mm256_add_ps(a, b); }
  static Reg sub(Reg a, Reg b) { return _mm256_sub_ps(a, b); }
  static Reg max(Reg a, Reg b) { return _mm256_max_ps(a, b); }
  static Reg exp(Reg x) { return exp_avx2(x); }
  // Horizontal sums and maxima as a fixed tree: halves, then quarters, then pairs.
  static float reduce_add(Reg r) {
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(r), _mm256_extractf128_ps(r, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
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

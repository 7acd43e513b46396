// gemm_avx2.cpp: the AVX2 + FMA GEMM micro-kernels (compiled with -mavx2 -mfma; the driver in
// gemm.cpp calls them only when the CPU has both).
//
// Same scheme as gemm_avx512.cpp with 16 ymm registers instead of 32 zmm: a (6, 16) float tile
// or (6, 8) double tile is 12 accumulators, plus 2 B vectors and 1 broadcast = 15 registers.
// Each step p loads one row of B and, per row i, broadcasts A(i, p) into two FMAs:
//
//   acc[i][v] += broadcast(A(i, p)) * B(p, 8v .. 8v + 7)
//
// AVX2 has no cheap lane masks, so a tile narrower than nr goes through a small buffer on the
// stack and only its first n columns are copied out.
#include <immintrin.h>

#include <array>
#include <utility>

#include "tensor/simd/gemm_micro_kernel.h"
#include "tensor/simd/gemm_pack.h"
#include "tensor/simd/ymm_transpose.h"

namespace ag::kernels::gemm_detail {
namespace {

// The few ymm operations the kernel needs, for float and double alike.
template <typename T>
struct Ymm;

template <>
struct Ymm<float> {
  using Vec = __m256;
  static constexpr int kLanes = 8;
  static Vec zero() { return _mm256_setzero_ps(); }
  static Vec load(const float* p) { return _mm256_loadu_ps(p); }
  static Vec broadcast(const float* p) { return _mm256_broadcast_ss(p); }
  static Vec fmadd(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
  static Vec add(Vec a, Vec b) { return _mm256_add_ps(a, b); }
  static void store(float* p, Vec v) { _mm256_storeu_ps(p, v); }
};

template <>
struct Ymm<double> {
  using Vec = __m256d;
  static constexpr int kLanes = 4;
  static Vec zero() { return _mm256_setzero_pd(); }
  static Vec load(const double* p) { return _mm256_loadu_pd(p); }
  static Vec broadcast(const double* p) { return _mm256_broadcast_sd(p); }
  static Vec fmadd(Vec a, Vec b, Vec c) { return _mm256_fmadd_pd(a, b, c); }
  static Vec add(Vec a, Vec b) { return _mm256_add_pd(a, b); }
  static void store(double* p, Vec v) { _mm256_storeu_pd(p, v); }
};

// C (M, n) [+]= A (M, k) * B (k, NV * lanes); see gemm_avx512.cpp for the parameters.
template <typename T, int M, int NV, int64_t kRowStride>
void micro_kernel(int64_t k, const T* a, int64_t a_rs, int64_t a_cs, const T* b, int64_t b_rs,
                  T* c, int64_t ldc, int64_t n, bool accumulate) {
  using Y = Ymm<T>;
  using Vec = typename Y::Vec;
  constexpr int kLanes = Y::kLanes;
  constexpr int kNr = NV * kLanes;
  if constexpr (kRowStride > 0) a_rs = kRowStride;
  Vec acc[M][NV];
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = Y::zero();

#pragma GCC unroll 16
  for (int i = 0; i < M; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + kNr - 1), _MM_HINT_T0);
  }

#pragma GCC unroll 4
  for (int64_t p = 0; p < k; ++p) {
    Vec bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = Y::load(b + v * kLanes);
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) {
      const Vec ai = Y::broadcast(a + i * a_rs);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = Y::fmadd(ai, bv[v], acc[i][v]);
    }
    a += a_cs;
    b += b_rs;
  }

  if (n == kNr) {
#pragma GCC unroll 16
    for (int i = 0; i < M; ++i) {
      T* c_row = c + i * ldc;
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        const Vec sum = accumulate ? Y::add(Y::load(c_row + v * kLanes), acc[i][v]) : acc[i][v];
        Y::store(c_row + v * kLanes, sum);
      }
    }
    return;
  }
  // A right-edge tile: spill the accumulators, then touch only the n columns that exist.
  // (The loops touching acc are fully unrolled: an acc indexed by a run-time value would have
  // to live in memory instead of registers for the whole kernel.)
  alignas(32) T tile[M][kNr];
#pragma GCC unroll 16
  for (int i = 0; i < M; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) Y::store(&tile[i][v * kLanes], acc[i][v]);
  for (int i = 0; i < M; ++i) {
    T* c_row = c + i * ldc;
    for (int64_t j = 0; j < n; ++j) c_row[j] = accumulate ? c_row[j] + tile[i][j] : tile[i][j];
  }
}

// The driver's entry point: picks the instantiation with exactly m rows (1 <= m <= MR) and,
// when a_rs is one of the two strides packing produces, the one with that stride built in.
template <typename T, int MR, int NV>
void micro_kernel_rows(int64_t k, const T* a, int64_t a_rs, int64_t a_cs, const T* b,
                       int64_t b_rs, T* c, int64_t ldc, int64_t m, int64_t n, bool accumulate) {
  using Fn = void (*)(int64_t, const T*, int64_t, int64_t, const T*, int64_t, T*, int64_t,
                      int64_t, bool);
  constexpr auto make_table = []<int64_t kRowStride, int... I>(std::integer_sequence<int, I...>) {
    return std::array<Fn, MR>{&micro_kernel<T, I + 1, NV, kRowStride>...};
  };
  static constexpr auto unit_table =
      make_table.template operator()<1>(std::make_integer_sequence<int, MR>{});
  static constexpr auto packed_table =
      make_table.template operator()<kPackedRowStride>(std::make_integer_sequence<int, MR>{});
  static constexpr auto strided_table =
      make_table.template operator()<0>(std::make_integer_sequence<int, MR>{});
  const auto& table = a_rs == 1                                 ? unit_table
                      : a_cs == 1 && a_rs == kPackedRowStride ? packed_table
                                                                : strided_table;
  table[m - 1](k, a, a_rs, a_cs, b, b_rs, c, ldc, n, accumulate);
}

// The B^T packs transpose through tensor/simd/ymm_transpose.h: the portable transpose_tile
// compiled to 64 scalar moves, and every Linear layer's forward packs W^T through it.
using simd::transpose_4x4;
using simd::transpose_8x8;

}  // namespace

// Operands are read in place only up to 128 KiB (128^3 and smaller), not the usual 512 KiB:
// this CPU's L2 is 512 KiB, and a B read in place with a row stride of 1 KiB (N = 256) puts its
// panel's rows in 4 of the 64 L1 sets, so they evict each other. Packed, 256^3 took 6-21% fewer
// cycles and GPT tiny's (1024, 64) x (64, 256) 8% fewer; at 64^3 and 128^3 packing still costs
// more than it saves (15-20% in GFLOP/s), so those stay direct.
constexpr int64_t kAvx2DirectBytes = 128 * 1024;

// Blocking: mr * kc * sizeof(T) of packed A micro-panel (6 KiB) in L1 while the B micro-panels
// stream past; kc * nc * sizeof(T) of packed B (512 KiB) in L2.
MicroKernel<float> avx2_kernel_f32() {
  return {"avx2", 6, 16, 256, 512, &micro_kernel_rows<float, 6, 2>, &pack_a_panel<float, 6>,
          &pack_b_panels<float, 16, 8, &transpose_8x8>, kAvx2DirectBytes};
}

MicroKernel<double> avx2_kernel_f64() {
  return {"avx2", 6, 8, 256, 256, &micro_kernel_rows<double, 6, 2>, &pack_a_panel<double, 6>,
          &pack_b_panels<double, 8, 4, &transpose_4x4>, kAvx2DirectBytes};
}

}  // namespace ag::kernels::gemm_detail

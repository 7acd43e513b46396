// gemm_avx512.cpp: the AVX-512 GEMM micro-kernels (compiled with -mavx512f; the driver in
// gemm.cpp calls them only when the CPU has AVX-512F).
//
// One tile of C, (MR, NV * 16) floats or (MR, NV * 8) doubles, sits in MR * NV zmm registers
// for the whole k loop. Each step p loads one row of B (NV vectors) and, for every row i,
// broadcasts A(i, p) and does NV fused multiply-adds:
//
//   acc[i][v] += broadcast(A(i, p)) * B(p, 16v .. 16v + 15)
//
// With MR = 14, NV = 2 that is 28 accumulators + 2 B vectors + 1 broadcast of 32 registers, and
// 28 FMAs per 2 vector loads + 14 broadcasts: enough independent chains (28) to cover the FMA
// latency (4 cycles) on both FMA pipes, and few enough loads per FMA that the load ports keep
// up. A narrower edge tile (m < MR rows) is the same template instantiated with fewer rows; a
// tile with fewer than nr columns masks its loads and stores of C.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <utility>

#include "tensor/simd/gemm_micro_kernel.h"
#include "tensor/simd/gemm_pack.h"

namespace ag::kernels::gemm_detail {
namespace {

// The few zmm operations the kernel needs, for float and double alike.
template <typename T>
struct Zmm;

template <>
struct Zmm<float> {
  using Vec = __m512;
  using Mask = __mmask16;
  static constexpr int kLanes = 16;
  static Vec zero() { return _mm512_setzero_ps(); }
  static Vec load(const float* p) { return _mm512_loadu_ps(p); }
  static Vec broadcast(const float* p) { return _mm512_set1_ps(*p); }
  static Vec fmadd(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
  static Vec add(Vec a, Vec b) { return _mm512_add_ps(a, b); }
  static void store(float* p, Vec v) { _mm512_storeu_ps(p, v); }
  static Vec mask_load(const float* p, Mask k) { return _mm512_maskz_loadu_ps(k, p); }
  static void mask_store(float* p, Mask k, Vec v) { _mm512_mask_storeu_ps(p, k, v); }
};

template <>
struct Zmm<double> {
  using Vec = __m512d;
  using Mask = __mmask8;
  static constexpr int kLanes = 8;
  static Vec zero() { return _mm512_setzero_pd(); }
  static Vec load(const double* p) { return _mm512_loadu_pd(p); }
  static Vec broadcast(const double* p) { return _mm512_set1_pd(*p); }
  static Vec fmadd(Vec a, Vec b, Vec c) { return _mm512_fmadd_pd(a, b, c); }
  static Vec add(Vec a, Vec b) { return _mm512_add_pd(a, b); }
  static void store(double* p, Vec v) { _mm512_storeu_pd(p, v); }
  static Vec mask_load(const double* p, Mask k) { return _mm512_maskz_loadu_pd(k, p); }
  static void mask_store(double* p, Mask k, Vec v) { _mm512_mask_storeu_pd(p, k, v); }
};

// C (M, n) [+]= A (M, k) * B (k, NV * lanes), M fixed at compile time so acc stays in registers.
// a: A(i, p) = a[i * a_rs + p * a_cs]   b: B(p, j) = b[p * b_rs + j]   c: (M, n), row stride ldc
// kRowStride > 0: a_rs is that constant (1 for a column-packed panel or a transposed A read in
// place; kPackedRowStride for a row-packed panel), so the M broadcasts of a step are at fixed
// offsets from one pointer instead of M addresses computed from a run-time stride.
template <typename T, int M, int NV, int64_t kRowStride>
void micro_kernel(int64_t k, const T* a, int64_t a_rs, int64_t a_cs, const T* b, int64_t b_rs,
                  T* c, int64_t ldc, int64_t n, bool accumulate) {
  if constexpr (kRowStride > 0) a_rs = kRowStride;
  using Z = Zmm<T>;
  using Vec = typename Z::Vec;
  constexpr int kLanes = Z::kLanes;
  Vec acc[M][NV];
#pragma GCC unroll 32
  for (int i = 0; i < M; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = Z::zero();

  // The C tile is touched only after the loop; ask for it now so it arrives meanwhile.
#pragma GCC unroll 32
  for (int i = 0; i < M; ++i) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v)
      _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + v * kLanes), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + NV * kLanes - 1), _MM_HINT_T0);
  }

#pragma GCC unroll 4
  for (int64_t p = 0; p < k; ++p) {
    Vec bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = Z::load(b + v * kLanes);
#pragma GCC unroll 32
    for (int i = 0; i < M; ++i) {
      const Vec ai = Z::broadcast(a + i * a_rs);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = Z::fmadd(ai, bv[v], acc[i][v]);
    }
    a += a_cs;
    b += b_rs;
  }

  if (n == NV * kLanes) {  // a full tile: plain loads and stores
#pragma GCC unroll 32
    for (int i = 0; i < M; ++i) {
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        T* c_v = c + i * ldc + v * kLanes;
        Z::store(c_v, accumulate ? Z::add(Z::load(c_v), acc[i][v]) : acc[i][v]);
      }
    }
    return;
  }
  // A right-edge tile: loads and stores masked to the n columns that exist (a masked-off lane
  // is neither read nor written). Fully unrolled, like every loop touching acc: an acc indexed
  // by a run-time value would have to live in memory instead of registers.
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) {
    const int64_t lanes = std::clamp<int64_t>(n - v * kLanes, 0, kLanes);
    const auto mask = static_cast<typename Z::Mask>((uint32_t{1} << lanes) - 1u);
#pragma GCC unroll 32
    for (int i = 0; i < M; ++i) {
      T* c_v = c + i * ldc + v * kLanes;
      const Vec sum = accumulate ? Z::add(Z::mask_load(c_v, mask), acc[i][v]) : acc[i][v];
      Z::mask_store(c_v, mask, sum);
    }
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

// GCC 12's shuffle intrinsics pass _mm512_undefined_ps() as an unused operand, which -Wall
// reports as uninitialized (GCC bug 105593, fixed in GCC 13); nothing here reads it.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"

// (16, 16) floats transposed in registers: dst[j * dst_stride + p] = src[p * src_stride + j].
// Three rounds of shuffles, each interleaving twice as wide a unit: single floats (unpack),
// pairs (shuffle_ps), then 128-bit quarters (shuffle_f32x4, twice). This is what makes the
// transposed-B pack (every Linear layer's forward reads W^T) cost a few cycles per 16 values.
void transpose_16x16(float* dst, int64_t dst_stride, const float* src, int64_t src_stride) {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * src_stride);
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  // r[4g + c], lane L: column 4L + c of rows 4g .. 4g + 3
  for (int g = 0; g < 16; g += 4) {
    r[g] = _mm512_shuffle_ps(t[g], t[g + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[g + 1] = _mm512_shuffle_ps(t[g], t[g + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[g + 2] = _mm512_shuffle_ps(t[g + 1], t[g + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[g + 3] = _mm512_shuffle_ps(t[g + 1], t[g + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int c = 0; c < 4; ++c) {
    t[c] = _mm512_shuffle_f32x4(r[c], r[4 + c], 0x88);       // quarters 0, 2
    t[4 + c] = _mm512_shuffle_f32x4(r[c], r[4 + c], 0xdd);   // quarters 1, 3
    t[8 + c] = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0x88);
    t[12 + c] = _mm512_shuffle_f32x4(r[8 + c], r[12 + c], 0xdd);
  }
  for (int c = 0; c < 4; ++c) {
    r[c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0x88);            // column c
    r[8 + c] = _mm512_shuffle_f32x4(t[c], t[8 + c], 0xdd);        // column 8 + c
    r[4 + c] = _mm512_shuffle_f32x4(t[4 + c], t[12 + c], 0x88);   // column 4 + c
    r[12 + c] = _mm512_shuffle_f32x4(t[4 + c], t[12 + c], 0xdd);  // column 12 + c
  }
  for (int j = 0; j < 16; ++j) _mm512_storeu_ps(dst + j * dst_stride, r[j]);
}

// (8, 8) doubles, the same idea: unpack pairs, then 128-bit quarters twice.
void transpose_8x8(double* dst, int64_t dst_stride, const double* src, int64_t src_stride) {
  __m512d r[8], t[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm512_loadu_pd(src + i * src_stride);
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm512_unpacklo_pd(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_pd(r[i], r[i + 1]);
  }
  for (int g = 0; g < 8; g += 4) {
    r[g] = _mm512_shuffle_f64x2(t[g], t[g + 2], 0x88);
    r[g + 1] = _mm512_shuffle_f64x2(t[g + 1], t[g + 3], 0x88);
    r[g + 2] = _mm512_shuffle_f64x2(t[g], t[g + 2], 0xdd);
    r[g + 3] = _mm512_shuffle_f64x2(t[g + 1], t[g + 3], 0xdd);
  }
  for (int c = 0; c < 4; ++c) {
    t[c] = _mm512_shuffle_f64x2(r[c], r[4 + c], 0x88);      // column c
    t[4 + c] = _mm512_shuffle_f64x2(r[c], r[4 + c], 0xdd);  // column 4 + c
  }
  for (int j = 0; j < 8; ++j) _mm512_storeu_pd(dst + j * dst_stride, t[j]);
}

#pragma GCC diagnostic pop

}  // namespace

// Blocking (measured on a 2-core AMD EPYC, 32 KiB L1d, 1 MiB L2; see gemm.cpp):
//   mr * kc * sizeof(T): one packed A micro-panel (21 KiB), kept in L1 while the B micro-panels
//   stream past it.   kc * nc * sizeof(T): the packed B block of a pass (768 KiB), kept in L2.
MicroKernel<float> avx512_kernel_f32() {
  return {"avx512", 14, 32, 384, 512, &micro_kernel_rows<float, 14, 2>,
          &pack_a_panel<float, 14>, &pack_b_panels<float, 32, 16, &transpose_16x16>, kDirectBytes};
}

MicroKernel<double> avx512_kernel_f64() {
  return {"avx512", 14, 16, 384, 256, &micro_kernel_rows<double, 14, 2>,
          &pack_a_panel<double, 14>, &pack_b_panels<double, 16, 8, &transpose_8x8>, kDirectBytes};
}

}  // namespace ag::kernels::gemm_detail

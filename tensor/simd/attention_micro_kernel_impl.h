// attention_micro_kernel_impl.h: the attention building blocks of attention_micro_kernel.h,
// written once over a small vector type and instantiated by attention_avx2.cpp (8 floats, ymm)
// and attention_avx512.cpp (16 floats, zmm). Include it only from those two files: the vector
// type they pass in is what brings the instruction set.
//
// A vector type V provides: kLanes; kRows and kCols, the GEMM tile (kRows rows of C by kCols
// vectors: kRows * kCols accumulators must fit in the register file with room for kCols vectors
// of B and a broadcast, and should number at least FMA latency x FMA ports, or the chains of
// fused multiply-adds wait on each other); Reg, zero(), set1(x), load(p), store(p, r), fmadd(a, b, c),
// add, sub, mul, max, exp, and reduce_add / reduce_max (horizontal, in a fixed tree); for dropout's
// Philox draws, 32-bit integer lanes IReg with iset1, iadd, ixor, isrl, lane_index (0, 1, ...),
// mul_hi_lo (the high and low halves of 32 x 32 -> 64-bit products) and select_dropped.
//
// transpose and dot are written in AVX2 for both files (an AVX-512 CPU runs AVX2 too): they
// move values or sum in double, where wider vectors would gain little, and so both builds give
// the same bits.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "tensor/random.h"
#include "tensor/simd/attention_micro_kernel.h"
#include "tensor/simd/ymm_transpose.h"

namespace ag::kernels::simd::attention_impl {

// C rows i0 .. i0 + MR - 1, columns j .. j + NV * kLanes - 1: MR * NV accumulators stay in
// registers for the whole p loop; every loaded vector of B serves MR rows.
template <typename V, int MR, int NV>
void gemm_tile(int64_t k, const float* a, int64_t a_rs, int64_t a_cs, const float* b,
               int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  typename V::Reg acc[MR][NV];
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) acc[r][v] = V::zero();
  for (int64_t p = 0; p < k; ++p) {
    typename V::Reg b_row[NV];
    for (int v = 0; v < NV; ++v) b_row[v] = V::load(b + p * ldb + v * V::kLanes);
    for (int r = 0; r < MR; ++r) {
      const typename V::Reg a_rp = V::set1(a[r * a_rs + p * a_cs]);
      for (int v = 0; v < NV; ++v) acc[r][v] = V::fmadd(a_rp, b_row[v], acc[r][v]);
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int v = 0; v < NV; ++v) {
      float* c_rv = c + r * ldc + v * V::kLanes;
      V::store(c_rv, accumulate ? V::add(V::load(c_rv), acc[r][v]) : acc[r][v]);
    }
}

// Columns j .. j + NV * kLanes - 1 of every row: strips of MR rows, then what is left in strips
// of 4, 2 and 1 (when MR is taller).
template <typename V, int MR, int NV>
void gemm_strips(int64_t m, int64_t k, const float* a, int64_t a_rs, int64_t a_cs,
                 const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  int64_t i = 0;
  for (; i + MR <= m; i += MR)
    gemm_tile<V, MR, NV>(k, a + i * a_rs, a_rs, a_cs, b, ldb, c + i * ldc, ldc, accumulate);
  if constexpr (MR > 4)
    for (; i + 4 <= m; i += 4)
      gemm_tile<V, 4, NV>(k, a + i * a_rs, a_rs, a_cs, b, ldb, c + i * ldc, ldc, accumulate);
  if constexpr (MR > 2)
    for (; i + 2 <= m; i += 2)
      gemm_tile<V, 2, NV>(k, a + i * a_rs, a_rs, a_cs, b, ldb, c + i * ldc, ldc, accumulate);
  if (i < m) gemm_tile<V, 1, NV>(k, a + i * a_rs, a_rs, a_cs, b, ldb, c + i * ldc, ldc, accumulate);
}

// C (m, n) [+]= A (m, k) B (k, n), n a multiple of 16: column blocks of V::kCols vectors in
// strips of V::kRows rows, then the 1 to kCols - 1 vectors left over in taller strips, so that
// every tile keeps about kRows * kCols accumulators. That matters when n is narrow: with a head
// size of 16 (GPT tiny), four of the backward's six products and the forward's P v are one
// vector wide, and a strip of 4 rows had only 4 chains of fused multiply-adds where two FMA
// pipes of 4 cycles' latency need 8; a strip of 16 rows has 16. A tile changes which registers
// hold an element of C, never the order of its operations (one chain over p = 0 .. k - 1), so
// the bits of C depend neither on the tiling nor on where a row or column falls.
template <typename V>
void gemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t a_rs, int64_t a_cs,
          const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  constexpr int NV = V::kCols, kAcc = V::kRows * V::kCols;
  int64_t j = 0;
  for (; j + NV * V::kLanes <= n; j += NV * V::kLanes)
    gemm_strips<V, V::kRows, NV>(m, k, a, a_rs, a_cs, b + j, ldb, c + j, ldc, accumulate);
  const int64_t left = (n - j) / V::kLanes;
  if constexpr (NV > 3) if (left == 3) gemm_strips<V, kAcc / 3, 3>(m, k, a, a_rs, a_cs, b + j, ldb, c + j, ldc, accumulate);
  if constexpr (NV > 2) if (left == 2) gemm_strips<V, kAcc / 2, 2>(m, k, a, a_rs, a_cs, b + j, ldb, c + j, ldc, accumulate);
  if constexpr (NV > 1) if (left == 1) gemm_strips<V, kAcc, 1>(m, k, a, a_rs, a_cs, b + j, ldb, c + j, ldc, accumulate);
}

template <typename V>
void row_max(float* out, const float* s, int64_t lds, int64_t m, int64_t n) {
  for (int64_t i = 0; i < m; ++i) {
    const float* s_row = s + i * lds;
    typename V::Reg best = V::load(s_row);
    for (int64_t j = V::kLanes; j < n; j += V::kLanes) best = V::max(best, V::load(s_row + j));
    out[i] = V::reduce_max(best);
  }
}

template <typename V>
void exp_rows(float* p, float* row_sum, const float* s, const float* shift, int64_t ld,
              int64_t m, int64_t n) {
  for (int64_t i = 0; i < m; ++i) {
    const typename V::Reg shift_i = V::set1(shift[i]);
    typename V::Reg sum = V::zero();
    for (int64_t j = 0; j < n; j += V::kLanes) {
      const typename V::Reg e = V::exp(V::sub(V::load(s + i * ld + j), shift_i));
      V::store(p + i * ld + j, e);
      sum = V::add(sum, e);
    }
    row_sum[i] = V::reduce_add(sum);
  }
}

// Philox4x32-10 on kLanes counters at once, the same rounds as philox4x32 in tensor/random.cpp:
// each round multiplies words 0 and 2 by the constants, and the 64-bit products' high and low
// halves (V::mul_hi_lo) are mixed with words 1 and 3 and the key. The counters are
// (a, b, c0 + lane, a >> 32), the low 32 bits of each, as keyed_uniform builds them.
template <typename V>
void dropout_row(float* z, uint64_t seed, uint64_t salt, uint64_t a, uint64_t b, uint64_t c0,
                 int64_t n, uint64_t threshold, float keep) {
  using I = typename V::IReg;
  const uint64_t key = philox::keyed_key(seed, salt);
  // bits = (r0 << 21) | (r1 >> 11) < threshold, split at bit 21 into 32-bit comparisons.
  const uint32_t threshold_hi = static_cast<uint32_t>(threshold >> 21);
  const uint32_t threshold_lo = static_cast<uint32_t>(threshold & ((1u << 21) - 1));
  for (int64_t j = 0; j < n; j += V::kLanes) {
    I w0 = V::iset1(static_cast<uint32_t>(a)), w1 = V::iset1(static_cast<uint32_t>(b));
    I w2 = V::iadd(V::iset1(static_cast<uint32_t>(c0 + j)), V::lane_index());
    I w3 = V::iset1(static_cast<uint32_t>(a >> 32));
    uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
    for (int round = 0; round < 10; ++round) {
      I hi0, lo0, hi1, lo1;
      V::mul_hi_lo(w0, philox::kMul0, hi0, lo0);
      V::mul_hi_lo(w2, philox::kMul1, hi1, lo1);
      w0 = V::ixor(V::ixor(hi1, w1), V::iset1(k0));
      w1 = lo1;
      w2 = V::ixor(V::ixor(hi0, w3), V::iset1(k1));
      w3 = lo0;
      k0 += philox::kWeyl0;
      k1 += philox::kWeyl1;
    }
    V::store(z + j, V::select_dropped(w0, V::isrl(w1, 11), threshold_hi, threshold_lo, keep));
  }
}

template <typename V>
void softmax_backward(float* ds, const float* p, const float* delta, int64_t ld, int64_t m,
                      int64_t n) {
  for (int64_t i = 0; i < m; ++i) {
    const typename V::Reg delta_i = V::set1(delta[i]);
    for (int64_t j = 0; j < n; j += V::kLanes) {
      float* ds_ij = ds + i * ld + j;
      V::store(ds_ij, V::mul(V::load(p + i * ld + j), V::sub(V::load(ds_ij), delta_i)));
    }
  }
}

template <typename V>
void scale_rows(float* dst, int64_t ldd, const float* src, int64_t lds, int64_t m, int64_t n,
                int64_t n_fill, float factor) {
  const typename V::Reg f = V::set1(factor);
  for (int64_t i = 0; i < m; ++i) {
    float* d = dst + i * ldd;
    const float* s = src + i * lds;
    int64_t c = 0;
    for (; c + V::kLanes <= n; c += V::kLanes) V::store(d + c, V::mul(f, V::load(s + c)));
    for (; c < n; ++c) d[c] = factor * s[c];
    for (; c < n_fill; ++c) d[c] = 0.0f;
  }
}

// Whole (8, 8) blocks in registers, the ragged edges element by element. (A template on V like
// the rest, though V is unused: that gives it V's internal linkage, so the AVX-512 file's copy
// can never stand in for the AVX2 one at link time.)
template <typename V>
void transpose(float* dst, int64_t ld, const float* src, int64_t lds, int64_t keys, int64_t n) {
  const int64_t keys8 = keys / 8 * 8, n8 = n / 8 * 8;
  for (int64_t c = 0; c < n8; c += 8) {
    for (int64_t j = 0; j < keys8; j += 8)
      transpose_8x8(dst + c * ld + j, ld, src + j * lds + c, lds);
    for (int64_t cc = c; cc < c + 8; ++cc)
      for (int64_t j = keys8; j < keys; ++j) dst[cc * ld + j] = src[j * lds + cc];
  }
  for (int64_t c = n8; c < n; ++c)
    for (int64_t j = 0; j < keys; ++j) dst[c * ld + j] = src[j * lds + c];
  for (int64_t c = 0; c < n; ++c)
    for (int64_t j = keys; j < ld; ++j) dst[c * ld + j] = 0.0f;
}

template <typename V>
double dot(const float* a, const float* b, int64_t n) {
  __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
  int64_t c = 0;
  for (; c + 8 <= n; c += 8) {
    acc0 = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm_loadu_ps(a + c)),
                           _mm256_cvtps_pd(_mm_loadu_ps(b + c)), acc0);
    acc1 = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm_loadu_ps(a + c + 4)),
                           _mm256_cvtps_pd(_mm_loadu_ps(b + c + 4)), acc1);
  }
  double rest = 0.0;
  for (; c < n; ++c) rest += static_cast<double>(a[c]) * b[c];
  const __m256d sum4 = _mm256_add_pd(acc0, acc1);
  const __m128d sum2 = _mm_add_pd(_mm256_castpd256_pd128(sum4), _mm256_extractf128_pd(sum4, 1));
  return _mm_cvtsd_f64(_mm_add_sd(sum2, _mm_unpackhi_pd(sum2, sum2))) + rest;
}

template <typename V>
AttentionMicroKernels make_kernels(const char* name) {
  return {name,           &gemm<V>,          &row_max<V>,   &exp_rows<V>, &dropout_row<V>,
          &softmax_backward<V>, &scale_rows<V>, &transpose<V>, &dot<V>};
}

}  // namespace ag::kernels::simd::attention_impl

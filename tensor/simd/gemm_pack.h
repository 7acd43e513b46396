// gemm_pack.h: packing, the copies that put GEMM operands in the order a micro-kernel reads.
//
// Packed, a kernel's loads are sequential, aligned and free of cache-set conflicts whatever
// lda/ldb are; and the transposes are absorbed here, so nothing downstream knows about them.
// A micro-panel is MR rows of op(A) x kc; a B micro-panel is kc x NR columns of op(B).
//
// Included by gemm.cpp and by each tensor/simd/gemm_<isa>.cpp, which compile it with their own
// instruction-set flags. Everything here is therefore in an anonymous namespace: one copy per
// translation unit, so the linker can never hand an AVX-512 build of a packer to a CPU that
// only runs the scalar kernel (the One Definition Rule would allow exactly that for an
// ordinary inline template).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>

#include "tensor/simd/gemm_micro_kernel.h"

namespace ag::kernels::gemm_detail {
namespace {

// One A micro-panel: rows [0, m) x cols [0, k) of op(A), where op(A)(i, p) = a[i * a_rs +
// p * a_cs]. Either way it copies contiguous runs, no transposing:
//   op(A) = A^T (a_rs == 1): step p is m contiguous values   -> ap[p * MR + i]
//   op(A) = A   (a_cs == 1): row i is k contiguous values     -> ap[i * kPackedRowStride + p]
// Returns the (a_rs, a_cs) the micro-kernel reads the panel with.
template <typename T, int MR>
std::pair<int64_t, int64_t> pack_a_panel(T* ap, const T* a, int64_t a_rs, int64_t a_cs,
                                         int64_t m, int64_t k) {
  if (a_rs == 1) {
    if (m == MR) {
      for (int64_t p = 0; p < k; ++p) std::memcpy(ap + p * MR, a + p * a_cs, MR * sizeof(T));
    } else {
      for (int64_t p = 0; p < k; ++p) std::memcpy(ap + p * MR, a + p * a_cs, m * sizeof(T));
    }
    return {1, MR};
  }
  for (int64_t i = 0; i < m; ++i)
    std::memcpy(ap + i * kPackedRowStride, a + i * a_rs, k * sizeof(T));
  return {kPackedRowStride, 1};
}

// A (kTile, kTile) block transposed: dst[j * dst_stride + p] = src[p * src_stride + j]. The
// portable version; gemm_avx512.cpp has a faster one for its own tile size.
template <typename T, int kTile>
void transpose_tile(T* dst, int64_t dst_stride, const T* src, int64_t src_stride) {
  for (int p = 0; p < kTile; ++p)
    for (int j = 0; j < kTile; ++j) dst[j * dst_stride + p] = src[p * src_stride + j];
}

// The B micro-panels of one pass: rows [0, k) x cols [0, n) of op(B), where op(B)(p, j) =
// b[p * b_rs + j * b_cs], into ceil(n / NR) panels; panel q holds columns [q NR, q NR + NR) as
// bp[q * k * NR + p * NR + j], zero past n so the kernel can always load NR columns.
//   op(B) = B   (b_cs == 1): each row p is copied across the panels in order, so B is read
//                            front to back (panel by panel would jump a row, often 4 KiB+, per
//                            step and miss the TLB every time).
//   op(B) = B^T (b_rs == 1): B's rows are op(B)'s columns; (kTile, kTile) blocks are
//                            transposed through Transpose.
template <typename T, int NR, int kTile = 8,
          void (*Transpose)(T*, int64_t, const T*, int64_t) = &transpose_tile<T, kTile>>
void pack_b_panels(T* bp, const T* b, int64_t b_rs, int64_t b_cs, int64_t n, int64_t k) {
  const int64_t full_panels = n / NR, rest = n % NR;
  const int64_t panel_size = k * NR;
  if (b_cs == 1) {
    for (int64_t p = 0; p < k; ++p) {
      const T* b_row = b + p * b_rs;
      T* dst = bp + p * NR;
      // memcpy of a constant NR values: vector moves. (The loop it replaced was left as NR
      // scalar moves, since GCC could not rule out dst overlapping b_row.)
      for (int64_t q = 0; q < full_panels; ++q)
        std::memcpy(dst + q * panel_size, b_row + q * NR, NR * sizeof(T));
      if (rest) {
        T* d = dst + full_panels * panel_size;
        for (int j = 0; j < NR; ++j) d[j] = j < rest ? b_row[full_panels * NR + j] : T(0);
      }
    }
    return;
  }
  // Transposed: op(B)(p, j) = b[j * b_cs + p], so column j of op(B) is contiguous.
  static_assert(NR % kTile == 0, "the transpose tile must divide the panel width");
  const int64_t k_tiles = k / kTile * kTile;
  for (int64_t q = 0; q * NR < n; ++q) {
    T* panel = bp + q * panel_size;
    const int64_t cols = std::min<int64_t>(NR, n - q * NR);
    for (int64_t j0 = 0; j0 < NR; j0 += kTile) {
      const T* src = b + (q * NR + j0) * b_cs;  // rows of B = columns j0.. of op(B)
      if (j0 + kTile <= cols) {
        int64_t p = 0;
        for (; p < k_tiles; p += kTile) Transpose(panel + p * NR + j0, NR, src + p, b_cs);
        for (; p < k; ++p)
          for (int j = 0; j < kTile; ++j) panel[p * NR + j0 + j] = src[j * b_cs + p];
      } else {  // the ragged right edge: what exists, then zeros
        for (int64_t p = 0; p < k; ++p)
          for (int j = 0; j < kTile; ++j)
            panel[p * NR + j0 + j] = j0 + j < cols ? src[j * b_cs + p] : T(0);
      }
    }
  }
}

}  // namespace
}  // namespace ag::kernels::gemm_detail

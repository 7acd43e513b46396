// gemm_micro_kernel.h: the contract between the GEMM driver (tensor/gemm.cpp) and the
// register-blocked micro-kernels, one set per instruction set (scalar in gemm.cpp, AVX2 and
// AVX-512 in tensor/simd/). Internal to tensor/: nothing outside gemm.cpp calls these.
//
// A micro-kernel computes one small tile of C that lives in registers for the whole k loop:
//
//   C (m, n) [+]= A (m, k) * B (k, n)        m <= mr, n <= nr
//   A(i, p) = a[i * a_rs + p * a_cs]         any strides: packed, or read in place
//   B(p, j) = b[p * b_rs + j]                j < nr must be readable (zero padding past n)
//
// Every element is a chain of fused multiply-adds in p = 0, 1, ..., k-1 order, started from
// zero, then added to C once (or stored when !accumulate). That order depends on nothing but k,
// so any tiling of C, by any number of threads, gives the same bits.
#pragma once

#include <cstdint>
#include <utility>

namespace ag::kernels::gemm_detail {

// Row stride of a row-packed A panel: rows of up to kc <= kMaxKc values, padded so that the
// rows of a panel fall in different L1 sets (a stride that is a multiple of 4 KiB would put
// every row in the same set). Kernels build this stride in as a constant.
inline constexpr int64_t kMaxKc = 512;
inline constexpr int64_t kPackedRowStride = kMaxKc + 16;

// The usual direct_bytes (below): when op(A) and op(B) together fit in about half of a 1 MiB
// L2, packing costs more than it saves, because everything stays in cache anyway.
inline constexpr int64_t kDirectBytes = 512 * 1024;

template <typename T>
using MicroKernelFn = void (*)(int64_t k, const T* a, int64_t a_rs, int64_t a_cs, const T* b,
                               int64_t b_rs, T* c, int64_t ldc, int64_t m, int64_t n,
                               bool accumulate);

// Packs one A micro-panel, m <= mr rows x k of op(A) (op(A)(i, p) = a[i * a_rs + p * a_cs]),
// into ap; returns the (a_rs, a_cs) the micro-kernel then reads ap with. See gemm_pack.h.
template <typename T>
using PackAFn = std::pair<int64_t, int64_t> (*)(T* ap, const T* a, int64_t a_rs, int64_t a_cs,
                                                int64_t m, int64_t k);
// Packs k rows x n columns of op(B) (op(B)(p, j) = b[p * b_rs + j * b_cs]) into ceil(n / nr)
// zero-padded micro-panels of k * nr values each. See gemm_pack.h.
template <typename T>
using PackBFn = void (*)(T* bp, const T* b, int64_t b_rs, int64_t b_cs, int64_t n, int64_t k);

// A micro-kernel, its packers, and the cache blocking it was tuned with (loops in gemm.cpp):
//   mr, nr: the register tile.   kc: depth of one pass (<= kMaxKc).
//   nc: columns of B packed per pass; the packed kc x nc block stays in L2.
//   direct_bytes: when op(A) and op(B) together fit in this many bytes, they are read in place
//   rather than packed (B^T is packed anyway).
template <typename T>
struct MicroKernel {
  const char* name = nullptr;
  int64_t mr = 0, nr = 0, kc = 0, nc = 0;
  MicroKernelFn<T> fn = nullptr;
  PackAFn<T> pack_a = nullptr;
  PackBFn<T> pack_b = nullptr;
  int64_t direct_bytes = 0;
};

// Each returns a kernel with fn == nullptr when that instruction set was not compiled in; the
// driver also checks the CPU before using one (tensor/cpu_features.h).
MicroKernel<float> avx512_kernel_f32();
MicroKernel<double> avx512_kernel_f64();
MicroKernel<float> avx2_kernel_f32();
MicroKernel<double> avx2_kernel_f64();

}  // namespace ag::kernels::gemm_detail

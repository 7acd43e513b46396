// attention_micro_kernel.h: the few float32 building blocks the fast fused attention
// (nn/functional/fused_attention.cpp) is made of, one set per instruction set (AVX2 and AVX-512,
// in tensor/simd/attention_avx2.cpp and attention_avx512.cpp). The tiling, the online softmax
// and the masks live in fused_attention.cpp; these only do arithmetic on small dense tiles, and
// the copies that lay q, k, v and dy out as the tiles read them (scale_rows, transpose) or
// write the gradients back.
//
// Every tile the driver hands over is padded: a row of n values has n a multiple of 16 (both
// widths divide it), with the padding zero (or -inf for scores), so the tile kernels never need
// a masked tail. Only scale_rows, transpose and dot, which read the caller's unpadded rows,
// take any n.
//
// Every result is a fixed chain of operations that depends only on the sizes passed in, never
// on which thread runs it: the driver's bitwise reproducibility rests on that.
#pragma once

#include <cstdint>

namespace ag::kernels::simd {

inline constexpr int64_t kAttentionPad = 16;  // every n below is a multiple of this

struct AttentionMicroKernels {
  const char* name = nullptr;
  // C (m, n) [+]= A (m, k) B (k, n).   A(i, p) = a[i * a_rs + p * a_cs]   B(p, j) = b[p * ldb + j]
  // C(i, j) = c[i * ldc + j]. Each element is a chain of fused multiply-adds in p = 0 .. k-1
  // order, started from zero, then added to C once (accumulate) or stored.   n % 16 == 0
  void (*gemm)(int64_t m, int64_t n, int64_t k, const float* a, int64_t a_rs, int64_t a_cs,
               const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) = nullptr;
  // row_max[i] = max_j s(i, j).   s: (m, n), row stride lds   n % 16 == 0
  void (*row_max)(float* row_max, const float* s, int64_t lds, int64_t m, int64_t n) = nullptr;
  // p(i, j) = exp(s(i, j) - shift[i]);  row_sum[i] = sum_j p(i, j) (lanes summed in a fixed
  // tree).   s, p: (m, n), row stride ld   n % 16 == 0   p may alias s
  void (*exp_rows)(float* p, float* row_sum, const float* s, const float* shift, int64_t ld,
                   int64_t m, int64_t n) = nullptr;
  // The dropout factors of one row of weights: z[j] = 0 where
  //   keyed_uniform(seed, a, b, c0 + j, salt) < p        (tensor/random.h, the same Philox draw)
  // else keep, for j < n (n % 16 == 0). threshold = ceil(p 2^53) < 2^53: a draw is 53 random bits
  // times 2^-53, so "u < p" is exactly "bits < threshold", with no double arithmetic.
  void (*dropout_row)(float* z, uint64_t seed, uint64_t salt, uint64_t a, uint64_t b,
                      uint64_t c0, int64_t n, uint64_t threshold, float keep) = nullptr;

  // The elementwise work around the tiles. Each is the plain loop's operations on each element,
  // in the same order, so the bits are those of a scalar loop whatever the vector width.
  // ds(i, j) = p(i, j) * (ds(i, j) - delta[i]), in place: the softmax backward.   n % 16 == 0
  void (*softmax_backward)(float* ds, const float* p, const float* delta, int64_t ld, int64_t m,
                           int64_t n) = nullptr;
  // dst(i, c) = factor * src(i, c) for c < n, then 0 for n <= c < n_fill. dst, src row strides
  // ldd, lds; n any.
  void (*scale_rows)(float* dst, int64_t ldd, const float* src, int64_t lds, int64_t m,
                     int64_t n, int64_t n_fill, float factor) = nullptr;
  // dst(c, j) = src(j, c) for j < keys, c < n, then 0 for keys <= j < ld: keys laid out as
  // columns. dst: (n, ld); src: (keys, n), row stride lds.
  void (*transpose)(float* dst, int64_t ld, const float* src, int64_t lds, int64_t keys,
                    int64_t n) = nullptr;
  // sum_c a[c] b[c] in double. A product of two floats is exact in double, so only the order
  // of the additions matters, and it depends on n alone: the first n - n % 8 columns go to 8
  // double lanes (column c to lane c % 8), summed in a fixed tree; the last n % 8 one by one
  // into a separate sum, added last. The same in every build.
  double (*dot)(const float* a, const float* b, int64_t n) = nullptr;
};

// Defined only in builds with the SIMD files (AG_HAVE_SIMD); the caller also checks the CPU
// (tensor/cpu_features.h) before using one.
AttentionMicroKernels avx2_attention_kernels();
AttentionMicroKernels avx512_attention_kernels();

}  // namespace ag::kernels::simd

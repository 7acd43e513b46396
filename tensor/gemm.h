// gemm.h: general matrix multiply on raw row-major buffers, the kernel under every matmul.
//
//   C (M, N) [+]= op(A) (M, K) * op(B) (K, N)
//
// op(A) is A, or A^T when trans_a (then A is stored (K, M)); likewise B. lda, ldb, ldc are row
// strides in elements. The transposed forms are what matmul's backward needs (dA = dC B^T,
// dB = A^T dC), and reading a transposed operand in place avoids materialising it.
//
// gemm_reference is the plain triple loop: slow, obviously right, and the reference every fast
// kernel is tested against. gemm picks the fastest kernel this CPU supports (see gemm.cpp);
// for a given (M, N, K) its result is bitwise the same for any thread count.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ag::kernels {

template <typename T>
void gemm_reference(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T* A,
                    int64_t lda, const T* B, int64_t ldb, T* C, int64_t ldc, bool accumulate);

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda,
          const T* B, int64_t ldb, T* C, int64_t ldc, bool accumulate);

// Which micro-kernel gemm uses on this CPU: "avx512", "avx2" or "scalar". The widest the CPU
// runs, unless env AG_GEMM_KERNEL names another (read once, at the first gemm).
const char* gemm_kernel_name();

// ---- for tests and benchmarks ------------------------------------------------------------------
// The micro-kernels this build and CPU can run, widest first; "scalar" is always last.
std::vector<std::string> gemm_available_kernels();

// gemm with a named micro-kernel instead of the automatic choice; an Error if it is unavailable.
template <typename T>
void gemm_with_kernel(std::string_view kernel, bool trans_a, bool trans_b, int64_t M, int64_t N,
                      int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb, T* C,
                      int64_t ldc, bool accumulate);

}  // namespace ag::kernels

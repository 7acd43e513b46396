// gemm.cpp: the reference GEMM, and the packed, cache-blocked GEMM that matmul runs on.
#include "tensor/gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <tuple>
#include <utility>

#include "tensor/error.h"
#include "tensor/simd/gemm_micro_kernel.h"
#include "tensor/simd/gemm_pack.h"
#include "tensor/thread_pool.h"

namespace ag::kernels {

template <typename T>
void gemm_reference(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T* A,
                    int64_t lda, const T* B, int64_t ldb, T* C, int64_t ldc, bool accumulate) {
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      T acc = 0;
      for (int64_t p = 0; p < K; ++p) {
        const T a = trans_a ? A[p * lda + i] : A[i * lda + p];
        const T b = trans_b ? B[j * ldb + p] : B[p * ldb + j];
        acc += a * b;
      }
      C[i * ldc + j] = accumulate ? C[i * ldc + j] + acc : acc;
    }
  }
}

namespace gemm_detail {
namespace {

int64_t env_int(const char* name, int64_t fallback) {
  const char* s = std::getenv(name);
  return s ? std::atoll(s) : fallback;
}

// ---- the portable micro-kernel -------------------------------------------------------------
// Plain loops over a (4, 8) tile; the compiler keeps what it can in registers. It is the kernel
// for CPUs without AVX2, and the one the SIMD kernels are checked against besides the reference.
template <typename T, int MR, int NR>
void scalar_micro_kernel(int64_t k, const T* a, int64_t a_rs, int64_t a_cs, const T* b,
                         int64_t b_rs, T* c, int64_t ldc, int64_t m, int64_t n, bool accumulate) {
  T acc[MR][NR] = {};
  for (int64_t p = 0; p < k; ++p) {
    const T* b_row = b + p * b_rs;
    for (int64_t i = 0; i < m; ++i) {
      const T a_ip = a[i * a_rs + p * a_cs];
      for (int j = 0; j < NR; ++j) acc[i][j] += a_ip * b_row[j];
    }
  }
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j)
      c[i * ldc + j] = accumulate ? c[i * ldc + j] + acc[i][j] : acc[i][j];
}

template <typename T>
MicroKernel<T> scalar_kernel() {
  return {"scalar", 4, 8, 256, 512, &scalar_micro_kernel<T, 4, 8>, &pack_a_panel<T, 4>,
          &pack_b_panels<T, 8>};
}

// ---- choosing a kernel ----------------------------------------------------------------------

#if defined(AG_HAVE_SIMD)
bool cpu_has_avx2() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
bool cpu_has_avx512() { return __builtin_cpu_supports("avx512f"); }
#else
bool cpu_has_avx2() { return false; }
bool cpu_has_avx512() { return false; }
#endif

// The named kernel, or one with fn == nullptr when this build or CPU lacks it.
template <typename T>
MicroKernel<T> kernel_named(std::string_view name) {
  if (name == "scalar") return scalar_kernel<T>();
#if defined(AG_HAVE_SIMD)
  if (name == "avx512" && cpu_has_avx512()) {
    if constexpr (std::is_same_v<T, float>) return avx512_kernel_f32();
    else return avx512_kernel_f64();
  }
  if (name == "avx2" && cpu_has_avx2()) {
    if constexpr (std::is_same_v<T, float>) return avx2_kernel_f32();
    else return avx2_kernel_f64();
  }
#endif
  return {};
}

std::string available_list() {
  std::string names;
  for (const std::string& name : gemm_available_kernels()) names += (names.empty() ? "" : ", ") + name;
  return names;
}

// AG_GEMM_KERNEL=scalar|avx2|avx512 forces a kernel (for tests and comparisons); otherwise the
// widest one this CPU runs. Decided once per process.
template <typename T>
const MicroKernel<T>& selected_kernel() {
  static const MicroKernel<T> kernel = [] {
    if (const char* forced = std::getenv("AG_GEMM_KERNEL"); forced && *forced) {
      MicroKernel<T> k = kernel_named<T>(forced);
      if (!k.fn)
        throw Error("gemm", "AG_GEMM_KERNEL=", forced, " is not available here; available: ",
                    available_list());
      return k;
    }
    return gemm_available_kernels().front() == "avx512" ? kernel_named<T>("avx512")
           : gemm_available_kernels().front() == "avx2" ? kernel_named<T>("avx2")
                                                        : scalar_kernel<T>();
  }();
  return kernel;
}

// ---- packing buffers ------------------------------------------------------------------------
// One growing, 64-byte aligned buffer per thread and purpose: after the first few calls a GEMM
// allocates nothing. Thread-local, so gemms running in parallel (matmul's batch loop) never
// share one.
class ScratchBuffer {
 public:
  ~ScratchBuffer() { ::operator delete(data_, std::align_val_t{64}); }
  template <typename T>
  T* get(int64_t count) {
    const size_t bytes = static_cast<size_t>(count) * sizeof(T);
    if (bytes > capacity_) {
      ::operator delete(data_, std::align_val_t{64});
      capacity_ = std::max(bytes, 2 * capacity_);
      data_ = ::operator new(capacity_, std::align_val_t{64});
    }
    return static_cast<T*>(data_);
  }

 private:
  void* data_ = nullptr;
  size_t capacity_ = 0;
};

thread_local ScratchBuffer t_a_buffer;  // packed A micro-panels of the running task
thread_local ScratchBuffer t_b_buffer;  // packed B block, shared read-only with the workers

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// ---- the driver -----------------------------------------------------------------------------
template <typename T>
void gemm_blocked(const MicroKernel<T>& uk, bool trans_a, bool trans_b, int64_t M, int64_t N,
                  int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb, T* C, int64_t ldc,
                  bool accumulate) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {  // an empty sum: C = 0, or C unchanged
    if (!accumulate)
      for (int64_t i = 0; i < M; ++i) std::fill(C + i * ldc, C + i * ldc + N, T(0));
    return;
  }
  const int64_t MR = uk.mr, NR = uk.nr;
  const int64_t KC = std::min(kMaxKc, env_int("AG_GEMM_KC", uk.kc));
  // op(A)(i, p) = A[i * a_rs + p * a_cs], op(B)(p, j) = B[p * b_rs + j * b_cs]
  const int64_t a_rs = trans_a ? 1 : lda, a_cs = trans_a ? lda : 1;
  const int64_t b_rs = trans_b ? 1 : ldb, b_cs = trans_b ? ldb : 1;

  const double flops = 2.0 * M * N * K;
  const int64_t pack_a_env = env_int("AG_GEMM_PACK_A", -1);
  const bool pack_a = pack_a_env >= 0 ? pack_a_env != 0 : true;
  const int64_t pack_b_env = env_int("AG_GEMM_PACK_B", -1);
  const bool pack_b = trans_b || (pack_b_env >= 0 ? pack_b_env != 0 : true);
  const int num_threads = in_parallel_region() ? 1 : get_num_threads();
  const bool threaded = num_threads > 1 && flops > env_int("AG_GEMM_MIN_PAR_FLOPS", 4000000);

  const int64_t NC = std::max<int64_t>(NR, env_int("AG_GEMM_NC", uk.nc) / NR * NR);
  const int64_t m_panels = ceil_div(M, MR);

  for (int64_t jc = 0; jc < N; jc += NC) {
    const int64_t nc = std::min(NC, N - jc);
    const int64_t num_panels = ceil_div(nc, NR);
    for (int64_t pc = 0; pc < K; pc += KC) {
      const int64_t kc = std::min(KC, K - pc);
      // The first pass over K writes (or adds to) C; every later pass adds its partial sums.
      const bool acc_c = accumulate || pc > 0;

      // B micro-panels of this pass: packed, or read in place except a ragged last panel.
      T* bp = nullptr;
      if (pack_b) {
        bp = t_b_buffer.get<T>(num_panels * kc * NR);
        auto pack = [&](int64_t q0, int64_t q1) {
          const int64_t j0 = q0 * NR, j1 = std::min(nc, q1 * NR);
          uk.pack_b(bp + q0 * kc * NR, B + pc * b_rs + (jc + j0) * b_cs, b_rs, b_cs, j1 - j0, kc);
        };
        if (threaded) parallel_for(0, num_panels, 2, pack);
        else pack(0, num_panels);
      } else if (nc % NR != 0) {
        bp = t_b_buffer.get<T>(kc * NR);
        const int64_t q = num_panels - 1;
        uk.pack_b(bp, B + pc * b_rs + (jc + q * NR) * b_cs, b_rs, b_cs, nc - q * NR, kc);
      }
      auto b_panel = [&](int64_t q, int64_t& rs) -> const T* {
        if (pack_b) { rs = NR; return bp + q * kc * NR; }
        if (nc % NR != 0 && q == num_panels - 1) { rs = NR; return bp; }
        rs = b_rs;
        return B + pc * b_rs + (jc + q * NR);
      };

      // Tasks: runs of A micro-panels x groups of B micro-panels. Which thread runs a task
      // changes nothing in the arithmetic (see gemm_micro_kernel.h), so the split may follow
      // the thread count.
      int64_t row_tasks = 1, col_tasks = 1;
      if (threaded) {
        row_tasks = std::min(m_panels, int64_t{4} * num_threads);
        if (row_tasks < 2 * num_threads) col_tasks = std::min(num_panels, ceil_div(2 * num_threads, row_tasks));
      }
      const int64_t panels_per_row_task = ceil_div(m_panels, row_tasks);
      const int64_t panels_per_col_task = ceil_div(num_panels, col_tasks);
      row_tasks = ceil_div(m_panels, panels_per_row_task);
      col_tasks = ceil_div(num_panels, panels_per_col_task);

      auto task = [&](int64_t t) {
        const int64_t r0 = (t / col_tasks) * panels_per_row_task;
        const int64_t r1 = std::min(m_panels, r0 + panels_per_row_task);
        const int64_t q0 = (t % col_tasks) * panels_per_col_task;
        const int64_t q1 = std::min(num_panels, q0 + panels_per_col_task);
        T* ap = pack_a ? t_a_buffer.get<T>(MR * std::max(MR, kPackedRowStride)) : nullptr;
        for (int64_t r = r0; r < r1; ++r) {
          // One A micro-panel, packed once and kept in L1 while every B micro-panel of the
          // task streams past it from L2.
          const int64_t i = r * MR, m = std::min(MR, M - i);
          const T* a = A + i * a_rs + pc * a_cs;
          int64_t ap_rs = a_rs, ap_cs = a_cs;
          if (pack_a) {
            std::tie(ap_rs, ap_cs) = uk.pack_a(ap, a, a_rs, a_cs, m, kc);
            a = ap;
          }
          for (int64_t q = q0; q < q1; ++q) {
            const int64_t j = jc + q * NR;
            int64_t brs = 0;
            const T* b = b_panel(q, brs);
            uk.fn(kc, a, ap_rs, ap_cs, b, brs, C + i * ldc + j, ldc, m, std::min(NR, N - j),
                  acc_c);
          }
        }
      };
      parallel_for(0, row_tasks * col_tasks, 1, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) task(t);
      });
    }
  }
}

}  // namespace
}  // namespace gemm_detail

std::vector<std::string> gemm_available_kernels() {
  std::vector<std::string> names;
#if defined(AG_HAVE_SIMD)
  if (gemm_detail::cpu_has_avx512()) names.push_back("avx512");
  if (gemm_detail::cpu_has_avx2()) names.push_back("avx2");
#endif
  names.push_back("scalar");
  return names;
}

const char* gemm_kernel_name() { return gemm_detail::selected_kernel<float>().name; }

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const T* A, int64_t lda,
          const T* B, int64_t ldb, T* C, int64_t ldc, bool accumulate) {
  gemm_detail::gemm_blocked(gemm_detail::selected_kernel<T>(), trans_a, trans_b, M, N, K, A, lda,
                            B, ldb, C, ldc, accumulate);
}

template <typename T>
void gemm_with_kernel(std::string_view kernel, bool trans_a, bool trans_b, int64_t M, int64_t N,
                      int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb, T* C,
                      int64_t ldc, bool accumulate) {
  const gemm_detail::MicroKernel<T> uk = gemm_detail::kernel_named<T>(kernel);
  if (!uk.fn)
    throw Error("gemm_with_kernel", "kernel '", kernel, "' is not available here; available: ",
                gemm_detail::available_list());
  gemm_detail::gemm_blocked(uk, trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc, accumulate);
}

#define AG_INSTANTIATE_GEMM(T)                                                                   \
  template void gemm_reference<T>(bool, bool, int64_t, int64_t, int64_t, const T*, int64_t,     \
                                  const T*, int64_t, T*, int64_t, bool);                         \
  template void gemm<T>(bool, bool, int64_t, int64_t, int64_t, const T*, int64_t, const T*,      \
                        int64_t, T*, int64_t, bool);                                             \
  template void gemm_with_kernel<T>(std::string_view, bool, bool, int64_t, int64_t, int64_t,     \
                                    const T*, int64_t, const T*, int64_t, T*, int64_t, bool);
AG_INSTANTIATE_GEMM(float)
AG_INSTANTIATE_GEMM(double)
#undef AG_INSTANTIATE_GEMM

}  // namespace ag::kernels

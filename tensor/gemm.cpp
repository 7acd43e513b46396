// gemm.cpp: the reference GEMM, and the packed, cache-blocked GEMM that matmul runs on.
#include "tensor/gemm.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <tuple>
#include <utility>

#include "tensor/cpu_features.h"
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
          &pack_b_panels<T, 8>, kDirectBytes};
}

// ---- choosing a kernel ----------------------------------------------------------------------

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
//
// Loops, outermost first (GotoBLAS's, with the roles of A and B swapped because C is row-major
// and the kernel's vectors run along N):
//
//   jc: nc columns of C at a time          pack op(B)[pc.., jc..] (kc, nc) -> L2-sized block
//    pc: kc steps of K at a time
//     task (in parallel): a run of MR-row A micro-panels x a group of B micro-panels
//      r:  pack one A micro-panel (MR, kc) -> stays in L1
//       q:  micro-kernel: C (MR, NR) [+]= A panel (MR, kc) * B panel (kc, NR)
//
// On this CPU (32 KiB L1, 1 MiB L2 per core) keeping the A micro-panel in L1 and streaming the
// B block from L2 measured about 10% faster than the usual BLIS order (B micro-panel in L1):
// a (kc, 32) B panel of kc = 384 floats is 48 KiB and does not fit L1, a (14, 384) A panel does.
//
// Threads and bits: every element of C is computed by exactly one micro-kernel call per K pass,
// as one chain of FMAs over p = pc .. pc + kc - 1, and the passes are added to C in pc order.
// kc, the pass boundaries and the kernel depend only on (M, N, K) and the CPU, never on the
// thread count; threads only decide which core runs which tile. So 1 thread and 16 give the
// same bits, and we are free to split the work however balances best.

// Below this much work (2 M N K flops) waking a second thread costs more than it saves.
inline constexpr double kMinParallelFlops = 4e6;

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
  const int64_t MR = uk.mr, NR = uk.nr, KC = uk.kc, NC = uk.nc;
  // op(A)(i, p) = A[i * a_rs + p * a_cs]   op(B)(p, j) = B[p * b_rs + j * b_cs]
  const int64_t a_rs = trans_a ? 1 : lda, a_cs = trans_a ? lda : 1;
  const int64_t b_rs = trans_b ? 1 : ldb, b_cs = trans_b ? ldb : 1;

  // Small problems (up to the kernel's direct_bytes) skip packing: A is read in place, and B
  // too unless it must be transposed (the kernel needs NR contiguous columns of op(B) per
  // step). Either way the kernel runs the same FMA chains over the same passes, so the choice
  // does not change the result.
  const bool direct = (M * K + K * N) * int64_t(sizeof(T)) <= uk.direct_bytes;
  const bool pack_a = !direct;
  const bool pack_b = !direct || trans_b;
  const double flops = 2.0 * double(M) * double(N) * double(K);
  const int num_threads = in_parallel_region() ? 1 : get_num_threads();
  const bool threaded = num_threads > 1 && flops >= kMinParallelFlops;
  const int64_t m_panels = ceil_div(M, MR);

  for (int64_t jc = 0; jc < N; jc += NC) {
    const int64_t nc = std::min(NC, N - jc);
    const int64_t num_panels = ceil_div(nc, NR);
    const bool ragged = nc % NR != 0;
    for (int64_t pc = 0; pc < K; pc += KC) {
      const int64_t kc = std::min(KC, K - pc);
      // The first pass over K writes (or adds to) C; every later pass adds its partial sums.
      const bool acc_c = accumulate || pc > 0;

      // B micro-panels of this pass: all packed, or read in place except a ragged last one
      // (the kernel always loads NR columns, so that one is copied and zero-padded).
      T* bp = nullptr;
      if (pack_b) {
        bp = t_b_buffer.get<T>(num_panels * kc * NR);
        auto pack = [&](int64_t q0, int64_t q1) {
          const int64_t j0 = q0 * NR, j1 = std::min(nc, q1 * NR);
          uk.pack_b(bp + q0 * kc * NR, B + pc * b_rs + (jc + j0) * b_cs, b_rs, b_cs, j1 - j0, kc);
        };
        // One run of panels per thread: B is read row by row, and narrower runs (we had 2
        // panels, 128 bytes of a row) read it in short pieces far apart, which the prefetcher
        // and the TLB handle badly (perf: packing took 3x the cycles at 2 threads as at 1).
        if (threaded) parallel_for(0, num_panels, ceil_div(num_panels, num_threads), pack);
        else pack(0, num_panels);
      } else if (ragged) {
        const int64_t q = num_panels - 1;
        bp = t_b_buffer.get<T>(kc * NR);
        uk.pack_b(bp, B + pc * b_rs + (jc + q * NR) * b_cs, b_rs, b_cs, nc - q * NR, kc);
      }
      auto b_panel = [&](int64_t q, int64_t& panel_rs) -> const T* {
        if (pack_b) { panel_rs = NR; return bp + q * kc * NR; }
        if (ragged && q == num_panels - 1) { panel_rs = NR; return bp; }
        panel_rs = b_rs;
        return B + pc * b_rs + jc + q * NR;
      };

      // Tasks: many short runs of A micro-panels per thread, so a slow core does not hold up
      // the rest; when there are too few row panels for that, the B panels are split as well.
      // Every pass ends in a join, and a busy host slows one core at a time: 16 tasks per
      // thread (a task of GPT medium's M = 2048 is ~11 panels) cut the total cycles of the
      // medium, small and tiny steps at 2 threads by 2.8%, 1.0% and 5.8% (medians of 5)
      // against 4 tasks per thread. Packing A is per panel, so short tasks repeat no work.
      int64_t row_tasks = 1, col_tasks = 1;
      if (threaded) {
        row_tasks = std::min<int64_t>(m_panels, 16 * num_threads);
        if (row_tasks < 2 * num_threads)
          col_tasks = std::min(num_panels, ceil_div(2 * num_threads, row_tasks));
      }
      const int64_t rows_per_task = ceil_div(m_panels, row_tasks);
      const int64_t cols_per_task = ceil_div(num_panels, col_tasks);
      row_tasks = ceil_div(m_panels, rows_per_task);
      col_tasks = ceil_div(num_panels, cols_per_task);

      auto task = [&](int64_t t) {
        const int64_t r0 = (t / col_tasks) * rows_per_task;
        const int64_t r1 = std::min(m_panels, r0 + rows_per_task);
        const int64_t q0 = (t % col_tasks) * cols_per_task;
        const int64_t q1 = std::min(num_panels, q0 + cols_per_task);
        T* ap = pack_a ? t_a_buffer.get<T>(MR * std::max(MR, kPackedRowStride)) : nullptr;
        for (int64_t r = r0; r < r1; ++r) {
          const int64_t i = r * MR, m = std::min(MR, M - i);
          const T* a = A + i * a_rs + pc * a_cs;  // op(A) rows i.., cols pc..
          int64_t panel_rs = a_rs, panel_cs = a_cs;
          if (pack_a) {
            std::tie(panel_rs, panel_cs) = uk.pack_a(ap, a, a_rs, a_cs, m, kc);
            a = ap;
          }
          // While the kernels below run, pull the next A micro-panel into L2 a slice per
          // kernel call: its source is m short runs far apart in memory, which the hardware
          // prefetcher picks up too late. Into L2, not L1: each kernel call streams a 48 KiB B
          // panel through the 32 KiB L1, which would evict the lines before packing reads them
          // (measured: L1 hint 0.68 of peak at M=2048, K=512, N=128; L2 hint 0.78).
          // Not when A is transposed: the next panel is then the next few values of the rows
          // this one was packed from, mostly in lines already loaded, and its kc prefetches per
          // panel cost 11-20% of the cycles of the weight gradients with N = 64 (few kernel
          // calls to spread them over), while gaining nothing at N = 384 or 1536.
          const int64_t next_m = pack_a && !trans_a && r + 1 < r1 ? std::min(MR, M - i - MR) : 0;
          const T* next_row = next_m ? A + (i + MR) * a_rs + pc : nullptr;
          const int64_t row_bytes = kc * int64_t(sizeof(T));
          const int64_t rows_per_call = ceil_div(next_m, q1 - q0);
          int64_t row = 0;
          for (int64_t q = q0; q < q1; ++q) {
            for (const int64_t end = std::min(next_m, row + rows_per_call); row < end; ++row) {
              const auto first = reinterpret_cast<uintptr_t>(next_row + row * a_rs);
              for (uintptr_t line = first & ~uintptr_t{63}; line < first + row_bytes; line += 64)
                __builtin_prefetch(reinterpret_cast<const char*>(line), /*rw=*/0, /*locality=*/1);
            }
            const int64_t j = jc + q * NR;
            int64_t b_panel_rs = 0;
            const T* b = b_panel(q, b_panel_rs);
            uk.fn(kc, a, panel_rs, panel_cs, b, b_panel_rs, C + i * ldc + j, ldc, m,
                  std::min(NR, N - j), acc_c);
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
  if (cpu_has_avx512()) names.push_back("avx512");
  if (cpu_has_avx2()) names.push_back("avx2");
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

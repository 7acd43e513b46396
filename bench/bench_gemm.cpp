// bench_gemm.cpp: `ag_bench gemm`, GFLOP/s of one GEMM C (M, N) = A (M, K) * B (K, N), row-major
// and untransposed, as torch.mm(a, b, out=c) in the shared reference script ref_gemm.py; with
// --trans-a / --trans-b, A or B is stored transposed, as in a linear layer's forward (x W^T)
// and its weight gradient (dy^T x). Prints
// one JSON line with that script's field names (bench "ref_gemm", gflops_median/min/max), so
// summarize.py puts attograd's row beside PyTorch's. A GEMM is 2 * M * N * K flops.
#include <cstdio>
#include <new>
#include <random>

#include "bench_common.h"
#include "tensor/gemm.h"
#include "tensor/thread_pool.h"

namespace ag::bench {
namespace {

constexpr const char* kGemmHelp =
    "usage: ag_bench gemm [--m M] [--k K] [--n N] [--threads T] [--repeats R]\n"
    "                     [--min-time S] [--dtype float32|float64] [--trans-a 0|1] [--trans-b 0|1]\n"
    "  Times C (M, N) = A (M, K) @ B (K, N) with attograd's gemm and prints one JSON line:\n"
    "  {\"bench\": \"ref_gemm\", \"impl\": \"attograd\", \"threads\": T, \"M\": .., \"K\": .., \"N\": ..,\n"
    "   \"gflops_median\": .., \"gflops_min\": .., \"gflops_max\": .., \"kernel\": \"avx512\", ...}\n"
    "  Defaults: M = K = N = 1024, threads 1, repeats 7, min-time 0.2 s, float32.\n"
    "  Each of the R samples repeats the GEMM for at least min-time seconds (as ref_gemm.py).\n"
    "  --trans-a 1: A is stored (K, M) and read transposed; --trans-b 1: B is stored (N, K).\n"
    "  Env AG_GEMM_KERNEL=scalar|avx2|avx512 forces a micro-kernel.\n";

// A 64-byte aligned array of n values drawn from N(0, 1), like torch.randn.
template <typename T>
struct Matrix {
  explicit Matrix(int64_t n, uint32_t seed) : data(static_cast<T*>(::operator new(
                                                  std::max<int64_t>(n, 1) * sizeof(T),
                                                  std::align_val_t{64}))) {
    std::mt19937 gen(seed);
    std::normal_distribution<T> normal;
    for (int64_t i = 0; i < n; ++i) data[i] = normal(gen);
  }
  ~Matrix() { ::operator delete(data, std::align_val_t{64}); }
  Matrix(const Matrix&) = delete;
  Matrix& operator=(const Matrix&) = delete;
  T* data;
};

template <typename T>
Samples time_gemm(int64_t M, int64_t K, int64_t N, bool trans_a, bool trans_b, int repeats,
                  double min_time) {
  Matrix<T> a(M * K, 1), b(K * N, 2), c(M * N, 3);
  const int64_t lda = trans_a ? M : K, ldb = trans_b ? K : N;  // A: (K, M) or (M, K), B likewise
  return time_samples([&] {
    kernels::gemm<T>(trans_a, trans_b, M, N, K, a.data, lda, b.data, ldb, c.data, N, false);
  }, repeats, min_time);
}

}  // namespace

int run_gemm(const std::vector<std::string>& argv) {
  const Args args(argv, {{"m", "1024"}, {"k", "1024"}, {"n", "1024"}, {"threads", "1"},
                         {"repeats", "7"}, {"min-time", "0.2"}, {"dtype", "float32"},
                         {"trans-a", "0"}, {"trans-b", "0"}, {"help", ""}});
  if (args.flag("help")) {
    std::fputs(kGemmHelp, stdout);
    return 0;
  }
  const int64_t M = args.integer("m"), K = args.integer("k"), N = args.integer("n");
  const int threads = static_cast<int>(args.integer("threads"));
  const int repeats = static_cast<int>(args.integer("repeats"));
  const double min_time = args.number("min-time");
  const std::string dtype = args.str("dtype");
  const bool trans_a = args.integer("trans-a") != 0, trans_b = args.integer("trans-b") != 0;
  if (M < 1 || K < 1 || N < 1 || threads < 1 || repeats < 1)
    throw std::invalid_argument("gemm: m, k, n, threads and repeats must be >= 1");
  if (dtype != "float32" && dtype != "float64")
    throw std::invalid_argument("gemm: --dtype must be float32 or float64, got " + dtype);

  set_num_threads(threads);
  const Samples s = dtype == "float32" ? time_gemm<float>(M, K, N, trans_a, trans_b, repeats, min_time)
                                       : time_gemm<double>(M, K, N, trans_a, trans_b, repeats, min_time);
  const double gflop = 2.0 * static_cast<double>(M) * static_cast<double>(N) *
                       static_cast<double>(K) / 1e9;
  // The fastest sample has the most GFLOP/s: min time -> max rate.
  std::puts(JsonLine()
                .add("bench", "ref_gemm")
                .add("impl", "attograd")
                .add("lib", "attograd")
                .add("threads", threads)
                .add("M", M)
                .add("K", K)
                .add("N", N)
                .add("gflops_median", gflop / s.median, 1)
                .add("gflops_min", gflop / s.max, 1)
                .add("gflops_max", gflop / s.min, 1)
                .add("ms_median", s.median * 1e3, 4)
                .add("dtype", dtype)
                .add("trans_a", trans_a ? 1 : 0)
                .add("trans_b", trans_b ? 1 : 0)
                .add("kernel", kernels::gemm_kernel_name())
                .add("repeats", repeats)
                .add("min_time", min_time, 2)
                .str()
                .c_str());
  return 0;
}

}  // namespace ag::bench

// gemm_test.cpp: every GEMM micro-kernel this CPU runs, checked against gemm_reference (the
// plain triple loop) at awkward sizes, all four transpose combinations, padded leading
// dimensions and both accumulate modes; plus bitwise reproducibility across thread counts.
//
// Tolerance: a float dot product of length K carries a rounding error of at most about
// K * eps * sum_p |a_ip b_pj| (the classic gamma_K bound), and the fast kernel sums in another
// order than the reference (blocked, fused multiply-adds), so each element may differ from the
// reference by twice that bound, computed per element from |A| |B| (+ |C| when accumulating).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "tensor/error.h"
#include "tensor/gemm.h"
#include "tensor/thread_pool.h"

namespace ag::kernels {
namespace {

struct GemmCase {
  int64_t M, N, K;
  bool trans_a, trans_b, accumulate;
  int64_t pad = 0;  // extra elements at the end of every row of A, B and C
};

std::string describe(const GemmCase& c) {
  return "M=" + std::to_string(c.M) + " N=" + std::to_string(c.N) + " K=" + std::to_string(c.K) +
         " trans_a=" + std::to_string(c.trans_a) + " trans_b=" + std::to_string(c.trans_b) +
         " accumulate=" + std::to_string(c.accumulate) + " pad=" + std::to_string(c.pad);
}

// Operands of one case in their stored layouts: A is (M, K), or (K, M) when trans_a; likewise B.
template <typename T>
struct Operands {
  int64_t lda, ldb, ldc;
  std::vector<T> a, b, c;

  Operands(const GemmCase& g, std::mt19937& gen) {
    const int64_t a_rows = g.trans_a ? g.K : g.M, a_cols = g.trans_a ? g.M : g.K;
    const int64_t b_rows = g.trans_b ? g.N : g.K, b_cols = g.trans_b ? g.K : g.N;
    lda = a_cols + g.pad;
    ldb = b_cols + g.pad;
    ldc = g.N + g.pad;
    std::uniform_real_distribution<T> uniform(-1, 1);
    a.resize(std::max<int64_t>(1, a_rows * lda));
    b.resize(std::max<int64_t>(1, b_rows * ldb));
    c.resize(std::max<int64_t>(1, g.M * ldc));
    for (T& x : a) x = uniform(gen);
    for (T& x : b) x = uniform(gen);
    for (T& x : c) x = uniform(gen);
  }
};

// Runs gemm_with_kernel(kernel) and gemm_reference on the same inputs and checks every element
// of C (and that the padding between rows of C is untouched).
template <typename T>
void expect_matches_reference(const std::string& kernel, const GemmCase& g, uint32_t seed) {
  SCOPED_TRACE("kernel=" + kernel + " " + describe(g) + " seed=" + std::to_string(seed));
  std::mt19937 gen(seed);
  Operands<T> x(g, gen);
  std::vector<T> expected = x.c, got = x.c;
  gemm_reference<T>(g.trans_a, g.trans_b, g.M, g.N, g.K, x.a.data(), x.lda, x.b.data(), x.ldb,
                    expected.data(), x.ldc, g.accumulate);
  gemm_with_kernel<T>(kernel, g.trans_a, g.trans_b, g.M, g.N, g.K, x.a.data(), x.lda, x.b.data(),
                      x.ldb, got.data(), x.ldc, g.accumulate);

  // bound(i, j) = sum_p |op(A)(i, p)| |op(B)(p, j)| (+ |C(i, j)|), in double.
  std::vector<double> abs_a(x.a.size()), abs_b(x.b.size()), bound(g.M * x.ldc, 0.0);
  for (size_t i = 0; i < x.a.size(); ++i) abs_a[i] = std::abs(double(x.a[i]));
  for (size_t i = 0; i < x.b.size(); ++i) abs_b[i] = std::abs(double(x.b[i]));
  if (g.accumulate)
    for (int64_t i = 0; i < g.M * x.ldc; ++i) bound[i] = std::abs(double(x.c[i]));
  gemm_reference<double>(g.trans_a, g.trans_b, g.M, g.N, g.K, abs_a.data(), x.lda, abs_b.data(),
                         x.ldb, bound.data(), x.ldc, /*accumulate=*/true);
  const double eps = std::numeric_limits<T>::epsilon();

  double worst = 0;
  int64_t worst_i = -1, worst_j = -1;
  for (int64_t i = 0; i < g.M; ++i) {
    for (int64_t j = 0; j < x.ldc; ++j) {
      const int64_t at = i * x.ldc + j;
      if (j >= g.N) {  // padding: must be exactly what was there
        ASSERT_EQ(got[at], x.c[at]) << "gemm wrote into the padding at (" << i << ", " << j << ")";
        continue;
      }
      const double diff = std::abs(double(got[at]) - double(expected[at]));
      const double tol = 2.0 * (g.K + 2) * eps * bound[at] + std::numeric_limits<T>::min();
      if (!(diff <= tol) && diff - tol > worst) {
        worst = diff - tol;
        worst_i = i;
        worst_j = j;
      }
    }
  }
  EXPECT_EQ(worst_i, -1) << "largest excess over the tolerance " << worst << " at (" << worst_i
                         << ", " << worst_j << "): got " << got[worst_i * x.ldc + worst_j]
                         << ", reference " << expected[worst_i * x.ldc + worst_j];
}

// Sizes that hit the edges: 1, primes, one below/at/above the micro-tiles (14 x 32 and 6 x 16
// for float, 14 x 16 and 6 x 8 for double, 4 x 8 scalar), K past one pass (kc = 256 or 384),
// N past one packed block (nc = 256 or 512), and the empty cases. Most are small enough that
// gemm reads A and B in place; the last two rows are big enough to be packed (op(A) and op(B)
// over 512 KiB), with ragged edges on every side.
const std::vector<std::array<int64_t, 3>> kAwkwardSizes = {
    {1, 1, 1},     {1, 7, 13},   {7, 1, 31},    {13, 31, 7},   {4, 8, 1},    {5, 9, 3},
    {6, 16, 16},   {13, 33, 5},  {14, 32, 64},  {15, 31, 17},  {28, 64, 9},  {29, 65, 67},
    {67, 67, 67},  {3, 47, 2},   {31, 17, 389}, {20, 530, 21}, {9, 9, 800},  {257, 129, 300},
    {0, 5, 7},     {5, 0, 7},    {5, 7, 0},     {0, 0, 0},
    {29, 530, 390}, {3, 300, 500},
};

class GemmKernelTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GemmKernelTest, FloatMatchesReferenceAtAwkwardSizes) {
  uint32_t seed = 1;
  for (const auto& [M, N, K] : kAwkwardSizes)
    for (int t = 0; t < 4; ++t)
      for (bool accumulate : {false, true})
        expect_matches_reference<float>(GetParam(), {M, N, K, bool(t & 1), bool(t & 2), accumulate, 3},
                                        seed++);
}

TEST_P(GemmKernelTest, DoubleMatchesReferenceAtAwkwardSizes) {
  uint32_t seed = 1000;
  for (const auto& [M, N, K] : kAwkwardSizes)
    for (int t = 0; t < 4; ++t)
      for (bool accumulate : {false, true})
        expect_matches_reference<double>(GetParam(), {M, N, K, bool(t & 1), bool(t & 2), accumulate, 1},
                                         seed++);
}

TEST_P(GemmKernelTest, TightLeadingDimensionsMatchReference) {
  // pad = 0: rows back to back, so any read past the last column of a row lands in the next.
  uint32_t seed = 2000;
  for (const auto& [M, N, K] : kAwkwardSizes)
    for (int t = 0; t < 4; ++t) {
      expect_matches_reference<float>(GetParam(), {M, N, K, bool(t & 1), bool(t & 2), true, 0}, seed++);
      expect_matches_reference<double>(GetParam(), {M, N, K, bool(t & 1), bool(t & 2), false, 0}, seed++);
    }
}

TEST_P(GemmKernelTest, RandomSmallCasesMatchReference) {
  // Each case prints its seed on failure; rerun just that seed to debug it.
  for (uint32_t seed = 1; seed <= 60; ++seed) {
    std::mt19937 gen(seed);
    std::uniform_int_distribution<int64_t> size(1, 67), pad(0, 5);
    std::bernoulli_distribution coin;
    const GemmCase g{size(gen), size(gen), size(gen), coin(gen), coin(gen), coin(gen), pad(gen)};
    if (seed % 2) expect_matches_reference<float>(GetParam(), g, seed);
    else expect_matches_reference<double>(GetParam(), g, seed);
  }
}

TEST_P(GemmKernelTest, OverwritingIgnoresNaNAlreadyInC) {
  // accumulate = false must store, never compute C * 0 + ... (NaN * 0 is NaN).
  std::vector<float> a(15 * 20, 1.0f), b(20 * 33, 2.0f);
  std::vector<float> c(15 * 33, std::numeric_limits<float>::quiet_NaN());
  gemm_with_kernel<float>(GetParam(), false, false, 15, 33, 20, a.data(), 20, b.data(), 33, c.data(),
                          33, false);
  for (float v : c) ASSERT_EQ(v, 40.0f);
}

INSTANTIATE_TEST_SUITE_P(Gemm, GemmKernelTest, ::testing::ValuesIn(gemm_available_kernels()),
                         [](const auto& info) { return info.param; });

TEST(GemmTest, AutomaticChoiceIsAnAvailableKernel) {
  const std::vector<std::string> kernels = gemm_available_kernels();
  ASSERT_FALSE(kernels.empty());
  EXPECT_EQ(kernels.back(), "scalar");
  EXPECT_NE(std::find(kernels.begin(), kernels.end(), gemm_kernel_name()), kernels.end());
}

TEST(GemmTest, GemmIsBitwiseTheChosenKernel) {
  std::mt19937 gen(7);
  const GemmCase g{45, 70, 90, false, true, false, 2};
  Operands<float> x(g, gen);
  std::vector<float> c1 = x.c, c2 = x.c;
  gemm<float>(g.trans_a, g.trans_b, g.M, g.N, g.K, x.a.data(), x.lda, x.b.data(), x.ldb, c1.data(),
              x.ldc, g.accumulate);
  gemm_with_kernel<float>(gemm_kernel_name(), g.trans_a, g.trans_b, g.M, g.N, g.K, x.a.data(), x.lda,
                          x.b.data(), x.ldb, c2.data(), x.ldc, g.accumulate);
  EXPECT_EQ(c1, c2);
}

TEST(GemmTest, UnknownKernelIsAnError) {
  float a = 1, b = 1, c = 0;
  EXPECT_THROW(gemm_with_kernel<float>("avx9000", false, false, 1, 1, 1, &a, 1, &b, 1, &c, 1, false),
               Error);
}

// Restores the thread count a test changed.
class ThreadCountGuard {
 public:
  ThreadCountGuard() : saved_(get_num_threads()) {}
  ~ThreadCountGuard() { set_num_threads(saved_); }

 private:
  int saved_;
};

template <typename T>
void expect_same_bits_for_1_2_3_threads(const std::string& kernel, const GemmCase& g) {
  SCOPED_TRACE("kernel=" + kernel + " " + describe(g));
  ThreadCountGuard guard;
  std::mt19937 gen(11);
  Operands<T> x(g, gen);
  std::vector<std::vector<T>> results;
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    std::vector<T> c = x.c;
    gemm_with_kernel<T>(kernel, g.trans_a, g.trans_b, g.M, g.N, g.K, x.a.data(), x.lda, x.b.data(),
                        x.ldb, c.data(), x.ldc, g.accumulate);
    results.push_back(std::move(c));
  }
  EXPECT_TRUE(results[0] == results[1]) << "1 and 2 threads differ";
  EXPECT_TRUE(results[0] == results[2]) << "1 and 3 threads differ";
}

TEST_P(GemmKernelTest, SameBitsWithOneTwoOrThreeThreads) {
  // Big enough to be split across threads, with several K passes and ragged edges.
  for (int t = 0; t < 4; ++t) {
    expect_same_bits_for_1_2_3_threads<float>(GetParam(), {301, 230, 790, bool(t & 1), bool(t & 2), t == 3, 1});
    expect_same_bits_for_1_2_3_threads<double>(GetParam(), {97, 610, 200, bool(t & 1), bool(t & 2), t == 1, 0});
  }
  // Few rows, many columns: the split goes over column panels instead.
  expect_same_bits_for_1_2_3_threads<float>(GetParam(), {5, 2000, 500, false, false, false, 0});
  // Small enough to be read in place, big enough to be split.
  expect_same_bits_for_1_2_3_threads<float>(GetParam(), {120, 130, 140, false, false, false, 0});
}

}  // namespace
}  // namespace ag::kernels

// fused_attention_fast_test.cpp: the float32 vector kernels of the fused attention (AVX-512,
// AVX2) against its scalar reference (double accumulation, libm exp), both reached through
// scaled_dot_product_attention with AttentionImpl::Fused and the kernel chosen by
// set_fused_attention_kernel: outputs and all gradients at awkward sizes (1, primes, one past a
// query block of 16 or a key tile of 64, head sizes that are not whole vectors), every mask
// kind, dropout on and off, non-contiguous inputs; the same bits for 1 and 2 threads; fully
// masked rows; exact zeros for keys a causal mask hides.
//
// Legend: BH batch-heads, T queries, S keys, D = d_k (= Dv here).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "functional_test_helpers.h"
#include "nn/functional.h"
#include "nn/functional/attention_internal.h"

using namespace ag;
using namespace ag::testing;
namespace F = ag::nn::functional;
using F::AttentionImpl;
using F::AttentionOptions;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

enum class MaskKind { None, Causal, Window, CausalWindow, Bool, Float };
constexpr const char* kMaskNames[] = {"none", "causal", "window", "causal+window", "bool",
                                      "float"};

// The vector kernels this CPU and build run (everything available but the reference).
std::vector<std::string> fast_kernels() {
  std::vector<std::string> names = F::detail::fused_attention_kernels_available();
  names.erase(std::remove(names.begin(), names.end(), "reference"), names.end());
  return names;
}

// Runs the fused path on the named kernel (the same dropout seed every time), then restores
// the default kernel.
AttentionRun run_on(const std::string& kernel, const Tensor& q, const Tensor& k, const Tensor& v,
                    AttentionOptions options, const Tensor& g) {
  F::detail::set_fused_attention_kernel(kernel);
  options.impl = AttentionImpl::Fused;
  manual_seed(1234);
  AttentionRun run = run_attention(q, k, v, options, g);
  F::detail::set_fused_attention_kernel("");
  return run;
}

struct Case {
  int64_t BH, T, S, D;
  MaskKind mask;
  bool dropout, contiguous;
};

std::string describe(const Case& c) {
  return std::string(kMaskNames[static_cast<int>(c.mask)]) + (c.dropout ? " + dropout" : "") +
         (c.contiguous ? "" : ", non-contiguous") + " (BH=" + std::to_string(c.BH) +
         ", T=" + std::to_string(c.T) + ", S=" + std::to_string(c.S) +
         ", D=" + std::to_string(c.D) + ")";
}

// x: (BH, rows, D), float32, contiguous or a transposed view of a (rows, BH, D) tensor.
Tensor make_input(int64_t BH, int64_t rows, int64_t D, bool contiguous) {
  return contiguous ? randn({BH, rows, D}) : randn({rows, BH, D}).transpose(0, 1);
}

AttentionOptions options_for(const Case& c) {
  AttentionOptions options;
  if (c.dropout) options.dropout_p = 0.2;
  switch (c.mask) {
    case MaskKind::None: break;
    case MaskKind::Causal: options.is_causal = true; break;
    case MaskKind::Window: options.window = 7; break;
    case MaskKind::CausalWindow: options.is_causal = true; options.window = 20; break;
    case MaskKind::Bool: {  // (T, S), broadcast over batch-heads; row 0 sees nothing
      Tensor allowed = gt(rand({c.T, c.S}), full({}, 0.3));
      allowed.select(0, 0).fill_(0.0);
      options.attn_mask = allowed;
      break;
    }
    case MaskKind::Float:  // a learned (BH, T, S) bias, a fifth of it -inf
      options.attn_mask = where(gt(rand({c.BH, c.T, c.S}), full({}, 0.2)), randn({c.BH, c.T, c.S}),
                                full({}, -kInf))
                              .detach()
                              .requires_grad_();
      break;
  }
  return options;
}

// Every (T, S) pair of {1, 3, 17, 64, 67, 130}; the mask kind, dropout, D, BH and layout are
// rotated so that each mask kind meets every D, both dropout settings and both layouts, while
// the test stays well under a second.
std::vector<Case> awkward_cases() {
  const int64_t sizes[] = {1, 3, 17, 64, 67, 130};
  const int64_t dims[] = {1, 5, 16, 64};
  std::vector<Case> cases;
  for (int t = 0; t < 6; ++t)
    for (int s = 0; s < 6; ++s) {
      const int index = t * 6 + s;
      cases.push_back({1 + index % 5, sizes[t], sizes[s], dims[(t + 2 * s + t / 2) % 4],
                       static_cast<MaskKind>((t + s) % 6), t % 2 == 1, (index / 3) % 2 == 0});
    }
  return cases;
}

// max |a - reference| / max(max |reference|, floor). For the output the floor is 0 (a plain
// norm-wise relative difference). For gradients it is the largest gradient of the call: dq and
// dk are built from ds = p (dP - delta), a difference of numbers as large as dv's entries, and
// where those cancel (one visible key: the weight is 1 whatever the score, so dq = dk = 0
// exactly) float32 keeps an error of about 1e-7 of the terms, not of the tiny result; both
// paths then return rounding noise that a plain ratio would call a 1000x error.
double diff(const Tensor& a, const Tensor& reference, double floor = 0.0) {
  const double d = max_abs_diff(a, reference), scale = std::max(max_abs(reference), floor);
  return scale > 0 ? d / scale : d;
}

}  // namespace

namespace {

// Runs case c on `kernel` and on the reference and expects them within 1e-5 (see diff above);
// returns the differences of the output and of the gradients.
std::pair<double, double> expect_matches_reference(const std::string& kernel, const Case& c,
                                                   uint64_t seed) {
  manual_seed(seed);
  const Tensor q = make_input(c.BH, c.T, c.D, c.contiguous);
  const Tensor k = make_input(c.BH, c.S, c.D, c.contiguous);
  const Tensor v = make_input(c.BH, c.S, c.D, c.contiguous);
  const Tensor g = randn({c.BH, c.T, c.D});
  const AttentionOptions options = options_for(c);
  const AttentionRun ref = run_on("reference", q, k, v, options, g);
  const AttentionRun fast = run_on(kernel, q, k, v, options, g);
  const std::string what = kernel + ", " + describe(c);
  const double d_out = diff(fast.out, ref.out);
  const double floor = std::max({max_abs(ref.dq), max_abs(ref.dk), max_abs(ref.dv)});
  double d_grads = std::max({diff(fast.dq, ref.dq, floor), diff(fast.dk, ref.dk, floor),
                             diff(fast.dv, ref.dv, floor)});
  if (ref.dmask.defined()) d_grads = std::max(d_grads, diff(fast.dmask, ref.dmask, floor));
  EXPECT_LE(d_out, 1e-5) << what << ": output";
  EXPECT_LE(d_grads, 1e-5) << what << ": gradients";
  for (const Tensor& t : {fast.out, fast.dq, fast.dk, fast.dv}) EXPECT_TRUE(all_finite(t)) << what;
  return {d_out, d_grads};
}

}  // namespace

TEST(FusedAttentionFastTest, MatchesReferenceAtAwkwardSizes) {
  if (fast_kernels().empty()) GTEST_SKIP() << "no vector kernel on this CPU or build";
  for (const std::string& kernel : fast_kernels()) {
    double worst_out = 0, worst_grads = 0;
    uint64_t seed = 500;
    for (const Case& c : awkward_cases()) {
      const auto [d_out, d_grads] = expect_matches_reference(kernel, c, seed++);
      worst_out = std::max(worst_out, d_out);
      worst_grads = std::max(worst_grads, d_grads);
    }
    std::printf("[ %s vs reference, float32 ] largest relative difference: output %.3g, "
                "gradients %.3g\n", kernel.c_str(), worst_out, worst_grads);
  }
}

TEST(FusedAttentionFastTest, MatchesReferenceWhenQueryBlocksShareOnePackingOfKeys) {
  // With many batch-heads a forward work item is a span of several 16-query blocks that pack
  // their keys once (fused_attention.cpp). 16 x 130: spans of 2 blocks, the last one alone; 64 x
  // 64: one span per batch-head. A window makes a span's keys start past key 0.
  if (fast_kernels().empty()) GTEST_SKIP() << "no vector kernel on this CPU or build";
  const Case cases[] = {{16, 130, 130, 16, MaskKind::Causal, false, true},
                        {16, 130, 130, 5, MaskKind::Window, false, false},
                        {16, 130, 130, 16, MaskKind::CausalWindow, true, true},
                        {16, 130, 67, 16, MaskKind::None, false, true},
                        {64, 64, 64, 16, MaskKind::Causal, false, true}};
  for (const std::string& kernel : fast_kernels()) {
    uint64_t seed = 900;
    for (const Case& c : cases) expect_matches_reference(kernel, c, seed++);
  }
}

TEST(FusedAttentionFastTest, OneAndTwoThreadsGiveTheSameBits) {
  // Items are (batch-head, span of query blocks) forward and batch-heads backward, whatever the
  // thread count, so the bits cannot depend on it.
  const int threads = get_num_threads();
  for (const std::string& kernel : fast_kernels()) {
    for (MaskKind mask : {MaskKind::Causal, MaskKind::Float}) {
      const Case c{5, 67, 130, 16, mask, true, false};
      manual_seed(77);
      const Tensor q = make_input(c.BH, c.T, c.D, false), k = make_input(c.BH, c.S, c.D, false);
      const Tensor v = make_input(c.BH, c.S, c.D, false), g = randn({c.BH, c.T, c.D});
      const AttentionOptions options = options_for(c);
      std::vector<AttentionRun> runs;
      for (int n : {1, 2}) {
        set_num_threads(n);
        runs.push_back(run_on(kernel, q, k, v, options, g));
      }
      set_num_threads(threads);
      const std::string what = kernel + ", " + describe(c);
      EXPECT_TRUE(bitwise_equal(runs[0].out, runs[1].out)) << what;
      EXPECT_TRUE(bitwise_equal(runs[0].dq, runs[1].dq)) << what;
      EXPECT_TRUE(bitwise_equal(runs[0].dk, runs[1].dk)) << what;
      EXPECT_TRUE(bitwise_equal(runs[0].dv, runs[1].dv)) << what;
      if (runs[0].dmask.defined()) EXPECT_TRUE(bitwise_equal(runs[0].dmask, runs[1].dmask)) << what;
    }
  }
  set_num_threads(threads);
}

TEST(FusedAttentionFastTest, FullyMaskedRowsGiveZeroAndNoNaN) {
  // Two ways a row sees no key: a bool mask row of all false, and a causal mask with T > S
  // (query i sits at key position i + S - T, so the first T - S queries precede every key).
  for (const std::string& kernel : fast_kernels()) {
    manual_seed(3);
    const int64_t T = 20, S = 6, D = 5;
    const Tensor q = randn({2, T, D}), k = randn({2, S, D}), v = randn({2, S, D});
    const Tensor g = randn({2, T, D});
    AttentionOptions causal;
    causal.is_causal = true;
    AttentionOptions boolean;
    Tensor allowed = gt(rand({T, S}), full({}, 0.3));
    allowed.select(0, 3).fill_(0.0);
    boolean.attn_mask = allowed;
    for (const auto& [options, masked_rows] :
         {std::pair{causal, T - S}, std::pair{boolean, int64_t{0}}}) {
      const AttentionRun run = run_on(kernel, q, k, v, options, g);
      for (const Tensor& t : {run.out, run.dq, run.dk, run.dv}) EXPECT_TRUE(all_finite(t)) << kernel;
      const int64_t first = masked_rows > 0 ? 0 : 3, last = masked_rows > 0 ? masked_rows : 4;
      for (int64_t i = first; i < last; ++i) {
        EXPECT_EQ(max_abs(run.out.select(1, i)), 0.0) << kernel << ": out row " << i;
        EXPECT_EQ(max_abs(run.dq.select(1, i)), 0.0) << kernel << ": dq row " << i;
      }
    }
  }
}

TEST(FusedAttentionFastTest, KeysHiddenByTheCausalMaskGetExactlyZeroGradient) {
  // The loss reads only the first 10 queries, which see keys 0 .. 9 at most: every later key's
  // dk and dv must be exactly 0, not merely small (its weights are exp(-inf) = 0 exactly).
  for (const std::string& kernel : fast_kernels()) {
    manual_seed(4);
    const int64_t T = 67, D = 16;
    const Tensor q = randn({3, T, D}), k = randn({3, T, D}), v = randn({3, T, D});
    Tensor g = zeros({3, T, D});
    g.narrow(1, 0, 10).copy_(randn({3, 10, D}));
    AttentionOptions causal;
    causal.is_causal = true;
    const AttentionRun run = run_on(kernel, q, k, v, causal, g);
    EXPECT_EQ(max_abs(run.dk.narrow(1, 10, T - 10)), 0.0) << kernel;
    EXPECT_EQ(max_abs(run.dv.narrow(1, 10, T - 10)), 0.0) << kernel;
    EXPECT_GT(max_abs(run.dk.narrow(1, 0, 10)), 0.0) << kernel;
  }
}

TEST(FusedAttentionFastTest, KernelCanBeForcedAndUnknownNamesAreErrors) {
  const std::vector<std::string> available = F::detail::fused_attention_kernels_available();
  ASSERT_FALSE(available.empty());
  EXPECT_EQ(available.back(), "reference");
  for (const std::string& name : available) {
    F::detail::set_fused_attention_kernel(name);
    EXPECT_EQ(F::detail::fused_attention_kernel(), name);
  }
  F::detail::set_fused_attention_kernel("");
  expect_error([] { F::detail::set_fused_attention_kernel("sse9"); },
               {"scaled_dot_product_attention", "sse9", "reference"});
  // float64 always runs on the reference, whatever is selected: the same bits either way.
  manual_seed(5);
  const Tensor q = randn({2, 9, 3}, kFloat64), k = randn({2, 9, 3}, kFloat64);
  const Tensor v = randn({2, 9, 3}, kFloat64), g = randn({2, 9, 3}, kFloat64);
  const AttentionRun a = run_on(available.front(), q, k, v, {}, g);
  const AttentionRun b = run_on("reference", q, k, v, {}, g);
  EXPECT_TRUE(bitwise_equal(a.out, b.out));
  EXPECT_TRUE(bitwise_equal(a.dq, b.dq));
}

TEST(FusedAttentionFastTest, DropoutExtremesMatchTheReference) {
  // p = 1 drops every weight (the vector path never forms 1 / (1 - p)); a tiny p drops few, and
  // the vector Philox must drop exactly the reference's few (one mismatch moves the output).
  for (const std::string& kernel : fast_kernels()) {
    for (double p : {1.0, 0.01}) {
      manual_seed(6);
      const Tensor q = randn({3, 33, 16}), k = randn({3, 70, 16}), v = randn({3, 70, 16});
      const Tensor g = randn({3, 33, 16});
      AttentionOptions options;
      options.dropout_p = p;
      const AttentionRun ref = run_on("reference", q, k, v, options, g);
      const AttentionRun fast = run_on(kernel, q, k, v, options, g);
      EXPECT_LE(max_abs_diff(fast.out, ref.out), 1e-5 * std::max(max_abs(ref.out), 1.0))
          << kernel << ", p = " << p;
      EXPECT_LE(max_abs_diff(fast.dq, ref.dq), 1e-5 * std::max(max_abs(ref.dv), 1.0))
          << kernel << ", p = " << p;
      if (p == 1.0) EXPECT_EQ(max_abs(fast.out), 0.0) << kernel;
    }
  }
}

TEST(FusedAttentionFastTest, VectorExpIsAccurateAndExactAtTheEnds) {
  // vec_exp.h promises a relative error below 2e-7 wherever exp(x) is a normal float, exact
  // zeros below that (exp(-inf) = 0 is what makes masked weights exact zeros), inf above
  // ln(FLT_MAX) and NaN for NaN. Checked against exp in double on a fine grid.
  std::vector<float> x;
  for (double value = -87.3; value <= 88.7; value += 0.0137) x.push_back(static_cast<float>(value));
  for (float special : {0.0f, -0.0f, 1e-8f, -1e-8f, 0.34657359f, -0.34657359f, 88.7f, -87.33f})
    x.push_back(special);
  const size_t num_finite = x.size();
  const float inf = std::numeric_limits<float>::infinity();
  x.insert(x.end(), {-inf, -88.0f, -100.0f, -1e30f, inf, 89.0f, std::nanf("")});
  for (const std::string& kernel : fast_kernels()) {
    const std::vector<float> y = F::detail::fused_attention_kernel_exp(kernel, x);
    ASSERT_EQ(y.size(), x.size());
    double worst = 0.0;
    for (size_t i = 0; i < num_finite; ++i) {
      const double exact = std::exp(static_cast<double>(x[i]));
      worst = std::max(worst, std::fabs(y[i] - exact) / exact);
    }
    EXPECT_LT(worst, 2e-7) << kernel;
    std::printf("[ %s exp ] largest relative error %.3g over %zu points\n", kernel.c_str(), worst,
                num_finite);
    const size_t s = num_finite;
    EXPECT_EQ(y[s], 0.0f) << kernel << ": exp(-inf)";
    EXPECT_EQ(y[s + 1], 0.0f) << kernel << ": exp(-88) is subnormal, flushed to 0";
    EXPECT_EQ(y[s + 2], 0.0f) << kernel;
    EXPECT_EQ(y[s + 3], 0.0f) << kernel;
    EXPECT_EQ(y[s + 4], inf) << kernel << ": exp(inf)";
    EXPECT_EQ(y[s + 5], inf) << kernel << ": exp(89) overflows";
    EXPECT_TRUE(std::isnan(y[s + 6])) << kernel << ": exp(NaN)";
  }
}

// attention_property_test.cpp: fused against plain attention on random problems. Where
// fused_attention_test.cpp walks a fixed list of cases, this draws them: batch and head counts,
// query and key lengths (1 to 67, across the kernel's 16-query blocks and 64-key tiles), head
// sizes, a mask of a random kind (none, causal, sliding window, causal + window, random bool,
// random float bias with -inf holes, key padding of random lengths, possibly fully masked rows),
// dropout on or off, a custom scale, and q / k / v given as non-contiguous views. The rule: both
// paths give the same output and the same gradients for q, k, v (and a float mask), within
// 1e-12 relative in float64, and never a NaN.
//
// Each case is one seed (tests/property_cases.h): a failure prints it, and
// AG_PROPERTY_SEED=<seed> ./build/release/tests/attograd_nn_tests
//     --gtest_filter='AttentionPropertyTest.*'      replays that case alone.
#include <gtest/gtest.h>

#include <limits>
#include <string>

#include "functional_test_helpers.h"
#include "nn/functional.h"
#include "property_cases.h"

using namespace ag;
using namespace ag::testing;
namespace F = ag::nn::functional;

namespace {

struct Problem {
  int64_t B, H, T, S, D, Dv;
  std::string mask_kind;
  F::AttentionOptions options;
  bool transposed_inputs;
};

// A tensor of the given (B, H, L, E) shape that is a non-contiguous view when asked: drawn as
// (B, L, H, E) and transposed, as multi-head attention produces q, k and v.
Tensor draw(Rng& rng, int64_t B, int64_t H, int64_t L, int64_t E, bool transposed) {
  manual_seed(rng.next());
  if (!transposed) return randn({B, H, L, E}, kFloat64);
  return randn({B, L, H, E}, kFloat64).transpose(1, 2);
}

Problem draw_problem(Rng& rng) {
  Problem p;
  p.B = rng.uniform_int(1, 3);
  p.H = rng.uniform_int(1, 4);
  p.T = rng.coin(0.3) ? rng.uniform_int(1, 3) : rng.uniform_int(1, 67);
  p.S = rng.coin(0.5) ? p.T : rng.uniform_int(1, 67);
  p.D = rng.pick(std::vector<int64_t>{1, 3, 4, 8, 16});
  p.Dv = rng.coin(0.7) ? p.D : rng.uniform_int(1, 9);
  p.transposed_inputs = rng.coin(0.5);
  F::AttentionOptions& o = p.options;
  if (rng.coin(0.5)) o.dropout_p = 0.3;
  if (rng.coin(0.2)) o.scale = 0.05 + rng.uniform();
  p.mask_kind = rng.pick(std::vector<std::string>{"none", "causal", "window", "causal+window",
                                                  "bool", "float", "padding"});
  if (p.mask_kind == "causal") {
    o.is_causal = true;
  } else if (p.mask_kind == "window") {
    o.window = rng.uniform_int(1, 20);
  } else if (p.mask_kind == "causal+window") {
    o.is_causal = true;
    o.window = rng.uniform_int(1, 40);
  } else if (p.mask_kind == "bool") {  // (B or 1, H or 1, T, S), about a third masked
    const int64_t mb = rng.coin() ? p.B : 1, mh = rng.coin() ? p.H : 1;
    manual_seed(rng.next());
    o.attn_mask = gt(rand({mb, mh, p.T, p.S}, kFloat64), full({}, 0.35, kFloat64));
  } else if (p.mask_kind == "float") {  // a bias per (head, query, key), with -inf holes
    manual_seed(rng.next());
    o.attn_mask = where(gt(rand({p.H, p.T, p.S}, kFloat64), full({}, 0.2, kFloat64)),
                        randn({p.H, p.T, p.S}, kFloat64),
                        full({}, -std::numeric_limits<double>::infinity(), kFloat64))
                      .requires_grad_();
  } else if (p.mask_kind == "padding") {  // (B, 1, 1, S): batch b keeps a random prefix
    std::vector<bool> keep(static_cast<size_t>(p.B * p.S));
    for (int64_t b = 0; b < p.B; ++b) {
      const int64_t length = rng.uniform_int(0, p.S);  // 0: every key padded, rows fully masked
      for (int64_t j = 0; j < p.S; ++j) keep[static_cast<size_t>(b * p.S + j)] = j < length;
    }
    o.attn_mask = from_vector(keep, {p.B, 1, 1, p.S});
  }
  return p;
}

std::string describe(const Problem& p) {
  return "B=" + std::to_string(p.B) + " H=" + std::to_string(p.H) + " T=" + std::to_string(p.T) +
         " S=" + std::to_string(p.S) + " D=" + std::to_string(p.D) + " Dv=" + std::to_string(p.Dv) +
         " mask=" + p.mask_kind + (p.options.window ? "(" + std::to_string(*p.options.window) + ")" : "") +
         " dropout=" + std::to_string(p.options.dropout_p) +
         (p.transposed_inputs ? " transposed inputs" : "");
}

TEST(AttentionPropertyTest, FusedEqualsPlainOnRandomProblems) {
  constexpr int kCases = 300;
  int index = 0;
  double worst_out = 0, worst_grads = 0;
  for (uint64_t seed : case_seeds("AttentionPropertyTest.FusedEqualsPlain", kCases)) {
    Rng rng(seed);
    const Problem p = draw_problem(rng);
    SCOPED_TRACE(replay_hint(index++, seed) + ": " + describe(p));
    const Tensor q = draw(rng, p.B, p.H, p.T, p.D, p.transposed_inputs);
    const Tensor k = draw(rng, p.B, p.H, p.S, p.D, p.transposed_inputs);
    const Tensor v = draw(rng, p.B, p.H, p.S, p.Dv, p.transposed_inputs);
    const Tensor g = draw(rng, p.B, p.H, p.T, p.Dv, false);

    F::AttentionOptions plain = p.options, fused = p.options;
    plain.impl = F::AttentionImpl::Plain;
    fused.impl = F::AttentionImpl::Fused;
    const uint64_t dropout_seed = rng.next();
    manual_seed(dropout_seed);  // both calls draw the same dropout key
    const AttentionRun a = run_attention(q, k, v, plain, g);
    manual_seed(dropout_seed);
    const AttentionRun b = run_attention(q, k, v, fused, g);

    const double d_out = rel_diff(b.out, a.out);
    double d_grads = std::max({rel_diff(b.dq, a.dq), rel_diff(b.dk, a.dk), rel_diff(b.dv, a.dv)});
    if (a.dmask.defined()) d_grads = std::max(d_grads, rel_diff(b.dmask, a.dmask));
    ASSERT_LE(d_out, 1e-12) << "output";
    ASSERT_LE(d_grads, 1e-12) << "gradients";
    for (const Tensor& t : {a.out, b.out, b.dq, b.dk, b.dv}) ASSERT_TRUE(all_finite(t));
    worst_out = std::max(worst_out, d_out);
    worst_grads = std::max(worst_grads, d_grads);
  }
  std::printf("[ property ] %d random attention problems: largest fused-vs-plain relative "
              "difference %.2e (output), %.2e (gradients)\n", index, worst_out, worst_grads);
}

}  // namespace

// fused_attention_test.cpp: the fused (FlashAttention-style) path of scaled_dot_product_attention
// against the plain one: the same outputs and gradients for every mask kind, with dropout on and
// off, in float32 and float64, at sizes that cross the kernel's query-block (16) and key-tile
// (64) edges; float64 gradchecks of its own backward; bitwise equality for 1 and 2 threads; and
// the Error a second derivative gets.
//
// Legend: B batch, H heads, T queries, S keys, D = d_k, Dv value size.
#include <gtest/gtest.h>

#include <cstdio>
#include <limits>
#include <string>

#include "functional_test_helpers.h"
#include "nn/functional.h"

using namespace ag;
using namespace ag::testing;
namespace F = ag::nn::functional;
using F::AttentionImpl;
using F::AttentionOptions;

namespace {

enum class MaskKind { None, Causal, Bool, Float, Padding, Window, CausalWindow };

struct AgreementCase {
  std::string name;
  int64_t B, H, T, S, D, Dv;
  MaskKind mask;
  bool dropout;
};

std::string describe(const AgreementCase& c, DType dtype) {
  return c.name + (c.dropout ? " + dropout" : "") + " (" + std::string(dtype_name(dtype)) +
         ", T=" + std::to_string(c.T) + ", S=" + std::to_string(c.S) + ")";
}

AttentionOptions options_for(const AgreementCase& c, DType dtype) {
  AttentionOptions options;
  if (c.dropout) options.dropout_p = 0.25;
  switch (c.mask) {
    case MaskKind::None: break;
    case MaskKind::Causal: options.is_causal = true; break;
    case MaskKind::Window: options.window = 5; break;
    case MaskKind::CausalWindow: options.is_causal = true; options.window = 20; break;
    case MaskKind::Bool: {
      Tensor allowed = gt(rand({c.B, 1, c.T, c.S}, kFloat64), full({}, 0.3, kFloat64));
      allowed.select(-2, 0).fill_(0.0);  // and one fully masked row
      options.attn_mask = allowed;
      break;
    }
    case MaskKind::Float:  // a differentiable bias per (head, query, key), some keys at -inf
      options.attn_mask = where(gt(rand({c.H, c.T, c.S}, kFloat64), full({}, 0.2, kFloat64)),
                                randn({c.H, c.T, c.S}, kFloat64),
                                full({}, -std::numeric_limits<double>::infinity(), kFloat64))
                              .to(dtype).detach().requires_grad_();
      break;
    case MaskKind::Padding: {  // (B, 1, 1, S): batch b keeps its first S - 3b keys
      std::vector<bool> keep(static_cast<size_t>(c.B * c.S));
      for (int64_t b = 0; b < c.B; ++b)
        for (int64_t j = 0; j < c.S; ++j) keep[b * c.S + j] = j < c.S - 3 * b;
      options.attn_mask = from_vector(keep, {c.B, 1, 1, c.S});
      break;
    }
  }
  return options;
}

const std::vector<AgreementCase>& agreement_cases() {
  static const std::vector<AgreementCase> cases = [] {
    std::vector<AgreementCase> base = {
        {"no mask", 2, 2, 5, 7, 4, 3, MaskKind::None, false},
        {"causal", 1, 2, 37, 37, 8, 8, MaskKind::Causal, false},
        {"bool mask", 2, 2, 18, 70, 4, 5, MaskKind::Bool, false},
        {"float mask", 1, 3, 17, 66, 4, 4, MaskKind::Float, false},
        {"padding", 3, 2, 6, 9, 4, 4, MaskKind::Padding, false},
        {"window", 1, 2, 40, 40, 4, 4, MaskKind::Window, false},
        {"causal + window", 1, 1, 70, 150, 8, 4, MaskKind::CausalWindow, false},
        {"causal, T < S", 2, 1, 5, 70, 4, 4, MaskKind::Causal, false},
        {"causal, T > S", 1, 2, 20, 6, 4, 4, MaskKind::Causal, false},
    };
    std::vector<AgreementCase> all = base;
    for (AgreementCase c : base) {
      c.dropout = true;
      all.push_back(c);
    }
    return all;
  }();
  return cases;
}

struct Worst {
  double out = 0, grads = 0;
};

// Runs every case on both paths (same seed, so the same dropout mask) and checks that the
// norm-wise relative difference of the output and of every gradient is within tolerance.
Worst check_agreement(DType dtype, double tolerance) {
  Worst worst;
  uint64_t seed = 100;
  for (const AgreementCase& c : agreement_cases()) {
    manual_seed(seed++);
    const Tensor q = randn({c.B, c.H, c.T, c.D}, dtype), k = randn({c.B, c.H, c.S, c.D}, dtype);
    const Tensor v = randn({c.B, c.H, c.S, c.Dv}, dtype), g = randn({c.B, c.H, c.T, c.Dv}, dtype);
    const AttentionOptions options = options_for(c, dtype);
    AttentionOptions plain = options, fused = options;
    plain.impl = AttentionImpl::Plain;
    fused.impl = AttentionImpl::Fused;
    const uint64_t call_seed = default_generator().seed(), call_offset = default_generator().offset();
    const AttentionRun a = run_attention(q, k, v, plain, g);
    default_generator().set_state(call_seed, call_offset);  // the fused call draws the same seed
    const AttentionRun b = run_attention(q, k, v, fused, g);
    const std::string what = describe(c, dtype);
    const double d_out = rel_diff(b.out, a.out);
    double d_grads = std::max({rel_diff(b.dq, a.dq), rel_diff(b.dk, a.dk), rel_diff(b.dv, a.dv)});
    if (a.dmask.defined()) d_grads = std::max(d_grads, rel_diff(b.dmask, a.dmask));
    EXPECT_LE(d_out, tolerance) << what << ": output";
    EXPECT_LE(d_grads, tolerance) << what << ": gradients";
    EXPECT_GT(max_abs(a.out), 0.0) << what;
    for (const Tensor& t : {b.out, b.dq, b.dk, b.dv}) EXPECT_TRUE(all_finite(t)) << what;
    worst.out = std::max(worst.out, d_out);
    worst.grads = std::max(worst.grads, d_grads);
  }
  return worst;
}

}  // namespace

TEST(FusedAttentionTest, MatchesPlainOnEveryMaskKindFloat64) {
  const Worst worst = check_agreement(kFloat64, 1e-12);
  std::printf("[ fused vs plain, float64 ] largest relative difference: output %.3g, gradients %.3g\n",
              worst.out, worst.grads);
}

TEST(FusedAttentionTest, MatchesPlainOnEveryMaskKindFloat32) {
  const Worst worst = check_agreement(kFloat32, 1e-5);
  std::printf("[ fused vs plain, float32 ] largest relative difference: output %.3g, gradients %.3g\n",
              worst.out, worst.grads);
}

TEST(FusedAttentionTest, DropoutMaskDependsOnTheSeedOnly) {
  // Two calls after the same manual_seed drop the same weights; a different seed drops others.
  const Tensor q = randn({1, 2, 9, 4}), k = randn({1, 2, 9, 4}), v = randn({1, 2, 9, 4});
  AttentionOptions options;
  options.dropout_p = 0.5;
  options.impl = AttentionImpl::Fused;
  manual_seed(7);
  const Tensor a = F::scaled_dot_product_attention(q, k, v, options);
  manual_seed(7);
  const Tensor b = F::scaled_dot_product_attention(q, k, v, options);
  manual_seed(8);
  const Tensor c = F::scaled_dot_product_attention(q, k, v, options);
  EXPECT_TRUE(bitwise_equal(a, b));
  EXPECT_FALSE(bitwise_equal(a, c));
}

TEST(FusedAttentionTest, GradcheckWithMasksBroadcastAndDropout) {
  manual_seed(30);
  const Tensor q = randn({1, 2, 3, 4}, kFloat64).requires_grad_();
  const Tensor k = randn({1, 2, 5, 4}, kFloat64).requires_grad_();
  const Tensor v = randn({1, 2, 5, 3}, kFloat64).requires_grad_();
  auto check = [](const TensorList& inputs, AttentionOptions options, const char* what) {
    options.impl = AttentionImpl::Fused;
    auto r = autograd::gradcheck([&](const TensorList& x) {
      AttentionOptions o = options;
      if (x.size() > 3) o.attn_mask = x[3];
      return F::scaled_dot_product_attention(x[0], x[1], x[2], o);
    }, inputs);
    EXPECT_TRUE(r.ok) << what << ": " << r.message;
  };
  check({q, k, v}, {}, "no mask");
  AttentionOptions causal;
  causal.is_causal = true;
  check({q, k, v}, causal, "causal, T != S");
  AttentionOptions window = causal;
  window.window = 2;
  check({q, k, v}, window, "causal + window");
  AttentionOptions boolean;
  boolean.attn_mask = from_vector<bool>({1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 0, 0, 0, 0, 0}, {3, 5});
  check({q, k, v}, boolean, "bool mask with a fully masked row");
  check({q, k, v, randn({2, 1, 5}, kFloat64).requires_grad_()}, {}, "float mask, differentiated");
  AttentionOptions dropout = causal;
  dropout.dropout_p = 0.3;
  check({q, k, v}, dropout, "causal + dropout 0.3 (the same seed every call)");
  // k, v shared across a batch of 2, a (B, T, H, D) q seen through a transpose, and 3-d inputs.
  check({randn({2, 2, 3, 4}, kFloat64).requires_grad_(), k, v}, {}, "broadcast batch");
  auto r = autograd::gradcheck([&](const TensorList& x) {
    return F::scaled_dot_product_attention(x[0].transpose(1, 2), x[1], x[2],
                                           AttentionOptions{.impl = AttentionImpl::Fused});
  }, {randn({1, 3, 2, 4}, kFloat64).requires_grad_(), k, v});
  EXPECT_TRUE(r.ok) << "non-contiguous q: " << r.message;
  check({randn({2, 3, 4}, kFloat64).requires_grad_(), randn({2, 5, 4}, kFloat64).requires_grad_(),
         randn({2, 5, 3}, kFloat64).requires_grad_()}, {}, "(B, T, D) inputs");
}

TEST(FusedAttentionTest, GradcheckAcrossBlockAndTileEdges) {
  // T = 17 > one query block of 16, S = 66 > one key tile of 64; projections keep it cheap.
  manual_seed(31);
  const Tensor q = randn({1, 1, 17, 2}, kFloat64).requires_grad_();
  const Tensor k = randn({1, 1, 66, 2}, kFloat64).requires_grad_();
  const Tensor v = randn({1, 1, 66, 2}, kFloat64).requires_grad_();
  AttentionOptions options;
  options.impl = AttentionImpl::Fused;
  options.is_causal = true;
  options.window = 60;
  auto r = autograd::gradcheck([&](const TensorList& x) {
    return F::scaled_dot_product_attention(x[0], x[1], x[2], options);
  }, {q, k, v});
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(FusedAttentionTest, OneAndTwoThreadsGiveIdenticalBits) {
  manual_seed(32);
  const Tensor q = randn({2, 3, 40, 8}), k = randn({2, 3, 70, 8}), v = randn({2, 3, 70, 8});
  const Tensor g = randn({2, 3, 40, 8});
  AttentionOptions options;
  options.impl = AttentionImpl::Fused;
  options.is_causal = true;
  options.dropout_p = 0.1;
  const int threads = get_num_threads();
  auto run = [&](int n) {
    set_num_threads(n);
    manual_seed(33);
    return run_attention(q, k, v, options, g);
  };
  const AttentionRun one = run(1), two = run(2);
  set_num_threads(threads);
  EXPECT_TRUE(bitwise_equal(one.out, two.out));
  EXPECT_TRUE(bitwise_equal(one.dq, two.dq));
  EXPECT_TRUE(bitwise_equal(one.dk, two.dk));
  EXPECT_TRUE(bitwise_equal(one.dv, two.dv));
}

TEST(FusedAttentionTest, SecondDerivativeIsRefusedWithAHint) {
  manual_seed(34);
  const Tensor q = randn({1, 1, 3, 2}, kFloat64).requires_grad_();
  const Tensor k = randn({1, 1, 3, 2}, kFloat64).requires_grad_();
  const Tensor v = randn({1, 1, 3, 2}, kFloat64).requires_grad_();
  AttentionOptions options;
  options.impl = AttentionImpl::Fused;
  const Tensor out = F::scaled_dot_product_attention(q, k, v, options);
  expect_error([&] { autograd::grad({out.sum()}, {q}, {}, /*create_graph=*/true); },
               {"scaled_dot_product_attention",
                "the fused kernel's backward cannot be differentiated twice",
                "AttentionImpl::Plain"});
  // Auto picks the fused kernel too; a plain first derivative still works.
  const Tensor auto_out = F::scaled_dot_product_attention(q, k, v);
  EXPECT_EQ(auto_out.grad_fn_name(), "ViewBackward");
  const TensorList grads = autograd::grad({auto_out.sum()}, {q});
  EXPECT_TRUE(all_finite(grads[0]));
}

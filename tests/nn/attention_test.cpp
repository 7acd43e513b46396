// attention_test.cpp: scaled_dot_product_attention's contract, checked on both paths (plain and
// fused) wherever it applies: the 1/sqrt(d_k) scale and why it matters, every mask kind (causal,
// padding, bool vs -inf float, sliding window, fully masked rows), stability at the edges (one
// key, one query, huge scores) and float64 gradchecks of the plain path. The fused path's own
// gradchecks and its agreement with the plain path are in fused_attention_test.cpp.
//
// Legend: B batch, H heads, T queries, S keys, D = d_k, Dv value size.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "functional_test_helpers.h"
#include "nn/functional.h"

using namespace ag;
using namespace ag::testing;
namespace F = ag::nn::functional;
using F::AttentionImpl;
using F::AttentionOptions;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
const AttentionImpl kBothImpls[] = {AttentionImpl::Plain, AttentionImpl::Fused};

const char* impl_name(AttentionImpl impl) {
  return impl == AttentionImpl::Plain ? "plain" : "fused";
}

AttentionOptions with_impl(AttentionOptions options, AttentionImpl impl) {
  options.impl = impl;
  return options;
}

// softmax(q k^T * scale + bias) v written out with ops, as the reference for the scale tests.
Tensor manual_attention(const Tensor& q, const Tensor& k, const Tensor& v, double scale) {
  return matmul(softmax(matmul(q, k.transpose(-2, -1)) * scale, -1), v);
}

}  // namespace

// ---- scaling ------------------------------------------------------------------------------------

TEST(SdpaScalingTest, DefaultScaleIsOneOverSqrtDk) {
  manual_seed(10);
  const int64_t D = 8;
  const Tensor q = randn({2, 3, 5, D}, kFloat64), k = randn({2, 3, 6, D}, kFloat64);
  const Tensor v = randn({2, 3, 6, 4}, kFloat64);
  const Tensor reference = manual_attention(q, k, v, 1.0 / std::sqrt(8.0));
  for (AttentionImpl impl : kBothImpls) {
    const Tensor by_default = F::scaled_dot_product_attention(q, k, v, with_impl({}, impl));
    AttentionOptions explicit_scale;
    explicit_scale.scale = 1.0 / std::sqrt(static_cast<double>(D));
    const Tensor explicitly =
        F::scaled_dot_product_attention(q, k, v, with_impl(explicit_scale, impl));
    EXPECT_TRUE(bitwise_equal(by_default, explicitly)) << impl_name(impl);
    EXPECT_LT(max_abs_diff(by_default, reference), 1e-14) << impl_name(impl);
  }
}

TEST(SdpaScalingTest, UnscaledScoresSaturateSoftmaxAtDk512) {
  // Unit-variance q and k: q . k sums 512 products of variance 1, so unscaled scores have
  // standard deviation sqrt(512) ~ 22.6 and softmax puts nearly all weight on one key; its
  // Jacobian diag(w) - w w^T then nearly vanishes and q learns almost nothing. Dividing by
  // sqrt(512) restores unit variance.
  manual_seed(11);
  const int64_t T = 64, S = 4, D = 512;
  const Tensor q = randn({1, 1, T, D}, kFloat64), k = randn({1, 1, S, D}, kFloat64);
  const Tensor v = randn({1, 1, S, 4}, kFloat64), g = randn({1, 1, T, 4}, kFloat64);
  // Per query row: is one weight > 0.99, and how large is the gradient reaching q_i?
  struct Stats { int64_t saturated_rows; double median_dq_norm; };
  auto measure = [&](std::optional<double> scale) {
    AttentionOptions options;
    options.scale = scale;
    options.impl = AttentionImpl::Plain;
    Tensor q_leaf = q.detach().requires_grad_();
    auto [out, weights] = F::scaled_dot_product_attention_with_weights(q_leaf, k, v, options);
    (out * g).sum().backward();
    const std::vector<double> w = weights.to_vector<double>();
    const std::vector<double> dq = q_leaf.grad().to_vector<double>();
    Stats stats{0, 0.0};
    std::vector<double> norms;
    for (int64_t i = 0; i < T; ++i) {
      if (*std::max_element(w.begin() + i * S, w.begin() + (i + 1) * S) > 0.99) ++stats.saturated_rows;
      double sq = 0.0;
      for (int64_t d = 0; d < D; ++d) sq += dq[i * D + d] * dq[i * D + d];
      norms.push_back(std::sqrt(sq));
    }
    std::nth_element(norms.begin(), norms.begin() + T / 2, norms.end());
    stats.median_dq_norm = norms[T / 2];
    return stats;
  };
  const Stats unscaled = measure(1.0), scaled = measure(std::nullopt);
  std::printf("[ d_k = 512 ] rows with a weight > 0.99: unscaled %lld/%lld, scaled %lld/%lld; "
              "median |dq_i|: unscaled %.3g, scaled %.3g\n",
              static_cast<long long>(unscaled.saturated_rows), static_cast<long long>(T),
              static_cast<long long>(scaled.saturated_rows), static_cast<long long>(T),
              unscaled.median_dq_norm, scaled.median_dq_norm);
  EXPECT_GT(unscaled.saturated_rows, T / 2) << "most unscaled rows put > 0.99 on one key";
  EXPECT_LT(scaled.saturated_rows, T / 10) << "scaled rows stay spread";
  // For the typical row, orders of magnitude less gradient reaches q through the saturated
  // softmax, although the unscaled run multiplies by a scale sqrt(512) ~ 22.6 times larger.
  EXPECT_LT(unscaled.median_dq_norm, scaled.median_dq_norm * 1e-2);
}

TEST(SdpaScalingTest, GradcheckWithCustomScales) {
  manual_seed(12);
  const Tensor q = randn({1, 2, 3, 4}, kFloat64).requires_grad_();
  const Tensor k = randn({1, 2, 5, 4}, kFloat64).requires_grad_();
  const Tensor v = randn({1, 2, 5, 3}, kFloat64).requires_grad_();
  for (double scale : {0.3, 2.0})
    for (AttentionImpl impl : kBothImpls) {
      AttentionOptions options;
      options.scale = scale;
      options.impl = impl;
      auto r = autograd::gradcheck([&](const TensorList& x) {
        return F::scaled_dot_product_attention(x[0], x[1], x[2], options);
      }, {q, k, v});
      EXPECT_TRUE(r.ok) << impl_name(impl) << " scale " << scale << ": " << r.message;
    }
}

// ---- masking ------------------------------------------------------------------------------------

TEST(SdpaMaskingTest, CausalFutureKeysCannotReachEarlierOutputs) {
  // Changing keys and values at positions >= 3 must leave outputs 0..2 bit-identical, and no
  // gradient from outputs 0..2 may reach those keys and values: not small, exactly zero.
  manual_seed(13);
  const int64_t T = 6, cut = 3;
  const Tensor q = randn({1, 2, T, 4}, kFloat64), k = randn({1, 2, T, 4}, kFloat64);
  const Tensor v = randn({1, 2, T, 3}, kFloat64);
  Tensor k2 = k.clone(), v2 = v.clone();
  k2.narrow(2, cut, T - cut).copy_(randn({1, 2, T - cut, 4}, kFloat64) * 5.0);
  v2.narrow(2, cut, T - cut).copy_(randn({1, 2, T - cut, 3}, kFloat64) * 5.0);
  // The loss sees only the outputs before the cut.
  Tensor g = randn({1, 2, T, 3}, kFloat64);
  g.narrow(2, cut, T - cut).zero_();
  AttentionOptions causal;
  causal.is_causal = true;
  for (AttentionImpl impl : kBothImpls) {
    const AttentionRun a = run_attention(q, k, v, with_impl(causal, impl), g);
    const AttentionRun b = run_attention(q, k2, v2, with_impl(causal, impl), g);
    EXPECT_TRUE(bitwise_equal(a.out.narrow(2, 0, cut), b.out.narrow(2, 0, cut))) << impl_name(impl);
    EXPECT_EQ(max_abs(a.dk.narrow(2, cut, T - cut)), 0.0) << impl_name(impl);
    EXPECT_EQ(max_abs(a.dv.narrow(2, cut, T - cut)), 0.0) << impl_name(impl);
    EXPECT_GT(max_abs(a.dk.narrow(2, 0, cut)), 0.0) << impl_name(impl);  // the test can fail
  }
}

TEST(SdpaMaskingTest, PaddedKeysCannotReachAnyOutput) {
  // A padding mask (B, 1, 1, S): batch 0 has 5 real keys, batch 1 has 3. Whatever sits in the
  // padded slots changes no output bit and receives exactly zero gradient.
  manual_seed(14);
  const int64_t S = 5;
  const Tensor q = randn({2, 2, 4, 4}, kFloat64), k = randn({2, 2, S, 4}, kFloat64);
  const Tensor v = randn({2, 2, S, 3}, kFloat64), g = randn({2, 2, 4, 3}, kFloat64);
  const Tensor mask = from_vector<bool>({1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, {2, 1, 1, S});
  Tensor k2 = k.clone(), v2 = v.clone();
  k2.select(0, 1).narrow(1, 3, 2).copy_(randn({2, 2, 4}, kFloat64) * 7.0);
  v2.select(0, 1).narrow(1, 3, 2).fill_(1e6);
  AttentionOptions padded;
  padded.attn_mask = mask;
  for (AttentionImpl impl : kBothImpls) {
    const AttentionRun a = run_attention(q, k, v, with_impl(padded, impl), g);
    const AttentionRun b = run_attention(q, k2, v2, with_impl(padded, impl), g);
    EXPECT_TRUE(bitwise_equal(a.out, b.out)) << impl_name(impl);
    EXPECT_EQ(max_abs(a.dk.select(0, 1).narrow(1, 3, 2)), 0.0) << impl_name(impl);
    EXPECT_EQ(max_abs(a.dv.select(0, 1).narrow(1, 3, 2)), 0.0) << impl_name(impl);
    EXPECT_EQ(max_abs(b.dk.select(0, 1).narrow(1, 3, 2)), 0.0) << impl_name(impl);
    EXPECT_GT(max_abs(a.dk.select(0, 0).narrow(1, 3, 2)), 0.0) << impl_name(impl);
  }
}

TEST(SdpaMaskingTest, BoolMaskEqualsMinusInfinityFloatMask) {
  manual_seed(15);
  const Tensor q = randn({2, 3, 5, 4}, kFloat64), k = randn({2, 3, 6, 4}, kFloat64);
  const Tensor v = randn({2, 3, 6, 3}, kFloat64), g = randn({2, 3, 5, 3}, kFloat64);
  Tensor allowed = gt(rand({2, 1, 5, 6}, kFloat64), full({}, 0.4, kFloat64));
  allowed.select(-1, 0).fill_(1.0);  // every row keeps at least one key
  const Tensor bias = where(allowed, zeros({}, kFloat64), full({}, -kInf, kFloat64));
  for (AttentionImpl impl : kBothImpls) {
    AttentionOptions as_bool, as_float;
    as_bool.attn_mask = allowed;
    as_float.attn_mask = bias;
    const AttentionRun a = run_attention(q, k, v, with_impl(as_bool, impl), g);
    const AttentionRun b = run_attention(q, k, v, with_impl(as_float, impl), g);
    // score + 0 is the score itself, and score + -inf is -inf: the same numbers, bit for bit.
    EXPECT_TRUE(bitwise_equal(a.out, b.out)) << impl_name(impl);
    EXPECT_TRUE(bitwise_equal(a.dq, b.dq)) << impl_name(impl);
    EXPECT_TRUE(bitwise_equal(a.dk, b.dk)) << impl_name(impl);
    EXPECT_TRUE(bitwise_equal(a.dv, b.dv)) << impl_name(impl);
  }
}

TEST(SdpaMaskingTest, FullyMaskedRowGivesZeroAndNoNaN) {
  // Row 1 of the mask forbids every key: softmax would be 0/0. Defined as a zero output row
  // with zero gradients, on both paths, for a bool mask, an all -inf float mask, and causal
  // attention with more queries than keys (the first T - S queries precede every key).
  manual_seed(16);
  const Tensor q = randn({1, 2, 4, 3}, kFloat64), k = randn({1, 2, 4, 3}, kFloat64);
  const Tensor v = randn({1, 2, 4, 2}, kFloat64), g = randn({1, 2, 4, 2}, kFloat64);
  Tensor allowed = ones({4, 4}, kBool);
  allowed.select(0, 1).fill_(0.0);
  const Tensor bias = where(allowed, zeros({}, kFloat64), full({}, -kInf, kFloat64));
  for (AttentionImpl impl : kBothImpls) {
    for (const Tensor& mask : {allowed, bias}) {
      AttentionOptions options;
      options.attn_mask = mask;
      const AttentionRun r = run_attention(q, k, v, with_impl(options, impl), g);
      for (const Tensor& t : {r.out, r.dq, r.dk, r.dv}) EXPECT_TRUE(all_finite(t)) << impl_name(impl);
      EXPECT_EQ(max_abs(r.out.narrow(2, 1, 1)), 0.0) << impl_name(impl);
      EXPECT_EQ(max_abs(r.dq.narrow(2, 1, 1)), 0.0) << impl_name(impl);
      EXPECT_GT(max_abs(r.out.narrow(2, 2, 1)), 0.0) << impl_name(impl);
    }
    // T = 4 queries, S = 2 keys, causal: query i sees keys j <= i - 2, so rows 0 and 1 see none.
    AttentionOptions causal;
    causal.is_causal = true;
    const AttentionRun r = run_attention(q, k.narrow(2, 0, 2), v.narrow(2, 0, 2),
                                         with_impl(causal, impl), g);
    for (const Tensor& t : {r.out, r.dq, r.dk, r.dv}) EXPECT_TRUE(all_finite(t)) << impl_name(impl);
    EXPECT_EQ(max_abs(r.out.narrow(2, 0, 2)), 0.0) << impl_name(impl);
    EXPECT_EQ(max_abs(r.dq.narrow(2, 0, 2)), 0.0) << impl_name(impl);
    EXPECT_GT(max_abs(r.out.narrow(2, 2, 2)), 0.0) << impl_name(impl);
  }
}

TEST(SdpaMaskingTest, SlidingWindowEqualsExplicitBandMask) {
  // window W: query i (at key position i + S - T) sees keys j with pos - W < j <= pos.
  manual_seed(17);
  const int64_t W = 3;
  for (auto [T, S] : {std::pair<int64_t, int64_t>{7, 7}, {4, 9}}) {
    const Tensor q = randn({2, 2, T, 4}, kFloat64), k = randn({2, 2, S, 4}, kFloat64);
    const Tensor v = randn({2, 2, S, 3}, kFloat64), g = randn({2, 2, T, 3}, kFloat64);
    std::vector<bool> band(static_cast<size_t>(T * S));
    for (int64_t i = 0; i < T; ++i)
      for (int64_t j = 0; j < S; ++j) band[i * S + j] = j > i + S - T - W && j <= i + S - T;
    AttentionOptions windowed, explicit_band;
    windowed.window = W;
    explicit_band.attn_mask = from_vector(band, {T, S});
    for (AttentionImpl impl : kBothImpls) {
      const AttentionRun a = run_attention(q, k, v, with_impl(windowed, impl), g);
      const AttentionRun b = run_attention(q, k, v, with_impl(explicit_band, impl), g);
      EXPECT_LT(max_abs_diff(a.out, b.out), 1e-14) << impl_name(impl) << " T " << T;
      EXPECT_LT(max_abs_diff(a.dq, b.dq), 1e-14) << impl_name(impl) << " T " << T;
      EXPECT_LT(max_abs_diff(a.dk, b.dk), 1e-14) << impl_name(impl) << " T " << T;
      EXPECT_LT(max_abs_diff(a.dv, b.dv), 1e-14) << impl_name(impl) << " T " << T;
    }
  }
}

TEST(SdpaMaskingTest, WeightsRespectTheMaskAndSumToOne) {
  // The plain path's weights: zero wherever a mask forbids, rows summing to 1 otherwise.
  manual_seed(18);
  const Tensor q = randn({1, 1, 5, 4}, kFloat64), k = randn({1, 1, 5, 4}, kFloat64);
  const Tensor v = randn({1, 1, 5, 2}, kFloat64);
  AttentionOptions options;
  options.is_causal = true;
  options.window = 2;
  const auto [out, weights] = F::scaled_dot_product_attention_with_weights(q, k, v, options);
  const std::vector<double> w = weights.to_vector<double>();
  for (int64_t i = 0; i < 5; ++i) {
    double row = 0.0;
    for (int64_t j = 0; j < 5; ++j) {
      if (j > i || j <= i - 2) EXPECT_EQ(w[i * 5 + j], 0.0) << i << ", " << j;
      row += w[i * 5 + j];
    }
    EXPECT_NEAR(row, 1.0, 1e-15);
  }
  EXPECT_LT(max_abs_diff(out, matmul(weights, v)), 1e-15);
}

// ---- stability ----------------------------------------------------------------------------------

TEST(SdpaStabilityTest, OneKeyAndOneQuery) {
  // One key: its weight is exactly 1 for every query, so out = v for any q.
  manual_seed(19);
  const Tensor q = randn({2, 3, 4, 5}, kFloat64), k = randn({2, 3, 1, 5}, kFloat64);
  const Tensor v = randn({2, 3, 1, 2}, kFloat64);
  for (AttentionImpl impl : kBothImpls) {
    const Tensor out = F::scaled_dot_product_attention(q, k, v, with_impl({}, impl));
    EXPECT_LT(max_abs_diff(out, v.expand({2, 3, 4, 2})), 1e-15) << impl_name(impl);
    // T = 1, causal: the single query sits on the last key and sees all of them.
    AttentionOptions causal;
    causal.is_causal = true;
    const Tensor q1 = q.narrow(2, 0, 1), k4 = randn({2, 3, 4, 5}, kFloat64);
    const Tensor v4 = randn({2, 3, 4, 2}, kFloat64);
    EXPECT_LT(max_abs_diff(F::scaled_dot_product_attention(q1, k4, v4, with_impl(causal, impl)),
                           manual_attention(q1, k4, v4, 1.0 / std::sqrt(5.0))), 1e-14)
        << impl_name(impl);
    auto r = autograd::gradcheck([&](const TensorList& x) {
      return F::scaled_dot_product_attention(x[0], x[1], x[2], with_impl(causal, impl));
    }, {q1.detach().requires_grad_(), k.detach().requires_grad_(), v.detach().requires_grad_()});
    EXPECT_TRUE(r.ok) << impl_name(impl) << ": " << r.message;
  }
}

TEST(SdpaStabilityTest, HugeFloat32ScoresStayFinite) {
  // Scores around +-1e4 in float32: the softmax shift keeps exp() <= 1 on both paths.
  manual_seed(20);
  const Tensor q = (randn({1, 2, 6, 8}) * 100.f).detach(), k = (randn({1, 2, 6, 8}) * 100.f).detach();
  const Tensor v = randn({1, 2, 6, 3}), g = randn({1, 2, 6, 3});
  for (AttentionImpl impl : kBothImpls) {
    const AttentionRun r = run_attention(q, k, v, with_impl({}, impl), g);
    for (const Tensor& t : {r.out, r.dq, r.dk, r.dv}) EXPECT_TRUE(all_finite(t)) << impl_name(impl);
  }
}

// ---- gradchecks of the plain path (the fused ones are in fused_attention_test.cpp) -------------

namespace {

void expect_plain_gradcheck(const TensorList& inputs, AttentionOptions options, const char* what) {
  options.impl = AttentionImpl::Plain;
  auto r = autograd::gradcheck([&](const TensorList& x) {
    AttentionOptions o = options;
    if (x.size() > 3) o.attn_mask = x[3];
    return F::scaled_dot_product_attention(x[0], x[1], x[2], o);
  }, inputs);
  EXPECT_TRUE(r.ok) << what << ": " << r.message;
}

}  // namespace

TEST(SdpaGradcheckTest, PlainPathWithEveryMaskKind) {
  manual_seed(21);
  const Tensor q = randn({1, 2, 3, 4}, kFloat64).requires_grad_();
  const Tensor k = randn({1, 2, 5, 4}, kFloat64).requires_grad_();
  const Tensor v = randn({1, 2, 5, 3}, kFloat64).requires_grad_();
  expect_plain_gradcheck({q, k, v}, {}, "no mask");
  AttentionOptions causal;
  causal.is_causal = true;
  expect_plain_gradcheck({q, k, v}, causal, "causal, T != S");
  AttentionOptions window = causal;
  window.window = 2;
  expect_plain_gradcheck({q, k, v}, window, "causal + window");
  AttentionOptions boolean;
  boolean.attn_mask = from_vector<bool>({1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 0, 0, 0, 0, 0}, {3, 5});
  expect_plain_gradcheck({q, k, v}, boolean, "bool mask with a fully masked row");
  // A float mask is an input too: its gradient is the gradient of the scores.
  const Tensor bias = randn({2, 1, 5}, kFloat64).requires_grad_();
  expect_plain_gradcheck({q, k, v, bias}, {}, "float mask (2, 1, 5), differentiated");
}

TEST(SdpaGradcheckTest, PlainPathBroadcastBatchNonContiguousAndThreeDims) {
  manual_seed(22);
  // k and v shared across the batch (1, H, S, D), q (B, H, T, D).
  const Tensor q = randn({2, 2, 3, 4}, kFloat64).requires_grad_();
  const Tensor k = randn({1, 2, 4, 4}, kFloat64).requires_grad_();
  const Tensor v = randn({1, 2, 4, 2}, kFloat64).requires_grad_();
  expect_plain_gradcheck({q, k, v}, {}, "broadcast batch");
  // A (B, T, H, D) layout transposed to (B, H, T, D): a non-contiguous view.
  const Tensor q_bthd = randn({1, 3, 2, 4}, kFloat64).requires_grad_();
  auto r = autograd::gradcheck([&](const TensorList& x) {
    return F::scaled_dot_product_attention(x[0].transpose(1, 2), x[1], x[2],
                                           with_impl({}, AttentionImpl::Plain));
  }, {q_bthd, k, v});
  EXPECT_TRUE(r.ok) << "non-contiguous q: " << r.message;
  const Tensor q3 = randn({2, 3, 4}, kFloat64).requires_grad_();
  const Tensor k3 = randn({2, 5, 4}, kFloat64).requires_grad_();
  const Tensor v3 = randn({2, 5, 3}, kFloat64).requires_grad_();
  expect_plain_gradcheck({q3, k3, v3}, {}, "(B, T, D) inputs");
}

TEST(SdpaGradcheckTest, PlainPathWithDropout) {
  // gradcheck restores the global generator before every call, so each call draws the same
  // seed and therefore the same dropout mask.
  manual_seed(23);
  const Tensor q = randn({1, 2, 4, 3}, kFloat64).requires_grad_();
  const Tensor k = randn({1, 2, 4, 3}, kFloat64).requires_grad_();
  const Tensor v = randn({1, 2, 4, 2}, kFloat64).requires_grad_();
  AttentionOptions options;
  options.dropout_p = 0.3;
  options.is_causal = true;
  expect_plain_gradcheck({q, k, v}, options, "dropout 0.3");
}

TEST(SdpaGradcheckTest, PlainPathIsTwiceDifferentiable) {
  manual_seed(24);
  const Tensor q = randn({1, 1, 3, 2}, kFloat64).requires_grad_();
  const Tensor k = randn({1, 1, 3, 2}, kFloat64).requires_grad_();
  const Tensor v = randn({1, 1, 3, 2}, kFloat64).requires_grad_();
  AttentionOptions options;
  options.is_causal = true;
  options.impl = AttentionImpl::Plain;
  auto r = autograd::gradgradcheck([&](const TensorList& x) {
    return F::scaled_dot_product_attention(x[0], x[1], x[2], options);
  }, {q, k, v});
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(SdpaDropoutTest, EvalIsDeterministicAndTrainingDropsWeights) {
  manual_seed(25);
  const Tensor q = randn({1, 1, 8, 4}), k = randn({1, 1, 8, 4}), v = randn({1, 1, 8, 4});
  AttentionOptions options;
  options.dropout_p = 0.5;
  options.training = false;
  const auto [eval_out, eval_weights] = F::scaled_dot_product_attention_with_weights(q, k, v, options);
  // Not training: no dropout, whatever p says (the plain path here, the fused one by default).
  EXPECT_TRUE(bitwise_equal(eval_out, F::scaled_dot_product_attention(q, k, v, with_impl({}, AttentionImpl::Plain))));
  EXPECT_LT(rel_diff(F::scaled_dot_product_attention(q, k, v), eval_out), 1e-5);
  options.training = true;
  const auto [out, weights] = F::scaled_dot_product_attention_with_weights(q, k, v, options);
  int64_t dropped = 0;
  const auto w = weights.to_vector<double>(), w0 = eval_weights.to_vector<double>();
  for (size_t i = 0; i < w.size(); ++i) {
    if (w[i] == 0.0) ++dropped;
    else EXPECT_NEAR(w[i], 2.0 * w0[i], 1e-6);  // kept weights are divided by 1 - p
  }
  EXPECT_GT(dropped, 16);  // 64 weights, p = 0.5: ~32 dropped
  EXPECT_LT(dropped, 48);
}

// ---- bad input ----------------------------------------------------------------------------------

TEST(SdpaBadInputTest, ShapeDtypeMaskAndProbabilityErrorsNameTheProblem) {
  const Tensor q = zeros({2, 3, 4, 8}), k = zeros({2, 3, 5, 8}), v = zeros({2, 3, 5, 6});
  auto call = [](const Tensor& q, const Tensor& k, const Tensor& v, AttentionOptions o = {}) {
    return [=] { F::scaled_dot_product_attention(q, k, v, o); };
  };
  expect_error(call(q, zeros({2, 3, 5, 7}), v),
               {"scaled_dot_product_attention", "q and k must share the head size D",
                "q is (2, 3, 4, 8)", "k is (2, 3, 5, 7)"});
  expect_error(call(q, k, zeros({2, 3, 6, 6})),
               {"k and v must hold the same number of keys S", "k is (2, 3, 5, 8)",
                "v is (2, 3, 6, 6)"});
  expect_error(call(q, zeros({3, 3, 5, 8}), zeros({3, 3, 5, 6})),
               {"batch dims of q, k and v do not broadcast", "q is (2, 3, 4, 8)",
                "k is (3, 3, 5, 8)"});
  expect_error(call(zeros({2, 4, 0}), zeros({2, 5, 0}), zeros({2, 5, 3})),
               {"head size D is 0", "q is (2, 4, 0)"});
  expect_error(call(q, k.to(kFloat64), v), {"must share one floating dtype", "k is float64"});
  expect_error(call(zeros({2, 3}, kInt64), zeros({2, 3}, kInt64), zeros({2, 3}, kInt64)),
               {"floating dtype", "q is int64"});
  expect_error(call(zeros({8}), zeros({5, 8}), zeros({5, 6})), {"at least 2 dims", "q is (8)"});
  AttentionOptions bad_mask;
  bad_mask.attn_mask = ones({4, 6}, kBool);
  expect_error(call(q, k, v, bad_mask),
               {"attn_mask of shape (4, 6) does not broadcast", "(2, 3, 4, 5)"});
  AttentionOptions int_mask;
  int_mask.attn_mask = zeros({4, 5}, kInt64);
  expect_error(call(q, k, v, int_mask), {"attn_mask must be bool", "got int64"});
  AttentionOptions wrong_float;
  wrong_float.attn_mask = zeros({4, 5}, kFloat64);
  expect_error(call(q, k, v, wrong_float), {"attn_mask must be bool", "float32", "got float64"});
  for (double p : {-0.1, 1.5, std::nan("")}) {
    AttentionOptions bad_p;
    bad_p.dropout_p = p;
    expect_error(call(q, k, v, bad_p), {"dropout_p must be in [0, 1]"});
  }
  AttentionOptions no_window;
  no_window.window = 0;
  expect_error(call(q, k, v, no_window), {"window must be at least 1", "got 0"});
  AttentionOptions fused;
  fused.impl = AttentionImpl::Fused;
  expect_error([&] { F::scaled_dot_product_attention_with_weights(q, k, v, fused); },
               {"weights exist only on the plain path"});
}

TEST(SdpaBadInputTest, ARefusedCallDrawsNoRandomNumbers) {
  manual_seed(26);
  const uint64_t offset = default_generator().offset();
  AttentionOptions options;
  options.dropout_p = 0.2;
  options.window = -1;
  EXPECT_THROW(F::scaled_dot_product_attention(zeros({2, 3}), zeros({2, 3}), zeros({2, 3}), options),
               Error);
  EXPECT_EQ(default_generator().offset(), offset);
}

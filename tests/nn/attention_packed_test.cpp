// attention_packed_test.cpp: scaled_dot_product_attention_packed, attention on a (B, T, 3C)
// projection whose fused kernel reads q, k and v in place and writes d(qkv) in one piece. It
// must be the composition it replaces (split into heads, scaled_dot_product_attention, merge the
// heads) value for value, forward and backward, on every kernel, mask kind, dropout and dtype;
// give the same bits on 1 and 2 threads; and refuse malformed calls with a clear Error. Its
// float64 gradients are checked against finite differences in nn/gradcheck_cases_nn.cpp.
//
// Legend: B batch, T tokens, H heads, D head size, C = H * D.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "functional_test_helpers.h"
#include "nn/attention.h"
#include "nn/functional.h"
#include "nn/functional/attention_internal.h"

using namespace ag;
using namespace ag::testing;
namespace F = ag::nn::functional;
using F::AttentionImpl;
using F::AttentionOptions;

namespace {

enum class Mask { None, Causal, Window, Bool, Float };

struct Case {
  int64_t B, T, H, D;
  Mask mask;
  bool dropout;
};

std::string describe(const Case& c, const std::string& kernel, DType dtype) {
  static const char* names[] = {"none", "causal", "window", "bool", "float"};
  return kernel + " " + (dtype == kFloat32 ? "float32" : "float64") + ", mask " +
         names[static_cast<int>(c.mask)] + (c.dropout ? " + dropout" : "") + " (B=" +
         std::to_string(c.B) + ", T=" + std::to_string(c.T) + ", H=" + std::to_string(c.H) +
         ", D=" + std::to_string(c.D) + ")";
}

AttentionOptions options_for(const Case& c, DType dtype) {
  AttentionOptions o;
  o.impl = AttentionImpl::Fused;
  o.is_causal = c.mask == Mask::Causal || c.mask == Mask::Window;
  if (c.mask == Mask::Window) o.window = 9;
  if (c.mask == Mask::Bool)  // broadcast over B and H
    o.attn_mask = lt(rand({c.T, c.T}), full({}, 0.7));
  if (c.mask == Mask::Float)  // a learned per-head bias, broadcast over B
    o.attn_mask = randn({c.H, c.T, c.T}).to(dtype).requires_grad_();
  if (c.dropout) o.dropout_p = 0.25;
  return o;
}

struct PackedRun {
  Tensor out, dqkv, dmask;
};

// The loss sum(out * g) and its gradients, through the packed op or through the composition.
PackedRun run(const Tensor& qkv, int64_t H, AttentionOptions o, const Tensor& g, bool packed) {
  Tensor leaf = qkv.detach().requires_grad_();
  Tensor mask_leaf;
  if (o.attn_mask && o.attn_mask->requires_grad()) {
    mask_leaf = o.attn_mask->detach().requires_grad_();
    o.attn_mask = mask_leaf;
  }
  const int64_t B = qkv.size(0), T = qkv.size(1), C = qkv.size(2) / 3, D = C / H;
  manual_seed(99);  // the same dropout draws for both
  Tensor out;
  if (packed) {
    out = F::scaled_dot_product_attention_packed(leaf, H, o);
  } else {
    auto heads = [&](int64_t part) {
      return leaf.narrow(2, part * C, C).reshape({B, T, H, D}).transpose(1, 2);
    };
    const Tensor y = F::scaled_dot_product_attention(heads(0), heads(1), heads(2), o);
    out = y.transpose(1, 2).contiguous().view({B, T, C});
  }
  (out * g).sum().backward();
  return {out.detach(), leaf.grad(), mask_leaf.defined() ? mask_leaf.grad() : Tensor()};
}

const std::vector<Case> kCases = {
    {2, 37, 3, 5, Mask::Causal, false},  // D not a whole vector: k and v rows are copied
    {1, 70, 2, 16, Mask::Window, true},  // crosses a key tile of 64; rows read in place
    {2, 17, 4, 8, Mask::Bool, false},
    {1, 33, 2, 16, Mask::Float, false},
    {3, 20, 1, 32, Mask::None, true},
    {1, 1, 1, 1, Mask::Causal, false},
};

}  // namespace

TEST(AttentionPackedTest, EqualsSplitAttendMergeOnEveryKernelAndDtype) {
  for (const std::string& kernel : F::detail::fused_attention_kernels_available()) {
    F::detail::set_fused_attention_kernel(kernel);
    for (DType dtype : {kFloat32, kFloat64}) {
      if (dtype == kFloat64 && kernel != "reference") continue;  // float64 runs the reference
      for (const Case& c : kCases) {
        manual_seed(5);
        const Tensor qkv = randn({c.B, c.T, 3 * c.H * c.D}).to(dtype);
        const Tensor g = randn({c.B, c.T, c.H * c.D}).to(dtype);
        const AttentionOptions o = options_for(c, dtype);
        const PackedRun packed = run(qkv, c.H, o, g, true), composed = run(qkv, c.H, o, g, false);
        const std::string what = describe(c, kernel, dtype);
        // Equal values (the composition adds zeros, which may turn a -0 into +0).
        EXPECT_EQ(max_abs_diff(packed.out, composed.out), 0.0) << what;
        EXPECT_EQ(max_abs_diff(packed.dqkv, composed.dqkv), 0.0) << what;
        if (c.mask == Mask::Float) {
          ASSERT_TRUE(packed.dmask.defined()) << what;
          EXPECT_EQ(max_abs_diff(packed.dmask, composed.dmask), 0.0) << what;
        }
        EXPECT_TRUE(all_finite(packed.dqkv)) << what;
      }
    }
  }
  F::detail::set_fused_attention_kernel("");
}

TEST(AttentionPackedTest, OneAndTwoThreadsGiveTheSameBits) {
  const int threads = get_num_threads();
  const Case c{2, 67, 3, 16, Mask::Causal, true};
  manual_seed(6);
  const Tensor qkv = randn({c.B, c.T, 3 * c.H * c.D}), g = randn({c.B, c.T, c.H * c.D});
  std::vector<PackedRun> runs;
  for (int n : {1, 2}) {
    set_num_threads(n);
    runs.push_back(run(qkv, c.H, options_for(c, kFloat32), g, true));
  }
  set_num_threads(threads);
  EXPECT_TRUE(bitwise_equal(runs[0].out, runs[1].out));
  EXPECT_TRUE(bitwise_equal(runs[0].dqkv, runs[1].dqkv));
}

TEST(AttentionPackedTest, PlainImplIsTheSameFunction) {
  manual_seed(7);
  const Tensor qkv = randn({2, 9, 12}).to(kFloat64), g = randn({2, 9, 4}).to(kFloat64);
  AttentionOptions fused;
  fused.is_causal = true;
  AttentionOptions plain = fused;
  plain.impl = AttentionImpl::Plain;
  const PackedRun a = run(qkv, 2, fused, g, true), b = run(qkv, 2, plain, g, true);
  EXPECT_LT(max_abs_diff(a.out, b.out), 1e-12);
  EXPECT_LT(max_abs_diff(a.dqkv, b.dqkv), 1e-12);
}

TEST(AttentionPackedTest, MalformedCallsAreErrors) {
  const Tensor qkv = randn({2, 5, 12});
  const std::string op = "scaled_dot_product_attention_packed";
  expect_error([&] { F::scaled_dot_product_attention_packed(Tensor(), 2); }, {op, "undefined"});
  expect_error([&] { F::scaled_dot_product_attention_packed(randn({5, 12}), 2); },
               {op, "(B, T, 3C)", "(5, 12)"});
  expect_error([&] { F::scaled_dot_product_attention_packed(randn({2, 5, 13}), 1); },
               {op, "(B, T, 3C)", "(2, 5, 13)"});
  expect_error([&] { F::scaled_dot_product_attention_packed(qkv, 3); },
               {op, "n_head", "C = 4", "got 3"});
  expect_error([&] { F::scaled_dot_product_attention_packed(qkv, 0); }, {op, "n_head", "got 0"});
  AttentionOptions bad_mask;
  bad_mask.attn_mask = ones({4, 4}, kBool);  // T is 5
  expect_error([&] { F::scaled_dot_product_attention_packed(qkv, 2, bad_mask); },
               {"scaled_dot_product_attention", "mask"});
}

TEST(AttentionPackedTest, CausalSelfAttentionTakesThePackedPathUnlessAskedForWeights) {
  // Without attention_weights_out the module runs the packed fused kernel; with it, the plain
  // path that forms the weights. Same function, so the outputs agree to rounding.
  manual_seed(8);
  auto attn = std::make_shared<nn::CausalSelfAttention>(16, 4, 0.0, true);
  const Tensor x = randn({2, 11, 16});
  const Tensor fast = attn->forward(x);
  std::vector<Tensor> weights;
  attn->attention_weights_out = &weights;
  const Tensor plain = attn->forward(x);
  attn->attention_weights_out = nullptr;
  ASSERT_EQ(weights.size(), 1u);
  EXPECT_EQ(weights[0].shape(), Shape({2, 4, 11, 11}));
  EXPECT_LT(max_abs_diff(fast, plain), 1e-5);
}

// multihead_attention_test.cpp: MultiheadAttention against attention written out by hand
// (project, slice each head's channels, softmax(q k^T / sqrt(D)) v, concatenate, project by
// W_O), for self- and cross-attention, and the masks: key padding (true = padded) and causal.
// Also nanoGPT's CausalSelfAttention against the same hand computation.
// Everything runs in float64 so agreement can be tight.
// Legend: B batch, T query length, S key length, C channels, H heads, D = C / H.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "nn/nn.h"
#include "tensor/kernels.h"

using namespace ag;
namespace F = ag::nn::functional;

namespace {

double max_abs_diff(const Tensor& a, const Tensor& b) { return (a - b).abs().max().item<double>(); }

// A bool tensor from 0/1 values.
Tensor bool_mask(const std::vector<double>& values, const Shape& shape) {
  return gt(from_vector(values, shape, kFloat64), zeros(shape, kFloat64));
}

// Random non-zero biases, so that a bias used in the wrong place shows up.
void randomise_biases(nn::MultiheadAttention& mha) {
  NoGradGuard no_grad;
  mha.in_proj_bias.copy_(randn(mha.in_proj_bias.shape(), kFloat64) * 0.5);
  mha.out_proj->bias.copy_(randn(mha.out_proj->bias.shape(), kFloat64) * 0.5);
}

// Attention by hand. query: (B, T, C)   key, value: (B, S, C)   attend: bool (B, T, S) or
// undefined (true = may attend)   returns: (B, T, C)
Tensor by_hand(nn::MultiheadAttention& mha, const Tensor& query, const Tensor& key,
               const Tensor& value, const Tensor& attend = {}) {
  const int64_t C = mha.embed_dim, H = mha.num_heads, D = C / H;
  const Tensor& w = mha.in_proj_weight;  // (3C, C)
  const Tensor& b = mha.in_proj_bias;    // (3C)
  const Tensor q = query.matmul(w.slice(0, 0, C).t()) + b.slice(0, 0, C);          // (B, T, C)
  const Tensor k = key.matmul(w.slice(0, C, 2 * C).t()) + b.slice(0, C, 2 * C);     // (B, S, C)
  const Tensor v = value.matmul(w.slice(0, 2 * C, 3 * C).t()) + b.slice(0, 2 * C, 3 * C);
  TensorList heads;
  for (int64_t h = 0; h < H; ++h) {
    const Tensor q_h = q.slice(2, h * D, (h + 1) * D);  // (B, T, D)
    const Tensor k_h = k.slice(2, h * D, (h + 1) * D);  // (B, S, D)
    const Tensor v_h = v.slice(2, h * D, (h + 1) * D);  // (B, S, D)
    Tensor scores = q_h.matmul(k_h.transpose(1, 2)) / std::sqrt(static_cast<double>(D));  // (B, T, S)
    if (attend.defined()) scores = scores.masked_fill(logical_not(attend), -INFINITY);
    heads.push_back(softmax(scores, -1).matmul(v_h));  // (B, T, D)
  }
  const Tensor concat = cat(heads, 2);  // (B, T, C)
  return concat.matmul(mha.out_proj->weight.t()) + mha.out_proj->bias;  // (B, T, C)
}

}  // namespace

TEST(MultiheadAttentionTest, EmbedDimNotDivisibleByHeadsIsError) {
  try {
    nn::MultiheadAttention mha(10, 3);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "MultiheadAttention: embed_dim=10 is not divisible by num_heads=3 "
                           "(every head gets embed_dim/num_heads channels)");
  }
  try {
    nn::CausalSelfAttention attn(10, 4);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("n_embd=10 is not divisible by n_head=4"), std::string::npos)
        << e.what();
  }
}

TEST(MultiheadAttentionTest, ParametersHavePyTorchsNamesAndShapes) {
  nn::MultiheadAttention mha(8, 2);
  const auto named = mha.named_parameters();
  ASSERT_EQ(named.size(), 4u);
  EXPECT_EQ(named[0].first, "in_proj_weight");
  EXPECT_EQ(named[0].second.shape(), (Shape{24, 8}));
  EXPECT_EQ(named[1].first, "in_proj_bias");
  EXPECT_EQ(named[2].first, "out_proj.weight");
  EXPECT_EQ(named[3].first, "out_proj.bias");
  EXPECT_EQ(nn::MultiheadAttention(8, 2, 0.0, /*bias=*/false).named_parameters().size(), 2u);
}

TEST(MultiheadAttentionTest, OneHeadEqualsSingleHeadSdpa) {
  manual_seed(0);
  nn::MultiheadAttention mha(6, 1);
  mha.to(kFloat64);
  randomise_biases(mha);
  const Tensor x = randn({2, 5, 6}, kFloat64);  // (B, T, C)
  const int64_t C = 6;
  const Tensor qkv = F::linear(x, mha.in_proj_weight, mha.in_proj_bias);  // (B, T, 3C)
  const Tensor q = qkv.slice(2, 0, C).unsqueeze(1);                        // (B, 1, T, C)
  const Tensor k = qkv.slice(2, C, 2 * C).unsqueeze(1);
  const Tensor v = qkv.slice(2, 2 * C, 3 * C).unsqueeze(1);
  const Tensor y = F::scaled_dot_product_attention(q, k, v).squeeze(1);  // (B, T, C)
  const Tensor expected = F::linear(y, mha.out_proj->weight, mha.out_proj->bias);
  const double diff = max_abs_diff(mha(x, x, x), expected);
  EXPECT_LT(diff, 1e-12) << "max |difference| " << diff;
}

TEST(MultiheadAttentionTest, HeadsAreThePerHeadComputationConcatenatedAndProjected) {
  manual_seed(1);
  nn::MultiheadAttention mha(8, 2);
  mha.to(kFloat64);
  randomise_biases(mha);
  const Tensor x = randn({2, 4, 8}, kFloat64);
  const double diff = max_abs_diff(mha(x, x, x), by_hand(mha, x, x, x));
  EXPECT_LT(diff, 1e-12) << "max |difference| " << diff;
}

TEST(MultiheadAttentionTest, CrossAttentionWithDifferentLengths) {
  manual_seed(2);
  nn::MultiheadAttention mha(8, 4);
  mha.to(kFloat64);
  randomise_biases(mha);
  const Tensor query = randn({2, 3, 8}, kFloat64);  // T = 3
  const Tensor key = randn({2, 5, 8}, kFloat64);    // S = 5
  const Tensor value = randn({2, 5, 8}, kFloat64);
  const Tensor out = mha(query, key, value);
  ASSERT_EQ(out.shape(), (Shape{2, 3, 8}));
  const double diff = max_abs_diff(out, by_hand(mha, query, key, value));
  EXPECT_LT(diff, 1e-12) << "max |difference| " << diff;
}

TEST(MultiheadAttentionTest, KeyPaddingMaskMakesOutputsIndependentOfPaddedKeys) {
  manual_seed(3);
  nn::MultiheadAttention mha(8, 2);
  mha.to(kFloat64);
  randomise_biases(mha);
  const Tensor query = randn({2, 3, 8}, kFloat64);
  Tensor key = randn({2, 5, 8}, kFloat64), value = randn({2, 5, 8}, kFloat64);
  // true = PADDED: batch 0 has 3 real keys, batch 1 has 4.
  const Tensor padded = bool_mask({0, 0, 0, 1, 1, 0, 0, 0, 0, 1}, {2, 5});
  const Tensor out = mha(query, key, value, padded);

  // Overwrite the padded keys and values with other numbers: nothing may change.
  const Tensor noise_mask = padded.unsqueeze(-1);  // (B, S, 1)
  const Tensor key2 = where(noise_mask, randn({2, 5, 8}, kFloat64) * 10.0, key);
  const Tensor value2 = where(noise_mask, randn({2, 5, 8}, kFloat64) * 10.0, value);
  EXPECT_EQ(mha(query, key2, value2, padded).to_vector<double>(), out.to_vector<double>());

  // And it is attention over the real keys only.
  const Tensor attend = logical_not(padded).unsqueeze(1).expand({2, 3, 5});  // (B, T, S)
  const double diff = max_abs_diff(out, by_hand(mha, query, key, value, attend));
  EXPECT_LT(diff, 1e-12) << "max |difference| " << diff;
  // Batch 0 equals attention over its first 3 keys, cut out.
  const Tensor cut = mha(query.narrow(0, 0, 1), key.narrow(0, 0, 1).narrow(1, 0, 3),
                         value.narrow(0, 0, 1).narrow(1, 0, 3));
  EXPECT_LT(max_abs_diff(out.narrow(0, 0, 1), cut), 1e-12);
}

TEST(MultiheadAttentionTest, KeyPaddingMaskOfWrongShapeOrDtypeIsError) {
  nn::MultiheadAttention mha(8, 2);
  const Tensor x = randn({2, 3, 8});
  try {
    mha(x, x, x, zeros({2, 4}, kBool));
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "MultiheadAttention: key_padding_mask must be a bool (B, S) = (2, 3) tensor "
                           "with true = padded, got (2, 4) bool");
  }
  EXPECT_THROW(mha(x, x, x, zeros({2, 3})), Error);
}

TEST(MultiheadAttentionTest, CausalWithPaddingCombinesBothMasks) {
  manual_seed(4);
  nn::MultiheadAttention mha(8, 2);
  mha.to(kFloat64);
  randomise_biases(mha);
  const Tensor x = randn({2, 4, 8}, kFloat64);
  const Tensor padded = bool_mask({0, 0, 0, 1, 0, 1, 0, 0}, {2, 4});
  const Tensor causal = tril(ones({4, 4}, kBool));                                          // (T, S)
  const Tensor attend = kernels::logical_and(logical_not(padded).unsqueeze(1), causal);  // (B, T, S)
  const Tensor out = mha(x, x, x, padded, /*is_causal=*/true);
  EXPECT_LT(max_abs_diff(out, by_hand(mha, x, x, x, attend)), 1e-12);
  // Causal alone matches sdpa's is_causal.
  EXPECT_LT(max_abs_diff(mha(x, x, x, std::nullopt, true), by_hand(mha, x, x, x, causal.expand({2, 4, 4}))),
            1e-12);
}

TEST(MultiheadAttentionTest, ForwardWithWeightsReturnsPerHeadWeights) {
  manual_seed(5);
  nn::MultiheadAttention mha(8, 2);
  mha.to(kFloat64);
  const Tensor query = randn({2, 3, 8}, kFloat64), key = randn({2, 5, 8}, kFloat64);
  const Tensor padded = bool_mask({0, 0, 0, 0, 1, 0, 0, 1, 1, 1}, {2, 5});
  const auto [out, weights] = mha.forward_with_weights(query, key, key, padded);
  ASSERT_EQ(weights.shape(), (Shape{2, 2, 3, 5}));  // (B, H, T, S)
  EXPECT_LT(max_abs_diff(weights.sum({-1}), ones({2, 2, 3}, kFloat64)), 1e-12);
  // Padded keys get weight 0.
  const auto w = weights.to_vector<double>();
  const auto p = padded.to_vector<int64_t>();
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t i = 0; i < 2 * 3; ++i)
      for (int64_t s = 0; s < 5; ++s)
        if (p[b * 5 + s]) EXPECT_EQ(w[(b * 6 + i) * 5 + s], 0.0);
  EXPECT_LT(max_abs_diff(out, mha(query, key, key, padded)), 1e-12);
}

TEST(MultiheadAttentionTest, GradcheckWrtQueryKeyAndProjections) {
  manual_seed(6);
  nn::MultiheadAttention mha(4, 2);
  mha.to(kFloat64);
  randomise_biases(mha);
  const Tensor query = randn({1, 3, 4}, kFloat64).requires_grad_();
  const Tensor key = randn({1, 2, 4}, kFloat64).requires_grad_();
  auto r = autograd::gradcheck([&](const TensorList&) { return mha(query, key, key); },
                               {query, key, mha.in_proj_weight, mha.out_proj->weight});
  EXPECT_TRUE(r.ok) << r.message;
}

TEST(CausalSelfAttentionTest, EqualsHandWrittenCausalAttention) {
  manual_seed(7);
  nn::CausalSelfAttention attn(8, 2);
  attn.to(kFloat64);
  {
    NoGradGuard no_grad;
    attn.c_attn->bias.copy_(randn({24}, kFloat64));
  }
  EXPECT_EQ(attn.named_parameters()[0].first, "c_attn.weight");
  EXPECT_EQ(attn.named_parameters()[2].first, "c_proj.weight");
  // CausalSelfAttention's c_attn is MultiheadAttention's stacked in_proj: copy it across.
  nn::MultiheadAttention mha(8, 2);
  mha.to(kFloat64);
  {
    NoGradGuard no_grad;
    mha.in_proj_weight.copy_(attn.c_attn->weight);
    mha.in_proj_bias.copy_(attn.c_attn->bias);
    mha.out_proj->weight.copy_(attn.c_proj->weight);
    mha.out_proj->bias.copy_(attn.c_proj->bias);
  }
  const Tensor x = randn({2, 5, 8}, kFloat64);
  const Tensor causal = tril(ones({5, 5}, kBool)).expand({2, 5, 5});
  EXPECT_LT(max_abs_diff(attn(x), by_hand(mha, x, x, x, causal)), 1e-12);
}

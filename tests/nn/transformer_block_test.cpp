// transformer_block_test.cpp: nanoGPT's Block: its parameter names, the pre-LayerNorm
// residual formula, causality (a token never reads the future), and a float64 gradcheck of the
// whole block with respect to its input and a few parameters.
// Legend: B batch, T sequence length, C channels.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "nn/nn.h"

using namespace ag;

namespace {

double max_abs_diff(const Tensor& a, const Tensor& b) { return (a - b).abs().max().item<double>(); }

// Every parameter drawn afresh from N(0, 0.3^2): the default init (unit LayerNorm weights,
// zero biases) would leave parts of the backward untested.
void randomise(nn::Module& m) {
  NoGradGuard no_grad;
  for (auto& [name, p] : m.named_parameters()) p.copy_(randn(p.shape(), p.dtype()) * 0.3);
}

}  // namespace

TEST(TransformerBlockTest, ParametersAreNamedAsNanoGPTsBlock) {
  nn::TransformerBlock block(8, 2);
  const std::vector<std::pair<std::string, Shape>> expected = {
      {"ln_1.weight", {8}},         {"ln_1.bias", {8}},
      {"attn.c_attn.weight", {24, 8}}, {"attn.c_attn.bias", {24}},
      {"attn.c_proj.weight", {8, 8}},  {"attn.c_proj.bias", {8}},
      {"ln_2.weight", {8}},         {"ln_2.bias", {8}},
      {"mlp.c_fc.weight", {32, 8}},    {"mlp.c_fc.bias", {32}},
      {"mlp.c_proj.weight", {8, 32}},  {"mlp.c_proj.bias", {8}},
  };
  const auto named = block.named_parameters();
  ASSERT_EQ(named.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(named[i].first, expected[i].first);
    EXPECT_EQ(named[i].second.shape(), expected[i].second) << expected[i].first;
  }
  // bias = false removes every bias, LayerNorms' included (nanoGPT's config.bias).
  EXPECT_EQ(nn::TransformerBlock(8, 2, 0.0, /*bias=*/false).named_parameters().size(), 6u);
}

TEST(TransformerBlockTest, IsPreNormResidual) {
  manual_seed(0);
  nn::TransformerBlock block(8, 2);
  block.to(kFloat64);
  randomise(block);
  const Tensor x = randn({2, 4, 8}, kFloat64);  // (B, T, C)
  const Tensor h = x + block.attn->forward(block.ln_1->forward(x));
  const Tensor expected = h + block.mlp->forward(block.ln_2->forward(h));
  EXPECT_LT(max_abs_diff(block(x), expected), 1e-12);
}

TEST(TransformerBlockTest, ATokenNeverReadsTheFuture) {
  manual_seed(1);
  nn::TransformerBlock block(8, 2);
  block.to(kFloat64);
  randomise(block);
  const Tensor x = randn({1, 6, 8}, kFloat64);
  Tensor changed = x.clone();
  {
    NoGradGuard no_grad;
    changed.narrow(1, 4, 2).copy_(randn({1, 2, 8}, kFloat64));  // tokens 4 and 5 only
  }
  const Tensor y = block(x), y_changed = block(changed);
  EXPECT_EQ(y.narrow(1, 0, 4).contiguous().to_vector<double>(),
            y_changed.narrow(1, 0, 4).contiguous().to_vector<double>());
  EXPECT_GT(max_abs_diff(y.narrow(1, 4, 2), y_changed.narrow(1, 4, 2)), 1e-3);
}

TEST(TransformerBlockTest, GradcheckWrtInputAndParameters) {
  // C = 8, 2 heads, T = 4, B = 2: 64 outputs, so the full Jacobian is checked.
  manual_seed(2);
  nn::TransformerBlock block(8, 2, /*dropout=*/0.0);
  block.to(kFloat64);
  randomise(block);
  const Tensor x = randn({2, 4, 8}, kFloat64).requires_grad_();
  auto r = autograd::gradcheck([&](const TensorList&) { return block(x); },
                               {x, block.ln_1->weight, block.attn->c_attn->weight,
                                block.attn->c_proj->bias, block.ln_2->bias,
                                block.mlp->c_fc->weight, block.mlp->c_proj->weight});
  EXPECT_TRUE(r.ok) << r.message;
  std::cout << "[ block gradcheck ] " << r.checked << " pairs, max abs error " << r.max_abs_error
            << ", max rel error " << r.max_rel_error << "\n";
}

// module_test.cpp: what every module shares: train()/eval() reaching every descendant,
// zero_grad, to(kFloat64) keeping tied weights tied; and the small modules' own contracts
// (Dropout's p, LayerNorm's normalisation and options, MLP's names).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>

#include "nn/nn.h"

using namespace ag;

namespace {

nn::GPTConfig tiny_config() {
  nn::GPTConfig config;
  config.block_size = 8;
  config.vocab_size = 11;
  config.n_layer = 2;
  config.n_head = 2;
  config.n_embd = 8;
  config.dropout = 0.1;
  return config;
}

// Calls fn(name, module) for m and every module below it.
void visit(const nn::Module& m, const std::string& name,
           const std::function<void(const std::string&, const nn::Module&)>& fn) {
  fn(name, m);
  for (const auto& [child_name, child] : m.named_children())
    visit(*child, name.empty() ? child_name : name + "." + child_name, fn);
}

}  // namespace

TEST(ModuleTest, TrainAndEvalReachEveryDescendant) {
  nn::GPT model(tiny_config());
  int visited = 0;
  visit(model, "", [&](const std::string& name, const nn::Module& m) {
    EXPECT_TRUE(m.is_training()) << name;
    ++visited;
  });
  EXPECT_GT(visited, 20);  // GPT, transformer, wte, ..., every block's dropouts
  model.eval();
  visit(model, "", [](const std::string& name, const nn::Module& m) { EXPECT_FALSE(m.is_training()) << name; });
  model.train();
  visit(model, "", [](const std::string& name, const nn::Module& m) { EXPECT_TRUE(m.is_training()) << name; });
}

TEST(ModuleTest, EvalSwitchesDropoutOff) {
  manual_seed(0);
  nn::GPT model(tiny_config());
  const Tensor idx = from_vector<int64_t>({1, 2, 3, 4, 5, 6}, {2, 3});
  model.eval();
  const auto a = model(idx).to_vector<float>();
  const auto b = model(idx).to_vector<float>();
  EXPECT_EQ(a, b);  // no dropout: deterministic
  model.train();
  EXPECT_NE(model(idx).to_vector<float>(), a);  // dropout 0.1 on: a different answer
}

TEST(ModuleTest, ZeroGradClearsEveryParameter) {
  nn::GPTConfig config = tiny_config();
  config.dropout = 0.0;
  nn::GPT model(config);
  const Tensor idx = from_vector<int64_t>({1, 2, 3, 4}, {1, 4});
  model.forward(idx, idx).second.backward();
  for (const auto& [name, p] : model.named_parameters()) EXPECT_TRUE(p.grad().defined()) << name;
  model.zero_grad();
  for (const auto& [name, p] : model.named_parameters()) EXPECT_FALSE(p.grad().defined()) << name;
}

TEST(ModuleTest, ToFloat64ConvertsEverythingAndKeepsTiedWeightsTied) {
  nn::GPT model(tiny_config());
  model.to(kFloat64);
  for (const auto& [name, t] : model.state_dict()) EXPECT_EQ(t.dtype(), kFloat64) << name;
  EXPECT_TRUE(model.lm_head->weight.is_same(model.wte->weight));
  const Tensor logits = model(from_vector<int64_t>({0, 1}, {1, 2}));
  EXPECT_EQ(logits.dtype(), kFloat64);
}

TEST(ModuleTest, NamesDescribeTheModules) {
  EXPECT_EQ(nn::Dropout(0.25).name(), "Dropout(p=0.25)");
  EXPECT_EQ(nn::LayerNorm(8).name(), "LayerNorm((8), eps=1e-05, elementwise_affine=true)");
  EXPECT_EQ(nn::MLP(8).name(), "MLP(n_embd=8, hidden=32, gelu=none)");
  EXPECT_EQ(nn::TransformerBlock(8, 2).name(), "TransformerBlock(n_embd=8, n_head=2)");
}

// ---- Dropout --------------------------------------------------------------------------------------

TEST(DropoutModuleTest, POutsideTheUnitIntervalIsError) {
  for (double p : {-0.1, 1.5}) {
    try {
      nn::Dropout dropout(p);
      FAIL() << "expected an Error for p=" << p;
    } catch (const Error& e) {
      EXPECT_EQ(std::string(e.what()),
                "Dropout: the drop probability p must be in [0, 1], got " + std::string(p < 0 ? "-0.1" : "1.5"));
    }
  }
  EXPECT_THROW(nn::Dropout(std::nan("")), Error);
  EXPECT_NO_THROW(nn::Dropout(0.0));
  EXPECT_NO_THROW(nn::Dropout(1.0));
}

TEST(DropoutModuleTest, TrainingZeroesOrScalesAndEvalIsIdentity) {
  manual_seed(7);
  nn::Dropout dropout(0.5);
  const Tensor x = ones({1000});
  const auto y = dropout(x).to_vector<float>();
  int zeros_seen = 0;
  for (float v : y) {
    EXPECT_TRUE(v == 0.0f || v == 2.0f) << v;  // survivors scaled by 1/(1-p)
    zeros_seen += v == 0.0f;
  }
  EXPECT_NEAR(zeros_seen, 500, 80);
  dropout.eval();
  EXPECT_TRUE(dropout(x).is_same(x));
}

// ---- LayerNorm ------------------------------------------------------------------------------------

TEST(LayerNormModuleTest, StartsAsAPlainNormalisation) {
  manual_seed(1);
  nn::LayerNorm norm(16);
  EXPECT_EQ(norm.weight.to_vector<float>(), std::vector<float>(16, 1.0f));
  EXPECT_EQ(norm.bias.to_vector<float>(), std::vector<float>(16, 0.0f));
  const Tensor x = randn({3, 4, 16}, kFloat64) * 3.0 + 2.0;
  norm.to(kFloat64);
  const Tensor y = norm(x);
  const Tensor mean = y.mean({-1});
  const Tensor var = y.var({-1}, /*unbiased=*/false);
  EXPECT_LT(mean.abs().max().item<double>(), 1e-9);
  EXPECT_LT((var - 1.0).abs().max().item<double>(), 1e-4);  // eps = 1e-5 shrinks it a hair
}

TEST(LayerNormModuleTest, OptionsDecideTheParameters) {
  EXPECT_EQ(nn::LayerNorm(8).named_parameters().size(), 2u);
  const auto no_bias = nn::LayerNorm(8, 1e-5, true, /*bias=*/false).named_parameters();
  ASSERT_EQ(no_bias.size(), 1u);
  EXPECT_EQ(no_bias[0].first, "weight");
  EXPECT_TRUE(nn::LayerNorm(8, 1e-5, /*elementwise_affine=*/false).parameters().empty());
  nn::LayerNorm two_dims(Shape{3, 4});
  EXPECT_EQ(two_dims.weight.shape(), (Shape{3, 4}));
  EXPECT_EQ(two_dims(randn({2, 3, 4})).shape(), (Shape{2, 3, 4}));
}

// ---- MLP ------------------------------------------------------------------------------------------

TEST(MLPTest, NamesShapesAndForward) {
  manual_seed(2);
  nn::MLP mlp(8);
  const auto named = mlp.named_parameters();
  ASSERT_EQ(named.size(), 4u);
  EXPECT_EQ(named[0].first, "c_fc.weight");
  EXPECT_EQ(named[0].second.shape(), (Shape{32, 8}));
  EXPECT_EQ(named[2].first, "c_proj.weight");
  EXPECT_EQ(named[2].second.shape(), (Shape{8, 32}));
  const Tensor x = randn({2, 3, 8});
  const Tensor expected = mlp.c_proj->forward(nn::functional::gelu(mlp.c_fc->forward(x)));
  EXPECT_EQ(mlp(x).to_vector<float>(), expected.to_vector<float>());
  EXPECT_THROW(nn::MLP(8, 0.0, true, "fast"), Error);
}

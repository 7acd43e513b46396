// transformer_block.h: nanoGPT's Block, one layer of a GPT:
//   x = x + attn(ln_1(x))
//   x = x + mlp(ln_2(x))
// Pre-LayerNorm (GPT-2's order, not the original paper's post-norm): each sublayer sees a
// normalised input, while the residual stream x itself is never normalised inside the block, so
// the gradient has an identity path from the loss to every layer. That is what lets deep
// stacks train without warm-up tricks.
#pragma once

#include <memory>
#include <string>

#include "nn/attention.h"
#include "nn/layer_norm.h"
#include "nn/mlp.h"
#include "nn/module.h"

namespace ag::nn {

class TransformerBlock : public Module {
 public:
  // n_embd must be divisible by n_head. bias applies to the LayerNorms and the Linears
  // (nanoGPT's config.bias); dropout to attention weights and both residual branches.
  TransformerBlock(int64_t n_embd, int64_t n_head, double dropout = 0.0, bool bias = true,
                   std::string gelu_approximate = "none");

  // x: (B, T, C)   returns: (B, T, C)
  Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }

  std::string name() const override;  // "TransformerBlock(n_embd=8, n_head=2)"

  std::shared_ptr<LayerNorm> ln_1;
  std::shared_ptr<CausalSelfAttention> attn;
  std::shared_ptr<LayerNorm> ln_2;
  std::shared_ptr<MLP> mlp;
};

}  // namespace ag::nn

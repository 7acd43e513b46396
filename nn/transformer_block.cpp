// transformer_block.cpp: pre-LayerNorm residual block (see transformer_block.h for why).
// Legend: B batch, T sequence length, C channels.
#include "nn/transformer_block.h"

#include <sstream>

namespace ag::nn {

TransformerBlock::TransformerBlock(int64_t n_embd, int64_t n_head, double dropout, bool bias,
                                   std::string gelu_approximate) {
  // Registration order is nanoGPT's, so named_parameters() lists the same names in the same order.
  ln_1 = register_module("ln_1", std::make_shared<LayerNorm>(n_embd, 1e-5, true, bias));
  attn = register_module("attn", std::make_shared<CausalSelfAttention>(n_embd, n_head, dropout, bias));
  ln_2 = register_module("ln_2", std::make_shared<LayerNorm>(n_embd, 1e-5, true, bias));
  mlp = register_module("mlp", std::make_shared<MLP>(n_embd, dropout, bias, std::move(gelu_approximate)));
}

Tensor TransformerBlock::forward(const Tensor& x) {
  // x: (B, T, C)
  Tensor h = x + attn->forward(ln_1->forward(x));  // (B, T, C): tokens exchange information
  return h + mlp->forward(ln_2->forward(h));       // (B, T, C): each token computes alone
}

std::string TransformerBlock::name() const {
  std::ostringstream os;
  os << "TransformerBlock(n_embd=" << attn->n_embd << ", n_head=" << attn->n_head << ")";
  return os.str();
}

}  // namespace ag::nn

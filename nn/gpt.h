// gpt.h: a GPT language model, nanoGPT's (Karpathy) model.py in C++: token and position
// embeddings, n_layer pre-LayerNorm transformer blocks, a final LayerNorm, and a linear head
// over the vocabulary whose weight is, by default, the token embedding itself (weight tying:
// the same matrix reads tokens in and writes them out).
//
// Parameter names are nanoGPT's, and Linear weights are stored (out, in) as in PyTorch, so a
// state dict loads in nanoGPT and back:
//   transformer.wte.weight (V, C)          transformer.wpe.weight (block_size, C)
//   transformer.h.{i}.ln_1.weight/bias     transformer.h.{i}.attn.c_attn.weight (3C, C)/bias
//   transformer.h.{i}.attn.c_proj.weight (C, C)/bias    transformer.h.{i}.ln_2.weight/bias
//   transformer.h.{i}.mlp.c_fc.weight (4C, C)/bias      transformer.h.{i}.mlp.c_proj.weight (C, 4C)/bias
//   transformer.ln_f.weight/bias           lm_head.weight (V, C), the same tensor as wte when tied
// A tied weight is one tensor: parameters() lists it once (as transformer.wte.weight), the
// state dict under both names, as PyTorch does.
//
// Legend: B batch, T sequence length, C = n_embd channels, V vocabulary size.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "nn/dropout.h"
#include "nn/embedding.h"
#include "nn/functional.h"
#include "nn/layer_norm.h"
#include "nn/linear.h"
#include "nn/module.h"
#include "nn/positional.h"
#include "nn/transformer_block.h"

namespace ag::nn {

// The model's shape, with nanoGPT's defaults (GPT-2 small, 124M parameters).
struct GPTConfig {
  int64_t block_size = 1024;   // longest sequence the model reads: the rows of wpe
  int64_t vocab_size = 50304;  // GPT-2's 50257 tokens padded up to a multiple of 64 (faster GEMMs)
  int64_t n_layer = 12;        // transformer blocks
  int64_t n_head = 12;         // attention heads per block; must divide n_embd
  int64_t n_embd = 768;        // channels C of the residual stream
  double dropout = 0.0;        // on embeddings, attention weights and residual branches (0 for pretraining)
  bool bias = true;            // biases in Linears and LayerNorms (GPT-2 has them; false is a bit better and faster)
  bool tie_weights = true;     // lm_head.weight is transformer.wte.weight (GPT-2 does this)
};

class GPT : public Module {
 public:
  // Builds the model and initialises it as nanoGPT does: N(0, 0.02) for Linear and Embedding
  // weights, zero biases, and N(0, 0.02 / sqrt(2 n_layer)) for every c_proj.weight (each block
  // adds two residual branches; the scale keeps the residual stream's variance from growing
  // with depth). Draws from the global generator: ag::manual_seed makes it reproducible.
  explicit GPT(const GPTConfig& config);

  // idx: int64 (B, T) token ids in [0, V), T <= block_size   returns: logits (B, T, V)
  // T > block_size is an Error naming both; an id outside [0, V) is the embedding's Error
  // naming the id and V.
  Tensor forward(const Tensor& idx);
  Tensor operator()(const Tensor& idx) { return forward(idx); }
  // The same plus the mean cross-entropy of predicting targets (B, T) from the logits:
  // returns (logits (B, T, V), loss (scalar)). Targets equal to options.ignore_index add
  // nothing; the default is F::CrossEntropyOptions's -100 (PyTorch's default). nanoGPT passes
  // -1: use F::CrossEntropyOptions().ignore_index_(-1) for that.
  std::pair<Tensor, Tensor> forward(const Tensor& idx, const Tensor& targets,
                                    const functional::CrossEntropyOptions& options = {});

  // Extends idx (B, T) by max_new_tokens sampled tokens, one at a time, as nanoGPT's generate:
  // crop the context to its last block_size tokens, take the last position's logits, divide by
  // temperature (< 1 sharpens, > 1 flattens), keep only the top_k largest (if given), softmax,
  // and draw from that distribution with `generator`. Runs under NoGradGuard in eval mode
  // (dropout off) and restores the training mode after.   returns: (B, T + max_new_tokens)
  Tensor generate(Tensor idx, int64_t max_new_tokens, double temperature = 1.0,
                  std::optional<int64_t> top_k = std::nullopt,
                  Generator& generator = default_generator());

  // nanoGPT's get_num_params: parameter elements, tied weights once; non_embedding leaves out
  // the position embedding (the token embedding stays: it is also the output layer).
  int64_t get_num_params(bool non_embedding = true) const;

  const GPTConfig& config() const { return config_; }
  std::string name() const override;  // "GPT(n_layer=2, n_head=2, n_embd=8, ...)"

  // The tree, under nanoGPT's names. transformer holds the rest; these are shortcuts into it.
  std::shared_ptr<ModuleDict> transformer;
  std::shared_ptr<Embedding> wte;                   // transformer.wte: tokens (V, C)
  std::shared_ptr<LearnedPositionalEmbedding> wpe;  // transformer.wpe: positions (block_size, C)
  std::shared_ptr<Dropout> drop;                    // transformer.drop
  std::shared_ptr<ModuleList> h;                    // transformer.h: the blocks
  std::shared_ptr<LayerNorm> ln_f;                  // transformer.ln_f
  std::shared_ptr<Linear> lm_head;                  // C -> V, no bias

 private:
  // idx: (B, T)   returns: the final normalised hidden states (B, T, C)
  Tensor hidden_states(const Tensor& idx);
  void init_weights();
  GPTConfig config_;
};

}  // namespace ag::nn

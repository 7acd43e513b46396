// attention.h: the attention modules. Both project the input to queries, keys and values,
// split the channels into H heads that attend independently (each with its own D = C/H
// channels, so H heads cost what one wide head costs), then merge the heads and project back:
//   head_h = softmax(q_h k_h^T / sqrt(D) + mask) v_h,   out = concat(head_1..head_H) W_O^T + b_O
// The attention itself is F::scaled_dot_product_attention; these modules own the projections.
//
//   MultiheadAttention   PyTorch's nn.MultiheadAttention: self- or cross-attention, padding
//                        masks, optional per-head weights. Parameter names are PyTorch's
//                        (in_proj_weight, in_proj_bias, out_proj.weight, out_proj.bias).
//   CausalSelfAttention  nanoGPT's: one Linear c_attn (C -> 3C) makes q, k and v at once,
//                        c_proj (C -> C) projects back; always causal. GPT uses this one.
//
// Legend: B batch, T query length, S key length, C = embed_dim channels, H heads,
// D = C / H head size.
//
// Where attograd differs from PyTorch's nn.MultiheadAttention:
//   - inputs are always batch first, (B, T, C) (PyTorch's batch_first=True);
//   - key and value must have C channels (no kdim/vdim);
//   - forward returns the output only; forward_with_weights also returns the weights per head,
//     (B, H, T, S) (PyTorch's need_weights=True, average_attn_weights=False), computed by the
//     plain path since the fused one never materialises them;
//   - there is no attn_mask argument: is_causal and key_padding_mask cover the module's uses,
//     and F::scaled_dot_product_attention takes any other mask (there, bool true = may attend).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "nn/dropout.h"
#include "nn/linear.h"
#include "nn/module.h"

namespace ag::nn {

class MultiheadAttention : public Module {
 public:
  // embed_dim must be divisible by num_heads (Error naming both). dropout is applied to the
  // attention weights while training. bias = false drops in_proj_bias and out_proj.bias.
  MultiheadAttention(int64_t embed_dim, int64_t num_heads, double dropout = 0.0, bool bias = true);

  // query: (B, T, C)   key, value: (B, S, C)   returns: (B, T, C)
  // key_padding_mask: bool (B, S), true = PADDED: that key is ignored by every query. This is
  //   PyTorch's polarity for key_padding_mask, and the OPPOSITE of sdpa's bool attn_mask
  //   (true = may attend). A query whose keys are all padded gets a zero row (no NaN).
  // is_causal: query i sees only keys j <= i + (S - T), i.e. the last query sees every key.
  Tensor forward(const Tensor& query, const Tensor& key, const Tensor& value,
                 const std::optional<Tensor>& key_padding_mask = {}, bool is_causal = false);
  Tensor operator()(const Tensor& query, const Tensor& key, const Tensor& value,
                    const std::optional<Tensor>& key_padding_mask = {}, bool is_causal = false) {
    return forward(query, key, value, key_padding_mask, is_causal);
  }
  // The same, also returning the attention weights per head (after dropout): (B, H, T, S).
  std::pair<Tensor, Tensor> forward_with_weights(const Tensor& query, const Tensor& key,
                                                 const Tensor& value,
                                                 const std::optional<Tensor>& key_padding_mask = {},
                                                 bool is_causal = false);

  void reset_parameters();  // PyTorch's: xavier_uniform in_proj_weight, zero biases

  std::string name() const override;  // "MultiheadAttention(embed_dim=8, num_heads=2, ...)"

  Tensor in_proj_weight;  // (3C, C): rows [0, C) make q, [C, 2C) make k, [2C, 3C) make v
  Tensor in_proj_bias;    // (3C), or undefined when bias = false
  std::shared_ptr<Linear> out_proj;  // W_O: C -> C
  int64_t embed_dim;
  int64_t num_heads;
  int64_t head_dim;  // D = C / H
  double dropout;

 private:
  std::pair<Tensor, Tensor> attend(const Tensor& query, const Tensor& key, const Tensor& value,
                                   const std::optional<Tensor>& key_padding_mask, bool is_causal,
                                   bool need_weights);
};

class CausalSelfAttention : public Module {
 public:
  // n_embd must be divisible by n_head (Error naming both). dropout is used twice, as in
  // nanoGPT: on the attention weights and on the output (the residual branch).
  CausalSelfAttention(int64_t n_embd, int64_t n_head, double dropout = 0.0, bool bias = true);

  // x: (B, T, C)   returns: (B, T, C); token t attends to tokens 0..t only
  Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }

  std::string name() const override;  // "CausalSelfAttention(n_embd=8, n_head=2, dropout=0)"

  std::shared_ptr<Linear> c_attn;          // C -> 3C: q, k, v side by side
  std::shared_ptr<Linear> c_proj;          // C -> C: W_O
  std::shared_ptr<Dropout> resid_dropout;  // on the output
  int64_t n_embd;
  int64_t n_head;
  double attn_dropout;  // on the attention weights, inside sdpa (nanoGPT's flash path)
  // When set, forward takes the plain path (which forms the weights; slower) and appends this
  // call's attention weights, (B, H, T, T), to the list: how examples draw attention maps.
  // Not owned; set it back to nullptr when done.
  std::vector<Tensor>* attention_weights_out = nullptr;
};

}  // namespace ag::nn

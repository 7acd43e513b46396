// attention.cpp: MultiheadAttention and nanoGPT's CausalSelfAttention.
// Both run the same pipeline; only where q, k and v come from differs:
//   1. project:  q = query W_q^T + b_q, k = key W_k^T + b_k, v = value W_v^T + b_v
//   2. split:    (B, T, C) -> (B, H, T, D), a view plus a transpose: head h owns channels
//                [h D, (h + 1) D) of every token
//   3. attend:   F::scaled_dot_product_attention per (batch, head)
//   4. merge:    (B, H, T, D) -> (B, T, C), the inverse of step 2 (one copy, to make it contiguous)
//   5. project back with W_O.
// Legend: B batch, T query length, S key length, C channels, H heads, D = C / H.
#include "nn/attention.h"

#include <cmath>
#include <sstream>

#include "nn/functional.h"
#include "nn/init.h"
#include "tensor/kernels.h"

namespace ag::nn {

namespace F = functional;

namespace {

void check_divisible(std::string_view op, const char* dim_name, int64_t dim, const char* heads_name,
                     int64_t heads) {
  if (heads <= 0)
    throw Error(op, heads_name, " must be positive, got ", heads_name, "=", heads);
  if (dim <= 0 || dim % heads != 0)
    throw Error(op, dim_name, "=", dim, " is not divisible by ", heads_name, "=", heads,
                " (every head gets ", dim_name, "/", heads_name, " channels)");
}

std::string shape_or_undefined(const Tensor& t) {
  return t.defined() ? t.shape().str() : std::string("undefined");
}

// x: (B, T, C)   returns: (B, H, T, D), a view when x's channels are contiguous
Tensor split_heads(const Tensor& x, int64_t H) {
  const int64_t B = x.size(0), T = x.size(1), C = x.size(2);
  return x.reshape({B, T, H, C / H})  // (B, T, H, D)
      .transpose(1, 2);               // (B, H, T, D)
}

// y: (B, H, T, D)   returns: (B, T, C) with C = H * D, heads side by side along channels
Tensor merge_heads(const Tensor& y) {
  const int64_t B = y.size(0), H = y.size(1), T = y.size(2), D = y.size(3);
  return y.transpose(1, 2)      // (B, T, H, D)
      .contiguous()
      .view({B, T, H * D});      // (B, T, C)
}

}  // namespace

// ---- MultiheadAttention ------------------------------------------------------------------------

MultiheadAttention::MultiheadAttention(int64_t embed_dim, int64_t num_heads, double dropout, bool bias)
    : embed_dim(embed_dim), num_heads(num_heads), dropout(dropout) {
  check_divisible("MultiheadAttention", "embed_dim", embed_dim, "num_heads", num_heads);
  if (!(dropout >= 0.0 && dropout <= 1.0))
    throw Error("MultiheadAttention", "dropout must be in [0, 1], got ", dropout);
  head_dim = embed_dim / num_heads;
  const int64_t C = embed_dim;
  in_proj_weight = register_parameter("in_proj_weight", empty({3 * C, C}));  // (3C, C)
  if (bias) in_proj_bias = register_parameter("in_proj_bias", empty({3 * C}));  // (3C)
  out_proj = register_module("out_proj", std::make_shared<Linear>(C, C, bias));
  reset_parameters();
}

void MultiheadAttention::reset_parameters() {
  // PyTorch's _reset_parameters: xavier on the stacked (3C, C) matrix, zero biases; out_proj
  // keeps Linear's default weight init.
  init::xavier_uniform_(in_proj_weight);
  if (in_proj_bias.defined()) init::zeros_(in_proj_bias);
  if (out_proj->bias.defined()) init::zeros_(out_proj->bias);
}

std::pair<Tensor, Tensor> MultiheadAttention::attend(const Tensor& query, const Tensor& key,
                                                     const Tensor& value,
                                                     const std::optional<Tensor>& key_padding_mask,
                                                     bool is_causal, bool need_weights) {
  const int64_t C = embed_dim, H = num_heads;
  if (!query.defined() || query.dim() != 3 || query.size(2) != C)
    throw Error("MultiheadAttention", "query must be (B, T, ", C, "), got ", shape_or_undefined(query));
  if (!key.defined() || !value.defined() || key.dim() != 3 || key.shape() != value.shape() ||
      key.size(2) != C || key.size(0) != query.size(0))
    throw Error("MultiheadAttention", "key and value must both be (B, S, ", C, ") with the query's B=",
                query.size(0), ", got key ", shape_or_undefined(key), " and value ",
                shape_or_undefined(value));
  const int64_t B = query.size(0), T = query.size(1), S = key.size(1);

  // 1. project. Rows [i C, (i + 1) C) of the stacked weight make q (i = 0), k (1) and v (2).
  auto project = [&](const Tensor& x, int64_t i) {
    const Tensor w = in_proj_weight.narrow(0, i * C, C);  // (C, C)
    std::optional<Tensor> b;
    if (in_proj_bias.defined()) b = in_proj_bias.narrow(0, i * C, C);  // (C)
    return F::linear(x, w, b);  // (B, T or S, C)
  };
  // 2. split heads
  const Tensor q = split_heads(project(query, 0), H);  // (B, H, T, D)
  const Tensor k = split_heads(project(key, 1), H);    // (B, H, S, D)
  const Tensor v = split_heads(project(value, 2), H);  // (B, H, S, D)

  // The mask: sdpa's bool mask means "may attend", so padded keys are flipped into it.
  F::AttentionOptions options;
  options.dropout_p = dropout;
  options.training = is_training();
  options.is_causal = is_causal;
  if (key_padding_mask) {
    const Tensor& padded = *key_padding_mask;
    if (!padded.defined() || padded.dtype() != kBool || padded.shape() != Shape{B, S})
      throw Error("MultiheadAttention", "key_padding_mask must be a bool (B, S) = (", B, ", ", S,
                  ") tensor with true = padded, got ",
                  padded.defined() ? padded.shape().str() + " " + std::string(dtype_name(padded.dtype()))
                                   : std::string("undefined"));
    Tensor attend = logical_not(padded).view({B, 1, 1, S});  // (B, 1, 1, S), true = may attend
    if (is_causal) {
      // Fold the causal band in here rather than asking sdpa for a mask and is_causal at once:
      // key j is visible from query i when j <= i + (S - T), as sdpa aligns the two.
      const Tensor causal = tril(ones({T, S}, kBool), S - T);  // (T, S)
      attend = kernels::logical_and(attend, causal);         // (B, 1, T, S)
      options.is_causal = false;
    }
    options.attn_mask = attend;
  }

  // 3. attend, 4. merge heads, 5. project back
  Tensor y, weights;
  if (need_weights) {
    options.impl = F::AttentionImpl::Plain;
    std::tie(y, weights) = F::scaled_dot_product_attention_with_weights(q, k, v, options);
  } else {
    y = F::scaled_dot_product_attention(q, k, v, options);  // (B, H, T, D)
  }
  return {out_proj->forward(merge_heads(y)), weights};  // (B, T, C), (B, H, T, S)
}

Tensor MultiheadAttention::forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                   const std::optional<Tensor>& key_padding_mask, bool is_causal) {
  return attend(query, key, value, key_padding_mask, is_causal, /*need_weights=*/false).first;
}

std::pair<Tensor, Tensor> MultiheadAttention::forward_with_weights(
    const Tensor& query, const Tensor& key, const Tensor& value,
    const std::optional<Tensor>& key_padding_mask, bool is_causal) {
  return attend(query, key, value, key_padding_mask, is_causal, /*need_weights=*/true);
}

std::string MultiheadAttention::name() const {
  std::ostringstream os;
  os << "MultiheadAttention(embed_dim=" << embed_dim << ", num_heads=" << num_heads
     << ", dropout=" << dropout << ", bias=" << (in_proj_bias.defined() ? "true" : "false") << ")";
  return os.str();
}

// ---- CausalSelfAttention -----------------------------------------------------------------------

CausalSelfAttention::CausalSelfAttention(int64_t n_embd, int64_t n_head, double dropout, bool bias)
    : n_embd(n_embd), n_head(n_head), attn_dropout(dropout) {
  check_divisible("CausalSelfAttention", "n_embd", n_embd, "n_head", n_head);
  c_attn = register_module("c_attn", std::make_shared<Linear>(n_embd, 3 * n_embd, bias));
  c_proj = register_module("c_proj", std::make_shared<Linear>(n_embd, n_embd, bias));
  resid_dropout = register_module("resid_dropout", std::make_shared<Dropout>(dropout));
}

Tensor CausalSelfAttention::forward(const Tensor& x) {
  const int64_t C = n_embd;
  if (!x.defined() || x.dim() != 3 || x.size(2) != C)
    throw Error("CausalSelfAttention", "expected x of shape (B, T, ", C, "), got ", shape_or_undefined(x));

  // 1. project: one matmul makes q, k and v side by side, nanoGPT's c_attn
  const Tensor qkv = c_attn->forward(x);  // (B, T, 3C)
  F::AttentionOptions options;
  options.is_causal = true;
  options.dropout_p = attn_dropout;
  options.training = is_training();
  Tensor y;  // (B, T, C): every head's output, side by side
  if (attention_weights_out) {
    // 2. split each third into heads, 3. attend causally on the plain path, which forms the
    // weights we were asked to keep, 4. merge the heads
    const Tensor q = split_heads(qkv.narrow(2, 0, C), n_head);      // (B, H, T, D)
    const Tensor k = split_heads(qkv.narrow(2, C, C), n_head);      // (B, H, T, D)
    const Tensor v = split_heads(qkv.narrow(2, 2 * C, C), n_head);  // (B, H, T, D)
    auto [heads, weights] = F::scaled_dot_product_attention_with_weights(q, k, v, options);
    attention_weights_out->push_back(weights);                      // (B, H, T, T)
    y = merge_heads(heads);
  } else {
    // 2-4 in one op: the same function, but the fused kernel reads each head's q, k and v in
    // place in qkv and writes y with the heads already merged (and d(qkv) in one piece), so
    // no head is ever copied out or back. The blocks above the diagonal are skipped.
    y = F::scaled_dot_product_attention_packed(qkv, n_head, options);
  }
  // 5. project back, then dropout on the residual branch
  return resid_dropout->forward(c_proj->forward(y));  // (B, T, C)
}

std::string CausalSelfAttention::name() const {
  std::ostringstream os;
  os << "CausalSelfAttention(n_embd=" << n_embd << ", n_head=" << n_head
     << ", dropout=" << attn_dropout << ")";
  return os.str();
}

}  // namespace ag::nn

// functional.h: the stateless half of nn, as ag::nn::functional (alias it F, as in PyTorch):
// the functions a transformer is made of. Modules (nn/*.h) hold parameters and call these.
//
// Legend: B batch, T query length, S key length, C channels, H heads, D = d_k head size,
// V vocabulary (number of classes), N rows.
//
// Where attograd differs from PyTorch:
//   - cross_entropy takes logits (N, C) or (..., C) with targets of the leading shape; PyTorch
//     puts the class dim second for (N, C, d1, ...). Soft (probability) targets are not taken.
//   - scaled_dot_product_attention has an extra `window` (sliding-window, local attention) and
//     a choice of implementation; its dropout mask comes from a counter-based generator keyed
//     by (seed, batch, head, row, column), the same in both implementations.
//   - A fully masked query row (every key masked) gives a zero output row and zero gradients
//     (PyTorch gives NaN).
//   - attn_mask may be combined with is_causal (and window): a key must pass all of them.
//     PyTorch refuses a mask together with is_causal.
//   - cross_entropy with Reduction::Mean and every target ignored returns 0 with zero
//     gradients (PyTorch returns NaN).
//   - layer_norm requires eps > 0 (a constant row has variance 0 and would divide by zero).
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "autograd/autograd.h"

namespace ag::nn::functional {

// ---- activations and normalisation -----------------------------------------------------------
// Each along dim; rows are shifted by their max, so no overflow at logits of 1e4.
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);
// x: any shape   approximate: "none" (erf) or "tanh" (GPT-2)   returns: same shape
Tensor gelu(const Tensor& x, const std::string& approximate = "none");
// gelu(h + bias) in one op, the end of the MLP's first layer (see activation.cpp): one pass each
// way instead of a bias pass and a GELU pass.   h: (..., C)   bias: (C)   returns: h's shape
Tensor bias_gelu(const Tensor& h, const Tensor& bias, const std::string& approximate = "none");
// Normalizes over the trailing dims in normalized_shape, then scales and shifts. One fused
// kernel forward and backward (saving mean and rstd per row); a constant row is finite.
// x: (..., *normalized_shape)   weight, bias: normalized_shape   returns: same shape as x
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape,
                  const std::optional<Tensor>& weight = {}, const std::optional<Tensor>& bias = {},
                  double eps = 1e-5);

// ---- regularisation ----------------------------------------------------------------------------
// Zeroes each element with probability p and scales the rest by 1/(1-p) when training;
// the identity when not. p = 0 is the identity, p = 1 gives zeros; p outside [0, 1] throws.
Tensor dropout(const Tensor& x, double p = 0.5, bool training = true);

// ---- layers as functions ---------------------------------------------------------------------
// y = x W^T + b.   x: (..., in)   weight: (out, in)   bias: (out)   returns: (..., out)
Tensor linear(const Tensor& x, const Tensor& weight, const std::optional<Tensor>& bias = {});
// ids: int64, any shape   weight: (V, C)   returns: (*ids.shape, C)
Tensor embedding(const Tensor& ids, const Tensor& weight);

// ---- losses --------------------------------------------------------------------------------------
enum class Reduction { Mean, Sum, None };
struct CrossEntropyOptions {
  int64_t ignore_index = -100;  // targets equal to this add no loss and no gradient
  Reduction reduction = Reduction::Mean;  // Mean divides by the number of non-ignored targets
  double label_smoothing = 0.0;  // in [0, 1]: mixes the one-hot target with uniform
  CrossEntropyOptions& ignore_index_(int64_t v) { ignore_index = v; return *this; }
  CrossEntropyOptions& reduction_(Reduction v) { reduction = v; return *this; }
  CrossEntropyOptions& label_smoothing_(double v) { label_smoothing = v; return *this; }
};
// Fused log_softmax + negative log-likelihood; its backward is softmax - one_hot, per row.
// logits: (N, V) or (..., V)   targets: int64 (N) or (...)   returns: scalar, or (N) for None
Tensor cross_entropy(const Tensor& logits, const Tensor& targets,
                     const CrossEntropyOptions& options = {});

// ---- attention ---------------------------------------------------------------------------------
enum class AttentionImpl {
  Auto,   // fused when no weights are asked for (so not twice differentiable: see Plain)
  Plain,  // matmul, mask, softmax, dropout, matmul: O(T*S) memory, can return the weights
  Fused,  // tiled with an online softmax: O(T) extra memory, backward by recomputation;
          // its backward throws under create_graph (use Plain for gradients of gradients).
          // float32 runs on AVX-512 / AVX2 kernels when the CPU has them (env
          // AG_ATTENTION_KERNEL=reference|avx2|avx512 forces one); float64 on scalar loops
};

struct AttentionOptions {
  std::optional<Tensor> attn_mask;   // bool (true = may attend) or float (added to scores),
                                     // broadcastable to (B, H, T, S)
  double dropout_p = 0.0;            // on the attention weights; only when training
  bool is_causal = false;            // query i sees keys j <= i (+ S - T offset, see below)
  std::optional<double> scale;       // default 1/sqrt(D)
  std::optional<int64_t> window;     // sliding window: query i sees keys in (i - window, i];
                                     // implies causal; window >= 1
  AttentionImpl impl = AttentionImpl::Auto;
  bool training = true;              // dropout only while training
};

// softmax(q k^T * scale + mask) v, per batch and head.
// q: (B, H, T, D)   k: (B, H, S, D)   v: (B, H, S, Dv)   returns: (B, H, T, Dv)
// Leading dims may be any broadcast-compatible batch shape ((B, T, D) works too). Causal and
// window masks align the last query with the last key when T != S (as with a KV cache).
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const std::optional<Tensor>& attn_mask = {},
                                    double dropout_p = 0.0, bool is_causal = false,
                                    std::optional<double> scale = std::nullopt);
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const AttentionOptions& options);
// Self-attention on a packed projection, as nanoGPT's c_attn makes it (flash-attn calls this
// form "qkvpacked"):
//   qkv: (B, T, 3C) = [q | k | v] along the channels, each C = n_head * D wide
//   returns: (B, T, C), the heads side by side
// The same function as splitting qkv into heads, scaled_dot_product_attention and merging the
// heads again, with the same bits. On the fused path it is cheaper: the kernel reads q, k and v
// in place and writes the merged output and d(qkv) directly, where the composition copies q, k,
// v and the output, and its backward zero-fills and adds three (B, T, 3C) gradients.
// impl = Plain runs the composition.
Tensor scaled_dot_product_attention_packed(const Tensor& qkv, int64_t n_head,
                                           const AttentionOptions& options = {});
// The plain path, also returning the attention weights (B, H, T, S) after dropout, for
// visualisation. impl = Fused is an Error: the fused kernel never forms the weights.
std::pair<Tensor, Tensor> scaled_dot_product_attention_with_weights(
    const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& options);

}  // namespace ag::nn::functional

// attention_internal.h: what the plain (attention.cpp) and fused (fused_attention.cpp) paths of
// scaled_dot_product_attention share, so the two compute the same function by construction:
// the checked problem (shapes, scale, masks), which keys each query may see under the causal
// and sliding-window masks, and the dropout decision for one attention weight.
//
// Legend: B batch (all leading dims flattened, "batch-head" below), T query length, S key
// length, D = d_k head size of q and k, Dv head size of v.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "nn/functional.h"
#include "tensor/random.h"

namespace ag::nn::functional::detail {

// Mixed into every attention-dropout draw, so attention's mask is independent of any other
// keyed stream that happens to use the same seed and indices.
inline constexpr uint64_t kAttentionDropoutSalt = 0xA77E'4710'0D70'9001ull;

// A validated call: everything both paths need besides q, k and v themselves.
struct AttentionProblem {
  Shape batch;                  // the broadcast leading dims of q, k and v, e.g. (B, H)
  int64_t num_batch = 1;        // batch.numel(): the number of (batch, head) pairs
  int64_t T = 0, S = 0, D = 0, Dv = 0;
  double scale = 1.0;
  std::optional<Tensor> mask;   // bool or float, broadcastable to (*batch, T, S)
  bool is_causal = false;
  std::optional<int64_t> window;
  // Dropout on the weights, active only when training with p > 0. seed is drawn once per call
  // from the global generator; (seed, batch-head, row, column) then fixes every decision.
  bool dropout = false;
  double dropout_p = 0.0;
  uint64_t seed = 0;

  Shape scores_shape() const {  // (*batch, T, S)
    Shape shape = batch;
    shape.push_back(T);
    shape.push_back(S);
    return shape;
  }
  bool has_structural_mask() const { return is_causal || window.has_value(); }

  // The keys [first, last) that query i may see under the causal and window masks (any
  // attn_mask comes on top). Queries are aligned to the end of the keys: with T != S, query i
  // sits at key position i + S - T (the last query sees the last key, as with a KV cache).
  // The range is contiguous and moves right with i; that is what lets the fused kernel skip
  // whole tiles of keys.
  std::pair<int64_t, int64_t> key_range(int64_t i) const {
    int64_t first = 0, last = S;
    if (has_structural_mask()) {
      const int64_t position = i + S - T;
      last = std::clamp<int64_t>(position + 1, 0, S);
      if (window) first = std::clamp<int64_t>(position - *window + 1, 0, S);
    }
    return {first, std::max(first, last)};
  }

  // The factor dropout puts on weight (batch-head bh, row i, column j): 0 where dropped, else
  // 1 / (1 - p). Counter-based, so the fused backward regenerates it instead of storing it.
  double dropout_factor(int64_t bh, int64_t i, int64_t j) const {
    if (!dropout) return 1.0;
    if (keyed_uniform(seed, static_cast<uint64_t>(bh), static_cast<uint64_t>(i),
                      static_cast<uint64_t>(j), kAttentionDropoutSalt) < dropout_p)
      return 0.0;
    return 1.0 / (1.0 - dropout_p);
  }
};

// Checks q, k, v and the options (every caller error is reported here, once), works out the
// shared problem, and draws the dropout seed when dropout is active.
AttentionProblem make_attention_problem(const Tensor& q, const Tensor& k, const Tensor& v,
                                        const AttentionOptions& options);

// The plain path: (out (*batch, T, Dv), weights (*batch, T, S) after dropout).
std::pair<Tensor, Tensor> plain_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                          const AttentionProblem& problem);

// The fused path: out (*batch, T, Dv).
Tensor fused_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                       const AttentionProblem& problem);
// The fused path on a packed projection: qkv (B, T, 3C) contiguous, the problem made from its
// heads (batch (B, H)); out (B, T, C) with the heads merged. Reads q, k, v in place and writes
// d(qkv) directly (see scaled_dot_product_attention_packed).
Tensor fused_attention_packed(const Tensor& qkv, int64_t H, const AttentionProblem& problem);

// Which kernels the fused path runs float32 on: "avx512", "avx2" (vector kernels, chosen from
// the CPU) or "reference" (the double-accumulating loops every kernel is tested against; also
// what float64 always runs). The default is the first of fused_attention_kernels_available(),
// or AG_ATTENTION_KERNEL when set. For tests and benchmarks; an unavailable name is an Error,
// and "" restores the default.
std::vector<std::string> fused_attention_kernels_available();  // widest first
void set_fused_attention_kernel(std::string_view name);
std::string fused_attention_kernel();
// exp of every element, computed by the named kernel set's vector exp (tensor/simd/vec_exp.h),
// or by libm for "reference": lets tests check the exp the kernels use on its own.
std::vector<float> fused_attention_kernel_exp(std::string_view kernel, std::vector<float> x);

}  // namespace ag::nn::functional::detail

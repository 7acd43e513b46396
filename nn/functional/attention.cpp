// attention.cpp: scaled dot-product attention (Vaswani et al., 2017), the public entry points
// and the plain path, built from differentiable ops exactly as the formula reads:
//
//   scores  = q k^T * scale              scale = 1/sqrt(d_k) by default
//   scores  = scores masked / biased     bool mask: false -> -inf; float mask: added
//   weights = softmax(scores)            per query row, over the keys
//   weights = weights * dropout mask     only when training
//   out     = weights v
//
// Why 1/sqrt(d_k): with unit-variance q and k, a dot product of d_k terms has variance d_k, so
// for d_k = 512 the scores spread over +-50, softmax puts ~all its weight on one key, and its
// gradient vanishes. Dividing by sqrt(d_k) brings the variance back to 1 (it does not bound the
// scores to [-1, 1]; nothing does, and nothing needs to).
//
// Why masks write -inf and never multiply: exp(-inf) = 0 removes a key from the softmax
// exactly. Multiplying scores by a 0/1 matrix instead sets them to 0, and exp(0) = 1 still gives
// those keys weight. A row whose keys are all -inf has no valid softmax (0/0); the softmax
// kernel defines it as zeros, so the output row and every gradient through it are zero.
//
// Every step is an autograd op, so the backward is the chain rule through them, gradients of
// gradients work, and the weights can be returned. The cost is a (B, H, T, S) tensor of scores
// and another of weights; fused_attention.cpp computes the same function in O(T) extra memory.
// Both paths share their checks, mask rules and dropout decisions (attention_internal.h), and
// the tests hold them to agreement.
//
// Legend: B batch, H heads (any leading dims, "batch" below), T queries, S keys, D = d_k, Dv.
#include <cmath>
#include <limits>

#include "nn/functional.h"
#include "nn/functional/attention_internal.h"
#include "tensor/kernels.h"

namespace ag::nn::functional {

namespace detail {

namespace {

constexpr std::string_view kOp = "scaled_dot_product_attention";

// The NumPy broadcast of two leading shapes, or nullopt when they do not broadcast.
std::optional<Shape> broadcast_lead(const Shape& a, const Shape& b) {
  const size_t n = std::max(a.size(), b.size());
  Shape out(n, 1);
  for (size_t i = 0; i < n; ++i) {
    const int64_t x = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t y = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (x != y && x != 1 && y != 1) return std::nullopt;
    out[i] = x == 1 ? y : x;
  }
  return out;
}

Shape lead_shape(const Tensor& x) { return Shape(x.shape().begin(), x.shape().end() - 2); }

}  // namespace

AttentionProblem make_attention_problem(const Tensor& q, const Tensor& k, const Tensor& v,
                                        const AttentionOptions& options) {
  if (!q.defined() || !k.defined() || !v.defined())
    throw Error(kOp, "q, k or v is undefined");
  if (!q.is_floating_point() || k.dtype() != q.dtype() || v.dtype() != q.dtype())
    throw Error(kOp, "q, k and v must share one floating dtype (float32 or float64): q is ",
                q.dtype(), ", k is ", k.dtype(), ", v is ", v.dtype());
  if (q.dim() < 2 || k.dim() < 2 || v.dim() < 2)
    throw Error(kOp, "q, k and v need at least 2 dims (..., length, head size): q is ",
                q.shape(), ", k is ", k.shape(), ", v is ", v.shape());
  AttentionProblem p;
  p.T = q.size(-2);
  p.S = k.size(-2);
  p.D = q.size(-1);
  p.Dv = v.size(-1);
  if (k.size(-1) != p.D)
    throw Error(kOp, "q and k must share the head size D (their last dim): q is ", q.shape(),
                ", k is ", k.shape());
  if (v.size(-2) != p.S)
    throw Error(kOp, "k and v must hold the same number of keys S (their dim -2): k is ",
                k.shape(), ", v is ", v.shape());
  if (p.D == 0)
    throw Error(kOp, "the head size D is 0 (q is ", q.shape(), ", k is ", k.shape(),
                "): there is nothing to score with");
  auto batch = broadcast_lead(lead_shape(q), lead_shape(k));
  if (batch) batch = broadcast_lead(*batch, lead_shape(v));
  if (!batch)
    throw Error(kOp, "the batch dims of q, k and v do not broadcast: q is ", q.shape(),
                ", k is ", k.shape(), ", v is ", v.shape());
  p.batch = *batch;
  p.num_batch = p.batch.numel();

  if (!(options.dropout_p >= 0.0 && options.dropout_p <= 1.0))
    throw Error(kOp, "dropout_p must be in [0, 1], got ", options.dropout_p);
  if (options.window && *options.window < 1)
    throw Error(kOp, "window must be at least 1 (a query always sees itself), got ",
                *options.window);
  if (options.scale && !std::isfinite(*options.scale))
    throw Error(kOp, "scale must be finite, got ", *options.scale);
  p.scale = options.scale ? *options.scale : 1.0 / std::sqrt(static_cast<double>(p.D));
  p.is_causal = options.is_causal;
  p.window = options.window;

  if (options.attn_mask) {
    const Tensor& mask = *options.attn_mask;
    if (!mask.defined()) throw Error(kOp, "attn_mask is undefined");
    if (mask.dtype() != kBool && mask.dtype() != q.dtype())
      throw Error(kOp, "attn_mask must be bool (true = may attend) or of q's dtype ", q.dtype(),
                  " (added to the scores), got ", mask.dtype());
    const Shape full = p.scores_shape();
    bool fits = mask.dim() <= static_cast<int64_t>(full.size());
    for (int64_t d = 1; fits && d <= mask.dim(); ++d) {
      const int64_t have = mask.size(-d), want = full[full.size() - d];
      fits = have == want || have == 1;
    }
    if (!fits)
      throw Error(kOp, "attn_mask of shape ", mask.shape(), " does not broadcast to the scores' "
                  "shape (batch..., T, S) = ", full, " (q is ", q.shape(), ", k is ", k.shape(),
                  ")");
    p.mask = mask;
  }

  p.dropout = options.training && options.dropout_p > 0.0;
  p.dropout_p = options.dropout_p;
  // Drawn last, after every check, so a refused call leaves the global stream untouched.
  if (p.dropout) p.seed = default_generator().next_u64();
  return p;
}

std::pair<Tensor, Tensor> plain_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                          const AttentionProblem& p) {
  const Shape scores_shape = p.scores_shape();                    // (*batch, T, S)
  constexpr double kMinusInf = -std::numeric_limits<double>::infinity();
  Tensor scores = matmul(q, k.transpose(-2, -1)) * p.scale;      // (*batch, T, S)
  // q and k alone may have fewer batch dims than v; the masks below are laid out on all of them.
  if (scores.shape() != scores_shape) scores = scores.expand(scores_shape);
  if (p.mask && p.mask->dtype() == kBool)
    scores = masked_fill(scores, logical_not(*p.mask), kMinusInf);  // false = may not attend
  else if (p.mask)
    scores = scores + *p.mask;                                   // an additive bias
  if (p.has_structural_mask()) {
    // blocked[i][j] = j outside query i's causal / window range.   (T, S)
    std::vector<bool> blocked(static_cast<size_t>(p.T * p.S));
    for (int64_t i = 0; i < p.T; ++i) {
      const auto [first, last] = p.key_range(i);
      for (int64_t j = 0; j < p.S; ++j) blocked[i * p.S + j] = j < first || j >= last;
    }
    scores = masked_fill(scores, from_vector(blocked, {p.T, p.S}), kMinusInf);
  }
  Tensor weights = functional::softmax(scores, -1);                         // (*batch, T, S)
  if (p.dropout) {
    // The factor for (batch-head bh, i, j), the same numbers the fused kernel draws.
    Tensor factor = empty(scores_shape, q.dtype());              // (*batch, T, S)
    dispatch_floating(q.dtype(), kOp, [&](auto zero) {
      using scalar_t = decltype(zero);
      scalar_t* f = factor.data_ptr<scalar_t>();
      parallel_for(0, p.num_batch, 1, [&](int64_t b0, int64_t b1) {
        for (int64_t bh = b0; bh < b1; ++bh)
          for (int64_t i = 0; i < p.T; ++i)
            for (int64_t j = 0; j < p.S; ++j)
              f[(bh * p.T + i) * p.S + j] = static_cast<scalar_t>(p.dropout_factor(bh, i, j));
      });
    });
    weights = weights * factor;
  }
  Tensor out = matmul(weights, v);                               // (*batch, T, Dv)
  return {out, weights};
}

}  // namespace detail

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const AttentionOptions& options) {
  const detail::AttentionProblem problem = detail::make_attention_problem(q, k, v, options);
  // Auto takes the fused kernel: the same function in less memory. Plain is for gradients of
  // gradients (the fused backward is not differentiable) and for looking at the weights.
  if (options.impl == AttentionImpl::Plain) return detail::plain_attention(q, k, v, problem).first;
  return detail::fused_attention(q, k, v, problem);
}

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const std::optional<Tensor>& attn_mask, double dropout_p,
                                    bool is_causal, std::optional<double> scale) {
  AttentionOptions options;
  options.attn_mask = attn_mask;
  options.dropout_p = dropout_p;  // applied whenever > 0, as in torch's functional form
  options.is_causal = is_causal;
  options.scale = scale;
  return scaled_dot_product_attention(q, k, v, options);
}

Tensor scaled_dot_product_attention_packed(const Tensor& qkv, int64_t n_head,
                                           const AttentionOptions& options) {
  constexpr std::string_view op = "scaled_dot_product_attention_packed";
  if (!qkv.defined()) throw Error(op, "qkv is undefined");
  if (qkv.dim() != 3 || qkv.size(2) % 3 != 0)
    throw Error(op, "qkv must be (B, T, 3C), q, k and v side by side; got shape ", qkv.shape());
  const int64_t C = qkv.size(2) / 3;
  if (n_head < 1 || C % n_head != 0)
    throw Error(op, "n_head must be at least 1 and divide C = ", C, " (qkv is ", qkv.shape(),
                "), got ", n_head);
  const int64_t B = qkv.size(0), T = qkv.size(1), D = C / n_head;
  auto heads = [&](int64_t part) {  // (B, H, T, D): one third of qkv, split into heads
    return qkv.narrow(2, part * C, C).reshape({B, T, n_head, D}).transpose(1, 2);
  };
  if (options.impl == AttentionImpl::Plain) {
    const Tensor q = heads(0), k = heads(1), v = heads(2);
    const detail::AttentionProblem problem = detail::make_attention_problem(q, k, v, options);
    const Tensor y = detail::plain_attention(q, k, v, problem).first;  // (B, H, T, D)
    return y.transpose(1, 2).contiguous().view({B, T, C});
  }
  detail::AttentionProblem problem;
  {
    NoGradGuard no_grad;  // the heads are only looked at, to check the call and size the problem
    problem = detail::make_attention_problem(heads(0), heads(1), heads(2), options);
  }
  return detail::fused_attention_packed(qkv.contiguous(), n_head, problem);
}

std::pair<Tensor, Tensor> scaled_dot_product_attention_with_weights(
    const Tensor& q, const Tensor& k, const Tensor& v, const AttentionOptions& options) {
  if (options.impl == AttentionImpl::Fused)
    throw Error("scaled_dot_product_attention", "the weights exist only on the plain path; "
                "the fused kernel never forms them (use AttentionImpl::Plain or Auto)");
  const detail::AttentionProblem problem = detail::make_attention_problem(q, k, v, options);
  return detail::plain_attention(q, k, v, problem);
}

}  // namespace ag::nn::functional

// fused_attention.cpp: scaled_dot_product_attention without ever forming the (T, S) scores:
// FlashAttention's online softmax (Dao et al. 2022; Dao 2023 for the backward), as plain loops.
//
// The idea. softmax needs the row maximum and the row sum before it can weight any value, which
// seems to need the whole row of scores at once. It does not: walk the keys in tiles and keep,
// per query row, the running maximum m, the running sum l = sum exp(s - m), and the running
// output acc = sum exp(s - m) v. When a tile raises the maximum from m to m', everything summed
// so far was scaled by exp(-m) and must be scaled by exp(-m') instead, so multiply l and acc by
// exp(m - m') and carry on. After the last tile, out = acc / l exactly, and the row's
// log-sum-exp lse = m + log l is all the backward needs to rebuild any weight:
//   p_ij = exp(s_ij - lse_i).
// Extra memory: lse, one number per query row (O(T)), instead of the (T, S) weights.
//
// The backward recomputes each tile's scores from q, k and lse (FlashAttention-2), with
// dP = dy v^T and delta_i = sum_c dy_ic out_ic (= sum_j p_ij dP_ij, the softmax's projection):
//   dv_j += p_ij z_ij dy_i                        z: the dropout factor (0 or 1/(1-p))
//   ds_ij = p_ij (z_ij dP_ij - delta_i)           the softmax backward, one element at a time
//   dq_i += scale ds_ij k_j       dk_j += scale ds_ij q_i       d(float mask)_ij = ds_ij
// Dropout is regenerated from its keyed generator (attention_internal.h), never stored.
//
// The causal and window masks allow each query a contiguous range of keys that moves right
// with the query (AttentionProblem::key_range), so tiles outside a block's range are never
// touched: with a window W the cost is O(T W), not O(T S).
//
// Work is split into (batch-head, block of 16 queries) items in the forward and batch-heads in
// the backward (each batch-head's dk and dv sum over all its queries). Items write disjoint
// outputs and each is computed in a fixed order, so results are bitwise identical for any
// thread count. Scores and sums are accumulated in double for both dtypes: this is the scalar
// reference a faster kernel will be tested against.
//
// The backward is raw loops, so it cannot be differentiated again: with create_graph it refuses
// with an Error pointing to AttentionImpl::Plain, whose backward is made of autograd ops.
//
// Legend: B = batch-heads (all leading dims flattened), T queries, S keys, D = d_k, Dv.
#include <cmath>
#include <limits>
#include <vector>

#include "autograd/node.h"
#include "nn/functional.h"
#include "nn/functional/attention_internal.h"
#include "tensor/kernels.h"

namespace ag::nn::functional::detail {

using autograd::Grads;
using autograd::record;

namespace {

constexpr std::string_view kOp = "scaled_dot_product_attention";
constexpr int64_t kQueryBlock = 16;  // query rows that share each loaded key tile
constexpr int64_t kKeyTile = 64;     // keys per tile: 64 * D values of k and v stay in cache
constexpr double kMinusInf = -std::numeric_limits<double>::infinity();

// The attn_mask, read in place as if broadcast to (B, T, S): element (bh, i, j) sits at
// base[bh] + i * stride_t + j * stride_s of the mask's data (strides are 0 along size-1 dims).
template <typename scalar_t>
struct MaskView {
  const bool* allowed = nullptr;   // bool mask: true = may attend
  const scalar_t* bias = nullptr;  // float mask: added to the score
  std::vector<int64_t> base;       // (B)
  int64_t stride_t = 0, stride_s = 0;

  int64_t offset(int64_t bh, int64_t i, int64_t j) const {
    return base[bh] + i * stride_t + j * stride_s;
  }
};

template <typename scalar_t>
MaskView<scalar_t> make_mask_view(const AttentionProblem& p) {
  MaskView<scalar_t> view;
  if (!p.mask) return view;
  const Tensor& mask = *p.mask;
  const Strides strides = broadcast_strides(mask.shape(), mask.strides(), p.scores_shape());
  const int64_t num_lead = static_cast<int64_t>(p.batch.size());
  view.stride_t = strides[num_lead];
  view.stride_s = strides[num_lead + 1];
  view.base.resize(static_cast<size_t>(p.num_batch));
  for (int64_t bh = 0; bh < p.num_batch; ++bh) {  // bh -> its multi-index over the batch dims
    int64_t rest = bh, offset = 0;
    for (int64_t d = num_lead - 1; d >= 0; --d) {
      offset += (rest % p.batch[d]) * strides[d];
      rest /= p.batch[d];
    }
    view.base[bh] = offset;
  }
  if (mask.dtype() == kBool) view.allowed = mask.data_ptr<bool>();
  else view.bias = mask.data_ptr<scalar_t>();
  return view;
}

// Everything the kernels read.   q: (B, T, D)   k: (B, S, D)   v: (B, S, Dv), all contiguous
template <typename scalar_t>
struct Inputs {
  const scalar_t* q;
  const scalar_t* k;
  const scalar_t* v;
  MaskView<scalar_t> mask;
  const AttentionProblem* problem;

  // s_ij = scale * q_i . k_j + bias_ij, or -inf where the attn_mask forbids (bh, i, j). The
  // forward and the backward both call this, so the recomputed scores are the same bits.
  double score(int64_t bh, int64_t i, int64_t j) const {
    const AttentionProblem& p = *problem;
    if (mask.allowed && !mask.allowed[mask.offset(bh, i, j)]) return kMinusInf;
    const scalar_t* q_row = q + (bh * p.T + i) * p.D;
    const scalar_t* k_row = k + (bh * p.S + j) * p.D;
    double dot = 0.0;
    for (int64_t d = 0; d < p.D; ++d) dot += static_cast<double>(q_row[d]) * k_row[d];
    double s = p.scale * dot;
    if (mask.bias) s += mask.bias[mask.offset(bh, i, j)];
    return s;
  }
};

// out: (B, T, Dv)   lse: (B, T), -inf for a row that sees no key
template <typename scalar_t>
void attention_forward(scalar_t* out, double* lse, const Inputs<scalar_t>& in) {
  const AttentionProblem& p = *in.problem;
  const int64_t T = p.T, Dv = p.Dv;
  const int64_t num_blocks = (T + kQueryBlock - 1) / kQueryBlock;
  parallel_for(0, p.num_batch * num_blocks, 1, [&](int64_t item_begin, int64_t item_end) {
    std::vector<double> s(kKeyTile);                 // one row of one tile's scores
    std::vector<double> m(kQueryBlock), l(kQueryBlock);
    std::vector<double> acc(kQueryBlock * Dv);       // (block rows, Dv)
    for (int64_t item = item_begin; item < item_end; ++item) {
      const int64_t bh = item / num_blocks;
      const int64_t i0 = (item % num_blocks) * kQueryBlock, i1 = std::min(T, i0 + kQueryBlock);
      std::fill(m.begin(), m.end(), kMinusInf);
      std::fill(l.begin(), l.end(), 0.0);
      std::fill(acc.begin(), acc.end(), 0.0);
      // The block's keys: from its first row's first key to its last row's last (the ranges
      // move right with i). Tiles outside are skipped, never scored.
      const int64_t block_first = p.key_range(i0).first, block_last = p.key_range(i1 - 1).second;
      for (int64_t j0 = block_first; j0 < block_last; j0 += kKeyTile) {
        const int64_t tile_end = std::min(block_last, j0 + kKeyTile);
        for (int64_t i = i0; i < i1; ++i) {
          auto [first, last] = p.key_range(i);
          first = std::max(first, j0);
          last = std::min(last, tile_end);
          if (first >= last) continue;
          double tile_max = kMinusInf;
          for (int64_t j = first; j < last; ++j) {
            s[j - j0] = in.score(bh, i, j);
            tile_max = std::max(tile_max, s[j - j0]);
          }
          if (tile_max == kMinusInf) continue;  // every key of this tile masked for row i
          const int64_t r = i - i0;
          double* acc_row = acc.data() + r * Dv;
          // Rescale what was summed against the old maximum (exp(-inf) = 0 on the first tile).
          const double m_new = std::max(m[r], tile_max);
          const double alpha = std::exp(m[r] - m_new);
          l[r] *= alpha;
          for (int64_t c = 0; c < Dv; ++c) acc_row[c] *= alpha;
          for (int64_t j = first; j < last; ++j) {
            const double weight = std::exp(s[j - j0] - m_new);  // 0 where masked (-inf)
            l[r] += weight;  // the softmax normalises over the weights before dropout
            const double kept = weight * p.dropout_factor(bh, i, j);
            if (kept == 0.0) continue;
            const scalar_t* v_row = in.v + (bh * p.S + j) * Dv;
            for (int64_t c = 0; c < Dv; ++c) acc_row[c] += kept * v_row[c];
          }
          m[r] = m_new;
        }
      }
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t r = i - i0;
        scalar_t* out_row = out + (bh * T + i) * Dv;
        // l = 0: the row saw no key (fully masked). Defined as a zero row; lse = -inf tells
        // the backward to give it zero gradients.
        const double inv_l = l[r] > 0.0 ? 1.0 / l[r] : 0.0;
        for (int64_t c = 0; c < Dv; ++c) out_row[c] = static_cast<scalar_t>(acc[r * Dv + c] * inv_l);
        lse[bh * T + i] = l[r] > 0.0 ? m[r] + std::log(l[r]) : kMinusInf;
      }
    }
  });
}

// dq: (B, T, D)   dk: (B, S, D)   dv: (B, S, Dv)   dbias: (B, T, S) zero-filled, or null
// dy, out: (B, T, Dv)   lse: (B, T)
template <typename scalar_t>
void attention_backward(scalar_t* dq, scalar_t* dk, scalar_t* dv, scalar_t* dbias,
                        const scalar_t* dy, const scalar_t* out, const double* lse,
                        const Inputs<scalar_t>& in) {
  const AttentionProblem& p = *in.problem;
  const int64_t T = p.T, S = p.S, D = p.D, Dv = p.Dv;
  const int64_t num_blocks = (T + kQueryBlock - 1) / kQueryBlock;
  parallel_for(0, p.num_batch, 1, [&](int64_t bh_begin, int64_t bh_end) {
    std::vector<double> dk_acc(S * D), dv_acc(S * Dv), dq_acc(kQueryBlock * D), delta(T);
    for (int64_t bh = bh_begin; bh < bh_end; ++bh) {
      std::fill(dk_acc.begin(), dk_acc.end(), 0.0);
      std::fill(dv_acc.begin(), dv_acc.end(), 0.0);
      // delta_i = dy_i . out_i = sum_j p_ij dP_ij: what every weight's gradient is measured
      // against, because the weights of a row sum to one.
      for (int64_t i = 0; i < T; ++i) {
        const scalar_t* dy_row = dy + (bh * T + i) * Dv;
        const scalar_t* out_row = out + (bh * T + i) * Dv;
        double sum = 0.0;
        for (int64_t c = 0; c < Dv; ++c) sum += static_cast<double>(dy_row[c]) * out_row[c];
        delta[i] = sum;
      }
      for (int64_t block = 0; block < num_blocks; ++block) {
        const int64_t i0 = block * kQueryBlock, i1 = std::min(T, i0 + kQueryBlock);
        std::fill(dq_acc.begin(), dq_acc.end(), 0.0);
        const int64_t block_first = p.key_range(i0).first, block_last = p.key_range(i1 - 1).second;
        for (int64_t j0 = block_first; j0 < block_last; j0 += kKeyTile) {
          const int64_t tile_end = std::min(block_last, j0 + kKeyTile);
          for (int64_t i = i0; i < i1; ++i) {
            const double row_lse = lse[bh * T + i];
            if (row_lse == kMinusInf) continue;  // fully masked row: zero output, zero grads
            auto [first, last] = p.key_range(i);
            first = std::max(first, j0);
            last = std::min(last, tile_end);
            const scalar_t* q_row = in.q + (bh * T + i) * D;
            const scalar_t* dy_row = dy + (bh * T + i) * Dv;
            double* dq_row = dq_acc.data() + (i - i0) * D;
            for (int64_t j = first; j < last; ++j) {
              const double s = in.score(bh, i, j);
              if (s == kMinusInf) continue;  // masked: p = 0, so no gradient either way
              const double prob = std::exp(s - row_lse);  // the softmax weight, rebuilt
              const double z = p.dropout_factor(bh, i, j);
              const scalar_t* k_row = in.k + (bh * S + j) * D;
              const scalar_t* v_row = in.v + (bh * S + j) * Dv;
              double dp = 0.0;  // dL/d(weight before dropout) = z * dy_i . v_j
              if (z != 0.0) {
                double dot = 0.0;
                double* dv_row = dv_acc.data() + j * Dv;
                for (int64_t c = 0; c < Dv; ++c) {
                  dot += static_cast<double>(dy_row[c]) * v_row[c];
                  dv_row[c] += prob * z * dy_row[c];
                }
                dp = z * dot;
              }
              const double ds = prob * (dp - delta[i]);
              double* dk_row = dk_acc.data() + j * D;
              for (int64_t d = 0; d < D; ++d) {
                dq_row[d] += ds * k_row[d];
                dk_row[d] += ds * q_row[d];
              }
              if (dbias) dbias[(bh * T + i) * S + j] = static_cast<scalar_t>(ds);
            }
          }
        }
        for (int64_t i = i0; i < i1; ++i)
          for (int64_t d = 0; d < D; ++d)
            dq[(bh * T + i) * D + d] = static_cast<scalar_t>(p.scale * dq_acc[(i - i0) * D + d]);
      }
      for (int64_t j = 0; j < S; ++j) {
        for (int64_t d = 0; d < D; ++d)
          dk[(bh * S + j) * D + d] = static_cast<scalar_t>(p.scale * dk_acc[j * D + d]);
        for (int64_t c = 0; c < Dv; ++c)
          dv[(bh * S + j) * Dv + c] = static_cast<scalar_t>(dv_acc[j * Dv + c]);
      }
    }
  });
}

// x: (..., rows, cols), leading dims broadcastable to batch   returns: (B, rows, cols),
// contiguous. Differentiable (expand, reshape, contiguous), so autograd sums the gradient of a
// broadcast input back to its shape and copies it back out of a non-contiguous layout.
Tensor as_batched(const Tensor& x, const Shape& batch, int64_t num_batch) {
  Shape full = batch;
  full.push_back(x.size(-2));
  full.push_back(x.size(-1));
  const Tensor expanded = x.shape() == full ? x : x.expand(full);
  return expanded.reshape({num_batch, x.size(-2), x.size(-1)}).contiguous();
}

}  // namespace

Tensor fused_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                       const AttentionProblem& problem) {
  const int64_t B = problem.num_batch, T = problem.T, S = problem.S;
  const Tensor q3 = as_batched(q, problem.batch, B);  // (B, T, D)
  const Tensor k3 = as_batched(k, problem.batch, B);  // (B, S, D)
  const Tensor v3 = as_batched(v, problem.batch, B);  // (B, S, Dv)
  // A float mask that requires grad (a learned bias) is an input of the op; a bool mask or a
  // constant one is only read.
  const bool mask_needs_grad = problem.mask && problem.mask->requires_grad();
  const Tensor mask_input = mask_needs_grad ? *problem.mask : Tensor();

  Tensor out = empty({B, T, problem.Dv}, q.dtype());  // (B, T, Dv)
  // Kept in float64 even for float32 inputs, as FlashAttention keeps its lse in float32 for
  // float16: the backward exponentiates s - lse, which magnifies an error in lse.
  Tensor lse = empty({B, T}, kFloat64);               // (B, T)
  dispatch_floating(q.dtype(), kOp, [&](auto zero) {
    using scalar_t = decltype(zero);
    const Inputs<scalar_t> in{q3.data_ptr<scalar_t>(), k3.data_ptr<scalar_t>(),
                              v3.data_ptr<scalar_t>(), make_mask_view<scalar_t>(problem), &problem};
    attention_forward<scalar_t>(out.data_ptr<scalar_t>(), lse.data_ptr<double>(), in);
  });

  out = record("fused_attention", out, {q3, k3, v3, mask_input},
               [q3, k3, v3, lse, problem, mask_needs_grad, B, T, S](const Tensor& dy,
                                                                    const Tensor& y) {
    if (GradMode::is_enabled())
      throw Error(kOp, "the fused kernel's backward cannot be differentiated twice; use "
                  "AttentionImpl::Plain (options.impl) when you need gradients of gradients "
                  "(create_graph=true)");
    const Tensor dy_c = kernels::contiguous(dy);  // (B, T, Dv)
    Tensor dq = empty(q3.shape(), q3.dtype()), dk = empty(k3.shape(), k3.dtype());
    Tensor dv = empty(v3.shape(), v3.dtype());
    Tensor dbias = mask_needs_grad ? zeros({B, T, S}, q3.dtype()) : Tensor();  // (B, T, S)
    dispatch_floating(q3.dtype(), kOp, [&](auto zero) {
      using scalar_t = decltype(zero);
      const Inputs<scalar_t> in{q3.data_ptr<scalar_t>(), k3.data_ptr<scalar_t>(),
                                v3.data_ptr<scalar_t>(), make_mask_view<scalar_t>(problem),
                                &problem};
      attention_backward<scalar_t>(dq.data_ptr<scalar_t>(), dk.data_ptr<scalar_t>(),
                                   dv.data_ptr<scalar_t>(),
                                   mask_needs_grad ? dbias.data_ptr<scalar_t>() : nullptr,
                                   dy_c.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(),
                                   lse.data_ptr<double>(), in);
    });
    // The bias was broadcast to (*batch, T, S): sum its gradient back to its own shape.
    Tensor dmask;
    if (mask_needs_grad)
      dmask = kernels::sum_to(dbias.view(problem.scores_shape()), problem.mask->shape());
    return Grads{q3.requires_grad() ? dq : Tensor(), k3.requires_grad() ? dk : Tensor(),
                 v3.requires_grad() ? dv : Tensor(), dmask};
  }, {q3, k3, v3});

  Shape out_shape = problem.batch;
  out_shape.push_back(T);
  out_shape.push_back(problem.Dv);
  return out.view(out_shape);  // (*batch, T, Dv)
}

}  // namespace ag::nn::functional::detail

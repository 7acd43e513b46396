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
// Work is split into (batch-head, span of blocks of 16 queries) items in the forward and
// batch-heads in the backward (each batch-head's dk and dv sum over all its queries). Items write
// disjoint outputs and each block is computed in a fixed order, so results are bitwise identical
// for any thread count.
//
// Which path runs when. The file holds the algorithm twice:
//   - the scalar reference (attention_forward / attention_backward): scores and sums in double,
//     one score and one libm exp at a time. It runs for float64 always, and for float32 when no
//     vector kernel is available (a CPU without AVX2, a build without AG_SIMD) or when it is
//     forced (AG_ATTENTION_KERNEL=reference, or set_fused_attention_kernel("reference")).
//   - the fast float32 path (fast_attention_forward / fast_attention_backward, "the fast float32
//     path" below): the same tiles as dense float32 GEMMs and a vector exp, on AVX-512 when the
//     CPU has it, else AVX2 + FMA (tensor/simd/attention_*.cpp). It runs for every float32 call
//     otherwise: every mask kind (causal, window, bool, float, learned float), with or without
//     dropout. tests/nn/fused_attention_fast_test.cpp holds it to the reference within ~1e-6.
// The backward always runs on the path its forward ran on.
//
// The backward is raw loops, so it cannot be differentiated again: with create_graph it refuses
// with an Error pointing to AttentionImpl::Plain, whose backward is made of autograd ops.
//
// Two entries share the kernels. fused_attention takes q, k, v as tensors of their own (copied
// to contiguous (B, T, D) first if they are views). fused_attention_packed takes GPT's (B, T, 3C)
// projection and reads each head's rows of q, k and v where they already are, writes the output
// with the heads merged, and its backward writes d(qkv) in one piece: the kernels address every
// row through a RowLayout, so the layout is the only difference and the arithmetic, hence the
// bits, are the same.
//
// Legend: B = batch-heads (all leading dims flattened), T queries, S keys, D = d_k, Dv.
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "autograd/node.h"
#include "nn/functional.h"
#include "nn/functional/attention_internal.h"
#include "tensor/cpu_features.h"
#include "tensor/kernels.h"
#include "tensor/simd/attention_micro_kernel.h"

namespace ag::nn::functional::detail {

using autograd::Grads;
using autograd::record;

namespace {

constexpr std::string_view kOp = "scaled_dot_product_attention";
constexpr int64_t kQueryBlock = 16;  // query rows that share each loaded key tile
constexpr int64_t kKeyTile = 64;     // keys per tile: 64 * D values of k and v stay in cache
constexpr double kMinusInf = -std::numeric_limits<double>::infinity();

// Where row i of batch-head bh of an operand starts, in elements from its data:
//   (bh / heads) * batch_stride + (bh % heads) * head_stride + i * row_stride
// A contiguous (B, rows, n) operand has heads = 1. q, k and v read in place from a packed
// (B, T, 3C) projection have heads = H, head_stride = D and row_stride = 3C; an output written
// straight into merged heads (B, T, C) has head_stride = D and row_stride = C. Each gradient
// has the layout of what it is the gradient of (dq of q, dy of out).
struct RowLayout {
  int64_t heads = 1, batch_stride = 0, head_stride = 0, row_stride = 0;
  static RowLayout contiguous(int64_t rows, int64_t n) { return {1, rows * n, 0, n}; }
  int64_t operator()(int64_t bh, int64_t i) const {
    return (bh / heads) * batch_stride + (bh % heads) * head_stride + i * row_stride;
  }
};
struct Layouts {
  RowLayout q, k, v, out;
};

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

// Everything the kernels read.   q: (B, T, D)   k: (B, S, D)   v: (B, S, Dv), rows placed as
// `at` says; out and dy (B, T, Dv) are placed as at.out.
template <typename scalar_t>
struct Inputs {
  const scalar_t* q;
  const scalar_t* k;
  const scalar_t* v;
  MaskView<scalar_t> mask;
  const AttentionProblem* problem;
  Layouts at;

  // s_ij = scale * q_i . k_j + bias_ij, or -inf where the attn_mask forbids (bh, i, j). The
  // forward and the backward both call this, so the recomputed scores are the same bits.
  double score(int64_t bh, int64_t i, int64_t j) const {
    const AttentionProblem& p = *problem;
    if (mask.allowed && !mask.allowed[mask.offset(bh, i, j)]) return kMinusInf;
    const scalar_t* q_row = q + at.q(bh, i);
    const scalar_t* k_row = k + at.k(bh, j);
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
            const scalar_t* v_row = in.v + in.at.v(bh, j);
            for (int64_t c = 0; c < Dv; ++c) acc_row[c] += kept * v_row[c];
          }
          m[r] = m_new;
        }
      }
      for (int64_t i = i0; i < i1; ++i) {
        const int64_t r = i - i0;
        scalar_t* out_row = out + in.at.out(bh, i);
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
        const scalar_t* dy_row = dy + in.at.out(bh, i);
        const scalar_t* out_row = out + in.at.out(bh, i);
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
            const scalar_t* q_row = in.q + in.at.q(bh, i);
            const scalar_t* dy_row = dy + in.at.out(bh, i);
            double* dq_row = dq_acc.data() + (i - i0) * D;
            for (int64_t j = first; j < last; ++j) {
              const double s = in.score(bh, i, j);
              if (s == kMinusInf) continue;  // masked: p = 0, so no gradient either way
              const double prob = std::exp(s - row_lse);  // the softmax weight, rebuilt
              const double z = p.dropout_factor(bh, i, j);
              const scalar_t* k_row = in.k + in.at.k(bh, j);
              const scalar_t* v_row = in.v + in.at.v(bh, j);
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
            dq[in.at.q(bh, i) + d] = static_cast<scalar_t>(p.scale * dq_acc[(i - i0) * D + d]);
      }
      for (int64_t j = 0; j < S; ++j) {
        for (int64_t d = 0; d < D; ++d)
          dk[in.at.k(bh, j) + d] = static_cast<scalar_t>(p.scale * dk_acc[j * D + d]);
        for (int64_t c = 0; c < Dv; ++c)
          dv[in.at.v(bh, j) + c] = static_cast<scalar_t>(dv_acc[j * Dv + c]);
      }
    }
  });
}

// ---- the fast float32 path -----------------------------------------------------------------
// The same algorithm as attention_forward / attention_backward above, reorganised so that the
// arithmetic runs on dense (query block, key tile) tiles in float32 through the vector kernels
// of tensor/simd/attention_micro_kernel.h:
//   scores  S  = (scale q) k^T            a (16, D) x (D, 64) GEMM on a transposed k tile
//   weights P  = exp(S - shift)           the vector exp of tensor/simd/vec_exp.h
//   output  acc += P v                    a (16, 64) x (64, Dv) GEMM
// and in the backward dP = dy v^T, dv += (P z)^T dy, dk += dS^T (scale q), dq += dS k.
// Masking is done by writing -inf into S after the GEMM (exp(-inf) = 0 exactly), so masked
// weights and their gradients are exact zeros, as in the reference. Tiles of keys that no row of
// the block may see are skipped the same way, and a tile only as wide as its keys (rounded up to
// 16) is computed, which halves the work of the diagonal tiles under a causal mask.
//
// Precision. Everything is float32: the dot products of D floats, the running max m and sum l
// per row, and the accumulator rescaled by exp(m - m') per tile. lse = m + log l is formed and
// stored in double (the same tensor as the reference's), but the backward rounds it to float
// before exp(S - lse): S itself is a float with an error near one ulp of |S|, so digits of lse
// beyond float would sit below that noise. delta = dy . out is summed in double because it is
// only T dot products and is subtracted from dP, where a cancellation would otherwise show.

using kernels::simd::AttentionMicroKernels;
constexpr int64_t kPad = kernels::simd::kAttentionPad;
constexpr float kMinusInfF = -std::numeric_limits<float>::infinity();
static_assert(kKeyTile % kPad == 0, "key tiles must be whole vectors");

int64_t padded(int64_t n) { return (n + kPad - 1) / kPad * kPad; }

// q, k, v as the fast kernels read them, with their padded row lengths.
struct FastInputs {
  const float* q;
  const float* k;
  const float* v;
  MaskView<float> mask;
  const AttentionProblem* problem;
  const AttentionMicroKernels* kernels;
  int64_t Dp, Dvp;  // D and Dv rounded up to a multiple of kPad
  Layouts at;       // where the rows of q, k, v and out (and their gradients) are
};

// One batch-head's keys [j_begin, j_end), laid out the way the tiles read them, so no tile
// transposes anything: every query block of an item reads the same keys.
//   k_t:    (D, ld)      k transposed: a tile of keys is a column range of D rows
//   v_t:    (Dv, ld)     backward only (dP = dy v^T)
//   k_rows: (keys, Dp)   backward only (dq += ds k)
//   v_rows: (keys, Dvp)  forward only (acc += P v)
// k_rows and v_rows are k and v themselves, read in place with their own row stride, when D and
// Dv are already whole vectors (16, 64, ...).
// Each work item packs the keys it needs into its thread's buffers, right before its tiles read
// them, so they are read from L1 or L2 rather than from a packed copy of every batch-head made
// by a pass of its own. Padding is zero: ld = padded(keys) + kPad, so a tile of `keys` columns
// may read up to padded(keys) columns without leaving its row, and columns past a row's keys
// become -inf scores (whose weights, 0, multiply the zeros of v_t).
struct PackedKeys {
  std::vector<float> k_t, k_rows, v_rows, v_t;  // capacity kept across items and calls
  int64_t j_begin = 0, ld = 0;
  const float* k_rows_base = nullptr;  // row j_begin of k_rows, or of k in place
  const float* v_rows_base = nullptr;
  int64_t k_rows_stride = 0, v_rows_stride = 0;

  void pack(const FastInputs& in, bool backward, int64_t bh, int64_t begin, int64_t end) {
    const int64_t D = in.problem->D, Dv = in.problem->Dv, Dp = in.Dp, Dvp = in.Dvp;
    const int64_t keys = std::max<int64_t>(end - begin, 0);
    j_begin = begin;
    ld = padded(keys) + kPad;
    const float* k_src = in.k + in.at.k(bh, begin);
    const float* v_src = in.v + in.at.v(bh, begin);
    const int64_t k_rs = in.at.k.row_stride, v_rs = in.at.v.row_stride;
    const AttentionMicroKernels& kern = *in.kernels;
    transpose_into(kern, k_t, k_src, k_rs, keys, D);
    if (backward) transpose_into(kern, v_t, v_src, v_rs, keys, Dv);
    k_rows_base = k_src, k_rows_stride = k_rs;
    v_rows_base = v_src, v_rows_stride = v_rs;
    if (backward && Dp != D) {
      rows_into(kern, k_rows, k_src, k_rs, keys, D, Dp);
      k_rows_base = k_rows.data(), k_rows_stride = Dp;
    }
    if (!backward && Dvp != Dv) {
      rows_into(kern, v_rows, v_src, v_rs, keys, Dv, Dvp);
      v_rows_base = v_rows.data(), v_rows_stride = Dvp;
    }
  }
  // The key tile starting at key j0 (j_begin <= j0 < end), in each layout.
  const float* k_t_tile(int64_t j0) const { return k_t.data() + (j0 - j_begin); }
  const float* v_t_tile(int64_t j0) const { return v_t.data() + (j0 - j_begin); }
  const float* k_rows_tile(int64_t j0) const { return k_rows_base + (j0 - j_begin) * k_rows_stride; }
  const float* v_rows_tile(int64_t j0) const { return v_rows_base + (j0 - j_begin) * v_rows_stride; }

 private:
  // dst (n, ld) = src (keys, n)^T, zero past column `keys`.
  void transpose_into(const AttentionMicroKernels& kern, std::vector<float>& dst,
                      const float* src, int64_t stride, int64_t keys, int64_t n) const {
    if (static_cast<int64_t>(dst.size()) < n * ld) dst.resize(static_cast<size_t>(n * ld));
    kern.transpose(dst.data(), ld, src, stride, keys, n);
  }
  // dst (keys, n_padded) = src (keys, n), zero past column n.
  static void rows_into(const AttentionMicroKernels& kern, std::vector<float>& dst,
                        const float* src, int64_t stride, int64_t keys, int64_t n,
                        int64_t n_padded) {
    if (static_cast<int64_t>(dst.size()) < keys * n_padded)
      dst.resize(static_cast<size_t>(keys * n_padded));
    kern.scale_rows(dst.data(), n_padded, src, stride, keys, n, n_padded, 1.0f);
  }
};

// One thread's tiles, reused across items (a thread-local, so a tiny problem allocates nothing
// after the first call). Row strides: kKeyTile for the (rows, keys) tiles, Dp / Dvp otherwise.
struct FastWorkspace {
  std::vector<float> q_block;  // (kQueryBlock, Dp)    scale * q, zero padded
  std::vector<float> dy_block; // (kQueryBlock, Dvp)   backward only
  std::vector<float> s, p, dp, pz;   // (kQueryBlock, kKeyTile)
  std::vector<float> acc;      // (kQueryBlock, Dvp) forward output, (kQueryBlock, Dp) dq
  std::vector<float> m, l, shift, row_stat;  // (kQueryBlock)
  std::vector<float> dk_acc, dv_acc;  // backward only: (S, Dp) and (S, Dvp), a batch-head's sums
  std::vector<float> delta;    // backward only: (T)
  PackedKeys keys;             // the keys of the item being worked on

  static void grow(std::vector<float>& buffer, int64_t n) {
    if (static_cast<int64_t>(buffer.size()) < n) buffer.resize(static_cast<size_t>(n));
  }
  void reserve(int64_t Dp, int64_t Dvp) {
    grow(q_block, kQueryBlock * Dp);
    grow(dy_block, kQueryBlock * Dvp);
    for (auto* tile : {&s, &p, &dp, &pz}) grow(*tile, kQueryBlock * kKeyTile);
    grow(acc, kQueryBlock * std::max(Dp, Dvp));
    for (auto* row : {&m, &l, &shift, &row_stat}) grow(*row, kQueryBlock);
  }
};

FastWorkspace& thread_workspace(int64_t Dp, int64_t Dvp) {
  thread_local FastWorkspace workspace;
  workspace.reserve(Dp, Dvp);
  return workspace;
}

// s: (rows, cols), row stride kKeyTile: the scores of queries i0 .. i0 + rows - 1 against keys
// j0 .. j0 + cols - 1, and -inf wherever a key is out of the row's range, past the tile, or
// forbidden by a bool mask. The forward and the backward both call this with the same tiles, so
// the backward rebuilds the forward's scores bit for bit.
void tile_scores(float* s, const FastInputs& in, const FastWorkspace& ws, int64_t bh, int64_t i0,
                 int64_t rows, int64_t j0, int64_t keys, int64_t cols) {
  const AttentionProblem& p = *in.problem;
  in.kernels->gemm(rows, cols, p.D, ws.q_block.data(), in.Dp, 1, ws.keys.k_t_tile(j0), ws.keys.ld,
                   s, kKeyTile, false);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t i = i0 + r;
    auto [first, last] = p.key_range(i);
    first = std::clamp(first - j0, int64_t{0}, keys);  // now relative to j0
    last = std::clamp(last - j0, int64_t{0}, keys);
    float* s_row = s + r * kKeyTile;
    if (first >= last) {
      std::fill(s_row, s_row + cols, kMinusInfF);
      continue;
    }
    std::fill(s_row, s_row + first, kMinusInfF);
    std::fill(s_row + last, s_row + cols, kMinusInfF);
    if (in.mask.allowed) {
      for (int64_t j = first; j < last; ++j)
        if (!in.mask.allowed[in.mask.offset(bh, i, j0 + j)]) s_row[j] = kMinusInfF;
    } else if (in.mask.bias) {
      for (int64_t j = first; j < last; ++j) s_row[j] += in.mask.bias[in.mask.offset(bh, i, j0 + j)];
    }
  }
}

// z: (rows, cols), row stride kKeyTile: the tile's dropout factors, 0 or 1 / (1 - p), drawn
// with the vector Philox (the same numbers as AttentionProblem::dropout_factor, 16 at a time).
void dropout_factors(float* z, const FastInputs& in, int64_t bh, int64_t i0, int64_t rows,
                     int64_t j0, int64_t cols) {
  const AttentionProblem& p = *in.problem;
  if (p.dropout_p >= 1.0) {  // every weight dropped (and 1 / (1 - p) undefined)
    for (int64_t r = 0; r < rows; ++r) std::fill_n(z + r * kKeyTile, cols, 0.0f);
    return;
  }
  const auto threshold = static_cast<uint64_t>(std::ceil(std::ldexp(p.dropout_p, 53)));
  const auto keep = static_cast<float>(1.0 / (1.0 - p.dropout_p));
  for (int64_t r = 0; r < rows; ++r)
    in.kernels->dropout_row(z + r * kKeyTile, p.seed, kAttentionDropoutSalt,
                            static_cast<uint64_t>(bh), static_cast<uint64_t>(i0 + r),
                            static_cast<uint64_t>(j0), cols, threshold, keep);
}

// One block of kQueryBlock queries of batch-head bh: its rows of out and lse, from the keys the
// item packed into ws.keys.
void forward_block(float* out, double* lse, const FastInputs& in, FastWorkspace& ws, int64_t bh,
                   int64_t block) {
  const AttentionProblem& p = *in.problem;
  const int64_t T = p.T, D = p.D, Dv = p.Dv, Dp = in.Dp, Dvp = in.Dvp;
  const AttentionMicroKernels& kern = *in.kernels;
  const int64_t i0 = block * kQueryBlock, rows = std::min(T, i0 + kQueryBlock) - i0;
  kern.scale_rows(ws.q_block.data(), Dp, in.q + in.at.q(bh, i0), in.at.q.row_stride, rows, D, Dp,
                  static_cast<float>(p.scale));
  std::fill_n(ws.m.data(), rows, kMinusInfF);
  std::fill_n(ws.l.data(), rows, 0.0f);
  std::fill_n(ws.acc.data(), rows * Dvp, 0.0f);
  const int64_t block_first = p.key_range(i0).first;
  const int64_t block_last = p.key_range(i0 + rows - 1).second;
  for (int64_t j0 = block_first; j0 < block_last; j0 += kKeyTile) {
    const int64_t keys = std::min(block_last - j0, kKeyTile), cols = padded(keys);
    float* s = ws.s.data();
    tile_scores(s, in, ws, bh, i0, rows, j0, keys, cols);
    // 1. The running maximum. A row that sees nothing in this tile (max -inf) keeps its
    //    state: shift 0 turns its -inf scores into zero weights.
    kern.row_max(ws.row_stat.data(), s, kKeyTile, rows, cols);
    for (int64_t r = 0; r < rows; ++r) {
      const float tile_max = ws.row_stat[r];
      if (tile_max == kMinusInfF) {
        ws.shift[r] = 0.0f;
        continue;
      }
      const float m_new = std::max(ws.m[r], tile_max);
      // Rescale what was summed against the old maximum (exp(-inf) = 0 on the first tile).
      const float alpha = std::exp(ws.m[r] - m_new);
      if (alpha != 1.0f) {
        ws.l[r] *= alpha;
        for (int64_t c = 0; c < Dvp; ++c) ws.acc[r * Dvp + c] *= alpha;
      }
      ws.m[r] = m_new;
      ws.shift[r] = m_new;
    }
    // 2. The weights exp(s - m) and their row sums, in place of the scores.
    kern.exp_rows(s, ws.row_stat.data(), s, ws.shift.data(), kKeyTile, rows, cols);
    for (int64_t r = 0; r < rows; ++r) ws.l[r] += ws.row_stat[r];  // before dropout
    if (p.dropout) {  // after the sums: softmax normalises the weights before dropout
      float* z = ws.pz.data();
      dropout_factors(z, in, bh, i0, rows, j0, cols);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < cols; ++j) s[r * kKeyTile + j] *= z[r * kKeyTile + j];
    }
    // 3. acc += P v   (rows, keys) x (keys, Dvp)
    kern.gemm(rows, Dvp, keys, s, kKeyTile, 1, ws.keys.v_rows_tile(j0),
              ws.keys.v_rows_stride, ws.acc.data(), Dvp, true);
  }
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t i = i0 + r;
    const float l = ws.l[r];
    // l = 0: the row saw no key (fully masked): a zero row, and lse = -inf tells the
    // backward to give it zero gradients.
    const float inv_l = l > 0.0f ? 1.0f / l : 0.0f;
    kern.scale_rows(out + in.at.out(bh, i), 0, ws.acc.data() + r * Dvp, 0, 1, Dv, Dv, inv_l);
    lse[bh * T + i] = l > 0.0f ? static_cast<double>(ws.m[r]) + std::log(static_cast<double>(l))
                               : kMinusInf;
  }
}

// out: (B, T, Dv)   lse: (B, T), -inf for a row that sees no key
void fast_attention_forward(float* out, double* lse, const FastInputs& in) {
  const AttentionProblem& p = *in.problem;
  const int64_t T = p.T, Dp = in.Dp, Dvp = in.Dvp;
  const int64_t num_blocks = (T + kQueryBlock - 1) / kQueryBlock;
  // Items are (batch-head, span of query blocks): the blocks of a span share one packing of
  // their keys. Spans are as long as leaves about 64 items (at most 16 blocks, so a long
  // sequence still splits), which makes a short sequence one item per batch-head. The split is
  // fixed by T and B alone, and each block is computed the same way whatever item holds it, so
  // the bits do not depend on the thread count (each block writes its own rows of out and lse).
  const int64_t span = std::clamp<int64_t>(p.num_batch * num_blocks / 64, 1, 16);
  const int64_t spans = (num_blocks + span - 1) / span;
  parallel_for(0, p.num_batch * spans, 1, [&](int64_t item_begin, int64_t item_end) {
    FastWorkspace& ws = thread_workspace(Dp, Dvp);
    for (int64_t item = item_begin; item < item_end; ++item) {
      const int64_t bh = item / spans;
      const int64_t block_begin = (item % spans) * span;
      const int64_t block_end = std::min(num_blocks, block_begin + span);
      const int64_t last_row = std::min(T, block_end * kQueryBlock) - 1;
      ws.keys.pack(in, /*backward=*/false, bh, p.key_range(block_begin * kQueryBlock).first,
                   p.key_range(last_row).second);
      for (int64_t block = block_begin; block < block_end; ++block)
        forward_block(out, lse, in, ws, bh, block);
    }
  });
}

// dq: (B, T, D)   dk: (B, S, D)   dv: (B, S, Dv)   dbias: (B, T, S) zero-filled, or null
// dy, out: (B, T, Dv)   lse: (B, T)
void fast_attention_backward(float* dq, float* dk, float* dv, float* dbias, const float* dy,
                             const float* out, const double* lse, const FastInputs& in) {
  const AttentionProblem& p = *in.problem;
  const int64_t T = p.T, S = p.S, D = p.D, Dv = p.Dv, Dp = in.Dp, Dvp = in.Dvp;
  const AttentionMicroKernels& kern = *in.kernels;
  const int64_t num_blocks = (T + kQueryBlock - 1) / kQueryBlock;
  const float scale = static_cast<float>(p.scale);
  // One item per batch-head, because dk and dv sum over all of its queries: each item owns its
  // rows of dq, dk, dv and sums them in a fixed order, whatever thread runs it.
  parallel_for(0, p.num_batch, 1, [&](int64_t bh_begin, int64_t bh_end) {
    FastWorkspace& ws = thread_workspace(Dp, Dvp);
    // The thread's own buffers, which outlive the call: no allocation per batch-head.
    FastWorkspace::grow(ws.dk_acc, S * Dp);
    FastWorkspace::grow(ws.dv_acc, S * Dvp);
    FastWorkspace::grow(ws.delta, T);
    std::vector<float>& dk_acc = ws.dk_acc;
    std::vector<float>& dv_acc = ws.dv_acc;
    std::vector<float>& delta = ws.delta;
    for (int64_t bh = bh_begin; bh < bh_end; ++bh) {
      ws.keys.pack(in, /*backward=*/true, bh, 0, S);
      std::fill_n(dk_acc.begin(), S * Dp, 0.0f);
      std::fill_n(dv_acc.begin(), S * Dvp, 0.0f);
      // delta_i = dy_i . out_i = sum_j p_ij dP_ij (see the top of the file)
      for (int64_t i = 0; i < T; ++i)
        delta[i] = static_cast<float>(kern.dot(dy + in.at.out(bh, i), out + in.at.out(bh, i), Dv));
      for (int64_t block = 0; block < num_blocks; ++block) {
        const int64_t i0 = block * kQueryBlock, rows = std::min(T, i0 + kQueryBlock) - i0;
        kern.scale_rows(ws.q_block.data(), Dp, in.q + in.at.q(bh, i0), in.at.q.row_stride, rows,
                        D, Dp, scale);
        kern.scale_rows(ws.dy_block.data(), Dvp, dy + in.at.out(bh, i0), in.at.out.row_stride,
                        rows, Dv, Dvp, 1.0f);
        std::fill_n(ws.acc.data(), rows * Dp, 0.0f);  // dq / scale for the block
        // p = exp(s - lse); a fully masked row (lse = -inf) shifts by +inf, so all its
        // weights are exp(-inf) = 0 and it gets no gradient.
        for (int64_t r = 0; r < rows; ++r) {
          const double row_lse = lse[bh * T + i0 + r];
          ws.shift[r] = row_lse == kMinusInf ? std::numeric_limits<float>::infinity()
                                             : static_cast<float>(row_lse);
        }
        const int64_t block_first = p.key_range(i0).first;
        const int64_t block_last = p.key_range(i0 + rows - 1).second;
        for (int64_t j0 = block_first; j0 < block_last; j0 += kKeyTile) {
          const int64_t keys = std::min(block_last - j0, kKeyTile), cols = padded(keys);
          float* s = ws.s.data();
          float* prob = ws.p.data();
          float* dp = ws.dp.data();
          tile_scores(s, in, ws, bh, i0, rows, j0, keys, cols);
          kern.exp_rows(prob, ws.row_stat.data(), s, ws.shift.data(), kKeyTile, rows, cols);
          // dP = dy v^T   (rows, Dv) x (Dv, cols)
          kern.gemm(rows, cols, Dv, ws.dy_block.data(), Dvp, 1, ws.keys.v_t_tile(j0),
                    ws.keys.ld, dp, kKeyTile, false);
          // With dropout the output used the kept weights P z: dv sees P z, and the weight
          // before dropout sees z dP.
          const float* kept = prob;
          if (p.dropout) {
            float* z = ws.pz.data();  // the factors, then P z in their place
            dropout_factors(z, in, bh, i0, rows, j0, cols);
            for (int64_t r = 0; r < rows; ++r)
              for (int64_t j = 0; j < cols; ++j) {
                dp[r * kKeyTile + j] *= z[r * kKeyTile + j];
                z[r * kKeyTile + j] *= prob[r * kKeyTile + j];
              }
            kept = z;
          }
          // ds = p (dP - delta), into dp's place: the softmax backward, element by element.
          kern.softmax_backward(dp, prob, delta.data() + i0, kKeyTile, rows, cols);
          const float* ds = dp;
          if (dbias) {
            for (int64_t r = 0; r < rows; ++r) {
              auto [first, last] = p.key_range(i0 + r);
              first = std::max(first, j0);
              last = std::min(last, j0 + keys);
              for (int64_t j = first; j < last; ++j)
                dbias[(bh * T + i0 + r) * S + j] = ds[r * kKeyTile + (j - j0)];
            }
          }
          // dv += (P z)^T dy   (keys, rows) x (rows, Dvp)
          kern.gemm(keys, Dvp, rows, kept, 1, kKeyTile, ws.dy_block.data(), Dvp,
                    dv_acc.data() + j0 * Dvp, Dvp, true);
          // dk += ds^T (scale q)   (keys, rows) x (rows, Dp)
          kern.gemm(keys, Dp, rows, ds, 1, kKeyTile, ws.q_block.data(), Dp,
                    dk_acc.data() + j0 * Dp, Dp, true);
          // dq / scale += ds k   (rows, keys) x (keys, Dp)
          kern.gemm(rows, Dp, keys, ds, kKeyTile, 1, ws.keys.k_rows_tile(j0),
                    ws.keys.k_rows_stride, ws.acc.data(), Dp, true);
        }
        kern.scale_rows(dq + in.at.q(bh, i0), in.at.q.row_stride, ws.acc.data(), Dp, rows, D, D,
                        scale);
      }
      for (int64_t j = 0; j < S; ++j) {
        std::memcpy(dk + in.at.k(bh, j), dk_acc.data() + j * Dp, D * sizeof(float));
        std::memcpy(dv + in.at.v(bh, j), dv_acc.data() + j * Dvp, Dv * sizeof(float));
      }
    }
  });
}

// ---- choosing the float32 kernel ------------------------------------------------------------

// The named kernel set, or nullptr for "reference"; throws when this build or CPU lacks it.
const AttentionMicroKernels* kernels_named(std::string_view name) {
  if (name == "reference") return nullptr;
#if defined(AG_HAVE_SIMD)
  // Each table is built by a function of its own instruction set (which may use those
  // instructions just to fill the struct), so only on a CPU that has it.
  if (name == "avx512" && cpu_has_avx512()) {
    static const AttentionMicroKernels avx512 = kernels::simd::avx512_attention_kernels();
    return &avx512;
  }
  if (name == "avx2" && cpu_has_avx2()) {
    static const AttentionMicroKernels avx2 = kernels::simd::avx2_attention_kernels();
    return &avx2;
  }
#endif
  std::string available;
  for (const std::string& n : fused_attention_kernels_available())
    available += (available.empty() ? "" : ", ") + n;
  throw Error(kOp, "fused attention kernel '", std::string(name), "' is not available here; ",
              "available: ", available);
}

const AttentionMicroKernels* default_kernels() {
  if (const char* forced = std::getenv("AG_ATTENTION_KERNEL"); forced && *forced)
    return kernels_named(forced);
  return kernels_named(fused_attention_kernels_available().front());
}

// Read on every call, so a test can switch kernels between two calls.
std::atomic<const AttentionMicroKernels*> g_kernels{nullptr};
std::atomic<bool> g_kernels_decided{false};

const AttentionMicroKernels* current_kernels() {
  if (!g_kernels_decided.load(std::memory_order_acquire)) {
    g_kernels.store(default_kernels(), std::memory_order_relaxed);
    g_kernels_decided.store(true, std::memory_order_release);
  }
  return g_kernels.load(std::memory_order_relaxed);
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

// One call's kernels, forward and backward, on raw buffers: each operand is a tensor's data
// plus an offset in elements (q, k and v of a packed qkv are one tensor at offsets 0, C, 2C),
// with its rows where `at` says. Remembers which kernels the forward ran on: the backward must
// run on the same ones, whatever was selected since, because its lse comes from that arithmetic.
class Call {
 public:
  Call(const AttentionProblem& problem, const Layouts& at, DType dtype)
      : problem_(problem), at_(at),
        // float32 runs on the vector kernels unless the reference is forced; float64 always
        // runs on the reference (it is there to be exact, not fast).
        fast_(dtype == kFloat32 ? current_kernels() : nullptr),
        // A float mask that requires grad (a learned bias) is an input of the op; a bool mask
        // or a constant one is only read.
        mask_needs_grad_(problem.mask && problem.mask->requires_grad()) {}

  Tensor mask_input() const { return mask_needs_grad_ ? *problem_.mask : Tensor(); }

  // Fills out; returns lse (B, T). Kept in float64 even for float32 inputs, as FlashAttention
  // keeps its lse in float32 for float16: the backward exponentiates s - lse, which magnifies an
  // error in lse.
  Tensor forward(Tensor& out, const Tensor& q, int64_t q_at, const Tensor& k, int64_t k_at,
                 const Tensor& v, int64_t v_at) const {
    Tensor lse = empty({problem_.num_batch, problem_.T}, kFloat64);
    dispatch_floating(out.dtype(), kOp, [&](auto zero) {
      using scalar_t = decltype(zero);
      const scalar_t* qp = q.data_ptr<scalar_t>() + q_at;
      const scalar_t* kp = k.data_ptr<scalar_t>() + k_at;
      const scalar_t* vp = v.data_ptr<scalar_t>() + v_at;
      if constexpr (std::is_same_v<scalar_t, float>) {
        if (fast_) {
          fast_attention_forward(out.data_ptr<float>(), lse.data_ptr<double>(),
                                 fast_inputs(qp, kp, vp));
          return;
        }
      }
      const Inputs<scalar_t> in{qp, kp, vp, make_mask_view<scalar_t>(problem_), &problem_, at_};
      attention_forward<scalar_t>(out.data_ptr<scalar_t>(), lse.data_ptr<double>(), in);
    });
    return lse;
  }

  // Fills dq, dk and dv (at their offsets); returns the mask's gradient, or an undefined tensor.
  Tensor backward(Tensor& dq, int64_t dq_at, Tensor& dk, int64_t dk_at, Tensor& dv, int64_t dv_at,
                  const Tensor& dy, const Tensor& out, const Tensor& q, int64_t q_at,
                  const Tensor& k, int64_t k_at, const Tensor& v, int64_t v_at,
                  const Tensor& lse) const {
    if (GradMode::is_enabled())
      throw Error(kOp, "the fused kernel's backward cannot be differentiated twice; use "
                  "AttentionImpl::Plain (options.impl) when you need gradients of gradients "
                  "(create_graph=true)");
    const AttentionProblem& p = problem_;
    Tensor dbias = mask_needs_grad_ ? zeros({p.num_batch, p.T, p.S}, out.dtype()) : Tensor();
    dispatch_floating(out.dtype(), kOp, [&](auto zero) {
      using scalar_t = decltype(zero);
      const scalar_t* qp = q.data_ptr<scalar_t>() + q_at;
      const scalar_t* kp = k.data_ptr<scalar_t>() + k_at;
      const scalar_t* vp = v.data_ptr<scalar_t>() + v_at;
      scalar_t* dqp = dq.data_ptr<scalar_t>() + dq_at;
      scalar_t* dkp = dk.data_ptr<scalar_t>() + dk_at;
      scalar_t* dvp = dv.data_ptr<scalar_t>() + dv_at;
      scalar_t* dbiasp = mask_needs_grad_ ? dbias.data_ptr<scalar_t>() : nullptr;
      if constexpr (std::is_same_v<scalar_t, float>) {
        if (fast_) {
          fast_attention_backward(dqp, dkp, dvp, dbiasp, dy.data_ptr<float>(),
                                  out.data_ptr<float>(), lse.data_ptr<double>(),
                                  fast_inputs(qp, kp, vp));
          return;
        }
      }
      const Inputs<scalar_t> in{qp, kp, vp, make_mask_view<scalar_t>(p), &p, at_};
      attention_backward<scalar_t>(dqp, dkp, dvp, dbiasp, dy.data_ptr<scalar_t>(),
                                   out.data_ptr<scalar_t>(), lse.data_ptr<double>(), in);
    });
    // The bias was broadcast to (*batch, T, S): sum its gradient back to its own shape.
    if (!mask_needs_grad_) return Tensor();
    return kernels::sum_to(dbias.view(p.scores_shape()), p.mask->shape());
  }

 private:
  FastInputs fast_inputs(const float* q, const float* k, const float* v) const {
    return {q, k, v, make_mask_view<float>(problem_), &problem_, fast_, padded(problem_.D),
            padded(problem_.Dv), at_};
  }

  AttentionProblem problem_;
  Layouts at_;
  const AttentionMicroKernels* fast_;
  bool mask_needs_grad_;
};

}  // namespace

std::vector<std::string> fused_attention_kernels_available() {
  std::vector<std::string> names;
#if defined(AG_HAVE_SIMD)
  if (cpu_has_avx512()) names.push_back("avx512");
  if (cpu_has_avx2()) names.push_back("avx2");
#endif
  names.push_back("reference");
  return names;
}

void set_fused_attention_kernel(std::string_view name) {
  g_kernels.store(name.empty() ? default_kernels() : kernels_named(name));
  g_kernels_decided.store(true, std::memory_order_release);
}

std::string fused_attention_kernel() {
  const AttentionMicroKernels* kernels = current_kernels();
  return kernels ? kernels->name : "reference";
}

std::vector<float> fused_attention_kernel_exp(std::string_view kernel, std::vector<float> x) {
  const AttentionMicroKernels* kernels = kernels_named(kernel);
  if (!kernels) {  // the reference exponentiates with libm
    for (float& value : x) value = std::exp(value);
    return x;
  }
  const auto n = static_cast<int64_t>(x.size());
  x.resize(static_cast<size_t>(padded(n)), 0.0f);
  const float shift = 0.0f;
  float row_sum = 0.0f;
  kernels->exp_rows(x.data(), &row_sum, x.data(), &shift, padded(n), 1, padded(n));
  x.resize(static_cast<size_t>(n));
  return x;
}

Tensor fused_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                       const AttentionProblem& problem) {
  const int64_t B = problem.num_batch, T = problem.T, S = problem.S;
  const Tensor q3 = as_batched(q, problem.batch, B);  // (B, T, D)
  const Tensor k3 = as_batched(k, problem.batch, B);  // (B, S, D)
  const Tensor v3 = as_batched(v, problem.batch, B);  // (B, S, Dv)
  const Layouts at{RowLayout::contiguous(T, problem.D), RowLayout::contiguous(S, problem.D),
                   RowLayout::contiguous(S, problem.Dv), RowLayout::contiguous(T, problem.Dv)};
  const Call call(problem, at, q.dtype());

  Tensor out = empty({B, T, problem.Dv}, q.dtype());  // (B, T, Dv)
  Tensor lse = call.forward(out, q3, 0, k3, 0, v3, 0);

  out = record("fused_attention", out, {q3, k3, v3, call.mask_input()},
               [q3, k3, v3, lse, call](const Tensor& dy, const Tensor& y) {
    const Tensor dy_c = kernels::contiguous(dy);  // (B, T, Dv)
    Tensor dq = empty(q3.shape(), q3.dtype()), dk = empty(k3.shape(), k3.dtype());
    Tensor dv = empty(v3.shape(), v3.dtype());
    Tensor dmask = call.backward(dq, 0, dk, 0, dv, 0, dy_c, y, q3, 0, k3, 0, v3, 0, lse);
    return Grads{q3.requires_grad() ? dq : Tensor(), k3.requires_grad() ? dk : Tensor(),
                 v3.requires_grad() ? dv : Tensor(), dmask};
  }, {q3, k3, v3});

  Shape out_shape = problem.batch;
  out_shape.push_back(T);
  out_shape.push_back(problem.Dv);
  return out.view(out_shape);  // (*batch, T, Dv)
}

Tensor fused_attention_packed(const Tensor& qkv, int64_t H, const AttentionProblem& problem) {
  // qkv: (B, T, 3C) contiguous, problem.batch = (B, H). The rows of head h of q start at
  // column h * D of qkv, of k at C + h * D, of v at 2C + h * D, one row of qkv apart.
  const int64_t B = qkv.size(0), T = qkv.size(1), C = qkv.size(2) / 3, D = C / H;
  const RowLayout in_qkv{H, T * 3 * C, D, 3 * C};
  const Layouts at{in_qkv, in_qkv, in_qkv, RowLayout{H, T * C, D, C}};
  const Call call(problem, at, qkv.dtype());

  Tensor out = empty({B, T, C}, qkv.dtype());  // (B, T, C): heads side by side
  Tensor lse = call.forward(out, qkv, 0, qkv, C, qkv, 2 * C);

  return record("fused_attention_packed", out, {qkv, call.mask_input()},
                [qkv, lse, call, C](const Tensor& dy, const Tensor& y) {
    const Tensor dy_c = kernels::contiguous(dy);  // (B, T, C)
    // Every element is written: dq, dk and dv cover all rows and all 3C columns between them.
    Tensor dqkv = empty(qkv.shape(), qkv.dtype());  // (B, T, 3C)
    Tensor dmask = call.backward(dqkv, 0, dqkv, C, dqkv, 2 * C, dy_c, y, qkv, 0, qkv, C, qkv,
                                 2 * C, lse);
    return Grads{dqkv, dmask};
  }, {qkv});
}

}  // namespace ag::nn::functional::detail

// pitfalls.h: the measurements behind examples/attention_pitfalls.cpp, one function per common
// attention mistake, each returning numbers for the mistake and for the right way side by side.
// The program prints them; tests/examples/pitfalls_test.cpp asserts that every claim the
// program makes about them holds (the direction of each difference, not exact values).
//
//   (a) measure_scale     no 1/sqrt(d_k): softmax saturates, its gradient collapses
//   (b) measure_causal    a decoder trained without the causal mask: it reads the answer
//   (c) measure_masks     a mask multiplied into the scores instead of writing -inf
//   (d) measure_padding   padding tokens left unmasked: outputs depend on the padding
//   (e) measure_softmax   softmax without the max shift: exp overflows, Inf / Inf = NaN
//
// Everything is seeded and small (a few seconds in all). Measurements are in float64 except
// where float32 is the point ((e): float32's exp overflows at 88.7).
//
// Legend: B batch, T query length, S key length, C channels, D = d_k head size, V vocabulary.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "nn/nn.h"
#include "optim/optim.h"

namespace pitfalls {

namespace F = ag::nn::functional;
using ag::Tensor;

namespace detail {

// Mean over rows of the largest weight and of the entropy -sum p log p (nats).
// w: (R, S) row-stochastic
inline std::pair<double, double> max_and_entropy(const Tensor& w) {
  const int64_t S = w.size(-1), R = w.numel() / S;
  const auto p = w.to_vector<double>();
  double max_sum = 0, entropy_sum = 0;
  for (int64_t r = 0; r < R; ++r) {
    double row_max = 0, h = 0;
    for (int64_t j = 0; j < S; ++j) {
      const double x = p[static_cast<size_t>(r * S + j)];
      row_max = std::max(row_max, x);
      if (x > 0) h -= x * std::log(x);  // 0 log 0 = 0: an exactly-zero weight adds nothing
    }
    max_sum += row_max;
    entropy_sum += h;
  }
  return {max_sum / static_cast<double>(R), entropy_sum / static_cast<double>(R)};
}

inline double max_abs(const std::vector<double>& a) {
  double m = 0;
  for (double x : a) m = std::max(m, std::fabs(x));
  return m;
}

inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  const auto x = a.to_vector<double>(), y = b.to_vector<double>();
  double m = 0;
  for (size_t i = 0; i < x.size(); ++i) m = std::max(m, std::fabs(x[i] - y[i]));
  return m;
}

// (T, T) bool, true on and below the diagonal: the keys a causal query may see.
inline Tensor causal_allowed(int64_t T) { return ag::tril(ag::ones({T, T}, ag::kBool)); }

}  // namespace detail

// ---- (a) the 1/sqrt(d_k) scale -----------------------------------------------------------------
// q and k have unit-variance entries, so q.k is a sum of d_k unit-variance terms: its variance is
// d_k. Unscaled, the scores spread as sqrt(d_k) grows and softmax turns into an argmax (max
// weight -> 1, entropy -> 0). Its Jacobian diag(p) - p p^T then goes to 0, so the gradient that
// leaves the softmax for the scores (and from there for q and k) dies out for most queries.
// Scaled by 1/sqrt(d_k), the scores keep variance 1 at every d_k (they are NOT confined to
// [-1, 1]: the largest of many is several units).
//
// The gradients are medians over the queries: the few queries whose top two keys happen to
// tie stay unsaturated and keep large gradients, so a mean would hide how many get none.
struct ScaleStats {
  double max_weight = 0;     // mean over queries of the largest attention weight (1/S = uniform)
  double entropy = 0;        // mean over queries, nats (log S = uniform, 0 = one-hot)
  double saturated = 0;      // fraction of queries whose largest weight exceeds 0.99
  double grad_scores = 0;    // median over queries of |d(loss)/d(scores row)|, loss = sum(out * g)
  double grad_q = 0;         // median over queries of |d(loss)/dq row|
  double score_std = 0;      // standard deviation of the scores fed to softmax
  double score_max_abs = 0;  // the largest |score|
};
struct ScaleRow {
  int64_t d_k = 0;
  ScaleStats scaled, unscaled;
};

namespace detail {
// Median over the rows of x (R, C) of each row's Euclidean norm.
inline double median_row_norm(const Tensor& x) {
  const int64_t C = x.size(-1), R = x.numel() / C;
  const auto v = x.to_vector<double>();
  std::vector<double> norms;
  for (int64_t r = 0; r < R; ++r) {
    double sq = 0;
    for (int64_t c = 0; c < C; ++c) sq += v[static_cast<size_t>(r * C + c)] * v[static_cast<size_t>(r * C + c)];
    norms.push_back(std::sqrt(sq));
  }
  std::nth_element(norms.begin(), norms.begin() + R / 2, norms.end());
  return norms[static_cast<size_t>(R / 2)];
}
}  // namespace detail

// One row of the table: `queries` random queries over S random keys of width d_k.
inline ScaleRow measure_scale(int64_t d_k, int64_t S = 32, int64_t queries = 256,
                              uint64_t seed = 1) {
  ag::manual_seed(seed);
  const Tensor q0 = ag::randn({queries, d_k}, ag::kFloat64);  // (T, D)
  const Tensor k = ag::randn({S, d_k}, ag::kFloat64);         // (S, D)
  const Tensor v = ag::randn({S, d_k}, ag::kFloat64);         // (S, D)
  // An upstream gradient, scaled so that d(loss)/d(weights) = g v^T has entries of size ~1.
  const Tensor g = ag::randn({queries, d_k}, ag::kFloat64) / std::sqrt(static_cast<double>(d_k));  // (T, D)
  auto run = [&](double scale) {
    Tensor q = q0.detach().requires_grad_();
    const Tensor scores = q.matmul(k.t()) * scale;  // (T, S)
    scores.retain_grad();
    const Tensor w = F::softmax(scores, -1);         // (T, S)
    (w.matmul(v) * g).sum().backward();              // out: (T, D)
    ScaleStats s;
    std::tie(s.max_weight, s.entropy) = detail::max_and_entropy(w);
    const auto p = w.to_vector<double>();
    for (int64_t r = 0; r < queries; ++r)
      s.saturated += *std::max_element(p.begin() + r * S, p.begin() + (r + 1) * S) > 0.99;
    s.saturated /= static_cast<double>(queries);
    s.grad_scores = detail::median_row_norm(scores.grad());
    s.grad_q = detail::median_row_norm(q.grad());
    const auto sc = scores.to_vector<double>();
    double mean = 0, var = 0;
    for (double x : sc) mean += x;
    mean /= static_cast<double>(sc.size());
    for (double x : sc) var += (x - mean) * (x - mean);
    s.score_std = std::sqrt(var / static_cast<double>(sc.size()));
    s.score_max_abs = detail::max_abs(sc);
    return s;
  };
  ScaleRow row;
  row.d_k = d_k;
  row.scaled = run(1.0 / std::sqrt(static_cast<double>(d_k)));
  row.unscaled = run(1.0);
  return row;
}

// ---- (b) a decoder trained without the causal mask ------------------------------------------------
// The task: n random digits a_1..a_n, then each of them plus one (mod 10), trained as a
// language model (predict each next token). The first half is unpredictable (loss log 10 per
// token at best); a causal model learns the second half by attending n positions back and
// adding one. Without the causal mask, position t can also attend to position t + 1, which IS
// the target: the model learns to read the answer (attend to t + 1, output what is there),
// training loss falls to ~0, and at generation time, when the next token does not exist yet,
// there is nothing to read. The "+1" matters: with a plain copy, the digit n positions back
// equals the target too, and a model attending there by accident would still get it right.
//
// The model reads whole sequences and is trained on every position but the last (whose next
// token lies outside the window): so every target it learns from is also in its input, as
// nearly all are in a long context (in a 1,024-token window, 1,023 of the 1,024 positions).
struct CausalConfig {
  int64_t half = 6;        // n: digits to remember; sequences are 2n long
  int64_t n_embd = 32;     // C
  int64_t n_head = 2;      // H
  int64_t steps = 250;     // Adam steps per model
  int64_t batch = 32;      // sequences per step
  double lr = 1e-2;        // Adam's learning rate
  int64_t eval_sequences = 200;  // held-out sequences for the losses and the generation test
  uint64_t seed = 3;
};

// Token + position embeddings, one multi-head self-attention layer with a residual, a linear
// head. The only difference between the two models we train is the is_causal flag.
struct TinyDecoder : ag::nn::Module {
  std::shared_ptr<ag::nn::Embedding> wte;
  std::shared_ptr<ag::nn::LearnedPositionalEmbedding> wpe;
  std::shared_ptr<ag::nn::MultiheadAttention> attn;
  std::shared_ptr<ag::nn::Linear> head;
  bool causal;
  TinyDecoder(int64_t V, int64_t T, int64_t C, int64_t H, bool causal_mask)
      : wte(register_module("wte", std::make_shared<ag::nn::Embedding>(V, C))),
        wpe(register_module("wpe", std::make_shared<ag::nn::LearnedPositionalEmbedding>(T, C))),
        attn(register_module("attn", std::make_shared<ag::nn::MultiheadAttention>(C, H))),
        head(register_module("head", std::make_shared<ag::nn::Linear>(C, V))),
        causal(causal_mask) {}
  // idx: (B, T) int64   returns: logits (B, T, V)
  Tensor forward(const Tensor& idx, bool is_causal) {
    const Tensor x = wte->forward(idx) + wpe->forward(idx.size(1));  // (B, T, C)
    return head->forward(x + attn->forward(x, x, x, {}, is_causal));  // (B, T, V)
  }
  Tensor forward(const Tensor& idx) { return forward(idx, causal); }
};

struct CausalModelStats {
  double train_loss = 0;      // mean loss of the last 20 training steps, as the model was trained
  double honest_loss = 0;     // held-out loss when position t sees only tokens <= t (generation)
  double copy_accuracy = 0;   // greedy generation of the second half from the first: digits right
  double leak = 0;            // max |change| in the logits at positions <= t when only tokens > t change
};
struct CausalResult {
  CausalModelStats causal, no_mask;
  double chance_loss = 0;       // the best possible loss on the unpredictable first half: log 10
  double best_causal_loss = 0;  // what a perfect causal model scores on the whole sequence
};

namespace detail {

// batch sequences a_1..a_n (a_1+1)..(a_n+1) mod 10, digits drawn from gen.   returns: (batch, 2n)
inline Tensor copy_sequences(ag::Generator& gen, int64_t batch, int64_t half) {
  std::vector<int64_t> ids(static_cast<size_t>(batch * 2 * half));
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < half; ++i) {
      const auto digit = static_cast<int64_t>(gen.uniform() * 10.0);
      ids[static_cast<size_t>(b * 2 * half + i)] = digit;
      ids[static_cast<size_t>(b * 2 * half + half + i)] = (digit + 1) % 10;
    }
  return ag::from_vector(ids, {batch, 2 * half});
}

// Next-token loss of positions 0..T-2 (logits (B, T, V)) against seq's tokens 1..T-1.
inline Tensor lm_loss(const Tensor& logits, const Tensor& seq) {
  const int64_t B = logits.size(0), T = logits.size(1) - 1, V = logits.size(2);
  return F::cross_entropy(logits.narrow(1, 0, T).reshape({B * T, V}),
                          seq.narrow(1, 1, T).contiguous().reshape({B * T}));
}

}  // namespace detail

inline CausalResult measure_causal(const CausalConfig& cfg = {}) {
  const int64_t V = 10, L = 2 * cfg.half, T = L;  // the model reads whole sequences
  CausalResult result;
  result.chance_loss = std::log(10.0);
  // Of the L - 1 targets (tokens 1..L-1), tokens 1..n-1 are random; the copied ones are certain.
  result.best_causal_loss = result.chance_loss * static_cast<double>(cfg.half - 1) / static_cast<double>(L - 1);
  ag::Generator eval_gen(cfg.seed + 1000);
  const Tensor eval_seq = detail::copy_sequences(eval_gen, cfg.eval_sequences, cfg.half);
  const Tensor& eval_in = eval_seq;  // (N, T)

  auto train_and_measure = [&](bool causal_mask) {
    ag::manual_seed(cfg.seed);
    ag::Generator gen(cfg.seed);  // both models see the same batches
    TinyDecoder model(V, T, cfg.n_embd, cfg.n_head, causal_mask);
    model.to(ag::kFloat64);
    ag::optim::Adam opt(model.parameters(), ag::optim::AdamOptions(cfg.lr));
    CausalModelStats s;
    double recent = 0;
    int64_t recent_n = 0;
    for (int64_t step = 0; step < cfg.steps; ++step) {
      const Tensor seq = detail::copy_sequences(gen, cfg.batch, cfg.half);  // (B, L)
      const Tensor loss = detail::lm_loss(model.forward(seq), seq);
      opt.zero_grad();
      loss.backward();
      opt.step();
      if (step >= cfg.steps - 20) recent += loss.item<double>(), ++recent_n;
    }
    s.train_loss = recent / static_cast<double>(std::max<int64_t>(recent_n, 1));

    ag::NoGradGuard no_grad;
    // What generation faces: position t has only tokens <= t. For this model that is exactly
    // the forward with the causal mask on (keys > t removed from every softmax).
    s.honest_loss = detail::lm_loss(model.forward(eval_in, /*is_causal=*/true), eval_seq).item<double>();

    // Greedy generation of the second half from the first, one token at a time, each step
    // running the model as trained (its own mask setting) on the tokens generated so far.
    Tensor gen_seq = eval_seq.narrow(1, 0, cfg.half).contiguous();  // (N, n)
    while (gen_seq.size(1) < L) {
      const Tensor logits = model.forward(gen_seq);                        // (N, t, V)
      const Tensor next = logits.select(1, gen_seq.size(1) - 1).argmax(-1, true);  // (N, 1)
      gen_seq = ag::cat({gen_seq, next}, 1);
    }
    const auto want = eval_seq.narrow(1, cfg.half, cfg.half).contiguous().to_vector<int64_t>();
    const auto got = gen_seq.narrow(1, cfg.half, cfg.half).contiguous().to_vector<int64_t>();
    int64_t right = 0;
    for (size_t i = 0; i < want.size(); ++i) right += want[i] == got[i];
    s.copy_accuracy = static_cast<double>(right) / static_cast<double>(want.size());

    // The leak: change every token after position t and see whether positions <= t notice.
    const int64_t t = cfg.half - 1;
    std::vector<int64_t> changed = eval_in.to_vector<int64_t>();
    for (int64_t b = 0; b < cfg.eval_sequences; ++b)
      for (int64_t j = t + 1; j < T; ++j) {
        int64_t& id = changed[static_cast<size_t>(b * T + j)];
        id = (id + 1 + j) % V;
      }
    const Tensor before = model.forward(eval_in).narrow(1, 0, t + 1);
    const Tensor after = model.forward(ag::from_vector(changed, {cfg.eval_sequences, T})).narrow(1, 0, t + 1);
    s.leak = detail::max_abs_diff(before.contiguous(), after.contiguous());
    return s;
  };
  result.causal = train_and_measure(true);
  result.no_mask = train_and_measure(false);
  return result;
}

// ---- (c) a mask multiplied into the scores --------------------------------------------------------
// A mask must remove keys from the softmax: scores of masked keys become -inf, and exp(-inf) = 0.
// Multiplying the scores by a 0/1 matrix instead sets them to 0, and exp(0) = 1: the "masked"
// keys still get weight, about as much as an average key. Multiplying by the upper-triangular
// matrix (ones above the diagonal) is worse: it keeps exactly the future's scores and zeroes
// the past's and the token's own.
struct MaskRow {
  std::string method;
  bool correct = false;         // whether this is a right way to mask
  double future_weight = 0;     // mean over queries of the total weight on keys j > i (want 0)
  double first_row_self = 0;    // query 0's weight on key 0 (want 1: it may see nothing else)
  double max_diff = 0;          // max |weight - the correct causal weights|
};

inline std::vector<MaskRow> measure_masks(int64_t T = 8, int64_t d_k = 16, uint64_t seed = 5) {
  ag::manual_seed(seed);
  const Tensor q = ag::randn({T, d_k}, ag::kFloat64);  // (T, D)
  const Tensor k = ag::randn({T, d_k}, ag::kFloat64);  // (T, D)
  const Tensor v = ag::randn({T, d_k}, ag::kFloat64);  // (T, D)
  const Tensor scores = q.matmul(k.t()) / std::sqrt(static_cast<double>(d_k));  // (T, T)
  const Tensor allowed = detail::causal_allowed(T);                              // (T, T) bool
  const Tensor lower01 = allowed.to(ag::kFloat64);                               // 1 on/below diagonal
  const Tensor upper01 = ag::triu(ag::ones({T, T}, ag::kFloat64), 1);            // 1 strictly above

  const Tensor right = F::softmax(
      scores.masked_fill(ag::logical_not(allowed), -std::numeric_limits<double>::infinity()), -1);
  F::AttentionOptions causal;
  causal.is_causal = true;
  causal.impl = F::AttentionImpl::Plain;
  const Tensor sdpa = F::scaled_dot_product_attention_with_weights(q, k, v, causal).second;

  auto row_of = [&](std::string method, bool correct, const Tensor& w) {
    MaskRow r;
    r.method = std::move(method);
    r.correct = correct;
    const auto p = w.to_vector<double>();
    double future = 0;
    for (int64_t i = 0; i < T; ++i)
      for (int64_t j = i + 1; j < T; ++j) future += p[static_cast<size_t>(i * T + j)];
    r.future_weight = future / static_cast<double>(T);
    r.first_row_self = p[0];
    r.max_diff = detail::max_abs_diff(w, right);
    return r;
  };
  return {
      row_of("masked_fill(-inf), then softmax", true, right),
      row_of("sdpa(is_causal=true)", true, sdpa),
      row_of("scores * tril(ones), then softmax", false, F::softmax(scores * lower01, -1)),
      row_of("scores * triu(ones, 1), then softmax", false, F::softmax(scores * upper01, -1)),
  };
}

// ---- (d) padding left unmasked ---------------------------------------------------------------------
// A batch pads short sequences to a common length. Unless the padded keys are masked out, every
// real token attends to the padding too, so its output depends on how much padding its batch
// happened to need; with key_padding_mask the padding gets exactly zero weight.
struct PaddingRow {
  int64_t pad = 0;                // padding tokens appended to a 5-token sequence
  double change_unmasked = 0;     // max |output - output without padding| over the real tokens
  double change_masked = 0;       // the same with key_padding_mask
};

inline std::vector<PaddingRow> measure_padding(const std::vector<int64_t>& pads = {0, 1, 3, 8, 24},
                                               uint64_t seed = 7) {
  const int64_t C = 16, H = 2, V = 12, real = 5, kPad = 0;
  ag::manual_seed(seed);
  ag::nn::Embedding embed(V, C);
  ag::nn::MultiheadAttention attn(C, H);
  embed.to(ag::kFloat64);
  attn.to(ag::kFloat64);
  ag::NoGradGuard no_grad;
  const std::vector<int64_t> tokens = {3, 7, 1, 9, 4};
  auto run = [&](int64_t pad, bool mask) {
    std::vector<int64_t> ids = tokens;
    ids.resize(static_cast<size_t>(real + pad), kPad);
    std::vector<bool> padded(ids.size(), false);
    std::fill(padded.begin() + real, padded.end(), true);
    const int64_t S = real + pad;
    const Tensor x = embed.forward(ag::from_vector(ids, {1, S}));  // (1, S, C)
    std::optional<Tensor> key_padding;
    if (mask) key_padding = ag::from_vector(padded, {1, S});     // true = padded
    return attn.forward(x, x, x, key_padding).narrow(1, 0, real).contiguous();  // (1, 5, C)
  };
  const Tensor base = run(0, false);
  std::vector<PaddingRow> rows;
  for (int64_t pad : pads) {
    PaddingRow r;
    r.pad = pad;
    r.change_unmasked = detail::max_abs_diff(run(pad, false), base);
    r.change_masked = detail::max_abs_diff(run(pad, true), base);
    rows.push_back(r);
  }
  return rows;
}

// ---- (e) softmax without the max shift ------------------------------------------------------------
// softmax(x) = exp(x) / sum(exp(x)) is exact math and bad arithmetic: float32's exp overflows to
// Inf above 88.7, and Inf / Inf is NaN. Subtracting the row max first changes nothing
// mathematically (the factor exp(-max) cancels) and keeps every exp() in (0, 1]. Two remedies
// seen in the wild fail: adding a tiny epsilon to the scores changes nothing about their size,
// and clipping the scores to [-10, 10] avoids the overflow by computing a different function.
struct SoftmaxRow {
  double logit_scale = 0;  // logits are logit_scale * (1, 0.5, 0, -0.5), float32
  std::string method;
  bool correct = false;
  int64_t non_finite = 0;  // NaN or Inf weights
  double max_error = 0;    // max |weight - exact softmax| (Inf when a weight is not finite)
};

inline std::vector<SoftmaxRow> measure_softmax(const std::vector<double>& scales = {1, 10, 50, 100, 1000}) {
  std::vector<SoftmaxRow> rows;
  const std::vector<double> base = {1.0, 0.5, 0.0, -0.5};
  for (double scale : scales) {
    std::vector<float> logits;
    for (double b : base) logits.push_back(static_cast<float>(scale * b));
    const Tensor x = ag::from_vector(logits, {1, 4});  // (1, 4) float32
    // The exact answer, in float64 with the shift (exp of a float64 overflows only above 709).
    const Tensor exact = F::softmax(x.to(ag::kFloat64), -1);
    const Tensor e = x.exp();
    const Tensor eps = x + 1e-9f;  // rounds back to x for every |x| above ~1e-2: nothing changes
    const Tensor e_eps = eps.exp();
    const Tensor clipped = ag::minimum(ag::maximum(x, ag::full({1, 4}, -10.0)), ag::full({1, 4}, 10.0));
    auto row_of = [&](std::string method, bool correct, const Tensor& w) {
      SoftmaxRow r;
      r.logit_scale = scale;
      r.method = std::move(method);
      r.correct = correct;
      const auto p = w.to_vector<double>(), want = exact.to_vector<double>();
      for (size_t i = 0; i < p.size(); ++i) {
        if (!std::isfinite(p[i])) {
          ++r.non_finite;
          r.max_error = std::numeric_limits<double>::infinity();
        } else {
          r.max_error = std::max(r.max_error, std::fabs(p[i] - want[i]));
        }
      }
      return r;
    };
    rows.push_back(row_of("softmax (shifted by the row max)", true, F::softmax(x, -1)));
    rows.push_back(row_of("exp(x) / sum(exp(x))", false, e / e.sum({-1}, true)));
    rows.push_back(row_of("exp(x + 1e-9) / sum(...)", false, e_eps / e_eps.sum({-1}, true)));
    rows.push_back(row_of("softmax(clip(x, -10, 10))", false, F::softmax(clipped, -1)));
  }
  return rows;
}

// What anomaly mode says when the unshifted softmax meets a large logit: the op whose forward
// made the first NaN, and the whole message.
struct AnomalyReport {
  bool caught = false;
  std::string op;
  std::string message;
  bool shifted_backward_finite = false;  // the real softmax's gradient on the same logits
};

inline AnomalyReport catch_unshifted_softmax_nan(double logit = 100.0) {
  AnomalyReport report;
  ag::autograd::DetectAnomalyGuard anomaly;
  const std::vector<float> values = {static_cast<float>(logit), 0.f, 1.f, 2.f};
  Tensor x = ag::from_vector(values, {1, 4}).requires_grad_();
  try {
    const Tensor e = x.exp();                     // (1, 4): exp(100) = Inf in float32
    const Tensor w = e / e.sum({-1}, true);       // Inf / Inf = NaN: anomaly mode stops here
    w.sum().backward();
  } catch (const ag::Error& error) {
    report.caught = true;
    report.op = error.op();
    report.message = error.what();
  }
  Tensor y = ag::from_vector(values, {1, 4}).requires_grad_();
  (F::softmax(y, -1) * ag::from_vector(std::vector<float>{1, 2, 3, 4}, {1, 4})).sum().backward();
  report.shifted_backward_finite = true;
  for (double g : y.grad().to_vector<double>()) report.shifted_backward_finite &= std::isfinite(g);
  return report;
}

}  // namespace pitfalls

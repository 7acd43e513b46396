// gradcheck_cases_nn.cpp: the list itself, one line per case, as in autograd/gradcheck_cases.cpp:
//   r.add(op, variant, inputs, fn[, second_order, options])            a function of its inputs
//   r.module<M>(op, variant, build, data, forward[, second_order])     a module and its weights
// Inputs stay off kinks as there; attention cases keep one valid key per query unless the
// case is about a fully masked row.
#include "nn/gradcheck_cases_nn.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <utility>

#include "nn/nn.h"
#include "tensor/random.h"

namespace ag::nn {

namespace {

namespace F = functional;
using autograd::GradcheckCase;
using autograd::GradcheckOptions;
using Fn = std::function<TensorList(const TensorList&)>;
using Inputs = std::function<TensorList()>;

// 64-bit FNV-1a of "op/variant": the case's seed, fixed by its name alone.
uint64_t seed_of(const std::string& op, const std::string& variant) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (char c : op + "/" + variant) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ull;
  }
  return hash;
}

Tensor leaf(const Shape& shape) { return randn(shape, kFloat64).requires_grad_(); }
Tensor constant(const Shape& shape) { return randn(shape, kFloat64); }
Tensor ids(const std::vector<int64_t>& values, const Shape& shape) {
  return from_vector<int64_t>(values, shape);
}
Tensor bools(const std::vector<bool>& values, const Shape& shape) {
  return from_vector<bool>(values, shape);
}

// Redraws every parameter at N(0, 0.3^2): default inits (LayerNorm's 1 and 0, nanoGPT's 0.02)
// would leave nonlinearities nearly linear and some gradients nearly zero.
void randomise(Module& m) {
  NoGradGuard no_grad;
  for (auto& [name, p] : m.named_parameters()) p.copy_(randn(p.shape(), kFloat64) * 0.3);
}

class Registry {
 public:
  void add(std::string op, std::string variant, Inputs inputs, Fn fn, bool second_order = true,
           GradcheckOptions options = {}) {
    const uint64_t seed = seed_of(op, variant);
    Inputs seeded = [seed, inputs = std::move(inputs)] {
      manual_seed(seed);
      return inputs();
    };
    cases_.push_back(GradcheckCase{std::move(op), std::move(variant), std::move(seeded),
                                   std::move(fn), options, second_order});
  }

  // A module case. build() makes the module (in float32, as users do; it is moved to float64
  // here), data() draws its data inputs, forward(module, data) is differentiated with respect
  // to the data that requires grad and every parameter. The module lives in a holder shared by
  // the two lambdas: drawing the inputs rebuilds it, so each gradcheck call starts fresh.
  template <typename M>
  void module(std::string op, std::string variant, std::function<std::shared_ptr<M>()> build,
              Inputs data, std::function<Tensor(M&, const TensorList&)> forward,
              bool second_order = true) {
    auto holder = std::make_shared<std::shared_ptr<M>>();
    auto num_data = std::make_shared<size_t>(0);
    add(std::move(op), std::move(variant),
        [=] {
          *holder = build();
          (*holder)->to(kFloat64);
          randomise(**holder);
          TensorList inputs = data();
          *num_data = inputs.size();
          for (const Tensor& p : (*holder)->parameters()) inputs.push_back(p);
          return inputs;
        },
        [=](const TensorList& inputs) {
          // The parameters are inputs[num_data..], the same tensors the module holds, so
          // gradcheck's in-place perturbations reach the module.
          const TensorList data_inputs(inputs.begin(), inputs.begin() + static_cast<int64_t>(*num_data));
          return TensorList{forward(**holder, data_inputs)};
        },
        second_order);
  }

  std::vector<GradcheckCase> take() { return std::move(cases_); }

 private:
  std::vector<GradcheckCase> cases_;
};

Fn one(std::function<Tensor(const Tensor&)> f) {
  return [f = std::move(f)](const TensorList& x) { return TensorList{f(x[0])}; };
}

// sdpa with options on inputs q, k, v (and whatever else the lambda reads).
Fn sdpa(F::AttentionOptions options) {
  return [options](const TensorList& x) {
    return TensorList{F::scaled_dot_product_attention(x[0], x[1], x[2], options)};
  };
}
F::AttentionOptions attention(F::AttentionImpl impl, bool causal = false) {
  F::AttentionOptions o;
  o.impl = impl;
  o.is_causal = causal;
  return o;
}
Inputs qkv(int64_t B, int64_t H, int64_t T, int64_t S, int64_t D) {
  return [=] { return TensorList{leaf({B, H, T, D}), leaf({B, H, S, D}), leaf({B, H, S, D})}; };
}

}  // namespace

std::vector<GradcheckCase> nn_gradcheck_cases() {
  Registry r;
  constexpr double kInf = std::numeric_limits<double>::infinity();

  // ---- activations and normalisation ---------------------------------------------------------
  r.add("F.softmax", "plain", [] { return TensorList{leaf({3, 5})}; }, one([](const Tensor& x) { return F::softmax(x, -1); }));
  r.add("F.softmax", "dim0", [] { return TensorList{leaf({3, 5})}; }, one([](const Tensor& x) { return F::softmax(x, 0); }));
  r.add("F.softmax", "masked_row", [] { return TensorList{leaf({3, 4})}; }, one([kInf](const Tensor& x) {
          return F::softmax(x.masked_fill(bools({0, 0, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1}, {3, 4}), -kInf), -1); }));
  r.add("F.log_softmax", "plain", [] { return TensorList{leaf({3, 5})}; }, one([](const Tensor& x) { return F::log_softmax(x, -1); }));
  r.add("F.log_softmax", "transposed", [] { return TensorList{constant({5, 3}).t().requires_grad_()}; }, one([](const Tensor& x) { return F::log_softmax(x, -1); }));
  r.add("F.gelu", "none", [] { return TensorList{leaf({3, 4})}; }, one([](const Tensor& x) { return F::gelu(x); }));
  r.add("F.gelu", "tanh", [] { return TensorList{leaf({3, 4})}; }, one([](const Tensor& x) { return F::gelu(x, "tanh"); }));
  for (const char* form : {"none", "tanh"})
    r.add("F.bias_gelu", form, [] { return TensorList{leaf({2, 3, 4}), leaf({4})}; },
          [form](const TensorList& x) { return TensorList{F::bias_gelu(x[0], x[1], form)}; });
  r.add("F.layer_norm", "affine", [] { return TensorList{leaf({2, 3, 5}), leaf({5}), leaf({5})}; },
        [](const TensorList& x) { return TensorList{F::layer_norm(x[0], {5}, x[1], x[2])}; });
  r.add("F.layer_norm", "no_affine", [] { return TensorList{leaf({4, 6})}; }, one([](const Tensor& x) { return F::layer_norm(x, {6}); }));
  r.add("F.layer_norm", "two_dims", [] { return TensorList{leaf({2, 3, 4}), leaf({3, 4}), leaf({3, 4})}; },
        [](const TensorList& x) { return TensorList{F::layer_norm(x[0], {3, 4}, x[1], x[2])}; });
  r.add("F.layer_norm", "transposed", [] { return TensorList{constant({5, 3}).t().requires_grad_(), leaf({5})}; },
        [](const TensorList& x) { return TensorList{F::layer_norm(x[0], {5}, x[1])}; });

  // ---- regularisation and layers as functions ------------------------------------------------
  r.add("F.dropout", "p0.3", [] { return TensorList{leaf({4, 5})}; }, one([](const Tensor& x) { return F::dropout(x, 0.3, true); }));
  r.add("F.linear", "bias", [] { return TensorList{leaf({3, 4}), leaf({2, 4}), leaf({2})}; },
        [](const TensorList& x) { return TensorList{F::linear(x[0], x[1], x[2])}; });
  r.add("F.linear", "no_bias_batched", [] { return TensorList{leaf({2, 3, 4}), leaf({5, 4})}; },
        [](const TensorList& x) { return TensorList{F::linear(x[0], x[1])}; });
  r.add("F.embedding", "repeated_ids", [] { return TensorList{leaf({5, 3})}; },
        one([](const Tensor& w) { return F::embedding(ids({1, 4, 1, 0, 4, 4}, {2, 3}), w); }));

  // ---- losses ---------------------------------------------------------------------------------
  const Tensor targets = ids({2, 0, 4, 1}, {4});
  r.add("F.cross_entropy", "mean", [] { return TensorList{leaf({4, 5})}; },
        one([=](const Tensor& x) { return F::cross_entropy(x, targets); }));
  r.add("F.cross_entropy", "sum", [] { return TensorList{leaf({4, 5})}; },
        one([=](const Tensor& x) { return F::cross_entropy(x, targets, F::CrossEntropyOptions().reduction_(F::Reduction::Sum)); }));
  r.add("F.cross_entropy", "none", [] { return TensorList{leaf({4, 5})}; },
        one([=](const Tensor& x) { return F::cross_entropy(x, targets, F::CrossEntropyOptions().reduction_(F::Reduction::None)); }));
  r.add("F.cross_entropy", "ignore_index", [] { return TensorList{leaf({4, 5})}; },
        one([](const Tensor& x) { return F::cross_entropy(x, ids({2, -1, 4, -1}, {4}), F::CrossEntropyOptions().ignore_index_(-1)); }));
  r.add("F.cross_entropy", "label_smoothing", [] { return TensorList{leaf({4, 5})}; },
        one([=](const Tensor& x) { return F::cross_entropy(x, targets, F::CrossEntropyOptions().label_smoothing_(0.1)); }));
  r.add("F.cross_entropy", "batched_3d", [] { return TensorList{leaf({2, 3, 4})}; },
        one([](const Tensor& x) { return F::cross_entropy(x, ids({0, 3, 1, 2, 2, 0}, {2, 3})); }));

  // ---- attention: the plain path (twice differentiable) and the fused kernel (once) ------------
  for (const auto impl : {F::AttentionImpl::Plain, F::AttentionImpl::Fused}) {
    const bool plain = impl == F::AttentionImpl::Plain;
    const std::string op = plain ? "F.sdpa_plain" : "F.sdpa_fused";
    r.add(op, "plain", qkv(1, 2, 3, 4, 3), sdpa(attention(impl)), plain);
    r.add(op, "causal", qkv(1, 2, 4, 4, 3), sdpa(attention(impl, true)), plain);
    r.add(op, "causal_T_lt_S", qkv(1, 1, 2, 4, 3), sdpa(attention(impl, true)), plain);
    F::AttentionOptions masked = attention(impl);
    masked.attn_mask = bools({1, 0, 1, 1, 0, 1, 0, 0, 1, 1, 1, 0}, {3, 4});  // true = may attend
    r.add(op, "bool_mask", qkv(2, 1, 3, 4, 2), sdpa(masked), plain);
    F::AttentionOptions fully = attention(impl);
    fully.attn_mask = bools({1, 1, 0, 0, 0, 0, 0, 1, 1}, {3, 3});  // query 1 sees nothing: zeros
    r.add(op, "fully_masked_row", qkv(1, 1, 3, 3, 2), sdpa(fully), plain);
    F::AttentionOptions window = attention(impl, true);
    window.window = 2;
    r.add(op, "window", qkv(1, 1, 5, 5, 2), sdpa(window), plain);
    F::AttentionOptions scaled = attention(impl);
    scaled.scale = 0.3;
    r.add(op, "scale", qkv(1, 2, 3, 3, 2), sdpa(scaled), plain);
    F::AttentionOptions dropout = attention(impl);
    dropout.dropout_p = 0.3;
    r.add(op, "dropout", qkv(1, 2, 3, 4, 2), sdpa(dropout), plain);
  }
  // The fused kernel's own gradient for a learned bias, k and v shared across the batch, and a
  // query block (16) and key tile (64) crossed; checked through projections, so still cheap.
  r.add("F.sdpa_fused", "float_mask", [] { return TensorList{leaf({1, 2, 3, 2}), leaf({1, 2, 4, 2}), leaf({1, 2, 4, 2}), leaf({3, 4})}; },
        [](const TensorList& x) {
          F::AttentionOptions o = attention(F::AttentionImpl::Fused);
          o.attn_mask = x[3];
          return TensorList{F::scaled_dot_product_attention(x[0], x[1], x[2], o)};
        }, false);
  r.add("F.sdpa_fused", "broadcast_kv", [] { return TensorList{leaf({2, 2, 3, 2}), leaf({1, 2, 4, 2}), leaf({1, 2, 4, 2})}; },
        sdpa(attention(F::AttentionImpl::Fused)), false);
  r.add("F.sdpa_fused", "tile_edges", qkv(1, 1, 17, 66, 2), sdpa(attention(F::AttentionImpl::Fused, true)), false);
  r.add("F.sdpa_plain", "float_mask", [] { return TensorList{leaf({1, 2, 3, 2}), leaf({1, 2, 4, 2}), leaf({1, 2, 4, 2}), leaf({3, 4})}; },
        [](const TensorList& x) {
          F::AttentionOptions o = attention(F::AttentionImpl::Plain);
          o.attn_mask = x[3];  // an additive bias, itself differentiated
          return TensorList{F::scaled_dot_product_attention(x[0], x[1], x[2], o)};
        });

  // Attention on a packed (B, T, 3C) projection: the fused kernel reading q, k, v in place and
  // writing d(qkv) in one piece (float64 runs its reference loops on the same layouts), and the
  // plain composition. T = 18 crosses a query block of 16.
  for (const auto impl : {F::AttentionImpl::Plain, F::AttentionImpl::Fused}) {
    const bool plain = impl == F::AttentionImpl::Plain;
    const std::string op = plain ? "F.sdpa_packed_plain" : "F.sdpa_packed_fused";
    auto packed = [](int64_t B, int64_t T, int64_t C) {
      return [=] { return TensorList{leaf({B, T, 3 * C})}; };
    };
    auto attend = [](int64_t heads, F::AttentionOptions o) {
      return one([=](const Tensor& qkv) { return F::scaled_dot_product_attention_packed(qkv, heads, o); });
    };
    r.add(op, "causal", packed(2, 4, 6), attend(2, attention(impl, true)), plain);
    r.add(op, "one_head_block_edge", packed(1, 18, 2), attend(1, attention(impl, true)), plain);
    F::AttentionOptions masked = attention(impl);
    masked.attn_mask = bools({1, 0, 1, 1, 1, 0, 0, 1, 1}, {3, 3});
    r.add(op, "bool_mask", packed(1, 3, 4), attend(2, masked), plain);
    F::AttentionOptions dropout = attention(impl, true);
    dropout.dropout_p = 0.3;
    r.add(op, "dropout", packed(1, 4, 4), attend(2, dropout), plain);
  }
  r.add("F.sdpa_packed_fused", "float_mask", [] { return TensorList{leaf({1, 3, 12}), leaf({2, 3, 3})}; },
        [](const TensorList& x) {
          F::AttentionOptions o = attention(F::AttentionImpl::Fused);
          o.attn_mask = x[1];  // per-head learned bias (H, T, S), broadcast over the batch
          return TensorList{F::scaled_dot_product_attention_packed(x[0], 2, o)};
        }, false);

  // ---- modules ----------------------------------------------------------------------------------
  r.module<Linear>("nn.Linear", "bias", [] { return std::make_shared<Linear>(4, 3); },
                   [] { return TensorList{leaf({2, 4})}; }, [](Linear& m, const TensorList& x) { return m(x[0]); });
  r.module<Linear>("nn.Linear", "no_bias_3d", [] { return std::make_shared<Linear>(4, 3, false); },
                   [] { return TensorList{leaf({2, 2, 4})}; }, [](Linear& m, const TensorList& x) { return m(x[0]); });
  r.module<LayerNorm>("nn.LayerNorm", "affine", [] { return std::make_shared<LayerNorm>(5); },
                      [] { return TensorList{leaf({2, 3, 5})}; }, [](LayerNorm& m, const TensorList& x) { return m(x[0]); });
  r.module<Embedding>("nn.Embedding", "plain", [] { return std::make_shared<Embedding>(6, 3); },
                      [] { return TensorList{}; }, [](Embedding& m, const TensorList&) { return m(ids({5, 0, 2, 2}, {2, 2})); });
  r.module<LearnedPositionalEmbedding>("nn.LearnedPositionalEmbedding", "plain",
                      [] { return std::make_shared<LearnedPositionalEmbedding>(6, 3); },
                      [] { return TensorList{}; }, [](LearnedPositionalEmbedding& m, const TensorList&) { return m.forward(int64_t{4}); });
  r.module<SinusoidalPositionalEncoding>("nn.SinusoidalPositionalEncoding", "plain",
                      [] { return std::make_shared<SinusoidalPositionalEncoding>(8, 4); },
                      [] { return TensorList{leaf({2, 3, 4})}; }, [](SinusoidalPositionalEncoding& m, const TensorList& x) { return m(x[0]); });
  r.module<Dropout>("nn.Dropout", "p0.3", [] { return std::make_shared<Dropout>(0.3); },
                    [] { return TensorList{leaf({3, 4})}; }, [](Dropout& m, const TensorList& x) { return m(x[0]); });
  r.module<MLP>("nn.MLP", "plain", [] { return std::make_shared<MLP>(4); },
                [] { return TensorList{leaf({2, 3, 4})}; }, [](MLP& m, const TensorList& x) { return m(x[0]); });
  r.module<MultiheadAttention>("nn.MultiheadAttention", "self", [] { return std::make_shared<MultiheadAttention>(4, 2); },
                               [] { return TensorList{leaf({2, 3, 4})}; },
                               [](MultiheadAttention& m, const TensorList& x) { return m(x[0], x[0], x[0]); }, false);
  r.module<MultiheadAttention>("nn.MultiheadAttention", "cross_padding", [] { return std::make_shared<MultiheadAttention>(4, 2); },
                               [] { return TensorList{leaf({2, 3, 4}), leaf({2, 5, 4})}; },
                               [](MultiheadAttention& m, const TensorList& x) {
                                 const Tensor padded = bools({0, 0, 0, 1, 1, 0, 0, 0, 0, 1}, {2, 5});  // true = padded
                                 return m(x[0], x[1], x[1], padded);
                               }, false);
  r.module<MultiheadAttention>("nn.MultiheadAttention", "causal_weights", [] { return std::make_shared<MultiheadAttention>(4, 2); },
                               [] { return TensorList{leaf({1, 4, 4})}; },
                               [](MultiheadAttention& m, const TensorList& x) {
                                 return m.forward_with_weights(x[0], x[0], x[0], {}, true).first;  // plain path
                               });
  r.module<CausalSelfAttention>("nn.CausalSelfAttention", "plain", [] { return std::make_shared<CausalSelfAttention>(4, 2); },
                                [] { return TensorList{leaf({2, 3, 4})}; },
                                [](CausalSelfAttention& m, const TensorList& x) { return m(x[0]); }, false);
  r.module<TransformerBlock>("nn.TransformerBlock", "plain", [] { return std::make_shared<TransformerBlock>(4, 2); },
                             [] { return TensorList{leaf({2, 3, 4})}; },
                             [](TransformerBlock& m, const TensorList& x) { return m(x[0]); }, false);
  auto tiny_gpt = [] {
    GPTConfig c;
    c.block_size = 4, c.vocab_size = 7, c.n_layer = 1, c.n_head = 2, c.n_embd = 4;
    return std::make_shared<GPT>(c);
  };
  r.module<GPT>("nn.GPT", "logits", tiny_gpt, [] { return TensorList{}; },
                [](GPT& m, const TensorList&) { return m(ids({1, 5, 6, 0, 3, 3, 2, 4}, {2, 4})); }, false);
  r.module<GPT>("nn.GPT", "loss", tiny_gpt, [] { return TensorList{}; },
                [](GPT& m, const TensorList&) {
                  return m.forward(ids({1, 5, 6, 0, 3, 3, 2, 4}, {2, 4}), ids({5, 6, 0, 3, 3, 2, 4, 1}, {2, 4})).second;
                }, false);
  return r.take();
}

}  // namespace ag::nn

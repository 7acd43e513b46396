// gpt.cpp: the GPT model: building the tree under nanoGPT's names, its init, the forward pass
// (embeddings -> blocks -> final norm -> vocabulary logits) and sampling.
// Legend: B batch, T sequence length, C channels, V vocabulary size.
#include "nn/gpt.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <sstream>
#include <vector>

#include "nn/init.h"

namespace ag::nn {

namespace F = functional;

namespace {

// Calls fn on m and on every module below it, parents first (torch's Module.apply, top-down).
void for_each_module(Module& m, const std::function<void(Module&)>& fn) {
  fn(m);
  for (const auto& [name, child] : m.named_children()) for_each_module(*child, fn);
}

// Puts a module's training flag back on scope exit (generate runs in eval mode).
class TrainingModeRestorer {
 public:
  explicit TrainingModeRestorer(Module& m) : module_(m), was_training_(m.is_training()) {}
  ~TrainingModeRestorer() { module_.train(was_training_); }
  TrainingModeRestorer(const TrainingModeRestorer&) = delete;
  TrainingModeRestorer& operator=(const TrainingModeRestorer&) = delete;

 private:
  Module& module_;
  bool was_training_;
};

// Draws an index from the distribution softmax(logits) (entries of -inf have probability 0).
// Shifting by the max keeps exp() <= 1; the draw inverts the cumulative distribution.
int64_t sample_from_logits(const std::vector<double>& logits, Generator& generator) {
  const double max_logit = *std::max_element(logits.begin(), logits.end());
  std::vector<double> weights(logits.size());
  double total = 0.0;
  for (size_t i = 0; i < logits.size(); ++i) total += weights[i] = std::exp(logits[i] - max_logit);
  const double u = generator.uniform() * total;
  double cumulative = 0.0;
  int64_t last_possible = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    if (weights[i] == 0.0) continue;
    cumulative += weights[i];
    last_possible = static_cast<int64_t>(i);
    if (u < cumulative) return last_possible;
  }
  return last_possible;  // u landed on the rounding error at the very top
}

}  // namespace

GPT::GPT(const GPTConfig& config) : config_(config) {
  if (config.vocab_size <= 0 || config.block_size <= 0 || config.n_layer < 0 || config.n_embd <= 0)
    throw Error("GPT", "vocab_size, block_size and n_embd must be positive and n_layer >= 0, got "
                "vocab_size=", config.vocab_size, ", block_size=", config.block_size,
                ", n_embd=", config.n_embd, ", n_layer=", config.n_layer);
  const int64_t C = config.n_embd;
  // Registration order is nanoGPT's: it fixes the order of named_parameters() and state_dict().
  transformer = register_module("transformer", std::make_shared<ModuleDict>());
  wte = transformer->insert("wte", std::make_shared<Embedding>(config.vocab_size, C));
  wpe = transformer->insert("wpe", std::make_shared<LearnedPositionalEmbedding>(config.block_size, C));
  drop = transformer->insert("drop", std::make_shared<Dropout>(config.dropout));
  h = transformer->insert("h", std::make_shared<ModuleList>());
  for (int64_t i = 0; i < config.n_layer; ++i)
    h->push_back(std::make_shared<TransformerBlock>(C, config.n_head, config.dropout, config.bias));
  ln_f = transformer->insert("ln_f", std::make_shared<LayerNorm>(C, 1e-5, true, config.bias));
  // Tied: the head is a Linear around wte's (V, C) matrix, which is already the (out, in) layout
  // a C -> V Linear wants. Same tensor, so both uses add into one gradient.
  lm_head = register_module("lm_head", config.tie_weights
                                           ? std::make_shared<Linear>(wte->weight)
                                           : std::make_shared<Linear>(C, config.vocab_size, false));
  init_weights();
}

void GPT::init_weights() {
  // nanoGPT's _init_weights, applied to every module...
  for_each_module(*this, [](Module& m) {
    if (auto* linear = dynamic_cast<Linear*>(&m)) {
      init::normal_(linear->weight, 0.0, 0.02);
      if (linear->bias.defined()) init::zeros_(linear->bias);
    } else if (auto* embedding = dynamic_cast<Embedding*>(&m)) {
      init::normal_(embedding->weight, 0.0, 0.02);
    }
  });
  // ...then GPT-2's scaled init of the projections that write into the residual stream: each of
  // the 2 n_layer residual branches adds variance, so each starts 1/sqrt(2 n_layer) smaller.
  const double std = 0.02 / std::sqrt(2.0 * static_cast<double>(std::max<int64_t>(config_.n_layer, 1)));
  for (auto& [name, p] : named_parameters())
    if (name.ends_with("c_proj.weight")) init::normal_(p, 0.0, std);
}

Tensor GPT::hidden_states(const Tensor& idx) {
  if (!idx.defined() || idx.dtype() != kInt64 || idx.dim() != 2)
    throw Error("GPT", "expected idx to be int64 token ids of shape (B, T), got ",
                idx.defined() ? idx.shape().str() + " " + std::string(dtype_name(idx.dtype()))
                              : std::string("undefined"));
  const int64_t T = idx.size(1);
  if (T > config_.block_size)
    throw Error("GPT", "cannot forward a sequence of length T=", T, ": block_size is only ",
                config_.block_size, " (crop idx to its last block_size tokens, as generate does)");
  const Tensor tok_emb = wte->forward(idx);  // (B, T, C); an id outside [0, V) throws here
  const Tensor pos_emb = wpe->forward(T);    // (T, C), broadcast over B
  Tensor x = drop->forward(tok_emb + pos_emb);  // (B, T, C)
  for (size_t i = 0; i < h->size(); ++i) x = h->at<TransformerBlock>(i)->forward(x);  // (B, T, C)
  return ln_f->forward(x);  // (B, T, C)
}

Tensor GPT::forward(const Tensor& idx) {
  return lm_head->forward(hidden_states(idx));  // (B, T, V)
}

std::pair<Tensor, Tensor> GPT::forward(const Tensor& idx, const Tensor& targets,
                                       const F::CrossEntropyOptions& options) {
  const Tensor logits = forward(idx);  // (B, T, V)
  if (!targets.defined() || targets.shape() != idx.shape())
    throw Error("GPT", "targets must have idx's shape ", idx.shape(), ", got ",
                targets.defined() ? targets.shape().str() : std::string("undefined"));
  const int64_t B = idx.size(0), T = idx.size(1), V = config_.vocab_size;
  const Tensor loss = F::cross_entropy(logits.view({B * T, V}),    // (B*T, V)
                                       targets.reshape({B * T}),   // (B*T)
                                       options);                   // scalar
  return {logits, loss};
}

Tensor GPT::generate(Tensor idx, int64_t max_new_tokens, double temperature,
                     std::optional<int64_t> top_k, Generator& generator) {
  if (max_new_tokens < 0) throw Error("GPT.generate", "max_new_tokens must be >= 0, got ", max_new_tokens);
  if (!(temperature > 0.0)) throw Error("GPT.generate", "temperature must be > 0, got ", temperature);
  if (top_k && *top_k <= 0) throw Error("GPT.generate", "top_k must be positive, got ", *top_k);
  if (!idx.defined() || idx.dim() != 2 || idx.size(1) == 0 || idx.dtype() != kInt64)
    throw Error("GPT.generate", "expected idx to be int64 (B, T) with T >= 1, got ",
                idx.defined() ? idx.shape().str() : std::string("undefined"));
  NoGradGuard no_grad;
  TrainingModeRestorer restore(*this);
  eval();
  const int64_t B = idx.size(0), V = config_.vocab_size;
  const int64_t k = top_k ? std::min(*top_k, V) : V;
  for (int64_t step = 0; step < max_new_tokens; ++step) {
    // The model has positions for block_size tokens only: condition on the last ones.
    const int64_t T = idx.size(1);
    const Tensor idx_cond = T <= config_.block_size ? idx : idx.narrow(1, T - config_.block_size, config_.block_size);
    const Tensor last = hidden_states(idx_cond).select(1, idx_cond.size(1) - 1);  // (B, C)
    // Only the last position is needed, so the head runs on one row per sequence.
    const std::vector<double> logits = (lm_head->forward(last) / temperature).to_vector<double>();  // (B, V)
    std::vector<int64_t> next(static_cast<size_t>(B));
    for (int64_t b = 0; b < B; ++b) {
      std::vector<double> row(logits.begin() + b * V, logits.begin() + (b + 1) * V);
      if (k < V) {
        // Keep the k largest: everything below the k-th largest value gets probability 0.
        std::vector<double> sorted = row;
        std::nth_element(sorted.begin(), sorted.begin() + (k - 1), sorted.end(), std::greater<>());
        const double kth = sorted[static_cast<size_t>(k - 1)];
        for (double& logit : row)
          if (logit < kth) logit = -std::numeric_limits<double>::infinity();
      }
      next[static_cast<size_t>(b)] = sample_from_logits(row, generator);
    }
    idx = cat({idx, from_vector<int64_t>(next, {B, 1})}, 1);  // (B, T + 1)
  }
  return idx;
}

int64_t GPT::get_num_params(bool non_embedding) const {
  int64_t n = num_parameters();
  if (non_embedding) n -= wpe->weight.numel();
  return n;
}

std::string GPT::name() const {
  std::ostringstream os;
  os << "GPT(n_layer=" << config_.n_layer << ", n_head=" << config_.n_head << ", n_embd="
     << config_.n_embd << ", block_size=" << config_.block_size << ", vocab_size="
     << config_.vocab_size << ", dropout=" << config_.dropout << ", bias="
     << (config_.bias ? "true" : "false") << ", tie_weights="
     << (config_.tie_weights ? "true" : "false") << ")";
  return os.str();
}

}  // namespace ag::nn

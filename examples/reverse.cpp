// reverse.cpp: the default demo. A small causal transformer (nn::GPT: 2 layers, 4 heads, 64
// channels, 100k parameters) learns to write a sequence of digits backwards:
//
//   3 1 4 1 5 9 2 6 > 6 2 9 5 1 4 1 3          8 to 16 digits, a separator, the reverse
//
// The data is generated here, fresh for every batch, so there is nothing to download. The loss
// counts only the answer (the tokens after ">"): the digits before it are random and cannot be
// predicted, so their targets are ignore_index. Every few steps it checks 500 validation
// sequences and stops once 99.5% come out exactly right; then it decodes 1,000 held-out
// sequences greedily, reports how many are exactly right, and draws every head's attention
// weights for one of them to reverse_attention.svg (and the clearest head, shaded, in the
// terminal): to write answer digit i the model looks at input digit L-1-i, an anti-diagonal.
//
// Sequences are left-padded so that ">" always sits at the same position (see offset_of):
// the digit to copy is then a fixed position for each answer position, which attention learns
// in about a hundred steps. With --align 0 the sequences start at position 0, the model must
// find ">" before it can aim, and it needs many thousands of steps (9% exact after 3,000).
//
// On a laptop CPU (2 cores) it stops after about 100 steps and 15-30 seconds, with the loss
// down from ~2.5 to ~0.02 and 100% of the held-out sequences reversed exactly.
//
//   ./build/release/examples/reverse             # the defaults below
//   ./build/release/examples/reverse --help
//
// Legend: B batch, T sequence length, L digits in a sequence, V vocabulary (10 digits, ">", ".").
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <unordered_set>
#include <vector>

#include "common/cli.h"
#include "common/json.h"
#include "common/progress.h"
#include "common/svg.h"
#include "nn/nn.h"
#include "optim/optim.h"
#include "tensor/thread_pool.h"

namespace F = ag::nn::functional;

struct Config {
  // data
  int64_t min_len = 8;    // shortest digit sequence
  int64_t max_len = 16;   // longest; the model reads at most 2 * max_len tokens
  bool align = true;      // left-pad so ">" always sits at position max_len (see offset_of)
  // model (nn::GPTConfig)
  int64_t n_layer = 2;    // transformer blocks
  int64_t n_head = 4;     // attention heads per block
  int64_t n_embd = 64;    // channels of the residual stream
  // training
  int64_t batch = 64;            // sequences per step
  double lr = 3e-3;              // AdamW's peak learning rate
  int64_t warmup = 50;           // steps of linear warm-up
  int64_t max_steps = 1000;      // cosine decay ends here; training stops here at the latest
  double min_lr = 3e-4;          // the learning rate the cosine decays to
  double weight_decay = 0.01;    // AdamW's decoupled decay on matrices (not biases, LayerNorm)
  double grad_clip = 1.0;        // clip the gradients' total norm to this (0: off)
  int64_t eval_every = 25;       // validate every this many steps
  int64_t val_size = 500;        // validation sequences (separate from the test set)
  double stop_at = 0.995;        // stop when this fraction of validation sequences is exact
  int64_t test_size = 1000;      // held-out sequences decoded greedily at the end
  int64_t seed = 0;              // same seed, same run
  int64_t threads = 0;           // 0: AG_NUM_THREADS, or all cores
  int64_t log_every = 25;        // a plain progress line every this many steps (not on a terminal)
  int64_t show_len = 8;          // digits in the example whose attention is drawn
  std::string svg = "reverse_attention.svg";  // where the attention heatmaps go ("" for none)
  bool json = false;             // print one JSON line with the results last
};

// ---- data --------------------------------------------------------------------------------------
// Tokens: digits 0-9 are themselves, then the separator and the padding that fills the window.
constexpr int64_t kSep = 10, kPad = 11, kVocab = 12;
constexpr int64_t kIgnore = -1;  // the target of a position that should not be learned

std::string token_text(int64_t id) { return id == kSep ? ">" : id == kPad ? "." : std::to_string(id); }

using Digits = std::vector<int64_t>;

Digits random_digits(ag::Generator& gen, const Config& cfg) {
  const int64_t span = cfg.max_len - cfg.min_len + 1;
  const int64_t L = cfg.min_len + std::min<int64_t>(static_cast<int64_t>(gen.uniform() * span), span - 1);
  Digits d(static_cast<size_t>(L));
  for (auto& x : d) x = std::min<int64_t>(static_cast<int64_t>(gen.uniform() * 10.0), 9);
  return d;
}

std::string key_of(const Digits& d) {
  std::string s;
  for (int64_t x : d) s += static_cast<char>('0' + x);
  return s;
}

// The whole sequence: d_1 .. d_L > d_L .. d_1   (2L + 1 tokens)
std::vector<int64_t> full_sequence(const Digits& d) {
  std::vector<int64_t> s(d.begin(), d.end());
  s.push_back(kSep);
  s.insert(s.end(), d.rbegin(), d.rend());
  return s;
}

// Where a sequence of L digits starts in the model's window of T = 2 * max_len positions.
// Aligned (the default), short sequences are padded on the left so that ">" always sits at
// position max_len: answer position max_len + i then always reads digit position max_len-1-i,
// a fixed anti-diagonal the model can learn from its position embeddings alone. Unaligned,
// every sequence starts at 0, ">" moves with L, and the model must first find it (one layer)
// and then aim relative to it (the next): the same task, but it takes many thousands of steps.
int64_t offset_of(int64_t L, const Config& cfg) { return cfg.align ? cfg.max_len - L : 0; }

// A batch as inputs and targets, both (B, T) with T = 2 * max_len. Position t reads token t and
// is trained to predict token t + 1, but only where that is an answer digit; everything else,
// and the padding, has target kIgnore.
std::pair<ag::Tensor, ag::Tensor> make_batch(const std::vector<Digits>& seqs, const Config& cfg) {
  const auto B = static_cast<int64_t>(seqs.size());
  const int64_t T = 2 * cfg.max_len;
  std::vector<int64_t> x(static_cast<size_t>(B * T), kPad), y(static_cast<size_t>(B * T), kIgnore);
  for (int64_t b = 0; b < B; ++b) {
    const auto s = full_sequence(seqs[static_cast<size_t>(b)]);
    const auto L = static_cast<int64_t>(seqs[static_cast<size_t>(b)].size());
    const int64_t o = offset_of(L, cfg);
    for (int64_t t = 0; t < 2 * L; ++t) {
      x[static_cast<size_t>(b * T + o + t)] = s[static_cast<size_t>(t)];
      if (t >= L) y[static_cast<size_t>(b * T + o + t)] = s[static_cast<size_t>(t + 1)];
    }
  }
  return {ag::from_vector(x, {B, T}), ag::from_vector(y, {B, T})};
}

// ---- evaluation --------------------------------------------------------------------------------

// Fraction of sequences whose every answer digit is the argmax at its position, with the true
// answer as input (teacher forcing). For a causal model this is exactly greedy decoding's
// exact-match rate: if every step's argmax is right, greedy decoding feeds itself the true
// prefix and so sees the same inputs. One forward pass instead of L, so cheap to run often.
double teacher_forced_accuracy(ag::nn::GPT& model, const std::vector<Digits>& seqs,
                               const Config& cfg) {
  ag::NoGradGuard no_grad;
  model.eval();
  const int64_t T = 2 * cfg.max_len;
  const auto [x, y] = make_batch(seqs, cfg);
  const auto predicted = model.forward(x).argmax(-1).to_vector<int64_t>();  // (B, T)
  const auto target = y.to_vector<int64_t>();
  int64_t exact = 0;
  for (size_t b = 0; b < seqs.size(); ++b) {
    bool ok = true;
    for (int64_t t = 0; t < T && ok; ++t) {
      const size_t i = b * static_cast<size_t>(T) + static_cast<size_t>(t);
      ok = target[i] == kIgnore || predicted[i] == target[i];
    }
    exact += ok;
  }
  model.train();
  return static_cast<double>(exact) / static_cast<double>(seqs.size());
}

// Greedy decoding, the real test: feed "digits >", append the most likely token, repeat L
// times. Sequences are grouped by length so each group decodes as one batch.
// returns: (exact-sequence accuracy, per-digit accuracy)
std::pair<double, double> greedy_accuracy(ag::nn::GPT& model, const std::vector<Digits>& seqs,
                                          const Config& cfg) {
  int64_t exact = 0, digits_right = 0, digits = 0;
  for (int64_t L = cfg.min_len; L <= cfg.max_len; ++L) {
    std::vector<const Digits*> group;
    for (const auto& d : seqs)
      if (static_cast<int64_t>(d.size()) == L) group.push_back(&d);
    if (group.empty()) continue;
    const auto n = static_cast<int64_t>(group.size());
    const int64_t o = offset_of(L, cfg), P = o + L + 1;  // prompt: padding, digits, ">"
    std::vector<int64_t> prompt;
    for (const Digits* d : group) {
      prompt.insert(prompt.end(), static_cast<size_t>(o), kPad);
      prompt.insert(prompt.end(), d->begin(), d->end());
      prompt.push_back(kSep);
    }
    // top_k = 1 keeps only the most likely token: sampling from it is greedy decoding.
    const ag::Tensor out = model.generate(ag::from_vector(prompt, {n, P}), L, 1.0, 1);  // (n, P + L)
    const auto ids = out.to_vector<int64_t>();
    for (int64_t b = 0; b < n; ++b) {
      bool ok = true;
      for (int64_t i = 0; i < L; ++i) {
        const bool right = ids[static_cast<size_t>(b * (P + L) + P + i)] ==
                           (*group[static_cast<size_t>(b)])[static_cast<size_t>(L - 1 - i)];
        digits_right += right;
        ok = ok && right;
      }
      digits += L;
      exact += ok;
    }
  }
  return {static_cast<double>(exact) / static_cast<double>(seqs.size()),
          static_cast<double>(digits_right) / static_cast<double>(std::max<int64_t>(digits, 1))};
}

// ---- attention maps ----------------------------------------------------------------------------

// One held-out example as the model reads it while writing its answer: padding (when aligned),
// the L digits, ">", and all answer digits but the last. T = offset + 2L tokens.
struct Example {
  Digits digits;
  std::vector<int64_t> tokens;
  int64_t offset = 0, L = 0;
  int64_t T() const { return static_cast<int64_t>(tokens.size()); }
};

Example make_example(const Digits& d, const Config& cfg) {
  Example e;
  e.digits = d;
  e.L = static_cast<int64_t>(d.size());
  e.offset = offset_of(e.L, cfg);
  e.tokens.assign(static_cast<size_t>(e.offset), kPad);
  const auto s = full_sequence(d);
  e.tokens.insert(e.tokens.end(), s.begin(), s.end() - 1);
  return e;
}

// Every head's attention weights for the example: per layer, (H, T, T) row-major.
std::vector<std::vector<double>> attention_maps(ag::nn::GPT& model, const Example& e) {
  std::vector<ag::Tensor> weights;  // per layer (1, H, T, T)
  for (size_t i = 0; i < model.h->size(); ++i)
    model.h->at<ag::nn::TransformerBlock>(i)->attn->attention_weights_out = &weights;
  {
    ag::NoGradGuard no_grad;
    model.eval();
    model.forward(ag::from_vector(e.tokens, {1, e.T()}));
    model.train();
  }
  for (size_t i = 0; i < model.h->size(); ++i)
    model.h->at<ag::nn::TransformerBlock>(i)->attn->attention_weights_out = nullptr;
  std::vector<std::vector<double>> maps;
  for (const auto& w : weights) maps.push_back(w.to_vector<double>());
  return maps;
}

// How much of a head's attention, averaged over the answer positions, lands on the mirrored
// digit: answer position offset + L + i writes digit L-1-i, at position offset + L-1-i.
// w: (T, T) for one head
double mirror_score(const double* w, const Example& e) {
  const int64_t T = e.T(), o = e.offset, L = e.L;
  double sum = 0;
  for (int64_t i = 0; i < L; ++i) sum += w[(o + L + i) * T + (o + L - 1 - i)];
  return sum / static_cast<double>(L);
}

// Every head of every layer as a labelled heatmap. The padding rows and columns are left out
// (the model learns to ignore them; a row's weight on them is what its drawn cells lack of 1).
void write_attention_svg(const std::vector<std::vector<double>>& maps, const Example& e,
                         const Config& cfg, const std::string& path) {
  const int64_t T = e.T(), o = e.offset, shown = T - o;
  std::vector<std::string> labels;
  for (int64_t t = o; t < T; ++t) labels.push_back(token_text(e.tokens[static_cast<size_t>(t)]));
  const double cell = 11, map = cell * static_cast<double>(shown), gap = 50, left = 40, top = 80;
  const auto H = cfg.n_head;
  const auto n_layer = static_cast<int64_t>(maps.size());
  examples::Svg svg(left + static_cast<double>(H) * (map + gap) + 40,
                    top + static_cast<double>(n_layer) * (map + gap + 10));
  svg.text(left, 20, "reverse: every head's attention for one held-out sequence", 14, "start");
  svg.text(left, 38, "row: the token being read; column: the earlier token it looks at; "
                     "colour: weight (each row sums to 1)", 11, "start");
  svg.text(left, 54, "input \"" + key_of(e.digits) + " >\", then the answer so far; mirror = mean "
                     "weight of the answer rows on the digit they copy", 11, "start");
  for (int64_t l = 0; l < n_layer; ++l)
    for (int64_t h = 0; h < H; ++h) {
      const double* w = maps[static_cast<size_t>(l)].data() + h * T * T;
      std::vector<double> crop;
      for (int64_t i = o; i < T; ++i)
        for (int64_t j = o; j < T; ++j) crop.push_back(w[i * T + j]);
      char title[96];
      std::snprintf(title, sizeof title, "layer %lld head %lld (mirror %.2f)",
                    static_cast<long long>(l), static_cast<long long>(h), mirror_score(w, e));
      examples::draw_heatmap(svg, left + static_cast<double>(h) * (map + gap),
                             top + static_cast<double>(l) * (map + gap + 10), cell, crop, shown,
                             shown, labels, labels, title);
    }
  examples::draw_color_scale(svg, left + static_cast<double>(H) * (map + gap) - gap + 10, top, map,
                             "0", "1");
  svg.save(path);
}

// The head as text, one shade per weight, 2 characters per cell so the map comes out square.
// The padding rows and columns are left out (the model learns to ignore them).
void print_shaded(const double* w, const Example& e) {
  static const char* shades[] = {"  ", "░░", "▒▒", "▓▓", "██"};
  const int64_t T = e.T();
  std::printf("      ");
  for (int64_t j = e.offset; j < T; ++j) std::printf("%-2s", token_text(e.tokens[static_cast<size_t>(j)]).c_str());
  std::printf("   <- keys (what it reads)\n");
  for (int64_t i = e.offset; i < T; ++i) {
    std::printf("  %2s  ", token_text(e.tokens[static_cast<size_t>(i)]).c_str());
    for (int64_t j = e.offset; j < T; ++j) {
      const double x = w[i * T + j];
      const int level = x < 0.05 ? 0 : x < 0.25 ? 1 : x < 0.5 ? 2 : x < 0.8 ? 3 : 4;
      std::printf("%s", shades[level]);
    }
    std::printf("\n");
  }
  std::printf("  weight: blank < 0.05 <= ░ < 0.25 <= ▒ < 0.5 <= ▓ < 0.8 <= █\n");
}

// ---- main ----------------------------------------------------------------------------------------

int main(int argc, char** argv) {
  Config cfg;
  examples::Cli cli("reverse", "a 2-layer transformer learns to reverse digit sequences");
  cli.option("min-len", cfg.min_len, "shortest digit sequence")
      .option("max-len", cfg.max_len, "longest digit sequence")
      .option("align", cfg.align, "left-pad so \">\" sits at a fixed position (1/0)")
      .option("n-layer", cfg.n_layer, "transformer blocks")
      .option("n-head", cfg.n_head, "attention heads per block")
      .option("n-embd", cfg.n_embd, "channels of the residual stream")
      .option("batch", cfg.batch, "sequences per step")
      .option("lr", cfg.lr, "peak learning rate (AdamW)")
      .option("warmup", cfg.warmup, "warm-up steps")
      .option("max-steps", cfg.max_steps, "most training steps (the cosine ends here)")
      .option("min-lr", cfg.min_lr, "learning rate at the end of the cosine")
      .option("weight-decay", cfg.weight_decay, "AdamW weight decay")
      .option("grad-clip", cfg.grad_clip, "clip the gradient norm to this (0: off)")
      .option("eval-every", cfg.eval_every, "steps between validations")
      .option("val-size", cfg.val_size, "validation sequences")
      .option("stop-at", cfg.stop_at, "stop once validation exact-match reaches this (>1: never)")
      .option("test-size", cfg.test_size, "held-out test sequences")
      .option("seed", cfg.seed, "random seed")
      .option("threads", cfg.threads, "worker threads (0: AG_NUM_THREADS or all cores)")
      .option("log-every", cfg.log_every, "steps between plain progress lines")
      .option("show-len", cfg.show_len, "digits in the example drawn to the SVG")
      .option("svg", cfg.svg, "attention heatmaps SVG path (empty: none)")
      .flag("json", cfg.json, "print a JSON line with the results last");
  cli.parse(argc, argv);
  if (cfg.min_len < 1 || cfg.max_len < cfg.min_len || cfg.max_len > 40) {
    std::fprintf(stderr, "reverse: need 1 <= min-len <= max-len <= 40\n");
    return 2;
  }
  cfg.show_len = std::clamp(cfg.show_len, cfg.min_len, cfg.max_len);

  try {
    if (cfg.threads > 0) ag::set_num_threads(static_cast<int>(cfg.threads));
    ag::manual_seed(static_cast<uint64_t>(cfg.seed));
    const int64_t T = 2 * cfg.max_len;  // digits, ">", and all but the last answer digit

    // Held-out sets first, from their own generators; training never draws one of them.
    ag::Generator test_gen(static_cast<uint64_t>(cfg.seed) * 3 + 1), val_gen(static_cast<uint64_t>(cfg.seed) * 3 + 2),
        train_gen(static_cast<uint64_t>(cfg.seed) * 3 + 3);
    std::vector<Digits> test, val;
    std::unordered_set<std::string> held_out;
    while (static_cast<int64_t>(test.size()) < cfg.test_size) {
      Digits d = random_digits(test_gen, cfg);
      if (held_out.insert(key_of(d)).second) test.push_back(std::move(d));
    }
    while (static_cast<int64_t>(val.size()) < cfg.val_size) {
      Digits d = random_digits(val_gen, cfg);
      if (held_out.insert(key_of(d)).second) val.push_back(std::move(d));
    }

    ag::nn::GPTConfig gpt;
    gpt.block_size = T;
    gpt.vocab_size = kVocab;
    gpt.n_layer = cfg.n_layer;
    gpt.n_head = cfg.n_head;
    gpt.n_embd = cfg.n_embd;
    gpt.dropout = 0.0;  // fresh data every step: nothing to overfit
    ag::nn::GPT model(gpt);
    ag::optim::AdamW optimizer(ag::optim::decay_groups(model.named_parameters(), cfg.weight_decay),
                               ag::optim::AdamWOptions(cfg.lr).betas({0.9, 0.98}));
    ag::optim::WarmupCosineLR schedule(optimizer, std::min(cfg.warmup, cfg.max_steps), cfg.max_steps,
                                       cfg.min_lr);
    const auto ce = F::CrossEntropyOptions().ignore_index_(kIgnore);

    if (!cfg.json)
      std::printf("reverse: %lld-%lld digits, GPT %lld layers x %lld heads x %lld channels "
                  "(%lld parameters), batch %lld, %d threads\n",
                  static_cast<long long>(cfg.min_len), static_cast<long long>(cfg.max_len),
                  static_cast<long long>(cfg.n_layer), static_cast<long long>(cfg.n_head),
                  static_cast<long long>(cfg.n_embd), static_cast<long long>(model.get_num_params()),
                  static_cast<long long>(cfg.batch), ag::get_num_threads());

    examples::Progress progress(cfg.max_steps, cfg.log_every, cfg.json);
    double first_loss = 0, loss_value = 0, val_accuracy = 0;
    int64_t steps = 0;
    // Where the time goes: seconds spent making batches, in forward, backward, the optimizer
    // (clipping + AdamW), and validation.
    double t_data = 0, t_forward = 0, t_backward = 0, t_optim = 0, t_eval = 0;
    using Clock = std::chrono::steady_clock;
    auto since = [](Clock::time_point t0) {
      return std::chrono::duration<double>(Clock::now() - t0).count();
    };
    for (int64_t step = 0; step < cfg.max_steps; ++step) {
      auto t0 = Clock::now();
      std::vector<Digits> seqs;
      while (static_cast<int64_t>(seqs.size()) < cfg.batch) {
        Digits d = random_digits(train_gen, cfg);
        if (!held_out.count(key_of(d))) seqs.push_back(std::move(d));
      }
      const auto [x, y] = make_batch(seqs, cfg);
      t_data += since(t0), t0 = Clock::now();
      const ag::Tensor loss = model.forward(x, y, ce).second;
      loss_value = loss.item<double>();
      t_forward += since(t0), t0 = Clock::now();
      optimizer.zero_grad();
      loss.backward();
      t_backward += since(t0), t0 = Clock::now();
      if (cfg.grad_clip > 0) ag::optim::clip_grad_norm_(model.parameters(), cfg.grad_clip);
      optimizer.step();
      schedule.step();
      t_optim += since(t0), t0 = Clock::now();
      if (step == 0) first_loss = loss_value;
      steps = step + 1;

      const bool check = (step + 1) % cfg.eval_every == 0 || step + 1 == cfg.max_steps;
      if (check) {
        val_accuracy = teacher_forced_accuracy(model, val, cfg);
        t_eval += since(t0);
      }
      char extra[48];
      std::snprintf(extra, sizeof extra, " val %.1f%%", 100 * val_accuracy);
      progress.update(step, loss_value, cfg.batch * T, extra);
      if (check && val_accuracy >= cfg.stop_at) {
        progress.break_line();
        if (!cfg.json)
          std::printf("validation: %.1f%% of %lld sequences exact >= %.1f%% after %lld steps: "
                      "stopping early\n", 100 * val_accuracy, static_cast<long long>(cfg.val_size),
                      100 * cfg.stop_at, static_cast<long long>(steps));
        break;
      }
    }
    const double train_seconds = progress.seconds();

    auto t0 = Clock::now();
    const auto [test_accuracy, digit_accuracy] = greedy_accuracy(model, test, cfg);
    const double t_test = since(t0);

    // One held-out example of show_len digits for the pictures.
    Digits shown = test.front();
    for (const auto& d : test)
      if (static_cast<int64_t>(d.size()) == cfg.show_len) { shown = d; break; }
    const Example example = make_example(shown, cfg);
    const auto maps = attention_maps(model, example);
    const int64_t TT = example.T();
    int64_t best_layer = 0, best_head = 0;
    double best = -1;
    std::vector<double> mirror;
    for (size_t l = 0; l < maps.size(); ++l)
      for (int64_t h = 0; h < cfg.n_head; ++h) {
        const double m = mirror_score(maps[l].data() + h * TT * TT, example);
        mirror.push_back(m);
        if (m > best) best = m, best_layer = static_cast<int64_t>(l), best_head = h;
      }
    if (!cfg.svg.empty()) write_attention_svg(maps, example, cfg, cfg.svg);
    const double total_seconds = progress.seconds();

    if (cfg.json) {
      std::printf("%s\n", examples::JsonLine()
                              .add("example", "reverse")
                              .add("first_loss", first_loss)
                              .add("final_loss", loss_value)
                              .add("steps", steps)
                              .add("val_accuracy", val_accuracy)
                              .add("test_accuracy", test_accuracy)
                              .add("test_digit_accuracy", digit_accuracy)
                              .add("test_size", cfg.test_size)
                              .add("train_seconds", train_seconds)
                              .add("seconds", total_seconds)
                              .add("seconds_split", std::vector<double>{t_data, t_forward, t_backward,
                                                                        t_optim, t_eval, t_test})
                              .add("threads", ag::get_num_threads())
                              .add("mirror_scores", mirror)
                              .add("svg", cfg.svg)
                              .str().c_str());
      return 0;
    }
    std::printf("\nloss %.4f -> %.4f in %lld steps, %.1fs of training (data %.1fs, forward %.1fs, "
                "backward %.1fs, optimizer %.1fs, validation %.1fs)\n",
                first_loss, loss_value, static_cast<long long>(steps), train_seconds, t_data,
                t_forward, t_backward, t_optim, t_eval);
    std::printf("held-out test: %.1f%% of %lld sequences reversed exactly by greedy decoding "
                "(%.2f%% of digits; %.1fs); %.1fs in all\n",
                100 * test_accuracy, static_cast<long long>(cfg.test_size), 100 * digit_accuracy,
                t_test, total_seconds);
    std::printf("\nlayer %lld head %lld puts %.0f%% of each answer position's attention on the "
                "digit it copies (the anti-diagonal below):\n",
                static_cast<long long>(best_layer), static_cast<long long>(best_head), 100 * best);
    print_shaded(maps[static_cast<size_t>(best_layer)].data() + best_head * TT * TT, example);
    if (!cfg.svg.empty()) std::printf("every head of every layer: %s\n", cfg.svg.c_str());
  } catch (const ag::Error& e) {
    std::fprintf(stderr, "reverse: %s\n", e.what());
    return 1;
  }
  return 0;
}

// char_gpt.cpp: a character-level GPT (nanoGPT's shakespeare_char, in C++) on any text file.
// It learns to continue text one character at a time: the vocabulary is the file's distinct
// bytes, the first 90% trains and the last 10% validates.
//
//   char_gpt [train] --data FILE       train; checkpoints, a loss log and a loss plot in --out-dir
//   char_gpt sample --prompt "ROMEO:"  generate from the checkpoint in --out-dir
//   char_gpt --attention-map "To be"   draw every head's attention for a prompt (attention.svg)
//
// The standard corpus is tinyshakespeare.txt (1 MB of Shakespeare's plays, from Karpathy's
// char-rnn: https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt).
// With --config small (the default: 4 layers, 4 heads, 128 channels, 128 characters of context,
// 0.8M parameters) on an idle 2-core machine with 2 threads, a step takes about 116 ms and 5
// minutes of training (2,577 steps, constant lr 1e-3) take the validation loss from 4.22 (log 65:
// uniform over the characters) to 1.70, where samples have the shape of a play (names, colons,
// line breaks, mostly real words). PyTorch 1.13 on the same machine, same protocol
// (../shared/bench/ref_gpt_train.py), reached 1.76 in 1,863 steps. --config tiny (2 layers x 64
// channels, block 64) is about 8x cheaper per step and plateaus higher.
//
// What it writes to --out-dir: ckpt.safetensors (optim/training_checkpoint.h: the model as
// "model." + nanoGPT's parameter names, the optimizer, schedule and generator; --resume
// continues bit for bit), log.csv (step, train loss, val loss, lr, seconds) and loss.svg.
//
// Legend: B batch, T block_size (context length), C = n_embd channels, V vocabulary size.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "common/cli.h"
#include "common/json.h"
#include "common/progress.h"
#include "common/svg.h"
#include "nn/checkpoint.h"
#include "optim/training_checkpoint.h"
#include "nn/nn.h"
#include "optim/optim.h"
#include "tensor/thread_pool.h"

namespace F = ag::nn::functional;
namespace fs = std::filesystem;

struct Config {
  // ---- I/O
  std::string data = "";              // the text file to learn (train mode)
  std::string out_dir = "out-char";   // where checkpoints, the log and the plots go
  int64_t eval_interval = 250;        // estimate the val loss (and save) every this many steps
  int64_t eval_iters = 20;            // val batches per estimate (the same windows every time)
  int64_t log_every = 10;             // a plain progress line every this many steps (not on a tty)
  bool resume = false;                // continue from out_dir/ckpt.safetensors
  // ---- model (nn::GPTConfig)
  int64_t n_layer = 4;                // transformer blocks
  int64_t n_head = 4;                 // attention heads per block
  int64_t n_embd = 128;               // channels of the residual stream
  int64_t block_size = 128;           // characters of context
  double dropout = 0.0;               // on embeddings, attention weights, residual branches
  bool tie_weights = true;            // the output layer is the token embedding
  // ---- training (AdamW, nanoGPT's recipe)
  int64_t batch = 16;                 // sequences per step
  double lr = 1e-3;                   // peak learning rate
  int64_t max_iters = 5000;           // training steps
  int64_t warmup = 100;               // steps of linear warm-up
  bool decay_lr = true;               // cosine decay after the warm-up (false: constant lr)
  int64_t lr_decay_iters = 0;         // where the cosine reaches min_lr (0: max_iters)
  double min_lr = 1e-4;               // the lr the cosine ends at
  double weight_decay = 0.1;          // decoupled, on matrices and embeddings only
  double beta1 = 0.9;                 // AdamW betas
  double beta2 = 0.99;
  double grad_clip = 1.0;             // clip the gradients' total norm (0: off)
  double max_seconds = 0;             // stop after this much training time (0: no limit)
  int64_t seed = 1337;                // init, batches and dropout all follow from it
  int64_t threads = 0;                // 0: AG_NUM_THREADS, or all cores
  // ---- sampling
  std::string prompt = "\n";          // text to continue (sample mode)
  int64_t num_tokens = 500;           // characters to generate
  double temperature = 0.8;           // < 1 sharper, > 1 more random
  int64_t top_k = 20;                 // sample among the k most likely characters (0: all)
  std::string attention_map = "";     // write out_dir/attention.svg for this prompt
  // ---- presets and output
  std::string config = "small";       // tiny | small: ref_gpt.py's model and batch shapes
  bool json = false;                  // print one JSON line with the results last
};

// ref_gpt.py's two CPU configs (and its optimizer: AdamW betas (0.9, 0.99), wd 0.1, lr 1e-3).
bool apply_preset(Config& cfg, const std::string& name) {
  if (name == "tiny") {
    cfg.n_layer = 2, cfg.n_head = 4, cfg.n_embd = 64, cfg.block_size = 64, cfg.batch = 16;
  } else if (name == "small") {
    cfg.n_layer = 4, cfg.n_head = 4, cfg.n_embd = 128, cfg.block_size = 128, cfg.batch = 16;
  } else {
    return false;
  }
  cfg.lr = 1e-3, cfg.beta1 = 0.9, cfg.beta2 = 0.99, cfg.weight_decay = 0.1;
  return true;
}

// ---- data --------------------------------------------------------------------------------------

// The characters (bytes) of a text and their ids: id = position in the sorted distinct bytes.
struct Vocab {
  std::vector<unsigned char> chars;
  int64_t id[256];
  explicit Vocab(std::vector<unsigned char> sorted_chars = {}) : chars(std::move(sorted_chars)) {
    std::fill(std::begin(id), std::end(id), -1);
    for (size_t i = 0; i < chars.size(); ++i) id[chars[i]] = static_cast<int64_t>(i);
  }
  static Vocab of_text(const std::string& text) {
    bool seen[256] = {};
    for (unsigned char c : text) seen[c] = true;
    std::vector<unsigned char> chars;
    for (int c = 0; c < 256; ++c)
      if (seen[c]) chars.push_back(static_cast<unsigned char>(c));
    return Vocab(chars);
  }
  int64_t size() const { return static_cast<int64_t>(chars.size()); }
  // As hex, two digits per byte: checkpoint metadata must be UTF-8, and a text file's bytes
  // need not be.
  std::string hex() const {
    std::string s;
    char buf[3];
    for (unsigned char c : chars) std::snprintf(buf, sizeof buf, "%02x", c), s += buf;
    return s;
  }
  static Vocab from_hex(const std::string& s) {
    std::vector<unsigned char> chars;
    for (size_t i = 0; i + 1 < s.size(); i += 2)
      chars.push_back(static_cast<unsigned char>(std::stoi(s.substr(i, 2), nullptr, 16)));
    return Vocab(chars);
  }
  std::vector<int64_t> encode(const std::string& text) const {
    std::vector<int64_t> ids;
    for (unsigned char c : text) {
      if (id[c] < 0) throw ag::Error("char_gpt", "the character '", std::string(1, static_cast<char>(c)),
                                     "' (byte ", static_cast<int>(c), ") is not in the training text's vocabulary");
      ids.push_back(id[c]);
    }
    return ids;
  }
  std::string decode(const std::vector<int64_t>& ids) const {
    std::string s;
    for (int64_t i : ids) s += static_cast<char>(chars.at(static_cast<size_t>(i)));
    return s;
  }
};

// B random windows of T + 1 tokens: inputs (B, T) and the next tokens (B, T).
std::pair<ag::Tensor, ag::Tensor> get_batch(const std::vector<int64_t>& data, int64_t B, int64_t T,
                                            ag::Generator& gen) {
  std::vector<int64_t> x(static_cast<size_t>(B * T)), y(static_cast<size_t>(B * T));
  const auto windows = static_cast<int64_t>(data.size()) - T - 1;
  for (int64_t b = 0; b < B; ++b) {
    const auto start = std::min(static_cast<int64_t>(gen.uniform() * static_cast<double>(windows)), windows - 1);
    for (int64_t t = 0; t < T; ++t) {
      x[static_cast<size_t>(b * T + t)] = data[static_cast<size_t>(start + t)];
      y[static_cast<size_t>(b * T + t)] = data[static_cast<size_t>(start + t + 1)];
    }
  }
  return {ag::from_vector(x, {B, T}), ag::from_vector(y, {B, T})};
}

// ---- checkpoints --------------------------------------------------------------------------------
// optim/training_checkpoint.h saves the model (under "model.", nanoGPT's names), the optimizer,
// the schedule's position and the global generator, which draws both the batches and the
// dropout masks: all a bit-exact resume needs. We add the model's shape and vocabulary (so
// `sample` can rebuild it) and the training time so far, as "extra" metadata.

ag::nn::GPTConfig gpt_config(const Config& cfg, int64_t vocab_size) {
  ag::nn::GPTConfig g;
  g.block_size = cfg.block_size;
  g.vocab_size = vocab_size;
  g.n_layer = cfg.n_layer;
  g.n_head = cfg.n_head;
  g.n_embd = cfg.n_embd;
  g.dropout = cfg.dropout;
  g.tie_weights = cfg.tie_weights;
  return g;
}

std::map<std::string, std::string> checkpoint_extra(const ag::nn::GPT& model, const Vocab& vocab,
                                                    double seconds) {
  const auto& g = model.config();
  return {{"n_layer", std::to_string(g.n_layer)},       {"n_head", std::to_string(g.n_head)},
          {"n_embd", std::to_string(g.n_embd)},         {"block_size", std::to_string(g.block_size)},
          {"tie_weights", g.tie_weights ? "1" : "0"},   {"vocab_hex", vocab.hex()},
          {"train_seconds", std::to_string(seconds)}};
}

// Reads the model shape into cfg and returns the vocabulary, from a checkpoint's metadata.
Vocab read_checkpoint_config(const ag::Checkpoint& ckpt, Config& cfg, const std::string& path) {
  auto get = [&](const std::string& key) {
    const auto it = ckpt.metadata.find("extra." + key);
    if (it == ckpt.metadata.end())
      throw ag::Error("char_gpt", path, " has no \"extra.", key, "\" metadata: not a char_gpt checkpoint");
    return it->second;
  };
  cfg.n_layer = std::stoll(get("n_layer"));
  cfg.n_head = std::stoll(get("n_head"));
  cfg.n_embd = std::stoll(get("n_embd"));
  cfg.block_size = std::stoll(get("block_size"));
  cfg.tie_weights = get("tie_weights") == "1";
  return Vocab::from_hex(get("vocab_hex"));
}

// The model's weights alone (for sampling: no optimizer needed).
void load_model_weights(const ag::Checkpoint& ckpt, ag::nn::GPT& model) {
  ag::nn::NamedTensors weights;
  for (const auto& [name, t] : ckpt.tensors)
    if (name.starts_with("model.")) weights.emplace_back(name.substr(6), t);
  model.load_state_dict(weights);
}

// ---- pictures -----------------------------------------------------------------------------------

// How a character is shown on an axis.
std::string show_char(unsigned char c) {
  if (c == '\n') return "\\n";
  if (c == ' ') return "_";
  if (c < 0x20 || c >= 0x7f) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%02x", c);
    return buf;
  }
  return std::string(1, static_cast<char>(c));
}

// Every head's attention weights for the prompt, drawn as n_layer rows of n_head heatmaps.
// returns: the number of heatmap cells drawn
int64_t write_attention_map(ag::nn::GPT& model, const Vocab& vocab, std::string prompt,
                            const std::string& path) {
  const int64_t block = model.config().block_size;
  if (static_cast<int64_t>(prompt.size()) > block) prompt = prompt.substr(prompt.size() - block);
  const auto ids = vocab.encode(prompt);
  const auto T = static_cast<int64_t>(ids.size());
  if (T == 0) throw ag::Error("char_gpt", "--attention-map needs a non-empty prompt");
  std::vector<ag::Tensor> weights;  // per layer (1, H, T, T)
  for (size_t i = 0; i < model.h->size(); ++i)
    model.h->at<ag::nn::TransformerBlock>(i)->attn->attention_weights_out = &weights;
  {
    ag::NoGradGuard no_grad;
    model.eval();
    model.forward(ag::from_vector(ids, {1, T}));
    model.train();
  }
  for (size_t i = 0; i < model.h->size(); ++i)
    model.h->at<ag::nn::TransformerBlock>(i)->attn->attention_weights_out = nullptr;

  std::vector<std::string> labels;
  for (unsigned char c : prompt) labels.push_back(show_char(c));
  const int64_t H = model.config().n_head, n_layer = model.config().n_layer;
  const double cell = std::clamp(320.0 / static_cast<double>(T), 4.0, 14.0);
  const double map = cell * static_cast<double>(T), gap = 50, left = 40, top = 70;
  examples::Svg svg(left + static_cast<double>(H) * (map + gap) + 40,
                    top + static_cast<double>(n_layer) * (map + gap + 10));
  svg.text(left, 20, "char_gpt: attention weights per layer and head (rows: query character, "
                     "columns: the earlier characters it reads)", 13, "start");
  svg.text(left, 38, "prompt: " + prompt.substr(0, 80), 11, "start");
  int64_t cells = 0;
  for (int64_t l = 0; l < n_layer; ++l) {
    const auto w = weights[static_cast<size_t>(l)].to_vector<double>();  // (1, H, T, T)
    for (int64_t h = 0; h < H; ++h) {
      examples::draw_heatmap(svg, left + static_cast<double>(h) * (map + gap),
                             top + static_cast<double>(l) * (map + gap + 10), cell,
                             std::vector<double>(w.begin() + h * T * T, w.begin() + (h + 1) * T * T),
                             T, T, labels, labels,
                             "layer " + std::to_string(l) + " head " + std::to_string(h));
      cells += T * T;
    }
  }
  examples::draw_color_scale(svg, left + static_cast<double>(H) * (map + gap) - gap + 10, top, map);
  svg.save(path);
  return cells;
}

// loss.svg from log.csv (so a resumed run plots its whole history).
void write_loss_plot(const std::string& csv_path, const std::string& svg_path) {
  std::ifstream in(csv_path);
  std::string line;
  std::getline(in, line);  // header
  examples::Series train{"train", "#1f77b4", {}}, val{"val", "#d62728", {}};
  while (std::getline(in, line)) {
    std::stringstream row(line);
    std::string step, train_loss, val_loss;
    std::getline(row, step, ',');
    std::getline(row, train_loss, ',');
    std::getline(row, val_loss, ',');
    if (!train_loss.empty()) train.points.emplace_back(std::stod(step), std::stod(train_loss));
    if (!val_loss.empty()) val.points.emplace_back(std::stod(step), std::stod(val_loss));
  }
  examples::line_plot({train, val}, "char_gpt: cross-entropy per character", "step",
                      "loss (nats)").save(svg_path);
}

// Keeps the CSV's header and the rows up to step `last` (a resumed run rewrites what followed
// its checkpoint).
void truncate_log(const std::string& csv_path, int64_t last) {
  std::ifstream in(csv_path);
  std::string line, kept;
  while (std::getline(in, line)) {
    if (kept.empty() || std::stoll(line.substr(0, line.find(','))) <= last) kept += line + "\n";
  }
  in.close();
  std::ofstream(csv_path) << kept;
}

// ---- the two modes -------------------------------------------------------------------------------

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ag::Error("char_gpt", "cannot open --data ", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int train(Config cfg) {
  const std::string ckpt_path = cfg.out_dir + "/ckpt.safetensors";
  const std::string csv_path = cfg.out_dir + "/log.csv";
  if (cfg.data.empty()) {
    std::fprintf(stderr,
                 "char_gpt: pass a text file to learn with --data FILE.\n"
                 "The standard one is tinyshakespeare.txt (1 MB, Karpathy's char-rnn corpus):\n"
                 "  curl -o tinyshakespeare.txt https://raw.githubusercontent.com/karpathy/char-rnn/"
                 "master/data/tinyshakespeare/input.txt\n"
                 "  char_gpt --data tinyshakespeare.txt --max-seconds 300\n"
                 "Any text works; see --help for the model and training options.\n");
    return 2;
  }
  const std::string text = read_file(cfg.data);
  Vocab vocab = Vocab::of_text(text);
  const std::vector<int64_t> all = vocab.encode(text);
  const auto n_train = static_cast<int64_t>(0.9 * static_cast<double>(all.size()));
  const std::vector<int64_t> train_data(all.begin(), all.begin() + n_train);
  const std::vector<int64_t> val_data(all.begin() + n_train, all.end());
  if (static_cast<int64_t>(val_data.size()) <= cfg.block_size + 1)
    throw ag::Error("char_gpt", cfg.data, " is too short: its last 10% (", val_data.size(),
                    " characters) must be longer than block_size + 1 = ", cfg.block_size + 1);

  double seconds = 0;  // training time so far, evaluation excluded
  if (cfg.resume) {
    const ag::Checkpoint ckpt = ag::load(ckpt_path);
    // The ids must mean the same characters, so the vocabulary comes from the checkpoint.
    vocab = read_checkpoint_config(ckpt, cfg, ckpt_path);
    if (vocab.hex() != Vocab::of_text(text).hex())
      throw ag::Error("char_gpt", "--data ", cfg.data, " has other characters than the text the "
                      "checkpoint was trained on");
    seconds = std::stod(ckpt.metadata.at("extra.train_seconds"));
  }
  fs::create_directories(cfg.out_dir);

  ag::manual_seed(static_cast<uint64_t>(cfg.seed));
  ag::nn::GPT model(gpt_config(cfg, vocab.size()));
  ag::optim::AdamW optimizer(ag::optim::decay_groups(model.named_parameters(), cfg.weight_decay),
                             ag::optim::AdamWOptions(cfg.lr).betas({cfg.beta1, cfg.beta2}));
  const int64_t decay_iters = cfg.lr_decay_iters > 0 ? cfg.lr_decay_iters : cfg.max_iters;
  std::unique_ptr<ag::optim::LRScheduler> schedule;
  if (cfg.decay_lr)
    schedule = std::make_unique<ag::optim::WarmupCosineLR>(
        optimizer, std::min(cfg.warmup, decay_iters), decay_iters, cfg.min_lr);
  else
    schedule = std::make_unique<ag::optim::ConstantLR>(optimizer);

  int64_t iter = 0;
  if (cfg.resume) {
    iter = ag::optim::load_training_checkpoint(ckpt_path, model, optimizer, schedule.get()).step;
    truncate_log(csv_path, iter);
  } else {
    std::ofstream(csv_path) << "step,train_loss,val_loss,lr,seconds\n";
  }

  // The validation windows are fixed (their own generator), so successive estimates compare
  // the model, not the luck of the draw.
  std::vector<std::pair<ag::Tensor, ag::Tensor>> val_batches;
  {
    ag::Generator val_gen(static_cast<uint64_t>(cfg.seed) + 1);
    for (int64_t i = 0; i < cfg.eval_iters; ++i)
      val_batches.push_back(get_batch(val_data, cfg.batch, cfg.block_size, val_gen));
  }
  auto estimate_val_loss = [&] {
    ag::NoGradGuard no_grad;
    model.eval();
    double sum = 0;
    for (const auto& [x, y] : val_batches) sum += model.forward(x, y).second.item<double>();
    model.train();
    return sum / static_cast<double>(val_batches.size());
  };

  if (!cfg.json)
    std::printf("char_gpt: %s, %lld characters (vocabulary %lld), GPT %lld x %lld heads x %lld "
                "channels, block %lld, %lld parameters, %d threads%s\n",
                cfg.data.c_str(), static_cast<long long>(all.size()), static_cast<long long>(vocab.size()),
                static_cast<long long>(cfg.n_layer), static_cast<long long>(cfg.n_head),
                static_cast<long long>(cfg.n_embd), static_cast<long long>(cfg.block_size),
                static_cast<long long>(model.get_num_params()), ag::get_num_threads(),
                cfg.resume ? (", resuming at step " + std::to_string(iter)).c_str() : "");

  std::ofstream csv(csv_path, std::ios::app);
  const int64_t start_iter = iter;
  examples::Progress progress(cfg.max_iters - start_iter, cfg.log_every, cfg.json);
  double first_loss = NAN, loss_value = NAN, val_loss = NAN, train_since_eval = 0;
  int64_t since_eval = 0;
  if (iter == 0) {
    val_loss = estimate_val_loss();
    csv << 0 << ",," << val_loss << "," << optimizer.param_groups()[0].options().get_lr() << ",0\n";
  }
  while (iter < cfg.max_iters) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto [x, y] = get_batch(train_data, cfg.batch, cfg.block_size, ag::default_generator());
    const ag::Tensor loss = model.forward(x, y).second;
    optimizer.zero_grad();
    loss.backward();
    if (cfg.grad_clip > 0) ag::optim::clip_grad_norm_(model.parameters(), cfg.grad_clip);
    const double lr = optimizer.param_groups()[0].options().get_lr();
    optimizer.step();
    schedule->step();
    ++iter;
    loss_value = loss.item<double>();
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (std::isnan(first_loss)) first_loss = loss_value;
    train_since_eval += loss_value, ++since_eval;
    const bool out_of_time = cfg.max_seconds > 0 && seconds >= cfg.max_seconds;
    const bool eval_now = iter % cfg.eval_interval == 0 || iter == cfg.max_iters || out_of_time;
    char row[128];
    if (eval_now) {
      val_loss = estimate_val_loss();
      std::snprintf(row, sizeof row, "%lld,%.9g,%.9g,%.6g,%.3f\n", static_cast<long long>(iter),
                    loss_value, val_loss, lr, seconds);
      csv << row << std::flush;
      ag::optim::save_training_checkpoint(ckpt_path, model, optimizer, iter,
                                          checkpoint_extra(model, vocab, seconds), schedule.get());
      if (!cfg.json) {
        progress.break_line();
        std::printf("step %lld: train loss %.4f (mean since last eval), val loss %.4f, %.0fs\n",
                    static_cast<long long>(iter), train_since_eval / static_cast<double>(since_eval),
                    val_loss, seconds);
      }
      train_since_eval = 0, since_eval = 0;
    } else {
      std::snprintf(row, sizeof row, "%lld,%.9g,,%.6g,%.3f\n", static_cast<long long>(iter),
                    loss_value, lr, seconds);
      csv << row;
    }
    char extra[48];
    std::snprintf(extra, sizeof extra, " val %.3f", val_loss);
    progress.update(iter - start_iter - 1, loss_value, cfg.batch * cfg.block_size, extra);
    if (out_of_time) {
      progress.break_line();
      if (!cfg.json) std::printf("stopping: %.0fs of training reached (--max-seconds)\n", seconds);
      break;
    }
  }
  csv.close();
  write_loss_plot(csv_path, cfg.out_dir + "/loss.svg");

  // A short sample, to see what the loss means.
  std::string sample;
  {
    ag::Generator sample_gen(static_cast<uint64_t>(cfg.seed) + 2);
    const auto prompt = vocab.encode(std::string(1, static_cast<char>(vocab.chars[0])));
    const auto out = model.generate(ag::from_vector(prompt, {1, 1}), std::min<int64_t>(cfg.num_tokens, 200),
                                    cfg.temperature, cfg.top_k > 0 ? std::optional<int64_t>(cfg.top_k) : std::nullopt,
                                    sample_gen);
    sample = vocab.decode(out.to_vector<int64_t>());
  }
  int64_t cells = 0;
  if (!cfg.attention_map.empty())
    cells = write_attention_map(model, vocab, cfg.attention_map, cfg.out_dir + "/attention.svg");

  if (cfg.json) {
    std::printf("%s\n", examples::JsonLine()
                            .add("example", "char_gpt")
                            .add("first_loss", first_loss)
                            .add("final_loss", loss_value)
                            .add("val_loss", val_loss)
                            .add("steps", iter)
                            .add("train_seconds", seconds)
                            .add("parameters", model.get_num_params())
                            .add("attention_cells", cells)
                            .add("out_dir", cfg.out_dir)
                            .str().c_str());
  } else {
    std::printf("\ntrain loss %.4f -> %.4f, val loss %.4f after %lld steps (%.0fs of training)\n"
                "wrote %s/ckpt.safetensors, log.csv, loss.svg%s\n--- a sample ---\n%s\n",
                first_loss, loss_value, val_loss, static_cast<long long>(iter), seconds,
                cfg.out_dir.c_str(), cells ? ", attention.svg" : "", sample.c_str());
  }
  return 0;
}

int sample(Config cfg, bool text_wanted) {
  const std::string ckpt_path = cfg.out_dir + "/ckpt.safetensors";
  if (!fs::exists(ckpt_path)) {
    std::fprintf(stderr, "char_gpt: no checkpoint at %s; train first (char_gpt --data FILE)\n",
                 ckpt_path.c_str());
    return 2;
  }
  const ag::Checkpoint ckpt = ag::load(ckpt_path);
  const Vocab vocab = read_checkpoint_config(ckpt, cfg, ckpt_path);
  ag::nn::GPT model(gpt_config(cfg, vocab.size()));
  load_model_weights(ckpt, model);
  int64_t cells = 0;
  if (!cfg.attention_map.empty())
    cells = write_attention_map(model, vocab, cfg.attention_map, cfg.out_dir + "/attention.svg");
  std::string text;
  if (text_wanted) {
    ag::Generator gen(static_cast<uint64_t>(cfg.seed));
    const auto prompt = vocab.encode(cfg.prompt);
    if (prompt.empty()) throw ag::Error("char_gpt", "--prompt is empty");
    const auto out = model.generate(ag::from_vector(prompt, {1, static_cast<int64_t>(prompt.size())}),
                                    cfg.num_tokens, cfg.temperature,
                                    cfg.top_k > 0 ? std::optional<int64_t>(cfg.top_k) : std::nullopt, gen);
    text = vocab.decode(out.to_vector<int64_t>());
  }
  if (cfg.json) {
    std::printf("%s\n", examples::JsonLine()
                            .add("example", "char_gpt")
                            .add("mode", "sample")
                            .add("text", text)
                            .add("attention_cells", cells)
                            .str().c_str());
  } else {
    if (text_wanted) std::printf("%s\n", text.c_str());
    if (cells) std::printf("wrote %s/attention.svg\n", cfg.out_dir.c_str());
  }
  return 0;
}

int main(int argc, char** argv) {
  Config cfg;
  // A preset first, so options given with it still override its values.
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    std::string name;
    if (arg == "--config" && i + 1 < argc) name = argv[i + 1];
    else if (arg.rfind("--config=", 0) == 0) name = arg.substr(9);
    if (!name.empty() && !apply_preset(cfg, name)) {
      std::fprintf(stderr, "char_gpt: unknown --config %s (tiny or small)\n", name.c_str());
      return 2;
    }
  }
  examples::Cli cli("char_gpt", "a character-level GPT on a text file: char_gpt [train|sample] [options]");
  cli.option("data", cfg.data, "text file to train on (e.g. tinyshakespeare.txt)")
      .option("out-dir", cfg.out_dir, "checkpoint, log.csv, loss.svg, attention.svg go here")
      .option("eval-interval", cfg.eval_interval, "steps between val losses and checkpoints")
      .option("eval-iters", cfg.eval_iters, "val batches per estimate")
      .option("log-every", cfg.log_every, "steps between plain progress lines")
      .flag("resume", cfg.resume, "continue training from out-dir/ckpt.safetensors")
      .option("config", cfg.config, "preset: tiny or small (ref_gpt.py's shapes)")
      .option("n-layer", cfg.n_layer, "transformer blocks")
      .option("n-head", cfg.n_head, "attention heads per block")
      .option("n-embd", cfg.n_embd, "channels")
      .option("block-size", cfg.block_size, "characters of context")
      .option("dropout", cfg.dropout, "dropout probability")
      .option("tie-weights", cfg.tie_weights, "share the token embedding with the output layer (1/0)")
      .option("batch", cfg.batch, "sequences per step")
      .option("lr", cfg.lr, "peak learning rate")
      .option("max-iters", cfg.max_iters, "training steps")
      .option("warmup", cfg.warmup, "warm-up steps")
      .option("decay-lr", cfg.decay_lr, "cosine decay after warm-up (1/0; 0 = constant lr)")
      .option("lr-decay-iters", cfg.lr_decay_iters, "where the cosine ends (0: max-iters)")
      .option("min-lr", cfg.min_lr, "lr at the end of the cosine")
      .option("weight-decay", cfg.weight_decay, "AdamW weight decay")
      .option("beta1", cfg.beta1, "AdamW beta1")
      .option("beta2", cfg.beta2, "AdamW beta2")
      .option("grad-clip", cfg.grad_clip, "clip the gradient norm (0: off)")
      .option("max-seconds", cfg.max_seconds, "stop after this much training time (0: off)")
      .option("seed", cfg.seed, "random seed")
      .option("threads", cfg.threads, "worker threads (0: AG_NUM_THREADS or all cores)")
      .option("prompt", cfg.prompt, "sample: text to continue")
      .option("num-tokens", cfg.num_tokens, "sample: characters to generate")
      .option("temperature", cfg.temperature, "sample: softmax temperature")
      .option("top-k", cfg.top_k, "sample: keep the k most likely (0: all)")
      .option("attention-map", cfg.attention_map, "write out-dir/attention.svg for this prompt")
      .flag("json", cfg.json, "print a JSON line with the results last");
  const auto positional = cli.parse(argc, argv);
  const std::string mode = positional.empty() ? "train" : positional[0];
  try {
    if (cfg.threads > 0) ag::set_num_threads(static_cast<int>(cfg.threads));
    if (mode == "train") {
      // --attention-map alone (no --data) draws from an existing checkpoint.
      if (cfg.data.empty() && !cfg.attention_map.empty()) return sample(cfg, false);
      return train(cfg);
    }
    if (mode == "sample") return sample(cfg, true);
    std::fprintf(stderr, "char_gpt: unknown mode \"%s\" (train or sample)\n", mode.c_str());
    return 2;
  } catch (const ag::Error& e) {
    std::fprintf(stderr, "char_gpt: %s\n", e.what());
    return 1;
  }
}

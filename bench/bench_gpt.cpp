// bench_gpt.cpp: `ag_bench gpt`, one nanoGPT training step (forward, backward, AdamW step,
// zero_grad) on random tokens, timed exactly as the PyTorch reference ref_gpt.py times it:
// `warmup` untimed steps, then `steps` timed ones; the median step, its forward / backward /
// optimizer split, tokens per second, the model FLOPs (nanoGPT's 6N + 12 L H Q T per token)
// and the process's peak resident memory.
//
// The model is the same: vocabulary 65, learned positions, pre-LayerNorm blocks with causal
// attention, exact-GELU MLP, tied lm_head, AdamW (betas 0.9, 0.99, weight decay 0.1 on
// tensors with 2+ dims only, lr 1e-3).
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <map>

#include "bench_common.h"
#include "nn/nn.h"
#include "optim/optim.h"

namespace ag::bench {

namespace {

struct GptCase {
  int64_t n_layer, n_head, n_embd, block_size, batch_size;
};

const std::map<std::string, GptCase> kConfigs = {
    {"tiny", {2, 4, 64, 64, 16}},
    {"small", {4, 4, 128, 128, 16}},
    {"medium", {6, 6, 384, 256, 8}},
};

double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is KiB on Linux
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

int run_gpt(const std::vector<std::string>& raw) {
  const Args args(raw, {{"config", "small"}, {"threads", "1"}, {"steps", "30"}, {"warmup", "5"},
                        {"dropout", "0"}, {"seed", "1337"}, {"untied", ""}, {"help", ""}});
  if (args.flag("help")) {
    std::puts("ag_bench gpt [--config tiny|small|medium] [--threads N] [--steps S] [--warmup W]\n"
              "             [--dropout P] [--seed S] [--untied]\n"
              "One nanoGPT training step per sample, as ref_gpt.py; prints one JSON line.");
    return 0;
  }
  const std::string config_name = args.str("config");
  const auto it = kConfigs.find(config_name);
  if (it == kConfigs.end()) throw std::invalid_argument("unknown --config '" + config_name + "'");
  const GptCase c = it->second;
  const int threads = static_cast<int>(args.integer("threads"));
  set_num_threads(threads);
  manual_seed(static_cast<uint64_t>(args.integer("seed")));

  const double rss0 = peak_rss_mb();
  nn::GPTConfig config;
  config.n_layer = c.n_layer;
  config.n_head = c.n_head;
  config.n_embd = c.n_embd;
  config.block_size = c.block_size;
  config.vocab_size = 65;
  config.dropout = args.number("dropout");
  config.tie_weights = !args.flag("untied");
  nn::GPT model(config);
  model.train();
  optim::AdamW optimizer(optim::decay_groups(model.named_parameters(), 0.1),
                         optim::AdamWOptions(1e-3).betas({0.9, 0.99}));

  const int64_t B = c.batch_size, T = c.block_size;
  // Eight pre-drawn batches; y is x shifted by one (the content does not matter for timing).
  const Tensor data = randint(0, 65, {8, B, T + 1});
  using Clock = std::chrono::steady_clock;
  auto seconds = [](Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
  };
  const int64_t warmup = args.integer("warmup"), steps = args.integer("steps");
  std::vector<double> fwd, bwd, opt, total;
  double last_loss = 0;
  for (int64_t i = 0; i < warmup + steps; ++i) {
    const Tensor batch = data.select(0, i % 8);
    const Tensor x = batch.narrow(1, 0, T).contiguous();
    const Tensor y = batch.narrow(1, 1, T).contiguous();
    const auto t0 = Clock::now();
    auto [logits, loss] = model.forward(x, y);
    const auto t1 = Clock::now();
    loss.backward();
    const auto t2 = Clock::now();
    optimizer.step();
    optimizer.zero_grad();
    const auto t3 = Clock::now();
    last_loss = loss.item<double>();
    if (i >= warmup) {
      fwd.push_back(seconds(t0, t1));
      bwd.push_back(seconds(t1, t2));
      opt.push_back(seconds(t2, t3));
      total.push_back(seconds(t0, t3));
    }
  }
  const double med = median(total);
  const int64_t params = model.num_parameters();
  // nanoGPT's estimate_mfu: 6N + 12 L H Q T FLOPs per token, N without the position table.
  const double n_no_wpe = static_cast<double>(params - model.wpe->weight.numel());
  const double flops_per_token = 6 * n_no_wpe + 12.0 * c.n_layer * c.n_head *
                                                    (c.n_embd / c.n_head) * c.block_size;
  std::printf("%s\n", JsonLine()
                          .add("bench", "ref_gpt")
                          .add("impl", "attograd")
                          .add("config", config_name)
                          .add("threads", threads)
                          .add("dropout", args.number("dropout"), 2)
                          .add("tied", !args.flag("untied"))
                          .add("n_layer", c.n_layer).add("n_head", c.n_head).add("n_embd", c.n_embd)
                          .add("block_size", c.block_size).add("batch_size", c.batch_size)
                          .add("vocab_size", int64_t{65})
                          .add("params", params)
                          .add("steps", steps).add("warmup", warmup)
                          .add("ms_per_step_median", med * 1e3)
                          .add("ms_per_step_min", *std::min_element(total.begin(), total.end()) * 1e3)
                          .add("ms_per_step_max", *std::max_element(total.begin(), total.end()) * 1e3)
                          .add("fwd_ms", median(fwd) * 1e3)
                          .add("bwd_ms", median(bwd) * 1e3)
                          .add("opt_ms", median(opt) * 1e3)
                          .add("tokens_per_s", static_cast<double>(B * T) / med, 1)
                          .add("model_gflops_per_step", flops_per_token * B * T / 1e9)
                          .add("achieved_gflops", flops_per_token * B * T / med / 1e9, 1)
                          .add("final_loss", last_loss, 4)
                          .add("rss_after_import_mb", rss0, 1)
                          .add("peak_rss_mb", peak_rss_mb(), 1)
                          .str().c_str());
  return 0;
}

}  // namespace ag::bench

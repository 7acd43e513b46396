// bench_attention.cpp: `ag_bench attention`, causal self-attention forward + backward with a
// fixed random output gradient, as the PyTorch reference ref_attention.py times it (2 warm-up
// iterations, then `repeats`; median, min, max). --impl plain materialises the (T, T) weights
// as PyTorch's naive code does; --impl fused is the tiled kernel with O(T) extra memory.
// rss_delta_mb is the peak resident memory above what the inputs took: run one case per
// process (as the reference does) for it to mean "extra memory of this case".
#include <sys/resource.h>

#include <chrono>
#include <cstdio>

#include "bench_common.h"
#include "nn/nn.h"

namespace ag::bench {

namespace {
double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}
}  // namespace

int run_attention(const std::vector<std::string>& raw) {
  const Args args(raw, {{"T", "1024"}, {"B", "1"}, {"H", "4"}, {"D", "64"}, {"impl", "fused"},
                        {"threads", "1"}, {"repeats", "7"}, {"dropout", "0"}, {"help", ""}});
  if (args.flag("help")) {
    std::puts("ag_bench attention [--T 1024] [--B 1] [--H 4] [--D 64] [--impl plain|fused]\n"
              "                   [--threads N] [--repeats R] [--dropout P]\n"
              "Causal attention forward+backward, as ref_attention.py; one JSON line.");
    return 0;
  }
  const int64_t B = args.integer("B"), H = args.integer("H"), T = args.integer("T"),
                D = args.integer("D");
  const std::string impl = args.str("impl");
  if (impl != "plain" && impl != "fused") throw std::invalid_argument("--impl is plain or fused");
  const int threads = static_cast<int>(args.integer("threads"));
  set_num_threads(threads);
  manual_seed(0);
  namespace F = nn::functional;
  Tensor q = randn({B, H, T, D}).requires_grad_();
  Tensor k = randn({B, H, T, D}).requires_grad_();
  Tensor v = randn({B, H, T, D}).requires_grad_();
  const Tensor dy = randn({B, H, T, D});
  F::AttentionOptions options;
  options.is_causal = true;
  options.dropout_p = args.number("dropout");
  options.impl = impl == "plain" ? F::AttentionImpl::Plain : F::AttentionImpl::Fused;
  const double rss0 = peak_rss_mb();

  using Clock = std::chrono::steady_clock;
  auto seconds = [](Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
  };
  std::vector<double> f, b, total;
  const int64_t repeats = args.integer("repeats");
  for (int64_t i = 0; i < 2 + repeats; ++i) {
    const auto t0 = Clock::now();
    Tensor y = F::scaled_dot_product_attention(q, k, v, options);
    const auto t1 = Clock::now();
    y.backward(dy);
    const auto t2 = Clock::now();
    q.zero_grad();
    k.zero_grad();
    v.zero_grad();
    if (i >= 2) {
      f.push_back(seconds(t0, t1));
      b.push_back(seconds(t1, t2));
      total.push_back(seconds(t0, t2));
    }
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  };
  const double med = median(total);
  const double flops = 3.0 * 4 * B * H * static_cast<double>(T) * T * D;  // as the reference
  std::printf("%s\n", JsonLine()
                          .add("bench", "ref_attention")
                          .add("impl", "attograd-" + impl)
                          .add("B", B).add("H", H).add("T", T).add("D", D)
                          .add("threads", threads)
                          .add("repeats", repeats)
                          .add("ms_median", med * 1e3)
                          .add("ms_min", *std::min_element(total.begin(), total.end()) * 1e3)
                          .add("ms_max", *std::max_element(total.begin(), total.end()) * 1e3)
                          .add("fwd_ms", median(f) * 1e3)
                          .add("bwd_ms", median(b) * 1e3)
                          .add("gflops", flops / med / 1e9, 1)
                          .add("rss_base_mb", rss0, 1)
                          .add("peak_rss_mb", peak_rss_mb(), 1)
                          .add("rss_delta_mb", peak_rss_mb() - rss0, 1)
                          .add("att_matrix_mb", B * H * static_cast<double>(T) * T * 4 / (1 << 20), 1)
                          .str().c_str());
  return 0;
}

}  // namespace ag::bench

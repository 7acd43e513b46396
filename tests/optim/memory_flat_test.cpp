// memory_flat_test.cpp: a long training run does not grow. 2,000 steps of a small GPT with
// everything a real run uses (dropout, AdamW with decay groups, gradient clipping, a warm-up +
// cosine schedule) must leave memory where the first steps put it:
//   - the allocator's bytes in use after each step are exactly those after the warm-up (a tensor
//     kept alive by a forgotten graph, an optimizer state that grows, a cache of views that is
//     never emptied would all show up here, under any build, sanitizers included);
//   - the process's resident memory (/proc/self/statm) grows by less than 5% after warm-up.
//     Skipped under AddressSanitizer, whose quarantine holds freed memory on purpose; that run
//     has LeakSanitizer instead, which fails the test binary on any leak at exit.
// The sizes are small so that 2,000 steps take a few seconds.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "nn/nn.h"
#include "optim/optim.h"
#include "tensor/allocator.h"

#if defined(__SANITIZE_ADDRESS__)
#define AG_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AG_UNDER_ASAN 1
#endif
#endif

namespace {

using namespace ag;

// Resident set size in KiB, from /proc/self/statm (its second field counts pages).
double resident_kib() {
  std::ifstream statm("/proc/self/statm");
  long pages_total = 0, pages_resident = 0;
  statm >> pages_total >> pages_resident;
  return static_cast<double>(pages_resident) * 4.0;
}

TEST(MemoryFlatTest, TwoThousandGptTrainingStepsKeepMemoryFlat) {
  manual_seed(7);
  const nn::GPTConfig config{.block_size = 16, .vocab_size = 16, .n_layer = 2, .n_head = 2,
                             .n_embd = 32, .dropout = 0.1};
  nn::GPT model(config);
  model.train();
  optim::AdamW optimizer(optim::decay_groups(model.named_parameters(), 0.1),
                         optim::AdamWOptions(3e-3).betas({0.9, 0.99}));
  optim::WarmupCosineLR schedule(optimizer, /*warmup_iters=*/50, /*lr_decay_iters=*/2000,
                                 /*min_lr=*/3e-4);
  const Tensor data = randint(0, config.vocab_size, {8, 4, config.block_size + 1});

  constexpr int kSteps = 2000, kWarmup = 100;
  size_t in_use_after_warmup = 0;
  double rss_after_warmup = 0, rss_max = 0, first_loss = 0, last_loss = 0;
  for (int step = 0; step < kSteps; ++step) {
    const Tensor batch = data.select(0, step % 8);
    const Tensor x = batch.narrow(1, 0, config.block_size).contiguous();
    const Tensor y = batch.narrow(1, 1, config.block_size).contiguous();
    {
      auto [logits, loss] = model.forward(x, y);
      loss.backward();
      (step == 0 ? first_loss : last_loss) = loss.item<double>();
    }
    optim::clip_grad_norm_(model.parameters(), 1.0);
    optimizer.step();
    optimizer.zero_grad();
    schedule.step();

    const size_t in_use = allocator_stats().bytes_in_use;
    const double rss = resident_kib();
    if (step == kWarmup) {
      in_use_after_warmup = in_use;
      rss_after_warmup = rss;
    } else if (step > kWarmup) {
      ASSERT_EQ(in_use, in_use_after_warmup) << "tensor memory grew at step " << step;
      rss_max = std::max(rss_max, rss);
    }
  }
  EXPECT_LT(last_loss, first_loss);  // it did train: the loop is not idling
  const double growth = (rss_max - rss_after_warmup) / rss_after_warmup;
  std::printf("[ memory ] after warm-up: %.0f KiB resident, %zu tensor bytes in use; "
              "largest later: %.0f KiB (%+.2f%%)\n",
              rss_after_warmup, in_use_after_warmup, rss_max, 100.0 * growth);
#ifndef AG_UNDER_ASAN
  EXPECT_LT(growth, 0.05) << "resident memory grew from " << rss_after_warmup << " KiB to "
                          << rss_max << " KiB";
#endif
}

}  // namespace

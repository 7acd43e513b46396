// progress.h: how long-running examples report progress. On a terminal: one live line,
// redrawn in place, with step, loss, tokens/s and time left. Piped to a file or a test: a plain
// line every `every` steps, so logs stay readable and grep-able.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

namespace examples {

class Progress {
 public:
  Progress(int64_t total_steps, int64_t every, bool quiet = false)
      : total_(total_steps), every_(every < 1 ? 1 : every), quiet_(quiet),
        tty_(isatty(fileno(stdout)) != 0), start_(Clock::now()) {}

  // Call once per step; tokens is how many tokens (or samples) the step processed.
  void update(int64_t step, double loss, int64_t tokens, const std::string& extra = "") {
    tokens_ += tokens;
    if (quiet_) return;
    const double elapsed = seconds();
    const double per_step = elapsed / static_cast<double>(step + 1);
    const double left = per_step * static_cast<double>(total_ - step - 1);
    const double rate = elapsed > 0 ? static_cast<double>(tokens_) / elapsed : 0.0;
    if (tty_) {
      const int width = 24;
      const int filled = static_cast<int>(width * (step + 1) / std::max<int64_t>(total_, 1));
      std::printf("\r[%s%s] step %lld/%lld  loss %.4f  %.0f tok/s  %.0fs left %s   ",
                  std::string(filled, '#').c_str(), std::string(width - filled, '.').c_str(),
                  static_cast<long long>(step + 1), static_cast<long long>(total_), loss, rate,
                  left, extra.c_str());
      std::fflush(stdout);
      if (step + 1 == total_) std::printf("\n");
    } else if ((step + 1) % every_ == 0 || step == 0 || step + 1 == total_) {
      std::printf("step %lld/%lld  loss %.4f  %.0f tok/s  %.1fs elapsed %s\n",
                  static_cast<long long>(step + 1), static_cast<long long>(total_), loss, rate,
                  elapsed, extra.c_str());
      std::fflush(stdout);
    }
  }

  // Ends a live line early (before printing something else on a terminal).
  void break_line() const {
    if (tty_ && !quiet_) std::printf("\n");
  }

  double seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

 private:
  using Clock = std::chrono::steady_clock;
  int64_t total_, every_;
  bool quiet_, tty_;
  Clock::time_point start_;
  int64_t tokens_ = 0;
};

}  // namespace examples

// ag_bench.cpp: the benchmark program's entry point, a table of subcommands.
//   ag_bench <subcommand> [--options]     each prints one JSON line per case
//   ag_bench --help | ag_bench <subcommand> --help
// Adding a benchmark: write `int run_<name>(const std::vector<std::string>&)` in its own
// bench/bench_<name>.cpp, declare it below and add a row to kSubcommands.
#include <cstdio>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "bench_common.h"

namespace ag::bench {

int run_gemm(const std::vector<std::string>& args);       // bench_gemm.cpp
int run_attention(const std::vector<std::string>& args);  // bench_attention.cpp
int run_gpt(const std::vector<std::string>& args);        // bench_gpt.cpp

namespace {

struct Entry {
  std::string_view name;
  Subcommand run;
  std::string_view summary;
};

constexpr Entry kSubcommands[] = {
    {"gemm", &run_gemm, "GFLOP/s of C (M, N) = A (M, K) @ B (K, N), as ref_gemm.py"},
    {"attention", &run_attention, "causal attention forward+backward, as ref_attention.py"},
    {"gpt", &run_gpt, "one nanoGPT training step (tiny/small/medium), as ref_gpt.py"},
};

void print_usage(std::FILE* out) {
  std::fputs("usage: ag_bench <subcommand> [--options]   (ag_bench <subcommand> --help)\n"
             "Each case prints one JSON line; field names match the PyTorch reference scripts.\n"
             "subcommands:\n", out);
  for (const Entry& e : kSubcommands)
    std::fprintf(out, "  %-12.*s %.*s\n", static_cast<int>(e.name.size()), e.name.data(),
                 static_cast<int>(e.summary.size()), e.summary.data());
}

}  // namespace
}  // namespace ag::bench

int main(int argc, char** argv) {
  using namespace ag::bench;
  if (argc < 2) {
    print_usage(stderr);
    return 2;
  }
  const std::string_view command = argv[1];
  if (command == "--help" || command == "-h" || command == "help") {
    print_usage(stdout);
    return 0;
  }
  for (const Entry& e : kSubcommands) {
    if (e.name != command) continue;
    try {
      return e.run(std::vector<std::string>(argv + 2, argv + argc));
    } catch (const std::exception& error) {
      std::fprintf(stderr, "ag_bench %s: %s\n", argv[1], error.what());
      return 2;
    }
  }
  std::fprintf(stderr, "ag_bench: unknown subcommand '%s'\n", argv[1]);
  print_usage(stderr);
  return 2;
}

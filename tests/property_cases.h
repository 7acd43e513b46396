// property_cases.h: the seeds and the random source behind the property tests
// (tests/tensor/property_test.cpp, tests/autograd/property_test.cpp).
//
// A property test draws many random cases (shapes, strides, op sequences) and checks a rule
// that must hold for all of them. Its value depends on a failure being replayable, so every
// case is a pure function of one 64-bit seed: case i of a suite uses case_seed(suite, i), the
// failure message prints that seed, and AG_PROPERTY_SEED=<seed> runs that one case alone:
//
//   AG_PROPERTY_SEED=0x1234abcd ./build/release/tests/attograd_autograd_tests
//       --gtest_filter='AutogradPropertyTest.*'      (one command line)
//
// The random source is our own splitmix64 with plain integer arithmetic (not <random>'s
// distributions, which differ between standard libraries), so a seed means the same case
// everywhere.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <numbers>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace ag::testing {

// splitmix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", 2014).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}

  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // An integer in [lo, hi], both ends included (the modulo bias is far below what matters here).
  int64_t uniform_int(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(next() % static_cast<uint64_t>(hi - lo + 1));
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  bool coin(double p_true = 0.5) { return uniform() < p_true; }
  double normal() {  // Box-Muller; 1 - uniform() is in (0, 1], so log() stays finite
    const double u1 = 1.0 - uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }
  template <typename T>
  const T& pick(const std::vector<T>& items) {
    return items[static_cast<size_t>(uniform_int(0, static_cast<int64_t>(items.size()) - 1))];
  }

 private:
  uint64_t state_;
};

// The seed of case `index` of the suite named `suite`: distinct suites draw distinct cases.
inline uint64_t case_seed(std::string_view suite, uint64_t index) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a of the suite name
  for (char c : suite) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
  Rng mix(h + index);
  return mix.next();
}

// The seeds to run: AG_PROPERTY_SEED alone when it is set (decimal or 0x-hex), else `count`
// cases of the suite.
inline std::vector<uint64_t> case_seeds(std::string_view suite, int count) {
  if (const char* env = std::getenv("AG_PROPERTY_SEED"); env != nullptr && env[0] != '\0')
    return {std::strtoull(env, nullptr, 0)};
  std::vector<uint64_t> seeds;
  for (int i = 0; i < count; ++i) seeds.push_back(case_seed(suite, static_cast<uint64_t>(i)));
  return seeds;
}

// What a failing case prints first: how to run it again by itself.
inline std::string replay_hint(int index, uint64_t seed) {
  char hex[32];
  std::snprintf(hex, sizeof hex, "0x%016llx", static_cast<unsigned long long>(seed));
  return "case " + std::to_string(index) + ", seed " + hex + " (rerun alone with AG_PROPERTY_SEED=" +
         hex + ")";
}

}  // namespace ag::testing

// random.cpp: Philox4x32-10 and the global generator.
#include "tensor/random.h"

#include <cmath>
#include <numbers>

namespace ag {

std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> ctr, std::array<uint32_t, 2> key) {
  using namespace philox;  // kMul0, kMul1, kWeyl0, kWeyl1 (random.h)
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = static_cast<uint64_t>(kMul0) * ctr[0];
    const uint64_t p1 = static_cast<uint64_t>(kMul1) * ctr[2];
    const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
    const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
    ctr = {hi1 ^ ctr[1] ^ key[0], lo1, hi0 ^ ctr[3] ^ key[1], lo0};
    key[0] += kWeyl0;
    key[1] += kWeyl1;
  }
  return ctr;
}

std::array<uint32_t, 4> Generator::block(uint64_t block) const {
  const uint64_t seed = seed_.load(std::memory_order_relaxed);
  return philox4x32({static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), 0, 0},
                    {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)});
}

double Generator::uniform() {
  const auto r = block(reserve_blocks(1));
  return uniform_from_bits(r[0], r[1]);
}

double Generator::normal() {
  const auto r = block(reserve_blocks(1));
  // Box-Muller: u1 in (0, 1] keeps log() finite.
  const double u1 = 1.0 - uniform_from_bits(r[0], r[1]);
  const double u2 = uniform_from_bits(r[2], r[3]);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

uint64_t Generator::next_u64() {
  const auto r = block(reserve_blocks(1));
  return (static_cast<uint64_t>(r[0]) << 32) | r[1];
}

Generator& default_generator() {
  static Generator generator(0);
  return generator;
}

void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

double keyed_uniform(uint64_t seed, uint64_t a, uint64_t b, uint64_t c, uint64_t d) {
  // Counter words take (a, b, c) and the salt d is folded into the key with the seed.
  const uint64_t key = philox::keyed_key(seed, d);
  const auto r = philox4x32({static_cast<uint32_t>(a), static_cast<uint32_t>(b),
                             static_cast<uint32_t>(c), static_cast<uint32_t>(a >> 32)},
                            {static_cast<uint32_t>(key), static_cast<uint32_t>(key >> 32)});
  return uniform_from_bits(r[0], r[1]);
}

}  // namespace ag

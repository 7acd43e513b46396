// random.h: attograd's own random numbers, so a seed gives the same numbers with any compiler,
// standard library or thread count (std::normal_distribution differs between libraries).
//
// The core is Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
// SC'11): a keyed bijection of a 128-bit counter. Random number i of a stream is philox(key,
// i) and needs no state but i, which gives two things: the generator's whole state is (seed,
// offset), trivial to checkpoint; and dropout inside fused attention can regenerate its mask in
// the backward from (seed, batch, head, row, column) instead of storing it.
#pragma once

#include <array>
#include <cstdint>

namespace ag {

// One Philox4x32-10 block: four 32-bit random words for (counter, key).
std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key);

// A uniform double in [0, 1) from 53 random bits.
inline double uniform_from_bits(uint32_t hi, uint32_t lo) {
  const uint64_t bits = (static_cast<uint64_t>(hi) << 21) ^ (lo >> 11);
  return static_cast<double>(bits & ((uint64_t{1} << 53) - 1)) * 0x1.0p-53;
}

// A stream of random numbers: number i is drawn from philox(counter = (offset + i), key = seed).
class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}

  void manual_seed(uint64_t seed) { seed_ = seed; offset_ = 0; }
  uint64_t seed() const { return seed_; }
  // How many Philox blocks have been used; together with seed() this is the whole state.
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) { seed_ = seed; offset_ = offset; }

  // Reserves n consecutive Philox blocks and returns the first one's counter; the caller
  // may compute them in any order (or in parallel) and gets the same numbers.
  uint64_t reserve_blocks(uint64_t n) { const uint64_t first = offset_; offset_ += n; return first; }

  // Philox block `block` of this generator's stream (for kernels that reserved blocks).
  std::array<uint32_t, 4> block(uint64_t block) const;

  // Convenience draws for scalar code (each uses one block).
  double uniform();           // [0, 1)
  double normal();            // standard normal, by Box-Muller
  uint64_t next_u64();

 private:
  uint64_t seed_ = 0;
  uint64_t offset_ = 0;
};

// The global generator behind randn, rand, randint, dropout and parameter init.
Generator& default_generator();

// Seeds the global generator (libtorch's torch::manual_seed).
void manual_seed(uint64_t seed);

// A counter-based draw with no generator state: uniform in [0, 1) for the 5-tuple
// (seed, a, b, c, d). Fused attention dropout uses (seed, batch*heads + head, row, col, salt).
double keyed_uniform(uint64_t seed, uint64_t a, uint64_t b, uint64_t c, uint64_t d);

}  // namespace ag

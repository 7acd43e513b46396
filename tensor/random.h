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
#include <atomic>
#include <cstdint>
#include <mutex>

namespace ag {

// One Philox4x32-10 block: four 32-bit random words for (counter, key).
std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key);

// Philox's numbers, shared by philox4x32 and the vector copy of it that draws fused attention's
// dropout 8 or 16 at a time (tensor/simd/attention_micro_kernel_impl.h): one set, so the two
// cannot drift apart.
namespace philox {
// The paper's constants: two multipliers chosen for good avalanche, and the Weyl sequence
// increments (golden ratio and sqrt(3)-1 in 32-bit fixed point) that bump the key each round.
inline constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
inline constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
// keyed_uniform's key for (seed, salt): the salt folded in through the 64-bit golden ratio.
// Internal linkage, one copy per translation unit: the AVX2 / AVX-512 kernel files use it too,
// and the linker must never hand their build to the baseline code (see simd/gemm_pack.h).
namespace {
constexpr uint64_t keyed_key(uint64_t seed, uint64_t salt) {
  return seed ^ (salt * 0x9E3779B97F4A7C15ull);
}
}  // namespace
}  // namespace philox

// A uniform double in [0, 1) from 53 random bits.
inline double uniform_from_bits(uint32_t hi, uint32_t lo) {
  const uint64_t bits = (static_cast<uint64_t>(hi) << 21) ^ (lo >> 11);
  return static_cast<double>(bits & ((uint64_t{1} << 53) - 1)) * 0x1.0p-53;
}

// A stream of random numbers: number i is drawn from philox(counter = (offset + i), key = seed).
//
// Thread safety, as PyTorch's default generator: threads may draw at once (randn on two
// threads, say). Each draw reserves its own blocks under a lock, so no number is handed out
// twice; which thread gets which blocks depends on timing, so only single-threaded drawing is
// reproducible. The lock is taken once per tensor, not per number: block() reads the seed
// with a relaxed atomic load, so a kernel computing blocks in parallel pays nothing for it.
// Reseeding while another thread draws is allowed but leaves unspecified which seed it used.
class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}
  Generator(const Generator&) = delete;  // a copy would replay the same numbers: share it
  Generator& operator=(const Generator&) = delete;

  void manual_seed(uint64_t seed) { set_state(seed, 0); }
  uint64_t seed() const { return seed_.load(std::memory_order_relaxed); }
  // How many Philox blocks have been used; together with seed() this is the whole state.
  uint64_t offset() const { return offset_.load(std::memory_order_relaxed); }
  void set_state(uint64_t seed, uint64_t offset) {
    std::lock_guard<std::mutex> lock(mutex_);
    seed_.store(seed, std::memory_order_relaxed);
    offset_.store(offset, std::memory_order_relaxed);
  }

  // Reserves n consecutive Philox blocks and returns the first one's counter; the caller
  // may compute them in any order (or in parallel) and gets the same numbers.
  uint64_t reserve_blocks(uint64_t n) {
    std::lock_guard<std::mutex> lock(mutex_);
    const uint64_t first = offset_.load(std::memory_order_relaxed);
    offset_.store(first + n, std::memory_order_relaxed);
    return first;
  }

  // Philox block `block` of this generator's stream (for kernels that reserved blocks).
  std::array<uint32_t, 4> block(uint64_t block) const;

  // Convenience draws for scalar code (each uses one block).
  double uniform();           // [0, 1)
  double normal();            // standard normal, by Box-Muller
  uint64_t next_u64();

 private:
  std::mutex mutex_;  // makes (seed, offset) updates and reservations atomic
  std::atomic<uint64_t> seed_{0};
  std::atomic<uint64_t> offset_{0};
};

// The global generator behind randn, rand, randint, dropout and parameter init.
Generator& default_generator();

// Seeds the global generator (libtorch's torch::manual_seed).
void manual_seed(uint64_t seed);

// A counter-based draw with no generator state: uniform in [0, 1) for the 5-tuple
// (seed, a, b, c, d). Fused attention dropout uses (seed, batch*heads + head, row, col, salt).
double keyed_uniform(uint64_t seed, uint64_t a, uint64_t b, uint64_t c, uint64_t d);

}  // namespace ag

// concurrency_test.cpp: what attograd promises to programs with several std::threads.
//   - Grad mode is per thread: a NoGradGuard on one thread never stops another from recording.
//   - Separate graphs can run forward and backward on separate threads at once, and give the
//     same bits as when run one after another (kernels share one pool; parallel_for calls from
//     different threads take turns, and their results never depend on who ran which chunk).
//   - parallel_for may be called from many threads at once, and set_num_threads between jobs.
//   - The global generator hands out disjoint blocks to concurrent randn calls (it is locked,
//     as PyTorch locks its default generator), so no number is drawn twice.
// What is not promised, as in PyTorch: one graph used by two threads at once, or in-place
// writes to a tensor another thread reads.
//
// These tests run under ThreadSanitizer in CI (.ci/run picks tests named Thread, Parallel or
// Concurrent), which is where a data race in the pool, the allocator or autograd shows up.
#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <cstring>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "autograd/autograd.h"
#include "tensor/allocator.h"

namespace {

using namespace ag;

class ThreadCountRestorer {
 public:
  ThreadCountRestorer() : previous_(get_num_threads()) {}
  ~ThreadCountRestorer() { set_num_threads(previous_); }

 private:
  int previous_;
};

bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  const Tensor ca = a.contiguous(), cb = b.contiguous();
  return std::memcmp(ca.raw_data(), cb.raw_data(),
                     static_cast<size_t>(ca.numel()) * element_size(ca.dtype())) == 0;
}

// ---- grad mode is thread-local --------------------------------------------------------------

TEST(ConcurrencyTest, GradModeIsPerThreadWhileThreadsRunInLockstep) {
  // Two threads alternate guard on / op / guard off in lockstep, so each one's guard is alive
  // exactly while the other records: a shared flag would make one of them see the wrong mode.
  constexpr int kRounds = 200;
  std::barrier sync(2);
  std::atomic<int> wrong{0};
  auto body = [&](bool use_guard) {
    Tensor x = ones({4}, kFloat64).requires_grad_();
    for (int round = 0; round < kRounds; ++round) {
      std::optional<NoGradGuard> guard;
      if (use_guard) guard.emplace();
      sync.arrive_and_wait();  // both threads are inside their round now
      const bool records = (x * 2.0).requires_grad();
      if (records == use_guard) ++wrong;
      sync.arrive_and_wait();
    }
  };
  std::thread guarded(body, true);
  body(false);
  guarded.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_TRUE(GradMode::is_enabled());
}

// ---- independent graphs on several threads --------------------------------------------------

struct Model {
  Tensor w1, b1, w2, x, target;  // float32, like training
};

// Big enough that matmul, softmax and the reductions split into several parallel_for chunks.
Model make_model(uint64_t seed) {
  manual_seed(seed);
  Model m;
  m.w1 = (randn({64, 96}) * 0.1).requires_grad_();
  m.b1 = zeros({96}).requires_grad_();
  m.w2 = (randn({96, 32}) * 0.1).requires_grad_();
  m.x = randn({128, 64});
  m.target = softmax(randn({128, 32}), -1);
  return m;
}

// One training-like step: a two-layer net, log_softmax, a cross-entropy-style loss, backward.
// Returns the loss and the three gradients.
TensorList step(Model& m) {
  m.w1.zero_grad();
  m.b1.zero_grad();
  m.w2.zero_grad();
  const Tensor h = (m.x.matmul(m.w1) + m.b1).tanh();           // (128, 96)
  const Tensor logits = h.matmul(m.w2);                         // (128, 32)
  const Tensor loss = -(m.target * logits.log_softmax(-1)).sum(std::vector<int64_t>{-1}).mean();
  loss.backward();
  return {loss.detach(), m.w1.grad(), m.b1.grad(), m.w2.grad()};
}

TEST(ConcurrencyTest, FourThreadsBackpropagatingSeparateGraphsMatchSequentialRunsBitwise) {
  ThreadCountRestorer restore;
  set_num_threads(2);  // kernels use the pool too, so threads contend for it
  constexpr int kThreads = 4, kSteps = 5;
  std::vector<Model> models;
  for (int t = 0; t < kThreads; ++t) models.push_back(make_model(100 + t));

  // Reference: one model after another on this thread.
  std::vector<TensorList> expected;
  for (int t = 0; t < kThreads; ++t) expected.push_back(step(models[t]));

  std::vector<std::vector<TensorList>> got(kThreads);
  std::barrier start(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      start.arrive_and_wait();  // all four begin together
      for (int s = 0; s < kSteps; ++s) got[t].push_back(step(models[t]));
    });
  for (auto& thread : threads) thread.join();

  for (int t = 0; t < kThreads; ++t)
    for (int s = 0; s < kSteps; ++s)
      for (size_t k = 0; k < expected[t].size(); ++k)
        EXPECT_TRUE(same_bits(got[t][s][k], expected[t][k]))
            << "thread " << t << ", step " << s << ", result " << k << " (0 = loss)";
}

TEST(ConcurrencyTest, ThreadsSharingALeafGetTheirOwnGradientsThroughAutogradGrad) {
  // A shared parameter read by several threads' graphs is fine as long as each thread takes
  // its gradient with autograd::grad (writing .grad from several threads would race, as in
  // PyTorch).
  manual_seed(7);
  const Tensor w = randn({32, 32}, kFloat64).requires_grad_();
  std::vector<Tensor> inputs, expected;
  for (int t = 0; t < 4; ++t) inputs.push_back(randn({16, 32}, kFloat64));
  auto gradient = [&](int t) {
    const Tensor loss = inputs[t].matmul(w).sigmoid().pow(2.0).sum();
    return autograd::grad({loss}, {w})[0];
  };
  for (int t = 0; t < 4; ++t) expected.push_back(gradient(t));
  std::vector<Tensor> got(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back([&, t] { got[t] = gradient(t); });
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < 4; ++t) EXPECT_TRUE(same_bits(got[t], expected[t])) << "thread " << t;
  EXPECT_FALSE(w.grad().defined());
}

// ---- the pool from several threads ------------------------------------------------------------

TEST(ConcurrencyTest, ParallelForFromFourThreadsAtOnceCoversEveryIndexOnce) {
  ThreadCountRestorer restore;
  set_num_threads(3);
  constexpr int kThreads = 4, kJobs = 300;
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int job = 0; job < kJobs; ++job) {
        // Different sizes and grains per thread and job; each index must be hit exactly once.
        const int64_t n = 1 + (job * 37 + t * 11) % 500, grain = 1 + (job + t) % 64;
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        parallel_for(0, n, grain, [&](int64_t b, int64_t e) {
          if (b % grain != 0 || (e != n && e - b != grain)) ++bad;  // fixed chunk boundaries
          for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1, std::memory_order_relaxed);
          // A parallel_for inside a chunk runs inline and still covers its range.
          int64_t inner = 0;
          parallel_for(0, 8, 2, [&](int64_t ib, int64_t ie) { inner += ie - ib; });
          if (inner != 8) ++bad;
        });
        for (const auto& h : hits)
          if (h.load() != 1) ++bad;
      }
    });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(ConcurrencyTest, AnExceptionInOneThreadsJobDoesNotLeakIntoAnothers) {
  ThreadCountRestorer restore;
  set_num_threads(3);
  std::atomic<int> caught{0}, wrong{0};
  auto thrower = [&] {
    for (int job = 0; job < 200; ++job) {
      try {
        parallel_for(0, 16, 1, [&](int64_t b, int64_t) {
          if (b == 5) throw Error("test", "chunk 5 fails");
        });
        ++wrong;  // must have thrown
      } catch (const Error&) {
        ++caught;
      }
    }
  };
  auto quiet = [&] {
    for (int job = 0; job < 200; ++job) {
      try {
        std::atomic<int64_t> total{0};
        parallel_for(0, 16, 1, [&](int64_t b, int64_t e) { total += e - b; });
        if (total.load() != 16) ++wrong;
      } catch (...) {
        ++wrong;  // another thread's exception
      }
    }
  };
  std::thread a(thrower), b(quiet);
  a.join();
  b.join();
  EXPECT_EQ(caught.load(), 200);
  EXPECT_EQ(wrong.load(), 0);
}

TEST(ConcurrencyTest, SetNumThreadsBetweenJobsFromAnotherThread) {
  // Resizing waits for the job in flight; jobs started after it use the new pool. Results stay
  // correct (and, for a kernel, bitwise the same) throughout.
  ThreadCountRestorer restore;
  manual_seed(3);
  const Tensor x = randn({257, 129});
  const Tensor expected = x.softmax(-1).sum(std::vector<int64_t>{0});
  std::atomic<bool> stop{false};
  std::atomic<int> wrong{0};
  std::thread resizer([&] {
    for (int i = 0; !stop.load(); ++i) {
      set_num_threads(1 + i % 4);
      std::this_thread::yield();
    }
  });
  std::vector<std::thread> users;
  for (int t = 0; t < 2; ++t)
    users.emplace_back([&] {
      for (int i = 0; i < 100; ++i)
        if (!same_bits(x.softmax(-1).sum(std::vector<int64_t>{0}), expected)) ++wrong;
    });
  for (auto& user : users) user.join();
  stop = true;
  resizer.join();
  EXPECT_EQ(wrong.load(), 0);
  // And while idle: the count is what was set.
  set_num_threads(2);
  EXPECT_EQ(get_num_threads(), 2);
  set_num_threads(1);
  EXPECT_EQ(get_num_threads(), 1);
}

// ---- the global generator and the allocator -------------------------------------------------

TEST(ConcurrencyTest, ConcurrentRandnDrawsNeverRepeatANumber) {
  // Four threads draw at once from the one global generator. Each randn reserves its own
  // blocks, so all together they must draw exactly the numbers that one thread drawing the
  // same amount would have drawn, in some order, and the generator ends at the same offset.
  constexpr int kThreads = 4, kDraws = 50;
  constexpr int64_t kSize = 64;  // 32 Philox blocks per draw
  manual_seed(11);
  std::vector<double> sequential;
  for (int i = 0; i < kThreads * kDraws; ++i)
    for (double v : randn({kSize}, kFloat64).to_vector<double>()) sequential.push_back(v);
  const uint64_t sequential_offset = default_generator().offset();

  manual_seed(11);
  std::vector<std::vector<double>> drawn(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kDraws; ++i)
        for (double v : randn({kSize}, kFloat64).to_vector<double>()) drawn[t].push_back(v);
    });
  for (auto& thread : threads) thread.join();
  std::multiset<double> together, alone(sequential.begin(), sequential.end());
  for (const auto& d : drawn) together.insert(d.begin(), d.end());
  EXPECT_TRUE(together == alone) << "concurrent draws repeated or skipped numbers";
  EXPECT_EQ(default_generator().offset(), sequential_offset);
}

TEST(ConcurrencyTest, ConcurrentAllocationsKeepTheAllocatorsBooksStraight) {
  // Tensors made and dropped on four threads at once, in sizes that hit the cache: afterwards
  // nothing is in use that was not in use before.
  const size_t in_use_before = allocator_stats().bytes_in_use;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([t] {
      for (int i = 0; i < 500; ++i) {
        Tensor a = zeros({1 + (i * 7 + t) % 97}, kFloat64);
        Tensor b = ones({64, 1 + i % 5});
        a.fill_(1.0);
        b.fill_(2.0);
      }
    });
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(allocator_stats().bytes_in_use, in_use_before);
}

TEST(ConcurrencyTest, AnomalyModeReportsEachThreadsOwnBackward) {
  // Anomaly mode is process-wide, but which backward is running is per thread: a NaN made in
  // one thread's backward must be blamed on that thread's op, not on what another one runs.
  autograd::DetectAnomalyGuard anomaly;
  std::atomic<int> wrong{0};
  auto run = [&](bool sqrt_side) {
    for (int i = 0; i < 100; ++i) {
      Tensor x = from_vector<double>({0, 1}, {2}).requires_grad_();
      const Tensor weights = from_vector<double>({0, 1}, {2});
      // With dy = 0 at x = 0 both backwards make a NaN: sqrt's dy / (2 sqrt(x)) is 0 / 0,
      // pow's dy * (0.5 x^-0.5) is 0 * inf.
      const Tensor y = sqrt_side ? x.sqrt() : x.pow(0.5);
      try {
        (y * weights).sum().backward();
        ++wrong;
      } catch (const Error& e) {
        if (e.op() != (sqrt_side ? "sqrt" : "pow")) ++wrong;
      }
    }
  };
  std::thread other(run, false);
  run(true);
  other.join();
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace

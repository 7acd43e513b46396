// thread_pool_test.cpp: parallel_for and the reproducibility rule. Chunk boundaries depend
// only on (begin, end, grain), so every kernel gives the same bits with 1, 2 or 3 threads:
// elementwise ops, reductions, softmax, matmul and random draws are checked here bit for bit.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "autograd/ops.h"
#include "tensor/kernels.h"
#include "tensor/random.h"
#include "tensor/tensor.h"
#include "tensor/thread_pool.h"

namespace {

using namespace ag;

// Restores the thread count a test found, whatever it sets in between.
class ThreadCountRestorer {
 public:
  ThreadCountRestorer() : saved_(get_num_threads()) {}
  ~ThreadCountRestorer() { set_num_threads(saved_); }

 private:
  int saved_;
};

bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  const Tensor ca = a.contiguous(), cb = b.contiguous();
  return std::memcmp(ca.raw_data(), cb.raw_data(), ca.numel() * element_size(ca.dtype())) == 0;
}

// Runs make() with 1 thread, then 2 and 3, and checks every result has the same bits.
template <typename Make>
void expect_same_bits_for_any_thread_count(Make make, const char* what) {
  ThreadCountRestorer restore;
  set_num_threads(1);
  const Tensor reference = make();
  for (int threads : {2, 3}) {
    set_num_threads(threads);
    EXPECT_TRUE(same_bits(make(), reference)) << what << " with " << threads << " threads";
  }
}

TEST(ThreadPoolTest, ParallelForCoversEveryIndexOnceInFixedChunks) {
  ThreadCountRestorer restore;
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    EXPECT_EQ(get_num_threads(), threads);
    std::vector<std::atomic<int>> hits(1000);
    std::mutex mutex;
    std::set<std::pair<int64_t, int64_t>> chunks;
    parallel_for(0, 1000, 64, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[i]++;
      std::lock_guard<std::mutex> lock(mutex);
      chunks.insert({b, e});
    });
    for (const auto& h : hits) ASSERT_EQ(h.load(), 1);
    EXPECT_EQ(chunks.size(), 16u);  // ceil(1000 / 64), whatever the thread count
    EXPECT_TRUE(chunks.count({960, 1000}));
  }
}

TEST(ThreadPoolTest, EmptyRangesAndTinyGrainsAreFine) {
  int calls = 0;
  parallel_for(5, 5, 10, [&](int64_t, int64_t) { ++calls; });
  EXPECT_EQ(calls, 0);
  std::atomic<int64_t> total{0};
  parallel_for(0, 100, 0, [&](int64_t b, int64_t e) { total += e - b; });  // grain 0 acts as 1
  EXPECT_EQ(total.load(), 100);
}

TEST(ThreadPoolTest, AnExceptionInAChunkIsRethrownToTheCaller) {
  ThreadCountRestorer restore;
  set_num_threads(2);
  EXPECT_THROW(parallel_for(0, 100, 1, [](int64_t b, int64_t) {
                 if (b == 57) throw std::runtime_error("chunk 57");
               }),
               std::runtime_error);
  // The pool still works afterwards.
  std::atomic<int> n{0};
  parallel_for(0, 10, 1, [&](int64_t, int64_t) { ++n; });
  EXPECT_EQ(n.load(), 10);
}

TEST(ThreadPoolTest, NestedParallelForRunsInlineOnTheCallingThread) {
  ThreadCountRestorer restore;
  set_num_threads(2);
  std::atomic<int> inner_chunks{0}, inner_on_other_thread{0};
  parallel_for(0, 4, 1, [&](int64_t, int64_t) {
    EXPECT_TRUE(in_parallel_region());
    const auto outer = std::this_thread::get_id();
    parallel_for(0, 8, 1, [&](int64_t, int64_t) {
      ++inner_chunks;
      if (std::this_thread::get_id() != outer) ++inner_on_other_thread;
    });
  });
  EXPECT_EQ(inner_chunks.load(), 32);
  EXPECT_EQ(inner_on_other_thread.load(), 0);
  EXPECT_FALSE(in_parallel_region());
}

TEST(ThreadPoolTest, ManyShortJobsFromTwoCallerThreadsAllComplete) {
  // Back-to-back jobs stress the hand-over between one job and the next: a worker that wakes
  // late must never run a chunk of the wrong job or count it twice.
  ThreadCountRestorer restore;
  set_num_threads(3);
  std::atomic<int64_t> total{0};
  auto hammer = [&] {
    for (int job = 0; job < 2000; ++job)
      parallel_for(0, 4, 1, [&](int64_t b, int64_t e) { total += e - b; });
  };
  std::thread other(hammer);
  hammer();
  other.join();
  EXPECT_EQ(total.load(), 2 * 2000 * 4);
}

TEST(ThreadPoolTest, WorkersJoinJobsWhetherSpinningOrAsleep) {
  // Between jobs a worker spins for a short while, then sleeps. Each job here has two chunks
  // that wait for each other, so it completes only if a worker really runs the second chunk
  // at the same time as the caller runs the first: right after the previous job (the worker
  // is still spinning) and after a pause long enough for it to have gone to sleep. A worker
  // that missed its wake-up makes the chunk give up after a second and the test fail.
  ThreadCountRestorer restore;
  set_num_threads(2);
  for (int round = 0; round < 8; ++round) {
    if (round % 2 == 1) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::atomic<int> arrived{0};
    std::atomic<int> met{0};
    parallel_for(0, 2, 1, [&](int64_t, int64_t) {
      ++arrived;
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      while (arrived.load() < 2 && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
      if (arrived.load() == 2) ++met;
    });
    EXPECT_EQ(met.load(), 2) << "round " << round << (round % 2 ? " (after a pause)" : " (back to back)");
  }
}

TEST(ThreadPoolTest, EachThreadRunsItsOwnRunOfChunksFirst) {
  // With n threads, thread t owns chunks [t C / n, (t + 1) C / n) and starts there, so a row
  // stays on one core from one op to the next. Here C = n and every chunk waits until all n
  // have started: each thread holds exactly one chunk, and it must be its own. The caller is
  // thread 0, so chunk 0 runs on the calling thread and the others on distinct workers.
  ThreadCountRestorer restore;
  for (int threads : {2, 3}) {
    set_num_threads(threads);
    for (int round = 0; round < 20; ++round) {
      std::atomic<int> arrived{0};
      std::vector<std::thread::id> ran_on(static_cast<size_t>(threads));
      parallel_for(0, threads, 1, [&](int64_t b, int64_t) {
        ran_on[static_cast<size_t>(b)] = std::this_thread::get_id();
        ++arrived;
        const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(1);
        while (arrived.load() < threads && std::chrono::steady_clock::now() < give_up)
          std::this_thread::yield();
      });
      ASSERT_EQ(arrived.load(), threads);
      EXPECT_EQ(ran_on[0], std::this_thread::get_id()) << threads << " threads, round " << round;
      const std::set<std::thread::id> distinct(ran_on.begin(), ran_on.end());
      EXPECT_EQ(distinct.size(), static_cast<size_t>(threads));
    }
  }
}

TEST(ThreadPoolTest, ElementwiseIsBitwiseIdenticalForAnyThreadCount) {
  manual_seed(0);
  const Tensor a = randn({5, 70001}), b = randn({70001});
  expect_same_bits_for_any_thread_count([&] { return (a * b + a.exp()).tanh(); }, "elementwise");
  expect_same_bits_for_any_thread_count([&] { return gelu(a.t(), "tanh"); }, "strided gelu");
  // The contiguous fast paths (flat loops, fused GELU backward) chunk exactly as the strided one.
  expect_same_bits_for_any_thread_count([&] { return gelu(a); }, "contiguous exact gelu");
  expect_same_bits_for_any_thread_count([&] { return a + a.exp(); }, "same-shape add");
  expect_same_bits_for_any_thread_count(
      [&] { return kernels::gelu_backward(a.exp(), a, false); }, "fused gelu backward");
}

TEST(ThreadPoolTest, ReductionsAreBitwiseIdenticalForAnyThreadCount) {
  manual_seed(1);
  const Tensor x = randn({300, 1001});
  expect_same_bits_for_any_thread_count([&] { return x.sum({1}); }, "row sums");
  expect_same_bits_for_any_thread_count([&] { return x.sum({0}); }, "column sums");
  const Tensor tall = randn({3000, 70});  // summed in runs of rows (a bias gradient's shape)
  expect_same_bits_for_any_thread_count([&] { return tall.sum({0}); }, "tall column sums");
  expect_same_bits_for_any_thread_count([&] { return x.sum(); }, "total");
  expect_same_bits_for_any_thread_count([&] { return x.t().mean({0}); }, "strided mean");
  expect_same_bits_for_any_thread_count([&] { return amax(x, {1}); }, "max");
  expect_same_bits_for_any_thread_count([&] { return x.var({1}); }, "var");
}

TEST(ThreadPoolTest, SoftmaxIsBitwiseIdenticalForAnyThreadCount) {
  manual_seed(2);
  const Tensor x = randn({500, 257});
  expect_same_bits_for_any_thread_count([&] { return x.softmax(-1); }, "softmax");
  expect_same_bits_for_any_thread_count([&] { return x.log_softmax(0); }, "log_softmax dim 0");
  expect_same_bits_for_any_thread_count([&] { return x.logsumexp(1); }, "logsumexp");
}

TEST(ThreadPoolTest, MatmulIsBitwiseIdenticalForAnyThreadCount) {
  manual_seed(3);
  const Tensor a = randn({12, 65, 47}), b = randn({12, 47, 33}), w = randn({47, 129});
  expect_same_bits_for_any_thread_count([&] { return matmul(a, b); }, "batched matmul");
  expect_same_bits_for_any_thread_count([&] { return matmul(a, w); }, "folded matmul");
  expect_same_bits_for_any_thread_count([&] { return matmul(a.transpose(-1, -2), a); }, "transposed");
}

TEST(ThreadPoolTest, RandomDrawsAreBitwiseIdenticalForAnyThreadCount) {
  expect_same_bits_for_any_thread_count([] { manual_seed(4); return randn({100003}); }, "randn");
  expect_same_bits_for_any_thread_count([] { manual_seed(4); return rand({100003}, kFloat64); }, "rand");
}

}  // namespace

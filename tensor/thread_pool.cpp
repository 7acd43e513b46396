// thread_pool.cpp: a fixed set of workers that share out the chunks of one job at a time.
// The caller works too, so with N threads there are N-1 workers. A job is (fn, chunk count),
// and chunk i covers a range fixed by i alone.
//
// Who runs which chunk: thread t owns the t-th of N contiguous runs of chunks and works through
// its own run first; a thread that finishes early then takes what is left of the others' runs.
// Owning a fixed run keeps data on one core from one op to the next: the rows a thread writes
// in a layer norm are the rows it reads in the GEMM after it, still in its own L2. With one
// shared counter (first come, first served) a row went to either core, and half of every
// op's input came from the other core's cache: measured on GPT tiny at 2 threads, the work
// inside parallel regions ran only 1.35x faster than on one thread, and owning the runs cut
// the step by 8% (median of 12 alternating runs; small 4%). Taking over the others' chunks
// keeps the balance when one core runs slow. Either way chunk boundaries, and so the bits,
// depend only on the job.
//
// Waiting: between jobs a worker first spins for a short while (kSpinTime) watching for the
// next job, and only then sleeps on a condition variable; the caller likewise spins before it
// sleeps waiting for the workers to finish. A training step runs a few hundred small parallel
// regions back to back, and waking a sleeping thread costs a system call on each side plus the
// scheduler's latency (tens of microseconds on a virtual machine): measured on the GPT `tiny`
// step at 2 threads, sleeping every time cost about a third of the step. A spinning thread
// sees the new job within a fraction of a microsecond.
#include "tensor/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "tensor/error.h"

namespace ag {
namespace {

thread_local bool t_in_parallel = false;

// How long a waiting thread spins before it sleeps: longer than the gap between two parallel
// regions of a training step, short enough that an idle pool (or an oversubscribed machine,
// such as tests running side by side) wastes little.
constexpr std::chrono::microseconds kSpinTime{100};

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

// Spins until done() is true or kSpinTime passes; returns done(). The clock is read only every
// 64 tries: a read costs about as much as the check itself.
template <typename Done>
bool spin_until(Done done) {
  const auto deadline = std::chrono::steady_clock::now() + kSpinTime;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (done()) return true;
      cpu_relax();
    }
    if (std::chrono::steady_clock::now() > deadline) return done();
  }
}

int default_num_threads() {
  if (const char* env = std::getenv("AG_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n >= 1) return n;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

class ThreadPool {
 public:
  explicit ThreadPool(int num_threads) { resize(num_threads); }
  ~ThreadPool() { stop_workers(); }

  // Read by every parallel_for, on any thread, while set_num_threads may be resizing: atomic.
  int num_threads() const { return num_threads_.load(std::memory_order_relaxed); }

  void resize(int num_threads) {
    std::lock_guard<std::mutex> run_lock(run_mutex_);
    stop_workers();
    num_threads_.store(num_threads, std::memory_order_relaxed);
    stopping_.store(false);
    runs_ = std::make_unique<ChunkRun[]>(static_cast<size_t>(num_threads));
    for (int i = 1; i < num_threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
  }

  void run(int64_t begin, int64_t end, int64_t grain,
           const std::function<void(int64_t, int64_t)>& fn) {
    // One job at a time: a second caller (another std::thread) waits for the pool.
    std::lock_guard<std::mutex> run_lock(run_mutex_);
    const int64_t num_chunks = (end - begin + grain - 1) / grain;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_ = &fn;
      job_begin_ = begin;
      job_end_ = end;
      job_grain_ = grain;
      job_chunks_ = num_chunks;
      const int64_t n = num_threads();
      for (int64_t t = 0; t < n; ++t) {  // thread t's own run: chunks [t C / n, (t + 1) C / n)
        runs_[t].next.store(num_chunks * t / n);
        runs_[t].end = num_chunks * (t + 1) / n;
      }
      done_chunks_.store(0);
      error_ = nullptr;
      generation_.fetch_add(1);
    }
    wake_.notify_all();  // no system call when every worker is spinning rather than asleep
    work_on_chunks(/*self=*/0);
    // Wait for the chunks and also for every worker that joined this job to leave it: a worker
    // still inside work_on_chunks() would otherwise read the next job's fields while the next
    // run() writes them, and could take a chunk of that job twice. Both counters only change
    // under mutex_, so the sleeping wait below cannot miss the last update.
    auto finished = [&] { return done_chunks_.load() == job_chunks_ && active_workers_.load() == 0; };
    spin_until(finished);
    std::unique_lock<std::mutex> lock(mutex_);
    finished_.wait(lock, finished);
    job_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void stop_workers() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_.store(true);
      generation_.fetch_add(1);
    }
    wake_.notify_all();
    for (auto& worker : workers_) worker.join();
    workers_.clear();
  }

  void worker_loop(int self) {
    uint64_t seen = 0;
    for (;;) {
      auto woken = [&] { return stopping_.load() || generation_.load() != seen; };
      spin_until(woken);
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, woken);
        if (stopping_.load()) return;
        seen = generation_.load();
        if (job_ == nullptr) continue;
        ++active_workers_;  // joined under the lock, so run() cannot return past us
      }
      work_on_chunks(self);
      std::lock_guard<std::mutex> lock(mutex_);
      if (active_workers_.fetch_sub(1) == 1) finished_.notify_all();
    }
  }

  // Takes chunks until none are left: first from thread `self`'s own run, then from the other
  // runs in turn. Used by the caller (self 0) and the workers alike.
  void work_on_chunks(int self) {
    int64_t done = 0;
    std::exception_ptr error;
    const int n = num_threads();
    for (int r = 0; r < n; ++r) {
      ChunkRun& run = runs_[(self + r) % n];
      for (;;) {
        // A taker may push next past end; it then takes nothing, and the run stays empty.
        const int64_t chunk = run.next.fetch_add(1);
        if (chunk >= run.end) break;
        const int64_t chunk_begin = job_begin_ + chunk * job_grain_;
        const int64_t chunk_end = std::min(job_end_, chunk_begin + job_grain_);
        t_in_parallel = true;
        try {
          (*job_)(chunk_begin, chunk_end);
        } catch (...) {
          if (!error) error = std::current_exception();
        }
        t_in_parallel = false;
        ++done;
      }
    }
    if (done == 0) return;
    std::lock_guard<std::mutex> lock(mutex_);
    if (error && !error_) error_ = error;
    if (done_chunks_.fetch_add(done) + done == job_chunks_) finished_.notify_all();
  }

  std::atomic<int> num_threads_{1};
  std::vector<std::thread> workers_;
  std::mutex run_mutex_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable finished_;
  // Written under mutex_; atomic so that spinning threads may read them without it.
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> generation_{0};
  std::atomic<int64_t> done_chunks_{0};
  std::atomic<int> active_workers_{0};  // workers inside work_on_chunks() for the current job
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t job_begin_ = 0, job_end_ = 0, job_grain_ = 1, job_chunks_ = 0;
  // One per thread: the next chunk to take from its run, and the run's end. A cache line each,
  // so one thread taking from its run does not stall the others taking from theirs.
  struct alignas(64) ChunkRun {
    std::atomic<int64_t> next{0};
    int64_t end = 0;
  };
  std::unique_ptr<ChunkRun[]> runs_;
  std::exception_ptr error_;
};

ThreadPool& pool() {
  // Never deleted: code in other static destructors may still call parallel_for after a
  // destructor of ours would have run. The workers are stopped and joined at exit instead
  // (the handler below), after which the pool has one thread and runs every job inline, so the
  // process ends with no thread of ours alive (valgrind and LeakSanitizer find nothing).
  static ThreadPool* instance = [] {
    auto* p = new ThreadPool(default_num_threads());
    std::atexit([] {
      // exit() called from inside a chunk cannot join the worker it runs on: leave them then.
      if (!t_in_parallel) pool().resize(1);
    });
    return p;
  }();
  return *instance;
}

}  // namespace

void set_num_threads(int num_threads) {
  if (num_threads < 1)
    throw Error("set_num_threads", "the number of threads must be at least 1, got ", num_threads);
  // Resizing waits for the job in flight, which would be the one calling us: a deadlock.
  if (in_parallel_region())
    throw Error("set_num_threads", "called from inside a parallel_for chunk; set the number of "
                "threads before starting parallel work");
  if (num_threads != pool().num_threads()) pool().resize(num_threads);
}

int get_num_threads() { return pool().num_threads(); }

bool in_parallel_region() { return t_in_parallel; }

void parallel_for(int64_t begin, int64_t end, int64_t grain,
                  const std::function<void(int64_t, int64_t)>& fn) {
  if (end <= begin) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t num_chunks = (end - begin + grain - 1) / grain;
  if (num_chunks == 1 || t_in_parallel || pool().num_threads() == 1) {
    // Same chunk boundaries as the threaded path, so the same bits.
    const bool was_parallel = t_in_parallel;
    t_in_parallel = true;
    try {
      for (int64_t b = begin; b < end; b += grain) fn(b, std::min(end, b + grain));
    } catch (...) {
      t_in_parallel = was_parallel;
      throw;
    }
    t_in_parallel = was_parallel;
    return;
  }
  pool().run(begin, end, grain, fn);
}

}  // namespace ag

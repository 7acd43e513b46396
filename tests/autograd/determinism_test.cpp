// determinism_test.cpp: a whole forward and backward gives the same bits with 1, 2 or 3
// threads. Kernels cut their work into chunks whose boundaries ignore the thread count, and
// the engine's order is fixed by the graph, so nothing should depend on scheduling.
#include <gtest/gtest.h>

#include <cstring>

#include "autograd/autograd.h"

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

// A two-layer network with a softmax cross-entropy-like loss, big enough that elementwise
// kernels (32768-element chunks), row reductions and batched matmuls all split into chunks.
TensorList forward_backward() {
  manual_seed(7);
  const int64_t B = 16, T = 32, C = 96, V = 80;
  Tensor w1 = (randn({C, 4 * C}) * 0.1f).requires_grad_();
  Tensor w2 = (randn({4 * C, V}) * 0.1f).requires_grad_();
  Tensor x = randn({B, T, C}).requires_grad_();
  const Tensor targets = randint(0, V, {B, T, 1});
  const Tensor h = gelu(x.matmul(w1), "tanh");                  // (B, T, 4C)
  const Tensor logits = h.matmul(w2);                          // (B, T, V)
  const Tensor logp = logits.log_softmax(-1);                  // (B, T, V)
  const Tensor loss = -gather(logp, -1, targets).mean() + logits.var({-1}).mean() * 0.01f;
  loss.backward();
  return {loss, w1.grad(), w2.grad(), x.grad()};
}

TEST(DeterminismTest, ForwardAndBackwardAreBitwiseIdenticalFor1And2And3Threads) {
  ThreadCountRestorer restore;
  set_num_threads(1);
  const TensorList reference = forward_backward();
  for (int threads : {2, 3}) {
    set_num_threads(threads);
    const TensorList got = forward_backward();
    for (size_t i = 0; i < got.size(); ++i)
      EXPECT_TRUE(same_bits(reference[i], got[i])) << "tensor " << i << " with " << threads
                                                   << " threads";
  }
}

}  // namespace

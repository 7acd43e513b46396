// grad_mode.cpp: the thread-local grad-mode flag, the anomaly flag, and the rule for in-place
// writes (tensor/ asks through check_inplace_allowed, declared in tensor.cpp).
#include "autograd/grad_mode.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "autograd/node.h"

namespace ag {

namespace {
thread_local bool t_grad_enabled = true;

bool anomaly_from_env() {
  const char* env = std::getenv("AG_DETECT_ANOMALY");
  return env != nullptr && std::strcmp(env, "0") != 0 && env[0] != '\0';
}
std::atomic<bool> g_anomaly{anomaly_from_env()};
}  // namespace

bool GradMode::is_enabled() { return t_grad_enabled; }
void GradMode::set_enabled(bool enabled) { t_grad_enabled = enabled; }

namespace autograd {
bool anomaly_enabled() { return g_anomaly.load(std::memory_order_relaxed); }
void set_anomaly_enabled(bool enabled) { g_anomaly.store(enabled, std::memory_order_relaxed); }
}  // namespace autograd

// An in-place write to a tensor that is part of a recorded graph would silently change what
// backward computes; attograd does not record in-place ops, so it refuses them there.
void check_inplace_allowed(const Tensor& t, std::string_view op) {
  if (!t.defined()) throw Error(op, "the tensor is undefined");
  if (GradMode::is_enabled() && t.requires_grad())
    throw Error(op, "in-place operation on a tensor of shape ", t.shape(),
                " that requires grad; do it inside ag::NoGradGuard (as optimizers do) or use "
                "the out-of-place op");
}

}  // namespace ag

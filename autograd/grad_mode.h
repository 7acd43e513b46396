// grad_mode.h: whether ops record the graph (grad mode), and anomaly detection.
// Grad mode is thread-local, as in PyTorch: a NoGradGuard in one thread (an optimizer step,
// say) does not stop another thread from recording. Anomaly mode is process-wide: while on,
// every op checks what it produced, and the first NaN in a forward, or NaN or Inf in a
// gradient, raises an Error naming the op and its input shapes (for a gradient: the forward op
// whose backward made it). An Inf in a forward passes, because -inf masks and log(0) are
// legitimate; where it turns into a NaN, the message says which input carried it in (see
// autograd/node.cpp). Off by default; the check when off is one relaxed atomic load per op.
#pragma once

namespace ag {

class GradMode {
 public:
  static bool is_enabled();
  static void set_enabled(bool enabled);
};

// While alive, ops record nothing (inference, optimizer updates, weight init).
class NoGradGuard {
 public:
  NoGradGuard() : previous_(GradMode::is_enabled()) { GradMode::set_enabled(false); }
  ~NoGradGuard() { GradMode::set_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// While alive, ops record (used by the engine for create_graph inside a NoGradGuard).
class AutoGradMode {
 public:
  explicit AutoGradMode(bool enabled) : previous_(GradMode::is_enabled()) {
    GradMode::set_enabled(enabled);
  }
  ~AutoGradMode() { GradMode::set_enabled(previous_); }
  AutoGradMode(const AutoGradMode&) = delete;
  AutoGradMode& operator=(const AutoGradMode&) = delete;

 private:
  bool previous_;
};

namespace autograd {

// Anomaly detection: also switched on by the environment variable AG_DETECT_ANOMALY=1 (read
// once, when the program starts; any value but "" and "0" turns it on).
bool anomaly_enabled();
void set_anomaly_enabled(bool enabled);

class DetectAnomalyGuard {
 public:
  DetectAnomalyGuard() : previous_(anomaly_enabled()) { set_anomaly_enabled(true); }
  ~DetectAnomalyGuard() { set_anomaly_enabled(previous_); }
  DetectAnomalyGuard(const DetectAnomalyGuard&) = delete;
  DetectAnomalyGuard& operator=(const DetectAnomalyGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace autograd
}  // namespace ag

// property_test.cpp: random graphs against finite differences. Each case builds a small
// program of 3 to 8 random ops (add/sub/mul/div with broadcasting, exp, tanh, sigmoid, sum and
// mean over random dims, transpose, reshape, matmul, softmax, log_softmax, slice, pow) over
// random float64 inputs of rank 0 to 3 and sizes 1 to 5, then asks gradcheck whether the
// gradients autograd computes for every input match central differences. Hand-written
// gradcheck cases (autograd/gradcheck_cases.cpp) prove each op alone; these prove that they
// compose: that broadcasting, views and reductions hand each other the right shapes and that
// gradients meeting at a shared input are added up.
//
// Inputs are kept where every op is smooth and finite: a divisor is 1.5 + sigmoid(b), exp sees
// tanh(a), a fractional power sees 1.5 + sigmoid(a). No op here has a kink (no relu, abs, max),
// so finite differences are exact up to O(eps^2).
//
// Every case is a pure function of its seed; a failure prints the seed and the program, and
// AG_PROPERTY_SEED=<seed> replays it alone (see tests/property_cases.h).
#include <gtest/gtest.h>

#include <cctype>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "autograd/autograd.h"
#include "property_cases.h"

namespace {

using namespace ag;
using ag::testing::Rng;

// A straight-line program: value i is input k (an instruction that just returns it) or an op
// on earlier values. Running it on the (perturbed) inputs that gradcheck passes is the forward.
struct Program {
  TensorList inputs;  // float64 leaves that require grad
  std::vector<std::function<Tensor(const TensorList& inputs, const TensorList& values)>> code;
  std::vector<std::string> listing;  // one line per value, printed when the case fails
  TensorList values;                 // the values while building (shapes for the next op)

  Tensor run(const TensorList& xs) const {
    TensorList vs;
    for (const auto& instruction : code) vs.push_back(instruction(xs, vs));
    return vs.back();
  }
  std::string str() const {
    std::ostringstream os;
    for (size_t i = 0; i < listing.size(); ++i) os << "  v" << i << " = " << listing[i] << "\n";
    return os.str();
  }
  int64_t last() const { return static_cast<int64_t>(values.size()) - 1; }
  const Shape& shape(int64_t v) const { return values[static_cast<size_t>(v)].shape(); }

  // Appends an instruction, running it once right away (without a graph) for its shape.
  // The operands are the "v<i>" its text names; they are marked used.
  int64_t emit(std::string text, std::function<Tensor(const TensorList&, const TensorList&)> f) {
    NoGradGuard no_grad;
    values.push_back(f(inputs, values));
    code.push_back(std::move(f));
    for (size_t i = 0; i + 1 < text.size(); ++i)
      if (text[i] == 'v' && std::isdigit(static_cast<unsigned char>(text[i + 1])))
        used[static_cast<size_t>(std::stoll(text.substr(i + 1)))] = true;
    listing.push_back(std::move(text));
    used.push_back(false);
    return last();
  }
  std::vector<bool> used;  // used[i]: some later instruction reads value i
};

std::string v(int64_t i) { return "v" + std::to_string(i); }

std::string num(double x) {  // 0.5, not std::to_string's 0.500000
  std::ostringstream os;
  os << x;
  return os.str();
}

std::string dims_str(const std::vector<int64_t>& dims) {
  std::ostringstream os;
  os << "{";
  for (size_t i = 0; i < dims.size(); ++i) os << (i ? ", " : "") << dims[i];
  return os.str() + "}";
}

// A fresh input of the given shape. About one in five of rank >= 2 is a transposed view, so
// gradients reach non-contiguous leaves too.
int64_t add_input(Program& p, Rng& rng, const Shape& shape) {
  const bool transposed = shape.size() >= 2 && rng.coin(0.2);
  Shape stored = shape;
  if (transposed) std::swap(stored[0], stored[1]);
  std::vector<double> data(static_cast<size_t>(stored.numel()));
  for (double& x : data) x = rng.normal();
  Tensor x = from_vector<double>(data, stored);
  if (transposed) x = x.transpose(0, 1);
  x.requires_grad_();
  const size_t k = p.inputs.size();
  p.inputs.push_back(x);
  std::ostringstream text;
  text << "input " << k << " " << shape << (transposed ? " (a transposed view)" : "");
  return p.emit(text.str(), [k](const TensorList& xs, const TensorList&) { return xs[k]; });
}

Shape random_shape(Rng& rng, int64_t min_rank = 0, int64_t max_rank = 3) {
  Shape s;
  const int64_t rank = rng.uniform_int(min_rank, max_rank);
  for (int64_t d = 0; d < rank; ++d) s.push_back(rng.uniform_int(1, 5));
  return s;
}

// A shape that broadcasts with `shape` without the result passing rank 3: some trailing dims
// of `shape`, each kept, set to 1, or (where shape has a 1) grown; maybe one new leading dim.
Shape broadcast_partner(Rng& rng, const Shape& shape) {
  const int64_t rank = static_cast<int64_t>(shape.size());
  const int64_t keep = rng.uniform_int(0, rank);
  Shape out(shape.end() - keep, shape.end());
  for (int64_t& size : out) {
    const int64_t roll = rng.uniform_int(0, 3);
    if (roll == 0) size = 1;
    else if (roll == 1 && size == 1) size = rng.uniform_int(2, 4);
  }
  if (keep == rank && rank < 3 && rng.coin(0.3)) out.insert(out.begin(), rng.uniform_int(1, 4));
  return out;
}

bool broadcastable(const Shape& a, const Shape& b) {
  if (std::max(a.size(), b.size()) > 3) return false;
  for (size_t i = 1; i <= std::min(a.size(), b.size()); ++i) {
    const int64_t x = a[a.size() - i], y = b[b.size() - i];
    if (x != y && x != 1 && y != 1) return false;
  }
  return true;
}

// The operand for the next op: usually the newest value (so programs are chains that reach
// deep), sometimes an older one (so values fan out and their gradients add up).
int64_t pick_operand(Program& p, Rng& rng) {
  return rng.coin(0.7) ? p.last() : rng.uniform_int(0, p.last());
}

// ---- the ops a program is made of; each appends one value (and maybe fresh inputs) ---------

void emit_binary(Program& p, Rng& rng) {
  const int64_t a = pick_operand(p, rng);
  if (rng.coin(0.15)) {  // the scalar forms: a * s, s - a, ...
    const double s = rng.pick(std::vector<double>{-1.5, 0.5, 2.0});
    switch (rng.uniform_int(0, 3)) {
      case 0: p.emit(v(a) + " + " + num(s), [a, s](auto&, auto& vs) { return vs[a] + s; }); return;
      case 1: p.emit(num(s) + " - " + v(a), [a, s](auto&, auto& vs) { return s - vs[a]; }); return;
      case 2: p.emit(v(a) + " * " + num(s), [a, s](auto&, auto& vs) { return vs[a] * s; }); return;
      default: p.emit(v(a) + " / " + num(s), [a, s](auto&, auto& vs) { return vs[a] / s; }); return;
    }
  }
  // The other operand: an existing value when one broadcasts with a, else a fresh input.
  int64_t b = rng.uniform_int(0, p.last());
  if (!broadcastable(p.shape(a), p.shape(b)) || rng.coin(0.4))
    b = add_input(p, rng, broadcast_partner(rng, p.shape(a)));
  const bool swap = rng.coin(0.3);  // the broadcast input on the left, sometimes
  const int64_t l = swap ? b : a, r = swap ? a : b;
  switch (rng.uniform_int(0, 3)) {
    case 0: p.emit(v(l) + " + " + v(r), [l, r](auto&, auto& vs) { return vs[l] + vs[r]; }); return;
    case 1: p.emit(v(l) + " - " + v(r), [l, r](auto&, auto& vs) { return vs[l] - vs[r]; }); return;
    case 2: p.emit(v(l) + " * " + v(r), [l, r](auto&, auto& vs) { return vs[l] * vs[r]; }); return;
    default:
      // 1.5 + sigmoid(.) lies in (1.5, 2.5): never near zero.
      p.emit(v(l) + " / (1.5 + sigmoid(" + v(r) + "))",
             [l, r](auto&, auto& vs) { return vs[l] / (vs[r].sigmoid() + 1.5); });
      return;
  }
}

void emit_unary(Program& p, Rng& rng) {
  const int64_t a = pick_operand(p, rng);
  switch (rng.uniform_int(0, 2)) {
    case 0: p.emit("exp(tanh(" + v(a) + "))", [a](auto&, auto& vs) { return vs[a].tanh().exp(); }); return;
    case 1: p.emit("tanh(" + v(a) + ")", [a](auto&, auto& vs) { return vs[a].tanh(); }); return;
    default: p.emit("sigmoid(" + v(a) + ")", [a](auto&, auto& vs) { return vs[a].sigmoid(); }); return;
  }
}

void emit_pow(Program& p, Rng& rng) {
  const int64_t a = pick_operand(p, rng);
  if (rng.coin(0.5)) {  // integer powers are smooth everywhere
    const double e = rng.pick(std::vector<double>{2.0, 3.0});
    p.emit("pow(" + v(a) + ", " + num(e) + ")",
           [a, e](auto&, auto& vs) { return vs[a].pow(e); });
    return;
  }
  const double e = rng.pick(std::vector<double>{0.5, -1.5, 2.5});
  p.emit("pow(1.5 + sigmoid(" + v(a) + "), " + num(e) + ")",
         [a, e](auto&, auto& vs) { return (vs[a].sigmoid() + 1.5).pow(e); });
}

void emit_reduce(Program& p, Rng& rng) {
  const int64_t a = pick_operand(p, rng);
  const int64_t rank = static_cast<int64_t>(p.shape(a).size());
  const bool is_mean = rng.coin(0.5);
  const bool keepdim = rng.coin(0.5);
  std::vector<int64_t> dims;  // a random subset, some written as negative dims; empty = all
  for (int64_t d = 0; d < rank; ++d)
    if (rng.coin(0.5)) dims.push_back(rng.coin(0.3) ? d - rank : d);
  const std::string text = std::string(is_mean ? "mean(" : "sum(") + v(a) + ", " +
                           dims_str(dims) + ", keepdim=" + (keepdim ? "true" : "false") + ")";
  p.emit(text, [a, dims, keepdim, is_mean](auto&, auto& vs) {
    return is_mean ? vs[a].mean(dims, keepdim) : vs[a].sum(dims, keepdim);
  });
}

void emit_transpose(Program& p, Rng& rng) {
  const int64_t a = pick_operand(p, rng);
  const int64_t rank = static_cast<int64_t>(p.shape(a).size());
  if (rank < 2) return emit_unary(p, rng);
  int64_t d0 = rng.uniform_int(0, rank - 1), d1 = rng.uniform_int(0, rank - 2);
  if (d1 >= d0) ++d1;
  if (rng.coin(0.3)) d0 -= rank;
  p.emit("transpose(" + v(a) + ", " + std::to_string(d0) + ", " + std::to_string(d1) + ")",
         [a, d0, d1](auto&, auto& vs) { return vs[a].transpose(d0, d1); });
}

void emit_reshape(Program& p, Rng& rng) {
  const int64_t a = pick_operand(p, rng);
  // Deal the prime factors of numel out to 1..3 dims; sometimes write one size as -1.
  int64_t n = p.shape(a).numel();
  std::vector<int64_t> factors;
  for (int64_t f = 2; n > 1; ++f)
    while (n % f == 0) { factors.push_back(f); n /= f; }
  Shape shape(static_cast<size_t>(rng.uniform_int(factors.empty() ? 0 : 1, 3)), 1);
  for (int64_t f : factors) shape[static_cast<size_t>(rng.uniform_int(0, static_cast<int64_t>(shape.size()) - 1))] *= f;
  if (!shape.empty() && rng.coin(0.3)) shape[static_cast<size_t>(rng.uniform_int(0, static_cast<int64_t>(shape.size()) - 1))] = -1;
  std::ostringstream text;
  text << "reshape(" << v(a) << ", " << shape << ")";
  p.emit(text.str(), [a, shape](auto&, auto& vs) { return vs[a].reshape(shape); });
}

void emit_matmul(Program& p, Rng& rng) {
  const int64_t a = pick_operand(p, rng);
  const Shape sa = p.shape(a);
  const int64_t rank = static_cast<int64_t>(sa.size());
  if (rank == 0) return emit_binary(p, rng);
  const int64_t n = rng.uniform_int(1, 5);
  if (rank >= 2 && rng.coin(0.3)) {
    // a on the right: (M, K') @ a, K' = a's rows.
    const int64_t b = add_input(p, rng, Shape{rng.uniform_int(1, 5), sa[rank - 2]});
    p.emit("matmul(" + v(b) + ", " + v(a) + ")", [a, b](auto&, auto& vs) { return vs[b].matmul(vs[a]); });
    return;
  }
  const int64_t k = sa[rank - 1];
  Shape sb;
  switch (rng.uniform_int(0, 2)) {
    case 0: sb = {k}; break;                                          // matrix-vector (or dot)
    case 1: sb = {k, n}; break;                                       // plain
    default:                                                          // batched, broadcast
      if (rank == 3) sb = {rng.coin(0.5) ? sa[0] : 1, k, n};
      else sb = {rng.uniform_int(1, 3), k, n};
  }
  const int64_t b = add_input(p, rng, sb);
  p.emit("matmul(" + v(a) + ", " + v(b) + ")", [a, b](auto&, auto& vs) { return vs[a].matmul(vs[b]); });
}

void emit_softmax(Program& p, Rng& rng) {
  const int64_t a = pick_operand(p, rng);
  const int64_t rank = static_cast<int64_t>(p.shape(a).size());
  const int64_t dim = rank == 0 ? 0 : rng.uniform_int(-rank, rank - 1);
  if (rng.coin(0.7))
    p.emit("softmax(" + v(a) + ", " + std::to_string(dim) + ")",
           [a, dim](auto&, auto& vs) { return vs[a].softmax(dim); });
  else
    p.emit("log_softmax(" + v(a) + ", " + std::to_string(dim) + ")",
           [a, dim](auto&, auto& vs) { return vs[a].log_softmax(dim); });
}

void emit_slice(Program& p, Rng& rng) {
  const int64_t a = pick_operand(p, rng);
  const Shape sa = p.shape(a);
  const int64_t rank = static_cast<int64_t>(sa.size());
  if (rank == 0) return emit_unary(p, rng);
  const int64_t dim = rng.uniform_int(0, rank - 1);
  const int64_t start = rng.uniform_int(0, sa[dim] - 1);
  const int64_t end = rng.uniform_int(start + 1, sa[dim]);
  const int64_t step = rng.uniform_int(1, 2);
  p.emit("slice(" + v(a) + ", dim " + std::to_string(dim) + ", " + std::to_string(start) + ":" +
             std::to_string(end) + ":" + std::to_string(step) + ")",
         [a, dim, start, end, step](auto&, auto& vs) { return vs[a].slice(dim, start, end, step); });
}

Program random_program(uint64_t seed) {
  Rng rng(seed);
  Program p;
  add_input(p, rng, random_shape(rng));
  const int64_t num_ops = rng.uniform_int(3, 8);
  using Emit = void (*)(Program&, Rng&);
  const std::vector<Emit> ops = {emit_binary, emit_binary, emit_unary, emit_pow,
                                 emit_reduce, emit_transpose, emit_reshape, emit_matmul,
                                 emit_softmax, emit_slice};
  for (int64_t i = 0; i < num_ops; ++i) rng.pick(ops)(p, rng);
  // The output is the newest value plus a weighted sum of every other value nothing read, so
  // no op (and no input) is dead code whose gradient would trivially be zero. The weights are
  // fixed random constants, so each element's gradient differs from its neighbours'.
  const int64_t result = p.last();
  for (int64_t i = 0; i < result; ++i) {
    if (p.used[static_cast<size_t>(i)]) continue;
    std::vector<double> w(static_cast<size_t>(p.shape(i).numel()));
    for (double& x : w) x = rng.normal();
    const Tensor weights = from_vector<double>(w, p.shape(i));
    const int64_t out = p.last();
    p.emit(v(out) + " + sum(" + v(i) + " * weights)",
           [out, i, weights](auto&, auto& vs) { return vs[out] + (vs[i] * weights).sum(); });
  }
  return p;
}

TEST(AutogradPropertyTest, RandomGraphsMatchFiniteDifferences) {
  constexpr int kCases = 240;
  int index = 0;
  int64_t pairs_checked = 0;
  for (uint64_t seed : ag::testing::case_seeds("AutogradPropertyTest.RandomGraphs", kCases)) {
    const std::string hint = ag::testing::replay_hint(index++, seed);
    SCOPED_TRACE(hint);
    Program p;
    try {
      p = random_program(seed);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "building the program threw: " << e.what();
      continue;
    }
    SCOPED_TRACE("program:\n" + p.str());
    autograd::GradcheckResult r;
    try {
      r = autograd::gradcheck([&p](const TensorList& xs) { return p.run(xs); }, p.inputs);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "gradcheck threw: " << e.what();
      continue;
    }
    EXPECT_TRUE(r.ok) << r.message;
    pairs_checked += r.checked;
  }
  RecordProperty("jacobian_pairs_checked", std::to_string(pairs_checked));
}

TEST(AutogradPropertyTest, RandomGraphsHaveRightSecondDerivatives) {
  // gradgradcheck differentiates the backward itself (create_graph): fewer, smaller cases,
  // since each costs a gradcheck of a gradient.
  constexpr int kCases = 30;
  int index = 0;
  for (uint64_t seed : ag::testing::case_seeds("AutogradPropertyTest.SecondDerivatives", kCases)) {
    const std::string hint = ag::testing::replay_hint(index++, seed);
    SCOPED_TRACE(hint);
    const Program p = random_program(seed);
    SCOPED_TRACE("program:\n" + p.str());
    autograd::GradcheckOptions options;
    options.max_full_jacobian_outputs = 16;  // project larger outputs: keeps each case fast
    try {
      const auto r = autograd::gradgradcheck([&p](const TensorList& xs) { return p.run(xs); },
                                             p.inputs, options);
      EXPECT_TRUE(r.ok) << r.message;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "gradgradcheck threw: " << e.what();
    }
  }
}

}  // namespace

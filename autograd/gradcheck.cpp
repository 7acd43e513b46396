// gradcheck.cpp: numerical versus analytic Jacobians (see gradcheck.h for the method).
#include "autograd/gradcheck.h"

#include <cmath>
#include <sstream>

#include "autograd/engine.h"
#include "autograd/ops.h"
#include "tensor/kernels.h"
#include "tensor/random.h"

namespace ag::autograd {

namespace {

// Storage offset of logical element e of x (row-major order over x's shape).
int64_t element_offset(const Tensor& x, int64_t e) {
  int64_t offset = x.storage_offset();
  for (int64_t d = x.dim() - 1; d >= 0; --d) {
    offset += (e % x.size(d)) * x.stride(d);
    e /= x.size(d);
  }
  return offset;
}

std::string index_string(const Shape& shape, int64_t e) {
  std::vector<int64_t> idx(shape.size());
  for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
    idx[d] = e % shape[d];
    e /= shape[d];
  }
  std::ostringstream os;
  os << '(';
  for (size_t i = 0; i < idx.size(); ++i) os << (i ? ", " : "") << idx[i];
  return os.str() + ')';
}

// All output elements as one flat vector of doubles.
std::vector<double> flatten(const TensorList& outputs) {
  std::vector<double> flat;
  for (const Tensor& o : outputs) {
    if (!o.defined() || !o.is_floating_point()) continue;
    const auto v = o.to_vector<double>();
    flat.insert(flat.end(), v.begin(), v.end());
  }
  return flat;
}

}  // namespace

GradcheckResult gradcheck_list(const GradcheckFn& fn, const TensorList& inputs,
                               const GradcheckOptions& options) {
  GradcheckResult result;
  auto fail = [&](const std::string& message) {
    if (result.ok) { result.ok = false; result.message = message; }
  };
  std::vector<size_t> diff;  // indices of the inputs that require grad
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i];
    if (!x.defined() || !x.requires_grad()) continue;
    if (x.dtype() != kFloat64)
      throw Error("gradcheck", "input ", i, " is ", x.dtype(), "; gradcheck needs float64 inputs "
                  "(float32 rounding is larger than the differences it measures)");
    for (int64_t d = 0; d < x.dim(); ++d)
      if (x.stride(d) == 0 && x.size(d) > 1)
        throw Error("gradcheck", "input ", i, " (shape ", x.shape(), ") has overlapping memory (an "
                    "expanded view); pass a contiguous() copy");
    diff.push_back(i);
  }
  if (diff.empty()) throw Error("gradcheck", "no input requires grad: nothing to check");

  Generator& gen = default_generator();
  const uint64_t seed = gen.seed(), offset = gen.offset();
  auto call = [&](bool record) {
    gen.set_state(seed, offset);
    AutoGradMode mode(record);
    return fn(inputs);
  };

  // Grads of inputs before we start, restored at the end. They are copied: the backward check
  // below accumulates into .grad in place, which would change a saved handle's values too.
  TensorList saved_grads;
  for (const Tensor& x : inputs)
    saved_grads.push_back(x.defined() && x.grad().defined() ? kernels::copy(x.grad()) : Tensor());

  const TensorList outputs = call(true);
  std::vector<int64_t> out_sizes;
  int64_t total_out = 0;
  for (const Tensor& o : outputs) {
    const int64_t n = (o.defined() && o.is_floating_point()) ? o.numel() : 0;
    out_sizes.push_back(n);
    total_out += n;
  }
  TensorList diff_inputs;
  for (size_t i : diff) diff_inputs.push_back(inputs[i]);

  // Rows of the check: one-hot vectors over the outputs, or random projections.
  const bool full = total_out <= options.max_full_jacobian_outputs;
  const int64_t num_rows = full ? total_out : options.num_projections;
  std::vector<std::vector<double>> rows(static_cast<size_t>(num_rows),
                                        std::vector<double>(static_cast<size_t>(total_out), 0.0));
  Generator local(0x6a09e667f3bcc908ull);  // projections must not disturb the global stream
  for (int64_t r = 0; r < num_rows; ++r)
    for (int64_t k = 0; k < total_out; ++k)
      rows[r][k] = full ? (k == r ? 1.0 : 0.0) : local.normal();

  auto as_grad_outputs = [&](const std::vector<double>& row) {
    TensorList grads;
    int64_t at = 0;
    for (size_t j = 0; j < outputs.size(); ++j) {
      if (out_sizes[j] == 0) {
        // An empty floating output still needs an (empty) gradient: an undefined one would
        // ask the engine to imply ones, which it does only for one-element outputs.
        const bool floating = outputs[j].defined() && outputs[j].is_floating_point();
        grads.push_back(floating ? zeros(outputs[j].shape(), outputs[j].dtype()) : Tensor());
        continue;
      }
      std::vector<double> part(row.begin() + at, row.begin() + at + out_sizes[j]);
      grads.push_back(from_vector(part, outputs[j].shape(), outputs[j].dtype()));
      at += out_sizes[j];
    }
    return grads;
  };

  // Analytic: one backward per row.
  std::vector<std::vector<std::vector<double>>> analytic(static_cast<size_t>(num_rows));
  for (int64_t r = 0; r < num_rows; ++r) {
    const TensorList g = grad(outputs, diff_inputs, as_grad_outputs(rows[r]), false, true, true);
    for (size_t k = 0; k < diff.size(); ++k) {
      if (g[k].defined() && g[k].shape() != diff_inputs[k].shape())
        fail("gradcheck: the gradient of input " + std::to_string(diff[k]) + " has shape " +
             g[k].shape().str() + " but the input has shape " + diff_inputs[k].shape().str());
      analytic[r].push_back(g[k].defined() ? g[k].to_vector<double>()
                                           : std::vector<double>(diff_inputs[k].numel(), 0.0));
    }
  }

  // Numeric: perturb each element of each differentiable input.
  for (size_t k = 0; k < diff.size() && result.ok; ++k) {
    const Tensor& x = diff_inputs[k];
    double* base = static_cast<double*>(x.storage()->data());
    for (int64_t e = 0; e < x.numel() && result.ok; ++e) {
      double& slot = base[element_offset(x, e)];
      const double original = slot;
      slot = original + options.eps;
      const std::vector<double> plus = flatten(call(false));
      slot = original - options.eps;
      const std::vector<double> minus = flatten(call(false));
      slot = original;
      for (int64_t r = 0; r < num_rows; ++r) {
        double numeric = 0.0;
        for (int64_t j = 0; j < total_out; ++j)
          if (rows[r][j] != 0.0) numeric += rows[r][j] * (plus[j] - minus[j]) / (2 * options.eps);
        const double a = analytic[r][k][e];
        const double abs_err = std::fabs(a - numeric);
        result.max_abs_error = std::max(result.max_abs_error, abs_err);
        result.max_rel_error = std::max(result.max_rel_error, abs_err / std::max(std::fabs(numeric), 1e-12));
        ++result.checked;
        if (!(abs_err <= options.atol + options.rtol * std::fabs(numeric))) {
          std::ostringstream os;
          os << "gradcheck: Jacobian mismatch for input " << diff[k] << " (shape " << x.shape()
             << ") at element " << index_string(x.shape(), e) << ", "
             << (full ? "output element " + std::to_string(r) : "projection " + std::to_string(r))
             << ": analytic " << a << " vs numeric " << numeric << " (difference " << abs_err << ")";
          fail(os.str());
          break;
        }
      }
    }
  }

  // Two backward passes give the same bits.
  if (result.ok && options.check_backward_twice && num_rows > 0) {
    const TensorList g = grad(outputs, diff_inputs, as_grad_outputs(rows[0]), false, true, true);
    for (size_t k = 0; k < diff.size(); ++k) {
      const auto again = g[k].defined() ? g[k].to_vector<double>()
                                        : std::vector<double>(diff_inputs[k].numel(), 0.0);
      if (again != analytic[0][k])
        fail("gradcheck: backward is not reproducible: two passes gave different gradients for "
             "input " + std::to_string(diff[k]));
    }
  }

  // Inputs that do not require grad get no .grad from a real backward.
  if (result.ok && options.check_no_grad_inputs && num_rows > 0) {
    TensorList live, live_grads;
    const TensorList go = as_grad_outputs(rows[0]);
    for (size_t j = 0; j < outputs.size(); ++j)
      if (out_sizes[j] > 0 && outputs[j].requires_grad()) { live.push_back(outputs[j]); live_grads.push_back(go[j]); }
    if (!live.empty()) backward(live, live_grads, /*retain_graph=*/true);
    for (size_t i = 0; i < inputs.size(); ++i)
      if (inputs[i].defined() && !inputs[i].requires_grad() && inputs[i].grad().defined())
        fail("gradcheck: input " + std::to_string(i) + " does not require grad but received one");
  }
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].defined() && inputs[i].requires_grad()) inputs[i].set_grad(saved_grads[i]);
  gen.set_state(seed, offset);
  return result;
}

GradcheckResult gradgradcheck_list(const GradcheckFn& fn, const TensorList& inputs,
                                   const GradcheckOptions& options) {
  // The extra inputs v are the output gradients; (inputs, v) -> v^T J is checked.
  Generator& gen = default_generator();
  const uint64_t seed = gen.seed(), offset = gen.offset();
  TensorList outputs;
  {
    gen.set_state(seed, offset);
    outputs = fn(inputs);
  }
  Generator local(0xbb67ae8584caa73bull);
  TensorList extended = inputs;
  std::vector<size_t> output_slots;
  for (size_t j = 0; j < outputs.size(); ++j) {
    if (!outputs[j].defined() || !outputs[j].is_floating_point()) continue;
    std::vector<double> v(static_cast<size_t>(outputs[j].numel()));
    for (double& value : v) value = local.normal();
    extended.push_back(from_vector(v, outputs[j].shape(), kFloat64).requires_grad_());
    output_slots.push_back(j);
  }
  const size_t num_inputs = inputs.size();
  GradcheckOptions inner = options;
  inner.check_no_grad_inputs = false;
  auto first_derivative = [&, num_inputs](const TensorList& xs) -> TensorList {
    const TensorList original(xs.begin(), xs.begin() + static_cast<int64_t>(num_inputs));
    // The first derivative is itself computed by autograd, even for the numeric evaluations
    // (which gradcheck runs with grad mode off).
    AutoGradMode mode(true);
    gen.set_state(seed, offset);
    const TensorList outs = fn(original);
    TensorList diff_inputs, grad_outputs, live;
    for (size_t i = 0; i < num_inputs; ++i)
      if (original[i].defined() && original[i].requires_grad()) diff_inputs.push_back(original[i]);
    for (size_t s = 0; s < output_slots.size(); ++s)
      if (outs[output_slots[s]].requires_grad()) {
        live.push_back(outs[output_slots[s]]);
        grad_outputs.push_back(xs[num_inputs + s]);
      }
    TensorList grads;
    if (!live.empty()) grads = grad(live, diff_inputs, grad_outputs, /*create_graph=*/true, true, true);
    else grads.resize(diff_inputs.size());
    for (size_t k = 0; k < grads.size(); ++k)
      if (!grads[k].defined()) grads[k] = zeros_like(diff_inputs[k]);
    return grads;
  };
  GradcheckResult result = gradcheck_list(first_derivative, extended, inner);
  if (!result.ok) result.message = "gradgradcheck (second derivatives): " + result.message;
  gen.set_state(seed, offset);
  return result;
}

}  // namespace ag::autograd

// gradcheck_cases.h: the registry of gradcheck cases, one entry per (op, variant), covering
// every differentiable op in autograd/ops.h. The test suite runs each case through gradcheck
// (and gradgradcheck), a command-line tool can run them one by one, and nn/ appends its own.
//
// A case is data, not a test: a function that draws its inputs (float64 leaves, from a
// generator seeded by the case's name, so the numbers never depend on which cases ran
// before), the function to differentiate, and the tolerances. Adding an op is adding one
// entry to the list in gradcheck_cases.cpp; the variants to give it are
//   plain       an ordinary shape, e.g. (3, 4)
//   broadcast   operands of different shapes (for a one-input op: an expanded input)
//   size1       a size-1 dim, which broadcasting and reductions treat specially
//   zero_size   a dim of size 0, where the op allows it
//   transposed  a non-contiguous input (a transposed or strided view), read through strides
// and inputs are kept off the op's kinks (relu and abs away from 0, log and sqrt positive).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "autograd/gradcheck.h"

namespace ag::autograd {

struct GradcheckCase {
  std::string op;       // the op as named in ops.h: "matmul"
  std::string variant;  // what this case varies: "broadcast_batch"
  std::function<TensorList()> make_inputs;                  // fresh, seeded inputs each call
  std::function<TensorList(const TensorList&)> fn;          // what gradcheck differentiates
  GradcheckOptions options;
  bool second_order = true;  // also run gradgradcheck (false only where f' is not smooth)
};

// Every case for the ops in autograd/ops.h, in the order they are declared there.
std::vector<GradcheckCase> op_gradcheck_cases();

// "op_variant" with every character outside [A-Za-z0-9_] replaced by '_': a GoogleTest name,
// and what a command-line filter matches against.
std::string gradcheck_case_name(const GradcheckCase& c);

// Runs gradcheck and then, when c.second_order, gradgradcheck on fresh inputs; returns the
// first failure (its message says which check failed) or the last success.
GradcheckResult run_gradcheck_case(const GradcheckCase& c);

}  // namespace ag::autograd

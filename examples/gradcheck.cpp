// gradcheck.cpp: proves every backward in attograd against finite differences, and prints the
// evidence. For each case of the two registries (autograd/gradcheck_cases.h: the core ops;
// nn/gradcheck_cases_nn.h: nn::functional and the modules) it draws seeded float64 inputs,
// compares the Jacobian autograd computes with central differences (autograd/gradcheck.h),
// then does the same for the backward's own backward (gradgradcheck) where that exists, and
// prints one row: op, variant, input shapes, the largest absolute and relative errors, pass or
// fail. The exit status is 1 if any case fails, so scripts and CI can run it.
//
// All ~420 cases take about a second on a laptop CPU (the inputs are small: central
// differences cost two forward passes per input element); --op picks one op, --list shows
// what there is. Expect errors around 1e-10 and every row "ok".
//
//   ./build/release/examples/gradcheck                 # everything
//   ./build/release/examples/gradcheck --op matmul     # one op, all its variants
//   ./build/release/examples/gradcheck --op nn.GPT_loss
//   ./build/release/examples/gradcheck --list
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "autograd/gradcheck_cases.h"
#include "common/cli.h"
#include "common/json.h"
#include "nn/gradcheck_cases_nn.h"

using ag::autograd::GradcheckCase;
using ag::autograd::GradcheckResult;

struct Config {
  std::string op = "";          // run only cases of this op ("matmul") or this case ("matmul_plain")
  bool list = false;            // list the cases and exit
  bool first_order = false;     // skip the second-order checks (faster)
  bool json = false;            // print one JSON line with the totals last
};

namespace {

// "(3, 4), (4)" for the first few inputs, "+N" for the rest.
std::string shapes_of(const ag::TensorList& inputs) {
  std::string s;
  const size_t shown = std::min<size_t>(inputs.size(), 3);
  for (size_t i = 0; i < shown; ++i) s += (i ? " " : "") + inputs[i].shape().str();
  if (inputs.size() > shown) s += " +" + std::to_string(inputs.size() - shown);
  return s;
}

bool selected(const GradcheckCase& c, const std::string& op) {
  return op.empty() || c.op == op || ag::autograd::gradcheck_case_name(c) == op;
}

}  // namespace

int main(int argc, char** argv) {
  Config cfg;
  examples::Cli cli("gradcheck", "float64 gradient checks of every differentiable op and module");
  cli.option("op", cfg.op, "only this op (e.g. matmul, F.layer_norm, nn.GPT) or case (matmul_plain)")
      .flag("list", cfg.list, "list the cases and exit")
      .flag("first-order", cfg.first_order, "skip the second-order (gradgradcheck) checks")
      .flag("json", cfg.json, "print a JSON line with the totals last");
  cli.parse(argc, argv);

  std::vector<GradcheckCase> cases = ag::autograd::op_gradcheck_cases();
  for (auto& c : ag::nn::nn_gradcheck_cases()) cases.push_back(std::move(c));

  if (cfg.list) {
    for (const auto& c : cases)
      if (selected(c, cfg.op))
        std::printf("%-28s %-20s %s%s\n", c.op.c_str(), c.variant.c_str(),
                    ag::autograd::gradcheck_case_name(c).c_str(), c.second_order ? "" : "  (first order only)");
    return 0;
  }

  int64_t matching = 0;
  for (const auto& c : cases) matching += selected(c, cfg.op);
  if (matching == 0) {
    std::fprintf(stderr, "gradcheck: no case matches --op %s (see --list)\n", cfg.op.c_str());
    return 2;
  }
  int64_t run = 0, failed = 0;
  std::vector<std::string> failures;
  const auto start = std::chrono::steady_clock::now();
  if (!cfg.json)
    std::printf("%-31s %-20s %-38s %9s %9s %9s  %s\n", "op", "variant", "input shapes", "abs err",
                "rel err", "2nd abs", "result");
  for (const auto& c : cases) {
    if (!selected(c, cfg.op)) continue;
    ++run;
    std::string shapes, status = "ok", second = "-", message;
    double abs_error = 0, rel_error = 0;
    try {
      const ag::TensorList inputs = c.make_inputs();
      shapes = shapes_of(inputs);
      const GradcheckResult first = ag::autograd::gradcheck_list(c.fn, inputs, c.options);
      abs_error = first.max_abs_error, rel_error = first.max_rel_error;
      if (!first.ok) {
        status = "FAIL", message = first.message;
      } else if (c.second_order && !cfg.first_order) {
        const GradcheckResult twice = ag::autograd::gradgradcheck_list(c.fn, c.make_inputs(), c.options);
        char buf[16];
        std::snprintf(buf, sizeof buf, "%.1e", twice.max_abs_error);
        second = buf;
        if (!twice.ok) status = "FAIL", message = "second order: " + twice.message;
      }
    } catch (const std::exception& e) {
      status = "FAIL", message = e.what();
    }
    if (status != "ok") {
      ++failed;
      failures.push_back(ag::autograd::gradcheck_case_name(c) + ": " + message);
    }
    if (!cfg.json) {
      std::printf("%-31s %-20s %-38s %9.1e %9.1e %9s  %s\n", c.op.c_str(), c.variant.c_str(),
                  shapes.c_str(), abs_error, rel_error, second.c_str(), status.c_str());
      std::fflush(stdout);
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (cfg.json) {
    std::printf("%s\n", examples::JsonLine()
                            .add("example", "gradcheck")
                            .add("cases", run)
                            .add("failed", failed)
                            .add("seconds", seconds)
                            .str().c_str());
  } else {
    std::printf("\n%lld cases, %lld failed, %.1fs. Errors compare autograd's Jacobian with central "
                "differences\n(eps 1e-6, float64); a pair passes when |analytic - numeric| <= atol + "
                "rtol |numeric|.\nrel err = |analytic - numeric| / |numeric| is ~1 where both are ~0 (e.g. the key bias of\nattention, whose gradient is exactly 0: softmax ignores a constant added to a row).\n",
                static_cast<long long>(run), static_cast<long long>(failed), seconds);
    for (const auto& f : failures) std::printf("FAIL %s\n", f.c_str());
  }
  return failed ? 1 : 0;
}

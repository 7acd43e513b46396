// gradcheck_cases_nn.h: nn's half of the gradcheck registry (autograd/gradcheck_cases.h holds
// the core ops): every differentiable function in nn::functional and every module, one entry
// per (op, variant). examples/gradcheck runs them next to the core ops; each is data, as there:
// inputs drawn from a generator seeded by the case's name, the function, tolerances.
//
// Functional cases are named "F.<function>", module cases "nn.<Module>". A module case builds
// its module (in float64, parameters redrawn at N(0, 0.3^2) so every nonlinearity is exercised)
// when it draws its inputs; its parameters are among those inputs, so gradcheck checks the
// gradient of every weight, not only of the data.
//
// second_order is false where the backward is a fused kernel that cannot record itself (the
// fused attention path, and modules built on it). layer_norm and cross_entropy are fused too,
// but under create_graph they write the same backward in differentiable ops, so they keep it.
#pragma once

#include <vector>

#include "autograd/gradcheck_cases.h"

namespace ag::nn {

// Every case for nn::functional and the nn modules.
std::vector<autograd::GradcheckCase> nn_gradcheck_cases();

}  // namespace ag::nn

// nn.h: everything the nn layer offers, in one include (PyTorch's `import torch.nn as nn`):
// autograd and tensors, the functional API (alias it F), the Module base, and every module.
//   #include "nn/nn.h"
//   namespace F = ag::nn::functional;
//   auto model = std::make_shared<ag::nn::GPT>(ag::nn::GPTConfig{.block_size = 64, ...});
#pragma once

#include "autograd/autograd.h"
#include "nn/functional.h"
#include "nn/init.h"
#include "nn/module.h"

#include "nn/attention.h"
#include "nn/dropout.h"
#include "nn/embedding.h"
#include "nn/gpt.h"
#include "nn/layer_norm.h"
#include "nn/linear.h"
#include "nn/mlp.h"
#include "nn/positional.h"
#include "nn/transformer_block.h"

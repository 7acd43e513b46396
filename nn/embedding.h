// embedding.h: nn::Embedding, a lookup table of learned vectors: row i of the weight is the
// vector of token (or position) i. Its backward adds each output row's gradient into the row it
// came from, so only the rows a batch used receive a gradient.
// Init is PyTorch's: N(0, 1). (GPT re-initialises with N(0, 0.02), as nanoGPT does.)
#pragma once

#include <string>

#include "nn/module.h"

namespace ag::nn {

class Embedding : public Module {
 public:
  Embedding(int64_t num_embeddings, int64_t embedding_dim);

  // ids: int64, any shape, each in [0, num_embeddings)   returns: (*ids.shape, embedding_dim)
  // An id outside the table is an Error naming the id and the table size.
  Tensor forward(const Tensor& ids);
  Tensor operator()(const Tensor& ids) { return forward(ids); }

  void reset_parameters();  // N(0, 1)

  std::string name() const override;  // "Embedding(11, 8)", PyTorch's repr

  Tensor weight;  // (num_embeddings, embedding_dim)
  int64_t num_embeddings;
  int64_t embedding_dim;
};

}  // namespace ag::nn

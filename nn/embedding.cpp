// embedding.cpp: nn::Embedding. The lookup and its scatter-add backward are F::embedding.
#include "nn/embedding.h"

#include <sstream>

#include "nn/functional.h"
#include "nn/init.h"

namespace ag::nn {

namespace F = functional;

Embedding::Embedding(int64_t num_embeddings, int64_t embedding_dim)
    : num_embeddings(num_embeddings), embedding_dim(embedding_dim) {
  if (num_embeddings <= 0 || embedding_dim <= 0)
    throw Error("Embedding", "num_embeddings and embedding_dim must be positive, got ",
                num_embeddings, " and ", embedding_dim);
  weight = register_parameter("weight", empty({num_embeddings, embedding_dim}));  // (V, C)
  reset_parameters();
}

void Embedding::reset_parameters() { init::normal_(weight, 0.0, 1.0); }

Tensor Embedding::forward(const Tensor& ids) {
  // ids: (...)   weight: (V, C)   returns: (..., C); F::embedding checks ids against V
  return F::embedding(ids, weight);
}

std::string Embedding::name() const {
  std::ostringstream os;
  os << "Embedding(" << num_embeddings << ", " << embedding_dim << ")";
  return os.str();
}

}  // namespace ag::nn

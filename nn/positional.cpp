// positional.cpp: the sinusoidal table (built once, in float64, then stored in the default
// dtype) and learned positions.
#include "nn/positional.h"

#include <cmath>
#include <sstream>
#include <vector>

namespace ag::nn {

SinusoidalPositionalEncoding::SinusoidalPositionalEncoding(int64_t max_len, int64_t dim)
    : max_len(max_len), dim(dim) {
  if (max_len <= 0 || dim <= 0)
    throw Error("SinusoidalPositionalEncoding", "max_len and dim must be positive, got max_len=",
                max_len, ", dim=", dim);
  std::vector<double> table(static_cast<size_t>(max_len * dim));
  for (int64_t pos = 0; pos < max_len; ++pos) {
    double* row = table.data() + pos * dim;
    for (int64_t c = 0; c < dim; ++c) {
      // Channels 2i and 2i + 1 share the frequency 1 / 10000^(2i / C): sin on the even one,
      // cos on the odd one. With an odd C the last channel is a lone sin.
      const int64_t two_i = c - c % 2;
      const double angle =
          static_cast<double>(pos) / std::pow(10000.0, static_cast<double>(two_i) / static_cast<double>(dim));
      row[c] = (c % 2 == 0) ? std::sin(angle) : std::cos(angle);
    }
  }
  pe = register_buffer("pe", from_vector(table, {max_len, dim}, kFloat32), /*persistent=*/false);
}

Tensor SinusoidalPositionalEncoding::encoding(int64_t length) const {
  if (length < 0 || length > max_len)
    throw Error("SinusoidalPositionalEncoding", "sequence length T=", length,
                " is outside the table's max_len=", max_len);
  return pe.narrow(0, 0, length);  // (T, C)
}

Tensor SinusoidalPositionalEncoding::forward(const Tensor& x) {
  if (!x.defined() || x.dim() < 2 || x.size(-1) != dim)
    throw Error("SinusoidalPositionalEncoding", "expected x of shape (B, T, ", dim, ") or (T, ", dim,
                "), got ", x.defined() ? x.shape().str() : std::string("undefined"));
  // x: (B, T, C) + (T, C) broadcast over B
  return x + encoding(x.size(-2));
}

std::string SinusoidalPositionalEncoding::name() const {
  std::ostringstream os;
  os << "SinusoidalPositionalEncoding(max_len=" << max_len << ", dim=" << dim << ")";
  return os.str();
}

Tensor LearnedPositionalEmbedding::forward(int64_t length) {
  if (length < 0 || length > num_embeddings)
    throw Error("LearnedPositionalEmbedding", "sequence length T=", length,
                " is longer than the table's max_len=", num_embeddings);
  const Tensor positions = arange(static_cast<double>(length), kInt64);  // (T)
  return Embedding::forward(positions);                                  // (T, C)
}

std::string LearnedPositionalEmbedding::name() const {
  std::ostringstream os;
  os << "LearnedPositionalEmbedding(" << num_embeddings << ", " << embedding_dim << ")";
  return os.str();
}

}  // namespace ag::nn

// positional.h: telling attention where each token sits. Attention itself is blind to order
// (permuting the keys permutes nothing in the output), so a position signal is added to each
// token's vector before the first block. Two kinds:
//
//   SinusoidalPositionalEncoding  fixed (Vaswani et al., 2017, section 3.5):
//       PE[pos, 2i]     = sin(pos / 10000^(2i / C))
//       PE[pos, 2i + 1] = cos(pos / 10000^(2i / C))
//     Each pair of channels is a clock of its own wavelength (2 pi to 10000 * 2 pi), so
//     PE[pos + k] is a fixed rotation of PE[pos]: relative offsets are easy to read off. It is
//     a non-persistent buffer: computed, never learned, and not in the state dict.
//   LearnedPositionalEmbedding    an Embedding over positions 0..max_len-1 (GPT-2's and
//     nanoGPT's wpe): one learned vector per position, so it cannot go past max_len.
//
// Legend: B batch, T sequence length, C channels.
#pragma once

#include <string>

#include "nn/embedding.h"
#include "nn/module.h"

namespace ag::nn {

class SinusoidalPositionalEncoding : public Module {
 public:
  SinusoidalPositionalEncoding(int64_t max_len, int64_t dim);

  // x: (B, T, C) or (T, C) with T <= max_len   returns: x + PE[:T], same shape as x
  Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }
  // The first `length` rows of the table: (length, C).
  Tensor encoding(int64_t length) const;

  std::string name() const override;  // "SinusoidalPositionalEncoding(max_len=16, dim=8)"

  Tensor pe;  // (max_len, C), a non-persistent buffer
  int64_t max_len;
  int64_t dim;
};

class LearnedPositionalEmbedding : public Embedding {
 public:
  LearnedPositionalEmbedding(int64_t max_len, int64_t dim) : Embedding(max_len, dim) {}

  using Embedding::forward;  // forward(ids) still looks up arbitrary positions
  // The vectors of positions 0..length-1: (length, C). length > max_len is an Error.
  Tensor forward(int64_t length);

  std::string name() const override;  // "LearnedPositionalEmbedding(16, 8)"
};

}  // namespace ag::nn

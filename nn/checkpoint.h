// checkpoint.h: saving and loading named tensors as safetensors files, the format PyTorch,
// Hugging Face and nanoGPT ports read (safetensors.torch.load_file opens ours, we open theirs).
//
// The format (all integers little-endian):
//   8 bytes     N, the header length, a u64
//   N bytes     a JSON object: {"__metadata__": {"key": "value", ...},
//                               "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [b, e]},
//                               ...}
//               metadata values are strings only; padded with spaces so data starts 8-aligned
//   the rest    the data section: each tensor's elements, row-major, at [b, e) counted from the
//               section's start. The ranges tile the section exactly: no gaps, no overlaps,
//               nothing after the last one.
// dtypes: F32, F64, I64, BOOL (one byte, 0 or 1) - the four attograd has.
//
// Saving writes "<path>.tmp-<pid>", fsyncs it, and renames it over path: a rename is atomic,
// so a crash or a full disk mid-save leaves the previous file intact, never half a checkpoint.
// Tensors are laid out largest element first, then by name (the reference writer's order), so
// every tensor's bytes are aligned to its element size and a reader may map them in place.
//
// Loading checks every field before it reads a byte of data, and fails with an Error("load",
// ...) naming the file and the problem: too short, a header length past the end, bad JSON, an
// unknown dtype, a shape that does not match its byte range, ranges out of bounds, overlapping
// or leaving gaps, duplicate names, trailing bytes. Nothing is returned from a bad file.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "nn/module.h"

namespace ag {

// What a file holds: tensors sorted by name (new, contiguous, requiring no grad), and metadata.
struct Checkpoint {
  nn::NamedTensors tensors;
  std::map<std::string, std::string> metadata;

  bool contains(const std::string& name) const;
  // The tensor called name; an Error naming it when absent.
  const Tensor& at(const std::string& name) const;
};

// Writes tensors (any layout; names unique, non-empty, not "__metadata__") and metadata to path.
//   ag::save("model.safetensors", model.state_dict(), {{"step", "1000"}});
void save(const std::string& path, const nn::NamedTensors& tensors,
          const std::map<std::string, std::string>& metadata = {});

// Reads a safetensors file written by save() or by any other writer of the format.
//   model.load_state_dict(ag::load("model.safetensors").tensors);
Checkpoint load(const std::string& path);

namespace testing {
// Makes the next save() fail, as a full disk would, once it has written `bytes` bytes of the
// temporary file. For tests of the "interrupted save keeps the old file" promise.
void fail_next_save_after(uint64_t bytes);
}  // namespace testing

}  // namespace ag

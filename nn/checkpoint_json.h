// checkpoint_json.h: the small JSON reader and writer behind safetensors headers (nn/checkpoint).
// A header is untrusted input, so the reader is strict where JSON allows looseness that a
// header never needs: a duplicate key in an object is an error (which of two "weight" entries
// would be meant?), nesting is capped (a header needs 3 levels; "[[[[..." a million deep must
// not overflow the stack), strings must be valid UTF-8, and numbers keep their literal text so
// a 64-bit byte offset is read exactly instead of through a double.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ag::json {

struct Value {
  enum class Kind { Null, Bool, Number, String, Array, Object };
  Kind kind = Kind::Null;
  bool boolean = false;
  std::string text;                                    // String: decoded; Number: as written
  std::vector<Value> items;                            // Array
  std::vector<std::pair<std::string, Value>> members;  // Object, in the order written
};

// What went wrong and where (a byte offset into the text).
class ParseError : public std::runtime_error {
 public:
  ParseError(const std::string& what, size_t offset) : std::runtime_error(what), offset_(offset) {}
  size_t offset() const { return offset_; }

 private:
  size_t offset_;
};

// Parses one JSON value filling the whole text (surrounding whitespace allowed).
Value parse(std::string_view text, int max_depth = 64);

// The value of a Number that is a plain non-negative integer ("0", "1024") no larger than
// max; false for fractions, exponents, signs or overflow.
bool to_uint64(const Value& number, uint64_t max, uint64_t& out);

// s as a JSON string literal, quotes included; s must be valid UTF-8.
std::string quote(std::string_view s);

bool is_valid_utf8(std::string_view s);

}  // namespace ag::json

// error.h: ag::Error, the one exception attograd throws for a caller's mistake.
// A message reads "op: what is wrong: the values at fault", assembled from any streamable parts,
// so a failing matmul names the shapes it was given instead of saying only "bad input".
// Our own invariants are guarded by assert() inside kernels; Error is for the caller.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace ag {

class Error : public std::runtime_error {
 public:
  // Error("matmul", "inner dimensions differ: a is ", a.shape(), ", b is ", b.shape())
  template <typename... Parts>
  explicit Error(std::string_view op, const Parts&... parts)
      : std::runtime_error(compose(op, parts...)), op_(op) {}

  // The name of the op that refused its input ("matmul", "backward", "load", ...).
  const std::string& op() const { return op_; }

 private:
  template <typename... Parts>
  static std::string compose(std::string_view op, const Parts&... parts) {
    std::ostringstream os;
    os << op << ": ";
    (os << ... << parts);
    return os.str();
  }
  std::string op_;
};

}  // namespace ag

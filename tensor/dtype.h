// dtype.h: the element types a tensor can hold, and how kernels are stamped out for each.
// Kernels are templates over the element type; dispatch_* turns a run-time DType into a call
// of the template with the matching C++ type, so every kernel is written once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string_view>

#include "tensor/error.h"

namespace ag {

enum class DType : uint8_t { Float32, Float64, Int64, Bool };

inline constexpr DType kFloat32 = DType::Float32;  // the training type, and the default
inline constexpr DType kFloat64 = DType::Float64;  // the gradcheck type
inline constexpr DType kInt64 = DType::Int64;      // token ids, targets, indices
inline constexpr DType kBool = DType::Bool;        // masks: true = may attend
inline constexpr DType kFloat = kFloat32;          // libtorch's aliases
inline constexpr DType kDouble = kFloat64;
inline constexpr DType kLong = kInt64;

constexpr size_t element_size(DType dtype) {
  switch (dtype) {
    case DType::Float32: return 4;
    case DType::Float64: return 8;
    case DType::Int64: return 8;
    case DType::Bool: return 1;
  }
  return 0;
}

constexpr std::string_view dtype_name(DType dtype) {
  switch (dtype) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::Int64: return "int64";
    case DType::Bool: return "bool";
  }
  return "?";
}

constexpr bool is_floating(DType dtype) {
  return dtype == DType::Float32 || dtype == DType::Float64;
}

inline std::ostream& operator<<(std::ostream& os, DType dtype) { return os << dtype_name(dtype); }

// The DType of a C++ element type: dtype_of<float>() == kFloat32.
template <typename T>
constexpr DType dtype_of() {
  if constexpr (std::is_same_v<T, float>) return DType::Float32;
  else if constexpr (std::is_same_v<T, double>) return DType::Float64;
  else if constexpr (std::is_same_v<T, int64_t>) return DType::Int64;
  else if constexpr (std::is_same_v<T, bool>) return DType::Bool;
  else static_assert(sizeof(T) == 0, "attograd tensors hold float, double, int64_t or bool");
}

// Calls f(T{}) with T = float or double; any other dtype is the caller's error, named by op.
//   dispatch_floating(x.dtype(), "exp", [&](auto zero) { using T = decltype(zero); ... });
template <typename F>
decltype(auto) dispatch_floating(DType dtype, std::string_view op, F&& f) {
  switch (dtype) {
    case DType::Float32: return f(float{});
    case DType::Float64: return f(double{});
    default:
      throw Error(op, "expected a floating dtype (float32 or float64), got ", dtype);
  }
}

// Calls f(T{}) for every dtype: float, double, int64_t, bool.
template <typename F>
decltype(auto) dispatch_all(DType dtype, F&& f) {
  switch (dtype) {
    case DType::Float32: return f(float{});
    case DType::Float64: return f(double{});
    case DType::Int64: return f(int64_t{});
    case DType::Bool: return f(bool{});
  }
  return f(float{});
}

}  // namespace ag

// cpu_features.cpp: the CPUID questions behind cpu_features.h (GCC's and Clang's
// __builtin_cpu_supports, which reads CPUID once per process).
#include "tensor/cpu_features.h"

namespace ag {

#if defined(AG_HAVE_SIMD)
bool cpu_has_avx2() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
bool cpu_has_avx512() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
}
#else
bool cpu_has_avx2() { return false; }
bool cpu_has_avx512() { return false; }
#endif

}  // namespace ag

// cpu_features.h: which vector instruction sets this build and this CPU can run. Asked by
// every kernel family that has AVX2 / AVX-512 builds (GEMM, fused attention, GELU), so the
// answer, and what it requires, is written once.
//
// "avx2" is AVX2 + FMA and "avx512" is AVX-512 F + VL + BW + DQ: exactly the flags the
// tensor/simd/*_avx2.cpp and *_avx512.cpp files are compiled with (CMakeLists.txt), so no
// kernel runs on a CPU that lacks an instruction its compiler was allowed to emit. Both are
// false in a build without those files (AG_SIMD off, or not x86-64).
#pragma once

namespace ag {

bool cpu_has_avx2();
bool cpu_has_avx512();

}  // namespace ag

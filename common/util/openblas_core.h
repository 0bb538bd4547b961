// Which OpenBLAS kernels an `ssd` process runs its libtorch matmuls on.
//
// OpenBLAS (Debian's libopenblas0-openmp is built for every x86-64 core)
// picks its kernels when it loads, from the CPU's family and model numbers.
// A virtual machine that reports a generic model (here: "Intel(R) Xeon(R)
// Processor", with AVX-512) defeats that lookup, and OpenBLAS falls back to
// its Prescott kernels (SSE3). Those ran a 2048 x 2048 fp32 matmul at 66
// GFLOP/s on 2 cores where its SkylakeX kernels ran 311 (PyTorch's torch.mm,
// one run each). SFT's matmuls go through libtorch to OpenBLAS, so the
// trainer paid that. OPENBLAS_CORETYPE overrides the choice, but OpenBLAS
// reads it only when it loads, so `ssd` sets it and re-executes itself.
//
// Only a choice without AVX2 kernels on a CPU that has AVX2 and FMA is
// replaced: by SkylakeX where the CPU has AVX-512 F, CD, BW, DQ and VL, by
// Haswell otherwise. Any other choice (Haswell, Zen, SkylakeX, ...) is
// OpenBLAS's own reading of a CPU it knows, and is kept. An OPENBLAS_CORETYPE
// the user set is always kept. A different kernel sums floats in another
// order, so training's bits depend on it like on any other CPU difference.
#ifndef SSD_COMMON_UTIL_OPENBLAS_CORE_H_
#define SSD_COMMON_UTIL_OPENBLAS_CORE_H_

#include <string>

namespace ssd {

// Set in the environment of a process that ssd re-executed with another
// core: the name of the core OpenBLAS had chosen.
inline constexpr char kOpenBlasCoreMarker[] = "SSD_OPENBLAS_REPLACED_CORE";

// The OPENBLAS_CORETYPE to ask for instead of `chosen` (OpenBLAS's choice,
// as openblas_get_corename() names it), or "" to keep it.
std::string BetterOpenBlasCore(const std::string& chosen, bool cpu_avx2_fma, bool cpu_avx512);

// The core this process's OpenBLAS runs, or "" where no OpenBLAS is loaded.
std::string LoadedOpenBlasCore();

// Call first in main(). Where BetterOpenBlasCore names a core for this CPU
// and the user did not set OPENBLAS_CORETYPE, sets it (and the marker) and
// re-executes /proc/self/exe with the same arguments; otherwise, or if the
// exec fails, returns and the process goes on as it is.
void ReexecWithBetterOpenBlasCore(char** argv);

// One line for `ssd env`: the core in effect and who chose it.
std::string DescribeOpenBlasCore();

}  // namespace ssd

#endif  // SSD_COMMON_UTIL_OPENBLAS_CORE_H_

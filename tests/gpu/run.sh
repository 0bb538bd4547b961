#!/usr/bin/env bash
# Builds the GPU-labelled tests against a CUDA libtorch, runs them, then the
# GPU throughput report (gpu_bench against eager PyTorch + transformers).
#
#   tests/gpu/run.sh [--build-dir DIR] [--debs DIR] [--out DIR] [--no-bench] [--smoke]
#                    [--baseline-json FILE]   # reuse an earlier hf_gpu_baseline.py result
#
# It needs: a python3 whose torch has CUDA (its torch/share/cmake is the
# libtorch this builds against; PYTHON=... picks another interpreter), a
# visible GPU, CMake >= 3.25, ninja and a C++17 compiler. NCCL comes from
# /usr/local/cuda or, failing that, from the nvidia-nccl wheel beside torch
# (the one torch itself loads).
#
# The build is `-DSSD_CONTROL_PLANE=OFF`: the model runtime, tokenizer,
# sampling engine and trainer, which need abseil, glog, gflags, GoogleTest,
# nlohmann-json, PCRE2 and utf8proc. Where apt works, deploy/install-deps.sh
# installs them. On a machine without a package manager, pass --debs DIR: a
# folder of Debian 12 .deb files (made with `apt-get download` on a Debian
# machine; the list is DEBS below). They are unpacked under the build
# folder, not into /, and found through CMAKE_PREFIX_PATH.
#
# Logs go to --out (default: the build folder): configure.log, build.log,
# ctest.log, baseline.json, bench.txt. SSD_GPU_STEP_TIMEOUT_S (default 600)
# bounds each test, the Python baseline and the bench.
set -euo pipefail
cd "$(dirname "$0")/../.."

DEBS="libabsl-dev libabsl20220623 libgoogle-glog-dev libgoogle-glog0v6 libgflags-dev libgflags2.2
libunwind-dev libunwind8 nlohmann-json3-dev libgtest-dev libpcre2-dev libpcre2-8-0 libutf8proc-dev libutf8proc2"

build=build-gpu
debs=""
out=""
bench=1
baseline=""
smoke=()
while (($#)); do
  case $1 in
    --build-dir) build=$2; shift 2 ;;
    --debs) debs=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --no-bench) bench=0; shift ;;
    --smoke) smoke=(--smoke); shift ;;
    --baseline-json) baseline=$2; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ -n $out ]] || out=$build
mkdir -p "$build" "$out"
py=${PYTHON:-python3}
step_timeout=${SSD_GPU_STEP_TIMEOUT_S:-600}

die() { echo "run.sh: $*" >&2; exit 1; }

command -v "$py" >/dev/null || die "no $py: set PYTHON to an interpreter whose torch has CUDA"
read -r torch_version torch_cuda cuda_ok gpus torch_cmake torch_include < <("$py" - <<'EOF'
import os, torch
print(torch.__version__, torch.version.cuda, int(torch.cuda.is_available()), torch.cuda.device_count(),
      torch.utils.cmake_prefix_path, os.path.join(os.path.dirname(torch.__file__), "include"))
EOF
) || die "$py cannot import torch"
[[ $torch_cuda != None ]] || die "torch $torch_version has no CUDA: install a CUDA build of PyTorch"
((cuda_ok)) || die "torch $torch_version (CUDA $torch_cuda) sees no GPU"
echo "run.sh: torch $torch_version, CUDA $torch_cuda, $gpus GPU(s), libtorch at $torch_cmake"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
for tool in cmake ninja c++ nvcc; do
  command -v $tool >/dev/null || die "no $tool on PATH"
done
echo "run.sh: $(cmake --version | head -1), $(c++ --version | head -1), $(nvcc --version | tail -1)"

prefix="$torch_cmake"
if [[ -n $debs ]]; then
  [[ -d $debs ]] || die "--debs $debs is not a folder"
  deps="$PWD/$build/deps"
  rm -rf "$deps" && mkdir -p "$deps"
  # No Gloo here: a wheel's libtorch ships none of its headers, and Debian's
  # (older) copy would compile against one layout and link another. Such a
  # build compiles Gloo out and trains over NCCL (trainer_worker/CMakeLists).
  wanted=$DEBS
  for p in $wanted; do
    f=$(ls "$debs"/"${p}"_*.deb 2>/dev/null | head -1)
    [[ -n $f ]] || die "--debs $debs has no ${p}_*.deb (apt-get download $p on Debian 12)"
    if command -v dpkg-deb >/dev/null; then
      dpkg-deb -x "$f" "$deps" || die "cannot unpack $f"
    else  # a .deb is an ar archive holding data.tar.*
      member=$(ar t "$f" | grep '^data\.tar') || die "$f holds no data.tar"
      ar p "$f" "$member" | tar -x -C "$deps" --auto-compress -f - 2>/dev/null ||
        ar p "$f" "$member" | tar -xJ -C "$deps" || die "cannot unpack $f"
    fi
  done
  # Two places name /usr outright: the pkg-config files' prefix and glog's
  # find-module folder. Point them at the unpacked tree.
  sed -i "s|^prefix=/usr\$|prefix=$deps/usr|" "$deps"/usr/lib/x86_64-linux-gnu/pkgconfig/*.pc
  sed -i "s|\"/usr/share/glog/cmake\"|\"$deps/usr/share/glog/cmake\"|" "$deps"/usr/lib/x86_64-linux-gnu/cmake/glog/glog-modules.cmake
  prefix="$prefix;$deps/usr"
  export LD_LIBRARY_PATH="$deps/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

# NCCL: the nvidia-nccl wheel beside torch when there is one (the copy
# torch itself loads), else the toolkit's.
nccl_args=()
nvidia_dir=$("$py" -c 'import nvidia; print(list(nvidia.__path__)[0])' 2>/dev/null || true)
nccl_h=""
[[ -n $nvidia_dir ]] && nccl_h=$(find "$nvidia_dir" -name nccl.h 2>/dev/null | head -1)
if [[ -n $nccl_h ]]; then
  nccl_lib=$(find "$(dirname "$(dirname "$nccl_h")")" -name 'libnccl.so*' | head -1)
  [[ -n $nccl_lib ]] || die "$nccl_h has no libnccl.so beside it"
  nccl_args=(-DNCCL_INCLUDE_DIR="$(dirname "$nccl_h")" -DNCCL_LIBRARY="$nccl_lib")
  echo "run.sh: NCCL from the wheel: $nccl_lib"
elif [[ ! -f /usr/local/cuda/include/nccl.h ]]; then
  die "no NCCL: neither the nvidia-nccl wheel nor /usr/local/cuda/include/nccl.h"
fi

echo "run.sh: configuring $build"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSSD_CONTROL_PLANE=OFF -DSSD_WITH_NCCL=ON \
  -DSSD_USE_CCACHE=OFF -DCMAKE_PREFIX_PATH="$prefix" "${nccl_args[@]}" >"$out/configure.log" 2>&1 ||
  { tail -40 "$out/configure.log"; die "configure failed ($out/configure.log)"; }
echo "run.sh: building the GPU tests and gpu_bench"
targets=(model_gpu_test trainer_gpu_test nccl_collective_test gpu_bench)
cmake --build "$build" --parallel "$(nproc)" --target "${targets[@]}" -- -k 0 >"$out/build.log" 2>&1 ||
  { grep -E "error|Error" "$out/build.log" | head -60; die "build failed ($out/build.log)"; }

echo "run.sh: GPU tests"
status=0
(cd "$build" && ctest -L gpu --output-on-failure --timeout "$step_timeout" -V) >"$out/ctest.log" 2>&1 || status=1
grep -E "^\[ (.*) \]|Test +#|tests passed|SKIPPED|FAILED|\[  PASSED|Failure" "$out/ctest.log" | grep -v "^\s*$" || true

if ((bench)); then
  echo "run.sh: throughput (eager PyTorch + transformers baseline, then gpu_bench)"
  base_args=()
  if [[ -n $baseline ]]; then
    [[ -f $baseline ]] || die "--baseline-json $baseline: no such file"
    cp "$baseline" "$out/baseline.json"
    base_args=(--baseline-json "$out/baseline.json")
  elif timeout "$step_timeout" "$py" tests/gpu/hf_gpu_baseline.py "${smoke[@]}" >"$out/baseline.json" 2>"$out/baseline.err"; then
    base_args=(--baseline-json "$out/baseline.json")
  else
    echo "run.sh: the Python baseline failed (no ratios); its stderr:" >&2
    tail -20 "$out/baseline.err" >&2
  fi
  timeout "$step_timeout" "$build/bin/gpu_bench" "${smoke[@]}" "${base_args[@]}" 2>"$out/bench.err" | tee "$out/bench.txt" ||
    { tail -20 "$out/bench.err"; status=1; }
fi
exit $status

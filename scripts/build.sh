#!/usr/bin/env bash
# Installs what graphmae2 needs (Debian packages via apt, LibTorch via pip into .venv), then configures
# and builds a Release tree in build/ (tools in build/bin/). Idempotent: a second run only rebuilds.
#
#   scripts/build.sh            install + build the library and tools
#   scripts/build.sh --tests    ... and the GoogleTest suites
#   scripts/build.sh --benchmarks --fuzz --no-install --build-dir DIR --torch-prefix DIR
#
# Any other LibTorch (a CUDA one included) works through --torch-prefix or CMAKE_PREFIX_PATH.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

tests=OFF; benchmarks=OFF; fuzz=OFF; install=1; build_dir=build; torch_prefix="${GRAPHMAE2_TORCH_PREFIX:-}"
while [ $# -gt 0 ]; do
  case "$1" in
    --tests) tests=ON ;;
    --benchmarks) benchmarks=ON ;;
    --fuzz) fuzz=ON ;;
    --no-install) install=0 ;;
    --build-dir) build_dir="$2"; shift ;;
    --torch-prefix) torch_prefix="$2"; shift ;;
    *) echo "build.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
  shift
done

apt_packages=(build-essential cmake ninja-build ccache pkg-config python3-venv zlib1g-dev
              libeigen3-dev libboost-graph-dev libhdf5-dev libyaml-cpp-dev libcli11-dev nlohmann-json3-dev libminizip-dev
              libgoogle-perftools-dev libgloo-dev
              libgtest-dev libgmock-dev
              libbenchmark-dev dataset-fashion-mnist)
[ "$tests" = ON ] && apt_packages+=(clang-format)
[ "$fuzz" = ON ] && apt_packages+=(clang libclang-rt-14-dev libomp-14-dev)

if [ "$install" = 1 ]; then
  missing=()
  for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing Debian packages: ${missing[*]}"
    sudo_cmd=(); [ "$(id -u)" != 0 ] && sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
  if [ -z "$torch_prefix" ]; then
    if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
    if ! .venv/bin/python -c "import torch" 2>/dev/null; then
      echo "== installing LibTorch (pip install torch==2.13.0 into .venv)"
      # 2.13.0 is a CPU build on this project's machines; where it is not available, fall back to any torch 2.x.
      .venv/bin/pip install -q torch==2.13.0 || .venv/bin/pip install -q "torch>=2.4,<3"
    fi
  fi
fi

if [ -z "$torch_prefix" ]; then
  torch_prefix=$(.venv/bin/python -c "import torch.utils; print(torch.utils.cmake_prefix_path)" 2>/dev/null) || {
    echo "build.sh: no LibTorch found: run without --no-install, or pass --torch-prefix DIR" >&2; exit 1; }
fi

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
generator=(); command -v ninja >/dev/null && generator=(-G Ninja)
if [ -f "$build_dir/CMakeCache.txt" ]; then generator=(); fi

mkdir -p "$build_dir"
echo "== configuring $build_dir (LibTorch: $torch_prefix)"
cmake -S . -B "$build_dir" "${generator[@]}" "${launcher[@]}" \
  -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$torch_prefix" \
  -DGRAPHMAE2_TESTS=$tests -DGRAPHMAE2_BENCHMARKS=$benchmarks -DGRAPHMAE2_FUZZ=$fuzz > "$build_dir/configure.log" 2>&1 \
  || { cat "$build_dir/configure.log"; exit 1; }
grep "graphmae2:" "$build_dir/configure.log" || true
echo "== building ($(nproc) jobs)"
cmake --build "$build_dir" -j "$(nproc)"
echo "== built: $(ls "$build_dir/bin" | tr '\n' ' ')"

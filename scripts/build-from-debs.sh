#!/usr/bin/env bash
# Builds graphmae2 where apt is unavailable (the lent GPU machine: CUDA and PyTorch, no network). The Debian
# packages scripts/build.sh would install come as .deb files and are unpacked into a prefix; LibTorch is the one
# of the python3 that imports torch (a CUDA LibTorch there). Fetch the .deb files on a Debian 12 machine with
#   apt-get download libeigen3-dev libboost1.74-dev libhdf5-dev libhdf5-103-1 libhdf5-cpp-103-1 libyaml-cpp-dev \
#     libyaml-cpp0.7 libcli11-dev nlohmann-json3-dev libgtest-dev libgmock-dev googletest zlib1g-dev \
#     libminizip-dev libminizip1 libbenchmark-dev libbenchmark1debian libgloo-dev libgoogle-perftools-dev libtcmalloc-minimal4
#     (the last two optional: without them the executables use glibc's malloc)
#     (plus the libraries `ldd` shows libhdf5 needs)
#
# usage: scripts/build-from-debs.sh DEB_DIR BUILD_DIR [cmake -D options ...]
# Prints the LD_LIBRARY_PATH the built programs need (also written to BUILD_DIR/deps.env).
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 DEB_DIR BUILD_DIR [cmake -D options ...]" >&2
  exit 2
fi
debs=$1
build=$2
shift 2
prefix=${GRAPHMAE2_DEPS_PREFIX:-/tmp/graphmae2-deps}
shopt -s nullglob
deb_files=("$debs"/*.deb)
if [ ${#deb_files[@]} -eq 0 ]; then
  echo "$0: no .deb files in '$debs'" >&2
  exit 1
fi
mkdir -p "$prefix/root" "$prefix/lib"
for f in "${deb_files[@]}"; do dpkg -x "$f" "$prefix/root"; done

# Only the shared libraries this machine lacks go on the loader path, so its own (often newer) copies stay in charge.
known=$(ldconfig -p | awk 'NR > 1 {print $1}')
while IFS= read -r so; do
  name=$(basename "$so")
  grep -qxF "$name" <<<"$known" || ln -sf "$so" "$prefix/lib/$name"
done < <(find "$prefix/root" -name 'lib*.so.*' \( -type f -o -type l \))
export LD_LIBRARY_PATH="$prefix/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

torch_cmake=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
usr=$prefix/root/usr
multiarch=$usr/lib/x86_64-linux-gnu
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$torch_cmake;$usr" \
  -DCMAKE_BUILD_RPATH="$prefix/lib" \
  -DHDF5_C_INCLUDE_DIR="$usr/include/hdf5/serial" -DHDF5_CXX_INCLUDE_DIR="$usr/include/hdf5/serial" \
  -DHDF5_C_LIBRARY_hdf5="$multiarch/hdf5/serial/libhdf5.so" \
  -DHDF5_CXX_LIBRARY_hdf5="$multiarch/hdf5/serial/libhdf5.so" \
  -DHDF5_CXX_LIBRARY_hdf5_cpp="$multiarch/hdf5/serial/libhdf5_cpp.so" \
  -DZLIB_ROOT="$usr" "$@"
# GRAPHMAE2_TARGETS="graphmae2-train ..." builds only those.
cmake --build "$build" -j"$(nproc)" ${GRAPHMAE2_TARGETS:+--target $GRAPHMAE2_TARGETS}
echo "export LD_LIBRARY_PATH=$LD_LIBRARY_PATH" | tee "$build/deps.env"

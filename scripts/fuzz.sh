#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/fuzz_*.cpp) with clang + ASan + UBSan and runs each one for a
# fixed number of inputs from a small seed corpus. Installs clang, libclang-rt-14-dev and libomp-14-dev if missing.
#
#   scripts/fuzz.sh [--runs N] [--only T1,T2] [--max-len BYTES] [--build-dir DIR] [--torch-prefix DIR] [--no-install]
#
# The inputs kept in tests/fixtures/fuzz/<target>/ (past crashes) join the seeds. A crash, a leak, an input over
# 20 s or 2 GiB leaves its input in DIR/fuzz-artifacts/<target>/ and makes this script exit non-zero; copy it to
# tests/fixtures/fuzz/<target>/ once fixed (test_datasets replays them). --only pickle,npz runs some targets.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

runs=20000; max_len=8192; only=pickle,csv,npz,ogb,hdf5; build_dir=build-fuzz; install=1; torch_prefix="${GRAPHMAE2_TORCH_PREFIX:-}"
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift ;;
    --max-len) max_len="$2"; shift ;;
    --build-dir) build_dir="$2"; shift ;;
    --torch-prefix) torch_prefix="$2"; shift ;;
    --no-install) install=0 ;;
    --only) only="$2"; shift ;;
    *) echo "fuzz.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
  shift
done

if [ "$install" = 1 ]; then
  missing=()
  command -v clang++ >/dev/null || missing+=(clang)
  for pkg in libclang-rt-14-dev libomp-14-dev; do  # sanitizer runtimes; clang's OpenMP, which the build finds
    dpkg-query -W -f='${Status}' $pkg 2>/dev/null | grep -q "install ok installed" || missing+=($pkg)
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing ${missing[*]}"
    sudo_cmd=(); [ "$(id -u)" != 0 ] && sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
fi
if [ -z "$torch_prefix" ]; then
  torch_prefix=$(.venv/bin/python -c "import torch.utils; print(torch.utils.cmake_prefix_path)" 2>/dev/null) || {
    echo "fuzz.sh: no LibTorch found: run scripts/build.sh first, or pass --torch-prefix DIR" >&2; exit 1; }
fi

generator=(); command -v ninja >/dev/null && [ ! -f "$build_dir/CMakeCache.txt" ] && generator=(-G Ninja)
echo "== configuring $build_dir with clang"
mkdir -p "$build_dir"
cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_PREFIX_PATH="$torch_prefix" -DGRAPHMAE2_FUZZ=ON \
  > "$build_dir/configure.log" 2>&1 || { cat "$build_dir/configure.log"; exit 1; }
targets=(fuzz_pickle fuzz_csv fuzz_npz fuzz_ogb fuzz_hdf5)
echo "== building ${targets[*]}"
cmake --build "$build_dir" -j "$(nproc)" --target "${targets[@]}"

# Seeds: small valid inputs of each format (the real Planetoid label pickles, hand-made CSV and npz).
seeds="$build_dir/fuzz-seeds"
rm -rf "$seeds"; mkdir -p "$seeds"/{pickle,csv,npz,ogb,hdf5}
for f in ind.cora.y ind.citeseer.y ind.cora.x; do
  [ -f ../shared/datasets/planetoid/$f ] && cp ../shared/datasets/planetoid/$f "$seeds/pickle/"
done
python3 - "$seeds" <<'PY'
import collections, pickle, struct, sys, zipfile
seeds = sys.argv[1]
d = collections.defaultdict(list, {0: [1, 2], 1: [0], 2: [0, 0]})
open(f"{seeds}/pickle/graph.pkl", "wb").write(pickle.dumps(d, protocol=2))
open(f"{seeds}/csv/edges.csv", "w").write("0,1\n1,2\r\n2,0\n")
open(f"{seeds}/csv/feat.csv", "w").write("0.5,1e-3,-2\n1,2,3\n")
open(f"{seeds}/csv/labels.csv", "w").write("3\nnan\n2.0\n")
def npy(descr, shape, raw):
    head = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, repr(tuple(shape)))
    head += " " * (63 - (10 + len(head)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(head)) + head.encode() + raw
a = npy("<i8", (2, 2), struct.pack("<4q", 0, 1, 1, 0))
b = npy("<f2", (3,), struct.pack("<3H", 0x3c00, 0, 0xbc00))
open(f"{seeds}/npz/a.npy", "wb").write(a)
for name, method in (("stored.npz", zipfile.ZIP_STORED), ("deflate.npz", zipfile.ZIP_DEFLATED)):
    with zipfile.ZipFile(f"{seeds}/npz/{name}", "w", method) as z:
        z.writestr("edge_index.npy", a)
        z.writestr("x.npy", b)
PY

status=0
for t in ${only//,/ }; do
  corpus="$build_dir/fuzz-corpus/$t"; artifacts="$build_dir/fuzz-artifacts/$t/"
  mkdir -p "$corpus" "$artifacts"
  echo "== fuzz_$t: $runs runs (max_len $max_len)"
  kept=(); [ -d "tests/fixtures/fuzz/$t" ] && kept=("tests/fixtures/fuzz/$t")
  if ! "$build_dir/bin/fuzz_$t" -runs="$runs" -max_len="$max_len" -artifact_prefix="$artifacts" -timeout=20 \
       -rss_limit_mb=2048 -print_final_stats=1 "$corpus" "$seeds/$t" "${kept[@]}" > "$build_dir/fuzz_$t.log" 2>&1; then
    echo "fuzz_$t FAILED: see $build_dir/fuzz_$t.log and $artifacts"; status=1
  fi
  grep -E "^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)|Done [0-9]+ runs" "$build_dir/fuzz_$t.log" || true
done
exit $status

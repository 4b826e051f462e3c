#!/usr/bin/env bash
# Sets up the peer reference for GraphMAE2's local-clustering (LC) ego graphs:
# the real `localgraphclustering` 0.6.1 from PyPI, in its own venv, with its
# C++ library rebuilt with -O3. Idempotent: a second run only checks.
#
#   bash benchmarks/peers/lc_setup.sh            # venv at benchmarks/peers/.venv-lc
#   LC_VENV=/tmp/venv-lc bash benchmarks/peers/lc_setup.sh
#   PYTHON=python3.11 bash benchmarks/peers/lc_setup.sh
#
# Then: benchmarks/peers/.venv-lc/bin/python benchmarks/peers/lc_reference.py --help
#
# Why not a plain `pip install localgraphclustering==0.6.1`:
#  * Its metadata requires the `sklearn` PyPI name, a deprecated dummy package
#    whose install fails on purpose, plus matplotlib/pandas/plotly/... So we
#    install the package with --no-deps and then exactly what
#    `from localgraphclustering import *` (what GraphMAE2 does) imports:
#    numpy, scipy, networkx, pandas, matplotlib, scikit-learn, joblib, plotly;
#    and h5py for our fixtures.
#  * The wheel (py2.py3-none-any) ships a prebuilt Linux `libgraph.so` dated
#    Feb 2018, built unoptimised (-g, no -O) from older sources: it lacks
#    symbols that the 0.6.1 Python side binds at import time
#    (SimpleLocal_weighted*, MQI_weighted*, triangleclusters*, set_scores*,
#    proxl1PRrand*), so the package does not even import with it on Linux,
#    and it would not time the sources the package ships anyway. We rebuild
#    libgraph.so from the package's own bundled C++ sources (src/lib, the
#    bundled Makefile's library objects) with -O3 -std=c++11 -fPIC (one
#    object, SimpleLocal_c_interface.o, stays -O0: see the build step).
#    No -ffast-math / -march: IEEE double results are the same as at -O0,
#    only faster. The wheel's original is kept as libgraph.so.wheel-2018.
#    (The wheel's *.o files are Mach-O, from a macOS build: they are not used.)
#  * The package uses the `imp` module, removed in Python 3.12: use <= 3.11.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${LC_VENV:-$HERE/.venv-lc}"
PYTHON="${PYTHON:-python3}"
LGC_VERSION="0.6.1"
CXXFLAGS_LC="-O3 -std=c++11 -fPIC -w"
STAMP_TEXT="localgraphclustering $LGC_VERSION libgraph.so rebuilt: g++ $CXXFLAGS_LC (SimpleLocal_c_interface.o -O0)"

pyver_ok() {
  "$1" -c 'import sys; sys.exit(0 if (3, 7) <= sys.version_info[:2] <= (3, 11) else 1)'
}

if [ ! -x "$VENV/bin/python" ]; then
  if ! pyver_ok "$PYTHON"; then
    echo "lc_setup: $PYTHON is $("$PYTHON" -V 2>&1); localgraphclustering 0.6.1 needs Python 3.7..3.11 (it imports 'imp'). Set PYTHON=." >&2
    exit 1
  fi
  echo "lc_setup: creating venv $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
pyver_ok "$PY" || { echo "lc_setup: venv python $("$PY" -V) is too new (needs <= 3.11)" >&2; exit 1; }

# 1. packages (pip is a no-op when they are there)
if ! "$PY" -c "import importlib.metadata as m, sys; sys.exit(0 if m.version('localgraphclustering') == '$LGC_VERSION' else 1)" 2>/dev/null; then
  "$PY" -m pip install --quiet --upgrade pip
  "$PY" -m pip install --quiet --no-deps "localgraphclustering==$LGC_VERSION"
fi
"$PY" -m pip install --quiet numpy scipy h5py networkx pandas matplotlib scikit-learn joblib plotly

# 2. rebuild libgraph.so with -O3 from the package's bundled sources
PKG="$("$PY" -c 'import importlib.util as u; print(u.find_spec("localgraphclustering").submodule_search_locations[0])')"
LIBDIR="$PKG/src/lib"
SO="$LIBDIR/graph_lib_test/libgraph.so"
STAMP="$LIBDIR/graph_lib_test/libgraph.so.stamp"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$STAMP_TEXT" ] && [ -f "$SO" ]; then
  echo "lc_setup: libgraph.so already rebuilt ($STAMP_TEXT)"
else
  [ -f "$SO.wheel-2018" ] || cp -p "$SO" "$SO.wheel-2018"
  BUILD="$(mktemp -d /tmp/lc-libgraph.XXXXXX)"
  trap 'rm -rf "$BUILD"' EXIT
  cp -r "$LIBDIR/." "$BUILD/"
  # the wheel's .o files are Mach-O (macOS) leftovers: build everything anew
  find "$BUILD" -name '*.o' -delete
  rm -f "$BUILD/graph_lib_test/libgraph.so" "$BUILD/graph_lib_test/libgraph.dylib"
  echo "lc_setup: building libgraph.so with -O3 (about 30 s on 1 core)"
  # SimpleLocal_weighted_c_interface.o calls graph<>::assemble_graph, a
  # template member that is only instantiated in SimpleLocal_c_interface.o
  # (the *_c_interface.cpp files #include the algorithm .cpp files). At -O0
  # that object emits it as a weak symbol; at -O3 g++ only keeps local
  # .constprop clones, so dlopen fails ("undefined symbol ..assemble_graph..").
  # So SimpleLocal_c_interface.o keeps the bundled Makefile's -O0 (GraphMAE2
  # never calls SimpleLocal); everything else, aclpagerank.o included, is -O3.
  nice make -s -C "$BUILD/graph_lib_test" CXX="${CXX:-g++}" CXXFLAGS="-O0 -std=c++11 -fPIC -w" ../SimpleLocal_c_interface.o
  nice make -s -C "$BUILD/graph_lib_test" CXX="${CXX:-g++}" CXXFLAGS="$CXXFLAGS_LC" libgraph.so
  cp "$BUILD/graph_lib_test/libgraph.so" "$SO.new"
  mv "$SO.new" "$SO"
  echo "$STAMP_TEXT" > "$STAMP"
fi

# 3. smoke test: the package imports and its C++ ACL push runs
"$PY" - <<'EOF'
import warnings
warnings.filterwarnings("ignore")
import numpy as np
from scipy.sparse import csr_matrix
from localgraphclustering import GraphLocal, approximate_PageRank
import importlib.metadata as m
src = np.array([0, 1, 1, 2, 2, 3, 0, 1, 2, 3]); dst = np.array([1, 0, 2, 1, 3, 2, 0, 1, 2, 3])
g = GraphLocal.from_sparse_adjacency(csr_matrix((np.ones(10), (src, dst)), shape=(4, 4)))
node, ppr = approximate_PageRank(g, [0], iterations=1000, method="acl", normalize=False)
assert node[0] == 0 and len(node) == 4 and ppr[0] > 0, (node, ppr)
print("lc_setup: ok:", ", ".join(f"{p} {m.version(p)}" for p in
      ["localgraphclustering", "numpy", "scipy", "h5py"]))
EOF

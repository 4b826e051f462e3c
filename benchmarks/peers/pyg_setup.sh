#!/usr/bin/env bash
# PyG peer environment: torch_geometric 2.8.1 + torch 2.13.0 (CPU) in its own venv.
#
# PyG's neighbour sampler needs a compiled backend: pyg-lib (not on PyPI) or
# torch-sparse (a source-only sdist on PyPI; compiles for a long time on 2 cores).
# By default this script only installs torch + torch_geometric (cheap, idempotent)
# and reports whether a sampler backend is importable. Set PYG_TRY_BACKENDS=1 to
# make the one-off attempt at pyg-lib and torch-sparse (time-limited, niced),
# logging to $PYG_LOG (default /tmp/pyg_backend_try.log).
#
# Usage: benchmarks/peers/pyg_setup.sh [VENV_DIR]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${1:-${PYG_VENV:-$here/.venv-pyg}}"
log="${PYG_LOG:-/tmp/pyg_backend_try.log}"
limit="${PYG_TRY_TIMEOUT:-1500}"
py="${PYTHON:-python3}"

if [[ ! -x "$venv/bin/python" ]]; then
  "$py" -m venv "$venv"
fi
vpy="$venv/bin/python"
"$vpy" -m pip install -q --upgrade pip setuptools wheel >/dev/null

if ! "$vpy" -c 'import torch, torch_geometric, sys; sys.exit(0 if torch.__version__.startswith("2.13.0") and torch_geometric.__version__ == "2.8.1" else 1)' 2>/dev/null; then
  # torch 2.13.0: pip picks the local 2.13.0+cpu wheel when one is on the find-links path.
  "$vpy" -m pip install -q "torch==2.13.0" "torch_geometric==2.8.1" "numpy" "h5py" "psutil" "scipy"
fi
"$vpy" -c 'import torch, torch_geometric; print("pyg venv:", "torch", torch.__version__, "torch_geometric", torch_geometric.__version__)'

backend() {
  "$vpy" - <<'PY'
import importlib
found = []
import importlib.util, glob, os
for m in ("pyg_lib", "torch_sparse"):
    try:
        importlib.import_module(m); found.append(m)
    except Exception as e:  # noqa: BLE001
        spec = importlib.util.find_spec(m)
        if m == "torch_sparse" and spec and glob.glob(os.path.join(list(spec.submodule_search_locations)[0], "_neighbor_sample_cpu*.so")):
            found.append(f"torch_sparse compiled ops only (package import fails: {e})")
print("; ".join(found) if found else "none")
PY
}

if [[ "${PYG_TRY_BACKENDS:-0}" == "1" ]]; then
  {
    echo "== $(date -Is) pyg sampler backend attempt (timeout ${limit}s each, nice 19)"
    echo "-- pip download --no-deps pyg-lib"
    t0=$(date +%s); set +e
    timeout "$limit" nice -n 19 "$vpy" -m pip download --no-deps -d /tmp/pyg-dl pyg-lib; rc=$?
    echo "rc=$rc after $(( $(date +%s) - t0 ))s"
    echo "-- pip install pyg-lib"
    t0=$(date +%s)
    timeout "$limit" nice -n 19 "$vpy" -m pip install pyg-lib; rc=$?
    echo "rc=$rc after $(( $(date +%s) - t0 ))s"
    echo "-- pip install torch-sparse (source build, no build isolation so it sees torch 2.13)"
    t0=$(date +%s)
    MAX_JOBS=1 timeout "$limit" nice -n 19 "$vpy" -m pip install -v --no-build-isolation torch-sparse; rc=$?
    echo "rc=$rc after $(( $(date +%s) - t0 ))s"
    set -e
    echo "== $(date -Is) done"
  } >>"$log" 2>&1
  echo "backend attempt logged to $log"
fi
echo "pyg sampler backend: $(backend)"

#!/usr/bin/env bash
# DGL peer environment: dgl 2.1.0 + torch 2.2.1 in its own venv. Idempotent.
#
# torch 2.2.1: the CPU wheel from the PyTorch index when that host is reachable;
# otherwise plain PyPI (whose Linux wheel is the CUDA 12.1 build and pulls the
# nvidia-* runtime wheels, ~2.5 GB; it runs fine on a CPU-only machine).
#
# Usage: benchmarks/peers/dgl_setup.sh [VENV_DIR]   (default benchmarks/peers/.venv-dgl)
set -euo pipefail
export DGLBACKEND=pytorch
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${1:-${DGL_VENV:-$here/.venv-dgl}}"
py="${PYTHON:-python3}"

check() {
  "$venv/bin/python" - <<'PY' 2>/dev/null
import sys
import torch, dgl, numpy, pandas, pydantic, yaml, h5py, psutil  # noqa: F401
import dgl.sampling, dgl.dataloading  # noqa: F401
ok = torch.__version__.startswith("2.2.1") and dgl.__version__ == "2.1.0" and numpy.__version__ < "2"
sys.exit(0 if ok else 1)
PY
}

if [[ -x "$venv/bin/python" ]] && check; then
  echo "dgl venv ok: $venv"
else
  [[ -x "$venv/bin/python" ]] || "$py" -m venv "$venv"
  vpy="$venv/bin/python"
  "$vpy" -m pip install -q --upgrade pip setuptools wheel
  cpu_index="https://download.pytorch.org/whl/cpu"
  if timeout 15 "$vpy" -c "import urllib.request,sys; urllib.request.urlopen('$cpu_index/torch/', timeout=10)" 2>/dev/null; then
    echo "torch 2.2.1: CPU wheel from $cpu_index"
    "$vpy" -m pip install -q "torch==2.2.1" --index-url "$cpu_index" --extra-index-url https://pypi.org/simple
  else
    echo "torch 2.2.1: PyTorch CPU index unreachable; using the default index (CUDA build, large)"
    "$vpy" -m pip install -q "torch==2.2.1"
  fi
  "$vpy" -m pip install -q "dgl==2.1.0" "torch==2.2.1" "numpy<2" "pandas<2.3" pydantic pyyaml h5py psutil scipy
  "$vpy" -m pip install -q --no-deps "torchdata==0.7.1"
  if ! check; then
    echo "dgl venv check failed; details:" >&2
    "$vpy" -c 'import torch, dgl, dgl.sampling, dgl.dataloading, numpy; print(torch.__version__, dgl.__version__, numpy.__version__)' >&2
    exit 1
  fi
fi
"$venv/bin/python" -c 'import torch, dgl, numpy; import dgl.sampling; print("dgl venv:", "dgl", dgl.__version__, "torch", torch.__version__, "numpy", numpy.__version__)'

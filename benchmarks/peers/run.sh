#!/usr/bin/env bash
# Side-by-side sampler speeds: the toolkit (build/bin/bench_samplers, when built) vs DGL 2.1.0
# (and PyG when benchmarks/peers/pyg_samplers.py exists), on the same graph files; then a
# markdown table (benchmarks/peers/table.py).
#
#   benchmarks/peers/run.sh [--graph FILE.h5]... [--ego-file EGO.h5] [--threads "1 2"]
#                           [--batches K] [--out RESULTS.jsonl] [--make-small] [--make-products]
#                           [--no-lc] [--lc-seeds 2000] [--only ours,dgl,pyg,lc]
#
# Without --graph it makes (once) a 100k-node power-law graph, $PEERS_DATA/pl100k.h5
# (default PEERS_DATA=/tmp/peers_graphs); --make-products also makes pl_products.h5
# (2.45M nodes, ~62M directed edges, ~520 MB) and benchmarks it. Graph files: HDF5 with
# graph/indptr, graph/indices (int64 CSR, rows = destinations, indices = their sources).
# Without --ego-file, each graph G gets (once) a node-set file G.sets512.h5 (make_node_sets.py:
# 512 random 1/2-hop sets of 256 nodes) beside it, so that every peer batches the same sets.
#
# Per graph and thread count it runs, each writing JSON lines to the results file:
#   build/bin/bench_samplers --graph G --threads N --json [--batches K --ego-file E --lc-seeds S]
#        $OURS_EXTRA_ARGS   (if that file exists; the bracketed flags when the binary knows them)
#   .venv-dgl/bin/python dgl_samplers.py --graph G --threads N [--batches K] --ego-file E
#   .venv-pyg/bin/python pyg_samplers.py ...                                (if that script exists)
# and once per graph, if lc_setup.sh and lc_reference.py exist:
#   lc_setup.sh; .venv-lc/bin/python lc_reference.py bench --graph G --seeds S   (S: --lc-seeds)
# DGL and PyG run with OMP_WAIT_POLICY=PASSIVE (their scripts' default; see dgl_samplers.py).
# Stderr of every step goes to RESULTS.log.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
data="${PEERS_DATA:-/tmp/peers_graphs}"
graphs=()
ego=""
threads="1 2"
batches=""
out=""
make_small=0
make_products=0
do_lc=1
lc_seeds=2000
only="ours,dgl,pyg,lc"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --graph) graphs+=("$2"); shift 2 ;;
    --ego-file) ego="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --batches) batches="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --make-small) make_small=1; shift ;;
    --make-products) make_products=1; shift ;;
    --no-lc) do_lc=0; shift ;;
    --lc-seeds) lc_seeds="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
want() { [[ ",$only," == *",$1,"* ]]; }
want lc || do_lc=0
[[ -n "$out" ]] || out="/tmp/peers_results/results-$(date +%Y%m%d-%H%M%S).jsonl"
mkdir -p "$(dirname "$out")"
log="${out%.jsonl}.log"
: >>"$out"
echo "results: $out   log: $log"

# 1. environments
"$here/dgl_setup.sh" 2> >(grep -v 'WARNING: Location' >&2)
dgl_py="${DGL_VENV:-$here/.venv-dgl}/bin/python"
pyg_py=""
if ! want pyg; then
  :
elif [[ -f "$here/pyg_samplers.py" ]]; then
  pyg_out="$("$here/pyg_setup.sh" 2> >(grep -v 'WARNING: Location' >&2))"
  echo "$pyg_out"
  if grep -q "^pyg sampler backend: none" <<<"$pyg_out"; then
    echo "pyg: skipped (no sampler backend; PYG_TRY_BACKENDS=1 benchmarks/peers/pyg_setup.sh builds torch-sparse, ~16+ min)"
  else
    pyg_py="${PYG_VENV:-$here/.venv-pyg}/bin/python"
  fi
else
  echo "pyg: skipped (no pyg_samplers.py: PyG's neighbour sampler needs pyg-lib or torch-sparse; see pyg_setup.sh)"
fi
lc_ok=0
if [[ $do_lc == 1 && -f "$here/lc_setup.sh" && -f "$here/lc_reference.py" ]]; then
  bash "$here/lc_setup.sh" && lc_ok=1 || echo "lc_setup.sh failed; LC reference skipped" >&2
fi

# 2. graphs
make_graph() {  # name args...
  local f="$data/$1.h5"; shift
  if [[ ! -f "$f" ]]; then
    mkdir -p "$data"
    echo "making $f" >&2
    "$dgl_py" "$here/make_powerlaw_graph.py" --out "$f" "$@" >&2
  fi
  graphs+=("$f")
}
if [[ ${#graphs[@]} -eq 0 || $make_small == 1 ]]; then
  make_graph pl100k --nodes 100000 --mean-degree 25 --max-degree 3000
fi
if [[ $make_products == 1 ]]; then
  make_graph pl_products --nodes 2450000 --mean-degree 25.3 --max-degree 20000
fi

# 3. runs
ours="$root/build/bin/bench_samplers"
knows() { grep -q -a -e "$1" "$ours" 2>/dev/null; }  # does the binary mention this flag?
run_step() {  # label cmd...
  echo "== $1: ${*:2}" | tee -a "$log" >&2
  local t0=$SECONDS
  if "${@:2}" >>"$out" 2>>"$log"; then
    echo "   done in $((SECONDS - t0))s" >&2
  else
    echo "   FAILED (rc=$?) after $((SECONDS - t0))s; see $log" | tee -a "$log" >&2
  fi
}
for g in "${graphs[@]}"; do
  [[ -f "$g" ]] || { echo "no such graph file: $g" >&2; exit 2; }
  sets="$ego"
  if [[ -z "$sets" ]]; then
    sets="${g%.h5}.sets512.h5"
    if [[ ! -f "$sets" || "$sets" -ot "$g" ]]; then
      "$dgl_py" "$here/make_node_sets.py" --graph "$g" --out "$sets"
    fi
  fi
  peer_args=(--ego-file "$sets")
  [[ -n "$batches" ]] && peer_args+=(--batches "$batches")
  ours_args=()
  if [[ -x "$ours" ]]; then
    [[ -n "$batches" ]] && knows --batches && ours_args+=(--batches "$batches")
    knows --ego-file && ours_args+=(--ego-file "$sets")
    knows --lc-seeds && ours_args+=(--lc-seeds "$lc_seeds")
  fi
  for n in $threads; do
    if ! want ours; then
      :
    elif [[ -x "$ours" ]]; then
      # shellcheck disable=SC2086
      run_step "ours $n threads" "$ours" --graph "$g" --threads "$n" --json "${ours_args[@]}" ${OURS_EXTRA_ARGS:-}
    else
      echo "ours: $ours not built; skipped" >&2
    fi
    want dgl && run_step "dgl $n threads" "$dgl_py" "$here/dgl_samplers.py" --graph "$g" --threads "$n" "${peer_args[@]}"
    if [[ -n "$pyg_py" ]]; then
      run_step "pyg $n threads" "$pyg_py" "$here/pyg_samplers.py" --graph "$g" --threads "$n" "${peer_args[@]}"
    fi
  done
  if [[ $lc_ok == 1 ]]; then
    run_step "lc reference" "${LC_VENV:-$here/.venv-lc}/bin/python" "$here/lc_reference.py" bench \
      --graph "$g" --seeds "$lc_seeds"
  fi
done

# 4. table
echo
echo "machine: $(nproc)-core $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
python3 "$here/table.py" "$out"

#!/usr/bin/env bash
# Issue 13's side-by-side epoch table: a full-batch GraphMAE2 pre-training epoch with the reference configs
# (configs/<dataset>.yaml, the reference's own numbers), ours against the reference's own code on DGL 2.1.0 and
# against the time of the step's dense products. Time it on an otherwise idle machine.
#
#   benchmarks/peers/epoch_table.sh [--reference DIR] [--datasets "cora citeseer"] [--threads "1 2"]
#                                   [--epochs 20] [--rounds 2] [--out RESULTS.jsonl]
#
# --reference: a checkout of THUDM/GraphMAE2 (default: cloned once into $PEERS_DATA/GraphMAE2 from GitHub).
# Per dataset, thread count and round, one after the other (interleaved, so drift hits both alike):
#   build/bin/bench_epoch_gemm --dataset D --threads N --epochs E    (ours: graphmae2-train's loop, plus the
#                                                                     step's recorded dense products and the
#                                                                     bench_blas rate, all in the same run)
#   .venv-dgl/bin/python reference_epoch.py --reference R --dataset D --threads N --epochs E
# then the markdown table (epoch_table.py: medians over the rounds). Both inherit OMP_WAIT_POLICY and the rest of
# the environment; the JSON lines record it. Stderr goes to RESULTS.log.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
data="${PEERS_DATA:-/tmp/peers_graphs}"
reference=""
datasets="cora citeseer"
threads="1 2"
epochs=20
rounds=2
out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --reference) reference="$2"; shift 2 ;;
    --datasets) datasets="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --epochs) epochs="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "epoch_table.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
ours="$root/build/bin/bench_epoch_gemm"
[[ -x "$ours" ]] || { echo "epoch_table.sh: $ours is missing: bash scripts/build.sh --benchmarks" >&2; exit 1; }
if [[ -z "$reference" ]]; then
  reference="$data/GraphMAE2"
  [[ -d "$reference/.git" ]] || git clone -q https://github.com/THUDM/GraphMAE2 "$reference"
fi
[[ -f "$reference/main_full_batch.py" ]] || { echo "epoch_table.sh: $reference is not a GraphMAE2 checkout" >&2; exit 1; }
"$here/dgl_setup.sh" >&2
[[ -n "$out" ]] || out="/tmp/peers_results/epochs-$(date +%Y%m%d-%H%M%S).jsonl"
mkdir -p "$(dirname "$out")"
log="${out%.jsonl}.log"
for d in $datasets; do
  for t in $threads; do
    for r in $(seq "$rounds"); do
      echo "== $d, $t thread(s), round $r" >&2
      (cd "$root" && "$ours" --dataset "$d" --threads "$t" --epochs "$epochs") >>"$out" 2>>"$log"
      "$here/.venv-dgl/bin/python" "$here/reference_epoch.py" --reference "$reference" --dataset "$d" \
        --threads "$t" --epochs "$epochs" --planetoid "$root/../shared/datasets/planetoid" >>"$out" 2>>"$log"
    done
  done
done
echo "results: $out" >&2
python3 "$here/epoch_table.py" "$out"

#!/usr/bin/env bash
# Everything to check on a GPU machine, as one command (its run time is in docs/performance.md):
# the build, the CUDA tests, the GPU benchmarks and the runs that need a GPU's speed. Logs and summary.log go to
# OUT_DIR. Needs the .deb files of scripts/build-from-debs.sh in DEB_DIR and Cora/CiteSeer's Planetoid files in
# DATA_DIR/planetoid (the lent machine sees only the repository).
#
#   bash scripts/gpu-checks.sh                       on the GPU machine (OUT_DIR defaults to $OUT, else ./gpu-out)
#   PARTS="tests layer" bash scripts/gpu-checks.sh    only some parts: tests (CUDA tests), layer (one GAT layer:
#     fused, chain and PyG's GATConv in float32, bfloat16 and float16, with kernel profiles), accuracy (LC vs
#     full-batch and the reference Cora config), epoch (Cora epochs, fused vs chain), precision (Cora epochs at
#     matmul_precision highest and high, TF32), arxiv (the arxiv config);
#     TARGETS (the build's targets), CHAIN=0 (no chain layer runs) and PEER_DTYPES (PyG's) trim them further
#   DEVICE=cpu SKIP_BUILD=1 BUILD_DIR=build EPOCHS=2 SEEDS=0-1 ARXIV_NODES=3000 ARXIV_STEPS=2 LAYER_NODES=3000 \
#     REF_EPOCHS=3 TIMING_EPOCHS=3 bash scripts/gpu-checks.sh      a quick dry run of the same steps on a CPU
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT_DIR:-${OUT:-gpu-out}}
mkdir -p "$out"
out=$(cd "$out" && pwd)
device=${DEVICE:-cuda}
build=${BUILD_DIR:-build-gpu}
debs=${DEB_DIR:-.debs}
data=${DATA_DIR:-.gpu-data}
epochs=${EPOCHS:-200}
seeds=${SEEDS:-0-4}
ref_epochs=${REF_EPOCHS:-2000}
arxiv_nodes=${ARXIV_NODES:-169343}
arxiv_steps=${ARXIV_STEPS:-100}
layer_nodes=${LAYER_NODES:-169343}
timing_epochs=${TIMING_EPOCHS:-300}
work=${WORK_DIR:-/tmp/gpu-checks}  # PYTHON: the python3 with torch and torch_geometric (default python3)
parts=" ${PARTS:-tests layer accuracy epoch arxiv} "
mkdir -p "$work"
log() { echo "[+${SECONDS}s] $*" | tee -a "$out/summary.log"; }
part() { [[ "$parts" == *" $1 "* ]]; }

if [ -z "${SKIP_BUILD:-}" ]; then
  log "build ($build)"
  targets=${TARGETS:-test_graph test_models bench_gat_layer}
  if part accuracy || part epoch || part precision || part arxiv; then targets="graphmae2-train graphmae2-data $targets"; fi
  GRAPHMAE2_TARGETS="$targets" \
    bash scripts/build-from-debs.sh "$debs" "$build" -DGRAPHMAE2_TESTS=ON -DGRAPHMAE2_BENCHMARKS=ON \
    -DGRAPHMAE2_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 >"$out/build.log" 2>&1 || {
    log "build failed"
    grep -E "error|Error" "$out/build.log" | head -40
    exit 1
  }
  source "$build/deps.env"
fi
bin=$build/bin
log "built"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a "$out/summary.log"
nproc | sed 's/^/cpus: /' | tee -a "$out/summary.log"

# Accuracy runs (light on the GPU, run side by side; their times are not alone): LC mini-batch vs full-batch
# pre-training at width 256 x 4 heads, and the reference Cora config with the fused attention.
train() { "$bin/graphmae2-train" --device "$device" --no-progress "$@"; }
accuracy() {
  local ds=$1 seed
  "$bin/graphmae2-data" lc "$ds" --no-progress --data-root "$data" --ego-size 64 --seeds split --out "$work/$ds-lc64.h5" >"$work/$ds-lc.log" 2>&1
  train --dataset "$ds" --data-root "$data" --config "configs/$ds.yaml" --num_hidden 256 --num_heads 4 \
    --max_epoch "$epochs" --seeds "$seeds" --num_threads 2 --out "$work/$ds-full" >"$work/$ds-full.log" 2>&1 &
  for seed in $(seq "${seeds%-*}" "${seeds#*-}"); do
    train --dataset "$ds" --data-root "$data" --config "configs/$ds.yaml" --num_hidden 256 --num_heads 4 \
      --max_epoch "$epochs" --sampler lc --ego_size 64 --batch_size 512 --lc_file "$work/$ds-lc64.h5" \
      --num_threads 1 --loader_workers 1 --seeds "$seed" --out "$work/$ds-lc-seed$seed" >"$work/$ds-lc-seed$seed.log" 2>&1 &
  done
  wait
}
if part accuracy; then
  log "accuracy runs started"
  accuracy cora &
  accuracy citeseer &
  for seed in 0 1; do
    train --dataset cora --data-root "$data" --config configs/cora.yaml --max_epoch "$ref_epochs" --seeds "$seed" \
      --num_threads 2 --out "$work/cora-ref-seed$seed" >"$work/cora-ref-seed$seed.log" 2>&1 &
  done
fi

# The synthetic ogbn-arxiv-size graph in OGB's layout and its ego-graphs (CPU work, beside the runs above).
arxiv_root=$work/ogbroot
part arxiv && (
  "$bin/graphmae2-data" export-ogb "synthetic:nodes=$arxiv_nodes,degree=14,classes=40,dim=128,homophily=0.6,seed=0,noise=4,train=0.537,val=0.176,powerlaw=2.3,maxdegree=5000" \
    "$arxiv_root/ogbn_arxiv" && \
  "$bin/graphmae2-data" lc ogbn-arxiv --no-progress --data-root "$arxiv_root" --ego-size 256 --seeds all \
    --out "$work/arxiv-lc256.h5"
) >"$work/arxiv-prep.log" 2>&1 &
part layer && "$bin/bench_gat_layer" --synthetic "synthetic:nodes=$layer_nodes,degree=14,classes=40,dim=8,homophily=0.6,seed=0,powerlaw=2.3,maxdegree=5000" \
  --write-graph "$work/layer-graph.h5" >"$work/layer-graph.log" 2>&1

if part tests; then
  log "tests"
  {
    "$bin/test_graph" --gtest_brief=1
    [ -x "$bin/test_models" ] && "$bin/test_models" --gtest_brief=1 --gtest_filter='*Cuda*:*CUDA*:GATConv*:GAT.*'
  } >"$out/tests.log" 2>&1
  grep -E "PASSED|FAILED|SKIPPED \]" "$out/tests.log" | head -20 | tee -a "$out/summary.log"
fi

part accuracy && log "waiting for the accuracy runs (until +${ACC_DEADLINE:-430}s)"
while [ -n "$(jobs -rp)" ] && [ "$SECONDS" -lt "${ACC_DEADLINE:-430}" ]; do sleep 2; done
if [ -n "$(jobs -rp)" ]; then
  log "deadline: stopping $(jobs -rp | wc -l) unfinished job(s)"
  kill $(jobs -rp) 2>/dev/null
  pkill -f graphmae2-train 2>/dev/null
  sleep 1
fi
part accuracy && log "accuracy runs done"

# Timed, alone: one GAT layer (fused, chain, PyG's GATConv with the machine's torch), the Cora epoch (fused vs
# chain), the arxiv config at full width.
layer() {
  "$bin/bench_gat_layer" --graph "$work/layer-graph.h5" --device "$device" --heads 4 --threads "$(nproc)" "$@" 2>&1 |
    tee -a "$out/summary.log"
}
if part layer; then
  # Kernel profiles and half precision are CUDA-only (a DEVICE=cpu dry run skips them).
  profile=() half_dtypes=()
  [ "$device" != cpu ] && profile=(--profile) && half_dtypes=(bfloat16 float16)
  for width in 64 256; do
    layer --out "$width" --attention fused --repeats 10 "${profile[@]}"
    [ "${CHAIN:-1}" = 1 ] && layer --out "$width" --attention chain --repeats 10
    for dtype in "${half_dtypes[@]}"; do layer --out "$width" --dtype "$dtype" --repeats 10 "${profile[@]}"; done
    for dtype in ${PEER_DTYPES:-float32 bfloat16 float16}; do
      "${PYTHON:-python3}" benchmarks/peers/gat_layer.py --peer pyg --graph "$work/layer-graph.h5" --device "$device" --heads 4 \
        --out "$width" --dtype "$dtype" --repeats 10 --threads "$(nproc)" 2>&1 | tail -3 | tee -a "$out/summary.log"
    done
  done
fi
if part epoch; then
  for attention in true false; do
    train --dataset cora --data-root "$data" --config configs/cora.yaml --max_epoch "$timing_epochs" --seeds 0 --no-eval --fused_attention "$attention" \
      --out "$work/cora-epoch-$attention" >"$work/cora-epoch-$attention.log" 2>&1
  done
fi
if part precision; then
  for precision in highest high; do
    train --dataset cora --data-root "$data" --config configs/cora.yaml --max_epoch "$timing_epochs" --seeds 0 --no-eval \
      --matmul_precision "$precision" --out "$work/cora-precision-$precision" >"$work/cora-precision-$precision.log" 2>&1
  done
fi
if part arxiv; then
  log "arxiv config, full width, $arxiv_steps steps"
  train --dataset ogbn-arxiv --data-root "$arxiv_root" --config configs/ogbn-arxiv.yaml --lc_file "$work/arxiv-lc256.h5" \
    --loader_workers 8 --max_steps "$arxiv_steps" --no-eval --seeds 0 --out "$work/arxiv-full" 2>&1 |
    tee "$work/arxiv-full.log" | grep -E "stopped at|peak GPU|error" | tee -a "$out/summary.log"
fi

log "summary"
python3 - "$work" <<'PY' | tee -a "$out/summary.log"
import collections, json, os, re, statistics, sys
work = sys.argv[1]
groups = collections.defaultdict(lambda: {"acc": [], "secs": [], "epoch": [], "warn": 0})
for run in sorted(os.listdir(work)):
    path = os.path.join(work, run)
    group = groups[re.sub(r"-seed\d+$", "", run)]
    result = os.path.join(path, "result.json")
    if os.path.isfile(result):
        r = json.load(open(result))
        group["protocol"] = r["protocol"]
        group["acc"] += r["accuracies"]
        group["secs"] += r["train_seconds"]
        group["warn"] += len(r["warnings"])
    metrics = os.path.join(path, "metrics.jsonl")
    if os.path.isfile(metrics):
        group["epoch"] += [json.loads(l)["epoch_seconds"] for l in open(metrics) if '"epoch_seconds"' in l]
for name, g in groups.items():
    if not g["acc"] and not g["epoch"]:
        continue
    acc = g["acc"]
    line = f"{name}: {g.get('protocol', '')} "
    if acc:
        std = statistics.pstdev(acc) if len(acc) > 1 else 0.0
        line += f"{statistics.mean(acc):.1f} ± {std:.1f} {[round(a, 1) for a in acc]}, train s {[round(s, 1) for s in g['secs']]}, warnings {g['warn']}"
    if g["epoch"]:
        line += f"; median epoch {statistics.median(g['epoch']) * 1000:.2f} ms over {len(g['epoch'])}"
    print(line)
PY
part arxiv && grep -hE "seeds/s|ego-graphs|wrote" "$work/arxiv-prep.log" | tee -a "$out/summary.log"
grep -h "seed .*: test" "$work"/*.log >>"$out/summary.log" 2>/dev/null
(cd "$work" && find . -path ./ogbroot -prune -o \( -name '*.log' -o -name '*.json' -o -name '*.jsonl' \) -print |
  tar -czf "$out/logs.tgz" -T - 2>/dev/null)
log "done"

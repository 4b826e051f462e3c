#!/usr/bin/env python3
"""DGL 2.1.0 sampler speeds on a graph from the toolkit's HDF5 cache layout (peer benchmark).

Run it with the DGL venv (benchmarks/peers/dgl_setup.sh):
  .venv-dgl/bin/python dgl_samplers.py --graph G.h5 --threads 2 [--fanouts 15,10,5] [--batch 1024]
                                       [--batches K] [--ego-file EGO.h5] [--only blocks,hops,induced]

Graph: datasets graph/indptr and graph/indices (int64), a CSR whose rows are destinations and whose
indices are their sources; it becomes a DGL graph through ('csc', (indptr, indices, [])), so DGL's
in-edges of v are exactly row v. All sparse formats are created before any timing.

Figures (one JSON line each, after one untimed warm-up batch):
  what=neighbor_blocks  unit=edges/s, batches/s: NeighborSampler(fanouts).sample_blocks(g, seeds)
        for K batches of `batch` random seeds (numpy default_rng(0), no repeats within a batch);
        edges = sum of the blocks' edges. A batch is one list of len(fanouts) blocks. Note: DGL's
        NeighborSampler defaults to fused=True, which takes sample_neighbors_fused when DGL has more
        than one OpenMP thread and sample_neighbors + to_block otherwise ("path" in the JSON).
  what=neighbor_hops    unit=edges/s: bare dgl.sampling.sample_neighbors, hop by hop with the fanouts
        in the order NeighborSampler uses (reversed list: seeds get the last fanout), no block
        building; the next hop's seeds are the unique sources of the hop's frontier.
  what=induced_batch    unit=sets/s, edges/s: dgl.batch([dgl.node_subgraph(g, s) for s in sets]) for
        `--sets` node sets (default 512) of up to `--set-size` (256) nodes, as GraphMAE2's reference
        loader batches ego graphs. Sets come from --ego-file (HDF5 indptr [S+1], indices, int64; the
        first --sets sets) or else: each random seed plus random 1-hop then 2-hop neighbours.
        edges = edges of the batched graph.
peak_rss_mib is the process's peak RSS so far (getrusage), rss_mib the current one (psutil);
loadavg_1m is the machine's 1-minute load average when the figure is printed (other jobs skew timings).
OMP_WAIT_POLICY is set to PASSIVE unless --omp-wait-policy inherit (see the note at the import).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--graph", required=True, help="HDF5 file with graph/indptr, graph/indices")
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--fanouts", default="15,10,5")
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--batches", type=int, default=20, help="timed batches for the neighbour samplers")
    ap.add_argument("--ego-file", default=None)
    ap.add_argument("--sets", type=int, default=512)
    ap.add_argument("--set-size", type=int, default=256)
    ap.add_argument("--induced-reps", type=int, default=3, help="timed repetitions of the induced batch")
    ap.add_argument("--feat-dim", type=int, default=0,
                    help="attach random float32 node features of this width (copied by node_subgraph)")
    ap.add_argument("--no-fused", action="store_true", help="NeighborSampler(fused=False)")
    ap.add_argument("--only", default="blocks,hops,induced", help="comma list of blocks, hops, induced")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--omp-wait-policy", choices=("passive", "inherit"), default="passive",
                    help="OMP_WAIT_POLICY for this process (default passive; inherit: leave the environment)")
    return ap.parse_args(argv)


ARGS = parse_args()
# Thread counts must be fixed before torch/dgl start their OpenMP pools.
os.environ["OMP_NUM_THREADS"] = str(ARGS.threads)
os.environ["MKL_NUM_THREADS"] = str(ARGS.threads)
os.environ.setdefault("DGLBACKEND", "pytorch")
if ARGS.omp_wait_policy == "passive":
    # DGL's libdgl.so uses the system libgomp and torch its own bundled copy: two OpenMP pools. With
    # the default (spinning) wait policy their idle threads spin against each other, which makes
    # 2 threads on 2 cores 5-30x slower than 1 thread. Passive waiting gives DGL its fair speed.
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import psutil  # noqa: E402
import torch  # noqa: E402
import dgl  # noqa: E402
from dgl.utils import get_num_threads, set_num_threads  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_node_sets import random_sets  # noqa: E402

PEER = f"dgl {dgl.__version__}"


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()}-core {model}"


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def rss_mib() -> float:
    return psutil.Process().memory_info().rss / 2**20


class Reporter:
    def __init__(self, graph_name: str, nodes: int, edges: int, threads: int):
        self.base = {"peer": PEER, "graph": graph_name, "nodes": nodes, "edges": edges, "threads": threads,
                     "machine": machine(), "torch": torch.__version__}

    def emit(self, what: str, seconds: float, count: float, unit: str, **extra) -> None:
        rec = {"peer": self.base["peer"], "what": what, "graph": self.base["graph"],
               "nodes": self.base["nodes"], "edges": self.base["edges"], "threads": self.base["threads"],
               "seconds": round(seconds, 6), "per_s": (count / seconds) if seconds > 0 else None, "unit": unit,
               "peak_rss_mib": round(peak_rss_mib(), 1), "rss_mib": round(rss_mib(), 1),
               "machine": self.base["machine"], "torch": self.base["torch"],
               "loadavg_1m": round(os.getloadavg()[0], 2),
               "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "")}
        rec.update(extra)
        print(json.dumps(rec), flush=True)


def load_graph(path: str):
    with h5py.File(path, "r") as f:
        indptr = np.asarray(f["graph/indptr"][...], dtype=np.int64)
        indices = np.asarray(f["graph/indices"][...], dtype=np.int64)
    return indptr, indices


def ego_sets(path: str, count: int) -> list[np.ndarray]:
    with h5py.File(path, "r") as f:
        ptr = np.asarray(f["indptr"][: count + 1], dtype=np.int64)
        idx = np.asarray(f["indices"][ptr[0]:ptr[-1]], dtype=np.int64) if ptr.size > 1 else np.empty(0, np.int64)
    idx_base = ptr[0]
    return [idx[ptr[i] - idx_base:ptr[i + 1] - idx_base] for i in range(ptr.size - 1)]


def main() -> int:
    args = ARGS
    torch.set_num_threads(args.threads)
    set_num_threads(args.threads)
    dgl.seed(args.seed)
    torch.manual_seed(args.seed)
    fanouts = [int(x) for x in args.fanouts.split(",") if x]
    only = set(args.only.split(","))

    t0 = time.perf_counter()
    indptr, indices = load_graph(args.graph)
    n = indptr.size - 1
    e = int(indices.size)
    g = dgl.graph(("csc", (torch.from_numpy(indptr), torch.from_numpy(indices), torch.empty(0, dtype=torch.int64))),
                  num_nodes=n, idtype=torch.int64)
    g.create_formats_()
    if args.feat_dim > 0:
        g.ndata["feat"] = torch.randn(n, args.feat_dim)
    t_build = time.perf_counter() - t0
    rep = Reporter(os.path.basename(args.graph), n, e, args.threads)
    print(json.dumps({"peer": PEER, "info": "graph built", "graph": os.path.basename(args.graph), "nodes": n,
                      "edges": e, "build_s": round(t_build, 3), "formats": g.formats(),
                      "dgl_threads": get_num_threads(), "torch_threads": torch.get_num_threads(),
                      "peak_rss_mib": round(peak_rss_mib(), 1)}), file=sys.stderr, flush=True)

    rng = np.random.default_rng(args.seed)
    batch = min(args.batch, n)
    seed_batches = [torch.from_numpy(rng.choice(n, size=batch, replace=False).astype(np.int64))
                    for _ in range(args.batches + 1)]  # [0] is the warm-up
    common = {"fanouts": fanouts, "batch": batch, "batches": args.batches}

    if "blocks" in only:
        sampler = dgl.dataloading.NeighborSampler(fanouts, fused=not args.no_fused)
        path = "sample_neighbors_fused" if (not args.no_fused and get_num_threads() > 1) else \
            "sample_neighbors+to_block"
        sampler.sample_blocks(g, seed_batches[0])
        sampled = 0
        t = time.perf_counter()
        for seeds in seed_batches[1:]:
            _, _, blocks = sampler.sample_blocks(g, seeds)
            sampled += sum(b.num_edges() for b in blocks)
        dt = time.perf_counter() - t
        rep.emit("neighbor_blocks", dt, sampled, "edges/s", sampled_edges=sampled, path=path, **common)
        rep.emit("neighbor_blocks", dt, args.batches, "batches/s", sampled_edges=sampled, path=path, **common)

    if "hops" in only:
        order = list(reversed(fanouts))

        def hops(seeds):
            total = 0
            for fanout in order:
                frontier = dgl.sampling.sample_neighbors(g, seeds, fanout)
                src, _ = frontier.edges()
                total += int(src.numel())
                seeds = torch.unique(src)
            return total

        hops(seed_batches[0])
        sampled = 0
        t = time.perf_counter()
        for seeds in seed_batches[1:]:
            sampled += hops(seeds)
        dt = time.perf_counter() - t
        rep.emit("neighbor_hops", dt, sampled, "edges/s", sampled_edges=sampled, **common)

    if "induced" in only:
        if args.ego_file:
            sets = ego_sets(args.ego_file, args.sets)
            source = os.path.basename(args.ego_file)
        else:
            sets = random_sets(indptr, indices, min(args.sets, n), args.set_size, np.random.default_rng(args.seed))
            source = "random 1/2-hop sets (make_node_sets.py)"
        sets_t = [torch.from_numpy(np.ascontiguousarray(s)) for s in sets]
        dgl.batch([dgl.node_subgraph(g, s) for s in sets_t[:16]])  # warm-up
        edges_total = 0
        t = time.perf_counter()
        for _ in range(args.induced_reps):
            bg = dgl.batch([dgl.node_subgraph(g, s) for s in sets_t])
            edges_total += bg.num_edges()
        dt = time.perf_counter() - t
        extra = {"sets": len(sets_t), "set_nodes": int(sum(s.numel() for s in sets_t)),
                 "batched_edges": int(bg.num_edges()), "reps": args.induced_reps, "source": source,
                 "feat_dim": args.feat_dim}
        rep.emit("induced_batch", dt, len(sets_t) * args.induced_reps, "sets/s", **extra)
        rep.emit("induced_batch", dt, edges_total, "edges/s", **extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())

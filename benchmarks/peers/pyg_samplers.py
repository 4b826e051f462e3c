#!/usr/bin/env python3
"""PyG sampler speed (figure a only) on a graph from the toolkit's HDF5 cache layout (peer benchmark).

Run it with the PyG venv (benchmarks/peers/pyg_setup.sh), which needs a sampler backend
(pyg-lib or torch-sparse's compiled ops):
  .venv-pyg/bin/python pyg_samplers.py --graph G.h5 --threads 2 [--fanouts 15,10,5] [--batch 1024] [--batches K]

what=neighbor_blocks, unit=edges/s and batches/s: torch_geometric.loader.NeighborLoader over the same
seed batches as dgl_samplers.py (numpy default_rng(0), K+1 batches of `batch` distinct nodes, the
first one an untimed warm-up). Fanouts are given in DGL's order (input layer first); PyG's
num_neighbors lists the hop from the seeds first, so it gets the reversed list: the same work.
edges = sum of the mini-batch graphs' edge_index sizes. The graph (edge_index in CSC order) and the
loader are built before timing. Other flags (--ego-file ...) are accepted and ignored.

what=neighbor_sample_op: the bare torch-sparse op that PyG's NeighborSampler calls
(torch.ops.torch_sparse.neighbor_sample) on the same batches, without PyG's Python-side mini-batch
building: edges/s (only with the torch-sparse backend).

Note: PyG samples each hop only for nodes new to the mini-batch, DGL's blocks resample every source
node of the previous block (the seeds too), so the same seeds give fewer sampled edges in PyG:
compare edges/s, not batches/s.

torch-sparse's Python package imports torch_scatter (one more source build); when that import fails
but torch-sparse's compiled op libraries are there, they are loaded with torch.ops.load_library and
PyG's flag WITH_TORCH_SPARSE is set, so that NeighborLoader calls the same op it would call with the
package importable ("backend": "torch-sparse ops (loaded directly)").
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
    ap.add_argument("--graph", required=True)
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--fanouts", default="15,10,5")
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--omp-wait-policy", choices=("passive", "inherit"), default="passive",
                    help="OMP_WAIT_POLICY for this process (default passive, as dgl_samplers.py)")
    args, _ = ap.parse_known_args(argv)
    return args


ARGS = parse_args()
os.environ["OMP_NUM_THREADS"] = str(ARGS.threads)
os.environ["MKL_NUM_THREADS"] = str(ARGS.threads)
if ARGS.omp_wait_policy == "passive":
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import psutil  # noqa: E402
import torch  # noqa: E402
import torch_geometric  # noqa: E402
import torch_geometric.typing as pyg_typing  # noqa: E402
from torch_geometric.data import Data  # noqa: E402
from torch_geometric.loader import NeighborLoader  # noqa: E402

PEER = f"pyg {torch_geometric.__version__}"


def load_torch_sparse_ops() -> str:
    """Returns the backend name; loads torch-sparse's op libraries when its package can't import."""
    if pyg_typing.WITH_PYG_LIB:
        return "pyg-lib"
    if pyg_typing.WITH_TORCH_SPARSE:
        return "torch-sparse"
    import importlib.machinery
    import importlib.util
    spec = importlib.util.find_spec("torch_sparse")
    if spec is None or not spec.submodule_search_locations:
        return "none"
    folder = list(spec.submodule_search_locations)[0]
    for lib in ("_version", "_neighbor_sample"):
        found = importlib.machinery.PathFinder().find_spec(f"{lib}_cpu", [folder])
        if found is None:
            return "none"
        torch.ops.load_library(found.origin)
    pyg_typing.WITH_TORCH_SPARSE = True
    return "torch-sparse ops (loaded directly)"


def machine() -> str:
    model = platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()}-core {model}"


def main() -> int:
    args = ARGS
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    fanouts = [int(x) for x in args.fanouts.split(",") if x]
    with h5py.File(args.graph, "r") as f:
        indptr = torch.from_numpy(np.asarray(f["graph/indptr"][...], dtype=np.int64))
        indices = torch.from_numpy(np.asarray(f["graph/indices"][...], dtype=np.int64))
    n = indptr.numel() - 1
    e = indices.numel()
    dst = torch.repeat_interleave(torch.arange(n), indptr[1:] - indptr[:-1])
    data = Data(edge_index=torch.stack([indices, dst]), num_nodes=n)  # source -> destination

    rng = np.random.default_rng(args.seed)
    batch = min(args.batch, n)
    seed_batches = [rng.choice(n, size=batch, replace=False).astype(np.int64) for _ in range(args.batches + 1)]
    input_nodes = torch.from_numpy(np.concatenate(seed_batches))
    backend = load_torch_sparse_ops()
    if backend == "none":
        print("pyg_samplers.py: no sampler backend (pyg-lib or torch-sparse)", file=sys.stderr)
        return 1
    loader = NeighborLoader(data, num_neighbors=list(reversed(fanouts)), batch_size=batch, input_nodes=input_nodes,
                            shuffle=False, num_workers=0)
    it = iter(loader)
    next(it)  # warm-up batch (seed_batches[0])
    sampled = 0
    count = 0
    t = time.perf_counter()
    for mb in it:
        sampled += int(mb.edge_index.size(1))
        count += 1
    dt = time.perf_counter() - t
    # The bare op on the same batches (CSC from the loader's sampler: colptr over destinations).
    ns = loader.node_sampler
    hops = list(reversed(fanouts))

    def op(seeds):  # the torch-sparse op (the pyg-lib one has another signature: not timed here)
        out = torch.ops.torch_sparse.neighbor_sample(ns.colptr, ns.row, seeds, hops, False, True)
        return int(out[1].numel())

    op_dt = op_edges = None
    if not pyg_typing.WITH_PYG_LIB:
        seeds_t = [torch.from_numpy(s) for s in seed_batches]
        op(seeds_t[0])
        op_edges = 0
        t = time.perf_counter()
        for s_ in seeds_t[1:]:
            op_edges += op(s_)
        op_dt = time.perf_counter() - t

    base = {"peer": PEER, "what": "neighbor_blocks", "graph": os.path.basename(args.graph), "nodes": n, "edges": e,
            "threads": args.threads, "seconds": round(dt, 6)}
    tail = {"peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
            "rss_mib": round(psutil.Process().memory_info().rss / 2**20, 1), "machine": machine(),
            "torch": torch.__version__, "backend": backend, "loadavg_1m": round(os.getloadavg()[0], 2),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
            "sampled_edges": sampled, "fanouts": fanouts, "batch": batch, "batches": count}
    print(json.dumps({**base, "per_s": sampled / dt, "unit": "edges/s", **tail}), flush=True)
    print(json.dumps({**base, "per_s": count / dt, "unit": "batches/s", **tail}), flush=True)
    if op_dt is not None:
        op_base = {**base, "what": "neighbor_sample_op", "seconds": round(op_dt, 6)}
        print(json.dumps({**op_base, "per_s": op_edges / op_dt, "unit": "edges/s",
                          **{**tail, "sampled_edges": op_edges, "batches": args.batches}}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Peer-benchmark helper: a synthetic power-law graph in the toolkit's HDF5 cache layout.

Chung-Lu model: node i gets weight w_i proportional to (i + i0)^(-1/(gamma-1)); the offset i0 is
chosen so that the largest weight is --max-degree once the weights are scaled to mean --mean-degree.
Undirected edges are drawn with both endpoints independently proportional to w, then self-loops are
dropped, pairs deduplicated, and both directions stored. Node ids are shuffled (seeded) so that the
hubs are not all at the front, unless --no-shuffle.

Output (HDF5): graph/indptr int64 [N+1], graph/indices int64 [E]: CSR whose rows are destinations and
whose indices are their sources, sorted within each row (the graph is symmetric, so either reading
holds). With --dataset-dim D (> 0) it also writes features float32 [N, D], labels int64 [N], and
train/val/test masks (bool, stored as uint8 with attribute torch_dtype = "bool") plus the root
attributes of the toolkit's node-dataset cache, so that the toolkit's dataset loader accepts the file.

Examples:
  make_powerlaw_graph.py --out /tmp/pl100k.h5 --nodes 100000 --mean-degree 25 --max-degree 3000
  make_powerlaw_graph.py --out /tmp/pl_products.h5 --nodes 2450000 --mean-degree 25.3 --max-degree 20000

This file is a peer-side helper only; it needs numpy and h5py (the peer venvs have both).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np


def chung_lu_weights(n: int, gamma: float, mean_degree: float, max_degree: float) -> np.ndarray:
    alpha = 1.0 / (gamma - 1.0)
    ranks = np.arange(n, dtype=np.float64)

    def ratio(i0: float) -> float:  # max / mean for offset i0
        w = (ranks + i0) ** (-alpha)
        return w[0] / w.mean()

    target = max_degree / mean_degree
    lo, hi = 1e-3, float(n)
    if ratio(lo) < target:  # even the sharpest law cannot reach it: take the sharpest
        i0 = lo
    else:
        for _ in range(100):  # ratio decreases with i0
            mid = (lo * hi) ** 0.5
            if ratio(mid) > target:
                lo = mid
            else:
                hi = mid
        i0 = (lo * hi) ** 0.5
    w = (ranks + i0) ** (-alpha)
    return w * (mean_degree / w.mean())


def sample_pairs(rng: np.random.Generator, cdf: np.ndarray, count: int, n: int, chunk: int) -> np.ndarray:
    """`count` undirected pairs as canonical keys min * n + max, self-loops dropped (so maybe fewer)."""
    out = []
    done = 0
    while done < count:
        k = min(chunk, count - done)
        u = np.searchsorted(cdf, rng.random(k), side="right")
        v = np.searchsorted(cdf, rng.random(k), side="right")
        np.minimum(u, n - 1, out=u)
        np.minimum(v, n - 1, out=v)
        keep = u != v
        u, v = u[keep], v[keep]
        lo = np.minimum(u, v).astype(np.int64)
        hi = np.maximum(u, v).astype(np.int64)
        out.append(lo * n + hi)
        done += k
    return np.concatenate(out) if out else np.empty(0, np.int64)


def generate(n: int, mean_degree: float, max_degree: float, gamma: float, seed: int, shuffle: bool,
             chunk: int = 4_000_000, log=print):
    rng = np.random.default_rng(seed)
    w = chung_lu_weights(n, gamma, mean_degree, max_degree)
    cdf = np.cumsum(w)
    cdf /= cdf[-1]
    target_undirected = int(round(n * mean_degree / 2))
    keys = np.empty(0, np.int64)
    draw = target_undirected
    for it in range(8):  # top up until dedup leaves ~ the target
        t = time.perf_counter()
        keys = np.unique(np.concatenate([keys, sample_pairs(rng, cdf, draw, n, chunk)]))
        missing = target_undirected - keys.size
        log(f"  round {it}: {keys.size} unique undirected edges ({time.perf_counter() - t:.1f}s)")
        if missing <= target_undirected * 0.002:
            break
        draw = int(missing * 1.15) + 1000
    if keys.size > target_undirected:
        keys = np.sort(rng.choice(keys, target_undirected, replace=False))
    u = keys // n
    v = keys - u * n
    del keys
    if shuffle:
        perm = rng.permutation(n).astype(np.int64)
        u, v = perm[u], perm[v]
    # Directed keys dst * n + src for both directions; sorting gives CSR rows (dst) with sorted sources.
    directed = np.concatenate([v * n + u, u * n + v])
    del u, v
    directed.sort()
    dst = directed // n
    src = directed - dst * n
    del directed
    counts = np.bincount(dst, minlength=n)
    del dst
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    return indptr, src.astype(np.int64, copy=False)


def write_h5(path: str, indptr: np.ndarray, indices: np.ndarray, dataset_dim: int, seed: int, name: str) -> None:
    import h5py

    tmp = path + ".tmp"
    n = indptr.size - 1
    with h5py.File(tmp, "w") as f:
        f.create_dataset("graph/indptr", data=indptr)
        f.create_dataset("graph/indices", data=indices)
        f.attrs["generator"] = "benchmarks/peers/make_powerlaw_graph.py"
        if dataset_dim > 0:
            rng = np.random.default_rng(seed + 1)
            classes = 47
            feats = f.create_dataset("features", shape=(n, dataset_dim), dtype=np.float32)
            step = 1 << 20
            for s in range(0, n, step):
                e = min(n, s + step)
                feats[s:e] = rng.standard_normal((e - s, dataset_dim), dtype=np.float32)
            f.create_dataset("labels", data=rng.integers(0, classes, n, dtype=np.int64))
            split = rng.random(n)
            for mname, m in (("train_mask", split < 0.1), ("val_mask", (split >= 0.1) & (split < 0.12)),
                             ("test_mask", split >= 0.12)):
                d = f.create_dataset(mname, data=m.astype(np.uint8))
                d.attrs["torch_dtype"] = "bool"
            f.attrs["format"] = "graphmae2-node-dataset"
            f.attrs["version"] = "1"
            f.attrs["name"] = name
            f.attrs["num_classes"] = str(classes)
    os.replace(tmp, path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output .h5 file")
    ap.add_argument("--nodes", type=int, default=100_000)
    ap.add_argument("--mean-degree", type=float, default=25.0, help="target directed edges / nodes")
    ap.add_argument("--max-degree", type=float, default=3000.0, help="target largest expected degree")
    ap.add_argument("--gamma", type=float, default=2.1, help="power-law exponent of the degree distribution")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-shuffle", action="store_true", help="keep hubs at the lowest ids")
    ap.add_argument("--dataset-dim", type=int, default=0,
                    help="also write random features of this width, labels and masks (toolkit dataset layout)")
    ap.add_argument("--name", default=None, help="dataset name attribute (with --dataset-dim)")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    log(f"generating: nodes={args.nodes} mean_degree={args.mean_degree} max_degree={args.max_degree} "
        f"gamma={args.gamma} seed={args.seed}")
    indptr, indices = generate(args.nodes, args.mean_degree, args.max_degree, args.gamma, args.seed,
                               not args.no_shuffle, log=log)
    t1 = time.perf_counter()
    name = args.name or os.path.splitext(os.path.basename(args.out))[0]
    write_h5(args.out, indptr, indices, args.dataset_dim, args.seed, name)
    deg = np.diff(indptr)
    info = {
        "file": args.out, "nodes": int(args.nodes), "edges": int(indices.size),
        "mean_degree": round(float(indices.size) / args.nodes, 3), "max_degree": int(deg.max()),
        "median_degree": float(np.median(deg)), "isolated": int((deg == 0).sum()),
        "generate_s": round(t1 - t0, 2), "write_s": round(time.perf_counter() - t1, 2),
        "bytes": os.path.getsize(args.out),
    }
    print(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(main())

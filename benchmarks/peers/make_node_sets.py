#!/usr/bin/env python3
"""Peer-benchmark helper: node sets for the batched induced-subgraph figure, as an ego-file.

Each set is a random seed plus random 1-hop neighbours, topped up with random 2-hop neighbours
(from at most 64 of the 1-hop nodes' lists) up to --size nodes; nodes sorted within a set. Seeds:
numpy default_rng(--seed).choice(N, --sets, replace=False). Output HDF5: indptr int64 [S+1],
indices int64 (the layout --ego-file takes in dgl_samplers.py and bench_samplers), root attributes
source, graph, size, seed.

  make_node_sets.py --graph G.h5 --out SETS.h5 [--sets 512] [--size 256] [--seed 0]
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np


def random_sets(indptr: np.ndarray, indices: np.ndarray, count: int, size: int, rng) -> list[np.ndarray]:
    n = indptr.size - 1
    seeds = rng.choice(n, size=min(count, n), replace=False)
    sets = []
    for s in seeds:
        chosen = [np.array([s], np.int64)]
        n1 = np.unique(indices[indptr[s]:indptr[s + 1]])
        n1 = n1[n1 != s]
        rng.shuffle(n1)
        take = n1[: size - 1]
        chosen.append(take)
        room = size - 1 - take.size
        if room > 0 and n1.size > 0:
            parts = [indices[indptr[u]:indptr[u + 1]] for u in n1[:64]]
            pool = np.unique(np.concatenate(parts))
            pool = pool[~np.isin(pool, np.concatenate(chosen))]
            rng.shuffle(pool)
            chosen.append(pool[:room])
        sets.append(np.sort(np.concatenate(chosen)).astype(np.int64))
    return sets


def write_sets(path: str, sets: list[np.ndarray], attrs: dict) -> None:
    import h5py

    ptr = np.zeros(len(sets) + 1, np.int64)
    ptr[1:] = np.cumsum([s.size for s in sets])
    tmp = path + ".tmp"
    with h5py.File(tmp, "w") as f:
        f.create_dataset("indptr", data=ptr)
        f.create_dataset("indices", data=np.concatenate(sets) if sets else np.empty(0, np.int64))
        for k, v in attrs.items():
            f.attrs[k] = v
    os.replace(tmp, path)


def main(argv=None) -> int:
    import h5py

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--graph", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--sets", type=int, default=512)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    with h5py.File(args.graph, "r") as f:
        indptr = np.asarray(f["graph/indptr"][...], dtype=np.int64)
        indices = np.asarray(f["graph/indices"][...], dtype=np.int64)
    sets = random_sets(indptr, indices, args.sets, args.size, np.random.default_rng(args.seed))
    write_sets(args.out, sets, {"source": "random 1/2-hop sets (benchmarks/peers/make_node_sets.py)",
                                "graph": os.path.basename(args.graph), "size": args.size, "seed": args.seed})
    print(f"{args.out}: {len(sets)} sets, {sum(s.size for s in sets)} nodes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

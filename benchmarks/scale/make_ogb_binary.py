#!/usr/bin/env python3
"""A synthetic stand-in of a large OGB node dataset, written in OGB's binary download layout (ogbn-papers100M's):

    DIR/raw/data.npz        edge_index int64 [2, E] (each edge once, directed), node_feat float32 [N, D],
                            node_year int64 [N, 1], num_nodes_list, num_edges_list
    DIR/raw/node-label.npz  node_label float32 [N, 1], NaN for unlabelled nodes
    DIR/split/time/{train,valid,test}.csv.gz

Real ogbn files cannot be downloaded on our machines; this file is read by graphmae2 through the same path a
user's download takes. The graph is a contextual SBM with power-law degrees: every node has a class, an edge's
source is drawn in proportion to a Pareto weight, its destination from the source's class with probability
`homophily` (else from all nodes), again by weight. Features are the class centroid plus Gaussian noise.
Written a chunk at a time (numpy, ZIP64 stored entries), so the feature matrix is never held whole.
"""
import argparse
import gzip
import os
import time
import zipfile

import numpy as np


def write_npz(path, entries):
    """entries: name -> ndarray, or name -> (dtype, shape, iterator of C-order chunks)."""
    tmp = path + ".tmp"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, value in entries.items():
            with zf.open(name + ".npy", "w", force_zip64=True) as f:
                if isinstance(value, np.ndarray):
                    np.lib.format.write_array(f, value, allow_pickle=False)
                    continue
                dtype, shape, chunks = value
                np.lib.format.write_array_header_2_0(
                    f, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": shape})
                for chunk in chunks:
                    f.write(np.ascontiguousarray(chunk, dtype=dtype).tobytes())
    os.replace(tmp, path)


def write_index_csv_gz(path, ids):
    tmp = path + ".tmp"
    with gzip.open(tmp, "wt", compresslevel=1) as f:
        f.write("\n".join(map(str, ids.tolist())))
        if len(ids):
            f.write("\n")
    os.replace(tmp, path)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", help="output folder, e.g. DATA_ROOT/ogbn_papers100M")
    p.add_argument("--nodes", type=int, default=20_000_000)
    p.add_argument("--degree", type=float, default=15.0, help="average degree once edges are made undirected")
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--classes", type=int, default=172)
    p.add_argument("--labelled", type=float, default=0.0136, help="share of nodes with a label (papers100M: 1.36%%)")
    p.add_argument("--split", type=float, nargs=3, default=[0.78, 0.08, 0.14], help="train/valid/test shares of the labelled")
    p.add_argument("--homophily", type=float, default=0.6)
    p.add_argument("--powerlaw", type=float, default=2.3, help="exponent of the degree weights")
    p.add_argument("--max-weight", type=float, default=5000.0)
    p.add_argument("--noise", type=float, default=4.0)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    t0 = time.time()
    rng = np.random.default_rng(a.seed)
    n, c = a.nodes, a.classes
    os.makedirs(os.path.join(a.dir, "raw"), exist_ok=True)
    os.makedirs(os.path.join(a.dir, "split", "time"), exist_ok=True)

    cls = rng.integers(0, c, n)
    weight = np.minimum((1.0 - rng.random(n)) ** (-1.0 / (a.powerlaw - 1.0)), a.max_weight)
    by_class = np.argsort(cls, kind="stable")
    cum = np.cumsum(weight[by_class])
    total = cum[-1]
    class_first = np.searchsorted(cls[by_class], np.arange(c + 1))
    cum0 = np.concatenate([[0.0], cum])
    lo, hi = cum0[class_first[:-1]], cum0[class_first[1:]]

    def draw(u):
        # Sorted queries keep the binary searches in cache (random ones miss on every step of a 20M array).
        order = np.argsort(u, kind="stable")
        found = np.empty(len(u), dtype=np.int64)
        found[order] = np.searchsorted(cum, u[order], side="right")
        return by_class[np.minimum(found, n - 1)]

    num_edges = int(n * a.degree / 2)
    src_parts, dst_parts = [], []
    for begin in range(0, num_edges, 10_000_000):
        k = min(10_000_000, num_edges - begin)
        src = draw(rng.random(k) * total)
        same = rng.random(k) < a.homophily
        c_src = cls[src]
        u = np.where(same, lo[c_src] + rng.random(k) * (hi[c_src] - lo[c_src]), rng.random(k) * total)
        dst = draw(u)
        keep = src != dst
        src_parts.append(src[keep])
        dst_parts.append(dst[keep])
    src = np.concatenate(src_parts)
    dst = np.concatenate(dst_parts)
    del src_parts, dst_parts
    m = len(src)
    print(f"graph: {n} nodes, {m} edges drawn in {time.time() - t0:.0f} s", flush=True)

    centroids = rng.standard_normal((c, a.dim), dtype=np.float32)

    def feature_chunks():
        for begin in range(0, n, 1 << 20):
            end = min(n, begin + (1 << 20))
            noise = rng.standard_normal((end - begin, a.dim), dtype=np.float32)
            yield centroids[cls[begin:end]] + np.float32(a.noise) * noise

    def edge_chunks():
        yield src
        yield dst

    write_npz(os.path.join(a.dir, "raw", "data.npz"), {
        "edge_index": (np.int64, (2, m), edge_chunks()),
        "node_feat": (np.float32, (n, a.dim), feature_chunks()),
        "node_year": rng.integers(1990, 2021, (n, 1)).astype(np.int64),
        "num_nodes_list": np.array([n], dtype=np.int64),
        "num_edges_list": np.array([m], dtype=np.int64),
    })
    del src, dst
    print(f"data.npz written at {time.time() - t0:.0f} s", flush=True)

    labelled = rng.permutation(n)[: int(a.labelled * n)]
    label = np.full((n, 1), np.nan, dtype=np.float32)
    label[labelled, 0] = cls[labelled]
    write_npz(os.path.join(a.dir, "raw", "node-label.npz"), {"node_label": label})
    num_train, num_valid = int(a.split[0] * len(labelled)), int(a.split[1] * len(labelled))
    parts = {"train": labelled[:num_train], "valid": labelled[num_train:num_train + num_valid],
             "test": labelled[num_train + num_valid:]}
    for name, ids in parts.items():
        write_index_csv_gz(os.path.join(a.dir, "split", "time", name + ".csv.gz"), np.sort(ids))
    print(f"wrote {a.dir}: {n} nodes, {m} edges, {a.dim} float32 features, {c} classes, "
          f"{len(labelled)} labelled ({', '.join(f'{k} {len(v)}' for k, v in parts.items())}) "
          f"in {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()

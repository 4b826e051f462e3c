#!/usr/bin/env python3
"""Reference for GraphMAE2's local-clustering (LC) ego graphs, from the real
localgraphclustering 0.6.1 (set up by lc_setup.sh; run with its venv's python).

GraphMAE2's datasets/localclustering.py, which this follows:
  graph    = preprocess(graph): dgl.to_bidirected (each undirected pair once),
             remove_self_loop().add_self_loop() (one self-loop per node);
  adj      = csr_matrix((ones, edges), shape=(N, N))  (rows sorted, data 1.0);
  G        = GraphLocal.from_sparse_adjacency(adj)   (uint32 ai/aj);
  per seed i (calc_local_clustering):
    node, ppr = approximate_PageRank(G, [i], iterations=1000, method='acl',
                                     normalize=False)   # alpha .15, rho 1e-6
    score     = ppr * min(1, G.dn[node])                 # dn = 1/degree
    keep the first ego_size (256) of the package's order (the C++ sorts by ppr
    descending with std::sort: ties in libstdc++'s unordered_map/introsort order),
    then Python's stable sort by score descending; asserts node[0] == i;
    my_sweep_cut(G, node) conductances (computed, never saved).

Subcommands:
  fixture --dataset cora|citeseer --data-root ../shared/datasets --out FILE.h5
      every node as seed; HDF5 (gzip+shuffle): seeds int64[S], indptr int64[S+1],
      indices int32 (kept ego nodes, final order, seed first), ppr float64 (raw PPR
      of each kept node, same order), cut_ppr float64[S] (PPR of the 256th node of
      the package order, 0 when fewer than 256 have PPR), num_ppr int64[S] (nodes
      with PPR, the package's actual_length), push_steps int64[S] (pushes done,
      from a Python replica of the package's pprgrow that is checked to give the
      package's values bit for bit); root attributes num_nodes, num_edges,
      alpha, rho, max_push_steps, ego_size, package, dataset, tie statistics.
  bench (--graph FILE.h5 | --dataset cora --data-root DIR) --seeds K
        [--sweep-seeds K2] [--threads 1] [--sample random|first] [--repeat R]
      times (a) the package's C++ push as the reference calls it
      (approximate_PageRank, which wraps aclpagerank_cpp), (a') the same C++
      function through ctypes with preallocated buffers (bare push), and (b) the
      reference's calc_local_clustering including my_sweep_cut. One JSON line per
      figure. Graph loading/preprocessing is outside the timed region. Seeds: all
      nodes when K >= N, else a fixed random sample (numpy default_rng(0), sorted)
      or, with --sample first, node ids 0..K-1. seeds_per_s is per process.
"""
from __future__ import annotations

import argparse
import ctypes
import glob
import json
import os
import pickle
import resource
import sys
import time
import warnings
from collections import deque

import numpy as np
import scipy.sparse as sp

warnings.filterwarnings("ignore")  # the package's imp/DeprecationWarnings

ALPHA = 0.15
RHO = 1.0e-6
MAX_PUSH_STEPS = 1000  # GraphMAE2's --num_iter default, passed as `iterations`
EGO_SIZE = 256         # GraphMAE2's --ego_size default
PACKAGE = "localgraphclustering 0.6.1"


def _lgc():
    import localgraphclustering as lgc
    return lgc


# ----------------------------------------------------------------------------
# graph reading and the reference's preprocess
# ----------------------------------------------------------------------------
def preprocess_adjacency(n: int, src: np.ndarray, dst: np.ndarray) -> sp.csr_matrix:
    """The reference's preprocess + csr_matrix: symmetric, each pair once,
    self-loops dropped, then exactly one self-loop per node; float64 ones,
    column indices sorted ascending within each row (canonical scipy CSR)."""
    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    keep = src != dst
    src, dst = src[keep], dst[keep]
    a = sp.coo_matrix((np.ones(src.size, dtype=np.float64), (src, dst)), shape=(n, n)).tocsr()
    a = (a + a.T).tocsr()
    a.data[:] = 1.0
    a = (a + sp.identity(n, dtype=np.float64, format="csr")).tocsr()
    a.sum_duplicates()
    a.sort_indices()
    assert a.has_canonical_format and np.all(a.data == 1.0)
    assert np.all(a.diagonal() == 1.0)
    return a


def find_planetoid_file(data_root: str, name: str, part: str) -> str:
    hits = sorted(glob.glob(os.path.join(data_root, "**", f"ind.{name}.{part}"), recursive=True))
    if not hits:
        sys.exit(f"lc_reference: no ind.{name}.{part} under {data_root}")
    return hits[0]


class _ShapeOnly:
    """Stand-in for the pickled scipy.sparse.csr.csr_matrix: keeps its shape."""

    def __init__(self, *a, **k):
        pass

    def __setstate__(self, state):
        self.shape = state.get("_shape")


class _PlanetoidUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if name == "csr_matrix":
            return _ShapeOnly
        return super().find_class(module, name)


def planetoid_num_nodes(data_root: str, name: str) -> int:
    """Standard Planetoid processing (as DGL's CitationGraphDataset): allx rows
    plus the full test-id range (CiteSeer: 15 ids of that range are isolated
    nodes that the files never mention)."""
    with open(find_planetoid_file(data_root, name, "allx"), "rb") as f:
        allx = _PlanetoidUnpickler(f, encoding="latin1").load()
    with open(find_planetoid_file(data_root, name, "test.index")) as f:
        test = [int(line) for line in f if line.strip()]
    n_allx = int(allx.shape[0])
    assert min(test) == n_allx, (min(test), n_allx)
    return n_allx + (max(test) - min(test) + 1)


def load_planetoid(data_root: str, name: str):
    with open(find_planetoid_file(data_root, name, "graph"), "rb") as f:
        d = pickle.load(f, encoding="latin1")
    n = planetoid_num_nodes(data_root, name)
    src, dst = [], []
    for u, nbrs in d.items():
        for v in nbrs:
            src.append(int(u))
            dst.append(int(v))
    src = np.array(src, dtype=np.int64)
    dst = np.array(dst, dtype=np.int64)
    assert src.max() < n and dst.max() < n
    adj = preprocess_adjacency(n, src, dst)
    expect = {"cora": (2708, 10556), "citeseer": (3327, 9104)}.get(name)
    if expect is not None:  # facts from ../shared/datasets/README.md
        assert (n, adj.nnz - n) == expect, ((n, adj.nnz - n), expect)
    return adj


def load_h5_graph(path: str):
    import h5py
    with h5py.File(path, "r") as f:
        indptr = np.asarray(f["graph/indptr"][...], dtype=np.int64)
        indices = np.asarray(f["graph/indices"][...], dtype=np.int64)
    n = indptr.size - 1
    rows = np.repeat(np.arange(n, dtype=np.int64), np.diff(indptr))
    return preprocess_adjacency(n, rows, indices)


def load_graph(args):
    if getattr(args, "graph", None):
        return os.path.basename(args.graph), load_h5_graph(args.graph)
    return args.dataset, load_planetoid(args.data_root, args.dataset)


# ----------------------------------------------------------------------------
# the reference, per seed
# ----------------------------------------------------------------------------
def reference_ego(G, i: int, ego_size: int = EGO_SIZE):
    """GraphMAE2's calc_local_clustering up to (not including) my_sweep_cut, with
    the raw PPR carried along. Returns (final nodes, their raw ppr, package-order
    nodes, package-order ppr)."""
    lgc = _lgc()
    node, ppr = lgc.approximate_PageRank(G, [i], iterations=MAX_PUSH_STEPS, method="acl",
                                         normalize=False)
    # --- verbatim from the reference ---
    d_inv = G.dn[node]
    d_inv[d_inv > 1.0] = 1.0
    ppr_d_inv = ppr * d_inv
    output = list(zip(node, ppr_d_inv))[:ego_size]
    ref_node, _ = zip(*sorted(output, key=lambda x: x[1], reverse=True))
    # --- the same permutation, carrying the raw ppr ---
    k = len(output)
    order = sorted(range(k), key=lambda j: ppr_d_inv[j], reverse=True)
    fin_nodes = np.asarray(node[:k])[order]
    fin_ppr = np.asarray(ppr[:k])[order]
    assert np.array_equal(fin_nodes.astype(np.int64), np.asarray(ref_node, dtype=np.int64))
    return fin_nodes, fin_ppr, np.asarray(node), np.asarray(ppr), ppr_d_inv[:k][order]


def pprgrow_replica(ai, aj, seed: int, alpha=ALPHA, eps=RHO, maxsteps=MAX_PUSH_STEPS):
    """Line-by-line Python replica of the package's graph::pprgrow (aclpagerank.cpp):
    FIFO queue, same float operations in the same order. Returns (x dict,
    steps done, queue left non-empty)."""
    x = {seed: 0.0}
    r = {seed: 1.0}
    q = deque()

    def deg(v):
        return float(ai[v + 1] - ai[v])

    if r[seed] >= eps * deg(seed):
        q.append(seed)
    steps = 0
    c = (1 - alpha) / 2
    while q and steps < maxsteps:
        j = q.popleft()
        rj = r[j]
        x[j] = alpha * rj if j not in x else x[j] + alpha * rj
        dj = deg(j)
        delta = c * (rj / dj)
        r[j] = c * rj
        if r[j] >= eps * dj:
            q.append(j)
        for u in aj[ai[j]:ai[j + 1]]:
            u = int(u)
            if u not in r:
                ru_old = 0.0
                ru_new = delta
            else:
                ru_old = r[u]
                ru_new = delta + ru_old
            r[u] = ru_new
            du = eps * deg(u)
            if ru_new > du and ru_old <= du:
                q.append(u)
        steps += 1
    return x, steps, len(q) > 0


def my_sweep_cut(g, node):  # verbatim from GraphMAE2's datasets/localclustering.py
    vol_sum = 0.0
    in_edge = 0.0
    conds = np.zeros_like(node, dtype=np.float32)
    for i in range(len(node)):
        idx = node[i]
        vol_sum += g.d[idx]
        denominator = min(vol_sum, g.vol_G - vol_sum)
        if denominator == 0.0:
            denominator = 1.0
        in_edge += 2*sum([g.adjacency_matrix[idx,prev] for prev in node[:i+1]])
        cut = vol_sum - in_edge
        conds[i] = cut/denominator
    return conds


graphlocal = None  # the reference's global, set before calc_local_clustering runs


def calc_local_clustering(args):  # verbatim from the reference (approximate_PageRank qualified)
    i, log_steps, num_iter, ego_size, method = args
    if i % log_steps == 0:
        print(i)
    node, ppr = _lgc().approximate_PageRank(graphlocal, [i], iterations=num_iter, method=method, normalize=False)
    d_inv = graphlocal.dn[node]
    d_inv[d_inv > 1.0] = 1.0
    ppr_d_inv = ppr * d_inv
    output = list(zip(node, ppr_d_inv))[:ego_size]
    node, ppr_d_inv = zip(*sorted(output, key=lambda x: x[1], reverse=True))
    assert node[0] == i
    node = np.array(node, dtype=np.int32)
    conds = my_sweep_cut(graphlocal, node)
    return node, conds


# ----------------------------------------------------------------------------
# fixture
# ----------------------------------------------------------------------------
def cmd_fixture(args):
    import h5py
    lgc = _lgc()
    name, adj = load_graph(args)
    G = lgc.GraphLocal.from_sparse_adjacency(adj)
    n = adj.shape[0]
    ai = np.asarray(G.ai, dtype=np.int64)
    aj = np.asarray(G.aj, dtype=np.int64)
    ego = args.ego_size
    seeds = np.arange(n, dtype=np.int64)
    indptr = np.zeros(n + 1, dtype=np.int64)
    all_idx, all_ppr = [], []
    cut_ppr = np.zeros(n, dtype=np.float64)
    num_ppr = np.zeros(n, dtype=np.int64)
    push_steps = np.zeros(n, dtype=np.int64)
    st = dict(tie_at_cut=0, tie_raw_ppr_in_kept=0, tie_score_in_kept=0, tie_score_adjacent=0,
              seed_not_first=0, steps_limit_reached=0, fewer_than_ego=0, replica_mismatch=0,
              package_order_not_sorted=0)
    t0 = time.time()
    for i in range(n):
        fin_nodes, fin_ppr, pk_nodes, pk_ppr, fin_score = reference_ego(G, i, ego)
        if fin_nodes[0] != i:
            st["seed_not_first"] += 1
            print(f"seed {i}: first after rescore is {fin_nodes[0]}", file=sys.stderr)
        if np.any(np.diff(pk_ppr) > 0):
            st["package_order_not_sorted"] += 1
        k = fin_nodes.size
        indptr[i + 1] = indptr[i] + k
        all_idx.append(fin_nodes.astype(np.int32))
        all_ppr.append(fin_ppr.astype(np.float64))
        num_ppr[i] = pk_nodes.size
        cut_ppr[i] = pk_ppr[ego - 1] if pk_nodes.size >= ego else 0.0
        if pk_nodes.size < ego:
            st["fewer_than_ego"] += 1
        if pk_nodes.size > ego and pk_ppr[ego] == pk_ppr[ego - 1]:
            st["tie_at_cut"] += 1
        if np.unique(fin_ppr).size < k:
            st["tie_raw_ppr_in_kept"] += 1
        if np.unique(fin_score).size < k:
            st["tie_score_in_kept"] += 1
        if k > 1 and np.any(fin_score[1:] == fin_score[:-1]):
            st["tie_score_adjacent"] += 1
        if args.verify_replica:
            x, steps, left = pprgrow_replica(ai, aj, i)
            push_steps[i] = steps
            st["steps_limit_reached"] += int(left)
            pk = dict(zip(pk_nodes.tolist(), pk_ppr.tolist()))
            if pk != x:
                st["replica_mismatch"] += 1
                print(f"seed {i}: replica differs from the package", file=sys.stderr)
        if (i + 1) % 500 == 0:
            print(f"  {i + 1}/{n} seeds, {time.time() - t0:.1f} s", file=sys.stderr)
    if not args.verify_replica:
        push_steps[:] = -1
    indices = np.concatenate(all_idx)
    ppr = np.concatenate(all_ppr)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    comp = dict(compression="gzip", compression_opts=9, shuffle=True)
    with h5py.File(args.out, "w") as f:
        f.create_dataset("seeds", data=seeds, **comp)
        f.create_dataset("indptr", data=indptr, **comp)
        f.create_dataset("indices", data=indices, **comp)
        f.create_dataset("ppr", data=ppr, **comp)
        f.create_dataset("cut_ppr", data=cut_ppr, **comp)
        f.create_dataset("num_ppr", data=num_ppr, **comp)
        f.create_dataset("push_steps", data=push_steps, **comp)
        f.attrs["num_nodes"] = np.int64(n)
        f.attrs["num_edges"] = np.int64(adj.nnz)
        f.attrs["alpha"] = np.float64(ALPHA)
        f.attrs["rho"] = np.float64(RHO)
        f.attrs["max_push_steps"] = np.int64(MAX_PUSH_STEPS)
        f.attrs["ego_size"] = np.int64(ego)
        f.attrs["package"] = PACKAGE
        f.attrs["dataset"] = name
        for key, val in st.items():
            f.attrs["stat_" + key] = np.int64(val)
    st.update(dataset=name, nodes=n, edges=int(adj.nnz), kept_total=int(indices.size),
              bytes=os.path.getsize(args.out), seconds=round(time.time() - t0, 1))
    print(json.dumps(st))


# ----------------------------------------------------------------------------
# bench
# ----------------------------------------------------------------------------
_worker_rss_kib = {}  # pid -> peak RSS (KiB) of the Pool workers of the last timed run


def _own_peak(_):
    time.sleep(0.05)  # so that every worker takes some of these
    return os.getpid(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def peak_rss_mib() -> float:
    """Peak RSS of this process (Linux ru_maxrss, KiB), plus that of each Pool
    worker of the last multi-process run (an upper bound: forked workers share
    pages). (RUSAGE_CHILDREN is not used: it is
    the largest waited-for child, e.g. a compiler that an import ran.)"""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss + sum(_worker_rss_kib.values())
    return round(kib / 1024.0, 1)


def _bare_worker_init(lib_path, ai, aj):
    global _bare
    _bare = _BarePush(lib_path, ai, aj)


class _BarePush:
    """aclpagerank32 (what the package calls for a GraphLocal with uint32 ai/aj)
    through ctypes, with the same argument types as cpp/aclpagerank_cpp.py, but
    buffers allocated once (the package's wrapper allocates xlength=10**7 ids and
    values on every call)."""

    def __init__(self, lib_path, ai, aj):
        from numpy.ctypeslib import ndpointer
        lib = ctypes.cdll.LoadLibrary(lib_path)
        fun = lib.aclpagerank32
        u32 = ctypes.c_uint32
        fun.restype = u32
        fun.argtypes = [u32, ndpointer(u32, flags="C_CONTIGUOUS"), ndpointer(u32, flags="C_CONTIGUOUS"),
                        u32, ctypes.c_double, ctypes.c_double, ndpointer(u32, flags="C_CONTIGUOUS"),
                        u32, u32, ndpointer(u32, flags="C_CONTIGUOUS"), u32,
                        ndpointer(ctypes.c_double, flags="C_CONTIGUOUS")]
        self.fun, self.ai, self.aj = fun, ai, aj
        self.n = ai.size - 1
        self.xids = np.zeros(self.n, dtype=np.uint32)
        self.values = np.zeros(self.n, dtype=np.float64)
        self.seed = np.zeros(1, dtype=np.uint32)

    def __call__(self, i):
        self.seed[0] = i
        return self.fun(self.n, self.ai, self.aj, 0, ALPHA, RHO, self.seed, 1, MAX_PUSH_STEPS,
                        self.xids, self.n, self.values)


def _bare_call(i):
    return _bare(i)


def _pkg_call(i):
    node, ppr = _lgc().approximate_PageRank(graphlocal, [i], iterations=MAX_PUSH_STEPS,
                                            method="acl", normalize=False)
    return len(node)


def _init_graphlocal(g):
    global graphlocal
    graphlocal = g


def _run(fn, items, threads, init=None, initargs=()):
    """Runs fn over items in this process (threads == 1) or a fork Pool, as the
    reference does (multiprocessing.Pool(num_workers).imap(..., chunksize))."""
    if threads == 1:
        t0 = time.perf_counter()
        for it in items:
            fn(it)
        return time.perf_counter() - t0
    import multiprocessing as mp
    ctx = mp.get_context("fork")
    with ctx.Pool(threads, initializer=init, initargs=initargs) as pool:
        pool.map(int, range(threads))  # workers up before the clock starts
        t0 = time.perf_counter()
        for _ in pool.imap(fn, items, chunksize=max(1, min(512, len(items) // (4 * threads)))):
            pass
        secs = time.perf_counter() - t0
        _worker_rss_kib.clear()
        _worker_rss_kib.update(pool.map(_own_peak, range(8 * threads), chunksize=1))
        return secs


def cmd_bench(args):
    global graphlocal
    lgc = _lgc()
    from localgraphclustering.cpp import find_path
    t0 = time.perf_counter()
    name, adj = load_graph(args)
    G = lgc.GraphLocal.from_sparse_adjacency(adj)
    load_s = time.perf_counter() - t0
    n, nnz = adj.shape[0], int(adj.nnz)
    print(f"lc_reference bench: {name}: {n} nodes, {nnz} edges (preprocessed, self-loops "
          f"included), loaded in {load_s:.2f} s (not timed); peak RSS after imports and "
          f"load {peak_rss_mib()} MiB", file=sys.stderr)
    if G.ai.dtype != np.uint32:
        sys.exit("lc_reference bench: graph too big for the uint32 path; not handled")
    graphlocal = G

    def pick(k):
        k = min(k, n)
        if args.sample == "first" or k == n:
            return np.arange(k, dtype=np.int64), ("all nodes" if k == n else f"first {k} node ids")
        rng = np.random.default_rng(args.sample_seed)
        return np.sort(rng.choice(n, size=k, replace=False)), \
            f"random sample of {k} (numpy default_rng({args.sample_seed}).choice, sorted)"

    def timed(fn, items, init=None, initargs=()):  # best of --repeat
        return min(_run(fn, items, args.threads, init, initargs) for _ in range(args.repeat))

    def emit(what, seeds_desc, k, secs, repeat=None):
        rec = dict(peer=PACKAGE, what=what, graph=name, nodes=n, edges=nnz, seeds=int(k),
                   seconds=round(secs, 4), seeds_per_s=round(k / secs / args.threads, 2),
                   peak_rss_mib=peak_rss_mib(), threads=args.threads, repeat=repeat or args.repeat,
                   seed_choice=seeds_desc)
        print(json.dumps(rec), flush=True)

    seeds, desc = pick(args.seeds)
    items = [int(s) for s in seeds]
    lib_path = find_path()
    if "a" in args.what:
        # (a) the package's C++ push exactly as the reference calls it
        secs = timed(_pkg_call, items, _init_graphlocal, (G,))
        emit("approximate_PageRank(acl, cpp) per seed [package call]", desc, len(items), secs)
        # (a') the same C++ function, bare: preallocated buffers, direct ctypes
        _bare_worker_init(lib_path, G.ai, G.aj)
        secs = timed(_bare_call, items, _bare_worker_init, (lib_path, G.ai, G.aj))
        emit("aclpagerank32 C++ push per seed [bare ctypes, preallocated buffers]", desc,
             len(items), secs)
    if "b" in args.what and args.sweep_seeds > 0:
        # (b) the reference's whole per-seed pipeline, my_sweep_cut included
        seeds_b, desc_b = pick(args.sweep_seeds)
        items_b = [(int(s), 1 << 62, MAX_PUSH_STEPS, args.ego_size, "acl") for s in seeds_b]
        secs = _run(calc_local_clustering, items_b, args.threads, _init_graphlocal, (G,))  # once
        emit("calc_local_clustering per seed [reference pipeline incl. my_sweep_cut]", desc_b,
             len(items_b), secs, repeat=1)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    def graph_args(q, need_dataset):
        if need_dataset:
            q.add_argument("--dataset", required=True, choices=["cora", "citeseer"])
        else:
            g = q.add_mutually_exclusive_group(required=True)
            g.add_argument("--graph", help="HDF5 with graph/indptr, graph/indices (int64 CSR rows)")
            g.add_argument("--dataset", choices=["cora", "citeseer"])
        q.add_argument("--data-root", default="../shared/datasets")
        q.add_argument("--ego-size", type=int, default=EGO_SIZE)

    f = sub.add_parser("fixture", help="reference ego graphs of every node, to HDF5")
    graph_args(f, True)
    f.add_argument("--out", required=True)
    f.add_argument("--no-verify-replica", dest="verify_replica", action="store_false",
                   help="skip the Python pprgrow replica (push_steps then -1)")
    f.set_defaults(fn=cmd_fixture)

    b = sub.add_parser("bench", help="seeds/s of the package push and the reference pipeline")
    graph_args(b, False)
    b.add_argument("--seeds", type=int, required=True, help="seeds for the push timing (a)")
    b.add_argument("--sweep-seeds", type=int, default=200, help="seeds for (b); 0 skips it")
    b.add_argument("--threads", type=int, default=1, help="processes (the reference uses a Pool)")
    b.add_argument("--sample", choices=["random", "first"], default="random")
    b.add_argument("--sample-seed", type=int, default=0)
    b.add_argument("--what", default="ab", help="'a', 'b' or 'ab'")
    b.add_argument("--repeat", type=int, default=1, help="(a) timings: best of this many runs")
    b.set_defaults(fn=cmd_bench)
    args = p.parse_args(argv)
    args.fn(args)


if __name__ == "__main__":
    main()

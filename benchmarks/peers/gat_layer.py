"""One GAT layer's forward + backward with a peer's GATConv (DGL or PyG) on the graph bench_gat_layer writes,
as bench_gat_layer measures ours: reverse edges and self-loops added, training mode, loss <y, g> for a fixed
random g, median of the repeats after one warm-up; the process's peak RSS and its RSS before the first forward.
One JSON line, the keys of bench_gat_layer's.

    .venv-dgl/bin/python gat_layer.py --peer dgl --graph arxiv_graph.h5 --heads 4 --out 64 --threads 1
    .venv-pyg/bin/python gat_layer.py --peer pyg --graph arxiv_graph.h5 --heads 4 --out 256 --threads 2
    python3 gat_layer.py --peer pyg --graph arxiv_graph.h5 --device cuda --dtype bfloat16   (a GPU machine's torch)

On a GPU the device is synchronised around each repeat and "peak_gpu_allocated_mib" is torch's allocator peak
during the repeats.
"""
import argparse
import json
import os
import resource
import time


def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--peer", choices=["dgl", "pyg"], required=True)
    ap.add_argument("--graph", required=True, help="HDF5 with graph/indptr, graph/indices (rows = destinations)")
    ap.add_argument("--in", dest="in_dim", type=int, default=128)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--out", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--attn-drop", type=float, default=0.1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], default="float32")
    a = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(a.threads)
    import h5py
    import numpy as np
    import torch

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    with h5py.File(a.graph, "r") as f:
        indptr = torch.from_numpy(np.asarray(f["graph/indptr"], dtype=np.int64))
        src = torch.from_numpy(np.asarray(f["graph/indices"], dtype=np.int64))
    n = indptr.numel() - 1
    dst = torch.repeat_interleave(torch.arange(n), indptr[1:] - indptr[:-1])
    if a.peer == "dgl":
        os.environ["DGLBACKEND"] = "pytorch"
        import dgl
        from dgl.nn import GATConv

        g = dgl.to_bidirected(dgl.graph((src, dst), num_nodes=n))
        g = dgl.add_self_loop(dgl.remove_self_loop(g))
        edges = g.num_edges()
        layer = GATConv(a.in_dim, a.out, a.heads, attn_drop=a.attn_drop)
        version = f"dgl {dgl.__version__}"
        run = lambda x: layer(g, x)
    else:
        import torch_geometric
        from torch_geometric.nn import GATConv
        from torch_geometric.utils import add_self_loops, remove_self_loops, to_undirected

        ei = to_undirected(torch.stack([src, dst]), num_nodes=n)
        ei, _ = add_self_loops(remove_self_loops(ei)[0], num_nodes=n)
        edges = ei.size(1)
        layer = GATConv(a.in_dim, a.out, heads=a.heads, dropout=a.attn_drop, add_self_loops=False)
        version = f"pyg {torch_geometric.__version__}"
        run = lambda x: layer(x, ei)
    device = torch.device(a.device)
    dtype = getattr(torch, a.dtype)
    layer = layer.to(device, dtype)
    if a.peer == "dgl":
        g = g.to(device)
    else:
        ei = ei.to(device)
    layer.train()
    x = torch.randn(n, a.in_dim, device=device, dtype=dtype)
    grad = torch.randn(n, a.heads * a.out, device=device, dtype=dtype)
    baseline = rss_mib()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def step():
        y = run(x).reshape(n, -1)
        (y * grad).sum().backward()
        sync()

    step()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    times.sort()
    gpu_peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else 0.0
    print(json.dumps({
        "peer": version, "device": a.device, "dtype": a.dtype, "nodes": n, "edges": edges, "in": a.in_dim, "heads": a.heads,
        "out": a.out, "threads": a.threads, "median_s": times[len(times) // 2], "min_s": times[0],
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "baseline_rss_mib": baseline,
        "peak_gpu_allocated_mib": gpu_peak,
    }), flush=True)


if __name__ == "__main__":
    main()

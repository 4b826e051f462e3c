"""Seconds per full-batch pre-training epoch of the reference GraphMAE2 (THUDM/GraphMAE2: PyTorch + DGL), with
its own configs, model code and data loader. One JSON line. Runs in the DGL venv (dgl_setup.sh); the reference
is a checkout the caller provides (reference_epoch.sh clones it; none of it is committed here).

    python reference_epoch.py --reference DIR --dataset cora --threads 1 --epochs 20 [--planetoid DIR]

The timed loop is the body of the reference's main_full_batch.pretrain: forward (masking, EMA teacher, both
losses, the EMA update inside forward), zero_grad, backward, Adam step, cosine schedule step and the loss read
on the host. Left out: tqdm and the linear probe it runs every 200 epochs (graphmae2-train's per-epoch figures
are in its time; its diagnostics every diag_every epochs are not).

The data: DGL's own Planetoid reader (CoraGraphDataset / CiteseerGraphDataset, as the reference calls them) on
the Planetoid files in --planetoid, laid out where DGL looks (DGL_DOWNLOAD_DIR), so nothing is downloaded.
Imports the timed path does not use (tensorboardX, wandb, matplotlib, scikit-learn, ogb) are stubbed when
missing, so the venv needs no more than dgl_setup.sh installs.
"""
import argparse
import json
import os
import sys
import tempfile
import time
import types


def parse():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", required=True, help="checkout of THUDM/GraphMAE2")
    ap.add_argument("--dataset", default="cora", choices=["cora", "citeseer"])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--planetoid", default=os.path.join(here, "..", "..", "..", "shared", "datasets", "planetoid"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=20, help="timed epochs")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    return ap.parse_args()


def stub_missing(names):
    """Empty stand-ins for modules the reference imports at the top of a file but the timed path never calls."""
    import importlib.machinery
    import importlib.util

    for name, attrs in names.items():
        top = name.split(".")[0]
        if top not in sys.modules and importlib.util.find_spec(top) is not None:
            continue
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            sub = ".".join(parts[:i])
            if sub not in sys.modules:
                module = types.ModuleType(sub)
                module.__spec__ = importlib.machinery.ModuleSpec(sub, None)  # torch._dynamo asks for one
                sys.modules[sub] = module
        for a in attrs:
            setattr(sys.modules[name], a, None)


def planetoid_dir(src, dataset):
    """DGL reads <DGL_DOWNLOAD_DIR>/<name>_<sha1(url)[:8]>/ind.<name>.* (Cora's name is cora_v2) and downloads only
    when that folder is missing: links to the shared files there."""
    import hashlib

    from dgl.data.citation_graph import CitationGraphDataset, _get_dgl_url

    name = "cora_v2" if dataset == "cora" else dataset
    url = _get_dgl_url(CitationGraphDataset._urls[name])
    folder = name + "_" + hashlib.sha1(str(url).encode("utf-8")).hexdigest()[:8]
    root = tempfile.mkdtemp(prefix="dgl-planetoid-")
    os.makedirs(os.path.join(root, folder))
    for suffix in ["x", "y", "tx", "ty", "allx", "ally", "graph", "test.index"]:
        f = os.path.join(os.path.abspath(src), f"ind.{dataset}.{suffix}")
        if not os.path.isfile(f):
            sys.exit(f"reference_epoch: missing Planetoid file {f}")
        os.symlink(f, os.path.join(root, folder, f"ind.{name}.{suffix}"))
    return root


def main():
    a = parse()
    os.environ["OMP_NUM_THREADS"] = str(a.threads)  # before torch and dgl start their pools
    os.environ["DGLBACKEND"] = "pytorch"
    os.environ["DGL_DOWNLOAD_DIR"] = planetoid_dir(a.planetoid, a.dataset)
    stub_missing({
        "tensorboardX": ["SummaryWriter"], "wandb": [], "matplotlib.pyplot": [],
        "sklearn.decomposition": ["PCA"], "sklearn.manifold": ["TSNE"], "sklearn.preprocessing": ["StandardScaler"],
        "sklearn.linear_model": ["LogisticRegression"], "sklearn.metrics": ["f1_score", "accuracy_score"],
        "ogb.nodeproppred": ["DglNodePropPredDataset", "Evaluator"],
    })
    import numpy as np
    import torch

    torch.set_num_threads(a.threads)
    ref = os.path.abspath(a.reference)
    sys.path.insert(0, ref)
    os.chdir(ref)  # load_best_configs reads configs/<dataset>.yaml
    from utils import build_args, create_optimizer, load_best_configs, set_random_seed
    from datasets.data_proc import load_small_dataset
    from models import build_model

    sys.argv = ["main_full_batch.py", "--dataset", a.dataset, "--device", "-1", "--use_cfg"]
    args = load_best_configs(build_args())
    graph, (num_features, num_classes) = load_small_dataset(a.dataset)
    args.num_features = num_features
    set_random_seed(a.seed)
    model = build_model(args)
    optimizer = create_optimizer(args.optimizer, model, args.lr, args.weight_decay)
    max_epoch = args.max_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lr_lambda=lambda epoch: (1 + np.cos(epoch * np.pi / max_epoch)) * 0.5) if args.scheduler else None
    x = graph.ndata["feat"]
    targets = torch.arange(x.shape[0], dtype=torch.long)

    def epoch():
        model.train()
        loss = model(graph, x, targets=targets)
        loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        return loss.item()

    for _ in range(a.warmup):
        epoch()
    times, losses = [], []
    for _ in range(a.epochs):
        t0 = time.perf_counter()
        losses.append(epoch())
        times.append(time.perf_counter() - t0)
    import dgl

    print(json.dumps({
        "peer": f"reference GraphMAE2 (dgl {dgl.__version__}, torch {torch.__version__})",
        "what": "graphmae2_full_batch_epoch", "dataset": a.dataset, "threads": a.threads,
        "nodes": graph.num_nodes(), "edges": graph.num_edges(), "num_hidden": args.num_hidden,
        "num_heads": args.num_heads, "epochs": a.epochs, "epoch_seconds": sum(times) / len(times),
        "epoch_seconds_median": sorted(times)[len(times) // 2], "last_loss": losses[-1],
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(unset)"),
    }), flush=True)


if __name__ == "__main__":
    main()

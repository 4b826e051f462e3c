#!/usr/bin/env python3
"""Gradient-norm traces of MoCo v3 runs (the stability experiment of Chen et al. 2021, scaled down).

Reads the metrics.jsonl of each run (written by mocov3-train), plots the per-iteration gradient norm of the
patch projection, the first and the last transformer block, marks the detected spikes, and prints a Markdown
table of spike counts and accuracies.

    scripts/stability_plot.py --out stability.png \
        "learned, lr 1e-3=runs/stab-learned-lo" "frozen, lr 1e-3=runs/stab-frozen-lo" ...

Each argument is LABEL=RUN_DIR. Tooling only (matplotlib); the toolkit itself never needs Python.
"""
import argparse
import json
import math
import os
import sys


def load(run_dir):
    path = os.path.join(run_dir, "metrics.jsonl")
    iters, final = [], None
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"{path}:{n}: not JSON: {e}")
            if rec.get("type") == "iter":
                iters.append(rec)
            elif rec.get("type") == "final":
                final = rec
    if not iters:
        sys.exit(f"{path}: no iteration records")
    return iters, final


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="PNG to write")
    ap.add_argument("--title", default="MoCo v3 ViT gradient norms (Fashion-MNIST)")
    ap.add_argument("runs", nargs="+", help="LABEL=RUN_DIR")
    args = ap.parse_args()

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = []
    for spec in args.runs:
        if "=" not in spec:
            sys.exit(f"run '{spec}' must be LABEL=RUN_DIR")
        label, run_dir = spec.split("=", 1)
        runs.append((label, *load(run_dir)))

    groups = [("patch_embed", "patch projection (first layer)"), ("block_first", "first block"),
              ("block_last", "last block")]
    fig, axes = plt.subplots(len(groups), 1, figsize=(10, 3.2 * len(groups)), sharex=True)
    # One colour per run in every panel (a frozen projection is absent from the first), one legend for all.
    colours = {label: f"C{i}" for i, (label, _, _) in enumerate(runs)}
    for ax, (group, title) in zip(axes, groups):
        for label, iters, _ in runs:
            steps = [r["step"] for r in iters]
            norms = [r["grad"].get(group) for r in iters]
            pts = [(s, v) for s, v in zip(steps, norms) if v is not None and v > 0 and math.isfinite(v)]
            if not pts:
                continue  # e.g. a frozen patch projection has no gradient
            line, = ax.plot([p[0] for p in pts], [p[1] for p in pts], lw=0.7, label=label, color=colours[label],
                            alpha=0.85)
            spikes = [(r["step"], e["value"]) for r in iters for e in r.get("spikes", [])
                      if e["group"] == group and e["kind"] == "spike"]
            if spikes:
                ax.scatter([s for s, _ in spikes], [v for _, v in spikes], marker="x", s=30, color=line.get_color())
        ax.set_yscale("log")
        ax.set_ylabel("grad L2 norm")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    handles = [plt.Line2D([], [], color=colours[label], lw=1.5, label=label) for label, _, _ in runs]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(runs), 3), fontsize=8)
    axes[-1].set_xlabel("iteration (x = spike: norm > factor x running median)")
    fig.suptitle(args.title)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(args.out, dpi=110)

    print("| run | iterations | spikes patch proj | spikes first block | spikes last block | spikes total "
          "| kNN % | linear probe % |")
    print("|---|---|---|---|---|---|---|---|")
    for label, iters, final in runs:
        counts = {}
        for r in iters:
            for e in r.get("spikes", []):
                if e["kind"] == "spike":
                    counts[e["group"]] = counts.get(e["group"], 0) + 1
        knn = final.get("knn") if final else None
        probe = final.get("linear_probe") if final else None
        fmt = lambda v: "-" if v is None or v < 0 else f"{100 * v:.1f}"
        print(f"| {label} | {len(iters)} | {counts.get('patch_embed', 0)} | {counts.get('block_first', 0)} | "
              f"{counts.get('block_last', 0)} | {counts.get('total', 0)} | {fmt(knn)} | {fmt(probe)} |")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()

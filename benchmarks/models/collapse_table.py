#!/usr/bin/env python3
"""Issue 15's measured table (docs/diagnostics.md): every piece of advice the collapse flags print and every named
remedy, alone and in the combinations that make sense, on the synthetic reproduction (bench_collapse's default
graph, which collapses with the shipped small-graph config) and on Cora and CiteSeer (where a remedy must do no
harm). Runs build/bin/bench_collapse once per row (one thread each, --jobs rows at a time) and prints a Markdown
table: probe accuracy, effective rank, mean cosine and the number of diagnostics warnings of the final embeddings.

    python3 benchmarks/models/collapse_table.py [--jobs 2] [--epochs 100] [--only synthetic|cora|citeseer]
                                                [--rows NAME,...] [--seeds 0] [--out runs/collapse_table]
                                                [--report-only]

Each row's JSON line is kept in OUT/<dataset>-<epochs>/<row>.json; rows already there are not run again (delete the file
to re-measure), so an interrupted table resumes.
"""
import argparse
import concurrent.futures
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(ROOT, "build", "bin", "bench_collapse")

# The user's width (issue 15: 256 x 4 heads) on every dataset, so the rows compare like with like.
WIDTH = ["num_hidden=256", "num_heads=4"]
ADVICE = [
    ("shipped config", []),
    ("advice: mask_rate 0.75", ["mask_rate=0.75"]),
    ("advice: random remask, remask_rate 0.75", ["remask_method=random", "remask_rate=0.75"]),
    ("advice: EMA momentum 0.996", ["momentum=0.996"]),
    ("advice: lr / 10", ["lr=LR_TENTH"]),
    ("advice: all three (mask 0.75, momentum 0.996, lr / 10)", ["mask_rate=0.75", "momentum=0.996", "lr=LR_TENTH"]),
]
REMEDIES = [
    ("input_skip", ["input_skip=true"]),
    ("feature_norm standard", ["feature_norm=standard"]),
    ("input_skip + feature_norm standard", ["input_skip=true", "feature_norm=standard"]),
    ("VICReg terms (variance 1, covariance 0.04)", ["variance_reg=1", "covariance_reg=0.04"]),
    ("input_skip + VICReg terms", ["input_skip=true", "variance_reg=1", "covariance_reg=0.04"]),
    ("InfoNCE latent loss, lam 1", ["latent_loss=infonce", "lam=1"]),
    ("residual + layer norm", ["residual=true", "norm=layernorm"]),
    ("one encoder layer", ["num_layers=1"]),
    ("input_skip + feature_norm standard, one layer", ["input_skip=true", "feature_norm=standard", "num_layers=1"]),
    ("input_skip + feature_norm standard, mask_rate 0.75",
     ["input_skip=true", "feature_norm=standard", "mask_rate=0.75"]),
    ("input_skip + feature_norm standard, mask_rate 0.9", ["input_skip=true", "feature_norm=standard", "mask_rate=0.9"]),
    ("input_skip + feature_norm standard, mask_rate 0.75, in_drop 0.5",
     ["input_skip=true", "feature_norm=standard", "mask_rate=0.75", "in_drop=0.5"]),
    ("input_skip + feature_norm standard, lam 1", ["input_skip=true", "feature_norm=standard", "lam=1"]),
    ("input_skip + feature_norm standard, lr 0.005", ["input_skip=true", "feature_norm=standard", "lr=0.005"]),
    ("input_skip + feature_norm standard, in_drop 0", ["input_skip=true", "feature_norm=standard", "in_drop=0"]),
    ("input_skip + feature_norm standard, no latent branch",
     ["input_skip=true", "feature_norm=standard", "use_latent=false"]),
    ("input_skip + feature_norm standard, EMA momentum 0.996",
     ["input_skip=true", "feature_norm=standard", "momentum=0.996"]),
    ("input_skip + feature_norm standard, lr 0.002", ["input_skip=true", "feature_norm=standard", "lr=0.002"]),
    ("input_skip + feature_norm standard, weight_decay 0",
     ["input_skip=true", "feature_norm=standard", "weight_decay=0"]),
    ("self_reconstruction 1", ["self_reconstruction=1"]),
    ("input_skip + feature_norm standard + self_reconstruction 1 (retry's remedy)",
     ["input_skip=true", "feature_norm=standard", "self_reconstruction=1"]),
    ("input_skip + feature_norm standard + self_reconstruction 5",
     ["input_skip=true", "feature_norm=standard", "self_reconstruction=5"]),
    ("input_skip + feature_norm standard + self_reconstruction 1, no masked reconstruction",
     ["input_skip=true", "feature_norm=standard", "self_reconstruction=1", "use_reconstruction=false"]),
    ("input_skip + feature_norm standard + self_reconstruction 1, no masked reconstruction, lr 0.005",
     ["input_skip=true", "feature_norm=standard", "self_reconstruction=1", "use_reconstruction=false", "lr=0.005"]),
    ("input_skip + self_reconstruction 1, no masked reconstruction",
     ["input_skip=true", "self_reconstruction=1", "use_reconstruction=false"]),
    ("feature_norm standard + self_reconstruction 1, no masked reconstruction",
     ["feature_norm=standard", "self_reconstruction=1", "use_reconstruction=false"]),
]
DATASETS = {
    "synthetic": ("synthetic:nodes=5200,degree=66,classes=6,dim=8200,homophily=0.27,words=30,informative=0.35,"
                  "seed=0,train=0.2,val=0.2", "configs/cora.yaml", 0.001),
    "cora": ("cora", "configs/cora.yaml", 0.001),
    "citeseer": ("citeseer", "configs/citeseer.yaml", 0.0005),
}
# On Cora and CiteSeer only what could be advised or retried there: the advice and the retry's remedy.
DO_NO_HARM = {"shipped config", "advice: mask_rate 0.75", "advice: EMA momentum 0.996", "advice: lr / 10",
              "input_skip + feature_norm standard", "input_skip", "feature_norm standard",
              "input_skip + feature_norm standard + self_reconstruction 1 (retry's remedy)",
              "input_skip + feature_norm standard + self_reconstruction 1, no masked reconstruction"}


def slug(label):
    return "".join(c if c.isalnum() else "-" for c in label).strip("-").lower()


def run_row(dataset, label, sets, args):
    spec, config, lr = DATASETS[dataset]
    out_dir = os.path.join(args.out, "%s-%d" % (dataset, args.epochs))
    record = os.path.join(out_dir, slug(label) + ".json")
    if os.path.exists(record):
        with open(record) as f:
            return dataset, label, json.load(f)
    if args.report_only:
        return dataset, label, None
    sets = [s.replace("LR_TENTH", repr(lr / 10)) for s in sets]
    cmd = [BENCH, "--dataset", spec, "--config", os.path.join(ROOT, config), "--threads", "1", "--seeds", args.seeds,
           "--out", os.path.join(out_dir, "run-" + slug(label))]
    for s in WIDTH + ["max_epoch=%d" % args.epochs] + sets:
        cmd += ["--set", s]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    lines = [l for l in done.stdout.splitlines() if l.startswith("{")]
    if done.returncode != 0 or not lines:
        return dataset, label, {"error": (done.stderr or done.stdout).strip().splitlines()[-1:]}
    result = json.loads(lines[-1])
    os.makedirs(out_dir, exist_ok=True)
    with open(record + ".tmp", "w") as f:
        json.dump(result, f)
    os.replace(record + ".tmp", record)
    return dataset, label, result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--only", default="synthetic,cora,citeseer")
    ap.add_argument("--rows", default="", help="comma-separated row labels' slugs (default: all)")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--report-only", action="store_true", help="print the rows already measured; run nothing")
    ap.add_argument("--out", default=os.path.join(ROOT, "runs", "collapse_table"))
    args = ap.parse_args()
    if not os.path.exists(BENCH):
        sys.exit("collapse_table: %s is missing; build with scripts/build.sh --benchmarks" % BENCH)
    wanted = set(filter(None, args.rows.split(",")))
    jobs = []
    for dataset in args.only.split(","):
        if dataset not in DATASETS:
            sys.exit("collapse_table: unknown dataset %r (synthetic, cora, citeseer)" % dataset)
        for label, sets in ADVICE + REMEDIES:
            if dataset != "synthetic" and label not in DO_NO_HARM:
                continue
            if wanted and slug(label) not in wanted:
                continue
            jobs.append((dataset, label, sets))
    results = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for dataset, label, result in pool.map(lambda j: run_row(j[0], j[1], j[2], args), jobs):
            if result is not None:
                results[(dataset, label)] = result
                print("done: %s / %s" % (dataset, label), file=sys.stderr, flush=True)
    for dataset in args.only.split(","):
        rows = [(l, results[(d, l)]) for (d, l) in results if d == dataset]
        if not rows:
            continue
        first = next((r for _, r in rows if "raw_feature_probe" in r), {})
        print("\n%s (%s epochs, width 256 x 4 heads, seeds %s): raw-feature probe %.1f, 2-hop smoothed %.1f\n" %
              (dataset, args.epochs, args.seeds, first.get("raw_feature_probe", float("nan")),
               first.get("smoothed_2hop_probe", float("nan"))))
        print("| run | probe | effective rank | mean cosine | warnings | train s |")
        print("|---|---|---|---|---|---|")
        for label, r in rows:
            if "error" in r:
                print("| %s | error: %s | | | | |" % (label, " ".join(r["error"])))
                continue
            runs = r["runs"]
            mean = lambda k: sum(x[k] for x in runs) / len(runs)
            print("| %s | %.1f%s | %.1f | %.4f | %d | %.0f |" % (
                label, r["probe_mean"], (" ± %.1f" % r["probe_std"]) if len(runs) > 1 else "",
                mean("effective_rank"), mean("mean_cosine"), sum(x["warnings"] for x in runs), r["seconds"]))


if __name__ == "__main__":
    main()

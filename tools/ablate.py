#!/usr/bin/env python3
"""Ablation grid for GraphMAE2: runs build/bin/graphmae2-train once per grid cell over the same seeds and writes
a markdown table (accuracy mean ± std per cell) and PNG plots (accuracy bars, loss curves).

    python tools/ablate.py --dataset cora --config configs/cora.yaml --seeds 0-4 --out runs/ablation/cora
    python tools/ablate.py ... --max_epoch 50 --cells full,no_latent   # a quick grid
    python tools/ablate.py ... --dry-run                               # print the commands only
    python tools/ablate.py --list                                      # the grid
    python tools/ablate.py --selftest                                  # checks against a fake graphmae2-train

Each cell runs into OUT/cells/<cell>/. A cell whose result.json exists (for the same command) is skipped, so an
interrupted grid continues where it stopped (a cell cut off mid-way resumes its seeds with --resume when the
trainer supports it). Cells whose settings equal the baseline's (e.g. remask_fixed when the config already uses
fixed remasking) are not run again: the table shows them as the same run as `full`.
Only the standard library is needed to run the grid and write the table; plots need matplotlib (and numpy).
"""

import argparse
import hashlib
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The grid: (section, cell, overrides). Overrides are graphmae2-train flags (config keys). num_remasking and
# remask_rate only act with random remasking (the reference's fixed remask zeroes the masked nodes once), so
# their cells set remask_method random; momentum only acts through the latent branch, which `full` has on.
GRID = [
    ("Decoding branches", "full", {}),
    ("Decoding branches", "no_latent", {"use_latent": "false"}),
    ("Decoding branches", "no_reconstruction", {"use_reconstruction": "false"}),
    # The configuration of the GraphMAE2 user report: only the multi-view random re-mask reconstruction branch.
    ("Decoding branches", "rec_only_random_remask", {"use_latent": "false", "remask_method": "random"}),
    ("Remask method", "remask_fixed", {"remask_method": "fixed"}),
    ("Remask method", "remask_random", {"remask_method": "random"}),
    ("Remask views K (random remask)", "num_remasking_1", {"remask_method": "random", "num_remasking": "1"}),
    ("Remask views K (random remask)", "num_remasking_2", {"remask_method": "random", "num_remasking": "2"}),
    ("Remask views K (random remask)", "num_remasking_3", {"remask_method": "random", "num_remasking": "3"}),
    ("Remask rate (random remask)", "remask_rate_0.25", {"remask_method": "random", "remask_rate": "0.25"}),
    ("Remask rate (random remask)", "remask_rate_0.5", {"remask_method": "random", "remask_rate": "0.5"}),
    ("Remask rate (random remask)", "remask_rate_0.75", {"remask_method": "random", "remask_rate": "0.75"}),
    ("EMA momentum", "momentum_0", {"momentum": "0"}),
    ("EMA momentum", "momentum_0.9", {"momentum": "0.9"}),
    ("EMA momentum", "momentum_0.99", {"momentum": "0.99"}),
    ("EMA momentum", "momentum_0.996", {"momentum": "0.996"}),
    ("EMA momentum", "momentum_1", {"momentum": "1"}),
]
CELL_NAMES = [c for _, c, _ in GRID]


class AblateError(Exception):
    """A usage or input problem: printed as one line, exit code 2."""


# ----------------------------------------------------------------------------------------------------------------
# Settings: flat "key: value" YAML (the configs/ files and `graphmae2-train --list-keys`), compared by value.

def parse_flat_yaml(text, origin):
    """Returns {key: value-string} of a flat YAML mapping; comments and blank lines are skipped."""
    out = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        if ":" not in line or line[0].isspace():
            raise AblateError(f"{origin}:{lineno}: expected 'key: value', got {raw!r}")
        key, value = line.split(":", 1)
        out[key.strip()] = value.strip().strip('"').strip("'")
    return out


def same_value(a, b):
    """True when two setting strings mean the same value (0.5 == 5e-1, True == true)."""
    if a is None or b is None:
        return False
    la, lb = a.strip().lower(), b.strip().lower()
    if la == lb:
        return True
    try:
        return math.isclose(float(la), float(lb), rel_tol=1e-12, abs_tol=0.0)
    except ValueError:
        return False


def parse_seeds(text):
    """'0-4' -> [0..4], '0,2,5' -> [0, 2, 5] (the graphmae2-train syntax)."""
    seeds = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise AblateError(f"--seeds: empty item in {text!r}")
        try:
            if "-" in part:
                lo, hi = (int(x) for x in part.split("-", 1))
                if hi < lo:
                    raise AblateError(f"--seeds: range {part!r} is empty")
                seeds.extend(range(lo, hi + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise AblateError(f"--seeds: cannot read {part!r} in {text!r} (expected e.g. 0-4 or 0,2,5)")
    if len(set(seeds)) != len(seeds):
        raise AblateError(f"--seeds: {text!r} repeats a seed")
    return seeds


def parse_set(items):
    """--set KEY=VALUE (repeatable) -> OrderedDict."""
    out = OrderedDict()
    for item in items or []:
        if "=" not in item:
            raise AblateError(f"--set expects KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


# ----------------------------------------------------------------------------------------------------------------
# The trainer.

class Trainer:
    """The graphmae2-train binary and what its --help says it supports."""

    def __init__(self, path):
        self.path = Path(path)
        self.help = ""
        self.defaults = {}

    def probe(self):
        if not self.path.exists():
            raise AblateError(f"trainer {self.path} not found (build it with scripts/build.sh, or pass --train-bin)")
        try:
            self.help = subprocess.run([str(self.path), "--help"], capture_output=True, text=True, timeout=60).stdout
        except (OSError, subprocess.TimeoutExpired) as e:
            raise AblateError(f"cannot run {self.path} --help: {e}")
        if "--list-keys" in self.help:
            r = subprocess.run([str(self.path), "--list-keys"], capture_output=True, text=True, timeout=60)
            if r.returncode == 0:
                self.defaults = parse_flat_yaml(r.stdout, f"{self.path} --list-keys")

    def supports(self, flag):
        return flag in self.help


class Cell:
    def __init__(self, section, name, overrides, out_dir):
        self.section, self.name, self.overrides, self.dir = section, name, overrides, out_dir
        self.alias_of = None   # name of an identical cell that runs instead
        self.result = None     # parsed result.json
        self.error = None      # why it has no result


def effective_settings(trainer, config, common, overrides):
    settings = dict(trainer.defaults)
    settings.update(config)
    settings.update(common)
    settings.update(overrides)
    return settings


def build_grid(args, trainer, config, common):
    """Cells in grid order, with alias_of set for cells whose settings equal an earlier cell's."""
    wanted = CELL_NAMES if not args.cells else [c.strip() for c in args.cells.split(",") if c.strip()]
    unknown = [c for c in wanted if c not in CELL_NAMES]
    if unknown:
        raise AblateError(f"--cells: unknown cell(s) {', '.join(unknown)}; known: {', '.join(CELL_NAMES)}")
    cells = []
    for section, name, overrides in GRID:
        if name not in wanted:
            continue
        cells.append(Cell(section, name, OrderedDict(overrides), Path(args.out) / "cells" / name))
    # Only cells whose every overridden key is known (from --list-keys or the config) are compared; otherwise the
    # trainer's default for that key is unknown and the cell runs.
    known = set(trainer.defaults) | set(config) | set(common)
    for i, cell in enumerate(cells):
        if not set(cell.overrides) <= known:
            continue
        mine = effective_settings(trainer, config, common, cell.overrides)
        for earlier in cells[:i]:
            if earlier.alias_of is None and set(earlier.overrides) <= known:
                theirs = effective_settings(trainer, config, common, earlier.overrides)
                keys = set(mine) | set(theirs)
                if all(same_value(mine.get(k), theirs.get(k)) for k in keys):
                    cell.alias_of = earlier.name
                    break
    return cells


def cell_command(args, trainer, cell, common, resume):
    cmd = [str(trainer.path), "--dataset", args.dataset]
    if args.config:
        cmd += ["--config", args.config]
    cmd += ["--seeds", args.seeds, "--out", str(cell.dir)]
    if args.data_root:
        cmd += ["--data-root", args.data_root]
    if trainer.supports("--no-progress"):
        cmd.append("--no-progress")
    if resume:
        cmd.append("--resume")
    settings = OrderedDict(common)
    if args.max_epoch is not None:
        settings["max_epoch"] = str(args.max_epoch)
    settings.update(cell.overrides)
    for k, v in settings.items():
        cmd += [f"--{k}", v]
    return cmd


def identity(cmd):
    """The command without --resume and --no-progress: what must match for a stored result to be reused."""
    return [c for c in cmd if c not in ("--resume", "--no-progress")]


def read_result(cell, seeds):
    path = cell.dir / "result.json"
    try:
        result = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise AblateError(f"{path}: cannot read result ({e})")
    for key in ("mean", "std", "accuracies", "seeds"):
        if key not in result:
            raise AblateError(f"{path}: has no '{key}' (keys: {', '.join(sorted(result))})")
    if [int(s) for s in result["seeds"]] != seeds:
        raise AblateError(f"{path}: holds seeds {result['seeds']}, the grid asks for {seeds}")
    return result


def run_cell(args, trainer, cell, common, seeds, log):
    """Runs one cell unless its result exists; sets cell.result or cell.error."""
    stamp = cell.dir / "ablate_cell.json"
    fresh_cmd = cell_command(args, trainer, cell, common, resume=False)
    if stamp.exists():
        stored = json.loads(stamp.read_text()).get("command", [])
        if identity(stored) != identity(fresh_cmd):
            raise AblateError(
                f"{cell.dir} was run with a different command:\n  {shlex.join(stored)}\nnow:\n  "
                f"{shlex.join(fresh_cmd)}\nuse another --out, or delete {cell.dir} to run it again")
    if (cell.dir / "result.json").exists() and stamp.exists():
        cell.result = read_result(cell, seeds)
        log(f"[{cell.name}] done already ({cell.dir / 'result.json'}), skipped")
        return
    # A cell stopped part-way continues (--resume also starts a seed that has no checkpoint yet); the trainers
    # refuse a fresh run into a folder that holds a run's outputs.
    resume = trainer.supports("--resume") and cell.dir.is_dir() and any(cell.dir.glob("seed*/*"))
    cmd = cell_command(args, trainer, cell, common, resume=resume)
    if args.dry_run:
        print(shlex.join(cmd))
        return
    cell.dir.mkdir(parents=True, exist_ok=True)
    atomic_write(stamp, json.dumps({"cell": cell.name, "command": fresh_cmd}, indent=1) + "\n")
    log(f"[{cell.name}] running{' (resuming)' if resume else ''}: {shlex.join(cmd)}")
    t0 = time.time()
    with open(cell.dir / "train.log", "a") as out:
        out.write(f"\n$ {shlex.join(cmd)}\n")
        out.flush()
        rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=str(ROOT)).returncode
    if rc != 0 or not (cell.dir / "result.json").exists():
        cell.error = f"exit code {rc}: " + failure_reason((cell.dir / "train.log").read_text(), trainer.path.name)
        log(f"[{cell.name}] FAILED ({cell.error}); log: {cell.dir / 'train.log'}")
        return
    cell.result = read_result(cell, seeds)
    log(f"[{cell.name}] {fmt_pm(cell.result['mean'], cell.result['std'])} in {time.time() - t0:.0f} s")


def failure_reason(log_text, trainer_name):
    """The trainer's own error line(s) from this attempt's part of train.log, not the usage text after them."""
    attempt = log_text.rsplit("\n$ ", 1)[-1].splitlines()[1:]
    errors = [l.strip() for l in attempt
              if l.startswith(trainer_name + ":") or l.lstrip().lower().startswith(("error", "terminate called"))]
    if errors:
        return " | ".join(errors[-2:])
    tail = [l.strip() for l in attempt if l.strip()]
    return " | ".join(tail[-3:]) if tail else "no output"


# ----------------------------------------------------------------------------------------------------------------
# Reading the runs back.

def read_metrics(cell_dir):
    """metrics.jsonl of a cell -> {seed: [record, ...]} sorted by epoch; records with bad JSON are an error."""
    path = cell_dir / "metrics.jsonl"
    runs = {}
    if not path.exists():
        return runs
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise AblateError(f"{path}:{lineno}: not JSON ({e}): {line[:80]!r}")
        if "seed" not in rec or "epoch" not in rec:
            raise AblateError(f"{path}:{lineno}: record has no seed/epoch: {line[:80]!r}")
        runs.setdefault(rec["seed"], []).append(rec)
    for recs in runs.values():
        recs.sort(key=lambda r: r["epoch"])
    return runs


def mean_curve(runs, key):
    """Mean over seeds of `key` per epoch (epochs where every seed has a finite value): ([epochs], [means])."""
    per_epoch = {}
    for recs in runs.values():
        for r in recs:
            v = r.get(key)
            if isinstance(v, (int, float)) and math.isfinite(v):
                per_epoch.setdefault(r["epoch"], []).append(float(v))
    n = len(runs)
    epochs = sorted(e for e, vs in per_epoch.items() if len(vs) == n)
    return epochs, [sum(per_epoch[e]) / n for e in epochs]


def last_value(runs, key):
    """Mean over seeds of the last finite value of `key`, or None."""
    vals = []
    for recs in runs.values():
        finite = [r[key] for r in recs if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
        if finite:
            vals.append(finite[-1])
    return sum(vals) / len(vals) if vals else None


def fmt_pm(mean, std):
    return f"{mean:.1f} ± {std:.1f}"


def fmt_num(v, digits=4):
    return "–" if v is None else f"{v:.{digits}g}"


def collapse_warnings(result):
    return [w for w in result.get("warnings", []) if "collapse" in w or "agreement" in w]


def write_report(args, cells, seeds, plots):
    out = Path(args.out)
    by_name = {c.name: c for c in cells}
    lines = [f"# GraphMAE2 ablations on {args.dataset}", ""]
    lines.append(f"Seeds {args.seeds} ({len(seeds)} runs per cell); accuracy = linear-probe test accuracy (%) "
                 "at the best validation epoch, mean ± std over the seeds; final loss, effective rank and mean "
                 "cosine are the last logged values averaged over the seeds; warnings are the diagnostics' flags.")
    lines.append("")
    settings = [f"config `{args.config}`" if args.config else "trainer defaults"]
    if args.max_epoch is not None:
        settings.append(f"`--max_epoch {args.max_epoch}`")
    settings += [f"`--{k} {v}`" for k, v in parse_set(args.set).items()]
    lines.append("Settings: " + ", ".join(settings) + ".")
    lines.append("")
    section = None
    header = ("| cell | settings changed | accuracy | last-epoch acc. | final loss | eff. rank | mean cos | warnings |\n"
              "|---|---|---|---|---|---|---|---|")
    for cell in cells:
        if cell.section != section:
            section = cell.section
            lines += ["", f"### {section}", "", header]
        src = by_name[cell.alias_of] if cell.alias_of else cell
        changed = " ".join(f"`--{k} {v}`" for k, v in cell.overrides.items()) or "(config as is)"
        if cell.alias_of:
            changed += f" (= `{cell.alias_of}`: same settings)"
        if src.result is None:
            why = src.error or "not run"
            lines.append(f"| {cell.name} | {changed} | {why.replace('|', '/')} | | | | | |")
            continue
        r = src.result
        runs = read_metrics(src.dir)
        final = fmt_pm(r["final_mean"], r["final_std"]) if "final_mean" in r and "final_std" in r else "–"
        flags = r.get("warnings", [])
        coll = collapse_warnings(r)
        flag_text = "none" if not flags else (f"{len(flags)} ({len(coll)} collapse)" if coll else f"{len(flags)}")
        lines.append(f"| {cell.name} | {changed} | **{fmt_pm(r['mean'], r['std'])}** | {final} | "
                     f"{fmt_num(last_value(runs, 'loss'))} | {fmt_num(last_value(runs, 'effective_rank'), 3)} | "
                     f"{fmt_num(last_value(runs, 'mean_cosine'), 3)} | {flag_text} |")
    warned = [(c, w) for c in cells if c.result and not c.alias_of for w in c.result.get("warnings", [])]
    if warned:
        lines += ["", "### Diagnostics warnings", ""]
        seen = set()
        for c, w in warned:
            if (c.name, w) not in seen:
                seen.add((c.name, w))
                lines.append(f"- `{c.name}`: {w}")
    if plots:
        lines += ["", "### Plots", ""]
        lines += [f"![{p.stem}]({p.name})" for p in plots]
    lines += ["", "Command:", "", "```", "python tools/ablate.py " + shlex.join(args.argv), "```", ""]
    atomic_write(out / "ablation.md", "\n".join(lines))
    summary = {c.name: {"section": c.section, "overrides": c.overrides, "alias_of": c.alias_of,
                        "result": (by_name[c.alias_of] if c.alias_of else c).result,
                        "error": c.error} for c in cells}
    atomic_write(out / "summary.json", json.dumps(summary, indent=1) + "\n")
    return out / "ablation.md"


def make_plots(args, cells):
    """accuracy.png and loss_curves.png (plus effective_rank.png when logged); [] without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("ablate: matplotlib is not installed: no plots (pip install matplotlib)", file=sys.stderr)
        return []
    out = Path(args.out)
    by_name = {c.name: c for c in cells}
    done = [c for c in cells if (by_name[c.alias_of] if c.alias_of else c).result is not None]
    if not done:
        return []
    sections = list(OrderedDict.fromkeys(c.section for c in done))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    paths = []

    fig, ax = plt.subplots(figsize=(max(6.0, 0.55 * len(done) + 2), 4.2))
    for i, c in enumerate(done):
        r = (by_name[c.alias_of] if c.alias_of else c).result
        col = colors[sections.index(c.section) % len(colors)]
        ax.bar(i, r["mean"], yerr=r["std"], color=col, capsize=3, alpha=0.85 if not c.alias_of else 0.45)
        ax.scatter([i] * len(r["accuracies"]), r["accuracies"], s=8, color="black", zorder=3)
    lo = min(min(((by_name[c.alias_of] if c.alias_of else c).result["accuracies"] or [0])) for c in done)
    ax.set_ylim(max(0.0, lo - 5.0), None)
    ax.set_xticks(range(len(done)))
    ax.set_xticklabels([c.name for c in done], rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"GraphMAE2 ablations on {args.dataset} (seeds {args.seeds}; bars: mean ± std, dots: seeds)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colors[i % len(colors)]) for i in range(len(sections))]
    ax.legend(handles, sections, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    paths.append(out / "accuracy.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    for key, fname, ylabel in (("loss", "loss_curves.png", "training loss (mean over seeds)"),
                               ("effective_rank", "effective_rank.png", "effective rank (mean over seeds)")):
        curves = []
        for c in done:  # an alias is drawn from the run it shares, under its own name
            epochs, values = mean_curve(read_metrics((by_name[c.alias_of] if c.alias_of else c).dir), key)
            if epochs:
                curves.append((c, epochs, values))
        if not curves:
            continue
        cs = list(OrderedDict.fromkeys(c.section for c, _, _ in curves))
        ncols = min(3, len(cs))
        nrows = (len(cs) + ncols - 1) // ncols
        fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.4 * nrows), squeeze=False)
        for ax in axes.flat[len(cs):]:
            ax.set_visible(False)
        for ax, sec in zip(axes.flat, cs):
            for c, epochs, values in curves:
                if c.section == sec:
                    ax.plot(epochs, values, label=c.name + (f" (= {c.alias_of})" if c.alias_of else ""),
                            linewidth=1.2, linestyle="--" if c.alias_of else "-")
            positive = all(v > 0 for c, _, vs in curves if c.section == sec for v in vs)
            if key == "loss" and positive:
                ax.set_yscale("log")  # a collapse to ~0 is a straight drop on a log axis
            ax.set_title(sec, fontsize=9)
            ax.set_xlabel("epoch")
            ax.legend(fontsize=7)
        for row in axes:
            row[0].set_ylabel(ylabel)
        fig.tight_layout()
        paths.append(out / fname)
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    return paths


def atomic_write(path, text):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=str(path.parent), prefix="." + path.name + ".")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="tools/ablate.py", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", help="dataset name passed to graphmae2-train (cora, citeseer, ...)")
    p.add_argument("--config", help="YAML config (default: configs/<dataset>.yaml when it exists)")
    p.add_argument("--seeds", default="0-4", help="seeds of every cell, e.g. 0-4 or 0,2,5 (default 0-4)")
    p.add_argument("--out", help="output folder (default runs/ablation/<dataset>)")
    p.add_argument("--data-root", dest="data_root", help="passed to graphmae2-train --data-root")
    p.add_argument("--train-bin", dest="train_bin", default=str(ROOT / "build" / "bin" / "graphmae2-train"),
                   help="the graphmae2-train binary (default build/bin/graphmae2-train)")
    p.add_argument("--max_epoch", "--max-epoch", dest="max_epoch", type=int,
                   help="override max_epoch in every cell (quick grids)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="extra flag for every cell, e.g. --set num_threads=2 (repeatable)")
    p.add_argument("--cells", help="comma-separated subset of the grid (see --list)")
    p.add_argument("--dry-run", dest="dry_run", action="store_true", help="print the commands, run nothing")
    p.add_argument("--report-only", dest="report_only", action="store_true",
                   help="run nothing; rebuild table and plots from what is in --out")
    p.add_argument("--no-plots", dest="no_plots", action="store_true", help="table only")
    p.add_argument("--list", action="store_true", help="print the grid and exit")
    p.add_argument("--selftest", action="store_true", help="check this script against a fake graphmae2-train")
    args = p.parse_args(argv)
    args.argv = list(argv)
    return args


def main(argv):
    args = parse_args(argv)
    if args.selftest:
        return selftest()
    if args.list:
        for section, name, overrides in GRID:
            flags = " ".join(f"--{k} {v}" for k, v in overrides.items())
            print(f"{section:34s} {name:24s} {flags}")
        return 0
    if not args.dataset:
        raise AblateError("--dataset is required (e.g. --dataset cora)")
    if args.config is None and (ROOT / "configs" / f"{args.dataset}.yaml").exists():
        args.config = str(Path("configs") / f"{args.dataset}.yaml")
    if args.out is None:
        args.out = str(Path("runs") / "ablation" / args.dataset)
    if args.max_epoch is not None and args.max_epoch < 1:
        raise AblateError(f"--max_epoch must be >= 1, got {args.max_epoch}")
    seeds = parse_seeds(args.seeds)
    common = parse_set(args.set)
    config = {}
    if args.config:
        cfg_path = Path(args.config) if Path(args.config).is_absolute() else ROOT / args.config
        if not cfg_path.exists():
            raise AblateError(f"config {args.config} not found")
        config = parse_flat_yaml(cfg_path.read_text(), args.config)
    if args.max_epoch is not None:
        common["max_epoch"] = str(args.max_epoch)

    trainer = Trainer(args.train_bin)
    if not args.report_only:
        trainer.probe()
    elif trainer.path.exists():
        try:
            trainer.probe()  # its defaults decide which cells are aliases, as when the grid ran
        except AblateError:
            pass
    cells = build_grid(args, trainer, config, common)
    common.pop("max_epoch", None)  # passed by cell_command from args.max_epoch

    log = (lambda msg: None) if args.dry_run else (lambda msg: print(msg, flush=True))
    for cell in cells:
        if cell.alias_of:
            log(f"[{cell.name}] same settings as {cell.alias_of}: not run again")
            continue
        if args.report_only:
            if (cell.dir / "result.json").exists():
                cell.result = read_result(cell, seeds)
            continue
        run_cell(args, trainer, cell, common, seeds, log)
    if args.dry_run:
        return 0
    plots = [] if args.no_plots else make_plots(args, cells)
    report = write_report(args, cells, seeds, plots)
    failed = [f"{c.name} ({c.error})" for c in cells if c.error]
    print(f"ablate: table in {report}" + (f", plots {', '.join(p.name for p in plots)}" if plots else ""))
    if failed:
        print(f"ablate: {len(failed)} cell(s) failed: {'; '.join(failed)}. Run the same command again to retry",
              file=sys.stderr)
        return 1
    return 0


# ----------------------------------------------------------------------------------------------------------------
# Self-check against a fake trainer (python tools/ablate.py --selftest; ctest runs it as tools.AblateSelftest).

FAKE_TRAINER = r'''#!/usr/bin/env python3
# Fake graphmae2-train for tools/ablate.py --selftest: same CLI contract, deterministic made-up numbers.
import hashlib, json, math, os, sys
args = sys.argv[1:]
if args == ["--help"]:
    print("usage: graphmae2-train --dataset NAME [--resume] [--no-progress] [--KEY VALUE ...] --list-keys"); sys.exit(0)
if args == ["--list-keys"]:
    print("max_epoch: 500\nuse_latent: true\nuse_reconstruction: true\nremask_method: random\n"
          "num_remasking: 3\nremask_rate: 0.5\nmomentum: 0.996\nlr: 0.001"); sys.exit(0)
with open(os.environ["FAKE_CALLS"], "a") as f:
    f.write(" ".join(args) + "\n")
opts, i = {}, 0
while i < len(args):
    k = args[i][2:]
    if k in ("resume", "no-progress"):
        opts[k] = "true"; i += 1
    else:
        opts[k] = args[i + 1]; i += 2
out = opts["out"]
fail = os.environ.get("FAKE_FAIL_ONCE", "")
if fail and out.endswith("/" + fail) and not os.path.exists(out + "/failed_once"):
    os.makedirs(out + "/seed0", exist_ok=True)
    open(out + "/seed0/checkpoint.pt", "w").close()
    open(out + "/failed_once", "w").close()
    print("error: killed", file=sys.stderr); sys.exit(137)
if os.environ.get("FAKE_BAD_FLAG", "") and out.endswith("/" + os.environ["FAKE_BAD_FLAG"]):
    print("graphmae2-train: error: lr must be > 0, got -1 (command line --lr)\n\nusage: graphmae2-train "
          "--dataset NAME [options]\n  --config FILE   a YAML config\n  --list-keys     every key", file=sys.stderr)
    sys.exit(2)
lo, hi = opts["seeds"].split("-")
seeds = list(range(int(lo), int(hi) + 1))
key = " ".join(f"{k}={v}" for k, v in sorted(opts.items()) if k not in ("out", "seeds", "resume", "no-progress"))
base = 70 + int(hashlib.sha1(key.encode()).hexdigest()[:4], 16) % 15
accs = [base + 0.5 * s for s in seeds]
epochs = int(opts.get("max_epoch", 500))
collapse = opts.get("use_latent") == "false" and opts.get("remask_method") == "random"
lines = []
for s in seeds:
    for e in range(epochs):
        loss = 1e-5 if collapse and e >= 2 else 1.0 / (1 + e) + 0.1
        lines.append(json.dumps({"seed": s, "epoch": e, "loss": loss, "effective_rank": 30.0 - e * 0.1,
                                 "mean_cosine": 0.2}))
os.makedirs(out, exist_ok=True)
open(out + "/metrics.jsonl", "w").write("\n".join(lines) + "\n")
mean = sum(accs) / len(accs)
std = math.sqrt(sum((a - mean) ** 2 for a in accs) / len(accs))
warnings = ["WARNING: loss collapse at epoch 2: loss = 1e-05 < 0.001. raise remask_rate"] if collapse else []
json.dump({"dataset": opts["dataset"], "mean": mean, "std": std, "final_mean": mean - 1, "final_std": std,
           "accuracies": accs, "seeds": seeds, "warnings": warnings}, open(out + "/result.json", "w"))
print("done", opts["dataset"], "resume" if "resume" in opts else "")
'''


def selftest():
    import io
    from contextlib import redirect_stdout, redirect_stderr

    failures = []

    def check(cond, what):
        print(("ok   " if cond else "FAIL ") + what)
        if not cond:
            failures.append(what)

    with tempfile.TemporaryDirectory(prefix="ablate-selftest-") as tmp:
        tmp = Path(tmp)
        fake = tmp / "graphmae2-train"
        fake.write_text(FAKE_TRAINER.replace("#!/usr/bin/env python3", "#!" + sys.executable, 1))
        fake.chmod(0o755)
        cfg = tmp / "toy.yaml"
        cfg.write_text("# toy config\nlr: 0.001\nremask_method: fixed\nmomentum: 0\nmax_epoch: 800\n")
        calls = tmp / "calls.txt"
        os.environ["FAKE_CALLS"] = str(calls)
        out = tmp / "out"
        base = ["--dataset", "toy", "--config", str(cfg), "--seeds", "0-2", "--out", str(out),
                "--train-bin", str(fake), "--max_epoch", "6", "--set", "num_threads=1"]

        def run(extra, env=None):
            if env:
                os.environ.update(env)
            buf, err = io.StringIO(), io.StringIO()
            with redirect_stdout(buf), redirect_stderr(err):
                try:
                    rc = main(base + extra)
                except AblateError as e:
                    rc = 2
                    print(e, file=sys.stderr)
            for k in (env or {}):
                os.environ.pop(k)
            return rc, buf.getvalue(), err.getvalue()

        def ncalls():
            return len(calls.read_text().splitlines()) if calls.exists() else 0

        rc, text, _ = run(["--dry-run"])
        check(rc == 0 and ncalls() == 0 and not out.exists(), "dry run runs nothing and writes nothing")
        printed = [l for l in text.splitlines() if l.strip()]
        # 17 cells; remask_fixed and momentum_0 equal full (config: fixed, momentum 0); num_remasking_3 equals
        # remask_random (default K 3) and so does remask_rate_0.5 (default 0.5): 13 commands.
        check(len(printed) == 13, f"dry run prints one command per distinct cell (13), got {len(printed)}")
        check(all("--max_epoch 6" in l and "--num_threads 1" in l and "--no-progress" in l for l in printed),
              "every command carries --max_epoch, --set flags and --no-progress")
        check(any("--use_latent false --remask_method random" in l for l in printed),
              "the user-report cell (reconstruction only, random remask) is in the grid")

        rc, text, err = run([], env={"FAKE_FAIL_ONCE": "no_reconstruction"})
        check(rc == 1 and "no_reconstruction" in err, "a failing cell is reported and the grid goes on (exit 1)")
        check(ncalls() == 13, f"first pass ran 13 commands, got {ncalls()}")
        check((out / "cells" / "full" / "result.json").exists() and
              not (out / "cells" / "no_reconstruction" / "result.json").exists(), "results land per cell")
        rc, text, err = run([])
        check(rc == 0, f"second pass succeeds (rc {rc}, {err.strip()[:200]})")
        last = calls.read_text().splitlines()[13:]
        check(len(last) == 1 and "/no_reconstruction" in last[0] and "--resume" in last[0],
              "second pass only reruns the interrupted cell, with --resume")
        report = (out / "ablation.md").read_text()
        full = json.loads((out / "cells" / "full" / "result.json").read_text())
        check(f"**{full['mean']:.1f} ± {full['std']:.1f}**" in report, "table shows the cell's mean ± std")
        check("(= `full`: same settings)" in report, "aliases of full are marked")
        check("1 (1 collapse)" in report and "loss collapse at epoch 2" in report,
              "collapse warnings of the user-report cell reach the table")
        check(report.count("| momentum_") == 5 and report.count("| num_remasking_") == 3, "every cell has a row")
        rc, _, _ = run([])
        check(ncalls() == 14, "third pass runs nothing (resumable)")
        try:
            import matplotlib  # noqa: F401
            have_mpl = True
        except ImportError:
            have_mpl = False
        if have_mpl:
            for name in ("accuracy.png", "loss_curves.png", "effective_rank.png"):
                p = out / name
                check(p.exists() and p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{name} is a PNG")
        else:
            print("skip plots: matplotlib not installed")
        bad_out = tmp / "out-bad"
        rc, _, err = run(["--cells", "full", "--out", str(bad_out)], env={"FAKE_BAD_FLAG": "full"})
        check(rc == 1 and "lr must be > 0, got -1" in err and "usage:" not in err,
              f"a failed cell is reported with the trainer's error, not its usage text ({err.strip()[-200:]})")
        rc, _, err = run(["--cells", "full", "--seeds", "0-2", "--set", "lr=0.01"])
        check(rc == 2 and "different command" in err, "a cell run with other settings is refused, not mixed")
        rc, _, err = run(["--cells", "nope"])
        check(rc == 2 and "unknown cell" in err, "unknown cells are rejected")
        check(parse_seeds("0-4") == [0, 1, 2, 3, 4] and parse_seeds("1,3") == [1, 3], "seed lists parse")
        check(same_value("0.5", "5e-1") and same_value("True", "true") and not same_value("0", "0.9"),
              "settings compare by value")
    print(f"selftest: {'FAILED ' + str(len(failures)) if failures else 'all passed'}")
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except AblateError as e:
        print(f"ablate: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("\nablate: interrupted; run the same command again to continue", file=sys.stderr)
        sys.exit(130)

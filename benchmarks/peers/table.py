#!/usr/bin/env python3
"""Markdown table of peer benchmark JSON lines (stdlib only).

Reads JSON lines (files or stdin); a line counts when it is a JSON object with keys peer, what,
graph, threads, per_s and unit (or, as lc_reference.py prints, seeds and seconds: per_s = seeds /
seconds, unit seeds/s); anything else (logs, other records) is skipped. Rows are
(what, unit, graph, threads), with the figure names of the toolkit's bench_samplers and of
lc_reference.py mapped onto one name per workload (ALIASES); columns are ours (peer "graphmae2..."),
dgl ("dgl ..."), pyg ("pyg ..." / "torch_geometric ..."), lc ("localgraphclustering ..."), any other
peer, then ours/X for each peer X: the ratio of the rates (per_s), so > 1 means ours is faster.
`graph` is compared by file name (no folders).
Several lines for one cell (repeated runs): --agg max (default), median or last.
A second table gives each peer's peak RSS (MiB) per (graph, threads): the largest reported.

  python3 table.py results.jsonl [more.jsonl ...]
  cat results.jsonl | python3 table.py
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from collections import OrderedDict, defaultdict


# Same workload, different names: bench_samplers' and lc_reference.py's names -> the table's name.
ALIASES = {
    "neighbor_sample_blocks": "neighbor_blocks",
    "batched_induced_subgraphs_512": "induced_batch",
    "batched_induced_subgraphs_512_edges": "induced_batch",
    "calc_local_clustering per seed [reference pipeline incl. my_sweep_cut]": "local_clustering_ego256",
}


def peer_column(peer: str) -> str:
    p = peer.lower()
    if p.startswith("graphmae2") or p.startswith("ours"):
        return "ours"
    if p.startswith("dgl"):
        return "dgl"
    if p.startswith("pyg") or p.startswith("torch_geometric") or p.startswith("torch-geometric"):
        return "pyg"
    if p.startswith("localgraphclustering"):
        return "lc"
    return peer


def fmt(x) -> str:
    if x is None:
        return "–"
    a = abs(x)
    for div, suf in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            return f"{x / div:.3g}{suf}"
    return f"{x:.3g}"


def load(lines):
    recs = []
    for line in lines:
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(r, dict):
            continue
        if "per_s" not in r and r.get("seeds") and r.get("seconds"):  # lc_reference.py
            r["per_s"], r["unit"] = float(r["seeds"]) / float(r["seconds"]), "seeds/s"
        if not all(k in r for k in ("peer", "what", "graph", "threads", "per_s", "unit")) or r["per_s"] is None:
            continue
        r["what"] = ALIASES.get(str(r["what"]), str(r["what"]))
        recs.append(r)
    return recs


def build(recs, agg: str) -> str:
    cells = defaultdict(list)          # (row, col) -> [per_s]
    rss = defaultdict(float)           # ((graph, threads), col) -> peak MiB
    rows = OrderedDict()
    cols = ["ours", "dgl", "pyg"]
    for r in recs:
        graph = os.path.basename(str(r["graph"]))
        row = (str(r["what"]), str(r["unit"]), graph, int(r["threads"]))
        col = peer_column(str(r["peer"]))
        if col not in cols:
            cols.append(col)
        rows.setdefault(row, None)
        cells[(row, col)].append(float(r["per_s"]))
        if r.get("peak_rss_mib") is not None:
            key = ((graph, int(r["threads"])), col)
            rss[key] = max(rss[key], float(r["peak_rss_mib"]))

    def value(row, col):
        v = cells.get((row, col))
        if not v:
            return None
        return {"max": max, "last": lambda x: x[-1], "median": statistics.median}[agg](v)

    def ratio(a, b):
        return None if a is None or b is None or b == 0 else a / b

    others = [c for c in cols[1:] if c in ("dgl", "pyg") or any(k[1] == c for k in cells)]
    cols = ["ours"] + others
    head = ["what", "unit", "graph", "threads"] + cols + [f"ours/{c}" for c in others]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in sorted(rows, key=lambda k: (k[2], k[0], k[1], k[3])):
        vals = [value(row, c) for c in cols]
        ratios = [ratio(vals[0], v) for v in vals[1:]]
        out.append("| " + " | ".join([row[0], row[1], row[2], str(row[3])] + [fmt(v) for v in vals] +
                                     ["–" if q is None else f"{q:.2f}x" for q in ratios]) + " |")
    if rss:
        gts = sorted({k[0] for k in rss})
        used = [c for c in cols if any((gt, c) in rss for gt in gts)]
        out += ["", "peak RSS (MiB)", "", "| graph | threads | " + " | ".join(used) + " |",
                "|" + "---|" * (2 + len(used))]
        for gt in gts:
            out.append(f"| {gt[0]} | {gt[1]} | " + " | ".join(
                f"{rss[(gt, c)]:.0f}" if (gt, c) in rss else "–" for c in used) + " |")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="*", help="JSON-lines files (default: stdin)")
    ap.add_argument("--agg", choices=("max", "median", "last"), default="max")
    args = ap.parse_args(argv)
    lines = []
    if args.files:
        for f in args.files:
            with open(f) as fh:
                lines += fh.readlines()
    else:
        lines = sys.stdin.readlines()
    recs = load(lines)
    if not recs:
        print("(no benchmark records)")
        return 1
    print(build(recs, args.agg))
    return 0


if __name__ == "__main__":
    sys.exit(main())

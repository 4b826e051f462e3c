#!/usr/bin/env python3
"""Markdown table of peer benchmark JSON lines (stdlib only).

Reads JSON lines (files or stdin); a line counts when it is a JSON object with keys peer, what,
graph, threads, per_s and unit; anything else (logs, other records) is skipped. Rows are
(what, unit, graph, threads); columns are ours (peer "graphmae2..."), dgl ("dgl ..."), pyg
("pyg ..." / "torch_geometric ..."), any other peer, then ours/dgl and ours/pyg: the ratio of the
rates (per_s), so > 1 means ours is faster. `graph` is compared by file name (no folders).
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


def peer_column(peer: str) -> str:
    p = peer.lower()
    if p.startswith("graphmae2") or p.startswith("ours"):
        return "ours"
    if p.startswith("dgl"):
        return "dgl"
    if p.startswith("pyg") or p.startswith("torch_geometric") or p.startswith("torch-geometric"):
        return "pyg"
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
        if not isinstance(r, dict) or not all(k in r for k in ("peer", "what", "graph", "threads", "per_s", "unit")):
            continue
        if r["per_s"] is None:
            continue
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

    head = ["what", "unit", "graph", "threads"] + cols + ["ours/dgl", "ours/pyg"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in sorted(rows, key=lambda k: (k[2], k[0], k[1], k[3])):
        vals = [value(row, c) for c in cols]
        ours, dgl, pyg = vals[0], vals[1], vals[2]
        rd, rp = ratio(ours, dgl), ratio(ours, pyg)
        out.append("| " + " | ".join([row[0], row[1], row[2], str(row[3])] + [fmt(v) for v in vals] +
                                     ["–" if rd is None else f"{rd:.2f}x", "–" if rp is None else f"{rp:.2f}x"]) + " |")
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

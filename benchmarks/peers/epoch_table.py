"""Markdown table of epoch_table.sh's JSON lines: per dataset and thread count, the median over rounds of our
epoch (bench_epoch_gemm), the reference's (reference_epoch.py), and our epoch against its dense products' time.

    python3 epoch_table.py RESULTS.jsonl
"""
import json
import statistics
import sys
from collections import defaultdict


def median_ratio(rows):
    """Ours against the products at bench_blas's median rate (lines from before that field: n/a)."""
    rows = [r for r in rows if "blas_gflops_median" in r]
    if not rows:
        return "n/a"
    ratio = statistics.median(r["epoch_over_gemm_at_blas_median_rate"] for r in rows)
    return f"{ratio:.2f}x ({statistics.median(r['blas_gflops_median'] for r in rows):.0f})"


def main(path):
    ours, ref = defaultdict(list), defaultdict(list)
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            r = json.loads(line)
            if r.get("bench") == "epoch_gemm":
                ours[(r["dataset"], r["threads"])].append(r)
            elif r.get("what") == "graphmae2_full_batch_epoch":
                ref[(r["dataset"], r["threads"])].append(r)
    print("| dataset | threads | ours s/epoch | reference (DGL) s/epoch | reference / ours | dense products GFLOP/step "
          "| their time at bench_blas's rate (GFLOP/s) | ours / that | ours / that at bench_blas's median rate "
          "(GFLOP/s) | their time at their own measured rates | ours / that |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for key in sorted(set(ours) | set(ref)):
        med = lambda rows, k: statistics.median(r[k] for r in rows) if rows else float("nan")
        o, rf = ours.get(key, []), ref.get(key, [])
        e, re_ = med(o, "epoch_seconds"), med(rf, "epoch_seconds")
        gemm_blas, gemm_own = med(o, "gemm_seconds_at_blas_rate"), med(o, "gemm_seconds")
        print(f"| {key[0]} | {key[1]} | {e:.3f} | {re_:.3f} | {re_ / e:.2f}x | {med(o, 'gemm_gflop_per_step'):.1f} "
              f"| {gemm_blas:.3f} ({med(o, 'blas_gflops'):.0f}) | {e / gemm_blas:.2f}x "
              f"| {median_ratio(o)} | {gemm_own:.3f} | {e / gemm_own:.2f}x |")
    print(f"\n(medians over {max((len(v) for v in ours.values()), default=0)} round(s); {path})")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])

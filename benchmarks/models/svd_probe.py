#!/usr/bin/env python3
"""How much class signal a graph's features hold for a linear probe once compressed (docs/diagnostics.md): a
scikit-learn logistic regression (C chosen on the validation nodes) on the top-k singular vectors of the
standardised features, alone and concatenated with their neighbourhood mean. Reads a dataset cache written by
`graphmae2-data convert`. Needs numpy, scipy, h5py and scikit-learn (a venv of its own; not a product dependency).

    build/bin/graphmae2-data convert "synthetic:nodes=5200,..." /tmp/syn.h5
    python3 benchmarks/models/svd_probe.py /tmp/syn.h5 [--ranks 16,64,256]
"""
import argparse

import h5py
import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler


def probe(z, y, train, val, test):
    z = StandardScaler().fit(z[train]).transform(z)
    best = None
    for c in (0.01, 0.1, 1.0):
        model = LogisticRegression(C=c, max_iter=2000).fit(z[train], y[train])
        scores = (model.score(z[val], y[val]), model.score(z[test], y[test]), c)
        if best is None or scores[0] > best[0]:
            best = scores
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("cache")
    ap.add_argument("--ranks", default="16,64,256")
    args = ap.parse_args()
    with h5py.File(args.cache, "r") as f:
        x = f["features"][:].astype(np.float32)
        y = f["labels"][:]
        train, val, test = (f[k][:].astype(bool) for k in ("train_mask", "val_mask", "test_mask"))
        indptr, indices = f["graph/indptr"][:], f["graph/indices"][:]
    n = len(y)
    adj = sp.csr_matrix((np.ones(len(indices)), indices, indptr), shape=(n, n))
    mean_adj = sp.diags(1.0 / np.maximum(np.asarray(adj.sum(1)).ravel(), 1)) @ adj
    xs = (x - x.mean(0)) / (x.std(0) + 1e-8)
    print("| top-k singular vectors | alone: test (val) | with neighbourhood mean: test (val) |")
    print("|---|---|---|")
    for k in map(int, args.ranks.split(",")):
        p = TruncatedSVD(k, random_state=0).fit_transform(xs)
        alone = probe(p, y, train, val, test)
        both = probe(np.hstack([p, mean_adj @ p]), y, train, val, test)
        print("| %d | %.1f (%.1f) | %.1f (%.1f) |" % (k, 100 * alone[1], 100 * alone[0], 100 * both[1], 100 * both[0]))


if __name__ == "__main__":
    main()

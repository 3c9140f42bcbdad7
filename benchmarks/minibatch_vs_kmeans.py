"""KMeans against MiniBatchKMeans on a million customers: time, inertia, agreement.

Why ``algorithm="auto"`` keeps KMeans up to ``MINIBATCH_ABOVE`` customers. The customers are
CC_GENERAL.csv's (../shared/data, else the credit-card demo) in the model's scaled space, each
repeated until there are about a million, with a little noise.

    .venv/bin/python benchmarks/minibatch_vs_kmeans.py [--rows 1000000] [--k 4 8]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from segmentation import load_dataset
from segmentation.demo import demo_creditcard
from segmentation.model import Segmenter
from segmentation.model.algorithms import plain_clusterer

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "CC_GENERAL.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--k", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    dataset = load_dataset(SHARED if SHARED.exists() else demo_creditcard(8_950, seed=0))
    X = dataset.customers[dataset.model_features]
    Z0 = Segmenter(n_clusters=2, n_stability=0, log_features=dataset.log_features).fit(X).scale(X)
    rng = np.random.default_rng(0)
    Z = np.repeat(Z0, -(-args.rows // len(Z0)), axis=0)[: args.rows]
    Z = Z + rng.normal(0, 0.05, Z.shape)
    print(f"{len(Z):,} customers x {Z.shape[1]} features ({'CC_GENERAL.csv' if SHARED.exists() else 'demo'})")
    for k in args.k:
        start = time.perf_counter()
        ref = KMeans(k, n_init=4, random_state=0).fit(Z)
        print(f"k={k}  kmeans     {time.perf_counter() - start:6.1f} s")
        for seed in range(args.seeds):
            start = time.perf_counter()
            mb = plain_clusterer("minibatch", k, 4, seed).fit(Z)
            print(
                f"k={k}  minibatch  {time.perf_counter() - start:6.1f} s  seed {seed}  "
                f"inertia {100 * (mb.inertia_ / ref.inertia_ - 1):+.1f}%  "
                f"ARI vs kmeans {adjusted_rand_score(ref.labels_, mb.labels_):.2f}"
            )


if __name__ == "__main__":
    main()

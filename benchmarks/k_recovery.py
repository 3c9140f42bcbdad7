"""Does automatic k find the planted number of groups? The product's rule against each
criterion alone, on datasets it has never seen (:mod:`benchmarks.k_recovery_data`).

    python -m benchmarks.k_recovery              # all 48 generated datasets and iris, wine
    python -m benchmarks.k_recovery --smoke      # 2 small datasets (CI)
    python -m benchmarks.k_recovery --tune --max-customers 5000 --save t.pkl   # iterate on rules

Every dataset goes the product's way: written as the user's file, read by ``load_dataset``
(detection, cleaning, the shape's default features), fitted by ``Segmenter`` with its
defaults. Each criterion alone picks its k from the same sweep on the same scaled features
(the product's table has the gap statistic; the BIC of a Gaussian mixture and the prediction
strength are computed here on those features).
A criterion's adjusted Rand index (ARI) is that of the product's k-means at the k it picked.
Even-numbered datasets are the 'tune' half (the rule was chosen on them), odd ones the
'held-out' half (reported). A second table repeats the product's rule on the *separable*
datasets only (k-means at the planted k reaches an ARI of :data:`SEPARABLE_ARI`): the others
test the features more than the choice of k.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from benchmarks.k_recovery_data import N_DATASETS, dataset, public_datasets, write

K_RANGE = (2, 10)


def gmm_bic(Z: np.ndarray, ks, seed: int = 0, size: int = 5_000) -> list[float]:
    rng = np.random.default_rng(seed)
    X = Z if len(Z) <= size else Z[rng.choice(len(Z), size, replace=False)]
    return [float(GaussianMixture(k, covariance_type="full", reg_covar=1e-4, random_state=seed).fit(X).bic(X))
            for k in ks]


def measure(path: Path, truth: pd.Series, features: list[str] | None = None) -> tuple[pd.DataFrame, dict]:
    """The product's fit of ``path`` and, per k, its criteria, the baselines' statistics and
    the ARI of its k-means at that k against the planted groups."""
    from segmentation import load_dataset
    from segmentation.model import Segmenter
    from segmentation.model.algorithms import make_clusterer

    start = time.perf_counter()
    ds = load_dataset(path, features=features)
    X = ds.customers[ds.model_features]
    model = Segmenter(k_range=K_RANGE, log_features=ds.log_features).fit(X)
    seconds = time.perf_counter() - start
    y = truth.reindex(ds.customers["customer_id"].to_numpy()).to_numpy()
    Z = model.scale(X)  # the features' own axes: each k-means below learns its own metric
    table = model.k_selection_.copy()
    ks = table["k"].tolist()
    with threadpool_limits(1):  # the machine is shared: threads only add contention here
        table["ari"] = [
            adjusted_rand_score(y, make_clusterer(model.algorithm_, k, model.n_init, model.random_state).fit(Z).predict(Z))
            for k in ks
        ]
        table["gmm_bic"] = gmm_bic(Z, ks)
        table["prediction_strength"] = prediction_strength(Z, ks)
    fit = {"k": int(model.n_clusters_), "ari": float(adjusted_rand_score(y, model.labels_)), "reason": model.k_reason_,
           "features": ", ".join(ds.model_features), "feature_set": ds.feature_set, "seconds": seconds,
           "customers": len(X), **told_apart(Z, y)}
    return table, fit


def told_apart(Z: np.ndarray, y: np.ndarray, seed: int = 0) -> dict:
    """Whether the features carry the planted groups, apart from k-means: the 3-fold accuracy
    of a classifier that is shown the groups (quadratic discriminant analysis), and the ARI of a
    Gaussian mixture with full covariances at the planted k (which, unlike k-means, fits
    stretched and unequal groups)."""
    from sklearn.discriminant_analysis import QuadraticDiscriminantAnalysis
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    folds = StratifiedKFold(3, shuffle=True, random_state=seed)
    with threadpool_limits(1):
        accuracy = cross_val_score(QuadraticDiscriminantAnalysis(reg_param=0.01), Z, y, cv=folds).mean()
        mixture = GaussianMixture(len(np.unique(y)), covariance_type="full", n_init=2, reg_covar=1e-4,
                                  random_state=seed).fit(Z)
    return {"classifier_accuracy": float(accuracy), "mixture_ari": float(adjusted_rand_score(y, mixture.predict(Z)))}


def prediction_strength(Z: np.ndarray, ks, seed: int = 0, n_splits: int = 5, size: int = 4_000) -> list[float]:
    """Tibshirani and Walther's prediction strength per k, on a sample of at most ``size`` rows.

    Each of ``n_splits`` random splits in halves clusters both halves by k-means; for every
    cluster of the test half, the share of its pairs of rows that the training half's
    centroids also put together. A k's strength is the smallest share (its worst-predicted
    cluster), averaged over the splits.
    """
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(seed)
    X = Z if len(Z) <= size else Z[rng.choice(len(Z), size, replace=False)]
    splits = [rng.permutation(len(X)) for _ in range(n_splits)]
    out = []
    for k in ks:
        scores = []
        for s, order in enumerate(splits):
            train, test = X[order[: len(X) // 2]], X[order[len(X) // 2:]]
            if k >= len(test):
                break
            predicted = KMeans(k, n_init=2, random_state=seed + s).fit(train).predict(test)
            own = KMeans(k, n_init=2, random_state=seed + s).fit_predict(test)
            table = pd.crosstab(own, predicted).to_numpy().astype(float)
            n = table.sum(axis=1)
            keep = n >= 2
            scores.append(float(((table * (table - 1)).sum(axis=1)[keep] / (n[keep] * (n[keep] - 1))).min()))
        out.append(float(np.mean(scores)) if scores else float("nan"))
    return out


#: Tibshirani and Walther's threshold: the largest k whose prediction strength reaches it.
PS_THRESHOLD = 0.8


def ps_choice(t: pd.DataFrame, threshold: float = PS_THRESHOLD) -> int:
    ok = t[t["eligible"]]
    strong = ok[ok["prediction_strength"] >= threshold]
    return int(strong["k"].max()) if len(strong) else int(ok["k"].min())


def vote_with_ps(t: pd.DataFrame, weight: int = 1, threshold: float = PS_THRESHOLD) -> int:
    """The criteria's vote (without the dip) with prediction strength's k as one more
    criterion of ``weight`` votes (ties still to the higher Calinski-Harabasz)."""
    from segmentation.model.selection import WEIGHTS, preferences

    votes: dict[int, float] = {}
    prefs = {**preferences(t), "prediction_strength": ps_choice(t, threshold)}
    for name, k in prefs.items():
        if k is not None and (name in WEIGHTS or name == "prediction_strength"):
            votes[k] = votes.get(k, 0) + WEIGHTS.get(name, weight)
    ch = t.set_index("k")["calinski_harabasz"]
    return max(votes, key=lambda k: (votes[k], ch[k]))


# -- each criterion alone, from the per-k table ------------------------------------------------


def _best(table, column, largest=True):
    ok = table[table["eligible"]]
    return int(ok.loc[ok[column].idxmax() if largest else ok[column].idxmin(), "k"])


def alone() -> dict:
    from segmentation.model.selection import gap_choice, knee

    return {
        "elbow": lambda t: knee(t.loc[t["eligible"], "k"], t.loc[t["eligible"], "inertia"]) or int(t["k"].min()),
        "silhouette": lambda t: _best(t, "silhouette"),
        "Calinski-Harabasz (Tableau)": lambda t: _best(t, "calinski_harabasz"),
        "Davies-Bouldin": lambda t: _best(t, "davies_bouldin", largest=False),
        "BIC of a Gaussian mixture": lambda t: _best(t, "gmm_bic", largest=False),
        "gap statistic": lambda t: gap_choice(t[t["eligible"]]),
        f"prediction strength (largest k with {PS_THRESHOLD})": ps_choice,
    }


def score(results: list[dict], rules: dict) -> pd.DataFrame:
    """Per rule and half: the share of datasets whose planted k is chosen, the median ARI."""
    rows = []
    for half in ("held-out", "tune", "public"):
        part = [r for r in results if r["half"] == half]
        if not part:
            continue
        for name, rule in rules.items():
            ks = [rule(r) for r in part]
            aris = [float(r["table"].set_index("k").loc[k, "ari"]) for r, k in zip(part, ks, strict=True)]
            hits = [k == r["planted"] for r, k in zip(part, ks, strict=True)]
            rows.append({"half": half, "rule": name, "datasets": len(part), "planted k chosen": np.mean(hits),
                         "median ARI": float(np.median(aris))})
    return pd.DataFrame(rows)


def run(root: Path, indices, public: bool = True, features_for=None, progress=print,
        max_customers: int | None = None) -> list[dict]:
    """Generate, write and measure each dataset (at most ``max_customers`` customers each);
    ``features_for(spec)`` may override the model's features (for trying feature choices)."""
    results = []
    for i in indices:
        frame, truth, spec = dataset(i, max_customers)
        path = write(frame, root, spec.name)
        features = features_for(spec) if features_for else None
        table, fit = measure(path, truth, features)
        path.unlink()
        results.append({"name": spec.name, "half": spec.half, "shape": spec.shape, "planted": spec.k,
                        "shares": spec.shares, "groups": spec.groups, "table": table, "fit": fit})
        progress(f"{spec.name}: n={fit['customers']:,} chosen k={fit['k']} ARI {fit['ari']:.2f} ({fit['seconds']:.1f} s)")
    for name, frame, truth in public_datasets() if public else []:
        path = write(frame, root, name)
        table, fit = measure(path, truth)
        results.append({"name": name, "half": "public", "shape": fit["feature_set"], "planted": int(truth.nunique()),
                        "shares": list(truth.value_counts(normalize=True).sort_index()), "groups": [],
                        "table": table, "fit": fit})
        progress(f"{name}: chosen k={fit['k']} ARI {fit['ari']:.2f}")
    return results


def product_rule(r: dict) -> int:
    return r["fit"]["k"]


def vote_rule(r: dict) -> int:
    """The weighted vote of the criteria alone: the product's rule before the dip decided."""
    from segmentation.model.selection import preferences, tally

    return tally(r["table"], preferences(r["table"]))[0][0]


def report(results: list[dict]) -> list[str]:
    """The summary table (rules x halves) and the per-dataset table, as markdown lines."""
    rules = {"the product's rule": product_rule, "the vote of the criteria (the rule before)": vote_rule}
    rules.update({name: (lambda r, f=f: f(r["table"])) for name, f in alone().items()})
    # tried as a real vote (issue 12), not the product's rule: it is reported, not used
    rules["(tried) the vote + prediction strength as a 2-vote criterion"] = lambda r: vote_with_ps(r["table"], 2)
    # what no rule over k can beat: the features and k-means at the planted k
    rules["(ceiling) k-means at the planted k"] = lambda r: r["planted"]
    summary = score(results, rules)
    halves = [h for h in ("held-out", "tune", "public") if h in set(summary["half"])]
    head = "| choice of k | " + " | ".join(
        f"{h}: planted k chosen ({int(summary.loc[summary['half'] == h, 'datasets'].iloc[0])}) | {h}: median ARI"
        for h in halves) + " |"
    lines = [head, "|---|" + "---|---|" * len(halves)]
    for name in rules:
        cells = []
        for h in halves:
            row = summary[(summary["half"] == h) & (summary["rule"] == name)].iloc[0]
            cells += [f"{row['planted k chosen']:.0%}", f"{row['median ARI']:.2f}"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", *separable_lines(results, halves), "", *told_apart_lines(results, halves)]
    lines += ["", "| dataset | half | shape | customers | planted k | chosen k | ARI | ARI at planted k | "
                  "separable | classifier accuracy | mixture ARI at planted k | each criterion's k |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        others = ", ".join(f"{n.split(' ')[0]} {f(r['table'])}" for n, f in alone().items())
        lines.append(f"| {r['name']} | {r['half']} | {r['shape']} | {r['fit']['customers']:,} | {r['planted']} | "
                     f"{r['fit']['k']} | {r['fit']['ari']:.2f} | {at_planted(r):.2f} | "
                     f"{'yes' if separable(r) else 'no'} | {r['fit']['classifier_accuracy']:.2f} | "
                     f"{r['fit']['mixture_ari']:.2f} | {others} |")
    return lines


#: A dataset whose planted groups k-means itself cannot recover at the planted k (adjusted Rand
#: index below this) tests the features more than the rule for choosing k.
SEPARABLE_ARI = 0.8


def at_planted(r: dict) -> float:
    """ARI of the product's k-means at the planted k (what no choice of k can beat)."""
    return float(r["table"].set_index("k")["ari"].get(r["planted"], np.nan))


def separable(r: dict) -> bool:
    return at_planted(r) >= SEPARABLE_ARI


def separable_lines(results: list[dict], halves: list[str]) -> list[str]:
    """The product's rule and Calinski-Harabasz alone on the datasets whose planted groups
    k-means separates at the planted k: an extra split beside the headline table, which keeps
    every dataset."""
    ch = alone()["Calinski-Harabasz (Tableau)"]
    rules = {"the product's rule": product_rule, "the vote of the criteria (the rule before)": vote_rule,
             "Calinski-Harabasz (Tableau)": lambda r: ch(r["table"])}
    head = [f"Only the separable datasets (k-means at the planted k has ARI >= {SEPARABLE_ARI}):", "",
            "| choice of k | " + " | ".join(f"{h}: planted k chosen | {h}: median ARI" for h in halves) + " |",
            "|---|" + "---|---|" * len(halves)]
    rows = []
    for name, rule in rules.items():
        cells = []
        for h in halves:
            part = [r for r in results if r["half"] == h and separable(r)]
            if not part:
                cells += ["-", "-"]
                continue
            ks = [rule(r) for r in part]
            hits = sum(k == r["planted"] for r, k in zip(part, ks, strict=True))
            aris = [float(r["table"].set_index("k").loc[k, "ari"]) for r, k in zip(part, ks, strict=True)]
            total = sum(r["half"] == h for r in results)
            cells += [f"{hits} of {len(part)} ({hits / len(part):.0%}; {len(part)} of {total} separable)",
                      f"{np.median(aris):.2f}"]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return head + rows


#: A classifier shown the planted groups that reaches this accuracy on the features: the
#: features carry the groups, whether or not k-means finds them.
TOLD_APART = 0.9


def told_apart_lines(results: list[dict], halves: list[str]) -> list[str]:
    """Per half: how many datasets k-means separates at the planted k, how many a classifier
    shown the groups tells apart on the same features, and k-means against a Gaussian mixture
    at the planted k: whether a miss is the features' or the clustering's."""
    lines = [f"Where the groups are, if k-means does not find them (a classifier shown the planted groups, "
             f"3-fold accuracy >= {TOLD_APART}; a Gaussian mixture with full covariances at the planted k):", "",
             "| half | datasets | separable by k-means | told apart by a classifier | told apart, not separable | "
             "median ARI at the planted k: k-means | the same: Gaussian mixture |", "|---|---|---|---|---|---|---|"]
    for h in halves:
        part = [r for r in results if r["half"] == h]
        told = [r["fit"]["classifier_accuracy"] >= TOLD_APART for r in part]
        lost = sum(t and not separable(r) for r, t in zip(part, told, strict=True))
        lines.append(f"| {h} | {len(part)} | {sum(map(separable, part))} | {sum(told)} | {lost} | "
                     f"{np.median([at_planted(r) for r in part]):.2f} | "
                     f"{np.median([r['fit']['mixture_ari'] for r in part]):.2f} |")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="two small datasets")
    parser.add_argument("--only", type=int, action="append", help="dataset index (repeatable)")
    parser.add_argument("--out", help="also write the tables here")
    parser.add_argument("--max-customers", type=int, help="cap every dataset at this many customers")
    parser.add_argument("--tune", action="store_true", help="only the tune half (even datasets)")
    parser.add_argument("--save", help="also pickle the per-dataset results here (for trying rules offline)")
    args = parser.parse_args(argv)
    indices = args.only or ([6, 7] if args.smoke else range(0, N_DATASETS, 2) if args.tune else range(N_DATASETS))
    with tempfile.TemporaryDirectory() as tmp:
        results = run(Path(tmp), indices, public=not (args.smoke or args.only or args.tune),
                      max_customers=args.max_customers, progress=lambda m: print(m, file=sys.stderr, flush=True))
    if args.save:
        with open(args.save, "wb") as f:
            pickle.dump(results, f)
    lines = report(results)
    print("\n".join(lines))
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

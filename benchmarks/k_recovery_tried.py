"""What was tried for issue 12's rule and not taken, measured again (README, "k recovery").

    python -m benchmarks.k_recovery_tried --max-customers 5000

Everything is chosen on the tune half (even datasets 0-46) and checked on 24 more designs
(even seeds 48-94, which the generator continues; none of them is held-out):

- the dip between neighbouring segments as it was built, a step at a time (the line joining
  the means, Fisher's discriminant, the noise discount, few-valued features spread), each
  deciding k in place of the product's, from the same fits;
- k-means at the planted k in plain standardised units and in its segments' metric at several
  shrinkages, and the k chosen on demo draws at each (``--metric-only``, about 5 minutes);
- prediction strength as a vote in the product's rule (weights, thresholds, tie-breaks), and
  the vote among only the k with enough strength;
- every weighting of the criteria, Sugar and James' jump method and prediction strength,
  with four tie-breaks: the best on the tune half, scored on the other designs;
- counts and totals per year of tenure in place of the counts and totals of loan and
  purchase logs, with the log transform of every feature, of none but the skewed ones, or of
  all but one; the default without the features that repeat others; and, for loan logs, the
  k and ARI on several draws of the demo generator.

``--save FILE`` / ``--load FILE`` keep the per-k tables so that only the loan logs are refitted;
``--features-only`` measures only the feature choices (about 10 minutes at 5,000 customers).
"""

from __future__ import annotations

import argparse
import itertools
import pickle
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.k_recovery import ps_choice, run
from benchmarks.k_recovery_data import dataset, write

TUNE = range(0, 48, 2)
MORE = range(48, 96, 2)
JUMP_POWER = 1.5


def jump(r: dict, power: float = JUMP_POWER) -> int:
    """Sugar and James' jump method on the per-k inertia: the largest jump of the transformed
    distortion (inertia per row and feature, to the power -``power``); k=1's inertia is n x p
    on standardised features."""
    t = r["table"]
    n, p = r["fit"]["customers"], len(r["fit"]["features"].split(", "))
    inertia = np.r_[n * p, t["inertia"].to_numpy()]
    ks = np.r_[1, t["k"].to_numpy()]
    d = np.r_[0.0, (inertia / (n * p)) ** (-power)]
    return int(ks[np.argmax(np.diff(d)[1:]) + 1])


#: The dip as it was built, a step at a time (README, "how the dip was built"): the options of
#: :func:`segmentation.model.selection.min_dip` per step; the last is the product's.
DIP_STEPS = {
    "along the line joining the means": {"fisher": False, "noise_errors": 0.0, "spread": False},
    "along Fisher's discriminant": {"noise_errors": 0.0, "spread": False},
    "+ sampling noise discounted": {"spread": False},
    "+ few-valued features spread (the product)": {},
}


@contextmanager
def recording_dips(seen: list):
    """While active, each ``min_dip`` the product's fit computes (one per k, in k order) also
    appends every :data:`DIP_STEPS` variant's value to ``seen``."""
    from segmentation.model import estimator, selection

    def record(Z, labels):
        seen.append({name: selection.min_dip(Z, labels, **options) for name, options in DIP_STEPS.items()})
        return selection.min_dip(Z, labels)

    estimator.min_dip = record
    try:
        yield
    finally:
        estimator.min_dip = selection.min_dip


def fit_recording_dips(root: Path, indices, cap: int | None, progress) -> list[dict]:
    """:func:`benchmarks.k_recovery.run` with one ``dip: <step>`` column per dip variant in
    each per-k table."""
    results = []
    for i in indices:
        seen: list = []
        with recording_dips(seen):
            (r,) = run(root, [i], public=False, max_customers=cap, progress=progress)
        dips = pd.DataFrame(seen)
        assert len(dips) == len(r["table"]), "one min_dip per k"
        for name in DIP_STEPS:
            r["table"][f"dip: {name}"] = dips[name].to_numpy()
        results.append(r)
    return results


def dip_step_lines(tune: list[dict], more: list[dict]) -> list[str]:
    """The planted k found and the median ARI when each dip variant decides (the vote when no
    k dips), against the vote alone."""
    from segmentation.model.selection import choose_k

    def rule(name):
        def k_of(r):
            t = r["table"].drop(columns="min_dip")
            if name:
                t["min_dip"] = t[f"dip: {name}"]
            return choose_k(t, 0.0)[0]
        return k_of

    lines = []
    for label, name in (("the vote of the criteria, no dip", None), *((n, n) for n in DIP_STEPS)):
        k_of = rule(name)
        lines.append(f"{label}: tune {fmt(score(tune, [k_of(r) for r in tune]))}, "
                     f"seeds 48-94 {fmt(score(more, [k_of(r) for r in more]))}")
    return lines


#: The k-means metric's shrinkage towards a sphere: the values compared (the product's is
#: :data:`segmentation.model.algorithms.WITHIN_SHRINKAGE`).
SHRINKAGES = (0.1, 0.3, 0.5)
#: Draws of the demo e-commerce generator (customers, seed), 5 groups each.
DEMO_SHOPS = [(600, 5), (1_000, 3), (2_000, 1), (5_000, 0)]


def metric_lines(root: Path, cap: int | None) -> list[str]:
    """K-means at the planted k in plain standardised units and in its segments' metric at
    each shrinkage (how many datasets it separates, ARI 0.8 or more; the mean ARI), and the k
    the product chooses on draws of the demo generators at each shrinkage."""
    from sklearn.metrics import adjusted_rand_score

    from segmentation import load_dataset
    from segmentation.demo import demo_ecommerce, demo_transactions
    from segmentation.model import Segmenter, algorithms

    variants = {"plain k-means": {"rounds": 0}, **{f"metric, shrinkage {v}": {"shrinkage": v} for v in SHRINKAGES}}
    lines = []
    for label, indices in (("tune", TUNE), ("seeds 48-94", MORE)):
        aris = {name: [] for name in variants}
        for i in indices:
            frame, truth, spec = dataset(i, cap)
            path = write(frame, root, spec.name)
            ds = load_dataset(path)
            path.unlink()
            X = ds.customers[ds.model_features]
            y = truth.reindex(ds.customers["customer_id"].to_numpy()).to_numpy()
            Z = Segmenter(n_clusters=2, n_stability=0, log_features=ds.log_features).fit(X).scale(X)
            for name, options in variants.items():
                labels = algorithms.WithinKMeans(spec.k, **options).fit(Z).labels_
                aris[name].append(adjusted_rand_score(y, labels))
        lines += [f"{label}, k-means at the planted k, {name}: separates {sum(a >= 0.8 for a in v)} of {len(v)}, "
                  f"mean ARI {np.mean(v):.2f}" for name, v in aris.items()]
    default = algorithms.WITHIN_SHRINKAGE
    try:
        for v in SHRINKAGES:
            algorithms.WITHIN_SHRINKAGE = v
            found = []
            for n, seed in DEMO_DRAWS:
                frame = demo_transactions(n, seed=seed, with_groups=True)
                path = root / "demo.csv"
                frame.drop(columns="group").to_csv(path, index=False)
                demo = load_dataset(path)
                found.append(f"loans {n:,}/{seed}: k={Segmenter(n_stability=0).fit(demo.customers[demo.model_features]).n_clusters_}")
            for n, seed in DEMO_SHOPS:
                shop = load_dataset(demo_ecommerce(n, seed=seed))
                found.append(f"shop {n:,}/{seed}: k={Segmenter(n_stability=0).fit(shop.customers[shop.model_features]).n_clusters_}")
            lines.append(f"demo draws (4 loan groups, 5 shop groups), shrinkage {v}: " + ", ".join(found))
    finally:
        algorithms.WITHIN_SHRINKAGE = default
    return lines


def prefs_of(r: dict, threshold: float = 0.8) -> dict:
    from segmentation.model.selection import preferences

    return {**preferences(r["table"]), "jump": jump(r), "ps": ps_choice(r["table"], threshold)}


def vote(r: dict, weights: dict, prefs: dict, tie: str = "ch") -> int:
    votes: dict[int, float] = {}
    for name, k in prefs.items():
        if k is not None and weights.get(name, 0):
            votes[k] = votes.get(k, 0) + weights[name]
    t = r["table"].set_index("k")
    key = {"ch": lambda k: t.loc[k, "calinski_harabasz"], "ps": lambda k: t.loc[k, "prediction_strength"],
           "large": lambda k: k, "small": lambda k: -k, "silhouette": lambda k: t.loc[k, "silhouette"]}[tie]
    return max(votes, key=lambda k: (votes[k], key(k)))


def score(results: list[dict], ks: list[int]) -> tuple[float, float]:
    hits = np.mean([k == r["planted"] for r, k in zip(results, ks, strict=True)])
    aris = [float(r["table"].set_index("k").loc[k, "ari"]) for r, k in zip(results, ks, strict=True)]
    return float(hits), float(np.median(aris))


def fmt(s: tuple[float, float]) -> str:
    return f"{s[0]:.0%} and {s[1]:.2f}"


def prediction_strength_lines(tune: list[dict], more: list[dict]) -> list[str]:
    from segmentation.model.selection import WEIGHTS

    current = score(tune, [r["fit"]["k"] for r in tune])
    lines = [f"the product's rule: {fmt(current)} (seeds 48-94: {fmt(score(more, [r['fit']['k'] for r in more]))})"]
    for thr in (0.8, 0.85, 0.9):
        lines.append(f"prediction strength alone, largest k >= {thr}: "
                     f"{fmt(score(tune, [ps_choice(r['table'], thr) for r in tune]))} "
                     f"(seeds 48-94: {fmt(score(more, [ps_choice(r['table'], thr) for r in more]))})")
    rows = []
    for thr, weight, tie in itertools.product((0.7, 0.8, 0.9), (1, 2, 3), ("ch", "ps")):
        ks = [vote(r, {**WEIGHTS, "ps": weight}, prefs_of(r, thr), tie) for r in tune]
        rows.append((score(tune, ks), thr, weight, tie))
    best = max(rows, key=lambda row: row[0])
    better = [row for row in rows if row[0] > current]
    lines.append(f"prediction strength as a vote ({len(rows)} rules): best {fmt(best[0])} "
                 f"(threshold {best[1]}, {best[2]} votes, ties to {best[3]}); better than the rule: {len(better)}")
    for thr in (0.7, 0.8):
        ks = []
        for r in tune:
            from segmentation.model.selection import choose_k

            t = r["table"].copy()
            t["eligible"] &= t["prediction_strength"] >= thr
            ks.append(choose_k(t, 0.01)[0] if t["eligible"].any() else r["fit"]["k"])
        lines.append(f"the vote among the k with strength >= {thr}: {fmt(score(tune, ks))}")
    return lines


def weighting_lines(tune: list[dict], more: list[dict]) -> list[str]:
    pt, pm = [prefs_of(r) for r in tune], [prefs_of(r) for r in more]
    rows = []
    for e, s, c, d, g, j, ps in itertools.product((0, 1), (0, 1), (0, 1, 2, 3), (0, 1), (0, 1, 2), (0, 1, 2, 3), (0, 1, 2)):
        w = {"elbow": e, "silhouette": s, "calinski_harabasz": c, "davies_bouldin": d, "gap": g, "jump": j, "ps": ps}
        if not any(w.values()):
            continue
        for tie in ("ch", "large", "small", "silhouette"):
            rows.append((score(tune, [vote(r, w, p, tie) for r, p in zip(tune, pt, strict=True)]), w, tie))
    rows.sort(key=lambda row: row[0], reverse=True)
    lines = [f"{len(rows)} weightings x tie-breaks, chosen on the tune half, checked on seeds 48-94:",
             f"  the product's rule: tune {fmt(score(tune, [r['fit']['k'] for r in tune]))}, "
             f"others {fmt(score(more, [r['fit']['k'] for r in more]))}",
             f"  jump method alone (power {JUMP_POWER}): tune {fmt(score(tune, [jump(r) for r in tune]))}, "
             f"others {fmt(score(more, [jump(r) for r in more]))}"]
    top = [row for row in rows if row[0] == rows[0][0]]
    for s, w, tie in top:
        other = score(more, [vote(r, w, p, tie) for r, p in zip(more, pm, strict=True)])
        named = ", ".join(f"{k} {v}" for k, v in w.items() if v)
        lines.append(f"  best on tune: {named}, ties to {tie}: tune {fmt(s)}, others {fmt(other)}")
    return lines


#: Loans per year of tenure (a column of the feature SQL) with tenure: issue 12's candidate.
RATE_LOANS = ["loans_per_year", "avg_txn_amount", "avg_repayment_days", "late_share", "recency_days", "tenure_days"]
LOAN_DEFAULT = ["txn_count", "avg_txn_amount", "total_amount", "avg_repayment_days", "late_share", "recency_days"]
PURCHASE_DEFAULT = ["recency_days", "frequency", "monetary", "avg_order_value", "tenure_days"]


def without(features: list[str], *drop: str) -> list[str]:
    return [f for f in features if f not in drop]


#: Per log shape: (name, features, log-transformed features) of the default, the rate choices
#: and the default without the features that repeat others (a total is count x average on a
#: log scale; the late share and the average repayment days both say how late).
FEATURE_CHOICES = {
    "transactions": (
        ("default", LOAN_DEFAULT, "auto"),
        ("without total_amount", without(LOAN_DEFAULT, "total_amount"), "auto"),
        ("without late_share", without(LOAN_DEFAULT, "late_share"), "auto"),
        ("without either", without(LOAN_DEFAULT, "total_amount", "late_share"), "auto"),
        ("per year", RATE_LOANS, "all"),
        ("per year, skew test", RATE_LOANS, "auto"),
        ("per year, tenure not logged", RATE_LOANS, [f for f in RATE_LOANS if f != "tenure_days"]),
        ("per year, late_share not logged", RATE_LOANS, [f for f in RATE_LOANS if f != "late_share"]),
        ("per year, no tenure", RATE_LOANS[:-1], "all"),
    ),
    "purchases": (
        ("default", PURCHASE_DEFAULT, "all"),
        ("without monetary", without(PURCHASE_DEFAULT, "monetary"), "all"),
        ("without tenure_days", without(PURCHASE_DEFAULT, "tenure_days"), "all"),
        ("per year", ["recency_days", "purchases_per_year", "spend_per_year", "avg_order_value", "tenure_days"],
         "all"),
    ),
}
#: The README's demo logs: how many groups their generator plants.
DEMO_GROUPS = {"transactions": 4, "purchases": 5}
#: Draws of the demo loan generator (customers, seed): the README's, the tests' and a few more.
DEMO_DRAWS = [(5_000, 0), (2_000, 7), (1_500, 3), (2_000, 1), (2_000, 2), (600, 5), (3_000, 11)]


def with_rates(customers):
    """Purchases and spend per year of tenure (a customer of under 30 days counts as 30 days);
    loan logs have loans_per_year from the feature SQL."""
    out = customers.copy()
    if "frequency" in out:
        years = np.maximum(out["tenure_days"], 30) / 365
        out["purchases_per_year"] = out["frequency"] / years
        out["spend_per_year"] = out["monetary"] / years
    return out


def feature_lines(root: Path, cap: int | None) -> list[str]:
    """Per log shape, the default features against counts and totals per year of tenure: the
    rule's k and ARI, and k-means at the planted k, on both sets; the demo log's k."""
    from sklearn.metrics import adjusted_rand_score

    from segmentation import load_dataset
    from segmentation.demo import write_demo
    from segmentation.model import Segmenter
    from segmentation.model.algorithms import make_clusterer

    def fit(customers, features, log):
        X = with_rates(customers)[features]
        return Segmenter(k_range=(2, 10), log_features=features if log == "all" else log).fit(X), X

    lines = []
    for shape, choices in FEATURE_CHOICES.items():
        for label, indices in (("tune", TUNE), ("seeds 48-94", MORE)):
            stats = {name: [] for name, _, _ in choices}
            for i in indices:
                frame, truth, spec = dataset(i, cap)
                if spec.shape != shape:
                    continue
                path = write(frame, root, spec.name)
                ds = load_dataset(path)
                path.unlink()
                y = truth.reindex(ds.customers["customer_id"].to_numpy()).to_numpy()
                for name, features, log in choices:
                    model, X = fit(ds.customers, features, log)
                    ceiling = make_clusterer(model.algorithm_, spec.k, model.n_init, 0).fit(model.scale(X)).labels_
                    stats[name].append((model.n_clusters_ == spec.k, adjusted_rand_score(y, model.labels_),
                                        adjusted_rand_score(y, ceiling)))
            for name, rows in stats.items():
                hits, aris, ceilings = zip(*rows, strict=True)
                lines.append(f"{shape}, {label}, {len(rows)} logs, {name}: planted k {sum(hits)} of {len(rows)}, "
                             f"median ARI {np.median(aris):.2f}, k-means at the planted k mean ARI "
                             f"{np.mean(ceilings):.2f}")
        if shape == "transactions":
            lines += demo_loan_lines(root, choices, fit)
            continue
        # the README's demo log (5,000 customers, seed 0)
        demo = load_dataset(write_demo(root / f"demo-{shape}.csv", shape=shape))
        for name, features, log in choices:
            lines.append(f"{shape}, demo log ({DEMO_GROUPS[shape]} groups), {name}: "
                         f"k={fit(demo.customers, features, log)[0].n_clusters_}")
    return lines


def demo_loan_lines(root: Path, choices, fit) -> list[str]:
    """Per feature choice, k and ARI against the demo generator's groups on each of
    :data:`DEMO_DRAWS`, read as a user's file is."""
    from sklearn.metrics import adjusted_rand_score

    from segmentation import load_dataset
    from segmentation.demo import demo_transactions

    found = {name: [] for name, _, _ in choices}
    for n, seed in DEMO_DRAWS:
        frame = demo_transactions(n, seed=seed, with_groups=True)
        path = root / f"demo-{n}-{seed}.csv"
        frame.drop(columns="group").to_csv(path, index=False)
        demo = load_dataset(path)
        path.unlink()
        truth = frame.groupby("customer_id")["group"].first()
        y = truth.reindex(demo.customers["customer_id"].to_numpy()).to_numpy()
        for name, features, log in choices:
            model = fit(demo.customers, features, log)[0]
            found[name].append(f"{n:,}/{seed}: k={model.n_clusters_} ({adjusted_rand_score(y, model.labels_):.2f})")
    return [f"transactions, demo draws (customers/seed: k (ARI), {DEMO_GROUPS['transactions']} groups), {name}: "
            + ", ".join(ks) for name, ks in found.items()]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-customers", type=int, default=5000)
    parser.add_argument("--save", help="pickle the per-k tables of both sets here")
    parser.add_argument("--load", help="read the per-k tables from a --save file instead of fitting")
    parser.add_argument("--features-only", action="store_true", help="only the feature choices")
    parser.add_argument("--metric-only", action="store_true", help="only the k-means metric's comparisons")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if args.metric_only:
            print("\n".join(["K-means in its segments' metric:", *metric_lines(root, args.max_customers)]))
            return 0
        if args.features_only:
            print("\n".join(["Counts and totals per year of tenure:", *feature_lines(root, args.max_customers)]))
            return 0
        if args.load:
            with open(args.load, "rb") as f:
                tune, more = pickle.load(f)
        else:
            def progress(m):
                print(m, file=sys.stderr, flush=True)
            tune = fit_recording_dips(root, TUNE, args.max_customers, progress)
            more = fit_recording_dips(root, MORE, args.max_customers, progress)
        if args.save:
            with open(args.save, "wb") as f:
                pickle.dump((tune, more), f)
        lines = ["The dip, a step at a time:", *dip_step_lines(tune, more), "",
                 "Prediction strength, chosen on the tune half:", *prediction_strength_lines(tune, more), "",
                 *weighting_lines(tune, more), "", "Counts and totals per year of tenure:", *feature_lines(root, args.max_customers)]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Benchmark of the regression stage: the study's plain LassoCV call vs our default vs ``--solver fast``.

On the same scaled features and the same outer folds (the study's KFold), times the whole
5-fold cross-validation three ways:

- plain: the study's code path (pandas frames, ``LassoCV(max_iter=1000, tol=1e-2,
  random_state=42, n_jobs=-1)`` on each outer training part);
- default: ``plmtransfer.learn.regress.cross_validate`` (must give the same per-fold metrics, 1e-6);
- fast: the same with ``solver="fast"`` (target: >= 5x faster, test R² within 0.005 per fold).

Features: one-hot ``flat`` of a real DMS assay from the mirror, and a random-projection
STAND-IN for pLM mean embeddings (tanh of one-hot times a fixed Gaussian 20L x 1280 matrix):
NOT a protein language model, only dense 1280-dimensional features of the same shape.
Reports median wall seconds and process CPU seconds (all threads; steadier on a shared machine)
over ``--repeats`` interleaved runs, and the range of the per-round fast speed-ups.

``--patience-check ROWS`` instead checks the early stop of ``--solver fast`` on every DMS assay of
the mirror: it records the study's mean inner-CV MSE curve (plain LassoCV, 100 alphas) of each
outer fold on up to ROWS rows, for both feature kinds, and counts the folds in which stopping
``patience`` alphas past the running minimum would have missed the curve's minimum.
Run it under ``flock /tmp/plmtransfer-bench.lock``.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn import metrics
from sklearn.linear_model import Lasso, LassoCV
from sklearn.preprocessing import MinMaxScaler
from threadpoolctl import threadpool_limits

from plmtransfer.cli.common import HelpFormatter, run_cli
from plmtransfer.data.sequences import onehot_encode
from plmtransfer.learn import lasso, regress, splits
from plmtransfer.learn.features import Table

KINDS = ("onehot flat", "random-projection stand-in (not a pLM)")
METRICS = ["R2_score_train", "MAE_score_train", "RMSE_score_train", "R2_score_test",
           "MAE_score_test", "RMSE_score_test", "rho_score_train", "rho_score_test"]


def create_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--mirror", default="../shared/data", help="offline data mirror root")
    parser.add_argument("--assay", default="BLAT_ECOLX_Ostermeier2014", help="DMS assay of the mirror")
    parser.add_argument("--onehot-sizes", type=int, nargs="*", default=[500, 2000],
                        help="row counts for one-hot flat features")
    parser.add_argument("--dense-sizes", type=int, nargs="*", default=[500, 2000, 4000],
                        help="row counts for the 1280-dim random-projection stand-in")
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs of each variant per case (interleaved); medians are reported")
    parser.add_argument("--patience-check", type=int, metavar="ROWS",
                        help="instead of timing, check --solver fast's early stop on every mirror assay "
                        "(up to ROWS rows)")
    return parser


def features_for(assay: pd.DataFrame, kind: str) -> np.ndarray:
    """One-hot flat (float32) or the 1280-dim random-projection stand-in (float32, seed 0)."""
    onehot = np.stack([onehot_encode(sequence).reshape(-1) for sequence in assay["sequence"]])
    if kind == KINDS[0]:
        return onehot
    projection = np.random.default_rng(0).standard_normal((onehot.shape[1], 1280)).astype(np.float32)
    return np.tanh(onehot @ projection / 10).astype(np.float32)


def plain_study_call(features: np.ndarray, target: pd.Series) -> pd.DataFrame:
    """The study's loop: global MinMax scaling, KFold(5, shuffle, 42), LassoCV per fold, pandas."""
    scaled = pd.DataFrame(MinMaxScaler(feature_range=(0, 1)).fit_transform(features))
    rows = []
    for train, test in splits.random_folds(len(scaled)):
        model = LassoCV(max_iter=1000, tol=1e-2, random_state=42, n_jobs=-1)
        model.fit(scaled.iloc[train], target.iloc[train])
        row = {"num_nonzero_coefs": int(np.sum(model.coef_ != 0))}
        for part, rows_of_part in (("train", train), ("test", test)):
            prediction = pd.DataFrame(model.predict(scaled.iloc[rows_of_part]))
            scores = study_scores(target.iloc[rows_of_part], prediction)
            row.update({f"{name}_score_{part}": value for name, value in scores.items()})
        rows.append(row)
    return pd.DataFrame(rows)


def study_scores(y_true: pd.Series, y_pred: pd.DataFrame) -> dict[str, float]:
    """The study's metrics: scikit-learn's R², MAE, RMSE and scipy's Spearman rho."""
    return {"R2": metrics.r2_score(y_true, y_pred), "MAE": metrics.mean_absolute_error(y_true, y_pred),
            "RMSE": float(np.sqrt(metrics.mean_squared_error(y_true, y_pred))),
            "rho": spearmanr(y_true, y_pred)[0]}


def timed(function):
    """Run ``function``; return (result, wall seconds, process CPU seconds)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def load_compiled_solver() -> float:
    """Load (or on first use compile and cache) the numba solver for both dtypes; the seconds it took.

    A one-off cost per process (per installation when it compiles), kept out of the timed runs.
    """
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for dtype in (np.float32, np.float64):
        X = np.asfortranarray(rng.random((60, 80)).astype(dtype))
        for n_rows in (60, 40):  # without and with Gram matrices
            regress.study_compiled_lassocv().fit(X[:n_rows, :30 if n_rows == 40 else 80], rng.random(n_rows))
    return time.perf_counter() - start


def run_case(assay: pd.DataFrame, kind: str, n_rows: int, repeats: int) -> dict:
    """Time the three variants on ``n_rows`` rows (seeded sample) of one feature kind.

    Each variant runs ``repeats`` times, the three interleaved (plain, default, fast, plain, ...),
    and the median wall and CPU seconds are reported, so that a burst of load on the shared
    host hits all three alike. Every repeat's results are compared with the plain call's.
    """
    sample = assay.sample(n=min(n_rows, len(assay)), random_state=0).reset_index(drop=True)
    features = features_for(sample, kind)
    table = Table(sample[["ID", "target"]], features)
    variants = {"plain": lambda: plain_study_call(features, sample["target"]),
                "default": lambda: regress.cross_validate(table, regress.Options()),
                "fast": lambda: regress.cross_validate(table, regress.Options(solver="fast"))}
    runs = {name: [] for name in variants}
    for _ in range(repeats):
        for name, variant in variants.items():
            runs[name].append(timed(variant))
    wall = {name: float(np.median([run[1] for run in done])) for name, done in runs.items()}
    cpu = {name: float(np.median([run[2] for run in done])) for name, done in runs.items()}
    plain = runs["plain"][0][0]
    default_diff = max(float(np.nanmax(np.abs(run[0][METRICS].to_numpy() - plain[METRICS].to_numpy())))
                       for run in runs["default"])
    return {"features": kind, "rows": len(sample), "columns": features.shape[1],
            "plain_s": wall["plain"], "default_s": wall["default"], "fast_s": wall["fast"],
            "default_speedup": wall["plain"] / wall["default"], "fast_speedup": wall["plain"] / wall["fast"],
            "fast_speedup_range": "{:.2f}-{:.2f}".format(*speedup_range(runs["plain"], runs["fast"])),
            "plain_cpu": cpu["plain"], "default_cpu": cpu["default"], "fast_cpu": cpu["fast"],
            "default_cpu_speedup": cpu["plain"] / cpu["default"], "fast_cpu_speedup": cpu["plain"] / cpu["fast"],
            "default_max_metric_diff": default_diff,
            "default_coefs_equal": all(bool((run[0]["num_nonzero_coefs"] == plain["num_nonzero_coefs"]).all())
                                       for run in runs["default"]),
            "fast_max_test_R2_diff": max(float(np.abs(run[0]["R2_score_test"] - plain["R2_score_test"]).max())
                                         for run in runs["fast"])}


def speedup_range(plain_runs: list, fast_runs: list) -> tuple[float, float]:
    """Smallest and largest wall-time ratio of a plain run to the fast run of the same round."""
    ratios = [plain[1] / fast[1] for plain, fast in zip(plain_runs, fast_runs, strict=True)]
    return min(ratios), max(ratios)


@dataclass
class StudyFold:
    """One outer fold of the study's LassoCV: its mean inner-CV MSE curve and what a refit needs."""

    assay: str
    kind: str
    fold: int
    curve: np.ndarray
    alphas: np.ndarray
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    study_test_r2: float
    one_thread_alpha_index: int
    one_thread_test_r2: float
    fast_alpha_index: int
    fast_test_r2: float

    def test_r2(self, alpha_index: int) -> float:
        """Test R² of the study's refit (``Lasso`` with LassoCV's settings) at one alpha of the grid."""
        model = Lasso(alpha=self.alphas[alpha_index], max_iter=1000, tol=1e-2, random_state=42)
        return float(model.fit(self.X_train, self.y_train).score(self.X_test, self.y_test))


def grid_index(alphas: np.ndarray, alpha: float) -> int:
    """Index of the grid alpha nearest to ``alpha`` (on a log scale)."""
    return int(np.argmin(np.abs(np.log(alphas / alpha))))


def study_folds(assay: pd.DataFrame, name: str, kind: str, n_rows: int) -> list[StudyFold]:
    """The study's LassoCV on each outer fold of up to ``n_rows`` rows of one assay and feature kind."""
    sample = assay.sample(n=min(n_rows, len(assay)), random_state=0).reset_index(drop=True)
    features = MinMaxScaler().fit_transform(features_for(sample, kind)).astype(np.float32)
    target = sample["target"].to_numpy()
    folds = []
    for number, (train, test) in enumerate(splits.random_folds(len(sample)), start=1):
        keep = regress.varying_columns(features[train])
        X_train, X_test = features[train][:, keep], features[test][:, keep]
        model = LassoCV(max_iter=1000, tol=1e-2, random_state=42, n_jobs=1).fit(X_train, target[train])
        with threadpool_limits(limits=1):
            one_thread = LassoCV(max_iter=1000, tol=1e-2, random_state=42, n_jobs=1).fit(X_train, target[train])
        fast = regress.study_compiled_lassocv().fit(np.asfortranarray(X_train), target[train])
        folds.append(StudyFold(name, kind, number, model.mse_path_.mean(axis=1), model.alphas_,
                               X_train, target[train], X_test, target[test],
                               study_test_r2=float(model.score(X_test, target[test])),
                               one_thread_alpha_index=grid_index(model.alphas_, one_thread.alpha_),
                               one_thread_test_r2=float(one_thread.score(X_test, target[test])),
                               fast_alpha_index=grid_index(model.alphas_, fast.alpha_),
                               fast_test_r2=float(fast.score(X_test, target[test]))))
    return folds


SHIPPED = regress.study_compiled_lassocv()
"""``--solver fast``'s estimator: its early-stop rule and tie margin are the shipped ones."""

RULES = [(3, None), (5, None), (8, None), (10, None), (5, 0.0), (5, 0.01), (10, 0.0), (10, 0.01)]
"""Early-stop rules checked: (patience, null-model margin); ``None`` = no null-model guard."""


def early_stop_choice(curve: np.ndarray, patience: int, null_margin: float | None) -> tuple[int, int]:
    """The alpha index ``--solver fast`` picks from ``curve`` under one early-stop rule; how many alphas it walked."""
    walked = np.full(len(curve), np.inf)
    for chunk in lasso.walk_chunks(len(curve), patience):
        walked[chunk] = curve[chunk]
        if lasso.walk_finished(walked, chunk[-1], patience, null_margin):
            break
    return lasso.chosen_alpha_index(walked, SHIPPED.tie), int(chunk[-1]) + 1


def patience_check(mirror: Path, n_rows: int) -> tuple[pd.DataFrame, ...]:
    """Per early-stop rule and feature kind, simulated on the study's own curves: the folds in
    which the early stop misses the study's alpha, what the misses cost in test R² and how many
    alphas the walk takes; for the shipped rule, each miss. Then the shipped ``--solver fast`` itself
    (``CompiledLassoCV`` run on every fold) and, as the yardstick of the study's own
    reproducibility, the study's LassoCV with BLAS held to one thread (which rounds products
    differently): how often each picks another alpha than the study's LassoCV with default
    threads, the test-R² differences, and each fold where they exceed 0.005."""
    folds: list[StudyFold] = []
    for path in sorted((mirror / "dms").glob("*.csv.gz")):
        assay = pd.read_csv(path, dtype={"ID": str}).dropna(subset=["target"]).drop_duplicates("ID")
        if assay["sequence"].str.len().nunique() != 1:
            continue
        for kind in KINDS:
            folds += study_folds(assay, path.name.removesuffix(".csv.gz"), kind, n_rows)
        print(f"{path.name}: {len(folds)} folds", flush=True)
    shipped = (SHIPPED.patience, SHIPPED.null_margin)
    counts, shipped_misses, actual_misses = [], [], []
    for patience, null_margin in RULES:
        for kind in KINDS:
            walks, misses = [], []
            for fold in (fold for fold in folds if fold.kind == kind):
                study = int(np.argmin(fold.curve))
                fast, walked = early_stop_choice(fold.curve, patience, null_margin)
                walks.append(walked)
                if fast != study:
                    misses.append({"assay": fold.assay, "features": kind, "fold": fold.fold,
                                   "study_alpha_index": study, "fast_alpha_index": fast,
                                   "test_R2_difference": fold.test_r2(fast) - fold.test_r2(study)})
            differences = np.abs([miss["test_R2_difference"] for miss in misses])
            counts.append({"patience": patience, "null_margin": "off" if null_margin is None else null_margin,
                           "features": kind, "folds": len(walks), "missed_study_alpha": len(misses),
                           "misses_over_0.005": int(np.sum(differences > 0.005)),
                           "largest_abs_R2_difference": float(differences.max(initial=0.0)),
                           "mean_alphas_walked": float(np.mean(walks))})
            if (patience, null_margin) == shipped:
                shipped_misses += misses
    actual = []
    variants = (("--solver fast (shipped)", "fast_alpha_index", "fast_test_r2"),
                ("study's LassoCV, BLAS on 1 thread", "one_thread_alpha_index", "one_thread_test_r2"))
    for label, alpha_field, r2_field in variants:
        for kind in KINDS:
            of_kind = [fold for fold in folds if fold.kind == kind]
            differences = np.array([getattr(fold, r2_field) - fold.study_test_r2 for fold in of_kind])
            actual.append({"variant": label, "features": kind, "folds": len(of_kind),
                           "other_alpha": sum(getattr(fold, alpha_field) != int(np.argmin(fold.curve))
                                              for fold in of_kind),
                           "over_0.005": int(np.sum(np.abs(differences) > 0.005)),
                           "largest_abs_R2_difference": float(np.abs(differences).max()),
                           "mean_R2_difference": float(differences.mean())})
            for fold, difference in zip(of_kind, differences, strict=True):
                if abs(difference) > 0.005:
                    actual_misses.append({"variant": label, "assay": fold.assay, "features": kind, "fold": fold.fold,
                                          "study_alpha_index": int(np.argmin(fold.curve)),
                                          "other_alpha_index": getattr(fold, alpha_field),
                                          "test_R2_difference": difference})
    return pd.DataFrame(counts), pd.DataFrame(shipped_misses), pd.DataFrame(actual), pd.DataFrame(actual_misses)


def markdown(table: pd.DataFrame) -> str:
    """A Markdown table (numbers to 3 significant digits) without the tabulate dependency."""
    def cell(value):
        return f"{value:.3g}" if isinstance(value, float) else str(value)
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


def main(argv=None) -> int:
    """Run every case and print a Markdown table."""
    args = create_parser().parse_args(argv)
    if args.patience_check:
        counts, misses, actual, actual_misses = patience_check(Path(args.mirror), args.patience_check)
        print(f"\nearly-stop rules on the study's curves, up to {args.patience_check} rows per assay\n")
        print(markdown(counts))
        print(f"\nfolds missed by the shipped rule (patience {SHIPPED.patience}, "
              f"null margin {SHIPPED.null_margin})\n")
        print(markdown(misses) if len(misses) else "none")
        print("\n--solver fast and the study's LassoCV on one BLAS thread vs the study's LassoCV (default threads)\n")
        print(markdown(actual))
        print("\nfolds where the test R2 differs by more than 0.005\n")
        print(markdown(actual_misses) if len(actual_misses) else "none")
        return 0
    assay = pd.read_csv(Path(args.mirror) / "dms" / f"{args.assay}.csv.gz", dtype={"ID": str})
    print(f"the compiled solver loaded (once per process) in {load_compiled_solver():.2f} s, not timed below")
    cases = [(KINDS[0], n) for n in args.onehot_sizes] + [(KINDS[1], n) for n in args.dense_sizes]
    rows = []
    for kind, n_rows in cases:
        rows.append(run_case(assay, kind, n_rows, args.repeats))
        print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    print(f"\nassay {args.assay}; median wall / CPU seconds of {args.repeats} runs of the whole 5-fold CV\n")
    print(markdown(table))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))

#!/usr/bin/env python
"""Agreement of ``--solver compiled`` with scikit-learn's LassoCV, fold by fold, on the mirror's assays.

For every DMS assay of the mirror (prepared as the pipeline prepares it, all variants unless
``--max-rows``) and every feature set asked for, the regression stage's cross-validation
(:func:`plmtransfer.learn.regress.cross_validate`, the study's protocol, 5 outer folds) runs twice on
the same table: with scikit-learn's LassoCV (``--solver sklearn``) and with the compiled search
(``--solver compiled``). Per outer fold it records both chosen alphas, both test R² and Spearman,
and for every fold where the alphas differ it re-runs both searches on that fold to report the two
mean inner-CV MSE curves at the two alphas (the relative gap that decided the choice).

Feature sets: ``onehot`` (one-hot ``flat`` of each variant, computed here) and, with
``--embeddings ROOT``, the compressed files of a sweep run root (the DMS set in the file layout of
docs/contracts.md, with its metadata; ``--embedding-sets unirep1900:mean``).

Writes a per-fold CSV (``--out``) and prints the agreement counts. Each assay is written as soon
as it is done; a re-run skips the assays and feature sets already in ``--out``.

    python bench/exact_lasso.py --mirror ../shared/data --out runs/exact_lasso.csv
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LassoCV

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from plmtransfer import layout  # noqa: E402
from plmtransfer.cli.common import HelpFormatter, run_cli  # noqa: E402
from plmtransfer.data import datasets  # noqa: E402
from plmtransfer.data.sequences import onehot_encode  # noqa: E402
from plmtransfer.io import load_compressed  # noqa: E402
from plmtransfer.learn import regress, splits  # noqa: E402
from plmtransfer.learn.features import Table  # noqa: E402

COLUMNS = ["assay", "features", "rows", "Fold", "alpha_sklearn", "alpha_compiled", "same_alpha",
           "R2_test_sklearn", "R2_test_compiled", "rho_test_sklearn", "rho_test_compiled",
           "seconds_sklearn", "seconds_compiled", "mse_gap_sklearn", "mse_gap_compiled"]


def create_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--mirror", default=str(REPO.parent / "shared" / "data"), help="offline data mirror root")
    parser.add_argument("--out", required=True, help="per-fold CSV to write (resumed when it exists)")
    parser.add_argument("--assays", nargs="+", help="assays of the mirror (default: all of its DMS assays)")
    parser.add_argument("--max-rows", type=int, help="subsample each assay to at most this many variants (seed 0)")
    parser.add_argument("--onehot", action=argparse.BooleanOptionalAction, default=True,
                        help="compare on one-hot flat features")
    parser.add_argument("--embeddings", help="a sweep run root holding compressed embeddings and DMS metadata")
    parser.add_argument("--embedding-sets", nargs="+", default=["unirep1900:mean"], metavar="MODEL:METHOD",
                        help="model directory and method of the --embeddings files to compare on")
    parser.add_argument("--tables", nargs="+", default=[], metavar="NAME=FILE.pkl:METADATA.csv",
                        help="further cases: any compressed embeddings with their metadata (ID, target), e.g. "
                        "FLIP GB1's UniRep 1900 mean")
    parser.add_argument("--jobs", type=int, default=1, help="threads of each solver (results do not depend on it)")
    return parser


def mirror_assays(mirror: Path) -> list[str]:
    """The DMS assays the mirror holds, by name."""
    return sorted(path.name.removesuffix(".csv.gz") for path in (mirror / "dms").glob("*.csv.gz"))


def onehot_table(mirror: Path, assay: str, max_rows: int | None) -> Table:
    """One-hot ``flat`` features of the assay as the pipeline prepares it (validated, de-duplicated)."""
    with tempfile.TemporaryDirectory() as folder:
        report = datasets.prepare_assay(assay, Path(folder), mirror / "dms", True, "mean", max_rows, 0)
        if report.status != "prepared":
            raise RuntimeError(f"{assay}: {report.message or report.status}")
        metadata = pd.read_csv(datasets.metadata_path(folder, assay), dtype={"ID": str})
    features = np.stack([onehot_encode(sequence).ravel() for sequence in metadata["sequence"]])
    return Table(metadata[["ID", "target"]], features)


def embedding_table(root: Path, assay: str, model: str, method: str) -> Table | None:
    """The sweep's compressed embeddings of one assay joined to its metadata (None when absent)."""
    folder = layout.compressed_dir("DMS", model, assay, root)
    files = sorted(path for path in folder.glob("*.pkl") if layout.split_stem(path.stem, [method])[1] == method)
    metadata_file = layout.metadata_path("DMS", assay, root / layout.DATA_DIR)
    if not files or not metadata_file.is_file():
        return None
    metadata = pd.read_csv(metadata_file, dtype={"ID": str})
    vectors = load_compressed(files[-1])
    return Table(metadata[["ID", "target"]], np.stack([np.asarray(vectors[key]) for key in metadata["ID"]]))


def mse_gaps(table: Table, fold: int, alphas: tuple[float, float]) -> tuple[float, float]:
    """For one outer fold: each search's relative mean-MSE difference between the two alphas.

    ``(mse(other) - mse(own)) / mse(own)`` on scikit-learn's curve and on the compiled one, each
    at its own chosen alpha: how close the curve came to choosing the other alpha.
    """
    train, _ = splits.random_folds(len(table.metadata))[fold - 1]
    X = np.asfortranarray(regress.scale(table.features))[train]
    keep = regress.varying_columns(X)
    X = np.asfortranarray(X[:, keep])
    y = table.target[train]
    gaps = []
    for model in (LassoCV(max_iter=regress.MAX_ITER, tol=regress.TOL, random_state=regress.RANDOM_STATE),
                  regress.study_compiled_lassocv(exact=True)):
        model.fit(X, y)
        curve = model.mse_path_.mean(axis=1)
        own = int(np.argmin(np.abs(np.log(model.alphas_ / model.alpha_))))
        other_alpha = alphas[1] if np.isclose(model.alpha_, alphas[0], rtol=1e-9) else alphas[0]
        other = int(np.argmin(np.abs(np.log(model.alphas_ / other_alpha))))
        gaps.append(float((curve[other] - curve[own]) / curve[own]))
    return gaps[0], gaps[1]


def compare(table: Table, assay: str, name: str, jobs: int) -> pd.DataFrame:
    """Both solvers on one table; one row per outer fold."""
    runs = {}
    for solver in ("sklearn", "compiled"):
        start = time.perf_counter()
        runs[solver] = regress.cross_validate(table, regress.Options(solver=solver, n_jobs=jobs))
        runs[solver]["seconds"] = time.perf_counter() - start
    sk, co = runs["sklearn"], runs["compiled"]
    frame = pd.DataFrame({"assay": assay, "features": name, "rows": len(table.metadata), "Fold": sk["Fold"],
                          "alpha_sklearn": sk["alpha"], "alpha_compiled": co["alpha"],
                          "same_alpha": np.isclose(sk["alpha"], co["alpha"], rtol=1e-9, atol=0),
                          "R2_test_sklearn": sk["R2_score_test"], "R2_test_compiled": co["R2_score_test"],
                          "rho_test_sklearn": sk["rho_score_test"], "rho_test_compiled": co["rho_score_test"],
                          "seconds_sklearn": sk["seconds"], "seconds_compiled": co["seconds"],
                          "mse_gap_sklearn": np.nan, "mse_gap_compiled": np.nan})
    for index in np.flatnonzero(~frame["same_alpha"].to_numpy()):
        row = frame.iloc[index]
        frame.loc[frame.index[index], ["mse_gap_sklearn", "mse_gap_compiled"]] = mse_gaps(
            table, int(row["Fold"]), (row["alpha_sklearn"], row["alpha_compiled"]))
    return frame[COLUMNS]


def summary(frame: pd.DataFrame) -> str:
    """Agreement counts per feature set: same alpha, test-R² differences, wall seconds."""
    lines = []
    for name, part in frame.groupby("features", sort=False):
        difference = (part["R2_test_compiled"] - part["R2_test_sklearn"]).abs()
        same = part["same_alpha"].astype(bool)
        lines.append(f"{name}: {int(same.sum())} of {len(part)} folds same alpha ({same.mean():.1%}) over "
                     f"{part['assay'].nunique()} assays, {int(part.drop_duplicates('assay')['rows'].sum())} variants; "
                     f"test R2 |diff| max {difference[same].max():.2e} on same-alpha folds, "
                     f"{difference.max():.2e} overall; seconds sklearn {part['seconds_sklearn'].iloc[::5].sum():.0f}, "
                     f"compiled {part['seconds_compiled'].iloc[::5].sum():.0f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    """Compare the solvers assay by assay, appending to ``--out``."""
    args = create_parser().parse_args(argv)
    mirror, out = Path(args.mirror), Path(args.out)
    done = pd.read_csv(out) if out.is_file() else pd.DataFrame(columns=COLUMNS)
    finished = set(zip(done["assay"], done["features"], strict=True))
    sets = (["onehot:flat"] if args.onehot else []) + (args.embedding_sets if args.embeddings else [])
    for assay in args.assays or mirror_assays(mirror):
        for name in sets:
            if (assay, name) in finished:
                continue
            model, method = name.split(":")
            table = (onehot_table(mirror, assay, args.max_rows) if model == "onehot"
                     else embedding_table(Path(args.embeddings), assay, model, method))
            if table is None:
                print(f"{assay} {name}: no features, skipped", flush=True)
                continue
            frame = compare(table, assay, name, args.jobs)
            frame.to_csv(out, mode="a", header=not out.is_file(), index=False)
            print(f"{assay} {name}: {len(table.metadata)} rows, {int(frame['same_alpha'].sum())}/5 same alpha, "
                  f"{frame['seconds_sklearn'].iloc[0]:.1f} s vs {frame['seconds_compiled'].iloc[0]:.1f} s", flush=True)
    for case in args.tables:
        name, _, files = case.partition("=")
        if (name, "table") in finished:
            continue
        embeddings, _, metadata_file = files.partition(":")
        metadata = pd.read_csv(metadata_file, dtype={"ID": str})
        vectors = load_compressed(embeddings)
        table = Table(metadata[["ID", "target"]], np.stack([np.asarray(vectors[key]) for key in metadata["ID"]]))
        frame = compare(table, name, "table", args.jobs)
        frame.to_csv(out, mode="a", header=not out.is_file(), index=False)
        print(f"{name}: {len(table.metadata)} rows, {int(frame['same_alpha'].sum())}/5 same alpha", flush=True)
    print(summary(pd.read_csv(out)))
    return 0


if __name__ == "__main__":
    run_cli(main)

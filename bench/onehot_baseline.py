#!/usr/bin/env python
"""The one-hot baseline: the study's LassoCV protocol on one-hot ``flat`` features of every DMS assay.

Features: ``plmtransfer.backends.onehot.onehot_encode(sequence)`` (L x 20) flattened by the
compression registry's ``flat`` method (20 L values per variant). Targets: the mirror's
per-assay CSVs (``<mirror>/dms/<D>.csv.gz``); repeated IDs (BRCA1_HUMAN_BRCT) are averaged
per ID, as data preparation's default ``--duplicates mean`` does. Each assay is run with
``--cv random`` (the study's KFold) and ``--cv contiguous`` (ProteinGym's position blocks;
single mutants only). These are real scores on real data: the floor every pLM must beat.

Per-assay results are cached under ``--cache`` so an interrupted run resumes; assays not
reached within ``--budget-minutes`` are listed as not run in the table, never dropped.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from plmtransfer import regress, splits
from plmtransfer.backends.onehot import onehot_encode
from plmtransfer.cli import HelpFormatter, run_cli
from plmtransfer.compress import compress_protein
from plmtransfer.errors import UserError
from plmtransfer.io import atomic_open, write_dataframe_csv

SCHEMES = ("random", "contiguous")


def create_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--mirror", default="../shared/data", help="offline data mirror root")
    parser.add_argument("--cache", default="results/onehot_baseline",
                        help="directory of per-assay, per-scheme fold results (resume)")
    parser.add_argument("-o", "--output", default="docs/results_onehot_baseline.md",
                        help="Markdown summary table to write")
    parser.add_argument("--assays", nargs="*", default=None,
                        help="assay names (default: every dms/*.csv.gz of the mirror)")
    parser.add_argument("--budget-minutes", type=float, default=60.0,
                        help="stop starting new assays after this long; the rest are listed as not run")
    parser.add_argument("--lock", default=None,
                        help="lock file held around each assay's fits (share the CPU with other benchmarks)")
    return parser


@contextlib.contextmanager
def held_lock(path: str | None):
    """Hold an exclusive ``flock`` on ``path`` for the block (no-op without a path)."""
    if path is None:
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def load_assay(path: Path) -> pd.DataFrame:
    """Read one mirror assay; average the target over repeated IDs (first mutant/sequence kept)."""
    frame = pd.read_csv(path, dtype={"ID": str}).drop(columns="Unnamed: 0", errors="ignore")
    if frame["ID"].duplicated().any():
        grouped = frame.groupby("ID", sort=False)
        frame = grouped[["mutant", "sequence"]].first().assign(
            target=grouped["target"].mean()).reset_index()
    return frame[["ID", "mutant", "target", "sequence"]]


def onehot_flat(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """``{ID: flat one-hot vector}`` through the compression registry's ``flat`` method."""
    return {label: compress_protein(onehot_encode(sequence), None, ["flat"])["flat"]
            for label, sequence in zip(frame["ID"], frame["sequence"], strict=True)}


def run_assay(name: str, path: Path, cache: Path, lock: str | None) -> list[dict]:
    """Both CV schemes on one assay (from cache when present); one summary dict per scheme."""
    frame = load_assay(path)
    summaries = []
    embeddings = None
    for scheme in SCHEMES:
        cached = cache / f"{name}_{scheme}.csv"
        if not cached.is_file():
            embeddings = embeddings if embeddings is not None else onehot_flat(frame)
            table = regress.join(frame, embeddings, name)
            try:
                with held_lock(lock):
                    start = time.perf_counter()
                    results = regress.cross_validate(table, regress.Options(cv=scheme), name)
                    results["wall_seconds"] = time.perf_counter() - start
            except UserError as error:
                print(f"{name} {scheme}: not applicable: {error}", flush=True)
                summaries.append({"Dataset": name, "cv": scheme, "note": str(error)})
                continue
            rows_used = len(table.metadata) if scheme == "random" else int(
                table.metadata["mutant"].map(splits.is_single_substitution).sum())
            results["rows_used"] = rows_used
            results["n_features"] = table.features.shape[1]
            write_dataframe_csv(results, cached)
        results = pd.read_csv(cached)
        summaries.append({"Dataset": name, "cv": scheme, "rows": int(results["rows_used"][0]),
                          "features": int(results["n_features"][0]),
                          "R2_test": results["R2_score_test"].mean(),
                          "R2_test_sd": results["R2_score_test"].std(),
                          "zero_coef_folds": int((results["num_nonzero_coefs"] == 0).sum()),
                          "rho_test": results["rho_score_test"].mean(),
                          "seconds": results["wall_seconds"][0]})
        print(f"{name} {scheme}: R2 {summaries[-1]['R2_test']:.3f} rho "
              f"{summaries[-1]['rho_test']:.3f} ({summaries[-1]['seconds']:.0f} s)", flush=True)
    return summaries


def rho_text(rho: float) -> str:
    """A mean rho for the table; NaN means some fold predicted a constant (rho undefined)."""
    return "undefined" if np.isnan(rho) else f"{rho:.3f}"


def scheme_cells(row: pd.Series, cv: str) -> str:
    """Rows, R² ± SD and ρ of one CV scheme for the table, or 'not applicable' cells."""
    if np.isnan(row[("rows", cv)]):
        return "not applicable | | "
    return (f"{int(row[('rows', cv)])} | {row[('R2_test', cv)]:.3f} ± {row[('R2_test_sd', cv)]:.3f} "
            f"| {rho_text(row[('rho_test', cv)])}")


def markdown_table(summary: pd.DataFrame, not_run: list[str], duplicated: list[str]) -> str:
    """The results document: method, one row per assay (both schemes side by side), notes."""
    random_runs = summary[(summary["cv"] == "random") & summary["zero_coef_folds"].notna()]
    zero_folds = (f"{int(random_runs['zero_coef_folds'].sum())} of {5 * len(random_runs)}, in "
                  f"{int((random_runs['zero_coef_folds'] > 0).sum())} of {len(random_runs)} assays")
    wide = summary.pivot(index="Dataset", columns="cv",
                         values=["R2_test", "R2_test_sd", "rho_test", "rows"])
    lines = [
        "# One-hot baseline on the DMS assays of the mirror",
        "",
        "Features: one-hot (20 standard amino acids) per residue, flattened (`flat`, 20 x L values).",
        "Protocol: the study's (global MinMax scaling, LassoCV(max_iter=1000, tol=1e-2), inner 5-fold),",
        "outer 5-fold CV `random` (KFold, shuffle, seed 42) or `contiguous` (ProteinGym's 5 blocks of",
        "mutated positions; single substitutions only: multi-mutants and `WT` rows left out).",
        "Scores: mean over the 5 outer folds of test R² (± SD) and test Spearman ρ.",
        "Repeated IDs were averaged per ID (data preparation's default `--duplicates mean`): "
        + (", ".join(duplicated) if duplicated else "none") + ".",
        "ρ is `undefined` when some fold's predictions are constant (Spearman's ρ is then NaN): the",
        "inner CV chose alpha_max and every coefficient is zero, or, under `contiguous` CV, the test",
        "positions were never mutated in training, so their one-hot columns are constant there and",
        "get no weight. One-hot features cannot extrapolate to unseen positions; that is the point",
        "of the scheme.",
        "Generated by `bench/onehot_baseline.py`; real data, real scores.",
        "",
        f"Folds in which the study's LassoCV kept no coefficient at all (random CV): {zero_folds}. Where",
        "that happens the score is R² ≈ 0 whatever the features hold, so this floor is a property of the",
        "study's regressor on one-hot features as much as of the features.",
        "",
        "| Dataset | rows | R² random | ρ random | rows contiguous | R² contiguous | ρ contiguous |",
        "|---|---|---|---|---|---|---|",
    ]
    notes = summary.dropna(subset=["note"]) if "note" in summary else summary.iloc[:0]
    for name, row in wide.iterrows():
        lines.append(f"| {name} | " + " | ".join(scheme_cells(row, cv) for cv in SCHEMES) + " |")
    for name in not_run:
        lines.append(f"| {name} | not run (session time budget) | | | | | |")
    for _, note in notes.iterrows():
        lines += ["", f"{note['Dataset']}, `{note['cv']}` CV: not applicable ({note['note']})."]
    means = summary.groupby("cv")[["R2_test", "rho_test"]].mean()
    lines += ["", f"Mean over the {len(wide)} assays run (ρ: over those where it is defined): "
              + "; ".join(f"{cv}: R² {means.loc[cv, 'R2_test']:.3f}, ρ {means.loc[cv, 'rho_test']:.3f}"
                          for cv in SCHEMES if cv in means.index) + ".", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    """Run every assay within the time budget, then write the Markdown table."""
    args = create_parser().parse_args(argv)
    mirror_dms = Path(args.mirror) / "dms"
    paths = {path.name.removesuffix(".csv.gz"): path for path in sorted(mirror_dms.glob("*.csv.gz"))}
    names = args.assays or list(paths)
    names = sorted(names, key=lambda name: paths[name].stat().st_size)
    deadline = time.monotonic() + 60 * args.budget_minutes
    summaries, not_run, duplicated = [], [], []
    for name in names:
        if pd.read_csv(paths[name], usecols=["ID"], dtype=str)["ID"].duplicated().any():
            duplicated.append(name)
        cached = all((Path(args.cache) / f"{name}_{scheme}.csv").is_file() for scheme in SCHEMES)
        if time.monotonic() > deadline and not cached:
            not_run.append(name)
            continue
        summaries.extend(run_assay(name, paths[name], Path(args.cache), args.lock))
    summary = pd.DataFrame(summaries)
    with atomic_open(args.output) as handle:
        handle.write(markdown_table(summary, not_run, duplicated))
    print(f"wrote {args.output} ({len(names) - len(not_run)} assays, {len(not_run)} not run)")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))

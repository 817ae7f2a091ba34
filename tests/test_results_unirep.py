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


def write_data(root, datasets):
    """The prepared data a report reads beside the results: the prepare report and the PISCES chains."""
    (root / "data" / "PISCES").mkdir(parents=True)
    (root / "data" / "PISCES" / "pisces_len64-1022.fasta").write_text(">a\nMKV\n>b\nMKT\n>c\nMKL\n")
    pd.DataFrame({"name": list(datasets), "status": "prepared",
                  "rows_written": [used for _, used in datasets.values()],
                  "subsample": [f"{used} of {total} variants (seed 0)" if used < total else ""
                                for total, used in datasets.values()]}).to_csv(
        root / "data" / "DMS_prepare_report.csv", index=False)


def write_root(root, seed=0):
    """A finished run in the drivers' layout: prepare report, PISCES chains, per-fold results."""
    rng = np.random.default_rng(seed)
    write_data(root, DATASETS)
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
    note = "The test suite ran beside the sweep for 20 minutes."
    assert bench_module().report(tmp_path / "run", out, timing_note=note) == 0
    text = out.read_text()
    assert table_rows(text, "DMS learning curves (mean)") == [["DMS learning curves (mean)", "75.0 min"]]
    assert "Total: 125.0 min" in text and "**over the 120-minute budget**" in text
    assert text.split("**over the 120-minute budget**", 1)[1].split("\n\n")[1] == note  # under the wall times
    assert "report --root" in text and "--timing-note TEXT" in text
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


# Per protocol, each model's test R² (`mean`; one-hot `flat`): under `shuffled` one-hot catches up, so
# UniRep 64 < one-hot on every assay (the claim reverses) and UniRep 256 = one-hot up to alternating
# +-0.01 (not significant); the study's protocol and `grouped` keep every claim.
PROTOCOL_LEVELS = {"study": {"onehot": 0.05, "unirep64": 0.15, "unirep256": 0.20, "unirep1900": 0.25},
                   "shuffled": {"onehot": 0.30, "unirep64": 0.10, "unirep256": 0.30, "unirep1900": 0.40},
                   "grouped": {"onehot": 0.04, "unirep64": 0.14, "unirep256": 0.19, "unirep1900": 0.24}}
ASSAYS = {f"ASSAY_{index}": (700, 700) for index in range(10)}


def write_protocol_root(root, seed=0):
    """A run with the three protocols' DMS results, as the regression stage writes them (``Protocol``,
    ``feature_sd_max``, ``feature_signature``), UniRep 256 with `max` and a constant `bos` under the
    study's protocol; returns every per-fold row written."""
    rng = np.random.default_rng(seed)
    write_data(root, ASSAYS)
    folds = []
    for protocol, levels in PROTOCOL_LEVELS.items():
        folder = root / "results" / ("lassoCV" if protocol == "study" else f"lassoCV_{protocol}") / "DMS"
        for model, level in levels.items():
            methods = {"flat": 0.0} if model == "onehot" else {"mean": 0.0}
            if model == "unirep256" and protocol == "study":
                methods |= {"max": -0.05, "bos": -0.2}
            for index, dataset in enumerate(ASSAYS):
                for method, shift in methods.items():
                    score = level + shift + 0.02 * index + rng.normal(0, 0.001, 5)
                    if protocol == "shuffled" and model == "unirep256":
                        score = levels["onehot"] + 0.02 * index + (0.01 if index % 2 else -0.01) + np.zeros(5)
                    frame = pd.DataFrame({
                        "Fold": range(1, 6), "R2_score_test": score, "rho_score_test": score + 0.1,
                        "alpha": 0.01, "Compression_method": method, "Dataset": dataset, "Embedding_model": model,
                        "Protocol": protocol, "feature_sd_max": 0.0 if method == "bos" else 0.3,
                        "feature_signature": f"64:{index}:{len(method)}:1"})
                    path = folder / model / f"{dataset}_{method}.csv"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    frame.to_csv(path, index=False)
                    folds.append(frame)
    return pd.concat(folds, ignore_index=True)


def robustness_row(text, comparison, protocol):
    """The robustness table's cells for one comparison under one protocol."""
    [row] = [[cell.strip() for cell in line.strip("|").split("|")] for line in text.splitlines()
             if line.startswith("| ") and f"| {comparison} | {protocol} |" in line]
    return row


def assay_differences(folds, protocol, better, worse):
    """Per assay: the mean over folds of ``better``'s test R² minus ``worse``'s (models within `mean`/`flat`)."""
    own = folds[(folds["Protocol"] == protocol) & folds["Compression_method"].isin(["mean", "flat"])]
    means = own.groupby(["Embedding_model", "Dataset"])["R2_score_test"].mean()
    return means.loc[better] - means.loc[worse]


def test_report_opens_with_the_robustness_verdict_of_every_claim_under_every_protocol(tmp_path):
    folds = write_protocol_root(tmp_path / "run")
    agreement = tmp_path / "agreement.csv"
    pd.DataFrame({"assay": ["A"] * 5 + ["B"] * 5, "features": "onehot:flat", "rows": [300] * 5 + [900] * 5,
                  "Fold": list(range(1, 6)) * 2, "same_alpha": [True] * 9 + [False]}).to_csv(agreement, index=False)
    out = tmp_path / "docs" / "results_unirep.md"
    assert bench_module().report(tmp_path / "run", out, agreement) == 0
    text = out.read_text()
    headline = text[:text.index("## What was run")]
    assert ("- **A pretrained pLM beats one-hot**: **does not hold under every protocol**. study: holds (3 of 3 "
            "comparisons); shuffled: holds on 1, reverses on 1, not significant on 1 of 3 comparisons "
            "(not significant: UniRep 256 > one-hot; reverses: UniRep 64 > one-hot); grouped: holds (3 of 3 "
            "comparisons).") in headline
    assert "- **A bigger model beats the next smaller one**: **holds under every protocol**." in headline
    assert "- **Mean pooling beats the other compressions**: **study protocol only**" in headline
    reverses = robustness_row(headline, "UniRep 64 > one-hot", "shuffled")
    difference = assay_differences(folds, "shuffled", "unirep64", "onehot")
    assert reverses[0] == "pretrained" and reverses[-1] == "**reverses**"
    assert reverses[3].startswith(f"{difference.mean():.3f} [")
    assert reverses[4] == "0 / 10 of 10"
    assert robustness_row(headline, "UniRep 256 > one-hot", "shuffled")[-1] == "**not significant**"
    for protocol in ("study", "grouped"):
        held = robustness_row(headline, "UniRep 64 > one-hot", protocol)
        assert held[-1] == "**holds**" and held[4] == "10 / 0 of 10"
        assert held[3].startswith(f"{assay_differences(folds, protocol, 'unirep64', 'onehot').mean():.3f} [")
    # the constant `bos` is named, not ranked, and left out of the pooling claim
    assert "- `bos` (UniRep 256): constant: carries no sequence information, on every assay (10)." in text
    assert robustness_row(headline, "`mean` > `max` (UniRep 256)", "study")[-1] == "**holds**"
    assert "`mean` > `bos`" not in text
    assert [row[1] for row in table_rows(text, "1") + table_rows(text, "2")] == ["`mean`", "`max`"]
    assert table_rows(text, "3") == []
    # a section per variant: the study's protocol beside it, over the assays both have
    shuffled = text[text.index("## Protocol variant `shuffled`"):text.index("## Protocol variant `grouped`")]
    assert "the compression ranking (all methods of UniRep 256) is study-protocol only" in shuffled
    [row] = table_rows(shuffled, "UniRep 64 (0.15M)")
    own = folds[(folds["Embedding_model"] == "unirep64")].groupby(["Protocol", "Dataset"])["R2_score_test"].mean()
    assert [float(row[i]) for i in (2, 4)] == [round(own.loc[p].mean(), 3) for p in ("study", "shuffled")]
    assert row[-1] == "10"
    assert ("the same alpha as scikit-learn's LassoCV on 9 of 10 outer folds (features onehot:flat; 2 assays at "
            "full size, 300-900 rows") in text
    bench_module().report(tmp_path / "run", out)
    assert "same alpha" not in out.read_text()


def test_run_steps_runs_only_the_chosen_steps_in_the_given_order(tmp_path, monkeypatch):
    module = bench_module()
    ran = []
    monkeypatch.setattr(module, "prepare", lambda root, mirror: None)
    monkeypatch.setattr(module.subprocess, "run",
                        lambda command, **_: ran.append(command) or type("Done", (), {"returncode": 0})())
    assert module.run(tmp_path, tmp_path, [8, 5]) == 0
    expected = [module.STEPS[7], module.STEPS[4]]
    assert ran == [module.step_command(tmp_path, driver, extra) for _, driver, extra in expected]
    timed = [line.split("\t")[0] for line in (tmp_path / "timings.tsv").read_text().splitlines()]
    assert timed == [name for name, _, _ in expected]


def test_contrasts_of_contiguous_cv_are_read_under_the_name_the_report_writes(tmp_path):
    """Contiguous-CV results carry the Protocol ``study+contiguous``; the statistics name their contrasts
    after it (``report.contrasts_stem``) and the document must read that file, not report it missing."""
    from plmtransfer import layout
    from plmtransfer.analysis.report import contrasts_stem

    bench = bench_module()
    folder = layout.stats_dir("DMS", "contiguous", tmp_path)
    folder.mkdir(parents=True)
    table = pd.DataFrame({"contrast": ["unirep1900 - onehot"], "estimate": [0.02]})
    table.to_csv(folder / f"contrasts_{contrasts_stem('Embedding_model_mean', 'study+contiguous')}.csv", index=False)
    read = bench.read_contrasts(tmp_path, "contiguous", "DMS", "Embedding_model_mean")
    assert read["estimate"].tolist() == [0.02]
    assert bench.read_contrasts(tmp_path, layout.STUDY_CV, "DMS", "Embedding_model_mean").empty

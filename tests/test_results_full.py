"""bench/results_full.py: job seconds from Snakemake's records, and report numbers that are means of the CSVs."""

from __future__ import annotations

import base64
import importlib.util
import json
import sys

import numpy as np
import pandas as pd

from tests.conftest import REPO_ROOT

DATASETS = {"AAA_ONE": 1200, "BBB_TWO": 800, "CCC_THREE": 2500, "DDD_FOUR": 600, "EEE_FIVE": 900, "FFF_SIX": 1500}
MODELS = {"onehot": "flat", "unirep1900": "mean"}
STEPS = {"lassoCV": "study", "lassoCV_shuffled": "shuffled"}


def bench_module():
    """bench/results_full.py as a module (it imports bench/results_unirep.py beside it)."""
    sys.path.insert(0, str(REPO_ROOT / "bench"))
    spec = importlib.util.spec_from_file_location("results_full", REPO_ROOT / "bench" / "results_full.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def record(root, path: str, start: float, end: float) -> None:
    """Snakemake's metadata record of one output: the file named by the path's base64, start and end inside."""
    folder = root / ".snakemake" / "metadata"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / base64.b64encode(path.encode()).decode()).write_text(
        json.dumps({"rule": "x", "starttime": start, "endtime": end, "incomplete": False}))


def write_root(root, seed=0) -> pd.DataFrame:
    """A finished run: settings, prepare report, timings, per-fold results of both inputs and protocols, and a
    metadata record per job."""
    rng = np.random.default_rng(seed)
    (root / "data").mkdir(parents=True)
    (root / "settings.json").write_text(json.dumps({"max_variants": None, "seed": 0}))
    pd.DataFrame({"name": list(DATASETS), "status": "prepared", "rows_written": list(DATASETS.values()),
                  "subsample": ""}).to_csv(root / "data" / "DMS_prepare_report.csv", index=False)
    (root / "timings.tsv").write_text("DMS preparation\t5\t0\tprepare\nDMS extraction and lassoCV\t3000\t0\tx\n"
                                      "DMS extraction and lassoCV\t1200\t0\tx\n")
    folds = []
    clock = 0.0
    for step, protocol in STEPS.items():
        for model, method in MODELS.items():
            for dataset in DATASETS:
                frame = pd.DataFrame({"Model": "Lasso", "Fold": range(1, 6), "R2_score_test": rng.normal(0.2, 0.1, 5),
                                      "rho_score_test": rng.normal(0.4, 0.1, 5), "alpha": rng.uniform(1e-4, 1e-2, 5),
                                      "Layer": 0, "Compression_method": method, "Dataset": dataset,
                                      "Embedding_model": model, "Protocol": protocol})
                relative = f"results/{step}/DMS/{model}/{dataset}_{method}.csv"
                (root / relative).parent.mkdir(parents=True, exist_ok=True)
                frame.to_csv(root / relative, index=False)
                record(root, relative, clock, clock + 10.0)
                clock += 10.0
                folds.append(frame)
    for dataset in DATASETS:
        record(root, f"embeddings/DMS_compressed/unirep1900/{dataset}/embed_layer_1_mean.pkl", 0.0, 100.0)
    return pd.concat(folds)


def table_rows(text, first_cell):
    """The cells of the markdown rows that start with ``first_cell``."""
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in text.splitlines()
            if line.startswith(f"| {first_cell} |")]


def test_job_times_read_stage_model_and_data_set_from_each_output_record(tmp_path):
    """#35: a job's seconds are its record's end - start; an incomplete or unfinished record is left out."""
    module = bench_module()
    record(tmp_path, "embeddings/DMS_compressed/unirep1900/AAA_ONE/embed_layer_1_mean.pkl", 100.0, 350.5)
    record(tmp_path, "results/lassoCV_shuffled/DMS/onehot/BLAT_ECOLX_Ostermeier2014_flat.csv", 10.0, 12.25)
    record(tmp_path, "results/lassoCV/DMS/unirep1900/AAA_ONE_mean.csv", 400.0, 490.0)
    record(tmp_path, "results/stats/DMS/.complete", 0.0, 1.0)  # not a per-assay job
    folder = tmp_path / ".snakemake" / "metadata"
    (folder / base64.b64encode(b"results/lassoCV/DMS/onehot/AAA_ONE_flat.csv").decode()).write_text(
        json.dumps({"starttime": 1.0, "endtime": None, "incomplete": True}))
    jobs = module.job_times(tmp_path).sort_values("seconds").reset_index(drop=True)
    assert jobs.to_dict("list") == {
        "stage": ["lassoCV_shuffled", "lassoCV", "extraction"], "model": ["onehot", "unirep1900", "unirep1900"],
        "Dataset": ["BLAT_ECOLX_Ostermeier2014", "AAA_ONE", "AAA_ONE"], "seconds": [2.25, 90.0, 250.5]}


def test_report_means_claims_and_times_come_from_the_run(tmp_path):
    """#35: each mean is the mean over assays of the per-assay fold means; the total is the sum of the
    timings; job seconds per stage and model are the records' sums; the claim names both protocols."""
    module = bench_module()
    root, out = tmp_path / "run", tmp_path / "docs" / "results_full.md"
    folds = write_root(root)
    module.report(root, out)
    text = out.read_text()
    for model, label in (("onehot", "one-hot"), ("unirep1900", "UniRep 1900 (18.2M)")):
        rows = {row[2]: row for row in table_rows(text, label)}
        for protocol in STEPS.values():
            own = folds[(folds["Embedding_model"] == model) & (folds["Protocol"] == protocol)]
            per_assay = own.groupby("Dataset")[["R2_score_test", "rho_score_test"]].mean()
            assert rows[protocol][3] == f"{per_assay['R2_score_test'].mean():.3f}"
            assert rows[protocol][4] == f"{per_assay['rho_score_test'].mean():.3f}"
            assert rows[protocol][5] == f"{own['alpha'].median():.2g}"
            assert rows[protocol][6] == str(len(DATASETS))
    assert "Total: **70.1 min**, within the 120-minute budget" in text
    stages = {(row[0], row[1]): row for row in table_rows(text, "extraction") + table_rows(text, "lassoCV")}
    assert stages["extraction", "unirep1900"][2:5] == ["600", "100", str(len(DATASETS))]
    assert stages["lassoCV", "onehot"][2:5] == ["60", "10", str(len(DATASETS))]
    claim = next(line for line in text.splitlines() if line.startswith("- **A pretrained pLM beats one-hot**"))
    assert "on every variant" in claim and "`study`:" in claim and "`shuffled`:" in claim
    per_assay = pd.read_csv(out.with_suffix("") / "per_assay.csv", index_col=0)
    study = folds[(folds["Embedding_model"] == "unirep1900") & (folds["Protocol"] == "study")]
    assert np.allclose(per_assay.loc[list(DATASETS), "unirep1900 study"],
                       study.groupby("Dataset")["R2_score_test"].mean().loc[list(DATASETS)])
    assert (out.with_suffix("") / "r2_against_subsample.png").stat().st_size > 10_000

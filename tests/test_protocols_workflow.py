"""Layers and protocols as workflow axes: the plan, its jobs' file names, the config checks, the drivers' flags."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from plmtransfer import layout
from plmtransfer.errors import UserError
from plmtransfer.options import INNER_CV_SCHEMES
from plmtransfer.workflow import study, sweep, validation

REPO = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((REPO / "config" / "study.yaml").read_text())


def plans(set_name: str = "DMS", **overrides) -> dict[str, study.ModelPlan]:
    """The study's plans of a family with keys replaced, by model directory."""
    return {plan.directory: plan for plan in study.plan_models({**CONFIG, **overrides}, set_name)}


def test_the_study_runs_each_model_at_its_own_layer_under_the_study_protocol():
    assert CONFIG["layers"] == "last" and CONFIG["protocols"] == ["study"]
    default = plans(models=["esm2_8M", "onehot"])
    assert default["esm2_8M"].layers == (6,) and default["esm2_8M"].layer_plans() == [default["esm2_8M"]]
    assert study.variants(CONFIG, "DMS") == [("random", "study")]
    assert study.result_path("lassoCV", "random", "DMS", default["esm2_8M"], "A", "mean") == \
        "results/lassoCV/DMS/esm2_8M/A_mean.csv"


def test_layers_all_a_list_per_set_and_per_model():
    """all = 0..last; a list keeps the model's own layer and leaves out layers a model lacks; the most
    specific value wins (model_defaults, then the set's, then the run's)."""
    swept = plans(models=["esm2_8M", "unirep_256", "onehot"], layers="all")
    assert swept["esm2_8M"].layers == tuple(range(7)) and swept["unirep256"].layers == (0, 1, 2, 3, 4)
    assert swept["onehot"].layers == (0,)
    listed = plans(models=["esm2_8M:3", "onehot"], layers=[1, 5, 9])
    assert listed["esm2_8M"].layers == (1, 3, 5) and listed["esm2_8M"].layer == 3
    assert [(plan.layer, plan.swept) for plan in listed["esm2_8M"].layer_plans()] == [(3, False), (1, True), (5, True)]
    assert listed["onehot"].layers == (0,)  # 1, 5 and 9 are beyond its layer 0
    per_set = {**CONFIG["sets"], "PISCES": {**CONFIG["sets"]["PISCES"], "layers": [2]}}
    assert plans("PISCES", models=["esm2_8M"], sets=per_set, layers="all")["esm2_8M"].layers == (2, 6)
    per_model = {**CONFIG["model_defaults"], "esm2_8M": {"layers": "last"}}
    chosen = plans(models=["esm2_8M", "esm2_35M"], layers="all", model_defaults=per_model)
    assert chosen["esm2_8M"].layers == (6,) and chosen["esm2_35M"].layers == tuple(range(13))
    assert plans(models=["esm2_8M"], layers=[7, 8])["esm2_8M"].layers == (6,)
    with pytest.raises(UserError, match=r"layers of 'esm2_8M': 'x' is not a layer number"):
        plans(models=["esm2_8M"], layers="1 x")


def test_a_swept_layer_and_a_protocol_get_their_own_folders():
    """One home: layout.results_suffix names protocol, CV scheme and swept layer."""
    assert layout.results_name("lassoCV") == "lassoCV"
    assert layout.results_name("lassoCV", protocol="shuffled") == "lassoCV_shuffled"
    assert layout.results_name("lassoCV", "contiguous", "grouped", 2) == "lassoCV_grouped+contiguous_L2"
    assert layout.results_name("lassoCV", "predefined") == "lassoCV_predefined"
    assert str(layout.stats_dir("DMS", protocol="grouped")) == "results/stats_grouped/DMS"
    assert str(layout.figures_dir("DMS", "modulo", protocol="shuffled")) == "figures/DMS_shuffled+modulo"
    plan = plans(models=["esm2_8M"], layers=[2])["esm2_8M"].layer_plans()[1]
    assert study.result_path("lassoCV", "random", "DMS", plan, "A", "mean", "shuffled") == \
        "results/lassoCV_shuffled_L2/DMS/esm2_8M/A_mean.csv"
    assert study.variants({**CONFIG, "protocols": ["study", "grouped"]}, "FLIP") == \
        [("predefined", "study"), ("predefined", "grouped")]


def dry_run(tmp_path: Path, user: dict) -> list[tuple[str, list[str], str]]:
    """(rule, outputs, shell command) of every job of a Snakemake dry run over the study config + ``user``."""
    (tmp_path / "user.yaml").write_text(yaml.safe_dump(user))
    completed = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "workflow" / "Snakefile"),
                                "--directory", str(tmp_path), "--configfile", str(tmp_path / "user.yaml"),
                                "--dry-run", "--printshellcmds", "--cores", "1"],
                               capture_output=True, text=True, check=False, timeout=600)
    assert completed.returncode == 0, completed.stderr[-2000:]
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \S+:\n)", completed.stdout):
        if match := re.match(r"(?:local)?rule (\S+):\n", block):
            outputs = re.search(r"^\s+output: (.*)$", block, re.MULTILINE)
            command = re.search(r"^Shell command: (.*)$", block, re.MULTILINE)
            jobs.append((match.group(1), outputs.group(1).split(", ") if outputs else [],
                         command.group(1) if command else ""))
    return jobs


def test_the_workflow_plans_one_extraction_and_per_layer_per_protocol_regressions(tmp_path):
    user = {"models": ["unirep_256", "onehot"], "run_sets": ["DMS"], "layers": [0, 2],
            "protocols": ["study", "shuffled"],
            "sets": {"DMS": {"datasets": ["IF1_ECOLI", "TIM_SULSO"], "learning_curves": False}}}
    jobs = dry_run(tmp_path, user)
    rules = Counter(re.sub(r"_DMS.*", "", rule) for rule, _, _ in jobs)
    # one extraction per model x assay; regressions: 2 assays x 2 protocols x (3 UniRep layers + onehot's one)
    assert rules == {"prepare_dms": 2, "extract": 4, "lassoCV": 2 * 2 * 4, "stats_report": 2, "all": 1}
    extraction = next(command for rule, outputs, command in jobs
                      if rule.startswith("extract") and "unirep256/IF1_ECOLI" in outputs[0])
    assert "--repr_layers 0 2 4 --pool mean" in extraction
    files = {path for _, outputs, _ in jobs for path in outputs}
    for folder in ("lassoCV", "lassoCV_shuffled", "lassoCV_L0", "lassoCV_L2", "lassoCV_shuffled_L0",
                   "lassoCV_shuffled_L2"):
        assert f"results/{folder}/DMS/unirep256/TIM_SULSO_mean.csv" in files
    assert "results/lassoCV_shuffled/DMS/onehot/IF1_ECOLI_flat.csv" in files
    assert not [path for path in files if "_L" in path and "/onehot/" in path]
    assert {"results/stats/DMS/.complete", "results/stats_shuffled/DMS/.complete"} <= files
    regress = {outputs[0]: command for rule, outputs, command in jobs if rule.startswith("lassoCV")}
    layer2 = regress["results/lassoCV_shuffled_L2/DMS/unirep256/IF1_ECOLI_mean.csv"]
    assert "embed_layer_2_mean.pkl" in layer2 and "--inner-cv shuffled" in layer2
    assert "logs/lassoCV_shuffled_L2/unirep256/IF1_ECOLI.log" in layer2
    assert "--inner-cv" not in regress["results/lassoCV_L2/DMS/unirep256/IF1_ECOLI_mean.csv"]
    assert all(command.count("--solver compiled") == 1 for command in regress.values())  # config/study.yaml's
    stats = [command for rule, _, command in jobs if rule.startswith("stats_report")]
    assert any("--results-dir results/lassoCV_shuffled/DMS " in command for command in stats)


@pytest.mark.parametrize("config, message", [
    ({"layers": "lasst"}, r"my\.yaml: layers: unknown value 'lasst' \(did you mean 'last'\?\)"),
    ({"solver": "compield"}, r"my\.yaml: solver: unknown value 'compield' \(did you mean 'compiled'\?\)"),
    ({"protocols": ["shufled"]}, r"my\.yaml: protocols: unknown value 'shufled' \(did you mean 'shuffled'\?\)"),
    ({"layer": "all"}, r"my\.yaml: unknown key 'layer' \(did you mean 'layers'\?\)"),
    ({"layers": [-1]}, r"my\.yaml: layers: \[-1\] is not last, all, or a list of layer numbers"),
    ({"layers": "1 al"}, r"my\.yaml: layers: 'al' is not a layer number"),
    ({"model_defaults": {"esm2_8M": {"layers": "alll"}}},
     r"my\.yaml: model_defaults\.esm2_8M\.layers: unknown value 'alll' \(did you mean 'all'\?\)"),
    ({"sets": {"DMS": {"layers": "lst"}}},
     r"my\.yaml: sets\.DMS\.layers: unknown value 'lst' \(did you mean 'last'\?\)"),
])
def test_bad_layers_and_protocols_are_one_line_with_a_near_miss(tmp_path, config, message):
    path = tmp_path / "my.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(UserError, match=message):
        validation.check_plan(validation.check_file(path), "my.yaml")


def test_the_drivers_layers_and_protocols_flags_set_the_run(tmp_path, capsys):
    parser = sweep.create_parser("run_lassoCV_DMS.sh", "DMS", "lassoCV")
    args = parser.parse_args(["--root", str(tmp_path), "--layers", "1,3", "--protocols", "study grouped"])
    plan = sweep.make_plan(args, "DMS", "lassoCV", tmp_path)
    assert plan.config["layers"] == plan.config["sets"]["DMS"]["layers"] == [1, 3]
    assert plan.config["protocols"] == ["study", "grouped"]
    assert plan.config["solver"] == "compiled"
    args = parser.parse_args(["--root", str(tmp_path), "--solver", "sklearn"])
    assert sweep.make_plan(args, "DMS", "lassoCV", tmp_path).config["solver"] == "sklearn"
    args = parser.parse_args(["--root", str(tmp_path), "--layers", "all"])
    assert sweep.make_plan(args, "DMS", "lassoCV", tmp_path).config["layers"] == "all"
    assert sweep.main(["DMS", "lassoCV", "run_lassoCV_DMS.sh", "--root", str(tmp_path), "--protocols", "shufled"]) == 2
    assert capsys.readouterr().err.strip() == ("run_lassoCV_DMS.sh: error: --protocols: unknown value 'shufled' "
                                               f"(did you mean 'shuffled'?) (use {', '.join(INNER_CV_SCHEMES)})")
    assert sweep.main(["DMS", "lassoCV", "run_lassoCV_DMS.sh", "--root", str(tmp_path), "--layers", "al"]) == 2
    assert "--layers: unknown value 'al' (did you mean 'all'?)" in capsys.readouterr().err

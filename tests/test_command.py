"""`plmtransfer` is the one entry point: every stage of the stage table is a subcommand, targets stay targets."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from plmtransfer.cli import command
from plmtransfer.stages import STAGES
from tests.conftest import REPO_ROOT


@pytest.mark.parametrize("stage", STAGES, ids=lambda stage: stage.command)
def test_every_stage_is_a_subcommand_with_the_scripts_flags(stage, capsys):
    """`plmtransfer <command> --help` is the stage module's parser, the same as `scripts/<module>.py --help`."""
    assert command.main([stage.command, "--help"]) == 0
    help_text = capsys.readouterr().out
    assert help_text.startswith(f"usage: plmtransfer {stage.command} ")
    flags = set(command.long_flags(importlib.import_module(stage.python_module).create_parser()))
    assert flags and all(flag in help_text for flag in flags)
    assert (REPO_ROOT / stage.script).is_file()


def test_the_commands_of_the_issue_exist():
    """zero-shot, fine-tuning, GO training and ranking, and the test model are subcommands too."""
    assert {"zero-shot", "finetune", "finetune-go", "predict-rank", "make-test-model"} <= {s.command for s in STAGES}


def test_a_user_error_is_one_line_and_exit_2(capsys, tmp_path):
    assert command.main(["regress", "-i", str(tmp_path / "a.pkl"), "-m", str(tmp_path / "m.csv"),
                         "-o", str(tmp_path / "a.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("plmtransfer regress: error: ") and "Traceback" not in err[0]


def test_run_keeps_a_target_after_the_config_file(monkeypatch, tmp_path):
    """Snakemake's --configfile takes several files: the user's target must not become a second one."""
    called = []
    monkeypatch.setattr(subprocess, "call", lambda argv: called.append(argv) or 0)
    user = tmp_path / "mine.yaml"
    user.write_text("models: [onehot]\n")
    assert command.main(["run", "--configfile", str(user), "lassoCV_PISCES", "--dry-run"]) == 0
    argv = called[0]
    position = argv.index("--configfile")
    assert argv[position + 1] == str(user) and argv[position + 2].startswith("--")
    assert argv[-2:] == ["lassoCV_PISCES", "--dry-run"]


def test_the_scripts_are_shims_over_the_package():
    """scripts/<module>.py runs the stage module's main; nothing in the package runs a file by path."""
    for stage in STAGES:
        text = (REPO_ROOT / stage.script).read_text()
        assert f"from {stage.python_module} import main" in text and len(text.splitlines()) <= 6
    for path in (REPO_ROOT / "plmtransfer").rglob("*.py"):
        source = path.read_text()
        assert "runpy" not in source and "spec_from_file_location" not in source, path


def test_a_script_and_its_subcommand_answer_alike():
    script = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "reg_lassoCV.py"), "--version"],
                            capture_output=True, text=True, check=True)
    sub = subprocess.run([sys.executable, "-m", "plmtransfer.cli.command", "regress", "--version"],
                         capture_output=True, text=True, check=True)
    assert script.stdout == sub.stdout and script.stdout.startswith("plmtransfer ")


def test_no_module_reads_the_configuration_at_import_time():
    """Importing every module of the package opens no YAML file (the config is read on first use)."""
    code = ("import builtins, importlib, pkgutil, plmtransfer\n"
            "real, opened = builtins.open, []\n"
            "def spy(file, *args, **kwargs):\n"
            "    opened.append(str(file))\n"
            "    return real(file, *args, **kwargs)\n"
            "builtins.open = spy\n"
            "for module in pkgutil.walk_packages(plmtransfer.__path__, 'plmtransfer.'):\n"
            "    importlib.import_module(module.name)\n"
            "print([name for name in opened if name.endswith(('.yaml', '.yml'))])\n")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert completed.stdout.strip() == "[]"

"""Every script answers --help, --version and usage errors at once, and prints warnings plainly."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import warnings

import pytest

import plmtransfer
from plmtransfer.cli import run_cli
from plmtransfer.errors import UserError
from tests.conftest import REPO_ROOT

SCRIPTS = sorted(path.stem for path in (REPO_ROOT / "scripts").glob("*.py"))
# Libraries that take seconds to import: a script may only load them after parsing its arguments.
HEAVY = {"torch", "sklearn", "scipy", "pandas", "matplotlib", "statsmodels", "numba", "esm", "transformers"}


def load_script(name: str):
    """Import ``scripts/<name>.py`` as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"script_{name}", REPO_ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def imported_packages(*args: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run a script under ``python -X importtime``; return the process and the top-level packages it imported."""
    completed = subprocess.run([sys.executable, "-X", "importtime", *args], capture_output=True, text=True,
                               cwd=REPO_ROOT, check=False, timeout=120)
    names = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*([\w.]+)$", completed.stderr, flags=re.MULTILINE)
    return completed, {name.split(".")[0] for name in names}


def test_every_script_is_checked():
    assert {"extract", "compress", "reg_lassoCV", "stats", "plot", "prepare_dms", "prepare_pisces"} <= set(SCRIPTS)


@pytest.mark.parametrize("name", SCRIPTS)
def test_help_imports_no_heavy_library(name):
    completed, packages = imported_packages(f"scripts/{name}.py", "--help")
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "usage:" in completed.stdout and "--version" in completed.stdout
    assert "numpy" in packages or "argparse" in packages  # the parse of -X importtime found imports
    assert not packages & HEAVY, sorted(packages & HEAVY)


@pytest.mark.parametrize("name", SCRIPTS)
def test_usage_error_imports_no_heavy_library(name):
    completed, packages = imported_packages(f"scripts/{name}.py", "--no-such-flag")
    assert completed.returncode == 2
    assert "error:" in completed.stderr and "Traceback" not in completed.stderr
    assert not packages & HEAVY, sorted(packages & HEAVY)


@pytest.mark.parametrize("name", SCRIPTS)
def test_version(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_script(name).create_parser().parse_args(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"plmtransfer {plmtransfer.__version__}\n"


def test_version_is_the_installed_packages():
    from importlib.metadata import version

    assert plmtransfer.__version__ == version("plmtransfer")
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", plmtransfer.__version__)


def test_warnings_print_as_one_plain_line(capsys):
    def main(argv):
        warnings.warn("660 sequences longer than 1022 residues\nwere truncated", UserWarning, stacklevel=1)
        return 0

    before = warnings.showwarning
    assert run_cli(main, []) == 0
    assert capsys.readouterr().err == "warning: 660 sequences longer than 1022 residues were truncated\n"
    assert warnings.showwarning is before  # Python's own format is back after the command


def test_user_error_is_one_line_and_exit_code_2(capsys):
    def main(argv):
        raise UserError("data/x.csv: no column 'target'")

    assert run_cli(main, []) == 2
    err = capsys.readouterr().err
    assert err.endswith(": error: data/x.csv: no column 'target'\n") and err.count("\n") == 1

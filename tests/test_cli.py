"""Every script answers --help, --version and usage errors at once, and prints warnings plainly."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
import warnings

import pytest

import plmtransfer
from plmtransfer.cli.common import run_cli
from plmtransfer.errors import UserError
from tests.conftest import REPO_ROOT

SCRIPTS = sorted(path.stem for path in (REPO_ROOT / "scripts").glob("*.py"))
# Libraries that take seconds to import: a script may only load them after parsing its arguments.
HEAVY = {"torch", "sklearn", "scipy", "pandas", "matplotlib", "statsmodels", "numba", "esm", "transformers"}


def load_script(name: str):
    """The stage module behind ``scripts/<name>.py`` (:mod:`plmtransfer.cli`)."""
    return importlib.import_module(f"plmtransfer.cli.{name}")


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


# Each stage with an options dataclass (plmtransfer/options.py, a light module): the stage's module, the class,
# and the parser's destinations whose field name differs
OPTION_DEFAULTS = [("extract", "ExtractOptions", {}), ("compress", "CompressOptions", {}),
                   ("reg_lassoCV", "RegressOptions", {"jobs": "n_jobs"}),
                   ("reg_lassoCV_sampling", "RegressOptions", {"jobs": "n_jobs"}),
                   ("finetune_go", "CallerOptions", {})]


def default_expressions(name: str) -> dict[str, str]:
    """The ``default=`` expression of each flag of a stage's parser source (by destination), as written."""
    import ast

    sources = [REPO_ROOT / "plmtransfer" / "cli" / f"{module}.py" for module in (name, "reg_lassoCV")]
    found = {}
    for source in sources[:1] if name != "reg_lassoCV_sampling" else sources:
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument":
                flags = [arg.value for arg in node.args if isinstance(arg, ast.Constant)]
                default = next((kw.value for kw in node.keywords if kw.arg == "default"), None)
                if flags and default is not None:
                    found[max(flags, key=len).lstrip("-").replace("-", "_")] = ast.unparse(default)
    return found


@pytest.mark.parametrize("name, dataclass_name, renamed", OPTION_DEFAULTS)
def test_every_stage_option_default_has_one_home(name, dataclass_name, renamed):
    """A flag that sets a field of the stage's options dataclass reads its default from the dataclass, and
    the parser's default equals it: the dataclass is the one home of the default."""
    import dataclasses

    import plmtransfer.options as options

    cls = getattr(options, dataclass_name)
    fields = {field.name: field.default for field in dataclasses.fields(cls)}
    parser = load_script(name).create_parser()
    checked = 0
    for dest, expression in default_expressions(name).items():
        field = renamed.get(dest, dest)
        if field not in fields:
            continue
        assert dataclass_name in expression, f"{name} --{dest}: default={expression}, not read from {dataclass_name}"
        value = parser.get_default(dest)
        expected = fields[field]
        if field == "shard":
            value = options.parse_shard(value)
        assert (tuple(value) if isinstance(value, list) else value) == expected, f"{name} --{dest}"
        checked += 1
    assert checked >= 3

"""The model registry is the one home of model facts; extraction holds no model code."""

from __future__ import annotations

import ast
import subprocess

from plmtransfer.registry import MODELS, find_spec
from tests.conftest import REPO_ROOT

CODE_SUFFIXES = {".py", ".sh", ".smk"}
FAMILY_WORDS = ("esm", "unirep", "onehot", "esmc")


def tracked_files() -> list:
    """Every file git tracks in the repository."""
    listing = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    return [REPO_ROOT / name for name in listing if (REPO_ROOT / name).is_file()]


def test_no_second_model_table_in_code():
    """No code file but the registry spells out more than two models' published names (tests aside)."""
    published = [spec.name for spec in MODELS if spec.name != "onehot"]
    offenders = {}
    for path in tracked_files():
        if (path.suffix not in CODE_SUFFIXES or path == REPO_ROOT / "plmtransfer" / "registry.py"
                or path.parent == REPO_ROOT / "tests"):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        named = {name for name in published if name in text}
        if len(named) > 2:
            offenders[str(path.relative_to(REPO_ROOT))] = sorted(named)
    assert not offenders, f"model names listed outside plmtransfer/registry.py: {offenders}"


def test_no_second_model_table_in_docs():
    """Only the README carries the model table (checked equal to the registry elsewhere)."""
    rows = [f"| `{spec.name}` | `{spec.alias}` |" for spec in MODELS]
    for path in tracked_files():
        if path.suffix != ".md" or path == REPO_ROOT / "README.md":
            continue
        text = path.read_text(encoding="utf-8")
        assert not [row for row in rows if row in text], f"{path} repeats the model table"


def test_extraction_holds_no_model_code():
    """plmtransfer/extract.py imports no model library or backend module and names no family."""
    source = (REPO_ROOT / "plmtransfer" / "extract.py").read_text()
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    assert not {name for name in imported if name.split(".")[0] in ("esm", "transformers", "jax")}
    assert not {name for name in imported if name.startswith("plmtransfer.backends.")} - {
        "plmtransfer.backends.base"}
    code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("#", '"')))
    words = {word for word in FAMILY_WORDS if f'"{word}"' in code or f"'{word}'" in code}
    assert not words, f"extract.py branches on a model family: {words}"


def test_registry_answers_to_every_name():
    for spec in MODELS:
        for name in spec.names:
            assert find_spec(name) is spec
    assert find_spec("esm2_150M").last_layer == 30
    assert find_spec("unirep1900").embed_dim == 1900
    assert find_spec("facebook/esm2_t33_650M_UR50D").alias == "esm2_650M"

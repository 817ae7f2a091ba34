"""The model registry is the one home of model facts; a family's code lives in its backend folder only."""

from __future__ import annotations

import ast
import re
import subprocess
import sys

from plmtransfer.backends import FAMILY_FOLDERS, families
from plmtransfer.registry import MODELS, find_spec
from tests.conftest import REPO_ROOT

CODE_SUFFIXES = {".py", ".sh", ".smk"}
FAMILY_WORDS = ("esm", "unirep", "onehot", "esmc")
# Family and backend names as they would appear in code that branches on a family.
FAMILY_NAMES = {"esm", "esm2", "esm1v", "esm1b", "esmc", "unirep", "onehot", "hf"}
# Identifier parts that name a family ("onehot" is also the generic encoding: names are checked as literals).
FAMILY_IDENTIFIER_PARTS = FAMILY_NAMES - {"onehot"}
SHARED_BACKEND_MODULES = {"plmtransfer.backends", "plmtransfer.backends.base", "plmtransfer.backends.weights",
                          "plmtransfer.backends.language_model"}
# Family-specific parsing of model locations: fair-esm's _t<N>_ layer count, ESM C's .pth files,
# transformers' config.json and its layer count, the test model's _random suffix.
LOCAL_NAME_PARSING = (r"_t(\d+)_", ".pth", "config.json", "num_hidden_layers")
# Code outside plmtransfer/backends/ that may name a family, file -> the names it may use: none.
NAMED_ELSEWHERE: dict[str, set[str]] = {}


def tracked_files() -> list:
    """Every file git tracks in the repository."""
    listing = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    return [REPO_ROOT / name for name in listing if (REPO_ROOT / name).is_file()]


def test_no_second_model_table_in_code():
    """No code file but a family's registration spells out more than two models' published names (tests aside).

    A family's entries live in its registration, ``plmtransfer/backends/<family>/__init__.py``, which the
    registry reads; nothing else may hold a copy of them.
    """
    published = [spec.name for spec in MODELS if spec.name != "onehot"]
    registrations = {REPO_ROOT / "plmtransfer" / "backends" / folder / "__init__.py" for folder in FAMILY_FOLDERS}
    offenders = {}
    for path in tracked_files():
        if (path.suffix not in CODE_SUFFIXES or path == REPO_ROOT / "plmtransfer" / "registry.py"
                or path in registrations or path.parent == REPO_ROOT / "tests"):
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
    """plmtransfer/embed/extract.py imports no model library or backend module and names no family."""
    source = (REPO_ROOT / "plmtransfer" / "embed" / "extract.py").read_text()
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


def identifier_parts(identifier: str) -> set[str]:
    """Lower-case parts of an identifier, split at ``_`` and at camel-case humps."""
    humps = re.findall(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])", identifier)
    return {part.lower() for part in (*humps, *identifier.split("_")) if part}


def docstring_nodes(tree: ast.AST) -> set[int]:
    """Ids of the docstring constants of a module, its classes and functions."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def family_names_in(source: str) -> set[str]:
    """Family names used as code in ``source``: identifiers, exact string literals, family modules imported,
    and the literals of family-specific location parsing (docstrings, help texts and messages aside)."""
    tree = ast.parse(source)
    docstrings = docstring_nodes(tree)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names = [node.id]
        elif isinstance(node, ast.Attribute):
            names = [node.attr]
        elif isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            names = [node.name]
        elif isinstance(node, ast.arg):
            names = [node.arg]
        elif isinstance(node, ast.keyword):
            names = [node.arg or ""]
        elif isinstance(node, ast.alias):
            names = [node.asname or ""] if node.asname else []
        else:
            names = []
        found |= {name for name in names if identifier_parts(name) & FAMILY_IDENTIFIER_PARTS}
        modules = [node.module or ""] if isinstance(node, ast.ImportFrom) else (
            [alias.name for alias in node.names] if isinstance(node, ast.Import) else [])
        found |= {module for module in modules
                  if module.startswith("plmtransfer.backends") and module not in SHARED_BACKEND_MODULES}
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            if node.value.lower() in FAMILY_NAMES or node.value in LOCAL_NAME_PARSING:
                found.add(node.value)
    return found


def test_no_family_is_named_outside_its_backend_folder():
    """Only plmtransfer/backends/ and the registry name a model family or parse a family's locations."""
    offenders = {}
    for path in sorted((REPO_ROOT / "plmtransfer").rglob("*.py")):
        relative = path.relative_to(REPO_ROOT).as_posix()
        if relative.startswith("plmtransfer/backends/") or relative == "plmtransfer/registry.py":
            continue
        named = family_names_in(path.read_text(encoding="utf-8")) - NAMED_ELSEWHERE.get(relative, set())
        if named:
            offenders[relative] = sorted(named)
    assert not offenders, f"code outside plmtransfer/backends/ names a model family: {offenders}"


def test_the_family_scan_finds_what_it_looks_for():
    source = ('"""Docstrings may say esm."""\nimport plmtransfer.backends.esm.featuriser\n'
              'def esm2_count(spec):\n    return spec.backend == "unirep" or re.search(r"_t(\\d+)_", spec.name)\n'
              'HELP = "a help text may say unirep"\n')
    assert family_names_in(source) == {"plmtransfer.backends.esm.featuriser", "esm2_count", "unirep",
                                       r"_t(\d+)_"}


def test_every_family_registers_once_in_its_own_folder():
    """Each family folder's __init__ registers its models; every registry entry comes from exactly one."""
    registered = [spec for family in families() for spec in family.models]
    assert tuple(registered) == MODELS
    assert len({spec.name for spec in registered}) == len(registered)
    for family in families():
        folder = REPO_ROOT / "plmtransfer" / "backends" / family.name
        assert (folder / "__init__.py").is_file() and (folder / f"{family.featuriser}.py").is_file()
        for part in (family.language_model, family.encoder):
            assert not part or (folder / f"{part}.py").is_file(), (family.name, part)
        assert all(spec.backend == family.name for spec in family.models)


def test_importing_the_registry_imports_no_heavy_library():
    """The registry and every family's registration import neither torch nor numpy (``--help`` stays instant)."""
    code = ("import sys; from plmtransfer.registry import MODELS, find_spec; MODELS; "
            "heavy = [name for name in ('torch', 'numpy', 'transformers', 'esm') if name in sys.modules]; "
            "print(','.join(heavy))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    assert result.stdout.strip() == ""

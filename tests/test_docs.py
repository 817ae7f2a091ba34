"""The documentation stays true: generated flag tables, a short README, no reference to an absent file."""

from __future__ import annotations

import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

from plmtransfer.cli import docs
from plmtransfer.stages import Stage
from tests.conftest import REPO_ROOT

README_LIMIT_BYTES = 12 * 1024
# Files of other projects that the code and docs cite on purpose: the study's repository
# (ziul-bio/SWAT), EvolutionaryScale's esm (pretrained.py), snakemake-executor-plugin-slurm
# (utils.py, submit_string.py), fair-esm's variant-prediction example and ProteinGym's ESM baseline.
EXTERNAL_FILES = {"compressing_embeddings.py", "reg_LassoCV.py", "reg_LassoCV_sampling.py",
                  "scripts/reg_LassoCV.py", "scripts/extract_ESMC.py", "pretrained.py", "utils.py",
                  "submit_string.py", "examples/variant-prediction/predict.py", "predict.py",
                  "proteingym/baselines/esm/compute_fitness.py",
                  "proteingym/performance_DMS_supervised_benchmarks.py"}
# Where references are checked: the code and docs a user reads. Not bench/ (a baseline may be
# rebuilt from files in git history) and not tests/ (made-up file names are test data).
UNCHECKED_DIRECTORIES = ("bench/", "tests/")
# A path-like token ending in a source or documentation suffix, not preceded by a shell variable,
# a glob or a URL part.
PATH_REFERENCE = re.compile(r"(?<![\w/.$}*:-])((?:\.?[\w-]+/)*[\w.-]+\.(?:py|md|sh|toml))\b")
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")


def tracked_files() -> list[str]:
    """Files git tracks (plus untracked, not ignored ones), relative to the repository root."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=REPO_ROOT,
                            capture_output=True, text=True, check=False)
    if listed.returncode != 0:
        pytest.skip("not a git checkout: the reference check needs the list of tracked files")
    return [name for name in listed.stdout.split() if (REPO_ROOT / name).is_file()]


def text_files() -> list[str]:
    """Tracked files whose references are checked: code, docs, drivers, configuration."""
    return [name for name in tracked_files() if not name.startswith(UNCHECKED_DIRECTORIES)
            and (name.endswith((".py", ".md", ".sh", ".toml", ".txt")) or name in ("Makefile", ".ci/run"))]


def test_flag_tables_match_the_parsers():
    """Regenerating docs/stages/*.md from the parsers changes nothing (run python -m plmtransfer.cli.docs)."""
    assert docs.stale_pages() == []


def test_every_script_has_a_stage_page():
    documented = {script for scripts in docs.pages().values() for script in scripts}
    assert documented == {path.stem for path in (REPO_ROOT / "scripts").glob("*.py")}
    assert all(docs.page_path(page).is_file() for page in docs.pages())


def test_a_changed_flag_makes_its_page_stale(monkeypatch):
    page = docs.page_path("regress").read_text(encoding="utf-8")
    original = docs.flag_table

    def with_extra_flag(parser):
        parser.add_argument("--new-flag", default=3, help="a flag nobody documented")
        return original(parser)

    monkeypatch.setattr(docs, "flag_table", with_extra_flag)
    rendered = docs.render(page, "regress")
    assert rendered != page and "| `--new-flag NEW_FLAG` | `3` |  | a flag nobody documented |" in rendered


def test_readme_fits_on_a_few_screens():
    size = len((REPO_ROOT / "README.md").read_bytes())
    assert size <= README_LIMIT_BYTES, f"README.md is {size} bytes; move reference material to docs/"


def test_no_page_narrates_history():
    """Pages state what is true now: no numbered runs, sessions or attempts."""
    pattern = re.compile(r"\b(session \d|run \d\b|attempt \d|\bsession\b)", re.IGNORECASE)
    for name in tracked_files():
        if name == "README.md" or (name.startswith("docs/") and name.endswith(".md")):
            found = pattern.findall((REPO_ROOT / name).read_text(encoding="utf-8"))
            assert not found, f"{name}: {found}"


def test_no_reference_to_an_absent_file():
    """Every file the code and docs mention by name (.py, .md, .sh, .toml) exists in the repository."""
    files = set(tracked_files())
    names = {Path(name).name for name in files}
    missing = []
    for name in text_files():
        for match in PATH_REFERENCE.finditer((REPO_ROOT / name).read_text(encoding="utf-8", errors="replace")):
            reference = match.group(1)
            if reference in EXTERNAL_FILES or reference.startswith(".."):
                continue
            relative = (Path(name).parent / reference).as_posix()
            found = reference in names if "/" not in reference else (
                reference in files or relative in files or any(f.endswith("/" + reference) for f in files))
            if not found:
                missing.append(f"{name}: {reference}")
    assert not missing, "references to files that are not in the repository:\n" + "\n".join(missing)


def test_markdown_links_resolve():
    """Every relative link of README.md and docs/ points at a file or folder of the repository."""
    broken = []
    for name in tracked_files():
        if not name.endswith(".md"):
            continue
        for target in MARKDOWN_LINK.findall((REPO_ROOT / name).read_text(encoding="utf-8")):
            path = target.split("#", 1)[0]
            if not path or re.match(r"[a-z]+:", target):
                continue
            if not ((REPO_ROOT / name).parent / path).exists():
                broken.append(f"{name}: {target}")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_a_new_stage_gets_a_generated_page(tmp_path, monkeypatch, capsys):
    """A stage added to the stage table gets its page, flags generated from its module's parser."""
    module = types.ModuleType("plmtransfer.cli.new_stage")
    exec("import argparse\n\n\ndef create_parser():\n    parser = argparse.ArgumentParser()\n"
         "    parser.add_argument('--depth', type=int, default=2, help='how deep')\n    return parser\n",
         module.__dict__)
    monkeypatch.setitem(sys.modules, "plmtransfer.cli.new_stage", module)
    stage = Stage("new-stage", "new_stage", "a new stage", "new_stage")
    monkeypatch.setattr(docs, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(docs, "STAGES", (stage,))
    monkeypatch.setattr(docs, "BY_MODULE", {"new_stage": stage})
    assert docs.main(["--check"]) == 1
    assert docs.main([]) == 0
    page = (tmp_path / "docs" / "stages" / "new_stage.md").read_text(encoding="utf-8")
    assert page.startswith("# `scripts/new_stage.py`")
    assert "| `--depth DEPTH` | `2` |  | how deep |" in page
    assert docs.main(["--check"]) == 0

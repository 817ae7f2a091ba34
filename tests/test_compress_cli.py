"""scripts/compress.py over a directory of fair-esm .pt files: outputs, resume, errors."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from plmtransfer.cli import compress as SCRIPT  # noqa: N812  (the compress stage's module)
from plmtransfer.cli.common import run_cli
from plmtransfer.config import load_config
from plmtransfer.embed.methods import compress_protein
from plmtransfer.io import load_compressed

REPO_ROOT = Path(__file__).resolve().parents[1]
LAYER = 2


def write_pt(path: Path, residues: torch.Tensor, layer: int = LAYER, **overrides) -> None:
    """A fair-esm extract.py-style dict (per_tok, mean, bos) at ``path``."""
    data = {"label": path.stem, "representations": {layer: residues},
            "mean_representations": {layer: residues.mean(0)},
            "bos_representations": {layer: residues[0] * 2}}
    data.update(overrides)
    torch.save(data, path)


@pytest.fixture()
def embed_dir(tmp_path) -> Path:
    """Five proteins of 20 residues x 48 dimensions."""
    directory = tmp_path / "per_tok"
    directory.mkdir()
    generator = torch.Generator().manual_seed(0)
    for index in range(5):
        write_pt(directory / f"P{index}.pt", torch.randn(20, 48, generator=generator))
    return directory


def run(*args) -> int:
    """Run the script's main through run_cli, as the command line does."""
    return run_cli(SCRIPT.main, [str(arg) for arg in args])


def test_writes_one_file_per_method_equal_to_the_library(embed_dir, tmp_path):
    out = tmp_path / "out"
    methods = ["mean", "bos", "pca1-2", "sigmoid2", "iDCT1", "swe"]
    assert run("-e", embed_dir, "-o", out, "-l", LAYER, "--quiet", "-c", *methods) == 0
    for name in methods:
        with open(out / f"embed_layer_{LAYER}_{name}.pkl", "rb") as handle:
            vectors = pickle.load(handle)
        assert sorted(vectors) == [f"P{index}" for index in range(5)]
        data = torch.load(embed_dir / "P3.pt", weights_only=True)
        residues = data["representations"][LAYER].numpy()
        expected = compress_protein(residues, data["bos_representations"][LAYER].numpy(), [name])
        np.testing.assert_array_equal(vectors["P3"], expected[name])


def test_two_jobs_and_npz_give_the_same_vectors(embed_dir, tmp_path):
    methods = ["maxPool", "rbf1", "iDCT1"]
    assert run("-e", embed_dir, "-o", tmp_path / "one", "-l", LAYER, "--jobs", 1, "--quiet",
               "-c", *methods) == 0
    assert run("-e", embed_dir, "-o", tmp_path / "two", "-l", LAYER, "--jobs", 2, "--chunk-size", 2,
               "--format", "npz", "--quiet", "-c", *methods) == 0
    for name in methods:
        one = load_compressed(tmp_path / "one" / f"embed_layer_{LAYER}_{name}.pkl")
        two = load_compressed(tmp_path / "two" / f"embed_layer_{LAYER}_{name}.npz")
        assert one.keys() == two.keys()
        for label in one:
            np.testing.assert_array_equal(one[label], two[label])


def test_existing_outputs_are_skipped_unless_overwrite(embed_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert run("-e", embed_dir, "-o", out, "-l", LAYER, "--quiet", "-c", "mean") == 0
    target = out / f"embed_layer_{LAYER}_mean.pkl"
    target.write_bytes(b"sentinel")
    assert run("-e", embed_dir, "-o", out, "-l", LAYER, "-c", "mean", "maxPool") == 0
    assert target.read_bytes() == b"sentinel"
    assert "skipping mean" in capsys.readouterr().out
    assert (out / f"embed_layer_{LAYER}_maxPool.pkl").is_file()
    assert run("-e", embed_dir, "-o", out, "-l", LAYER, "--quiet", "--overwrite", "-c", "mean") == 0
    assert len(load_compressed(target)) == 5


def test_study_alias_expands_to_the_configs_fourteen_methods():
    """`-c study` runs config/study.yaml's list, the 14 methods the workflow runs (not pca1-2)."""
    expanded = SCRIPT.expand_methods(["study"])
    assert expanded == load_config()["method_lists"]["study"] and len(expanded) == 14
    assert expanded[-1] == "iDCT5" and "pca1-2" not in expanded
    assert SCRIPT.expand_methods(["study", "bos", "swe"]) == [*expanded, "swe"]


def error_of(capsys, *args) -> str:
    """Run the script expecting a user error; return its one stderr line."""
    assert run(*args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    return lines[0]


def test_missing_and_empty_directories(tmp_path, capsys):
    assert "embedding directory not found" in error_of(
        capsys, "-e", tmp_path / "nope", "-o", tmp_path / "out", "-l", 1, "-c", "mean")
    (tmp_path / "empty").mkdir()
    assert "no .pt embedding files" in error_of(
        capsys, "-e", tmp_path / "empty", "-o", tmp_path / "out", "-l", 1, "-c", "mean")


@pytest.mark.parametrize(("overrides", "methods", "layer", "message"), [
    ({"representations": None}, ["pca1"], LAYER, "no 'representations' .*--include per_tok"),
    ({}, ["maxPool"], 5, "no layer 5 in 'representations' \\(layers present: 2\\)"),
    ({"representations": {LAYER: torch.ones(20, 48, dtype=torch.int64)}}, ["mean"], LAYER,
     "is torch.int64, expected a floating-point tensor"),
    ({"representations": {LAYER: "text"}}, ["mean"], LAYER, "is str, expected a floating-point tensor"),
    ({"representations": {LAYER: torch.randn(6, 48)}}, ["iDCT1"], LAYER,
     "bad.pt: method iDCT1 needs at least 7 residues .* got 6: 1 short"),
    ({"representations": {LAYER: torch.randn(21, 48)}}, ["flat"], LAYER,
     "flat needs proteins of equal length"),
])
def test_bad_files_give_one_clear_line_and_write_nothing(embed_dir, tmp_path, capsys, overrides,
                                                         methods, layer, message):
    write_pt(embed_dir / "bad.pt", torch.randn(20, 48), **overrides)
    if overrides.get("representations", "") is None:
        data = torch.load(embed_dir / "bad.pt", weights_only=True)
        del data["representations"]
        torch.save(data, embed_dir / "bad.pt")
    out = tmp_path / "out"
    line = error_of(capsys, "-e", embed_dir, "-o", out, "-l", layer, "--quiet", "-c", *methods)
    assert re.search(message, line), line
    assert not out.exists() or not any(out.iterdir())


def test_mean_and_bos_work_from_pooled_files_without_per_token(tmp_path):
    directory = tmp_path / "pooled"
    directory.mkdir()
    torch.save({"label": "A", "mean_representations": {LAYER: torch.arange(4.0)},
                "bos_representations": {LAYER: torch.ones(4)}}, directory / "A.pt")
    assert run("-e", directory, "-o", tmp_path / "out", "-l", LAYER, "--quiet",
               "-c", "mean", "bos") == 0
    mean = load_compressed(tmp_path / "out" / f"embed_layer_{LAYER}_mean.pkl")
    np.testing.assert_array_equal(mean["A"], np.arange(4.0, dtype=np.float32))


def test_unreadable_file_is_named(embed_dir, tmp_path, capsys):
    (embed_dir / "broken.pt").write_bytes(b"not a torch file")
    line = error_of(capsys, "-e", embed_dir, "-o", tmp_path / "out", "-l", LAYER, "--quiet",
                    "-c", "mean")
    assert "broken.pt: cannot be read as a fair-esm embedding file" in line
